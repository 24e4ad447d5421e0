//! The run writer: cuts a sorted stream of entries into table files of one level.
//!
//! Flush and compaction (and, later, ingestion) all write through it:
//! - a new table starts once the current one reached the target size, always between two user
//!   keys, so a key's versions never span two tables of a run;
//! - every table file gets a fresh number from the version set's allocator and is created
//!   exclusively (`create_new`): a counter that went wrong or a stray file can never make it
//!   truncate a live table;
//! - each file is synced, then the tables directory, before the tables are opened and returned,
//!   so a manifest edit naming them can follow;
//! - on any error the files written so far are removed (best effort: a leftover is an orphan no
//!   version names, which the next open removes).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::key::{Comparator, InternalValue};
use crate::layout::{FileNumbers, table_path};
use crate::slice::Slice;
use crate::table::reader::{Table, TableContext};
use crate::table::writer::TableWriter;

/// What the run writer needs from its tree.
pub(crate) struct RunWriter<'a> {
    pub(crate) config: &'a Config,
    pub(crate) cmp: &'a Comparator,
    pub(crate) files: &'a FileNumbers,
    pub(crate) tables_dir: &'a Path,
    pub(crate) table_ctx: &'a TableContext,
}

/// The tables a run writer wrote, opened, in key order.
pub(crate) struct WrittenRun {
    pub(crate) tables: Vec<Arc<Table>>,
    /// Their bytes on disk.
    pub(crate) bytes: u64,
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
    ) -> Result<WrittenRun> {
        let mut created = Vec::new();
        let result = self.write_files(stream, level, target_size, &mut created);
        let opened = result.and_then(|(paths, bytes)| {
            let ctx = self.table_ctx.at_level(level);
            let tables = paths
                .iter()
                .map(|path| Table::open(path, &ctx).map(Arc::new))
                .collect::<Result<Vec<_>>>()?;
            Ok(WrittenRun { tables, bytes })
        });
        if opened.is_err() {
            for path in &created {
                // NB: best effort; a leftover file is never named by a version.
                let _ = self.config.fs.remove(path);
            }
        }
        opened
    }

    fn write_files(
        &self,
        stream: impl Iterator<Item = Result<InternalValue>>,
        level: usize,
        target_size: u64,
        created: &mut Vec<PathBuf>,
    ) -> Result<(Vec<PathBuf>, u64)> {
        let mut stream = stream.peekable();
        let mut tables = Vec::new();
        let mut bytes = 0;
        while stream.peek().is_some() {
            let id = self.files.next()?;
            let path = table_path(self.tables_dir, id);
            let file = self
                .config
                .fs
                .create_new(&path)
                .map_err(|e| Error::io("create table", Some(path.clone()), e))?;
            created.push(path.clone());
            let mut writer = TableWriter::new(
                file,
                &path,
                self.config.writer_options(level, id),
                self.cmp.clone(),
            );
            let mut last_key: Option<Slice> = None;
            while let Some(entry) = stream.next_if(|next| {
                // Cut only between user keys, once the table reached its target size.
                // A table always takes at least one entry, whatever the target size.
                let full = writer.entry_count() > 0 && writer.size_bytes() >= target_size;
                let same_key = match (next, &last_key) {
                    (Ok(e), Some(k)) => self.cmp.user(&e.key.user_key, k).is_eq(),
                    _ => false,
                };
                !full || same_key
            }) {
                let entry = entry?;
                writer.add_entry(&entry)?;
                last_key = Some(entry.key.user_key);
            }
            if let Some((_, size)) = writer.finish()? {
                bytes += size;
                tables.push(path);
            }
        }
        self.config
            .fs
            .sync_dir(self.tables_dir)
            .map_err(|e| Error::io("fsync directory", Some(self.tables_dir.to_path_buf()), e))?;
        Ok((tables, bytes))
    }
}
