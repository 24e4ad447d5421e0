//! Range tombstones: deletes of every key in `[start, end)` below a seqno, and the fragmented
//! form every reader and writer of them uses.
//!
//! A range tombstone at seqno S hides every entry with seqno < S in its range from reads at
//! X > S (`shared/API.md`). Tombstones may overlap; a [`FragList`] cuts them at every start and
//! end into sorted, non-overlapping fragments, each with the descending stack of the seqnos that
//! cover it. A point lookup is then one binary search ([`FragList::cover`]).
//!
//! Where it sits: each memtable keeps its tombstones apart from point data and caches their
//! `FragList` (`memtable`); each table stores its fragments in a block of their own and decodes
//! them once at open (`table`); each version merges every table's fragments into one list at
//! build time (`version`), so that a point read does one binary search per memtable plus one for
//! all tables, whatever the number of tables; scans look up covers with a cursor that moves with
//! the scan ([`Cover`]); flush and compaction drop what the fragments cover below the watermark,
//! reduce each stack to what reads at or above the watermark need ([`FragList::collect_garbage`])
//! and clip the fragments to each output table ([`FragList::clip`]).
//!
//! Every comparison goes through the tree's [`Comparator`]. The worst case is inherent: T nested
//! tombstones that share a start make O(T²) stack entries; memtables therefore ask to be rotated
//! past `Config::memtable_range_tombstone_limit` tombstones, and compaction keeps only the
//! newest seqno below the watermark per fragment.

#![deny(clippy::indexing_slicing)]

use std::collections::BTreeMap;

use crate::coding::{decode_varint_u64, put_bytes, put_varint_u64};
use crate::error::CorruptionKind;
use crate::key::Comparator;
use crate::seqno::{MAX_SEQNO, SeqNo};
use crate::slice::Slice;

/// A range tombstone: every key in `[start, end)` with a seqno below `seqno` is deleted for
/// reads above `seqno`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RangeTombstone {
    pub(crate) start: Slice,
    pub(crate) end: Slice,
    pub(crate) seqno: SeqNo,
}

/// Sorted, non-overlapping fragments, each with its seqnos in descending order; see the module
/// documentation. Immutable once built; shared through `Arc`.
#[derive(Clone, Debug, Default)]
pub(crate) struct FragList {
    /// Under the lexicographic order, integer keys for lookups (built on first use).
    accel: std::sync::OnceLock<Accel>,
    starts: Vec<Slice>,
    ends: Vec<Slice>,
    /// Fragment i's seqnos are `seqs[offsets[i]..offsets[i + 1]]`; `offsets.len()` is the
    /// fragment count plus one (or 0 when empty).
    offsets: Vec<usize>,
    seqs: Vec<SeqNo>,
}

/// A lexicographic lookup's integers: the starts' common prefix, and the 8 bytes after it of each
/// start and end as a big-endian `u64`, so that a lookup compares integers and touches no key
/// bytes unless two integers tie.
#[derive(Clone, Debug, Default)]
struct Accel {
    /// The highest seqno of any fragment (0 when empty).
    max_seqno: SeqNo,
    prefix: Box<[u8]>,
    starts: Vec<u64>,
    /// An end without the prefix is after every key with it: `u64::MAX`, which no key's integer
    /// passes (a tie compares the bytes).
    ends: Vec<u64>,
}

impl Accel {
    fn new(frags: &FragList) -> Self {
        let max_seqno = frags.seqs.iter().copied().max().unwrap_or(0);
        let (Some(first), Some(last)) = (frags.starts.first(), frags.starts.last()) else {
            return Self {
                max_seqno,
                ..Self::default()
            };
        };
        let common = first
            .iter()
            .zip(last.iter())
            .take_while(|(a, b)| a == b)
            .count();
        let prefix: Box<[u8]> = first.get(..common).unwrap_or_default().into();
        let ends = frags
            .ends
            .iter()
            .map(|e| {
                if e.starts_with(&prefix) {
                    word_at(e, common)
                } else {
                    u64::MAX
                }
            })
            .collect();
        Self {
            max_seqno,
            starts: frags.starts.iter().map(|s| word_at(s, common)).collect(),
            ends,
            prefix,
        }
    }
}

impl PartialEq for FragList {
    fn eq(&self, other: &Self) -> bool {
        self.starts == other.starts
            && self.ends == other.ends
            && self.offsets == other.offsets
            && self.seqs == other.seqs
    }
}

impl Eq for FragList {}

/// The 8 bytes of `key` from `at` on as a big-endian integer, zero-padded: never decreasing in
/// the key's byte order.
fn word_at(key: &[u8], at: usize) -> u64 {
    let mut bytes = key.get(at..).unwrap_or_default().iter();
    (0..8).fold(0u64, |word, _| {
        (word << 8) | u64::from(bytes.next().copied().unwrap_or(0))
    })
}

/// A list's boundaries in order: each fragment's start, then its end (an end may equal the next
/// start).
fn boundaries(list: &FragList) -> Vec<&Slice> {
    list.starts
        .iter()
        .zip(&list.ends)
        .flat_map(|(start, end)| [start, end])
        .collect()
}

