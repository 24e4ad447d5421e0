//! The table writer: streams sorted entries into a table file.
//!
//! File layout (see `docs/format.md` for every byte):
//!
//! ```text
//! [data block 0] .. [data block n-1]
//! [index partitions..] [index block]             (partitioned index: the index block points to
//!                                                  the partitions; full index: the index block
//!                                                  points to the data blocks)
//! [filter partitions..] [filter index block]      (or one filter block; or nothing)
//! [meta block] [footer: 72 bytes]
//! ```
//!
//! Entries must arrive in internal-key order (user key through the comparator, then seqno
//! descending), each internal key once; the writer refuses anything else with
//! `Error::InvalidArgument` so that no table with misordered keys is ever written. Data blocks are
//! cut when they reach the block size. The file is synced by [`TableWriter::finish`]; the caller
//! syncs the directory.
//!
//! With a prefix extractor, the filter holds the hash of each of a user key's prefixes next to the
//! key's own (each prefix once per run of keys that share it, and again in each filter partition),
//! and the meta block records the extractor's name; a table without a filter records none.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::block::{BlockType, encode_block_with};
use super::data_block::DataBlockBuilder;
use super::filter::{FilterBuilder, key_hash};
use super::meta::{BlockHandle, Footer, TableMeta, TableSettings};
use crate::compression::{CompressionType, ZstdDictionary};
use crate::error::{Error, Result};
use crate::fs::FsWriteFile;
use crate::key::{Comparator, InternalValue, ValueType};
use crate::prefix::{PrefixExtractor, recorded_name};
use crate::range_tombstone::FragList;
use crate::seqno::SeqNo;
use crate::slice::Slice;

/// How a table is written.
#[derive(Clone, Debug)]
pub struct TableWriterOptions {
    /// The table id the meta block records (the file is named `<table_id>.sst`).
    pub table_id: u64,
    /// The data block size in bytes: a block is cut once its raw contents reach it.
    pub block_size: u32,
    /// The restart interval of data blocks.
    pub restart_interval: u8,
    /// The restart interval of index blocks.
    pub index_restart_interval: u8,
    /// The compression of data blocks.
    pub data_compression: CompressionType,
    /// The compression of index blocks.
    pub index_compression: CompressionType,
    /// Bloom bits per key; `None` writes no filter.
    pub filter_bits_per_key: Option<f64>,
    /// Whether the index is partitioned.
    pub index_partitioned: bool,
    /// Whether the filter is partitioned.
    pub filter_partitioned: bool,
    /// Hash index buckets per distinct key in data blocks (0: none; lexicographic order only).
    pub hash_ratio: f64,
    /// The prefixes that go into the filter next to the whole keys; `None` adds none.
    pub prefix_extractor: Option<Arc<dyn PrefixExtractor>>,
    /// The dictionary of [`CompressionType::ZstdDict`] blocks; used only if its id is the one
    /// the compression names (otherwise such blocks are plain zstd).
    pub zstd_dictionary: Option<Arc<ZstdDictionary>>,
    /// Encrypts every block ([`Config::with_encryption`](crate::Config::with_encryption));
    /// `None` writes plaintext.
    pub encryption: Option<Arc<dyn crate::EncryptionProvider>>,
}

impl Default for TableWriterOptions {
    fn default() -> Self {
        Self {
            table_id: 0,
            block_size: 4096,
            restart_interval: 16,
            index_restart_interval: 1,
            data_compression: CompressionType::None,
            index_compression: CompressionType::None,
            filter_bits_per_key: Some(10.0),
            index_partitioned: false,
            filter_partitioned: false,
            hash_ratio: 0.0,
            prefix_extractor: None,
            zstd_dictionary: None,
            encryption: None,
        }
    }
}

