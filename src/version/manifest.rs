//! The manifest: an append-only log of version edits, and `CURRENT`, which names the live one.
//!
//! Each edit is one record of [`crate::record`]'s framing (little-endian; `docs/format.md`,
//! sections 10.2 and 10.6):
//!
//! ```text
//! +--------+----------+------------+----------+-------------------------+---------+
//! | "SR"   | len: u32 | !len: u32  | sum: u64 | payload: a VersionEdit  | 0xA5    |
//! | 53 52  |          | complement | xxh3-64  | `len` bytes             | trailer |
//! +--------+----------+------------+----------+-------------------------+---------+
//! ```
//!
//! Manifests written before that framing (`"SE" | len u32 | xxh3-64 | payload`) are still read;
//! only the new framing is written: an open rewrites a manifest in the old framing.
//!
//! An open appends to the manifest it recovered from when that one ends cleanly, is in the
//! current framing and is below the rewrite bound (LevelDB's manifest reuse); otherwise it writes
//! a new manifest holding one snapshot, numbered one above every manifest in the directory.
//!
//! `CURRENT` holds the live manifest's file name and a newline (`MANIFEST-000001\n`). It is
//! replaced by writing `CURRENT.tmp`, syncing it, renaming it over `CURRENT` and syncing the
//! directory, so it is always either the old or the new name, whole.
//!
//! Every append is synced before it counts. Reading tolerates exactly one kind of damage, LevelDB's
//! rule: a torn tail, the last record cut short or zero-filled from some point to the end of the
//! file, which is what a crash during an append leaves. Anything else (a complete record with a
//! wrong checksum, a bad magic, non-zero bytes after the last record) is `Corruption` at that
//! record's offset, and opening the tree fails before it deletes anything.

#![deny(clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::edit::VersionEdit;
use crate::error::{CorruptionKind, Error, Result};
use crate::fs::{Fs, FsWriteFile};
use crate::record::{End, Framing, RecordReader, RecordTooLarge};

use crate::layout::CURRENT_TMP;
pub(crate) use crate::layout::{CURRENT, manifest_name, manifest_number};

/// The record framing `edit`.
fn encode_record(edit: &VersionEdit) -> Result<Vec<u8>> {
    crate::record::encode(&edit.encode()).map_err(|RecordTooLarge| {
        Error::InvalidArgument("a version edit exceeds a manifest record's 4 GiB".to_string())
    })
}

/// What [`read_manifest_records`] finds in a manifest file.
#[derive(Debug)]
pub(crate) struct ManifestRecords {
    /// Every edit with the offset of its record, in file order.
    pub(crate) edits: Vec<(u64, VersionEdit)>,
    /// The file's size in bytes.
    pub(crate) size_bytes: u64,
    /// Where an ignored torn tail starts, if the file has one.
    pub(crate) torn_tail: Option<u64>,
    /// Whether the file is in the legacy ("SE") framing.
    pub(crate) legacy: bool,
}

impl ManifestRecords {
    /// Whether an open may append to this manifest instead of writing a new one: it ends
    /// cleanly (nothing may be appended after a torn tail), it is in the framing this build
    /// writes, and it is at most `bound` bytes.
    pub(crate) fn reusable(&self, bound: u64) -> bool {
        self.torn_tail.is_none() && !self.legacy && self.size_bytes <= bound
    }
}

/// Reads every edit of the manifest at `path`, ignoring a torn tail.
#[cfg(test)]
pub(crate) fn read_manifest(fs: &dyn Fs, path: &Path) -> Result<Vec<VersionEdit>> {
    read_manifest_records(fs, path)
        .map(|records| records.edits.into_iter().map(|(_, edit)| edit).collect())
}

/// Reads every record of the manifest at `path` with its offset, and where a torn tail (which
/// is ignored) starts. Reads only: tools use it to inspect and verify a tree in place.
pub(crate) fn read_manifest_records(fs: &dyn Fs, path: &Path) -> Result<ManifestRecords> {
    let file = fs
        .open(path)
        .map_err(|e| Error::io("open manifest", Some(path.to_path_buf()), e))?;
    let size = file
        .size_bytes()
        .map_err(|e| Error::io("stat manifest", Some(path.to_path_buf()), e))?;
    let mut bytes = vec![0u8; usize::try_from(size).unwrap_or(0)];
    file.read_exact_at(&mut bytes, 0)
        .map_err(|e| Error::io("read manifest", Some(path.to_path_buf()), e))?;
    let corrupt = |offset: u64, what| Error::Corruption {
        file: path.to_path_buf(),
        offset,
        what,
    };
    let framing = Framing::detect(&bytes);
    let mut reader = RecordReader::new(&bytes, framing);
    let mut edits = Vec::new();
    for record in reader.by_ref() {
        let edit =
            VersionEdit::decode(record.payload).map_err(|what| corrupt(record.offset, what))?;
        edits.push((record.offset, edit));
    }
    let torn_tail = match reader.end() {
        Some(End::Clean) | None => None,
        Some(End::Torn { offset }) => Some(*offset),
        Some(End::Corrupt { offset, what }) => return Err(corrupt(*offset, what.clone())),
    };
    Ok(ManifestRecords {
        edits,
        size_bytes: size,
        torn_tail,
        legacy: matches!(framing, Framing::Legacy),
    })
}

