//! Per-level policies: the table settings that may differ from one level to the next.
//!
//! A policy holds one entry per level, level 0 first; every level past the last entry uses the
//! last entry, so `all(x)` is simply a one-entry list. [`Config`](super::Config) carries the
//! policies and the table writer reads the entry of the level it writes (`get`), so a tree can,
//! for example, leave level 0 uncompressed and compress the deeper levels.
//!
//! Invariant: a policy is never empty. The constructors accept any list and fall back to the
//! policy's default when it is empty, so no user input makes them panic. Entries past the deepest
//! level are kept (and shown by `Deref`) but never read.
//!
//! Thread safety: policies are plain immutable values (`Send + Sync`), cheap to clone.

use std::fmt;
use std::ops::Deref;

use crate::CompressionType;

/// The entries of one policy, level 0 first. Never empty: every constructor goes through
/// [`PerLevel::new`] or passes a one-entry list.
#[derive(Clone, PartialEq, Eq, Hash)]
struct PerLevel<T>(Vec<T>);

impl<T: Copy> PerLevel<T> {
    fn new(entries: Vec<T>, fallback: T) -> Self {
        if entries.is_empty() {
            Self(vec![fallback])
        } else {
            Self(entries)
        }
    }

    fn get(&self, level: usize) -> T {
        let entry = self.0.get(level).or_else(|| self.0.last());
        *entry.expect("a per-level policy is never empty: its constructors ensure it")
    }
}