/// Two ascending boundary lists merged, each key once.
fn merged_boundaries<'k>(
    left: &[&'k Slice],
    right: &[&'k Slice],
    cmp: &Comparator,
) -> Vec<&'k Slice> {
    let mut out: Vec<&Slice> = Vec::with_capacity(left.len() + right.len());
    let (mut from_left, mut from_right) = (left.iter().peekable(), right.iter().peekable());
    loop {
        let next = match (from_left.peek(), from_right.peek()) {
            (Some(l), Some(r)) if cmp.user(l, r).is_le() => from_left.next(),
            (_, Some(_)) => from_right.next(),
            (Some(_), None) => from_left.next(),
            (None, None) => break,
        };
        if let Some(&next) = next
            && out.last().is_none_or(|last| cmp.user(last, next).is_lt())
        {
            out.push(next);
        }
    }
    out
}

/// The seqnos of `list`'s fragment that holds the span starting at `lo` (`None` in a gap);
/// `cursor` only moves forward, so a sweep over ascending spans is linear.
fn stack_at<'l>(
    list: &'l FragList,
    cursor: &mut usize,
    lo: &[u8],
    cmp: &Comparator,
) -> Option<&'l [SeqNo]> {
    while list
        .ends
        .get(*cursor)
        .is_some_and(|end| cmp.user(end, lo).is_le())
    {
        *cursor += 1;
    }
    let fragment = list.fragment(*cursor)?;
    cmp.user(fragment.start, lo)
        .is_le()
        .then_some(fragment.seqnos)
}

/// Two descending seqno stacks merged into `out`, descending, each seqno once.
fn union_descending(mine: &[SeqNo], theirs: &[SeqNo], out: &mut Vec<SeqNo>) {
    let (mut mine, mut theirs) = (mine.iter().peekable(), theirs.iter().peekable());
    loop {
        let next = match (mine.peek(), theirs.peek()) {
            (Some(&&m), Some(&&t)) if m >= t => {
                if m == t {
                    theirs.next();
                }
                mine.next()
            }
            (_, Some(_)) => theirs.next(),
            (Some(_), None) => mine.next(),
            (None, None) => break,
        };
        out.extend(next.copied());
    }
}

/// One fragment: `[start, end)` and its seqnos, highest first.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fragment<'a> {
    pub(crate) start: &'a Slice,
    pub(crate) end: &'a Slice,
    pub(crate) seqnos: &'a [SeqNo],
}

impl Fragment<'_> {
    /// The highest seqno below `read_seqno` (what a read at `read_seqno` sees), or 0.
    pub(crate) fn visible(&self, read_seqno: SeqNo) -> SeqNo {
        // NB: descending: the first below the read seqno, by binary search (nested tombstones
        // make long stacks).
        let i = self.seqnos.partition_point(|&s| s >= read_seqno);
        self.seqnos.get(i).copied().unwrap_or(0)
    }
}

/// Adds `fragment`'s stack to `out`, merging it into the previous fragment when that one ends
/// where it starts and has the same stack.
fn push_fragment(out: &mut FragList, start: Slice, end: Slice, seqnos: &[SeqNo], cmp: &Comparator) {
    if seqnos.is_empty() || cmp.user(&start, &end).is_ge() {
        return;
    }
    let n = out.len();
    if n > 0 {
        let same_stack = out
            .fragment(n - 1)
            .is_some_and(|last| last.seqnos == seqnos && cmp.user(last.end, &start).is_eq());
        if same_stack {
            if let Some(last_end) = out.ends.last_mut() {
                *last_end = end;
            }
            return;
        }
    }
    if out.offsets.is_empty() {
        out.offsets.push(0);
    }
    out.starts.push(start);
    out.ends.push(end);
    out.seqs.extend_from_slice(seqnos);
    out.offsets.push(out.seqs.len());
}

impl FragList {
    /// Fragments `tombstones` (any order, any overlap); empty or inverted ranges are ignored.
    pub(crate) fn build(
        tombstones: impl IntoIterator<Item = RangeTombstone>,
        cmp: &Comparator,
    ) -> Self {
        let tombstones: Vec<RangeTombstone> = tombstones
            .into_iter()
            .filter(|t| cmp.user(&t.start, &t.end).is_lt())
            .collect();
        if tombstones.is_empty() {
            return Self::default();
        }
        let mut bounds: Vec<Slice> = tombstones
            .iter()
            .flat_map(|t| [t.start.clone(), t.end.clone()])
            .collect();
        bounds.sort_by(|a, b| cmp.user(a, b));
        bounds.dedup_by(|a, b| cmp.user(a, b).is_eq());
        let at = |key: &Slice| bounds.partition_point(|b| cmp.user(b, key).is_lt());
        // Per boundary: the seqnos that start and end there.
        let mut events: Vec<Vec<(SeqNo, bool)>> = vec![Vec::new(); bounds.len()];
        for t in &tombstones {
            if let Some(e) = events.get_mut(at(&t.start)) {
                e.push((t.seqno, true));
            }
            if let Some(e) = events.get_mut(at(&t.end)) {
                e.push((t.seqno, false));
            }
        }
        let mut active: BTreeMap<SeqNo, usize> = BTreeMap::new();
        let mut out = Self::default();
        let mut stack: Vec<SeqNo> = Vec::new();
        for (i, here) in events.iter().enumerate() {
            for &(seqno, starts) in here {
                if starts {
                    *active.entry(seqno).or_insert(0) += 1;
                } else if let Some(count) = active.get_mut(&seqno) {
                    *count -= 1;
                    if *count == 0 {
                        active.remove(&seqno);
                    }
                }
            }
            if active.is_empty() {
                continue;
            }
            let (Some(start), Some(end)) = (bounds.get(i), bounds.get(i + 1)) else {
                continue;
            };
            stack.clear();
            stack.extend(active.keys().rev().copied());
            push_fragment(&mut out, start.clone(), end.clone(), &stack, cmp);
        }
        out
    }

