//! loom models of the memtable's lock-free code: the arena, the skiplist's insert and read
//! publication, the value store, and the three together in a [`Memtable`].
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --lib loom` (UNSAFE.md, "loom models").
//! Under `cfg(loom)` the arena, skiplist, value store and memtable use loom's atomics (through
//! `crate::sync`) with the orderings of the normal build, and every plain byte that they publish
//! is stood for by a `Witness` (a loom cell): loom fails a model with "Causality violation" if a
//! thread reads a node, a record or a segment header that is not ordered after its writer.
//! Tower heights come from `skiplist::script_heights`, since a model must be deterministic.
//!
//! Each model prints how many executions loom explored and how long it took (`--nocapture`).

#![expect(
    unsafe_code,
    reason = "the models call the memtable's unsafe internals as the memtable does; see UNSAFE.md"
)]

use std::ptr::{self, NonNull};

use loom::sync::Arc;
use loom::thread;

use super::arena::Arena;
use super::inner::Memtable;
use super::skiplist::{SkipList, script_heights};
use super::value_store::ValueStore;
use crate::key::{Comparator, InternalValue, ValueType};
use crate::seqno::SeqNo;
use crate::sync::{AtomicPtr, Ordering, check_model as check};

/// A value pointer that the skiplist models compare but never read through.
fn tag(n: usize) -> *mut u8 {
    ptr::dangling_mut::<u8>().wrapping_add(n)
}

fn insert(list: &SkipList, key: &[u8], seqno: SeqNo, value: *mut u8) -> bool {
    // SAFETY: the skiplist models compare value pointers but never read through them.
    unsafe { list.insert(key, seqno, value) }
}

/// The list at level 0, forward: (key, seqno, value pointer as an address).
fn walk(list: &SkipList) -> Vec<(Vec<u8>, SeqNo, usize)> {
    let mut out = Vec::new();
    let mut cur = list.first();
    while let Some(node) = cur {
        out.push((node.key().to_vec(), node.seqno(), node.value() as usize));
        cur = node.next();
    }
    out
}

/// Strictly ascending by internal key (user key ascending, then seqno descending).
fn assert_sorted(entries: &[(Vec<u8>, SeqNo, usize)]) {
    assert!(
        entries
            .windows(2)
            .all(|w| (&w[0].0, std::cmp::Reverse(w[0].1)) < (&w[1].0, std::cmp::Reverse(w[1].1))),
        "not sorted by internal key without duplicates: {entries:?}"
    );
}

fn keys_only(entries: &[(Vec<u8>, SeqNo, usize)]) -> Vec<(Vec<u8>, SeqNo)> {
    entries.iter().map(|(k, s, _)| (k.clone(), *s)).collect()
}

// ---- arena ------------------------------------------------------------------------------------

/// Fills `len` bytes at `p` with `byte`, then reads them back.
fn fill_and_check(p: NonNull<u8>, len: usize, byte: u8) {
    // SAFETY: the model just allocated `len` bytes at `p`.
    unsafe { ptr::write_bytes(p.as_ptr(), byte, len) };
    // SAFETY: as above; the bytes were just written.
    let back = unsafe { std::slice::from_raw_parts(p.as_ptr(), len) };
    assert!(back.iter().all(|&b| b == byte));
}

/// Two threads allocate two blocks each from an arena whose first segment does not exist yet
/// and holds only two blocks: both race to install the first segment (one CAS wins, the loser
/// frees its own), and the third block needs a second segment. No byte is handed out twice, every
/// block keeps its owner's bytes, and every segment a thread allocates from is seen initialized
/// (the segment header's witness).
#[test]
fn loom_arena_allocations_never_overlap() {
    check("arena: small allocations, lazy segments", Some(4), || {
        let arena = Arc::new(Arena::new(1, 16, 32));
        let threads: Vec<_> = (1..=2u8)
            .map(|t| {
                let arena = Arc::clone(&arena);
                thread::spawn(move || {
                    let mut mine = Vec::new();
                    for len in [6usize, 7] {
                        let p = arena.alloc(len);
                        fill_and_check(p, len, t);
                        mine.push((p, len));
                    }
                    for &(p, len) in &mine {
                        // SAFETY: this thread allocated and filled these bytes.
                        let bytes = unsafe { std::slice::from_raw_parts(p.as_ptr(), len) };
                        assert!(bytes.iter().all(|&b| b == t), "another thread wrote here");
                    }
                    mine.iter()
                        .map(|&(p, len)| (p.as_ptr() as usize, len))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut ranges: Vec<(usize, usize)> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("allocating thread"))
            .collect();
        ranges.sort_unstable();
        assert!(
            ranges.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0),
            "overlapping allocations: {ranges:?}"
        );
        assert_eq!(arena.reserved_bytes(), 16 + 32, "one segment of each size");
    });
}

/// Two threads push a dedicated segment each onto the `large` stack at once (the weak-CAS loop of
/// `Arena::alloc_large`) while a third allocates a small block: every large segment is kept.
#[test]
fn loom_arena_large_allocations_are_all_kept() {
    check("arena: large allocations", Some(3), || {
        let arena = Arc::new(Arena::new(1, 16, 32));
        let threads: Vec<_> = [9usize, 10, 3]
            .into_iter()
            .enumerate()
            .map(|(t, len)| {
                let arena = Arc::clone(&arena);
                thread::spawn(move || fill_and_check(arena.alloc(len), len, t as u8))
            })
            .collect();
        for t in threads {
            t.join().expect("allocating thread");
        }
        assert_eq!(arena.reserved_bytes(), 9 + 10 + 16);
    });
}

// ---- skiplist ---------------------------------------------------------------------------------

/// Two writers insert different keys, both with towers of height 2 (so they race on
/// `max_height` and on the head's links at levels 0 and 1), while the main thread walks the list
/// and seeks. Every node the reader reaches is fully initialized (the node witness: key, seqno,
/// height), carries the value pointer of its insert, and the walk is sorted; after the joins both
/// inserts are found, and level 1 holds both nodes in order (towers linked consistently).
#[test]
fn loom_skiplist_inserts_of_different_keys_publish_whole_nodes() {
    check("skiplist: different keys, height 2", None, || {
        let list = Arc::new(SkipList::new(Comparator::default()));
        let writers: Vec<_> = [(b"b", 1usize), (b"a", 2)]
            .into_iter()
            .map(|(key, tag_n)| {
                let list = Arc::clone(&list);
                thread::spawn(move || {
                    script_heights(&[2]);
                    assert!(insert(&list, key, 1, tag(tag_n)));
                })
            })
            .collect();
        let seen = walk(&list);
        assert_sorted(&seen);
        for (key, seqno, value) in &seen {
            assert_eq!(*seqno, 1);
            let expected = if key == b"b" { tag(1) } else { tag(2) };
            assert_eq!(*value, expected as usize, "value pointer of {key:?}");
        }
        if let Some(node) = list.seek_ge(b"b", SeqNo::MAX) {
            assert_eq!((node.key(), node.seqno()), (&b"b"[..], 1));
        }
        for w in writers {
            w.join().expect("writer");
        }
        let all = walk(&list);
        assert_eq!(
            keys_only(&all),
            [(b"a".to_vec(), 1), (b"b".to_vec(), 1)],
            "both inserts are found after the joins"
        );
        assert_eq!(list.level_keys(0), keys_only(&all));
        assert_eq!(
            list.level_keys(1),
            keys_only(&all),
            "both towers linked at level 1"
        );
        assert!(list.level_keys(2).is_empty());
    });
}

/// Three writers insert `b` (height 3), `a` (height 1) and `c` (height 2) while the main thread
/// seeks `b` and walks the list: the towers of the three heights are linked bottom first, each
/// level a sorted sub-list of the one below; the reader sees whole nodes in order.
#[test]
fn loom_skiplist_three_writers_link_towers_of_three_heights() {
    check("skiplist: three writers, heights 3/1/2", Some(3), || {
        let list = Arc::new(SkipList::new(Comparator::default()));
        let writers: Vec<_> = [(b"b", 3usize), (b"a", 1), (b"c", 2)]
            .into_iter()
            .map(|(key, height)| {
                let list = Arc::clone(&list);
                thread::spawn(move || {
                    script_heights(&[height]);
                    assert!(insert(&list, key, 1, tag(height)));
                })
            })
            .collect();
        if let Some(node) = list.seek_ge(b"b", SeqNo::MAX) {
            assert!(node.key() >= &b"b"[..]);
            assert_eq!(node.value(), tag(if node.key() == b"b" { 3 } else { 2 }));
        }
        assert_sorted(&walk(&list));
        for w in writers {
            w.join().expect("writer");
        }
        let key = |k: &[u8]| (k.to_vec(), 1);
        assert_eq!(list.level_keys(0), [key(b"a"), key(b"b"), key(b"c")]);
        assert_eq!(list.level_keys(1), [key(b"b"), key(b"c")]);
        assert_eq!(list.level_keys(2), [key(b"b")]);
        assert!(list.level_keys(3).is_empty());
    });
}

/// Two writers insert one user key at two seqnos (heights 2 and 1) while the main thread seeks
/// it: a reader finds the newest version it can see, versions come newest first, and both are
/// linked after the joins.
#[test]
fn loom_skiplist_inserts_of_one_key_at_two_seqnos() {
    check("skiplist: one key, two seqnos", None, || {
        let list = Arc::new(SkipList::new(Comparator::default()));
        let writers: Vec<_> = [(2u64, 2usize), (1, 1)]
            .into_iter()
            .map(|(seqno, height)| {
                let list = Arc::clone(&list);
                thread::spawn(move || {
                    script_heights(&[height]);
                    assert!(insert(&list, b"k", seqno, tag(seqno as usize)));
                })
            })
            .collect();
        if let Some(node) = list.seek_ge(b"k", SeqNo::MAX) {
            assert_eq!(node.key(), b"k");
            assert_eq!(node.value(), tag(node.seqno() as usize));
            if let Some(next) = node.next() {
                assert!(next.seqno() < node.seqno(), "newest version first");
            }
        }
        assert_sorted(&walk(&list));
        for w in writers {
            w.join().expect("writer");
        }
        assert_eq!(
            keys_only(&walk(&list)),
            [(b"k".to_vec(), 2), (b"k".to_vec(), 1)]
        );
        assert_eq!(list.level_keys(1), [(b"k".to_vec(), 2)]);
    });
}

/// Two writers insert the same (key, seqno) at once: exactly one links a node, the other
/// overwrites its value pointer (after a failed level-0 CAS or on its first search), and the node
/// ends up with the overwriter's value. A reader sees one of the two values.
#[test]
fn loom_skiplist_racing_inserts_of_one_internal_key_link_it_once() {
    check("skiplist: one internal key", None, || {
        let list = Arc::new(SkipList::new(Comparator::default()));
        let writers: Vec<_> = [1usize, 2]
            .into_iter()
            .map(|n| {
                let list = Arc::clone(&list);
                thread::spawn(move || (n, insert(&list, b"k", 7, tag(n))))
            })
            .collect();
        if let Some(node) = list.first() {
            assert_eq!((node.key(), node.seqno()), (&b"k"[..], 7));
            assert!([tag(1), tag(2)].contains(&node.value()));
        }
        let results: Vec<(usize, bool)> = writers
            .into_iter()
            .map(|w| w.join().expect("writer"))
            .collect();
        assert_eq!(
            results.iter().filter(|(_, linked)| *linked).count(),
            1,
            "exactly one insert links the node: {results:?}"
        );
        let overwriter = results
            .iter()
            .find(|(_, linked)| !linked)
            .map(|(n, _)| *n)
            .expect("one overwrite");
        let all = walk(&list);
        assert_eq!(all.len(), 1);
        assert_eq!(
            all[0].2,
            tag(overwriter) as usize,
            "the overwrite comes last"
        );
    });
}

// ---- value store --------------------------------------------------------------------------

/// Two threads append a record each and publish its pointer with a Release store (as the
/// skiplist's value pointer is published); the main thread reads every record whose pointer it
/// sees (Acquire): the bytes are there (the record witness), of the right type and length.
#[test]
fn loom_value_store_reader_that_sees_a_record_sees_its_bytes() {
    value_store_model("value store: Release/Acquire", Ordering::Release);
}

/// The same with a Relaxed publication: loom must report the reader (a check that the models
/// have teeth, i.e. that the record witness catches a missing Release).
#[test]
#[should_panic(expected = "Causality violation")]
fn loom_value_store_relaxed_publication_is_caught() {
    value_store_model("value store: Relaxed (must fail)", Ordering::Relaxed);
}

fn value_store_model(name: &str, publish: Ordering) {
    check(name, Some(4), move || {
        let store = Arc::new(ValueStore::new());
        let slots = Arc::new([
            AtomicPtr::new(ptr::null_mut()),
            AtomicPtr::new(ptr::null_mut()),
        ]);
        let writers: Vec<_> = (0..2usize)
            .map(|t| {
                let (store, slots) = (Arc::clone(&store), Arc::clone(&slots));
                thread::spawn(move || {
                    let value = vec![t as u8 + 1; 3 + t];
                    let record = store.append(ValueType::Value, &value);
                    slots[t].store(record, publish);
                })
            })
            .collect();
        let check_slot = |t: usize, record: *mut u8| {
            // SAFETY: `record` was appended to `store`, which is alive, and published to this
            // thread (the model checks that it was published with Release/Acquire).
            let (value_type, value) = unsafe { ValueStore::read(record) };
            assert_eq!(value_type, ValueType::Value);
            assert_eq!(value, vec![t as u8 + 1; 3 + t].as_slice());
        };
        for (t, slot) in slots.iter().enumerate() {
            let record = slot.load(Ordering::Acquire);
            if !record.is_null() {
                check_slot(t, record);
            }
        }
        for w in writers {
            w.join().expect("writer");
        }
        for (t, slot) in slots.iter().enumerate() {
            check_slot(t, slot.load(Ordering::Acquire));
        }
    });
}

// ---- memtable -----------------------------------------------------------------------------

fn put(m: &Memtable, key: &str, value: &str, seqno: SeqNo) {
    m.insert(InternalValue::from_components(
        key,
        value,
        seqno,
        ValueType::Value,
    ));
}

/// The three together, through the public `Memtable`: two writers insert one key at seqnos 1
/// and 2 (each a value record, then a node pointing to it) while the main thread reads the key.
/// A read sees a version together with its own value (the record its node points to), never a
/// newer seqno than was written, and after the joins the newest version and the seqno bounds.
#[test]
fn loom_memtable_reads_see_whole_entries() {
    check("memtable: insert + get", Some(3), || {
        let m = Arc::new(Memtable::default());
        let writers: Vec<_> = [(1u64, "one"), (2, "two")]
            .into_iter()
            .map(|(seqno, value)| {
                let m = Arc::clone(&m);
                thread::spawn(move || put(&m, "k", value, seqno))
            })
            .collect();
        if let Some(entry) = m.get(b"k", SeqNo::MAX) {
            let expected = if entry.key.seqno == 2 { "two" } else { "one" };
            assert_eq!(entry.value, expected);
        }
        for w in writers {
            w.join().expect("writer");
        }
        assert_eq!(m.get(b"k", SeqNo::MAX).expect("written").value, "two");
        assert_eq!(m.get(b"k", 2).expect("written").value, "one");
        assert_eq!(m.len(), 2);
        assert_eq!(m.get_highest_seqno(), Some(2));
    });
}

/// Two writers insert the same (key, seqno) with different values, so one of them replaces the
/// value pointer of the other's node with its own record (S11's Release store) while the main
/// thread reads: a read sees one of the two whole records (the record witness), never a torn or
/// unpublished one; after the joins one entry, with the overwriter's value.
#[test]
fn loom_memtable_overwrite_publishes_the_new_record() {
    check("memtable: overwrite of one (key, seqno)", Some(3), || {
        let m = Arc::new(Memtable::default());
        let writers: Vec<_> = ["one", "two"]
            .into_iter()
            .map(|value| {
                let m = Arc::clone(&m);
                thread::spawn(move || put(&m, "k", value, 7))
            })
            .collect();
        if let Some(entry) = m.get(b"k", SeqNo::MAX) {
            assert!(entry.value == "one" || entry.value == "two", "{entry:?}");
        }
        for w in writers {
            w.join().expect("writer");
        }
        assert_eq!(m.len(), 1, "one entry");
        let value = m.get(b"k", SeqNo::MAX).expect("written").value;
        assert!(value == "one" || value == "two");
    });
}

/// S11 on its own: the main thread inserted (k, 7) and the node is linked before the writer
/// starts; the writer inserts the same (key, seqno) with another value, which replaces the
/// node's value pointer with its new record (the Release store of S11), while the main thread
/// reads. A read that sees the new record sees all of its bytes (the record witness).
#[test]
fn loom_memtable_overwrite_of_a_linked_node_publishes_the_new_record() {
    check("memtable: overwrite of a linked (key, seqno)", None, || {
        let m = Arc::new(Memtable::default());
        put(&m, "k", "one", 7);
        let writer = {
            let m = Arc::clone(&m);
            thread::spawn(move || put(&m, "k", "two", 7))
        };
        if let Some(entry) = m.get(b"k", SeqNo::MAX) {
            assert!(entry.value == "one" || entry.value == "two", "{entry:?}");
        }
        writer.join().expect("writer");
        assert_eq!(m.get(b"k", SeqNo::MAX).expect("written").value, "two");
        assert_eq!(m.len(), 1);
    });
}
