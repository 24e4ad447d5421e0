//! A database folder read in place (`VERSION`, `CATALOG`, `wal/`, `keyspaces/<id>/`), for the
//! CLI's `inspect`, `verify` and `wal-dump`; and [`settle_keyspace`], for the benchmarks.
//!
//! The readers open nothing for writing and take no lock, so they work beside a database open in
//! another process and never change the folder: unlike [`Database::builder`]'s `open`, which
//! writes `VERSION` into a new folder, syncs and starts a new WAL segment, and deletes released
//! segments and orphan keyspaces. A database open elsewhere may append to its last segment
//! meanwhile (the reader then sees a torn tail, as a crash would leave it) or release a segment
//! (the reader then gets a file not found), never wrong data.
//!
//! The WAL is read with the record framing and the batch decoder recovery uses
//! (`db::wal`): [`read_wal_segment`] reads one segment as far as its records are sound and says
//! how it ends; [`check_wal`] gives recovery's own verdict on the whole WAL
//! (`db::wal::read_segments`: contiguous ids, increasing seqnos, the torn-tail rule across
//! segments), deleting nothing.
//!
//! [`Database::builder`]: crate::Database::builder

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::compaction::CompactionAction;
use crate::config::KvSeparationOptions;
use crate::db::catalog::{CATALOG, Catalog};
use crate::db::pending;
use crate::db::wal::{self, Op};
use crate::db::{KEYSPACES_FOLDER, Keyspace, WAL_FOLDER};
use crate::error::{CorruptionKind, Error, Result};
use crate::fs::{Fs, StdFs};
use crate::record::{End, Framing, RecordReader};
use crate::seqno::SeqNo;
use crate::slice::Slice;

/// Whether `dir` holds a database: its `VERSION`, `CATALOG` or `wal/` exists.
///
/// # Errors
/// `Io` if the folder cannot be read.
pub fn is_database(dir: &Path) -> Result<bool> {
    for name in ["VERSION", CATALOG, WAL_FOLDER] {
        let path = dir.join(name);
        if StdFs
            .exists(&path)
            .map_err(|e| Error::io("stat", Some(path.clone()), e))?
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Checks the `VERSION` marker of the database in `dir`, as an open does: `Ok(true)` if it holds
/// this version's text, `Ok(false)` if it is missing (an open writes it).
///
/// # Errors
/// `Io` if it cannot be read; `UnsupportedFormat` if it holds anything else.
pub fn check_database_version(dir: &Path) -> Result<bool> {
    crate::db::has_version_marker(&StdFs, dir)
}

/// One keyspace as the catalog records it.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogKeyspace {
    /// Its id: its folder is `keyspaces/<id>/`, and WAL items name it.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// The memtable size persisted at its creation.
    pub max_memtable_size: u64,
    /// The key-value separation persisted at its creation.
    pub kv_separation: Option<KvSeparationOptions>,
    /// The name of the compaction strategy persisted at its creation; `None` for a keyspace
    /// of a version-1 catalog, which takes its strategy and policies from each open.
    pub compaction_strategy: Option<String>,
    /// The table policies persisted at its creation, as text (`None` as above).
    pub policies: Option<String>,
    /// Whether it was created with an encryption provider.
    pub encrypted: bool,
}

/// The catalog of a database folder.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogState {
    /// The `CATALOG` file.
    pub path: PathBuf,
    /// Its size.
    pub size_bytes: u64,
    /// The id the next keyspace gets.
    pub next_id: u64,
    /// The keyspaces, by id.
    pub keyspaces: Vec<CatalogKeyspace>,
}

