//! The engines a benchmark drives, and the driver the trees share.
//!
//! With `--engine tree` (the default), every engine is an LSM-tree without threads of its own (Strata's `Tree`, `lsm-tree`,
//! `coordinode-lsm-tree`), so all are driven the same way (BENCH.md): writers insert with seqnos
//! from the engine's counter and rotate the memtable at 64 MiB; one flush thread writes sealed
//! memtables to tables; one compaction thread then runs leveled compaction until it has nothing to
//! do. Writers wait while four memtables are sealed or level 0 holds 20 runs (the same
//! back-pressure for every engine). [`Lsm`] is what an engine must offer; [`Driven`] adds the
//! threads and implements [`Engine`], which the workloads use. With `--engine database`, the
//! engines are databases with their own WAL and background workers (`super::database`), which
//! implement [`Engine`] directly.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A benchmark error: one line for the user.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The memtable size at which writers rotate (BENCH.md parity).
pub(crate) const MEMTABLE_BYTES: u64 = 64 << 20;
/// Sealed memtables at which writers wait for the flush thread.
const MAX_SEALED: usize = 4;
/// Level-0 runs at which writers wait for the compaction thread.
const MAX_L0_RUNS: usize = 20;

/// The settings every engine gets (BENCH.md parity settings).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) cache_bytes: u64,
    pub(crate) block_size: u32,
    pub(crate) bloom_bits: u8,
    pub(crate) l0_threshold: u8,
    pub(crate) table_bytes: u64,
    /// A fixed-length prefix extractor of this many bytes (0: none), for engines that have
    /// prefix extractors; only the `prefixscan` database sets it.
    pub(crate) prefix_len: usize,
    /// The compression of data and index blocks (`--compression`).
    pub(crate) compression: Compression,
    /// The value size and seed of the write workloads, whose values a `zstd-dict` dictionary is
    /// trained on (read only in builds with the `zstd` feature).
    #[cfg_attr(
        not(feature = "zstd"),
        expect(dead_code, reason = "only the zstd dictionary is trained on values")
    )]
    pub(crate) value_size: usize,
    #[cfg_attr(
        not(feature = "zstd"),
        expect(dead_code, reason = "only the zstd dictionary is trained on values")
    )]
    pub(crate) value_seed: u64,
    /// Whether the values are JSON-like records (`--values json`).
    #[cfg_attr(
        not(feature = "zstd"),
        expect(dead_code, reason = "only the zstd dictionary's training reads it")
    )]
    pub(crate) json_values: bool,
    /// Strata's `Config::memtable_range_tombstone_limit` (`None`: its default), raised by
    /// `--range-tombstones` so that the `memtable` placement keeps every tombstone in the active
    /// memtable, as the peers do.
    pub(crate) memtable_range_tombstones: Option<usize>,
    /// Key-value separation (`--kv-separation`): `None` keeps every value in the tables.
    pub(crate) kv_separation: Option<KvSeparation>,
    /// `--engine database`: every engine is a database with its WAL on, and plain writes are
    /// durable as this says. `None` (`--engine tree`): trees, no WAL.
    pub(crate) wal: Option<Durability>,
}

/// `--durability`: what a plain write of a database engine waits for before it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Durability {
    /// The write reached the operating system (`write(2)`): it survives a crash of the process
    /// (Strata's and fjall's `PersistMode::Buffer`, RocksDB's `sync = false`).
    Buffer,
    /// The write was synced (`fdatasync`): it survives power loss (`PersistMode::SyncData` for
    /// each write, RocksDB's `sync = true`).
    #[value(name = "syncdata")]
    SyncData,
}

impl Durability {
    /// Its `--durability` name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Buffer => "buffer",
            Self::SyncData => "syncdata",
        }
    }
}

/// The first error of writes that return nothing to the workload; `settle` reports it.
#[derive(Debug, Default)]
pub(crate) struct FirstError(Mutex<Option<String>>);

impl FirstError {
    /// Keeps the error of `result`, if it is the first.
    pub(crate) fn record<E: std::fmt::Display>(&self, result: Result<(), E>) {
        if let Err(err) = result
            && let Ok(mut slot) = self.0.lock()
        {
            slot.get_or_insert_with(|| err.to_string());
        }
    }

    /// `Err` naming `engine` if a write failed.
    pub(crate) fn check(&self, engine: &str) -> Result<(), BoxError> {
        match self.0.lock().ok().and_then(|f| f.clone()) {
            Some(err) => Err(format!("{engine}: a write failed: {err}").into()),
            None => Ok(()),
        }
    }
}

