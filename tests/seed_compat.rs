//! Behaviour that code written against the seed (`lsm-tree`, `coordinode-lsm-tree`) relies on,
//! checked through the public API: the shape of level 0 after flushes of disjoint keys, where
//! `Leveled` puts a table of fresh keys, and the default comparator's persisted name.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::sync::Arc;

use strata::compaction::Leveled;
use strata::fs::{Fs, StdFs};
use strata::{Config, SeqNo, SequenceNumberCounter, Tree};

fn open(dir: &std::path::Path) -> Tree {
    Config::new(
        dir,
        SequenceNumberCounter::default(),
        SequenceNumberCounter::default(),
    )
    .open()
    .unwrap()
}

#[test]
fn flushes_of_disjoint_keys_form_one_level_0_run() {
    let dir = tempfile::tempdir().unwrap();
    let tree = open(dir.path());
    for (i, key) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
        tree.insert(key, "v", i as SeqNo);
        tree.flush_active_memtable(0).unwrap();
    }
    assert_eq!(tree.table_count(), 5);
    assert_eq!(tree.l0_run_count(), 1);
    // An overlapping flush starts a run of its own, newer than the joined one.
    tree.insert("c", "new", 10);
    tree.flush_active_memtable(0).unwrap();
    assert_eq!(tree.l0_run_count(), 2);
    assert_eq!(tree.get("c", 11).unwrap(), Some("new".into()));
    assert_eq!(tree.get("c", 10).unwrap(), Some("v".into()));
    drop(tree);
    let tree = open(dir.path());
    assert_eq!(tree.l0_run_count(), 2, "the runs survive a reopen");
    assert_eq!(tree.get("c", 11).unwrap(), Some("new".into()));
}

#[test]
fn leveled_moves_a_table_of_fresh_keys_to_the_deepest_level_it_reaches() {
    let dir = tempfile::tempdir().unwrap();
    let tree = open(dir.path());
    let leveled = Arc::new(Leveled::default());
    for (i, key) in ["k1", "k2", "k3", "k4", "k5", "k6"].into_iter().enumerate() {
        tree.insert(key, key, 0);
        tree.flush_active_memtable(0).unwrap();
        tree.compact(leveled.clone(), 0).unwrap();
        assert_eq!(tree.level_table_count(0), Some(0), "{key}");
        assert_eq!(tree.level_table_count(6), Some(i + 1), "{key}");
    }
    // A table that overlaps the last level stays in level 0 (one run is below the trigger).
    tree.insert("k3", "again", 1);
    tree.flush_active_memtable(0).unwrap();
    tree.compact(leveled.clone(), 0).unwrap();
    assert_eq!(tree.level_table_count(0), Some(1));
    assert_eq!(tree.level_table_count(6), Some(6));
    assert_eq!(tree.get("k3", 2).unwrap(), Some("again".into()));
    // A sequential load is written once.
    assert!((tree.write_amplification() - 1.0).abs() < f64::EPSILON);
}

#[test]
fn the_default_comparator_is_persisted_as_default() {
    let dir = tempfile::tempdir().unwrap();
    let tree = open(dir.path());
    tree.insert("a", "1", 0);
    tree.flush_active_memtable(0).unwrap();
    drop(tree);
    let read = |path: &std::path::Path| {
        let file = StdFs.open(path).unwrap();
        let mut bytes = vec![0; usize::try_from(file.size_bytes().unwrap()).unwrap()];
        file.read_exact_at(&mut bytes, 0).unwrap();
        bytes
    };
    let current = String::from_utf8(read(&dir.path().join("CURRENT"))).unwrap();
    let manifest = read(&dir.path().join(current.trim_end()));
    let name = b"\x07default";
    assert!(manifest.windows(name.len()).any(|w| w == name));
    assert_eq!(open(dir.path()).get("a", 1).unwrap(), Some("1".into()));
}
