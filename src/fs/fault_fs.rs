//! [`FaultFs`]: wraps any [`Fs`] and fails chosen calls, for ENOSPC / EIO / short-write tests.
//!
//! Where it sits: between the engine and a real file system (`Config::fs`), usually [`MemFs`]
//! (so that a fault can be followed by a crash) or [`StdFs`](super::StdFs). It counts the calls
//! of each [`FaultOp`] and fails the n-th one of a kind with a chosen [`Fault`]; every other call
//! goes to the inner file system unchanged. A failed call has no effect on the inner file system,
//! except [`Fault::ShortWrite`] on an append, which writes the first half of the data first.
//!
//! Thread safety: a `FaultFs` is a cheap handle (`Clone`, `Send + Sync`); the counters and the
//! planned faults are shared by all clones and by every file handle it returned, behind one mutex
//! that is never held across a call into the inner file system.
//!
//! [`MemFs`]: super::MemFs

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::{Fs, FsLock, FsReadFile, FsWriteFile};

#[cfg(test)]
mod tests;

/// A kind of file call that [`FaultFs`] counts and can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FaultOp {
    /// [`Fs::create`].
    Create,
    /// [`FsWriteFile::append`].
    Append,
    /// [`FsWriteFile::sync`].
    Sync,
    /// [`Fs::rename`].
    Rename,
    /// [`Fs::remove`] and [`Fs::remove_dir`].
    Remove,
    /// [`Fs::sync_dir`].
    SyncDir,
    /// [`Fs::create_dir`].
    CreateDir,
    /// [`Fs::open`].
    Open,
    /// [`FsReadFile::read_at`] and [`FsReadFile::read_exact_at`] (one call each).
    Read,
    /// [`Fs::list`].
    List,
}

impl FaultOp {
    /// Every kind, for harnesses that try each.
    pub const ALL: [FaultOp; 10] = [
        FaultOp::Create,
        FaultOp::Append,
        FaultOp::Sync,
        FaultOp::Rename,
        FaultOp::Remove,
        FaultOp::SyncDir,
        FaultOp::CreateDir,
        FaultOp::Open,
        FaultOp::Read,
        FaultOp::List,
    ];
}

/// The error a failed call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// No space left on the device: ENOSPC (raw OS error 28) on unix,
    /// [`io::ErrorKind::StorageFull`] elsewhere.
    NoSpace,
    /// An I/O error: EIO (raw OS error 5) on unix, [`io::ErrorKind::Other`] elsewhere.
    Io,
    /// For [`FaultOp::Append`]: the first half of the data (rounded down) reaches the inner file,
    /// then the call fails with [`io::ErrorKind::WriteZero`]. Any other call fails with that error
    /// and no effect.
    ShortWrite,
}

impl Fault {
    /// Every fault, for harnesses that try each.
    pub const ALL: [Fault; 3] = [Fault::NoSpace, Fault::Io, Fault::ShortWrite];

    /// The error this fault returns.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use strata::fs::Fault;
    ///
    /// assert_eq!(Fault::NoSpace.to_error().kind(), ErrorKind::StorageFull);
    /// assert_eq!(Fault::ShortWrite.to_error().kind(), ErrorKind::WriteZero);
    /// ```
    pub fn to_error(self) -> io::Error {
        match self {
            Fault::NoSpace => {
                #[cfg(unix)]
                {
                    io::Error::from_raw_os_error(28)
                }
                #[cfg(not(unix))]
                {
                    io::Error::new(io::ErrorKind::StorageFull, "simulated ENOSPC")
                }
            }
            Fault::Io => {
                #[cfg(unix)]
                {
                    io::Error::from_raw_os_error(5)
                }
                #[cfg(not(unix))]
                {
                    io::Error::other("simulated EIO")
                }
            }
            Fault::ShortWrite => io::Error::new(io::ErrorKind::WriteZero, "simulated short write"),
        }
    }
}

/// A planned fault: call number `at` of `op` (and every later one if `repeat`) fails.
#[derive(Debug)]
struct Rule {
    op: FaultOp,
    at: u64,
    fault: Fault,
    repeat: bool,
}

