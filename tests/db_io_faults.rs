//! ENOSPC, EIO and short writes under `strata::Database` (RELIABILITY.md suite 7, issue 15
//! "Tests") at every file call of a workload: WAL appends, syncs, segment creation and rolls,
//! flushes (tables, manifests, directory syncs), compactions (opens, reads, removals), WAL
//! releases.
//!
//! A workload over three keyspaces (Buffer and `SyncData` writes, batches across keyspaces,
//! removes, `clear`, `persist`) runs on `FaultFs` over `MemFs` with a tiny WAL segment size,
//! tiny memtables and eager compaction, with one fault planted at the n-th call of one kind.
//! Checked, for every kind, every n the workload reaches and every fault:
//! - a write that returns an error leaves the database poisoned, and every later write
//!   (`insert`, batch, `clear`, `persist`) returns `Error::Poisoned`: nothing is acknowledged
//!   after a failure;
//! - a fault in a background job (flush, compaction, WAL release, spare segment) poisons the
//!   database too, unless it only hit a best-effort step (the removal of a compacted table);
//! - reads go on after poisoning, and see every acknowledged write (the failed one may be
//!   visible: it is applied before its sync);
//! - a reopen without power loss (a process crash) recovers every acknowledged write, the
//!   failed one perhaps; a reopen after a power loss recovers a prefix at or past the last
//!   durable acknowledgement; either way the database takes writes again.
//!
//! Recovery gets the same treatment: a database left by a power loss in the middle of that
//! workload (torn WAL tails, unflushed memtables) is reopened with a fault at every call of the
//! recovery (the open, the keyspaces' first open, the worker's first rounds); the open fails or
//! the database is poisoned or reads the right contents, and a later open without faults
//! recovers exactly what a clean recovery of the same files does.
//!
//! CI runs every case of one workload (all calls of every kind: all three faults for appends,
//! ENOSPC and EIO for the others, half the cases followed by a power loss), and of one
//! recovery.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "test code: a failed unwrap is a failed test; one case checks its steps in order"
)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Rng;
use strata::compaction::Leveled;
use strata::fs::{CrashMode, Fault, FaultFs, FaultOp, Fs, MemFs};
use strata::{Database, Error, Guard, Keyspace, KeyspaceCreateOptions, PersistMode};

type State = BTreeMap<String, String>;
type States = [State; 3];

const NAMES: [&str; 3] = ["a", "b", "c"];

#[derive(Clone, Debug)]
enum Op {
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
    Batch {
        items: Vec<(usize, u8, Option<u32>)>,
        sync: bool,
    },
    Clear(usize),
    Persist,
}

fn key(k: u8) -> String {
    format!("k{k:02}")
}

fn value(v: u32) -> String {
    format!("v{v:06}-{}", "y".repeat(40))
}

fn workload(seed: u64, len: usize) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    let mut next = 0u32;
    (0..len)
        .map(|_| {
            let ks = rng.below(3) as usize;
            let k = rng.below(20) as u8;
            next += 1;
            match rng.below(100) {
                0..=44 => Op::Put {
                    ks,
                    key: k,
                    val: next,
                    sync: rng.below(4) == 0,
                },
                45..=54 => Op::Remove { ks, key: k },
                55..=89 => {
                    let mut items: Vec<(usize, u8, Option<u32>)> = Vec::new();
                    for i in 0..2 + rng.below(3) {
                        let ks = (ks + i as usize) % 3;
                        let k = rng.below(20) as u8;
                        if !items.iter().any(|&(s, kk, _)| s == ks && kk == k) {
                            next += 1;
                            items.push((ks, k, (rng.below(4) != 0).then_some(next)));
                        }
                    }
                    Op::Batch {
                        items,
                        sync: rng.below(3) == 0,
                    }
                }
                90..=92 => Op::Clear(ks),
                _ => Op::Persist,
            }
        })
        .collect()
}

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
        Op::Batch { items, .. } => {
            for (ks, k, v) in items {
                match v {
                    Some(v) => next[*ks].insert(key(*k), value(*v)),
                    None => next[*ks].remove(&key(*k)),
                };
            }
        }
        Op::Clear(ks) => next[*ks].clear(),
        Op::Persist => {}
    }
    next
}

/// Runs `op`; `Ok(true)` if its durability was acknowledged.
fn execute(db: &Database, handles: &[Keyspace], op: &Op) -> strata::Result<bool> {
    match op {
        Op::Put {
            ks,
            key: k,
            val,
            sync,
        } => {
            let mut batch = db.batch();
            if *sync {
                batch = batch.durability(Some(PersistMode::SyncData));
            }
            batch.insert(&handles[*ks], key(*k), value(*val));
            batch.commit()?;
            Ok(*sync)
        }
        Op::Remove { ks, key: k } => handles[*ks].remove(key(*k)).map(|()| false),
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
        Op::Persist => db.persist(PersistMode::SyncData).map(|()| true),
    }
}

