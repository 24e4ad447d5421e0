//! Compaction steps: `compact` (one step of a strategy), `major_compact`, `drop_range` and
//! `clear`.
//!
//! 1. Under the compaction state lock, the strategy sees a [`TreeView`] of the current version
//!    (tables held by running compactions are marked busy) and returns a [`Choice`]. The choice
//!    is checked and completed into a job: unknown or busy tables, or a destination range that a
//!    running compaction into the same level writes, give `Nothing`; a merge into a deeper level
//!    also takes that level's overlapping tables; a move that would overlap becomes a merge. The
//!    job's tables are marked busy, so compactions on other threads take disjoint tables.
//! 2. A merge reads its inputs (one source per run) through the compaction stream with the
//!    caller's GC watermark, the tables outside the job whose ranges overlap it (a tombstone older
//!    than every such table that could hold its key has nothing beneath it) and the compaction
//!    filter, and writes tables of the destination level; each file and then the directory are
//!    synced. A move or a drop writes nothing.
//! 3. Under the version lock, the job checks that its inputs are all still in the current
//!    version (a `clear` or `drop_range` may have removed them: the job then deletes what it
//!    wrote and does nothing), appends and syncs one manifest edit, and publishes a version built
//!    from the current one (flushes may have added level-0 runs meanwhile).
//! 4. Steps that change what reads see (a drop, a merge in which the filter changed an item,
//!    `drop_range`, `clear`) take the next seqno C from the write counter; the SuperVersion from
//!    before is kept for reads at seqnos up to C, until a GC watermark above C lets it go.
//! 5. Only then are the inputs marked obsolete: a file is deleted when the last reader lets go
//!    of its table. A crash before that leaves orphans the next open removes. A failure while
//!    writing the tables deletes them; a failure of the manifest edit keeps them (the edit may be
//!    on disk anyway and name them; if it is not, the next open removes them as orphans). Either
//!    failure poisons the tree.

use std::collections::HashSet;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::inner::{SuperVersion, Tree};
use crate::compaction::filter::Context;
use crate::compaction::stream::{ActiveFilter, CompactionStream, GcRules};
use crate::compaction::{
    Choice, CompactionAction, CompactionResult, CompactionStrategy, LevelInfo, RunInfo, TableInfo,
    TreeView,
};
use crate::error::{Error, Result};
use crate::merge::{BoxedSource, Merger};
use crate::seqno::SeqNo;
use crate::slice::Slice;
use crate::table::reader::Table;
use crate::version::edit::VersionEdit;
use crate::version::{LEVEL_COUNT, Run, RunIter, Version};

/// Which tables running compactions hold, and the key ranges they write.
#[derive(Default)]
pub(crate) struct CompactionState {
    busy: HashSet<u64>,
    /// Per running job: its destination level and the key range it writes.
    writing: Vec<(u64, usize, Slice, Slice)>,
    next_job: u64,
}

/// What a checked choice does.
enum JobKind {
    Merge {
        target_size: u64,
        /// The tables outside the job whose ranges overlap it: `(min, max, seqno_min)`.
        beneath: Vec<(Slice, Slice, SeqNo)>,
    },
    Move,
    Drop,
}

/// A checked choice whose tables are marked busy.
struct Job {
    id: u64,
    kind: JobKind,
    /// The input tables, grouped by the run they belong to (each group in key order).
    groups: Vec<Vec<Arc<Table>>>,
    dest_level: usize,
}

impl Job {
    fn tables(&self) -> impl Iterator<Item = &Arc<Table>> {
        self.groups.iter().flatten()
    }

    fn ids(&self) -> HashSet<u64> {
        self.tables().map(|t| t.meta().table_id).collect()
    }
}

/// Unmarks a job's tables when the job ends, however it ends.
struct BusyGuard<'a> {
    tree: &'a Tree,
    job: u64,
    ids: HashSet<u64>,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.tree.0.compactions.lock();
        for id in &self.ids {
            state.busy.remove(id);
        }
        state.writing.retain(|w| w.0 != self.job);
        drop(state);
        self.tree.0.compaction_done.notify_all();
    }
}

