//! Read-only views of a version, for tools and tests: [`VersionView`] (what
//! [`Tree::current_version`](crate::Tree::current_version) returns), [`TableView`],
//! [`BlobFileView`] and [`Checksum`].
//!
//! A view holds the version's `Arc` and each table view its table's `Arc`: taking one costs an
//! atomic load and a reference count, reads nothing from disk, and keeps the tables (and their
//! files) alive until it drops, while the tree goes on flushing and compacting. Everything a view
//! reports was read when the table was opened (the meta block, the file size) and never changes.
//!
//! Thread safety: every view is `Send + Sync` and immutable.

use std::path::Path;
use std::sync::Arc;

use super::Version;
use crate::seqno::SeqNo;
use crate::slice::UserKey;
use crate::table::reader::Table;

/// A read-only snapshot of a tree's shape: its levels, runs and tables as one version holds them.
///
/// Taken by [`Tree::current_version`](crate::Tree::current_version); it does not change when the
/// tree does, and it keeps the files it names from being deleted until it drops (so drop it
/// rather than keep it for long: a compaction's inputs stay on disk meanwhile).
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let tree = strata::Config::new(&dir, Default::default(), Default::default()).open()?;
/// tree.insert("a", "1", 0);
/// tree.flush_active_memtable(0)?;
/// let version = tree.current_version();
/// assert_eq!(version.level_count(), 7);
/// assert_eq!(version.table_count(), 1);
/// tree.major_compact(64 << 20, 0)?;
/// // The snapshot still shows the table in level 0; the tree has moved on.
/// assert_eq!(version.iter_tables().map(|t| t.level()).collect::<Vec<_>>(), [0]);
/// assert_eq!(tree.current_version().iter_tables().next().map(|t| t.level()), Some(6));
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct VersionView {
    version: Arc<Version>,
    blobs: Vec<BlobFileView>,
}

impl VersionView {
    pub(crate) fn new(version: Arc<Version>) -> Self {
        let blobs = version
            .blob_staleness()
            .into_iter()
            .map(|(file, stale_bytes)| BlobFileView {
                id: file.id(),
                path: Arc::from(file.path()),
                len: file.record_count(),
                file_size: file.file_size(),
                stale_bytes,
            })
            .collect();
        Self { version, blobs }
    }

    /// Every table, level by level (0 first); within a level, run by run in read order (level 0:
    /// newest run first), and within a run in key order.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = strata::Config::new(&dir, Default::default(), Default::default()).open()?;
    /// tree.insert("a", "1", 0);
    /// tree.remove("b", 1);
    /// tree.flush_active_memtable(0)?;
    /// let version = tree.current_version();
    /// let table = version.iter_tables().next().unwrap();
    /// assert_eq!(table.level(), 0);
    /// assert_eq!(table.key_range(), (&"a".into(), &"b".into()));
    /// assert_eq!(table.seqno_range(), (0, 1));
    /// assert_eq!((table.entry_count(), table.tombstone_count()), (2, 1));
    /// assert_eq!(table.path(), tree.path().join("tables").join(format!("{}.sst", table.id())));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn iter_tables(&self) -> impl Iterator<Item = TableView> + '_ {
        self.version
            .levels
            .iter()
            .enumerate()
            .flat_map(|(level, l)| {
                l.runs.iter().flat_map(move |run| {
                    run.tables().iter().map(move |table| TableView {
                        table: Arc::clone(table),
                        level,
                    })
                })
            })
    }

    /// The number of tables, in every level.
    pub fn table_count(&self) -> usize {
        self.version.tables().count()
    }

    /// The blob files the version's tables point into (key-value separation), by id (oldest
    /// first), each with its stale bytes as of this version.
    ///
    /// ```
    /// use strata::{Config, KvSeparationOptions, SequenceNumberCounter};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default())
    ///     .with_kv_separation(Some(KvSeparationOptions::default()))
    ///     .open()?;
    /// assert_eq!(tree.current_version().blob_files().count(), 0);
    /// tree.insert("doc", vec![0u8; 2048], 0);
    /// tree.flush_active_memtable(0)?;
    /// let version = tree.current_version();
    /// let blob = version.blob_files().next().unwrap();
    /// assert_eq!((blob.len(), blob.stale_bytes()), (1, 0));
    /// assert!(blob.path().ends_with(format!("blobs/{}.blob", blob.id())));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn blob_files(&self) -> impl ExactSizeIterator<Item = &BlobFileView> + '_ {
        self.blobs.iter()
    }

    /// The number of levels (7), empty ones included.
    pub fn level_count(&self) -> usize {
        self.version.levels.len()
    }
}

