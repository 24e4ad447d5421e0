//! Bytes as a whole blob file (key-value separation): open, scan record by record, and read
//! every scanned record back by its pointer, as the tree reads values. Every call returns `Ok`
//! or `Err`, never panics. Each input is tried as is and re-sealed (every record's checksum and
//! the footer's counts and checksum recomputed), so that mutated records get past the checksums
//! into the record decoder behind them.
//!
//! Checks, for both:
//! 1. What the scan visits (before it ends, with an error or not) lies in the file's body, in
//!    order and end to end from the header; a scan that succeeds visits exactly the footer's
//!    record count and record bytes.
//! 2. Every visited record reads back by its pointer (offset, length, value length, key) with
//!    the same value, from the file and again through a block cache (a miss, then a hit).
//! 3. A pointer that names the record with another key, or another value length, is an error,
//!    never the record's value: with and without the cache (the cache holds it by then).
//! 4. Pointers derived from the input (any offset and length, inside the file or not): an `Ok`
//!    value has the length the pointer names.
//!
//! Run with `-malloc_limit_mb=512`: a record is read with the length its pointer names, bounded
//! by the file, and decompressed to at most its declared length, bounded by its stored bytes.

#![no_main]
#![allow(
    clippy::disallowed_types,
    reason = "fuzz_target! opens a std::fs::File for RUST_LIBFUZZER_DEBUG_PATH"
)]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use strata::fs::{Fs, StdFs};
use strata::internals::{BlobFileReader, BlobRecord};
use strata_fuzz::{BLOB_FOOTER_LEN, BLOB_HEADER_LEN, reseal_blob_file};

fn temp_path() -> PathBuf {
    std::env::temp_dir().join(format!("strata-fuzz-blob-{}-7.blob", std::process::id()))
}

/// Pointers derived from the input: offsets and lengths from its bytes, spread over the file.
fn probes(bytes: &[u8]) -> Vec<(u64, u64, u32)> {
    let hash = xxhash_rust::xxh3::xxh3_64(bytes);
    let len = bytes.len() as u64;
    (0..4)
        .map(|i| {
            let h = hash.rotate_left(16 * i);
            let offset = (h & 0xffff) % (len + 2);
            let record_len = (h >> 16 & 0xff) % (len + 2);
            let value_len = (h >> 24 & 0xffff) as u32 % 512;
            (offset, record_len, value_len)
        })
        .collect()
}

fn check(bytes: &[u8]) {
    let path = temp_path();
    let written = StdFs.create(&path).and_then(|mut file| file.append(bytes));
    if written.is_err() {
        return;
    }
    let Ok(reader) = BlobFileReader::open(&path, 0) else {
        let _ = StdFs.remove(&path);
        return;
    };
    let cached = BlobFileReader::open(&path, 1 << 20).expect("the file opened once");
    let mut records: Vec<BlobRecord> = Vec::new();
    let scan = reader.scan(|record| records.push(record));

    // 1. In the body, in order, end to end.
    let body_end = bytes.len() as u64 - BLOB_FOOTER_LEN as u64;
    let mut next = BLOB_HEADER_LEN as u64;
    for record in &records {
        assert_eq!(record.offset, next, "records are end to end");
        next = record.offset + record.len;
        assert!(next <= body_end, "a record past the body");
    }
    if let Ok(count) = scan {
        assert_eq!(count, records.len() as u64);
        assert_eq!(count, reader.record_count(), "scan vs footer count");
        assert_eq!(next, body_end, "the records fill the body");
        assert_eq!(next - BLOB_HEADER_LEN as u64, reader.record_bytes());
    }

    for record in &records {
        let value_len = u32::try_from(record.value.len()).expect("a record is a block");
        // 2. Read back by its pointer, uncached and cached (a miss, then a hit).
        for source in [&reader, &cached, &cached] {
            let value = source
                .read(&record.key, record.offset, record.len, value_len)
                .expect("a scanned record reads by its pointer");
            assert_eq!(value, record.value, "the pointer read another value");
        }
        // 3. Another key or another length is an error, with the record in the cache too.
        let mut other = record.key.to_vec();
        other.push(0);
        for source in [&reader, &cached] {
            assert!(
                source
                    .read(&other, record.offset, record.len, value_len)
                    .is_err(),
                "a pointer with another key read {:?}'s value",
                record.key
            );
            assert!(
                source
                    .read(&record.key, record.offset, record.len, value_len + 1)
                    .is_err(),
                "a pointer with another value length read a value"
            );
        }
    }

    // 4. Hostile pointers.
    let key = records.first().map(|r| r.key.to_vec()).unwrap_or_default();
    for (offset, record_len, value_len) in probes(bytes) {
        for source in [&reader, &cached] {
            if let Ok(value) = source.read(&key, offset, record_len, value_len) {
                assert_eq!(value.len(), value_len as usize, "a value of another length");
            }
        }
    }
    drop((reader, cached));
    let _ = StdFs.remove(&path);
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let resealed = reseal_blob_file(data);
    if resealed != data {
        check(&resealed);
    }
});
