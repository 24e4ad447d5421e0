//! Encryption at rest (`Config::with_encryption`): every table block and blob record goes to disk
//! encrypted, reads come back exact across flushes, compactions and reopens, and every misuse (no
//! provider, another key, a failing provider) is an error, never a panic or wrong data.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::cast_possible_truncation,
    reason = "test code; the files are searched for plaintext behind the engine's back"
)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use strata::compaction::Leveled;
use strata::{
    CompressionType, Config, EncryptionProvider, Error, KvSeparationOptions, SequenceNumberCounter,
    Tree,
};

/// A test provider: each byte XORed with a keystream of `key`, then a tag byte (`key`) that
/// `decrypt` checks, so another key is refused. Not a cipher; it only has to hide the markers
/// from a byte search and to fail on a wrong key.
struct Toy {
    key: u8,
    fail_encrypt: AtomicBool,
    overhead_lie: bool,
}

impl Toy {
    fn new(key: u8) -> Arc<Self> {
        Arc::new(Self {
            key,
            fail_encrypt: AtomicBool::new(false),
            overhead_lie: false,
        })
    }

    fn stream(&self, i: usize) -> u8 {
        self.key ^ (i as u8).wrapping_mul(31)
    }
}

impl EncryptionProvider for Toy {
    fn encrypt(&self, plaintext: &[u8]) -> strata::Result<Vec<u8>> {
        if self.fail_encrypt.load(Ordering::Relaxed) {
            return Err(Error::Encrypt("toy provider told to fail"));
        }
        let mut out: Vec<u8> = plaintext
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ self.stream(i))
            .collect();
        out.push(self.key);
        if self.overhead_lie {
            out.extend_from_slice(&[0; 8]);
        }
        Ok(out)
    }

    fn max_overhead(&self) -> u32 {
        1
    }

    fn decrypt(&self, ciphertext: &[u8]) -> strata::Result<Vec<u8>> {
        match ciphertext.split_last() {
            Some((&tag, body)) if tag == self.key => Ok(body
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ self.stream(i))
                .collect()),
            _ => Err(Error::Decrypt("toy provider: wrong key")),
        }
    }
}

const KEY_MARK: &str = "keymarkerQZX";
const VALUE_MARK: &str = "valuemarkerJQV";

fn open(
    dir: &Path,
    provider: Option<Arc<Toy>>,
    blobs: bool,
) -> strata::Result<(Tree, SequenceNumberCounter)> {
    let seqno = SequenceNumberCounter::default();
    let mut config = Config::new(dir, seqno.clone(), SequenceNumberCounter::default())
        .with_encryption(provider.map(|p| p as Arc<dyn EncryptionProvider>));
    if blobs {
        config = config.with_kv_separation(Some(
            KvSeparationOptions::default()
                .separation_threshold(64)
                .compression(CompressionType::None),
        ));
    }
    Ok((config.open()?, seqno))
}

fn key(i: u32) -> String {
    format!("{KEY_MARK}{i:05}")
}

fn value(i: u32, long: bool) -> String {
    let pad = if long { 200 } else { 4 };
    format!("{VALUE_MARK}{i:05}{}", "x".repeat(pad))
}

/// Writes 500 keys in two flushes (plus a tombstone), so that tables, a compaction and blob
/// files all exist.
fn fill(tree: &Tree, seqno: &SequenceNumberCounter, long: bool) -> strata::Result<()> {
    for i in 0..250 {
        tree.insert(key(i), value(i, long), seqno.next());
    }
    tree.flush_active_memtable(0)?;
    for i in 250..500 {
        tree.insert(key(i), value(i, long), seqno.next());
    }
    tree.remove(key(7), seqno.next());
    tree.flush_active_memtable(0)?;
    Ok(())
}

fn check(tree: &Tree, seqno: &SequenceNumberCounter, long: bool) -> strata::Result<()> {
    let at = seqno.get();
    for i in 0..500 {
        let expected = (i != 7).then(|| value(i, long));
        let got = tree.get(key(i), at)?;
        assert_eq!(
            got.as_deref(),
            expected.as_deref().map(str::as_bytes),
            "key {i}"
        );
    }
    assert_eq!(tree.len(at, None)?, 499);
    Ok(())
}

/// Whether any file under `dir` contains `needle`.
fn files_contain(dir: &Path, needle: &[u8]) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else {
            let bytes = std::fs::read(&path).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                return true;
            }
        }
    }
    false
}