impl TableWriterOptions {
    /// The dictionary the table's blocks are compressed with: the configured one, if the data
    /// or index compression names its id.
    fn dictionary(&self) -> Option<&ZstdDictionary> {
        #[cfg(feature = "zstd")]
        {
            let dict = self.zstd_dictionary.as_deref()?;
            let named = [self.data_compression, self.index_compression]
                .into_iter()
                .any(|c| c.dict_id() == Some(dict.id()));
            (named && dict.parsed().is_some()).then_some(dict)
        }
        #[cfg(not(feature = "zstd"))]
        {
            let _ = &self.zstd_dictionary;
            None
        }
    }
}

/// Bloom bits per key × 1000, as the meta block records them.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "clamped to the u32 range first; the fraction below 1/1000 is not recorded"
)]
fn bits_milli(bits_per_key: f64) -> u32 {
    (bits_per_key * 1000.0).clamp(0.0, f64::from(u32::MAX)) as u32
}

/// How many keys a filter partition of about one block holds.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a positive count far below usize::MAX, rounded down"
)]
fn keys_per_filter_partition(block_size: u32, bits_per_key: f64) -> usize {
    ((f64::from(block_size) * 8.0) / bits_per_key.max(1.0)).max(1.0) as usize
}

/// One index entry: the last internal key of a block and where the block lies.
struct IndexEntry {
    key: Vec<u8>,
    seqno: SeqNo,
    handle: BlockHandle,
}

/// Writes one table file; see the module documentation.
pub(crate) struct TableWriter {
    file: Box<dyn FsWriteFile>,
    path: PathBuf,
    offset: u64,
    opts: TableWriterOptions,
    cmp: Comparator,
    block: DataBlockBuilder,
    index: Vec<IndexEntry>,
    /// Filter partitions closed so far: (last user key, filter bytes).
    filter_partitions: Vec<(Vec<u8>, Vec<u8>)>,
    filter: Option<FilterBuilder>,
    filter_keys: usize,
    /// The hashes of the previous user key's prefixes, added to the open filter (partition).
    prefix_hashes: Vec<u64>,
    last: Option<(Vec<u8>, SeqNo)>,
    /// The type of the last entry added.
    last_type: Option<ValueType>,
    meta: TableMeta,
    scratch: Vec<u8>,
    /// The range tombstones the table stores, already clipped to its share of the key space.
    range_tombstones: FragList,
}

impl TableWriter {
    pub(crate) fn new(
        file: Box<dyn FsWriteFile>,
        path: &Path,
        opts: TableWriterOptions,
        cmp: Comparator,
    ) -> Self {
        let filter = opts.filter_bits_per_key.map(FilterBuilder::new);
        let meta = TableMeta {
            table_id: opts.table_id,
            created_at_micros: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            seqno_min: u64::MAX,
            settings: TableSettings {
                block_size: opts.block_size,
                restart_interval: opts.restart_interval,
                index_restart_interval: opts.index_restart_interval,
                data_compression: u8::from(opts.data_compression),
                index_compression: u8::from(opts.index_compression),
                filter_bits_per_key_milli: opts.filter_bits_per_key.map_or(0, bits_milli),
            },
            comparator: cmp.name().to_string(),
            prefix_extractor: opts
                .filter_bits_per_key
                .and(recorded_name(opts.prefix_extractor.as_deref()))
                .map(str::to_string),
            zstd_dict_id: opts.dictionary().map_or(0, ZstdDictionary::id),
            ..TableMeta::default()
        };
        Self {
            file,
            path: path.to_path_buf(),
            offset: 0,
            block: DataBlockBuilder::new(opts.restart_interval).with_hash_index(
                if cmp.is_lexicographic() {
                    opts.hash_ratio
                } else {
                    0.0
                },
            ),
            opts,
            cmp,
            index: Vec::new(),
            filter_partitions: Vec::new(),
            filter,
            filter_keys: 0,
            prefix_hashes: Vec::new(),
            last: None,
            last_type: None,
            meta,
            scratch: Vec::new(),
            range_tombstones: FragList::default(),
        }
    }

