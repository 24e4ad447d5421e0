//! [`Statistics`]: the counters of a tree or a database, read as one plain snapshot.
//!
//! Counters on hot paths (block-cache hits and misses, bytes read) are sharded over a few
//! cache-line-sized slots picked per thread ([`Counter`]), so that readers on many threads do not
//! contend on one cache line; a snapshot sums the slots. Everything else is read from the
//! structures that already hold it (versions, memtables, the WAL) when the snapshot is taken.
//!
//! With the cargo feature `metrics`, [`Statistics::publish`] hands the same numbers to the
//! `metrics` crate facade (gauges named `strata_*`, labelled by block type, write kind, stall
//! cause and level), so any exporter can scrape them; a `Database` publishes after every round
//! of its workers.

use std::sync::atomic::{AtomicU64, Ordering};

/// Slots of a sharded counter.
const SHARDS: usize = 8;

/// One cache line holding a slot.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Slot(AtomicU64);

/// A counter sharded over a few cache lines; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Counter([Slot; SHARDS]);

/// The slot of the calling thread.
fn slot() -> usize {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static SLOT: usize = usize::try_from(NEXT.fetch_add(1, Ordering::Relaxed)).unwrap_or(0) % SHARDS;
    }
    SLOT.with(|s| *s)
}

impl Counter {
    /// Adds `n`.
    pub(crate) fn add(&self, n: u64) {
        if let Some(slot) = self.0.get(slot()) {
            slot.0.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The sum of every slot.
    pub(crate) fn get(&self) -> u64 {
        self.0
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .fold(0u64, u64::wrapping_add)
    }
}

/// Counts by the kind of block read through the block cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlockCounts {
    /// Data blocks.
    pub data: u64,
    /// Index blocks (and index partitions).
    pub index: u64,
    /// Filter blocks (and filter partitions).
    pub filter: u64,
    /// Values read from blob files.
    pub blob: u64,
    /// Other blocks (meta, range tombstones).
    pub other: u64,
}

impl BlockCounts {
    /// The sum over every kind.
    pub fn total(&self) -> u64 {
        self.data + self.index + self.filter + self.blob + self.other
    }

    /// Each kind with its name, as `strata stats` and the `metrics` feature label them.
    ///
    /// ```
    /// let counts = strata::BlockCounts::default();
    /// let names: Vec<_> = counts.by_kind().iter().map(|(name, _)| *name).collect();
    /// assert_eq!(names, ["data", "index", "filter", "blob", "other"]);
    /// ```
    pub fn by_kind(&self) -> [(&'static str, u64); 5] {
        [
            ("data", self.data),
            ("index", self.index),
            ("filter", self.filter),
            ("blob", self.blob),
            ("other", self.other),
        ]
    }
}

/// Bytes written, by what wrote them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteCounts {
    /// The write-ahead log (a `Database`).
    pub wal: u64,
    /// Flushes (tables and blob files).
    pub flush: u64,
    /// Compactions (tables and blob files, relocation included).
    pub compaction: u64,
    /// Of the above, the bytes written to blob files.
    pub blob: u64,
}

impl WriteCounts {
    /// Each kind with its name, as `strata stats` and the `metrics` feature label them.
    ///
    /// ```
    /// let counts = strata::WriteCounts::default();
    /// let names: Vec<_> = counts.by_kind().iter().map(|(name, _)| *name).collect();
    /// assert_eq!(names, ["wal", "flush", "compaction", "blob"]);
    /// ```
    pub fn by_kind(&self) -> [(&'static str, u64); 4] {
        [
            ("wal", self.wal),
            ("flush", self.flush),
            ("compaction", self.compaction),
            ("blob", self.blob),
        ]
    }
}

/// Bytes read from disk, by what read them. The kinds do not overlap: [`ReadCounts::total`] is
/// every byte read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadCounts {
    /// The write-ahead log (and the keyspaces' pending logs), replayed when a `Database` or a
    /// keyspace opened.
    pub wal: u64,
    /// Table blocks that point reads and scans read on block-cache misses.
    pub lookup: u64,
    /// Table blocks that compactions read from their input tables (never through the cache).
    pub compaction: u64,
    /// Blob-file records read on block-cache misses, by reads and by compactions.
    pub blob: u64,
}

impl ReadCounts {
    /// The sum over every kind.
    pub fn total(&self) -> u64 {
        self.wal + self.lookup + self.compaction + self.blob
    }

