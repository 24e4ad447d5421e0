//! The bloom filter of a table: lets a point read skip a table that cannot hold its key without
//! touching the table's index or data blocks.
//!
//! Where it sits: the table writer feeds every user key's [`key_hash`] to a
//! [`FilterBuilder`] and stores [`FilterBuilder::finish`]'s bytes as the table's filter block; the
//! table reader wraps those bytes in a [`FilterReader`]. A point read computes [`key_hash`] once
//! and asks every candidate table's filter with the same 64-bit hash, so the key is hashed once per
//! lookup, not once per table.
//!
//! Byte layout (all integers little-endian; see `docs/format.md`):
//!
//! ```text
//! offset        size  field
//! 0             n     bit array: bit i is byte i / 8, mask 1 << (i % 8); n = 0 for no keys
//! n             1     probe count k, 1..=30
//! n + 1         4     n as u32 LE, must equal the encoding's length minus 6 (at most 2^29)
//! n + 5         1     format tag: 1 = classic bloom, 2 = blocked bloom (on-disk values: never
//!                     renumber)
//! ```
//!
//! Tag 2, *blocked* (what this build writes): the bit array is a sequence of 64-byte blocks
//! (`n` a multiple of 64), each the size of a cache line. The hash's high 32 bits pick the block
//! by the multiply-shift `(high * blocks) >> 32`; its low 32 bits `x` give the k bit positions in
//! that block: the top 9 bits of `x`, then of `x * 0x9E3779B9`, of `x * 0x9E3779B9²`, ...
//! (wrapping u32 multiplication), each in `0..512`. A probe touches one block: at most two cache
//! lines, against up to k for the classic layout, for a slightly higher false-positive rate
//! (about 1.2% against 1.0% at 10 bits per key).
//!
//! Tag 1, *classic* (written by format versions 1 and 2, still read): the hash's low 32 bits `a`
//! and high 32 bits `b` give k values by double hashing (`a, a + b, a + 2b, ...`, wrapping u32
//! arithmetic), each mapped onto `0..8n` by the multiply-shift `(value * 8n) >> 32`.
//!
//! The hash is never recomputed: the same 64-bit hash serves every table of a lookup.
//!
//! Invariants: an encoding holds no bits outside its stated length; an empty bit array matches
//! nothing; every key added answers `true` (no false negatives). The decoder checks every field
//! and never trusts the length field for an allocation (it allocates nothing) or an index.
//! Thread safety: [`FilterReader`] is an immutable view, `Send + Sync`; [`FilterBuilder`] is owned
//! by one writer.

#![deny(clippy::indexing_slicing)]

use std::cmp::Ordering;
use std::fmt;

/// Format tag of the classic bloom layout. On-disk value: never renumber.
const FORMAT_TAG_CLASSIC: u8 = 1;
/// Format tag of the blocked (cache-line) bloom layout. On-disk value: never renumber.
const FORMAT_TAG_BLOCKED: u8 = 2;
/// Bytes per block of the blocked layout: one cache line.
const BLOCK_BYTES: u32 = 64;
/// The odd multiplier that steps a blocked probe to the next bit position.
const BLOCKED_STEP: u32 = 0x9E37_79B9;
/// Bytes after the bit array: probe count (1), bit-array length (4), format tag (1).
const TRAILER_LEN: usize = 6;
const MIN_PROBES: u8 = 1;
const MAX_PROBES: u8 = 30;
/// The smallest bit array of a non-empty filter: below this, tiny tables get poor filters.
const MIN_BITS: u64 = 64;
/// The largest bit array, in bytes: keeps `8n <= 2^32`, so the multiply-shift fits in a u64.
const MAX_BIT_ARRAY_LEN: u32 = 1 << 29;
/// Used when a caller passes NaN for bits per key or false-positive rate.
const DEFAULT_BITS_PER_KEY: f64 = 10.0;
const MIN_BITS_PER_KEY: f64 = 1.0;
const MAX_BITS_PER_KEY: f64 = 64.0;
const MIN_FPR: f64 = 1e-9;
const MAX_FPR: f64 = 0.5;

