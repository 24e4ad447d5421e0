//! WAL damage under `strata::Database` (RELIABILITY.md suite 4, issue 15 "Tests").
//!
//! A database on `MemFs` logs batches over two keyspaces into a WAL of three segments (a tiny
//! `journal_segment_size`; big memtables, so every write is only in the WAL), and is closed.
//! Then, each case on a fresh copy of its files:
//! - every bit of every byte of each segment is flipped, one at a time: the open must fail with
//!   `Error::Corruption` naming that segment (a flipped bit in a complete record is never a torn
//!   write: `crate::record`'s invariants), never open, never panic;
//! - each segment is cut at every offset, and cut and zero-filled back to its length (what a
//!   power loss leaves of unsynced appends): the open must succeed with the contents after a prefix
//!   of the batches, every batch before the cut kept (a cut in a segment before the last is a
//!   tail that was never synced: recovery keeps that segment's records and drops the later
//!   segments, `wal.rs`), and a second open must agree.
//!
//! Every case prints into one summary line of counts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata::fs::{Fs, MemFs};
use strata::{Database, Error, Guard, KeyspaceCreateOptions};

type State = BTreeMap<String, String>;
type States = [State; 2];

const NAMES: [&str; 2] = ["a", "b"];
const SEGMENT: u64 = 512;

/// The files of a file system: directories (in creation order) and each file's bytes.
#[derive(Clone)]
struct Image {
    dirs: Vec<PathBuf>,
    files: BTreeMap<PathBuf, Vec<u8>>,
}

fn snapshot(fs: &MemFs) -> Image {
    fn walk(fs: &MemFs, dir: &Path, image: &mut Image) {
        image.dirs.push(dir.to_path_buf());
        for entry in fs.list(dir).unwrap() {
            if let Ok(file) = fs.open(&entry) {
                let mut bytes = vec![0u8; file.size_bytes().unwrap() as usize];
                file.read_exact_at(&mut bytes, 0).unwrap();
                image.files.insert(entry, bytes);
            } else {
                walk(fs, &entry, image);
            }
        }
    }
    let mut image = Image {
        dirs: Vec::new(),
        files: BTreeMap::new(),
    };
    walk(fs, Path::new("/db"), &mut image);
    image
}

fn restore(image: &Image) -> MemFs {
    let fs = MemFs::new();
    for dir in &image.dirs {
        fs.create_dir(dir).unwrap();
    }
    for (path, bytes) in &image.files {
        let mut file = fs.create(path).unwrap();
        file.append(bytes).unwrap();
        file.sync().unwrap();
    }
    for dir in &image.dirs {
        fs.sync_dir(dir).unwrap();
    }
    fs
}

fn open(fs: &MemFs) -> strata::Result<Database> {
    Database::builder("/db")
        .fs(Arc::new(fs.clone()))
        .worker_threads(1)
        .journal_segment_size(SEGMENT)
        .open()
}

