//! The SuperVersion (what a read needs, published as one unit) and the history kept for reads
//! at older seqnos.
//!
//! A reader loads the current SuperVersion with one atomic load and reads from it alone. Steps
//! that change what reads see without a new write (a drop, `clear`, `drop_range`, a merge whose
//! compaction filter changed an item) take the next seqno C from the write counter and keep the
//! SuperVersion from before in the history: reads at seqnos up to C see it. The history is an
//! immutable list behind an atomic pointer too, so reads at old seqnos never take a lock.
//!
//! The history is bounded by the GC watermark: every flush and compaction step lets go of the
//! entries below its watermark (nothing reads there any more), and with them of their memtables
//! and of the obsolete table files only they still held, whose files the version set's queue
//! then deletes.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::handle::Tree;
use crate::memtable::Memtable;
use crate::seqno::SeqNo;
use crate::version::Version;
use crate::version::set::VersionLock;

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
pub(crate) type History = ArcSwap<Vec<(SeqNo, Arc<SuperVersion>)>>;

impl Tree {
    /// The current SuperVersion.
    pub(crate) fn super_version(&self) -> Arc<SuperVersion> {
        self.0.super_version.load_full()
    }

    /// The SuperVersion a read at `seqno` sees: the current one, unless a step that changed what
    /// reads see happened at a seqno at or above `seqno`; then the one from before the earliest
    /// such step. Lock-free.
    pub(crate) fn super_version_for(&self, seqno: SeqNo) -> Arc<SuperVersion> {
        // NB: load the current one first; a step stores its history entry before it publishes,
        // so a reader that sees the new SuperVersion also sees the entry.
        let current = self.0.super_version.load_full();
        let history = self.0.history.load();
        history
            .iter()
            .find(|(at, _)| *at >= seqno)
            .map_or(current, |(_, before)| Arc::clone(before))
    }

    /// Whether reads at `seqno` may need the history (a cheap check for the common case).
    pub(crate) fn history_reaches(&self, seqno: SeqNo) -> bool {
        self.0
            .history
            .load()
            .last()
            .is_some_and(|(at, _)| seqno <= *at)
    }

    /// Publishes `next` (call with the version lock held).
    pub(crate) fn publish(&self, _lock: &VersionLock<'_>, next: SuperVersion) {
        self.0.super_version.store(Arc::new(next));
    }

    /// Publishes a SuperVersion that changes what reads see: takes the next seqno C, keeps
    /// `before` for reads at seqnos up to C, then raises the visible seqno. Call with the version
    /// lock held.
    pub(crate) fn publish_changing(
        &self,
        lock: &VersionLock<'_>,
        before: Arc<SuperVersion>,
        next: SuperVersion,
    ) {
        let inner = &self.0;
        let seqno = inner.config.seqno.next();
        let mut history: Vec<_> = inner.history.load().as_ref().clone();
        history.push((seqno, before));
        inner.history.store(Arc::new(history));
        self.publish(lock, next);
        inner
            .config
            .visible_seqno
            .fetch_max(inner.config.seqno.get());
    }

    /// Lets go of the SuperVersions kept for reads below `watermark`, then deletes the files
    /// whose last reader went.
    pub(crate) fn release_below(&self, watermark: SeqNo) {
        let inner = &self.0;
        let history = inner.history.load();
        if history.first().is_some_and(|(at, _)| *at < watermark) {
            let _lock = inner.versions.lock();
            let kept: Vec<_> = inner
                .history
                .load()
                .iter()
                .filter(|(at, _)| *at >= watermark)
                .cloned()
                .collect();
            inner.history.store(Arc::new(kept));
        }
        drop(history);
        inner.versions.obsolete.purge();
    }
}
