//! Power loss (RELIABILITY.md suite 2) on the crash-simulating `MemFs`.
//!
//! A random workload of writes, deletes, range deletes, flushes and compactions (major, and strategy steps of
//! `Leveled` and `SizeTiered` with tiny tables, run until they do nothing) runs on a tree whose
//! file system loses power at its k-th mutating call (k anywhere: in the first open, in a flush, in
//! a compaction, in a manifest write); the file system then keeps only what a real disk could have
//! kept, in one of three modes (drop every unsynced byte; keep a torn prefix of unsynced appends,
//! then nothing or zeros; keep a random subset of unsynced directory entries), sometimes loses
//! power again inside recovery, and the tree is reopened. The recovered state must equal the model as of the last flush that returned, or as of
//! the flush in progress when the power went (never anything else: no hole, no resurrected key); a
//! second reopen must give the same state; after each reopen every `.sst` file in the table folder
//! must be one the tree names and every `.blob` file in the blob folder one of its blob files (no
//! orphan is left behind); and the tree must still take writes.
//! Without a crash, the content after each compaction must equal the model.
//!
//! The same runs with key-value separation (`Values::Separated`): every even value is long and
//! goes to a blob file of a few records, compactions relocate the live values of blob files a
//! fifth stale (garbage collection) and drop emptied files, and `clear` (in these workloads
//! only) drops every file; crashes land in blob writes of flushes, in relocations and in blob
//! file removals. On top: the recovered version passes `verify_integrity` (every blob record
//! read back), and the second reopen switches separation off (blob files stay readable).
//!
//! The harness tests itself: with one fsync silently skipped (`MemFs::skip_syncs`,
//! `MemFs::skip_dir_syncs`, or the sync of the next blob file through `SkipBlobSync`: in a
//! flush, the table's, the blob file's or the blob folder's; in a compaction, the table's or
//! that of a blob file that relocated values went to), it must report a failure.
//!
//! CI runs 3,000 random crash points with inline values and 3,000 with separated ones, plus
//! exhaustive runs of three short workloads (one with strategy compactions, one with blob files
//! relocated and dropped) at every k; `STRATA_POWER_LOSS_CASES=N` runs N random crash points of
//! each.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::Rng;
use strata::compaction::{CompactionAction, CompactionStrategy, Leveled, SizeTiered};
use strata::fs::{CrashMode, Fs, FsLock, FsReadFile, FsWriteFile, MemFs};
use strata::{Guard, KvSeparationOptions, SeqNo, SequenceNumberCounter, Tree};

type State = BTreeMap<String, String>;

#[derive(Clone, Copy, Debug)]
enum Op {
    Put(u8, u16),
    Delete(u8),
    /// A range tombstone over keys `[a, b)`.
    DeleteRange(u8, u8),
    Flush,
    /// A major compaction at the latest seqno (reads are at `SeqNo::MAX` only).
    Compact,
    /// `Leveled` steps (level-0 threshold 2, 512-byte tables) until one does nothing.
    Leveled,
    /// `SizeTiered` steps (run trigger 2, 512-byte tables) until one does nothing.
    Tiered,
    /// `clear` (separated workloads only): every table, memtable and blob file goes.
    Clear,
}

/// How a workload's values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Values {
    /// Short values, in the tables.
    Inline,
    /// Key-value separation on (see `kv`): every even value is long and goes to a blob file.
    Separated,
}

fn workload(seed: u64, len: usize, values: Values) -> Vec<Op> {
    let mut rng = Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    (0..len)
        .map(|_| match rng.next() % 20 {
            0..=10 => Op::Put((rng.next() % 40) as u8, (rng.next() % 1000) as u16),
            11..=13 => Op::Delete((rng.next() % 40) as u8),
            14 => {
                let a = (rng.next() % 40) as u8;
                Op::DeleteRange(a, a + 1 + (rng.next() % 8) as u8)
            }
            15..=17 => Op::Flush,
            18 => Op::Leveled,
            _ if values == Values::Separated && rng.next().is_multiple_of(5) => Op::Clear,
            _ if rng.next().is_multiple_of(2) => Op::Compact,
            _ => Op::Tiered,
        })
        .collect()
}

