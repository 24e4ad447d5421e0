//! Model test: random operations on a `Tree` against a `BTreeMap` oracle of every version.
//!
//! Operations: insert / remove / remove_weak at increasing seqnos (sometimes several sharing one
//! seqno, a batch, including the same key twice in one batch), point reads and multi-gets at random
//! past seqnos, range and prefix scans in both directions (and mixed from both ends), first / last /
//! len / contains_prefix, memtable rotation, flushes to tables (with GC thresholds), major
//! compactions, steps of every compaction strategy (Leveled static and dynamic, SizeTiered), clears
//! and reopens, under five
//! option sets: tiny blocks and tables, restart interval 1 and 16, filters on and off,
//! partitioned index and filter, LZ4 (with `--features lz4`). Keys come from a three-letter alphabet so that
//! keys overwrite each other and share prefixes.
//!
//! CI runs about 100,000 operations; `STRATA_MODEL_OPS=N` runs about N (e.g. 5,000,000 in release).
//! A failing case is shrunk by proptest and printed; keep it as a named regression test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::single_match_else,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;
use std::ops::Bound;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use strata::{Config, Guard, SeqNo, SequenceNumberCounter, Tree};

#[derive(Clone, Debug)]
enum Op {
    Insert {
        key: Vec<u8>,
        value: Vec<u8>,
        batch: bool,
    },
    Remove {
        key: Vec<u8>,
        batch: bool,
    },
    RemoveWeak {
        key: Vec<u8>,
        batch: bool,
    },
    Get {
        key: Vec<u8>,
        back: u64,
    },
    MultiGet {
        keys: Vec<Vec<u8>>,
        back: u64,
    },
    Range {
        lo: Bound<Vec<u8>>,
        hi: Bound<Vec<u8>>,
        back: u64,
        dirs: Vec<bool>,
    },
    Prefix {
        prefix: Vec<u8>,
        back: u64,
        reverse: bool,
    },
    Ends {
        back: u64,
    },
    Rotate,
    Flush {
        back: u64,
    },
    /// Closes and reopens the tree: what was not flushed is gone (Tree has no write-ahead log).
    Reopen,
    /// Merges every table into the last level with a GC threshold `back` below the latest.
    MajorCompact {
        back: u64,
    },
    /// Up to `steps` steps of a strategy (see `strategy`) with a GC threshold `back` below the
    /// latest.
    Compact {
        strategy: u8,
        steps: u8,
        back: u64,
    },
    /// Removes everything (a read at a seqno before the clear still sees the old data).
    Clear,
}

/// The compaction strategies the model runs: Leveled (static and dynamic level sizes, two L0
/// thresholds) and SizeTiered, all with tiny tables.
fn strategy(which: u8) -> std::sync::Arc<dyn strata::compaction::CompactionStrategy> {
    use strata::compaction::{Leveled, SizeTiered};
    match which % 4 {
        0 => std::sync::Arc::new(
            Leveled::default()
                .with_l0_threshold(2)
                .with_table_target_size(1024)
                .with_level_ratio_policy(vec![2.0]),
        ),
        1 => std::sync::Arc::new(
            Leveled::default()
                .with_l0_threshold(3)
                .with_table_target_size(512)
                .with_level_ratio_policy(vec![3.0])
                .with_dynamic_level_bytes(true),
        ),
        2 => std::sync::Arc::new(
            SizeTiered::default()
                .with_run_trigger(2)
                .with_table_target_size(2048),
        ),
        _ => std::sync::Arc::new(
            Leveled::default()
                .with_l0_threshold(1)
                .with_table_target_size(4096),
        ),
    }
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(b"abc".to_vec()), 1..=3)
}

fn bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        1 => Just(Bound::Unbounded),
        2 => key().prop_map(Bound::Included),
        2 => key().prop_map(Bound::Excluded),
    ]
}

