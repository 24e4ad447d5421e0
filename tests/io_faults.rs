//! ENOSPC, EIO and short writes (RELIABILITY.md suite 7) at every file call of a flush (table
//! writes, their syncs, the directory sync, the manifest append and sync) and of recovery: the call
//! returns the error, a failed flush poisons the tree (later flushes return `Error::Poisoned`; no
//! fsync is retried and taken for success), nothing acknowledged is lost, and a reopen recovers
//! the last good state, or the failed flush's state if its manifest edit became durable, never a
//! mix of the two.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use strata::config::BlockSizePolicy;
use strata::fs::{CrashMode, Fault, FaultFs, FaultOp, Fs, MemFs};
use strata::{Config, Error, Guard, SeqNo, SequenceNumberCounter, Tree};

type State = BTreeMap<String, String>;

fn open(fs: Arc<dyn Fs>) -> strata::Result<Tree> {
    Config::new(
        "/db",
        SequenceNumberCounter::default(),
        SequenceNumberCounter::default(),
    )
    .fs(fs)
    .data_block_size_policy(BlockSizePolicy::all(128))
    .table_target_size(1024)
    .open()
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
