//! Verifying a table file block by block, for `strata::verify` and `strata verify`.
//!
//! [`Table::open`](super::reader::Table::open) stops at the first bad byte, and a table reads a
//! data block only when a read needs it. A verifier reads every block the file names instead:
//! the meta block, the (top-level) index and its partitions, the filter or filter index and its
//! partitions, and every data block. Each goes through the reader's own decoders: the envelope
//! ([`decode_block`]: checksum, type, compression), then [`DataBlock`] (restart array and every
//! entry), [`FilterReader`] or [`TableMeta`]. Then it checks what the blocks say about each other:
//!
//! 1. entries in strictly ascending internal-key order across the whole table;
//! 2. each index key equal to the last internal key of the block it points to;
//! 3. every user key found by the filter (no false negative);
//! 4. the meta block's counts, key range and seqno range equal to what the entries hold;
//! 5. the blocks packed edge to edge from offset 0 up to the footer (`docs/format.md`, "The whole
//!    file"), checked only when every handle could be read.
//!
//! Checks 1 to 4 need the comparator the table was written with; they run only when the meta
//! block names the one given. A damaged block does not stop the walk: every damage found is
//! reported, each as an [`Error::Corruption`] naming the file and the offset of the block (or of
//! the footer). Only an I/O failure ends it early. Reads only, through no cache.

#![deny(clippy::indexing_slicing)]

use std::collections::HashMap;
use std::path::Path;

use super::block::{BlockType, decode_block_with};
use super::data_block::DataBlock;
use super::filter::{FilterReader, key_hash};
use super::meta::{BlockHandle, FOOTER_LEN, Footer, FooterError, TableMeta};
use crate::compression::ZstdDictionary;
use crate::error::{CorruptionKind, Error, Result};
use crate::fs::{Fs, FsReadFile};
use crate::key::{Comparator, InternalValue, ValueType};
use crate::range_tombstone::FragList;
use crate::seqno::SeqNo;
use crate::slice::Slice;

/// What verifying one table file found.
#[derive(Debug, Default)]
pub struct TableCheck {
    /// The file's size in bytes.
    #[cfg_attr(
        not(feature = "internals"),
        allow(dead_code, reason = "read by tools, through `strata::internals`")
    )]
    pub file_size: u64,
    /// The meta block, if it decoded.
    pub meta: Option<TableMeta>,
    /// Blocks read and verified (whether or not they were damaged).
    pub blocks_checked: u64,
    /// Bytes read and verified: every block read and the footer.
    pub bytes_checked: u64,
    /// Entries decoded from data blocks.
    pub entries_checked: u64,
    /// Whether the cross-block checks (order, index keys, filter, meta counts) ran: they need the
    /// table's comparator.
    pub cross_checked: bool,
    /// Every damage found, each an `Error::Corruption` (or `UnsupportedFormat` for an intact
    /// footer of another format version), in file order of discovery.
    pub damages: Vec<Error>,
}

/// What the entries of the data blocks add up to, for the meta block check.
#[derive(Default)]
struct Totals {
    entries: u64,
    tombstones: u64,
    weak_tombstones: u64,
    weak_reclaimable: u64,
    seqno_min: Option<SeqNo>,
    seqno_max: Option<SeqNo>,
    min_key: Option<Slice>,
    /// The last entry seen: its key, seqno and type.
    last: Option<(Slice, SeqNo, ValueType)>,
}

/// The filter as read: nothing, one block, or a filter index over partitions.
enum Filter {
    None,
    Full {
        raw: Slice,
        at: u64,
    },
    Partitioned {
        index: DataBlock,
        at: u64,
        parts: HashMap<u64, Slice>,
    },
}

struct Verifier<'a> {
    path: &'a Path,
    file: Box<dyn FsReadFile>,
    /// Where the footer starts: every block ends at or before it.
    body_end: u64,
    cmp: &'a Comparator,
    /// The tree's zstd dictionary, for tables whose meta block names it.
    dictionary: Option<&'a ZstdDictionary>,
    /// The tree's encryption provider, for encrypted blocks.
    encryption: Option<&'a dyn crate::EncryptionProvider>,
    /// The blocks reached: (offset, length on disk).
    spans: Vec<(u64, u64)>,
    check: TableCheck,
}

