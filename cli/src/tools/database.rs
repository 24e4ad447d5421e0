//! What `inspect` and `verify` read of a database folder besides its keyspaces' trees: the
//! `VERSION` marker, the catalog and the WAL, read in place through `strata::internals` (no lock,
//! nothing written).
//!
//! A database folder is recognized by its `VERSION`, `CATALOG` or `wal/`
//! ([`strata::internals::is_database`]); each keyspace named by the catalog is a tree in
//! `keyspaces/<id>/`, which the tools then treat as they treat a tree's folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use strata::internals::{
    CatalogState, WalEnd, WalHeader, WalRecovery, check_database_version, check_wal, keyspace_dir,
    keyspace_dirs, read_catalog, read_wal_segment, wal_dir, wal_segment_files,
};

use super::output::{ToolError, count};

/// What was found of one WAL segment.
pub(crate) struct SegmentSummary {
    pub(crate) id: u64,
    pub(crate) path: PathBuf,
    pub(crate) size_bytes: u64,
    /// The bytes before a preallocated zero tail (the size otherwise).
    pub(crate) used_bytes: u64,
    pub(crate) header: Option<WalHeader>,
    pub(crate) batches: u64,
    pub(crate) items: u64,
    /// The lowest and highest seqno of its batches.
    pub(crate) seqnos: Option<(u64, u64)>,
    /// Items per keyspace id.
    pub(crate) items_per_keyspace: BTreeMap<u64, u64>,
    pub(crate) end: WalEnd,
}

impl SegmentSummary {
    /// How the segment ends, as printed.
    pub(crate) fn end_text(&self) -> String {
        end_text(&self.end, self.size_bytes)
    }
}

/// How a segment of `size_bytes` ends, as the tools print it.
pub(crate) fn end_text(end: &WalEnd, size_bytes: u64) -> String {
    match end {
        WalEnd::Clean if size_bytes == 0 => "empty (a spare made ahead of time)".to_string(),
        WalEnd::Clean => "clean".to_string(),
        WalEnd::Preallocated { offset: 0 } => format!(
            "empty (a spare made ahead of time, {} preallocated)",
            count(size_bytes, "byte")
        ),
        WalEnd::Preallocated { offset } => format!(
            "clean (records end at offset {offset}; {} preallocated after them)",
            count(size_bytes.saturating_sub(*offset), "byte")
        ),
        WalEnd::Torn { offset } => format!(
            "torn at offset {offset} ({} of a write cut short)",
            count(size_bytes.saturating_sub(*offset), "byte")
        ),
        WalEnd::Damaged(err) => format!("damaged: {err}"),
    }
}

/// A database folder's own files.
pub(crate) struct DatabaseFolder {
    pub(crate) dir: PathBuf,
    /// `VERSION`: `Ok(true)` current, `Ok(false)` missing, or the error reading it.
    pub(crate) version: Result<bool, strata::Error>,
    /// The catalog (`Ok(None)`: no `CATALOG`, no keyspace ever created).
    pub(crate) catalog: Result<Option<CatalogState>, strata::Error>,
    pub(crate) wal_dir: PathBuf,
    pub(crate) segments: Vec<SegmentSummary>,
    /// Recovery's verdict on the WAL.
    pub(crate) recovery: Result<WalRecovery, strata::Error>,
    /// The keyspace folders on disk, by id.
    pub(crate) keyspace_dirs: Vec<(u64, PathBuf)>,
}

