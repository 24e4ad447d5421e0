//! Data blocks (and index blocks, which share the format): sorted entries with prefix-truncated
//! keys and restart points for binary search.
//!
//! Byte layout of a data block's raw contents (inside a [block](super::block); little-endian;
//! see `docs/format.md`):
//!
//! ```text
//! +---------+---------+-----+---------+-------------------------------+---------------+
//! | entry 0 | entry 1 | ... | entry n | restart offsets: u32 × count  | count: u32    |
//! +---------+---------+-----+---------+-------------------------------+---------------+
//!
//! entry:
//! +------------+--------------+-------------+--------------+-------+------------+-------+
//! | shared     | unshared     | value_len   | seqno        | type  | key suffix | value |
//! | varint u32 | varint u32   | varint u32  | varint u64   | u8    | unshared   | value |
//! +------------+--------------+-------------+--------------+-------+------------+-------+
//! ```
//!
//! 1. Entries are sorted by internal key (user key through the comparator, then seqno
//!    descending); each internal key appears once.
//! 2. `shared` is the number of leading bytes the entry's user key shares with the previous
//!    entry's user key; `unshared` bytes of the key follow. Every `restart_interval`-th entry is a
//!    *restart point*: its `shared` is 0, so its key is stored whole.
//! 3. `type` is the persisted [`ValueType`]; `value` is empty for tombstones.
//! 4. The restart offsets (each the byte offset of a restart entry, ascending; the first is 0)
//!    and their count close the block. A point read binary-searches the restart keys, then scans
//!    at most one restart interval.
//! 5. Optional in-block hash index (`HashRatioPolicy`), between the restart offsets and the count:
//!    `buckets: u8 × m` then `m: u16`; the top bit of the count word says it is present. Bucket
//!    `xxh3(user key) → [0, m)` holds the restart interval where that key's first version lies,
//!    254 for "no key of this block hashes here" and 255 for "several restarts collide: binary
//!    search". A point read then skips the binary search.
//!
//! ```text
//! with a hash index:
//! | entries | restart offsets: u32 × count | buckets: u8 × m | m: u16 | count | 1 << 31: u32 |
//! ```
//!
//! An index block uses the same layout; its keys are the last internal key of each data block and
//! its values are encoded block handles.
//!
//! Decoding checks every offset and length against the block's bounds and returns
//! [`CorruptionKind`] for anything out of place: never a panic, never an out-of-bounds read. An
//! entry's seqno above [`MAX_SEQNO`] is corruption too (the writer never stores one; the top bit
//! is the engine's).

#![deny(clippy::indexing_slicing)]

use std::cmp::Ordering;
use std::sync::Arc;

use crate::coding::{decode_varint_u32, encode_varint_u32};
use crate::coding::{decode_varint_u64, put_varint_u64};
use crate::error::CorruptionKind;
use crate::key::{Comparator, InternalValue, ValueType};
use crate::seqno::{MAX_SEQNO, SeqNo};
use crate::slice::Slice;

fn put_varint_u32(out: &mut Vec<u8>, value: u32) {
    let mut buf = [0u8; 5];
    let n = encode_varint_u32(value, &mut buf);
    out.extend_from_slice(buf.get(..n).unwrap_or_default());
}

/// Builds the raw contents of a data block from entries added in internal-key order.
pub(crate) struct DataBlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    restart_interval: usize,
    since_restart: usize,
    last_key: Vec<u8>,
    count: usize,
    /// Buckets per distinct user key of the hash index; 0 builds none.
    hash_ratio: f64,
    /// The hash of each distinct user key and the restart interval of its first version.
    hashes: Vec<(u64, usize)>,
}

/// Bucket value: no key of the block hashes here.
const BUCKET_EMPTY: u8 = 254;
/// Bucket value: keys of several restart intervals hash here.
const BUCKET_COLLISION: u8 = 255;
/// The count word's flag for a block with a hash index.
const HASH_INDEX_FLAG: u32 = 1 << 31;

fn bucket_of(hash: u64, buckets: usize) -> usize {
    // Multiply-shift onto [0, buckets) with the high half of the hash.
    (((hash >> 32) * buckets as u64) >> 32) as usize
}

impl DataBlockBuilder {
    pub(crate) fn new(restart_interval: u8) -> Self {
        Self {
            buf: Vec::new(),
            restarts: Vec::new(),
            restart_interval: usize::from(restart_interval.max(1)),
            since_restart: 0,
            last_key: Vec::new(),
            count: 0,
            hash_ratio: 0.0,
            hashes: Vec::new(),
        }
    }

    /// Builds an in-block hash index with `ratio` buckets per distinct user key (0: none). Only
    /// valid when key equality is byte equality (the lexicographic comparator).
    pub(crate) fn with_hash_index(mut self, ratio: f64) -> Self {
        self.hash_ratio = if ratio.is_finite() {
            ratio.clamp(0.0, 16.0)
        } else {
            0.0
        };
        self
    }

