//! The corruption sweep of every file kind (RELIABILITY.md suite 4).
//!
//! **Fixtures.** The parent builds, with the public API, in a temporary directory:
//! - one `Tree` per table layout (`tree-full`: full index and filter, restart interval 16,
//!   4 KiB blocks; `tree-partitioned`: partitioned index and filter, 256-byte blocks, restart
//!   interval 1; `tree-hash`: in-block hash index, no filter, 1 KiB blocks; `tree-tiny`: 64-byte
//!   blocks, restart interval 1, hash index, partitioned filter; `tree-lz4` and `tree-zstd` with
//!   those features; `tree-kv`: key-value separation, so blob files exist). Each runs the same
//!   workload: a flush of 300 keys (every fifth value 200 bytes long), a flush of overwrites,
//!   deletes, weak deletes and a range tombstone, a major compaction into several tables, a
//!   flush of overwrites and new keys, and last a flush of one range tombstone alone (a table of
//!   range tombstones only). The model keeps every version, so reads at an older seqno are
//!   checked too. And `tree-v1`, a copy of the format-1 tree `tests/format_compat.rs` keeps
//!   (classic bloom filters, partitioned index and filter, hash index): its tables are swept,
//!   not its manifest, whose legacy framing tells a torn tail from damage less well
//!   (docs/format.md 10.6);
//! - one `strata::Database` with two keyspaces whose WAL holds 40 unflushed batches (inserts,
//!   removes, range removes, batches across both keyspaces) in segments of about 1 KiB, closed
//!   cleanly: its `VERSION`, `CATALOG`, WAL segments, and each keyspace's manifest and
//!   `CURRENT`;
//! - `db-pending`, a database whose keyspace has a comparator of the application's own (bytewise,
//!   under another name) and 60 logged writes, closed, then opened once without opening that
//!   keyspace, which copies its writes to `pending/<id>.log`: that pending log (its other files
//!   are the kinds above). Damaged, it must read as an error or exactly the 60 writes (the WAL
//!   still holds them too).
//!
//! **Cases.** A case names a file, relative to the fixture folder, and one mutation: `flip:O:B`
//! (xor bit B of byte O), `ff:O` (byte O set to 0xFF), `zero:O:N` (N bytes from O zeroed, a lost
//! sector), `trunc:N` (the file cut to N bytes). The default sample (CI) takes, per file, the
//! first and last bytes, evenly spaced bytes, the starts and checksums of blocks or records,
//! the table footer, the first and last sector, and cuts at 0, mid-file, the footer and the
//! last record; it covers every file kind and every mutation kind. `STRATA_SWEEP=full` runs the
//! full sweep: every byte (flipped and set to 0xFF) and every cut of files up to 8 KiB, and
//! `STRATA_SWEEP_PER_FILE` (2048) evenly spaced bytes and cuts in larger ones, every sector.
//!
//! **Each case** runs in a child process (the test binary re-run with `--exact`, as kill9.rs
//! does), which copies the fixture's folder, damages the file, opens it and reads it whole:
//! scans forward and backward and a point read of every key (plus absent keys) at the latest
//! seqno and at an older one, then `verify_integrity` for trees; for the database every keyspace
//! at the latest state. If all of it succeeds, the child opens and reads a second time, which
//! must give the same (a torn tail's recovery writes a new manifest or WAL segment). It prints
//! one line: `error` (a call returned an error: `Corruption` naming the damaged file, `Io`,
//! `UnsupportedFormat`, `ComparatorMismatch` or `DictionaryMismatch`; any other kind, or a
//! `Corruption` naming another file, fails the sweep as `other error`), `exact` (every read equals the model), `torn`, or `wrong` (the first
//! difference). A child handles cases in a row; the parent resumes after a case the child died
//! on. The parent classifies a case the child did not report: `panic` (a panic in any thread of
//! the child, caught by a hook, or a non-zero exit), `abort` (a signal), `memory` (an allocation
//! failed under the child's address-space limit, `ulimit -v`, 256 MiB or
//! `STRATA_SWEEP_MEMORY_MIB`: a child needs less than 128 MiB of address space, so a length
//! read from disk and trusted for an allocation of more than about 100 MiB is caught), `hang` (no answer within 10 s or `STRATA_SWEEP_TIMEOUT_SECS`:
//! the child is killed). The limit is set by running the child through `sh -c 'ulimit -v N;
//! exec ...'`, so the test needs no `libc` dependency; `MALLOC_ARENA_MAX=2` keeps glibc's
//! per-thread arenas from reserving address space that no allocation uses.
//!
//! **Torn tails.** By design (RELIABILITY.md C4, docs/format.md 10.6 and 12.3) a manifest or
//! a WAL segment whose end is cut, or zero-filled, reads as the records before the cut:
//! the outcome `torn` is allowed only for cuts and zero fills of those files, and only when the
//! state read equals exactly the state after the records that lie whole before the file's
//! trailing zeros (for the manifest, the tables of the flushes those records name; for the
//! WAL, the batches they hold, after every batch of the earlier segments: a cut segment before
//! the last lost a tail that was never synced, and the segments after it are discarded). Any
//! other state is `wrong`. A flipped bit or a 0xFF byte in them must be `error` or `exact`
//! (the trailer and the length's complement make every such change detectable).
//!
//! Only `error`, `exact` and (where allowed) `torn` pass. The test prints one line of counts
//! per file kind and a total, e.g. `sweep table-full: 99 cases, 99 error (99 corruption),
//! 0 exact, 0 torn, 0 wrong, 0 panic, 0 abort, 0 hang, 0 memory, 0 other error`, and fails
//! naming each bad case with the line that replays it alone:
//! `STRATA_SWEEP_CASE='tree-full/tables/3.sst flip:100:3'` (a replay builds the fixtures anew:
//! the same layout byte for byte, but a table's meta block records its creation time, so that
//! block's timestamp and checksum bytes differ, and a 0xFF or zero mutation that changed
//! nothing in one build may change something in another: counts vary by a case or two). Before the sweep, the intact
//! fixtures must read `exact`; after the sample, the harness tests itself: a child told by
//! `STRATA_SWEEP_PLANT` to return a wrong value, panic, abort, allocate 3 GiB or hang must be
//! classified so.
//!
//! **Counts.** The sample is about 1,600 cases (1,642 with the default features, 384 of them on the pending
//! log: 384 corruption); every file kind,
//! every mutation kind; the largest and the smallest table of each layout; a mutation that
//! changes nothing, such as 0xFF on a byte that holds it, is left out). The full sweep with
//! `--features lz4,zstd` (2026-12-07, catalog version 2, the pending log among the files) is
//! 316,467 cases over 52 files; in release with two jobs on a tmpfs it took 156 s: 312,114 error
//! (311,976 corruption, 101 io: a `CURRENT` naming a manifest that is not there, or a manifest
//! cut before a compaction whose inputs are gone; 37 unsupported: the database's `VERSION`),
//! 3,932 torn (109 manifest, 3,823 WAL), 421 exact (cuts of the last WAL segment inside its
//! preallocated zero tail, after its last record: nothing lost), 0 wrong, 0 panic, 0 abort,
//! 0 hang, 0 memory. Without the features (blob files stored raw), in a debug build
//! under the 256 MiB limit: 290,724 cases in 967 s, 286,787 error, 3,937 torn, nothing else. `STRATA_SWEEP_JOBS=N` runs N children at a time, and
//! `STRATA_SWEEP_LIST=1` prints the cases per file kind without running them (with
//! `STRATA_SWEEP_KEEP=1`, it leaves the fixtures and the case list in place and prints where). Unless `TMPDIR`
//! is set, the sweep works in `/dev/shm` where it exists: on a disk, the fsyncs of the
//! children's opens take most of the time (a debug sample: 55 s on disk, 3 to 9 s on tmpfs).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::too_many_lines,
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "test code: a failed unwrap is a failed test; it damages files behind the engine's back"
)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::os::unix::process::ExitStatusExt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use strata::config::{
    BlockSizePolicy, CompressionPolicy, FilterPolicy, HashRatioPolicy, PinningPolicy,
    RestartIntervalPolicy,
};
use strata::{
    Cache, Config, Database, Error, Guard, KeyspaceCreateOptions, KvSeparationOptions, SeqNo,
    SequenceNumberCounter,
};

