//! Size-tiered compaction (RocksDB's universal compaction): few merges, each of runs of similar
//! size, at the price of more space and more runs to read.
//!
//! The sorted runs, newest first, are the level-0 runs and then each deeper level's runs. Nothing
//! happens below `trigger` runs, except for range deletes. Then, in order:
//! 0. Range deletes (from two runs on, whatever the trigger): a run whose range tombstones
//!    delete at least `range_delete_ratio` (10 %) of the bytes of the runs older than it
//!    ([`crate::compaction::TableInfo::range_deleted_bytes`]) merges with all of them into the
//!    last level, newest such run first, so that a deleted range is reclaimed now rather than
//!    at the next full merge.
//! 1. Space amplification: if the bytes of all runs but the oldest exceed
//!    `max_space_amplification` times the oldest run's bytes, everything merges into the last
//!    level.
//! 2. Size ratio: from the newest run on, runs join a merge while the next one is at most
//!    `1 + size_ratio` times the bytes gathered so far (between `min_merge_width` and
//!    `max_merge_width` runs). The first window of at least `min_merge_width` runs merges.
//! 3. Run count: past twice the trigger, the newest runs merge to bring the count back to the
//!    trigger.
//!
//! Output goes to the deepest level among the inputs (the last level if the oldest run is one of
//! them). A window never includes a busy run.

use crate::coding::{Cursor, put_varint_u64};
use crate::error::CorruptionKind;

use super::{Choice, CompactionStrategy, RunInfo, TreeView};

/// Size-tiered compaction; see the module documentation.
///
/// ```
/// use strata::compaction::SizeTiered;
///
/// let strategy = SizeTiered::default()
///     .with_size_ratio(0.5)
///     .with_merge_width(2, 8)
///     .with_max_space_amplification(1.5);
/// # let _ = strategy;
/// ```
#[derive(Clone, Debug)]
pub struct SizeTiered {
    size_ratio: f64,
    min_width: usize,
    max_width: usize,
    max_space_amp: f64,
    trigger: usize,
    target_size: u64,
    range_delete_ratio: f64,
}

impl Default for SizeTiered {
    /// Size ratio 0.01 (1 %), merge width 2 to 32, space amplification up to 2.0, 4 runs to start,
    /// 64 MiB tables, range deletes merged down from 10 % of the older bytes.
    fn default() -> Self {
        Self {
            size_ratio: 0.01,
            min_width: 2,
            max_width: 32,
            max_space_amp: 2.0,
            trigger: 4,
            target_size: 64 << 20,
            range_delete_ratio: 0.1,
        }
    }
}

impl SizeTiered {
    /// How much larger than the runs gathered so far the next run may be and still join
    /// (0.01 = 1 %).
    #[must_use]
    pub fn with_size_ratio(mut self, ratio: f64) -> Self {
        self.size_ratio = ratio.max(0.0);
        self
    }

    /// The fewest and most runs one merge takes (at least 2).
    #[must_use]
    pub fn with_merge_width(mut self, min: usize, max: usize) -> Self {
        self.min_width = min.max(2);
        self.max_width = max.max(self.min_width);
        self
    }

    /// The space amplification (bytes of the newer runs over the oldest run's) past which
    /// everything merges.
    #[must_use]
    pub fn with_max_space_amplification(mut self, ratio: f64) -> Self {
        self.max_space_amp = ratio.max(0.0);
        self
    }

    /// The number of runs below which nothing happens (at least 2).
    #[must_use]
    pub fn with_run_trigger(mut self, runs: usize) -> Self {
        self.trigger = runs.max(2);
        self
    }

    /// The size at which output tables are cut.
    #[must_use]
    pub fn with_table_target_size(mut self, bytes: u64) -> Self {
        self.target_size = bytes.max(1);
        self
    }

    /// The share of the older runs' bytes that a run's range tombstones must delete for the run
    /// to merge down with them at once (0.1 = 10 %; see the module documentation).
    ///
    /// ```
    /// use strata::compaction::SizeTiered;
    ///
    /// // Reclaim a range delete only once it frees a quarter of what lies beneath it.
    /// let strategy = SizeTiered::default().with_range_delete_ratio(0.25);
    /// # let _ = strategy;
    /// ```
    #[must_use]
    pub fn with_range_delete_ratio(mut self, ratio: f64) -> Self {
        self.range_delete_ratio = ratio.max(0.0);
        self
    }