/// How far back from the latest seqno a read goes; `u64::MAX` means "read at SeqNo::MAX".
fn back() -> impl Strategy<Value = u64> {
    prop_oneof![3 => 0u64..4, 2 => 0u64..200, 1 => Just(u64::MAX)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => (key(), prop::collection::vec(any::<u8>(), 0..6), prop::bool::weighted(0.2))
            .prop_map(|(key, value, batch)| Op::Insert { key, value, batch }),
        8 => (key(), prop::bool::weighted(0.2)).prop_map(|(key, batch)| Op::Remove { key, batch }),
        4 => (key(), prop::bool::weighted(0.2)).prop_map(|(key, batch)| Op::RemoveWeak { key, batch }),
        20 => (key(), back()).prop_map(|(key, back)| Op::Get { key, back }),
        3 => (prop::collection::vec(key(), 0..5), back()).prop_map(|(keys, back)| Op::MultiGet { keys, back }),
        8 => (bound(), bound(), back(), prop::collection::vec(any::<bool>(), 0..8))
            .prop_map(|(lo, hi, back, dirs)| Op::Range { lo, hi, back, dirs }),
        4 => (prop::collection::vec(prop::sample::select(b"abc".to_vec()), 0..=2), back(), any::<bool>())
            .prop_map(|(prefix, back, reverse)| Op::Prefix { prefix, back, reverse }),
        2 => back().prop_map(|back| Op::Ends { back }),
        1 => Just(Op::Rotate),
        2 => prop_oneof![Just(u64::MAX), 0u64..20].prop_map(|back| Op::Flush { back }),
        1 => Just(Op::Reopen),
        1 => prop_oneof![Just(u64::MAX), 0u64..20].prop_map(|back| Op::MajorCompact { back }),
        4 => (0u8..4, prop_oneof![Just(1u8), Just(20u8)], prop_oneof![Just(u64::MAX), 0u64..20])
            .prop_map(|(strategy, steps, back)| Op::Compact { strategy, steps, back }),
        1 => (0u8..5).prop_map(|x| if x == 0 { Op::Clear } else { Op::Rotate }),
    ]
}

/// Every version ever written: key -> (seqno -> value, `None` for a tombstone); and the seqnos
/// of the clears (a read above a clear sees nothing written below it).
#[derive(Default, Clone)]
struct Oracle(
    BTreeMap<Vec<u8>, BTreeMap<SeqNo, Option<Vec<u8>>>>,
    Vec<SeqNo>,
);

impl Oracle {
    fn get(&self, key: &[u8], read: SeqNo) -> Option<Vec<u8>> {
        let versions = self.0.get(key)?;
        let floor = self
            .1
            .iter()
            .copied()
            .filter(|&c| c < read)
            .max()
            .unwrap_or(0);
        versions.range(floor..read).next_back()?.1.clone()
    }

    /// Whether `key` holds exactly one value, older than `seqno`, since its last delete (or the
    /// last clear), the single-delete contract of `remove_weak`.
    fn written_once(&self, key: &[u8], seqno: SeqNo) -> bool {
        let floor = self.1.iter().copied().max().unwrap_or(0);
        let Some(versions) = self.0.get(key) else {
            return false;
        };
        let mut newest_first = versions.range(floor..seqno).rev();
        matches!(newest_first.next(), Some((_, Some(_))))
            && matches!(newest_first.next(), None | Some((_, None)))
            && !versions.contains_key(&seqno)
    }

    fn visible(&self, read: SeqNo) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.0
            .keys()
            .filter_map(|k| self.get(k, read).map(|v| (k.clone(), v)))
            .collect()
    }
}

fn in_bounds(key: &[u8], lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    let lo_ok = match lo {
        Bound::Included(b) => key >= b.as_slice(),
        Bound::Excluded(b) => key > b.as_slice(),
        Bound::Unbounded => true,
    };
    let hi_ok = match hi {
        Bound::Included(b) => key <= b.as_slice(),
        Bound::Excluded(b) => key < b.as_slice(),
        Bound::Unbounded => true,
    };
    lo_ok && hi_ok
}

