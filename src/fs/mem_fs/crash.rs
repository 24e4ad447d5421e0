//! [`MemFs::crash`]: turns the state into one a disk could hold after a power loss.
//!
//! Every directory keeps its durable entries, plus (in [`CrashMode::PartialDirectory`]) a random
//! subset of its pending entry operations, replayed in their order. Every surviving file keeps its
//! synced bytes, plus (in [`CrashMode::TornWrites`]) a random prefix of its unsynced appends
//! followed by nothing or by zeros, as a real file system leaves a file whose size reached the
//! disk before its data. The result is then both the current and the durable state: a fresh boot.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;

use super::MemFs;
use super::state::{DirOp, Durable, Ino, Inode};

/// What survives a simulated power loss ([`MemFs::crash`]).
///
/// ```
/// use std::path::Path;
/// use strata::fs::{CrashMode, Fs, MemFs};
///
/// for mode in CrashMode::ALL {
///     let fs = MemFs::new();
///     let mut file = fs.create(Path::new("/f"))?;
///     file.append(b"synced")?;
///     file.sync()?;
///     fs.sync_dir(Path::new("/"))?;
///     file.append(b"unsynced")?;
///     fs.crash(mode, 42);
///     let file = fs.open(Path::new("/f"))?;
///     let mut buf = [0u8; 6];
///     file.read_exact_at(&mut buf, 0)?;
///     assert_eq!(&buf, b"synced", "{mode:?}");
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CrashMode {
    /// Every file keeps exactly its synced bytes, every directory exactly its durable entries.
    DropUnsynced,
    /// Like `DropUnsynced`, but each file with unsynced appends may keep a random prefix of them,
    /// followed (half the time) by zero bytes up to a random length no longer than what was
    /// appended: the file's size reached the disk, its data did not. Never any other bytes.
    TornWrites,
    /// Like `DropUnsynced` for file contents, but each directory operation not yet made durable by
    /// `sync_dir` survives or not at random, applied in order: a surviving create links the file
    /// with its synced bytes, a surviving rename moves it (or links it at the new name if its
    /// creation did not survive), a surviving remove unlinks it.
    PartialDirectory,
}

impl CrashMode {
    /// Every mode, for harnesses that loop over them.
    pub const ALL: [CrashMode; 3] = [
        CrashMode::DropUnsynced,
        CrashMode::TornWrites,
        CrashMode::PartialDirectory,
    ];
}

/// SplitMix64: small, seedable and good enough to pick crash outcomes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (0 if `bound` is 0).
    fn below(&mut self, bound: usize) -> usize {
        let bound = u64::try_from(bound).unwrap_or(u64::MAX).max(1);
        usize::try_from(self.next() % bound).unwrap_or(0)
    }

    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

impl DirOp {
    fn apply(&self, entries: &mut BTreeMap<OsString, Ino>) {
        match self {
            DirOp::Link { name, ino } => {
                entries.insert(name.clone(), *ino);
            }
            DirOp::Unlink { name, ino } => {
                if entries.get(name) == Some(ino) {
                    entries.remove(name);
                }
            }
            DirOp::Rename { from, to, ino } => {
                if entries.get(from) == Some(ino) {
                    entries.remove(from);
                }
                entries.insert(to.clone(), *ino);
            }
        }
    }
}

impl Inode {
    /// Replaces the data with what the disk holds after the crash; all of it is then durable.
    fn crash(&mut self, mode: CrashMode, rng: &mut Rng) {
        match std::mem::replace(&mut self.durable, Durable::Prefix(0)) {
            Durable::Prefix(synced) if mode == CrashMode::TornWrites => {
                let unsynced = self.data.len().saturating_sub(synced);
                let keep = rng.below(unsynced + 1);
                let len = if rng.coin() {
                    keep + rng.below(unsynced - keep + 1)
                } else {
                    keep
                };
                self.data.truncate(synced + keep);
                self.data.resize(synced + len, 0);
            }
            Durable::Prefix(synced) => self.data.truncate(synced),
            Durable::Detached(bytes) => self.data = bytes,
        }
        self.durable = Durable::Prefix(self.data.len());
        self.open_handles = 0;
    }
}

impl MemFs {
    /// Simulates a power loss and the reboot after it; see [`CrashMode`] for what survives.
    ///
    /// Afterwards every handle opened before is stale (each call fails with an `Other` error),
    /// every lock is released, and directories hold no pending operations. An armed
    /// [`MemFs::crash_at`] (or a pulled plug) is left as it is: call [`MemFs::disarm`] to go on.
    /// The same state and `seed` always give the same result.
    ///
    /// ```
    /// use std::path::Path;
    /// use strata::fs::{CrashMode, Fs, MemFs};
    ///
    /// let fs = MemFs::new();
    /// let mut old = fs.create(Path::new("/a"))?;
    /// old.append(b"1")?;
    /// old.sync()?;
    /// fs.sync_dir(Path::new("/"))?;
    /// fs.rename(Path::new("/a"), Path::new("/b"))?;
    /// fs.crash(CrashMode::DropUnsynced, 3);
    /// assert!(fs.exists(Path::new("/a"))?, "the rename was never made durable");
    /// assert!(!fs.exists(Path::new("/b"))?);
    /// assert!(old.append(b"2").is_err(), "handles from before the crash are stale");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn crash(&self, mode: CrashMode, seed: u64) {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let mut rng = Rng(seed);
        let mut live = BTreeSet::new();
        // A removal not made durable by its parent's `sync_dir` is undone (latest first, so
        // that a parent comes back before its children), unless the path was created again.
        for (path, dir) in std::mem::take(&mut state.removed_dirs).into_iter().rev() {
            let parent_exists = path.parent().is_some_and(|p| state.dirs.contains_key(p));
            if parent_exists && !state.dirs.contains_key(&path) {
                state.dirs.insert(path, dir);
            }
        }
        for dir in state.dirs.values_mut() {
            let mut entries = std::mem::take(&mut dir.durable);
            for op in std::mem::take(&mut dir.pending) {
                if mode == CrashMode::PartialDirectory && rng.coin() {
                    op.apply(&mut entries);
                }
            }
            live.extend(entries.values().copied());
            dir.entries.clone_from(&entries);
            dir.durable = entries;
        }
        state.inodes.retain(|ino, _| live.contains(ino));
        for inode in state.inodes.values_mut() {
            inode.crash(mode, &mut rng);
        }
        state.locks.clear();
        state.epoch += 1;
    }
}
