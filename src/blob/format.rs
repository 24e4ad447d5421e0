//! The byte layout of blob files and blob pointers (`docs/format.md`, section 11).
//!
//! ```text
//! blob file := header | record* | footer
//! header    := magic "STRATAB1" (8) | format version u32 LE (1) | compression u8 | 3 zero bytes |
//!              zstd dictionary id u32 LE (0: none)
//! record    := one block (table/block.rs: 18-byte header with type 5 and an xxh3 checksum,
//!              then the stored bytes, compressed or not) whose raw contents are
//!              key length varint | key | value
//! footer    := record count u64 | record bytes u64 | value bytes u64 |
//!              checksum u64 (xxh3-64 of the 20 header bytes and the 24 footer bytes before it) |
//!              magic "STRATAB1"
//! ```
//!
//! A record carries its key, so a pointer that lands on another key's record (a damaged table,
//! a damaged manifest) is caught, and so that tools can tell what a record holds. The value is
//! the tail of the record's raw contents: an uncompressed value is read without a copy.
//!
//! A blob pointer (the value of an `Indirection` entry) is four varints: blob file id, record
//! offset, record length on disk (block header included), and the value's length.

#![deny(clippy::indexing_slicing)]

use xxhash_rust::xxh3::Xxh3;

use crate::coding::{decode_varint_u64, put_varint_u64};
use crate::error::CorruptionKind;

/// The bytes that start and end every blob file.
pub(crate) const MAGIC: [u8; 8] = *b"STRATAB1";
/// The blob file format version this build writes and reads.
pub(crate) const BLOB_FORMAT_VERSION: u32 = 1;
/// The header length.
pub(crate) const HEADER_LEN: usize = 20;
/// The footer length.
pub(crate) const FOOTER_LEN: usize = 40;

/// Where a separated value lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlobPointer {
    /// The blob file's id (its file number).
    pub(crate) file_id: u64,
    /// The offset of the value's record.
    pub(crate) offset: u64,
    /// The record's length on disk, block header included.
    pub(crate) record_len: u64,
    /// The value's length.
    pub(crate) value_len: u32,
}

impl BlobPointer {
    /// The pointer's bytes (the value of an `Indirection` entry).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20);
        put_varint_u64(&mut out, self.file_id);
        put_varint_u64(&mut out, self.offset);
        put_varint_u64(&mut out, self.record_len);
        put_varint_u64(&mut out, u64::from(self.value_len));
        out
    }

    /// Decodes a pointer; every byte must belong to it.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, CorruptionKind> {
        const BAD: CorruptionKind = CorruptionKind::InvalidField("blob pointer");
        let mut pos = 0;
        let mut next = || -> Result<u64, CorruptionKind> {
            let (value, n) = decode_varint_u64(bytes.get(pos..).unwrap_or_default()).ok_or(BAD)?;
            pos += n;
            Ok(value)
        };
        let file_id = next()?;
        let offset = next()?;
        let record_len = next()?;
        let value_len = u32::try_from(next()?).map_err(|_| BAD)?;
        if pos != bytes.len() {
            return Err(BAD);
        }
        Ok(Self {
            file_id,
            offset,
            record_len,
            value_len,
        })
    }
}

/// A blob file's header: its compression code and the id of the zstd dictionary its records
/// were compressed with (0: none).
pub(crate) fn encode_header(compression: u8, dict_id: u32) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    let (magic, rest) = out.split_at_mut(8);
    magic.copy_from_slice(&MAGIC);
    let (version, rest) = rest.split_at_mut(4);
    version.copy_from_slice(&BLOB_FORMAT_VERSION.to_le_bytes());
    let (codec, rest) = rest.split_at_mut(4);
    if let Some(byte) = codec.first_mut() {
        *byte = compression;
    }
    rest.copy_from_slice(&dict_id.to_le_bytes());
    out
}

/// The zstd dictionary id a header records (0: none).
pub(crate) fn header_dict_id(header: &[u8; HEADER_LEN]) -> u32 {
    header
        .get(16..20)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// What a blob file's footer records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BlobFooter {
    /// The number of records.
    pub(crate) record_count: u64,
    /// The bytes of all records (what pointers can reach).
    pub(crate) record_bytes: u64,
    /// The values' bytes, uncompressed.
    pub(crate) value_bytes: u64,
}

fn footer_checksum(header: &[u8; HEADER_LEN], counts: &[u8]) -> u64 {
    let mut hasher = Xxh3::new();
    hasher.update(header);
    hasher.update(counts);
    hasher.digest()
}

impl BlobFooter {
    /// The footer's bytes, for a file whose header is `header`.
    pub(crate) fn encode(&self, header: &[u8; HEADER_LEN]) -> [u8; FOOTER_LEN] {
        let mut out = [0u8; FOOTER_LEN];
        let fields = [self.record_count, self.record_bytes, self.value_bytes];
        for (chunk, value) in out.chunks_exact_mut(8).zip(fields) {
            chunk.copy_from_slice(&value.to_le_bytes());
        }
        let sum = footer_checksum(header, out.get(..24).unwrap_or_default());
        if let Some(chunk) = out.get_mut(24..32) {
            chunk.copy_from_slice(&sum.to_le_bytes());
        }
        if let Some(chunk) = out.get_mut(32..) {
            chunk.copy_from_slice(&MAGIC);
        }
        out
    }