/// The 64-bit hash a filter stores for `key` (xxh3-64, seed 0). Part of the on-disk format.
pub(crate) fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// Bits per key that give a classic bloom filter the false-positive rate `fpr` with the best
/// probe count: `-ln(fpr) / ln(2)^2`. `fpr` is clamped to `[1e-9, 0.5]`; NaN gives the default
/// of 10 bits per key.
pub(crate) fn bits_per_key_for_fpr(fpr: f64) -> f64 {
    if fpr.is_nan() {
        return DEFAULT_BITS_PER_KEY;
    }
    let fpr = fpr.clamp(MIN_FPR, MAX_FPR);
    -fpr.ln() / (std::f64::consts::LN_2 * std::f64::consts::LN_2)
}

/// Probe count for a bits-per-key budget: `round(bits_per_key * ln 2)` in `1..=30`.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "the value is rounded and clamped to 1..=30 first"
)]
fn probes_for_bits_per_key(bits_per_key: f64) -> u8 {
    (bits_per_key * std::f64::consts::LN_2)
        .round()
        .clamp(f64::from(MIN_PROBES), f64::from(MAX_PROBES)) as u8
}

/// The bit positions, each in `0..bit_count`, that `hash` sets or tests.
/// `bit_count` must be at most 2^32 (the product below then fits in a u64).
#[expect(
    clippy::cast_possible_truncation,
    reason = "taking the hash's low 32 bits is the point"
)]
fn probe_positions(hash: u64, num_probes: u8, bit_count: u64) -> impl Iterator<Item = u64> {
    let mut a = hash as u32;
    let b = (hash >> 32) as u32;
    (0..num_probes).map(move |_| {
        let position = (u64::from(a) * bit_count) >> 32;
        a = a.wrapping_add(b);
        position
    })
}

/// Hashes per chunk of [`FilterBuilder`]'s list: 64 KiB, under glibc's initial mmap threshold
/// (128 KiB). One growing `Vec` reached 8 MiB for a 64 MiB table; freed, a chunk that large
/// raises glibc's mmap threshold to its size (and the trim threshold to twice that), after which
/// the flush and compaction threads' heaps kept about 25 MiB free and resident for good (5M
/// entries, measured with `malloc_stats`). Chunks of one size are also reused table after table.
const HASH_CHUNK: usize = 8 * 1024;

/// Collects key hashes for one table, then writes the filter's bytes.
#[derive(Debug)]
pub(crate) struct FilterBuilder {
    bits_per_key: f64,
    num_probes: u8,
    /// The hashes, in chunks of at most [`HASH_CHUNK`].
    hashes: Vec<Vec<u64>>,
    /// The number of hashes.
    count: usize,
    /// Whether to write the classic layout (tag 1) instead of the blocked one (tag 2).
    classic: bool,
}

/// The bit positions, each in `0..512`, that `hash` sets or tests in its block of the blocked
/// layout.
#[expect(
    clippy::cast_possible_truncation,
    reason = "taking the hash's low 32 bits is the point"
)]
fn blocked_positions(hash: u64, num_probes: u8) -> impl Iterator<Item = u32> {
    let mut x = hash as u32;
    (0..num_probes).map(move |_| {
        let position = x >> 23;
        x = x.wrapping_mul(BLOCKED_STEP);
        position
    })
}

/// The block of the blocked layout that `hash` falls in, of `blocks`.
fn blocked_block(hash: u64, blocks: u64) -> u64 {
    ((hash >> 32) * blocks) >> 32
}

