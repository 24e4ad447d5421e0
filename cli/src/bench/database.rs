//! `--engine database`: the workloads through databases with their write-ahead logs on:
//! Strata's `Database`, fjall 3 (cargo feature `compare`, in `super::peers`) and RocksDB with its
//! WAL (`super::rocks`).
//!
//! Each engine opens one keyspace (RocksDB: its default column family) with the parity settings
//! of BENCH.md (64 MiB memtable, 4 KiB blocks, bloom 10 bits/key, the block cache of
//! `--cache-mb`, leveled compaction with L0 trigger 4 and 64 MiB tables), a write buffer of
//! [`WRITE_BUFFER_BYTES`] (RocksDB: four memtables; fjall: none, its setting is unused) and
//! [`WORKER_THREADS`] background workers (RocksDB: as many background jobs). The databases flush and compact on their own; the
//! benchmark never drives them. Writes go through the database's API, as an application writes:
//! `Keyspace::insert` with `--durability buffer` (the write reaches the OS before it returns);
//! with `--durability syncdata`, and always in `fillsync`, a one-write batch committed with
//! `PersistMode::SyncData` (the write is synced before it returns; concurrent writers share
//! syncs where the engine has group commit). Reads are `Keyspace::get` and the keyspace's
//! iterators, at the visible state. `settle` flushes the memtable and waits until compaction is
//! done: Strata through `strata::internals::settle_keyspace` (which runs the keyspace's strategy
//! until nothing is left, as its workers would), fjall by its `rotate_memtable_and_wait` and then
//! until its workers run no compaction. Disk bytes include the WAL files still on disk.
//!
//! [`impl_database`] implements [`Engine`] for both Rust databases, whose APIs share names
//! (fjall 3's, which Strata's `Database` follows).

use std::path::Path;
use std::sync::Arc;

use super::engine::{
    BoxError, Compression, Durability, Engine, FirstError, MEMTABLE_BYTES, Settings, U64Add,
    strata_compression,
};

/// The memtable budget of a database engine: four 64 MiB memtables, as the tree driver lets
/// four sealed memtables wait and RocksDB gets four write buffers.
pub(crate) const WRITE_BUFFER_BYTES: u64 = 4 * MEMTABLE_BYTES;

/// The background workers of a database engine: the two jobs of BENCH.md (one flush and one
/// compaction thread).
pub(crate) const WORKER_THREADS: usize = 2;

/// The keyspace every database engine writes to.
pub(crate) const KEYSPACE: &str = "bench";

/// Implements [`Engine`] for a database whose API follows fjall 3's (Strata's `Database` and
/// fjall). `$engine` is the struct to define, `$name` the engine's name, `$krate` the crate,
/// `[$guard]` its iterator item trait if it has one, `$merge` one merge write (returning
/// `false` without merge operators), `$settle` the flush and wait for compaction, `$memory` what
/// the database holds in memory (`None` if the benchmark cannot tell).
macro_rules! impl_database {
    ($engine:ident, $name:literal, $krate:ident, [$($guard:path)?], $merge:expr, $settle:expr, $memory:expr) => {
        pub(crate) struct $engine {
            pub(crate) db: $krate::Database,
            pub(crate) keyspace: $krate::Keyspace,
            pub(crate) durability: $crate::bench::engine::Durability,
            pub(crate) dir: std::path::PathBuf,
            pub(crate) failed: $crate::bench::engine::FirstError,
        }

        impl $engine {
            /// Writes `key = value`, or removes `key`, in a one-write batch synced before it
            /// returns.
            fn write_synced(&self, key: &[u8], value: Option<&[u8]>) -> $krate::Result<()> {
                let mut batch = self
                    .db
                    .batch()
                    .durability(Some($krate::PersistMode::SyncData));
                match value {
                    Some(value) => batch.insert(&self.keyspace, key, value),
                    None => batch.remove(&self.keyspace, key),
                }
                batch.commit()
            }
        }

        impl $crate::bench::engine::Engine for $engine {
            fn name(&self) -> &'static str {
                $name
            }

            fn put(&self, key: &[u8], value: &[u8]) {
                use $crate::bench::engine::Durability;
                self.failed.record(match self.durability {
                    Durability::Buffer => self.keyspace.insert(key, value),
                    Durability::SyncData => self.write_synced(key, Some(value)),
                });
            }

            fn put_synced(&self, key: &[u8], value: &[u8]) -> bool {
                self.failed.record(self.write_synced(key, Some(value)));
                true
            }

            fn delete(&self, key: &[u8]) {
                use $crate::bench::engine::Durability;
                self.failed.record(match self.durability {
                    Durability::Buffer => self.keyspace.remove(key),
                    Durability::SyncData => self.write_synced(key, None),
                });
            }

            fn merge(&self, key: &[u8], operand: &[u8]) -> bool {
                let merge: fn(&Self, &[u8], &[u8]) -> bool = $merge;
                merge(self, key, operand)
            }

            fn get(&self, key: &[u8]) -> Result<Option<usize>, $crate::bench::engine::BoxError> {
                Ok(self.keyspace.get(key)?.map(|v| v.len()))
            }

            fn scan(&self, reverse: bool) -> Result<(u64, u64), $crate::bench::engine::BoxError> {
                $(use $guard as _;)?
                let (mut n, mut bytes) = (0u64, 0u64);
                let iter = self.keyspace.iter();
                let items: Box<dyn Iterator<Item = _>> = if reverse {
                    Box::new(iter.rev())
                } else {
                    Box::new(iter)
                };
                for item in items {
                    let (k, v) = item.into_inner()?;
                    n += 1;
                    bytes += (k.len() + v.len()) as u64;
                }
                Ok((n, bytes))
            }

            fn seek(&self, from: &[u8], n: usize) -> Result<usize, $crate::bench::engine::BoxError> {
                $(use $guard as _;)?
                let mut read = 0;
                for item in self.keyspace.range(from..).take(n) {
                    item.into_inner()?;
                    read += 1;
                }
                Ok(read)
            }

            fn seek_keys(
                &self,
                from: &[u8],
                n: usize,
            ) -> Result<Option<Vec<Vec<u8>>>, $crate::bench::engine::BoxError> {
                $(use $guard as _;)?
                let mut keys = Vec::with_capacity(n);
                for item in self.keyspace.range(from..).take(n) {
                    keys.push(item.key()?.to_vec());
                }
                Ok(Some(keys))
            }

            fn prefix(&self, prefix: &[u8]) -> Result<usize, $crate::bench::engine::BoxError> {
                $(use $guard as _;)?
                let mut read = 0;
                for item in self.keyspace.prefix(prefix) {
                    item.into_inner()?;
                    read += 1;
                }
                Ok(read)
            }

            fn compact_fully(&self, _table_bytes: u64) -> Result<bool, $crate::bench::engine::BoxError> {
                self.keyspace.major_compact()?;
                Ok(true)
            }

            fn settle(&self) -> Result<(), $crate::bench::engine::BoxError> {
                let settle: fn(&Self) -> Result<(), $crate::bench::engine::BoxError> = $settle;
                settle(self).map_err(|e| format!("{}: {e}", $name))?;
                self.failed.check($name)
            }

            fn disk_bytes(&self) -> u64 {
                $crate::bench::engine::dir_bytes(&self.dir)
            }

            fn memory(&self) -> Option<$crate::bench::workloads::Memory> {
                let memory: fn(&Self) -> Option<$crate::bench::workloads::Memory> = $memory;
                memory(self)
            }
        }
    };
}

