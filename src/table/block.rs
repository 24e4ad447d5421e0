//! Blocks: the unit in which a table file is written, read, checksummed and compressed.
//!
//! Byte layout of a block on disk (little-endian; see `docs/format.md`):
//!
//! ```text
//! +------+-------------+------------+---------+----------+----------------------+
//! | type | compression | stored_len | raw_len | checksum | stored bytes         |
//! | u8   | u8          | u32        | u32     | u64      | stored_len bytes     |
//! +------+-------------+------------+---------+----------+----------------------+
//!  <------------------- header: 18 bytes ---------------->
//! ```
//!
//! 1. `type`: what the block holds ([`BlockType`]).
//! 2. `compression`: how the stored bytes encode the raw bytes ([`CompressionType`]).
//! 3. `stored_len`: the length of the stored bytes that follow the header.
//! 4. `raw_len`: the length of the block's contents after decompression; equal to `stored_len`
//!    without compression.
//! 5. `checksum`: xxh3-64 of the first ten header bytes followed by the stored bytes, so that a
//!    flipped bit in the type, the lengths or the payload is caught.
//!
//! A decoder never trusts a length before the checksum has matched. For an LZ4 block it then
//! walks the stored stream's sequence headers ([`lz4_decoded_len`]) and allocates the `raw_len`
//! buffer only if the stream decodes to exactly `raw_len` bytes: a header that claims more (up to
//! `u32::MAX`) than its stored bytes produce is corruption found without allocating.
//!
//! A zstd block's stored bytes are one zstd frame that declares its content size; the decoder
//! walks the frame's block headers (`compression::zstd::frame_bound`) and allocates `raw_len`
//! bytes only if the frame declares exactly that size and its blocks can produce it. A zstd block
//! with compression byte 3 was compressed with the table's dictionary, which the table's meta
//! block names and the reader checked when it opened the table.
//!
//! A compression byte that names a codec this build was compiled without (LZ4 without `lz4`,
//! zstd without `zstd`) is [`BlockError::MissingCodec`], which readers report as
//! `Error::UnsupportedFormat`: the file is sound, the build is what lacks.
//!
//! NB: the table's block size is no bound on `raw_len`. The writer cuts a data block once it
//! reaches the block size, so a block's last entry may carry a key and a value of up to
//! `u32::MAX` bytes each, and the writer compresses such a block like any other. The stream's own
//! decoded length is the exact bound that every block the writer produced meets. It also stays
//! below 255 × `stored_len` (LZ4's largest expansion), and `stored_len` is bounded by the file: the
//! reader only reads a block whose handle lies inside it.

#![deny(clippy::indexing_slicing)]

use xxhash_rust::xxh3::Xxh3;

#[cfg(feature = "lz4")]
use crate::compression::lz4_decoded_len;
use crate::compression::{CompressionType, ZstdDictionary, missing_codec};
use crate::error::{CorruptionKind, Error};
use crate::slice::Slice;

/// Why a block could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BlockError {
    /// The block's bytes are damaged.
    Corrupt(CorruptionKind),
    /// The block's compression byte names a codec this build was compiled without; the text
    /// names it and the cargo feature that enables it.
    MissingCodec(&'static str),
    /// The block is encrypted and could not be decrypted: no provider, or the provider refused
    /// it (its message).
    Decrypt(&'static str),
}

/// Bit 7 of a block's compression byte: the stored bytes are the encryption provider's output
/// over the (possibly compressed) bytes that the low bits describe.
pub(crate) const ENCRYPTED_FLAG: u8 = 0x80;

impl From<CorruptionKind> for BlockError {
    fn from(what: CorruptionKind) -> Self {
        Self::Corrupt(what)
    }
}

impl BlockError {
    /// The error for this failure of the block at `offset` in `file`.
    pub(crate) fn at(self, file: &std::path::Path, offset: u64) -> Error {
        match self {
            Self::Corrupt(what) => Error::Corruption {
                file: file.to_path_buf(),
                offset,
                what,
            },
            Self::MissingCodec(codec) => Error::UnsupportedFormat {
                file: file.to_path_buf(),
                version: super::meta::FORMAT_VERSION,
                missing: Some(codec),
            },
            Self::Decrypt(what) => Error::Decrypt(what),
        }
    }
}

/// The header length in bytes.
pub(crate) const HEADER_LEN: usize = 18;

/// What a block holds. Persisted as one byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum BlockType {
    /// Entries. On-disk value 0: never renumber.
    Data = 0,
    /// Index entries (last key and handle of each data block or index partition). On-disk value
    /// 1: never renumber.
    Index = 1,
    /// A bloom filter. On-disk value 2: never renumber.
    Filter = 2,
    /// The table's metadata. On-disk value 3: never renumber.
    Meta = 3,
    /// Range-tombstone fragments (format 2). On-disk value 4: never renumber.
    RangeTombstones = 4,
    /// One record of a blob file: key length, key and value (`docs/format.md`, section 11).
    /// On-disk value 5: never renumber.
    Blob = 5,
}