const TEST_NAME: &str = "every_file_kind_survives_flips_sectors_and_cuts";
/// Set in a child: the sweep folder (fixtures, models and the case list).
const CHILD_ENV: &str = "STRATA_SWEEP_CHILD_DIR";
/// Set in a child: the index of the first case it runs.
const START_ENV: &str = "STRATA_SWEEP_CHILD_START";
/// Set in a child: the index after the last case it runs.
const END_ENV: &str = "STRATA_SWEEP_CHILD_END";
/// Files up to this size are swept at every byte in the full sweep.
const SMALL_FILE: usize = 8 << 10;
const KEYS: u32 = 300;
const NEW_KEYS: u32 = 30;
const KEYSPACES: [&str; 2] = ["a", "b"];
const DB_STEPS: u32 = 40;
/// The writes of the pending-log database.
const PENDING_WRITES: u32 = 60;

// ---------------------------------------------------------------------------------------------
// Layouts and fixtures
// ---------------------------------------------------------------------------------------------

/// The table layouts: one tree each.
const LAYOUTS: &[&str] = &[
    "full",
    "partitioned",
    "hash",
    "tiny",
    #[cfg(feature = "lz4")]
    "lz4",
    #[cfg(feature = "zstd")]
    "zstd",
    "kv",
];

fn config(layout: &str, dir: &Path, seqno: SequenceNumberCounter) -> Config {
    let config = Config::new(dir, seqno, SequenceNumberCounter::default())
        .use_cache(Arc::new(Cache::with_capacity_bytes(1 << 20)));
    match layout {
        "full" => config
            .data_block_size_policy(BlockSizePolicy::all(4096))
            .data_block_restart_interval_policy(RestartIntervalPolicy::all(16)),
        "partitioned" => config
            .data_block_size_policy(BlockSizePolicy::all(256))
            .data_block_restart_interval_policy(RestartIntervalPolicy::all(1))
            .index_block_partitioning_policy(PinningPolicy::all(true))
            .filter_block_partitioning_policy(PinningPolicy::all(true)),
        "hash" => config
            .data_block_size_policy(BlockSizePolicy::all(1024))
            .data_block_hash_ratio_policy(HashRatioPolicy::all(0.75))
            .filter_policy(FilterPolicy::disabled()),
        "tiny" => config
            .data_block_size_policy(BlockSizePolicy::all(64))
            .data_block_restart_interval_policy(RestartIntervalPolicy::all(1))
            .data_block_hash_ratio_policy(HashRatioPolicy::all(1.0))
            .filter_block_partitioning_policy(PinningPolicy::all(true)),
        #[cfg(feature = "lz4")]
        "lz4" => config
            .data_block_size_policy(BlockSizePolicy::all(1024))
            .data_block_compression_policy(CompressionPolicy::all(strata::CompressionType::Lz4))
            .index_block_compression_policy(CompressionPolicy::all(strata::CompressionType::Lz4)),
        #[cfg(feature = "zstd")]
        "zstd" => config
            .data_block_size_policy(BlockSizePolicy::all(1024))
            .data_block_compression_policy(CompressionPolicy::all(strata::CompressionType::zstd(3)))
            .index_block_compression_policy(CompressionPolicy::all(strata::CompressionType::zstd(
                3,
            ))),
        // The committed format-1 tree of tests/format_compat.rs (classic bloom filters).
        "v1" => config
            .data_block_size_policy(BlockSizePolicy::all(256))
            .data_block_hash_ratio_policy(HashRatioPolicy::all(1.0))
            .index_block_partitioning_policy(PinningPolicy::all(true))
            .filter_block_partitioning_policy(PinningPolicy::all(true))
            .table_target_size(4096),
        "kv" => config
            .data_block_size_policy(BlockSizePolicy::all(512))
            .data_block_compression_policy(CompressionPolicy::disabled())
            .with_kv_separation(Some(
                KvSeparationOptions::default()
                    .separation_threshold(128)
                    .file_target_size(8 << 10),
            )),
        other => panic!("unknown layout {other}"),
    }
}

fn key(i: u32) -> String {
    format!("k{i:04}")
}

fn value(i: u32, generation: u32) -> String {
    let repeat = if i.is_multiple_of(5) { 20 } else { 2 };
    format!("v{generation}-{i:04}-").repeat(repeat)
}

/// One logged operation of the tree workload, with its seqno.
#[derive(Clone, Debug)]
enum TreeOp {
    Put(String, String, SeqNo),
    Del(String, SeqNo),
    DelRange(String, String, SeqNo),
}

/// What a tree fixture's reads must give: every operation, the older read seqno, and the
/// persisted seqno (every write below it is in a table) after each manifest commit.
struct TreeModel {
    ops: Vec<TreeOp>,
    older_seqno: SeqNo,
    /// `(manifest length, persisted seqno)` after the open and after each flush or compaction.
    checkpoints: Vec<(u64, SeqNo)>,
}

impl TreeModel {
    /// The visible pairs at read seqno `read`, of the writes below `persisted`.
    fn state(&self, read: SeqNo, persisted: SeqNo) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let bound = read.min(persisted);
        let mut latest: BTreeMap<&str, (SeqNo, Option<&str>)> = BTreeMap::new();
        for op in &self.ops {
            match op {
                TreeOp::Put(k, v, s) if *s < bound => {
                    latest.insert(k, (*s, Some(v)));
                }
                TreeOp::Del(k, s) if *s < bound => {
                    latest.insert(k, (*s, None));
                }
                _ => {}
            }
        }
        latest
            .into_iter()
            .filter(|(k, (s, _))| {
                !self.ops.iter().any(|op| {
                    matches!(op, TreeOp::DelRange(a, b, rs)
                        if *rs < bound && rs > s && a.as_str() <= *k && *k < b.as_str())
                })
            })
            .filter_map(|(k, (_, v))| v.map(|v| (k.as_bytes().to_vec(), v.as_bytes().to_vec())))
            .collect()
    }

    fn save(&self, path: &Path) {
        let mut out = format!("older {}\n", self.older_seqno);
        for op in &self.ops {
            match op {
                TreeOp::Put(k, v, s) => writeln!(out, "put {k} {v} {s}"),
                TreeOp::Del(k, s) => writeln!(out, "del {k} {s}"),
                TreeOp::DelRange(a, b, s) => writeln!(out, "rdel {a} {b} {s}"),
            }
            .unwrap();
        }
        for (len, s) in &self.checkpoints {
            writeln!(out, "checkpoint {len} {s}").unwrap();
        }
        std::fs::write(path, out).unwrap();
    }

    fn load(path: &Path) -> Self {
        let mut model = Self {
            ops: Vec::new(),
            older_seqno: 0,
            checkpoints: Vec::new(),
        };
        for line in std::fs::read_to_string(path).unwrap().lines() {
            let w: Vec<&str> = line.split(' ').collect();
            let n = |i: usize| w[i].parse::<u64>().unwrap();
            match w[0] {
                "older" => model.older_seqno = n(1),
                "put" => model.ops.push(TreeOp::Put(w[1].into(), w[2].into(), n(3))),
                "del" => model.ops.push(TreeOp::Del(w[1].into(), n(2))),
                "rdel" => model
                    .ops
                    .push(TreeOp::DelRange(w[1].into(), w[2].into(), n(3))),
                "checkpoint" => model.checkpoints.push((n(1), n(2))),
                other => panic!("bad model line {other}"),
            }
        }
        model
    }

    /// The persisted seqno after the manifest's first `len` bytes, if a checkpoint ends there.
    fn persisted_at(&self, len: u64) -> Option<SeqNo> {
        self.checkpoints
            .iter()
            .rev()
            .find(|(l, _)| *l == len)
            .map(|(_, s)| *s)
    }

    fn persisted(&self) -> SeqNo {
        self.checkpoints.last().unwrap().1
    }
}

