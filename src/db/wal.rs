//! The write-ahead log: segments of checksummed records, appended under the commit lock and
//! synced off it.
//!
//! A segment is `wal/<id, 20 digits>.log`: a sequence of records in the framing the manifest uses
//! (`crate::record`: length stored twice, xxh3-64 of the payload, a trailer byte; LevelDB's
//! torn-tail rule). Its first record is the segment header; every other record is one batch
//! (`docs/format.md`, section 12):
//!
//! ```text
//! header payload := "STWL" | version u8 (1) | segment id u64 | previous end u64
//! batch payload  := kind u8 (1) | seqno u64 | item count varint | item*
//! item           := keyspace id varint | op u8 | key length varint | key
//!                   [| value length varint | value]          (ops 0, 3, 4 carry a value)
//! op             := 0 insert | 1 remove | 2 remove_weak | 3 merge | 4 remove_range (key = start,
//!                   value = end) | 5 remove_prefix
//! ```
//!
//! A batch is one record, so it is applied whole or not at all; its seqno is inside the checksum.
//!
//! Appends happen under the database's commit lock and reach `write(2)` before a commit returns
//! (`PersistMode::Buffer`). Syncs never run under that lock: each segment has a second handle used
//! only for `fsync`, behind its own mutex; a writer that asked for durability waits there, and one
//! `fsync` covers every writer whose bytes were written before it started (group commit). Older
//! segments are synced first, so durability is always a prefix of the log. The next segment is
//! created, given its header and synced (with the `wal/` directory) by the background worker
//! ahead of time; a roll under the commit lock is a swap (or, if no spare is ready, a create).
//!
//! Recovery ([`read_segments`]) reads every segment in id order; ids must be contiguous and
//! seqnos strictly increasing. Only the last segment may end in a torn record (a crash cut it),
//! which is ignored; any other damage is `Error::Corruption` naming the file and offset. Recovery
//! never writes to a segment: it starts a new one, whose header records where the previous
//! segment's records end ("previous end"; `u64::MAX` for a segment started by a plain roll). A
//! later recovery accepts a torn end in a segment that is not the last only at exactly the offset
//! the next segment's header records: the tail a recovery already judged torn, never new damage.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex};

use crate::coding::{decode_varint_u64, put_varint_u64};
use crate::error::{CorruptionKind, Error, Result};
use crate::fs::{Fs, FsWriteFile};
use crate::record::{self, End, Framing, RecordReader};
use crate::seqno::{MAX_SEQNO, SeqNo};
use crate::slice::Slice;

/// The header payload's magic.
const HEADER_MAGIC: &[u8; 4] = b"STWL";
/// The WAL format version.
pub(crate) const WAL_VERSION: u8 = 1;
/// The kind byte of a batch record.
const KIND_BATCH: u8 = 1;

/// One write of a batch, as logged and applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Insert(Slice, Slice),
    Remove(Slice),
    RemoveWeak(Slice),
    Merge(Slice, Slice),
    RemoveRange(Slice, Slice),
    RemovePrefix(Slice),
}

impl Op {
    fn code(&self) -> u8 {
        match self {
            Self::Insert(..) => 0,
            Self::Remove(_) => 1,
            Self::RemoveWeak(_) => 2,
            Self::Merge(..) => 3,
            Self::RemoveRange(..) => 4,
            Self::RemovePrefix(_) => 5,
        }
    }

    fn parts(&self) -> (&Slice, Option<&Slice>) {
        match self {
            Self::Insert(k, v) | Self::Merge(k, v) | Self::RemoveRange(k, v) => (k, Some(v)),
            Self::Remove(k) | Self::RemoveWeak(k) | Self::RemovePrefix(k) => (k, None),
        }
    }

    /// Bytes this op adds to a batch payload, about.
    pub(crate) fn encoded_len(&self) -> usize {
        let (key, value) = self.parts();
        12 + key.len() + value.map_or(0, |v| v.len() + 5)
    }
}

/// The payload of a batch record, without its seqno (filled in under the commit lock).
pub(crate) fn encode_batch(items: &[(u64, Op)]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(16 + items.iter().map(|(_, op)| op.encoded_len()).sum::<usize>());
    out.push(KIND_BATCH);
    out.extend_from_slice(&[0u8; 8]);
    put_varint_u64(&mut out, items.len() as u64);
    for (keyspace, op) in items {
        put_varint_u64(&mut out, *keyspace);
        out.push(op.code());
        let (key, value) = op.parts();
        put_varint_u64(&mut out, key.len() as u64);
        out.extend_from_slice(key);
        if let Some(value) = value {
            put_varint_u64(&mut out, value.len() as u64);
            out.extend_from_slice(value);
        }
    }
    out
}

/// Writes `seqno` into a payload from [`encode_batch`].
pub(crate) fn set_seqno(payload: &mut [u8], seqno: SeqNo) {
    if let Some(slot) = payload.get_mut(1..9) {
        slot.copy_from_slice(&seqno.to_le_bytes());
    }
}

/// A decoded batch: its seqno and items.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Batch {
    pub(crate) seqno: SeqNo,
    pub(crate) items: Vec<(u64, Op)>,
}