/// The value of `Op::Put(_, v)`: with separated values, an even `v` gives 36 bytes or more,
/// past the separation threshold.
fn value(v: u16, values: Values) -> String {
    match values {
        Values::Separated if v.is_multiple_of(2) => format!("v{v}-").repeat(12),
        _ => format!("v{v}"),
    }
}

const DIR: &str = common::FS_DIR;

/// The key-value separation of separated workloads: values of 32 bytes and more, blob files cut
/// at 300 bytes (a few records each), and garbage collection of every file a fifth stale.
fn kv() -> KvSeparationOptions {
    KvSeparationOptions::default()
        .separation_threshold(32)
        .file_target_size(300)
        .compression(strata::CompressionType::None)
        .staleness_threshold(0.2)
        .age_cutoff(1.0)
}

/// Opens the tree on `fs` with a 1 KiB manifest bound, so that crashes land in manifest
/// rewrites after commits and at open as well as in appends to a reused manifest; with `kv`
/// separation.
fn open_on(fs: Arc<dyn Fs>, kv: Option<KvSeparationOptions>) -> strata::Result<Tree> {
    common::small_config(DIR, &strata::SequenceNumberCounter::default(), 128, 1024)
        .fs(fs)
        .max_manifest_file_size(1024)
        .with_kv_separation(kv)
        .open()
}

/// Opens the tree on `fs` for a workload of `values`.
fn open(fs: &MemFs, values: Values) -> strata::Result<Tree> {
    open_on(Arc::new(fs.clone()), (values == Values::Separated).then(kv))
}

/// A pass-through file system that, when armed, turns the next sync of a blob file into a
/// no-op (nothing becomes durable), whatever other files are synced before it: a planted
/// missing fsync aimed at blob files alone.
#[derive(Clone, Debug)]
struct SkipBlobSync {
    inner: MemFs,
    armed: Arc<AtomicBool>,
}

#[derive(Debug)]
struct SkipBlobSyncFile {
    inner: Box<dyn FsWriteFile>,
    blob: bool,
    armed: Arc<AtomicBool>,
}

impl FsWriteFile for SkipBlobSyncFile {
    fn append(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.inner.append(data)
    }

    fn sync(&mut self) -> std::io::Result<()> {
        if self.blob && self.armed.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        self.inner.sync()
    }
}

impl SkipBlobSync {
    fn wrap(&self, path: &Path, inner: Box<dyn FsWriteFile>) -> Box<dyn FsWriteFile> {
        Box::new(SkipBlobSyncFile {
            inner,
            blob: path.extension().is_some_and(|e| e == "blob"),
            armed: Arc::clone(&self.armed),
        })
    }
}

impl Fs for SkipBlobSync {
    fn create(&self, path: &Path) -> std::io::Result<Box<dyn FsWriteFile>> {
        Ok(self.wrap(path, self.inner.create(path)?))
    }
    fn create_new(&self, path: &Path) -> std::io::Result<Box<dyn FsWriteFile>> {
        Ok(self.wrap(path, self.inner.create_new(path)?))
    }
    fn open_append(&self, path: &Path) -> std::io::Result<Box<dyn FsWriteFile>> {
        Ok(self.wrap(path, self.inner.open_append(path)?))
    }
    fn open(&self, path: &Path) -> std::io::Result<Box<dyn FsReadFile>> {
        self.inner.open(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        self.inner.remove(path)
    }
    fn remove_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.inner.remove_dir(dir)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
        self.inner.list(dir)
    }
    fn create_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.inner.create_dir(dir)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn exists(&self, path: &Path) -> std::io::Result<bool> {
        self.inner.exists(path)
    }
    fn lock(&self, path: &Path) -> std::io::Result<Box<dyn FsLock>> {
        self.inner.lock(path)
    }
}

/// Strategy steps that did something.
#[derive(Clone, Copy, Debug, Default)]
struct Steps {
    merged: u64,
    moved: u64,
    /// Tables a range tombstone deletes whole, dropped unread.
    dropped: u64,
}

impl Steps {
    fn add(&mut self, other: Steps) {
        self.merged += other.merged;
        self.moved += other.moved;
        self.dropped += other.dropped;
    }
}

