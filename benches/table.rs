//! The table format through `strata::internals`: data block build and seek, bloom filter probe,
//! and point reads on a whole table file.
//!
//! Random 16-byte keys and 100-byte values, deterministic seed; keys carry the seqno of their
//! position in the random fill that produced them, as a flushed memtable would.
//! - `block_build`: build one data block (restart interval 16) from the 34 sorted entries that
//!   make it reach 4 KiB, the size at which the table writer cuts blocks; throughput in block bytes.
//! - `block_seek`: the seek of a point read for a present key in that block, built with restart
//!   interval 1 and with 16.
//! - `filter_probe`: one `filter_may_contain` on a 10 bits/key bloom filter over 100,000 keys, for a
//!   present and an absent key (each call also checks the filter's 6-byte trailer).
//! - `table_point_read`: `TableFile::get` at the latest seqno on a table of 1M entries (4 KiB
//!   blocks, restart interval 16, no compression, pinned index and filter) with a 64 MiB block
//!   cache: a present key, a missing key with a 10 bits/key filter, and a missing key in a second
//!   table written without a filter. At 1M entries a table is about 125 MB, twice the cache, so
//!   about half the present-key gets load their block from the OS page cache.
//!
//! Missing keys lie between present keys (present keys have the low bit of their last byte clear,
//! missing keys have it set), so they pass a table's key-range check and reach the filter or,
//! without one, the index and a data block. The setup checks the answers once before timing.
//!
//! Run with `cargo bench --features internals --bench table`; `STRATA_BENCH_N` changes the table's
//! entry count (the setup writes two tables to a temporary directory, outside the timed loops), and
//! `-- --test` runs each benchmark once.

#![allow(
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "benchmark data generation indexes fixed-size arrays"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strata::internals::{
    TableFile, TableWriterOptions, build_data_block, build_filter, filter_may_contain,
    seek_data_block, write_table,
};
use strata::{InternalValue, SeqNo, ValueType};

const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 100;
const BLOCK_SIZE_BYTES: usize = 4096;
const FILTER_KEY_COUNT: usize = 100_000;
const BITS_PER_KEY: f64 = 10.0;
const CACHE_BYTES: u64 = 64 << 20;
/// Lookups cycle through this many pseudo-random positions; a power of two, so the next position
/// is a mask rather than a division inside the timed loop.
const PROBE_COUNT: usize = 1 << 16;

type Key = [u8; KEY_LEN];
type BlockEntry = (Vec<u8>, SeqNo, ValueType, Vec<u8>);

fn entry_count() -> usize {
    std::env::var("STRATA_BENCH_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000)
}

struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn value(&mut self) -> [u8; VALUE_LEN] {
        let mut value = [0u8; VALUE_LEN];
        for chunk in value.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        value
    }
}

/// `n` distinct random keys in ascending order, each with the seqno (1-based) of its place in the
/// fill. The low bit of the last byte is clear, so [`missing`] of a key is never a key.
fn sorted_keys(n: usize, rng: &mut XorShift) -> Vec<(Key, SeqNo)> {
    let mut keys: Vec<(Key, SeqNo)> = (1..=n as u64)
        .map(|seqno| {
            let mut key = [0u8; KEY_LEN];
            key[..8].copy_from_slice(&rng.next().to_le_bytes());
            key[8..].copy_from_slice(&rng.next().to_le_bytes());
            key[KEY_LEN - 1] &= !1;
            (key, seqno)
        })
        .collect();
    keys.sort_unstable_by_key(|&(key, _)| key);
    keys.dedup_by(|a, b| a.0 == b.0);
    keys
}

/// A key just after `key` that no key set from [`sorted_keys`] holds.
fn missing(key: &Key) -> Key {
    let mut missing = *key;
    missing[KEY_LEN - 1] |= 1;
    missing
}

/// [`PROBE_COUNT`] pseudo-random positions in `0..len`.
fn probe_order(len: usize, rng: &mut XorShift) -> Vec<usize> {
    (0..PROBE_COUNT)
        .map(|_| (rng.next() % len as u64) as usize)
        .collect()
}

/// The sorted entries of one data block: the shortest prefix of a random key set whose block
/// reaches [`BLOCK_SIZE_BYTES`] at restart interval 16.
fn block_entries() -> Vec<BlockEntry> {
    let mut rng = XorShift::new(0x2545_f491_4f6c_dd1d);
    let mut entries: Vec<BlockEntry> = sorted_keys(4 * BLOCK_SIZE_BYTES / VALUE_LEN, &mut rng)
        .into_iter()
        .map(|(key, seqno)| (key.to_vec(), seqno, ValueType::Value, rng.value().to_vec()))
        .collect();
    let count = (1..=entries.len())
        .find(|&n| build_data_block(&entries[..n], 16).len() >= BLOCK_SIZE_BYTES)
        .expect("the candidate entries fill a block");
    entries.truncate(count);
    entries
}

