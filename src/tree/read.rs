//! Point reads.
//!
//! A point read looks at the memtables newest first, then at every run (level 0 newest first,
//! then the deeper levels), and keeps the version with the highest visible seqno. It does not stop
//! at the first hit: seqnos are chosen by callers, so an older memtable or run may hold a newer
//! version (two writers that took seqnos before a rotation). It skips a memtable or table whose
//! highest seqno cannot beat the version already found; in a run it looks only at the one table
//! whose key range holds the key, and a table's filter is probed with one key hash computed once
//! for the whole read.
//!
//! Range tombstones: once a version is found, the read looks up the highest range tombstone
//! covering the key (one binary search per memtable with range tombstones and one for all
//! tables, `SuperVersion::range_tombstone_cover`); a version below it is deleted, and the cover
//! stands as a tombstone just below its seqno, so the sources that cannot beat it are skipped.
//!
//! When the newest version is a merge operand and the tree has a merge operator, the read goes on
//! in the same SuperVersion, down to the first version that is not an operand (`crate::merge`):
//! for the first [`POINT_STEPS`] operands by point reads just below the last version found (each
//! one keeps every skip of a point read: filters, seqno ranges, the hash index); past them by
//! one merge of the key's versions from every source that may hold it (memtables, and each run's
//! one table for the key whose filter admits it), which reads each source once however many
//! operands it holds.

use std::ops::Bound;
use std::sync::Arc;

use super::handle::Tree;
use super::super_version::SuperVersion;
use crate::error::Result;
use crate::iter::merging::{BoxedSource, MergingIter};
use crate::key::{InternalValue, ValueType};
use crate::memtable::{Memtable, MemtableIter, MemtableSource};
use crate::merge::MergeOperator;
use crate::seqno::SeqNo;
use crate::slice::{Slice, UserValue};
use crate::table::filter::key_hash;
use crate::version::RunIter;

/// How many operands a point read resolves by point reads before it merges the key's versions
/// from every source instead.
const POINT_STEPS: usize = 8;

impl Tree {
    /// The newest version of `key` visible at `seqno`, tombstones included; a value stored in a
    /// blob file comes back read, as a plain value.
    pub(crate) fn get_internal(&self, key: &[u8], seqno: SeqNo) -> Result<Option<InternalValue>> {
        self.with_super_version(seqno, |sv| {
            let Some(mut entry) = self.get_in(sv, key, seqno)? else {
                return Ok(None);
            };
            if entry.key.value_type == ValueType::Indirection {
                entry.value = sv.version.load_value(&entry)?;
                entry.key.value_type = ValueType::Value;
            }
            Ok(Some(entry))
        })
    }

    /// Runs `read` on the SuperVersion a read at `seqno` sees.
    fn with_super_version<R>(&self, seqno: SeqNo, read: impl FnOnce(&SuperVersion) -> R) -> R {
        // NB: load the current SuperVersion before looking at the history (see
        // `Published::for_seqno`); most reads are above every kept step and stop here.
        let current = self.0.super_version.load();
        if !self.0.super_version.history_reaches(seqno) {
            return read(&current);
        }
        drop(current);
        read(&self.0.super_version.for_seqno(seqno))
    }

    /// The value of `key` at `seqno`, merge operands resolved.
    fn get_value(&self, key: &[u8], seqno: SeqNo) -> Result<Option<UserValue>> {
        self.with_super_version(seqno, |sv| {
            let newest = self.get_in(sv, key, seqno)?;
            match (newest, &self.0.config.merge_operator) {
                (Some(entry), Some(operator))
                    if entry.key.value_type == ValueType::MergeOperand =>
                {
                    self.resolve_in(sv, operator.as_ref(), key, seqno, entry)
                        .map(Some)
                }
                (Some(entry), _) if entry.key.value_type == ValueType::Indirection => {
                    sv.version.load_value(&entry).map(Some)
                }
                (newest, _) => Ok(resolve(newest)),
            }
        })
    }

    /// The length of `key`'s value at `seqno`: for a value in a blob file, from its pointer,
    /// without reading the blob file.
    fn value_len(&self, key: &[u8], seqno: SeqNo) -> Result<Option<u32>> {
        self.with_super_version(seqno, |sv| {
            let Some(entry) = self.get_in(sv, key, seqno)? else {
                return Ok(None);
            };
            // NB: values longer than u32::MAX are refused at write time.
            let len = |value: &[u8]| u32::try_from(value.len()).unwrap_or(u32::MAX);
            match (entry.key.value_type, &self.0.config.merge_operator) {
                (ValueType::Indirection, _) => Ok(Some(sv.version.blob_of(&entry)?.1.value_len)),
                (ValueType::MergeOperand, Some(operator)) => self
                    .resolve_in(sv, operator.as_ref(), key, seqno, entry)
                    .map(|v| Some(len(&v))),
                (ValueType::Tombstone | ValueType::WeakTombstone, _) => Ok(None),
                (ValueType::Value | ValueType::MergeOperand, _) => Ok(Some(len(&entry.value))),
            }
        })
    }

