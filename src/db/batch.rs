//! [`WriteBatch`]: writes to any keyspaces, committed atomically at one seqno, and
//! [`PersistMode`].

use std::sync::Arc;

use super::DbInner;
use super::keyspace::Keyspace;
use super::wal::Op;
use crate::error::Result;
use crate::slice::{UserKey, UserValue};

/// How durable a write is when it returns.
///
/// Every write reaches the operating system (`write(2)`) before it returns, so it survives a
/// crash of the process whatever the mode; `SyncData` and `SyncAll` also survive power loss
/// (one `fsync` shared by every writer waiting at the time).
///
/// A synced write becomes visible to readers only once its sync returned (never, if the sync
/// failed: the database is then poisoned). Writes stay visible in the order they were made, so a
/// `Buffer` write made while a synced one is being synced returns when both are visible.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PersistMode {
    /// Handed to the operating system: survives a crash of the process.
    #[default]
    Buffer,
    /// Synced data (`fdatasync`): survives power loss.
    SyncData,
    /// Synced data and metadata (`fsync`): survives power loss.
    SyncAll,
}

/// Writes to one or more keyspaces, committed atomically at one seqno (also across a crash):
/// a read sees all of them or none. From [`Database::batch`](super::Database::batch).
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let db = strata::Database::builder(dir.path()).open()?;
/// let a = db.keyspace("a", strata::KeyspaceCreateOptions::default)?;
/// let b = db.keyspace("b", strata::KeyspaceCreateOptions::default)?;
/// let mut batch = db.batch();
/// batch.insert(&a, "k", "1");
/// batch.remove(&b, "k");
/// assert_eq!(batch.len(), 2);
/// batch.commit()?;
/// assert_eq!(a.get("k")?, Some("1".into()));
/// # Ok::<(), strata::Error>(())
/// ```
#[must_use = "a batch does nothing until committed"]
pub struct WriteBatch {
    db: Arc<DbInner>,
    items: Vec<(u64, Op)>,
    durability: Option<PersistMode>,
}

/// fjall's name for [`WriteBatch`].
pub type OwnedWriteBatch = WriteBatch;

impl std::fmt::Debug for WriteBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBatch")
            .field("len", &self.items.len())
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

impl WriteBatch {
    pub(crate) fn new(db: Arc<DbInner>) -> Self {
        Self {
            db,
            items: Vec::new(),
            durability: None,
        }
    }

    /// Adds `key` = `value` in `keyspace`.
    pub fn insert<K: Into<UserKey>, V: Into<UserValue>>(
        &mut self,
        keyspace: &Keyspace,
        key: K,
        value: V,
    ) {
        self.items
            .push((keyspace.id(), Op::Insert(key.into(), value.into())));
    }

    /// Adds a delete of `key` in `keyspace`.
    pub fn remove<K: Into<UserKey>>(&mut self, keyspace: &Keyspace, key: K) {
        self.items.push((keyspace.id(), Op::Remove(key.into())));
    }

    /// Adds a weak delete of `key` in `keyspace`.
    pub fn remove_weak<K: Into<UserKey>>(&mut self, keyspace: &Keyspace, key: K) {
        self.items.push((keyspace.id(), Op::RemoveWeak(key.into())));
    }

    /// Adds a merge operand for `key` in `keyspace`.
    pub fn merge<K: Into<UserKey>, V: Into<UserValue>>(
        &mut self,
        keyspace: &Keyspace,
        key: K,
        operand: V,
    ) {
        self.items
            .push((keyspace.id(), Op::Merge(key.into(), operand.into())));
    }

    /// The number of writes.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the batch holds no write.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How durable the commit is (`None`: [`PersistMode::Buffer`]).
    pub fn durability(mut self, mode: Option<PersistMode>) -> Self {
        self.durability = mode;
        self
    }

    /// Commits every write at one seqno.
    ///
    /// # Errors
    /// `Poisoned` after an earlier failure; `Io` if the WAL write or sync fails (the database is
    /// then poisoned and the batch is not acknowledged); `InvalidArgument` if a keyspace of the
    /// batch was deleted.
    pub fn commit(self) -> Result<()> {
        self.db
            .commit(&self.items, self.durability.unwrap_or_default())
    }
}
