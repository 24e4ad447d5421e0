//! [`Tree`]: the orchestration layer, the only place that wires the engine's layers together.
//!
//! - [`handle`]: the handle, opening (directory and lock), memtable rotation and the counts;
//! - [`introspection`]: the tree's id and type, its current version as a read-only view, and a
//!   key's newest raw entry (`get_internal_entry`);
//! - [`super_version`]: the SuperVersion readers load, its publication, and the history kept for
//!   reads at older seqnos;
//! - [`flush`]: sealed memtables to a level-0 run; [`compact`]: compaction steps (planning in
//!   [`crate::compaction::plan`], the merge in [`crate::compaction::job`]);
//! - [`maintenance`]: `drop_range` and `clear`; [`ingest`]: bulk ingestion ([`Ingestion`]);
//! - [`write`]: insert, remove, remove_weak;
//! - [`read`]: point reads (get, multi_get, contains_key, size_of);
//! - [`iter`]: scans (iter, range, prefix) and what is built on them; also a scan of a version's
//!   tables alone, for tools that read a directory in place.
//!
//! Thread safety: `Tree` is `Clone + Send + Sync` (an `Arc` inside). Writers touch only the active
//! memtable (no lock). Readers take the current SuperVersion with one atomic load and never wait.
//! Structural changes hold the version lock (the version set's) only while committing an edit and
//! publishing the next SuperVersion. `Tree` starts no threads.

mod compact;
mod flush;
mod handle;
mod ingest;
mod introspection;
mod iter;
mod maintenance;
mod read;
#[cfg(test)]
mod regressions;
mod super_version;
mod write;

pub use handle::{AbstractTree, Tree};
pub use ingest::Ingestion;
pub use introspection::{TreeId, TreeType};
#[cfg(feature = "internals")]
pub(crate) use iter::scan_version;
