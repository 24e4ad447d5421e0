//! Hostile LZ4 streams as the stored bytes of a data block (strata feature `lz4`): the block
//! decoder never panics and never allocates past what the stream decodes to, and whatever it
//! accepts has exactly the length the header claims and the bytes the reference decoder
//! (`lz4_flex`) gives.
//!
//! Input: a 4-byte little-endian `raw_len` claim, then the stored bytes (an LZ4 block, or
//! anything). The block is sealed with a valid checksum as compression 1 (LZ4), so that every
//! input reaches the LZ4 decoder. A second pass claims the length the reference decoder finds
//! (when it decodes the stream at all), so that accepted blocks are explored from the first
//! input on.

#![no_main]
#![allow(
    clippy::disallowed_types,
    reason = "fuzz_target! opens a std::fs::File for RUST_LIBFUZZER_DEBUG_PATH"
)]

use libfuzzer_sys::fuzz_target;
use strata::internals::decode_block_with_dictionary;
use strata_fuzz::reseal_block;

/// LZ4's largest expansion: raw bytes per stored byte.
const MAX_EXPANSION: usize = 255;

/// The bytes `stored` decodes to under `lz4_flex` if they are exactly `raw_len` long (only for
/// claims within LZ4's expansion bound, so that the reference allocates no more than the engine
/// may).
fn reference(stored: &[u8], raw_len: usize) -> Option<Vec<u8>> {
    if raw_len > stored.len().saturating_mul(MAX_EXPANSION) {
        return None;
    }
    let mut out = vec![0u8; raw_len];
    match lz4_flex::block::decompress_into(stored, &mut out) {
        Ok(n) if n == raw_len => Some(out),
        _ => None,
    }
}

fn check(claim: u32, stored: &[u8]) {
    let mut block = vec![0u8, 1, 0, 0, 0, 0];
    block.extend_from_slice(&claim.to_le_bytes());
    block.extend_from_slice(&[0; 8]);
    block.extend_from_slice(stored);
    let block = reseal_block(&block);
    let decoded = decode_block_with_dictionary(&block, 0, None);
    let Ok(raw) = decoded else {
        return;
    };
    assert_eq!(
        raw.len() as u64,
        u64::from(claim),
        "a block decoded to another length than its header claims"
    );
    assert_eq!(
        reference(stored, raw.len()).as_deref(),
        Some(raw.as_slice()),
        "the block decoder accepted what the reference decodes otherwise"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((claim, stored)) = data.split_first_chunk::<4>() else {
        return;
    };
    let claim = u32::from_le_bytes(*claim);
    check(claim, stored);
    // The length the stream decodes to, found by the reference into a buffer of the bound.
    let bound = stored.len().saturating_mul(MAX_EXPANSION).min(1 << 20);
    let mut out = vec![0u8; bound];
    if let Ok(n) = lz4_flex::block::decompress_into(stored, &mut out)
        && let Ok(n) = u32::try_from(n)
        && n != claim
    {
        check(n, stored);
    }
});
