//! Range tombstones in flush and compaction: what the inputs' tombstones delete, and which of
//! them the output keeps.
//!
//! - [`CoveredFilter`] runs before the compaction stream: an entry `k@e` that a tombstone at `r`
//!   covers with `e < r < watermark` is gone for every read at or above the watermark (they all
//!   see the tombstone), so it is dropped. With a merge operator, the newest such version of a key
//!   becomes a tombstone at its own seqno instead (reads at or above the watermark see it exactly
//!   as the range tombstone), so that the stream's merge of the operands above it finds its base
//!   and collapses them onto nothing, as reads do. Strictness matters: `r == watermark` is not
//!   seen by a read at the watermark, and `e == r` is not covered.
//! - [`surviving`] reduces the inputs' fragments to what reads at or above the watermark need
//!   (every seqno at or above it, the newest below it) and drops that newest one where nothing
//!   outside the job can hold an older entry in the fragment's range (the sources beneath, as
//!   for point tombstones: tables of any level that overlap it, and every memtable).
//!
//! The run writer then clips the surviving fragments to each output table, so that the gaps
//! between outputs stay covered and no fragment is stored twice.

use crate::compaction::stream::Beneath;
use crate::error::Result;
use crate::key::{Comparator, InternalValue, ValueType};
use crate::key_range::KeyRange;
use crate::range_tombstone::FragList;
use crate::seqno::SeqNo;
use crate::slice::Slice;

/// Drops (or, with a merge operator, turns into a tombstone) what the job's range tombstones
/// delete below the watermark; see the module documentation.
pub(crate) struct CoveredFilter<I> {
    inner: I,
    list: FragList,
    watermark: SeqNo,
    cmp: Comparator,
    /// Turn the newest covered version of a key into a tombstone instead of dropping it.
    keep_marker: bool,
    /// The fragment the last key fell in.
    cached: Option<usize>,
    /// The key whose covered versions are being dropped (its marker was yielded).
    dropping: Option<Slice>,
}

impl<I: Iterator<Item = Result<InternalValue>>> CoveredFilter<I> {
    pub(crate) fn new(
        inner: I,
        list: FragList,
        watermark: SeqNo,
        cmp: Comparator,
        keep_marker: bool,
    ) -> Self {
        Self {
            inner,
            list,
            watermark,
            cmp,
            keep_marker,
            cached: None,
            dropping: None,
        }
    }

    /// The highest seqno below the watermark of a fragment covering `key`, or 0.
    fn cover(&mut self, key: &[u8]) -> SeqNo {
        let hit = self.cached.filter(|&i| {
            self.list.fragment(i).is_some_and(|f| {
                self.cmp.user(f.start, key).is_le() && self.cmp.user(key, f.end).is_lt()
            })
        });
        let i = hit.or_else(|| {
            let found = self.list.find(key, &self.cmp);
            if found.is_some() {
                self.cached = found;
            }
            found
        });
        i.and_then(|i| self.list.fragment(i))
            .map_or(0, |f| f.visible(self.watermark))
    }
}

impl<I: Iterator<Item = Result<InternalValue>>> Iterator for CoveredFilter<I> {
    type Item = Result<InternalValue>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let mut entry = match self.inner.next()? {
                Ok(entry) => entry,
                Err(err) => return Some(Err(err)),
            };
            if self.list.is_empty() {
                return Some(Ok(entry));
            }
            let key = &entry.key.user_key;
            if entry.key.seqno >= self.cover(key) {
                return Some(Ok(entry));
            }
            let same = self
                .dropping
                .as_ref()
                .is_some_and(|k| self.cmp.user(k, key).is_eq());
            if same || !self.keep_marker {
                continue;
            }
            self.dropping = Some(key.clone());
            entry.key.value_type = ValueType::Tombstone;
            entry.value = Slice::empty();
            return Some(Ok(entry));
        }
    }
}

/// The fragments of `list` that reads at or above `watermark` need; see the module
/// documentation. `beneath`: the sources outside the job (`None`: unknown, as in a flush, which
/// keeps every newest-below-watermark seqno). `dropped` gets each seqno dropped because nothing
/// lies beneath it (the job's commit checks that no older source appeared meanwhile).
pub(crate) fn surviving(
    list: &FragList,
    watermark: SeqNo,
    beneath: Option<&[Beneath]>,
    cmp: &Comparator,
    dropped: impl FnMut(SeqNo),
) -> FragList {
    list.collect_garbage(
        watermark,
        |start, end, seqno| {
            let Some(beneath) = beneath else {
                return true;
            };
            let range = KeyRange::with_end(start.clone(), end.clone(), true);
            beneath.iter().any(|b| {
                b.seqno_min < seqno && b.range.as_ref().is_none_or(|r| r.overlaps(&range, cmp))
            })
        },
        dropped,
        cmp,
    )
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    reason = "test code: an out-of-bounds index is a failed test"
)]
mod tests {
    use super::*;
    use crate::range_tombstone::RangeTombstone;

