//! Block compression: [`CompressionType`] (how a block's bytes are stored, persisted in every
//! block header), zstd dictionaries ([`ZstdDictionary`], and `train_dictionary` with the `zstd`
//! feature) and the decoder-side length checks that run before a block's buffer is allocated.
//!
//! With the `lz4` feature this module holds `lz4_decoded_len`, the check that an LZ4 block's
//! stored bytes really decode to the length its header claims. With the `zstd` feature it holds
//! the zstd codec (`zstd.rs`, through the pure-Rust `structured-zstd` crate), whose frame walk
//! plays the same role for zstd blocks.
//!
//! Thread safety: everything here is a pure function or an immutable value (`Send + Sync`).

#![deny(clippy::indexing_slicing)]

mod dictionary;
#[cfg(feature = "zstd")]
pub(crate) mod zstd;

pub use dictionary::ZstdDictionary;
#[cfg(feature = "zstd")]
pub use dictionary::train_dictionary;

/// The lowest zstd level `CompressionType::zstd` (feature `zstd`) accepts; lower levels are
/// raised to it.
pub const ZSTD_MIN_LEVEL: i32 = 1;
/// The highest zstd level `CompressionType::zstd` (feature `zstd`) accepts; higher levels are
/// lowered to it.
pub const ZSTD_MAX_LEVEL: i32 = 22;
/// The zstd level a [`CompressionType`] read back from its on-disk byte carries (the byte
/// records the codec, not the level, which decompression does not need).
pub const ZSTD_DEFAULT_LEVEL: i32 = 3;

/// A block compression algorithm. Persisted on disk as one byte (the zstd level and dictionary
/// id are not part of it: the level is a writer's choice, the dictionary id is in the table's
/// meta block).
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
    /// A Zstandard frame at this level (cargo feature `zstd`). Levels outside
    /// `1..=22` are clamped into it when a block is compressed. On-disk value 2: never renumber.
    #[cfg(feature = "zstd")]
    Zstd(i32),
    /// A Zstandard frame at `level` compressed with the dictionary whose
    /// [`ZstdDictionary::id`] is `dict_id` (cargo feature `zstd`); the tree's
    /// [`Config::zstd_dictionary`](crate::Config::zstd_dictionary) must be that dictionary.
    /// On-disk value 3: never renumber.
    #[cfg(feature = "zstd")]
    ZstdDict {
        /// The compression level, clamped into `1..=22` as for [`CompressionType::Zstd`].
        level: i32,
        /// The [`ZstdDictionary::id`] of the dictionary.
        dict_id: u32,
    },
}

/// The on-disk byte of a zstd block without a dictionary.
pub(crate) const ZSTD_BYTE: u8 = 2;
/// The on-disk byte of a zstd block compressed with its table's dictionary.
pub(crate) const ZSTD_DICT_BYTE: u8 = 3;

#[cfg(feature = "zstd")]
impl CompressionType {
    /// Zstandard at `level`, clamped into `1..=22` (zstd's levels; 0 and negative "fast" levels
    /// are not offered).
    ///
    /// ```
    /// use strata::CompressionType;
    ///
    /// assert_eq!(CompressionType::zstd(3), CompressionType::Zstd(3));
    /// assert_eq!(CompressionType::zstd(0), CompressionType::Zstd(1));
    /// assert_eq!(CompressionType::zstd(99), CompressionType::Zstd(22));
    /// assert_eq!(u8::from(CompressionType::zstd(9)), 2);
    /// ```
    #[must_use]
    pub const fn zstd(level: i32) -> Self {
        Self::Zstd(clamp_level(level))
    }

    /// Zstandard at `level` (clamped into `1..=22`) with the dictionary `dict_id`
    /// ([`ZstdDictionary::id`]).
    ///
    /// ```
    /// use strata::{CompressionType, ZstdDictionary};
    ///
    /// let dict = ZstdDictionary::new(b"{\"name\":\"\",\"email\":\"@example.com\"}");
    /// let compression = CompressionType::zstd_dict(19, dict.id());
    /// assert_eq!(compression, CompressionType::ZstdDict { level: 19, dict_id: dict.id() });
    /// assert_eq!(u8::from(compression), 3);
    /// ```
    #[must_use]
    pub const fn zstd_dict(level: i32, dict_id: u32) -> Self {
        Self::ZstdDict {
            level: clamp_level(level),
            dict_id,
        }
    }

    /// The dictionary id this compression needs, if any.
    pub(crate) fn dict_id(self) -> Option<u32> {
        match self {
            Self::ZstdDict { dict_id, .. } => Some(dict_id),
            _ => None,
        }
    }
}

/// `level` clamped into `ZSTD_MIN_LEVEL..=ZSTD_MAX_LEVEL`.
#[cfg(feature = "zstd")]
pub(crate) const fn clamp_level(level: i32) -> i32 {
    if level < ZSTD_MIN_LEVEL {
        ZSTD_MIN_LEVEL
    } else if level > ZSTD_MAX_LEVEL {
        ZSTD_MAX_LEVEL
    } else {
        level
    }
}

