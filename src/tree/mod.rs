//! [`Tree`]: the orchestration layer, the only place that wires the engine's layers together.
//!
//! - [`inner`]: the handle, opening (directory and lock), the SuperVersion and its publication,
//!   memtable rotation and introspection;
//! - [`write`]: insert, remove, remove_weak;
//! - [`read`]: point reads (get, multi_get, contains_key, size_of);
//! - [`iter`]: scans (iter, range, prefix) and what is built on them; also a scan of a version's
//!   tables alone, for tools that read a directory in place.
//!
//! Thread safety: `Tree` is `Clone + Send + Sync` (an `Arc` inside). Writers touch only the active
//! memtable (no lock). Readers take the current SuperVersion with one atomic load and never wait.
//! Structural changes (rotation) hold one mutex only while building and publishing the next
//! SuperVersion. `Tree` starts no threads.

mod compact;
mod flush;
mod inner;
mod iter;
mod read;
mod write;

#[cfg(feature = "internals")]
pub(crate) use inner::TABLES_FOLDER;
pub use inner::{AbstractTree, Tree};
#[cfg(feature = "internals")]
pub(crate) use iter::scan_version;
