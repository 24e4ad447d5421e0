//! [`Keyspace`]: one named, separately configured tree of a [`Database`](super::Database).
//!
//! Writes go through the database's commit path (the WAL, then the memtables, at one seqno per
//! call); reads see the database's visible seqno, so a read started after a write returned sees
//! it and never a batch in part. [`apply`] is the one function that turns a logged op into a tree
//! write, for live writes and for recovery alike (fjall applied `remove_weak` as a strong remove
//! live and a weak one at replay).

use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::catalog::{Entry, Policies, StoredStrategy};
use super::seqno::{Applied, Visibility};
use super::wal::Op;
use super::{DbInner, KEYSPACES_FOLDER, PersistMode};
use crate::compaction::filter::Factory;
use crate::compaction::{CompactionStrategy, Leveled};
use crate::compression::ZstdDictionary;
use crate::config::{
    BlockSizePolicy, CompressionPolicy, Config, FilterPolicy, HashRatioPolicy, KvSeparationOptions,
    PinningPolicy, RestartIntervalPolicy,
};
use crate::encryption::EncryptionProvider;
use crate::error::{Error, Result};
use crate::guard::IterGuardImpl;
use crate::key::UserComparator;
use crate::merge::MergeOperator;
use crate::prefix::PrefixExtractor;
use crate::seqno::{SeqNo, SequenceNumberCounter};
use crate::slice::{UserKey, UserValue};
use crate::tree::{Ingestion, Tree};

/// A setting applied to a keyspace tree's [`Config`].
type Setting = Arc<dyn Fn(Config) -> Config + Send + Sync>;

/// How a keyspace is created ([`Database::keyspace`](super::Database::keyspace)).
///
/// ```
/// use std::sync::Arc;
/// use strata::compaction::SizeTiered;
/// use strata::config::BlockSizePolicy;
/// use strata::{KeyspaceCreateOptions, KvSeparationOptions};
///
/// let options = KeyspaceCreateOptions::default()
///     .max_memtable_size(8 << 20)
///     .compaction_strategy(Arc::new(SizeTiered::default()))
///     .data_block_size_policy(BlockSizePolicy::all(16 << 10))
///     .with_kv_separation(Some(KvSeparationOptions::default()));
/// # let _ = options;
/// ```
#[derive(Clone)]
pub struct KeyspaceCreateOptions {
    max_memtable_size: u64,
    compaction_strategy: Arc<dyn CompactionStrategy>,
    kv_separation: Option<KvSeparationOptions>,
    policies: Policies,
    encryption: Option<Arc<dyn EncryptionProvider>>,
    /// The settings that are code, not data (merge operator, comparator, prefix extractor,
    /// compaction filter, zstd dictionary): never persisted, taken from every open's options.
    settings: Vec<Setting>,
}

impl Default for KeyspaceCreateOptions {
    fn default() -> Self {
        Self {
            max_memtable_size: 64 << 20,
            compaction_strategy: Arc::new(Leveled::default()),
            kv_separation: None,
            policies: Policies::default(),
            encryption: None,
            settings: Vec::new(),
        }
    }
}

impl std::fmt::Debug for KeyspaceCreateOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyspaceCreateOptions")
            .field("max_memtable_size", &self.max_memtable_size)
            .field("compaction_strategy", &self.compaction_strategy.name())
            .field("kv_separation", &self.kv_separation)
            .field("policies", &self.policies)
            .field("encryption", &self.encryption.is_some())
            .finish_non_exhaustive()
    }
}

