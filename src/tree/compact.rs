//! Compaction steps: `compact` (one step of a strategy) and `major_compact`.
//!
//! 1. Under the compaction state lock, the strategy sees a [`TreeView`] of the current version
//!    (tables held by running jobs are marked busy) and returns a [`Choice`], which
//!    [`crate::compaction::plan`] checks and completes into a job whose tables are marked busy.
//! 2. A merge runs its inputs through the compaction stream with the caller's GC watermark and
//!    what lies outside the job (tables and memtables), and the run writer writes tables of the
//!    destination level ([`crate::compaction::job`]). A move or a drop writes nothing.
//! 3. Under the version lock, the job checks that its inputs are all still in the current
//!    version (a `clear` or `drop_range` may have removed them) and that no source older than a
//!    tombstone it dropped appeared meanwhile (a late write with an old seqno, a flush): else it
//!    deletes what it wrote and does nothing. Then one edit goes through the version set's
//!    `log_and_apply` (which refuses a poisoned tree), and the next SuperVersion is published.
//! 4. Steps that change what reads see (a drop, a merge in which the filter changed an item)
//!    keep the SuperVersion from before for reads at older seqnos (see `super_version`).
//! 5. Only then are the inputs marked obsolete: a file is deleted once the last reader lets go
//!    of its table and a maintenance call purges the queue. A failure while writing the tables
//!    deletes them; a failure of the manifest edit keeps them (the edit may be on disk anyway and
//!    name them; if it is not, the next open removes them as orphans). Either poisons the tree.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::handle::Tree;
use super::super_version::SuperVersion;
use crate::blob::BlobFile;
use crate::compaction::job::{self, level_u8};
use crate::compaction::plan::{CompactionState, Job, JobKind, Planner, range_of};
use crate::compaction::{Choice, CompactionAction, CompactionResult, CompactionStrategy, TreeView};
use crate::config::KvSeparationOptions;
use crate::error::Result;
use crate::key_range::KeyRange;
use crate::seqno::SeqNo;
use crate::table::reader::Table;
use crate::version::{LEVEL_COUNT, Version};

/// Unmarks a job's tables when the job ends, however it ends.
pub(crate) struct BusyGuard<'a> {
    pub(crate) tree: &'a Tree,
    pub(crate) job: u64,
    pub(crate) ids: HashSet<u64>,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.tree.0.compactions.lock().release(self.job, &self.ids);
        self.tree.0.compaction_done.notify_all();
    }
}

/// What a job produced, ready to commit.
struct Outcome {
    action: CompactionAction,
    /// The tables placed in the destination (new ones for a merge, the moved ones for a move).
    placed: Vec<Arc<Table>>,
    /// A merge's output, with the blob files it wrote.
    written: Option<crate::run_writer::WrittenRun>,
    /// Whether the step changes what reads see.
    changes: bool,
    max_decided: Option<SeqNo>,
}

