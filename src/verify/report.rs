//! The report of [`verify_integrity`](super::verify_integrity): files checked and every damage.

use std::fmt;
use std::path::PathBuf;

use crate::error::Error;

/// What [`verify_integrity`](super::verify_integrity) found: how many files it checked and every damage.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let tree = strata::Config::new(&dir, Default::default(), Default::default()).open()?;
/// tree.insert("k", "v", 0);
/// tree.flush_active_memtable(0)?;
/// let report = strata::verify::verify_integrity(&tree);
/// assert!(report.is_ok());
/// assert_eq!((report.sst_files_checked, report.blob_files_checked), (1, 0));
/// assert_eq!(report.files_checked(), 1);
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct IntegrityReport {
    /// Table files checked, those that could not be read included.
    pub sst_files_checked: usize,
    /// Blob files checked (0 until key-value separation lands).
    pub blob_files_checked: usize,
    /// Every damage found, in the order the files were checked.
    pub errors: Vec<IntegrityError>,
}

impl IntegrityReport {
    /// Whether no damage was found.
    ///
    /// ```
    /// assert!(strata::verify::IntegrityReport::default().is_ok());
    /// ```
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Files checked: tables and blob files.
    ///
    /// ```
    /// assert_eq!(strata::verify::IntegrityReport::default().files_checked(), 0);
    /// ```
    #[must_use]
    pub fn files_checked(&self) -> usize {
        self.sst_files_checked
            .saturating_add(self.blob_files_checked)
    }
}

/// One damage [`verify_integrity`](super::verify_integrity) found: the file, and what was wrong as an [`Error`]
/// (`Corruption` with the offset, `UnsupportedFormat`, or `Io` if the file could not be read).
///
/// Its `Display` is the error's, which names the file already; `source()` is the error.
///
/// ```
/// use std::path::PathBuf;
/// use strata::verify::IntegrityError;
/// use strata::{CorruptionKind, Error};
///
/// let error = IntegrityError::new(
///     PathBuf::from("tables/3.sst"),
///     Error::Corruption { file: "tables/3.sst".into(), offset: 42, what: CorruptionKind::BadMagic },
/// );
/// assert_eq!(error.to_string(), "corruption in tables/3.sst at offset 42: bad magic number");
/// assert_eq!(error.path, PathBuf::from("tables/3.sst"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct IntegrityError {
    /// The damaged (or unreadable) file.
    pub path: PathBuf,
    /// What was wrong.
    pub error: Error,
}

impl IntegrityError {
    /// A damage of the file at `path`.
    pub fn new(path: PathBuf, error: Error) -> Self {
        Self { path, error }
    }
}

impl fmt::Display for IntegrityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for IntegrityError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
