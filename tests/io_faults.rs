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
//!
//! With key-value separation, the same holds for the calls that write, relocate and drop blob
//! files: a flush writing a table and several blob files; `Leveled` steps whose merges make
//! blob files stale and whose garbage collection relocates their live values (reading blob
//! records, writing new blob files) and removes them; and a FIFO drop of tables whose blob files
//! leave with them; and the calls of recovery that list, open and read blob files and remove an
//! orphan one. After each reopen no orphan blob file is left, `verify_integrity` reads every blob
//! record whole, and the content reads the same with separation switched off.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use strata::compaction::{CompactionAction, Fifo, Leveled};
use strata::fs::{CrashMode, Fault, FaultFs, FaultOp, Fs, MemFs};
use strata::{Error, Guard, KvSeparationOptions, SeqNo, SequenceNumberCounter, Tree};

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

/// The key-value separation of the blob tests: values of 64 bytes and more go to blob files cut
/// at 1 KiB (a handful of records each), and garbage collection rewrites every blob file a fifth
/// stale.
fn kv() -> KvSeparationOptions {
    KvSeparationOptions::default()
        .separation_threshold(64)
        .file_target_size(1024)
        .compression(strata::CompressionType::None)
        .staleness_threshold(0.2)
        .age_cutoff(1.0)
}

/// Opens the tree of the blob tests on `fs` (as `open`, with separation `kv`).
fn open_kv(fs: Arc<dyn Fs>, kv: Option<KvSeparationOptions>) -> strata::Result<Tree> {
    common::small_config(common::FS_DIR, &SequenceNumberCounter::default(), 128, 1024)
        .fs(fs)
        .with_kv_separation(kv)
        .open()
}

/// The value of key `i` in batch `batch` of the blob tests: two in three are long (separated).
fn blob_value(batch: u32, i: u32) -> String {
    if i.is_multiple_of(3) {
        format!("b{batch}-{i}")
    } else {
        format!("b{batch}-{i}-").repeat(16)
    }
}

/// `write_batch` with `blob_value`s.
fn write_blob_batch(tree: &Tree, seqno: &SequenceNumberCounter, batch: u32, model: &mut State) {
    for i in 0..30u32 {
        let (k, v) = (
            format!("k{:03}", (i * 7 + batch) % 50),
            blob_value(batch, i),
        );
        tree.insert(k.as_str(), v.as_str(), seqno.next());
        model.insert(k, v);
    }
}

/// The `.blob` files in the tree's blob folder.
fn blob_files(fs: &dyn Fs) -> usize {
    fs.list(Path::new("/db/blobs"))
        .unwrap()
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "blob"))
        .count()
}

/// The ids of the blob files of the tree's version.
fn blob_ids(tree: &Tree) -> BTreeSet<u64> {
    tree.current_version()
        .blob_files()
        .map(strata::BlobFileView::id)
        .collect()
}

/// After a reopen: no orphan table or blob file on `fs`, and every table and blob file of the
/// version reads back whole.
fn assert_files_whole(fs: &dyn Fs, tree: &Tree, case: &str) {
    assert_eq!(sst_files(fs), tree.table_count(), "{case}: orphan tables");
    assert_eq!(
        blob_files(fs),
        tree.blob_file_count(),
        "{case}: orphan blob files"
    );
    let report = strata::verify::verify_integrity(tree);
    assert!(report.is_ok(), "{case}: {:?}", report.errors);
    assert_eq!(report.blob_files_checked, tree.blob_file_count(), "{case}");
}

/// The power loss (or none) that follows the `round`-th fault of kind `f`: each call number
/// gets each of the three, one per fault kind.
fn power_loss_after(round: usize, f: usize) -> Option<CrashMode> {
    [
        None,
        Some(CrashMode::DropUnsynced),
        Some(CrashMode::TornWrites),
    ][(round + f) % 3]
}

