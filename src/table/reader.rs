//! The table reader: opens a table file, validates it, and serves point reads and scans.
//!
//! Opening reads the footer, then the meta block, the (top-level) index block (always kept in
//! memory) and, when pinned or partitioned, the filter block or filter index, and checks the
//! comparator name. Every block read afterwards goes through the block cache: a miss reads the
//! block's bytes at its handle (bounded by the file's size, never by a length from the file
//! alone), verifies the checksum, decompresses and caches the raw contents.
//!
//! A point read checks, in order: the key range from the meta block, the bloom filter (with the key
//! hash the caller computed once for all tables), the index, and finally one data block.
//!
//! An ingested table is opened with its global seqno ([`Table::open_ingested`], recorded in the
//! manifest, `docs/format.md` 10.3 tag 9): its entries were written with seqno 0 before the
//! ingestion took its seqno, and every entry reads as if written at the global seqno. Its meta's
//! seqno range is set to it in memory, point reads and scans at or below it see nothing, and
//! above it every entry comes out carrying it (`TableIter` does the same for scans). The file on
//! its own (the CLI, the verifier) still reads as written, at seqno 0.
//!
//! Thread safety: a [`Table`] is immutable and `Send + Sync`; any number of reads and scans may
//! run on it at once.

#![deny(clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::block::{BlockHeader, BlockType, decode_block_with};
use super::data_block::BlockCursor;
use super::data_block::DataBlock;
use super::filter::FilterReader;
use super::meta::{BlockHandle, FOOTER_LEN, Footer, FooterError, TableMeta};
use crate::cache::{Cache, DescriptorTable, FileSource, next_cache_id};
use crate::compression::ZstdDictionary;
use crate::error::{CorruptionKind, Error, Result};
use crate::fs::{Fs, FsReadFile};
use crate::key::{Comparator, InternalValue};
use crate::range_tombstone::FragList;
use crate::seqno::SeqNo;
use crate::slice::Slice;

/// A table's index, split into spans a scan loads one at a time: the restart intervals of a
/// full index block, or the partitions of a partitioned index (whose top level is decoded whole).
pub(crate) enum IndexSpans {
    Full(DataBlock),
    Partitioned(Vec<(Slice, BlockHandle)>),
}

impl IndexSpans {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Full(index) => index.restart_count(),
            Self::Partitioned(parts) => parts.len(),
        }
    }

    /// Whether spans are judged by their first key (full index) rather than their last.
    pub(crate) fn keyed_by_first(&self) -> bool {
        matches!(self, Self::Full(_))
    }
}

/// Everything a table reader needs from its tree.
#[derive(Clone)]
pub(crate) struct TableContext {
    pub(crate) fs: Arc<dyn Fs>,
    pub(crate) cache: Arc<Cache>,
    pub(crate) descriptors: Option<Arc<DescriptorTable>>,
    pub(crate) cmp: Comparator,
    pub(crate) pin_index: bool,
    pub(crate) pin_filter: bool,
    /// Per level, whether its tables pin their index and filter (`(index, filter)`; the last
    /// entry repeats). Empty: `pin_index` and `pin_filter` hold for every level.
    pub(crate) level_pins: Arc<[(bool, bool)]>,
    /// The tree's zstd dictionary ([`Config::zstd_dictionary`](crate::Config::zstd_dictionary)).
    pub(crate) dictionary: Option<Arc<ZstdDictionary>>,
    /// The tree's encryption provider ([`Config::with_encryption`](crate::Config::with_encryption)).
    pub(crate) encryption: Option<Arc<dyn crate::EncryptionProvider>>,
}

/// Checks that the dictionary a table's meta block names (`stored`, never 0) is `supplied`.
///
/// # Errors
/// `DictionaryMismatch` naming both ids.
pub(crate) fn check_dictionary(
    path: &Path,
    stored: u32,
    supplied: Option<&ZstdDictionary>,
) -> Result<()> {
    match supplied.map(ZstdDictionary::id) {
        Some(id) if id == stored => Ok(()),
        supplied => Err(Error::DictionaryMismatch {
            file: path.to_path_buf(),
            stored,
            supplied,
        }),
    }
}

