//! Engine internals for tools, fuzz targets and benchmarks (cargo feature `internals`).
//!
//! Not a stable API: these entry points exist so that the CLI, the cargo-fuzz targets and the
//! criterion benchmarks can drive the decoders and the table format directly, without the rest
//! of the engine. Every function takes raw bytes or a path and returns an error for bad input,
//! never a panic.
//!
//! Reading a tree in place ([`read_manifest`], [`ReadOnlyTree`], [`table_files`],
//! [`blob_files`], [`verify_table`], [`verify_tables`], [`TableFile`], [`dump_blob_file`])
//! changes no file: unlike [`Config::open`](crate::Config::open), which runs recovery (the
//! manifest synced and maybe appended to or rewritten, orphans deleted), these only read. They
//! take no lock, so a tree open elsewhere may change the directory meanwhile: the reader then
//! gets an error (a file not found), never wrong data. They read trees written with the default
//! comparator. Files compressed with a zstd dictionary (`CompressionType::ZstdDict`) are read
//! with the `_with_dictionary` variants ([`ReadOnlyTree::open_with_dictionary`],
//! [`TableFile::open_with_dictionary`], [`verify_table_with_dictionary`],
//! [`verify_tables_with_dictionary`]; [`dump_blob_file`] takes the dictionary itself); without
//! it they give `Error::DictionaryMismatch` naming the dictionary id the file needs.
//!
//! A database folder is read in place the same way ([`is_database`], [`read_catalog`],
//! [`read_wal_segment`], [`check_wal`], [`pending_log_files`], [`read_pending_log`],
//! [`keyspace_dirs`]; each keyspace folder is a tree for the
//! functions above), and [`settle_keyspace`] flushes and compacts a keyspace for the benchmarks.
//!
//! The engine's own types come through as they are ([`Table`], [`TableMeta`], [`Footer`],
//! [`ManifestState`], [`TableCheck`] ...): re-exported, not copied, so a field the engine adds
//! shows here without a second edit. Their modules stay private to the crate, so a build
//! without the feature does not expose them.

mod database;
mod table_format;

pub use database::{
    CatalogKeyspace, CatalogState, RecoveredSegment, WalBatch, WalEnd, WalHeader, WalItem, WalOp,
    WalRecovery, WalSegment, check_database_version, check_wal, decode_catalog, is_database,
    keyspace_dir, keyspace_dirs, pending_leftovers, pending_log_files, read_catalog,
    read_pending_log, read_wal_segment, settle_keyspace, wal_dir, wal_segment_files,
};

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cache::{Cache, DescriptorTable};
use crate::compression::CompressionType;
use crate::compression::ZstdDictionary;
use crate::error::{CorruptionKind, Error, Result};
use crate::fs::{Fs, StdFs};
use crate::key::{Comparator, InternalValue, ValueType};
use crate::seqno::SeqNo;
use crate::slice::Slice;
use crate::table::block::{BlockError, BlockType, decode_block, encode_block};
use crate::table::data_block::{DataBlock, DataBlockBuilder};
use crate::table::filter::{FilterBuilder, FilterReader, key_hash};
use crate::table::iter::TableIter;
use crate::table::reader::{IndexSpans, TableContext};
use crate::table::writer::TableWriter;
use crate::version::Version;
use crate::version::read_only::{open_version, read_manifest_state};
use crate::version::recovery::list_table_files;

pub use crate::table::meta::{BlockHandle, Footer, TableMeta, TableSettings};
pub use table_format::{
    FOOTER_LEN, build_filter_with_layout, decode_filter_index, decode_footer, decode_meta,
    encode_footer, encode_meta, seek_filter_index,
};

/// The format versions this build reads (tables and the manifest's format tag): format 1 and
/// format 2, which adds range tombstones.
pub const READABLE_FORMAT_VERSIONS: std::ops::RangeInclusive<u32> =
    crate::table::meta::OLDEST_FORMAT_VERSION..=crate::table::meta::FORMAT_VERSION;
pub use crate::table::reader::Table;
pub use crate::table::verify::TableCheck;
pub use crate::table::writer::TableWriterOptions;
pub use crate::verify::walk::TablesChecked;
pub use crate::version::read_only::ManifestState;
pub use crate::version::recovery::Replayed;

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
    decode_block_with(bytes, kind, None).map_err(|e| match e {
        BlockError::Corrupt(what) => what,
        BlockError::MissingCodec(_) => CorruptionKind::InvalidField("compression type"),
        BlockError::Decrypt(_) => CorruptionKind::InvalidField("encrypted block"),
    })
}

