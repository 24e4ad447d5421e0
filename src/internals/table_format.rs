//! The small table-format decoders and encoders (footer, meta block, filter, filter index), for
//! the cargo-fuzz targets `footer`, `meta` and `filter`: each decoder takes raw bytes and returns
//! the engine's own error for bad input, never a panic; each encoder is the writer's.
//!
//! The layouts are those of `src/table/meta.rs` and `src/table/filter.rs` (`docs/format.md`,
//! sections 5 to 7).

use std::path::Path;

use crate::error::{CorruptionKind, Error, Result};
use crate::key::Comparator;
use crate::seqno::SeqNo;
use crate::slice::Slice;
use crate::table::data_block::DataBlock;
use crate::table::filter::{FilterBuilder, key_hash};
use crate::table::meta::{self, BlockHandle, Footer, FooterError, TableMeta};

/// The length of a table footer, the last bytes of every table file.
pub const FOOTER_LEN: usize = meta::FOOTER_LEN;

/// Decodes the footer `bytes` of a table file of `file_len` bytes, as the table reader does at
/// open: magic, checksum, format version, flags, and every block handle inside the file's body.
///
/// ```
/// use strata::internals::{FOOTER_LEN, decode_footer, encode_footer};
///
/// let footer = decode_footer(&[0; FOOTER_LEN], 1000);
/// assert!(matches!(footer, Err(strata::Error::Corruption { .. })), "no magic");
/// # let _ = encode_footer;
/// ```
///
/// # Errors
/// `Corruption` (in a file named `footer`, at offset 0) for a damaged footer, one of another
/// length than [`FOOTER_LEN`], or handles that leave the file; `UnsupportedFormat` for an intact
/// footer of a format version this build does not read.
pub fn decode_footer(bytes: &[u8], file_len: u64) -> Result<Footer> {
    let file = Path::new("footer");
    let corruption = |what| Error::Corruption {
        file: file.to_path_buf(),
        offset: 0,
        what,
    };
    let bytes: &[u8; FOOTER_LEN] = bytes
        .try_into()
        .map_err(|_| corruption(CorruptionKind::Truncated))?;
    Footer::decode(bytes, file_len).map_err(|e| match e {
        FooterError::Corrupt(what) => corruption(what),
        FooterError::UnsupportedVersion(version) => Error::UnsupportedFormat {
            file: file.to_path_buf(),
            version,
            missing: None,
        },
    })
}

/// The bytes of `footer`, as the table writer writes them (checksum and magic included).
#[must_use]
pub fn encode_footer(footer: &Footer) -> [u8; FOOTER_LEN] {
    footer.encode()
}

/// Decodes the raw contents of the meta block of a table file of `file_len` bytes and format
/// version `format_version` (1 has optional trailing fields; 2 and later have every field), and
/// checks its counts and seqnos against what such a file can hold, as the table reader does.
///
/// # Errors
/// The corruption found.
pub fn decode_meta(
    raw: &[u8],
    file_len: u64,
    format_version: u32,
) -> std::result::Result<TableMeta, CorruptionKind> {
    TableMeta::decode(raw, file_len, format_version)
}

/// The raw contents of a meta block holding `meta`, as the table writer writes them (the layout
/// of format 2 and later: every field present).
#[must_use]
pub fn encode_meta(meta: &TableMeta) -> Vec<u8> {
    meta.encode()
}

/// Builds a bloom filter over `keys` with `bits_per_key` in the classic layout (format tag 1,
/// written by table formats 1 and 2) if `classic`, else in the blocked layout (tag 2) that
/// [`build_filter`](super::build_filter) writes. Equal consecutive keys are added once.
#[must_use]
pub fn build_filter_with_layout(keys: &[&[u8]], bits_per_key: f64, classic: bool) -> Vec<u8> {
    let mut builder = FilterBuilder::new(bits_per_key);
    if classic {
        builder = builder.classic();
    }
    for key in keys {
        builder.add_hash(key_hash(key));
    }
    builder.finish()
}

/// Decodes the raw contents of a partitioned filter's index block: each partition's last user
/// key and the handle of its filter block, in order, as the table reader reads them.
///
/// # Errors
/// The corruption found: a damaged block, or an entry whose value is no block handle.
pub fn decode_filter_index(
    raw: &[u8],
) -> std::result::Result<Vec<(Slice, BlockHandle)>, CorruptionKind> {
    DataBlock::new(Slice::new(raw))?
        .entries()?
        .into_iter()
        .map(|entry| {
            Ok((
                entry.key.user_key.clone(),
                BlockHandle::decode(&entry.value)?,
            ))
        })
        .collect()
}

/// Seeks the partition of the filter index `raw` (raw block contents) that covers `key`, as a
/// point read does: the first entry whose last user key is at or after `key`; its handle.
///
/// # Errors
/// The corruption found.
pub fn seek_filter_index(
    raw: &[u8],
    key: &[u8],
) -> std::result::Result<Option<BlockHandle>, CorruptionKind> {
    DataBlock::new(Slice::new(raw))?
        .seek(&Comparator::default(), key, SeqNo::MAX >> 1)?
        .map(|entry| BlockHandle::decode(&entry.value))
        .transpose()
}
