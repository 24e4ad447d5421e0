//! Flush: sealed memtables become one level-0 run of table files.
//!
//! 1. Rotation seals the active memtable; the flush waits until every writer that entered a
//!    sealed memtable has left it.
//! 2. The sealed memtables are merged (newest first) into one sorted stream; identical internal
//!    keys keep the newer memtable's entry, and versions no read at or above the seqno threshold
//!    can see are dropped: per user key, every version at or above the threshold plus the newest
//!    one below it. Tombstones stay (older data may lie in tables below).
//! 3. The stream is written as tables cut at the target size, always between two user keys, so a
//!    key's versions never span two tables of a run. Each table file is synced, then the tables
//!    directory is synced, before the tables become visible.
//! 4. Under the version lock, the version edit adding the run is appended to the manifest and
//!    synced; only then is the new run published as the newest run of level 0, and the flushed
//!    memtables leave the SuperVersion, in one atomic swap. If a concurrent change replaced the
//!    sealed memtables meanwhile, the flush discards its tables instead. A manifest past its
//!    bound is then rewritten as one snapshot.
//!
//! A failed write or fsync poisons the tree: it is never retried and taken for success.

use std::ops::Bound;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard, PoisonError};

use super::inner::{SuperVersion, Tree};
use crate::compaction::stream::{CompactionStream, GcRules};
use crate::error::{Error, Result};
use crate::memtable::{Memtable, MemtableIter};
use crate::merge::{BoxedSource, Merger};
use crate::seqno::SeqNo;
use crate::table::reader::Table;
use crate::table::writer::TableWriter;
use crate::version::edit::VersionEdit;
use crate::version::recovery::snapshot;
use crate::version::{Run, Version};

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
        if self.is_poisoned() {
            return Err(Error::Poisoned);
        }
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
        if self.is_poisoned() {
            return Err(Error::Poisoned);
        }
        self.prune_history(seqno_threshold);
        let flushing: Vec<Arc<Memtable>> = self.super_version().sealed.clone();
        if flushing.is_empty() {
            return Ok(None);
        }
        for memtable in &flushing {
            memtable.wait_for_writers();
        }
        let written = match self.write_run(&flushing, seqno_threshold) {
            Ok(written) => written,
            Err(err) => {
                if matches!(err, Error::Io { .. }) {
                    self.0.poisoned.store(true, Ordering::Release);
                }
                return Err(err);
            }
        };
        let (tables, bytes) = written;
        if !self.publish_run(&flushing, tables)? {
            return Ok(None);
        }
        self.0.bytes_flushed.fetch_add(bytes, Ordering::Relaxed);
        Ok(Some(bytes))
    }

    /// Writes `memtables` as tables; returns them opened, in key order, and the bytes written.
    fn write_run(
        &self,
        memtables: &[Arc<Memtable>],
        threshold: SeqNo,
    ) -> Result<(Vec<Arc<Table>>, u64)> {
        let inner = &self.0;
        let sources: Vec<BoxedSource> = memtables
            .iter()
            .rev()
            .map(|m| -> BoxedSource {
                Box::new(
                    MemtableIter::new(
                        Arc::clone(m),
                        (Bound::Unbounded, Bound::Unbounded),
                        SeqNo::MAX,
                    )
                    .map(Ok),
                )
            })
            .collect();
        // NB: level 0 is never the bottom, and a flush does not cancel weak tombstones: the
        // single-delete promise is the compaction's to rely on, with the whole key in view.
        let rules = GcRules {
            threshold,
            tombstone_floor: GcRules::NO_FLOOR,
            cancel_weak: false,
        };
        let stream = CompactionStream::new(
            Merger::new(sources, inner.cmp.clone()),
            inner.cmp.clone(),
            rules,
        );
        self.write_tables(stream, 0, inner.config.table_target_size)
    }

    /// Writes a sorted stream as tables of `level`, cut at `target_size` between user keys;
    /// syncs each file and then the directory; returns the tables opened, in key order, and the
    /// bytes written. On an error the files written are removed (best effort).
    pub(crate) fn write_tables(
        &self,
        stream: impl Iterator<Item = Result<crate::key::InternalValue>>,
        level: usize,
        target_size: u64,
    ) -> Result<(Vec<Arc<Table>>, u64)> {
        let inner = &self.0;
        let mut stream = stream.peekable();
        let mut tables = Vec::new();
        let mut bytes = 0;
        let mut created = Vec::new();
        let result = (|| -> Result<()> {
            while stream.peek().is_some() {
                let id = inner.next_table_id.fetch_add(1, Ordering::AcqRel);
                let path = inner.tables_dir.join(format!("{id}.sst"));
                let file = inner
                    .config
                    .fs
                    .create(&path)
                    .map_err(|e| Error::io("create table", Some(path.clone()), e))?;
                created.push(path.clone());
                let mut writer = TableWriter::new(
                    file,
                    &path,
                    inner.config.writer_options(level, id),
                    inner.cmp.clone(),
                );
                let mut last_key: Option<crate::slice::Slice> = None;
                while let Some(entry) = stream.next_if(|next| {
                    // Cut only between user keys, once the table reached its target size.
                    // A table always takes at least one entry, whatever the target size.
                    let full = writer.entry_count() > 0 && writer.size_bytes() >= target_size;
                    let same_key = match (next, &last_key) {
                        (Ok(e), Some(k)) => inner.cmp.user(&e.key.user_key, k).is_eq(),
                        _ => false,
                    };
                    !full || same_key
                }) {
                    let entry = entry?;
                    writer.add(
                        &entry.key.user_key,
                        entry.key.seqno,
                        entry.key.value_type,
                        &entry.value,
                    )?;
                    last_key = Some(entry.key.user_key);
                }
                if let Some((_, size)) = writer.finish()? {
                    bytes += size;
                    tables.push(path);
                }
            }
            inner
                .config
                .fs
                .sync_dir(&inner.tables_dir)
                .map_err(|e| Error::io("fsync directory", Some(inner.tables_dir.clone()), e))?;
            Ok(())
        })();
        let opened = result.and_then(|()| {
            tables
                .iter()
                .map(|path| Table::open(path, &inner.table_ctx).map(Arc::new))
                .collect::<Result<Vec<_>>>()
        });
        match opened {
            Ok(opened) => Ok((opened, bytes)),
            Err(err) => {
                for path in &created {
                    // NB: best effort; a leftover file is never named by a version.
                    let _ = inner.config.fs.remove(path);
                }
                Err(err)
            }
        }
    }

    /// Commits `tables` as the newest level-0 run to the manifest, then publishes it and drops
    /// `flushed` from the sealed memtables. Returns `false` (and deletes the tables) if the sealed
    /// memtables changed meanwhile.
    ///
    /// # Errors
    /// `Io` if the manifest cannot be written; the tree is then poisoned, the flushed memtables stay
    /// readable, and the table files are left for the next open to remove.
    fn publish_run(&self, flushed: &[Arc<Memtable>], tables: Vec<Arc<Table>>) -> Result<bool> {
        let inner = &self.0;
        let _guard = inner.version_lock.lock();
        let current = inner.super_version.load_full();
        let still_sealed = current.sealed.len() >= flushed.len()
            && current
                .sealed
                .iter()
                .zip(flushed)
                .all(|(a, b)| Arc::ptr_eq(a, b));
        if !still_sealed {
            for table in &tables {
                let _ = inner.config.fs.remove(table.path());
            }
            return Ok(false);
        }
        if !tables.is_empty() {
            let highest = tables
                .iter()
                .map(|t| t.meta().seqno_max)
                .chain(current.version.tables().map(|t| t.meta().seqno_max))
                .max();
            let edit = VersionEdit {
                next_table_id: Some(inner.next_table_id.load(Ordering::Acquire)),
                highest_seqno: highest,
                add_runs: vec![(0, tables.iter().map(|t| t.meta().table_id).collect())],
                ..VersionEdit::default()
            };
            let mut manifest = inner.manifest.lock();
            if let Err(err) = manifest.append(&edit) {
                inner.poisoned.store(true, Ordering::Release);
                return Err(err);
            }
        }
        let version = if tables.is_empty() {
            Arc::clone(&current.version)
        } else {
            Arc::new(current.version.with_l0_run(Run::new(tables)))
        };
        inner.super_version.store(Arc::new(SuperVersion {
            active: Arc::clone(&current.active),
            sealed: current
                .sealed
                .get(flushed.len()..)
                .unwrap_or_default()
                .to_vec(),
            version: Arc::clone(&version),
        }));
        self.rewrite_manifest_if_large(&version);
        Ok(true)
    }

    /// Rewrites the manifest as one snapshot once it outgrows its bound. Called with the version
    /// lock held, so the snapshot is the latest version.
    pub(crate) fn rewrite_manifest_if_large(&self, version: &Version) {
        let inner = &self.0;
        let mut manifest = inner.manifest.lock();
        if !manifest.needs_rewrite(inner.config.manifest_rewrite_bytes) {
            return;
        }
        let highest = version.tables().map(|t| t.meta().seqno_max).max();
        let snapshot = snapshot(
            inner.cmp.name(),
            version,
            inner.next_table_id.load(Ordering::Acquire),
            highest,
        );
        // NB: the flush itself is already durable (its edit is in the old manifest, which CURRENT
        // names until the rewrite's rename lands). A failed rewrite leaves the manifest files in
        // an unknown state, so later manifest writes are refused, but this flush still succeeded.
        if manifest.rewrite(&snapshot).is_err() {
            inner.poisoned.store(true, Ordering::Release);
        }
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