/// Reads the `CATALOG` of the database in `dir`; `None` if there is none (no keyspace was ever
/// created).
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let db = strata::Database::builder(dir.path()).open()?;
/// db.keyspace("users", strata::KeyspaceCreateOptions::default)?;
/// let catalog = strata::internals::read_catalog(dir.path())?.expect("a catalog");
/// assert_eq!(catalog.keyspaces[0].name, "users");
/// assert_eq!(catalog.keyspaces[0].id, 1);
/// assert_eq!(catalog.keyspaces[0].compaction_strategy.as_deref(), Some("leveled"));
/// # Ok::<(), strata::Error>(())
/// ```
///
/// # Errors
/// `Io` if it cannot be read; `Corruption` naming it if it is damaged.
pub fn read_catalog(dir: &Path) -> Result<Option<CatalogState>> {
    let path = dir.join(CATALOG);
    if !StdFs
        .exists(&path)
        .map_err(|e| Error::io("stat", Some(path.clone()), e))?
    {
        return Ok(None);
    }
    let size_bytes = StdFs
        .open(&path)
        .and_then(|file| file.size_bytes())
        .map_err(|e| Error::io("stat catalog", Some(path.clone()), e))?;
    let catalog = Catalog::read(&StdFs, dir)?;
    Ok(Some(CatalogState {
        path,
        size_bytes,
        next_id: catalog.next_id,
        keyspaces: keyspaces_of(catalog),
    }))
}

fn keyspaces_of(catalog: Catalog) -> Vec<CatalogKeyspace> {
    catalog
        .entries
        .into_iter()
        .map(|(id, entry)| CatalogKeyspace {
            id,
            name: entry.name,
            max_memtable_size: entry.max_memtable_size,
            kv_separation: entry.kv_separation,
            compaction_strategy: entry.strategy.map(|s| s.name),
            policies: entry.policies.map(|p| format!("{p:?}")),
            encrypted: entry.encrypted,
        })
        .collect()
}

/// Decodes the payload of a `CATALOG` record (`docs/format.md` 12.2) as a database's open does:
/// the next keyspace id and the keyspaces (the `catalog` fuzz target's decoder).
///
/// ```
/// let err = strata::internals::decode_catalog(&[9]).unwrap_err();
/// assert!(matches!(err, strata::Error::Corruption { .. }));
/// ```
///
/// # Errors
/// `Corruption` (its file named `CATALOG`, offset 0) for bytes that do not decode to their end;
/// `UnsupportedFormat` for a compression this build lacks.
pub fn decode_catalog(payload: &[u8]) -> Result<(u64, Vec<CatalogKeyspace>)> {
    let catalog = Catalog::decode_payload(payload, Path::new(CATALOG), 0)?;
    Ok((catalog.next_id, keyspaces_of(catalog)))
}

/// The folder of keyspace `id` (a tree) in the database `dir`.
pub fn keyspace_dir(dir: &Path, id: u64) -> PathBuf {
    dir.join(KEYSPACES_FOLDER).join(id.to_string())
}

/// The keyspace folders under `dir/keyspaces/` (named by their ids), named by the catalog or
/// not, sorted by id. A missing `keyspaces/` is an empty list.
///
/// # Errors
/// `Io` if the folder cannot be listed.
pub fn keyspace_dirs(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    list_ids(&dir.join(KEYSPACES_FOLDER), |name| name.parse().ok())
}

/// The WAL folder of the database `dir`.
pub fn wal_dir(dir: &Path) -> PathBuf {
    dir.join(WAL_FOLDER)
}

/// The WAL segment files in `wal_dir` (`<id, 20 digits>.log`), sorted by id. A missing folder is
/// an empty list.
///
/// # Errors
/// `Io` if the folder cannot be listed.
pub fn wal_segment_files(wal_dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    list_ids(wal_dir, wal::segment_id)
}

/// The pending logs of the database in `dir` (`pending/<keyspace id>.log`, `docs/format.md`
/// section 12.4: the logged writes of keyspaces with a custom comparator that an open could not
/// replay yet), sorted by keyspace id.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// assert!(strata::internals::pending_log_files(dir.path())?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// `Io` if the folder cannot be listed.
pub fn pending_log_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    list_ids(&dir.join(pending::PENDING_FOLDER), pending::log_id)
}

/// The files in the `pending/` folder of the database in `dir` that a crash left behind while a
/// pending log was written (`<id>.log.tmp`); the next open deletes them.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// assert!(strata::internals::pending_leftovers(dir.path())?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// `Io` if the folder cannot be listed.
pub fn pending_leftovers(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(list_ids(&dir.join(pending::PENDING_FOLDER), |name| {
        name.ends_with(".log.tmp").then_some(0)
    })?
    .into_iter()
    .map(|(_, path)| path)
    .collect())
}

