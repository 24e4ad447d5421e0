//! zstd block compression through a whole tree (cargo feature `zstd`): every level and a
//! dictionary survive flush, compaction and reopen with the same contents, the tables really are
//! compressed, and a table whose dictionary is missing or another fails to open with an error
//! naming both ids.

#![cfg(feature = "zstd")]
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    reason = "test code: a failed unwrap or index is a failed test; ratios of small sizes"
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use strata::compression::train_dictionary;
use strata::config::{BlockSizePolicy, CompressionPolicy};
use strata::{CompressionType, Config, Error, SequenceNumberCounter, Tree, ZstdDictionary};

/// A JSON-like value of 100-300 bytes.
fn value(i: u32) -> Vec<u8> {
    let tags = ["red", "green", "blue", "amber"];
    format!(
        "{{\"id\":{i},\"user\":\"user{}\",\"email\":\"user{}@example.com\",\"plan\":\"{}\",\
         \"tags\":[\"{}\",\"{}\"],\"active\":{},\"score\":{}}}",
        i * 7919 % 10_007,
        i % 613,
        if i.is_multiple_of(3) { "free" } else { "pro" },
        tags[(i % 4) as usize],
        tags[(i / 4 % 4) as usize],
        i.is_multiple_of(2),
        i * 31 % 1000
    )
    .into_bytes()
}

fn config(dir: &Path, compression: CompressionType, dict: Option<&Arc<ZstdDictionary>>) -> Config {
    Config::new(
        dir,
        SequenceNumberCounter::default(),
        SequenceNumberCounter::default(),
    )
    .data_block_size_policy(BlockSizePolicy::all(1024))
    .data_block_compression_policy(CompressionPolicy::all(compression))
    .index_block_compression_policy(CompressionPolicy::all(compression))
    .zstd_dictionary(dict.cloned())
}

/// Two flushes (the second overwrites and deletes), a major compaction; returns the model.
fn fill(tree: &Tree) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut model = BTreeMap::new();
    let mut seqno = 0;
    for i in 0..400u32 {
        let key = format!("key{i:05}").into_bytes();
        tree.insert(key.clone(), value(i), seqno);
        model.insert(key, value(i));
        seqno += 1;
    }
    tree.flush_active_memtable(0).unwrap();
    for i in (0..400u32).step_by(3) {
        let key = format!("key{i:05}").into_bytes();
        if i % 2 == 0 {
            tree.remove(key.clone(), seqno);
            model.remove(&key);
        } else {
            tree.insert(key.clone(), value(i + 1000), seqno);
            model.insert(key, value(i + 1000));
        }
        seqno += 1;
    }
    tree.flush_active_memtable(0).unwrap();
    tree.major_compact(64 << 20, seqno).unwrap();
    model
}

fn assert_holds(tree: &Tree, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
    assert_eq!(common::contents(tree, strata::MAX_SEQNO), *model);
    for (key, value) in model.iter().step_by(17) {
        assert_eq!(
            tree.get(key, strata::MAX_SEQNO).unwrap().as_deref(),
            Some(&value[..])
        );
    }
    let report = strata::verify::verify_integrity(tree);
    assert!(report.is_ok(), "{:?}", report.errors);
}

/// The raw bytes of the tree's entries against its tables' size.
fn ratio(tree: &Tree, model: &BTreeMap<Vec<u8>, Vec<u8>>) -> f64 {
    let raw: usize = model.iter().map(|(k, v)| k.len() + v.len()).sum();
    raw as f64 / tree.disk_space() as f64
}

#[test]
fn every_level_round_trips_through_flush_compaction_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let plain = {
        let tree = config(dir.path(), CompressionType::None, None)
            .open()
            .unwrap();
        let model = fill(&tree);
        ratio(&tree, &model)
    };
    for level in 1..=22 {
        let dir = tempfile::tempdir().unwrap();
        let compression = CompressionType::zstd(level);
        let tree = config(dir.path(), compression, None).open().unwrap();
        let model = fill(&tree);
        assert_holds(&tree, &model);
        assert!(
            ratio(&tree, &model) > plain * 1.5,
            "level {level}: {} vs {plain}",
            ratio(&tree, &model)
        );
        drop(tree);
        // The level is a writer's choice: a reopen under another compression reads the same.
        let tree = config(dir.path(), CompressionType::None, None)
            .open()
            .unwrap();
        assert_holds(&tree, &model);
    }
}

