//! The peer engines (cargo feature `compare`): `lsm-tree` 3.x (the fjall engine) and
//! `coordinode-lsm-tree` 4.2, driven exactly like Strata's `Tree` (see [`super::engine`]), with
//! the same parity settings (BENCH.md); and for `--engine database`, `fjall` 3.x, the database
//! over lsm-tree with its journal on, set up like Strata's `Database` (see [`super::database`]).

use std::path::Path;
use std::sync::Arc;

use super::database::{KEYSPACE, WORKER_THREADS, durability_of, impl_database};
use super::engine::{
    BoxError, Compression, Driven, Engine, FirstError, MEMTABLE_BYTES, Settings, impl_lsm,
};

use {coordinode_lsm_tree::AbstractTree as _, lsm_tree::AbstractTree as _};

impl_lsm!(
    LsmTreeLsm,
    lsm_tree::AnyTree,
    lsm_tree,
    lsm_tree::Guard,
    |lsm: &LsmTreeLsm| {
        // lsm-tree 3 reports nothing: a step that changed no table did nothing.
        let before = (
            lsm.tree.table_count(),
            lsm.tree.next_table_id(),
            lsm.tree.l0_run_count(),
        );
        lsm.tree.compact(lsm.strategy.clone(), lsm.visible.get())?;
        let after = (
            lsm.tree.table_count(),
            lsm.tree.next_table_id(),
            lsm.tree.l0_run_count(),
        );
        Ok(before != after)
    },
    // lsm-tree 3 has no merge operators, no prefix extractors, no range tombstones and no
    // count of bytes written.
    |_: &LsmTreeLsm, _: &[u8], _: &[u8]| None,
    |_: &LsmTreeLsm| None,
    |_: &LsmTreeLsm, _: &[u8], _: &[u8]| None,
    |_: &LsmTreeLsm| None,
    // NB: the memory breakdown is Strata's only.
    |_: &LsmTreeLsm| None
);

/// Opens `lsm-tree` at `dir` with `settings`.
pub(crate) fn open_lsm_tree(dir: &Path, settings: &Settings) -> Result<Box<dyn Engine>, BoxError> {
    use lsm_tree::config::{
        BlockSizePolicy, BloomConstructionPolicy, CompressionPolicy, FilterPolicy,
        FilterPolicyEntry,
    };
    if settings.compression != Compression::None {
        return Err(format!(
            "lsm-tree runs without compression here: --compression {} is Strata and coordinode-lsm-tree only",
            settings.compression
        )
        .into());
    }
    let seqno = lsm_tree::SequenceNumberCounter::default();
    let visible = lsm_tree::SequenceNumberCounter::default();
    let tree = lsm_tree::Config::new(dir, seqno.clone(), visible.clone())
        .use_cache(Arc::new(lsm_tree::Cache::with_capacity_bytes(
            settings.cache_bytes,
        )))
        .data_block_size_policy(BlockSizePolicy::all(settings.block_size))
        .data_block_compression_policy(CompressionPolicy::all(lsm_tree::CompressionType::None))
        .index_block_compression_policy(CompressionPolicy::all(lsm_tree::CompressionType::None))
        .filter_policy(FilterPolicy::all(FilterPolicyEntry::Bloom(
            BloomConstructionPolicy::BitsPerKey(f32::from(settings.bloom_bits)),
        )))
        .with_kv_separation(settings.kv_separation.map(|kv| {
            kv.apply(
                lsm_tree::KvSeparationOptions::default()
                    .compression(lsm_tree::CompressionType::None),
                lsm_tree::KvSeparationOptions::separation_threshold,
            )
        }))
        .open()?;
    let strategy = Arc::new(
        lsm_tree::compaction::Leveled::default()
            .with_l0_threshold(settings.l0_threshold)
            .with_table_target_size(settings.table_bytes),
    );
    Ok(Box::new(Driven::start(
        "lsm-tree",
        LsmTreeLsm {
            tree,
            seqno,
            visible,
            strategy,
        },
        dir,
    )))
}

impl_lsm!(
    CoordinodeLsm,
    coordinode_lsm_tree::AnyTree,
    coordinode_lsm_tree,
    coordinode_lsm_tree::Guard,
    |lsm: &CoordinodeLsm| {
        let result = lsm.tree.compact(lsm.strategy.clone(), lsm.visible.get())?;
        Ok(result.action != coordinode_lsm_tree::compaction::CompactionAction::Nothing)
    },
    |lsm: &CoordinodeLsm, key: &[u8], operand: &[u8]| {
        let seqno = lsm.seqno.next();
        let (_, size) = lsm.tree.merge(key, operand, seqno);
        lsm.visible.fetch_max(seqno + 1);
        Some(size)
    },
    // NB: coordinode-lsm-tree counts no skipped tables.
    |_: &CoordinodeLsm| None,
    |lsm: &CoordinodeLsm, start: &[u8], end: &[u8]| {
        let seqno = lsm.seqno.next();
        let size = lsm.tree.remove_range(start, end, seqno);
        lsm.visible.fetch_max(seqno + 1);
        Some(size)
    },
    // NB: coordinode-lsm-tree counts no bytes written.
    |_: &CoordinodeLsm| None,
    |_: &CoordinodeLsm| None
);