/// Verifies and decodes a whole block as [`decode_any_block`], with the zstd dictionary of
/// the block's table.
///
/// # Errors
/// `Corruption` (at offset 0 of a file named `block`) for the damage found; `UnsupportedFormat`
/// for a compression this build lacks.
pub fn decode_block_with_dictionary(
    bytes: &[u8],
    kind: u8,
    dictionary: Option<&ZstdDictionary>,
) -> Result<Vec<u8>> {
    decode_block_with(bytes, kind, dictionary).map_err(|e| e.at(Path::new("block"), 0))
}

fn decode_block_with(
    bytes: &[u8],
    kind: u8,
    dictionary: Option<&ZstdDictionary>,
) -> std::result::Result<Vec<u8>, BlockError> {
    let block_type = match kind % 5 {
        0 => BlockType::Data,
        1 => BlockType::Index,
        2 => BlockType::Filter,
        3 => BlockType::Meta,
        _ => BlockType::RangeTombstones,
    };
    decode_block(&Slice::new(bytes), block_type, dictionary).map(|raw| raw.to_vec())
}

/// Encodes `raw` as a data block envelope.
pub fn encode_data_block(raw: &[u8], compression: CompressionType) -> Vec<u8> {
    let mut out = Vec::new();
    encode_block(BlockType::Data, compression, raw, &mut out, None);
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

/// Writes sorted entries as a table file at `path`; returns the file size.
///
/// # Errors
/// `InvalidArgument` for out-of-order entries, `Io` for write failures.
pub fn write_table(
    path: &Path,
    entries: impl IntoIterator<Item = InternalValue>,
    options: &TableWriterOptions,
) -> Result<u64> {
    let file = StdFs
        .create(path)
        .map_err(|e| Error::io("create table", Some(path.to_path_buf()), e))?;
    let mut writer = TableWriter::new(file, path, options.clone(), Comparator::default());
    for entry in entries {
        writer.add_entry(&entry)?;
    }
    Ok(writer.finish()?.map_or(0, |(_, size)| size))
}

/// An open table file, for tools and benchmarks. Opening reads the file and writes nothing.
pub struct TableFile {
    table: Arc<Table>,
}

impl TableFile {
    /// Opens and validates the table at `path` with a block cache of `cache_bytes`, for a table
    /// written without a zstd dictionary ([`TableFile::open_with_dictionary`] reads one written
    /// with one).
    ///
    /// # Errors
    /// `Io`, `Corruption`, `UnsupportedFormat` or `ComparatorMismatch`; `DictionaryMismatch`
    /// if the table's blocks need a zstd dictionary.
    pub fn open(path: &Path, cache_bytes: u64) -> Result<Self> {
        Self::open_with_dictionary(path, cache_bytes, None)
    }

    /// Opens and validates the table at `path` as [`TableFile::open`] does, with the zstd
    /// dictionary its blocks were compressed with (its meta block records the id; a table that
    /// names none opens whatever `dictionary` is).
    ///
    /// ```
    /// # #[cfg(feature = "zstd")] {
    /// use std::sync::Arc;
    /// use strata::internals::{TableFile, TableWriterOptions, write_table};
    /// use strata::{CompressionType, InternalValue, ValueType, ZstdDictionary};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let dict = Arc::new(ZstdDictionary::new(&b"{\"plan\":\"free\",\"status\":\"active\"}".repeat(8)));
    /// let options = TableWriterOptions {
    ///     data_compression: CompressionType::zstd_dict(3, dict.id()),
    ///     zstd_dictionary: Some(Arc::clone(&dict)),
    ///     ..TableWriterOptions::default()
    /// };
    /// let path = dir.path().join("1.sst");
    /// let entries = (0..50u32).map(|i| {
    ///     InternalValue::from_components(format!("{i:03}"), "{\"plan\":\"free\"}", 1, ValueType::Value)
    /// });
    /// write_table(&path, entries, &options)?;
    /// assert!(matches!(
    ///     TableFile::open(&path, 1 << 20),
    ///     Err(strata::Error::DictionaryMismatch { supplied: None, .. })
    /// ));
    /// let table = TableFile::open_with_dictionary(&path, 1 << 20, Some(dict))?;
    /// assert_eq!(table.scan(false).count(), 50);
    /// # }
    /// # Ok::<(), strata::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`TableFile::open`]; `DictionaryMismatch` naming both ids if the table needs another
    /// dictionary than `dictionary` (or one while it is `None`).
    pub fn open_with_dictionary(
        path: &Path,
        cache_bytes: u64,
        dictionary: Option<Arc<ZstdDictionary>>,
    ) -> Result<Self> {
        let ctx = TableContext {
            fs: Arc::new(StdFs),
            cache: Arc::new(Cache::with_capacity_bytes(cache_bytes)),
            descriptors: None,
            cmp: Comparator::default(),
            pin_index: true,
            pin_filter: true,
            level_pins: std::sync::Arc::from([]),
            dictionary,
            encryption: None,
        };
        Ok(Self {
            table: Arc::new(Table::open(path, &ctx)?),
        })
    }

    /// The open table: its path, file size and meta block.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Where the table's blocks lie: the footer and, read from the index, every index partition
    /// and data block.
    ///
    /// # Errors
    /// `Io` or `Corruption` if an index block cannot be read.
    pub fn layout(&self) -> Result<TableLayout> {
        let spans = self.table.index_spans()?;
        let index_partitions = match &spans {
            IndexSpans::Partitioned(parts) => parts.clone(),
            IndexSpans::Full(_) => Vec::new(),
        };
        let mut data_blocks = Vec::new();
        for i in 0..spans.len() {
            data_blocks.extend(self.table.span_handles(&spans, i)?);
        }
        Ok(TableLayout {
            footer: *self.table.footer(),
            index_partitions,
            data_blocks,
        })
    }

    /// Every entry (every version, tombstones included) whose user key lies within
    /// `(lower, upper)`, in internal-key order.
    ///
    /// ```
    /// use std::ops::Bound;
    /// use strata::internals::{TableFile, TableWriterOptions, write_table};
    /// use strata::{InternalValue, ValueType};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("1.sst");
    /// let entries = ["a", "b", "c"].map(|k| InternalValue::from_components(k, "v", 1, ValueType::Value));
    /// write_table(&path, entries, &TableWriterOptions::default())?;
    /// let table = TableFile::open(&path, 1 << 20)?;
    /// let keys: Vec<_> = table
    ///     .range(Bound::Included(b"b"), Bound::Unbounded)
    ///     .map(|e| e.map(|e| e.key.user_key))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(keys, ["b", "c"]);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn range<K: AsRef<[u8]>>(
        &self,
        lower: Bound<K>,
        upper: Bound<K>,
    ) -> Box<dyn Iterator<Item = Result<InternalValue>> + Send> {
        Box::new(TableIter::new(
            Arc::clone(&self.table),
            crate::key_range::Bounds::from_range(&(lower, upper)).into_pair(),
            SeqNo::MAX,
        ))
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

    /// Whether the table's filter (full, or the partition the filter index names for `key`)
    /// admits `key`: `Ok(false)` means the table certainly does not hold it; `true` without a
    /// filter.
    ///
    /// # Errors
    /// `Io` or `Corruption` if a filter block cannot be read.
    pub fn filter_may_contain(&self, key: &[u8]) -> Result<bool> {
        self.table.filter_may_contain(key, key_hash(key))
    }

    /// Whether the table's filter admits a key starting with `prefix`, a prefix that the
    /// table's prefix extractor yields (every partition that can hold such a key is asked);
    /// `true` without a filter.
    ///
    /// # Errors
    /// `Io` or `Corruption` if a filter block cannot be read.
    pub fn filter_may_contain_prefix(&self, prefix: &[u8]) -> Result<bool> {
        self.table
            .filter_may_contain_prefix(prefix, key_hash(prefix))
    }
}

/// Where a table's blocks lie (`docs/format.md`, sections 3 and 6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableLayout {
    /// The footer: the index, filter and meta blocks and the partitioning flags.
    pub footer: Footer,
    /// Each index partition's last user key and handle (empty for a full index).
    pub index_partitions: Vec<(Slice, BlockHandle)>,
    /// Each data block's last user key and handle, in file order.
    pub data_blocks: Vec<(Slice, BlockHandle)>,
}