fn blocks(c: &mut Criterion) {
    let entries = block_entries();
    let block = build_data_block(&entries, 16);

    let mut group = c.benchmark_group("block_build");
    group.throughput(Throughput::Bytes(block.len() as u64));
    group.bench_function("restart_16", |b| {
        b.iter(|| black_box(build_data_block(black_box(&entries), 16)));
    });
    group.finish();

    let order = probe_order(entries.len(), &mut XorShift::new(0x6a09_e667_f3bc_c908));
    let mut group = c.benchmark_group("block_seek");
    group.throughput(Throughput::Elements(1));
    for restart_interval in [1, 16] {
        let block = build_data_block(&entries, restart_interval);
        for (key, seqno, _, value) in &entries {
            // NB: seeking `SeqNo::MAX - 1` is the seek of a point read at the latest state.
            let found = seek_data_block(&block, key, SeqNo::MAX - 1)
                .expect("the block decodes")
                .expect("the key is in the block");
            assert_eq!((&*found.key.user_key, found.key.seqno), (&key[..], *seqno));
            assert_eq!(&*found.value, &value[..]);
        }
        let mut i = 0usize;
        group.bench_function(format!("restart_{restart_interval}"), |b| {
            b.iter(|| {
                i = (i + 1) & (PROBE_COUNT - 1);
                let key = &entries[order[i]].0;
                let found =
                    seek_data_block(&block, key, SeqNo::MAX - 1).expect("the block decodes");
                black_box(found.map(|e| e.value.len()))
            });
        });
    }
    group.finish();
}

fn filter(c: &mut Criterion) {
    let mut rng = XorShift::new(0xbb67_ae85_84ca_a73b);
    let keys = sorted_keys(FILTER_KEY_COUNT, &mut rng);
    let refs: Vec<&[u8]> = keys.iter().map(|(key, _)| &key[..]).collect();
    let filter = build_filter(&refs, BITS_PER_KEY);
    for key in &refs {
        assert!(filter_may_contain(&filter, key).expect("the filter decodes"));
    }
    let order = probe_order(keys.len(), &mut rng);

    let mut group = c.benchmark_group("filter_probe");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    group.bench_function("present", |b| {
        b.iter(|| {
            i = (i + 1) & (PROBE_COUNT - 1);
            black_box(filter_may_contain(&filter, &keys[order[i]].0).expect("the filter decodes"))
        });
    });
    let absent: Vec<Key> = keys.iter().map(|(key, _)| missing(key)).collect();
    let mut i = 0usize;
    group.bench_function("absent", |b| {
        b.iter(|| {
            i = (i + 1) & (PROBE_COUNT - 1);
            black_box(filter_may_contain(&filter, &absent[order[i]]).expect("the filter decodes"))
        });
    });
    group.finish();
}

fn table_reads(c: &mut Criterion) {
    let mut rng = XorShift::new(0x3c6e_f372_fe94_f82b);
    let keys = sorted_keys(entry_count(), &mut rng);
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let open = |name: &str, filter_bits_per_key: Option<f64>| {
        let path = dir.path().join(name);
        let options = TableWriterOptions {
            block_size: BLOCK_SIZE_BYTES as u32,
            restart_interval: 16,
            filter_bits_per_key,
            ..TableWriterOptions::default()
        };
        let mut values = XorShift::new(0x510e_527f_ade6_82d1);
        let entries = keys.iter().map(|&(key, seqno)| {
            InternalValue::from_components(key, values.value(), seqno, ValueType::Value)
        });
        write_table(&path, entries, &options).expect("write the table");
        let table = TableFile::open(&path, CACHE_BYTES).expect("open the table");
        assert_eq!(table.entry_count(), keys.len() as u64);
        table
    };
    let with_filter = open("filter.sst", Some(BITS_PER_KEY));
    let without_filter = open("no_filter.sst", None);
    let order = probe_order(keys.len(), &mut rng);
    let absent: Vec<Key> = order.iter().map(|&i| missing(&keys[i].0)).collect();
    for table in [&with_filter, &without_filter] {
        let (key, seqno) = &keys[order[0]];
        let found = table
            .get(key, SeqNo::MAX)
            .expect("the table reads")
            .expect("the key is in the table");
        assert_eq!(found.key.seqno, *seqno);
        assert!(
            table
                .get(&absent[0], SeqNo::MAX)
                .expect("the table reads")
                .is_none()
        );
    }

    let mut group = c.benchmark_group("table_point_read");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    group.bench_function("present", |b| {
        b.iter(|| {
            i = (i + 1) & (PROBE_COUNT - 1);
            let found = with_filter
                .get(&keys[order[i]].0, SeqNo::MAX)
                .expect("the table reads");
            black_box(found.map(|e| e.value.len()))
        });
    });
    for (name, table) in [
        ("missing_with_filter", &with_filter),
        ("missing_without_filter", &without_filter),
    ] {
        let mut i = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) & (PROBE_COUNT - 1);
                let found = table.get(&absent[i], SeqNo::MAX).expect("the table reads");
                black_box(found.map(|e| e.value.len()))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, blocks, filter, table_reads);
criterion_main!(benches);