    /// The number of entries added.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// The size the finished block will have, in bytes.
    pub(crate) fn estimated_size(&self) -> usize {
        self.buf.len() + 4 * (self.restarts.len() + 1) + self.bucket_count() + 2
    }

    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a small positive bucket count, clamped to u16"
    )]
    fn bucket_count(&self) -> usize {
        if self.hash_ratio <= 0.0 || self.hashes.is_empty() {
            return 0;
        }
        ((self.hashes.len() as f64 * self.hash_ratio).ceil() as usize)
            .clamp(1, usize::from(u16::MAX))
    }

    /// Adds an entry; entries must come in internal-key order.
    ///
    /// # Panics
    /// Panics if the key or value is longer than `u32::MAX` bytes (refused at write time).
    pub(crate) fn add(&mut self, key: &[u8], seqno: SeqNo, value_type: ValueType, value: &[u8]) {
        let new_user_key = self.count == 0 || self.last_key != key;
        let shared = if self.since_restart == 0 {
            let offset = u32::try_from(self.buf.len())
                .unwrap_or_else(|_| panic!("data block grew past u32::MAX bytes"));
            self.restarts.push(offset);
            0
        } else {
            self.last_key
                .iter()
                .zip(key)
                .take_while(|(a, b)| a == b)
                .count()
        };
        let to_u32 = |n: usize| {
            u32::try_from(n).unwrap_or_else(|_| panic!("entry part of {n} bytes exceeds u32::MAX"))
        };
        put_varint_u32(&mut self.buf, to_u32(shared));
        put_varint_u32(&mut self.buf, to_u32(key.len() - shared));
        put_varint_u32(&mut self.buf, to_u32(value.len()));
        put_varint_u64(&mut self.buf, seqno);
        self.buf.push(u8::from(value_type));
        self.buf
            .extend_from_slice(key.get(shared..).unwrap_or_default());
        self.buf.extend_from_slice(value);
        if self.hash_ratio > 0.0 && new_user_key {
            self.hashes
                .push((super::filter::key_hash(key), self.restarts.len() - 1));
        }
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.since_restart = (self.since_restart + 1) % self.restart_interval;
        self.count += 1;
    }

    /// Finishes the block and returns its raw contents; the builder is reset for the next block.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        for offset in &self.restarts {
            out.extend_from_slice(&offset.to_le_bytes());
        }
        let mut count = u32::try_from(self.restarts.len()).unwrap_or(u32::MAX);
        let buckets = self.bucket_count();
        // Restart numbers must fit below the two reserved bucket values.
        if buckets > 0 && self.restarts.len() < usize::from(BUCKET_EMPTY) {
            let mut table = vec![BUCKET_EMPTY; buckets];
            for &(hash, restart) in &self.hashes {
                let restart = u8::try_from(restart).unwrap_or(BUCKET_COLLISION);
                if let Some(slot) = table.get_mut(bucket_of(hash, buckets)) {
                    *slot = match *slot {
                        BUCKET_EMPTY => restart,
                        same if same == restart => same,
                        _ => BUCKET_COLLISION,
                    };
                }
            }
            out.extend_from_slice(&table);
            out.extend_from_slice(&u16::try_from(buckets).unwrap_or(u16::MAX).to_le_bytes());
            count |= HASH_INDEX_FLAG;
        }
        out.extend_from_slice(&count.to_le_bytes());
        self.hashes.clear();
        self.restarts.clear();
        self.since_restart = 0;
        self.last_key.clear();
        self.count = 0;
        out
    }
}

/// A forward cursor over a data block: entries are decoded one at a time, on demand, so a short
/// scan decodes only what it reads.
pub(crate) struct BlockCursor {
    block: DataBlock,
    /// The block's offset in its file (for errors).
    pub(crate) offset: u64,
    pos: usize,
    key: Vec<u8>,
    /// The entry at `pos`, decoded by [`BlockCursor::seek`], whose key is already in `key`.
    pending: Option<RawEntry>,
    /// The seqno of the last entry [`BlockCursor::next_entry`] returned (its key is in `key`).
    last_seqno: Option<SeqNo>,
    /// Whether `next_entry` checks that each entry follows the one it returned before, under
    /// the lexicographic order (see [`BlockCursor::checking_order`]).
    check_order: bool,
}

impl BlockCursor {
    #[cfg(test)]
    pub(crate) fn new(block: DataBlock, offset: u64) -> Self {
        Self::with_buffer(block, offset, Vec::new())
    }

    /// A cursor that rebuilds keys in `buffer` (the buffer of a cursor that ended: a scan
    /// moving from block to block allocates its key buffer once).
    pub(crate) fn with_buffer(block: DataBlock, offset: u64, mut buffer: Vec<u8>) -> Self {
        buffer.clear();
        Self {
            block,
            offset,
            pos: 0,
            key: buffer,
            pending: None,
            last_seqno: None,
            check_order: false,
        }
    }

