//! Instructions per operation, Strata against lsm-tree and coordinode-lsm-tree, counted by
//! callgrind: a measure that a busy or noisy machine does not move (unlike ops/s), for the CPU
//! side of issue 16's and issue 12's workloads. `scripts/instructions.sh` runs it under
//! `valgrind --tool=callgrind --toggle-collect=...::measured` for each engine and workload and
//! prints the table; run by hand, it only does the work.
//!
//! Each engine gets the same tree: 200,000 keys (16-byte zero-padded decimals, even numbers) with
//! 100-byte values, written in three flushes of overlapping random keys (every key, then two
//! rounds of 100,000 random overwrites), no compression, a 64 MiB block cache, bloom filters of
//! 10 bits per key; every key is read once before the measured loop, so the cache is warm. The
//! measured loop is one of:
//! - `seek`: 20,000 `range(key..)` taking 10 items (db_bench's seekrandom);
//! - `scan`: 200 `range(key..)` taking 1,000 items (a long scan over three merged tables);
//! - `get`: 20,000 `get` of present keys;
//! - `merge`: 20,000 merge operands (a u64 add) on present keys (not lsm-tree: it has none).
//!
//! Usage: `instructions ENGINE WORKLOAD`, ENGINE one of `strata`, `lsm-tree`, `coordinode`.

use std::hint::black_box;

/// Operations of each workload's measured loop.
const SEEKS: usize = 20_000;
const SCANS: usize = 200;
const SCAN_LEN: usize = 1_000;
const KEYS: u64 = 200_000;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn key(i: u64) -> String {
    format!("{i:016}")
}

fn u64_of(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(
        bytes
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 8]),
    )
}

/// db_bench's `uint64add`.
struct U64Add;

/// Implements `$krate`'s merge operator trait for [`U64Add`] (Strata's and coordinode-lsm-tree's
/// traits have the same shape).
macro_rules! u64_add {
    ($krate:ident) => {
        impl $krate::MergeOperator for U64Add {
            fn merge(
                &self,
                _key: &[u8],
                base: Option<&[u8]>,
                operands: &[&[u8]],
            ) -> $krate::Result<$krate::UserValue> {
                let sum = operands
                    .iter()
                    .fold(base.map_or(0, u64_of), |s, o| s.wrapping_add(u64_of(o)));
                Ok(sum.to_le_bytes().to_vec().into())
            }
        }
    };
}

u64_add!(strata);
u64_add!(coordinode_lsm_tree);

/// A peer's `Config` in `dir` as `strata bench` sets it: uncompressed blocks, a 64 MiB cache,
/// a bloom filter of 10 bits per key (lsm-tree and coordinode-lsm-tree share this API).
macro_rules! peer_config {
    ($krate:ident, $dir:expr, $seqno:expr) => {{
        use $krate::config::{
            BloomConstructionPolicy, CompressionPolicy, FilterPolicy, FilterPolicyEntry,
        };
        let none = $krate::CompressionType::None;
        $krate::Config::new($dir, $seqno, $krate::SequenceNumberCounter::default())
            .use_cache(std::sync::Arc::new($krate::Cache::with_capacity_bytes(
                64 << 20,
            )))
            .data_block_compression_policy(CompressionPolicy::all(none))
            .index_block_compression_policy(CompressionPolicy::all(none))
            .filter_policy(FilterPolicy::all(FilterPolicyEntry::Bloom(
                BloomConstructionPolicy::BitsPerKey(10.0),
            )))
    }};
}

