//! Checksummed record framing and the torn-tail rule, shared by the manifest (and, later, the
//! write-ahead log).
//!
//! A log file is a sequence of records with no file header and no padding. [`encode`] frames one
//! payload; [`RecordReader`] walks a whole file's bytes and yields each record's offset and
//! payload, then says how the file ends ([`End`]): cleanly, in a torn tail (ignored), or in
//! corruption (an error naming the record's offset). Layout (little-endian; `docs/format.md`,
//! section 10.2, gives every byte):
//!
//! ```text
//! +--------+----------+------------+----------+----------------+---------+
//! | "SR"   | len: u32 | !len: u32  | sum: u64 | payload        | 0xA5    |
//! | 53 52  |          | complement | xxh3-64  | `len` bytes    | trailer |
//! +--------+----------+------------+----------+----------------+---------+
//!   0        2          6            10         18               18 + len
//! ```
//!
//! Invariants, which make a single bit flip anywhere in a complete record always corruption and
//! never a torn write:
//!
//! 1. A crash leaves a torn tail only of two shapes: the last record cut short (its header or its
//!    body runs past the end of the file), or cut and followed by zeros up to the end of the
//!    file. Everything before the point where the zeros start is genuine.
//! 2. The trailer (four bits set) is the last byte of every record, so a complete record never
//!    ends in a zero byte, and a single flip cannot make it zero: a zero-filled tail is always
//!    shorter than any complete record it could be mistaken for.
//! 3. The length is stored twice (itself and its complement): a single flip in either makes them
//!    disagree, so a flipped length can never make a complete record look cut short.
//! 4. So a record that fails is torn only if it does not lie wholly before the file's trailing
//!    zeros (and the bytes of it that do are consistent); a complete record that fails, a bad
//!    magic, or non-zero bytes after the last record are corruption at that record's offset.
//!
//! The reader runs in time linear in the file's size: each record is checked once, and the
//! decision about a failing record looks only at that record and at where the trailing zeros
//! start (found once). Manifests written before this framing (magic "SE", no length complement,
//! no trailer: [`Framing::Legacy`]) are still read, under the same rule as far as that framing
//! allows; they are never written.
//!
//! Thread safety: everything here is plain functions and a reader over a borrowed slice.

#![deny(clippy::indexing_slicing)]

mod format;
mod reader;
#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) use format::encode_legacy;
pub(crate) use format::{Framing, RecordTooLarge, encode};
pub(crate) use reader::{End, RecordReader};
