//! Hostile zstd frames as the stored bytes of a data block (strata feature `zstd`): the block
//! decoder never panics and never allocates more than the frame's own headers back, and whatever
//! it accepts has exactly the length the header claims.
//!
//! Input: one selector byte (bit 0: compression byte 3, a dictionary block read with a fixed
//! dictionary, else 2), a 4-byte little-endian `raw_len` claim, then the stored bytes (a zstd
//! frame, or anything). The block is sealed with a valid checksum so that every input reaches the
//! zstd decoder. A second pass prefixes the zstd magic, so that mutations of the frame header
//! are explored from the first input on.

#![no_main]
#![allow(
    clippy::disallowed_types,
    reason = "fuzz_target! opens a std::fs::File for RUST_LIBFUZZER_DEBUG_PATH"
)]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use strata::ZstdDictionary;
use strata::internals::decode_block_with_dictionary;
use strata_fuzz::reseal_block;

/// A raw-content dictionary, the same for every run.
static DICTIONARY: LazyLock<ZstdDictionary> =
    LazyLock::new(|| ZstdDictionary::new(&b"{\"id\":0,\"name\":\"\",\"plan\":\"free\"}".repeat(8)));

/// The zstd frame magic, little-endian.
const MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

fn check(compression: u8, claim: [u8; 4], stored: &[u8]) {
    let mut block = vec![0u8, compression, 0, 0, 0, 0];
    block.extend_from_slice(&claim);
    block.extend_from_slice(&[0; 8]);
    block.extend_from_slice(stored);
    let block = reseal_block(&block);
    let dictionary = (compression == 3).then(|| &*DICTIONARY);
    if let Ok(raw) = decode_block_with_dictionary(&block, 0, dictionary) {
        assert_eq!(
            raw.len() as u64,
            u64::from(u32::from_le_bytes(claim)),
            "a block decoded to another length than its header claims"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Some((claim, stored)) = rest.split_first_chunk::<4>() else {
        return;
    };
    let compression = if selector & 1 == 1 { 3 } else { 2 };
    check(compression, *claim, stored);
    let mut framed = MAGIC.to_vec();
    framed.extend_from_slice(stored);
    check(compression, *claim, &framed);
});