    /// Rule 0: the newest free run whose range tombstones delete enough of the older runs (all
    /// free), merged with them into the last level.
    #[expect(clippy::cast_precision_loss, reason = "sizes as floats for ratios")]
    fn range_deletes(&self, runs: &[(usize, &RunInfo)], last_level: usize) -> Option<Choice> {
        for (i, (_, run)) in runs.iter().enumerate() {
            let deleted: u64 = run.tables.iter().map(|t| t.range_deleted_bytes).sum();
            let older = runs.get(i + 1..).unwrap_or_default();
            if deleted == 0 || older.is_empty() || run.is_busy() {
                continue;
            }
            if older.iter().any(|(_, r)| r.is_busy()) {
                return None;
            }
            let older_bytes: u64 = older.iter().map(|(_, r)| r.size_bytes()).sum();
            if deleted as f64 >= self.range_delete_ratio * older_bytes as f64 {
                return Some(self.merge(runs.get(i..)?, last_level, true));
            }
        }
        None
    }

    fn merge(&self, runs: &[(usize, &RunInfo)], last_level: usize, oldest: bool) -> Choice {
        let deepest = runs.iter().map(|(level, _)| *level).max().unwrap_or(0);
        let dest = if oldest { last_level } else { deepest };
        Choice::Merge {
            table_ids: runs
                .iter()
                .flat_map(|(_, r)| r.tables.iter().map(|t| t.id))
                .collect(),
            dest_level: u8::try_from(dest).unwrap_or(u8::MAX),
            target_size: self.target_size,
        }
    }
}

/// [`SizeTiered`]'s name.
pub(super) const NAME: &str = "size-tiered";

impl SizeTiered {
    /// Reads what [`CompactionStrategy::encode_settings`] wrote, through the setters (which
    /// clamp every value into its range).
    pub(super) fn decode_settings(c: &mut Cursor<'_>) -> Result<Self, CorruptionKind> {
        let size_ratio = f64::from_bits(c.u64()?);
        let min_width = usize::try_from(c.varint()?).unwrap_or(usize::MAX);
        let max_width = usize::try_from(c.varint()?).unwrap_or(usize::MAX);
        let max_space_amp = f64::from_bits(c.u64()?);
        let trigger = usize::try_from(c.varint()?).unwrap_or(usize::MAX);
        let target_size = c.varint()?;
        let range_delete_ratio = f64::from_bits(c.u64()?);
        Ok(Self::default()
            .with_size_ratio(size_ratio)
            .with_merge_width(min_width, max_width)
            .with_max_space_amplification(max_space_amp)
            .with_run_trigger(trigger)
            .with_table_target_size(target_size)
            .with_range_delete_ratio(range_delete_ratio))
    }
}