/// `--kv-separation`: every engine opened with its own `KvSeparationOptions::default()`, blob
/// compression set to `--compression` (the engines' defaults would compress blobs in builds with
/// LZ4), and the separation threshold set if `--blob-threshold` gives one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KvSeparation {
    /// `--blob-threshold`: values of at least this many bytes go to blob files (`None`: the
    /// engine's default, 1 KiB in all three).
    pub(crate) threshold: Option<u32>,
}

impl KvSeparation {
    /// An engine's `options` with the threshold set by `set_threshold` if `--blob-threshold`
    /// gives one: each engine's own options type, one rule.
    pub(crate) fn apply<T>(self, options: T, set_threshold: impl FnOnce(T, u32) -> T) -> T {
        match self.threshold {
            Some(bytes) => set_threshold(options, bytes),
            None => options,
        }
    }
}

/// `--compression`: how every engine compresses data and index blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Lz4,
    /// zstd at this level (1..=22).
    Zstd(i32),
    /// zstd at this level with a dictionary trained on the benchmark's values.
    ZstdDict(i32),
}

impl Compression {
    /// Parses `none`, `lz4`, `zstd:LEVEL` or `zstd-dict:LEVEL`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let level = |l: &str| match l.parse::<i32>() {
            Ok(level) if (1..=22).contains(&level) => Ok(level),
            _ => Err(format!("zstd level {l:?}: expected 1..=22")),
        };
        match text.split_once(':') {
            None if text == "none" => Ok(Self::None),
            None if text == "lz4" => Ok(Self::Lz4),
            None if text == "zstd" => Ok(Self::Zstd(3)),
            None if text == "zstd-dict" => Ok(Self::ZstdDict(3)),
            Some(("zstd", l)) => level(l).map(Self::Zstd),
            Some(("zstd-dict", l)) => level(l).map(Self::ZstdDict),
            _ => Err(format!(
                "unknown compression {text:?}; expected none, lz4, zstd:LEVEL or zstd-dict:LEVEL"
            )),
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::Lz4 => f.write_str("lz4"),
            Self::Zstd(level) => write!(f, "zstd:{level}"),
            Self::ZstdDict(level) => write!(f, "zstd-dict:{level}"),
        }
    }
}

/// A zstd dictionary of `size` bytes trained on the first values of the write workloads.
#[cfg(feature = "zstd")]
pub(crate) fn bench_dictionary(settings: &Settings) -> Result<strata::ZstdDictionary, BoxError> {
    let mut values = super::workloads::Values::new(
        settings.value_seed,
        settings.value_size,
        settings.json_values,
    );
    let samples: Vec<Vec<u8>> = (0..20_000).map(|_| values.next().to_vec()).collect();
    Ok(strata::compression::train_dictionary(&samples, 16 * 1024)?)
}

/// Strata's compression for `--compression`, and the dictionary it needs.
pub(crate) fn strata_compression(
    settings: &Settings,
) -> Result<(strata::CompressionType, Option<Arc<strata::ZstdDictionary>>), BoxError> {
    match settings.compression {
        Compression::None => Ok((strata::CompressionType::None, None)),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => Ok((strata::CompressionType::Lz4, None)),
        #[cfg(feature = "zstd")]
        Compression::Zstd(level) => Ok((strata::CompressionType::zstd(level), None)),
        #[cfg(feature = "zstd")]
        Compression::ZstdDict(level) => {
            let dict = Arc::new(bench_dictionary(settings)?);
            Ok((
                strata::CompressionType::zstd_dict(level, dict.id()),
                Some(dict),
            ))
        }
        #[allow(
            unreachable_patterns,
            reason = "reached only in builds without the lz4 or zstd feature"
        )]
        other => Err(format!(
            "--compression {other} needs the strata-cli cargo feature {}",
            if other == Compression::Lz4 {
                "lz4"
            } else {
                "zstd"
            }
        )
        .into()),
    }
}

