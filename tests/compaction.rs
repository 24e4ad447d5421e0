//! Compaction strategies, space reclamation, compaction filters, FIFO, `drop_range` and `clear`.
//!
//! - space: five overwrites of every key compact back to one copy; deleting everything and
//!   compacting leaves nothing on disk;
//! - Leveled keeps level 0 below its threshold and pushes data down; SizeTiered bounds the run
//!   count; both read back exactly what was written;
//! - compaction filters: every verdict, a TTL, and snapshot reads from before a filtering step;
//! - FIFO by size and by age; `drop_range` and `clear` across a reopen, and reads at seqnos from
//!   before them;
//! - a running compaction's tables are not taken by another.

#![allow(
    clippy::unwrap_used,
    clippy::big_endian_bytes,
    clippy::indexing_slicing,
    clippy::unnecessary_literal_bound,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::cast_precision_loss,
    reason = "test code; lists the tables folder to see deletions"
)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier, Mutex};

use common::{Rng, contents};
use strata::compaction::filter::{CompactionFilter, Context, Factory, ItemAccessor, Verdict};
use strata::compaction::{
    Choice, CompactionAction, CompactionStrategy, Fifo, Leveled, SizeTiered, TreeView,
};
use strata::{Config, Guard, SeqNo, SequenceNumberCounter, Tree};

fn config(dir: &std::path::Path, seqno: &SequenceNumberCounter) -> Config {
    common::small_config(dir, seqno, 1024, 64 << 10)
}

fn open(dir: &std::path::Path, seqno: &SequenceNumberCounter) -> Tree {
    config(dir, seqno).open().unwrap()
}

/// Runs `strategy` until it has nothing to do; returns the steps taken.
fn compact_fully(tree: &Tree, strategy: &Arc<dyn CompactionStrategy>, watermark: SeqNo) -> usize {
    let mut steps = 0;
    while tree
        .compact(Arc::clone(strategy), watermark)
        .unwrap()
        .action
        != CompactionAction::Nothing
    {
        steps += 1;
        assert!(steps < 10_000, "a strategy that never settles");
    }
    steps
}

fn table_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("tables")).unwrap().count()
}

fn key(i: u64) -> Vec<u8> {
    // 16-byte keys spread over the key space.
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .to_be_bytes()
        .iter()
        .chain(&i.to_be_bytes())
        .copied()
        .collect()
}

/// Writes every key of `0..n` once with a fresh random 100-byte value, flushing every `per_flush`
/// keys and compacting with `strategy` after each flush.
fn load(
    tree: &Tree,
    seqno: &SequenceNumberCounter,
    rng: &mut Rng,
    n: u64,
    per_flush: u64,
    strategy: &Arc<dyn CompactionStrategy>,
    model: &mut BTreeMap<Vec<u8>, Vec<u8>>,
) {
    for i in 0..n {
        let value = rng.bytes(100);
        tree.insert(key(i), value.clone(), seqno.next());
        model.insert(key(i), value);
        if (i + 1) % per_flush == 0 {
            tree.flush_active_memtable(seqno.get()).unwrap();
            compact_fully(tree, strategy, seqno.get());
        }
    }
    tree.flush_active_memtable(seqno.get()).unwrap();
    compact_fully(tree, strategy, seqno.get());
}

