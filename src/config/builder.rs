//! [`Config`]: how a tree is opened.
//!
//! A `Config` names the tree's directory and the seqno counters the caller shares with it, and
//! carries the settings the layers below read: the comparator, the file system, the per-level table
//! policies, the block cache and the descriptor table. Every builder method takes and returns `Self`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::policy::{
    BlockSizePolicy, CompressionPolicy, FilterPolicy, HashRatioPolicy, PinningPolicy,
    RestartIntervalPolicy,
};
use crate::cache::{Cache, DescriptorTable};
use crate::compression::ZstdDictionary;
use crate::fs::{Fs, StdFs};
use crate::key::{DefaultUserComparator, UserComparator};
use crate::prefix::PrefixExtractor;
use crate::seqno::{SequenceNumberCounter, SequenceNumberGenerator};
use crate::table::writer::TableWriterOptions;

/// The settings of a tree; [`Config::open`] creates or recovers it.
///
/// ```
/// use strata::{Config, SequenceNumberCounter};
///
/// # let dir = tempfile::tempdir()?;
/// let seqno = SequenceNumberCounter::default();
/// let visible = SequenceNumberCounter::default();
/// let tree = Config::new(&dir, seqno.clone(), visible.clone()).open()?;
/// tree.insert("k", "v", seqno.next());
/// visible.fetch_max(seqno.get());
/// assert_eq!(tree.get("k", visible.get())?, Some("v".into()));
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) path: PathBuf,
    pub(crate) seqno: Arc<dyn SequenceNumberGenerator>,
    pub(crate) visible_seqno: Arc<dyn SequenceNumberGenerator>,
    pub(crate) comparator: Arc<dyn UserComparator>,
    pub(crate) fs: Arc<dyn Fs>,
    pub(crate) data_block_size: BlockSizePolicy,
    pub(crate) data_block_restart_interval: RestartIntervalPolicy,
    pub(crate) index_block_restart_interval: RestartIntervalPolicy,
    pub(crate) data_block_compression: CompressionPolicy,
    pub(crate) index_block_compression: CompressionPolicy,
    pub(crate) data_block_hash_ratio: HashRatioPolicy,
    pub(crate) filter: FilterPolicy,
    pub(crate) index_partitioning: PinningPolicy,
    pub(crate) filter_partitioning: PinningPolicy,
    pub(crate) index_pinning: PinningPolicy,
    pub(crate) filter_pinning: PinningPolicy,
    pub(crate) expect_point_read_hits: bool,
    pub(crate) cache: Arc<Cache>,
    pub(crate) descriptor_table: Option<Arc<DescriptorTable>>,
    pub(crate) table_target_size: u64,
    /// The manifest size past which a flush rewrites it as one snapshot.
    pub(crate) manifest_rewrite_bytes: u64,
    pub(crate) compaction_filter_factory: Option<Arc<dyn crate::compaction::filter::Factory>>,
    pub(crate) merge_operator: Option<Arc<dyn crate::merge::MergeOperator>>,
    pub(crate) prefix_extractor: Option<Arc<dyn PrefixExtractor>>,
    pub(crate) zstd_dictionary: Option<Arc<ZstdDictionary>>,
    pub(crate) encryption: Option<Arc<dyn crate::EncryptionProvider>>,
    pub(crate) memtable_range_tombstone_limit: usize,
    pub(crate) kv_separation: Option<super::KvSeparationOptions>,
    /// The seqno below which every write is applied to the memtables (set by `Database`, whose
    /// writers take seqnos before they apply them); `None`: the write counter.
    pub(crate) applied_seqno: Option<Arc<dyn SequenceNumberGenerator>>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("path", &self.path)
            .field("seqno", &self.seqno)
            .field("visible_seqno", &self.visible_seqno)
            .field("comparator", &self.comparator.name())
            .field("fs", &self.fs)
            .field("data_block_size", &self.data_block_size)
            .field("filter", &self.filter)
            .field("data_block_compression", &self.data_block_compression)
            .field("cache", &self.cache)
            .field("table_target_size", &self.table_target_size)
            .field("merge_operator", &self.merge_operator.is_some())
            .field("prefix_extractor", &self.prefix_extractor)
            .field("zstd_dictionary", &self.zstd_dictionary)
            .field("encryption", &self.encryption)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// A config for the tree at `path`, sharing the caller's write counter (`seqno`) and the
    /// counter of the highest seqno visible to readers (`visible_seqno`).
    pub fn new(
        path: impl AsRef<Path>,
        seqno: SequenceNumberCounter,
        visible_seqno: SequenceNumberCounter,
    ) -> Self {
        Self::new_with_generators(path, Arc::new(seqno), Arc::new(visible_seqno))
    }

    /// Like [`Config::new`], with the caller's own seqno sources (e.g. a hybrid clock).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use strata::{Config, SequenceNumberCounter};
    ///
    /// let config = Config::new_with_generators(
    ///     "/tmp/unused",
    ///     Arc::new(SequenceNumberCounter::new(10)),
    ///     Arc::new(SequenceNumberCounter::new(10)),
    /// );
    /// assert!(format!("{config:?}").contains("unused"));
    /// ```
    pub fn new_with_generators(
        path: impl AsRef<Path>,
        seqno: Arc<dyn SequenceNumberGenerator>,
        visible_seqno: Arc<dyn SequenceNumberGenerator>,
    ) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            seqno,
            visible_seqno,
            comparator: Arc::new(DefaultUserComparator),
            fs: Arc::new(StdFs),
            data_block_size: BlockSizePolicy::default(),
            data_block_restart_interval: RestartIntervalPolicy::all(16),
            index_block_restart_interval: RestartIntervalPolicy::all(1),
            data_block_compression: CompressionPolicy::default(),
            index_block_compression: CompressionPolicy::default(),
            data_block_hash_ratio: HashRatioPolicy::default(),
            filter: FilterPolicy::default(),
            index_partitioning: PinningPolicy::all(false),
            filter_partitioning: PinningPolicy::all(false),
            index_pinning: PinningPolicy::all(true),
            memtable_range_tombstone_limit: 1000,
            kv_separation: None,
            applied_seqno: None,
            filter_pinning: PinningPolicy::all(true),
            expect_point_read_hits: false,
            cache: Arc::new(Cache::default()),
            descriptor_table: Some(Arc::new(DescriptorTable::new(512))),
            table_target_size: 64 << 20,
            manifest_rewrite_bytes: super::MANIFEST_REWRITE_BYTES,
            compaction_filter_factory: None,
            merge_operator: None,
            prefix_extractor: None,
            zstd_dictionary: None,
            encryption: None,
        }
    }

    /// The data block size per level (default 4 KiB): a block is cut once it reaches this size.
    #[must_use]
    pub fn data_block_size_policy(mut self, policy: BlockSizePolicy) -> Self {
        self.data_block_size = policy;
        self
    }

    /// Entries between restart points in data blocks, per level (default 16).
    #[must_use]
    pub fn data_block_restart_interval_policy(mut self, policy: RestartIntervalPolicy) -> Self {
        self.data_block_restart_interval = policy;
        self
    }

    /// Entries between restart points in index blocks, per level (default 1, as API.md, RocksDB
    /// and lsm-tree have it: every index key stored whole). An interval of 4 stores the keys
    /// between restart points prefix-truncated, which at 16-byte keys made the pinned index of
    /// 5M entries about 45% smaller (5.26 to 2.85 MiB) and readrandom at 5M about 5% faster; a
    /// lookup then walks at most 4 entries after its binary search. Tables written with any
    /// interval are read alike.
    #[must_use]
    pub fn index_block_restart_interval_policy(mut self, policy: RestartIntervalPolicy) -> Self {
        self.index_block_restart_interval = policy;
        self
    }

    /// The compression of data blocks, per level (default none).
    #[must_use]
    pub fn data_block_compression_policy(mut self, policy: CompressionPolicy) -> Self {
        self.data_block_compression = policy;
        self
    }

    /// The compression of index blocks, per level (default none).
    #[must_use]
    pub fn index_block_compression_policy(mut self, policy: CompressionPolicy) -> Self {
        self.index_block_compression = policy;
        self
    }

    /// The in-block hash index of data blocks, per level: buckets per distinct key (default 0:
    /// off; 0.75 to 1.5 are typical). A point read then finds its restart interval with one hash
    /// probe instead of a binary search. Built only under the lexicographic comparator.
    #[must_use]
    pub fn data_block_hash_ratio_policy(mut self, policy: HashRatioPolicy) -> Self {
        self.data_block_hash_ratio = policy;
        self
    }

    /// The bloom filter per level (default 10 bits per key).
    #[must_use]
    pub fn filter_policy(mut self, policy: FilterPolicy) -> Self {
        self.filter = policy;
        self
    }

    /// Whether each level's tables have a two-level (partitioned) index (default no).
    #[must_use]
    pub fn index_block_partitioning_policy(mut self, policy: PinningPolicy) -> Self {
        self.index_partitioning = policy;
        self
    }

    /// Whether each level's tables have a partitioned filter (default no).
    #[must_use]
    pub fn filter_block_partitioning_policy(mut self, policy: PinningPolicy) -> Self {
        self.filter_partitioning = policy;
        self
    }

    /// Whether each level's (top-level) index blocks stay in memory (default yes); unpinned ones
    /// go through the block cache. Index partitions always go through the block cache.
    #[must_use]
    pub fn index_block_pinning_policy(mut self, policy: PinningPolicy) -> Self {
        self.index_pinning = policy;
        self
    }

    /// Whether each level's filter blocks stay in memory (default yes); unpinned filters go
    /// through the block cache.
    #[must_use]
    pub fn filter_block_pinning_policy(mut self, policy: PinningPolicy) -> Self {
        self.filter_pinning = policy;
        self
    }

    /// Set when point reads mostly find their key: the last level then gets no filter (it would
    /// only confirm hits), saving its memory and disk. Default `false`.
    #[must_use]
    pub fn expect_point_read_hits(mut self, expect: bool) -> Self {
        self.expect_point_read_hits = expect;
        self
    }

    /// The size past which the manifest is rewritten as one snapshot (default 1 MiB, RocksDB's
    /// `max_manifest_file_size`). A reopen goes on appending to a manifest below it; lower values
    /// keep recovery's replay short at the price of more rewrites.
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default())
    ///     .max_manifest_file_size(64 << 10)
    ///     .open()?;
    /// # Ok::<(), strata::Error>(())
    /// ```
    #[must_use]
    pub fn max_manifest_file_size(mut self, bytes: u64) -> Self {
        self.manifest_rewrite_bytes = bytes;
        self
    }

    /// How many range tombstones the active memtable takes before `remove_range` rotates it
    /// (default 1,000; RocksDB's `memtable_max_range_deletions`). Fragmenting a memtable's
    /// tombstones costs O(T log T) once per new tombstone, and nested ones O(T²) memory, so a
    /// memtable past the limit is sealed for the next flush and a new one takes the writes.
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default())
    ///     .memtable_range_tombstone_limit(2)
    ///     .open()?;
    /// tree.remove_range("a", "b", 0);
    /// assert_eq!(tree.sealed_memtable_count(), 0);
    /// tree.remove_range("c", "d", 1);
    /// assert_eq!(tree.sealed_memtable_count(), 1);
    /// # Ok::<(), strata::Error>(())
    /// ```
    #[must_use]
    pub fn memtable_range_tombstone_limit(mut self, limit: usize) -> Self {
        self.memtable_range_tombstone_limit = limit.max(1);
        self
    }

    /// Uses `cache` as the block cache (shareable between trees; default: 16 MiB of its own).
    #[must_use]
    pub fn use_cache(mut self, cache: Arc<Cache>) -> Self {
        self.cache = cache;
        self
    }

    /// Bounds open table files with `table` (shareable between trees); `None` keeps every table
    /// file open. Default: a table of its own with 512 files.
    #[must_use]
    pub fn use_descriptor_table(mut self, table: Option<Arc<DescriptorTable>>) -> Self {
        self.descriptor_table = table;
        self
    }

    /// The size at which a flush cuts table files (default 64 MiB).
    #[must_use]
    pub fn table_target_size(mut self, bytes: u64) -> Self {
        self.table_target_size = bytes.max(1);
        self
    }

    /// Performs every file operation of the tree through `fs` instead of the real file system
    /// ([`StdFs`]); tests use this to simulate crashes and I/O faults.
    #[must_use]
    pub fn fs(mut self, fs: Arc<dyn Fs>) -> Self {
        self.fs = fs;
        self
    }

    /// Runs a compaction filter made by `factory` in every compaction (not in flushes); `None`
    /// (the default) runs none. See [`crate::compaction::filter`].
    #[must_use]
    pub fn with_compaction_filter_factory(
        mut self,
        factory: Option<Arc<dyn crate::compaction::filter::Factory>>,
    ) -> Self {
        self.compaction_filter_factory = factory;
        self
    }

    /// Resolves merge operands ([`Tree::merge`](crate::Tree::merge)) with `operator` in every
    /// read and compaction; `None` (the default) reads the latest operand as a plain value. See
    /// [`MergeOperator`](crate::MergeOperator) for an example.
    ///
    /// The operator is a setting of the open, not persisted: open a tree that holds operands
    /// with the same operator every time (compactions without one keep only the latest operand
    /// of a key below the GC watermark).
    #[must_use]
    pub fn with_merge_operator(
        mut self,
        operator: Option<Arc<dyn crate::merge::MergeOperator>>,
    ) -> Self {
        self.merge_operator = operator;
        self
    }

    /// Adds the prefixes `extractor` picks from each key to the filters of the tables this tree
    /// writes, so that [`Tree::prefix`](crate::Tree::prefix) and
    /// [`Tree::contains_prefix`](crate::Tree::contains_prefix) skip the tables whose filter rules
    /// the scan's prefix out (see [`PrefixExtractor`] for when they may). Default: none.
    ///
    /// The extractor is a setting of the open; each table records the name of the one that
    /// wrote it, and only tables written by an extractor of the same name are skipped. Tables
    /// written with another one, or none, are read in full: results never depend on it.
    /// [`Tree::prefix_filter_skip_count`](crate::Tree::prefix_filter_skip_count) counts the
    /// tables skipped.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use strata::{Config, FixedPrefixExtractor, SequenceNumberCounter};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default())
    ///     .prefix_extractor(Arc::new(FixedPrefixExtractor::new(4)))
    ///     .open()?;
    /// tree.insert("item1", "", 0);
    /// tree.insert("user1", "", 1);
    /// tree.flush_active_memtable(0)?;
    /// // "list" lies inside the table's key range, but its filter rules the prefix out.
    /// assert!(!tree.contains_prefix("list", 2, None)?);
    /// assert_eq!(tree.prefix_filter_skip_count(), 1);
    /// assert!(tree.contains_prefix("user", 2, None)?);
    /// # Ok::<(), strata::Error>(())
    /// ```
    #[must_use]
    pub fn prefix_extractor(mut self, extractor: Arc<dyn PrefixExtractor>) -> Self {
        self.prefix_extractor = Some(extractor);
        self
    }

    /// The zstd dictionary of the tree's tables (default: none). Blocks whose compression is
    /// [`CompressionType::ZstdDict`](crate::CompressionType) are compressed with it, and every
    /// table whose meta block names a dictionary needs this one to open: opening a tree (or
    /// reading a table) whose tables use another dictionary id, or any while none is set here,
    /// returns [`Error::DictionaryMismatch`](crate::Error::DictionaryMismatch) naming both ids.
    /// A compression policy naming a `dict_id` other than this dictionary's id makes
    /// [`Config::open`] return `InvalidArgument`.
    ///
    /// Keep the dictionary's bytes ([`ZstdDictionary::raw`]) for as long as the tree lives.
    ///
    /// ```
    /// # #[cfg(feature = "zstd")] {
    /// use std::sync::Arc;
    /// use strata::config::CompressionPolicy;
    /// use strata::{CompressionType, Config, SequenceNumberCounter, ZstdDictionary};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let dict = Arc::new(ZstdDictionary::new(b"{\"status\":\"active\",\"plan\":\"free\"}"));
    /// let zstd = CompressionType::zstd_dict(3, dict.id());
    /// let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default())
    ///     .zstd_dictionary(Some(Arc::clone(&dict)))
    ///     .data_block_compression_policy(CompressionPolicy::all(zstd))
    ///     .open()?;
    /// tree.insert("u1", "{\"status\":\"active\",\"plan\":\"free\"}", 0);
    /// tree.flush_active_memtable(0)?;
    /// assert_eq!(&*tree.get("u1", 1)?.unwrap(), b"{\"status\":\"active\",\"plan\":\"free\"}");
    /// drop(tree);
    ///
    /// let reopened = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default())
    ///     .open();
    /// assert!(matches!(reopened, Err(strata::Error::DictionaryMismatch { supplied: None, .. })));
    /// # }
    /// # Ok::<(), strata::Error>(())
    /// ```
    #[must_use]
    pub fn zstd_dictionary(mut self, dictionary: Option<Arc<ZstdDictionary>>) -> Self {
        self.zstd_dictionary = dictionary;
        self
    }

    /// Encrypts every block of the table files and every blob record this tree writes with
    /// `provider` (`None`: no encryption, the default); see [`crate::encryption`] for what stays
    /// in plaintext. Not persisted: pass the same provider at every open. Files written without
    /// encryption stay readable with a provider; an encrypted file opened without one, or with
    /// a provider that cannot decrypt it, is [`Error::Decrypt`](crate::Error::Decrypt).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use strata::{Config, EncryptionProvider, SequenceNumberCounter};
    /// # struct Xor(u8);
    /// # impl EncryptionProvider for Xor {
    /// #     fn encrypt(&self, p: &[u8]) -> strata::Result<Vec<u8>> { Ok(p.iter().map(|b| b ^ self.0).collect()) }
    /// #     fn max_overhead(&self) -> u32 { 0 }
    /// #     fn decrypt(&self, c: &[u8]) -> strata::Result<Vec<u8>> { Ok(c.iter().map(|b| b ^ self.0).collect()) }
    /// # }
    /// let dir = tempfile::tempdir()?;
    /// let seqno = SequenceNumberCounter::default();
    /// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default())
    ///     .with_encryption(Some(Arc::new(Xor(7))))
    ///     .open()?;
    /// tree.insert("k", "v", seqno.next());
    /// tree.flush_active_memtable(0)?;
    /// assert_eq!(tree.get("k", seqno.get())?, Some("v".into()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_encryption(mut self, provider: Option<Arc<dyn crate::EncryptionProvider>>) -> Self {
        self.encryption = provider;
        self
    }

    /// Separates values of at least the threshold into blob files under `<path>/blobs/` (flush,
    /// compaction and ingestion write them; tables keep a small pointer); `None` (the default)
    /// keeps every value inline. A setting of the open: blob files written under an earlier
    /// open stay readable whatever this says, and their garbage is still collected.
    ///
    /// ```
    /// use strata::{Config, KvSeparationOptions, SequenceNumberCounter, TreeType};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let seqno = SequenceNumberCounter::default();
    /// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default())
    ///     .with_kv_separation(Some(KvSeparationOptions::default().separation_threshold(100)))
    ///     .open()?;
    /// tree.insert("big", vec![7u8; 1000], seqno.next());
    /// tree.insert("small", "x", seqno.next());
    /// tree.flush_active_memtable(0)?;
    /// assert_eq!(tree.tree_type(), TreeType::Blob);
    /// assert_eq!(tree.blob_file_count(), 1);
    /// assert_eq!(tree.get("big", seqno.get())?.unwrap().len(), 1000);
    /// assert_eq!(tree.size_of("big", seqno.get())?, Some(1000));
    /// # Ok::<(), strata::Error>(())
    /// ```
    #[must_use]
    pub fn with_kv_separation(mut self, options: Option<super::KvSeparationOptions>) -> Self {
        self.kv_separation = options;
        self
    }

    /// Replaces the write seqno source.
    #[must_use]
    pub fn seqno_generator(mut self, generator: Arc<dyn SequenceNumberGenerator>) -> Self {
        self.seqno = generator;
        self
    }

    /// Replaces the visible seqno source.
    #[must_use]
    pub fn visible_seqno_generator(mut self, generator: Arc<dyn SequenceNumberGenerator>) -> Self {
        self.visible_seqno = generator;
        self
    }

    /// Orders user keys with `comparator` instead of the lexicographic byte order.
    ///
    /// ```
    /// use std::{cmp::Ordering, sync::Arc};
    /// use strata::{Config, SequenceNumberCounter, UserComparator, Guard};
    ///
    /// struct Descending;
    /// impl UserComparator for Descending {
    ///     fn name(&self) -> &'static str { "example.descending" }
    ///     fn compare(&self, a: &[u8], b: &[u8]) -> Ordering { b.cmp(a) }
    /// }
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default())
    ///     .comparator(Arc::new(Descending))
    ///     .open()?;
    /// tree.insert("a", "", 0);
    /// tree.insert("b", "", 1);
    /// let keys: Vec<_> = tree.iter(2, None).map(|g| g.key().unwrap()).collect();
    /// assert_eq!(keys, ["b", "a"]);
    /// # Ok::<(), strata::Error>(())
    /// ```
    #[must_use]
    pub fn comparator(mut self, comparator: Arc<dyn UserComparator>) -> Self {
        self.comparator = comparator;
        self
    }

    /// The tree's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Config {
    /// How a table at `level` is written.
    pub(crate) fn writer_options(&self, level: usize, table_id: u64) -> TableWriterOptions {
        use super::policy::FilterPolicyEntry;
        let last_level = level + 1 >= super::LEVEL_COUNT;
        let filter_bits_per_key = match self.filter.get(level) {
            _ if last_level && self.expect_point_read_hits => None,
            FilterPolicyEntry::Bloom(bloom) if bloom.is_active() => Some(bloom.bits_per_key()),
            FilterPolicyEntry::Bloom(_) | FilterPolicyEntry::None => None,
        };
        TableWriterOptions {
            table_id,
            block_size: self.data_block_size.get(level).max(64),
            restart_interval: self.data_block_restart_interval.get(level).max(1),
            index_restart_interval: self.index_block_restart_interval.get(level).max(1),
            data_compression: self.data_block_compression.get(level),
            index_compression: self.index_block_compression.get(level),
            filter_bits_per_key,
            index_partitioned: self.index_partitioning.get(level),
            filter_partitioned: self.filter_partitioning.get(level),
            hash_ratio: f64::from(self.data_block_hash_ratio.get(level)),
            prefix_extractor: self.prefix_extractor.clone(),
            zstd_dictionary: self.zstd_dictionary.clone(),
            encryption: self.encryption.clone(),
        }
    }

    /// Checks that every dictionary id the compression policies name is the configured
    /// dictionary's.
    ///
    /// # Errors
    /// `InvalidArgument` naming both ids.
    #[cfg(feature = "zstd")]
    pub(crate) fn check_zstd_dictionary(&self) -> crate::Result<()> {
        {
            let supplied = self.zstd_dictionary.as_ref().map(|d| d.id());
            let named = self
                .data_block_compression
                .iter()
                .chain(self.index_block_compression.iter())
                .find_map(|c| c.dict_id().filter(|&id| Some(id) != supplied));
            if let Some(id) = named {
                return Err(crate::Error::InvalidArgument(match supplied {
                    Some(supplied) => format!(
                        "the compression policy names zstd dictionary {id}, the configured \
                         dictionary is {supplied}"
                    ),
                    None => format!(
                        "the compression policy names zstd dictionary {id}, and no dictionary \
                         is configured"
                    ),
                }));
            }
        }
        Ok(())
    }
}
