//! An operation sequence on a `Tree` in a `MemFs` behind a `FaultFs`, against a `BTreeMap` model
//! of the latest state: every read must equal the model's, across flushes, compactions, reopens
//! (some after a power loss) and flushes or compactions whose n-th file call fails.
//!
//! Input: an option-set byte (`configure`), then operations, each an opcode byte and its
//! arguments (`Op::decode`); keys are one byte each, one to three letters of `abc`
//! (`strata_fuzz::ops_key`), so that keys collide, overwrite each other and share prefixes.
//!
//! The model: `live` (what reads see) and `durable` (what a reopen brings back: the tables; the
//! tree has no WAL, so a reopen loses the memtables). Writes go to `live`; a successful
//! `flush_active_memtable` makes `durable` equal `live`; a reopen makes `live` equal `durable`.
//! After a step whose planned fault fired, as in `tests/tree_model.rs`: the step returned an I/O
//! error (and a flush is then refused with `Poisoned`), `Poisoned` or success; reads are
//! unchanged; the tree reopens (after a power loss if the input says so) and holds `durable` or,
//! for a failed flush, `live` (the flush either landed or not, never half of it); for a failed
//! compaction only `durable` (no input of a failed compaction is lost).
//!
//! Weak tombstones are written only where their contract holds (the key's single write since its
//! last delete was a plain insert, and it was never merged); elsewhere `remove_weak` becomes a
//! plain `remove`, which reads the same. Merges append their operand (`Append`).

#![no_main]
#![allow(
    clippy::disallowed_types,
    reason = "fuzz_target! opens a std::fs::File for RUST_LIBFUZZER_DEBUG_PATH"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use strata::compaction::{CompactionAction, CompactionStrategy, Leveled, SizeTiered};
use strata::config::{
    BlockSizePolicy, CompressionPolicy, FilterPolicy, PinningPolicy, RestartIntervalPolicy,
};
use strata::fs::{CrashMode, Fault, FaultFs, FaultOp, MemFs};
use strata::{Config, Error, Guard, SeqNo, SequenceNumberCounter, Tree};
use strata_fuzz::{ops_key, ops_prefix};

/// What the inputs so far did, summed over the process, printed after each input when
/// `STRATA_FUZZ_OPS_STATS` is set (to see that faults fire and weak tombstones get written:
/// `cargo fuzz run ops corpus/ops -- -runs=0` with it set prints the corpus's totals).
#[derive(Debug, Default)]
struct Stats {
    ops: AtomicU64,
    flushes: AtomicU64,
    compactions: AtomicU64,
    reopens: AtomicU64,
    weak_removes: AtomicU64,
    faults_fired: AtomicU64,
    failed_flushes_landed: AtomicU64,
    failed_flushes_lost: AtomicU64,
}

static STATS: Stats = Stats {
    ops: AtomicU64::new(0),
    flushes: AtomicU64::new(0),
    compactions: AtomicU64::new(0),
    reopens: AtomicU64::new(0),
    weak_removes: AtomicU64::new(0),
    faults_fired: AtomicU64::new(0),
    failed_flushes_landed: AtomicU64::new(0),
    failed_flushes_lost: AtomicU64::new(0),
};

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The folder of the tree in the `MemFs`.
const DIR: &str = "/db";

/// The kinds of file call a flush or a compaction step makes.
const STEP_CALLS: [FaultOp; 7] = [
    FaultOp::Create,
    FaultOp::Append,
    FaultOp::Sync,
    FaultOp::SyncDir,
    FaultOp::Open,
    FaultOp::Read,
    FaultOp::Remove,
];

/// Appends operands to the base: associative, so partial merges in compactions read the same.
struct Append;

impl strata::MergeOperator for Append {
    fn merge(
        &self,
        _key: &[u8],
        base: Option<&[u8]>,
        operands: &[&[u8]],
    ) -> strata::Result<strata::Slice> {
        let mut out = base.unwrap_or_default().to_vec();
        for operand in operands {
            out.extend_from_slice(operand);
        }
        Ok(out.into())
    }
}

/// A planned fault: the `nth` call of `op` in the step fails with `fault`; if it fired, the
/// reopen comes after a power loss in `power_loss` mode.
#[derive(Clone, Copy, Debug)]
struct Injected {
    op: FaultOp,
    nth: u64,
    fault: Fault,
    power_loss: Option<CrashMode>,
}

