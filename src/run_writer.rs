//! The run writer: cuts a sorted stream of entries into table files of one level.
//!
//! Flush and compaction ([`RunWriter::write`]) and ingestion ([`RunBuilder`], one entry at a
//! time) all write through it:
//! - a new table starts once the current one reached the target size, always between two user
//!   keys, so a key's versions never span two tables of a run;
//! - every table file gets a fresh number from the version set's allocator and is created
//!   exclusively (`create_new`): a counter that went wrong or a stray file can never make it
//!   truncate a live table;
//! - each file is synced, then the tables directory, before the tables are opened and returned,
//!   so a manifest edit naming them can follow;
//! - on any error the files written so far are removed (best effort: a leftover is an orphan no
//!   version names, which the next open removes);
//! - range tombstones (`with_range_tombstones`) are clipped to each table's share of the key
//!   space: from the table's first key (the first table: from the start) to the next table's
//!   first key (the last table: to the end), so the gap between two tables stays covered (by the
//!   left one, whose bounds then end exclusively at the right one's first key) and no fragment is
//!   stored twice. Tombstones and no entry make a table of range tombstones alone.
//! - key-value separation (`Config::with_kv_separation`): a plain value of at least the
//!   separation threshold goes to a blob file ([`BlobWriter`]) and the table keeps an
//!   `Indirection` entry holding its pointer; a pointer into a blob file being relocated
//!   (`with_relocation`, garbage collection) has its value read and written again (to a new
//!   blob file, or inline when separation is off at this open). Each table's references (bytes
//!   per blob file) are counted as it is written; blob files are synced with the tables, before
//!   any manifest edit names them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::blob::writer::BlobWriter;
use crate::blob::{BlobFile, BlobPointer};
use crate::config::Config;
use crate::error::{CorruptionKind, Error, Result};
use crate::key::{Comparator, InternalValue, ValueType};
use crate::layout::{FileNumbers, table_path};
use crate::range_tombstone::FragList;
use crate::slice::Slice;
use crate::table::reader::{Table, TableContext};
use crate::table::writer::TableWriter;

/// What the run writer needs from its tree.
pub(crate) struct RunWriter<'a> {
    pub(crate) config: &'a Config,
    pub(crate) cmp: &'a Comparator,
    pub(crate) files: &'a FileNumbers,
    pub(crate) tables_dir: &'a Path,
    pub(crate) blobs_dir: &'a Path,
    pub(crate) table_ctx: &'a TableContext,
}

/// The tables a run writer wrote, opened, in key order, and the blob files it wrote.
pub(crate) struct WrittenRun {
    pub(crate) tables: Vec<Arc<Table>>,
    /// Their bytes on disk (tables and blob files).
    pub(crate) bytes: u64,
    /// The blob files written, opened.
    pub(crate) blob_files: Vec<Arc<BlobFile>>,
    /// Per table written (by id), the blob files it points into and the bytes it reaches.
    pub(crate) blob_refs: Vec<(u64, Vec<(u64, u64)>)>,
    /// The bytes written to blob files.
    pub(crate) blob_bytes: u64,
}

impl WrittenRun {
    /// The edit fields that add the blob files and the tables' references to them.
    pub(crate) fn add_blobs_to(&self, edit: &mut crate::version::edit::VersionEdit) {
        edit.add_blob_files = self.blob_files.iter().map(|b| b.id()).collect();
        edit.table_blob_refs.clone_from(&self.blob_refs);
    }

    /// Removes every file written (best effort): the run was discarded.
    pub(crate) fn discard(&self, fs: &dyn crate::fs::Fs) {
        for table in &self.tables {
            let _ = fs.remove(table.path());
        }
        for blob in &self.blob_files {
            let _ = fs.remove(blob.path());
        }
    }
}

/// What [`RunBuilder::finish`] returns: the tables' paths in key order, their bytes, and the
/// blob files.
pub(crate) struct FinishedRun {
    pub(crate) paths: Vec<PathBuf>,
    pub(crate) bytes: u64,
    pub(crate) blob_files: Vec<Arc<BlobFile>>,
    pub(crate) blob_refs: Vec<(u64, Vec<(u64, u64)>)>,
    pub(crate) blob_bytes: u64,
}

impl RunWriter<'_> {
    /// Writes `stream` as tables of `level` cut at `target_size`; see the module documentation.
    ///
    /// # Errors
    /// `Io` if a file cannot be created, written or synced; an error of the stream (a damaged
    /// input) as it is. The files written are removed first.
    pub(crate) fn write(
        &self,
        stream: impl Iterator<Item = Result<InternalValue>>,
        level: usize,
        target_size: u64,
        range_tombstones: FragList,
        relocate: BTreeMap<u64, Arc<BlobFile>>,
    ) -> Result<WrittenRun> {
        let mut builder = RunBuilder::new(level, target_size)
            .with_range_tombstones(range_tombstones)
            .with_relocation(relocate);
        let mut stream = stream;
        let written = stream
            .try_for_each(|entry| builder.add(self, &entry?))
            .and_then(|()| builder.finish(self));
        let opened = written.and_then(|finished| {
            let ctx = self.table_ctx.at_level(level);
            let tables = finished
                .paths
                .iter()
                .map(|path| Table::open(path, &ctx).map(Arc::new))
                .collect::<Result<Vec<_>>>()?;
            Ok(WrittenRun {
                tables,
                bytes: finished.bytes + finished.blob_bytes,
                blob_files: finished.blob_files,
                blob_refs: finished.blob_refs,
                blob_bytes: finished.blob_bytes,
            })
        });
        if opened.is_err() {
            builder.remove_files(self);
        }
        opened
    }
}

