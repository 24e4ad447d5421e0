//! Bytes as the raw contents of a range-tombstone block, and the same bytes as a list of range
//! tombstones to fragment.
//!
//! 1. `decode_range_tombstones` never panics, and accepts exactly the blocks that a reference
//!    parser written here from the encoder (`FragList::encode`) accepts, with the same fragment
//!    count. For an accepted block, the list built again from its fragments re-encodes to a
//!    block that decodes to that list's count, and its covers equal the naive maximum over the
//!    fragments' (start, end, seqno) triples.
//! 2. The input read as tombstones (see [`parse_tombstones`]): `RangeTombstoneList::build`
//!    encodes to a block that decodes to `len()` fragments, the reference parser rebuilds the
//!    very same bytes from it, and `cover` equals the naive maximum for every key and read
//!    seqno at which the answer can change.
//!
//! Run with `-malloc_limit_mb=512`: keys are stored whole (a start equal to the previous end
//! is not stored again), so a block decodes to at most its own size in key bytes, and the limit
//! would catch a blow-up.

#![no_main]
#![allow(
    clippy::disallowed_types,
    reason = "fuzz_target! opens a std::fs::File for RUST_LIBFUZZER_DEBUG_PATH"
)]

use libfuzzer_sys::fuzz_target;
use strata::internals::{RangeTombstoneList, decode_range_tombstones};
use strata::{MAX_SEQNO, SeqNo};

/// At most this many tombstones from one input: the naive oracle is quadratic in them.
const MAX_TOMBSTONES: usize = 32;

/// A range tombstone as the oracle sees it: `[start, end)` below `seqno`.
#[derive(Clone, Debug)]
struct Tombstone {
    start: Vec<u8>,
    end: Vec<u8>,
    seqno: SeqNo,
}

/// One fragment of a range-tombstone block: `[start, end)` and its seqnos, highest first.
#[derive(Debug)]
struct Fragment {
    start: Vec<u8>,
    end: Vec<u8>,
    seqnos: Vec<SeqNo>,
}

/// A cursor over a block for the reference parser.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl Cursor<'_> {
    /// A LEB128 `u64` of at most ten bytes, overlong forms allowed, as `coding.rs` reads them.
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for i in 0..10 {
            let (&byte, rest) = self.rest.split_first()?;
            self.rest = rest;
            let bits = u64::from(byte & 0x7f);
            if i == 9 && bits > 1 {
                return None;
            }
            value |= bits << (7 * i);
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }

    /// `len` bytes, as a key.
    fn key(&mut self, len: u64) -> Option<Vec<u8>> {
        let len = usize::try_from(len).ok()?;
        if len > self.rest.len() {
            return None;
        }
        let (key, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(key.to_vec())
    }
}

/// The reference parser: a fragment count, then per fragment its start (0: the previous
/// fragment's end; else its length plus one and its bytes), its end (length and bytes), a seqno count and the
/// seqnos (the first whole, then each one's positive distance below the previous one). Rejects
/// an empty or inverted fragment, one that starts before the previous one ends, an empty stack,
/// a seqno above `MAX_SEQNO` and trailing bytes.
fn parse_block(bytes: &[u8]) -> Option<Vec<Fragment>> {
    let mut c = Cursor { rest: bytes };
    let count = c.varint()?;
    let mut out: Vec<Fragment> = Vec::new();
    let mut prev_end: Option<Vec<u8>> = None;
    for _ in 0..count {
        let start = match c.varint()? {
            0 => prev_end.clone()?,
            n => c.key(n - 1)?,
        };
        let len = c.varint()?;
        let end = c.key(len)?;
        if start >= end || prev_end.as_ref().is_some_and(|prev| start < *prev) {
            return None;
        }
        let n = c.varint()?;
        if n == 0 {
            return None;
        }
        let mut seqnos: Vec<SeqNo> = Vec::new();
        for _ in 0..n {
            let v = c.varint()?;
            let s = match seqnos.last() {
                None => v,
                Some(&p) if v > 0 && v <= p => p - v,
                Some(_) => return None,
            };
            if s > MAX_SEQNO {
                return None;
            }
            seqnos.push(s);
        }
        prev_end = Some(end.clone());
        out.push(Fragment { start, end, seqnos });
    }
    c.rest.is_empty().then_some(out)
}

/// Encodes `n` as LEB128.
fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Encodes `key` whole: its length, then its bytes.
fn put_key(out: &mut Vec<u8>, key: &[u8]) {
    put_varint(out, key.len() as u64);
    out.extend_from_slice(key);
}

/// The reference encoder, the inverse of [`parse_block`].
fn encode_block(fragments: &[Fragment]) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, fragments.len() as u64);
    let mut prev_end: Option<&[u8]> = None;
    for f in fragments {
        if prev_end == Some(f.start.as_slice()) {
            put_varint(&mut out, 0);
        } else {
            put_varint(&mut out, f.start.len() as u64 + 1);
            out.extend_from_slice(&f.start);
        }
        put_key(&mut out, &f.end);
        put_varint(&mut out, f.seqnos.len() as u64);
        let mut prev = None;
        for &s in &f.seqnos {
            put_varint(&mut out, prev.map_or(s, |p: SeqNo| p - s));
            prev = Some(s);
        }
        prev_end = Some(&f.end);
    }
    out
}

