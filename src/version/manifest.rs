//! The manifest: an append-only log of version edits, and `CURRENT`, which names the live one.
//!
//! Record layout (little-endian; see `docs/format.md`):
//!
//! ```text
//! +-------------+--------------+---------------------------+-------------------------+
//! | magic "SE"  | length: u32  | checksum: u64             | payload: a VersionEdit  |
//! | 2 bytes     | payload size | xxh3-64 of the payload    | `length` bytes          |
//! +-------------+--------------+---------------------------+-------------------------+
//! ```
//!
//! `CURRENT` holds the live manifest's file name and a newline (`MANIFEST-000001\n`). It is
//! replaced by writing `CURRENT.tmp`, syncing it, renaming it over `CURRENT` and syncing the
//! directory, so it is always either the old or the new name, whole.
//!
//! Every append is synced before it counts. Reading tolerates exactly one kind of damage: a torn
//! tail, the last record cut short or followed by garbage after a crash. A record that fails its
//! checks is a torn tail only if no valid record follows it anywhere in the file; otherwise the
//! manifest is corrupt (a bit flip in the middle of the log), and opening the tree fails.

#![deny(clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::edit::VersionEdit;
use crate::error::{CorruptionKind, Error, Result};
use crate::fs::{Fs, FsWriteFile};

/// The file naming the live manifest.
pub(crate) const CURRENT: &str = "CURRENT";
const CURRENT_TMP: &str = "CURRENT.tmp";
const MAGIC: [u8; 2] = *b"SE";
const HEADER_LEN: usize = 14;
/// A manifest past this size is rewritten as one snapshot record (`Config` may lower it).
pub(crate) const REWRITE_BYTES: u64 = 1 << 20;

/// The file name of manifest `number`.
pub(crate) fn manifest_name(number: u64) -> String {
    format!("MANIFEST-{number:06}")
}

/// The number of a manifest file name, if it is one.
pub(crate) fn manifest_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("MANIFEST-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn encode_record(edit: &VersionEdit) -> Vec<u8> {
    let payload = edit.encode();
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// The record at `pos`, if one starts there and verifies: (payload, end offset).
fn record_at(bytes: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let header = bytes.get(pos..pos.checked_add(HEADER_LEN)?)?;
    if header.get(..2)? != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(header.get(2..6)?.try_into().ok()?) as usize;
    let sum = u64::from_le_bytes(header.get(6..14)?.try_into().ok()?);
    let start = pos + HEADER_LEN;
    let payload = bytes.get(start..start.checked_add(len)?)?;
    (xxhash_rust::xxh3::xxh3_64(payload) == sum).then_some((payload, start + len))
}

/// What [`read_manifest_records`] finds in a manifest file.
#[derive(Debug)]
#[cfg_attr(
    not(any(feature = "internals", test)),
    expect(
        dead_code,
        reason = "only the tools (feature `internals`) read the size and torn tail"
    )
)]
pub(crate) struct ManifestRecords {
    /// Every edit with the offset of its record, in file order.
    pub(crate) edits: Vec<(u64, VersionEdit)>,
    /// The file's size in bytes.
    pub(crate) size_bytes: u64,
    /// Where an ignored torn tail starts, if the file has one.
    pub(crate) torn_tail: Option<u64>,
}

