//! The `strata` binary's tools on files compressed with a zstd dictionary
//! (`CompressionType::ZstdDict`): with `--dict FILE` (the dictionary's raw bytes, as
//! `train-dict` writes them) `verify`, `inspect`, `dump-table`, `dump-blob` and the key-value
//! commands read them; without it, or with another dictionary, each fails with one error that
//! names the dictionary id the file needs and points at `--dict`. Tables, blob files (key-value
//! separation) and a database keyspace. Needs the cargo feature `zstd`:
//! `cargo test -p strata-cli --features zstd --test dict_tools`.

#![cfg(feature = "zstd")]
#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    reason = "test code builds trees and reads their files behind the tool's back"
)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{fails, ok, s, snapshot, snapshot_all};
use strata::config::CompressionPolicy;
use strata::{
    CompressionType, Config, Database, KeyspaceCreateOptions, KvSeparationOptions,
    SequenceNumberCounter, ZstdDictionary,
};

/// Keys of the test trees.
const KEYS: u32 = 300;

fn key(i: u32) -> String {
    format!("key{i:03}")
}

/// A JSON-like value, the kind of small value a dictionary helps with; at least `len` bytes.
fn value(i: u32, len: usize) -> String {
    let mut value = format!(
        "{{\"id\":{i},\"name\":\"user{i}\",\"email\":\"user{i}@example.com\",\
         \"status\":\"active\",\"plan\":\"free\""
    );
    while value.len() + 1 < len {
        value.push_str(",\"note\":\"padding\"");
    }
    value.push('}');
    value
}

/// Writes `KEYS` values of at least `len` bytes into the tree at `dir` through `config`
/// and flushes them into one table.
fn fill(config: Config, seqno: &SequenceNumberCounter, len: usize) {
    let tree = config.open().unwrap();
    for i in 0..KEYS {
        tree.insert(key(i), value(i, len), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
}

/// A raw-content dictionary of sample values, written to `path` as `train-dict` writes one.
fn sample_dictionary(path: &Path) -> Arc<ZstdDictionary> {
    let samples: String = (0..20).map(|i| value(i, 0)).collect();
    let dict = Arc::new(ZstdDictionary::new(samples.as_bytes()));
    std::fs::write(path, dict.raw()).unwrap();
    dict
}

/// The single file of `dir` whose name ends in `suffix`.
fn only_file(dir: &Path, suffix: &str) -> PathBuf {
    let files: Vec<PathBuf> = snapshot(dir)
        .into_keys()
        .filter(|p| p.to_str().unwrap().ends_with(suffix))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// Checks that `line`, the error of a tool run without `--dict`, names `id` and `--dict`.
fn asks_for(line: &str, id: u32) {
    assert!(line.contains(&format!("zstd dictionary {id}")), "{line}");
    assert!(line.contains("--dict FILE"), "{line}");
}

/// A tree in `tmp` whose tables (data and index blocks) are compressed with a dictionary
/// that `train-dict` trained on a plain tree of the same values; returns the tree's directory,
/// the dictionary's file (as `train-dict` wrote it) and its id.
fn trained_tree(tmp: &Path) -> (PathBuf, PathBuf, u32) {
    // A plain tree to train on, through `train-dict`: its file is what `--dict` reads.
    let plain = tmp.join("plain");
    let seqno = SequenceNumberCounter::default();
    fill(
        Config::new(&plain, seqno.clone(), SequenceNumberCounter::default()),
        &seqno,
        0,
    );
    let dict_file = tmp.join("users.dict");
    let trained = ok(&[
        "train-dict",
        s(&plain),
        "--out",
        s(&dict_file),
        "--size",
        "4096",
    ]);
    let dict = Arc::new(ZstdDictionary::new(&std::fs::read(&dict_file).unwrap()));
    let id = dict.id();
    assert!(
        trained.starts_with(&format!("dictionary {id} ")),
        "{trained}"
    );

    let dir = tmp.join("tree");
    let zstd = CompressionType::zstd_dict(3, id);
    let seqno = SequenceNumberCounter::default();
    fill(
        Config::new(&dir, seqno.clone(), SequenceNumberCounter::default())
            .zstd_dictionary(Some(Arc::clone(&dict)))
            .data_block_compression_policy(CompressionPolicy::all(zstd))
            .index_block_compression_policy(CompressionPolicy::all(zstd)),
        &seqno,
        0,
    );
    (dir, dict_file, id)
}

#[test]
fn read_only_tools_read_tables_with_dict_and_name_the_dictionary_without() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, dict_file, id) = trained_tree(tmp.path());
    let table = only_file(&dir.join("tables"), ".sst");
    let before = snapshot(&dir);

    // Without --dict: one error naming the dictionary the files need.
    let (out, line) = fails(&["verify", s(&dir)]);
    asks_for(&line, id);
    let unreadable: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("unreadable: "))
        .collect();
    assert_eq!(unreadable.len(), 1, "{out}");
    assert!(unreadable[0].contains(s(&table)), "{out}");
    asks_for(unreadable[0], id);
    assert!(
        !out.contains("damage"),
        "a missing dictionary is no damage: {out}"
    );
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("incomplete: 1 file not checked") && last.contains("0 tables"),
        "{out}"
    );
    assert!(line.contains("1 file not checked: it needs"), "{line}");
    for args in [vec!["dump-table", s(&table)], vec!["inspect", s(&dir)]] {
        let (_, line) = fails(&args);
        assert!(line.contains(s(&table)), "{line}");
        asks_for(&line, id);
    }

    // With --dict: everything reads.
    let verified = ok(&["verify", s(&dir), "--dict", s(&dict_file)]);
    assert!(verified.starts_with("clean: "), "{verified}");
    let dumped = ok(&["dump-table", s(&table), "--dict", s(&dict_file)]);
    assert!(
        dumped.contains(
            "data zstd with the table's dictionary, index zstd with the table's dictionary"
        ),
        "{dumped}"
    );
    assert!(
        dumped
            .lines()
            .any(|l| l.starts_with("  zstd dictionary") && l.ends_with(&format!(" {id}"))),
        "{dumped}"
    );
    assert!(
        dumped.contains(&format!("{}\t1\tvalue\t{}\n", key(1), value(1, 0))),
        "{dumped}"
    );
    let inspected = ok(&["inspect", s(&dir), "--dict", s(&dict_file)]);
    assert!(
        inspected.contains(&format!("live data   {KEYS} keys")),
        "{inspected}"
    );
    assert_eq!(
        snapshot(&dir),
        before,
        "the read-only tools changed the tree"
    );

    // Another dictionary: both ids named.
    let other_file = tmp.path().join("other.dict");
    let other = sample_dictionary(&other_file);
    let (_, line) = fails(&["dump-table", s(&table), "--dict", s(&other_file)]);
    assert!(
        line.contains(&format!("needs zstd dictionary {id}"))
            && line.contains(&format!("--dict file is dictionary {}", other.id())),
        "{line}"
    );
    let (_, line) = fails(&["verify", s(&dir), "--dict", s(&other_file)]);
    assert!(
        line.contains(&format!("dictionary {id}")) && line.contains(&other.id().to_string()),
        "{line}"
    );
    let missing = tmp.path().join("missing.dict");
    let (_, line) = fails(&["verify", s(&dir), "--dict", s(&missing)]);
    assert!(line.contains("cannot read the dictionary"), "{line}");
}

