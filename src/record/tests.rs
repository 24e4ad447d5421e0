//! Tests of the record framing and the torn-tail rule.

use super::format::encode_legacy;
use super::*;
use crate::error::CorruptionKind;

/// Three records of different sizes (the last payload ends in a zero byte, as a flush's edit
/// adding table 0 does), and the offset of each.
fn three_records(framing: Framing) -> (Vec<u8>, Vec<usize>, Vec<Vec<u8>>) {
    let payloads = vec![
        b"first".to_vec(),
        vec![7u8; 40],
        vec![3, 1, 4, 9, 5, 0, 1, 0],
    ];
    let mut bytes = Vec::new();
    let mut offsets = Vec::new();
    for payload in &payloads {
        offsets.push(bytes.len());
        match framing {
            Framing::Current => bytes.extend_from_slice(&encode(payload).unwrap()),
            Framing::Legacy => bytes.extend_from_slice(&encode_legacy(payload)),
        }
    }
    (bytes, offsets, payloads)
}

/// Every payload the reader yields, with its offset, and how it ended.
fn read(bytes: &[u8]) -> (Vec<(u64, Vec<u8>)>, End) {
    let mut reader = RecordReader::new(bytes, Framing::detect(bytes));
    let records = reader
        .by_ref()
        .map(|r| (r.offset, r.payload.to_vec()))
        .collect();
    let end = reader.end().cloned().expect("the reader has ended");
    (records, end)
}

fn expect_first(n: usize, offsets: &[usize], payloads: &[Vec<u8>]) -> Vec<(u64, Vec<u8>)> {
    offsets
        .iter()
        .zip(payloads)
        .take(n)
        .map(|(o, p)| (*o as u64, p.clone()))
        .collect()
}

#[test]
fn golden_bytes_of_the_current_framing() {
    let record = encode(b"abc").unwrap();
    let sum = xxhash_rust::xxh3::xxh3_64(b"abc").to_le_bytes();
    let mut expected = vec![0x53, 0x52, 3, 0, 0, 0, 0xfc, 0xff, 0xff, 0xff];
    expected.extend_from_slice(&sum);
    expected.extend_from_slice(b"abc");
    expected.push(0xa5);
    assert_eq!(record, expected);
    assert_eq!(
        encode(b"").unwrap(),
        [
            &[0x53, 0x52, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff][..],
            &xxhash_rust::xxh3::xxh3_64(b"").to_le_bytes(),
            &[0xa5]
        ]
        .concat()
    );
    assert_eq!(read(&record), (vec![(0, b"abc".to_vec())], End::Clean));
    assert_eq!(read(&[]), (vec![], End::Clean));
}

#[test]
fn golden_bytes_of_the_legacy_framing_still_read() {
    let mut bytes = vec![0x53, 0x45, 3, 0, 0, 0];
    bytes.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(b"abc").to_le_bytes());
    bytes.extend_from_slice(b"abc");
    assert_eq!(bytes, encode_legacy(b"abc"));
    assert_eq!(Framing::detect(&bytes), Framing::Legacy);
    assert_eq!(read(&bytes), (vec![(0, b"abc".to_vec())], End::Clean));
    // A legacy file whose last payload ends in zeros is complete, not torn.
    let (bytes, offsets, payloads) = three_records(Framing::Legacy);
    assert_eq!(
        read(&bytes),
        (expect_first(3, &offsets, &payloads), End::Clean)
    );
}

#[test]
fn every_truncation_reads_the_whole_records_and_reports_the_rest_torn() {
    for framing in [Framing::Current, Framing::Legacy] {
        let (bytes, offsets, payloads) = three_records(framing);
        for cut in 1..bytes.len() {
            let whole = offsets.iter().filter(|&&o| o < cut).count() - 1;
            let (records, end) = read(&bytes[..cut]);
            let expected_end = if offsets.contains(&cut) {
                End::Clean
            } else {
                End::Torn {
                    offset: offsets[whole] as u64,
                }
            };
            let whole = if offsets.contains(&cut) {
                whole + 1
            } else {
                whole
            };
            assert_eq!(
                records,
                expect_first(whole, &offsets, &payloads),
                "{framing:?} cut {cut}"
            );
            assert_eq!(end, expected_end, "{framing:?} cut {cut}");
        }
    }
}