    /// Makes [`BlockCursor::next_entry`] check that every entry after the first it returns
    /// follows the one before in internal-key order under the *lexicographic* order (call it
    /// only for tables written with a lexicographic comparator), and fail with
    /// `InvalidField("entry order")` where one does not. The check costs one short comparison:
    /// an entry's key is the previous key's first `shared` bytes followed by its suffix, so it
    /// sorts after the previous key exactly when its suffix sorts after the previous key's
    /// bytes from `shared` on (or equals them, with a lower seqno).
    pub(crate) fn checking_order(mut self) -> Self {
        self.check_order = true;
        self
    }

    /// The internal key of the last entry [`BlockCursor::next_entry`] returned, if any.
    pub(crate) fn last_key(&self) -> Option<(&[u8], SeqNo)> {
        self.last_seqno.map(|seqno| (self.key.as_slice(), seqno))
    }

    /// The cursor's key buffer, for the next cursor.
    pub(crate) fn into_buffer(self) -> Vec<u8> {
        self.key
    }

    /// Moves to the first entry whose user key is at or after `key`: a binary search of the
    /// restart keys, then a walk through one restart interval that rebuilds each key in place
    /// and materializes none of the entries it passes.
    pub(crate) fn seek(&mut self, cmp: &Comparator, key: &[u8]) -> Result<(), CorruptionKind> {
        let before = self
            .block
            .restart_partition_point_near(key, |k| cmp.user(k, key).is_lt())?;
        self.pos = if before == 0 {
            0
        } else {
            self.block.restart(before - 1)?
        };
        self.key.clear();
        self.pending = None;
        self.last_seqno = None;
        if cmp.is_lexicographic() {
            let end = self.block.interval_end(before.saturating_sub(1));
            match self.block.walk_lexicographic(self.pos, end, key, None)? {
                Some((entry, _)) => {
                    let (head, suffix) = self.block.walked_key(key, &entry);
                    self.key.extend_from_slice(head);
                    self.key.extend_from_slice(suffix);
                    self.pos = entry.next;
                    self.pending = Some(entry);
                }
                None => self.pos = self.block.entries_end,
            }
            return Ok(());
        }
        while self.pos < self.block.entries_end {
            let entry = self.block.decode_entry(self.pos)?;
            self.block.apply_key(&mut self.key, &entry)?;
            if cmp.user(&self.key, key).is_ge() {
                self.pending = Some(entry);
                return Ok(());
            }
            self.pos = entry.next;
        }
        Ok(())
    }

    /// The next entry, if any.
    pub(crate) fn next_entry(&mut self) -> Option<Result<InternalValue, CorruptionKind>> {
        let entry = if let Some(entry) = self.pending.take() {
            entry
        } else {
            if self.pos >= self.block.entries_end {
                return None;
            }
            let entry = match self.block.decode_entry(self.pos) {
                Ok(entry) => entry,
                Err(what) => {
                    self.pos = self.block.entries_end;
                    return Some(Err(what));
                }
            };
            if let Some(last_seqno) = self.last_seqno.filter(|_| self.check_order)
                && !self.follows(&entry, last_seqno)
            {
                self.pos = self.block.entries_end;
                return Some(Err(CorruptionKind::InvalidField("entry order")));
            }
            if let Err(what) = self.block.apply_key(&mut self.key, &entry) {
                self.pos = self.block.entries_end;
                return Some(Err(what));
            }
            entry
        };
        self.pos = entry.next;
        self.last_seqno = Some(entry.seqno);
        Some(Ok(InternalValue::from_components(
            Slice::new(&self.key),
            self.block.data.slice(entry.value),
            entry.seqno,
            entry.value_type,
        )))
    }
}

impl BlockCursor {
    /// Whether `entry` (not yet applied to `key`, which holds the last returned entry's key)
    /// sorts after that entry, whose seqno is `last_seqno`, lexicographically. A `shared`
    /// length past the key is left to `apply_key`, which refuses it.
    fn follows(&self, entry: &RawEntry, last_seqno: SeqNo) -> bool {
        let (Some(old_tail), Some(suffix)) = (
            self.key.get(entry.shared..),
            self.block.data.get(entry.suffix.clone()),
        ) else {
            return true;
        };
        match crate::key::lexicographic(suffix, old_tail) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => entry.seqno < last_seqno,
            std::cmp::Ordering::Less => false,
        }
    }
}