/// Decodes a batch payload; every byte must belong to it.
pub(crate) fn decode_batch(payload: &[u8]) -> std::result::Result<Batch, CorruptionKind> {
    const BAD: CorruptionKind = CorruptionKind::InvalidField("wal batch");
    let (&kind, rest) = payload.split_first().ok_or(BAD)?;
    if kind != KIND_BATCH {
        return Err(CorruptionKind::InvalidField("wal record kind"));
    }
    let (seqno, rest) = rest.split_first_chunk::<8>().ok_or(BAD)?;
    let seqno = u64::from_le_bytes(*seqno);
    let mut pos = 0usize;
    let varint = |pos: &mut usize| -> std::result::Result<u64, CorruptionKind> {
        let (value, n) = decode_varint_u64(rest.get(*pos..).unwrap_or_default()).ok_or(BAD)?;
        *pos += n;
        Ok(value)
    };
    let bytes = |pos: &mut usize| -> std::result::Result<Slice, CorruptionKind> {
        let (len, n) = decode_varint_u64(rest.get(*pos..).unwrap_or_default()).ok_or(BAD)?;
        *pos += n;
        let len = usize::try_from(len).map_err(|_| BAD)?;
        let end = pos.checked_add(len).ok_or(BAD)?;
        let out = rest.get(*pos..end).ok_or(BAD)?;
        *pos = end;
        Ok(Slice::new(out))
    };
    let count = varint(&mut pos)?;
    // Every item takes at least three bytes: the count is bounded before anything is allocated.
    if count > rest.len() as u64 / 3 {
        return Err(BAD);
    }
    let mut items = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for _ in 0..count {
        let keyspace = varint(&mut pos)?;
        let code = *rest.get(pos).ok_or(BAD)?;
        pos += 1;
        let key = bytes(&mut pos)?;
        let op = match code {
            0 => Op::Insert(key, bytes(&mut pos)?),
            1 => Op::Remove(key),
            2 => Op::RemoveWeak(key),
            3 => Op::Merge(key, bytes(&mut pos)?),
            4 => Op::RemoveRange(key, bytes(&mut pos)?),
            5 => Op::RemovePrefix(key),
            _ => return Err(CorruptionKind::InvalidField("wal op")),
        };
        items.push((keyspace, op));
    }
    if pos != rest.len() {
        return Err(BAD);
    }
    Ok(Batch { seqno, items })
}

/// "Previous end" of a segment started by a roll: the previous segment ends cleanly.
pub(crate) const NO_PREVIOUS_END: u64 = u64::MAX;

fn header_payload(id: u64, previous_end: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(21);
    out.extend_from_slice(HEADER_MAGIC);
    out.push(WAL_VERSION);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&previous_end.to_le_bytes());
    out
}

/// The segment id and previous end a header payload records.
pub(crate) fn parse_header(payload: &[u8]) -> Option<(u64, u64)> {
    let rest = payload.strip_prefix(HEADER_MAGIC)?;
    let (&version, rest) = rest.split_first()?;
    let (id, rest) = rest.split_first_chunk::<8>()?;
    let previous: [u8; 8] = rest.try_into().ok()?;
    (version == WAL_VERSION).then(|| (u64::from_le_bytes(*id), u64::from_le_bytes(previous)))
}

/// The path of segment `id`.
pub(crate) fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.log"))
}

