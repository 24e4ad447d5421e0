//! A run: tables with disjoint key ranges, sorted by key, read as one sorted sequence.

use std::ops::Bound;
use std::sync::Arc;

use crate::error::Result;
use crate::key::{Comparator, InternalValue};
use crate::seqno::SeqNo;
use crate::slice::Slice;
use crate::table::iter::TableIter;
use crate::table::reader::Table;

/// Tables with disjoint key ranges, sorted by key. A user key's versions never span two tables.
#[derive(Debug)]
pub(crate) struct Run {
    tables: Vec<Arc<Table>>,
    /// The highest seqno of an entry in any of the tables (range tombstones left out).
    kv_seqno_max: SeqNo,
    /// Whether some table holds an entry (not only range tombstones).
    has_entries: bool,
}

impl Run {
    /// A run of `tables`, which must be sorted by key with disjoint ranges.
    pub(crate) fn new(tables: Vec<Arc<Table>>) -> Self {
        let kv_seqno_max = tables
            .iter()
            .map(|t| t.meta().kv_seqno_max)
            .max()
            .unwrap_or(0);
        let has_entries = tables.iter().any(|t| t.meta().entry_count > 0);
        Self {
            tables,
            kv_seqno_max,
            has_entries,
        }
    }

    /// Whether some table holds an entry: a run of range tombstones alone has nothing to scan
    /// (its tombstones are in the version's list).
    pub(crate) fn has_entries(&self) -> bool {
        self.has_entries
    }

    pub(crate) fn tables(&self) -> &[Arc<Table>] {
        &self.tables
    }

    /// The table whose key range may hold `key`.
    pub(crate) fn table_for_key(&self, cmp: &Comparator, key: &[u8]) -> Option<&Arc<Table>> {
        let i = self.tables.partition_point(|t| t.ends_before(key));
        self.tables
            .get(i)
            .filter(|t| cmp.user(&t.meta().min_key, key).is_le())
    }

    /// The run of the tables overlapping `bounds` that `keep` holds for (in order, so still a
    /// run); the first error of `keep` ends it.
    pub(crate) fn retain_overlapping(
        &self,
        cmp: &Comparator,
        bounds: &(Bound<Slice>, Bound<Slice>),
        mut keep: impl FnMut(&Table) -> Result<bool>,
    ) -> Result<Self> {
        let mut tables = Vec::new();
        for table in self
            .tables
            .get(self.overlapping(cmp, bounds))
            .unwrap_or_default()
        {
            if keep(table)? {
                tables.push(Arc::clone(table));
            }
        }
        Ok(Self::new(tables))
    }

    /// The tables whose key ranges overlap `bounds`, as an index range.
    fn overlapping(
        &self,
        cmp: &Comparator,
        bounds: &(Bound<Slice>, Bound<Slice>),
    ) -> std::ops::Range<usize> {
        use crate::key_range::Bounds;
        // The first table whose last key reaches the start, and the first past the end.
        let start = self
            .tables
            .partition_point(|t| !Bounds::after(&bounds.0, &t.meta().max_key, cmp));
        let end = self
            .tables
            .partition_point(|t| Bounds::before(&bounds.1, &t.meta().min_key, cmp));
        start..end.max(start)
    }
}

/// A double-ended scan over one run: table scans opened lazily from either end. When both ends
/// reach the same table, they share its scan (which is itself double-ended), so no entry is
/// yielded twice.
pub(crate) struct RunIter {
    run: Arc<Run>,
    bounds: (Bound<Slice>, Bound<Slice>),
    read_seqno: SeqNo,
    /// Tables not yet opened: `next..end`.
    next: usize,
    end: usize,
    front: Option<TableIter>,
    /// Boxed: a forward scan never opens it, and without it a `RunIter` (boxed as a scan source)
    /// stays under glibc's 1,032-byte per-thread cache of small blocks; at about twice that, each
    /// seek's source allocations took its slower general path.
    back: Option<Box<TableIter>>,
    /// Whether the tables' scans fill the block cache ([`RunIter::without_cache_fill`]).
    fill_cache: bool,
}

impl RunIter {
    pub(crate) fn new(
        run: Arc<Run>,
        cmp: &Comparator,
        bounds: (Bound<Slice>, Bound<Slice>),
        read_seqno: SeqNo,
    ) -> Self {
        let range = run.overlapping(cmp, &bounds);
        Self {
            run,
            bounds,
            read_seqno,
            next: range.start,
            end: range.end,
            front: None,
            back: None,
            fill_cache: true,
        }
    }