    /// `key`'s versions in `super_version` from `newest` (an operand, the newest visible at
    /// `seqno`) down, merged; see the module documentation.
    fn resolve_in(
        &self,
        super_version: &SuperVersion,
        operator: &dyn MergeOperator,
        key: &[u8],
        seqno: SeqNo,
        newest: InternalValue,
    ) -> Result<UserValue> {
        // NB: versions below the range tombstone covering the key at `seqno` are gone for this
        // read, even where a read at an operand's own seqno (below the tombstone's, or equal
        // to it) would still see them.
        let floor = super_version.range_tombstone_cover(key, seqno, &self.0.cmp, 0);
        let mut versions = vec![newest];
        while let Some(last) = versions.last() {
            if last.key.value_type != ValueType::MergeOperand {
                break;
            }
            if versions.len() > POINT_STEPS {
                return self.merge_in(super_version, operator, key, seqno, floor);
            }
            // A read at the last version's seqno sees exactly the versions below it.
            match self.get_in(super_version, key, last.key.seqno)? {
                Some(older) if older.key.seqno >= floor => versions.push(older),
                _ => break,
            }
        }
        crate::merge::resolve_with(operator, key, &versions, Some(&super_version.version))
    }

    /// `key`'s visible versions in `super_version`, merged (the newest is an operand).
    fn merge_in(
        &self,
        super_version: &SuperVersion,
        operator: &dyn MergeOperator,
        key: &[u8],
        seqno: SeqNo,
        floor: SeqNo,
    ) -> Result<UserValue> {
        let bounds = (
            Bound::Included(Slice::new(key)),
            Bound::Included(Slice::new(key)),
        );
        let mut sources: Vec<BoxedSource> = Vec::new();
        for memtable in super_version.memtables() {
            sources.push(Box::new(MemtableSource(MemtableIter::new(
                Arc::clone(memtable),
                bounds.clone(),
                seqno,
            ))));
        }
        let hash = key_hash(key);
        let hashable = self.0.cmp.equal_means_byte_equal();
        for run in super_version.version.runs() {
            let Some(table) = run.table_for_key(&self.0.cmp, key) else {
                continue;
            };
            if hashable && !table.filter_may_contain(key, hash)? {
                continue;
            }
            sources.push(Box::new(RunIter::new(
                Arc::clone(run),
                &self.0.cmp,
                bounds.clone(),
                seqno,
            )));
        }
        let mut versions: Vec<InternalValue> = Vec::new();
        for entry in MergingIter::new(sources, self.0.cmp.clone()) {
            let entry = entry?;
            if entry.key.seqno < floor {
                // Deleted by a range tombstone: no base.
                break;
            }
            // Identical versions from two sources (a table and its copy) count once.
            if versions
                .last()
                .is_some_and(|v| v.key.seqno == entry.key.seqno)
            {
                continue;
            }
            let is_base = entry.key.value_type != ValueType::MergeOperand;
            versions.push(entry);
            if is_base {
                break;
            }
        }
        crate::merge::resolve_with(operator, key, &versions, Some(&super_version.version))
    }

    /// The newest version of `key` visible at `seqno` in `super_version`, tombstones included;
    /// a version that a range tombstone deletes comes back as a tombstone just below the range
    /// tombstone's seqno (it hides versions below its seqno, not at it).
    ///
    /// The range tombstones are looked up once, when the first version is found (a read of a key
    /// held nowhere pays nothing for them); from then on the covering seqno stands as the best
    /// version found, so every remaining source whose newest entry cannot beat it is skipped:
    /// the read stops as soon as the cover beats every remaining source.
    fn get_in(
        &self,
        super_version: &SuperVersion,
        key: &[u8],
        seqno: SeqNo,
    ) -> Result<Option<InternalValue>> {
        let mut best: Option<InternalValue> = None;
        for memtable in super_version.memtables() {
            best = newer_of(best, memtable, key, seqno);
        }
        let mut covered = false;
        if best.is_some() {
            covered = true;
            self.apply_cover(super_version, key, seqno, &mut best);
        }
        let mut hash = None;
        let runs = super_version.version.runs();
        // NB: a key outside every table's range skips all runs with two comparisons.
        let runs = runs.take(if super_version.version.may_hold(&self.0.cmp, key) {
            usize::MAX
        } else {
            0
        });
        for run in runs {
            let Some(table) = run.table_for_key(&self.0.cmp, key) else {
                continue;
            };
            // NB: a table of range tombstones alone holds no version; its tombstones are in the
            // version's list.
            if table.meta().entry_count == 0
                || best
                    .as_ref()
                    .is_some_and(|b| table.meta().kv_seqno_max <= b.key.seqno)
            {
                continue;
            }
            let hash = *hash.get_or_insert_with(|| key_hash(key));
            if let Some(found) = table.get(key, seqno, hash)?
                && best.as_ref().is_none_or(|b| found.key.seqno > b.key.seqno)
            {
                best = Some(found);
                if !covered {
                    covered = true;
                    self.apply_cover(super_version, key, seqno, &mut best);
                }
            }
        }
        Ok(best)
    }

