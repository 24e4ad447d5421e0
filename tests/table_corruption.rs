//! Corrupt table files behind a live tree: every read that touches a damaged block returns
//! `Error::Corruption` naming the file and offset; nothing panics and no wrong value comes back.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    reason = "test code damages files behind the engine's back"
)]

use std::sync::Arc;

use std::path::{Path, PathBuf};

use strata::config::{BlockSizePolicy, PinningPolicy, RestartIntervalPolicy};
use strata::{
    Cache, Config, CorruptionKind, Error, Guard, MAX_SEQNO, SeqNo, SequenceNumberCounter,
};

fn value_of(i: u32) -> Vec<u8> {
    format!("value-{i:05}-").repeat(4).into_bytes()
}

#[test]
fn a_flipped_byte_in_a_table_is_reported_not_returned() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Config::new(
        dir.path(),
        SequenceNumberCounter::default(),
        SequenceNumberCounter::default(),
    )
    .data_block_size_policy(BlockSizePolicy::all(512))
    .filter_block_pinning_policy(PinningPolicy::all(false))
    // No block cache: every read goes to the file.
    .use_cache(Arc::new(Cache::with_capacity_bytes(0)))
    .open()
    .unwrap();
    for i in 0..2000u32 {
        tree.insert(format!("key{i:05}"), value_of(i), u64::from(i));
    }
    tree.flush_active_memtable(0).unwrap();
    assert_eq!(tree.table_count(), 1);
    let table_path = std::fs::read_dir(dir.path().join("tables"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "sst"))
        .unwrap();
    let original = std::fs::read(&table_path).unwrap();
    // Damage a byte in the middle of the data blocks (the table reader keeps its index and meta
    // in memory, so the data path is what is left to protect).
    let mut damaged = original.clone();
    let pos = original.len() / 3;
    damaged[pos] ^= 0x40;
    std::fs::write(&table_path, &damaged).unwrap();

    let mut corruptions = 0;
    for i in 0..2000u32 {
        match tree.get(format!("key{i:05}"), SeqNo::MAX) {
            Ok(Some(v)) => assert_eq!(v, value_of(i), "wrong value for key {i}"),
            Ok(None) => panic!("key {i} lost without an error"),
            Err(Error::Corruption { file, .. }) => {
                assert_eq!(file, table_path);
                corruptions += 1;
            }
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    assert!(corruptions > 0, "the damaged block was never reported");
    let mut scan_errors = 0;
    let mut scanned = 0;
    for item in tree.iter(SeqNo::MAX, None) {
        match item.into_inner() {
            Ok((k, v)) => {
                let i: u32 = std::str::from_utf8(&k[3..]).unwrap().parse().unwrap();
                assert_eq!(v, value_of(i));
                scanned += 1;
            }
            Err(Error::Corruption { .. }) => scan_errors += 1,
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    assert_eq!(scan_errors, 1, "a scan stops at its first error");
    assert!(scanned < 2000);
    // Restoring the file restores every read.
    std::fs::write(&table_path, &original).unwrap();
    for i in (0..2000u32).step_by(97) {
        assert_eq!(
            tree.get(format!("key{i:05}"), SeqNo::MAX).unwrap().unwrap(),
            value_of(i)
        );
    }
}

#[test]
fn a_damaged_block_never_enters_the_cache_and_cached_blocks_read_right() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Config::new(
        dir.path(),
        SequenceNumberCounter::default(),
        SequenceNumberCounter::default(),
    )
    .data_block_size_policy(BlockSizePolicy::all(512))
    .use_cache(Arc::new(Cache::with_capacity_bytes(8 << 20)))
    .open()
    .unwrap();
    for i in 0..2000u32 {
        tree.insert(format!("key{i:05}"), value_of(i), u64::from(i));
    }
    tree.flush_active_memtable(0).unwrap();
    let table_path = table_files(dir.path()).remove(0);
    let mut damaged = std::fs::read(&table_path).unwrap();
    let pos = damaged.len() / 3;
    damaged[pos] ^= 0x40;
    std::fs::write(&table_path, &damaged).unwrap();
    // The first pass fills the cache (misses); the second reads the blocks it cached (hits). The
    // damaged block fails both times: it was never cached, parsed or not.
    let pass = || -> Vec<u32> {
        (0..2000u32)
            .filter(|&i| match tree.get(format!("key{i:05}"), SeqNo::MAX) {
                Ok(Some(v)) => {
                    assert_eq!(v, value_of(i), "wrong value for key {i}");
                    false
                }
                Ok(None) => panic!("key {i} lost without an error"),
                Err(Error::Corruption { .. }) => true,
                Err(other) => panic!("unexpected error {other}"),
            })
            .collect()
    };
    let first = pass();
    assert!(!first.is_empty(), "the damaged block was never reported");
    assert_eq!(
        pass(),
        first,
        "a second read of every key answers as the first"
    );
}

/// The table files in `dir`'s tree, by id.
fn table_files(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join("tables"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .collect();
    paths.sort_by_key(|p| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
    });
    paths
}

/// The `(offset, len)` of the footer's handle at `at` (0 index, 32 meta).
fn footer_handle(bytes: &[u8], at: usize) -> (usize, usize) {
    let footer = &bytes[bytes.len() - 72..];
    let word = |i: usize| {
        usize::try_from(u64::from_le_bytes(footer[i..i + 8].try_into().unwrap())).unwrap()
    };
    (word(at), word(at + 8))
}

/// Recomputes the checksum of the uncompressed block at `offset` after its bytes were patched.
fn fix_block_checksum(bytes: &mut [u8], offset: usize) {
    let stored_len = u32::from_le_bytes(bytes[offset + 2..offset + 6].try_into().unwrap()) as usize;
    let mut covered = bytes[offset..offset + 10].to_vec();
    covered.extend_from_slice(&bytes[offset + 18..offset + 18 + stored_len]);
    let sum = xxhash_rust::xxh3::xxh3_64(&covered);
    bytes[offset + 10..offset + 18].copy_from_slice(&sum.to_le_bytes());
}

/// Regression: a table whose meta block (checksum intact) claims a seqno above `MAX_SEQNO` was
/// accepted at open; the tree's clock then moved into the reserved range, the next flush wrote
/// that seqno into a manifest, and the open after that refused the manifest. The table is now
/// refused at open, before anything is written.
#[test]
fn a_table_claiming_a_seqno_above_max_seqno_fails_the_open_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        Config::new(
            dir.path(),
            SequenceNumberCounter::default(),
            SequenceNumberCounter::default(),
        )
    };
    {
        let tree = config().open().unwrap();
        for i in 0..10u32 {
            tree.insert(format!("k{i}"), "v", u64::from(i));
        }
        tree.flush_active_memtable(0).unwrap();
    }
    let [table] = table_files(dir.path()).try_into().unwrap();
    let original = std::fs::read(&table).unwrap();
    for (seqno_min, seqno_max) in [(0, MAX_SEQNO + 1), (u64::MAX, u64::MAX)] {
        let mut bytes = original.clone();
        let (meta, _) = footer_handle(&bytes, 32);
        // seqno_min and seqno_max are the 7th and 8th u64 of the meta block's contents.
        let fields = meta + 18 + 48;
        bytes[fields..fields + 8].copy_from_slice(&seqno_min.to_le_bytes());
        bytes[fields + 8..fields + 16].copy_from_slice(&seqno_max.to_le_bytes());
        fix_block_checksum(&mut bytes, meta);
        std::fs::write(&table, &bytes).unwrap();
        match config().open() {
            Err(Error::Corruption { file, offset, what }) => {
                assert_eq!(file, table);
                assert_eq!(offset, meta as u64);
                assert_eq!(what, CorruptionKind::InvalidField("meta seqno range"));
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a table with seqno {seqno_max} was accepted"),
        }
    }
    // Nothing was written meanwhile: the intact table opens as before.
    std::fs::write(&table, &original).unwrap();
    let tree = config().open().unwrap();
    assert_eq!(tree.get("k3", SeqNo::MAX).unwrap().unwrap(), "v");
}

/// Regression: a compaction that read a block whose keys are out of order (checksum intact)
/// fed them to the table writer, which refused them as `Error::InvalidArgument`, as if the
/// caller had made a mistake. Reading the table now notices the order and reports corruption
/// naming the table and the block, for compactions and scans in both directions alike.
#[test]
fn a_block_with_keys_out_of_order_is_corruption_naming_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        Config::new(
            dir.path(),
            SequenceNumberCounter::default(),
            SequenceNumberCounter::default(),
        )
        // Every key stored whole, one data block: the keys can be swapped in place.
        .data_block_restart_interval_policy(RestartIntervalPolicy::all(1))
        .data_block_size_policy(BlockSizePolicy::all(1 << 16))
        .use_cache(Arc::new(Cache::with_capacity_bytes(0)))
    };
    {
        let tree = config().open().unwrap();
        for i in 0..100u32 {
            tree.insert(format!("key{i:05}"), value_of(i), u64::from(i));
        }
        tree.flush_active_memtable(0).unwrap();
        for i in 50..150u32 {
            tree.insert(format!("key{i:05}"), value_of(i), 1000 + u64::from(i));
        }
        tree.flush_active_memtable(0).unwrap();
    }
    let tables = table_files(dir.path());
    assert_eq!(tables.len(), 2);
    let damaged = &tables[0];
    let mut bytes = std::fs::read(damaged).unwrap();
    let find = |bytes: &[u8], pattern: &[u8]| {
        let hits: Vec<usize> = bytes
            .windows(pattern.len())
            .enumerate()
            .filter(|(_, w)| *w == pattern)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(hits.len(), 1, "{:?}", Slice(pattern));
        hits[0]
    };
    let (a, b) = (find(&bytes, b"key00030"), find(&bytes, b"key00031"));
    bytes[a + 7] = b'1';
    bytes[b + 7] = b'0';
    fix_block_checksum(&mut bytes, 0);
    std::fs::write(damaged, &bytes).unwrap();

    let tree = config().open().unwrap();
    let is_misordered = |err: Error| match err {
        Error::Corruption { file, offset, what } => {
            assert_eq!(&file, damaged);
            assert_eq!(offset, 0, "the data block's offset");
            assert_eq!(what, CorruptionKind::InvalidField("entry order"));
        }
        other => panic!("unexpected error {other}"),
    };
    let forward: Vec<_> = tree.iter(SeqNo::MAX, None).map(Guard::into_inner).collect();
    is_misordered(forward.into_iter().find_map(Result::err).unwrap());
    let backward: Vec<_> = tree
        .iter(SeqNo::MAX, None)
        .rev()
        .map(Guard::into_inner)
        .collect();
    is_misordered(backward.into_iter().find_map(Result::err).unwrap());
    is_misordered(tree.major_compact(u64::MAX, SeqNo::MAX).unwrap_err());
    assert_eq!(
        table_files(dir.path()),
        tables,
        "the failed compaction left no table"
    );
}

/// Prints a byte pattern readably in an assertion message.
struct Slice<'a>(&'a [u8]);

impl std::fmt::Debug for Slice<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", String::from_utf8_lossy(self.0))
    }
}
