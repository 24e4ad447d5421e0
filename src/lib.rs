//! Strata: an embeddable LSM-tree storage engine in pure Rust.
//!
//! A [`Database`] is the usual way in: keyspaces, a write-ahead log, atomic batches, snapshots and
//! background workers, with fjall 3's API (its documentation and the README show it at work).
//! Under it, each keyspace is a [`Tree`], the engine, which can also be used on its own.
//!
//! A [`Tree`] is a sorted, versioned key-value map. Every write carries a sequence number
//! ([`SeqNo`]) and every read names the seqno it reads at: it sees exactly the writes with lower
//! seqnos, newest version per key. Writes go to a lock-free concurrent memtable; reads merge the
//! memtables (and, as the engine grows, table files) under those MVCC rules.
//!
//! ```
//! use strata::{Config, Guard, SequenceNumberCounter};
//!
//! # let dir = tempfile::tempdir()?;
//! let seqno = SequenceNumberCounter::default();
//! let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
//!
//! tree.insert("hello", "world", seqno.next());
//! let snapshot = seqno.get();
//! tree.insert("hello", "strata", seqno.next());
//!
//! assert_eq!(tree.get("hello", snapshot)?, Some("world".into()));
//! assert_eq!(tree.get("hello", seqno.get())?, Some("strata".into()));
//! for item in tree.range("a".."z", seqno.get(), None) {
//!     let (key, value) = item.into_inner()?;
//!     assert_eq!((key, value), ("hello".into(), "strata".into()));
//! }
//! # Ok::<(), strata::Error>(())
//! ```
//!
//! The module map, data flow and invariants are in `docs/design.md` and `docs/invariants.md`.

#![cfg_attr(
    test,
    allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        clippy::cast_lossless,
        clippy::big_endian_bytes,
        reason = "unit tests build test data with plain casts and big-endian (sortable) integer keys; \
                  the library code itself is linted without this in the non-test build"
    )
)]

mod blob;
mod cache;
mod coding;
pub mod compaction;
pub mod compression;
pub mod config;
mod db;
pub mod encryption;
mod error;
pub mod fs;
mod guard;
mod hint;
#[cfg(feature = "internals")]
pub mod internals;
mod iter;
mod key;
mod key_range;
mod layout;
mod memtable;
mod merge;
mod poison;
mod prefix;
mod range_tombstone;
mod record;
mod run_writer;
mod seqno;
mod slice;
mod stats;
mod sync;
mod table;
mod tree;
pub mod verify;
mod version;

pub use cache::{Cache, DescriptorTable};
pub use compaction::CompactionStrategy;
pub use compression::{CompressionType, UnknownCompression, ZstdDictionary};
pub use config::{Config, KvSeparationOptions};
pub use db::{
    Database, DatabaseBuilder, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch, PersistMode,
    Readable, Snapshot, WriteBatch,
};
pub use encryption::EncryptionProvider;
pub use error::{CorruptionKind, Error, IoContext, Result};
pub use fs::Fs;
pub use guard::{Guard, Guard as IterGuard, IterGuardImpl, KvPair};
pub use key::{
    DefaultUserComparator, InternalKey, InternalValue, UnknownValueType, UserComparator, ValueType,
};
pub use memtable::{Memtable, MemtableIter};
pub use merge::MergeOperator;
pub use prefix::{FixedPrefixExtractor, PrefixExtractor};
pub use seqno::{MAX_SEQNO, SeqNo, SequenceNumberCounter, SequenceNumberGenerator};
pub use slice::{INLINE_CAPACITY, Slice, UserKey, UserValue};
pub use stats::{BlockCounts, LevelCounts, ReadCounts, StallCounts, Statistics, WriteCounts};
pub use tree::{AbstractTree, Ingestion, Tree, TreeId, TreeType};
pub use version::view::{BlobFileView, Checksum, TableView, VersionView};

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
