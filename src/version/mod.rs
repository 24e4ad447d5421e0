//! Versions: the immutable set of tables a read sees, and the runs and levels they form.
//!
//! - [`Version`]: `LEVEL_COUNT` levels; each level a list of runs; each run a list of tables
//!   with disjoint key ranges, sorted by key. Level 0 holds one run per flush, newest first;
//!   deeper levels (built by compaction) usually hold one run each.
//! - [`RunIter`]: a double-ended scan over one run.
//!
//! - [`edit`]: a version edit, the manifest's record; [`manifest`]: the append-only log of edits
//!   and `CURRENT`; [`recovery`]: creating or recovering a tree's directory; [`read_only`]:
//!   reading a directory's manifest and tables in place, for tools.
//!
//! A version never changes: a flush builds a new one, commits its edit to the manifest (synced),
//! and publishes it in a new SuperVersion. A reader that holds a version keeps its tables (and
//! their open files) alive.

pub(crate) mod edit;
pub(crate) mod manifest;
#[cfg(any(feature = "internals", test))]
pub(crate) mod read_only;
pub(crate) mod recovery;
mod run;

pub(crate) use run::{Run, RunIter};

use std::sync::Arc;

use crate::key::Comparator;
use crate::table::reader::Table;

/// How a change made by [`Version::with_changes`] is recorded: the tables of the run it added
/// or rebuilt, and the ids of an existing run's tables that the edit removes and re-adds.
#[derive(Debug, Default)]
pub(crate) struct Placement {
    pub(crate) run: Vec<u64>,
    pub(crate) readded: Vec<u64>,
}

/// The number of levels of a tree.
pub(crate) const LEVEL_COUNT: usize = 7;

/// One level: its runs (level 0: newest first).
#[derive(Clone, Default, Debug)]
pub(crate) struct Level {
    pub(crate) runs: Vec<Arc<Run>>,
}

/// An immutable snapshot of the tree's tables; see the module documentation.
#[derive(Clone, Debug)]
pub(crate) struct Version {
    pub(crate) levels: Vec<Level>,
}

impl Default for Version {
    fn default() -> Self {
        Self {
            levels: vec![Level::default(); LEVEL_COUNT],
        }
    }
}

impl Version {
    /// A new version with `run` added to level 0 as its newest run.
    pub(crate) fn with_l0_run(&self, run: Run) -> Self {
        let mut next = self.clone();
        if let Some(l0) = next.levels.first_mut() {
            l0.runs.insert(0, Arc::new(run));
        }
        next.sort_level0();
        next
    }

    /// A new version without the tables `removed` (runs left empty disappear) and with `added`
    /// (sorted by key, disjoint) placed in `level`; also returns how to record the change in a
    /// version edit.
    ///
    /// Level 0: `added` becomes a run of its own. Deeper levels: `added` joins a run of the level
    /// whose tables it does not overlap (the edit then removes and re-adds that run's tables, so
    /// replaying it yields the same run), or else becomes a new run. Level 0's runs stay ordered
    /// by their highest seqno, newest first.
    pub(crate) fn with_changes(
        &self,
        removed: &std::collections::HashSet<u64>,
        level: usize,
        added: Vec<Arc<Table>>,
        cmp: &Comparator,
    ) -> (Self, Placement) {
        let mut next = Self::default();
        for (i, old) in self.levels.iter().enumerate() {
            let Some(slot) = next.levels.get_mut(i) else {
                continue;
            };
            for old_run in &old.runs {
                if old_run
                    .tables()
                    .iter()
                    .any(|t| removed.contains(&t.meta().table_id))
                {
                    let kept: Vec<_> = old_run
                        .tables()
                        .iter()
                        .filter(|t| !removed.contains(&t.meta().table_id))
                        .cloned()
                        .collect();
                    if !kept.is_empty() {
                        slot.runs.push(Arc::new(Run::new(kept)));
                    }
                } else {
                    slot.runs.push(Arc::clone(old_run));
                }
            }
        }
        let mut placement = Placement::default();
        let Some(slot) = next.levels.get_mut(level) else {
            return (next, placement);
        };
        if added.is_empty() {
            return (next, placement);
        }
        let joined = if level == 0 {
            None
        } else {
            slot.runs.iter().position(|run| {
                run.tables().iter().all(|t| {
                    added.iter().all(|a| {
                        cmp.user(&t.meta().max_key, &a.meta().min_key).is_lt()
                            || cmp.user(&a.meta().max_key, &t.meta().min_key).is_lt()
                    })
                })
            })
        };
        let run_tables = match joined {
            Some(i) => {
                let old = slot.runs.remove(i);
                placement
                    .readded
                    .extend(old.tables().iter().map(|t| t.meta().table_id));
                let mut merged: Vec<_> = old.tables().iter().cloned().chain(added).collect();
                merged.sort_by(|a, b| cmp.user(&a.meta().min_key, &b.meta().min_key));
                merged
            }
            None => added,
        };
        placement.run = run_tables.iter().map(|t| t.meta().table_id).collect();
        slot.runs.insert(0, Arc::new(Run::new(run_tables)));
        next.sort_level0();
        (next, placement)
    }

    /// Orders level 0's runs by their highest seqno, newest first (stable).
    pub(crate) fn sort_level0(&mut self) {
        if let Some(l0) = self.levels.first_mut() {
            l0.runs.sort_by_key(|run| {
                std::cmp::Reverse(run.tables().iter().map(|t| t.meta().seqno_max).max())
            });
        }
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
