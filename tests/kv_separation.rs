//! Key-value separation (API.md "Key-value separation"): large values in blob files, read back
//! through every read path, garbage-collected so that the space comes back, and safe across
//! reopens, switches of the setting, corruption and stray files.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "test code; some tests damage files behind the engine's back"
)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata::compaction::{CompactionAction, Fifo, Leveled};
use strata::{
    CompressionType, Config, Guard, KvSeparationOptions, MergeOperator, SeqNo,
    SequenceNumberCounter, Slice, Tree, TreeType,
};

fn kv() -> KvSeparationOptions {
    KvSeparationOptions::default()
        .separation_threshold(256)
        .compression(CompressionType::None)
}

fn open(dir: &Path, seqno: &SequenceNumberCounter, kv: Option<KvSeparationOptions>) -> Tree {
    Config::new(dir, seqno.clone(), SequenceNumberCounter::default())
        .with_kv_separation(kv)
        .open()
        .unwrap()
}

fn big(i: u32, round: u32, len: usize) -> Vec<u8> {
    let mut value = format!("{i:06}-{round:03}-").into_bytes();
    value.resize(len, b'a' + (i % 26) as u8);
    value
}

fn blob_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "blob"))
        .collect();
    files.sort();
    files
}

fn compact_all(tree: &Tree, seqno: &SequenceNumberCounter) {
    tree.major_compact(64 << 20, seqno.get()).unwrap();
}

#[test]
fn every_read_path_returns_separated_values_and_size_of_reads_no_blob() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir.path(), &seqno, Some(kv()));
    assert_eq!(tree.tree_type(), TreeType::Blob);
    for i in 0..200u32 {
        let len = if i % 2 == 0 { 1000 + i as usize } else { 10 };
        tree.insert(format!("k{i:04}"), big(i, 0, len), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    assert_eq!(tree.blob_file_count(), 1);
    assert_eq!(blob_files(dir.path()).len(), 1);
    let read = seqno.get();
    let check = |tree: &Tree| {
        for i in 0..200u32 {
            let len = if i % 2 == 0 { 1000 + i as usize } else { 10 };
            let key = format!("k{i:04}");
            assert_eq!(tree.get(&key, read).unwrap().unwrap(), big(i, 0, len));
            assert_eq!(tree.size_of(&key, read).unwrap(), Some(len as u32));
        }
        let keys: Vec<String> = (0..200u32).map(|i| format!("k{i:04}")).collect();
        let values = tree.multi_get(&keys, read).unwrap();
        assert!(values.iter().all(Option::is_some));
        let forward: Vec<(Slice, Slice)> = tree
            .iter(read, None)
            .map(|g| g.into_inner().unwrap())
            .collect();
        assert_eq!(forward.len(), 200);
        let mut backward: Vec<(Slice, Slice)> = tree
            .range("k0000".."k9999", read, None)
            .rev()
            .map(|g| g.into_inner().unwrap())
            .collect();
        backward.reverse();
        assert_eq!(forward, backward);
        let sizes: Vec<u32> = tree
            .prefix("k00", read, None)
            .map(|g| g.size().unwrap())
            .collect();
        assert_eq!(sizes.len(), 100);
        assert_eq!(sizes[0], 1000);
        let first = tree.first_key_value(read, None).unwrap();
        let (key, value) = first.into_inner_if(|_| false).unwrap();
        assert_eq!((key, value), (Slice::from("k0000"), None));
        let last = tree.last_key_value(read, None).unwrap().value().unwrap();
        assert_eq!(last, big(199, 0, 10));
        let internal = tree.get_internal_entry("k0002", read).unwrap().unwrap();
        assert_eq!(internal.key.value_type, strata::ValueType::Value);
        assert_eq!(internal.value, big(2, 0, 1002));
    };
    check(&tree);
    drop(tree);
    let tree = open(dir.path(), &seqno, Some(kv()));
    check(&tree);
    // The blob file is gone from under the tree: size_of and key-only reads still work (they
    // read no blob), value reads fail with an error naming the file.
    let path = blob_files(dir.path()).remove(0);
    drop(tree);
    let bytes = std::fs::read(&path).unwrap();
    let tree = open(dir.path(), &seqno, Some(kv()));
    std::fs::remove_file(&path).unwrap();
    // NB: the descriptor table may keep the file open; drop its handle by reading a fresh tree.
    drop(tree);
    assert!(
        Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default())
            .open()
            .is_err(),
        "a missing blob file that the version names is an error at open"
    );
    std::fs::write(&path, bytes).unwrap();
    let tree = open(dir.path(), &seqno, None);
    assert_eq!(tree.tree_type(), TreeType::Standard);
    check(&tree);
}