impl DatabaseFolder {
    /// Reads `dir`'s `VERSION`, catalog and every WAL segment (every record), in place.
    pub(crate) fn read(dir: &Path) -> Result<Self, ToolError> {
        let wal = wal_dir(dir);
        let mut segments = Vec::new();
        for (_, path) in wal_segment_files(&wal)? {
            segments.push(summarize(&path)?);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            version: check_database_version(dir),
            catalog: read_catalog(dir),
            recovery: check_wal(&wal),
            wal_dir: wal,
            segments,
            keyspace_dirs: keyspace_dirs(dir)?,
        })
    }

    /// The keyspaces the catalog names, with their folders (none if it is unreadable).
    pub(crate) fn keyspaces(&self) -> Vec<(u64, String, PathBuf)> {
        match &self.catalog {
            Ok(Some(catalog)) => catalog
                .keyspaces
                .iter()
                .map(|k| (k.id, k.name.clone(), keyspace_dir(&self.dir, k.id)))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Keyspace folders the catalog does not name (a crash during a create or a delete left
    /// them; the next open deletes them). With an unreadable catalog, none.
    pub(crate) fn orphan_keyspace_dirs(&self) -> Vec<&Path> {
        let Ok(Some(catalog)) = &self.catalog else {
            return Vec::new();
        };
        self.keyspace_dirs
            .iter()
            .filter(|(id, _)| !catalog.keyspaces.iter().any(|k| k.id == *id))
            .map(|(_, path)| path.as_path())
            .collect()
    }

    /// The segment files recovery would delete unread that hold something: an empty trailing
    /// file is the spare segment a worker creates ahead of time, not a loss.
    pub(crate) fn discarded_with_data(&self) -> Vec<&Path> {
        let Ok(recovery) = &self.recovery else {
            return Vec::new();
        };
        recovery
            .discarded
            .iter()
            .filter(|path| {
                !self
                    .segments
                    .iter()
                    .any(|s| &s.path == *path && s.used_bytes == 0)
            })
            .map(PathBuf::as_path)
            .collect()
    }

    /// The WAL's bytes (records; a preallocated zero tail not counted).
    pub(crate) fn wal_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.used_bytes).sum()
    }
}

/// Reads one segment and sums it up.
fn summarize(path: &Path) -> Result<SegmentSummary, ToolError> {
    let segment = read_wal_segment(path)?;
    let used_bytes = segment.used_bytes();
    let mut items_per_keyspace = BTreeMap::new();
    let mut items = 0u64;
    for item in segment.batches.iter().flat_map(|b| &b.items) {
        items += 1;
        *items_per_keyspace.entry(item.keyspace_id).or_insert(0) += 1;
    }
    let seqnos = segment
        .batches
        .first()
        .zip(segment.batches.last())
        .map(|(first, last)| (first.seqno, last.seqno));
    Ok(SegmentSummary {
        id: segment.id,
        path: segment.path,
        size_bytes: segment.size_bytes,
        used_bytes,
        header: segment.header,
        batches: segment.batches.len() as u64,
        items,
        seqnos,
        items_per_keyspace,
        end: segment.end,
    })
}

/// A compaction strategy that never compacts, under the name a keyspace's catalog entry
/// records: what the tools open a keyspace with, so that one created with an application's own
/// strategy (which only the application has, and whose name every open must give) opens too. A
/// built-in strategy is rebuilt from the catalog whatever the options say.
struct StandIn(&'static str);

impl strata::compaction::CompactionStrategy for StandIn {
    fn name(&self) -> &'static str {
        self.0
    }

    fn choose(&self, _: &strata::compaction::TreeView) -> strata::compaction::Choice {
        strata::compaction::Choice::DoNothing
    }
}

/// The options the tools open keyspace `name` of the database in `dir` with: the defaults and
/// the zstd dictionary `dict`, and a stand-in for the compaction strategy its catalog names.
pub(crate) fn tool_keyspace_options(
    dir: &Path,
    name: &str,
    dict: Option<std::sync::Arc<strata::ZstdDictionary>>,
) -> Result<strata::KeyspaceCreateOptions, ToolError> {
    let mut options = strata::KeyspaceCreateOptions::default().zstd_dictionary(dict);
    let strategy = read_catalog(dir)?
        .and_then(|c| c.keyspaces.into_iter().find(|k| k.name == name))
        .and_then(|k| k.compaction_strategy);
    if let Some(strategy) = strategy {
        // NB: one short string per keyspace a tool opens, for the process's lifetime.
        let leaked: &'static str = Box::leak(strategy.into_boxed_str());
        options = options.compaction_strategy(std::sync::Arc::new(StandIn(leaked)));
    }
    Ok(options)
}
