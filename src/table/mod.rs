//! table/: the table (SST) file format: immutable sorted files of entries.
//!
//! - [`block`]: the block envelope (type, compression, lengths, xxh3 checksum);
//! - [`data_block`]: prefix-truncated entries with restart points (also the index block format);
//! - [`filter`]: the bloom filter;
//! - [`meta`]: the meta block (key range, seqno range, counts, settings) and the footer;
//! - [`writer`]: streams sorted entries into a table file;
//! - [`reader`]: opens and validates a table, point reads through the block cache;
//! - [`iter`]: double-ended bounded scans over one table;
//! - [`verify`]: reads and checks every block of a table file, for `strata::verify` and tools.
//!
//! `table/` knows nothing of versions or trees: the CLI and the fuzz targets open a table file on
//! their own. The byte layout of every part is in `docs/format.md`.

pub(crate) mod block;
pub(crate) mod data_block;
pub(crate) mod filter;
pub(crate) mod iter;
pub(crate) mod meta;
pub(crate) mod reader;
pub(crate) mod verify;
pub(crate) mod writer;

#[cfg(test)]
mod tests;
