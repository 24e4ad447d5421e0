//! Merge operators end to end: counters and list appends through every read, flush, every
//! compaction strategy, reopen and reads at old seqnos; operator errors; partial merges across
//! levels read the same as full ones; a reverse comparator. (The model test,
//! `tests/tree_model.rs`, mixes merges with everything else at random.)

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "test code: a failed unwrap is a failed test; small test sizes"
)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use strata::compaction::{CompactionAction, CompactionStrategy, Leveled, SizeTiered};
use strata::{Error, Guard, MergeOperator, SeqNo, SequenceNumberCounter, Slice, Tree, ValueType};

/// A u64 counter: operands and values are little-endian u64s; an operand that is not 8 bytes
/// is an error.
struct Add;

impl MergeOperator for Add {
    fn merge(&self, _: &[u8], base: Option<&[u8]>, operands: &[&[u8]]) -> strata::Result<Slice> {
        let decode = |b: &[u8]| -> strata::Result<u64> {
            Ok(u64::from_le_bytes(
                b.try_into().map_err(|_| Error::MergeOperator)?,
            ))
        };
        let mut sum = base.map(decode).transpose()?.unwrap_or(0);
        for operand in operands {
            sum = sum.wrapping_add(decode(operand)?);
        }
        Ok(Slice::from(sum.to_le_bytes()))
    }
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

fn open(
    dir: &std::path::Path,
    seqno: &SequenceNumberCounter,
    operator: Arc<dyn MergeOperator>,
    reverse: bool,
) -> Tree {
    let config = common::small_config(dir, seqno, 256, 4 << 10).with_merge_operator(Some(operator));
    let config = if reverse {
        config.comparator(Arc::new(common::Reverse))
    } else {
        config
    };
    config.open().unwrap()
}

fn n(v: u64) -> [u8; 8] {
    v.to_le_bytes()
}

fn counter(tree: &Tree, key: &str, seqno: SeqNo) -> Option<u64> {
    tree.get(key, seqno)
        .unwrap()
        .map(|v| u64::from_le_bytes(v.as_ref().try_into().unwrap()))
}

/// What every read at one seqno sees: key -> value.
type Contents = BTreeMap<Vec<u8>, Vec<u8>>;

/// Every read API at `read` against `expected` (key -> value).
fn check_reads(tree: &Tree, expected: &BTreeMap<Vec<u8>, Vec<u8>>, read: SeqNo, reverse: bool) {
    let order = |mut pairs: Vec<(Vec<u8>, Vec<u8>)>| {
        if reverse {
            pairs.reverse();
        }
        pairs
    };
    let want = order(expected.clone().into_iter().collect());
    let forward: Vec<_> = tree
        .iter(read, None)
        .map(|g| {
            let (k, v) = g.into_inner().unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect();
    assert_eq!(forward, want, "forward scan at {read}");
    let mut backward: Vec<_> = tree
        .iter(read, None)
        .rev()
        .map(|g| {
            let (k, v) = g.into_inner().unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect();
    backward.reverse();
    assert_eq!(backward, want, "backward scan at {read}");
    for (key, value) in expected {
        assert_eq!(
            tree.get(key, read).unwrap().as_deref(),
            Some(value.as_slice())
        );
        assert!(tree.contains_key(key, read).unwrap());
        assert_eq!(tree.size_of(key, read).unwrap(), Some(value.len() as u32));
    }
    let keys: Vec<&Vec<u8>> = expected.keys().collect();
    let got = tree.multi_get(&keys, read).unwrap();
    assert!(
        got.iter()
            .zip(expected.values())
            .all(|(g, v)| g.as_deref() == Some(v.as_slice()))
    );
    assert_eq!(tree.len(read, None).unwrap(), expected.len());
    if let Some((k, v)) = want.first() {
        let first = tree
            .first_key_value(read, None)
            .unwrap()
            .into_inner()
            .unwrap();
        assert_eq!((first.0.to_vec(), first.1.to_vec()), (k.clone(), v.clone()));
    }
    if let Some((k, v)) = want.last() {
        let last = tree
            .last_key_value(read, None)
            .unwrap()
            .into_inner()
            .unwrap();
        assert_eq!((last.0.to_vec(), last.1.to_vec()), (k.clone(), v.clone()));
    }
}

/// Counters and lists, built up across memtables, flushes, every compaction strategy and a
/// reopen, read through every read API at every seqno a snapshot was taken at.
fn merges_survive_everything(reverse: bool) {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let mut tree = open(dir.path(), &seqno, Arc::new(Append), reverse);
    // The model: per snapshot seqno, what every read sees.
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut snapshots: Vec<(SeqNo, Contents)> = Vec::new();
    let strategies: Vec<Arc<dyn CompactionStrategy>> = vec![
        Arc::new(
            Leveled::default()
                .with_l0_threshold(2)
                .with_table_target_size(4 << 10),
        ),
        Arc::new(SizeTiered::default()),
    ];
    let mut rng = common::Rng::new(7);
    for round in 0..12u64 {
        for _ in 0..150 {
            let key = format!("k{:02}", rng.below(40)).into_bytes();
            let s = seqno.next();
            match rng.below(10) {
                0 => {
                    tree.remove(key.clone(), s);
                    model.remove(&key);
                }
                1 => {
                    tree.insert(key.clone(), b"=".to_vec(), s);
                    model.insert(key, b"=".to_vec());
                }
                _ => {
                    let byte = [b'a' + (s % 26) as u8];
                    tree.merge(key.clone(), byte.to_vec(), s);
                    model.entry(key).or_default().extend_from_slice(&byte);
                }
            }
        }
        snapshots.push((seqno.get(), model.clone()));
        match round % 4 {
            0 => tree.flush_active_memtable(0).unwrap(),
            1 => {
                tree.flush_active_memtable(0).unwrap();
                let strategy = Arc::clone(&strategies[(round as usize / 4) % 2]);
                while tree.compact(Arc::clone(&strategy), 0).unwrap().action
                    != CompactionAction::Nothing
                {}
            }
            2 => {
                tree.rotate_memtable();
            }
            _ => {
                tree.flush_active_memtable(0).unwrap();
                let lowest = snapshots.first().map_or(0, |s| s.0);
                tree.major_compact(4 << 10, lowest).unwrap();
            }
        }
        for (at, expected) in &snapshots {
            check_reads(&tree, expected, *at, reverse);
        }
    }
    tree.flush_active_memtable(0).unwrap();
    drop(tree);
    tree = open(dir.path(), &seqno, Arc::new(Append), reverse);
    for (at, expected) in &snapshots {
        check_reads(&tree, expected, *at, reverse);
    }
    // Everything collapsed at the bottom with no snapshot left: one value per live key.
    tree.major_compact(u64::MAX, seqno.get()).unwrap();
    check_reads(&tree, &model, SeqNo::MAX, reverse);
    assert!(tree.table_count() >= 1);
    let tables = tree.current_version();
    let entries: u64 = tables.iter_tables().map(|t| t.entry_count()).sum();
    assert_eq!(entries, model.len() as u64, "one version per live key");
}

#[test]
fn merges_survive_flushes_compactions_and_reopen() {
    merges_survive_everything(false);
}

#[test]
fn merges_survive_flushes_compactions_and_reopen_under_a_reverse_comparator() {
    merges_survive_everything(true);
}

#[test]
fn a_counter_reads_right_at_every_seqno_across_levels() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir.path(), &seqno, Arc::new(Add), false);
    tree.insert("c", n(100), seqno.next());
    let mut expected = vec![(seqno.get(), 100u64)];
    for level_step in 0..4 {
        for _ in 0..5 {
            tree.merge("c", n(1), seqno.next());
            expected.push((seqno.get(), expected.last().unwrap().1 + 1));
        }
        tree.flush_active_memtable(0).unwrap();
        if level_step % 2 == 1 {
            // Partial merges: the base sits in a deeper level than some operands.
            tree.compact(Arc::new(Leveled::default().with_l0_threshold(1)), 0)
                .unwrap();
        }
    }
    tree.remove("c", seqno.next());
    tree.merge("c", n(7), seqno.next());
    for (at, value) in &expected {
        assert_eq!(counter(&tree, "c", *at), Some(*value), "at {at}");
    }
    assert_eq!(
        counter(&tree, "c", SeqNo::MAX),
        Some(7),
        "a delete ends the operands"
    );
    // A partial merge keeps what older reads see.
    let lowest = expected.first().unwrap().0;
    tree.major_compact(u64::MAX, lowest).unwrap();
    for (at, value) in &expected {
        assert_eq!(
            counter(&tree, "c", *at),
            Some(*value),
            "after major at {at}"
        );
    }
    tree.flush_active_memtable(0).unwrap();
    tree.major_compact(u64::MAX, SeqNo::MAX).unwrap();
    assert_eq!(counter(&tree, "c", SeqNo::MAX), Some(7));
    // The newest version is a value now, no longer an operand.
    let entry = tree.get_internal_entry("c", SeqNo::MAX).unwrap().unwrap();
    assert_eq!(entry.key.value_type, ValueType::Value);
}

#[test]
fn get_internal_entry_returns_an_operand_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir.path(), &seqno, Arc::new(Add), false);
    tree.insert("c", n(1), 0);
    tree.merge("c", n(2), 1);
    let entry = tree.get_internal_entry("c", 2).unwrap().unwrap();
    assert_eq!(entry.key.value_type, ValueType::MergeOperand);
    assert_eq!(&*entry.value, &n(2));
    assert_eq!(counter(&tree, "c", 2), Some(3));
}

#[test]
fn an_operator_error_reaches_the_caller_unchanged_and_scans_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir.path(), &seqno, Arc::new(Add), false);
    tree.insert("a", n(1), seqno.next());
    tree.merge("b", b"not eight bytes".to_vec(), seqno.next());
    tree.merge("c", n(5), seqno.next());
    let read = seqno.get();
    assert!(matches!(tree.get("b", read), Err(Error::MergeOperator)));
    assert!(matches!(
        tree.contains_key("b", read),
        Err(Error::MergeOperator)
    ));
    assert!(matches!(
        tree.multi_get(["a", "b"], read),
        Err(Error::MergeOperator)
    ));
    for reverse in [false, true] {
        let items: Vec<strata::Result<(Slice, Slice)>> = if reverse {
            tree.iter(read, None).rev().map(Guard::into_inner).collect()
        } else {
            tree.iter(read, None).map(Guard::into_inner).collect()
        };
        assert_eq!(
            items.len(),
            3,
            "the failing key takes its place; the scan goes on"
        );
        let errors = items
            .iter()
            .filter(|i| matches!(i, Err(Error::MergeOperator)))
            .count();
        assert_eq!(errors, 1);
    }
    assert_eq!(counter(&tree, "a", read), Some(1));
    assert_eq!(counter(&tree, "c", read), Some(5));
    // A compaction that would have to merge it fails, and loses nothing.
    tree.flush_active_memtable(0).unwrap();
    tree.merge("b", n(1), seqno.next());
    tree.flush_active_memtable(0).unwrap();
    assert!(matches!(
        tree.major_compact(u64::MAX, SeqNo::MAX),
        Err(Error::MergeOperator)
    ));
    assert_eq!(counter(&tree, "a", SeqNo::MAX), Some(1));
    assert_eq!(counter(&tree, "c", SeqNo::MAX), Some(5));
    assert_eq!(tree.table_count(), 2);
}

