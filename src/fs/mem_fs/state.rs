//! The state behind a [`MemFs`](super::MemFs): inodes, directories and the fault hooks' counters.
//!
//! Invariants: every inode named by a directory's current or durable entries, by a pending
//! directory operation or by an open handle is in `State::inodes`; a `Durable::Prefix(n)` has
//! `n <= data.len()`; `fail_at`, when set, is above `mutating_ops` until it fires.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io;
use std::ops::Bound;
use std::path::{Component, Path, PathBuf};

pub(super) type Ino = u64;

/// What `sync` made durable of an inode.
pub(super) enum Durable {
    /// The first bytes of the current data (the file was only appended to since).
    Prefix(usize),
    /// Bytes of its own: the file was truncated by `create` after them and not synced since.
    Detached(Vec<u8>),
}

pub(super) struct Inode {
    pub(super) data: Vec<u8>,
    pub(super) durable: Durable,
    /// Open read and write handles; an unlinked inode lives while one is open.
    pub(super) open_handles: usize,
}

impl Inode {
    pub(super) fn empty() -> Self {
        Self {
            data: Vec::new(),
            durable: Durable::Prefix(0),
            open_handles: 0,
        }
    }

    pub(super) fn durable_bytes(&self) -> &[u8] {
        match &self.durable {
            Durable::Prefix(n) => self.data.get(..*n).unwrap_or_default(),
            Durable::Detached(bytes) => bytes,
        }
    }

    pub(super) fn truncate(&mut self) {
        if matches!(self.durable, Durable::Prefix(n) if n > 0) {
            self.durable = Durable::Detached(self.durable_bytes().to_vec());
        }
        self.data.clear();
    }
}

/// One directory entry operation not yet made durable by `sync_dir`.
pub(super) enum DirOp {
    /// `name` now points at `ino` (a create, or the target side of a rename between directories).
    Link { name: OsString, ino: Ino },
    /// `name`, pointing at `ino`, is removed (a remove, or the source side of such a rename).
    Unlink { name: OsString, ino: Ino },
    /// `from` (pointing at `ino`) is renamed to `to` within the directory, replacing `to`.
    Rename {
        from: OsString,
        to: OsString,
        ino: Ino,
    },
}

#[derive(Default)]
pub(super) struct Dir {
    pub(super) entries: BTreeMap<OsString, Ino>,
    pub(super) durable: BTreeMap<OsString, Ino>,
    pub(super) pending: Vec<DirOp>,
}

pub(super) struct State {
    pub(super) dirs: BTreeMap<PathBuf, Dir>,
    /// Directories removed since their parent's last `sync_dir`: a crash brings them back.
    pub(super) removed_dirs: Vec<(PathBuf, Dir)>,
    pub(super) inodes: BTreeMap<Ino, Inode>,
    pub(super) next_ino: Ino,
    /// Incremented by every crash; a handle from an older epoch is stale.
    pub(super) epoch: u64,
    /// Held locks: path → the id of the guard holding it.
    pub(super) locks: BTreeMap<PathBuf, u64>,
    pub(super) next_lock_id: u64,
    pub(super) mutating_ops: u64,
    /// The value of `mutating_ops` at which the plug is pulled.
    pub(super) fail_at: Option<u64>,
    pub(super) power_lost: bool,
    pub(super) skip_syncs: u64,
    pub(super) skip_dir_syncs: u64,
}

impl Default for State {
    fn default() -> Self {
        let mut dirs = BTreeMap::new();
        // The roots of absolute and relative paths always exist.
        dirs.insert(PathBuf::from("/"), Dir::default());
        dirs.insert(PathBuf::new(), Dir::default());
        Self {
            dirs,
            removed_dirs: Vec::new(),
            inodes: BTreeMap::new(),
            next_ino: 0,
            epoch: 0,
            locks: BTreeMap::new(),
            next_lock_id: 0,
            mutating_ops: 0,
            fail_at: None,
            power_lost: false,
            skip_syncs: 0,
            skip_dir_syncs: 0,
        }
    }
}

pub(super) fn power_loss() -> io::Error {
    io::Error::other("simulated power loss")
}

pub(super) fn stale() -> io::Error {
    io::Error::other("stale handle: opened before a simulated crash")
}

pub(super) fn not_found(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, what.to_owned())
}

