//! Versions: the immutable set of tables a read sees, and the runs and levels they form.
//!
//! - [`Version`]: `LEVEL_COUNT` levels; each level a list of runs; each run a list of tables
//!   with disjoint key ranges, sorted by key. Level 0 holds one run per flush (a flush disjoint from the newest run joins it), newest first;
//!   deeper levels (built by compaction) usually hold one run each.
//! - [`RunIter`]: a double-ended scan over one run.
//!
//! - [`edit`]: a version edit, the manifest's record; [`manifest`]: the append-only log of edits
//!   and `CURRENT`; [`recovery`]: creating or recovering a tree's directory; [`read_only`]:
//!   reading a directory's manifest and tables in place, for tools; [`view`]: the read-only
//!   views of a version that `Tree::current_version` hands out.
//!
//! - [`set`]: the [`set::VersionSet`]: the current version, the manifest writer, file numbers
//!   and the poison state behind the version lock, with one `log_and_apply`; [`obsolete`]:
//!   files whose last reader went, deleted by maintenance calls, never on a read's thread.
//!
//! A version never changes: a flush builds a new one, commits its edit to the manifest (synced),
//! and publishes it in a new SuperVersion. A reader that holds a version keeps its tables (and
//! their open files) alive.

pub(crate) mod edit;
pub(crate) mod manifest;
pub(crate) mod obsolete;
#[cfg(any(feature = "internals", test))]
pub(crate) mod read_only;
pub(crate) mod recovery;
mod run;
pub(crate) mod set;
pub(crate) mod view;

pub(crate) use run::{Run, RunIter};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::blob::BlobFile;
use crate::key::Comparator;
use crate::key_range::KeyRange;
use crate::range_tombstone::FragList;
use crate::seqno::SeqNo;
use crate::slice::Slice;
use crate::table::reader::Table;

pub(crate) use crate::config::LEVEL_COUNT;

/// One level: its runs (level 0: newest first).
#[derive(Clone, Default, Debug)]
pub(crate) struct Level {
    pub(crate) runs: Vec<Arc<Run>>,
}

/// An immutable snapshot of the tree's tables; see the module documentation.
#[derive(Clone, Debug)]
pub(crate) struct Version {
    pub(crate) levels: Vec<Level>,
    /// Every table's range tombstones in one fragmented list (see
    /// [`Version::range_tombstones`]).
    range_tombstones: std::sync::OnceLock<Option<Arc<FragList>>>,
    /// The smallest and the largest key of the tables that hold entries (see
    /// [`Version::may_hold`]); `None` without such a table.
    key_span: std::sync::OnceLock<Option<(Slice, Slice)>>,
    /// Per table with range tombstones (by id), the bytes of other tables they delete (see
    /// [`Version::range_deleted_bytes`]).
    range_deleted: std::sync::OnceLock<BTreeMap<u64, u64>>,
    /// The blob files some table points into, by id.
    pub(crate) blob_files: BTreeMap<u64, Arc<BlobFile>>,
    /// Per table (by id), the blob files it points into and the record bytes it reaches in each.
    pub(crate) blob_refs: BTreeMap<u64, Vec<(u64, u64)>>,
}

impl Default for Version {
    fn default() -> Self {
        Self {
            levels: vec![Level::default(); LEVEL_COUNT],
            range_tombstones: std::sync::OnceLock::new(),
            key_span: std::sync::OnceLock::new(),
            range_deleted: std::sync::OnceLock::new(),
            blob_files: BTreeMap::new(),
            blob_refs: BTreeMap::new(),
        }
    }
}

/// The ids of a version's tables: per level, its runs in read order (level 0: newest first),
/// each run's table ids in key order; and the global seqno of each ingested table. Version edits
/// apply to a shape ([`edit::VersionEdit::apply`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) levels: Vec<Vec<Vec<u64>>>,
    /// Ingested tables (by id) and the seqno all their entries read at.
    pub(crate) table_seqnos: BTreeMap<u64, SeqNo>,
    /// The blob files of the version.
    pub(crate) blob_files: BTreeSet<u64>,
    /// Per table, the blob files it points into and the bytes it reaches in each.
    pub(crate) blob_refs: BTreeMap<u64, Vec<(u64, u64)>>,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            levels: vec![Vec::new(); LEVEL_COUNT],
            table_seqnos: BTreeMap::new(),
            blob_files: BTreeSet::new(),
            blob_refs: BTreeMap::new(),
        }
    }
}

