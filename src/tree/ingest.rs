//! Bulk ingestion: sorted entries written straight into table files, published as one run.
//!
//! 1. [`Tree::ingestion`] starts an [`Ingestion`]. Each `write*` call checks the key against the
//!    previous one through the comparator (strictly increasing, else `InvalidArgument`, and the
//!    ingestion stays usable) and hands the entry to a [`RunBuilder`], which writes it into the
//!    current table file (cut at the table target size, files created exclusively). Nothing is
//!    buffered beyond the table writer's current block.
//! 2. Entries are written with seqno 0: the ingestion's seqno is not known yet.
//! 3. [`Ingestion::finish`] holds the flush lock, flushes the active and sealed memtables, finishes
//!    and syncs the last table and the tables directory, then, under the compaction state lock
//!    and the version lock: takes the next seqno G from the write counter, chooses the level
//!    (below), opens the tables as ingested tables whose entries all read at G
//!    ([`Table::open_ingested`]), commits one edit that adds the run and records G for each
//!    table (manifest tag 9, `docs/format.md` 10.3), publishes it and raises `visible_seqno` to
//!    the counter. A read at X ≤ G does not see the ingested entries, a read at X > G sees all of
//!    them: they shadow everything written before (RocksDB's global seqno of an ingested file,
//!    which lsm-tree also uses).
//! 4. Placement: the deepest level L such that no table of levels 0..=L overlaps the ingested key
//!    range and no running compaction writes an overlapping range into any of those levels (the
//!    compaction state lock keeps new jobs out until the commit); level 0 (as the newest run)
//!    when even level 0 overlaps. The run joins the newest run of L when it is disjoint from it.
//!    Reads take the highest seqno across all sources, so the level is a matter of cost, not of
//!    correctness; keeping the newest data above anything that overlaps it keeps the planner's
//!    picture (newer above older) true.
//!
//! Failure: an ingestion dropped without `finish`, or whose `finish` failed before its edit was
//! appended, removes every file it created. An I/O error while writing poisons the tree (as a
//! flush's does) and ends the ingestion. A failed manifest append keeps the files (the edit may
//! have reached the disk); if it did not, the next open deletes them as orphans. Until the edit
//! is durable no manifest names the tables, so a crash at any point leaves the tree as it was.
//!
//! Thread safety: an `Ingestion` is one writer's (`&mut self`); other writes, reads, flushes and
//! compactions go on meanwhile. Writes to the memtable that take their seqnos after `finish` took
//! G shadow the ingested entries; a caller whose writers took seqnos before it and have not
//! written yet must finish between batches, as for every structural step.

use std::sync::Arc;

use super::handle::Tree;
use super::super_version::SuperVersion;
use crate::compaction::plan::range_of;
use crate::error::{Error, Result};
use crate::key::{InternalValue, ValueType};
use crate::key_range::KeyRange;
use crate::run_writer::RunBuilder;
use crate::slice::Slice;
use crate::table::reader::Table;
use crate::version::{LEVEL_COUNT, Version};

/// A bulk load in progress: sorted entries written straight into table files, made visible
/// together by [`Ingestion::finish`]. Start one with [`Tree::ingestion`].
///
/// Dropping it without `finish` makes nothing visible and removes the files it wrote.
///
/// ```
/// # use strata::{Config, SequenceNumberCounter};
/// # let dir = tempfile::tempdir()?;
/// let seqno = SequenceNumberCounter::default();
/// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
/// let mut ingestion = tree.ingestion()?;
/// for i in 0..100u32 {
///     ingestion.write(format!("key{i:03}"), format!("value{i}"))?;
/// }
/// ingestion.finish()?;
/// assert_eq!(tree.get("key042", seqno.get())?, Some("value42".into()));
/// # Ok::<(), strata::Error>(())
/// ```
pub struct Ingestion {
    tree: Tree,
    builder: RunBuilder,
    /// The first key written.
    first_key: Option<Slice>,
    /// The last key written: the next one must sort after it.
    last_key: Option<Slice>,
    /// A write failed with an I/O error: the files are gone and the tree is poisoned.
    failed: bool,
    /// Run by `finish` between sealing the memtable and flushing it: a `Database` keyspace
    /// syncs the WAL there, as its own flushes do, so that the flushed writes' batches (their
    /// other keyspaces' halves, the writes before them) are durable first.
    before_flush: Option<BeforeFlush>,
}