impl TableContext {
    /// The context for opening a table of `level`: that level's pinning.
    pub(crate) fn at_level(&self, level: usize) -> Self {
        let mut ctx = self.clone();
        if let Some(&(index, filter)) = self.level_pins.get(level).or(self.level_pins.last()) {
            ctx.pin_index = index;
            ctx.pin_filter = filter;
        }
        ctx
    }
}

/// Where the paths of obsolete tables go once their last reader drops them.
pub(crate) type ObsoleteSink = Arc<parking_lot::Mutex<Vec<PathBuf>>>;

/// An open table file; see the module documentation.
///
/// Public only for `strata::internals` (feature `internals`): the module is private to the
/// crate, so tools reach the type, and its `pub` accessors, only through that re-export.
pub struct Table {
    cache_id: u64,
    path: PathBuf,
    file_size: u64,
    fs: Arc<dyn Fs>,
    source: FileSource,
    cache: Arc<Cache>,
    cmp: Comparator,
    meta: TableMeta,
    footer: Footer,
    /// The top-level index block, if pinned in memory; otherwise read through the block cache.
    pinned_index: Option<DataBlock>,
    /// The filter (or filter index) block if pinned.
    pinned_filter: Option<Slice>,
    /// The filter index of a partitioned filter, parsed and validated at open.
    filter_partitions: Option<DataBlock>,
    /// Set once a durable version edit removed this table: the file is deleted when the last
    /// reader lets go of the table.
    /// Set once the table left every version: where its file goes when the last reader drops it.
    obsolete: std::sync::OnceLock<ObsoleteSink>,
    /// The newest memtable generation whose entries this table holds (0: read from disk).
    origin: std::sync::atomic::AtomicU64,
    /// The checksums stored in the headers of the meta block and of the (top-level) index block,
    /// read at open: what the file records that identifies its contents (it has no whole-file
    /// checksum).
    stored_checksums: (u64, u64),
    /// The seqno every entry reads at (an ingested table); see the module documentation.
    global_seqno: Option<SeqNo>,
    /// The zstd dictionary the meta block names, checked at open; `None` if it names none.
    dictionary: Option<Arc<ZstdDictionary>>,
    /// The tree's encryption provider, for the blocks read after the open.
    encryption: Option<Arc<dyn crate::EncryptionProvider>>,
    /// The range tombstones, decoded once at open and kept while the table is open.
    range_tombstones: Arc<FragList>,
}

/// Decodes a range-tombstone block and checks it against the meta block: the fragment count, the
/// seqno range, and every fragment inside the table's bounds.
fn decode_range_tombstones(
    meta: &TableMeta,
    raw: &[u8],
    cmp: &Comparator,
) -> std::result::Result<Arc<FragList>, CorruptionKind> {
    let list = FragList::decode(raw, cmp)?;
    let bad = CorruptionKind::InvalidField("range tombstone block");
    if list.len() as u64 != meta.range_tombstone_count
        || list.seqno_range() != Some(meta.range_tombstone_seqnos)
    {
        return Err(bad);
    }
    let Some((first_start, last_end)) = list.key_span() else {
        return Err(bad);
    };
    let inside = cmp.user(&meta.min_key, first_start).is_le()
        && match cmp.user(last_end, &meta.max_key) {
            // NB: an end (exclusive) at the last key covers nothing past the table, whether
            // the bound is that key (included) or the end itself.
            std::cmp::Ordering::Less | std::cmp::Ordering::Equal => true,
            std::cmp::Ordering::Greater => false,
        };
    if inside { Ok(Arc::new(list)) } else { Err(bad) }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("path", &self.path)
            .field("id", &self.meta.table_id)
            .field("entries", &self.meta.entry_count)
            .finish_non_exhaustive()
    }
}

fn corruption(path: &Path, offset: u64, what: CorruptionKind) -> Error {
    Error::Corruption {
        file: path.to_path_buf(),
        offset,
        what,
    }
}

/// Reads `len` bytes at `offset` straight into a shared buffer (no copy afterwards).
fn read_exact(file: &dyn FsReadFile, path: &Path, offset: u64, len: usize) -> Result<Slice> {
    let mut buf: Arc<[u8]> = std::iter::repeat_n(0u8, len).collect();
    let target = Arc::get_mut(&mut buf).unwrap_or_default();
    file.read_exact_at(target, offset)
        .map_err(|e| Error::io("read table block", Some(path.to_path_buf()), e))?;
    Ok(Slice::from(buf))
}