/// The entry at byte `offset` of `entries` (a block's bytes before its restart array), every
/// offset and length checked against them. Inlined into the loops that walk a block: its
/// result is a large struct, which a call would pass through memory.
#[expect(
    clippy::inline_always,
    reason = "the hot loop of every block search; measured with callgrind (docs/design.md)"
)]
#[inline(always)]
fn decode_entry_in(entries: &[u8], offset: usize) -> Result<RawEntry, CorruptionKind> {
    let bytes = entries
        .get(offset..)
        .ok_or(CorruptionKind::InvalidField("entry offset"))?;
    // NB: shared, unshared and value lengths below 128 take one byte each: the common case
    // is decoded without the loop of the general varint decoder.
    let (shared, unshared, value_len, mut pos) = match bytes {
        [a, b, c, ..] if (*a | *b | *c) < 0x80 => {
            (usize::from(*a), usize::from(*b), usize::from(*c), 3)
        }
        _ => {
            let mut pos = 0;
            let mut varint = || -> Result<usize, CorruptionKind> {
                let (value, n) = decode_varint_u32(bytes.get(pos..).unwrap_or_default())
                    .ok_or(CorruptionKind::InvalidField("entry length"))?;
                pos += n;
                Ok(value as usize)
            };
            let (shared, unshared, value_len) = (varint()?, varint()?, varint()?);
            (shared, unshared, value_len, pos)
        }
    };
    let (seqno, n) = seqno_varint(bytes.get(pos..).unwrap_or_default())
        .filter(|&(seqno, _)| seqno <= MAX_SEQNO)
        .ok_or(CorruptionKind::InvalidField("entry seqno"))?;
    pos += n;
    let type_byte = *bytes.get(pos).ok_or(CorruptionKind::Truncated)?;
    let value_type =
        ValueType::try_from(type_byte).map_err(|_| CorruptionKind::InvalidField("value type"))?;
    pos += 1;
    let suffix_start = offset + pos;
    // NB: each length is below 2^32 and the block is below 2^32 bytes: no overflow on
    // 64-bit targets, and checked on others.
    let suffix_end = suffix_start
        .checked_add(unshared)
        .ok_or(CorruptionKind::InvalidField("key length"))?;
    let value_end = suffix_end
        .checked_add(value_len)
        .ok_or(CorruptionKind::InvalidField("value length"))?;
    if value_end > entries.len() {
        return Err(CorruptionKind::InvalidField("entry length"));
    }
    Ok(RawEntry {
        shared,
        suffix: suffix_start..suffix_end,
        value: suffix_end..value_end,
        seqno,
        value_type,
        next: value_end,
    })
}

/// The number of leading bytes `a` and `b` share, eight at a time.
#[inline]
fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    let (mut a_rest, mut b_rest) = (a, b);
    let mut n = 0;
    while let (Some((x, a_tail)), Some((y, b_tail))) = (
        a_rest.split_first_chunk::<8>(),
        b_rest.split_first_chunk::<8>(),
    ) {
        let diff = u64::from_le_bytes(*x) ^ u64::from_le_bytes(*y);
        if diff != 0 {
            return n + (diff.trailing_zeros() / 8) as usize;
        }
        n += 8;
        a_rest = a_tail;
        b_rest = b_tail;
    }
    n + a_rest
        .iter()
        .zip(b_rest)
        .take_while(|(x, y)| x == y)
        .count()
}

/// A seqno varint: up to three bytes (seqnos below 2^21) unrolled, longer ones by the general
/// decoder.
#[inline]
fn seqno_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    match bytes {
        [a, ..] if *a < 0x80 => Some((u64::from(*a), 1)),
        [a, b, ..] if *b < 0x80 => Some((u64::from(a & 0x7f) | (u64::from(*b) << 7), 2)),
        [a, b, c, ..] if *c < 0x80 => Some((
            u64::from(a & 0x7f) | (u64::from(b & 0x7f) << 7) | (u64::from(*c) << 14),
            3,
        )),
        _ => decode_varint_u64(bytes),
    }
}

/// One decoded entry: where its parts lie in the block.
struct RawEntry {
    shared: usize,
    suffix: std::ops::Range<usize>,
    value: std::ops::Range<usize>,
    seqno: SeqNo,
    value_type: ValueType,
    next: usize,
}

/// A parsed, validated data (or index) block over its raw contents.
#[derive(Clone, Debug)]
pub(crate) struct DataBlock {
    data: Slice,
    /// Where the restart array starts; entries occupy `0..entries_end`.
    entries_end: usize,
    restart_count: usize,
    /// The hash index's buckets, if the block has one.
    buckets: Option<std::ops::Range<usize>>,
    /// The fences of a large index block (see [`Fences`]), built in memory, never stored.
    fences: Option<Arc<Fences>>,
}

/// The fewest restarts for which [`DataBlock::with_fences`] builds fences.
const MIN_FENCED_RESTARTS: usize = 64;

/// An in-memory summary of a large block's restart keys that keeps a binary search out of the
/// block's bytes: the prefix every restart key shares, and per restart the next eight bytes of
/// its key after that prefix, zero-padded, as a big-endian integer (its *window*).
///
/// Under the lexicographic order, a restart whose window is below the window of a searched key
/// `k` (which starts with the prefix) has a key below `k`, and one whose window is above it has
/// a key above `k`: a search of the contiguous windows leaves only the restarts whose window
/// equals `k`'s (usually none or one) to be compared by their keys. A binary search of the
/// block touches a random cache line per probe, twice (restart offset and entry); the windows
/// of a 64 MiB table's index fit in 128 KiB.
#[derive(Debug)]
struct Fences {
    prefix: Box<[u8]>,
    windows: Box<[u64]>,
    /// Every [`FENCE_STRIDE`]-th window, from the first: a search narrows to one stride of
    /// `windows` in this small array (a few KiB, which stays in the CPU's caches), then
    /// searches those 64 windows (eight cache lines), instead of probing the whole array.
    top: Box<[u64]>,
}

