//! Maintenance: `drop_range` and `clear`, which remove whole tables (and, for `clear`, the
//! memtables) without a merge.
//!
//! Both change what reads see without a write: they take the next seqno and keep the
//! SuperVersion from before for reads at older seqnos (see `super_version`). `drop_range` marks
//! its tables busy like a compaction job, after waiting for the jobs that hold tables in its
//! range, so it never races a compaction for a table and never returns having dropped less than
//! the range's tables. `clear` removes everything under the version lock; a flush or compaction
//! running meanwhile finds its inputs gone and discards its output.

use std::collections::HashSet;
use std::ops::RangeBounds;
use std::sync::Arc;

use super::compact::BusyGuard;
use super::handle::Tree;
use super::super_version::SuperVersion;
use crate::compaction::plan::range_of;
use crate::error::Result;
use crate::key_range::Bounds;
use crate::memtable::Memtable;
use crate::table::reader::Table;
use crate::version::edit::VersionEdit;

impl Tree {
    /// Marks `tables` (gone from every version by a durable edit) obsolete, and deletes the files
    /// whose last reader already went.
    pub(crate) fn retire(&self, tables: &[Arc<Table>]) {
        let obsolete = &self.0.versions.obsolete;
        for table in tables {
            table.mark_obsolete(obsolete.sink());
        }
        obsolete.purge();
    }

    /// Drops the tables whose key ranges lie inside `range`, whole (data in the memtables and in
    /// tables that straddle the range stays). A table holding range tombstones that may delete
    /// an older entry kept elsewhere (in a memtable or a table not dropped) is kept, so that the
    /// drop never brings deleted data back; compaction reclaims it. Reads at seqnos before the drop still see the data
    /// until a GC watermark passes it (the tree keeps the 16 latest such steps for older reads);
    /// the files go when nothing reads them. A table in the range
    /// that a running compaction holds is waited for: the drop then takes what that compaction
    /// wrote in its place, if it lies inside the range.
    ///
    /// # Errors
    /// `Io` if the manifest cannot be written (the tree is then poisoned); `Poisoned` after an
    /// earlier failure.
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// let seqno = SequenceNumberCounter::default();
    /// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
    /// tree.insert("a", "1", seqno.next());
    /// tree.flush_active_memtable(0)?;
    /// tree.insert("x", "2", seqno.next());
    /// tree.flush_active_memtable(0)?;
    /// tree.drop_range("a"..="m")?;
    /// assert_eq!(tree.table_count(), 1);
    /// assert_eq!(tree.get("a", seqno.get())?, None);
    /// assert_eq!(tree.get("x", seqno.get())?, Some("2".into()));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn drop_range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Result<()> {
        self.drop_tables_in(&Bounds::from_range(&range)).map(|_| ())
    }

    /// [`Tree::drop_range`]; returns the number of tables dropped.
    pub(crate) fn drop_tables_in(&self, bounds: &Bounds) -> Result<usize> {
        let inner = &self.0;
        inner.versions.poison.check()?;
        let cmp = &inner.cmp;
        let (job, ids) = {
            let mut state = inner.compactions.lock();
            loop {
                let super_version = self.super_version();
                let ids = droppable(&super_version, bounds, cmp);
                if ids.is_empty() {
                    return Ok(0);
                }
                if ids.iter().any(|id| state.busy.contains(id)) {
                    inner.compaction_done.wait(&mut state);
                    continue;
                }
                break (state.register(ids.iter().copied(), None), ids);
            }
        };
        let _busy = BusyGuard {
            tree: self,
            job,
            ids: ids.clone(),
        };
        let dropped: Vec<Arc<Table>> = {
            let mut lock = inner.versions.lock();
            let current = inner.super_version.load_full();
            // NB: a `clear` may have removed some meanwhile (it does not wait for busy tables).
            let dropped: Vec<Arc<Table>> = lock
                .current()
                .tables()
                .filter(|t| ids.contains(&t.meta().table_id))
                .cloned()
                .collect();
            if dropped.is_empty() {
                return Ok(0);
            }
            let edit = VersionEdit {
                remove_tables: dropped.iter().map(|t| t.meta().table_id).collect(),
                durable_through: Some(self.durable_through(&current)),
                ..VersionEdit::default()
            };
            let version = lock.log_and_apply(edit, &[], &[])?;
            let next = SuperVersion {
                active: Arc::clone(&current.active),
                sealed: current.sealed.clone(),
                version,
            };
            self.publish_changing(&lock, current, next);
            dropped
        };
        self.retire(&dropped);
        Ok(dropped.len())
    }

    /// Removes everything: the memtables and every table. Reads at seqnos before the clear still
    /// see the data until a GC watermark passes it (the tree keeps the 16 latest such steps for
    /// older reads); the files go when nothing reads them.
    /// A flush or compaction running meanwhile discards its output.
    ///
    /// # Errors
    /// `Io` if the manifest cannot be written (the tree is then poisoned); `Poisoned` after an
    /// earlier failure.
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// let seqno = SequenceNumberCounter::default();
    /// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
    /// tree.insert("a", "1", seqno.next());
    /// tree.flush_active_memtable(0)?;
    /// tree.insert("b", "2", seqno.next());
    /// let before = seqno.get();
    /// tree.clear()?;
    /// assert!(tree.is_empty(seqno.get(), None)?);
    /// assert_eq!(tree.table_count(), 0);
    /// assert_eq!(tree.get("a", before)?, Some("1".into()), "an older snapshot still reads");
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn clear(&self) -> Result<()> {
        let inner = &self.0;
        inner.versions.poison.check()?;
        let removed = {
            let mut lock = inner.versions.lock();
            let current = inner.super_version.load_full();
            let removed: Vec<Arc<Table>> = lock.current().tables().cloned().collect();
            for memtable in current.memtables() {
                memtable.seal();
            }
            let edit = VersionEdit {
                remove_tables: removed.iter().map(|t| t.meta().table_id).collect(),
                // NB: nothing is left in memory, so everything written so far is "durable" (a
                // log above the tree may let go of it all).
                durable_through: Some(inner.config.seqno.get()),
                ..VersionEdit::default()
            };
            let version = lock.log_and_apply(edit, &[], &[])?;
            let next = SuperVersion {
                active: Arc::new(Memtable::with_comparator(inner.cmp.clone())),
                sealed: Vec::new(),
                version,
            };
            self.publish_changing(&lock, current, next);
            removed
        };
        self.retire(&removed);
        Ok(())
    }
}

