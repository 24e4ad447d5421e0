//! Bulk ingestion (`Tree::ingestion`, `Ingestion`): key order errors that leave the ingestion
//! usable, empty and dropped ingestions, visibility by seqno over data in every level and in the
//! memtables (ingested entries carry the seqno `finish` took, also after a reopen), placement
//! (the last level for a disjoint range, level 0 over overlapping data), a reverse comparator,
//! compaction and reopen of ingested tables, power loss at every file call of an ingestion, and
//! I/O faults in its middle.

#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use strata::compaction::{CompactionAction, Leveled};
use strata::fs::{CrashMode, Fault, FaultFs, FaultOp, Fs, MemFs};
use strata::{Config, Error, Guard, SeqNo, SequenceNumberCounter, Tree};

type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// A tree on `fs` with 128-byte blocks and 1 KiB tables, sharing `seqno`.
fn open_on(fs: Arc<dyn Fs>, seqno: &SequenceNumberCounter) -> strata::Result<Tree> {
    common::small_config(common::FS_DIR, seqno, 128, 1024)
        .fs(fs)
        .open()
}

/// The `.sst` files in the tree's table folder.
fn sst_files(fs: &dyn Fs) -> usize {
    fs.list(&Path::new(common::FS_DIR).join("tables"))
        .unwrap()
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .count()
}

fn key(i: u32) -> String {
    format!("key{i:04}")
}

