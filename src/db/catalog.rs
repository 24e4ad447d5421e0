//! The keyspace catalog: which keyspaces exist, their ids, and the options persisted when each
//! was created.
//!
//! One file, `CATALOG`, holding one record in the manifest's framing (`crate::record`), replaced
//! whole on every change: written to `CATALOG.tmp`, synced, renamed over `CATALOG`, and the
//! directory synced. A crash leaves the old or the new catalog, never a mix. Payload
//! (`docs/format.md`, section 12):
//!
//! ```text
//! version u8 (1) | next id varint | count varint | entry*
//! entry := id varint | name length varint | name (UTF-8) | max memtable size varint |
//!          separation u8 (0 off, 1 on) [| threshold varint | file target varint |
//!          staleness f32 bits u32 | age cutoff f32 bits u32 | compression u8]
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use crate::coding::{decode_varint_u64, put_varint_u64};
use crate::compression::CompressionType;
use crate::config::KvSeparationOptions;
use crate::error::{CorruptionKind, Error, Result};
use crate::fs::Fs;
use crate::record::{End, Framing, RecordReader};

/// The catalog file's name.
pub(crate) const CATALOG: &str = "CATALOG";
const CATALOG_TMP: &str = "CATALOG.tmp";
const VERSION: u8 = 1;

/// What the catalog records of one keyspace.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) max_memtable_size: u64,
    pub(crate) kv_separation: Option<KvSeparationOptions>,
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
            put_varint_u64(&mut out, entry.name.len() as u64);
            out.extend_from_slice(entry.name.as_bytes());
            put_varint_u64(&mut out, entry.max_memtable_size);
            match &entry.kv_separation {
                None => out.push(0),
                Some(kv) => {
                    out.push(1);
                    put_varint_u64(&mut out, u64::from(kv.separation_threshold));
                    put_varint_u64(&mut out, kv.file_target_size);
                    out.extend_from_slice(&kv.staleness_threshold.to_bits().to_le_bytes());
                    out.extend_from_slice(&kv.age_cutoff.to_bits().to_le_bytes());
                    out.push(u8::from(kv.compression));
                }
            }
        }
        out
    }

    fn decode(bytes: &[u8]) -> std::result::Result<Self, CorruptionKind> {
        const BAD: CorruptionKind = CorruptionKind::InvalidField("catalog");
        let mut pos = 0usize;
        let byte = |pos: &mut usize| -> std::result::Result<u8, CorruptionKind> {
            let b = *bytes.get(*pos).ok_or(BAD)?;
            *pos += 1;
            Ok(b)
        };
        let varint = |pos: &mut usize| -> std::result::Result<u64, CorruptionKind> {
            let (v, n) = decode_varint_u64(bytes.get(*pos..).unwrap_or_default()).ok_or(BAD)?;
            *pos += n;
            Ok(v)
        };
        let word = |pos: &mut usize| -> std::result::Result<u32, CorruptionKind> {
            let raw: [u8; 4] = bytes
                .get(*pos..*pos + 4)
                .and_then(|b| b.try_into().ok())
                .ok_or(BAD)?;
            *pos += 4;
            Ok(u32::from_le_bytes(raw))
        };
        if byte(&mut pos)? != VERSION {
            return Err(CorruptionKind::InvalidField("catalog version"));
        }
        let next_id = varint(&mut pos)?;
        let count = varint(&mut pos)?;
        let mut entries = BTreeMap::new();
        for _ in 0..count {
            let id = varint(&mut pos)?;
            let len = usize::try_from(varint(&mut pos)?).map_err(|_| BAD)?;
            let end = pos.checked_add(len).ok_or(BAD)?;
            let name = std::str::from_utf8(bytes.get(pos..end).ok_or(BAD)?)
                .map_err(|_| BAD)?
                .to_string();
            pos = end;
            let max_memtable_size = varint(&mut pos)?;
            let kv_separation = match byte(&mut pos)? {
                0 => None,
                1 => Some(KvSeparationOptions {
                    separation_threshold: u32::try_from(varint(&mut pos)?).map_err(|_| BAD)?,
                    file_target_size: varint(&mut pos)?,
                    staleness_threshold: f32::from_bits(word(&mut pos)?),
                    age_cutoff: f32::from_bits(word(&mut pos)?),
                    compression: CompressionType::try_from(byte(&mut pos)?)
                        .unwrap_or(CompressionType::None),
                }),
                _ => return Err(BAD),
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
                },
            );
        }
        if pos != bytes.len() {
            return Err(BAD);
        }
        Ok(Self { next_id, entries })
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
                Self::decode(record.payload).map_err(|what| corrupt(record.offset, what))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;

    #[test]
    fn the_catalog_round_trips_through_its_file() {
        let fs = MemFs::new();
        let dir = Path::new("/db");
        fs.create_dir(dir).unwrap();
        assert_eq!(Catalog::read(&fs, dir).unwrap(), Catalog::default());
        let mut catalog = Catalog {
            next_id: 3,
            ..Catalog::default()
        };
        catalog.entries.insert(
            1,
            Entry {
                name: "users".into(),
                max_memtable_size: 1 << 20,
                kv_separation: None,
            },
        );
        catalog.entries.insert(
            2,
            Entry {
                name: "blobs".into(),
                max_memtable_size: 64 << 20,
                kv_separation: Some(KvSeparationOptions::default().separation_threshold(100)),
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
}
