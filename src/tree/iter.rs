//! Scans: `iter`, `range` and `prefix`, and the reads built on them.
//!
//! A scan takes the current SuperVersion, opens one source per memtable and one per run of tables
//! (plus the optional `index` overlay, at its own seqno) bounded by the range, merges them
//! ([`MergingIter`]) and picks the visible version per key ([`MvccStream`]). The iterator owns its SuperVersion and its bounds, so
//! it is `Send + 'static` and may outlive the tree handle.

use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use super::handle::Tree;
use crate::error::Result;
use crate::guard::IterGuardImpl;
use crate::iter::merging::{BoxedSource, MergingIter, Plain};
use crate::iter::mvcc::MvccStream;
use crate::key::{Comparator, InternalValue};
use crate::memtable::{Memtable, MemtableIter, MemtableSource};
use crate::range_tombstone::Cover;
use crate::seqno::SeqNo;
use crate::slice::Slice;
use crate::version::{RunIter, Version};

/// An owned user-key range.
type OwnedBounds = (Bound<Slice>, Bound<Slice>);

/// What a prefix scan leaves tables out by: the tables the named extractor wrote whose filters
/// rule out `hash`, the filter hash of `prefix`.
struct PrefixSkip {
    extractor: String,
    prefix: Slice,
    hash: u64,
}

/// The smallest byte string greater than every string that starts with `prefix`, if any.
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Slice> {
    let last = prefix.iter().rposition(|&b| b != u8::MAX)?;
    let mut succ = prefix.get(..=last)?.to_vec();
    if let Some(byte) = succ.last_mut() {
        *byte += 1;
    }
    Some(Slice::from(succ))
}

/// One scan source per run of `version`, in read order (level 0 newest first, then deeper).
fn run_sources<'a>(
    version: &'a Version,
    cmp: &'a Comparator,
    bounds: &'a OwnedBounds,
    seqno: SeqNo,
) -> impl Iterator<Item = BoxedSource> + 'a {
    version
        .runs()
        .filter(|run| run.has_entries())
        .map(move |run| -> BoxedSource {
            Box::new(RunIter::new(Arc::clone(run), cmp, bounds.clone(), seqno))
        })
}

/// The visible entries of `version`'s tables alone (no memtable) in `bounds` at `seqno`: what a
/// tree opened on these tables reads. For tools that read a directory without opening it.
#[cfg(feature = "internals")]
pub(crate) fn scan_version(
    version: &Version,
    cmp: &Comparator,
    bounds: OwnedBounds,
    seqno: SeqNo,
) -> MvccStream<MergingIter> {
    let sources = run_sources(version, cmp, &bounds, seqno).collect();
    let cover = Cover::new(version.range_tombstones().cloned(), seqno, cmp.clone());
    MvccStream::new(MergingIter::new(sources, cmp.clone()), cmp.clone())
        .with_range_tombstones(cover)
}

impl Tree {
    /// The visible entries in `bounds`, in key order from either end.
    pub(crate) fn scan(
        &self,
        bounds: OwnedBounds,
        seqno: SeqNo,
        index: Option<(Arc<Memtable>, SeqNo)>,
    ) -> MvccStream<MergingIter> {
        self.scan_skipping(bounds, seqno, index, None)
    }

    /// The prefix filter a scan for `prefix` may use: only with an extractor, for a prefix it
    /// calls a scan boundary, and under a comparator whose equal keys are byte-equal. (Under one
    /// that calls different bytes equal, a skipped table's key could be the newest version of a
    /// key with the prefix in another table, and its loss would resurrect the older one.)
    fn prefix_skip(&self, prefix: &[u8]) -> Option<PrefixSkip> {
        let extractor = self.0.config.prefix_extractor.as_deref()?;
        let name = crate::prefix::recorded_name(Some(extractor))?;
        (self.0.cmp.equal_means_byte_equal() && crate::prefix::skips_tables_for(extractor, prefix))
            .then(|| PrefixSkip {
                extractor: name.to_string(),
                prefix: Slice::new(prefix),
                hash: crate::table::filter::key_hash(prefix),
            })
    }

