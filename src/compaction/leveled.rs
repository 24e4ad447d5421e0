//! Leveled compaction: level 0 takes flushes; every deeper level is one run about `ratio` times
//! larger than the one above it.
//!
//! How a step is chosen:
//! 1. Each level gets a score. Level 0: the larger of its runs over `l0_threshold` and its bytes
//!    over `l0_threshold × table_target_size`. Levels 1 to the one before
//!    last: their bytes over their target size, each table's bytes compensated with what its
//!    range tombstones delete below it ([`super::TableInfo::range_deleted_bytes`]). With dynamic level sizes, a level above the base
//!    level that still holds data scores highest, so it drains downward.
//! 2. The level with the highest score of at least 1.0 is compacted (ties go to the upper level).
//! 0. Before any score, whatever level 0's run count: level 0's tables (if disjoint from each
//!    other), else its oldest run, move as they are to the last level if they overlap nothing in
//!    any level below (one flushed table of fresh keys lands in the last level, as in the seed; a
//!    sequential load is written once).
//! 3. Level 0: the same trivial move into the base level, if nothing there overlaps. Else, if
//!    level 0 is small (less than one target table) or the base level's
//!    overlapping tables are busy, its runs merge into one level-0 run (intra-L0). Else all of level
//!    0 merges into the base level, with the base level's overlapping tables.
//! 4. A deeper level: of its tables, the one whose overlap with the next level is smallest
//!    relative to its compensated size; moved down as it is if nothing overlaps, else merged.
//! 5. With no level over its target, a table above the last level that is at least half
//!    tombstones, or holds range tombstones, is pushed down the same way, so deletes reach the bottom and reclaim space
//!    without waiting for their level to fill.
//!
//! 6. With nothing else to do and every memtable empty ([`TreeView::memtables_empty`]: the writes
//!    stopped and were flushed), level 0's runs, if two or more, none larger than all the others
//!    together, and together under `l0_threshold × table_target_size`, merge into one level-0 run, so that reads on a settled
//!    tree search one level-0 run rather than up to `l0_threshold - 1` that each span the key
//!    space.
//!
//! A table with tombstones is never moved into the last level as it is: it is rewritten there, so
//! that the tombstones with nothing beneath them drop.
//!
//! Target sizes, static (the default): the base level is level 1, of `l0_threshold ×
//! table_target_size` bytes, and each next level is `ratio` times larger; except that while the
//! levels between are empty and the last level holds less than that base size (a small tree whose
//! first tables moved straight to the bottom), the last level is the base level. Dynamic
//! (`with_dynamic_level_bytes(true)`, RocksDB's `level_compaction_dynamic_level_bytes`): the last
//! level's actual size sets the targets from the bottom up (each level `ratio` times smaller than
//! the one below it); level 0 merges into the highest level whose target is not below the base
//! size, and the levels above it stay empty. Space amplification then stays near `1 + 1/ratio`.

use crate::coding::{Cursor, put_varint_u64};
use crate::error::CorruptionKind;

use super::{Choice, CompactionStrategy, LevelInfo, TableInfo, TreeView};

/// Whether a table holds tombstones of either kind.
fn has_tombstones(table: &TableInfo) -> bool {
    table
        .tombstone_count
        .saturating_add(table.weak_tombstone_count)
        .saturating_add(table.range_tombstone_count)
        > 0
}

/// A table's size for scores: its bytes plus what its range tombstones delete elsewhere, so a
/// level holding range deletes reaches its target sooner and their tables go down first.
fn compensated(table: &TableInfo) -> u64 {
    table.size_bytes.saturating_add(table.range_deleted_bytes)
}

/// Leveled compaction; see the module documentation.
///
/// ```
/// use strata::compaction::Leveled;
///
/// let strategy = Leveled::default()
///     .with_l0_threshold(4)
///     .with_table_target_size(32 << 20)
///     .with_level_ratio_policy(vec![10.0])
///     .with_dynamic_level_bytes(true);
/// # let _ = strategy;
/// ```
#[derive(Clone, Debug)]
pub struct Leveled {
    l0_threshold: u8,
    target_size: u64,
    ratios: Vec<f32>,
    dynamic: bool,
}