impl FilterBuilder {
    /// A builder spending `bits_per_key` bits per added hash (clamped to `[1, 64]`; NaN gives 10).
    pub(crate) fn new(bits_per_key: f64) -> Self {
        let bits_per_key = if bits_per_key.is_nan() {
            DEFAULT_BITS_PER_KEY
        } else {
            bits_per_key.clamp(MIN_BITS_PER_KEY, MAX_BITS_PER_KEY)
        };
        Self {
            bits_per_key,
            num_probes: probes_for_bits_per_key(bits_per_key),
            hashes: Vec::new(),
            count: 0,
            classic: false,
        }
    }

    /// The same builder writing the classic layout (tag 1) of format versions 1 and 2.
    #[cfg(any(test, feature = "internals"))]
    pub(crate) fn classic(mut self) -> Self {
        self.classic = true;
        self
    }

    /// A builder sized for the false-positive rate `fpr` (see [`bits_per_key_for_fpr`]).
    #[cfg(test)]
    pub(crate) fn with_false_positive_rate(fpr: f64) -> Self {
        Self::new(bits_per_key_for_fpr(fpr))
    }

    /// Adds one key's [`key_hash`]. A hash equal to the previous one is skipped: the table writer
    /// sees every version of a user key in a row, and they share one hash.
    pub(crate) fn add_hash(&mut self, hash: u64) {
        let last = self.hashes.last_mut();
        if last.as_ref().and_then(|chunk| chunk.last()) == Some(&hash) {
            return;
        }
        match last {
            Some(chunk) if chunk.len() < HASH_CHUNK => chunk.push(hash),
            _ => {
                let mut chunk = Vec::with_capacity(HASH_CHUNK);
                chunk.push(hash);
                self.hashes.push(chunk);
            }
        }
        self.count += 1;
    }

    /// Writes the filter in the layout of the module header. With no hashes added, the bit array
    /// is empty and the filter matches nothing.
    pub(crate) fn finish(self) -> Vec<u8> {
        let bit_array_len = self.bit_array_len();
        let bit_count = u64::from(bit_array_len) * 8;
        let mut out = vec![0u8; to_usize(bit_count / 8)];
        out.reserve_exact(TRAILER_LEN);
        let blocks = u64::from(bit_array_len / BLOCK_BYTES);
        for &hash in self.hashes.iter().flatten() {
            // NB: a position is below `bit_count`, so the byte exists; `get_mut` keeps this
            // free of indexing all the same.
            let mut set = |position: u64| {
                if let Some(byte) = out.get_mut(to_usize(position / 8)) {
                    *byte |= 1 << (position % 8);
                }
            };
            if self.classic {
                probe_positions(hash, self.num_probes, bit_count).for_each(&mut set);
            } else {
                let base = blocked_block(hash, blocks) * u64::from(BLOCK_BYTES) * 8;
                for position in blocked_positions(hash, self.num_probes) {
                    set(base + u64::from(position));
                }
            }
        }
        out.push(self.num_probes);
        out.extend_from_slice(&bit_array_len.to_le_bytes());
        out.push(if self.classic {
            FORMAT_TAG_CLASSIC
        } else {
            FORMAT_TAG_BLOCKED
        });
        out
    }

    /// Bytes of bit array: `ceil(keys * bits_per_key)` bits, at least 64, rounded up to whole
    /// bytes and capped at [`MAX_BIT_ARRAY_LEN`].
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "key counts are far below 2^52; the float is positive and the cast saturates"
    )]
    fn bit_array_len(&self) -> u32 {
        if self.count == 0 {
            return 0;
        }
        let bits = ((self.count as f64) * self.bits_per_key).ceil() as u64;
        let mut bytes = bits.max(MIN_BITS).div_ceil(8);
        if !self.classic {
            bytes = bytes.next_multiple_of(u64::from(BLOCK_BYTES));
        }
        // NB: past 2^29 bytes (about 430 million keys at 10 bits) the filter stops growing and
        // its false-positive rate rises; it stays correct. 2^29 is a multiple of 64.
        u32::try_from(bytes).map_or(MAX_BIT_ARRAY_LEN, |b| b.min(MAX_BIT_ARRAY_LEN))
    }
}

