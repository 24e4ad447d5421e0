//! Compaction: merging tables, moving them down the levels and dropping what no reader can see.
//!
//! - [`CompactionStrategy`]: the choice of what to compact next. It sees a read-only
//!   [`TreeView`] of the levels and returns a [`Choice`]; `Tree::compact` carries the choice out
//!   on the caller's thread. Strategies: [`Leveled`], [`SizeTiered`] and [`Fifo`]; users may write
//!   their own.
//! - `stream`: the compaction stream, the rules that decide which versions of a key survive a
//!   merge (flush is its first user: a compaction of sealed memtables into level 0).
//! - [`filter`]: compaction filters, user code that sees every value a compaction writes.
//! - `plan`: a choice checked and completed into a job (busy tables, what must move with it);
//!   `job`: a job's merge (stream → run writer) and the version edit placing its output.
//! - [`CompactionResult`] and [`CompactionAction`]: what one compaction step did.
//!
//! `Tree::major_compact` merges everything into the last level; `Tree::drop_range` and
//! `Tree::clear` drop whole tables.

mod fifo;
pub mod filter;
pub(crate) mod job;
mod leveled;
pub(crate) mod plan;
pub(crate) mod range_del;
pub(crate) mod stream;
mod tiered;

pub use fifo::Fifo;
pub use leveled::Leveled;
pub use tiered::SizeTiered;

use std::cmp::Ordering;

use crate::key::Comparator;
use crate::seqno::SeqNo;
use crate::slice::Slice;

/// A table in [`TreeView::for_test`]: `(id, min_key, max_key, size_bytes, seqno)`.
#[doc(hidden)]
pub type TestTable<'a> = (TableId, &'a str, &'a str, u64, SeqNo);

/// A table's id (its file is `tables/<id>.sst`).
pub type TableId = u64;

/// What a compaction step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompactionAction {
    /// Nothing was worth doing.
    Nothing,
    /// Tables were merged into new tables.
    Merged,
    /// Tables were moved to another level without rewriting them.
    Moved,
    /// Tables were dropped whole.
    Dropped,
}

/// The outcome of one compaction step.
///
/// ```
/// use strata::compaction::{CompactionAction, CompactionResult};
///
/// let nothing = CompactionResult::nothing();
/// assert_eq!(nothing.action, CompactionAction::Nothing);
/// assert_eq!(nothing.tables_in, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactionResult {
    /// What was done.
    pub action: CompactionAction,
    /// The level written to, if any.
    pub dest_level: Option<u8>,
    /// Tables read (merged), moved or dropped.
    pub tables_in: usize,
    /// Tables written.
    pub tables_out: usize,
}

impl CompactionResult {
    /// A step that did nothing.
    pub fn nothing() -> Self {
        Self {
            action: CompactionAction::Nothing,
            dest_level: None,
            tables_in: 0,
            tables_out: 0,
        }
    }
}

/// What a [`CompactionStrategy`] asks the tree to do.
///
/// The tree checks a choice before carrying it out: unknown or busy tables (taken by a
/// compaction running on another thread) turn it into [`CompactionAction::Nothing`]; a merge
/// into a level of one run also takes that level's tables that overlap the inputs; a move whose
/// tables would overlap the destination becomes a merge.
///
/// ```
/// use strata::compaction::Choice;
///
/// let choice = Choice::Merge { table_ids: vec![1, 2], dest_level: 1, target_size: 64 << 20 };
/// assert_ne!(choice, Choice::DoNothing);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Nothing to do.
    DoNothing,
    /// Move tables to `dest_level` without rewriting them.
    Move {
        /// The tables to move.
        table_ids: Vec<TableId>,
        /// Where they go.
        dest_level: u8,
    },
    /// Merge tables into new tables of `dest_level`, cut at `target_size` bytes.
    Merge {
        /// The tables to merge.
        table_ids: Vec<TableId>,
        /// Where the output goes.
        dest_level: u8,
        /// The size at which output tables are cut (between user keys).
        target_size: u64,
    },
    /// Drop tables whole (their data is gone for reads at seqnos after the step).
    Drop {
        /// The tables to drop.
        table_ids: Vec<TableId>,
    },
}

