//! Power loss under `strata::Database` (RELIABILITY.md suite 2, issue 15 "Tests") on the
//! crash-simulating `MemFs`.
//!
//! A random workload over three keyspaces (the third with a custom comparator, whose logged
//! writes a recovery keeps in a pending log until its first open) runs on a database with a tiny WAL segment size and
//! tiny memtables (so segment rolls, spare segments, flushes, WAL releases and compactions all
//! happen), one background worker, and a file system that loses power at its k-th mutating call:
//! plain writes (`PersistMode::Buffer`), writes and batches across two or three keyspaces
//! acknowledged with `SyncData`/`SyncAll`, removes, range removes, `clear`, deleting and
//! re-creating a keyspace, and `db.persist(SyncData)`. The file system then keeps what a disk
//! could have kept, in one of the three crash modes, sometimes loses power again inside the
//! recovery (the open, the keyspaces' first open, the worker's first rounds), and the database
//! is reopened. Two workload profiles: `MIXED` (a quarter of the writes synced, small
//! memtables) and `UNSYNCED` (nothing synced but by flushes, which come only after many segment
//! rolls: headers of rolled segments never synced, WAL releases of many segments at once).
//! Checked:
//! - the recovered contents of the three keyspaces equal the model after some prefix of the
//!   operations, at or past the last one whose durability was acknowledged (a `SyncData` or
//!   `SyncAll` commit, a `persist`, a `clear` or a keyspace deletion that returned `Ok`) and at
//!   most through the one in flight: no acknowledged durable write lost, no hole, no half batch
//!   (a batch is one operation of the sequence), no resurrected key;
//! - losing power again right after that reopen, a second reopen gives the same contents;
//! - the database takes (and syncs) a write afterwards;
//! - without a crash, the live contents at the end equal the model.
//!
//! The background worker runs concurrently, so the k-th call is not the same call in every run:
//! a failure prints the workload's seed, k, mode and what differed, and is approached again with
//! `STRATA_DB_POWER_LOSS_SEED=<seed>` (random cases of that seed's workload only).
//!
//! The harness tests itself: with one fsync silently skipped (`MemFs::skip_syncs`) under a
//! `SyncData` write, it must report the loss.
//!
//! CI runs two short workloads (one per profile) crashed at every k in each of the three modes,
//! plus 480 random crash points of other workloads; `STRATA_DB_POWER_LOSS_CASES=N` runs N random
//! crash points instead, from a base seed taken from the clock (printed) or
//! `STRATA_DB_POWER_LOSS_BASE`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::Rng;
use strata::compaction::Leveled;
use strata::fs::{CrashMode, MemFs};
use strata::{Database, Guard, Keyspace, KeyspaceCreateOptions, PersistMode};

/// One keyspace's contents.
type State = BTreeMap<String, String>;
/// The three keyspaces' contents.
type States = [State; 3];

const NAMES: [&str; 3] = ["a", "b", "c"];
const DB: &str = "/db";
/// The WAL segment size: a roll every few writes.
const SEGMENT: u64 = 1024;

/// A workload's shape.
#[derive(Clone, Copy, Debug)]
struct Profile {
    /// The keyspaces' memtable size.
    memtable: u64,
    /// Whether the workload syncs (`SyncData` writes and batches, `persist`, and `clear` and
    /// keyspace deletion, which sync the WAL first).
    syncs: bool,
}

/// A flush every few dozen writes; a quarter of the writes synced.
const MIXED: Profile = Profile {
    memtable: 2048,
    syncs: true,
};
/// Nothing synced but by flushes, which come only after many segment rolls: WAL releases of
/// many segments at once, headers of rolled segments never synced.
const UNSYNCED: Profile = Profile {
    memtable: 8192,
    syncs: false,
};
const KEYS: u64 = 24;
/// A crash point no workload reaches: the power goes at its end.
const NEVER: u64 = 1 << 40;