/// Windows per entry of [`Fences::top`].
const FENCE_STRIDE: usize = 64;

impl Fences {
    /// The window of `suffix`: its first eight bytes, zero-padded, big-endian.
    #[expect(
        clippy::big_endian_bytes,
        reason = "an order-preserving load, not an encoding"
    )]
    fn window(suffix: &[u8]) -> u64 {
        let mut bytes = [0u8; 8];
        let n = suffix.len().min(8);
        if let (Some(to), Some(from)) = (bytes.get_mut(..n), suffix.get(..n)) {
            to.copy_from_slice(from);
        }
        u64::from_be_bytes(bytes)
    }

    /// `windows.partition_point(pred)` for a `pred` that holds for a prefix of the windows,
    /// through `top`: the strides whose first window satisfies `pred` all do but maybe the last,
    /// so the point lies in that last one.
    fn partition_point(&self, pred: impl Fn(u64) -> bool) -> usize {
        let strides = self.top.partition_point(|&w| pred(w));
        let Some(start) = strides.checked_sub(1).map(|s| s * FENCE_STRIDE) else {
            return 0;
        };
        let end = (start + FENCE_STRIDE).min(self.windows.len());
        start
            + self
                .windows
                .get(start..end)
                .unwrap_or_default()
                .partition_point(|&w| pred(w))
    }

    /// The restarts `lo..hi` whose keys may equal `key`: those before `lo` are below it, those
    /// from `hi` on above it (lexicographic order).
    fn candidates(&self, key: &[u8]) -> (usize, usize) {
        let n = self.windows.len();
        let p = self.prefix.len();
        match key.get(..p) {
            Some(head) if head == &*self.prefix => {
                let t = Self::window(key.get(p..).unwrap_or_default());
                (
                    self.partition_point(|w| w < t),
                    self.partition_point(|w| w <= t),
                )
            }
            // NB: a key that does not start with the prefix is below every restart key or
            // above every one, as the prefix is.
            _ => {
                if crate::key::lexicographic(key, &self.prefix).is_lt() {
                    (0, 0)
                } else {
                    (n, n)
                }
            }
        }
    }
}

impl DataBlock {
    /// Validates the trailer of a block's raw contents.
    pub(crate) fn new(data: Slice) -> Result<Self, CorruptionKind> {
        let len = data.len();
        let count_bytes: [u8; 4] = data
            .get(len.checked_sub(4).ok_or(CorruptionKind::Truncated)?..)
            .and_then(|b| b.try_into().ok())
            .ok_or(CorruptionKind::Truncated)?;
        let count_word = u32::from_le_bytes(count_bytes);
        let restart_count = (count_word & !HASH_INDEX_FLAG) as usize;
        let mut tail = 4;
        let mut buckets = None;
        if count_word & HASH_INDEX_FLAG != 0 {
            let m_bytes: [u8; 2] = len
                .checked_sub(6)
                .and_then(|at| data.get(at..at + 2))
                .and_then(|b| b.try_into().ok())
                .ok_or(CorruptionKind::Truncated)?;
            let m = usize::from(u16::from_le_bytes(m_bytes));
            let start = len
                .checked_sub(6 + m)
                .ok_or(CorruptionKind::InvalidField("hash index"))?;
            if m == 0 || restart_count >= usize::from(BUCKET_EMPTY) {
                return Err(CorruptionKind::InvalidField("hash index"));
            }
            buckets = Some(start..start + m);
            tail += 2 + m;
        }
        let trailer = restart_count
            .checked_mul(4)
            .and_then(|n| n.checked_add(tail))
            .ok_or(CorruptionKind::InvalidField("restart count"))?;
        let entries_end = len
            .checked_sub(trailer)
            .ok_or(CorruptionKind::InvalidField("restart count"))?;
        if restart_count == 0 && entries_end != 0 {
            return Err(CorruptionKind::InvalidField("restart count"));
        }
        let block = Self {
            data,
            entries_end,
            restart_count,
            buckets,
            fences: None,
        };
        if let Some(range) = &block.buckets {
            let table = block.data.get(range.clone()).unwrap_or_default();
            if table.iter().any(|&b| {
                b != BUCKET_EMPTY && b != BUCKET_COLLISION && usize::from(b) >= restart_count
            }) {
                return Err(CorruptionKind::InvalidField("hash bucket"));
            }
        }
        let mut previous = None;
        for i in 0..restart_count {
            let offset = block.restart(i)?;
            if offset >= entries_end
                || previous.is_some_and(|p| offset <= p)
                || (i == 0 && offset != 0)
            {
                return Err(CorruptionKind::InvalidField("restart offset"));
            }
            previous = Some(offset);
        }
        Ok(block)
    }

