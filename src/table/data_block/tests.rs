use super::*;
use proptest::prelude::*;

fn build(entries: &[(&[u8], SeqNo, ValueType, &[u8])], interval: u8) -> DataBlock {
    let mut builder = DataBlockBuilder::new(interval);
    for &(k, s, t, v) in entries {
        builder.add(k, s, t, v);
    }
    DataBlock::new(Slice::from(builder.finish())).unwrap()
}

fn sample() -> Vec<(&'static [u8], SeqNo, ValueType, &'static [u8])> {
    vec![
        (b"apple", 9, ValueType::Value, b"red"),
        (b"apple", 3, ValueType::Tombstone, b""),
        (b"apricot", 5, ValueType::Value, b"orange"),
        (b"banana", 1, ValueType::MergeOperand, b"yellow"),
        (b"band", 7, ValueType::WeakTombstone, b""),
        (b"cherry", 2, ValueType::Value, b"dark red"),
    ]
}

#[test]
fn golden_bytes_pin_the_entry_and_trailer_layout() {
    let mut builder = DataBlockBuilder::new(2);
    builder.add(b"ab", 5, ValueType::Value, b"x");
    builder.add(b"ac", 300, ValueType::Tombstone, b"");
    builder.add(b"b", 1, ValueType::Value, b"yz");
    let raw = builder.finish();
    #[rustfmt::skip]
    let expected: Vec<u8> = vec![
        // entry 0 (restart): shared 0, unshared 2, value 1, seqno 5, type 0, "ab", "x"
        0, 2, 1, 5, 0, b'a', b'b', b'x',
        // entry 1: shared 1, unshared 1, value 0, seqno 300 (varint ac 02), type 1, "c"
        1, 1, 0, 0xac, 0x02, 1, b'c',
        // entry 2 (restart at offset 15): shared 0, unshared 1, value 2, seqno 1, type 0, "b", "yz"
        0, 1, 2, 1, 0, b'b', b'y', b'z',
        // restart offsets 0 and 15, count 2
        0, 0, 0, 0, 15, 0, 0, 0, 2, 0, 0, 0,
    ];
    assert_eq!(raw, expected);
}

#[test]
fn entries_round_trip_at_every_restart_interval() {
    let entries = sample();
    for interval in [1, 2, 3, 16] {
        let block = build(&entries, interval);
        let decoded = block.entries().unwrap();
        assert_eq!(decoded.len(), entries.len());
        for (got, (k, s, t, v)) in decoded.iter().zip(&entries) {
            assert_eq!(got.key.user_key, *k);
            assert_eq!(got.key.seqno, *s);
            assert_eq!(got.key.value_type, *t);
            assert_eq!(got.value, *v);
        }
    }
}

#[test]
fn seek_finds_the_first_entry_at_or_after_a_target() {
    let cmp = Comparator::default();
    for interval in [1, 2, 16] {
        let block = build(&sample(), interval);
        let at = |k: &[u8], s| {
            block
                .seek(&cmp, k, s)
                .unwrap()
                .map(|e| (e.key.user_key.to_vec(), e.key.seqno))
        };
        assert_eq!(at(b"apple", SeqNo::MAX), Some((b"apple".to_vec(), 9)));
        assert_eq!(at(b"apple", 8), Some((b"apple".to_vec(), 3)));
        assert_eq!(at(b"apple", 2), Some((b"apricot".to_vec(), 5)));
        assert_eq!(at(b"a", 0), Some((b"apple".to_vec(), 9)));
        assert_eq!(at(b"bana", 0), Some((b"banana".to_vec(), 1)));
        assert_eq!(at(b"cherry", 2), Some((b"cherry".to_vec(), 2)));
        assert_eq!(at(b"cherry", 1), None);
        assert_eq!(at(b"zzz", 0), None);
    }
}

#[test]
fn empty_block_decodes_to_nothing() {
    let block = build(&[], 16);
    assert!(block.entries().unwrap().is_empty());
    assert!(
        block
            .seek(&Comparator::default(), b"a", 0)
            .unwrap()
            .is_none()
    );
}