macro_rules! policy_setters {
    ($($(#[$doc:meta])* $name:ident($ty:ty) => $field:ident;)*) => {
        $(
            $(#[$doc])*
            ///
            /// Persisted when the keyspace is created; a later open keeps the persisted policy.
            #[must_use]
            pub fn $name(mut self, policy: $ty) -> Self {
                self.policies.$field = policy;
                self
            }
        )*
    };
}

impl KeyspaceCreateOptions {
    fn with(mut self, setting: impl Fn(Config) -> Config + Send + Sync + 'static) -> Self {
        self.settings.push(Arc::new(setting));
        self
    }

    /// The memtable is flushed once it holds this many bytes (default 64 MiB). Persisted when
    /// the keyspace is created.
    #[must_use]
    pub fn max_memtable_size(mut self, bytes: u64) -> Self {
        self.max_memtable_size = bytes.max(1);
        self
    }

    /// The compaction strategy the workers run (default [`Leveled`]). Persisted when the
    /// keyspace is created: Strata's own strategies ([`Leveled`],
    /// [`SizeTiered`](crate::compaction::SizeTiered), [`Fifo`](crate::compaction::Fifo)) with
    /// their settings, so a later open runs the same one whatever its options say; an
    /// application's own strategy by name, so every later open must pass a strategy of that
    /// name (another name is refused with `InvalidArgument`).
    #[must_use]
    pub fn compaction_strategy(mut self, strategy: Arc<dyn CompactionStrategy>) -> Self {
        self.compaction_strategy = strategy;
        self
    }

    /// Key-value separation (see [`Config::with_kv_separation`]). Persisted when the keyspace
    /// is created.
    #[must_use]
    pub fn with_kv_separation(mut self, options: Option<KvSeparationOptions>) -> Self {
        self.kv_separation = options;
        self
    }

    /// The merge operator (see [`Config::with_merge_operator`]).
    #[must_use]
    pub fn with_merge_operator(self, operator: Option<Arc<dyn MergeOperator>>) -> Self {
        self.with(move |config| config.with_merge_operator(operator.clone()))
    }

    /// The key order (see [`Config::comparator`]).
    #[must_use]
    pub fn comparator(self, comparator: Arc<dyn UserComparator>) -> Self {
        self.with(move |config| config.comparator(Arc::clone(&comparator)))
    }

    /// The prefix extractor (see [`Config::prefix_extractor`]).
    #[must_use]
    pub fn prefix_extractor(self, extractor: Arc<dyn PrefixExtractor>) -> Self {
        self.with(move |config| config.prefix_extractor(Arc::clone(&extractor)))
    }

    /// The compaction filter (see [`Config::with_compaction_filter_factory`]).
    #[must_use]
    pub fn with_compaction_filter_factory(self, factory: Option<Arc<dyn Factory>>) -> Self {
        self.with(move |config| config.with_compaction_filter_factory(factory.clone()))
    }

    /// The zstd dictionary of the keyspace's tables and blob files (see
    /// [`Config::zstd_dictionary`]). Not persisted: pass it at every open, as a keyspace whose
    /// files name a dictionary opens only with that one.
    ///
    /// ```
    /// # #[cfg(feature = "zstd")] {
    /// use std::sync::Arc;
    /// use strata::config::CompressionPolicy;
    /// use strata::{CompressionType, Database, KeyspaceCreateOptions, ZstdDictionary};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let dict = Arc::new(ZstdDictionary::new(&b"{\"plan\":\"free\",\"status\":\"active\"}".repeat(8)));
    /// let options = || {
    ///     KeyspaceCreateOptions::default()
    ///         .zstd_dictionary(Some(Arc::clone(&dict)))
    ///         .data_block_compression_policy(CompressionPolicy::all(CompressionType::zstd_dict(3, dict.id())))
    /// };
    /// let db = Database::builder(dir.path()).open()?;
    /// db.keyspace("users", options)?.insert("u1", "{\"plan\":\"free\"}")?;
    /// drop(db);
    ///
    /// // The reopened keyspace flushes what the WAL replayed: a table compressed with `dict`.
    /// let db = Database::builder(dir.path()).open()?;
    /// let users = db.keyspace("users", options)?;
    /// assert_eq!(users.table_count(), 1);
    /// assert_eq!(&*users.get("u1")?.expect("written"), b"{\"plan\":\"free\"}");
    /// drop((users, db));
    ///
    /// let db = Database::builder(dir.path()).open()?;
    /// let without = db.keyspace("users", KeyspaceCreateOptions::default).err();
    /// assert!(matches!(without, Some(strata::Error::DictionaryMismatch { supplied: None, .. })));
    /// # }
    /// # Ok::<(), strata::Error>(())
    /// ```
    #[must_use]
    pub fn zstd_dictionary(self, dictionary: Option<Arc<ZstdDictionary>>) -> Self {
        self.with(move |config| config.zstd_dictionary(dictionary.clone()))
    }

    /// Whether point reads mostly find their keys (see [`Config::expect_point_read_hits`]).
    /// Persisted when the keyspace is created.
    #[must_use]
    pub fn expect_point_read_hits(mut self, expect: bool) -> Self {
        self.policies.expect_point_read_hits = expect;
        self
    }

    /// Encrypts the keyspace's tables and blob files (see [`Config::with_encryption`]; its
    /// write-ahead log is not encrypted). The provider is code, not data: pass it at every
    /// open. The catalog records whether the keyspace was created with one, and an open that
    /// differs (a provider for a keyspace created without, or none for one created with) is
    /// refused with `InvalidArgument`, before anything is read or written.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use strata::{Database, EncryptionProvider, KeyspaceCreateOptions};
    ///
    /// /// A toy cipher for the example; use a real one (AES-GCM, ChaCha20-Poly1305).
    /// struct Xor;
    /// impl EncryptionProvider for Xor {
    ///     fn encrypt(&self, plaintext: &[u8]) -> strata::Result<Vec<u8>> {
    ///         Ok(plaintext.iter().map(|b| b ^ 0x5a).collect())
    ///     }
    ///     fn decrypt(&self, ciphertext: &[u8]) -> strata::Result<Vec<u8>> {
    ///         Ok(ciphertext.iter().map(|b| b ^ 0x5a).collect())
    ///     }
    ///     fn max_overhead(&self) -> u32 {
    ///         0
    ///     }
    /// }
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let provider: Arc<dyn EncryptionProvider> = Arc::new(Xor);
    /// let options = || KeyspaceCreateOptions::default().with_encryption(Some(Arc::clone(&provider)));
    /// let db = Database::builder(dir.path()).open()?;
    /// db.keyspace("secrets", options)?.insert("k", "v")?;
    /// drop(db);
    ///
    /// let db = Database::builder(dir.path()).open()?;
    /// let refused = db.keyspace("secrets", KeyspaceCreateOptions::default).err();
    /// assert!(matches!(refused, Some(strata::Error::InvalidArgument(_))));
    /// assert_eq!(&*db.keyspace("secrets", options)?.get("k")?.expect("written"), b"v");
    /// # Ok::<(), strata::Error>(())
    /// ```
    #[must_use]
    pub fn with_encryption(mut self, provider: Option<Arc<dyn EncryptionProvider>>) -> Self {
        self.encryption = provider;
        self
    }

    policy_setters! {
        /// See [`Config::data_block_size_policy`].
        data_block_size_policy(BlockSizePolicy) => data_block_size;
        /// See [`Config::data_block_restart_interval_policy`].
        data_block_restart_interval_policy(RestartIntervalPolicy) => data_block_restart_interval;
        /// See [`Config::index_block_restart_interval_policy`].
        index_block_restart_interval_policy(RestartIntervalPolicy) => index_block_restart_interval;
        /// See [`Config::data_block_compression_policy`].
        data_block_compression_policy(CompressionPolicy) => data_block_compression;
        /// See [`Config::index_block_compression_policy`].
        index_block_compression_policy(CompressionPolicy) => index_block_compression;
        /// See [`Config::data_block_hash_ratio_policy`].
        data_block_hash_ratio_policy(HashRatioPolicy) => data_block_hash_ratio;
        /// See [`Config::filter_policy`].
        filter_policy(FilterPolicy) => filter;
        /// See [`Config::index_block_partitioning_policy`].
        index_block_partitioning_policy(PinningPolicy) => index_partitioning;
        /// See [`Config::filter_block_partitioning_policy`].
        filter_block_partitioning_policy(PinningPolicy) => filter_partitioning;
        /// See [`Config::index_block_pinning_policy`].
        index_block_pinning_policy(PinningPolicy) => index_pinning;
        /// See [`Config::filter_block_pinning_policy`].
        filter_block_pinning_policy(PinningPolicy) => filter_pinning;
    }
}

/// A keyspace as the database holds it.
pub(crate) struct KeyspaceInner {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    pub(crate) tree: Tree,
    pub(crate) max_memtable_size: u64,
    pub(crate) strategy: Arc<dyn CompactionStrategy>,
    /// Set by `delete_keyspace` before its files go: a background job still running on it may
    /// fail (its folder is being removed), which is no failure of the database.
    pub(crate) deleted: AtomicBool,
}

impl KeyspaceInner {
    /// Opens keyspace `id` as the catalog records it; `options` gives the settings that are
    /// not persisted (`None`: the database's own open, which settles logged writes with the
    /// defaults for those).
    ///
    /// # Errors
    /// `InvalidArgument` if `options` disagree with what the catalog records: another
    /// application strategy's name, or an encryption provider given to a keyspace created
    /// without one or missing for one created with one; what opening the tree returns.
    pub(crate) fn open(
        db: &DbInner,
        id: u64,
        entry: &Entry,
        options: Option<KeyspaceCreateOptions>,
    ) -> Result<Self> {
        if let Some(unsupported) = &entry.unsupported {
            return Err(Error::UnsupportedFormat {
                file: db.path.join(super::catalog::CATALOG),
                version: u32::from(super::catalog::VERSION),
                missing: Some(unsupported.missing),
            });
        }
        let from_application = options.is_some();
        let options = options.unwrap_or_default();
        if from_application
            && entry.strategy.is_some()
            && entry.encrypted != options.encryption.is_some()
        {
            return Err(Error::InvalidArgument(format!(
                "keyspace {:?} was created {} an encryption provider; open it {}",
                entry.name,
                if entry.encrypted { "with" } else { "without" },
                if entry.encrypted {
                    "with that provider"
                } else {
                    "without one"
                },
            )));
        }
        let strategy = match &entry.strategy {
            // NB: checked when the catalog was read.
            Some(StoredStrategy {
                name,
                settings: Some(settings),
            }) => crate::compaction::decode_builtin(name, settings)
                .unwrap_or_else(|| Arc::clone(&options.compaction_strategy)),
            Some(StoredStrategy {
                name,
                settings: None,
            }) if from_application && options.compaction_strategy.name() != name => {
                return Err(Error::InvalidArgument(format!(
                    "keyspace {:?} was created with the compaction strategy {name:?}; open it \
                     with a strategy of that name, not {:?}",
                    entry.name,
                    options.compaction_strategy.name()
                )));
            }
            _ => Arc::clone(&options.compaction_strategy),
        };
        let policies = entry.policies.as_ref().unwrap_or(&options.policies);
        let path = db.path.join(KEYSPACES_FOLDER).join(id.to_string());
        let mut config = Config::new(
            &path,
            db.seqnos.next.clone(),
            SequenceNumberCounter::default(),
        )
        .visible_seqno_generator(Arc::new(Visibility(Arc::clone(&db.seqnos))))
        .fs(Arc::clone(&db.fs))
        .use_cache(Arc::clone(&db.cache))
        .use_descriptor_table(db.descriptors.clone())
        .with_kv_separation(entry.kv_separation.clone())
        .with_encryption(options.encryption.clone());
        config = policies.apply(config);
        config.applied_seqno = Some(Arc::new(Applied(Arc::clone(&db.seqnos))));
        for setting in &options.settings {
            config = setting(config);
        }
        // NB: the persisted policies name the dictionary their tables need: without it (or
        // with another) the keyspace's files cannot be read, as a table naming it says.
        if let Some(stored) = entry.policies.as_ref().and_then(Policies::dictionary_id) {
            let supplied = config.zstd_dictionary.as_ref().map(|d| d.id());
            if supplied != Some(stored) {
                return Err(Error::DictionaryMismatch {
                    file: db.path.join(super::catalog::CATALOG),
                    stored,
                    supplied,
                });
            }
        }
        let tree = config.open()?;
        Ok(Self {
            id,
            name: entry.name.clone(),
            path,
            tree,
            max_memtable_size: entry.max_memtable_size,
            strategy,
            deleted: AtomicBool::new(false),
        })
    }
}

/// Applies one logged op to `tree` at `seqno`: the one path of live writes and of replay.
pub(crate) fn apply(tree: &Tree, op: &Op, seqno: SeqNo) {
    match op {
        Op::Insert(key, value) => {
            tree.insert(key.clone(), value.clone(), seqno);
        }
        Op::Remove(key) => {
            tree.remove(key.clone(), seqno);
        }
        Op::RemoveWeak(key) => {
            tree.remove_weak(key.clone(), seqno);
        }
        Op::Merge(key, operand) => {
            tree.merge(key.clone(), operand.clone(), seqno);
        }
        Op::RemoveRange(start, end) => {
            tree.remove_range(start.clone(), end.clone(), seqno);
        }
        Op::RemovePrefix(prefix) => {
            tree.remove_prefix(prefix.clone(), seqno);
        }
    }
}

/// Applies the logged `items` at or above `floor` (the tree's durable-through seqno) to `tree`;
/// returns whether any was.
pub(crate) fn replay(tree: &Tree, items: Vec<(SeqNo, Op)>, floor: SeqNo) -> bool {
    let mut replayed = false;
    for (seqno, op) in items {
        if seqno >= floor {
            apply(tree, &op, seqno);
            replayed = true;
        }
    }
    replayed
}

/// Opens the keyspace `name`, or creates it; see `Database::keyspace`.
pub(crate) fn open_or_create(
    db: &Arc<DbInner>,
    name: &str,
    create_options: impl FnOnce() -> KeyspaceCreateOptions,
) -> Result<Keyspace> {
    if name.is_empty() || name.len() > 255 {
        return Err(Error::InvalidArgument(format!(
            "a keyspace name must be 1 to 255 bytes long: {name:?}"
        )));
    }
    let mut catalog = db.catalog.lock();
    if let Some(id) = catalog.id_of(name) {
        if let Some(inner) = db.keyspaces.read().get(&id) {
            return Ok(Keyspace {
                db: Arc::clone(db),
                inner: Arc::clone(inner),
            });
        }
        let entry = catalog.entries.get(&id).cloned().ok_or_else(|| {
            Error::InvalidArgument(format!("keyspace {name:?} is not in the catalog"))
        })?;
        // NB: an existing keyspace opens on a poisoned database too, so that its data can be
        // read ("reads go on"); its writes are refused like every other write.
        return claim(db, id, &entry, create_options());
    }
    db.check_poison()?;
    let options = create_options();
    let id = catalog.next_id.max(1);
    let entry = Entry {
        name: name.to_string(),
        max_memtable_size: options.max_memtable_size,
        kv_separation: options.kv_separation.clone(),
        policies: Some(options.policies.clone()),
        strategy: Some(StoredStrategy::of(options.compaction_strategy.as_ref())),
        encrypted: options.encryption.is_some(),
        unsupported: None,
    };
    let inner = Arc::new(KeyspaceInner::open(db, id, &entry, Some(options))?);
    let mut next = catalog.clone();
    next.next_id = id + 1;
    next.entries.insert(id, entry);
    next.write(db.fs.as_ref(), &db.path)
        .map_err(|e| db.poison(e))?;
    *catalog = next;
    db.keyspaces.write().insert(id, Arc::clone(&inner));
    Ok(Keyspace {
        db: Arc::clone(db),
        inner,
    })
}

/// Opens an existing keyspace for the first time in this session: its tree with `options`, then
/// the WAL's items for it that its tables do not hold yet (recovery kept them), applied through
/// [`apply`], before any handle exists.
fn claim(
    db: &Arc<DbInner>,
    id: u64,
    entry: &Entry,
    options: KeyspaceCreateOptions,
) -> Result<Keyspace> {
    let inner = Arc::new(KeyspaceInner::open(db, id, entry, Some(options))?);
    let floor = inner.tree.durable_through_seqno().unwrap_or(0);
    // NB: under the lock the WAL release reads, so that the items pin their segments until the
    // keyspace's memtable holds them.
    let mut deferred = db.deferred.lock();
    let entry = deferred.remove(&id).unwrap_or_default();
    let replayed = replay(&inner.tree, entry.items, floor);
    db.keyspaces.write().insert(id, Arc::clone(&inner));
    drop(deferred);
    if !db.poisoned.load(std::sync::atomic::Ordering::Acquire) {
        if replayed {
            // NB: flushed now, so that an idle keyspace does not pin the old segments until its
            // memtable fills (fjall #288 in its replay form). The items are older than anything
            // logged since the open, and recovery synced their segments: no hole can follow.
            inner
                .tree
                .flush_active_memtable(db.watermark())
                .map_err(|e| db.poison(e))?;
            db.wake_workers();
        }
        if entry.pending_file {
            // NB: only now that a table holds the items (the flush made them durable).
            let dir = db.path.join(super::pending::PENDING_FOLDER);
            super::pending::remove(db.fs.as_ref(), &dir, id).map_err(|e| db.poison(e))?;
        }
    }
    Ok(Keyspace {
        db: Arc::clone(db),
        inner,
    })
}

/// Deletes `keyspace`; see `Database::delete_keyspace`.
pub(crate) fn delete(db: &Arc<DbInner>, keyspace: &Keyspace) -> Result<()> {
    let mut catalog = db.catalog.lock();
    db.barrier(|| {
        let mut next = catalog.clone();
        if next.entries.remove(&keyspace.inner.id).is_none() {
            return Ok(());
        }
        next.write(db.fs.as_ref(), &db.path)
            .map_err(|e| db.poison(e))?;
        *catalog = next;
        db.keyspaces.write().remove(&keyspace.inner.id);
        keyspace.inner.deleted.store(true, Ordering::Release);
        Ok(())
    })?;
    drop(catalog);
    // NB: its files go now (best effort); a leftover folder is removed at the next open, as no
    // catalog names it.
    super::remove_tree(db.fs.as_ref(), &keyspace.inner.path);
    Ok(())
}

/// A keyspace of a [`Database`](super::Database): `Clone + Send + Sync`.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let db = strata::Database::builder(dir.path()).open()?;
/// use strata::Guard;
///
/// let items = db.keyspace("items", strata::KeyspaceCreateOptions::default)?;
/// items.insert("b", "2")?;
/// items.insert("a", "1")?;
/// items.remove_range("c", "z")?;
/// let keys: Vec<_> = items.iter().map(|g| g.key()).collect::<strata::Result<_>>()?;
/// assert_eq!(keys, ["a", "b"]);
/// assert_eq!(items.len()?, 2);
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Clone)]
pub struct Keyspace {
    pub(crate) db: Arc<DbInner>,
    pub(crate) inner: Arc<KeyspaceInner>,
}

impl std::fmt::Debug for Keyspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyspace")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl AsRef<Self> for Keyspace {
    fn as_ref(&self) -> &Self {
        self
    }
}

