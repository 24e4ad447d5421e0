//! The block cache and the open-file cache.
//!
//! [`Cache`] keeps decoded blocks in memory, weighted by their size in bytes, and may be shared
//! by many trees: its keys are a table's *cache id* (unique in the process, across trees) and the
//! block's offset in the file. Data and index blocks are kept parsed and validated
//! ([`CachedBlock::Parsed`]), so a hit is used without checking the block again; filter blocks and
//! blob records are kept raw. Compactions read around the cache: they never insert. It is a sharded, scan-resistant `quick_cache` (CLOCK-Pro), so a
//! long scan does not flush the hot blocks of point reads.
//!
//! [`DescriptorTable`] bounds the number of open table files: it keeps at most `max_open_files`
//! handles, and a table whose handle was evicted opens its file again on its next read.
//!
//! Thread safety: both are `Send + Sync` and used through `&self` from any thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::Weighter;

use crate::fs::FsReadFile;
use crate::slice::Slice;

/// A cached block: its decoded (decompressed) contents, and for data and index blocks the
/// parsed, validated block, so that a cache hit is used as it is, never checked again.
#[derive(Clone)]
pub(crate) enum CachedBlock {
    /// Raw contents (filter blocks, blob records).
    Raw(Slice),
    /// A data or index block, validated once when it entered the cache.
    Parsed(crate::table::data_block::DataBlock),
}

impl CachedBlock {
    fn len(&self) -> usize {
        match self {
            Self::Raw(raw) => raw.len(),
            Self::Parsed(block) => block.memory_len(),
        }
    }
}

/// What a cached block costs beyond its contents, so that the capacity bounds the memory the
/// cache really takes (as RocksDB charges its cache's metadata): the shared buffer's reference
/// counts, the allocator's header and rounding, the block header kept in front of the contents,
/// and the cache's entry and hash-table slot. Measured on x86-64 Linux: 16,384 blocks of 4 KiB
/// took 199 bytes each beyond their contents in resident memory (the last charge, 64, let a
/// 64 MiB cache of 4 KiB blocks take about 2 MiB more than its capacity).
const ENTRY_OVERHEAD: u64 = 200;

#[derive(Clone)]
struct BlockWeighter;

impl Weighter<(u64, u64), CachedBlock> for BlockWeighter {
    fn weight(&self, _key: &(u64, u64), block: &CachedBlock) -> u64 {
        block.len() as u64 + ENTRY_OVERHEAD
    }
}

/// The most shards (each behind its own reader-writer lock) the block cache has. Every miss takes
/// its shard's write lock to insert the block it read, and a reader that meets it spins, then
/// yields or parks. With `quick_cache`'s default of four shards per core (8 on 2 cores), 4
/// readers on 2 cores called `sched_yield` 5,800-13,300 times per million reads (1M-entry
/// `readrandom`, 64 MiB cache, six runs; p99 10.7-35.5 µs); with 32 shards (this rule at 64 MiB),
/// 2,500-3,800 (three runs; p99 11.0-16.0 µs); with 128, 1,100-1,900. The shard count also no
/// longer depends on the machine's core count.
const MAX_SHARDS: u64 = 128;

/// The least capacity of a shard: a block or blob record heavier than its shard's capacity is not
/// cached, so shards stay large enough for the largest records a reader is likely to reuse (a
/// 64 MiB cache has 32 shards).
const MIN_SHARD_BYTES: u64 = 2 << 20;

/// How many shards a block cache of `bytes` has (the cache may use fewer: at least 32 blocks of
/// 4 KiB per shard).
fn shard_count(bytes: u64) -> usize {
    usize::try_from((bytes / MIN_SHARD_BYTES).clamp(1, MAX_SHARDS)).unwrap_or(1)
}

