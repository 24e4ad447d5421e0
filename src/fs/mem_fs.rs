//! [`MemFs`]: an in-memory [`Fs`] that simulates power loss, for crash tests.
//!
//! Where it sits: in place of [`StdFs`](super::StdFs) under a whole tree (`Config::fs`), so that a
//! harness can run a workload, pull the plug at any mutating file call ([`MemFs::crash_at`]),
//! turn the state into what a disk could hold after the power loss ([`MemFs::crash`]) and reopen.
//!
//! The model, close to what POSIX promises and no more:
//! - A file is an inode with its current bytes and its durable bytes: those covered by the last
//!   `sync`. `append` adds to the current bytes only. `create` of an existing file truncates it in
//!   place; until the next `sync` the old durable bytes stay what a crash brings back.
//! - A directory maps names to inodes twice: the current entries (what `open`, `list` and
//!   `exists` see) and the durable entries (what survives a crash), plus the log of the entry
//!   operations (create, rename, remove) since its last `sync_dir`. A file's bytes and its entry
//!   are separate: a synced file whose directory was never synced can vanish, and a rename not
//!   followed by `sync_dir` can be undone. A rename between two directories is an unlink in the
//!   source and a link in the target, each durable with its own directory's `sync_dir`.
//! - NB: directories themselves (`create_dir`) are durable at once; so a missing `sync_dir` of a
//!   parent after `create_dir` is not caught here. `remove_dir` (of an empty directory) is
//!   durable with its parent's `sync_dir`: a crash before that brings the directory back with
//!   what a crash leaves of its entries.
//! - Reads see the current state, like a page cache. An inode stays readable through open handles
//!   after its last name is removed.
//!
//! After [`MemFs::crash`] the state is a fresh boot: every handle opened before (read, write and
//! lock) is stale and fails every call with an `Other` error ("stale handle ..."), and every lock
//! is released. Dropping a stale handle is harmless.
//!
//! Thread safety: a `MemFs` is a cheap handle (`Clone`, `Send + Sync`) on one shared state behind
//! one mutex; every call is atomic with respect to the others. All randomness of a crash comes
//! from its seed: the same state and seed give the same result.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Fs, FsLock, FsReadFile, FsWriteFile};

mod crash;
mod handle;
mod state;
#[cfg(test)]
mod tests;

use handle::MemLock;
use state::{Dir, DirOp, State, normalize, split};

pub use crash::CrashMode;

/// An in-memory file system that keeps synced and unsynced state apart; see the module docs.
///
/// ```
/// use std::path::Path;
/// use strata::fs::{CrashMode, Fs, MemFs};
///
/// let fs = MemFs::new();
/// fs.create_dir(Path::new("/db"))?;
/// let mut file = fs.create(Path::new("/db/a"))?;
/// file.append(b"durable")?;
/// file.sync()?;
/// file.append(b" and lost")?;
/// fs.sync_dir(Path::new("/db"))?;
/// assert_eq!(fs.open(Path::new("/db/a"))?.size_bytes()?, 16);
///
/// fs.crash(CrashMode::DropUnsynced, 7);
/// let mut buf = [0u8; 7];
/// let file = fs.open(Path::new("/db/a"))?;
/// assert_eq!(file.size_bytes()?, 7);
/// file.read_exact_at(&mut buf, 0)?;
/// assert_eq!(&buf, b"durable");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct MemFs {
    state: Arc<Mutex<State>>,
}

