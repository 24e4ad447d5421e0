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
//! must be one the tree names (no orphan is left behind); and the tree must still take writes.
//! Without a crash, the content after each compaction must equal the model.
//!
//! The harness tests itself: with one fsync silently skipped (`MemFs::skip_syncs`), it must
//! report a failure.
//!
//! CI runs 3,000 random crash points plus exhaustive runs of two short workloads (one with
//! strategy compactions) at every k; `STRATA_POWER_LOSS_CASES=N` runs N random crash points.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use common::Rng;
use strata::compaction::{CompactionAction, CompactionStrategy, Leveled, SizeTiered};
use strata::fs::{CrashMode, Fs, MemFs};
use strata::{Guard, SeqNo, SequenceNumberCounter, Tree};

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
}

fn workload(seed: u64, len: usize) -> Vec<Op> {
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
            _ if rng.next().is_multiple_of(2) => Op::Compact,
            _ => Op::Tiered,
        })
        .collect()
}

const DIR: &str = common::FS_DIR;

/// Opens the tree with a 1 KiB manifest bound, so that crashes land in manifest rewrites after
/// commits and at open as well as in appends to a reused manifest.
fn open(fs: &MemFs) -> strata::Result<Tree> {
    common::small_config(DIR, &strata::SequenceNumberCounter::default(), 128, 1024)
        .fs(Arc::new(fs.clone()))
        .max_manifest_file_size(1024)
        .open()
}

/// Strategy steps that did something.
#[derive(Clone, Copy, Debug, Default)]
struct Steps {
    merged: u64,
    moved: u64,
}

impl Steps {
    fn add(&mut self, other: Steps) {
        self.merged += other.merged;
        self.moved += other.moved;
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
        Op::Put(..) | Op::Delete(_) | Op::DeleteRange(..) | Op::Flush => {
            unreachable!("{op:?} is not a compaction")
        }
    };
    let mut steps = Steps::default();
    for _ in 0..100 {
        match tree.compact(Arc::clone(&strategy), seqno)?.action {
            CompactionAction::Nothing => return Ok(Some(steps)),
            CompactionAction::Merged => steps.merged += 1,
            CompactionAction::Moved => steps.moved += 1,
            // Neither strategy drops tables here.
            CompactionAction::Dropped => panic!("{op:?} dropped tables"),
        }
    }
    Ok(None)
}