#[test]
fn overwrites_and_deletes_give_the_space_back() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir.path(), &seqno, Some(kv().file_target_size(256 << 10)));
    let keys = 500u32;
    for round in 0..5u32 {
        for i in 0..keys {
            tree.insert(format!("k{i:05}"), big(i, round, 4096), seqno.next());
        }
        tree.flush_active_memtable(0).unwrap();
    }
    let one_copy = u64::from(keys) * (4096 + 6);
    assert!(tree.disk_space() > 4 * one_copy, "{}", tree.disk_space());
    let before = tree.disk_space();
    compact_all(&tree, &seqno);
    let disk = tree.disk_space();
    eprintln!(
        "5 overwrites of {keys} keys x 4 KiB: {before} bytes on disk before, {disk} after \
         major_compact, one copy {one_copy} ({:.3}x)",
        disk as f64 / one_copy as f64
    );
    assert!(
        disk as f64 <= 1.2 * one_copy as f64,
        "disk {disk} after overwrites, one copy {one_copy}"
    );
    let on_disk: u64 = blob_files(dir.path())
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(on_disk as f64 <= 1.2 * one_copy as f64, "{on_disk}");
    for i in (0..keys).step_by(37) {
        assert_eq!(
            tree.get(format!("k{i:05}"), seqno.get()).unwrap().unwrap(),
            big(i, 4, 4096)
        );
    }
    for i in 0..keys {
        tree.remove(format!("k{i:05}"), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    compact_all(&tree, &seqno);
    eprintln!(
        "after deleting every key: {} bytes on disk",
        tree.disk_space()
    );
    assert_eq!(tree.blob_file_count(), 0);
    assert_eq!(tree.stale_blob_bytes(), 0);
    assert!(tree.disk_space() < 4096, "{}", tree.disk_space());
    assert!(blob_files(dir.path()).is_empty());
}

#[test]
fn garbage_collection_relocates_live_values_of_stale_files() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir.path(), &seqno, Some(kv().staleness_threshold(0.4)));
    // One blob file: half of its values are overwritten later.
    for i in 0..100u32 {
        tree.insert(format!("k{i:03}"), big(i, 0, 2000), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    let first = blob_files(dir.path());
    assert_eq!(first.len(), 1);
    // A scan opened now keeps reading the old file after it is collected.
    let mut early = tree.iter(seqno.get(), None);
    let early_first = early.next().unwrap().into_inner().unwrap();
    for i in (0..100u32).step_by(2) {
        tree.insert(format!("k{i:03}"), big(i, 1, 2000), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    let strategy = Arc::new(Leveled::default().with_l0_threshold(1));
    while tree.compact(strategy.clone(), seqno.get()).unwrap().action != CompactionAction::Nothing {
    }
    assert_eq!(
        tree.stale_blob_bytes(),
        0,
        "the half-stale file was relocated"
    );
    let version = tree.current_version();
    assert!(
        version.blob_files().all(|b| b.stale_bytes() == 0),
        "{:?}",
        version
            .blob_files()
            .map(strata::BlobFileView::stale_bytes)
            .collect::<Vec<_>>()
    );
    for i in 0..100u32 {
        let round = u32::from(i % 2 == 0);
        assert_eq!(
            tree.get(format!("k{i:03}"), seqno.get()).unwrap().unwrap(),
            big(i, round, 2000)
        );
    }
    assert_eq!(early_first.1, big(0, 0, 2000));
    let rest: Vec<_> = early.map(|g| g.into_inner().unwrap()).collect();
    assert_eq!(rest.len(), 99);
    for (key, value) in &rest {
        let i: u32 = std::str::from_utf8(&key[1..]).unwrap().parse().unwrap();
        assert_eq!(
            *value,
            big(i, 0, 2000),
            "the scan reads the values it started with"
        );
    }
    drop(tree);
    assert!(
        !first.iter().any(|p| p.exists()),
        "the relocated file is deleted once its last reader went"
    );
}

struct Append;

impl MergeOperator for Append {
    fn merge(&self, _key: &[u8], base: Option<&[u8]>, operands: &[&[u8]]) -> strata::Result<Slice> {
        let mut out = base.map_or_else(Vec::new, <[u8]>::to_vec);
        for op in operands {
            out.extend_from_slice(op);
        }
        Ok(Slice::from(out))
    }
}

#[test]
fn merge_operands_resolve_onto_a_separated_base_in_reads_and_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default())
        .with_kv_separation(Some(kv()))
        .with_merge_operator(Some(Arc::new(Append)))
        .open()
        .unwrap();
    let base = big(1, 0, 3000);
    tree.insert("k", base.clone(), seqno.next());
    tree.flush_active_memtable(0).unwrap();
    tree.merge("k", "+1", seqno.next());
    tree.merge("k", "+2", seqno.next());
    let mut expected = base.clone();
    expected.extend_from_slice(b"+1+2");
    assert_eq!(tree.get("k", seqno.get()).unwrap().unwrap(), expected);
    assert_eq!(tree.size_of("k", seqno.get()).unwrap(), Some(3004));
    let scanned = tree
        .iter(seqno.get(), None)
        .next()
        .unwrap()
        .value()
        .unwrap();
    assert_eq!(scanned, expected);
    tree.flush_active_memtable(0).unwrap();
    compact_all(&tree, &seqno);
    assert_eq!(tree.get("k", seqno.get()).unwrap().unwrap(), expected);
    assert_eq!(
        tree.blob_file_count(),
        1,
        "the merged value was separated again"
    );
    assert_eq!(
        tree.get_internal_entry("k", seqno.get())
            .unwrap()
            .unwrap()
            .value,
        expected
    );
}

struct DropShortOrMarked;

impl strata::compaction::filter::CompactionFilter for DropShortOrMarked {
    fn filter_item(
        &mut self,
        item: strata::compaction::filter::ItemAccessor<'_>,
        _: &strata::compaction::filter::Context,
    ) -> strata::Result<strata::compaction::filter::Verdict> {
        let value = item.value()?;
        Ok(if value.ends_with(b"!") {
            strata::compaction::filter::Verdict::Remove
        } else {
            strata::compaction::filter::Verdict::Keep
        })
    }
}

struct Factory;

impl strata::compaction::filter::Factory for Factory {
    fn name(&self) -> &'static str {
        "drop-marked"
    }
    fn make_filter(
        &self,
        _: &strata::compaction::filter::Context,
    ) -> Box<dyn strata::compaction::filter::CompactionFilter> {
        Box::new(DropShortOrMarked)
    }
}

