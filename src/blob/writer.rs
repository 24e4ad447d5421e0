//! The blob writer: appends separated values to blob files, cut at the target size.
//!
//! Every file gets a fresh number from the version set's allocator and is created exclusively.
//! Records are buffered and appended in large writes; [`BlobWriter::finish`] writes each file's
//! footer, syncs every file and then the `blobs/` directory, and opens the files, so that a
//! manifest edit naming them can follow. On an error the caller removes what was created
//! ([`BlobWriter::remove_files`]); a leftover is an orphan that the next open removes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::BlobFile;
use super::format::{BlobFooter, BlobPointer, HEADER_LEN, encode_header, record_contents};
use crate::cache::{Cache, DescriptorTable};
use crate::compression::CompressionType;
use crate::error::{Error, Result};
use crate::fs::{Fs, FsWriteFile};
use crate::layout::{FileNumbers, blob_path};
use crate::table::block::{BlockType, encode_block_with};

/// Appends buffered bytes once this many are pending.
const WRITE_BUFFER: usize = 1 << 20;

/// The blob file being written.
struct OpenBlob {
    id: u64,
    path: PathBuf,
    file: Box<dyn FsWriteFile>,
    header: [u8; HEADER_LEN],
    /// The offset the next record starts at.
    offset: u64,
    footer: BlobFooter,
    buf: Vec<u8>,
}

impl OpenBlob {
    fn drain(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.file
                .append(&self.buf)
                .map_err(|e| Error::io("write blob file", Some(self.path.clone()), e))?;
            self.buf.clear();
        }
        Ok(())
    }
}

/// Writes separated values; see the module documentation.
pub(crate) struct BlobWriter {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    target_size: u64,
    compression: CompressionType,
    /// The dictionary of a `ZstdDict` compression whose id it matches.
    dictionary: Option<Arc<crate::compression::ZstdDictionary>>,
    /// Encrypts every record ([`Config::with_encryption`](crate::Config::with_encryption)).
    encryption: Option<Arc<dyn crate::EncryptionProvider>>,
    current: Option<OpenBlob>,
    /// Every file created, finished or not.
    created: Vec<PathBuf>,
    /// The finished files: (id, path).
    finished: Vec<(u64, PathBuf)>,
    /// Bytes written to blob files.
    bytes: u64,
}

impl BlobWriter {
    /// A writer of blob files in `dir`, cut at `target_size` bytes. A `ZstdDict` compression
    /// uses `dictionary` when its id is the compression's; otherwise records are plain zstd.
    pub(crate) fn new(
        fs: Arc<dyn Fs>,
        dir: &Path,
        target_size: u64,
        compression: CompressionType,
        dictionary: Option<&Arc<crate::compression::ZstdDictionary>>,
    ) -> Self {
        #[cfg(feature = "zstd")]
        let dictionary = compression
            .dict_id()
            .and_then(|id| dictionary.filter(|d| d.id() == id))
            .cloned();
        #[cfg(not(feature = "zstd"))]
        let dictionary = dictionary.and(None);
        Self {
            fs,
            dir: dir.to_path_buf(),
            target_size: target_size.max(1),
            compression,
            dictionary,
            encryption: None,
            current: None,
            created: Vec::new(),
            finished: Vec::new(),
            bytes: 0,
        }
    }

    /// The writer with every record encrypted by `encryption` (`None`: plaintext).
    pub(crate) fn with_encryption(
        mut self,
        encryption: Option<Arc<dyn crate::EncryptionProvider>>,
    ) -> Self {
        self.encryption = encryption;
        self
    }

    /// Bytes written so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends `key`'s `value` and returns the pointer to it; `None` if the record would be
    /// longer than a block can be (a value near `u32::MAX` bytes), which then stays inline.
    ///
    /// # Errors
    /// `Io` if a file cannot be created or written.
    pub(crate) fn write(
        &mut self,
        files: &FileNumbers,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<BlobPointer>> {
        let Ok(value_len) = u32::try_from(value.len()) else {
            return Ok(None);
        };
        let raw = record_contents(key, value);
        if u32::try_from(raw.len()).is_err() {
            return Ok(None);
        }
        if self
            .current
            .as_ref()
            .is_some_and(|open| open.offset >= self.target_size)
        {
            self.finish_file()?;
        }
        if self.current.is_none() {
            self.current = Some(self.create(files)?);
        }
        let Some(open) = self.current.as_mut() else {
            return Ok(None);
        };
        let record_len = encode_block_with(
            BlockType::Blob,
            self.compression,
            &raw,
            &mut open.buf,
            None,
            self.encryption.as_deref(),
        )? as u64;
        let pointer = BlobPointer {
            file_id: open.id,
            offset: open.offset,
            record_len,
            value_len,
        };
        open.offset += record_len;
        open.footer.record_count += 1;
        open.footer.record_bytes += record_len;
        open.footer.value_bytes += u64::from(value_len);
        self.bytes += record_len;
        if open.buf.len() >= WRITE_BUFFER {
            open.drain()?;
        }
        Ok(Some(pointer))
    }

    fn create(&mut self, files: &FileNumbers) -> Result<OpenBlob> {
        let id = files.next()?;
        let path = blob_path(&self.dir, id);
        let file = self
            .fs
            .create_new(&path)
            .map_err(|e| Error::io("create blob file", Some(path.clone()), e))?;
        self.created.push(path.clone());
        let dict_id = self.dictionary.as_ref().map_or(0, |d| d.id());
        let header = encode_header(u8::from(self.compression), dict_id);
        self.bytes += HEADER_LEN as u64;
        Ok(OpenBlob {
            id,
            path,
            file,
            header,
            offset: HEADER_LEN as u64,
            footer: BlobFooter::default(),
            buf: header.to_vec(),
        })
    }

    /// Writes the current file's footer and syncs it.
    fn finish_file(&mut self) -> Result<()> {
        let Some(mut open) = self.current.take() else {
            return Ok(());
        };
        let footer = open.footer.encode(&open.header);
        open.buf.extend_from_slice(&footer);
        self.bytes += footer.len() as u64;
        open.drain()?;
        open.file
            .sync()
            .map_err(|e| Error::io("fsync blob file", Some(open.path.clone()), e))?;
        self.finished.push((open.id, open.path));
        Ok(())
    }

    /// Finishes the last file, syncs the directory and opens every file written, in id order.
    /// The files stay until [`BlobWriter::remove_files`].
    ///
    /// # Errors
    /// `Io` if a write, a sync or an open fails; `Corruption` if a file just written does not
    /// read back.
    pub(crate) fn finish(
        &mut self,
        cache: &Arc<Cache>,
        descriptors: Option<&Arc<DescriptorTable>>,
    ) -> Result<Vec<Arc<BlobFile>>> {
        self.finish_file()?;
        if self.finished.is_empty() {
            return Ok(Vec::new());
        }
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| Error::io("fsync directory", Some(self.dir.clone()), e))?;
        self.finished
            .iter()
            .map(|(id, path)| {
                BlobFile::open(
                    *id,
                    path,
                    &self.fs,
                    cache,
                    descriptors,
                    self.dictionary.as_ref(),
                )
                .map(|file| Arc::new(file.with_encryption(self.encryption.clone())))
            })
            .collect()
    }

    /// Removes every file created (best effort).
    pub(crate) fn remove_files(&mut self) {
        self.current = None;
        for path in self.created.drain(..) {
            let _ = self.fs.remove(&path);
        }
        self.finished.clear();
    }

    /// Forgets the files (a version names them now): nothing is removed later.
    pub(crate) fn keep(&mut self) {
        self.created.clear();
        self.finished.clear();
    }
}
