//! `strata::Database`: the durable database over [`Tree`](crate::Tree)s, with fjall's names.
//!
//! A database is a folder:
//!
//! ```text
//! <path>/LOCK              the directory lock (taken before anything is read)
//! <path>/VERSION           "strata-db 1\n"
//! <path>/CATALOG           the keyspaces and their persisted options (catalog.rs)
//! <path>/wal/<id>.log      write-ahead log segments (wal.rs)
//! <path>/keyspaces/<id>/   one Tree per keyspace, sharing one Cache and DescriptorTable
//! ```
//!
//! **Writes** ([`Keyspace::insert`], [`WriteBatch::commit`], ...) go through one commit path:
//! under the commit lock a writer takes the next seqno, appends its batch as one WAL record
//! (reaching `write(2)`), applies it to the keyspaces' memtables through the same function replay
//! uses, and publishes the seqno; a read never sees half a batch (`seqno.rs`). A writer that asked
//! for `SyncData`/`SyncAll` then waits for an fsync that runs off the commit lock and covers every
//! writer before it (group commit). A failed WAL write or fsync poisons the database: every later
//! write returns [`Error::Poisoned`](crate::Error::Poisoned), nothing that failed is acknowledged,
//! and no fsync is retried. Structural steps (`clear`, deleting a keyspace) run under the commit
//! lock: barriers of the write pipeline, which sync the WAL first.
//!
//! **Background workers** (`worker.rs`) flush a keyspace's memtable when it reaches its size, the
//! write-buffer budget fills, or the WAL outgrows `max_journaling_size` (after syncing the WAL:
//! what is durable is always a prefix of the log, across keyspaces); compact each keyspace by
//! its strategy until there is nothing to do; pre-create the next WAL segment; and delete the WAL
//! segments every keyspace has flushed past. A keyspace pins the WAL only while its memtables
//! hold data, so an idle keyspace never pins it (fjall #288). Writers past the budget wait on a
//! signal from the flush that frees memory, never in a sleep loop.
//!
//! **Recovery** (`open`): lock, check `VERSION`, read the catalog, read the WAL (only a torn
//! tail where nothing later depends on it is tolerated), and set the write counter above every
//! seqno logged or stored. A keyspace's logged items at or above its durable-through seqno (what
//! its tree's manifest records as flushed; `clear` records its own seqno there, so a cleared
//! keyspace stays cleared, fjall #241) are applied and flushed by the open itself when the
//! keyspace's manifest names the default comparator (merge operands flushed unmerged, since the
//! merge operator is not persisted). A keyspace with a custom comparator can take them only at
//! its first open with [`Database::keyspace`]; until then the open keeps them in the keyspace's
//! pending log (`pending.rs`), so no keyspace left closed pins the WAL. With no items left
//! outside pending logs, the old segments are deleted at once. Recovery never truncates or
//! rewrites a segment; it starts a new one.

mod batch;
pub(crate) mod catalog;
mod keyspace;
pub(crate) mod pending;
mod seqno;
mod snapshot;
pub(crate) mod wal;
pub(crate) mod worker;

pub use batch::{OwnedWriteBatch, PersistMode, WriteBatch};
pub use keyspace::{Keyspace, KeyspaceCreateOptions};
pub use snapshot::{Readable, Snapshot};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex, RwLock};

use self::catalog::Catalog;
use self::keyspace::KeyspaceInner;
use self::seqno::Seqnos;
use self::wal::{Op, OpenSegment, Segment};
use crate::cache::{Cache, DescriptorTable};
use crate::error::{CorruptionKind, Error, Result};
use crate::fs::{Fs, FsLock, StdFs};
use crate::seqno::SeqNo;

/// The `VERSION` file's name and contents.
const VERSION_FILE: &str = "VERSION";
const VERSION_TEXT: &[u8] = b"strata-db 1\n";
/// The WAL's folder.
pub(crate) const WAL_FOLDER: &str = "wal";
/// The keyspaces' folder.
pub(crate) const KEYSPACES_FOLDER: &str = "keyspaces";
/// A WAL segment is rolled once it reaches this size.
const SEGMENT_TARGET_SIZE: u64 = 64 << 20;

/// Opens a [`Database`]: the builder's settings, then [`DatabaseBuilder::open`].
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let db = strata::Database::builder(dir.path()).cache_size(8 << 20).open()?;
/// let items = db.keyspace("items", strata::KeyspaceCreateOptions::default)?;
/// items.insert("a", "1")?;
/// assert_eq!(items.get("a")?, Some("1".into()));
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct DatabaseBuilder {
    path: PathBuf,
    cache_size: u64,
    worker_threads: usize,
    max_journaling_size: u64,
    max_write_buffer_size: Option<u64>,
    max_cached_files: Option<usize>,
    temporary: bool,
    manual_journal_persist: bool,
    fs: Option<Arc<dyn Fs>>,
    segment_target_size: u64,
}

impl DatabaseBuilder {
    /// The block cache shared by every keyspace, in bytes (default 32 MiB).
    #[must_use]
    pub fn cache_size(mut self, bytes: u64) -> Self {
        self.cache_size = bytes;
        self
    }

    /// Background threads for flushes and compactions (default min(cores, 4), at least 1).
    #[must_use]
    pub fn worker_threads(mut self, threads: usize) -> Self {
        self.worker_threads = threads.max(1);
        self
    }

    /// Past this many bytes of WAL, the keyspaces that pin its oldest segment are flushed
    /// (default 512 MiB).
    #[must_use]
    pub fn max_journaling_size(mut self, bytes: u64) -> Self {
        self.max_journaling_size = bytes;
        self
    }

    /// The memtable budget of all keyspaces together (default 64 MiB × min(keyspaces, 4)): past
    /// it the largest memtables are flushed, and writers wait until it is back under half.
    #[must_use]
    pub fn max_write_buffer_size(mut self, bytes: u64) -> Self {
        self.max_write_buffer_size = Some(bytes);
        self
    }

    /// The most table and blob files kept open at once (`None`: 512).
    #[must_use]
    pub fn max_cached_files(mut self, files: Option<usize>) -> Self {
        self.max_cached_files = files;
        self
    }

    /// Deletes the folder when the database is dropped.
    #[must_use]
    pub fn temporary(mut self, temporary: bool) -> Self {
        self.temporary = temporary;
        self
    }

    /// Accepted for fjall compatibility. It cannot weaken durability: every write reaches the
    /// operating system (`write(2)`) before it returns, so it survives a crash of the process;
    /// call [`Database::persist`] to survive power loss.
    #[must_use]
    pub fn manual_journal_persist(mut self, manual: bool) -> Self {
        self.manual_journal_persist = manual;
        self
    }