impl BlockType {
    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(Self::Data),
            1 => Some(Self::Index),
            2 => Some(Self::Filter),
            3 => Some(Self::Meta),
            4 => Some(Self::RangeTombstones),
            5 => Some(Self::Blob),
            _ => None,
        }
    }
}

fn checksum(header_prefix: &[u8], stored: &[u8]) -> u64 {
    let mut hasher = Xxh3::new();
    hasher.update(header_prefix);
    hasher.update(stored);
    hasher.digest()
}

/// Encodes `raw` as a block of `block_type`, compressed with `compression`, and appends it to
/// `out`. Returns the number of bytes appended.
///
/// # Panics
/// Panics if `raw` is longer than `u32::MAX` bytes (blocks hold entries whose keys and values are
/// each at most `u32::MAX` bytes; the writer cuts blocks long before).
pub(crate) fn encode_block(
    block_type: BlockType,
    compression: CompressionType,
    raw: &[u8],
    out: &mut Vec<u8>,
    dictionary: Option<&ZstdDictionary>,
) -> usize {
    let (compression, stored) = compress(compression, raw, dictionary);
    write_block(out, block_type, u8::from(compression), raw.len(), &stored)
}

/// [`encode_block`], then, with `encryption`, the stored bytes encrypted (bit 7 of the
/// compression byte set) before the checksum is taken.
///
/// # Errors
/// The provider's error ([`Error::Encrypt`]), or `Encrypt` if its output is longer than its
/// `max_overhead` allows.
///
/// # Panics
/// As [`encode_block`].
pub(crate) fn encode_block_with(
    block_type: BlockType,
    compression: CompressionType,
    raw: &[u8],
    out: &mut Vec<u8>,
    dictionary: Option<&ZstdDictionary>,
    encryption: Option<&dyn crate::EncryptionProvider>,
) -> crate::Result<usize> {
    let Some(provider) = encryption else {
        return Ok(encode_block(block_type, compression, raw, out, dictionary));
    };
    let (compression, stored) = compress(compression, raw, dictionary);
    let sealed = provider.encrypt(&stored)?;
    let bound = stored
        .len()
        .saturating_add(provider.max_overhead() as usize);
    if sealed.len() > bound {
        return Err(Error::Encrypt(
            "the provider's output exceeds its max_overhead",
        ));
    }
    Ok(write_block(
        out,
        block_type,
        u8::from(compression) | ENCRYPTED_FLAG,
        raw.len(),
        &sealed,
    ))
}