#[test]
fn out_of_order_and_duplicate_keys_are_errors_and_the_ingestion_goes_on() {
    let fs = MemFs::new();
    let seqno = SequenceNumberCounter::default();
    let tree = open_on(Arc::new(fs.clone()), &seqno).unwrap();
    let mut ingestion = tree.ingestion().unwrap();
    ingestion.write("b", "1").unwrap();
    assert!(matches!(
        ingestion.write("a", "x"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        ingestion.write("b", "x"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        ingestion.write_tombstone("b"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        ingestion.write_weak_tombstone("a"),
        Err(Error::InvalidArgument(_))
    ));
    ingestion.write("c", "3").unwrap();
    ingestion.write_tombstone("d").unwrap();
    ingestion.finish().unwrap();
    let state = common::contents(&tree, seqno.get());
    assert_eq!(
        state.into_iter().collect::<Vec<_>>(),
        [
            (b"b".to_vec(), b"1".to_vec()),
            (b"c".to_vec(), b"3".to_vec())
        ]
    );
    assert_eq!(tree.table_count(), 1);
    assert_eq!(sst_files(&fs), 1);
}

#[test]
fn an_empty_ingestion_finishes_with_no_table() {
    let fs = MemFs::new();
    let seqno = SequenceNumberCounter::default();
    let tree = open_on(Arc::new(fs.clone()), &seqno).unwrap();
    tree.ingestion().unwrap().finish().unwrap();
    assert_eq!(tree.table_count(), 0);
    assert_eq!(sst_files(&fs), 0);
    // Only rejected keys: still nothing.
    let mut ingestion = tree.ingestion().unwrap();
    ingestion.write("a", "1").unwrap();
    drop(ingestion);
    tree.ingestion().unwrap().finish().unwrap();
    assert_eq!(sst_files(&fs), 0);
}

#[test]
fn a_dropped_ingestion_leaves_no_file_and_shows_nothing() {
    let fs = MemFs::new();
    let seqno = SequenceNumberCounter::default();
    let tree = open_on(Arc::new(fs.clone()), &seqno).unwrap();
    tree.insert("m", "kept", seqno.next());
    tree.flush_active_memtable(0).unwrap();
    let mut ingestion = tree.ingestion().unwrap();
    for i in 0..300 {
        ingestion.write(key(i), "v".repeat(20)).unwrap();
    }
    assert!(sst_files(&fs) > 2, "tables are written as entries come");
    drop(ingestion);
    assert_eq!(sst_files(&fs), 1);
    assert_eq!(tree.table_count(), 1);
    assert_eq!(common::contents(&tree, SeqNo::MAX).len(), 1);
    drop(tree);
    let tree = open_on(Arc::new(fs.clone()), &seqno).unwrap();
    assert_eq!(common::contents(&tree, SeqNo::MAX).len(), 1);
    assert_eq!(sst_files(&fs), 1);
}

/// Reads at `at` by point reads, forward scans and backward scans; asserts they agree.
fn read_all(tree: &Tree, keys: &[&str], at: SeqNo) -> State {
    let forward = common::contents(tree, at);
    let backward: State = tree
        .iter(at, None)
        .rev()
        .map(|g| {
            let (k, v) = g.into_inner().unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect();
    assert_eq!(forward, backward, "scans both ways agree at {at}");
    for k in keys {
        assert_eq!(
            tree.get(k, at).unwrap().map(|v| v.to_vec()),
            forward.get(k.as_bytes()).cloned(),
            "point read of {k} at {at} agrees with the scan"
        );
    }
    forward
}

fn state_of(pairs: &[(&str, &str)]) -> State {
    pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

#[test]
fn ingested_entries_shadow_every_level_and_the_memtables_only_from_their_seqno() {
    let fs = MemFs::new();
    let seqno = SequenceNumberCounter::new(1);
    let tree = open_on(Arc::new(fs.clone()), &seqno).unwrap();
    // The last level: a, b, c, d.
    for k in ["a", "b", "c", "d"] {
        tree.insert(k, format!("{k}-l6"), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    tree.major_compact(1 << 20, 0).unwrap();
    assert_eq!(tree.level_table_count(6), Some(1));
    // Level 0: b, c.
    tree.insert("b", "b-l0", seqno.next());
    tree.insert("c", "c-l0", seqno.next());
    tree.flush_active_memtable(0).unwrap();
    // A sealed memtable: c; the active one: d, e.
    tree.insert("c", "c-sealed", seqno.next());
    tree.rotate_memtable();
    tree.insert("d", "d-active", seqno.next());
    tree.insert("e", "e-active", seqno.next());
    let before = seqno.get();
    let old = state_of(&[
        ("a", "a-l6"),
        ("b", "b-l0"),
        ("c", "c-sealed"),
        ("d", "d-active"),
        ("e", "e-active"),
    ]);
    let keys = ["a", "b", "c", "d", "e", "f"];
    assert_eq!(read_all(&tree, &keys, before), old);

    let mut ingestion = tree.ingestion().unwrap();
    ingestion.write("a", "a-ing").unwrap();
    ingestion.write_tombstone("b").unwrap();
    ingestion.write("c", "c-ing").unwrap();
    ingestion.write_weak_tombstone("d").unwrap();
    ingestion.write("f", "f-ing").unwrap();
    ingestion.finish().unwrap();
    let ingested_at = before;
    assert_eq!(seqno.get(), ingested_at + 1, "finish took one seqno");
    assert_eq!(tree.sealed_memtable_count(), 0);
    assert!(
        tree.active_memtable().is_empty(),
        "the memtables were flushed"
    );
    let new = state_of(&[
        ("a", "a-ing"),
        ("c", "c-ing"),
        ("e", "e-active"),
        ("f", "f-ing"),
    ]);
    // A read at the ingestion's seqno sees the state before; one above sees the ingested data.
    assert_eq!(read_all(&tree, &keys, ingested_at), old);
    assert_eq!(read_all(&tree, &keys, ingested_at + 1), new);
    assert_eq!(read_all(&tree, &keys, SeqNo::MAX), new);
    // A write after the ingestion shadows it.
    tree.insert("a", "a-after", seqno.next());
    assert_eq!(tree.get("a", seqno.get()).unwrap().unwrap(), "a-after");
    assert_eq!(tree.get("a", seqno.get() - 1).unwrap().unwrap(), "a-ing");
    tree.flush_active_memtable(0).unwrap();
    // The seqno is persisted with the tables: the same answers after a reopen.
    drop(tree);
    let reopened_seqno = SequenceNumberCounter::default();
    let tree = open_on(Arc::new(fs.clone()), &reopened_seqno).unwrap();
    assert!(reopened_seqno.get() > ingested_at);
    let old_tables = state_of(&[
        ("a", "a-l6"),
        ("b", "b-l0"),
        ("c", "c-sealed"),
        ("d", "d-active"),
        ("e", "e-active"),
    ]);
    assert_eq!(read_all(&tree, &keys, ingested_at), old_tables);
    assert_eq!(read_all(&tree, &keys, ingested_at + 1), new);
    // Compaction keeps every answer at or above its watermark, and ingested tables take part.
    let strategy = Arc::new(Leveled::default().with_l0_threshold(1));
    while tree.compact(strategy.clone(), 0).unwrap().action != CompactionAction::Nothing {}
    tree.major_compact(1 << 20, 0).unwrap();
    assert_eq!(tree.table_count(), 1);
    assert_eq!(read_all(&tree, &keys, ingested_at), old_tables);
    assert_eq!(read_all(&tree, &keys, ingested_at + 1), new);
}

#[test]
fn a_disjoint_ingestion_lands_in_the_last_level_and_an_overlapping_one_in_level_0() {
    let fs = MemFs::new();
    let seqno = SequenceNumberCounter::new(1);
    let tree = open_on(Arc::new(fs.clone()), &seqno).unwrap();
    for i in 0..100 {
        tree.insert(key(i), "base", seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    let strategy = Arc::new(Leveled::default().with_l0_threshold(1));
    while tree.compact(strategy.clone(), 0).unwrap().action != CompactionAction::Nothing {}
    assert_eq!(tree.l0_run_count(), 0);
    let tables = tree.table_count();
    // Disjoint from everything: the last level.
    let last = tree.level_table_count(6).unwrap();
    let mut ingestion = tree.ingestion().unwrap();
    for i in 1000..1100 {
        ingestion.write(key(i), "disjoint").unwrap();
    }
    ingestion.finish().unwrap();
    assert_eq!(tree.l0_run_count(), 0);
    assert!(tree.level_table_count(6).unwrap() > last);
    // Overlapping only the last level: just above it.
    let mut ingestion = tree.ingestion().unwrap();
    for i in 20..30 {
        ingestion.write(key(i), "above").unwrap();
    }
    ingestion.finish().unwrap();
    assert_eq!(tree.l0_run_count(), 0);
    assert_eq!(tree.level_table_count(5), Some(1));
    // Overlapping level 0: level 0, as the newest run.
    tree.insert(key(52), "flushed", seqno.next());
    tree.flush_active_memtable(0).unwrap();
    assert_eq!(tree.l0_run_count(), 1);
    let mut ingestion = tree.ingestion().unwrap();
    for i in 50..60 {
        ingestion.write(key(i), "overlapping").unwrap();
    }
    ingestion.finish().unwrap();
    assert_eq!(tree.l0_run_count(), 2);
    assert!(tree.table_count() > tables);
    let state = common::contents(&tree, SeqNo::MAX);
    assert_eq!(state.len(), 200);
    assert_eq!(state[key(55).as_bytes()], b"overlapping");
    assert_eq!(state[key(1050).as_bytes()], b"disjoint");
    assert_eq!(state[key(25).as_bytes()], b"above");
    assert_eq!(state[key(5).as_bytes()], b"base");
    // And it survives a reopen where it was placed.
    drop(tree);
    let tree = open_on(Arc::new(fs.clone()), &seqno).unwrap();
    assert_eq!(tree.l0_run_count(), 2);
    assert_eq!(tree.level_table_count(5), Some(1));
    assert_eq!(common::contents(&tree, SeqNo::MAX), state);
}

#[test]
fn under_a_reverse_comparator_keys_must_decrease_bytewise() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::new(1);
    let open = || {
        Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default())
            .comparator(Arc::new(common::Reverse))
            .table_target_size(512)
            .open()
            .unwrap()
    };
    let tree = open();
    tree.insert("key0050", "old", seqno.next());
    let mut ingestion = tree.ingestion().unwrap();
    ingestion.write("key0099", "v").unwrap();
    assert!(matches!(
        ingestion.write("key0100", "v"),
        Err(Error::InvalidArgument(_))
    ));
    for i in (0..99).rev() {
        ingestion.write(key(i), format!("v{i}")).unwrap();
    }
    ingestion.finish().unwrap();
    assert!(tree.table_count() > 2);
    let keys: Vec<_> = tree
        .iter(seqno.get(), None)
        .map(|g| g.key().unwrap().to_vec())
        .collect();
    let expected: Vec<_> = (0..100).rev().map(|i| key(i).into_bytes()).collect();
    assert_eq!(keys, expected);
    assert_eq!(tree.get("key0050", seqno.get()).unwrap().unwrap(), "v50");
    drop(tree);
    let tree = open();
    tree.major_compact(1 << 20, 0).unwrap();
    let back: Vec<_> = tree
        .iter(seqno.get(), None)
        .rev()
        .map(|g| g.key().unwrap().to_vec())
        .collect();
    assert_eq!(back.len(), 100);
    assert_eq!(back.first().unwrap(), b"key0000");
    assert_eq!(tree.get("key0099", seqno.get()).unwrap().unwrap(), "v");
}

#[test]
fn a_poisoned_tree_refuses_ingestion() {
    let mem = MemFs::new();
    let faulty = FaultFs::new(Arc::new(mem.clone()));
    let seqno = SequenceNumberCounter::new(1);
    let tree = open_on(Arc::new(faulty.clone()), &seqno).unwrap();
    let mut ingestion = tree.ingestion().unwrap();
    ingestion.write("a", "1").unwrap();
    tree.insert("k", "v", seqno.next());
    faulty.fail(FaultOp::Sync, 1, Fault::Io);
    assert!(matches!(
        tree.flush_active_memtable(0),
        Err(Error::Io { .. })
    ));
    assert!(matches!(tree.ingestion(), Err(Error::Poisoned)));
    assert!(matches!(ingestion.write("b", "2"), Err(Error::Poisoned)));
    assert!(matches!(ingestion.finish(), Err(Error::Poisoned)));
}

/// The workload of the crash tests: `BASE` keys flushed, then an ingestion of `INGESTED` keys
/// (every other one over a base key, a few tombstones) with 1 KiB tables.
const BASE: u32 = 40;
const INGESTED: u32 = 300;

fn base_state() -> State {
    (0..BASE)
        .map(|i| (key(i * 4).into_bytes(), b"base".to_vec()))
        .collect()
}

fn ingested_state() -> State {
    let mut state = base_state();
    for i in 0..INGESTED {
        if i % 10 == 3 {
            state.remove(key(i * 2).as_bytes());
        } else {
            state.insert(key(i * 2).into_bytes(), format!("ing{i}").into_bytes());
        }
    }
    state
}

/// What a crash-test run acknowledged.
#[derive(Debug, Default)]
struct Acked {
    base: bool,
    finished: bool,
    /// `finish` was called (and may have failed).
    finishing: bool,
}

/// Runs the workload on `fs`; stops at the first error.
fn crash_workload(fs: Arc<dyn Fs>) -> Acked {
    let mut acked = Acked::default();
    let seqno = SequenceNumberCounter::new(1);
    let Ok(tree) = open_on(fs, &seqno) else {
        return acked;
    };
    for i in 0..BASE {
        tree.insert(key(i * 4), "base", seqno.next());
    }
    if tree.flush_active_memtable(0).is_err() {
        return acked;
    }
    acked.base = true;
    let Ok(mut ingestion) = tree.ingestion() else {
        return acked;
    };
    for i in 0..INGESTED {
        let written = if i % 10 == 3 {
            ingestion.write_tombstone(key(i * 2))
        } else {
            ingestion.write(key(i * 2), format!("ing{i}"))
        };
        if written.is_err() {
            return acked;
        }
    }
    acked.finishing = true;
    acked.finished = ingestion.finish().is_ok();
    acked
}

/// Reopens the crashed `fs` and checks it against `acked`; `Err` describes a violation.
fn check_recovered(mem: &MemFs, acked: &Acked, mode: CrashMode) -> Result<(), String> {
    let seqno = SequenceNumberCounter::default();
    let tree = open_on(Arc::new(mem.clone()), &seqno).map_err(|e| format!("reopen: {e}"))?;
    if sst_files(mem) != tree.table_count() {
        return Err(format!(
            "{} .sst files for {} tables",
            sst_files(mem),
            tree.table_count()
        ));
    }
    let state = common::contents(&tree, SeqNo::MAX);
    let old = if acked.base || state == base_state() {
        base_state()
    } else {
        State::new()
    };
    let all = ingested_state();
    if state == all {
        // All of it: only if `finish` returned Ok, or (when the disk may keep unsynced bytes) if
        // the power went in `finish`, whose edit may then have reached the disk.
        let may = acked.finished || (acked.finishing && mode != CrashMode::DropUnsynced);
        if !may {
            return Err("ingested data visible although finish did not succeed".into());
        }
        // The ingested entries keep their seqno: a read just above the base sees none of them.
        if common::contents(&tree, u64::from(BASE) + 1) != base_state() {
            return Err("ingested data visible below its seqno".into());
        }
    } else if state == old {
        if acked.finished {
            return Err("a finished ingestion was lost".into());
        }
    } else {
        return Err(format!("recovered a mix: {} keys", state.len()));
    }
    Ok(())
}

#[test]
fn power_loss_at_every_file_call_of_an_ingestion_leaves_none_or_all_of_it() {
    let counting = MemFs::new();
    let acked = crash_workload(Arc::new(counting.clone()));
    assert!(acked.finished);
    let total = counting.mutating_op_count();
    let mut cases = 0;
    let mut finished = 0;
    for k in 1..=total + 1 {
        for mode in [
            CrashMode::DropUnsynced,
            CrashMode::TornWrites,
            CrashMode::PartialDirectory,
        ] {
            let mem = MemFs::new();
            mem.crash_at(k);
            let acked = crash_workload(Arc::new(mem.clone()));
            mem.crash(mode, k);
            mem.disarm();
            if let Err(violation) = check_recovered(&mem, &acked, mode) {
                panic!("crash at call {k} of {total}, {mode:?}: {violation} ({acked:?})");
            }
            cases += 1;
            finished += u64::from(acked.finished);
        }
    }
    println!(
        "ingestion power loss: {cases} crash points over {total} calls ({finished} after finish), 0 violations"
    );
    assert!(total > 30, "{total}");
}

#[test]
fn an_io_fault_in_an_ingestion_is_an_error_and_leaves_no_file() {
    let mut injected = 0;
    for op in [
        FaultOp::Create,
        FaultOp::Append,
        FaultOp::Sync,
        FaultOp::SyncDir,
        FaultOp::Open,
    ] {
        for nth in [1, 2, 5, 9] {
            for fault in [Fault::Io, Fault::NoSpace, Fault::ShortWrite] {
                let mem = MemFs::new();
                let faulty = FaultFs::new(Arc::new(mem.clone()));
                let seqno = SequenceNumberCounter::new(1);
                let tree = open_on(Arc::new(faulty.clone()), &seqno).unwrap();
                for i in 0..BASE {
                    tree.insert(key(i * 4), "base", seqno.next());
                }
                tree.flush_active_memtable(0).unwrap();
                let mut ingestion = tree.ingestion().unwrap();
                faulty.fail(op, nth, fault);
                let mut result = Ok(());
                for i in 0..INGESTED {
                    result = if i % 10 == 3 {
                        ingestion.write_tombstone(key(i * 2))
                    } else {
                        ingestion.write(key(i * 2), format!("ing{i}"))
                    };
                    if result.is_err() {
                        break;
                    }
                }
                let result = result.and_then(|()| ingestion.finish());
                if faulty.faults_fired() == 0 {
                    assert!(result.is_ok(), "{op:?} #{nth}");
                    continue;
                }
                injected += 1;
                assert!(
                    matches!(result, Err(Error::Io { .. })),
                    "{op:?} #{nth} {fault:?}: {result:?}"
                );
                assert!(matches!(tree.ingestion(), Err(Error::Poisoned)));
                assert_eq!(
                    common::contents(&tree, SeqNo::MAX),
                    base_state(),
                    "{op:?} #{nth} {fault:?}: reads unchanged"
                );
                drop(tree);
                mem.crash(CrashMode::DropUnsynced, nth);
                mem.disarm();
                let tree = open_on(Arc::new(mem.clone()), &seqno).unwrap();
                assert_eq!(common::contents(&tree, SeqNo::MAX), base_state());
                assert_eq!(
                    sst_files(&mem),
                    tree.table_count(),
                    "{op:?} #{nth}: no orphan"
                );
            }
        }
    }
    println!("ingestion io faults: {injected} faults injected, 0 entries lost");
    assert!(injected >= 30, "{injected}");
}

#[test]
fn many_ingested_tables_compact_and_reopen_like_any_other() {
    let fs = MemFs::new();
    let seqno = SequenceNumberCounter::new(1);
    let tree = open_on(Arc::new(fs.clone()), &seqno).unwrap();
    let mut model = State::new();
    for round in 0..4u32 {
        for i in (round..400).step_by(7) {
            tree.insert(key(i), format!("w{round}"), seqno.next());
            model.insert(key(i).into_bytes(), format!("w{round}").into_bytes());
        }
        let mut ingestion = tree.ingestion().unwrap();
        for i in (round * 50..round * 50 + 200).step_by(3) {
            ingestion.write(key(i), format!("i{round}")).unwrap();
            model.insert(key(i).into_bytes(), format!("i{round}").into_bytes());
        }
        ingestion.finish().unwrap();
        let strategy = Arc::new(
            Leveled::default()
                .with_l0_threshold(2)
                .with_table_target_size(1024),
        );
        while tree.compact(strategy.clone(), seqno.get()).unwrap().action
            != CompactionAction::Nothing
        {}
        assert_eq!(common::contents(&tree, SeqNo::MAX), model, "round {round}");
    }
    drop(tree);
    let tree = open_on(Arc::new(fs.clone()), &seqno).unwrap();
    assert_eq!(common::contents(&tree, SeqNo::MAX), model);
    tree.major_compact(1024, seqno.get()).unwrap();
    assert_eq!(common::contents(&tree, SeqNo::MAX), model);
    assert_eq!(sst_files(&fs), tree.table_count());
}

/// Parks the first compaction at its first item until the test lets it go.
struct Parking(Arc<std::sync::Barrier>, bool);

impl strata::compaction::filter::CompactionFilter for Parking {
    fn filter_item(
        &mut self,
        _: strata::compaction::filter::ItemAccessor<'_>,
        _: &strata::compaction::filter::Context,
    ) -> strata::Result<strata::compaction::filter::Verdict> {
        if !self.1 {
            self.1 = true;
            self.0.wait();
            self.0.wait();
        }
        Ok(strata::compaction::filter::Verdict::Keep)
    }
}

struct ParkFirst(Arc<std::sync::Barrier>, std::sync::Mutex<bool>);

impl strata::compaction::filter::Factory for ParkFirst {
    fn name(&self) -> &'static str {
        "park-first"
    }

    fn make_filter(
        &self,
        _: &strata::compaction::filter::Context,
    ) -> Box<dyn strata::compaction::filter::CompactionFilter> {
        let mut first = self.1.lock().unwrap();
        let parks = !*first;
        *first = true;
        Box::new(Parking(Arc::clone(&self.0), !parks))
    }
}

impl std::panic::RefUnwindSafe for ParkFirst {}

/// Ingestions while a major compaction runs (parked mid-merge): one over the compaction's range
/// lands in level 0, newer than what the compaction writes; one beside it lands in the last
/// level, where the compaction's output then joins it without overlap. After both, reads see
/// the ingested values, also after a reopen and another major compaction.
#[test]
fn ingestions_during_a_running_compaction_land_where_it_does_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let open = || {
        common::small_config(dir.path(), &seqno, 256, 4 << 10)
            .with_compaction_filter_factory(Some(Arc::new(ParkFirst(
                Arc::clone(&barrier),
                std::sync::Mutex::new(false),
            ))))
            .open()
            .unwrap()
    };
    let tree = open();
    let mut model = State::new();
    for round in 0..3u32 {
        for i in 0..100u32 {
            let (k, v) = (format!("m{i:03}"), format!("old{round}"));
            tree.insert(k.clone(), v.clone(), seqno.next());
            model.insert(k.into_bytes(), v.into_bytes());
        }
        tree.flush_active_memtable(0).unwrap();
    }
    let compaction = {
        let tree = tree.clone();
        std::thread::spawn(move || tree.major_compact(4 << 10, 0).unwrap())
    };
    barrier.wait(); // The compaction holds every table and writes keys m000..m099 to the last level.
    let mut over = tree.ingestion().unwrap();
    for i in (0..100u32).step_by(3) {
        let (k, v) = (format!("m{i:03}"), "ingested".to_string());
        over.write(k.clone(), v.clone()).unwrap();
        model.insert(k.into_bytes(), v.into_bytes());
    }
    over.finish().unwrap();
    let mut beside = tree.ingestion().unwrap();
    for i in 0..50u32 {
        let (k, v) = (format!("z{i:03}"), "beside".to_string());
        beside.write(k.clone(), v.clone()).unwrap();
        model.insert(k.into_bytes(), v.into_bytes());
    }
    beside.finish().unwrap();
    assert_eq!(
        tree.level_table_count(0).map(|n| n > 0),
        Some(true),
        "over the busy range: level 0"
    );
    barrier.wait(); // Let the compaction finish.
    let done = compaction.join().unwrap();
    assert_eq!(done.action, CompactionAction::Merged);
    let check = |tree: &Tree| {
        let got: State = common::contents(tree, SeqNo::MAX);
        assert_eq!(got, model);
        for (k, v) in &model {
            assert_eq!(tree.get(k, SeqNo::MAX).unwrap().unwrap(), v.as_slice());
        }
    };
    check(&tree);
    let last = tree.current_version();
    let mut last_level: Vec<_> = last.iter_tables().filter(|t| t.level() == 6).collect();
    last_level.sort_by(|a, b| a.key_range().0.cmp(b.key_range().0));
    for pair in last_level.windows(2) {
        assert!(
            pair[0].key_range().1 < pair[1].key_range().0,
            "the last level's run overlaps"
        );
    }
    assert!(
        last_level.iter().any(|t| t.key_range().0.starts_with(b"z")),
        "beside: the last level"
    );
    drop(last);
    drop(tree);
    // Reopened without the parking filter (a fresh one would park the next compaction).
    let tree = common::small_config(dir.path(), &seqno, 256, 4 << 10)
        .open()
        .unwrap();
    check(&tree);
    tree.major_compact(4 << 10, SeqNo::MAX).unwrap();
    check(&tree);
}
