//! The tree handle, its opening, the SuperVersion and rotation.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::super_version::{Published, SuperVersion};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::fs::FsLock;
use crate::key::Comparator;
use crate::layout;
use crate::memtable::Memtable;
use crate::seqno::SeqNo;
use crate::table::reader::{Table, TableContext};
use crate::version::LEVEL_COUNT;
use crate::version::recovery::recover;
use crate::version::set::VersionSet;

pub(crate) struct TreeInner {
    /// Unique among the trees opened in this process (`Tree::id`).
    pub(crate) id: super::introspection::TreeId,
    pub(crate) config: Config,
    pub(crate) cmp: Comparator,
    /// The SuperVersion readers load, and the history kept for reads at older seqnos.
    pub(crate) super_version: Published,
    /// The current version, the manifest, file numbers, the poison state, obsolete files and the
    /// version lock.
    pub(crate) versions: VersionSet,
    /// The tables running compactions hold.
    pub(crate) compactions: parking_lot::Mutex<crate::compaction::plan::CompactionState>,
    /// Signalled whenever a compaction or a `drop_range` ends (others wait for their tables).
    pub(crate) compaction_done: parking_lot::Condvar,
    /// Bytes written by flushes.
    pub(crate) bytes_flushed: AtomicU64,
    /// Bytes written by compactions.
    pub(crate) bytes_compacted: AtomicU64,
    /// Tables that prefix scans left out because their filter ruled the prefix out.
    pub(crate) prefix_filter_skips: AtomicU64,
    /// Serializes flushes (`get_flush_lock`).
    pub(crate) flush_lock: std::sync::Mutex<()>,
    /// What table readers need.
    pub(crate) table_ctx: TableContext,
    /// `<path>/tables`.
    pub(crate) tables_dir: PathBuf,
    /// `<path>/blobs`.
    pub(crate) blobs_dir: PathBuf,
    /// Bytes written to blob files (flushes, compactions, relocation, ingestion).
    pub(crate) bytes_blobs_written: AtomicU64,
    /// Flushes and compaction steps run, and the microseconds they took.
    pub(crate) flushes: AtomicU64,
    pub(crate) flush_micros: AtomicU64,
    pub(crate) compactions_run: AtomicU64,
    pub(crate) compaction_micros: AtomicU64,
    /// Holds the directory's exclusive lock until the last handle drops.
    _lock: Box<dyn FsLock>,
}

impl Drop for TreeInner {
    fn drop(&mut self) {
        // A closed tree writes no more: the memory kept for its next memtable (and its own
        // memtables', freed below) need not stay resident.
        crate::memtable::arena::release_pooled_segments();
        // The files of tables only old SuperVersions held go now, not at the next open.
        self.super_version.release_all(SuperVersion {
            active: Arc::new(Memtable::with_comparator(self.cmp.clone())),
            sealed: Vec::new(),
            version: Arc::default(),
        });
        self.versions.obsolete.purge();
    }
}

impl Config {
    /// Creates or opens the tree.
    ///
    /// The tree holds an exclusive lock on its directory until its last handle drops.
    ///
    /// # Errors
    /// [`Error::Locked`](crate::Error::Locked) if another handle holds the directory;
    /// [`Error::Io`](crate::Error::Io) if the directory cannot be created or locked.
    pub fn open(self) -> crate::Result<Tree> {
        Tree::open(self)
    }
}

