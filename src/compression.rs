//! [`CompressionType`]: how a block's bytes are stored. Persisted in every block header.
//!
//! With the `lz4` feature this module also holds [`lz4_decoded_len`], the decoder-side check that
//! an LZ4 block's stored bytes really decode to the length its header claims, made before the
//! block's buffer is allocated.

#![deny(clippy::indexing_slicing)]

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