/// Reads and checks the footer of the table file `file` (at `path`); returns it and the file's
/// size.
fn read_footer(file: &dyn FsReadFile, path: &Path) -> Result<(Footer, u64)> {
    let file_size = file
        .size_bytes()
        .map_err(|e| Error::io("stat table", Some(path.to_path_buf()), e))?;
    let footer_offset = file_size
        .checked_sub(FOOTER_LEN as u64)
        .ok_or_else(|| corruption(path, 0, CorruptionKind::Truncated))?;
    let mut footer_bytes = [0u8; FOOTER_LEN];
    file.read_exact_at(&mut footer_bytes, footer_offset)
        .map_err(|e| Error::io("read table footer", Some(path.to_path_buf()), e))?;
    let footer = Footer::decode(&footer_bytes, file_size).map_err(|e| match e {
        FooterError::Corrupt(what) => corruption(path, footer_offset, what),
        FooterError::UnsupportedVersion(version) => Error::UnsupportedFormat {
            file: path.to_path_buf(),
            version,
            missing: None,
        },
    })?;
    Ok((footer, file_size))
}

impl Table {
    /// Opens and validates the table at `path`.
    ///
    /// # Errors
    /// `Io` if the file cannot be read; `Corruption` (naming the file and offset) for bad bytes;
    /// `UnsupportedFormat` for an unknown format version; `ComparatorMismatch` if it was written
    /// under another comparator.
    pub(crate) fn open(path: &Path, ctx: &TableContext) -> Result<Self> {
        let file: Arc<dyn FsReadFile> = Arc::from(
            ctx.fs
                .open(path)
                .map_err(|e| Error::io("open table", Some(path.to_path_buf()), e))?,
        );
        let (footer, file_size) = read_footer(file.as_ref(), path)?;
        let cache_id = next_cache_id();
        let source = FileSource::new(Arc::clone(&file), cache_id, ctx.descriptors.as_ref());
        // A block's raw contents and the checksum its header stores.
        let read_raw = |handle: BlockHandle,
                        block_type,
                        dictionary: Option<&ZstdDictionary>|
         -> Result<(Slice, u64)> {
            let len = usize::try_from(handle.len).map_err(|_| {
                corruption(
                    path,
                    handle.offset,
                    CorruptionKind::InvalidField("block length"),
                )
            })?;
            let bytes = read_exact(file.as_ref(), path, handle.offset, len)?;
            let raw = decode_block_with(&bytes, block_type, dictionary, ctx.encryption.as_deref())
                .map_err(|error| error.at(path, handle.offset))?;
            // The header parsed for `decode_block` just now: it cannot fail here.
            let checksum = BlockHeader::parse(&bytes).map_or(0, |header| header.checksum);
            Ok((raw, checksum))
        };
        // NB: the meta block is never compressed; the dictionary its meta names is checked
        // before any other block is read.
        let mut dictionary: Option<Arc<ZstdDictionary>> = None;
        let (meta_raw, meta_checksum) = read_raw(footer.meta, BlockType::Meta, None)?;
        let meta = TableMeta::decode(&meta_raw, file_size, footer.version)
            .map_err(|what| corruption(path, footer.meta.offset, what))?;
        if meta.zstd_dict_id != 0 {
            check_dictionary(path, meta.zstd_dict_id, ctx.dictionary.as_deref())?;
            dictionary.clone_from(&ctx.dictionary);
        }
        if !crate::key::comparator_names_match(&meta.comparator, ctx.cmp.name()) {
            return Err(Error::ComparatorMismatch {
                stored: meta.comparator.clone(),
                supplied: ctx.cmp.name().to_string(),
            });
        }
        let range_tombstones = match meta.range_tombstone_block {
            Some(handle) => {
                let raw = read_raw(handle, BlockType::RangeTombstones, None)?.0;
                decode_range_tombstones(&meta, &raw, &ctx.cmp)
                    .map_err(|what| corruption(path, handle.offset, what))?
            }
            None => Arc::default(),
        };
        let (index_raw, index_checksum) =
            read_raw(footer.index, BlockType::Index, dictionary.as_deref())?;
        let index = DataBlock::new(index_raw)
            .and_then(|index| index.with_fences(&ctx.cmp))
            .map_err(|what| corruption(path, footer.index.offset, what))?;
        let pinned_filter = match footer.filter {
            Some(handle) if ctx.pin_filter || footer.filter_partitioned => {
                let block_type = if footer.filter_partitioned {
                    BlockType::Index
                } else {
                    BlockType::Filter
                };
                Some(read_raw(handle, block_type, dictionary.as_deref())?.0)
            }
            _ => None,
        };
        let filter_partitions = match (&pinned_filter, footer.filter) {
            (Some(raw), Some(handle)) if footer.filter_partitioned => Some(
                DataBlock::new(raw.clone())
                    .map_err(|what| corruption(path, handle.offset, what))?,
            ),
            _ => None,
        };
        Ok(Self {
            cache_id,
            path: path.to_path_buf(),
            file_size,
            fs: Arc::clone(&ctx.fs),
            source,
            cache: Arc::clone(&ctx.cache),
            cmp: ctx.cmp.clone(),
            meta,
            footer,
            pinned_index: ctx.pin_index.then_some(index),
            pinned_filter,
            filter_partitions,
            obsolete: std::sync::OnceLock::new(),
            origin: std::sync::atomic::AtomicU64::new(0),
            stored_checksums: (meta_checksum, index_checksum),
            global_seqno: None,
            dictionary,
            encryption: ctx.encryption.clone(),
            range_tombstones,
        })
    }