impl Default for Leveled {
    /// Level 0 compacts at 4 runs, 64 MiB tables, ratio 10, static level sizes.
    fn default() -> Self {
        Self {
            l0_threshold: 4,
            target_size: 64 << 20,
            ratios: vec![10.0],
            dynamic: false,
        }
    }
}

impl Leveled {
    /// The number of level-0 runs at which level 0 is compacted (at least 1); level 0 is also
    /// compacted when it holds this many target tables' bytes.
    #[must_use]
    pub fn with_l0_threshold(mut self, runs: u8) -> Self {
        self.l0_threshold = runs.max(1);
        self
    }

    /// The size at which compaction output tables are cut.
    #[must_use]
    pub fn with_table_target_size(mut self, bytes: u64) -> Self {
        self.target_size = bytes.max(1);
        self
    }

    /// The size ratio between each level and the next: entry `i` is the ratio between level
    /// `i + 1` and level `i + 2`; the last entry repeats. Ratios below 1.1 count as 1.1.
    #[must_use]
    pub fn with_level_ratio_policy(mut self, ratios: Vec<f32>) -> Self {
        self.ratios = ratios;
        self
    }

    /// Sizes the levels from the last one up (see the module documentation).
    #[must_use]
    pub fn with_dynamic_level_bytes(mut self, enabled: bool) -> Self {
        self.dynamic = enabled;
        self
    }

    /// The ratio between level `level` and the next.
    fn ratio(&self, level: usize) -> f64 {
        let i = level.saturating_sub(1);
        let r = self
            .ratios
            .get(i)
            .or_else(|| self.ratios.last())
            .copied()
            .unwrap_or(10.0);
        f64::from(r).max(1.1)
    }

    #[expect(clippy::cast_precision_loss, reason = "sizes as floats for ratios")]
    fn base_size(&self) -> f64 {
        f64::from(self.l0_threshold) * self.target_size as f64
    }

    /// The base level (where level 0 goes) and the target size of each level (index 0 unused).
    #[expect(clippy::cast_precision_loss, reason = "sizes as floats for ratios")]
    fn targets(&self, levels: &[LevelInfo]) -> (usize, Vec<f64>) {
        let last = levels.len().saturating_sub(1);
        let mut targets = vec![0.0; levels.len()];
        if !self.dynamic {
            let mut size = self.base_size();
            for (i, target) in targets.iter_mut().enumerate().skip(1) {
                *target = size;
                size *= self.ratio(i);
            }
            // NB: trivial moves put fresh keys straight into the last level. While that level is
            // still smaller than the base level's target and the levels between are empty, level
            // 0 merges into it, not into level 1 above it: else the tree would be upside down
            // (new versions in level 1 that never meet the old ones at the bottom), and its space
            // amplification would stay high until level 1 filled up.
            let middle_empty = levels
                .iter()
                .take(last)
                .skip(1)
                .all(|level| level.size_bytes() == 0);
            let last_size = levels.get(last).map_or(0, LevelInfo::size_bytes) as f64;
            if middle_empty && last_size > 0.0 && last_size < self.base_size() {
                return (last, targets);
            }
            return (1.min(last), targets);
        }
        let last_size = levels.get(last).map_or(0, LevelInfo::size_bytes) as f64;
        let base = self.base_size();
        let mut size = last_size.max(base);
        let mut level = last;
        if let Some(t) = targets.get_mut(level) {
            *t = size;
        }
        while level > 1 && size > base {
            size /= self.ratio(level - 1);
            level -= 1;
            if let Some(t) = targets.get_mut(level) {
                *t = size.max(base);
            }
        }
        (level.max(1).min(last), targets)
    }

