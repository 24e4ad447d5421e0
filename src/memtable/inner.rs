//! [`Memtable`]: the skiplist plus the value store, with counters and write gating.

#![expect(
    unsafe_code,
    reason = "decodes value records published by the skiplist; see UNSAFE.md"
)]

use std::ops::{Bound, Deref};
use std::sync::Arc;

use crate::sync::{AtomicU64, AtomicUsize, Ordering};

/// The bit of [`Memtable`]'s `writers` word that says the memtable is sealed; the other bits
/// count the writers inside.
const SEALED: usize = 1 << (usize::BITS - 1);

use super::skiplist::{NodeRef, RawNode, SkipList};
use super::value_store::ValueStore;
use crate::key::{Comparator, InternalValue, UserComparator, ValueType};
use crate::key_range::Bounds;
use crate::range_tombstone::{FragList, RangeTombstone};
use crate::seqno::{MAX_SEQNO, SeqNo};
use crate::slice::Slice;

/// An in-memory, sorted, concurrent write buffer of versioned entries.
///
/// Any number of threads may insert at once through `&self`; readers never block. A tree writes
/// to its *active* memtable; rotation seals it (read-only) and a flush turns sealed memtables
/// into table files. A memtable can also be used on its own, e.g. as the `index` overlay of a
/// tree read (read-your-own-writes).
///
/// ```
/// use strata::{InternalValue, Memtable, ValueType};
///
/// let memtable = Memtable::default();
/// memtable.insert(InternalValue::from_components("a", "1", 0, ValueType::Value));
/// memtable.insert(InternalValue::from_components("a", "2", 1, ValueType::Value));
/// // A read at seqno 1 sees only seqnos below 1.
/// assert_eq!(memtable.get(b"a", 1).unwrap().value, "1");
/// assert_eq!(memtable.get(b"a", 2).unwrap().value, "2");
/// assert!(memtable.get(b"a", 0).is_none());
/// assert_eq!(memtable.len(), 2);
/// ```
pub struct Memtable {
    list: SkipList,
    values: ValueStore,
    len: AtomicUsize,
    size_bytes: AtomicU64,
    /// The highest seqno written plus one; 0 while empty.
    highest_seqno_plus_one: AtomicU64,
    /// The lowest seqno written; `u64::MAX` while empty.
    lowest_seqno: AtomicU64,
    /// The writer handshake of rotation and flush in one word: [`SEALED`] and the number of
    /// writers inside. See [`Memtable::try_begin_write`].
    writers: AtomicUsize,
    /// This memtable's place in the order memtables were created (see [`Memtable::generation`]).
    generation: u64,
    /// Range tombstones, in arrival order, kept apart from point data.
    range_tombstones: parking_lot::Mutex<Vec<RangeTombstone>>,
    /// How many range tombstones were written: a memtable without any pays one load for them.
    range_tombstone_count: AtomicUsize,
    /// The highest seqno of a range tombstone plus one; 0 without any (kept apart from the
    /// entries', so that the write path's counter is untouched and scans know the entries').
    range_tombstone_highest_plus_one: AtomicU64,
    /// The fragmented range tombstones and the count they were built from; rebuilt by the first
    /// reader after a new tombstone arrived.
    fragments: arc_swap::ArcSwapOption<(usize, Arc<FragList>)>,
}

/// The generation of the next memtable created (starts at 1: 0 means "from disk").
// NB: a `std` atomic even in the loom models: a loom atomic cannot be a `static`, and the
// generation takes no part in the lock-free protocols.
static NEXT_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Default for Memtable {
    fn default() -> Self {
        Self::with_comparator(Comparator::default())
    }
}

impl std::fmt::Debug for Memtable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memtable")
            .field("len", &self.len())
            .field("size_bytes", &self.size())
            .field("highest_seqno", &self.get_highest_seqno())
            .finish_non_exhaustive()
    }
}

/// Proof that a writer is inside the memtable; see [`Memtable::try_begin_write`].
pub(crate) struct WriteGuard<'a>(&'a Memtable);

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.0.writers.fetch_sub(1, Ordering::Release);
    }
}

impl Memtable {
    /// An empty memtable ordered by `comparator`.
    ///
    /// A memtable passed as a tree read's `index` must use the tree's comparator.
    pub fn new(comparator: Arc<dyn UserComparator>) -> Self {
        Self::with_comparator(Comparator::new(comparator))
    }

