//! Prefix extractors: the same reads with and without one, over tables in several levels, full and
//! partitioned filters and none; tables are skipped only when the table was written by an
//! extractor of the tree's name, and reads stay right across reopens that change the extractor.

#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use strata::config::{BloomConstructionPolicy, FilterPolicy, FilterPolicyEntry, PinningPolicy};
use strata::{
    Config, FixedPrefixExtractor, Guard, PrefixExtractor, SeqNo, SequenceNumberCounter, Tree,
    UserComparator,
};

/// Groups of keys: group `g`'s keys start with the 4-byte prefix `format!("{g:04}")`.
const GROUPS: u32 = 40;

fn key(group: u32, i: u32) -> String {
    format!("{group:04}-{i:03}")
}

#[derive(Clone, Copy)]
struct Setup {
    partitioned: bool,
    filters: bool,
}

const FULL: Setup = Setup {
    partitioned: false,
    filters: true,
};

fn config(
    dir: &std::path::Path,
    setup: Setup,
    extractor: Option<Arc<dyn PrefixExtractor>>,
) -> Config {
    // NB: partitioned, 64-byte blocks at 50 bits per key close a filter partition every 10
    // hashes: each table's filter has many partitions, and a prefix's keys span several.
    let (block_bytes, filter) = if setup.partitioned {
        (
            64,
            FilterPolicy::all(FilterPolicyEntry::Bloom(
                BloomConstructionPolicy::BitsPerKey(50.0),
            )),
        )
    } else {
        (256, FilterPolicy::default())
    };
    let mut config =
        common::small_config(dir, &SequenceNumberCounter::default(), block_bytes, 4 << 10)
            .filter_policy(filter)
            .filter_block_partitioning_policy(PinningPolicy::all(setup.partitioned));
    if !setup.filters {
        config = config.filter_policy(FilterPolicy::disabled());
    }
    match extractor {
        Some(extractor) => config.prefix_extractor(extractor),
        None => config,
    }
}

#[expect(
    clippy::unnecessary_wraps,
    reason = "every caller passes it where an optional extractor goes"
)]
fn fixed(len: usize) -> Option<Arc<dyn PrefixExtractor>> {
    Some(Arc::new(FixedPrefixExtractor::new(len)))
}

/// Writes the even groups and compacts them into the last level (several tables), then flushes
/// level-0 tables that each hold a few odd groups spread over the key space (so that their key
/// ranges overlap groups they lack). Returns the seqno to read at.
fn fill(tree: &Tree) -> SeqNo {
    let seqno = SequenceNumberCounter::default();
    for group in (0..GROUPS).step_by(2) {
        for i in 0..30 {
            tree.insert(key(group, i), format!("v{group}-{i}"), seqno.next());
        }
    }
    tree.remove(key(4, 7), seqno.next());
    tree.flush_active_memtable(0).unwrap();
    tree.major_compact(2 << 10, 0).unwrap();
    for flush in 0..4 {
        for group in (1..GROUPS).step_by(2).filter(|g| g % 8 == flush * 2 + 1) {
            for i in 0..5 {
                tree.insert(key(group, i), format!("w{group}-{i}"), seqno.next());
            }
        }
        // Overwrites and deletes in the even groups, so that level 0 shadows the last level.
        tree.insert(key(flush * 8, 1), "new", seqno.next());
        tree.remove(key(flush * 8 + 2, 2), seqno.next());
        tree.flush_active_memtable(0).unwrap();
    }
    seqno.get()
}

/// Every read the tests compare: per prefix, the scan both ways and `contains_prefix`; then a
/// range and point reads.
fn reads(tree: &Tree, at: SeqNo) -> Vec<String> {
    let mut out = Vec::new();
    let collect = |it: &mut dyn Iterator<Item = strata::IterGuardImpl>| {
        it.map(|g| {
            let (k, v) = g.into_inner().unwrap();
            format!(
                "{}={}",
                String::from_utf8_lossy(&k),
                String::from_utf8_lossy(&v)
            )
        })
        .collect::<Vec<_>>()
        .join(",")
    };
    let mut prefixes: Vec<String> = (0..GROUPS + 3).map(|g| format!("{g:04}")).collect();
    // Not scan boundaries of a 4-byte extractor: read without skipping.
    prefixes.extend(["00", "0012-00", "", "9"].map(String::from));
    for prefix in &prefixes {
        out.push(format!(
            "prefix {prefix}: {}",
            collect(&mut tree.prefix(prefix, at, None))
        ));
        out.push(format!(
            "rev {prefix}: {}",
            collect(&mut tree.prefix(prefix, at, None).rev())
        ));
        out.push(format!(
            "contains {prefix}: {}",
            tree.contains_prefix(prefix, at, None).unwrap()
        ));
    }
    out.push(format!(
        "range: {}",
        collect(&mut tree.range("0005".."0011", at, None))
    ));
    for group in 0..GROUPS + 2 {
        for i in [0, 1, 2, 7, 29] {
            let k = key(group, i);
            out.push(format!("get {k}: {:?}", tree.get(&k, at).unwrap()));
        }
    }
    out
}

/// The reads of a tree filled by [`fill`] with `extractor`, and the tables skipped by them.
fn filled_reads(setup: Setup, extractor: Option<Arc<dyn PrefixExtractor>>) -> (Vec<String>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let tree = config(dir.path(), setup, extractor).open().unwrap();
    let at = fill(&tree);
    assert!(tree.level_table_count(0).unwrap() >= 4);
    assert!(
        tree.table_count() > tree.level_table_count(0).unwrap() + 2,
        "several deep tables"
    );
    let reads = reads(&tree, at);
    (reads, tree.prefix_filter_skip_count())
}