/// A log-structured merge tree: a sorted, versioned key-value map.
///
/// `Tree` is a cheap handle (`Clone`), `Send + Sync`. Every write carries a seqno; every read
/// names the seqno it reads at and sees exactly the writes with lower seqnos.
///
/// ```
/// use strata::{Config, Guard, SequenceNumberCounter};
///
/// # let dir = tempfile::tempdir()?;
/// let seqno = SequenceNumberCounter::default();
/// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
/// tree.insert("apple", "red", seqno.next());
/// tree.insert("banana", "yellow", seqno.next());
/// tree.remove("apple", seqno.next());
///
/// assert_eq!(tree.get("apple", 1)?, Some("red".into()));
/// assert_eq!(tree.get("apple", SequenceNumberCounter::default().get())?, None);
/// assert!(tree.get("apple", seqno.get())?.is_none());
/// let keys: Vec<_> = tree.iter(seqno.get(), None).map(|g| g.key().unwrap()).collect();
/// assert_eq!(keys, ["banana"]);
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Clone)]
pub struct Tree(pub(crate) Arc<TreeInner>);

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree")
            .field("path", &self.0.config.path)
            .field("sealed_memtables", &self.sealed_memtable_count())
            .finish_non_exhaustive()
    }
}

/// Compatibility marker for code written against `lsm-tree`, whose tree methods live on a trait
/// of this name: `use strata::AbstractTree;` keeps compiling. Strata's methods are inherent on
/// [`Tree`]; the trait adds nothing.
pub trait AbstractTree {}

impl AbstractTree for Tree {}