#[derive(Clone, Debug)]
enum Op {
    Insert(Vec<u8>, Vec<u8>),
    Remove(Vec<u8>),
    RemoveWeak(Vec<u8>),
    RemoveRange(Vec<u8>, Vec<u8>),
    RemovePrefix(Vec<u8>),
    Merge(Vec<u8>, Vec<u8>),
    Get(Vec<u8>),
    Range(Bound<Vec<u8>>, Bound<Vec<u8>>),
    Prefix(Vec<u8>),
    /// `flush_active_memtable`, with the GC threshold at the latest seqno if `gc` (else 0).
    Flush {
        gc: bool,
        fault: Option<Injected>,
    },
    /// Up to `steps` steps of a compaction strategy.
    Compact {
        strategy: u8,
        steps: u8,
        gc: bool,
        fault: Option<Injected>,
    },
    MajorCompact {
        gc: bool,
        fault: Option<Injected>,
    },
    Reopen(Option<CrashMode>),
}

/// Reads input bytes, 0 past the end.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn byte(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }

    fn bound(&mut self) -> Bound<Vec<u8>> {
        let b = self.byte();
        match b % 4 {
            0 => Bound::Unbounded,
            1 => Bound::Excluded(ops_key(b / 4)),
            _ => Bound::Included(ops_key(b / 4)),
        }
    }

    fn value(&mut self) -> Vec<u8> {
        let b = self.byte();
        vec![b'a' + b % 26; 1 + usize::from(b / 26) % 4]
    }

    fn power_loss(&mut self, b: u8) -> Option<CrashMode> {
        match b % 4 {
            0 => None,
            mode => CrashMode::ALL.get(usize::from(mode - 1)).copied(),
        }
    }

    fn fault(&mut self) -> Option<Injected> {
        let b = self.byte();
        if b & 1 == 0 {
            return None;
        }
        let c = self.byte();
        Some(Injected {
            op: STEP_CALLS[usize::from(b >> 1) % STEP_CALLS.len()],
            nth: 1 + u64::from(c % 8),
            fault: Fault::ALL[usize::from(c >> 3) % Fault::ALL.len()],
            power_loss: self.power_loss(c >> 5),
        })
    }
}

impl Op {
    fn decode(input: &mut Bytes<'_>) -> Option<Self> {
        let code = input.next()?;
        Some(match code % 16 {
            0 | 1 => Self::Insert(ops_key(input.byte()), input.value()),
            2 => Self::Remove(ops_key(input.byte())),
            3 => Self::RemoveWeak(ops_key(input.byte())),
            4 => Self::RemoveRange(ops_key(input.byte()), ops_key(input.byte())),
            5 => Self::RemovePrefix(ops_prefix(input.byte())),
            6 => Self::Merge(ops_key(input.byte()), input.value()),
            7 | 8 => Self::Get(ops_key(input.byte())),
            9 => Self::Range(input.bound(), input.bound()),
            10 => Self::Prefix(ops_prefix(input.byte())),
            11 => Self::Flush {
                gc: code & 0x10 != 0,
                fault: input.fault(),
            },
            12 => Self::Compact {
                strategy: input.byte(),
                steps: 1 + code / 16 % 4,
                gc: code & 0x80 != 0,
                fault: input.fault(),
            },
            13 => Self::MajorCompact {
                gc: code & 0x10 != 0,
                fault: input.fault(),
            },
            14 => Self::Reopen(input.power_loss(code / 16)),
            _ => Self::Insert(ops_key(input.byte()), Vec::new()),
        })
    }
}

/// The option sets (tiny blocks and tables; filters off or partitioned, a prefix extractor, LZ4).
fn configure(config: Config, set: u8) -> Config {
    let config = config.table_target_size(1024);
    match set % 4 {
        0 => config
            .prefix_extractor(Arc::new(strata::FixedPrefixExtractor::new(1)))
            .data_block_size_policy(BlockSizePolicy::all(128)),
        1 => config
            .data_block_size_policy(BlockSizePolicy::all(64))
            .data_block_restart_interval_policy(RestartIntervalPolicy::all(1))
            .filter_policy(FilterPolicy::disabled()),
        2 => config
            .prefix_extractor(Arc::new(strata::FixedPrefixExtractor::new(1)))
            .data_block_size_policy(BlockSizePolicy::all(64))
            .index_block_partitioning_policy(PinningPolicy::all(true))
            .filter_block_partitioning_policy(PinningPolicy::all(true))
            .filter_block_pinning_policy(PinningPolicy::all(false))
            .index_block_pinning_policy(PinningPolicy::all(false)),
        _ => config
            .data_block_compression_policy(CompressionPolicy::all(strata::CompressionType::Lz4))
            .data_block_size_policy(BlockSizePolicy::all(256)),
    }
}