#[test]
fn zero_filling_from_inside_the_last_record_is_torn() {
    for framing in [Framing::Current, Framing::Legacy] {
        let (bytes, offsets, payloads) = three_records(framing);
        let last = offsets[2];
        // (A legacy payload may end in zero bytes; zeroing those changes nothing.)
        for from in (last..bytes.len()).filter(|&f| bytes[f..].iter().any(|&b| b != 0)) {
            // Zeros up to the old end, and beyond it (the file grew before its data landed).
            for len in [bytes.len(), bytes.len() + 30] {
                let mut torn = bytes[..from].to_vec();
                torn.resize(len, 0);
                assert_eq!(
                    read(&torn),
                    (
                        expect_first(2, &offsets, &payloads),
                        End::Torn {
                            offset: last as u64
                        }
                    ),
                    "{framing:?} zeros from {from} to {len}"
                );
            }
        }
        // Zeros after a complete record: the next append was torn before any of it landed.
        let mut zeros_after = bytes.clone();
        zeros_after.resize(bytes.len() + 25, 0);
        assert_eq!(
            read(&zeros_after),
            (
                expect_first(3, &offsets, &payloads),
                End::Torn {
                    offset: bytes.len() as u64
                }
            )
        );
    }
}

#[test]
fn every_bit_flip_in_any_record_of_the_current_framing_is_corruption_at_its_offset() {
    let (bytes, offsets, payloads) = three_records(Framing::Current);
    let ends: Vec<usize> = offsets
        .iter()
        .skip(1)
        .copied()
        .chain([bytes.len()])
        .collect();
    for (n, (&start, &end)) in offsets.iter().zip(&ends).enumerate() {
        for pos in start..end {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[pos] ^= 1 << bit;
                let (records, end) = read(&flipped);
                assert_eq!(
                    records,
                    expect_first(n, &offsets, &payloads),
                    "byte {pos} bit {bit}"
                );
                assert!(
                    matches!(end, End::Corrupt { offset, .. } if offset == start as u64),
                    "byte {pos} bit {bit}: {end:?}"
                );
            }
        }
    }
}

#[test]
fn nonzero_garbage_after_the_last_record_is_corruption() {
    let (bytes, offsets, payloads) = three_records(Framing::Current);
    for garbage in [
        &[0xab_u8; 40][..],
        &[0xab],
        &[0, 0, 7],
        b"SRxyz and more bytes than a header",
        &[0x52; 3],
    ] {
        let mut damaged = bytes.clone();
        damaged.extend_from_slice(garbage);
        let (records, end) = read(&damaged);
        assert_eq!(records, expect_first(3, &offsets, &payloads), "{garbage:?}");
        assert!(
            matches!(end, End::Corrupt { offset, .. } if offset == bytes.len() as u64),
            "{garbage:?}: {end:?}"
        );
    }
    // A complete record with a wrong checksum, followed by zeros, is still corruption.
    let mut damaged = bytes.clone();
    damaged[offsets[2] + 20] ^= 0x10;
    damaged.resize(bytes.len() + 10, 0);
    assert_eq!(
        read(&damaged).1,
        End::Corrupt {
            offset: offsets[2] as u64,
            what: CorruptionKind::ChecksumMismatch {
                expected: xxhash_rust::xxh3::xxh3_64(&payloads[2]),
                actual: xxhash_rust::xxh3::xxh3_64(&damaged[offsets[2] + 18..bytes.len() - 1]),
            }
        }
    );
}

/// A file of headers that each claim a payload reaching the end of the file with a wrong
/// checksum: a reader that looked for a valid record at every later offset would hash most of
/// the file at every header (hours for 4 MiB); this one checks the first and stops.
#[test]
fn a_crafted_file_of_near_records_is_read_in_linear_time() {
    const SIZE: usize = 4 << 20;
    for framing in [Framing::Current, Framing::Legacy] {
        let first = match framing {
            Framing::Current => encode(b"valid").unwrap(),
            Framing::Legacy => encode_legacy(b"valid"),
        };
        let mut bytes = first.clone();
        while bytes.len() + 64 < SIZE {
            let len = u32::try_from(SIZE - bytes.len() - framing.overhead_len()).unwrap();
            bytes.extend_from_slice(&framing.magic());
            bytes.extend_from_slice(&len.to_le_bytes());
            if framing == Framing::Current {
                bytes.extend_from_slice(&(!len).to_le_bytes());
            }
            bytes.extend_from_slice(&[0x11; 8]);
        }
        bytes.resize(SIZE - 1, 0x22);
        bytes.push(super::format::TRAILER);
        let (records, end) = read(&bytes);
        assert_eq!(records, vec![(0, b"valid".to_vec())], "{framing:?}");
        assert!(
            matches!(end, End::Corrupt { offset, what: CorruptionKind::ChecksumMismatch { .. } } if offset == first.len() as u64),
            "{framing:?}: {end:?}"
        );
    }
}
