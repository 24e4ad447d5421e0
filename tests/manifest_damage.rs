//! A flipped bit in the manifest's last record must fail the open, never lose a flush.
//!
//! The manifest used to treat any record that failed its checks, with no valid record after it, as
//! a torn tail: so every bit flip in the last record opened without error at the state before the
//! last flush, and the open then deleted that flush's table as an orphan. A crash leaves only a
//! short record or a zero-filled tail, never a complete record with a wrong checksum (LevelDB's
//! manifest rule): the framing now tells the two apart, and a damaged complete record is
//! `Error::Corruption` at its offset, with every table file left where it is.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    reason = "test code; the test damages files behind the engine's back"
)]

use std::path::{Path, PathBuf};

use strata::{Config, Error, SeqNo, SequenceNumberCounter, Tree};

fn open(dir: &Path) -> Result<Tree, Error> {
    Config::new(
        dir,
        SequenceNumberCounter::default(),
        SequenceNumberCounter::default(),
    )
    .open()
}

fn manifest_path(dir: &Path) -> PathBuf {
    let name = std::fs::read_to_string(dir.join("CURRENT")).unwrap();
    dir.join(name.trim_end())
}

fn table_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("tables"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .collect();
    files.sort();
    files
}

/// The offset of each record, walking the framing of `docs/format.md` 10.2: an 18-byte header
/// whose bytes 2..6 hold the payload length, the payload, and a one-byte trailer.
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        assert_eq!(
            &bytes[pos..pos + 2],
            b"SR",
            "a record of the current framing"
        );
        offsets.push(pos);
        let len = u32::from_le_bytes(bytes[pos + 2..pos + 6].try_into().unwrap()) as usize;
        pos += 18 + len + 1;
    }
    assert_eq!(pos, bytes.len());
    offsets
}

/// A tree with two flushes (two tables), closed.
fn two_flushes(dir: &Path) {
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(dir, seqno.clone(), SequenceNumberCounter::default())
        .open()
        .unwrap();
    tree.insert("a", "1", seqno.next());
    tree.flush_active_memtable(0).unwrap();
    tree.insert("b", "2", seqno.next());
    tree.flush_active_memtable(0).unwrap();
}

#[test]
fn every_bit_flip_in_the_last_manifest_record_fails_the_open_and_deletes_no_table() {
    let dir = tempfile::tempdir().unwrap();
    two_flushes(dir.path());
    let path = manifest_path(dir.path());
    let original = std::fs::read(&path).unwrap();
    let offsets = record_offsets(&original);
    assert_eq!(offsets.len(), 3, "a snapshot and two flushes");
    let last = offsets[2];
    let tables = table_files(dir.path());
    assert_eq!(tables.len(), 2);
    for pos in last..original.len() {
        for bit in 0..8 {
            let mut flipped = original.clone();
            flipped[pos] ^= 1 << bit;
            std::fs::write(&path, &flipped).unwrap();
            match open(dir.path()) {
                Err(Error::Corruption { file, offset, .. }) => {
                    assert_eq!(file, path, "byte {pos} bit {bit}");
                    assert_eq!(offset, last as u64, "byte {pos} bit {bit}");
                }
                Err(other) => panic!("byte {pos} bit {bit}: unexpected error {other}"),
                Ok(_) => panic!("byte {pos} bit {bit}: opened over a damaged record"),
            }
            assert_eq!(table_files(dir.path()), tables, "byte {pos} bit {bit}");
        }
    }
    // Undamaged, it opens with both flushes.
    std::fs::write(&path, &original).unwrap();
    let tree = open(dir.path()).unwrap();
    assert_eq!(tree.get("a", SeqNo::MAX).unwrap().unwrap(), b"1".as_slice());
    assert_eq!(tree.get("b", SeqNo::MAX).unwrap().unwrap(), b"2".as_slice());
}

#[test]
fn a_cut_or_zero_filled_last_manifest_record_opens_at_the_state_before_it() {
    for zero_fill in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        two_flushes(dir.path());
        let path = manifest_path(dir.path());
        let original = std::fs::read(&path).unwrap();
        let last = record_offsets(&original)[2];
        let mut torn = original[..last + 7].to_vec();
        if zero_fill {
            torn.resize(original.len(), 0);
        }
        std::fs::write(&path, &torn).unwrap();
        let tree = open(dir.path()).unwrap();
        assert_eq!(tree.get("a", SeqNo::MAX).unwrap().unwrap(), b"1".as_slice());
        assert_eq!(tree.get("b", SeqNo::MAX).unwrap(), None, "the torn flush");
    }
}