    /// The fragments of every list in `lists` together, fragmented again.
    pub(crate) fn merge<'a>(
        lists: impl IntoIterator<Item = &'a FragList>,
        cmp: &Comparator,
    ) -> Self {
        let lists: Vec<&FragList> = lists.into_iter().filter(|l| !l.is_empty()).collect();
        match lists.as_slice() {
            [] => Self::default(),
            [one] => (*one).clone(),
            [a, b] => a.union(b, cmp),
            _ => Self::build(lists.iter().flat_map(|l| l.tombstones()), cmp),
        }
    }

    /// The fragments of `self` and `other` together, in one linear sweep over both (each is
    /// sorted and non-overlapping): O(n + m), where building from the tombstones would sort.
    /// A memtable adds its new tombstones to its cached list this way.
    pub(crate) fn union(&self, other: &Self, cmp: &Comparator) -> Self {
        if self.is_empty() {
            return other.clone();
        }
        if other.is_empty() {
            return self.clone();
        }
        let bounds = merged_boundaries(&boundaries(self), &boundaries(other), cmp);
        let mut out = Self::default();
        let (mut in_self, mut in_other) = (0, 0);
        let mut stack: Vec<SeqNo> = Vec::new();
        for pair in bounds.windows(2) {
            let [lo, hi] = pair else { continue };
            let mine = stack_at(self, &mut in_self, lo, cmp).unwrap_or_default();
            let theirs = stack_at(other, &mut in_other, lo, cmp).unwrap_or_default();
            stack.clear();
            union_descending(mine, theirs, &mut stack);
            push_fragment(&mut out, (*lo).clone(), (*hi).clone(), &stack, cmp);
        }
        out
    }

    /// The number of fragments.
    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether there is no fragment.
    pub(crate) fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The number of (fragment, seqno) pairs.
    #[cfg(any(feature = "internals", test))]
    pub(crate) fn stack_entries(&self) -> usize {
        self.seqs.len()
    }

    /// Fragment `i`.
    pub(crate) fn fragment(&self, i: usize) -> Option<Fragment<'_>> {
        let (lo, hi) = (*self.offsets.get(i)?, *self.offsets.get(i + 1)?);
        Some(Fragment {
            start: self.starts.get(i)?,
            end: self.ends.get(i)?,
            seqnos: self.seqs.get(lo..hi)?,
        })
    }

    /// Every fragment, in key order.
    pub(crate) fn fragments(&self) -> impl DoubleEndedIterator<Item = Fragment<'_>> + '_ {
        (0..self.len()).filter_map(|i| self.fragment(i))
    }

    /// Every fragment and seqno as a tombstone of its own.
    pub(crate) fn tombstones(&self) -> impl Iterator<Item = RangeTombstone> + '_ {
        self.fragments().flat_map(|f| {
            f.seqnos.iter().map(move |&seqno| RangeTombstone {
                start: f.start.clone(),
                end: f.end.clone(),
                seqno,
            })
        })
    }

    /// The fragments that overlap `range` and hold a seqno above `above` (they delete entries of
    /// the range older than that), in key order.
    pub(crate) fn deleting<'a>(
        &'a self,
        range: &'a crate::key_range::KeyRange,
        above: SeqNo,
        cmp: &'a Comparator,
    ) -> impl Iterator<Item = Fragment<'a>> + 'a {
        let first = self
            .starts
            .partition_point(|s| cmp.user(s, &range.min).is_le())
            .saturating_sub(1);
        (first..self.len())
            .filter_map(|i| self.fragment(i))
            .take_while(|f| cmp.user(f.start, &range.max).is_le())
            .filter(move |f| {
                f.seqnos.first().is_some_and(|&top| top > above)
                    && cmp.user(f.end, &range.min).is_gt()
            })
    }

    /// The lowest and highest seqno, if any.
    pub(crate) fn seqno_range(&self) -> Option<(SeqNo, SeqNo)> {
        let min = self.seqs.iter().copied().min()?;
        let max = self.seqs.iter().copied().max()?;
        Some((min, max))
    }

    /// The first start and the last end (exclusive), if any.
    pub(crate) fn key_span(&self) -> Option<(&Slice, &Slice)> {
        Some((self.starts.first()?, self.ends.last()?))
    }

    /// The index of the fragment holding `key`, if any: one binary search.
    pub(crate) fn find(&self, key: &[u8], cmp: &Comparator) -> Option<usize> {
        if cmp.is_lexicographic() {
            return self.find_bytewise(key);
        }
        let i = self
            .starts
            .partition_point(|s| cmp.user(s, key).is_le())
            .checked_sub(1)?;
        self.ends
            .get(i)
            .filter(|end| cmp.user(key, end).is_lt())
            .map(|_| i)
    }

    /// [`FragList::find`] in byte order: [`FragList::partition_bytewise`], then the end compared
    /// as an integer, and as bytes only on a tie.
    fn find_bytewise(&self, key: &[u8]) -> Option<usize> {
        let i = self.partition_bytewise(key).checked_sub(1)?;
        let accel = self.accel.get()?;
        let inside_bytes = || self.ends.get(i).is_some_and(|end| key < &**end);
        if !key.starts_with(&accel.prefix) {
            return inside_bytes().then_some(i);
        }
        let inside = match word_at(key, accel.prefix.len()).cmp(accel.ends.get(i)?) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => inside_bytes(),
        };
        inside.then_some(i)
    }

    /// The number of starts at or before `key` in byte order: a binary search over integers
    /// (the 8 bytes after the starts' common prefix), then over the few starts that share the
    /// key's integer.
    fn partition_bytewise(&self, key: &[u8]) -> usize {
        let Some(first) = self.starts.first() else {
            return 0;
        };
        let accel = self.accel.get_or_init(|| Accel::new(self));
        // NB: sorted starts all share the first and last one's common prefix; a key that does
        // not is below or above all of them.
        if !key.starts_with(&accel.prefix) {
            return if key < &**first { 0 } else { self.starts.len() };
        }
        let word = word_at(key, accel.prefix.len());
        let lo = accel.starts.partition_point(|&w| w < word);
        // NB: most keys share their integer with no start: then `lo` starts are before them.
        if accel.starts.get(lo) != Some(&word) {
            return lo;
        }
        let hi = lo
            + accel
                .starts
                .get(lo..)
                .unwrap_or_default()
                .partition_point(|&w| w <= word);
        lo + self
            .starts
            .get(lo..hi)
            .unwrap_or_default()
            .partition_point(|s| &**s <= key)
    }

    /// The highest seqno below `read_seqno` of a tombstone covering `key`, or 0 (none: a
    /// tombstone at 0 hides nothing). Entries of `key` with a lower seqno are deleted for the
    /// read.
    /// The highest seqno of any fragment, 0 when empty (cached with the lookup integers).
    pub(crate) fn max_seqno(&self) -> SeqNo {
        self.accel.get_or_init(|| Accel::new(self)).max_seqno
    }

    pub(crate) fn cover(&self, key: &[u8], read_seqno: SeqNo, cmp: &Comparator) -> SeqNo {
        self.find(key, cmp)
            .and_then(|i| self.fragment(i))
            .map_or(0, |f| f.visible(read_seqno))
    }

    /// The fragments intersected with `[lower, upper)` (`None`: unbounded on that side).
    pub(crate) fn clip(
        &self,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        cmp: &Comparator,
    ) -> Self {
        let mut out = Self::default();
        for f in self.fragments() {
            let start = match lower {
                Some(l) if cmp.user(f.start, l).is_lt() => Slice::new(l),
                _ => f.start.clone(),
            };
            let end = match upper {
                Some(u) if cmp.user(f.end, u).is_gt() => Slice::new(u),
                _ => f.end.clone(),
            };
            push_fragment(&mut out, start, end, f.seqnos, cmp);
        }
        out
    }

    /// What reads at or above `watermark` need: per fragment, every seqno at or above it and the
    /// highest below it (which hides at least what the older ones hide), the latter only where
    /// `keep_below(start, end, seqno)` says something may still lie beneath it. `dropped` is
    /// called with each highest-below seqno that `keep_below` let go.
    pub(crate) fn collect_garbage(
        &self,
        watermark: SeqNo,
        mut keep_below: impl FnMut(&Slice, &Slice, SeqNo) -> bool,
        mut dropped: impl FnMut(SeqNo),
        cmp: &Comparator,
    ) -> Self {
        let mut out = Self::default();
        let mut stack = Vec::new();
        for f in self.fragments() {
            stack.clear();
            stack.extend(f.seqnos.iter().copied().filter(|&s| s >= watermark));
            if let Some(&below) = f.seqnos.iter().find(|&&s| s < watermark) {
                if keep_below(f.start, f.end, below) {
                    stack.push(below);
                } else {
                    dropped(below);
                }
            }
            push_fragment(&mut out, f.start.clone(), f.end.clone(), &stack, cmp);
        }
        out
    }

    /// Whether every key of `range` is covered by a fragment with a seqno in `(above, below)`:
    /// then a read at `below` or higher sees none of the range's entries at or below `above`.
    pub(crate) fn covers_whole(
        &self,
        range: &crate::key_range::KeyRange,
        above: SeqNo,
        below: SeqNo,
        cmp: &Comparator,
    ) -> bool {
        let Some(mut i) = self.find(&range.min, cmp) else {
            return false;
        };
        loop {
            let Some(f) = self.fragment(i) else {
                return false;
            };
            if f.visible(below) <= above {
                return false;
            }
            // Done once the fragment reaches past the range's end.
            let past_end = match cmp.user(f.end, &range.max) {
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Equal => range.max_exclusive,
                std::cmp::Ordering::Less => false,
            };
            if past_end {
                return true;
            }
            // The next fragment must start where this one ends.
            match self.starts.get(i + 1) {
                Some(next) if cmp.user(next, f.end).is_eq() => i += 1,
                _ => return false,
            }
        }
    }

    /// The raw contents of a range-tombstone block (`docs/format.md`, section 5a).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint_u64(&mut out, self.len() as u64);
        let mut prev_end: Option<&[u8]> = None;
        for f in self.fragments() {
            // A start equal to the previous end (adjacent fragments, the common case) is not
            // stored again: 0; else its length plus one, then its bytes.
            if prev_end == Some(&**f.start) {
                put_varint_u64(&mut out, 0);
            } else {
                put_varint_u64(&mut out, f.start.len() as u64 + 1);
                out.extend_from_slice(f.start);
            }
            put_bytes(&mut out, f.end);
            put_varint_u64(&mut out, f.seqnos.len() as u64);
            let mut prev = None;
            for &s in f.seqnos {
                // The first seqno whole, then each one's distance below the previous.
                put_varint_u64(&mut out, prev.map_or(s, |p: SeqNo| p - s));
                prev = Some(s);
            }
            prev_end = Some(f.end);
        }
        out
    }

    /// Decodes a range-tombstone block's raw contents, checking everything a reader relies on:
    /// every length inside the block, each fragment non-empty and after the previous one under
    /// `cmp`, each stack non-empty, strictly descending and at most [`MAX_SEQNO`].
    pub(crate) fn decode(bytes: &[u8], cmp: &Comparator) -> Result<Self, CorruptionKind> {
        let bad = CorruptionKind::InvalidField("range tombstone block");
        let mut c = Reader { bytes, pos: 0 };
        let count = c.varint()?;
        // Each fragment takes at least 5 bytes.
        if count > (bytes.len() as u64) / 5 + 1 {
            return Err(bad);
        }
        let mut out = Self::default();
        let mut prev_end: Option<Slice> = None;
        for _ in 0..count {
            // NB: keys are never built from earlier ones, so the decoded bytes stay within the
            // block's size (a start equal to the previous end shares its bytes).
            let start = match c.varint()? {
                0 => prev_end.clone().ok_or(bad.clone())?,
                n => c.key(n - 1)?,
            };
            let len = c.varint()?;
            let end = c.key(len)?;
            let after_previous = prev_end
                .as_ref()
                .is_none_or(|prev| cmp.user(prev, &start).is_le());
            if cmp.user(&start, &end).is_ge() || !after_previous {
                return Err(bad);
            }
            let n = c.varint()?;
            if n == 0 || n > (bytes.len() - c.pos) as u64 {
                return Err(bad);
            }
            let first = out.seqs.len();
            let mut prev: Option<SeqNo> = None;
            for _ in 0..n {
                let v = c.varint()?;
                let s = match prev {
                    None => v,
                    Some(p) if v > 0 && v <= p => p - v,
                    Some(_) => return Err(bad),
                };
                if s > MAX_SEQNO {
                    return Err(bad);
                }
                out.seqs.push(s);
                prev = Some(s);
            }
            if out.offsets.is_empty() {
                out.offsets.push(first);
            }
            out.starts.push(start);
            out.ends.push(end.clone());
            out.offsets.push(out.seqs.len());
            prev_end = Some(end);
        }
        if c.pos != bytes.len() {
            return Err(bad);
        }
        Ok(out)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn varint(&mut self) -> Result<u64, CorruptionKind> {
        let (v, n) = decode_varint_u64(self.bytes.get(self.pos..).unwrap_or_default())
            .ok_or(CorruptionKind::InvalidField("range tombstone block"))?;
        self.pos += n;
        Ok(v)
    }

    /// The next `len` bytes, as a key.
    fn key(&mut self, len: u64) -> Result<Slice, CorruptionKind> {
        let bad = CorruptionKind::InvalidField("range tombstone block");
        let len = usize::try_from(len).map_err(|_| bad.clone())?;
        let end = self.pos.checked_add(len).ok_or(bad.clone())?;
        let key = self.bytes.get(self.pos..end).ok_or(bad)?;
        self.pos = end;
        Ok(Slice::new(key))
    }
}

