//! The meta block and the footer of a table file.
//!
//! Meta block raw contents (inside a block of type Meta; little-endian; see `docs/format.md`):
//!
//! ```text
//! +---------------+-----------------------+-------------+-----------------+----------------------+
//! | table_id u64  | created_at_micros u64 | entries u64 | tombstones u64  | weak_tombstones u64  |
//! +---------------+-----------------------+-------------+-----------------+----------------------+
//! | data_blocks u64 | seqno_min u64 | seqno_max u64 | min_key: varint len + bytes | max_key: ditto |
//! +-----------------+---------------+---------------+-----------------------------+----------------+
//! | block_size u32 | restart u8 | index_restart u8 | data_compression u8 | index_compression u8 |
//! +----------------+------------+------------------+---------------------+---------------------+
//! | filter_bits_per_key_milli u32 | comparator name: varint len + UTF-8 bytes |
//! +-------------------------------+-------------------------------------------+
//! | weak_tombstone_reclaimable u64 (optional: absent in older tables, read as 0) |
//! +------------------------------------------------------------------------------+
//! | prefix extractor name: varint len + UTF-8 bytes (optional: absent without one; len 0 only |
//! | when a later field follows, meaning "no extractor")                                       |
//! +-------------------------------------------------------------------------------------------+
//! | zstd_dict_id u32 (optional: absent in tables without a zstd dictionary; never 0)          |
//! +-------------------------------------------------------------------------------------------+
//! ```
//!
//! Footer: the last 72 bytes of the file.
//!
//! ```text
//! offset size field
//!  0      8   index_offset   start of the (top-level) index block
//!  8      8   index_len      its length on disk, header included
//! 16      8   filter_offset  start of the filter block (or filter index block); 0 with no filter
//! 24      8   filter_len     0 when the table has no filter
//! 32      8   meta_offset
//! 40      8   meta_len
//! 48      1   flags          bit 0: index partitioned; bit 1: filter partitioned; others zero
//! 49      3   reserved       zero
//! 52      4   format_version 1
//! 56      8   checksum       xxh3-64 of bytes 0..56
//! 64      8   magic          the bytes "STRATAT1"
//! ```
//!
//! A reader checks the magic, then the checksum, then the version: a damaged footer is
//! corruption, and only an intact footer with another version is an unsupported format.
//!
//! A decoded meta block is also checked against the file that holds it ([`TableMeta::decode`]):
//! counts that the file's size cannot back (an entry takes at least [`MIN_ENTRY_LEN`] raw bytes,
//! and LZ4 expands stored bytes at most 255×, zstd at most 32768×; a data block takes at least a
//! block header), parts that exceed their whole (tombstones above entries), and seqnos above
//! [`MAX_SEQNO`](crate::MAX_SEQNO) are corruption. So every count a tree sums is below 51 × the
//! table's file size (6554 × for a table whose blocks are zstd), and no seqno from a table can
//! push the tree's clock into the reserved range.

#![deny(clippy::indexing_slicing)]

use super::block::HEADER_LEN;
use crate::coding::{Cursor, decode_varint_u64, put_bytes, put_varint_u64};
use crate::error::CorruptionKind;
use crate::seqno::MAX_SEQNO;
use crate::slice::Slice;

/// The footer length in bytes.
pub(crate) const FOOTER_LEN: usize = 72;

/// The magic bytes that end every table file.
pub(crate) const MAGIC: [u8; 8] = *b"STRATAT1";

/// The table format version this build writes (3: filters may use the blocked layout, tag 2 of
/// `table/filter.rs`; the rest is version 2).
pub(crate) const FORMAT_VERSION: u32 = 3;

/// The oldest table format version this build reads (version 1: no range tombstones, optional
/// trailing meta fields).
pub(crate) const OLDEST_FORMAT_VERSION: u32 = 1;

/// The fewest raw bytes an entry of a data block takes: one byte each for `shared`, `unshared`,
/// `value_len`, the seqno and the type.
pub(crate) const MIN_ENTRY_LEN: u64 = 5;

/// LZ4's largest expansion: raw bytes per stored byte.
const MAX_EXPANSION: u64 = 255;

/// zstd's largest expansion: a 4-byte RLE block (3-byte header, 1 byte) decodes to 128 KiB.
const MAX_ZSTD_EXPANSION: u64 = 32_768;

const FLAG_INDEX_PARTITIONED: u8 = 1;
const FLAG_FILTER_PARTITIONED: u8 = 2;

/// Where a block lies in its table file: its offset and its length on disk, header included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BlockHandle {
    /// The offset of the block's first byte.
    pub offset: u64,
    /// The block's length on disk, its 18-byte header included.
    pub len: u64,
}