/// `Err` if a `.sst` file in the table folder is not one of the tree's tables.
fn check_no_orphans(fs: &MemFs, tree: &Tree) -> Result<(), String> {
    let files = fs
        .list(&Path::new(DIR).join("tables"))
        .map_err(|e| format!("listing the tables failed: {e}"))?;
    let ssts = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .count();
    if ssts == tree.table_count() {
        Ok(())
    } else {
        Err(format!(
            "{ssts} .sst files for {} tables: orphans left",
            tree.table_count()
        ))
    }
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

/// Runs `ops` with power lost at mutating call `k`, crashes in `mode`, optionally loses power
/// again at call `recovery_k` of the recovery, reopens and checks; `Err` describes a violation.
/// `skip_sync_before` plants a missing fsync: the first file sync of `ops[i]` does nothing.
fn crash_case(
    ops: &[Op],
    k: u64,
    mode: CrashMode,
    seed: u64,
    recovery_k: Option<u64>,
    skip_sync_before: Option<usize>,
) -> Result<Outcome, String> {
    let fs = MemFs::new();
    fs.crash_at(k);
    let mut outcome = Outcome::default();
    let mut acked = State::new();
    let mut in_flight: Option<State> = None;
    if let Ok(tree) = open(&fs) {
        let seqno = SequenceNumberCounter::new(1);
        let mut model = State::new();
        for (i, op) in ops.iter().enumerate() {
            if skip_sync_before == Some(i) {
                fs.skip_syncs(1);
            }
            match *op {
                Op::Put(key, value) => {
                    let (key, value) = (format!("k{key:02}"), format!("v{value}"));
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
        let attempt = open(&fs);
        outcome.crashed_in_recovery = fs.power_lost();
        drop(attempt);
        fs.crash(mode, seed ^ 0xdead);
        fs.disarm();
    }
    let tree = open(&fs).map_err(|e| format!("reopen failed: {e}"))?;
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
    drop(tree);
    let tree = open(&fs).map_err(|e| format!("second reopen failed: {e}"))?;
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

/// The number of mutating calls `ops` makes without a crash, and its strategy steps.
fn op_count(ops: &[Op]) -> (u64, Steps) {
    let fs = MemFs::new();
    let tree = open(&fs).unwrap();
    let seqno = SequenceNumberCounter::new(1);
    let mut steps = Steps::default();
    for op in ops {
        match *op {
            Op::Put(k, v) => drop(tree.insert(format!("k{k:02}"), format!("v{v}"), seqno.next())),
            Op::Delete(k) => drop(tree.remove(format!("k{k:02}"), seqno.next())),
            Op::DeleteRange(a, b) => {
                tree.remove_range(format!("k{a:02}"), format!("k{b:02}"), seqno.next());
            }
            Op::Flush => tree.flush_active_memtable(0).unwrap(),
            Op::Compact | Op::Leveled | Op::Tiered => {
                steps.add(compact(&tree, *op, seqno.get()).unwrap().expect("settles"));
            }
        }
    }
    (fs.mutating_op_count(), steps)
}

fn modes() -> [CrashMode; 3] {
    [
        CrashMode::DropUnsynced,
        CrashMode::TornWrites,
        CrashMode::PartialDirectory,
    ]
}

#[test]
fn random_crash_points_in_every_mode_recover_a_flushed_prefix() {
    let cases: u64 = std::env::var("STRATA_POWER_LOSS_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let mut rng = Rng::new(0x5eed);
    let (mut lost_in_workload, mut lost_in_recovery, mut lost_in_compaction) = (0, 0, 0);
    let mut steps = Steps::default();
    for case in 0..cases {
        let ops = workload(case, 60);
        let (total, case_steps) = op_count(&ops);
        steps.add(case_steps);
        let k = 1 + rng.next() % (total + 3);
        let mode = modes()[(case % 3) as usize];
        let recovery_k = (case % 4 == 0).then(|| 1 + rng.next() % 12);
        match crash_case(&ops, k, mode, case, recovery_k, None) {
            Ok(outcome) => {
                lost_in_workload += u64::from(outcome.power_lost_in_workload);
                lost_in_recovery += u64::from(outcome.crashed_in_recovery);
                lost_in_compaction += u64::from(outcome.power_lost_in_compaction);
            }
            Err(violation) => panic!(
                "case {case} (k {k} of {total}, {mode:?}, recovery crash {recovery_k:?}): {violation}"
            ),
        }
    }
    println!(
        "power loss: {cases} crash points ({lost_in_workload} during the workload, {lost_in_compaction} in a compaction, {lost_in_recovery} also during recovery), 0 violations; the workloads made {} merging and {} moving strategy steps",
        steps.merged, steps.moved
    );
    assert!(lost_in_workload > cases / 2);
    // Strategy compactions do real work, and crashes land in compactions.
    assert!(steps.merged > cases && steps.moved > cases / 4, "{steps:?}");
    assert!(lost_in_compaction > cases / 10, "{lost_in_compaction}");
    assert!(lost_in_recovery > 0);
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
    let (total, _) = op_count(&ops);
    let mut points = 0;
    for k in 1..=total + 1 {
        for (i, mode) in modes().into_iter().enumerate() {
            if let Err(violation) = crash_case(&ops, k, mode, k * 3 + i as u64, None, None) {
                panic!("k {k} of {total}, {mode:?}: {violation}");
            }
            points += 1;
        }
    }
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
    let (total, _) = op_count(&ops);
    let mut points = 0;
    for k in 1..=total + 1 {
        for (i, mode) in modes().into_iter().enumerate() {
            let recovery_k = (k % 5 == 0).then_some(1 + k % 7);
            if let Err(violation) = crash_case(&ops, k, mode, k * 3 + i as u64, recovery_k, None) {
                panic!("k {k} of {total}, {mode:?}, recovery crash {recovery_k:?}: {violation}");
            }
            points += 1;
        }
    }
    println!(
        "power loss, exhaustive with compactions: {points} crash points over {total} calls, 0 violations"
    );
}

#[test]
fn the_harness_catches_a_planted_missing_fsync() {
    let ops = [Op::Put(1, 1), Op::Put(2, 2), Op::Flush, Op::Put(3, 3)];
    // Without the plant, a crash after the workload keeps the flushed keys.
    crash_case(&ops, u64::MAX, CrashMode::DropUnsynced, 1, None, None).unwrap();
    // With the table's fsync skipped, the acknowledged flush is not durable: the harness must
    // report it (a failed reopen or a state that is not the acknowledged one).
    let violation = crash_case(&ops, u64::MAX, CrashMode::DropUnsynced, 1, None, Some(2));
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
    crash_case(&ops, u64::MAX, CrashMode::DropUnsynced, 1, None, None).unwrap();
    let violation = crash_case(&ops, u64::MAX, CrashMode::DropUnsynced, 1, None, Some(5));
    assert!(
        violation.is_err(),
        "a skipped fsync in a compaction went unnoticed"
    );
    let _ = Path::new(DIR);
}
