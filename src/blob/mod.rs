//! Key-value separation: large values in blob files, a small pointer in the tree.
//!
//! With [`KvSeparationOptions`](crate::KvSeparationOptions) set, the run writer (flush,
//! compaction and ingestion all use it) writes every plain value of at least the separation
//! threshold into a blob file under `<path>/blobs/` and stores in the table an entry of type
//! [`ValueType::Indirection`](crate::ValueType::Indirection) whose value is a [`BlobPointer`].
//!
//! - [`format`]: the byte layout of a blob file and of a pointer (`docs/format.md`, section 11).
//! - [`writer`]: [`writer::BlobWriter`] appends values and cuts files at the target size.
//! - [`file`]: [`file::BlobFile`], an open blob file: values read through the shared block cache
//!   and the descriptor table, each one checked (checksum, key, length) before it is returned.
//!
//! Liveness and garbage collection: the manifest records, for every table, the bytes of each blob
//! file its pointers reach (`docs/format.md`, 10.3, tag 11). A blob file's live bytes are the sum
//! over the version's tables; its stale bytes are the rest of its records. A blob file no table
//! points into leaves the version in the edit that removes its last pointer, and its file is
//! deleted once no reader holds it. Compaction relocates the live values of files whose stale
//! fraction passed the threshold (see `compaction/job.rs` and `tree/compact.rs`).

pub(crate) mod file;
pub(crate) mod format;
pub(crate) mod writer;

pub(crate) use file::BlobFile;
pub(crate) use format::BlobPointer;