/// Reads `CURRENT` and replays the manifest it names, writing nothing: every record's checksum
/// is verified and every edit decoded.
///
/// ```
/// use strata::{Config, SequenceNumberCounter};
///
/// # let dir = tempfile::tempdir()?;
/// let seqno = SequenceNumberCounter::default();
/// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
/// tree.insert("k", "v", seqno.next());
/// tree.flush_active_memtable(0)?;
/// drop(tree);
/// let manifest = strata::internals::read_manifest(dir.path())?;
/// assert_eq!(manifest.replayed.levels[0], [[0]]);
/// assert_eq!(manifest.replayed.highest_seqno, Some(0));
/// # Ok::<(), strata::Error>(())
/// ```
///
/// # Errors
/// `InvalidArgument` if `dir` has no `CURRENT` (it holds no tree); `Io` if a file cannot be read;
/// `Corruption` (file and offset) for a damaged `CURRENT` or manifest.
pub fn read_manifest(dir: &Path) -> Result<ManifestState> {
    read_manifest_state(&StdFs, dir)
}

/// `payload` framed as one manifest record (magic, length and its complement, xxh3-64
/// checksum, trailer; `docs/format.md`, 10.2), for fuzzing the version-edit decoder behind the
/// checksum.
///
/// ```
/// let record = strata::internals::frame_manifest_record(b"\x03\x00");
/// assert_eq!(&record[..2], b"SR");
/// assert_eq!(record.len(), 2 + 4 + 4 + 8 + 2 + 1);
/// ```
#[must_use]
pub fn frame_manifest_record(payload: &[u8]) -> Vec<u8> {
    crate::record::encode(payload).unwrap_or_default()
}

