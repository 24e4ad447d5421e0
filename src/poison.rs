//! The tree's sticky failure state.
//!
//! A failed write or fsync of a table or the manifest leaves the files in an unknown state: the
//! bytes may or may not have reached the disk, and an fsync that failed is never retried and
//! taken for success (the kernel may have dropped the dirty pages it reported). The first such
//! failure poisons the tree: every later structural step (flush, compaction, `clear`,
//! `drop_range`, ingestion) returns [`Error::Poisoned`] until the tree is reopened, and recovery
//! then decides from what is durable.
//!
//! The flag is checked when a step starts (to fail fast) and again by the version set under the
//! version lock right before every manifest append, so a step that started before another step
//! failed never appends after the failure.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// The sticky first failure; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Poison(AtomicBool);

impl Poison {
    /// `Err(Error::Poisoned)` once poisoned.
    pub(crate) fn check(&self) -> Result<()> {
        if self.is_set() {
            Err(Error::Poisoned)
        } else {
            Ok(())
        }
    }

    /// Whether an earlier failure poisoned the tree.
    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Poisons the tree.
    pub(crate) fn set(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Poisons the tree if `err` is an I/O failure (a write or fsync whose effect is unknown), and
    /// hands the error back. Other errors (corrupt input, a compaction filter's error) leave the
    /// files as they were.
    pub(crate) fn on_io(&self, err: Error) -> Error {
        if matches!(err, Error::Io { .. }) {
            self.set();
        }
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_io_errors_poison_and_poison_sticks() {
        let poison = Poison::default();
        assert!(poison.check().is_ok());
        let _ = poison.on_io(Error::InvalidArgument("x".into()));
        assert!(poison.check().is_ok());
        let err = poison.on_io(Error::io("fsync", None, std::io::Error::other("eio")));
        assert!(matches!(err, Error::Io { .. }));
        assert!(matches!(poison.check(), Err(Error::Poisoned)));
        assert!(poison.is_set());
    }
}