    /// The checksums stored in the headers of the meta block and of the (top-level) index block,
    /// as read when the table was opened.
    pub(crate) fn stored_checksums(&self) -> (u64, u64) {
        self.stored_checksums
    }

    /// Opens the table at `path` as an ingested table whose entries all read at `seqno` (see the
    /// module documentation).
    ///
    /// # Errors
    /// As [`Table::open`].
    pub(crate) fn open_ingested(path: &Path, ctx: &TableContext, seqno: SeqNo) -> Result<Self> {
        let mut table = Self::open(path, ctx)?;
        table.meta.seqno_min = seqno;
        table.meta.seqno_max = seqno;
        table.meta.kv_seqno_max = seqno;
        table.global_seqno = Some(seqno);
        Ok(table)
    }

    /// The seqno every entry reads at, for an ingested table.
    pub(crate) fn global_seqno(&self) -> Option<SeqNo> {
        self.global_seqno
    }

    /// The table's range tombstones (empty without any).
    pub(crate) fn range_tombstones(&self) -> &Arc<FragList> {
        &self.range_tombstones
    }

    /// Whether the table's bounds end before `key`: its last key is below it, or equal to it
    /// and exclusive (a range tombstone's end).
    pub(crate) fn ends_before(&self, key: &[u8]) -> bool {
        match self.cmp.user(&self.meta.max_key, key) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Equal => self.meta.max_key_exclusive,
            std::cmp::Ordering::Greater => false,
        }
    }

    /// What the table's meta block records.
    pub fn meta(&self) -> &TableMeta {
        &self.meta
    }

    /// The table file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The table file's size in bytes.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    pub(crate) fn cmp(&self) -> &Comparator {
        &self.cmp
    }

    /// The bytes of the filter blocks (0 without a filter).
    pub(crate) fn filter_size(&self) -> u64 {
        self.footer.filter.map_or(0, |h| h.len)
    }

    fn file(&self) -> Result<Arc<dyn FsReadFile>> {
        self.source
            .file(self.cache_id, self.fs.as_ref(), &self.path, "reopen table")
    }

    /// Checks that `handle` lies in the table's body and returns its length and cache key.
    fn checked_handle(&self, handle: BlockHandle, block_type: BlockType) -> Result<(usize, u64)> {
        // Every block lies before the footer; checked before the cache, so that no handle can
        // alias another block's cache key.
        let body_end = self.file_size.saturating_sub(FOOTER_LEN as u64);
        let in_bounds = handle
            .offset
            .checked_add(handle.len)
            .is_some_and(|end| end <= body_end);
        let len = usize::try_from(handle.len)
            .ok()
            .filter(|_| in_bounds)
            .ok_or_else(|| {
                corruption(
                    &self.path,
                    handle.offset,
                    CorruptionKind::InvalidField("block handle"),
                )
            })?;
        // NB: the block type is part of the cache key, so a handle pointing a read of one kind at
        // a block cached as another still goes through `decode_block`'s type check. Offsets are
        // below the file size, far below 2^62, so the key is unique.
        Ok((len, (handle.offset << 2) | u64::from(block_type as u8)))
    }

    /// Reads and verifies the block at `handle` from the file (a cache miss, for a compaction if
    /// `compaction`); returns its raw contents.
    fn read_from_file(
        &self,
        handle: BlockHandle,
        block_type: BlockType,
        len: usize,
        compaction: bool,
    ) -> Result<Slice> {
        self.cache
            .record(block_type as u8, false, handle.len, compaction);
        let bytes = read_exact(self.file()?.as_ref(), &self.path, handle.offset, len)?;
        decode_block_with(
            &bytes,
            block_type,
            self.dictionary.as_deref(),
            self.encryption.as_deref(),
        )
        .map_err(|error| error.at(&self.path, handle.offset))
    }

    /// Reads, verifies and caches the block at `handle`; returns its raw contents.
    pub(crate) fn read_block(&self, handle: BlockHandle, block_type: BlockType) -> Result<Slice> {
        let (len, cache_key) = self.checked_handle(handle, block_type)?;
        if let Some(block) = self.cache.get_raw(self.cache_id, cache_key) {
            self.cache.record(block_type as u8, true, 0, false);
            return Ok(block);
        }
        let block = self.read_from_file(handle, block_type, len, false)?;
        self.cache.insert_block(
            self.cache_id,
            cache_key,
            crate::cache::CachedBlock::Raw(block.clone()),
        );
        Ok(block)
    }

    /// The data or index block at `handle`, through the cache: a miss reads, verifies and
    /// validates it once, and the cache keeps it parsed, so a hit is used without any check.
    fn data_block(&self, handle: BlockHandle, block_type: BlockType) -> Result<DataBlock> {
        self.data_block_filling(handle, block_type, true)
    }

    /// [`Table::data_block`]; with `fill` false a miss is not inserted into the cache (a
    /// compaction's reads: they would evict the blocks that reads use, for blocks read once).
    fn data_block_filling(
        &self,
        handle: BlockHandle,
        block_type: BlockType,
        fill: bool,
    ) -> Result<DataBlock> {
        let (len, cache_key) = self.checked_handle(handle, block_type)?;
        if let Some(crate::cache::CachedBlock::Parsed(block)) =
            self.cache.get_block(self.cache_id, cache_key)
        {
            self.cache.record(block_type as u8, true, 0, !fill);
            return Ok(block);
        }
        // NB: only compactions read without filling the cache.
        let raw = self.read_from_file(handle, block_type, len, !fill)?;
        let block = DataBlock::new(raw)
            .and_then(|block| match block_type {
                BlockType::Index => block.with_fences(&self.cmp),
                _ => Ok(block),
            })
            .map_err(|what| corruption(&self.path, handle.offset, what))?;
        if fill {
            self.cache.insert_block(
                self.cache_id,
                cache_key,
                crate::cache::CachedBlock::Parsed(block.clone()),
            );
        }
        Ok(block)
    }

    fn decode_handle(&self, entry: &InternalValue, at: u64) -> Result<BlockHandle> {
        BlockHandle::decode(&entry.value).map_err(|what| corruption(&self.path, at, what))
    }

    /// The top-level index block: pinned, or through the block cache.
    fn top_index(&self) -> Result<std::borrow::Cow<'_, DataBlock>> {
        match &self.pinned_index {
            Some(index) => Ok(std::borrow::Cow::Borrowed(index)),
            None => self
                .data_block(self.footer.index, BlockType::Index)
                .map(std::borrow::Cow::Owned),
        }
    }

    /// Whether `key` lies within the table's key range.
    pub(crate) fn key_in_range(&self, key: &[u8]) -> bool {
        self.cmp.user(key, &self.meta.min_key).is_ge() && !self.ends_before(key)
    }

    /// Whether the filter admits a key with hash `hash` (true without a filter).
    pub(crate) fn filter_may_contain(&self, key: &[u8], hash: u64) -> Result<bool> {
        let Some(handle) = self.footer.filter else {
            return Ok(true);
        };
        if !self.footer.filter_partitioned {
            // NB: the pinned filter is borrowed, not cloned: no reference count is touched.
            if let Some(pinned) = &self.pinned_filter {
                return self.filter_admits(pinned, hash, handle.offset);
            }
            let bytes = self.read_block(handle, BlockType::Filter)?;
            return self.filter_admits(&bytes, hash, handle.offset);
        }
        // The partition covering `key` is the first whose last user key is >= key.
        let Some(entry) = self
            .filter_index(handle)?
            .seek(&self.cmp, key, SeqNo::MAX >> 1)
            .map_err(|what| corruption(&self.path, handle.offset, what))?
        else {
            return Ok(false);
        };
        self.partition_admits(&entry, hash, handle.offset)
    }

    /// Whether the filter admits a key that starts with `prefix`, whose hash (`hash`) the
    /// writer's prefix extractor recorded: true without a filter. The caller checks that this
    /// table's extractor is the reader's and that the prefix is a scan boundary.
    ///
    /// A partitioned filter is asked in every partition that can hold a key starting with
    /// `prefix`: under the lexicographic order, from the first whose last key reaches `prefix` to
    /// the first whose last key is past every key with the prefix; under another order, all.
    pub(crate) fn filter_may_contain_prefix(&self, prefix: &[u8], hash: u64) -> Result<bool> {
        let Some(handle) = self.footer.filter else {
            return Ok(true);
        };
        if !self.footer.filter_partitioned {
            return self.filter_may_contain(prefix, hash);
        }
        let lexicographic = self.cmp.is_lexicographic();
        let entries = self
            .filter_index(handle)?
            .entries()
            .map_err(|what| corruption(&self.path, handle.offset, what))?;
        for entry in &entries {
            let last_key: &[u8] = &entry.key.user_key;
            if lexicographic && last_key < prefix {
                continue;
            }
            if self.partition_admits(entry, hash, handle.offset)? {
                return Ok(true);
            }
            if lexicographic && !last_key.starts_with(prefix) {
                break;
            }
        }
        Ok(false)
    }

    /// The filter index of a partitioned filter (always pinned, parsed at open).
    fn filter_index(&self, handle: BlockHandle) -> Result<&DataBlock> {
        self.filter_partitions.as_ref().ok_or_else(|| {
            corruption(
                &self.path,
                handle.offset,
                CorruptionKind::InvalidField("filter index"),
            )
        })
    }

    /// Whether the filter partition that the filter index entry `entry` points to admits `hash`.
    fn partition_admits(&self, entry: &InternalValue, hash: u64, index_at: u64) -> Result<bool> {
        let part = self.decode_handle(entry, index_at)?;
        let bytes = self.read_block(part, BlockType::Filter)?;
        self.filter_admits(&bytes, hash, index_at)
    }

    /// Whether the filter encoded in `bytes` (the block at `at`) admits `hash`.
    fn filter_admits(&self, bytes: &[u8], hash: u64, at: u64) -> Result<bool> {
        let reader = FilterReader::new(bytes)
            .map_err(|_| corruption(&self.path, at, CorruptionKind::InvalidField("filter")))?;
        Ok(reader.may_contain_hash(hash))
    }

    /// The handle of the data block that holds the first entry at or after `(key, seqno)`.
    fn find_data_block(&self, key: &[u8], seqno: SeqNo) -> Result<Option<BlockHandle>> {
        let at = self.footer.index.offset;
        let Some(entry) = self
            .top_index()?
            .seek(&self.cmp, key, seqno)
            .map_err(|what| corruption(&self.path, at, what))?
        else {
            return Ok(None);
        };
        let handle = self.decode_handle(&entry, at)?;
        if !self.footer.index_partitioned {
            return Ok(Some(handle));
        }
        let part = self.data_block(handle, BlockType::Index)?;
        let Some(entry) = part
            .seek(&self.cmp, key, seqno)
            .map_err(|what| corruption(&self.path, handle.offset, what))?
        else {
            return Ok(None);
        };
        self.decode_handle(&entry, handle.offset).map(Some)
    }

    /// The newest version of `key` with a seqno below `seqno`, tombstones included.
    ///
    /// `hash` is [`key_hash`](super::filter::key_hash) of `key`, computed once per lookup.
    pub(crate) fn get(&self, key: &[u8], seqno: SeqNo, hash: u64) -> Result<Option<InternalValue>> {
        if let Some(global) = self.global_seqno {
            if seqno <= global {
                return Ok(None);
            }
            // NB: an ingested table holds one version per key, so the newest one is the one.
            return Ok(self.get_stored(key, SeqNo::MAX, hash)?.map(|mut found| {
                found.key.seqno = global;
                found
            }));
        }
        self.get_stored(key, seqno, hash)
    }

    /// [`Table::get`] by the seqnos stored in the file.
    fn get_stored(&self, key: &[u8], seqno: SeqNo, hash: u64) -> Result<Option<InternalValue>> {
        let Some(target) = seqno.checked_sub(1) else {
            return Ok(None);
        };
        // NB: filters and hash indexes hash bytes; they rule nothing out for a comparator that
        // may call different bytes equal.
        let hashable = self.cmp.equal_means_byte_equal();
        if !self.key_in_range(key) || (hashable && !self.filter_may_contain(key, hash)?) {
            return Ok(None);
        }
        let Some(handle) = self.find_data_block(key, target)? else {
            return Ok(None);
        };
        let block = self.data_block(handle, BlockType::Data)?;
        if hashable {
            block.point_get(&self.cmp, key, target)
        } else {
            block
                .seek(&self.cmp, key, target)
                .map(|found| found.filter(|e| self.cmp.user(&e.key.user_key, key).is_eq()))
        }
        .map_err(|what| corruption(&self.path, handle.offset, what))
    }

    /// The footer: where the index, filter and meta blocks lie.
    #[cfg(feature = "internals")]
    pub(crate) fn footer(&self) -> &Footer {
        &self.footer
    }

    /// The table's index as spans that scans load one at a time (see [`IndexSpans`]).
    pub(crate) fn index_spans(&self) -> Result<IndexSpans> {
        let at = self.footer.index.offset;
        let top = self.top_index()?;
        if !self.footer.index_partitioned {
            return Ok(IndexSpans::Full(top.into_owned()));
        }
        let partitions = top
            .entries()
            .map_err(|what| corruption(&self.path, at, what))?
            .into_iter()
            .map(|e| Ok((e.key.user_key.clone(), self.decode_handle(&e, at)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(IndexSpans::Partitioned(partitions))
    }

    /// The `(last key, handle)` of each data block in span `i`, in order.
    #[cfg(feature = "internals")]
    pub(crate) fn span_handles(
        &self,
        spans: &IndexSpans,
        i: usize,
    ) -> Result<Vec<(Slice, BlockHandle)>> {
        let mut out = Vec::new();
        self.visit_span(spans, i, true, |key, handle| {
            out.push((Slice::new(key), handle));
            true
        })?;
        Ok(out)
    }

    /// Calls `visit(last key, handle)` on each data block of span `i`, in order, until it
    /// returns `false`; allocates nothing for a full index. With `fill` false (a compaction's
    /// reads) an index partition missing from the cache is read without entering it, and counts
    /// as a compaction's read.
    pub(crate) fn visit_span(
        &self,
        spans: &IndexSpans,
        i: usize,
        fill: bool,
        mut visit: impl FnMut(&[u8], BlockHandle) -> bool,
    ) -> Result<()> {
        let (block, at, interval) = match spans {
            IndexSpans::Full(index) => (
                std::borrow::Cow::Borrowed(index),
                self.footer.index.offset,
                Some(i),
            ),
            IndexSpans::Partitioned(parts) => {
                let Some((_, handle)) = parts.get(i) else {
                    return Ok(());
                };
                (
                    std::borrow::Cow::Owned(self.data_block_filling(
                        *handle,
                        BlockType::Index,
                        fill,
                    )?),
                    handle.offset,
                    None,
                )
            }
        };
        let mut bad_handle = None;
        block
            .visit(interval, |key, value| match BlockHandle::decode(value) {
                Ok(handle) => visit(key, handle),
                Err(what) => {
                    bad_handle = Some(what);
                    false
                }
            })
            .map_err(|what| corruption(&self.path, at, what))?;
        match bad_handle {
            Some(what) => Err(corruption(&self.path, at, what)),
            None => Ok(()),
        }
    }

    /// The number of leading spans that `pred` holds for, judged by each span's first
    /// key (full index) or last key (partitioned); `pred` must hold for the keys below `key`
    /// and for none above it.
    pub(crate) fn segment_partition_point(
        &self,
        spans: &IndexSpans,
        key: &[u8],
        pred: impl Fn(&[u8]) -> bool,
    ) -> Result<usize> {
        match spans {
            IndexSpans::Full(index) => index
                .restart_partition_point_near(key, pred)
                .map_err(|what| corruption(&self.path, self.footer.index.offset, what)),
            IndexSpans::Partitioned(parts) => Ok(parts.partition_point(|(k, _)| pred(k))),
        }
    }

    /// The entries of the data block at `handle`.
    /// A cursor over the data block at `handle`, positioned at its first entry.
    /// A cursor over the data block at `handle` rebuilding keys in `buffer`; `fill`: whether a
    /// miss enters the block cache.
    pub(crate) fn block_cursor(
        &self,
        handle: BlockHandle,
        buffer: Vec<u8>,
        fill: bool,
    ) -> Result<BlockCursor> {
        Ok(BlockCursor::with_buffer(
            self.data_block_filling(handle, BlockType::Data, fill)?,
            handle.offset,
            buffer,
        ))
    }

    /// The offset of the meta block (where a key range that the entries break is recorded).
    pub(crate) fn footer_meta_offset(&self) -> u64 {
        self.footer.meta.offset
    }

    /// The corruption `what` in the block at `offset` of this table.
    pub(crate) fn corruption_at(&self, offset: u64, what: CorruptionKind) -> Error {
        corruption(&self.path, offset, what)
    }

    pub(crate) fn block_entries(
        &self,
        handle: BlockHandle,
        fill: bool,
    ) -> Result<Vec<InternalValue>> {
        self.data_block_filling(handle, BlockType::Data, fill)?
            .entries()
            .map_err(|what| corruption(&self.path, handle.offset, what))
    }
}

impl Table {
    /// Marks the table's file for deletion once no reader holds the table. Call only after the
    /// version edit that removes the table is durable.
    /// Whether the table keeps its (top-level) index and its filter in memory.
    #[cfg(test)]
    pub(crate) fn pins(&self) -> (bool, bool) {
        (self.pinned_index.is_some(), self.pinned_filter.is_some())
    }

    /// The bytes the table keeps in memory outside the block cache: (its pinned index block
    /// with its fences, its pinned filter or filter index), 0 for what is not pinned.
    #[cfg(feature = "internals")]
    pub(crate) fn pinned_bytes(&self) -> (u64, u64) {
        let index = self.pinned_index.as_ref().map_or(0, DataBlock::memory_len);
        let filter = self.pinned_filter.as_ref().map_or(0, |f| f.len());
        (index as u64, filter as u64)
    }

    /// The newest memtable generation whose entries the table holds (0 for a table read from
    /// disk): a compaction tells tables written from memtables it saw from newer ones.
    pub(crate) fn origin(&self) -> u64 {
        self.origin.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Records the newest memtable generation whose entries the table holds.
    pub(crate) fn set_origin(&self, generation: u64) {
        self.origin
            .store(generation, std::sync::atomic::Ordering::Release);
    }

    /// Marks the table as gone from every version: when the last reader drops it, its path is
    /// handed to `sink`, whose owner deletes the file later on a maintenance call (never on the
    /// reader's thread).
    pub(crate) fn mark_obsolete(&self, sink: &ObsoleteSink) {
        let _ = self.obsolete.set(Arc::clone(sink));
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        self.source.release(self.cache_id);
        if let Some(sink) = self.obsolete.get() {
            sink.lock().push(std::mem::take(&mut self.path));
        }
    }
}
