//! [`CompressionType`]: how a block's bytes are stored. Persisted in every block header.

/// A block compression algorithm. Persisted on disk as one byte.
///
/// ```
/// use strata::CompressionType;
///
/// assert_eq!(u8::from(CompressionType::None), 0);
/// assert_eq!(CompressionType::try_from(0), Ok(CompressionType::None));
/// assert!(CompressionType::try_from(77).is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CompressionType {
    /// Stored as is. On-disk value 0: never renumber.
    #[default]
    None,
    /// LZ4 block format (cargo feature `lz4`). On-disk value 1: never renumber.
    #[cfg(feature = "lz4")]
    Lz4,
}

impl From<CompressionType> for u8 {
    fn from(value: CompressionType) -> Self {
        match value {
            CompressionType::None => 0,
            #[cfg(feature = "lz4")]
            CompressionType::Lz4 => 1,
        }
    }
}

/// The byte names no compression this build knows (e.g. LZ4 in a build without the `lz4`
/// feature).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownCompression(pub u8);

impl std::fmt::Display for UnknownCompression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown or disabled compression type {}", self.0)
    }
}

impl std::error::Error for UnknownCompression {}

impl TryFrom<u8> for CompressionType {
    type Error = UnknownCompression;

    fn try_from(byte: u8) -> Result<Self, Self::Error> {
        match byte {
            0 => Ok(Self::None),
            #[cfg(feature = "lz4")]
            1 => Ok(Self::Lz4),
            other => Err(UnknownCompression(other)),
        }
    }
}