/// The path of table `id` in the tree at `dir`.
pub fn table_path(dir: &Path, id: u64) -> PathBuf {
    crate::layout::table_path(&dir.join(crate::layout::TABLES_FOLDER), id)
}

/// The table files in `<dir>/tables/` (named `<id>.sst`), named by the manifest or not, with
/// their ids, sorted by id. A missing `tables/` folder is an empty list.
///
/// # Errors
/// `Io` if the folder cannot be listed.
pub fn table_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let tables_dir = dir.join(crate::layout::TABLES_FOLDER);
    if !StdFs
        .exists(&tables_dir)
        .map_err(|e| Error::io("stat", Some(tables_dir.clone()), e))?
    {
        return Ok(Vec::new());
    }
    let mut files = list_table_files(&StdFs, &tables_dir)?;
    files.sort();
    Ok(files)
}

/// The path of blob file `id` in the tree at `dir`.
pub fn blob_path(dir: &Path, id: u64) -> PathBuf {
    crate::layout::blob_path(&dir.join(crate::layout::BLOBS_FOLDER), id)
}

/// The blob files in `<dir>/blobs/` (named `<id>.blob`), named by the manifest or not, with
/// their ids, sorted by id. A missing `blobs/` folder is an empty list.
///
/// # Errors
/// `Io` if the folder cannot be listed.
pub fn blob_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut files =
        crate::version::recovery::list_blob_files(&StdFs, &dir.join(crate::layout::BLOBS_FOLDER))?;
    files.sort();
    Ok(files)
}

/// A tree's tables, opened for reading from the manifest `CURRENT` names, without recovery:
/// nothing in the directory is written or removed.
///
/// ```
/// use strata::{Config, SequenceNumberCounter};
/// use strata::internals::ReadOnlyTree;
///
/// # let dir = tempfile::tempdir()?;
/// let seqno = SequenceNumberCounter::default();
/// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
/// tree.insert("a", "1", seqno.next());
/// tree.insert("b", "2", seqno.next());
/// tree.flush_active_memtable(0)?;
/// tree.remove("a", seqno.next());
/// tree.flush_active_memtable(0)?;
/// drop(tree);
///
/// let read = ReadOnlyTree::open(dir.path())?;
/// assert_eq!(read.levels()[0].len(), 2, "two level-0 runs");
/// let live: Vec<_> = read.scan().collect::<Result<_, _>>()?;
/// assert_eq!(live, [("b".into(), "2".into())]);
/// # Ok::<(), strata::Error>(())
/// ```
pub struct ReadOnlyTree {
    manifest: ManifestState,
    version: Version,
    cmp: Comparator,
}