/// A block cache with a capacity in bytes, shareable between trees.
///
/// ```
/// use std::sync::Arc;
/// use strata::Cache;
///
/// let cache = Arc::new(Cache::with_capacity_bytes(64 << 20));
/// assert_eq!(cache.capacity(), 64 << 20);
/// assert_eq!(cache.size(), 0);
/// ```
pub struct Cache {
    blocks: quick_cache::sync::Cache<(u64, u64), CachedBlock, BlockWeighter>,
    capacity: u64,
    /// Hits and misses by block type (the on-disk `BlockType` byte, 0..=5), and bytes read.
    hits: [crate::stats::Counter; 6],
    misses: [crate::stats::Counter; 6],
    /// Bytes read on misses: by lookups and scans, by compactions, from blob files.
    bytes_read: [crate::stats::Counter; 3],
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("capacity", &self.capacity)
            .field("size", &self.size())
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// A cache holding up to `bytes` bytes of blocks.
    pub fn with_capacity_bytes(bytes: u64) -> Self {
        // An estimate of the item count sizes the hash tables; blocks are ~4 KiB.
        let items = usize::try_from(bytes / 4096).unwrap_or(usize::MAX).max(16);
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(items)
            .weight_capacity(bytes.max(1))
            .shards(shard_count(bytes))
            .build();
        let blocks = match options {
            Ok(options) => quick_cache::sync::Cache::with_options(
                options,
                BlockWeighter,
                quick_cache::DefaultHashBuilder::default(),
                quick_cache::sync::DefaultLifecycle::default(),
            ),
            // NB: the builder only fails for a missing capacity, which is set above.
            Err(_) => quick_cache::sync::Cache::with_weighter(items, bytes.max(1), BlockWeighter),
        };
        Self {
            blocks,
            capacity: bytes,
            hits: Default::default(),
            misses: Default::default(),
            bytes_read: Default::default(),
        }
    }

    /// The capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The bytes currently cached.
    pub fn size(&self) -> u64 {
        self.blocks.weight()
    }

    /// The number of cached blocks.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub(crate) fn get_block(&self, cache_id: u64, offset: u64) -> Option<CachedBlock> {
        self.blocks.get(&(cache_id, offset))
    }

    /// The raw block cached under `(cache_id, offset)`, if it is one.
    pub(crate) fn get_raw(&self, cache_id: u64, offset: u64) -> Option<Slice> {
        match self.get_block(cache_id, offset)? {
            CachedBlock::Raw(raw) => Some(raw),
            CachedBlock::Parsed(_) => None,
        }
    }

    /// Counts a lookup of a block of type `kind` (its on-disk byte): a hit, or a miss that read
    /// `bytes` from disk, for a compaction if `compaction` (else for a read or a scan).
    pub(crate) fn record(&self, kind: u8, hit: bool, bytes: u64, compaction: bool) {
        let slot = usize::from(kind).min(5);
        if hit {
            if let Some(c) = self.hits.get(slot) {
                c.add(1);
            }
        } else {
            if let Some(c) = self.misses.get(slot) {
                c.add(1);
            }
            let by = if kind == crate::table::block::BlockType::Blob as u8 {
                2
            } else {
                usize::from(compaction)
            };
            if let Some(c) = self.bytes_read.get(by) {
                c.add(bytes);
            }
        }
    }

    /// Hits and misses by block kind, and bytes read on misses (the WAL's left at 0).
    pub(crate) fn counts(
        &self,
    ) -> (
        crate::stats::BlockCounts,
        crate::stats::BlockCounts,
        crate::stats::ReadCounts,
    ) {
        let by_kind = |counters: &[crate::stats::Counter; 6]| {
            let get = |i: usize| counters.get(i).map_or(0, crate::stats::Counter::get);
            crate::stats::BlockCounts {
                data: get(0),
                index: get(1),
                filter: get(2),
                other: get(3) + get(4),
                blob: get(5),
            }
        };
        (by_kind(&self.hits), by_kind(&self.misses), {
            let get = |i: usize| self.bytes_read.get(i).map_or(0, crate::stats::Counter::get);
            crate::stats::ReadCounts {
                wal: 0,
                lookup: get(0),
                compaction: get(1),
                blob: get(2),
            }
        })
    }

    pub(crate) fn insert_block(&self, cache_id: u64, offset: u64, block: CachedBlock) {
        if self.capacity > 0 {
            self.blocks.insert((cache_id, offset), block);
        }
    }
}

impl Default for Cache {
    /// A 16 MiB cache.
    fn default() -> Self {
        Self::with_capacity_bytes(16 << 20)
    }
}

/// A bound on the number of open table files, shareable between trees.
///
/// ```
/// let table = strata::DescriptorTable::new(256);
/// assert_eq!(table.capacity(), 256);
/// ```
pub struct DescriptorTable {
    files: quick_cache::sync::Cache<u64, Arc<dyn FsReadFile>>,
    capacity: usize,
}

impl std::fmt::Debug for DescriptorTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DescriptorTable")
            .field("capacity", &self.capacity)
            .field("open", &self.files.len())
            .finish()
    }
}

impl DescriptorTable {
    /// Keeps at most `max_open_files` table files open (at least one).
    pub fn new(max_open_files: usize) -> Self {
        let capacity = max_open_files.max(1);
        Self {
            files: quick_cache::sync::Cache::new(capacity),
            capacity,
        }
    }

