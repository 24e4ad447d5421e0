//! Reading a tree's directory in place, for tools (`strata inspect`, `strata verify`).
//!
//! Opening a tree runs recovery ([`super::recovery`]), which may append to the manifest or write
//! a fresh one (pointing `CURRENT` at it) and deletes orphans. This module reads the same files and changes none of
//! them: `CURRENT`, every record of the manifest it names (replayed exactly as recovery replays
//! it), and the tables of the replayed version, opened for reading.
//!
//! It takes no lock. A tree open in another process may rewrite its manifest or delete a table
//! while a tool reads: the tool then sees an I/O error (a file not found), never wrong data,
//! since every file it reads is immutable once named.

use std::path::{Path, PathBuf};

use super::Version;
use super::manifest::{ManifestRecords, read_current, read_manifest_records};
use super::recovery::{Replayed, check_replayed, open_tables, replay};
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::table::reader::TableContext;

/// What the manifest named by `CURRENT` holds, replayed.
#[derive(Debug)]
pub struct ManifestState {
    /// The live manifest's file name (`MANIFEST-000007`), as `CURRENT` gives it.
    pub name: String,
    /// Its path.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// The byte offset of each record, in file order.
    pub record_offsets: Vec<u64>,
    /// Where a torn tail starts, if the file ends in one (ignored by recovery: the last append
    /// never completed).
    pub torn_tail: Option<u64>,
    /// The state the records build.
    pub replayed: Replayed,
}

/// Reads `CURRENT` and replays the manifest it names, writing nothing.
///
/// # Errors
/// `InvalidArgument` if `dir` has no `CURRENT` (it holds no tree); `Io` if a file cannot be read;
/// `Corruption` for a damaged `CURRENT` or manifest (a torn tail is not damage: see
/// [`ManifestState::torn_tail`]).
pub(crate) fn read_manifest_state(fs: &dyn Fs, dir: &Path) -> Result<ManifestState> {
    let name = read_current(fs, dir)?.ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{} holds no tree: it has no CURRENT file",
            dir.display()
        ))
    })?;
    let path = dir.join(&name);
    let ManifestRecords {
        edits,
        size_bytes,
        torn_tail,
        ..
    } = read_manifest_records(fs, &path)?;
    let record_offsets = edits.iter().map(|(offset, _)| *offset).collect();
    let replayed = replay(edits.into_iter().map(|(_, edit)| edit).collect(), &path)?;
    Ok(ManifestState {
        name,
        path,
        size_bytes,
        record_offsets,
        torn_tail,
        replayed,
    })
}

/// Opens, for reading, the tables of the version `state` describes, with the checks recovery
/// makes (comparator, format version, table ids, run order).
///
/// # Errors
/// `ComparatorMismatch` or `UnsupportedFormat` as at open; `Io` or `Corruption` for a missing or
/// damaged table.
pub(crate) fn open_version(
    state: &ManifestState,
    tables_dir: &Path,
    ctx: &TableContext,
) -> Result<Version> {
    check_replayed(&state.replayed, &state.path, ctx.cmp.name())?;
    let shape = state.replayed.shape();
    let (mut version, _) = open_tables(&shape, tables_dir, ctx)?;
    let blobs_dir = tables_dir
        .parent()
        .unwrap_or(tables_dir)
        .join(crate::layout::BLOBS_FOLDER);
    super::recovery::open_blob_files(&mut version, &shape, &blobs_dir, ctx)?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::StdFs;
    use crate::seqno::SequenceNumberCounter;

    /// Every file of the tree's directory, of `tables/` and of `blobs/`, with its bytes.
    fn listing(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut paths: Vec<PathBuf> = StdFs.list(dir).unwrap();
        paths.extend(StdFs.list(&dir.join("tables")).unwrap());
        paths.extend(StdFs.list(&dir.join("blobs")).unwrap());
        paths.retain(|p| p.file_name().is_some_and(|n| n != "tables" && n != "blobs"));
        let mut out: Vec<_> = paths
            .into_iter()
            .map(|path| {
                let file = StdFs.open(&path).unwrap();
                let mut bytes = vec![0; file.size_bytes().unwrap() as usize];
                file.read_exact_at(&mut bytes, 0).unwrap();
                (path, bytes)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn reading_a_tree_in_place_changes_no_file_and_matches_what_an_open_finds() {
        let dir = tempfile::tempdir().unwrap();
        let seqno = SequenceNumberCounter::default();
        let tree = crate::Config::new(&dir, seqno.clone(), SequenceNumberCounter::default())
            .open()
            .unwrap();
        for i in 0..3u8 {
            tree.insert([i], [i], seqno.next());
            tree.flush_active_memtable(0).unwrap();
        }
        let ctx = tree.0.table_ctx.clone();
        drop(tree);
        let before = listing(dir.path());
        let state = read_manifest_state(&StdFs, dir.path()).unwrap();
        assert_eq!(state.name, "MANIFEST-000001");
        assert_eq!(
            state.record_offsets.len(),
            4,
            "a snapshot and three flushes"
        );
        assert_eq!(state.torn_tail, None);
        let manifest_bytes = before
            .iter()
            .find(|(path, _)| *path == state.path)
            .map(|(_, bytes)| bytes.len() as u64);
        assert_eq!(Some(state.size_bytes), manifest_bytes);
        assert_eq!(state.replayed.highest_seqno, Some(2));
        let runs: Vec<_> = state.replayed.levels[0].clone();
        assert_eq!(runs, vec![vec![0, 1, 2]], "disjoint flushes join one run");
        let version = open_version(&state, &dir.path().join("tables"), &ctx).unwrap();
        assert_eq!(version.tables().count(), 3);
        drop(version);
        assert_eq!(
            listing(dir.path()),
            before,
            "nothing was written or removed"
        );
    }

    #[test]
    fn a_directory_without_current_holds_no_tree() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_manifest_state(&StdFs, dir.path()),
            Err(Error::InvalidArgument(_))
        ));
    }
}