    /// [`Tree::scan`], leaving out the tables `skip` rules out (each counted in
    /// `prefix_filter_skips`). A filter that cannot be read becomes an error of the scan.
    fn scan_skipping(
        &self,
        bounds: OwnedBounds,
        seqno: SeqNo,
        index: Option<(Arc<Memtable>, SeqNo)>,
        skip: Option<&PrefixSkip>,
    ) -> MvccStream<MergingIter> {
        let super_version = self.0.super_version.for_seqno(seqno);
        let mut sources: Vec<BoxedSource> = Vec::with_capacity(
            2 + super_version.sealed.len() + super_version.version.runs().count(),
        );
        if let Some((memtable, index_seqno)) = index {
            sources.push(Box::new(Plain(
                MemtableIter::new(memtable, bounds.clone(), index_seqno).map(Ok),
            )));
        }
        for memtable in super_version.memtables() {
            sources.push(Box::new(MemtableSource(MemtableIter::new(
                Arc::clone(memtable),
                bounds.clone(),
                seqno,
            ))));
        }
        match skip {
            None => sources.extend(run_sources(
                &super_version.version,
                &self.0.cmp,
                &bounds,
                seqno,
            )),
            Some(skip) => {
                for run in super_version.version.runs().filter(|run| run.has_entries()) {
                    sources.push(self.skipping_run_source(run, &bounds, seqno, skip));
                }
            }
        }
        let cover = Cover::new(
            super_version.range_tombstone_lists(),
            seqno,
            self.0.cmp.clone(),
        );
        MvccStream::new(
            MergingIter::new(sources, self.0.cmp.clone()),
            self.0.cmp.clone(),
        )
        .with_merge(self.0.config.merge_operator.clone())
        .with_range_tombstones(cover)
        .with_blobs(Arc::clone(&super_version.version))
    }

