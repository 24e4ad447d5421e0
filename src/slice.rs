//! `Slice`: the engine's immutable byte string.
//!
//! Keys and values cross every layer of the engine as `Slice`s. A slice is cheap to clone: short
//! byte strings (up to [`INLINE_CAPACITY`] bytes, which covers most keys) live inline in the value
//! itself with no heap allocation at all; longer ones share one reference-counted buffer, and
//! [`Slice::slice`] cuts a zero-copy sub-slice out of it (a table block read once from disk hands
//! out its entries this way).
//!
//! Thread safety: `Slice` is immutable, `Send` and `Sync`.
//! Invariant: an inline slice's `len <= INLINE_CAPACITY`; a shared slice's `start + len` never
//! exceeds its buffer's length.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Bound, Deref, RangeBounds};
use std::sync::Arc;

/// How many bytes a [`Slice`] stores inline, without a heap allocation.
pub const INLINE_CAPACITY: usize = 31;

/// An immutable byte string, cheap to clone. [`UserKey`] and [`UserValue`] are aliases of it.
///
/// ```
/// use strata::Slice;
///
/// let value = Slice::from("hello world");
/// assert_eq!(value, b"hello world");
/// assert_eq!(&*value, b"hello world");
/// let world = value.slice(6..);
/// assert_eq!(world, "world");
/// assert!(Slice::from("a") < Slice::from("b"));
/// ```
#[derive(Clone)]
pub struct Slice(Repr);

// NB: the 8-byte tag comes first and the inline bytes right after it, 8-aligned. The tag is the
// niche of every `Option`/`Result` around an entry (`InternalKey` puts it at offset 8), so the
// compiler's copies of such a value around its tag start on 16-byte boundaries like its whole
// copies; a 1-byte tag made them start at odd offsets, and each such load stalled on the
// store-to-load forwarding of the copy before it (a scan moves each entry through ~7 layers).
#[derive(Clone)]
#[repr(C, u64)]
enum Repr {
    Inline {
        bytes: [u8; INLINE_CAPACITY],
        len: u8,
    },
    Shared {
        buf: Arc<[u8]>,
        start: usize,
        len: usize,
    },
}

/// A user key.
pub type UserKey = Slice;

/// A user value.
pub type UserValue = Slice;

impl Slice {
    /// Copies `bytes` into a new slice.
    ///
    /// ```
    /// let s = strata::Slice::new(b"abc");
    /// assert_eq!(s.len(), 3);
    /// ```
    #[inline]
    pub fn new(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE_CAPACITY {
            let mut inline = [0u8; INLINE_CAPACITY];
            if let Some(dst) = inline.get_mut(..bytes.len()) {
                dst.copy_from_slice(bytes);
            }
            Self(Repr::Inline {
                // NB: the branch guarantees that the length fits.
                len: u8::try_from(bytes.len()).unwrap_or(u8::MAX),
                bytes: inline,
            })
        } else {
            Self::from_arc(Arc::from(bytes))
        }
    }

    /// `head` followed by `tail`, copied into a new slice (inline, without a heap allocation,
    /// up to [`INLINE_CAPACITY`] bytes in all).
    pub(crate) fn concat(head: &[u8], tail: &[u8]) -> Self {
        let len = head.len() + tail.len();
        if len <= INLINE_CAPACITY {
            let mut inline = [0u8; INLINE_CAPACITY];
            if let Some((h, rest)) = inline.split_at_mut_checked(head.len())
                && let Some(t) = rest.get_mut(..tail.len())
            {
                h.copy_from_slice(head);
                t.copy_from_slice(tail);
            }
            return Self(Repr::Inline {
                len: u8::try_from(len).unwrap_or(u8::MAX),
                bytes: inline,
            });
        }
        let mut bytes = Vec::with_capacity(len);
        bytes.extend_from_slice(head);
        bytes.extend_from_slice(tail);
        Self::from_arc(Arc::from(bytes))
    }

    /// The empty slice.
    ///
    /// ```
    /// assert!(strata::Slice::empty().is_empty());
    /// ```
    pub const fn empty() -> Self {
        Self(Repr::Inline {
            len: 0,
            bytes: [0; INLINE_CAPACITY],
        })
    }

    fn from_arc(buf: Arc<[u8]>) -> Self {
        let len = buf.len();
        if len <= INLINE_CAPACITY {
            return Self::new(&buf);
        }
        Self(Repr::Shared { buf, start: 0, len })
    }