    /// Stores `list` in the table's range-tombstone block; the table's bounds widen to cover
    /// its fragments.
    pub(crate) fn set_range_tombstones(&mut self, list: FragList) {
        self.range_tombstones = list;
    }

    /// The number of entries written so far.
    pub(crate) fn entry_count(&self) -> u64 {
        self.meta.entry_count
    }

    /// Bytes written to the file so far plus the open block.
    pub(crate) fn size_bytes(&self) -> u64 {
        self.offset + self.block.estimated_size() as u64
    }

    fn io(&self, err: std::io::Error) -> Error {
        Error::io("write table", Some(self.path.clone()), err)
    }

    fn write_block(
        &mut self,
        block_type: BlockType,
        compression: CompressionType,
        raw: &[u8],
    ) -> Result<BlockHandle> {
        self.scratch.clear();
        let len = encode_block_with(
            block_type,
            compression,
            raw,
            &mut self.scratch,
            self.opts.dictionary(),
            self.opts.encryption.as_deref(),
        )?;
        let handle = BlockHandle {
            offset: self.offset,
            len: len as u64,
        };
        let scratch = std::mem::take(&mut self.scratch);
        let written = self.file.append(&scratch);
        self.scratch = scratch;
        written.map_err(|e| self.io(e))?;
        self.offset += len as u64;
        Ok(handle)
    }

    /// Appends `entry` (see [`TableWriter::add`]).
    ///
    /// # Errors
    /// As [`TableWriter::add`].
    pub(crate) fn add_entry(&mut self, entry: &InternalValue) -> Result<()> {
        self.add(
            &entry.key.user_key,
            entry.key.seqno,
            entry.key.value_type,
            &entry.value,
        )
    }

    /// Appends an entry.
    ///
    /// # Errors
    /// `InvalidArgument` if the entry is not after the previous one in internal-key order; `Io` if
    /// the file cannot be written.
    pub(crate) fn add(
        &mut self,
        key: &[u8],
        seqno: SeqNo,
        value_type: ValueType,
        value: &[u8],
    ) -> Result<()> {
        let new_user_key = match &self.last {
            Some((last_key, last_seqno)) => {
                if self
                    .cmp
                    .internal((last_key, *last_seqno), (key, seqno))
                    .is_ge()
                {
                    return Err(Error::InvalidArgument(format!(
                        "table entries out of order: {:?}@{seqno} after {:?}@{last_seqno}",
                        Slice::new(key),
                        Slice::new(last_key)
                    )));
                }
                self.cmp.user(last_key, key).is_ne()
            }
            None => true,
        };
        if self.block.len() > 0 && self.block.estimated_size() >= self.opts.block_size as usize {
            self.flush_data_block()?;
        }
        self.block.add(key, seqno, value_type, value);
        if new_user_key {
            self.add_to_filter(key);
        }
        let meta = &mut self.meta;
        if meta.entry_count == 0 {
            meta.min_key = Slice::new(key);
        }
        meta.entry_count += 1;
        match value_type {
            ValueType::Tombstone => meta.tombstone_count += 1,
            ValueType::WeakTombstone => meta.weak_tombstone_count += 1,
            ValueType::Value | ValueType::Indirection => {
                // A weak tombstone directly above a value of its key: a pair a compaction can
                // cancel.
                if !new_user_key && self.last_type == Some(ValueType::WeakTombstone) {
                    meta.weak_tombstone_reclaimable += 1;
                }
            }
            ValueType::MergeOperand => {}
        }
        self.last_type = Some(value_type);
        meta.seqno_min = meta.seqno_min.min(seqno);
        meta.seqno_max = meta.seqno_max.max(seqno);
        match &mut self.last {
            Some((last_key, last_seqno)) => {
                last_key.clear();
                last_key.extend_from_slice(key);
                *last_seqno = seqno;
            }
            None => self.last = Some((key.to_vec(), seqno)),
        }
        Ok(())
    }

