//! loom models of the SuperVersion publication: writes during memtable rotation, reads of the
//! published SuperVersion, the seal / writer handshake of a flush, and the history kept for reads
//! at older seqnos.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --lib loom_tests` (UNSAFE.md, "loom
//! models"). The models drive the real [`Published`] (`write_active`, `rotate_serialized`,
//! `publish_changing_serialized`, `load`, `for_seqno`) over real memtables; what they abstract:
//! - `arc_swap::ArcSwap` is `crate::sync::ArcSwap`'s loom stand-in (a loom mutex around the
//!   `Arc`: each operation is atomic and all are totally ordered, as arc_swap's `SeqCst`
//!   read-modify-writes order them);
//! - the version lock is a loom mutex held around `rotate_serialized` and
//!   `publish_changing_serialized` (`Published::rotate` and `Published::publish_changing` take
//!   the real lock and call these);
//! - the SuperVersion's `Version` is empty: tables take no part here;
//! - a read is `SuperVersion::memtables` (newest first) and `Memtable::get`, the memtable half of
//!   `Tree::get`.

use std::sync::Arc;

use loom::sync::Mutex;
use loom::thread;

use super::{Published, SuperVersion};
use crate::key::{InternalValue, ValueType};
use crate::memtable::Memtable;
use crate::seqno::{SeqNo, SequenceNumberCounter};
use loom::sync::atomic::AtomicBool;

use crate::sync::{Ordering, check_model};
use crate::version::Version;

/// A published SuperVersion whose active memtable holds `x` at seqno 0 (so a rotation seals it).
fn published() -> Published {
    let active = Memtable::default();
    active.insert(InternalValue::from_components(
        "x",
        "0",
        0,
        ValueType::Value,
    ));
    Published::new(SuperVersion {
        active: Arc::new(active),
        sealed: Vec::new(),
        version: Arc::new(Version::default()),
    })
}

/// The value of `key` that a read at `seqno` finds in `super_version` (newest memtable first).
fn read(super_version: &SuperVersion, key: &[u8], seqno: SeqNo) -> Option<Vec<u8>> {
    super_version
        .memtables()
        .find_map(|m| m.get(key, seqno))
        .map(|entry| entry.value.to_vec())
}

/// How many memtables of `super_version` hold `key`.
fn holders(super_version: &SuperVersion, key: &[u8]) -> usize {
    super_version
        .memtables()
        .filter(|m| m.get(key, SeqNo::MAX).is_some())
        .count()
}

/// A writer writes `k` through `write_active` while a second thread rotates the memtable (seal
/// the active one, publish a SuperVersion with a fresh one), and the main thread reads. Once the
/// writer has returned (it sets `done` with Release after `write_active`; the reader loads it
/// with Acquire) every SuperVersion the reader loads holds `k`, whether the write landed in the
/// sealed memtable or in the new active one; `x`, written before the rotation, is never lost.
/// After the joins `k` is in exactly one memtable and the old active one is sealed.
#[test]
fn loom_write_during_rotation_is_visible_once_it_returned() {
    check_model("super version: write during rotation", Some(3), || {
        let published = Arc::new(published());
        let version_lock = Arc::new(Mutex::new(()));
        let done = Arc::new(AtomicBool::new(false));
        let writer = {
            let (published, done) = (Arc::clone(&published), Arc::clone(&done));
            thread::spawn(move || {
                published.write_active(|m| m.insert_parts(b"k", b"v", 5, ValueType::Value));
                done.store(true, Ordering::Release);
            })
        };
        let rotator = {
            let (published, version_lock) = (Arc::clone(&published), Arc::clone(&version_lock));
            thread::spawn(move || {
                let _lock = version_lock.lock().expect("version lock");
                published
                    .rotate_serialized(Memtable::default)
                    .expect("the active memtable holds x")
            })
        };
        let returned = done.load(Ordering::Acquire);
        let super_version = published.load();
        if returned {
            assert_eq!(
                read(&super_version, b"k", SeqNo::MAX).as_deref(),
                Some(&b"v"[..]),
                "a write that returned is visible"
            );
        }
        assert_eq!(read(&super_version, b"x", 1).as_deref(), Some(&b"0"[..]));
        writer.join().expect("writer");
        let sealed = rotator.join().expect("rotator");
        let after = published.load();
        assert_eq!(holders(&after, b"k"), 1, "written once, in one memtable");
        assert_eq!(after.sealed.len(), 1);
        assert!(Arc::ptr_eq(&after.sealed[0], &sealed));
        assert!(
            sealed.try_begin_write().is_none(),
            "the old active memtable is sealed"
        );
        assert_eq!(read(&after, b"x", 1).as_deref(), Some(&b"0"[..]));
    });
}

