//! The compaction stream: which versions of each key survive a merge.
//!
//! Input: entries sorted by internal key (user key ascending, seqno descending), as a merge of
//! memtables or tables yields them; identical internal keys may repeat (the first, from the newer
//! source, wins). Output: the same order, keeping exactly what some read at a seqno at or above the
//! GC watermark `watermark` can still see:
//!
//! 1. every version with seqno >= `watermark` (a read at X >= watermark may land between them);
//! 2. the newest version below `watermark` (what a read at exactly `watermark` sees);
//! 3. nothing older than that version.
//!
//! Two rules then drop more:
//! - a tombstone or weak tombstone of rule 2 with nothing beneath it is dropped: its seqno is below
//!   `tombstone_floor`, or below the lowest seqno of every source outside the compaction that may
//!   hold its key (`with_beneath`: the tables outside the job whose key range holds it, and every
//!   memtable, whatever its keys, since callers choose seqnos and a newer memtable may hold an
//!   older one). With nothing beneath it, the key reads as absent either way;
//! - with `cancel_weak`, a weak tombstone of rule 2 directly above a value cancels with it (both
//!   dropped): a weak tombstone deletes exactly one older value (RocksDB's SingleDelete), so the
//!   caller promises that value is the only one written since the key's last delete. The version
//!   after the pair (that delete's tombstone, if any) then takes rule 2's place: it still hides
//!   what lies beneath it, here or in tables outside the compaction. No source outside the
//!   compaction may hold a version of the key between the value and the weak tombstone (that
//!   version would come back); else the weak tombstone stays, as a plain tombstone.
//!
//! [`CompactionStream::max_decided`] reports the highest seqno of a tombstone whose fate rested
//! on what lies outside the compaction: the job checks, when it commits, that no source that
//! appeared meanwhile (a memtable written since, a flushed table) is older than that.
//!
//! Every read at X >= `watermark` returns the same answer before and after (the property test
//! below checks this against the input).
//!
//! Last, a compaction filter (if any) sees each value or merge operand the rules keep and may
//! keep, replace, remove (a tombstone at the same seqno) or destroy it.

use std::iter::Peekable;

use super::filter::{CompactionFilter, Context, ItemAccessor, Verdict};
use crate::error::Result;
use crate::key::{Comparator, InternalValue, ValueType};
use crate::seqno::SeqNo;
use crate::slice::Slice;

/// The rules of one compaction; see the module documentation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GcRules {
    pub(crate) watermark: SeqNo,
    /// Tombstones of rule 2 below this seqno have nothing beneath them outside the compaction.
    pub(crate) tombstone_floor: SeqNo,
    pub(crate) cancel_weak: bool,
}

impl GcRules {
    /// The floor at which no tombstone is dropped.
    pub(crate) const NO_FLOOR: SeqNo = 0;
    /// The floor of the bottom of the tree: every tombstone of rule 2 can go.
    pub(crate) const BOTTOM: SeqNo = SeqNo::MAX;
}

/// A source outside a compaction that may hold older versions of its keys.
#[derive(Clone, Debug)]
pub(crate) struct Beneath {
    /// The keys it may hold; `None`: any key (a memtable).
    pub(crate) range: Option<crate::key_range::KeyRange>,
    pub(crate) seqno_min: SeqNo,
    pub(crate) seqno_max: SeqNo,
}

/// A compaction filter at work in a stream.
pub(crate) struct ActiveFilter {
    pub(crate) filter: Box<dyn CompactionFilter>,
    pub(crate) ctx: Context,
    /// How many items got another verdict than `Keep`.
    pub(crate) changed: u64,
}

/// Applies [`GcRules`] to a sorted stream.
pub(crate) struct CompactionStream<I: Iterator<Item = Result<InternalValue>>> {
    inner: Peekable<I>,
    cmp: Comparator,
    rules: GcRules,
    /// The user key and seqno of the last entry read from the input.
    last: Option<(Slice, SeqNo)>,
    /// Whether the current key's rule-2 version was already decided (all older ones drop).
    below_done: bool,
    filter: Option<ActiveFilter>,
    /// Sources outside the compaction that may hold older versions.
    beneath: Vec<Beneath>,
    /// The highest seqno of a tombstone dropped or cancelled because of `beneath`.
    max_decided: Option<SeqNo>,
}

