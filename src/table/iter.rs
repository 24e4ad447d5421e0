//! [`TableIter`]: a double-ended scan over one table within user-key bounds, showing only the
//! entries visible at a read seqno.
//!
//! The iterator finds, by binary search in the index, the index spans (restart intervals of a
//! full index, or partitions) that can hold blocks within the bounds, and reads them lazily from
//! either end, so a short scan of a large table reads a few index entries, not all of them. It
//! loads the data blocks one at a time from either end: the front end decodes its block one entry
//! at a time (after a binary search of the block's restarts for the lower bound), the back end
//! decodes whole blocks. It is a deque over the remaining entries: each end keeps
//! the entries of the block it loaded last, and when the two ends reach the same block the one
//! that gets there second takes its entries from the other's buffer, so no entry is yielded twice.
//!
//! Each end checks the order of what it decodes, so that misordered keys in a table are
//! `Error::Corruption` naming the table and the block, whoever reads them (a compaction would
//! otherwise feed them to the table writer, which refuses them as a caller's mistake): at the
//! front, every entry must follow the one decoded before it, the first must be at or after the
//! meta block's smallest key and the last at or before its largest; at the back, every block's
//! entries must be ascending and end before the block loaded before it, with the mirror checks
//! against the key range. With a lexicographic comparator the front's block cursor checks the
//! order within its block itself, comparing each entry's stored suffix with the previous key's
//! bytes after the shared prefix (`BlockCursor::checking_order`), so a scan compares and copies
//! no whole key per entry; only each block's first entry is compared with the block before.

#![deny(clippy::indexing_slicing)]

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;

use super::data_block::BlockCursor;
use super::meta::BlockHandle;
use super::reader::{IndexSpans, Table};
use crate::error::{CorruptionKind, Result};
use crate::key::InternalValue;
use crate::key_range::Bounds;
use crate::seqno::SeqNo;
use crate::slice::Slice;

/// The data blocks a scan has yet to load: index spans not yet read (`next_front ..
/// end_back`), and the handles read from them at either end.
struct Handles {
    spans: IndexSpans,
    next_front: usize,
    end_back: usize,
    front: VecDeque<BlockHandle>,
    back: VecDeque<BlockHandle>,
    /// The front found the last block needed.
    done_front: bool,
}

/// A scan over one table; see the module documentation.
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent flags of a hot cursor, each read on its own path"
)]
pub(crate) struct TableIter {
    table: Arc<Table>,
    lower: Bound<Slice>,
    upper: Bound<Slice>,
    read_seqno: SeqNo,
    /// The data blocks not yet loaded; `None` until the index was read.
    blocks: Option<Handles>,
    /// Entries the back end handed to the front (only once no block is left).
    front: VecDeque<InternalValue>,
    /// The block the front end reads, one entry at a time.
    cursor: Option<BlockCursor>,
    /// The key buffer of the last cursor that ended, for the next one.
    spare_key: Vec<u8>,
    back: VecDeque<InternalValue>,
    /// The internal key of the last entry the front end decoded (see the order checks).
    last_front: Option<(Slice, SeqNo)>,
    /// The first internal key of the last block the back end loaded.
    first_back: Option<(Slice, SeqNo)>,
    failed: bool,
    /// The seqno every entry carries out (an ingested table, read above it).
    global_seqno: Option<SeqNo>,
    /// Whether blocks read from the file enter the block cache (not for compactions).
    fill_cache: bool,
    /// Whether the front's block cursors check the order of their entries (the table's
    /// comparator is lexicographic), leaving `check_front` the first entry of each block.
    cursor_checks_order: bool,
    /// The front end yielded a key at or past the lower bound (see `wanted_front`).
    front_past_lower: bool,
}

/// The error for entries out of order (or outside the table's key range) at `offset`.
const MISORDERED: CorruptionKind = CorruptionKind::InvalidField("entry order");

