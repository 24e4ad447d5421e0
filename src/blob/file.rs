//! An open blob file: validated at open, values read through the shared cache.
//!
//! Opening reads the header and the footer and checks them against each other and the file's
//! size. A value read ([`BlobFile::read`]) first asks the block cache (keyed by the file's cache
//! id and the record's offset) for the record's raw contents; a miss reads exactly the record the
//! pointer names (bounded by the file: a pointer past the records is corruption before any read),
//! verifies the block checksum and decompresses (bounded by the declared length, as for table
//! blocks). Either way the record must hold the expected key and a value of the expected length.
//! The file handle comes from the
//! shared [`DescriptorTable`] when the tree has one, so blob files count against the same bound
//! on open files as tables. Never `mmap`.
//!
//! Like a table, a blob file that left every version is marked obsolete; its path goes to the
//! obsolete queue when the last reader (a version, a scan, a guard) drops it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::format::{
    BlobFooter, BlobPointer, FOOTER_LEN, HEADER_LEN, header_dict_id, split_record,
};
use crate::cache::{Cache, CachedBlock, DescriptorTable, FileSource, next_cache_id};
use crate::compression::ZstdDictionary;
use crate::error::{CorruptionKind, Error, Result};
use crate::fs::{Fs, FsReadFile};
use crate::slice::Slice;
use crate::table::block::{BlockHeader, BlockType, decode_block_with};
use crate::table::reader::ObsoleteSink;

/// An open blob file; see the module documentation.
pub struct BlobFile {
    id: u64,
    path: PathBuf,
    file_size: u64,
    footer: BlobFooter,
    cache_id: u64,
    fs: Arc<dyn Fs>,
    source: FileSource,
    cache: Arc<Cache>,
    obsolete: std::sync::OnceLock<ObsoleteSink>,
    /// The zstd dictionary the header names, checked at open; `None` if it names none.
    dictionary: Option<Arc<ZstdDictionary>>,
    /// The tree's encryption provider, for encrypted records.
    encryption: Option<Arc<dyn crate::EncryptionProvider>>,
}

impl std::fmt::Debug for BlobFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobFile")
            .field("id", &self.id)
            .field("path", &self.path)
            .field("records", &self.footer.record_count)
            .finish_non_exhaustive()
    }
}

fn corruption(path: &Path, offset: u64, what: CorruptionKind) -> Error {
    Error::Corruption {
        file: path.to_path_buf(),
        offset,
        what,
    }
}

impl BlobFile {
    /// The file with its records decrypted by `encryption` (the tree's provider; `None`: an
    /// encrypted record is [`Error::Decrypt`]).
    pub(crate) fn with_encryption(
        mut self,
        encryption: Option<Arc<dyn crate::EncryptionProvider>>,
    ) -> Self {
        self.encryption = encryption;
        self
    }

    /// Opens and validates blob file `id` at `path`; `dictionary` is the tree's zstd dictionary.
    ///
    /// # Errors
    /// `Io` if the file cannot be read; `Corruption` naming the file for a damaged header or
    /// footer, or a size that does not match them; `DictionaryMismatch` naming both ids if the
    /// header names a dictionary other than `dictionary` (or one while none is given).
    pub(crate) fn open(
        id: u64,
        path: &Path,
        fs: &Arc<dyn Fs>,
        cache: &Arc<Cache>,
        descriptors: Option<&Arc<DescriptorTable>>,
        dictionary: Option<&Arc<ZstdDictionary>>,
    ) -> Result<Self> {
        let file: Arc<dyn FsReadFile> = Arc::from(
            fs.open(path)
                .map_err(|e| Error::io("open blob file", Some(path.to_path_buf()), e))?,
        );
        let file_size = file
            .size_bytes()
            .map_err(|e| Error::io("stat blob file", Some(path.to_path_buf()), e))?;
        let footer_at = file_size
            .checked_sub(FOOTER_LEN as u64)
            .filter(|at| *at >= HEADER_LEN as u64)
            .ok_or_else(|| corruption(path, 0, CorruptionKind::Truncated))?;
        let mut header = [0u8; HEADER_LEN];
        let mut footer = [0u8; FOOTER_LEN];
        file.read_exact_at(&mut header, 0)
            .and_then(|()| file.read_exact_at(&mut footer, footer_at))
            .map_err(|e| Error::io("read blob file", Some(path.to_path_buf()), e))?;
        let footer = BlobFooter::decode(&header, &footer, file_size)
            .map_err(|what| corruption(path, footer_at, what))?;
        let dict_id = header_dict_id(&header);
        let dictionary = if dict_id == 0 {
            None
        } else {
            crate::table::reader::check_dictionary(path, dict_id, dictionary.map(AsRef::as_ref))?;
            dictionary.cloned()
        };
        let cache_id = next_cache_id();
        let source = FileSource::new(file, cache_id, descriptors);
        Ok(Self {
            id,
            path: path.to_path_buf(),
            file_size,
            footer,
            cache_id,
            fs: Arc::clone(fs),
            source,
            cache: Arc::clone(cache),
            obsolete: std::sync::OnceLock::new(),
            dictionary,
            encryption: None,
        })
    }

