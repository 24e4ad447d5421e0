//! Engine internals for tools, fuzz targets and benchmarks (cargo feature `internals`).
//!
//! Not a stable API: these entry points exist so that the CLI, the cargo-fuzz targets and the
//! criterion benchmarks can drive the decoders and the table format directly, without the rest
//! of the engine. Every function takes raw bytes or a path and returns an error for bad input,
//! never a panic.
//!
//! Reading a tree in place ([`read_manifest`], [`ReadOnlyTree`], [`table_files`],
//! [`verify_table`], [`TableFile`]) changes no file: unlike [`Config::open`](crate::Config::open),
//! which runs recovery (a fresh manifest, orphans deleted), these only read. They take no lock, so
//! a tree open elsewhere may change the directory meanwhile: the reader then gets an error (a
//! file not found), never wrong data. They read trees written with the default comparator.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cache::{Cache, DescriptorTable};
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
use crate::table::meta::BlockHandle as RawHandle;
use crate::table::reader::{IndexSpans, Table, TableContext};
use crate::table::writer::{TableWriter, TableWriterOptions};
use crate::version::Version;
use crate::version::read_only::{ManifestState, open_version, read_manifest_state};
use crate::version::recovery::list_table_files;

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

/// An open table file, for tools and benchmarks. Opening reads the file and writes nothing.
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
            level_pins: std::sync::Arc::from([]),
        };
        Ok(Self {
            table: Arc::new(Table::open(path, &ctx)?),
        })
    }

    /// What the table's meta block and file say about it.
    pub fn info(&self) -> TableInfo {
        TableInfo::of(&self.table)
    }

    /// Where the table's blocks lie: the footer's three handles and, read from the index, every
    /// index partition and data block.
    ///
    /// # Errors
    /// `Io` or `Corruption` if an index block cannot be read.
    pub fn layout(&self) -> Result<TableLayout> {
        let footer = self.table.footer();
        let spans = self.table.index_spans()?;
        let index_partitions = match &spans {
            IndexSpans::Partitioned(parts) => parts
                .iter()
                .map(|(k, h)| (k.clone(), (*h).into()))
                .collect(),
            IndexSpans::Full(_) => Vec::new(),
        };
        let mut data_blocks = Vec::new();
        for i in 0..spans.len() {
            let handles = self.table.span_handles(&spans, i)?;
            data_blocks.extend(handles.into_iter().map(|(k, h)| (k, h.into())));
        }
        Ok(TableLayout {
            file_size: self.table.file_size(),
            index: footer.index.into(),
            index_partitioned: footer.index_partitioned,
            index_partitions,
            filter: footer.filter.map(Into::into),
            filter_partitioned: footer.filter_partitioned,
            meta: footer.meta.into(),
            data_blocks,
        })
    }

    /// Every entry (every version, tombstones included) whose user key lies within
    /// `(lower, upper)`, in internal-key order.
    ///
    /// ```
    /// use std::ops::Bound;
    /// use strata::internals::{TableFile, TableOptions, write_table};
    /// use strata::{InternalValue, ValueType};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("1.sst");
    /// let entries = ["a", "b", "c"].map(|k| InternalValue::from_components(k, "v", 1, ValueType::Value));
    /// write_table(&path, entries, &TableOptions::default())?;
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
        let own = |bound: Bound<K>| match bound {
            Bound::Included(k) => Bound::Included(Slice::new(k.as_ref())),
            Bound::Excluded(k) => Bound::Excluded(Slice::new(k.as_ref())),
            Bound::Unbounded => Bound::Unbounded,
        };
        Box::new(TableIter::new(
            Arc::clone(&self.table),
            (own(lower), own(upper)),
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
}

/// What a table's meta block and file say about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableInfo {
    /// The table file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub file_size: u64,
    /// The table id its meta block records (its file name is `<table_id>.sst`).
    pub table_id: u64,
    /// Creation time, microseconds since the Unix epoch.
    pub created_at_micros: u64,
    /// Entries of every type.
    pub entry_count: u64,
    /// Tombstones.
    pub tombstone_count: u64,
    /// Weak tombstones.
    pub weak_tombstone_count: u64,
    /// Weak tombstones stored directly above a value of their key.
    pub weak_tombstone_reclaimable: u64,
    /// Data blocks.
    pub data_block_count: u64,
    /// The lowest seqno of an entry.
    pub seqno_min: SeqNo,
    /// The highest seqno of an entry.
    pub seqno_max: SeqNo,
    /// The first user key.
    pub min_key: Slice,
    /// The last user key.
    pub max_key: Slice,
    /// The data block size setting, in bytes.
    pub block_size: u32,
    /// The restart interval of data blocks.
    pub restart_interval: u8,
    /// The restart interval of index blocks.
    pub index_restart_interval: u8,
    /// The compression setting of data blocks (a `CompressionType` byte: 0 none, 1 LZ4).
    pub data_compression: u8,
    /// The compression setting of index blocks.
    pub index_compression: u8,
    /// Bloom filter bits per key × 1000; 0 without a filter.
    pub filter_bits_per_key_milli: u32,
    /// The comparator's name.
    pub comparator: String,
}

