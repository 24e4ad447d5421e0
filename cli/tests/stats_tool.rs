//! `strata stats DIR` on a tree and on a database folder.

#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use std::collections::BTreeMap;

use common::{fails, ok, s};
use strata::{Config, Database, KeyspaceCreateOptions, SequenceNumberCounter};

fn parse(out: &str) -> BTreeMap<String, u64> {
    out.lines()
        .map(|line| {
            let (name, value) = line.split_once('\t').unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect()
}

#[test]
fn stats_shows_the_shape_of_a_tree_and_of_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let tree_dir = dir.path().join("tree");
    {
        let seqno = SequenceNumberCounter::default();
        let tree = Config::new(&tree_dir, seqno.clone(), SequenceNumberCounter::default())
            .open()
            .unwrap();
        for i in 0..3u32 {
            tree.insert(format!("k{i}"), "v", seqno.next());
            tree.flush_active_memtable(0).unwrap();
        }
        tree.remove_range("a", "b", seqno.next());
        tree.flush_active_memtable(0).unwrap();
    }
    let stats = parse(&ok(&["stats", s(&tree_dir)]));
    assert_eq!(stats["level0.tables"], 4);
    assert!(stats["level0.bytes"] > 0);
    assert_eq!(stats["range_tombstones"], 1);
    assert_eq!(stats["wal_segments"], 0, "a tree has no WAL");

    let db_dir = dir.path().join("db");
    {
        let db = Database::builder(&db_dir).open().unwrap();
        let items = db
            .keyspace("items", KeyspaceCreateOptions::default)
            .unwrap();
        for i in 0..100u32 {
            items.insert(format!("k{i:03}"), "v").unwrap();
        }
    }
    let stats = parse(&ok(&["stats", s(&db_dir)]));
    assert!(stats["wal_segments"] >= 1);
    assert!(
        stats["level0.tables"] >= 1,
        "the keyspace's logged writes were replayed and flushed"
    );
    assert!(stats["bytes_written.flush"] > 0);

    let (_, error) = fails(&["stats", s(&dir.path().join("missing").join("deeper"))]);
    assert!(error.starts_with("error: "), "{error}");
}

/// A keyspace with a custom comparator is left closed (its writes stay in its pending log), and
/// the other keyspaces' counters are printed.
#[test]
fn stats_leaves_a_keyspace_with_a_custom_comparator_closed() {
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("db");
    {
        let db = Database::builder(&db_dir).open().unwrap();
        let items = db
            .keyspace("items", KeyspaceCreateOptions::default)
            .unwrap();
        let sorted = db
            .keyspace("sorted", || {
                KeyspaceCreateOptions::default().comparator(std::sync::Arc::new(common::Descending))
            })
            .unwrap();
        for i in 0..50u32 {
            items.insert(format!("k{i:03}"), "v").unwrap();
            sorted.insert(format!("k{i:03}"), "v").unwrap();
        }
    }
    let stats = parse(&ok(&["stats", s(&db_dir)]));
    assert!(
        stats["level0.tables"] >= 1,
        "items was replayed and flushed"
    );
    let pending = strata::internals::pending_log_files(&db_dir).unwrap();
    assert_eq!(pending.len(), 1, "sorted's writes wait in its pending log");
    let db = Database::builder(&db_dir).open().unwrap();
    let sorted = db
        .keyspace("sorted", || {
            KeyspaceCreateOptions::default().comparator(std::sync::Arc::new(common::Descending))
        })
        .unwrap();
    assert_eq!(sorted.len().unwrap(), 50);
}
