//! The keyspace catalog: which keyspaces exist, their ids, and the options persisted when each
//! was created.
//!
//! One file, `CATALOG`, holding one record in the manifest's framing (`crate::record`), replaced
//! whole on every change: written to `CATALOG.tmp`, synced, renamed over `CATALOG`, and the
//! directory synced. A crash leaves the old or the new catalog, never a mix. Payload
//! (`docs/format.md`, section 12):
//!
//! ```text
//! version u8 (2) | next id varint | count varint | entry*
//! entry := id varint | name length varint | name (UTF-8) | max memtable size varint |
//!          separation u8 (0 off, 1 on) [| threshold varint | file target varint |
//!          staleness f32 bits u32 | age cutoff f32 bits u32 | compression] |
//!          options u8 (0: taken from each open, 1: persisted) [| policies |
//!          strategy name length varint | name | settings u8 (0 none, 1 some)
//!          [| settings length varint | settings]] | encrypted u8
//! ```
//!
//! Version 1 (still read) ends each entry after the separation fields and writes its compression
//! as one byte; its keyspaces take their policies and strategy from the options of each open, as
//! they did when it was written, also once the catalog is rewritten (options flag 0). `docs/format.md` section 12.2 has every field of `policies`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::coding::{Cursor, put_bytes, put_varint_u64};
use crate::compression::{CompressionType, ZSTD_BYTE, ZSTD_DICT_BYTE, missing_codec};
use crate::config::{
    BlockSizePolicy, BloomConstructionPolicy, CompressionPolicy, Config, FilterPolicy,
    FilterPolicyEntry, HashRatioPolicy, KvSeparationOptions, PinningPolicy, RestartIntervalPolicy,
};
use crate::error::{CorruptionKind, Error, Result};
use crate::fs::Fs;
use crate::record::{End, Framing, RecordReader};

/// The catalog file's name.
pub(crate) const CATALOG: &str = "CATALOG";
const CATALOG_TMP: &str = "CATALOG.tmp";
/// The version this build writes.
pub(crate) const VERSION: u8 = 2;
/// The first version, whose entries end after the separation fields.
const VERSION_1: u8 = 1;

/// The table policies of a keyspace, persisted at its creation: the data half of
/// `KeyspaceCreateOptions` that a `Config` takes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Policies {
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
}

impl Default for Policies {
    /// A tree's defaults ([`Config::new`]; `the_default_policies_are_a_trees` keeps them equal).
    fn default() -> Self {
        Self {
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
            filter_pinning: PinningPolicy::all(true),
            expect_point_read_hits: false,
        }
    }
}

impl Policies {
    /// The policies `config` holds.
    #[cfg(test)]
    pub(crate) fn of_config(config: &Config) -> Self {
        Self {
            data_block_size: config.data_block_size.clone(),
            data_block_restart_interval: config.data_block_restart_interval.clone(),
            index_block_restart_interval: config.index_block_restart_interval.clone(),
            data_block_compression: config.data_block_compression.clone(),
            index_block_compression: config.index_block_compression.clone(),
            data_block_hash_ratio: config.data_block_hash_ratio.clone(),
            filter: config.filter.clone(),
            index_partitioning: config.index_partitioning.clone(),
            filter_partitioning: config.filter_partitioning.clone(),
            index_pinning: config.index_pinning.clone(),
            filter_pinning: config.filter_pinning.clone(),
            expect_point_read_hits: config.expect_point_read_hits,
        }
    }

    /// `config` with these policies.
    pub(crate) fn apply(&self, config: Config) -> Config {
        config
            .data_block_size_policy(self.data_block_size.clone())
            .data_block_restart_interval_policy(self.data_block_restart_interval.clone())
            .index_block_restart_interval_policy(self.index_block_restart_interval.clone())
            .data_block_compression_policy(self.data_block_compression.clone())
            .index_block_compression_policy(self.index_block_compression.clone())
            .data_block_hash_ratio_policy(self.data_block_hash_ratio.clone())
            .filter_policy(self.filter.clone())
            .index_block_partitioning_policy(self.index_partitioning.clone())
            .filter_block_partitioning_policy(self.filter_partitioning.clone())
            .index_block_pinning_policy(self.index_pinning.clone())
            .filter_block_pinning_policy(self.filter_pinning.clone())
            .expect_point_read_hits(self.expect_point_read_hits)
    }

    /// Whether some policy compresses with a zstd dictionary (such a keyspace cannot be
    /// flushed without its application's dictionary).
    pub(crate) fn needs_dictionary(&self) -> bool {
        self.dictionary_id().is_some()
    }

    /// The id of the zstd dictionary the first policy that names one compresses with.
    pub(crate) fn dictionary_id(&self) -> Option<u32> {
        self.data_block_compression
            .iter()
            .chain(self.index_block_compression.iter())
            .find_map(|c| compression_dict_id(*c))
    }