impl Settings {
    pub(crate) fn describe(&self) -> String {
        let separation = match self.kv_separation {
            None => String::new(),
            Some(kv) => format!(
                "; key-value separation: each engine's KvSeparationOptions::default() (64 MiB blob files, staleness threshold 0.25, age cutoff 0.25), values of {} bytes and more in blob files, blobs compressed as the blocks",
                kv.threshold.unwrap_or(DEFAULT_BLOB_THRESHOLD)
            ),
        };
        let (wal, memtables, background) = match self.wal {
            None => (
                "no WAL".to_string(),
                format!("{} MiB memtable", MEMTABLE_BYTES >> 20),
                "one flush thread and one compaction thread per engine".to_string(),
            ),
            Some(durability) => (
                format!(
                    "WAL on, {} (fillsync: every write synced, {} writer threads)",
                    match durability {
                        Durability::Buffer => {
                            "every write handed to the OS before it returns (PersistMode::Buffer; RocksDB sync=false)"
                        }
                        Durability::SyncData => {
                            "every write synced before it returns (PersistMode::SyncData; RocksDB sync=true)"
                        }
                    },
                    super::workloads::FILLSYNC_THREADS
                ),
                format!(
                    "{} MiB memtables, a write buffer of {} MiB",
                    MEMTABLE_BYTES >> 20,
                    super::database::WRITE_BUFFER_BYTES >> 20
                ),
                format!(
                    "each database's own {} background workers (RocksDB: {} background jobs); settling flushes the memtable and waits for compaction",
                    super::database::WORKER_THREADS,
                    super::database::WORKER_THREADS
                ),
            ),
        };
        format!(
            "compression {}, {wal}, {memtables}, {} KiB blocks, bloom {} bits/key, {} MiB block cache, leveled compaction (L0 trigger {}, {} MiB tables, ratio 10); {background}{separation}",
            self.compression,
            self.block_size >> 10,
            self.bloom_bits,
            self.cache_bytes >> 20,
            self.l0_threshold,
            self.table_bytes >> 20
        )
    }
}

/// The separation threshold of `KvSeparationOptions::default()` in Strata and both peers.
pub(crate) const DEFAULT_BLOB_THRESHOLD: u32 = 1024;

/// What the driver needs from an engine. Reads are at the latest seqno.
pub(crate) trait Lsm: Send + Sync + 'static {
    /// Writes `key = value` with the next seqno; returns the active memtable's size.
    fn insert(&self, key: &[u8], value: &[u8]) -> u64;
    /// Deletes `key` with the next seqno; returns the active memtable's size.
    fn remove(&self, key: &[u8]) -> u64;
    /// Writes the merge operand `operand` for `key` with the next seqno; returns the active
    /// memtable's size, or `None` if the engine has no merge operators.
    fn merge(&self, key: &[u8], operand: &[u8]) -> Option<u64>;
    /// Seals the active memtable; `false` if it was empty.
    fn rotate(&self) -> bool;
    fn sealed_count(&self) -> usize;
    fn l0_runs(&self) -> usize;
    /// Writes the sealed memtables to tables.
    fn flush_sealed(&self) -> Result<(), BoxError>;
    /// One leveled compaction step; `false` when there was nothing to do.
    fn compact_step(&self) -> Result<bool, BoxError>;
    /// The length of `key`'s value, if it has one.
    fn get(&self, key: &[u8]) -> Result<Option<usize>, BoxError>;
    /// A full scan: (entries, bytes).
    fn scan(&self, reverse: bool) -> Result<(u64, u64), BoxError>;
    /// Seeks `from` and reads up to `n` entries: the entries read.
    fn seek(&self, from: &[u8], n: usize) -> Result<usize, BoxError>;
    /// Seeks `from` and reads up to `n` entries: their keys (to check what a seek read).
    fn seek_keys(&self, from: &[u8], n: usize) -> Result<Vec<Vec<u8>>, BoxError>;
    /// The entries whose keys start with `prefix`.
    fn prefix(&self, prefix: &[u8]) -> Result<usize, BoxError>;
    /// Tables prefix scans skipped by their prefix filters so far, if the engine counts them.
    fn prefix_skips(&self) -> Option<u64>;
    /// Deletes `[start, end)` with one range tombstone at the next seqno; returns the active
    /// memtable's size, or `None` if the engine has no range tombstones.
    fn remove_range(&self, start: &[u8], end: &[u8]) -> Option<u64>;
    /// Merges every table into the last level with GC watermark `watermark`, tables cut at
    /// `table_bytes`.
    fn major_compact(&self, table_bytes: u64, watermark: u64) -> Result<(), BoxError>;
    /// The seqno below which no read happens any more: the visible seqno (every write is
    /// visible once it returns).
    fn watermark(&self) -> u64;
    /// Bytes the engine counts as written by its flushes and compactions (tables and blob
    /// files) since it was opened, if it counts them.
    fn bytes_written(&self) -> Option<u64>;
    /// After opening a tree that holds entries (`--reopen`): moves the seqno counters past its
    /// highest seqno, so that reads see every entry and writes come after them (Strata's open
    /// does this itself; the peers' does not).
    fn resume_seqnos(&self);
    /// What the engine holds in memory by its own count, if it says.
    fn memory(&self) -> Option<super::workloads::Memory>;
}

