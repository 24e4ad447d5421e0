//! The workloads (RocksDB db_bench names and meanings; BENCH.md).
//!
//! Keys are the zero-padded decimal index, `--key-size` bytes; values windows of a pre-generated
//! random buffer (as db_bench does), so the engines, not the generation of bytes, are measured.
//! Random orders come from a fixed seed, so every engine and every run does the same work.
//!
//! - `fillseq` / `fillrandom`: a fresh database, `num` keys in order / in a random order;
//! - `overwrite`: every key written again, in a random order;
//! - `readrandom`: `reads` gets of existing keys in a random order (`--threads` readers);
//! - `readmissing`: `reads` gets of keys that do not exist;
//! - `readseq` / `readreverse`: a full forward / reverse scan;
//! - `seekrandom`: `reads / 10` seeks to random existing keys, each reading the next 10 entries;
//! - `prefixscan`: on a database of its own whose keys start with a 4-digit prefix (about 1000
//!   keys each; only even prefixes exist), written in a random order and settled, unmeasured,
//!   with a 4-byte prefix extractor for the engines that have one: `reads / 1000` prefix scans,
//!   alternately of an existing prefix (about 1000 entries) and of a missing odd one (none); the
//!   tables prefix filters skipped are reported where the engine counts them;
//! - `deleterandom`: every key deleted, in a random order (the database is then empty; a later read
//!   workload refills it first, unmeasured);
//! - `mergerandom`: `num` merge operands (db_bench's `uint64add`: a little-endian u64 1 added to
//!   the first 8 bytes of the value) on random existing keys, then settled like a write workload;
//!   engines without merge operators are left out of its rows (not in the default list);
//! - `readwhilewriting`: `--threads` readers do `reads` random gets in all while one writer
//!   overwrites random keys as fast as it can; the readers' rate is reported;
//! - `fillsync` (`--engine database` only): a fresh database, [`fillsync_count`] writes of random
//!   keys over [`FILLSYNC_THREADS`] threads, each write synced before it returns whatever
//!   `--durability` says, so that concurrent writers can share syncs (group commit). db_bench's
//!   `fillsync` writes `num / 1000` keys from one thread; this one writes more, so that group
//!   commit has writers to group.
//!
//! A write workload's time covers the writes; then the database is settled (flushed, compaction
//! run to the end), untimed, and its bytes on disk and bytes written are taken. With
//! `--full-compaction` (on with `--kv-separation`), `overwrite` is then followed, untimed, by a
//! full compaction ([`compact_fully`]) and the bytes on disk are taken again; the later
//! workloads run on the compacted database.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::engine::{BoxError, Engine};
use super::sys;

/// Every workload, in the default order.
pub(crate) const ALL: &[&str] = &[
    "fillseq",
    "fillrandom",
    "overwrite",
    "readrandom",
    "readmissing",
    "readseq",
    "readreverse",
    "seekrandom",
    "prefixscan",
    "readwhilewriting",
    "deleterandom",
    "mergerandom",
];

/// The workloads only `--engine database` runs (they need a WAL), beside [`ALL`].
pub(crate) const DATABASE_ONLY: &[&str] = &["fillsync"];

/// The writer threads of `fillsync`.
pub(crate) const FILLSYNC_THREADS: usize = 4;

/// The writes of `fillsync`: `num / 100`, at least 1,000.
pub(crate) fn fillsync_count(num: u64) -> u64 {
    (num / 100).max(1000)
}

/// What the workloads need to know.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Params {
    pub(crate) num: u64,
    pub(crate) reads: u64,
    pub(crate) key_size: usize,
    pub(crate) value_size: usize,
    pub(crate) threads: usize,
    pub(crate) seed: u64,
    pub(crate) progress: bool,
    /// Values cut from JSON-like records instead of random printable bytes (`--values json`).
    pub(crate) json_values: bool,
    /// A full compaction after `overwrite` (`--full-compaction`, on with `--kv-separation`).
    pub(crate) full_compaction: bool,
}