#[test]
fn without_an_operator_the_latest_operand_reads_as_a_value() {
    let dir = tempfile::tempdir().unwrap();
    let tree = common::open_default(dir.path());
    tree.insert("k", "base", 0);
    tree.merge("k", "one", 1);
    tree.merge("k", "two", 2);
    assert_eq!(tree.get("k", 3).unwrap().unwrap(), "two");
    assert_eq!(tree.get("k", 2).unwrap().unwrap(), "one");
    tree.flush_active_memtable(0).unwrap();
    assert_eq!(tree.get("k", 3).unwrap().unwrap(), "two");
    let (_, v) = tree.iter(3, None).next().unwrap().into_inner().unwrap();
    assert_eq!(v, "two");
}

/// An operator that panics is reported as `Error::MergeOperator`, never an unwinding read.
#[test]
fn a_panicking_operator_is_an_error_not_a_panic() {
    struct Panics;
    impl MergeOperator for Panics {
        fn merge(&self, _: &[u8], _: Option<&[u8]>, _: &[&[u8]]) -> strata::Result<Slice> {
            panic!("operator bug")
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir.path(), &seqno, Arc::new(Panics), false);
    tree.merge("k", "x", 0);
    assert!(matches!(tree.get("k", 1), Err(Error::MergeOperator)));
    assert!(matches!(
        tree.iter(1, None).next().unwrap().into_inner(),
        Err(Error::MergeOperator)
    ));
}