// NB: transparent, so a policy prints as `BlockSizePolicy([4096, 8192])`.
impl<T: fmt::Debug> fmt::Debug for PerLevel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Defines a public per-level policy: a newtype over [`PerLevel`] with `all`, `new`, `Default`,
/// `Deref<Target = [entry]>` and the crate-internal `get`.
macro_rules! per_level_policy {
    (
        $(#[$attr:meta])*
        pub struct $name:ident($entry:ty), default $default:expr;
    ) => {
        $(#[$attr])*
        pub struct $name(PerLevel<$entry>);

        impl $name {
            const DEFAULT_ENTRY: $entry = $default;

            /// Uses `entry` in every level.
            pub fn all(entry: $entry) -> Self {
                Self(PerLevel(vec![entry]))
            }

            /// One entry per level, level 0 first; deeper levels repeat the last entry.
            ///
            /// Takes an array, a slice or a `Vec`. An empty list gives the default policy
            #[doc = concat!("(`", stringify!($default), "` in every level) instead of panicking.")]
            pub fn new(entries: impl Into<Vec<$entry>>) -> Self {
                Self(PerLevel::new(entries.into(), Self::DEFAULT_ENTRY))
            }

            /// The entry of `level`: the last entry for levels past the end of the list.
            pub(crate) fn get(&self, level: usize) -> $entry {
                self.0.get(level)
            }
        }

        #[doc = concat!("`", stringify!($default), "` in every level.")]
        impl Default for $name {
            fn default() -> Self {
                Self::all(Self::DEFAULT_ENTRY)
            }
        }

        /// The entries, level 0 first (never empty).
        impl Deref for $name {
            type Target = [$entry];

            fn deref(&self) -> &[$entry] {
                &self.0.0
            }
        }
    };
}

per_level_policy! {
    /// The target size in bytes of the blocks of a table, per level. Default: 4096 (4 KiB) in every
    /// level.
    ///
    /// ```
    /// use strata::config::BlockSizePolicy;
    ///
    /// // 4 KiB blocks in level 0, 8 KiB below it.
    /// let policy = BlockSizePolicy::new([4096, 8192]);
    /// assert_eq!(&*policy, &[4096, 8192]);
    /// assert_eq!(BlockSizePolicy::default(), BlockSizePolicy::all(4096));
    /// // An empty list gives the default rather than a panic.
    /// assert_eq!(BlockSizePolicy::new(Vec::new()), BlockSizePolicy::default());
    /// ```
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    pub struct BlockSizePolicy(u32), default 4096;
}

per_level_policy! {
    /// The restart interval of a table's blocks, per level: every how many entries a block stores
    /// a full key instead of a prefix-compressed one. Default: 16 in every level, the data-block
    /// default; [`Config`](super::Config) uses 1 for index blocks.
    ///
    /// ```
    /// use strata::config::RestartIntervalPolicy;
    ///
    /// let policy = RestartIntervalPolicy::new(&[8, 16][..]);
    /// assert_eq!(&*policy, &[8, 16]);
    /// assert_eq!(&*RestartIntervalPolicy::default(), &[16]);
    /// ```
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    pub struct RestartIntervalPolicy(u8), default 16;
}

per_level_policy! {
    /// The [`CompressionType`] of a table's blocks, per level. Default: no compression in every
    /// level (the same as [`CompressionPolicy::disabled`]).
    ///
    /// ```
    /// use strata::CompressionType;
    /// use strata::config::CompressionPolicy;
    ///
    /// let policy = CompressionPolicy::all(CompressionType::None);
    /// assert_eq!(policy, CompressionPolicy::disabled());
    /// assert_eq!(policy, CompressionPolicy::default());
    /// assert_eq!(&*policy, &[CompressionType::None]);
    /// ```
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    pub struct CompressionPolicy(CompressionType), default CompressionType::None;
}

impl CompressionPolicy {
    /// Stores every block as is, in every level.
    pub fn disabled() -> Self {
        Self::all(CompressionType::None)
    }
}

per_level_policy! {
    /// A yes/no setting per level. Default: `false` in every level.
    ///
    /// Used for pinning (keep that level's index or filter blocks in memory instead of leaving
    /// them to the cache) and, as [`PartitioningPolicy`], for partitioning (split that level's
    /// index or filter into blocks read on demand).
    ///
    /// ```
    /// use strata::config::{PartitioningPolicy, PinningPolicy};
    ///
    /// // Pin levels 0 and 1 only.
    /// let pinning = PinningPolicy::new([true, true, false]);
    /// assert_eq!(&*pinning, &[true, true, false]);
    /// assert_eq!(PinningPolicy::default(), PinningPolicy::all(false));
    ///
    /// let partitioning: PartitioningPolicy = PartitioningPolicy::all(true);
    /// assert_eq!(&*partitioning, &[true]);
    /// ```
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    pub struct PinningPolicy(bool), default false;
}

/// Whether to partition a level's index or filter: the same per-level yes/no as
/// [`PinningPolicy`].
pub type PartitioningPolicy = PinningPolicy;

per_level_policy! {
    /// The size of the in-block hash index of data blocks, per level, in bytes per entry; `0.0`
    /// (or less) writes no hash index. Default: `0.0` in every level.
    ///
    /// ```
    /// use strata::config::HashRatioPolicy;
    ///
    /// let policy = HashRatioPolicy::new(vec![0.0, 0.75]);
    /// assert_eq!(&*policy, &[0.0, 0.75]);
    /// assert_eq!(HashRatioPolicy::default(), HashRatioPolicy::all(0.0));
    /// ```
    #[derive(Clone, Debug, PartialEq)]
    pub struct HashRatioPolicy(f32), default 0.0;
}

/// How a Bloom filter is sized. Default: 10 bits per key (about 1% false positives).
///
/// ```
/// use strata::config::BloomConstructionPolicy;
///
/// assert_eq!(BloomConstructionPolicy::default(), BloomConstructionPolicy::BitsPerKey(10.0));
/// assert!(BloomConstructionPolicy::FalsePositiveRate(0.01).is_active());
/// assert!(!BloomConstructionPolicy::BitsPerKey(0.0).is_active());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BloomConstructionPolicy {
    /// This many filter bits per key.
    BitsPerKey(f32),
    /// As many bits per key as this false-positive rate (between 0 and 1, exclusive) needs.
    FalsePositiveRate(f32),
}

impl Default for BloomConstructionPolicy {
    fn default() -> Self {
        Self::BitsPerKey(10.0)
    }
}

impl BloomConstructionPolicy {
    /// Whether this policy builds a filter at all: `false` for a bits-per-key that is not a
    /// positive finite number, and for a false-positive rate outside `(0, 1)` (including NaN).
    ///
    /// ```
    /// use strata::config::BloomConstructionPolicy::{BitsPerKey, FalsePositiveRate};
    ///
    /// assert!(BitsPerKey(0.5).is_active());
    /// assert!(!BitsPerKey(-1.0).is_active());
    /// assert!(!FalsePositiveRate(1.0).is_active());
    /// ```
    pub fn is_active(self) -> bool {
        match self {
            Self::BitsPerKey(bits) => bits.is_finite() && bits > 0.0,
            Self::FalsePositiveRate(rate) => rate > 0.0 && rate < 1.0,
        }
    }

    /// The bloom bits per key this policy asks for.
    pub(crate) fn bits_per_key(self) -> f64 {
        match self {
            Self::BitsPerKey(bits) => f64::from(bits),
            Self::FalsePositiveRate(fpr) => {
                crate::table::filter::bits_per_key_for_fpr(f64::from(fpr))
            }
        }
    }
}

/// The filter of one level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FilterPolicyEntry {
    /// No filter: every point read of this level reads the table's index and a data block.
    None,
    /// A Bloom filter sized by the [`BloomConstructionPolicy`].
    Bloom(BloomConstructionPolicy),
}

per_level_policy! {
    /// The filter of a table, per level. Default: a Bloom filter of 10 bits per key in every
    /// level.
    ///
    /// ```
    /// use strata::config::{BloomConstructionPolicy, FilterPolicy, FilterPolicyEntry};
    ///
    /// // No filter in the last of three levels, where most point reads find their key.
    /// let bloom = FilterPolicyEntry::Bloom(BloomConstructionPolicy::BitsPerKey(10.0));
    /// let policy = FilterPolicy::new([bloom, bloom, FilterPolicyEntry::None]);
    /// assert_eq!(policy.len(), 3);
    /// assert_eq!(FilterPolicy::default(), FilterPolicy::all(bloom));
    /// assert_eq!(&*FilterPolicy::disabled(), &[FilterPolicyEntry::None]);
    /// ```
    #[derive(Clone, Debug, PartialEq)]
    pub struct FilterPolicy(FilterPolicyEntry),
        default FilterPolicyEntry::Bloom(BloomConstructionPolicy::BitsPerKey(10.0));
}

