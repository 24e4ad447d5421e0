//! Table round trips: writer → file → reader, under many option sets, plus corruption.

#![allow(
    clippy::disallowed_methods,
    reason = "the corruption tests damage table files behind the engine's back"
)]

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

use super::filter::key_hash;
use super::iter::TableIter;
use super::reader::{Table, TableContext};
use super::writer::{TableWriter, TableWriterOptions};
use crate::cache::{Cache, DescriptorTable};
use crate::compression::CompressionType;
use crate::error::Error;
use crate::fs::{Fs, StdFs};
use crate::key::{Comparator, InternalValue, ValueType};
use crate::seqno::SeqNo;
use crate::slice::Slice;

fn ctx(cache_bytes: u64, descriptors: bool) -> TableContext {
    TableContext {
        fs: Arc::new(StdFs),
        cache: Arc::new(Cache::with_capacity_bytes(cache_bytes)),
        descriptors: descriptors.then(|| Arc::new(DescriptorTable::new(1))),
        cmp: Comparator::default(),
        pin_index: true,
        pin_filter: false,
        level_pins: std::sync::Arc::from([]),
        dictionary: None,
        encryption: None,
    }
}

/// (user key, seqno) -> (type, value), iterated in internal-key order.
type Model = BTreeMap<(Vec<u8>, std::cmp::Reverse<SeqNo>), (ValueType, Vec<u8>)>;

fn write(path: &Path, model: &Model, opts: TableWriterOptions) -> u64 {
    let file = StdFs.create(path).unwrap();
    let mut writer = TableWriter::new(file, path, opts, Comparator::default());
    for ((k, s), (t, v)) in model {
        writer.add(k, s.0, *t, v).unwrap();
    }
    writer.finish().unwrap().unwrap().1
}

fn sample_model(n: u32) -> Model {
    let mut model = Model::new();
    for i in 0..n {
        let key = format!("key{:06}", i * 7 % n).into_bytes();
        let seqno = u64::from(i);
        let vt = match i % 10 {
            0 => ValueType::Tombstone,
            1 => ValueType::WeakTombstone,
            _ => ValueType::Value,
        };
        let value = if vt == ValueType::Value {
            format!("value-{i}")
                .repeat(1 + (i % 4) as usize)
                .into_bytes()
        } else {
            Vec::new()
        };
        model.insert((key, std::cmp::Reverse(seqno)), (vt, value));
        if i % 5 == 0 {
            // A second, older version of some keys.
            let key = format!("key{:06}", i * 7 % n).into_bytes();
            model.insert(
                (key, std::cmp::Reverse(seqno / 2)),
                (ValueType::Value, b"old".to_vec()),
            );
        }
    }
    model
}

fn option_sets() -> Vec<TableWriterOptions> {
    let mut sets = Vec::new();
    for (block_size, restart) in [(256, 1), (256, 16), (4096, 16), (64, 2)] {
        for (filter, index_partitioned, filter_partitioned) in [
            (Some(10.0), false, false),
            (None, false, false),
            (Some(10.0), true, true),
            (Some(5.0), true, false),
        ] {
            sets.push(TableWriterOptions {
                block_size,
                restart_interval: restart,
                filter_bits_per_key: filter,
                index_partitioned,
                filter_partitioned,
                ..TableWriterOptions::default()
            });
        }
    }
    for hash_ratio in [0.75, 2.0] {
        sets.push(TableWriterOptions {
            hash_ratio,
            block_size: 512,
            ..TableWriterOptions::default()
        });
    }
    sets.push(TableWriterOptions {
        hash_ratio: 0.1,
        restart_interval: 1,
        block_size: 256,
        ..TableWriterOptions::default()
    });
    #[cfg(feature = "lz4")]
    sets.push(TableWriterOptions {
        data_compression: CompressionType::Lz4,
        index_compression: CompressionType::Lz4,
        block_size: 512,
        ..TableWriterOptions::default()
    });
    let _ = CompressionType::None;
    sets
}