/// The level of `id` in `version` and the position of its run.
fn locate(version: &Version, id: u64) -> Option<(usize, usize, &Arc<Table>)> {
    version.levels.iter().enumerate().find_map(|(li, level)| {
        level.runs.iter().enumerate().find_map(|(ri, run)| {
            run.tables()
                .iter()
                .find(|t| t.meta().table_id == id)
                .map(|t| (li, ri, t))
        })
    })
}

fn level_u8(level: usize) -> u8 {
    u8::try_from(level).unwrap_or(u8::MAX)
}

impl Tree {
    /// The view a strategy sees of `version`.
    fn view(&self, version: &Version, busy: &HashSet<u64>) -> TreeView {
        let levels = version
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
                                    entry_count: m.entry_count,
                                    tombstone_count: m.tombstone_count,
                                    weak_tombstone_count: m.weak_tombstone_count,
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
            cmp: self.0.cmp.clone(),
            now_micros: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        }
    }

    /// Whether `[a_min, a_max]` and `[b_min, b_max]` share a key.
    fn overlap(&self, a_min: &[u8], a_max: &[u8], b_min: &[u8], b_max: &[u8]) -> bool {
        self.0.cmp.user(a_min, b_max).is_le() && self.0.cmp.user(b_min, a_max).is_le()
    }

    /// The smallest and largest key of `tables`.
    fn range_of<'a>(&self, tables: impl IntoIterator<Item = &'a Arc<Table>>) -> (Slice, Slice) {
        let mut range: Option<(Slice, Slice)> = None;
        for t in tables {
            let m = t.meta();
            range = Some(match range {
                None => (m.min_key.clone(), m.max_key.clone()),
                Some((lo, hi)) => (
                    if self.0.cmp.user(&m.min_key, &lo).is_lt() {
                        m.min_key.clone()
                    } else {
                        lo
                    },
                    if self.0.cmp.user(&m.max_key, &hi).is_gt() {
                        m.max_key.clone()
                    } else {
                        hi
                    },
                ),
            });
        }
        range.unwrap_or_default()
    }

    /// Checks `choice` against `version` and the running jobs; on success marks its tables busy.
    fn plan(&self, choice: Choice, version: &Version, state: &mut CompactionState) -> Option<Job> {
        let (ids, dest_level, mut kind) = match choice {
            Choice::DoNothing => return None,
            Choice::Drop { table_ids } => (table_ids, None, JobKind::Drop),
            Choice::Move {
                table_ids,
                dest_level,
            } => (table_ids, Some(usize::from(dest_level)), JobKind::Move),
            Choice::Merge {
                table_ids,
                dest_level,
                target_size,
            } => (
                table_ids,
                Some(usize::from(dest_level)),
                JobKind::Merge {
                    target_size: target_size.max(1),
                    beneath: Vec::new(),
                },
            ),
        };
        let dest_level = dest_level.unwrap_or(0);
        if ids.is_empty() || dest_level >= LEVEL_COUNT {
            return None;
        }
        // Every table known and free; duplicates ignored.
        let mut chosen: Vec<(usize, usize, Arc<Table>)> = Vec::with_capacity(ids.len());
        let mut seen = HashSet::new();
        for id in ids {
            if !seen.insert(id) {
                continue;
            }
            if state.busy.contains(&id) {
                return None;
            }
            let (level, run, table) = locate(version, id)?;
            chosen.push((level, run, Arc::clone(table)));
        }
        if matches!(kind, JobKind::Move) {
            let fits = self.move_fits(&chosen, dest_level, version);
            if chosen.iter().all(|(level, _, _)| *level == dest_level) {
                return None;
            }
            if !fits {
                kind = JobKind::Merge {
                    target_size: self.0.config.table_target_size,
                    beneath: Vec::new(),
                };
            }
        }
        if let JobKind::Merge { .. } = kind
            && dest_level > 0
            && !self.take_overlapping(&mut chosen, &mut seen, dest_level, version, state)
        {
            return None;
        }
        let (lo, hi) = self.range_of(chosen.iter().map(|c| &c.2));
        if !matches!(kind, JobKind::Drop)
            && state
                .writing
                .iter()
                .any(|(_, level, a, b)| *level == dest_level && self.overlap(a, b, &lo, &hi))
        {
            return None;
        }
        if let JobKind::Merge { beneath, .. } = &mut kind {
            *beneath = version
                .tables()
                .map(|t| t.meta())
                .filter(|m| {
                    !seen.contains(&m.table_id) && self.overlap(&m.min_key, &m.max_key, &lo, &hi)
                })
                .map(|m| (m.min_key.clone(), m.max_key.clone(), m.seqno_min))
                .collect();
        }
        let groups = self.group_by_run(chosen);
        let id = state.next_job;
        state.next_job += 1;
        for t in groups.iter().flatten() {
            state.busy.insert(t.meta().table_id);
        }
        if !matches!(kind, JobKind::Drop) {
            state.writing.push((id, dest_level, lo, hi));
        }
        Some(Job {
            id,
            kind,
            groups,
            dest_level,
        })
    }

    /// `chosen` grouped by the run each table belongs to, each group in key order.
    fn group_by_run(&self, mut chosen: Vec<(usize, usize, Arc<Table>)>) -> Vec<Vec<Arc<Table>>> {
        chosen.sort_by(|a, b| {
            (a.0, a.1)
                .cmp(&(b.0, b.1))
                .then_with(|| self.0.cmp.user(&a.2.meta().min_key, &b.2.meta().min_key))
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

    /// Adds to `chosen` the tables of `dest_level` that overlap it (to a fixpoint); `false` if
    /// one of them is busy.
    fn take_overlapping(
        &self,
        chosen: &mut Vec<(usize, usize, Arc<Table>)>,
        seen: &mut HashSet<u64>,
        dest_level: usize,
        version: &Version,
        state: &CompactionState,
    ) -> bool {
        let Some(level) = version.levels.get(dest_level) else {
            return true;
        };
        loop {
            let (lo, hi) = self.range_of(chosen.iter().map(|c| &c.2));
            let mut grew = false;
            for (ri, run) in level.runs.iter().enumerate() {
                for t in run.tables() {
                    let m = t.meta();
                    if seen.contains(&m.table_id) || !self.overlap(&m.min_key, &m.max_key, &lo, &hi)
                    {
                        continue;
                    }
                    if state.busy.contains(&m.table_id) {
                        return false;
                    }
                    seen.insert(m.table_id);
                    chosen.push((dest_level, ri, Arc::clone(t)));
                    grew = true;
                }
            }
            if !grew {
                return true;
            }
        }
    }

    /// Whether `chosen` can move to `dest` as they are: pairwise disjoint, and (below level 0)
    /// disjoint from the tables already there.
    fn move_fits(
        &self,
        chosen: &[(usize, usize, Arc<Table>)],
        dest: usize,
        version: &Version,
    ) -> bool {
        let ids: HashSet<u64> = chosen.iter().map(|c| c.2.meta().table_id).collect();
        let disjoint = |a: &Table, b: &Table| {
            !self.overlap(
                &a.meta().min_key,
                &a.meta().max_key,
                &b.meta().min_key,
                &b.meta().max_key,
            )
        };
        for (i, a) in chosen.iter().enumerate() {
            for b in chosen.iter().skip(i + 1) {
                if !disjoint(&a.2, &b.2) {
                    return false;
                }
            }
        }
        if dest == 0 {
            return true;
        }
        version.levels.get(dest).is_some_and(|level| {
            level.runs.len() <= 1
                && level.runs.iter().flat_map(|r| r.tables()).all(|t| {
                    ids.contains(&t.meta().table_id) || chosen.iter().all(|c| disjoint(t, &c.2))
                })
        })
    }

    /// Runs one step of `strategy` on the caller's thread and returns what it did; a caller
    /// loops until the action is [`CompactionAction::Nothing`]. Several threads may compact at
    /// once: each step takes tables no other running step holds.
    ///
    /// `seqno_threshold` is the GC watermark: versions that no read at or above it can see are
    /// dropped.
    ///
    /// # Errors
    /// `Io` if a table or the manifest cannot be written (the tree is then poisoned and the
    /// inputs stay); `Poisoned` after an earlier failure; `Corruption` if an input is damaged; an
    /// error a compaction filter returns (nothing changes).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use strata::compaction::{CompactionAction, Leveled};
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let seqno = SequenceNumberCounter::default();
    /// # let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
    /// let strategy = Arc::new(Leveled::default().with_l0_threshold(2));
    /// for round in 0..4 {
    ///     tree.insert("k", format!("v{round}"), seqno.next());
    ///     tree.flush_active_memtable(0)?;
    ///     while tree.compact(strategy.clone(), seqno.get())?.action != CompactionAction::Nothing {}
    /// }
    /// assert!(tree.l0_run_count() < 2);
    /// assert_eq!(tree.get("k", seqno.get())?, Some("v3".into()));
    /// # Ok::<(), strata::Error>(())
    /// ```
    #[expect(clippy::needless_pass_by_value, reason = "the signature API.md gives")]
    pub fn compact(
        &self,
        strategy: Arc<dyn CompactionStrategy>,
        seqno_threshold: SeqNo,
    ) -> Result<CompactionResult> {
        self.step(seqno_threshold, |tree, state| {
            let version = Arc::clone(&tree.super_version().version);
            let view = tree.view(&version, &state.busy);
            let choice = strategy.choose(&view);
            tree.plan(choice, &version, &mut *state)
        })
    }

    /// Merges every table into the last level, dropping each version that no read at or above
    /// `seqno_threshold` can see and every tombstone with nothing left beneath it, so space comes
    /// back. Tables are cut at `target_size` bytes. Memtables are not flushed first. Waits for
    /// running compactions to finish first.
    ///
    /// # Errors
    /// As [`Tree::compact`].
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default()).open()?;
    /// for i in 0..3u64 {
    ///     tree.insert("k", format!("v{i}"), i);
    ///     tree.flush_active_memtable(0)?;
    /// }
    /// tree.remove("gone", 3);
    /// assert_eq!(tree.table_count(), 3);
    /// let result = tree.major_compact(64 << 20, 4)?;
    /// assert_eq!((result.tables_in, result.tables_out), (3, 1));
    /// assert_eq!(tree.table_count(), 1);
    /// assert_eq!(tree.get("k", 4)?, Some("v2".into()));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn major_compact(
        &self,
        target_size: u64,
        seqno_threshold: SeqNo,
    ) -> Result<CompactionResult> {
        self.step(seqno_threshold, |tree, state| {
            while !state.busy.is_empty() || !state.writing.is_empty() {
                tree.0.compaction_done.wait(state);
            }
            let version = Arc::clone(&tree.super_version().version);
            let table_ids: Vec<u64> = version.tables().map(|t| t.meta().table_id).collect();
            tree.plan(
                Choice::Merge {
                    table_ids,
                    dest_level: level_u8(LEVEL_COUNT - 1),
                    target_size,
                },
                &version,
                &mut *state,
            )
        })
    }

    /// One compaction step: refuses a poisoned tree, releases the history below the watermark,
    /// plans a job with `plan` under the compaction state lock, and runs it.
    fn step(
        &self,
        seqno_threshold: SeqNo,
        plan: impl FnOnce(&Self, &mut parking_lot::MutexGuard<'_, CompactionState>) -> Option<Job>,
    ) -> Result<CompactionResult> {
        if self.is_poisoned() {
            return Err(Error::Poisoned);
        }
        self.prune_history(seqno_threshold);
        let job = plan(self, &mut self.0.compactions.lock());
        match job {
            Some(job) => self.run_job(&job, seqno_threshold),
            None => Ok(CompactionResult::nothing()),
        }
    }

    /// Carries out a planned job; its tables stay busy until it returns.
    fn run_job(&self, job: &Job, threshold: SeqNo) -> Result<CompactionResult> {
        let _busy = BusyGuard {
            tree: self,
            job: job.id,
            ids: job.ids(),
        };
        let tables_in = job.tables().count();
        let dest = job.dest_level;
        let (action, outputs, changed) = match job.kind {
            JobKind::Drop => (CompactionAction::Dropped, Vec::new(), true),
            JobKind::Move => (
                CompactionAction::Moved,
                {
                    let mut moved: Vec<_> = job.tables().cloned().collect();
                    moved.sort_by(|a, b| self.0.cmp.user(&a.meta().min_key, &b.meta().min_key));
                    moved
                },
                false,
            ),
            JobKind::Merge {
                target_size,
                ref beneath,
            } => {
                let (tables, changed) = self.merge(job, target_size, beneath, threshold)?;
                (CompactionAction::Merged, tables, changed)
            }
        };
        let inputs: HashSet<u64> = job.ids();
        let tables_out = if matches!(action, CompactionAction::Moved) {
            0
        } else {
            outputs.len()
        };
        let written: Vec<Arc<Table>> = if matches!(action, CompactionAction::Merged) {
            outputs.clone()
        } else {
            Vec::new()
        };
        let published = self.publish(&inputs, dest, outputs, changed, &written)?;
        if !published {
            return Ok(CompactionResult::nothing());
        }
        if !matches!(action, CompactionAction::Moved) {
            for table in job.tables() {
                table.mark_obsolete();
            }
        }
        Ok(CompactionResult {
            action,
            dest_level: (!matches!(action, CompactionAction::Dropped)).then(|| level_u8(dest)),
            tables_in,
            tables_out,
        })
    }

    /// Merges a job's inputs into new tables of its level; returns them and whether a
    /// compaction filter changed an item.
    fn merge(
        &self,
        job: &Job,
        target_size: u64,
        beneath: &[(Slice, Slice, SeqNo)],
        threshold: SeqNo,
    ) -> Result<(Vec<Arc<Table>>, bool)> {
        let inner = &self.0;
        let sources: Vec<BoxedSource> = job
            .groups
            .iter()
            .map(|group| -> BoxedSource {
                Box::new(RunIter::new(
                    Arc::new(Run::new(group.clone())),
                    &inner.cmp,
                    (Bound::Unbounded, Bound::Unbounded),
                    SeqNo::MAX,
                ))
            })
            .collect();
        let rules = GcRules {
            threshold,
            tombstone_floor: beneath.iter().map(|b| b.2).min().unwrap_or(GcRules::BOTTOM),
            cancel_weak: true,
        };
        let filter = inner
            .config
            .compaction_filter_factory
            .as_ref()
            .map(|factory| {
                let ctx = Context::new(level_u8(job.dest_level), job.dest_level == LEVEL_COUNT - 1);
                ActiveFilter {
                    filter: factory.make_filter(&ctx),
                    ctx,
                    changed: 0,
                }
            });
        let mut stream = CompactionStream::new(
            Merger::new(sources, inner.cmp.clone()),
            inner.cmp.clone(),
            rules,
        )
        .with_filter(filter)
        .with_beneath(beneath.to_vec());
        let written = self.write_tables(stream.by_ref(), job.dest_level, target_size);
        let filter = stream.take_filter();
        let changed = filter.as_ref().is_some_and(|f| f.changed > 0);
        if let Some(filter) = filter {
            filter.filter.finish();
        }
        match written {
            Ok((tables, bytes)) => {
                inner.bytes_compacted.fetch_add(bytes, Ordering::Relaxed);
                Ok((tables, changed))
            }
            Err(err) => {
                if matches!(err, Error::Io { .. }) {
                    inner.poisoned.store(true, Ordering::Release);
                }
                Err(err)
            }
        }
    }

    /// Commits a change: `inputs` leave the version and `added` join `dest`. Returns `false`
    /// (and deletes `written`) if an input is no longer in the current version. With `changes`
    /// (the step changes what reads see), the step takes a seqno and the SuperVersion from before
    /// is kept for reads at older seqnos.
    fn publish(
        &self,
        inputs: &HashSet<u64>,
        dest: usize,
        added: Vec<Arc<Table>>,
        changes: bool,
        written: &[Arc<Table>],
    ) -> Result<bool> {
        let inner = &self.0;
        let discard = || {
            for table in written {
                // NB: best effort; a leftover file is never named by a version.
                let _ = inner.config.fs.remove(table.path());
            }
        };
        let _guard = inner.version_lock.lock();
        let current = inner.super_version.load_full();
        let present = current
            .version
            .tables()
            .filter(|t| inputs.contains(&t.meta().table_id))
            .count();
        if present != inputs.len() {
            discard();
            return Ok(false);
        }
        let (next, placement) = current
            .version
            .with_changes(inputs, dest, added, &inner.cmp);
        let mut remove_tables: Vec<u64> = inputs.iter().copied().collect();
        remove_tables.extend(placement.readded.iter().copied());
        let edit = VersionEdit {
            next_table_id: Some(inner.next_table_id.load(Ordering::Acquire)),
            highest_seqno: next.tables().map(|t| t.meta().seqno_max).max(),
            add_runs: if placement.run.is_empty() {
                Vec::new()
            } else {
                vec![(level_u8(dest), placement.run)]
            },
            remove_tables,
            ..VersionEdit::default()
        };
        if let Err(err) = inner.manifest.lock().append(&edit) {
            // NB: the new files stay. A failed append or fsync does not mean the edit is absent:
            // its bytes may be on disk (a failed fsync says nothing about what reached it), and
            // a later open that replays the edit needs the tables it names. If the edit did not
            // land, the next open removes the files as orphans (as after a failed flush).
            inner.poisoned.store(true, Ordering::Release);
            return Err(err);
        }
        let next = Arc::new(next);
        let successor = SuperVersion {
            active: Arc::clone(&current.active),
            sealed: current.sealed.clone(),
            version: Arc::clone(&next),
        };
        if changes {
            self.publish_changing(current, successor);
        } else {
            inner.super_version.store(Arc::new(successor));
        }
        self.rewrite_manifest_if_large(&next);
        Ok(true)
    }

    /// Publishes a SuperVersion that changes what reads see: takes the next seqno C, keeps
    /// `before` for reads at seqnos up to C, then raises the visible seqno. Call with the version
    /// lock held.
    fn publish_changing(&self, before: Arc<SuperVersion>, successor: SuperVersion) {
        let inner = &self.0;
        let seqno = inner.config.seqno.next();
        {
            let mut history = inner.history.lock();
            history.push((seqno, before));
            inner.history_max.fetch_max(seqno, Ordering::AcqRel);
        }
        inner.super_version.store(Arc::new(successor));
        inner
            .config
            .visible_seqno
            .fetch_max(inner.config.seqno.get());
    }

    /// Lets go of the SuperVersions kept for reads below `watermark`.
    pub(crate) fn prune_history(&self, watermark: SeqNo) {
        let inner = &self.0;
        if inner.history_max.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut history = inner.history.lock();
        history.retain(|(seqno, _)| *seqno >= watermark);
        inner.history_max.store(
            history.last().map_or(0, |(seqno, _)| *seqno),
            Ordering::Release,
        );
    }

    /// Drops the tables whose key ranges lie inside `range`, whole (data in the memtables and in
    /// tables that straddle the range stays). Reads at seqnos before the drop still see the data
    /// until a GC watermark passes it; the files go when nothing reads them.
    ///
    /// # Errors
    /// `Io` if the manifest cannot be written (the tree is then poisoned); `Poisoned` after an
    /// earlier failure.
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// let seqno = SequenceNumberCounter::default();
    /// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
    /// tree.insert("a", "1", seqno.next());
    /// tree.flush_active_memtable(0)?;
    /// tree.insert("x", "2", seqno.next());
    /// tree.flush_active_memtable(0)?;
    /// tree.drop_range("a"..="m")?;
    /// assert_eq!(tree.table_count(), 1);
    /// assert_eq!(tree.get("a", seqno.get())?, None);
    /// assert_eq!(tree.get("x", seqno.get())?, Some("2".into()));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn drop_range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Result<()> {
        if self.is_poisoned() {
            return Err(Error::Poisoned);
        }
        let cmp = &self.0.cmp;
        let inside = |t: &Table| {
            let m = t.meta();
            let low = match range.start_bound() {
                Bound::Included(k) => cmp.user(&m.min_key, k.as_ref()).is_ge(),
                Bound::Excluded(k) => cmp.user(&m.min_key, k.as_ref()).is_gt(),
                Bound::Unbounded => true,
            };
            let high = match range.end_bound() {
                Bound::Included(k) => cmp.user(&m.max_key, k.as_ref()).is_le(),
                Bound::Excluded(k) => cmp.user(&m.max_key, k.as_ref()).is_lt(),
                Bound::Unbounded => true,
            };
            low && high
        };
        let version = Arc::clone(&self.super_version().version);
        let dropped: Vec<Arc<Table>> = version.tables().filter(|t| inside(t)).cloned().collect();
        if dropped.is_empty() {
            return Ok(());
        }
        let ids: HashSet<u64> = dropped.iter().map(|t| t.meta().table_id).collect();
        // NB: tables a running compaction holds are dropped too; that compaction then finds
        // its inputs gone and discards its output.
        if self.publish(&ids, 0, Vec::new(), true, &[])? {
            for table in &dropped {
                table.mark_obsolete();
            }
        }
        Ok(())
    }

    /// Removes everything: the memtables and every table. Reads at seqnos before the clear still
    /// see the data until a GC watermark passes it; the files go when nothing reads them.
    /// A flush or compaction running meanwhile discards its output.
    ///
    /// # Errors
    /// `Io` if the manifest cannot be written (the tree is then poisoned); `Poisoned` after an
    /// earlier failure.
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// let seqno = SequenceNumberCounter::default();
    /// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
    /// tree.insert("a", "1", seqno.next());
    /// tree.flush_active_memtable(0)?;
    /// tree.insert("b", "2", seqno.next());
    /// let before = seqno.get();
    /// tree.clear()?;
    /// assert!(tree.is_empty(seqno.get(), None)?);
    /// assert_eq!(tree.table_count(), 0);
    /// assert_eq!(tree.get("a", before)?, Some("1".into()), "an older snapshot still reads");
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn clear(&self) -> Result<()> {
        let inner = &self.0;
        if self.is_poisoned() {
            return Err(Error::Poisoned);
        }
        let _guard = inner.version_lock.lock();
        let current = inner.super_version.load_full();
        let removed: Vec<Arc<Table>> = current.version.tables().cloned().collect();
        if !removed.is_empty() {
            let edit = VersionEdit {
                next_table_id: Some(inner.next_table_id.load(Ordering::Acquire)),
                remove_tables: removed.iter().map(|t| t.meta().table_id).collect(),
                ..VersionEdit::default()
            };
            if let Err(err) = inner.manifest.lock().append(&edit) {
                inner.poisoned.store(true, Ordering::Release);
                return Err(err);
            }
        }
        for memtable in current.memtables() {
            memtable.seal();
        }
        let empty = Arc::new(Version::default());
        self.publish_changing(
            Arc::clone(&current),
            SuperVersion {
                active: Arc::new(crate::memtable::Memtable::with_comparator(
                    inner.cmp.clone(),
                )),
                sealed: Vec::new(),
                version: Arc::clone(&empty),
            },
        );
        self.rewrite_manifest_if_large(&empty);
        for table in &removed {
            table.mark_obsolete();
        }
        Ok(())
    }
}