    fn encode(&self, out: &mut Vec<u8>) {
        put_list(out, &self.data_block_size, |out, v| {
            put_varint_u64(out, u64::from(*v));
        });
        put_list(out, &self.data_block_restart_interval, |out, v| {
            out.push(*v);
        });
        put_list(out, &self.index_block_restart_interval, |out, v| {
            out.push(*v);
        });
        put_list(out, &self.data_block_compression, |out, v| {
            put_compression(out, *v);
        });
        put_list(out, &self.index_block_compression, |out, v| {
            put_compression(out, *v);
        });
        put_list(out, &self.data_block_hash_ratio, |out, v| {
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        });
        put_list(out, &self.filter, |out, v| match v {
            FilterPolicyEntry::None => out.push(0),
            FilterPolicyEntry::Bloom(BloomConstructionPolicy::BitsPerKey(bits)) => {
                out.push(1);
                out.extend_from_slice(&bits.to_bits().to_le_bytes());
            }
            FilterPolicyEntry::Bloom(BloomConstructionPolicy::FalsePositiveRate(rate)) => {
                out.push(2);
                out.extend_from_slice(&rate.to_bits().to_le_bytes());
            }
        });
        for policy in [
            &self.index_partitioning,
            &self.filter_partitioning,
            &self.index_pinning,
            &self.filter_pinning,
        ] {
            put_list(out, policy, |out, v| out.push(u8::from(*v)));
        }
        out.push(u8::from(self.expect_point_read_hits));
    }

    fn decode(
        c: &mut Cursor<'_>,
        missing: &mut Option<&'static str>,
    ) -> std::result::Result<Self, CorruptionKind> {
        let data_block_size = BlockSizePolicy::new(read_list(c, |c| {
            u32::try_from(c.varint()?).map_err(|_| BAD)
        })?);
        let data_block_restart_interval = RestartIntervalPolicy::new(read_list(c, read_u8)?);
        let index_block_restart_interval = RestartIntervalPolicy::new(read_list(c, read_u8)?);
        let data_block_compression =
            CompressionPolicy::new(read_list(c, |c| read_compression(c, missing))?);
        let index_block_compression =
            CompressionPolicy::new(read_list(c, |c| read_compression(c, missing))?);
        let data_block_hash_ratio =
            HashRatioPolicy::new(read_list(c, |c| Ok(f32::from_bits(c.u32()?)))?);
        let filter = FilterPolicy::new(read_list(c, |c| match c.u8()? {
            0 => Ok(FilterPolicyEntry::None),
            1 => Ok(FilterPolicyEntry::Bloom(
                BloomConstructionPolicy::BitsPerKey(f32::from_bits(c.u32()?)),
            )),
            2 => Ok(FilterPolicyEntry::Bloom(
                BloomConstructionPolicy::FalsePositiveRate(f32::from_bits(c.u32()?)),
            )),
            _ => Err(BAD),
        })?);
        let mut flags = || read_list(c, read_flag).map(PinningPolicy::new);
        let index_partitioning = flags()?;
        let filter_partitioning = flags()?;
        let index_pinning = flags()?;
        let filter_pinning = flags()?;
        let expect_point_read_hits = read_flag(c)?;
        Ok(Self {
            data_block_size,
            data_block_restart_interval,
            index_block_restart_interval,
            data_block_compression,
            index_block_compression,
            data_block_hash_ratio,
            filter,
            index_partitioning,
            filter_partitioning,
            index_pinning,
            filter_pinning,
            expect_point_read_hits,
        })
    }
}

/// A keyspace's compaction strategy as the catalog records it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StoredStrategy {
    /// [`CompactionStrategy::name`](crate::compaction::CompactionStrategy::name).
    pub(crate) name: String,
    /// A built-in strategy's settings (`compaction::decode_builtin` reads them back); `None` for
    /// an application's own strategy, which every open must supply.
    pub(crate) settings: Option<Vec<u8>>,
}

impl StoredStrategy {
    /// What the catalog records of `strategy`: its settings only when they read back as a
    /// built-in strategy (an application's strategy named like one is recorded by name).
    pub(crate) fn of(strategy: &dyn crate::compaction::CompactionStrategy) -> Self {
        let name = strategy.name();
        let settings = strategy
            .encode_settings()
            .filter(|bytes| crate::compaction::decode_builtin(name, bytes).is_some());
        Self {
            name: name.to_string(),
            settings,
        }
    }
}

