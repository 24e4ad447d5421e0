//! The background workers: flushes, compactions, the spare WAL segment, and WAL release.
//!
//! Each worker loops: wait until woken (a memtable filled, a writer stalled, a segment rolled) or
//! a tick passes, then do one round:
//! 1. create the next WAL segment ahead of time if none is ready (off the commit lock);
//! 2. flush every keyspace whose active memtable reached its size, or that has sealed
//!    memtables; while the memtables together exceed 7/8 of the write-buffer budget, flush the
//!    largest; flush every keyspace whose memtable data was all logged before the last two
//!    segments (an idle keyspace pins at most two segments behind the current one); while the
//!    WAL exceeds `max_journaling_size`, flush the keyspaces that pin its oldest segment (a pin
//!    implies data to flush, so this always progresses);
//! 3. delete the WAL segments every keyspace has flushed past: a segment goes once no memtable
//!    (and no keyspace not yet reopened) holds a seqno it logged, so an idle keyspace, whose
//!    memtables are empty, pins nothing;
//! 4. run each keyspace's compaction strategy until it has nothing to do (a bounded number of
//!    steps per round, so flushes are never starved), with the GC watermark of the oldest live
//!    snapshot;
//! 5. wake the writers waiting for memory.
//!
//! A failed job poisons the database (writes then fail with `Poisoned`; reads go on) and the
//! worker keeps running: it never exits on an error, and the first error is kept for
//! `Database::background_error`. A panic in a job is caught and treated the same way.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::keyspace::KeyspaceInner;
use super::wal;
use super::{DbInner, PersistMode};
use crate::compaction::CompactionAction;
use crate::error::{Error, Result};

/// How long a worker sleeps when nothing woke it.
const TICK: Duration = Duration::from_millis(200);
/// Compaction steps per keyspace per round.
const COMPACTION_STEPS: usize = 8;
/// How many segments before the current one an idle keyspace may pin (see [`flush_idle`]).
const IDLE_SEGMENTS: usize = 2;

/// A worker's loop; returns when the database stops.
pub(crate) fn run(db: &Arc<DbInner>) {
    loop {
        {
            let mut work = db.work.lock();
            if work.stop {
                return;
            }
            if !work.dirty {
                db.work_cv.wait_for(&mut work, TICK);
            }
            if work.stop {
                return;
            }
            work.dirty = false;
        }
        if db.poisoned.load(Ordering::Acquire) {
            let _guard = db.work.lock();
            db.relief.notify_all();
            continue;
        }
        let round = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| round(db)));
        match round {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                let _ = db.poison(err);
            }
            Err(_) => {
                let _ = db.poison(Error::io(
                    "background job",
                    None,
                    std::io::Error::other("a background job panicked"),
                ));
            }
        }
        let _guard = db.work.lock();
        db.relief.notify_all();
    }
}

/// One round of work; see the module documentation.
fn round(db: &Arc<DbInner>) -> Result<()> {
    ensure_spare(db)?;
    flush_what_is_due(db)?;
    release_segments(db)?;
    compact(db)?;
    #[cfg(feature = "metrics")]
    db.stats().publish(&db.path.display().to_string());
    Ok(())
}

/// Creates the next segment if none is ready.
fn ensure_spare(db: &DbInner) -> Result<()> {
    let mut spare = db.spare.lock();
    // NB: read under the spare's lock, which every roll holds until its segment is the newest
    // in the list: the id cannot be stale (a spare for a segment rolled past, perhaps released
    // already, would be an empty file in the middle of the log).
    let Some(next_id) = db.segments.lock().last().map(|s| s.id + 1) else {
        return Ok(());
    };
    if spare.as_ref().is_some_and(|s| s.id == next_id) {
        return Ok(());
    }
    let exists = db
        .fs
        .exists(&wal::segment_path(&db.wal_dir, next_id))
        .map_err(|e| Error::io("stat", Some(db.wal_dir.clone()), e))?;
    if !exists {
        *spare = Some(wal::create_spare(
            db.fs.as_ref(),
            &db.wal_dir,
            next_id,
            db.segment_target_size,
        )?);
    }
    Ok(())
}

/// Seals and flushes `keyspace`'s memtables.
fn flush(db: &DbInner, keyspace: &KeyspaceInner) -> Result<()> {
    keyspace.tree.rotate_memtable();
    // NB: the flush makes the sealed memtables durable outside the WAL. Every batch they hold
    // was logged before it was applied, and other keyspaces' batches before and beside it (the
    // other half of a batch, an earlier write) may still be in the WAL only: sync it first, or a
    // power loss could keep this keyspace's writes and lose those (a hole, a torn batch).
    db.persist(PersistMode::SyncData)?;
    let lock = keyspace.tree.get_flush_lock();
    unless_deleted(
        keyspace,
        keyspace.tree.flush(&lock, db.watermark()).map(|_| ()),
    )?;
    drop(lock);
    let _guard = db.work.lock();
    db.relief.notify_all();
    Ok(())
}