impl Keyspace {
    fn write(&self, op: Op) -> Result<()> {
        self.db.commit(&[(self.inner.id, op)], PersistMode::Buffer)
    }

    /// The seqno plain reads see.
    fn read_seqno(&self) -> SeqNo {
        self.db.seqnos.visible()
    }

    /// The keyspace's tree (reads at an explicit seqno, for snapshots).
    pub(crate) fn tree(&self) -> &Tree {
        &self.inner.tree
    }

    /// The keyspace's id inside its database.
    pub(crate) fn id(&self) -> u64 {
        self.inner.id
    }

    /// Writes `key` = `value`.
    ///
    /// # Errors
    /// `Poisoned` after a failure; `Io` if the WAL write fails (the database is then poisoned).
    pub fn insert<K: Into<UserKey>, V: Into<UserValue>>(&self, key: K, value: V) -> Result<()> {
        self.write(Op::Insert(key.into(), value.into()))
    }

    /// Deletes `key`.
    ///
    /// # Errors
    /// As [`Keyspace::insert`].
    pub fn remove<K: Into<UserKey>>(&self, key: K) -> Result<()> {
        self.write(Op::Remove(key.into()))
    }

    /// Deletes `key` with a weak tombstone (see [`Tree::remove_weak`]).
    ///
    /// # Errors
    /// As [`Keyspace::insert`].
    pub fn remove_weak<K: Into<UserKey>>(&self, key: K) -> Result<()> {
        self.write(Op::RemoveWeak(key.into()))
    }

