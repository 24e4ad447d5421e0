//! Internal keys, value types and the key order.
//!
//! An internal key is `(user key, seqno, value type)`. The engine orders internal keys by user key
//! ascending, *through the user comparator*, then by seqno descending, so that the newest version of
//! a key comes first. Every key comparison in the engine goes through [`Comparator`], which wraps the
//! user's [`UserComparator`] and takes a branch-free fast path for the default byte order.
//!
//! The value type is persisted on disk: its numeric values must never be renumbered.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use crate::seqno::SeqNo;
use crate::slice::{Slice, UserKey};

/// What an entry is. Persisted on disk as one byte.
///
/// ```
/// use strata::ValueType;
///
/// assert_eq!(ValueType::try_from(1), Ok(ValueType::Tombstone));
/// assert_eq!(u8::from(ValueType::MergeOperand), 3);
/// assert!(ValueType::try_from(200).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ValueType {
    /// A plain value. On-disk value 0: never renumber.
    Value = 0,
    /// A deletion. On-disk value 1: never renumber.
    Tombstone = 1,
    /// A single deletion that cancels exactly one older value. On-disk value 2: never renumber.
    WeakTombstone = 2,
    /// A merge operand. On-disk value 3: never renumber.
    MergeOperand = 3,
    /// A pointer to a value stored in a blob file (key-value separation; only in tables, never
    /// returned by reads, which return the value). On-disk value 4 (the seed's): never renumber.
    Indirection = 4,
}

impl ValueType {
    /// Whether this entry deletes its key (a tombstone or a weak tombstone).
    pub fn is_tombstone(self) -> bool {
        matches!(self, Self::Tombstone | Self::WeakTombstone)
    }

    /// Whether this entry is a value: stored inline or in a blob file.
    pub(crate) fn is_value(self) -> bool {
        matches!(self, Self::Value | Self::Indirection)
    }
}

impl From<ValueType> for u8 {
    fn from(value: ValueType) -> Self {
        value as Self
    }
}

/// The byte is not a known [`ValueType`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownValueType(pub u8);

impl fmt::Display for UnknownValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown value type {}", self.0)
    }
}

impl std::error::Error for UnknownValueType {}

impl TryFrom<u8> for ValueType {
    type Error = UnknownValueType;

    fn try_from(byte: u8) -> Result<Self, Self::Error> {
        match byte {
            0 => Ok(Self::Value),
            1 => Ok(Self::Tombstone),
            2 => Ok(Self::WeakTombstone),
            3 => Ok(Self::MergeOperand),
            4 => Ok(Self::Indirection),
            other => Err(UnknownValueType(other)),
        }
    }
}

/// The order of user keys. Its name is persisted; reopening a tree with another comparator is an
/// error.
///
/// A comparator must be a total order, consistent over the life of the data, and must keep keys
/// that share a prefix contiguous if `prefix()` scans are used.
///
/// ```
/// use std::cmp::Ordering;
/// use strata::UserComparator;
///
/// /// Orders keys from the highest byte string down.
/// struct Reverse;
///
/// impl UserComparator for Reverse {
///     fn name(&self) -> &'static str {
///         "example.reverse"
///     }
///     fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
///         b.cmp(a)
///     }
/// }
///
/// assert_eq!(Reverse.compare(b"a", b"b"), Ordering::Greater);
/// ```
pub trait UserComparator: Send + Sync + 'static {
    /// A stable name, persisted with the tree.
    fn name(&self) -> &'static str;

    /// Compares two user keys.
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering;

    /// Returns `true` only if [`compare`](Self::compare) is exactly the lexicographic byte order;
    /// the engine then compares bytes directly. The default is `false`.
    fn is_lexicographic(&self) -> bool {
        false
    }

    /// Whether [`compare`](Self::compare) may call two different byte strings equal (a
    /// case-insensitive order, say). Bloom filters and in-block hash indexes hash a key's bytes,
    /// so they can only rule a key out when equal means byte-equal: for a comparator that returns
    /// `true` here, point reads skip them (and stay correct), at the cost of reading the blocks.
    ///
    /// The default is `true` unless the comparator [`is_lexicographic`](Self::is_lexicographic):
    /// a custom order whose equal keys are always byte-equal (a reverse order, an order on
    /// decoded integers with one encoding each) should return `false` to keep its filters.
    fn can_keys_with_different_bytes_be_equal(&self) -> bool {
        !self.is_lexicographic()
    }
}