/// The live manifest of the tree in `dir`.
fn manifest_path(dir: &Path) -> PathBuf {
    let current = std::fs::read_to_string(dir.join("CURRENT")).unwrap();
    dir.join(current.trim_end())
}

/// Builds the tree of `layout` in `dir` and returns its model.
fn build_tree(layout: &str, dir: &Path) -> TreeModel {
    let seqno = SequenceNumberCounter::default();
    let tree = config(layout, dir, seqno.clone()).open().unwrap();
    let mut model = TreeModel {
        ops: Vec::new(),
        older_seqno: 0,
        checkpoints: Vec::new(),
    };
    let checkpoint = |model: &mut TreeModel| {
        let len = std::fs::metadata(manifest_path(dir)).unwrap().len();
        model.checkpoints.push((len, seqno.get()));
    };
    checkpoint(&mut model);
    let put = |model: &mut TreeModel, k: String, v: String| {
        let s = seqno.next();
        tree.insert(k.clone(), v.clone(), s);
        model.ops.push(TreeOp::Put(k, v, s));
    };
    for i in 0..KEYS {
        put(&mut model, key(i), value(i, 0));
    }
    tree.flush_active_memtable(0).unwrap();
    checkpoint(&mut model);
    for i in 0..KEYS {
        if i % 3 == 0 {
            put(&mut model, key(i), value(i, 1));
        } else if i % 7 == 0 {
            let s = seqno.next();
            tree.remove(key(i), s);
            model.ops.push(TreeOp::Del(key(i), s));
        } else if i % 11 == 5 {
            // Written once since: a weak delete reads like a delete.
            let s = seqno.next();
            tree.remove_weak(key(i), s);
            model.ops.push(TreeOp::Del(key(i), s));
        }
    }
    let s = seqno.next();
    tree.remove_range(key(100), key(120), s);
    model.ops.push(TreeOp::DelRange(key(100), key(120), s));
    tree.flush_active_memtable(0).unwrap();
    checkpoint(&mut model);
    model.older_seqno = seqno.get();
    tree.major_compact(8 << 10, 0).unwrap();
    checkpoint(&mut model);
    for i in (0..KEYS + NEW_KEYS).filter(|i| i % 4 == 1 || *i >= KEYS) {
        put(&mut model, key(i), value(i, 2));
    }
    tree.flush_active_memtable(0).unwrap();
    checkpoint(&mut model);
    let s = seqno.next();
    tree.remove_range(key(200), key(250), s);
    model.ops.push(TreeOp::DelRange(key(200), key(250), s));
    tree.flush_active_memtable(0).unwrap();
    checkpoint(&mut model);
    assert!(tree.table_count() >= 3, "{layout}: {}", tree.table_count());
    if layout == "kv" {
        assert!(tree.blob_file_count() > 0, "no blob file");
    }
    model
}

/// The database workload's steps: per step, the state of each keyspace after it.
type DbState = [BTreeMap<Vec<u8>, Vec<u8>>; 2];

fn db_builder(dir: &Path) -> strata::DatabaseBuilder {
    Database::builder(dir)
        .worker_threads(1)
        .cache_size(1 << 20)
        .journal_segment_size(1024)
}

fn ks_options() -> KeyspaceCreateOptions {
    KeyspaceCreateOptions::default().max_memtable_size(64 << 20)
}

/// One step of the database workload: its writes, applied to `state` and (if given) to the
/// database. Each step is one WAL record.
fn db_step(step: u32, state: &mut DbState, db: Option<(&Database, &[strata::Keyspace])>) {
    let ks_of = |i: usize| db.map(|(_, handles)| handles[i].clone());
    let k = |i: u32| format!("d{i:03}").into_bytes();
    let v = |i: u32| {
        format!("w{step}-{i}-")
            .repeat(1 + (i % 4) as usize)
            .into_bytes()
    };
    match step % 5 {
        // A batch across both keyspaces.
        0..=2 => {
            let mut batch = db.map(|(db, _)| db.batch());
            for j in 0..3 + step % 3 {
                let i = (step * 7 + j * 13) % 60;
                let which = ((step + j) % 2) as usize;
                if j == 2 && step % 5 == 2 {
                    state[which].remove(&k(i));
                    if let Some(b) = batch.as_mut() {
                        b.remove(&ks_of(which).unwrap(), k(i));
                    }
                } else {
                    state[which].insert(k(i), v(i));
                    if let Some(b) = batch.as_mut() {
                        b.insert(&ks_of(which).unwrap(), k(i), v(i));
                    }
                }
            }
            if let Some(b) = batch {
                b.commit().unwrap();
            }
        }
        3 => {
            let i = (step * 11) % 60;
            state[0].insert(k(i), v(i));
            if let Some(ks) = ks_of(0) {
                ks.insert(k(i), v(i)).unwrap();
            }
        }
        _ => {
            let (a, b) = ((step * 3) % 50, (step * 3) % 50 + 5);
            state[1].retain(|key, _| key.as_slice() < k(a).as_slice() || key >= &k(b));
            if let Some(ks) = ks_of(1) {
                ks.remove_range(k(a), k(b)).unwrap();
            }
        }
    }
}

/// The database state after each number of steps (`[0]` empty).
fn db_states() -> Vec<DbState> {
    let mut states = vec![DbState::default()];
    for step in 0..DB_STEPS {
        let mut next = states.last().unwrap().clone();
        db_step(step, &mut next, None);
        states.push(next);
    }
    states
}

fn build_db(dir: &Path) {
    let db = db_builder(dir).open().unwrap();
    let handles: Vec<_> = KEYSPACES
        .iter()
        .map(|n| db.keyspace(n, ks_options).unwrap())
        .collect();
    let mut state = DbState::default();
    for step in 0..DB_STEPS {
        db_step(step, &mut state, Some((&db, &handles)));
    }
    drop(handles);
    drop(db);
}

/// The order of the pending-log database's keyspace: bytewise, as the model's, but the
/// application's own by name, so that a database's open cannot replay its writes and copies
/// them to its pending log.
struct Bytewise;

impl strata::UserComparator for Bytewise {
    fn name(&self) -> &'static str {
        "sweep.bytewise"
    }

    fn compare(&self, a: &[u8], b: &[u8]) -> std::cmp::Ordering {
        a.cmp(b)
    }
}

fn pending_options() -> KeyspaceCreateOptions {
    ks_options().comparator(Arc::new(Bytewise))
}

/// The writes of the pending-log database, applied to `state` and (if given) the keyspace.
fn pending_writes(state: &mut BTreeMap<Vec<u8>, Vec<u8>>, ks: Option<&strata::Keyspace>) {
    for i in 0..PENDING_WRITES {
        let key = format!("p{:03}", (i * 7) % 50).into_bytes();
        if i % 6 == 5 {
            state.remove(&key);
            if let Some(ks) = ks {
                ks.remove(key).unwrap();
            }
        } else {
            let value = format!("v{i}-").repeat(1 + (i % 3) as usize).into_bytes();
            state.insert(key.clone(), value.clone());
            if let Some(ks) = ks {
                ks.insert(key, value).unwrap();
            }
        }
    }
}