/// A writer writes `k` while the main thread rotates twice in a row (the second rotation seals
/// the memtable the first one installed, if the write made it non-empty): the writer may be
/// turned away by either seal and retries on the next SuperVersion. It reads its own write back
/// after `write_active` returns, and after the join `k` and `x` are each in exactly one memtable.
///
/// NB: the model has one writer: two writers turned away by one seal would spin (yielding) on
/// each other while the rotation waits, and loom would explore that loop without end.
#[test]
fn loom_write_during_two_rotations_lands_once() {
    check_model("super version: write during two rotations", Some(3), || {
        let published = Arc::new(published());
        let version_lock = Arc::new(Mutex::new(()));
        let writer = {
            let published = Arc::clone(&published);
            thread::spawn(move || {
                published.write_active(|m| m.insert_parts(b"k", b"v", 5, ValueType::Value));
                assert_eq!(
                    read(&published.load(), b"k", SeqNo::MAX).as_deref(),
                    Some(&b"v"[..]),
                    "read your own write"
                );
            })
        };
        for _ in 0..2 {
            let _lock = version_lock.lock().expect("version lock");
            let _ = published.rotate_serialized(Memtable::default);
        }
        writer.join().expect("writer");
        let after = published.load();
        assert_eq!(holders(&after, b"k"), 1, "k in exactly one memtable");
        assert_eq!(holders(&after, b"x"), 1, "x in exactly one memtable");
        assert!(after.sealed.iter().all(|m| m.try_begin_write().is_none()));
    });
}

/// The seal / writer handshake that a flush relies on: a writer writes through `write_active`
/// while the main thread rotates and then, as a flush does, waits for the sealed memtable's
/// writers (`wait_for_writers`) and looks at it. A write that lands in the sealed memtable must
/// have landed before the wait returned: the flush saw it.
///
/// The handshake is one atomic word (the seal bit and the writer count) changed only by
/// read-modify-writes (`Memtable::try_begin_write`). An earlier version was Dekker's pattern over
/// a flag and a counter with `SeqCst` accesses, which loom cannot check (it models `SeqCst` as
/// `AcqRel`), so this model was ignored.
#[test]
fn loom_flush_sees_every_write_that_landed_in_a_sealed_memtable() {
    check_model("super version: seal / wait_for_writers", Some(3), || {
        let published = Arc::new(published());
        let writer = {
            let published = Arc::clone(&published);
            thread::spawn(move || {
                published.write_active(|m| m.insert_parts(b"k", b"v", 5, ValueType::Value));
            })
        };
        let sealed = published
            .rotate_serialized(Memtable::default)
            .expect("the active memtable holds x");
        sealed.wait_for_writers();
        let flushed = sealed.get(b"k", SeqNo::MAX).is_some();
        writer.join().expect("writer");
        if sealed.get(b"k", SeqNo::MAX).is_some() {
            assert!(
                flushed,
                "a write landed in a sealed memtable after the flush waited"
            );
        }
    });
}

/// A step that changes what reads see (here: a clear, which replaces every memtable) publishes
/// with `publish_changing_serialized` while the main thread reads at seqno 1, below the step's
/// seqno: whether the reader loads the SuperVersion before or after the step, it finds `x`
/// (through the history for the new one), and a read above the step's seqno after it sees the
/// cleared state.
#[test]
fn loom_reads_at_older_seqnos_see_the_state_before_a_change() {
    check_model("super version: history", None, || {
        let published = Arc::new(published());
        let seqno = SequenceNumberCounter::new(1);
        let visible = SequenceNumberCounter::new(1);
        let step = {
            let published = Arc::clone(&published);
            thread::spawn(move || {
                let before = published.load_full();
                let next = SuperVersion {
                    active: Arc::new(Memtable::default()),
                    sealed: Vec::new(),
                    version: Arc::clone(&before.version),
                };
                published.publish_changing_serialized(before, next, &seqno, &visible);
                visible.get()
            })
        };
        let old_read = published.for_seqno(1);
        assert_eq!(read(&old_read, b"x", 1).as_deref(), Some(&b"0"[..]));
        let visible_after = step.join().expect("step");
        assert_eq!(
            visible_after, 2,
            "the step took seqno 1; visible raised to the counter"
        );
        assert_eq!(
            read(&published.for_seqno(1), b"x", 1).as_deref(),
            Some(&b"0"[..])
        );
        assert!(
            read(&published.for_seqno(2), b"x", 2).is_none(),
            "cleared above the step"
        );
        assert!(published.history_reaches(1));
    });
}
