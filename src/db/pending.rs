//! Pending logs: the logged writes of a keyspace that recovery cannot replay yet, copied out of
//! the WAL so that they do not pin its segments.
//!
//! A keyspace's comparator is not persisted (only its name is), so the writes the WAL holds for
//! a keyspace with a custom comparator can be put in a memtable only when the application opens
//! it with `Database::keyspace`. Until then they would pin every WAL segment that logged them:
//! a keyspace never opened again would keep the WAL growing for the whole session (fjall #288).
//! Instead, the database's open writes them to `pending/<keyspace id>.log` and makes that file
//! durable before anything lets go of the segments; the keyspace's first open replays them (with
//! the tree's durable-through seqno as the floor, as for the WAL) and flushes them, and only then
//! is the file removed. A later open reads the file back with the WAL, so the writes survive any
//! number of sessions in which the keyspace stays closed.
//!
//! The file is written whole to `<id>.log.tmp`, synced, renamed over `<id>.log`, and the folder
//! synced, so it is either complete or absent; a `.tmp` left by a crash is deleted at the next
//! open, as is the log of a keyspace the catalog no longer names. Layout (`docs/format.md`,
//! section 12.4): records in the WAL's framing; the first is a header, every other one a batch in
//! the WAL's batch payload, in seqno order:
//!
//! ```text
//! header payload := "STPL" | version u8 (1) | keyspace id u64 LE | batch count u64 LE
//! batch payload  := as in a WAL segment (every item names the header's keyspace)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::wal::{self, Op};
use crate::error::{CorruptionKind, Error, Result};
use crate::fs::Fs;
use crate::record::{End, Framing, RecordReader};
use crate::seqno::{MAX_SEQNO, SeqNo};

/// The folder of the pending logs, in the database's folder.
pub(crate) const PENDING_FOLDER: &str = "pending";

const HEADER_MAGIC: &[u8; 4] = b"STPL";
const VERSION: u8 = 1;

/// The pending log of keyspace `id`.
pub(crate) fn path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id}.log"))
}

/// The keyspace id of a pending log's file name, if it is one: exactly the name [`path`] gives
/// (a stray `007.log` is not keyspace 7's log).
pub(crate) fn log_id(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    let id = digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| digits.parse::<u64>().ok())
        .flatten()?;
    (id.to_string() == digits).then_some(id)
}

fn header_payload(id: u64, batches: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(21);
    out.extend_from_slice(HEADER_MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&batches.to_le_bytes());
    out
}

/// Writes `items` (in seqno order; the items of one batch share a seqno, in their batch order)
/// as the pending log of keyspace `id`, durably: the file is complete under its name, and the
/// name durable, when this returns.
///
/// # Errors
/// `Io` if a file call fails; the earlier log, if any, is then unchanged.
pub(crate) fn write(fs: &dyn Fs, dir: &Path, id: u64, items: &[(SeqNo, Op)]) -> Result<()> {
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |e| Error::io(what, Some(path), e)
    };
    fs.create_dir(dir).map_err(io("create directory", dir))?;
    if let Some(parent) = dir.parent() {
        fs.sync_dir(parent).map_err(io("fsync directory", parent))?;
    }
    let mut body = Vec::new();
    let mut batches = 0u64;
    let mut start = 0;
    while let Some(&(seqno, _)) = items.get(start) {
        let end = items
            .get(start..)
            .unwrap_or_default()
            .iter()
            .position(|(s, _)| *s != seqno)
            .map_or(items.len(), |n| start + n);
        let batch: Vec<(u64, Op)> = items
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .map(|(_, op)| (id, op.clone()))
            .collect();
        let mut payload = wal::encode_batch(&batch);
        wal::set_seqno(&mut payload, seqno);
        body.extend_from_slice(&wal::frame(&payload)?);
        batches += 1;
        start = end;
    }
    let mut bytes = wal::frame(&header_payload(id, batches))?;
    bytes.extend_from_slice(&body);
    let target = path(dir, id);
    let tmp = dir.join(format!("{id}.log.tmp"));
    let mut file = fs.create(&tmp).map_err(io("create pending log", &tmp))?;
    file.append(&bytes).map_err(io("write pending log", &tmp))?;
    file.sync().map_err(io("fsync pending log", &tmp))?;
    drop(file);
    fs.rename(&tmp, &target)
        .map_err(io("rename pending log", &target))?;
    fs.sync_dir(dir).map_err(io("fsync directory", dir))
}

/// Reads the pending log of keyspace `id`: its items in seqno order.
///
/// # Errors
/// `Io` if it cannot be read; `Corruption` naming the file and offset for anything but a whole
/// log of this keyspace with increasing seqnos below `MAX_SEQNO` (the file was complete before
/// its name existed, so a torn tail is damage too).
#[cfg(any(feature = "internals", test))]
pub(crate) fn read(fs: &dyn Fs, dir: &Path, id: u64) -> Result<Vec<(SeqNo, Op)>> {
    read_counting(fs, dir, id, &mut 0)
}