fn pending_state() -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut state = BTreeMap::new();
    pending_writes(&mut state, None);
    state
}

/// A database whose keyspace `r` (a custom comparator) has its writes in a pending log: written,
/// closed, then opened once without opening `r`, which copies them to `pending/<id>.log`.
fn build_pending_db(dir: &Path) {
    {
        let db = db_builder(dir).open().unwrap();
        let ks = db.keyspace("r", pending_options).unwrap();
        pending_writes(&mut BTreeMap::new(), Some(&ks));
    }
    drop(db_builder(dir).open().unwrap());
    assert_eq!(
        files_under(&dir.join("pending")).len(),
        1,
        "the open wrote the pending log"
    );
}

/// Reads keyspace `r` of the pending-log database whole (view 0).
fn read_pending_db(dir: &Path, probes: &mut Vec<Probe>) -> Result<(), Error> {
    let db = db_builder(dir).open()?;
    let ks = db.keyspace("r", pending_options)?;
    let keys: Vec<Vec<u8>> = (0..52).map(|i| format!("p{i:03}").into_bytes()).collect();
    keyspace_probes(&ks, 0, &keys, probes)
}

/// Every file of the fixture folder, relative to it, sorted.
fn files_under(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// File kinds and cases
// ---------------------------------------------------------------------------------------------

/// The kind of the fixture file `rel` (`tree-full/tables/3.sst`, `db/wal/...log`); `None` for
/// files that are not swept (the lock file, empty files).
fn kind_of(rel: &Path) -> Option<String> {
    let s = rel.to_str().unwrap();
    let (top, rest) = s.split_once('/').unwrap();
    let name = rel.file_name().unwrap().to_str().unwrap();
    let extension = rel.extension().and_then(|e| e.to_str()).unwrap_or("");
    if let Some(layout) = top.strip_prefix("tree-") {
        if extension == "sst" {
            return Some(format!("table-{layout}"));
        }
        if extension == "blob" {
            return Some("blob".into());
        }
        if name == "CURRENT" {
            return Some("current".into());
        }
        if name.starts_with("MANIFEST-") {
            return Some("manifest".into());
        }
        return None;
    }
    if top == "db-pending" {
        // Only its pending log: its other files are the same kinds as the database's.
        return rest.starts_with("pending/").then(|| "pending-log".into());
    }
    if rest.starts_with("wal/") {
        return Some("wal".into());
    }
    if rest.starts_with("keyspaces/") {
        if name == "CURRENT" {
            return Some("keyspace-current".into());
        }
        if name.starts_with("MANIFEST-") {
            return Some("keyspace-manifest".into());
        }
        return None;
    }
    match name {
        "CATALOG" => Some("catalog".into()),
        "VERSION" => Some("db-version".into()),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mutation {
    Flip(usize, u8),
    SetFf(usize),
    Zero(usize, usize),
    Truncate(usize),
}

impl Mutation {
    fn apply(self, bytes: &mut Vec<u8>) {
        match self {
            Self::Flip(at, bit) => bytes[at] ^= 1 << bit,
            Self::SetFf(at) => bytes[at] = 0xFF,
            Self::Zero(at, len) => {
                let end = (at + len).min(bytes.len());
                bytes[at..end].fill(0);
            }
            Self::Truncate(len) => bytes.truncate(len),
        }
    }

    fn parse(s: &str) -> Self {
        let w: Vec<usize> = s.split(':').skip(1).map(|n| n.parse().unwrap()).collect();
        match s.split(':').next().unwrap() {
            "flip" => Self::Flip(w[0], w[1] as u8),
            "ff" => Self::SetFf(w[0]),
            "zero" => Self::Zero(w[0], w[1]),
            "trunc" => Self::Truncate(w[0]),
            other => panic!("unknown mutation {other}"),
        }
    }
}

impl std::fmt::Display for Mutation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Flip(at, bit) => write!(f, "flip:{at}:{bit}"),
            Self::SetFf(at) => write!(f, "ff:{at}"),
            Self::Zero(at, len) => write!(f, "zero:{at}:{len}"),
            Self::Truncate(len) => write!(f, "trunc:{len}"),
        }
    }
}

/// One case: a file, a mutation, and the torn state it may read as (a persisted seqno for a
/// tree's manifest, a number of batches for the WAL), if any.
#[derive(Clone, Debug)]
struct Case {
    kind: String,
    file: PathBuf,
    mutation: Mutation,
    torn: Option<u64>,
}

impl Case {
    fn line(&self) -> String {
        let torn = self.torn.map_or("-".to_string(), |t| t.to_string());
        format!(
            "{}|{}|{}|{torn}",
            self.kind,
            self.file.display(),
            self.mutation
        )
    }

    fn parse(line: &str) -> Self {
        let w: Vec<&str> = line.split('|').collect();
        Self {
            kind: w[0].into(),
            file: w[1].into(),
            mutation: Mutation::parse(w[2]),
            torn: (w[3] != "-").then(|| w[3].parse().unwrap()),
        }
    }
}

/// The ends of the records of a file in the framing of docs/format.md 10.2 (`SR`, length,
/// complement, checksum, payload, trailer), as long as they parse.
fn record_ends(bytes: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = 0;
    while at + 18 <= bytes.len() && &bytes[at..at + 2] == b"SR" {
        let len = u32::from_le_bytes(bytes[at + 2..at + 6].try_into().unwrap()) as usize;
        let end = at + 19 + len;
        if end > bytes.len() {
            break;
        }
        ends.push(end);
        at = end;
    }
    ends
}

/// The starts of the blocks of a table (packed from offset 0 up to the footer) or of the
/// records of a blob file (from its 20-byte header up to its 40-byte footer).
fn block_starts(bytes: &[u8], first: usize, trailer: usize) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut at = first;
    while at + 18 <= bytes.len().saturating_sub(trailer) {
        starts.push(at);
        let len = u32::from_le_bytes(bytes[at + 2..at + 6].try_into().unwrap()) as usize;
        at += 18 + len;
    }
    starts
}

/// Where the structure of a file is: block or record starts, and the footer or header bounds.
fn landmarks(kind: &str, bytes: &[u8]) -> Vec<usize> {
    let len = bytes.len();
    let mut marks = vec![0, 1, len / 2, len.saturating_sub(1), len.saturating_sub(2)];
    if kind.starts_with("table-") {
        let blocks = block_starts(bytes, 0, 72);
        let step = (blocks.len() / 4).max(1);
        for &b in blocks.iter().step_by(step).chain(blocks.last()) {
            marks.extend([b, b + 1, b + 2, b + 6, b + 10, b + 18]);
        }
        let footer = len - 72;
        marks.extend([
            footer,
            footer + 8,
            footer + 16,
            footer + 32,
            footer + 48,
            footer + 52,
        ]);
    } else if kind == "blob" {
        let records = block_starts(bytes, 20, 40);
        for &r in records.iter().take(2).chain(records.last()) {
            marks.extend([r, r + 2, r + 10, r + 18]);
        }
        marks.extend([8, 12, len - 40, len - 32, len - 24, len - 16, len - 8]);
    } else {
        let mut at = 0;
        for end in record_ends(bytes) {
            marks.extend([at, at + 2, at + 6, at + 10, at + 18, end - 1]);
            at = end;
        }
    }
    marks.retain(|&m| m < len);
    marks.sort_unstable();
    marks.dedup();
    marks
}

