//! The version set: the one owner of the current version and of everything that changes it.
//!
//! [`VersionSet`] holds the current [`Version`], the manifest writer, the file-number allocator,
//! the poison state and the queue of obsolete files. The version lock ([`VersionSet::lock`])
//! serializes every change; [`VersionLock::log_and_apply`] is the only way to commit one:
//!
//! 1. refuse if the tree is poisoned (checked here, under the lock, right before the append: a
//!    step that started before another step failed never appends after the failure);
//! 2. fill in the edit's counters (next file number, highest seqno);
//! 3. apply the edit to the current version's [`Shape`] with [`VersionEdit::apply`] (the same
//!    code recovery replays the manifest with) and build the next version from it;
//! 4. append the edit to the manifest and sync it; a failure poisons the tree (the manifest's
//!    tail is unknown, and the writer refuses every later append by itself too);
//! 5. install the next version; rewrite the manifest as one snapshot once it outgrows its bound.
//!
//! In debug builds the set keeps the shape that replaying its manifest gives (each edit encoded,
//! decoded and applied) and asserts after every commit that it equals the live version's.
//!
//! Publishing the SuperVersion that readers load is the tree's part: it does so while it still
//! holds the lock guard, so the SuperVersion's version is always the set's current one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

#[cfg(debug_assertions)]
use super::Shape;
use super::Version;
use super::edit::VersionEdit;
use super::manifest::ManifestWriter;
use super::obsolete::ObsoleteFiles;
use super::recovery::{Recovered, snapshot};
use crate::blob::BlobFile;
use crate::error::{CorruptionKind, Error, Result};
use crate::fs::Fs;
use crate::layout::FileNumbers;
use crate::poison::Poison;
use crate::seqno::SeqNo;
use crate::table::reader::Table;

/// The current version and what changes it; see the module documentation.
pub(crate) struct VersionSet {
    comparator_name: String,
    manifest_dir: PathBuf,
    rewrite_bytes: u64,
    /// Every file number (tables now; blob files and WAL segments later).
    pub(crate) files: FileNumbers,
    /// The sticky first failure.
    pub(crate) poison: Poison,
    /// Files whose last reader went.
    pub(crate) obsolete: ObsoleteFiles,
    state: Mutex<SetState>,
}

struct SetState {
    manifest: ManifestWriter,
    current: Arc<Version>,
    highest_seqno: Option<SeqNo>,
    durable_through: Option<SeqNo>,
    /// What replaying the manifest gives (debug builds).
    #[cfg(debug_assertions)]
    replayed: Shape,
}

/// The version lock, held: the current version and the one way to change it.
pub(crate) struct VersionLock<'a> {
    set: &'a VersionSet,
    state: MutexGuard<'a, SetState>,
}

impl VersionSet {
    /// The set of a tree just recovered in `dir`.
    pub(crate) fn new(
        fs: Arc<dyn Fs>,
        dir: &Path,
        comparator_name: &str,
        rewrite_bytes: u64,
        recovered: Recovered,
    ) -> Self {
        Self {
            comparator_name: comparator_name.to_string(),
            manifest_dir: dir.to_path_buf(),
            rewrite_bytes,
            files: FileNumbers::new(recovered.next_table_id),
            poison: Poison::default(),
            obsolete: ObsoleteFiles::new(fs),
            state: Mutex::new(SetState {
                manifest: recovered.manifest,
                #[cfg(debug_assertions)]
                replayed: recovered.version.shape(),
                current: Arc::new(recovered.version),
                highest_seqno: recovered.highest_seqno,
                durable_through: recovered.durable_through,
            }),
        }
    }

    /// Takes the version lock.
    pub(crate) fn lock(&self) -> VersionLock<'_> {
        VersionLock {
            set: self,
            state: self.state.lock(),
        }
    }
}

impl VersionLock<'_> {
    /// The current version.
    pub(crate) fn current(&self) -> &Arc<Version> {
        &self.state.current
    }

    /// The durable-through seqno the manifest records (tag 7): every write below it is in a
    /// table; `None` before the first commit that recorded one.
    pub(crate) fn durable_through(&self) -> Option<SeqNo> {
        self.state.durable_through
    }

    /// Commits `edit` (whose new tables are `added`) and returns the version it makes; see the
    /// module documentation.
    ///
    /// # Errors
    /// `Poisoned` after an earlier failure (nothing is written); `Io` if the append or its sync
    /// fails (the tree is then poisoned and the current version stays); `Corruption` if the edit
    /// does not apply to the current version (a bug: nothing is written).
    pub(crate) fn log_and_apply(
        &mut self,
        mut edit: VersionEdit,
        added: &[Arc<Table>],
        added_blobs: &[Arc<BlobFile>],
    ) -> Result<Arc<Version>> {
        let set = self.set;
        set.poison.check()?;
        let state = &mut *self.state;
        edit.next_table_id = Some(set.files.peek());
        let highest = added
            .iter()
            .map(|t| t.meta().seqno_max)
            .max()
            .max(state.highest_seqno);
        edit.highest_seqno = highest;
        let mut shape = state.current.shape();
        let invalid = |what| Error::Corruption {
            file: set.manifest_dir.clone(),
            offset: 0,
            what,
        };
        edit.apply(&mut shape).map_err(invalid)?;
        let mut by_id: HashMap<u64, &Arc<Table>> = state
            .current
            .tables()
            .map(|t| (t.meta().table_id, t))
            .collect();
        by_id.extend(added.iter().map(|t| (t.meta().table_id, t)));
        let next = Version::from_shape(
            &shape,
            Some(&state.current),
            |id| by_id.get(&id).map(|t| Arc::clone(t)),
            |id| {
                state
                    .current
                    .blob_file(id)
                    .or_else(|| added_blobs.iter().find(|b| b.id() == id))
                    .cloned()
            },
        )
        .map_err(|_| invalid(CorruptionKind::InvalidField("edit names an unknown file")))?;
        if let Err(err) = state.manifest.append(&edit) {
            set.poison.set();
            return Err(err);
        }
        #[cfg(debug_assertions)]
        {
            let decoded = VersionEdit::decode(&edit.encode());
            debug_assert_eq!(decoded.as_ref(), Ok(&edit), "an edit must round-trip");
            if let Ok(decoded) = decoded {
                debug_assert!(decoded.apply(&mut state.replayed).is_ok());
            }
            debug_assert_eq!(
                state.replayed,
                next.shape(),
                "replaying the manifest must give the live version"
            );
        }
        // Blob files no table points into any more leave with this edit; their files go once
        // the last reader lets go of them.
        for (id, file) in &state.current.blob_files {
            if !next.blob_files.contains_key(id) {
                file.mark_obsolete(set.obsolete.sink());
            }
        }
        state.highest_seqno = highest;
        if edit.durable_through.is_some() {
            state.durable_through = edit.durable_through.max(state.durable_through);
        }
        state.current = Arc::new(next);
        if state.manifest.needs_rewrite(set.rewrite_bytes) {
            let snapshot = snapshot(
                &set.comparator_name,
                &state.current,
                set.files.peek(),
                state.highest_seqno,
                state.durable_through,
            );
            // NB: the edit itself is durable (it is in the old manifest, which CURRENT names
            // until the rewrite's rename lands). A failed rewrite leaves the manifest files in an
            // unknown state: the writer refuses later appends and the tree is poisoned, but this
            // step succeeded.
            if state.manifest.rewrite(&snapshot).is_err() {
                set.poison.set();
            }
        }
        Ok(Arc::clone(&state.current))
    }
}