fn strategy(which: u8) -> Arc<dyn CompactionStrategy> {
    match which % 3 {
        0 => Arc::new(
            Leveled::default()
                .with_l0_threshold(2)
                .with_table_target_size(512)
                .with_level_ratio_policy(vec![2.0]),
        ),
        1 => Arc::new(
            Leveled::default()
                .with_l0_threshold(1)
                .with_table_target_size(1024)
                .with_dynamic_level_bytes(true),
        ),
        _ => Arc::new(
            SizeTiered::default()
                .with_run_trigger(2)
                .with_table_target_size(1024),
        ),
    }
}

/// Where a key stands for the weak-tombstone contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Written {
    /// Nothing written since its last delete (or ever).
    Deleted,
    /// One plain insert since its last delete.
    Once,
    /// Anything else.
    More,
}

/// The latest state of the tree at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct State {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    written: BTreeMap<Vec<u8>, Written>,
}

impl State {
    fn written(&self, key: &[u8]) -> Written {
        self.written.get(key).copied().unwrap_or(Written::Deleted)
    }

    fn insert(&mut self, key: &[u8], value: &[u8]) {
        self.map.insert(key.to_vec(), value.to_vec());
        let next = match self.written(key) {
            Written::Deleted => Written::Once,
            _ => Written::More,
        };
        self.written.insert(key.to_vec(), next);
    }

    fn merge(&mut self, key: &[u8], operand: &[u8]) {
        self.map
            .entry(key.to_vec())
            .or_default()
            .extend_from_slice(operand);
        self.written.insert(key.to_vec(), Written::More);
    }

    fn delete_where(&mut self, mut covered: impl FnMut(&[u8]) -> bool) {
        self.map.retain(|k, _| !covered(k));
        for (key, written) in &mut self.written {
            if covered(key) {
                *written = Written::Deleted;
            }
        }
    }

    /// `self` with, per key, the less certain weak-tombstone standing of `self` and `other`
    /// (both hold the same map).
    fn merged_standing(mut self, other: &Self) -> Self {
        for (key, written) in &other.written {
            let mine = self.written(key);
            self.written.insert(key.clone(), mine.max(*written));
        }
        self
    }
}

fn pair(item: impl Guard) -> (Vec<u8>, Vec<u8>) {
    let (k, v) = item.into_inner().expect("in-memory reads do not fail");
    (k.to_vec(), v.to_vec())
}

fn contents(tree: &Tree) -> Vec<(Vec<u8>, Vec<u8>)> {
    tree.iter(SeqNo::MAX, None).map(pair).collect()
}

fn check_contents(tree: &Tree, state: &State, what: &str) {
    let expected: Vec<_> = state.map.clone().into_iter().collect();
    assert_eq!(contents(tree), expected, "{what}: forward scan");
    let mut backward: Vec<_> = tree.iter(SeqNo::MAX, None).rev().map(pair).collect();
    backward.reverse();
    assert_eq!(backward, expected, "{what}: backward scan");
}

/// Runs `step` with `fault` planned on `faulty`; returns its result and whether the fault fired.
fn with_fault<T>(
    faulty: &FaultFs,
    fault: Option<Injected>,
    step: impl FnOnce() -> strata::Result<T>,
) -> (strata::Result<T>, bool) {
    let before = faulty.faults_fired();
    if let Some(f) = fault {
        faulty.fail(f.op, f.nth, f.fault);
    }
    let result = step();
    let fired = faulty.faults_fired() > before;
    faulty.clear();
    (result, fired)
}

struct Harness {
    mem: MemFs,
    faulty: FaultFs,
    seqno: SequenceNumberCounter,
    set: u8,
    live: State,
    durable: State,
    /// Keys merged at any time: never weakly deleted (merges and single deletes do not mix).
    merged: BTreeSet<Vec<u8>>,
    salt: u64,
}

impl Harness {
    fn open(&self) -> Tree {
        let config = Config::new(DIR, self.seqno.clone(), SequenceNumberCounter::default())
            .fs(Arc::new(self.faulty.clone()))
            .with_merge_operator(Some(Arc::new(Append)));
        configure(config, self.set)
            .open()
            .expect("opening the tree in memory")
    }

    fn reopen(&mut self, tree: Tree, power_loss: Option<CrashMode>) -> Tree {
        drop(tree);
        if let Some(mode) = power_loss {
            self.salt += 1;
            self.mem.crash(mode, self.salt);
            self.mem.disarm();
        }
        self.open()
    }

    fn threshold(&self, gc: bool) -> SeqNo {
        if gc { self.seqno.get() } else { 0 }
    }

