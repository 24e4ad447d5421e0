//! Introspection for tools and tests: `current_version` lists exactly the tables of the tree
//! with what their meta blocks record, and keeps listing them while the tree changes;
//! `get_internal_entry` returns the newest raw entry at a seqno, tombstones as tombstones; tree
//! ids are unique; `verify_integrity` is clean on a clean tree and names the file of a flipped
//! byte, read from disk whatever the block cache holds.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    reason = "test code damages files behind the engine's back"
)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata::config::BlockSizePolicy;
use strata::verify::verify_integrity;
use strata::{
    Cache, Config, CorruptionKind, Error, SeqNo, SequenceNumberCounter, TableView, Tree, TreeType,
    ValueType,
};

/// What a table view reports, as one comparable value.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    id: u64,
    level: usize,
    key_range: (Vec<u8>, Vec<u8>),
    seqno_range: (SeqNo, SeqNo),
    entries: u64,
    tombstones: u64,
}

fn seen(table: &TableView) -> Seen {
    let (min, max) = table.key_range();
    Seen {
        id: table.id(),
        level: table.level(),
        key_range: (min.to_vec(), max.to_vec()),
        seqno_range: table.seqno_range(),
        entries: table.entry_count(),
        tombstones: table.tombstone_count(),
    }
}

fn seen_all(tree: &Tree) -> Vec<Seen> {
    tree.current_version()
        .iter_tables()
        .map(|t| seen(&t))
        .collect()
}

fn range(min: &str, max: &str) -> (Vec<u8>, Vec<u8>) {
    (min.as_bytes().to_vec(), max.as_bytes().to_vec())
}

/// Two overlapping flushes: two level-0 runs.
fn two_runs(tree: &Tree, seqno: &SequenceNumberCounter) {
    tree.insert("a", "1", seqno.next());
    tree.insert("b", "1", seqno.next());
    tree.remove("c", seqno.next());
    tree.flush_active_memtable(0).unwrap();
    tree.insert("b", "2", seqno.next());
    tree.insert("d", "2", seqno.next());
    tree.flush_active_memtable(0).unwrap();
}

#[test]
fn current_version_lists_each_table_with_its_level_ranges_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default())
        .open()
        .unwrap();
    assert_eq!(tree.current_version().table_count(), 0);
    assert_eq!(tree.current_version().level_count(), 7);
    two_runs(&tree, &seqno);

    // Level 0, newest run first.
    let expected = vec![
        Seen {
            id: 1,
            level: 0,
            key_range: range("b", "d"),
            seqno_range: (3, 4),
            entries: 2,
            tombstones: 0,
        },
        Seen {
            id: 0,
            level: 0,
            key_range: range("a", "c"),
            seqno_range: (0, 2),
            entries: 3,
            tombstones: 1,
        },
    ];
    assert_eq!(seen_all(&tree), expected);
    let before = tree.current_version();
    let sizes: u64 = before.iter_tables().map(|t| t.file_size()).sum();
    assert_eq!(sizes, tree.disk_space());
    for table in before.iter_tables() {
        assert_eq!(
            table.path(),
            dir.path()
                .join("tables")
                .join(format!("{}.sst", table.id()))
        );
    }
    assert_eq!(before.blob_files().count(), 0);

    // Every version below the watermark goes: b@1 and the tombstone with nothing beneath it.
    tree.major_compact(64 << 20, seqno.get()).unwrap();
    let after = seen_all(&tree);
    assert_eq!(
        after,
        [Seen {
            id: 2,
            level: 6,
            key_range: range("a", "d"),
            seqno_range: (0, 4),
            entries: 3,
            tombstones: 0,
        }]
    );
    // The view taken before still shows, and holds, the tables the compaction replaced.
    assert_eq!(
        before.iter_tables().map(|t| seen(&t)).collect::<Vec<_>>(),
        expected
    );
    for table in before.iter_tables() {
        assert!(
            table.path().exists(),
            "{} deleted under a view",
            table.path().display()
        );
    }
}

#[test]
fn a_table_checksum_is_stable_across_reopen_and_differs_between_tables() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let open = || {
        Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default())
            .open()
            .unwrap()
    };
    let tree = open();
    two_runs(&tree, &seqno);
    let checksums = |tree: &Tree| -> Vec<(u64, u128)> {
        tree.current_version()
            .iter_tables()
            .map(|t| (t.id(), t.checksum().into_u128()))
            .collect()
    };
    let first = checksums(&tree);
    assert_eq!(first.len(), 2);
    assert_ne!(first[0].1, first[1].1);
    drop(tree);
    assert_eq!(checksums(&open()), first);
}

#[test]
fn get_internal_entry_returns_tombstones_as_such_and_respects_the_seqno() {
    let dir = tempfile::tempdir().unwrap();
    let tree = common::open_default(dir.path());
    tree.insert("k", "v1", 1);
    tree.remove("k", 2);
    tree.insert("w", "v", 3);
    tree.remove_weak("w", 4);
    tree.flush_active_memtable(0).unwrap();
    tree.insert("k", "v2", 5);

    let entry = |key: &str, seqno: SeqNo| {
        tree.get_internal_entry(key, seqno).unwrap().map(|e| {
            (
                e.key.user_key.to_vec(),
                e.key.seqno,
                e.key.value_type,
                e.value.to_vec(),
            )
        })
    };
    let k = |seqno, value_type, value: &str| Some((b"k".to_vec(), seqno, value_type, value.into()));
    assert_eq!(entry("k", 1), None, "a read at 1 sees seqnos below 1");
    assert_eq!(entry("k", 2), k(1, ValueType::Value, "v1"));
    assert_eq!(entry("k", 3), k(2, ValueType::Tombstone, ""));
    assert_eq!(
        entry("k", 5),
        k(2, ValueType::Tombstone, ""),
        "from the table"
    );
    assert_eq!(
        entry("k", 6),
        k(5, ValueType::Value, "v2"),
        "from the memtable"
    );
    assert_eq!(entry("k", SeqNo::MAX), k(5, ValueType::Value, "v2"));
    assert_eq!(tree.get("k", 5).unwrap(), None);
    assert_eq!(
        entry("w", 5),
        Some((b"w".to_vec(), 4, ValueType::WeakTombstone, Vec::new()))
    );
    assert_eq!(entry("w", 4).map(|e| e.2), Some(ValueType::Value));
    assert_eq!(entry("absent", SeqNo::MAX), None);
}