#[test]
fn five_overwrites_compact_back_to_one_copy_and_deletes_to_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir.path(), &seqno);
    let strategy: Arc<dyn CompactionStrategy> = Arc::new(
        Leveled::default()
            .with_l0_threshold(4)
            .with_table_target_size(64 << 10)
            .with_dynamic_level_bytes(true),
    );
    let mut rng = Rng::new(7);
    let mut model = BTreeMap::new();
    let n = 10_000;
    load(&tree, &seqno, &mut rng, n, 1_000, &strategy, &mut model);
    tree.major_compact(64 << 10, seqno.get()).unwrap();
    let one_copy = tree.disk_space();
    for _ in 1..5 {
        load(&tree, &seqno, &mut rng, n, 1_000, &strategy, &mut model);
    }
    let leveled = tree.disk_space() as f64 / one_copy as f64;
    assert!(
        leveled < 1.5,
        "dynamic leveled keeps space amplification low: {leveled:.3}"
    );
    tree.major_compact(64 << 10, seqno.get()).unwrap();
    let full = tree.disk_space() as f64 / one_copy as f64;
    assert!(full <= 1.1, "one copy after a full compaction: {full:.3}");
    assert_eq!(contents(&tree, seqno.get()), model);
    println!(
        "5 overwrites of {n} keys: space {leveled:.3}x one copy under leveled, {full:.3}x after major; write amplification {:.2}",
        tree.write_amplification()
    );

    for i in 0..n {
        tree.remove(key(i), seqno.next());
    }
    tree.flush_active_memtable(seqno.get()).unwrap();
    compact_fully(&tree, &strategy, seqno.get());
    println!(
        "after deleting: levels {:?}, tombstones {}, {} bytes",
        (0..7)
            .map(|l| tree.level_table_count(l).unwrap())
            .collect::<Vec<_>>(),
        tree.tombstone_count(),
        tree.disk_space()
    );
    assert!(
        tree.disk_space() < one_copy / 20,
        "deleted data is reclaimed by leveled alone: {} of {one_copy}",
        tree.disk_space()
    );
    tree.major_compact(64 << 10, seqno.get()).unwrap();
    assert_eq!(tree.disk_space(), 0);
    assert_eq!(tree.table_count(), 0);
    assert_eq!(tree.tombstone_count(), 0);
    assert!(tree.is_empty(seqno.get(), None).unwrap());
    assert_eq!(table_files(dir.path()), 0, "every input file was deleted");
}

#[test]
fn leveled_keeps_level_0_small_pushes_data_down_and_reads_back_exactly() {
    for dynamic in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let seqno = SequenceNumberCounter::default();
        let tree = open(dir.path(), &seqno);
        let strategy: Arc<dyn CompactionStrategy> = Arc::new(
            Leveled::default()
                .with_l0_threshold(2)
                .with_table_target_size(32 << 10)
                .with_level_ratio_policy(vec![4.0])
                .with_dynamic_level_bytes(dynamic),
        );
        let mut rng = Rng::new(11);
        let mut model = BTreeMap::new();
        for round in 0..3 {
            load(&tree, &seqno, &mut rng, 6_000, 500, &strategy, &mut model);
            assert!(tree.l0_run_count() < 2, "round {round}: level 0 compacted");
            // Deletes of every third key.
            for i in (round..6_000).step_by(3) {
                tree.remove(key(i), seqno.next());
                model.remove(&key(i));
            }
            tree.flush_active_memtable(seqno.get()).unwrap();
            compact_fully(&tree, &strategy, seqno.get());
            assert_eq!(contents(&tree, seqno.get()), model, "dynamic {dynamic}");
        }
        let deeper: usize = (1..7).map(|l| tree.level_table_count(l).unwrap()).sum();
        assert!(deeper > 4, "data lives below level 0: {deeper} tables");
        if dynamic {
            assert!(
                tree.level_table_count(6).unwrap() > 0,
                "dynamic levels fill the last level first"
            );
        } else {
            let upper: usize = (1..6).map(|l| tree.level_table_count(l).unwrap()).sum();
            assert!(upper > 0, "static levels fill from the top");
        }
        assert!(tree.write_amplification() > 1.0);
        // Everything survives a reopen.
        drop(tree);
        let tree = open(dir.path(), &seqno);
        assert_eq!(contents(&tree, seqno.get()), model);
    }
}

#[test]
fn an_idle_tree_merges_its_level_0_runs_and_a_busy_one_waits() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir.path(), &seqno);
    let strategy: Arc<dyn CompactionStrategy> =
        Arc::new(Leveled::default().with_table_target_size(64 << 10));
    let mut model = BTreeMap::new();
    // A table in the last level, then three level-0 runs over its whole key range: below the
    // threshold of four runs.
    let mut write = |round: u64| {
        for i in (round..2_000).step_by(3) {
            let value = format!("{round}-{i}").into_bytes();
            tree.insert(key(i), value.clone(), seqno.next());
            model.insert(key(i), value);
        }
        tree.flush_active_memtable(seqno.get()).unwrap();
    };
    write(0);
    compact_fully(&tree, &strategy, seqno.get());
    assert_eq!(tree.l0_run_count(), 0, "the first table moved down");
    write(1);
    write(2);
    // A write waits in the memtable: no merge below the threshold.
    tree.insert(key(5_000), b"pending".to_vec(), seqno.next());
    model.insert(key(5_000), b"pending".to_vec());
    assert_eq!(compact_fully(&tree, &strategy, seqno.get()), 0);
    assert_eq!(tree.l0_run_count(), 2);
    // The writes stop and are flushed: the runs become one.
    tree.flush_active_memtable(seqno.get()).unwrap();
    assert_eq!(tree.l0_run_count(), 3);
    assert_eq!(compact_fully(&tree, &strategy, seqno.get()), 1);
    assert_eq!(tree.l0_run_count(), 1);
    assert!(
        tree.level_table_count(6).unwrap() > 0,
        "the last level is untouched"
    );
    assert_eq!(contents(&tree, seqno.get()), model);
    drop(tree);
    let tree = open(dir.path(), &seqno);
    assert_eq!(tree.l0_run_count(), 1);
    assert_eq!(contents(&tree, seqno.get()), model);
}