    /// The file system (default: the operating system's); tests pass a `MemFs` or `FaultFs`.
    #[must_use]
    pub fn fs(mut self, fs: Arc<dyn Fs>) -> Self {
        self.fs = Some(fs);
        self
    }

    /// The size at which a WAL segment is rolled (default 64 MiB; tests use tiny ones).
    #[must_use]
    pub fn journal_segment_size(mut self, bytes: u64) -> Self {
        self.segment_target_size = bytes.max(1);
        self
    }

    /// Opens (or creates) the database and starts its workers.
    ///
    /// # Errors
    /// `Locked` if another handle (in this process or another) holds the folder; `Io` if it
    /// cannot be read or written; `Corruption` naming the file and offset for a damaged WAL
    /// (anything but a torn tail of the last segment), catalog or tree; `UnsupportedFormat` for
    /// a folder that is not a Strata database of this version.
    pub fn open(self) -> Result<Database> {
        Database::open(&self)
    }
}

/// A durable database: keyspaces, a write-ahead log, batches, snapshots and background workers.
///
/// `Clone + Send + Sync`; the workers stop and the WAL is synced when the last handle drops.
///
/// ```
/// use strata::{Database, KeyspaceCreateOptions, PersistMode};
///
/// # let dir = tempfile::tempdir()?;
/// let db = Database::builder(dir.path()).open()?;
/// let users = db.keyspace("users", KeyspaceCreateOptions::default)?;
/// let posts = db.keyspace("posts", KeyspaceCreateOptions::default)?;
///
/// let mut batch = db.batch().durability(Some(PersistMode::SyncAll));
/// batch.insert(&users, "u1", "ada");
/// batch.insert(&posts, "p1", "hello");
/// batch.commit()?; // atomic across keyspaces, and survives power loss
///
/// let snapshot = db.snapshot();
/// users.remove("u1")?;
/// use strata::Readable;
/// assert_eq!(snapshot.get(&users, "u1")?, Some("ada".into()));
/// assert_eq!(users.get("u1")?, None);
/// drop((users, posts, snapshot, db));
///
/// let db = Database::builder(dir.path()).open()?;
/// let posts = db.keyspace("posts", KeyspaceCreateOptions::default)?;
/// assert_eq!(posts.get("p1")?, Some("hello".into()));
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Clone)]
pub struct Database(Arc<DbHandle>);

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.0.inner.path)
            .finish_non_exhaustive()
    }
}

/// The owner of the workers: dropping the last `Database` handle stops them.
struct DbHandle {
    inner: Arc<DbInner>,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Drop for DbHandle {
    fn drop(&mut self) {
        {
            let mut work = self.inner.work.lock();
            work.stop = true;
        }
        self.inner.work_cv.notify_all();
        for worker in self.workers.lock().drain(..) {
            let _ = worker.join();
        }
        // NB: best effort; every acknowledged write already reached write(2).
        let _ = self.inner.persist(PersistMode::SyncAll);
        if self.inner.temporary {
            self.inner.keyspaces.write().clear();
            remove_tree(self.inner.fs.as_ref(), &self.inner.path);
        }
    }
}

/// What the background workers are told.
#[derive(Default)]
pub(crate) struct WorkState {
    pub(crate) stop: bool,
    /// Set when something may need doing (a memtable filled, a flush ended).
    pub(crate) dirty: bool,
}

/// The WAL's current segment and the spare one, under the commit lock.
pub(crate) struct WalState {
    pub(crate) current: OpenSegment,
}

/// Why writers are slowed down or stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    WriteBuffer = 0,
    L0Runs = 1,
    SealedMemtables = 2,
    WalSize = 3,
}

/// How hard writers are held back now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pressure {
    None,
    Slow(Cause),
    Stop(Cause),
}

/// Level-0 runs at which writers slow down, and stop (RocksDB's defaults).
const L0_SLOWDOWN_RUNS: usize = 20;
const L0_STOP_RUNS: usize = 36;
/// Sealed memtables of one keyspace at which writers slow down, and stop.
const SEALED_SLOWDOWN: usize = 3;
const SEALED_STOP: usize = 4;
/// A slowed-down writer sleeps once this many bytes of debt piled up.
const DEBT_QUANTUM: u64 = 64 << 10;
/// The slowdown rate's bounds and start, in bytes per second.
const MIN_RATE: u64 = 1 << 20;
const MAX_RATE: u64 = 64 << 20;

/// Counters of the database.
#[derive(Debug, Default)]
pub(crate) struct DbCounters {
    /// Per cause: stalls and their microseconds.
    pub(crate) stalls: [AtomicU64; 4],
    pub(crate) stall_micros: [AtomicU64; 4],
    pub(crate) forced_flushes: AtomicU64,
    pub(crate) wal_bytes_written: AtomicU64,
    /// The bytes of the WAL segments and pending logs the open read.
    pub(crate) wal_bytes_read: AtomicU64,
    /// The bytes of the live WAL segments.
    pub(crate) wal_bytes: AtomicU64,
    /// The slowdown rate (bytes per second; 0: not set yet) and the debt not yet slept off.
    pub(crate) rate: AtomicU64,
    pub(crate) debt: AtomicU64,
    /// The flushes of the keyspaces the open settled and closed again (`settle_unopened`):
    /// their bytes written, count and microseconds.
    pub(crate) settled: Mutex<crate::Statistics>,
}

impl DbCounters {
    fn stalled(&self, cause: Cause, started: std::time::Instant) {
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        if let Some(c) = self.stalls.get(cause as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(c) = self.stall_micros.get(cause as usize) {
            c.fetch_add(micros, Ordering::Relaxed);
        }
    }
}

/// Everything a database shares with its keyspaces and workers.
pub(crate) struct DbInner {
    pub(crate) path: PathBuf,
    pub(crate) fs: Arc<dyn Fs>,
    pub(crate) cache: Arc<Cache>,
    pub(crate) descriptors: Option<Arc<DescriptorTable>>,
    pub(crate) seqnos: Arc<Seqnos>,
    /// The commit lock: the WAL's current segment.
    pub(crate) wal: Mutex<WalState>,
    /// The live WAL segments, oldest first (the current one last).
    pub(crate) segments: Mutex<Vec<Arc<Segment>>>,
    /// The next segment's file, created ahead of time by a worker.
    pub(crate) spare: Mutex<Option<wal::SpareFile>>,
    pub(crate) wal_dir: PathBuf,
    pub(crate) segment_target_size: u64,
    /// The keyspaces opened (claimed) since the database opened.
    pub(crate) keyspaces: RwLock<BTreeMap<u64, Arc<KeyspaceInner>>>,
    /// What the WAL (or a pending log) holds for keyspaces not opened yet in this session,
    /// applied at their first open (only the items at or above the tree's durable-through
    /// seqno); they pin the WAL unless their pending log holds them.
    pub(crate) deferred: Mutex<BTreeMap<u64, Deferred>>,
    /// The catalog, and the lock of every change to the set of keyspaces.
    pub(crate) catalog: Mutex<Catalog>,
    pub(crate) poisoned: AtomicBool,
    pub(crate) first_error: Mutex<Option<String>>,
    /// Live snapshots by seqno (the GC watermark is the oldest).
    pub(crate) snapshots: Mutex<BTreeMap<SeqNo, usize>>,
    pub(crate) work: Mutex<WorkState>,
    pub(crate) work_cv: Condvar,
    /// Signalled when a flush ends or the database is poisoned (stalled writers wait on it).
    pub(crate) relief: Condvar,
    pub(crate) max_journaling_size: u64,
    pub(crate) max_write_buffer_size: Option<u64>,
    pub(crate) temporary: bool,
    pub(crate) counters: DbCounters,
    _lock: Box<dyn FsLock>,
}

impl DbInner {
    /// `Err(Poisoned)` once a write, sync or background job failed.
    pub(crate) fn check_poison(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            Err(Error::Poisoned)
        } else {
            Ok(())
        }
    }

