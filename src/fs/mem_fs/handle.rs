//! The file and lock handles a [`MemFs`] returns.
//!
//! A handle names its inode and the epoch (boot) it was opened in; every call first checks that
//! the epoch is still current, so a handle from before a crash fails instead of reaching the state
//! of the next boot. Dropping a handle updates the inode's open count (an unlinked inode lives
//! while a handle is open); dropping a stale one changes nothing.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;

use super::MemFs;
use super::state::{Durable, Ino, State};
use crate::fs::{FsLock, FsReadFile, FsWriteFile};

/// A handle's link to its inode; stale once the epoch moves on.
pub(super) struct Handle {
    state: Arc<Mutex<State>>,
    ino: Ino,
    epoch: u64,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemFile")
            .field("ino", &self.ino)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.state.lock().close_handle(self.ino, self.epoch);
    }
}

impl FsReadFile for Handle {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let state = self.state.lock();
        state.powered()?;
        state.current(self.epoch)?;
        let data = &state.inode(self.ino)?.data;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let available = data.get(start..).unwrap_or_default();
        let n = buf.len().min(available.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), available.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }

    fn size_bytes(&self) -> io::Result<u64> {
        let state = self.state.lock();
        state.powered()?;
        state.current(self.epoch)?;
        Ok(state.inode(self.ino)?.data.len() as u64)
    }
}

impl FsWriteFile for Handle {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        let mut state = self.state.lock();
        state.current(self.epoch)?;
        state.mutation()?;
        state.inode_mut(self.ino)?.data.extend_from_slice(data);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        let mut state = self.state.lock();
        state.current(self.epoch)?;
        state.mutation()?;
        if state.skip_syncs > 0 {
            state.skip_syncs -= 1;
            return Ok(());
        }
        let inode = state.inode_mut(self.ino)?;
        inode.durable = Durable::Prefix(inode.data.len());
        Ok(())
    }
}

/// A held lock; releases it on drop unless a crash already did.
#[derive(Debug)]
pub(super) struct MemLock {
    pub(super) state: Arc<Mutex<State>>,
    pub(super) path: PathBuf,
    pub(super) id: u64,
}

impl FsLock for MemLock {}

impl Drop for MemLock {
    fn drop(&mut self) {
        let mut state = self.state.lock();
        // NB: after a crash the path may be held by a newer guard; only release our own.
        if state.locks.get(&self.path) == Some(&self.id) {
            state.locks.remove(&self.path);
        }
    }
}

impl MemFs {
    /// A new handle on `ino`, counted as open until dropped.
    pub(super) fn handle(&self, state: &mut State, ino: Ino) -> io::Result<Handle> {
        state.open_handle(ino)?;
        Ok(Handle {
            state: Arc::clone(&self.state),
            ino,
            epoch: state.epoch,
        })
    }
}