fn expected_get(model: &Model, key: &[u8], read: SeqNo) -> Option<(SeqNo, ValueType, Vec<u8>)> {
    model
        .range((key.to_vec(), std::cmp::Reverse(read.checked_sub(1)?))..)
        .next()
        .filter(|((k, _), _)| k == key)
        .map(|((_, s), (t, v))| (s.0, *t, v.clone()))
}

#[test]
fn point_reads_match_the_model_under_every_option_set() {
    let dir = tempfile::tempdir().unwrap();
    let model = sample_model(600);
    for (i, opts) in option_sets().into_iter().enumerate() {
        let path = dir.path().join(format!("{i}.sst"));
        write(&path, &model, opts.clone());
        let mut context = ctx(1 << 20, i % 2 == 0);
        context.pin_index = i % 3 != 0;
        context.pin_filter = i % 4 == 0;
        let table = Table::open(&path, &context).unwrap();
        assert_eq!(table.meta().entry_count, model.len() as u64);
        let probe_keys: Vec<Vec<u8>> = (0..620u32)
            .map(|i| format!("key{i:06}").into_bytes())
            .chain([b"a".to_vec(), b"zzz".to_vec()])
            .collect();
        for key in &probe_keys {
            for read in [0, 1, 50, 300, 599, 600, SeqNo::MAX] {
                let got = table
                    .get(key, read, key_hash(key))
                    .unwrap()
                    .map(|e| (e.key.seqno, e.key.value_type, e.value.to_vec()));
                assert_eq!(
                    got,
                    expected_get(&model, key, read),
                    "{opts:?} key {key:?} read {read}"
                );
            }
        }
    }
}

fn scan(
    table: &Arc<Table>,
    lo: Bound<&str>,
    hi: Bound<&str>,
    read: SeqNo,
    reverse: bool,
) -> Vec<(Vec<u8>, SeqNo)> {
    let own = |b: Bound<&str>| match b {
        Bound::Included(k) => Bound::Included(Slice::from(k)),
        Bound::Excluded(k) => Bound::Excluded(Slice::from(k)),
        Bound::Unbounded => Bound::Unbounded,
    };
    let iter = TableIter::new(Arc::clone(table), (own(lo), own(hi)), read);
    let items: Vec<_> = if reverse {
        iter.rev().collect()
    } else {
        iter.collect()
    };
    let mut out: Vec<_> = items
        .into_iter()
        .map(|e| e.unwrap())
        .map(|e| (e.key.user_key.to_vec(), e.key.seqno))
        .collect();
    if reverse {
        out.reverse();
    }
    out
}

