//! The MVCC stream: the second stage of every scan.
//!
//! Input: the merged stream of all versions visible at the read (sorted by user key ascending,
//! seqno descending; see [`crate::merge`]). Output: per user key, its newest visible version, with
//! deleted keys left out. A tombstone and a weak tombstone both hide the key; a merge operand reads
//! as a plain value while no merge operator resolves it.
//!
//! Reading backward, a key's versions arrive oldest first, so the stream reads the whole group and
//! keeps its last (newest) entry. Each call consumes one key's group entirely, and each end keeps
//! a one-entry lookahead that the other end takes over when the middle runs dry: a key is always
//! decided by exactly one end, so the two ends never yield a key twice.
//!
//! With a merge operator, a group whose newest visible version is a merge operand yields one
//! value: its operands merged onto the first version beneath them that is not an operand
//! (`crate::merge::resolve`). Forward, the stream keeps the group's versions only from the
//! newest down to that base; backward, it keeps the whole group (its newest comes last). An
//! operator's error is yielded in the key's place, and the stream goes on with the next key (the
//! group was read whole). Range tombstones (a later issue) slot in here too.
//!
//! Thread safety: a single-threaded cursor; `Send` if its input is.

use std::sync::Arc;

use crate::Result;
use crate::iter::merging::SkipCovered;
use crate::key::{Comparator, InternalValue, ValueType};
use crate::merge::MergeOperator;
use crate::range_tombstone::Cover;

/// How many keys in a row a range tombstone must delete before the scan moves the older
/// sources past it (a few plain steps first, so tiny fragments do not cost a seek each; RocksDB's
/// `max_sequential_skip_in_iterations` plays the same part).
const STEPS_BEFORE_SKIP: u32 = 4;

/// Picks the visible version per key; see the module documentation.
pub(crate) struct MvccStream<I> {
    inner: I,
    cmp: Comparator,
    merge: Option<Arc<dyn MergeOperator>>,
    /// The range tombstones the read sees, if any.
    cover: Option<Cover>,
    /// Keys in a row that range tombstones deleted, reading forward.
    deleted_in_a_row: u32,
    /// Keys in a row that range tombstones deleted, reading backward.
    deleted_in_a_row_back: u32,
    front: Option<InternalValue>,
    back: Option<InternalValue>,
    inner_done: bool,
    /// Set after an error: the stream ends, because a key whose versions were read only in part
    /// could otherwise come back with an older version on the next call.
    failed: bool,
    /// The version whose blob files hold separated values (for merges onto such a base).
    blobs: Option<Arc<crate::version::Version>>,
}

impl<I: DoubleEndedIterator<Item = Result<InternalValue>> + SkipCovered> MvccStream<I> {
    pub(crate) fn new(inner: I, cmp: Comparator) -> Self {
        Self {
            inner,
            cmp,
            merge: None,
            cover: None,
            deleted_in_a_row: 0,
            deleted_in_a_row_back: 0,
            front: None,
            back: None,
            inner_done: false,
            failed: false,
            blobs: None,
        }
    }

    /// Reads separated values from `version`'s blob files (a merge onto a base stored in one).
    pub(crate) fn with_blobs(mut self, version: Arc<crate::version::Version>) -> Self {
        self.blobs = (!version.blob_files.is_empty()).then_some(version);
        self
    }

    /// The version whose blob files the stream's `Indirection` entries point into, if any.
    pub(crate) fn blobs(&self) -> Option<Arc<crate::version::Version>> {
        self.blobs.clone()
    }

    /// Resolves merge operands with `operator` (`None`: the latest operand reads as a value).
    pub(crate) fn with_merge(mut self, operator: Option<Arc<dyn MergeOperator>>) -> Self {
        self.merge = operator;
        self
    }

    /// The merged input.
    #[cfg(test)]
    pub(crate) fn inner(&self) -> &I {
        &self.inner
    }

    /// Applies the range tombstones of `cover` (left out when it holds none).
    pub(crate) fn with_range_tombstones(mut self, cover: Cover) -> Self {
        self.cover = (!cover.is_empty()).then_some(cover);
        self
    }

    /// The highest seqno of a range tombstone covering `key` for this read, or 0.
    fn covered(&mut self, key: &[u8], forward: bool) -> u64 {
        self.cover
            .as_mut()
            .map_or(0, |cover| cover.at(key, forward))
    }

    /// `newest` as deleted (the caller leaves it out).
    fn deleted(mut newest: InternalValue) -> InternalValue {
        newest.key.value_type = ValueType::Tombstone;
        newest
    }

