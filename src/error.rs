//! The engine's one error type.
//!
//! Every fallible public call returns [`Result`]. Decoders inside the engine return small local
//! errors that their caller lifts into [`Error::Corruption`] together with the file and the offset,
//! so that a user always learns *where* bad bytes were found. Nothing in the engine panics on bytes
//! read from disk or on user input; panics are reserved for broken internal invariants and for the
//! documented size limits of keys and values.

use std::fmt;
use std::path::PathBuf;

/// The result type of every fallible Strata call.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in Strata.
///
/// The enum is `#[non_exhaustive]`: match the variants you handle and keep a wildcard arm.
///
/// ```
/// use strata::Error;
///
/// let err = Error::InvalidArgument("block size must be > 0".into());
/// assert_eq!(err.to_string(), "invalid argument: block size must be > 0");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation failed. A tuple variant, as in the seed crates (`Error::Io(e)`): the
    /// [`std::io::Error`] keeps the operating system's error kind (`e.kind()`), and when the
    /// engine raised it, it wraps an [`IoContext`] (`e.get_ref()`) naming what the engine was
    /// doing and to which file, which its message reads out.
    Io(std::io::Error),
    /// Bytes read from disk are not what the engine wrote.
    Corruption {
        /// The file that holds the bad bytes.
        file: PathBuf,
        /// The byte offset in that file where the problem was found.
        offset: u64,
        /// What was wrong.
        what: CorruptionKind,
    },
    /// The tree was created with another comparator than the one supplied at open.
    ComparatorMismatch {
        /// The comparator name persisted in the tree.
        stored: String,
        /// The comparator name supplied to this open.
        supplied: String,
    },
    /// A file was written in a format version this build does not read, or (`missing` is
    /// `Some`) uses a feature this build was compiled without, such as a block compressed with
    /// zstd read by a build without the cargo feature `zstd`.
    UnsupportedFormat {
        /// The file.
        file: PathBuf,
        /// The format version found.
        version: u32,
        /// What the file uses that this build lacks, naming the cargo feature that adds it;
        /// `None` when the format version itself is unknown.
        missing: Option<&'static str>,
    },
    /// A table's blocks were compressed with a zstd dictionary other than the one configured
    /// ([`Config::zstd_dictionary`](crate::Config::zstd_dictionary)), or none is configured.
    DictionaryMismatch {
        /// The table file.
        file: PathBuf,
        /// The [`ZstdDictionary::id`](crate::ZstdDictionary::id) the table records.
        stored: u32,
        /// The id of the configured dictionary; `None` without one.
        supplied: Option<u32>,
    },
    /// Another handle (in this or another process) holds the directory's lock. A unit variant:
    /// the caller knows which directory it opened.
    Locked,
    /// An earlier write or fsync of a flush or of the manifest failed: flushes (and, later,
    /// compactions and durable writes) are refused until the tree is reopened, because an fsync
    /// that failed is never retried and taken for success. In-memory inserts still work; they are
    /// not durable anyway until a flush.
    Poisoned,
    /// The caller passed something the engine cannot use.
    InvalidArgument(String),
    /// A user's merge operator failed: the operator returns it
    /// (`Err(strata::Error::MergeOperator)`), and reads, flushes and compactions pass it through
    /// unchanged. A unit variant, as in the seed.
    MergeOperator,
    /// An [`EncryptionProvider`](crate::EncryptionProvider) failed to encrypt a block (its own
    /// message); the write that needed it (a flush, a compaction, an ingestion) fails and
    /// poisons the tree, as a failed write does.
    Encrypt(&'static str),
    /// A block could not be decrypted: the provider refused it (a wrong key or tampered bytes,
    /// its own message), or the block is encrypted and the tree was opened without a provider.
    Decrypt(&'static str),
}

/// What exactly was wrong with corrupt bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptionKind {
    /// A stored checksum does not match the bytes.
    ChecksumMismatch {
        /// The checksum stored on disk.
        expected: u64,
        /// The checksum of the bytes read.
        actual: u64,
    },
    /// The file or a record in it ends before its declared length.
    Truncated,
    /// A magic number is wrong.
    BadMagic,
    /// A field holds a value that the format does not allow.
    InvalidField(&'static str),
}

impl fmt::Display for CorruptionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ChecksumMismatch { expected, actual } => {
                write!(
                    f,
                    "checksum mismatch (stored {expected:#018x}, computed {actual:#018x})"
                )
            }
            Self::Truncated => f.write_str("truncated"),
            Self::BadMagic => f.write_str("bad magic number"),
            Self::InvalidField(field) => write!(f, "invalid {field}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(error) => match error.get_ref() {
                Some(inner) if inner.is::<IoContext>() => write!(f, "{error}"),
                _ => write!(f, "I/O error: {error}"),
            },
            Self::Corruption { file, offset, what } => {
                write!(
                    f,
                    "corruption in {} at offset {offset}: {what}",
                    file.display()
                )
            }
            Self::ComparatorMismatch { stored, supplied } => write!(
                f,
                "comparator mismatch: the tree was written with {stored:?}, opened with {supplied:?}"
            ),
            Self::UnsupportedFormat {
                file,
                version,
                missing: None,
            } => write!(
                f,
                "unsupported format version {version} in {}",
                file.display()
            ),
            Self::UnsupportedFormat {
                file,
                missing: Some(missing),
                ..
            } => write!(
                f,
                "{} uses {missing}, which this build lacks",
                file.display()
            ),
            Self::DictionaryMismatch {
                file,
                stored,
                supplied,
            } => match supplied {
                Some(supplied) => write!(
                    f,
                    "zstd dictionary mismatch: {} needs dictionary {stored}, the tree is \
                     configured with dictionary {supplied}",
                    file.display()
                ),
                None => write!(
                    f,
                    "zstd dictionary mismatch: {} needs dictionary {stored}, the tree is \
                     configured with none",
                    file.display()
                ),
            },
            Self::Locked => f.write_str(
                "the directory is locked by another open handle (this or another process)",
            ),
            Self::Poisoned => {
                f.write_str("the tree is poisoned by an earlier failed write or fsync; reopen it")
            }
            Self::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            Self::MergeOperator => f.write_str("the merge operator failed"),
            Self::Encrypt(what) => write!(f, "encryption failed: {what}"),
            Self::Decrypt(what) => write!(f, "decryption failed: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(error) => Some(error),
            _ => None,
        }
    }
}