#[derive(Debug, Default)]
struct Plan {
    calls: BTreeMap<FaultOp, u64>,
    rules: Vec<Rule>,
    fired: u64,
    /// How long every call of a kind waits before it runs (see [`FaultFs::delay`]).
    delays: BTreeMap<FaultOp, Duration>,
}

impl Plan {
    /// Counts a call of `op`; returns the fault it must fail with, if any (the first rule added).
    fn call(&mut self, op: FaultOp) -> Option<Fault> {
        let count = self.calls.entry(op).or_default();
        *count += 1;
        let n = *count;
        let fault = self
            .rules
            .iter()
            .find(|r| r.op == op && (r.at == n || (r.repeat && n > r.at)))?
            .fault;
        self.fired += 1;
        Some(fault)
    }

    fn add(&mut self, op: FaultOp, nth: u64, fault: Fault, repeat: bool) {
        let done = self.calls.get(&op).copied().unwrap_or(0);
        self.rules.push(Rule {
            op,
            at: done + nth.max(1),
            fault,
            repeat,
        });
    }
}

/// An [`Fs`] that fails chosen calls of an inner one; see the module documentation.
///
/// ```
/// use std::path::Path;
/// use std::sync::Arc;
/// use strata::fs::{Fault, FaultFs, FaultOp, Fs, MemFs};
///
/// let fs = FaultFs::new(Arc::new(MemFs::new()));
/// fs.fail(FaultOp::Sync, 2, Fault::Io);
/// let mut file = fs.create(Path::new("/f"))?;
/// file.sync()?;
/// assert_eq!(file.sync().unwrap_err().raw_os_error(), Some(5));
/// file.sync()?; // a fault fires once
/// assert_eq!(fs.calls(FaultOp::Sync), 3);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct FaultFs {
    inner: Arc<dyn Fs>,
    plan: Arc<Mutex<Plan>>,
}

impl FaultFs {
    /// Wraps `inner`, with no fault planned.
    pub fn new(inner: Arc<dyn Fs>) -> Self {
        Self {
            inner,
            plan: Arc::default(),
        }
    }

    /// Fails the `nth` call of `op` from now (1 = the next one; 0 counts as 1) with `fault`, once.
    /// Several planned faults may wait at once; if two match a call, the first one planned wins.
    pub fn fail(&self, op: FaultOp, nth: u64, fault: Fault) {
        self.plan.lock().add(op, nth, fault, false);
    }

    /// Like [`FaultFs::fail`], but fails every call of `op` from the `nth` one on (a full disk
    /// stays full).
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use strata::fs::{Fault, FaultFs, FaultOp, Fs, MemFs};
    ///
    /// let fs = FaultFs::new(Arc::new(MemFs::new()));
    /// fs.fail_from(FaultOp::Create, 1, Fault::NoSpace);
    /// for name in ["/a", "/b"] {
    ///     let err = fs.create(Path::new(name)).unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
    /// }
    /// assert!(!fs.exists(Path::new("/a"))?);
    /// fs.clear();
    /// fs.create(Path::new("/a"))?;
    /// assert_eq!(fs.faults_fired(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn fail_from(&self, op: FaultOp, nth: u64, fault: Fault) {
        self.plan.lock().add(op, nth, fault, true);
    }

    /// Forgets every planned fault (the counters stay). Delays stay too.
    pub fn clear(&self) {
        self.plan.lock().rules.clear();
    }

    /// Makes every later call of `op` wait `by` before it runs (`Duration::ZERO`: no wait), as a
    /// slow disk would: for back-pressure tests, a flush whose syncs are slow. A delayed call
    /// still counts and can still fail as planned; the wait holds no lock.
    ///
    /// ```
    /// use std::path::Path;
    /// use std::sync::Arc;
    /// use std::time::{Duration, Instant};
    /// use strata::fs::{FaultFs, FaultOp, Fs, MemFs};
    ///
    /// let fs = FaultFs::new(Arc::new(MemFs::new()));
    /// fs.delay(FaultOp::Sync, Duration::from_millis(20));
    /// let mut file = fs.create(Path::new("/f"))?;
    /// let started = Instant::now();
    /// file.sync()?;
    /// assert!(started.elapsed() >= Duration::from_millis(20));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn delay(&self, op: FaultOp, by: Duration) {
        let mut plan = self.plan.lock();
        if by.is_zero() {
            plan.delays.remove(&op);
        } else {
            plan.delays.insert(op, by);
        }
    }

    /// Counts a call of `op` and waits its delay (without the lock); returns its fault, if any.
    fn enter(plan: &Mutex<Plan>, op: FaultOp) -> Option<Fault> {
        let (fault, delay) = {
            let mut plan = plan.lock();
            let fault = plan.call(op);
            (fault, plan.delays.get(&op).copied())
        };
        if let Some(delay) = delay {
            std::thread::sleep(delay);
        }
        fault
    }

    /// How many calls of `op` were made so far, failed ones included.
    pub fn calls(&self, op: FaultOp) -> u64 {
        self.plan.lock().calls.get(&op).copied().unwrap_or(0)
    }

    /// How many calls were failed so far.
    pub fn faults_fired(&self) -> u64 {
        self.plan.lock().fired
    }

    fn check(plan: &Mutex<Plan>, op: FaultOp) -> io::Result<()> {
        match Self::enter(plan, op) {
            Some(fault) => Err(fault.to_error()),
            None => Ok(()),
        }
    }
}

