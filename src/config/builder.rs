//! [`Config`]: how a tree is opened.
//!
//! A `Config` names the tree's directory and the seqno counters the caller shares with it, and
//! carries the settings that later layers read (the comparator now; block, filter, cache and
//! compaction settings as those layers arrive). Every builder method takes and returns `Self`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fs::{Fs, StdFs};
use crate::key::{DefaultUserComparator, UserComparator};
use crate::seqno::{SequenceNumberCounter, SequenceNumberGenerator};
use crate::tree::Tree;

/// The settings of a tree; [`Config::open`] creates or recovers it.
///
/// ```
/// use strata::{Config, SequenceNumberCounter};
///
/// # let dir = tempfile::tempdir()?;
/// let seqno = SequenceNumberCounter::default();
/// let visible = SequenceNumberCounter::default();
/// let tree = Config::new(&dir, seqno.clone(), visible.clone()).open()?;
/// tree.insert("k", "v", seqno.next());
/// visible.fetch_max(seqno.get());
/// assert_eq!(tree.get("k", visible.get())?, Some("v".into()));
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) path: PathBuf,
    pub(crate) seqno: Arc<dyn SequenceNumberGenerator>,
    pub(crate) visible_seqno: Arc<dyn SequenceNumberGenerator>,
    pub(crate) comparator: Arc<dyn UserComparator>,
    pub(crate) fs: Arc<dyn Fs>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("path", &self.path)
            .field("seqno", &self.seqno)
            .field("visible_seqno", &self.visible_seqno)
            .field("comparator", &self.comparator.name())
            .field("fs", &self.fs)
            .finish()
    }
}

impl Config {
    /// A config for the tree at `path`, sharing the caller's write counter (`seqno`) and the
    /// counter of the highest seqno visible to readers (`visible_seqno`).
    pub fn new(
        path: impl AsRef<Path>,
        seqno: SequenceNumberCounter,
        visible_seqno: SequenceNumberCounter,
    ) -> Self {
        Self::new_with_generators(path, Arc::new(seqno), Arc::new(visible_seqno))
    }

    /// Like [`Config::new`], with the caller's own seqno sources (e.g. a hybrid clock).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use strata::{Config, SequenceNumberCounter};
    ///
    /// let config = Config::new_with_generators(
    ///     "/tmp/unused",
    ///     Arc::new(SequenceNumberCounter::new(10)),
    ///     Arc::new(SequenceNumberCounter::new(10)),
    /// );
    /// assert!(format!("{config:?}").contains("unused"));
    /// ```
    pub fn new_with_generators(
        path: impl AsRef<Path>,
        seqno: Arc<dyn SequenceNumberGenerator>,
        visible_seqno: Arc<dyn SequenceNumberGenerator>,
    ) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            seqno,
            visible_seqno,
            comparator: Arc::new(DefaultUserComparator),
            fs: Arc::new(StdFs),
        }
    }

    /// Performs every file operation of the tree through `fs` instead of the real file system
    /// ([`StdFs`]); tests use this to simulate crashes and I/O faults.
    #[must_use]
    pub fn fs(mut self, fs: Arc<dyn Fs>) -> Self {
        self.fs = fs;
        self
    }

    /// Replaces the write seqno source.
    #[must_use]
    pub fn seqno_generator(mut self, generator: Arc<dyn SequenceNumberGenerator>) -> Self {
        self.seqno = generator;
        self
    }

    /// Replaces the visible seqno source.
    #[must_use]
    pub fn visible_seqno_generator(mut self, generator: Arc<dyn SequenceNumberGenerator>) -> Self {
        self.visible_seqno = generator;
        self
    }

    /// Orders user keys with `comparator` instead of the lexicographic byte order.
    ///
    /// ```
    /// use std::{cmp::Ordering, sync::Arc};
    /// use strata::{Config, SequenceNumberCounter, UserComparator, Guard};
    ///
    /// struct Descending;
    /// impl UserComparator for Descending {
    ///     fn name(&self) -> &'static str { "example.descending" }
    ///     fn compare(&self, a: &[u8], b: &[u8]) -> Ordering { b.cmp(a) }
    /// }
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let tree = Config::new(&dir, SequenceNumberCounter::default(), SequenceNumberCounter::default())
    ///     .comparator(Arc::new(Descending))
    ///     .open()?;
    /// tree.insert("a", "", 0);
    /// tree.insert("b", "", 1);
    /// let keys: Vec<_> = tree.iter(2, None).map(|g| g.key().unwrap()).collect();
    /// assert_eq!(keys, ["b", "a"]);
    /// # Ok::<(), strata::Error>(())
    /// ```
    #[must_use]
    pub fn comparator(mut self, comparator: Arc<dyn UserComparator>) -> Self {
        self.comparator = comparator;
        self
    }

    /// The tree's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates or opens the tree.
    ///
    /// The tree holds an exclusive lock on its directory until its last handle drops.
    ///
    /// # Errors
    /// [`Error::Locked`](crate::Error::Locked) if another handle holds the directory;
    /// [`Error::Io`](crate::Error::Io) if the directory cannot be created or locked.
    pub fn open(self) -> crate::Result<Tree> {
        Tree::open(self)
    }
}