    /// The maximum number of open files.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn get(&self, cache_id: u64) -> Option<Arc<dyn FsReadFile>> {
        self.files.get(&cache_id)
    }

    pub(crate) fn insert(&self, cache_id: u64, file: Arc<dyn FsReadFile>) {
        self.files.insert(cache_id, file);
    }

    pub(crate) fn remove(&self, cache_id: u64) {
        self.files.remove(&cache_id);
    }
}

/// Where a table or blob file reads its file from: its own handle, or the shared
/// [`DescriptorTable`], which may evict it (the file is then opened again on the next read).
pub(crate) enum FileSource {
    /// The reader keeps its file open.
    Owned(Arc<dyn FsReadFile>),
    /// The descriptor table keeps it open, or the reader reopens it.
    Shared(Arc<DescriptorTable>),
}

impl FileSource {
    /// The source of a file just opened (`file`) under `cache_id`: the descriptor table's when
    /// there is one.
    pub(crate) fn new(
        file: Arc<dyn FsReadFile>,
        cache_id: u64,
        descriptors: Option<&Arc<DescriptorTable>>,
    ) -> Self {
        match descriptors {
            Some(table) => {
                table.insert(cache_id, file);
                Self::Shared(Arc::clone(table))
            }
            None => Self::Owned(file),
        }
    }

    /// The open file of `path` (cache id `cache_id`), reopened through `fs` if the descriptor
    /// table evicted it.
    ///
    /// # Errors
    /// `Io` (`what` names the operation) if the file cannot be reopened.
    pub(crate) fn file(
        &self,
        cache_id: u64,
        fs: &dyn crate::fs::Fs,
        path: &std::path::Path,
        what: &'static str,
    ) -> crate::Result<Arc<dyn FsReadFile>> {
        match self {
            Self::Owned(file) => Ok(Arc::clone(file)),
            Self::Shared(table) => {
                if let Some(file) = table.get(cache_id) {
                    return Ok(file);
                }
                let file: Arc<dyn FsReadFile> = Arc::from(
                    fs.open(path)
                        .map_err(|e| crate::Error::io(what, Some(path.to_path_buf()), e))?,
                );
                table.insert(cache_id, Arc::clone(&file));
                Ok(file)
            }
        }
    }

    /// Lets the descriptor table close the file (its reader is gone).
    pub(crate) fn release(&self, cache_id: u64) {
        if let Self::Shared(table) = self {
            table.remove(cache_id);
        }
    }
}

/// Hands out cache ids unique within the process, so trees can share a cache.
pub(crate) fn next_cache_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_evicted_by_weight() {
        let cache = Cache::with_capacity_bytes(10_000);
        for i in 0..100u64 {
            cache.insert_block(1, i * 1000, CachedBlock::Raw(Slice::from(vec![0u8; 1000])));
        }
        assert!(cache.size() <= 10_000, "{}", cache.size());
        assert!(cache.len() < 100);
        cache.insert_block(2, 0, CachedBlock::Raw(Slice::from("x")));
        assert_eq!(cache.get_raw(2, 0).unwrap(), "x");
        assert!(cache.get_block(3, 0).is_none());
    }

    #[test]
    fn shards_scale_with_capacity_and_keep_large_records() {
        assert_eq!(shard_count(0), 1);
        assert_eq!(shard_count(1 << 20), 1);
        assert_eq!(shard_count(64 << 20), 32);
        assert_eq!(shard_count(1 << 40), 128);
        let cache = Cache::with_capacity_bytes(64 << 20);
        assert_eq!(cache.blocks.num_shards(), 32);
        // A record of 1.5 MiB (a large blob value) fits its shard, so it is cached.
        cache.insert_block(1, 0, CachedBlock::Raw(Slice::from(vec![7u8; 3 << 19])));
        assert_eq!(cache.get_raw(1, 0).map(|raw| raw.len()), Some(3 << 19));
        // A small cache keeps every block it can: one shard.
        let small = Cache::with_capacity_bytes(100_000);
        assert_eq!(small.blocks.num_shards(), 1);
        small.insert_block(1, 0, CachedBlock::Raw(Slice::from(vec![1u8; 90_000])));
        assert!(small.get_raw(1, 0).is_some());
    }

    #[test]
    fn zero_capacity_caches_nothing() {
        let cache = Cache::with_capacity_bytes(0);
        cache.insert_block(1, 0, CachedBlock::Raw(Slice::from("x")));
        assert!(cache.get_block(1, 0).is_none());
    }

    #[test]
    fn cache_ids_are_unique() {
        let a = next_cache_id();
        let b = next_cache_id();
        assert_ne!(a, b);
    }
}
