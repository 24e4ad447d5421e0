//! Versions: the immutable set of tables a read sees, and the runs and levels they form.
//!
//! - [`Version`]: `LEVEL_COUNT` levels; each level a list of runs; each run a list of tables
//!   with disjoint key ranges, sorted by key. Level 0 holds one run per flush, newest first;
//!   deeper levels (built by compaction, a later milestone) hold one run each.
//! - [`RunIter`]: a double-ended scan over one run.
//!
//! - [`edit`]: a version edit, the manifest's record; [`manifest`]: the append-only log of edits
//!   and `CURRENT`; [`recovery`]: creating or recovering a tree's directory.
//!
//! A version never changes: a flush builds a new one, commits its edit to the manifest (synced),
//! and publishes it in a new SuperVersion. A reader that holds a version keeps its tables (and
//! their open files) alive.

pub(crate) mod edit;
pub(crate) mod manifest;
pub(crate) mod recovery;
mod run;

pub(crate) use run::{Run, RunIter};

use std::sync::Arc;

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
        next
    }

    /// A new version without the tables `removed` (runs left empty disappear) and with `run`
    /// added as the newest run of `level`.
    pub(crate) fn with_replaced(
        &self,
        removed: &std::collections::HashSet<u64>,
        level: usize,
        run: Option<Run>,
    ) -> Self {
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
        if let (Some(run), Some(slot)) = (run, next.levels.get_mut(level)) {
            slot.runs.insert(0, Arc::new(run));
        }
        next
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