impl MemFs {
    /// An empty file system; `/` (and the root of relative paths) exist.
    ///
    /// ```
    /// use std::path::Path;
    /// use strata::fs::{Fs, MemFs};
    ///
    /// let fs = MemFs::new();
    /// assert!(fs.list(Path::new("/"))?.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// How many mutating calls (create, append, sync, rename, remove, sync_dir, create_dir) were
    /// made so far, including one failed by [`MemFs::crash_at`] but none made after it.
    ///
    /// ```
    /// use std::path::Path;
    /// use strata::fs::{Fs, MemFs};
    ///
    /// let fs = MemFs::new();
    /// let mut file = fs.create(Path::new("/f"))?;
    /// file.append(b"x")?;
    /// fs.open(Path::new("/f"))?; // not mutating
    /// assert_eq!(fs.mutating_op_count(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn mutating_op_count(&self) -> u64 {
        self.state.lock().mutating_ops
    }

    /// Arms a power loss: the `k`-th mutating call from now (1 = the next one) fails with an
    /// `Other` error "simulated power loss" without taking effect, and so does every later call of
    /// any kind, on the file system and on every handle, until [`MemFs::disarm`]. `k = 0` pulls the
    /// plug at once. A harness then calls [`MemFs::crash`], `disarm` and reopens; `crash` alone does
    /// not restore power.
    ///
    /// ```
    /// use std::path::Path;
    /// use strata::fs::{CrashMode, Fs, MemFs};
    ///
    /// let fs = MemFs::new();
    /// let mut file = fs.create(Path::new("/f"))?;
    /// fs.crash_at(2);
    /// file.append(b"taken")?;
    /// assert_eq!(file.sync().unwrap_err().to_string(), "simulated power loss");
    /// assert!(fs.power_lost());
    /// assert!(fs.exists(Path::new("/f")).is_err());
    ///
    /// fs.crash(CrashMode::DropUnsynced, 0);
    /// fs.disarm();
    /// assert!(!fs.exists(Path::new("/f"))?, "its directory was never synced");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn crash_at(&self, k: u64) {
        let mut state = self.state.lock();
        if k == 0 {
            state.power_lost = true;
        } else {
            state.fail_at = Some(state.mutating_ops + k);
        }
    }

    /// Restores power and forgets an armed [`MemFs::crash_at`].
    pub fn disarm(&self) {
        let mut state = self.state.lock();
        state.fail_at = None;
        state.power_lost = false;
    }

    /// Whether the plug was pulled by [`MemFs::crash_at`] (and not yet [`MemFs::disarm`]ed): a
    /// harness knows from it whether its workload reached call `k`.
    pub fn power_lost(&self) -> bool {
        self.state.lock().power_lost
    }

    /// Makes the next `n` file `sync` calls report success without making anything durable: this
    /// is how a harness plants a missing fsync to check that it catches one. Each such call still
    /// counts as a mutating call. A crash does not reset the count.
    ///
    /// ```
    /// use std::path::Path;
    /// use strata::fs::{CrashMode, Fs, MemFs};
    ///
    /// let fs = MemFs::new();
    /// let mut file = fs.create(Path::new("/f"))?;
    /// fs.sync_dir(Path::new("/"))?;
    /// file.append(b"acknowledged")?;
    /// fs.skip_syncs(1);
    /// file.sync()?;
    /// fs.crash(CrashMode::DropUnsynced, 0);
    /// assert_eq!(fs.open(Path::new("/f"))?.size_bytes()?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn skip_syncs(&self, n: u64) {
        self.state.lock().skip_syncs = n;
    }

    /// Like [`MemFs::skip_syncs`] for the next `n` `sync_dir` calls.
    ///
    /// ```
    /// use std::path::Path;
    /// use strata::fs::{CrashMode, Fs, MemFs};
    ///
    /// let fs = MemFs::new();
    /// fs.create(Path::new("/f"))?.sync()?;
    /// fs.skip_dir_syncs(1);
    /// fs.sync_dir(Path::new("/"))?;
    /// fs.crash(CrashMode::DropUnsynced, 0);
    /// assert!(!fs.exists(Path::new("/f"))?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn skip_dir_syncs(&self, n: u64) {
        self.state.lock().skip_dir_syncs = n;
    }
}

impl std::fmt::Debug for MemFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock();
        f.debug_struct("MemFs")
            .field("dirs", &state.dirs.len())
            .field("inodes", &state.inodes.len())
            .field("epoch", &state.epoch)
            .field("mutating_ops", &state.mutating_ops)
            .field("power_lost", &state.power_lost)
            .finish_non_exhaustive()
    }
}