fn pair(item: impl Guard) -> (Vec<u8>, Vec<u8>) {
    let (k, v) = item.into_inner().expect("in-memory reads do not fail");
    (k.to_vec(), v.to_vec())
}

#[derive(Default)]
struct Counters {
    ops: u64,
    writes: u64,
    reads: u64,
    scans: u64,
    rotations: u64,
    flushes: u64,
    reopens: u64,
    compactions: u64,
    strategy_steps: u64,
    clears: u64,
}

/// The option sets the model runs under (metamorphic: the same reads are expected from each).
fn configure(config: Config, set: usize) -> Config {
    use strata::config::{
        BlockSizePolicy, CompressionPolicy, FilterPolicy, PinningPolicy, RestartIntervalPolicy,
    };
    let config = config.table_target_size(2048);
    match set % 5 {
        0 => config
            .data_block_size_policy(BlockSizePolicy::all(256))
            .data_block_hash_ratio_policy(strata::config::HashRatioPolicy::all(0.75)),
        1 => config
            .data_block_size_policy(BlockSizePolicy::all(64))
            .data_block_restart_interval_policy(RestartIntervalPolicy::all(1))
            .filter_policy(FilterPolicy::disabled()),
        2 => config
            .data_block_size_policy(BlockSizePolicy::all(128))
            .index_block_partitioning_policy(PinningPolicy::all(true))
            .filter_block_partitioning_policy(PinningPolicy::all(true))
            .filter_block_pinning_policy(PinningPolicy::all(false))
            .index_block_pinning_policy(PinningPolicy::all(false)),
        3 => {
            #[cfg(feature = "lz4")]
            let config = config.data_block_compression_policy(CompressionPolicy::all(
                strata::CompressionType::Lz4,
            ));
            config
                .data_block_size_policy(BlockSizePolicy::all(512))
                .index_block_compression_policy(CompressionPolicy::disabled())
        }
        _ => config,
    }
}

/// The seqno of a write: the last write's for a batch member, else the next one.
fn take_seqno(seqno: &SequenceNumberCounter, last: &mut Option<SeqNo>, batch: bool) -> SeqNo {
    match (batch, *last) {
        (true, Some(s)) => s,
        _ => {
            let s = seqno.next();
            *last = Some(s);
            s
        }
    }
}

