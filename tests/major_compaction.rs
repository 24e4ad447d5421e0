//! Major compaction: everything merges into the last level, space comes back, reads at or above
//! the GC watermark are unchanged, inputs are deleted only once no reader holds them, and the
//! result survives a reopen.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "test code; lists the tables folder to see deletions"
)]

mod common;

use strata::compaction::CompactionAction;
use strata::{Guard, SeqNo, SequenceNumberCounter, Tree};

fn open(dir: &std::path::Path) -> Tree {
    common::small_config(dir, &SequenceNumberCounter::default(), 512, 8 << 10)
        .open()
        .unwrap()
}

fn table_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("tables")).unwrap().count()
}

fn snapshot(tree: &Tree, at: SeqNo) -> Vec<(Vec<u8>, Vec<u8>)> {
    common::contents(tree, at).into_iter().collect()
}

#[test]
fn major_compaction_reclaims_space_and_keeps_every_read_above_the_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let tree = open(dir.path());
    let seqno = SequenceNumberCounter::default();
    for round in 0..4u32 {
        for i in 0..500u32 {
            tree.insert(
                format!("key{i:04}"),
                format!("round{round}-{i}-").repeat(3),
                seqno.next(),
            );
        }
        for i in (0..500u32).filter(|i| i % 5 == round) {
            tree.remove(format!("key{i:04}"), seqno.next());
        }
        tree.flush_active_memtable(0).unwrap();
    }
    let watermark = seqno.get() - 100;
    let reads: Vec<SeqNo> = vec![watermark, watermark + 50, SeqNo::MAX];
    let before: Vec<_> = reads.iter().map(|&x| snapshot(&tree, x)).collect();
    let disk_before = tree.disk_space();
    assert!(tree.tombstone_count() > 0);
    let files_before = table_files(dir.path());

    // An iterator opened before the compaction keeps reading the old tables.
    let mut old_iter = tree.iter(SeqNo::MAX, None);
    let first = old_iter.next().unwrap().key().unwrap();

    let result = tree.major_compact(8 << 10, watermark).unwrap();
    assert_eq!(result.action, CompactionAction::Merged);
    assert_eq!(result.dest_level, Some(6));
    assert_eq!(result.tables_in, files_before);
    assert_eq!(tree.level_table_count(6), Some(result.tables_out));
    assert_eq!(tree.level_table_count(0), Some(0));
    assert!(
        tree.disk_space() < disk_before / 2,
        "{} vs {disk_before}",
        tree.disk_space()
    );
    let after: Vec<_> = reads.iter().map(|&x| snapshot(&tree, x)).collect();
    assert_eq!(after, before);

    // The old files stay while the old iterator lives. Dropping it deletes nothing on the
    // reader's thread; the next maintenance call (here a flush with nothing to flush) does.
    assert_eq!(table_files(dir.path()), files_before + result.tables_out);
    let rest = old_iter.count();
    assert_eq!(1 + rest, before[2].len());
    assert_eq!(first, before[2][0].0);
    assert_eq!(table_files(dir.path()), files_before + result.tables_out);
    tree.flush_active_memtable(0).unwrap();
    assert_eq!(table_files(dir.path()), result.tables_out);

    // A second major compaction at the latest seqno drops every tombstone and old version.
    tree.major_compact(8 << 10, seqno.get()).unwrap();
    assert_eq!(tree.tombstone_count(), 0);
    assert_eq!(tree.approximate_len(), before[2].len());
    let latest = snapshot(&tree, SeqNo::MAX);
    drop(tree);
    let tree = open(dir.path());
    assert_eq!(snapshot(&tree, SeqNo::MAX), latest);
    assert_eq!(table_files(dir.path()), tree.table_count());
}

#[test]
fn major_compaction_of_an_empty_tree_does_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tree = open(dir.path());
    assert_eq!(
        tree.major_compact(1 << 20, 0).unwrap().action,
        CompactionAction::Nothing
    );
    tree.insert("only-in-memory", "x", 0);
    assert_eq!(
        tree.major_compact(1 << 20, 0).unwrap().action,
        CompactionAction::Nothing
    );
    assert_eq!(tree.get("only-in-memory", 1).unwrap().unwrap(), "x");
}