/// One workload's measurement in one run.
#[derive(Clone, Debug, Default)]
pub(crate) struct Measurement {
    pub(crate) ops: u64,
    pub(crate) bytes: u64,
    pub(crate) elapsed: Duration,
    /// Sampled latencies of single operations, nanoseconds, sorted (emptied by
    /// [`Measurement::summarized`]).
    pub(crate) latencies: Vec<u64>,
    /// The median and 99th percentile of the sampled latencies, nanoseconds.
    pub(crate) p50_ns: Option<u64>,
    pub(crate) p99_ns: Option<u64>,
    pub(crate) peak_rss: Option<u64>,
    /// After a write workload settled: bytes on disk, live bytes, bytes written, user bytes.
    pub(crate) disk_bytes: Option<u64>,
    pub(crate) live_bytes: Option<u64>,
    pub(crate) written_bytes: Option<u64>,
    pub(crate) user_bytes: Option<u64>,
    /// Bytes written by the engine's flushes and compactions by its own count, if it keeps one
    /// (a cross-check of `written_bytes`, the process's count).
    pub(crate) engine_written_bytes: Option<u64>,
    /// After `overwrite` and a full compaction: bytes on disk.
    pub(crate) full_disk_bytes: Option<u64>,
    /// Tables that prefix filters let the workload skip, where the engine counts them.
    pub(crate) tables_skipped: Option<u64>,
    /// The engine cannot run the workload (no merge operators): left out of the report.
    pub(crate) unsupported: bool,
    /// What the workload read that it should not have (`--range-tombstones`, which reports
    /// wrong results instead of failing).
    pub(crate) wrong: Option<String>,
    /// After a read workload, what the engine held in memory, where it says (Strata).
    pub(crate) memory: Option<Memory>,
}

/// What an engine holds in memory after a read workload, by its own count, beside the process's
/// resident memory: the parts of a peak RSS the engine can name, so that the rest (allocator
/// slack, iterators, the benchmark's own buffers) shows as the gap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Memory {
    /// Bytes in use in the block cache (`Cache::size`).
    pub(crate) cache: u64,
    /// Bytes of the index blocks the open tables pin in memory (outside the cache).
    pub(crate) pinned_index: u64,
    /// Bytes of the filters (or filter indexes) the open tables pin in memory.
    pub(crate) pinned_filter: u64,
    /// Bytes of the memtables, active and sealed.
    pub(crate) memtables: u64,
    /// The process's resident memory in bytes when these were taken (`VmRSS`).
    pub(crate) rss: Option<u64>,
}

impl Memory {
    /// The bytes the engine names: cache, pinned blocks and memtables.
    pub(crate) fn accounted(&self) -> u64 {
        self.cache
            .saturating_add(self.pinned_index)
            .saturating_add(self.pinned_filter)
            .saturating_add(self.memtables)
    }

    /// The figures as JSON.
    pub(crate) fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "cache_bytes": self.cache,
            "pinned_index_bytes": self.pinned_index,
            "pinned_filter_bytes": self.pinned_filter,
            "memtable_bytes": self.memtables,
            "accounted_bytes": self.accounted(),
            "rss_bytes": self.rss,
        })
    }

    /// The figures [`Memory::to_json`] wrote.
    pub(crate) fn from_json(v: &serde_json::Value) -> Option<Self> {
        let field = |k: &str| v.get(k).and_then(serde_json::Value::as_u64);
        Some(Self {
            cache: field("cache_bytes")?,
            pinned_index: field("pinned_index_bytes")?,
            pinned_filter: field("pinned_filter_bytes")?,
            memtables: field("memtable_bytes")?,
            rss: field("rss_bytes"),
        })
    }
}

#[expect(clippy::cast_precision_loss, reason = "rates as f64")]
impl Measurement {
    pub(crate) fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub(crate) fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Keeps the p50 and p99 of the samples and drops the samples.
    pub(crate) fn summarized(mut self) -> Self {
        self.p50_ns = self.latency(0.5);
        self.p99_ns = self.latency(0.99);
        self.latencies = Vec::new();
        self
    }