fn options() -> KeyspaceCreateOptions {
    KeyspaceCreateOptions::default()
        .max_memtable_size(1024)
        .compaction_strategy(Arc::new(
            Leveled::default()
                .with_l0_threshold(2)
                .with_table_target_size(1024),
        ))
}

fn open(fs: Arc<dyn Fs>) -> strata::Result<Database> {
    Database::builder("/db")
        .fs(fs)
        .worker_threads(1)
        .journal_segment_size(1024)
        .open()
}

fn read_all(handles: &[Keyspace]) -> strata::Result<States> {
    let mut states = States::default();
    for (state, ks) in states.iter_mut().zip(handles) {
        for guard in ks.iter() {
            let (k, v) = guard.into_inner()?;
            state.insert(
                String::from_utf8(k.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            );
        }
    }
    Ok(states)
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while !done() {
        if started.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

/// How one fault case went.
#[derive(Debug, Default)]
struct Outcome {
    fired: bool,
    /// A write returned the fault's error (not `Poisoned`).
    write_failed: bool,
    poisoned: bool,
}

/// Runs `ops` with `fault` at call `nth` of `kind`; then reopens (after a power loss in `crash`
/// mode, if given) and checks. `Err` describes a violation.
fn fault_case(
    ops: &[Op],
    kind: FaultOp,
    nth: u64,
    fault: Fault,
    crash: Option<(CrashMode, u64)>,
) -> Result<Outcome, String> {
    let mem = MemFs::new();
    let faulty = Arc::new(FaultFs::new(Arc::new(mem.clone())));
    let db = open(Arc::clone(&faulty) as Arc<dyn Fs>).map_err(|e| format!("open: {e}"))?;
    let handles: Vec<Keyspace> = NAMES
        .iter()
        .map(|n| db.keyspace(n, options).unwrap())
        .collect();
    faulty.fail(kind, nth, fault);
    let mut states = vec![States::default()];
    let mut ok = 0; // the last acknowledged operation
    let mut durable = 0; // the last one whose durability was acknowledged
    let mut failed: Option<usize> = None; // the first that returned an error
    let mut outcome = Outcome::default();
    for (i, op) in ops.iter().enumerate() {
        let next = apply(&states[i], op);
        states.push(next);
        let result = execute(&db, &handles, op);
        match (result, failed) {
            (Ok(sync), None) => {
                ok = i + 1;
                if sync {
                    durable = i + 1;
                }
            }
            (Ok(_), Some(f)) => {
                return Err(format!(
                    "operation {} ({op:?}) was acknowledged after operation {f} failed",
                    i + 1
                ));
            }
            (Err(e), None) => {
                failed = Some(i + 1);
                outcome.write_failed = !matches!(e, Error::Poisoned);
                if !db.is_poisoned() {
                    return Err(format!(
                        "operation {} ({op:?}) failed with {e} and left the database unpoisoned",
                        i + 1
                    ));
                }
            }
            (Err(Error::Poisoned), Some(_)) => {}
            (Err(e), Some(f)) => {
                return Err(format!(
                    "operation {} ({op:?}) after the failure of {f} returned {e}, not Poisoned",
                    i + 1
                ));
            }
        }
    }
    faulty.clear();
    outcome.fired = faulty.faults_fired() > 0;
    // A fault in a background job poisons once the job gives up.
    if outcome.fired && failed.is_none() {
        wait_until(Duration::from_secs(2), || db.is_poisoned());
    }
    outcome.poisoned = db.is_poisoned();
    let first_error = db.background_error();
    if outcome.poisoned {
        // Every write path refuses.
        let mut batch = db.batch();
        batch.insert(&handles[0], "refused", "x");
        for (what, result) in [
            ("insert", handles[1].insert("refused", "x")),
            ("batch", batch.commit()),
            ("clear", handles[2].clear()),
            ("persist", db.persist(PersistMode::SyncAll)),
        ] {
            if !matches!(result, Err(Error::Poisoned)) {
                return Err(format!("poisoned, but {what} returned {result:?}"));
            }
        }
    }
    // Reads go on, and see every acknowledged write (and perhaps the failed one).
    let live = read_all(&handles).map_err(|e| format!("read after the fault: {e}"))?;
    let allowed = failed.map_or(ok..=ok, |f| ok..=f);
    if !allowed.clone().any(|j| states[j] == live) {
        return Err(format!(
            "live reads match no state in {allowed:?} (poisoned: {})",
            outcome.poisoned
        ));
    }
    drop(handles);
    drop(db);
    let mode_text = crash.map_or("no power loss".to_string(), |(m, _)| format!("{m:?}"));
    // Unpoisoned, the drop persisted everything.
    let allowed = match crash {
        Some((mode, seed)) => {
            mem.crash(mode, seed);
            let durable = if outcome.poisoned { durable } else { ok };
            durable..=failed.unwrap_or(ok)
        }
        None => ok..=failed.unwrap_or(ok),
    };
    let layout: Vec<String> = snapshot(&mem)
        .files
        .iter()
        .map(|(p, b)| format!("{}:{}", p.display(), b.len()))
        .collect();
    let db = open(Arc::new(mem.clone())).map_err(|e| format!("reopen ({mode_text}): {e}"))?;
    let handles: Vec<Keyspace> = NAMES
        .iter()
        .map(|n| db.keyspace(n, options).unwrap())
        .collect();
    let recovered = read_all(&handles).map_err(|e| format!("read after reopen: {e}"))?;
    if !allowed.clone().any(|j| states[j] == recovered) {
        let at = states.iter().position(|s| *s == recovered);
        return Err(format!(
            "after the reopen ({mode_text}) the contents match no state in {allowed:?} \
             (acknowledged through {ok}, durable through {durable}, failed {failed:?}, \
             poisoned by {first_error:?}; they match {at:?}); against the state after {}: {}",
            allowed.end(),
            diff(&recovered, &states[*allowed.end()])
        ) + &format!("\nfiles before the reopen: {layout:?}"));
    }
    let mut batch = db.batch().durability(Some(PersistMode::SyncData));
    batch.insert(&handles[0], "after", "reopen");
    batch
        .commit()
        .map_err(|e| format!("a write after the reopen: {e}"))?;
    Ok(outcome)
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
    out.truncate(8);
    out.join(", ")
}

/// Counters per fault kind.
#[derive(Default)]
struct Tally {
    cases: u64,
    fired: u64,
    write_failed: u64,
    poisoned: u64,
    /// Fired, and the database stayed healthy.
    survived: u64,
}

#[test]
fn every_fault_at_every_call_poisons_and_loses_nothing_acknowledged() {
    let ops = workload(0x10fa, 160);
    // The calls of each kind the workload makes (about: the worker runs concurrently).
    let calls: BTreeMap<FaultOp, u64> = {
        let mem = MemFs::new();
        let faulty = Arc::new(FaultFs::new(Arc::new(mem)));
        let db = open(Arc::clone(&faulty) as Arc<dyn Fs>).unwrap();
        let handles: Vec<Keyspace> = NAMES
            .iter()
            .map(|n| db.keyspace(n, options).unwrap())
            .collect();
        let before: BTreeMap<FaultOp, u64> =
            FaultOp::ALL.iter().map(|&k| (k, faulty.calls(k))).collect();
        for op in &ops {
            execute(&db, &handles, op).unwrap();
        }
        // Let the worker finish what the workload started.
        std::thread::sleep(Duration::from_millis(100));
        FaultOp::ALL
            .iter()
            .map(|&k| (k, faulty.calls(k) - before[&k]))
            .collect()
    };
    println!("db io faults: calls per kind {calls:?}");
    let mut tallies: BTreeMap<FaultOp, Tally> = BTreeMap::new();
    let mut violations = Vec::new();
    let mut rng = Rng::new(7);
    for (&kind, &count) in &calls {
        let faults: &[Fault] = if kind == FaultOp::Append {
            &Fault::ALL
        } else {
            &[Fault::NoSpace, Fault::Io]
        };
        for nth in 1..=count + 2 {
            for &fault in faults {
                let crash = (rng.below(2) == 0).then(|| {
                    let mode =
                        [CrashMode::DropUnsynced, CrashMode::TornWrites][rng.below(2) as usize];
                    (mode, rng.next())
                });
                let tally = tallies.entry(kind).or_default();
                tally.cases += 1;
                match fault_case(&ops, kind, nth, fault, crash) {
                    Ok(outcome) => {
                        tally.fired += u64::from(outcome.fired);
                        tally.write_failed += u64::from(outcome.write_failed);
                        tally.poisoned += u64::from(outcome.poisoned);
                        if outcome.fired && !outcome.poisoned {
                            tally.survived += 1;
                            // Only a best-effort removal may be survived.
                            if kind != FaultOp::Remove {
                                violations.push(format!(
                                    "{kind:?} #{nth} {fault:?}: fired, and the database was not \
                                     poisoned"
                                ));
                            }
                        }
                    }
                    Err(e) => violations.push(format!("{kind:?} #{nth} {fault:?} {crash:?}: {e}")),
                }
            }
        }
    }
    let total: u64 = tallies.values().map(|t| t.cases).sum();
    for (kind, t) in &tallies {
        println!(
            "  {kind:?}: {} cases, {} fired, {} failed a write, {} poisoned, {} survived",
            t.cases, t.fired, t.write_failed, t.poisoned, t.survived
        );
    }
    println!(
        "db io faults: {total} cases, {} violations",
        violations.len()
    );
    assert!(
        violations.is_empty(),
        "{} violations, the first: {:#?}",
        violations.len(),
        &violations[..violations.len().min(12)]
    );
    let fired: u64 = tallies.values().map(|t| t.fired).sum();
    assert!(
        fired > total / 2,
        "most planted faults fired: {fired} of {total}"
    );
}

/// The files of a `MemFs`: directories and each file's bytes.
#[derive(Clone)]
struct Image {
    dirs: Vec<std::path::PathBuf>,
    files: BTreeMap<std::path::PathBuf, Vec<u8>>,
}

fn snapshot(fs: &MemFs) -> Image {
    fn walk(fs: &MemFs, dir: &std::path::Path, image: &mut Image) {
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
    walk(fs, std::path::Path::new("/db"), &mut image);
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

/// Opens the database in `fs` and reads its keyspaces; the worker runs a little first.
fn recover(fs: Arc<dyn Fs>) -> strata::Result<(States, bool)> {
    let db = open(fs)?;
    let handles = NAMES
        .iter()
        .map(|n| db.keyspace(n, options))
        .collect::<strata::Result<Vec<_>>>()?;
    let states = read_all(&handles)?;
    // The replayed memtables are small: the worker's first rounds create a spare segment and
    // may flush; a persist syncs.
    std::thread::sleep(Duration::from_millis(5));
    let persisted = db.persist(PersistMode::SyncData);
    Ok((states, persisted.is_ok() && !db.is_poisoned()))
}

#[test]
fn faults_at_every_call_of_a_recovery_fail_it_and_a_later_open_recovers_the_same() {
    // A power loss in the middle of a workload.
    let ops = workload(0x2ec0, 120);
    let mem = MemFs::new();
    {
        let db = open(Arc::new(mem.clone())).unwrap();
        let handles: Vec<Keyspace> = NAMES
            .iter()
            .map(|n| db.keyspace(n, options).unwrap())
            .collect();
        for op in &ops {
            execute(&db, &handles, op).unwrap();
        }
        mem.crash_at(0);
    }
    mem.crash(CrashMode::TornWrites, 3);
    mem.disarm();
    let image = snapshot(&mem);
    let (reference, _) = recover(Arc::new(restore(&image))).unwrap();
    // The calls of each kind a recovery makes.
    let calls: BTreeMap<FaultOp, u64> = {
        let faulty = Arc::new(FaultFs::new(Arc::new(restore(&image))));
        recover(Arc::clone(&faulty) as Arc<dyn Fs>).unwrap();
        FaultOp::ALL.iter().map(|&k| (k, faulty.calls(k))).collect()
    };
    let mut cases = 0u64;
    let (mut failed_opens, mut poisoned, mut survived) = (0u64, 0u64, 0u64);
    let mut violations = Vec::new();
    for (&kind, &count) in &calls {
        for nth in 1..=count + 1 {
            for fault in [Fault::NoSpace, Fault::Io] {
                cases += 1;
                let fs = restore(&image);
                let faulty = Arc::new(FaultFs::new(Arc::new(fs.clone())));
                faulty.fail(kind, nth, fault);
                match recover(Arc::clone(&faulty) as Arc<dyn Fs>) {
                    Err(Error::Io { .. }) => failed_opens += 1,
                    // The worker hit the fault before the keyspaces were opened.
                    Err(Error::Poisoned) => poisoned += 1,
                    Err(e) => violations.push(format!("{kind:?} #{nth} {fault:?}: open: {e}")),
                    Ok((states, healthy)) => {
                        if states != reference {
                            violations.push(format!(
                                "{kind:?} #{nth} {fault:?}: a faulted open read other contents"
                            ));
                        }
                        match (faulty.faults_fired() > 0, healthy) {
                            (true, false) => poisoned += 1,
                            (true, true) => survived += 1,
                            (false, _) => {}
                        }
                    }
                }
                match recover(Arc::new(fs)) {
                    Ok((states, _)) if states == reference => {}
                    Ok(_) => violations.push(format!(
                        "{kind:?} #{nth} {fault:?}: the open after it recovered other contents"
                    )),
                    Err(e) => violations.push(format!(
                        "{kind:?} #{nth} {fault:?}: the open after it failed: {e}"
                    )),
                }
            }
        }
    }
    println!(
        "db recovery faults: calls per kind {calls:?}; {cases} cases, {failed_opens} failed \
         opens, {poisoned} poisoned after opening, {survived} survived (a best-effort step), \
         {} violations",
        violations.len()
    );
    assert!(
        violations.is_empty(),
        "{} violations, the first: {:#?}",
        violations.len(),
        &violations[..violations.len().min(12)]
    );
    assert!(
        failed_opens > cases / 4,
        "{failed_opens} of {cases} opens failed"
    );
}