impl BlockHandle {
    pub(crate) fn encode(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12);
        put_varint_u64(&mut out, self.offset);
        put_varint_u64(&mut out, self.len);
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, CorruptionKind> {
        let (offset, n) =
            decode_varint_u64(bytes).ok_or(CorruptionKind::InvalidField("block handle"))?;
        let (len, m) = decode_varint_u64(bytes.get(n..).unwrap_or_default())
            .ok_or(CorruptionKind::InvalidField("block handle"))?;
        if n + m != bytes.len() {
            return Err(CorruptionKind::InvalidField("block handle"));
        }
        Ok(Self { offset, len })
    }
}

/// The parsed footer: where the index, filter and meta blocks lie (`docs/format.md`, section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footer {
    /// The index block (the top-level one if partitioned).
    pub index: BlockHandle,
    /// The filter block, or the filter index block if partitioned; `None` without a filter.
    pub filter: Option<BlockHandle>,
    /// The meta block.
    pub meta: BlockHandle,
    /// Whether the index is partitioned (flags bit 0).
    pub index_partitioned: bool,
    /// Whether the filter is partitioned (flags bit 1).
    pub filter_partitioned: bool,
    /// The table format version (1, 2 or 3).
    pub version: u32,
}

/// What went wrong reading a footer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FooterError {
    Corrupt(CorruptionKind),
    UnsupportedVersion(u32),
}

impl Footer {
    pub(crate) fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut out = [0u8; FOOTER_LEN];
        let filter = self.filter.unwrap_or_default();
        let fields = [
            self.index.offset,
            self.index.len,
            filter.offset,
            filter.len,
            self.meta.offset,
            self.meta.len,
        ];
        for (chunk, value) in out.chunks_exact_mut(8).zip(fields) {
            chunk.copy_from_slice(&value.to_le_bytes());
        }
        let mut flags = 0;
        if self.index_partitioned {
            flags |= FLAG_INDEX_PARTITIONED;
        }
        if self.filter_partitioned {
            flags |= FLAG_FILTER_PARTITIONED;
        }
        if let Some(byte) = out.get_mut(48) {
            *byte = flags;
        }
        if let Some(version) = out.get_mut(52..56) {
            version.copy_from_slice(&self.version.to_le_bytes());
        }
        let sum = xxhash_rust::xxh3::xxh3_64(out.get(..56).unwrap_or_default());
        if let Some(checksum) = out.get_mut(56..64) {
            checksum.copy_from_slice(&sum.to_le_bytes());
        }
        if let Some(magic) = out.get_mut(64..72) {
            magic.copy_from_slice(&MAGIC);
        }
        out
    }

    /// Parses a footer and checks that its handles lie inside a file of `file_len` bytes.
    pub(crate) fn decode(bytes: &[u8; FOOTER_LEN], file_len: u64) -> Result<Self, FooterError> {
        let corrupt = |what| FooterError::Corrupt(CorruptionKind::InvalidField(what));
        if bytes.get(64..72) != Some(MAGIC.as_slice()) {
            return Err(FooterError::Corrupt(CorruptionKind::BadMagic));
        }
        let u64_at = |at: usize| {
            bytes
                .get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_le_bytes)
        };
        let actual = xxhash_rust::xxh3::xxh3_64(bytes.get(..56).unwrap_or_default());
        if actual != u64_at(56) {
            return Err(FooterError::Corrupt(CorruptionKind::ChecksumMismatch {
                expected: u64_at(56),
                actual,
            }));
        }
        let version = bytes
            .get(52..56)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes);
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(FooterError::UnsupportedVersion(version));
        }
        let flags = bytes.get(48).copied().unwrap_or(0);
        if flags & !(FLAG_INDEX_PARTITIONED | FLAG_FILTER_PARTITIONED) != 0
            || bytes.get(49..52) != Some([0u8; 3].as_slice())
        {
            return Err(corrupt("footer flags"));
        }
        let body_end = file_len
            .checked_sub(FOOTER_LEN as u64)
            .ok_or(FooterError::Corrupt(CorruptionKind::Truncated))?;
        let handle = |at: usize, what| {
            let h = BlockHandle {
                offset: u64_at(at),
                len: u64_at(at + 8),
            };
            match h.offset.checked_add(h.len) {
                Some(end) if end <= body_end && h.len > 0 => Ok(h),
                _ => Err(corrupt(what)),
            }
        };
        let filter = if u64_at(24) == 0 {
            if u64_at(16) != 0 || flags & FLAG_FILTER_PARTITIONED != 0 {
                return Err(corrupt("filter handle"));
            }
            None
        } else {
            Some(handle(16, "filter handle")?)
        };
        Ok(Self {
            index: handle(0, "index handle")?,
            filter,
            meta: handle(32, "meta handle")?,
            index_partitioned: flags & FLAG_INDEX_PARTITIONED != 0,
            filter_partitioned: flags & FLAG_FILTER_PARTITIONED != 0,
            version,
        })
    }
}

