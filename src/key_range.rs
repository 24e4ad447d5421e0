//! Key ranges and bounds: the one place that decides overlap, containment and union.
//!
//! - [`KeyRange`]: a closed range `[min, max]` of user keys, as a table or a run covers it.
//! - [`Bounds`]: a range with any kind of ends (included, excluded or unbounded), as a scan, a
//!   `drop_range` or a range tombstone (`[start, end)`, exclusive end) gives it.
//!
//! Every comparison goes through the tree's [`Comparator`].

use std::ops::{Bound, RangeBounds};

use crate::key::Comparator;
use crate::slice::Slice;

/// A closed range `[min, max]` of user keys (`min <= max` under the comparator).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) struct KeyRange {
    pub(crate) min: Slice,
    pub(crate) max: Slice,
}

impl KeyRange {
    /// `[min, max]`.
    pub(crate) fn new(min: Slice, max: Slice) -> Self {
        Self { min, max }
    }

    /// Whether the two ranges share a key.
    pub(crate) fn overlaps(&self, other: &Self, cmp: &Comparator) -> bool {
        cmp.user(&self.min, &other.max).is_le() && cmp.user(&other.min, &self.max).is_le()
    }

    /// Whether `key` lies in the range.
    pub(crate) fn contains_key(&self, key: &[u8], cmp: &Comparator) -> bool {
        cmp.user(&self.min, key).is_le() && cmp.user(key, &self.max).is_le()
    }

    /// The smallest range holding both.
    pub(crate) fn union(&self, other: &Self, cmp: &Comparator) -> Self {
        Self {
            min: if cmp.user(&other.min, &self.min).is_lt() {
                other.min.clone()
            } else {
                self.min.clone()
            },
            max: if cmp.user(&other.max, &self.max).is_gt() {
                other.max.clone()
            } else {
                self.max.clone()
            },
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
            .all(|w| matches!(w, [a, b] if cmp.user(&a.max, &b.min).is_lt()))
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
        self.after_start(&range.min, cmp) && self.before_end(&range.max, cmp)
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
