//! Planning: a strategy's [`Choice`] checked against the current version and the running jobs,
//! and completed into a [`Job`] whose tables are marked busy.
//!
//! - Unknown or busy tables, a destination past the last level, or a destination range that a
//!   running job into the same level writes give no job (the step does nothing).
//! - A job is closed over what must move with it, so that the order reads rely on holds after it
//!   commits (newer runs before older ones, upper levels before deeper ones; only ties of equal
//!   key and seqno depend on it, since reads take the highest visible seqno of every source):
//!   the overlapping tables of every run older than the job's newest input run in a source
//!   level; every overlapping table of the levels between the source levels and the
//!   destination; for a merge into a deeper level, the destination level's overlapping tables;
//!   for a merge within level 0, the overlapping tables of the runs between its newest and
//!   oldest input runs. If one of them is busy, there is no job.
//! - A move that would overlap (its tables each other, or the destination's) becomes a merge.
//! - A merge records what lies outside it ([`Beneath`]): the tables outside the job whose range
//!   overlaps it and every memtable, for the tombstone rules of the compaction stream.

use std::collections::HashSet;
use std::sync::Arc;

use super::stream::Beneath;
use super::{Choice, LevelInfo, RunInfo, TableInfo, TreeView};
use crate::key::Comparator;
use crate::key_range::KeyRange;
use crate::memtable::Memtable;
use crate::table::reader::Table;
use crate::version::{LEVEL_COUNT, Version};

/// Which tables running jobs hold, and the key ranges they write.
#[derive(Default)]
pub(crate) struct CompactionState {
    pub(crate) busy: HashSet<u64>,
    /// Per running job: its id, destination level and the key range it writes.
    pub(crate) writing: Vec<(u64, usize, KeyRange)>,
    pub(crate) next_job: u64,
}

impl CompactionState {
    /// Marks `ids` busy for a new job (writing `range` into `level`, if it writes); returns the
    /// job's id.
    pub(crate) fn register(
        &mut self,
        ids: impl IntoIterator<Item = u64>,
        writes: Option<(usize, KeyRange)>,
    ) -> u64 {
        let id = self.next_job;
        self.next_job += 1;
        self.busy.extend(ids);
        if let Some((level, range)) = writes {
            self.writing.push((id, level, range));
        }
        id
    }

    /// Forgets job `job` and its tables.
    pub(crate) fn release(&mut self, job: u64, ids: &HashSet<u64>) {
        for id in ids {
            self.busy.remove(id);
        }
        self.writing.retain(|w| w.0 != job);
    }
}

/// What a checked choice does.
pub(crate) enum JobKind {
    Merge {
        target_size: u64,
        /// The sources outside the job that may hold older versions of its keys.
        beneath: Vec<Beneath>,
    },
    Move,
    Drop,
}

/// A checked choice whose tables are marked busy.
pub(crate) struct Job {
    pub(crate) id: u64,
    pub(crate) kind: JobKind,
    /// The input tables, grouped by the run they belong to (each group in key order).
    pub(crate) groups: Vec<Vec<Arc<Table>>>,
    pub(crate) dest_level: usize,
    /// The version the job was planned on.
    pub(crate) planned_on: Arc<Version>,
    /// The memtables the job saw, each with its entry count then.
    pub(crate) memtables_seen: Vec<(Arc<Memtable>, usize)>,
    /// A garbage-collection step of blob files: it relocates from at least one due file.
    pub(crate) blob_gc: bool,
    /// A drop of tables that range tombstones delete whole below the GC watermark: no read at
    /// or above it changes, so no SuperVersion is kept for older reads (and the files go as
    /// soon as the last reader lets go).
    pub(crate) deletes_covered: bool,
}

impl Job {
    /// Every input table.
    pub(crate) fn tables(&self) -> impl Iterator<Item = &Arc<Table>> {
        self.groups.iter().flatten()
    }

    /// The ids of the input tables.
    pub(crate) fn ids(&self) -> HashSet<u64> {
        self.tables().map(|t| t.meta().table_id).collect()
    }
}

/// The range of a table.
pub(crate) fn range_of(table: &Table) -> KeyRange {
    let m = table.meta();
    KeyRange::with_end(m.min_key.clone(), m.max_key.clone(), m.max_key_exclusive)
}

/// A chosen table: its level, the position of its run in the level, and the table.
type Chosen = (usize, usize, Arc<Table>);