/// The settings a table was written with, recorded in its meta block.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TableSettings {
    /// The data block size setting, in bytes.
    pub block_size: u32,
    /// The restart interval of data blocks.
    pub restart_interval: u8,
    /// The restart interval of index blocks.
    pub index_restart_interval: u8,
    /// The compression of data blocks, a `CompressionType` byte (0 none, 1 LZ4); kept as the
    /// byte so that a table naming a compression this build lacks still describes itself.
    pub data_compression: u8,
    /// The compression of index blocks, as [`TableSettings::data_compression`].
    pub index_compression: u8,
    /// Bloom bits per key × 1000 (0 without a filter).
    pub filter_bits_per_key_milli: u32,
}

/// What a table's meta block records.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TableMeta {
    /// The table's id (its file name is `<table_id>.sst`).
    pub table_id: u64,
    /// Creation time, microseconds since the Unix epoch.
    pub created_at_micros: u64,
    /// Entries of every type.
    pub entry_count: u64,
    /// Tombstones.
    pub tombstone_count: u64,
    /// Weak tombstones.
    pub weak_tombstone_count: u64,
    /// Data blocks.
    pub data_block_count: u64,
    /// The lowest seqno of an entry or range tombstone.
    pub seqno_min: u64,
    /// The highest seqno of an entry or range tombstone.
    pub seqno_max: u64,
    /// The first user key of the table's bounds: its first entry's, or a range tombstone's
    /// start before it.
    pub min_key: Slice,
    /// The last user key of the table's bounds: its last entry's, or a range tombstone's end
    /// after it (then [`TableMeta::max_key_exclusive`]).
    pub max_key: Slice,
    /// The settings the table was written with.
    pub settings: TableSettings,
    /// The name of the comparator that ordered the keys.
    pub comparator: String,
    /// Weak tombstones stored directly above a value of their key (optional trailing field;
    /// 0 in tables written before it existed).
    pub weak_tombstone_reclaimable: u64,
    /// The name of the prefix extractor whose prefixes the filter holds (optional trailing
    /// field after `weak_tombstone_reclaimable`; `None` without an extractor and in tables
    /// written before it existed).
    pub prefix_extractor: Option<String>,
    /// The [`ZstdDictionary::id`](crate::ZstdDictionary::id) of the dictionary the table's zstd
    /// blocks were compressed with (optional trailing field after `prefix_extractor`); 0 for a
    /// table without one.
    pub zstd_dict_id: u32,
    /// Whether [`TableMeta::max_key`] is a range tombstone's (exclusive) end that no entry has:
    /// the table holds no key at or after it (format 2).
    pub max_key_exclusive: bool,
    /// The highest seqno of an entry, range tombstones left out (0 with no entry): point reads
    /// skip the table when it cannot beat what they found (format 2; in format 1, `seqno_max`).
    pub kv_seqno_max: u64,
    /// The number of range-tombstone fragments (format 2).
    pub range_tombstone_count: u64,
    /// The lowest and highest seqno of a range tombstone (0 and 0 without any).
    pub range_tombstone_seqnos: (u64, u64),
    /// Where the range-tombstone block lies; `None` without range tombstones.
    pub range_tombstone_block: Option<BlockHandle>,
}

#[cfg(test)]
fn varint_len(n: usize) -> usize {
    let mut v = Vec::new();
    put_varint_u64(&mut v, n as u64);
    v.len()
}

