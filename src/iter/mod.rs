//! The read streams every scan, flush and compaction is built from.
//!
//! - [`merging`]: [`merging::MergingIter`], the seekable k-way merge of sorted sources (memtables,
//!   runs), newest source first on equal internal keys;
//! - [`mvcc`]: the MVCC stream, which picks per user key the version a read sees.

pub(crate) mod merging;
pub(crate) mod mvcc;