impl Tree {
    pub(crate) fn open(config: Config) -> Result<Self> {
        #[cfg(feature = "zstd")]
        config.check_zstd_dictionary()?;
        let path = config.path.clone();
        let fs = Arc::clone(&config.fs);
        fs.create_dir(&path)
            .map_err(|e| Error::io("create directory", Some(path.clone()), e))?;
        let lock_path = path.join(layout::LOCK);
        let lock = match fs.lock(&lock_path) {
            Ok(lock) => lock,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(Error::Locked);
            }
            Err(e) => return Err(Error::io("lock", Some(lock_path), e)),
        };
        let tables_dir = path.join(layout::TABLES_FOLDER);
        fs.create_dir(&tables_dir)
            .map_err(|e| Error::io("create directory", Some(tables_dir.clone()), e))?;
        let blobs_dir = path.join(layout::BLOBS_FOLDER);
        fs.create_dir(&blobs_dir)
            .map_err(|e| Error::io("create directory", Some(blobs_dir.clone()), e))?;
        // Make both directories' entries durable before anything in them counts.
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => std::path::Path::new("."),
        };
        for dir in [parent, path.as_path()] {
            fs.sync_dir(dir)
                .map_err(|e| Error::io("fsync directory", Some(dir.to_path_buf()), e))?;
        }
        let cmp = Comparator::new(Arc::clone(&config.comparator));
        let table_ctx = TableContext {
            fs: Arc::clone(&config.fs),
            cache: Arc::clone(&config.cache),
            descriptors: config.descriptor_table.clone(),
            cmp: cmp.clone(),
            pin_index: config.index_pinning.get(0),
            pin_filter: config.filter_pinning.get(0),
            level_pins: (0..LEVEL_COUNT)
                .map(|level| {
                    (
                        config.index_pinning.get(level),
                        config.filter_pinning.get(level),
                    )
                })
                .collect(),
            dictionary: config.zstd_dictionary.clone(),
            encryption: config.encryption.clone(),
        };
        let recovered = recover(&config, &tables_dir, &table_ctx)?;
        if let Some(highest) = recovered.highest_seqno {
            // Writes and reads continue after everything recovered.
            config.seqno.fetch_max(highest.saturating_add(1));
            config.visible_seqno.fetch_max(highest.saturating_add(1));
        }
        let version = Arc::new(recovered.version.clone());
        let versions = VersionSet::new(
            Arc::clone(&config.fs),
            &path,
            cmp.name(),
            config.manifest_rewrite_bytes,
            recovered,
        );
        let super_version = SuperVersion {
            active: Arc::new(Memtable::with_comparator(cmp.clone())),
            sealed: Vec::new(),
            version,
        };
        Ok(Self(Arc::new(TreeInner {
            id: super::introspection::next_tree_id(),
            config,
            cmp,
            super_version: Published::new(super_version),
            versions,
            flush_lock: std::sync::Mutex::new(()),
            compactions: parking_lot::Mutex::new(
                crate::compaction::plan::CompactionState::default(),
            ),
            compaction_done: parking_lot::Condvar::new(),
            bytes_flushed: AtomicU64::new(0),
            bytes_compacted: AtomicU64::new(0),
            prefix_filter_skips: AtomicU64::new(0),
            table_ctx,
            tables_dir,
            blobs_dir,
            bytes_blobs_written: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            flush_micros: AtomicU64::new(0),
            compactions_run: AtomicU64::new(0),
            compaction_micros: AtomicU64::new(0),
            _lock: lock,
        })))
    }

    /// The current SuperVersion.
    pub(crate) fn super_version(&self) -> Arc<SuperVersion> {
        self.0.super_version.load_full()
    }

    /// Publishes a SuperVersion that changes what reads see (see `super_version`).
    pub(crate) fn publish_changing(
        &self,
        lock: &crate::version::set::VersionLock<'_>,
        before: Arc<SuperVersion>,
        next: SuperVersion,
    ) {
        let config = &self.0.config;
        self.0.super_version.publish_changing(
            lock,
            before,
            next,
            config.seqno.as_ref(),
            config.visible_seqno.as_ref(),
        );
    }

    /// The seqno step of a structural operation that changes nothing reads see (an empty
    /// ingestion): the next seqno taken from the write counter, then `visible_seqno` raised to
    /// the counter, as [`Tree::publish_changing`] does for a change reads see. Flushes and
    /// compactions that change nothing reads see do not take it: they run beside writers (a
    /// background flush thread), and raising the visible seqno there would publish a batch a
    /// writer has begun and not finished (see docs/design.md, "Where the code differs").
    pub(crate) fn take_structural_seqno(&self) {
        let config = &self.0.config;
        let _ = config.seqno.next();
        config.visible_seqno.fetch_max(config.seqno.get());
    }

    /// Lets go of what only reads below `watermark` could need, and deletes the files whose
    /// last reader went.
    pub(crate) fn release_below(&self, watermark: SeqNo) {
        self.0
            .super_version
            .release_below(&self.0.versions, watermark);
    }

    /// The durable-through seqno the tree's manifest records: every write with a lower seqno is
    /// in a table (a write-ahead log above the tree replays from it).
    pub(crate) fn durable_through_seqno(&self) -> Option<SeqNo> {
        self.0.versions.lock().durable_through()
    }

    /// The lowest seqno held by a memtable (active or sealed), if any holds an entry.
    pub(crate) fn lowest_memtable_seqno(&self) -> Option<SeqNo> {
        self.0.super_version.load().lowest_memtable_seqno()
    }

    /// The bytes of the active and sealed memtables.
    pub(crate) fn memtable_bytes(&self) -> u64 {
        self.0
            .super_version
            .load()
            .memtables()
            .map(|m| m.size())
            .sum()
    }

    /// The memtable that takes writes now.
    pub fn active_memtable(&self) -> Arc<Memtable> {
        Arc::clone(&self.0.super_version.load().active)
    }

    /// Seals the active memtable and starts a new one. Returns the sealed memtable, or `None` if
    /// the active memtable was empty (nothing to seal).
    ///
    /// Sealed memtables stay readable (newest first, after the active one) until a flush writes
    /// them to tables.
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default()).open()?;
    /// assert!(tree.rotate_memtable().is_none());
    /// tree.insert("a", "1", 0);
    /// let sealed = tree.rotate_memtable().unwrap();
    /// assert_eq!(sealed.len(), 1);
    /// assert_eq!(tree.sealed_memtable_count(), 1);
    /// assert_eq!(tree.get("a", 1)?, Some("1".into()));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn rotate_memtable(&self) -> Option<Arc<Memtable>> {
        let lock = self.0.versions.lock();
        self.0
            .super_version
            .rotate(&lock, || Memtable::with_comparator(self.0.cmp.clone()))
    }

    /// Rotates the active memtable if it holds at least `limit` range tombstones (a concurrent
    /// writer may have rotated it already).
    pub(crate) fn rotate_memtable_if_range_tombstones(&self, limit: usize) {
        if self.0.super_version.load().active.range_tombstone_count() >= limit {
            let _ = self.rotate_memtable();
        }
    }

    /// The number of sealed memtables waiting for a flush.
    pub fn sealed_memtable_count(&self) -> usize {
        self.0.super_version.load().sealed.len()
    }

    /// The approximate number of entries (versions and tombstones included) in the tree.
    pub fn approximate_len(&self) -> usize {
        let super_version = self.0.super_version.load();
        let in_memory = super_version
            .memtables()
            .fold(0usize, |sum, m| sum.saturating_add(m.len()));
        let on_disk = super_version
            .version
            .tables()
            .fold(0u64, |sum, t| sum.saturating_add(t.meta().entry_count));
        in_memory.saturating_add(usize::try_from(on_disk).unwrap_or(usize::MAX))
    }

    /// The highest seqno written to the tree, if any.
    pub fn get_highest_seqno(&self) -> Option<SeqNo> {
        self.get_highest_memtable_seqno()
            .max(self.get_highest_persisted_seqno())
    }

    /// The saturating sum of `f` over the current version's tables (counts read from disk are
    /// bounded, but a sum of many must still never overflow).
    fn sum_over_tables(&self, f: impl Fn(&Table) -> u64) -> u64 {
        self.0
            .super_version
            .load()
            .version
            .tables()
            .fold(0u64, |sum, t| sum.saturating_add(f(t)))
    }

    /// The highest seqno in the tables, if any.
    pub fn get_highest_persisted_seqno(&self) -> Option<SeqNo> {
        self.0
            .super_version
            .load()
            .version
            .tables()
            .map(|t| t.meta().seqno_max)
            .max()
    }

    /// The id the next table will get. Table ids start at 0 in a new tree, are never reused,
    /// and the counter survives a reopen unchanged.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = strata::Config::new(&dir, Default::default(), Default::default()).open()?;
    /// let next = tree.next_table_id();
    /// tree.insert("a", "1", 0);
    /// tree.flush_active_memtable(0)?;
    /// assert!(tree.next_table_id() > next);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn next_table_id(&self) -> u64 {
        self.0.versions.files.peek()
    }

    /// The number of table files.
    pub fn table_count(&self) -> usize {
        self.0.super_version.load().version.tables().count()
    }

    /// The number of tables in `level`, or `None` past the last level.
    pub fn level_table_count(&self, level: usize) -> Option<usize> {
        let super_version = self.0.super_version.load();
        let level = super_version.version.levels.get(level)?;
        Some(level.runs.iter().map(|run| run.tables().len()).sum())
    }

    /// The number of runs in level 0.
    pub fn l0_run_count(&self) -> usize {
        self.0
            .super_version
            .load()
            .version
            .levels
            .first()
            .map_or(0, |level| level.runs.len())
    }

    /// The bytes of the table files and blob files of the current version.
    pub fn disk_space(&self) -> u64 {
        let blobs: u64 = self
            .0
            .super_version
            .load()
            .version
            .blob_files
            .values()
            .map(|b| b.file_size())
            .sum();
        self.sum_over_tables(Table::file_size).saturating_add(blobs)
    }

    /// A snapshot of the tree's counters; see [`Statistics`](crate::Statistics).
    pub fn stats(&self) -> crate::Statistics {
        let inner = &self.0;
        let (cache_hits, cache_misses, bytes_read) = inner.config.cache.counts();
        let super_version = inner.super_version.load();
        let version = &super_version.version;
        let levels = version
            .levels
            .iter()
            .map(|level| {
                let mut counts = crate::stats::LevelCounts::default();
                for table in level.runs.iter().flat_map(|run| run.tables()) {
                    counts.tables += 1;
                    counts.bytes += table.file_size();
                }
                counts
            })
            .collect();
        let range_tombstones = version.range_tombstones().map_or(0, |l| l.len() as u64)
            + super_version
                .memtables()
                .map(|m| m.range_tombstone_count() as u64)
                .sum::<u64>();
        let mut stats = crate::Statistics {
            cache_hits,
            cache_misses,
            bytes_read,
            flushes: inner.flushes.load(Ordering::Relaxed),
            flush_micros: inner.flush_micros.load(Ordering::Relaxed),
            compactions: inner.compactions_run.load(Ordering::Relaxed),
            compaction_micros: inner.compaction_micros.load(Ordering::Relaxed),
            range_tombstones,
            levels,
            memtable_bytes: super_version.memtables().map(|m| m.size()).sum(),
            ..crate::Statistics::default()
        };
        stats.bytes_written.flush = inner.bytes_flushed.load(Ordering::Relaxed);
        stats.bytes_written.compaction = inner.bytes_compacted.load(Ordering::Relaxed);
        stats.bytes_written.blob = inner.bytes_blobs_written.load(Ordering::Relaxed);
        stats
    }

    /// The number of blob files (key-value separation) in the current version.
    ///
    /// ```
    /// use strata::{Config, KvSeparationOptions, SequenceNumberCounter};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let seqno = SequenceNumberCounter::default();
    /// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default())
    ///     .with_kv_separation(Some(KvSeparationOptions::default()))
    ///     .open()?;
    /// tree.insert("doc", vec![b'x'; 4096], seqno.next());
    /// tree.flush_active_memtable(0)?;
    /// assert_eq!(tree.blob_file_count(), 1);
    /// tree.remove("doc", seqno.next());
    /// tree.flush_active_memtable(0)?;
    /// tree.major_compact(64 << 20, seqno.get())?;
    /// assert_eq!(tree.blob_file_count(), 0, "no table points into it: it is gone");
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn blob_file_count(&self) -> usize {
        self.0.super_version.load().version.blob_files.len()
    }

    /// The bytes of blob-file records that no table of the current version points to: garbage
    /// that relocation or the drop of whole files gives back.
    ///
    /// ```
    /// use strata::{CompressionType, Config, KvSeparationOptions, SequenceNumberCounter};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let seqno = SequenceNumberCounter::default();
    /// let options = KvSeparationOptions::default()
    ///     .staleness_threshold(0.9)
    ///     .compression(CompressionType::None);
    /// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default())
    ///     .with_kv_separation(Some(options))
    ///     .open()?;
    /// tree.insert("a", vec![1u8; 4096], seqno.next());
    /// tree.insert("b", vec![2u8; 4096], seqno.next());
    /// tree.flush_active_memtable(0)?;
    /// assert_eq!(tree.stale_blob_bytes(), 0);
    /// tree.remove("a", seqno.next());
    /// tree.flush_active_memtable(0)?;
    /// tree.major_compact(64 << 20, seqno.get())?;
    /// assert!(tree.stale_blob_bytes() >= 4096, "a's value is garbage now");
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn stale_blob_bytes(&self) -> u64 {
        self.0.super_version.load().version.stale_blob_bytes()
    }

    /// Bytes written to blob files (by flushes, compactions, relocation and ingestion) since the
    /// tree was opened.
    pub fn bytes_blobs_written(&self) -> u64 {
        self.0.bytes_blobs_written.load(Ordering::Relaxed)
    }

    /// The bytes of the tables' bloom filters.
    pub fn filter_size(&self) -> u64 {
        self.sum_over_tables(Table::filter_size)
    }

    /// The number of tombstones in the tables.
    pub fn tombstone_count(&self) -> u64 {
        self.sum_over_tables(|t| t.meta().tombstone_count)
    }

    /// Bytes written to table and blob files by flushes since the tree was opened.
    pub fn bytes_flushed(&self) -> u64 {
        self.0.bytes_flushed.load(Ordering::Relaxed)
    }

    /// Bytes written to table and blob files by compactions (relocation included) since the
    /// tree was opened.
    pub fn bytes_compacted(&self) -> u64 {
        self.0.bytes_compacted.load(Ordering::Relaxed)
    }

    /// Tables that [`prefix`](Tree::prefix) and [`contains_prefix`](Tree::contains_prefix) scans
    /// left out since the tree was opened, because their filter ruled the scan's prefix out (a
    /// table is counted once per scan that skips it). Stays 0 without a
    /// [prefix extractor](crate::Config::prefix_extractor).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use strata::{Config, FixedPrefixExtractor, SequenceNumberCounter};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default())
    ///     .prefix_extractor(Arc::new(FixedPrefixExtractor::new(2)))
    ///     .open()?;
    /// tree.insert("aa1", "", 0);
    /// tree.insert("ac1", "", 1);
    /// tree.flush_active_memtable(0)?;
    /// // "ab" lies inside the table's key range, but its filter rules the prefix out.
    /// assert_eq!(tree.prefix("ab", 2, None).count(), 0);
    /// assert_eq!(tree.prefix_filter_skip_count(), 1);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn prefix_filter_skip_count(&self) -> u64 {
        self.0.prefix_filter_skips.load(Ordering::Relaxed)
    }

    /// Write amplification since the tree was opened: bytes written to table files by flushes
    /// and compactions, divided by the bytes flushed (1.0 before any flush).
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default()).open()?;
    /// tree.insert("k", "v", 0);
    /// tree.flush_active_memtable(0)?;
    /// assert_eq!(tree.write_amplification(), 1.0);
    /// tree.major_compact(64 << 20, 0)?;
    /// assert!(tree.write_amplification() > 1.9);
    /// # Ok::<(), strata::Error>(())
    /// ```
    #[expect(clippy::cast_precision_loss, reason = "a ratio")]
    pub fn write_amplification(&self) -> f64 {
        let flushed = self.bytes_flushed();
        if flushed == 0 {
            return 1.0;
        }
        (flushed + self.bytes_compacted()) as f64 / flushed as f64
    }

    /// The number of weak tombstones in the tables that sit directly above a value of their key,
    /// so that a compaction can cancel the pair.
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default()).open()?;
    /// tree.insert("a", "1", 0);
    /// tree.remove_weak("a", 1);
    /// tree.remove_weak("b", 2);
    /// tree.flush_active_memtable(0)?;
    /// assert_eq!(tree.weak_tombstone_count(), 2);
    /// assert_eq!(tree.weak_tombstone_reclaimable_count(), 1);
    /// tree.major_compact(64 << 20, 3)?;
    /// assert_eq!(tree.weak_tombstone_count(), 0);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn weak_tombstone_reclaimable_count(&self) -> u64 {
        self.sum_over_tables(|t| t.meta().weak_tombstone_reclaimable)
    }

    /// The number of weak tombstones in the tables.
    pub fn weak_tombstone_count(&self) -> u64 {
        self.sum_over_tables(|t| t.meta().weak_tombstone_count)
    }

    /// The highest seqno in the active or sealed memtables, if any.
    pub fn get_highest_memtable_seqno(&self) -> Option<SeqNo> {
        self.0.super_version.load().highest_memtable_seqno()
    }

    /// The tree's directory.
    pub fn path(&self) -> &std::path::Path {
        &self.0.config.path
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, Error, SequenceNumberCounter};

    #[test]
    fn second_open_of_a_directory_is_refused_until_the_first_closes() {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            Config::new(
                dir.path(),
                SequenceNumberCounter::default(),
                SequenceNumberCounter::default(),
            )
            .open()
        };
        let tree = open().unwrap();
        let clone = tree.clone();
        assert!(matches!(open(), Err(Error::Locked)));
        drop(tree);
        assert!(
            matches!(open(), Err(Error::Locked)),
            "a clone still holds the lock"
        );
        drop(clone);
        assert!(open().is_ok());
    }

    #[test]
    fn tree_is_send_sync_and_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<crate::Tree>();
    }
}