impl ReadOnlyTree {
    /// Replays the manifest and opens every table it names, with the checks an open makes
    /// (comparator, format version, table ids, run order), for a tree written without a zstd
    /// dictionary ([`ReadOnlyTree::open_with_dictionary`] reads one written with one).
    ///
    /// # Errors
    /// As [`read_manifest`]; `ComparatorMismatch` for a tree written under another comparator
    /// than the default; `Io` or `Corruption` for a missing or damaged table;
    /// `DictionaryMismatch` for a table or blob file that needs a zstd dictionary.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with_dictionary(dir, None)
    }

    /// Opens the tree at `dir` as [`ReadOnlyTree::open`] does, with the zstd dictionary its
    /// tables and blob files were compressed with
    /// ([`Config::zstd_dictionary`](crate::Config::zstd_dictionary) of the tree that wrote
    /// them). Files that name no dictionary open whatever `dictionary` is.
    ///
    /// ```
    /// # #[cfg(feature = "zstd")] {
    /// use std::sync::Arc;
    /// use strata::config::CompressionPolicy;
    /// use strata::internals::ReadOnlyTree;
    /// use strata::{CompressionType, Config, SequenceNumberCounter, ZstdDictionary};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let dict = Arc::new(ZstdDictionary::new(&b"{\"plan\":\"free\",\"status\":\"active\"}".repeat(8)));
    /// let seqno = SequenceNumberCounter::default();
    /// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default())
    ///     .zstd_dictionary(Some(Arc::clone(&dict)))
    ///     .data_block_compression_policy(CompressionPolicy::all(CompressionType::zstd_dict(3, dict.id())))
    ///     .open()?;
    /// tree.insert("u1", "{\"plan\":\"free\"}", seqno.next());
    /// tree.flush_active_memtable(0)?;
    /// drop(tree);
    ///
    /// let needs = ReadOnlyTree::open(dir.path()).err();
    /// assert!(matches!(needs, Some(strata::Error::DictionaryMismatch { stored, supplied: None, .. }) if stored == dict.id()));
    /// let read = ReadOnlyTree::open_with_dictionary(dir.path(), Some(dict))?;
    /// assert_eq!(read.scan().count(), 1);
    /// # }
    /// # Ok::<(), strata::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`ReadOnlyTree::open`]; `DictionaryMismatch` naming both ids for a table or blob file
    /// that needs another dictionary than `dictionary` (or one while it is `None`).
    pub fn open_with_dictionary(
        dir: &Path,
        dictionary: Option<Arc<ZstdDictionary>>,
    ) -> Result<Self> {
        let state = read_manifest_state(&StdFs, dir)?;
        let cmp = Comparator::default();
        let ctx = TableContext {
            fs: Arc::new(StdFs),
            cache: Arc::new(Cache::with_capacity_bytes(16 << 20)),
            // NB: a bounded number of open files, however many tables the tree has.
            descriptors: Some(Arc::new(DescriptorTable::new(64))),
            cmp: cmp.clone(),
            pin_index: false,
            pin_filter: false,
            level_pins: std::sync::Arc::from([]),
            dictionary,
            encryption: None,
        };
        let version = open_version(&state, &dir.join(crate::layout::TABLES_FOLDER), &ctx)?;
        Ok(Self {
            manifest: state,
            version,
            cmp,
        })
    }

    /// The replayed manifest.
    pub fn manifest(&self) -> &ManifestState {
        &self.manifest
    }

    /// Per level (7), its runs in read order (level 0: newest first), each its tables in key
    /// order.
    pub fn levels(&self) -> Vec<Vec<Vec<Arc<Table>>>> {
        self.version
            .levels
            .iter()
            .map(|level| level.runs.iter().map(|run| run.tables().to_vec()).collect())
            .collect()
    }

    /// Every live key with its value as of the latest seqno, in key order: what a tree opened
    /// on these tables reads with `iter` (newest version per key, deleted keys left out).
    pub fn scan(&self) -> impl Iterator<Item = Result<(Slice, Slice)>> + Send + 'static {
        let version = Arc::new(self.version.clone());
        crate::tree::scan_version(
            &self.version,
            &self.cmp,
            (Bound::Unbounded, Bound::Unbounded),
            SeqNo::MAX,
        )
        .map(move |entry| {
            let entry = entry?;
            let value = version.load_value(&entry)?;
            Ok((entry.key.user_key, value))
        })
    }

    /// The blob files of the version (key-value separation), by id, each with its stale bytes.
    pub fn blob_files(&self) -> Vec<BlobFileInfo> {
        self.version
            .blob_staleness()
            .into_iter()
            .map(|(file, stale_bytes)| BlobFileInfo {
                id: file.id(),
                path: file.path().to_path_buf(),
                file_size: file.file_size(),
                record_count: file.record_count(),
                record_bytes: file.record_bytes(),
                stale_bytes,
            })
            .collect()
    }

    /// Reads every record of every blob file and checks it; each damage is one error of the
    /// report (`blob_files_checked` counts the files).
    pub fn verify_blob_files(&self) -> crate::verify::IntegrityReport {
        let mut report = crate::verify::IntegrityReport::default();
        crate::verify::walk::verify_blob_files(&self.version, &mut report);
        report
    }
}

/// A blob file of a directory read in place ([`ReadOnlyTree::blob_files`]).
#[derive(Clone, Debug)]
pub struct BlobFileInfo {
    /// Its id.
    pub id: u64,
    /// Its path.
    pub path: std::path::PathBuf,
    /// Its size in bytes.
    pub file_size: u64,
    /// The values it holds.
    pub record_count: u64,
    /// The bytes of its records.
    pub record_bytes: u64,
    /// The bytes of records no table points to.
    pub stale_bytes: u64,
}