/// Runs compaction `op` at the GC watermark `seqno`; returns the strategy steps that did
/// something, `None` if they did not settle, `Err` if a step failed.
fn compact(tree: &Tree, op: Op, seqno: SeqNo) -> strata::Result<Option<Steps>> {
    let strategy: Arc<dyn CompactionStrategy> = match op {
        Op::Compact => {
            return tree
                .major_compact(512, seqno)
                .map(|_| Some(Steps::default()));
        }
        Op::Leveled => Arc::new(
            Leveled::default()
                .with_l0_threshold(2)
                .with_table_target_size(512),
        ),
        Op::Tiered => Arc::new(
            SizeTiered::default()
                .with_run_trigger(2)
                .with_table_target_size(512),
        ),
        Op::Put(..) | Op::Delete(_) | Op::DeleteRange(..) | Op::Flush | Op::Clear => {
            unreachable!("{op:?} is not a compaction")
        }
    };
    let mut steps = Steps::default();
    for _ in 0..100 {
        match tree.compact(Arc::clone(&strategy), seqno)?.action {
            CompactionAction::Nothing => return Ok(Some(steps)),
            CompactionAction::Merged => steps.merged += 1,
            CompactionAction::Moved => steps.moved += 1,
            CompactionAction::Dropped => steps.dropped += 1,
        }
    }
    Ok(None)
}

/// The files in `DIR/folder` named `*.extension`.
fn count_files(fs: &MemFs, folder: &str, extension: &str) -> Result<usize, String> {
    let files = fs
        .list(&Path::new(DIR).join(folder))
        .map_err(|e| format!("listing {folder} failed: {e}"))?;
    Ok(files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .count())
}

/// `Err` if a `.sst` file in the table folder is not one of the tree's tables, or a `.blob`
/// file in the blob folder not one of its blob files.
fn check_no_orphans(fs: &MemFs, tree: &Tree) -> Result<(), String> {
    let ssts = count_files(fs, "tables", "sst")?;
    if ssts != tree.table_count() {
        return Err(format!(
            "{ssts} .sst files for {} tables: orphans left",
            tree.table_count()
        ));
    }
    let blobs = count_files(fs, "blobs", "blob")?;
    if blobs != tree.blob_file_count() {
        return Err(format!(
            "{blobs} .blob files for {} blob files: orphans left",
            tree.blob_file_count()
        ));
    }
    Ok(())
}

fn read_state(tree: &Tree) -> strata::Result<State> {
    tree.iter(SeqNo::MAX, None)
        .map(|item| {
            let (k, v) = item.into_inner()?;
            Ok((
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            ))
        })
        .collect()
}

/// One crash point: how the run went.
#[derive(Debug, Default)]
struct Outcome {
    power_lost_in_workload: bool,
    /// The power went in a compaction (major or strategy steps).
    power_lost_in_compaction: bool,
    crashed_in_recovery: bool,
}

/// A planted missing fsync (the harness tests itself with it): the first file sync, the first
/// directory sync, or the first sync of a blob file, of `ops[i]` reports success and makes
/// nothing durable.
#[derive(Clone, Copy, Debug)]
enum Plant {
    File(usize),
    Dir(usize),
    Blob(usize),
}

