//! Compaction: merging tables and dropping what no reader can see.
//!
//! - [`stream`]: the compaction stream, the rules that decide which versions of a key survive a
//!   merge. A flush is its first user (a compaction of sealed memtables into level 0).
//! - [`CompactionResult`] and [`CompactionAction`]: what one compaction step did.
//!
//! `Tree::major_compact` merges everything into the last level. The strategies (leveled,
//! size-tiered, FIFO), `Tree::compact` and the compaction filters come with the compaction
//! milestone (issue #5).

pub(crate) mod stream;

/// What a compaction step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompactionAction {
    /// Nothing was worth doing.
    Nothing,
    /// Tables were merged into new tables.
    Merged,
    /// Tables were moved to another level without rewriting them.
    Moved,
    /// Tables were dropped whole.
    Dropped,
}

/// The outcome of one compaction step.
///
/// ```
/// use strata::compaction::{CompactionAction, CompactionResult};
///
/// let nothing = CompactionResult::nothing();
/// assert_eq!(nothing.action, CompactionAction::Nothing);
/// assert_eq!(nothing.tables_in, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactionResult {
    /// What was done.
    pub action: CompactionAction,
    /// The level written to, if any.
    pub dest_level: Option<u8>,
    /// Tables read.
    pub tables_in: usize,
    /// Tables written.
    pub tables_out: usize,
}

impl CompactionResult {
    /// A step that did nothing.
    pub fn nothing() -> Self {
        Self {
            action: CompactionAction::Nothing,
            dest_level: None,
            tables_in: 0,
            tables_out: 0,
        }
    }
}