/// Lets callers use `?` on their own I/O next to Strata calls. The engine itself always builds
/// [`Error::Io`] with an [`IoContext`].
impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        Self::Io(source)
    }
}

/// What the engine was doing when an I/O call failed: the error inside every [`Error::Io`] the
/// engine raises (`error.get_ref()` downcast to it), with the operating system's error as its
/// [`source`](std::error::Error::source).
///
/// ```
/// use strata::{Error, IoContext};
///
/// let dir = tempfile::tempdir()?;
/// // A tree folder under a regular file cannot be created.
/// let file = dir.path().join("file");
/// std::fs::write(&file, b"not a folder")?;
/// let seqno = strata::SequenceNumberCounter::default();
/// let err = strata::Config::new(file.join("tree"), seqno.clone(), seqno).open().unwrap_err();
/// let Error::Io(io) = &err else { panic!("{err}") };
/// let context = io.get_ref().and_then(|e| e.downcast_ref::<IoContext>()).unwrap();
/// assert!(context.path.is_some(), "{context}");
/// assert!(err.to_string().starts_with("I/O error during"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct IoContext {
    /// What the engine was doing, e.g. `"open"` or `"fsync"`.
    pub operation: &'static str,
    /// The file or directory it was doing it to, if any.
    pub path: Option<PathBuf>,
    /// The operating system's error.
    pub source: std::io::Error,
}

impl fmt::Display for IoContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(
                f,
                "I/O error during {} of {}: {}",
                self.operation,
                path.display(),
                self.source
            ),
            None => write!(f, "I/O error during {}: {}", self.operation, self.source),
        }
    }
}

impl std::error::Error for IoContext {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl Error {
    /// Builds an [`Error::Io`] for `operation` on `path`.
    pub(crate) fn io(
        operation: &'static str,
        path: Option<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io(std::io::Error::new(
            source.kind(),
            IoContext {
                operation,
                path,
                source,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn corruption_display_names_file_offset_and_cause() {
        let err = Error::Corruption {
            file: PathBuf::from("/db/tables/7.sst"),
            offset: 4096,
            what: CorruptionKind::ChecksumMismatch {
                expected: 1,
                actual: 2,
            },
        };
        let text = err.to_string();
        assert!(text.contains("/db/tables/7.sst"), "{text}");
        assert!(text.contains("4096"), "{text}");
        assert!(text.contains("checksum mismatch"), "{text}");
    }

    #[test]
    fn io_error_exposes_its_source() {
        let err = Error::io(
            "fsync",
            Some(PathBuf::from("x")),
            std::io::Error::other("disk on fire"),
        );
        // The chain: the engine's error, its `io::Error` (the context), the OS's error.
        let io = err.source().unwrap();
        assert_eq!(
            io.source().map(ToString::to_string).as_deref(),
            Some("disk on fire")
        );
        assert!(err.to_string().contains("fsync of x"), "{err}");
        let Error::Io(io) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(io.kind(), std::io::ErrorKind::Other);
        let context = io
            .get_ref()
            .and_then(|e| e.downcast_ref::<IoContext>())
            .unwrap();
        assert_eq!(context.operation, "fsync");
        assert_eq!(context.path.as_deref(), Some(std::path::Path::new("x")));
    }

    #[test]
    fn merge_operator_error_is_a_unit_variant_users_construct() {
        let err = Error::MergeOperator;
        assert_eq!(err.to_string(), "the merge operator failed");
        assert!(err.source().is_none());
        assert!(matches!(err, Error::MergeOperator));
    }
}
