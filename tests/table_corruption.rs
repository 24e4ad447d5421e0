//! Corrupt table files behind a live tree: every read that touches a damaged block returns
//! `Error::Corruption` naming the file and offset; nothing panics and no wrong value comes back.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    reason = "test code damages files behind the engine's back"
)]

use std::sync::Arc;

use strata::config::{BlockSizePolicy, PinningPolicy};
use strata::{Cache, Config, Error, Guard, SeqNo, SequenceNumberCounter};

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