impl TableInfo {
    fn of(table: &Table) -> Self {
        let meta = table.meta();
        Self {
            path: table.path().to_path_buf(),
            file_size: table.file_size(),
            table_id: meta.table_id,
            created_at_micros: meta.created_at_micros,
            entry_count: meta.entry_count,
            tombstone_count: meta.tombstone_count,
            weak_tombstone_count: meta.weak_tombstone_count,
            weak_tombstone_reclaimable: meta.weak_tombstone_reclaimable,
            data_block_count: meta.data_block_count,
            seqno_min: meta.seqno_min,
            seqno_max: meta.seqno_max,
            min_key: meta.min_key.clone(),
            max_key: meta.max_key.clone(),
            block_size: meta.settings.block_size,
            restart_interval: meta.settings.restart_interval,
            index_restart_interval: meta.settings.index_restart_interval,
            data_compression: meta.settings.data_compression,
            index_compression: meta.settings.index_compression,
            filter_bits_per_key_milli: meta.settings.filter_bits_per_key_milli,
            comparator: meta.comparator.clone(),
        }
    }
}

/// Where a block lies in its table file: its offset and its length on disk, header included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHandle {
    /// The offset of the block's first byte.
    pub offset: u64,
    /// The block's length on disk, its 18-byte header included.
    pub len: u64,
}

impl From<RawHandle> for BlockHandle {
    fn from(handle: RawHandle) -> Self {
        Self {
            offset: handle.offset,
            len: handle.len,
        }
    }
}

/// Where a table's blocks lie (`docs/format.md`, sections 3 and 6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableLayout {
    /// The file's size in bytes; the footer is its last 72.
    pub file_size: u64,
    /// The index block (the top-level one if partitioned).
    pub index: BlockHandle,
    /// Whether the index is partitioned.
    pub index_partitioned: bool,
    /// Each index partition's last user key and handle (empty for a full index).
    pub index_partitions: Vec<(Slice, BlockHandle)>,
    /// The filter block, or the filter index block if partitioned; `None` without a filter.
    pub filter: Option<BlockHandle>,
    /// Whether the filter is partitioned.
    pub filter_partitioned: bool,
    /// The meta block.
    pub meta: BlockHandle,
    /// Each data block's last user key and handle, in file order.
    pub data_blocks: Vec<(Slice, BlockHandle)>,
}

/// What the manifest that `CURRENT` names describes, replayed as recovery replays it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestInfo {
    /// The manifest's file name (`MANIFEST-000007`), as `CURRENT` gives it.
    pub name: String,
    /// Its path.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// The byte offset of each record, in file order.
    pub record_offsets: Vec<u64>,
    /// Where a torn tail starts, if the file ends in one (ignored by recovery: the last append
    /// never completed).
    pub torn_tail: Option<u64>,
    /// The comparator name the manifest records.
    pub comparator: Option<String>,
    /// The format version the manifest records.
    pub format_version: Option<u32>,
    /// The next table id.
    pub next_table_id: u64,
    /// The highest seqno of any table.
    pub highest_seqno: Option<SeqNo>,
    /// Per level (7 of them), its runs in read order (level 0: newest first), each the ids of
    /// its tables in key order.
    pub levels: Vec<Vec<Vec<u64>>>,
}

impl ManifestInfo {
    fn of(state: &ManifestState) -> Self {
        Self {
            name: state.name.clone(),
            path: state.path.clone(),
            size_bytes: state.size_bytes,
            record_offsets: state.record_offsets.clone(),
            torn_tail: state.torn_tail,
            comparator: state.replayed.comparator.clone(),
            format_version: state.replayed.format_version,
            next_table_id: state.replayed.next_table_id,
            highest_seqno: state.replayed.highest_seqno,
            levels: state.replayed.levels.clone(),
        }
    }