    /// Poisons the database with `err` (the first one is kept), wakes every stalled writer,
    /// and hands the error back.
    pub(crate) fn poison(&self, err: Error) -> Error {
        {
            let mut first = self.first_error.lock();
            if first.is_none() {
                *first = Some(err.to_string());
            }
        }
        self.poisoned.store(true, Ordering::SeqCst);
        self.seqnos.wake_waiters();
        let _guard = self.work.lock();
        self.relief.notify_all();
        err
    }

    /// Asks the workers to look for work.
    pub(crate) fn wake_workers(&self) {
        self.work.lock().dirty = true;
        self.work_cv.notify_all();
    }

    /// The memtable budget of all keyspaces.
    pub(crate) fn write_buffer_budget(&self) -> u64 {
        self.max_write_buffer_size.unwrap_or_else(|| {
            let keyspaces = self.keyspaces.read().len().clamp(1, 4) as u64;
            (64 << 20) * keyspaces
        })
    }

    /// The bytes in every keyspace's memtables.
    pub(crate) fn write_buffer_size(&self) -> u64 {
        self.keyspaces
            .read()
            .values()
            .map(|k| k.tree.memtable_bytes())
            .sum()
    }

    /// The GC watermark: the oldest live snapshot, or what reads see now.
    pub(crate) fn watermark(&self) -> SeqNo {
        let snapshots = self.snapshots.lock();
        let visible = self.seqnos.visible();
        snapshots
            .keys()
            .next()
            .map_or(visible, |oldest| (*oldest).min(visible))
    }

    /// How hard writers are held back now: the first cause that calls for a stop, else the
    /// first that calls for a slowdown.
    pub(crate) fn pressure(&self) -> Pressure {
        let budget = self.write_buffer_budget();
        let buffered = self.write_buffer_size();
        let (l0_runs, sealed) = self
            .keyspaces
            .read()
            .values()
            .map(|k| (k.tree.l0_run_count(), k.tree.sealed_memtable_count()))
            .fold((0, 0), |(a, b), (c, d)| (a.max(c), b.max(d)));
        let wal = self.counters.wal_bytes.load(Ordering::Relaxed);
        let journal = self.max_journaling_size;
        if buffered >= budget {
            Pressure::Stop(Cause::WriteBuffer)
        } else if l0_runs >= L0_STOP_RUNS {
            Pressure::Stop(Cause::L0Runs)
        } else if sealed >= SEALED_STOP {
            Pressure::Stop(Cause::SealedMemtables)
        } else if wal >= journal.saturating_mul(2) {
            Pressure::Stop(Cause::WalSize)
        } else if buffered >= budget / 8 * 7 {
            Pressure::Slow(Cause::WriteBuffer)
        } else if l0_runs >= L0_SLOWDOWN_RUNS {
            Pressure::Slow(Cause::L0Runs)
        } else if sealed >= SEALED_SLOWDOWN {
            Pressure::Slow(Cause::SealedMemtables)
        } else if wal >= journal {
            Pressure::Slow(Cause::WalSize)
        } else {
            Pressure::None
        }
    }

    /// Holds a writer of `bytes` back as the pressure asks: a slowdown sleeps off the debt of
    /// all slowed writers at a rate that falls while the pressure lasts and rises once it is
    /// gone; a stop waits (on a signal from the job that frees it, never a sleep loop) until
    /// the cause is gone (for the write buffer: under half the budget). Counts stalls by cause.
    ///
    /// # Errors
    /// `Poisoned` if the database is poisoned meanwhile (stalled writers wake with it).
    fn throttle(&self, bytes: u64) -> Result<()> {
        let rate = match self.counters.rate.load(Ordering::Relaxed) {
            0 => MAX_RATE,
            rate => rate,
        };
        match self.pressure() {
            Pressure::None => {
                if rate < MAX_RATE {
                    self.counters
                        .rate
                        .store((rate + rate / 4).min(MAX_RATE), Ordering::Relaxed);
                }
                Ok(())
            }
            Pressure::Slow(cause) => {
                let debt = self.counters.debt.fetch_add(bytes, Ordering::Relaxed) + bytes;
                if debt >= DEBT_QUANTUM {
                    let owed = self.counters.debt.swap(0, Ordering::Relaxed);
                    let started = std::time::Instant::now();
                    self.wake_workers();
                    std::thread::sleep(std::time::Duration::from_micros(
                        owed.saturating_mul(1_000_000) / rate.max(1),
                    ));
                    self.counters
                        .rate
                        .store((rate - rate / 5).max(MIN_RATE), Ordering::Relaxed);
                    self.counters.stalled(cause, started);
                }
                Ok(())
            }
            Pressure::Stop(cause) => self.wait_while_stopped(cause),
        }
    }

    /// Waits until `cause` no longer stops writers; see [`DbInner::throttle`].
    fn wait_while_stopped(&self, cause: Cause) -> Result<()> {
        let started = std::time::Instant::now();
        let budget = self.write_buffer_budget();
        let mut work = self.work.lock();
        loop {
            self.check_poison()?;
            let over = match cause {
                Cause::WriteBuffer => self.write_buffer_size() >= budget / 2,
                _ => self.pressure() == Pressure::Stop(cause),
            };
            if !over || work.stop {
                break;
            }
            work.dirty = true;
            self.work_cv.notify_all();
            // NB: the timeout only re-checks; the end of a flush or compaction signals `relief`.
            self.relief
                .wait_for(&mut work, std::time::Duration::from_millis(100));
        }
        drop(work);
        self.counters.stalled(cause, started);
        Ok(())
    }

