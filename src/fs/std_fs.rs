//! [`StdFs`]: the real file system, through `std::fs`.

#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    reason = "the one module that talks to std::fs; everything else goes through Fs"
)]

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{Fs, FsLock, FsReadFile, FsWriteFile};

/// The operating system's file system.
///
/// ```
/// use strata::fs::{Fs, StdFs};
///
/// # let dir = tempfile::tempdir()?;
/// let fs = StdFs;
/// let path = dir.path().join("hello");
/// let mut file = fs.create(&path)?;
/// file.append(b"hello")?;
/// file.sync()?;
/// let mut buf = [0u8; 3];
/// fs.open(&path)?.read_exact_at(&mut buf, 2)?;
/// assert_eq!(&buf, b"llo");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct StdFs;

#[derive(Debug)]
struct StdReadFile(File);

impl FsReadFile for StdReadFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::read_at(&self.0, buf, offset)
        }
        #[cfg(windows)]
        {
            std::os::windows::fs::FileExt::seek_read(&self.0, buf, offset)
        }
    }

    fn size_bytes(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

#[derive(Debug)]
struct StdWriteFile(File);

impl FsWriteFile for StdWriteFile {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.write_all(data)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        // NB: `set_len` makes a sparse tail: no block is written or allocated until an append
        // reaches it. The write position is not moved.
        if self.0.metadata()?.len() < len {
            self.0.set_len(len)?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct StdLock(
    #[expect(dead_code, reason = "held for its Drop: closing the file unlocks it")] File,
);

impl FsLock for StdLock {}

impl Fs for StdFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn FsWriteFile>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(StdWriteFile(file)))
    }

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn FsWriteFile>> {
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        Ok(Box::new(StdWriteFile(file)))
    }

    fn open(&self, path: &Path) -> io::Result<Box<dyn FsReadFile>> {
        Ok(Box::new(StdReadFile(File::open(path)?)))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn FsWriteFile>> {
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Box::new(StdWriteFile(file)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::remove_dir(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::read_dir(dir)?
            .map(|entry| entry.map(|e| e.path()))
            .collect()
    }

    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        #[cfg(unix)]
        {
            File::open(dir)?.sync_all()
        }
        #[cfg(not(unix))]
        {
            // NB: Windows cannot open a directory as a file to sync it; its directory entries
            // are durable once the metadata journal commits.
            let _ = dir;
            Ok(())
        }
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FsLock>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(StdLock(file))),
            Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "held by another handle",
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_and_directory_operations_work() {
        let dir = tempfile::tempdir().unwrap();
        let fs = StdFs;
        let sub = dir.path().join("a/b");
        fs.create_dir(&sub).unwrap();
        fs.create_dir(&sub).unwrap();
        let path = sub.join("f");
        let mut w = fs.create(&path).unwrap();
        w.append(b"0123").unwrap();
        w.append(b"4567").unwrap();
        w.sync().unwrap();
        fs.sync_dir(&sub).unwrap();
        let r = fs.open(&path).unwrap();
        assert_eq!(r.size_bytes().unwrap(), 8);
        let mut buf = [0u8; 4];
        r.read_exact_at(&mut buf, 3).unwrap();
        assert_eq!(&buf, b"3456");
        let err = r.read_exact_at(&mut buf, 6).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let renamed = sub.join("g");
        fs.rename(&path, &renamed).unwrap();
        assert!(!fs.exists(&path).unwrap());
        assert_eq!(fs.list(&sub).unwrap(), vec![renamed.clone()]);
        fs.remove(&renamed).unwrap();
        assert!(fs.list(&sub).unwrap().is_empty());
        assert_eq!(
            fs.open(&renamed).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn a_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("LOCK");
        let held = StdFs.lock(&path).unwrap();
        assert_eq!(
            StdFs.lock(&path).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        drop(held);
        assert!(StdFs.lock(&path).is_ok());
    }
}