#[test]
fn long_keys_and_values_round_trip() {
    let key = vec![7u8; 70_000];
    let value = vec![9u8; 200_000];
    let block = build(&[(&key, 1, ValueType::Value, &value)], 16);
    let entries = block.entries().unwrap();
    assert_eq!(entries[0].key.user_key, key);
    assert_eq!(entries[0].value, value);
}

#[test]
fn truncated_blocks_are_errors_not_panics() {
    let mut builder = DataBlockBuilder::new(2);
    for (k, s, t, v) in sample() {
        builder.add(k, s, t, v);
    }
    let raw = builder.finish();
    for len in 0..raw.len() {
        let cut = Slice::from(&raw[..len]);
        let result = DataBlock::new(cut).and_then(|b| b.entries());
        assert!(result.is_err(), "a block cut to {len} bytes decoded");
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), key in prop::collection::vec(any::<u8>(), 0..8)) {
        if let Ok(block) = DataBlock::new(Slice::from(bytes)) {
            let _ = block.entries();
            let _ = block.seek(&Comparator::default(), &key, 5);
        }
    }

    #[test]
    fn seek_agrees_with_a_linear_scan(
        keys in prop::collection::btree_set((prop::collection::vec(0u8..3, 0..4), 0u64..4), 0..40),
        target in (prop::collection::vec(0u8..3, 0..4), 0u64..5),
        interval in 1u8..5,
    ) {
        let cmp = Comparator::default();
        let mut sorted: Vec<_> = keys.into_iter().collect();
        sorted.sort_by(|a, b| cmp.internal((&a.0, a.1), (&b.0, b.1)));
        let mut builder = DataBlockBuilder::new(interval);
        for (k, s) in &sorted {
            builder.add(k, *s, ValueType::Value, b"v");
        }
        let block = DataBlock::new(Slice::from(builder.finish())).unwrap();
        let expected = sorted.iter().find(|(k, s)| cmp.internal((k, *s), (&target.0, target.1)) != Ordering::Less);
        let got = block.seek(&cmp, &target.0, target.1).unwrap();
        prop_assert_eq!(got.map(|e| (e.key.user_key.to_vec(), e.key.seqno)), expected.cloned());
    }
}

#[test]
fn varint_u64_round_trips_and_rejects_overlong() {
    for v in [0, 1, 127, 128, u64::from(u32::MAX), u64::MAX] {
        let mut out = Vec::new();
        put_varint_u64(&mut out, v);
        assert_eq!(decode_varint_u64(&out), Some((v, out.len())));
    }
    assert_eq!(decode_varint_u64(&[0xff; 11]), None);
    assert_eq!(decode_varint_u64(&[0x80]), None);
}

proptest! {
    #[test]
    fn hash_index_point_reads_agree_with_the_binary_search(
        keys in prop::collection::btree_set((prop::collection::vec(0u8..4, 0..4), 0u64..4), 0..60),
        targets in prop::collection::vec((prop::collection::vec(0u8..4, 0..4), 0u64..5), 1..20),
        interval in 1u8..5,
        ratio in prop_oneof![Just(0.3f64), Just(1.0), Just(4.0)],
    ) {
        let cmp = Comparator::default();
        let mut sorted: Vec<_> = keys.into_iter().collect();
        sorted.sort_by(|a, b| cmp.internal((&a.0, a.1), (&b.0, b.1)));
        let mut plain = DataBlockBuilder::new(interval);
        let mut hashed = DataBlockBuilder::new(interval).with_hash_index(ratio);
        for (k, s) in &sorted {
            plain.add(k, *s, ValueType::Value, &s.to_le_bytes());
            hashed.add(k, *s, ValueType::Value, &s.to_le_bytes());
        }
        let plain = DataBlock::new(Slice::from(plain.finish())).unwrap();
        let hashed = DataBlock::new(Slice::from(hashed.finish())).unwrap();
        prop_assert_eq!(hashed.entries().unwrap(), plain.entries().unwrap());
        for (key, seqno) in targets {
            let expected = plain.point_get(&cmp, &key, seqno).unwrap();
            let got = hashed.point_get(&cmp, &key, seqno).unwrap();
            prop_assert_eq!(got, expected);
        }
    }
}

