//! Running a planned job: the merge (inputs → compaction stream → run writer) and the version
//! edit that places its output.
//!
//! Placement keeps the order reads rely on: in level 0, the output run takes the place of the
//! job's newest input run (just after what is left of it); in a deeper level, the output joins
//! the first run it does not overlap, in that run's place, or else becomes the level's newest
//! run. Moved tables are placed the same way (removed and re-added under their ids).

use std::collections::HashSet;
use std::ops::Bound;
use std::sync::Arc;

use super::filter::{Context, Factory};
use super::plan::{Job, range_of};
use super::range_del::{CoveredFilter, surviving};
use super::stream::{ActiveFilter, Beneath, CompactionStream, GcRules};
use crate::error::Result;
use crate::iter::merging::{BoxedSource, MergingIter};
use crate::key::Comparator;
use crate::key_range::KeyRange;
use crate::range_tombstone::FragList;
use crate::run_writer::RunWriter;
use crate::seqno::SeqNo;
use crate::table::reader::Table;
use crate::version::edit::{RunPosition, VersionEdit};
use crate::version::{LEVEL_COUNT, Run, RunIter, Version};

/// What a merge wrote.
pub(crate) struct MergeOutput {
    pub(crate) tables: Vec<Arc<Table>>,
    pub(crate) bytes: u64,
    /// The blob files written and the tables' references (see [`crate::run_writer`]).
    pub(crate) written: crate::run_writer::WrittenRun,
    /// Whether a compaction filter changed an item (the step then changes what reads see).
    pub(crate) changed: bool,
    /// See [`CompactionStream::max_decided`].
    pub(crate) max_decided: Option<SeqNo>,
}

/// The level as a `u8` (levels are below [`LEVEL_COUNT`]).
pub(crate) fn level_u8(level: usize) -> u8 {
    u8::try_from(level).unwrap_or(u8::MAX)
}

/// Merges a job's inputs (one source per run) into tables of its destination level.
///
/// # Errors
/// As [`RunWriter::write`], and an error a compaction filter returns.
pub(crate) fn merge(
    job: &Job,
    target_size: u64,
    beneath: &[Beneath],
    watermark: SeqNo,
    writer: &RunWriter<'_>,
    filters: Option<&Arc<dyn Factory>>,
    relocate: std::collections::BTreeMap<u64, Arc<crate::blob::BlobFile>>,
) -> Result<MergeOutput> {
    let cmp = writer.cmp;
    let inputs = FragList::merge(job.tables().map(|t| t.range_tombstones().as_ref()), cmp);
    // NB: a table whose every entry the job's range tombstones delete for every read at or
    // above the watermark (a tombstone newer than all its entries, below the watermark, over
    // its whole range) is dropped without being read; so is one of range tombstones alone
    // (they are in `inputs`).
    let read = |t: &&Arc<Table>| {
        let m = t.meta();
        m.entry_count > 0
            && !(m.kv_seqno_max < watermark
                && inputs.covers_whole(&range_of(t), m.kv_seqno_max, watermark, cmp))
    };
    let sources: Vec<BoxedSource> = job
        .groups
        .iter()
        .map(|group| group.iter().filter(read).cloned().collect::<Vec<_>>())
        .filter(|group| !group.is_empty())
        .map(|group| -> BoxedSource {
            // NB: a compaction reads each block once; filling the cache with them would evict
            // the blocks reads use (RocksDB's `fill_cache = false` for compactions).
            Box::new(
                RunIter::new(
                    Arc::new(Run::new(group)),
                    cmp,
                    (Bound::Unbounded, Bound::Unbounded),
                    SeqNo::MAX,
                )
                .without_cache_fill(),
            )
        })
        .collect();
    let rules = GcRules {
        watermark,
        tombstone_floor: beneath
            .iter()
            .map(|b| b.seqno_min)
            .min()
            .unwrap_or(GcRules::BOTTOM),
        cancel_weak: true,
    };
    let filter = filters.map(|factory| {
        let ctx = Context::new(level_u8(job.dest_level), job.dest_level == LEVEL_COUNT - 1);
        ActiveFilter {
            filter: factory.make_filter(&ctx),
            ctx,
            changed: 0,
        }
    });
    let mut dropped_range_tombstone: Option<SeqNo> = None;
    let range_tombstones = surviving(&inputs, watermark, Some(beneath), cmp, |seqno| {
        dropped_range_tombstone = dropped_range_tombstone.max(Some(seqno));
    });
    let covered = CoveredFilter::new(
        MergingIter::new(sources, cmp.clone()),
        inputs,
        watermark,
        cmp.clone(),
        writer.config.merge_operator.is_some(),
    );
    let mut stream = CompactionStream::new(covered, cmp.clone(), rules)
        .with_filter(filter)
        .with_beneath(beneath.to_vec())
        .with_merge(writer.config.merge_operator.clone())
        .with_blobs(Some(Arc::clone(&job.planned_on)));
    let written = writer.write(
        stream.by_ref(),
        job.dest_level,
        target_size,
        range_tombstones,
        relocate,
    );
    let filter = stream.take_filter();
    let changed = filter.as_ref().is_some_and(|f| f.changed > 0);
    if let Some(filter) = filter {
        filter.filter.finish();
    }
    let written = written?;
    let origin = job.tables().map(|t| t.origin()).max().unwrap_or(0);
    for table in &written.tables {
        table.set_origin(origin);
    }
    Ok(MergeOutput {
        tables: written.tables.clone(),
        bytes: written.bytes,
        written,
        changed,
        max_decided: stream.max_decided().max(dropped_range_tombstone),
    })
}

