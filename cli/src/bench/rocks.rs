//! RocksDB through FFI (cargo feature `compare-rocksdb`; the `rocksdb` crate builds the C++ library,
//! which needs libclang and about 45 minutes on 2 cores).
//!
//! RocksDB runs its own flush and compaction threads; it gets two background jobs (its default,
//! like the one flush thread and one compaction thread the other engines get) and the parity
//! settings of BENCH.md: no WAL with `--engine tree` (writes with `disable_wal`), no compression,
//! 64 MiB memtables (four at most), 4 KiB blocks, bloom 10 bits/key, a 64 MiB LRU block cache,
//! leveled compaction with L0 trigger 4, 64 MiB tables and static level sizes (L1 of 4 × 64 MiB,
//! ratio 10). `settle` flushes and waits until no compaction runs or is pending.
//!
//! With `--engine database` its WAL is on: writes with `sync = false` for `--durability buffer`
//! (each write reaches the OS, as RocksDB writes its WAL by default), `sync = true` (fdatasync,
//! with RocksDB's group commit) for `--durability syncdata` and for `fillsync`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rocksdb::{BlockBasedOptions, Cache, DB, DBCompressionType, Options, WriteOptions};

use super::engine::{
    BoxError, Durability, Engine, FirstError, MEMTABLE_BYTES, Settings, dir_bytes,
};

pub(crate) struct Rocks {
    db: DB,
    /// The options of plain writes.
    write: WriteOptions,
    /// The options of synced writes (`fillsync`); `None` without the WAL.
    synced: Option<WriteOptions>,
    dir: PathBuf,
    /// The first write error (writes return nothing to the workload; `settle` reports it).
    failed: FirstError,
}

/// Opens RocksDB at `dir` with `settings`.
pub(crate) fn open_rocksdb(dir: &Path, settings: &Settings) -> Result<Box<dyn Engine>, BoxError> {
    if settings.kv_separation.is_some() {
        return Err(
            "rocksdb: --kv-separation is not wired to RocksDB's blob files here; compare it with lsm-tree and coordinode-lsm-tree"
                .into(),
        );
    }
    let mut table = BlockBasedOptions::default();
    table.set_block_size(settings.block_size as usize);
    table.set_bloom_filter(f64::from(settings.bloom_bits), false);
    table.set_block_cache(&Cache::new_lru_cache(
        usize::try_from(settings.cache_bytes).unwrap_or(usize::MAX),
    ));
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.set_block_based_table_factory(&table);
    opts.set_compression_type(DBCompressionType::None);
    opts.set_write_buffer_size(usize::try_from(MEMTABLE_BYTES).unwrap_or(usize::MAX));
    opts.set_max_write_buffer_number(4);
    opts.set_max_background_jobs(2);
    opts.set_level_zero_file_num_compaction_trigger(i32::from(settings.l0_threshold));
    opts.set_target_file_size_base(settings.table_bytes);
    opts.set_max_bytes_for_level_base(settings.table_bytes * u64::from(settings.l0_threshold));
    opts.set_max_bytes_for_level_multiplier(10.0);
    opts.set_level_compaction_dynamic_level_bytes(false);
    let db = DB::open(&opts, dir)?;
    let mut write = WriteOptions::default();
    write.disable_wal(settings.wal.is_none());
    write.set_sync(settings.wal == Some(Durability::SyncData));
    let synced = settings.wal.map(|_| {
        let mut synced = WriteOptions::default();
        synced.set_sync(true);
        synced
    });
    Ok(Box::new(Rocks {
        db,
        write,
        synced,
        dir: dir.to_path_buf(),
        failed: FirstError::default(),
    }))
}

impl Rocks {
    fn record(&self, result: Result<(), rocksdb::Error>) {
        self.failed.record(result);
    }

    fn busy(&self) -> Result<bool, BoxError> {
        let running = self
            .db
            .property_int_value("rocksdb.num-running-compactions")?
            .unwrap_or(0);
        let pending = self
            .db
            .property_int_value("rocksdb.compaction-pending")?
            .unwrap_or(0);
        let flushing = self
            .db
            .property_int_value("rocksdb.num-running-flushes")?
            .unwrap_or(0);
        Ok(running + pending + flushing > 0)
    }
}

impl Engine for Rocks {
    fn name(&self) -> &'static str {
        "rocksdb"
    }

    fn put(&self, key: &[u8], value: &[u8]) {
        self.record(self.db.put_opt(key, value, &self.write));
    }

    fn put_synced(&self, key: &[u8], value: &[u8]) -> bool {
        match &self.synced {
            Some(synced) => {
                self.record(self.db.put_opt(key, value, synced));
                true
            }
            None => false,
        }
    }

    fn delete(&self, key: &[u8]) {
        self.record(self.db.delete_opt(key, &self.write));
    }

    fn get(&self, key: &[u8]) -> Result<Option<usize>, BoxError> {
        Ok(self.db.get_pinned(key)?.map(|v| v.len()))
    }

    fn scan(&self, reverse: bool) -> Result<(u64, u64), BoxError> {
        let mut it = self.db.raw_iterator();
        if reverse {
            it.seek_to_last();
        } else {
            it.seek_to_first();
        }
        let (mut n, mut bytes) = (0u64, 0u64);
        while it.valid() {
            if let (Some(k), Some(v)) = (it.key(), it.value()) {
                n += 1;
                bytes += (k.len() + v.len()) as u64;
            }
            if reverse {
                it.prev();
            } else {
                it.next();
            }
        }
        it.status()?;
        Ok((n, bytes))
    }

    fn seek(&self, from: &[u8], n: usize) -> Result<usize, BoxError> {
        let mut it = self.db.raw_iterator();
        it.seek(from);
        let mut read = 0;
        while it.valid() && read < n {
            if let (Some(_), Some(_)) = (it.key(), it.value()) {
                read += 1;
            }
            it.next();
        }
        it.status()?;
        Ok(read)
    }

    fn prefix(&self, prefix: &[u8]) -> Result<usize, BoxError> {
        let mut it = self.db.raw_iterator();
        it.seek(prefix);
        let mut read = 0;
        while it.valid() {
            match (it.key(), it.value()) {
                (Some(k), Some(_)) if k.starts_with(prefix) => read += 1,
                _ => break,
            }
            it.next();
        }
        it.status()?;
        Ok(read)
    }

    fn settle(&self) -> Result<(), BoxError> {
        self.db.flush()?;
        while self.busy()? {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.failed.check("rocksdb")
    }

    fn disk_bytes(&self) -> u64 {
        dir_bytes(&self.dir)
    }
}