/// Cut points worth trying: nothing left, mid-file, the footer, and just before or inside the
/// last record.
fn landmark_cuts(kind: &str, bytes: &[u8]) -> Vec<usize> {
    let len = bytes.len();
    let mut cuts = vec![0, len / 2, len - 1];
    if kind.starts_with("table-") {
        cuts.extend([len - 72, len - 71]);
    } else if kind == "blob" {
        cuts.extend([20, len - 40]);
    } else {
        let ends = record_ends(bytes);
        if ends.len() >= 2 {
            let before = ends[ends.len() - 2];
            cuts.extend([before, before + 1, before + 18, before + 19]);
        }
        cuts.extend(ends.first().map(|e| e - 1));
    }
    cuts.retain(|&c| c < len);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// A bit of byte `at`, spread over all eight by a multiplicative hash.
fn bit_of(at: usize) -> u8 {
    ((at as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 61) as u8
}

/// `count` offsets spread evenly over `0..len`.
fn evenly(len: usize, count: usize) -> Vec<usize> {
    if len <= count {
        return (0..len).collect();
    }
    (0..count).map(|i| i * len / count).collect()
}

/// The mutations of one file in the sample (`full` false) or the full sweep.
fn mutations(kind: &str, bytes: &[u8], full: bool, per_file: usize) -> Vec<Mutation> {
    let len = bytes.len();
    let mut out = Vec::new();
    let sectors: Vec<usize> = (0..len).step_by(512).collect();
    if full {
        let offsets = if len <= SMALL_FILE {
            (0..len).collect()
        } else {
            let mut o = evenly(len, per_file);
            o.extend(landmarks(kind, bytes));
            o.sort_unstable();
            o.dedup();
            o
        };
        for &at in &offsets {
            out.push(Mutation::Flip(at, bit_of(at)));
            out.push(Mutation::SetFf(at));
        }
        let cuts = if len <= SMALL_FILE {
            (0..len).collect()
        } else {
            let mut c = evenly(len, per_file / 4);
            c.extend(landmark_cuts(kind, bytes));
            c.sort_unstable();
            c.dedup();
            c
        };
        out.extend(cuts.into_iter().map(Mutation::Truncate));
        let sector_count = sectors.len();
        out.extend(
            sectors
                .into_iter()
                .step_by((sector_count / (per_file / 4).max(1)).max(1))
                .map(|s| Mutation::Zero(s, 512)),
        );
    } else {
        let mut offsets = landmarks(kind, bytes);
        offsets.extend(evenly(len, 6));
        offsets.sort_unstable();
        offsets.dedup();
        for (i, &at) in offsets.iter().enumerate() {
            out.push(if i % 2 == 0 {
                Mutation::Flip(at, bit_of(at))
            } else {
                Mutation::SetFf(at)
            });
        }
        out.extend(
            landmark_cuts(kind, bytes)
                .into_iter()
                .map(Mutation::Truncate),
        );
        out.push(Mutation::Zero(0, 512));
        if let Some(&last) = sectors.last()
            && last > 0
        {
            out.push(Mutation::Zero(last, 512));
        }
        // A zeroed tail inside the last record (what a power loss leaves of an append).
        if let Some(&end) = record_ends(bytes).iter().rev().nth(1)
            && end + 1 < len
        {
            out.push(Mutation::Zero(end + 1, len - end - 1));
        }
    }
    out
}

/// The torn state a damaged manifest or WAL may read as: the records that lie whole before the
/// damaged file's trailing zeros. Only cuts and zero fills can make a torn tail.
fn torn_state(
    case_kind: &str,
    fixture: &Path,
    file: &Path,
    original: &[u8],
    mutation: Mutation,
    tree_model: Option<&TreeModel>,
) -> Option<u64> {
    if !matches!(mutation, Mutation::Truncate(_) | Mutation::Zero(..)) {
        return None;
    }
    let mut damaged = original.to_vec();
    mutation.apply(&mut damaged);
    let z = damaged.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    let whole: Vec<usize> = record_ends(original)
        .into_iter()
        .filter(|&e| e <= z)
        .collect();
    match case_kind {
        "manifest" => tree_model?.persisted_at(whole.last().map_or(0, |&e| e as u64)),
        // The first record of a segment is its header; each later one a step. A cut in a
        // segment before the last is an unsynced tail too (docs/format.md 12.3): the segments
        // after it are discarded, so the state is the steps up to the cut.
        "wal" => Some(wal_steps_before(fixture, file) + whole.len().saturating_sub(1) as u64),
        _ => None,
    }
}

/// The steps logged in the WAL segments before the segment `file` (ids in order).
fn wal_steps_before(fixture: &Path, file: &Path) -> u64 {
    let dir = fixture.join(file.parent().unwrap());
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name() < file.file_name())
        .collect();
    segments.sort();
    segments
        .iter()
        .map(|s| {
            record_ends(&std::fs::read(s).unwrap())
                .len()
                .saturating_sub(1) as u64
        })
        .sum()
}

// ---------------------------------------------------------------------------------------------
// The child: open, read, compare
// ---------------------------------------------------------------------------------------------

/// One read the child made.
enum Probe {
    /// A point read of `key` in view `view` (a read seqno for a tree, a keyspace index for the
    /// database).
    Get {
        view: u64,
        key: Vec<u8>,
        got: Option<Vec<u8>>,
    },
    /// A scan of view `view`: the pairs it gave before its end or its first error.
    Scan {
        view: u64,
        reverse: bool,
        items: Vec<(Vec<u8>, Vec<u8>)>,
        complete: bool,
    },
}

/// The first difference of the probes from `expected`, if any.
fn difference(
    probes: &[Probe],
    expected: &dyn Fn(u64) -> BTreeMap<Vec<u8>, Vec<u8>>,
) -> Option<String> {
    let mut cache: BTreeMap<u64, BTreeMap<Vec<u8>, Vec<u8>>> = BTreeMap::new();
    let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for probe in probes {
        match probe {
            Probe::Get { view, key, got } => {
                let state = cache.entry(*view).or_insert_with(|| expected(*view));
                if state.get(key) != got.as_ref() {
                    return Some(format!(
                        "get {} in view {view}: {:?}, expected {:?}",
                        show(key),
                        got.as_deref().map(show),
                        state.get(key).map(|v| show(v))
                    ));
                }
            }
            Probe::Scan {
                view,
                reverse,
                items,
                complete,
            } => {
                let state = cache.entry(*view).or_insert_with(|| expected(*view));
                let want: Vec<(&Vec<u8>, &Vec<u8>)> = if *reverse {
                    state.iter().rev().collect()
                } else {
                    state.iter().collect()
                };
                for (j, (k, v)) in items.iter().enumerate() {
                    if want.get(j) != Some(&(k, v)) {
                        return Some(format!(
                            "scan (reverse {reverse}) in view {view}, item {j}: {}={}, expected {:?}",
                            show(k),
                            show(v),
                            want.get(j).map(|(k, v)| format!("{}={}", show(k), show(v)))
                        ));
                    }
                }
                if *complete && items.len() != want.len() {
                    return Some(format!(
                        "scan (reverse {reverse}) in view {view} ended after {} items, expected {}",
                        items.len(),
                        want.len()
                    ));
                }
            }
        }
    }
    None
}

/// The name of an error's kind, `None` for a kind a damaged file must never cause, and for a
/// `Corruption` that names another file than the damaged one.
fn clean_kind(error: &Error, damaged: &Path) -> Option<&'static str> {
    match error {
        Error::Corruption { file, .. } if file == damaged => Some("corruption"),
        Error::Io { .. } => Some("io"),
        Error::UnsupportedFormat { .. } => Some("unsupported"),
        Error::ComparatorMismatch { .. } => Some("comparator"),
        Error::DictionaryMismatch { .. } => Some("dictionary"),
        _ => None,
    }
}