/// Runs `ops` with values stored as `values` and power lost at mutating call `k`, crashes in
/// `mode`, optionally loses power again at call `recovery_k` of the recovery, reopens and checks;
/// `Err` describes a violation. `plant` plants a missing fsync.
fn crash_case(
    ops: &[Op],
    values: Values,
    k: u64,
    mode: CrashMode,
    seed: u64,
    recovery_k: Option<u64>,
    plant: Option<Plant>,
) -> Result<Outcome, String> {
    let fs = MemFs::new();
    fs.crash_at(k);
    let mut outcome = Outcome::default();
    let mut acked = State::new();
    let mut in_flight: Option<State> = None;
    let planted = SkipBlobSync {
        inner: fs.clone(),
        armed: Arc::new(AtomicBool::new(false)),
    };
    let kv = (values == Values::Separated).then(kv);
    if let Ok(tree) = open_on(Arc::new(planted.clone()), kv) {
        let seqno = SequenceNumberCounter::new(1);
        let mut model = State::new();
        for (i, op) in ops.iter().enumerate() {
            match plant {
                Some(Plant::File(at)) if at == i => fs.skip_syncs(1),
                Some(Plant::Dir(at)) if at == i => fs.skip_dir_syncs(1),
                Some(Plant::Blob(at)) if at == i => planted.armed.store(true, Ordering::SeqCst),
                _ => {}
            }
            match *op {
                Op::Put(key, v) => {
                    let (key, value) = (format!("k{key:02}"), value(v, values));
                    tree.insert(key.as_str(), value.as_str(), seqno.next());
                    model.insert(key, value);
                }
                Op::Delete(key) => {
                    let key = format!("k{key:02}");
                    tree.remove(key.as_str(), seqno.next());
                    model.remove(&key);
                }
                Op::DeleteRange(a, b) => {
                    let (start, end) = (format!("k{a:02}"), format!("k{b:02}"));
                    tree.remove_range(start.as_str(), end.as_str(), seqno.next());
                    model.retain(|k, _| *k < start || *k >= end);
                }
                Op::Flush => {
                    in_flight = Some(model.clone());
                    if tree.flush_active_memtable(0).is_err() {
                        break;
                    }
                    acked.clone_from(&model);
                    in_flight = None;
                }
                Op::Clear => {
                    // Durable when it returns, memtables included: the empty state.
                    in_flight = Some(State::new());
                    if tree.clear().is_err() {
                        break;
                    }
                    model.clear();
                    acked.clear();
                    in_flight = None;
                }
                Op::Compact | Op::Leveled | Op::Tiered => {
                    // A compaction changes no content: a crash in it must leave the acked state.
                    let result = compact(&tree, *op, seqno.get());
                    outcome.power_lost_in_compaction = fs.power_lost();
                    match result {
                        Err(_) => break,
                        Ok(None) => return Err(format!("{op:?}: did not settle in 100 steps")),
                        Ok(Some(_)) => {}
                    }
                    if fs.power_lost() {
                        // Lost in a best-effort call (removing an input file).
                        break;
                    }
                    let state = read_state(&tree).map_err(|e| format!("{op:?}: read: {e}"))?;
                    if state != model {
                        return Err(format!("{op:?} changed the content"));
                    }
                }
            }
        }
        drop(tree);
    }
    outcome.power_lost_in_workload = fs.power_lost();
    fs.crash(mode, seed);
    fs.disarm();
    if let Some(rk) = recovery_k {
        fs.crash_at(rk);
        let attempt = open(&fs, values);
        outcome.crashed_in_recovery = fs.power_lost();
        drop(attempt);
        fs.crash(mode, seed ^ 0xdead);
        fs.disarm();
    }
    let tree = open(&fs, values).map_err(|e| format!("reopen failed: {e}"))?;
    check_no_orphans(&fs, &tree)?;
    let state = read_state(&tree).map_err(|e| format!("read failed: {e}"))?;
    let allowed = state == acked || in_flight.as_ref() == Some(&state);
    if !allowed {
        return Err(format!(
            "recovered {} keys; acknowledged state has {}, in-flight flush {:?}",
            state.len(),
            acked.len(),
            in_flight.as_ref().map(BTreeMap::len)
        ));
    }
    if values == Values::Separated {
        // Every table and blob file of the recovered version reads back whole.
        let report = strata::verify::verify_integrity(&tree);
        if !report.is_ok() {
            return Err(format!("integrity after recovery: {:?}", report.errors));
        }
    }
    drop(tree);
    // Separated values are read again with separation switched off: blob files stay readable.
    let tree =
        open_on(Arc::new(fs.clone()), None).map_err(|e| format!("second reopen failed: {e}"))?;
    check_no_orphans(&fs, &tree)?;
    let again = read_state(&tree).map_err(|e| format!("read failed: {e}"))?;
    if again != state {
        return Err("a second reopen changed the state".into());
    }
    // The tree still takes writes and flushes.
    let seqno = SequenceNumberCounter::new(1 << 40);
    tree.insert("after", "crash", seqno.next());
    tree.flush_active_memtable(0)
        .map_err(|e| format!("flush after recovery failed: {e}"))?;
    if tree.get("after", SeqNo::MAX).ok().flatten().as_deref() != Some(b"crash".as_slice()) {
        return Err("a write after recovery was lost".into());
    }
    Ok(outcome)
}

/// What a workload does without a crash.
#[derive(Debug, Default)]
struct Profile {
    /// Its mutating calls.
    total: u64,
    /// Its strategy steps that did something.
    steps: Steps,
    /// The mutating calls `(first, last)` of each compaction that wrote blob files (relocation
    /// by garbage collection): a crash at one of them lands in a relocation.
    relocating: Vec<(u64, u64)>,
    /// Blob files that appeared in and left the version.
    blob_files_created: u64,
    blob_files_dropped: u64,
}