/// Chooses the next compaction step. Implement it to write a strategy of your own.
///
/// `choose` must be quick and must not block: it runs while other compactions wait to choose.
/// It should skip tables whose [`TableInfo::busy`] is set (another compaction holds them).
///
/// ```
/// use std::sync::Arc;
/// use strata::compaction::{Choice, CompactionAction, CompactionStrategy, TreeView};
/// use strata::{Config, SequenceNumberCounter};
///
/// /// Moves every level-0 table to level 1, then does nothing.
/// struct L0ToL1;
///
/// impl CompactionStrategy for L0ToL1 {
///     fn name(&self) -> &'static str {
///         "l0-to-l1"
///     }
///
///     fn choose(&self, view: &TreeView) -> Choice {
///         let table_ids: Vec<_> = view.levels()[0].tables().filter(|t| !t.busy).map(|t| t.id).collect();
///         if table_ids.is_empty() {
///             return Choice::DoNothing;
///         }
///         Choice::Merge { table_ids, dest_level: 1, target_size: 64 << 20 }
///     }
/// }
///
/// # let dir = tempfile::tempdir()?;
/// let seqno = SequenceNumberCounter::default();
/// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
/// tree.insert("a", "1", seqno.next());
/// tree.flush_active_memtable(0)?;
/// tree.insert("b", "2", seqno.next());
/// tree.flush_active_memtable(0)?;
/// let result = tree.compact(Arc::new(L0ToL1), 0)?;
/// assert_eq!(result.action, CompactionAction::Merged);
/// assert_eq!(tree.level_table_count(0), Some(0));
/// assert_eq!(tree.level_table_count(1), Some(1));
/// assert_eq!(tree.compact(Arc::new(L0ToL1), 0)?.action, CompactionAction::Nothing);
/// # Ok::<(), strata::Error>(())
/// ```
pub trait CompactionStrategy: Send + Sync {
    /// A short name, for logs and tools.
    fn name(&self) -> &'static str;

    /// The next step, given the tree's levels.
    fn choose(&self, view: &TreeView) -> Choice;

    /// The strategy's settings as bytes, for a [`Database`](crate::Database), which persists
    /// a keyspace's options when it creates the keyspace. Strata's own strategies return them,
    /// so a keyspace created with one of them reopens with the same strategy and settings
    /// whatever the options given at a later open say. `None`, the default, for a strategy of
    /// the application's own: the database persists only its [`name`](Self::name), and every
    /// later open of the keyspace must pass a strategy of that name. An application's strategy
    /// should keep the default: one that returns a built-in strategy's name and settings is
    /// recorded as that built-in strategy and reopens as it.
    ///
    /// ```
    /// use strata::compaction::{CompactionStrategy, Leveled};
    ///
    /// assert!(Leveled::default().encode_settings().is_some());
    /// ```
    fn encode_settings(&self) -> Option<Vec<u8>> {
        None
    }
}

/// The built-in strategy named `name` with the settings it encoded
/// ([`CompactionStrategy::encode_settings`]); `None` for another name or bytes that do not
/// decode.
pub(crate) fn decode_builtin(
    name: &str,
    settings: &[u8],
) -> Option<std::sync::Arc<dyn CompactionStrategy>> {
    let mut cursor = crate::coding::Cursor::new(settings);
    let strategy: std::sync::Arc<dyn CompactionStrategy> = match name {
        leveled::NAME => std::sync::Arc::new(Leveled::decode_settings(&mut cursor).ok()?),
        tiered::NAME => std::sync::Arc::new(SizeTiered::decode_settings(&mut cursor).ok()?),
        fifo::NAME => std::sync::Arc::new(Fifo::decode_settings(&mut cursor).ok()?),
        _ => return None,
    };
    cursor.is_empty().then_some(strategy)
}

/// A table, as a strategy sees it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TableInfo {
    /// The table's id.
    pub id: TableId,
    /// The smallest user key.
    pub min_key: Slice,
    /// The largest user key.
    pub max_key: Slice,
    /// The file's size.
    pub size_bytes: u64,
    /// The bytes of blob-file records the table's pointers reach (key-value separation; 0
    /// without): space the table holds beyond its own file.
    pub blob_bytes: u64,
    /// Entries (versions and tombstones).
    pub entry_count: u64,
    /// Tombstones.
    pub tombstone_count: u64,
    /// Weak tombstones.
    pub weak_tombstone_count: u64,
    /// Range-tombstone fragments: a table with any is worth compacting down, so that what
    /// they delete is reclaimed.
    pub range_tombstone_count: u64,
    /// An estimate of the bytes of other tables that this table's range tombstones delete (0
    /// without range tombstones): what merging it down with them would reclaim. Per table
    /// beneath them with older entries, its size times the share of its key range they cover
    /// (interpolated over the keys' bytes under the default comparator).
    pub range_deleted_bytes: u64,
    /// The lowest seqno in the table.
    pub seqno_min: SeqNo,
    /// The highest seqno in the table.
    pub seqno_max: SeqNo,
    /// When the table was written, in microseconds since the Unix epoch.
    pub created_at_micros: u64,
    /// Whether a running compaction holds the table.
    pub busy: bool,
}

/// A run: tables with disjoint key ranges, in key order.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct RunInfo {
    /// The tables, in key order.
    pub tables: Vec<TableInfo>,
}

impl RunInfo {
    /// The bytes of the run's tables.
    pub fn size_bytes(&self) -> u64 {
        self.tables.iter().map(|t| t.size_bytes).sum()
    }

    /// Whether any table of the run is busy.
    pub fn is_busy(&self) -> bool {
        self.tables.iter().any(|t| t.busy)
    }
}

/// A level: its runs (level 0: newest first; deeper levels usually hold one run).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct LevelInfo {
    /// The runs.
    pub runs: Vec<RunInfo>,
}