    /// Adds a new user key's hash, and those of its prefixes not already added for the previous
    /// key, to the open filter.
    fn add_to_filter(&mut self, key: &[u8]) {
        let Some(filter) = &mut self.filter else {
            return;
        };
        filter.add_hash(key_hash(key));
        self.filter_keys += 1;
        let Some(extractor) = &self.opts.prefix_extractor else {
            return;
        };
        let previous = std::mem::take(&mut self.prefix_hashes);
        for prefix in extractor.prefixes(key) {
            let hash = key_hash(prefix);
            if !previous.contains(&hash) {
                filter.add_hash(hash);
                self.filter_keys += 1;
            }
            self.prefix_hashes.push(hash);
        }
    }

    fn flush_data_block(&mut self) -> Result<()> {
        if self.block.len() == 0 {
            return Ok(());
        }
        let raw = self.block.finish();
        let handle = self.write_block(BlockType::Data, self.opts.data_compression, &raw)?;
        let (key, seqno) = self.last.clone().unwrap_or_default();
        self.index.push(IndexEntry { key, seqno, handle });
        self.meta.data_block_count += 1;
        // A filter partition closes at a data block boundary once it holds enough keys for about
        // one block of filter bits.
        if self.opts.filter_partitioned {
            let bits = self.opts.filter_bits_per_key.unwrap_or(10.0).max(1.0);
            let keys_per_partition = keys_per_filter_partition(self.opts.block_size, bits);
            if self.filter_keys >= keys_per_partition.max(1) {
                self.close_filter_partition();
            }
        }
        Ok(())
    }

    fn close_filter_partition(&mut self) {
        if self.filter_keys == 0 {
            return;
        }
        if let (Some(filter), Some((last_key, _))) = (self.filter.take(), &self.last) {
            self.filter_partitions
                .push((last_key.clone(), filter.finish()));
            self.filter = self.opts.filter_bits_per_key.map(FilterBuilder::new);
            self.filter_keys = 0;
            // NB: a new partition records its keys' prefixes again, so that every partition a
            // prefix's keys reach holds the prefix.
            self.prefix_hashes.clear();
        }
    }

    /// Writes an index block over `entries` and returns its handle.
    fn write_index_block(&mut self, entries: &[IndexEntry]) -> Result<BlockHandle> {
        let mut builder = DataBlockBuilder::new(self.opts.index_restart_interval);
        for entry in entries {
            builder.add(
                &entry.key,
                entry.seqno,
                ValueType::Value,
                &entry.handle.encode(),
            );
        }
        let raw = builder.finish();
        self.write_block(BlockType::Index, self.opts.index_compression, &raw)
    }

    fn write_index(&mut self) -> Result<BlockHandle> {
        let entries = std::mem::take(&mut self.index);
        if !self.opts.index_partitioned {
            return self.write_index_block(&entries);
        }
        // Partitions of about one block each; the top-level index points to them.
        let mut top = Vec::new();
        let mut start = 0;
        let mut size = 0usize;
        for (i, entry) in entries.iter().enumerate() {
            size += entry.key.len() + 24;
            let last = i + 1 == entries.len();
            if size >= self.opts.block_size as usize || last {
                let part = entries.get(start..=i).unwrap_or_default();
                let handle = self.write_index_block(part)?;
                top.push(IndexEntry {
                    key: entry.key.clone(),
                    seqno: entry.seqno,
                    handle,
                });
                start = i + 1;
                size = 0;
            }
        }
        self.write_index_block(&top)
    }