    pub(crate) fn with_comparator(cmp: Comparator) -> Self {
        Self {
            list: SkipList::new(cmp),
            values: ValueStore::new(),
            len: AtomicUsize::new(0),
            size_bytes: AtomicU64::new(0),
            highest_seqno_plus_one: AtomicU64::new(0),
            lowest_seqno: AtomicU64::new(u64::MAX),
            writers: AtomicUsize::new(0),
            generation: NEXT_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            range_tombstones: parking_lot::Mutex::new(Vec::new()),
            range_tombstone_count: AtomicUsize::new(0),
            range_tombstone_highest_plus_one: AtomicU64::new(0),
            fragments: arc_swap::ArcSwapOption::empty(),
        }
    }

    pub(crate) fn comparator(&self) -> &Comparator {
        self.list.comparator()
    }

    /// Inserts an entry and returns `(entry size, memtable size after)` in bytes.
    ///
    /// An entry with the same key and seqno as an existing one replaces it.
    ///
    /// # Panics
    /// Panics if the key or value is longer than `u32::MAX` bytes, if the seqno exceeds
    /// [`MAX_SEQNO`](crate::MAX_SEQNO), or if a tree has sealed this memtable (a sealed memtable
    /// is read-only: a write into it could be lost when it is flushed).
    #[expect(
        clippy::needless_pass_by_value,
        reason = "the signature of lsm-tree's Memtable::insert, which users switch from"
    )]
    pub fn insert(&self, item: InternalValue) -> (u64, u64) {
        let Some(_writer) = self.try_begin_write() else {
            panic!("insert into a sealed memtable: sealed memtables are read-only");
        };
        self.insert_parts(
            &item.key.user_key,
            &item.value,
            item.key.seqno,
            item.key.value_type,
        )
    }

    /// Raises the highest (of entries, or of range tombstones) and lowers the lowest seqno to
    /// take `seqno` in.
    fn track_seqno(&self, seqno: SeqNo, highest_plus_one: &AtomicU64) {
        assert!(
            seqno <= MAX_SEQNO,
            "seqno {seqno} exceeds MAX_SEQNO ({MAX_SEQNO})"
        );
        // NB: the highest seqno is raised before the entry is linked, so a point read that sees
        // the entry never skips this memtable by its highest seqno.
        if seqno >= highest_plus_one.load(Ordering::Relaxed) {
            highest_plus_one.fetch_max(seqno + 1, Ordering::AcqRel);
        }
        // NB: likewise the lowest, so that a compaction that sees the entry's memtable also
        // sees how old it may be (seqnos arrive out of order across rotations).
        if seqno < self.lowest_seqno.load(Ordering::Relaxed) {
            self.lowest_seqno.fetch_min(seqno, Ordering::AcqRel);
        }
    }

    pub(crate) fn insert_parts(
        &self,
        key: &[u8],
        value: &[u8],
        seqno: SeqNo,
        value_type: ValueType,
    ) -> (u64, u64) {
        assert!(
            u32::try_from(key.len()).is_ok(),
            "key of {} bytes exceeds the limit of u32::MAX bytes",
            key.len()
        );
        self.track_seqno(seqno, &self.highest_seqno_plus_one);
        let record = self.values.append(value_type, value);
        // SAFETY: `record` was just appended to this memtable's own value store.
        let linked = unsafe { self.list.insert(key, seqno, record) };
        // NB: an overwrite of an existing (key, seqno) still costs its record's bytes.
        let value_len = u32::try_from(value.len()).unwrap_or(u32::MAX);
        let mut entry_bytes = ValueStore::record_bytes(value_len) as u64;
        if linked {
            entry_bytes += SkipList::node_bytes_estimate(key.len()) as u64;
            self.len.fetch_add(1, Ordering::Relaxed);
        }
        let size_after = self.size_bytes.fetch_add(entry_bytes, Ordering::AcqRel) + entry_bytes;
        (entry_bytes, size_after)
    }

    /// Adds the range tombstone `[start, end)` at `seqno` (the caller checked `start < end`) and
    /// returns `(its size, memtable size after)` in bytes.
    pub(crate) fn insert_range_tombstone(
        &self,
        start: Slice,
        end: Slice,
        seqno: SeqNo,
    ) -> (u64, u64) {
        self.track_seqno(seqno, &self.range_tombstone_highest_plus_one);
        let bytes = (start.len() + end.len() + 32) as u64;
        {
            let mut tombstones = self.range_tombstones.lock();
            tombstones.push(RangeTombstone { start, end, seqno });
            // NB: counted under the lock, after the push: a reader that sees the count finds the
            // tombstone when it rebuilds.
            self.range_tombstone_count.fetch_add(1, Ordering::AcqRel);
        }
        self.len.fetch_add(1, Ordering::Relaxed);
        let size_after = self.size_bytes.fetch_add(bytes, Ordering::AcqRel) + bytes;
        (bytes, size_after)
    }

    /// The number of range tombstones written.
    pub fn range_tombstone_count(&self) -> usize {
        self.range_tombstone_count.load(Ordering::Acquire)
    }

    /// The range tombstones, fragmented; `None` if there is none (one atomic load). Built once
    /// per new tombstone, by the first reader that needs it.
    pub(crate) fn range_tombstones(&self) -> Option<Arc<FragList>> {
        let count = self.range_tombstone_count.load(Ordering::Acquire);
        if count == 0 {
            return None;
        }
        if let Some(cached) = self.fragments.load().as_ref()
            && cached.0 == count
        {
            return Some(Arc::clone(&cached.1));
        }
        let tombstones = self.range_tombstones.lock();
        let cached = self.fragments.load_full();
        // Another reader may have rebuilt it while this one waited.
        if let Some(cached) = cached.as_ref()
            && cached.0 == tombstones.len()
        {
            return Some(Arc::clone(&cached.1));
        }
        // NB: the cached list plus the tombstones that came since, in one linear merge.
        let list = Arc::new(match cached.as_ref() {
            Some(cached) if cached.0 < tombstones.len() => {
                let new = FragList::build(
                    tombstones
                        .get(cached.0..)
                        .unwrap_or_default()
                        .iter()
                        .cloned(),
                    self.comparator(),
                );
                cached.1.union(&new, self.comparator())
            }
            _ => FragList::build(tombstones.iter().cloned(), self.comparator()),
        });
        self.fragments
            .store(Some(Arc::new((tombstones.len(), Arc::clone(&list)))));
        Some(list)
    }

    /// The highest seqno below `seqno` of a range tombstone covering `key`, or 0: one atomic
    /// load without range tombstones, and no reference count taken on the fragments.
    pub(crate) fn range_tombstone_cover(&self, key: &[u8], seqno: SeqNo, above: SeqNo) -> SeqNo {
        let count = self.range_tombstone_count.load(Ordering::Acquire);
        // NB: the highest is raised before a tombstone is counted, so a counted one is never
        // skipped for being too old.
        if count == 0
            || self
                .range_tombstone_highest_plus_one
                .load(Ordering::Acquire)
                .saturating_sub(1)
                <= above
        {
            return 0;
        }
        if let Some(cached) = self.fragments.load().as_ref()
            && cached.0 == count
        {
            return cached.1.cover(key, seqno, self.comparator());
        }
        self.range_tombstones()
            .map_or(0, |list| list.cover(key, seqno, self.comparator()))
    }

    /// The newest entry for `key` with a seqno below `seqno`, tombstones included.
    pub fn get(&self, key: &[u8], seqno: SeqNo) -> Option<InternalValue> {
        let node = self.get_node(key, seqno)?;
        Some(Self::materialize(node))
    }

    fn get_node(&self, key: &[u8], seqno: SeqNo) -> Option<NodeRef<'_>> {
        let read_below = seqno.checked_sub(1)?;
        let node = self.list.seek_ge(key, read_below)?;
        self.comparator()
            .user(node.key(), key)
            .is_eq()
            .then_some(node)
    }

    /// The seqno of the newest entry for `key` below `seqno`, without copying its value.
    pub(crate) fn get_seqno(&self, key: &[u8], seqno: SeqNo) -> Option<SeqNo> {
        self.get_node(key, seqno).map(NodeRef::seqno)
    }

    fn materialize(node: NodeRef<'_>) -> InternalValue {
        // SAFETY: the node's value pointer was returned by `append` of the value store of the same
        // memtable as the node's list, published by the skiplist with Release and loaded by
        // `node.value()` with Acquire; the memtable outlives the `NodeRef` borrow.
        let (value_type, value) = unsafe { ValueStore::read(node.value()) };
        InternalValue::from_components(
            Slice::new(node.key()),
            Slice::new(value),
            node.seqno(),
            value_type,
        )
    }

    /// The number of entries (versions), tombstones and range tombstones included.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Whether the memtable holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The approximate size of the entries in bytes.
    pub fn size(&self) -> u64 {
        self.size_bytes.load(Ordering::Acquire)
    }

    /// The memory the memtable holds, in bytes (node arena plus value store).
    pub fn allocated_bytes(&self) -> u64 {
        (self.list.reserved_bytes() + self.values.reserved_bytes()) as u64
    }

    /// The highest seqno written (an entry or a range tombstone), if any.
    pub fn get_highest_seqno(&self) -> Option<SeqNo> {
        self.highest_seqno_plus_one
            .load(Ordering::Acquire)
            .max(
                self.range_tombstone_highest_plus_one
                    .load(Ordering::Acquire),
            )
            .checked_sub(1)
    }

    /// The highest seqno of an entry (range tombstones left out), if any.
    pub(crate) fn highest_entry_seqno(&self) -> Option<SeqNo> {
        self.highest_seqno_plus_one
            .load(Ordering::Acquire)
            .checked_sub(1)
    }

    /// A number that grows with every memtable created in the process: a compaction tells the
    /// memtables it saw from those created after it looked.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// The lowest seqno written, if any.
    pub(crate) fn get_lowest_seqno(&self) -> Option<SeqNo> {
        match self.lowest_seqno.load(Ordering::Acquire) {
            u64::MAX => None,
            lowest => Some(lowest),
        }
    }

    /// An iterator over every entry in internal key order.
    ///
    /// ```
    /// use strata::{InternalValue, Memtable, ValueType};
    ///
    /// let memtable = Memtable::default();
    /// for (i, key) in ["b", "a", "c"].into_iter().enumerate() {
    ///     memtable.insert(InternalValue::from_components(key, "v", i as u64, ValueType::Value));
    /// }
    /// let keys: Vec<_> = memtable.iter().map(|e| e.key.user_key).collect();
    /// assert_eq!(keys, ["a", "b", "c"]);
    /// let last = memtable.iter().next_back().unwrap();
    /// assert_eq!(last.key.user_key, "c");
    /// ```
    pub fn iter(&self) -> MemtableIter<&Self> {
        MemtableIter::new(self, (Bound::Unbounded, Bound::Unbounded), SeqNo::MAX)
    }

    /// Seals the memtable: writers that have not entered yet are turned away.
    pub(crate) fn seal(&self) {
        self.writers.fetch_or(SEALED, Ordering::AcqRel);
    }

    /// Registers a writer, or returns `None` if the memtable is sealed (the caller must retry on
    /// the new active memtable).
    ///
    /// The handshake with [`Memtable::seal`] and [`Memtable::wait_for_writers`] is one atomic
    /// word, the seal bit and the count of writers inside, changed only by read-modify-writes.
    /// Those are totally ordered on the word whatever their memory orderings: a writer's
    /// increment either comes before the seal (it sees no seal, and the seal's word counts it,
    /// so the flush waits for its decrement) or after it (it sees the seal and backs out
    /// without writing). The flush's Acquire load of a count of zero reads the last decrement,
    /// whose release sequence carries every earlier writer's Release decrement: it sees their
    /// writes. (An earlier version used a flag and a counter with `SeqCst` accesses, Dekker's
    /// pattern, which loom cannot check since it models `SeqCst` as `AcqRel`.)
    pub(crate) fn try_begin_write(&self) -> Option<WriteGuard<'_>> {
        let before = self.writers.fetch_add(1, Ordering::AcqRel);
        let guard = WriteGuard(self);
        if before & SEALED != 0 {
            return None;
        }
        Some(guard)
    }

    /// Waits until every writer that entered before [`Memtable::seal`] has left.
    pub(crate) fn wait_for_writers(&self) {
        debug_assert!(self.writers.load(Ordering::Acquire) & SEALED != 0);
        while self.writers.load(Ordering::Acquire) & !SEALED != 0 {
            crate::sync::yield_now();
        }
    }
}