/// Flushes with key-value separation: a fault at any create, append, sync, directory sync or
/// open of a flush that writes a table and several blob files is reported, poisons the tree and
/// loses nothing; the reopen (after the process died, or a power loss) holds the state before or
/// after the flush, never a mix, with no orphan blob file, every blob record whole, and the same
/// state read with separation switched off.
#[test]
fn every_fault_at_every_call_of_a_flush_writing_blob_files_poisons_and_loses_nothing() {
    let mut per_op = BTreeMap::new();
    for op in FLUSH_OPS {
        for (f, fault) in Fault::ALL.into_iter().enumerate() {
            for (round, nth) in (1..).enumerate() {
                let power_loss = power_loss_after(round, f);
                let mem = MemFs::new();
                let faulty = FaultFs::new(Arc::new(mem.clone()));
                let tree = open_kv(Arc::new(faulty.clone()), Some(kv())).unwrap();
                let seqno = SequenceNumberCounter::new(1);
                let mut good = State::new();
                write_blob_batch(&tree, &seqno, 0, &mut good);
                tree.flush_active_memtable(0).unwrap();
                let mut next = good.clone();
                write_blob_batch(&tree, &seqno, 1, &mut next);
                tree.remove("k001", seqno.next());
                next.remove("k001");
                let blobs_before = tree.blob_file_count();
                let before = faulty.faults_fired();
                faulty.fail(op, nth, fault);
                let result = tree.flush_active_memtable(0);
                let case = format!("{op:?} #{nth} {fault:?} then {power_loss:?}");
                if faulty.faults_fired() == before {
                    // This flush makes fewer than `nth` calls of this kind: done with `op`.
                    result.unwrap_or_else(|e| panic!("{case}: {e} with no fault"));
                    assert!(
                        tree.blob_file_count() >= blobs_before + 2,
                        "{case}: the flush wrote fewer than two blob files"
                    );
                    break;
                }
                faulty.clear();
                *per_op.entry(op).or_insert(0) += 1;
                match result {
                    Err(Error::Io { .. }) => {
                        assert!(
                            matches!(tree.flush_active_memtable(0), Err(Error::Poisoned)),
                            "{case}: a flush after the failure was not refused"
                        );
                        assert_eq!(state(&tree), next, "{case}: reads changed");
                    }
                    Err(other) => panic!("{case}: unexpected error {other}"),
                    Ok(()) => panic!("{case}: the flush hid a failed call"),
                }
                drop(tree);
                if let Some(mode) = power_loss {
                    mem.crash(mode, nth);
                    mem.disarm();
                }
                let tree = open_kv(Arc::new(mem.clone()), Some(kv()))
                    .unwrap_or_else(|e| panic!("{case}: reopen failed: {e}"));
                let recovered = state(&tree);
                assert!(
                    recovered == good || recovered == next,
                    "{case}: mixed state"
                );
                assert_files_whole(&mem, &tree, &case);
                let seqno = SequenceNumberCounter::new(1 << 40);
                tree.insert("after", blob_value(7, 1), seqno.next());
                tree.flush_active_memtable(0).unwrap();
                drop(tree);
                let tree = open_kv(Arc::new(mem.clone()), None).unwrap();
                let mut with_after = recovered;
                with_after.insert("after".into(), blob_value(7, 1));
                assert_eq!(state(&tree), with_after, "{case}: separation off");
            }
        }
    }
    let injected: u32 = per_op.values().sum();
    println!(
        "io faults: {injected} faults injected into flushes writing blob files {per_op:?}, 0 entries lost"
    );
    for op in FLUSH_OPS {
        // Each call kind at least twice for each fault (a table and blob files; the two
        // folders' syncs).
        assert!(
            per_op.get(&op).copied().unwrap_or(0) >= 2 * 3,
            "{op:?} faulted too rarely: {per_op:?}"
        );
    }
}

/// Writes `batch` with `blob_value`s, deletes four of its keys and a range of three, then
/// flushes (`flush_batch` with long values).
fn flush_blob_batch(tree: &Tree, seqno: &SequenceNumberCounter, batch: u32, model: &mut State) {
    write_blob_batch(tree, seqno, batch, model);
    for i in 0..4u32 {
        let key = format!("k{:03}", (i * 11 + batch * 3) % 50);
        tree.remove(key.as_str(), seqno.next());
        model.remove(&key);
    }
    let (start, end) = (
        format!("k{:03}", (batch * 13) % 47),
        format!("k{:03}", (batch * 13) % 47 + 3),
    );
    tree.remove_range(start.as_str(), end.as_str(), seqno.next());
    model.retain(|k, _| *k < start || *k >= end);
    tree.flush_active_memtable(0).unwrap();
}