fn read_all(db: &Database) -> strata::Result<States> {
    let mut states = States::default();
    for (i, name) in NAMES.iter().enumerate() {
        let ks = db.keyspace(name, KeyspaceCreateOptions::default)?;
        for guard in ks.iter() {
            let (k, v) = guard.into_inner()?;
            states[i].insert(
                String::from_utf8(k.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            );
        }
    }
    Ok(states)
}

/// The database image, the model after each batch (`states[0]` empty), and the segment paths in
/// id order (those with records; a spare the worker created ahead is not among them).
fn build() -> (Image, Vec<States>, Vec<PathBuf>) {
    let fs = MemFs::new();
    let db = open(&fs).unwrap();
    let handles: Vec<_> = NAMES
        .iter()
        .map(|n| db.keyspace(n, KeyspaceCreateOptions::default).unwrap())
        .collect();
    let mut states = vec![States::default()];
    let mut i = 0u32;
    // Until the third segment holds a few batches.
    while db.journal_count() < 3 || !i.is_multiple_of(4) {
        let mut next = states.last().unwrap().clone();
        let mut batch = db.batch();
        for j in 0..=i % 3 {
            let ks = ((i + j) % 2) as usize;
            let key = format!("k{:02}", (i * 7 + j * 3) % 29);
            if (i + j) % 5 == 4 {
                batch.remove(&handles[ks], key.clone());
                next[ks].remove(&key);
            } else {
                let value = format!("v{i}-{j}");
                batch.insert(&handles[ks], key.clone(), value.clone());
                next[ks].insert(key, value);
            }
        }
        batch.commit().unwrap();
        states.push(next);
        i += 1;
    }
    assert_eq!(db.journal_count(), 3);
    drop(handles);
    drop(db);
    let image = snapshot(&fs);
    let mut segments: Vec<PathBuf> = image
        .files
        .iter()
        .filter(|(p, bytes)| p.starts_with("/db/wal") && !bytes.is_empty())
        .map(|(p, _)| p.clone())
        .collect();
    segments.sort();
    assert_eq!(segments.len(), 3, "{segments:?}");
    (image, states, segments)
}

/// What opening a damaged copy gave.
enum Opened {
    Corruption(PathBuf),
    /// Contents that are those after some prefix of the batches.
    Prefix(States),
}

/// Opens `image` (twice, if the first open succeeds); `Err` for anything but corruption or a
/// prefix of the batches.
fn open_damaged(image: &Image, states: &[States]) -> Result<Opened, String> {
    let fs = restore(image);
    let found = match open(&fs) {
        Err(Error::Corruption { file, .. }) => return Ok(Opened::Corruption(file)),
        Err(e) => return Err(format!("open: {e}")),
        Ok(db) => {
            let got = read_all(&db).map_err(|e| format!("read: {e}"))?;
            drop(db);
            if !states.contains(&got) {
                return Err("the contents are not those after any prefix of the batches".into());
            }
            let db = open(&fs).map_err(|e| format!("second open: {e}"))?;
            let again = read_all(&db).map_err(|e| format!("second read: {e}"))?;
            if again != got {
                return Err("the second open differs".to_string());
            }
            got
        }
    };
    Ok(Opened::Prefix(found))
}

/// The number of batches recorded in `bytes` before `cut` (records are whole batches after the
/// header; the framing is `crate::record`'s: 18 header bytes, payload, 1 trailer byte).
fn batches_before(bytes: &[u8], cut: usize) -> usize {
    let mut pos = 0;
    let mut records = 0usize;
    while pos + 18 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos + 2..pos + 6].try_into().unwrap()) as usize;
        let end = pos + 18 + len + 1;
        if end > cut {
            break;
        }
        records += 1;
        pos = end;
    }
    records.saturating_sub(1)
}