impl Fs for MemFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn FsWriteFile>> {
        let mut state = self.state.lock();
        state.mutation()?;
        let ino = match state.lookup(path) {
            Ok(ino) => {
                state.inode_mut(ino)?.truncate();
                ino
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let (dir, name) = split(path)?;
                state.link_new(&dir, name)?
            }
            Err(e) => return Err(e),
        };
        Ok(Box::new(self.handle(&mut state, ino)?))
    }

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn FsWriteFile>> {
        let mut state = self.state.lock();
        state.mutation()?;
        let ino = match state.lookup(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} already exists", path.display()),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let (dir, name) = split(path)?;
                state.link_new(&dir, name)?
            }
            Err(e) => return Err(e),
        };
        Ok(Box::new(self.handle(&mut state, ino)?))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn FsWriteFile>> {
        let mut state = self.state.lock();
        state.powered()?;
        let ino = state.lookup(path)?;
        Ok(Box::new(self.handle(&mut state, ino)?))
    }

    fn open(&self, path: &Path) -> io::Result<Box<dyn FsReadFile>> {
        let mut state = self.state.lock();
        state.powered()?;
        let ino = state.lookup(path)?;
        Ok(Box::new(self.handle(&mut state, ino)?))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        state.mutation()?;
        let ino = state.lookup(from)?;
        match state.lookup(to) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let (from_dir, from_name) = split(from)?;
        let (to_dir, to_name) = split(to)?;
        state.dir_mut(&to_dir)?;
        if (&from_dir, &from_name) == (&to_dir, &to_name) {
            return Ok(());
        }
        if from_dir == to_dir {
            let d = state.dir_mut(&from_dir)?;
            d.entries.remove(&from_name);
            d.entries.insert(to_name.clone(), ino);
            d.pending.push(DirOp::Rename {
                from: from_name,
                to: to_name,
                ino,
            });
        } else {
            let d = state.dir_mut(&from_dir)?;
            d.entries.remove(&from_name);
            d.pending.push(DirOp::Unlink {
                name: from_name,
                ino,
            });
            let d = state.dir_mut(&to_dir)?;
            d.entries.insert(to_name.clone(), ino);
            d.pending.push(DirOp::Link { name: to_name, ino });
        }
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        state.mutation()?;
        let ino = state.lookup(path)?;
        let (dir, name) = split(path)?;
        let d = state.dir_mut(&dir)?;
        d.entries.remove(&name);
        d.pending.push(DirOp::Unlink { name, ino });
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut state = self.state.lock();
        state.powered()?;
        let key = normalize(dir);
        let files = state
            .dir_mut(&key)?
            .entries
            .keys()
            .map(|name| dir.join(name));
        let mut out: Vec<PathBuf> = files.collect();
        out.extend(
            state
                .subdirs(&key)
                .filter_map(|d| d.file_name())
                .map(|name| dir.join(name)),
        );
        Ok(out)
    }

    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        state.mutation()?;
        let key = normalize(dir);
        if key.parent().is_none() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "cannot remove a root",
            ));
        }
        let empty = state.dir_mut(&key)?.entries.is_empty();
        if !empty || state.subdirs(&key).next().is_some() {
            return Err(io::Error::new(
                io::ErrorKind::DirectoryNotEmpty,
                "directory not empty",
            ));
        }
        if let Some(removed) = state.dirs.remove(&key) {
            state.removed_dirs.retain(|(path, _)| *path != key);
            state.removed_dirs.push((key, removed));
        }
        Ok(())
    }

    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        state.mutation()?;
        let dir = normalize(dir);
        let missing: Vec<PathBuf> = dir
            .ancestors()
            .filter(|a| !state.dirs.contains_key(*a))
            .map(Path::to_path_buf)
            .collect();
        for path in &missing {
            if state.lookup(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    "a file is in the way",
                ));
            }
        }
        for path in missing {
            state.dirs.insert(path, Dir::default());
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        state.mutation()?;
        let skip = state.skip_dir_syncs > 0;
        let key = normalize(dir);
        let d = state.dir_mut(&key)?;
        if skip {
            state.skip_dir_syncs -= 1;
            return Ok(());
        }
        d.durable = d.entries.clone();
        d.pending.clear();
        state
            .removed_dirs
            .retain(|(path, _)| path.parent() != Some(key.as_path()));
        state.collect_garbage();
        Ok(())
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let state = self.state.lock();
        state.powered()?;
        Ok(state.dirs.contains_key(&normalize(path)) || state.lookup(path).is_ok())
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FsLock>> {
        let mut state = self.state.lock();
        state.powered()?;
        let key = normalize(path);
        if state.locks.contains_key(&key) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "held by another handle",
            ));
        }
        // Like `StdFs`, locking creates the file; not counted as a mutating call.
        match state.lookup(path) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let (dir, name) = split(path)?;
                state.link_new(&dir, name)?;
            }
            Err(e) => return Err(e),
        }
        let id = state.next_lock_id;
        state.next_lock_id += 1;
        state.locks.insert(key.clone(), id);
        Ok(Box::new(MemLock {
            state: Arc::clone(&self.state),
            path: key,
            id,
        }))
    }
}