    /// After a step (`what`) whose planned fault fired: see the module documentation.
    /// `candidates` are the states the reopened tree may hold.
    fn after_fault(
        &mut self,
        tree: Tree,
        result: &strata::Result<()>,
        power_loss: Option<CrashMode>,
        candidates: Vec<State>,
        what: &str,
    ) -> Tree {
        match result {
            Ok(()) | Err(Error::Poisoned) => {}
            Err(Error::Io { .. }) => assert!(
                matches!(tree.flush(&tree.get_flush_lock(), 0), Err(Error::Poisoned)),
                "{what}: a flush after the I/O error was not refused"
            ),
            Err(other) => panic!("{what}: unexpected error {other}"),
        }
        check_contents(
            &tree,
            &self.live,
            &format!("{what}: reads after the failure"),
        );
        count(&STATS.faults_fired);
        let tree = self.reopen(tree, power_loss);
        let found = contents(&tree);
        let candidates_len = candidates.len();
        let matching: Vec<State> = candidates
            .into_iter()
            .filter(|c| c.map.clone().into_iter().collect::<Vec<_>>() == found)
            .collect();
        if candidates_len == 2 {
            if matching.first() == Some(&self.live) {
                count(&STATS.failed_flushes_landed);
            } else {
                count(&STATS.failed_flushes_lost);
            }
        }
        let Some(first) = matching.first() else {
            panic!("{what}: the reopened tree holds none of the allowed states: {found:?}");
        };
        let state = matching
            .iter()
            .fold(first.clone(), |acc, c| acc.merged_standing(c));
        self.durable = state.clone();
        self.live = state;
        check_contents(&tree, &self.live, &format!("{what}: after the reopen"));
        tree
    }