    /// A snapshot of the counters of every keyspace opened and of the WAL.
    pub(crate) fn stats(&self) -> crate::Statistics {
        let mut stats = crate::Statistics::default();
        let (hits, misses, read) = self.cache.counts();
        stats.cache_hits = hits;
        stats.cache_misses = misses;
        stats.bytes_read = read;
        stats.bytes_read.wal = self.counters.wal_bytes_read.load(Ordering::Relaxed);
        for keyspace in self.keyspaces.read().values() {
            stats.absorb(&keyspace.tree.stats());
        }
        stats.absorb_flushes(&self.counters.settled.lock());
        stats.bytes_written.wal = self.counters.wal_bytes_written.load(Ordering::Relaxed);
        let c = &self.counters;
        let at = |i: usize| {
            (
                c.stalls.get(i).map_or(0, |v| v.load(Ordering::Relaxed)),
                c.stall_micros
                    .get(i)
                    .map_or(0, |v| v.load(Ordering::Relaxed)),
            )
        };
        let s = &mut stats.write_stalls;
        s.write_buffer = at(Cause::WriteBuffer as usize);
        s.l0_runs = at(Cause::L0Runs as usize);
        s.sealed_memtables = at(Cause::SealedMemtables as usize);
        s.wal_size = at(Cause::WalSize as usize);
        s.count = s.write_buffer.0 + s.l0_runs.0 + s.sealed_memtables.0 + s.wal_size.0;
        s.micros = s.write_buffer.1 + s.l0_runs.1 + s.sealed_memtables.1 + s.wal_size.1;
        let segments = self.segments.lock();
        stats.wal_segments = segments.len() as u64;
        stats.wal_bytes = segments
            .iter()
            .map(|seg| seg.written.load(Ordering::Acquire))
            .sum();
        stats
    }

    /// Commits `items` as one batch at one seqno; see the module documentation.
    ///
    /// # Errors
    /// `Poisoned` after an earlier failure; `Io` if the WAL write or sync fails (the database
    /// is then poisoned and the batch is not applied or not acknowledged).
    pub(crate) fn commit(&self, items: &[(u64, Op)], mode: PersistMode) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        self.check_poison()?;
        let synced = mode != PersistMode::Buffer;
        let mut payload = wal::encode_batch(items);
        self.throttle(payload.len() as u64)?;
        let resolved: Vec<Arc<KeyspaceInner>> = {
            let keyspaces = self.keyspaces.read();
            items
                .iter()
                .map(|(id, _)| {
                    keyspaces
                        .get(id)
                        .cloned()
                        .ok_or_else(|| Error::InvalidArgument(format!("keyspace {id} was deleted")))
                })
                .collect::<Result<_>>()?
        };
        let (segment, end, seqno) = {
            let mut wal = self.wal.lock();
            self.check_poison()?;
            self.maybe_roll(&mut wal)?;
            let seqno = self.seqnos.begin();
            wal::set_seqno(&mut payload, seqno);
            let framed = match wal::frame(&payload) {
                Ok(framed) => framed,
                Err(err) => {
                    // Nothing was written: the seqno goes unused.
                    self.seqnos.publish(seqno);
                    return Err(err);
                }
            };
            let end = match wal::append(&mut wal.current, &framed, seqno) {
                Ok(end) => end,
                Err(err) => {
                    // NB: the seqno stays in flight: nothing at or above it becomes visible.
                    return Err(self.poison(err));
                }
            };
            self.counters
                .wal_bytes_written
                .fetch_add(framed.len() as u64, Ordering::Relaxed);
            self.counters
                .wal_bytes
                .fetch_add(framed.len() as u64, Ordering::Relaxed);
            for ((_, op), keyspace) in items.iter().zip(&resolved) {
                keyspace::apply(&keyspace.tree, op, seqno);
            }
            if synced {
                self.seqnos.hold(seqno);
            }
            self.seqnos.publish(seqno);
            (Arc::clone(&wal.current.segment), end, seqno)
        };
        if synced {
            // NB: a failed sync poisons, and the hold is never released: the batch, which may
            // be lost, is never seen.
            self.sync_through(&segment, end)?;
            self.seqnos.release(seqno);
        }
        // NB: a batch behind a held one becomes visible with it; it returns only then, so that
        // its writer reads what it wrote.
        if !self.seqnos.wait_visible(seqno, &self.poisoned) {
            return Err(Error::Poisoned);
        }
        if resolved
            .iter()
            .any(|k| k.tree.active_memtable().size() >= k.max_memtable_size)
        {
            self.wake_workers();
        }
        Ok(())
    }

    /// Rolls to the next segment once the current one is full (under the commit lock): the
    /// spare a worker created, or a new one.
    fn maybe_roll(&self, wal: &mut WalState) -> Result<()> {
        if wal.current.segment.written.load(Ordering::Acquire) < self.segment_target_size {
            return Ok(());
        }
        let next_id = wal.current.segment.id + 1;
        // NB: segment files are created only under the spare's lock, and the newest segment
        // changes only under it: the worker creating a spare and a roll creating its own never
        // create the same file, nor the worker one for a segment already rolled past.
        let mut slot = self.spare.lock();
        let spare = match slot.take().filter(|s| s.id == next_id) {
            Some(spare) => spare,
            // NB: no spare ready (the workers are behind): created here, under the lock.
            None => wal::create_spare(
                self.fs.as_ref(),
                &self.wal_dir,
                next_id,
                self.segment_target_size,
            )
            .map_err(|e| self.poison(e))?,
        };
        let previous_end = wal.current.segment.written.load(Ordering::Acquire);
        let next = wal::start_segment(spare, previous_end).map_err(|e| self.poison(e))?;
        self.counters.wal_bytes.fetch_add(
            next.segment.written.load(Ordering::Acquire),
            Ordering::Relaxed,
        );
        self.segments.lock().push(Arc::clone(&next.segment));
        drop(slot);
        wal.current = next;
        self.wake_workers();
        Ok(())
    }

    /// Makes every write up to `end` of `segment` durable, and every segment before it.
    ///
    /// # Errors
    /// `Io` if a sync fails: the database is poisoned and the error returned.
    pub(crate) fn sync_through(&self, segment: &Arc<Segment>, end: u64) -> Result<()> {
        let earlier: Vec<Arc<Segment>> = self
            .segments
            .lock()
            .iter()
            .filter(|s| s.id < segment.id && !s.is_synced())
            .cloned()
            .collect();
        for older in earlier {
            older
                .sync_upto(older.written.load(Ordering::Acquire))
                .map_err(|e| self.poison(e))?;
        }
        segment.sync_upto(end).map_err(|e| self.poison(e))
    }

    /// Syncs everything written so far.
    pub(crate) fn persist(&self, mode: PersistMode) -> Result<()> {
        self.check_poison()?;
        if mode == PersistMode::Buffer {
            return Ok(());
        }
        let current = Arc::clone(&self.wal.lock().current.segment);
        let end = current.written.load(Ordering::Acquire);
        self.sync_through(&current, end)
    }

    /// Runs `step` as a barrier of the write pipeline: no batch is between its seqno and its
    /// publication meanwhile, and every batch logged before it is synced first (a structural
    /// step is durable at once, so a power loss must not keep it and lose a write before it).
    /// A failed step (a manifest or catalog write) poisons the database: whether it took effect
    /// is unknown until a reopen, so nothing may be acknowledged after it.
    pub(crate) fn barrier<R>(&self, step: impl FnOnce() -> Result<R>) -> Result<R> {
        let (result, end) = {
            let wal = self.wal.lock();
            self.check_poison()?;
            let current = Arc::clone(&wal.current.segment);
            self.sync_through(&current, current.written.load(Ordering::Acquire))?;
            let result = step().map_err(|e| self.poison(e));
            // NB: a structural step took seqnos from the counter; with no writer in flight they
            // are published whole, once no synced batch before them is held.
            let end = self.seqnos.next.get();
            self.seqnos.raise_visible(end);
            (result, end)
        };
        if let Some(last) = end.checked_sub(1)
            && result.is_ok()
            && !self.seqnos.wait_visible(last, &self.poisoned)
        {
            return Err(Error::Poisoned);
        }
        result
    }
}