#[test]
fn key_value_commands_and_train_dict_open_the_tree_with_dict() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, dict_file, id) = trained_tree(tmp.path());
    let (_, line) = fails(&["scan", s(&dir)]);
    asks_for(&line, id);
    let scanned = ok(&["scan", s(&dir), "--dict", s(&dict_file)]);
    assert_eq!(scanned.lines().count(), KEYS as usize);
    assert_eq!(
        scanned.lines().next().unwrap(),
        format!("{}\t{}", key(0), value(0, 0))
    );
    let got = ok(&["get", s(&dir), &key(7), "--dict", s(&dict_file)]);
    assert_eq!(got, format!("{}\t{}\n", key(7), value(7, 0)));
    let prefixed = ok(&["prefix", s(&dir), "key01", "--dict", s(&dict_file)]);
    assert_eq!(prefixed.lines().count(), 10);
    // train-dict reads the tree through the dictionary it is compressed with.
    let retrained = tmp.path().join("retrained.dict");
    let (_, line) = fails(&["train-dict", s(&dir), "--out", s(&retrained)]);
    asks_for(&line, id);
    ok(&[
        "train-dict",
        s(&dir),
        "--out",
        s(&retrained),
        "--size",
        "4096",
        "--dict",
        s(&dict_file),
    ]);
}

