//! Prefix extractors: which prefixes of a key go into a table's filter, so that a prefix scan can
//! skip the tables that hold no key with its prefix.
//!
//! Where it sits: [`Config::prefix_extractor`](crate::Config::prefix_extractor) sets one per tree.
//! The table writer adds the filter hash of every prefix the extractor
//! yields for a key to the table's filter (full or partitioned), next to the key's own hash, and
//! records the extractor's [`name`](PrefixExtractor::name) in the table's meta block.
//! `Tree::prefix` and `Tree::contains_prefix` then leave out every table whose filter rules the
//! scan's prefix out, under the conditions of [`skips_tables_for`].
//!
//! Why skipping is correct (the invariant): a table may be left out of a scan for `p` only if
//! every key starting with `p` that the table could hold would have put `p`'s hash in its filter,
//! that is, `p` is among the extractor's prefixes of every key starting with `p`. The engine
//! checks the part it can see (the table was written by an extractor of the same name, `p` is
//! among `prefixes(p)`, and the comparator's equal keys are byte-equal); the extractor promises
//! the rest through [`PrefixExtractor::is_valid_scan_boundary`].
//!
//! Thread safety: extractors are shared by every flush, compaction and read (`Send + Sync`).

/// Picks the prefixes of a key that a table's filter records.
///
/// The contract that lets a prefix scan skip tables: [`is_valid_scan_boundary(p)`] may return
/// `true` only if, for **every** key `k` that starts with `p` and has `p` among `prefixes(p)`,
/// `prefixes(k)` also yields `p`. Extractors whose prefixes are determined by the key's first
/// bytes alone (a fixed length, everything up to the first separator) meet it for every `p`, so
/// the default `true` is right for them. An extractor that yields, say, everything up to the
/// *last* separator does not (`"a:"` is its own prefix, but `"a:b:c"` yields only `"a:b:"`): it
/// must return `false` for such boundaries, or scans may miss keys.
///
/// [`name`](Self::name) identifies the extractor in the tables it writes: a table written by an
/// extractor of another name (or none) is read without prefix filtering. Two extractors that
/// yield different prefixes must have different names.
///
/// ```
/// use strata::PrefixExtractor;
///
/// /// Everything up to and including the first `:`.
/// struct UpToColon;
/// impl PrefixExtractor for UpToColon {
///     fn prefixes<'a>(&self, key: &'a [u8]) -> Box<dyn Iterator<Item = &'a [u8]> + 'a> {
///         let end = key.iter().position(|&b| b == b':').map(|i| i + 1);
///         Box::new(end.and_then(|end| key.get(..end)).into_iter())
///     }
///     fn name(&self) -> &str {
///         "example.up_to_colon"
///     }
/// }
///
/// let prefixes: Vec<&[u8]> = UpToColon.prefixes(b"user:42").collect();
/// assert_eq!(prefixes, [b"user:"]);
/// assert!(UpToColon.is_valid_scan_boundary(b"user:"));
/// ```
///
/// [`is_valid_scan_boundary(p)`]: Self::is_valid_scan_boundary
pub trait PrefixExtractor: Send + Sync + std::panic::RefUnwindSafe {
    /// The prefixes of `key` that go into the filter (none is fine: the key is then found by
    /// its own hash only).
    fn prefixes<'a>(&self, key: &'a [u8]) -> Box<dyn Iterator<Item = &'a [u8]> + 'a>;

    /// Whether a scan for `prefix` may skip tables whose filter rules `prefix` out; see the
    /// trait's contract. The engine also requires `prefix` to be among `prefixes(prefix)`.
    ///
    /// ```
    /// # use strata::PrefixExtractor;
    /// struct Everything;
    /// impl PrefixExtractor for Everything {
    ///     fn prefixes<'a>(&self, key: &'a [u8]) -> Box<dyn Iterator<Item = &'a [u8]> + 'a> {
    ///         Box::new(std::iter::once(key))
    ///     }
    /// }
    /// assert!(Everything.is_valid_scan_boundary(b"any"));
    /// ```
    fn is_valid_scan_boundary(&self, prefix: &[u8]) -> bool {
        let _ = prefix;
        true
    }

    /// The name recorded in the meta block of every table this extractor writes.
    ///
    /// The default is the implementing type's name ([`std::any::type_name`]). Override it when
    /// the prefixes depend on the value's fields (as [`FixedPrefixExtractor`]'s length does), so
    /// that differently configured extractors never share a name. A name that changes (a renamed
    /// type) costs only the skipping: tables of the old name are read without prefix filtering.
    /// An empty name records nothing, like having no extractor.
    ///
    /// ```
    /// # use strata::{FixedPrefixExtractor, PrefixExtractor};
    /// assert_eq!(FixedPrefixExtractor::new(4).name(), "strata.fixed_prefix.4");
    /// ```
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}

impl std::fmt::Debug for dyn PrefixExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PrefixExtractor")
            .field(&self.name())
            .finish()
    }
}

/// The first `len` bytes of a key; keys shorter than `len` have no prefix.
///
/// ```
/// use strata::{FixedPrefixExtractor, PrefixExtractor};
///
/// let extractor = FixedPrefixExtractor::new(4);
/// assert_eq!(extractor.prefixes(b"user42").collect::<Vec<_>>(), [b"user"]);
/// assert_eq!(extractor.prefixes(b"abc").count(), 0);
/// assert!(extractor.is_valid_scan_boundary(b"user"));
/// assert!(!extractor.is_valid_scan_boundary(b"use"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedPrefixExtractor {
    len: usize,
    name: String,
}

