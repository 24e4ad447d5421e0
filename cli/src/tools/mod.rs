//! The tools that work on a tree's directory, a database's directory, or one table or blob file.
//!
//! - [`kv`]: `put`, `get`, `delete`, `scan`, `prefix`: open the tree, or a keyspace of the
//!   database with `--keyspace` (running recovery, as any open does), read or write, and make
//!   writes durable before exiting (a tree flushes them, a database syncs its WAL);
//! - [`inspect`]: levels, runs, tables, blob files, totals and space amplification, read in place;
//!   for a database, its catalog and WAL first, then each keyspace's tree;
//! - [`verify`]: every checksum and block of `CURRENT`, the manifest, the tables and the blob
//!   files, read in place; damage is reported with its file and byte offset; for a database, its
//!   `VERSION`, catalog and every WAL record first, then each keyspace's tree;
//! - [`wal_dump`]: a database's WAL segments, batches and items, and how each segment ends;
//! - [`database`]: what `inspect` and `verify` read of a database folder besides its trees;
//! - [`dump`]: one table file's meta block, footer, index and entries;
//! - [`dump_blob`]: one blob file's records and their totals;
//! - [`train_dict`]: a zstd dictionary trained on the tree's values (cargo feature `zstd`);
//! - [`stats`]: the counters of a tree or a database (`Statistics`), after opening it;
//! - [`dict`]: `--dict FILE`, the zstd dictionary that every tool reading tables or blob files
//!   takes for files compressed with one.
//!
//! `inspect`, `verify`, `wal-dump`, `dump-table` and `dump-blob` change nothing on disk: they go through the read-only
//! entry points of `strata::internals` instead of opening a tree. Errors come back as
//! [`ToolError`]s, which `main` prints as one `error: ...` line.
//!
//! [`ToolError`]: output::ToolError

pub(crate) mod database;
pub(crate) mod dict;
pub(crate) mod dump;
pub(crate) mod dump_blob;
pub(crate) mod inspect;
pub(crate) mod kv;
pub(crate) mod output;
pub(crate) mod stats;
pub(crate) mod train_dict;
pub(crate) mod verify;
pub(crate) mod wal_dump;
