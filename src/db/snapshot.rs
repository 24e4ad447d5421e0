//! [`Snapshot`]: a stable view of every keyspace, and [`Readable`], the reads it offers.
//!
//! A snapshot registers its seqno with the database while it lives: the GC watermark the workers
//! compact with is the oldest registered seqno (or the visible one), so compaction keeps exactly
//! what a live snapshot can still see.

use std::ops::RangeBounds;
use std::sync::Arc;

use super::DbInner;
use super::keyspace::Keyspace;
use crate::error::Result;
use crate::guard::IterGuardImpl;
use crate::seqno::SeqNo;
use crate::slice::UserValue;

/// The iterator of [`Readable`]'s scans: owns what it reads, may outlive the view.
pub type Iter = Box<dyn DoubleEndedIterator<Item = IterGuardImpl> + Send + 'static>;

/// The reads of a consistent view ([`Snapshot`], and transactions later), with fjall's names.
pub trait Readable {
    /// The seqno the view reads at.
    fn seqno(&self) -> SeqNo;

    /// The value of `key` in `keyspace`.
    ///
    /// # Errors
    /// I/O or corruption errors of the files read.
    fn get<K: AsRef<[u8]>>(
        &self,
        keyspace: impl AsRef<Keyspace>,
        key: K,
    ) -> Result<Option<UserValue>> {
        keyspace.as_ref().tree().get(key, self.seqno())
    }

    /// Whether `key` has a value in `keyspace`.
    ///
    /// # Errors
    /// As [`Readable::get`].
    fn contains_key<K: AsRef<[u8]>>(&self, keyspace: impl AsRef<Keyspace>, key: K) -> Result<bool> {
        keyspace.as_ref().tree().contains_key(key, self.seqno())
    }

    /// The length of `key`'s value in `keyspace`.
    ///
    /// # Errors
    /// As [`Readable::get`].
    fn size_of<K: AsRef<[u8]>>(
        &self,
        keyspace: impl AsRef<Keyspace>,
        key: K,
    ) -> Result<Option<u32>> {
        keyspace.as_ref().tree().size_of(key, self.seqno())
    }

    /// The first pair of `keyspace`.
    fn first_key_value(&self, keyspace: impl AsRef<Keyspace>) -> Option<IterGuardImpl> {
        keyspace.as_ref().tree().first_key_value(self.seqno(), None)
    }

    /// The last pair of `keyspace`.
    fn last_key_value(&self, keyspace: impl AsRef<Keyspace>) -> Option<IterGuardImpl> {
        keyspace.as_ref().tree().last_key_value(self.seqno(), None)
    }

    /// The number of keys in `keyspace`.
    ///
    /// # Errors
    /// As [`Readable::get`].
    fn len(&self, keyspace: impl AsRef<Keyspace>) -> Result<usize> {
        keyspace.as_ref().tree().len(self.seqno(), None)
    }

    /// Whether `keyspace` holds no key.
    ///
    /// # Errors
    /// As [`Readable::get`].
    fn is_empty(&self, keyspace: impl AsRef<Keyspace>) -> Result<bool> {
        keyspace.as_ref().tree().is_empty(self.seqno(), None)
    }

    /// Every pair of `keyspace`.
    fn iter(&self, keyspace: impl AsRef<Keyspace>) -> Iter {
        Box::new(keyspace.as_ref().tree().iter(self.seqno(), None))
    }

    /// The pairs of `keyspace` in `range`.
    fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        keyspace: impl AsRef<Keyspace>,
        range: R,
    ) -> Iter {
        Box::new(keyspace.as_ref().tree().range(range, self.seqno(), None))
    }

    /// The pairs of `keyspace` whose keys start with `prefix`.
    fn prefix<K: AsRef<[u8]>>(&self, keyspace: impl AsRef<Keyspace>, prefix: K) -> Iter {
        Box::new(keyspace.as_ref().tree().prefix(prefix, self.seqno(), None))
    }
}

/// A stable view of every keyspace of a database, until dropped.
///
/// ```
/// use strata::Readable;
///
/// # let dir = tempfile::tempdir()?;
/// # let db = strata::Database::builder(dir.path()).open()?;
/// let items = db.keyspace("items", strata::KeyspaceCreateOptions::default)?;
/// items.insert("a", "old")?;
/// let snapshot = db.snapshot();
/// items.insert("a", "new")?;
/// assert_eq!(snapshot.get(&items, "a")?, Some("old".into()));
/// assert_eq!(items.get("a")?, Some("new".into()));
/// # Ok::<(), strata::Error>(())
/// ```
pub struct Snapshot {
    db: Arc<DbInner>,
    seqno: SeqNo,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("seqno", &self.seqno)
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    pub(crate) fn new(db: Arc<DbInner>) -> Self {
        let seqno = {
            // NB: the visible seqno is read under the registry lock, so a watermark computed
            // meanwhile never passes it.
            let mut snapshots = db.snapshots.lock();
            let seqno = db.seqnos.visible();
            *snapshots.entry(seqno).or_insert(0) += 1;
            seqno
        };
        Self { db, seqno }
    }
}

impl Readable for Snapshot {
    fn seqno(&self) -> SeqNo {
        self.seqno
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let mut snapshots = self.db.snapshots.lock();
        if let Some(count) = snapshots.get_mut(&self.seqno) {
            *count -= 1;
            if *count == 0 {
                snapshots.remove(&self.seqno);
            }
        }
    }
}