/// Flushes the memtables that are due; see the module documentation.
fn flush_what_is_due(db: &DbInner) -> Result<()> {
    let keyspaces: Vec<Arc<KeyspaceInner>> = db.keyspaces.read().values().cloned().collect();
    for keyspace in &keyspaces {
        if keyspace.tree.active_memtable().size() >= keyspace.max_memtable_size
            || keyspace.tree.sealed_memtable_count() > 0
        {
            flush(db, keyspace)?;
        }
    }
    let budget = db.write_buffer_budget();
    for _ in 0..keyspaces.len() {
        if db.write_buffer_size() < budget / 8 * 7 {
            break;
        }
        let Some(largest) = keyspaces.iter().max_by_key(|k| k.tree.memtable_bytes()) else {
            break;
        };
        if largest.tree.memtable_bytes() == 0 {
            break;
        }
        flush(db, largest)?;
    }
    flush_idle(db, &keyspaces)?;
    if db.counters.wal_bytes.load(Ordering::Relaxed) > db.max_journaling_size {
        let oldest = db.segments.lock().first().cloned();
        if let Some(oldest) = oldest {
            let bound = oldest.max_seqno.load(Ordering::Acquire);
            force_flushes(db, &keyspaces, |k| {
                k.tree.lowest_memtable_seqno().is_some_and(|l| l <= bound)
            })?;
        }
    }
    Ok(())
}

/// Flushes (counted as forced) each keyspace `pins` holds for.
fn force_flushes(
    db: &DbInner,
    keyspaces: &[Arc<KeyspaceInner>],
    pins: impl Fn(&KeyspaceInner) -> bool,
) -> Result<()> {
    for keyspace in keyspaces.iter().filter(|k| pins(k)) {
        db.counters.forced_flushes.fetch_add(1, Ordering::Relaxed);
        flush(db, keyspace)?;
    }
    Ok(())
}

/// Flushes the keyspaces that pin a WAL segment without writing: those whose memtables hold
/// data, all of it logged before the last [`IDLE_SEGMENTS`] segments (an idle keyspace then
/// pins at most that many segments behind the current one, however large its memtable may
/// grow). A keyspace still writing is left to its memtable size, the budget and
/// `max_journaling_size`.
fn flush_idle(db: &DbInner, keyspaces: &[Arc<KeyspaceInner>]) -> Result<()> {
    let bound = {
        let segments = db.segments.lock();
        let Some(at) = segments.len().checked_sub(IDLE_SEGMENTS + 1) else {
            return Ok(());
        };
        match segments.get(at) {
            Some(segment) => segment.max_seqno.load(Ordering::Acquire),
            None => return Ok(()),
        }
    };
    force_flushes(db, keyspaces, |k| {
        k.tree
            .get_highest_memtable_seqno()
            .is_some_and(|h| h <= bound)
    })
}

/// Deletes the segments nothing pins any more, oldest first; see the module documentation.
pub(crate) fn release_segments(db: &DbInner) -> Result<()> {
    // NB: the deferred items are read under their lock, which a keyspace's first open holds
    // until its memtable has them, so no item is ever unpinned in between.
    let deferred = db.deferred.lock();
    // NB: the current segment first, the pins after. Every batch of a segment older than it was
    // applied to a memtable before the roll to it (under the commit lock), so the pins read
    // after cover every such batch not flushed yet. Read the other way round, writes and rolls
    // in between made segments whose batches no pin covered look released.
    let current = db.wal.lock().current.segment.id;
    let mut pin = deferred
        .values()
        .filter(|d| !d.in_pending_log)
        .flat_map(|d| d.items.iter().map(|(seqno, _)| *seqno))
        .min();
    for keyspace in db.keyspaces.read().values() {
        if let Some(lowest) = keyspace.tree.lowest_memtable_seqno() {
            pin = Some(pin.map_or(lowest, |p| p.min(lowest)));
        }
    }
    loop {
        let first = {
            let segments = db.segments.lock();
            let Some(first) = segments.first() else {
                break;
            };
            let unpinned = !first.has_batches.load(Ordering::Acquire)
                || pin.is_none_or(|p| first.max_seqno.load(Ordering::Acquire) < p);
            if first.id >= current || !unpinned {
                break;
            }
            Arc::clone(first)
        };
        // NB: each removal is durable before the next: a crash meanwhile leaves contiguous ids
        // (the directory may keep any subset of removals it was not told to sync, and a gap is
        // corruption to recovery). No lock a writer takes is held meanwhile; the list only
        // loses its front here, under the lock of the deferred items.
        db.fs
            .remove(&first.path)
            .map_err(|e| Error::io("remove wal segment", Some(first.path.clone()), e))?;
        db.counters.wal_bytes.fetch_sub(
            first
                .written
                .load(Ordering::Acquire)
                .min(db.counters.wal_bytes.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        db.fs
            .sync_dir(&db.wal_dir)
            .map_err(|e| Error::io("fsync directory", Some(db.wal_dir.clone()), e))?;
        let mut segments = db.segments.lock();
        if segments.first().is_some_and(|s| Arc::ptr_eq(s, &first)) {
            segments.remove(0);
        }
    }
    drop(deferred);
    Ok(())
}

/// Runs each keyspace's strategy for a bounded number of steps.
fn compact(db: &DbInner) -> Result<()> {
    let keyspaces: Vec<Arc<KeyspaceInner>> = db.keyspaces.read().values().cloned().collect();
    for keyspace in keyspaces {
        for _ in 0..COMPACTION_STEPS {
            let result = keyspace
                .tree
                .compact(Arc::clone(&keyspace.strategy), db.watermark());
            let Some(result) = unless_deleted(&keyspace, result.map(Some))? else {
                break;
            };
            if result.action == CompactionAction::Nothing {
                break;
            }
            if db.work.lock().stop {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// A job's result on `keyspace`, with a failure turned into `T::default()` if the keyspace was
/// deleted meanwhile: its folder is being removed under it, and nothing of it matters any more.
fn unless_deleted<T: Default>(keyspace: &KeyspaceInner, result: Result<T>) -> Result<T> {
    match result {
        Err(_) if keyspace.deleted.load(Ordering::Acquire) => Ok(T::default()),
        other => other,
    }
}
