//! Configuration: [`Config`] (how a tree is opened) and the per-level policies of the table files.
//!
//! A `Config` names the tree's directory and the seqno counters the caller shares with it, and
//! carries the settings that the layers below read. Every builder method takes and returns `Self`.
//! A per-level policy holds one entry per level; levels past the last entry repeat it.

/// The number of levels of a tree.
pub(crate) const LEVEL_COUNT: usize = 7;

/// A manifest past this size is rewritten as one snapshot record (a test may lower it).
pub(crate) const MANIFEST_REWRITE_BYTES: u64 = 1 << 20;

mod builder;
mod kv;
mod policy;

pub use builder::Config;
pub use kv::KvSeparationOptions;
pub use policy::{
    BlockSizePolicy, BloomConstructionPolicy, CompressionPolicy, FilterPolicy, FilterPolicyEntry,
    HashRatioPolicy, PartitioningPolicy, PinningPolicy, RestartIntervalPolicy,
};