/// The default comparator: lexicographic byte order (like `memcmp`, shorter first on a tie).
///
/// ```
/// use strata::{DefaultUserComparator, UserComparator};
///
/// assert!(DefaultUserComparator.compare(b"ab", b"b").is_lt());
/// assert!(DefaultUserComparator.compare(b"a", b"ab").is_lt());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultUserComparator;

impl UserComparator for DefaultUserComparator {
    fn name(&self) -> &'static str {
        DEFAULT_COMPARATOR_NAME
    }

    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        a.cmp(b)
    }

    fn is_lexicographic(&self) -> bool {
        true
    }
}

/// The persisted name of [`DefaultUserComparator`] (the seed's name, so trees move both ways).
pub(crate) const DEFAULT_COMPARATOR_NAME: &str = "default";

/// The name earlier Strata versions stored for [`DefaultUserComparator`]; such trees keep opening.
pub(crate) const LEGACY_DEFAULT_COMPARATOR_NAME: &str = "strata.lexicographic";

/// Whether a file that stored comparator name `stored` may be read with the comparator named
/// `supplied` (the same name, or the default comparator under its earlier name).
pub(crate) fn comparator_names_match(stored: &str, supplied: &str) -> bool {
    stored == supplied
        || (stored == LEGACY_DEFAULT_COMPARATOR_NAME && supplied == DEFAULT_COMPARATOR_NAME)
}

/// The engine's handle on the user comparator; every key comparison goes through it.
#[derive(Clone)]
pub(crate) struct Comparator {
    user: Arc<dyn UserComparator>,
    lexicographic: bool,
    /// Whether filters and hash indexes may rule keys out (equal means byte-equal).
    hashable: bool,
}

impl Default for Comparator {
    fn default() -> Self {
        Self::new(Arc::new(DefaultUserComparator))
    }
}

impl fmt::Debug for Comparator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Comparator({})", self.name())
    }
}

impl Comparator {
    pub(crate) fn new(user: Arc<dyn UserComparator>) -> Self {
        let lexicographic = user.is_lexicographic();
        let hashable = !user.can_keys_with_different_bytes_be_equal();
        Self {
            user,
            lexicographic,
            hashable,
        }
    }

    /// Whether keys the comparator calls equal are always byte-equal, so that filters and hash
    /// indexes (which hash bytes) may rule a key out.
    pub(crate) fn equal_means_byte_equal(&self) -> bool {
        self.hashable
    }

    /// The persisted name of the user comparator.
    pub(crate) fn name(&self) -> &'static str {
        self.user.name()
    }

    /// Whether the order is the plain lexicographic byte order.
    pub(crate) fn is_lexicographic(&self) -> bool {
        self.lexicographic
    }

    /// Compares two user keys.
    #[inline]
    pub(crate) fn user(&self, a: &[u8], b: &[u8]) -> Ordering {
        if self.lexicographic {
            lexicographic(a, b)
        } else {
            self.user.compare(a, b)
        }
    }

    /// Compares two internal keys: user key ascending, then seqno descending.
    #[inline]
    pub(crate) fn internal(&self, a: (&[u8], SeqNo), b: (&[u8], SeqNo)) -> Ordering {
        self.user(a.0, b.0).then_with(|| b.1.cmp(&a.1))
    }
}

/// Lexicographic byte order, eight bytes at a time.
///
/// Equal to `a.cmp(b)`; faster for the short keys of a memtable search or a scan's merge because
/// it avoids a `memcmp` call per comparison (the tail below eight bytes is compared byte by byte,
/// not handed to `memcmp` either). Words are compared for equality first and only the first
/// differing word is loaded big-endian, where integer order equals byte order.
#[inline]
#[expect(
    clippy::big_endian_bytes,
    reason = "an order-preserving load, not an encoding"
)]
pub(crate) fn lexicographic(a: &[u8], b: &[u8]) -> Ordering {
    let common = a.len().min(b.len());
    let (a_head, b_head) = (
        a.get(..common).unwrap_or_default(),
        b.get(..common).unwrap_or_default(),
    );
    let (a_words, a_tail) = a_head.as_chunks::<8>();
    let (b_words, b_tail) = b_head.as_chunks::<8>();
    for (x, y) in a_words.iter().zip(b_words) {
        if x != y {
            return u64::from_be_bytes(*x).cmp(&u64::from_be_bytes(*y));
        }
    }
    for (x, y) in a_tail.iter().zip(b_tail) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// An internal key: the user key, the seqno of the write and what it wrote.
// NB: `repr(C)` with the seqno first puts the user key's 8-byte tag (the niche of an
// `Option<InternalValue>`) at offset 8: see the layout note on `Slice`'s representation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct InternalKey {
    /// The seqno of the write.
    pub seqno: SeqNo,
    /// The user key.
    pub user_key: UserKey,
    /// What the write was.
    pub value_type: ValueType,
}