/// Reads the pending log of keyspace `keyspace_id` in the database in `dir` as an open reads it
/// (every record's framing and checksum, the header, the batch count, increasing seqnos): its
/// writes with their seqnos, in order.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// // No pending log: the error names the file that is missing.
/// assert!(strata::internals::read_pending_log(dir.path(), 3).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// `Io` if the file cannot be read; `Corruption` naming the file and offset for anything but a
/// whole pending log of that keyspace.
pub fn read_pending_log(dir: &Path, keyspace_id: u64) -> Result<Vec<(SeqNo, WalItem)>> {
    let items = pending::read(&StdFs, &dir.join(pending::PENDING_FOLDER), keyspace_id)?;
    Ok(items
        .into_iter()
        .map(|(seqno, op)| (seqno, WalItem::from_op(keyspace_id, op)))
        .collect())
}

/// The entries of `dir` whose names `id_of` accepts, sorted by id.
fn list_ids(dir: &Path, id_of: impl Fn(&str) -> Option<u64>) -> Result<Vec<(u64, PathBuf)>> {
    if !StdFs
        .exists(dir)
        .map_err(|e| Error::io("stat", Some(dir.to_path_buf()), e))?
    {
        return Ok(Vec::new());
    }
    let mut out: Vec<(u64, PathBuf)> = StdFs
        .list(dir)
        .map_err(|e| Error::io("list directory", Some(dir.to_path_buf()), e))?
        .into_iter()
        .filter_map(|path| Some((id_of(path.file_name()?.to_str()?)?, path)))
        .collect();
    out.sort();
    Ok(out)
}

/// A WAL segment's header record (`docs/format.md`, section 12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalHeader {
    /// The WAL format version.
    pub version: u8,
    /// The segment id it records (its file name's, in a sound segment).
    pub segment_id: u64,
    /// Where the previous segment's good records end, as the recovery that started this
    /// segment found them; `None` for a segment started by a plain roll (the previous one ends
    /// cleanly).
    pub previous_end: Option<u64>,
}

/// What a WAL item does (`docs/format.md`, section 12: op codes 0 to 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalOp {
    /// `insert(key, value)`.
    Insert,
    /// `remove(key)`.
    Remove,
    /// `remove_weak(key)`.
    RemoveWeak,
    /// `merge(key, operand)`: the value is the operand.
    Merge,
    /// `remove_range(key, value)`: the key is the start, the value the (exclusive) end.
    RemoveRange,
    /// `remove_prefix(key)`.
    RemovePrefix,
}

impl WalOp {
    /// Its name, as the methods that write it are named.
    pub fn name(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Remove => "remove",
            Self::RemoveWeak => "remove_weak",
            Self::Merge => "merge",
            Self::RemoveRange => "remove_range",
            Self::RemovePrefix => "remove_prefix",
        }
    }
}

/// One write of a logged batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalItem {
    /// The keyspace it writes to (the catalog's id).
    pub keyspace_id: u64,
    /// What it does.
    pub op: WalOp,
    /// Its key (the start of a range).
    pub key: Slice,
    /// Its value, merge operand or range end; `None` for the removes.
    pub value: Option<Slice>,
}

impl WalItem {
    fn from_op(keyspace_id: u64, op: Op) -> Self {
        let (op, key, value) = match op {
            Op::Insert(k, v) => (WalOp::Insert, k, Some(v)),
            Op::Remove(k) => (WalOp::Remove, k, None),
            Op::RemoveWeak(k) => (WalOp::RemoveWeak, k, None),
            Op::Merge(k, v) => (WalOp::Merge, k, Some(v)),
            Op::RemoveRange(start, end) => (WalOp::RemoveRange, start, Some(end)),
            Op::RemovePrefix(k) => (WalOp::RemovePrefix, k, None),
        };
        Self {
            keyspace_id,
            op,
            key,
            value,
        }
    }
}

/// One batch record of a segment: written atomically at one seqno.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalBatch {
    /// The record's offset in the segment.
    pub offset: u64,
    /// The batch's seqno.
    pub seqno: SeqNo,
    /// Its writes, in order.
    pub items: Vec<WalItem>,
}