    fn write_filter(&mut self) -> Result<Option<BlockHandle>> {
        if self.opts.filter_bits_per_key.is_none() {
            return Ok(None);
        }
        if !self.opts.filter_partitioned {
            let filter = self
                .filter
                .take()
                .map(FilterBuilder::finish)
                .unwrap_or_default();
            return self
                .write_block(BlockType::Filter, CompressionType::None, &filter)
                .map(Some);
        }
        self.close_filter_partition();
        let partitions = std::mem::take(&mut self.filter_partitions);
        let mut top = Vec::new();
        for (last_key, bytes) in partitions {
            let handle = self.write_block(BlockType::Filter, CompressionType::None, &bytes)?;
            // NB: filter partitions are keyed by user key; seqno 0 sorts last among its versions.
            top.push(IndexEntry {
                key: last_key,
                seqno: 0,
                handle,
            });
        }
        self.write_index_block(&top).map(Some)
    }

    /// Widens the table's bounds and seqno range to its range tombstones and records them in
    /// the meta block.
    fn cover_range_tombstones(&mut self, block: BlockHandle) {
        let list = &self.range_tombstones;
        let (Some((first_start, last_end)), Some((lowest, highest))) =
            (list.key_span(), list.seqno_range())
        else {
            return;
        };
        let meta = &mut self.meta;
        let has_entries = meta.entry_count > 0;
        if !has_entries || self.cmp.user(first_start, &meta.min_key).is_lt() {
            meta.min_key = first_start.clone();
        }
        // NB: the end is exclusive; it widens the bounds only if it lies past the last key.
        if !has_entries || self.cmp.user(last_end, &meta.max_key).is_gt() {
            meta.max_key = last_end.clone();
            meta.max_key_exclusive = true;
        }
        if has_entries {
            meta.seqno_min = meta.seqno_min.min(lowest);
            meta.seqno_max = meta.seqno_max.max(highest);
        } else {
            meta.seqno_min = lowest;
            meta.seqno_max = highest;
        }
        meta.range_tombstone_count = list.len() as u64;
        meta.range_tombstone_seqnos = (lowest, highest);
        meta.range_tombstone_block = Some(block);
    }

    /// Writes the index, filter, range-tombstone block, meta and footer, syncs the file and
    /// returns the table's meta and file size. Returns `None` (and writes nothing more) if no
    /// entry and no range tombstone was added. A table of range tombstones alone has no data
    /// block and an empty index.
    ///
    /// # Errors
    /// `Io` if a write or the sync fails; the file must then be deleted by the caller.
    pub(crate) fn finish(mut self) -> Result<Option<(TableMeta, u64)>> {
        if self.meta.entry_count == 0 && self.range_tombstones.is_empty() {
            return Ok(None);
        }
        self.flush_data_block()?;
        if self.meta.entry_count > 0 {
            self.meta.max_key = Slice::new(&self.last.clone().unwrap_or_default().0);
            self.meta.kv_seqno_max = self.meta.seqno_max;
        } else {
            self.meta.seqno_min = 0;
        }
        let index = self.write_index()?;
        let filter = self.write_filter()?;
        if !self.range_tombstones.is_empty() {
            let raw = self.range_tombstones.encode();
            let block =
                self.write_block(BlockType::RangeTombstones, CompressionType::None, &raw)?;
            self.cover_range_tombstones(block);
        }
        let meta_raw = self.meta.encode();
        let meta = self.write_block(BlockType::Meta, CompressionType::None, &meta_raw)?;
        let footer = Footer {
            index,
            filter,
            meta,
            index_partitioned: self.opts.index_partitioned,
            filter_partitioned: self.opts.filter_partitioned && filter.is_some(),
            version: super::meta::FORMAT_VERSION,
        };
        let footer_bytes = footer.encode();
        self.file.append(&footer_bytes).map_err(|e| self.io(e))?;
        self.offset += footer_bytes.len() as u64;
        self.file
            .sync()
            .map_err(|e| Error::io("fsync table", Some(self.path.clone()), e))?;
        Ok(Some((self.meta, self.offset)))
    }
}