#[test]
fn a_hash_bucket_naming_a_missing_restart_is_corruption() {
    let mut builder = DataBlockBuilder::new(1).with_hash_index(1.0);
    builder.add(b"a", 1, ValueType::Value, b"x");
    builder.add(b"b", 1, ValueType::Value, b"y");
    let mut raw = builder.finish();
    let len = raw.len();
    // Layout tail: ... buckets (2) | m: u16 | count word. Point a bucket at restart 9.
    assert_eq!(
        u32::from_le_bytes(raw[len - 4..].try_into().unwrap()),
        2 | (1 << 31)
    );
    assert_eq!(
        u16::from_le_bytes(raw[len - 6..len - 4].try_into().unwrap()),
        2
    );
    raw[len - 8] = 9;
    assert_eq!(
        DataBlock::new(Slice::from(raw)).unwrap_err(),
        CorruptionKind::InvalidField("hash bucket")
    );
}

/// Keys for the fence tests: a shared prefix, then bytes from a small alphabet (so windows
/// collide), some shorter than the window, some longer than it.
fn fence_keys() -> impl Strategy<Value = Vec<(Vec<u8>, u64)>> {
    prop::collection::btree_set(
        (
            prop::collection::vec(prop::sample::select(vec![0u8, 1, 0xff]), 0..12),
            0u64..3,
        ),
        64..200,
    )
    .prop_map(|set| {
        let cmp = Comparator::default();
        let mut keys: Vec<(Vec<u8>, u64)> = set
            .into_iter()
            .map(|(suffix, seqno)| ([b"pre".as_slice(), &suffix].concat(), seqno))
            .collect();
        keys.sort_by(|a, b| cmp.internal((&a.0, a.1), (&b.0, b.1)));
        keys
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn fences_change_no_search_result(
        keys in fence_keys(),
        targets in prop::collection::vec(
            (prop::collection::vec(prop::sample::select(vec![0u8, 1, 2, 0xff, b'p', b'q']), 0..14), 0u64..4),
            1..40,
        ),
        interval in 1u8..3,
    ) {
        let cmp = Comparator::default();
        let mut builder = DataBlockBuilder::new(interval);
        for (k, s) in &keys {
            builder.add(k, *s, ValueType::Value, b"v");
        }
        let plain = DataBlock::new(Slice::from(builder.finish())).unwrap();
        let fenced = plain.clone().with_fences(&cmp).unwrap();
        prop_assert!(plain.restart_count() < MIN_FENCED_RESTARTS || fenced.fences.is_some());
        for (raw, seqno) in targets {
            // Targets both with and without the shared prefix.
            for target in [[b"pre".as_slice(), &raw].concat(), raw.clone()] {
                let key = |e: Option<InternalValue>| e.map(|e| (e.key.user_key.to_vec(), e.key.seqno));
                prop_assert_eq!(
                    key(fenced.seek(&cmp, &target, seqno).unwrap()),
                    key(plain.seek(&cmp, &target, seqno).unwrap())
                );
                for inclusive in [false, true] {
                    let pred = |k: &[u8]| if inclusive { k <= &target[..] } else { k < &target[..] };
                    let expected = (0..plain.restart_count())
                        .filter(|&i| pred(plain.restart_key(i).unwrap().0))
                        .count();
                    prop_assert_eq!(fenced.restart_partition_point_near(&target, pred).unwrap(), expected);
                    prop_assert_eq!(plain.restart_partition_point_near(&target, pred).unwrap(), expected);
                }
                let mut cursor = BlockCursor::new(fenced.clone(), 0);
                cursor.seek(&cmp, &target).unwrap();
                let first = cursor.next_entry().map(|e| e.unwrap().key.user_key.to_vec());
                let expected = keys.iter().map(|(k, _)| k.clone()).find(|k| k[..] >= target[..]);
                prop_assert_eq!(first, expected);
            }
        }
    }
}

#[test]
fn fences_refuse_restart_keys_out_of_order() {
    let mut builder = DataBlockBuilder::new(1);
    for i in 0..100u32 {
        // Keys descending: the builder trusts its caller, the fences do not.
        builder.add(&(1000 - i).to_be_bytes(), 1, ValueType::Value, b"");
    }
    let block = DataBlock::new(Slice::from(builder.finish())).unwrap();
    assert!(matches!(
        block.with_fences(&Comparator::default()),
        Err(CorruptionKind::InvalidField("restart key order"))
    ));
}

#[test]
fn a_cursor_seek_skips_to_the_target_and_then_walks_on() {
    let mut builder = DataBlockBuilder::new(16);
    for i in 0..50u32 {
        builder.add(format!("k{i:03}").as_bytes(), 1, ValueType::Value, b"v");
    }
    let block = DataBlock::new(Slice::from(builder.finish())).unwrap();
    let mut cursor = BlockCursor::new(block, 0);
    cursor.seek(&Comparator::default(), b"k020").unwrap();
    let keys: Vec<Vec<u8>> = std::iter::from_fn(|| cursor.next_entry())
        .map(|e| e.unwrap().key.user_key.to_vec())
        .take(3)
        .collect();
    assert_eq!(keys, [b"k020".to_vec(), b"k021".to_vec(), b"k022".to_vec()]);
    cursor.seek(&Comparator::default(), b"k0495").unwrap();
    assert!(cursor.next_entry().is_none(), "past the last key");
}

/// Drains `cursor`, returning the keys it yields and the first error, if any.
fn drain(mut cursor: BlockCursor) -> (Vec<(Vec<u8>, SeqNo)>, Option<CorruptionKind>) {
    let mut keys = Vec::new();
    while let Some(entry) = cursor.next_entry() {
        match entry {
            Ok(e) => keys.push((e.key.user_key.to_vec(), e.key.seqno)),
            Err(what) => return (keys, Some(what)),
        }
    }
    (keys, None)
}

/// A cursor that checks the order itself accepts every well-formed block and refuses, at the
/// first entry out of place, a prefix-compressed key below the one before it and a second
/// version of a key whose seqno is not below the first's; a cursor that does not check yields
/// those entries (its caller checks).
#[test]
fn an_order_checking_cursor_refuses_the_first_entry_out_of_place() {
    for interval in [1, 2, 16] {
        let (keys, err) = drain(BlockCursor::new(build(&sample(), interval), 0).checking_order());
        assert_eq!(
            (keys.len(), err),
            (sample().len(), None),
            "interval {interval}"
        );
    }
    // "key31" then "key30": the second stored as shared 4, suffix "0"; written in order and
    // then swapped in place (the suffixes are one byte each).
    let mut builder = DataBlockBuilder::new(16);
    builder.add(b"key30", 9, ValueType::Value, b"a");
    builder.add(b"key31", 8, ValueType::Value, b"b");
    builder.add(b"key32", 7, ValueType::Value, b"c");
    let mut raw = builder.finish();
    let first = raw.windows(5).position(|w| w == b"key30").unwrap();
    raw[first + 4] = b'1';
    // Entry 1: shared 4, unshared 1, value 1, seqno 8, type 0, then its suffix.
    let second = first + 5 + 1;
    assert_eq!(&raw[second..second + 5], &[4, 1, 1, 8, 0]);
    raw[second + 5] = b'0';
    let block = DataBlock::new(Slice::from(raw)).unwrap();
    let (keys, err) = drain(BlockCursor::new(block.clone(), 0).checking_order());
    assert_eq!(keys, vec![(b"key31".to_vec(), 9)]);
    assert_eq!(err, Some(CorruptionKind::InvalidField("entry order")));
    let (keys, err) = drain(BlockCursor::new(block, 0));
    assert_eq!((keys.len(), err), (3, None));

    // Two versions of one key, the second with the higher seqno.
    let mut builder = DataBlockBuilder::new(16);
    builder.add(b"key", 9, ValueType::Value, b"a");
    builder.add(b"key", 7, ValueType::Value, b"b");
    let mut raw = builder.finish();
    // Entry 1: shared 3, unshared 0, value 1, seqno 7.
    let at = raw.windows(4).position(|w| w == [3, 0, 1, 7]).unwrap();
    raw[at + 3] = 9;
    let block = DataBlock::new(Slice::from(raw)).unwrap();
    let (keys, err) = drain(BlockCursor::new(block, 0).checking_order());
    assert_eq!(keys, vec![(b"key".to_vec(), 9)]);
    assert_eq!(err, Some(CorruptionKind::InvalidField("entry order")));
}

/// Fuzz finding (`filter` target, 2026-12-06, after about 8.3M runs): a block whose restart
/// array points into the middle of its one entry (restarts 0 and 1). The target feeds raw block
/// bytes without a checksum; in a table only a crafted file or a writer bug could hold such a
/// block. Decoding it from the start reads the entry; a seek, which starts at restart points,
/// must then fail or agree with that decode, never return another entry. It fails: the bytes at
/// offset 1 are no entry.
#[test]
fn a_restart_inside_an_entry_makes_a_seek_fail_never_lie() {
    let raw: Vec<u8> = vec![
        // entry 0: shared 0, unshared 8, value 3, seqno 0, type 0, key, value
        0x00, 0x08, 0x03, 0x00, 0x00, 0x6b, 0x25, 0x71, 0x30, 0x00, 0x00, 0x30, 0x33, 0xa3, 0x0a,
        0x58, // restarts 0 and 1 (inside entry 0), count 2
        0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0,
    ];
    let block = DataBlock::new(Slice::from(raw)).unwrap();
    let entries = block.entries().unwrap();
    assert_eq!(entries.len(), 1);
    let cmp = Comparator::default();
    let found = block.seek(&cmp, b"key00000", SeqNo::MAX >> 1);
    let linear = entries
        .iter()
        .find(|e| cmp.user(&e.key.user_key, b"key00000").is_ge())
        .cloned();
    match found {
        Err(_) => {}
        Ok(entry) => assert_eq!(entry, linear, "a seek that succeeds agrees with the decode"),
    }
}

/// The lexicographic order without the flag that lets the engine compare bytes directly: a
/// block searched under it takes the search that rebuilds every key it passes, the reference
/// for the lexicographic walk (`DataBlock::walk_lexicographic`).
struct PlainBytes;

impl crate::key::UserComparator for PlainBytes {
    fn name(&self) -> &'static str {
        "test.plain-bytes"
    }
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        a.cmp(b)
    }
}

