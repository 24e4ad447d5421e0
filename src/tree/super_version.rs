//! The SuperVersion (what a read needs, published as one unit) and the history kept for reads
//! at older seqnos.
//!
//! A reader loads the current SuperVersion with one atomic load and reads from it alone. Steps
//! that change what reads see without a new write (a drop, `clear`, `drop_range`, a merge whose
//! compaction filter changed an item) take the next seqno C from the write counter and keep the
//! SuperVersion from before in the history: reads at seqnos up to C see it. The history is an
//! immutable list behind an atomic pointer too, so reads at old seqnos never take a lock.
//!
//! The history is bounded. Every flush and compaction step lets go of the entries below its GC
//! watermark (nothing reads there any more), and with them of their memtables and of the
//! obsolete table files only they still held, whose files the version set's queue then deletes.
//! And it keeps at most [`HISTORY_LIMIT`] entries: a caller that never raises the watermark
//! (always 0) would otherwise keep every cleared memtable and dropped file until the tree
//! closes. Past the limit the oldest entry goes, and reads at its seqnos see the state after its
//! step, as in the seed (whose drops and clears keep nothing for older reads).

use std::sync::Arc;

use crate::key::Comparator;
use crate::memtable::Memtable;
use crate::range_tombstone::FragList;
use crate::seqno::{SeqNo, SequenceNumberGenerator};
use crate::sync::{ArcSwap, AtomicU64, Guard, Ordering, retry_hint};
use crate::version::Version;
use crate::version::set::{VersionLock, VersionSet};

/// What a read needs; see the module documentation.
pub(crate) struct SuperVersion {
    /// The memtable that takes writes.
    pub(crate) active: Arc<Memtable>,
    /// Sealed memtables, oldest first (reads walk them from the back).
    pub(crate) sealed: Vec<Arc<Memtable>>,
    /// The tables.
    pub(crate) version: Arc<Version>,
}

impl SuperVersion {
    /// The memtables, newest first.
    pub(crate) fn memtables(&self) -> impl Iterator<Item = &Arc<Memtable>> {
        std::iter::once(&self.active).chain(self.sealed.iter().rev())
    }

    /// The range-tombstone lists of the memtables (newest first) and of the tables.
    pub(crate) fn range_tombstone_lists(&self) -> Vec<Arc<FragList>> {
        self.memtables()
            .filter_map(|m| m.range_tombstones())
            .chain(self.version.range_tombstones().cloned())
            .collect()
    }

    /// The highest seqno below `seqno` of a range tombstone covering `key` in any memtable or
    /// table, or 0: one binary search per memtable that has range tombstones and one for all
    /// tables. Lists whose tombstones are all at or below `above` are skipped (a caller that only
    /// asks whether a version at `above` is covered pays nothing for older tombstones), so an
    /// answer at or below `above` may be too low.
    pub(crate) fn range_tombstone_cover(
        &self,
        key: &[u8],
        seqno: SeqNo,
        cmp: &Comparator,
        above: SeqNo,
    ) -> SeqNo {
        let mut covered = self
            .version
            .range_tombstones()
            .filter(|list| list.max_seqno() > above)
            .map_or(0, |list| list.cover(key, seqno, cmp));
        for memtable in self.memtables() {
            covered = covered.max(memtable.range_tombstone_cover(key, seqno, above));
        }
        covered
    }

    /// The lowest seqno in any memtable, if any holds an entry.
    pub(crate) fn lowest_memtable_seqno(&self) -> Option<SeqNo> {
        self.memtables().filter_map(|m| m.get_lowest_seqno()).min()
    }

    /// The highest seqno in any memtable, if any holds an entry.
    pub(crate) fn highest_memtable_seqno(&self) -> Option<SeqNo> {
        self.memtables().filter_map(|m| m.get_highest_seqno()).max()
    }
}

/// SuperVersions kept for reads at older seqnos: `(C, before)` means reads at seqnos up to C see
/// `before`. Ascending by C.
type History = Vec<(SeqNo, Arc<SuperVersion>)>;

/// The most steps the history keeps for reads at older seqnos; see the module documentation.
pub(crate) const HISTORY_LIMIT: usize = 16;

/// The SuperVersion readers load and the history; see the module documentation.
pub(crate) struct Published {
    current: ArcSwap<SuperVersion>,
    history: ArcSwap<History>,
    /// The highest C in the history (0 when empty): reads above it need not look (one atomic
    /// load on the read path instead of loading the history).
    history_max: AtomicU64,
}

impl Published {
    /// `first` published, with no history.
    pub(crate) fn new(first: SuperVersion) -> Self {
        Self {
            current: ArcSwap::from_pointee(first),
            history: ArcSwap::from_pointee(Vec::new()),
            history_max: AtomicU64::new(0),
        }
    }

    /// The current SuperVersion, cheaply (a guard; do not hold it across long work).
    pub(crate) fn load(&self) -> Guard<Arc<SuperVersion>> {
        self.current.load()
    }

    /// The current SuperVersion.
    pub(crate) fn load_full(&self) -> Arc<SuperVersion> {
        self.current.load_full()
    }

    /// The SuperVersion a read at `seqno` sees: the current one, unless a step that changed what
    /// reads see happened at a seqno at or above `seqno`; then the one from before the earliest
    /// such step. Lock-free.
    pub(crate) fn for_seqno(&self, seqno: SeqNo) -> Arc<SuperVersion> {
        // NB: load the current one first; a step stores its history entry before it publishes,
        // so a reader that sees the new SuperVersion also sees the entry.
        let current = self.current.load_full();
        if seqno > self.history_max.load(Ordering::Acquire) {
            return current;
        }
        let history = self.history.load();
        history
            .iter()
            .find(|(at, _)| *at >= seqno)
            .map_or(current, |(_, before)| Arc::clone(before))
    }