/// See [`Ingestion`]'s `before_flush`.
pub(crate) type BeforeFlush = Box<dyn FnOnce() -> Result<()> + Send + Sync>;

impl std::fmt::Debug for Ingestion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingestion")
            .field("last_key", &self.last_key)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Tree {
    /// Starts a bulk load: sorted entries written straight into table files, published together
    /// by [`Ingestion::finish`] at one new seqno, so that they shadow everything written before.
    ///
    /// # Errors
    /// `Poisoned` after an earlier failure.
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// let seqno = SequenceNumberCounter::default();
    /// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
    /// tree.insert("a", "old", seqno.next());
    /// let before = seqno.get();
    /// let mut ingestion = tree.ingestion()?;
    /// ingestion.write("a", "new")?;
    /// ingestion.write_tombstone("b")?;
    /// ingestion.finish()?;
    /// assert_eq!(tree.get("a", before)?, Some("old".into()), "older reads see the old value");
    /// assert_eq!(tree.get("a", seqno.get())?, Some("new".into()));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn ingestion(&self) -> Result<Ingestion> {
        self.0.versions.poison.check()?;
        Ok(Ingestion {
            tree: self.clone(),
            // NB: the level is chosen at `finish`; bulk loads mostly land in the last level, so
            // its table settings are used.
            builder: RunBuilder::new(LEVEL_COUNT - 1, self.0.config.table_target_size),
            first_key: None,
            last_key: None,
            failed: false,
            before_flush: None,
        })
    }
}

impl Ingestion {
    /// Runs `hook` in `finish` after the memtable is sealed and before it is flushed (see the
    /// field).
    pub(crate) fn before_flush(mut self, hook: BeforeFlush) -> Self {
        self.before_flush = Some(hook);
        self
    }