    /// Replaces `best` by a tombstone just below the highest range tombstone covering `key` at
    /// `seqno`, if that one deletes it.
    fn apply_cover(
        &self,
        super_version: &SuperVersion,
        key: &[u8],
        seqno: SeqNo,
        best: &mut Option<InternalValue>,
    ) {
        let Some(found) = best.as_ref().map(|b| b.key.seqno) else {
            return;
        };
        let covered = super_version.range_tombstone_cover(key, seqno, &self.0.cmp, found);
        if found < covered {
            *best = Some(InternalValue::from_components(
                Slice::new(key),
                Slice::empty(),
                covered - 1,
                ValueType::Tombstone,
            ));
        }
    }

    /// The value of `key` as of `seqno` (seeing writes with lower seqnos), or `None`.
    ///
    /// # Errors
    /// I/O or corruption errors of the tables read.
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default()).open()?;
    /// tree.insert("k", "v", 5);
    /// assert_eq!(tree.get("k", 5)?, None);
    /// assert_eq!(tree.get("k", 6)?, Some("v".into()));
    /// assert_eq!(tree.get("k", strata::SeqNo::MAX)?, Some("v".into()));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn get<K: AsRef<[u8]>>(&self, key: K, seqno: SeqNo) -> Result<Option<UserValue>> {
        self.get_value(key.as_ref(), seqno)
    }

    /// Whether `key` has a value as of `seqno`.
    ///
    /// # Errors
    /// As [`Tree::get`].
    pub fn contains_key<K: AsRef<[u8]>>(&self, key: K, seqno: SeqNo) -> Result<bool> {
        // NB: a value in a blob file is not read to know that it exists.
        self.value_len(key.as_ref(), seqno).map(|v| v.is_some())
    }

    /// The values of many keys as of `seqno`, in the order of `keys`.
    ///
    /// # Errors
    /// As [`Tree::get`].
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default()).open()?;
    /// tree.insert("a", "1", 0);
    /// tree.insert("c", "3", 1);
    /// let values = tree.multi_get(["a", "b", "c"], 2)?;
    /// assert_eq!(values, [Some("1".into()), None, Some("3".into())]);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn multi_get<K: AsRef<[u8]>>(
        &self,
        keys: impl IntoIterator<Item = K>,
        seqno: SeqNo,
    ) -> Result<Vec<Option<UserValue>>> {
        keys.into_iter().map(|key| self.get(key, seqno)).collect()
    }

    /// The length of `key`'s value as of `seqno`, or `None` if it has none. A value stored in a
    /// blob file is measured from its pointer: the blob file is not read.
    ///
    /// # Errors
    /// As [`Tree::get`].
    pub fn size_of<K: AsRef<[u8]>>(&self, key: K, seqno: SeqNo) -> Result<Option<u32>> {
        self.value_len(key.as_ref(), seqno)
    }
}

/// The newer of `best` and `memtable`'s version of `key` at `seqno`.
fn newer_of(
    best: Option<InternalValue>,
    memtable: &Memtable,
    key: &[u8],
    seqno: SeqNo,
) -> Option<InternalValue> {
    if let Some(found) = &best {
        // The memtable cannot hold anything newer than what was found.
        if memtable
            .highest_entry_seqno()
            .is_none_or(|highest| highest <= found.key.seqno)
        {
            return best;
        }
        match memtable.get_seqno(key, seqno) {
            Some(candidate) if candidate > found.key.seqno => memtable.get(key, seqno),
            _ => best,
        }
    } else {
        memtable.get(key, seqno)
    }
}

/// What a read returns for the newest visible version.
fn resolve(entry: Option<InternalValue>) -> Option<UserValue> {
    let entry = entry?;
    match entry.key.value_type {
        ValueType::Value | ValueType::MergeOperand | ValueType::Indirection => Some(entry.value),
        ValueType::Tombstone | ValueType::WeakTombstone => None,
    }
}