    /// A scan source over the tables of `run` in `bounds` whose filters admit `skip`'s prefix.
    fn skipping_run_source(
        &self,
        run: &crate::version::Run,
        bounds: &OwnedBounds,
        seqno: SeqNo,
        skip: &PrefixSkip,
    ) -> BoxedSource {
        let kept = run.retain_overlapping(&self.0.cmp, bounds, |table| {
            if table.meta().prefix_extractor.as_deref() != Some(skip.extractor.as_str()) {
                return Ok(true);
            }
            let admitted = table.filter_may_contain_prefix(&skip.prefix, skip.hash)?;
            if !admitted {
                self.0
                    .prefix_filter_skips
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(admitted)
        });
        match kept {
            Ok(kept) => Box::new(RunIter::new(
                Arc::new(kept),
                &self.0.cmp,
                bounds.clone(),
                seqno,
            )),
            Err(e) => Box::new(Plain(std::iter::once(Err(e)))),
        }
    }

    /// The visible entries whose keys start with `prefix`.
    fn scan_prefix(
        &self,
        prefix: &[u8],
        seqno: SeqNo,
        index: Option<(Arc<Memtable>, SeqNo)>,
    ) -> (
        Box<dyn DoubleEndedIterator<Item = Result<InternalValue>> + Send + 'static>,
        Option<Arc<Version>>,
    ) {
        let skip = self.prefix_skip(prefix);
        if self.0.cmp.is_lexicographic() {
            let upper = prefix_successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
            let bounds = (Bound::Included(Slice::new(prefix)), upper);
            let scan = self.scan_skipping(bounds, seqno, index, skip.as_ref());
            let blobs = scan.blobs();
            (Box::new(scan), blobs)
        } else {
            // NB: under a custom comparator, keys sharing a prefix need not form one byte range;
            // filter the whole stream instead.
            let prefix = Slice::new(prefix);
            let scan = self.scan_skipping(
                (Bound::Unbounded, Bound::Unbounded),
                seqno,
                index,
                skip.as_ref(),
            );
            let blobs = scan.blobs();
            let filtered = scan.filter(move |entry| {
                entry
                    .as_ref()
                    .map_or(true, |e| e.key.user_key.starts_with(&prefix))
            });
            (Box::new(filtered), blobs)
        }
    }

    /// All visible key-value pairs as of `seqno`, in key order; double-ended.
    ///
    /// `index` adds a memtable read on top at its own seqno (read-your-own-writes); pass `None`.
    ///
    /// ```
    /// # use strata::{Config, Guard, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default()).open()?;
    /// tree.insert("b", "2", 0);
    /// tree.insert("a", "1", 1);
    /// let pairs: Vec<_> = tree.iter(2, None).map(|g| g.into_inner().unwrap()).collect();
    /// assert_eq!(pairs, [("a".into(), "1".into()), ("b".into(), "2".into())]);
    /// let last = tree.iter(2, None).next_back().unwrap().key()?;
    /// assert_eq!(last, "b");
    /// // At seqno 1 only "b" (seqno 0) is visible.
    /// assert_eq!(tree.iter(1, None).count(), 1);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn iter(
        &self,
        seqno: SeqNo,
        index: Option<(Arc<Memtable>, SeqNo)>,
    ) -> impl DoubleEndedIterator<Item = IterGuardImpl> + Send + 'static {
        guards(self.scan((Bound::Unbounded, Bound::Unbounded), seqno, index))
    }

    /// The visible pairs whose keys fall in `range`, in key order; double-ended.
    ///
    /// ```
    /// # use strata::{Config, Guard, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default()).open()?;
    /// for (i, k) in ["a", "b", "c", "d"].into_iter().enumerate() {
    ///     tree.insert(k, "", i as u64);
    /// }
    /// let keys = |it: &mut dyn DoubleEndedIterator<Item = strata::IterGuardImpl>| {
    ///     it.map(|g| g.key().unwrap()).collect::<Vec<_>>()
    /// };
    /// assert_eq!(keys(&mut tree.range("b".."d", 9, None)), ["b", "c"]);
    /// assert_eq!(keys(&mut tree.range("b"..="d", 9, None).rev()), ["d", "c", "b"]);
    /// assert_eq!(keys(&mut tree.range::<&str, _>(.., 9, None)).len(), 4);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        range: R,
        seqno: SeqNo,
        index: Option<(Arc<Memtable>, SeqNo)>,
    ) -> impl DoubleEndedIterator<Item = IterGuardImpl> + Send + 'static {
        let bounds = crate::key_range::Bounds::from_range(&range).into_pair();
        guards(self.scan(bounds, seqno, index))
    }

    /// The visible pairs whose keys start with `prefix`, in key order; double-ended.
    ///
    /// ```
    /// # use strata::{Config, Guard, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default()).open()?;
    /// for (i, k) in ["user:1", "user:2", "users", "video:1"].into_iter().enumerate() {
    ///     tree.insert(k, "", i as u64);
    /// }
    /// let keys: Vec<_> = tree.prefix("user:", 9, None).rev().map(|g| g.key().unwrap()).collect();
    /// assert_eq!(keys, ["user:2", "user:1"]);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn prefix<K: AsRef<[u8]>>(
        &self,
        prefix: K,
        seqno: SeqNo,
        index: Option<(Arc<Memtable>, SeqNo)>,
    ) -> impl DoubleEndedIterator<Item = IterGuardImpl> + Send + 'static {
        let (scan, blobs) = self.scan_prefix(prefix.as_ref(), seqno, index);
        scan.map(move |entry| guard(entry, blobs.as_deref()))
    }

    /// The first visible pair as of `seqno`, if any.
    pub fn first_key_value(
        &self,
        seqno: SeqNo,
        index: Option<(Arc<Memtable>, SeqNo)>,
    ) -> Option<IterGuardImpl> {
        self.iter(seqno, index).next()
    }

    /// The last visible pair as of `seqno`, if any.
    pub fn last_key_value(
        &self,
        seqno: SeqNo,
        index: Option<(Arc<Memtable>, SeqNo)>,
    ) -> Option<IterGuardImpl> {
        self.iter(seqno, index).next_back()
    }

    /// The number of visible keys as of `seqno`. This scans the whole tree.
    ///
    /// # Errors
    /// The first I/O or corruption error met while scanning.
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default()).open()?;
    /// tree.insert("a", "", 0);
    /// tree.insert("a", "", 1);
    /// tree.insert("b", "", 2);
    /// tree.remove("b", 3);
    /// assert_eq!(tree.len(3, None)?, 2);
    /// assert_eq!(tree.len(4, None)?, 1);
    /// assert!(tree.is_empty(0, None)?);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn len(&self, seqno: SeqNo, index: Option<(Arc<Memtable>, SeqNo)>) -> Result<usize> {
        let mut count = 0;
        for entry in self.scan((Bound::Unbounded, Bound::Unbounded), seqno, index) {
            entry?;
            count += 1;
        }
        Ok(count)
    }

    /// Whether no key is visible as of `seqno`.
    ///
    /// # Errors
    /// The I/O or corruption error met while reading the first entry.
    pub fn is_empty(&self, seqno: SeqNo, index: Option<(Arc<Memtable>, SeqNo)>) -> Result<bool> {
        self.scan((Bound::Unbounded, Bound::Unbounded), seqno, index)
            .next()
            .transpose()
            .map(|first| first.is_none())
    }

    /// Whether some visible key starts with `prefix`.
    ///
    /// # Errors
    /// The I/O or corruption error met while reading the first matching entry.
    pub fn contains_prefix<K: AsRef<[u8]>>(
        &self,
        prefix: K,
        seqno: SeqNo,
        index: Option<(Arc<Memtable>, SeqNo)>,
    ) -> Result<bool> {
        self.scan_prefix(prefix.as_ref(), seqno, index)
            .0
            .next()
            .transpose()
            .map(|first| first.is_some())
    }
}

