//! Engine internals for tools, fuzz targets and benchmarks (cargo feature `internals`).
//!
//! Not a stable API: these entry points exist so that the CLI, the cargo-fuzz targets and the
//! criterion benchmarks can drive the decoders and the table format directly, without the rest
//! of the engine. Every function takes raw bytes or a path and returns an error for bad input,
//! never a panic.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use crate::cache::Cache;
use crate::compression::CompressionType;
use crate::error::{CorruptionKind, Error, Result};
use crate::fs::{Fs, StdFs};
use crate::key::{Comparator, InternalValue, ValueType};
use crate::seqno::SeqNo;
use crate::slice::Slice;
use crate::table::block::{BlockType, decode_block, encode_block};
use crate::table::data_block::{DataBlock, DataBlockBuilder};
use crate::table::filter::{FilterBuilder, FilterReader, key_hash};
use crate::table::iter::TableIter;
use crate::table::reader::{Table, TableContext};
use crate::table::writer::{TableWriter, TableWriterOptions};

/// Decodes the raw contents of a data (or index) block and returns every entry.
///
/// # Errors
/// The corruption found.
pub fn decode_data_block(raw: &[u8]) -> std::result::Result<Vec<InternalValue>, CorruptionKind> {
    DataBlock::new(Slice::new(raw))?.entries()
}

/// Seeks the first entry at or after `(key, seqno)` in the raw contents of a data block.
///
/// # Errors
/// The corruption found.
pub fn seek_data_block(
    raw: &[u8],
    key: &[u8],
    seqno: SeqNo,
) -> std::result::Result<Option<InternalValue>, CorruptionKind> {
    DataBlock::new(Slice::new(raw))?.seek(&Comparator::default(), key, seqno)
}

/// Builds the raw contents of a data block from sorted entries.
pub fn build_data_block(
    entries: &[(Vec<u8>, SeqNo, ValueType, Vec<u8>)],
    restart_interval: u8,
) -> Vec<u8> {
    let mut builder = DataBlockBuilder::new(restart_interval);
    for (key, seqno, value_type, value) in entries {
        builder.add(key, *seqno, *value_type, value);
    }
    builder.finish()
}

/// Verifies and decodes a whole block (header and stored bytes) of the given kind: 0 data,
/// 1 index, 2 filter, 3 meta.
///
/// # Errors
/// The corruption found.
pub fn decode_any_block(bytes: &[u8], kind: u8) -> std::result::Result<Vec<u8>, CorruptionKind> {
    let block_type = match kind % 4 {
        0 => BlockType::Data,
        1 => BlockType::Index,
        2 => BlockType::Filter,
        _ => BlockType::Meta,
    };
    decode_block(&Slice::new(bytes), block_type).map(|raw| raw.to_vec())
}

/// Encodes `raw` as a data block envelope.
pub fn encode_data_block(raw: &[u8], compression: CompressionType) -> Vec<u8> {
    let mut out = Vec::new();
    encode_block(BlockType::Data, compression, raw, &mut out);
    out
}

/// Builds a bloom filter over `keys` with `bits_per_key`.
pub fn build_filter(keys: &[&[u8]], bits_per_key: f64) -> Vec<u8> {
    let mut builder = FilterBuilder::new(bits_per_key);
    for key in keys {
        builder.add_hash(key_hash(key));
    }
    builder.finish()
}

/// Probes a filter built by [`build_filter`]; `Ok(false)` means `key` is certainly absent.
///
/// # Errors
/// `Corruption` if the filter bytes are malformed.
pub fn filter_may_contain(filter: &[u8], key: &[u8]) -> Result<bool> {
    let reader = FilterReader::new(filter).map_err(|_| Error::Corruption {
        file: "<filter>".into(),
        offset: 0,
        what: CorruptionKind::InvalidField("filter"),
    })?;
    Ok(reader.may_contain_hash(key_hash(key)))
}

/// Options for [`write_table`].
#[derive(Clone, Debug)]
pub struct TableOptions {
    /// Data block size in bytes.
    pub block_size: u32,
    /// Restart interval of data blocks.
    pub restart_interval: u8,
    /// Bloom bits per key, or `None` for no filter.
    pub filter_bits_per_key: Option<f64>,
    /// Partitioned index.
    pub index_partitioned: bool,
    /// Partitioned filter.
    pub filter_partitioned: bool,
    /// Data block compression.
    pub compression: CompressionType,
    /// In-block hash index buckets per key (0: none).
    pub hash_ratio: f64,
}

impl Default for TableOptions {
    fn default() -> Self {
        Self {
            block_size: 4096,
            restart_interval: 16,
            filter_bits_per_key: Some(10.0),
            index_partitioned: false,
            filter_partitioned: false,
            compression: CompressionType::None,
            hash_ratio: 0.0,
        }
    }
}

/// Writes sorted entries as a table file at `path`; returns the file size.
///
/// # Errors
/// `InvalidArgument` for out-of-order entries, `Io` for write failures.
pub fn write_table(
    path: &Path,
    entries: impl IntoIterator<Item = InternalValue>,
    options: &TableOptions,
) -> Result<u64> {
    let file = StdFs
        .create(path)
        .map_err(|e| Error::io("create table", Some(path.to_path_buf()), e))?;
    let opts = TableWriterOptions {
        block_size: options.block_size,
        restart_interval: options.restart_interval,
        filter_bits_per_key: options.filter_bits_per_key,
        index_partitioned: options.index_partitioned,
        filter_partitioned: options.filter_partitioned,
        data_compression: options.compression,
        hash_ratio: options.hash_ratio,
        ..TableWriterOptions::default()
    };
    let mut writer = TableWriter::new(file, path, opts, Comparator::default());
    for entry in entries {
        writer.add(
            &entry.key.user_key,
            entry.key.seqno,
            entry.key.value_type,
            &entry.value,
        )?;
    }
    Ok(writer.finish()?.map_or(0, |(_, size)| size))
}

/// An open table file, for tools and benchmarks.
pub struct TableFile {
    table: Arc<Table>,
}

impl TableFile {
    /// Opens and validates the table at `path` with a block cache of `cache_bytes`.
    ///
    /// # Errors
    /// `Io`, `Corruption`, `UnsupportedFormat` or `ComparatorMismatch`.
    pub fn open(path: &Path, cache_bytes: u64) -> Result<Self> {
        let ctx = TableContext {
            fs: Arc::new(StdFs),
            cache: Arc::new(Cache::with_capacity_bytes(cache_bytes)),
            descriptors: None,
            cmp: Comparator::default(),
            pin_index: true,
            pin_filter: true,
        };
        Ok(Self {
            table: Arc::new(Table::open(path, &ctx)?),
        })
    }

    /// The newest version of `key` below `seqno`.
    ///
    /// # Errors
    /// `Io` or `Corruption`.
    pub fn get(&self, key: &[u8], seqno: SeqNo) -> Result<Option<InternalValue>> {
        self.table.get(key, seqno, key_hash(key))
    }

    /// Every entry, forward (or backward with `reverse`).
    pub fn scan(&self, reverse: bool) -> Box<dyn Iterator<Item = Result<InternalValue>>> {
        let iter = TableIter::new(
            Arc::clone(&self.table),
            (Bound::Unbounded, Bound::Unbounded),
            SeqNo::MAX,
        );
        if reverse {
            Box::new(iter.rev())
        } else {
            Box::new(iter)
        }
    }

    /// The number of entries the meta block records.
    pub fn entry_count(&self) -> u64 {
        self.table.meta().entry_count
    }
}