    /// The entry a group whose versions are `versions` (newest first, starting with `newest`)
    /// yields: `newest` itself, or with a merge operator and an operand on top, the merge.
    fn merged(&self, versions: &[InternalValue]) -> Result<Option<InternalValue>> {
        let Some(newest) = versions.first() else {
            return Ok(None);
        };
        match &self.merge {
            Some(operator) if newest.key.value_type == ValueType::MergeOperand => {
                let value = crate::merge::resolve_with(
                    operator.as_ref(),
                    &newest.key.user_key,
                    versions,
                    self.blobs.as_deref(),
                )?;
                Ok(Some(InternalValue::from_components(
                    newest.key.user_key.clone(),
                    value,
                    newest.key.seqno,
                    ValueType::Value,
                )))
            }
            _ => Ok(Some(newest.clone())),
        }
    }

    fn pull_front(&mut self) -> Result<Option<InternalValue>> {
        if let Some(entry) = self.front.take() {
            return Ok(Some(entry));
        }
        if !self.inner_done {
            match self.inner.next() {
                Some(entry) => return entry.map(Some),
                None => self.inner_done = true,
            }
        }
        Ok(self.back.take())
    }

    fn pull_back(&mut self) -> Result<Option<InternalValue>> {
        if let Some(entry) = self.back.take() {
            return Ok(Some(entry));
        }
        if !self.inner_done {
            match self.inner.next_back() {
                Some(entry) => return entry.map(Some),
                None => self.inner_done = true,
            }
        }
        Ok(self.front.take())
    }

    /// Ends the stream after a read error; a merge operator's error ends only its key (whose
    /// group was read whole).
    fn fail(&mut self, err: crate::Error) -> crate::Error {
        if !matches!(err, crate::Error::MergeOperator) {
            self.failed = true;
        }
        err
    }

    fn same_key(&self, a: &InternalValue, b: &InternalValue) -> bool {
        self.cmp.user(&a.key.user_key, &b.key.user_key).is_eq()
    }

    /// Whether a group whose versions so far end with `last` needs more of them to resolve.
    fn collecting(&self, last: &InternalValue) -> bool {
        self.merge.is_some() && last.key.value_type == ValueType::MergeOperand
    }

    fn next_group_front(&mut self) -> Result<Option<InternalValue>> {
        let Some(newest) = self.pull_front()? else {
            return Ok(None);
        };
        let resolve = self.collecting(&newest);
        let mut collecting = resolve;
        let mut versions = Vec::new();
        while let Some(next) = self.pull_front()? {
            if !self.same_key(&next, &newest) {
                self.front = Some(next);
                break;
            }
            if collecting {
                let duplicate = versions
                    .last()
                    .unwrap_or(&newest)
                    .key
                    .seqno
                    .eq(&next.key.seqno);
                if !duplicate {
                    collecting = self.collecting(&next);
                    versions.push(next);
                }
            }
        }
        let covered = self.covered(&newest.key.user_key, true);
        if newest.key.seqno < covered {
            self.deleted_in_a_row += 1;
            if self.deleted_in_a_row >= STEPS_BEFORE_SKIP {
                self.deleted_in_a_row = 0;
                if let Some((_, end)) = self.cover.as_ref().and_then(Cover::fragment) {
                    // NB: this key's versions were read whole (the lookahead holds the next
                    // key's first one), so every source is past it.
                    self.inner.skip_covered(&end.clone(), covered);
                }
            }
            return Ok(Some(Self::deleted(newest)));
        }
        self.deleted_in_a_row = 0;
        if !resolve {
            return Ok(Some(newest));
        }
        versions.insert(0, newest);
        if let Some(cut) = versions.iter().position(|v| v.key.seqno < covered) {
            versions.truncate(cut);
        }
        self.merged(&versions)
    }

    fn next_group_back(&mut self) -> Result<Option<InternalValue>> {
        let Some(mut newest) = self.pull_back()? else {
            return Ok(None);
        };
        // Oldest first; kept only with a merge operator (the newest comes last).
        let mut older = Vec::new();
        while let Some(prev) = self.pull_back()? {
            if !self.same_key(&prev, &newest) {
                self.back = Some(prev);
                break;
            }
            if self.merge.is_some() && prev.key.seqno != newest.key.seqno {
                older.push(std::mem::replace(&mut newest, prev));
            } else {
                newest = prev;
            }
        }
        let covered = self.covered(&newest.key.user_key, false);
        if newest.key.seqno < covered {
            self.deleted_in_a_row_back += 1;
            if self.deleted_in_a_row_back >= STEPS_BEFORE_SKIP {
                self.deleted_in_a_row_back = 0;
                if let Some((start, _)) = self.cover.as_ref().and_then(Cover::fragment) {
                    // NB: this key's versions were read whole (the lookahead holds the previous
                    // key's last one), so every source is below it.
                    self.inner.skip_covered_back(&start.clone(), covered);
                }
            }
            return Ok(Some(Self::deleted(newest)));
        }
        self.deleted_in_a_row_back = 0;
        if !self.collecting(&newest) {
            return Ok(Some(newest));
        }
        older.push(newest);
        older.reverse();
        if let Some(cut) = older.iter().position(|v| v.key.seqno < covered) {
            older.truncate(cut);
        }
        self.merged(&older)
    }
}