    /// Whether reads at `seqno` may need the history (a cheap check for the common case).
    pub(crate) fn history_reaches(&self, seqno: SeqNo) -> bool {
        seqno <= self.history_max.load(Ordering::Acquire)
            && self
                .history
                .load()
                .last()
                .is_some_and(|(at, _)| seqno <= *at)
    }

    /// How many SuperVersions the history keeps.
    #[cfg(test)]
    pub(crate) fn history_len(&self) -> usize {
        self.history.load().len()
    }

    /// Publishes `next` (the version lock is held).
    pub(crate) fn publish(&self, _lock: &VersionLock<'_>, next: SuperVersion) {
        self.current.store(Arc::new(next));
    }

    /// Runs `write` on the active memtable as a registered writer: if a rotation sealed the
    /// memtable that this loaded (`Memtable::try_begin_write` turns it away), it loads the new
    /// SuperVersion and tries again. So a write never lands in a memtable after a flush has
    /// waited for its writers, and once `write` returns, every SuperVersion loaded from then on
    /// holds the memtable it wrote to.
    pub(crate) fn write_active<R>(&self, write: impl FnOnce(&Memtable) -> R) -> R {
        loop {
            let super_version = self.load();
            if let Some(_writer) = super_version.active.try_begin_write() {
                return write(&super_version.active);
            }
            // NB: the rotation that sealed this memtable publishes the next SuperVersion at once.
            retry_hint();
        }
    }

    /// Seals the active memtable and publishes a SuperVersion with a `fresh` one in its place and
    /// the sealed one as the newest sealed memtable (the version lock is held). Returns the sealed
    /// memtable, or `None` if the active one was empty (nothing to seal; `fresh` is not called).
    pub(crate) fn rotate(
        &self,
        _lock: &VersionLock<'_>,
        fresh: impl FnOnce() -> Memtable,
    ) -> Option<Arc<Memtable>> {
        self.rotate_serialized(fresh)
    }

    /// [`Published::rotate`] for a caller that serializes the changes of the SuperVersion by
    /// other means than the version lock: the loom model, which holds a loom mutex instead.
    fn rotate_serialized(&self, fresh: impl FnOnce() -> Memtable) -> Option<Arc<Memtable>> {
        let current = self.current.load_full();
        if current.active.is_empty() {
            return None;
        }
        current.active.seal();
        let mut sealed = current.sealed.clone();
        sealed.push(Arc::clone(&current.active));
        self.current.store(Arc::new(SuperVersion {
            active: Arc::new(fresh()),
            sealed,
            version: Arc::clone(&current.version),
        }));
        Some(Arc::clone(&current.active))
    }

    /// Publishes a SuperVersion that changes what reads see: takes the next seqno C from
    /// `seqno`, keeps `before` for reads at seqnos up to C, then raises `visible_seqno` to the
    /// counter (the version lock is held).
    pub(crate) fn publish_changing(
        &self,
        _lock: &VersionLock<'_>,
        before: Arc<SuperVersion>,
        next: SuperVersion,
        seqno: &dyn SequenceNumberGenerator,
        visible_seqno: &dyn SequenceNumberGenerator,
    ) {
        self.publish_changing_serialized(before, next, seqno, visible_seqno);
    }

    /// [`Published::publish_changing`] for a caller that serializes the changes by other means
    /// than the version lock (the loom model).
    fn publish_changing_serialized(
        &self,
        before: Arc<SuperVersion>,
        next: SuperVersion,
        seqno: &dyn SequenceNumberGenerator,
        visible_seqno: &dyn SequenceNumberGenerator,
    ) {
        let at = seqno.next();
        let mut history: History = self.history.load().as_ref().clone();
        history.push((at, before));
        let excess = history.len().saturating_sub(HISTORY_LIMIT);
        history.drain(..excess);
        self.history.store(Arc::new(history));
        // NB: raised after the entry is in, so a reader that sees the new maximum finds it.
        self.history_max.fetch_max(at, Ordering::AcqRel);
        self.current.store(Arc::new(next));
        visible_seqno.fetch_max(seqno.get());
    }

    /// Lets go of the SuperVersions kept for reads below `watermark` (taking the version lock of
    /// `versions` to change the history), then deletes the files whose last reader went.
    pub(crate) fn release_below(&self, versions: &VersionSet, watermark: SeqNo) {
        if self
            .history
            .load()
            .first()
            .is_some_and(|(at, _)| *at < watermark)
        {
            let _lock = versions.lock();
            let kept: History = self
                .history
                .load()
                .iter()
                .filter(|(at, _)| *at >= watermark)
                .cloned()
                .collect();
            let max = kept.last().map_or(0, |(at, _)| *at);
            self.history.store(Arc::new(kept));
            self.history_max.store(max, Ordering::Release);
        }
        versions.obsolete.purge();
    }

    /// Lets go of everything: the history and the current SuperVersion's memtables and tables
    /// (the tree is closing).
    pub(crate) fn release_all(&self, empty: SuperVersion) {
        self.history.store(Arc::new(Vec::new()));
        self.history_max.store(0, Ordering::Release);
        self.current.store(Arc::new(empty));
    }
}

#[cfg(all(test, loom))]
mod loom_tests;
