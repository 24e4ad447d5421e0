//! The k-way merge of sorted sources: the first stage of every scan.
//!
//! Each source (a memtable, or a run of tables) yields its entries in internal-key order and
//! only the entries its read seqno can see. [`MergingIter`] interleaves them into one stream in
//! internal-key order, from either end. Entries with equal internal keys come from the earlier
//! (newer) source first when reading forward and last when reading backward, so both directions
//! are exact mirror images.
//!
//! Double-ended correctness: the merger behaves as a deque of all remaining entries. Each source
//! keeps a one-entry lookahead at each end; when a source runs dry at one end, that end takes the
//! other end's lookahead, so an entry peeked by the front is still seen by the back and no entry is
//! ever yielded twice or lost when the two ends meet.
//!
//! The merge scans all heads linearly: with the handful of sources an LSM-tree read has, that beats
//! a heap and keeps the deque logic simple.
//!
//! Thread safety: a merger is a single-threaded cursor; it is `Send` if its sources are.

use std::cmp::Ordering;

use crate::Result;
use crate::key::{Comparator, InternalValue};
use crate::seqno::SeqNo;

/// A sorted source of entries that a scan may move forward past a span of keys.
pub(crate) trait SeekSource:
    DoubleEndedIterator<Item = Result<InternalValue>> + Send
{
    /// Moves the front end to the first entry whose user key is at or after `key`, skipping
    /// what lies before it (the caller knows it is all deleted). Returns `false` if the source
    /// cannot (then nothing changed). `key` is past every key the front end yielded.
    fn seek_front(&mut self, key: &[u8]) -> bool {
        let _ = key;
        false
    }

    /// Moves the back end to the last entry whose user key is below `key`, as
    /// [`SeekSource::seek_front`] mirrored.
    fn seek_back(&mut self, key: &[u8]) -> bool {
        let _ = key;
        false
    }

    /// The highest seqno the source may yield (`SeqNo::MAX` if unknown).
    fn max_seqno(&self) -> SeqNo {
        SeqNo::MAX
    }
}

/// A source that cannot seek (a vector, a single error).
pub(crate) struct Plain<I>(pub(crate) I);

impl<I: Iterator<Item = Result<InternalValue>>> Iterator for Plain<I> {
    type Item = Result<InternalValue>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }
}

impl<I: DoubleEndedIterator<Item = Result<InternalValue>>> DoubleEndedIterator for Plain<I> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back()
    }
}

impl<I: DoubleEndedIterator<Item = Result<InternalValue>> + Send> SeekSource for Plain<I> {}

/// A sorted source of entries.
pub(crate) type BoxedSource = Box<dyn SeekSource + 'static>;

/// A stream that can skip, at its front, entries its caller knows are deleted.
pub(crate) trait SkipCovered {
    /// Skips, in every source that holds only seqnos below `below`, the entries before `end`:
    /// a range tombstone at `below` or higher deletes them all (the caller checked that it
    /// covers from the current key up to `end`). May do nothing.
    fn skip_covered(&mut self, end: &[u8], below: SeqNo) {
        let _ = (end, below);
    }

    /// [`SkipCovered::skip_covered`] mirrored: skips, at the back end, the entries at or after
    /// `start`.
    fn skip_covered_back(&mut self, start: &[u8], below: SeqNo) {
        let _ = (start, below);
    }
}

impl SkipCovered for std::vec::IntoIter<Result<InternalValue>> {}

struct Source {
    iter: BoxedSource,
    front: Option<InternalValue>,
    back: Option<InternalValue>,
    exhausted: bool,
}

impl Source {
    /// Makes sure `front` holds this source's smallest remaining entry, if any.
    fn fill_front(&mut self) -> Result<()> {
        if self.front.is_some() {
            return Ok(());
        }
        if !self.exhausted {
            match self.iter.next() {
                Some(Ok(entry)) => {
                    self.front = Some(entry);
                    return Ok(());
                }
                Some(Err(err)) => return Err(err),
                None => self.exhausted = true,
            }
        }
        self.front = self.back.take();
        Ok(())
    }