#[cfg(feature = "compare")]
pub(crate) use impl_database;

impl_database!(
    StrataDb,
    "strata",
    strata,
    [strata::Guard],
    |engine: &StrataDb, key: &[u8], operand: &[u8]| {
        engine.failed.record(engine.keyspace.merge(key, operand));
        true
    },
    |engine: &StrataDb| Ok(strata::internals::settle_keyspace(&engine.keyspace)?),
    // The keyspace's tree: its cache is the database's, and the database's only keyspace.
    |engine: &StrataDb| Some(super::engine::strata_memory(
        strata::internals::keyspace_tree(&engine.keyspace)
    ))
);

/// The durability of a database engine's writes, which `--engine database` always sets.
pub(crate) fn durability_of(settings: &Settings) -> Result<Durability, BoxError> {
    settings
        .wal
        .ok_or_else(|| "a database engine needs --engine database".into())
}

/// Opens Strata's `Database` at `dir` with one keyspace; see the module documentation.
pub(crate) fn open_strata_db(dir: &Path, settings: &Settings) -> Result<Box<dyn Engine>, BoxError> {
    use strata::config::{BlockSizePolicy, CompressionPolicy, FilterPolicy, FilterPolicyEntry};
    let durability = durability_of(settings)?;
    if matches!(settings.compression, Compression::ZstdDict(_)) {
        return Err("--engine database: a keyspace takes no zstd dictionary here; compare zstd-dict with --engine tree".into());
    }
    let (compression, _) = strata_compression(settings)?;
    let db = strata::Database::builder(dir)
        .cache_size(settings.cache_bytes)
        .worker_threads(WORKER_THREADS)
        .max_write_buffer_size(WRITE_BUFFER_BYTES)
        .open()?;
    let strategy = Arc::new(
        strata::compaction::Leveled::default()
            .with_l0_threshold(settings.l0_threshold)
            .with_table_target_size(settings.table_bytes),
    );
    let mut options = strata::KeyspaceCreateOptions::default()
        .max_memtable_size(MEMTABLE_BYTES)
        .compaction_strategy(strategy)
        .data_block_size_policy(BlockSizePolicy::all(settings.block_size))
        .data_block_compression_policy(CompressionPolicy::all(compression))
        .index_block_compression_policy(CompressionPolicy::all(compression))
        .filter_policy(FilterPolicy::all(FilterPolicyEntry::Bloom(
            strata::config::BloomConstructionPolicy::BitsPerKey(f32::from(settings.bloom_bits)),
        )))
        .with_merge_operator(Some(Arc::new(U64Add)))
        .with_kv_separation(settings.kv_separation.map(|kv| {
            kv.apply(
                strata::KvSeparationOptions::default().compression(compression),
                strata::KvSeparationOptions::separation_threshold,
            )
        }));
    if settings.prefix_len > 0 {
        options = options.prefix_extractor(Arc::new(strata::FixedPrefixExtractor::new(
            settings.prefix_len,
        )));
    }
    let keyspace = db.keyspace(KEYSPACE, move || options)?;
    Ok(Box::new(StrataDb {
        db,
        keyspace,
        durability,
        dir: dir.to_path_buf(),
        failed: FirstError::default(),
    }))
}