    /// The file's id (its file number).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The file's size in bytes.
    pub(crate) fn file_size(&self) -> u64 {
        self.file_size
    }

    /// The number of records.
    pub(crate) fn record_count(&self) -> u64 {
        self.footer.record_count
    }

    /// The bytes of all records: what pointers into the file can reach.
    pub(crate) fn record_bytes(&self) -> u64 {
        self.footer.record_bytes
    }

    fn file(&self) -> Result<Arc<dyn FsReadFile>> {
        self.source.file(
            self.cache_id,
            self.fs.as_ref(),
            &self.path,
            "reopen blob file",
        )
    }

    /// Reads the raw bytes of the record at `offset`, `len` bytes long, and decodes it; returns
    /// the raw contents (key length, key, value).
    fn read_record(&self, offset: u64, len: u64) -> Result<Slice> {
        let body_end = self.file_size.saturating_sub(FOOTER_LEN as u64);
        let inside = offset >= HEADER_LEN as u64
            && len > crate::table::block::HEADER_LEN as u64
            && offset.checked_add(len).is_some_and(|end| end <= body_end);
        if !inside {
            return Err(corruption(
                &self.path,
                offset,
                CorruptionKind::InvalidField("blob record outside the file"),
            ));
        }
        let len = usize::try_from(len).map_err(|_| {
            corruption(
                &self.path,
                offset,
                CorruptionKind::InvalidField("blob record length"),
            )
        })?;
        let mut buf: Arc<[u8]> = std::iter::repeat_n(0u8, len).collect();
        let target = Arc::get_mut(&mut buf).unwrap_or_default();
        self.file()?
            .read_exact_at(target, offset)
            .map_err(|e| Error::io("read blob file", Some(self.path.clone()), e))?;
        decode_block_with(
            &Slice::from(buf),
            BlockType::Blob,
            self.dictionary.as_deref(),
            self.encryption.as_deref(),
        )
        .map_err(|error| error.at(&self.path, offset))
    }

    /// The value `pointer` names, which must be `key`'s.
    ///
    /// # Errors
    /// `Io` if the file cannot be read; `Corruption` naming the file and the record's offset if
    /// the pointer leaves the records, the record's checksum fails, or it holds another key or a
    /// value of another length.
    pub(crate) fn read(&self, pointer: &BlobPointer, key: &[u8]) -> Result<Slice> {
        // NB: the cache holds the whole record (key included), not the bare value, so that a hit
        // is checked against the pointer like a read from the file: a pointer that names another
        // key's record is an error whether the record is cached or not.
        let raw = if let Some(raw) = self.cache.get_raw(self.cache_id, pointer.offset) {
            self.cache.record(BlockType::Blob as u8, true, 0, false);
            raw
        } else {
            self.cache
                .record(BlockType::Blob as u8, false, pointer.record_len, false);
            let raw = self.read_record(pointer.offset, pointer.record_len)?;
            self.cache
                .insert_block(self.cache_id, pointer.offset, CachedBlock::Raw(raw.clone()));
            raw
        };
        let bad = |what| corruption(&self.path, pointer.offset, what);
        let (key_start, value_start) = split_record(&raw).map_err(bad)?;
        if raw.get(key_start..value_start) != Some(key) {
            return Err(bad(CorruptionKind::InvalidField("blob record key")));
        }
        let value = raw.slice(value_start..);
        if value.len() != pointer.value_len as usize {
            return Err(bad(CorruptionKind::InvalidField("blob value length")));
        }
        Ok(value)
    }