    /// Checks a file's header and footer against each other and against its size.
    pub(crate) fn decode(
        header: &[u8; HEADER_LEN],
        footer: &[u8; FOOTER_LEN],
        file_size: u64,
    ) -> Result<Self, CorruptionKind> {
        if header.get(..8) != Some(&MAGIC[..]) || footer.get(32..) != Some(&MAGIC[..]) {
            return Err(CorruptionKind::InvalidField("blob file magic"));
        }
        let word = |bytes: &[u8], at: usize| -> u64 {
            bytes
                .get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_le_bytes)
        };
        let stored = word(footer, 24);
        let actual = footer_checksum(header, footer.get(..24).unwrap_or_default());
        if stored != actual {
            return Err(CorruptionKind::ChecksumMismatch {
                expected: stored,
                actual,
            });
        }
        let version = header
            .get(8..12)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes);
        if version != BLOB_FORMAT_VERSION {
            return Err(CorruptionKind::InvalidField("blob file version"));
        }
        let parsed = Self {
            record_count: word(footer, 0),
            record_bytes: word(footer, 8),
            value_bytes: word(footer, 16),
        };
        // Every record is a block of at least a header; the records fill the file between
        // header and footer exactly.
        let body = file_size.checked_sub((HEADER_LEN + FOOTER_LEN) as u64);
        let min_record = crate::table::block::HEADER_LEN as u64 + 1;
        if body != Some(parsed.record_bytes)
            || parsed.record_count.saturating_mul(min_record) > parsed.record_bytes
            || (parsed.record_count == 0) != (parsed.record_bytes == 0)
        {
            return Err(CorruptionKind::InvalidField("blob file counts"));
        }
        Ok(parsed)
    }
}

/// The raw contents of a record: key length, key, value.
pub(crate) fn record_contents(key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(key.len() + value.len() + 5);
    put_varint_u64(&mut raw, key.len() as u64);
    raw.extend_from_slice(key);
    raw.extend_from_slice(value);
    raw
}

/// Splits a record's raw contents into key and value offsets: `(key range end, value start)`.
pub(crate) fn split_record(raw: &[u8]) -> Result<(usize, usize), CorruptionKind> {
    const BAD: CorruptionKind = CorruptionKind::InvalidField("blob record");
    let (key_len, n) = decode_varint_u64(raw).ok_or(BAD)?;
    let key_len = usize::try_from(key_len).map_err(|_| BAD)?;
    let end = n
        .checked_add(key_len)
        .filter(|end| *end <= raw.len())
        .ok_or(BAD)?;
    Ok((n, end))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, reason = "test code")]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_bytes_of_header_footer_and_pointer() {
        let header = encode_header(1, 0x0102_0304);
        assert_eq!(
            header,
            [
                b'S', b'T', b'R', b'A', b'T', b'A', b'B', b'1', 1, 0, 0, 0, 1, 0, 0, 0, 4, 3, 2, 1
            ]
        );
        assert_eq!(header_dict_id(&header), 0x0102_0304);
        let footer = BlobFooter {
            record_count: 2,
            record_bytes: 60,
            value_bytes: 40,
        };
        let bytes = footer.encode(&header);
        assert_eq!(
            &bytes[..24],
            &[
                2, 0, 0, 0, 0, 0, 0, 0, 60, 0, 0, 0, 0, 0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0
            ]
        );
        assert_eq!(&bytes[32..], b"STRATAB1");
        let size = (HEADER_LEN + FOOTER_LEN) as u64 + 60;
        assert_eq!(BlobFooter::decode(&header, &bytes, size), Ok(footer));
        assert!(BlobFooter::decode(&header, &bytes, size + 1).is_err());
        for i in 0..FOOTER_LEN {
            let mut bad = bytes;
            bad[i] ^= 0x10;
            assert!(BlobFooter::decode(&header, &bad, size).is_err(), "byte {i}");
        }
        let mut other = header;
        other[12] = 0;
        assert!(
            BlobFooter::decode(&other, &bytes, size).is_err(),
            "the header is summed too"
        );
        let pointer = BlobPointer {
            file_id: 7,
            offset: 300,
            record_len: 130,
            value_len: 100,
        };
        assert_eq!(pointer.encode(), [7, 0xac, 0x02, 0x82, 0x01, 100]);
        assert_eq!(BlobPointer::decode(&pointer.encode()), Ok(pointer));
        assert!(BlobPointer::decode(&[7, 0xac, 0x02, 0x82, 0x01, 100, 0]).is_err());
        assert!(BlobPointer::decode(&[7, 0xac]).is_err());
    }

    #[test]
    fn records_split_into_key_and_value() {
        let raw = record_contents(b"key", b"value");
        assert_eq!(raw, b"\x03keyvalue");
        assert_eq!(split_record(&raw), Ok((1, 4)));
        assert!(split_record(b"\x09ab").is_err());
        assert!(split_record(b"").is_err());
    }

    proptest! {
        #[test]
        fn hostile_pointers_and_footers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = BlobPointer::decode(&bytes);
            let _ = split_record(&bytes);
            let mut footer = [0u8; FOOTER_LEN];
            for (slot, b) in footer.iter_mut().zip(&bytes) {
                *slot = *b;
            }
            let _ = BlobFooter::decode(&encode_header(0, 0), &footer, u64::MAX);
        }
    }
}