    fn restart(&self, i: usize) -> Result<usize, CorruptionKind> {
        let at = self.entries_end + 4 * i;
        let bytes: [u8; 4] = self
            .data
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or(CorruptionKind::Truncated)?;
        Ok(u32::from_le_bytes(bytes) as usize)
    }

    /// Where a walk from restart point `i` stops reading at the latest: the first entry of the
    /// next restart interval (whose key is stored whole, so a header and a short key are read),
    /// or the end of the entries. For prefetching only.
    fn interval_end(&self, i: usize) -> usize {
        match self.restart(i + 1) {
            Ok(offset) if i + 1 < self.restart_count => (offset + 32).min(self.entries_end),
            _ => self.entries_end,
        }
    }

    /// The entry at byte `offset`.
    #[inline]
    fn decode_entry(&self, offset: usize) -> Result<RawEntry, CorruptionKind> {
        decode_entry_in(self.entry_bytes(), offset)
    }

    /// The bytes of the entries (before the restart array).
    #[inline]
    fn entry_bytes(&self) -> &[u8] {
        // NB: `entries_end` is within the data, checked when the block was parsed.
        self.data.get(..self.entries_end).unwrap_or_default()
    }

    /// Rebuilds `key` for `entry` from the previous key in `key`.
    fn apply_key(&self, key: &mut Vec<u8>, entry: &RawEntry) -> Result<(), CorruptionKind> {
        if entry.shared > key.len() {
            return Err(CorruptionKind::InvalidField("shared key length"));
        }
        key.truncate(entry.shared);
        key.extend_from_slice(
            self.data
                .get(entry.suffix.clone())
                .ok_or(CorruptionKind::Truncated)?,
        );
        Ok(())
    }

    /// The key of restart point `i`, borrowed from the block (a restart key is stored whole).
    fn restart_key(&self, i: usize) -> Result<(&[u8], SeqNo), CorruptionKind> {
        let entry = self.decode_entry(self.restart(i)?)?;
        if entry.shared != 0 {
            return Err(CorruptionKind::InvalidField(
                "restart entry shares a prefix",
            ));
        }
        let key = self
            .data
            .get(entry.suffix)
            .ok_or(CorruptionKind::Truncated)?;
        Ok((key, entry.seqno))
    }

    /// Under the lexicographic order: walks the entries from byte `pos` (a restart point; the
    /// bytes up to `prefetch_end` are asked of the CPU at once, one cache line per entry) to
    /// the first whose internal key is at or after `(key, seqno)` (with `seqno` `None`: whose
    /// user key is at or after `key`) and returns it, with whether its user key equals `key`;
    /// `None` if every entry from `pos` on is before. The entry's key is `key`'s first
    /// `shared` bytes followed by its suffix ([`DataBlock::walked_key`]).
    ///
    /// No key is rebuilt on the way: the walk keeps how many leading bytes the previous key
    /// shares with `key` (`matched`; the previous key sorts before `key`). An entry that
    /// shares more than that with the previous key has the previous key's byte at `matched`,
    /// which is below `key`'s, so it sorts before `key` without a look at its bytes; one that
    /// shares at most `matched` bytes equals `key` up to `shared`, and only its suffix is
    /// compared with the rest of `key`. The answer is exact whatever the block holds (sorted
    /// or not): each step follows from the previous key's relation to `key` alone.
    fn walk_lexicographic(
        &self,
        mut pos: usize,
        prefetch_end: usize,
        key: &[u8],
        seqno: Option<SeqNo>,
    ) -> Result<Option<(RawEntry, bool)>, CorruptionKind> {
        let entries = self.entry_bytes();
        // The walk reads about one cache line per entry up to the next restart point: asked for
        // at once, their misses overlap.
        crate::hint::prefetch_bytes(entries.get(pos..prefetch_end).unwrap_or_default());
        let mut previous_len = 0usize;
        let mut matched = 0usize;
        while pos < entries.len() {
            let entry = decode_entry_in(entries, pos)?;
            if entry.shared > previous_len {
                return Err(CorruptionKind::InvalidField("shared key length"));
            }
            let suffix = entries
                .get(entry.suffix.clone())
                .ok_or(CorruptionKind::Truncated)?;
            let order = if entry.shared > matched {
                Ordering::Less
            } else {
                // NB: `shared <= matched <= key.len()`.
                let rest = key.get(entry.shared..).unwrap_or_default();
                let common = common_prefix_len(suffix, rest);
                matched = entry.shared + common;
                match (suffix.get(common), rest.get(common)) {
                    (Some(a), Some(b)) => a.cmp(b),
                    (Some(_), None) => Ordering::Greater,
                    (None, Some(_)) => Ordering::Less,
                    (None, None) => Ordering::Equal,
                }
            };
            previous_len = entry.shared + suffix.len();
            let at_or_after = match order {
                Ordering::Greater => true,
                Ordering::Equal => seqno.is_none_or(|s| entry.seqno <= s),
                Ordering::Less => false,
            };
            if at_or_after {
                return Ok(Some((entry, order == Ordering::Equal)));
            }
            pos = entry.next;
        }
        Ok(None)
    }