/// Reads every edit of the manifest at `path`, ignoring a torn tail.
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
    let corrupt = |offset: usize, what| Error::Corruption {
        file: path.to_path_buf(),
        offset: offset as u64,
        what,
    };
    let mut edits = Vec::new();
    let mut torn_tail = None;
    let mut pos = 0;
    while pos < bytes.len() {
        let Some((payload, end)) = record_at(&bytes, pos) else {
            // A torn tail, unless a valid record follows the damage.
            if (pos + 1..bytes.len()).any(|p| record_at(&bytes, p).is_some()) {
                return Err(corrupt(
                    pos,
                    CorruptionKind::InvalidField("manifest record"),
                ));
            }
            torn_tail = Some(pos as u64);
            break;
        };
        let edit = VersionEdit::decode(payload).map_err(|what| corrupt(pos, what))?;
        edits.push((pos as u64, edit));
        pos = end;
    }
    Ok(ManifestRecords {
        edits,
        size_bytes: size,
        torn_tail,
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
}

impl ManifestWriter {
    /// Writes manifest `number` holding `snapshot`, syncs it and the directory, and points
    /// `CURRENT` at it. The previous manifest, if any, is then removed.
    pub(crate) fn create(
        fs: Arc<dyn Fs>,
        dir: &Path,
        number: u64,
        snapshot: &VersionEdit,
    ) -> Result<Self> {
        let path = dir.join(manifest_name(number));
        let mut file = fs
            .create(&path)
            .map_err(|e| Error::io("create manifest", Some(path.clone()), e))?;
        let record = encode_record(snapshot);
        file.append(&record)
            .map_err(|e| Error::io("write manifest", Some(path.clone()), e))?;
        file.sync()
            .map_err(|e| Error::io("fsync manifest", Some(path.clone()), e))?;
        fs.sync_dir(dir)
            .map_err(|e| Error::io("fsync directory", Some(dir.to_path_buf()), e))?;
        write_current(fs.as_ref(), dir, &manifest_name(number))?;
        if let Some(previous) = number.checked_sub(1) {
            // NB: best effort; recovery removes any manifest CURRENT does not name.
            let _ = fs.remove(&dir.join(manifest_name(previous)));
        }
        Ok(Self {
            fs,
            dir: dir.to_path_buf(),
            number,
            file,
            size: record.len() as u64,
        })
    }

    /// Appends `edit` and syncs it. After an error the manifest's tail is unknown: the caller
    /// must poison the tree.
    pub(crate) fn append(&mut self, edit: &VersionEdit) -> Result<()> {
        let path = self.dir.join(manifest_name(self.number));
        let record = encode_record(edit);
        self.file
            .append(&record)
            .map_err(|e| Error::io("write manifest", Some(path.clone()), e))?;
        self.file
            .sync()
            .map_err(|e| Error::io("fsync manifest", Some(path), e))?;
        self.size += record.len() as u64;
        Ok(())
    }

    /// Whether the manifest has grown past its bound and should be rewritten.
    pub(crate) fn needs_rewrite(&self, bound: u64) -> bool {
        self.size > bound
    }

    /// Replaces the manifest by a new one holding only `snapshot`.
    pub(crate) fn rewrite(&mut self, snapshot: &VersionEdit) -> Result<()> {
        let number = self
            .number
            .checked_add(1)
            .ok_or_else(|| Error::InvalidArgument("manifest numbers are exhausted".to_string()))?;
        *self = Self::create(Arc::clone(&self.fs), &self.dir, number, snapshot)?;
        Ok(())
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
    }

    #[test]
    fn a_torn_tail_is_ignored_but_damage_before_a_valid_record_is_corruption() {
        let mut bytes = Vec::new();
        for n in 0..3 {
            bytes.extend_from_slice(&encode_record(&edit(n)));
        }
        let second = encode_record(&edit(0)).len();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("M");
        let write = |b: &[u8]| {
            let mut f = StdFs.create(&path).unwrap();
            f.append(b).unwrap();
        };
        // Cut anywhere inside the last record, or garbage after it: the first two survive.
        let last_start = bytes.len() - encode_record(&edit(2)).len();
        for cut in last_start..bytes.len() {
            write(&bytes[..cut]);
            assert_eq!(
                read_manifest(&StdFs, &path).unwrap(),
                vec![edit(0), edit(1)],
                "cut {cut}"
            );
            let mut garbage = bytes[..cut].to_vec();
            garbage.extend_from_slice(&[0xab; 40]);
            write(&garbage);
            assert_eq!(
                read_manifest(&StdFs, &path).unwrap(),
                vec![edit(0), edit(1)]
            );
        }
        // A flipped bit in the second record, with a valid third after it, is corruption.
        let mut flipped = bytes.clone();
        flipped[second + HEADER_LEN] ^= 1;
        write(&flipped);
        assert!(
            matches!(read_manifest(&StdFs, &path), Err(Error::Corruption { offset, .. }) if offset == second as u64)
        );
    }

    #[test]
    fn records_come_with_their_offsets_and_a_torn_tail_with_where_it_starts() {
        let mut bytes = Vec::new();
        let mut offsets = Vec::new();
        for n in 0..3 {
            offsets.push(bytes.len() as u64);
            bytes.extend_from_slice(&encode_record(&edit(n)));
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
