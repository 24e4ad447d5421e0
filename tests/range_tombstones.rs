//! Range tombstones (`remove_range`, `remove_prefix`) end to end, through the public API only.
//!
//! The contract (shared/API.md): a range tombstone (RT) at seqno S hides every entry with a seqno
//! below S in `[start, end)` (through the tree's comparator) from reads at X > S, in every read
//! method and every source, and survives flush, compaction and reopen; compaction reclaims the
//! space under it. The tests follow the checklist of bug classes in the range-tombstone design
//! note (section 3), each named after what it checks:
//!
//! 1. clipping and table bounds: RTs over keys only in older tables, over the gaps between
//!    compaction outputs, RT-only memtables compacted to a fixpoint;
//! 2. tables that hold only RTs: flush, reopen, compact, read around the RT's seqno;
//! 3. seqno boundaries: reads at S-1, S, S+1 over entries at S-1, S, S+1, batches sharing S, GC
//!    watermarks at S;
//! 4. every read method agrees with the model, including a key the bloom filter rules out;
//! 5. reverse and mixed scans over nested and adjacent RTs, and a proptest against a model;
//! 6. merge operands under an RT resolve onto no base, before and after compaction;
//! 7. the RTs do not multiply across compaction rounds;
//! 8. a compaction failing at any file call loses neither data nor an RT;
//! 9. a damaged table holding RTs is an error, never resurrected data;
//! 10. the core scenarios again under a reverse comparator.
//!
//! Keys are `key(i, reverse)`: under the reverse comparator the digits count down, so the
//! comparator order of `key(i, _)` is the order of `i` in both modes and one index model serves
//! both. `tests/tree_model.rs` mixes RTs with every other operation at random.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::too_many_lines,
    clippy::needless_pass_by_value,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap is a failed test; small test sizes; the corruption \
              test damages table files behind the engine's back"
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use strata::compaction::{CompactionAction, CompactionStrategy, Leveled, SizeTiered};
use strata::config::{BlockSizePolicy, PinningPolicy};
use strata::fs::{CrashMode, Fault, FaultFs, FaultOp, Fs, MemFs};
use strata::{
    Cache, Config, Error, Guard, MergeOperator, SeqNo, SequenceNumberCounter, Slice, Tree,
};

// ---------------------------------------------------------------------------------------------
// Keys, trees and the model
// ---------------------------------------------------------------------------------------------

/// The key of index `i`: `k0007` in byte order; under the reverse comparator `k9992`, so that
/// the comparator order of keys is the order of their indices in both modes.
fn key(i: u32, reverse: bool) -> Vec<u8> {
    assert!(i < 10_000);
    let digits = if reverse { 9_999 - i } else { i };
    format!("k{digits:04}").into_bytes()
}

/// A list append (associative).
struct Append;

impl MergeOperator for Append {
    fn merge(&self, _: &[u8], base: Option<&[u8]>, operands: &[&[u8]]) -> strata::Result<Slice> {
        let mut list = base.unwrap_or_default().to_vec();
        for operand in operands {
            list.extend_from_slice(operand);
        }
        Ok(list.into())
    }
}

/// How a test's tree is opened.
#[derive(Clone, Copy, Debug)]
struct Opts {
    reverse: bool,
    merge: bool,
    block_bytes: u32,
    table_bytes: u64,
}

impl Opts {
    fn new(reverse: bool) -> Self {
        Opts {
            reverse,
            merge: false,
            block_bytes: 256,
            table_bytes: 4 << 10,
        }
    }

    fn config(self, dir: impl AsRef<Path>, seqno: &SequenceNumberCounter) -> Config {
        let config = common::small_config(dir, seqno, self.block_bytes, self.table_bytes);
        let config = if self.reverse {
            config.comparator(Arc::new(common::Reverse))
        } else {
            config
        };
        if self.merge {
            config.with_merge_operator(Some(Arc::new(Append)))
        } else {
            config
        }
    }

    fn open(self, dir: impl AsRef<Path>, seqno: &SequenceNumberCounter) -> Tree {
        self.config(dir, seqno).open().unwrap()
    }
}

/// An MVCC-exact model over key indices: every version of every key and every RT.
#[derive(Clone, Debug, Default)]
struct Model {
    /// Index -> seqno -> value (`None`: a point tombstone).
    versions: BTreeMap<u32, BTreeMap<SeqNo, Option<Vec<u8>>>>,
    /// `(start, end, seqno)` over indices `[start, end)`.
    rts: Vec<(u32, u32, SeqNo)>,
}

impl Model {
    fn insert(&mut self, tree: &Tree, i: u32, value: &[u8], s: SeqNo, reverse: bool) {
        tree.insert(key(i, reverse), value.to_vec(), s);
        self.versions
            .entry(i)
            .or_default()
            .insert(s, Some(value.to_vec()));
    }

    fn remove(&mut self, tree: &Tree, i: u32, s: SeqNo, reverse: bool) {
        tree.remove(key(i, reverse), s);
        self.versions.entry(i).or_default().insert(s, None);
    }

    /// An RT over indices `[start, end)`; returns what `remove_range` returned.
    fn remove_range(&mut self, tree: &Tree, start: u32, end: u32, s: SeqNo, reverse: bool) -> u64 {
        let bytes = tree.remove_range(key(start, reverse), key(end, reverse), s);
        if start < end {
            self.rts.push((start, end, s));
        }
        bytes
    }

    /// The highest seqno of an RT covering `i` that a read at `read` sees, or 0.
    fn cover(&self, i: u32, read: SeqNo) -> SeqNo {
        self.rts
            .iter()
            .filter(|&&(a, b, s)| a <= i && i < b && s < read)
            .map(|r| r.2)
            .max()
            .unwrap_or(0)
    }

    fn get(&self, i: u32, read: SeqNo) -> Option<Vec<u8>> {
        let (&s, value) = self.versions.get(&i)?.range(..read).next_back()?;
        if s < self.cover(i, read) {
            None
        } else {
            value.clone()
        }
    }

    /// What a read at `read` sees, in comparator order.
    fn visible(&self, read: SeqNo, reverse: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.versions
            .keys()
            .filter_map(|&i| self.get(i, read).map(|v| (key(i, reverse), v)))
            .collect()
    }

    /// Every index ever written, plus a few never written.
    fn probes(&self) -> Vec<u32> {
        let mut probes: Vec<u32> = self.versions.keys().copied().collect();
        probes.extend([9_000, 9_001, 9_998]);
        probes
    }
}

fn pair(item: impl Guard) -> (Vec<u8>, Vec<u8>) {
    let (k, v) = item.into_inner().unwrap();
    (k.to_vec(), v.to_vec())
}

fn pairs(iter: impl Iterator<Item = impl Guard>) -> Vec<(Vec<u8>, Vec<u8>)> {
    iter.map(pair).collect()
}