#[derive(Clone, Debug)]
enum Op {
    /// `sync`: through a batch with `SyncData` (or `SyncAll`); else `Keyspace::insert`.
    Put {
        ks: usize,
        key: u8,
        val: u32,
        sync: bool,
    },
    Remove {
        ks: usize,
        key: u8,
    },
    /// `[a, b)`.
    RemoveRange {
        ks: usize,
        a: u8,
        b: u8,
    },
    /// Items on distinct (keyspace, key) pairs; `None` removes.
    Batch {
        items: Vec<(usize, u8, Option<u32>)>,
        sync: bool,
    },
    Clear(usize),
    /// `delete_keyspace`, then the keyspace is created again (empty).
    Recreate(usize),
    Persist,
}

fn key(k: u8) -> String {
    format!("k{k:02}")
}

/// Values long enough that a few dozen writes fill a memtable and a few fill a segment.
fn value(v: u32) -> String {
    format!("v{v:06}-{}", "x".repeat(40))
}

fn workload(seed: u64, len: usize, profile: Profile) -> Vec<Op> {
    let mut rng = Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut next_val = 0u32;
    let mut val = || {
        next_val += 1;
        next_val
    };
    (0..len)
        .map(|_| {
            let ks = rng.below(3) as usize;
            let k = rng.below(KEYS) as u8;
            match rng.below(100) {
                0..=39 => Op::Put {
                    ks,
                    key: k,
                    val: val(),
                    sync: profile.syncs && rng.below(4) == 0,
                },
                40..=49 => Op::Remove { ks, key: k },
                50..=53 => Op::RemoveRange {
                    ks,
                    a: k,
                    b: k + 1 + rng.below(6) as u8,
                },
                54..=85 => {
                    let mut items: Vec<(usize, u8, Option<u32>)> = Vec::new();
                    let count = 2 + rng.below(4);
                    let spread = 2 + rng.below(2) as usize;
                    for i in 0..count {
                        let ks = (ks + i as usize) % spread;
                        let k = rng.below(KEYS) as u8;
                        if items.iter().any(|&(s, kk, _)| s == ks && kk == k) {
                            continue;
                        }
                        let v = (rng.below(5) != 0).then(&mut val);
                        items.push((ks, k, v));
                    }
                    Op::Batch {
                        items,
                        sync: profile.syncs && rng.below(3) == 0,
                    }
                }
                _ if !profile.syncs => Op::Remove { ks, key: k },
                86..=88 => Op::Clear(ks),
                89..=90 => Op::Recreate(ks),
                _ => Op::Persist,
            }
        })
        .collect()
}

/// The model after `op`.
fn apply(states: &States, op: &Op) -> States {
    let mut next = states.clone();
    match op {
        Op::Put {
            ks, key: k, val, ..
        } => {
            next[*ks].insert(key(*k), value(*val));
        }
        Op::Remove { ks, key: k } => {
            next[*ks].remove(&key(*k));
        }
        Op::RemoveRange { ks, a, b } => {
            let (start, end) = (key(*a), key(*b));
            next[*ks].retain(|k, _| *k < start || *k >= end);
        }
        Op::Batch { items, .. } => {
            for (ks, k, v) in items {
                match v {
                    Some(v) => next[*ks].insert(key(*k), value(*v)),
                    None => next[*ks].remove(&key(*k)),
                };
            }
        }
        Op::Clear(ks) | Op::Recreate(ks) => next[*ks].clear(),
        Op::Persist => {}
    }
    next
}

/// Byte order under another name: the database does not persist a comparator, so a recovery
/// cannot replay keyspace "c" before it is opened and keeps its logged writes in a pending log
/// (`src/db/pending.rs`); the model's order stays the byte order.
struct CustomBytewise;

impl strata::UserComparator for CustomBytewise {
    fn name(&self) -> &'static str {
        "test.custom-bytewise"
    }

    fn compare(&self, a: &[u8], b: &[u8]) -> std::cmp::Ordering {
        a.cmp(b)
    }
}

/// The options of an existing keyspace (its memtable size was persisted at creation).
fn options(name: &str) -> KeyspaceCreateOptions {
    sized(name, MIXED.memtable)
}

