//! `Statistics`: the bytes read by kind (API.md: "bytes read and written by kind"). Each kind is
//! counted by what read the bytes, and the kinds do not overlap: a point read on a cold cache
//! counts as a lookup, a compaction's reading of its inputs as compaction, a blob value read as
//! blob, and a database's replay of its WAL at open as wal.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed setup step should fail the test"
)]

use std::path::Path;
use std::sync::Arc;

use strata::{
    Cache, CompressionType, Config, Database, KeyspaceCreateOptions, KvSeparationOptions,
    SequenceNumberCounter, Tree,
};

/// A tree with 512-byte blocks and a block cache of `cache_bytes`.
fn open(dir: &Path, cache_bytes: u64, kv: Option<KvSeparationOptions>) -> Tree {
    open_with(dir, cache_bytes, kv, false)
}

/// [`open`], with partitioned indexes if `partitioned`.
fn open_with(
    dir: &Path,
    cache_bytes: u64,
    kv: Option<KvSeparationOptions>,
    partitioned: bool,
) -> Tree {
    Config::new(
        dir,
        SequenceNumberCounter::default(),
        SequenceNumberCounter::default(),
    )
    .data_block_size_policy(strata::config::BlockSizePolicy::all(512))
    .index_block_partitioning_policy(strata::config::PinningPolicy::all(partitioned))
    .use_cache(Arc::new(Cache::with_capacity_bytes(cache_bytes)))
    .with_kv_separation(kv)
    .open()
    .unwrap()
}

/// Writes 3 tables of 500 keys each (values of `value_len` bytes), overlapping.
fn three_tables(tree: &Tree, value_len: usize) {
    for round in 0..3u8 {
        for i in 0..500u64 {
            let value = vec![b'a' + round; value_len];
            tree.insert(format!("key{i:05}"), value, u64::from(round) * 1000 + i);
        }
        tree.flush_active_memtable(0).unwrap();
    }
}

/// With full and with partitioned indexes: a compaction's reads of index partitions count as
/// compaction too (they were counted as lookups until 2026-12-07).
#[test]
fn reads_and_compactions_count_their_bytes_apart() {
    for partitioned in [false, true] {
        reads_and_compactions_count_apart(partitioned);
    }
}

fn reads_and_compactions_count_apart(partitioned: bool) {
    // A compaction on a cold cache first: nothing it reads is a lookup.
    let dir = tempfile::tempdir().unwrap();
    let tree = open_with(dir.path(), 1 << 20, None, partitioned);
    three_tables(&tree, 20);
    tree.major_compact(64 << 20, 10_000).unwrap();
    let cold = tree.stats().bytes_read;
    assert_eq!(cold.lookup, 0, "partitioned: {partitioned}: {cold:?}");
    assert!(cold.compaction > 0);

    let dir = tempfile::tempdir().unwrap();
    let tree = open_with(dir.path(), 1 << 20, None, partitioned);
    three_tables(&tree, 20);
    let written = tree.stats();
    assert_eq!(written.bytes_read, strata::ReadCounts::default());

    // Point reads on a cold cache read data blocks: lookups, nothing else.
    for i in (0..500u64).step_by(7) {
        assert!(tree.get(format!("key{i:05}"), 10_000).unwrap().is_some());
    }
    let after_reads = tree.stats().bytes_read;
    assert!(after_reads.lookup > 0, "{after_reads:?}");
    assert_eq!(
        (after_reads.compaction, after_reads.blob, after_reads.wal),
        (0, 0, 0)
    );
    assert_eq!(after_reads.total(), after_reads.lookup);

    // A major compaction reads every input table's data blocks without the cache: at least the
    // data of the three tables, counted as compaction; the lookups' count does not move.
    let table_bytes: u64 = tree.stats().levels.iter().map(|l| l.bytes).sum();
    tree.major_compact(64 << 20, 10_000).unwrap();
    let after_compaction = tree.stats().bytes_read;
    assert_eq!(
        after_compaction.lookup, after_reads.lookup,
        "partitioned: {partitioned}"
    );
    assert!(
        after_compaction.compaction > table_bytes / 2,
        "the inputs' data blocks: {after_compaction:?} of {table_bytes} table bytes"
    );
    assert!(
        after_compaction.compaction <= table_bytes,
        "no more than the inputs hold: {after_compaction:?} of {table_bytes}"
    );
}

#[test]
fn blob_values_count_as_blob_reads() {
    let dir = tempfile::tempdir().unwrap();
    let kv = KvSeparationOptions::default()
        .separation_threshold(64)
        .compression(CompressionType::None);
    let tree = open(dir.path(), 1 << 20, Some(kv));
    three_tables(&tree, 300);
    let before = tree.stats().bytes_read;
    for i in (0..500u64).step_by(11) {
        let value = tree.get(format!("key{i:05}"), 10_000).unwrap().unwrap();
        assert_eq!(value.len(), 300);
    }
    let after = tree.stats().bytes_read;
    // 46 values of 300 bytes from the blob file, each read once (the cache keeps them).
    assert!(after.blob >= 46 * 300, "{after:?}");
    assert!(after.blob < 46 * 400, "{after:?}");
    assert_eq!(after.blob - before.blob, after.blob);
    assert!(
        after.lookup > 0,
        "the tables' blocks that hold the pointers"
    );
}

#[test]
fn a_database_counts_the_wal_it_replays_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let written = {
        let db = Database::builder(dir.path()).open().unwrap();
        let items = db
            .keyspace("items", KeyspaceCreateOptions::default)
            .unwrap();
        for i in 0..1000u32 {
            items.insert(format!("key{i:05}"), "value").unwrap();
        }
        assert_eq!(db.stats().bytes_read.wal, 0, "a new database read no WAL");
        db.stats().bytes_written.wal
    };
    assert!(written > 0);
    let db = Database::builder(dir.path()).open().unwrap();
    let read = db.stats().bytes_read;
    // The segments are read whole (a preallocated segment's zero tail too): at least what was
    // written to them.
    assert!(read.wal >= written, "{read:?}, {written} bytes written");
    let items = db
        .keyspace("items", KeyspaceCreateOptions::default)
        .unwrap();
    assert_eq!(items.get("key00999").unwrap(), Some("value".into()));
}