impl TableIter {
    pub(crate) fn new(
        table: Arc<Table>,
        bounds: (Bound<Slice>, Bound<Slice>),
        read_seqno: SeqNo,
    ) -> Self {
        // An ingested table's entries all read at its global seqno: a read at or below it sees
        // none of them, a read above it sees every one (`reader` module documentation).
        let global_seqno = table.global_seqno();
        let cmp_is_lexicographic = table.cmp().is_lexicographic();
        let hidden = global_seqno.is_some_and(|global| read_seqno <= global);
        let read_seqno = if global_seqno.is_some() {
            SeqNo::MAX
        } else {
            read_seqno
        };
        Self {
            table,
            lower: bounds.0,
            upper: bounds.1,
            read_seqno,
            blocks: None,
            front: VecDeque::new(),
            cursor: None,
            // NB: room for a typical key up front; grown from empty, the first block's keys took
            // one or two reallocations in every table a seek opens.
            spare_key: Vec::with_capacity(64),
            back: VecDeque::new(),
            last_front: None,
            first_back: None,
            // NB: a hidden table is a scan that has ended.
            failed: hidden,
            global_seqno,
            fill_cache: true,
            cursor_checks_order: cmp_is_lexicographic,
            front_past_lower: false,
        }
    }

    /// The same scan, leaving the block cache as it is: a block it reads from the file is not
    /// cached (a compaction reads each block once, and would evict the blocks reads use).
    pub(crate) fn without_cache_fill(mut self) -> Self {
        self.fill_cache = false;
        self
    }

    /// Gives an ingested table's entry its global seqno.
    fn stamp(&self, item: Option<Result<InternalValue>>) -> Option<Result<InternalValue>> {
        match (item, self.global_seqno) {
            (Some(Ok(mut entry)), Some(global)) => {
                entry.key.seqno = global;
                Some(Ok(entry))
            }
            (item, _) => item,
        }
    }

    /// Whether internal key `a` sorts strictly before `b`.
    fn before(&self, a: (&[u8], SeqNo), b: (&[u8], SeqNo)) -> bool {
        self.table.cmp().internal(a, b).is_lt()
    }

    /// Checks that `entry`, decoded at the front from the block at `offset`, follows the entry
    /// decoded before it (or, for the first, is not below the table's smallest key).
    fn check_front(&mut self, entry: &InternalValue, offset: u64) -> Result<()> {
        let key = (entry.key.user_key.as_bytes(), entry.key.seqno);
        let ordered = if let Some((last, seqno)) = &self.last_front {
            self.before((last, *seqno), key)
        } else {
            let cmp = self.table.cmp();
            cmp.user(key.0, &self.table.meta().min_key).is_ge()
        };
        if !ordered {
            return Err(self.table.corruption_at(offset, MISORDERED));
        }
        self.last_front = Some((entry.key.user_key.clone(), entry.key.seqno));
        Ok(())
    }

    /// Checks a block the back end loaded from `offset`: ascending, and before the block it
    /// loaded before (or, for the first, not above the table's largest key).
    fn check_back(&mut self, entries: &[InternalValue], offset: u64) -> Result<()> {
        fn key(e: &InternalValue) -> (&[u8], SeqNo) {
            (e.key.user_key.as_bytes(), e.key.seqno)
        }
        let ascending = entries
            .windows(2)
            .all(|pair| matches!(pair, [a, b] if self.before(key(a), key(b))));
        let ends_in_place = entries.last().is_none_or(|last| {
            if let Some((first, seqno)) = &self.first_back {
                self.before(key(last), (first, *seqno))
            } else {
                let cmp = self.table.cmp();
                cmp.user(key(last).0, &self.table.meta().max_key).is_le()
            }
        });
        if !ascending || !ends_in_place {
            return Err(self.table.corruption_at(offset, MISORDERED));
        }
        if let Some(first) = entries.first() {
            self.first_back = Some((first.key.user_key.clone(), first.key.seqno));
        }
        Ok(())
    }

    /// At the end of a table: the front's last key must not be above the table's largest key,
    /// nor the back's first key below its smallest.
    fn check_range_ends(&self) -> Result<()> {
        let cmp = self.table.cmp();
        let meta = self.table.meta();
        let above = self
            .last_front
            .as_ref()
            .is_some_and(|(k, _)| cmp.user(k, &meta.max_key).is_gt());
        let below = self
            .first_back
            .as_ref()
            .is_some_and(|(k, _)| cmp.user(k, &meta.min_key).is_lt());
        if above || below {
            return Err(self
                .table
                .corruption_at(self.table.footer_meta_offset(), MISORDERED));
        }
        Ok(())
    }

