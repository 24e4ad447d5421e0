//! Key ranges and bounds: the one place that decides overlap, containment and union.
//!
//! - [`KeyRange`]: a range `[min, max]` of user keys, as a table or a run covers it; its end is
//!   exclusive (`[min, max)`) when it is a range tombstone's end that no entry reaches.
//! - [`Bounds`]: a range with any kind of ends (included, excluded or unbounded), as a scan, a
//!   `drop_range` or a range tombstone (`[start, end)`, exclusive end) gives it.
//!
//! Every comparison goes through the tree's [`Comparator`].

use std::ops::{Bound, RangeBounds};

use crate::key::Comparator;
use crate::slice::Slice;

/// A range `[min, max]` of user keys (`min <= max` under the comparator), or `[min, max)`
/// when `max_exclusive` (then `min < max`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) struct KeyRange {
    pub(crate) min: Slice,
    pub(crate) max: Slice,
    pub(crate) max_exclusive: bool,
}

impl KeyRange {
    /// `[min, max]`.
    pub(crate) fn new(min: Slice, max: Slice) -> Self {
        Self {
            min,
            max,
            max_exclusive: false,
        }
    }

    /// `[min, max)` if `max_exclusive`, else `[min, max]`.
    pub(crate) fn with_end(min: Slice, max: Slice, max_exclusive: bool) -> Self {
        Self {
            min,
            max,
            max_exclusive,
        }
    }

    /// Whether `key` is past the range's end.
    fn past_end(&self, key: &[u8], cmp: &Comparator) -> bool {
        match cmp.user(key, &self.max) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => self.max_exclusive,
            std::cmp::Ordering::Less => false,
        }
    }

    /// Whether the two ranges share a key.
    pub(crate) fn overlaps(&self, other: &Self, cmp: &Comparator) -> bool {
        !other.past_end(&self.min, cmp) && !self.past_end(&other.min, cmp)
    }

    /// Whether `key` lies in the range.
    pub(crate) fn contains_key(&self, key: &[u8], cmp: &Comparator) -> bool {
        cmp.user(&self.min, key).is_le() && !self.past_end(key, cmp)
    }

    /// The smallest range holding both.
    pub(crate) fn union(&self, other: &Self, cmp: &Comparator) -> Self {
        let (max, max_exclusive) = match cmp.user(&other.max, &self.max) {
            std::cmp::Ordering::Greater => (other.max.clone(), other.max_exclusive),
            std::cmp::Ordering::Less => (self.max.clone(), self.max_exclusive),
            std::cmp::Ordering::Equal => {
                (self.max.clone(), self.max_exclusive && other.max_exclusive)
            }
        };
        Self {
            min: if cmp.user(&other.min, &self.min).is_lt() {
                other.min.clone()
            } else {
                self.min.clone()
            },
            max,
            max_exclusive,
        }
    }

    /// The smallest range holding every range of `ranges`, or `None` if there is none.
    pub(crate) fn union_all<'a>(
        ranges: impl IntoIterator<Item = &'a Self>,
        cmp: &Comparator,
    ) -> Option<Self> {
        ranges.into_iter().fold(None, |acc: Option<Self>, r| {
            Some(acc.map_or_else(|| r.clone(), |a| a.union(r, cmp)))
        })
    }

    /// Whether every range of `ranges` is disjoint from every other (in any order).
    pub(crate) fn pairwise_disjoint(ranges: &[&Self], cmp: &Comparator) -> bool {
        let mut sorted: Vec<&Self> = ranges.to_vec();
        sorted.sort_by(|a, b| cmp.user(&a.min, &b.min));
        sorted
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.past_end(&b.min, cmp)))
    }
}

/// A range of user keys with any kind of ends; see the module documentation.
#[derive(Clone, Debug)]
pub(crate) struct Bounds {
    pub(crate) start: Bound<Slice>,
    pub(crate) end: Bound<Slice>,
}

impl Bounds {
    /// The bounds of a Rust range of byte strings.
    pub(crate) fn from_range<K: AsRef<[u8]>, R: RangeBounds<K>>(range: &R) -> Self {
        let own = |b: Bound<&K>| match b {
            Bound::Included(k) => Bound::Included(Slice::from(k.as_ref())),
            Bound::Excluded(k) => Bound::Excluded(Slice::from(k.as_ref())),
            Bound::Unbounded => Bound::Unbounded,
        };
        Self {
            start: own(range.start_bound()),
            end: own(range.end_bound()),
        }
    }

    /// Whether `key` satisfies the start bound (is not before the range).
    pub(crate) fn after_start(&self, key: &[u8], cmp: &Comparator) -> bool {
        Self::after(&self.start, key, cmp)
    }

    /// Whether `key` satisfies the end bound (is not past the range).
    pub(crate) fn before_end(&self, key: &[u8], cmp: &Comparator) -> bool {
        Self::before(&self.end, key, cmp)
    }