/// Reads the whole tree of `layout` in `dir` into `probes`; the first error ends the reads.
/// Scans forward then backward (`iter(reverse)`), recording each scan as a probe (cut short at
/// its first error, which is returned).
fn scan_probes<'a, G: Guard>(
    iter: impl Fn(bool) -> Box<dyn Iterator<Item = G> + 'a>,
    view: u64,
    probes: &mut Vec<Probe>,
) -> Result<(), Error> {
    for reverse in [false, true] {
        let mut items = Vec::new();
        let mut error = None;
        for guard in iter(reverse) {
            match guard.into_inner() {
                Ok((k, v)) => items.push((k.to_vec(), v.to_vec())),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        probes.push(Probe::Scan {
            view,
            reverse,
            items,
            complete: error.is_none(),
        });
        if let Some(e) = error {
            return Err(e);
        }
    }
    Ok(())
}

fn read_tree(
    layout: &str,
    dir: &Path,
    model: &TreeModel,
    probes: &mut Vec<Probe>,
) -> Result<(), Error> {
    let tree = config(layout, dir, SequenceNumberCounter::default()).open()?;
    // Every key the model wrote, and keys it never wrote before, between and after them.
    let mut keys: Vec<Vec<u8>> = model
        .ops
        .iter()
        .map(|op| match op {
            TreeOp::Put(k, ..) | TreeOp::Del(k, _) => k.as_bytes().to_vec(),
            TreeOp::DelRange(a, ..) => a.as_bytes().to_vec(),
        })
        .chain([
            b"a".to_vec(),
            b"k0100x".to_vec(),
            b"key0100x".to_vec(),
            b"z".to_vec(),
        ])
        .collect();
    keys.sort();
    keys.dedup();
    for view in [SeqNo::MAX, model.older_seqno] {
        scan_probes(
            |reverse| -> Box<dyn Iterator<Item = _>> {
                if reverse {
                    Box::new(tree.iter(view, None).rev())
                } else {
                    Box::new(tree.iter(view, None))
                }
            },
            view,
            probes,
        )?;
        for k in &keys {
            let got = tree.get(k, view)?;
            probes.push(Probe::Get {
                view,
                key: k.clone(),
                got: got.map(|v| v.to_vec()),
            });
        }
    }
    let report = strata::verify::verify_integrity(&tree);
    if let Some(first) = report.errors.into_iter().next() {
        return Err(first.error);
    }
    Ok(())
}

/// Reads every keyspace of the database in `dir` into `probes`.
fn read_db(dir: &Path, probes: &mut Vec<Probe>) -> Result<(), Error> {
    let db = db_builder(dir).open()?;
    let keys: Vec<Vec<u8>> = (0..62)
        .map(|i| format!("d{i:03}").into_bytes())
        .chain([b"a".to_vec(), b"z".to_vec()])
        .collect();
    for (view, name) in KEYSPACES.iter().enumerate() {
        let view = view as u64;
        if !db.keyspace_exists(name) {
            // Opening it would create it empty: a lost keyspace reads as wrong data.
            probes.push(Probe::Scan {
                view,
                reverse: false,
                items: vec![(b"<keyspace missing>".to_vec(), Vec::new())],
                complete: true,
            });
            return Ok(());
        }
        let ks = db.keyspace(name, ks_options)?;
        keyspace_probes(&ks, view, &keys, probes)?;
    }
    Ok(())
}

/// Scans `ks` forward and backward and reads each of `keys`, as probes of `view`; the first
/// error ends the reads.
fn keyspace_probes(
    ks: &strata::Keyspace,
    view: u64,
    keys: &[Vec<u8>],
    probes: &mut Vec<Probe>,
) -> Result<(), Error> {
    scan_probes(
        |reverse| -> Box<dyn Iterator<Item = _>> {
            if reverse {
                Box::new(ks.iter().rev())
            } else {
                Box::new(ks.iter())
            }
        },
        view,
        probes,
    )?;
    for k in keys {
        let got = ks.get(k)?;
        probes.push(Probe::Get {
            view,
            key: k.clone(),
            got: got.map(|v| v.to_vec()),
        });
    }
    Ok(())
}

/// The harness's self-test: `STRATA_SWEEP_PLANT` makes every case of a child fail in one way.
fn plant(probes: &mut Vec<Probe>) {
    match std::env::var("STRATA_SWEEP_PLANT").as_deref() {
        Ok("panic") => {
            let _ = std::panic::catch_unwind(|| panic!("planted panic"));
        }
        Ok("abort") => std::process::abort(),
        Ok("memory") => {
            let planted: Vec<u8> = vec![1; 3 << 30];
            std::hint::black_box(planted);
        }
        Ok("hang") => loop {
            std::thread::sleep(Duration::from_secs(1));
        },
        Ok("wrong") => probes.push(Probe::Get {
            view: 0,
            key: b"planted".to_vec(),
            got: Some(b"planted".to_vec()),
        }),
        _ => {}
    }
}

static PANICKED: AtomicBool = AtomicBool::new(false);
static PANIC_MESSAGE: Mutex<String> = Mutex::new(String::new());

/// Runs one case in this (child) process and returns its outcome line (without the index).
fn run_case(root: &Path, case: &Case, work: &Path) -> String {
    let top = case.file.components().next().unwrap();
    let top = Path::new(top.as_os_str());
    if work.exists() {
        std::fs::remove_dir_all(work).unwrap();
    }
    copy_dir(&root.join("fixture").join(top), &work.join(top));
    let target = work.join(&case.file);
    let mut bytes = std::fs::read(&target).unwrap();
    case.mutation.apply(&mut bytes);
    std::fs::write(&target, &bytes).unwrap();
    let dir = work.join(top);
    let mut probes = Vec::new();
    let name = top.to_str().unwrap();
    PANICKED.store(false, Ordering::SeqCst);
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        if let Some(layout) = name.strip_prefix("tree-") {
            let model = TreeModel::load(&root.join("models").join(name));
            // Twice: a second open must read as the first (a torn tail's recovery rewrote files).
            let result = read_tree(layout, &dir, &model, &mut probes)
                .and_then(|()| read_tree(layout, &dir, &model, &mut probes));
            plant(&mut probes);
            let full = model.persisted();
            let check =
                |persisted: SeqNo| difference(&probes, &|view| model.state(view, persisted));
            (result, check(full), case.torn.map(check))
        } else if name == "db-pending" {
            let result = read_pending_db(&dir, &mut probes)
                .and_then(|()| read_pending_db(&dir, &mut probes));
            plant(&mut probes);
            let state = pending_state();
            let check = |_: u64| difference(&probes, &|_| state.clone());
            (result, check(0), case.torn.map(check))
        } else {
            let states = db_states();
            let result = read_db(&dir, &mut probes).and_then(|()| read_db(&dir, &mut probes));
            plant(&mut probes);
            let check = |steps: u64| {
                let state = &states[steps as usize];
                difference(&probes, &|view| state[view as usize].clone())
            };
            (result, check(u64::from(DB_STEPS)), case.torn.map(check))
        }
    }));
    let outcome = match result {
        _ if PANICKED.load(Ordering::SeqCst) => {
            format!("panic {}", PANIC_MESSAGE.lock().unwrap())
        }
        Err(_) => "panic (payload)".to_string(),
        Ok((result, full, torn)) => match (&full, &torn) {
            // Every value read agrees with the model (up to an error that ended the reads).
            (None, _) | (Some(_), Some(None)) => match result {
                Err(e) => match clean_kind(&e, &target) {
                    Some(kind) => format!("error {kind}"),
                    None => format!("bad-error {e}"),
                },
                Ok(()) if full.is_none() => "exact".to_string(),
                Ok(()) => "torn".to_string(),
            },
            (Some(diff), _) => format!("wrong {diff}"),
        },
    };
    std::fs::remove_dir_all(work).unwrap();
    outcome.replace('\n', " ")
}

