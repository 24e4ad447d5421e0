//! ENOSPC, EIO and short writes (RELIABILITY.md suite 7) at every file call of a flush (table
//! writes, their syncs, the directory sync, the manifest append and sync) and of recovery: the call
//! returns the error, a failed flush poisons the tree (later flushes return `Error::Poisoned`; no
//! fsync is retried and taken for success), nothing acknowledged is lost, and a reopen recovers
//! the last good state, or the failed flush's state if its manifest edit became durable, never a
//! mix of the two.
//!
//! Compaction gets the same treatment (over runs holding range tombstones too): a fault at any create, append, sync, directory sync, open,
//! read or remove call of a run of `Leveled` steps over overlapping level-0 runs surfaces as an
//! error (or, for the best-effort removal of an input file, is survived), the tree stays readable
//! with the same content, and a reopen (with or without a power loss) recovers exactly the flushed
//! content with no orphan table file left.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use strata::compaction::{CompactionAction, Leveled};
use strata::fs::{CrashMode, Fault, FaultFs, FaultOp, Fs, MemFs};
use strata::{Error, Guard, SeqNo, SequenceNumberCounter, Tree};

type State = BTreeMap<String, String>;

fn open(fs: Arc<dyn Fs>) -> strata::Result<Tree> {
    common::open_on_fs(fs)
}

