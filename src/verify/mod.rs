//! Checking a tree's files against their checksums: [`verify_integrity`] and its
//! [`IntegrityReport`].
//!
//! It reads every table of the tree's current version from disk, through no cache, block by block
//! with the table verifier (`table/verify.rs`, also behind `strata verify`): every block's
//! checksum and decoding, the blocks against each other (entry order, index keys, filter, the
//! meta block's counts and ranges), the layout of the file, and the table id the meta block
//! records against the one the version names. A damaged file does not stop the walk: every file
//! is read, and every damage found is one [`IntegrityError`].
//!
//! Blob files (key-value separation) are read record by record: each record's checksum and
//! framing, and the records against the footer's counts.
//!
//! It runs on the caller's thread while the tree goes on: it holds the version it checks (so no
//! compaction deletes a file under it) and takes no lock.

mod report;
pub(crate) mod walk;

pub use report::{IntegrityError, IntegrityReport};
pub use walk::verify_integrity;