#[test]
fn scans_match_the_model_in_both_directions() {
    let dir = tempfile::tempdir().unwrap();
    let model = sample_model(300);
    for (i, opts) in option_sets().into_iter().enumerate().step_by(3) {
        let path = dir.path().join(format!("{i}.sst"));
        write(&path, &model, opts);
        let table = Arc::new(Table::open(&path, &ctx(1 << 20, false)).unwrap());
        for (lo, hi) in [
            (Bound::Unbounded, Bound::Unbounded),
            (Bound::Included("key000050"), Bound::Excluded("key000100")),
            (Bound::Excluded("key000050"), Bound::Included("key000100")),
            (Bound::Included("key000299"), Bound::Unbounded),
            (Bound::Unbounded, Bound::Excluded("key000000")),
        ] {
            for read in [0, 100, SeqNo::MAX] {
                let expected: Vec<(Vec<u8>, SeqNo)> = model
                    .keys()
                    .filter(|(k, s)| {
                        let k = std::str::from_utf8(k).unwrap();
                        (lo, hi).contains(&k) && s.0 < read
                    })
                    .map(|(k, s)| (k.clone(), s.0))
                    .collect();
                assert_eq!(scan(&table, lo, hi, read, false), expected);
                assert_eq!(scan(&table, lo, hi, read, true), expected);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    #[test]
    fn mixed_direction_scans_meet_exactly(dirs in prop::collection::vec(any::<bool>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        let model = sample_model(150);
        let path = dir.path().join("t.sst");
        write(&path, &model, TableWriterOptions { block_size: 128, ..TableWriterOptions::default() });
        let table = Arc::new(Table::open(&path, &ctx(0, false)).unwrap());
        let mut iter = TableIter::new(table, (Bound::Unbounded, Bound::Unbounded), SeqNo::MAX);
        let (mut front, mut back) = (Vec::new(), Vec::new());
        for fwd in dirs.into_iter().chain(std::iter::repeat(true)) {
            let item = if fwd { iter.next() } else { iter.next_back() };
            let Some(item) = item else { break };
            let e = item.unwrap();
            if fwd { front.push((e.key.user_key.to_vec(), e.key.seqno)) } else { back.push((e.key.user_key.to_vec(), e.key.seqno)) }
        }
        back.reverse();
        front.extend(back);
        let expected: Vec<_> = model.keys().map(|(k, s)| (k.clone(), s.0)).collect();
        prop_assert_eq!(front, expected);
    }
}

#[test]
fn out_of_order_entries_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    let mut writer = TableWriter::new(
        StdFs.create(&path).unwrap(),
        &path,
        TableWriterOptions::default(),
        Comparator::default(),
    );
    writer.add(b"b", 1, ValueType::Value, b"").unwrap();
    assert!(matches!(
        writer.add(b"a", 1, ValueType::Value, b""),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        writer.add(b"b", 1, ValueType::Value, b""),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        writer.add(b"b", 2, ValueType::Value, b""),
        Err(Error::InvalidArgument(_))
    ));
    writer.add(b"b", 0, ValueType::Value, b"").unwrap();
}

#[test]
fn another_comparator_is_refused_at_open() {
    struct Rev;
    impl crate::UserComparator for Rev {
        fn name(&self) -> &'static str {
            "test.rev"
        }
        fn compare(&self, a: &[u8], b: &[u8]) -> std::cmp::Ordering {
            b.cmp(a)
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    write(&path, &sample_model(10), TableWriterOptions::default());
    let mut context = ctx(0, false);
    context.cmp = Comparator::new(Arc::new(Rev));
    match Table::open(&path, &context) {
        Err(Error::ComparatorMismatch { stored, supplied }) => {
            assert_eq!(stored, "default");
            assert_eq!(supplied, "test.rev");
        }
        other => panic!("expected a comparator mismatch, got {other:?}"),
    }
}

/// Opens the table and reads everything; returns Ok only if every read agrees with the model.
fn read_all(path: &Path, model: &Model) -> Result<(), Error> {
    let table = Arc::new(Table::open(path, &ctx(0, false))?);
    let entries: Vec<InternalValue> = TableIter::new(
        Arc::clone(&table),
        (Bound::Unbounded, Bound::Unbounded),
        SeqNo::MAX,
    )
    .collect::<Result<_, _>>()?;
    for (e, ((k, s), (t, v))) in entries.iter().zip(model) {
        assert_eq!(
            (
                &e.key.user_key[..],
                e.key.seqno,
                e.key.value_type,
                &e.value[..]
            ),
            (&k[..], s.0, *t, &v[..]),
            "wrong data instead of an error"
        );
    }
    assert_eq!(entries.len(), model.len(), "entries lost without an error");
    for (k, _) in model.keys() {
        table.get(k, SeqNo::MAX, key_hash(k))?;
    }
    Ok(())
}

#[test]
fn flipped_and_truncated_bytes_give_corruption_errors_never_wrong_data() {
    let dir = tempfile::tempdir().unwrap();
    let model = sample_model(200);
    let path = dir.path().join("t.sst");
    let opts = TableWriterOptions {
        block_size: 256,
        index_partitioned: true,
        filter_partitioned: true,
        ..TableWriterOptions::default()
    };
    let size = write(&path, &model, opts);
    let original = std::fs::read(&path).unwrap();
    assert_eq!(original.len() as u64, size);
    let bad = dir.path().join("bad.sst");
    let mut corruptions = 0;
    // Flip one bit at a spread of positions, covering every block and the footer.
    for pos in (0..original.len())
        .step_by(7)
        .chain(original.len() - 72..original.len())
    {
        let mut bytes = original.clone();
        bytes[pos] ^= 0x10;
        std::fs::write(&bad, &bytes).unwrap();
        match read_all(&bad, &model) {
            Ok(()) => {}
            Err(Error::Corruption { file, .. }) => {
                assert_eq!(file, bad);
                corruptions += 1;
            }
            Err(other) => panic!("flip at {pos}: unexpected error {other}"),
        }
    }
    assert!(corruptions > 0);
    for len in [0, 1, 71, 72, original.len() / 2, original.len() - 1] {
        std::fs::write(&bad, &original[..len]).unwrap();
        assert!(
            matches!(read_all(&bad, &model), Err(Error::Corruption { .. })),
            "truncated to {len}"
        );
    }
}

fn range_tombstones(rts: &[(&str, &str, SeqNo)]) -> crate::range_tombstone::FragList {
    crate::range_tombstone::FragList::build(
        rts.iter()
            .map(|&(s, e, seqno)| crate::range_tombstone::RangeTombstone {
                start: s.into(),
                end: e.into(),
                seqno,
            }),
        &Comparator::default(),
    )
}

/// Writes a table of `entries` (values "v") and the range tombstones `rts` at `path`.
fn write_with_range_tombstones(
    path: &Path,
    entries: &[(&str, SeqNo)],
    rts: &[(&str, &str, SeqNo)],
) -> crate::range_tombstone::FragList {
    let file = StdFs.create(path).unwrap();
    let mut writer = TableWriter::new(
        file,
        path,
        TableWriterOptions::default(),
        Comparator::default(),
    );
    for (key, seqno) in entries {
        writer
            .add(key.as_bytes(), *seqno, ValueType::Value, b"v")
            .unwrap();
    }
    let list = range_tombstones(rts);
    writer.set_range_tombstones(list.clone());
    writer.finish().unwrap().unwrap();
    list
}

/// A table with range tombstones: the block round-trips, the bounds widen to them (an
/// exclusive end past the last key), the seqno range takes them in while `kv_seqno_max` stays
/// the entries', and the verifier agrees.
#[test]
fn range_tombstones_round_trip_and_widen_the_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("1.sst");
    let list = write_with_range_tombstones(
        &path,
        &[("m", 3), ("n", 4)],
        &[("a", "c", 7), ("k", "z", 2)],
    );
    let table = Table::open(&path, &ctx(1 << 20, false)).unwrap();
    let meta = table.meta();
    assert_eq!(table.range_tombstones().as_ref(), &list);
    assert_eq!((&*meta.min_key, &*meta.max_key), (&b"a"[..], &b"z"[..]));
    assert!(meta.max_key_exclusive);
    assert_eq!(
        (meta.seqno_min, meta.seqno_max, meta.kv_seqno_max),
        (2, 7, 4)
    );
    assert_eq!(meta.range_tombstone_count, 2);
    assert_eq!(meta.range_tombstone_seqnos, (2, 7));
    assert!(table.ends_before(b"z") && !table.ends_before(b"y"));
    let check = super::verify::verify_table(&StdFs, &path, &Comparator::default(), None).unwrap();
    assert!(check.damages.is_empty(), "{:?}", check.damages);
}

/// A table of range tombstones alone: no data block, an empty index, no entry; reads and scans
/// find nothing, and it verifies clean.
#[test]
fn a_table_of_range_tombstones_alone_is_legal() {
    let dir = tempfile::tempdir().unwrap();
    for partitioned in [false, true] {
        let path = dir.path().join(format!("{partitioned}.sst"));
        let file = StdFs.create(&path).unwrap();
        let opts = TableWriterOptions {
            index_partitioned: partitioned,
            filter_partitioned: partitioned,
            ..TableWriterOptions::default()
        };
        let mut writer = TableWriter::new(file, &path, opts, Comparator::default());
        writer.set_range_tombstones(range_tombstones(&[("b", "d", 5)]));
        let (meta, _) = writer.finish().unwrap().unwrap();
        assert_eq!(
            (meta.entry_count, meta.data_block_count, meta.kv_seqno_max),
            (0, 0, 0)
        );
        let table = Arc::new(Table::open(&path, &ctx(1 << 20, false)).unwrap());
        assert_eq!(table.get(b"c", SeqNo::MAX, key_hash(b"c")).unwrap(), None);
        let all = TableIter::new(
            Arc::clone(&table),
            (Bound::Unbounded, Bound::Unbounded),
            SeqNo::MAX,
        );
        assert_eq!(all.count(), 0);
        assert_eq!(table.range_tombstones().len(), 1);
        let check =
            super::verify::verify_table(&StdFs, &path, &Comparator::default(), None).unwrap();
        assert!(check.damages.is_empty(), "{:?}", check.damages);
    }
}

/// A range-tombstone block whose fragments disagree with the meta block (here: outside the
/// table's bounds) is corruption at open, never a table read without them.
#[test]
fn range_tombstones_outside_the_bounds_are_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("3.sst");
    write_with_range_tombstones(&path, &[("m", 3)], &[("a", "c", 7)]);
    let mut bytes = std::fs::read(&path).unwrap();
    // The block holds "a" as the first start: change it; the block's checksum catches it.
    let at = bytes
        .windows(3)
        .position(|w| w == [0x00, 0x01, b'a'])
        .unwrap()
        + 2;
    bytes[at] = b'0';
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        Table::open(&path, &ctx(1 << 20, false)),
        Err(Error::Corruption { .. })
    ));
}