impl Shape {
    /// Every table id.
    pub(crate) fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.levels.iter().flatten().flatten().copied()
    }
}

impl Version {
    /// The ids of this version's tables.
    pub(crate) fn shape(&self) -> Shape {
        Shape {
            blob_files: self.blob_files.keys().copied().collect(),
            blob_refs: self.blob_refs.clone(),
            table_seqnos: self
                .tables()
                .filter_map(|t| Some((t.meta().table_id, t.global_seqno()?)))
                .collect(),
            levels: self
                .levels
                .iter()
                .map(|level| {
                    level
                        .runs
                        .iter()
                        .map(|run| run.tables().iter().map(|t| t.meta().table_id).collect())
                        .collect()
                })
                .collect(),
        }
    }

    /// The version of `shape`, with each table found by `lookup` and each blob file by
    /// `lookup_blob`; a run whose tables are the same as one of `reuse`'s is shared, not
    /// rebuilt. Returns the id of a file that was not found.
    pub(crate) fn from_shape(
        shape: &Shape,
        reuse: Option<&Version>,
        mut lookup: impl FnMut(u64) -> Option<Arc<Table>>,
        mut lookup_blob: impl FnMut(u64) -> Option<Arc<BlobFile>>,
    ) -> Result<Self, u64> {
        let mut version = Self::default();
        for &id in &shape.blob_files {
            version.blob_files.insert(id, lookup_blob(id).ok_or(id)?);
        }
        version.blob_refs.clone_from(&shape.blob_refs);
        for (i, runs) in shape.levels.iter().enumerate() {
            let Some(slot) = version.levels.get_mut(i) else {
                continue;
            };
            for ids in runs {
                let shared = reuse.and_then(|old| {
                    old.levels.get(i)?.runs.iter().find(|run| {
                        run.tables().len() == ids.len()
                            && run
                                .tables()
                                .iter()
                                .zip(ids)
                                .all(|(t, id)| t.meta().table_id == *id)
                    })
                });
                if let Some(run) = shared {
                    slot.runs.push(Arc::clone(run));
                    continue;
                }
                let tables = ids
                    .iter()
                    .map(|id| lookup(*id).ok_or(*id))
                    .collect::<Result<Vec<_>, _>>()?;
                slot.runs.push(Arc::new(Run::new(tables)));
            }
        }
        version.range_tombstones();
        Ok(version)
    }

    /// The level of table `id`, the position of its run in that level, and the table.
    pub(crate) fn locate(&self, id: u64) -> Option<(usize, usize, &Arc<Table>)> {
        self.levels.iter().enumerate().find_map(|(li, level)| {
            level.runs.iter().enumerate().find_map(|(ri, run)| {
                run.tables()
                    .iter()
                    .find(|t| t.meta().table_id == id)
                    .map(|t| (li, ri, t))
            })
        })
    }

    /// The range tombstones of every table, merged into one fragmented list (`None` without
    /// any): a read's one binary search for all tables. Range tombstones hide by seqno alone,
    /// whatever the level, so one list serves every level. Built once per version, when the
    /// version is built (`from_shape` and recovery call this); the levels must not change
    /// afterwards.
    pub(crate) fn range_tombstones(&self) -> Option<&Arc<FragList>> {
        self.range_tombstones
            .get_or_init(|| {
                let lists: Vec<&Table> = self
                    .tables()
                    .filter(|t| !t.range_tombstones().is_empty())
                    .map(AsRef::as_ref)
                    .collect();
                let cmp = lists.first()?.cmp().clone();
                Some(Arc::new(FragList::merge(
                    lists.iter().map(|t| t.range_tombstones().as_ref()),
                    &cmp,
                )))
            })
            .as_ref()
    }

