//! Major compaction: every table merged into the last level.
//!
//! 1. Under the compaction lock (one compaction at a time), take the current version's tables as
//!    the inputs.
//! 2. Merge them (newest run first) through the compaction stream with the caller's GC watermark;
//!    the last level is the bottom, so tombstones with nothing beneath them go too. Write the
//!    result as tables of the last level, cut at `target_size` between user keys; sync each file
//!    and the directory.
//! 3. Under the version lock, append and sync one manifest edit that removes the inputs and adds
//!    the new run, then publish a version built from the *current* one (flushes may have added
//!    level-0 runs meanwhile, and they stay).
//! 4. Only then are the inputs marked obsolete: each file is deleted when the last reader (an
//!    iterator holding an older version) lets go of it. A crash before that leaves orphans that
//!    the next open removes. A failure before the edit is durable deletes only the new files:
//!    a failed compaction never deletes its inputs.

use std::collections::HashSet;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::inner::{SuperVersion, Tree};
use crate::compaction::stream::{CompactionStream, GcRules};
use crate::compaction::{CompactionAction, CompactionResult};
use crate::error::{Error, Result};
use crate::merge::{BoxedSource, Merger};
use crate::seqno::SeqNo;
use crate::version::edit::VersionEdit;
use crate::version::{LEVEL_COUNT, Run, RunIter};

impl Tree {
    /// Merges every table into the last level, dropping each version that no read at or above
    /// `seqno_threshold` can see and every tombstone with nothing left beneath it, so space comes
    /// back. Tables are cut at `target_size` bytes. Memtables are not flushed first.
    ///
    /// # Errors
    /// `Io` if a table or the manifest cannot be written (the tree is then poisoned; the inputs
    /// stay); `Poisoned` after an earlier failure; `Corruption` if an input is damaged.
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default()).open()?;
    /// for i in 0..3u64 {
    ///     tree.insert("k", format!("v{i}"), i);
    ///     tree.flush_active_memtable(0)?;
    /// }
    /// tree.remove("gone", 3);
    /// assert_eq!(tree.table_count(), 3);
    /// let result = tree.major_compact(64 << 20, 4)?;
    /// assert_eq!((result.tables_in, result.tables_out), (3, 1));
    /// assert_eq!(tree.table_count(), 1);
    /// assert_eq!(tree.get("k", 4)?, Some("v2".into()));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn major_compact(
        &self,
        target_size: u64,
        seqno_threshold: SeqNo,
    ) -> Result<CompactionResult> {
        let inner = &self.0;
        let _compaction = inner.compaction_lock.lock();
        if self.is_poisoned() {
            return Err(Error::Poisoned);
        }
        let version = Arc::clone(&self.super_version().version);
        let inputs: Vec<_> = version.tables().cloned().collect();
        if inputs.is_empty() {
            return Ok(CompactionResult::nothing());
        }
        let sources: Vec<BoxedSource> = version
            .runs()
            .map(|run| -> BoxedSource {
                Box::new(RunIter::new(
                    Arc::clone(run),
                    &inner.cmp,
                    (Bound::Unbounded, Bound::Unbounded),
                    SeqNo::MAX,
                ))
            })
            .collect();
        let rules = GcRules {
            threshold: seqno_threshold,
            bottommost: true,
            cancel_weak: true,
        };
        let stream = CompactionStream::new(
            Merger::new(sources, inner.cmp.clone()),
            inner.cmp.clone(),
            rules,
        );
        let last_level = LEVEL_COUNT - 1;
        let (tables, _bytes) = match self.write_tables(stream, last_level, target_size.max(1)) {
            Ok(written) => written,
            Err(err) => {
                if matches!(err, Error::Io { .. }) {
                    inner.poisoned.store(true, Ordering::Release);
                }
                return Err(err);
            }
        };
        let tables_out = tables.len();
        let removed: HashSet<u64> = inputs.iter().map(|t| t.meta().table_id).collect();
        {
            let _guard = inner.version_lock.lock();
            let current = inner.super_version.load_full();
            let run = (!tables.is_empty()).then(|| Run::new(tables.clone()));
            let next = current.version.with_replaced(&removed, last_level, run);
            let edit = VersionEdit {
                next_table_id: Some(inner.next_table_id.load(Ordering::Acquire)),
                highest_seqno: next.tables().map(|t| t.meta().seqno_max).max(),
                add_runs: vec![(
                    u8::try_from(last_level).unwrap_or(u8::MAX),
                    tables.iter().map(|t| t.meta().table_id).collect(),
                )],
                remove_tables: removed.iter().copied().collect(),
                ..VersionEdit::default()
            };
            if let Err(err) = inner.manifest.lock().append(&edit) {
                inner.poisoned.store(true, Ordering::Release);
                for table in &tables {
                    let _ = inner.config.fs.remove(table.path());
                }
                return Err(err);
            }
            let next = Arc::new(next);
            inner.super_version.store(Arc::new(SuperVersion {
                active: Arc::clone(&current.active),
                sealed: current.sealed.clone(),
                version: Arc::clone(&next),
            }));
            self.rewrite_manifest_if_large(&next);
        }
        for table in &inputs {
            table.mark_obsolete();
        }
        Ok(CompactionResult {
            action: CompactionAction::Merged,
            dest_level: u8::try_from(last_level).ok(),
            tables_in: inputs.len(),
            tables_out,
        })
    }
}