    fn list(rts: &[(&str, &str, SeqNo)]) -> FragList {
        FragList::build(
            rts.iter().map(|&(s, e, seqno)| RangeTombstone {
                start: s.into(),
                end: e.into(),
                seqno,
            }),
            &Comparator::default(),
        )
    }

    fn entries(raw: &[(&str, SeqNo)]) -> Vec<Result<InternalValue>> {
        raw.iter()
            .map(|&(k, s)| Ok(InternalValue::from_components(k, "v", s, ValueType::Value)))
            .collect()
    }

    fn filtered(
        rts: &FragList,
        raw: &[(&str, SeqNo)],
        watermark: SeqNo,
        marker: bool,
    ) -> Vec<(String, SeqNo, ValueType)> {
        CoveredFilter::new(
            entries(raw).into_iter(),
            rts.clone(),
            watermark,
            Comparator::default(),
            marker,
        )
        .map(|e| e.unwrap())
        .map(|e| {
            (
                String::from_utf8(e.key.user_key.to_vec()).unwrap(),
                e.key.seqno,
                e.key.value_type,
            )
        })
        .collect()
    }

    #[test]
    fn covered_entries_below_the_watermark_go_and_the_boundaries_are_strict() {
        let rts = list(&[("b", "d", 5)]);
        let raw = [
            ("a", 1),
            ("b", 6),
            ("b", 5),
            ("b", 4),
            ("b", 1),
            ("c", 2),
            ("d", 1),
        ];
        // Watermark 6: the tombstone (5 < 6) is seen by every read that matters.
        let out = filtered(&rts, &raw, 6, false);
        let kept: Vec<(&str, SeqNo)> = out.iter().map(|(k, s, _)| (k.as_str(), *s)).collect();
        assert_eq!(kept, [("a", 1), ("b", 6), ("b", 5), ("d", 1)]);
        // Watermark 5: a read at 5 does not see the tombstone: nothing goes.
        assert_eq!(filtered(&rts, &raw, 5, false).len(), raw.len());
        // With a merge operator the newest covered version stays as a tombstone.
        let out = filtered(&rts, &raw, 6, true);
        let kept: Vec<(&str, SeqNo, ValueType)> =
            out.iter().map(|(k, s, t)| (k.as_str(), *s, *t)).collect();
        assert_eq!(
            kept,
            [
                ("a", 1, ValueType::Value),
                ("b", 6, ValueType::Value),
                ("b", 5, ValueType::Value),
                ("b", 4, ValueType::Tombstone),
                ("c", 2, ValueType::Tombstone),
                ("d", 1, ValueType::Value),
            ]
        );
    }

    #[test]
    fn a_tombstone_survives_only_over_something_beneath() {
        let cmp = Comparator::default();
        let rts = list(&[("b", "d", 5), ("b", "d", 3), ("x", "z", 9)]);
        let table = |min: &str, max: &str, seqno_min| Beneath {
            range: Some(KeyRange::new(min.into(), max.into())),
            seqno_min,
            seqno_max: 100,
        };
        let mut dropped = Vec::new();
        // Nothing beneath: only the one above the watermark stays.
        let out = surviving(&rts, 6, Some(&[]), &cmp, |s| dropped.push(s));
        assert_eq!(out, list(&[("x", "z", 9)]));
        assert_eq!(dropped, [5]);
        // A table beneath that overlaps and is older: the newest below the watermark stays.
        let out = surviving(&rts, 6, Some(&[table("c", "c", 1)]), &cmp, |_| {});
        assert_eq!(out, list(&[("b", "d", 5), ("x", "z", 9)]));
        // One that only touches the exclusive end, or holds only newer entries, does not count.
        let out = surviving(
            &rts,
            6,
            Some(&[table("d", "e", 1), table("a", "c", 5)]),
            &cmp,
            |_| {},
        );
        assert_eq!(out, list(&[("x", "z", 9)]));
        // A flush knows nothing beneath: it keeps the newest below the watermark.
        let out = surviving(&rts, 6, None, &cmp, |_| {});
        assert_eq!(out, list(&[("b", "d", 5), ("x", "z", 9)]));
    }
}