impl Profile {
    /// Whether crash point `k` lands in a compaction that relocates values.
    fn in_relocation(&self, k: u64) -> bool {
        self.relocating.iter().any(|&(a, b)| (a..=b).contains(&k))
    }
}

/// Runs `ops` without a crash and profiles it.
fn profile(ops: &[Op], values: Values) -> Profile {
    let fs = MemFs::new();
    let tree = open(&fs, values).unwrap();
    let seqno = SequenceNumberCounter::new(1);
    let mut profile = Profile::default();
    let mut blob_ids = BTreeSet::new();
    for op in ops {
        let calls_before = fs.mutating_op_count();
        match *op {
            Op::Put(k, v) => drop(tree.insert(format!("k{k:02}"), value(v, values), seqno.next())),
            Op::Delete(k) => drop(tree.remove(format!("k{k:02}"), seqno.next())),
            Op::DeleteRange(a, b) => {
                tree.remove_range(format!("k{a:02}"), format!("k{b:02}"), seqno.next());
            }
            Op::Flush => tree.flush_active_memtable(0).unwrap(),
            Op::Clear => tree.clear().unwrap(),
            Op::Compact | Op::Leveled | Op::Tiered => {
                let steps = compact(&tree, *op, seqno.get()).unwrap().expect("settles");
                profile.steps.add(steps);
            }
        }
        let now: BTreeSet<u64> = tree
            .current_version()
            .blob_files()
            .map(strata::BlobFileView::id)
            .collect();
        let created = now.difference(&blob_ids).count() as u64;
        profile.blob_files_created += created;
        profile.blob_files_dropped += blob_ids.difference(&now).count() as u64;
        if created > 0 && matches!(op, Op::Compact | Op::Leveled | Op::Tiered) {
            profile
                .relocating
                .push((calls_before + 1, fs.mutating_op_count()));
        }
        blob_ids = now;
    }
    profile.total = fs.mutating_op_count();
    profile
}

fn modes() -> [CrashMode; 3] {
    [
        CrashMode::DropUnsynced,
        CrashMode::TornWrites,
        CrashMode::PartialDirectory,
    ]
}

