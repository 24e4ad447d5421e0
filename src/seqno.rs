//! Sequence numbers: the clock of MVCC.
//!
//! Every write carries a [`SeqNo`] chosen by the caller; a read at seqno `X` sees exactly the
//! entries whose seqno is strictly lower than `X`, and per key the newest of those. Writes that share
//! a seqno form one atomic batch. Callers usually take write seqnos from a
//! [`SequenceNumberCounter`] (shared by clones) or plug in their own [`SequenceNumberGenerator`].
//!
//! Thread safety: the counter is a shared atomic; every method takes `&self`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A sequence number.
pub type SeqNo = u64;

/// The highest seqno a write may carry. The top bit is reserved for the engine.
///
/// Reads accept `SeqNo::MAX`, which means "the latest state".
pub const MAX_SEQNO: SeqNo = (1 << 63) - 1;

/// A source of sequence numbers, for callers that bring their own clock (e.g. a hybrid clock).
///
/// ```
/// use strata::{SequenceNumberCounter, SequenceNumberGenerator};
///
/// let counter = SequenceNumberCounter::new(5);
/// let generator: &dyn SequenceNumberGenerator = &counter;
/// assert_eq!(generator.next(), 5);
/// assert_eq!(generator.get(), 6);
/// ```
pub trait SequenceNumberGenerator: Send + Sync + fmt::Debug + 'static {
    /// Returns the current value and advances the generator.
    fn next(&self) -> SeqNo;
    /// Returns the current value without advancing.
    fn get(&self) -> SeqNo;
    /// Sets the current value.
    fn set(&self, value: SeqNo);
    /// Raises the current value to at least `value`.
    fn fetch_max(&self, value: SeqNo);
}

/// A cloneable shared atomic seqno counter; clones share the value.
///
/// ```
/// use strata::SequenceNumberCounter;
///
/// let counter = SequenceNumberCounter::default();
/// let clone = counter.clone();
/// assert_eq!(counter.next(), 0);
/// assert_eq!(clone.next(), 1);
/// clone.fetch_max(10);
/// assert_eq!(counter.get(), 10);
/// counter.set(3);
/// assert_eq!(clone.get(), 3);
/// ```
#[derive(Clone, Default)]
pub struct SequenceNumberCounter(Arc<AtomicU64>);

impl SequenceNumberCounter {
    /// A counter starting at `start`.
    pub fn new(start: SeqNo) -> Self {
        Self(Arc::new(AtomicU64::new(start)))
    }

    /// Returns the current value and increments the counter.
    pub fn next(&self) -> SeqNo {
        self.0.fetch_add(1, Ordering::AcqRel)
    }

    /// Returns the current value.
    pub fn get(&self) -> SeqNo {
        self.0.load(Ordering::Acquire)
    }

    /// Sets the current value.
    pub fn set(&self, value: SeqNo) {
        self.0.store(value, Ordering::Release);
    }

    /// Raises the current value to at least `value`.
    pub fn fetch_max(&self, value: SeqNo) {
        self.0.fetch_max(value, Ordering::AcqRel);
    }
}

impl fmt::Debug for SequenceNumberCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SequenceNumberCounter({})", self.get())
    }
}

impl SequenceNumberGenerator for SequenceNumberCounter {
    fn next(&self) -> SeqNo {
        Self::next(self)
    }

    fn get(&self) -> SeqNo {
        Self::get(self)
    }

    fn set(&self, value: SeqNo) {
        Self::set(self, value);
    }

    fn fetch_max(&self, value: SeqNo) {
        Self::fetch_max(self, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_next_hands_out_unique_values() {
        let counter = SequenceNumberCounter::new(100);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let c = counter.clone();
                std::thread::spawn(move || (0..1000).map(|_| c.next()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<SeqNo> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 4000);
        assert_eq!(all.first(), Some(&100));
        assert_eq!(counter.get(), 4100);
    }

    #[test]
    fn fetch_max_never_lowers() {
        let c = SequenceNumberCounter::new(10);
        c.fetch_max(5);
        assert_eq!(c.get(), 10);
        c.fetch_max(11);
        assert_eq!(c.get(), 11);
    }
}
