//! Range tombstones through `strata::internals::RangeTombstoneList`: the point-read lookup, the
//! rebuild a memtable pays for one more tombstone, and the nested worst case.
//!
//! Keys are `key` and a zero-padded 8-digit number; tombstone i of a non-overlapping set deletes
//! `[key(2i), key(2i + 1))` at seqno i + 1.
//! - `range_tombstone_cover`: one `cover` at T = 10, 1,000 and 100,000 non-overlapping tombstones,
//!   at a read seqno in the middle of the seqno range, for pseudo-random keys of which half fall
//!   in a tombstone (half of those above the read seqno) and half between two.
//! - `range_tombstone_build/one_more`: `build` of 1,000 non-overlapping tombstones plus one that
//!   spans a hundred of them: what a memtable pays to rebuild its cached list after a
//!   `remove_range`; `one_more_by_union`: the same list as the memtable now makes it, the cached
//!   1,000 merged with the new one in one linear pass.
//! - `range_tombstone_nested`: 10,000 tombstones that share one start, each ending after the
//!   previous one: T fragments holding T(T+1)/2 stack entries (printed), the inherent worst case
//!   (`src/range_tombstone.rs`). `build` of them, and one `cover` on the result.
//!
//! Run with `cargo bench --features internals --bench range_tombstones` (add `-- --quick` for a
//! short run). Run as a test (`cargo test --benches --features internals`, without `--bench`),
//! each benchmark runs once and the nested case shrinks to 1,000 tombstones, so that a test run
//! stays fast and small (the full case holds 50M stack entries, 400 MB).

#![allow(
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "probe positions are masked to the probe count; counts are far below u32::MAX"
)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use strata::internals::RangeTombstoneList;
use strata::{SeqNo, Slice};

/// The tombstone counts of the lookup benchmark.
const COVER_COUNTS: [usize; 3] = [10, 1_000, 100_000];
/// The tombstone count of the rebuild benchmark.
const REBUILD_COUNT: usize = 1_000;
/// The tombstone count of the nested worst case under `cargo bench`.
const NESTED_COUNT: usize = 10_000;
/// The nested tombstone count when run as a test.
const NESTED_COUNT_TEST: usize = 1_000;
/// Lookups cycle through this many pseudo-random keys; a power of two, so the next position is
/// a mask rather than a division inside the timed loop.
const PROBE_COUNT: usize = 1 << 12;

/// A range tombstone: `[start, end)` below `seqno`.
#[derive(Clone)]
struct Tombstone {
    start: Slice,
    end: Slice,
    seqno: SeqNo,
}

fn key(n: usize) -> Slice {
    Slice::from(format!("key{n:08}").into_bytes())
}

fn build(tombstones: &[Tombstone]) -> RangeTombstoneList {
    RangeTombstoneList::build(
        tombstones
            .iter()
            .map(|t| (t.start.clone(), t.end.clone(), t.seqno)),
    )
}

/// `count` non-overlapping tombstones: tombstone i deletes `[key(2i), key(2i + 1))` at i + 1.
fn non_overlapping(count: usize) -> Vec<Tombstone> {
    (0..count)
        .map(|i| Tombstone {
            start: key(2 * i),
            end: key(2 * i + 1),
            seqno: i as SeqNo + 1,
        })
        .collect()
}

/// Whether criterion runs as a test (`cargo test`), not as a benchmark (`cargo bench` passes
/// `--bench`).
fn test_mode() -> bool {
    !std::env::args().any(|arg| arg == "--bench")
}