/// One record of a blob file, as [`BlobFileReader::scan`] and [`dump_blob_file`] read it.
#[derive(Clone, Debug)]
pub struct BlobRecord {
    /// The record's offset in the file.
    pub offset: u64,
    /// Its length on disk.
    pub len: u64,
    /// The key it belongs to.
    pub key: Slice,
    /// The value.
    pub value: Slice,
}

/// Reads the blob file at `path` (its id from its name) record by record, checking each, and
/// calls `visit` with each record in file order; returns the record count. `dictionary` is the
/// zstd dictionary its records were compressed with, if any.
///
/// # Errors
/// `Io` if the file cannot be read; `Corruption` naming the file and offset at the first damage;
/// `DictionaryMismatch` if the file needs another dictionary than `dictionary`.
pub fn dump_blob_file(
    path: &Path,
    dictionary: Option<&Arc<ZstdDictionary>>,
    visit: impl FnMut(BlobRecord),
) -> Result<u64> {
    BlobFileReader::open_with_dictionary(path, 0, dictionary)?.scan(visit)
}

/// An open blob file, read in place (for tools and the `blob_file` fuzz target): validated at
/// open like the engine's (header, footer and size agree), then read record by record or by
/// pointer, as the tree reads it, each record checked (checksum, key, value length).
///
/// ```
/// use strata::internals::BlobFileReader;
/// use strata::{Config, KvSeparationOptions, SequenceNumberCounter};
///
/// # let dir = tempfile::tempdir()?;
/// let seqno = SequenceNumberCounter::default();
/// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default())
///     .with_kv_separation(Some(KvSeparationOptions::default().separation_threshold(4)))
///     .open()?;
/// tree.insert("k", "a long value", seqno.next());
/// tree.flush_active_memtable(0)?;
/// let blob = tree.current_version().blob_files().next().unwrap().path().to_path_buf();
/// let reader = BlobFileReader::open(&blob, 0)?;
/// let mut records = Vec::new();
/// assert_eq!(reader.scan(|record| records.push(record))?, 1);
/// let record = &records[0];
/// assert_eq!(reader.read(b"k", record.offset, record.len, 12)?, "a long value");
/// assert!(reader.read(b"x", record.offset, record.len, 12).is_err(), "another key's record");
/// # Ok::<(), strata::Error>(())
/// ```
pub struct BlobFileReader {
    file: crate::blob::BlobFile,
}

impl BlobFileReader {
    /// Opens and validates the blob file at `path` (its id from its name, 0 for another name),
    /// reading values through a block cache of `cache_bytes` (0: every read goes to the file).
    ///
    /// # Errors
    /// `Io` if the file cannot be read; `Corruption` naming the file for a damaged header or
    /// footer, or a size that does not match them.
    pub fn open(path: &Path, cache_bytes: u64) -> Result<Self> {
        Self::open_with_dictionary(path, cache_bytes, None)
    }

    /// [`BlobFileReader::open`] for a file whose records were compressed with `dictionary`.
    ///
    /// # Errors
    /// As [`BlobFileReader::open`]; `DictionaryMismatch` naming both ids if the file needs
    /// another dictionary (or one while none is given).
    pub fn open_with_dictionary(
        path: &Path,
        cache_bytes: u64,
        dictionary: Option<&Arc<ZstdDictionary>>,
    ) -> Result<Self> {
        let id = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(crate::layout::blob_id)
            .unwrap_or(0);
        let fs: Arc<dyn crate::fs::Fs> = Arc::new(StdFs);
        let cache = Arc::new(Cache::with_capacity_bytes(cache_bytes));
        let file = crate::blob::BlobFile::open(id, path, &fs, &cache, None, dictionary)?;
        Ok(Self { file })
    }

    /// The number of records the footer records.
    pub fn record_count(&self) -> u64 {
        self.file.record_count()
    }

    /// The bytes of the records (the file less its header and footer).
    pub fn record_bytes(&self) -> u64 {
        self.file.record_bytes()
    }

    /// The value a blob pointer names: the record at `offset`, `record_len` bytes on disk, must
    /// hold `key` and a value of `value_len` bytes.
    ///
    /// # Errors
    /// `Io` if the file cannot be read; `Corruption` naming the file and `offset` if the pointer
    /// leaves the records, the record's checksum fails, or it holds another key or a value of
    /// another length.
    pub fn read(&self, key: &[u8], offset: u64, record_len: u64, value_len: u32) -> Result<Slice> {
        let pointer = crate::blob::BlobPointer {
            file_id: self.file.id(),
            offset,
            record_len,
            value_len,
        };
        self.file.read(&pointer, key)
    }