/// Readable key-value pairs for an assertion message.
fn show(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

/// `got == want`, or a panic naming the first difference and both sides readably.
fn assert_pairs(got: &[(Vec<u8>, Vec<u8>)], want: &[(Vec<u8>, Vec<u8>)], what: &str) {
    if got != want {
        let first = got
            .iter()
            .zip(want)
            .position(|(g, w)| g != w)
            .unwrap_or(got.len().min(want.len()));
        let (got, want) = (show(got), show(want));
        panic!(
            "{what}: {} pairs, expected {}; first difference at {first}: got {:?}, expected {:?}\n got: {got:?}\nwant: {want:?}",
            got.len(),
            want.len(),
            got.get(first),
            want.get(first),
        );
    }
}

/// Forward, backward and interleaved (`dirs`: true = `next`) scans of `iter()` must give
/// `expected`.
fn check_scans<I, F>(make: F, expected: &[(Vec<u8>, Vec<u8>)], what: &str)
where
    I: DoubleEndedIterator,
    I::Item: Guard,
    F: Fn() -> I,
{
    assert_pairs(&pairs(make()), expected, &format!("{what}: forward"));
    let mut backward = pairs(make().rev());
    backward.reverse();
    assert_pairs(&backward, expected, &format!("{what}: backward"));
    let patterns: [&[bool]; 5] = [
        &[true, false],
        &[false, true],
        &[false, false, true],
        &[true, true, false, false, false],
        &[false, true, true, true, false],
    ];
    for dirs in patterns {
        let mut it = make();
        let (mut front, mut back) = (Vec::new(), Vec::new());
        for &forward in dirs.iter().cycle() {
            let item = if forward { it.next() } else { it.next_back() };
            let Some(item) = item else { break };
            if forward {
                front.push(pair(item));
            } else {
                back.push(pair(item));
            }
        }
        back.reverse();
        front.extend(back);
        assert_pairs(&front, expected, &format!("{what}: mixed {dirs:?}"));
    }
}

/// Every read method at `read` against the model.
fn check_reads(tree: &Tree, model: &Model, read: SeqNo, reverse: bool, what: &str) {
    let what = format!("{what} at {read}");
    let expected = model.visible(read, reverse);
    check_scans(|| tree.iter(read, None), &expected, &what);
    // Point reads, for keys that are there and keys that are not.
    let probes = model.probes();
    for &i in &probes {
        let k = key(i, reverse);
        let want = model.get(i, read);
        let got = tree.get(&k, read).unwrap().map(|v| v.to_vec());
        assert_eq!(got, want, "{what}: get {}", String::from_utf8_lossy(&k));
        assert_eq!(
            tree.contains_key(&k, read).unwrap(),
            want.is_some(),
            "{what}: contains_key {}",
            String::from_utf8_lossy(&k)
        );
        assert_eq!(
            tree.size_of(&k, read).unwrap(),
            want.as_ref().map(|v| v.len() as u32),
            "{what}: size_of {}",
            String::from_utf8_lossy(&k)
        );
    }
    let keys: Vec<Vec<u8>> = probes.iter().map(|&i| key(i, reverse)).collect();
    let got: Vec<Option<Vec<u8>>> = tree
        .multi_get(&keys, read)
        .unwrap()
        .into_iter()
        .map(|v| v.map(|v| v.to_vec()))
        .collect();
    let want: Vec<Option<Vec<u8>>> = probes.iter().map(|&i| model.get(i, read)).collect();
    assert_eq!(got, want, "{what}: multi_get");
    assert_eq!(tree.len(read, None).unwrap(), expected.len(), "{what}: len");
    assert_eq!(
        tree.is_empty(read, None).unwrap(),
        expected.is_empty(),
        "{what}: is_empty"
    );
    assert_eq!(
        tree.first_key_value(read, None).map(pair),
        expected.first().cloned(),
        "{what}: first_key_value"
    );
    assert_eq!(
        tree.last_key_value(read, None).map(pair),
        expected.last().cloned(),
        "{what}: last_key_value"
    );
    // Prefixes of one and two digits (whole decades and hundreds of indices).
    for prefix in ["k", "k0", "k00", "k01", "k99", "k9", "k1"] {
        let want: Vec<_> = expected
            .iter()
            .filter(|(k, _)| k.starts_with(prefix.as_bytes()))
            .cloned()
            .collect();
        check_scans(
            || tree.prefix(prefix, read, None),
            &want,
            &format!("{what}: prefix {prefix}"),
        );
        assert_eq!(
            tree.contains_prefix(prefix, read, None).unwrap(),
            !want.is_empty(),
            "{what}: contains_prefix {prefix}"
        );
    }
    // Ranges whose bounds fall on, inside and around the written keys (and RTs).
    let mut bounds: Vec<u32> = probes.iter().copied().filter(|&i| i < 9_000).collect();
    bounds.extend(model.rts.iter().flat_map(|r| [r.0, r.1]));
    bounds.sort_unstable();
    bounds.dedup();
    let step = (bounds.len() / 6).max(1);
    let picks: Vec<u32> = bounds.iter().copied().step_by(step).collect();
    for &lo in &picks {
        for &hi in &picks {
            if lo > hi {
                continue;
            }
            let (klo, khi) = (key(lo, reverse), key(hi, reverse));
            let in_range = |k: &Vec<u8>| {
                let i = index_of(k, reverse);
                lo <= i && i < hi
            };
            let want: Vec<_> = expected
                .iter()
                .filter(|(k, _)| in_range(k))
                .cloned()
                .collect();
            check_scans(
                || tree.range(klo.clone()..khi.clone(), read, None),
                &want,
                &format!("{what}: range {lo}..{hi}"),
            );
            let want: Vec<_> = expected
                .iter()
                .filter(|(k, _)| {
                    let i = index_of(k, reverse);
                    lo <= i && i <= hi
                })
                .cloned()
                .collect();
            assert_eq!(
                pairs(tree.range(klo.clone()..=khi.clone(), read, None)),
                want,
                "{what}: range {lo}..={hi}"
            );
        }
    }
}

/// The index of a key made by `key`.
fn index_of(k: &[u8], reverse: bool) -> u32 {
    let digits: u32 = std::str::from_utf8(&k[1..]).unwrap().parse().unwrap();
    if reverse { 9_999 - digits } else { digits }
}

/// Runs `strategy` until a step does nothing.
fn compact_to_fixpoint(
    tree: &Tree,
    strategy: Arc<dyn CompactionStrategy>,
    watermark: SeqNo,
) -> usize {
    for steps in 0..500 {
        if tree
            .compact(Arc::clone(&strategy), watermark)
            .unwrap()
            .action
            == CompactionAction::Nothing
        {
            return steps;
        }
    }
    panic!("compaction did not settle in 500 steps");
}

fn tiny_leveled() -> Arc<dyn CompactionStrategy> {
    Arc::new(
        Leveled::default()
            .with_l0_threshold(1)
            .with_table_target_size(512)
            .with_level_ratio_policy(vec![2.0]),
    )
}

/// A value that makes tables of a useful size.
fn value(i: u32, tag: &str) -> Vec<u8> {
    format!("{tag}-{i:05}-").repeat(3).into_bytes()
}

// ---------------------------------------------------------------------------------------------
// 1. Clipping and table bounds
// ---------------------------------------------------------------------------------------------

/// Keys in older tables only, an RT in the memtable over them (no point key of its own there):
/// the flush must write the RT whole, though no key of the new table lies in its range.
fn rt_over_keys_only_in_older_tables(reverse: bool) {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let opts = Opts::new(reverse);
    let tree = opts.open(dir.path(), &seqno);
    let mut model = Model::default();
    for i in 0..100 {
        model.insert(&tree, i, &value(i, "old"), seqno.next(), reverse);
    }
    tree.flush_active_memtable(0).unwrap();
    tree.major_compact(4 << 10, 0).unwrap();
    for i in 100..120 {
        model.insert(&tree, i, &value(i, "l0"), seqno.next(), reverse);
    }
    tree.flush_active_memtable(0).unwrap();
    let before = seqno.get();
    // The memtable gets the RT and keys far outside it only.
    model.remove_range(&tree, 20, 80, seqno.next(), reverse);
    model.insert(&tree, 500, b"far", seqno.next(), reverse);
    check_reads(&tree, &model, seqno.get(), reverse, "in the memtable");
    tree.flush_active_memtable(0).unwrap();
    check_reads(&tree, &model, seqno.get(), reverse, "flushed");
    check_reads(&tree, &model, before, reverse, "flushed, snapshot");
    drop(tree);
    let tree = opts.open(dir.path(), &seqno);
    check_reads(&tree, &model, seqno.get(), reverse, "reopened");
    check_reads(&tree, &model, before, reverse, "reopened, snapshot");
}

#[test]
fn rt_over_keys_only_in_older_tables_hides_them_after_flush_and_reopen() {
    rt_over_keys_only_in_older_tables(false);
}

#[test]
fn rt_over_keys_only_in_older_tables_hides_them_under_a_reverse_comparator() {
    rt_over_keys_only_in_older_tables(true);
}

/// Odd keys old and at the bottom; an RT over almost all of them, then even keys written after
/// it, so that compaction outputs (tiny tables) hold even keys only and the odd keys hidden by
/// the RT sit in the gaps between outputs, in a level below. Clipping the RT to each output's
/// first..last key would resurrect them.
fn rt_spanning_the_gaps_between_compaction_outputs(reverse: bool, watermark_latest: bool) {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let opts = Opts {
        table_bytes: 512,
        ..Opts::new(reverse)
    };
    let tree = opts.open(dir.path(), &seqno);
    let mut model = Model::default();
    for i in (1..400).step_by(2) {
        model.insert(&tree, i, &value(i, "odd"), seqno.next(), reverse);
    }
    tree.flush_active_memtable(0).unwrap();
    tree.major_compact(512, 0).unwrap();
    let snapshot = seqno.get();
    model.remove_range(&tree, 10, 390, seqno.next(), reverse);
    for i in (0..400).step_by(2) {
        model.insert(&tree, i, &value(i, "even"), seqno.next(), reverse);
    }
    tree.flush_active_memtable(0).unwrap();
    let watermark = if watermark_latest { seqno.get() } else { 0 };
    let steps = compact_to_fixpoint(&tree, tiny_leveled(), watermark);
    assert!(steps >= 1);
    assert!(
        tree.table_count() >= 4,
        "tiny outputs: {}",
        tree.table_count()
    );
    check_reads(
        &tree,
        &model,
        seqno.get(),
        reverse,
        "after leveled compaction",
    );
    if !watermark_latest {
        check_reads(
            &tree,
            &model,
            snapshot,
            reverse,
            "snapshot after compaction",
        );
    }
    // More rounds: a new L0 table of a few keys, compacted through the levels again.
    for round in 0..3u32 {
        for i in (0..400).step_by(37) {
            model.insert(&tree, i + round % 2, b"again", seqno.next(), reverse);
        }
        tree.flush_active_memtable(0).unwrap();
        let watermark = if watermark_latest { seqno.get() } else { 0 };
        compact_to_fixpoint(&tree, tiny_leveled(), watermark);
        check_reads(&tree, &model, seqno.get(), reverse, "after another round");
    }
    tree.major_compact(512, if watermark_latest { seqno.get() } else { 0 })
        .unwrap();
    check_reads(
        &tree,
        &model,
        seqno.get(),
        reverse,
        "after major compaction",
    );
    drop(tree);
    let tree = opts.open(dir.path(), &seqno);
    check_reads(&tree, &model, seqno.get(), reverse, "reopened");
}

#[test]
fn rt_spanning_the_gaps_between_compaction_outputs_keeps_hiding_the_keys_below() {
    rt_spanning_the_gaps_between_compaction_outputs(false, false);
}

#[test]
fn rt_spanning_the_gaps_between_compaction_outputs_with_gc_keeps_hiding_the_keys_below() {
    rt_spanning_the_gaps_between_compaction_outputs(false, true);
}

#[test]
fn rt_spanning_the_gaps_between_compaction_outputs_under_a_reverse_comparator() {
    rt_spanning_the_gaps_between_compaction_outputs(true, false);
    rt_spanning_the_gaps_between_compaction_outputs(true, true);
}

/// An RT-only memtable flushed over data in several levels, then `Leveled` steps until nothing
/// is left to do, at watermark 0 (nothing collected) and at the latest seqno.
fn rt_only_memtable_flushed_then_compacted_to_a_fixpoint(reverse: bool) {
    for watermark_latest in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let seqno = SequenceNumberCounter::default();
        let opts = Opts {
            table_bytes: 1024,
            ..Opts::new(reverse)
        };
        let tree = opts.open(dir.path(), &seqno);
        let mut model = Model::default();
        for round in 0..4u32 {
            for i in (round..300).step_by(4) {
                model.insert(&tree, i, &value(i, "v"), seqno.next(), reverse);
            }
            tree.flush_active_memtable(0).unwrap();
            if round == 1 {
                compact_to_fixpoint(&tree, tiny_leveled(), 0);
            }
        }
        let snapshot = seqno.get();
        model.remove_range(&tree, 50, 250, seqno.next(), reverse);
        model.remove_range(&tree, 100, 120, seqno.next(), reverse);
        model.remove_range(&tree, 290, 400, seqno.next(), reverse);
        tree.flush_active_memtable(0).unwrap();
        check_reads(&tree, &model, seqno.get(), reverse, "RT-only table flushed");
        let watermark = if watermark_latest { seqno.get() } else { 0 };
        compact_to_fixpoint(&tree, tiny_leveled(), watermark);
        check_reads(
            &tree,
            &model,
            seqno.get(),
            reverse,
            "compacted to a fixpoint",
        );
        if !watermark_latest {
            check_reads(
                &tree,
                &model,
                snapshot,
                reverse,
                "snapshot after compaction",
            );
        }
        // A second fixpoint run does nothing more and changes nothing.
        let again = compact_to_fixpoint(&tree, tiny_leveled(), watermark);
        assert_eq!(again, 0, "the first run reached a fixpoint");
        drop(tree);
        let tree = opts.open(dir.path(), &seqno);
        check_reads(&tree, &model, seqno.get(), reverse, "reopened");
        if !watermark_latest {
            check_reads(&tree, &model, snapshot, reverse, "reopened, snapshot");
        }
    }
}

#[test]
fn rt_only_memtable_flushed_then_leveled_compaction_to_a_fixpoint_keeps_keys_hidden() {
    rt_only_memtable_flushed_then_compacted_to_a_fixpoint(false);
}

#[test]
fn rt_only_memtable_flushed_then_compacted_under_a_reverse_comparator() {
    rt_only_memtable_flushed_then_compacted_to_a_fixpoint(true);
}

/// Level-0 tables whose RTs widen their bounds over each other: the reads must still take each
/// table's keys and RTs in seqno order, and `SizeTiered` merges them right.
#[test]
fn level_0_tables_widened_by_rts_overlap_and_merge_right() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = Opts::new(false).open(dir.path(), &seqno);
    let mut model = Model::default();
    // Table 1: keys 40..60. Table 2: keys 0..10 and an RT over 0..100. Table 3: keys 45..50.
    for i in 40..60 {
        model.insert(&tree, i, b"t1", seqno.next(), false);
    }
    tree.flush_active_memtable(0).unwrap();
    for i in 0..10 {
        model.insert(&tree, i, b"t2", seqno.next(), false);
    }
    model.remove_range(&tree, 5, 100, seqno.next(), false);
    tree.flush_active_memtable(0).unwrap();
    for i in 45..50 {
        model.insert(&tree, i, b"t3", seqno.next(), false);
    }
    tree.flush_active_memtable(0).unwrap();
    check_reads(&tree, &model, seqno.get(), false, "three level-0 tables");
    compact_to_fixpoint(&tree, Arc::new(SizeTiered::default()), 0);
    check_reads(&tree, &model, seqno.get(), false, "size-tiered");
    compact_to_fixpoint(&tree, tiny_leveled(), seqno.get());
    check_reads(&tree, &model, seqno.get(), false, "leveled with GC");
}

// ---------------------------------------------------------------------------------------------
// 2. Tables holding only range tombstones
// ---------------------------------------------------------------------------------------------

