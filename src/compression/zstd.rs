//! The zstd codec of zstd blocks (cargo feature `zstd`), through `structured-zstd` (pure Rust).
//!
//! A zstd block's stored bytes are exactly one zstd frame (RFC 8878) that declares its content
//! size. Before a decoder allocates the block's `raw_len` buffer, [`frame_bound`] walks the
//! frame's header and block headers (no decoding, no allocation) and the claim must match: the
//! frame's declared content size equals `raw_len`, and the blocks can produce that many bytes
//! (raw and RLE blocks declare their decoded size; a compressed block decodes to at most
//! 128 KiB). A header that claims more than the stored bytes can produce is corruption found
//! without allocating, as for LZ4 (`lz4_decoded_len`); the decoder then writes into that buffer
//! and nothing else grows with the input.
//!
//! Thread safety: compression reuses one compressor per thread (a thread-local), so any number
//! of threads compress at once; [`Parsed`] is immutable and `Send + Sync`.

use std::cell::RefCell;

use structured_zstd::decoding::{DictionaryHandle, FrameDecoder};
use structured_zstd::encoding::{CompressionLevel, EncoderDictionary, FrameCompressor};

use crate::error::CorruptionKind;

/// A zstd frame's magic number, little-endian on disk.
const MAGIC: u32 = 0xFD2F_B528;

/// The largest a zstd block decodes to (RFC 8878, `Block_Maximum_Size`).
const MAX_BLOCK_LEN: u64 = 128 * 1024;

/// A dictionary parsed once for the encoder and the decoder.
pub(crate) struct Parsed {
    encoder: EncoderDictionary,
    decoder: DictionaryHandle,
}

impl Parsed {
    /// Parses `raw` (a serialized dictionary or raw content); `None` if it does not parse.
    pub(crate) fn new(raw: &[u8]) -> Option<Self> {
        if raw.is_empty() {
            return None;
        }
        Some(Self {
            encoder: EncoderDictionary::from_serialized_or_raw_content(raw).ok()?,
            decoder: DictionaryHandle::from_serialized_or_raw_content(raw).ok()?,
        })
    }
}

/// The compressor this thread last used, with the level and dictionary id it was set up for.
struct Compressor {
    level: i32,
    dict_id: u32,
    inner: FrameCompressor,
}

thread_local! {
    static COMPRESSOR: RefCell<Option<Compressor>> = const { RefCell::new(None) };
}

/// Compresses `raw` as one zstd frame at `level` (already clamped into 1..=22), with `dict`
/// (and its id) if given.
pub(crate) fn compress(raw: &[u8], level: i32, dict: Option<(&Parsed, u32)>) -> Vec<u8> {
    let mut out = Vec::new();
    let dict_id = dict.map_or(0, |(_, id)| id);
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let reusable = slot
            .as_ref()
            .is_some_and(|c| c.level == level && c.dict_id == dict_id);
        if !reusable {
            let mut inner = FrameCompressor::new(CompressionLevel::from_level(level));
            inner.set_content_checksum(false);
            if let Some((parsed, _)) = dict {
                // NB: fails only for a dictionary with a zero repeat offset, which `Parsed::new`
                // already parsed; then the frame is written without it and still decodes.
                let _ = inner.set_encoder_dictionary(parsed.encoder.clone());
            }
            *slot = Some(Compressor {
                level,
                dict_id,
                inner,
            });
        }
        if let Some(compressor) = slot.as_mut() {
            compressor
                .inner
                .compress_independent_frame_into(raw, &mut out);
        }
    });
    out
}

/// What a walk over a zstd frame's headers finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameBound {
    /// The content size the frame header declares.
    pub(crate) content_size: u64,
    /// The most bytes its blocks can decode to.
    pub(crate) max_decoded: u64,
}