#[test]
fn each_open_tree_gets_its_own_id_and_a_reopen_a_new_one() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = common::open_default(a.path());
    let second = common::open_default(b.path());
    assert_ne!(first.id(), second.id());
    assert_eq!(first.clone().id(), first.id());
    let old = first.id();
    drop(first);
    let reopened = common::open_default(a.path());
    assert_ne!(reopened.id(), old);
    assert_ne!(reopened.id(), second.id());
    assert_eq!(reopened.tree_type(), TreeType::Standard);
}

/// Opens the tree at `dir` with 512-byte blocks and a block cache of `cache_bytes`.
fn open_small(dir: &Path, cache_bytes: u64) -> Tree {
    Config::new(
        dir,
        SequenceNumberCounter::default(),
        SequenceNumberCounter::default(),
    )
    .data_block_size_policy(BlockSizePolicy::all(512))
    .use_cache(Arc::new(Cache::with_capacity_bytes(cache_bytes)))
    .open()
    .unwrap()
}

/// A tree of 2000 keys in 512-byte blocks, flushed as `tables` tables.
fn written(dir: &Path, cache_bytes: u64, tables: u32) -> Tree {
    let tree = open_small(dir, cache_bytes);
    let per_table = 2000 / tables;
    for i in 0..2000u32 {
        tree.insert(format!("key{i:05}"), format!("value-{i:05}"), u64::from(i));
        if (i + 1) % per_table == 0 {
            tree.flush_active_memtable(0).unwrap();
        }
    }
    tree
}

fn table_paths(tree: &Tree) -> Vec<PathBuf> {
    tree.current_version()
        .iter_tables()
        .map(|t| t.path().to_path_buf())
        .collect()
}

/// Flips a bit inside the first data block's payload (blocks start at offset 0 and their header
/// is 18 bytes long).
fn flip_in_first_data_block(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[40] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn verify_integrity_of_a_clean_tree_is_ok_and_counts_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let tree = written(dir.path(), 1 << 20, 4);
    tree.compact(Arc::new(strata::compaction::Leveled::default()), 0)
        .unwrap();
    assert!(tree.table_count() >= 4);
    let report = verify_integrity(&tree);
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(report.sst_files_checked, tree.table_count());
    assert_eq!(report.blob_files_checked, 0);
    assert_eq!(report.files_checked(), tree.table_count());
}

#[test]
fn verify_integrity_names_the_table_with_a_flipped_byte_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let tree = written(dir.path(), 1 << 20, 2);
    let paths = table_paths(&tree);
    assert_eq!(paths.len(), 2);
    assert!(verify_integrity(&tree).is_ok());
    drop(tree);
    flip_in_first_data_block(&paths[1]);

    // A fresh tree and cache: the open reads the footer, meta and index blocks, not this block.
    let tree = open_small(dir.path(), 1 << 20);
    let report = verify_integrity(&tree);
    assert_eq!(report.sst_files_checked, 2);
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    let damage = &report.errors[0];
    assert_eq!(damage.path, paths[1]);
    match &damage.error {
        Error::Corruption { file, offset, what } => {
            assert_eq!((file, *offset), (&paths[1], 0), "the first data block");
            assert!(
                matches!(what, CorruptionKind::ChecksumMismatch { .. }),
                "{what:?}"
            );
        }
        other => panic!("not a corruption: {other}"),
    }
    assert!(damage.to_string().contains(&paths[1].display().to_string()));
    assert!(!report.is_ok());
}

#[test]
fn verify_integrity_reads_the_disk_not_the_block_cache() {
    let dir = tempfile::tempdir().unwrap();
    let tree = written(dir.path(), 64 << 20, 1);
    // Every data block is in the cache now.
    assert_eq!(common::contents(&tree, SeqNo::MAX).len(), 2000);
    let paths = table_paths(&tree);
    flip_in_first_data_block(&paths[0]);
    assert_eq!(
        tree.get("key00000", SeqNo::MAX).unwrap(),
        Some("value-00000".into()),
        "served from the cache"
    );
    let report = verify_integrity(&tree);
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert_eq!(report.errors[0].path, paths[0]);
}

#[test]
fn verify_integrity_reports_a_missing_table_file_and_checks_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let tree = written(dir.path(), 1 << 20, 2);
    let paths = table_paths(&tree);
    std::fs::remove_file(&paths[0]).unwrap();
    let report = verify_integrity(&tree);
    assert_eq!(
        report.sst_files_checked, 2,
        "an unreadable file counts as checked"
    );
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert_eq!(report.errors[0].path, paths[0]);
    assert!(matches!(report.errors[0].error, Error::Io { .. }));
}