fn rt_only_table_reopen_compact_and_read_around_its_seqno(reverse: bool) {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let opts = Opts::new(reverse);
    let tree = opts.open(dir.path(), &seqno);
    let mut model = Model::default();
    for i in 0..50 {
        model.insert(&tree, i, &value(i, "v"), seqno.next(), reverse);
    }
    tree.flush_active_memtable(0).unwrap();
    assert_eq!(tree.table_count(), 1);
    let s = seqno.next();
    model.remove_range(&tree, 10, 40, s, reverse);
    tree.flush_active_memtable(0).unwrap();
    assert_eq!(tree.table_count(), 2, "the RT-only memtable became a table");
    assert_eq!(tree.sealed_memtable_count(), 0);
    let reads = [s - 1, s, s + 1, SeqNo::MAX];
    for &at in &reads {
        check_reads(&tree, &model, at, reverse, "RT-only table");
    }
    drop(tree);
    let tree = opts.open(dir.path(), &seqno);
    assert_eq!(tree.table_count(), 2);
    for &at in &reads {
        check_reads(&tree, &model, at, reverse, "RT-only table reopened");
    }
    // Compacted with a watermark below the RT: everything kept, for every read.
    tree.major_compact(4 << 10, s - 1).unwrap();
    for &at in &reads {
        check_reads(&tree, &model, at, reverse, "major at s-1");
    }
    tree.major_compact(4 << 10, s).unwrap();
    for &at in &reads[1..] {
        check_reads(&tree, &model, at, reverse, "major at s");
    }
    tree.major_compact(4 << 10, s + 1).unwrap();
    for &at in &reads[2..] {
        check_reads(&tree, &model, at, reverse, "major at s+1");
    }
    drop(tree);
    let tree = opts.open(dir.path(), &seqno);
    for &at in &reads[2..] {
        check_reads(&tree, &model, at, reverse, "reopened after major");
    }
}

#[test]
fn rt_only_table_survives_reopen_and_compaction_for_reads_around_its_seqno() {
    rt_only_table_reopen_compact_and_read_around_its_seqno(false);
}

#[test]
fn rt_only_table_survives_reopen_and_compaction_under_a_reverse_comparator() {
    rt_only_table_reopen_compact_and_read_around_its_seqno(true);
}

/// A tree that never held a point key: flushes, reopens and compactions of RTs alone.
#[test]
fn a_tree_of_range_tombstones_only_flushes_reopens_and_compacts() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let opts = Opts::new(false);
    let tree = opts.open(dir.path(), &seqno);
    let model = Model::default();
    for round in 0..3u32 {
        tree.remove_range(
            key(round * 10, false),
            key(round * 10 + 25, false),
            seqno.next(),
        );
        tree.flush_active_memtable(0).unwrap();
    }
    assert_eq!(tree.table_count(), 3, "one table per RT-only flush");
    check_reads(&tree, &model, seqno.get(), false, "RTs only");
    drop(tree);
    let tree = opts.open(dir.path(), &seqno);
    check_reads(&tree, &model, seqno.get(), false, "RTs only, reopened");
    compact_to_fixpoint(&tree, tiny_leveled(), 0);
    check_reads(&tree, &model, seqno.get(), false, "RTs only, compacted");
    // With nothing beneath them, a major compaction at the latest seqno drops them all.
    tree.major_compact(4 << 10, seqno.get()).unwrap();
    assert_eq!(
        tree.table_count(),
        0,
        "RTs with nothing beneath are dropped"
    );
    drop(tree);
    let tree = opts.open(dir.path(), &seqno);
    check_reads(&tree, &model, seqno.get(), false, "reopened, empty");
}

/// An RT-only memtable can be rotated and flushed on its own (`rotate_memtable` + `flush`).
#[test]
fn an_rt_only_memtable_rotates_and_flushes_through_the_flush_lock() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = Opts::new(false).open(dir.path(), &seqno);
    let mut model = Model::default();
    for i in 0..20 {
        model.insert(&tree, i, b"v", seqno.next(), false);
    }
    tree.flush_active_memtable(0).unwrap();
    model.remove_range(&tree, 5, 15, seqno.next(), false);
    assert_eq!(tree.active_memtable().range_tombstone_count(), 1);
    assert!(
        tree.rotate_memtable().is_some(),
        "an RT-only memtable rotates"
    );
    check_reads(&tree, &model, seqno.get(), false, "sealed RT-only memtable");
    let flushed = tree.flush(&tree.get_flush_lock(), 0).unwrap();
    assert!(flushed.is_some_and(|bytes| bytes > 0));
    assert_eq!(tree.table_count(), 2);
    assert_eq!(tree.sealed_memtable_count(), 0);
    check_reads(&tree, &model, seqno.get(), false, "flushed");
}

// ---------------------------------------------------------------------------------------------
// 3. Seqno boundaries
// ---------------------------------------------------------------------------------------------

/// Where the entries and the RT of `seqno_boundaries` live.
#[derive(Clone, Copy, Debug)]
enum Placement {
    OneMemtable,
    EntriesFlushedRtInMemtable,
    OneTable,
    SeparateTablesCompacted,
    RtSealedEntriesActive,
}

/// Keys 0, 1, 2 at S-1, S, S+1; key 3 with versions at S-1 and S+1; key 4 written at S-1 and
/// at S (the second write in the RT's batch); key 5 outside the RT at S-1. The RT over 0..5
/// at S; a second RT at S over 3..4 (one batch with two RTs). Reads at S-1 .. S+2.
fn seqno_boundaries(reverse: bool, placement: Placement) {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::new(100);
    let opts = Opts::new(reverse);
    let tree = opts.open(dir.path(), &seqno);
    let mut model = Model::default();
    let s: SeqNo = 20;
    let entries = |tree: &Tree, model: &mut Model| {
        model.insert(tree, 0, b"0@s-1", s - 1, reverse);
        model.insert(tree, 1, b"1@s", s, reverse);
        model.insert(tree, 2, b"2@s+1", s + 1, reverse);
        model.insert(tree, 3, b"3@s-1", s - 1, reverse);
        model.insert(tree, 3, b"3@s+1", s + 1, reverse);
        model.insert(tree, 4, b"4@s-1", s - 1, reverse);
        model.insert(tree, 4, b"4@s", s, reverse);
        model.insert(tree, 5, b"5@s-1", s - 1, reverse);
    };
    let rts = |tree: &Tree, model: &mut Model| {
        model.remove_range(tree, 0, 5, s, reverse);
        model.remove_range(tree, 3, 4, s, reverse);
    };
    match placement {
        Placement::OneMemtable => {
            entries(&tree, &mut model);
            rts(&tree, &mut model);
        }
        Placement::EntriesFlushedRtInMemtable => {
            entries(&tree, &mut model);
            tree.flush_active_memtable(0).unwrap();
            rts(&tree, &mut model);
        }
        Placement::OneTable => {
            rts(&tree, &mut model);
            entries(&tree, &mut model);
            tree.flush_active_memtable(0).unwrap();
        }
        Placement::SeparateTablesCompacted => {
            entries(&tree, &mut model);
            tree.flush_active_memtable(0).unwrap();
            rts(&tree, &mut model);
            tree.flush_active_memtable(0).unwrap();
            tree.major_compact(4 << 10, 0).unwrap();
        }
        Placement::RtSealedEntriesActive => {
            rts(&tree, &mut model);
            tree.rotate_memtable().unwrap();
            entries(&tree, &mut model);
        }
    }
    let what = format!("{placement:?}");
    // The contract spelled out, independently of the model.
    assert_eq!(
        tree.get(key(0, reverse), s).unwrap().unwrap(),
        "0@s-1",
        "{what}"
    );
    assert_eq!(tree.get(key(0, reverse), s + 1).unwrap(), None, "{what}");
    assert_eq!(
        tree.get(key(1, reverse), s + 1).unwrap().unwrap(),
        "1@s",
        "{what}"
    );
    assert_eq!(tree.get(key(2, reverse), s + 1).unwrap(), None, "{what}");
    assert_eq!(
        tree.get(key(2, reverse), s + 2).unwrap().unwrap(),
        "2@s+1",
        "{what}"
    );
    assert_eq!(tree.get(key(3, reverse), s + 1).unwrap(), None, "{what}");
    assert_eq!(
        tree.get(key(3, reverse), s + 2).unwrap().unwrap(),
        "3@s+1",
        "{what}"
    );
    assert_eq!(
        tree.get(key(4, reverse), s + 1).unwrap().unwrap(),
        "4@s",
        "{what}"
    );
    assert_eq!(
        tree.get(key(5, reverse), s + 1).unwrap().unwrap(),
        "5@s-1",
        "{what}"
    );
    for at in [s - 1, s, s + 1, s + 2, SeqNo::MAX] {
        check_reads(&tree, &model, at, reverse, &what);
    }
    // Compactions at watermarks around S keep what reads at and above the watermark see.
    if !matches!(placement, Placement::RtSealedEntriesActive) {
        tree.flush_active_memtable(0).unwrap();
    }
    for watermark in [s - 1, s, s + 1, s + 2] {
        if matches!(placement, Placement::RtSealedEntriesActive) {
            tree.flush_active_memtable(0).unwrap();
        }
        tree.major_compact(4 << 10, watermark).unwrap();
        for at in [s - 1, s, s + 1, s + 2, SeqNo::MAX] {
            if at >= watermark {
                check_reads(
                    &tree,
                    &model,
                    at,
                    reverse,
                    &format!("{what}, major at {watermark}"),
                );
            }
        }
    }
    drop(tree);
    let tree = opts.open(dir.path(), &seqno);
    for at in [s + 2, SeqNo::MAX] {
        check_reads(&tree, &model, at, reverse, &format!("{what}, reopened"));
    }
}

#[test]
fn reads_at_s_minus_1_s_and_s_plus_1_around_an_rt_at_s_in_every_placement() {
    for placement in [
        Placement::OneMemtable,
        Placement::EntriesFlushedRtInMemtable,
        Placement::OneTable,
        Placement::SeparateTablesCompacted,
        Placement::RtSealedEntriesActive,
    ] {
        seqno_boundaries(false, placement);
    }
}

#[test]
fn reads_around_an_rt_at_s_in_every_placement_under_a_reverse_comparator() {
    for placement in [
        Placement::OneMemtable,
        Placement::EntriesFlushedRtInMemtable,
        Placement::OneTable,
        Placement::SeparateTablesCompacted,
        Placement::RtSealedEntriesActive,
    ] {
        seqno_boundaries(true, placement);
    }
}

/// A snapshot taken before an RT keeps seeing what the RT hides, through flush, a compaction
/// whose watermark is the snapshot, and reopen.
#[test]
fn a_snapshot_taken_before_an_rt_still_sees_what_it_hides_after_flush_compaction_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let opts = Opts::new(false);
    let tree = opts.open(dir.path(), &seqno);
    let mut model = Model::default();
    for i in 0..60 {
        model.insert(&tree, i, &value(i, "v"), seqno.next(), false);
    }
    tree.flush_active_memtable(0).unwrap();
    let snapshot = seqno.get();
    model.remove_range(&tree, 0, 60, seqno.next(), false);
    model.insert(&tree, 30, b"after", seqno.next(), false);
    check_reads(&tree, &model, snapshot, false, "memtable");
    assert_eq!(tree.len(snapshot, None).unwrap(), 60);
    assert_eq!(tree.len(seqno.get(), None).unwrap(), 1);
    tree.flush_active_memtable(0).unwrap();
    check_reads(&tree, &model, snapshot, false, "flushed");
    compact_to_fixpoint(&tree, tiny_leveled(), snapshot);
    tree.major_compact(1024, snapshot).unwrap();
    check_reads(&tree, &model, snapshot, false, "compacted at the snapshot");
    check_reads(&tree, &model, seqno.get(), false, "compacted, latest");
    drop(tree);
    let tree = opts.open(dir.path(), &seqno);
    check_reads(&tree, &model, snapshot, false, "reopened");
    check_reads(&tree, &model, seqno.get(), false, "reopened, latest");
}