/// A scan's view of the range tombstones of its sources: the highest covering seqno a read at
/// `read_seqno` sees for a key. Each list keeps where the last key fell (its partition point
/// among the fragment starts), so a scan moving through the keys pays one or two comparisons
/// per key and list, in either direction, instead of a binary search.
pub(crate) struct Cover {
    /// Each list with its span for keys read forward (ascending) and backward (descending): a
    /// forward key only needs comparing with the span's end, a backward one with its start.
    lists: Vec<(std::sync::Arc<FragList>, [Span; 2])>,
    read_seqno: SeqNo,
    cmp: Comparator,
    /// The start and end of the fragment that gave the last [`Cover::at`] its answer.
    fragment: Option<(Slice, Slice)>,
}

/// What one list answers for every key in `[lo, hi)` (`None`: unbounded on that side): the
/// seqno a read sees there and, inside a fragment, its end. `hint` is the partition point.
#[derive(Default)]
struct Span {
    known: bool,
    lo: Option<Slice>,
    hi: Option<Slice>,
    seen: SeqNo,
    end: Option<Slice>,
    hint: Option<usize>,
}

impl FragList {
    /// The number of fragments whose start is at or before `key`, found from `hint` (the answer
    /// for a nearby key) with a few comparisons when `key` is in the same or a neighbouring gap,
    /// else by binary search.
    fn partition_from(&self, key: &[u8], hint: Option<usize>, cmp: &Comparator) -> usize {
        let n = self.len();
        let start_le = |i: usize| self.starts.get(i).is_some_and(|s| cmp.user(s, key).is_le());
        if let Some(p) = hint.filter(|&p| p <= n) {
            let lower_ok = p == 0 || start_le(p - 1);
            let upper_ok = p == n || !start_le(p);
            match (lower_ok, upper_ok) {
                (true, true) => return p,
                (true, false) if p + 1 == n || !start_le(p + 1) => return p + 1,
                (false, true) if p == 1 || (p >= 2 && start_le(p - 2)) => return p - 1,
                _ => {}
            }
        }
        if cmp.is_lexicographic() {
            self.partition_bytewise(key)
        } else {
            self.starts.partition_point(|s| cmp.user(s, key).is_le())
        }
    }
}

