//! Merge operators: read-modify-write without the read.
//!
//! `Tree::merge` writes an operand (a [`ValueType::MergeOperand`](crate::ValueType) entry); the
//! user's [`MergeOperator`] combines a key's operands with the newest base beneath them when a
//! read or a compaction needs the value. Reads resolve at their seqno: they collect the key's
//! visible versions newest first, up to and including the first that is not an operand (a value
//! is the base; a tombstone or weak tombstone means no base), and call the operator once with the
//! operands oldest first. Compactions collapse a key's versions below the GC watermark the same
//! way (`compaction/stream.rs`), fully when the base is within the job and partially (the result
//! stays an operand) when it may sit below.
//!
//! An operator that panics is caught and reported as [`Error::MergeOperator`], like an operator
//! that returns that error: a read never unwinds through the engine.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::{Error, Result};
use crate::key::{InternalValue, ValueType};
use crate::slice::Slice;

/// Combines a key's merge operands with its base value.
///
/// `operands` come oldest first; `base` is `None` when there is no value beneath them or it was
/// deleted. Compaction may merge a run of operands on its own (`base = None`) and keep the result
/// as an operand, to be merged again later with older operands or a base: an operator must
/// therefore be associative (merging `[a, b]` and then `[ab, c]` must equal merging `[a, b, c]`).
/// A non-associative operator is not supported: its reads may change after a compaction.
///
/// Return `Err(strata::Error::MergeOperator)` for an operand it cannot apply; reads pass that
/// error through unchanged.
///
/// ```
/// use strata::{Config, MergeOperator, SequenceNumberCounter, Slice};
/// use std::sync::Arc;
///
/// /// A u64 counter: each operand is a little-endian u64 to add.
/// struct Add;
/// impl MergeOperator for Add {
///     fn merge(&self, _key: &[u8], base: Option<&[u8]>, operands: &[&[u8]]) -> strata::Result<Slice> {
///         let decode = |b: &[u8]| b.try_into().map(u64::from_le_bytes).map_err(|_| strata::Error::MergeOperator);
///         let mut sum = base.map(decode).transpose()?.unwrap_or(0);
///         for op in operands {
///             sum = sum.wrapping_add(decode(op)?);
///         }
///         Ok(Slice::from(sum.to_le_bytes()))
///     }
/// }
///
/// # let dir = tempfile::tempdir()?;
/// let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default())
///     .with_merge_operator(Some(Arc::new(Add)))
///     .open()?;
/// tree.insert("hits", 10u64.to_le_bytes(), 0);
/// tree.merge("hits", 1u64.to_le_bytes(), 1);
/// tree.merge("hits", 5u64.to_le_bytes(), 2);
/// assert_eq!(tree.get("hits", 3)?, Some(Slice::from(16u64.to_le_bytes())));
/// assert_eq!(tree.get("hits", 2)?, Some(Slice::from(11u64.to_le_bytes())));
/// # Ok::<(), strata::Error>(())
/// ```
pub trait MergeOperator: Send + Sync + std::panic::RefUnwindSafe + 'static {
    /// Merges `operands` (oldest first) onto `base`.
    ///
    /// # Errors
    /// [`Error::MergeOperator`] (or any error) for operands it cannot apply.
    fn merge(&self, key: &[u8], base: Option<&[u8]>, operands: &[&[u8]]) -> Result<Slice>;
}

/// Calls `operator`, turning a panic into [`Error::MergeOperator`].
pub(crate) fn call(
    operator: &dyn MergeOperator,
    key: &[u8],
    base: Option<&[u8]>,
    operands: &[&[u8]],
) -> Result<Slice> {
    catch_unwind(AssertUnwindSafe(|| operator.merge(key, base, operands)))
        .unwrap_or(Err(Error::MergeOperator))
}

/// The value a read sees for one key whose visible versions are `versions`, newest first,
/// starting with a merge operand: the operands up to the first other version, merged onto it
/// (a value is the base; a tombstone, a weak tombstone or the end of the versions means none).
#[cfg(test)]
pub(crate) fn resolve<'a>(
    operator: &dyn MergeOperator,
    key: &[u8],
    versions: impl IntoIterator<Item = &'a InternalValue>,
) -> Result<Slice> {
    resolve_with(operator, key, versions, None)
}

/// [`resolve`], reading a base stored in a blob file from `blobs`' blob files.
pub(crate) fn resolve_with<'a>(
    operator: &dyn MergeOperator,
    key: &[u8],
    versions: impl IntoIterator<Item = &'a InternalValue>,
    blobs: Option<&crate::version::Version>,
) -> Result<Slice> {
    let mut operands: Vec<&[u8]> = Vec::new();
    let mut base = None;
    let loaded;
    for version in versions {
        match version.key.value_type {
            ValueType::MergeOperand => operands.push(&version.value),
            ValueType::Value => {
                base = Some(&*version.value);
                break;
            }
            ValueType::Indirection => {
                loaded = match blobs {
                    Some(blobs) => blobs.load_value(version)?,
                    None => crate::version::Version::default().load_value(version)?,
                };
                base = Some(&*loaded);
                break;
            }
            ValueType::Tombstone | ValueType::WeakTombstone => break,
        }
    }
    operands.reverse();
    call(operator, key, base, &operands)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Concat;
    impl MergeOperator for Concat {
        fn merge(&self, _: &[u8], base: Option<&[u8]>, operands: &[&[u8]]) -> Result<Slice> {
            let mut out = base.map_or_else(|| b"_".to_vec(), <[u8]>::to_vec);
            for op in operands {
                out.extend_from_slice(op);
            }
            Ok(Slice::from(out))
        }
    }

    struct Panics;
    impl MergeOperator for Panics {
        fn merge(&self, _: &[u8], _: Option<&[u8]>, _: &[&[u8]]) -> Result<Slice> {
            panic!("operator bug")
        }
    }

    fn v(value: &str, seqno: u64, value_type: ValueType) -> InternalValue {
        InternalValue::from_components("k", value, seqno, value_type)
    }

    #[test]
    fn operands_apply_oldest_first_onto_the_newest_base_and_stop_there() -> Result<()> {
        let op = ValueType::MergeOperand;
        let versions = [
            v("c", 5, op),
            v("b", 4, op),
            v("a", 3, ValueType::Value),
            v("z", 2, op),
        ];
        assert_eq!(&*resolve(&Concat, b"k", &versions)?, b"abc");
        let deleted = [v("c", 5, op), v("", 4, ValueType::Tombstone), v("a", 3, op)];
        assert_eq!(&*resolve(&Concat, b"k", &deleted)?, b"_c");
        let weak = [v("c", 5, op), v("", 4, ValueType::WeakTombstone)];
        assert_eq!(&*resolve(&Concat, b"k", &weak)?, b"_c");
        let bare = [v("b", 5, op), v("a", 4, op)];
        assert_eq!(&*resolve(&Concat, b"k", &bare)?, b"_ab");
        Ok(())
    }

    #[test]
    fn a_panicking_operator_is_a_merge_operator_error() {
        let versions = [v("a", 1, ValueType::MergeOperand)];
        assert!(matches!(
            resolve(&Panics, b"k", &versions),
            Err(Error::MergeOperator)
        ));
    }
}