#[test]
fn size_tiered_bounds_the_runs_and_reads_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir.path(), &seqno);
    let strategy: Arc<dyn CompactionStrategy> = Arc::new(
        SizeTiered::default()
            .with_run_trigger(4)
            .with_table_target_size(64 << 10),
    );
    let mut rng = Rng::new(5);
    let mut model = BTreeMap::new();
    let mut max_runs = 0;
    for _ in 0..4 {
        for chunk in 0..10u64 {
            for i in chunk * 300..(chunk + 1) * 300 {
                let value = rng.bytes(100);
                tree.insert(key(i), value.clone(), seqno.next());
                model.insert(key(i), value);
            }
            tree.flush_active_memtable(seqno.get()).unwrap();
            compact_fully(&tree, &strategy, seqno.get());
            let runs = tree.l0_run_count()
                + (1..7)
                    .filter(|&l| tree.level_table_count(l) > Some(0))
                    .count();
            max_runs = max_runs.max(runs);
        }
    }
    assert!(max_runs < 8, "runs stay bounded: {max_runs}");
    assert_eq!(contents(&tree, seqno.get()), model);
    assert!(
        tree.level_table_count(6).unwrap() > 0,
        "space amplification merged into the last level"
    );
}

/// A filter whose verdict is picked by the value's first byte, for items at or above `from`.
struct ByFirstByte {
    from: SeqNo,
}

impl CompactionFilter for ByFirstByte {
    fn filter_item(&mut self, item: ItemAccessor<'_>, _: &Context) -> strata::Result<Verdict> {
        if item.seqno() < self.from {
            return Ok(Verdict::Keep);
        }
        Ok(match item.value()?.first() {
            Some(b'r') => Verdict::Remove,
            Some(b'w') => Verdict::RemoveWeak,
            Some(b'x') => Verdict::ReplaceValue("replaced".into()),
            Some(b'd') => Verdict::Destroy,
            _ => Verdict::Keep,
        })
    }
}

struct ByFirstByteFactory {
    from: SeqNo,
    made: Mutex<Vec<Context>>,
}

impl Factory for ByFirstByteFactory {
    fn name(&self) -> &str {
        "by-first-byte"
    }

    fn make_filter(&self, ctx: &Context) -> Box<dyn CompactionFilter> {
        self.made.lock().unwrap().push(ctx.clone());
        Box::new(ByFirstByte { from: self.from })
    }
}

impl std::panic::RefUnwindSafe for ByFirstByteFactory {}

/// Merges level 0 into level 1 (leaving the last level alone).
struct L0ToL1;

impl CompactionStrategy for L0ToL1 {
    fn name(&self) -> &'static str {
        "l0-to-l1"
    }

    fn choose(&self, view: &TreeView) -> Choice {
        let table_ids: Vec<u64> = view.levels()[0].tables().map(|t| t.id).collect();
        if table_ids.is_empty() {
            Choice::DoNothing
        } else {
            Choice::Merge {
                table_ids,
                dest_level: 1,
                target_size: 1 << 20,
            }
        }
    }
}