#[test]
fn plaintext_files_hold_the_markers_and_encrypted_ones_do_not() -> strata::Result<()> {
    // The control: without a provider the markers are on disk, so the search can find them.
    let plain = tempfile::tempdir().unwrap();
    {
        let (tree, seqno) = open(plain.path(), None, true)?;
        fill(&tree, &seqno, true)?;
    }
    assert!(files_contain(plain.path(), VALUE_MARK.as_bytes()));
    assert!(files_contain(plain.path(), KEY_MARK.as_bytes()));

    let dir = tempfile::tempdir().unwrap();
    {
        let (tree, seqno) = open(dir.path(), Some(Toy::new(0x5c)), true)?;
        fill(&tree, &seqno, true)?;
        assert!(tree.blob_file_count() > 0, "values went to blob files");
        tree.major_compact(64 << 20, seqno.get())?;
        check(&tree, &seqno, true)?;
        let report = strata::verify::verify_integrity(&tree);
        assert!(report.is_ok(), "{:?}", report.errors);
    }
    // Values (tables and blob files) never reach the disk in plaintext. Keys stay in the
    // manifest (each table's smallest and largest key), as the module documentation says, so
    // only the table and blob files are searched for them.
    assert!(!files_contain(dir.path(), VALUE_MARK.as_bytes()));
    assert!(!files_contain(
        &dir.path().join("tables"),
        KEY_MARK.as_bytes()
    ));
    assert!(!files_contain(
        &dir.path().join("blobs"),
        KEY_MARK.as_bytes()
    ));

    let (tree, seqno) = open(dir.path(), Some(Toy::new(0x5c)), true)?;
    seqno.fetch_max(tree.get_highest_seqno().map_or(0, |s| s + 1));
    check(&tree, &seqno, true)
}

#[test]
fn an_encrypted_tree_opened_without_its_key_is_an_error() -> strata::Result<()> {
    let dir = tempfile::tempdir().unwrap();
    {
        let (tree, seqno) = open(dir.path(), Some(Toy::new(0x21)), false)?;
        fill(&tree, &seqno, false)?;
    }
    match open(dir.path(), None, false) {
        Err(Error::Decrypt(_)) => {}
        other => panic!("no provider: {:?}", other.map(|_| ())),
    }
    match open(dir.path(), Some(Toy::new(0x22)), false) {
        Err(Error::Decrypt(what)) => assert_eq!(what, "toy provider: wrong key"),
        other => panic!("wrong key: {:?}", other.map(|_| ())),
    }
    // The right key still reads everything: the failed opens changed nothing.
    let (tree, seqno) = open(dir.path(), Some(Toy::new(0x21)), false)?;
    seqno.fetch_max(tree.get_highest_seqno().map_or(0, |s| s + 1));
    check(&tree, &seqno, false)
}

#[test]
fn plaintext_tables_stay_readable_and_compaction_encrypts_them() -> strata::Result<()> {
    let dir = tempfile::tempdir().unwrap();
    {
        let (tree, seqno) = open(dir.path(), None, false)?;
        fill(&tree, &seqno, false)?;
    }
    assert!(files_contain(
        &dir.path().join("tables"),
        VALUE_MARK.as_bytes()
    ));
    let (tree, seqno) = open(dir.path(), Some(Toy::new(0x33)), false)?;
    seqno.fetch_max(tree.get_highest_seqno().map_or(0, |s| s + 1));
    check(&tree, &seqno, false)?;
    tree.compact(Arc::new(Leveled::default()), seqno.get())?;
    tree.major_compact(64 << 20, seqno.get())?;
    check(&tree, &seqno, false)?;
    drop(tree);
    assert!(!files_contain(
        &dir.path().join("tables"),
        VALUE_MARK.as_bytes()
    ));
    let (tree, seqno) = open(dir.path(), Some(Toy::new(0x33)), false)?;
    seqno.fetch_max(tree.get_highest_seqno().map_or(0, |s| s + 1));
    check(&tree, &seqno, false)
}

#[test]
fn a_failing_provider_fails_the_flush_and_loses_nothing() -> strata::Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let provider = Toy::new(0x44);
    let (tree, seqno) = open(dir.path(), Some(Arc::clone(&provider)), false)?;
    tree.insert("a", "1", seqno.next());
    provider.fail_encrypt.store(true, Ordering::Relaxed);
    match tree.flush_active_memtable(0) {
        Err(Error::Encrypt(what)) => assert_eq!(what, "toy provider told to fail"),
        other => panic!("flush with a failing provider: {other:?}"),
    }
    // The write is still readable from memory, and nothing half-written is visible.
    assert_eq!(tree.get("a", seqno.get())?, Some("1".into()));
    assert_eq!(tree.table_count(), 0);
    Ok(())
}

#[test]
fn a_provider_past_its_max_overhead_is_refused() -> strata::Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let provider = Arc::new(Toy {
        key: 1,
        fail_encrypt: AtomicBool::new(false),
        overhead_lie: true,
    });
    let (tree, seqno) = open(dir.path(), Some(provider), false)?;
    tree.insert("a", "1", seqno.next());
    assert!(matches!(
        tree.flush_active_memtable(0),
        Err(Error::Encrypt(_))
    ));
    assert_eq!(tree.get("a", seqno.get())?, Some("1".into()));
    Ok(())
}
