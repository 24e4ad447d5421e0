//! Hostile WAL segments under a database with two keyspaces, on `MemFs`: the input becomes one
//! to three segment files in `wal/` (raw bytes, or records with valid checksums around fuzzed
//! payloads: `strata_fuzz::wal_segments`), then `Database::open` runs recovery (segment order,
//! headers, the torn-tail rule, batch decoding) and the keyspaces' first open replays their
//! batches into their trees (every op, hostile keys and ranges and seqnos included). With bit 7
//! of the first byte set, the last segment becomes keyspace `a`'s pending log
//! (`strata_fuzz::pending_log`: its records re-framed behind a pending-log header, the batch
//! count right or, with bit 6, one too many), which the open reads beside the WAL. Checked: no
//! panic, no unbounded allocation (run with `-malloc_limit_mb`); a database that opens reads
//! every key of both keyspaces without a panic, and once closed, opens again with the same
//! contents.

#![no_main]
#![allow(
    clippy::disallowed_types,
    reason = "fuzz_target! opens a std::fs::File for RUST_LIBFUZZER_DEBUG_PATH"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use strata::fs::{Fs, MemFs};
use strata::{Database, Guard, KeyspaceCreateOptions};

const NAMES: [&str; 2] = ["a", "b"];

/// A database's directories and files.
type Snapshot = (Vec<PathBuf>, BTreeMap<PathBuf, Vec<u8>>);

/// A database with keyspaces `a` (id 1) and `b` (id 2) and no WAL segment: its directories and
/// files.
fn base() -> &'static Snapshot {
    static BASE: OnceLock<Snapshot> = OnceLock::new();
    BASE.get_or_init(|| {
        let fs = MemFs::new();
        {
            let db = open(&fs).expect("a new database opens");
            for name in NAMES {
                db.keyspace(name, KeyspaceCreateOptions::default)
                    .expect("a keyspace is created");
            }
        }
        let (mut dirs, mut files) = (Vec::new(), BTreeMap::new());
        strata_fuzz::walk_mem_fs(&fs, Path::new("/db"), &mut dirs, &mut files);
        files.retain(|path: &PathBuf, _| !path.starts_with("/db/wal"));
        (dirs, files)
    })
}

fn open(fs: &MemFs) -> strata::Result<Database> {
    Database::builder("/db")
        .fs(Arc::new(fs.clone()))
        .worker_threads(1)
        .cache_size(1 << 20)
        .open()
}

type Contents = Vec<Vec<(Vec<u8>, Vec<u8>)>>;

/// Opens the database and reads both keyspaces whole; `None` if anything returns an error.
fn read(fs: &MemFs) -> Option<Contents> {
    let db = open(fs).ok()?;
    let mut out = Vec::new();
    for name in NAMES {
        let keyspace = db.keyspace(name, KeyspaceCreateOptions::default).ok()?;
        let mut pairs = Vec::new();
        for guard in keyspace.iter() {
            let (k, v) = guard.into_inner().ok()?;
            pairs.push((k.to_vec(), v.to_vec()));
        }
        for (k, _) in &pairs {
            keyspace.get(k).ok()?;
        }
        let backward = keyspace.iter().rev().count();
        assert_eq!(backward, pairs.len(), "a scan backward sees other keys");
        out.push(pairs);
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let (dirs, files) = base();
    let fs = MemFs::new();
    for dir in dirs {
        fs.create_dir(dir).expect("create_dir");
    }
    let mut segments = strata_fuzz::wal_segments(data);
    // Bit 7 of the first byte: the last segment becomes keyspace a's pending log instead.
    let pending = match data.first() {
        Some(&first) if first & 0x80 != 0 => segments.pop().map(|(_, bytes)| {
            fs.create_dir(Path::new("/db/pending")).expect("create_dir");
            let log = strata_fuzz::pending_log(1, &bytes, first & 0x40 != 0);
            (PathBuf::from("/db/pending/1.log"), log)
        }),
        _ => None,
    };
    let pending_dir = pending.as_ref().map(|_| Path::new("/db/pending"));
    let wal = files
        .iter()
        .map(|(p, b)| (p.clone(), b.clone()))
        .chain(
            segments
                .into_iter()
                .map(|(id, bytes)| (PathBuf::from(format!("/db/wal/{id:020}.log")), bytes)),
        )
        .chain(pending);
    for (path, bytes) in wal {
        let mut file = fs.create(&path).expect("create");
        file.append(&bytes).expect("append");
        file.sync().expect("sync");
    }
    for dir in dirs.iter().map(PathBuf::as_path).chain(pending_dir) {
        fs.sync_dir(dir).expect("sync_dir");
    }
    let Some(first) = read(&fs) else {
        return;
    };
    // What the first recovery read, a second one reads too.
    let second = read(&fs).expect("a database that recovered once opens again");
    assert_eq!(first, second, "a second open reads other contents");
});