impl CompactionStrategy for SizeTiered {
    fn name(&self) -> &'static str {
        NAME
    }

    fn encode_settings(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(48);
        out.extend_from_slice(&self.size_ratio.to_bits().to_le_bytes());
        put_varint_u64(&mut out, self.min_width as u64);
        put_varint_u64(&mut out, self.max_width as u64);
        out.extend_from_slice(&self.max_space_amp.to_bits().to_le_bytes());
        put_varint_u64(&mut out, self.trigger as u64);
        put_varint_u64(&mut out, self.target_size);
        out.extend_from_slice(&self.range_delete_ratio.to_bits().to_le_bytes());
        Some(out)
    }

    #[expect(clippy::cast_precision_loss, reason = "sizes as floats for ratios")]
    fn choose(&self, view: &TreeView) -> Choice {
        let runs: Vec<(usize, &RunInfo)> = view
            .levels()
            .iter()
            .enumerate()
            .flat_map(|(i, level)| level.runs.iter().map(move |r| (i, r)))
            .filter(|(_, r)| !r.tables.is_empty())
            .collect();
        let n = runs.len();
        let last = view.last_level();
        // 0. Range deletes.
        if let Some(choice) = self.range_deletes(&runs, last) {
            return choice;
        }
        if n < self.trigger {
            return Choice::DoNothing;
        }
        // 1. Space amplification.
        if let Some(((_, oldest), newer)) = runs.split_last()
            && runs.iter().all(|(_, r)| !r.is_busy())
        {
            let newer_bytes: u64 = newer.iter().map(|(_, r)| r.size_bytes()).sum();
            if newer_bytes as f64 > self.max_space_amp * oldest.size_bytes().max(1) as f64 {
                return self.merge(&runs, last, true);
            }
        }
        // 2. Size ratio.
        for start in 0..n {
            let Some((_, first)) = runs.get(start) else {
                break;
            };
            if first.is_busy() {
                continue;
            }
            let mut gathered = first.size_bytes() as f64;
            let mut end = start + 1;
            while end < n && end - start < self.max_width {
                let Some((_, next)) = runs.get(end) else {
                    break;
                };
                if next.is_busy() || next.size_bytes() as f64 > gathered * (1.0 + self.size_ratio) {
                    break;
                }
                gathered += next.size_bytes() as f64;
                end += 1;
            }
            if end - start >= self.min_width
                && let Some(window) = runs.get(start..end)
            {
                return self.merge(window, last, end == n);
            }
        }
        // 3. Run count.
        if n >= 2 * self.trigger {
            let take = (n - self.trigger + 1).min(self.max_width);
            if let Some(window) = runs.get(..take)
                && window.iter().all(|(_, r)| !r.is_busy())
            {
                return self.merge(window, last, take == n);
            }
        }
        Choice::DoNothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l0(sizes: &[u64]) -> TreeView {
        let runs: Vec<Vec<_>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &s)| vec![(i as u64 + 1, "a", "z", s, 100 - i as u64)])
            .collect();
        TreeView::for_test(&[runs, vec![], vec![]])
    }

    #[test]
    fn similar_runs_merge_and_a_much_larger_one_stays() {
        // Newest first: 10, 10, 10, 10, then an old 1000-byte run.
        let view = l0(&[10, 10, 10, 10, 1000]);
        let choice = SizeTiered::default().choose(&view);
        assert_eq!(
            choice,
            Choice::Merge {
                table_ids: vec![1, 2, 3, 4],
                dest_level: 0,
                target_size: 64 << 20
            }
        );
    }

    #[test]
    fn too_much_space_amplification_merges_everything_into_the_last_level() {
        let view = l0(&[100, 300, 900, 100]);
        let choice = SizeTiered::default().choose(&view);
        assert!(
            matches!(&choice, Choice::Merge { table_ids, dest_level: 2, .. } if table_ids.len() == 4),
            "{choice:?}"
        );
    }

    #[test]
    fn a_run_whose_range_tombstones_delete_enough_merges_down_whatever_the_trigger() {
        // Newest first: a 10-byte run with range tombstones over a 100-byte and a 1000-byte run.
        let with = |deleted: u64| {
            let mut view = l0(&[10, 100, 1000]);
            view.levels[0].runs[0].tables[0].range_deleted_bytes = deleted;
            view
        };
        let merge_all = Choice::Merge {
            table_ids: vec![1, 2, 3],
            dest_level: 2,
            target_size: 64 << 20,
        };
        // 10 % of the 1,100 older bytes, and more.
        assert_eq!(SizeTiered::default().choose(&with(110)), merge_all);
        assert_eq!(SizeTiered::default().choose(&with(600)), merge_all);
        // Less, or a ratio set higher: the trigger (4 runs) is not reached, nothing happens.
        assert_eq!(SizeTiered::default().choose(&with(109)), Choice::DoNothing);
        assert_eq!(
            SizeTiered::default()
                .with_range_delete_ratio(0.5)
                .choose(&with(110)),
            Choice::DoNothing
        );
        // A busy run beneath holds the merge back.
        let mut busy = with(600);
        busy.levels[0].runs[2].tables[0].busy = true;
        assert_eq!(SizeTiered::default().choose(&busy), Choice::DoNothing);
    }

    #[test]
    fn few_runs_do_nothing() {
        assert_eq!(
            SizeTiered::default().choose(&l0(&[10, 10, 10])),
            Choice::DoNothing
        );
    }
}