/// A module per engine with the same code: `$tree` its tree type, `$open` how to open one,
/// `$merge` one merge write (`None` without merge operators).
macro_rules! engine {
    ($module:ident, $krate:ident, $tree:ty, $open:expr, $merge:expr) => {
        mod $module {
            #[allow(unused_imports, reason = "the peers' tree methods are on this trait")]
            use coordinode_lsm_tree::AbstractTree as _;
            #[allow(unused_imports, reason = "the peers' tree methods are on this trait")]
            use lsm_tree::AbstractTree as _;
            use $krate::Guard as _;

            use super::{KEYS, SCAN_LEN, SCANS, SEEKS, XorShift, key};

            /// The measured loop: what callgrind counts (`--toggle-collect=*::measured`).
            #[inline(never)]
            fn measured(
                tree: &$tree,
                seqno: &$krate::SequenceNumberCounter,
                workload: &str,
                probes: &[String],
            ) -> usize {
                let mut n = 0;
                match workload {
                    "seek" => {
                        for k in probes.iter().take(SEEKS) {
                            for item in tree.range(k.as_str().., u64::MAX - 1, None).take(10) {
                                n += item.into_inner().map_or(0, |(_, v)| v.len());
                            }
                        }
                    }
                    "scan" => {
                        for k in probes.iter().take(SCANS) {
                            for item in tree.range(k.as_str().., u64::MAX - 1, None).take(SCAN_LEN)
                            {
                                n += item.into_inner().map_or(0, |(_, v)| v.len());
                            }
                        }
                    }
                    "get" => {
                        for k in probes.iter().take(SEEKS) {
                            n += tree
                                .get(k, u64::MAX - 1)
                                .ok()
                                .flatten()
                                .map_or(0, |v| v.len());
                        }
                    }
                    "merge" => {
                        let merge: fn(&$tree, &str, u64) -> bool = $merge;
                        for k in probes.iter().take(SEEKS) {
                            n += usize::from(merge(tree, k, seqno.next()));
                        }
                    }
                    other => panic!("unknown workload {other}"),
                }
                n
            }

            pub(crate) fn run(workload: &str, dir: &std::path::Path) -> usize {
                let seqno = $krate::SequenceNumberCounter::default();
                let open: fn(&std::path::Path, $krate::SequenceNumberCounter) -> $tree = $open;
                let tree = open(dir, seqno.clone());
                let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
                let value = vec![b'v'; 100];
                let flush = |tree: &$tree| {
                    tree.rotate_memtable();
                    tree.flush(&tree.get_flush_lock(), 0).expect("flush");
                };
                for i in 0..KEYS {
                    tree.insert(key(2 * i), value.clone(), seqno.next());
                }
                flush(&tree);
                for _ in 0..2 {
                    for _ in 0..KEYS / 2 {
                        tree.insert(key(2 * (rng.next() % KEYS)), value.clone(), seqno.next());
                    }
                    flush(&tree);
                }
                let probes: Vec<String> =
                    (0..SEEKS).map(|_| key(2 * (rng.next() % KEYS))).collect();
                for i in 0..KEYS {
                    assert!(tree.get(key(2 * i), u64::MAX - 1).expect("read").is_some());
                }
                measured(&tree, &seqno, workload, &probes)
            }
        }
    };
}

engine!(
    strata_engine,
    strata,
    strata::Tree,
    |dir, seqno| {
        strata::Config::new(dir, seqno, strata::SequenceNumberCounter::default())
            .use_cache(std::sync::Arc::new(strata::Cache::with_capacity_bytes(
                64 << 20,
            )))
            .with_merge_operator(Some(std::sync::Arc::new(super::U64Add)))
            .open()
            .expect("open")
    },
    |tree, k, seqno| {
        tree.merge(k, 1u64.to_le_bytes(), seqno);
        true
    }
);

engine!(
    coordinode_engine,
    coordinode_lsm_tree,
    coordinode_lsm_tree::AnyTree,
    |dir, seqno| {
        peer_config!(coordinode_lsm_tree, dir, seqno)
            .with_merge_operator(Some(std::sync::Arc::new(super::U64Add)))
            .open()
            .expect("open")
    },
    |tree, k, seqno| {
        tree.merge(k, 1u64.to_le_bytes(), seqno);
        true
    }
);

engine!(
    lsm_tree_engine,
    lsm_tree,
    lsm_tree::AnyTree,
    |dir, seqno| peer_config!(lsm_tree, dir, seqno).open().expect("open"),
    |_, _, _| false
);

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(engine), Some(workload)) = (args.next(), args.next()) else {
        eprintln!("usage: instructions strata|lsm-tree|coordinode seek|scan|get|merge");
        std::process::exit(2);
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let n = match engine.as_str() {
        "strata" => strata_engine::run(&workload, dir.path()),
        "coordinode" => coordinode_engine::run(&workload, dir.path()),
        "lsm-tree" => lsm_tree_engine::run(&workload, dir.path()),
        other => {
            eprintln!("unknown engine {other}");
            std::process::exit(2);
        }
    };
    println!("{engine} {workload}: {}", black_box(n));
}