impl<'a> IntoIterator for &'a Memtable {
    type Item = InternalValue;
    type IntoIter = MemtableIter<&'a Memtable>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A double-ended iterator over a memtable's entries within user-key bounds, showing only entries
/// with a seqno below the read seqno.
///
/// `M` is `&Memtable` for a borrowed iterator or `Arc<Memtable>` for one that owns its memtable
/// (and is then `Send + 'static`).
pub struct MemtableIter<M: Deref<Target = Memtable>> {
    memtable: M,
    lower: Bound<Slice>,
    upper: Bound<Slice>,
    read_seqno: SeqNo,
    front: Option<RawNode>,
    back: Option<RawNode>,
    done: bool,
}

impl<M: Deref<Target = Memtable>> MemtableIter<M> {
    pub(crate) fn new(
        memtable: M,
        bounds: (Bound<Slice>, Bound<Slice>),
        read_seqno: SeqNo,
    ) -> Self {
        Self {
            memtable,
            lower: bounds.0,
            upper: bounds.1,
            read_seqno,
            front: None,
            back: None,
            done: false,
        }
    }

    /// Moves the front end to the first entry whose user key is at or after `key` (past every
    /// key it yielded); `false` (nothing changed) once the back end has started.
    pub(crate) fn seek_front(&mut self, key: &[u8]) -> bool {
        if self.done {
            return true;
        }
        if self.back.is_some() {
            return false;
        }
        self.lower = Bound::Included(Slice::new(key));
        self.front = None;
        true
    }