    /// Writes `key` with `value`.
    ///
    /// # Errors
    /// `InvalidArgument` if `key` does not sort after the previous key through the tree's
    /// comparator, or if the key or value is longer than `u32::MAX` bytes (the ingestion stays
    /// usable for a correct next entry); `Io` if the table file cannot be written (the tree is then
    /// poisoned and the ingestion ends: its files are removed); `Poisoned` after an earlier
    /// failure.
    ///
    /// ```
    /// # use strata::{Config, Error, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let seqno = SequenceNumberCounter::default();
    /// # let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
    /// let mut ingestion = tree.ingestion()?;
    /// ingestion.write("b", "1")?;
    /// assert!(matches!(ingestion.write("a", "2"), Err(Error::InvalidArgument(_))));
    /// assert!(matches!(ingestion.write("b", "2"), Err(Error::InvalidArgument(_))));
    /// ingestion.write("c", "3")?;
    /// ingestion.finish()?;
    /// assert_eq!(tree.len(seqno.get(), None)?, 2);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn write(&mut self, key: impl Into<Slice>, value: impl Into<Slice>) -> Result<()> {
        self.append(key.into(), value.into(), ValueType::Value)
    }

    /// Writes a tombstone for `key`: reads after the ingestion see the key as deleted.
    ///
    /// # Errors
    /// As [`Ingestion::write`].
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let seqno = SequenceNumberCounter::default();
    /// # let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
    /// tree.insert("k", "v", seqno.next());
    /// let mut ingestion = tree.ingestion()?;
    /// ingestion.write_tombstone("k")?;
    /// ingestion.finish()?;
    /// assert_eq!(tree.get("k", seqno.get())?, None);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn write_tombstone(&mut self, key: impl Into<Slice>) -> Result<()> {
        self.append(key.into(), Slice::default(), ValueType::Tombstone)
    }

    /// Writes a weak tombstone (a single delete, as [`Tree::remove_weak`]) for `key`.
    ///
    /// # Errors
    /// As [`Ingestion::write`].
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let seqno = SequenceNumberCounter::default();
    /// # let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
    /// tree.insert("k", "v", seqno.next());
    /// let mut ingestion = tree.ingestion()?;
    /// ingestion.write_weak_tombstone("k")?;
    /// ingestion.finish()?;
    /// assert_eq!(tree.get("k", seqno.get())?, None);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn write_weak_tombstone(&mut self, key: impl Into<Slice>) -> Result<()> {
        self.append(key.into(), Slice::default(), ValueType::WeakTombstone)
    }

    fn append(&mut self, key: Slice, value: Slice, value_type: ValueType) -> Result<()> {
        let inner = &self.tree.0;
        inner.versions.poison.check()?;
        if self.failed {
            return Err(Error::Poisoned);
        }
        if u32::try_from(key.len()).is_err() || u32::try_from(value.len()).is_err() {
            return Err(Error::InvalidArgument(format!(
                "ingested key or value too long: {} and {} bytes (at most u32::MAX)",
                key.len(),
                value.len()
            )));
        }
        if let Some(last) = &self.last_key
            && inner.cmp.user(last, &key).is_ge()
        {
            return Err(Error::InvalidArgument(format!(
                "ingested keys must be strictly increasing: {key:?} after {last:?}"
            )));
        }
        // NB: seqno 0 on disk; the ingestion's seqno is given to the tables at `finish`.
        let entry = InternalValue::from_components(key.clone(), value, 0, value_type);
        if let Err(err) = self.builder.add(&self.tree.run_writer(), &entry) {
            return Err(self.fail(err));
        }
        self.first_key.get_or_insert_with(|| key.clone());
        self.last_key = Some(key);
        Ok(())
    }

    /// Ends the ingestion after `err`: removes its files, and poisons the tree for an I/O error.
    fn fail(&mut self, err: Error) -> Error {
        let err = self.tree.0.versions.poison.on_io(err);
        self.builder.remove_with(self.tree.0.config.fs.as_ref());
        self.failed = true;
        err
    }

    /// Makes every entry written visible at once: flushes the active and sealed memtables, takes
    /// the next seqno from the write counter for all ingested entries (they shadow everything
    /// written before), publishes the tables as a new run at the deepest level where they overlap
    /// nothing above (else as the newest run of level 0), and raises `visible_seqno` to the
    /// counter. Durable when it returns. An ingestion with no entry does nothing.
    ///
    /// # Errors
    /// `Io` if a table, the flush or the manifest cannot be written or synced (the tree is then
    /// poisoned and nothing ingested is visible); `Poisoned` after an earlier failure.
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// let seqno = SequenceNumberCounter::default();
    /// let visible = SequenceNumberCounter::default();
    /// let tree = Config::new(&dir, seqno.clone(), visible.clone()).open()?;
    /// tree.insert("m", "memtable", seqno.next());
    /// let mut ingestion = tree.ingestion()?;
    /// ingestion.write("x", "ingested")?;
    /// ingestion.finish()?;
    /// assert_eq!(tree.sealed_memtable_count(), 0, "the memtable was flushed first");
    /// assert_eq!(visible.get(), seqno.get());
    /// assert_eq!(tree.get("x", visible.get())?, Some("ingested".into()));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn finish(mut self) -> Result<()> {
        let tree = self.tree.clone();
        tree.0.versions.poison.check()?;
        if self.failed {
            return Err(Error::Poisoned);
        }
        let (Some(first), Some(last)) = (self.first_key.clone(), self.last_key.clone()) else {
            // Nothing to ingest: still the structural operation API.md describes, the memtables
            // flushed first, then the next seqno taken and `visible_seqno` raised to the counter.
            let flush_lock = tree.get_flush_lock();
            tree.rotate_memtable();
            tree.flush(&flush_lock, 0)?;
            tree.take_structural_seqno();
            return Ok(());
        };
        let flush_lock = tree.get_flush_lock();
        tree.rotate_memtable();
        if let Some(hook) = self.before_flush.take() {
            hook()?;
        }
        tree.flush(&flush_lock, 0)?;
        let run = tree.run_writer();
        let finished = match self.builder.finish(&run) {
            Ok(finished) => finished,
            Err(err) => return Err(self.fail(err)),
        };
        tree.0
            .bytes_blobs_written
            .fetch_add(finished.blob_bytes, std::sync::atomic::Ordering::Relaxed);
        let range = KeyRange::new(first, last);
        match self.commit(&finished, &range) {
            Ok(()) => {
                self.builder.keep();
                Ok(())
            }
            Err(err) if self.failed => Err(err),
            Err(err @ Error::Io { .. }) => {
                // NB: the edit may have reached the manifest: the files stay, and the next open
                // deletes them if no manifest names them.
                self.builder.keep();
                Err(err)
            }
            Err(err) => Err(self.fail(err)),
        }
    }

    /// Takes the seqno, places the run, commits and publishes it (see the module documentation).
    /// An error before the append ends the ingestion (its files removed); an `Io` error of the
    /// append leaves the files.
    fn commit(
        &mut self,
        finished: &crate::run_writer::FinishedRun,
        range: &KeyRange,
    ) -> Result<()> {
        let paths = &finished.paths;
        let tree = self.tree.clone();
        let inner = &tree.0;
        // NB: the compaction state lock, then the version lock, as nowhere takes them the other
        // way round: no job is planned between the placement and the commit.
        let compactions = inner.compactions.lock();
        let mut lock = inner.versions.lock();
        let version = Arc::clone(lock.current());
        let level = ingest_level(&version, &compactions.writing, range, &inner.cmp);
        let seqno = inner.config.seqno.next();
        // NB: opened under the lock because the seqno is taken here (so commits keep seqno
        // order) and the level's pinning applies; it reads only footers, metas and indexes.
        let ctx = inner.table_ctx.at_level(level);
        let opened = paths
            .iter()
            .map(|path| Table::open_ingested(path, &ctx, seqno).map(Arc::new))
            .collect::<Result<Vec<_>>>();
        let tables = match opened {
            Ok(tables) => tables,
            Err(err) => return Err(self.fail(err)),
        };
        let current = inner.super_version.load_full();
        let mut edit = tree.run_edit(&version, level, &tables);
        edit.table_seqnos = tables.iter().map(|t| (t.meta().table_id, seqno)).collect();
        edit.add_blob_files = finished.blob_files.iter().map(|b| b.id()).collect();
        edit.table_blob_refs.clone_from(&finished.blob_refs);
        edit.durable_through = Some(tree.durable_through(&current));
        let next = SuperVersion {
            active: Arc::clone(&current.active),
            sealed: current.sealed.clone(),
            version: lock.log_and_apply(edit, &tables, &finished.blob_files)?,
        };
        inner.super_version.publish(&lock, next);
        inner
            .config
            .visible_seqno
            .fetch_max(inner.config.seqno.get());
        drop(compactions);
        Ok(())
    }
}

impl Drop for Ingestion {
    fn drop(&mut self) {
        // NB: after a successful `finish` the builder names no file any more.
        self.builder.remove_with(self.tree.0.config.fs.as_ref());
    }
}

/// The deepest level L such that no table of levels 0..=L overlaps `range` and no running job
/// writes an overlapping range into one of them; 0 when level 0 itself overlaps.
fn ingest_level(
    version: &Version,
    writing: &[(u64, usize, KeyRange)],
    range: &KeyRange,
    cmp: &crate::key::Comparator,
) -> usize {
    let mut fits = 0;
    for (level, contents) in version.levels.iter().enumerate() {
        let taken = contents
            .runs
            .iter()
            .flat_map(|run| run.tables().iter())
            .any(|t| range_of(t).overlaps(range, cmp))
            || writing
                .iter()
                .any(|(_, dest, r)| *dest == level && r.overlaps(range, cmp));
        if taken {
            break;
        }
        fits = level;
    }
    fits
}