impl Verifier<'_> {
    fn damage(&mut self, offset: u64, what: CorruptionKind) {
        self.check.damages.push(Error::Corruption {
            file: self.path.to_path_buf(),
            offset,
            what,
        });
    }

    /// Reads and verifies the block at `handle`; its raw contents, or `None` after recording
    /// the damage.
    fn block(&mut self, handle: BlockHandle, block_type: BlockType) -> Result<Option<Slice>> {
        let in_bounds = handle
            .offset
            .checked_add(handle.len)
            .is_some_and(|end| end <= self.body_end);
        let Some(len) = usize::try_from(handle.len).ok().filter(|_| in_bounds) else {
            self.damage(handle.offset, CorruptionKind::InvalidField("block handle"));
            return Ok(None);
        };
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, handle.offset)
            .map_err(|e| Error::io("read table block", Some(self.path.to_path_buf()), e))?;
        self.spans.push((handle.offset, handle.len));
        self.check.blocks_checked += 1;
        self.check.bytes_checked += handle.len;
        match decode_block_with(
            &Slice::from(buf),
            block_type,
            self.dictionary,
            self.encryption,
        ) {
            Ok(raw) => Ok(Some(raw)),
            Err(error) => {
                self.check.damages.push(error.at(self.path, handle.offset));
                Ok(None)
            }
        }
    }

    /// Reads an index (or filter index) block and decodes its entries.
    fn index_entries(
        &mut self,
        handle: BlockHandle,
    ) -> Result<Option<(DataBlock, Vec<InternalValue>)>> {
        let Some(raw) = self.block(handle, BlockType::Index)? else {
            return Ok(None);
        };
        let decoded = DataBlock::new(raw).and_then(|block| block.entries().map(|e| (block, e)));
        match decoded {
            Ok(found) => Ok(Some(found)),
            Err(what) => {
                self.damage(handle.offset, what);
                Ok(None)
            }
        }
    }

    /// The handles an index block's entries hold, with their keys; damaged ones are recorded and
    /// skipped.
    fn handles(
        &mut self,
        entries: Vec<InternalValue>,
        at: u64,
    ) -> Vec<(Slice, SeqNo, BlockHandle)> {
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            match BlockHandle::decode(&entry.value) {
                Ok(handle) => out.push((entry.key.user_key, entry.key.seqno, handle)),
                Err(what) => self.damage(at, what),
            }
        }
        out
    }

    /// Every data block's handle with its index key, through the index partitions if any.
    /// `None` if the top-level index is unreadable.
    fn data_handles(
        &mut self,
        footer: &Footer,
    ) -> Result<Option<Vec<(Slice, SeqNo, BlockHandle)>>> {
        let at = footer.index.offset;
        let Some((_, top)) = self.index_entries(footer.index)? else {
            return Ok(None);
        };
        let top = self.handles(top, at);
        if !footer.index_partitioned {
            return Ok(Some(top));
        }
        let mut out = Vec::new();
        for (key, seqno, handle) in top {
            let Some((_, entries)) = self.index_entries(handle)? else {
                continue;
            };
            let last = entries
                .last()
                .map(|e| (e.key.user_key.clone(), e.key.seqno));
            if last.as_ref().is_none_or(|(k, s)| *k != key || *s != seqno) {
                self.damage(handle.offset, CorruptionKind::InvalidField("index key"));
            }
            let handles = self.handles(entries, handle.offset);
            out.extend(handles);
        }
        Ok(Some(out))
    }

    fn filter(&mut self, footer: &Footer) -> Result<Filter> {
        let Some(handle) = footer.filter else {
            return Ok(Filter::None);
        };
        if !footer.filter_partitioned {
            let Some(raw) = self.block(handle, BlockType::Filter)? else {
                return Ok(Filter::None);
            };
            if FilterReader::new(&raw).is_err() {
                self.damage(handle.offset, CorruptionKind::InvalidField("filter"));
                return Ok(Filter::None);
            }
            return Ok(Filter::Full {
                raw,
                at: handle.offset,
            });
        }
        let Some((index, entries)) = self.index_entries(handle)? else {
            return Ok(Filter::None);
        };
        let mut parts = HashMap::new();
        for (_, _, part) in self.handles(entries, handle.offset) {
            if let Some(raw) = self.block(part, BlockType::Filter)? {
                if FilterReader::new(&raw).is_ok() {
                    parts.insert(part.offset, raw);
                } else {
                    self.damage(part.offset, CorruptionKind::InvalidField("filter"));
                }
            }
        }
        Ok(Filter::Partitioned {
            index,
            at: handle.offset,
            parts,
        })
    }

    /// Whether the filter admits `key`; `None` when the filter part that covers it is unreadable
    /// (already reported), and the offset of the filter block to blame otherwise.
    fn filter_admits(&self, filter: &Filter, key: &[u8]) -> Option<(bool, u64)> {
        let hash = key_hash(key);
        match filter {
            Filter::None => None,
            Filter::Full { raw, at } => {
                let reader = FilterReader::new(raw).ok()?;
                Some((reader.may_contain_hash(hash), *at))
            }
            Filter::Partitioned { index, at, parts } => {
                let Ok(Some(entry)) = index.seek(self.cmp, key, SeqNo::MAX >> 1) else {
                    return Some((false, *at));
                };
                let part = BlockHandle::decode(&entry.value).ok()?;
                let reader = FilterReader::new(parts.get(&part.offset)?).ok()?;
                Some((reader.may_contain_hash(hash), part.offset))
            }
        }
    }

    /// Checks the entries of one data block against the order so far, its index key and the
    /// filter, and adds them to the totals.
    fn check_entries(
        &mut self,
        entries: &[InternalValue],
        index_key: (&Slice, SeqNo),
        handle: BlockHandle,
        filter: &Filter,
        totals: &mut Totals,
    ) {
        let mut misordered = false;
        let mut missing_from_filter = None;
        for entry in entries {
            let key = &entry.key.user_key;
            let seqno = entry.key.seqno;
            let new_user_key = match &totals.last {
                Some((last_key, last_seqno, _)) => {
                    if self
                        .cmp
                        .internal((last_key, *last_seqno), (key, seqno))
                        .is_ge()
                    {
                        misordered = true;
                    }
                    self.cmp.user(last_key, key).is_ne()
                }
                None => true,
            };
            if new_user_key && let Some((false, at)) = self.filter_admits(filter, key) {
                missing_from_filter.get_or_insert(at);
            }
            totals.entries += 1;
            match entry.key.value_type {
                ValueType::Tombstone => totals.tombstones += 1,
                ValueType::WeakTombstone => totals.weak_tombstones += 1,
                ValueType::Value | ValueType::Indirection
                    if !new_user_key
                        && matches!(totals.last, Some((_, _, ValueType::WeakTombstone))) =>
                {
                    totals.weak_reclaimable += 1;
                }
                ValueType::Value | ValueType::MergeOperand | ValueType::Indirection => {}
            }
            totals.seqno_min = Some(totals.seqno_min.map_or(seqno, |s| s.min(seqno)));
            totals.seqno_max = Some(totals.seqno_max.map_or(seqno, |s| s.max(seqno)));
            if totals.min_key.is_none() {
                totals.min_key = Some(key.clone());
            }
            totals.last = Some((key.clone(), seqno, entry.key.value_type));
        }
        if misordered {
            self.damage(handle.offset, CorruptionKind::InvalidField("entry order"));
        }
        if let Some(at) = missing_from_filter {
            self.damage(at, CorruptionKind::InvalidField("filter misses a key"));
        }
        let last = entries.last().map(|e| (&e.key.user_key, e.key.seqno));
        if last != Some(index_key) {
            self.damage(handle.offset, CorruptionKind::InvalidField("index key"));
        }
    }

    /// The meta block, decoded (`None` when it is damaged: the damage is recorded).
    fn meta(&mut self, footer: &Footer) -> Result<Option<TableMeta>> {
        let Some(raw) = self.block(footer.meta, BlockType::Meta)? else {
            return Ok(None);
        };
        Ok(
            match TableMeta::decode(&raw, self.check.file_size, footer.version) {
                Ok(meta) => Some(meta),
                Err(what) => {
                    self.damage(footer.meta.offset, what);
                    None
                }
            },
        )
    }

    /// The range-tombstone block the meta block names, decoded (empty without one, or when it
    /// is damaged: the damage is recorded).
    fn range_tombstones(&mut self, meta: Option<&TableMeta>) -> Result<FragList> {
        let Some(handle) = meta.and_then(|m| m.range_tombstone_block) else {
            return Ok(FragList::default());
        };
        let Some(raw) = self.block(handle, BlockType::RangeTombstones)? else {
            return Ok(FragList::default());
        };
        Ok(FragList::decode(&raw, self.cmp).unwrap_or_else(|what| {
            self.damage(handle.offset, what);
            FragList::default()
        }))
    }

    /// Compares the meta block with what the entries and the range tombstones hold.
    fn check_meta(
        &mut self,
        meta: &TableMeta,
        at: u64,
        totals: &Totals,
        data_blocks: u64,
        range_tombstones: &FragList,
    ) {
        let cmp = self.cmp;
        let rts = range_tombstones.seqno_range();
        let seqno_min = [totals.seqno_min, rts.map(|r| r.0)]
            .into_iter()
            .flatten()
            .min();
        let seqno_max = [totals.seqno_max, rts.map(|r| r.1)]
            .into_iter()
            .flatten()
            .max();
        let span = range_tombstones.key_span();
        let mut min_key = totals.min_key.clone();
        let mut max_key = totals.last.as_ref().map(|(k, _, _)| (k.clone(), false));
        if let Some((first, last)) = span {
            if min_key.as_ref().is_none_or(|k| cmp.user(first, k).is_lt()) {
                min_key = Some(first.clone());
            }
            if max_key
                .as_ref()
                .is_none_or(|(k, _)| cmp.user(last, k).is_gt())
            {
                max_key = Some((last.clone(), true));
            }
        }
        let mismatches = [
            (
                meta.kv_seqno_max != totals.seqno_max.unwrap_or(0),
                "meta seqno range",
            ),
            (
                meta.range_tombstone_count != range_tombstones.len() as u64
                    || (meta.range_tombstone_count > 0 && Some(meta.range_tombstone_seqnos) != rts),
                "meta range tombstone count",
            ),
            (meta.entry_count != totals.entries, "meta entry count"),
            (
                meta.tombstone_count != totals.tombstones,
                "meta tombstone count",
            ),
            (
                meta.weak_tombstone_count != totals.weak_tombstones,
                "meta weak tombstone count",
            ),
            (
                meta.weak_tombstone_reclaimable != totals.weak_reclaimable,
                "meta weak tombstone reclaimable count",
            ),
            (
                meta.data_block_count != data_blocks,
                "meta data block count",
            ),
            (
                Some(meta.seqno_min) != seqno_min || Some(meta.seqno_max) != seqno_max,
                "meta seqno range",
            ),
            (
                min_key.as_ref() != Some(&meta.min_key)
                    || max_key != Some((meta.max_key.clone(), meta.max_key_exclusive)),
                "meta key range",
            ),
        ];
        for (wrong, what) in mismatches {
            if wrong {
                self.damage(at, CorruptionKind::InvalidField(what));
            }
        }
    }

    /// Checks that the blocks reached tile the file from 0 to the footer.
    fn check_layout(&mut self) {
        let mut spans = std::mem::take(&mut self.spans);
        spans.sort_unstable();
        let mut expected = 0;
        for (offset, len) in spans {
            if offset != expected {
                self.damage(
                    expected.min(offset),
                    CorruptionKind::InvalidField("block layout"),
                );
                return;
            }
            expected = offset.saturating_add(len);
        }
        if expected != self.body_end {
            self.damage(expected, CorruptionKind::InvalidField("block layout"));
        }
    }
}

