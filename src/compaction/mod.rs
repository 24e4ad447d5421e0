//! Compaction: merging tables and dropping what no reader can see.
//!
//! - [`stream`]: the compaction stream, the rules that decide which versions of a key survive a
//!   merge. A flush is the first user: it is a compaction of sealed memtables into level 0.
//!
//! The strategies (leveled, size-tiered, FIFO), the worker and `Tree::compact` come with the
//! compaction milestone (issue #5).

pub(crate) mod stream;