fn run_case(ops: &[Op], set: usize, counters: &mut Counters) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let seqno = SequenceNumberCounter::default();
    let open = || {
        let config = Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default());
        configure(config, set).open()
    };
    let mut tree: Tree = open().map_err(|e| TestCaseError::fail(e.to_string()))?;
    // The oracle as of the last flush: what a reopen brings back.
    let mut durable = Oracle::default();
    // Reads never go below the highest GC threshold a flush was given.
    let mut min_read: SeqNo = 0;
    let mut oracle = Oracle::default();
    // The seqno of the last write; a batch op reuses it.
    let mut last_write: Option<SeqNo> = None;
    for op in ops {
        counters.ops += 1;
        let read_at = |back: u64| {
            if back == u64::MAX {
                SeqNo::MAX
            } else {
                seqno.get().saturating_sub(back).max(min_read)
            }
        };
        match op {
            Op::Insert { key, value, batch } => {
                let s = take_seqno(&seqno, &mut last_write, *batch);
                tree.insert(key.as_slice(), value.as_slice(), s);
                oracle
                    .0
                    .entry(key.clone())
                    .or_default()
                    .insert(s, Some(value.clone()));
                counters.writes += 1;
            }
            Op::Remove { key, batch } | Op::RemoveWeak { key, batch } => {
                let s = take_seqno(&seqno, &mut last_write, *batch);
                // A weak tombstone only where its contract holds (the key written once since
                // its last delete); elsewhere a plain one, which reads the same.
                if matches!(op, Op::RemoveWeak { .. }) && oracle.written_once(key, s) {
                    tree.remove_weak(key.as_slice(), s);
                } else {
                    tree.remove(key.as_slice(), s);
                }
                oracle.0.entry(key.clone()).or_default().insert(s, None);
                counters.writes += 1;
            }
            Op::Get { key, back } => {
                let read = read_at(*back);
                let got = tree.get(key, read).unwrap().map(|v| v.to_vec());
                prop_assert_eq!(&got, &oracle.get(key, read), "get {:?} at {}", key, read);
                prop_assert_eq!(tree.contains_key(key, read).unwrap(), got.is_some());
                prop_assert_eq!(
                    tree.size_of(key, read).unwrap(),
                    got.as_ref().map(|v| v.len() as u32)
                );
                counters.reads += 1;
            }
            Op::MultiGet { keys, back } => {
                let read = read_at(*back);
                let got: Vec<Option<Vec<u8>>> = tree
                    .multi_get(keys, read)
                    .unwrap()
                    .into_iter()
                    .map(|v| v.map(|v| v.to_vec()))
                    .collect();
                let expected: Vec<_> = keys.iter().map(|k| oracle.get(k, read)).collect();
                prop_assert_eq!(got, expected);
                counters.reads += 1;
            }
            Op::Range { lo, hi, back, dirs } => {
                let read = read_at(*back);
                let expected: Vec<_> = oracle
                    .visible(read)
                    .into_iter()
                    .filter(|(k, _)| in_bounds(k, lo, hi))
                    .collect();
                let forward: Vec<_> = tree
                    .range((lo.clone(), hi.clone()), read, None)
                    .map(pair)
                    .collect();
                prop_assert_eq!(&forward, &expected, "range {:?}..{:?} at {}", lo, hi, read);
                let mut backward: Vec<_> = tree
                    .range((lo.clone(), hi.clone()), read, None)
                    .rev()
                    .map(pair)
                    .collect();
                backward.reverse();
                prop_assert_eq!(&backward, &expected);
                // Mixed ends: the front and back halves must meet exactly.
                let mut it = tree.range((lo.clone(), hi.clone()), read, None);
                let (mut front, mut back_half) = (Vec::new(), Vec::new());
                for &fwd in dirs.iter().chain(std::iter::repeat(&true)) {
                    let item = if fwd { it.next() } else { it.next_back() };
                    let Some(item) = item else { break };
                    if fwd {
                        front.push(pair(item));
                    } else {
                        back_half.push(pair(item));
                    }
                }
                back_half.reverse();
                front.extend(back_half);
                prop_assert_eq!(&front, &expected, "mixed ends {:?}", dirs);
                counters.scans += 3;
            }
            Op::Prefix {
                prefix,
                back,
                reverse,
            } => {
                let read = read_at(*back);
                let mut expected: Vec<_> = oracle
                    .visible(read)
                    .into_iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .collect();
                let got: Vec<_> = if *reverse {
                    expected.reverse();
                    tree.prefix(prefix, read, None).rev().map(pair).collect()
                } else {
                    tree.prefix(prefix, read, None).map(pair).collect()
                };
                prop_assert_eq!(&got, &expected, "prefix {:?} at {}", prefix, read);
                prop_assert_eq!(
                    tree.contains_prefix(prefix, read, None).unwrap(),
                    !expected.is_empty()
                );
                counters.scans += 1;
            }
            Op::Ends { back } => {
                let read = read_at(*back);
                let visible = oracle.visible(read);
                prop_assert_eq!(
                    tree.first_key_value(read, None).map(pair),
                    visible.first().cloned()
                );
                prop_assert_eq!(
                    tree.last_key_value(read, None).map(pair),
                    visible.last().cloned()
                );
                prop_assert_eq!(tree.len(read, None).unwrap(), visible.len());
                prop_assert_eq!(tree.is_empty(read, None).unwrap(), visible.is_empty());
                counters.scans += 4;
            }
            Op::Flush { back } => {
                let threshold = if *back == u64::MAX {
                    0
                } else {
                    seqno.get().saturating_sub(*back)
                };
                min_read = min_read.max(threshold);
                let tables_before = tree.table_count();
                tree.flush_active_memtable(threshold).unwrap();
                prop_assert_eq!(tree.sealed_memtable_count(), 0);
                prop_assert!(tree.table_count() >= tables_before);
                counters.flushes += 1;
                durable.clone_from(&oracle);
            }
            Op::MajorCompact { back } => {
                let threshold = if *back == u64::MAX {
                    0
                } else {
                    seqno.get().saturating_sub(*back)
                };
                min_read = min_read.max(threshold);
                tree.major_compact(4096, threshold).unwrap();
                prop_assert!(tree.l0_run_count() == 0);
                counters.compactions += 1;
            }
            Op::Compact {
                strategy: which,
                steps,
                back,
            } => {
                let threshold = if *back == u64::MAX {
                    0
                } else {
                    seqno.get().saturating_sub(*back)
                };
                min_read = min_read.max(threshold);
                let strategy = strategy(*which);
                for _ in 0..*steps {
                    let result = tree.compact(strategy.clone(), threshold).unwrap();
                    if result.action == strata::compaction::CompactionAction::Nothing {
                        break;
                    }
                    counters.strategy_steps += 1;
                }
            }
            Op::Clear => {
                let at = seqno.get();
                tree.clear().unwrap();
                prop_assert_eq!(seqno.get(), at + 1, "clear takes one seqno");
                prop_assert_eq!(tree.table_count(), 0);
                oracle.1.push(at);
                durable.1.push(at);
                // A batch never spans a clear.
                last_write = None;
                counters.clears += 1;
            }
            Op::Reopen => {
                drop(tree);
                tree = open().map_err(|e| TestCaseError::fail(e.to_string()))?;
                oracle.clone_from(&durable);
                // Writes after the reopen take fresh seqnos, never a lost write's batch.
                last_write = None;
                // A reopened tree keeps no state from before a clear for older reads.
                if let Some(&c) = oracle.1.iter().max() {
                    min_read = min_read.max(c + 1);
                }
                counters.reopens += 1;
            }
            Op::Rotate => {
                let before = tree.sealed_memtable_count();
                let rotated = tree.rotate_memtable().is_some();
                prop_assert_eq!(tree.sealed_memtable_count(), before + usize::from(rotated));
                counters.rotations += 1;
            }
        }
    }
    let cleared = oracle.1.iter().copied().max();
    let highest = oracle
        .0
        .values()
        .flat_map(|v| v.keys())
        .filter(|&&s| cleared.is_none_or(|c| s > c))
        .max()
        .copied();
    // A compaction may drop the newest entries (tombstones with nothing beneath), so the tree's
    // highest seqno is at most the model's, and equal when nothing was ever compacted away.
    let compacted = ops
        .iter()
        .any(|op| matches!(op, Op::MajorCompact { .. } | Op::Compact { .. }));
    if compacted {
        prop_assert!(tree.get_highest_seqno() <= highest);
    } else {
        prop_assert_eq!(tree.get_highest_seqno(), highest);
    }
    // Approximate: a batch that wrote one key twice around a rotation leaves two entries, and a
    // flush drops versions below its threshold.
    let flushed = ops.iter().any(|op| {
        matches!(
            op,
            Op::Flush { .. } | Op::MajorCompact { .. } | Op::Compact { .. } | Op::Clear
        )
    });
    let versions: usize = if flushed {
        0
    } else {
        oracle.0.values().map(BTreeMap::len).sum()
    };
    let writes = ops
        .iter()
        .filter(|op| {
            matches!(
                op,
                Op::Insert { .. } | Op::Remove { .. } | Op::RemoveWeak { .. }
            )
        })
        .count();
    prop_assert!((versions..=writes).contains(&tree.approximate_len()));
    Ok(())
}

