//! Flush: sealed memtables become one level-0 run of table files.
//!
//! 1. Rotation seals the active memtable; the flush waits until every writer that entered a
//!    sealed memtable has left it.
//! 2. The sealed memtables are merged (newest first) into one sorted stream; identical internal
//!    keys keep the newer memtable's entry, and versions no read at or above the seqno watermark
//!    can see are dropped: per user key, every version at or above the watermark plus the newest
//!    one below it. Tombstones stay (older data may lie in tables below).
//! 3. The stream is written as tables cut at the target size, always between two user keys, so a
//!    key's versions never span two tables of a run. Each table file is synced, then the tables
//!    directory is synced, before the tables become visible.
//! 4. Under the version lock, the version edit adding the run is appended to the manifest and
//!    synced; only then is the new run published as the newest run of level 0 (joined with the
//!    newest run when their tables are disjoint), and the flushed
//!    memtables leave the SuperVersion, in one atomic swap. If a concurrent change replaced the
//!    sealed memtables meanwhile, the flush discards its tables instead. A manifest past its
//!    bound is then rewritten as one snapshot.
//! 5. If the active memtable is still empty, writes have stopped: the process's pool of freed
//!    memtable memory gives its pages back (`memtable::arena`), so a read-only phase does not
//!    carry a memtable's worth of idle memory.
//!
//! A failed write or fsync poisons the tree: it is never retried and taken for success.

use std::ops::Bound;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard, PoisonError};

use super::handle::Tree;
use super::super_version::SuperVersion;
use crate::compaction::plan::range_of;
use crate::compaction::range_del::{CoveredFilter, surviving};
use crate::compaction::stream::{CompactionStream, GcRules};
use crate::error::Result;
use crate::iter::merging::{BoxedSource, MergingIter};
use crate::memtable::{Memtable, MemtableIter, MemtableSource};
use crate::range_tombstone::FragList;
use crate::run_writer::{RunWriter, WrittenRun};
use crate::seqno::SeqNo;
use crate::table::reader::Table;
use crate::version::Version;
use crate::version::edit::VersionEdit;