#[derive(Debug)]
struct FaultWriteFile {
    inner: Box<dyn FsWriteFile>,
    plan: Arc<Mutex<Plan>>,
}

impl FsWriteFile for FaultWriteFile {
    // NB: no fault of its own: a failed preallocation would only cost the speed it buys, and
    // the appends and syncs that follow it are where the faults matter.
    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        self.inner.preallocate(len)
    }

    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        let fault = FaultFs::enter(&self.plan, FaultOp::Append);
        match fault {
            None => self.inner.append(data),
            Some(Fault::ShortWrite) => {
                let half = data.get(..data.len() / 2).unwrap_or_default();
                self.inner.append(half)?;
                Err(Fault::ShortWrite.to_error())
            }
            Some(fault) => Err(fault.to_error()),
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        FaultFs::check(&self.plan, FaultOp::Sync)?;
        self.inner.sync()
    }
}

#[derive(Debug)]
struct FaultReadFile {
    inner: Box<dyn FsReadFile>,
    plan: Arc<Mutex<Plan>>,
}

impl FsReadFile for FaultReadFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FaultFs::check(&self.plan, FaultOp::Read)?;
        self.inner.read_at(buf, offset)
    }

    fn size_bytes(&self) -> io::Result<u64> {
        self.inner.size_bytes()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FaultFs::check(&self.plan, FaultOp::Read)?;
        self.inner.read_exact_at(buf, offset)
    }
}

impl Fs for FaultFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn FsWriteFile>> {
        Self::check(&self.plan, FaultOp::Create)?;
        Ok(Box::new(FaultWriteFile {
            inner: self.inner.create(path)?,
            plan: Arc::clone(&self.plan),
        }))
    }

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn FsWriteFile>> {
        Self::check(&self.plan, FaultOp::Create)?;
        Ok(Box::new(FaultWriteFile {
            inner: self.inner.create_new(path)?,
            plan: Arc::clone(&self.plan),
        }))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn FsWriteFile>> {
        Self::check(&self.plan, FaultOp::Create)?;
        Ok(Box::new(FaultWriteFile {
            inner: self.inner.open_append(path)?,
            plan: Arc::clone(&self.plan),
        }))
    }

    fn open(&self, path: &Path) -> io::Result<Box<dyn FsReadFile>> {
        Self::check(&self.plan, FaultOp::Open)?;
        Ok(Box::new(FaultReadFile {
            inner: self.inner.open(path)?,
            plan: Arc::clone(&self.plan),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        Self::check(&self.plan, FaultOp::Rename)?;
        self.inner.rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        Self::check(&self.plan, FaultOp::Remove)?;
        self.inner.remove(path)
    }

    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        Self::check(&self.plan, FaultOp::Remove)?;
        self.inner.remove_dir(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        Self::check(&self.plan, FaultOp::List)?;
        self.inner.list(dir)
    }

    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        Self::check(&self.plan, FaultOp::CreateDir)?;
        self.inner.create_dir(dir)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        Self::check(&self.plan, FaultOp::SyncDir)?;
        self.inner.sync_dir(dir)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.inner.exists(path)
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FsLock>> {
        self.inner.lock(path)
    }
}