/// Reads `CURRENT`: the live manifest's name, or `None` if there is no `CURRENT`.
pub(crate) fn read_current(fs: &dyn Fs, dir: &Path) -> Result<Option<String>> {
    let path = dir.join(CURRENT);
    let file = match fs.open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", Some(path), e)),
    };
    let size = file
        .size_bytes()
        .map_err(|e| Error::io("stat", Some(path.clone()), e))?;
    let corrupt = || Error::Corruption {
        file: path.clone(),
        offset: 0,
        what: CorruptionKind::InvalidField("manifest name"),
    };
    if size > 64 {
        return Err(corrupt());
    }
    let mut bytes = vec![0u8; usize::try_from(size).unwrap_or(0)];
    file.read_exact_at(&mut bytes, 0)
        .map_err(|e| Error::io("read", Some(path.clone()), e))?;
    let name = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| s.strip_suffix('\n'))
        .filter(|s| manifest_number(s).is_some())
        .ok_or_else(corrupt)?;
    Ok(Some(name.to_string()))
}

fn write_current(fs: &dyn Fs, dir: &Path, name: &str) -> Result<()> {
    let tmp = dir.join(CURRENT_TMP);
    let mut file = fs
        .create(&tmp)
        .map_err(|e| Error::io("create", Some(tmp.clone()), e))?;
    file.append(format!("{name}\n").as_bytes())
        .map_err(|e| Error::io("write", Some(tmp.clone()), e))?;
    file.sync()
        .map_err(|e| Error::io("fsync", Some(tmp.clone()), e))?;
    drop(file);
    let current = dir.join(CURRENT);
    fs.rename(&tmp, &current)
        .map_err(|e| Error::io("rename", Some(current), e))?;
    fs.sync_dir(dir)
        .map_err(|e| Error::io("fsync directory", Some(dir.to_path_buf()), e))
}

/// Appends edits to the live manifest; see the module documentation.
pub(crate) struct ManifestWriter {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    number: u64,
    file: Box<dyn FsWriteFile>,
    size: u64,
    /// Set by the first failed append or rewrite: the tail (or which manifest `CURRENT` names)
    /// is unknown from then on, so every later append and rewrite is refused.
    failed: bool,
}

impl ManifestWriter {
    /// Writes manifest `number` holding `snapshot`, syncs it and the directory, and points
    /// `CURRENT` at it. The caller removes the manifest it replaces.
    pub(crate) fn create(
        fs: Arc<dyn Fs>,
        dir: &Path,
        number: u64,
        snapshot: &VersionEdit,
    ) -> Result<Self> {
        let path = dir.join(manifest_name(number));
        let mut file = fs
            .create_new(&path)
            .map_err(|e| Error::io("create manifest", Some(path.clone()), e))?;
        let record = encode_record(snapshot)?;
        file.append(&record)
            .map_err(|e| Error::io("write manifest", Some(path.clone()), e))?;
        file.sync()
            .map_err(|e| Error::io("fsync manifest", Some(path.clone()), e))?;
        fs.sync_dir(dir)
            .map_err(|e| Error::io("fsync directory", Some(dir.to_path_buf()), e))?;
        write_current(fs.as_ref(), dir, &manifest_name(number))?;
        Ok(Self {
            fs,
            dir: dir.to_path_buf(),
            number,
            file,
            size: record.len() as u64,
            failed: false,
        })
    }

    /// Appends to manifest `number`, which `CURRENT` names and which ends cleanly after `size`
    /// bytes (see [`ManifestRecords::reusable`]). Syncs it first, so that what recovery read
    /// from it is durable before the caller deletes anything it does not name. `Ok(None)` if
    /// the file system cannot append to an existing file: the caller writes a new manifest.
    pub(crate) fn reopen(
        fs: Arc<dyn Fs>,
        dir: &Path,
        number: u64,
        size: u64,
    ) -> Result<Option<Self>> {
        let path = dir.join(manifest_name(number));
        let mut file = match fs.open_append(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => return Ok(None),
            Err(e) => return Err(Error::io("open manifest", Some(path), e)),
        };
        file.sync()
            .map_err(|e| Error::io("fsync manifest", Some(path), e))?;
        Ok(Some(Self {
            fs,
            dir: dir.to_path_buf(),
            number,
            file,
            size,
            failed: false,
        }))
    }

