//! `strata bench`: db_bench-style workloads on a [`strata::Tree`].
//!
//! Workloads (RocksDB db_bench names): `fillseq` writes keys in order into a fresh tree,
//! `fillrandom` writes them in a random order into another fresh tree, `readrandom` reads every key
//! of the filled tree once in random order (all keys exist), `readmissing` looks up as many keys
//! that do not exist (the bloom filters answer most), `readseq` scans the filled tree forward.
//! Keys are 16 bytes (the zero-padded decimal index), values 100 pseudo-random bytes, the random
//! order comes from a fixed seed, so two runs do the same work.
//!
//! The tree is driven like its users drive it (BENCH.md): write seqnos from the counter given to
//! `Config::new`, the memtable rotated at 64 MiB, and one flush thread that writes each sealed
//! memtable to a table. Reads start after the last memtable was flushed, so they read tables
//! through a 64 MiB block cache. (Compaction arrives with its own milestone.)

#![expect(
    clippy::cast_precision_loss,
    reason = "rates and sizes are reported as f64; 52 bits of precision are plenty"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use clap::Args;
use strata::{Cache, Config, Guard, SequenceNumberCounter, Tree};

/// The memtable size at which the driver rotates, as in the parity settings of BENCH.md.
const MEMTABLE_ROTATE_BYTES: u64 = 64 << 20;

/// The block cache size, as in the parity settings of BENCH.md.
const CACHE_BYTES: u64 = 64 << 20;

const ALL_WORKLOADS: &str = "fillseq,fillrandom,readrandom,readmissing,readseq";

#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// Number of entries per workload.
    #[arg(long, default_value_t = 1_000_000)]
    num: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Comma-separated workloads to run, in order.
    #[arg(long, default_value = ALL_WORKLOADS)]
    benchmarks: String,
    /// Seed of the random key order.
    #[arg(long, default_value_t = 0x5eed)]
    seed: u64,
    /// Directory to create the trees in (default: a temporary directory, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// One workload's measurement.
struct Report {
    name: &'static str,
    ops: u64,
    elapsed: Duration,
    bytes: u64,
}

impl Report {
    fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A small deterministic generator (xorshift64*), so workloads are reproducible without a crate.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

fn key(i: u64) -> [u8; 16] {
    let mut out = [b'0'; 16];
    let mut rest = i;
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out
}

/// Values are windows of one pre-generated random buffer (as db_bench does), so the benchmark
/// measures the engine, not the generation of random bytes.
struct ValueSource {
    buf: Vec<u8>,
    size: usize,
    pos: usize,
}

impl ValueSource {
    fn new(seed: u64, size: usize) -> Self {
        let mut rng = Rng::new(seed);
        let len = (1 << 20).max(size * 2);
        let buf = (0..len)
            .map(|_| b' ' + u8::try_from(rng.below(95)).unwrap_or(b'?'))
            .collect();
        Self { buf, size, pos: 0 }
    }

    fn next(&mut self) -> &[u8] {
        if self.pos + self.size > self.buf.len() {
            self.pos = 0;
        }
        let start = self.pos;
        self.pos += 97;
        self.buf.get(start..start + self.size).unwrap_or_default()
    }
}

fn permutation(n: u64, seed: u64) -> Vec<u64> {
    let mut order: Vec<u64> = (0..n).collect();
    let mut rng = Rng::new(seed);
    for i in (1..order.len()).rev() {
        let j = usize::try_from(rng.below(i as u64 + 1)).unwrap_or(i);
        order.swap(i, j);
    }
    order
}

struct Progress {
    name: &'static str,
    total: u64,
    step: u64,
    started: Instant,
}

impl Progress {
    fn new(name: &'static str, total: u64) -> Self {
        Self {
            name,
            total,
            step: (total / 20).max(1),
            started: Instant::now(),
        }
    }

    fn tick(&self, done: u64) {
        if done.is_multiple_of(self.step) || done == self.total {
            let pct = done * 100 / self.total.max(1);
            let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
            eprint!(
                "\r  {:<11} {pct:>3}%  {done:>10}/{}  {rate:>12.0} ops/s",
                self.name, self.total
            );
            let _ = std::io::stderr().flush();
        }
    }