    /// The latency at quantile `q` (0..=1) of the samples, nanoseconds.
    fn latency(&self, q: f64) -> Option<u64> {
        let last = self.latencies.len().checked_sub(1)?;
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "an index"
        )]
        let i = ((last as f64) * q).round() as usize;
        self.latencies.get(i.min(last)).copied()
    }

    pub(crate) fn space_amp(&self) -> Option<f64> {
        let live = self.live_bytes.filter(|&l| l > 0)?;
        Some(self.disk_bytes? as f64 / live as f64)
    }

    pub(crate) fn write_amp(&self) -> Option<f64> {
        let user = self.user_bytes.filter(|&u| u > 0)?;
        Some(self.written_bytes? as f64 / user as f64)
    }

    /// Write amplification by the engine's own count of bytes written.
    pub(crate) fn engine_write_amp(&self) -> Option<f64> {
        let user = self.user_bytes.filter(|&u| u > 0)?;
        Some(self.engine_written_bytes? as f64 / user as f64)
    }

    /// Space amplification after the full compaction.
    pub(crate) fn space_amp_full(&self) -> Option<f64> {
        let live = self.live_bytes.filter(|&l| l > 0)?;
        Some(self.full_disk_bytes? as f64 / live as f64)
    }

    /// The measurement as JSON (what a child process reports to the parent).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ops": self.ops,
            "bytes": self.bytes,
            "elapsed_ns": u64::try_from(self.elapsed.as_nanos()).unwrap_or(u64::MAX),
            "p50_ns": self.p50_ns,
            "p99_ns": self.p99_ns,
            "peak_rss": self.peak_rss,
            "disk_bytes": self.disk_bytes,
            "live_bytes": self.live_bytes,
            "written_bytes": self.written_bytes,
            "user_bytes": self.user_bytes,
            "engine_written_bytes": self.engine_written_bytes,
            "full_disk_bytes": self.full_disk_bytes,
            "tables_skipped": self.tables_skipped,
            "unsupported": self.unsupported,
            "wrong": self.wrong,
            "memory": self.memory.map(Memory::to_json),
        })
    }

    /// The measurement [`Measurement::to_json`] wrote.
    pub(crate) fn from_json(v: &serde_json::Value) -> Option<Self> {
        let opt = |k: &str| v.get(k).and_then(serde_json::Value::as_u64);
        Some(Self {
            ops: opt("ops")?,
            bytes: opt("bytes")?,
            elapsed: Duration::from_nanos(opt("elapsed_ns")?),
            latencies: Vec::new(),
            p50_ns: opt("p50_ns"),
            p99_ns: opt("p99_ns"),
            peak_rss: opt("peak_rss"),
            disk_bytes: opt("disk_bytes"),
            live_bytes: opt("live_bytes"),
            written_bytes: opt("written_bytes"),
            user_bytes: opt("user_bytes"),
            engine_written_bytes: opt("engine_written_bytes"),
            full_disk_bytes: opt("full_disk_bytes"),
            tables_skipped: opt("tables_skipped"),
            unsupported: v
                .get("unsupported")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            wrong: v
                .get("wrong")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string),
            memory: v.get("memory").and_then(Memory::from_json),
        })
    }
}

/// A deterministic generator (xorshift64*).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A pseudo-random permutation of `0..space`, computed position by position in constant memory:
/// a four-round Feistel network over the smallest even number of bits that holds `space`, walked
/// again from its output until it lands below `space` (the domain is at most four times
/// `space`, so a position takes under four walks on average).
///
/// The read workloads read their keys in this order: a list of them would take 8 bytes per read
/// in the reading process (40 MB at 5M reads, plus as much again while it was shuffled), and the
/// peak RSS of the workload, the engine's, would carry it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shuffle {
    space: u64,
    half_bits: u32,
    round_keys: [u64; 4],
}

impl Shuffle {
    pub(crate) fn new(space: u64, seed: u64) -> Self {
        let bits = u64::BITS - space.saturating_sub(1).leading_zeros();
        let mut rng = Rng::new(seed);
        Self {
            space: space.max(1),
            half_bits: bits.div_ceil(2).max(1),
            round_keys: std::array::from_fn(|_| rng.next_u64()),
        }
    }

    /// The value at position `i` (taken modulo the space).
    pub(crate) fn at(&self, i: u64) -> u64 {
        let mut x = i % self.space;
        loop {
            x = self.feistel(x);
            if x < self.space {
                return x;
            }
        }
    }

