//! The tools that work on a tree's directory or on one table or blob file.
//!
//! - [`kv`]: `put`, `get`, `delete`, `scan`, `prefix`: open the tree (running recovery, as any
//!   open does), read or write, and flush writes before exiting (`Tree` has no wal);
//! - [`inspect`]: levels, runs, tables, blob files, totals and space amplification, read in place;
//! - [`verify`]: every checksum and block of `CURRENT`, the manifest, the tables and the blob
//!   files, read in place; damage is reported with its file and byte offset;
//! - [`dump`]: one table file's meta block, footer, index and entries;
//! - [`dump_blob`]: one blob file's records and their totals;
//! - [`train_dict`]: a zstd dictionary trained on the tree's values (cargo feature `zstd`).
//!
//! `inspect`, `verify`, `dump-table` and `dump-blob` change nothing on disk: they go through the read-only
//! entry points of `strata::internals` instead of opening a tree. Errors come back as
//! [`ToolError`]s, which `main` prints as one `error: ...` line.
//!
//! [`ToolError`]: output::ToolError

pub(crate) mod dump;
pub(crate) mod dump_blob;
pub(crate) mod inspect;
pub(crate) mod kv;
pub(crate) mod output;
pub(crate) mod train_dict;
pub(crate) mod verify;