/// [`read`], adding the bytes of the file to `bytes_read`.
fn read_counting(
    fs: &dyn Fs,
    dir: &Path,
    id: u64,
    bytes_read: &mut u64,
) -> Result<Vec<(SeqNo, Op)>> {
    let file = path(dir, id);
    let bytes = wal::read_whole(fs, &file)?;
    *bytes_read += bytes.len() as u64;
    let corrupt = |offset: u64, what| Error::Corruption {
        file: file.clone(),
        offset,
        what,
    };
    let mut reader = RecordReader::new(&bytes, Framing::Current);
    let Some(header) = reader.next() else {
        return Err(corrupt(
            0,
            CorruptionKind::InvalidField("pending log header"),
        ));
    };
    let batches = header
        .payload
        .get(13..)
        .and_then(|count| <[u8; 8]>::try_from(count).ok())
        .map(u64::from_le_bytes);
    let Some(batches) = batches.filter(|&n| header.payload == header_payload(id, n).as_slice())
    else {
        return Err(corrupt(
            0,
            CorruptionKind::InvalidField("pending log header"),
        ));
    };
    let mut read_batches = 0u64;
    let mut items = Vec::new();
    let mut last: Option<SeqNo> = None;
    for rec in reader.by_ref() {
        let batch = wal::decode_batch(rec.payload).map_err(|what| corrupt(rec.offset, what))?;
        if batch.seqno >= MAX_SEQNO || last.is_some_and(|prev| batch.seqno <= prev) {
            return Err(corrupt(
                rec.offset,
                CorruptionKind::InvalidField("pending log seqno"),
            ));
        }
        last = Some(batch.seqno);
        read_batches += 1;
        for (keyspace, op) in batch.items {
            if keyspace != id {
                return Err(corrupt(
                    rec.offset,
                    CorruptionKind::InvalidField("pending log keyspace"),
                ));
            }
            items.push((batch.seqno, op));
        }
    }
    match reader.end() {
        Some(End::Clean) | None if read_batches == batches => Ok(items),
        Some(End::Clean) | None => Err(corrupt(
            bytes.len() as u64,
            CorruptionKind::InvalidField("pending log batch count"),
        )),
        Some(End::Torn { offset }) => Err(corrupt(
            *offset,
            CorruptionKind::InvalidField("pending log torn"),
        )),
        Some(End::Corrupt { offset, what }) => Err(corrupt(*offset, what.clone())),
    }
}

/// Reads the pending log of every keyspace in `keyspaces`, and deletes what a crash or a deleted
/// keyspace left behind: `.tmp` files and the logs of keyspaces not in `keyspaces`. Adds the
/// bytes of the logs read to `bytes_read`.
///
/// # Errors
/// As [`read`], and `Io` if the folder cannot be listed or a leftover removed.
pub(crate) fn read_all(
    fs: &dyn Fs,
    dir: &Path,
    keyspaces: &BTreeSet<u64>,
    bytes_read: &mut u64,
) -> Result<BTreeMap<u64, Vec<(SeqNo, Op)>>> {
    let mut out = BTreeMap::new();
    if !fs
        .exists(dir)
        .map_err(|e| Error::io("stat directory", Some(dir.to_path_buf()), e))?
    {
        return Ok(out);
    }
    let entries = fs
        .list(dir)
        .map_err(|e| Error::io("list directory", Some(dir.to_path_buf()), e))?;
    let mut removed = false;
    for entry in entries {
        let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or("");
        match log_id(name) {
            Some(id) if keyspaces.contains(&id) => {
                out.insert(id, read_counting(fs, dir, id, bytes_read)?);
            }
            // NB: a log under another name is not ours to delete; it is left alone.
            None if !name.ends_with(".log.tmp") => {}
            _ => {
                fs.remove(&entry)
                    .map_err(|e| Error::io("remove pending log", Some(entry.clone()), e))?;
                removed = true;
            }
        }
    }
    if removed {
        fs.sync_dir(dir)
            .map_err(|e| Error::io("fsync directory", Some(dir.to_path_buf()), e))?;
    }
    Ok(out)
}

/// Removes the pending log of keyspace `id`, durably, if it exists.
///
/// # Errors
/// `Io` if a file call fails.
pub(crate) fn remove(fs: &dyn Fs, dir: &Path, id: u64) -> Result<()> {
    let file = path(dir, id);
    if !fs
        .exists(&file)
        .map_err(|e| Error::io("stat pending log", Some(file.clone()), e))?
    {
        return Ok(());
    }
    fs.remove(&file)
        .map_err(|e| Error::io("remove pending log", Some(file.clone()), e))?;
    fs.sync_dir(dir)
        .map_err(|e| Error::io("fsync directory", Some(dir.to_path_buf()), e))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, reason = "test code")]