// ---------------------------------------------------------------------------------------------
// 4. Every read method, every source
// ---------------------------------------------------------------------------------------------

/// RTs and keys in a bottom-level table, a level-0 table, a sealed memtable and the active one;
/// every read method at every snapshot against the model, then again after flush, reopen,
/// compaction at watermark 0 and at the latest seqno.
fn every_read_method_agrees(reverse: bool) {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let opts = Opts::new(reverse);
    let tree = opts.open(dir.path(), &seqno);
    let mut model = Model::default();
    let mut rng = common::Rng::new(0x5eed + u64::from(reverse));
    let mut snapshots = Vec::new();
    for source in 0..4u32 {
        for _ in 0..60 {
            let i = rng.below(200) as u32;
            match rng.below(12) {
                0 => {
                    model.remove(&tree, i, seqno.next(), reverse);
                }
                1 | 2 => {
                    let len = 1 + rng.below(30) as u32;
                    model.remove_range(&tree, i, (i + len).min(210), seqno.next(), reverse);
                }
                _ => model.insert(
                    &tree,
                    i,
                    &value(i, &format!("s{source}")),
                    seqno.next(),
                    reverse,
                ),
            }
        }
        snapshots.push(seqno.get());
        match source {
            0 => {
                tree.flush_active_memtable(0).unwrap();
                tree.major_compact(1024, 0).unwrap();
            }
            1 => tree.flush_active_memtable(0).unwrap(),
            2 => {
                tree.rotate_memtable().unwrap();
            }
            _ => {}
        }
    }
    let latest = seqno.get();
    let check_all = |tree: &Tree, what: &str| {
        for &at in snapshots.iter().chain([&latest]) {
            check_reads(tree, &model, at, reverse, what);
        }
    };
    check_all(&tree, "four sources");
    tree.flush_active_memtable(0).unwrap();
    check_all(&tree, "flushed");
    drop(tree);
    let tree = opts.open(dir.path(), &seqno);
    check_all(&tree, "reopened");
    compact_to_fixpoint(&tree, tiny_leveled(), 0);
    check_all(&tree, "leveled at watermark 0");
    tree.major_compact(1024, latest).unwrap();
    check_reads(&tree, &model, latest, reverse, "major at the latest");
    check_reads(&tree, &model, SeqNo::MAX, reverse, "major at the latest");
}

#[test]
fn every_read_method_agrees_with_the_model_over_rts_in_every_source() {
    every_read_method_agrees(false);
}

#[test]
fn every_read_method_agrees_with_the_model_under_a_reverse_comparator() {
    every_read_method_agrees(true);
}

/// The RT's table holds point keys too (so it has a bloom filter), but not the key read: the
/// filter rules the key out of that table, and the read must still apply the table's RT to the
/// older table that holds the key.
fn bloom_negative_key_in_the_rt_table(reverse: bool) {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let opts = Opts::new(reverse);
    let config = opts
        .config(dir.path(), &seqno)
        .filter_block_pinning_policy(PinningPolicy::all(true));
    let tree = config.open().unwrap();
    let mut model = Model::default();
    model.insert(&tree, 50, b"old", seqno.next(), reverse);
    model.insert(&tree, 51, b"old", seqno.next(), reverse);
    tree.flush_active_memtable(0).unwrap();
    model.remove_range(&tree, 0, 100, seqno.next(), reverse);
    for i in (0..100).filter(|i| !(45..56).contains(i)) {
        model.insert(&tree, i, b"new", seqno.next(), reverse);
    }
    tree.flush_active_memtable(0).unwrap();
    let at = seqno.get();
    let check = |tree: &Tree, what: &str| {
        let k = key(50, reverse);
        assert_eq!(tree.get(&k, at).unwrap(), None, "{what}: get");
        assert!(!tree.contains_key(&k, at).unwrap(), "{what}: contains_key");
        assert_eq!(tree.size_of(&k, at).unwrap(), None, "{what}: size_of");
        assert_eq!(
            tree.multi_get([&k, &key(51, reverse)], at).unwrap(),
            vec![None, None],
            "{what}: multi_get"
        );
        check_reads(tree, &model, at, reverse, what);
    };
    check(&tree, "two level-0 tables");
    // The old key moves to the bottom, the RT's table stays above it.
    tree.compact(
        Arc::new(
            Leveled::default()
                .with_l0_threshold(1)
                .with_table_target_size(1 << 20),
        ),
        0,
    )
    .unwrap();
    check(&tree, "after one leveled step");
    compact_to_fixpoint(&tree, tiny_leveled(), 0);
    check(&tree, "compacted");
}

#[test]
fn a_key_the_bloom_filter_rules_out_in_the_rt_table_is_still_hidden() {
    bloom_negative_key_in_the_rt_table(false);
}

#[test]
fn a_key_the_bloom_filter_rules_out_in_the_rt_table_is_still_hidden_under_a_reverse_comparator() {
    bloom_negative_key_in_the_rt_table(true);
}

// ---------------------------------------------------------------------------------------------
// 5. Scans over nested and adjacent RTs, and a proptest
// ---------------------------------------------------------------------------------------------

/// Nested RTs (one inside another, three deep), adjacent RTs (one's end is the next's start),
/// a one-key RT and keys rewritten inside them; scans in every direction and mix, with bounds
/// that start and end inside covered spans.
fn nested_and_adjacent_rt_scans(reverse: bool) {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let opts = Opts::new(reverse);
    let tree = opts.open(dir.path(), &seqno);
    let mut model = Model::default();
    for i in 0..60 {
        model.insert(&tree, i, &value(i, "v"), seqno.next(), reverse);
    }
    let layout = [
        // Nested, outer first.
        (5, 25),
        (8, 20),
        (10, 12),
        // Adjacent chain.
        (30, 35),
        (35, 40),
        (40, 41),
        // A single key; an RT before the first and after the last key.
        (45, 46),
        (0, 2),
        (58, 70),
    ];
    for (n, &(a, b)) in layout.iter().enumerate() {
        model.remove_range(&tree, a, b, seqno.next(), reverse);
        // Rewrites inside: visible again above the RT.
        if n % 2 == 0 {
            model.insert(&tree, a + 1, b"back", seqno.next(), reverse);
        }
        // Nested RTs written innermost first too (an older outer RT around a newer inner one).
        if n == 2 {
            model.remove_range(&tree, 6, 24, seqno.next(), reverse);
        }
    }
    let latest = seqno.get();
    let check = |tree: &Tree, what: &str| {
        for at in [latest, latest - 3, latest - 8] {
            check_reads(tree, &model, at, reverse, what);
        }
    };
    check(&tree, "memtable");
    tree.flush_active_memtable(0).unwrap();
    check(&tree, "flushed");
    compact_to_fixpoint(&tree, tiny_leveled(), 0);
    check(&tree, "compacted");
    drop(tree);
    let tree = opts.open(dir.path(), &seqno);
    check(&tree, "reopened");
}

#[test]
fn reverse_and_mixed_scans_over_nested_and_adjacent_rts() {
    nested_and_adjacent_rt_scans(false);
}

#[test]
fn reverse_and_mixed_scans_over_nested_and_adjacent_rts_under_a_reverse_comparator() {
    nested_and_adjacent_rt_scans(true);
}

#[derive(Clone, Debug)]
enum ScanOp {
    Insert(u32),
    Remove(u32),
    RemoveRange(u32, u32),
    Rotate,
    Flush,
    Compact,
}

fn scan_op() -> impl Strategy<Value = ScanOp> {
    prop_oneof![
        8 => (0u32..30).prop_map(ScanOp::Insert),
        2 => (0u32..30).prop_map(ScanOp::Remove),
        4 => (0u32..30, 0u32..12).prop_map(|(a, len)| ScanOp::RemoveRange(a, a + len)),
        1 => Just(ScanOp::Rotate),
        1 => Just(ScanOp::Flush),
        1 => Just(ScanOp::Compact),
    ]
}

