//! The file-system layer: every file operation of the engine goes through [`Fs`].
//!
//! Where it sits: below everything that touches disk (opening a tree, and from the tables
//! milestone on, table files, the manifest and the wal). Because no code reaches around it, a test
//! can swap [`StdFs`] for [`MemFs`], an in-memory file system that simulates power loss, or wrap
//! any `Fs` in [`FaultFs`], which fails chosen calls, and exercise every I/O path.
//!
//! The operations are the ones a storage engine needs and no more: create a file for appending,
//! open one for positional reads, rename, remove, list, create and remove a directory, sync a file and a
//! directory, and take an exclusive lock. Errors are plain `std::io::Error`s; callers lift them into
//! [`Error::Io`](crate::Error::Io) with the operation and the path.
//!
//! Thread safety: an `Fs` is shared by all handles of a tree (`Send + Sync`); a [`FsReadFile`] is
//! read concurrently through `&self`; a [`FsWriteFile`] has one owner.

mod fault_fs;
mod mem_fs;
mod std_fs;

use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};

pub use fault_fs::{Fault, FaultFs, FaultOp};
pub use mem_fs::{CrashMode, MemFs};
pub use std_fs::StdFs;

/// A file opened for positional reads; shared by concurrent readers.
pub trait FsReadFile: Send + Sync + Debug {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 at the end).
    ///
    /// # Errors
    /// The operating system's error.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;

    /// The file's length in bytes.
    ///
    /// # Errors
    /// The operating system's error.
    fn size_bytes(&self) -> io::Result<u64>;

    /// Reads exactly `buf.len()` bytes at `offset`.
    ///
    /// # Errors
    /// [`io::ErrorKind::UnexpectedEof`] if the file ends first, or the operating system's error.
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file ends before the requested range",
                    ));
                }
                Ok(n) => {
                    buf = buf.get_mut(n..).unwrap_or_default();
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A file opened for appending, owned by one writer.
pub trait FsWriteFile: Send + Debug {
    /// Appends all of `data`.
    ///
    /// # Errors
    /// The operating system's error; after an error the file's tail is unknown.
    fn append(&mut self, data: &[u8]) -> io::Result<()>;

    /// Makes everything appended so far durable (fsync / fdatasync).
    ///
    /// # Errors
    /// The operating system's error. A failed sync must never be retried and taken for success:
    /// the data it covered may be lost.
    fn sync(&mut self) -> io::Result<()>;

    /// Makes the file at least `len` bytes long, the new bytes reading as zeros, so that later
    /// appends within that length change the file's contents but not its size: a sync then
    /// writes only the data, not the file's size. Appends still start at the current write
    /// position. Only a hint: the default does nothing, and a file system that cannot make the
    /// file longer cheaply may do nothing too. The WAL preallocates its segments this way.
    ///
    /// # Errors
    /// The operating system's error.
    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        let _ = len;
        Ok(())
    }
}

/// An exclusive lock on a path, held until dropped.
pub trait FsLock: Send + Sync + Debug {}

/// The file-system operations of the engine; see the module documentation.
pub trait Fs: Send + Sync + Debug + 'static {
    /// Creates (or truncates) the file at `path` for appending.
    ///
    /// # Errors
    /// The operating system's error.
    fn create(&self, path: &Path) -> io::Result<Box<dyn FsWriteFile>>;

    /// Creates the file at `path` for appending, failing with [`io::ErrorKind::AlreadyExists`]
    /// if it exists: new table files are created this way, so that no counter or stray file can
    /// ever make the engine truncate a live file. The default checks [`Fs::exists`] first (not
    /// atomic); file systems that can should create exclusively.
    ///
    /// # Errors
    /// The operating system's error, or `AlreadyExists`.
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn FsWriteFile>> {
        if self.exists(path)? {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} already exists", path.display()),
            ));
        }
        self.create(path)
    }

    /// Opens the existing file at `path` for appending after its current end (no truncation):
    /// a reopened tree appends to its manifest this way instead of writing a new one. The
    /// default reports [`io::ErrorKind::Unsupported`], and the engine then writes a new file
    /// instead.
    ///
    /// # Errors
    /// The operating system's error ([`io::ErrorKind::NotFound`] if it does not exist), or
    /// `Unsupported`.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn FsWriteFile>> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "{}: this file system cannot append to an existing file",
                path.display()
            ),
        ))
    }

    /// Opens the file at `path` for positional reads.
    ///
    /// # Errors
    /// The operating system's error ([`io::ErrorKind::NotFound`] if it does not exist).
    fn open(&self, path: &Path) -> io::Result<Box<dyn FsReadFile>>;

    /// Atomically renames `from` to `to`, replacing `to` if it exists.
    ///
    /// # Errors
    /// The operating system's error.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Removes the file at `path`.
    ///
    /// # Errors
    /// The operating system's error.
    fn remove(&self, path: &Path) -> io::Result<()>;

    /// Removes the empty directory `dir`. The engine calls it only to tidy up (a deleted
    /// keyspace's folder), never for correctness: a failure leaves an empty folder behind.
    ///
    /// # Errors
    /// The operating system's error; [`io::ErrorKind::DirectoryNotEmpty`] if `dir` has entries.
    fn remove_dir(&self, dir: &Path) -> io::Result<()>;

    /// The paths of the entries of directory `dir`, in no particular order.
    ///
    /// # Errors
    /// The operating system's error.
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;

    /// Creates directory `dir` and any missing parents; succeeds if it exists.
    ///
    /// # Errors
    /// The operating system's error.
    fn create_dir(&self, dir: &Path) -> io::Result<()>;

    /// Makes the entries of directory `dir` (creations, renames, removals) durable.
    ///
    /// # Errors
    /// The operating system's error.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// Whether something exists at `path`.
    ///
    /// # Errors
    /// The operating system's error.
    fn exists(&self, path: &Path) -> io::Result<bool>;

    /// Takes an exclusive lock on the file at `path` (creating it), against this and every other
    /// process, until the returned guard drops.
    ///
    /// # Errors
    /// [`io::ErrorKind::WouldBlock`] if another holder has it, or the operating system's error.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FsLock>>;
}