/// One table of a [`VersionView`]: its file and what its meta block records.
///
/// Holds the table's `Arc`: cheap to clone, no I/O, valid after the tree dropped the table.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let tree = strata::Config::new(&dir, Default::default(), Default::default()).open()?;
/// tree.insert("k", "v", 7);
/// tree.flush_active_memtable(0)?;
/// let table = tree.current_version().iter_tables().next().unwrap();
/// assert_eq!(table.id(), 0);
/// assert_eq!(table.file_size(), tree.disk_space());
/// assert_eq!(table.seqno_range(), (7, 7));
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct TableView {
    table: Arc<Table>,
    level: usize,
}

impl TableView {
    /// The table's id; its file is `tables/<id>.sst` in the tree's directory.
    pub fn id(&self) -> u64 {
        self.table.meta().table_id
    }

    /// The level the table sits in (0 to 6) in the version it came from.
    pub fn level(&self) -> usize {
        self.level
    }

    /// The table file's path.
    pub fn path(&self) -> &Path {
        self.table.path()
    }

    /// The table file's size in bytes.
    pub fn file_size(&self) -> u64 {
        self.table.file_size()
    }

    /// The first and the last user key in the table (a closed range, in the comparator's order).
    pub fn key_range(&self) -> (&UserKey, &UserKey) {
        let meta = self.table.meta();
        (&meta.min_key, &meta.max_key)
    }

    /// The lowest and the highest seqno of an entry in the table.
    pub fn seqno_range(&self) -> (SeqNo, SeqNo) {
        let meta = self.table.meta();
        (meta.seqno_min, meta.seqno_max)
    }

    /// The number of entries: every version of every key, tombstones included.
    pub fn entry_count(&self) -> u64 {
        self.table.meta().entry_count
    }

    /// The number of tombstones, weak tombstones not included.
    pub fn tombstone_count(&self) -> u64 {
        self.table.meta().tombstone_count
    }

    /// The number of weak tombstones.
    pub fn weak_tombstone_count(&self) -> u64 {
        self.table.meta().weak_tombstone_count
    }

    /// What the file records that identifies its contents.
    ///
    /// A table file has no whole-file checksum: every block carries its own (xxh3-64, in its
    /// header; `docs/format.md`). This is the pair the table was opened with: the meta block's
    /// checksum in the high 64 bits (the meta block holds the table's id, creation time, counts,
    /// key range and seqno range) and the top-level index block's in the low 64 bits (the index
    /// holds every data block's last key and place). Two tables with the same checksum hold the
    /// same meta and index blocks; a copy of a file keeps its checksum. It costs nothing to
    /// read, and it does not verify the data blocks: use
    /// [`verify_integrity`](crate::verify::verify_integrity) for that.
    pub fn checksum(&self) -> Checksum {
        let (meta, index) = self.table.stored_checksums();
        Checksum((u128::from(meta) << 64) | u128::from(index))
    }
}

/// A 128-bit value that identifies a file's contents; see [`TableView::checksum`].
///
/// ```
/// use strata::Checksum;
///
/// let checksum = Checksum::from_raw(0xab);
/// assert_eq!(checksum.into_u128(), 0xab);
/// assert_eq!(checksum.to_string(), "000000000000000000000000000000ab");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Checksum(u128);

impl Checksum {
    /// Wraps a raw value.
    #[must_use]
    pub fn from_raw(value: u128) -> Self {
        Self(value)
    }

    /// The raw value.
    #[must_use]
    pub fn into_u128(self) -> u128 {
        self.0
    }
}

impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// A blob file of a [`VersionView`]: a file of separated values.
#[derive(Clone, Debug)]
pub struct BlobFileView {
    id: u64,
    path: Arc<Path>,
    len: u64,
    file_size: u64,
    stale_bytes: u64,
}

impl BlobFileView {
    /// The blob file's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The blob file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The number of values the file holds.
    #[expect(clippy::len_without_is_empty, reason = "a blob file is never empty")]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The bytes of values in the file that no live entry points to any more (whole records,
    /// as stored).
    pub fn stale_bytes(&self) -> u64 {
        self.stale_bytes
    }

    /// The file's size in bytes.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }
}

#[cfg(test)]
mod tests {
    use super::{TableView, VersionView};

    #[test]
    fn views_are_send_sync_and_static() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<VersionView>();
        assert_traits::<TableView>();
        assert_traits::<super::BlobFileView>();
    }
}