impl Cover {
    /// The view of `lists` (empty lists are left out) at `read_seqno`.
    pub(crate) fn new(
        lists: impl IntoIterator<Item = std::sync::Arc<FragList>>,
        read_seqno: SeqNo,
        cmp: Comparator,
    ) -> Self {
        Self {
            lists: lists
                .into_iter()
                .filter(|l| !l.is_empty())
                .map(|l| (l, [Span::default(), Span::default()]))
                .collect(),
            read_seqno,
            cmp,
            fragment: None,
        }
    }

    /// Whether there is no tombstone at all (the scan then pays nothing).
    pub(crate) fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// The fragment behind the last nonzero [`Cover::at`], `(start, end)`: every key in it is
    /// covered at least as high.
    pub(crate) fn fragment(&self) -> Option<&(Slice, Slice)> {
        self.fragment.as_ref()
    }

    /// The highest seqno below the read seqno of a tombstone covering `key`, or 0.
    ///
    /// `forward`: the key is after every key asked forward before (a scan's front end);
    /// otherwise it is before every key asked backward before (its back end). Each end keeps
    /// its own span per list, so a key needs comparing only with the span's far side: one
    /// comparison per list while the scan stays in a fragment or a gap.
    pub(crate) fn at(&mut self, key: &[u8], forward: bool) -> SeqNo {
        let mut best = 0;
        let mut fragment: Option<&Span> = None;
        let cmp = &self.cmp;
        for (list, spans) in &mut self.lists {
            let [ahead, behind] = spans;
            let span = if forward { ahead } else { behind };
            let inside = span.known
                && if forward {
                    span.hi.as_ref().is_none_or(|hi| cmp.user(key, hi).is_lt())
                } else {
                    span.lo.as_ref().is_none_or(|lo| cmp.user(lo, key).is_le())
                };
            if !inside {
                let p = list.partition_from(key, span.hint, cmp);
                span.hint = Some(p);
                span.known = true;
                let holding = p
                    .checked_sub(1)
                    .and_then(|i| list.fragment(i))
                    .filter(|f| cmp.user(key, f.end).is_lt());
                if let Some(f) = holding {
                    span.lo = Some(f.start.clone());
                    span.hi = Some(f.end.clone());
                    span.seen = f.visible(self.read_seqno);
                    span.end = Some(f.end.clone());
                } else {
                    span.lo = p.checked_sub(1).and_then(|i| list.ends.get(i)).cloned();
                    span.hi = list.starts.get(p).cloned();
                    span.seen = 0;
                    span.end = None;
                }
            }
            if span.seen > best {
                best = span.seen;
                fragment = Some(span);
            }
        }
        self.fragment = fragment.and_then(|s| Some((s.lo.clone()?, s.end.clone()?)));
        best
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    reason = "test code: an out-of-bounds index is a failed test"
)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rt(start: &str, end: &str, seqno: SeqNo) -> RangeTombstone {
        RangeTombstone {
            start: start.into(),
            end: end.into(),
            seqno,
        }
    }