impl From<CompressionType> for u8 {
    fn from(value: CompressionType) -> Self {
        match value {
            CompressionType::None => 0,
            #[cfg(feature = "lz4")]
            CompressionType::Lz4 => 1,
            #[cfg(feature = "zstd")]
            CompressionType::Zstd(_) => ZSTD_BYTE,
            #[cfg(feature = "zstd")]
            CompressionType::ZstdDict { .. } => ZSTD_DICT_BYTE,
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

    /// The compression a block header's byte names. A zstd byte reads back with
    /// [`ZSTD_DEFAULT_LEVEL`] and, for a dictionary block, dictionary id 0 (the byte carries
    /// neither).
    fn try_from(byte: u8) -> Result<Self, Self::Error> {
        match byte {
            0 => Ok(Self::None),
            #[cfg(feature = "lz4")]
            1 => Ok(Self::Lz4),
            #[cfg(feature = "zstd")]
            ZSTD_BYTE => Ok(Self::Zstd(ZSTD_DEFAULT_LEVEL)),
            #[cfg(feature = "zstd")]
            ZSTD_DICT_BYTE => Ok(Self::ZstdDict {
                level: ZSTD_DEFAULT_LEVEL,
                dict_id: 0,
            }),
            other => Err(UnknownCompression(other)),
        }
    }
}

/// For a compression byte that a build with more cargo features would know, what it names and
/// the feature that enables it; `None` for a byte this build knows or no build knows.
pub(crate) fn missing_codec(byte: u8) -> Option<&'static str> {
    match byte {
        #[cfg(not(feature = "lz4"))]
        1 => Some("LZ4 block compression (cargo feature `lz4`)"),
        #[cfg(not(feature = "zstd"))]
        ZSTD_BYTE | ZSTD_DICT_BYTE => Some("zstd block compression (cargo feature `zstd`)"),
        _ => None,
    }
}

/// The number of bytes the LZ4 block-format stream `stored` decodes to, found by walking its
/// sequence headers without decoding anything and without allocating.
///
/// An LZ4 block is a series of sequences: a token byte (literal count in the high nibble, match
/// length − 4 in the low one; 15 means "more length bytes follow, each added, until one is below
/// 255"), the literals, then a 2-byte little-endian match offset and the match length's extra
/// bytes. The last sequence ends after its literals. Returns `None` for a stream that ends inside
/// a sequence, or whose match reaches before the start of the output (offset 0 or past what was
/// decoded so far): such bytes cannot decompress, whatever length was claimed.
///
/// The walk reads each length byte once and skips literal runs, so it costs far less than the
/// decompression that follows it.
#[cfg(feature = "lz4")]
pub(crate) fn lz4_decoded_len(stored: &[u8]) -> Option<u64> {
    /// Reads an LZ4 length: `nibble`, plus the extra bytes at `*pos` when it is 15.
    fn length(stored: &[u8], pos: &mut usize, nibble: u8) -> Option<u64> {
        let mut len = u64::from(nibble);
        if nibble == 15 {
            loop {
                let byte = *stored.get(*pos)?;
                *pos += 1;
                // NB: at most 255 per input byte, so no u64 overflow for any slice.
                len += u64::from(byte);
                if byte != 255 {
                    break;
                }
            }
        }
        Some(len)
    }

    let mut pos = 0usize;
    let mut decoded: u64 = 0;
    loop {
        let token = *stored.get(pos)?;
        pos += 1;
        let literals = length(stored, &mut pos, token >> 4)?;
        pos = pos.checked_add(usize::try_from(literals).ok()?)?;
        if pos > stored.len() {
            return None;
        }
        decoded = decoded.checked_add(literals)?;
        if pos == stored.len() {
            return Some(decoded);
        }
        let offset_bytes: [u8; 2] = stored.get(pos..pos.checked_add(2)?)?.try_into().ok()?;
        pos += 2;
        let offset = u64::from(u16::from_le_bytes(offset_bytes));
        if offset == 0 || offset > decoded {
            return None;
        }
        let matched = length(stored, &mut pos, token & 0x0f)?.checked_add(4)?;
        decoded = decoded.checked_add(matched)?;
    }
}

#[cfg(all(test, feature = "lz4"))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_walk_finds_the_length_lz4_flex_decodes_to() {
        for raw in [
            Vec::new(),
            b"a".to_vec(),
            b"abcdefgh".repeat(1000),
            vec![0u8; 100_000],
            (0..5000u32).map(|i| (i * 7 % 251) as u8).collect(),
        ] {
            let stored = lz4_flex::block::compress(&raw);
            assert_eq!(lz4_decoded_len(&stored), Some(raw.len() as u64));
        }
    }

    #[test]
    fn streams_that_cannot_decode_have_no_length() {
        // A literal run past the end, a cut-off offset, a zero offset, a match before the start.
        for bad in [
            &[0x50, 1, 2][..],
            &[0x10, 1, 1][..],
            &[0x10, 1, 0, 0][..],
            &[0x10, 1, 2, 0][..],
            &[0xf0][..],
            &[][..],
        ] {
            assert_eq!(lz4_decoded_len(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn any_compressed_input_walks_to_its_length(raw in prop::collection::vec(0u8..4, 0..3000)) {
            let stored = lz4_flex::block::compress(&raw);
            prop_assert_eq!(lz4_decoded_len(&stored), Some(raw.len() as u64));
        }

        #[test]
        fn walking_garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            if let Some(len) = lz4_decoded_len(&bytes) {
                let raw = usize::try_from(len).unwrap();
                let mut out = vec![0u8; raw];
                // Whatever the walk accepts, the real decoder agrees on or rejects; never more.
                if let Ok(n) = lz4_flex::block::decompress_into(&bytes, &mut out) {
                    prop_assert_eq!(n, raw);
                }
            }
        }
    }
}
