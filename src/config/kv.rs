//! [`KvSeparationOptions`]: the settings of key-value separation.

use crate::compression::CompressionType;

/// How a tree separates large values into blob files
/// ([`Config::with_kv_separation`](crate::Config::with_kv_separation)).
///
/// The defaults are the seed's: values of 1 KiB and more are separated, blob files are cut at
/// 64 MiB, compressed with LZ4 when the `lz4` feature is on, and a blob file is rewritten once a
/// quarter of its bytes are stale, the oldest quarter of such files first.
///
/// ```
/// use strata::{CompressionType, KvSeparationOptions};
///
/// let options = KvSeparationOptions::default()
///     .separation_threshold(4096)
///     .file_target_size(16 << 20)
///     .compression(CompressionType::None)
///     .staleness_threshold(0.5)
///     .age_cutoff(1.0);
/// assert_eq!(options.separation_threshold, 4096);
/// assert_eq!(KvSeparationOptions::default().separation_threshold, 1024);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct KvSeparationOptions {
    /// How blob records are compressed.
    pub compression: CompressionType,
    /// A blob file is cut once it reaches this many bytes.
    pub file_target_size: u64,
    /// Values of at least this many bytes go to blob files.
    pub separation_threshold: u32,
    /// A blob file whose stale fraction reaches this ratio is rewritten by garbage collection.
    pub staleness_threshold: f32,
    /// The fraction of the candidate blob files (the oldest first) that one garbage-collection
    /// pass rewrites.
    pub age_cutoff: f32,
}

impl Default for KvSeparationOptions {
    fn default() -> Self {
        Self {
            #[cfg(feature = "lz4")]
            compression: CompressionType::Lz4,
            #[cfg(not(feature = "lz4"))]
            compression: CompressionType::None,
            file_target_size: 64 << 20,
            separation_threshold: 1024,
            staleness_threshold: 0.25,
            age_cutoff: 0.25,
        }
    }
}

impl KvSeparationOptions {
    /// Sets how blob records are compressed. A `ZstdDict` setting uses the tree's dictionary
    /// ([`Config::zstd_dictionary`](crate::Config::zstd_dictionary)) when its id matches, which
    /// suits small separated values; otherwise records are plain zstd.
    #[must_use]
    pub fn compression(mut self, compression: CompressionType) -> Self {
        self.compression = compression;
        self
    }

    /// Sets the size at which a blob file is cut (default 64 MiB). Smaller files make garbage
    /// collection finer at the cost of more files.
    #[must_use]
    pub fn file_target_size(mut self, bytes: u64) -> Self {
        self.file_target_size = bytes;
        self
    }

    /// Sets the smallest value that is separated (default 1 KiB).
    #[must_use]
    pub fn separation_threshold(mut self, bytes: u32) -> Self {
        self.separation_threshold = bytes;
        self
    }

    /// Sets the stale fraction at which a blob file is rewritten (default 0.25; clamped to
    /// 0..=1 when used).
    #[must_use]
    pub fn staleness_threshold(mut self, ratio: f32) -> Self {
        self.staleness_threshold = ratio;
        self
    }

    /// Sets the fraction of candidate files, oldest first, one garbage-collection pass rewrites
    /// (default 0.25; clamped to 0..=1, and at least one file is taken when any qualifies).
    #[must_use]
    pub fn age_cutoff(mut self, ratio: f32) -> Self {
        self.age_cutoff = ratio;
        self
    }
}