    /// The step for level 0, if any.
    /// A trivial move out of level 0: all of level 0 when its tables are disjoint from each
    /// other (sequential writes flush such runs), else its oldest run; into the last level when
    /// they overlap nothing in any level below (one flushed table of fresh keys thus lands there,
    /// as in the seed, and a sequential load is written once), else into the base level when
    /// that one is free of overlap. With `only_to_the_bottom` (the step taken whatever level 0's
    /// score), only the former.
    fn trivial_l0_move(view: &TreeView, base: usize, only_to_the_bottom: bool) -> Option<Choice> {
        let l0 = view.levels().first()?;
        if l0.runs.is_empty() || l0.runs.iter().any(super::RunInfo::is_busy) {
            return None;
        }
        let mut all: Vec<&TableInfo> = l0.tables().collect();
        all.sort_by(|a, b| view.compare(&a.min_key, &b.min_key));
        let disjoint = all
            .windows(2)
            .all(|w| matches!(w, [a, b] if view.compare(&a.max_key, &b.min_key).is_lt()));
        let oldest: Vec<&TableInfo> = l0.runs.last()?.tables.iter().collect();
        let tables = if disjoint { all } else { oldest };
        // Into the last level when nothing below overlaps at all; else into the base level.
        let deepest = Self::deepest_free(view, &tables, base)?;
        let dest = if deepest == view.last_level() {
            deepest
        } else if only_to_the_bottom {
            return None;
        } else {
            base
        };
        Some(Choice::Move {
            table_ids: tables.iter().map(|t| t.id).collect(),
            dest_level: u8::try_from(dest).unwrap_or(u8::MAX),
        })
    }

    /// The deepest level at or below `from` such that no level from `from` to it holds a table
    /// overlapping `tables`; tables with tombstones stop above the last level (they are
    /// rewritten there, so that the tombstones drop). `None` if `from` itself overlaps.
    fn deepest_free(view: &TreeView, tables: &[&TableInfo], from: usize) -> Option<usize> {
        let last = view.last_level();
        let limit = if tables.iter().any(|t| has_tombstones(t)) {
            last.checked_sub(1)?
        } else {
            last
        };
        let free = |level: usize| {
            tables.iter().all(|t| {
                view.overlapping(level, &t.min_key, &t.max_key)
                    .next()
                    .is_none()
            })
        };
        let mut dest = None;
        for level in from..=limit {
            if !free(level) {
                break;
            }
            dest = Some(level);
        }
        dest
    }

    fn choose_l0(&self, view: &TreeView, base: usize) -> Option<Choice> {
        let l0 = view.levels().first()?;
        let free: Vec<_> = l0.runs.iter().filter(|r| !r.is_busy()).collect();
        if free.is_empty() {
            return None;
        }
        if let Some(choice) = Self::trivial_l0_move(view, base, false) {
            return Some(choice);
        }
        let tables: Vec<&TableInfo> = free.iter().flat_map(|r| r.tables.iter()).collect();
        let free_bytes: u64 = tables.iter().map(|t| t.size_bytes).sum();
        let (lo, hi) = view.key_range(tables.iter().copied())?;
        let base_busy = view.overlapping(base, &lo, &hi).any(|t| t.busy);
        let some_busy = free.len() < l0.runs.len();
        if free.len() >= 2 && (free_bytes < self.target_size || base_busy || some_busy) {
            return Some(Choice::Merge {
                table_ids: tables.iter().map(|t| t.id).collect(),
                dest_level: 0,
                target_size: self.target_size,
            });
        }
        if base_busy || some_busy {
            return None;
        }
        Some(Choice::Merge {
            table_ids: tables.iter().map(|t| t.id).collect(),
            dest_level: u8::try_from(base).unwrap_or(u8::MAX),
            target_size: self.target_size,
        })
    }

    /// With no level over its target: a table above the last level that is at least half
    /// tombstones, or holds range tombstones, is pushed down, so deletes reach the bottom (where they and what they hide are
    /// dropped) without waiting for the level to fill.
    fn choose_by_tombstones(&self, view: &TreeView, base: usize) -> Option<Choice> {
        let last = view.last_level();
        for (level, info) in view.levels().iter().enumerate().take(last) {
            // NB: a range tombstone may delete any number of entries beneath it: a table with
            // one goes down whatever its count.
            let dense = info.tables().any(|t| {
                !t.busy
                    && (t.range_tombstone_count > 0
                        || (t.entry_count > 0
                            && t.tombstone_count
                                .saturating_add(t.weak_tombstone_count)
                                .saturating_mul(2)
                                >= t.entry_count))
            });
            if !dense {
                continue;
            }
            let choice = if level == 0 {
                self.choose_l0(view, base)
            } else {
                self.choose_deeper(view, level)
            };
            if choice.is_some() {
                return choice;
            }
        }
        None
    }

