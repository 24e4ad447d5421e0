//! The synchronisation primitives of the lock-free code: `std`'s, or loom's under `cfg(loom)`.
//!
//! The memtable (arena, skiplist, value store, seal and write gate) and the SuperVersion
//! publication take their atomics from here, so that the loom models (`RUSTFLAGS="--cfg loom"`,
//! see UNSAFE.md, "loom models") run the very code and orderings of the normal build. In the
//! normal build everything here is a re-export or a zero-sized no-op, so the code that the
//! compiler sees is the same as with `std::sync::atomic` directly.
//!
//! Two pieces exist for loom's sake:
//! - [`Witness`] stands for the plain (non-atomic) bytes that a lock-free structure writes before
//!   it publishes them (a node's key and seqno, a value record, a segment header). Loom sees only
//!   its own atomics and cells, not raw memory; under `cfg(loom)` a witness is a
//!   `loom::cell::UnsafeCell<()>` that the writer marks after it filled the bytes and every reader
//!   touches before it reads them, so loom reports a reader that is not ordered after the writer
//!   (a missing Release or Acquire). In the normal build it is a zero-sized type whose methods do
//!   nothing.
//! - [`ArcSwap`] under `cfg(loom)` is a small stand-in for `arc_swap::ArcSwap` (which loom cannot
//!   see into) over a loom mutex: every load and store is one critical section, a total order of
//!   the operations like the `SeqCst` read-modify-write that each `arc_swap` operation contains.
//!
//! Thread safety: as the types re-exported.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence};
#[cfg(not(loom))]
pub(crate) use std::thread::yield_now;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence};
#[cfg(loom)]
pub(crate) use loom::thread::yield_now;

#[cfg(not(loom))]
pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use loom_lock::{Condvar, Mutex, MutexGuard};

/// Blocks on `condvar` until notified, releasing `guard` meanwhile; returns it locked again.
/// (By value, so that the loom stand-in, whose wait takes the guard, has the same signature.)
#[cfg(not(loom))]
pub(crate) fn wait<'a, T>(condvar: &Condvar, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar.wait(&mut guard);
    guard
}

/// Blocks on `condvar` until notified, releasing `guard` meanwhile; returns it locked again.
#[cfg(loom)]
pub(crate) fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar.wait(guard)
}

#[cfg(not(loom))]
pub(crate) use arc_swap::{ArcSwap, Guard};
#[cfg(loom)]
pub(crate) use loom_arc_swap::{ArcSwap, Guard};

/// Called by a retry loop that waits for another thread to make progress: nothing in the normal
/// build (the loop retries at once, as before), a yield under loom, whose scheduler must be told
/// that the thread waits (otherwise it explores the spinning thread without end).
#[cfg(not(loom))]
#[inline]
pub(crate) fn retry_hint() {}

/// Called by a retry loop that waits for another thread to make progress: nothing in the normal
/// build, a yield under loom, whose scheduler must be told that the thread waits.
#[cfg(loom)]
pub(crate) fn retry_hint() {
    loom::thread::yield_now();
}

/// The value of an atomic pointer reached through `&mut` (no other thread can access it).
#[cfg(not(loom))]
#[inline]
pub(crate) fn get_mut_ptr<T>(atomic: &mut AtomicPtr<T>) -> *mut T {
    *atomic.get_mut()
}

/// The value of an atomic pointer reached through `&mut` (no other thread can access it).
#[cfg(loom)]
pub(crate) fn get_mut_ptr<T>(atomic: &mut AtomicPtr<T>) -> *mut T {
    atomic.with_mut(|ptr| *ptr)
}

/// Stands for plain bytes published through an atomic; see the module documentation.
#[cfg(not(loom))]
pub(crate) struct Witness;

#[cfg(not(loom))]
#[expect(
    clippy::unused_self,
    reason = "the same methods as the loom witness, which uses `self`"
)]
impl Witness {
    #[inline]
    pub(crate) const fn new() -> Self {
        Self
    }

    /// The bytes this witness stands for are written (the writer calls it before publishing).
    #[inline]
    pub(crate) fn written(&self) {}

    /// The bytes this witness stands for are about to be read.
    #[inline]
    pub(crate) fn read(&self) {}
}

/// Stands for plain bytes published through an atomic; see the module documentation.
#[cfg(loom)]
pub(crate) struct Witness(loom::cell::UnsafeCell<()>);

#[cfg(loom)]
impl Witness {
    pub(crate) fn new() -> Self {
        Self(loom::cell::UnsafeCell::new(()))
    }

    /// The bytes this witness stands for are written (the writer calls it before publishing).
    pub(crate) fn written(&self) {
        self.0.with_mut(|_| ());
    }

    /// The bytes this witness stands for are about to be read: loom panics ("Causality
    /// violation") unless the last `written` happens-before this read.
    pub(crate) fn read(&self) {
        self.0.with(|_| ());
    }
}

#[cfg(all(test, loom))]
/// Runs `model` under loom with `preemption_bound` (`None`: every interleaving; unless
/// `LOOM_MAX_PREEMPTIONS` sets a bound) and prints the number of executions explored and the
/// wall time.
pub(crate) fn check_model(
    name: &str,
    preemption_bound: Option<usize>,
    model: impl Fn() + Sync + Send + 'static,
) {
    let executions = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&executions);
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = preemption_bound;
    }
    let bound = builder.preemption_bound;
    let started = std::time::Instant::now();
    builder.check(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        model();
    });
    eprintln!(
        "loom model {name}: {} executions in {:.2?} (preemption bound {bound:?})",
        executions.load(std::sync::atomic::Ordering::Relaxed),
        started.elapsed()
    );
}

/// `parking_lot`'s `Mutex` and `Condvar` as the engine uses them, over loom's (whose locks
/// return a `Result` for poisoning, which a loom model never leaves: a panic ends the model).
#[cfg(loom)]
mod loom_lock {
    use std::sync::PoisonError;

    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    #[derive(Debug)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(loom::sync::Condvar::new())
        }

        pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(guard).unwrap_or_else(PoisonError::into_inner)
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

#[cfg(loom)]
mod loom_arc_swap {
    use std::ops::Deref;
    use std::sync::Arc;

    use loom::sync::Mutex;

    /// `arc_swap::ArcSwap`'s operations that the engine uses, over a loom mutex.
    pub(crate) struct ArcSwap<T>(Mutex<Arc<T>>);

    /// What [`ArcSwap::load`] returns: derefs to the `Arc`, like `arc_swap::Guard`.
    pub(crate) struct Guard<A>(A);

    impl<A> Deref for Guard<A> {
        type Target = A;

        fn deref(&self) -> &A {
            &self.0
        }
    }

    impl<T> ArcSwap<T> {
        pub(crate) fn from_pointee(value: T) -> Self {
            Self(Mutex::new(Arc::new(value)))
        }

        pub(crate) fn load(&self) -> Guard<Arc<T>> {
            Guard(self.load_full())
        }

        pub(crate) fn load_full(&self) -> Arc<T> {
            Arc::clone(
                &self
                    .0
                    .lock()
                    .unwrap_or_else(|_| unreachable!("no panic holds it")),
            )
        }

        pub(crate) fn store(&self, value: Arc<T>) {
            let old = std::mem::replace(
                &mut *self
                    .0
                    .lock()
                    .unwrap_or_else(|_| unreachable!("no panic holds it")),
                value,
            );
            // NB: the old value drops outside the critical section, as arc_swap's does.
            drop(old);
        }
    }
}