/// `raw` compressed with `compression` (kept raw, as `None`, when that does not make it smaller).
fn compress<'a>(
    compression: CompressionType,
    raw: &'a [u8],
    dictionary: Option<&ZstdDictionary>,
) -> (CompressionType, std::borrow::Cow<'a, [u8]>) {
    #[cfg(not(feature = "zstd"))]
    let _ = dictionary;
    let (compression, stored): (CompressionType, std::borrow::Cow<'a, [u8]>) = match compression {
        CompressionType::None => (CompressionType::None, raw.into()),
        #[cfg(feature = "lz4")]
        CompressionType::Lz4 => (CompressionType::Lz4, lz4_flex::block::compress(raw).into()),
        #[cfg(feature = "zstd")]
        CompressionType::Zstd(level) | CompressionType::ZstdDict { level, .. } => {
            let level = crate::compression::clamp_level(level);
            // NB: a dictionary block needs the dictionary the table records; without one that
            // parses, the block is written as a plain zstd frame.
            let dict = compression
                .dict_id()
                .and(dictionary)
                .and_then(|d| d.parsed().map(|p| (p, d.id())));
            let compressed = crate::compression::zstd::compress(raw, level, dict);
            match dict {
                Some(_) => (compression, compressed.into()),
                None => (CompressionType::Zstd(level), compressed.into()),
            }
        }
    };
    // NB: keep incompressible blocks raw; the reader then skips a decompression.
    if stored.len() < raw.len() {
        (compression, stored)
    } else {
        (CompressionType::None, raw.into())
    }
}

/// Appends the header (with the compression byte `compression` as given) and `stored` to `out`;
/// returns the bytes appended.
fn write_block(
    out: &mut Vec<u8>,
    block_type: BlockType,
    compression: u8,
    raw_len: usize,
    stored: &[u8],
) -> usize {
    let stored_len = u32::try_from(stored.len())
        .unwrap_or_else(|_| panic!("block of {} bytes exceeds u32::MAX", stored.len()));
    let raw_len = u32::try_from(raw_len)
        .unwrap_or_else(|_| panic!("block of {raw_len} bytes exceeds u32::MAX"));
    let start = out.len();
    out.push(block_type as u8);
    out.push(compression);
    out.extend_from_slice(&stored_len.to_le_bytes());
    out.extend_from_slice(&raw_len.to_le_bytes());
    let sum = checksum(out.get(start..start + 10).unwrap_or_default(), stored);
    out.extend_from_slice(&sum.to_le_bytes());
    out.extend_from_slice(stored);
    out.len() - start
}

/// A parsed block header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockHeader {
    pub(crate) block_type: u8,
    pub(crate) compression: u8,
    pub(crate) stored_len: u32,
    pub(crate) raw_len: u32,
    pub(crate) checksum: u64,
}

impl BlockHeader {
    /// Parses the header at the start of `bytes`.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, CorruptionKind> {
        let header: &[u8; HEADER_LEN] = bytes.first_chunk().ok_or(CorruptionKind::Truncated)?;
        let [
            block_type,
            compression,
            s0,
            s1,
            s2,
            s3,
            r0,
            r1,
            r2,
            r3,
            c @ ..,
        ] = *header;
        Ok(Self {
            block_type,
            compression,
            stored_len: u32::from_le_bytes([s0, s1, s2, s3]),
            raw_len: u32::from_le_bytes([r0, r1, r2, r3]),
            checksum: u64::from_le_bytes(c),
        })
    }
}

/// Verifies and decodes the block that fills `bytes` (header and stored bytes) and returns its
/// raw contents: a zero-copy sub-slice for an uncompressed block. `expected` is the type the
/// caller is reading; `dictionary` is the table's zstd dictionary, if its meta block names one.
#[cfg(any(test, feature = "internals"))]
pub(crate) fn decode_block(
    bytes: &Slice,
    expected: BlockType,
    dictionary: Option<&ZstdDictionary>,
) -> Result<Slice, BlockError> {
    decode_block_with(bytes, expected, dictionary, None)
}