impl FilterPolicy {
    /// Writes no filter in any level.
    pub fn disabled() -> Self {
        Self::all(FilterPolicyEntry::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOOM_10: FilterPolicyEntry =
        FilterPolicyEntry::Bloom(BloomConstructionPolicy::BitsPerKey(10.0));

    #[test]
    fn get_repeats_the_last_entry_for_deeper_levels() {
        let policy = BlockSizePolicy::new([4096, 8192, 16_384]);
        let by_level: Vec<u32> = (0..6).map(|level| policy.get(level)).collect();
        assert_eq!(by_level, [4096, 8192, 16_384, 16_384, 16_384, 16_384]);
        assert_eq!(policy.get(usize::MAX), 16_384);

        let all = PinningPolicy::all(true);
        assert!((0..10).all(|level| all.get(level)));

        let filter = FilterPolicy::new([FilterPolicyEntry::None, BLOOM_10]);
        assert_eq!(filter.get(0), FilterPolicyEntry::None);
        assert_eq!(filter.get(7), BLOOM_10);
    }

    #[test]
    fn empty_new_gives_the_default_policy() {
        assert_eq!(BlockSizePolicy::new([]), BlockSizePolicy::default());
        assert_eq!(BlockSizePolicy::new([]).get(3), 4096);
        assert_eq!(
            RestartIntervalPolicy::new(Vec::new()),
            RestartIntervalPolicy::default()
        );
        assert_eq!(RestartIntervalPolicy::new(Vec::new()).get(3), 16);
        assert_eq!(
            CompressionPolicy::new(&[][..]),
            CompressionPolicy::default()
        );
        assert_eq!(
            CompressionPolicy::new(&[][..]).get(3),
            CompressionType::None
        );
        assert_eq!(PinningPolicy::new([]), PinningPolicy::default());
        assert!(!PinningPolicy::new([]).get(3));
        assert_eq!(HashRatioPolicy::new([]), HashRatioPolicy::default());
        assert_eq!(HashRatioPolicy::new([]).get(3).to_bits(), 0.0_f32.to_bits());
        assert_eq!(FilterPolicy::new([]), FilterPolicy::default());
        assert_eq!(FilterPolicy::new([]).get(3), BLOOM_10);
    }

    #[test]
    fn defaults_are_as_documented() {
        assert_eq!(&*BlockSizePolicy::default(), &[4096]);
        assert_eq!(&*RestartIntervalPolicy::default(), &[16]);
        assert_eq!(&*CompressionPolicy::default(), &[CompressionType::None]);
        assert_eq!(CompressionPolicy::disabled(), CompressionPolicy::default());
        assert_eq!(&*PinningPolicy::default(), &[false]);
        assert_eq!(&*HashRatioPolicy::default(), &[0.0]);
        assert_eq!(&*FilterPolicy::default(), &[BLOOM_10]);
        assert_eq!(&*FilterPolicy::disabled(), &[FilterPolicyEntry::None]);
        assert_eq!(
            BloomConstructionPolicy::default(),
            BloomConstructionPolicy::BitsPerKey(10.0)
        );
    }

    #[test]
    #[expect(
        clippy::needless_borrows_for_generic_args,
        reason = "callers of lsm-tree pass `&[..]`: the borrowed form is what this test checks"
    )]
    fn new_accepts_arrays_slices_and_vecs() {
        let entries = [1, 2];
        let expected = BlockSizePolicy::new(vec![1, 2]);
        assert_eq!(BlockSizePolicy::new(&entries), expected);
        assert_eq!(BlockSizePolicy::new(&entries[..]), expected);
        assert_eq!(BlockSizePolicy::new(entries), expected);
    }

    #[test]
    fn debug_shows_the_entries() {
        assert_eq!(
            format!("{:?}", BlockSizePolicy::new([4096, 8192])),
            "BlockSizePolicy([4096, 8192])"
        );
        assert_eq!(
            format!("{:?}", PartitioningPolicy::all(true)),
            "PinningPolicy([true])"
        );
    }

    #[test]
    fn bloom_is_active_only_for_positive_bits_and_a_rate_strictly_between_0_and_1() {
        use BloomConstructionPolicy::{BitsPerKey, FalsePositiveRate};

        for bits in [f32::MIN_POSITIVE, 0.5, 10.0, 64.0] {
            assert!(BitsPerKey(bits).is_active(), "{bits} bits per key");
        }
        for bits in [0.0, -0.0, -1.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            assert!(!BitsPerKey(bits).is_active(), "{bits} bits per key");
        }
        for rate in [f32::MIN_POSITIVE, 0.01, 0.5, 0.999] {
            assert!(FalsePositiveRate(rate).is_active(), "rate {rate}");
        }
        for rate in [0.0, -0.0, -0.1, 1.0, 1.5, f32::NAN, f32::INFINITY] {
            assert!(!FalsePositiveRate(rate).is_active(), "rate {rate}");
        }
    }
}