/// A separated tree on `fs`: data compacted below level 0, then three overlapping level-0 runs
/// that overwrite and delete most of it (compacting them makes the older blob files stale, and
/// garbage collection relocates what is live in them) and an unflushed batch; returns it with
/// the flushed content and the content reads see.
fn tree_with_blob_files_going_stale(
    fs: Arc<dyn Fs>,
    seqno: &SequenceNumberCounter,
) -> (Tree, State, State) {
    let tree = open_kv(fs, Some(kv())).unwrap();
    let mut flushed = State::new();
    for batch in 0..4 {
        flush_blob_batch(&tree, seqno, batch, &mut flushed);
    }
    compact_until_nothing(&tree, seqno.get()).unwrap();
    for batch in 4..7 {
        flush_blob_batch(&tree, seqno, batch, &mut flushed);
    }
    assert_eq!(tree.l0_run_count(), 3);
    let mut live = flushed.clone();
    write_blob_batch(&tree, seqno, 99, &mut live);
    (tree, flushed, live)
}

/// Compactions with key-value separation: `Leveled` steps merge level-0 runs over separated data
/// (stale blob bytes appear), then garbage collection relocates the live values of the stale
/// blob files into new ones and drops the old files. A fault at any create, append, sync,
/// directory sync, open, read (table blocks and blob records) or remove call of those steps is
/// reported (or, for the best-effort removal of an input or a relocated blob file, survived), the
/// tree keeps its content, and a reopen (with or without a power loss) recovers exactly the
/// flushed content with no orphan table or blob file and every blob record whole; the reopened
/// tree compacts to the end and reads the same with separation switched off.
#[test]
fn every_fault_at_every_call_of_a_compaction_relocating_blob_values_is_reported_and_loses_nothing()
{
    let mut per_op = BTreeMap::new();
    for op in COMPACTION_OPS {
        for (f, fault) in Fault::ALL.into_iter().enumerate() {
            for (round, nth) in (1..).enumerate() {
                let power_loss = power_loss_after(round, f);
                let mem = MemFs::new();
                let faulty = FaultFs::new(Arc::new(mem.clone()));
                let seqno = SequenceNumberCounter::new(1);
                let (tree, flushed, live) =
                    tree_with_blob_files_going_stale(Arc::new(faulty.clone()), &seqno);
                let blobs_before = blob_ids(&tree);
                let before = faulty.faults_fired();
                faulty.fail(op, nth, fault);
                let result = compact_until_nothing(&tree, seqno.get());
                let fired = faulty.faults_fired() > before;
                faulty.clear();
                let case = format!("{op:?} #{nth} {fault:?} then {power_loss:?}");
                if !fired {
                    // The steps make fewer than `nth` calls of this kind: done with `op`. They
                    // relocated values (new blob files; merges alone write none) and dropped the
                    // files they emptied.
                    result.unwrap_or_else(|e| panic!("{case}: {e} with no fault"));
                    let after = blob_ids(&tree);
                    assert!(
                        after.difference(&blobs_before).count() > 0
                            && blobs_before.difference(&after).count() > 0,
                        "{case}: no relocation: {blobs_before:?} -> {after:?}"
                    );
                    assert_eq!(state(&tree), live, "{case}: content changed");
                    break;
                }
                *per_op.entry(op).or_insert(0) += 1;
                match result {
                    Err(Error::Io { .. }) => {
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
                    Err(Error::Poisoned) => {}
                    // Removing an input file or a relocated blob file is best effort: the next
                    // open removes it.
                    Ok(_) if op == FaultOp::Remove => {}
                    Ok(steps) => panic!("{case}: {steps} steps hid a failed call"),
                    Err(other) => panic!("{case}: unexpected error {other}"),
                }
                assert_eq!(state(&tree), live, "{case}: content changed");
                drop(tree);

                if let Some(mode) = power_loss {
                    mem.crash(mode, nth);
                    mem.disarm();
                }
                let tree = open_kv(Arc::new(mem.clone()), Some(kv()))
                    .unwrap_or_else(|e| panic!("{case}: reopen failed: {e}"));
                assert_eq!(state(&tree), flushed, "{case}: recovered content");
                assert_files_whole(&mem, &tree, &case);
                compact_until_nothing(&tree, seqno.get())
                    .unwrap_or_else(|e| panic!("{case}: compaction after reopen: {e}"));
                assert_eq!(state(&tree), flushed, "{case}: content after compaction");
                drop(tree);
                let tree = open_kv(Arc::new(mem.clone()), None).unwrap();
                assert_eq!(state(&tree), flushed, "{case}: separation off");
                assert_files_whole(&mem, &tree, &case);
            }
        }
    }
    let injected: u32 = per_op.values().sum();
    println!(
        "io faults: {injected} faults injected into compactions relocating blob values {per_op:?}, 0 entries lost"
    );
    for op in COMPACTION_OPS {
        assert!(
            per_op.get(&op).copied().unwrap_or(0) >= 3 * 3,
            "{op:?} faulted too rarely: {per_op:?}"
        );
    }
}

/// The tree of the FIFO test on `fs`: four flushes of 20 disjoint keys each (two in three values
/// separated), each one table and its own blob files.
fn fifo_tree(fs: Arc<dyn Fs>, seqno: &SequenceNumberCounter) -> Tree {
    let tree = open_kv(fs, Some(kv())).unwrap();
    for round in 0..4u32 {
        for i in 0..20u32 {
            tree.insert(
                format!("r{round}k{i:02}"),
                blob_value(round, i),
                seqno.next(),
            );
        }
        tree.flush_active_memtable(0).unwrap();
    }
    tree
}

/// Runs FIFO steps with `limit` until one does nothing; returns the drops.
fn run_fifo(tree: &Tree, limit: u64, seqno: &SequenceNumberCounter) -> strata::Result<usize> {
    let fifo = Arc::new(Fifo::new(limit, None));
    let mut dropped = 0;
    loop {
        match tree.compact(fifo.clone(), seqno.get())?.action {
            CompactionAction::Nothing => return Ok(dropped),
            CompactionAction::Dropped => dropped += 1,
            other => panic!("FIFO did {other:?}"),
        }
    }
}

/// FIFO drops with key-value separation: four flushes of disjoint keys, each one table and its
/// own blob files; a FIFO limit of five eighths of the disk space drops the oldest tables and
/// with them their blob files (the drop edit, then the removal of the files). A fault at any
/// call of the drop is reported (or, for the best-effort removal of a file, survived); the tree
/// reads as before the drop or as after it (what a run without the fault leaves); the reopen (with
/// or without a power loss) holds one of the two, with no orphan table or blob file.
#[test]
fn every_fault_in_a_fifo_drop_of_tables_with_blob_files_loses_nothing_else() {
    // Without a fault: what the drop leaves.
    let mem = MemFs::new();
    let seqno = SequenceNumberCounter::new(1);
    let tree = fifo_tree(Arc::new(mem.clone()), &seqno);
    let (tables, blobs) = (tree.table_count(), tree.blob_file_count());
    assert!(
        blobs >= 2 * tables,
        "{blobs} blob files for {tables} tables"
    );
    let full = state(&tree);
    let limit = tree.disk_space() * 5 / 8;
    assert!(run_fifo(&tree, limit, &seqno).unwrap() > 0);
    let dropped = state(&tree);
    assert!(dropped.len() < full.len() && !dropped.is_empty());
    assert!(tree.blob_file_count() < blobs);
    assert_eq!(blob_files(&mem), tree.blob_file_count(), "files dropped");
    drop(tree);

    let mut per_op = BTreeMap::new();
    for op in [
        FaultOp::Append,
        FaultOp::Sync,
        FaultOp::Remove,
        FaultOp::Create,
        FaultOp::Rename,
        FaultOp::SyncDir,
    ] {
        for (f, fault) in Fault::ALL.into_iter().enumerate() {
            for (round, nth) in (1..).enumerate() {
                let power_loss = power_loss_after(round, f);
                let mem = MemFs::new();
                let faulty = FaultFs::new(Arc::new(mem.clone()));
                let seqno = SequenceNumberCounter::new(1);
                let tree = fifo_tree(Arc::new(faulty.clone()), &seqno);
                let before = faulty.faults_fired();
                faulty.fail(op, nth, fault);
                let result = run_fifo(&tree, limit, &seqno);
                let fired = faulty.faults_fired() > before;
                faulty.clear();
                let case = format!("{op:?} #{nth} {fault:?} then {power_loss:?}");
                if !fired {
                    result.unwrap_or_else(|e| panic!("{case}: {e} with no fault"));
                    assert_eq!(state(&tree), dropped, "{case}");
                    break;
                }
                *per_op.entry(op).or_insert(0) += 1;
                let reads = state(&tree);
                match result {
                    Err(Error::Io { .. }) => {
                        assert!(
                            matches!(tree.flush_active_memtable(0), Err(Error::Poisoned)),
                            "{case}: a flush after the failure was not refused"
                        );
                        assert_eq!(reads, full, "{case}: a failed drop changed the reads");
                    }
                    Err(Error::Poisoned) => {
                        assert!(reads == full || reads == dropped, "{case}: reads");
                    }
                    Ok(_) if op == FaultOp::Remove => assert_eq!(reads, dropped, "{case}"),
                    Ok(n) => panic!("{case}: {n} drops hid a failed call"),
                    Err(other) => panic!("{case}: unexpected error {other}"),
                }
                drop(tree);
                if let Some(mode) = power_loss {
                    mem.crash(mode, nth);
                    mem.disarm();
                }
                let tree = open_kv(Arc::new(mem.clone()), Some(kv()))
                    .unwrap_or_else(|e| panic!("{case}: reopen failed: {e}"));
                let recovered = state(&tree);
                assert!(
                    recovered == full || recovered == dropped,
                    "{case}: recovered {} keys, neither {} nor {}",
                    recovered.len(),
                    full.len(),
                    dropped.len()
                );
                assert_files_whole(&mem, &tree, &case);
            }
        }
    }
    let injected: u32 = per_op.values().sum();
    println!(
        "io faults: {injected} faults injected into FIFO drops of tables with blob files {per_op:?}, 0 entries lost"
    );
    for op in [FaultOp::Append, FaultOp::Sync, FaultOp::Remove] {
        assert!(
            per_op.get(&op).copied().unwrap_or(0) >= 3,
            "{op:?} faulted too rarely: {per_op:?}"
        );
    }
}

/// Recovery of a separated tree: every call of an open (listing, opening and reading the blob
/// files the manifest names, removing an orphan blob file) failed in turn with EIO and ENOSPC:
/// the open fails with `Io` (or survives a failed best-effort removal with the whole content),
/// and a later open after a power loss recovers the content, with the orphan gone.
#[test]
fn faults_during_recovery_of_a_separated_tree_fail_the_open_and_a_later_open_recovers() {
    let mut per_op = BTreeMap::new();
    for op in FaultOp::ALL {
        for fault in [Fault::Io, Fault::NoSpace] {
            for nth in 1.. {
                let mem = MemFs::new();
                let mut good = State::new();
                {
                    let tree = open_kv(Arc::new(mem.clone()), Some(kv())).unwrap();
                    let seqno = SequenceNumberCounter::new(1);
                    for batch in 0..3 {
                        flush_blob_batch(&tree, &seqno, batch, &mut good);
                    }
                    compact_until_nothing(&tree, seqno.get()).unwrap();
                    assert!(tree.blob_file_count() >= 3);
                }
                // A blob file no version names, as a crash in a flush leaves it.
                let orphan = Path::new("/db/blobs/999999.blob");
                mem.create(orphan).unwrap().append(b"orphan").unwrap();
                let faulty = FaultFs::new(Arc::new(mem.clone()));
                faulty.fail(op, nth, fault);
                let attempt = open_kv(Arc::new(faulty.clone()), Some(kv()));
                let fired = faulty.faults_fired() > 0;
                faulty.clear();
                let case = format!("{op:?} #{nth} {fault:?}");
                if !fired {
                    assert_eq!(state(&attempt.unwrap()), good, "{case}");
                    break;
                }
                *per_op.entry(op).or_insert(0) += 1;
                match &attempt {
                    Err(Error::Io { .. }) => {}
                    Ok(tree) => assert_eq!(state(tree), good, "{case}"),
                    Err(other) => panic!("{case}: unexpected error {other}"),
                }
                drop(attempt);
                mem.crash(CrashMode::TornWrites, nth);
                mem.disarm();
                let tree = open_kv(Arc::new(mem.clone()), Some(kv()))
                    .unwrap_or_else(|e| panic!("{case}: reopen failed: {e}"));
                assert_eq!(state(&tree), good, "{case}");
                assert!(!mem.exists(orphan).unwrap(), "{case}: the orphan stayed");
                assert_files_whole(&mem, &tree, &case);
            }
        }
    }
    let injected: u32 = per_op.values().sum();
    println!(
        "io faults: {injected} faults injected into recoveries of separated trees {per_op:?}, 0 entries lost"
    );
    for op in [FaultOp::List, FaultOp::Open, FaultOp::Read, FaultOp::Remove] {
        assert!(
            per_op.get(&op).copied().unwrap_or(0) >= 2,
            "{op:?} faulted too rarely: {per_op:?}"
        );
    }
}