    /// The bytes at which level 0 goes down whatever its run count: `l0_threshold` target
    /// tables.
    fn l0_bound(&self) -> u64 {
        self.target_size
            .saturating_mul(u64::from(self.l0_threshold))
            .max(1)
    }

    /// With nothing else to do and every memtable empty (the writes stopped): level 0's runs, if
    /// two or more, none busy, none larger than all the others together, and together under
    /// `l0_threshold × table_target_size`, merge into one level-0 run. Below the threshold level 0 would keep up to `l0_threshold - 1` runs
    /// that cover the whole key space, and every read and seek would search each of them.
    fn choose_idle_l0(&self, view: &TreeView) -> Option<Choice> {
        if !view.memtables_empty() {
            return None;
        }
        let l0 = view.levels().first()?;
        if l0.runs.len() < 2 || l0.runs.iter().any(super::RunInfo::is_busy) {
            return None;
        }
        let bytes: u64 = l0.tables().map(|t| t.size_bytes).sum();
        if bytes >= self.l0_bound() {
            return None;
        }
        // NB: a run larger than all the others together is not rewritten for them (a caller
        // that flushes after every small batch would otherwise rewrite level 0 on each flush);
        // runs merge only when the result is at least twice the largest, so each byte is
        // rewritten here at most log2(l0_threshold × table_target_size / flush) times.
        let largest = l0
            .runs
            .iter()
            .map(|r| r.tables.iter().map(|t| t.size_bytes).sum::<u64>())
            .max()
            .unwrap_or(0);
        if largest > bytes - largest {
            return None;
        }
        Some(Choice::Merge {
            table_ids: l0.tables().map(|t| t.id).collect(),
            dest_level: 0,
            target_size: self.target_size,
        })
    }

    /// The step for `level` (not level 0, not the last), if any.
    #[expect(clippy::cast_precision_loss, reason = "sizes as floats for ratios")]
    fn choose_deeper(&self, view: &TreeView, level: usize) -> Option<Choice> {
        let dest = level + 1;
        let mut best: Option<(f64, &TableInfo, bool)> = None;
        for table in view.levels().get(level)?.tables().filter(|t| !t.busy) {
            let mut overlap = 0u64;
            let mut any = false;
            let mut busy = false;
            for t in view.overlapping(dest, &table.min_key, &table.max_key) {
                overlap += t.size_bytes;
                any = true;
                busy |= t.busy;
            }
            if busy {
                continue;
            }
            // NB: the bytes its range tombstones delete count as its own (RocksDB's compensated
            // size), so the table whose merge reclaims most per byte rewritten goes first.
            let score = overlap as f64 / compensated(table).max(1) as f64;
            if best.as_ref().is_none_or(|(s, _, _)| score < *s) {
                best = Some((score, table, any));
            }
        }
        let (_, table, overlaps) = best?;
        let dest_level = u8::try_from(dest).unwrap_or(u8::MAX);
        // Tombstones bound for the last level are rewritten, so that they drop there.
        let rewrite = dest == view.last_level() && has_tombstones(table);
        Some(if overlaps || rewrite {
            Choice::Merge {
                table_ids: vec![table.id],
                dest_level,
                target_size: self.target_size,
            }
        } else {
            Choice::Move {
                table_ids: vec![table.id],
                dest_level,
            }
        })
    }
}

/// [`Leveled`]'s name.
pub(super) const NAME: &str = "leveled";