impl<I: Iterator<Item = Result<InternalValue>>> CompactionStream<I> {
    pub(crate) fn new(inner: I, cmp: Comparator, rules: GcRules) -> Self {
        Self {
            inner: inner.peekable(),
            cmp,
            rules,
            last: None,
            below_done: false,
            filter: None,
            beneath: Vec::new(),
            max_decided: None,
        }
    }

    /// The highest seqno of a tombstone whose drop or cancel relied on what lies outside the
    /// compaction; see the module documentation.
    pub(crate) fn max_decided(&self) -> Option<SeqNo> {
        self.max_decided
    }

    fn decided(&mut self, seqno: SeqNo) {
        self.max_decided = self.max_decided.max(Some(seqno));
    }

    /// Names the tables outside the compaction whose ranges overlap it, so that a tombstone at
    /// or above `tombstone_floor` still drops when every such table that could hold its key
    /// holds only newer versions.
    pub(crate) fn with_beneath(mut self, beneath: Vec<Beneath>) -> Self {
        self.beneath = beneath;
        self
    }

    fn may_hold(&self, source: &Beneath, key: &[u8]) -> bool {
        source
            .range
            .as_ref()
            .is_none_or(|r| r.contains_key(key, &self.cmp))
    }

    /// Whether nothing outside the compaction can hold a version of `key` older than `seqno`.
    fn nothing_beneath(&self, key: &[u8], seqno: SeqNo) -> bool {
        seqno < self.rules.tombstone_floor
            || (!self.beneath.is_empty()
                && self
                    .beneath
                    .iter()
                    .all(|b| seqno < b.seqno_min || !self.may_hold(b, key)))
    }

    /// Whether nothing outside the compaction can hold a version of `key` with a seqno in
    /// `[low, high]`.
    fn nothing_between(&self, key: &[u8], low: SeqNo, high: SeqNo) -> bool {
        self.beneath
            .iter()
            .all(|b| b.seqno_max < low || b.seqno_min > high || !self.may_hold(b, key))
    }

    /// Runs `filter` on every value the rules keep.
    pub(crate) fn with_filter(mut self, filter: Option<ActiveFilter>) -> Self {
        self.filter = filter;
        self
    }

    /// The filter, once the stream is done (to call `finish` and read its count).
    pub(crate) fn take_filter(&mut self) -> Option<ActiveFilter> {
        self.filter.take()
    }

    /// Applies the filter to an entry the rules keep; `None` destroys it.
    fn filtered(&mut self, mut entry: InternalValue) -> Option<Result<InternalValue>> {
        let Some(active) = self.filter.as_mut() else {
            return Some(Ok(entry));
        };
        if !matches!(
            entry.key.value_type,
            ValueType::Value | ValueType::MergeOperand
        ) {
            return Some(Ok(entry));
        }
        let verdict = match active
            .filter
            .filter_item(ItemAccessor::new(&entry), &active.ctx)
        {
            Ok(verdict) => verdict,
            Err(err) => return Some(Err(err)),
        };
        if verdict != Verdict::Keep {
            active.changed += 1;
        }
        match verdict {
            Verdict::Keep => {}
            Verdict::Remove => {
                entry.key.value_type = ValueType::Tombstone;
                entry.value = Slice::empty();
            }
            Verdict::RemoveWeak => {
                entry.key.value_type = ValueType::WeakTombstone;
                entry.value = Slice::empty();
            }
            Verdict::ReplaceValue(value) => entry.value = value,
            Verdict::Destroy => return None,
        }
        Some(Ok(entry))
    }

    /// Whether the next input entry is an older version of `key` that is a plain value.
    fn next_is_value_of(&mut self, key: &[u8]) -> bool {
        match self.inner.peek() {
            Some(Ok(next)) => {
                self.cmp.user(&next.key.user_key, key).is_eq()
                    && matches!(next.key.value_type, ValueType::Value)
            }
            _ => false,
        }
    }
}

