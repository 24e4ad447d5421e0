//! Format compatibility: a tree written by format version 1 (committed under
//! `tests/fixtures/format-v1/`) keeps opening and reading the same data. If this test fails, the
//! on-disk format changed: bump the format version and keep reading the old one, never silently.
//!
//! Regenerate the fixture only for a new format version:
//! `STRATA_WRITE_FIXTURE=1 cargo test --test format_compat` (writes `format-v<N>` for the current N).

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "test code; copies the fixture into a scratch directory"
)]

use std::path::{Path, PathBuf};

use strata::config::{BlockSizePolicy, HashRatioPolicy, PinningPolicy};
use strata::{Config, Guard, SeqNo, SequenceNumberCounter};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-v1")
}

fn config(path: &Path) -> Config {
    Config::new(
        path,
        SequenceNumberCounter::default(),
        SequenceNumberCounter::default(),
    )
    .data_block_size_policy(BlockSizePolicy::all(256))
    .data_block_hash_ratio_policy(HashRatioPolicy::all(1.0))
    .index_block_partitioning_policy(PinningPolicy::all(true))
    .filter_block_partitioning_policy(PinningPolicy::all(true))
    .table_target_size(4096)
}

/// The data the fixture holds: three flushes with overwrites and deletes.
fn expected() -> Vec<(String, String)> {
    (0..300u32)
        .filter(|i| i % 7 != 3)
        .map(|i| {
            (
                format!("key{i:04}"),
                format!("value-{}-{i}", if i % 2 == 0 { 2 } else { 1 }),
            )
        })
        .collect()
}

fn write_fixture(dir: &Path) {
    let seqno = SequenceNumberCounter::default();
    let tree = config(dir).open().unwrap();
    for round in 0..3u32 {
        for i in 0..300u32 {
            let keep = match round {
                0 => true,
                1 => i % 2 == 1,
                _ => i % 2 == 0,
            };
            if keep {
                tree.insert(
                    format!("key{i:04}"),
                    format!("value-{round}-{i}"),
                    seqno.next(),
                );
            }
            if round == 2 && i % 7 == 3 {
                tree.remove(format!("key{i:04}"), seqno.next());
            }
        }
        tree.flush_active_memtable(0).unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "LOCK" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn the_format_v1_fixture_keeps_opening_with_the_same_data() {
    if std::env::var("STRATA_WRITE_FIXTURE").is_ok() {
        let dir = fixture_dir();
        let _ = std::fs::remove_dir_all(&dir);
        write_fixture(&dir);
        let _ = std::fs::remove_file(dir.join("LOCK"));
        return;
    }
    // Open a copy: opening writes a fresh manifest, and the fixture must stay as committed.
    let scratch = tempfile::tempdir().unwrap();
    copy_dir(&fixture_dir(), scratch.path());
    let tree = config(scratch.path()).open().unwrap();
    assert_eq!(
        tree.table_count(),
        4,
        "the fixture's three flushes wrote four tables"
    );
    let got: Vec<(String, String)> = tree
        .iter(SeqNo::MAX, None)
        .map(|g| {
            let (k, v) = g.into_inner().unwrap();
            (
                String::from_utf8(k.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected());
    for (k, v) in expected() {
        assert_eq!(tree.get(&k, SeqNo::MAX).unwrap().unwrap(), v.as_bytes());
    }
    // Older snapshots read as written: after round 0 every key held its round-0 value.
    assert_eq!(tree.get("key0001", 300).unwrap().unwrap(), "value-0-1");
}
