use super::*;
use std::collections::BTreeSet;
use std::ops::RangeBounds;
use std::sync::Arc;

fn put(m: &Memtable, key: &str, value: &str, seqno: SeqNo) {
    m.insert(InternalValue::from_components(
        key,
        value,
        seqno,
        ValueType::Value,
    ));
}

fn keys<I: Iterator<Item = InternalValue>>(iter: I) -> Vec<(String, SeqNo)> {
    iter.map(|e| {
        (
            String::from_utf8(e.key.user_key.to_vec()).unwrap(),
            e.key.seqno,
        )
    })
    .collect()
}

fn range<'a>(
    m: &'a Memtable,
    lo: Bound<&str>,
    hi: Bound<&str>,
    seqno: SeqNo,
) -> MemtableIter<&'a Memtable> {
    let conv = |b: Bound<&str>| match b {
        Bound::Included(k) => Bound::Included(Slice::from(k)),
        Bound::Excluded(k) => Bound::Excluded(Slice::from(k)),
        Bound::Unbounded => Bound::Unbounded,
    };
    MemtableIter::new(m, (conv(lo), conv(hi)), seqno)
}

#[test]
fn get_sees_only_lower_seqnos_and_the_newest_of_them() {
    let m = Memtable::default();
    put(&m, "k", "v1", 1);
    put(&m, "k", "v3", 3);
    m.insert(InternalValue::from_components(
        "k",
        "",
        5,
        ValueType::Tombstone,
    ));
    assert!(m.get(b"k", 0).is_none());
    assert!(m.get(b"k", 1).is_none());
    assert_eq!(m.get(b"k", 2).unwrap().value, "v1");
    assert_eq!(m.get(b"k", 4).unwrap().value, "v3");
    let tomb = m.get(b"k", 6).unwrap();
    assert_eq!(tomb.key.value_type, ValueType::Tombstone);
    assert_eq!(m.get(b"k", SeqNo::MAX).unwrap().key.seqno, 5);
    assert!(m.get(b"j", SeqNo::MAX).is_none());
    assert!(m.get(b"kk", SeqNo::MAX).is_none());
    assert_eq!(m.get_highest_seqno(), Some(5));
}

#[test]
fn same_key_and_seqno_is_replaced_and_counted_once() {
    let m = Memtable::default();
    put(&m, "k", "first", 7);
    put(&m, "k", "second", 7);
    assert_eq!(m.len(), 1);
    assert_eq!(m.get(b"k", 8).unwrap().value, "second");
    assert_eq!(keys(m.iter()), [("k".to_string(), 7)]);
}

#[test]
fn bounded_iteration_in_both_directions_matches_a_btreemap() {
    let m = Memtable::default();
    let mut model = BTreeSet::new();
    for i in 0..30u64 {
        let key = format!("{:02}", (i * 7) % 30);
        put(&m, &key, "v", i);
        model.insert((key, std::cmp::Reverse(i)));
    }
    let bounds = [
        (Bound::Unbounded, Bound::Unbounded),
        (Bound::Included("05"), Bound::Excluded("20")),
        (Bound::Excluded("05"), Bound::Included("20")),
        (Bound::Included("29"), Bound::Unbounded),
        (Bound::Unbounded, Bound::Excluded("00")),
        (Bound::Included("10"), Bound::Included("10")),
        (Bound::Excluded("10"), Bound::Excluded("11")),
    ];
    for (lo, hi) in bounds {
        for read in [0, 5, 17, SeqNo::MAX] {
            let expected: Vec<(String, SeqNo)> = model
                .iter()
                .filter(|(k, s)| {
                    let k = k.as_str();
                    (lo, hi).contains(&k) && s.0 < read
                })
                .map(|(k, s)| (k.clone(), s.0))
                .collect();
            assert_eq!(
                keys(range(&m, lo, hi, read)),
                expected,
                "{lo:?} {hi:?} @{read}"
            );
            let mut backward = keys(range(&m, lo, hi, read).rev());
            backward.reverse();
            assert_eq!(backward, expected, "reverse {lo:?} {hi:?} @{read}");
        }
    }
}

#[test]
fn front_and_back_meet_without_repeating_or_skipping() {
    let m = Memtable::default();
    for i in 0..9 {
        put(&m, &format!("k{i}"), "v", i);
    }
    for split in 0..=9 {
        let mut it = m.iter();
        let mut seen = Vec::new();
        for _ in 0..split {
            if let Some(e) = it.next() {
                seen.push(e.key.seqno);
            }
        }
        while let Some(e) = it.next_back() {
            seen.push(e.key.seqno);
        }
        assert!(it.next().is_none());
        seen.sort_unstable();
        assert_eq!(seen, (0..9).collect::<Vec<_>>(), "split {split}");
    }
}

#[test]
fn size_and_len_grow_with_inserts() {
    let m = Memtable::default();
    assert!(m.is_empty());
    assert_eq!(m.get_highest_seqno(), None);
    let (entry, total) = m.insert(InternalValue::from_components(
        "abc",
        "12345",
        0,
        ValueType::Value,
    ));
    assert!(entry >= 8, "{entry}");
    assert_eq!(total, entry);
    let (_, total2) = m.insert(InternalValue::from_components(
        "abd",
        "12345",
        1,
        ValueType::Value,
    ));
    assert!(total2 > total);
    assert_eq!(m.size(), total2);
    assert_eq!(m.len(), 2);
    assert!(m.allocated_bytes() >= total2);
}