/// What planning needs besides the choice.
pub(crate) struct Planner<'a> {
    pub(crate) version: &'a Arc<Version>,
    pub(crate) cmp: &'a Comparator,
    /// The target size of a move turned into a merge.
    pub(crate) default_target: u64,
    /// Every memtable.
    pub(crate) memtables: Vec<Arc<Memtable>>,
}

impl Planner<'_> {
    /// The view a strategy sees of the version.
    pub(crate) fn view(&self, busy: &HashSet<u64>) -> TreeView {
        let levels = self
            .version
            .levels
            .iter()
            .map(|level| LevelInfo {
                runs: level
                    .runs
                    .iter()
                    .map(|run| RunInfo {
                        tables: run
                            .tables()
                            .iter()
                            .map(|t| {
                                let m = t.meta();
                                TableInfo {
                                    id: m.table_id,
                                    min_key: m.min_key.clone(),
                                    max_key: m.max_key.clone(),
                                    size_bytes: t.file_size(),
                                    blob_bytes: self.version.blob_bytes_of(m.table_id),
                                    entry_count: m.entry_count,
                                    tombstone_count: m.tombstone_count,
                                    weak_tombstone_count: m.weak_tombstone_count,
                                    range_tombstone_count: m.range_tombstone_count,
                                    range_deleted_bytes: self
                                        .version
                                        .range_deleted_bytes(m.table_id),
                                    seqno_min: m.seqno_min,
                                    seqno_max: m.seqno_max,
                                    created_at_micros: m.created_at_micros,
                                    busy: busy.contains(&m.table_id),
                                }
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        TreeView {
            levels,
            cmp: self.cmp.clone(),
            now_micros: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            memtables_empty: self.memtables.iter().all(|m| m.is_empty()),
        }
    }

    /// Checks `choice` and completes it into a job; see the module documentation.
    pub(crate) fn plan(&self, choice: Choice, state: &mut CompactionState) -> Option<Job> {
        let (ids, dest_level, mut kind) = match choice {
            Choice::DoNothing => return None,
            Choice::Drop { table_ids } => (table_ids, 0, JobKind::Drop),
            Choice::Move {
                table_ids,
                dest_level,
            } => (table_ids, usize::from(dest_level), JobKind::Move),
            Choice::Merge {
                table_ids,
                dest_level,
                target_size,
            } => (
                table_ids,
                usize::from(dest_level),
                JobKind::Merge {
                    target_size: target_size.max(1),
                    beneath: Vec::new(),
                },
            ),
        };
        if ids.is_empty() || dest_level >= LEVEL_COUNT {
            return None;
        }
        // Every table known and free; duplicates ignored.
        let mut chosen: Vec<Chosen> = Vec::with_capacity(ids.len());
        let mut seen = HashSet::new();
        for id in ids {
            if !seen.insert(id) {
                continue;
            }
            if state.busy.contains(&id) {
                return None;
            }
            let (level, run, table) = self.version.locate(id)?;
            chosen.push((level, run, Arc::clone(table)));
        }
        if !matches!(kind, JobKind::Drop) {
            if matches!(kind, JobKind::Move)
                && chosen.iter().all(|(level, _, _)| *level == dest_level)
            {
                return None;
            }
            if !self.close(&mut chosen, &mut seen, dest_level, &kind, state) {
                return None;
            }
            if matches!(kind, JobKind::Move) && !self.move_fits(&chosen, dest_level) {
                kind = JobKind::Merge {
                    target_size: self.default_target,
                    beneath: Vec::new(),
                };
                if !self.close(&mut chosen, &mut seen, dest_level, &kind, state) {
                    return None;
                }
            }
        }
        let range = KeyRange::union_all(
            chosen
                .iter()
                .map(|c| range_of(&c.2))
                .collect::<Vec<_>>()
                .iter(),
            self.cmp,
        )?;
        if !matches!(kind, JobKind::Drop)
            && state
                .writing
                .iter()
                .any(|(_, level, r)| *level == dest_level && r.overlaps(&range, self.cmp))
        {
            return None;
        }
        if let JobKind::Merge { beneath, .. } = &mut kind {
            *beneath = self.beneath(&seen, &range);
        }
        let groups = self.group_by_run(chosen);
        let writes = (!matches!(kind, JobKind::Drop)).then_some((dest_level, range));
        let id = state.register(groups.iter().flatten().map(|t| t.meta().table_id), writes);
        Some(Job {
            id,
            kind,
            groups,
            dest_level,
            planned_on: Arc::clone(self.version),
            memtables_seen: self
                .memtables
                .iter()
                .map(|m| (Arc::clone(m), m.len()))
                .collect(),
            blob_gc: false,
            deletes_covered: false,
        })
    }

    /// What lies outside a job over `seen` writing `range`: the other tables whose range overlaps
    /// it, and every memtable (any key, its seqno range).
    fn beneath(&self, seen: &HashSet<u64>, range: &KeyRange) -> Vec<Beneath> {
        let tables = self
            .version
            .tables()
            .filter(|t| !seen.contains(&t.meta().table_id))
            .map(|t| (range_of(t), t.meta()))
            .filter(|(r, _)| r.overlaps(range, self.cmp))
            .map(|(r, m)| Beneath {
                range: Some(r),
                seqno_min: m.seqno_min,
                seqno_max: m.seqno_max,
            });
        let memtables = self.memtables.iter().filter_map(|m| {
            Some(Beneath {
                range: None,
                seqno_min: m.get_lowest_seqno()?,
                seqno_max: m.get_highest_seqno()?,
            })
        });
        tables.chain(memtables).collect()
    }

    /// `chosen` grouped by the run each table belongs to, each group in key order.
    fn group_by_run(&self, mut chosen: Vec<Chosen>) -> Vec<Vec<Arc<Table>>> {
        chosen.sort_by(|a, b| {
            (a.0, a.1)
                .cmp(&(b.0, b.1))
                .then_with(|| self.cmp.user(&a.2.meta().min_key, &b.2.meta().min_key))
        });
        let mut groups: Vec<Vec<Arc<Table>>> = Vec::new();
        let mut last = None;
        for (level, run, table) in chosen {
            if last != Some((level, run)) {
                groups.push(Vec::new());
                last = Some((level, run));
            }
            if let Some(group) = groups.last_mut() {
                group.push(table);
            }
        }
        groups
    }

    /// Adds to `chosen` what must move with it (to a fixpoint; see the module documentation);
    /// `false` if one of those tables is busy.
    fn close(
        &self,
        chosen: &mut Vec<Chosen>,
        seen: &mut HashSet<u64>,
        dest: usize,
        kind: &JobKind,
        state: &CompactionState,
    ) -> bool {
        let merge = matches!(kind, JobKind::Merge { .. });
        loop {
            let ranges: Vec<KeyRange> = chosen.iter().map(|c| range_of(&c.2)).collect();
            let Some(range) = KeyRange::union_all(ranges.iter(), self.cmp) else {
                return true;
            };
            let min_src = chosen.iter().map(|c| c.0).min().unwrap_or(dest);
            let newest = |level: usize| chosen.iter().filter(|c| c.0 == level).map(|c| c.1).min();
            let oldest = |level: usize| chosen.iter().filter(|c| c.0 == level).map(|c| c.1).max();
            let mut added = Vec::new();
            for (l, level) in self.version.levels.iter().enumerate().take(dest + 1) {
                for (p, run) in level.runs.iter().enumerate() {
                    let needed = if l < dest {
                        l >= min_src && newest(l).is_none_or(|n| p > n)
                    } else if dest > 0 {
                        merge
                    } else {
                        newest(0).is_some_and(|n| p > n) && oldest(0).is_some_and(|o| p < o)
                    };
                    if !needed {
                        continue;
                    }
                    for t in run.tables() {
                        let id = t.meta().table_id;
                        if seen.contains(&id) || !range_of(t).overlaps(&range, self.cmp) {
                            continue;
                        }
                        if state.busy.contains(&id) {
                            return false;
                        }
                        seen.insert(id);
                        added.push((l, p, Arc::clone(t)));
                    }
                }
            }
            if added.is_empty() {
                return true;
            }
            chosen.extend(added);
        }
    }

    /// Whether `chosen` can move to `dest` as they are: pairwise disjoint, and (below level 0)
    /// disjoint from the tables already there.
    fn move_fits(&self, chosen: &[Chosen], dest: usize) -> bool {
        let ranges: Vec<KeyRange> = chosen.iter().map(|c| range_of(&c.2)).collect();
        if !KeyRange::pairwise_disjoint(&ranges.iter().collect::<Vec<_>>(), self.cmp) {
            return false;
        }
        if dest == 0 {
            return true;
        }
        let ids: HashSet<u64> = chosen.iter().map(|c| c.2.meta().table_id).collect();
        self.version.levels.get(dest).is_some_and(|level| {
            level.runs.len() <= 1
                && level.runs.iter().flat_map(|r| r.tables()).all(|t| {
                    ids.contains(&t.meta().table_id)
                        || ranges.iter().all(|r| !range_of(t).overlaps(r, self.cmp))
                })
        })
    }
}
