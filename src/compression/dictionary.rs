//! [`ZstdDictionary`]: the bytes a tree's zstd blocks are compressed against, and
//! [`train_dictionary`], which builds one from sample values.
//!
//! A dictionary is either a serialized zstd dictionary (magic `0xEC30A437`, as `zstd --train`
//! and [`train_dictionary`] write it) or any other bytes, used as raw content (zstd primes its
//! match window with them). Its [`ZstdDictionary::id`] is a hash of its bytes, so the same bytes
//! always have the same id, whoever trained them; a table records the id of the dictionary its
//! blocks need (`docs/format.md`, "Meta block"), and opening it with another is an error.
//!
//! The type exists in every build, so that a configuration compiles with or without the `zstd`
//! feature; only a build with the feature compresses or decompresses with it.

use std::sync::Arc;

/// A zstd dictionary: shared by the tables of a tree through
/// [`Config::zstd_dictionary`](crate::Config::zstd_dictionary). Cheap to share (`Arc`),
/// `Send + Sync`; built once, its parsed form is reused for every block.
///
/// ```
/// use strata::ZstdDictionary;
///
/// let dict = ZstdDictionary::new(b"{\"user\":\"\",\"status\":\"active\"}");
/// assert_eq!(dict.raw(), b"{\"user\":\"\",\"status\":\"active\"}");
/// assert_eq!(dict.id(), ZstdDictionary::new(dict.raw()).id());
/// assert_ne!(dict.id(), ZstdDictionary::new(b"other bytes").id());
/// ```
pub struct ZstdDictionary {
    raw: Arc<[u8]>,
    id: u32,
    #[cfg(feature = "zstd")]
    parsed: Option<super::zstd::Parsed>,
}

impl ZstdDictionary {
    /// The dictionary of `raw` bytes: a serialized zstd dictionary, or raw content.
    ///
    /// A serialized dictionary that does not parse (or an empty one) is kept as is: it
    /// compresses nothing, and a block that would need it is written without it. See
    /// [`ZstdDictionary::id`] for its id.
    ///
    /// ```
    /// use strata::ZstdDictionary;
    ///
    /// let dict = ZstdDictionary::new(&b"common prefix ".repeat(20));
    /// assert_eq!(dict.raw().len(), 280);
    /// ```
    pub fn new(raw: &[u8]) -> Self {
        Self {
            raw: Arc::from(raw),
            id: dictionary_id(raw),
            #[cfg(feature = "zstd")]
            parsed: super::zstd::Parsed::new(raw),
        }
    }

    /// The id of this dictionary: the low 32 bits of the xxh3-64 hash of its bytes, or 1 where
    /// that is 0 (0 means "no dictionary" on disk). It depends only on the bytes.
    ///
    /// ```
    /// use strata::ZstdDictionary;
    ///
    /// let a = ZstdDictionary::new(b"dictionary bytes");
    /// let b = ZstdDictionary::new(b"dictionary bytes");
    /// assert_eq!(a.id(), b.id());
    /// assert_ne!(a.id(), 0);
    /// ```
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The dictionary's bytes, as given to [`ZstdDictionary::new`]; write them to a file to
    /// keep the dictionary.
    ///
    /// ```
    /// use strata::ZstdDictionary;
    ///
    /// assert_eq!(ZstdDictionary::new(b"abc").raw(), b"abc");
    /// ```
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The parsed dictionary, if its bytes parse.
    #[cfg(feature = "zstd")]
    pub(crate) fn parsed(&self) -> Option<&super::zstd::Parsed> {
        self.parsed.as_ref()
    }
}

impl std::fmt::Debug for ZstdDictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZstdDictionary")
            .field("id", &self.id)
            .field("len", &self.raw.len())
            .finish_non_exhaustive()
    }
}

/// The id of a dictionary of `raw` bytes (see [`ZstdDictionary::id`]).
fn dictionary_id(raw: &[u8]) -> u32 {
    let hash = xxhash_rust::xxh3::xxh3_64(raw);
    #[expect(
        clippy::cast_possible_truncation,
        reason = "the id is the hash's low 32 bits"
    )]
    let id = hash as u32;
    id.max(1)
}

/// Trains a zstd dictionary of at most `size` bytes on `samples` (for example a tree's values),
/// with the FastCOVER trainer of `structured-zstd` (the algorithm `zstd --train` uses by
/// default), and returns it serialized, in the format C zstd reads.
///
/// # Errors
/// `InvalidArgument` when the trainer refuses the input: fewer than 5 samples, samples too
/// small to draw segments from, or `size` below 256 bytes.
///
/// ```
/// # #[cfg(feature = "zstd")] {
/// use strata::compression::train_dictionary;
///
/// let samples: Vec<Vec<u8>> = (0..500)
///     .map(|i| format!("{{\"id\":{i},\"name\":\"user{i}\",\"status\":\"active\"}}").into_bytes())
///     .collect();
/// let dict = train_dictionary(&samples, 4096)?;
/// assert!(dict.raw().len() <= 4096);
/// # }
/// # Ok::<(), strata::Error>(())
/// ```
#[cfg(feature = "zstd")]
pub fn train_dictionary<S: AsRef<[u8]>>(
    samples: &[S],
    size: usize,
) -> crate::Result<ZstdDictionary> {
    use structured_zstd::dictionary::{
        CoverOptions, FastCoverOptions, FinalizeOptions, train_fastcover_dict,
    };
    let mut joined = Vec::new();
    let mut sizes = Vec::with_capacity(samples.len());
    for sample in samples {
        let sample = sample.as_ref();
        joined.extend_from_slice(sample);
        sizes.push(sample.len());
    }
    let defaults = FastCoverOptions::default();
    let options = FastCoverOptions {
        cover: CoverOptions {
            k: 256,
            d: 8,
            ..defaults.cover
        },
        ..defaults
    };
    let raw = train_fastcover_dict(&joined, &sizes, size, &options, FinalizeOptions::default())
        .map_err(|e| crate::Error::InvalidArgument(format!("training a zstd dictionary: {e}")))?;
    Ok(ZstdDictionary::new(&raw))
}