/// Verifies the table at `path`, reading every block; see the module documentation.
///
/// # Errors
/// `Io` if the file cannot be opened or read. Damage is not an error: it is listed in
/// [`TableCheck::damages`].
#[cfg(any(test, feature = "internals"))]
pub(crate) fn verify_table(
    fs: &dyn Fs,
    path: &Path,
    cmp: &Comparator,
    dictionary: Option<&ZstdDictionary>,
) -> Result<TableCheck> {
    verify_table_with(fs, path, cmp, dictionary, None)
}

/// [`verify_table`] of a table that may be encrypted with `encryption`'s key.
///
/// # Errors
/// As [`verify_table`].
pub(crate) fn verify_table_with(
    fs: &dyn Fs,
    path: &Path,
    cmp: &Comparator,
    dictionary: Option<&ZstdDictionary>,
    encryption: Option<&dyn crate::EncryptionProvider>,
) -> Result<TableCheck> {
    let file = fs
        .open(path)
        .map_err(|e| Error::io("open table", Some(path.to_path_buf()), e))?;
    let file_size = file
        .size_bytes()
        .map_err(|e| Error::io("stat table", Some(path.to_path_buf()), e))?;
    let mut v = Verifier {
        path,
        file,
        body_end: 0,
        cmp,
        dictionary: None,
        encryption,
        spans: Vec::new(),
        check: TableCheck {
            file_size,
            ..TableCheck::default()
        },
    };
    let Some(body_end) = file_size.checked_sub(FOOTER_LEN as u64) else {
        v.damage(0, CorruptionKind::Truncated);
        return Ok(v.check);
    };
    v.body_end = body_end;
    let mut footer_bytes = [0u8; FOOTER_LEN];
    v.file
        .read_exact_at(&mut footer_bytes, body_end)
        .map_err(|e| Error::io("read table footer", Some(path.to_path_buf()), e))?;
    v.check.bytes_checked += FOOTER_LEN as u64;
    let footer = match Footer::decode(&footer_bytes, file_size) {
        Ok(footer) => footer,
        Err(FooterError::Corrupt(what)) => {
            v.damage(body_end, what);
            return Ok(v.check);
        }
        Err(FooterError::UnsupportedVersion(version)) => {
            v.check.damages.push(Error::UnsupportedFormat {
                file: path.to_path_buf(),
                version,
                missing: None,
            });
            return Ok(v.check);
        }
    };
    let meta = v.meta(&footer)?;
    if let Some(stored) = meta.as_ref().map(|m| m.zstd_dict_id).filter(|&id| id != 0) {
        if let Err(error) = super::reader::check_dictionary(path, stored, dictionary) {
            v.check.damages.push(error);
            v.check.meta = meta;
            return Ok(v.check);
        }
        v.dictionary = dictionary;
    }
    let cross_check = meta.as_ref().is_some_and(|m| m.comparator == cmp.name());
    let range_tombstones = v.range_tombstones(meta.as_ref())?;
    let data_handles = v.data_handles(&footer)?;
    let filter = v.filter(&footer)?;
    let mut totals = Totals::default();
    let mut data_intact = data_handles.is_some();
    for (key, seqno, handle) in data_handles.iter().flatten() {
        let Some(raw) = v.block(*handle, BlockType::Data)? else {
            data_intact = false;
            continue;
        };
        let entries = match DataBlock::new(raw).and_then(|block| block.entries()) {
            Ok(entries) => entries,
            Err(what) => {
                v.damage(handle.offset, what);
                data_intact = false;
                continue;
            }
        };
        v.check.entries_checked += entries.len() as u64;
        if cross_check {
            v.check_entries(&entries, (key, *seqno), *handle, &filter, &mut totals);
        }
    }
    if cross_check
        && data_intact
        && let (Some(meta), Some(handles)) = (&meta, &data_handles)
    {
        v.check_meta(
            meta,
            footer.meta.offset,
            &totals,
            handles.len() as u64,
            &range_tombstones,
        );
    }
    v.check.cross_checked = cross_check;
    if v.check.damages.is_empty() {
        v.check_layout();
    }
    v.check.meta = meta;
    Ok(v.check)
}

#[cfg(test)]
mod tests;