    /// Makes sure `back` holds this source's largest remaining entry, if any.
    fn fill_back(&mut self) -> Result<()> {
        if self.back.is_some() {
            return Ok(());
        }
        if !self.exhausted {
            match self.iter.next_back() {
                Some(Ok(entry)) => {
                    self.back = Some(entry);
                    return Ok(());
                }
                Some(Err(err)) => return Err(err),
                None => self.exhausted = true,
            }
        }
        self.back = self.front.take();
        Ok(())
    }
}

/// Merges sorted sources into one sorted stream; see the module documentation.
pub(crate) struct MergingIter {
    sources: Vec<Source>,
    cmp: Comparator,
    /// Set after a source failed: the merger ends rather than continue with a gap.
    failed: bool,
    /// Set once the back end was read: skipping forward is for forward scans only.
    back_started: bool,
    /// Set once the front end was read: skipping backward is for backward scans only.
    front_started: bool,
    /// The sources moved forward by `skip_covered` (for tests and statistics).
    seeks: u64,
}

fn order(cmp: &Comparator, a: &InternalValue, b: &InternalValue) -> Ordering {
    cmp.internal(
        (&a.key.user_key, a.key.seqno),
        (&b.key.user_key, b.key.seqno),
    )
}

impl MergingIter {
    /// Merges `sources`, given newest first.
    pub(crate) fn new(sources: Vec<BoxedSource>, cmp: Comparator) -> Self {
        Self {
            sources: sources
                .into_iter()
                .map(|iter| Source {
                    iter,
                    front: None,
                    back: None,
                    exhausted: false,
                })
                .collect(),
            cmp,
            failed: false,
            back_started: false,
            front_started: false,
            seeks: 0,
        }
    }

    /// How many times a source was moved forward past deleted entries.
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the tests"))]
    pub(crate) fn seeks(&self) -> u64 {
        self.seeks
    }
}

impl SkipCovered for MergingIter {
    fn skip_covered(&mut self, end: &[u8], below: SeqNo) {
        if self.back_started || self.failed {
            return;
        }
        for source in &mut self.sources {
            if source.back.is_some() || source.iter.max_seqno() >= below {
                continue;
            }
            // NB: a lookahead at or past `end` stays; one before it is deleted with the rest.
            if source
                .front
                .as_ref()
                .is_some_and(|f| self.cmp.user(&f.key.user_key, end).is_ge())
            {
                continue;
            }
            if source.exhausted {
                source.front = None;
                continue;
            }
            if source.iter.seek_front(end) {
                source.front = None;
                self.seeks += 1;
            }
        }
    }

    fn skip_covered_back(&mut self, start: &[u8], below: SeqNo) {
        if self.front_started || self.failed {
            return;
        }
        for source in &mut self.sources {
            if source.front.is_some() || source.iter.max_seqno() >= below {
                continue;
            }
            // NB: a lookahead before `start` stays; one at or after it is deleted with the rest.
            if source
                .back
                .as_ref()
                .is_some_and(|b| self.cmp.user(&b.key.user_key, start).is_lt())
            {
                continue;
            }
            if source.exhausted {
                source.back = None;
                continue;
            }
            if source.iter.seek_back(start) {
                source.back = None;
                self.seeks += 1;
            }
        }
    }
}

impl MergingIter {
    /// The index of the source whose head (front or back) comes first in the given direction.
    fn pick(&mut self, forward: bool) -> Result<Option<usize>> {
        if self.failed {
            return Ok(None);
        }
        for source in &mut self.sources {
            let filled = if forward {
                source.fill_front()
            } else {
                source.fill_back()
            };
            if let Err(err) = filled {
                self.failed = true;
                return Err(err);
            }
        }
        let mut best: Option<(usize, &InternalValue)> = None;
        for (i, source) in self.sources.iter().enumerate() {
            let head = if forward { &source.front } else { &source.back };
            let Some(head) = head else { continue };
            let better = match best {
                None => true,
                // Forward, ties keep the earlier (newer) source; backward, ties go to the later
                // (older) source: the exact mirror image.
                Some((_, current)) if forward => order(&self.cmp, head, current).is_lt(),
                Some((_, current)) => order(&self.cmp, head, current).is_ge(),
            };
            if better {
                best = Some((i, head));
            }
        }
        Ok(best.map(|(i, _)| i))
    }
}

