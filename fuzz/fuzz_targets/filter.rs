//! The filter decoders and builders: bytes as a filter block and as a partitioned filter's index
//! block, and a key set from the same input built into filters of both layouts and into a table.
//!
//! Input: a header byte (bits 0 to 4: bits per key, 1 to 32; bit 5: partitioned filter; bits 6
//! and 7: the prefix extractor's length, 0 for none), a key count (mod 64), then that many keys,
//! each a length byte (mod 16) and its bytes; the rest of the input is the raw bytes.
//!
//! Checks:
//! - the raw bytes as a filter (`filter_may_contain` with every key) and as a filter index
//!   (`decode_filter_index`, `seek_filter_index` with every key) never panic; an index whose
//!   entries decode in strictly increasing internal-key order seeks to the partition a linear
//!   search finds, or fails (a restart offset may point inside an entry, which decoding from the
//!   start never reads: `a_restart_inside_an_entry_makes_a_seek_fail_never_lie`), never to
//!   another partition;
//! - filters built from the keys in the classic layout (tag 1) and in the blocked one (tag 2)
//!   decode and admit every key (no false negatives);
//! - a table written from the keys (64-byte blocks, a full or a partitioned filter, a fixed-length
//!   prefix extractor or none) admits every key through its filter, every prefix the extractor
//!   yields through the prefix probe, and `get` finds every key.

#![no_main]
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    reason = "fuzz_target! opens a std::fs::File for RUST_LIBFUZZER_DEBUG_PATH; the target writes a table file"
)]

use std::cmp::Ordering;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use strata::internals::{
    TableFile, TableWriterOptions, build_filter_with_layout, decode_data_block,
    decode_filter_index, filter_may_contain, seek_filter_index, write_table,
};
use strata::{FixedPrefixExtractor, InternalValue, PrefixExtractor, SeqNo, ValueType};
use strata_fuzz::internal_cmp;

/// The seqno a point read seeks the filter index with (`Table::filter_may_contain`).
const SEEK_SEQNO: SeqNo = SeqNo::MAX >> 1;

fn check_raw(raw: &[u8], keys: &[&[u8]]) {
    for key in keys {
        let _ = filter_may_contain(raw, key);
    }
    let Ok(entries) = decode_data_block(raw) else {
        for key in keys {
            let _ = seek_filter_index(raw, key);
        }
        return;
    };
    let index = decode_filter_index(raw);
    let sorted = entries.windows(2).all(|w| {
        internal_cmp(
            (&w[0].key.user_key, w[0].key.seqno),
            (&w[1].key.user_key, w[1].key.seqno),
        ) == Ordering::Less
    });
    for key in keys {
        let found = seek_filter_index(raw, key);
        let Ok(index) = &index else {
            continue;
        };
        if !sorted {
            continue;
        }
        let expected = entries
            .iter()
            .position(|e| internal_cmp((&e.key.user_key, e.key.seqno), (key, SEEK_SEQNO)).is_ge())
            .map(|at| index[at].1);
        assert!(
            found.is_err() || found == Ok(expected),
            "filter index seek {key:?}: {found:?} against a linear search's {expected:?}"
        );
    }
}

fn check_built(keys: &[&[u8]], bits_per_key: f64) {
    for classic in [true, false] {
        let filter = build_filter_with_layout(keys, bits_per_key, classic);
        for key in keys {
            assert!(
                matches!(filter_may_contain(&filter, key), Ok(true)),
                "a built filter (classic: {classic}) misses {key:?}"
            );
        }
    }
}

fn check_table(keys: &[&[u8]], bits_per_key: f64, partitioned: bool, prefix_len: usize) {
    let mut sorted: Vec<&[u8]> = keys.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.is_empty() {
        return;
    }
    let extractor = (prefix_len > 0).then(|| FixedPrefixExtractor::new(prefix_len));
    let options = TableWriterOptions {
        block_size: 64,
        restart_interval: 2,
        filter_bits_per_key: Some(bits_per_key),
        filter_partitioned: partitioned,
        prefix_extractor: extractor
            .clone()
            .map(|e| Arc::new(e) as Arc<dyn PrefixExtractor>),
        ..TableWriterOptions::default()
    };
    let path = std::env::temp_dir().join(format!("strata-fuzz-filter-{}.sst", std::process::id()));
    let entries = sorted
        .iter()
        .map(|k| InternalValue::from_components(*k, *k, 1, ValueType::Value));
    write_table(&path, entries, &options).expect("writing a table of sorted keys");
    let table = TableFile::open(&path, 1 << 20).expect("opening a table just written");
    for key in &sorted {
        assert!(
            table
                .filter_may_contain(key)
                .expect("reading an intact filter"),
            "the table's filter misses {key:?} (partitioned: {partitioned})"
        );
        let found = table.get(key, SeqNo::MAX).expect("reading an intact table");
        assert_eq!(
            found.map(|e| e.key.user_key.to_vec()),
            Some(key.to_vec()),
            "get {key:?}"
        );
        if let Some(extractor) = &extractor {
            for prefix in extractor.prefixes(key) {
                assert!(
                    table
                        .filter_may_contain_prefix(prefix)
                        .expect("reading an intact filter"),
                    "the table's filter misses prefix {prefix:?} of {key:?} (partitioned: {partitioned})"
                );
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}

fuzz_target!(|data: &[u8]| {
    let Some((&header, rest)) = data.split_first() else {
        return;
    };
    let Some((&count, mut rest)) = rest.split_first() else {
        return;
    };
    let mut keys = Vec::new();
    for _ in 0..count % 64 {
        let Some((&len, tail)) = rest.split_first() else {
            break;
        };
        let (key, tail) = tail.split_at(usize::from(len % 16).min(tail.len()));
        keys.push(key);
        rest = tail;
    }
    let bits_per_key = f64::from(1 + header % 32);
    let partitioned = header & 0x20 != 0;
    let prefix_len = usize::from(header >> 6);
    check_raw(rest, &keys);
    check_built(&keys, bits_per_key);
    check_table(&keys, bits_per_key, partitioned, prefix_len);
});