/// What the catalog records of one keyspace.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) max_memtable_size: u64,
    pub(crate) kv_separation: Option<KvSeparationOptions>,
    /// `None` in a version-1 catalog: the options of each open supply them.
    pub(crate) policies: Option<Policies>,
    /// `None` in a version-1 catalog: the options of each open supply it.
    pub(crate) strategy: Option<StoredStrategy>,
    /// Whether the keyspace was created with an encryption provider, which every open must
    /// then supply (and which no open without the application's options has).
    pub(crate) encrypted: bool,
    /// Set when its options name a compression this build lacks: the keyspace does not open,
    /// and its options are kept as read (the fields above hold none of them).
    pub(crate) unsupported: Option<Unsupported>,
}

/// The persisted options of a keyspace that this build cannot use.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Unsupported {
    /// What the build lacks, naming the cargo feature that adds it.
    pub(crate) missing: &'static str,
    /// The entry's bytes from its separation flag to its encryption flag, as read.
    pub(crate) bytes: Vec<u8>,
}

impl Entry {
    /// Whether the database's open can flush the keyspace's logged writes without the
    /// application's options (given that its manifest names the default comparator): nothing it
    /// writes needs a zstd dictionary or an encryption provider.
    pub(crate) fn settles_without_options(&self) -> bool {
        let blob_dictionary = self
            .kv_separation
            .as_ref()
            .is_some_and(|kv| compression_dict_id(kv.compression).is_some());
        self.policies.is_some()
            && self.unsupported.is_none()
            && !self.encrypted
            && !blob_dictionary
            && !self
                .policies
                .as_ref()
                .is_some_and(Policies::needs_dictionary)
    }
}

/// The catalog: keyspaces by id, and the next id.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Catalog {
    pub(crate) next_id: u64,
    pub(crate) entries: BTreeMap<u64, Entry>,
}

impl Catalog {
    /// The id of the keyspace named `name`.
    pub(crate) fn id_of(&self, name: &str) -> Option<u64> {
        self.entries
            .iter()
            .find(|(_, e)| e.name == name)
            .map(|(id, _)| *id)
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        put_varint_u64(&mut out, self.next_id);
        put_varint_u64(&mut out, self.entries.len() as u64);
        for (id, entry) in &self.entries {
            put_varint_u64(&mut out, *id);
            put_bytes(&mut out, entry.name.as_bytes());
            put_varint_u64(&mut out, entry.max_memtable_size);
            if let Some(unsupported) = &entry.unsupported {
                out.extend_from_slice(&unsupported.bytes);
                out.push(u8::from(entry.encrypted));
                continue;
            }
            match &entry.kv_separation {
                None => out.push(0),
                Some(kv) => {
                    out.push(1);
                    put_varint_u64(&mut out, u64::from(kv.separation_threshold));
                    put_varint_u64(&mut out, kv.file_target_size);
                    out.extend_from_slice(&kv.staleness_threshold.to_bits().to_le_bytes());
                    out.extend_from_slice(&kv.age_cutoff.to_bits().to_le_bytes());
                    put_compression(&mut out, kv.compression);
                }
            }
            // NB: an entry read from a version-1 catalog keeps taking its policies and strategy
            // from each open's options (flag 0).
            match (&entry.policies, &entry.strategy) {
                (Some(policies), Some(strategy)) => {
                    out.push(1);
                    policies.encode(&mut out);
                    put_bytes(&mut out, strategy.name.as_bytes());
                    match &strategy.settings {
                        None => out.push(0),
                        Some(settings) => {
                            out.push(1);
                            put_bytes(&mut out, settings);
                        }
                    }
                }
                _ => out.push(0),
            }
            out.push(u8::from(entry.encrypted));
        }
        out
    }