impl Database {
    /// A builder for the database in `path`.
    pub fn builder(path: impl AsRef<Path>) -> DatabaseBuilder {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        DatabaseBuilder {
            path: path.as_ref().to_path_buf(),
            cache_size: 32 << 20,
            worker_threads: cores.clamp(1, 4),
            max_journaling_size: 512 << 20,
            max_write_buffer_size: None,
            max_cached_files: None,
            temporary: false,
            manual_journal_persist: false,
            fs: None,
            segment_target_size: SEGMENT_TARGET_SIZE,
        }
    }

    fn open(builder: &DatabaseBuilder) -> Result<Self> {
        let fs: Arc<dyn Fs> = builder.fs.clone().unwrap_or_else(|| Arc::new(StdFs));
        let path = builder.path.clone();
        fs.create_dir(&path)
            .map_err(|e| Error::io("create directory", Some(path.clone()), e))?;
        let lock_path = path.join("LOCK");
        let lock = match fs.lock(&lock_path) {
            Ok(lock) => lock,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(Error::Locked);
            }
            Err(e) => return Err(Error::io("lock", Some(lock_path), e)),
        };
        check_version(fs.as_ref(), &path)?;
        let wal_dir = path.join(WAL_FOLDER);
        let keyspaces_dir = path.join(KEYSPACES_FOLDER);
        for dir in [&wal_dir, &keyspaces_dir] {
            fs.create_dir(dir)
                .map_err(|e| Error::io("create directory", Some(dir.clone()), e))?;
        }
        sync_parents(fs.as_ref(), &path)?;
        let catalog = Catalog::read(fs.as_ref(), &path)?;
        let inner = Arc::new(DbInner {
            cache: Arc::new(Cache::with_capacity_bytes(builder.cache_size)),
            descriptors: Some(Arc::new(DescriptorTable::new(
                builder.max_cached_files.unwrap_or(512),
            ))),
            seqnos: Seqnos::new(),
            // NB: replaced by the first new segment below, before any write.
            wal: Mutex::new(WalState {
                current: placeholder_segment(),
            }),
            segments: Mutex::new(Vec::new()),
            spare: Mutex::new(None),
            wal_dir,
            segment_target_size: builder.segment_target_size,
            keyspaces: RwLock::new(BTreeMap::new()),
            deferred: Mutex::new(BTreeMap::new()),
            catalog: Mutex::new(catalog.clone()),
            poisoned: AtomicBool::new(false),
            first_error: Mutex::new(None),
            snapshots: Mutex::new(BTreeMap::new()),
            work: Mutex::new(WorkState::default()),
            work_cv: Condvar::new(),
            relief: Condvar::new(),
            max_journaling_size: builder.max_journaling_size,
            max_write_buffer_size: builder.max_write_buffer_size,
            temporary: builder.temporary,
            counters: DbCounters::default(),
            path,
            fs,
            _lock: lock,
        });
        remove_orphan_keyspaces(&inner, &catalog)?;
        recover(&inner)?;
        let handle = Arc::new(DbHandle {
            inner: Arc::clone(&inner),
            workers: Mutex::new(Vec::new()),
        });
        for index in 0..builder.worker_threads {
            let worker_inner = Arc::clone(&inner);
            let thread = std::thread::Builder::new()
                .name(format!("strata-db-{index}"))
                .spawn(move || worker::run(&worker_inner))
                .map_err(|e| Error::io("spawn worker", None, e))?;
            handle.workers.lock().push(thread);
        }
        inner.wake_workers();
        Ok(Self(handle))
    }

    /// Opens the keyspace `name`, creating it with `create_options()` if it does not exist. The
    /// options are persisted at creation (its memtable size and key-value separation) and those
    /// ignored later; the settings that cannot be persisted (merge operator, comparator, prefix
    /// extractor, compaction filter, strategy, block policies) are taken from `create_options()`
    /// at every open, so pass the same ones.
    ///
    /// A keyspace with a custom comparator whose writes were still in the WAL when the database
    /// opened takes them at this first open (from its pending log, where the database's open
    /// kept them), flushes them to a table, and then deletes the pending log.
    ///
    /// On a poisoned database an existing keyspace still opens, for reading (its writes return
    /// `Poisoned`); a new one is not created.
    ///
    /// # Errors
    /// `Poisoned` to create a keyspace after a failure; `InvalidArgument` for an empty name or
    /// one longer than 255 bytes; `Io` if the keyspace cannot be created; errors of opening its
    /// tree.
    pub fn keyspace(
        &self,
        name: &str,
        create_options: impl FnOnce() -> KeyspaceCreateOptions,
    ) -> Result<Keyspace> {
        keyspace::open_or_create(&self.0.inner, name, create_options)
    }

    /// Deletes `keyspace` and its data, durably (a crash never brings it back).
    ///
    /// # Errors
    /// `Poisoned`; `Io` if the catalog cannot be written.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "fjall's signature: the handle is given up"
    )]
    pub fn delete_keyspace(&self, keyspace: Keyspace) -> Result<()> {
        keyspace::delete(&self.0.inner, &keyspace)
    }

    /// Whether the keyspace `name` exists.
    pub fn keyspace_exists(&self, name: &str) -> bool {
        self.0.inner.catalog.lock().id_of(name).is_some()
    }

    /// The number of keyspaces.
    pub fn keyspace_count(&self) -> usize {
        self.0.inner.catalog.lock().entries.len()
    }

    /// The keyspaces' names, in creation order.
    pub fn list_keyspace_names(&self) -> Vec<String> {
        self.0
            .inner
            .catalog
            .lock()
            .entries
            .values()
            .map(|e| e.name.clone())
            .collect()
    }

    /// A new batch: writes to any keyspaces, committed atomically at one seqno.
    pub fn batch(&self) -> WriteBatch {
        WriteBatch::new(Arc::clone(&self.0.inner))
    }

    /// A stable view of every keyspace, until dropped; see [`Readable`].
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(Arc::clone(&self.0.inner))
    }

    /// Makes every write acknowledged so far durable with `mode` (`Buffer` does nothing more:
    /// writes reach the operating system before they return).
    ///
    /// # Errors
    /// `Poisoned`; `Io` if the sync fails (the database is then poisoned).
    pub fn persist(&self, mode: PersistMode) -> Result<()> {
        self.0.inner.persist(mode)
    }

    /// Whether a failed write, sync or background job poisoned the database (writes then return
    /// `Error::Poisoned`; reads go on; reopen to recover).
    pub fn is_poisoned(&self) -> bool {
        self.0.inner.poisoned.load(Ordering::Acquire)
    }

    /// The first error that poisoned the database, as text.
    pub fn background_error(&self) -> Option<String> {
        self.0.inner.first_error.lock().clone()
    }

    /// The bytes of every keyspace's files and of the WAL.
    pub fn disk_space(&self) -> u64 {
        let trees: u64 = self
            .0
            .inner
            .keyspaces
            .read()
            .values()
            .map(|k| k.tree.disk_space())
            .sum();
        let wal: u64 = self
            .0
            .inner
            .segments
            .lock()
            .iter()
            .map(|s| s.written.load(Ordering::Acquire))
            .sum();
        trees + wal
    }

    /// The number of live WAL segments.
    pub fn journal_count(&self) -> usize {
        self.0.inner.segments.lock().len()
    }

    /// The bytes in every keyspace's memtables.
    pub fn write_buffer_size(&self) -> u64 {
        self.0.inner.write_buffer_size()
    }

    /// How many times writers were slowed down or stopped, and for how long in all
    /// (microseconds); [`Database::stats`] has them by cause.
    pub fn write_stalls(&self) -> (u64, u64) {
        let stalls = self.0.inner.stats().write_stalls;
        (stalls.count, stalls.micros)
    }

    /// A snapshot of the database's counters, its keyspaces' summed; see
    /// [`Statistics`](crate::Statistics).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let db = strata::Database::builder(dir.path()).open()?;
    /// let items = db.keyspace("items", strata::KeyspaceCreateOptions::default)?;
    /// items.insert("k", "v")?;
    /// let stats = db.stats();
    /// assert!(stats.bytes_written.wal > 0);
    /// assert!(stats.wal_segments >= 1);
    /// assert!(stats.memtable_bytes > 0);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn stats(&self) -> crate::Statistics {
        self.0.inner.stats()
    }

    /// The seqno plain reads see now.
    pub fn visible_seqno(&self) -> SeqNo {
        self.0.inner.seqnos.visible()
    }
}