    /// Reads every record in file order, checking each, and calls `visit` with it; returns the
    /// record count.
    ///
    /// # Errors
    /// `Io` if the file cannot be read; `Corruption` naming the file and offset at the first
    /// damage, or records that do not add up to what the footer records.
    pub fn scan(&self, mut visit: impl FnMut(BlobRecord)) -> Result<u64> {
        let mut count = 0;
        self.file.scan(|offset, len, key, value| {
            count += 1;
            visit(BlobRecord {
                offset,
                len,
                key: Slice::new(key),
                value: Slice::new(value),
            });
            Ok(())
        })?;
        Ok(count)
    }
}

/// Reads every block of the table at `path` (meta, index and partitions, filter and partitions,
/// data), verifies each checksum and decodes each block, and checks that they agree with each
/// other; a damaged block does not stop the walk. Reads only.
///
/// ```
/// use strata::internals::{TableWriterOptions, verify_table, write_table};
/// use strata::{InternalValue, ValueType};
///
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("1.sst");
/// let entries = (0..100u32).map(|i| {
///     InternalValue::from_components(format!("{i:03}"), "v", 1, ValueType::Value)
/// });
/// write_table(&path, entries, &TableWriterOptions::default())?;
/// let report = verify_table(&path)?;
/// assert!(report.damages.is_empty());
/// assert_eq!(report.entries_checked, 100);
/// assert_eq!(report.bytes_checked, report.file_size);
/// # Ok::<(), strata::Error>(())
/// ```
///
/// # Errors
/// `Io` if the file cannot be opened or read; damage is reported in [`TableCheck::damages`]
/// (a table whose blocks need a zstd dictionary gets one `DictionaryMismatch` there: see
/// [`verify_table_with_dictionary`]).
pub fn verify_table(path: &Path) -> Result<TableCheck> {
    verify_table_with_dictionary(path, None)
}

/// Verifies the table at `path` as [`verify_table`] does, decompressing its blocks with the zstd
/// dictionary they were compressed with. A table whose meta block names another dictionary
/// than `dictionary` (or one while it is `None`) is not read further: its one damage is
/// `DictionaryMismatch` naming both ids.
///
/// ```
/// # #[cfg(feature = "zstd")] {
/// use std::sync::Arc;
/// use strata::internals::{TableWriterOptions, verify_table_with_dictionary, write_table};
/// use strata::{CompressionType, InternalValue, ValueType, ZstdDictionary};
///
/// # let dir = tempfile::tempdir()?;
/// let dict = Arc::new(ZstdDictionary::new(&b"{\"plan\":\"free\",\"status\":\"active\"}".repeat(8)));
/// let options = TableWriterOptions {
///     data_compression: CompressionType::zstd_dict(3, dict.id()),
///     zstd_dictionary: Some(Arc::clone(&dict)),
///     ..TableWriterOptions::default()
/// };
/// let path = dir.path().join("1.sst");
/// let entries = (0..100u32).map(|i| {
///     InternalValue::from_components(format!("{i:03}"), "{\"plan\":\"free\"}", 1, ValueType::Value)
/// });
/// write_table(&path, entries, &options)?;
/// let report = verify_table_with_dictionary(&path, Some(&dict))?;
/// assert!(report.damages.is_empty());
/// assert_eq!(report.entries_checked, 100);
/// let without = verify_table_with_dictionary(&path, None)?;
/// assert!(matches!(without.damages[..], [strata::Error::DictionaryMismatch { supplied: None, .. }]));
/// # }
/// # Ok::<(), strata::Error>(())
/// ```
///
/// # Errors
/// `Io` if the file cannot be opened or read; damage is reported in [`TableCheck::damages`].
pub fn verify_table_with_dictionary(
    path: &Path,
    dictionary: Option<&ZstdDictionary>,
) -> Result<TableCheck> {
    crate::table::verify::verify_table(&StdFs, path, &Comparator::default(), dictionary)
}

/// Verifies the table files `(id, path)` of a tree read in place, as
/// [`verify_integrity`](crate::verify::verify_integrity) verifies an open tree's (the same walk):
/// each file block by block ([`verify_table`]), and the table id its meta block records against
/// `id`. Reads only; every damage, and every file that cannot be read, is one error of the report.
///
/// ```
/// use strata::{Config, SequenceNumberCounter};
/// use strata::internals::{table_files, verify_tables};
///
/// # let dir = tempfile::tempdir()?;
/// let seqno = SequenceNumberCounter::default();
/// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
/// tree.insert("k", "v", seqno.next());
/// tree.flush_active_memtable(0)?;
/// drop(tree);
/// let checked = verify_tables(table_files(dir.path())?);
/// assert!(checked.report.is_ok());
/// assert_eq!(checked.report.sst_files_checked, 1);
/// assert_eq!(checked.bytes_checked, std::fs::metadata(dir.path().join("tables/0.sst"))?.len());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn verify_tables(tables: impl IntoIterator<Item = (u64, PathBuf)>) -> TablesChecked {
    verify_tables_with_dictionary(tables, None)
}

