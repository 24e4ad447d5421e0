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
//! With a merge operator (`with_merge`), a merge operand in rule 2's place is collapsed with the
//! older versions of its key down to the first that is not an operand (the base), all below the
//! watermark, so reads at or above it see them only as a whole:
//! - onto a value base: one value, the operands merged onto it;
//! - onto a tombstone or weak tombstone base, or with no base in the input and nothing beneath
//!   the key outside the compaction: one value, the operands merged onto nothing;
//! - with no base in the input and something possibly beneath: one operand, the operands merged
//!   partially (operators are associative), merged again by reads or a later compaction.
//!
//! The result keeps the newest operand's seqno. It is only allowed if no source outside the
//! compaction may hold a version of the key between the oldest collapsed version and the newest
//! (a read applies such a version in between; `with_beneath` must have named the outside
//! sources, so a flush, which names none, never collapses). Otherwise the operands and the base
//! are kept as they are. An operator error fails the compaction.
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

use std::collections::VecDeque;
use std::iter::Peekable;
use std::sync::Arc;

use super::filter::{CompactionFilter, Context, ItemAccessor, Verdict};
use crate::error::Result;
use crate::key::{Comparator, InternalValue, ValueType};
use crate::merge::MergeOperator;
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
    /// Whether `beneath` names every source outside the compaction (`with_beneath` was called).
    beneath_known: bool,
    merge: Option<Arc<dyn MergeOperator>>,
    /// Entries decided and not yet yielded (operands that could not be collapsed).
    pending: VecDeque<InternalValue>,
    /// The highest seqno of a tombstone dropped or cancelled because of `beneath`.
    max_decided: Option<SeqNo>,
    /// The version whose blob files hold the inputs' separated values.
    blobs: Option<Arc<crate::version::Version>>,
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
            beneath_known: false,
            merge: None,
            pending: VecDeque::new(),
            max_decided: None,
            blobs: None,
        }
    }

    /// Reads separated values (for merges and the compaction filter) from `version`'s blob
    /// files.
    pub(crate) fn with_blobs(mut self, version: Option<Arc<crate::version::Version>>) -> Self {
        self.blobs = version;
        self
    }

    /// Collapses merge operands with `operator`; see the module documentation.
    pub(crate) fn with_merge(mut self, operator: Option<Arc<dyn MergeOperator>>) -> Self {
        self.merge = operator;
        self
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
        self.beneath_known = true;
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

    /// Rule 2 for a merge operand `newest` under a merge operator; see the module documentation.
    /// Returns the first entry to yield (the rest wait in `pending`).
    fn collapse(
        &mut self,
        operator: &dyn MergeOperator,
        newest: InternalValue,
    ) -> Result<InternalValue> {
        let key = newest.key.user_key.clone();
        let high = newest.key.seqno;
        let mut operands = vec![newest];
        let mut base = None;
        while let Some(Ok(next)) = self.inner.peek() {
            if !self.cmp.user(&next.key.user_key, &key).is_eq() {
                break;
            }
            let Some(Ok(next)) = self.inner.next() else {
                break;
            };
            let duplicate = self
                .last
                .as_ref()
                .is_some_and(|(_, s)| *s == next.key.seqno);
            self.last = Some((key.clone(), next.key.seqno));
            if duplicate {
                continue;
            }
            if next.key.value_type == ValueType::MergeOperand {
                operands.push(next);
            } else {
                base = Some(next);
                break;
            }
        }
        let low = base
            .as_ref()
            .or(operands.last())
            .map_or(high, |v| v.key.seqno);
        let single = operands.len() == 1;
        let known = self.beneath_known && self.nothing_between(&key, low, high);
        if !known || (single && base.is_none()) {
            let mut kept = operands.into_iter();
            let first = kept.next();
            self.pending.extend(kept.chain(base));
            return first.ok_or(crate::Error::MergeOperator);
        }
        let full = base.is_some() || self.nothing_beneath(&key, low);
        let mut versions = operands;
        versions.extend(base);
        let value = if full {
            crate::merge::resolve_with(operator, &key, &versions, self.blobs.as_deref())?
        } else {
            // A partial merge: operands only, onto no base.
            let ops: Vec<&[u8]> = versions.iter().rev().map(|v| &*v.value).collect();
            crate::merge::call(operator, &key, None, &ops)?
        };
        self.decided(high);
        let value_type = if full {
            ValueType::Value
        } else {
            ValueType::MergeOperand
        };
        Ok(InternalValue::from_components(key, value, high, value_type))
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
            ValueType::Value | ValueType::MergeOperand | ValueType::Indirection
        ) {
            return Some(Ok(entry));
        }
        let verdict = match active.filter.filter_item(
            ItemAccessor::new(&entry, self.blobs.as_deref()),
            &active.ctx,
        ) {
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
            Verdict::ReplaceValue(value) => {
                if entry.key.value_type == ValueType::Indirection {
                    entry.key.value_type = ValueType::Value;
                }
                entry.value = value;
            }
            Verdict::Destroy => return None,
        }
        Some(Ok(entry))
    }

    /// Whether the next input entry is an older version of `key` that is a plain value.
    fn next_is_value_of(&mut self, key: &[u8]) -> bool {
        match self.inner.peek() {
            Some(Ok(next)) => {
                self.cmp.user(&next.key.user_key, key).is_eq() && next.key.value_type.is_value()
            }
            _ => false,
        }
    }
}