    fn frags(list: &FragList) -> Vec<(String, String, Vec<SeqNo>)> {
        list.fragments()
            .map(|f| {
                (
                    String::from_utf8(f.start.to_vec()).unwrap(),
                    String::from_utf8(f.end.to_vec()).unwrap(),
                    f.seqnos.to_vec(),
                )
            })
            .collect()
    }

    #[test]
    fn overlapping_tombstones_are_cut_at_every_boundary() {
        let cmp = Comparator::default();
        let list = FragList::build([rt("b", "f", 5), rt("d", "h", 7), rt("a", "c", 2)], &cmp);
        assert_eq!(
            frags(&list),
            [
                ("a".into(), "b".into(), vec![2]),
                ("b".into(), "c".into(), vec![5, 2]),
                ("c".into(), "d".into(), vec![5]),
                ("d".into(), "f".into(), vec![7, 5]),
                ("f".into(), "h".into(), vec![7]),
            ]
        );
        assert_eq!(list.cover(b"a", 9, &cmp), 2);
        assert_eq!(list.cover(b"e", 9, &cmp), 7);
        assert_eq!(
            list.cover(b"e", 7, &cmp),
            5,
            "a read at 7 does not see the seqno-7 tombstone"
        );
        assert_eq!(list.cover(b"e", 5, &cmp), 0);
        assert_eq!(list.cover(b"h", 9, &cmp), 0, "the end is exclusive");
        assert_eq!(list.cover(b"0", 9, &cmp), 0);
    }

    #[test]
    fn adjacent_fragments_with_equal_stacks_merge_and_empty_ranges_vanish() {
        let cmp = Comparator::default();
        let list = FragList::build([rt("a", "c", 3), rt("c", "e", 3), rt("x", "x", 9)], &cmp);
        assert_eq!(frags(&list), [("a".into(), "e".into(), vec![3])]);
        assert!(FragList::build([rt("b", "a", 1)], &cmp).is_empty());
    }

    #[test]
    fn clip_and_garbage_collection() {
        let cmp = Comparator::default();
        let list = FragList::build([rt("a", "m", 5), rt("c", "z", 9), rt("c", "z", 2)], &cmp);
        let clipped = list.clip(Some(b"b"), Some(b"d"), &cmp);
        assert_eq!(
            frags(&clipped),
            [
                ("b".into(), "c".into(), vec![5]),
                ("c".into(), "d".into(), vec![9, 5, 2]),
            ]
        );
        let mut dropped = Vec::new();
        let gc = list.collect_garbage(6, |_, _, _| true, |s| dropped.push(s), &cmp);
        assert_eq!(
            frags(&gc),
            [
                ("a".into(), "c".into(), vec![5]),
                ("c".into(), "m".into(), vec![9, 5]),
                ("m".into(), "z".into(), vec![9, 2]),
            ]
        );
        assert!(dropped.is_empty());
        let gc = list.collect_garbage(6, |_, _, _| false, |s| dropped.push(s), &cmp);
        assert_eq!(frags(&gc), [("c".into(), "z".into(), vec![9])]);
        assert_eq!(dropped, [5, 5, 2]);
    }