    /// Each kind with its name, as `strata stats` and the `metrics` feature label them.
    ///
    /// ```
    /// let counts = strata::ReadCounts::default();
    /// let names: Vec<_> = counts.by_kind().iter().map(|(name, _)| *name).collect();
    /// assert_eq!(names, ["wal", "lookup", "compaction", "blob"]);
    /// assert_eq!(counts.total(), 0);
    /// ```
    pub fn by_kind(&self) -> [(&'static str, u64); 4] {
        [
            ("wal", self.wal),
            ("lookup", self.lookup),
            ("compaction", self.compaction),
            ("blob", self.blob),
        ]
    }
}

/// Why writers were slowed down or stopped, with how many times and for how long.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StallCounts {
    /// Times writers waited (slowed down or stopped), every cause.
    pub count: u64,
    /// Microseconds writers spent waiting, every cause.
    pub micros: u64,
    /// The memtables together passed (7/8 of) the write-buffer budget.
    pub write_buffer: (u64, u64),
    /// A keyspace's level 0 held too many runs.
    pub l0_runs: (u64, u64),
    /// A keyspace had too many sealed memtables waiting for a flush.
    pub sealed_memtables: (u64, u64),
    /// The write-ahead log outgrew `max_journaling_size`.
    pub wal_size: (u64, u64),
}

/// Tables and bytes in one level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LevelCounts {
    /// Table files.
    pub tables: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// A snapshot of a tree's or a database's counters ([`Tree::stats`](crate::Tree::stats),
/// [`Database::stats`](crate::Database::stats)); plain numbers, cheap to take.
///
/// Block-cache and read counters belong to the cache, which trees may share: a tree's snapshot
/// shows its cache's. A database's snapshot sums its keyspaces.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let tree = strata::Config::new(&dir, Default::default(), Default::default()).open()?;
/// tree.insert("k", "v", 0);
/// tree.flush_active_memtable(0)?;
/// assert_eq!(tree.get("k", 1)?, Some("v".into()));
/// let stats = tree.stats();
/// assert_eq!(stats.flushes, 1);
/// assert!(stats.bytes_written.flush > 0);
/// assert_eq!(stats.levels[0].tables, 1);
/// assert!(stats.cache_hits.total() + stats.cache_misses.total() > 0);
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Statistics {
    /// Block-cache hits, by block kind.
    pub cache_hits: BlockCounts,
    /// Block-cache misses (each a read from disk), by block kind.
    pub cache_misses: BlockCounts,
    /// Bytes read, by kind.
    pub bytes_read: ReadCounts,
    /// Bytes written, by kind.
    pub bytes_written: WriteCounts,
    /// Flushes run.
    pub flushes: u64,
    /// Microseconds spent in flushes.
    pub flush_micros: u64,
    /// Compaction steps that merged, moved or dropped tables.
    pub compactions: u64,
    /// Microseconds spent in compaction steps.
    pub compaction_micros: u64,
    /// Write stalls (a `Database`; zero for a `Tree`, which never stalls its caller).
    pub write_stalls: StallCounts,
    /// Range-tombstone fragments live in tables, and range tombstones in memtables.
    pub range_tombstones: u64,
    /// Per level (7), its tables and bytes.
    pub levels: Vec<LevelCounts>,
    /// Bytes in the memtables (active and sealed).
    pub memtable_bytes: u64,
    /// Live write-ahead-log segments (a `Database`).
    pub wal_segments: u64,
    /// Their bytes.
    pub wal_bytes: u64,
}

impl Statistics {
    /// Adds `other`'s flush counts to these: the table bytes its flushes wrote, the blob-file
    /// bytes it wrote, and the flushes' number and microseconds.
    pub(crate) fn absorb_flushes(&mut self, other: &Self) {
        self.bytes_written.flush += other.bytes_written.flush;
        self.bytes_written.blob += other.bytes_written.blob;
        self.flushes += other.flushes;
        self.flush_micros += other.flush_micros;
    }

