//! Compaction filters: user code that sees every value a compaction writes and may keep it,
//! remove it, replace it or destroy it. TTLs and other cleanup rules run this way, without a scan.
//!
//! A [`Factory`] (set with `Config::with_compaction_filter_factory`) makes one
//! [`CompactionFilter`] per compaction. The filter sees each value (and merge operand) that
//! survives the compaction's garbage collection, never tombstones, and returns a [`Verdict`].
//! Flushes do not run filters.
//!
//! A filter changes history: a read at a seqno before the compaction still sees the data as it
//! was until the GC watermark passes the compaction (the tree keeps the older tables for such
//! reads); reads after it see the verdicts.

use std::panic::RefUnwindSafe;

use crate::error::Result;
use crate::key::InternalValue;
use crate::seqno::SeqNo;
use crate::slice::{UserKey, UserValue};

/// What a [`CompactionFilter`] decides for one item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Keep the item.
    #[default]
    Keep,
    /// Replace the item with a tombstone (older versions beneath it stay hidden).
    Remove,
    /// Replace the item with a weak tombstone (see `Tree::remove_weak`).
    RemoveWeak,
    /// Keep the item with another value.
    ReplaceValue(UserValue),
    /// Drop the item without a tombstone: an older version beneath it, if any, shows again. Only
    /// for keys written once.
    Destroy,
}

/// Decides the fate of the items of one compaction.
///
/// ```
/// use strata::compaction::filter::{CompactionFilter, Context, ItemAccessor, Verdict};
///
/// /// Removes values that start with `tmp:`.
/// struct DropTemporary;
///
/// impl CompactionFilter for DropTemporary {
///     fn filter_item(&mut self, item: ItemAccessor<'_>, _ctx: &Context) -> strata::Result<Verdict> {
///         Ok(if item.value()?.starts_with(b"tmp:") { Verdict::Remove } else { Verdict::Keep })
///     }
/// }
/// ```
pub trait CompactionFilter: Send {
    /// The verdict for one item.
    ///
    /// # Errors
    /// An error aborts the compaction (nothing is changed); return one only when the item cannot
    /// be judged.
    fn filter_item(&mut self, item: ItemAccessor<'_>, ctx: &Context) -> Result<Verdict>;

    /// Called once when the compaction has written its tables.
    fn finish(self: Box<Self>) {}
}

/// What a filter knows about the compaction it runs in.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Context {
    /// Whether the compaction writes into the last level.
    pub is_last_level: bool,
    /// The level the compaction writes into.
    pub dest_level: u8,
}

impl Context {
    pub(crate) fn new(dest_level: u8, is_last_level: bool) -> Self {
        Self {
            is_last_level,
            dest_level,
        }
    }
}

/// Makes a [`CompactionFilter`] for each compaction.
///
/// ```
/// use std::sync::Arc;
/// use strata::compaction::filter::{CompactionFilter, Context, Factory, ItemAccessor, Verdict};
/// use strata::compaction::{CompactionAction, Leveled};
/// use strata::{Config, SequenceNumberCounter};
///
/// struct DropOdd;
/// impl CompactionFilter for DropOdd {
///     fn filter_item(&mut self, item: ItemAccessor<'_>, _: &Context) -> strata::Result<Verdict> {
///         let odd = item.key().last().is_some_and(|b| b % 2 == 1);
///         Ok(if odd { Verdict::Destroy } else { Verdict::Keep })
///     }
/// }
/// struct DropOddFactory;
/// impl Factory for DropOddFactory {
///     fn name(&self) -> &str {
///         "drop-odd"
///     }
///     fn make_filter(&self, _: &Context) -> Box<dyn CompactionFilter> {
///         Box::new(DropOdd)
///     }
/// }
///
/// # let dir = tempfile::tempdir()?;
/// let seqno = SequenceNumberCounter::default();
/// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default())
///     .with_compaction_filter_factory(Some(Arc::new(DropOddFactory)))
///     .open()?;
/// for i in 0..10u8 {
///     tree.insert([i], "v", seqno.next());
/// }
/// tree.flush_active_memtable(0)?;
/// tree.major_compact(64 << 20, seqno.get())?;
/// assert_eq!(tree.len(seqno.get(), None)?, 5);
/// # Ok::<(), strata::Error>(())
/// ```
pub trait Factory: Send + Sync + RefUnwindSafe {
    /// The filter's name, for logs and tools.
    fn name(&self) -> &str;

    /// A new filter for one compaction.
    fn make_filter(&self, ctx: &Context) -> Box<dyn CompactionFilter>;
}

/// One item as a [`CompactionFilter`] sees it.
pub struct ItemAccessor<'a> {
    item: &'a InternalValue,
    /// Where a value stored in a blob file is read from.
    blobs: Option<&'a crate::version::Version>,
}

impl<'a> ItemAccessor<'a> {
    pub(crate) fn new(item: &'a InternalValue, blobs: Option<&'a crate::version::Version>) -> Self {
        Self { item, blobs }
    }

    /// The item's key.
    pub fn key(&self) -> &'a UserKey {
        &self.item.key.user_key
    }

    /// The item's seqno.
    pub fn seqno(&self) -> SeqNo {
        self.item.key.seqno
    }

    /// Whether the item is a merge operand rather than a value.
    pub fn is_merge_operand(&self) -> bool {
        matches!(
            self.item.key.value_type,
            crate::key::ValueType::MergeOperand
        )
    }

    /// The item's value (a merge operand's bytes for an operand). A value stored in a blob
    /// file (key-value separation) is read only when this is called.
    ///
    /// # Errors
    /// `Io` or `Corruption` if a value stored in a blob file cannot be read.
    pub fn value(&self) -> Result<UserValue> {
        match self.blobs {
            Some(blobs) => blobs.load_value(self.item),
            None => crate::version::Version::default().load_value(self.item),
        }
    }
}
