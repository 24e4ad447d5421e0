//! The write path: every write goes to the active memtable, with no lock.
//!
//! A writer registers with the active memtable (`try_begin_write`); if a rotation sealed that
//! memtable in the meantime, it reloads the SuperVersion and writes to the new active one
//! (`Published::write_active`). So a write never lands in a memtable after a flush has waited for
//! its writers.

use super::handle::Tree;
use crate::key::ValueType;
use crate::seqno::SeqNo;
use crate::slice::{UserKey, UserValue};

impl Tree {
    fn append(&self, key: &[u8], value: &[u8], seqno: SeqNo, value_type: ValueType) -> (u64, u64) {
        self.0
            .super_version
            .write_active(|active| active.insert_parts(key, value, seqno, value_type))
    }

    /// Writes `key = value` at `seqno`. Returns `(entry size, memtable size)` in bytes.
    ///
    /// # Panics
    /// Panics if the key or the value is longer than `u32::MAX` bytes, or if `seqno` exceeds
    /// [`MAX_SEQNO`](crate::MAX_SEQNO).
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default()).open()?;
    /// tree.insert("k", "v1", 0);
    /// tree.insert("k", "v2", 1);
    /// assert_eq!(tree.get("k", 1)?, Some("v1".into()));
    /// assert_eq!(tree.get("k", 2)?, Some("v2".into()));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn insert<K: Into<UserKey>, V: Into<UserValue>>(
        &self,
        key: K,
        value: V,
        seqno: SeqNo,
    ) -> (u64, u64) {
        let (key, value) = (key.into(), value.into());
        self.append(&key, &value, seqno, ValueType::Value)
    }

    /// Deletes `key` at `seqno` (writes a tombstone). Returns `(entry size, memtable size)`.
    ///
    /// # Panics
    /// Panics if the key is longer than `u32::MAX` bytes, or if `seqno` exceeds
    /// [`MAX_SEQNO`](crate::MAX_SEQNO).
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default()).open()?;
    /// tree.insert("k", "v", 0);
    /// tree.remove("k", 1);
    /// assert!(tree.get("k", 2)?.is_none());
    /// assert!(tree.get("k", 1)?.is_some());
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn remove<K: Into<UserKey>>(&self, key: K, seqno: SeqNo) -> (u64, u64) {
        let key = key.into();
        self.append(&key, &[], seqno, ValueType::Tombstone)
    }

    /// Deletes `key` at `seqno` with a weak tombstone (a single delete).
    ///
    /// Reads treat it exactly like [`Tree::remove`]. Compaction may drop the weak tombstone
    /// together with the one value beneath it, so use it only on keys written once since their
    /// last delete.
    ///
    /// # Panics
    /// As [`Tree::remove`].
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default()).open()?;
    /// tree.insert("k", "v", 0);
    /// tree.remove_weak("k", 1);
    /// assert!(!tree.contains_key("k", 2)?);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn remove_weak<K: Into<UserKey>>(&self, key: K, seqno: SeqNo) -> (u64, u64) {
        let key = key.into();
        self.append(&key, &[], seqno, ValueType::WeakTombstone)
    }

    /// Writes the merge operand `operand` for `key` at `seqno` (no read, no I/O): reads then see
    /// the tree's [`MergeOperator`](crate::MergeOperator) applied to the key's operands and the
    /// newest value beneath them. Without a merge operator the latest operand reads as a plain
    /// value. Returns `(entry size, memtable size)`.
    ///
    /// # Panics
    /// As [`Tree::insert`].
    ///
    /// ```
    /// # use strata::{Config, MergeOperator, SequenceNumberCounter, Slice};
    /// # use std::sync::Arc;
    /// struct Append;
    /// impl MergeOperator for Append {
    ///     fn merge(&self, _: &[u8], base: Option<&[u8]>, ops: &[&[u8]]) -> strata::Result<Slice> {
    ///         let mut list = base.unwrap_or_default().to_vec();
    ///         for op in ops {
    ///             list.extend_from_slice(op);
    ///         }
    ///         Ok(list.into())
    ///     }
    /// }
    /// # let dir = tempfile::tempdir()?;
    /// let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default())
    ///     .with_merge_operator(Some(Arc::new(Append)))
    ///     .open()?;
    /// tree.merge("list", "a", 0);
    /// tree.merge("list", "b", 1);
    /// assert_eq!(tree.get("list", 2)?, Some("ab".into()));
    /// tree.remove("list", 2);
    /// tree.merge("list", "c", 3);
    /// assert_eq!(tree.get("list", 4)?, Some("c".into()));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn merge<K: Into<UserKey>, V: Into<UserValue>>(
        &self,
        key: K,
        operand: V,
        seqno: SeqNo,
    ) -> (u64, u64) {
        let (key, operand) = (key.into(), operand.into());
        self.append(&key, &operand, seqno, ValueType::MergeOperand)
    }

    /// Deletes every key in `[start, end)` (through the tree's comparator) at `seqno`: reads
    /// above `seqno` no longer see any entry of those keys with a lower seqno, in any memtable or
    /// table; entries written at or after `seqno` stay visible. Returns the bytes it added to the
    /// memtable; an empty or inverted range writes nothing and returns 0.
    ///
    /// A range tombstone costs reads one binary search per memtable and one for all tables.
    /// Compaction drops the entries it covers below the GC watermark, and then the tombstone once
    /// nothing older can lie beneath it. When the active memtable holds
    /// [`Config::memtable_range_tombstone_limit`](crate::Config::memtable_range_tombstone_limit)
    /// range tombstones, this call rotates it (no I/O: the next flush writes it).
    ///
    /// It never panics: a `seqno` above [`MAX_SEQNO`](crate::MAX_SEQNO), which no write may
    /// carry, writes nothing and returns 0, as an empty range does.
    ///
    /// ```
    /// # use strata::{Config, Guard, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default()).open()?;
    /// for (i, key) in ["a", "b", "c", "d"].into_iter().enumerate() {
    ///     tree.insert(key, "v", i as u64);
    /// }
    /// tree.remove_range("b", "d", 4);
    /// tree.insert("c", "again", 5);
    /// let keys: Vec<_> = tree.iter(6, None).map(|g| g.key().unwrap()).collect();
    /// assert_eq!(keys, ["a", "c", "d"]);
    /// // A read at 4 does not see the tombstone.
    /// assert_eq!(tree.get("b", 4)?, Some("v".into()));
    /// assert_eq!(tree.remove_range("z", "a", 6), 0, "an inverted range writes nothing");
    /// assert_eq!(tree.remove_range("a", "z", u64::MAX), 0, "past MAX_SEQNO: nothing, no panic");
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn remove_range<K: Into<UserKey>>(&self, start: K, end: K, seqno: SeqNo) -> u64 {
        let (start, end) = (start.into(), end.into());
        if seqno > crate::MAX_SEQNO || self.0.cmp.user(&start, &end).is_ge() {
            return 0;
        }
        let (bytes, count) = self.0.super_version.write_active(|active| {
            let (bytes, _) = active.insert_range_tombstone(start, end, seqno);
            (bytes, active.range_tombstone_count())
        });
        if count >= self.0.config.memtable_range_tombstone_limit {
            self.rotate_memtable_if_range_tombstones(count);
        }
        bytes
    }

    /// Deletes every key that starts with `prefix` at `seqno`, as [`Tree::remove_range`] over
    /// `[prefix, the prefix's successor)`. An empty prefix, or one of only `0xFF` bytes (no
    /// successor), writes nothing and returns 0. Under a custom comparator the keys that start
    /// with `prefix` must form that byte range in the comparator's order (as for
    /// [`Tree::prefix`] scans); where the comparator orders the successor before the prefix (a
    /// reverse order) no `[start, end)` holds exactly those keys, and this writes nothing and
    /// returns 0: use [`Tree::remove_range`] with bounds in the comparator's order. Like it, this
    /// never panics (a `seqno` above [`MAX_SEQNO`](crate::MAX_SEQNO) writes nothing).
    ///
    /// ```
    /// # use strata::{Config, SequenceNumberCounter};
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default()).open()?;
    /// tree.insert("user:1", "a", 0);
    /// tree.insert("user:2", "b", 1);
    /// tree.insert("video:1", "c", 2);
    /// tree.remove_prefix("user:", 3);
    /// assert_eq!(tree.len(4, None)?, 1);
    /// assert_eq!(tree.remove_prefix("", 4), 0);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn remove_prefix<K: Into<UserKey>>(&self, prefix: K, seqno: SeqNo) -> u64 {
        let prefix = prefix.into();
        match super::iter::prefix_successor(&prefix) {
            Some(end) if !prefix.is_empty() => self.remove_range(prefix, end, seqno),
            _ => 0,
        }
    }
}