    fn run(&mut self, mut tree: Tree, op: Op) -> Tree {
        match op {
            Op::Insert(key, value) => {
                tree.insert(key.as_slice(), value.as_slice(), self.seqno.next());
                self.live.insert(&key, &value);
            }
            Op::Remove(key) => {
                tree.remove(key.as_slice(), self.seqno.next());
                self.live.delete_where(|k| k == key);
            }
            Op::RemoveWeak(key) => {
                if self.live.written(&key) == Written::Once && !self.merged.contains(&key) {
                    tree.remove_weak(key.as_slice(), self.seqno.next());
                    count(&STATS.weak_removes);
                } else {
                    tree.remove(key.as_slice(), self.seqno.next());
                }
                self.live.delete_where(|k| k == key);
            }
            Op::RemoveRange(start, end) => {
                let bytes = tree.remove_range(start.as_slice(), end.as_slice(), self.seqno.next());
                assert_eq!(bytes == 0, start >= end, "remove_range {start:?}..{end:?}");
                self.live
                    .delete_where(|k| start.as_slice() <= k && k < end.as_slice());
            }
            Op::RemovePrefix(prefix) => {
                let bytes = tree.remove_prefix(prefix.as_slice(), self.seqno.next());
                assert_eq!(bytes == 0, prefix.is_empty(), "remove_prefix {prefix:?}");
                if !prefix.is_empty() {
                    self.live.delete_where(|k| k.starts_with(&prefix));
                }
            }
            Op::Merge(key, operand) => {
                tree.merge(key.as_slice(), operand.as_slice(), self.seqno.next());
                self.live.merge(&key, &operand);
                self.merged.insert(key);
            }
            Op::Get(key) => {
                let got = tree
                    .get(&key, SeqNo::MAX)
                    .expect("in-memory reads do not fail");
                assert_eq!(
                    got.map(|v| v.to_vec()).as_ref(),
                    self.live.map.get(&key),
                    "get {key:?}"
                );
            }
            Op::Range(lo, hi) => {
                let inside = |k: &Vec<u8>| {
                    (match &lo {
                        Bound::Included(b) => k >= b,
                        Bound::Excluded(b) => k > b,
                        Bound::Unbounded => true,
                    }) && (match &hi {
                        Bound::Included(b) => k <= b,
                        Bound::Excluded(b) => k < b,
                        Bound::Unbounded => true,
                    })
                };
                let expected: Vec<_> = self
                    .live
                    .map
                    .iter()
                    .filter(|(k, _)| inside(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                // NB: an inverted range (lo after hi) reads empty, as the model's filter does.
                let bounds = (lo.clone(), hi.clone());
                let forward: Vec<_> = tree
                    .range(bounds.clone(), SeqNo::MAX, None)
                    .map(pair)
                    .collect();
                assert_eq!(forward, expected, "range {lo:?}..{hi:?}");
                let mut backward: Vec<_> = tree
                    .range(bounds, SeqNo::MAX, None)
                    .rev()
                    .map(pair)
                    .collect();
                backward.reverse();
                assert_eq!(backward, expected, "range {lo:?}..{hi:?} backward");
            }
            Op::Prefix(prefix) => {
                let expected: Vec<_> = self
                    .live
                    .map
                    .iter()
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let forward: Vec<_> = tree.prefix(&prefix, SeqNo::MAX, None).map(pair).collect();
                assert_eq!(forward, expected, "prefix {prefix:?}");
                let mut backward: Vec<_> = tree
                    .prefix(&prefix, SeqNo::MAX, None)
                    .rev()
                    .map(pair)
                    .collect();
                backward.reverse();
                assert_eq!(backward, expected, "prefix {prefix:?} backward");
                assert_eq!(
                    tree.contains_prefix(&prefix, SeqNo::MAX, None)
                        .expect("in-memory reads do not fail"),
                    !expected.is_empty(),
                    "contains_prefix {prefix:?}"
                );
            }
            Op::Flush { gc, fault } => {
                let threshold = self.threshold(gc);
                let (result, fired) = with_fault(&self.faulty, fault, || {
                    tree.flush_active_memtable(threshold)
                });
                if fired {
                    // Not durable unless it returned success: with or without its tables.
                    let mut candidates = vec![self.live.clone()];
                    if result.is_err() {
                        candidates.push(self.durable.clone());
                    }
                    let power_loss = fault.and_then(|f| f.power_loss);
                    let what = format!("flush with {fault:?}");
                    tree = self.after_fault(tree, &result, power_loss, candidates, &what);
                } else {
                    result.expect("a flush without a fault");
                    count(&STATS.flushes);
                    self.durable = self.live.clone();
                }
            }
            Op::Compact {
                strategy: which,
                steps,
                gc,
                fault,
            } => {
                let threshold = self.threshold(gc);
                let strategy = strategy(which);
                let (result, fired) = with_fault(&self.faulty, fault, || {
                    for _ in 0..steps {
                        let result = tree.compact(strategy.clone(), threshold)?;
                        if result.action == CompactionAction::Nothing {
                            break;
                        }
                    }
                    Ok(())
                });
                tree = self.after_compaction(tree, result, fired, fault, "compaction");
            }
            Op::MajorCompact { gc, fault } => {
                let threshold = self.threshold(gc);
                let (result, fired) = with_fault(&self.faulty, fault, || {
                    tree.major_compact(1024, threshold).map(|_| ())
                });
                tree = self.after_compaction(tree, result, fired, fault, "major compaction");
            }
            Op::Reopen(power_loss) => {
                count(&STATS.reopens);
                tree = self.reopen(tree, power_loss);
                self.live = self.durable.clone();
                check_contents(&tree, &self.live, &format!("reopen after {power_loss:?}"));
            }
        }
        tree
    }

    fn after_compaction(
        &mut self,
        tree: Tree,
        result: strata::Result<()>,
        fired: bool,
        fault: Option<Injected>,
        what: &str,
    ) -> Tree {
        if fired {
            // A failed compaction never loses data: the tables hold what they held.
            let candidates = vec![self.durable.clone()];
            let power_loss = fault.and_then(|f| f.power_loss);
            let what = format!("{what} with {fault:?}");
            return self.after_fault(tree, &result, power_loss, candidates, &what);
        }
        result.unwrap_or_else(|e| panic!("{what} without a fault failed: {e}"));
        count(&STATS.compactions);
        check_contents(&tree, &self.live, what);
        tree
    }
}

/// At most this many operations run per input: longer inputs add nothing but time.
const MAX_OPS: usize = 400;

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes(data);
    let Some(set) = input.next() else {
        return;
    };
    let mem = MemFs::new();
    let mut harness = Harness {
        faulty: FaultFs::new(Arc::new(mem.clone())),
        mem,
        seqno: SequenceNumberCounter::default(),
        set,
        live: State::default(),
        durable: State::default(),
        merged: BTreeSet::new(),
        salt: 0,
    };
    let mut tree = harness.open();
    for _ in 0..MAX_OPS {
        let Some(op) = Op::decode(&mut input) else {
            break;
        };
        tree = harness.run(tree, op);
        count(&STATS.ops);
    }
    check_contents(&tree, &harness.live, "at the end");
    if std::env::var_os("STRATA_FUZZ_OPS_STATS").is_some() {
        eprintln!("ops: {STATS:?}");
    }
});