    /// Deletes every key in `[start, end)`.
    ///
    /// # Errors
    /// As [`Keyspace::insert`].
    pub fn remove_range<K: Into<UserKey>>(&self, start: K, end: K) -> Result<()> {
        self.write(Op::RemoveRange(start.into(), end.into()))
    }

    /// Deletes every key that starts with `prefix`.
    ///
    /// # Errors
    /// As [`Keyspace::insert`].
    pub fn remove_prefix<K: Into<UserKey>>(&self, prefix: K) -> Result<()> {
        self.write(Op::RemovePrefix(prefix.into()))
    }

    /// Writes a merge operand (needs a merge operator).
    ///
    /// # Errors
    /// As [`Keyspace::insert`].
    pub fn merge<K: Into<UserKey>, V: Into<UserValue>>(&self, key: K, operand: V) -> Result<()> {
        self.write(Op::Merge(key.into(), operand.into()))
    }

    /// Deletes everything in the keyspace, durably: a reopen does not bring it back.
    ///
    /// # Errors
    /// `Poisoned`; `Io` if the WAL cannot be synced or the tree's manifest cannot be written (the
    /// database is then poisoned).
    pub fn clear(&self) -> Result<()> {
        self.db.barrier(|| self.inner.tree.clear())
    }

    /// The value of `key`.
    ///
    /// # Errors
    /// I/O or corruption errors of the files read.
    pub fn get<K: AsRef<[u8]>>(&self, key: K) -> Result<Option<UserValue>> {
        self.inner.tree.get(key, self.read_seqno())
    }