/// Crashes random workloads of `values` at one random call each, `cases` times (default
/// `default_cases`, `STRATA_POWER_LOSS_CASES=N` for N), and checks every recovery.
fn random_crash_points(values: Values, default_cases: u64) {
    let cases: u64 = std::env::var("STRATA_POWER_LOSS_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    let mut rng = Rng::new(0x5eed);
    let (mut lost_in_workload, mut lost_in_recovery, mut lost_in_compaction) = (0, 0, 0);
    let mut lost_in_relocation = 0;
    let mut steps = Steps::default();
    let (mut blobs_created, mut blobs_dropped, mut relocations) = (0, 0, 0);
    for case in 0..cases {
        let ops = workload(case, 60, values);
        let profile = profile(&ops, values);
        let total = profile.total;
        steps.add(profile.steps);
        blobs_created += profile.blob_files_created;
        blobs_dropped += profile.blob_files_dropped;
        relocations += profile.relocating.len();
        let k = 1 + rng.next() % (total + 3);
        let mode = modes()[(case % 3) as usize];
        let recovery_k = (case % 4 == 0).then(|| 1 + rng.next() % 12);
        match crash_case(&ops, values, k, mode, case, recovery_k, None) {
            Ok(outcome) => {
                lost_in_workload += u64::from(outcome.power_lost_in_workload);
                lost_in_recovery += u64::from(outcome.crashed_in_recovery);
                lost_in_compaction += u64::from(outcome.power_lost_in_compaction);
                lost_in_relocation +=
                    u64::from(outcome.power_lost_in_compaction && profile.in_relocation(k));
            }
            Err(violation) => panic!(
                "{values:?} case {case} (k {k} of {total}, {mode:?}, recovery crash {recovery_k:?}): {violation}"
            ),
        }
    }
    let blobs = if values == Values::Separated {
        format!(
            "; {blobs_created} blob files created and {blobs_dropped} dropped, {relocations} compactions relocating values, {lost_in_relocation} crash points in one"
        )
    } else {
        String::new()
    };
    println!(
        "power loss ({values:?} values): {cases} crash points ({lost_in_workload} during the workload, {lost_in_compaction} in a compaction, {lost_in_recovery} also during recovery), 0 violations; the workloads made {} merging and {} moving strategy steps and {} dropping tables a range tombstone deletes whole{blobs}",
        steps.merged, steps.moved, steps.dropped
    );
    assert!(lost_in_workload > cases / 2);
    // Strategy compactions do real work, and crashes land in compactions.
    assert!(steps.merged > cases && steps.moved > cases / 4, "{steps:?}");
    assert!(lost_in_compaction > cases / 10, "{lost_in_compaction}");
    assert!(lost_in_recovery > 0);
    if values == Values::Separated {
        // Blob files are written by flushes, relocated by compactions and dropped, and crashes
        // land in relocations.
        assert!(
            blobs_created > 2 * cases && blobs_dropped > cases,
            "{blobs}"
        );
        assert!(relocations as u64 > cases / 2, "{blobs}");
        assert!(lost_in_relocation > cases / 50, "{blobs}");
    }
}

#[test]
fn random_crash_points_in_every_mode_recover_a_flushed_prefix() {
    random_crash_points(Values::Inline, 3000);
}

/// The same with key-value separation: flushes write blob files, compactions relocate the live
/// values of stale ones (garbage collection) and drop emptied ones, `clear` drops them all; after
/// recovery no orphan blob file is left, every blob file verifies, and the state reads the same
/// with separation switched off.
#[test]
fn random_crash_points_with_separated_values_recover_a_flushed_prefix() {
    random_crash_points(Values::Separated, 3000);
}

/// Crashes `ops` at every mutating call in every mode (and in recovery too at every fifth call
/// if `recovery`); returns the crash points run and the workload's calls.
fn crash_at_every_call(ops: &[Op], values: Values, recovery: bool) -> (u64, u64) {
    let total = profile(ops, values).total;
    let mut points = 0;
    for k in 1..=total + 1 {
        for (i, mode) in modes().into_iter().enumerate() {
            let recovery_k = (recovery && k % 5 == 0).then_some(1 + k % 7);
            let seed = k * 3 + i as u64;
            if let Err(violation) = crash_case(ops, values, k, mode, seed, recovery_k, None) {
                panic!("k {k} of {total}, {mode:?}, recovery crash {recovery_k:?}: {violation}");
            }
            points += 1;
        }
    }
    (points, total)
}

#[test]
fn a_short_workload_crashed_at_every_call_in_every_mode_recovers() {
    let ops = [
        Op::Put(1, 1),
        Op::Put(2, 2),
        Op::Flush,
        Op::Delete(1),
        Op::Put(3, 3),
        Op::Flush,
        Op::Put(2, 9),
        Op::Flush,
    ];
    let (points, total) = crash_at_every_call(&ops, Values::Inline, false);
    println!("power loss, exhaustive: {points} crash points over {total} calls, 0 violations");
}

#[test]
fn a_short_workload_with_strategy_compactions_crashed_at_every_call_in_every_mode_recovers() {
    // Leveled first moves a run down, then merges level 0 into level 1; SizeTiered merges runs
    // across levels; the last Leveled merges the new level-0 runs.
    let ops = [
        Op::Put(1, 1),
        Op::Put(2, 2),
        Op::Flush,
        Op::Put(2, 3),
        Op::Put(3, 3),
        Op::Flush,
        Op::Delete(1),
        Op::Put(4, 4),
        Op::Flush,
        Op::Leveled,
        Op::Put(5, 5),
        Op::Delete(3),
        Op::Flush,
        Op::Tiered,
        Op::Put(1, 6),
        Op::Flush,
        Op::Put(6, 6),
        Op::Flush,
        Op::Leveled,
    ];
    let (points, total) = crash_at_every_call(&ops, Values::Inline, true);
    println!(
        "power loss, exhaustive with compactions: {points} crash points over {total} calls, 0 violations"
    );
}

/// A short separated workload (even values go to blob files) whose major compaction relocates
/// the live values of a mostly stale blob file and drops it, whose strategy steps drop the
/// emptied file of an overwritten key, and whose `clear` drops every blob file, crashed at every
/// call in every mode (in recovery too at every fifth).
#[test]
fn a_short_separated_workload_with_blob_gc_crashed_at_every_call_in_every_mode_recovers() {
    let ops = [
        Op::Put(1, 2),
        Op::Put(2, 4),
        Op::Put(3, 1),
        Op::Put(4, 6),
        Op::Put(5, 10),
        Op::Flush,
        Op::Put(1, 8),
        Op::Put(2, 3),
        Op::Delete(4),
        Op::Flush,
        Op::Compact,
        Op::Put(1, 12),
        Op::Put(6, 14),
        Op::Flush,
        Op::Leveled,
        Op::Clear,
        Op::Put(7, 16),
        Op::Flush,
    ];
    let profile = profile(&ops, Values::Separated);
    assert_eq!(profile.relocating.len(), 1, "{profile:?}");
    assert!(profile.blob_files_dropped >= 3, "{profile:?}");
    let (points, total) = crash_at_every_call(&ops, Values::Separated, true);
    let in_relocation = (1..=total).filter(|&k| profile.in_relocation(k)).count();
    println!(
        "power loss, exhaustive with blob files: {points} crash points over {total} calls ({in_relocation} calls in the relocating compaction), 0 violations"
    );
}

#[test]
fn the_harness_catches_a_planted_missing_fsync() {
    let case = |ops: &[Op], values: Values, plant: Option<Plant>| {
        crash_case(
            ops,
            values,
            u64::MAX,
            CrashMode::DropUnsynced,
            1,
            None,
            plant,
        )
    };
    let ops = [Op::Put(1, 1), Op::Put(2, 2), Op::Flush, Op::Put(3, 3)];
    // Without the plant, a crash after the workload keeps the flushed keys.
    case(&ops, Values::Inline, None).unwrap();
    // With the table's fsync skipped, the acknowledged flush is not durable: the harness must
    // report it (a failed reopen or a state that is not the acknowledged one).
    let violation = case(&ops, Values::Inline, Some(Plant::File(2)));
    assert!(violation.is_err(), "a skipped fsync went unnoticed");

    // The same for a compaction: a major compaction merges the two runs into one table whose
    // fsync is skipped.
    let ops = [
        Op::Put(1, 1),
        Op::Put(2, 2),
        Op::Flush,
        Op::Put(1, 3),
        Op::Flush,
        Op::Compact,
    ];
    case(&ops, Values::Inline, None).unwrap();
    let violation = case(&ops, Values::Inline, Some(Plant::File(5)));
    assert!(
        violation.is_err(),
        "a skipped fsync in a compaction went unnoticed"
    );
}

#[test]
fn the_harness_catches_a_planted_missing_fsync_of_a_blob_file_or_the_blob_folder() {
    let case = |ops: &[Op], plant: Option<Plant>| {
        crash_case(
            ops,
            Values::Separated,
            u64::MAX,
            CrashMode::DropUnsynced,
            1,
            None,
            plant,
        )
    };
    // Six long values fill more than one 300-byte blob file: the flush cuts the first one (and
    // syncs it) before it finishes its table, and syncs the blob folder before the table folder.
    let ops: Vec<Op> = (0..6)
        .map(|i| Op::Put(i, 2 * u16::from(i)))
        .chain([Op::Flush, Op::Put(9, 1)])
        .collect();
    case(&ops, None).unwrap();
    for plant in [Plant::File(6), Plant::Dir(6)] {
        let violation = case(&ops, Some(plant)).expect_err("a skipped blob fsync went unnoticed");
        assert!(violation.contains("blobs/"), "{plant:?}: {violation}");
    }
    // A major compaction merges the two runs (the deletes make two blob files two fifths stale),
    // then relocates the live values of those files to new ones and deletes them: with the sync
    // of the first new blob file skipped, the harness notices.
    let ops: Vec<Op> = (0..12)
        .map(|i| Op::Put(i, 2 * u16::from(i)))
        .chain([
            Op::Flush,
            Op::Delete(0),
            Op::Delete(1),
            Op::Delete(5),
            Op::Delete(6),
        ])
        .chain([Op::Flush, Op::Compact])
        .collect();
    let profile = profile(&ops, Values::Separated);
    assert_eq!(profile.relocating.len(), 1, "{profile:?}");
    case(&ops, None).unwrap();
    let violation = case(&ops, Some(Plant::Blob(18)))
        .expect_err("a skipped fsync in a relocating compaction went unnoticed");
    assert!(violation.contains("blobs/"), "{violation}");
}
