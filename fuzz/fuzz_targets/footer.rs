//! Bytes as a table footer (`docs/format.md`, section 6): the decoder never panics, and a footer
//! it accepts re-encodes to the same bytes and holds what the reader relies on.
//!
//! Input: the file length (a little-endian `u64`), then the footer's bytes (72 for a footer that
//! can be accepted). Each input is tried as is and re-sealed (the checksum over the first 56
//! bytes recomputed and the magic restored), so that mutated fields get past the checksum.
//!
//! Checks for an accepted footer: `encode_footer` gives back the input's bytes; the format
//! version is one this build reads; the index, filter and meta handles are non-empty and end
//! inside the file's body (its length less the footer); no filter means a zero filter handle
//! and no partitioned filter.

#![no_main]
#![allow(
    clippy::disallowed_types,
    reason = "fuzz_target! opens a std::fs::File for RUST_LIBFUZZER_DEBUG_PATH"
)]

use libfuzzer_sys::fuzz_target;
use strata::internals::{
    BlockHandle, FOOTER_LEN, READABLE_FORMAT_VERSIONS, decode_footer, encode_footer,
};
use strata_fuzz::MAGIC;

fn inside(handle: BlockHandle, body_end: u64) -> bool {
    handle.len > 0
        && handle
            .offset
            .checked_add(handle.len)
            .is_some_and(|end| end <= body_end)
}

fn check(bytes: &[u8], file_len: u64) {
    let Ok(footer) = decode_footer(bytes, file_len) else {
        return;
    };
    assert_eq!(
        encode_footer(&footer).as_slice(),
        bytes,
        "an accepted footer re-encodes to other bytes: {footer:?}"
    );
    assert!(
        READABLE_FORMAT_VERSIONS.contains(&footer.version),
        "{footer:?}"
    );
    let body_end = file_len - FOOTER_LEN as u64;
    assert!(inside(footer.index, body_end), "index handle: {footer:?}");
    assert!(inside(footer.meta, body_end), "meta handle: {footer:?}");
    match footer.filter {
        Some(filter) => assert!(inside(filter, body_end), "filter handle: {footer:?}"),
        None => assert!(!footer.filter_partitioned, "{footer:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((len, bytes)) = data.split_first_chunk::<8>() else {
        return;
    };
    let file_len = u64::from_le_bytes(*len);
    check(bytes, file_len);
    if bytes.len() == FOOTER_LEN {
        let mut resealed = bytes.to_vec();
        let sum = xxhash_rust::xxh3::xxh3_64(&resealed[..56]);
        resealed[56..64].copy_from_slice(&sum.to_le_bytes());
        resealed[64..72].copy_from_slice(&MAGIC);
        if resealed != bytes {
            check(&resealed, file_len);
        }
    }
});