/// How a segment's records end.
#[derive(Debug)]
pub enum WalEnd {
    /// The last record ends at the end of the file.
    Clean,
    /// From `offset` to the end of the file lies a record a crash cut short: never
    /// acknowledged, and ignored by recovery if no later record depends on it.
    Torn {
        /// Where the torn record starts.
        offset: u64,
    },
    /// The records end at `offset` and only zero bytes follow to the end of the file: the
    /// space a segment is preallocated with (`docs/format.md` 12.3; or a tail a crash
    /// zero-filled, which holds no record either). Recovery reads it as a torn tail at `offset`.
    Preallocated {
        /// Where the records end and the zeros start.
        offset: u64,
    },
    /// Damage no crash produces: `Error::Corruption` naming the file and the record's offset.
    /// Nothing from there on is read.
    Damaged(Error),
}

impl WalSegment {
    /// The bytes before a preallocated zero tail ([`WalEnd::Preallocated`]): the file's size
    /// otherwise.
    pub fn used_bytes(&self) -> u64 {
        match self.end {
            WalEnd::Preallocated { offset } => offset,
            _ => self.size_bytes,
        }
    }
}

/// One WAL segment, read as far as its records are sound.
#[derive(Debug)]
pub struct WalSegment {
    /// The id its file name gives.
    pub id: u64,
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub size_bytes: u64,
    /// Its header record, if its first record is one (`None` for an empty file, a first record
    /// cut short, or damage: see `end`).
    pub header: Option<WalHeader>,
    /// The batches after the header, in file order.
    pub batches: Vec<WalBatch>,
    /// How its records end.
    pub end: WalEnd,
}

/// Reads the WAL segment at `path` record by record with recovery's framing and batch decoder,
/// writing nothing. A damaged record (or a first record that is no header) ends the reading with
/// [`WalEnd::Damaged`]; the batches before it are returned.
///
/// ```
/// use strata::internals::{WalEnd, WalOp, read_wal_segment, wal_dir, wal_segment_files};
///
/// # let dir = tempfile::tempdir()?;
/// let db = strata::Database::builder(dir.path()).open()?;
/// let items = db.keyspace("items", strata::KeyspaceCreateOptions::default)?;
/// items.insert("k", "value")?;
/// let segments = wal_segment_files(&wal_dir(dir.path()))?;
/// let segment = read_wal_segment(&segments[0].1)?;
/// assert_eq!(segment.header.map(|h| h.segment_id), Some(segments[0].0));
/// // The rest of the file is the zeros the segment was preallocated with.
/// assert!(matches!(segment.end, WalEnd::Preallocated { offset } if offset == segment.used_bytes()));
/// let item = &segment.batches[0].items[0];
/// assert_eq!((item.op, &*item.key), (WalOp::Insert, &b"k"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// `Io` if the file cannot be read (damage is in [`WalSegment::end`]).
pub fn read_wal_segment(path: &Path) -> Result<WalSegment> {
    let id = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(wal::segment_id)
        .unwrap_or(0);
    let bytes = wal::read_whole(&StdFs, path)?;
    let damaged = |offset: u64, what: CorruptionKind| {
        WalEnd::Damaged(Error::Corruption {
            file: path.to_path_buf(),
            offset,
            what,
        })
    };
    let mut segment = WalSegment {
        id,
        path: path.to_path_buf(),
        size_bytes: bytes.len() as u64,
        header: None,
        batches: Vec::new(),
        end: WalEnd::Clean,
    };
    let mut reader = RecordReader::new(&bytes, Framing::Current);
    if let Some(first) = reader.next() {
        let Some((segment_id, previous)) = wal::parse_header(first.payload) else {
            segment.end = damaged(
                first.offset,
                CorruptionKind::InvalidField("wal segment header"),
            );
            return Ok(segment);
        };
        segment.header = Some(WalHeader {
            version: wal::WAL_VERSION,
            segment_id,
            previous_end: (previous != wal::NO_PREVIOUS_END).then_some(previous),
        });
    }
    for record in reader.by_ref() {
        match wal::decode_batch(record.payload) {
            Ok(batch) => segment.batches.push(WalBatch {
                offset: record.offset,
                seqno: batch.seqno,
                items: batch
                    .items
                    .into_iter()
                    .map(|(keyspace, op)| WalItem::from_op(keyspace, op))
                    .collect(),
            }),
            Err(what) => {
                segment.end = damaged(record.offset, what);
                return Ok(segment);
            }
        }
    }
    segment.end = match reader.end() {
        Some(End::Clean) | None => WalEnd::Clean,
        Some(End::Torn { offset })
            if usize::try_from(*offset)
                .ok()
                .and_then(|at| bytes.get(at..))
                .is_some_and(|tail| tail.iter().all(|&b| b == 0)) =>
        {
            WalEnd::Preallocated { offset: *offset }
        }
        Some(End::Torn { offset }) => WalEnd::Torn { offset: *offset },
        Some(End::Corrupt { offset, what }) => damaged(*offset, what.clone()),
    };
    Ok(segment)
}