    /// Adds `other`'s counts to these (a database sums its keyspaces; cache counts are not
    /// summed, since the keyspaces share one cache).
    pub(crate) fn absorb(&mut self, other: &Self) {
        self.absorb_flushes(other);
        self.bytes_written.compaction += other.bytes_written.compaction;
        self.compactions += other.compactions;
        self.compaction_micros += other.compaction_micros;
        self.range_tombstones += other.range_tombstones;
        self.memtable_bytes += other.memtable_bytes;
        if self.levels.len() < other.levels.len() {
            self.levels
                .resize(other.levels.len(), LevelCounts::default());
        }
        for (mine, theirs) in self.levels.iter_mut().zip(&other.levels) {
            mine.tables += theirs.tables;
            mine.bytes += theirs.bytes;
        }
    }

    /// Publishes every counter through the `metrics` crate facade, as gauges named
    /// `strata_<name>` with `prefix` as the label `db` (feature `metrics`).
    #[cfg(feature = "metrics")]
    #[expect(clippy::cast_precision_loss, reason = "gauges are f64")]
    pub fn publish(&self, prefix: &str) {
        let db = prefix.to_string();
        let blocks = |name: &'static str, counts: &BlockCounts| {
            for (kind, value) in counts.by_kind() {
                metrics::gauge!(name, "db" => db.clone(), "block" => kind).set(value as f64);
            }
        };
        blocks("strata_cache_hits", &self.cache_hits);
        blocks("strata_cache_misses", &self.cache_misses);
        for (name, counts) in [
            ("strata_bytes_read", self.bytes_read.by_kind()),
            ("strata_bytes_written", self.bytes_written.by_kind()),
        ] {
            for (kind, value) in counts {
                metrics::gauge!(name, "db" => db.clone(), "kind" => kind).set(value as f64);
            }
        }
        let s = &self.write_stalls;
        for (cause, (count, micros)) in [
            ("write_buffer", s.write_buffer),
            ("l0_runs", s.l0_runs),
            ("sealed_memtables", s.sealed_memtables),
            ("wal_size", s.wal_size),
        ] {
            metrics::gauge!("strata_write_stalls", "db" => db.clone(), "cause" => cause)
                .set(count as f64);
            metrics::gauge!("strata_write_stall_micros", "db" => db.clone(), "cause" => cause)
                .set(micros as f64);
        }
        for (level, counts) in self.levels.iter().enumerate() {
            let level = level.to_string();
            metrics::gauge!("strata_level_tables", "db" => db.clone(), "level" => level.clone())
                .set(counts.tables as f64);
            metrics::gauge!("strata_level_bytes", "db" => db.clone(), "level" => level)
                .set(counts.bytes as f64);
        }
        for (name, value) in [
            ("strata_flushes", self.flushes),
            ("strata_flush_micros", self.flush_micros),
            ("strata_compactions", self.compactions),
            ("strata_compaction_micros", self.compaction_micros),
            ("strata_range_tombstones", self.range_tombstones),
            ("strata_memtable_bytes", self.memtable_bytes),
            ("strata_wal_segments", self.wal_segments),
            ("strata_wal_bytes", self.wal_bytes),
        ] {
            metrics::gauge!(name, "db" => db.clone()).set(value as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sharded_counter_sums_every_thread() {
        let counter = std::sync::Arc::new(Counter::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = std::sync::Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        counter.add(2);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.get(), 8000);
    }
}