/// Messages to the flush thread.
enum Job {
    /// A memtable was sealed.
    Flush,
    /// Flush everything, compact until done, then answer.
    Settle(mpsc::Sender<Result<(), String>>),
}

/// An engine and its flush and compaction threads.
pub(crate) struct Driven<T: Lsm> {
    name: &'static str,
    lsm: Arc<T>,
    dir: PathBuf,
    flush_tx: Mutex<Option<mpsc::Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// The first error a background thread hit.
    failed: Arc<Mutex<Option<String>>>,
}

fn compact_until_done<T: Lsm>(lsm: &T) -> Result<(), BoxError> {
    while lsm.compact_step()? {}
    Ok(())
}

impl<T: Lsm> Driven<T> {
    /// Starts the threads of `lsm`, opened at `dir` (a fresh tree, or one that holds entries:
    /// its seqno counters are moved past them first).
    pub(crate) fn start(name: &'static str, lsm: T, dir: &Path) -> Self {
        lsm.resume_seqnos();
        let lsm = Arc::new(lsm);
        let failed = Arc::new(Mutex::new(None));
        let (flush_tx, flush_rx) = mpsc::channel::<Job>();
        let (compact_tx, compact_rx) = mpsc::channel::<Job>();
        let record = |failed: &Arc<Mutex<Option<String>>>, err: &BoxError| {
            if let Ok(mut slot) = failed.lock() {
                slot.get_or_insert_with(|| err.to_string());
            }
        };
        let flusher = {
            let lsm = Arc::clone(&lsm);
            let failed = Arc::clone(&failed);
            std::thread::spawn(move || {
                while let Ok(job) = flush_rx.recv() {
                    if let Job::Settle(_) = job {
                        lsm.rotate();
                    }
                    if let Err(err) = lsm.flush_sealed() {
                        record(&failed, &err);
                    }
                    // NB: the compaction thread outlives this one; a failed send means it stopped.
                    let _ = compact_tx.send(job);
                }
            })
        };
        let compactor = {
            let lsm = Arc::clone(&lsm);
            let failed = Arc::clone(&failed);
            std::thread::spawn(move || {
                while let Ok(job) = compact_rx.recv() {
                    let result = compact_until_done(&*lsm);
                    if let Err(err) = &result {
                        record(&failed, err);
                    }
                    if let Job::Settle(done) = job {
                        let _ = done.send(result.map_err(|e| e.to_string()));
                    }
                }
            })
        };
        Self {
            name,
            lsm,
            dir: dir.to_path_buf(),
            flush_tx: Mutex::new(Some(flush_tx)),
            threads: Mutex::new(vec![flusher, compactor]),
            failed,
        }
    }

    fn send(&self, job: Job) {
        if let Ok(tx) = self.flush_tx.lock()
            && let Some(tx) = tx.as_ref()
        {
            // NB: a failed send means the flush thread stopped; `settle` reports it.
            let _ = tx.send(job);
        }
    }