    #[test]
    fn nested_tombstones_cost_quadratic_stack_entries_and_compaction_bounds_them() {
        let cmp = Comparator::default();
        let t = 100u64;
        let nested: Vec<RangeTombstone> = (0..t)
            .map(|i| RangeTombstone {
                start: "a".into(),
                end: Slice::from(format!("b{i:03}")),
                seqno: i + 1,
            })
            .collect();
        let list = FragList::build(nested, &cmp);
        assert_eq!(list.len() as u64, t);
        assert_eq!(list.stack_entries() as u64, t * (t + 1) / 2);
        // Below the watermark each fragment keeps its newest seqno (here the same one, so the
        // fragments join into one).
        let gc = list.collect_garbage(t + 1, |_, _, _| true, |_| {}, &cmp);
        assert_eq!(gc.stack_entries(), 1);
        assert_eq!(gc.len(), 1);
    }

    #[test]
    fn whole_ranges_are_covered_only_without_a_gap_and_by_a_newer_seqno() {
        let cmp = Comparator::default();
        let list = FragList::build([rt("b", "f", 5), rt("d", "k", 9), rt("m", "p", 7)], &cmp);
        let r =
            |a: &str, b: &str, excl| crate::key_range::KeyRange::with_end(a.into(), b.into(), excl);
        assert!(list.covers_whole(&r("b", "j", false), 4, 10, &cmp));
        assert!(list.covers_whole(&r("b", "k", true), 4, 10, &cmp));
        assert!(
            !list.covers_whole(&r("b", "k", false), 4, 10, &cmp),
            "k itself is not covered"
        );
        assert!(!list.covers_whole(&r("a", "c", false), 4, 10, &cmp));
        assert!(
            !list.covers_whole(&r("j", "n", false), 4, 10, &cmp),
            "a gap between k and m"
        );
        assert!(
            !list.covers_whole(&r("b", "j", false), 5, 10, &cmp),
            "b..d holds only seqno 5"
        );
        assert!(
            !list.covers_whole(&r("e", "j", false), 4, 9, &cmp),
            "f..k holds only seqno 9"
        );
        assert!(
            !list.covers_whole(&r("g", "j", false), 4, 9, &cmp),
            "9 is not below 9"
        );
    }

    #[test]
    fn golden_bytes_of_a_range_tombstone_block() {
        let cmp = Comparator::default();
        let list = FragList::build([rt("a", "d", 5), rt("c", "d", 9)], &cmp);
        let bytes = list.encode();
        assert_eq!(
            bytes,
            [
                0x02, 0x02, b'a', 0x01, b'c', 0x01, 0x05, 0x00, 0x01, b'd', 0x02, 0x09, 0x04
            ]
        );
        assert_eq!(FragList::decode(&bytes, &cmp).unwrap(), list);
    }

    #[test]
    fn hostile_blocks_are_errors() {
        let cmp = Comparator::default();
        let list = FragList::build([rt("a", "m", 5), rt("c", "z", 9)], &cmp);
        let bytes = list.encode();
        assert_eq!(FragList::decode(&bytes, &cmp).unwrap(), list);
        for len in 0..bytes.len() {
            assert!(
                FragList::decode(&bytes[..len], &cmp).is_err(),
                "truncated at {len}"
            );
        }
        // An inverted fragment, a zero seqno distance, a first start "as the previous end", a
        // huge count.
        let inverted = [1u8, 2, b'b', 1, b'a', 1, 5];
        assert!(FragList::decode(&inverted, &cmp).is_err());
        let repeated = [1u8, 2, b'a', 1, b'b', 2, 5, 0];
        assert!(FragList::decode(&repeated, &cmp).is_err());
        let no_previous = [1u8, 0, 1, b'b', 1, 5];
        assert!(FragList::decode(&no_previous, &cmp).is_err());
        let valid = [1u8, 2, b'a', 1, b'b', 1, 5];
        assert_eq!(FragList::decode(&valid, &cmp).unwrap().len(), 1);
        assert!(FragList::decode(&[0xff, 0xff, 0xff, 0xff, 0x0f], &cmp).is_err());
        assert_eq!(FragList::decode(&[0], &cmp).unwrap(), FragList::default());
    }

    /// Byte order, without the lexicographic fast paths.
    struct SlowBytes;

    impl crate::key::UserComparator for SlowBytes {
        fn name(&self) -> &'static str {
            "test.slow_bytes"
        }