impl<I: Iterator<Item = Result<InternalValue>>> Iterator for CompactionStream<I> {
    type Item = Result<InternalValue>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(entry) = self.pending.pop_front() {
            return Some(Ok(entry));
        }
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
                ValueType::MergeOperand if self.merge.is_some() && !self.beneath_known => {
                    // A flush: keep the operand, and let the next older version of the key
                    // through rule 2 as well, down to the first that is not an operand.
                    self.below_done = false;
                    if let Some(out) = self.filtered(entry) {
                        return Some(out);
                    }
                }
                ValueType::MergeOperand if self.merge.is_some() => {
                    let Some(operator) = self.merge.clone() else {
                        continue;
                    };
                    match self.collapse(operator.as_ref(), entry) {
                        Ok(entry) => {
                            if let Some(out) = self.filtered(entry) {
                                return Some(out);
                            }
                        }
                        Err(err) => return Some(Err(err)),
                    }
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

    /// Concatenation: associative, so partial merges read the same as full ones.
    struct Concat;
    impl MergeOperator for Concat {
        fn merge(&self, _: &[u8], base: Option<&[u8]>, operands: &[&[u8]]) -> Result<Slice> {
            let mut out = base.unwrap_or_default().to_vec();
            for op in operands {
                out.extend_from_slice(op);
            }
            Ok(Slice::from(out))
        }
    }

    fn op(k: u8, s: SeqNo) -> InternalValue {
        InternalValue::from_components([k], [b'0' + s as u8], s, ValueType::MergeOperand)
    }

    fn val(k: u8, s: SeqNo) -> InternalValue {
        InternalValue::from_components([k], [b'a' + s as u8], s, ValueType::Value)
    }

    /// What a read at `x` returns for key `k` with the `Concat` operator.
    fn read_merged(entries: &[InternalValue], k: u8, x: SeqNo) -> Option<Vec<u8>> {
        let mut versions: Vec<&InternalValue> = entries
            .iter()
            .filter(|e| e.key.user_key[0] == k && e.key.seqno < x)
            .collect();
        versions.sort_by_key(|e| std::cmp::Reverse(e.key.seqno));
        let newest = versions.first()?;
        match newest.key.value_type {
            ValueType::MergeOperand => Some(
                crate::merge::resolve(&Concat, &[k], versions.iter().copied())
                    .unwrap()
                    .to_vec(),
            ),
            vt if vt.is_tombstone() => None,
            _ => Some(newest.value.to_vec()),
        }
    }

    fn merging(
        input: &[InternalValue],
        rules: GcRules,
        beneath: Option<Vec<Beneath>>,
    ) -> Vec<InternalValue> {
        let stream =
            CompactionStream::new(input.iter().cloned().map(Ok), Comparator::default(), rules)
                .with_merge(Some(Arc::new(Concat)));
        let stream = match beneath {
            Some(b) => stream.with_beneath(b),
            None => stream,
        };
        stream.map(|e| e.unwrap()).collect()
    }

    fn shape(entries: &[InternalValue]) -> Vec<(SeqNo, ValueType, Vec<u8>)> {
        entries
            .iter()
            .map(|e| (e.key.seqno, e.key.value_type, e.value.to_vec()))
            .collect()
    }

    #[test]
    fn operands_below_the_watermark_collapse_onto_their_base() {
        let rules = GcRules {
            watermark: 10,
            tombstone_floor: GcRules::NO_FLOOR,
            cancel_weak: true,
        };
        // Onto a value: one value; what is older goes.
        let input = vec![op(1, 5), op(1, 4), val(1, 3), val(1, 2)];
        assert_eq!(
            shape(&merging(&input, rules, Some(vec![]))),
            [(5, ValueType::Value, b"d45".to_vec())]
        );
        // Onto a tombstone: one value merged onto nothing.
        let tomb = InternalValue::from_components([1], [], 3, ValueType::Tombstone);
        let input = vec![op(1, 5), op(1, 4), tomb, val(1, 2)];
        assert_eq!(
            shape(&merging(&input, rules, Some(vec![]))),
            [(5, ValueType::Value, b"45".to_vec())]
        );
        // No base, and an older version of the key outside: a partial merge stays an operand.
        let input = vec![op(1, 5), op(1, 4)];
        let outside = vec![table_beneath(1, 1, 2)];
        assert_eq!(
            shape(&merging(&input, rules, Some(outside))),
            [(5, ValueType::MergeOperand, b"45".to_vec())]
        );
        // No base and nothing beneath (the bottom): a value.
        let bottom = GcRules {
            tombstone_floor: GcRules::BOTTOM,
            ..rules
        };
        assert_eq!(
            shape(&merging(&input, bottom, Some(vec![]))),
            [(5, ValueType::Value, b"45".to_vec())]
        );
    }

    #[test]
    fn operands_do_not_collapse_over_a_version_outside_between_them_nor_in_a_flush() {
        let rules = GcRules {
            watermark: 10,
            tombstone_floor: GcRules::NO_FLOOR,
            cancel_weak: false,
        };
        let input = vec![op(1, 6), op(1, 4), val(1, 2)];
        // A memtable outside holds seqno 5: a read applies @6 onto its version, not @4's.
        let memtable = Beneath {
            range: None,
            seqno_min: 5,
            seqno_max: 5,
        };
        let kept = merging(&input, rules, Some(vec![memtable]));
        assert_eq!(shape(&kept), shape(&input));
        let outside = vec![val(1, 5)];
        let before: Vec<_> = input.iter().chain(&outside).cloned().collect();
        let after: Vec<_> = kept.iter().chain(&outside).cloned().collect();
        assert_eq!(read_merged(&after, 1, 10), read_merged(&before, 1, 10));
        // A flush names no source beneath: it keeps every operand (without a merge operator, rule
        // 2 would keep only the newest).
        assert_eq!(shape(&merging(&input, rules, None)), shape(&input));
    }

    #[test]
    fn operands_at_or_above_the_watermark_stay_as_they_are() {
        let rules = GcRules {
            watermark: 5,
            tombstone_floor: GcRules::BOTTOM,
            cancel_weak: true,
        };
        let input = vec![op(1, 7), op(1, 5), op(1, 4), val(1, 3)];
        let kept = merging(&input, rules, Some(vec![]));
        assert_eq!(
            shape(&kept),
            [
                (7, ValueType::MergeOperand, b"7".to_vec()),
                (5, ValueType::MergeOperand, b"5".to_vec()),
                (4, ValueType::Value, b"d4".to_vec()),
            ]
        );
        for x in 5..10 {
            assert_eq!(
                read_merged(&kept, 1, x),
                read_merged(&input, 1, x),
                "read at {x}"
            );
        }
    }

    proptest! {
        /// Merges, values and tombstones, some in the compaction and the rest outside it (in two
        /// tables with their true seqno ranges): every read at or above the watermark, merge
        /// operands resolved, is unchanged.
        #[test]
        fn merges_read_the_same_at_or_above_the_watermark_after_a_compaction(
            raw in prop::collection::vec((0u8..4, 0u64..12, 0u8..4, 0u8..3), 0..40),
            watermark in 0u64..14,
        ) {
            let make = |(k, s, t): (u8, u64, u8)| match t {
                0 => val(k, s),
                1 => InternalValue::from_components([k], [], s, ValueType::Tombstone),
                _ => op(k, s),
            };
            let mut all: Vec<(u8, u64, u8, u8)> = raw;
            all.sort_by_key(|e| (e.0, std::cmp::Reverse(e.1)));
            all.dedup_by_key(|e| (e.0, e.1));
            let (inside, outside): (Vec<_>, Vec<_>) = all.into_iter().partition(|e| e.3 != 0);
            let inside: Vec<InternalValue> = inside.into_iter().map(|(k, s, t, _)| make((k, s, t))).collect();
            let outside: Vec<InternalValue> = outside.into_iter().map(|(k, s, t, _)| make((k, s, t))).collect();
            let mut beneath = Vec::new();
            for (lo, hi) in [(0u8, 1u8), (2, 3)] {
                let part: Vec<_> = outside.iter().filter(|e| (lo..=hi).contains(&e.key.user_key[0])).collect();
                if let (Some(first), Some(last)) = (part.first(), part.last()) {
                    beneath.push(Beneath {
                        range: Some(crate::key_range::KeyRange::new(first.key.user_key.clone(), last.key.user_key.clone())),
                        seqno_min: part.iter().map(|e| e.key.seqno).min().unwrap_or(0),
                        seqno_max: part.iter().map(|e| e.key.seqno).max().unwrap_or(0),
                    });
                }
            }
            let floor = beneath.iter().map(|b| b.seqno_min).min().unwrap_or(GcRules::BOTTOM);
            let rules = GcRules { watermark, tombstone_floor: floor, cancel_weak: false };
            let output = merging(&inside, rules, Some(beneath));
            let before: Vec<_> = inside.iter().chain(&outside).cloned().collect();
            let after: Vec<_> = output.iter().chain(&outside).cloned().collect();
            for k in 0..4u8 {
                for x in watermark..14 {
                    prop_assert_eq!(read_merged(&after, k, x), read_merged(&before, k, x), "key {} read at {}", k, x);
                }
            }
        }
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