    /// After a write: rotate at the memtable size, and wait while the background threads lag.
    fn after_write(&self, memtable_bytes: u64) {
        if memtable_bytes >= MEMTABLE_BYTES && self.lsm.rotate() {
            self.send(Job::Flush);
        }
        while self.lsm.sealed_count() >= MAX_SEALED || self.lsm.l0_runs() >= MAX_L0_RUNS {
            if self.failed.lock().map_or(true, |f| f.is_some()) {
                return;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

impl<T: Lsm> Drop for Driven<T> {
    fn drop(&mut self) {
        if let Ok(mut tx) = self.flush_tx.lock() {
            tx.take();
        }
        if let Ok(mut threads) = self.threads.lock() {
            for handle in threads.drain(..) {
                let _ = handle.join();
            }
        }
    }
}

/// What the workloads use.
pub(crate) trait Engine: Send + Sync {
    fn name(&self) -> &'static str;
    fn put(&self, key: &[u8], value: &[u8]);
    /// Writes `key = value` and returns once it is synced (`fillsync`); `false` if the engine
    /// has no WAL to sync.
    fn put_synced(&self, _key: &[u8], _value: &[u8]) -> bool {
        false
    }
    fn delete(&self, key: &[u8]);
    /// Writes a u64-add merge operand; `false` if the engine has no merge operators.
    fn merge(&self, _key: &[u8], _operand: &[u8]) -> bool {
        false
    }
    fn get(&self, key: &[u8]) -> Result<Option<usize>, BoxError>;
    fn scan(&self, reverse: bool) -> Result<(u64, u64), BoxError>;
    fn seek(&self, from: &[u8], n: usize) -> Result<usize, BoxError>;
    /// Seeks `from` and reads up to `n` entries: their keys, or `None` if the engine does not
    /// say (the checks of `--range-tombstones` are then skipped).
    fn seek_keys(&self, _from: &[u8], _n: usize) -> Result<Option<Vec<Vec<u8>>>, BoxError> {
        Ok(None)
    }
    fn prefix(&self, prefix: &[u8]) -> Result<usize, BoxError>;
    /// Tables prefix scans skipped by their prefix filters so far, if the engine counts them.
    fn prefix_skips(&self) -> Option<u64> {
        None
    }
    /// Deletes the keys in `[start, end)` with one range tombstone; `false` if the engine has no
    /// range tombstones.
    fn remove_range(&self, _start: &[u8], _end: &[u8]) -> bool {
        false
    }
    /// Writes the active memtable to a level-0 table, without compacting (call it on a settled
    /// database: the background threads must be idle).
    fn flush_memtable(&self) -> Result<(), BoxError> {
        Err(format!("{}: no flush of the memtable alone here", self.name()).into())
    }
    /// Merges every table into the last level with GC watermark `watermark` (0: nothing is
    /// garbage-collected), tables cut at `table_bytes` (call it on a settled database).
    fn major_compact(&self, _table_bytes: u64, _watermark: u64) -> Result<(), BoxError> {
        Err(format!("{}: no major compaction here", self.name()).into())
    }
    /// Merges every table into the last level with the visible seqno as GC watermark (so every
    /// overwritten version goes, and with key-value separation the engine's blob garbage
    /// collection runs as its major compaction runs it), tables cut at `table_bytes` (call it on
    /// a settled database). `false` if the engine has no major compaction here.
    fn compact_fully(&self, _table_bytes: u64) -> Result<bool, BoxError> {
        Ok(false)
    }
    /// Bytes the engine counts as written by its flushes and compactions since it was opened,
    /// if it counts them (beside the process's own count, which every engine gets).
    fn engine_bytes_written(&self) -> Option<u64> {
        None
    }
    /// Flushes everything and waits until compaction has nothing left to do.
    fn settle(&self) -> Result<(), BoxError>;
    /// The bytes of the engine's directory.
    fn disk_bytes(&self) -> u64;
    /// What the engine holds in memory by its own count (block cache, pinned index and filter
    /// blocks, memtables), if it says: Strata's trees and databases.
    fn memory(&self) -> Option<super::workloads::Memory> {
        None
    }
}

impl<T: Lsm> Engine for Driven<T> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn put(&self, key: &[u8], value: &[u8]) {
        let size = self.lsm.insert(key, value);
        self.after_write(size);
    }

    fn delete(&self, key: &[u8]) {
        let size = self.lsm.remove(key);
        self.after_write(size);
    }

    fn merge(&self, key: &[u8], operand: &[u8]) -> bool {
        match self.lsm.merge(key, operand) {
            Some(size) => {
                self.after_write(size);
                true
            }
            None => false,
        }
    }

    fn get(&self, key: &[u8]) -> Result<Option<usize>, BoxError> {
        self.lsm.get(key)
    }

    fn scan(&self, reverse: bool) -> Result<(u64, u64), BoxError> {
        self.lsm.scan(reverse)
    }

    fn seek(&self, from: &[u8], n: usize) -> Result<usize, BoxError> {
        self.lsm.seek(from, n)
    }

    fn seek_keys(&self, from: &[u8], n: usize) -> Result<Option<Vec<Vec<u8>>>, BoxError> {
        self.lsm.seek_keys(from, n).map(Some)
    }

    fn prefix(&self, prefix: &[u8]) -> Result<usize, BoxError> {
        self.lsm.prefix(prefix)
    }

    fn prefix_skips(&self) -> Option<u64> {
        self.lsm.prefix_skips()
    }

    fn remove_range(&self, start: &[u8], end: &[u8]) -> bool {
        match self.lsm.remove_range(start, end) {
            Some(size) => {
                self.after_write(size);
                true
            }
            None => false,
        }
    }

    fn flush_memtable(&self) -> Result<(), BoxError> {
        self.lsm.rotate();
        self.lsm.flush_sealed()
    }

    fn major_compact(&self, table_bytes: u64, watermark: u64) -> Result<(), BoxError> {
        self.lsm.major_compact(table_bytes, watermark)
    }

    fn compact_fully(&self, table_bytes: u64) -> Result<bool, BoxError> {
        self.lsm.major_compact(table_bytes, self.lsm.watermark())?;
        Ok(true)
    }

    fn engine_bytes_written(&self) -> Option<u64> {
        self.lsm.bytes_written()
    }

    fn settle(&self) -> Result<(), BoxError> {
        let (done_tx, done_rx) = mpsc::channel();
        self.send(Job::Settle(done_tx));
        let result = done_rx
            .recv()
            .map_err(|_| format!("{}: the background threads stopped", self.name))?;
        result.map_err(|e| format!("{}: {e}", self.name))?;
        if let Some(err) = self.failed.lock().ok().and_then(|f| f.clone()) {
            return Err(format!("{}: background error: {err}", self.name).into());
        }
        Ok(())
    }

    fn disk_bytes(&self) -> u64 {
        dir_bytes(&self.dir)
    }

    fn memory(&self) -> Option<super::workloads::Memory> {
        self.lsm.memory()
    }
}

/// What Strata's `tree` holds in memory: its block cache's bytes in use, the index and filter
/// blocks its tables pin, its memtables (the process's RSS is left for the caller).
pub(crate) fn strata_memory(tree: &strata::Tree) -> super::workloads::Memory {
    let (pinned_index, pinned_filter) = strata::internals::pinned_bytes(tree);
    super::workloads::Memory {
        cache: strata::internals::cache_bytes(tree),
        pinned_index,
        pinned_filter,
        memtables: strata::internals::memtable_bytes(tree),
        rss: None,
    }
}

/// The bytes of the files under `dir`: on Unix the bytes allocated to them, so that the sparse
/// tail of a preallocated write-ahead log file (Strata's and fjall's) counts only where it was
/// written; elsewhere their lengths.
#[expect(
    clippy::disallowed_methods,
    reason = "the CLI measures directories it created"
)]
pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| file_bytes(&m)),
            Err(_) => 0,
        })
        .sum()
}