/// The table being written.
struct OpenTable {
    id: u64,
    writer: TableWriter,
    path: PathBuf,
    last_key: Slice,
    /// Bytes per blob file this table's pointers reach.
    blob_refs: BTreeMap<u64, u64>,
}

/// A run written one entry at a time (the push form of [`RunWriter::write`], for ingestion):
/// the same cuts, exclusive creation and syncs. Each call takes the tree's [`RunWriter`].
pub(crate) struct RunBuilder {
    level: usize,
    target_size: u64,
    current: Option<OpenTable>,
    /// Every file created, finished or not.
    created: Vec<PathBuf>,
    /// The finished tables, in key order.
    finished: Vec<PathBuf>,
    bytes: u64,
    /// The range tombstones to distribute over the tables.
    range_tombstones: FragList,
    /// The first key of the current table (`None` for the first: its share starts at the
    /// start).
    lower: Option<Slice>,
    /// The blob files written (created at the first separated value).
    blobs: Option<BlobWriter>,
    /// The blob files whose values are relocated.
    relocate: BTreeMap<u64, Arc<BlobFile>>,
    /// Per finished table, its references to blob files.
    blob_refs: Vec<(u64, Vec<(u64, u64)>)>,
    /// The blob files written, once finished.
    blob_files: Vec<Arc<BlobFile>>,
}

impl RunBuilder {
    /// An empty run of `level`, cut at `target_size`.
    pub(crate) fn new(level: usize, target_size: u64) -> Self {
        Self {
            level,
            target_size,
            current: None,
            created: Vec::new(),
            finished: Vec::new(),
            bytes: 0,
            range_tombstones: FragList::default(),
            lower: None,
            blobs: None,
            relocate: BTreeMap::new(),
            blob_refs: Vec::new(),
            blob_files: Vec::new(),
        }
    }

    /// Relocates the values of these blob files (garbage collection).
    pub(crate) fn with_relocation(mut self, relocate: BTreeMap<u64, Arc<BlobFile>>) -> Self {
        self.relocate = relocate;
        self
    }

    /// `entry` as the table stores it: a large value separated, a pointer into a relocated
    /// file rewritten; see the module documentation.
    fn separated(
        &mut self,
        run: &RunWriter<'_>,
        entry: &InternalValue,
    ) -> Result<Option<InternalValue>> {
        let options = run.config.kv_separation.as_ref();
        let value = match entry.key.value_type {
            ValueType::Value
                if options
                    .is_some_and(|o| entry.value.len() >= o.separation_threshold as usize) =>
            {
                entry.value.clone()
            }
            ValueType::Indirection => {
                let pointer =
                    BlobPointer::decode(&entry.value).map_err(|what| Error::Corruption {
                        file: run.blobs_dir.to_path_buf(),
                        offset: 0,
                        what,
                    })?;
                let Some(file) = self.relocate.get(&pointer.file_id) else {
                    return Ok(None);
                };
                let value = file.read(&pointer, &entry.key.user_key)?;
                if options.is_none_or(|o| value.len() < o.separation_threshold as usize) {
                    // Separation is off at this open (or the value is below its threshold
                    // now): the value goes back inline.
                    let mut inline = entry.clone();
                    inline.key.value_type = ValueType::Value;
                    inline.value = value;
                    return Ok(Some(inline));
                }
                value
            }
            _ => return Ok(None),
        };
        let Some(options) = options else {
            return Ok(None);
        };
        let writer = self.blobs.get_or_insert_with(|| {
            BlobWriter::new(
                std::sync::Arc::clone(&run.config.fs),
                run.blobs_dir,
                options.file_target_size,
                options.compression,
                run.table_ctx.dictionary.as_ref(),
            )
            .with_encryption(run.table_ctx.encryption.clone())
        });
        let Some(pointer) = writer.write(run.files, &entry.key.user_key, &value)? else {
            return Ok(None);
        };
        let mut separated = entry.clone();
        separated.key.value_type = ValueType::Indirection;
        separated.value = Slice::from(pointer.encode());
        Ok(Some(separated))
    }

    /// Distributes `list` over the tables; see the module documentation.
    pub(crate) fn with_range_tombstones(mut self, list: FragList) -> Self {
        self.range_tombstones = list;
        self
    }