    /// Whether `key` has a value.
    ///
    /// # Errors
    /// As [`Keyspace::get`].
    pub fn contains_key<K: AsRef<[u8]>>(&self, key: K) -> Result<bool> {
        self.inner.tree.contains_key(key, self.read_seqno())
    }

    /// The length of `key`'s value.
    ///
    /// # Errors
    /// As [`Keyspace::get`].
    pub fn size_of<K: AsRef<[u8]>>(&self, key: K) -> Result<Option<u32>> {
        self.inner.tree.size_of(key, self.read_seqno())
    }

    /// The values of `keys`, in order.
    ///
    /// # Errors
    /// As [`Keyspace::get`].
    pub fn multi_get<K: AsRef<[u8]>>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Vec<Option<UserValue>>> {
        self.inner.tree.multi_get(keys, self.read_seqno())
    }

    /// The first pair.
    pub fn first_key_value(&self) -> Option<IterGuardImpl> {
        self.inner.tree.first_key_value(self.read_seqno(), None)
    }

    /// The last pair.
    pub fn last_key_value(&self) -> Option<IterGuardImpl> {
        self.inner.tree.last_key_value(self.read_seqno(), None)
    }

    /// The number of keys (scans the keyspace).
    ///
    /// # Errors
    /// As [`Keyspace::get`].
    pub fn len(&self) -> Result<usize> {
        self.inner.tree.len(self.read_seqno(), None)
    }

