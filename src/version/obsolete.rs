//! Files that left every version, deleted once their last reader lets go.
//!
//! A table replaced by a compaction (or dropped by `clear`, `drop_range`, a drop step) may still
//! be read by iterators and by SuperVersions kept for reads at older seqnos. It is marked
//! obsolete; when the last `Arc` to it drops (on whatever thread, possibly a reader's), its path
//! is queued here and nothing else happens. The queue is purged by the tree's maintenance calls
//! (flush, compaction, `clear`, `drop_range`) and when the tree closes, so a `get` never deletes
//! a file. A crash before the purge leaves orphans that the next open removes.

use std::path::PathBuf;
use std::sync::Arc;

use crate::fs::Fs;
use crate::table::reader::ObsoleteSink;

/// The queue of obsolete files; see the module documentation.
#[derive(Debug)]
pub(crate) struct ObsoleteFiles {
    fs: Arc<dyn Fs>,
    sink: ObsoleteSink,
}

impl ObsoleteFiles {
    pub(crate) fn new(fs: Arc<dyn Fs>) -> Self {
        Self {
            fs,
            sink: ObsoleteSink::default(),
        }
    }

    /// Where tables marked obsolete send their paths.
    pub(crate) fn sink(&self) -> &ObsoleteSink {
        &self.sink
    }

    /// Deletes every queued file; returns how many were deleted. A file that cannot be deleted
    /// is left for the next open (it is an orphan no version names).
    pub(crate) fn purge(&self) -> usize {
        let paths: Vec<PathBuf> = std::mem::take(&mut *self.sink.lock());
        paths
            .iter()
            .filter(|path| self.fs.remove(path).is_ok())
            .count()
    }
}

impl Drop for ObsoleteFiles {
    fn drop(&mut self) {
        self.purge();
    }
}