    /// Appends `edit` and syncs it. After an error the manifest's tail is unknown: this writer
    /// refuses every later append (`Error::Poisoned`), and the caller must poison the tree.
    pub(crate) fn append(&mut self, edit: &VersionEdit) -> Result<()> {
        if self.failed {
            return Err(Error::Poisoned);
        }
        let path = self.dir.join(manifest_name(self.number));
        let record = encode_record(edit)?;
        let result = self
            .file
            .append(&record)
            .map_err(|e| Error::io("write manifest", Some(path.clone()), e))
            .and_then(|()| {
                self.file
                    .sync()
                    .map_err(|e| Error::io("fsync manifest", Some(path), e))
            });
        match result {
            Ok(()) => {
                self.size += record.len() as u64;
                Ok(())
            }
            Err(err) => {
                self.failed = true;
                Err(err)
            }
        }
    }

    /// Whether the manifest has grown past its bound and should be rewritten.
    pub(crate) fn needs_rewrite(&self, bound: u64) -> bool {
        self.size > bound
    }

    /// Replaces the manifest by the next-numbered one holding only `snapshot`, then removes the
    /// old one.
    ///
    /// A failure may happen after `CURRENT` already names the new manifest: this writer then
    /// refuses every later append, so nothing is ever appended to a manifest `CURRENT` no
    /// longer names.
    pub(crate) fn rewrite(&mut self, snapshot: &VersionEdit) -> Result<()> {
        if self.failed {
            return Err(Error::Poisoned);
        }
        let number = self
            .number
            .checked_add(1)
            .filter(|n| *n <= crate::layout::MAX_FILE_NUMBER)
            .ok_or_else(|| Error::InvalidArgument("manifest numbers are exhausted".to_string()))?;
        match Self::create(Arc::clone(&self.fs), &self.dir, number, snapshot) {
            Ok(next) => {
                // NB: best effort; recovery removes any manifest CURRENT does not name.
                let _ = self.fs.remove(&self.dir.join(manifest_name(self.number)));
                *self = next;
                Ok(())
            }
            Err(err) => {
                self.failed = true;
                Err(err)
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn number(&self) -> u64 {
        self.number
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::StdFs;

    fn edit(n: u64) -> VersionEdit {
        VersionEdit {
            next_table_id: Some(n),
            add_runs: vec![(0, vec![n])],
            ..VersionEdit::default()
        }
    }

    #[test]
    fn appended_edits_are_read_back_and_current_names_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn Fs> = Arc::new(StdFs);
        let mut writer = ManifestWriter::create(Arc::clone(&fs), dir.path(), 1, &edit(0)).unwrap();
        writer.append(&edit(1)).unwrap();
        writer.append(&edit(2)).unwrap();
        assert_eq!(
            read_current(fs.as_ref(), dir.path()).unwrap().as_deref(),
            Some("MANIFEST-000001")
        );
        let edits = read_manifest(fs.as_ref(), &dir.path().join("MANIFEST-000001")).unwrap();
        assert_eq!(edits, vec![edit(0), edit(1), edit(2)]);
        writer.rewrite(&edit(9)).unwrap();
        assert_eq!(writer.number(), 2);
        assert_eq!(
            read_current(fs.as_ref(), dir.path()).unwrap().as_deref(),
            Some("MANIFEST-000002")
        );
        assert!(!fs.exists(&dir.path().join("MANIFEST-000001")).unwrap());
        // A reopened writer appends after what is there.
        drop(writer);
        let path = dir.path().join("MANIFEST-000002");
        let records = read_manifest_records(fs.as_ref(), &path).unwrap();
        assert!(records.reusable(u64::MAX));
        assert!(!records.reusable(records.size_bytes - 1));
        let mut writer = ManifestWriter::reopen(Arc::clone(&fs), dir.path(), 2, records.size_bytes)
            .unwrap()
            .unwrap();
        writer.append(&edit(10)).unwrap();
        assert_eq!(
            read_manifest(fs.as_ref(), &path).unwrap(),
            vec![edit(9), edit(10)]
        );
        // A manifest number is never reused: creating over an existing one fails.
        assert!(ManifestWriter::create(Arc::clone(&fs), dir.path(), 2, &edit(0)).is_err());
        assert_eq!(
            read_manifest(fs.as_ref(), &path).unwrap(),
            vec![edit(9), edit(10)]
        );
    }

    /// Three edits' records, the offset of the last, and a writer of a manifest file.
    fn three_records() -> (Vec<u8>, usize) {
        let mut bytes = Vec::new();
        let mut last = 0;
        for n in 0..3 {
            last = bytes.len();
            bytes.extend_from_slice(&encode_record(&edit(n)).unwrap());
        }
        (bytes, last)
    }

    fn write(path: &Path, bytes: &[u8]) {
        StdFs.create(path).unwrap().append(bytes).unwrap();
    }

    #[test]
    fn a_cut_or_zero_filled_last_record_is_a_torn_tail_and_ignored() {
        let (bytes, last) = three_records();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("M");
        for cut in last + 1..bytes.len() {
            write(&path, &bytes[..cut]);
            let records = read_manifest_records(&StdFs, &path).unwrap();
            let edits: Vec<_> = records.edits.into_iter().map(|(_, e)| e).collect();
            assert_eq!(edits, vec![edit(0), edit(1)], "cut {cut}");
            assert_eq!(records.torn_tail, Some(last as u64), "cut {cut}");
            let mut zeroed = bytes[..cut].to_vec();
            zeroed.resize(bytes.len(), 0);
            write(&path, &zeroed);
            assert_eq!(
                read_manifest(&StdFs, &path).unwrap(),
                vec![edit(0), edit(1)]
            );
        }
    }

    #[test]
    fn every_bit_flip_in_the_last_record_is_corruption_at_its_offset() {
        let (bytes, last) = three_records();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("M");
        for pos in last..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[pos] ^= 1 << bit;
                write(&path, &flipped);
                let result = read_manifest(&StdFs, &path);
                assert!(
                    matches!(result, Err(Error::Corruption { offset, .. }) if offset == last as u64),
                    "byte {pos} bit {bit}: {result:?}"
                );
            }
        }
    }

    #[test]
    fn nonzero_garbage_after_the_last_record_is_corruption() {
        let (mut bytes, _) = three_records();
        let end = bytes.len() as u64;
        bytes.extend_from_slice(&[0xab; 40]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("M");
        write(&path, &bytes);
        assert!(matches!(
            read_manifest(&StdFs, &path),
            Err(Error::Corruption { offset, .. }) if offset == end
        ));
    }

    #[test]
    fn a_manifest_in_the_old_se_framing_still_reads() {
        let mut bytes = Vec::new();
        for n in 0..3 {
            bytes.extend_from_slice(&crate::record::encode_legacy(&edit(n).encode()));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("M");
        write(&path, &bytes);
        let records = read_manifest_records(&StdFs, &path).unwrap();
        let len = bytes.len() as u64 / 3;
        assert_eq!(
            records.edits.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
            [0, len, 2 * len]
        );
        assert_eq!(records.torn_tail, None);
        assert_eq!(
            read_manifest(&StdFs, &path).unwrap(),
            vec![edit(0), edit(1), edit(2)]
        );
        write(&path, &bytes[..bytes.len() - 1]);
        let records = read_manifest_records(&StdFs, &path).unwrap();
        assert_eq!((records.edits.len(), records.torn_tail), (2, Some(2 * len)));
    }

    #[test]
    fn records_come_with_their_offsets_and_a_torn_tail_with_where_it_starts() {
        let mut bytes = Vec::new();
        let mut offsets = Vec::new();
        for n in 0..3 {
            offsets.push(bytes.len() as u64);
            bytes.extend_from_slice(&encode_record(&edit(n)).unwrap());
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("M");
        StdFs.create(&path).unwrap().append(&bytes).unwrap();
        let records = read_manifest_records(&StdFs, &path).unwrap();
        assert_eq!(
            records.edits.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
            offsets
        );
        assert_eq!(records.size_bytes, bytes.len() as u64);
        assert_eq!(records.torn_tail, None);
        let cut = bytes.len() - 3;
        StdFs.create(&path).unwrap().append(&bytes[..cut]).unwrap();
        let records = read_manifest_records(&StdFs, &path).unwrap();
        assert_eq!(records.edits.len(), 2);
        assert_eq!(records.torn_tail, Some(offsets[2]));
    }

    #[test]
    fn a_damaged_current_is_corruption_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_current(&StdFs, dir.path()).unwrap(), None);
        for content in [
            &b"MANIFEST-\n"[..],
            b"garbage",
            b"MANIFEST-000001",
            b"MANIFEST-00x001\n",
            &[0xff; 100],
        ] {
            let mut f = StdFs.create(&dir.path().join(CURRENT)).unwrap();
            f.append(content).unwrap();
            assert!(
                matches!(
                    read_current(&StdFs, dir.path()),
                    Err(Error::Corruption { .. })
                ),
                "{content:?}"
            );
        }
    }
}