#[test]
fn compaction_filters_read_separated_values() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default())
        .with_kv_separation(Some(kv()))
        .with_compaction_filter_factory(Some(Arc::new(Factory)))
        .open()
        .unwrap();
    let mut marked = big(1, 0, 1000);
    marked.push(b'!');
    tree.insert("marked", marked, seqno.next());
    tree.insert("kept", big(2, 0, 1000), seqno.next());
    tree.flush_active_memtable(0).unwrap();
    compact_all(&tree, &seqno);
    assert_eq!(tree.get("marked", seqno.get()).unwrap(), None);
    assert_eq!(
        tree.get("kept", seqno.get()).unwrap().unwrap(),
        big(2, 0, 1000)
    );
}

#[test]
fn separation_switched_off_keeps_blobs_readable_and_collects_them() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir.path(), &seqno, Some(kv()));
    for i in 0..50u32 {
        tree.insert(format!("k{i:02}"), big(i, 0, 800), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    drop(tree);
    let tree = open(dir.path(), &seqno, None);
    assert_eq!(tree.blob_file_count(), 1);
    for i in 0..50u32 {
        tree.insert(format!("k{i:02}"), big(i, 1, 800), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    compact_all(&tree, &seqno);
    assert_eq!(tree.blob_file_count(), 0, "every old value is overwritten");
    for i in 0..50u32 {
        assert_eq!(
            tree.get(format!("k{i:02}"), seqno.get()).unwrap().unwrap(),
            big(i, 1, 800)
        );
    }
    // Separation off, then a partly stale file: its live values go back inline.
    drop(tree);
    let tree = open(dir.path(), &seqno, Some(kv()));
    for i in 0..50u32 {
        tree.insert(format!("k{i:02}"), big(i, 2, 800), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    drop(tree);
    let tree = open(dir.path(), &seqno, None);
    for i in 0..40u32 {
        tree.insert(format!("k{i:02}"), "small", seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    compact_all(&tree, &seqno);
    assert_eq!(tree.blob_file_count(), 0, "relocated inline");
    for i in 40..50u32 {
        assert_eq!(
            tree.get(format!("k{i:02}"), seqno.get()).unwrap().unwrap(),
            big(i, 2, 800)
        );
    }
}

#[test]
fn a_damaged_blob_file_is_an_error_naming_it_never_a_wrong_value() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir.path(), &seqno, Some(kv()));
    for i in 0..20u32 {
        tree.insert(format!("k{i:02}"), big(i, 0, 1000), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    drop(tree);
    let path = blob_files(dir.path()).remove(0);
    let clean = std::fs::read(&path).unwrap();
    let len = clean.len();
    // Every 97th byte of the records, flipped: each read is the right value or an error.
    for at in (20..len - 40).step_by(97) {
        let mut bytes = clean.clone();
        bytes[at] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();
        let tree = open(dir.path(), &seqno, Some(kv()));
        for i in 0..20u32 {
            match tree.get(format!("k{i:02}"), seqno.get()) {
                Ok(Some(value)) => assert_eq!(value, big(i, 0, 1000), "byte {at}"),
                Ok(None) => panic!("byte {at}: a value went missing"),
                Err(strata::Error::Corruption { file, .. }) => assert_eq!(file, path),
                Err(other) => panic!("byte {at}: {other:?}"),
            }
        }
    }
    // A damaged footer: the open fails and names the file.
    let mut bytes = clean.clone();
    bytes[len - 20] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    match Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default()).open() {
        Err(strata::Error::Corruption { file, .. }) => assert_eq!(file, path),
        other => panic!("{other:?}"),
    }
    std::fs::write(&path, &clean[..len - 1]).unwrap();
    assert!(
        Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default())
            .open()
            .is_err(),
        "a truncated blob file"
    );
}

#[test]
fn orphan_blob_files_go_and_stray_files_stay() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir.path(), &seqno, Some(kv()));
    tree.insert("a", big(0, 0, 1000), seqno.next());
    tree.flush_active_memtable(0).unwrap();
    drop(tree);
    let orphan = dir.path().join("blobs").join("999.blob");
    let stray = dir.path().join("blobs").join("notes.txt");
    std::fs::write(&orphan, b"left by a crash").unwrap();
    std::fs::write(&stray, b"mine").unwrap();
    let tree = open(dir.path(), &seqno, Some(kv()));
    assert!(!orphan.exists(), "no version names it");
    assert!(stray.exists(), "not Strata's");
    assert!(tree.next_table_id() > 999, "its number is never reused");
    assert_eq!(tree.get("a", SeqNo::MAX).unwrap().unwrap(), big(0, 0, 1000));
}

#[test]
fn fifo_counts_blob_bytes_against_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir.path(), &seqno, Some(kv()));
    for round in 0..4u32 {
        for i in 0..50u32 {
            tree.insert(
                format!("r{round}k{i:02}"),
                big(i, round, 4000),
                seqno.next(),
            );
        }
        tree.flush_active_memtable(0).unwrap();
    }
    // Tables alone are a few KiB; with their blob bytes each flush is ~200 KiB.
    let fifo = Arc::new(Fifo::new(450_000, None));
    while tree.compact(fifo.clone(), seqno.get()).unwrap().action != CompactionAction::Nothing {}
    assert!(tree.disk_space() <= 450_000 + 4096, "{}", tree.disk_space());
    assert_eq!(tree.blob_file_count(), tree.table_count());
    assert_eq!(
        tree.get("r0k00", seqno.get()).unwrap(),
        None,
        "the oldest went"
    );
    assert!(tree.get("r3k00", seqno.get()).unwrap().is_some());
}

#[test]
fn ingestion_separates_large_values() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir.path(), &seqno, Some(kv()));
    let mut ingestion = tree.ingestion().unwrap();
    for i in 0..100u32 {
        ingestion.write(format!("k{i:03}"), big(i, 0, 600)).unwrap();
    }
    ingestion.finish().unwrap();
    assert_eq!(tree.blob_file_count(), 1);
    drop(tree);
    let tree = open(dir.path(), &seqno, Some(kv()));
    for i in 0..100u32 {
        assert_eq!(
            tree.get(format!("k{i:03}"), seqno.get()).unwrap().unwrap(),
            big(i, 0, 600)
        );
    }
    let report = strata::verify::verify_integrity(&tree);
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.blob_files_checked, 1);
}