/// What was wrong with a filter's bytes. The table reader lifts it into `Error::Corruption` with
/// the file and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FilterDecodeError {
    /// Fewer bytes than the trailer or the stated bit-array length need.
    Truncated,
    /// A field holds a value this format does not allow; names the field.
    InvalidField(&'static str),
}

impl fmt::Display for FilterDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("filter is truncated"),
            Self::InvalidField(field) => write!(f, "filter has an invalid {field}"),
        }
    }
}

impl std::error::Error for FilterDecodeError {}

/// A decoded filter: a view of the encoded bytes, checked once at construction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FilterReader<'a> {
    bits: &'a [u8],
    bit_count: u64,
    num_probes: u8,
    /// The classic layout (tag 1) rather than the blocked one (tag 2).
    classic: bool,
}

impl<'a> FilterReader<'a> {
    /// Checks `encoded` against the layout of the module header.
    pub(crate) fn new(encoded: &'a [u8]) -> Result<Self, FilterDecodeError> {
        let (bits, trailer) = encoded
            .split_last_chunk::<TRAILER_LEN>()
            .ok_or(FilterDecodeError::Truncated)?;
        let &[num_probes, l0, l1, l2, l3, tag] = trailer;
        let classic = match tag {
            FORMAT_TAG_CLASSIC => true,
            FORMAT_TAG_BLOCKED => false,
            _ => return Err(FilterDecodeError::InvalidField("format tag")),
        };
        if !(MIN_PROBES..=MAX_PROBES).contains(&num_probes) {
            return Err(FilterDecodeError::InvalidField("probe count"));
        }
        let bit_array_len = u32::from_le_bytes([l0, l1, l2, l3]);
        if bit_array_len > MAX_BIT_ARRAY_LEN {
            return Err(FilterDecodeError::InvalidField("bit-array length"));
        }
        match to_usize(bit_array_len.into()).cmp(&bits.len()) {
            Ordering::Greater => return Err(FilterDecodeError::Truncated),
            Ordering::Less => return Err(FilterDecodeError::InvalidField("bit-array length")),
            Ordering::Equal => {}
        }
        if !classic && !bit_array_len.is_multiple_of(BLOCK_BYTES) {
            return Err(FilterDecodeError::InvalidField("bit-array length"));
        }
        Ok(Self {
            bits,
            bit_count: u64::from(bit_array_len) * 8,
            num_probes,
            classic,
        })
    }

    /// `false` if no key with this [`key_hash`] was added; `true` if one may have been.
    pub(crate) fn may_contain_hash(&self, hash: u64) -> bool {
        if self.bit_count == 0 {
            return false;
        }
        if self.classic {
            return probe_positions(hash, self.num_probes, self.bit_count).all(|position| {
                self.bits
                    .get(to_usize(position / 8))
                    .is_some_and(|byte| byte & (1 << (position % 8)) != 0)
            });
        }
        let block_bytes = to_usize(u64::from(BLOCK_BYTES));
        let at = to_usize(blocked_block(hash, self.bit_count / 512)) * block_bytes;
        // NB: the block lies inside the bit array (`n` is a multiple of 64, checked at
        // construction); a miss of `get` would only make the filter admit everything.
        let Some(block) = self.bits.get(at..at + block_bytes) else {
            return true;
        };
        blocked_positions(hash, self.num_probes).all(|position| {
            block
                .get((position / 8) as usize)
                .is_some_and(|byte| byte & (1 << (position % 8)) != 0)
        })
    }
}

