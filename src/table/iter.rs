//! [`TableIter`]: a double-ended scan over one table within user-key bounds, showing only the
//! entries visible at a read seqno.
//!
//! The iterator picks the data blocks that can hold keys in the bounds from the index, then loads
//! them one at a time from either end. It is a deque over the remaining entries: each end keeps
//! the entries of the block it loaded last, and when the two ends reach the same block the one
//! that gets there second takes its entries from the other's buffer, so no entry is yielded twice.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;

use super::meta::BlockHandle;
use super::reader::Table;
use crate::error::Result;
use crate::key::InternalValue;
use crate::seqno::SeqNo;
use crate::slice::Slice;

/// A scan over one table; see the module documentation.
pub(crate) struct TableIter {
    table: Arc<Table>,
    lower: Bound<Slice>,
    upper: Bound<Slice>,
    read_seqno: SeqNo,
    /// The data blocks not yet loaded, in order; `None` until the index was read.
    blocks: Option<VecDeque<BlockHandle>>,
    front: VecDeque<InternalValue>,
    back: VecDeque<InternalValue>,
    failed: bool,
}

impl TableIter {
    pub(crate) fn new(
        table: Arc<Table>,
        bounds: (Bound<Slice>, Bound<Slice>),
        read_seqno: SeqNo,
    ) -> Self {
        Self {
            table,
            lower: bounds.0,
            upper: bounds.1,
            read_seqno,
            blocks: None,
            front: VecDeque::new(),
            back: VecDeque::new(),
            failed: false,
        }
    }

    /// Reads the index and keeps the blocks that can hold keys within the bounds.
    fn init(&mut self) -> Result<()> {
        if self.blocks.is_some() {
            return Ok(());
        }
        let cmp = self.table.cmp().clone();
        let mut blocks = VecDeque::new();
        for (last_key, handle) in self.table.data_block_handles()? {
            // A block whose last key is below the lower bound holds nothing in range.
            let below = match &self.lower {
                Bound::Included(k) => cmp.user(&last_key, k).is_lt(),
                Bound::Excluded(k) => cmp.user(&last_key, k).is_le(),
                Bound::Unbounded => false,
            };
            if below {
                continue;
            }
            blocks.push_back(handle);
            // The first block whose last key passes the upper bound is the last one needed. With an
            // inclusive bound, a block ending exactly at the bound may be followed by more
            // versions of that key.
            let reaches_end = match &self.upper {
                Bound::Included(k) => cmp.user(&last_key, k).is_gt(),
                Bound::Excluded(k) => cmp.user(&last_key, k).is_ge(),
                Bound::Unbounded => false,
            };
            if reaches_end {
                break;
            }
        }
        self.blocks = Some(blocks);
        Ok(())
    }

    fn wanted(&self, entry: &InternalValue) -> bool {
        let cmp = self.table.cmp();
        let key = &entry.key.user_key;
        let above = match &self.lower {
            Bound::Included(k) => cmp.user(key, k).is_ge(),
            Bound::Excluded(k) => cmp.user(key, k).is_gt(),
            Bound::Unbounded => true,
        };
        let below = match &self.upper {
            Bound::Included(k) => cmp.user(key, k).is_le(),
            Bound::Excluded(k) => cmp.user(key, k).is_lt(),
            Bound::Unbounded => true,
        };
        above && below && entry.key.seqno < self.read_seqno
    }

    fn step(&mut self, forward: bool) -> Result<Option<InternalValue>> {
        self.init()?;
        loop {
            let own = if forward {
                &mut self.front
            } else {
                &mut self.back
            };
            let popped = if forward {
                own.pop_front()
            } else {
                own.pop_back()
            };
            if let Some(entry) = popped {
                if self.wanted(&entry) {
                    return Ok(Some(entry));
                }
                continue;
            }
            let next_block = self.blocks.as_mut().and_then(|blocks| {
                if forward {
                    blocks.pop_front()
                } else {
                    blocks.pop_back()
                }
            });
            if let Some(handle) = next_block {
                let entries = self.table.block_entries(handle)?;
                let own = if forward {
                    &mut self.front
                } else {
                    &mut self.back
                };
                own.extend(entries);
                continue;
            }
            // No block left: what remains is in the other end's buffer.
            let other = if forward {
                &mut self.back
            } else {
                &mut self.front
            };
            let Some(entry) = (if forward {
                other.pop_front()
            } else {
                other.pop_back()
            }) else {
                return Ok(None);
            };
            if self.wanted(&entry) {
                return Ok(Some(entry));
            }
        }
    }
}

impl Iterator for TableIter {
    type Item = Result<InternalValue>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.step(true).transpose();
        self.failed = matches!(item, Some(Err(_)));
        item
    }
}

impl DoubleEndedIterator for TableIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.step(false).transpose();
        self.failed = matches!(item, Some(Err(_)));
        item
    }
}