impl InternalKey {
    /// Builds an internal key.
    pub fn new(user_key: impl Into<UserKey>, seqno: SeqNo, value_type: ValueType) -> Self {
        Self {
            user_key: user_key.into(),
            seqno,
            value_type,
        }
    }
}

/// One versioned entry as it flows through the read path: an internal key and its value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct InternalValue {
    /// The internal key.
    pub key: InternalKey,
    /// The value; empty for tombstones.
    pub value: Slice,
}

impl InternalValue {
    /// Builds an entry from its parts.
    pub fn from_components(
        user_key: impl Into<UserKey>,
        value: impl Into<Slice>,
        seqno: SeqNo,
        value_type: ValueType,
    ) -> Self {
        Self {
            key: InternalKey::new(user_key, seqno, value_type),
            value: value.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct ReverseBytes;
    impl UserComparator for ReverseBytes {
        fn name(&self) -> &'static str {
            "test.reverse"
        }
        fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
            b.cmp(a)
        }
    }

    #[test]
    fn value_type_bytes_are_pinned() {
        for (vt, byte) in [
            (ValueType::Value, 0u8),
            (ValueType::Tombstone, 1),
            (ValueType::WeakTombstone, 2),
            (ValueType::MergeOperand, 3),
            (ValueType::Indirection, 4),
        ] {
            assert_eq!(u8::from(vt), byte);
            assert_eq!(ValueType::try_from(byte), Ok(vt));
        }
        assert_eq!(ValueType::try_from(5), Err(UnknownValueType(5)));
    }

    #[test]
    fn internal_order_is_user_key_ascending_then_seqno_descending() {
        let cmp = Comparator::default();
        assert_eq!(cmp.internal((b"a", 1), (b"b", 9)), Ordering::Less);
        assert_eq!(cmp.internal((b"a", 9), (b"a", 1)), Ordering::Less);
        assert_eq!(cmp.internal((b"a", 1), (b"a", 1)), Ordering::Equal);
    }

    proptest::proptest! {
        #[test]
        fn chunked_lexicographic_order_equals_slice_order(
            a in proptest::collection::vec(0u8..4, 0..20),
            b in proptest::collection::vec(0u8..4, 0..20),
        ) {
            proptest::prop_assert_eq!(lexicographic(&a, &b), a.cmp(&b));
        }

        #[test]
        fn chunked_lexicographic_order_equals_slice_order_over_every_byte_value(
            prefix in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12),
            a in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12),
            b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12),
        ) {
            // A shared prefix puts the first difference past a word boundary as often as not.
            let (a, b) = ([&prefix[..], &a[..]].concat(), [&prefix[..], &b[..]].concat());
            proptest::prop_assert_eq!(lexicographic(&a, &b), a.cmp(&b));
        }
    }

    #[test]
    fn chunked_lexicographic_order_at_chunk_boundaries() {
        let base = b"0123456789abcdefXYZ".to_vec();
        for len in 0..base.len() {
            for other in 0..base.len() {
                let (a, b) = (&base[..len], &base[..other]);
                assert_eq!(lexicographic(a, b), a.cmp(b), "{len} {other}");
                let mut c = b.to_vec();
                if let Some(last) = c.last_mut() {
                    *last = last.wrapping_add(1);
                }
                assert_eq!(lexicographic(a, &c), a.cmp(&c[..]));
            }
        }
    }

    #[test]
    fn internal_order_goes_through_the_user_comparator() {
        let cmp = Comparator::new(Arc::new(ReverseBytes));
        assert_eq!(cmp.internal((b"a", 1), (b"b", 1)), Ordering::Greater);
        assert_eq!(cmp.internal((b"a", 2), (b"a", 1)), Ordering::Less);
        assert_eq!(cmp.name(), "test.reverse");
    }
}