    /// Moves the back end to the last entry whose user key is below `key` (below every key it
    /// yielded); `false` (nothing changed) once the front end has started.
    pub(crate) fn seek_back(&mut self, key: &[u8]) -> bool {
        if self.done {
            return true;
        }
        if self.front.is_some() {
            return false;
        }
        self.upper = Bound::Excluded(Slice::new(key));
        self.back = None;
        true
    }

    fn below_upper(&self, key: &[u8]) -> bool {
        Bounds::before(&self.upper, key, self.memtable.comparator())
    }

    fn above_lower(&self, key: &[u8]) -> bool {
        Bounds::after(&self.lower, key, self.memtable.comparator())
    }
}

impl<M: Deref<Target = Memtable>> Iterator for MemtableIter<M> {
    type Item = InternalValue;

    fn next(&mut self) -> Option<InternalValue> {
        if self.done {
            return None;
        }
        let memtable = &*self.memtable;
        let list = &memtable.list;
        let cmp = memtable.comparator();
        loop {
            let candidate = match self.front {
                None => match &self.lower {
                    Bound::Included(k) => list.seek_first(|key, _| cmp.user(key, k).is_lt()),
                    Bound::Excluded(k) => list.seek_first(|key, _| cmp.user(key, k).is_le()),
                    Bound::Unbounded => list.first(),
                },
                // SAFETY: `raw` came from a node of this same list, which `self.memtable` keeps.
                Some(raw) => unsafe { NodeRef::from_raw(raw, list) }.next(),
            };
            let Some(node) = candidate else {
                self.done = true;
                return None;
            };
            if Some(node.raw()) == self.back || !self.below_upper(node.key()) {
                self.done = true;
                return None;
            }
            self.front = Some(node.raw());
            node.prefetch_ahead();
            if node.seqno() < self.read_seqno {
                return Some(Memtable::materialize(node));
            }
        }
    }
}

impl<M: Deref<Target = Memtable>> DoubleEndedIterator for MemtableIter<M> {
    fn next_back(&mut self) -> Option<InternalValue> {
        if self.done {
            return None;
        }
        let memtable = &*self.memtable;
        let list = &memtable.list;
        let cmp = memtable.comparator();
        loop {
            let candidate = match self.back {
                None => match &self.upper {
                    Bound::Included(k) => list.seek_last(|key, _| cmp.user(key, k).is_le()),
                    Bound::Excluded(k) => list.seek_last(|key, _| cmp.user(key, k).is_lt()),
                    Bound::Unbounded => list.last(),
                },
                // SAFETY: `raw` came from a node of this same list, which `self.memtable` keeps.
                Some(raw) => list.prev(unsafe { NodeRef::from_raw(raw, list) }),
            };
            let Some(node) = candidate else {
                self.done = true;
                return None;
            };
            if Some(node.raw()) == self.front || !self.above_lower(node.key()) {
                self.done = true;
                return None;
            }
            self.back = Some(node.raw());
            if node.seqno() < self.read_seqno {
                return Some(Memtable::materialize(node));
            }
        }
    }
}

/// A memtable scan as a merge source (entries as `Ok`), which can move forward past a span.
pub(crate) struct MemtableSource(pub(crate) MemtableIter<Arc<Memtable>>);

impl Iterator for MemtableSource {
    type Item = crate::Result<InternalValue>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(Ok)
    }
}

impl DoubleEndedIterator for MemtableSource {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(Ok)
    }
}

impl crate::iter::merging::SeekSource for MemtableSource {
    fn seek_front(&mut self, key: &[u8]) -> bool {
        self.0.seek_front(key)
    }

    fn seek_back(&mut self, key: &[u8]) -> bool {
        self.0.seek_back(key)
    }

    fn max_seqno(&self) -> SeqNo {
        self.0.memtable.highest_entry_seqno().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests;