/// Callers pass values below 2^30, which fit a usize on every target the engine supports; an
/// impossible overflow saturates, and the `get` that follows then misses instead of panicking.
fn to_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn build(keys: impl IntoIterator<Item = Vec<u8>>, mut builder: FilterBuilder) -> Vec<u8> {
        for key in keys {
            builder.add_hash(key_hash(&key));
        }
        builder.finish()
    }

    fn present(i: u32) -> Vec<u8> {
        format!("key-{i:08}").into_bytes()
    }

    /// Share of 100,000 keys never added that the filter claims to hold.
    fn measured_fpr(encoded: &[u8]) -> f64 {
        let reader = FilterReader::new(encoded).expect("decodes");
        let absent = 100_000;
        let hits = (0..absent)
            .filter(|i| reader.may_contain_hash(key_hash(format!("absent-{i:08}").as_bytes())))
            .count();
        hits as f64 / f64::from(absent)
    }

    #[test]
    fn every_added_key_of_10_000_is_found() {
        let encoded = build((0..10_000).map(present), FilterBuilder::new(10.0));
        let reader = FilterReader::new(&encoded).expect("decodes");
        assert!((0..10_000).all(|i| reader.may_contain_hash(key_hash(&present(i)))));
    }

    #[test]
    fn false_positive_rate_at_10_bits_per_key_is_below_1_5_percent() {
        let fpr = measured_fpr(&build((0..10_000).map(present), FilterBuilder::new(10.0)));
        println!("false-positive rate at 10 bits/key: {:.4}%", fpr * 100.0);
        assert!(fpr > 0.0 && fpr < 0.015, "false-positive rate {fpr}");
    }

    #[test]
    fn false_positive_rate_target_is_met_within_2x() {
        for target in [0.05, 0.01, 0.001] {
            let builder = FilterBuilder::with_false_positive_rate(target);
            let fpr = measured_fpr(&build((0..10_000).map(present), builder));
            println!("target {target}: measured {fpr}");
            assert!(
                (target / 2.0..=target * 2.0).contains(&fpr),
                "{target}: {fpr}"
            );
        }
    }

    #[test]
    fn bits_per_key_and_probe_count_follow_the_formulas_and_clamp() {
        let (bpk, same) = (bits_per_key_for_fpr, |a: f64, b: f64| {
            a.to_bits() == b.to_bits()
        });
        assert!((bpk(0.01) - 9.585).abs() < 0.001);
        assert!(same(bpk(0.0), bpk(MIN_FPR)) && same(bpk(1.0), bpk(MAX_FPR)));
        assert!(same(bpk(f64::NAN), DEFAULT_BITS_PER_KEY));
        for (bits_per_key, k) in [(10.0, 7), (1.0, 1), (0.0, 1), (64.0, 30), (f64::NAN, 7)] {
            // An empty filter is just the trailer, which starts with the probe count.
            assert_eq!(
                FilterBuilder::new(bits_per_key).finish()[0],
                k,
                "{bits_per_key}"
            );
        }
    }

    #[test]
    fn empty_filter_decodes_and_matches_nothing() {
        let encoded = FilterBuilder::new(10.0).finish();
        assert_eq!(encoded, [7, 0, 0, 0, 0, FORMAT_TAG_BLOCKED]);
        let classic = FilterBuilder::new(10.0).classic().finish();
        assert_eq!(classic, [7, 0, 0, 0, 0, FORMAT_TAG_CLASSIC]);
        assert!(
            !FilterReader::new(&classic)
                .expect("decodes")
                .may_contain_hash(7)
        );
        let reader = FilterReader::new(&encoded).expect("decodes");
        assert!((0..1_000).all(|i| !reader.may_contain_hash(key_hash(&present(i)))));
        assert!(!reader.may_contain_hash(0) && !reader.may_contain_hash(u64::MAX));
    }

    #[test]
    fn hashes_over_several_chunks_all_land_and_a_repeat_across_a_boundary_counts_once() {
        let n = u32::try_from(3 * HASH_CHUNK + 5).unwrap();
        let mut builder = FilterBuilder::new(10.0);
        for i in 0..n {
            builder.add_hash(key_hash(&present(i)));
            if i == u32::try_from(HASH_CHUNK).unwrap() - 1 {
                // The last hash of a full chunk, added again: skipped, not a new chunk.
                builder.add_hash(key_hash(&present(i)));
            }
        }
        assert_eq!(builder.count, 3 * HASH_CHUNK + 5);
        assert_eq!(builder.hashes.len(), 4);
        assert!(builder.hashes.iter().all(|c| c.len() <= HASH_CHUNK));
        let encoded = builder.finish();
        let reader = FilterReader::new(&encoded).expect("decodes");
        assert!((0..n).all(|i| reader.may_contain_hash(key_hash(&present(i)))));
        assert!(measured_fpr(&encoded) < 0.015);
    }

    #[test]
    fn repeated_consecutive_hashes_are_stored_once() {
        let repeated = |n| build(vec![b"a".to_vec(); n], FilterBuilder::new(10.0));
        assert_eq!(repeated(1), repeated(100));
    }

    #[test]
    fn golden_bytes_pin_the_format() {
        let keys = [b"apple".to_vec(), b"banana".to_vec(), b"cherry".to_vec()];
        // 3 keys * 10 bits is below the 64-bit minimum: 8 bytes of bits, k = 7, length 8, tag 1.
        // The bit bytes were checked against an independent script of the header's probe rule.
        let bits = [0x33, 0x69, 0x00, 0x16, 0x40, 0x20, 0x09, 0x48];
        assert_eq!(
            build(keys, FilterBuilder::new(10.0).classic()),
            [&bits[..], &[7, 8, 0, 0, 0, 1]].concat()
        );
    }

    #[test]
    fn golden_bytes_pin_the_blocked_format() {
        let keys = [b"apple".to_vec(), b"banana".to_vec(), b"cherry".to_vec()];
        // One 64-byte block (the minimum), k = 7, length 64, tag 2. The bit bytes come from an
        // independent script of the header's probe rule (Python, the `xxhash` package).
        let mut bits = [0u8; 64];
        for (at, byte) in [
            (2, 0x01),
            (15, 0x19),
            (16, 0x02),
            (23, 0x10),
            (24, 0x01),
            (25, 0x81),
            (31, 0x40),
            (36, 0x04),
            (37, 0x20),
            (40, 0x02),
            (41, 0xa0),
            (44, 0x10),
            (51, 0x40),
            (52, 0x80),
            (56, 0x80),
            (59, 0x24),
        ] {
            bits[at] = byte;
        }
        assert_eq!(
            build(keys, FilterBuilder::new(10.0)),
            [&bits[..], &[7, 64, 0, 0, 0, 2]].concat()
        );
        // Two blocks: the block choice by the high half of the hash, pinned by the same script
        // through the xxh3 of the whole encoding (154 bits set in the first block, 194 in the
        // second).
        let encoded = build((0..60).map(present), FilterBuilder::new(10.0));
        assert_eq!(encoded.len(), 128 + TRAILER_LEN);
        let ones =
            |r: std::ops::Range<usize>| -> u32 { encoded[r].iter().map(|b| b.count_ones()).sum() };
        assert_eq!((ones(0..64), ones(64..128)), (154, 194));
        assert_eq!(key_hash(&encoded), 0xbc67_bd52_fa8b_0789);
    }

    #[test]
    fn classic_filters_of_older_tables_still_answer() {
        let encoded = build((0..2_000).map(present), FilterBuilder::new(10.0).classic());
        let reader = FilterReader::new(&encoded).expect("decodes");
        assert!((0..2_000).all(|i| reader.may_contain_hash(key_hash(&present(i)))));
        let fpr = measured_fpr(&encoded);
        assert!(
            fpr > 0.0 && fpr < 0.015,
            "classic false-positive rate {fpr}"
        );
    }

    #[test]
    fn a_blocked_length_off_the_block_size_is_corruption() {
        let trailer = [&[7u8][..], &65u32.to_le_bytes(), &[FORMAT_TAG_BLOCKED]].concat();
        let encoded = [vec![0xff; 65], trailer].concat();
        assert_eq!(
            FilterReader::new(&encoded).unwrap_err(),
            FilterDecodeError::InvalidField("bit-array length")
        );
    }

    #[test]
    fn every_truncation_of_a_real_filter_is_an_error() {
        let encoded = build((0..50).map(present), FilterBuilder::new(10.0));
        assert!((0..encoded.len()).all(|len| FilterReader::new(&encoded[..len]).is_err()));
        let extended = [&[0], encoded.as_slice()].concat();
        assert!(FilterReader::new(&extended).is_err(), "one byte too many");
    }

    #[test]
    fn every_bit_flip_of_a_real_filter_decodes_or_fails_without_panic() {
        let encoded = build((0..50).map(present), FilterBuilder::new(10.0));
        let probe_byte = encoded.len() - TRAILER_LEN;
        for (byte, bit) in (0..encoded.len()).flat_map(|byte| (0..8).map(move |bit| (byte, bit))) {
            let mut flipped = encoded.clone();
            flipped[byte] ^= 1 << bit;
            let decoded = FilterReader::new(&flipped);
            match byte.cmp(&probe_byte) {
                // The table's block checksum, not the filter format, guards the bits.
                Ordering::Less => {
                    let reader = decoded.expect("a flipped bit-array bit still decodes");
                    let found = (0..50).filter(|&i| reader.may_contain_hash(key_hash(&present(i))));
                    assert!(found.count() >= 40, "one cleared bit hid most keys");
                }
                // A flipped probe count decodes if it stays in 1..=30.
                Ordering::Equal => match decoded {
                    Ok(reader) => assert_ne!(reader.num_probes, encoded[byte]),
                    Err(e) => assert_eq!(e, FilterDecodeError::InvalidField("probe count")),
                },
                Ordering::Greater => assert!(decoded.is_err(), "bit {bit} of byte {byte}"),
            }
        }
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in vec(any::<u8>(), 0..200)) {
            let well_formed = bytes.len() >= TRAILER_LEN && {
                let t = &bytes[bytes.len() - TRAILER_LEN..];
                let len = u32::from_le_bytes([t[1], t[2], t[3], t[4]]) as usize;
                (1..=30).contains(&t[0])
                    && (t[5] == FORMAT_TAG_CLASSIC || (t[5] == FORMAT_TAG_BLOCKED && len.is_multiple_of(64)))
                    && len == bytes.len() - 6
            };
            prop_assert_eq!(FilterReader::new(&bytes).is_ok(), well_formed);
        }

        #[test]
        fn every_probe_of_any_valid_filter_stays_inside_its_bit_array(
            len in 1u32..200, num_probes in 1u8..=30, hash in any::<u64>(),
        ) {
            // A probe past the end would read as an unset bit, so all-ones filters would miss.
            for (tag, len) in [(FORMAT_TAG_CLASSIC, len), (FORMAT_TAG_BLOCKED, len * 64)] {
                let trailer = [&[num_probes][..], &len.to_le_bytes(), &[tag]].concat();
                let ones = [vec![0xff; len as usize], trailer.clone()].concat();
                let zeros = [vec![0; len as usize], trailer].concat();
                prop_assert!(FilterReader::new(&ones).expect("valid").may_contain_hash(hash));
                prop_assert!(!FilterReader::new(&zeros).expect("valid").may_contain_hash(hash));
            }
        }

        #[test]
        fn added_keys_are_always_found(
            keys in vec(vec(any::<u8>(), 0..24), 0..300),
            bits_per_key in 1.0f64..30.0,
        ) {
            for builder in [FilterBuilder::new(bits_per_key), FilterBuilder::new(bits_per_key).classic()] {
                let encoded = build(keys.clone(), builder);
                let reader = FilterReader::new(&encoded).expect("decodes");
                for key in &keys {
                    prop_assert!(reader.may_contain_hash(key_hash(key)));
                }
            }
        }
    }
}