impl Leveled {
    /// Reads what [`CompactionStrategy::encode_settings`] wrote, through the setters (which
    /// clamp every value into its range).
    pub(super) fn decode_settings(c: &mut Cursor<'_>) -> Result<Self, CorruptionKind> {
        let l0_threshold = c.u8()?;
        let target_size = c.varint()?;
        let dynamic = match c.u8()? {
            0 => false,
            1 => true,
            _ => return Err(CorruptionKind::InvalidField("leveled dynamic flag")),
        };
        let count = c.varint()?;
        let mut ratios = Vec::new();
        for _ in 0..count {
            ratios.push(f32::from_bits(c.u32()?));
        }
        Ok(Self::default()
            .with_l0_threshold(l0_threshold)
            .with_table_target_size(target_size)
            .with_level_ratio_policy(ratios)
            .with_dynamic_level_bytes(dynamic))
    }
}

impl CompactionStrategy for Leveled {
    fn name(&self) -> &'static str {
        NAME
    }

    fn encode_settings(&self) -> Option<Vec<u8>> {
        let mut out = vec![self.l0_threshold];
        put_varint_u64(&mut out, self.target_size);
        out.push(u8::from(self.dynamic));
        put_varint_u64(&mut out, self.ratios.len() as u64);
        for ratio in &self.ratios {
            out.extend_from_slice(&ratio.to_bits().to_le_bytes());
        }
        Some(out)
    }

    #[expect(clippy::cast_precision_loss, reason = "sizes as floats for ratios")]
    fn choose(&self, view: &TreeView) -> Choice {
        let levels = view.levels();
        let last = view.last_level();
        if levels.is_empty() {
            return Choice::DoNothing;
        }
        let (base, targets) = self.targets(levels);
        if let Some(choice) = Self::trivial_l0_move(view, base, true) {
            return choice;
        }
        let mut scores: Vec<(f64, usize)> = Vec::with_capacity(levels.len());
        if let Some(l0) = levels.first() {
            let free = l0.runs.iter().filter(|r| !r.is_busy());
            let runs = free.clone().count();
            let bytes: u64 = free
                .flat_map(|r| r.tables.iter())
                .map(|t| t.size_bytes)
                .sum();
            // NB: bytes count too, so that a level 0 whose runs were merged into one while the
            // tree was idle (see `choose_idle_l0`) still goes down at its threshold's size.
            let by_bytes = bytes as f64 / self.l0_bound() as f64;
            let by_runs = runs as f64 / f64::from(self.l0_threshold);
            scores.push((by_runs.max(by_bytes), 0));
        }
        for (i, level) in levels.iter().enumerate().take(last).skip(1) {
            let bytes: u64 = level.tables().filter(|t| !t.busy).map(compensated).sum();
            if bytes == 0 {
                continue;
            }
            let score = if i < base {
                f64::from(u32::MAX)
            } else {
                bytes as f64 / targets.get(i).copied().unwrap_or(f64::MAX).max(1.0)
            };
            scores.push((score, i));
        }
        // Highest score first; ties go to the upper level.
        scores.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for (score, level) in scores {
            if score < 1.0 {
                break;
            }
            let choice = if level == 0 {
                self.choose_l0(view, base)
            } else {
                self.choose_deeper(view, level)
            };
            if let Some(choice) = choice {
                return choice;
            }
        }
        self.choose_by_tombstones(view, base)
            .or_else(|| self.choose_idle_l0(view))
            .unwrap_or(Choice::DoNothing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    fn ids(choice: &Choice) -> Vec<u64> {
        match choice {
            Choice::Move { table_ids, .. }
            | Choice::Merge { table_ids, .. }
            | Choice::Drop { table_ids } => table_ids.clone(),
            Choice::DoNothing => Vec::new(),
        }
    }

    #[test]
    fn below_the_threshold_nothing_happens() {
        let view = TreeView::for_test(&[
            vec![vec![(1, "a", "z", MB, 3)], vec![(2, "a", "z", MB, 2)]],
            vec![],
            vec![vec![(3, "m", "n", MB, 1)]],
        ]);
        assert_eq!(Leveled::default().choose(&view), Choice::DoNothing);
    }

    #[test]
    fn an_idle_tree_merges_its_level_0_runs_into_one_run() {
        let view = |sizes: &[u64], idle: bool| {
            let mut runs: Vec<Vec<_>> = sizes
                .iter()
                .zip(1u64..)
                .map(|(&size, i)| vec![(i, "a", "z", size, i)])
                .collect();
            runs.reverse();
            let mut view =
                TreeView::for_test(&[runs, vec![], vec![vec![(9, "a", "z", 500 * MB, 0)]]]);
            view.memtables_empty = idle;
            view
        };
        let leveled = Leveled::default();
        // Three runs over the whole key space, below the threshold of four.
        assert_eq!(
            leveled.choose(&view(&[60 * MB; 3], false)),
            Choice::DoNothing,
            "writes still come in: level 0 waits for its threshold"
        );
        assert_eq!(
            leveled.choose(&view(&[60 * MB; 3], true)),
            Choice::Merge {
                table_ids: vec![3, 2, 1],
                dest_level: 0,
                target_size: 64 * MB,
            }
        );
        assert_eq!(
            leveled.choose(&view(&[60 * MB], true)),
            Choice::DoNothing,
            "one run is already one source"
        );
        let full = leveled.choose(&view(&[200 * MB, 60 * MB], true));
        assert!(
            matches!(
                full,
                Choice::Move {
                    dest_level: 1..,
                    ..
                } | Choice::Merge {
                    dest_level: 1..,
                    ..
                }
            ),
            "a level 0 of threshold × target bytes goes down, not into itself: {full:?}"
        );
        // One run (merged while idle) of threshold × target bytes goes down like four runs.
        assert_eq!(
            leveled.choose(&view(&[120 * MB, 60 * MB], true)),
            Choice::DoNothing,
            "a run larger than the others together is not rewritten for them"
        );
        assert!(matches!(
            leveled.choose(&view(&[120 * MB, 60 * MB, 60 * MB], true)),
            Choice::Merge { dest_level: 0, .. }
        ));
        let one_big_run = leveled.choose(&view(&[260 * MB], false));
        assert_eq!(
            one_big_run,
            Choice::Move {
                table_ids: vec![1],
                dest_level: 1
            },
            "it overlaps nothing in the base level, level 1"
        );
        let mut busy = view(&[60 * MB; 3], true);
        if let Some(table) = busy.levels[0].runs[0].tables.first_mut() {
            table.busy = true;
        }
        assert_eq!(leveled.choose(&busy), Choice::DoNothing);
    }

    #[test]
    fn below_the_threshold_a_run_that_overlaps_nothing_below_moves_to_the_last_level() {
        let view = TreeView::for_test(&[
            vec![vec![(1, "a", "z", MB, 3)], vec![(2, "a", "z", MB, 2)]],
            vec![],
            vec![],
        ]);
        assert_eq!(
            Leveled::default().choose(&view),
            Choice::Move {
                table_ids: vec![2],
                dest_level: 2
            }
        );
    }

    #[test]
    fn the_oldest_l0_run_moves_down_when_nothing_overlaps() {
        let view = TreeView::for_test(&[
            vec![
                vec![(4, "m", "n", MB, 4)],
                vec![(3, "k", "l", MB, 3)],
                vec![(2, "g", "h", MB, 2)],
                vec![(1, "a", "b", MB, 1)],
            ],
            vec![vec![(9, "c", "d", MB, 0)]],
            vec![],
        ]);
        let choice = Leveled::default().with_table_target_size(MB).choose(&view);
        assert_eq!(
            choice,
            Choice::Move {
                table_ids: vec![1, 2, 3, 4],
                dest_level: 2
            },
            "disjoint runs that overlap nothing below move together, to the last level"
        );
        // Runs that overlap each other: only the oldest, which overlaps nothing below, moves.
        let view = TreeView::for_test(&[
            vec![
                vec![(4, "e", "z", MB, 4)],
                vec![(3, "e", "z", MB, 3)],
                vec![(2, "e", "z", MB, 2)],
                vec![(1, "a", "b", MB, 1)],
            ],
            vec![vec![(9, "c", "d", MB, 0)]],
            vec![],
        ]);
        let choice = Leveled::default().with_table_target_size(MB).choose(&view);
        assert_eq!(
            choice,
            Choice::Move {
                table_ids: vec![1],
                dest_level: 2
            }
        );
    }

    #[test]
    fn overlapping_l0_runs_merge_into_level_1_or_within_level_0_when_small() {
        let runs: Vec<Vec<_>> = (1..=4u64)
            .rev()
            .map(|i| vec![(i, "a", "z", MB, i)])
            .collect();
        let view = TreeView::for_test(&[runs, vec![vec![(9, "c", "d", MB, 0)]], vec![]]);
        let big = Leveled::default().with_table_target_size(MB).choose(&view);
        assert!(
            matches!(big, Choice::Merge { dest_level: 1, .. }),
            "{big:?}"
        );
        assert_eq!(ids(&big).len(), 4);
        let small = Leveled::default()
            .with_table_target_size(64 * MB)
            .choose(&view);
        assert!(
            matches!(small, Choice::Merge { dest_level: 0, .. }),
            "{small:?}"
        );
    }

    #[test]
    fn an_oversized_level_pushes_its_cheapest_table_down() {
        // Level 1's target: 4 × 1 MiB; it holds 6 MiB.
        let l1: Vec<_> = [(1, "a", "b"), (2, "c", "d"), (3, "e", "f")]
            .iter()
            .map(|&(id, lo, hi)| (id, lo, hi, 2 * MB, 1))
            .collect();
        let l2 = vec![(10, "a", "b", 8 * MB, 0), (11, "e", "f", MB, 0)];
        let view = TreeView::for_test(&[vec![], vec![l1], vec![l2], vec![]]);
        let choice = Leveled::default().with_table_target_size(MB).choose(&view);
        assert_eq!(
            choice,
            Choice::Move {
                table_ids: vec![2],
                dest_level: 2
            },
            "table 2 overlaps nothing below"
        );
    }

    #[test]
    fn bytes_range_tombstones_delete_count_toward_scores_and_picks() {
        // Level 1's target: 4 × 1 MiB; it holds 3 MiB, so nothing is due by size alone.
        let l1 = vec![(1, "a", "b", MB, 1), (2, "e", "f", 2 * MB, 1)];
        let l2 = vec![(10, "a", "b", 3 * MB, 0), (11, "e", "f", 2 * MB, 0)];
        let mut view = TreeView::for_test(&[vec![], vec![l1], vec![l2], vec![], vec![]]);
        let leveled = Leveled::default().with_table_target_size(MB);
        assert_eq!(leveled.choose(&view), Choice::DoNothing);
        // Table 1's range tombstones delete 4 MiB below it: level 1 is over its target, and
        // table 1 goes down first although its overlap is the larger for its size.
        view.levels[1].runs[0].tables[0].range_deleted_bytes = 4 * MB;
        assert_eq!(
            leveled.choose(&view),
            Choice::Merge {
                table_ids: vec![1],
                dest_level: 2,
                target_size: MB
            }
        );
    }

    #[test]
    fn dynamic_levels_send_level_0_to_the_last_level_of_a_small_tree() {
        let runs: Vec<Vec<_>> = (1..=4u64)
            .rev()
            .map(|i| vec![(i, "a", "z", MB, i)])
            .collect();
        let mut levels = vec![runs];
        levels.extend((1..7).map(|_| vec![]));
        let view = TreeView::for_test(&levels);
        let choice = Leveled::default()
            .with_table_target_size(MB)
            .with_dynamic_level_bytes(true)
            .choose(&view);
        assert_eq!(
            choice,
            Choice::Move {
                table_ids: vec![1],
                dest_level: 6
            },
            "the empty tree's base level is the last"
        );
        let (base, targets) = Leveled::default()
            .with_table_target_size(MB)
            .with_dynamic_level_bytes(true)
            .targets(&{
                let mut levels: Vec<LevelInfo> = view.levels().to_vec();
                levels[6] = TreeView::for_test(&[vec![vec![(1, "a", "z", 1000 * MB, 1)]]]).levels()
                    [0]
                .clone();
                levels
            });
        assert_eq!(
            base, 3,
            "1000 MiB at the bottom, then 100, 10, and 4 (the base size)"
        );
        assert!((targets[5] - 100.0 * MB as f64).abs() < 1.0);
    }
}