#[test]
fn every_filter_verdict_does_what_it_says_and_older_snapshots_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let factory = Arc::new(ByFirstByteFactory {
        from: 100,
        made: Mutex::new(Vec::new()),
    });
    let tree = config(dir.path(), &seqno)
        .with_compaction_filter_factory(Some(factory.clone()))
        .open()
        .unwrap();
    // Old versions of every key, in the last level, untouched by the filter (seqnos below 100).
    for k in ["keep", "remove", "weak", "replace", "destroy"] {
        tree.insert(k, format!("old-{k}"), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    tree.major_compact(1 << 20, 0).unwrap();
    seqno.set(100);
    for (k, v) in [
        ("keep", "k-new"),
        ("remove", "r-new"),
        ("weak", "w-new"),
        ("replace", "x-new"),
        ("destroy", "d-new"),
    ] {
        tree.insert(k, v, seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    let before = seqno.get();
    let result = tree.compact(Arc::new(L0ToL1), 0).unwrap();
    assert_eq!(result.action, CompactionAction::Merged);
    assert!(seqno.get() > before, "a filtering step takes a seqno");
    let now = seqno.get();
    let read = |k: &str, at: SeqNo| tree.get(k, at).unwrap().map(|v| v.to_vec());
    assert_eq!(read("keep", now), Some(b"k-new".to_vec()));
    assert_eq!(
        read("remove", now),
        None,
        "a tombstone hides the old version"
    );
    assert_eq!(read("weak", now), None);
    assert_eq!(read("replace", now), Some(b"replaced".to_vec()));
    assert_eq!(
        read("destroy", now),
        Some(b"old-destroy".to_vec()),
        "destroy leaves no tombstone: the older version shows again"
    );
    // A read from before the step sees the data as it was.
    assert_eq!(read("remove", before), Some(b"r-new".to_vec()));
    assert_eq!(read("destroy", before), Some(b"d-new".to_vec()));
    assert_eq!(read("replace", before), Some(b"x-new".to_vec()));
    let made = factory.made.lock().unwrap();
    assert_eq!(
        made.len(),
        2,
        "one filter per compaction (the major one and this one)"
    );
    assert!(made[0].is_last_level && !made[1].is_last_level);
    assert_eq!(made[1].dest_level, 1);
}

/// Removes values whose first 8 bytes, a big-endian Unix time in seconds, lie in the past.
struct Ttl;

impl CompactionFilter for Ttl {
    fn filter_item(&mut self, item: ItemAccessor<'_>, _: &Context) -> strata::Result<Verdict> {
        let value = item.value()?;
        let Some(expiry) = value.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
            return Ok(Verdict::Keep);
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        Ok(if u64::from_be_bytes(expiry) <= now {
            Verdict::Remove
        } else {
            Verdict::Keep
        })
    }
}

struct TtlFactory;

impl Factory for TtlFactory {
    fn name(&self) -> &str {
        "ttl"
    }

    fn make_filter(&self, _: &Context) -> Box<dyn CompactionFilter> {
        Box::new(Ttl)
    }
}

#[test]
fn a_ttl_filter_expires_data_in_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = config(dir.path(), &seqno)
        .with_compaction_filter_factory(Some(Arc::new(TtlFactory)))
        .open()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for i in 0..1_000u64 {
        let expiry = if i % 2 == 0 { now - 10 } else { now + 3_600 };
        let mut value = expiry.to_be_bytes().to_vec();
        value.extend_from_slice(b"payload");
        tree.insert(key(i), value, seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    let snapshot = seqno.get();
    tree.major_compact(1 << 20, snapshot).unwrap();
    assert_eq!(
        tree.len(seqno.get(), None).unwrap(),
        500,
        "expired values are gone"
    );
    assert!(tree.get(key(0), seqno.get()).unwrap().is_none());
    assert!(tree.get(key(1), seqno.get()).unwrap().is_some());
    assert_eq!(
        tree.len(snapshot, None).unwrap(),
        1_000,
        "a snapshot from before the step still reads everything"
    );
    // Once the watermark passes the step, the expired data's space comes back at the bottom.
    let tables = table_files(dir.path());
    tree.major_compact(1 << 20, seqno.get()).unwrap();
    assert!(table_files(dir.path()) <= tables);
    assert_eq!(tree.tombstone_count(), 0);
    assert_eq!(tree.len(seqno.get(), None).unwrap(), 500);
}

#[test]
fn fifo_drops_the_oldest_tables_by_size_and_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir.path(), &seqno);
    let mut rng = Rng::new(3);
    for batch in 0..10u64 {
        for i in 0..100 {
            tree.insert(key(batch * 100 + i), rng.bytes(100), seqno.next());
        }
        tree.flush_active_memtable(0).unwrap();
    }
    assert_eq!(tree.table_count(), 10);
    let per_table = tree.disk_space() / 10;
    let limit = per_table * 5 + per_table / 2;
    let fifo: Arc<dyn CompactionStrategy> = Arc::new(Fifo::new(limit, None));
    let steps = compact_fully(&tree, &fifo, seqno.get());
    assert_eq!(steps, 1);
    assert!(tree.disk_space() <= limit);
    assert_eq!(tree.table_count(), 5);
    for i in 0..1_000 {
        let present = tree.get(key(i), seqno.get()).unwrap().is_some();
        assert_eq!(present, i >= 500, "key {i}: the oldest five tables went");
    }

    // By age: a one-second TTL.
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    tree.insert("fresh", "v", seqno.next());
    tree.flush_active_memtable(0).unwrap();
    let ttl: Arc<dyn CompactionStrategy> = Arc::new(Fifo::new(u64::MAX, Some(1)));
    let result = tree.compact(Arc::clone(&ttl), seqno.get()).unwrap();
    assert_eq!(result.action, CompactionAction::Dropped);
    assert_eq!(result.tables_in, 5);
    assert_eq!(tree.table_count(), 1);
    assert!(tree.get("fresh", seqno.get()).unwrap().is_some());
    assert_eq!(
        tree.compact(ttl, seqno.get()).unwrap().action,
        CompactionAction::Nothing
    );
}

#[test]
fn drop_range_and_clear_last_across_reopen_and_spare_older_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir.path(), &seqno);
    for (prefix, n) in [("a", 100), ("b", 100), ("c", 100)] {
        for i in 0..n {
            tree.insert(format!("{prefix}{i:03}"), "v", seqno.next());
        }
        tree.flush_active_memtable(0).unwrap();
    }
    let before = seqno.get();
    // "b" lies inside; "a" and "c" do not (a straddling table stays whole).
    tree.drop_range("b".."c").unwrap();
    tree.drop_range("a050".."c050").unwrap();
    assert_eq!(tree.table_count(), 2, "only whole tables inside a range go");
    assert!(tree.get("b000", seqno.get()).unwrap().is_none());
    assert!(tree.get("a000", seqno.get()).unwrap().is_some());
    assert!(tree.get("c099", seqno.get()).unwrap().is_some());
    assert_eq!(
        tree.get("b000", before).unwrap().as_deref(),
        Some(&b"v"[..]),
        "a read from before the drop still sees it"
    );
    assert_eq!(
        table_files(dir.path()),
        3,
        "an older snapshot keeps the file"
    );
    // A GC watermark above the drop lets the old state go, and the file with it.
    tree.flush_active_memtable(seqno.get()).unwrap();
    assert_eq!(table_files(dir.path()), 2);
    drop(tree);

    let tree = open(dir.path(), &seqno);
    assert_eq!(tree.table_count(), 2);
    assert!(tree.get("b000", SeqNo::MAX).unwrap().is_none());
    assert_eq!(tree.len(SeqNo::MAX, None).unwrap(), 200);

    tree.insert("memtable", "v", seqno.next());
    let before = seqno.get();
    tree.clear().unwrap();
    assert!(tree.is_empty(seqno.get(), None).unwrap());
    assert_eq!(
        tree.len(before, None).unwrap(),
        201,
        "the old snapshot sees it all"
    );
    tree.insert("after", "v", seqno.next());
    tree.flush_active_memtable(seqno.get()).unwrap();
    drop(tree);

    let tree = open(dir.path(), &seqno);
    let keys: Vec<_> = tree
        .iter(SeqNo::MAX, None)
        .map(|g| g.key().unwrap().to_vec())
        .collect();
    assert_eq!(keys, [b"after".to_vec()]);
    assert_eq!(table_files(dir.path()), 1, "the cleared files are gone");
}

