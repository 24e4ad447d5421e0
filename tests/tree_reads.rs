//! Read scenarios of the in-memory tree: the `index` overlay, seqnos that arrive out of order
//! across a rotation, iterators that outlive their tree handle, and custom comparators.

#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::sync::Arc;

use strata::{
    Config, Guard, InternalValue, Memtable, SeqNo, SequenceNumberCounter, Tree, ValueType,
};

fn open(dir: &tempfile::TempDir) -> Tree {
    common::open_default(dir.path())
}

fn keys(iter: impl Iterator<Item = impl Guard>) -> Vec<String> {
    iter.map(|g| String::from_utf8(g.key().unwrap().to_vec()).unwrap())
        .collect()
}

#[test]
fn index_overlay_shows_uncommitted_writes_on_top_of_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let tree = open(&dir);
    tree.insert("a", "tree", 0);
    tree.insert("b", "tree", 1);
    tree.insert("c", "tree", 2);
    // A transaction reading at snapshot 2 writes at seqno 2: its writes shadow what it can see.
    let overlay = Arc::new(Memtable::default());
    overlay.insert(InternalValue::from_components(
        "b",
        "tx",
        2,
        ValueType::Value,
    ));
    overlay.insert(InternalValue::from_components(
        "a",
        "",
        2,
        ValueType::Tombstone,
    ));
    overlay.insert(InternalValue::from_components(
        "d",
        "tx",
        2,
        ValueType::Value,
    ));
    let index = || Some((Arc::clone(&overlay), 3));

    let pairs: Vec<_> = tree
        .iter(2, index())
        .map(|g| g.into_inner().unwrap())
        .map(|(k, v)| {
            (
                String::from_utf8(k.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [("b".into(), "tx".into()), ("d".into(), "tx".into())]
    );
    assert_eq!(keys(tree.iter(2, index()).rev()), ["d", "b"]);
    assert_eq!(tree.len(2, index()).unwrap(), 2);
    assert!(tree.contains_prefix("d", 2, index()).unwrap());
    assert!(!tree.contains_prefix("d", 2, None).unwrap());
    assert_eq!(keys(tree.range("a".."c", 2, index())), ["b"]);
    assert_eq!(
        tree.first_key_value(2, index()).unwrap().key().unwrap(),
        "b"
    );
    // Without the overlay the snapshot is unchanged.
    assert_eq!(keys(tree.iter(2, None)), ["a", "b"]);
}

#[test]
fn an_older_memtable_holding_a_newer_seqno_wins_point_reads_and_scans() {
    let dir = tempfile::tempdir().unwrap();
    let tree = open(&dir);
    // Writer A took seqno 5 and wrote before the rotation; writer B took seqno 4 but wrote after.
    tree.insert("k", "from-5", 5);
    tree.rotate_memtable().unwrap();
    tree.insert("k", "from-4", 4);
    assert_eq!(tree.get("k", 6).unwrap().unwrap(), "from-5");
    assert_eq!(tree.get("k", 5).unwrap().unwrap(), "from-4");
    let scanned: Vec<_> = tree.iter(6, None).map(|g| g.value().unwrap()).collect();
    assert_eq!(scanned, ["from-5"]);
    let reversed: Vec<_> = tree
        .iter(6, None)
        .rev()
        .map(|g| g.value().unwrap())
        .collect();
    assert_eq!(reversed, ["from-5"]);
    // A tombstone in the older memtable at a higher seqno hides the key too.
    tree.remove("t", 9);
    tree.rotate_memtable().unwrap();
    tree.insert("t", "stale", 8);
    assert_eq!(tree.get("t", 10).unwrap(), None);
    assert!(keys(tree.iter(10, None)).iter().all(|k| k != "t"));
}

#[test]
fn reads_at_zero_see_nothing_and_at_max_see_everything() {
    let dir = tempfile::tempdir().unwrap();
    let tree = open(&dir);
    tree.insert("a", "1", 0);
    tree.insert("b", "2", strata::MAX_SEQNO);
    assert_eq!(tree.get("a", 0).unwrap(), None);
    assert!(tree.is_empty(0, None).unwrap());
    assert_eq!(tree.iter(0, None).count(), 0);
    assert_eq!(tree.get("b", SeqNo::MAX).unwrap().unwrap(), "2");
    assert_eq!(tree.len(SeqNo::MAX, None).unwrap(), 2);
    assert_eq!(tree.get_highest_seqno(), Some(strata::MAX_SEQNO));
}

#[test]
fn writes_sharing_a_seqno_appear_together() {
    let dir = tempfile::tempdir().unwrap();
    let tree = open(&dir);
    for key in ["x", "y", "z"] {
        tree.insert(key, "batch", 7);
    }
    assert_eq!(tree.len(7, None).unwrap(), 0);
    assert_eq!(tree.len(8, None).unwrap(), 3);
    // The second write of a key within one batch wins.
    tree.insert("x", "again", 7);
    assert_eq!(tree.get("x", 8).unwrap().unwrap(), "again");
    assert_eq!(tree.len(8, None).unwrap(), 3);
}

#[test]
fn iterators_own_their_data_and_outlive_the_tree_handle() {
    let dir = tempfile::tempdir().unwrap();
    let tree = open(&dir);
    for i in 0..100u32 {
        tree.insert(format!("{i:03}"), i.to_le_bytes(), u64::from(i));
    }
    let bound = String::from("050");
    let iter = tree.range(bound.as_str().., SeqNo::MAX, None);
    drop(bound);
    drop(tree);
    // Still readable from another thread after every handle and the bound are gone.
    let handle = std::thread::spawn(move || keys(iter).len());
    assert_eq!(handle.join().unwrap(), 50);
}

#[test]
fn custom_comparator_orders_scans_ranges_and_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Config::new(
        dir.path(),
        SequenceNumberCounter::default(),
        SequenceNumberCounter::default(),
    )
    .comparator(Arc::new(common::Reverse))
    .open()
    .unwrap();
    for (i, k) in ["ab", "b", "aa", "c", "a"].into_iter().enumerate() {
        tree.insert(k, "", i as u64);
    }
    tree.rotate_memtable();
    tree.insert("ba", "", 9);
    assert_eq!(keys(tree.iter(10, None)), ["c", "ba", "b", "ab", "aa", "a"]);
    assert_eq!(
        keys(tree.iter(10, None).rev()),
        ["a", "aa", "ab", "b", "ba", "c"]
    );
    // In comparator order, "b" ..= "aa" runs downward.
    assert_eq!(keys(tree.range("b"..="aa", 10, None)), ["b", "ab", "aa"]);
    assert_eq!(keys(tree.prefix("a", 10, None)), ["ab", "aa", "a"]);
    assert_eq!(keys(tree.prefix("b", 10, None).rev()), ["b", "ba"]);
    assert!(tree.contains_prefix("ba", 10, None).unwrap());
    assert!(!tree.contains_prefix("d", 10, None).unwrap());
    assert_eq!(tree.first_key_value(10, None).unwrap().key().unwrap(), "c");
    assert_eq!(tree.last_key_value(10, None).unwrap().key().unwrap(), "a");
}

#[test]
fn every_range_bounds_form_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let tree = open(&dir);
    for (i, k) in ["a", "b", "c", "d"].into_iter().enumerate() {
        tree.insert(k, "", i as u64);
    }
    let s = SeqNo::MAX;
    assert_eq!(keys(tree.range("b".."d", s, None)), ["b", "c"]);
    assert_eq!(keys(tree.range("b"..="d", s, None)), ["b", "c", "d"]);
    assert_eq!(keys(tree.range("c".., s, None)), ["c", "d"]);
    assert_eq!(keys(tree.range(.."b", s, None)), ["a"]);
    assert_eq!(keys(tree.range(..="b", s, None)), ["a", "b"]);
    assert_eq!(
        keys(tree.range::<&str, _>(.., s, None)),
        ["a", "b", "c", "d"]
    );
    let excluded_start = (
        std::ops::Bound::Excluded("a"),
        std::ops::Bound::Included("c"),
    );
    assert_eq!(
        keys(tree.range::<&str, _>(excluded_start, s, None)),
        ["b", "c"]
    );
    assert_eq!(keys(tree.range(vec![b'b']..vec![b'c'], s, None)), ["b"]);
    assert_eq!(keys(tree.range("d".."a", s, None)), Vec::<String>::new());
}

