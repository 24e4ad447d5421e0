//! FIFO compaction: data is dropped oldest first, whole tables at a time, once the tree passes a
//! size limit or once tables outlive a time to live. Nothing is ever merged, so writes cost one
//! flush; reads visit every level-0 run, so FIFO suits logs and caches with a bounded window.
//!
//! A step drops, first, every table written more than `ttl_secs` ago (if a TTL is set); else,
//! while the tree is above `limit_bytes`, the tables with the oldest data (lowest highest seqno)
//! until it is not. Busy tables are skipped.

use crate::coding::{Cursor, put_varint_u64};
use crate::error::CorruptionKind;

use super::{Choice, CompactionStrategy, TableInfo, TreeView};

/// FIFO compaction; see the module documentation.
///
/// ```
/// use std::sync::Arc;
/// use strata::compaction::{CompactionAction, Fifo};
/// use strata::{Config, SequenceNumberCounter};
///
/// # let dir = tempfile::tempdir()?;
/// let seqno = SequenceNumberCounter::default();
/// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
/// for i in 0..4 {
///     tree.insert(format!("k{i}"), vec![0u8; 1000], seqno.next());
///     tree.flush_active_memtable(0)?;
/// }
/// let one_table = tree.disk_space() / 4;
/// let fifo = Arc::new(Fifo::new(2 * one_table + one_table / 2, None));
/// assert_eq!(tree.compact(fifo, seqno.get())?.action, CompactionAction::Dropped);
/// assert_eq!(tree.table_count(), 2);
/// assert_eq!(tree.get("k0", seqno.get())?, None, "the oldest went first");
/// assert!(tree.get("k3", seqno.get())?.is_some());
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Fifo {
    limit_bytes: u64,
    ttl_secs: Option<u64>,
}

impl Fifo {
    /// Keeps at most `limit_bytes` of tables and, with `ttl_secs`, no table older than that.
    pub fn new(limit_bytes: u64, ttl_secs: Option<u64>) -> Self {
        Self {
            limit_bytes,
            ttl_secs,
        }
    }
}

/// [`Fifo`]'s name.
pub(super) const NAME: &str = "fifo";

impl Fifo {
    /// Reads what [`CompactionStrategy::encode_settings`] wrote.
    pub(super) fn decode_settings(c: &mut Cursor<'_>) -> Result<Self, CorruptionKind> {
        let limit_bytes = c.varint()?;
        let ttl_secs = match c.u8()? {
            0 => None,
            1 => Some(c.varint()?),
            _ => return Err(CorruptionKind::InvalidField("fifo ttl")),
        };
        Ok(Self::new(limit_bytes, ttl_secs))
    }
}

impl CompactionStrategy for Fifo {
    fn name(&self) -> &'static str {
        NAME
    }

    fn encode_settings(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(20);
        put_varint_u64(&mut out, self.limit_bytes);
        match self.ttl_secs {
            None => out.push(0),
            Some(ttl) => {
                out.push(1);
                put_varint_u64(&mut out, ttl);
            }
        }
        Some(out)
    }

    fn choose(&self, view: &TreeView) -> Choice {
        let tables: Vec<&TableInfo> = view
            .levels()
            .iter()
            .flat_map(super::LevelInfo::tables)
            .collect();
        if let Some(ttl) = self.ttl_secs {
            let ttl_micros = ttl.saturating_mul(1_000_000);
            let expired: Vec<u64> = tables
                .iter()
                .filter(|t| {
                    !t.busy && t.created_at_micros.saturating_add(ttl_micros) <= view.now_micros()
                })
                .map(|t| t.id)
                .collect();
            if !expired.is_empty() {
                return Choice::Drop { table_ids: expired };
            }
        }
        // NB: a table's size includes the blob bytes its pointers reach: dropping it gives
        // them back (its blob files go once no table points into them).
        let size = |t: &TableInfo| t.size_bytes.saturating_add(t.blob_bytes);
        let mut total: u64 = tables.iter().map(|t| size(t)).sum();
        if total <= self.limit_bytes {
            return Choice::DoNothing;
        }
        let mut oldest_first: Vec<&TableInfo> = tables.into_iter().filter(|t| !t.busy).collect();
        oldest_first.sort_by_key(|t| (t.seqno_max, t.id));
        let mut dropped = Vec::new();
        for t in oldest_first {
            if total <= self.limit_bytes {
                break;
            }
            total = total.saturating_sub(size(t));
            dropped.push(t.id);
        }
        if dropped.is_empty() {
            Choice::DoNothing
        } else {
            Choice::Drop { table_ids: dropped }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_the_oldest_until_under_the_limit() {
        let view = TreeView::for_test(&[vec![
            vec![(3, "a", "b", 100, 30)],
            vec![(2, "a", "b", 100, 20)],
            vec![(1, "a", "b", 100, 10)],
        ]]);
        assert_eq!(Fifo::new(300, None).choose(&view), Choice::DoNothing);
        assert_eq!(
            Fifo::new(150, None).choose(&view),
            Choice::Drop {
                table_ids: vec![1, 2]
            }
        );
    }

    #[test]
    fn drops_expired_tables_first() {
        let mut view = TreeView::for_test(&[vec![
            vec![(2, "a", "b", 100, 20)],
            vec![(1, "a", "b", 100, 10)],
        ]]);
        view.now_micros = 10_000_000;
        view.levels[0].runs[0].tables[0].created_at_micros = 9_500_000;
        view.levels[0].runs[1].tables[0].created_at_micros = 1_000_000;
        assert_eq!(
            Fifo::new(u64::MAX, Some(5)).choose(&view),
            Choice::Drop { table_ids: vec![1] }
        );
        assert_eq!(
            Fifo::new(u64::MAX, Some(60)).choose(&view),
            Choice::DoNothing
        );
    }
}