    fn decode(bytes: &[u8]) -> std::result::Result<Self, CorruptionKind> {
        let mut c = Cursor::new(bytes);
        let version = c.u8()?;
        if version != VERSION && version != VERSION_1 {
            return Err(CorruptionKind::InvalidField("catalog version"));
        }
        let next_id = c.varint()?;
        let count = c.varint()?;
        let mut entries = BTreeMap::new();
        for _ in 0..count {
            let id = c.varint()?;
            let name = std::str::from_utf8(c.bytes()?)
                .map_err(|_| BAD)?
                .to_string();
            // NB: as `KeyspaceCreateOptions::max_memtable_size` clamps it.
            let max_memtable_size = c.varint()?.max(1);
            let options_start = c.position();
            let mut missing = None;
            let kv_separation = match c.u8()? {
                0 => None,
                1 => Some(KvSeparationOptions {
                    separation_threshold: u32::try_from(c.varint()?).map_err(|_| BAD)?,
                    file_target_size: c.varint()?,
                    staleness_threshold: f32::from_bits(c.u32()?),
                    age_cutoff: f32::from_bits(c.u32()?),
                    compression: if version == VERSION_1 {
                        CompressionType::try_from(c.u8()?).unwrap_or(CompressionType::None)
                    } else {
                        read_compression(&mut c, &mut missing)?
                    },
                }),
                _ => return Err(BAD),
            };
            let (policies, strategy) = if version == VERSION_1 {
                (None, None)
            } else {
                match c.u8()? {
                    0 => (None, None),
                    1 => {
                        let policies = Policies::decode(&mut c, &mut missing)?;
                        let name = std::str::from_utf8(c.bytes()?)
                            .map_err(|_| BAD)?
                            .to_string();
                        let settings = match c.u8()? {
                            0 => None,
                            1 => {
                                let settings = c.bytes()?.to_vec();
                                if crate::compaction::decode_builtin(&name, &settings).is_none() {
                                    return Err(CorruptionKind::InvalidField(
                                        "compaction settings",
                                    ));
                                }
                                Some(settings)
                            }
                            _ => return Err(BAD),
                        };
                        (Some(policies), Some(StoredStrategy { name, settings }))
                    }
                    _ => return Err(BAD),
                }
            };
            // NB: an entry that names a compression this build lacks is kept as its bytes, so
            // that a rewrite of the catalog (another keyspace created) changes nothing of it;
            // the keyspace itself does not open (`UnsupportedFormat` naming the feature).
            let unsupported = missing.map(|missing| Unsupported {
                missing,
                bytes: bytes
                    .get(options_start..c.position())
                    .unwrap_or_default()
                    .to_vec(),
            });
            let encrypted = if version == VERSION_1 {
                false
            } else {
                read_flag(&mut c)?
            };
            if id >= next_id || entries.values().any(|e: &Entry| e.name == name) {
                return Err(BAD);
            }
            entries.insert(
                id,
                Entry {
                    name,
                    max_memtable_size,
                    kv_separation,
                    policies,
                    strategy,
                    encrypted,
                    unsupported,
                },
            );
        }
        if !c.is_empty() {
            return Err(BAD);
        }
        Ok(Self { next_id, entries })
    }

    /// Decodes the payload of the catalog record at `offset` in `path`.
    ///
    /// # Errors
    /// `Corruption` naming `path` and `offset`.
    pub(crate) fn decode_payload(payload: &[u8], path: &Path, offset: u64) -> Result<Self> {
        Self::decode(payload).map_err(|what| Error::Corruption {
            file: path.to_path_buf(),
            offset,
            what,
        })
    }

    /// Reads the catalog of the database in `dir`; a missing file is an empty catalog.
    ///
    /// # Errors
    /// `Io` if it cannot be read; `Corruption` naming it if it is damaged.
    pub(crate) fn read(fs: &dyn Fs, dir: &Path) -> Result<Self> {
        let path = dir.join(CATALOG);
        if !fs
            .exists(&path)
            .map_err(|e| Error::io("stat", Some(path.clone()), e))?
        {
            return Ok(Self::default());
        }
        let file = fs
            .open(&path)
            .map_err(|e| Error::io("open catalog", Some(path.clone()), e))?;
        let len = file
            .size_bytes()
            .map_err(|e| Error::io("stat catalog", Some(path.clone()), e))?;
        let corrupt = |offset, what| Error::Corruption {
            file: path.clone(),
            offset,
            what,
        };
        let len = usize::try_from(len).map_err(|_| corrupt(0, CorruptionKind::Truncated))?;
        let mut bytes = vec![0u8; len];
        file.read_exact_at(&mut bytes, 0)
            .map_err(|e| Error::io("read catalog", Some(path.clone()), e))?;
        let mut reader = RecordReader::new(&bytes, Framing::Current);
        let record = reader.next();
        let extra = reader.next();
        match (record, extra, reader.end()) {
            (Some(record), None, Some(End::Clean)) => {
                Self::decode_payload(record.payload, &path, record.offset)
            }
            (_, _, Some(End::Torn { offset } | End::Corrupt { offset, .. })) => Err(corrupt(
                *offset,
                CorruptionKind::InvalidField("catalog record"),
            )),
            _ => Err(corrupt(0, CorruptionKind::InvalidField("catalog record"))),
        }
    }

    /// Replaces the catalog of the database in `dir` with this one, durably.
    ///
    /// # Errors
    /// `Io` if a step fails (the old catalog, or the new one, is then what a reopen finds).
    pub(crate) fn write(&self, fs: &dyn Fs, dir: &Path) -> Result<()> {
        let tmp = dir.join(CATALOG_TMP);
        let path = dir.join(CATALOG);
        let framed = crate::record::encode(&self.encode())
            .map_err(|_| Error::InvalidArgument("catalog too large".to_string()))?;
        let mut file = fs
            .create(&tmp)
            .map_err(|e| Error::io("create", Some(tmp.clone()), e))?;
        file.append(&framed)
            .map_err(|e| Error::io("write", Some(tmp.clone()), e))?;
        file.sync()
            .map_err(|e| Error::io("fsync", Some(tmp.clone()), e))?;
        drop(file);
        fs.rename(&tmp, &path)
            .map_err(|e| Error::io("rename", Some(path.clone()), e))?;
        fs.sync_dir(dir)
            .map_err(|e| Error::io("fsync directory", Some(dir.to_path_buf()), e))
    }
}