fn child(root: &Path, start: usize, end: usize) {
    std::panic::set_hook(Box::new(|info| {
        PANICKED.store(true, Ordering::SeqCst);
        let message = format!("{info}").replace('\n', " ");
        eprintln!("child panic: {message}");
        *PANIC_MESSAGE.lock().unwrap() = message;
    }));
    let cases: Vec<Case> = std::fs::read_to_string(root.join("cases"))
        .unwrap()
        .lines()
        .map(Case::parse)
        .collect();
    let work = root.join(format!("work-{}", std::process::id()));
    let mut out = std::io::stdout().lock();
    for (i, case) in cases.iter().enumerate().take(end).skip(start) {
        let outcome = run_case(root, case, &work);
        writeln!(out, "case {i} {outcome}").unwrap();
        out.flush().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Counts {
    cases: usize,
    errors: BTreeMap<String, usize>,
    exact: usize,
    torn: usize,
    wrong: usize,
    panic: usize,
    abort: usize,
    hang: usize,
    memory: usize,
    bad_error: usize,
    /// The first few cases that read exact: damage no check noticed and no read was hurt by.
    exact_examples: Vec<String>,
}

impl Counts {
    fn add(&mut self, outcome: &str) {
        self.cases += 1;
        let word = outcome.split(' ').next().unwrap();
        match word {
            "error" => *self.errors.entry(outcome[6..].to_string()).or_default() += 1,
            "exact" => self.exact += 1,
            "torn" => self.torn += 1,
            "wrong" => self.wrong += 1,
            "panic" => self.panic += 1,
            "abort" => self.abort += 1,
            "hang" => self.hang += 1,
            "memory" => self.memory += 1,
            _ => self.bad_error += 1,
        }
    }

    fn line(&self, name: &str) -> String {
        let errors: usize = self.errors.values().sum();
        let kinds: Vec<String> = self
            .errors
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        format!(
            "sweep {name}: {} cases, {errors} error ({}), {} exact, {} torn, {} wrong, {} panic, {} abort, {} hang, {} memory, {} other error",
            self.cases,
            kinds.join(", "),
            self.exact,
            self.torn,
            self.wrong,
            self.panic,
            self.abort,
            self.hang,
            self.memory,
            self.bad_error
        )
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs the cases `range` through children and returns each case's outcome, in order.
fn run_children(
    root: &Path,
    range: std::ops::Range<usize>,
    plant: &str,
    timeout: Duration,
) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let (first, cases) = (range.start, range.len());
    let memory_kib = env_number("STRATA_SWEEP_MEMORY_MIB", 256) * 1024;
    let mut outcomes = Vec::with_capacity(cases);
    while outcomes.len() < cases {
        let start = first + outcomes.len();
        let stderr_path = root.join(format!("child-stderr-{first}"));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -v {memory_kib} && exec \"$0\" \"$@\""))
            .arg(&exe)
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, root)
            .env(START_ENV, start.to_string())
            .env(END_ENV, range.end.to_string())
            .env("MALLOC_ARENA_MAX", "2")
            .env("STRATA_SWEEP_PLANT", plant)
            .env_remove("STRATA_SWEEP_CASE")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest prints `test <name> ... ` without a newline before the first one.
                let Some(at) = line.find("case ") else {
                    continue;
                };
                if tx.send(line[at..].to_string()).is_err() {
                    break;
                }
            }
        });
        loop {
            match rx.recv_timeout(timeout) {
                Ok(line) => {
                    let rest = &line[5..];
                    let (index, outcome) = rest.split_once(' ').unwrap();
                    assert_eq!(index.parse::<usize>().unwrap(), first + outcomes.len());
                    outcomes.push(outcome.to_string());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    outcomes.push(format!("hang (no answer in {timeout:?})"));
                    break;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().unwrap();
                    if outcomes.len() < cases {
                        let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                        let tail: String =
                            stderr.lines().rev().take(3).collect::<Vec<_>>().join(" / ");
                        outcomes.push(if stderr.contains("memory allocation of") {
                            format!("memory {tail}")
                        } else if status.signal().is_some() {
                            format!("abort signal {:?}: {tail}", status.signal())
                        } else {
                            format!("panic exit {status}: {tail}")
                        });
                    }
                    break;
                }
            }
        }
        reader.join().unwrap();
    }
    outcomes
}

/// Builds every fixture in `root/fixture` and their models in `root/models`; returns the tree
/// models by folder name.
fn build_fixtures(root: &Path) -> BTreeMap<String, TreeModel> {
    let fixture = root.join("fixture");
    std::fs::create_dir_all(root.join("models")).unwrap();
    let mut models = BTreeMap::new();
    for layout in LAYOUTS {
        let name = format!("tree-{layout}");
        let model = build_tree(layout, &fixture.join(&name));
        model.save(&root.join("models").join(&name));
        models.insert(name, model);
    }
    let v1 = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-v1");
    copy_dir(&v1, &fixture.join("tree-v1"));
    let model = v1_model();
    model.save(&root.join("models").join("tree-v1"));
    models.insert("tree-v1".to_string(), model);
    build_db(&fixture.join("db"));
    build_pending_db(&fixture.join("db-pending"));
    models
}

/// What `tests/fixtures/format-v1` holds: the writes of `write_fixture` in
/// `tests/format_compat.rs`, seqnos from 0, in three flushes.
fn v1_model() -> TreeModel {
    let mut ops = Vec::new();
    let mut seqno = 0..;
    for round in 0..3u32 {
        for i in 0..300u32 {
            let keep = match round {
                0 => true,
                1 => i % 2 == 1,
                _ => i % 2 == 0,
            };
            let k = format!("key{i:04}");
            if keep {
                let v = format!("value-{round}-{i}");
                ops.push(TreeOp::Put(k.clone(), v, seqno.next().unwrap()));
            }
            if round == 2 && i % 7 == 3 {
                ops.push(TreeOp::Del(k, seqno.next().unwrap()));
            }
        }
    }
    TreeModel {
        ops,
        // After round 0.
        older_seqno: 300,
        // Its manifest is not swept (the legacy framing, docs/format.md 10.6): one checkpoint,
        // everything persisted.
        checkpoints: vec![(0, SeqNo::MAX)],
    }
}

/// The cases of the sample or the full sweep, over every swept file of the fixtures.
fn all_cases(root: &Path, models: &BTreeMap<String, TreeModel>, full: bool) -> Vec<Case> {
    let per_file = env_number("STRATA_SWEEP_PER_FILE", 2048) as usize;
    let fixture = root.join("fixture");
    let mut cases = Vec::new();
    let mut tables_by_layout: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for file in files_under(&fixture) {
        let Some(kind) = kind_of(&file) else { continue };
        if kind.starts_with("table-") {
            tables_by_layout.entry(kind).or_default().push(file);
            continue;
        }
        if kind == "manifest" || kind == "current" {
            // One tree's manifest and CURRENT: the same code reads every tree's.
            if !file.starts_with("tree-kv") {
                continue;
            }
        }
        push_cases(&fixture, models, &file, &kind, full, per_file, &mut cases);
    }
    for (kind, mut tables) in tables_by_layout {
        if !full {
            // The sample: the largest table of the layout and the smallest (range tombstones
            // only).
            tables.sort_by_key(|t| std::fs::metadata(fixture.join(t)).unwrap().len());
            tables = vec![tables[0].clone(), tables.last().unwrap().clone()];
            tables.dedup();
        }
        for table in tables {
            push_cases(&fixture, models, &table, &kind, full, per_file, &mut cases);
        }
    }
    cases
}