    /// Reads every record in file order and checks it; calls `visit` with each record's offset,
    /// length on disk, key and value. Returns the count, record bytes and value bytes found.
    ///
    /// # Errors
    /// `Io` if the file cannot be read; `Corruption` naming the file and offset for the first
    /// damaged record, or records that do not add up to what the footer records.
    pub(crate) fn scan(
        &self,
        mut visit: impl FnMut(u64, u64, &[u8], &[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut offset = HEADER_LEN as u64;
        let body_end = self.file_size.saturating_sub(FOOTER_LEN as u64);
        let file = self.file()?;
        let mut totals = BlobFooter::default();
        while offset < body_end {
            let mut header = [0u8; crate::table::block::HEADER_LEN];
            file.read_exact_at(&mut header, offset)
                .map_err(|e| Error::io("read blob file", Some(self.path.clone()), e))?;
            let parsed =
                BlockHeader::parse(&header).map_err(|what| corruption(&self.path, offset, what))?;
            let len = crate::table::block::HEADER_LEN as u64 + u64::from(parsed.stored_len);
            let raw = self.read_record(offset, len)?;
            let (key_start, value_start) =
                split_record(&raw).map_err(|what| corruption(&self.path, offset, what))?;
            let key = raw.get(key_start..value_start).unwrap_or_default();
            let value = raw.get(value_start..).unwrap_or_default();
            visit(offset, len, key, value)?;
            totals.record_count += 1;
            totals.record_bytes += len;
            totals.value_bytes += value.len() as u64;
            offset += len;
        }
        if totals != self.footer {
            return Err(corruption(
                &self.path,
                body_end,
                CorruptionKind::InvalidField("blob records do not match the footer"),
            ));
        }
        Ok(())
    }

    /// Marks the file as gone from every version (see the module documentation).
    pub(crate) fn mark_obsolete(&self, sink: &ObsoleteSink) {
        let _ = self.obsolete.set(Arc::clone(sink));
    }
}

impl Drop for BlobFile {
    fn drop(&mut self) {
        self.source.release(self.cache_id);
        if let Some(sink) = self.obsolete.get() {
            sink.lock().push(std::mem::take(&mut self.path));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test code")]
mod tests {
    use super::*;
    use crate::blob::writer::BlobWriter;
    use crate::compression::CompressionType;
    use crate::fs::MemFs;
    use crate::layout::FileNumbers;

    /// Regression (found by the `blob_file` fuzz target on its first seed): a cache hit returned
    /// the cached value after checking only its length, so a pointer naming another key's
    /// record, once that record was cached, read the other key's value instead of an error.
    #[test]
    fn a_pointer_to_another_keys_record_is_an_error_also_from_the_cache() {
        let fs: Arc<dyn Fs> = Arc::new(MemFs::new());
        let dir = Path::new("/blobs");
        fs.create_dir(dir).unwrap();
        let cache = Arc::new(Cache::with_capacity_bytes(1 << 20));
        let mut writer =
            BlobWriter::new(Arc::clone(&fs), dir, 1 << 20, CompressionType::None, None);
        let files = FileNumbers::new(1);
        let pointer = writer.write(&files, b"key", b"value").unwrap().unwrap();
        let file = writer.finish(&cache, None).unwrap().remove(0);
        for _ in 0..2 {
            // A miss, then a hit.
            assert_eq!(file.read(&pointer, b"key").unwrap(), "value");
            assert!(matches!(
                file.read(&pointer, b"other"),
                Err(Error::Corruption { .. })
            ));
            let longer = BlobPointer {
                value_len: 6,
                ..pointer
            };
            assert!(file.read(&longer, b"key").is_err());
        }
    }
}