/// A lookup key and the cover it must get.
struct Probe {
    key: Slice,
    expected: SeqNo,
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn cover(c: &mut Criterion) {
    let mut group = c.benchmark_group("range_tombstone_cover");
    group.throughput(Throughput::Elements(1));
    for count in COVER_COUNTS {
        let list = build(&non_overlapping(count));
        assert_eq!(list.len(), count);
        let read_seqno = count as SeqNo / 2 + 1;
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let probes: Vec<Probe> = (0..PROBE_COUNT)
            .map(|_| {
                let n = (rng.next() % (2 * count as u64)) as usize;
                // Even numbers start a tombstone (seqno n / 2 + 1); odd ones lie between two.
                let i = n / 2;
                let expected = if n.is_multiple_of(2) && (i as SeqNo) + 1 < read_seqno {
                    i as SeqNo + 1
                } else {
                    0
                };
                Probe {
                    key: key(n),
                    expected,
                }
            })
            .collect();
        for probe in &probes {
            let found = list.cover(&probe.key, read_seqno);
            assert_eq!(found, probe.expected, "cover({:?})", probe.key);
        }
        let mut i = 0usize;
        group.bench_function(BenchmarkId::new("non_overlapping", count), |b| {
            b.iter(|| {
                i = (i + 1) & (PROBE_COUNT - 1);
                black_box(list.cover(black_box(&probes[i].key), read_seqno))
            });
        });
    }
    group.finish();
}

fn rebuild(c: &mut Criterion) {
    let mut tombstones = non_overlapping(REBUILD_COUNT);
    // NB: the new tombstone is the newest and spans a hundred others, so the rebuild also cuts
    // and stacks fragments instead of copying the old ones: it covers the hundred gaps between
    // them too, a hundred fragments more.
    tombstones.push(Tombstone {
        start: key(400),
        end: key(600),
        seqno: REBUILD_COUNT as SeqNo + 1,
    });
    let list = build(&tombstones);
    assert_eq!(list.len(), REBUILD_COUNT + 100);
    assert_eq!(
        list.cover(&key(500), SeqNo::MAX),
        REBUILD_COUNT as SeqNo + 1
    );

    let mut group = c.benchmark_group("range_tombstone_build");
    group.throughput(Throughput::Elements(tombstones.len() as u64));
    group.bench_function(BenchmarkId::new("one_more", REBUILD_COUNT), |b| {
        b.iter(|| black_box(build(black_box(&tombstones))));
    });
    // What the memtable does since: the cached list of the first 1,000, merged with the new one.
    let (old, new) = tombstones.split_at(REBUILD_COUNT);
    let (cached, added) = (build(old), build(new));
    assert_eq!(cached.union(&added).len(), list.len());
    group.bench_function(BenchmarkId::new("one_more_by_union", REBUILD_COUNT), |b| {
        b.iter(|| black_box(black_box(&cached).union(black_box(&added))));
    });
    group.finish();
}

fn nested(c: &mut Criterion) {
    let count = if test_mode() {
        NESTED_COUNT_TEST
    } else {
        NESTED_COUNT
    };
    let tombstones: Vec<Tombstone> = (0..count)
        .map(|i| Tombstone {
            start: key(0),
            end: key(i + 1),
            seqno: i as SeqNo + 1,
        })
        .collect();
    let list = build(&tombstones);
    assert_eq!(list.len(), count);
    assert_eq!(list.stack_entries(), count * (count + 1) / 2);
    println!(
        "range_tombstone_nested/{count}: {} fragments, {} stack entries",
        list.len(),
        list.stack_entries()
    );
    // The first fragment holds every seqno; a read in the middle walks half of them.
    let read_seqno = count as SeqNo / 2 + 1;
    let first = key(0);
    assert_eq!(list.cover(&first, read_seqno), read_seqno - 1);

    let mut group = c.benchmark_group("range_tombstone_nested");
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("cover", count), |b| {
        b.iter(|| black_box(list.cover(black_box(&first), read_seqno)));
    });
    drop(list);
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function(BenchmarkId::new("build", count), |b| {
        b.iter(|| black_box(build(black_box(&tombstones))).stack_entries());
    });
    group.finish();
}

criterion_group!(benches, cover, rebuild, nested);
criterion_main!(benches);