impl FixedPrefixExtractor {
    /// An extractor of the first `len` bytes, named `strata.fixed_prefix.<len>`.
    ///
    /// ```
    /// # use strata::FixedPrefixExtractor;
    /// assert_eq!(FixedPrefixExtractor::new(8).len(), 8);
    /// ```
    #[must_use]
    pub fn new(len: usize) -> Self {
        Self {
            len,
            name: format!("strata.fixed_prefix.{len}"),
        }
    }

    /// The prefix length in bytes.
    ///
    /// ```
    /// # use strata::FixedPrefixExtractor;
    /// assert_eq!(FixedPrefixExtractor::new(2).len(), 2);
    /// ```
    #[must_use]
    #[expect(
        clippy::len_without_is_empty,
        reason = "the length of the prefixes it extracts, not of a collection"
    )]
    pub fn len(&self) -> usize {
        self.len
    }
}

impl PrefixExtractor for FixedPrefixExtractor {
    fn prefixes<'a>(&self, key: &'a [u8]) -> Box<dyn Iterator<Item = &'a [u8]> + 'a> {
        Box::new(key.get(..self.len).into_iter())
    }

    /// Only a prefix of exactly `len` bytes: a shorter one was never recorded, and a longer one
    /// was recorded only as its first `len` bytes.
    fn is_valid_scan_boundary(&self, prefix: &[u8]) -> bool {
        prefix.len() == self.len
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// Whether a scan for `prefix` may skip tables written by `extractor` whose filters rule
/// `prefix`'s hash out: the extractor calls it a boundary, and it is among its own prefixes (so
/// that a key equal to `prefix` recorded it). An empty prefix matches every key and never skips.
pub(crate) fn skips_tables_for(extractor: &dyn PrefixExtractor, prefix: &[u8]) -> bool {
    !prefix.is_empty()
        && extractor.is_valid_scan_boundary(prefix)
        && extractor.prefixes(prefix).any(|p| p == prefix)
}

/// The name a table writer records for `extractor`: `None` without one or for an empty name.
pub(crate) fn recorded_name(extractor: Option<&dyn PrefixExtractor>) -> Option<&str> {
    extractor
        .map(PrefixExtractor::name)
        .filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_extractor_yields_the_first_len_bytes_and_nothing_for_shorter_keys() {
        let e = FixedPrefixExtractor::new(3);
        assert_eq!(e.prefixes(b"abcdef").collect::<Vec<_>>(), [b"abc"]);
        assert_eq!(e.prefixes(b"abc").collect::<Vec<_>>(), [b"abc"]);
        assert_eq!(e.prefixes(b"ab").count(), 0);
        assert_eq!(e.prefixes(b"").count(), 0);
        assert_eq!(
            FixedPrefixExtractor::new(0)
                .prefixes(b"x")
                .collect::<Vec<_>>(),
            [b""]
        );
    }

    #[test]
    fn fixed_extractor_scan_boundaries_are_exactly_len_bytes() {
        let e = FixedPrefixExtractor::new(3);
        assert!(e.is_valid_scan_boundary(b"abc"));
        assert!(!e.is_valid_scan_boundary(b"ab"));
        assert!(!e.is_valid_scan_boundary(b"abcd"));
        assert!(skips_tables_for(&e, b"abc"));
        assert!(!skips_tables_for(&e, b"abcd") && !skips_tables_for(&e, b"ab"));
        // A zero-length extractor records the empty prefix, which rules nothing out.
        assert!(!skips_tables_for(&FixedPrefixExtractor::new(0), b""));
    }

    #[test]
    fn fixed_extractor_names_differ_by_length() {
        assert_eq!(FixedPrefixExtractor::new(4).name(), "strata.fixed_prefix.4");
        assert_ne!(
            FixedPrefixExtractor::new(4).name(),
            FixedPrefixExtractor::new(5).name()
        );
        let e: &dyn PrefixExtractor = &FixedPrefixExtractor::new(4);
        assert_eq!(recorded_name(Some(e)), Some("strata.fixed_prefix.4"));
        assert_eq!(recorded_name(None), None);
        assert!(format!("{e:?}").contains("strata.fixed_prefix.4"));
    }

    #[test]
    fn a_prefix_not_among_its_own_prefixes_never_skips() {
        /// Yields the key's last byte: never a byte-prefix of a longer key.
        struct LastByte;
        impl PrefixExtractor for LastByte {
            fn prefixes<'a>(&self, key: &'a [u8]) -> Box<dyn Iterator<Item = &'a [u8]> + 'a> {
                Box::new(
                    key.len()
                        .checked_sub(1)
                        .and_then(|i| key.get(i..))
                        .into_iter(),
                )
            }
        }
        assert!(!skips_tables_for(&LastByte, b"ab"));
        // The default boundary trusts the extractor: one like this breaks the trait's contract
        // ("bx" starts with "b" but yields "x") and must override `is_valid_scan_boundary`.
        assert!(skips_tables_for(&LastByte, b"b"));
        assert!(LastByte.name().ends_with("LastByte"));
    }
}