fn push_cases(
    fixture: &Path,
    models: &BTreeMap<String, TreeModel>,
    file: &Path,
    kind: &str,
    full: bool,
    per_file: usize,
    cases: &mut Vec<Case>,
) {
    let bytes = std::fs::read(fixture.join(file)).unwrap();
    if bytes.is_empty() {
        return;
    }
    let top = file
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_str()
        .unwrap();
    for mutation in mutations(kind, &bytes, full, per_file) {
        // A byte already 0xFF, or a sector already zero, is no damage.
        let mut damaged = bytes.clone();
        mutation.apply(&mut damaged);
        if damaged == bytes {
            continue;
        }
        let torn = torn_state(kind, fixture, file, &bytes, mutation, models.get(top));
        cases.push(Case {
            kind: kind.to_string(),
            file: file.to_path_buf(),
            mutation,
            torn,
        });
    }
}

#[test]
fn every_file_kind_survives_flips_sectors_and_cuts() {
    if let (Ok(root), Ok(start), Ok(end)) = (
        std::env::var(CHILD_ENV),
        std::env::var(START_ENV),
        std::env::var(END_ENV),
    ) {
        child(
            Path::new(&root),
            start.parse().unwrap(),
            end.parse().unwrap(),
        );
        return;
    }
    let began = Instant::now();
    let full = std::env::var("STRATA_SWEEP").is_ok_and(|v| v == "full");
    // On a tmpfs where there is one: the children's opens sync, and the disk's fsyncs would
    // take most of the time.
    let shm = Path::new("/dev/shm");
    let root = if std::env::var_os("TMPDIR").is_none() && shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let models = build_fixtures(root.path());

    let cases = match std::env::var("STRATA_SWEEP_CASE") {
        Ok(replay) => {
            let (file, mutation) = replay.split_once(' ').unwrap();
            let file = PathBuf::from(file);
            let kind = kind_of(&file).expect("a swept file");
            let bytes = std::fs::read(root.path().join("fixture").join(&file)).unwrap();
            let mutation = Mutation::parse(mutation);
            let top = file
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_str()
                .unwrap();
            let fixture = root.path().join("fixture");
            let torn = torn_state(&kind, &fixture, &file, &bytes, mutation, models.get(top));
            vec![Case {
                kind,
                file,
                mutation,
                torn,
            }]
        }
        Err(_) => all_cases(root.path(), &models, full),
    };
    let mut list = String::new();
    for case in &cases {
        writeln!(list, "{}", case.line()).unwrap();
    }
    std::fs::write(root.path().join("cases"), list).unwrap();
    let files: std::collections::BTreeSet<&Path> = cases.iter().map(|c| c.file.as_path()).collect();
    println!("sweep: {} cases over {} files", cases.len(), files.len());
    if std::env::var("STRATA_SWEEP_LIST").is_ok() {
        let mut per_kind: BTreeMap<&str, (usize, std::collections::BTreeSet<&Path>)> =
            BTreeMap::new();
        for case in &cases {
            let entry = per_kind.entry(&case.kind).or_default();
            entry.0 += 1;
            entry.1.insert(&case.file);
        }
        for (kind, (count, files)) in per_kind {
            let bytes: u64 = files
                .iter()
                .map(|f| {
                    std::fs::metadata(root.path().join("fixture").join(f))
                        .unwrap()
                        .len()
                })
                .sum();
            println!(
                "sweep {kind}: {count} cases over {} files of {bytes} bytes",
                files.len()
            );
        }
        if std::env::var("STRATA_SWEEP_KEEP").is_ok() {
            println!("sweep: fixtures kept in {}", root.keep().display());
        }
        return;
    }

    // The torn states a manifest may read as differ from the whole one: a torn outcome is
    // never mistaken for an exact one.
    for (name, model) in models.iter().filter(|(_, m)| m.checkpoints.len() >= 2) {
        let last_flush = model.checkpoints[model.checkpoints.len() - 2].1;
        assert_ne!(
            model.state(SeqNo::MAX, last_flush),
            model.state(SeqNo::MAX, model.persisted()),
            "{name}"
        );
    }

    // The undamaged fixtures read exactly as the models say (the harness checks itself).
    for name in models
        .keys()
        .map(String::as_str)
        .chain(["db", "db-pending"])
    {
        let file = files_under(&root.path().join("fixture"))
            .into_iter()
            .find(|f| f.starts_with(name) && kind_of(f).is_some())
            .unwrap();
        let intact = Case {
            kind: "intact".into(),
            file,
            mutation: Mutation::Zero(0, 0),
            torn: None,
        };
        let outcome = run_case(root.path(), &intact, &root.path().join("work-intact"));
        assert_eq!(outcome, "exact", "the intact {name} fixture");
    }

    let timeout = Duration::from_secs(env_number("STRATA_SWEEP_TIMEOUT_SECS", 10));
    // `STRATA_SWEEP_JOBS` children at a time, each on a contiguous share of the cases.
    let jobs = (env_number("STRATA_SWEEP_JOBS", 1) as usize).clamp(1, cases.len().max(1));
    let outcomes: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..jobs)
            .map(|j| {
                let range = j * cases.len() / jobs..(j + 1) * cases.len() / jobs;
                let root = root.path();
                scope.spawn(move || run_children(root, range, "", timeout))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut by_kind: BTreeMap<&str, Counts> = BTreeMap::new();
    let mut total = Counts::default();
    let mut failures = Vec::new();
    for (case, outcome) in cases.iter().zip(&outcomes) {
        let counts = by_kind.entry(&case.kind).or_default();
        counts.add(outcome);
        if outcome == "exact" && counts.exact_examples.len() < 3 {
            counts
                .exact_examples
                .push(format!("{} {}", case.file.display(), case.mutation));
        }
        total.add(outcome);
        let word = outcome.split(' ').next().unwrap();
        let allowed = word == "error" || word == "exact" || (word == "torn" && case.torn.is_some());
        if !allowed {
            failures.push(format!(
                "{} {}: {outcome} (replay: STRATA_SWEEP_CASE='{} {}')",
                case.kind,
                case.file.display(),
                case.file.display(),
                case.mutation
            ));
        }
    }
    for (kind, counts) in &by_kind {
        println!("{}", counts.line(kind));
        if !counts.exact_examples.is_empty() {
            println!("  exact, e.g.: {}", counts.exact_examples.join("; "));
        }
    }
    println!(
        "{} in {:.1} s",
        total.line(if full {
            "total (full)"
        } else {
            "total (sample)"
        }),
        began.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} bad cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    if !full && std::env::var("STRATA_SWEEP_CASE").is_err() {
        self_test(root.path(), &cases[0]);
    }
}

/// The harness tests itself: a child told to fail on a case in each way is classified so.
fn self_test(root: &Path, case: &Case) {
    std::fs::write(root.join("cases"), format!("{}\n", case.line())).unwrap();
    for plant in ["wrong", "panic", "abort", "memory", "hang"] {
        // A short wait for the planted hang; the others get the usual one.
        let timeout = Duration::from_secs(if plant == "hang" { 3 } else { 10 });
        let outcomes = run_children(root, 0..1, plant, timeout);
        assert!(
            outcomes[0].starts_with(plant),
            "planted {plant}, classified {}",
            outcomes[0]
        );
    }
    println!("sweep self-test: planted wrong, panic, abort, memory and hang were each caught");
}