impl LevelInfo {
    /// Every table of the level.
    pub fn tables(&self) -> impl Iterator<Item = &TableInfo> {
        self.runs.iter().flat_map(|r| r.tables.iter())
    }

    /// The bytes of the level's tables.
    pub fn size_bytes(&self) -> u64 {
        self.runs.iter().map(RunInfo::size_bytes).sum()
    }

    /// The number of tables.
    pub fn table_count(&self) -> usize {
        self.runs.iter().map(|r| r.tables.len()).sum()
    }

    /// Whether the level has no table.
    pub fn is_empty(&self) -> bool {
        self.runs.iter().all(|r| r.tables.is_empty())
    }
}

/// A read-only view of a tree's levels, given to [`CompactionStrategy::choose`].
#[derive(Clone, Debug)]
pub struct TreeView {
    pub(crate) levels: Vec<LevelInfo>,
    pub(crate) cmp: Comparator,
    pub(crate) now_micros: u64,
    /// Whether every memtable was empty when the view was taken.
    pub(crate) memtables_empty: bool,
}

impl TreeView {
    /// The levels, level 0 first.
    pub fn levels(&self) -> &[LevelInfo] {
        &self.levels
    }

    /// The index of the last level.
    pub fn last_level(&self) -> usize {
        self.levels.len().saturating_sub(1)
    }

    /// Compares two user keys in the tree's order.
    pub fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        self.cmp.user(a, b)
    }

    /// Whether the key ranges `[a_min, a_max]` and `[b_min, b_max]` share a key.
    pub fn ranges_overlap(&self, a_min: &[u8], a_max: &[u8], b_min: &[u8], b_max: &[u8]) -> bool {
        self.compare(a_min, b_max).is_le() && self.compare(b_min, a_max).is_le()
    }

    /// The tables of `level` whose key ranges overlap `[min, max]`.
    pub fn overlapping<'a>(
        &'a self,
        level: usize,
        min: &'a [u8],
        max: &'a [u8],
    ) -> impl Iterator<Item = &'a TableInfo> + 'a {
        self.levels
            .get(level)
            .into_iter()
            .flat_map(LevelInfo::tables)
            .filter(move |t| self.ranges_overlap(&t.min_key, &t.max_key, min, max))
    }

    /// The smallest and largest key of `tables` (`None` if empty).
    pub fn key_range<'a>(
        &self,
        tables: impl IntoIterator<Item = &'a TableInfo>,
    ) -> Option<(Slice, Slice)> {
        let mut range: Option<(Slice, Slice)> = None;
        for t in tables {
            range = Some(match range {
                None => (t.min_key.clone(), t.max_key.clone()),
                Some((lo, hi)) => (
                    if self.compare(&t.min_key, &lo).is_lt() {
                        t.min_key.clone()
                    } else {
                        lo
                    },
                    if self.compare(&t.max_key, &hi).is_gt() {
                        t.max_key.clone()
                    } else {
                        hi
                    },
                ),
            });
        }
        range
    }

    /// The time of the view, in microseconds since the Unix epoch (what TTLs are measured
    /// against).
    pub fn now_micros(&self) -> u64 {
        self.now_micros
    }

    /// Whether every memtable (the active one and the sealed ones) was empty when the view was
    /// taken: the writes have stopped and everything written is in tables. A strategy may spend
    /// this idle time on work that makes reads cheaper but that it would not do while writes
    /// come in ([`Leveled`] merges level 0's runs into one).
    pub fn memtables_empty(&self) -> bool {
        self.memtables_empty
    }

    /// A table by id.
    pub fn table(&self, id: TableId) -> Option<(usize, &TableInfo)> {
        self.levels
            .iter()
            .enumerate()
            .find_map(|(i, level)| level.tables().find(|t| t.id == id).map(|t| (i, t)))
    }

    /// A view built from `levels` (for tests of strategies): `levels[i][j]` is run `j` of level
    /// `i` as `(id, min_key, max_key, size_bytes, seqno_max)` tuples.
    #[doc(hidden)]
    pub fn for_test(levels: &[Vec<Vec<TestTable<'_>>>]) -> Self {
        let levels = levels
            .iter()
            .map(|runs| LevelInfo {
                runs: runs
                    .iter()
                    .map(|tables| RunInfo {
                        tables: tables
                            .iter()
                            .map(|&(id, min, max, size, seqno)| TableInfo {
                                blob_bytes: 0,
                                id,
                                min_key: Slice::from(min),
                                max_key: Slice::from(max),
                                size_bytes: size,
                                entry_count: size / 100,
                                tombstone_count: 0,
                                weak_tombstone_count: 0,
                                range_tombstone_count: 0,
                                range_deleted_bytes: 0,
                                seqno_min: seqno,
                                seqno_max: seqno,
                                created_at_micros: 0,
                                busy: false,
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        Self {
            levels,
            cmp: Comparator::default(),
            now_micros: 0,
            memtables_empty: false,
        }
    }
}