impl Tree {
    /// The lock that serializes flushes; pass it to [`Tree::flush`].
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default()).open()?;
    /// tree.insert("k", "v", 0);
    /// tree.rotate_memtable();
    /// let lock = tree.get_flush_lock();
    /// assert!(tree.flush(&lock, 0)?.is_some());
    /// assert_eq!(tree.table_count(), 1);
    /// assert_eq!(tree.flush(&lock, 0)?, None);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn get_flush_lock(&self) -> MutexGuard<'_, ()> {
        self.0
            .flush_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Seals the active memtable and writes it, with any other sealed memtables, to table files.
    /// Durable when it returns: the table files and their directory are synced, and the manifest
    /// edit naming them is appended and synced, so a reopened tree (even after power loss) finds
    /// them.
    ///
    /// `seqno_threshold` promises that no read below it will happen again: versions only such
    /// reads could see are dropped.
    ///
    /// # Errors
    /// `Io` if a table or the manifest cannot be written or synced (the tree is then poisoned and
    /// the flushed memtables stay readable); `Poisoned` after an earlier failure.
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default()).open()?;
    /// tree.insert("k", "v1", 0);
    /// tree.insert("k", "v2", 1);
    /// tree.flush_active_memtable(0)?;
    /// assert_eq!(tree.table_count(), 1);
    /// assert_eq!(tree.get("k", 1)?, Some("v1".into()));
    /// assert_eq!(tree.get("k", 2)?, Some("v2".into()));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn flush_active_memtable(&self, seqno_threshold: SeqNo) -> Result<()> {
        let lock = self.get_flush_lock();
        self.0.versions.poison.check()?;
        self.rotate_memtable();
        self.flush(&lock, seqno_threshold).map(|_| ())
    }

    /// Writes the sealed memtables (not the active one) to one level-0 run of tables. Returns the
    /// bytes written, or `None` if nothing was sealed (or if a concurrent change replaced the
    /// sealed memtables meanwhile, in which case the tables written are discarded).
    ///
    /// # Errors
    /// As [`Tree::flush_active_memtable`].
    pub fn flush(&self, _lock: &MutexGuard<'_, ()>, seqno_threshold: SeqNo) -> Result<Option<u64>> {
        self.0.versions.poison.check()?;
        self.release_below(seqno_threshold);
        let flushing: Vec<Arc<Memtable>> = self.super_version().sealed.clone();
        if flushing.is_empty() {
            return Ok(None);
        }
        for memtable in &flushing {
            memtable.wait_for_writers();
        }
        let started = std::time::Instant::now();
        let written = self
            .write_run(&flushing, seqno_threshold)
            .map_err(|err| self.0.versions.poison.on_io(err))?;
        let bytes = written.bytes;
        let origin = flushing.iter().map(|m| m.generation()).max().unwrap_or(0);
        for table in &written.tables {
            table.set_origin(origin);
        }
        self.0
            .bytes_blobs_written
            .fetch_add(written.blob_bytes, Ordering::Relaxed);
        if !self.publish_run(&flushing, &written)? {
            return Ok(None);
        }
        if self.super_version().active.is_empty() {
            // Nothing was written since the rotation: writes have stopped, so the memory kept
            // for the next memtable (including the flushed ones', freed as they drop) need not
            // stay resident.
            crate::memtable::arena::release_pooled_segments();
        }
        self.0.bytes_flushed.fetch_add(bytes, Ordering::Relaxed);
        self.0.flushes.fetch_add(1, Ordering::Relaxed);
        self.0.flush_micros.fetch_add(
            u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        Ok(Some(bytes))
    }

    /// The run writer of this tree.
    pub(crate) fn run_writer(&self) -> RunWriter<'_> {
        let inner = &self.0;
        RunWriter {
            config: &inner.config,
            cmp: &inner.cmp,
            files: &inner.versions.files,
            tables_dir: &inner.tables_dir,
            blobs_dir: &inner.blobs_dir,
            table_ctx: &inner.table_ctx,
        }
    }

    /// Writes `memtables` as tables of level 0.
    fn write_run(&self, memtables: &[Arc<Memtable>], watermark: SeqNo) -> Result<WrittenRun> {
        let inner = &self.0;
        let sources: Vec<BoxedSource> = memtables
            .iter()
            .rev()
            .map(|m| -> BoxedSource {
                Box::new(MemtableSource(MemtableIter::new(
                    Arc::clone(m),
                    (Bound::Unbounded, Bound::Unbounded),
                    SeqNo::MAX,
                )))
            })
            .collect();
        // NB: a flush drops no tombstone and cancels no weak tombstone: older versions of a key
        // may sit anywhere (tables, and other memtables, whose seqnos callers choose).
        let rules = GcRules {
            watermark,
            tombstone_floor: GcRules::NO_FLOOR,
            cancel_weak: false,
        };
        // NB: the memtables' range tombstones all go to the tables (nothing beneath is known,
        // so none is dropped), reduced to what reads at or above the watermark need; what they
        // cover below the watermark is dropped on the way.
        let lists: Vec<Arc<FragList>> = memtables
            .iter()
            .filter_map(|m| m.range_tombstones())
            .collect();
        let range_tombstones = FragList::merge(lists.iter().map(AsRef::as_ref), &inner.cmp);
        let covered = CoveredFilter::new(
            MergingIter::new(sources, inner.cmp.clone()),
            range_tombstones.clone(),
            watermark,
            inner.cmp.clone(),
            inner.config.merge_operator.is_some(),
        );
        let range_tombstones = surviving(&range_tombstones, watermark, None, &inner.cmp, |_| {});
        // NB: with a merge operator a flush keeps every operand below the watermark down to
        // its base: it names no source beneath, so it never collapses them.
        let stream = CompactionStream::new(covered, inner.cmp.clone(), rules)
            .with_merge(inner.config.merge_operator.clone());
        self.run_writer().write(
            stream,
            0,
            inner.config.table_target_size,
            range_tombstones,
            std::collections::BTreeMap::new(),
        )
    }

    /// The edit that adds `tables` to `level` (a flush's to level 0, an ingestion's to where it
    /// fits): as the newest run, or, when they are disjoint from every table of the newest run,
    /// joined with it (disjoint level-0 tables form one run, as in the seed: a point read then
    /// looks at one table for them). Joining keeps the order reads rely on, since the joined run
    /// stays the newest.
    pub(crate) fn run_edit(
        &self,
        version: &Version,
        level: usize,
        tables: &[Arc<Table>],
    ) -> VersionEdit {
        let ids: Vec<u64> = tables.iter().map(|t| t.meta().table_id).collect();
        if tables.is_empty() {
            return VersionEdit::default();
        }
        let cmp = &self.0.cmp;
        let level_u8 = u8::try_from(level).unwrap_or(u8::MAX);
        let newest = version.levels.get(level).and_then(|l| l.runs.first());
        let joinable = newest.filter(|run| {
            run.tables().iter().all(|old| {
                tables
                    .iter()
                    .all(|new| !range_of(old).overlaps(&range_of(new), cmp))
            })
        });
        match joinable {
            Some(run) => {
                let mut joined: Vec<&Arc<Table>> = run.tables().iter().chain(tables).collect();
                joined.sort_by(|a, b| cmp.user(&a.meta().min_key, &b.meta().min_key));
                VersionEdit {
                    remove_tables: run.tables().iter().map(|t| t.meta().table_id).collect(),
                    add_runs: vec![(level_u8, joined.iter().map(|t| t.meta().table_id).collect())],
                    ..VersionEdit::default()
                }
            }
            None => VersionEdit {
                add_runs: vec![(level_u8, ids)],
                ..VersionEdit::default()
            },
        }
    }

    /// The durable-through seqno once `next` is published: every write below it is in a table.
    /// The lowest seqno still in a memtable, or the write counter when none holds anything (under
    /// a `Database`: no higher than its applied seqno).
    ///
    /// The bound (applied seqno or counter) is read *before* the memtables: every write below
    /// it was in a memtable by then, so the memtables read after hold it (or a table does, a
    /// flush having taken it meanwhile). Read the other way round, a write that entered an empty
    /// memtable and was applied between the two reads fell under the bound and in no lowest seqno
    /// (the database model test caught it: a flush or compaction committed while writes came
    /// in recorded them as durable, and a reopen skipped them in the WAL).
    pub(crate) fn durable_through(&self, next: &SuperVersion) -> SeqNo {
        // NB: a write whose seqno was taken but that is not in a memtable yet (a `Database`
        // writer between the two) lies at or above the applied seqno.
        if let Some(applied) = &self.0.config.applied_seqno {
            let applied = applied.get();
            return next
                .lowest_memtable_seqno()
                .map_or(applied, |lowest| lowest.min(applied));
        }
        let counter = self.0.config.seqno.get();
        next.lowest_memtable_seqno().unwrap_or(counter)
    }

    /// Commits `tables` as the newest level-0 run to the manifest, then publishes it and drops
    /// `flushed` from the sealed memtables. Returns `false` (and deletes the tables) if the sealed
    /// memtables changed meanwhile.
    ///
    /// # Errors
    /// `Io` if the manifest cannot be written; the tree is then poisoned, the flushed memtables stay
    /// readable, and the table files are left for the next open to remove. `Poisoned` if another
    /// step failed meanwhile (checked right before the append).
    fn publish_run(&self, flushed: &[Arc<Memtable>], written: &WrittenRun) -> Result<bool> {
        let inner = &self.0;
        let tables = &written.tables;
        let mut lock = inner.versions.lock();
        let current = inner.super_version.load_full();
        let still_sealed = current.sealed.len() >= flushed.len()
            && current
                .sealed
                .iter()
                .zip(flushed)
                .all(|(a, b)| Arc::ptr_eq(a, b));
        if !still_sealed {
            written.discard(inner.config.fs.as_ref());
            return Ok(false);
        }
        let mut next = SuperVersion {
            active: Arc::clone(&current.active),
            sealed: current
                .sealed
                .get(flushed.len()..)
                .unwrap_or_default()
                .to_vec(),
            version: Arc::clone(lock.current()),
        };
        // NB: an empty flush is recorded too: it advances the durable-through seqno, so that a
        // write-ahead log above the tree is never pinned by an idle or emptied memtable.
        let mut edit = self.run_edit(lock.current(), 0, tables);
        written.add_blobs_to(&mut edit);
        edit.durable_through = Some(self.durable_through(&next));
        next.version = lock.log_and_apply(edit, tables, &written.blob_files)?;
        inner.super_version.publish(&lock, next);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::fs::{CrashMode, Fs, MemFs};
    use crate::{Config, SeqNo, SequenceNumberCounter};

    /// Many flushes with a tiny rewrite bound: the manifest is replaced by snapshots again and
    /// again, power is lost, and every flush still comes back.
    #[test]
    fn manifest_rewrites_keep_every_flush_across_a_crash() {
        let fs = MemFs::new();
        let open = || {
            let mut config = Config::new(
                "/db",
                SequenceNumberCounter::default(),
                SequenceNumberCounter::default(),
            )
            .fs(Arc::new(fs.clone()));
            config.manifest_rewrite_bytes = 200;
            config.open().unwrap()
        };
        let tree = open();
        let seqno = SequenceNumberCounter::new(1);
        for i in 0..60u32 {
            tree.insert(format!("k{i:03}"), format!("v{i}"), seqno.next());
            tree.flush_active_memtable(0).unwrap();
        }
        let manifests: Vec<_> = fs
            .list(std::path::Path::new("/db"))
            .unwrap()
            .into_iter()
            .filter(|p| p.to_string_lossy().contains("MANIFEST-"))
            .collect();
        assert_eq!(
            manifests.len(),
            1,
            "old manifests are removed: {manifests:?}"
        );
        let number: u64 = manifests[0]
            .to_string_lossy()
            .rsplit('-')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(number > 5, "the manifest was rewritten: {number}");
        drop(tree);
        fs.crash(CrashMode::DropUnsynced, 7);
        fs.disarm();
        let tree = open();
        assert_eq!(tree.table_count(), 60);
        for i in 0..60u32 {
            assert_eq!(
                tree.get(format!("k{i:03}"), SeqNo::MAX).unwrap().unwrap(),
                format!("v{i}").as_bytes()
            );
        }
    }
}