/// Verifies the table files `(id, path)` as [`verify_tables`] does, decompressing their blocks
/// with `dictionary` ([`verify_table_with_dictionary`]): each table that needs another
/// dictionary (or one while it is `None`) is one `DictionaryMismatch` error of the report.
pub fn verify_tables_with_dictionary(
    tables: impl IntoIterator<Item = (u64, PathBuf)>,
    dictionary: Option<&ZstdDictionary>,
) -> TablesChecked {
    crate::verify::walk::verify_tables(&StdFs, &Comparator::default(), dictionary, None, tables)
}

/// Range tombstones, fragmented, under the default comparator: for the criterion benchmarks of
/// the lookup and the fragmentation (`benches/range_tombstones.rs`).
#[derive(Clone, Debug, Default)]
pub struct RangeTombstoneList(crate::range_tombstone::FragList);

/// One default comparator for [`RangeTombstoneList`]'s lookups (making one allocates, which a
/// lookup benchmark must not measure).
static BYTEWISE: std::sync::LazyLock<Comparator> = std::sync::LazyLock::new(Comparator::default);

impl RangeTombstoneList {
    /// Fragments `tombstones` (`(start, end, seqno)`, any order and overlap).
    pub fn build<K: Into<Slice>>(tombstones: impl IntoIterator<Item = (K, K, SeqNo)>) -> Self {
        Self(crate::range_tombstone::FragList::build(
            tombstones.into_iter().map(|(start, end, seqno)| {
                crate::range_tombstone::RangeTombstone {
                    start: start.into(),
                    end: end.into(),
                    seqno,
                }
            }),
            &Comparator::default(),
        ))
    }

    /// The highest seqno below `read_seqno` of a tombstone covering `key`, or 0.
    pub fn cover(&self, key: &[u8], read_seqno: SeqNo) -> SeqNo {
        self.0.cover(key, read_seqno, &BYTEWISE)
    }

    /// Both lists' fragments in one list, by one linear merge (how a memtable adds new
    /// tombstones to its cached list).
    #[must_use]
    pub fn union(&self, other: &Self) -> Self {
        Self(self.0.union(&other.0, &Comparator::default()))
    }

    /// The number of fragments.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no fragment.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of (fragment, seqno) pairs: the memory the list takes grows with it.
    pub fn stack_entries(&self) -> usize {
        self.0.stack_entries()
    }

    /// The raw contents of a range-tombstone block holding the list.
    pub fn encode(&self) -> Vec<u8> {
        self.0.encode()
    }
}

/// Decodes the raw contents of a range-tombstone block (default comparator) and returns its
/// fragment count; hostile bytes give an error, never a panic.
///
/// # Errors
/// The corruption found.
pub fn decode_range_tombstones(bytes: &[u8]) -> std::result::Result<usize, CorruptionKind> {
    crate::range_tombstone::FragList::decode(bytes, &Comparator::default()).map(|l| l.len())
}

/// The bytes the current version's tables keep in memory outside the block cache: (pinned
/// index blocks, pinned filters and filter indexes), summed over every table (what `strata
/// bench` reports beside the block cache and the memtables, so that a gap to the process's
/// resident memory can be seen).
#[must_use]
pub fn pinned_bytes(tree: &crate::Tree) -> (u64, u64) {
    tree.0
        .super_version
        .load()
        .version
        .tables()
        .map(|t| t.pinned_bytes())
        .fold((0u64, 0u64), |(index, filter), (i, f)| {
            (index.saturating_add(i), filter.saturating_add(f))
        })
}

/// The bytes of the tree's memtables, the active one and the sealed ones.
#[must_use]
pub fn memtable_bytes(tree: &crate::Tree) -> u64 {
    tree.memtable_bytes()
}

/// The bytes in use in the tree's block cache ([`Cache::size`]; a database's keyspaces share
/// one cache).
#[must_use]
pub fn cache_bytes(tree: &crate::Tree) -> u64 {
    tree.0.config.cache.size()
}

/// The tree of a database's keyspace, for the functions above.
#[must_use]
pub fn keyspace_tree(keyspace: &crate::Keyspace) -> &crate::Tree {
    keyspace.tree()
}