    /// Appends `entry`, which must follow the previous one in internal-key order; starts a new
    /// table first if the current one reached the target size and `entry` starts a new user key.
    ///
    /// # Errors
    /// `Io` if a file cannot be created or written; `InvalidArgument` for an entry out of order.
    pub(crate) fn add(&mut self, run: &RunWriter<'_>, entry: &InternalValue) -> Result<()> {
        let cut = self.current.as_ref().is_some_and(|open| {
            // A table always takes at least one entry, whatever the target size.
            let full =
                open.writer.entry_count() > 0 && open.writer.size_bytes() >= self.target_size;
            full && !run.cmp.user(&entry.key.user_key, &open.last_key).is_eq()
        });
        if cut {
            self.finish_table(run, Some(&entry.key.user_key))?;
            self.lower = Some(entry.key.user_key.clone());
        }
        if self.current.is_none() {
            let table = self.create(run)?;
            self.current = Some(table);
        }
        let replaced = self.separated(run, entry)?;
        let entry = replaced.as_ref().unwrap_or(entry);
        if let Some(open) = &mut self.current {
            if entry.key.value_type == ValueType::Indirection {
                let pointer = BlobPointer::decode(&entry.value).map_err(|_| Error::Corruption {
                    file: open.path.clone(),
                    offset: 0,
                    what: CorruptionKind::InvalidField("blob pointer"),
                })?;
                *open.blob_refs.entry(pointer.file_id).or_insert(0) += pointer.record_len;
            }
            open.writer.add_entry(entry)?;
            open.last_key = entry.key.user_key.clone();
        }
        Ok(())
    }

    /// Creates the next table file.
    fn create(&mut self, run: &RunWriter<'_>) -> Result<OpenTable> {
        let id = run.files.next()?;
        let path = table_path(run.tables_dir, id);
        let file = run
            .config
            .fs
            .create_new(&path)
            .map_err(|e| Error::io("create table", Some(path.clone()), e))?;
        self.created.push(path.clone());
        let writer = TableWriter::new(
            file,
            &path,
            run.config.writer_options(self.level, id),
            run.cmp.clone(),
        );
        Ok(OpenTable {
            id,
            writer,
            path,
            last_key: Slice::default(),
            blob_refs: BTreeMap::new(),
        })
    }

    /// Finishes (and syncs) the current table, with the range tombstones of its share of the
    /// key space, up to `upper` (the next table's first key; `None`: the last table). With
    /// tombstones in that share and no table open, writes a table of them alone.
    fn finish_table(&mut self, run: &RunWriter<'_>, upper: Option<&[u8]>) -> Result<()> {
        let share = if self.range_tombstones.is_empty() {
            FragList::default()
        } else {
            self.range_tombstones
                .clip(self.lower.as_deref(), upper, run.cmp)
        };
        if self.current.is_none() && !share.is_empty() {
            self.current = Some(self.create(run)?);
        }
        if let Some(mut open) = self.current.take() {
            open.writer.set_range_tombstones(share);
            if let Some((_, size)) = open.writer.finish()? {
                self.bytes += size;
                self.finished.push(open.path);
                if !open.blob_refs.is_empty() {
                    self.blob_refs
                        .push((open.id, open.blob_refs.into_iter().collect()));
                }
            }
        }
        Ok(())
    }

    /// Finishes the last table and the blob files, and syncs the directories; returns the
    /// tables' paths in key order, their bytes and the blob files. The files stay until
    /// [`RunBuilder::remove_files`].
    ///
    /// # Errors
    /// `Io` if a write or sync fails.
    pub(crate) fn finish(&mut self, run: &RunWriter<'_>) -> Result<FinishedRun> {
        self.finish_table(run, None)?;
        let mut blob_bytes = 0;
        if let Some(blobs) = self.blobs.as_mut() {
            self.blob_files =
                blobs.finish(&run.table_ctx.cache, run.table_ctx.descriptors.as_ref())?;
            blob_bytes = blobs.bytes();
        }
        run.config
            .fs
            .sync_dir(run.tables_dir)
            .map_err(|e| Error::io("fsync directory", Some(run.tables_dir.to_path_buf()), e))?;
        Ok(FinishedRun {
            paths: self.finished.clone(),
            bytes: self.bytes,
            blob_files: self.blob_files.clone(),
            blob_refs: self.blob_refs.clone(),
            blob_bytes,
        })
    }

    /// Forgets the files (a version names them now, or may): nothing is removed later.
    pub(crate) fn keep(&mut self) {
        self.current = None;
        self.created.clear();
        self.finished.clear();
        if let Some(blobs) = self.blobs.as_mut() {
            blobs.keep();
        }
    }

    /// Removes every file created (best effort: a leftover is an orphan no version names, which
    /// the next open removes).
    pub(crate) fn remove_files(&mut self, run: &RunWriter<'_>) {
        self.remove_with(run.config.fs.as_ref());
    }

    /// [`RunBuilder::remove_files`] through `fs`.
    pub(crate) fn remove_with(&mut self, fs: &dyn crate::fs::Fs) {
        // NB: the open file is closed first.
        self.current = None;
        for path in self.created.drain(..) {
            let _ = fs.remove(&path);
        }
        self.finished.clear();
        if let Some(blobs) = self.blobs.as_mut() {
            blobs.remove_files();
        }
        self.blob_files.clear();
    }
}