/// Whether the folder `path` has its `VERSION` marker (`false`: not yet written).
///
/// # Errors
/// `Io` if it cannot be read; `UnsupportedFormat` if it holds anything but this version's text.
pub(crate) fn has_version_marker(fs: &dyn Fs, path: &Path) -> Result<bool> {
    let file = path.join(VERSION_FILE);
    if !fs
        .exists(&file)
        .map_err(|e| Error::io("stat", Some(file.clone()), e))?
    {
        return Ok(false);
    }
    let handle = fs
        .open(&file)
        .map_err(|e| Error::io("open", Some(file.clone()), e))?;
    let mut bytes = vec![0u8; VERSION_TEXT.len()];
    let size = handle
        .size_bytes()
        .map_err(|e| Error::io("stat", Some(file.clone()), e))?;
    if size == VERSION_TEXT.len() as u64 {
        // NB: a failed read is an I/O error, not a sign of another format.
        handle
            .read_exact_at(&mut bytes, 0)
            .map_err(|e| Error::io("read", Some(file.clone()), e))?;
    }
    if size != VERSION_TEXT.len() as u64 || bytes != VERSION_TEXT {
        return Err(Error::UnsupportedFormat {
            file,
            version: 0,
            missing: None,
        });
    }
    Ok(true)
}

/// Checks (or writes, in a new folder) the `VERSION` marker.
fn check_version(fs: &dyn Fs, path: &Path) -> Result<()> {
    if has_version_marker(fs, path)? {
        return Ok(());
    }
    let file = path.join(VERSION_FILE);
    let tmp = path.join("VERSION.tmp");
    let mut handle = fs
        .create(&tmp)
        .map_err(|e| Error::io("create", Some(tmp.clone()), e))?;
    handle
        .append(VERSION_TEXT)
        .and_then(|()| handle.sync())
        .map_err(|e| Error::io("write", Some(tmp.clone()), e))?;
    drop(handle);
    fs.rename(&tmp, &file)
        .map_err(|e| Error::io("rename", Some(file.clone()), e))?;
    fs.sync_dir(path)
        .map_err(|e| Error::io("fsync directory", Some(path.to_path_buf()), e))
}

/// Syncs `path` and its parent, so that the folder's entries survive a crash.
fn sync_parents(fs: &dyn Fs, path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    for dir in [parent, path] {
        fs.sync_dir(dir)
            .map_err(|e| Error::io("fsync directory", Some(dir.to_path_buf()), e))?;
    }
    Ok(())
}

/// A segment handle that is never written: the commit lock needs a value before recovery has
/// opened the first real segment. It names no file.
fn placeholder_segment() -> OpenSegment {
    OpenSegment {
        segment: Arc::new(Segment::placeholder()),
        file: Box::new(wal::NullFile),
    }
}

/// Deletes the folders of keyspaces the catalog does not name (a crash during a create or a
/// delete left them).
fn remove_orphan_keyspaces(inner: &DbInner, catalog: &Catalog) -> Result<()> {
    let dir = inner.path.join(KEYSPACES_FOLDER);
    let entries = inner
        .fs
        .list(&dir)
        .map_err(|e| Error::io("list directory", Some(dir.clone()), e))?;
    for entry in entries {
        let id = entry
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u64>().ok());
        if id.is_some_and(|id| !catalog.entries.contains_key(&id)) {
            remove_tree(inner.fs.as_ref(), &entry);
        }
    }
    Ok(())
}