    /// The same scan, leaving the block cache as it is (for compactions; see
    /// [`TableIter::without_cache_fill`]).
    pub(crate) fn without_cache_fill(mut self) -> Self {
        self.fill_cache = false;
        self
    }

    /// A scan of `table` within `bounds` with this run's seqno and cache filling.
    fn table_iter(&self, table: &Arc<Table>, bounds: (Bound<Slice>, Bound<Slice>)) -> TableIter {
        let iter = TableIter::new(Arc::clone(table), bounds, self.read_seqno);
        if self.fill_cache {
            iter
        } else {
            iter.without_cache_fill()
        }
    }

    /// A scan of table `i`; `None` for a table of range tombstones alone (nothing to scan).
    fn open(&self, i: usize) -> Option<TableIter> {
        self.run
            .tables
            .get(i)
            .filter(|t| t.meta().entry_count > 0)
            .map(|t| self.table_iter(t, self.bounds.clone()))
    }
}

impl crate::iter::merging::SeekSource for RunIter {
    /// Opens, at `key`, the first table of the run that reaches it (the table the front end
    /// reads, or a later one); only while the back end has not started.
    fn seek_front(&mut self, key: &[u8]) -> bool {
        if self.back.is_some() {
            return false;
        }
        let from = if self.front.is_some() {
            self.next.saturating_sub(1)
        } else {
            self.next
        };
        let tables = self.run.tables.get(from..self.end).unwrap_or_default();
        let i = from + tables.partition_point(|t| t.ends_before(key));
        self.front = None;
        self.next = i.min(self.end);
        if let Some(table) = self
            .run
            .tables
            .get(i)
            .filter(|t| i < self.end && t.meta().entry_count > 0)
        {
            self.front = Some(self.table_iter(
                table,
                (Bound::Included(Slice::new(key)), self.bounds.1.clone()),
            ));
            self.next = i + 1;
        }
        true
    }

    /// Opens, below `key`, the last table of the run that starts before it (the table the back
    /// end reads, or an earlier one); only while the front end has not started.
    fn seek_back(&mut self, key: &[u8]) -> bool {
        if self.front.is_some() {
            return false;
        }
        // NB: the back end reads table `end` when it holds a scan; tables `next..end` are
        // unopened.
        let limit = if self.back.is_some() {
            self.end + 1
        } else {
            self.end
        };
        let tables = self.run.tables.get(self.next..limit).unwrap_or_default();
        let cmp = self.run.tables.first().map(|t| t.cmp().clone());
        let before = tables.partition_point(|t| {
            cmp.as_ref()
                .is_some_and(|cmp| cmp.user(&t.meta().min_key, key).is_lt())
        });
        self.back = None;
        match before.checked_sub(1) {
            None => self.end = self.next,
            Some(offset) => {
                let j = self.next + offset;
                self.end = j;
                self.back = self
                    .run
                    .tables
                    .get(j)
                    .filter(|t| t.meta().entry_count > 0)
                    .map(|table| {
                        Box::new(self.table_iter(
                            table,
                            (self.bounds.0.clone(), Bound::Excluded(Slice::new(key))),
                        ))
                    });
            }
        }
        true
    }

    fn max_seqno(&self) -> SeqNo {
        self.run.kv_seqno_max
    }
}

impl Iterator for RunIter {
    type Item = Result<InternalValue>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(iter) = &mut self.front {
                match iter.next() {
                    Some(item) => return Some(item),
                    None => self.front = None,
                }
            }
            if self.next < self.end {
                self.front = self.open(self.next);
                self.next += 1;
                continue;
            }
            // Every table is open: the rest is in the back scan.
            return self.back.as_mut()?.next();
        }
    }
}

impl DoubleEndedIterator for RunIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(iter) = &mut self.back {
                match iter.next_back() {
                    Some(item) => return Some(item),
                    None => self.back = None,
                }
            }
            if self.next < self.end {
                self.end -= 1;
                self.back = self.open(self.end).map(Box::new);
                continue;
            }
            return self.front.as_mut()?.next_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scan boxes one `RunIter` per run of tables. glibc serves blocks of up to 1,032 bytes from
    /// a per-thread cache; a larger `RunIter` made every seek's source allocations take the
    /// general path (a profile of seekrandom put 1.4k instructions per seek there).
    #[test]
    fn a_run_scan_fits_an_allocators_small_block() {
        let size = std::mem::size_of::<RunIter>();
        assert!(size <= 1024, "RunIter is {size} bytes");
    }
}