/// A segment recovery would replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveredSegment {
    /// Its id.
    pub id: u64,
    /// Where its good records end (before a torn tail, if it has one).
    pub end: u64,
    /// Its size.
    pub size_bytes: u64,
    /// The batches it holds.
    pub batch_count: usize,
}

/// What recovery would make of a WAL ([`check_wal`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalRecovery {
    /// The segments whose batches count, in id order.
    pub segments: Vec<RecoveredSegment>,
    /// Segment files recovery would delete unread: those after a segment that lost a tail of
    /// writes never synced, and trailing files whose header never became durable.
    pub discarded: Vec<PathBuf>,
    /// The highest seqno of a batch that counts.
    pub last_seqno: Option<SeqNo>,
}

/// Reads every segment of `wal_dir` as recovery does (`db::wal::read_segments`), deleting
/// nothing: the verdict an open would reach on this WAL.
///
/// # Errors
/// `Io` if a file cannot be read; `Corruption` naming the file and offset for damage recovery
/// refuses (a gap in the ids, a damaged record, a torn tail before the last segment that no
/// later header accounts for, a seqno that does not increase).
pub fn check_wal(wal_dir: &Path) -> Result<WalRecovery> {
    let contents = wal::read_segments(&StdFs, wal_dir)?;
    Ok(WalRecovery {
        segments: contents
            .segments
            .iter()
            .map(|s| RecoveredSegment {
                id: s.id,
                end: s.end,
                size_bytes: s.len,
                batch_count: s.batches.len(),
            })
            .collect(),
        discarded: contents.discarded,
        last_seqno: contents.last_seqno,
    })
}

/// Brings `keyspace` to the state a benchmark reads from (BENCH.md: every write flushed,
/// compaction settled): seals and flushes its memtables, runs its compaction strategy on the
/// caller's thread until it has nothing to do and no compaction of the database's workers is
/// running, then releases the WAL segments the flush unpinned. The workers go on meanwhile, as
/// they would under any caller.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let db = strata::Database::builder(dir.path()).open()?;
/// let items = db.keyspace("items", strata::KeyspaceCreateOptions::default)?;
/// items.insert("k", "v")?;
/// strata::internals::settle_keyspace(&items)?;
/// assert_eq!(items.table_count(), 1);
/// assert_eq!(db.journal_count(), 1);
/// # Ok::<(), strata::Error>(())
/// ```
///
/// # Errors
/// `Poisoned`; I/O errors of the flush, the compaction or the WAL release.
pub fn settle_keyspace(keyspace: &Keyspace) -> Result<()> {
    let db = &keyspace.db;
    db.check_poison()?;
    let inner = &keyspace.inner;
    let tree = &inner.tree;
    tree.rotate_memtable();
    {
        let lock = tree.get_flush_lock();
        tree.flush(&lock, db.watermark())?;
    }
    loop {
        let result = tree.compact(Arc::clone(&inner.strategy), db.watermark())?;
        if result.action != CompactionAction::Nothing {
            continue;
        }
        // NB: nothing to choose may only mean that a worker holds the tables; once its job
        // ends there may be more to do.
        let mut state = tree.0.compactions.lock();
        if state.busy.is_empty() && state.writing.is_empty() {
            break;
        }
        tree.0.compaction_done.wait(&mut state);
    }
    crate::db::worker::release_segments(db)
}