fn plain_bytes() -> Comparator {
    Comparator::new(Arc::new(PlainBytes))
}

/// Every cursor seek's entries from there on, under `cmp`.
fn cursor_from(
    block: &DataBlock,
    cmp: &Comparator,
    key: &[u8],
) -> Result<Vec<(Vec<u8>, SeqNo)>, CorruptionKind> {
    let mut cursor = BlockCursor::new(block.clone(), 0);
    cursor.seek(cmp, key)?;
    let (keys, err) = drain(cursor);
    err.map_or(Ok(keys), Err)
}

/// Keys over a small alphabet with long shared prefixes (so that entries share more or fewer
/// bytes with each other than with a target, past eight-byte chunks), a few versions each.
fn walk_keys() -> impl Strategy<Value = Vec<(Vec<u8>, u64)>> {
    prop::collection::btree_set(
        (
            prop::collection::vec(prop_oneof![Just(b'a'), Just(b'b')], 0..12),
            0u64..3,
        ),
        0..60,
    )
    .prop_map(|set| {
        let cmp = Comparator::default();
        let mut sorted: Vec<_> = set.into_iter().collect();
        sorted.sort_by(|a, b| cmp.internal((&a.0, a.1), (&b.0, b.1)));
        sorted
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The walk that compares only suffixes answers every seek, point read and cursor seek as
    /// the search that rebuilds each key, and as a linear scan of the sorted entries.
    #[test]
    fn the_lexicographic_walk_agrees_with_rebuilding_every_key(
        sorted in walk_keys(),
        targets in prop::collection::vec(
            (prop::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c')], 0..13), 0u64..4),
            1..16,
        ),
        interval in 1u8..20,
        hashed in any::<bool>(),
    ) {
        let lex = Comparator::default();
        let plain = plain_bytes();
        let mut builder = DataBlockBuilder::new(interval).with_hash_index(if hashed { 1.0 } else { 0.0 });
        for (k, s) in &sorted {
            builder.add(k, *s, ValueType::Value, &s.to_le_bytes());
        }
        let block = DataBlock::new(Slice::from(builder.finish())).unwrap();
        for (key, seqno) in targets {
            let expected = sorted
                .iter()
                .find(|(k, s)| lex.internal((k, *s), (&key, seqno)).is_ge())
                .cloned();
            let walked = block.seek(&lex, &key, seqno).unwrap();
            prop_assert_eq!(
                walked.as_ref().map(|e| (e.key.user_key.to_vec(), e.key.seqno)),
                expected.clone()
            );
            prop_assert_eq!(&walked, &block.seek(&plain, &key, seqno).unwrap());
            if let Some(e) = &walked {
                prop_assert_eq!(&e.value[..], &e.key.seqno.to_le_bytes()[..]);
            }
            let newest = expected.filter(|(k, _)| *k == key);
            prop_assert_eq!(
                block.point_get(&lex, &key, seqno).unwrap().map(|e| (e.key.user_key.to_vec(), e.key.seqno)),
                newest
            );
            let rest: Vec<_> = sorted.iter().filter(|(k, _)| *k >= key).cloned().collect();
            prop_assert_eq!(cursor_from(&block, &lex, &key).unwrap(), rest.clone());
            prop_assert_eq!(cursor_from(&block, &plain, &key).unwrap(), rest);
        }
    }

    /// On arbitrary bytes, sorted or not, the walk gives what rebuilding each key gives: the
    /// same entry or the same error.
    #[test]
    fn the_lexicographic_walk_agrees_on_arbitrary_blocks(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        key in prop::collection::vec(any::<u8>(), 0..10),
        seqno in 0u64..300,
    ) {
        if let Ok(block) = DataBlock::new(Slice::from(bytes)) {
            prop_assert_eq!(block.seek(&Comparator::default(), &key, seqno), block.seek(&plain_bytes(), &key, seqno));
            prop_assert_eq!(
                cursor_from(&block, &Comparator::default(), &key),
                cursor_from(&block, &plain_bytes(), &key)
            );
        }
    }
}

#[test]
fn common_prefix_lengths_across_eight_byte_chunks() {
    for (a, b, n) in [
        (&b""[..], &b""[..], 0),
        (b"abc", b"abd", 2),
        (b"abcdefgh", b"abcdefgh", 8),
        (b"abcdefghij", b"abcdefghiX", 9),
        (b"abcdefghij", b"abcdefgh", 8),
        (b"abcdefgXij", b"abcdefghij", 7),
        (b"Xbcdefghijklmnopq", b"abcdefghijklmnopq", 0),
        (b"abcdefghijklmnopq", b"abcdefghijklmnopQ", 16),
    ] {
        assert_eq!(common_prefix_len(a, b), n, "{a:?} {b:?}");
        assert_eq!(common_prefix_len(b, a), n, "{b:?} {a:?}");
    }
}