/// The ids of the tables `drop_range` over `bounds` drops: those inside the bounds, less the ones
/// whose range tombstones may hide an older entry of a source that stays (found again until no
/// more is kept, since a kept table stays too).
fn droppable(
    super_version: &SuperVersion,
    bounds: &Bounds,
    cmp: &crate::key::Comparator,
) -> HashSet<u64> {
    let version = &super_version.version;
    let mut ids: HashSet<u64> = version
        .tables()
        .filter(|t| bounds.covers(&range_of(t), cmp))
        .map(|t| t.meta().table_id)
        .collect();
    let memtables_lowest = super_version.lowest_memtable_seqno();
    loop {
        let keep: Vec<u64> = version
            .tables()
            .filter(|t| ids.contains(&t.meta().table_id) && t.meta().range_tombstone_count > 0)
            .filter(|t| {
                let newest = t.meta().range_tombstone_seqnos.1;
                let range = range_of(t);
                memtables_lowest.is_some_and(|lowest| lowest < newest)
                    || version.tables().any(|other| {
                        !ids.contains(&other.meta().table_id)
                            && other.meta().seqno_min < newest
                            && range_of(other).overlaps(&range, cmp)
                    })
            })
            .map(|t| t.meta().table_id)
            .collect();
        if keep.is_empty() {
            return ids;
        }
        for id in keep {
            ids.remove(&id);
        }
    }
}
