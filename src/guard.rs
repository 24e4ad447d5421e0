//! [`Guard`]: the item of every tree iterator.
//!
//! An iterator item hands out its key and value lazily and reports I/O errors per item. A value
//! stored in a blob file (key-value separation) is read only when the caller asks for it:
//! `key`, `size` (from the pointer) and `into_inner_if` with a false predicate read no blob file.

use std::sync::Arc;

use crate::Result;
use crate::blob::{BlobFile, BlobPointer};
use crate::slice::{UserKey, UserValue};

/// A key-value pair.
pub type KvPair = (UserKey, UserValue);

/// Access to one item of a tree iterator. Each method consumes the item.
///
/// ```
/// use strata::{Config, Guard, SequenceNumberCounter};
///
/// # let dir = tempfile::tempdir()?;
/// let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default())
///     .open()?;
/// tree.insert("a", "1", 0);
/// tree.insert("bb", "22", 1);
///
/// fn size_of_item(item: impl Guard) -> u32 {
///     item.size().unwrap()
/// }
/// let sizes: Vec<u32> = tree.iter(2, None).map(size_of_item).collect();
/// assert_eq!(sizes, [1, 2]);
///
/// let first = tree.first_key_value(2, None).unwrap();
/// let (key, value) = first.into_inner_if(|key| key == "zz")?;
/// assert_eq!(key, "a");
/// assert_eq!(value, None);
/// # Ok::<(), strata::Error>(())
/// ```
pub trait Guard {
    /// The key and, if `pred(key)` holds, the value (a separated value is not read otherwise).
    ///
    /// # Errors
    /// Returns the I/O or corruption error met while reading this item.
    fn into_inner_if(self, pred: impl Fn(&UserKey) -> bool)
    -> Result<(UserKey, Option<UserValue>)>;

    /// The key and the value.
    ///
    /// # Errors
    /// Returns the I/O or corruption error met while reading this item.
    fn into_inner(self) -> Result<KvPair>;

    /// The key.
    ///
    /// # Errors
    /// Returns the I/O or corruption error met while reading this item.
    fn key(self) -> Result<UserKey>;

    /// The value's length in bytes.
    ///
    /// # Errors
    /// Returns the I/O or corruption error met while reading this item.
    fn size(self) -> Result<u32>;

    /// The value.
    ///
    /// # Errors
    /// Returns the I/O or corruption error met while reading this item.
    fn value(self) -> Result<UserValue>
    where
        Self: Sized,
    {
        self.into_inner().map(|(_, value)| value)
    }
}

/// The item type of the tree's iterators; see [`Guard`].
#[derive(Debug)]
pub struct IterGuardImpl(Item);

/// What an item holds.
#[derive(Debug)]
enum Item {
    /// The key and the value (or the error met reading the item).
    Ready(Result<KvPair>),
    /// The key and where its value lies in a blob file, read on demand.
    Blob {
        key: UserKey,
        pointer: BlobPointer,
        file: Arc<BlobFile>,
    },
}

impl IterGuardImpl {
    pub(crate) fn new(item: Result<KvPair>) -> Self {
        Self(Item::Ready(item))
    }

    /// An item whose value `pointer` names in `file`.
    pub(crate) fn blob(key: UserKey, pointer: BlobPointer, file: Arc<BlobFile>) -> Self {
        Self(Item::Blob { key, pointer, file })
    }
}

impl Guard for IterGuardImpl {
    fn into_inner_if(
        self,
        pred: impl Fn(&UserKey) -> bool,
    ) -> Result<(UserKey, Option<UserValue>)> {
        match self.0 {
            Item::Ready(item) => {
                let (key, value) = item?;
                let keep = pred(&key);
                Ok((key, keep.then_some(value)))
            }
            Item::Blob { key, pointer, file } => {
                if !pred(&key) {
                    return Ok((key, None));
                }
                let value = file.read(&pointer, &key)?;
                Ok((key, Some(value)))
            }
        }
    }

    fn into_inner(self) -> Result<KvPair> {
        match self.0 {
            Item::Ready(item) => item,
            Item::Blob { key, pointer, file } => {
                let value = file.read(&pointer, &key)?;
                Ok((key, value))
            }
        }
    }

    fn key(self) -> Result<UserKey> {
        match self.0 {
            Item::Ready(item) => item.map(|(key, _)| key),
            Item::Blob { key, .. } => Ok(key),
        }
    }

    fn size(self) -> Result<u32> {
        match self.0 {
            // NB: values longer than u32::MAX are refused at write time, so this never
            // saturates.
            Item::Ready(item) => {
                item.map(|(_, value)| u32::try_from(value.len()).unwrap_or(u32::MAX))
            }
            Item::Blob { pointer, .. } => Ok(pointer.value_len),
        }
    }
}