#[test]
fn tree_matches_a_btreemap_model() {
    const OPS_PER_CASE: usize = 500;
    let target: u64 = std::env::var("STRATA_MODEL_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    // Cases have 1 to OPS_PER_CASE ops (so that a failure shrinks), about half on average.
    let cases = u32::try_from(target.div_ceil(OPS_PER_CASE as u64 * 2 / 5)).unwrap_or(u32::MAX);
    // `STRATA_MODEL_SEED=N` replays a run; every run prints its seed.
    let seed: u64 = std::env::var("STRATA_MODEL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
    println!("model seed: {seed} (replay with STRATA_MODEL_SEED={seed})");
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig {
            cases,
            failure_persistence: None,
            ..ProptestConfig::default()
        },
        proptest::test_runner::TestRng::from_seed(
            proptest::test_runner::RngAlgorithm::ChaCha,
            &seed_bytes,
        ),
    );
    let counters = std::cell::RefCell::new(Counters::default());
    let strategy = (prop::collection::vec(op(), 1..=OPS_PER_CASE), 0usize..5);
    let result = runner.run(&strategy, |(ops, set)| {
        run_case(&ops, set, &mut counters.borrow_mut())
    });
    let counters = counters.into_inner();
    println!(
        "model (seed {seed}): {} ops ({} writes, {} point reads, {} scans, {} rotations, {} flushes, {} major compactions, {} strategy steps, {} clears, {} reopens) in {} cases, {} mismatches",
        counters.ops,
        counters.writes,
        counters.reads,
        counters.scans,
        counters.rotations,
        counters.flushes,
        counters.compactions,
        counters.strategy_steps,
        counters.clears,
        counters.reopens,
        cases,
        u8::from(result.is_err())
    );
    if let Err(err) = result {
        panic!("model mismatch: {err}");
    }
    assert!(
        counters.ops >= target,
        "ran {} ops, wanted {target}",
        counters.ops
    );
}

/// Regression (shrunk from a model failure): a weak delete cancelled with the value beneath it in
/// an intra-L0 merge took the tombstone of the key's last delete with it, and the value that
/// delete hid, in level 1 outside the merge, came back.
#[test]
fn a_weak_delete_cancelled_in_a_compaction_keeps_the_older_delete() {
    use strata::compaction::{CompactionAction, Leveled};

    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default())
        .open()
        .unwrap();
    tree.insert("a", "v1", seqno.next());
    tree.flush_active_memtable(0).unwrap();
    tree.remove("a", seqno.next());
    tree.flush_active_memtable(0).unwrap();
    // Written once since its last delete: the contract of `remove_weak` holds.
    tree.insert("a", "v2", seqno.next());
    tree.remove_weak("a", seqno.next());
    tree.flush_active_memtable(0).unwrap();
    assert_eq!(tree.get("a", SeqNo::MAX).unwrap(), None);
    // Step 1 moves the oldest run (v1) to the last level (nothing below overlaps it), step 2
    // the delete's run to level 1 (free of overlap); step 3 merges the weak delete's run into
    // level 1, with the delete.
    let strategy = std::sync::Arc::new(Leveled::default().with_l0_threshold(1));
    let mut steps = Vec::new();
    loop {
        let result = tree.compact(strategy.clone(), seqno.get()).unwrap();
        if result.action == CompactionAction::Nothing {
            break;
        }
        steps.push(result.action);
        assert_eq!(tree.get("a", SeqNo::MAX).unwrap(), None, "after {steps:?}");
    }
    assert_eq!(
        steps[..3],
        [
            CompactionAction::Moved,
            CompactionAction::Moved,
            CompactionAction::Merged
        ]
    );
    assert_eq!(tree.get("a", SeqNo::MAX).unwrap(), None);
}