/// A filter that parks its compaction on a barrier at the first item.
struct Parking(Arc<Barrier>, bool);

impl CompactionFilter for Parking {
    fn filter_item(&mut self, _: ItemAccessor<'_>, _: &Context) -> strata::Result<Verdict> {
        if !self.1 {
            self.1 = true;
            self.0.wait();
            self.0.wait();
        }
        Ok(Verdict::Keep)
    }
}

struct ParkingFactory(Arc<Barrier>, Mutex<bool>);

impl Factory for ParkingFactory {
    fn name(&self) -> &str {
        "parking"
    }

    fn make_filter(&self, _: &Context) -> Box<dyn CompactionFilter> {
        // Only the first compaction parks.
        let mut first = self.1.lock().unwrap();
        let parked = !*first;
        *first = true;
        Box::new(Parking(Arc::clone(&self.0), !parked))
    }
}

impl std::panic::RefUnwindSafe for ParkingFactory {}

/// Merges the given tables into level 1.
struct Pick(Vec<u64>);

impl CompactionStrategy for Pick {
    fn name(&self) -> &'static str {
        "pick"
    }

    fn choose(&self, _: &TreeView) -> Choice {
        Choice::Merge {
            table_ids: self.0.clone(),
            dest_level: 1,
            target_size: 1 << 20,
        }
    }
}

