//! The memtable: an in-memory, sorted, concurrent write buffer.
//!
//! Where it sits: every write of a [`Tree`](crate::Tree) lands in the active memtable; rotation
//! seals it; a flush (the tables issue) writes sealed memtables to table files. Reads merge the
//! memtables, newest first, with the tables below.
//!
//! Structure:
//! - [`arena`]: a segmented lock-free bump allocator (segments installed by CAS, an allocation is
//!   one `fetch_add`), freed in bulk;
//! - [`skiplist`]: a lock-free skiplist whose nodes and keys live in an arena, ordered by internal
//!   key through the user comparator;
//! - [`value_store`]: values as records in a second arena, pointed to by the nodes;
//! - [`inner`]: the public [`Memtable`] with its counters, the seal / write-gate protocol used by
//!   rotation, and [`MemtableIter`].
//!
//! Thread safety: any number of writers through `&self`, by CAS on tower links; readers never take
//! a lock and never wait. Rotation seals a memtable (`seal`); a writer registers with
//! `try_begin_write` and retries on the new active memtable if it finds the old one sealed; a flush
//! calls `wait_for_writers` so that no write lands in a memtable after it was written out.
//!
//! Invariants: see each submodule, `docs/design.md` and `UNSAFE.md`. This module is the only one in
//! the engine with `unsafe` code.

pub(crate) mod arena;
mod inner;
pub(crate) mod skiplist;
pub(crate) mod value_store;

#[cfg(all(test, loom))]
mod loom_tests;

pub(crate) use inner::MemtableSource;
pub use inner::{Memtable, MemtableIter};