fn sized(name: &str, memtable: u64) -> KeyspaceCreateOptions {
    let options = KeyspaceCreateOptions::default()
        .max_memtable_size(memtable)
        .compaction_strategy(Arc::new(
            Leveled::default()
                .with_l0_threshold(2)
                .with_table_target_size(1024),
        ));
    if name == "c" {
        options.comparator(Arc::new(CustomBytewise))
    } else {
        options
    }
}

fn open(fs: &MemFs) -> strata::Result<Database> {
    Database::builder(DB)
        .fs(Arc::new(fs.clone()))
        .worker_threads(1)
        .journal_segment_size(SEGMENT)
        .open()
}

fn read(ks: &Keyspace) -> strata::Result<State> {
    ks.iter()
        .map(|g| {
            let (k, v) = g.into_inner()?;
            Ok((
                String::from_utf8(k.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            ))
        })
        .collect()
}

/// The contents of every keyspace (a keyspace that does not exist is empty; it is not created).
fn read_all(db: &Database) -> strata::Result<States> {
    let mut states = States::default();
    for (i, name) in NAMES.iter().enumerate() {
        if db.keyspace_exists(name) {
            states[i] = read(&db.keyspace(name, || options(name))?)?;
        }
    }
    Ok(states)
}

/// What a workload run acknowledged: the model after each operation (`states[0]` is the empty
/// database, `states[i]` the model after operation `i`), the last operation whose durability was
/// acknowledged, and the last one attempted.
struct Run {
    states: Vec<States>,
    durable: usize,
    attempted: usize,
}

/// Runs `op` on the database; `Ok(true)` if its durability was acknowledged.
fn execute(
    db: &Database,
    handles: &mut [Keyspace],
    op: &Op,
    memtable: u64,
) -> strata::Result<bool> {
    match op {
        Op::Put {
            ks,
            key: k,
            val,
            sync,
        } => {
            if *sync {
                let mode = if val % 2 == 0 {
                    PersistMode::SyncData
                } else {
                    PersistMode::SyncAll
                };
                let mut batch = db.batch().durability(Some(mode));
                batch.insert(&handles[*ks], key(*k), value(*val));
                batch.commit()?;
            } else {
                handles[*ks].insert(key(*k), value(*val))?;
            }
            Ok(*sync)
        }
        Op::Remove { ks, key: k } => handles[*ks].remove(key(*k)).map(|()| false),
        Op::RemoveRange { ks, a, b } => handles[*ks].remove_range(key(*a), key(*b)).map(|()| false),
        Op::Batch { items, sync } => {
            let mut batch = db.batch();
            if *sync {
                batch = batch.durability(Some(PersistMode::SyncData));
            }
            for (ks, k, v) in items {
                match v {
                    Some(v) => batch.insert(&handles[*ks], key(*k), value(*v)),
                    None => batch.remove(&handles[*ks], key(*k)),
                }
            }
            batch.commit()?;
            Ok(*sync)
        }
        Op::Clear(ks) => handles[*ks].clear().map(|()| true),
        Op::Recreate(ks) => {
            db.delete_keyspace(handles[*ks].clone())?;
            // NB: the deletion is durable once it returned; the new keyspace is empty either way.
            handles[*ks] = db.keyspace(NAMES[*ks], || sized(NAMES[*ks], memtable))?;
            Ok(true)
        }
        Op::Persist => db.persist(PersistMode::SyncData).map(|()| true),
    }
}

/// A missing fsync planted to test the harness.
#[derive(Clone, Copy, Debug)]
enum Plant {
    /// The first file sync of `ops[i]` does nothing.
    Sync(usize),
    /// No directory sync from `ops[i]` on does anything.
    DirSyncs(usize),
}

/// Runs `ops` until the first error, with `plant`.
fn run_workload(
    fs: &MemFs,
    ops: &[Op],
    profile: Profile,
    plant: Option<Plant>,
) -> Result<Run, String> {
    let mut run = Run {
        states: vec![States::default()],
        durable: 0,
        attempted: 0,
    };
    let Ok(db) = open(fs) else {
        return Ok(run);
    };
    let mut handles = Vec::new();
    for name in NAMES {
        match db.keyspace(name, || sized(name, profile.memtable)) {
            Ok(ks) => handles.push(ks),
            Err(_) => return Ok(run),
        }
    }
    for (i, op) in ops.iter().enumerate() {
        let next = apply(&run.states[i], op);
        run.states.push(next);
        run.attempted = i + 1;
        match plant {
            Some(Plant::Sync(at)) if at == i => fs.skip_syncs(1),
            Some(Plant::DirSyncs(at)) if at == i => fs.skip_dir_syncs(1 << 40),
            _ => {}
        }
        match execute(&db, &mut handles, op, profile.memtable) {
            Ok(true) => run.durable = i + 1,
            Ok(false) => {}
            Err(_) if fs.power_lost() => break,
            Err(e) => {
                return Err(format!(
                    "operation {} ({op:?}) failed without a power loss: {e} (first error: {:?})",
                    i + 1,
                    db.background_error()
                ));
            }
        }
    }
    if !fs.power_lost() && run.attempted == ops.len() {
        let live: strata::Result<Vec<State>> = handles.iter().map(read).collect();
        // NB: the worker may reach call k meanwhile, and the read fail with the power.
        let live: Option<States> = match live {
            Ok(live) => Some(live.try_into().unwrap()),
            Err(_) if fs.power_lost() => None,
            Err(e) => return Err(format!("live read: {e}")),
        };
        if live
            .as_ref()
            .is_some_and(|live| *live != run.states[ops.len()])
        {
            let live = live.unwrap();
            return Err(format!(
                "without a crash, the live contents differ from the model: {}",
                diff(&live, &run.states[ops.len()])
            ));
        }
    }
    // Pull the plug with the database open (if the workload did not reach call k).
    fs.crash_at(0);
    drop(handles);
    drop(db);
    Ok(run)
}

fn diff(got: &States, want: &States) -> String {
    let mut out = Vec::new();
    for i in 0..3 {
        let keys: std::collections::BTreeSet<&String> =
            got[i].keys().chain(want[i].keys()).collect();
        for k in keys {
            let (g, w) = (got[i].get(k), want[i].get(k));
            if g != w {
                let short = |v: Option<&String>| v.map_or("-".to_string(), |v| v[..7].to_string());
                out.push(format!(
                    "{}/{k}: got {} want {}",
                    NAMES[i],
                    short(g),
                    short(w)
                ));
            }
        }
    }
    out.truncate(6);
    out.join(", ")
}

/// How one crash point went.
#[derive(Debug, Default)]
struct Outcome {
    power_lost_in_workload: bool,
    crashed_in_recovery: bool,
    /// Operations the recovered state is past the last durable acknowledgement.
    past_durable: usize,
}

/// Runs `ops` with power lost at mutating call `k`, crashes in `mode`, optionally loses power
/// again at call `recovery_k` of the recovery, reopens and checks; `Err` describes a violation.
fn crash_case(
    ops: &[Op],
    profile: Profile,
    k: u64,
    mode: CrashMode,
    seed: u64,
    recovery_k: Option<u64>,
    plant: Option<Plant>,
) -> Result<Outcome, String> {
    let fs = MemFs::new();
    fs.crash_at(k);
    let run = run_workload(&fs, ops, profile, plant)?;
    let mut outcome = Outcome {
        power_lost_in_workload: run.attempted < ops.len(),
        ..Outcome::default()
    };
    fs.crash(mode, seed);
    fs.disarm();
    if let Some(rk) = recovery_k {
        fs.crash_at(rk);
        if let Ok(db) = open(&fs) {
            // The keyspaces' first open replays their items; the worker flushes and releases.
            let _ = read_all(&db);
            let _ = db.persist(PersistMode::SyncData);
            drop(db);
        }
        outcome.crashed_in_recovery = fs.power_lost();
        if outcome.crashed_in_recovery {
            fs.crash(mode, seed ^ 0x5555);
        }
        fs.disarm();
    }
    let db = open(&fs).map_err(|e| format!("reopen failed: {e}"))?;
    let recovered = read_all(&db).map_err(|e| format!("read after reopen: {e}"))?;
    let Some(at) = (run.durable..=run.attempted).find(|&j| run.states[j] == recovered) else {
        let lost = (0..run.durable).rev().find(|&j| run.states[j] == recovered);
        return Err(format!(
            "recovered contents match no operation in {}..={} (durable..=attempted){}; against \
             the last durable state: {}",
            run.durable,
            run.attempted,
            lost.map_or(String::new(), |j| format!(
                "; they match operation {j}, before the last durable acknowledgement"
            )),
            diff(&recovered, &run.states[run.durable])
        ));
    };
    outcome.past_durable = at - run.durable;
    // Power goes again right after the reopen: the second recovery must agree.
    fs.crash_at(0);
    drop(db);
    fs.crash(mode, seed ^ 0xaaaa);
    fs.disarm();
    let db = open(&fs).map_err(|e| format!("second reopen failed: {e}"))?;
    let again = read_all(&db).map_err(|e| format!("read after the second reopen: {e}"))?;
    if again != recovered {
        return Err(format!(
            "the second reopen differs from the first: {}",
            diff(&again, &recovered)
        ));
    }
    // The database still takes writes, and syncs them.
    let a = db
        .keyspace("a", || options("a"))
        .map_err(|e| format!("open a: {e}"))?;
    let mut batch = db.batch().durability(Some(PersistMode::SyncData));
    batch.insert(&a, "after", "crash");
    batch
        .commit()
        .map_err(|e| format!("write after reopen: {e}"))?;
    if a.get("after").map_err(|e| e.to_string())?.as_deref() != Some(b"crash".as_slice()) {
        return Err("a write after the reopen is not read back".to_string());
    }
    Ok(outcome)
}

/// Counters of a run of crash points.
#[derive(Default)]
struct Tally {
    cases: u64,
    in_workload: u64,
    in_recovery: u64,
    past_durable: u64,
    violations: Vec<String>,
}

impl Tally {
    fn case(
        &mut self,
        (ops, profile): (&[Op], Profile),
        k: u64,
        mode: CrashMode,
        seed: u64,
        recovery_k: Option<u64>,
    ) {
        self.cases += 1;
        match crash_case(ops, profile, k, mode, seed, recovery_k, None) {
            Ok(outcome) => {
                self.in_workload += u64::from(outcome.power_lost_in_workload);
                self.in_recovery += u64::from(outcome.crashed_in_recovery);
                self.past_durable += u64::from(outcome.past_durable > 0);
            }
            Err(e) => self.violations.push(format!(
                "{profile:?} seed {seed} k {k} {mode:?} recovery_k {recovery_k:?}: {e}"
            )),
        }
    }

    fn finish(self, what: &str) {
        println!(
            "{what}: {} crash points ({} in the workload, {} again in recovery, {} recovered past \
             the last durable ack), {} violations",
            self.cases,
            self.in_workload,
            self.in_recovery,
            self.past_durable,
            self.violations.len()
        );
        assert!(
            self.violations.is_empty(),
            "{} violations, the first:\n{}",
            self.violations.len(),
            self.violations
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// The mutating calls a run of `ops` makes without a crash (about: the worker runs concurrently).
fn calls_of(ops: &[Op], profile: Profile) -> u64 {
    let fs = MemFs::new();
    let run = run_workload(&fs, ops, profile, None).unwrap_or_else(|e| panic!("{profile:?}: {e}"));
    assert_eq!(run.attempted, ops.len());
    fs.mutating_op_count()
}

/// Short workloads of both profiles, each crashed at every mutating call k in each crash mode,
/// and again in recovery at every other k.
#[test]
fn short_workloads_crashed_at_every_call() {
    for (seed, profile, len) in [(11, MIXED, 40), (12, UNSYNCED, 150)] {
        let ops = workload(seed, len, profile);
        let calls = calls_of(&ops, profile);
        assert!(calls > 100, "the workload makes only {calls} calls");
        let mut rng = Rng::new(seed);
        let mut tally = Tally::default();
        for k in 1..=calls + 5 {
            for mode in CrashMode::ALL {
                let recovery_k = (k % 2 == 0).then(|| 1 + rng.below(30));
                tally.case((&ops, profile), k, mode, rng.next(), recovery_k);
            }
        }
        assert!(
            tally.in_workload > calls * 2,
            "most crash points are in the workload"
        );
        tally.finish(&format!(
            "db power loss, every k of a {calls}-call {profile:?} workload"
        ));
    }
}

/// Random crash points of random workloads; `STRATA_DB_POWER_LOSS_CASES=N` runs N of them,
/// `STRATA_DB_POWER_LOSS_SEED=S` only workload S.
#[test]
fn random_workloads_crashed_at_random_calls() {
    let cases: u64 = std::env::var("STRATA_DB_POWER_LOSS_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(480);
    let fixed: Option<u64> = std::env::var("STRATA_DB_POWER_LOSS_SEED")
        .ok()
        .and_then(|v| v.parse().ok());
    // NB: CI runs fixed workloads; a long run takes its own (printed) base seed.
    let base = match (fixed, std::env::var("STRATA_DB_POWER_LOSS_CASES")) {
        (Some(seed), _) => seed,
        (None, Ok(_)) => common::seed_from_env("STRATA_DB_POWER_LOSS_BASE"),
        (None, Err(_)) => 0x00db_5eed,
    };
    println!("db power loss: base seed {base} (STRATA_DB_POWER_LOSS_BASE={base} replays it)");
    let mut rng = Rng::new(base);
    let mut tally = Tally::default();
    let per_workload = 24;
    let mut done = 0;
    while done < cases {
        let seed = fixed.unwrap_or_else(|| 1000 + rng.below(1 << 20));
        let profile = if seed.is_multiple_of(3) {
            UNSYNCED
        } else {
            MIXED
        };
        let ops = workload(seed, 60 + (seed % 61) as usize, profile);
        let calls = calls_of(&ops, profile);
        for _ in 0..per_workload.min(cases - done) {
            let k = 1 + rng.below(calls + 10);
            let mode = CrashMode::ALL[rng.below(3) as usize];
            let recovery_k = (rng.below(3) == 0).then(|| 1 + rng.below(40));
            tally.case((&ops, profile), k, mode, rng.next(), recovery_k);
            done += 1;
        }
    }
    tally.finish("db power loss, random workloads");
}

/// The harness tests itself: a `SyncData` write whose fsync silently did nothing is lost by a
/// power loss right after it, and the harness must say so.
#[test]
fn a_planted_missing_fsync_is_caught() {
    let mut ops = workload(7, 30, MIXED);
    ops.push(Op::Put {
        ks: 1,
        key: 3,
        val: 999_998,
        sync: true,
    });
    let last = ops.len() - 1;
    let mode = CrashMode::DropUnsynced;
    // Without the plant, the same case passes.
    crash_case(&ops, MIXED, NEVER, mode, 1, None, None).unwrap();
    let err = crash_case(&ops, MIXED, NEVER, mode, 1, None, Some(Plant::Sync(last)))
        .expect_err("a skipped fsync under an acknowledged SyncData write must be caught");
    assert!(err.contains("match no operation"), "{err}");
}

/// The harness tests itself: with the directory syncs skipped (so the entries of new WAL
/// segments never become durable), `SyncData` writes into segments rolled meanwhile are lost by
/// a power loss, and the harness must say so.
#[test]
fn a_planted_missing_directory_fsync_is_caught() {
    let mut ops = workload(8, 10, MIXED);
    let from = ops.len();
    // Enough synced writes to roll several 1 KiB segments.
    for i in 0..40 {
        ops.push(Op::Put {
            ks: i % 3,
            key: (i % 20) as u8,
            val: 900_000 + i as u32,
            sync: true,
        });
    }
    let mode = CrashMode::DropUnsynced;
    crash_case(&ops, MIXED, NEVER, mode, 1, None, None).unwrap();
    let err = crash_case(
        &ops,
        MIXED,
        NEVER,
        mode,
        1,
        None,
        Some(Plant::DirSyncs(from)),
    )
    .expect_err("segments whose directory entries were never synced must be caught");
    assert!(
        err.contains("match no operation") || err.contains("reopen failed"),
        "{err}"
    );
}