impl Tree {
    /// A planner over the current SuperVersion.
    fn planner<'a>(&'a self, super_version: &'a SuperVersion) -> Planner<'a> {
        Planner {
            version: &super_version.version,
            cmp: &self.0.cmp,
            default_target: self.0.config.table_target_size,
            memtables: super_version.memtables().cloned().collect(),
        }
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
            let super_version = tree.super_version();
            let planner = tree.planner(&super_version);
            // NB: tables the range tombstones of other tables delete whole go first, without
            // being read (Pebble's delete-only compaction), whatever the strategy.
            if let Some(mut job) = tree
                .deleted_tables(&super_version.version, &state.busy, seqno_threshold)
                .and_then(|table_ids| planner.plan(Choice::Drop { table_ids }, state))
            {
                job.deletes_covered = true;
                return Some(job);
            }
            let view: TreeView = planner.view(&state.busy);
            let choice = strategy.choose(&view);
            planner.plan(choice, state).or_else(|| {
                let choice = tree.blob_gc_choice(&super_version.version)?;
                let mut job = planner.plan(choice, state)?;
                job.blob_gc = true;
                Some(job)
            })
        })
    }

    /// The free tables whose every entry a range tombstone of another table deletes for every
    /// read at or above `watermark`: a tombstone below the watermark and newer than all their
    /// entries, over their whole range. Dropping them changes no such read. Tables that hold
    /// range tombstones themselves are kept (theirs may hide entries elsewhere), and memtables'
    /// range tombstones do not count (a `Tree` loses them in a crash). `None` when there is
    /// none.
    fn deleted_tables(
        &self,
        version: &Version,
        busy: &HashSet<u64>,
        watermark: SeqNo,
    ) -> Option<Vec<u64>> {
        let list = version.range_tombstones()?;
        let ids: Vec<u64> = version
            .tables()
            .filter(|t| {
                let m = t.meta();
                m.entry_count > 0
                    && m.range_tombstone_count == 0
                    && m.kv_seqno_max < watermark
                    && !busy.contains(&m.table_id)
                    && list.covers_whole(&range_of(t), m.kv_seqno_max, watermark, &self.0.cmp)
            })
            .map(|t| t.meta().table_id)
            .collect();
        (!ids.is_empty()).then_some(ids)
    }

    /// The blob files whose live values compactions relocate now: those whose stale fraction
    /// reached the staleness threshold, the oldest `age_cutoff` fraction of them. A strategy's
    /// merge takes that fraction rounded down (as the seed does: with few candidates it leaves
    /// them, so values an ongoing overwrite will replace anyway are not copied); a garbage
    /// collection step (`at_least_one`) takes at least one. Blob files written under an earlier
    /// open are collected with the default thresholds when separation is off.
    pub(crate) fn relocation_set(
        &self,
        version: &Version,
        at_least_one: bool,
    ) -> BTreeMap<u64, Arc<BlobFile>> {
        if version.blob_files.is_empty() {
            return BTreeMap::new();
        }
        let defaults = KvSeparationOptions::default();
        let options = self.0.config.kv_separation.as_ref().unwrap_or(&defaults);
        let threshold = f64::from(options.staleness_threshold.clamp(0.0, 1.0));
        let candidates: Vec<&Arc<BlobFile>> = version
            .blob_staleness()
            .into_iter()
            .filter(|(file, stale)| {
                #[expect(clippy::cast_precision_loss, reason = "a ratio")]
                let fraction = *stale as f64 / file.record_bytes().max(1) as f64;
                *stale > 0 && fraction >= threshold
            })
            .map(|(file, _)| file)
            .collect();
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "a fraction of a count, clamped to it"
        )]
        let fraction = (f64::from(options.age_cutoff.clamp(0.0, 1.0)) * candidates.len() as f64)
            .floor() as usize;
        let take = if at_least_one {
            fraction.clamp(1, candidates.len().max(1))
        } else {
            fraction.min(candidates.len())
        };
        candidates
            .into_iter()
            .take(take)
            .map(|file| (file.id(), Arc::clone(file)))
            .collect()
    }

    /// A merge of the tables that point into the blob files due for relocation (in the deepest
    /// level among them), so that garbage collection reaches blob files whose tables no
    /// strategy would compact; `None` when no blob file is due.
    fn blob_gc_choice(&self, version: &Version) -> Option<Choice> {
        let due = self.relocation_set(version, true);
        if due.is_empty() {
            return None;
        }
        let table_ids: Vec<u64> = version
            .blob_refs
            .iter()
            .filter(|(_, refs)| refs.iter().any(|(blob, _)| due.contains_key(blob)))
            .map(|(table, _)| *table)
            .collect();
        let dest_level = table_ids
            .iter()
            .filter_map(|id| version.locate(*id).map(|(level, _, _)| level))
            .max()?;
        Some(Choice::Merge {
            table_ids,
            dest_level: level_u8(dest_level),
            target_size: self.0.config.table_target_size,
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
        let result = self.step(seqno_threshold, |tree, state| {
            while !state.busy.is_empty() || !state.writing.is_empty() {
                tree.0.compaction_done.wait(state);
            }
            let super_version = tree.super_version();
            let table_ids: Vec<u64> = super_version
                .version
                .tables()
                .map(|t| t.meta().table_id)
                .collect();
            tree.planner(&super_version).plan(
                Choice::Merge {
                    table_ids,
                    dest_level: level_u8(LEVEL_COUNT - 1),
                    target_size,
                },
                state,
            )
        })?;
        // Garbage collection of blob files: the merge made values stale that it could not know
        // were stale when it started; relocate the live rest of the files now due, until none is
        // (each step empties the files it relocates; the bound only guards against a bug).
        let mut steps = self.blob_file_count().saturating_mul(2).saturating_add(2);
        while steps > 0 {
            steps -= 1;
            let gc = self.step(seqno_threshold, |tree, state| {
                let super_version = tree.super_version();
                let choice = tree.blob_gc_choice(&super_version.version)?;
                let mut job = tree.planner(&super_version).plan(choice, state)?;
                job.blob_gc = true;
                Some(job)
            })?;
            if gc.action == CompactionAction::Nothing {
                break;
            }
        }
        Ok(result)
    }

    /// One compaction step: refuses a poisoned tree, releases the history below the watermark,
    /// plans a job with `plan` under the compaction state lock, and runs it.
    fn step(
        &self,
        seqno_threshold: SeqNo,
        plan: impl FnOnce(&Self, &mut parking_lot::MutexGuard<'_, CompactionState>) -> Option<Job>,
    ) -> Result<CompactionResult> {
        self.0.versions.poison.check()?;
        self.release_below(seqno_threshold);
        let job = plan(self, &mut self.0.compactions.lock());
        let started = std::time::Instant::now();
        let result = match job {
            Some(job) => self.run_job(&job, seqno_threshold),
            None => Ok(CompactionResult::nothing()),
        };
        if result
            .as_ref()
            .is_ok_and(|r| r.action != CompactionAction::Nothing)
        {
            self.0.compactions_run.fetch_add(1, Ordering::Relaxed);
            self.0.compaction_micros.fetch_add(
                u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        }
        self.0.versions.obsolete.purge();
        result
    }

    /// Carries out a planned job; its tables stay busy until it returns.
    fn run_job(&self, job: &Job, watermark: SeqNo) -> Result<CompactionResult> {
        let _busy = BusyGuard {
            tree: self,
            job: job.id,
            ids: job.ids(),
        };
        let tables_in = job.tables().count();
        let outcome = match &job.kind {
            JobKind::Drop => Outcome {
                action: CompactionAction::Dropped,
                placed: Vec::new(),
                written: None,
                changes: !job.deletes_covered,
                max_decided: None,
            },
            JobKind::Move => {
                let mut moved: Vec<_> = job.tables().cloned().collect();
                moved.sort_by(|a, b| self.0.cmp.user(&a.meta().min_key, &b.meta().min_key));
                Outcome {
                    action: CompactionAction::Moved,
                    placed: moved,
                    written: None,
                    changes: false,
                    max_decided: None,
                }
            }
            JobKind::Merge {
                target_size,
                beneath,
            } => {
                let output = job::merge(
                    job,
                    *target_size,
                    beneath,
                    watermark,
                    &self.run_writer(),
                    self.0.config.compaction_filter_factory.as_ref(),
                    self.relocation_set(&job.planned_on, job.blob_gc),
                )
                .map_err(|err| self.0.versions.poison.on_io(err))?;
                self.0
                    .bytes_compacted
                    .fetch_add(output.bytes, Ordering::Relaxed);
                self.0
                    .bytes_blobs_written
                    .fetch_add(output.written.blob_bytes, Ordering::Relaxed);
                Outcome {
                    action: CompactionAction::Merged,
                    placed: output.tables,
                    written: Some(output.written),
                    changes: output.changed,
                    max_decided: output.max_decided,
                }
            }
        };
        let moved = matches!(outcome.action, CompactionAction::Moved);
        let tables_out = if moved { 0 } else { outcome.placed.len() };
        let action = outcome.action;
        if !self.commit(job, &outcome)? {
            return Ok(CompactionResult::nothing());
        }
        if !moved {
            self.retire(&job.tables().cloned().collect::<Vec<_>>());
        }
        Ok(CompactionResult {
            action,
            dest_level: (action != CompactionAction::Dropped).then(|| level_u8(job.dest_level)),
            tables_in,
            tables_out,
        })
    }

    /// Commits a job's outcome (see the module documentation). Returns `false`, having deleted
    /// the tables it wrote, if the job no longer applies.
    fn commit(&self, job: &Job, outcome: &Outcome) -> Result<bool> {
        let inner = &self.0;
        let merged = matches!(outcome.action, CompactionAction::Merged);
        let discard = || {
            if let Some(written) = &outcome.written {
                // NB: best effort; a leftover file is never named by a version.
                written.discard(inner.config.fs.as_ref());
            }
        };
        let inputs = job.ids();
        let mut lock = inner.versions.lock();
        let current = inner.super_version.load_full();
        let version = Arc::clone(lock.current());
        let present = version
            .tables()
            .filter(|t| inputs.contains(&t.meta().table_id))
            .count();
        if present != inputs.len() {
            discard();
            return Ok(false);
        }
        if let Some(decided) = outcome.max_decided
            && self.older_source_appeared(job, &current, decided)
        {
            discard();
            return Ok(false);
        }
        let mut edit = job::placement(
            &version,
            &inputs,
            job.dest_level,
            &outcome.placed,
            &inner.cmp,
        );
        edit.durable_through = Some(self.durable_through(&current));
        let added: &[Arc<Table>] = if merged { &outcome.placed } else { &[] };
        let mut added_blobs: &[Arc<BlobFile>] = &[];
        if let Some(written) = &outcome.written {
            written.add_blobs_to(&mut edit);
            added_blobs = &written.blob_files;
        }
        let next_version = lock.log_and_apply(edit, added, added_blobs)?;
        let next = SuperVersion {
            active: Arc::clone(&current.active),
            sealed: current.sealed.clone(),
            version: next_version,
        };
        if outcome.changes {
            self.publish_changing(&lock, current, next);
        } else {
            inner.super_version.publish(&lock, next);
        }
        Ok(true)
    }

    /// Whether a source that the job did not see may hold a version at or below `decided` (the
    /// highest seqno whose fate the job decided by what lay outside it): a memtable the job saw
    /// that took writes since (a writer with an old seqno), a memtable created since, or a table
    /// flushed since from such a memtable. Tables flushed since from memtables the job saw, and
    /// tables other jobs wrote from tables it saw, hold nothing it did not consider.
    fn older_source_appeared(&self, job: &Job, current: &SuperVersion, decided: SeqNo) -> bool {
        let older = |m: &crate::memtable::Memtable| {
            m.get_lowest_seqno().is_some_and(|lowest| lowest <= decided)
        };
        if job
            .memtables_seen
            .iter()
            .any(|(m, len)| m.len() != *len && older(m))
        {
            return true;
        }
        let seen = job
            .memtables_seen
            .iter()
            .map(|(m, _)| m.generation())
            .max()
            .unwrap_or(0);
        if current
            .memtables()
            .any(|m| m.generation() > seen && older(m))
        {
            return true;
        }
        let planned: HashSet<u64> = job.planned_on.tables().map(|t| t.meta().table_id).collect();
        let ranges: Vec<KeyRange> = job.tables().map(|t| range_of(t)).collect();
        let Some(range) = KeyRange::union_all(ranges.iter(), &self.0.cmp) else {
            return false;
        };
        current.version.tables().any(|t| {
            !planned.contains(&t.meta().table_id)
                && t.origin() > seen
                && t.meta().seqno_min <= decided
                && range_of(t).overlaps(&range, &self.0.cmp)
        })
    }
}