impl Iterator for MergingIter {
    type Item = Result<InternalValue>;

    fn next(&mut self) -> Option<Self::Item> {
        self.front_started = true;
        match self.pick(true) {
            Ok(best) => best
                .and_then(|i| self.sources.get_mut(i)?.front.take())
                .map(Ok),
            Err(err) => Some(Err(err)),
        }
    }
}

impl DoubleEndedIterator for MergingIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.back_started = true;
        match self.pick(false) {
            Ok(best) => best
                .and_then(|i| self.sources.get_mut(i)?.back.take())
                .map(Ok),
            Err(err) => Some(Err(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::ValueType;
    use proptest::prelude::*;

    fn source(entries: Vec<(u8, u64)>) -> BoxedSource {
        let items: Vec<Result<InternalValue>> = entries
            .into_iter()
            .map(|(k, s)| {
                Ok(InternalValue::from_components(
                    [k],
                    [k],
                    s,
                    ValueType::Value,
                ))
            })
            .collect();
        Box::new(Plain(items.into_iter()))
    }

    fn sorted(mut v: Vec<(u8, u64)>) -> Vec<(u8, u64)> {
        v.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        v.dedup();
        v
    }

    fn key_of(e: &InternalValue) -> (u8, u64) {
        (e.key.user_key[0], e.key.seqno)
    }

    #[test]
    fn ties_prefer_the_newer_source_forward_and_mirror_backward() {
        let tagged = |tag: &'static str| -> BoxedSource {
            Box::new(Plain(
                vec![Ok(InternalValue::from_components(
                    "k",
                    tag,
                    5,
                    ValueType::Value,
                ))]
                .into_iter(),
            ))
        };
        let forward: Vec<_> =
            MergingIter::new(vec![tagged("new"), tagged("old")], Comparator::default())
                .map(|e| e.unwrap().value)
                .collect();
        assert_eq!(forward, ["new", "old"]);
        let backward: Vec<_> =
            MergingIter::new(vec![tagged("new"), tagged("old")], Comparator::default())
                .rev()
                .map(|e| e.unwrap().value)
                .collect();
        assert_eq!(backward, ["old", "new"]);
    }

    #[test]
    fn an_error_from_a_source_is_passed_through() {
        let failing: BoxedSource = Box::new(Plain(
            vec![Err(crate::Error::InvalidArgument("boom".into()))].into_iter(),
        ));
        let mut m = MergingIter::new(vec![source(vec![(1, 1)]), failing], Comparator::default());
        assert!(matches!(
            m.next(),
            Some(Err(crate::Error::InvalidArgument(_)))
        ));
        assert!(
            m.next().is_none() && m.next_back().is_none(),
            "the merger ends after an error"
        );
    }

    proptest! {
        #[test]
        fn merged_stream_is_sorted_and_complete_from_any_mix_of_ends(
            sources in prop::collection::vec(prop::collection::vec((0u8..20, 0u64..5), 0..15), 0..5),
            directions in prop::collection::vec(any::<bool>(), 0..100),
        ) {
            let sources: Vec<Vec<(u8, u64)>> = sources.into_iter().map(sorted).collect();
            let mut all: Vec<(u8, u64)> = sources.iter().flatten().copied().collect();
            all.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            let mut m = MergingIter::new(sources.into_iter().map(source).collect(), Comparator::default());
            let (mut front, mut back) = (Vec::new(), Vec::new());
            let mut dirs = directions.into_iter();
            loop {
                let item = if dirs.next().unwrap_or(true) { m.next().map(|e| front.push(key_of(&e.unwrap()))) }
                    else { m.next_back().map(|e| back.push(key_of(&e.unwrap()))) };
                if item.is_none() { break; }
            }
            prop_assert!(m.next().is_none() && m.next_back().is_none());
            back.reverse();
            front.extend(back);
            prop_assert_eq!(front, all);
        }
    }
}
