//! Every file name of a tree's directory, its parser, and the one file-number allocator.
//!
//! ```text
//! <path>/LOCK                  the directory lock (held while a tree is open)
//! <path>/CURRENT               names the live manifest ("MANIFEST-000007\n")
//! <path>/CURRENT.tmp           the next CURRENT while it is written (removed at open)
//! <path>/MANIFEST-<n>          the manifest, n at least 6 digits
//! <path>/tables/<n>.sst        table n
//! <path>/blobs/<n>.blob        blob file n (key-value separation)
//! ```
//!
//! Names this module does not recognize are left alone: a stray file in a tree's folder is never
//! deleted and never read. File numbers come from one allocator ([`FileNumbers`]) and are
//! bounded by [`MAX_FILE_NUMBER`], far below `u64::MAX`: a number read from disk above it (a
//! stray `tables/18446744073709551614.sst`, a manifest's next-number field) can never make the
//! counter wrap around onto a live file's number.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// The directory lock's file name.
pub(crate) const LOCK: &str = "LOCK";
/// The file naming the live manifest.
pub(crate) const CURRENT: &str = "CURRENT";
/// `CURRENT` while it is being replaced.
pub(crate) const CURRENT_TMP: &str = "CURRENT.tmp";
/// The folder of table files.
pub(crate) const TABLES_FOLDER: &str = "tables";
/// The folder of blob files.
pub(crate) const BLOBS_FOLDER: &str = "blobs";
const MANIFEST_PREFIX: &str = "MANIFEST-";
const TABLE_SUFFIX: &str = ".sst";
const BLOB_SUFFIX: &str = ".blob";

/// The highest file number Strata allocates or accepts from disk (2^48 - 1: at a million new
/// files a second, nine years of them). A file whose number is above it is not one of Strata's.
pub(crate) const MAX_FILE_NUMBER: u64 = (1 << 48) - 1;

/// The file name of manifest `number`.
pub(crate) fn manifest_name(number: u64) -> String {
    format!("{MANIFEST_PREFIX}{number:06}")
}

/// The number of a manifest file name, if it is one (and within [`MAX_FILE_NUMBER`]).
pub(crate) fn manifest_number(name: &str) -> Option<u64> {
    parse_number(name.strip_prefix(MANIFEST_PREFIX)?)
}

/// The path of table `id` in `tables_dir`.
pub(crate) fn table_path(tables_dir: &Path, id: u64) -> PathBuf {
    tables_dir.join(format!("{id}{TABLE_SUFFIX}"))
}

/// The id of a table file name (`<id>.sst`), if it is one (and within [`MAX_FILE_NUMBER`]).
pub(crate) fn table_id(name: &str) -> Option<u64> {
    parse_number(name.strip_suffix(TABLE_SUFFIX)?)
}

/// The path of blob file `id` in `blobs_dir`.
pub(crate) fn blob_path(blobs_dir: &Path, id: u64) -> PathBuf {
    blobs_dir.join(format!("{id}{BLOB_SUFFIX}"))
}

/// The id of a blob file name (`<id>.blob`), if it is one (and within [`MAX_FILE_NUMBER`]).
pub(crate) fn blob_id(name: &str) -> Option<u64> {
    parse_number(name.strip_suffix(BLOB_SUFFIX)?)
}

/// Decimal digits only (no sign, no spaces), at most [`MAX_FILE_NUMBER`].
fn parse_number(digits: &str) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n <= MAX_FILE_NUMBER)
}

/// Hands out file numbers, never the same twice and never above [`MAX_FILE_NUMBER`].
#[derive(Debug)]
pub(crate) struct FileNumbers(AtomicU64);

impl FileNumbers {
    /// An allocator whose next number is `next`.
    pub(crate) fn new(next: u64) -> Self {
        Self(AtomicU64::new(next))
    }

    /// A fresh number.
    ///
    /// # Errors
    /// `InvalidArgument` once the numbers are exhausted (the counter never wraps around).
    pub(crate) fn next(&self) -> Result<u64> {
        let taken = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n <= MAX_FILE_NUMBER).then(|| n + 1)
            })
            .map_err(|_| Error::InvalidArgument("file numbers are exhausted".to_string()))?;
        Ok(taken)
    }

    /// The number the next call to [`FileNumbers::next`] returns.
    pub(crate) fn peek(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_hostile_numbers_are_not_ours() {
        assert_eq!(manifest_name(7), "MANIFEST-000007");
        assert_eq!(manifest_number("MANIFEST-000007"), Some(7));
        assert_eq!(
            manifest_number(&manifest_name(MAX_FILE_NUMBER)),
            Some(MAX_FILE_NUMBER)
        );
        for bad in [
            "MANIFEST-",
            "MANIFEST-+1",
            "MANIFEST-00x1",
            "MANIFEST-18446744073709551615",
            "MANIFEST-281474976710656",
        ] {
            assert_eq!(manifest_number(bad), None, "{bad}");
        }
        let dir = Path::new("/t");
        assert_eq!(table_path(dir, 12), Path::new("/t/12.sst"));
        assert_eq!(table_id("12.sst"), Some(12));
        assert_eq!(blob_path(dir, 12), Path::new("/t/12.blob"));
        assert_eq!(blob_id("12.blob"), Some(12));
        assert_eq!(blob_id("12.sst"), None);
        assert_eq!(blob_id("18446744073709551615.blob"), None);
        for bad in [
            "18446744073709551614.sst",
            "18446744073709551615.sst",
            "99999999999999999999999.sst",
            "-1.sst",
            ".sst",
            "12.sst.tmp",
            "12",
        ] {
            assert_eq!(table_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_allocator_stops_at_the_bound_instead_of_wrapping() {
        let numbers = FileNumbers::new(MAX_FILE_NUMBER - 1);
        assert_eq!(numbers.next().unwrap(), MAX_FILE_NUMBER - 1);
        assert_eq!(numbers.next().unwrap(), MAX_FILE_NUMBER);
        assert!(matches!(numbers.next(), Err(Error::InvalidArgument(_))));
        assert!(matches!(numbers.next(), Err(Error::InvalidArgument(_))));
        assert_eq!(numbers.peek(), MAX_FILE_NUMBER + 1);
    }
}