    /// An estimate of the bytes of other tables that table `id`'s range tombstones delete:
    /// per table overlapping them whose entries are all older than the newest of them, its file
    /// size times the share of its index spans (data blocks, or partitions of a partitioned
    /// index) that fragments newer than its entries cover ([`Version::deleted_share`]). 0 for a
    /// table without range tombstones. Strategies weigh it
    /// ([`crate::compaction::TableInfo::range_deleted_bytes`]). Built once per version, on first
    /// use (it may read index blocks).
    pub(crate) fn range_deleted_bytes(&self, id: u64) -> u64 {
        let map = self.range_deleted.get_or_init(|| {
            let mut map = BTreeMap::new();
            for table in self.tables().filter(|t| !t.range_tombstones().is_empty()) {
                let list = table.range_tombstones();
                let (Some((_, top)), Some((start, end))) = (list.seqno_range(), list.key_span())
                else {
                    continue;
                };
                let cmp = table.cmp();
                let span = KeyRange::with_end(start.clone(), end.clone(), true);
                let mut bytes = 0u64;
                for other in self.tables() {
                    let m = other.meta();
                    if m.table_id == table.meta().table_id
                        || m.entry_count == 0
                        || m.kv_seqno_max >= top
                    {
                        continue;
                    }
                    let range = KeyRange::with_end(
                        m.min_key.clone(),
                        m.max_key.clone(),
                        m.max_key_exclusive,
                    );
                    if !range.overlaps(&span, cmp) {
                        continue;
                    }
                    #[expect(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        clippy::cast_precision_loss,
                        reason = "an estimate, between 0 and the file size"
                    )]
                    let deleted = (other.file_size() as f64
                        * Self::deleted_share(other, list, &range, cmp))
                        as u64;
                    bytes = bytes.saturating_add(deleted);
                }
                if bytes > 0 {
                    map.insert(table.meta().table_id, bytes);
                }
            }
            map
        });
        map.get(&id).copied().unwrap_or(0)
    }

    /// The share (0 to 1) of `table`'s index spans that fragments of `list` newer than its
    /// entries cover, each fragment counted from the span holding its start to the span holding
    /// its end (a fragment inside one span counts nothing). An index that cannot be read counts
    /// nothing: this is an estimate for strategies, and the read that fails will say so.
    #[expect(clippy::cast_precision_loss, reason = "an estimate")]
    fn deleted_share(table: &Table, list: &FragList, range: &KeyRange, cmp: &Comparator) -> f64 {
        let Ok(spans) = table.index_spans() else {
            return 0.0;
        };
        let count = spans.len() as f64;
        if count == 0.0 {
            return 0.0;
        }
        let rank = |key: &[u8]| {
            table
                .segment_partition_point(&spans, key, |k| cmp.user(k, key).is_lt())
                .map_or(0.0, |p| p as f64 / count)
        };
        let m = table.meta();
        list.deleting(range, m.kv_seqno_max, cmp)
            .map(|f| {
                let lo = if cmp.user(f.start, &m.min_key).is_le() {
                    0.0
                } else {
                    rank(f.start)
                };
                let hi = if cmp.user(f.end, &m.max_key).is_gt() {
                    1.0
                } else {
                    rank(f.end)
                };
                (hi - lo).max(0.0)
            })
            .sum::<f64>()
            .clamp(0.0, 1.0)
    }

    /// Whether some table of the version may hold an entry for `key`: false when `key` lies
    /// below the smallest key or above the largest key of every table with entries, so that a
    /// point read outside the data (a missing key past the end, say) skips every run at once.
    /// Built once per version, on first use.
    pub(crate) fn may_hold(&self, cmp: &Comparator, key: &[u8]) -> bool {
        let span = self.key_span.get_or_init(|| {
            let mut span: Option<(Slice, Slice)> = None;
            for table in self.tables().filter(|t| t.meta().entry_count > 0) {
                let (min, max) = (&table.meta().min_key, &table.meta().max_key);
                span = Some(match span {
                    None => (min.clone(), max.clone()),
                    Some((lo, hi)) => (
                        if cmp.user(min, &lo).is_lt() {
                            min.clone()
                        } else {
                            lo
                        },
                        if cmp.user(max, &hi).is_gt() {
                            max.clone()
                        } else {
                            hi
                        },
                    ),
                });
            }
            span
        });
        // NB: a table's bounds cover its range tombstones too (its largest key may be a
        // tombstone's exclusive end): the span may be wider than the entries, never narrower.
        span.as_ref()
            .is_some_and(|(lo, hi)| cmp.user(key, lo).is_ge() && cmp.user(key, hi).is_le())
    }

    /// The blob file `id`, if the version holds it.
    pub(crate) fn blob_file(&self, id: u64) -> Option<&Arc<BlobFile>> {
        self.blob_files.get(&id)
    }

    /// The value of `entry`: its own bytes, or for an `Indirection` entry, the value its
    /// pointer names in one of the version's blob files.
    ///
    /// # Errors
    /// `Corruption` for a damaged pointer, a blob file the version does not hold, or a damaged
    /// record; `Io` if the blob file cannot be read.
    pub(crate) fn load_value(
        &self,
        entry: &crate::key::InternalValue,
    ) -> crate::Result<crate::slice::Slice> {
        if entry.key.value_type != crate::key::ValueType::Indirection {
            return Ok(entry.value.clone());
        }
        let (file, pointer) = self.blob_of(entry)?;
        file.read(&pointer, &entry.key.user_key)
    }

    /// The blob file and pointer of an `Indirection` entry.
    ///
    /// # Errors
    /// `Corruption` for a damaged pointer or a blob file the version does not hold.
    pub(crate) fn blob_of(
        &self,
        entry: &crate::key::InternalValue,
    ) -> crate::Result<(&Arc<BlobFile>, crate::blob::BlobPointer)> {
        let missing = |what| crate::Error::Corruption {
            file: std::path::PathBuf::from(crate::layout::BLOBS_FOLDER),
            offset: 0,
            what,
        };
        let pointer = crate::blob::BlobPointer::decode(&entry.value).map_err(missing)?;
        let file = self.blob_file(pointer.file_id).ok_or_else(|| {
            missing(crate::error::CorruptionKind::InvalidField(
                "a pointer into a blob file the version does not hold",
            ))
        })?;
        Ok((file, pointer))
    }

    /// The record bytes of each blob file that the version's tables point into.
    pub(crate) fn live_blob_bytes(&self) -> BTreeMap<u64, u64> {
        let mut live = BTreeMap::new();
        for (blob, bytes) in self.blob_refs.values().flatten() {
            *live.entry(*blob).or_insert(0u64) += *bytes;
        }
        live
    }

    /// Per blob file: (the file, its stale bytes), in id order (oldest first).
    pub(crate) fn blob_staleness(&self) -> Vec<(&Arc<BlobFile>, u64)> {
        let live = self.live_blob_bytes();
        self.blob_files
            .iter()
            .map(|(id, file)| {
                let live = live.get(id).copied().unwrap_or(0);
                (file, file.record_bytes().saturating_sub(live))
            })
            .collect()
    }

    /// The bytes of blob records no table of the version points to.
    pub(crate) fn stale_blob_bytes(&self) -> u64 {
        self.blob_staleness().iter().map(|(_, stale)| stale).sum()
    }

    /// The record bytes of blob files that `table` reaches.
    pub(crate) fn blob_bytes_of(&self, table: u64) -> u64 {
        self.blob_refs
            .get(&table)
            .map_or(0, |refs| refs.iter().map(|(_, bytes)| bytes).sum())
    }

    /// Every run, in read order: level 0 newest first, then the deeper levels.
    pub(crate) fn runs(&self) -> impl Iterator<Item = &Arc<Run>> {
        self.levels.iter().flat_map(|level| level.runs.iter())
    }

    /// Every table.
    pub(crate) fn tables(&self) -> impl Iterator<Item = &Arc<crate::table::reader::Table>> {
        self.runs().flat_map(|run| run.tables().iter())
    }
}