    /// Returns the bytes as a slice.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Repr::Shared { buf, start, len } => buf.get(*start..*start + *len).unwrap_or_default(),
        }
    }

    /// A sub-slice of `self`; for heap-backed slices it shares the buffer (no copy).
    ///
    /// # Panics
    ///
    /// Panics if the range is out of bounds or decreasing, like indexing a `[u8]`.
    ///
    /// ```
    /// let s = strata::Slice::from(vec![7u8; 100]);
    /// let tail = s.slice(90..);
    /// assert_eq!(tail.len(), 10);
    /// ```
    #[must_use]
    #[inline]
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Self {
        let total = self.len();
        let begin = match range.start_bound() {
            Bound::Included(&b) => b,
            Bound::Excluded(&b) => b + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e + 1,
            Bound::Excluded(&e) => e,
            Bound::Unbounded => total,
        };
        assert!(
            begin <= end && end <= total,
            "slice range {begin}..{end} out of bounds for a slice of length {total}"
        );
        match &self.0 {
            Repr::Inline { bytes, .. } => Self::new(bytes.get(begin..end).unwrap_or_default()),
            Repr::Shared { buf, start, .. } => {
                if end - begin <= INLINE_CAPACITY {
                    Self::new(buf.get(start + begin..start + end).unwrap_or_default())
                } else {
                    Self(Repr::Shared {
                        buf: Arc::clone(buf),
                        start: start + begin,
                        len: end - begin,
                    })
                }
            }
        }
    }

    /// Copies the bytes into a `Vec<u8>`.
    pub fn to_vec(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

impl Default for Slice {
    fn default() -> Self {
        Self::empty()
    }
}

impl Deref for Slice {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Slice {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<[u8]> for Slice {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for Slice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("b\"")?;
        for &byte in self.as_bytes() {
            write!(f, "{}", std::ascii::escape_default(byte))?;
        }
        f.write_str("\"")
    }
}

impl Hash for Slice {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl<T: AsRef<[u8]> + ?Sized> PartialEq<T> for Slice {
    fn eq(&self, other: &T) -> bool {
        self.as_bytes() == other.as_ref()
    }
}

impl Eq for Slice {}

impl<T: AsRef<[u8]> + ?Sized> PartialOrd<T> for Slice {
    fn partial_cmp(&self, other: &T) -> Option<std::cmp::Ordering> {
        Some(self.as_bytes().cmp(other.as_ref()))
    }
}

impl Ord for Slice {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

macro_rules! eq_with_slice {
    ($($ty:ty),*) => {$(
        impl PartialEq<Slice> for $ty {
            fn eq(&self, other: &Slice) -> bool {
                AsRef::<[u8]>::as_ref(self) == other.as_bytes()
            }
        }
    )*};
}
eq_with_slice!([u8], &[u8], Vec<u8>, str, &str, String);

impl<const N: usize> PartialEq<Slice> for [u8; N] {
    fn eq(&self, other: &Slice) -> bool {
        self.as_slice() == other.as_bytes()
    }
}

impl<const N: usize> PartialEq<Slice> for &[u8; N] {
    fn eq(&self, other: &Slice) -> bool {
        self.as_slice() == other.as_bytes()
    }
}

impl From<&[u8]> for Slice {
    fn from(bytes: &[u8]) -> Self {
        Self::new(bytes)
    }
}

impl From<Vec<u8>> for Slice {
    fn from(bytes: Vec<u8>) -> Self {
        if bytes.len() <= INLINE_CAPACITY {
            Self::new(&bytes)
        } else {
            Self::from_arc(Arc::from(bytes))
        }
    }
}

impl From<&Vec<u8>> for Slice {
    fn from(bytes: &Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl From<Box<[u8]>> for Slice {
    fn from(bytes: Box<[u8]>) -> Self {
        Self::from(Vec::from(bytes))
    }
}

impl From<&str> for Slice {
    fn from(s: &str) -> Self {
        Self::new(s.as_bytes())
    }
}

impl From<String> for Slice {
    fn from(s: String) -> Self {
        Self::from(s.into_bytes())
    }
}

impl From<&String> for Slice {
    fn from(s: &String) -> Self {
        Self::new(s.as_bytes())
    }
}

impl From<Arc<[u8]>> for Slice {
    fn from(buf: Arc<[u8]>) -> Self {
        Self::from_arc(buf)
    }
}

impl<const N: usize> From<[u8; N]> for Slice {
    fn from(bytes: [u8; N]) -> Self {
        Self::new(&bytes)
    }
}

impl<const N: usize> From<&[u8; N]> for Slice {
    fn from(bytes: &[u8; N]) -> Self {
        Self::new(bytes)
    }
}

impl From<&Slice> for Slice {
    fn from(s: &Slice) -> Self {
        s.clone()
    }
}

impl From<Slice> for Vec<u8> {
    fn from(s: Slice) -> Self {
        s.to_vec()
    }
}

impl FromIterator<u8> for Slice {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Self {
        Self::from(iter.into_iter().collect::<Vec<u8>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn concat_joins_the_parts_inline_up_to_the_capacity_and_shared_past_it() {
        let bytes: Vec<u8> = (0..80).collect();
        for total in [
            0,
            1,
            INLINE_CAPACITY - 1,
            INLINE_CAPACITY,
            INLINE_CAPACITY + 1,
            80,
        ] {
            for split in [0, total / 3, total] {
                let (head, tail) = bytes[..total].split_at(split);
                let joined = Slice::concat(head, tail);
                assert_eq!(&*joined, &bytes[..total], "{split} + {}", total - split);
                assert_eq!(
                    matches!(joined.0, Repr::Inline { .. }),
                    total <= INLINE_CAPACITY,
                    "{total} bytes"
                );
                assert_eq!(joined, Slice::new(&bytes[..total]));
            }
        }
    }

    #[test]
    fn every_from_conversion_keeps_the_bytes() {
        let expected: &[u8] = b"key";
        assert_eq!(Slice::from(expected), expected);
        assert_eq!(Slice::from(expected.to_vec()), expected);
        assert_eq!(Slice::from(&expected.to_vec()), expected);
        assert_eq!(Slice::from("key"), expected);
        assert_eq!(Slice::from(String::from("key")), expected);
        assert_eq!(Slice::from(&String::from("key")), expected);
        assert_eq!(Slice::from(Arc::<[u8]>::from(expected)), expected);
        assert_eq!(Slice::from(*b"key"), expected);
        assert_eq!(Slice::from(b"key"), expected);
    }

    #[test]
    fn compares_with_byte_like_types_in_both_directions() {
        let s = Slice::from("x");
        assert_eq!(s, b"x");
        assert_eq!(&*s, b"x");
        assert_eq!(s, "x");
        assert_eq!(s, vec![b'x']);
        assert_eq!(b"x", s);
        assert_eq!(*b"x", s);
        assert_eq!("x", s);
        assert_eq!(vec![b'x'], s);
        assert_ne!(s, "y");
        assert!(s < "y");
    }

    #[test]
    fn long_slices_share_their_buffer_and_sub_slices_are_zero_copy() {
        let bytes: Vec<u8> = (0..200u8).collect();
        let s = Slice::from(bytes.clone());
        let sub = s.slice(50..150);
        assert_eq!(&*sub, &bytes[50..150]);
        let (Repr::Shared { buf: a, .. }, Repr::Shared { buf: b, .. }) = (&s.0, &sub.0) else {
            panic!("expected shared slices");
        };
        assert!(Arc::ptr_eq(a, b));
        let small = sub.slice(..=3);
        assert_eq!(&*small, &bytes[50..54]);
        assert!(matches!(small.0, Repr::Inline { .. }));
    }

    /// The layout the scan path relies on (see the note on `Repr`): a slice is 40 bytes, and an
    /// `Option` or `Result` around an entry takes its niche from the user key's 8-byte tag, at
    /// offset 8, adding nothing.
    #[test]
    fn an_entry_keeps_its_niche_in_the_user_keys_eight_byte_tag() {
        use crate::key::InternalValue;
        assert_eq!(std::mem::size_of::<Slice>(), 40);
        assert_eq!(std::mem::size_of::<InternalValue>(), 96);
        assert_eq!(std::mem::size_of::<Option<InternalValue>>(), 96);
        assert_eq!(
            std::mem::size_of::<Option<crate::Result<InternalValue>>>(),
            96
        );
        let entry = InternalValue::from_components("k", "v", 7, crate::ValueType::Value);
        assert_eq!(std::mem::offset_of!(InternalValue, key), 0);
        assert_eq!(
            std::ptr::from_ref(&entry.key.user_key).addr() - std::ptr::from_ref(&entry).addr(),
            8
        );
    }

    #[test]
    fn inline_boundary_lengths_round_trip() {
        for len in [
            0,
            1,
            INLINE_CAPACITY - 1,
            INLINE_CAPACITY,
            INLINE_CAPACITY + 1,
            1000,
        ] {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let s = Slice::from(bytes.clone());
            assert_eq!(s.len(), len);
            assert_eq!(&*s, bytes.as_slice());
            assert_eq!(&*s.slice(..), bytes.as_slice());
        }
    }

    #[test]
    fn ordering_and_hashing_follow_the_bytes() {
        let mut v = [
            Slice::from("b"),
            Slice::from(vec![b'a'; 100]),
            Slice::from(""),
        ];
        v.sort();
        assert_eq!(v[0], "");
        assert_eq!(v[1].len(), 100);
        let mut map = HashMap::new();
        map.insert(Slice::from("k"), 1);
        assert_eq!(map.get(b"k".as_slice()), Some(&1));
    }

    #[test]
    fn debug_shows_bytes_readably() {
        assert_eq!(
            format!("{:?}", Slice::from(b"ab\x00\xff")),
            r#"b"ab\x00\xff""#
        );
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn slicing_out_of_bounds_panics_like_a_byte_slice() {
        let _ = Slice::from("abc").slice(2..5);
    }
}