/// The edit that removes `removed` from `current` and places `added` (sorted by key, disjoint)
/// in `dest`; see the module documentation.
pub(crate) fn placement(
    current: &Version,
    removed: &HashSet<u64>,
    dest: usize,
    added: &[Arc<Table>],
    cmp: &Comparator,
) -> VersionEdit {
    let mut edit = VersionEdit {
        remove_tables: removed.iter().copied().collect(),
        ..VersionEdit::default()
    };
    edit.remove_tables.sort_unstable();
    if added.is_empty() {
        return edit;
    }
    let added_ids: Vec<u64> = added.iter().map(|t| t.meta().table_id).collect();
    let Some(level) = current.levels.get(dest) else {
        return edit;
    };
    // The first table of each run that stays, by run position.
    let remaining = |skip: &HashSet<u64>| -> Vec<Option<u64>> {
        level
            .runs
            .iter()
            .map(|run| {
                run.tables()
                    .iter()
                    .map(|t| t.meta().table_id)
                    .find(|id| !skip.contains(id))
            })
            .collect()
    };
    let anchor_after = |index: usize, skip: &HashSet<u64>| -> RunPosition {
        remaining(skip)
            .into_iter()
            .skip(index + 1)
            .flatten()
            .next()
            .map_or(RunPosition::Oldest, RunPosition::Before)
    };
    if dest == 0 {
        let newest_input = level.runs.iter().position(|run| {
            run.tables()
                .iter()
                .any(|t| removed.contains(&t.meta().table_id))
        });
        match newest_input {
            Some(index) => edit
                .insert_runs
                .push((0, anchor_after(index, removed), added_ids)),
            None => edit.add_runs.push((0, added_ids)),
        }
        return edit;
    }
    let added_ranges: Vec<KeyRange> = added.iter().map(|t| range_of(t)).collect();
    let joined = level.runs.iter().position(|run| {
        run.tables().iter().all(|t| {
            removed.contains(&t.meta().table_id)
                || added_ranges.iter().all(|a| !range_of(t).overlaps(a, cmp))
        })
    });
    match joined {
        Some(index) => {
            let Some(run) = level.runs.get(index) else {
                return edit;
            };
            let mut merged: Vec<Arc<Table>> = run
                .tables()
                .iter()
                .filter(|t| !removed.contains(&t.meta().table_id))
                .cloned()
                .chain(added.iter().cloned())
                .collect();
            merged.sort_by(|a, b| cmp.user(&a.meta().min_key, &b.meta().min_key));
            let mut skip = removed.clone();
            for t in run.tables() {
                let id = t.meta().table_id;
                if skip.insert(id) {
                    edit.remove_tables.push(id);
                }
            }
            let position = anchor_after(index, &skip);
            edit.insert_runs.push((
                level_u8(dest),
                position,
                merged.iter().map(|t| t.meta().table_id).collect(),
            ));
        }
        None => edit.add_runs.push((level_u8(dest), added_ids)),
    }
    edit
}