/// Reads the little-endian unsigned integer of `bytes` (at most 8 bytes).
fn le(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

/// Walks the zstd frame that must fill `stored` exactly: its header (which must declare the
/// content size) and its block headers, without decoding. `None` for bytes that are not one
/// such frame: another magic, a reserved bit or block type, a block above 128 KiB, a frame that
/// ends early or is followed by anything.
pub(crate) fn frame_bound(stored: &[u8]) -> Option<FrameBound> {
    let mut pos = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let end = pos.checked_add(n)?;
        let out = stored.get(pos..end)?;
        pos = end;
        Some(out)
    };
    if le(take(4)?) != u64::from(MAGIC) {
        return None;
    }
    let descriptor = *take(1)?.first()?;
    let fcs_flag = descriptor >> 6;
    let single_segment = descriptor & 0x20 != 0;
    let has_checksum = descriptor & 0x04 != 0;
    if descriptor & 0x08 != 0 {
        return None;
    }
    let mut block_max = MAX_BLOCK_LEN;
    if !single_segment {
        let window_descriptor = *take(1)?.first()?;
        let log = 10 + u32::from(window_descriptor >> 3);
        let base = 1u64 << log;
        let window = base + (base / 8) * u64::from(window_descriptor & 7);
        block_max = block_max.min(window);
    }
    // The dictionary id field: 0, 1, 2 or 4 bytes.
    take(match descriptor & 3 {
        3 => 4,
        n => usize::from(n),
    })?;
    let content_size = match (fcs_flag, single_segment) {
        (0, false) => return None,
        (0, true) => le(take(1)?),
        (1, _) => le(take(2)?) + 256,
        (2, _) => le(take(4)?),
        _ => le(take(8)?),
    };
    if single_segment {
        block_max = block_max.min(content_size.max(1));
    }
    let mut max_decoded: u64 = 0;
    loop {
        let header = le(take(3)?);
        let last = header & 1 != 0;
        let size = header >> 3;
        if size > block_max {
            return None;
        }
        let block_len = usize::try_from(size).ok()?;
        let (content_len, decoded) = match (header >> 1) & 3 {
            0 => (block_len, size),
            1 => (1, size),
            2 => (block_len, block_max),
            _ => return None,
        };
        take(content_len)?;
        max_decoded = max_decoded.checked_add(decoded)?;
        if last {
            break;
        }
    }
    if has_checksum {
        take(4)?;
    }
    (pos == stored.len()).then_some(FrameBound {
        content_size,
        max_decoded,
    })
}

