//! Bytes as a whole index block (header and stored bytes): the envelope decoder (checksum, type,
//! LZ4) and then the data-block decoder on the contents never panic. Each input is tried as is and
//! re-sealed, so that mutated contents get past the checksum.

#![no_main]
#![allow(
    clippy::disallowed_types,
    reason = "fuzz_target! opens a std::fs::File for RUST_LIBFUZZER_DEBUG_PATH"
)]

use libfuzzer_sys::fuzz_target;
use strata::internals::{decode_any_block, decode_data_block};
use strata_fuzz::reseal_block;

/// The on-disk value of an index block.
const INDEX: u8 = 1;

fn check(bytes: &[u8]) {
    if let Ok(raw) = decode_any_block(bytes, INDEX) {
        let _ = decode_data_block(&raw);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let resealed = reseal_block(data);
    if resealed != data {
        check(&resealed);
    }
});