impl<I: Iterator<Item = Result<InternalValue>>> Iterator for CompactionStream<I> {
    type Item = Result<InternalValue>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let entry = match self.inner.next()? {
                Ok(entry) => entry,
                Err(err) => return Some(Err(err)),
            };
            let same_key = self
                .last
                .as_ref()
                .is_some_and(|(k, _)| self.cmp.user(k, &entry.key.user_key).is_eq());
            let duplicate = same_key
                && self
                    .last
                    .as_ref()
                    .is_some_and(|(_, s)| *s == entry.key.seqno);
            if !same_key {
                self.below_done = false;
            }
            self.last = Some((entry.key.user_key.clone(), entry.key.seqno));
            if duplicate {
                continue;
            }
            if entry.key.seqno >= self.rules.watermark {
                match self.filtered(entry) {
                    Some(out) => return Some(out),
                    None => continue,
                }
            }
            if self.below_done {
                continue;
            }
            self.below_done = true;
            match entry.key.value_type {
                ValueType::Tombstone | ValueType::WeakTombstone
                    if self.nothing_beneath(&entry.key.user_key, entry.key.seqno) =>
                {
                    self.decided(entry.key.seqno);
                }
                ValueType::WeakTombstone
                    if self.rules.cancel_weak && self.next_is_value_of(&entry.key.user_key) =>
                {
                    // Cancel: drop the value beneath too (it is older, so also below watermark).
                    // The next older version (the tombstone of the key's last delete, if any)
                    // is then the newest below the watermark: it must still hide what lies
                    // beneath it, so it goes through rule 2 in turn. Copies of the cancelled
                    // value from older sources (same seqno) are skipped as duplicates.
                    //
                    // That holds only if the key's last delete is still there (the next version
                    // is a tombstone) or nothing older exists anywhere: GC may have dropped that
                    // delete's tombstone, shadowed by the value. Otherwise the weak tombstone
                    // stays, as a plain tombstone (it reads the same), and hides what is older.
                    let Some(Ok(value)) = self.inner.next() else {
                        continue;
                    };
                    let value_seqno = value.key.seqno;
                    self.last = Some((value.key.user_key, value_seqno));
                    let safe = match self.inner.peek() {
                        Some(Ok(next))
                            if self
                                .cmp
                                .user(&next.key.user_key, &entry.key.user_key)
                                .is_eq() =>
                        {
                            next.key.value_type.is_tombstone()
                        }
                        _ => self.nothing_beneath(&entry.key.user_key, value_seqno),
                    } && self.nothing_between(
                        &entry.key.user_key,
                        value_seqno,
                        entry.key.seqno,
                    );
                    if safe {
                        self.decided(entry.key.seqno);
                        self.below_done = false;
                        continue;
                    }
                    let mut tombstone = entry;
                    tombstone.key.value_type = ValueType::Tombstone;
                    return Some(Ok(tombstone));
                }
                _ => {
                    if let Some(out) = self.filtered(entry) {
                        return Some(out);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(k: u8, s: SeqNo, t: u8) -> InternalValue {
        let vt = match t % 4 {
            0 | 1 => ValueType::Value,
            2 => ValueType::Tombstone,
            _ => ValueType::WeakTombstone,
        };
        InternalValue::from_components([k], s.to_le_bytes(), s, vt)
    }

    /// A table outside the compaction holding key `k` at seqnos `[seqno_min, seqno_max]`.
    fn table_beneath(k: u8, seqno_min: SeqNo, seqno_max: SeqNo) -> Beneath {
        Beneath {
            range: Some(crate::key_range::KeyRange::new(
                Slice::from([k]),
                Slice::from([k]),
            )),
            seqno_min,
            seqno_max,
        }
    }

    fn run(input: &[InternalValue], rules: GcRules) -> Vec<InternalValue> {
        CompactionStream::new(input.iter().cloned().map(Ok), Comparator::default(), rules)
            .map(|e| e.unwrap())
            .collect()
    }

    /// What a read at `x` returns for key `k`: `Some(value)` or `None` (absent or deleted).
    fn read(entries: &[InternalValue], k: u8, x: SeqNo) -> Option<Vec<u8>> {
        let newest = entries
            .iter()
            .filter(|e| e.key.user_key[0] == k && e.key.seqno < x)
            .max_by_key(|e| e.key.seqno)?;
        (!newest.key.value_type.is_tombstone()).then(|| newest.value.to_vec())
    }

    fn sorted(raw: Vec<(u8, SeqNo, u8)>) -> Vec<InternalValue> {
        let mut entries: Vec<InternalValue> =
            raw.into_iter().map(|(k, s, t)| entry(k, s, t)).collect();
        entries.sort_by(|a, b| {
            (a.key.user_key.clone(), std::cmp::Reverse(a.key.seqno))
                .cmp(&(b.key.user_key.clone(), std::cmp::Reverse(b.key.seqno)))
        });
        entries.dedup_by(|a, b| a.key.user_key == b.key.user_key && a.key.seqno == b.key.seqno);
        entries
    }

    #[test]
    fn keeps_versions_above_the_threshold_and_the_newest_below() {
        let input = sorted(vec![
            (1, 9, 0),
            (1, 7, 0),
            (1, 5, 0),
            (1, 3, 0),
            (2, 2, 2),
            (2, 1, 0),
        ]);
        let rules = GcRules {
            watermark: 6,
            tombstone_floor: GcRules::NO_FLOOR,
            cancel_weak: false,
        };
        let kept: Vec<(u8, SeqNo)> = run(&input, rules)
            .iter()
            .map(|e| (e.key.user_key[0], e.key.seqno))
            .collect();
        assert_eq!(kept, [(1, 9), (1, 7), (1, 5), (2, 2)]);
        let bottom = GcRules {
            tombstone_floor: GcRules::BOTTOM,
            ..rules
        };
        let kept: Vec<(u8, SeqNo)> = run(&input, bottom)
            .iter()
            .map(|e| (e.key.user_key[0], e.key.seqno))
            .collect();
        assert_eq!(
            kept,
            [(1, 9), (1, 7), (1, 5)],
            "the bottom drops a tombstone with nothing beneath"
        );
    }

    #[test]
    fn a_weak_tombstone_cancels_with_the_value_beneath() {
        let input = sorted(vec![(1, 5, 3), (1, 4, 0), (2, 5, 3), (2, 4, 2)]);
        // Floor 5: nothing outside holds a version older than 5, so key 1's pair may cancel.
        let rules = GcRules {
            watermark: 10,
            tombstone_floor: 5,
            cancel_weak: true,
        };
        let kept: Vec<(u8, SeqNo)> = run(&input, rules)
            .iter()
            .map(|e| (e.key.user_key[0], e.key.seqno))
            .collect();
        assert_eq!(
            kept,
            [(2, 5)],
            "cancelled with a value; kept above a tombstone"
        );
    }

    /// Regression (core review): value @4, weak delete @6 in the compaction, and a value @5 of the
    /// same key outside it (a memtable written by a writer that took its seqno before a
    /// rotation). Cancelling the pair would bring @5 back: the weak tombstone must stay.
    #[test]
    fn a_weak_tombstone_does_not_cancel_over_a_version_outside_between_the_pair() {
        let input = sorted(vec![(3, 6, 3), (3, 4, 0)]);
        let outside = sorted(vec![(3, 5, 0)]);
        let rules = GcRules {
            watermark: 12,
            tombstone_floor: 5,
            cancel_weak: true,
        };
        let memtable = Beneath {
            range: None,
            seqno_min: 5,
            seqno_max: 5,
        };
        let mut stream =
            CompactionStream::new(input.iter().cloned().map(Ok), Comparator::default(), rules)
                .with_beneath(vec![memtable]);
        let output: Vec<_> = stream.by_ref().map(|e| e.unwrap()).collect();
        let after: Vec<_> = output.iter().chain(&outside).cloned().collect();
        assert_eq!(read(&after, 3, 12), None, "{output:?}");
        assert_eq!(
            stream.max_decided(),
            None,
            "nothing was decided by what lies outside"
        );
    }

    /// Regression (model test): delete @1, write @2, weak delete @4, where a flush already
    /// dropped the delete @1 (shadowed by @2) and an old value @0 lies outside. The pair must not
    /// cancel; the weak tombstone stays as a tombstone.
    #[test]
    fn a_weak_tombstone_whose_older_delete_was_collected_does_not_cancel() {
        let input = sorted(vec![(3, 4, 3), (3, 2, 0)]);
        let outside = sorted(vec![(3, 0, 0)]);
        let rules = GcRules {
            watermark: 12,
            tombstone_floor: 0,
            cancel_weak: true,
        };
        let output: Vec<_> =
            CompactionStream::new(input.iter().cloned().map(Ok), Comparator::default(), rules)
                .with_beneath(vec![table_beneath(3, 0, 0)])
                .map(|e| e.unwrap())
                .collect();
        let kept: Vec<(u8, SeqNo, bool)> = output
            .iter()
            .map(|e| {
                (
                    e.key.user_key[0],
                    e.key.seqno,
                    e.key.value_type.is_tombstone(),
                )
            })
            .collect();
        assert_eq!(kept, [(3, 4, true)]);
        let after: Vec<_> = output.iter().chain(&outside).cloned().collect();
        assert_eq!(read(&after, 3, 12), None);
        // With nothing outside, the pair cancels.
        let bottom = GcRules {
            tombstone_floor: GcRules::BOTTOM,
            ..rules
        };
        let output: Vec<_> =
            CompactionStream::new(input.iter().cloned().map(Ok), Comparator::default(), bottom)
                .map(|e| e.unwrap())
                .collect();
        assert!(output.is_empty());
    }

    #[test]
    fn after_a_weak_cancel_the_older_tombstone_still_hides_what_lies_outside() {
        // Delete at 17, write at 18, weak delete at 20 (the single-delete contract holds), and
        // an old value at 6 in a table outside the compaction.
        let input = sorted(vec![(3, 20, 3), (3, 18, 0), (3, 17, 2)]);
        let outside = sorted(vec![(3, 6, 0)]);
        let rules = GcRules {
            watermark: 30,
            tombstone_floor: 6,
            cancel_weak: true,
        };
        let output: Vec<_> =
            CompactionStream::new(input.iter().cloned().map(Ok), Comparator::default(), rules)
                .with_beneath(vec![table_beneath(3, 6, 6)])
                .map(|e| e.unwrap())
                .collect();
        let kept: Vec<(u8, SeqNo)> = output
            .iter()
            .map(|e| (e.key.user_key[0], e.key.seqno))
            .collect();
        assert_eq!(kept, [(3, 17)], "the pair cancels; the tombstone stays");
        let after: Vec<_> = output.iter().chain(&outside).cloned().collect();
        assert_eq!(read(&after, 3, 30), None);
        // At the bottom, the tombstone goes too.
        let bottom = GcRules {
            tombstone_floor: GcRules::BOTTOM,
            ..rules
        };
        let output: Vec<_> =
            CompactionStream::new(input.iter().cloned().map(Ok), Comparator::default(), bottom)
                .map(|e| e.unwrap())
                .collect();
        assert!(output.is_empty());
    }

    /// Regression: the cancelled pair took every older version with it, so the tombstone of the
    /// key's last delete went too and a value beneath it, outside the compaction, came back.
    #[test]
    fn after_a_weak_cancel_the_last_delete_still_hides_what_is_beneath() {
        // Inside: weak@3 over the value @2 (written once since the delete @1). Outside: a table
        // holding key 1 @0, beneath the delete.
        let input = sorted(vec![(1, 3, 3), (1, 2, 0), (1, 1, 2), (2, 3, 3), (2, 2, 0)]);
        let rules = GcRules {
            watermark: 10,
            tombstone_floor: 0,
            cancel_weak: true,
        };
        let beneath = vec![table_beneath(1, 0, 0)];
        let kept: Vec<(u8, SeqNo)> =
            CompactionStream::new(input.iter().cloned().map(Ok), Comparator::default(), rules)
                .with_beneath(beneath)
                .map(|e| e.unwrap())
                .map(|e| (e.key.user_key[0], e.key.seqno))
                .collect();
        assert_eq!(kept, [(1, 1)], "the delete stays; key 2's pair cancels");
        // A copy of the cancelled value from an older source (same seqno) is not the next
        // version: it goes with the pair.
        let mut input = sorted(vec![(1, 3, 3), (1, 2, 0)]);
        input.push(entry(1, 2, 1));
        // With a second copy beneath, the pair does not cancel: the weak tombstone stays as a
        // plain tombstone, which reads the same.
        let kept: Vec<(u8, SeqNo, bool)> = run(&input, rules)
            .iter()
            .map(|e| {
                (
                    e.key.user_key[0],
                    e.key.seqno,
                    e.key.value_type.is_tombstone(),
                )
            })
            .collect();
        assert_eq!(kept, [(1, 3, true)]);
    }

    proptest! {
        /// A compaction of some entries, with the rest in tables outside it (two tables, by key
        /// range): every read at or above the watermark over everything is unchanged.
        #[test]
        fn tombstones_drop_only_with_nothing_beneath_them_outside(
            raw in prop::collection::vec((0u8..5, 0u64..12, 0u8..3, any::<bool>()), 0..40),
            watermark in 0u64..14,
        ) {
            let (inside_raw, outside_raw): (Vec<_>, Vec<_>) = raw.into_iter().partition(|e| e.3);
            let strip = |v: Vec<(u8, u64, u8, bool)>| v.into_iter().map(|(k, s, t, _)| (k, s, t)).collect();
            let inside = sorted(strip(inside_raw));
            let outside = sorted(strip(outside_raw));
            // NB: an identical (key, seqno) in both halves would be one entry twice.
            let inside: Vec<_> = inside
                .into_iter()
                .filter(|e| !outside.iter().any(|o| o.key == e.key))
                .collect();
            let mut beneath = Vec::new();
            for (lo, hi) in [(0u8, 2u8), (3, 4)] {
                let part: Vec<_> = outside.iter().filter(|e| (lo..=hi).contains(&e.key.user_key[0])).collect();
                if let (Some(first), Some(last)) = (part.first(), part.last()) {
                    let seqno_min = part.iter().map(|e| e.key.seqno).min().unwrap_or(0);
                    beneath.push(Beneath { range: Some(crate::key_range::KeyRange::new(first.key.user_key.clone(), last.key.user_key.clone())), seqno_min, seqno_max: SeqNo::MAX });
                }
            }
            let floor = beneath.iter().map(|b| b.seqno_min).min().unwrap_or(GcRules::BOTTOM);
            let rules = GcRules { watermark, tombstone_floor: floor, cancel_weak: false };
            let output: Vec<_> = CompactionStream::new(inside.iter().cloned().map(Ok), Comparator::default(), rules)
                .with_beneath(beneath)
                .map(|e| e.unwrap())
                .collect();
            let before: Vec<_> = inside.iter().chain(&outside).cloned().collect();
            let after: Vec<_> = output.iter().chain(&outside).cloned().collect();
            for k in 0..5u8 {
                for x in watermark..14 {
                    prop_assert_eq!(read(&after, k, x), read(&before, k, x), "key {} read at {}", k, x);
                }
            }
        }

        #[test]
        fn every_read_at_or_above_the_threshold_is_unchanged(
            raw in prop::collection::vec((0u8..5, 0u64..12, 0u8..4), 0..40),
            watermark in 0u64..14,
            floor in prop_oneof![Just(GcRules::NO_FLOOR), Just(GcRules::BOTTOM)],
        ) {
            let input = sorted(raw);
            // Weak cancellation needs the single-delete contract, which random input breaks.
            let rules = GcRules { watermark, tombstone_floor: floor, cancel_weak: false };
            let output = run(&input, rules);
            for k in 0..5u8 {
                for x in watermark..14 {
                    prop_assert_eq!(read(&output, k, x), read(&input, k, x), "key {} read at {}", k, x);
                }
            }
            // Nothing kept twice, nothing out of order, and nothing older than rule 2 allows.
            for pair in output.windows(2) {
                prop_assert!((&pair[0].key.user_key, std::cmp::Reverse(pair[0].key.seqno)) < (&pair[1].key.user_key, std::cmp::Reverse(pair[1].key.seqno)));
            }
            for k in 0..5u8 {
                let below = output.iter().filter(|e| e.key.user_key[0] == k && e.key.seqno < watermark).count();
                prop_assert!(below <= 1);
            }
        }
    }
}
