//! Introspection for tools and tests: the tree's identity ([`Tree::id`], [`Tree::tree_type`]),
//! its shape ([`Tree::current_version`]) and a key's newest raw entry
//! ([`Tree::get_internal_entry`]). The counts (`table_count`, `disk_space`, ...) are in
//! `handle.rs`.
//!
//! Every call here is a read: it loads the current SuperVersion (one atomic load) and never
//! waits for a flush or a compaction.

use std::sync::atomic::{AtomicU64, Ordering};

use super::handle::Tree;
use crate::error::Result;
use crate::key::InternalValue;
use crate::seqno::SeqNo;
use crate::version::view::VersionView;

/// A tree's id: unique among the trees opened in this process ([`Tree::id`]).
///
/// A plain integer, as in the seed crates: ids are handed out in open order from 0.
pub type TreeId = u64;

/// The next id to hand out; ids are never reused within the process.
static NEXT_TREE_ID: AtomicU64 = AtomicU64::new(0);

/// The next tree id.
pub(crate) fn next_tree_id() -> TreeId {
    NEXT_TREE_ID.fetch_add(1, Ordering::Relaxed)
}

/// What kind of tree an open made ([`Tree::tree_type`]).
///
/// `Blob` is a tree whose open turned key-value separation on (large values go to blob files,
/// [`Config::with_kv_separation`](crate::Config::with_kv_separation)); it reports the setting of
/// this open, not what the directory holds.
///
/// ```
/// use strata::TreeType;
///
/// # let dir = tempfile::tempdir()?;
/// # let tree = strata::Config::new(&dir, Default::default(), Default::default()).open()?;
/// assert_eq!(tree.tree_type(), TreeType::Standard);
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TreeType {
    /// Values are stored in the tables, next to their keys.
    Standard,
    /// Values of at least the separation threshold are stored in blob files.
    Blob,
}

impl Tree {
    /// This tree's id, unique among the trees opened in this process: each open takes the next
    /// one (from 0), and clones of a handle share it. Not persisted: a reopen gets a new id.
    ///
    /// ```
    /// # let (a, b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    /// let first = strata::Config::new(&a, Default::default(), Default::default()).open()?;
    /// let second = strata::Config::new(&b, Default::default(), Default::default()).open()?;
    /// assert_ne!(first.id(), second.id());
    /// assert_eq!(first.clone().id(), first.id());
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn id(&self) -> TreeId {
        self.0.id
    }

    /// The kind of tree this open made: [`TreeType::Blob`] with key-value separation on,
    /// [`TreeType::Standard`] otherwise.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = strata::Config::new(&dir, Default::default(), Default::default()).open()?;
    /// assert_eq!(tree.tree_type(), strata::TreeType::Standard);
    /// drop(tree);
    /// let tree = strata::Config::new(&dir, Default::default(), Default::default())
    ///     .with_kv_separation(Some(strata::KvSeparationOptions::default()))
    ///     .open()?;
    /// assert_eq!(tree.tree_type(), strata::TreeType::Blob);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn tree_type(&self) -> TreeType {
        if self.0.config.kv_separation.is_some() {
            TreeType::Blob
        } else {
            TreeType::Standard
        }
    }

    /// A read-only snapshot of the tree's shape: its tables by level, with what each table's
    /// meta block records. No I/O; see [`VersionView`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = strata::Config::new(&dir, Default::default(), Default::default()).open()?;
    /// tree.insert("a", "1", 0);
    /// tree.flush_active_memtable(0)?;
    /// tree.insert("b", "2", 1);
    /// tree.flush_active_memtable(0)?;
    /// let version = tree.current_version();
    /// let ids: Vec<u64> = version.iter_tables().map(|t| t.id()).collect();
    /// assert_eq!(ids, [0, 1], "one level-0 run: the second flush joined the first");
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn current_version(&self) -> VersionView {
        VersionView::new(std::sync::Arc::clone(&self.0.super_version.load().version))
    }

    /// The newest entry of `key` visible at `seqno` (with a seqno below it), whatever its type:
    /// a value, a tombstone, a weak tombstone or a merge operand comes back as it is stored, with
    /// its seqno, where [`get`](Tree::get) would return `None` for a tombstone. `None` if no
    /// version of `key` is visible at `seqno`. A merge operand is not resolved.
    ///
    /// # Errors
    /// I/O or corruption errors of the tables read.
    ///
    /// ```
    /// use strata::ValueType;
    ///
    /// # let dir = tempfile::tempdir()?;
    /// # let tree = strata::Config::new(&dir, Default::default(), Default::default()).open()?;
    /// tree.insert("k", "v", 0);
    /// tree.remove("k", 1);
    /// let entry = tree.get_internal_entry("k", 2)?.unwrap();
    /// assert_eq!((entry.key.seqno, entry.key.value_type), (1, ValueType::Tombstone));
    /// let entry = tree.get_internal_entry("k", 1)?.unwrap();
    /// assert_eq!((&*entry.value, entry.key.value_type), (&b"v"[..], ValueType::Value));
    /// assert!(tree.get_internal_entry("k", 0)?.is_none());
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn get_internal_entry<K: AsRef<[u8]>>(
        &self,
        key: K,
        seqno: SeqNo,
    ) -> Result<Option<InternalValue>> {
        self.get_internal(key.as_ref(), seqno)
    }
}