/// A scan's entries as iterator items.
fn guards(
    scan: MvccStream<MergingIter>,
) -> impl DoubleEndedIterator<Item = IterGuardImpl> + Send + 'static {
    let blobs = scan.blobs();
    scan.map(move |entry| guard(entry, blobs.as_deref()))
}

/// An entry as an iterator item: a value in a blob file is left unread until asked for.
fn guard(entry: Result<InternalValue>, blobs: Option<&Version>) -> IterGuardImpl {
    match entry {
        Ok(e) if e.key.value_type == crate::key::ValueType::Indirection => {
            match blobs.map_or_else(
                || {
                    Version::default()
                        .blob_of(&e)
                        .map(|(f, p)| (Arc::clone(f), p))
                },
                |v| v.blob_of(&e).map(|(f, p)| (Arc::clone(f), p)),
            ) {
                Ok((file, pointer)) => IterGuardImpl::blob(e.key.user_key, pointer, file),
                Err(err) => IterGuardImpl::new(Err(err)),
            }
        }
        entry => IterGuardImpl::new(entry.map(|e| (e.key.user_key, e.value))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, SequenceNumberCounter};

    /// A scan over a wide covered span moves the older sources past it (a few plain steps
    /// first) instead of stepping through every deleted entry, forward and backward, and reads
    /// exactly what a scan from both ends (which never seeks) reads.
    #[test]
    fn forward_scans_seek_past_wide_range_tombstones() {
        let dir = tempfile::tempdir().unwrap();
        let seqno = SequenceNumberCounter::default();
        let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default())
            .open()
            .unwrap();
        for i in 0..2000u32 {
            tree.insert(format!("k{i:05}"), "v", seqno.next());
        }
        tree.flush_active_memtable(0).unwrap();
        for i in 0..2000u32 {
            tree.insert(format!("k{i:05}"), "w", seqno.next());
        }
        tree.remove_range("k00100", "k01900", seqno.next());
        // A key written after the tombstone, inside it: the memtable holds a newer seqno, so it
        // is not moved past the span, and the key is found.
        tree.insert("k01000", "new", seqno.next());
        let read = seqno.get();
        let mut scan = tree.scan((Bound::Unbounded, Bound::Unbounded), read, None);
        let keys: Vec<Slice> = scan.by_ref().map(|e| e.unwrap().key.user_key).collect();
        assert_eq!(keys.len(), 100 + 1 + 100);
        assert!(keys.contains(&Slice::from("k01000")));
        assert!(
            scan.inner().seeks() >= 1,
            "the table's run was moved past the span"
        );
        let mut back = tree.scan((Bound::Unbounded, Bound::Unbounded), read, None);
        let backward: Vec<Slice> = back
            .by_ref()
            .rev()
            .map(|e| e.unwrap().key.user_key)
            .collect();
        assert_eq!(backward.into_iter().rev().collect::<Vec<_>>(), keys);
        assert!(back.inner().seeks() >= 1, "backward too");
        // Mixed directions: no seek once both ends were read, and the same keys.
        let mut mixed = tree.scan((Bound::Unbounded, Bound::Unbounded), read, None);
        let mut ascending = Vec::new();
        let mut descending = Vec::new();
        while let Some(head) = mixed.next() {
            ascending.push(head.unwrap().key.user_key);
            let Some(tail) = mixed.next_back() else {
                break;
            };
            descending.push(tail.unwrap().key.user_key);
        }
        descending.reverse();
        ascending.extend(descending);
        assert_eq!(ascending, keys);
        // Bounded scans starting inside the span agree too.
        let inside: Vec<Slice> = tree
            .range("k00500".."k01950", read, None)
            .map(|g| crate::Guard::key(g).unwrap())
            .collect();
        assert_eq!(inside.len(), 1 + 50);
    }

    #[test]
    fn prefix_successor_skips_trailing_ff_bytes() {
        assert_eq!(prefix_successor(b"ab"), Some(Slice::from("ac")));
        assert_eq!(prefix_successor(b"a\xff\xff"), Some(Slice::from("b")));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }
}