    /// Whether `key` satisfies `start` as a start bound (for bounds held as a pair).
    pub(crate) fn after(start: &Bound<Slice>, key: &[u8], cmp: &Comparator) -> bool {
        match start {
            Bound::Included(s) => cmp.user(key, s).is_ge(),
            Bound::Excluded(s) => cmp.user(key, s).is_gt(),
            Bound::Unbounded => true,
        }
    }

    /// Whether `key` satisfies `end` as an end bound (for bounds held as a pair).
    pub(crate) fn before(end: &Bound<Slice>, key: &[u8], cmp: &Comparator) -> bool {
        match end {
            Bound::Included(e) => cmp.user(key, e).is_le(),
            Bound::Excluded(e) => cmp.user(key, e).is_lt(),
            Bound::Unbounded => true,
        }
    }

    /// The bounds as a pair, as iterators hold them.
    pub(crate) fn into_pair(self) -> (Bound<Slice>, Bound<Slice>) {
        (self.start, self.end)
    }

    /// Whether every key of `range` lies inside the bounds.
    pub(crate) fn covers(&self, range: &KeyRange, cmp: &Comparator) -> bool {
        if !self.after_start(&range.min, cmp) {
            return false;
        }
        match (&self.end, range.max_exclusive) {
            // Every key below `max` is below or at `e` exactly when `max <= e`.
            (Bound::Included(e) | Bound::Excluded(e), true) => cmp.user(&range.max, e).is_le(),
            _ => self.before_end(&range.max, cmp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(a: &str, b: &str) -> KeyRange {
        KeyRange::new(a.into(), b.into())
    }

    #[test]
    fn overlap_union_and_containment() {
        let cmp = Comparator::default();
        assert!(r("a", "c").overlaps(&r("c", "d"), &cmp));
        assert!(r("c", "d").overlaps(&r("a", "c"), &cmp));
        assert!(!r("a", "b").overlaps(&r("c", "d"), &cmp));
        assert!(r("a", "z").overlaps(&r("m", "n"), &cmp));
        assert_eq!(r("b", "c").union(&r("a", "b"), &cmp), r("a", "c"));
        assert_eq!(
            KeyRange::union_all([&r("d", "e"), &r("a", "b"), &r("c", "f")], &cmp),
            Some(r("a", "f"))
        );
        assert_eq!(KeyRange::union_all([], &cmp), None);
        assert!(r("a", "c").contains_key(b"c", &cmp));
        assert!(!r("a", "c").contains_key(b"ca", &cmp));
        assert!(KeyRange::pairwise_disjoint(
            &[&r("d", "e"), &r("a", "c")],
            &cmp
        ));
        assert!(!KeyRange::pairwise_disjoint(
            &[&r("d", "e"), &r("a", "d")],
            &cmp
        ));
    }

    #[test]
    fn exclusive_ends_touch_without_overlapping() {
        let cmp = Comparator::default();
        let left = KeyRange::with_end("a".into(), "c".into(), true);
        assert!(!left.overlaps(&r("c", "d"), &cmp));
        assert!(!r("c", "d").overlaps(&left, &cmp));
        assert!(left.overlaps(&r("b", "b"), &cmp));
        assert!(!left.contains_key(b"c", &cmp));
        assert!(left.contains_key(b"bz", &cmp));
        assert!(KeyRange::pairwise_disjoint(&[&r("c", "d"), &left], &cmp));
        assert!(!KeyRange::pairwise_disjoint(
            &[&r("c", "d"), &r("a", "c")],
            &cmp
        ));
        assert_eq!(left.union(&r("a", "c"), &cmp), r("a", "c"));
        assert_eq!(left.union(&left, &cmp), left);
        assert!(Bounds::from_range(&("a".."c")).covers(&left, &cmp));
        assert!(Bounds::from_range(&("a"..="c")).covers(&left, &cmp));
        assert!(!Bounds::from_range(&("a".."bz")).covers(&left, &cmp));
    }

    #[test]
    fn bounds_of_every_kind() {
        let cmp = Comparator::default();
        let half = Bounds::from_range(&("b".."d"));
        assert!(!half.after_start(b"a", &cmp));
        assert!(half.after_start(b"b", &cmp));
        assert!(half.before_end(b"cz", &cmp));
        assert!(!half.before_end(b"d", &cmp));
        assert!(half.covers(&r("b", "c"), &cmp));
        assert!(!half.covers(&r("b", "d"), &cmp));
        let incl = Bounds::from_range(&("b"..="d"));
        assert!(incl.covers(&r("b", "d"), &cmp));
        let excl = Bounds::from_range::<&str, _>(&(
            std::ops::Bound::Excluded("b"),
            std::ops::Bound::Unbounded,
        ));
        assert!(!excl.after_start(b"b", &cmp));
        assert!(excl.covers(&r("ba", "zzz"), &cmp));
        let all = Bounds::from_range::<&str, _>(&(..));
        assert!(all.covers(&r("", "\u{ff}"), &cmp));
    }
}