    /// The key of `entry`, found by [`DataBlock::walk_lexicographic`] for `key`: `key`'s
    /// first `shared` bytes (the walk checked that they are the entry's) and its suffix.
    fn walked_key<'k>(&'k self, key: &'k [u8], entry: &RawEntry) -> (&'k [u8], &'k [u8]) {
        (
            key.get(..entry.shared).unwrap_or_default(),
            self.data.get(entry.suffix.clone()).unwrap_or_default(),
        )
    }

    /// Builds the block's [`Fences`] if it is large (at least 64 restarts) and ordered
    /// lexicographically: for index blocks that are searched many times.
    pub(crate) fn with_fences(mut self, cmp: &Comparator) -> Result<Self, CorruptionKind> {
        if !cmp.is_lexicographic() || self.restart_count < MIN_FENCED_RESTARTS {
            return Ok(self);
        }
        let first = self.restart_key(0)?.0;
        let last = self.restart_key(self.restart_count - 1)?.0;
        // Sorted keys: every restart key shares what the first and the last share.
        let shared = first.iter().zip(last).take_while(|(a, b)| a == b).count();
        let prefix: Box<[u8]> = first.get(..shared).unwrap_or_default().into();
        let mut windows = Vec::with_capacity(self.restart_count);
        for i in 0..self.restart_count {
            let key = self.restart_key(i)?.0;
            // NB: a block whose restart keys are out of order would break the fences' promise;
            // it is corruption (the order is checked here once, not on every search).
            let suffix = key
                .get(shared..)
                .filter(|_| key.starts_with(&prefix))
                .ok_or(CorruptionKind::InvalidField("restart key order"))?;
            let window = Fences::window(suffix);
            if windows.last().is_some_and(|&w| w > window) {
                return Err(CorruptionKind::InvalidField("restart key order"));
            }
            windows.push(window);
        }
        let top = windows.iter().step_by(FENCE_STRIDE).copied().collect();
        self.fences = Some(Arc::new(Fences {
            prefix,
            windows: windows.into_boxed_slice(),
            top,
        }));
        Ok(self)
    }

    /// The bytes the block holds in memory: its contents and its fences.
    pub(crate) fn memory_len(&self) -> usize {
        self.data.len()
            + self
                .fences
                .as_ref()
                .map_or(0, |f| f.prefix.len() + 8 * (f.windows.len() + f.top.len()))
    }

    /// The restarts a search for `key` must look at (all without fences): every restart
    /// before the range is below `key`, every one after it above.
    fn search_range(&self, key: &[u8]) -> (usize, usize) {
        match &self.fences {
            Some(fences) => fences.candidates(key),
            None => (0, self.restart_count),
        }
    }

    /// The number of restart points (restart intervals).
    pub(crate) fn restart_count(&self) -> usize {
        self.restart_count
    }

    /// The number of restart points whose user key satisfies `pred` (binary search), for a
    /// `pred` that holds for the restart keys below `key` and for none above it (`k < key` or
    /// `k <= key`): the block's fences narrow the search first.
    pub(crate) fn restart_partition_point_near(
        &self,
        key: &[u8],
        pred: impl Fn(&[u8]) -> bool,
    ) -> Result<usize, CorruptionKind> {
        let (lo, hi) = self.search_range(key);
        self.partition_point_in(lo, hi, pred)
    }

    /// The binary search of `pred` over restarts `lo..hi`, all before `lo` holding it and all
    /// from `hi` on not.
    fn partition_point_in(
        &self,
        lo: usize,
        hi: usize,
        pred: impl Fn(&[u8]) -> bool,
    ) -> Result<usize, CorruptionKind> {
        let (mut lo, mut hi) = (lo, hi.min(self.restart_count));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(self.restart_key(mid)?.0) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Calls `visit(key, value)` on the entries of restart interval `i` (all of them with
    /// `i = None`), in order, until it returns `false`; nothing is allocated but one key buffer.
    pub(crate) fn visit(
        &self,
        i: Option<usize>,
        mut visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), CorruptionKind> {
        let (mut pos, end) = match i {
            None => (0, self.entries_end),
            Some(i) => (
                self.restart(i)?,
                if i + 1 < self.restart_count {
                    self.restart(i + 1)?
                } else {
                    self.entries_end
                },
            ),
        };
        let mut key = Vec::new();
        // The previous key when it was stored whole, borrowed from the block.
        let mut whole: Option<&[u8]> = None;
        while pos < end {
            let entry = self.decode_entry(pos)?;
            let value = self
                .data
                .get(entry.value.clone())
                .ok_or(CorruptionKind::Truncated)?;
            // NB: a key stored whole (a restart entry: every entry of an index block written
            // with an interval of 1) is borrowed from the block, not copied.
            let go_on = if entry.shared == 0 {
                let stored = self
                    .data
                    .get(entry.suffix.clone())
                    .ok_or(CorruptionKind::Truncated)?;
                whole = Some(stored);
                visit(stored, value)
            } else {
                if let Some(previous) = whole.take() {
                    key.clear();
                    key.extend_from_slice(previous);
                }
                self.apply_key(&mut key, &entry)?;
                visit(&key, value)
            };
            if !go_on {
                break;
            }
            pos = entry.next;
        }
        Ok(())
    }

    /// Every entry, in order; values are zero-copy sub-slices of the block.
    pub(crate) fn entries(&self) -> Result<Vec<InternalValue>, CorruptionKind> {
        self.decode_range(0, self.entries_end)
    }

    /// The entries from byte `pos` (a restart point) up to byte `end`.
    fn decode_range(
        &self,
        mut pos: usize,
        end: usize,
    ) -> Result<Vec<InternalValue>, CorruptionKind> {
        let mut out = Vec::new();
        let mut key = Vec::new();
        while pos < end {
            let entry = self.decode_entry(pos)?;
            self.apply_key(&mut key, &entry)?;
            out.push(InternalValue::from_components(
                Slice::new(&key),
                self.data.slice(entry.value.clone()),
                entry.seqno,
                entry.value_type,
            ));
            pos = entry.next;
        }
        Ok(out)
    }

    /// The newest version of `key` at or below `seqno` in this block, if any: the in-block hash
    /// index when the block has one, else [`DataBlock::seek`]. Only for point reads under the
    /// lexicographic comparator (the only one a hash index is built for).
    pub(crate) fn point_get(
        &self,
        cmp: &Comparator,
        key: &[u8],
        seqno: SeqNo,
    ) -> Result<Option<InternalValue>, CorruptionKind> {
        let matching =
            |found: Option<InternalValue>| found.filter(|e| cmp.user(&e.key.user_key, key).is_eq());
        let Some(range) = &self.buckets else {
            return self.seek(cmp, key, seqno).map(matching);
        };
        let table = self.data.get(range.clone()).unwrap_or_default();
        let bucket = table
            .get(bucket_of(super::filter::key_hash(key), table.len()))
            .copied()
            .unwrap_or(BUCKET_COLLISION);
        match bucket {
            BUCKET_EMPTY => Ok(None),
            BUCKET_COLLISION => self.seek(cmp, key, seqno).map(matching),
            restart => {
                let (i, end) = (
                    usize::from(restart),
                    self.interval_end(usize::from(restart)),
                );
                // NB: a block has a hash index only under the lexicographic order.
                match self.walk_lexicographic(self.restart(i)?, end, key, Some(seqno))? {
                    Some((entry, true)) => Ok(Some(InternalValue::from_components(
                        Slice::new(key),
                        self.data.slice(entry.value),
                        entry.seqno,
                        entry.value_type,
                    ))),
                    // A later key, or no version of `key` the read sees.
                    Some((_, false)) | None => Ok(None),
                }
            }
        }
    }

    /// The first entry at or after internal key `(key, seqno)` within this block, if any.
    ///
    /// For a point read at read seqno X, pass `seqno = X - 1`: the result is the newest version
    /// visible at X if its user key matches.
    pub(crate) fn seek(
        &self,
        cmp: &Comparator,
        key: &[u8],
        seqno: SeqNo,
    ) -> Result<Option<InternalValue>, CorruptionKind> {
        if self.restart_count == 0 {
            return Ok(None);
        }
        // The last restart whose key is before the target (or the first restart).
        let (mut lo, mut hi) = self.search_range(key);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (mid_key, mid_seqno) = self.restart_key(mid)?;
            if cmp.internal((mid_key, mid_seqno), (key, seqno)) == Ordering::Less {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let lo = lo.saturating_sub(1);
        let mut pos = self.restart(lo)?;
        if cmp.is_lexicographic() {
            let end = self.interval_end(lo);
            let found = self.walk_lexicographic(pos, end, key, Some(seqno))?;
            return Ok(found.map(|(entry, _)| {
                let (head, suffix) = self.walked_key(key, &entry);
                InternalValue::from_components(
                    Slice::concat(head, suffix),
                    self.data.slice(entry.value),
                    entry.seqno,
                    entry.value_type,
                )
            }));
        }
        let mut current = Vec::with_capacity(64);
        while pos < self.entries_end {
            let entry = self.decode_entry(pos)?;
            self.apply_key(&mut current, &entry)?;
            if cmp.internal((&current, entry.seqno), (key, seqno)) != Ordering::Less {
                return Ok(Some(InternalValue::from_components(
                    Slice::new(&current),
                    self.data.slice(entry.value),
                    entry.seqno,
                    entry.value_type,
                )));
            }
            pos = entry.next;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