impl TableMeta {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.min_key.len() + self.max_key.len());
        for value in [
            self.table_id,
            self.created_at_micros,
            self.entry_count,
            self.tombstone_count,
            self.weak_tombstone_count,
            self.data_block_count,
            self.seqno_min,
            self.seqno_max,
        ] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        put_bytes(&mut out, &self.min_key);
        put_bytes(&mut out, &self.max_key);
        let s = &self.settings;
        out.extend_from_slice(&s.block_size.to_le_bytes());
        out.extend_from_slice(&[
            s.restart_interval,
            s.index_restart_interval,
            s.data_compression,
            s.index_compression,
        ]);
        out.extend_from_slice(&s.filter_bits_per_key_milli.to_le_bytes());
        put_bytes(&mut out, self.comparator.as_bytes());
        out.extend_from_slice(&self.weak_tombstone_reclaimable.to_le_bytes());
        // Format 2: every field is present (an empty extractor name and a dictionary id 0 mean
        // none), then the range-tombstone fields.
        put_bytes(
            &mut out,
            self.prefix_extractor
                .as_deref()
                .unwrap_or_default()
                .as_bytes(),
        );
        out.extend_from_slice(&self.zstd_dict_id.to_le_bytes());
        out.push(u8::from(self.max_key_exclusive));
        let block = self.range_tombstone_block.unwrap_or_default();
        for value in [
            self.kv_seqno_max,
            self.range_tombstone_count,
            self.range_tombstone_seqnos.0,
            self.range_tombstone_seqnos.1,
            block.offset,
            block.len,
        ] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out
    }

    /// The raw contents of a format-1 meta block (tables without range tombstones, as older
    /// builds wrote them; for tests of the old format).
    #[cfg(test)]
    pub(crate) fn encode_v1(&self) -> Vec<u8> {
        let mut out = self.encode();
        // The format-2 tail: name, dictionary id, flag, six u64s.
        let tail = varint_len(self.prefix_extractor.as_deref().unwrap_or_default().len())
            + self.prefix_extractor.as_deref().unwrap_or_default().len()
            + 4
            + 1
            + 48;
        out.truncate(out.len() - tail);
        match &self.prefix_extractor {
            Some(name) => put_bytes(&mut out, name.as_bytes()),
            None if self.zstd_dict_id != 0 => put_bytes(&mut out, b""),
            None => {}
        }
        if self.zstd_dict_id != 0 {
            out.extend_from_slice(&self.zstd_dict_id.to_le_bytes());
        }
        out
    }

    /// Decodes the raw contents of the meta block of a table file of `file_len` bytes, and checks
    /// its counts and seqnos against what such a file can hold (see the module documentation).
    pub(crate) fn decode(
        bytes: &[u8],
        file_len: u64,
        version: u32,
    ) -> Result<Self, CorruptionKind> {
        if version >= 2 {
            return Self::decode_v2(bytes, file_len);
        }
        let mut c = Cursor::new(bytes);
        let mut meta = Self::decode_fields_of_every_format(&mut c)?;
        if !c.is_empty() {
            meta.weak_tombstone_reclaimable = c.u64()?;
        }
        if !c.is_empty() {
            let invalid = CorruptionKind::InvalidField("prefix extractor name");
            let name = String::from_utf8(c.bytes()?.to_vec()).map_err(|_| invalid.clone())?;
            // NB: the writer records no field rather than an empty name, unless a later field
            // follows.
            match (name.is_empty(), c.is_empty()) {
                (true, true) => return Err(invalid),
                (true, false) => {}
                (false, _) => meta.prefix_extractor = Some(name),
            }
        }
        if !c.is_empty() {
            meta.zstd_dict_id = c.u32()?;
            if meta.zstd_dict_id == 0 {
                return Err(CorruptionKind::InvalidField("zstd dictionary id"));
            }
        }
        if !c.is_empty() {
            return Err(CorruptionKind::InvalidField("meta length"));
        }
        if meta.seqno_min > meta.seqno_max || meta.entry_count == 0 {
            return Err(CorruptionKind::InvalidField("meta counts"));
        }
        meta.kv_seqno_max = meta.seqno_max;
        meta.check_bounds(file_len)?;
        Ok(meta)
    }

    /// The fields every format has, from the table id to the comparator name.
    fn decode_fields_of_every_format(c: &mut Cursor<'_>) -> Result<Self, CorruptionKind> {
        let mut meta = Self {
            table_id: c.u64()?,
            created_at_micros: c.u64()?,
            entry_count: c.u64()?,
            tombstone_count: c.u64()?,
            weak_tombstone_count: c.u64()?,
            data_block_count: c.u64()?,
            seqno_min: c.u64()?,
            seqno_max: c.u64()?,
            min_key: Slice::new(c.bytes()?),
            max_key: Slice::new(c.bytes()?),
            ..Self::default()
        };
        meta.settings = TableSettings {
            block_size: c.u32()?,
            restart_interval: c.u8()?,
            index_restart_interval: c.u8()?,
            data_compression: c.u8()?,
            index_compression: c.u8()?,
            filter_bits_per_key_milli: c.u32()?,
        };
        meta.comparator = String::from_utf8(c.bytes()?.to_vec())
            .map_err(|_| CorruptionKind::InvalidField("comparator name"))?;
        Ok(meta)
    }

    /// Decodes a format-2 meta block: every field present.
    fn decode_v2(bytes: &[u8], file_len: u64) -> Result<Self, CorruptionKind> {
        let mut c = Cursor::new(bytes);
        let mut meta = Self::decode_fields_of_every_format(&mut c)?;
        meta.weak_tombstone_reclaimable = c.u64()?;
        let name = String::from_utf8(c.bytes()?.to_vec())
            .map_err(|_| CorruptionKind::InvalidField("prefix extractor name"))?;
        meta.prefix_extractor = (!name.is_empty()).then_some(name);
        meta.zstd_dict_id = c.u32()?;
        meta.max_key_exclusive = match c.u8()? {
            0 => false,
            1 => true,
            _ => return Err(CorruptionKind::InvalidField("meta flags")),
        };
        meta.kv_seqno_max = c.u64()?;
        meta.range_tombstone_count = c.u64()?;
        meta.range_tombstone_seqnos = (c.u64()?, c.u64()?);
        let block = BlockHandle {
            offset: c.u64()?,
            len: c.u64()?,
        };
        if !c.is_empty() {
            return Err(CorruptionKind::InvalidField("meta length"));
        }
        let (rt_min, rt_max) = meta.range_tombstone_seqnos;
        let has_rts = meta.range_tombstone_count > 0;
        let has_entries = meta.entry_count > 0;
        let body_end = file_len.saturating_sub(FOOTER_LEN as u64);
        let block_ok = block
            .offset
            .checked_add(block.len)
            .is_some_and(|end| end <= body_end);
        let checks = [
            (!has_entries && !has_rts, "meta counts"),
            (meta.seqno_min > meta.seqno_max, "meta seqno range"),
            (
                has_entries
                    && (meta.kv_seqno_max > meta.seqno_max || meta.kv_seqno_max < meta.seqno_min),
                "meta seqno range",
            ),
            (!has_entries && meta.kv_seqno_max != 0, "meta seqno range"),
            (
                has_rts && (rt_min > rt_max || rt_min < meta.seqno_min || rt_max > meta.seqno_max),
                "meta range tombstone seqnos",
            ),
            (
                !has_rts && (rt_min, rt_max) != (0, 0),
                "meta range tombstone seqnos",
            ),
            (
                has_rts != (block.len > 0) || (!has_rts && block.offset != 0) || !block_ok,
                "range tombstone block handle",
            ),
            // Each fragment takes at least 5 bytes of its block.
            (
                meta.range_tombstone_count > block.len,
                "meta range tombstone count",
            ),
            (meta.max_key_exclusive && !has_rts, "meta flags"),
        ];
        if let Some((_, what)) = checks.into_iter().find(|(bad, _)| *bad) {
            return Err(CorruptionKind::InvalidField(what));
        }
        meta.range_tombstone_block = has_rts.then_some(block);
        meta.check_bounds(file_len)?;
        Ok(meta)
    }

    /// Checks the counts and the seqno range against a file of `file_len` bytes.
    fn check_bounds(&self, file_len: u64) -> Result<(), CorruptionKind> {
        let zstd = |byte| {
            byte == crate::compression::ZSTD_BYTE || byte == crate::compression::ZSTD_DICT_BYTE
        };
        let expansion =
            if zstd(self.settings.data_compression) || zstd(self.settings.index_compression) {
                MAX_ZSTD_EXPANSION
            } else {
                MAX_EXPANSION
            };
        let max_entries = file_len.saturating_mul(expansion) / MIN_ENTRY_LEN;
        let deletes = self
            .tombstone_count
            .checked_add(self.weak_tombstone_count)
            .ok_or(CorruptionKind::InvalidField("meta tombstone count"))?;
        let max_blocks = (file_len / HEADER_LEN as u64).min(self.entry_count);
        let blocks_ok = if self.entry_count == 0 {
            self.data_block_count == 0
        } else {
            self.data_block_count > 0 && self.data_block_count <= max_blocks
        };
        let checks = [
            (self.entry_count > max_entries, "meta entry count"),
            (deletes > self.entry_count, "meta tombstone count"),
            (
                // Each reclaimable pair holds a weak tombstone of its own.
                self.weak_tombstone_reclaimable > self.weak_tombstone_count,
                "meta weak tombstone reclaimable count",
            ),
            (!blocks_ok, "meta data block count"),
            (self.seqno_max > MAX_SEQNO, "meta seqno range"),
        ];
        match checks.into_iter().find(|(bad, _)| *bad) {
            Some((_, what)) => Err(CorruptionKind::InvalidField(what)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    reason = "test code: an out-of-bounds index is a failed test"
)]
mod tests {
    use super::*;

    /// A file size large enough for [`sample_meta`]'s counts.
    const FILE_LEN: u64 = 1 << 20;

    fn sample_meta() -> TableMeta {
        TableMeta {
            table_id: 7,
            created_at_micros: 1_700_000_000_000_000,
            entry_count: 10,
            tombstone_count: 2,
            weak_tombstone_count: 1,
            data_block_count: 3,
            seqno_min: 4,
            seqno_max: 99,
            min_key: Slice::from("aa"),
            max_key: Slice::from("zz"),
            settings: TableSettings {
                block_size: 4096,
                restart_interval: 16,
                index_restart_interval: 1,
                data_compression: 0,
                index_compression: 0,
                filter_bits_per_key_milli: 10_000,
            },
            comparator: "default".into(),
            weak_tombstone_reclaimable: 1,
            prefix_extractor: Some("px".into()),
            zstd_dict_id: 0,
            kv_seqno_max: 99,
            ..TableMeta::default()
        }
    }

    /// A format-2 meta block of a table with range tombstones.
    fn sample_meta_v2() -> TableMeta {
        TableMeta {
            seqno_max: 120,
            kv_seqno_max: 99,
            max_key_exclusive: true,
            range_tombstone_count: 2,
            range_tombstone_seqnos: (50, 120),
            range_tombstone_block: Some(BlockHandle {
                offset: 4000,
                len: 40,
            }),
            ..sample_meta()
        }
    }

    #[test]
    fn format_2_meta_round_trips_and_rejects_every_truncation() {
        for meta in [sample_meta(), sample_meta_v2()] {
            let bytes = meta.encode();
            assert_eq!(TableMeta::decode(&bytes, FILE_LEN, 2).unwrap(), meta);
            for len in 0..bytes.len() {
                assert!(
                    TableMeta::decode(&bytes[..len], FILE_LEN, 2).is_err(),
                    "len {len}"
                );
            }
        }
        // A table with range tombstones and no entry is legal: no data block, kv seqno 0.
        let only = TableMeta {
            entry_count: 0,
            tombstone_count: 0,
            weak_tombstone_count: 0,
            weak_tombstone_reclaimable: 0,
            data_block_count: 0,
            seqno_min: 50,
            kv_seqno_max: 0,
            ..sample_meta_v2()
        };
        assert_eq!(
            TableMeta::decode(&only.encode(), FILE_LEN, 2).unwrap(),
            only
        );
    }

    #[test]
    fn golden_bytes_of_the_format_2_tail() {
        let bytes = sample_meta_v2().encode();
        let tail = [
            &1u64.to_le_bytes()[..],
            &[2],
            b"px",
            &[0, 0, 0, 0],
            &[1],
            &99u64.to_le_bytes(),
            &2u64.to_le_bytes(),
            &50u64.to_le_bytes(),
            &120u64.to_le_bytes(),
            &4000u64.to_le_bytes(),
            &40u64.to_le_bytes(),
        ]
        .concat();
        assert!(bytes.ends_with(&tail), "{bytes:?}");
    }

    #[test]
    fn inconsistent_range_tombstone_fields_are_corruption() {
        let bad = |what: &'static str, edit: &dyn Fn(&mut TableMeta)| {
            let mut meta = sample_meta_v2();
            edit(&mut meta);
            assert_eq!(
                TableMeta::decode(&meta.encode(), FILE_LEN, 2),
                Err(CorruptionKind::InvalidField(what)),
                "{what}"
            );
        };
        bad("meta range tombstone seqnos", &|m| {
            m.range_tombstone_seqnos = (130, 120);
        });
        bad("meta range tombstone seqnos", &|m| {
            m.range_tombstone_seqnos = (50, 121);
        });
        bad("range tombstone block handle", &|m| {
            m.range_tombstone_block = None;
        });
        bad("range tombstone block handle", &|m| {
            m.range_tombstone_block = Some(BlockHandle {
                offset: u64::MAX,
                len: 40,
            });
        });
        bad("meta range tombstone count", &|m| {
            m.range_tombstone_count = 41;
        });
        bad("meta seqno range", &|m| m.kv_seqno_max = 121);
        bad("meta counts", &|m| {
            m.entry_count = 0;
            m.tombstone_count = 0;
            m.weak_tombstone_count = 0;
            m.weak_tombstone_reclaimable = 0;
            m.range_tombstone_count = 0;
            m.range_tombstone_seqnos = (0, 0);
            m.range_tombstone_block = None;
        });
        let mut flags = sample_meta().encode();
        let at = flags.len() - 49;
        flags[at] = 2;
        assert_eq!(
            TableMeta::decode(&flags, FILE_LEN, 2),
            Err(CorruptionKind::InvalidField("meta flags"))
        );
    }

    #[test]
    fn meta_round_trips_and_rejects_every_truncation() {
        let meta = sample_meta();
        let bytes = meta.encode_v1();
        assert_eq!(TableMeta::decode(&bytes, FILE_LEN, 1).unwrap(), meta);
        // The optional trailing fields: 8 bytes of reclaimable count, 3 of extractor name.
        let without_name = bytes.len() - 3;
        for len in 0..bytes.len() {
            if len == without_name {
                // A meta block without an extractor, or from before the field existed.
                let old = TableMeta::decode(&bytes[..len], FILE_LEN, 1).unwrap();
                assert_eq!(old.prefix_extractor, None);
                assert_eq!(old.weak_tombstone_reclaimable, 1);
                continue;
            }
            if len == without_name - 8 {
                // A meta block from before both optional trailing fields.
                let old = TableMeta::decode(&bytes[..len], FILE_LEN, 1).unwrap();
                assert_eq!(old.weak_tombstone_reclaimable, 0);
                continue;
            }
            assert!(
                TableMeta::decode(&bytes[..len], FILE_LEN, 1).is_err(),
                "len {len}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(TableMeta::decode(&longer, FILE_LEN, 1).is_err());
    }

    #[test]
    fn golden_bytes_pin_the_optional_trailing_fields() {
        let bytes = sample_meta().encode_v1();
        // ... comparator name "default", reclaimable count 1, extractor name "px".
        let tail = [&[7][..], b"default", &1u64.to_le_bytes(), &[2], b"px"].concat();
        assert!(bytes.ends_with(&tail), "{bytes:?}");
        let mut none = sample_meta();
        none.prefix_extractor = None;
        assert_eq!(none.encode_v1(), bytes[..bytes.len() - 3]);
        // A present but empty name, or one that is not UTF-8, is corruption.
        for bad in [&[0][..], &[1, 0xff]] {
            let mut damaged = none.encode_v1();
            damaged.extend_from_slice(bad);
            assert_eq!(
                TableMeta::decode(&damaged, FILE_LEN, 1),
                Err(CorruptionKind::InvalidField("prefix extractor name"))
            );
        }
    }

    #[test]
    fn golden_bytes_of_the_zstd_dictionary_id() {
        let mut meta = sample_meta();
        meta.zstd_dict_id = 0x0102_0304;
        let bytes = meta.encode_v1();
        let tail = [&1u64.to_le_bytes()[..], &[2], b"px", &[4, 3, 2, 1]].concat();
        assert!(bytes.ends_with(&tail), "{bytes:?}");
        assert_eq!(TableMeta::decode(&bytes, FILE_LEN, 1).unwrap(), meta);
        // Without an extractor, an empty name stands before the id.
        meta.prefix_extractor = None;
        let bytes = meta.encode_v1();
        let tail = [&1u64.to_le_bytes()[..], &[0], &[4, 3, 2, 1]].concat();
        assert!(bytes.ends_with(&tail), "{bytes:?}");
        assert_eq!(TableMeta::decode(&bytes, FILE_LEN, 1).unwrap(), meta);
        // An id of 0 is written as no field; stored, it is corruption.
        let mut zero = bytes[..bytes.len() - 4].to_vec();
        zero.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            TableMeta::decode(&zero, FILE_LEN, 1),
            Err(CorruptionKind::InvalidField("zstd dictionary id"))
        );
        // A cut id is corruption.
        assert!(TableMeta::decode(&bytes[..bytes.len() - 1], FILE_LEN, 1).is_err());
    }

    /// Regression: counts of `u64::MAX` were accepted and overflowed the tree's sums
    /// (`Tree::approximate_len`), and a seqno above `MAX_SEQNO` was accepted and later written
    /// to a manifest that the next open refused.
    #[test]
    fn counts_and_seqnos_the_file_cannot_hold_are_corruption() {
        let sample = sample_meta();
        let bad = |what: &'static str, edit: &dyn Fn(&mut TableMeta), file_len: u64| {
            let mut meta = sample.clone();
            edit(&mut meta);
            assert_eq!(
                TableMeta::decode(&meta.encode_v1(), file_len, 1),
                Err(CorruptionKind::InvalidField(what)),
                "{what}"
            );
        };
        bad("meta entry count", &|m| m.entry_count = u64::MAX, FILE_LEN);
        // 10 entries need at least 10 × 5 raw bytes: 50 / 255 stored bytes round up to 1.
        bad("meta entry count", &|_| {}, 0);
        bad(
            "meta tombstone count",
            &|m| m.tombstone_count = u64::MAX,
            FILE_LEN,
        );
        bad(
            "meta tombstone count",
            &|m| m.weak_tombstone_count = u64::MAX,
            FILE_LEN,
        );
        bad(
            "meta tombstone count",
            &|m| m.tombstone_count = 10,
            FILE_LEN,
        );
        bad(
            "meta weak tombstone reclaimable count",
            &|m| m.weak_tombstone_reclaimable = u64::MAX,
            FILE_LEN,
        );
        bad(
            "meta data block count",
            &|m| m.data_block_count = 0,
            FILE_LEN,
        );
        bad(
            "meta data block count",
            &|m| m.data_block_count = 11,
            FILE_LEN,
        );
        bad(
            "meta data block count",
            &|m| m.data_block_count = u64::MAX,
            FILE_LEN,
        );
        // Three data blocks need three headers in the file.
        bad("meta data block count", &|_| {}, 3 * HEADER_LEN as u64 - 1);
        bad(
            "meta seqno range",
            &|m| m.seqno_max = MAX_SEQNO + 1,
            FILE_LEN,
        );
        bad(
            "meta seqno range",
            &|m| {
                m.seqno_min = u64::MAX;
                m.seqno_max = u64::MAX;
            },
            FILE_LEN,
        );
        // The largest values a file of this size can back are accepted.
        let mut edge = sample.clone();
        edge.entry_count = FILE_LEN * 255 / MIN_ENTRY_LEN;
        edge.tombstone_count = edge.entry_count - 1;
        edge.weak_tombstone_count = 1;
        edge.weak_tombstone_reclaimable = 1;
        edge.data_block_count = FILE_LEN / HEADER_LEN as u64;
        edge.seqno_max = MAX_SEQNO;
        edge.kv_seqno_max = MAX_SEQNO;
        assert_eq!(
            TableMeta::decode(&edge.encode_v1(), FILE_LEN, 1),
            Ok(edge.clone())
        );
        assert_eq!(TableMeta::decode(&edge.encode(), FILE_LEN, 2), Ok(edge));
    }

    #[test]
    fn footer_golden_bytes_and_validation() {
        let footer = Footer {
            index: BlockHandle {
                offset: 100,
                len: 20,
            },
            filter: Some(BlockHandle {
                offset: 120,
                len: 30,
            }),
            meta: BlockHandle {
                offset: 150,
                len: 40,
            },
            index_partitioned: true,
            filter_partitioned: false,
            version: 1,
        };
        let bytes = footer.encode();
        let mut expected = Vec::new();
        for v in [100u64, 20, 120, 30, 150, 40] {
            expected.extend_from_slice(&v.to_le_bytes());
        }
        expected.extend_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0]);
        expected.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&expected).to_le_bytes());
        expected.extend_from_slice(b"STRATAT1");
        assert_eq!(bytes.to_vec(), expected);
        let file_len = 190 + FOOTER_LEN as u64;
        assert_eq!(Footer::decode(&bytes, file_len), Ok(footer));
        // A handle past the end of the body is corruption.
        assert!(matches!(
            Footer::decode(&bytes, file_len - 1),
            Err(FooterError::Corrupt(_))
        ));
        let mut bad = bytes;
        bad[70] ^= 1;
        assert_eq!(
            Footer::decode(&bad, file_len),
            Err(FooterError::Corrupt(CorruptionKind::BadMagic))
        );
        // A flipped version byte is caught by the checksum, not taken for a future format.
        let mut flipped = bytes;
        flipped[52] = 4;
        assert!(matches!(
            Footer::decode(&flipped, file_len),
            Err(FooterError::Corrupt(
                CorruptionKind::ChecksumMismatch { .. }
            ))
        ));
        // An intact footer of another version is an unsupported format.
        let mut future = flipped;
        let sum = xxhash_rust::xxh3::xxh3_64(&future[..56]).to_le_bytes();
        future[56..64].copy_from_slice(&sum);
        assert_eq!(
            Footer::decode(&future, file_len),
            Err(FooterError::UnsupportedVersion(4))
        );
        // Formats 2 and 3 differ in the version bytes only.
        for version in [2u8, 3] {
            let later = Footer {
                version: u32::from(version),
                ..footer
            };
            let bytes = later.encode();
            assert_eq!(&bytes[52..56], &[version, 0, 0, 0]);
            assert_eq!(Footer::decode(&bytes, file_len), Ok(later));
        }
    }

    #[test]
    fn handles_round_trip_and_reject_trailing_bytes() {
        let h = BlockHandle {
            offset: 1 << 40,
            len: 4096,
        };
        assert_eq!(BlockHandle::decode(&h.encode()), Ok(h));
        let mut longer = h.encode();
        longer.push(0);
        assert!(BlockHandle::decode(&longer).is_err());
        assert!(BlockHandle::decode(&[]).is_err());
    }
}
