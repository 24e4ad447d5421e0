//! The memtable against `crossbeam-skiplist`, the memtable of `lsm-tree` (a `SkipMap` from an
//! internal key of a `Slice` and a reversed seqno to a `Slice` value, as lsm-tree keeps it).
//!
//! 1M random 16-byte keys with 100-byte values: insert from 1 and from 2 threads, point get and
//! full iteration. Run with `cargo bench --bench memtable`; `STRATA_BENCH_N` changes the count.

#![allow(
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "benchmark data generation indexes fixed-size arrays"
)]

use std::cmp::Reverse;
use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_skiplist::SkipMap;
use strata::{InternalValue, Memtable, Slice, ValueType};

type CrossbeamMemtable = SkipMap<(Slice, Reverse<u64>), (ValueType, Slice)>;

fn entry_count() -> usize {
    std::env::var("STRATA_BENCH_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000)
}

fn dataset(n: usize) -> Vec<([u8; 16], [u8; 100])> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|_| {
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&next().to_le_bytes());
            key[8..].copy_from_slice(&next().to_le_bytes());
            let mut value = [0u8; 100];
            for chunk in value.chunks_mut(8) {
                let bytes = next().to_le_bytes();
                chunk.copy_from_slice(&bytes[..chunk.len()]);
            }
            (key, value)
        })
        .collect()
}

fn strata_insert(memtable: &Memtable, data: &[([u8; 16], [u8; 100])], base: u64) {
    for (i, (k, v)) in data.iter().enumerate() {
        memtable.insert(InternalValue::from_components(
            *k,
            *v,
            base + i as u64,
            ValueType::Value,
        ));
    }
}

fn crossbeam_insert(map: &CrossbeamMemtable, data: &[([u8; 16], [u8; 100])], base: u64) {
    for (i, (k, v)) in data.iter().enumerate() {
        map.insert(
            (Slice::from(k), Reverse(base + i as u64)),
            (ValueType::Value, Slice::from(v)),
        );
    }
}

fn inserts(c: &mut Criterion) {
    let data = dataset(entry_count());
    let mut group = c.benchmark_group("memtable_insert");
    group.sample_size(10);
    group.throughput(Throughput::Elements(data.len() as u64));
    group.bench_function("strata/1_thread", |b| {
        b.iter_batched(
            Memtable::default,
            |m| {
                strata_insert(&m, &data, 0);
                m
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function("crossbeam/1_thread", |b| {
        b.iter_batched(
            CrossbeamMemtable::new,
            |m| {
                crossbeam_insert(&m, &data, 0);
                m
            },
            BatchSize::PerIteration,
        );
    });
    let (left, right) = data.split_at(data.len() / 2);
    group.bench_function("strata/2_threads", |b| {
        b.iter_batched(
            Memtable::default,
            |m| {
                std::thread::scope(|s| {
                    s.spawn(|| strata_insert(&m, left, 0));
                    s.spawn(|| strata_insert(&m, right, left.len() as u64));
                });
                m
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function("crossbeam/2_threads", |b| {
        b.iter_batched(
            CrossbeamMemtable::new,
            |m| {
                std::thread::scope(|s| {
                    s.spawn(|| crossbeam_insert(&m, left, 0));
                    s.spawn(|| crossbeam_insert(&m, right, left.len() as u64));
                });
                m
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn reads(c: &mut Criterion) {
    let data = dataset(entry_count());
    let strata = Memtable::default();
    strata_insert(&strata, &data, 0);
    let crossbeam = CrossbeamMemtable::new();
    crossbeam_insert(&crossbeam, &data, 0);

    let mut group = c.benchmark_group("memtable_get");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    group.bench_function("strata", |b| {
        b.iter(|| {
            i = (i + 7919) % data.len();
            let found = strata.get(&data[i].0, u64::MAX).expect("key was inserted");
            black_box(found.value.len())
        });
    });
    let mut i = 0usize;
    group.bench_function("crossbeam", |b| {
        b.iter(|| {
            i = (i + 7919) % data.len();
            // The newest version at or below the read: lsm-tree's memtable point read.
            let lower = (Slice::from(&data[i].0), Reverse(u64::MAX - 1));
            let entry = crossbeam
                .lower_bound(std::ops::Bound::Included(&lower))
                .expect("key was inserted");
            black_box(entry.value().1.clone().len())
        });
    });
    group.finish();

    let mut group = c.benchmark_group("memtable_iter");
    group.sample_size(10);
    group.throughput(Throughput::Elements(data.len() as u64));
    group.bench_function("strata", |b| {
        b.iter(|| black_box(strata.iter().map(|e| e.value.len()).sum::<usize>()));
    });
    group.bench_function("crossbeam", |b| {
        b.iter(|| {
            black_box(
                crossbeam
                    .iter()
                    .map(|e| {
                        let _key = e.key().0.clone();
                        e.value().1.clone().len()
                    })
                    .sum::<usize>(),
            )
        });
    });
    group.finish();
}

criterion_group!(benches, inserts, reads);
criterion_main!(benches);