#[test]
fn a_running_compaction_holds_its_tables_and_another_takes_disjoint_ones() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let barrier = Arc::new(Barrier::new(2));
    let tree = config(dir.path(), &seqno)
        .with_compaction_filter_factory(Some(Arc::new(ParkingFactory(
            Arc::clone(&barrier),
            Mutex::new(false),
        ))))
        .open()
        .unwrap();
    let mut ids = Vec::new();
    for prefix in ["a", "m"] {
        tree.insert(format!("{prefix}1"), "v", seqno.next());
        tree.flush_active_memtable(0).unwrap();
        tree.insert(format!("{prefix}2"), "v", seqno.next());
        tree.flush_active_memtable(0).unwrap();
    }
    // Table ids are 0..4: {0, 1} hold "a1", "a2"; {2, 3} hold "m1", "m2".
    ids.extend(0..4u64);
    let first = {
        let tree = tree.clone();
        std::thread::spawn(move || tree.compact(Arc::new(Pick(vec![0, 1])), 0).unwrap())
    };
    barrier.wait(); // The first compaction is running and holds tables 0 and 1.
    let busy = tree.compact(Arc::new(Pick(vec![1, 2])), 0).unwrap();
    assert_eq!(busy.action, CompactionAction::Nothing, "table 1 is busy");
    let disjoint = tree.compact(Arc::new(Pick(vec![2, 3])), 0).unwrap();
    assert_eq!(disjoint.action, CompactionAction::Merged);
    assert_eq!(disjoint.tables_in, 2);
    barrier.wait(); // Let the first one finish.
    let first = first.join().unwrap();
    assert_eq!(first.action, CompactionAction::Merged);
    assert_eq!(tree.level_table_count(0), Some(0));
    assert_eq!(
        tree.level_table_count(1),
        Some(2),
        "two disjoint outputs, one run"
    );
    assert_eq!(tree.len(seqno.get(), None).unwrap(), 4);
    drop(tree);
    let tree = open(dir.path(), &seqno);
    assert_eq!(tree.level_table_count(1), Some(2));
    assert_eq!(tree.len(SeqNo::MAX, None).unwrap(), 4);
    assert_eq!(ids.len(), 4);
}

/// A compaction reads every block of its inputs once and caches none of them (RocksDB's
/// `fill_cache = false`): the blocks that reads use stay cached, and a compaction's blocks are
/// never allocated on its thread only to be freed later by a reader's.
#[test]
fn a_compaction_leaves_the_block_cache_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(strata::Cache::with_capacity_bytes(64 << 20));
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default())
        .use_cache(Arc::clone(&cache))
        .open()
        .unwrap();
    for round in 0..3u32 {
        for i in 0..5_000u32 {
            tree.insert(
                format!("key{i:06}"),
                format!("value{round}-{i}"),
                seqno.next(),
            );
        }
        tree.flush_active_memtable(0).unwrap();
    }
    // Flushes write and reopen tables without touching the cache (index and filters pinned).
    assert_eq!(cache.size(), 0, "flushes cached nothing");
    // Reads cache the blocks they touch.
    assert_eq!(
        tree.get("key000007", SeqNo::MAX).unwrap().unwrap(),
        "value2-7"
    );
    let after_read = (cache.len(), cache.size());
    assert!(after_read.0 > 0);
    tree.major_compact(64 << 20, seqno.get()).unwrap();
    assert_eq!(tree.table_count(), 1);
    assert_eq!(
        (cache.len(), cache.size()),
        after_read,
        "the compaction read every block and cached none"
    );
    // Reads still see everything, from the compacted table.
    for i in (0..5_000u32).step_by(499) {
        assert_eq!(
            tree.get(format!("key{i:06}"), SeqNo::MAX).unwrap().unwrap(),
            format!("value2-{i}")
        );
    }
}