/// Decodes the zstd frame `stored` that the block header says is `raw_len` bytes, with `dict`
/// if the block was compressed with the table's dictionary. Allocates `raw_len` bytes only
/// after [`frame_bound`] has confirmed the claim.
pub(crate) fn decompress(
    stored: &[u8],
    raw_len: u32,
    dict: Option<&Parsed>,
) -> Result<Vec<u8>, CorruptionKind> {
    let claim = u64::from(raw_len);
    if !frame_bound(stored).is_some_and(|b| b.content_size == claim && claim <= b.max_decoded) {
        return Err(CorruptionKind::InvalidField("raw length"));
    }
    let mut raw = vec![0u8; raw_len as usize];
    let mut decoder = FrameDecoder::new();
    let written = match dict {
        Some(parsed) => decoder.decode_all_with_dict_handle(stored, &mut raw, &parsed.decoder),
        None => decoder.decode_all(stored, &mut raw),
    };
    match written {
        Ok(n) if n == raw.len() => Ok(raw),
        _ => Err(CorruptionKind::InvalidField("compressed bytes")),
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap or index is a failed test"
)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn compressed(raw: &[u8], level: i32, dict: Option<(&Parsed, u32)>) -> Vec<u8> {
        compress(raw, level, dict)
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| b"{\"id\":17,\"name\":\"strata\"}"[i % 25] ^ u8::from(i % 97 == 0))
            .collect()
    }

    #[test]
    fn every_level_round_trips_and_walks_to_its_length() {
        let raw = sample(20_000);
        for level in 1..=22 {
            let stored = compressed(&raw, level, None);
            assert!(stored.len() < raw.len() / 2, "level {level}");
            let bound = frame_bound(&stored).unwrap();
            assert_eq!(bound.content_size, raw.len() as u64, "level {level}");
            assert!(bound.max_decoded >= raw.len() as u64, "level {level}");
            let len = u32::try_from(raw.len()).unwrap();
            assert_eq!(
                decompress(&stored, len, None).unwrap(),
                raw,
                "level {level}"
            );
        }
    }

    #[test]
    fn a_dictionary_frame_needs_the_dictionary() {
        let dict_bytes = sample(2000);
        let parsed = Parsed::new(&dict_bytes).unwrap();
        let raw = sample(300);
        let stored = compressed(&raw, 3, Some((&parsed, 7)));
        let plain = compressed(&raw, 3, None);
        assert!(stored.len() < plain.len(), "the dictionary helps");
        let len = u32::try_from(raw.len()).unwrap();
        assert_eq!(decompress(&stored, len, Some(&parsed)).unwrap(), raw);
        assert_ne!(decompress(&stored, len, None).ok(), Some(raw));
    }

    #[test]
    fn a_claim_the_frame_cannot_back_is_corruption_before_allocating() {
        let raw = sample(5000);
        let stored = compressed(&raw, 3, None);
        for claim in [0, 4999, 5001, u32::MAX] {
            assert_eq!(
                decompress(&stored, claim, None),
                Err(CorruptionKind::InvalidField("raw length")),
                "claim {claim}"
            );
        }
        // Trailing bytes, a cut frame, another magic.
        let mut trailing = stored.clone();
        trailing.push(0);
        assert_eq!(frame_bound(&trailing), None);
        assert_eq!(frame_bound(&stored[..stored.len() - 1]), None);
        let mut magic = stored;
        magic[0] ^= 1;
        assert_eq!(frame_bound(&magic), None);
    }

    /// A dictionary trained on JSON-like samples, serialized as C zstd writes one.
    fn trained() -> Vec<u8> {
        let samples: Vec<Vec<u8>> = (0..400)
            .map(|i| {
                format!(
                    "{{\"id\":{i},\"name\":\"user{}\",\"plan\":\"free\"}}",
                    i * 7
                )
                .into_bytes()
            })
            .collect();
        crate::compression::train_dictionary(&samples, 2048)
            .unwrap()
            .raw()
            .to_vec()
    }

    #[test]
    fn c_zstd_decodes_strata_frames_at_every_level() {
        let raw = sample(20_000);
        for level in 1..=22 {
            let stored = compressed(&raw, level, None);
            assert_eq!(
                c_zstd::bulk::decompress(&stored, raw.len()).unwrap(),
                raw,
                "level {level}"
            );
        }
    }

    #[test]
    fn strata_decodes_c_zstd_frames_at_every_level() {
        let raw = sample(20_000);
        let len = u32::try_from(raw.len()).unwrap();
        for level in 1..=22 {
            let stored = c_zstd::bulk::compress(&raw, level).unwrap();
            assert_eq!(
                decompress(&stored, len, None).unwrap(),
                raw,
                "level {level}"
            );
        }
    }

    #[test]
    fn dictionary_frames_decode_both_ways() {
        for dict in [trained(), sample(3000)] {
            let parsed = Parsed::new(&dict).unwrap();
            let raw = b"{\"id\":9001,\"name\":\"user63007\",\"plan\":\"free\"}".repeat(3);
            let len = u32::try_from(raw.len()).unwrap();
            for level in [1, 3, 9, 19] {
                let ours = compressed(&raw, level, Some((&parsed, 1)));
                let mut c = c_zstd::bulk::Decompressor::with_dictionary(&dict).unwrap();
                assert_eq!(
                    c.decompress(&ours, raw.len()).unwrap(),
                    raw,
                    "level {level}"
                );
                let mut c = c_zstd::bulk::Compressor::with_dictionary(level, &dict).unwrap();
                let theirs = c.compress(&raw).unwrap();
                assert_eq!(
                    decompress(&theirs, len, Some(&parsed)).unwrap(),
                    raw,
                    "level {level}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn walking_and_decoding_garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300), claim in 0u32..100_000) {
            let mut framed = MAGIC.to_le_bytes().to_vec();
            framed.extend_from_slice(&bytes);
            let _ = frame_bound(&framed);
            let _ = decompress(&framed, claim, None);
        }

        #[test]
        fn any_input_round_trips(raw in prop::collection::vec(0u8..4, 0..3000), level in 1i32..=9) {
            let stored = compressed(&raw, level, None);
            let len = u32::try_from(raw.len()).unwrap();
            prop_assert_eq!(decompress(&stored, len, None).unwrap(), raw);
        }
    }
}
