//! Bytes as the raw contents of a table's meta block (`docs/format.md`, section 5): the decoder
//! never panics, and a meta block it accepts holds only what the reader may rely on and
//! re-encodes to the same bytes.
//!
//! Input: a format-version byte (1 + byte mod 3: 1, 2 or 3), the file length (a little-endian
//! `u64`), then the meta block's raw contents.
//!
//! Checks for an accepted meta block (`decode_meta`):
//! - the bounds the reader requires: `seqno_min <= kv_seqno_max <= seqno_max <= MAX_SEQNO` (with
//!   entries), range-tombstone seqnos inside `[seqno_min, seqno_max]`, tombstones and weak
//!   tombstones together at most the entries, reclaimable weak tombstones at most the weak ones,
//!   at least one data block per entry-holding table and no more than the file has headers for,
//!   entries no more than the file can hold (its length × 32768 / 5 at most: zstd's expansion
//!   over the smallest entry), a range-tombstone block inside the file's body exactly when there are range
//!   tombstones, and no zero dictionary id in format 1;
//! - formats 2 and 3: `encode_meta` gives back the input's bytes, or, for an input with an
//!   overlong length varint (which the decoder accepts and the encoder never writes), shorter
//!   bytes that decode to the same meta;
//! - format 1: the meta block re-encoded in the later layout decodes to the same meta.

#![no_main]
#![allow(
    clippy::disallowed_types,
    reason = "fuzz_target! opens a std::fs::File for RUST_LIBFUZZER_DEBUG_PATH"
)]

use libfuzzer_sys::fuzz_target;
use strata::MAX_SEQNO;
use strata::internals::{FOOTER_LEN, TableMeta, decode_meta, encode_meta};

/// zstd's largest expansion (raw bytes per stored byte), the most any table may claim.
const MAX_EXPANSION: u128 = 32_768;

/// The fewest raw bytes an entry takes.
const MIN_ENTRY_LEN: u128 = 5;

/// The length of a block header: a data block takes at least one.
const BLOCK_HEADER_LEN: u64 = 18;

fn check_bounds(meta: &TableMeta, file_len: u64, version: u32) {
    assert!(meta.seqno_max <= MAX_SEQNO, "{meta:?}");
    assert!(meta.seqno_min <= meta.seqno_max, "{meta:?}");
    let deletes = u128::from(meta.tombstone_count) + u128::from(meta.weak_tombstone_count);
    assert!(deletes <= u128::from(meta.entry_count), "{meta:?}");
    assert!(
        meta.weak_tombstone_reclaimable <= meta.weak_tombstone_count,
        "{meta:?}"
    );
    assert!(
        u128::from(meta.entry_count) <= u128::from(file_len) * MAX_EXPANSION / MIN_ENTRY_LEN,
        "{meta:?}"
    );
    if meta.entry_count > 0 {
        assert!(
            meta.kv_seqno_max >= meta.seqno_min && meta.kv_seqno_max <= meta.seqno_max,
            "{meta:?}"
        );
        assert!(
            meta.data_block_count > 0
                && meta.data_block_count <= meta.entry_count
                && meta.data_block_count <= file_len / BLOCK_HEADER_LEN,
            "{meta:?}"
        );
    } else {
        assert_eq!(meta.data_block_count, 0, "{meta:?}");
        assert!(meta.range_tombstone_count > 0, "an empty table: {meta:?}");
    }
    let (rt_min, rt_max) = meta.range_tombstone_seqnos;
    match meta.range_tombstone_block {
        Some(block) => {
            assert!(meta.range_tombstone_count > 0, "{meta:?}");
            assert!(
                rt_min <= rt_max && rt_min >= meta.seqno_min && rt_max <= meta.seqno_max,
                "{meta:?}"
            );
            let body_end = file_len.saturating_sub(FOOTER_LEN as u64);
            assert!(
                block.len > 0
                    && block
                        .offset
                        .checked_add(block.len)
                        .is_some_and(|end| end <= body_end),
                "{meta:?}"
            );
        }
        None => {
            assert_eq!(meta.range_tombstone_count, 0, "{meta:?}");
            assert_eq!((rt_min, rt_max), (0, 0), "{meta:?}");
            assert!(!meta.max_key_exclusive, "{meta:?}");
        }
    }
    if version == 1 {
        assert_eq!(meta.kv_seqno_max, meta.seqno_max, "{meta:?}");
        assert!(meta.range_tombstone_block.is_none(), "{meta:?}");
    }
    assert!(
        meta.prefix_extractor.as_ref().is_none_or(|n| !n.is_empty()),
        "{meta:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&version, rest)) = data.split_first() else {
        return;
    };
    let Some((len, raw)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let version = 1 + u32::from(version % 3);
    let file_len = u64::from_le_bytes(*len);
    let Ok(meta) = decode_meta(raw, file_len, version) else {
        return;
    };
    check_bounds(&meta, file_len, version);
    let encoded = encode_meta(&meta);
    if version >= 2 {
        // NB: the decoder accepts a length varint with redundant continuation bytes (`0x90 0x00`
        // for 16), which the encoder never writes: such an input re-encodes shorter. The
        // re-encoding then decodes to the same meta; of the same length, it is the same bytes.
        assert_eq!(
            decode_meta(&encoded, file_len, version).as_ref(),
            Ok(&meta),
            "an accepted meta re-encoded"
        );
        assert!(
            encoded.len() <= raw.len(),
            "an accepted meta re-encodes longer: {meta:?}"
        );
        if encoded.len() == raw.len() {
            assert_eq!(
                encoded, raw,
                "an accepted meta re-encodes to other bytes: {meta:?}"
            );
        }
    } else {
        assert_eq!(
            decode_meta(&encoded, file_len, 2).as_ref(),
            Ok(&meta),
            "a format-1 meta re-encoded in the later layout"
        );
    }
});