/// The bytes a file takes on disk: allocated blocks on Unix (at most its length, so that block
/// rounding does not count), its length elsewhere.
fn file_bytes(meta: &std::fs::Metadata) -> u64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        meta.len().min(meta.blocks().saturating_mul(512))
    }
    #[cfg(not(unix))]
    {
        meta.len()
    }
}

/// Implements [`Lsm`] for a tree type whose API follows lsm-tree's (Strata and its peers share
/// method names). `$engine` is the struct to define, `$tree` the tree type, `$krate` the crate,
/// `$guard` its iterator item trait, `$step` one compaction step, returning whether it did
/// something, `$merge` one merge write (`None` without merge operators), `$skips` the tables
/// prefix filters skipped (`None` if not counted), `$range` one range tombstone (`None` without
/// range tombstones), `$written` the bytes flushes and compactions wrote (`None` if not counted),
/// `$memory` what the tree holds in memory (`None` if the benchmark cannot tell).
macro_rules! impl_lsm {
    ($engine:ident, $tree:ty, $krate:ident, $guard:path, $step:expr, $merge:expr, $skips:expr, $range:expr, $written:expr, $memory:expr) => {
        pub(crate) struct $engine {
            pub(crate) tree: $tree,
            pub(crate) seqno: $krate::SequenceNumberCounter,
            pub(crate) visible: $krate::SequenceNumberCounter,
            pub(crate) strategy:
                std::sync::Arc<dyn $krate::compaction::CompactionStrategy + Send + Sync>,
        }

        impl $crate::bench::engine::Lsm for $engine {
            fn insert(&self, key: &[u8], value: &[u8]) -> u64 {
                let seqno = self.seqno.next();
                let (_, size) = self.tree.insert(key, value, seqno);
                self.visible.fetch_max(seqno + 1);
                size
            }

            fn remove(&self, key: &[u8]) -> u64 {
                let seqno = self.seqno.next();
                let (_, size) = self.tree.remove(key, seqno);
                self.visible.fetch_max(seqno + 1);
                size
            }

            fn merge(&self, key: &[u8], operand: &[u8]) -> Option<u64> {
                let merge: fn(&Self, &[u8], &[u8]) -> Option<u64> = $merge;
                merge(self, key, operand)
            }

            fn prefix_skips(&self) -> Option<u64> {
                let skips: fn(&Self) -> Option<u64> = $skips;
                skips(self)
            }

            fn remove_range(&self, start: &[u8], end: &[u8]) -> Option<u64> {
                let range: fn(&Self, &[u8], &[u8]) -> Option<u64> = $range;
                range(self, start, end)
            }

            fn major_compact(
                &self,
                table_bytes: u64,
                watermark: u64,
            ) -> Result<(), $crate::bench::engine::BoxError> {
                self.tree.major_compact(table_bytes, watermark)?;
                Ok(())
            }

            fn watermark(&self) -> u64 {
                self.visible.get()
            }

            fn bytes_written(&self) -> Option<u64> {
                let written: fn(&Self) -> Option<u64> = $written;
                written(self)
            }

            fn resume_seqnos(&self) {
                if let Some(highest) = self.tree.get_highest_seqno() {
                    self.seqno.fetch_max(highest + 1);
                    self.visible.fetch_max(highest + 1);
                }
            }

            fn memory(&self) -> Option<$crate::bench::workloads::Memory> {
                let memory: fn(&Self) -> Option<$crate::bench::workloads::Memory> = $memory;
                memory(self)
            }

            fn rotate(&self) -> bool {
                self.tree.rotate_memtable().is_some()
            }

            fn sealed_count(&self) -> usize {
                self.tree.sealed_memtable_count()
            }

            fn l0_runs(&self) -> usize {
                self.tree.l0_run_count()
            }

            fn flush_sealed(&self) -> Result<(), $crate::bench::engine::BoxError> {
                let lock = self.tree.get_flush_lock();
                self.tree.flush(&lock, self.visible.get())?;
                Ok(())
            }

            fn compact_step(&self) -> Result<bool, $crate::bench::engine::BoxError> {
                let step: fn(&Self) -> Result<bool, $crate::bench::engine::BoxError> = $step;
                step(self)
            }

            fn get(&self, key: &[u8]) -> Result<Option<usize>, $crate::bench::engine::BoxError> {
                Ok(self.tree.get(key, self.visible.get())?.map(|v| v.len()))
            }

            fn scan(&self, reverse: bool) -> Result<(u64, u64), $crate::bench::engine::BoxError> {
                use $guard as _;
                let (mut n, mut bytes) = (0u64, 0u64);
                let iter = self.tree.iter(self.visible.get(), None);
                let mut count = |item: $krate::Result<($krate::Slice, $krate::Slice)>| -> Result<(), $crate::bench::engine::BoxError> {
                    let (k, v) = item?;
                    n += 1;
                    bytes += (k.len() + v.len()) as u64;
                    Ok(())
                };
                if reverse {
                    for item in iter.rev() {
                        count(item.into_inner())?;
                    }
                } else {
                    for item in iter {
                        count(item.into_inner())?;
                    }
                }
                Ok((n, bytes))
            }

            fn seek(&self, from: &[u8], n: usize) -> Result<usize, $crate::bench::engine::BoxError> {
                use $guard as _;
                let mut read = 0;
                for item in self.tree.range(from.., self.visible.get(), None).take(n) {
                    item.into_inner()?;
                    read += 1;
                }
                Ok(read)
            }

            fn seek_keys(
                &self,
                from: &[u8],
                n: usize,
            ) -> Result<Vec<Vec<u8>>, $crate::bench::engine::BoxError> {
                use $guard as _;
                let mut keys = Vec::with_capacity(n);
                for item in self.tree.range(from.., self.visible.get(), None).take(n) {
                    keys.push(item.key()?.to_vec());
                }
                Ok(keys)
            }

            fn prefix(&self, prefix: &[u8]) -> Result<usize, $crate::bench::engine::BoxError> {
                use $guard as _;
                let mut read = 0;
                for item in self.tree.prefix(prefix, self.visible.get(), None) {
                    item.into_inner()?;
                    read += 1;
                }
                Ok(read)
            }
        }
    };
}