/// `size_of`, `key()`, `size()` and `into_inner_if` with a false predicate read no blob file:
/// with every blob record damaged under an open tree (and no cache), they still answer, while
/// value reads report the damage.
#[test]
fn key_only_reads_and_size_of_read_no_blob_file() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default())
        .with_kv_separation(Some(kv()))
        .use_cache(Arc::new(strata::Cache::with_capacity_bytes(0)))
        .open()
        .unwrap();
    for i in 0..10u32 {
        tree.insert(format!("k{i}"), big(i, 0, 700), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    let path = blob_files(dir.path()).remove(0);
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    // Every record's checksum byte area: flip bytes all through the records.
    for at in (20..len - 40).step_by(7) {
        bytes[at] ^= 0x55;
    }
    std::fs::write(&path, &bytes).unwrap();
    let read = seqno.get();
    assert_eq!(tree.size_of("k3", read).unwrap(), Some(700));
    assert!(tree.contains_key("k3", read).unwrap());
    assert!(!tree.contains_key("k33", read).unwrap());
    let keys: Vec<Slice> = tree.iter(read, None).map(|g| g.key().unwrap()).collect();
    assert_eq!(keys.len(), 10);
    let sizes: Vec<u32> = tree.iter(read, None).map(|g| g.size().unwrap()).collect();
    assert_eq!(sizes, [700; 10]);
    for item in tree.iter(read, None) {
        let (_, value) = item.into_inner_if(|_| false).unwrap();
        assert!(value.is_none());
    }
    assert!(matches!(
        tree.get("k3", read),
        Err(strata::Error::Corruption { .. })
    ));
    let first = tree.first_key_value(read, None).unwrap();
    assert!(
        first.into_inner_if(|_| true).is_err(),
        "the value is read when asked for"
    );
}

#[test]
fn compressed_blob_files_round_trip() {
    #[allow(unused_mut, reason = "the codecs depend on the features")]
    let mut codecs = vec![CompressionType::None];
    #[cfg(feature = "lz4")]
    codecs.push(CompressionType::Lz4);
    #[cfg(feature = "zstd")]
    codecs.push(CompressionType::zstd(3));
    for codec in codecs {
        let dir = tempfile::tempdir().unwrap();
        let seqno = SequenceNumberCounter::default();
        let options = kv().compression(codec);
        let tree = open(dir.path(), &seqno, Some(options.clone()));
        for i in 0..100u32 {
            tree.insert(format!("k{i:03}"), big(i, 0, 3000), seqno.next());
        }
        tree.flush_active_memtable(0).unwrap();
        drop(tree);
        let tree = open(dir.path(), &seqno, Some(options));
        for i in 0..100u32 {
            assert_eq!(
                tree.get(format!("k{i:03}"), seqno.get()).unwrap().unwrap(),
                big(i, 0, 3000),
                "{codec:?}"
            );
        }
        let report = strata::verify::verify_integrity(&tree);
        assert!(report.is_ok(), "{codec:?}: {report:?}");
        if codec != CompressionType::None {
            assert!(
                tree.disk_space() < 100 * 3000 / 2,
                "{codec:?} compresses repetitive values: {}",
                tree.disk_space()
            );
        }
    }
}

#[test]
fn clear_and_drop_range_release_blob_files() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir.path(), &seqno, Some(kv()));
    for i in 0..20u32 {
        tree.insert(format!("a{i:02}"), big(i, 0, 1000), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    for i in 0..20u32 {
        tree.insert(format!("b{i:02}"), big(i, 0, 1000), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    assert_eq!(tree.blob_file_count(), 2);
    let before = seqno.get();
    tree.drop_range("a".."b").unwrap();
    assert_eq!(tree.blob_file_count(), 1);
    assert_eq!(tree.get("a00", seqno.get()).unwrap(), None);
    assert_eq!(
        tree.get("a00", before).unwrap().unwrap(),
        big(0, 0, 1000),
        "a read before the drop still sees the value, from the dropped file"
    );
    tree.clear().unwrap();
    assert_eq!(tree.blob_file_count(), 0);
    tree.major_compact(64 << 20, seqno.get()).unwrap();
    drop(tree);
    assert!(blob_files(dir.path()).is_empty());
    let tree = open(dir.path(), &seqno, Some(kv()));
    assert!(tree.is_empty(SeqNo::MAX, None).unwrap());
}

/// Blob records compressed with the tree's zstd dictionary: the header records its id, and an
/// open with another dictionary or none fails naming both ids.
#[cfg(feature = "zstd")]
#[test]
fn blob_files_compress_with_the_trees_zstd_dictionary() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let sample: Vec<u8> = (0..4000u32)
        .flat_map(|i| {
            format!("{{\"user\":{i},\"status\":\"active\",\"plan\":\"free\"}}").into_bytes()
        })
        .collect();
    let dict = Arc::new(strata::ZstdDictionary::new(&sample[..2048]));
    let options = kv().compression(CompressionType::zstd_dict(3, dict.id()));
    let open_with = |dict: Option<Arc<strata::ZstdDictionary>>| {
        Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default())
            .with_kv_separation(Some(options.clone()))
            .zstd_dictionary(dict)
            .open()
    };
    let tree = open_with(Some(Arc::clone(&dict))).unwrap();
    let value = |i: u32| sample[(i as usize * 40)..(i as usize * 40 + 600)].to_vec();
    for i in 0..50u32 {
        tree.insert(format!("k{i:02}"), value(i), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    drop(tree);
    let tree = open_with(Some(Arc::clone(&dict))).unwrap();
    for i in 0..50u32 {
        assert_eq!(
            tree.get(format!("k{i:02}"), seqno.get()).unwrap().unwrap(),
            value(i)
        );
    }
    assert!(strata::verify::verify_integrity(&tree).is_ok());
    drop(tree);
    match open_with(None) {
        Err(strata::Error::DictionaryMismatch {
            stored, supplied, ..
        }) => {
            assert_eq!((stored, supplied), (dict.id(), None));
        }
        other => panic!("{other:?}"),
    }
}

/// A strategy loop run to its end converges: garbage collection relocates each due file once,
/// and a step that has nothing to relocate is `Nothing`. (A garbage-collection step once ran
/// without its relocation set and rewrote the same table forever.)
#[test]
fn compaction_loops_with_garbage_collection_end() {
    /// Merges level 0's runs into one level-0 run while it has several: old versions drop, so
    /// the first blob file goes stale, and nothing else is ever chosen.
    struct MergeLevel0;
    impl strata::compaction::CompactionStrategy for MergeLevel0 {
        fn name(&self) -> &'static str {
            "merge-level-0"
        }
        fn choose(&self, view: &strata::compaction::TreeView) -> strata::compaction::Choice {
            let level0 = &view.levels()[0];
            if level0.runs.len() < 2 {
                return strata::compaction::Choice::DoNothing;
            }
            strata::compaction::Choice::Merge {
                table_ids: level0.tables().map(|t| t.id).collect(),
                dest_level: 0,
                target_size: 64 << 20,
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir.path(), &seqno, Some(kv()));
    for i in 0..300u32 {
        tree.insert(format!("k{i:05}"), big(i, 0, 4096), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    for i in 0..200u32 {
        tree.insert(format!("k{i:05}"), big(i, 1, 4096), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    let strategy = Arc::new(MergeLevel0);
    let mut steps = 0;
    while tree.compact(strategy.clone(), seqno.get()).unwrap().action != CompactionAction::Nothing {
        steps += 1;
        assert!(steps < 20, "the loop does not end");
    }
    assert!(
        steps >= 2,
        "a merge, then a garbage-collection step: {steps}"
    );
    assert_eq!(tree.stale_blob_bytes(), 0);
    for i in (0..300u32).step_by(7) {
        let round = u32::from(i < 200);
        assert_eq!(
            tree.get(format!("k{i:05}"), seqno.get()).unwrap().unwrap(),
            big(i, round, 4096)
        );
    }
}