mod tests {
    use super::*;
    use crate::fs::MemFs;
    use crate::slice::Slice;

    fn items() -> Vec<(SeqNo, Op)> {
        vec![
            (3, Op::Insert(Slice::from("a"), Slice::from("1"))),
            (3, Op::Merge(Slice::from("a"), Slice::from("+"))),
            (7, Op::RemoveRange(Slice::from("b"), Slice::from("d"))),
            (9, Op::Remove(Slice::from("a"))),
            (MAX_SEQNO - 1, Op::RemovePrefix(Slice::from("z"))),
        ]
    }

    #[test]
    fn a_pending_log_reads_back_its_items_in_order() {
        let fs = MemFs::new();
        let dir = Path::new("/db/pending");
        write(&fs, dir, 4, &items()).unwrap();
        assert_eq!(read(&fs, dir, 4).unwrap(), items());
        assert!(!fs.exists(&dir.join("4.log.tmp")).unwrap());
        write(&fs, dir, 4, &items()[..2]).unwrap();
        assert_eq!(
            read(&fs, dir, 4).unwrap(),
            items()[..2].to_vec(),
            "replaced whole"
        );
        remove(&fs, dir, 4).unwrap();
        assert!(!fs.exists(&path(dir, 4)).unwrap());
        remove(&fs, dir, 4).unwrap();
    }

    /// Every damaged or cut log, and the log of another keyspace under this one's name, is an
    /// error naming the file: a pending log is complete before its name exists.
    #[test]
    fn a_damaged_or_cut_pending_log_is_corruption() {
        let fs = MemFs::new();
        let dir = Path::new("/db/pending");
        write(&fs, dir, 4, &items()).unwrap();
        let good = wal::read_whole(&fs, &path(dir, 4)).unwrap();
        let put = |bytes: &[u8]| {
            let mut file = fs.create(&path(dir, 4)).unwrap();
            file.append(bytes).unwrap();
            file.sync().unwrap();
        };
        let mut failures = 0;
        for cut in 0..good.len() {
            put(&good[..cut]);
            match read(&fs, dir, 4) {
                Err(Error::Corruption { file, .. }) => {
                    assert_eq!(file, path(dir, 4));
                    failures += 1;
                }
                Ok(read) => panic!("cut at {cut} read {} items", read.len()),
                Err(other) => panic!("cut at {cut}: {other}"),
            }
        }
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            put(&bad);
            assert!(
                matches!(read(&fs, dir, 4), Err(Error::Corruption { .. })),
                "flip at {at}"
            );
        }
        put(&good);
        assert!(matches!(read(&fs, dir, 5), Err(Error::Io { .. })));
        fs.rename(&path(dir, 4), &path(dir, 5)).unwrap();
        assert!(matches!(read(&fs, dir, 5), Err(Error::Corruption { .. })));
        assert_eq!(failures, good.len());
    }

    #[test]
    fn read_all_keeps_the_catalogs_keyspaces_and_removes_leftovers() {
        let fs = MemFs::new();
        let dir = Path::new("/db/pending");
        assert!(
            read_all(&fs, dir, &BTreeSet::new(), &mut 0)
                .unwrap()
                .is_empty()
        );
        write(&fs, dir, 1, &items()).unwrap();
        write(&fs, dir, 2, &items()[..1]).unwrap();
        let mut tmp = fs.create(&dir.join("1.log.tmp")).unwrap();
        tmp.append(b"half").unwrap();
        drop(tmp);
        let mut other = fs.create(&dir.join("notes.txt")).unwrap();
        other.append(b"mine").unwrap();
        drop(other);
        let mut stray = fs.create(&dir.join("001.log")).unwrap();
        stray.append(b"not ours").unwrap();
        drop(stray);
        let log_len = wal::read_whole(&fs, &path(dir, 1)).unwrap().len() as u64;
        let mut bytes_read = 0;
        let read = read_all(&fs, dir, &BTreeSet::from([1, 3]), &mut bytes_read).unwrap();
        assert_eq!(read, BTreeMap::from([(1, items())]));
        assert_eq!(bytes_read, log_len, "only keyspace 1's log is read");
        assert!(!fs.exists(&path(dir, 2)).unwrap(), "keyspace 2 is gone");
        assert!(!fs.exists(&dir.join("1.log.tmp")).unwrap());
        assert!(fs.exists(&dir.join("notes.txt")).unwrap());
        assert!(
            fs.exists(&dir.join("001.log")).unwrap(),
            "not a name we write"
        );
        assert_eq!(log_id("12.log"), Some(12));
        assert_eq!(log_id("0.log"), Some(0));
        for name in [
            "012.log",
            "+1.log",
            ".log",
            "1.log.tmp",
            "1.LOG",
            "18446744073709551616.log",
        ] {
            assert_eq!(log_id(name), None, "{name}");
        }
    }
}