fn assert_same_reads_and_skips(setup: Setup) {
    let (plain, plain_skips) = filled_reads(setup, None);
    let (with, skips) = filled_reads(setup, fixed(4));
    assert_eq!(plain_skips, 0);
    assert_eq!(plain.len(), with.len());
    for (a, b) in plain.iter().zip(&with) {
        assert_eq!(a, b);
    }
    if setup.filters {
        println!("tables skipped: {skips}");
        assert!(skips > 20, "only {skips} tables skipped");
    } else {
        assert_eq!(skips, 0, "no filter, nothing to skip by");
    }
}

#[test]
fn full_filters_give_the_same_reads_and_skip_tables() {
    assert_same_reads_and_skips(FULL);
}

#[test]
fn partitioned_filters_give_the_same_reads_and_skip_tables() {
    assert_same_reads_and_skips(Setup {
        partitioned: true,
        filters: true,
    });
}

#[test]
fn disabled_filters_give_the_same_reads_and_skip_nothing() {
    assert_same_reads_and_skips(Setup {
        partitioned: false,
        filters: false,
    });
}

/// Fills a tree with `written`, reopens it with `read`, and checks reads against a tree that
/// never had an extractor; returns the tables the reopened tree skipped.
fn reopen_with(
    written: Option<Arc<dyn PrefixExtractor>>,
    read: Option<Arc<dyn PrefixExtractor>>,
) -> u64 {
    let (expected, _) = filled_reads(FULL, None);
    let dir = tempfile::tempdir().unwrap();
    let at = {
        let tree = config(dir.path(), FULL, written).open().unwrap();
        fill(&tree)
    };
    let tree = config(dir.path(), FULL, read).open().unwrap();
    assert_eq!(reads(&tree, at), expected);
    tree.prefix_filter_skip_count()
}

#[test]
fn tables_written_without_an_extractor_are_never_skipped_by_one() {
    assert_eq!(reopen_with(None, fixed(4)), 0);
}

#[test]
fn tables_written_with_an_extractor_read_right_without_one() {
    assert_eq!(reopen_with(fixed(4), None), 0);
}

#[test]
fn tables_written_with_another_extractor_are_never_skipped() {
    // A 3-byte extractor's filters hold no 4-byte prefixes: skipping by them would lose keys.
    assert_eq!(reopen_with(fixed(3), fixed(4)), 0);
}

#[test]
fn tables_written_with_the_same_extractor_are_skipped_after_reopen() {
    assert!(reopen_with(fixed(4), fixed(4)) > 20);
}

#[test]
fn only_tables_of_the_tree_s_extractor_are_skipped_in_a_mixed_tree() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let flush = |extractor, groups: [u32; 2]| {
        let tree = config(dir.path(), FULL, extractor).open().unwrap();
        for group in groups {
            for i in 0..5 {
                tree.insert(key(group, i), "", seqno.next());
            }
        }
        tree.flush_active_memtable(0).unwrap();
    };
    flush(None, [1, 9]);
    flush(fixed(3), [2, 8]);
    flush(fixed(4), [3, 7]);
    let tree = config(dir.path(), FULL, fixed(4)).open().unwrap();
    // Prefix "0005" lies inside every table's range; only the 4-byte one may be skipped.
    assert_eq!(tree.prefix("0005", seqno.get(), None).count(), 0);
    assert_eq!(tree.prefix_filter_skip_count(), 1);
    for group in [1, 2, 3, 7, 8, 9] {
        assert_eq!(
            tree.prefix(format!("{group:04}"), seqno.get(), None)
                .count(),
            5
        );
    }
}

/// Descending byte order: equal keys are byte-equal, so filters (and prefix skipping) apply.
struct Descending;

impl UserComparator for Descending {
    fn name(&self) -> &'static str {
        "test.descending"
    }
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        b.cmp(a)
    }
    fn can_keys_with_different_bytes_be_equal(&self) -> bool {
        false
    }
}

/// Descending order that claims different bytes may be equal: prefix skipping must stay off.
struct DescendingUnhashable;

impl UserComparator for DescendingUnhashable {
    fn name(&self) -> &'static str {
        "test.descending_unhashable"
    }
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        b.cmp(a)
    }
}

fn comparator_reads(
    cmp: Arc<dyn UserComparator>,
    extractor: Option<Arc<dyn PrefixExtractor>>,
) -> (BTreeMap<String, usize>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let tree = config(dir.path(), FULL, extractor)
        .comparator(cmp)
        .open()
        .unwrap();
    let at = fill(&tree);
    let counts = (0..GROUPS + 2)
        .map(|g| {
            let prefix = format!("{g:04}");
            let n = tree.prefix(&prefix, at, None).count();
            assert_eq!(tree.contains_prefix(&prefix, at, None).unwrap(), n > 0);
            (prefix, n)
        })
        .collect();
    (counts, tree.prefix_filter_skip_count())
}

#[test]
fn a_comparator_with_byte_equal_keys_skips_tables_and_reads_the_same() {
    let (plain, _) = comparator_reads(Arc::new(Descending), None);
    let (with, skips) = comparator_reads(Arc::new(Descending), fixed(4));
    assert_eq!(plain, with);
    assert_eq!(plain.get("0004"), Some(&29));
    assert!(skips > 20, "only {skips} tables skipped");
}

#[test]
fn a_comparator_that_may_call_different_bytes_equal_never_skips() {
    let (plain, _) = comparator_reads(Arc::new(DescendingUnhashable), None);
    let (with, skips) = comparator_reads(Arc::new(DescendingUnhashable), fixed(4));
    assert_eq!(plain, with);
    assert_eq!(skips, 0);
}