/// Removes the files and folders under `dir`, and `dir` itself (best effort).
pub(crate) fn remove_tree(fs: &dyn Fs, dir: &Path) {
    if let Ok(entries) = fs.list(dir) {
        for entry in entries {
            if fs.remove(&entry).is_err() {
                remove_tree(fs, &entry);
            }
        }
    }
    // NB: best effort; a folder left behind is an orphan the next open removes again.
    let _ = fs.remove_dir(dir);
}

/// What recovery reads of a keyspace's manifest.
struct ManifestSeqnos {
    /// The highest seqno of any table.
    stored: Option<SeqNo>,
    /// The durable-through seqno (tag 7).
    durable: Option<SeqNo>,
    /// Whether the manifest names the default comparator, so that the keyspace can be opened
    /// without its user's options (see [`settle_unopened`]).
    default_comparator: bool,
}

/// The highest seqno, the durable-through seqno and the comparator that the manifest of the tree
/// in `dir` records (without opening its tables).
fn manifest_seqnos(fs: &dyn Fs, dir: &Path) -> Result<ManifestSeqnos> {
    let Some(current) = crate::version::manifest::read_current(fs, dir)? else {
        return Ok(ManifestSeqnos {
            stored: None,
            durable: None,
            default_comparator: false,
        });
    };
    let path = dir.join(current);
    let records = crate::version::manifest::read_manifest_records(fs, &path)?;
    let replayed = crate::version::recovery::replay_scalars(
        records.edits.into_iter().map(|(_, edit)| edit).collect(),
        &path,
    )?;
    Ok(ManifestSeqnos {
        stored: replayed.highest_seqno,
        durable: replayed.durable_through,
        default_comparator: replayed.comparator.as_deref().is_some_and(|name| {
            crate::key::comparator_names_match(name, crate::key::DEFAULT_COMPARATOR_NAME)
        }),
    })
}

/// The logged items of a keyspace not opened yet in this session.
#[derive(Debug, Default)]
pub(crate) struct Deferred {
    /// In seqno order; the items of one batch share a seqno, in their batch order.
    pub(crate) items: Vec<(SeqNo, Op)>,
    /// Whether the keyspace's pending log (`pending::write`) holds all of `items`, durably: they
    /// then pin no WAL segment.
    pub(crate) in_pending_log: bool,
    /// Whether the keyspace has a pending log file, to delete once a table holds the items.
    pub(crate) pending_file: bool,
}

/// Reads the WAL and the pending logs, sets the seqnos past everything logged or stored, keeps
/// each keyspace's logged items for its first open, and starts a new segment; see the module
/// documentation.
fn recover(inner: &Arc<DbInner>) -> Result<()> {
    let fs = inner.fs.as_ref();
    let contents = wal::read_segments(fs, &inner.wal_dir)?;
    // NB: segments whose writes cannot be part of a prefix (never synced, after a lost tail)
    // go before anything new is logged: newest first, each removal durable before the next, so
    // that a crash meanwhile leaves contiguous ids (the directory may keep any subset of
    // removals it was not told to sync).
    for path in &contents.discarded {
        fs.remove(path)
            .map_err(|e| Error::io("remove wal segment", Some(path.clone()), e))?;
        fs.sync_dir(&inner.wal_dir)
            .map_err(|e| Error::io("fsync directory", Some(inner.wal_dir.clone()), e))?;
    }
    let segments = contents.segments;
    let last_seqno = contents.last_seqno;
    let catalog = inner.catalog.lock().clone();
    let pending_dir = inner.path.join(pending::PENDING_FOLDER);
    let mut bytes_read = contents.bytes_read;
    let keyspace_ids = catalog.entries.keys().copied().collect();
    let pending_logs = pending::read_all(fs, &pending_dir, &keyspace_ids, &mut bytes_read)?;
    inner
        .counters
        .wal_bytes_read
        .store(bytes_read, Ordering::Relaxed);
    let mut highest = last_seqno;
    for items in pending_logs.values() {
        highest = highest.max(items.last().map(|(seqno, _)| *seqno));
    }
    let mut floors = BTreeMap::new();
    let mut settleable = std::collections::BTreeSet::new();
    for (id, entry) in &catalog.entries {
        let dir = inner.path.join(KEYSPACES_FOLDER).join(id.to_string());
        let seqnos = manifest_seqnos(fs, &dir)?;
        // NB: the next write must be at or above the durable-through seqno, which replay skips
        // every logged write below (a `clear` records the write counter there, possibly above
        // every seqno still stored anywhere).
        highest = highest
            .max(seqnos.stored)
            .max(seqnos.durable.map(|d| d.saturating_sub(1)));
        floors.insert(*id, seqnos.durable.unwrap_or(0));
        // NB: and nothing it writes needs the application's dictionary or encryption provider:
        // a flush without them would fail, or write in the clear.
        if seqnos.default_comparator && entry.settles_without_options() {
            settleable.insert(*id);
        }
    }
    let next = highest.map_or(0, |h| h.saturating_add(1));
    inner.seqnos.next.fetch_max(next);
    inner.seqnos.raise_visible(next);
    let deferred = collect_deferred(fs, &pending_dir, pending_logs, &floors, &segments)?;
    // NB: a killed process leaves the segments' tails in the page cache only; they are made
    // durable before anything logged after them is (a sync writes nothing new).
    for segment in &segments {
        let mut handle = fs
            .open_append(&segment.path)
            .map_err(|e| Error::io("open wal segment", Some(segment.path.clone()), e))?;
        handle
            .sync()
            .map_err(|e| Error::io("fsync wal segment", Some(segment.path.clone()), e))?;
    }
    let previous_end = segments.last().map_or(wal::NO_PREVIOUS_END, |s| s.end);
    let first_id = match segments.last() {
        Some(last) => last.id.checked_add(1).ok_or_else(|| Error::Corruption {
            file: last.path.clone(),
            offset: 0,
            what: CorruptionKind::InvalidField("wal segment id"),
        })?,
        None => 1,
    };
    let mut live: Vec<Arc<Segment>> = segments
        .iter()
        .map(|s| {
            // NB: its good records' end, not the file's length: a preallocated segment's zero
            // tail is no data (and must not count toward `max_journaling_size`).
            Arc::new(Segment::recovered(
                s.id,
                s.path.clone(),
                s.end,
                s.batches.last().map(|b| b.seqno),
            ))
        })
        .collect();
    let first = wal::create_segment(
        fs,
        &inner.wal_dir,
        first_id,
        previous_end,
        inner.segment_target_size,
    )?;
    if deferred.values().all(|d| d.in_pending_log) && !live.is_empty() {
        // NB: every logged write is in a table already: the old segments hold nothing needed.
        // Oldest first, each removal durable before the next, as the workers release them: a
        // crash meanwhile leaves contiguous ids (the directory may keep any subset of removals
        // it was not told to sync, and a gap is corruption to the next recovery).
        for segment in &live {
            fs.remove(&segment.path)
                .map_err(|e| Error::io("remove wal segment", Some(segment.path.clone()), e))?;
            fs.sync_dir(&inner.wal_dir)
                .map_err(|e| Error::io("fsync directory", Some(inner.wal_dir.clone()), e))?;
        }
        live.clear();
    }
    live.push(Arc::clone(&first.segment));
    inner.counters.wal_bytes.store(
        live.iter().map(|s| s.written.load(Ordering::Acquire)).sum(),
        Ordering::Relaxed,
    );
    *inner.segments.lock() = live;
    inner.wal.lock().current = first;
    *inner.deferred.lock() = deferred;
    settle_unopened(inner, &settleable)?;
    // NB: what is left needs the application's comparator: copied to pending logs, durably,
    // before the workers start, so that it pins no segment (fjall #288 with a custom comparator).
    let mut deferred = inner.deferred.lock();
    for (id, entry) in deferred.iter_mut().filter(|(_, d)| !d.in_pending_log) {
        pending::write(fs, &pending_dir, *id, &entry.items)?;
        entry.in_pending_log = true;
        entry.pending_file = true;
    }
    Ok(())
}