/// The first `0` bytes of a key as its one prefix (coordinode-lsm-tree has no built-in fixed
/// extractor); shorter keys have none.
struct CoordinodeFixedPrefix(usize);

impl coordinode_lsm_tree::PrefixExtractor for CoordinodeFixedPrefix {
    fn prefixes<'a>(&self, key: &'a [u8]) -> Box<dyn Iterator<Item = &'a [u8]> + 'a> {
        Box::new(key.get(..self.0).into_iter())
    }
}

/// db_bench's `uint64add` merge operator for coordinode-lsm-tree.
struct CoordinodeU64Add;

impl coordinode_lsm_tree::MergeOperator for CoordinodeU64Add {
    fn merge(
        &self,
        _key: &[u8],
        base: Option<&[u8]>,
        operands: &[&[u8]],
    ) -> coordinode_lsm_tree::Result<coordinode_lsm_tree::UserValue> {
        use super::engine::u64_prefix;
        let sum = operands.iter().fold(base.map_or(0, u64_prefix), |sum, op| {
            sum.wrapping_add(u64_prefix(op))
        });
        Ok(sum.to_le_bytes().to_vec().into())
    }
}

/// The dictionary `coordinode-lsm-tree` is given (its own type, with the same id rule).
#[cfg(feature = "compare-zstd")]
type CoordinodeDictionary = Option<Arc<coordinode_lsm_tree::ZstdDictionary>>;
#[cfg(not(feature = "compare-zstd"))]
type CoordinodeDictionary = ();

/// `coordinode-lsm-tree`'s compression for `--compression`: zstd through its pure-Rust
/// `zstd-pure` feature (strata-cli feature `compare-zstd`), with the same trained dictionary
/// bytes as Strata's.
fn coordinode_compression(
    settings: &Settings,
) -> Result<(coordinode_lsm_tree::CompressionType, CoordinodeDictionary), BoxError> {
    match settings.compression {
        #[cfg(feature = "compare-zstd")]
        Compression::None => Ok((coordinode_lsm_tree::CompressionType::None, None)),
        #[cfg(not(feature = "compare-zstd"))]
        Compression::None => Ok((coordinode_lsm_tree::CompressionType::None, ())),
        #[cfg(feature = "compare-zstd")]
        Compression::Zstd(level) => Ok((coordinode_lsm_tree::CompressionType::zstd(level)?, None)),
        // NB: coordinode-lsm-tree 4.2's pure-Rust zstd refuses dictionaries at write time
        // ("not supported by the pure Rust backend"); its dictionary path needs C zstd.
        Compression::ZstdDict(_) => Err(
            "coordinode-lsm-tree: its pure-Rust zstd (zstd-pure) has no dictionaries; compare zstd-dict with Strata alone"
                .into(),
        ),
        other => Err(format!(
            "coordinode-lsm-tree: --compression {other} needs the strata-cli feature compare-zstd (zstd:LEVEL only)"
        )
        .into()),
    }
}

/// Opens `coordinode-lsm-tree` at `dir` with `settings`.
pub(crate) fn open_coordinode(
    dir: &Path,
    settings: &Settings,
) -> Result<Box<dyn Engine>, BoxError> {
    use coordinode_lsm_tree::config::{
        BlockSizePolicy, BloomConstructionPolicy, CompressionPolicy, FilterPolicy,
        FilterPolicyEntry,
    };
    let (compression, dictionary) = coordinode_compression(settings)?;
    let seqno = coordinode_lsm_tree::SequenceNumberCounter::default();
    let visible = coordinode_lsm_tree::SequenceNumberCounter::default();
    let tree = coordinode_lsm_tree::Config::new(dir, seqno.clone(), visible.clone())
        .use_cache(Arc::new(coordinode_lsm_tree::Cache::with_capacity_bytes(
            settings.cache_bytes,
        )))
        .data_block_size_policy(BlockSizePolicy::all(settings.block_size))
        .data_block_compression_policy(CompressionPolicy::all(compression))
        .index_block_compression_policy(CompressionPolicy::all(compression))
        .filter_policy(FilterPolicy::all(FilterPolicyEntry::Bloom(
            BloomConstructionPolicy::BitsPerKey(f32::from(settings.bloom_bits)),
        )))
        .with_merge_operator(Some(Arc::new(CoordinodeU64Add)))
        .with_kv_separation(settings.kv_separation.map(|kv| {
            kv.apply(
                coordinode_lsm_tree::KvSeparationOptions::default().compression(compression),
                coordinode_lsm_tree::KvSeparationOptions::separation_threshold,
            )
        }));
    #[cfg(feature = "compare-zstd")]
    let tree = tree.zstd_dictionary(dictionary);
    #[cfg(not(feature = "compare-zstd"))]
    let () = dictionary;
    let tree = if settings.prefix_len > 0 {
        tree.prefix_extractor(Arc::new(CoordinodeFixedPrefix(settings.prefix_len)))
    } else {
        tree
    }
    .open()?;
    let strategy = Arc::new(
        coordinode_lsm_tree::compaction::Leveled::default()
            .with_l0_threshold(settings.l0_threshold)
            .with_table_target_size(settings.table_bytes),
    );
    Ok(Box::new(Driven::start(
        "coordinode-lsm-tree",
        CoordinodeLsm {
            tree,
            seqno,
            visible,
            strategy,
        },
        dir,
    )))
}