#[cfg(feature = "compare")]
pub(crate) use impl_lsm;

impl_lsm!(
    StrataLsm,
    strata::Tree,
    strata,
    strata::Guard,
    |lsm: &StrataLsm| {
        let result = lsm.tree.compact(lsm.strategy.clone(), lsm.visible.get())?;
        Ok(result.action != strata::compaction::CompactionAction::Nothing)
    },
    |lsm: &StrataLsm, key: &[u8], operand: &[u8]| {
        let seqno = lsm.seqno.next();
        let (_, size) = lsm.tree.merge(key, operand, seqno);
        lsm.visible.fetch_max(seqno + 1);
        Some(size)
    },
    |lsm: &StrataLsm| Some(lsm.tree.prefix_filter_skip_count()),
    |lsm: &StrataLsm, start: &[u8], end: &[u8]| {
        let seqno = lsm.seqno.next();
        let size = lsm.tree.remove_range(start, end, seqno);
        lsm.visible.fetch_max(seqno + 1);
        Some(size)
    },
    // Both counters include the blob files written.
    |lsm: &StrataLsm| Some(lsm.tree.bytes_flushed() + lsm.tree.bytes_compacted()),
    |lsm: &StrataLsm| Some(strata_memory(&lsm.tree))
);

/// The little-endian u64 of the first 8 bytes of `bytes` (zero-padded): db_bench's `uint64add`
/// reads its base and operands as u64s; bases the fill workloads wrote are longer.
pub(crate) fn u64_prefix(bytes: &[u8]) -> u64 {
    let mut array = [0u8; 8];
    for (slot, byte) in array.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    u64::from_le_bytes(array)
}