/// Point reads outside every table's key range skip the runs at once (`Version::may_hold`):
/// keys below, above and between the tables, with a range-tombstone-only table widening the
/// bounds, under both the default and a reverse comparator, agree with the data.
#[test]
fn point_reads_outside_the_tables_key_span_find_nothing_and_inside_find_everything() {
    for reverse in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let seqno = SequenceNumberCounter::default();
        let mut config = Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default());
        if reverse {
            config = config.comparator(Arc::new(common::Reverse));
        }
        let tree = config.open().unwrap();
        for k in ["d", "f", "h"] {
            tree.insert(k, k, seqno.next());
        }
        tree.flush_active_memtable(0).unwrap();
        for k in ["e", "g"] {
            tree.insert(k, k, seqno.next());
        }
        tree.flush_active_memtable(0).unwrap();
        // A table of range tombstones alone, reaching far past the data on both sides.
        let (lo, hi) = if reverse { ("z", "a") } else { ("a", "z") };
        tree.remove_range(lo, hi, 0);
        tree.flush_active_memtable(0).unwrap();
        for k in ["d", "e", "f", "g", "h"] {
            assert_eq!(
                tree.get(k, SeqNo::MAX).unwrap().unwrap(),
                k,
                "{k} ({reverse})"
            );
        }
        for k in ["a", "c", "da", "i", "z", ""] {
            assert_eq!(tree.get(k, SeqNo::MAX).unwrap(), None, "{k} ({reverse})");
        }
        // A write outside the span lands in the memtable and is found there; after a flush the
        // new version's span covers it.
        tree.insert("b", "b", seqno.next());
        assert_eq!(tree.get("b", SeqNo::MAX).unwrap().unwrap(), "b");
        tree.flush_active_memtable(0).unwrap();
        assert_eq!(tree.get("b", SeqNo::MAX).unwrap().unwrap(), "b");
        assert_eq!(
            tree.multi_get(["b", "c", "h"], SeqNo::MAX).unwrap(),
            [Some("b".into()), None, Some("h".into())]
        );
    }
}