impl_database!(
    FjallDb,
    "fjall",
    fjall,
    [],
    // fjall 3 has no merge operators.
    |_: &FjallDb, _: &[u8], _: &[u8]| false,
    settle_fjall,
    |_: &FjallDb| None
);

/// How often `settle_fjall` looks at fjall's workers.
const FJALL_POLL: std::time::Duration = std::time::Duration::from_millis(20);
/// Polls in a row that must find fjall's workers idle.
const FJALL_IDLE_POLLS: u32 = 5;

/// Flushes fjall's memtable and waits until its workers have run every compaction the flush
/// asked for: no flush queued, no compaction running, and the count of finished compactions
/// still for [`FJALL_IDLE_POLLS`] polls in a row (fjall's workers run one compaction step per
/// message, and each flush sends one per worker).
fn settle_fjall(engine: &FjallDb) -> Result<(), BoxError> {
    engine.keyspace.rotate_memtable_and_wait()?;
    let mut idle = 0;
    let mut completed = engine.db.compactions_completed();
    while idle < FJALL_IDLE_POLLS {
        std::thread::sleep(FJALL_POLL);
        let now = engine.db.compactions_completed();
        let busy = engine.db.outstanding_flushes() > 0 || engine.db.active_compactions() > 0;
        idle = if busy || now != completed {
            0
        } else {
            idle + 1
        };
        completed = now;
    }
    Ok(())
}

/// Opens fjall at `dir` with one keyspace and its journal on; see [`super::database`]. It gets
/// no write-buffer budget: fjall 3.1 accepts `max_write_buffer_size` but nothing reads it (the
/// setter is deprecated), so its memtables are bounded only by its flushes keeping up.
pub(crate) fn open_fjall(dir: &Path, settings: &Settings) -> Result<Box<dyn Engine>, BoxError> {
    use fjall::config::{
        BlockSizePolicy, BloomConstructionPolicy, CompressionPolicy, FilterPolicy,
        FilterPolicyEntry,
    };
    let durability = durability_of(settings)?;
    if settings.compression != Compression::None {
        return Err(format!(
            "fjall runs without compression here: --compression {} is Strata's only with --engine database",
            settings.compression
        )
        .into());
    }
    let db = fjall::Database::builder(dir)
        .cache_size(settings.cache_bytes)
        .worker_threads(WORKER_THREADS)
        .open()?;
    let strategy = Arc::new(
        fjall::compaction::Leveled::default()
            .with_l0_threshold(settings.l0_threshold)
            .with_table_target_size(settings.table_bytes),
    );
    let kv_separation = settings.kv_separation.map(|kv| {
        kv.apply(
            fjall::KvSeparationOptions::default().compression(fjall::CompressionType::None),
            fjall::KvSeparationOptions::separation_threshold,
        )
    });
    let keyspace = db.keyspace(KEYSPACE, || {
        fjall::KeyspaceCreateOptions::default()
            .max_memtable_size(MEMTABLE_BYTES)
            .compaction_strategy(strategy)
            .data_block_size_policy(BlockSizePolicy::all(settings.block_size))
            .data_block_compression_policy(CompressionPolicy::all(fjall::CompressionType::None))
            .index_block_compression_policy(CompressionPolicy::all(fjall::CompressionType::None))
            .filter_policy(FilterPolicy::all(FilterPolicyEntry::Bloom(
                BloomConstructionPolicy::BitsPerKey(f32::from(settings.bloom_bits)),
            )))
            .with_kv_separation(kv_separation)
    })?;
    Ok(Box::new(FjallDb {
        db,
        keyspace,
        durability,
        dir: dir.to_path_buf(),
        failed: FirstError::default(),
    }))
}