    fn finish(self) {
        let rate = self.total as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        eprintln!(
            "\r  {:<11} done  {:>10} ops in {:.2?}  {rate:>12.0} ops/s",
            self.name,
            self.total,
            self.started.elapsed()
        );
    }
}

fn open(dir: &Path, name: &str) -> Result<(Tree, SequenceNumberCounter), strata::Error> {
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(
        dir.join(name),
        seqno.clone(),
        SequenceNumberCounter::default(),
    )
    .use_cache(Arc::new(Cache::with_capacity_bytes(CACHE_BYTES)))
    .open()?;
    Ok((tree, seqno))
}

/// Flushes sealed memtables on its own thread, as a fjall-style driver does.
fn flush_worker(tree: &Tree, rotations: &mpsc::Receiver<()>) -> Result<(), strata::Error> {
    while rotations.recv().is_ok() {
        let lock = tree.get_flush_lock();
        tree.flush(&lock, 0)?;
    }
    Ok(())
}

fn fill(
    tree: &Tree,
    seqno: &SequenceNumberCounter,
    order: impl Iterator<Item = u64>,
    args: &BenchArgs,
    name: &'static str,
) -> Result<Report, Box<dyn std::error::Error>> {
    let mut values = ValueSource::new(args.seed ^ 0xabcd, args.value_size);
    let progress = Progress::new(name, args.num);
    let (rotated, rotations) = mpsc::channel();
    let (report, flush_result) = std::thread::scope(|scope| {
        let flusher = scope.spawn(move || flush_worker(tree, &rotations));
        let started = Instant::now();
        let mut done = 0;
        for i in order {
            let (_, memtable_bytes) = tree.insert(key(i), values.next(), seqno.next());
            if memtable_bytes >= MEMTABLE_ROTATE_BYTES && tree.rotate_memtable().is_some() {
                // NB: a send fails only if the flusher stopped on an error, reported below.
                let _ = rotated.send(());
            }
            done += 1;
            progress.tick(done);
        }
        let elapsed = started.elapsed();
        drop(rotated);
        let flush_result = flusher.join().unwrap_or_else(|_| {
            Err(strata::Error::InvalidArgument(
                "flush thread panicked".into(),
            ))
        });
        let report = Report {
            name,
            ops: done,
            elapsed,
            bytes: done * (16 + args.value_size as u64),
        };
        (report, flush_result)
    });
    progress.finish();
    flush_result?;
    // Reads start once everything is in tables.
    tree.flush_active_memtable(0)?;
    Ok(report)
}

fn read_missing(
    tree: &Tree,
    seqno: &SequenceNumberCounter,
    args: &BenchArgs,
) -> Result<Report, Box<dyn std::error::Error>> {
    let order = permutation(args.num, args.seed ^ 0x4321);
    let progress = Progress::new("readmissing", args.num);
    let read_at = seqno.get();
    let started = Instant::now();
    for (done, &i) in order.iter().enumerate() {
        if tree.get(key(args.num + i), read_at)?.is_some() {
            return Err(format!("readmissing: key {} exists", args.num + i).into());
        }
        progress.tick(done as u64 + 1);
    }
    let elapsed = started.elapsed();
    progress.finish();
    Ok(Report {
        name: "readmissing",
        ops: args.num,
        elapsed,
        bytes: args.num * 16,
    })
}

fn read_random(
    tree: &Tree,
    seqno: &SequenceNumberCounter,
    args: &BenchArgs,
) -> Result<Report, Box<dyn std::error::Error>> {
    let order = permutation(args.num, args.seed ^ 0x1234);
    let progress = Progress::new("readrandom", args.num);
    let read_at = seqno.get();
    let started = Instant::now();
    let mut bytes = 0;
    for (done, &i) in order.iter().enumerate() {
        let value = tree
            .get(key(i), read_at)?
            .ok_or_else(|| format!("readrandom: key {i} is missing"))?;
        bytes += 16 + value.len() as u64;
        progress.tick(done as u64 + 1);
    }
    let elapsed = started.elapsed();
    progress.finish();
    Ok(Report {
        name: "readrandom",
        ops: args.num,
        elapsed,
        bytes,
    })
}

fn read_seq(
    tree: &Tree,
    seqno: &SequenceNumberCounter,
    args: &BenchArgs,
) -> Result<Report, Box<dyn std::error::Error>> {
    let progress = Progress::new("readseq", args.num);
    let started = Instant::now();
    let (mut ops, mut bytes) = (0u64, 0u64);
    for item in tree.iter(seqno.get(), None) {
        let (k, v) = item.into_inner()?;
        bytes += (k.len() + v.len()) as u64;
        ops += 1;
        progress.tick(ops);
    }
    let elapsed = started.elapsed();
    progress.finish();
    if ops != args.num {
        return Err(format!("readseq saw {ops} entries, expected {}", args.num).into());
    }
    Ok(Report {
        name: "readseq",
        ops,
        elapsed,
        bytes,
    })
}

pub(crate) fn run(args: &BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let tmp;
    let dir = if let Some(dir) = &args.dir {
        dir.clone()
    } else {
        tmp = tempfile::tempdir()?;
        tmp.path().to_path_buf()
    };
    eprintln!(
        "strata bench: {} entries, 16-byte keys, {}-byte values, in {}",
        args.num,
        args.value_size,
        dir.display()
    );
    let mut reports = Vec::new();
    // The tree the read workloads use: the last one filled.
    let mut filled: Option<(Tree, SequenceNumberCounter)> = None;
    for workload in args
        .benchmarks
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
    {
        match workload {
            "fillseq" => {
                let (tree, seqno) = open(&dir, "fillseq")?;
                reports.push(fill(&tree, &seqno, 0..args.num, args, "fillseq")?);
                filled = Some((tree, seqno));
            }
            "fillrandom" => {
                let (tree, seqno) = open(&dir, "fillrandom")?;
                let order = permutation(args.num, args.seed);
                reports.push(fill(&tree, &seqno, order.into_iter(), args, "fillrandom")?);
                filled = Some((tree, seqno));
            }
            "readrandom" | "readmissing" | "readseq" => {
                if filled.is_none() {
                    let (tree, seqno) = open(&dir, "prefill")?;
                    fill(&tree, &seqno, 0..args.num, args, "prefill")?;
                    filled = Some((tree, seqno));
                }
                let Some((tree, seqno)) = &filled else {
                    unreachable!("filled just above")
                };
                reports.push(match workload {
                    "readrandom" => read_random(tree, seqno, args)?,
                    "readmissing" => read_missing(tree, seqno, args)?,
                    _ => read_seq(tree, seqno, args)?,
                });
            }
            other => {
                return Err(format!("unknown workload {other:?}; known: {ALL_WORKLOADS}").into());
            }
        }
    }
    print_table(&reports);
    Ok(())
}

fn print_table(reports: &[Report]) {
    println!();
    println!(
        "{:<12} {:>12} {:>10} {:>14} {:>10} {:>12}",
        "workload", "ops", "secs", "ops/s", "MB/s", "µs/op"
    );
    println!("{}", "-".repeat(75));
    for r in reports {
        let secs = r.elapsed.as_secs_f64();
        println!(
            "{:<12} {:>12} {:>10.3} {:>14.0} {:>10.1} {:>12.3}",
            r.name,
            r.ops,
            secs,
            r.ops_per_sec(),
            r.bytes as f64 / 1e6 / secs.max(1e-9),
            secs * 1e6 / r.ops.max(1) as f64
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sixteen_bytes_in_numeric_order() {
        assert_eq!(&key(42), b"0000000000000042");
        assert!(key(9) < key(10));
    }

    #[test]
    fn permutation_is_a_reproducible_shuffle() {
        let a = permutation(1000, 7);
        assert_eq!(a, permutation(1000, 7));
        assert_ne!(a, (0..1000).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn small_run_of_every_workload_succeeds_and_reads_back_all_keys() {
        let dir = tempfile::tempdir().unwrap();
        let args = BenchArgs {
            num: 2000,
            value_size: 100,
            benchmarks: ALL_WORKLOADS.to_string(),
            seed: 1,
            dir: Some(dir.path().to_path_buf()),
        };
        // `run` fails if readrandom misses a key or readseq sees the wrong count.
        run(&args).unwrap();
    }
}
