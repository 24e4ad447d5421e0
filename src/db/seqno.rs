//! The database's seqnos: one write counter for every keyspace, and visibility that never shows a
//! batch in part.
//!
//! Writers take a seqno under the commit lock, log the batch, apply it to the memtables and then
//! publish `visible = seqno + 1`. Structural steps of a keyspace's tree (a compaction that
//! changed data, an ingestion, `clear`) take seqnos from the same counter and ask to raise the
//! visible seqno too, possibly while a writer is between taking its seqno and publishing it; a
//! raise then stops below that writer's seqno and is completed when the writer publishes
//! ([`Visibility`]). The trees' durable-through bookkeeping reads the applied seqno
//! ([`Applied`]): every seqno below it is in a memtable or a table, so a flush never records as
//! durable a write still on its way into a memtable (fjall #112).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::seqno::{SeqNo, SequenceNumberCounter, SequenceNumberGenerator};

/// The shared seqno state of a database.
#[derive(Debug, Default)]
pub(crate) struct Seqnos {
    /// The write counter (the next seqno to take).
    pub(crate) next: SequenceNumberCounter,
    /// Every seqno below it is applied and visible.
    pub(crate) visible: AtomicU64,
    /// A lower bound of the seqno the writer in flight took (`u64::MAX`: none in flight).
    in_flight: AtomicU64,
    /// The highest visible seqno a structural step asked for.
    pending: AtomicU64,
}

impl Seqnos {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            next: SequenceNumberCounter::default(),
            visible: AtomicU64::new(0),
            in_flight: AtomicU64::new(u64::MAX),
            pending: AtomicU64::new(0),
        })
    }

    /// Takes the next seqno for a writer (under the commit lock); the writer is in flight until
    /// [`Seqnos::publish`].
    pub(crate) fn begin(&self) -> SeqNo {
        self.in_flight.store(self.next.get(), Ordering::SeqCst);
        self.next.next()
    }

    /// Publishes the writer's seqno (and any raise a structural step asked for meanwhile).
    pub(crate) fn publish(&self, seqno: SeqNo) {
        self.in_flight.store(u64::MAX, Ordering::SeqCst);
        let target = seqno
            .saturating_add(1)
            .max(self.pending.load(Ordering::SeqCst));
        self.visible.fetch_max(target, Ordering::SeqCst);
    }

    /// Raises the visible seqno to `value`, but never past a writer in flight.
    pub(crate) fn raise_visible(&self, value: SeqNo) {
        self.pending.fetch_max(value, Ordering::SeqCst);
        let flight = self.in_flight.load(Ordering::SeqCst);
        self.visible.fetch_max(value.min(flight), Ordering::SeqCst);
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