/// db_bench's `uint64add` merge operator for Strata.
pub(crate) struct U64Add;

impl strata::MergeOperator for U64Add {
    fn merge(
        &self,
        _key: &[u8],
        base: Option<&[u8]>,
        operands: &[&[u8]],
    ) -> strata::Result<strata::Slice> {
        let sum = operands.iter().fold(base.map_or(0, u64_prefix), |sum, op| {
            sum.wrapping_add(u64_prefix(op))
        });
        Ok(strata::Slice::from(sum.to_le_bytes()))
    }
}

/// Opens Strata's tree at `dir` with `settings`.
pub(crate) fn open_strata(dir: &Path, settings: &Settings) -> Result<Box<dyn Engine>, BoxError> {
    use strata::config::{BlockSizePolicy, CompressionPolicy, FilterPolicy, FilterPolicyEntry};
    let (compression, dictionary) = strata_compression(settings)?;
    let seqno = strata::SequenceNumberCounter::default();
    let visible = strata::SequenceNumberCounter::default();
    let tree = strata::Config::new(dir, seqno.clone(), visible.clone())
        .use_cache(Arc::new(strata::Cache::with_capacity_bytes(
            settings.cache_bytes,
        )))
        .data_block_size_policy(BlockSizePolicy::all(settings.block_size))
        .data_block_compression_policy(CompressionPolicy::all(compression))
        .index_block_compression_policy(CompressionPolicy::all(compression))
        .zstd_dictionary(dictionary)
        .filter_policy(FilterPolicy::all(FilterPolicyEntry::Bloom(
            strata::config::BloomConstructionPolicy::BitsPerKey(f32::from(settings.bloom_bits)),
        )))
        .table_target_size(settings.table_bytes)
        .with_merge_operator(Some(Arc::new(U64Add)))
        .with_kv_separation(settings.kv_separation.map(|kv| {
            kv.apply(
                strata::KvSeparationOptions::default().compression(compression),
                strata::KvSeparationOptions::separation_threshold,
            )
        }));
    let tree = match settings.memtable_range_tombstones {
        Some(limit) => tree.memtable_range_tombstone_limit(limit),
        None => tree,
    };
    let tree = if settings.prefix_len > 0 {
        tree.prefix_extractor(Arc::new(strata::FixedPrefixExtractor::new(
            settings.prefix_len,
        )))
    } else {
        tree
    }
    .open()?;
    let strategy = Arc::new(
        strata::compaction::Leveled::default()
            .with_l0_threshold(settings.l0_threshold)
            .with_table_target_size(settings.table_bytes),
    );
    Ok(Box::new(Driven::start(
        "strata",
        StrataLsm {
            tree,
            seqno,
            visible,
            strategy,
        },
        dir,
    )))
}