impl<I: DoubleEndedIterator<Item = Result<InternalValue>> + SkipCovered> Iterator
    for MvccStream<I>
{
    type Item = Result<InternalValue>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            match self.next_group_front() {
                Ok(Some(entry)) if entry.key.value_type.is_tombstone() => {}
                Ok(Some(entry)) => return Some(Ok(entry)),
                Ok(None) => return None,
                Err(err) => return Some(Err(self.fail(err))),
            }
        }
    }
}

impl<I: DoubleEndedIterator<Item = Result<InternalValue>> + SkipCovered> DoubleEndedIterator
    for MvccStream<I>
{
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            match self.next_group_back() {
                Ok(Some(entry)) if entry.key.value_type.is_tombstone() => {}
                Ok(Some(entry)) => return Some(Ok(entry)),
                Ok(None) => return None,
                Err(err) => return Some(Err(self.fail(err))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::ValueType;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn stream(
        mut entries: Vec<(u8, u64, bool)>,
    ) -> MvccStream<std::vec::IntoIter<Result<InternalValue>>> {
        entries.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        entries.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        let items: Vec<Result<InternalValue>> = entries
            .into_iter()
            .map(|(k, s, tomb)| {
                let vt = if tomb {
                    ValueType::Tombstone
                } else {
                    ValueType::Value
                };
                Ok(InternalValue::from_components([k], s.to_le_bytes(), s, vt))
            })
            .collect();
        MvccStream::new(items.into_iter(), Comparator::default())
    }

    #[test]
    fn newest_version_wins_and_tombstones_hide() {
        let s = stream(vec![
            (1, 1, false),
            (1, 3, false),
            (2, 2, false),
            (2, 4, true),
            (3, 1, false),
        ]);
        let got: Vec<(u8, u64)> = s
            .map(|e| e.unwrap())
            .map(|e| (e.key.user_key[0], e.key.seqno))
            .collect();
        assert_eq!(got, [(1, 3), (3, 1)]);
        let s = stream(vec![
            (1, 1, false),
            (1, 3, false),
            (2, 2, false),
            (2, 4, true),
            (3, 1, false),
        ]);
        let got: Vec<(u8, u64)> = s
            .rev()
            .map(|e| e.unwrap())
            .map(|e| (e.key.user_key[0], e.key.seqno))
            .collect();
        assert_eq!(got, [(3, 1), (1, 3)]);
    }

    proptest! {
        #[test]
        fn any_mix_of_ends_yields_each_live_key_once_with_its_newest_version(
            entries in prop::collection::vec((0u8..10, 0u64..6, any::<bool>()), 0..40),
            directions in prop::collection::vec(any::<bool>(), 0..40),
        ) {
            // `stream` keeps the first of equal (key, seqno) entries after a stable sort.
            let mut sorted = entries.clone();
            sorted.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            sorted.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
            let mut model: BTreeMap<u8, (u64, bool)> = BTreeMap::new();
            for &(k, s, t) in &sorted { model.entry(k).or_insert((s, t)); }
            let expected: Vec<(u8, u64)> = model.into_iter().filter(|(_, (_, t))| !t).map(|(k, (s, _))| (k, s)).collect();

            let mut s = stream(entries);
            let (mut front, mut back) = (Vec::new(), Vec::new());
            let mut dirs = directions.into_iter();
            loop {
                let fwd = dirs.next().unwrap_or(true);
                let item = if fwd { s.next() } else { s.next_back() };
                let Some(item) = item else { break };
                let e = item.unwrap();
                let pair = (e.key.user_key[0], e.key.seqno);
                if fwd { front.push(pair) } else { back.push(pair) }
            }
            back.reverse();
            front.extend(back);
            prop_assert_eq!(front, expected);
        }
    }

    #[test]
    fn the_stream_ends_after_an_error_instead_of_resurrecting_older_versions() {
        let items: Vec<Result<InternalValue>> = vec![
            Ok(InternalValue::from_components(
                "k",
                "new",
                2,
                ValueType::Value,
            )),
            Err(crate::Error::InvalidArgument("read failed".into())),
            Ok(InternalValue::from_components(
                "k",
                "old",
                1,
                ValueType::Value,
            )),
        ];
        let mut s = MvccStream::new(items.into_iter(), Comparator::default());
        assert!(matches!(s.next(), Some(Err(_))));
        assert!(s.next().is_none(), "no stale version of k after the error");
        assert!(s.next_back().is_none());
    }
}
