//! The database's seqnos: one write counter for every keyspace, and visibility that never shows a
//! batch in part, nor a synced batch before its sync.
//!
//! Writers take a seqno under the commit lock, log the batch, apply it to the memtables and then
//! publish it. A writer that asked for a sync first *holds* its seqno: nothing at or above a held
//! seqno becomes visible until its writer's sync returned and it released the hold, so a read
//! never sees a write whose sync may still fail (and a failed sync, which poisons the database,
//! leaves it hidden for good). Writers behind a held seqno wait for it before they return, so a
//! returned write is always visible to its writer ([`Seqnos::wait_visible`]).
//!
//! Structural steps of a keyspace's tree (a compaction that changed data, an ingestion, `clear`)
//! take seqnos from the same counter and ask to raise the visible seqno too, possibly while a
//! writer is between taking its seqno and publishing it, or holds one; a raise then stops below
//! that seqno and is completed when the writer publishes or releases ([`Visibility`]). The trees'
//! durable-through bookkeeping reads the applied seqno ([`Applied`]): every seqno below it is in
//! a memtable or a table, so a flush never records as durable a write still on its way into a
//! memtable (fjall #112).
//!
//! Ordering: every field is read and written with `SeqCst`. A writer stores `in_flight` before
//! it takes its seqno and holds before it publishes; whoever raises `visible` reads `pending` and
//! `applied_end` before `in_flight`, and `in_flight` before `lowest_held`, so a seqno it sees as
//! applied or requested was taken after any writer it sees as in flight or holding. A release
//! computes its raise under the `held` lock, which every hold takes too. Each of those
//! store-then-load steps (a store to one field, then loads of others that another thread
//! stores to before it loads the first: Dekker's pattern) has a `SeqCst` fence between the
//! store and the loads. `SeqCst` loads and stores alone order them, but loom models them as
//! acquire and release only and would report executions that cannot happen; with the fences
//! the loom models (`loom_tests` below) check the very code of the normal build.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::seqno::{SeqNo, SequenceNumberCounter, SequenceNumberGenerator};
use crate::sync::{AtomicU64, Condvar, Mutex, Ordering, fence};

/// The shared seqno state of a database.
#[derive(Debug)]
pub(crate) struct Seqnos {
    /// The write counter (the next seqno to take).
    pub(crate) next: SequenceNumberCounter,
    /// Every seqno below it is applied and visible.
    pub(crate) visible: AtomicU64,
    /// A lower bound of the seqno the writer in flight took (`u64::MAX`: none in flight).
    in_flight: AtomicU64,
    /// The highest visible seqno a structural step asked for.
    pending: AtomicU64,
    /// One past the highest seqno a writer published (applied to the memtables).
    applied_end: AtomicU64,
    /// The seqnos of published batches whose writers wait for their sync.
    held: Mutex<BTreeSet<SeqNo>>,
    /// The lowest of `held` (`u64::MAX`: none), for readers that do not take the lock.
    lowest_held: AtomicU64,
    /// Signalled (under `held`) when a release raised `visible`, or the database was poisoned.
    released: Condvar,
}

