//! Reads through the public `Tree` API on a warm block cache: what issue 16's goals are made of,
//! measured without the benchmark driver's threads and disks in the way.
//!
//! The tree holds 200,000 random 16-byte keys (zero-padded decimals, as `strata bench` writes them)
//! with 100-byte values, written in three flushes of overlapping random keys, so a read meets three
//! tables as after a `strata bench` fill (two level-0 runs above a level-1 run are typical). The
//! whole tree (about 25 MB) fits the 64 MiB block cache, and every benchmark first reads each key
//! once, so the timed loops measure the engine's CPU work and its memory accesses, not the disk.
//! - `tree_point_read/present`: `get` of a key that exists.
//! - `tree_point_read/missing`: `get` of a key that does not (between existing ones: the
//!   filters answer).
//! - `tree_seek/seek10`: `range(key..)` and the first ten items (db_bench's seekrandom).
//! - `filter_probe_path/missing_3_tables`: `contains_key` of a missing key (filter probes of three
//!   tables, nothing else).
//!
//! Run with `cargo bench --bench tree`; `STRATA_BENCH_N` changes the key count.

#![allow(
    clippy::indexing_slicing,
    reason = "the probe index is masked to the length of the probe arrays"
)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strata::{Cache, Config, Guard, SeqNo, SequenceNumberCounter};

const PROBES: usize = 1 << 16;

fn key_count() -> u64 {
    std::env::var("STRATA_BENCH_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000)
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

/// Present keys are even numbers, missing ones odd.
fn key(i: u64) -> String {
    format!("{i:016}")
}

fn reads(c: &mut Criterion) {
    let n = key_count();
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default())
        .use_cache(Arc::new(Cache::with_capacity_bytes(64 << 20)))
        .open()
        .expect("open the tree");
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let value = vec![b'v'; 100];
    // Every key once, then two more flushes of random overwrites: three overlapping tables.
    for i in 0..n {
        tree.insert(key(2 * i), value.clone(), seqno.next());
    }
    tree.flush_active_memtable(0).expect("flush");
    for _ in 0..2 {
        for _ in 0..n / 2 {
            tree.insert(key(2 * (rng.next() % n)), value.clone(), seqno.next());
        }
        tree.flush_active_memtable(0).expect("flush");
    }
    assert_eq!(tree.table_count(), 3);
    let present: Vec<String> = (0..PROBES).map(|_| key(2 * (rng.next() % n))).collect();
    let missing: Vec<String> = (0..PROBES).map(|_| key(2 * (rng.next() % n) + 1)).collect();
    // Warm the cache and check the answers.
    for i in 0..n {
        assert!(tree.get(key(2 * i), SeqNo::MAX).expect("read").is_some());
    }
    assert!(tree.get(&missing[0], SeqNo::MAX).expect("read").is_none());

    let mut group = c.benchmark_group("tree_point_read");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("present", |b| {
        b.iter(|| {
            i = (i + 1) & (PROBES - 1);
            black_box(tree.get(&present[i], SeqNo::MAX).expect("read"))
        });
    });
    let mut i = 0;
    group.bench_function("missing", |b| {
        b.iter(|| {
            i = (i + 1) & (PROBES - 1);
            black_box(tree.get(&missing[i], SeqNo::MAX).expect("read"))
        });
    });
    group.finish();

    let mut group = c.benchmark_group("tree_seek");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("seek10", |b| {
        b.iter(|| {
            i = (i + 1) & (PROBES - 1);
            let mut bytes = 0;
            for item in tree.range(present[i].as_str().., SeqNo::MAX, None).take(10) {
                bytes += item.into_inner().expect("read").1.len();
            }
            black_box(bytes)
        });
    });
    group.finish();

    let mut group = c.benchmark_group("filter_probe_path");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("missing_3_tables", |b| {
        b.iter(|| {
            i = (i + 1) & (PROBES - 1);
            black_box(tree.contains_key(&missing[i], SeqNo::MAX).expect("read"))
        });
    });
    group.finish();
}

criterion_group!(benches, reads);
criterion_main!(benches);