fn state(tree: &Tree) -> State {
    tree.iter(SeqNo::MAX, None)
        .map(|g| {
            let (k, v) = g.into_inner().unwrap();
            (
                String::from_utf8(k.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect()
}

fn write_batch(tree: &Tree, seqno: &SequenceNumberCounter, batch: u32, model: &mut State) {
    for i in 0..30u32 {
        let (k, v) = (
            format!("k{:03}", (i * 7 + batch) % 50),
            format!("b{batch}-{i}"),
        );
        tree.insert(k.as_str(), v.as_str(), seqno.next());
        model.insert(k, v);
    }
}

const FLUSH_OPS: [FaultOp; 5] = [
    FaultOp::Create,
    FaultOp::Append,
    FaultOp::Sync,
    FaultOp::SyncDir,
    FaultOp::Open,
];

#[test]
fn every_fault_at_every_call_of_a_flush_poisons_and_loses_nothing() {
    let mut injected = 0;
    for op in FLUSH_OPS {
        for fault in Fault::ALL {
            for nth in 1.. {
                let mem = MemFs::new();
                let faulty = FaultFs::new(Arc::new(mem.clone()));
                let tree = open(Arc::new(faulty.clone())).unwrap();
                let seqno = SequenceNumberCounter::new(1);
                let mut good = State::new();
                write_batch(&tree, &seqno, 0, &mut good);
                tree.flush_active_memtable(0).unwrap();
                let mut next = good.clone();
                write_batch(&tree, &seqno, 1, &mut next);
                let before = faulty.faults_fired();
                faulty.fail(op, nth, fault);
                let result = tree.flush_active_memtable(0);
                if faulty.faults_fired() == before {
                    // This flush makes fewer than `nth` calls of this kind: done with `op`.
                    assert!(result.is_ok());
                    break;
                }
                injected += 1;
                faulty.clear();
                match result {
                    Err(Error::Io { .. }) => {
                        // Poisoned: no retry may pass for success.
                        assert!(matches!(
                            tree.flush_active_memtable(0),
                            Err(Error::Poisoned)
                        ));
                        // Nothing acknowledged is lost, and the unflushed writes stay readable.
                        assert_eq!(state(&tree), next, "{op:?} #{nth} {fault:?}");
                    }
                    Err(other) => panic!("{op:?} #{nth} {fault:?}: unexpected error {other}"),
                    Ok(()) => panic!("{op:?} #{nth} {fault:?}: the flush hid a failed call"),
                }
                drop(tree);
                // Power goes out too, then the tree is reopened on a healthy disk.
                mem.crash(CrashMode::DropUnsynced, nth);
                mem.disarm();
                let tree = open(Arc::new(mem.clone())).unwrap();
                let recovered = state(&tree);
                assert!(
                    recovered == good || recovered == next,
                    "{op:?} #{nth} {fault:?}: mixed state"
                );
                tree.insert("after", "x", SequenceNumberCounter::new(1 << 40).next());
                tree.flush_active_memtable(0).unwrap();
            }
        }
    }
    println!("io faults: {injected} faults injected into flushes, 0 entries lost");
    assert!(injected >= 30, "{injected}");
}

#[test]
fn faults_during_recovery_fail_the_open_and_a_later_open_recovers() {
    let mut injected = 0;
    for op in FaultOp::ALL {
        for fault in [Fault::Io, Fault::NoSpace] {
            for nth in 1..=6 {
                let mem = MemFs::new();
                let mut good = State::new();
                {
                    let tree = open(Arc::new(mem.clone())).unwrap();
                    let seqno = SequenceNumberCounter::new(1);
                    for batch in 0..3 {
                        write_batch(&tree, &seqno, batch, &mut good);
                        tree.flush_active_memtable(0).unwrap();
                    }
                }
                let faulty = FaultFs::new(Arc::new(mem.clone()));
                faulty.fail(op, nth, fault);
                let attempt = open(Arc::new(faulty.clone()));
                if faulty.faults_fired() > 0 {
                    injected += 1;
                    match &attempt {
                        Err(Error::Io { .. }) => {}
                        // A fault on a best-effort cleanup call (removing an orphan) may be
                        // survived; the state must then be whole.
                        Ok(tree) => assert_eq!(state(tree), good, "{op:?} #{nth} {fault:?}"),
                        Err(other) => panic!("{op:?} #{nth} {fault:?}: unexpected error {other}"),
                    }
                }
                drop(attempt);
                mem.crash(CrashMode::TornWrites, nth);
                mem.disarm();
                let tree = open(Arc::new(mem.clone())).unwrap();
                assert_eq!(state(&tree), good, "{op:?} #{nth} {fault:?}");
            }
        }
    }
    println!("io faults: {injected} faults injected into recovery, 0 entries lost");
    assert!(injected >= 20, "{injected}");
}

/// The `.sst` files in the tree's table folder.
fn sst_files(fs: &dyn Fs) -> usize {
    fs.list(Path::new("/db/tables"))
        .unwrap()
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .count()
}

/// Runs `Leveled` steps (level-0 threshold 2, 256-byte tables) until one does nothing; the first
/// error ends the loop. Returns the steps that did something.
fn compact_until_nothing(tree: &Tree, watermark: SeqNo) -> strata::Result<usize> {
    let strategy = Arc::new(
        Leveled::default()
            .with_l0_threshold(2)
            .with_table_target_size(256),
    );
    for steps in 0..200 {
        if tree.compact(strategy.clone(), watermark)?.action == CompactionAction::Nothing {
            return Ok(steps);
        }
    }
    panic!("compaction did not settle in 200 steps");
}

/// Writes `batch` (see `write_batch`) and deletes four of its keys, then flushes.
fn flush_batch(tree: &Tree, seqno: &SequenceNumberCounter, batch: u32, model: &mut State) {
    write_batch(tree, seqno, batch, model);
    for i in 0..4u32 {
        let key = format!("k{:03}", (i * 11 + batch * 3) % 50);
        tree.remove(key.as_str(), seqno.next());
        model.remove(&key);
    }
    // A range tombstone over three keys, so that compactions apply, clip and drop them too.
    let (start, end) = (
        format!("k{:03}", (batch * 13) % 47),
        format!("k{:03}", (batch * 13) % 47 + 3),
    );
    tree.remove_range(start.as_str(), end.as_str(), seqno.next());
    model.retain(|k, _| *k < start || *k >= end);
    tree.flush_active_memtable(0).unwrap();
}

/// A tree on `fs` with data in levels 1 and 2, four overlapping level-0 runs above it (inserts
/// and deletes; compacting them takes several merges that write about ten tables) and an
/// unflushed batch; returns it with the flushed content and the content reads see.
fn tree_with_overlapping_runs(
    fs: Arc<dyn Fs>,
    seqno: &SequenceNumberCounter,
) -> (Tree, State, State) {
    let tree = open(fs).unwrap();
    let mut flushed = State::new();
    for batch in 0..5 {
        flush_batch(&tree, seqno, batch, &mut flushed);
    }
    compact_until_nothing(&tree, seqno.get()).unwrap();
    for batch in 5..9 {
        flush_batch(&tree, seqno, batch, &mut flushed);
    }
    assert_eq!(tree.l0_run_count(), 4);
    assert!(tree.level_table_count(0) < Some(tree.table_count()));
    let mut live = flushed.clone();
    write_batch(&tree, seqno, 99, &mut live);
    (tree, flushed, live)
}

/// The calls a compaction makes: writing tables (create, append, sync), the directory sync, the
/// manifest edit (append, sync), opening the new tables, reading the inputs, and removing them.
const COMPACTION_OPS: [FaultOp; 7] = [
    FaultOp::Create,
    FaultOp::Append,
    FaultOp::Sync,
    FaultOp::SyncDir,
    FaultOp::Open,
    FaultOp::Read,
    FaultOp::Remove,
];

#[test]
fn every_fault_at_every_call_of_a_compaction_is_reported_and_loses_nothing() {
    // After the fault the tree is reopened as the disk is (the process died, the power stayed),
    // or after a power loss that drops or tears what was not synced. Each call number gets each
    // of the three, one per fault kind.
    let after = [
        None,
        Some(CrashMode::DropUnsynced),
        Some(CrashMode::TornWrites),
    ];
    let mut injected = 0;
    let mut per_op = BTreeMap::new();
    for op in COMPACTION_OPS {
        for (f, fault) in Fault::ALL.into_iter().enumerate() {
            for (round, nth) in (1..).enumerate() {
                let power_loss = after[(round + f) % after.len()];
                let mem = MemFs::new();
                let faulty = FaultFs::new(Arc::new(mem.clone()));
                let seqno = SequenceNumberCounter::new(1);
                let (tree, flushed, live) =
                    tree_with_overlapping_runs(Arc::new(faulty.clone()), &seqno);
                let before = faulty.faults_fired();
                faulty.fail(op, nth, fault);
                let result = compact_until_nothing(&tree, seqno.get());
                let fired = faulty.faults_fired() > before;
                faulty.clear();
                let case = format!("{op:?} #{nth} {fault:?} then {power_loss:?}");
                if !fired {
                    // The compaction makes fewer than `nth` calls of this kind: done with `op`.
                    let steps = result.unwrap_or_else(|e| panic!("{case}: {e} with no fault"));
                    assert!(steps >= 3, "{case}: only {steps} steps");
                    assert_eq!(state(&tree), live, "{case}: content changed");
                    break;
                }
                injected += 1;
                *per_op.entry(op).or_insert(0) += 1;
                match result {
                    Err(Error::Io { .. }) => {
                        // Poisoned: neither a compaction nor a flush may pass for success.
                        let strategy = Arc::new(Leveled::default().with_l0_threshold(1));
                        assert!(
                            matches!(tree.compact(strategy, 0), Err(Error::Poisoned)),
                            "{case}: a compaction after the failure was not refused"
                        );
                        assert!(
                            matches!(tree.flush_active_memtable(0), Err(Error::Poisoned)),
                            "{case}: a flush after the failure was not refused"
                        );
                    }
                    // A step that failed after its edit was durable (a manifest rewrite) poisons
                    // without failing; the next step reports it.
                    Err(Error::Poisoned) => {}
                    // Removing an input file is best effort: the next open removes it.
                    Ok(_) if op == FaultOp::Remove => {}
                    Ok(steps) => panic!("{case}: {steps} steps hid a failed call"),
                    Err(other) => panic!("{case}: unexpected error {other}"),
                }
                // Still readable, with the same content (the unflushed batch included).
                assert_eq!(state(&tree), live, "{case}: content changed");
                drop(tree);

                if let Some(mode) = power_loss {
                    mem.crash(mode, nth);
                    mem.disarm();
                }
                let tree = open(Arc::new(mem.clone()))
                    .unwrap_or_else(|e| panic!("{case}: reopen failed: {e}"));
                assert_eq!(state(&tree), flushed, "{case}: recovered content");
                assert_eq!(
                    sst_files(&mem),
                    tree.table_count(),
                    "{case}: orphan table files after reopen"
                );
                // The reopened tree compacts to the end, with the same content and no orphan.
                compact_until_nothing(&tree, seqno.get())
                    .unwrap_or_else(|e| panic!("{case}: compaction after reopen: {e}"));
                assert_eq!(state(&tree), flushed, "{case}: content after compaction");
                drop(tree);
                let tree = open(Arc::new(mem.clone())).unwrap();
                assert_eq!(
                    state(&tree),
                    flushed,
                    "{case}: content after a second reopen"
                );
                assert_eq!(sst_files(&mem), tree.table_count(), "{case}: orphans");
            }
        }
    }
    println!("io faults: {injected} faults injected into compactions {per_op:?}, 0 entries lost");
    // Every kind of call a compaction makes was failed, several times for each fault.
    for op in COMPACTION_OPS {
        assert!(
            per_op.get(&op).copied().unwrap_or(0) >= 3 * 3,
            "{op:?} faulted too rarely: {per_op:?}"
        );
    }
}

/// Regression: a compaction whose manifest fsync failed deleted the tables it had written, but
/// the edit naming them was already in the manifest file (a failed fsync does not take back what
/// was written), so the next open failed on a missing table file.
#[test]
fn a_failed_manifest_fsync_in_a_compaction_keeps_the_tables_its_edit_names() {
    let mem = MemFs::new();
    let faulty = FaultFs::new(Arc::new(mem.clone()));
    let tree = open(Arc::new(faulty.clone())).unwrap();
    let seqno = SequenceNumberCounter::new(1);
    for value in ["1", "2", "3"] {
        tree.insert("a", value, seqno.next());
        tree.flush_active_memtable(0).unwrap();
    }
    let strategy = Arc::new(Leveled::default().with_l0_threshold(2));
    // Step 1 moves the oldest run to the last level (nothing below overlaps it; manifest fsync
    // only). Step 2 merges the other two level-0 runs: the table's fsync (sync 1), then the
    // manifest edit's (sync 2) fails.
    let moved = tree.compact(strategy.clone(), seqno.get()).unwrap();
    assert_eq!(moved.action, CompactionAction::Moved);
    assert_eq!(moved.dest_level, Some(6));
    faulty.fail(FaultOp::Sync, 2, Fault::Io);
    assert!(matches!(
        tree.compact(strategy, seqno.get()),
        Err(Error::Io { .. })
    ));
    assert_eq!(faulty.faults_fired(), 1);
    assert_eq!(tree.get("a", SeqNo::MAX).unwrap(), Some("3".into()));
    drop(tree);
    // The edit's bytes are in the manifest: the reopen must find the tables it names.
    let tree = open(Arc::new(mem.clone())).unwrap();
    assert_eq!(tree.get("a", SeqNo::MAX).unwrap(), Some("3".into()));
    assert_eq!(sst_files(&mem), tree.table_count(), "orphans");
}