/// The catalog's generic complaint.
const BAD: CorruptionKind = CorruptionKind::InvalidField("catalog");

/// A byte.
fn read_u8(c: &mut Cursor<'_>) -> std::result::Result<u8, CorruptionKind> {
    c.u8()
}

/// A flag byte: 0 or 1.
fn read_flag(c: &mut Cursor<'_>) -> std::result::Result<bool, CorruptionKind> {
    match c.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(BAD),
    }
}

/// A count, then each of `items`.
fn put_list<T>(out: &mut Vec<u8>, items: &[T], mut put: impl FnMut(&mut Vec<u8>, &T)) {
    put_varint_u64(out, items.len() as u64);
    for item in items {
        put(out, item);
    }
}

/// What [`put_list`] wrote. The count is checked against the bytes left (every item takes at
/// least one), so a damaged count allocates nothing.
fn read_list<T>(
    c: &mut Cursor<'_>,
    mut read: impl FnMut(&mut Cursor<'_>) -> std::result::Result<T, CorruptionKind>,
) -> std::result::Result<Vec<T>, CorruptionKind> {
    let count = c.varint()?;
    let mut items = Vec::new();
    for _ in 0..count {
        if c.is_empty() {
            return Err(CorruptionKind::Truncated);
        }
        items.push(read(c)?);
    }
    Ok(items)
}

/// A compression type whole: its block byte, then a zstd level (i32) and a dictionary id
/// (u32), little-endian, where it has them.
fn put_compression(out: &mut Vec<u8>, compression: CompressionType) {
    out.push(u8::from(compression));
    match compression {
        #[cfg(feature = "zstd")]
        CompressionType::Zstd(level) => out.extend_from_slice(&level.to_le_bytes()),
        #[cfg(feature = "zstd")]
        CompressionType::ZstdDict { level, dict_id } => {
            out.extend_from_slice(&level.to_le_bytes());
            out.extend_from_slice(&dict_id.to_le_bytes());
        }
        _ => {}
    }
}

/// What [`put_compression`] wrote. A compression this build lacks (zstd or LZ4 without its
/// cargo feature) is read whole all the same, as `None`, and named in `missing`.
fn read_compression(
    c: &mut Cursor<'_>,
    missing: &mut Option<&'static str>,
) -> std::result::Result<CompressionType, CorruptionKind> {
    let byte = c.u8()?;
    // NB: the layout of each code does not depend on the build's features.
    let extra: [u8; 8] = match byte {
        0 | 1 => [0; 8],
        ZSTD_BYTE => {
            let level: [u8; 4] = c.array()?;
            [level[0], level[1], level[2], level[3], 0, 0, 0, 0]
        }
        ZSTD_DICT_BYTE => c.array()?,
        _ => return Err(CorruptionKind::InvalidField("catalog compression")),
    };
    let _ = extra;
    match CompressionType::try_from(byte) {
        #[cfg(feature = "zstd")]
        Ok(CompressionType::Zstd(_)) => Ok(CompressionType::Zstd(i32::from_le_bytes([
            extra[0], extra[1], extra[2], extra[3],
        ]))),
        #[cfg(feature = "zstd")]
        Ok(CompressionType::ZstdDict { .. }) => Ok(CompressionType::ZstdDict {
            level: i32::from_le_bytes([extra[0], extra[1], extra[2], extra[3]]),
            dict_id: u32::from_le_bytes([extra[4], extra[5], extra[6], extra[7]]),
        }),
        Ok(compression) => Ok(compression),
        Err(_) => {
            *missing = missing.or(missing_codec(byte));
            Ok(CompressionType::None)
        }
    }
}

/// The zstd dictionary `compression` needs, if any.
fn compression_dict_id(compression: CompressionType) -> Option<u32> {
    match compression {
        #[cfg(feature = "zstd")]
        CompressionType::ZstdDict { dict_id, .. } => Some(dict_id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::compaction::{CompactionStrategy, Fifo, Leveled, SizeTiered};
    use crate::fs::MemFs;

    fn entry(name: &str) -> Entry {
        Entry {
            name: name.into(),
            max_memtable_size: 1 << 20,
            kv_separation: None,
            policies: Some(Policies::default()),
            strategy: Some(StoredStrategy::of(&Leveled::default())),
            encrypted: false,
            unsupported: None,
        }
    }

    /// Policies unlike the defaults in every field.
    fn unusual_policies() -> Policies {
        Policies {
            data_block_size: BlockSizePolicy::new([64, 8192]),
            data_block_restart_interval: RestartIntervalPolicy::all(1),
            index_block_restart_interval: RestartIntervalPolicy::new([4, 8, 2]),
            #[cfg(feature = "lz4")]
            data_block_compression: CompressionPolicy::new([
                CompressionType::None,
                CompressionType::Lz4,
            ]),
            #[cfg(not(feature = "lz4"))]
            data_block_compression: CompressionPolicy::disabled(),
            #[cfg(feature = "zstd")]
            index_block_compression: CompressionPolicy::new([
                CompressionType::Zstd(7),
                CompressionType::zstd_dict(19, 0xdead_beef),
            ]),
            #[cfg(not(feature = "zstd"))]
            index_block_compression: CompressionPolicy::disabled(),
            data_block_hash_ratio: HashRatioPolicy::all(0.75),
            filter: FilterPolicy::new([
                FilterPolicyEntry::Bloom(BloomConstructionPolicy::FalsePositiveRate(0.001)),
                FilterPolicyEntry::Bloom(BloomConstructionPolicy::BitsPerKey(7.5)),
                FilterPolicyEntry::None,
            ]),
            index_partitioning: PinningPolicy::new([false, true]),
            filter_partitioning: PinningPolicy::all(true),
            index_pinning: PinningPolicy::all(false),
            filter_pinning: PinningPolicy::new([true, false]),
            expect_point_read_hits: true,
        }
    }

    #[test]
    fn the_catalog_round_trips_through_its_file() {
        let fs = MemFs::new();
        let dir = Path::new("/db");
        fs.create_dir(dir).unwrap();
        assert_eq!(Catalog::read(&fs, dir).unwrap(), Catalog::default());
        let mut catalog = Catalog {
            next_id: 6,
            ..Catalog::default()
        };
        catalog.entries.insert(1, entry("users"));
        catalog.entries.insert(
            2,
            Entry {
                kv_separation: Some(KvSeparationOptions::default().separation_threshold(100)),
                policies: Some(unusual_policies()),
                strategy: Some(StoredStrategy::of(
                    &SizeTiered::default()
                        .with_size_ratio(0.25)
                        .with_merge_width(3, 9)
                        .with_run_trigger(5),
                )),
                encrypted: true,
                ..entry("blobs")
            },
        );
        catalog.entries.insert(
            3,
            Entry {
                strategy: Some(StoredStrategy::of(&Fifo::new(1 << 30, Some(3600)))),
                ..entry("events")
            },
        );
        catalog.entries.insert(
            4,
            Entry {
                strategy: Some(StoredStrategy {
                    name: "mine".into(),
                    settings: None,
                }),
                ..entry("custom")
            },
        );
        catalog.entries.insert(
            5,
            Entry {
                policies: None,
                strategy: None,
                ..entry("legacy")
            },
        );
        catalog.write(&fs, dir).unwrap();
        assert_eq!(Catalog::read(&fs, dir).unwrap(), catalog);
        assert_eq!(catalog.id_of("blobs"), Some(2));
        let bytes = catalog.encode();
        for len in 0..bytes.len() {
            assert!(Catalog::decode(&bytes[..len]).is_err(), "cut at {len}");
        }
    }

    #[test]
    fn the_default_policies_are_a_trees() {
        let config = Config::new(
            "",
            crate::SequenceNumberCounter::default(),
            crate::SequenceNumberCounter::default(),
        );
        assert_eq!(Policies::default(), Policies::of_config(&config));
    }

    #[test]
    fn strategies_read_back_with_their_settings() {
        let strategies: [Arc<dyn CompactionStrategy>; 4] = [
            Arc::new(
                Leveled::default()
                    .with_l0_threshold(9)
                    .with_table_target_size(3 << 20)
                    .with_level_ratio_policy(vec![4.0, 8.0])
                    .with_dynamic_level_bytes(true),
            ),
            Arc::new(SizeTiered::default().with_max_space_amplification(1.25)),
            Arc::new(Fifo::new(12345, None)),
            Arc::new(Fifo::new(u64::MAX, Some(u64::MAX))),
        ];
        for strategy in strategies {
            let stored = StoredStrategy::of(strategy.as_ref());
            let settings = stored.settings.expect("a built-in strategy has settings");
            let rebuilt = crate::compaction::decode_builtin(&stored.name, &settings)
                .expect("its settings decode");
            assert_eq!(rebuilt.name(), strategy.name());
            assert_eq!(rebuilt.encode_settings(), Some(settings.clone()));
            let mut longer = settings.clone();
            longer.push(0);
            assert!(crate::compaction::decode_builtin(&stored.name, &longer).is_none());
            for len in 0..settings.len() {
                assert!(
                    crate::compaction::decode_builtin(&stored.name, &settings[..len]).is_none()
                );
            }
        }
    }

    /// An application's strategy named like a built-in one, whose settings are its own: it is
    /// recorded by name only, so the catalog never holds settings that do not decode.
    #[test]
    fn an_application_strategy_with_a_built_in_name_is_recorded_by_name() {
        struct Impostor;
        impl CompactionStrategy for Impostor {
            fn name(&self) -> &'static str {
                "leveled"
            }
            fn choose(&self, _: &crate::compaction::TreeView) -> crate::compaction::Choice {
                crate::compaction::Choice::DoNothing
            }
            fn encode_settings(&self) -> Option<Vec<u8>> {
                Some(b"not leveled's".to_vec())
            }
        }
        let stored = StoredStrategy::of(&Impostor);
        assert_eq!(stored.name, "leveled");
        assert_eq!(stored.settings, None);
    }

    /// A version-1 catalog (written by the sessions before the options were persisted) reads
    /// with its keyspaces' policies and strategy left to each open, and keeps that when
    /// rewritten.
    #[test]
    fn a_version_1_catalog_is_read_and_rewritten_without_inventing_options() {
        let mut v1 = vec![1u8, 3, 2];
        v1.extend_from_slice(&[1, 5]);
        v1.extend_from_slice(b"users");
        put_varint_u64(&mut v1, 1 << 20);
        v1.push(0);
        v1.extend_from_slice(&[2, 5]);
        v1.extend_from_slice(b"blobs");
        put_varint_u64(&mut v1, 64 << 20);
        v1.push(1);
        put_varint_u64(&mut v1, 100);
        put_varint_u64(&mut v1, 1 << 26);
        v1.extend_from_slice(&0.5f32.to_bits().to_le_bytes());
        v1.extend_from_slice(&0.25f32.to_bits().to_le_bytes());
        v1.push(0);
        let catalog = Catalog::decode(&v1).unwrap();
        assert_eq!(catalog.next_id, 3);
        let users = &catalog.entries[&1];
        assert_eq!(
            (users.policies.as_ref(), users.strategy.as_ref()),
            (None, None)
        );
        assert!(!users.encrypted && !users.settles_without_options());
        let blobs = catalog.entries[&2].kv_separation.clone().unwrap();
        assert_eq!(blobs.separation_threshold, 100);
        assert_eq!(blobs.age_cutoff.to_bits(), 0.25f32.to_bits());
        let rewritten = catalog.encode();
        assert_eq!(rewritten[0], VERSION);
        assert_eq!(Catalog::decode(&rewritten).unwrap(), catalog);
    }

    #[test]
    fn damaged_fields_are_corruption() {
        let mut catalog = Catalog {
            next_id: 2,
            ..Catalog::default()
        };
        catalog.entries.insert(1, entry("users"));
        let bytes = catalog.encode();
        let mut bad_version = bytes.clone();
        bad_version[0] = 9;
        assert_eq!(
            Catalog::decode(&bad_version),
            Err(CorruptionKind::InvalidField("catalog version"))
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Catalog::decode(&longer).is_err());
        // Every single byte set to 0xFF: an error or a catalog, never a panic.
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] = 0xFF;
            let _ = Catalog::decode(&damaged);
        }
        // A huge list count allocates nothing before it runs out of bytes.
        let mut c = Cursor::new(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 1]);
        assert!(read_list(&mut c, read_u8).is_err());
    }

    #[test]
    fn a_keyspace_needing_a_dictionary_or_a_provider_does_not_settle_without_options() {
        assert!(entry("plain").settles_without_options());
        let encrypted = Entry {
            encrypted: true,
            ..entry("secret")
        };
        assert!(!encrypted.settles_without_options());
        #[cfg(feature = "zstd")]
        {
            let dict = CompressionType::zstd_dict(3, 7);
            let policies = Policies {
                index_block_compression: CompressionPolicy::new([CompressionType::None, dict]),
                ..Policies::default()
            };
            let tables = Entry {
                policies: Some(policies),
                ..entry("dict")
            };
            assert!(!tables.settles_without_options());
            let blobs = Entry {
                kv_separation: Some(KvSeparationOptions::default().compression(dict)),
                ..entry("blob dict")
            };
            assert!(!blobs.settles_without_options());
        }
    }

    /// A catalog whose keyspace compresses with zstd, read by a build without the feature: the
    /// other keyspaces are fine; that entry is kept byte for byte through a rewrite and does not
    /// settle (its keyspace's open is `UnsupportedFormat`, `tests/database.rs`).
    #[cfg(not(feature = "zstd"))]
    #[test]
    fn an_entry_naming_a_missing_codec_is_kept_as_read() {
        let mut policies = Vec::new();
        Policies::default().encode(&mut policies);
        // The defaults begin [4096] [16] [1] [None] [None]: the index compression list is
        // bytes 9 and 10. The same policies with [zstd level 3] there:
        assert_eq!(&policies[..11], &[1, 0x80, 0x20, 1, 16, 1, 1, 1, 0, 1, 0]);
        let mut zstd = policies[..10].to_vec();
        zstd.extend_from_slice(&[2, 3, 0, 0, 0]);
        zstd.extend_from_slice(&policies[11..]);
        let mut catalog = Catalog {
            next_id: 3,
            ..Catalog::default()
        };
        catalog.entries.insert(1, entry("plain"));
        catalog.entries.insert(2, entry("zstd"));
        let bytes = catalog.encode();
        // Replace keyspace 2's policies (the second occurrence) with the zstd ones.
        let second = bytes
            .windows(policies.len())
            .enumerate()
            .filter(|(_, w)| *w == &policies[..])
            .map(|(i, _)| i)
            .nth(1)
            .unwrap();
        let mut damaged = bytes[..second].to_vec();
        damaged.extend_from_slice(&zstd);
        damaged.extend_from_slice(&bytes[second + policies.len()..]);
        let read = Catalog::decode(&damaged).unwrap();
        assert_eq!(read.entries[&1], entry("plain"));
        let zstd_entry = &read.entries[&2];
        assert_eq!(zstd_entry.name, "zstd");
        let unsupported = zstd_entry.unsupported.as_ref().unwrap();
        assert!(
            unsupported.missing.contains("zstd"),
            "{}",
            unsupported.missing
        );
        assert!(!zstd_entry.settles_without_options());
        assert_eq!(read.encode(), damaged, "rewritten byte for byte");
    }

    /// A keyspace whose persisted options name a compression this build lacks does not open
    /// (`UnsupportedFormat` naming the feature); the database and its other keyspaces do.
    #[cfg(not(feature = "zstd"))]
    #[test]
    fn a_keyspace_needing_a_missing_codec_is_unsupported_and_the_rest_opens() {
        use crate::{Database, KeyspaceCreateOptions};
        let fs = MemFs::new();
        let open = || {
            Database::builder("/db")
                .fs(Arc::new(fs.clone()))
                .worker_threads(1)
                .open()
                .expect("opens")
        };
        drop(
            open()
                .keyspace("plain", KeyspaceCreateOptions::default)
                .expect("created"),
        );
        let dir = Path::new("/db");
        let mut catalog = Catalog::read(&fs, dir).expect("read");
        catalog.entries.insert(2, entry("zstd"));
        catalog.next_id = 3;
        // Its policies with the index compression list [zstd level 3] (bytes 9 and 10 of the
        // defaults, as in `an_entry_naming_a_missing_codec_is_kept_as_read`).
        let mut policies = Vec::new();
        Policies::default().encode(&mut policies);
        let mut zstd = policies[..10].to_vec();
        zstd.extend_from_slice(&[2, 3, 0, 0, 0]);
        zstd.extend_from_slice(&policies[11..]);
        let bytes = catalog.encode();
        let at = bytes
            .windows(policies.len())
            .rposition(|w| w == &policies[..])
            .expect("keyspace 2's policies");
        let mut payload = bytes[..at].to_vec();
        payload.extend_from_slice(&zstd);
        payload.extend_from_slice(&bytes[at + policies.len()..]);
        let framed = crate::record::encode(&payload).expect("framed");
        let mut file = fs.create(&dir.join(CATALOG)).expect("create");
        file.append(&framed).expect("append");
        file.sync().expect("sync");
        drop(file);
        let db = open();
        match db.keyspace("zstd", KeyspaceCreateOptions::default) {
            Err(Error::UnsupportedFormat {
                missing: Some(m), ..
            }) => assert!(m.contains("zstd"), "{m}"),
            other => panic!("expected UnsupportedFormat, got {:?}", other.map(|_| ())),
        }
        let plain = db
            .keyspace("plain", KeyspaceCreateOptions::default)
            .expect("opens");
        plain.insert("k", "v").expect("writes");
        assert_eq!(db.list_keyspace_names().len(), 2);
        // A catalog change (a new keyspace) keeps the entry as it was.
        db.keyspace("third", KeyspaceCreateOptions::default)
            .expect("created");
        let reread = Catalog::read(&fs, dir).expect("read");
        assert_eq!(
            reread.entries[&2],
            Catalog::decode(&payload).expect("decodes").entries[&2]
        );
        assert!(reread.entries[&2].unsupported.is_some());
    }
}