    /// Reads the index's top and picks the spans that can hold blocks within the bounds.
    fn init(&mut self) -> Result<()> {
        if self.blocks.is_some() {
            return Ok(());
        }
        let spans = self.table.index_spans()?;
        let cmp = self.table.cmp().clone();
        let below = |k: &[u8]| !Bounds::after(&self.lower, k, &cmp);
        let not_reaching = |k: &[u8]| Bounds::before(&self.upper, k, &cmp);
        let len = spans.len();
        // NB: an unbounded side needs no search (a seek with no upper bound is the common case).
        let below_count = match &self.lower {
            Bound::Unbounded => 0,
            Bound::Included(k) | Bound::Excluded(k) => {
                self.table.segment_partition_point(&spans, k, below)?
            }
        };
        let short_count = match &self.upper {
            Bound::Unbounded => len,
            Bound::Included(k) | Bound::Excluded(k) => {
                self.table
                    .segment_partition_point(&spans, k, not_reaching)?
            }
        };
        // Keyed by first key (a full index's restart intervals): interval r lies wholly below
        // the bound only if the next interval's first key does; the first block that reaches
        // the upper bound is the first key of interval `short_count` or lies in the one before.
        // Keyed by last key (partitions): exact.
        let (front, back) = if spans.keyed_by_first() {
            (below_count.saturating_sub(1), (short_count + 1).min(len))
        } else {
            (below_count, (short_count + 1).min(len))
        };
        self.blocks = Some(Handles {
            spans,
            next_front: front,
            end_back: back.max(front),
            front: VecDeque::new(),
            back: VecDeque::new(),
            done_front: false,
        });
        Ok(())
    }

    /// Whether a block whose last key is `last_key` lies wholly below the lower bound.
    fn block_below(&self, last_key: &[u8]) -> bool {
        !Bounds::after(&self.lower, last_key, self.table.cmp())
    }

    /// Whether a block whose last key is `last_key` passes the upper bound (it is the last block
    /// needed; with an inclusive bound, a block ending exactly at it may be followed by more
    /// versions of that key).
    fn block_reaches_end(&self, last_key: &[u8]) -> bool {
        !Bounds::before(&self.upper, last_key, self.table.cmp())
    }

    /// Adds to `out` the handles of span `i` within the bounds: none wholly below the lower
    /// bound, none after the first that reaches the upper one. Returns whether one reached it.
    fn load_segment(
        &self,
        spans: &IndexSpans,
        i: usize,
        out: &mut Vec<BlockHandle>,
    ) -> Result<bool> {
        let mut reached = false;
        self.table
            .visit_span(spans, i, self.fill_cache, |last_key, handle| {
                if self.block_below(last_key) {
                    return true;
                }
                out.push(handle);
                reached = self.block_reaches_end(last_key);
                !reached
            })?;
        Ok(reached)
    }

    /// The next data block from the front or the back, loading index spans as needed.
    fn next_block(&mut self, forward: bool) -> Result<Option<BlockHandle>> {
        loop {
            let Some(handles) = self.blocks.as_mut() else {
                return Ok(None);
            };
            let own = if forward {
                handles.front.pop_front()
            } else {
                handles.back.pop_back()
            };
            if let Some(handle) = own {
                return Ok(Some(handle));
            }
            if handles.next_front >= handles.end_back || (forward && handles.done_front) {
                // No span left: the rest is in the other end's buffer.
                return Ok(if forward {
                    handles.back.pop_front()
                } else {
                    handles.front.pop_back()
                });
            }
            let i = if forward {
                handles.next_front += 1;
                handles.next_front - 1
            } else {
                handles.end_back -= 1;
                handles.end_back
            };
            let spans = std::mem::replace(&mut handles.spans, IndexSpans::Partitioned(Vec::new()));
            let mut blocks = Vec::new();
            let loaded = self.load_segment(&spans, i, &mut blocks);
            let Some(handles) = self.blocks.as_mut() else {
                return Ok(None);
            };
            handles.spans = spans;
            let reached = loaded?;
            if forward {
                handles.front.extend(blocks);
                if reached {
                    // Nothing after this block is needed: drop the later spans.
                    handles.end_back = handles.next_front;
                    handles.back.clear();
                    handles.done_front = true;
                }
            } else {
                for handle in blocks.into_iter().rev() {
                    handles.back.push_front(handle);
                }
            }
        }
    }

    /// [`TableIter::wanted`] for the front end, which yields ascending keys: once one key was at
    /// or past the lower bound, every later one is, and only the upper bound is compared.
    fn wanted_front(&mut self, entry: &InternalValue) -> bool {
        if !self.front_past_lower {
            if !Bounds::after(&self.lower, &entry.key.user_key, self.table.cmp()) {
                return false;
            }
            self.front_past_lower = true;
        }
        Bounds::before(&self.upper, &entry.key.user_key, self.table.cmp())
            && entry.key.seqno < self.read_seqno
    }