    fn feistel(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let (mut left, mut right) = (x >> self.half_bits, x & mask);
        for key in self.round_keys {
            // A splitmix64-style finalizer of the right half and the round key.
            let mut f = right ^ key;
            f = (f ^ (f >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            f = (f ^ (f >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            f ^= f >> 31;
            (left, right) = (right, left ^ (f & mask));
        }
        (left << self.half_bits) | right
    }
}

/// The keys a read workload reads, by position: a shuffle of `0..space` repeated past its end,
/// each plus `offset` (no list in memory), or an explicit list.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ReadOrder<'a> {
    Shuffled {
        len: u64,
        offset: u64,
        shuffle: Shuffle,
    },
    Listed(&'a [u64]),
}

impl ReadOrder<'_> {
    /// `len` reads over a shuffle of `0..space` seeded with `seed`, each key plus `offset`.
    pub(crate) fn shuffled(len: u64, space: u64, offset: u64, seed: u64) -> Self {
        ReadOrder::Shuffled {
            len,
            offset,
            shuffle: Shuffle::new(space, seed),
        }
    }

    pub(crate) fn len(&self) -> u64 {
        match self {
            ReadOrder::Shuffled { len, .. } => *len,
            ReadOrder::Listed(list) => list.len() as u64,
        }
    }

    /// The key index read at position `i < len`.
    pub(crate) fn at(&self, i: u64) -> u64 {
        match self {
            ReadOrder::Shuffled {
                offset, shuffle, ..
            } => shuffle.at(i) + offset,
            ReadOrder::Listed(list) => usize::try_from(i)
                .ok()
                .and_then(|i| list.get(i))
                .copied()
                .unwrap_or(0),
        }
    }
}

/// Key `i`: its decimal digits, zero-padded to `size` bytes.
pub(crate) fn key(i: u64, size: usize) -> Vec<u8> {
    let mut out = vec![b'0'; size];
    let mut rest = i;
    for slot in out.iter_mut().rev() {
        *slot = b'0' + u8::try_from(rest % 10).unwrap_or(0);
        rest /= 10;
    }
    out
}

/// A random permutation of `0..n`.
pub(crate) fn permutation(n: u64, seed: u64) -> Vec<u64> {
    let mut order: Vec<u64> = (0..n).collect();
    let mut rng = Rng::new(seed);
    for i in (1..order.len()).rev() {
        let j = usize::try_from(rng.below(i as u64 + 1)).unwrap_or(i);
        order.swap(i, j);
    }
    order
}

/// Values: windows of one buffer of random printable bytes, or of JSON-like records.
pub(crate) struct Values {
    buf: Vec<u8>,
    size: usize,
    pos: usize,
}

/// JSON-like records, as a document store holds them: the same field names in every record,
/// values drawn from small vocabularies and ranges (what makes real values compress), until
/// `len` bytes.
fn json_records(rng: &mut Rng, len: usize) -> Vec<u8> {
    const CITIES: &[&str] = &[
        "Lisbon", "Osaka", "Austin", "Lyon", "Pune", "Leeds", "Perth",
    ];
    const TAGS: &[&str] = &["new", "vip", "beta", "mobile", "web", "eu", "us", "trial"];
    const PLANS: &[&str] = &["free", "pro", "team", "enterprise"];
    let pick = |rng: &mut Rng, words: &[&'static str]| -> &'static str {
        let i = usize::try_from(rng.below(words.len() as u64)).unwrap_or(0);
        words.get(i).copied().unwrap_or("")
    };
    let mut out = String::with_capacity(len + 512);
    while out.len() < len {
        let id = rng.below(10_000_000);
        let city = pick(rng, CITIES);
        let plan = pick(rng, PLANS);
        let (tag1, tag2) = (pick(rng, TAGS), pick(rng, TAGS));
        // NB: writing to a String cannot fail.
        let _ = write!(
            out,
            "{{\"id\":{id},\"user\":\"user_{id}\",\"email\":\"user_{id}@example.com\",\"city\":\"{city}\",\"plan\":\"{plan}\",\"active\":{},\"score\":{}.{},\"tags\":[\"{tag1}\",\"{tag2}\"],\"created\":\"2026-{:02}-{:02}T{:02}:{:02}:{:02}Z\",\"visits\":{}}}",
            rng.below(2) == 0,
            rng.below(100),
            rng.below(10),
            1 + rng.below(12),
            1 + rng.below(28),
            rng.below(24),
            rng.below(60),
            rng.below(60),
            rng.below(5000),
        );
    }
    out.into_bytes()
}

impl Values {
    pub(crate) fn new(seed: u64, size: usize, json: bool) -> Self {
        let mut rng = Rng::new(seed);
        let len = (1 << 20).max(size * 2);
        let buf = if json {
            json_records(&mut rng, len)
        } else {
            (0..len)
                .map(|_| b' ' + u8::try_from(rng.below(95)).unwrap_or(b'?'))
                .collect()
        };
        Self { buf, size, pos: 0 }
    }

    pub(crate) fn next(&mut self) -> &[u8] {
        if self.pos + self.size > self.buf.len() {
            self.pos = 0;
        }
        let start = self.pos;
        self.pos += 97;
        self.buf.get(start..start + self.size).unwrap_or_default()
    }
}

/// Every 16th operation is timed on its own.
const SAMPLE_EVERY: u64 = 16;

/// Times `op` if `i` is a sample; records into `samples`.
pub(crate) fn timed<R>(i: u64, samples: &mut Vec<u64>, op: impl FnOnce() -> R) -> R {
    if i.is_multiple_of(SAMPLE_EVERY) {
        let start = Instant::now();
        let r = op();
        samples.push(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
        r
    } else {
        op()
    }
}

pub(crate) fn bar(params: &Params, label: String, total: u64) -> ProgressBar {
    if !params.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "  {msg:<28} [{bar:30}] {pos:>9}/{len:9} {per_sec:>14} {eta:>4}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(label);
    bar
}

pub(crate) fn spinner(params: &Params, label: String) -> ProgressBar {
    if !params.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("  {msg:<28} {spinner} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(label);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Writes keys in `order` (put, or delete when `delete`); returns the measurement.
pub(crate) fn write(
    engine: &dyn Engine,
    params: &Params,
    label: &str,
    order: &[u64],
    delete: bool,
) -> Result<Measurement, BoxError> {
    let mut values = Values::new(params.seed ^ 0xabcd, params.value_size, params.json_values);
    let value_len = if delete { 0 } else { params.value_size };
    timed_writes(engine, params, label, order, value_len, |k| {
        if delete {
            engine.delete(k);
        } else {
            engine.put(k, values.next());
        }
        true
    })
}

/// A u64-add merge operand of 1 for each of `key(order[i])`, then the settle; see the module
/// documentation.
pub(crate) fn merge(
    engine: &dyn Engine,
    params: &Params,
    order: &[u64],
) -> Result<Measurement, BoxError> {
    let operand = 1u64.to_le_bytes();
    timed_writes(engine, params, "mergerandom", order, operand.len(), |k| {
        engine.merge(k, &operand)
    })
}

/// Runs `write` on `key(order[i])` for each `i`, timed, then settles the database (untimed) and
/// measures what it holds and what was written. A `write` that returns `false` (the engine cannot
/// do it) ends the workload as unsupported.
fn timed_writes(
    engine: &dyn Engine,
    params: &Params,
    label: &str,
    order: &[u64],
    value_len: usize,
    mut write: impl FnMut(&[u8]) -> bool,
) -> Result<Measurement, BoxError> {
    let progress = bar(
        params,
        format!("{} {label}", engine.name()),
        order.len() as u64,
    );
    let written_before = sys::bytes_written();
    let engine_before = engine.engine_bytes_written();
    let mut samples = Vec::with_capacity(order.len() / 16 + 1);
    let started = Instant::now();
    for (n, &i) in (0u64..).zip(order) {
        let k = key(i, params.key_size);
        if !timed(n, &mut samples, || write(&k)) {
            progress.finish_and_clear();
            return Ok(Measurement {
                unsupported: true,
                ..Measurement::default()
            });
        }
        if (n + 1).is_multiple_of(1024) {
            progress.inc(1024);
        }
    }
    let phase = WritePhase {
        ops: order.len() as u64,
        value_len,
        elapsed: started.elapsed(),
        samples,
        written_before,
        engine_before,
    };
    progress.finish_and_clear();
    settle_and_measure(engine, params, phase)
}

/// A timed write phase, ready to be settled and measured.
struct WritePhase {
    ops: u64,
    value_len: usize,
    elapsed: Duration,
    /// Latency samples, unsorted.
    samples: Vec<u64>,
    /// The process's and the engine's counts of bytes written before the phase.
    written_before: Option<u64>,
    engine_before: Option<u64>,
}

/// Settles `engine` after a write phase (untimed) and measures what it holds and what was
/// written.
fn settle_and_measure(
    engine: &dyn Engine,
    params: &Params,
    phase: WritePhase,
) -> Result<Measurement, BoxError> {
    let settling = spinner(params, format!("{} settle", engine.name()));
    engine.settle()?;
    settling.finish_and_clear();
    let WritePhase {
        ops,
        value_len,
        elapsed,
        mut samples,
        written_before,
        engine_before,
    } = phase;
    let entry = (params.key_size + value_len) as u64;
    samples.sort_unstable();
    Ok(Measurement {
        ops,
        bytes: ops * entry,
        elapsed,
        latencies: samples,
        disk_bytes: Some(engine.disk_bytes()),
        written_bytes: sys::bytes_written()
            .zip(written_before)
            .map(|(after, before)| after.saturating_sub(before)),
        engine_written_bytes: engine
            .engine_bytes_written()
            .zip(engine_before)
            .map(|(after, before)| after.saturating_sub(before)),
        user_bytes: Some(ops * entry),
        ..Measurement::default()
    })
}

/// `fillsync`: synced writes of `key(order[i])` over [`FILLSYNC_THREADS`] threads, timed, then
/// settled and measured like the other write workloads.
pub(crate) fn fill_sync(
    engine: &dyn Engine,
    params: &Params,
    order: &[u64],
) -> Result<Measurement, BoxError> {
    let progress = bar(
        params,
        format!("{} fillsync", engine.name()),
        order.len() as u64,
    );
    let written_before = sys::bytes_written();
    let engine_before = engine.engine_bytes_written();
    let chunk = order.len().div_ceil(FILLSYNC_THREADS).max(1);
    let started = Instant::now();
    let parts: Vec<Result<Vec<u64>, BoxError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0u64..)
            .zip(order.chunks(chunk))
            .map(|(thread, part)| {
                let progress = &progress;
                scope.spawn(move || -> Result<Vec<u64>, BoxError> {
                    let mut values = Values::new(
                        params.seed ^ 0xabcd ^ thread,
                        params.value_size,
                        params.json_values,
                    );
                    let mut samples = Vec::with_capacity(part.len() / 16 + 1);
                    for (n, &i) in (0u64..).zip(part) {
                        let k = key(i, params.key_size);
                        if !timed(n, &mut samples, || engine.put_synced(&k, values.next())) {
                            return Err(format!(
                                "{}: fillsync needs a WAL to sync (--engine database)",
                                engine.name()
                            )
                            .into());
                        }
                        progress.inc(1);
                    }
                    Ok(samples)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a writer thread panicked".into()))
            })
            .collect()
    });
    let elapsed = started.elapsed();
    progress.finish_and_clear();
    let mut samples = Vec::new();
    for part in parts {
        samples.extend(part?);
    }
    settle_and_measure(
        engine,
        params,
        WritePhase {
            ops: order.len() as u64,
            value_len: params.value_size,
            elapsed,
            samples,
            written_before,
            engine_before,
        },
    )
}

/// Merges every table of the settled `engine` into the last level (untimed); returns its bytes
/// on disk afterwards, or `None` if the engine has no major compaction here.
pub(crate) fn compact_fully(
    engine: &dyn Engine,
    params: &Params,
    table_bytes: u64,
) -> Result<Option<u64>, BoxError> {
    let spin = spinner(params, format!("{} full compaction", engine.name()));
    let compacted = engine.compact_fully(table_bytes)?;
    spin.finish_and_clear();
    Ok(compacted.then(|| engine.disk_bytes()))
}

/// `reads` gets of `key(order[i])` over `threads` threads; `expect` says whether every key must
/// be found (`true`) or missing (`false`).
pub(crate) fn read(
    engine: &dyn Engine,
    params: &Params,
    label: &str,
    order: ReadOrder<'_>,
    expect: bool,
) -> Result<Measurement, BoxError> {
    let (m, wrong) = read_checked(engine, params, label, order, expect)?;
    match wrong {
        Some((first, others)) => Err(format!(
            "{label}: key {first} {}{}",
            if expect { "is missing" } else { "exists" },
            if others > 0 {
                format!(" (and {others} more)")
            } else {
                String::new()
            }
        )
        .into()),
        None => Ok(m),
    }
}

/// As [`read`], but a key found (or missing) against `expect` does not stop the reads: the
/// first such key and how many others there were come back beside the measurement.
pub(crate) fn read_checked(
    engine: &dyn Engine,
    params: &Params,
    label: &str,
    order: ReadOrder<'_>,
    expect: bool,
) -> Result<(Measurement, Option<(u64, u64)>), BoxError> {
    /// A reader's bytes, latency samples, first wrong key and count of wrong keys.
    type Part = (u64, Vec<u64>, Option<u64>, u64);
    let progress = bar(params, format!("{} {label}", engine.name()), order.len());
    let threads = params.threads.max(1) as u64;
    let chunk = order.len().div_ceil(threads).max(1);
    let started = Instant::now();
    let read_part = |part: std::ops::Range<u64>| -> Result<Part, BoxError> {
        let mut samples =
            Vec::with_capacity(usize::try_from(part.end - part.start).unwrap_or(0) / 16 + 1);
        let mut bytes = 0;
        let (mut first, mut wrong) = (None, 0u64);
        for (n, position) in (0u64..).zip(part) {
            let i = order.at(position);
            let k = key(i, params.key_size);
            let found = timed(n, &mut samples, || engine.get(&k))?;
            match (found, expect) {
                (Some(len), true) => bytes += (k.len() + len) as u64,
                (None, false) => bytes += k.len() as u64,
                (Some(_), false) | (None, true) => {
                    wrong += 1;
                    first.get_or_insert(i);
                }
            }
            if (n + 1).is_multiple_of(1024) {
                progress.inc(1024);
            }
        }
        Ok((bytes, samples, first, wrong))
    };
    // NB: one reader runs on the driver's own thread, as a service's long-lived thread would:
    // a thread spawned per workload gets a fresh allocator arena, and the blocks it caches then
    // leave the freed ones of the previous workload's arena resident, which the peak RSS would
    // charge to the engine.
    let results: Vec<Result<Part, BoxError>> = if threads == 1 {
        vec![read_part(0..order.len())]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..order.len())
                .step_by(usize::try_from(chunk).unwrap_or(usize::MAX))
                .map(|start| {
                    let part = start..(start + chunk).min(order.len());
                    scope.spawn(|| read_part(part))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("a reader thread panicked".into()))
                })
                .collect()
        })
    };
    let elapsed = started.elapsed();
    progress.finish_and_clear();
    let mut bytes = 0;
    let mut latencies = Vec::new();
    let (mut first, mut wrong) = (None, 0u64);
    for result in results {
        let (b, s, f, w) = result?;
        bytes += b;
        latencies.extend(s);
        if first.is_none() {
            first = f;
        }
        wrong += w;
    }
    latencies.sort_unstable();
    let m = Measurement {
        ops: order.len(),
        bytes,
        elapsed,
        latencies,
        ..Measurement::default()
    };
    Ok((m, first.map(|f| (f, wrong.saturating_sub(1)))))
}

/// A full scan; fails unless it sees exactly `expect` entries.
pub(crate) fn scan(
    engine: &dyn Engine,
    params: &Params,
    reverse: bool,
    expect: u64,
) -> Result<Measurement, BoxError> {
    let label = if reverse { "readreverse" } else { "readseq" };
    let spin = spinner(params, format!("{} {label}", engine.name()));
    let started = Instant::now();
    let (ops, bytes) = engine.scan(reverse)?;
    let elapsed = started.elapsed();
    spin.finish_and_clear();
    if ops != expect {
        return Err(format!("{label}: saw {ops} entries, expected {expect}").into());
    }
    Ok(Measurement {
        ops,
        bytes,
        elapsed,
        ..Measurement::default()
    })
}

/// `count` seeks to random keys, each reading up to `next` entries.
pub(crate) fn seek(
    engine: &dyn Engine,
    params: &Params,
    count: u64,
    next: usize,
) -> Result<Measurement, BoxError> {
    let progress = bar(params, format!("{} seekrandom", engine.name()), count);
    let mut rng = Rng::new(params.seed ^ 0x5eec);
    let mut samples = Vec::new();
    let mut entries = 0u64;
    let started = Instant::now();
    for n in 0..count {
        let k = key(rng.below(params.num), params.key_size);
        let read = timed(n, &mut samples, || engine.seek(&k, next))?;
        if read == 0 {
            return Err(format!("seekrandom: nothing at or after an existing key {n}").into());
        }
        entries += read as u64;
        if (n + 1).is_multiple_of(1024) {
            progress.inc(1024);
        }
    }
    let elapsed = started.elapsed();
    progress.finish_and_clear();
    samples.sort_unstable();
    Ok(Measurement {
        ops: count,
        bytes: entries * (params.key_size + params.value_size) as u64,
        elapsed,
        latencies: samples,
        ..Measurement::default()
    })
}

/// The length of `prefixscan`'s key prefixes.
pub(crate) const PREFIX_LEN: usize = 4;

/// How many prefixes the `prefixscan` database has (about 1000 keys each; at most 5000, so that
/// the even prefixes and the missing odd ones fit in 4 digits).
fn prefix_count(num: u64) -> u64 {
    (num / 1000).clamp(1, 5000)
}

/// Key `i` of the `prefixscan` database: the 4-digit prefix `2 * (i % prefix_count)`, then `i`.
fn prefixed_key(i: u64, params: &Params) -> Vec<u8> {
    let mut k = key(2 * (i % prefix_count(params.num)), PREFIX_LEN);
    k.extend(key(i, params.key_size.saturating_sub(PREFIX_LEN).max(8)));
    k
}

/// Fills `engine` (fresh) with the `prefixscan` database and settles it, unmeasured.
pub(crate) fn fill_prefixed(engine: &dyn Engine, params: &Params) -> Result<(), BoxError> {
    let mut values = Values::new(params.seed ^ 0xabce, params.value_size, params.json_values);
    let order = permutation(params.num, params.seed ^ 0x9f1f);
    let progress = bar(
        params,
        format!("{} prefixscan fill", engine.name()),
        order.len() as u64,
    );
    for (n, &i) in (0u64..).zip(&order) {
        engine.put(&prefixed_key(i, params), values.next());
        if (n + 1).is_multiple_of(1024) {
            progress.inc(1024);
        }
    }
    progress.finish_and_clear();
    let settling = spinner(params, format!("{} settle", engine.name()));
    engine.settle()?;
    settling.finish_and_clear();
    Ok(())
}

/// `count` prefix scans on the `prefixscan` database; see the module documentation.
pub(crate) fn prefix(
    engine: &dyn Engine,
    params: &Params,
    count: u64,
) -> Result<Measurement, BoxError> {
    let progress = bar(params, format!("{} prefixscan", engine.name()), count);
    let mut rng = Rng::new(params.seed ^ 0x9f1e);
    let prefixes = prefix_count(params.num);
    let skipped_before = engine.prefix_skips();
    let mut samples = Vec::new();
    let mut entries = 0u64;
    let started = Instant::now();
    for n in 0..count {
        let r = rng.below(prefixes);
        let missing = n % 2 == 1;
        let p = key(2 * r + u64::from(missing), PREFIX_LEN);
        let read = timed(n, &mut samples, || engine.prefix(&p))?;
        let expected = if missing {
            0
        } else {
            params.num / prefixes + u64::from(r < params.num % prefixes)
        };
        if read as u64 != expected {
            return Err(
                format!("prefixscan: {read} entries under a prefix, expected {expected}").into(),
            );
        }
        entries += read as u64;
        progress.inc(1);
    }
    let elapsed = started.elapsed();
    progress.finish_and_clear();
    samples.sort_unstable();
    Ok(Measurement {
        ops: count,
        bytes: entries * (params.key_size + params.value_size) as u64,
        elapsed,
        latencies: samples,
        tables_skipped: engine
            .prefix_skips()
            .zip(skipped_before)
            .map(|(after, before)| after.saturating_sub(before)),
        ..Measurement::default()
    })
}

/// Readers do `reads` gets of existing keys while one writer overwrites random keys.
pub(crate) fn read_while_writing(
    engine: &dyn Engine,
    params: &Params,
    order: ReadOrder<'_>,
) -> Result<Measurement, BoxError> {
    let stop = AtomicBool::new(false);
    let writes = AtomicU64::new(0);
    let result = std::thread::scope(|scope| {
        let overwriter = scope.spawn(|| {
            let mut values = Values::new(params.seed ^ 0x77, params.value_size, params.json_values);
            let mut rng = Rng::new(params.seed ^ 0x78);
            while !stop.load(Ordering::Relaxed) {
                engine.put(&key(rng.below(params.num), params.key_size), values.next());
                writes.fetch_add(1, Ordering::Relaxed);
            }
        });
        let measured = read(engine, params, "readwhilewriting", order, true);
        stop.store(true, Ordering::Relaxed);
        let _ = overwriter.join();
        measured
    });
    engine.settle()?;
    result
}
