//! The tools that work on a tree's directory or on one table file.
//!
//! - [`kv`]: `put`, `get`, `delete`, `scan`, `prefix`: open the tree (running recovery, as any
//!   open does), read or write, and flush writes before exiting (`Tree` has no wal);
//! - [`inspect`]: levels, runs, tables, totals and space amplification, read in place;
//! - [`verify`]: every checksum and block of `CURRENT`, the manifest and the tables, read in
//!   place; damage is reported with its file and byte offset;
//! - [`dump`]: one table file's meta block, footer, index and entries;
//! - [`train_dict`]: a zstd dictionary trained on the tree's values (cargo feature `zstd`).
//!
//! `inspect`, `verify` and `dump-table` change nothing on disk: they go through the read-only
//! entry points of `strata::internals` instead of opening a tree. Errors come back as
//! [`ToolError`]s, which `main` prints as one `error: ...` line.
//!
//! [`ToolError`]: output::ToolError

pub(crate) mod dump;
pub(crate) mod inspect;
pub(crate) mod kv;
pub(crate) mod output;
pub(crate) mod train_dict;
pub(crate) mod verify;