/// Forward, backward and interleaved (`dirs`) scans of `make()` against `want`.
fn prop_scans<I, F>(
    make: F,
    want: &[(Vec<u8>, Vec<u8>)],
    dirs: &[bool],
    what: &str,
) -> Result<(), TestCaseError>
where
    I: DoubleEndedIterator,
    I::Item: Guard,
    F: Fn() -> I,
{
    prop_assert_eq!(&pairs(make()), want, "{} forward", what);
    let mut backward = pairs(make().rev());
    backward.reverse();
    prop_assert_eq!(&backward, want, "{} backward", what);
    let mut it = make();
    let (mut front, mut back) = (Vec::new(), Vec::new());
    for &forward in dirs.iter().cycle() {
        let item = if forward { it.next() } else { it.next_back() };
        let Some(item) = item else { break };
        if forward {
            front.push(pair(item));
        } else {
            back.push(pair(item));
        }
    }
    back.reverse();
    front.extend(back);
    prop_assert_eq!(&front, want, "{} mixed {:?}", what, dirs);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("STRATA_RT_SCAN_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random keys, deletes and RTs (nested, adjacent, empty), spread over memtables, tables
    /// and levels; full and bounded scans forward, backward and from both ends at once must
    /// equal the model at the latest seqno and at a snapshot.
    #[test]
    fn scans_in_every_direction_match_a_btreemap_model(
        ops in prop::collection::vec(scan_op(), 1..60),
        reverse in any::<bool>(),
        dirs in prop::collection::vec(any::<bool>(), 1..12),
        snapshot_back in 0u64..20,
        lo in 0u32..32,
        len in 0u32..32,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let seqno = SequenceNumberCounter::default();
        let tree = Opts::new(reverse).open(dir.path(), &seqno);
        let mut model = Model::default();
        for op in &ops {
            match *op {
                ScanOp::Insert(i) => {
                    let s = seqno.next();
                    model.insert(&tree, i, format!("v{s}").as_bytes(), s, reverse);
                }
                ScanOp::Remove(i) => model.remove(&tree, i, seqno.next(), reverse),
                ScanOp::RemoveRange(a, b) => {
                    let bytes = model.remove_range(&tree, a, b, seqno.next(), reverse);
                    prop_assert_eq!(bytes == 0, a == b, "an empty range writes nothing");
                }
                ScanOp::Rotate => {
                    tree.rotate_memtable();
                }
                ScanOp::Flush => tree.flush_active_memtable(0).unwrap(),
                ScanOp::Compact => {
                    compact_to_fixpoint(&tree, tiny_leveled(), 0);
                }
            }
        }
        let latest = seqno.get();
        for at in [latest, latest.saturating_sub(snapshot_back)] {
            let expected = model.visible(at, reverse);
            let (klo, khi) = (key(lo, reverse), key(lo + len, reverse));
            let bounded: Vec<_> = expected
                .iter()
                .filter(|(k, _)| (lo..lo + len).contains(&index_of(k, reverse)))
                .cloned()
                .collect();
            prop_scans(|| tree.iter(at, None), &expected, &dirs, &format!("full at {at}"))?;
            prop_scans(
                || tree.range(klo.clone()..khi.clone(), at, None),
                &bounded,
                &dirs,
                &format!("{lo}..{} at {at}", lo + len),
            )?;
            for i in 0..32 {
                prop_assert_eq!(
                    tree.get(key(i, reverse), at).unwrap().map(|v| v.to_vec()),
                    model.get(i, at),
                    "get {} at {}", i, at
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Merge operands
// ---------------------------------------------------------------------------------------------

/// What `key` reads as at each seqno: `(read seqno, expected)`.
type Expectations = Vec<(u32, SeqNo, Option<&'static str>)>;

fn check_merges(tree: &Tree, expected: &Expectations, min_read: SeqNo, reverse: bool, what: &str) {
    for &(i, at, want) in expected {
        if at < min_read {
            continue;
        }
        let got = tree.get(key(i, reverse), at).unwrap();
        assert_eq!(
            got.as_deref(),
            want.map(str::as_bytes),
            "{what}: key {i} at {at}"
        );
        // Scans resolve operands the same way.
        let scanned = tree
            .range(key(i, reverse)..=key(i, reverse), at, None)
            .next()
            .map(|g| g.value().unwrap());
        assert_eq!(
            scanned.as_deref(),
            want.map(str::as_bytes),
            "{what}: scan {i} at {at}"
        );
        let scanned_back = tree
            .range(key(i, reverse)..=key(i, reverse), at, None)
            .next_back()
            .map(|g| g.value().unwrap());
        assert_eq!(
            scanned_back.as_deref(),
            want.map(str::as_bytes),
            "{what}: reverse scan {i} at {at}"
        );
    }
}

/// Key 1: a value at 1, an operand at 2, the RT at 3, operands at 4 and 5. Key 2: operands at
/// 1 and 2 only, below the RT. Key 3: outside the RT. Key 4: an operand in the RT's batch (at
/// 3, not hidden). Operands above the RT resolve onto no base, before and after every compaction.
fn merge_operands_and_rts(reverse: bool) {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::new(10);
    let opts = Opts {
        merge: true,
        ..Opts::new(reverse)
    };
    let tree = opts.open(dir.path(), &seqno);
    let k = |i| key(i, reverse);
    tree.insert(k(1), "base", 1);
    tree.merge(k(1), "a", 2);
    tree.merge(k(2), "x", 1);
    tree.merge(k(2), "y", 2);
    tree.insert(k(3), "out", 1);
    tree.merge(k(3), "+", 2);
    tree.insert(k(4), "four", 1);
    tree.flush_active_memtable(0).unwrap();
    assert!(tree.remove_range(k(0), k(3), 3) > 0);
    tree.merge(k(4), "!", 3);
    tree.remove_range(k(4), k(5), 3);
    tree.merge(k(1), "b", 4);
    tree.merge(k(1), "c", 5);
    let expected: Expectations = vec![
        (1, 2, Some("base")),
        (1, 3, Some("basea")),
        (1, 4, None),
        (1, 5, Some("b")),
        (1, 6, Some("bc")),
        (2, 2, Some("x")),
        (2, 3, Some("xy")),
        (2, 4, None),
        (2, 9, None),
        (3, 4, Some("out+")),
        (4, 3, Some("four")),
        (4, 4, Some("!")),
        (4, 9, Some("!")),
    ];
    check_merges(&tree, &expected, 0, reverse, "memtable over a table");
    tree.flush_active_memtable(0).unwrap();
    check_merges(&tree, &expected, 0, reverse, "two tables");
    // Partial merges across levels: the newer operand's table over the compacted rest.
    tree.compact(Arc::new(Leveled::default().with_l0_threshold(1)), 0)
        .unwrap();
    check_merges(&tree, &expected, 0, reverse, "one leveled step");
    tree.major_compact(4 << 10, 0).unwrap();
    check_merges(&tree, &expected, 0, reverse, "major at 0");
    for watermark in [3, 4, 5, 6, seqno.get()] {
        tree.major_compact(4 << 10, watermark).unwrap();
        check_merges(
            &tree,
            &expected,
            watermark,
            reverse,
            &format!("major at {watermark}"),
        );
    }
    drop(tree);
    let tree = opts.open(dir.path(), &seqno);
    check_merges(&tree, &expected, seqno.get(), reverse, "reopened");
    assert_eq!(tree.get(k(1), SeqNo::MAX).unwrap().unwrap(), "bc");
    assert_eq!(tree.get(k(2), SeqNo::MAX).unwrap(), None);
}

#[test]
fn merge_operands_above_an_rt_resolve_onto_no_base_before_and_after_compaction() {
    merge_operands_and_rts(false);
}

#[test]
fn merge_operands_above_an_rt_resolve_onto_no_base_under_a_reverse_comparator() {
    merge_operands_and_rts(true);
}

/// Put, RT, merge, then every compaction strategy: the result equals the read before.
#[test]
fn put_rt_merge_then_compact_reads_as_before_with_every_strategy() {
    let strategies: Vec<Arc<dyn CompactionStrategy>> = vec![
        tiny_leveled(),
        Arc::new(SizeTiered::default()),
        Arc::new(Leveled::default().with_l0_threshold(2)),
    ];
    for (n, strategy) in strategies.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let seqno = SequenceNumberCounter::default();
        let opts = Opts {
            merge: true,
            ..Opts::new(false)
        };
        let tree = opts.open(dir.path(), &seqno);
        for i in 0..40 {
            tree.insert(key(i, false), "p", seqno.next());
        }
        tree.flush_active_memtable(0).unwrap();
        tree.remove_range(key(10, false), key(30, false), seqno.next());
        tree.flush_active_memtable(0).unwrap();
        for i in 0..40 {
            tree.merge(key(i, false), "m", seqno.next());
        }
        tree.flush_active_memtable(0).unwrap();
        let before = common::contents(&tree, SeqNo::MAX);
        for i in 0..40 {
            let want: &[u8] = if (10..30).contains(&i) { b"m" } else { b"pm" };
            assert_eq!(before[&key(i, false)], want, "key {i}");
        }
        compact_to_fixpoint(&tree, Arc::clone(&strategy), seqno.get());
        assert_eq!(common::contents(&tree, SeqNo::MAX), before, "strategy {n}");
        tree.major_compact(1024, seqno.get()).unwrap();
        assert_eq!(
            common::contents(&tree, SeqNo::MAX),
            before,
            "strategy {n}, major"
        );
        drop(tree);
        let tree = opts.open(dir.path(), &seqno);
        assert_eq!(
            common::contents(&tree, SeqNo::MAX),
            before,
            "strategy {n}, reopened"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 7. RT copies stay bounded; space comes back
// ---------------------------------------------------------------------------------------------

/// Two trees get the same writes, one of them also RTs over parts of the key space (kept alive
/// by watermark 0); rounds of new keys and compaction to a fixpoint cut the RTs into many
/// output tables. If RTs were copied into outputs they do not overlap, or multiplied each round,
/// the RT tree's extra bytes would grow with the rounds; they must stay bounded by a small
/// per-table cost.
#[test]
fn rt_copies_stay_bounded_over_compaction_rounds() {
    let dir_rt = tempfile::tempdir().unwrap();
    let dir_plain = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let opts = Opts {
        table_bytes: 1024,
        ..Opts::new(false)
    };
    let with_rts = opts.open(dir_rt.path(), &seqno);
    let plain = opts.open(dir_plain.path(), &seqno);
    let mut model = Model::default();
    let mut plain_model = Model::default();
    for i in 0..400 {
        let s = seqno.next();
        model.insert(&with_rts, i, &value(i, "v"), s, false);
        plain_model.insert(&plain, i, &value(i, "v"), s, false);
    }
    for (a, b) in [(50, 150), (60, 70), (200, 380), (390, 395)] {
        model.remove_range(&with_rts, a, b, seqno.next(), false);
    }
    let mut extra_per_round = Vec::new();
    for round in 0..8u32 {
        for i in (round..400).step_by(9) {
            let s = seqno.next();
            model.insert(&with_rts, i, b"r", s, false);
            plain_model.insert(&plain, i, b"r", s, false);
        }
        with_rts.flush_active_memtable(0).unwrap();
        plain.flush_active_memtable(0).unwrap();
        compact_to_fixpoint(&with_rts, tiny_leveled(), 0);
        compact_to_fixpoint(&plain, tiny_leveled(), 0);
        let extra = with_rts.disk_space().saturating_sub(plain.disk_space());
        let tables = with_rts.table_count() as u64;
        // A handful of fragments per table, each a few dozen bytes, plus a block per table.
        assert!(
            extra <= 256 * tables + 4096,
            "round {round}: {extra} extra bytes over {tables} tables"
        );
        extra_per_round.push((extra, tables));
    }
    check_reads(&with_rts, &model, seqno.get(), false, "after the rounds");
    // Per table, the extra bytes do not grow from round to round (the RTs are not multiplied;
    // the table count grows with the versions that watermark 0 keeps).
    let per_table = |(extra, tables): (u64, u64)| extra / tables.max(1);
    let first = per_table(extra_per_round[1]);
    let last = per_table(*extra_per_round.last().unwrap());
    assert!(
        last <= first * 2 + 64,
        "extra bytes per table grew over the rounds: {extra_per_round:?} (extra, tables)"
    );
    // With the watermark at the latest seqno, the covered keys and the RTs go: the RT tree is
    // now the smaller one.
    with_rts.major_compact(1 << 20, seqno.get()).unwrap();
    plain.major_compact(1 << 20, seqno.get()).unwrap();
    assert!(
        with_rts.disk_space() < plain.disk_space(),
        "{} vs {}",
        with_rts.disk_space(),
        plain.disk_space()
    );
    check_reads(
        &with_rts,
        &model,
        seqno.get(),
        false,
        "after major compaction",
    );
}

/// N keys with values, flushed; an RT over half of them; a major compaction at the current
/// seqno must give about half the bytes back.
fn remove_range_over_half_frees_half_the_space(reverse: bool) {
    const N: u32 = 4000;
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let opts = Opts {
        block_bytes: 4096,
        table_bytes: 64 << 10,
        ..Opts::new(reverse)
    };
    let tree = opts.open(dir.path(), &seqno);
    let mut model = Model::default();
    let mut rng = common::Rng::new(11);
    for i in 0..N {
        // Incompressible values, so that the bytes follow the key count.
        let v = rng.bytes(100);
        model.insert(&tree, i, &v, seqno.next(), reverse);
    }
    tree.flush_active_memtable(0).unwrap();
    tree.major_compact(64 << 10, seqno.get()).unwrap();
    let full = tree.disk_space();
    model.remove_range(&tree, N / 4, N / 4 + N / 2, seqno.next(), reverse);
    tree.flush_active_memtable(0).unwrap();
    tree.major_compact(64 << 10, seqno.get()).unwrap();
    let after = tree.disk_space();
    assert!(
        after * 100 < full * 60,
        "{after} bytes of {full} left after deleting half the keys"
    );
    assert!(after * 100 > full * 40, "{after} of {full}: too much went");
    assert_eq!(tree.len(SeqNo::MAX, None).unwrap(), (N / 2) as usize);
    check_reads(
        &tree,
        &model,
        seqno.get(),
        reverse,
        "after major compaction",
    );
    drop(tree);
    let tree = opts.open(dir.path(), &seqno);
    check_reads(&tree, &model, seqno.get(), reverse, "reopened");
}

#[test]
fn remove_range_over_half_the_keys_then_major_compaction_frees_about_half_the_space() {
    remove_range_over_half_frees_half_the_space(false);
}

#[test]
fn remove_range_over_half_the_keys_frees_half_the_space_under_a_reverse_comparator() {
    remove_range_over_half_frees_half_the_space(true);
}

// ---------------------------------------------------------------------------------------------
// 8. Faults during compaction
// ---------------------------------------------------------------------------------------------

type State = BTreeMap<Vec<u8>, Vec<u8>>;

fn state(model: &Model, at: SeqNo) -> State {
    model.visible(at, false).into_iter().collect()
}

/// A tree on `fs` with overlapping level-0 runs over compacted data, RTs among them (one in an
/// RT-only table), everything flushed; returns it with its model.
fn tree_with_rts_on(fs: Arc<dyn Fs>, seqno: &SequenceNumberCounter) -> (Tree, Model) {
    let tree = common::small_config(common::FS_DIR, seqno, 128, 1024)
        .fs(fs)
        .open()
        .unwrap();
    let mut model = Model::default();
    for batch in 0..3u32 {
        for i in 0..30u32 {
            let k = (i * 7 + batch) % 60;
            model.insert(
                &tree,
                k,
                format!("b{batch}").as_bytes(),
                seqno.next(),
                false,
            );
        }
        tree.flush_active_memtable(0).unwrap();
    }
    compact_to_fixpoint(&tree, tiny_leveled(), seqno.get());
    model.remove_range(&tree, 10, 40, seqno.next(), false);
    tree.flush_active_memtable(0).unwrap();
    for i in 20..25 {
        model.insert(&tree, i, b"after", seqno.next(), false);
    }
    model.remove_range(&tree, 50, 55, seqno.next(), false);
    tree.flush_active_memtable(0).unwrap();
    (tree, model)
}

/// Every create, append, sync, directory sync, open, read and remove call of the compactions
/// (with GC at the latest seqno, which drops covered keys and RTs) fails in turn: the error is
/// reported, reads stay right, and the reopened tree (after a power loss or not) holds the same
/// data with the RTs in force; it then compacts to the end and still reads the same.
#[test]
fn a_compaction_failing_at_any_call_keeps_data_and_rts_intact_after_reopen() {
    let ops = [
        FaultOp::Create,
        FaultOp::Append,
        FaultOp::Sync,
        FaultOp::SyncDir,
        FaultOp::Open,
        FaultOp::Read,
        FaultOp::Remove,
    ];
    let mut injected = 0;
    for op in ops {
        for nth in 1..=60u64 {
            let mem = MemFs::new();
            let faulty = FaultFs::new(Arc::new(mem.clone()));
            let seqno = SequenceNumberCounter::new(1);
            let (tree, model) = tree_with_rts_on(Arc::new(faulty.clone()), &seqno);
            let want = state(&model, SeqNo::MAX);
            let watermark = seqno.get();
            let before = faulty.faults_fired();
            faulty.fail(
                op,
                nth,
                if nth % 2 == 0 {
                    Fault::Io
                } else {
                    Fault::NoSpace
                },
            );
            let result = (|| -> strata::Result<()> {
                for _ in 0..200 {
                    if tree.compact(tiny_leveled(), watermark)?.action == CompactionAction::Nothing
                    {
                        break;
                    }
                }
                tree.major_compact(1024, watermark)?;
                Ok(())
            })();
            let fired = faulty.faults_fired() > before;
            faulty.clear();
            let case = format!("{op:?} #{nth}");
            assert_eq!(
                common::contents(&tree, SeqNo::MAX),
                want,
                "{case}: reads changed"
            );
            if !fired {
                result.unwrap_or_else(|e| panic!("{case}: {e} without a fault"));
                break;
            }
            injected += 1;
            match result {
                Ok(()) if op == FaultOp::Remove => {}
                Ok(()) => panic!("{case}: the compaction hid a failed call"),
                Err(Error::Io { .. } | Error::Poisoned) => {}
                Err(other) => panic!("{case}: unexpected error {other}"),
            }
            drop(tree);
            if nth % 3 == 0 {
                mem.crash(CrashMode::DropUnsynced, nth);
                mem.disarm();
            }
            let reopen = || {
                common::small_config(common::FS_DIR, &seqno, 128, 1024)
                    .fs(Arc::new(mem.clone()))
                    .open()
                    .unwrap_or_else(|e| panic!("{case}: reopen failed: {e}"))
            };
            let tree = reopen();
            assert_eq!(
                common::contents(&tree, SeqNo::MAX),
                want,
                "{case}: reopened"
            );
            for i in 0..60 {
                assert_eq!(
                    tree.get(key(i, false), SeqNo::MAX)
                        .unwrap()
                        .map(|v| v.to_vec()),
                    model.get(i, SeqNo::MAX),
                    "{case}: get {i} reopened"
                );
            }
            compact_to_fixpoint(&tree, tiny_leveled(), seqno.get());
            tree.major_compact(1024, seqno.get()).unwrap();
            assert_eq!(
                common::contents(&tree, SeqNo::MAX),
                want,
                "{case}: compacted after reopen"
            );
            drop(tree);
            let tree = reopen();
            assert_eq!(
                common::contents(&tree, SeqNo::MAX),
                want,
                "{case}: second reopen"
            );
        }
    }
    println!("range tombstones: {injected} faults injected into compactions");
    assert!(injected >= 20, "{injected}");
}

// ---------------------------------------------------------------------------------------------
// 9. Corruption
// ---------------------------------------------------------------------------------------------

fn sst_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(dir.join("tables"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .collect();
    paths.sort_by_key(|p| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
    });
    paths
}

/// After damage, a tree either fails to open, or every read is an error or the right answer:
/// a key the RT hides never comes back. Returns whether an error was seen.
fn reads_never_resurrect(dir: &Path, model: &Model, at: SeqNo) -> bool {
    let config = Config::new(
        dir,
        SequenceNumberCounter::new(1000),
        SequenceNumberCounter::default(),
    )
    .use_cache(Arc::new(Cache::with_capacity_bytes(0)))
    .data_block_size_policy(BlockSizePolicy::all(256));
    let tree = match config.open() {
        Err(Error::Corruption { .. } | Error::Io { .. } | Error::UnsupportedFormat { .. }) => {
            return true;
        }
        Err(other) => panic!("unexpected error at open: {other}"),
        Ok(tree) => tree,
    };
    let mut errors = false;
    for &i in model.versions.keys() {
        match tree.get(key(i, false), at) {
            Ok(got) => assert_eq!(got.map(|v| v.to_vec()), model.get(i, at), "key {i}"),
            Err(Error::Corruption { .. }) => errors = true,
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    let expected: State = state(model, at);
    for reverse in [false, true] {
        let items: Vec<_> = if reverse {
            tree.iter(at, None).rev().map(Guard::into_inner).collect()
        } else {
            tree.iter(at, None).map(Guard::into_inner).collect()
        };
        for item in items {
            match item {
                Ok((k, v)) => assert_eq!(
                    expected.get(k.as_ref()).map(Vec::as_slice),
                    Some(v.as_ref()),
                    "scanned {}",
                    String::from_utf8_lossy(&k)
                ),
                Err(Error::Corruption { .. }) => errors = true,
                Err(other) => panic!("unexpected error {other}"),
            }
        }
    }
    match tree.major_compact(1 << 20, 0) {
        Ok(_) => {
            // Whatever the compaction made of it must still read right.
            for &i in model.versions.keys() {
                if let Ok(got) = tree.get(key(i, false), at) {
                    assert_eq!(
                        got.map(|v| v.to_vec()),
                        model.get(i, at),
                        "key {i} after compaction"
                    );
                }
            }
        }
        Err(Error::Corruption { .. }) => errors = true,
        Err(other) => panic!("unexpected error in compaction: {other}"),
    }
    errors
}

/// Every byte of an RT-only table flipped in turn (and the table truncated at several lengths):
/// opening or reading gives an error, never a key the RT hides.
#[test]
fn a_damaged_table_holding_rts_is_an_error_never_resurrected_data() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let config = || {
        Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default())
            .data_block_size_policy(BlockSizePolicy::all(256))
    };
    let mut model = Model::default();
    {
        let tree = config().open().unwrap();
        for i in 0..80 {
            model.insert(&tree, i, &value(i, "v"), seqno.next(), false);
        }
        tree.flush_active_memtable(0).unwrap();
        model.remove_range(&tree, 10, 30, seqno.next(), false);
        model.remove_range(&tree, 20, 60, seqno.next(), false);
        model.remove_range(&tree, 70, 75, seqno.next(), false);
        tree.flush_active_memtable(0).unwrap();
        assert_eq!(tree.len(SeqNo::MAX, None).unwrap(), 80 - 55);
    }
    let at = seqno.get();
    let tables = sst_files(dir.path());
    assert_eq!(tables.len(), 2);
    let rt_table = tables
        .last()
        .unwrap()
        .strip_prefix(dir.path())
        .unwrap()
        .to_path_buf();
    let original = std::fs::read(dir.path().join(&rt_table)).unwrap();
    // Each case runs on a copy of the tree (its compaction rewrites the tables).
    let damaged_copy = |bytes: &[u8]| {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        std::fs::write(copy.path().join(&rt_table), bytes).unwrap();
        copy
    };
    let mut detected = 0;
    let mut cases = 0;
    let step = (original.len() / 300).max(1);
    for pos in (0..original.len()).step_by(step) {
        for mask in [0x01u8, 0x80] {
            let mut damaged = original.clone();
            damaged[pos] ^= mask;
            let copy = damaged_copy(&damaged);
            cases += 1;
            if reads_never_resurrect(copy.path(), &model, at) {
                detected += 1;
            }
        }
    }
    println!(
        "range tombstones: {detected} of {cases} flipped bits in a {}-byte RT table detected",
        original.len()
    );
    assert!(
        detected > 0,
        "no flipped byte of {} was detected",
        original.len()
    );
    for len in [0, 8, original.len() / 2, original.len() - 1] {
        let copy = damaged_copy(&original[..len]);
        assert!(
            reads_never_resurrect(copy.path(), &model, at),
            "a table truncated to {len} bytes went unnoticed"
        );
    }
    let copy = damaged_copy(&original);
    assert!(
        !reads_never_resurrect(copy.path(), &model, at),
        "the intact table reads clean"
    );
}

/// Copies the tree directory `from` (files and one level of folders) into `to`.
fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&path, &target);
        } else if path.file_name().is_some_and(|n| n != "LOCK" && n != "lock") {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Edge cases of the API: empty ranges, prefixes, the memtable limit, drop_range, clear
// ---------------------------------------------------------------------------------------------

#[test]
fn remove_range_with_an_empty_or_inverted_range_writes_nothing() {
    for reverse in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let seqno = SequenceNumberCounter::default();
        let tree = Opts::new(reverse).open(dir.path(), &seqno);
        let mut model = Model::default();
        for i in 0..10 {
            model.insert(&tree, i, b"v", seqno.next(), reverse);
        }
        let k = |i| key(i, reverse);
        assert_eq!(tree.remove_range(k(3), k(3), seqno.next()), 0, "empty");
        assert_eq!(tree.remove_range(k(7), k(2), seqno.next()), 0, "inverted");
        assert_eq!(
            tree.remove_range(Vec::new(), Vec::new(), seqno.next()),
            0,
            "empty keys"
        );
        if reverse {
            // Inverted in the comparator's order though increasing in bytes.
            assert_eq!(
                tree.remove_range("a", "b", seqno.next()),
                0,
                "inverted by the comparator"
            );
            assert!(
                tree.remove_range("b", "a", seqno.next()) > 0,
                "increasing by the comparator"
            );
        } else {
            assert_eq!(tree.remove_range("b", "a", seqno.next()), 0);
        }
        check_reads(&tree, &model, seqno.get(), reverse, "after empty ranges");
        tree.flush_active_memtable(0).unwrap();
        check_reads(&tree, &model, seqno.get(), reverse, "flushed");
    }
}

#[test]
fn remove_prefix_of_nothing_or_of_only_ff_bytes_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = Opts::new(false).open(dir.path(), &seqno);
    tree.insert([0xffu8, 0xff, 0x01], "v", seqno.next());
    tree.insert("a", "v", seqno.next());
    assert_eq!(tree.remove_prefix("", seqno.next()), 0);
    assert_eq!(tree.remove_prefix([0xffu8, 0xff], seqno.next()), 0);
    assert_eq!(tree.remove_prefix([0xffu8], seqno.next()), 0);
    assert_eq!(tree.remove_prefix(Vec::new(), seqno.next()), 0);
    assert_eq!(tree.active_memtable().range_tombstone_count(), 0);
    assert_eq!(tree.len(SeqNo::MAX, None).unwrap(), 2);
    // A prefix ending in 0xff bytes has a successor: it deletes exactly its keys.
    tree.insert([b'a', 0xff], "v", seqno.next());
    tree.insert([b'a', 0xff, 0x00], "v", seqno.next());
    tree.insert("b", "v", seqno.next());
    assert!(tree.remove_prefix([b'a', 0xff], seqno.next()) > 0);
    let keys: Vec<Vec<u8>> = common::contents(&tree, SeqNo::MAX).into_keys().collect();
    assert_eq!(
        keys,
        vec![b"a".to_vec(), b"b".to_vec(), vec![0xff, 0xff, 0x01]]
    );
}

/// `remove_prefix` deletes exactly the keys that start with the prefix, in every read and after
/// flush and compaction; under the reverse comparator too (the keys starting with a prefix are
/// contiguous in either order).
fn remove_prefix_deletes_exactly_its_keys(reverse: bool) {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let opts = Opts::new(reverse);
    let tree = opts.open(dir.path(), &seqno);
    let mut model = Model::default();
    for i in 0..300 {
        model.insert(&tree, i, b"v", seqno.next(), reverse);
    }
    tree.flush_active_memtable(0).unwrap();
    let s = seqno.next();
    // Indices 100..200: digits 0100..0199 in byte order, 9800..9899 under the reverse
    // comparator.
    let prefix = if reverse { "k98" } else { "k01" };
    let (start, end) = (100, 200);
    if reverse {
        // Under a comparator that orders [prefix, successor) backwards the keys with the prefix
        // are not a range tombstone's [start, end): remove_prefix writes nothing (documented on
        // `Tree::remove_prefix`); `remove_range` with bounds in the comparator's order is the way.
        assert_eq!(tree.remove_prefix(prefix, s), 0);
        check_reads(&tree, &model, s + 1, reverse, "remove_prefix wrote nothing");
        return;
    }
    assert!(tree.remove_prefix(prefix, s) > 0, "remove_prefix {prefix}");
    model.rts.push((start, end, s));
    for at in [s, s + 1] {
        check_reads(&tree, &model, at, reverse, "remove_prefix in the memtable");
    }
    assert!(!tree.contains_prefix(prefix, s + 1, None).unwrap());
    assert!(tree.contains_prefix(prefix, s, None).unwrap());
    tree.flush_active_memtable(0).unwrap();
    compact_to_fixpoint(&tree, tiny_leveled(), 0);
    check_reads(&tree, &model, s + 1, reverse, "compacted");
    tree.major_compact(4 << 10, seqno.get()).unwrap();
    check_reads(&tree, &model, seqno.get(), reverse, "major");
    assert_eq!(tree.len(SeqNo::MAX, None).unwrap(), 200);
}

#[test]
fn remove_prefix_deletes_exactly_the_keys_with_that_prefix() {
    remove_prefix_deletes_exactly_its_keys(false);
}

#[test]
fn remove_prefix_under_a_reverse_comparator_writes_nothing() {
    remove_prefix_deletes_exactly_its_keys(true);
}

/// Past `memtable_range_tombstone_limit` RTs the memtable rotates; the RTs of every sealed
/// memtable keep applying, and the flush writes them all.
#[test]
fn the_memtable_range_tombstone_limit_rotates_and_loses_no_rt() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let opts = Opts::new(false);
    let tree = opts
        .config(dir.path(), &seqno)
        .memtable_range_tombstone_limit(3)
        .open()
        .unwrap();
    let mut model = Model::default();
    for i in 0..100 {
        model.insert(&tree, i, b"v", seqno.next(), false);
    }
    tree.flush_active_memtable(0).unwrap();
    for n in 0..10u32 {
        model.remove_range(&tree, n * 10, n * 10 + 5, seqno.next(), false);
        model.insert(&tree, n * 10 + 2, b"back", seqno.next(), false);
    }
    assert_eq!(tree.sealed_memtable_count(), 3, "rotated at every third RT");
    check_reads(&tree, &model, seqno.get(), false, "sealed memtables");
    tree.flush_active_memtable(0).unwrap();
    check_reads(&tree, &model, seqno.get(), false, "flushed");
    drop(tree);
    let tree = opts.open(dir.path(), &seqno);
    check_reads(&tree, &model, seqno.get(), false, "reopened");
}

/// The RT [a, z) sits in a table (with a few keys of its own in [c, d)) that `drop_range` would
/// take if the table's bounds were its keys only; older keys under the RT live in another table
/// that stays. Dropping the RT would bring them back.
#[test]
fn drop_range_keeps_an_rt_reaching_past_the_dropped_range() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = common::small_config(dir.path(), &seqno, 4096, 64 << 20)
        .open()
        .unwrap();
    for k in ["x1", "x2", "b1"] {
        tree.insert(k, "old", seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    let before_rt = seqno.get();
    tree.remove_range("a", "z", seqno.next());
    for k in ["c1", "c2"] {
        tree.insert(k, "new", seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    assert_eq!(tree.table_count(), 2);
    let keys = |at| -> Vec<Vec<u8>> { common::contents(&tree, at).into_keys().collect() };
    assert_eq!(keys(SeqNo::MAX), [b"c1".to_vec(), b"c2".to_vec()]);
    tree.drop_range("c".."d").unwrap();
    // c1 and c2 may be gone with their table, but x1, x2 and b1 stay hidden.
    let after = keys(SeqNo::MAX);
    assert!(
        after.is_empty() || after == [b"c1".to_vec(), b"c2".to_vec()],
        "{:?}",
        after
            .iter()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect::<Vec<_>>()
    );
    assert_eq!(tree.get("x1", SeqNo::MAX).unwrap(), None);
    // A read from before the RT still sees the old keys.
    assert_eq!(tree.get("x1", before_rt).unwrap().unwrap(), "old");
    tree.major_compact(64 << 20, 0).unwrap();
    assert_eq!(tree.get("x2", SeqNo::MAX).unwrap(), None);
    drop(tree);
    let tree = common::small_config(dir.path(), &seqno, 4096, 64 << 20)
        .open()
        .unwrap();
    assert_eq!(tree.get("x1", SeqNo::MAX).unwrap(), None);
    assert_eq!(tree.get("b1", SeqNo::MAX).unwrap(), None);
}

/// An RT-only table lies wholly inside the dropped range, but the keys it hides live in a table
/// that reaches outside the range and so stays: dropping the RT alone would resurrect them.
#[test]
fn drop_range_does_not_resurrect_keys_hidden_by_an_rt_it_drops() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = common::small_config(dir.path(), &seqno, 4096, 64 << 20)
        .open()
        .unwrap();
    for k in ["c5", "y"] {
        tree.insert(k, "old", seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    tree.remove_range("c", "d", seqno.next());
    tree.flush_active_memtable(0).unwrap();
    assert_eq!(tree.get("c5", SeqNo::MAX).unwrap(), None);
    tree.drop_range("c"..="d").unwrap();
    assert_eq!(
        tree.get("c5", SeqNo::MAX).unwrap(),
        None,
        "drop_range brought back a key it did not drop"
    );
    assert_eq!(tree.get("y", SeqNo::MAX).unwrap().unwrap(), "old");
}

/// An RT, then `clear`: keys written after the clear are visible (the old RT does not reach
/// them); reads before the clear still see the RT in force; `drop_range` over everything is the
/// same.
#[test]
fn clear_next_to_rts_keeps_new_keys_and_old_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let opts = Opts::new(false);
    let tree = opts.open(dir.path(), &seqno);
    let mut model = Model::default();
    for i in 0..30 {
        model.insert(&tree, i, b"v", seqno.next(), false);
    }
    tree.flush_active_memtable(0).unwrap();
    model.remove_range(&tree, 5, 25, seqno.next(), false);
    model.insert(&tree, 10, b"back", seqno.next(), false);
    let before_clear = seqno.get();
    let old = model.visible(before_clear, false);
    tree.clear().unwrap();
    assert!(tree.is_empty(seqno.get(), None).unwrap());
    assert_eq!(
        pairs(tree.iter(before_clear, None)),
        old,
        "snapshot before the clear"
    );
    let mut fresh = Model::default();
    for i in 0..30 {
        fresh.insert(&tree, i, b"new", seqno.next(), false);
    }
    check_reads(&tree, &fresh, seqno.get(), false, "written after the clear");
    tree.flush_active_memtable(0).unwrap();
    check_reads(&tree, &fresh, seqno.get(), false, "flushed after the clear");
    // An RT into the cleared tree, then drop_range over everything, then new keys again.
    fresh.remove_range(&tree, 0, 15, seqno.next(), false);
    tree.flush_active_memtable(0).unwrap();
    tree.drop_range::<&[u8], _>(..).unwrap();
    assert_eq!(tree.table_count(), 0);
    let mut third = Model::default();
    for i in 0..30 {
        third.insert(&tree, i, b"third", seqno.next(), false);
    }
    check_reads(&tree, &third, seqno.get(), false, "after drop_range");
    tree.flush_active_memtable(0).unwrap();
    drop(tree);
    let tree = opts.open(dir.path(), &seqno);
    check_reads(&tree, &third, seqno.get(), false, "reopened");
}

/// Ingested tables are range-deleted like any other source; an ingestion after an RT shadows it.
#[test]
fn rts_apply_to_ingested_tables_and_ingestion_shadows_older_rts() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let opts = Opts::new(false);
    let tree = opts.open(dir.path(), &seqno);
    let mut ingestion = tree.ingestion().unwrap();
    for i in 0..50 {
        ingestion.write(key(i, false), "ingested").unwrap();
    }
    ingestion.finish().unwrap();
    tree.remove_range(key(10, false), key(20, false), seqno.next());
    assert_eq!(tree.len(SeqNo::MAX, None).unwrap(), 40);
    assert_eq!(tree.get(key(15, false), SeqNo::MAX).unwrap(), None);
    tree.flush_active_memtable(0).unwrap();
    assert_eq!(tree.get(key(15, false), SeqNo::MAX).unwrap(), None);
    // A later ingestion writes over the deleted range: its keys are newer than the RT.
    let mut ingestion = tree.ingestion().unwrap();
    for i in 12..14 {
        ingestion.write(key(i, false), "again").unwrap();
    }
    ingestion.finish().unwrap();
    assert_eq!(tree.len(SeqNo::MAX, None).unwrap(), 42);
    assert_eq!(
        tree.get(key(12, false), SeqNo::MAX).unwrap().unwrap(),
        "again"
    );
    tree.major_compact(4 << 10, seqno.get()).unwrap();
    assert_eq!(tree.len(SeqNo::MAX, None).unwrap(), 42);
    assert_eq!(tree.get(key(15, false), SeqNo::MAX).unwrap(), None);
    drop(tree);
    let tree = opts.open(dir.path(), &seqno);
    assert_eq!(tree.len(SeqNo::MAX, None).unwrap(), 42);
}

/// Regression (found by `reads_at_s_minus_1_s_and_s_plus_1_around_an_rt_at_s_in_every_placement`
/// and the nested-RT scans): a table whose largest point key is exactly an RT's (exclusive) end.
/// The writer widens the table's bounds only for an end past the last key, so the bounds end at
/// that key, inclusive; the reader's check of the RT block wanted an end equal to the largest key
/// to be flagged exclusive, and refused the table it had just written as corruption, failing the
/// flush (and compactions whose outputs end on an RT's end).
#[test]
fn a_table_whose_largest_key_is_an_rt_end_flushes_and_reads() {
    for reverse in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let seqno = SequenceNumberCounter::default();
        let opts = Opts::new(reverse);
        let tree = opts.open(dir.path(), &seqno);
        let mut model = Model::default();
        model.insert(&tree, 0, b"below", seqno.next(), reverse);
        model.insert(&tree, 5, b"at the end", seqno.next(), reverse);
        model.remove_range(&tree, 0, 5, seqno.next(), reverse);
        tree.flush_active_memtable(0).unwrap();
        check_reads(&tree, &model, seqno.get(), reverse, "flushed");
        drop(tree);
        let tree = opts.open(dir.path(), &seqno);
        check_reads(&tree, &model, seqno.get(), reverse, "reopened");
        tree.major_compact(4 << 10, 0).unwrap();
        check_reads(&tree, &model, seqno.get(), reverse, "compacted");
    }
}

/// Writers racing on one tree: each thread inserts its own keys, deletes half of them with range
/// tombstones (in the memtable while the others write and read, across rotations at the
/// memtable's range-tombstone limit and flushes), and reads its own keys back as it goes. The
/// memtable's cached fragments are rebuilt by whichever reader comes first; no reader may see a
/// key its own thread deleted, nor miss one it kept.
#[test]
fn concurrent_writers_readers_and_range_tombstones_agree() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let visible = SequenceNumberCounter::default();
    let tree = strata::Config::new(dir.path(), seqno.clone(), visible)
        .memtable_range_tombstone_limit(16)
        .open()
        .unwrap();
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let tree = tree.clone();
            let seqno = seqno.clone();
            std::thread::spawn(move || {
                let k = |i: u32| format!("t{t}/{i:05}");
                for round in 0..40u32 {
                    let base = round * 20;
                    for i in base..base + 20 {
                        tree.insert(k(i), "v", seqno.next());
                    }
                    tree.remove_range(k(base + 5), k(base + 15), seqno.next());
                    let at = seqno.get();
                    for i in base..base + 20 {
                        let deleted = (base + 5..base + 15).contains(&i);
                        assert_eq!(tree.get(k(i), at).unwrap().is_none(), deleted, "{}", k(i));
                    }
                    let seen = tree.prefix(format!("t{t}/"), at, None).count() as u32;
                    assert_eq!(seen, (round + 1) * 10, "thread {t} round {round}");
                }
            })
        })
        .collect();
    for _ in 0..10 {
        // NB: sealed memtables only: a flush publishes nothing new, so it may run between the
        // writers' batches (API.md's rule for structural operations at the counter).
        let lock = tree.get_flush_lock();
        tree.flush(&lock, 0).unwrap();
        drop(lock);
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    for thread in threads {
        thread.join().unwrap();
    }
    let at = seqno.get();
    assert_eq!(tree.len(at, None).unwrap(), 4 * 40 * 10);
    tree.flush_active_memtable(0).unwrap();
    tree.major_compact(1 << 20, at).unwrap();
    assert_eq!(tree.len(at, None).unwrap(), 4 * 40 * 10);
}

// ---------------------------------------------------------------------------------------------
// Tables a range tombstone deletes whole: dropped without being read (delete-only steps)
// ---------------------------------------------------------------------------------------------

/// A strategy that never chooses anything: what `compact` does then is its own.
struct Never;

impl CompactionStrategy for Never {
    fn name(&self) -> &'static str {
        "never"
    }

    fn choose(&self, _: &strata::compaction::TreeView) -> strata::compaction::Choice {
        strata::compaction::Choice::DoNothing
    }
}

/// Last-level tables inside an RT's range, all of whose entries are older than it, are dropped
/// by `compact` whatever the strategy, once the GC watermark passes the RT; tables only partly
/// inside it, tables holding a newer entry, and every table while the watermark is at the RT,
/// stay. Reads at and above the watermark do not change, before and after a reopen.
fn tables_a_range_tombstone_deletes_whole(reverse: bool) {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let opts = Opts::new(reverse);
    let tree = opts.open(&dir, &seqno);
    let mut model = Model::default();
    for i in 0..2_000 {
        model.insert(&tree, i, &value(i, "a"), seqno.next(), reverse);
    }
    tree.flush_active_memtable(0).unwrap();
    tree.major_compact(opts.table_bytes, 0).unwrap();
    let last_level: Vec<(u32, u32)> = tree
        .current_version()
        .iter_tables()
        .map(|t| {
            let (a, b) = t.key_range();
            let (a, b) = (index_of(a, reverse), index_of(b, reverse));
            (a.min(b), a.max(b))
        })
        .collect();
    assert!(last_level.len() > 10, "{} tables", last_level.len());
    // A newer entry inside the range, in a table of its own, and the RT in another.
    let rt_seqno = seqno.next();
    model.remove_range(&tree, 200, 1_500, rt_seqno, reverse);
    tree.flush_active_memtable(0).unwrap();
    model.insert(&tree, 700, &value(700, "b"), seqno.next(), reverse);
    tree.flush_active_memtable(0).unwrap();
    let inside = last_level
        .iter()
        .filter(|&&(a, b)| a >= 200 && b < 1_500)
        .count();
    assert!(inside >= 5, "{inside} tables inside the range");
    let inside_paths: Vec<std::path::PathBuf> = tree
        .current_version()
        .iter_tables()
        .filter(|t| {
            let (a, b) = t.key_range();
            let (a, b) = (index_of(a, reverse), index_of(b, reverse));
            a.min(b) >= 200 && a.max(b) < 1_500 && t.level() > 0
        })
        .map(|t| t.path().to_path_buf())
        .collect();
    assert_eq!(inside_paths.len(), inside);
    assert!(inside_paths.iter().all(|p| p.exists()));
    let tables = tree.table_count();
    let space = tree.disk_space();

    // The watermark at the RT: a read at it does not see the RT, so nothing may go.
    let strategy: Arc<dyn CompactionStrategy> = Arc::new(Never);
    let step = tree.compact(Arc::clone(&strategy), rt_seqno).unwrap();
    assert_eq!(step.action, CompactionAction::Nothing);
    assert_eq!(tree.table_count(), tables);

    let watermark = seqno.get();
    let step = tree.compact(Arc::clone(&strategy), watermark).unwrap();
    assert_eq!(step.action, CompactionAction::Dropped);
    assert_eq!((step.tables_in, step.tables_out), (inside, 0));
    assert_eq!(tree.table_count(), tables - inside);
    assert!(tree.disk_space() < space);
    // No read at or above the watermark changed: no SuperVersion keeps the dropped tables for
    // older reads, and their files are gone at once.
    for path in &inside_paths {
        assert!(!path.exists(), "{} is still on disk", path.display());
    }
    let step = tree.compact(Arc::clone(&strategy), watermark).unwrap();
    assert_eq!(step.action, CompactionAction::Nothing);
    check_reads(&tree, &model, watermark, reverse, "after the drop");
    assert_eq!(
        tree.get(key(700, reverse), watermark).unwrap(),
        Some(value(700, "b").into())
    );
    drop(tree);
    let tree = opts.open(&dir, &seqno);
    assert_eq!(tree.table_count(), tables - inside);
    check_reads(
        &tree,
        &model,
        watermark,
        reverse,
        "after the drop and a reopen",
    );
}

#[test]
fn tables_a_range_tombstone_deletes_whole_are_dropped_unread() {
    tables_a_range_tombstone_deletes_whole(false);
}

#[test]
fn tables_a_range_tombstone_deletes_whole_are_dropped_unread_under_a_reverse_comparator() {
    tables_a_range_tombstone_deletes_whole(true);
}

/// Records the largest `range_deleted_bytes` a strategy is shown, and chooses nothing.
#[derive(Default)]
struct Spy(std::sync::Mutex<u64>);

impl CompactionStrategy for Spy {
    fn name(&self) -> &'static str {
        "spy"
    }

    fn choose(&self, view: &strata::compaction::TreeView) -> strata::compaction::Choice {
        let most = view
            .levels()
            .iter()
            .flat_map(|level| level.runs.iter())
            .flat_map(|run| run.tables.iter())
            .map(|t| t.range_deleted_bytes)
            .max()
            .unwrap_or(0);
        *self.0.lock().unwrap() = most;
        strata::compaction::Choice::DoNothing
    }
}

/// A range tombstone over half of one large table (which no delete-only step can drop): the
/// strategies are shown about half the table's bytes as what it deletes, and SizeTiered merges
/// it down at once although the runs are below its trigger; space falls by about half.
fn size_tiered_reclaims_a_range_delete(reverse: bool) {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let opts = Opts {
        table_bytes: 64 << 20,
        ..Opts::new(reverse)
    };
    let tree = opts.open(&dir, &seqno);
    let mut model = Model::default();
    for i in 0..4_000 {
        model.insert(&tree, i, &value(i, "a"), seqno.next(), reverse);
    }
    tree.flush_active_memtable(0).unwrap();
    tree.major_compact(opts.table_bytes, 0).unwrap();
    assert_eq!(tree.table_count(), 1);
    let big = tree.disk_space();
    for i in 4_000..4_100 {
        model.insert(&tree, i, &value(i, "b"), seqno.next(), reverse);
    }
    tree.flush_active_memtable(0).unwrap();
    model.remove_range(&tree, 1_000, 3_000, seqno.next(), reverse);
    tree.flush_active_memtable(0).unwrap();
    assert_eq!(tree.table_count(), 3);
    let watermark = seqno.get();

    let spy = Arc::new(Spy::default());
    let strategy: Arc<dyn CompactionStrategy> = spy.clone();
    assert_eq!(
        tree.compact(strategy, watermark).unwrap().action,
        CompactionAction::Nothing
    );
    let shown = *spy.0.lock().unwrap();
    assert!(
        shown * 10 >= big * 4 && shown * 10 <= big * 6,
        "range_deleted_bytes {shown} of a {big}-byte table"
    );

    let before = tree.disk_space();
    let step = tree
        .compact(Arc::new(SizeTiered::default()), watermark)
        .unwrap();
    assert_eq!(step.action, CompactionAction::Merged);
    assert_eq!(step.tables_in, 3);
    let after = tree.disk_space();
    assert!(
        after * 10 <= before * 6,
        "{before} bytes before the merge, {after} after"
    );
    check_reads(
        &tree,
        &model,
        watermark,
        reverse,
        "after the range delete merged down",
    );
    assert_eq!(
        tree.compact(Arc::new(SizeTiered::default()), watermark)
            .unwrap()
            .action,
        CompactionAction::Nothing
    );
}

#[test]
fn size_tiered_merges_a_range_delete_down_before_its_trigger() {
    size_tiered_reclaims_a_range_delete(false);
}

#[test]
fn size_tiered_merges_a_range_delete_down_before_its_trigger_under_a_reverse_comparator() {
    size_tiered_reclaims_a_range_delete(true);
}