#[test]
fn blob_files_compressed_with_a_dictionary_are_read_with_dict_and_refused_without() {
    let tmp = tempfile::tempdir().unwrap();
    let dict_file = tmp.path().join("blobs.dict");
    let dict = sample_dictionary(&dict_file);
    let id = dict.id();
    let dir = tmp.path().join("tree");
    let seqno = SequenceNumberCounter::default();
    // Only the blob records use the dictionary: the tables name none and read without it.
    fill(
        Config::new(&dir, seqno.clone(), SequenceNumberCounter::default())
            .zstd_dictionary(Some(Arc::clone(&dict)))
            .with_kv_separation(Some(
                KvSeparationOptions::default()
                    .separation_threshold(100)
                    .compression(CompressionType::zstd_dict(3, id)),
            )),
        &seqno,
        200,
    );
    let blob = only_file(&dir.join("blobs"), ".blob");
    let table = only_file(&dir.join("tables"), ".sst");
    let before = snapshot(&dir);

    let (out, line) = fails(&["dump-blob", s(&blob)]);
    assert!(line.contains(s(&blob)), "{line}");
    asks_for(&line, id);
    assert!(!out.contains("total"), "{out}");
    let (out, line) = fails(&["verify", s(&dir)]);
    asks_for(&line, id);
    assert!(
        out.lines()
            .any(|l| l.starts_with("unreadable: ") && l.contains(s(&blob))),
        "{out}"
    );
    let (_, line) = fails(&["inspect", s(&dir)]);
    asks_for(&line, id);
    // The table holds blob pointers only, compressed without the dictionary.
    ok(&["dump-table", s(&table)]);

    let dumped = ok(&["dump-blob", s(&blob), "--dict", s(&dict_file)]);
    assert!(
        dumped.contains(&format!("\t{}\t", key(5))),
        "the records' keys: {dumped}"
    );
    assert!(
        dumped
            .lines()
            .last()
            .unwrap()
            .starts_with(&format!("total       {KEYS} records, ")),
        "{dumped}"
    );
    let verified = ok(&["verify", s(&dir), "--dict", s(&dict_file)]);
    assert!(
        verified.starts_with("clean: ") && verified.contains("1 blob file"),
        "{verified}"
    );
    let inspected = ok(&["inspect", s(&dir), "--dict", s(&dict_file)]);
    assert!(
        inspected.contains(&format!("live data   {KEYS} keys")),
        "the values read from the blob file: {inspected}"
    );
    assert_eq!(
        snapshot(&dir),
        before,
        "the read-only tools changed the tree"
    );

    let (_, line) = fails(&["get", s(&dir), &key(9)]);
    asks_for(&line, id);
    let got = ok(&["get", s(&dir), &key(9), "--dict", s(&dict_file)]);
    assert_eq!(got, format!("{}\t{}\n", key(9), value(9, 200)));
}

#[test]
fn a_database_keyspace_compressed_with_a_dictionary_is_read_with_dict() {
    let tmp = tempfile::tempdir().unwrap();
    let dict_file = tmp.path().join("db.dict");
    let dict = sample_dictionary(&dict_file);
    let id = dict.id();
    let dir = tmp.path().join("db");
    {
        let db = Database::builder(&dir).open().unwrap();
        let users = db
            .keyspace("users", || {
                KeyspaceCreateOptions::default()
                    .zstd_dictionary(Some(Arc::clone(&dict)))
                    .data_block_compression_policy(CompressionPolicy::all(
                        CompressionType::zstd_dict(3, id),
                    ))
            })
            .unwrap();
        for i in 0..KEYS {
            users.insert(key(i), value(i, 0)).unwrap();
        }
        strata::internals::settle_keyspace(&users).unwrap();
    }
    let before = snapshot_all(&dir);

    let (out, line) = fails(&["verify", s(&dir)]);
    asks_for(&line, id);
    assert!(out.contains("unreadable: "), "{out}");
    let (_, line) = fails(&["inspect", s(&dir)]);
    asks_for(&line, id);
    let verified = ok(&["verify", s(&dir), "--dict", s(&dict_file)]);
    assert!(verified.starts_with("clean: "), "{verified}");
    ok(&["inspect", s(&dir), "--dict", s(&dict_file)]);
    assert_eq!(
        snapshot_all(&dir),
        before,
        "the read-only tools changed the folder"
    );

    let (_, line) = fails(&["scan", s(&dir), "--keyspace", "users"]);
    asks_for(&line, id);
    let scanned = ok(&[
        "scan",
        s(&dir),
        "--keyspace",
        "users",
        "--dict",
        s(&dict_file),
    ]);
    assert_eq!(scanned.lines().count(), KEYS as usize);
    let got = ok(&[
        "get",
        s(&dir),
        &key(3),
        "--keyspace",
        "users",
        "--dict",
        s(&dict_file),
    ]);
    assert_eq!(got, format!("{}\t{}\n", key(3), value(3, 0)));
}