#[test]
fn a_dictionary_round_trips_and_compresses_better_than_none() {
    let samples: Vec<Vec<u8>> = (5000..6000).map(value).collect();
    let dict = Arc::new(train_dictionary(&samples, 4096).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let with_dict = CompressionType::zstd_dict(3, dict.id());
    let tree = config(dir.path(), with_dict, Some(&dict)).open().unwrap();
    let model = fill(&tree);
    assert_holds(&tree, &model);
    let dict_ratio = ratio(&tree, &model);
    drop(tree);
    let tree = config(dir.path(), CompressionType::zstd(3), Some(&dict))
        .open()
        .unwrap();
    assert_holds(&tree, &model);
    drop(tree);

    let plain_dir = tempfile::tempdir().unwrap();
    let tree = config(plain_dir.path(), CompressionType::zstd(3), None)
        .open()
        .unwrap();
    let plain_ratio = ratio(&tree, &fill(&tree));
    assert!(
        dict_ratio > plain_ratio,
        "dictionary {dict_ratio} vs plain {plain_ratio}"
    );
}

#[test]
fn a_table_with_another_or_no_dictionary_fails_to_open_naming_both_ids() {
    let dict = Arc::new(ZstdDictionary::new(&value(1).repeat(8)));
    let other = Arc::new(ZstdDictionary::new(&value(2).repeat(8)));
    let dir = tempfile::tempdir().unwrap();
    let compression = CompressionType::zstd_dict(5, dict.id());
    let tree = config(dir.path(), compression, Some(&dict)).open().unwrap();
    fill(&tree);
    drop(tree);

    match config(dir.path(), CompressionType::None, Some(&other)).open() {
        Err(Error::DictionaryMismatch {
            stored, supplied, ..
        }) => {
            assert_eq!((stored, supplied), (dict.id(), Some(other.id())));
        }
        other => panic!("expected a dictionary mismatch, got {other:?}"),
    }
    let err = config(dir.path(), CompressionType::None, None)
        .open()
        .unwrap_err();
    assert!(
        matches!(err, Error::DictionaryMismatch { supplied: None, stored, .. } if stored == dict.id()),
        "{err}"
    );
    assert!(err.to_string().contains(&dict.id().to_string()), "{err}");

    // A policy naming a dictionary other than the configured one is refused up front.
    let err = config(dir.path(), compression, Some(&other))
        .open()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&dict.id().to_string()) && text.contains(&other.id().to_string()),
        "{text}"
    );
}

/// A `Database` keyspace compressed with a zstd dictionary, killed with writes in its WAL after
/// its first table: the database's open cannot flush those writes without the application's
/// dictionary, so it leaves them for the keyspace's open (before the options were persisted, it
/// flushed them with the default options, and a keyspace with a dictionary table made the whole
/// database fail to open). The keyspace's open with the dictionary reads every write; the
/// level and dictionary of the compression persisted at creation are what its tables use.
#[test]
fn a_database_keyspace_with_a_dictionary_recovers_its_log_at_its_own_open() {
    use strata::fs::{CrashMode, MemFs};
    use strata::{Database, KeyspaceCreateOptions, PersistMode};

    let samples: Vec<Vec<u8>> = (0..2000).map(value).collect();
    let dict = Arc::new(train_dictionary(&samples, 4096).unwrap());
    let options = || {
        KeyspaceCreateOptions::default()
            .max_memtable_size(32 << 10)
            .zstd_dictionary(Some(Arc::clone(&dict)))
            .data_block_compression_policy(CompressionPolicy::all(CompressionType::zstd_dict(
                9,
                dict.id(),
            )))
    };
    let fs = MemFs::new();
    let open = || {
        Database::builder("/db")
            .fs(Arc::new(fs.clone()))
            .worker_threads(1)
            .open()
            .unwrap()
    };
    {
        let db = open();
        let ks = db.keyspace("docs", options).unwrap();
        for i in 0..400u32 {
            ks.insert(format!("d{i:04}"), value(i)).unwrap();
        }
        let started = std::time::Instant::now();
        while ks.table_count() == 0 {
            assert!(started.elapsed().as_secs() < 20, "no flush");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for i in 400..500u32 {
            ks.insert(format!("d{i:04}"), value(i)).unwrap();
        }
        db.persist(PersistMode::SyncAll).unwrap();
        fs.crash_at(0);
        drop((ks, db));
        fs.crash(CrashMode::DropUnsynced, 7);
        fs.disarm();
    }
    let db = open();
    let ks = db.keyspace("docs", options).unwrap();
    assert_eq!(ks.len().unwrap(), 500);
    assert_eq!(ks.get("d0499").unwrap().as_deref(), Some(&value(499)[..]));
    ks.major_compact().unwrap();
    assert_eq!(ks.get("d0000").unwrap().as_deref(), Some(&value(0)[..]));
    drop((ks, db));
    // Without the dictionary the keyspace does not open: its persisted policy names it.
    let db = open();
    match db.keyspace("docs", KeyspaceCreateOptions::default) {
        Err(Error::DictionaryMismatch {
            stored,
            supplied: None,
            ..
        }) => assert_eq!(stored, dict.id()),
        other => panic!("expected DictionaryMismatch, got {:?}", other.map(|_| ())),
    }
}