/// The `table` fuzz target's first finding (2026-12-07): a table whose checksums all hold, but
/// whose first data block libFuzzer rewrote and re-checksummed (with comparison tracing it copies
/// the checksum the reader computes into the input), so that it holds the key
/// `key00070value-`, which the table's filter never saw. A scan yields the key; `get` trusts the
/// filter and answers `None`. No reader can tell without reading the whole file, and the
/// verifier, which does, reports the filter's false negative: the target now asks `get` to
/// find every scanned key only of tables that verify clean.
#[test]
fn a_forged_block_that_verify_rejects_is_exempt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forged.sst");
    let bytes = include_bytes!("../../tests/fixtures/fuzz/table-forged-checksum-filter-miss.sst");
    StdFs.create(&path).unwrap().append(bytes).unwrap();
    let table = Arc::new(Table::open(&path, &ctx(1 << 20, false)).unwrap());
    let key = b"key00070value-";
    let scanned: Vec<InternalValue> = TableIter::new(
        Arc::clone(&table),
        (Bound::Unbounded, Bound::Unbounded),
        SeqNo::MAX,
    )
    .collect::<crate::Result<_>>()
    .unwrap();
    assert!(scanned.iter().any(|e| &*e.key.user_key == key));
    assert!(!table.filter_may_contain(key, key_hash(key)).unwrap());
    assert_eq!(table.get(key, SeqNo::MAX, key_hash(key)).unwrap(), None);
    let check = super::verify::verify_table(&StdFs, &path, &Comparator::default(), None).unwrap();
    assert!(
        !check.damages.is_empty(),
        "the verifier reads every block and finds the filter's false negative"
    );
}