#[test]
fn every_bit_flip_in_a_three_segment_wal_is_corruption_naming_the_segment() {
    let (image, states, segments) = build();
    let started = std::time::Instant::now();
    let mut flips = 0u64;
    let mut failures = Vec::new();
    for segment in &segments {
        let clean = image.files[segment].clone();
        for at in 0..clean.len() {
            for bit in 0..8 {
                flips += 1;
                let mut damaged = image.clone();
                damaged.files.get_mut(segment).unwrap()[at] ^= 1 << bit;
                match open_damaged(&damaged, &states) {
                    Ok(Opened::Corruption(file)) if file == *segment => {}
                    Ok(Opened::Corruption(file)) => failures.push(format!(
                        "{} byte {at} bit {bit}: corruption names {}",
                        segment.display(),
                        file.display()
                    )),
                    Ok(Opened::Prefix(_)) => failures.push(format!(
                        "{} byte {at} bit {bit}: opened, with the contents of a prefix",
                        segment.display(),
                    )),
                    Err(e) => {
                        failures.push(format!("{} byte {at} bit {bit}: {e}", segment.display()));
                    }
                }
            }
        }
    }
    let sizes: Vec<usize> = segments.iter().map(|s| image.files[s].len()).collect();
    println!(
        "db wal bit flips: {flips} flips over 3 segments of {sizes:?} bytes ({} batches), \
         {} corruption naming the segment, {} other outcomes, {:.1} s",
        states.len() - 1,
        flips - failures.len() as u64,
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert_no_bad_outcome(&failures);
}

#[test]
fn a_cut_or_zero_filled_segment_opens_with_a_prefix_keeping_every_batch_before_the_cut() {
    let (image, states, segments) = build();
    let mut cases = 0u64;
    let mut failures = Vec::new();
    // Batches in the segments before each one.
    let mut before = 0;
    for segment in &segments {
        let clean = image.files[segment].clone();
        let in_segment = batches_before(&clean, clean.len());
        for cut in 0..clean.len() {
            for zero_fill in [false, true] {
                cases += 1;
                let mut damaged = image.clone();
                let bytes = damaged.files.get_mut(segment).unwrap();
                bytes.truncate(cut);
                if zero_fill {
                    bytes.resize(clean.len(), 0);
                }
                let kept = before + batches_before(&clean, cut);
                match open_damaged(&damaged, &states) {
                    Ok(Opened::Prefix(got)) if got == states[kept] => {}
                    Ok(Opened::Prefix(got)) => failures.push(format!(
                        "{} cut at {cut} (zero-filled: {zero_fill}): the contents after {:?} \
                         batches, want {kept}",
                        segment.display(),
                        states.iter().position(|s| *s == got)
                    )),
                    Ok(Opened::Corruption(file)) => failures.push(format!(
                        "{} cut at {cut} (zero-filled: {zero_fill}): corruption in {}",
                        segment.display(),
                        file.display()
                    )),
                    Err(e) => failures.push(format!(
                        "{} cut at {cut} (zero-filled: {zero_fill}): {e}",
                        segment.display()
                    )),
                }
            }
        }
        before += in_segment;
    }
    println!(
        "db wal cuts: {cases} cut or zero-filled segments, {} opened with the expected prefix, \
         {} other outcomes",
        cases - failures.len() as u64,
        failures.len()
    );
    assert_no_bad_outcome(&failures);
}

/// A pending log (`pending/<id>.log`, written whole before its name exists) with every bit of
/// every byte flipped, one at a time, and cut at every offset: the open fails with
/// `Error::Corruption` naming the pending log, never opens, never panics. The undamaged image
/// opens and reads every write in the comparator's order.
#[test]
fn every_bit_flip_or_cut_in_a_pending_log_is_corruption_naming_it() {
    let descending = || KeyspaceCreateOptions::default().comparator(Arc::new(common::Reverse));
    let fs = MemFs::new();
    {
        let db = open(&fs).unwrap();
        let items = db.keyspace("d", descending).unwrap();
        for i in 0..12u32 {
            items.insert(format!("k{i:02}"), format!("v{i}")).unwrap();
        }
        items.remove("k05").unwrap();
        items.remove_range("k09", "k07").unwrap();
    }
    // This open cannot replay "d" (it has not been given the comparator): a pending log.
    drop(open(&fs).unwrap());
    let image = snapshot(&fs);
    let log: PathBuf = image
        .files
        .keys()
        .find(|p| p.starts_with("/db/pending") && p.extension().is_some_and(|e| e == "log"))
        .cloned()
        .expect("a pending log");
    let expected: Vec<String> = [11u32, 10, 7, 6, 4, 3, 2, 1, 0]
        .iter()
        .map(|i| format!("k{i:02}"))
        .collect();
    {
        let db = open(&restore(&image)).unwrap();
        let d = db.keyspace("d", descending).unwrap();
        let keys: Vec<String> = d
            .iter()
            .map(|g| String::from_utf8(g.key().unwrap().to_vec()).unwrap())
            .collect();
        assert_eq!(keys, expected);
    }
    let clean = image.files[&log].clone();
    let mut cases = 0u64;
    let mut failures = Vec::new();
    let mut check = |damaged: &Image, what: String| {
        cases += 1;
        match open(&restore(damaged)) {
            Err(Error::Corruption { file, .. }) if file == log => {}
            Err(other) => failures.push(format!("{what}: {other}")),
            Ok(_) => failures.push(format!("{what}: opened")),
        }
    };
    for at in 0..clean.len() {
        for bit in 0..8 {
            let mut damaged = image.clone();
            damaged.files.get_mut(&log).unwrap()[at] ^= 1 << bit;
            check(&damaged, format!("byte {at} bit {bit}"));
        }
    }
    for cut in 0..clean.len() {
        let mut damaged = image.clone();
        damaged.files.get_mut(&log).unwrap().truncate(cut);
        check(&damaged, format!("cut at {cut}"));
    }
    println!(
        "pending log damage: {cases} cases over {} bytes, {} corruption naming the log, {} other",
        clean.len(),
        cases - failures.len() as u64,
        failures.len()
    );
    assert_no_bad_outcome(&failures);
}

/// Fails with the count and the first ten of `failures`, if any.
fn assert_no_bad_outcome(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} bad outcomes, the first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
}