        fn compare(&self, a: &[u8], b: &[u8]) -> std::cmp::Ordering {
            a.cmp(b)
        }
    }

    #[test]
    fn the_integer_search_handles_long_shared_prefixes_and_outside_keys() {
        let cmp = Comparator::default();
        let slow = Comparator::new(std::sync::Arc::new(SlowBytes));
        let key = |i: u32| format!("tenant/0000000000{i:06}");
        let list = FragList::build(
            (0..500).map(|i| RangeTombstone {
                start: key(i * 10).into(),
                end: key(i * 10 + 5).into(),
                seqno: u64::from(i) + 1,
            }),
            &cmp,
        );
        for i in 0..5100 {
            let k = key(i);
            assert_eq!(
                list.cover(k.as_bytes(), 1000, &cmp),
                list.cover(k.as_bytes(), 1000, &slow)
            );
        }
        for k in [
            "",
            "a",
            "tenant",
            "tenant/1",
            "zzz",
            "tenant/0000000000004999\0",
        ] {
            assert_eq!(
                list.cover(k.as_bytes(), 1000, &cmp),
                list.cover(k.as_bytes(), 1000, &slow)
            );
        }
    }

    /// A key of the integer-search property test: `p/` then up to 12 bytes of a small
    /// alphabet (so that integers tie past 8 bytes), or a key without the prefix.
    fn search_key(raw: &(u8, Vec<u8>)) -> Vec<u8> {
        match raw.0 % 8 {
            0 => raw.1.clone(),
            1 => [b"q".as_slice(), &raw.1].concat(),
            _ => [b"p/".as_slice(), &raw.1].concat(),
        }
    }

    proptest! {
        #[test]
        fn the_integer_search_equals_plain_comparisons_with_tied_integers_and_outside_ends(
            raw in prop::collection::vec(
                ((0u8..8, prop::collection::vec(0u8..3, 0..12)),
                 (0u8..8, prop::collection::vec(0u8..3, 0..12)),
                 1u64..30),
                1..30,
            ),
            probes in prop::collection::vec((0u8..8, prop::collection::vec(0u8..3, 0..13)), 1..60),
        ) {
            let cmp = Comparator::default();
            let slow = Comparator::new(std::sync::Arc::new(SlowBytes));
            let tombstones: Vec<RangeTombstone> = raw
                .iter()
                .map(|(a, b, s)| RangeTombstone {
                    start: Slice::from(search_key(a)),
                    end: Slice::from(search_key(b)),
                    seqno: *s,
                })
                .collect();
            let list = FragList::build(tombstones.clone(), &cmp);
            for probe in &probes {
                let key = search_key(probe);
                let naive = tombstones
                    .iter()
                    .filter(|t| *t.start <= *key && *key < *t.end && t.seqno < 31)
                    .map(|t| t.seqno)
                    .max()
                    .unwrap_or(0);
                prop_assert_eq!(list.cover(&key, 31, &cmp), naive);
                prop_assert_eq!(list.find(&key, &cmp), list.find(&key, &slow));
            }
        }

        #[test]
        fn cover_equals_the_naive_maximum(
            raw in prop::collection::vec((0u8..20, 0u8..20, 1u64..30), 0..30),
            probes in prop::collection::vec((0u8..21, 0u64..32), 1..40),
        ) {
            let cmp = Comparator::default();
            let tombstones: Vec<RangeTombstone> = raw
                .iter()
                .map(|&(a, b, s)| RangeTombstone { start: Slice::from([a]), end: Slice::from([b]), seqno: s })
                .collect();
            let list = FragList::build(tombstones.clone(), &cmp);
            let decoded = FragList::decode(&list.encode(), &cmp).unwrap();
            prop_assert_eq!(&decoded, &list);
            for &(k, x) in &probes {
                let naive = tombstones
                    .iter()
                    .filter(|t| t.start[0] <= k && k < t.end[0] && t.seqno < x)
                    .map(|t| t.seqno)
                    .max()
                    .unwrap_or(0);
                prop_assert_eq!(list.cover(&[k], x, &cmp), naive);
            }
            // The integer search agrees with a plain binary search under the same order.
            let slow = Comparator::new(std::sync::Arc::new(SlowBytes));
            for &(k, x) in &probes {
                for key in [vec![k], vec![k, 0], vec![k, 255, 1], vec![]] {
                    prop_assert_eq!(list.cover(&key, x, &cmp), list.cover(&key, x, &slow));
                }
            }
            // The cursor also follows sorted probes, forward and backward.
            let mut sorted: Vec<u8> = probes.iter().map(|p| p.0).collect();
            sorted.sort_unstable();
            sorted.dedup();
            let mut cursor = Cover::new([std::sync::Arc::new(list.clone())], 31, cmp.clone());
            for k in &sorted {
                prop_assert_eq!(cursor.at(&[*k], true), list.cover(&[*k], 31, &cmp));
            }
            for k in sorted.iter().rev() {
                prop_assert_eq!(cursor.at(&[*k], false), list.cover(&[*k], 31, &cmp));
            }
            // The linear union of two halves equals fragmenting everything at once.
            let half = raw.len() / 2;
            let part = |r: &[(u8, u8, u64)]| FragList::build(
                r.iter().map(|&(a, b, s)| RangeTombstone { start: Slice::from([a]), end: Slice::from([b]), seqno: s }),
                &cmp,
            );
            let (first, second) = (part(&raw[..half]), part(&raw[half..]));
            prop_assert_eq!(first.union(&second, &cmp), list.clone());
            prop_assert_eq!(second.union(&first, &cmp), list.clone());
            // Clipping at any split point keeps the union.
            let split = [probes[0].0];
            let left = list.clip(None, Some(&split), &cmp);
            let right = list.clip(Some(&split), None, &cmp);
            let rejoined = FragList::merge([&left, &right], &cmp);
            prop_assert_eq!(rejoined, FragList::build(list.tombstones(), &cmp));
        }
    }
}