#[test]
fn large_keys_and_values_round_trip() {
    let m = Memtable::default();
    let (klen, vlen) = if cfg!(miri) {
        (700, 3000)
    } else {
        (70_000, 3_000_000)
    };
    let key: Vec<u8> = (0..klen).map(|i| (i % 251) as u8).collect();
    let value: Vec<u8> = (0..vlen).map(|i| (i % 241) as u8).collect();
    m.insert(InternalValue::from_components(
        key.clone(),
        value.clone(),
        1,
        ValueType::Value,
    ));
    let got = m.get(&key, 2).unwrap();
    assert_eq!(got.key.user_key, key);
    assert_eq!(got.value, value);
}

#[test]
fn custom_comparator_orders_entries() {
    struct Reverse;
    impl crate::UserComparator for Reverse {
        fn name(&self) -> &'static str {
            "test.reverse"
        }
        fn compare(&self, a: &[u8], b: &[u8]) -> std::cmp::Ordering {
            b.cmp(a)
        }
    }
    let m = Memtable::new(Arc::new(Reverse));
    for (i, k) in ["a", "c", "b"].iter().enumerate() {
        put(&m, k, "v", i as u64);
    }
    let forward: Vec<String> = keys(m.iter()).into_iter().map(|(k, _)| k).collect();
    assert_eq!(forward, ["c", "b", "a"]);
    let bounded = keys(range(
        &m,
        Bound::Included("c"),
        Bound::Excluded("a"),
        SeqNo::MAX,
    ));
    assert_eq!(bounded.len(), 2);
    assert_eq!(m.get(b"b", 9).unwrap().key.seqno, 2);
}

#[test]
fn sealed_memtable_turns_new_writers_away_and_waits_for_entered_ones() {
    let m = Arc::new(Memtable::default());
    let guard = m.try_begin_write().unwrap();
    m.seal();
    assert!(m.try_begin_write().is_none());
    let waiter = {
        let m = Arc::clone(&m);
        std::thread::spawn(move || m.wait_for_writers())
    };
    std::thread::sleep(std::time::Duration::from_millis(if cfg!(miri) {
        1
    } else {
        20
    }));
    assert!(!waiter.is_finished());
    drop(guard);
    waiter.join().unwrap();
}

/// Writers and readers hammer one memtable; readers check order and that each key's value matches
/// its seqno (a torn or misattributed value would show up here).
#[test]
fn many_threads_write_and_read_concurrently() {
    let writers = if cfg!(miri) { 2 } else { 6 };
    let readers = 2;
    let per_writer: u64 = if cfg!(miri) { 25 } else { 30_000 };
    let m = Arc::new(Memtable::default());
    let mut handles = Vec::new();
    for w in 0..writers {
        let m = Arc::clone(&m);
        handles.push(std::thread::spawn(move || {
            for i in 0..per_writer {
                let seqno = i * writers + w;
                let key = (seqno % 500).to_be_bytes();
                m.insert(InternalValue::from_components(
                    key,
                    seqno.to_le_bytes(),
                    seqno,
                    ValueType::Value,
                ));
            }
        }));
    }
    for _ in 0..readers {
        let m = Arc::clone(&m);
        handles.push(std::thread::spawn(move || {
            for _ in 0..if cfg!(miri) { 2 } else { 20 } {
                let items: Vec<InternalValue> = m.iter().collect();
                for pair in items.windows(2) {
                    let (a, b) = (&pair[0].key, &pair[1].key);
                    assert!(
                        (&a.user_key, std::cmp::Reverse(a.seqno))
                            < (&b.user_key, std::cmp::Reverse(b.seqno))
                    );
                }
                for item in &items {
                    assert_eq!(item.value, item.key.seqno.to_le_bytes());
                }
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(m.len() as u64, per_writer * writers);
    assert_eq!(m.iter().count() as u64, per_writer * writers);
    assert_eq!(m.get_highest_seqno(), Some(per_writer * writers - 1));
}

#[test]
#[should_panic(expected = "sealed memtable")]
fn public_insert_into_a_sealed_memtable_panics() {
    let m = Memtable::default();
    m.seal();
    put(&m, "k", "v", 0);
}

/// A key one byte over the limit. `vec![0; n]` is lazily mapped zero memory, so this costs no
/// physical RAM: the length check fires before a byte is read.
#[test]
#[cfg_attr(miri, ignore = "allocates 4 GiB of address space")]
#[should_panic(expected = "exceeds the limit of u32::MAX bytes")]
fn a_key_longer_than_u32_max_panics_with_a_clear_message() {
    let m = Memtable::default();
    let key = vec![0u8; u32::MAX as usize + 1];
    m.insert_parts(&key, b"v", 0, ValueType::Value);
}

#[test]
#[cfg_attr(miri, ignore = "allocates 4 GiB of address space")]
#[should_panic(expected = "exceeds the limit of u32::MAX bytes")]
fn a_value_longer_than_u32_max_panics_with_a_clear_message() {
    let m = Memtable::default();
    let value = vec![0u8; u32::MAX as usize + 1];
    m.insert_parts(b"k", &value, 0, ValueType::Value);
}

#[test]
#[should_panic(expected = "exceeds MAX_SEQNO")]
fn a_seqno_above_max_seqno_panics() {
    let m = Memtable::default();
    m.insert_parts(b"k", b"v", crate::MAX_SEQNO + 1, ValueType::Value);
}