impl Seqnos {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            next: SequenceNumberCounter::default(),
            visible: AtomicU64::new(0),
            in_flight: AtomicU64::new(u64::MAX),
            pending: AtomicU64::new(0),
            applied_end: AtomicU64::new(0),
            held: Mutex::new(BTreeSet::new()),
            lowest_held: AtomicU64::new(u64::MAX),
            released: Condvar::new(),
        })
    }

    /// Takes the next seqno for a writer (under the commit lock); the writer is in flight until
    /// [`Seqnos::publish`].
    pub(crate) fn begin(&self) -> SeqNo {
        self.in_flight.store(self.next.get(), Ordering::SeqCst);
        fence(Ordering::SeqCst);
        self.next.next()
    }

    /// Keeps `seqno` and everything after it hidden until [`Seqnos::release`] (under the commit
    /// lock, before [`Seqnos::publish`]): its writer syncs first.
    pub(crate) fn hold(&self, seqno: SeqNo) {
        let mut held = self.held.lock();
        held.insert(seqno);
        self.lowest_held
            .store(held.first().copied().unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    /// Ends the hold of `seqno` and of every earlier seqno: a sync that covers a batch covers
    /// everything logged before it (WAL order is seqno order), so the first writer whose sync
    /// returns publishes the batches before it too, whether or not their writers have run yet.
    pub(crate) fn release(&self, seqno: SeqNo) {
        let mut held = self.held.lock();
        *held = held.split_off(&seqno.saturating_add(1));
        self.lowest_held
            .store(held.first().copied().unwrap_or(u64::MAX), Ordering::SeqCst);
        self.advance();
        self.released.notify_all();
    }

    /// Publishes the writer's seqno (applied to the memtables) and any raise a structural step
    /// asked for meanwhile, as far as no hold keeps them hidden.
    pub(crate) fn publish(&self, seqno: SeqNo) {
        self.applied_end
            .fetch_max(seqno.saturating_add(1), Ordering::SeqCst);
        self.in_flight.store(u64::MAX, Ordering::SeqCst);
        self.advance();
    }

    /// Raises `visible` to what is applied or asked for, below any writer in flight or held.
    fn advance(&self) {
        fence(Ordering::SeqCst);
        let wanted = self
            .pending
            .load(Ordering::SeqCst)
            .max(self.applied_end.load(Ordering::SeqCst));
        let cap = self.cap();
        self.visible.fetch_max(wanted.min(cap), Ordering::SeqCst);
    }

    /// The lowest seqno that may not be visible: a writer's in flight or held.
    fn cap(&self) -> SeqNo {
        let flight = self.in_flight.load(Ordering::SeqCst);
        flight.min(self.lowest_held.load(Ordering::SeqCst))
    }

    /// Raises the visible seqno to `value`, but never past a writer in flight or held.
    pub(crate) fn raise_visible(&self, value: SeqNo) {
        self.pending.fetch_max(value, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let cap = self.cap();
        self.visible.fetch_max(value.min(cap), Ordering::SeqCst);
    }

    /// Waits until `seqno` is visible. Returns `false` at once if `stop` is set (the database
    /// was poisoned: a hold before `seqno` may never be released).
    pub(crate) fn wait_visible(&self, seqno: SeqNo, stop: &AtomicBool) -> bool {
        if self.visible() > seqno {
            return true;
        }
        let mut held = self.held.lock();
        loop {
            if self.visible() > seqno {
                return true;
            }
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                return false;
            }
            held = crate::sync::wait(&self.released, held);
        }
    }

    /// Wakes every writer in [`Seqnos::wait_visible`] (after `stop` was set).
    pub(crate) fn wake_waiters(&self) {
        let _held = self.held.lock();
        self.released.notify_all();
    }

    /// The seqno reads see now.
    pub(crate) fn visible(&self) -> SeqNo {
        self.visible.load(Ordering::SeqCst)
    }

    /// Every seqno below this is applied to a memtable (or was never a write).
    pub(crate) fn applied(&self) -> SeqNo {
        let next = self.next.get();
        let flight = self.in_flight.load(Ordering::SeqCst);
        next.min(flight)
    }
}

/// The trees' visible-seqno generator: raises go through [`Seqnos::raise_visible`].
#[derive(Debug)]
pub(crate) struct Visibility(pub(crate) Arc<Seqnos>);

impl SequenceNumberGenerator for Visibility {
    fn next(&self) -> SeqNo {
        let value = self.0.visible();
        self.0.raise_visible(value.saturating_add(1));
        value
    }

    fn get(&self) -> SeqNo {
        self.0.visible()
    }

    fn set(&self, value: SeqNo) {
        self.0.raise_visible(value);
    }

    fn fetch_max(&self, value: SeqNo) {
        self.0.raise_visible(value);
    }
}

/// The trees' applied-seqno source (their durable-through bookkeeping).
#[derive(Debug)]
pub(crate) struct Applied(pub(crate) Arc<Seqnos>);

impl SequenceNumberGenerator for Applied {
    fn next(&self) -> SeqNo {
        self.0.applied()
    }

    fn get(&self) -> SeqNo {
        self.0.applied()
    }

    fn set(&self, _value: SeqNo) {}

    fn fetch_max(&self, _value: SeqNo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_seqno_hides_itself_and_everything_after_it_until_released() {
        let seqnos = Seqnos::new();
        let stop = AtomicBool::new(false);
        let a = seqnos.begin();
        seqnos.publish(a);
        assert_eq!(seqnos.visible(), a + 1);
        let s = seqnos.begin();
        seqnos.hold(s);
        seqnos.publish(s);
        assert_eq!(seqnos.visible(), s, "held: not visible before its sync");
        let t = seqnos.begin();
        seqnos.publish(t);
        assert_eq!(seqnos.visible(), s, "a later batch waits for the held one");
        // A structural step's raise stops below the hold too.
        let g = seqnos.next.next();
        seqnos.raise_visible(g + 1);
        assert_eq!(seqnos.visible(), s);
        assert_eq!(seqnos.applied(), g + 1, "held batches are applied");
        seqnos.release(s);
        assert_eq!(seqnos.visible(), g + 1, "the release publishes all of it");
        assert!(seqnos.wait_visible(t, &stop));
    }

    #[test]
    fn a_release_ends_every_earlier_hold_but_no_later_one() {
        let seqnos = Seqnos::new();
        let mut taken = Vec::new();
        for _ in 0..3 {
            let s = seqnos.begin();
            seqnos.hold(s);
            seqnos.publish(s);
            taken.push(s);
        }
        assert_eq!(seqnos.visible(), taken[0]);
        // The second writer's sync returned first: it covers the first batch too.
        seqnos.release(taken[1]);
        assert_eq!(seqnos.visible(), taken[2], "the third is still held");
        seqnos.release(taken[0]);
        assert_eq!(seqnos.visible(), taken[2], "a late release changes nothing");
        seqnos.release(taken[2]);
        assert_eq!(seqnos.visible(), taken[2] + 1);
    }

    #[test]
    fn a_waiter_behind_a_hold_that_is_never_released_wakes_when_stopped() {
        let seqnos = Seqnos::new();
        let stop = Arc::new(AtomicBool::new(false));
        let s = seqnos.begin();
        seqnos.hold(s);
        seqnos.publish(s);
        let t = seqnos.begin();
        seqnos.publish(t);
        let waiter = {
            let (seqnos, stop) = (Arc::clone(&seqnos), Arc::clone(&stop));
            std::thread::spawn(move || seqnos.wait_visible(t, &stop))
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        stop.store(true, Ordering::SeqCst);
        seqnos.wake_waiters();
        assert!(
            !waiter.join().unwrap(),
            "woken by the stop, not by a publication"
        );
        assert_eq!(seqnos.visible(), s);
    }

    /// Writers take seqnos in turn under a lock (the commit lock); some hold theirs across a
    /// "sync" outside it. A reader checks that `visible` never passes a seqno that is held or
    /// not yet published, and every writer sees its own seqno visible when it returns.
    #[test]
    fn concurrent_holds_never_expose_an_unsynced_or_unpublished_seqno() {
        use std::collections::BTreeSet;
        let seqnos = Seqnos::new();
        let stop = Arc::new(AtomicBool::new(false));
        // The seqnos taken and not yet both published and released.
        let hidden = Arc::new(Mutex::new(BTreeSet::new()));
        let commit = Arc::new(Mutex::new(()));
        let done = Arc::new(AtomicBool::new(false));
        let checker = {
            let (seqnos, hidden, done) =
                (Arc::clone(&seqnos), Arc::clone(&hidden), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut checks = 0u64;
                while !done.load(Ordering::SeqCst) {
                    // NB: `visible` first: a seqno added to `hidden` after it is above it, and
                    // one still in `hidden` after it was hidden when it was read.
                    let visible = seqnos.visible();
                    let lowest = hidden.lock().first().copied();
                    if let Some(lowest) = lowest {
                        assert!(
                            visible <= lowest,
                            "visible {visible} passes hidden {lowest}"
                        );
                    }
                    checks += 1;
                }
                checks
            })
        };
        let writers: Vec<_> = (0..4u64)
            .map(|w| {
                let (seqnos, stop, hidden, commit) = (
                    Arc::clone(&seqnos),
                    Arc::clone(&stop),
                    Arc::clone(&hidden),
                    Arc::clone(&commit),
                );
                std::thread::spawn(move || {
                    for i in 0..2_000u64 {
                        let synced = (w + i) % 3 == 0;
                        let seqno = {
                            let _commit = commit.lock();
                            let seqno = seqnos.begin();
                            hidden.lock().insert(seqno);
                            if synced {
                                seqnos.hold(seqno);
                            } else {
                                // NB: a plain batch may be seen once it is published.
                                hidden.lock().remove(&seqno);
                            }
                            seqnos.publish(seqno);
                            seqno
                        };
                        if synced {
                            std::thread::yield_now();
                            // NB: this "sync" covers every batch logged before it too.
                            hidden.lock().retain(|&h| h > seqno);
                            seqnos.release(seqno);
                        }
                        assert!(seqnos.wait_visible(seqno, &stop));
                        assert!(seqnos.visible() > seqno);
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        done.store(true, Ordering::SeqCst);
        assert!(checker.join().unwrap() > 0);
        assert_eq!(seqnos.visible(), 8_000);
    }

    #[test]
    fn a_raise_never_shows_a_writer_in_flight_and_completes_when_it_publishes() {
        let seqnos = Seqnos::new();
        let s = seqnos.begin();
        assert_eq!(seqnos.applied(), s, "the writer's seqno is not applied yet");
        // A structural step takes a later seqno and asks to publish past it.
        let g = seqnos.next.next();
        seqnos.raise_visible(g + 1);
        assert!(seqnos.visible() <= s, "the writer in flight stays hidden");
        seqnos.publish(s);
        assert_eq!(
            seqnos.visible(),
            g + 1,
            "the raise completes with the writer"
        );
        assert_eq!(seqnos.applied(), g + 1);
    }
}

/// loom models of the hold protocol (`RUSTFLAGS="--cfg loom"`; UNSAFE.md, "loom models"): the
/// very `Seqnos` code over loom's atomics, mutex and condition variable.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;

    /// Takes a seqno and publishes it under the commit lock, holding it first if `synced`.
    fn commit(seqnos: &Seqnos, lock: &loom::sync::Mutex<()>, synced: bool) -> SeqNo {
        let _commit = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let seqno = seqnos.begin();
        if synced {
            seqnos.hold(seqno);
        }
        seqnos.publish(seqno);
        seqno
    }

    /// A synced writer and a plain one race for the commit lock while the main thread reads
    /// `visible` and raises it as a structural step would: nothing at or above the synced
    /// batch is visible before its release, each writer's batch is visible when its wait
    /// returns, and everything is visible at the end.
    #[test]
    fn loom_tests_a_held_batch_and_everything_after_it_stay_hidden_until_released() {
        crate::sync::check_model("seqno_hold_release", Some(3), || {
            let seqnos = Seqnos::new();
            let lock = Arc::new(loom::sync::Mutex::new(()));
            let released = Arc::new(loom::sync::atomic::AtomicBool::new(false));
            let stop = Arc::new(AtomicBool::new(false));
            let synced = {
                let (seqnos, lock, released, stop) = (
                    Arc::clone(&seqnos),
                    Arc::clone(&lock),
                    Arc::clone(&released),
                    Arc::clone(&stop),
                );
                loom::thread::spawn(move || {
                    let s = commit(&seqnos, &lock, true);
                    released.store(true, Ordering::SeqCst);
                    seqnos.release(s);
                    assert!(seqnos.wait_visible(s, &stop));
                    s
                })
            };
            let plain = {
                let (seqnos, lock, stop) =
                    (Arc::clone(&seqnos), Arc::clone(&lock), Arc::clone(&stop));
                loom::thread::spawn(move || {
                    let t = commit(&seqnos, &lock, false);
                    assert!(seqnos.wait_visible(t, &stop));
                    assert!(seqnos.visible() > t, "visible when its wait returns");
                    t
                })
            };
            let seen = seqnos.visible();
            let released_after = released.load(Ordering::SeqCst);
            let g = seqnos.next.next();
            seqnos.raise_visible(g + 1);
            let raised = seqnos.visible();
            let released_after_raise = released.load(Ordering::SeqCst);
            let s = synced.join().expect("the synced writer");
            let t = plain.join().expect("the plain writer");
            assert!(seen <= s || released_after, "{seen} passes the held {s}");
            assert!(
                raised <= s || released_after_raise,
                "a raise passes the held {s}"
            );
            assert_eq!(seqnos.visible(), 3, "all of it visible at the end");
            assert_ne!(s, t);
        });
    }

    /// The synced writer's sync fails: it never releases, the database is poisoned. The plain
    /// writer behind it wakes with `false`, one before it returns `true`, and nothing at or
    /// above the held seqno ever becomes visible.
    #[test]
    fn loom_tests_a_hold_never_released_hides_for_good_and_stopped_waiters_wake() {
        crate::sync::check_model("seqno_poisoned_hold", None, || {
            let seqnos = Seqnos::new();
            let lock = Arc::new(loom::sync::Mutex::new(()));
            let stop = Arc::new(AtomicBool::new(false));
            let failed = {
                let (seqnos, lock, stop) =
                    (Arc::clone(&seqnos), Arc::clone(&lock), Arc::clone(&stop));
                loom::thread::spawn(move || {
                    let s = commit(&seqnos, &lock, true);
                    // The sync failed: poisoned, never released.
                    stop.store(true, std::sync::atomic::Ordering::SeqCst);
                    seqnos.wake_waiters();
                    s
                })
            };
            let plain = {
                let (seqnos, lock, stop) =
                    (Arc::clone(&seqnos), Arc::clone(&lock), Arc::clone(&stop));
                loom::thread::spawn(move || {
                    let t = commit(&seqnos, &lock, false);
                    (t, seqnos.wait_visible(t, &stop))
                })
            };
            let s = failed.join().expect("the failed writer");
            let (t, visible) = plain.join().expect("the plain writer");
            assert_eq!(
                visible,
                t < s,
                "only a batch before the hold becomes visible"
            );
            assert!(seqnos.visible() <= s, "the held batch stays hidden");
        });
    }
}
