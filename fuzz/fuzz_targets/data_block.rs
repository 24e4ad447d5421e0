//! Raw bytes as the contents of a data block: decoding and seeking never panic, and a block that
//! decodes to sorted entries survives a rebuild: `build_data_block` of its entries decodes to the
//! same entries, and a seek on the rebuilt block finds what a linear search finds.

#![no_main]
#![allow(
    clippy::disallowed_types,
    reason = "fuzz_target! opens a std::fs::File for RUST_LIBFUZZER_DEBUG_PATH"
)]

use libfuzzer_sys::fuzz_target;
use strata::InternalValue;
use strata::internals::{build_data_block, decode_data_block, seek_data_block};
use strata_fuzz::{SeekInput, internal_cmp};

fn key_of(entry: &InternalValue) -> (&[u8], u64) {
    (&entry.key.user_key, entry.key.seqno)
}

fuzz_target!(|data: &[u8]| {
    let input = SeekInput::parse(data);
    let target = (input.key, input.seqno);
    let _ = seek_data_block(input.raw, input.key, input.seqno);
    let Ok(entries) = decode_data_block(input.raw) else {
        return;
    };
    let strictly_sorted = entries
        .windows(2)
        .all(|pair| internal_cmp(key_of(&pair[0]), key_of(&pair[1])).is_lt());
    if !strictly_sorted {
        return;
    }
    let parts: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e.key.user_key.to_vec(),
                e.key.seqno,
                e.key.value_type,
                e.value.to_vec(),
            )
        })
        .collect();
    let rebuilt = build_data_block(&parts, 16);
    let again = decode_data_block(&rebuilt).expect("a block built from sorted entries decodes");
    assert_eq!(again, entries, "rebuilt block decodes to other entries");

    let expected = entries
        .iter()
        .find(|e| internal_cmp(key_of(e), target).is_ge());
    let found = seek_data_block(&rebuilt, input.key, input.seqno)
        .expect("a seek in a block built from sorted entries succeeds");
    assert_eq!(
        found.as_ref(),
        expected,
        "seek disagrees with a linear search"
    );
});