/// Every (start, end, seqno) triple of `fragments`, at most [`MAX_TOMBSTONES`].
fn triples(fragments: &[Fragment]) -> Vec<Tombstone> {
    fragments
        .iter()
        .flat_map(|f| {
            f.seqnos.iter().map(|&seqno| Tombstone {
                start: f.start.clone(),
                end: f.end.clone(),
                seqno,
            })
        })
        .take(MAX_TOMBSTONES)
        .collect()
}

/// The input as tombstones, each a header byte, a seqno byte and the key bytes: the header's
/// bits 0-1 and 2-3 are the start and end lengths (0 to 3 bytes, each key byte taken mod 4, so
/// that keys collide and nest), bit 7 counts the seqno down from `MAX_SEQNO` instead of up from 0.
fn parse_tombstones(data: &[u8]) -> Vec<Tombstone> {
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() < MAX_TOMBSTONES {
        let Some((&[header, seqno], tail)) = rest.split_first_chunk::<2>() else {
            break;
        };
        let (start_len, end_len) = (usize::from(header & 3), usize::from((header >> 2) & 3));
        if tail.len() < start_len + end_len {
            break;
        }
        let (start, tail) = tail.split_at(start_len);
        let (end, tail) = tail.split_at(end_len);
        let seqno = if header & 0x80 == 0 {
            SeqNo::from(seqno)
        } else {
            MAX_SEQNO - SeqNo::from(seqno)
        };
        out.push(Tombstone {
            start: start.iter().map(|b| b & 3).collect(),
            end: end.iter().map(|b| b & 3).collect(),
            seqno,
        });
        rest = tail;
    }
    out
}

/// The seqnos of the tombstones that cover `key`, highest first, each once.
fn covering(tombstones: &[Tombstone], key: &[u8]) -> Vec<SeqNo> {
    let mut seqnos: Vec<SeqNo> = tombstones
        .iter()
        .filter(|t| t.start.as_slice() <= key && key < t.end.as_slice())
        .map(|t| t.seqno)
        .collect();
    seqnos.sort_unstable_by(|a, b| b.cmp(a));
    seqnos.dedup();
    seqnos
}

fn build(tombstones: &[Tombstone]) -> RangeTombstoneList {
    RangeTombstoneList::build(
        tombstones
            .iter()
            .map(|t| (t.start.clone(), t.end.clone(), t.seqno)),
    )
}

/// `list` (built from `tombstones`) re-encodes to a block of `list.len()` fragments, and its
/// covers equal the naive ones at every key where a tombstone starts or ends (and just after),
/// for every read seqno at which the answer can change there.
fn check_list(list: &RangeTombstoneList, tombstones: &[Tombstone]) {
    let bytes = list.encode();
    assert_eq!(
        decode_range_tombstones(&bytes),
        Ok(list.len()),
        "an encoded list decodes to another fragment count"
    );
    let fragments = parse_block(&bytes).expect("the reference parser reads an encoded list");
    assert_eq!(fragments.len(), list.len());
    assert_eq!(
        list.stack_entries(),
        fragments.iter().map(|f| f.seqnos.len()).sum::<usize>()
    );
    assert_eq!(
        encode_block(&fragments),
        bytes,
        "the encoder does not write the reference encoding"
    );
    let mut keys: Vec<Vec<u8>> = vec![Vec::new()];
    for t in tombstones {
        for key in [&t.start, &t.end] {
            keys.push(key.clone());
            let mut after = key.clone();
            after.push(0);
            keys.push(after);
        }
    }
    keys.sort_unstable();
    keys.dedup();
    for key in &keys {
        let seqnos = covering(tombstones, key);
        // The answer changes only at a covering seqno: check at each one, just above it, and
        // at the extremes. The naive answer is the first covering seqno below the read.
        let reads = [0, 1, SeqNo::MAX]
            .into_iter()
            .chain(seqnos.iter().flat_map(|&s| [s, s.saturating_add(1)]));
        for read in reads {
            let naive = seqnos.iter().copied().find(|&s| s < read).unwrap_or(0);
            assert_eq!(
                list.cover(key, read),
                naive,
                "cover({key:?}, {read}) over {tombstones:?}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let decoded = decode_range_tombstones(data);
    let reference = parse_block(data);
    assert_eq!(
        decoded.as_ref().ok(),
        reference.as_ref().map(Vec::len).as_ref(),
        "the decoder and the reference parser disagree: {decoded:?}"
    );
    if let Some(fragments) = reference {
        let tombstones = triples(&fragments);
        check_list(&build(&tombstones), &tombstones);
    }

    let tombstones = parse_tombstones(data);
    let list = build(&tombstones);
    check_list(&list, &tombstones);
    // Fragments of a built list never touch with equal stacks, so building them again gives the
    // same list: the same bytes.
    if list.stack_entries() <= MAX_TOMBSTONES {
        let fragments = parse_block(&list.encode()).expect("an encoded list parses");
        assert_eq!(build(&triples(&fragments)).encode(), list.encode());
    }
});