/// [`decode_block`] for a tree with an encryption provider (or none): an encrypted block (bit 7
/// of its compression byte) is decrypted after its checksum matched, then decompressed; an
/// encrypted block without a provider is [`BlockError::Decrypt`]. A block written without
/// encryption reads alike with or without a provider.
pub(crate) fn decode_block_with(
    bytes: &Slice,
    expected: BlockType,
    dictionary: Option<&ZstdDictionary>,
    encryption: Option<&dyn crate::EncryptionProvider>,
) -> Result<Slice, BlockError> {
    let header = BlockHeader::parse(bytes)?;
    let stored = bytes.get(HEADER_LEN..).ok_or(CorruptionKind::Truncated)?;
    if stored.len() != header.stored_len as usize {
        return Err(CorruptionKind::Truncated.into());
    }
    let actual = checksum(bytes.get(..10).unwrap_or_default(), stored);
    if actual != header.checksum {
        return Err(CorruptionKind::ChecksumMismatch {
            expected: header.checksum,
            actual,
        }
        .into());
    }
    if BlockType::from_byte(header.block_type) != Some(expected) {
        return Err(CorruptionKind::InvalidField("block type").into());
    }
    let decrypted = if header.compression & ENCRYPTED_FLAG == 0 {
        None
    } else {
        let provider = encryption.ok_or(BlockError::Decrypt(
            "the block is encrypted and the tree has no encryption provider \
             (Config::with_encryption)",
        ))?;
        Some(provider.decrypt(stored).map_err(|error| match error {
            Error::Decrypt(what) => BlockError::Decrypt(what),
            _ => BlockError::Decrypt("the encryption provider failed"),
        })?)
    };
    let stored: &[u8] = decrypted.as_deref().unwrap_or(stored);
    let compression_byte = header.compression & !ENCRYPTED_FLAG;
    let compression = CompressionType::try_from(compression_byte).map_err(|_| {
        missing_codec(compression_byte).map_or(
            BlockError::Corrupt(CorruptionKind::InvalidField("compression type")),
            BlockError::MissingCodec,
        )
    })?;
    #[cfg(not(feature = "zstd"))]
    let _ = dictionary;
    match compression {
        CompressionType::None => {
            if header.raw_len as usize != stored.len() {
                return Err(CorruptionKind::InvalidField("raw length").into());
            }
            Ok(match decrypted {
                Some(plain) => Slice::from(plain),
                None => bytes.slice(HEADER_LEN..),
            })
        }
        #[cfg(feature = "lz4")]
        CompressionType::Lz4 => {
            let raw_len = header.raw_len as usize;
            if raw_len > stored.len().saturating_mul(255)
                || lz4_decoded_len(stored) != Some(u64::from(header.raw_len))
            {
                return Err(CorruptionKind::InvalidField("raw length").into());
            }
            let mut raw = vec![0u8; raw_len];
            match lz4_flex::block::decompress_into(stored, &mut raw) {
                Ok(n) if n == raw_len => Ok(Slice::from(raw)),
                _ => Err(CorruptionKind::InvalidField("compressed bytes").into()),
            }
        }
        #[cfg(feature = "zstd")]
        CompressionType::Zstd(_) => {
            crate::compression::zstd::decompress(stored, header.raw_len, None)
                .map(Slice::from)
                .map_err(BlockError::from)
        }
        #[cfg(feature = "zstd")]
        CompressionType::ZstdDict { .. } => {
            // NB: the reader refused to open a table whose meta names a dictionary it was not
            // given, so a dictionary block without one is a block the meta does not describe.
            let parsed = dictionary
                .and_then(ZstdDictionary::parsed)
                .ok_or(CorruptionKind::InvalidField("zstd dictionary block"))?;
            crate::compression::zstd::decompress(stored, header.raw_len, Some(parsed))
                .map(Slice::from)
                .map_err(BlockError::from)
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "test code: an out-of-bounds index is a failed test"
)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encoded(block_type: BlockType, compression: CompressionType, raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let n = encode_block(block_type, compression, raw, &mut out, None);
        assert_eq!(n, out.len());
        out
    }

    #[test]
    fn golden_bytes_of_an_uncompressed_block() {
        let block = encoded(BlockType::Index, CompressionType::None, b"abc");
        let sum = checksum(&[1, 0, 3, 0, 0, 0, 3, 0, 0, 0], b"abc").to_le_bytes();
        let mut expected = vec![1, 0, 3, 0, 0, 0, 3, 0, 0, 0];
        expected.extend_from_slice(&sum);
        expected.extend_from_slice(b"abc");
        assert_eq!(block, expected);
        assert_eq!(
            decode_block(&Slice::from(block.clone()), BlockType::Index, None).unwrap(),
            b"abc"
        );
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let block = encoded(
            BlockType::Data,
            CompressionType::None,
            b"some block contents",
        );
        for byte in 0..block.len() {
            for bit in 0..8 {
                let mut bad = block.clone();
                bad[byte] ^= 1 << bit;
                assert!(
                    decode_block(&Slice::from(bad.clone()), BlockType::Data, None).is_err(),
                    "flip of bit {bit} in byte {byte} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn truncation_and_wrong_type_are_errors() {
        let block = encoded(BlockType::Data, CompressionType::None, b"0123456789");
        for len in 0..block.len() {
            assert!(
                decode_block(&Slice::from(&block[..len]), BlockType::Data, None).is_err(),
                "len {len}"
            );
        }
        assert_eq!(
            decode_block(&Slice::from(block.clone()), BlockType::Meta, None),
            Err(BlockError::Corrupt(CorruptionKind::InvalidField(
                "block type"
            )))
        );
    }

    #[cfg(feature = "lz4")]
    #[test]
    fn lz4_blocks_round_trip_and_incompressible_ones_stay_raw() {
        let raw: Vec<u8> = b"abcdefgh".repeat(100);
        let block = encoded(BlockType::Data, CompressionType::Lz4, &raw);
        assert!(block.len() < raw.len());
        assert_eq!(block[1], 1);
        assert_eq!(
            decode_block(&Slice::from(block.clone()), BlockType::Data, None).unwrap(),
            raw
        );
        let noise: Vec<u8> = (0..64u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let block = encoded(BlockType::Data, CompressionType::Lz4, &noise);
        assert_eq!(block[1], 0, "incompressible data is stored raw");
        assert_eq!(
            decode_block(&Slice::from(block.clone()), BlockType::Data, None).unwrap(),
            noise
        );
    }

    /// A block of `stored` bytes as LZ4 whose header claims `raw_len`, with a valid checksum.
    #[cfg(feature = "lz4")]
    fn lz4_block_claiming(stored: &[u8], raw_len: u32) -> Vec<u8> {
        let mut out = vec![BlockType::Data as u8, 1];
        out.extend_from_slice(&u32::try_from(stored.len()).unwrap().to_le_bytes());
        out.extend_from_slice(&raw_len.to_le_bytes());
        let sum = checksum(&out, stored);
        out.extend_from_slice(&sum.to_le_bytes());
        out.extend_from_slice(stored);
        out
    }

    /// An LZ4 stream of one literal run of `n` bytes, built by hand (no compressor needed).
    #[cfg(feature = "lz4")]
    fn literal_stream(n: usize) -> Vec<u8> {
        let mut out = vec![0xf0];
        let mut rest = n - 15;
        while rest >= 255 {
            out.push(255);
            rest -= 255;
        }
        out.push(u8::try_from(rest).unwrap());
        out.extend((0..n).map(|i| (i % 251) as u8));
        out
    }

    /// Runs the test named `name` again in a child process whose address space is capped at
    /// 2 GiB, so that an allocation of `u32::MAX` bytes aborts the child (it would succeed
    /// lazily on a machine that overcommits memory, and hide the bug).
    #[cfg(all(feature = "lz4", target_os = "linux"))]
    fn in_child_under_2_gib(name: &str) -> bool {
        const CHILD: &str = "STRATA_TEST_UNDER_MEMORY_LIMIT";
        if std::env::var_os(CHILD).is_some() {
            return false;
        }
        let exe = std::env::current_exe().unwrap();
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 2097152 && exec \"$0\" \"$@\"")
            .arg(exe)
            .args(["--exact", name, "--test-threads=1", "--nocapture"])
            .env(CHILD, "1")
            .status()
            .unwrap();
        assert!(status.success(), "the child test failed: {status}");
        true
    }

    /// Regression: an LZ4 block of ~17 MB stored bytes claiming `u32::MAX` raw bytes passed the
    /// 255 × `stored_len` cap, and the reader allocated 4 GiB before decompression could fail,
    /// which aborted the process under a 2 GiB memory limit. The claim is now checked against
    /// the stream's decoded length first.
    #[cfg(all(feature = "lz4", target_os = "linux"))]
    #[test]
    fn lz4_block_claiming_u32_max_raw_bytes_is_corruption_without_allocating() {
        if in_child_under_2_gib(
            "table::block::tests::lz4_block_claiming_u32_max_raw_bytes_is_corruption_without_allocating",
        ) {
            return;
        }
        let n = (u32::MAX / 255) as usize + 1000;
        let stored = literal_stream(n);
        assert!(
            u32::MAX as usize <= stored.len() * 255,
            "passes the old cap"
        );
        let lying = lz4_block_claiming(&stored, u32::MAX);
        assert_eq!(
            decode_block(&Slice::from(lying), BlockType::Data, None),
            Err(BlockError::Corrupt(CorruptionKind::InvalidField(
                "raw length"
            )))
        );
        // The same stream with its true length decodes.
        let honest = lz4_block_claiming(&stored, u32::try_from(n).unwrap());
        let raw = decode_block(&Slice::from(honest), BlockType::Data, None).unwrap();
        assert_eq!(raw.len(), n);
        assert_eq!(raw.get(n - 1), Some(&(((n - 1) % 251) as u8)));
    }

    #[cfg(feature = "lz4")]
    #[test]
    fn lz4_block_claiming_one_byte_more_or_less_is_corruption() {
        let raw: Vec<u8> = b"0123456789abcdef".repeat(50);
        let stored = lz4_flex::block::compress(&raw);
        let len = u32::try_from(raw.len()).unwrap();
        for claim in [0, 1, len - 1, len + 1] {
            assert_eq!(
                decode_block(
                    &Slice::from(lz4_block_claiming(&stored, claim)),
                    BlockType::Data,
                    None
                ),
                Err(BlockError::Corrupt(CorruptionKind::InvalidField(
                    "raw length"
                ))),
                "claim {claim}"
            );
        }
        assert_eq!(
            decode_block(
                &Slice::from(lz4_block_claiming(&stored, len)),
                BlockType::Data,
                None
            )
            .unwrap(),
            raw
        );
    }

    /// A zstd frame of 100 × "a" built by hand: magic, a single-segment descriptor with a
    /// one-byte content size (100), and one last RLE block of 100 bytes.
    const ZSTD_FRAME_OF_100_A: [u8; 10] =
        [0x28, 0xb5, 0x2f, 0xfd, 0x20, 100, 0x23, 0x03, 0x00, b'a'];

    /// A block of `stored` bytes with compression byte `compression` claiming `raw_len`, with
    /// a valid checksum.
    fn block_claiming(compression: u8, stored: &[u8], raw_len: u32) -> Vec<u8> {
        let mut out = vec![BlockType::Data as u8, compression];
        out.extend_from_slice(&u32::try_from(stored.len()).unwrap().to_le_bytes());
        out.extend_from_slice(&raw_len.to_le_bytes());
        let sum = checksum(&out, stored);
        out.extend_from_slice(&sum.to_le_bytes());
        out.extend_from_slice(stored);
        out
    }

    /// A zstd block read by a build without the `zstd` feature: the file is sound, the build
    /// lacks the codec, so the error is `UnsupportedFormat`, never corruption. (The stored bytes
    /// are a hand-built zstd frame of 100 × "a": a one-byte content size, one RLE block.)
    #[cfg(not(feature = "zstd"))]
    #[test]
    fn a_zstd_block_in_a_build_without_zstd_is_an_unsupported_format() {
        let frame = ZSTD_FRAME_OF_100_A;
        for byte in [2, 3] {
            let block = block_claiming(byte, &frame, 100);
            let err = decode_block(&Slice::from(block), BlockType::Data, None).unwrap_err();
            assert!(matches!(err, BlockError::MissingCodec(what) if what.contains("`zstd`")));
            let err = err.at(std::path::Path::new("t.sst"), 7);
            assert!(
                matches!(
                    err,
                    Error::UnsupportedFormat {
                        missing: Some(_),
                        ..
                    }
                ),
                "{err}"
            );
        }
        // A byte no build knows stays corruption.
        let block = block_claiming(77, &frame, 100);
        assert_eq!(
            decode_block(&Slice::from(block), BlockType::Data, None),
            Err(BlockError::Corrupt(CorruptionKind::InvalidField(
                "compression type"
            )))
        );
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_blocks_round_trip_at_every_level_and_incompressible_ones_stay_raw() {
        let raw: Vec<u8> = b"{\"id\":1,\"name\":\"abc\"}".repeat(100);
        for level in 1..=22 {
            let block = encoded(BlockType::Data, CompressionType::zstd(level), &raw);
            assert!(block.len() < raw.len() / 4, "level {level}");
            assert_eq!(block[1], 2);
            assert_eq!(
                decode_block(&Slice::from(block), BlockType::Data, None).unwrap(),
                raw
            );
        }
        let noise: Vec<u8> = (0..64u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let block = encoded(BlockType::Data, CompressionType::zstd(3), &noise);
        assert_eq!(block[1], 0, "incompressible data is stored raw");
        // The hand-built frame the build without zstd reads as unsupported is a sound frame.
        let block = block_claiming(2, &ZSTD_FRAME_OF_100_A, 100);
        assert_eq!(
            decode_block(&Slice::from(block), BlockType::Data, None).unwrap(),
            [b'a'; 100]
        );
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn a_dictionary_block_records_byte_3_and_needs_the_dictionary() {
        let dict = ZstdDictionary::new(&b"{\"id\":0,\"name\":\"\",\"plan\":\"free\"}".repeat(10));
        let raw = b"{\"id\":7,\"name\":\"q\",\"plan\":\"free\"}".to_vec();
        let mut block = Vec::new();
        let compression = CompressionType::zstd_dict(3, dict.id());
        encode_block(BlockType::Data, compression, &raw, &mut block, Some(&dict));
        assert_eq!(block[1], 3);
        assert_eq!(
            decode_block(&Slice::from(block.clone()), BlockType::Data, Some(&dict)).unwrap(),
            raw
        );
        assert_eq!(
            decode_block(&Slice::from(block), BlockType::Data, None),
            Err(BlockError::Corrupt(CorruptionKind::InvalidField(
                "zstd dictionary block"
            )))
        );
        // Without the dictionary at hand, the writer falls back to a plain zstd frame.
        let mut block = Vec::new();
        encode_block(
            BlockType::Data,
            compression,
            &raw.repeat(4),
            &mut block,
            None,
        );
        assert_eq!(block[1], 2);
    }

    /// Regression guard: a zstd block claiming `u32::MAX` raw bytes over a frame that declares
    /// fewer is corruption found by the frame walk, before any allocation.
    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_block_claiming_more_than_its_frame_is_corruption() {
        let raw = b"0123456789abcdef".repeat(50);
        let stored = crate::compression::zstd::compress(&raw, 3, None);
        let len = u32::try_from(raw.len()).unwrap();
        for claim in [0, len - 1, len + 1, u32::MAX] {
            assert_eq!(
                decode_block(
                    &Slice::from(block_claiming(2, &stored, claim)),
                    BlockType::Data,
                    None
                ),
                Err(BlockError::Corrupt(CorruptionKind::InvalidField(
                    "raw length"
                ))),
                "claim {claim}"
            );
        }
        assert_eq!(
            decode_block(
                &Slice::from(block_claiming(2, &stored, len)),
                BlockType::Data,
                None
            )
            .unwrap(),
            raw
        );
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_block(&Slice::from(bytes.clone()), BlockType::Data, None);
        }

        #[test]
        fn any_contents_round_trip(raw in prop::collection::vec(any::<u8>(), 0..500)) {
            let block = encoded(BlockType::Data, CompressionType::default(), &raw);
            prop_assert_eq!(decode_block(&Slice::from(block.clone()), BlockType::Data, None).unwrap(), raw);
        }
    }
}