    /// Every table id the manifest names.
    pub fn table_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.levels.iter().flatten().flatten().copied()
    }
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
/// assert_eq!(manifest.levels[0], [[0]]);
/// assert_eq!(manifest.highest_seqno, Some(0));
/// # Ok::<(), strata::Error>(())
/// ```
///
/// # Errors
/// `InvalidArgument` if `dir` has no `CURRENT` (it holds no tree); `Io` if a file cannot be read;
/// `Corruption` (file and offset) for a damaged `CURRENT` or manifest.
pub fn read_manifest(dir: &Path) -> Result<ManifestInfo> {
    read_manifest_state(&StdFs, dir).map(|state| ManifestInfo::of(&state))
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
    manifest: ManifestInfo,
    version: Version,
    cmp: Comparator,
}

impl ReadOnlyTree {
    /// Replays the manifest and opens every table it names, with the checks an open makes
    /// (comparator, format version, table ids, run order).
    ///
    /// # Errors
    /// As [`read_manifest`]; `ComparatorMismatch` for a tree written under another comparator
    /// than the default; `Io` or `Corruption` for a missing or damaged table.
    pub fn open(dir: &Path) -> Result<Self> {
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
        };
        let version = open_version(&state, &dir.join(crate::layout::TABLES_FOLDER), &ctx)?;
        Ok(Self {
            manifest: ManifestInfo::of(&state),
            version,
            cmp,
        })
    }

    /// The replayed manifest.
    pub fn manifest(&self) -> &ManifestInfo {
        &self.manifest
    }

    /// Per level (7), its runs in read order (level 0: newest first), each its tables in key
    /// order.
    pub fn levels(&self) -> Vec<Vec<Vec<TableInfo>>> {
        self.version
            .levels
            .iter()
            .map(|level| {
                level
                    .runs
                    .iter()
                    .map(|run| run.tables().iter().map(|t| TableInfo::of(t)).collect())
                    .collect()
            })
            .collect()
    }

    /// Every live key with its value as of the latest seqno, in key order: what a tree opened
    /// on these tables reads with `iter` (newest version per key, deleted keys left out).
    pub fn scan(&self) -> impl Iterator<Item = Result<(Slice, Slice)>> + Send + 'static {
        crate::tree::scan_version(
            &self.version,
            &self.cmp,
            (Bound::Unbounded, Bound::Unbounded),
            SeqNo::MAX,
        )
        .map(|entry| entry.map(|e| (e.key.user_key, e.value)))
    }
}

/// What [`verify_table`] found in one table file.
#[derive(Debug)]
pub struct TableReport {
    /// The file's size in bytes.
    pub file_size: u64,
    /// The table id its meta block records, if the meta block is intact.
    pub table_id: Option<u64>,
    /// Blocks read and checked.
    pub blocks_checked: u64,
    /// Bytes read and checked: the blocks and the footer.
    pub bytes_checked: u64,
    /// Entries decoded from the data blocks.
    pub entries_checked: u64,
    /// Whether the cross-block checks ran (entry order, index keys, filter, meta counts); they
    /// need the table to record the default comparator.
    pub cross_checked: bool,
    /// Every damage found: each an [`Error::Corruption`] naming the file and the offset of the
    /// damaged block or footer (or [`Error::UnsupportedFormat`]). Empty for a clean table.
    pub damages: Vec<Error>,
}

/// Reads every block of the table at `path` (meta, index and partitions, filter and partitions,
/// data), verifies each checksum and decodes each block, and checks that they agree with each
/// other; a damaged block does not stop the walk. Reads only.
///
/// ```
/// use strata::internals::{TableOptions, verify_table, write_table};
/// use strata::{InternalValue, ValueType};
///
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("1.sst");
/// let entries = (0..100u32).map(|i| {
///     InternalValue::from_components(format!("{i:03}"), "v", 1, ValueType::Value)
/// });
/// write_table(&path, entries, &TableOptions::default())?;
/// let report = verify_table(&path)?;
/// assert!(report.damages.is_empty());
/// assert_eq!(report.entries_checked, 100);
/// assert_eq!(report.bytes_checked, report.file_size);
/// # Ok::<(), strata::Error>(())
/// ```
///
/// # Errors
/// `Io` if the file cannot be opened or read; damage is reported in [`TableReport::damages`].
pub fn verify_table(path: &Path) -> Result<TableReport> {
    let check = crate::table::verify::verify_table(&StdFs, path, &Comparator::default())?;
    Ok(TableReport {
        file_size: check.file_size,
        table_id: check.meta.map(|m| m.table_id),
        blocks_checked: check.blocks_checked,
        bytes_checked: check.bytes_checked,
        entries_checked: check.entries_checked,
        cross_checked: check.cross_checked,
        damages: check.damages,
    })
}