/// Each keyspace's items to replay at its first open: its pending log's (at or above its floor,
/// the durable-through seqno), plus the WAL's at seqnos the log does not hold. A pending log with
/// nothing left above the floor is deleted.
fn collect_deferred(
    fs: &dyn Fs,
    pending_dir: &Path,
    pending_logs: BTreeMap<u64, Vec<(SeqNo, Op)>>,
    floors: &BTreeMap<u64, SeqNo>,
    segments: &[wal::ReadSegment],
) -> Result<BTreeMap<u64, Deferred>> {
    let mut deferred: BTreeMap<u64, Deferred> = BTreeMap::new();
    let mut in_pending_logs: BTreeMap<u64, std::collections::BTreeSet<SeqNo>> = BTreeMap::new();
    for (id, items) in pending_logs {
        let floor = floors.get(&id).copied().unwrap_or(0);
        let items: Vec<(SeqNo, Op)> = items.into_iter().filter(|(s, _)| *s >= floor).collect();
        if items.is_empty() {
            // NB: its keyspace flushed everything it holds (a crash came before its removal).
            pending::remove(fs, pending_dir, id)?;
            continue;
        }
        in_pending_logs.insert(id, items.iter().map(|(seqno, _)| *seqno).collect());
        deferred.insert(
            id,
            Deferred {
                items,
                in_pending_log: true,
                pending_file: true,
            },
        );
    }
    for segment in segments {
        for batch in &segment.batches {
            for (id, op) in &batch.items {
                let logged = in_pending_logs
                    .get(id)
                    .is_some_and(|seqnos| seqnos.contains(&batch.seqno));
                if !logged && floors.get(id).is_some_and(|floor| batch.seqno >= *floor) {
                    let entry = deferred.entry(*id).or_default();
                    entry.items.push((batch.seqno, op.clone()));
                    entry.in_pending_log = false;
                }
            }
        }
    }
    for entry in deferred.values_mut() {
        // NB: stable, so the items of a batch keep their order.
        entry.items.sort_by_key(|(seqno, _)| *seqno);
    }
    Ok(deferred)
}

/// Writes the logged items of keyspaces not open yet to their tables, so that a keyspace the
/// application does not open in this session does not pin the WAL segments holding them for the
/// whole session (fjall #288 in its recovery form).
///
/// Only a keyspace that can be opened without its user's options is settled here: its manifest
/// names the default comparator (a custom one orders the memtable, and only the application has
/// it), its catalog entry records its options (not one of a version-1 catalog, whose options
/// came from each open), and nothing it writes needs a zstd dictionary or an encryption provider
/// (`catalog::Entry::settles_without_options`). Merge operands are settled too: the merge
/// operator is not persisted either, so their flush runs with a GC threshold of 0, which merges
/// nothing and drops no version, and leaves the operands and their bases to the first compaction
/// that has the operator. The tree is opened with the persisted options (every data option of
/// `KeyspaceCreateOptions`) and defaults for the code ones (comparator, merge operator, ...),
/// the items are applied through [`keyspace::apply`] and flushed, and the tree is closed again:
/// the application's first open then finds them in a table, with its own options. Every other
/// keyspace keeps its items until its first open ([`keyspace::open_or_create`]), in its pending
/// log ([`pending`]) so that they pin no segment meanwhile.
fn settle_unopened(
    inner: &Arc<DbInner>,
    settleable: &std::collections::BTreeSet<u64>,
) -> Result<()> {
    // NB: under the catalog lock, which a keyspace's open takes first: no open of the same
    // keyspace runs meanwhile (the workers are not started yet either).
    let catalog = inner.catalog.lock();
    let ids: Vec<u64> = inner
        .deferred
        .lock()
        .iter()
        .filter(|(id, _)| settleable.contains(id))
        .map(|(id, _)| *id)
        .collect();
    for id in ids {
        let Some(entry) = catalog.entries.get(&id) else {
            continue;
        };
        let keyspace = KeyspaceInner::open(inner, id, entry, None)?;
        let floor = keyspace.tree.durable_through_seqno().unwrap_or(0);
        let Deferred {
            items,
            pending_file,
            ..
        } = inner.deferred.lock().remove(&id).unwrap_or_default();
        // NB: the merge operator is not persisted, so a flush here cannot merge operands; with
        // a GC threshold of 0 it drops no version either, so the bases beneath the operands stay
        // for the first compaction that has the operator.
        let merges = items.iter().any(|(_, op)| matches!(op, Op::Merge(..)));
        let threshold = if merges { 0 } else { inner.watermark() };
        if keyspace::replay(&keyspace.tree, items, floor) {
            keyspace.tree.flush_active_memtable(threshold)?;
            inner
                .counters
                .settled
                .lock()
                .absorb_flushes(&keyspace.tree.stats());
        }
        if pending_file {
            // NB: only after the flush: a table holds the items now.
            let dir = inner.path.join(pending::PENDING_FOLDER);
            pending::remove(inner.fs.as_ref(), &dir, id)?;
        }
    }
    Ok(())
}