/// `path` without `.` components, so that `a/./b` and `a/b` name the same entry.
pub(super) fn normalize(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// The directory and the name of the entry `path` names.
pub(super) fn split(path: &Path) -> io::Result<(PathBuf, OsString)> {
    let path = normalize(path);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path names no file"))?;
    let dir = path.parent().unwrap_or_else(|| Path::new(""));
    Ok((dir.to_path_buf(), name.to_owned()))
}

impl State {
    pub(super) fn powered(&self) -> io::Result<()> {
        if self.power_lost {
            Err(power_loss())
        } else {
            Ok(())
        }
    }

    /// Counts a mutating call; fails it (and pulls the plug) if it is the armed one.
    pub(super) fn mutation(&mut self) -> io::Result<()> {
        self.powered()?;
        self.mutating_ops += 1;
        if self.fail_at == Some(self.mutating_ops) {
            self.power_lost = true;
            return Err(power_loss());
        }
        Ok(())
    }

    pub(super) fn current(&self, epoch: u64) -> io::Result<()> {
        if epoch == self.epoch {
            Ok(())
        } else {
            Err(stale())
        }
    }

    pub(super) fn inode(&self, ino: Ino) -> io::Result<&Inode> {
        self.inodes.get(&ino).ok_or_else(stale)
    }

    pub(super) fn inode_mut(&mut self, ino: Ino) -> io::Result<&mut Inode> {
        self.inodes.get_mut(&ino).ok_or_else(stale)
    }

    pub(super) fn dir_mut(&mut self, dir: &Path) -> io::Result<&mut Dir> {
        if !self.dirs.contains_key(dir) && self.lookup(dir).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        self.dirs
            .get_mut(dir)
            .ok_or_else(|| not_found("no such directory"))
    }

    /// The directories directly inside directory `dir` (normalized).
    pub(super) fn subdirs<'a>(&'a self, dir: &'a Path) -> impl Iterator<Item = &'a PathBuf> + 'a {
        // NB: a directory's descendants sort right after it (paths compare by components), so
        // the walk stops at the first path outside it, except under the relative root `""`,
        // which every path starts with.
        self.dirs
            .range::<Path, _>((Bound::Excluded(dir), Bound::Unbounded))
            .map(|(path, _)| path)
            .take_while(move |path| path.starts_with(dir))
            .filter(move |path| path.parent() == Some(dir))
    }

    /// The inode of the file at `path`.
    pub(super) fn lookup(&self, path: &Path) -> io::Result<Ino> {
        let (dir, name) = split(path)?;
        if self.dirs.contains_key(&normalize(path)) {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            ));
        }
        self.dirs
            .get(&dir)
            .and_then(|d| d.entries.get(&name))
            .copied()
            .ok_or_else(|| not_found("no such file"))
    }

    /// Links a new empty inode at `name` in `dir` (which exists).
    pub(super) fn link_new(&mut self, dir: &Path, name: OsString) -> io::Result<Ino> {
        let ino = self.next_ino;
        let d = self.dir_mut(dir)?;
        d.entries.insert(name.clone(), ino);
        d.pending.push(DirOp::Link { name, ino });
        self.next_ino += 1;
        self.inodes.insert(ino, Inode::empty());
        Ok(ino)
    }

    pub(super) fn open_handle(&mut self, ino: Ino) -> io::Result<()> {
        self.inode_mut(ino)?.open_handles += 1;
        Ok(())
    }

    pub(super) fn close_handle(&mut self, ino: Ino, epoch: u64) {
        if epoch == self.epoch
            && let Some(inode) = self.inodes.get_mut(&ino)
        {
            inode.open_handles = inode.open_handles.saturating_sub(1);
        }
    }

    /// Drops the inodes that no entry, pending operation or open handle refers to.
    pub(super) fn collect_garbage(&mut self) {
        let mut live = BTreeSet::new();
        let removed = self.removed_dirs.iter().map(|(_, dir)| dir);
        for dir in self.dirs.values().chain(removed) {
            live.extend(dir.entries.values().chain(dir.durable.values()));
            live.extend(dir.pending.iter().map(|op| match op {
                DirOp::Link { ino, .. } | DirOp::Unlink { ino, .. } | DirOp::Rename { ino, .. } => {
                    *ino
                }
            }));
        }
        self.inodes
            .retain(|ino, inode| inode.open_handles > 0 || live.contains(ino));
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}