/// The id of a segment file name, if it is one.
pub(crate) fn segment_id(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The group-commit state of a segment.
#[derive(Default)]
struct SyncState {
    /// A writer is syncing the segment: the others wait for it rather than sync again.
    syncing: bool,
    /// The error of a failed sync, given to every later caller: a failed sync is never retried
    /// (after a failed `fsync` the kernel may have dropped the dirty pages and reports success
    /// next time).
    failed: Option<(std::io::ErrorKind, String)>,
}

/// A live segment: what the syncer and the release rule need.
pub(crate) struct Segment {
    pub(crate) id: u64,
    pub(crate) path: PathBuf,
    /// A handle used only to sync (never to append), behind its own lock.
    syncer: Mutex<Option<Box<dyn FsWriteFile>>>,
    /// Group commit: whether a writer is syncing now, and how a sync failed (see
    /// [`Segment::sync_upto`]). Never held during a sync.
    sync_state: Mutex<SyncState>,
    /// Signalled when a sync ends, for the writers waiting for it.
    sync_done: Condvar,
    /// Bytes appended so far (header included).
    pub(crate) written: AtomicU64,
    /// Bytes known durable.
    synced: AtomicU64,
    /// The highest seqno logged in it (0: none yet; seqnos logged are then all ≥ 0, so the
    /// release rule keeps using `max_seqno + 1` as its bound).
    pub(crate) max_seqno: AtomicU64,
    /// Whether it holds any batch.
    pub(crate) has_batches: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("id", &self.id)
            .field("written", &self.written.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The append handle of the placeholder segment: refuses every write.
#[derive(Debug)]
pub(crate) struct NullFile;

impl FsWriteFile for NullFile {
    fn append(&mut self, _data: &[u8]) -> std::io::Result<()> {
        Err(std::io::Error::other("the database is not open yet"))
    }

    fn sync(&mut self) -> std::io::Result<()> {
        Err(std::io::Error::other("the database is not open yet"))
    }
}

impl Segment {
    /// A segment recovery read (synced, sealed): `len` bytes of records, the highest seqno
    /// `max_seqno` logged in it.
    pub(crate) fn recovered(id: u64, path: PathBuf, len: u64, max_seqno: Option<SeqNo>) -> Self {
        Self {
            id,
            path,
            syncer: Mutex::new(None),
            sync_state: Mutex::new(SyncState::default()),
            sync_done: Condvar::new(),
            written: AtomicU64::new(len),
            synced: AtomicU64::new(len),
            max_seqno: AtomicU64::new(max_seqno.unwrap_or(0)),
            has_batches: std::sync::atomic::AtomicBool::new(max_seqno.is_some()),
        }
    }

    /// A segment that names no file (before recovery opened the first real one).
    pub(crate) fn placeholder() -> Self {
        Self {
            id: 0,
            path: PathBuf::new(),
            syncer: Mutex::new(None),
            sync_state: Mutex::new(SyncState::default()),
            sync_done: Condvar::new(),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            max_seqno: AtomicU64::new(0),
            has_batches: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Syncs everything written to the segment so far, unless a sync already covers `upto`.
    ///
    /// Group commit: one writer at a time syncs (the *leader*); a writer that finds a sync
    /// running waits for it to end, and returns without a sync of its own if that one covered
    /// its bytes (it started after they were written). The waiters learn it from `synced`
    /// under a lock the sync does not hold, all at once, so a writer whose bytes are durable is
    /// never held up by the next sync. After a failed sync every caller gets the error and no
    /// sync runs again.
    ///
    /// # Errors
    /// `Io` if the sync fails, or failed before (the caller poisons the database).
    pub(crate) fn sync_upto(&self, upto: u64) -> Result<()> {
        if self.synced.load(Ordering::Acquire) >= upto {
            return Ok(());
        }
        let mut state = self.sync_state.lock();
        loop {
            if self.synced.load(Ordering::Acquire) >= upto {
                return Ok(());
            }
            if let Some((kind, message)) = &state.failed {
                return Err(self.sync_error(std::io::Error::new(*kind, message.clone())));
            }
            if !state.syncing {
                break;
            }
            self.sync_done.wait(&mut state);
        }
        state.syncing = true;
        drop(state);
        let target = self.written.load(Ordering::Acquire);
        let result = match self.syncer.lock().as_mut() {
            Some(handle) => handle.sync(),
            None => Err(std::io::Error::other("the segment's sync handle is gone")),
        };
        let mut state = self.sync_state.lock();
        state.syncing = false;
        match &result {
            Ok(()) => {
                self.synced.fetch_max(target, Ordering::AcqRel);
            }
            Err(err) => state.failed = Some((err.kind(), err.to_string())),
        }
        drop(state);
        self.sync_done.notify_all();
        result.map_err(|e| self.sync_error(e))
    }

    fn sync_error(&self, err: std::io::Error) -> Error {
        Error::io("fsync wal segment", Some(self.path.clone()), err)
    }

    /// Whether everything written is synced.
    pub(crate) fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire) >= self.written.load(Ordering::Acquire)
    }
}

/// A segment ready to take appends: its shared state and its append handle.
pub(crate) struct OpenSegment {
    pub(crate) segment: Arc<Segment>,
    pub(crate) file: Box<dyn FsWriteFile>,
}

/// A segment file created ahead of time, empty: the next segment once a roll gives it its
/// header.
pub(crate) struct SpareFile {
    pub(crate) id: u64,
    path: PathBuf,
    file: Box<dyn FsWriteFile>,
    syncer: Box<dyn FsWriteFile>,
}

/// The most a segment file is preallocated: its target size, at most this.
pub(crate) const MAX_PREALLOCATION: u64 = 64 << 20;

/// Creates the empty file of segment `id` in `dir` (exclusively), preallocated to `preallocate`
/// bytes of zeros (at most [`MAX_PREALLOCATION`]; see [`FsWriteFile::preallocate`]) with that
/// length synced, and syncs the directory, so a roll under the commit lock only appends, and a
/// sync of the appends within that length writes no file size: a synced write costs one data
/// flush instead of a data flush and a journal commit (`fillrandom --durability syncdata`: about
/// 1.5× the writes per second). Readers take the zeros after the last record for a torn tail,
/// which the rules of [`read_segments`] already place exactly.
///
/// # Errors
/// `Io` if a step fails.
pub(crate) fn create_spare(
    fs: &dyn Fs,
    dir: &Path,
    id: u64,
    preallocate: u64,
) -> Result<SpareFile> {
    let path = segment_path(dir, id);
    let mut file = fs
        .create_new(&path)
        .map_err(|e| Error::io("create wal segment", Some(path.clone()), e))?;
    let preallocate = preallocate.min(MAX_PREALLOCATION);
    if preallocate > 0 {
        file.preallocate(preallocate)
            .and_then(|()| file.sync())
            .map_err(|e| Error::io("preallocate wal segment", Some(path.clone()), e))?;
    }
    fs.sync_dir(dir)
        .map_err(|e| Error::io("fsync directory", Some(dir.to_path_buf()), e))?;
    let syncer = fs
        .open_append(&path)
        .map_err(|e| Error::io("open wal segment", Some(path.clone()), e))?;
    Ok(SpareFile {
        id,
        path,
        file,
        syncer,
    })
}

/// Makes `spare` the next segment: appends its header, which records that the previous segment
/// ends at `previous_end` (see the module documentation). Not synced: the first sync of the
/// segment covers it.
///
/// # Errors
/// `Io` if the write fails.
pub(crate) fn start_segment(spare: SpareFile, previous_end: u64) -> Result<OpenSegment> {
    let SpareFile {
        id,
        path,
        mut file,
        syncer,
    } = spare;
    let header = record::encode(&header_payload(id, previous_end))
        .map_err(|_| Error::InvalidArgument("wal segment header too large".to_string()))?;
    file.append(&header)
        .map_err(|e| Error::io("write wal segment", Some(path.clone()), e))?;
    Ok(OpenSegment {
        segment: Arc::new(Segment {
            id,
            path,
            syncer: Mutex::new(Some(syncer)),
            sync_state: Mutex::new(SyncState::default()),
            sync_done: Condvar::new(),
            written: AtomicU64::new(header.len() as u64),
            synced: AtomicU64::new(0),
            max_seqno: AtomicU64::new(0),
            has_batches: std::sync::atomic::AtomicBool::new(false),
        }),
        file,
    })
}

/// Creates segment `id` with its header and syncs both (recovery's first segment),
/// preallocated as [`create_spare`] does.
///
/// # Errors
/// `Io` if a step fails.
pub(crate) fn create_segment(
    fs: &dyn Fs,
    dir: &Path,
    id: u64,
    previous_end: u64,
    preallocate: u64,
) -> Result<OpenSegment> {
    let open = start_segment(create_spare(fs, dir, id, preallocate)?, previous_end)?;
    let end = open.segment.written.load(Ordering::Acquire);
    open.segment.sync_upto(end)?;
    Ok(open)
}

/// Appends a framed batch to `open`.
///
/// # Errors
/// `Io` if the write fails (the caller poisons the database: the file's tail is unknown).
pub(crate) fn append(open: &mut OpenSegment, framed: &[u8], seqno: SeqNo) -> Result<u64> {
    open.file
        .append(framed)
        .map_err(|e| Error::io("write wal segment", Some(open.segment.path.clone()), e))?;
    let end = open
        .segment
        .written
        .fetch_add(framed.len() as u64, Ordering::AcqRel)
        + framed.len() as u64;
    open.segment.max_seqno.fetch_max(seqno, Ordering::AcqRel);
    open.segment.has_batches.store(true, Ordering::Release);
    Ok(end)
}

/// What recovery read from one segment.
#[derive(Debug)]
pub(crate) struct ReadSegment {
    pub(crate) id: u64,
    pub(crate) path: PathBuf,
    pub(crate) batches: Vec<Batch>,
    /// Where its good records end (a torn tail starts there).
    pub(crate) end: u64,
    /// The file's length (a preallocated segment's zero tail included).
    #[cfg_attr(
        not(any(feature = "internals", test)),
        expect(dead_code, reason = "read by the inspection tools (`internals`)")
    )]
    pub(crate) len: u64,
}

/// What recovery read from the WAL.
pub(crate) struct WalContents {
    /// The segments whose batches count, in id order.
    pub(crate) segments: Vec<ReadSegment>,
    /// Segment files whose records are discarded: those after a segment that lost its tail
    /// (never-synced writes that a prefix must not keep), and files without a durable header
    /// with every file after them. Newest first: removed in this order, one at a time, what a
    /// crash leaves of them is still contiguous.
    pub(crate) discarded: Vec<PathBuf>,
    /// The highest seqno of a batch that counts.
    pub(crate) last_seqno: Option<SeqNo>,
    /// The bytes of every segment file read.
    pub(crate) bytes_read: u64,
}

/// Reads the segments of `dir` in id order; see the module documentation.
///
/// A segment's header records where the previous segment ends (at a roll: its length then; at
/// a recovery: where its good records end). A segment whose good records end exactly there, or
/// the last segment, may end in a torn record. One whose records end *before* it lost a tail
/// of writes that were never synced (a sync covers every older segment first): recovery keeps
/// it up to its good end and discards every later segment, so what it recovers is a prefix.
/// A segment whose header itself never became durable (empty, or a header cut short, possibly
/// zero-filled) lost all of it: it and every later segment are discarded.
///
/// # Errors
/// `Io` if a file cannot be read; `Corruption` naming the file and offset for a gap in the ids,
/// a damaged record (not a torn tail), a missing or wrong header before the last segment, data
/// past where the next segment says the segment ends, or a seqno that does not increase.
pub(crate) fn read_segments(fs: &dyn Fs, dir: &Path) -> Result<WalContents> {
    let mut ids: Vec<u64> = fs
        .list(dir)
        .map_err(|e| Error::io("list directory", Some(dir.to_path_buf()), e))?
        .iter()
        .filter_map(|p| segment_id(p.file_name()?.to_str()?))
        .collect();
    ids.sort_unstable();
    let mut files = Vec::with_capacity(ids.len());
    for (index, &id) in ids.iter().enumerate() {
        let path = segment_path(dir, id);
        if index > 0 && ids.get(index - 1).is_some_and(|prev| prev + 1 != id) {
            return Err(Error::Corruption {
                file: path,
                offset: 0,
                what: CorruptionKind::InvalidField("wal segment missing before this one"),
            });
        }
        let bytes = read_whole(fs, &path)?;
        let mut reader = RecordReader::new(&bytes, Framing::Current);
        let first = reader.next();
        // NB: a file whose first record is merely cut short (or that is empty) never had a
        // durable header; one whose first record is damaged is corruption.
        let headerless = first.is_none() && !matches!(reader.end(), Some(End::Corrupt { .. }));
        let header = first.and_then(|rec| parse_header(rec.payload));
        files.push((id, path, bytes, header, headerless));
    }
    let mut contents = WalContents {
        segments: Vec::new(),
        discarded: Vec::new(),
        last_seqno: None,
        bytes_read: files
            .iter()
            .map(|(_, _, bytes, _, _)| bytes.len() as u64)
            .sum(),
    };
    // Trailing files whose header never became durable (a spare, a roll cut short) hold
    // nothing.
    while files.last().is_some_and(|file| file.4) {
        if let Some((_, path, ..)) = files.pop() {
            contents.discarded.push(path);
        }
    }
    let mut stopped = false;
    for index in 0..files.len() {
        let Some((id, path, bytes, header, _)) = files.get(index) else {
            break;
        };
        if stopped {
            contents.discarded.push(path.clone());
            continue;
        }
        if files.get(index).is_some_and(|file| file.4) {
            // NB: a segment whose header never became durable, with a later segment after it:
            // it lost everything a roll appended to it, none of it synced (a sync covers every
            // older segment first), so like a segment that lost its tail it ends the log, and
            // it and every later segment are discarded.
            stopped = true;
            contents.discarded.push(path.clone());
            continue;
        }
        let corrupt = |offset: u64, what| Error::Corruption {
            file: path.clone(),
            offset,
            what,
        };
        if header.map(|(seg, _)| seg) != Some(*id) {
            return Err(corrupt(
                0,
                CorruptionKind::InvalidField("wal segment header"),
            ));
        }
        let next_says = files
            .get(index + 1)
            .and_then(|(_, _, _, header, _)| header.map(|(_, previous)| previous));
        let read = read_one(path, bytes, &mut contents.last_seqno)?;
        match next_says {
            None | Some(NO_PREVIOUS_END) => {
                if next_says.is_some() && !read.clean {
                    return Err(corrupt(read.end, CorruptionKind::Truncated));
                }
            }
            Some(previous) if read.end == previous => {}
            Some(previous) if read.end < previous => stopped = true,
            Some(_) => {
                return Err(corrupt(
                    read.end,
                    CorruptionKind::InvalidField(
                        "wal records past the end the next segment records",
                    ),
                ));
            }
        }
        contents.segments.push(ReadSegment {
            id: *id,
            path: path.clone(),
            batches: read.batches,
            end: read.end,
            len: bytes.len() as u64,
        });
    }
    // NB: the names are the ids, zero-padded: by name is by id.
    contents.discarded.sort_unstable_by(|a, b| b.cmp(a));
    Ok(contents)
}

/// One segment's good records.
struct ReadOne {
    batches: Vec<Batch>,
    /// Where the good records end.
    end: u64,
    /// Whether they end at the end of the file.
    clean: bool,
}

/// Reads one segment's records after its header: damage is an error, a torn tail is where the
/// good records end.
fn read_one(path: &Path, bytes: &[u8], last_seqno: &mut Option<SeqNo>) -> Result<ReadOne> {
    let corrupt = |offset: u64, what| Error::Corruption {
        file: path.to_path_buf(),
        offset,
        what,
    };
    let mut reader = RecordReader::new(bytes, Framing::Current);
    let mut batches = Vec::new();
    for rec in reader.by_ref().skip(1) {
        let batch = decode_batch(rec.payload).map_err(|what| corrupt(rec.offset, what))?;
        // NB: as the manifest's bound: a write at or past it could not be applied (a memtable
        // refuses it), nor any write after it be given a seqno.
        if batch.seqno >= MAX_SEQNO {
            return Err(corrupt(
                rec.offset,
                CorruptionKind::InvalidField("wal seqno past the highest"),
            ));
        }
        if last_seqno.is_some_and(|prev| batch.seqno <= prev) {
            return Err(corrupt(
                rec.offset,
                CorruptionKind::InvalidField("wal seqno does not increase"),
            ));
        }
        *last_seqno = Some(batch.seqno);
        batches.push(batch);
    }
    let len = bytes.len() as u64;
    match reader.end() {
        Some(End::Clean) | None => Ok(ReadOne {
            batches,
            end: len,
            clean: true,
        }),
        Some(End::Torn { offset }) => Ok(ReadOne {
            batches,
            end: *offset,
            clean: false,
        }),
        Some(End::Corrupt { offset, what }) => Err(corrupt(*offset, what.clone())),
    }
}

/// The whole file at `path`.
///
/// # Errors
/// `Io` if it cannot be read.
pub(crate) fn read_whole(fs: &dyn Fs, path: &Path) -> Result<Vec<u8>> {
    let file = fs
        .open(path)
        .map_err(|e| Error::io("open wal segment", Some(path.to_path_buf()), e))?;
    let len = file
        .size_bytes()
        .map_err(|e| Error::io("stat wal segment", Some(path.to_path_buf()), e))?;
    let len = usize::try_from(len).map_err(|_| Error::Corruption {
        file: path.to_path_buf(),
        offset: 0,
        what: CorruptionKind::InvalidField("wal segment size"),
    })?;
    let mut bytes = vec![0u8; len];
    file.read_exact_at(&mut bytes, 0)
        .map_err(|e| Error::io("read wal segment", Some(path.to_path_buf()), e))?;
    Ok(bytes)
}

/// Frames a batch payload as a record.
///
/// # Errors
/// `InvalidArgument` for a batch larger than a record can hold (4 GiB).
pub(crate) fn frame(payload: &[u8]) -> Result<Vec<u8>> {
    record::encode(payload)
        .map_err(|_| Error::InvalidArgument("a write batch of 4 GiB or more".to_string()))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, reason = "test code")]