    /// Whether the keyspace holds no key.
    ///
    /// # Errors
    /// As [`Keyspace::get`].
    pub fn is_empty(&self) -> Result<bool> {
        self.inner.tree.is_empty(self.read_seqno(), None)
    }

    /// The approximate number of entries (no scan).
    pub fn approximate_len(&self) -> usize {
        self.inner.tree.approximate_len()
    }

    /// Every pair, in key order; double-ended.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = IterGuardImpl> + Send + 'static {
        self.inner.tree.iter(self.read_seqno(), None)
    }

    /// The pairs in `range`.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        range: R,
    ) -> impl DoubleEndedIterator<Item = IterGuardImpl> + Send + 'static {
        self.inner.tree.range(range, self.read_seqno(), None)
    }

    /// The pairs whose keys start with `prefix`.
    pub fn prefix<K: AsRef<[u8]>>(
        &self,
        prefix: K,
    ) -> impl DoubleEndedIterator<Item = IterGuardImpl> + Send + 'static {
        self.inner.tree.prefix(prefix, self.read_seqno(), None)
    }

    /// A bulk load straight into table files (see [`Tree::ingestion`]); its `finish` makes it
    /// visible at once. Like the database's own flushes, `finish` syncs the WAL before it
    /// flushes the keyspace's memtable, so the flushed writes never outlive, after a power loss,
    /// the logged writes before them or the other halves of their batches.
    ///
    /// # Errors
    /// `Poisoned`.
    pub fn start_ingestion(&self) -> Result<Ingestion> {
        self.db.check_poison()?;
        let db = Arc::clone(&self.db);
        Ok(self
            .inner
            .tree
            .ingestion()?
            .before_flush(Box::new(move || db.persist(PersistMode::SyncData))))
    }

    /// The keyspace's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The keyspace's folder.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The bytes of its table and blob files.
    pub fn disk_space(&self) -> u64 {
        self.inner.tree.disk_space()
    }

    /// The number of its table files.
    pub fn table_count(&self) -> usize {
        self.inner.tree.table_count()
    }

    /// The number of its blob files.
    pub fn blob_file_count(&self) -> usize {
        self.inner.tree.blob_file_count()
    }

    /// Merges all of its tables into the last level now (see [`Tree::major_compact`]).
    ///
    /// # Errors
    /// `Poisoned`; I/O errors (the database is then poisoned).
    pub fn major_compact(&self) -> Result<()> {
        self.db.check_poison()?;
        self.inner
            .tree
            .major_compact(64 << 20, self.db.watermark())
            .map(|_| ())
            .map_err(|e| match e {
                Error::Io { .. } => self.db.poison(e),
                other => other,
            })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::CompressionType;
    use crate::compaction::{Fifo, SizeTiered};
    use crate::config::{BloomConstructionPolicy, FilterPolicyEntry};
    use crate::fs::MemFs;

    fn open(fs: &MemFs) -> super::super::Database {
        super::super::Database::builder("/db")
            .fs(Arc::new(fs.clone()))
            .worker_threads(1)
            .open()
            .expect("opens")
    }

    /// The policies a keyspace's tree runs with.
    fn policies_of(keyspace: &Keyspace) -> Policies {
        Policies::of_config(&keyspace.inner.tree.0.config)
    }

    /// Every data option given at creation is what the keyspace runs with at every later open,
    /// whatever that open's options say (API.md: "persisted at creation and ignored later").
    #[test]
    fn options_given_at_creation_are_kept_at_every_open() {
        let fs = MemFs::new();
        let created = || {
            KeyspaceCreateOptions::default()
                .max_memtable_size(123_456)
                .compaction_strategy(Arc::new(
                    SizeTiered::default()
                        .with_size_ratio(0.5)
                        .with_run_trigger(7),
                ))
                .with_kv_separation(Some(
                    KvSeparationOptions::default().separation_threshold(77),
                ))
                .data_block_size_policy(BlockSizePolicy::new([512, 2048]))
                .data_block_restart_interval_policy(RestartIntervalPolicy::all(4))
                .index_block_restart_interval_policy(RestartIntervalPolicy::all(2))
                .data_block_compression_policy(CompressionPolicy::new([
                    CompressionType::None,
                    #[cfg(feature = "lz4")]
                    CompressionType::Lz4,
                ]))
                .index_block_restart_interval_policy(RestartIntervalPolicy::all(3))
                .data_block_hash_ratio_policy(HashRatioPolicy::all(0.5))
                .filter_policy(FilterPolicy::new([
                    FilterPolicyEntry::Bloom(BloomConstructionPolicy::FalsePositiveRate(0.01)),
                    FilterPolicyEntry::None,
                ]))
                .index_block_partitioning_policy(PinningPolicy::all(true))
                .filter_block_partitioning_policy(PinningPolicy::new([false, true]))
                .index_block_pinning_policy(PinningPolicy::all(false))
                .filter_block_pinning_policy(PinningPolicy::all(false))
                .expect_point_read_hits(true)
        };
        let expected = created().policies;
        assert_ne!(expected, Policies::default());
        let db = open(&fs);
        let first = db.keyspace("events", created).expect("created");
        assert_eq!(policies_of(&first), expected);
        drop((first, db));
        for session in 0..2 {
            let db = open(&fs);
            let events = db
                .keyspace("events", || {
                    KeyspaceCreateOptions::default()
                        .max_memtable_size(1)
                        .compaction_strategy(Arc::new(Fifo::new(1, None)))
                        .filter_policy(FilterPolicy::disabled())
                })
                .expect("reopened");
            assert_eq!(policies_of(&events), expected, "session {session}");
            assert_eq!(events.inner.max_memtable_size, 123_456);
            assert_eq!(events.inner.strategy.name(), "size-tiered");
            assert_eq!(
                events.inner.strategy.encode_settings(),
                SizeTiered::default()
                    .with_size_ratio(0.5)
                    .with_run_trigger(7)
                    .encode_settings()
            );
            let kv = events.inner.tree.0.config.kv_separation.clone();
            assert_eq!(kv.map(|kv| kv.separation_threshold), Some(77));
        }
    }
}