    /// Brings `last_front` up to the last entry the front's cursor returned, when the cursor
    /// checks the order itself (see `step_forward`).
    fn sync_last_front(&mut self) {
        if !self.cursor_checks_order {
            return;
        }
        if let Some((key, seqno)) = self.cursor.as_ref().and_then(BlockCursor::last_key) {
            self.last_front = Some((Slice::new(key), seqno));
        }
    }

    fn wanted(&self, entry: &InternalValue) -> bool {
        let cmp = self.table.cmp();
        let key = &entry.key.user_key;
        Bounds::after(&self.lower, key, cmp)
            && Bounds::before(&self.upper, key, cmp)
            && entry.key.seqno < self.read_seqno
    }

    fn step(&mut self, forward: bool) -> Result<Option<InternalValue>> {
        self.init()?;
        if forward {
            self.step_forward()
        } else {
            self.step_backward()
        }
    }

    /// Forward: entries the back end handed over, then the block under the cursor (decoded one
    /// entry at a time), then the next block; with no block left, the back end's buffer.
    fn step_forward(&mut self) -> Result<Option<InternalValue>> {
        loop {
            if let Some(entry) = self.front.pop_front() {
                if self.wanted_front(&entry) {
                    return Ok(Some(entry));
                }
                continue;
            }
            if let Some(cursor) = self.cursor.as_mut() {
                let offset = cursor.offset;
                // NB: a cursor that checks the order itself leaves only its first entry to
                // `check_front` (against the block before); `last_front` catches up when the
                // cursor ends or the back end takes it over (`sync_last_front`).
                let checked = self.cursor_checks_order && cursor.last_key().is_some();
                match cursor.next_entry() {
                    Some(Ok(entry)) => {
                        if !checked {
                            self.check_front(&entry, offset)?;
                        }
                        if self.wanted_front(&entry) {
                            return Ok(Some(entry));
                        }
                    }
                    Some(Err(what)) => {
                        return Err(self.table.corruption_at(offset, what));
                    }
                    None => {
                        self.sync_last_front();
                        if let Some(done) = self.cursor.take() {
                            self.spare_key = done.into_buffer();
                        }
                    }
                }
                continue;
            }
            if let Some(handle) = self.next_block(true)? {
                let mut cursor = self.table.block_cursor(
                    handle,
                    std::mem::take(&mut self.spare_key),
                    self.fill_cache,
                )?;
                if self.cursor_checks_order {
                    cursor = cursor.checking_order();
                }
                if let Bound::Included(k) | Bound::Excluded(k) = &self.lower {
                    cursor
                        .seek(self.table.cmp(), k)
                        .map_err(|what| self.table.corruption_at(handle.offset, what))?;
                }
                self.cursor = Some(cursor);
                continue;
            }
            // No block left: what remains is in the back end's buffer.
            let Some(entry) = self.back.pop_front() else {
                self.check_range_ends()?;
                return Ok(None);
            };
            if self.wanted_front(&entry) {
                return Ok(Some(entry));
            }
        }
    }

    /// Backward: whole blocks from the end; with no block left, the front end's buffer and the
    /// rest of the block under its cursor.
    fn step_backward(&mut self) -> Result<Option<InternalValue>> {
        loop {
            if let Some(entry) = self.back.pop_back() {
                if self.wanted(&entry) {
                    return Ok(Some(entry));
                }
                continue;
            }
            if let Some(handle) = self.next_block(false)? {
                let entries = self.table.block_entries(handle, self.fill_cache)?;
                self.check_back(&entries, handle.offset)?;
                self.back.extend(entries);
                continue;
            }
            self.sync_last_front();
            if let Some(mut cursor) = self.cursor.take() {
                while let Some(entry) = cursor.next_entry() {
                    let entry =
                        entry.map_err(|what| self.table.corruption_at(cursor.offset, what))?;
                    self.check_front(&entry, cursor.offset)?;
                    self.front.push_back(entry);
                }
            }
            let Some(entry) = self.front.pop_back() else {
                self.check_range_ends()?;
                return Ok(None);
            };
            if self.wanted(&entry) {
                return Ok(Some(entry));
            }
        }
    }
}

impl Iterator for TableIter {
    type Item = Result<InternalValue>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.step(true).transpose();
        self.failed = matches!(item, Some(Err(_)));
        self.stamp(item)
    }
}

impl DoubleEndedIterator for TableIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.step(false).transpose();
        self.failed = matches!(item, Some(Err(_)));
        self.stamp(item)
    }
}