mod tests {
    use super::*;
    use crate::fs::MemFs;
    use proptest::prelude::*;

    /// A sync handle that fails its first `fail` syncs and counts every call; `gate` (if set)
    /// holds each sync until the test opens it.
    #[derive(Debug)]
    struct CountingSyncer {
        calls: Arc<AtomicU64>,
        fail: u64,
        gate: Option<Arc<(Mutex<bool>, Condvar)>>,
    }

    impl FsWriteFile for CountingSyncer {
        fn append(&mut self, _data: &[u8]) -> std::io::Result<()> {
            Ok(())
        }

        fn sync(&mut self) -> std::io::Result<()> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(gate) = &self.gate {
                let mut open = gate.0.lock();
                while !*open {
                    gate.1.wait(&mut open);
                }
            }
            if call < self.fail {
                return Err(std::io::Error::other("injected sync failure"));
            }
            Ok(())
        }
    }

    fn segment_with(syncer: CountingSyncer) -> OpenSegment {
        let spare = SpareFile {
            id: 1,
            path: PathBuf::from("wal/00000000000000000001.log"),
            file: Box::new(CountingSyncer {
                calls: Arc::new(AtomicU64::new(0)),
                fail: 0,
                gate: None,
            }),
            syncer: Box::new(syncer),
        };
        start_segment(spare, u64::MAX).unwrap()
    }

    /// Regression: after a failed sync, a writer that waited for it took the sync lock and
    /// synced again; the kernel reports an fsync error once, so the retry could succeed and
    /// acknowledge bytes that were lost. Now every later caller gets the error and no sync runs.
    #[test]
    fn a_failed_sync_is_never_retried() {
        let calls = Arc::new(AtomicU64::new(0));
        let mut open = segment_with(CountingSyncer {
            calls: Arc::clone(&calls),
            fail: 1,
            gate: None,
        });
        let end = append(&mut open, b"batch", 1).unwrap();
        let first = open.segment.sync_upto(end).unwrap_err();
        assert!(
            first.to_string().contains("injected sync failure"),
            "{first}"
        );
        let end = append(&mut open, b"batch", 2).unwrap();
        let again = open.segment.sync_upto(end).unwrap_err();
        assert!(
            again.to_string().contains("injected sync failure"),
            "{again}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one sync call in all");
        assert!(!open.segment.is_synced());
    }

    /// Group commit: writers that arrive while a sync runs wait for it, and one more sync
    /// covers them all; a writer whose bytes the running sync covers returns with it.
    #[test]
    fn writers_waiting_for_a_sync_share_the_next_one() {
        let calls = Arc::new(AtomicU64::new(0));
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let mut open = segment_with(CountingSyncer {
            calls: Arc::clone(&calls),
            fail: 0,
            gate: Some(Arc::clone(&gate)),
        });
        let first_end = append(&mut open, b"first", 1).unwrap();
        let segment = Arc::clone(&open.segment);
        std::thread::scope(|scope| {
            let leader = scope.spawn(|| segment.sync_upto(first_end));
            while calls.load(Ordering::SeqCst) == 0 {
                std::thread::yield_now();
            }
            // The leader's sync is running (held at the gate): three more writers arrive.
            let mut ends = Vec::new();
            for seqno in 2..5 {
                ends.push(append(&mut open, b"later", seqno).unwrap());
            }
            let waiters: Vec<_> = ends
                .into_iter()
                .map(|end| {
                    let segment = &segment;
                    scope.spawn(move || segment.sync_upto(end))
                })
                .collect();
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert_eq!(
                calls.load(Ordering::SeqCst),
                1,
                "the waiters wait for the leader"
            );
            *gate.0.lock() = true;
            gate.1.notify_all();
            leader.join().unwrap().unwrap();
            for waiter in waiters {
                waiter.join().unwrap().unwrap();
            }
        });
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "one more sync for the three waiters"
        );
        assert!(open.segment.is_synced());
    }

    fn items() -> Vec<(u64, Op)> {
        vec![
            (1, Op::Insert(Slice::from("k"), Slice::from("v"))),
            (2, Op::Remove(Slice::from("d"))),
            (1, Op::RemoveWeak(Slice::from("w"))),
            (3, Op::Merge(Slice::from("m"), Slice::from("+1"))),
            (1, Op::RemoveRange(Slice::from("a"), Slice::from("c"))),
            (1, Op::RemovePrefix(Slice::from("p"))),
        ]
    }

    #[test]
    fn batches_round_trip_and_their_bytes_are_pinned() {
        let mut payload = encode_batch(&items()[..1]);
        set_seqno(&mut payload, 300);
        assert_eq!(
            payload,
            [1, 0x2c, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, b'k', 1, b'v']
        );
        let mut payload = encode_batch(&items());
        set_seqno(&mut payload, 7);
        let batch = decode_batch(&payload).unwrap();
        assert_eq!(
            batch,
            Batch {
                seqno: 7,
                items: items()
            }
        );
        for len in 0..payload.len() {
            assert!(decode_batch(&payload[..len]).is_err(), "cut at {len}");
        }
        let mut extra = payload.clone();
        extra.push(0);
        assert!(decode_batch(&extra).is_err());
        assert_eq!(segment_id("00000000000000000042.log"), Some(42));
        assert_eq!(segment_id("42.log"), None);
        assert_eq!(parse_header(&header_payload(9, 4)), Some((9, 4)));
    }

    fn write_segments(fs: &MemFs, dir: &Path, previous: [u64; 2]) {
        let mut seqno = 0;
        for (id, previous) in (1..=2u64).zip(previous) {
            let mut open = create_segment(fs, dir, id, previous, 0).unwrap();
            for _ in 0..3 {
                let mut payload = encode_batch(&items());
                set_seqno(&mut payload, seqno);
                append(&mut open, &frame(&payload).unwrap(), seqno).unwrap();
                seqno += 1;
            }
        }
    }

    /// Segments preallocated on a real file system: the file is the preallocated length, its
    /// records are read back up to where they end, the zero tail of a segment that is not the
    /// last is accepted exactly where the next segment's header says the records end, and a
    /// byte that is not zero in that tail is corruption naming the file and offset.
    #[test]
    #[expect(
        clippy::disallowed_methods,
        reason = "the test looks at the real files under the `StdFs` it wrote with"
    )]
    fn preallocated_segments_read_back_up_to_their_records() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let fs = crate::fs::StdFs;
        let prealloc = 64 << 10;
        let mut seqno = 0;
        let mut ends = Vec::new();
        let mut previous = NO_PREVIOUS_END;
        for id in 1..=2u64 {
            let mut open = create_segment(&fs, dir, id, previous, prealloc).unwrap();
            let mut end = 0;
            for _ in 0..3 {
                let mut payload = encode_batch(&items());
                set_seqno(&mut payload, seqno);
                end = append(&mut open, &frame(&payload).unwrap(), seqno).unwrap();
                seqno += 1;
            }
            open.segment.sync_upto(end).unwrap();
            assert_eq!(
                std::fs::metadata(segment_path(dir, id)).unwrap().len(),
                prealloc
            );
            ends.push(end);
            previous = end;
        }
        let contents = read_segments(&fs, dir).unwrap();
        assert_eq!(contents.last_seqno, Some(5));
        assert!(contents.discarded.is_empty());
        let read_ends: Vec<u64> = contents.segments.iter().map(|s| s.end).collect();
        assert_eq!(read_ends, ends);
        // A byte in the first segment's zero tail, past its records: corruption there.
        let first = segment_path(dir, 1);
        let mut bytes = std::fs::read(&first).unwrap();
        let at = usize::try_from(ends[0]).unwrap() + 1000;
        bytes[at] = 1;
        std::fs::write(&first, &bytes).unwrap();
        match read_segments(&fs, dir) {
            Err(Error::Corruption { file, offset, .. }) => {
                assert_eq!((file, offset), (first, ends[0]));
            }
            other => panic!("expected corruption, got {:?}", other.map(|c| c.last_seqno)),
        }
    }

    fn cut(fs: &MemFs, path: &Path, by: usize) -> usize {
        let bytes = read_whole(fs, path).unwrap();
        let mut file = fs.create(path).unwrap();
        file.append(&bytes[..bytes.len() - by]).unwrap();
        bytes.len()
    }

    #[test]
    fn a_torn_tail_is_ignored_only_where_no_later_record_depends_on_it() {
        let fs = MemFs::new();
        let dir = Path::new("/wal");
        fs.create_dir(dir).unwrap();
        write_segments(&fs, dir, [NO_PREVIOUS_END, NO_PREVIOUS_END]);
        let contents = read_segments(&fs, dir).unwrap();
        assert_eq!((contents.segments.len(), contents.last_seqno), (2, Some(5)));
        // Cut the last segment inside its last record: that record is dropped.
        cut(&fs, &segment_path(dir, 2), 3);
        let contents = read_segments(&fs, dir).unwrap();
        assert_eq!(contents.last_seqno, Some(4));
        let end = contents.segments[1].end;
        assert!(end < contents.segments[1].len);
        // A recovery that judged it torn starts segment 3 recording where segment 2 ends: the
        // torn tail stays accepted, and the records after it count.
        create_segment(&fs, dir, 3, end, 0).unwrap();
        let contents = read_segments(&fs, dir).unwrap();
        assert_eq!((contents.segments.len(), contents.discarded.len()), (3, 0));
        // A segment 3 that says segment 2 ended later: segment 2 lost a tail that was never
        // synced, so everything after it is discarded (a prefix is kept).
        fs.remove(&segment_path(dir, 3)).unwrap();
        create_segment(&fs, dir, 3, end + 100, 0).unwrap();
        let contents = read_segments(&fs, dir).unwrap();
        assert_eq!(contents.segments.len(), 2);
        assert_eq!(contents.discarded, [segment_path(dir, 3)]);
        // ...but records past the end it records are damage.
        fs.remove(&segment_path(dir, 3)).unwrap();
        create_segment(&fs, dir, 3, end - 1, 0).unwrap();
        assert!(read_segments(&fs, dir).is_err());
        fs.remove(&segment_path(dir, 3)).unwrap();
        // The same cut in the first segment, followed by a segment that says it ended cleanly,
        // is corruption naming it.
        let first_path = segment_path(dir, 1);
        cut(&fs, &first_path, 3);
        match read_segments(&fs, dir) {
            Err(Error::Corruption { file, .. }) => assert_eq!(file, first_path),
            other => panic!("{:?}", other.map(|c| c.last_seqno)),
        }
    }

    /// Found by the `wal` fuzz target: a batch (with a valid checksum) whose seqno is past the
    /// highest usable one was accepted, and replaying it into a memtable panicked.
    #[test]
    fn a_seqno_past_the_highest_is_corruption() {
        let fs = MemFs::new();
        let dir = Path::new("/wal");
        fs.create_dir(dir).unwrap();
        let mut open = create_segment(&fs, dir, 1, NO_PREVIOUS_END, 0).unwrap();
        for seqno in [7, MAX_SEQNO] {
            let mut payload = encode_batch(&items());
            set_seqno(&mut payload, seqno);
            append(&mut open, &frame(&payload).unwrap(), seqno).unwrap();
        }
        match read_segments(&fs, dir) {
            Err(Error::Corruption { file, what, .. }) => {
                assert_eq!(file, segment_path(dir, 1));
                assert_eq!(
                    what,
                    CorruptionKind::InvalidField("wal seqno past the highest")
                );
            }
            other => panic!("{:?}", other.map(|c| c.last_seqno)),
        }
    }

    #[test]
    fn a_segment_whose_header_was_lost_ends_the_log() {
        let fs = MemFs::new();
        let dir = Path::new("/wal");
        fs.create_dir(dir).unwrap();
        write_segments(&fs, dir, [NO_PREVIOUS_END, NO_PREVIOUS_END]);
        let mut open = create_segment(&fs, dir, 3, NO_PREVIOUS_END, 0).unwrap();
        let mut payload = encode_batch(&items());
        set_seqno(&mut payload, 6);
        append(&mut open, &frame(&payload).unwrap(), 6).unwrap();
        let second = segment_path(dir, 2);
        let clean = read_whole(&fs, &second).unwrap();
        // A power loss kept segment 3's header and records but none, or only a cut-short part,
        // of segment 2's header (possibly zero-filled): segment 2 ends the log.
        for keep in [0, 1, 17, 30] {
            for zero_fill in [false, true] {
                let mut bytes = clean[..keep].to_vec();
                if zero_fill {
                    bytes.resize(clean.len(), 0);
                }
                let mut file = fs.create(&second).unwrap();
                file.append(&bytes).unwrap();
                let contents = read_segments(&fs, dir).unwrap();
                assert_eq!(contents.segments.len(), 1, "keep {keep}");
                assert_eq!(contents.last_seqno, Some(2));
                assert_eq!(contents.discarded, [segment_path(dir, 3), second.clone()]);
            }
        }
    }

    #[test]
    fn a_flipped_bit_in_any_complete_record_is_corruption() {
        let fs = MemFs::new();
        let dir = Path::new("/wal");
        fs.create_dir(dir).unwrap();
        write_segments(&fs, dir, [NO_PREVIOUS_END, NO_PREVIOUS_END]);
        for id in 1..=2u64 {
            let path = segment_path(dir, id);
            let clean = read_whole(&fs, &path).unwrap();
            for at in 0..clean.len() {
                let mut bytes = clean.clone();
                bytes[at] ^= 0x01;
                let mut file = fs.create(&path).unwrap();
                file.append(&bytes).unwrap();
                match read_segments(&fs, dir) {
                    Err(Error::Corruption { file, .. }) => assert_eq!(file, path, "byte {at}"),
                    Ok(contents) => {
                        panic!("segment {id} byte {at}: read {:?}", contents.last_seqno)
                    }
                    Err(other) => panic!("{other:?}"),
                }
            }
            let mut file = fs.create(&path).unwrap();
            file.append(&clean).unwrap();
        }
    }

    proptest! {
        #[test]
        fn hostile_payloads_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_batch(&bytes);
            let _ = parse_header(&bytes);
        }
    }
}
