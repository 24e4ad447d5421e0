//! Helpers shared by the integration tests: one seeded random generator, the ways the tests open
//! a tree, and a tree's visible contents as a map.
//!
//! Each test file is its own crate and includes this module with `mod common;`, so a file uses
//! only some of it: unused helpers are allowed here rather than warned about in every crate.

#![allow(
    dead_code,
    reason = "each test crate uses a different part of the shared helpers"
)]
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use strata::config::BlockSizePolicy;
use strata::fs::Fs;
use strata::{Config, Guard, SeqNo, SequenceNumberCounter, Tree, UserComparator};

/// Descending byte order: a custom comparator for the tests that run under one.
pub struct Reverse;

impl UserComparator for Reverse {
    fn name(&self) -> &'static str {
        "test.reverse"
    }
    fn compare(&self, a: &[u8], b: &[u8]) -> std::cmp::Ordering {
        b.cmp(a)
    }
}

/// A deterministic xorshift64 generator: the same seed gives the same sequence on every platform.
/// A seed of 0 would stay 0 forever, so it is replaced by a fixed odd constant.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (`n > 0`; slightly biased for huge `n`, which tests never use).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() & 0xff) as u8).collect()
    }

    /// Fills `out` with random bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(bytes.get(..chunk.len()).unwrap());
        }
    }
}

/// The seed of a seeded test: `$var` if set (a replay), else one taken from the clock. The caller
/// prints it, with the variable that replays it, before it runs.
pub fn seed_from_env(var: &str) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        })
}

/// A config for a tree in `dir` with small blocks and tables, writing seqnos from `seqno`.
pub fn small_config(
    dir: impl AsRef<Path>,
    seqno: &SequenceNumberCounter,
    block_bytes: u32,
    table_target_bytes: u64,
) -> Config {
    Config::new(dir, seqno.clone(), SequenceNumberCounter::default())
        .data_block_size_policy(BlockSizePolicy::all(block_bytes))
        .table_target_size(table_target_bytes)
}

/// Opens (or recovers) a tree in `dir` with the default options and fresh seqno counters.
pub fn open_default(dir: impl AsRef<Path>) -> Tree {
    Config::new(
        dir,
        SequenceNumberCounter::default(),
        SequenceNumberCounter::default(),
    )
    .open()
    .unwrap()
}

/// The directory the trees on an in-memory or fault-injecting file system live in.
pub const FS_DIR: &str = "/db";

/// Opens (or recovers) a tree at [`FS_DIR`] on `fs` with 128-byte blocks and 1 KiB tables, so
/// that a small workload makes many files and many file calls.
pub fn open_on_fs(fs: Arc<dyn Fs>) -> strata::Result<Tree> {
    small_config(FS_DIR, &SequenceNumberCounter::default(), 128, 1024)
        .fs(fs)
        .open()
}

/// Every key-value pair a read at `seqno` sees, in key order.
pub fn contents(tree: &Tree, seqno: SeqNo) -> BTreeMap<Vec<u8>, Vec<u8>> {
    tree.iter(seqno, None)
        .map(|g| {
            let (k, v) = g.into_inner().unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect()
}
