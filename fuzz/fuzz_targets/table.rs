//! Bytes as a whole table file: open, scan forward and backward, and get every scanned key. Every
//! call returns `Ok` or `Err`, never panics; two complete scans hold the same entries in reverse
//! order. Each input is tried as is and re-sealed (every block checksum and the footer checksum
//! recomputed), so that mutated blocks get past the checksums.
//!
//! For an input whose checksums already hold and that `verify_table` passes (every block
//! decodes, entries in order, index keys matching their blocks, no filter false negative, the
//! meta block's counts right: a file as the writer writes it), the reader must also be
//! self-consistent: the scan holds `entry_count` entries and `get` finds each scanned version
//! (or fails with an error). Other inputs are exempt: a file whose checksums were forged (by
//! the re-sealing below, or by libFuzzer itself, which with comparison tracing copies a computed
//! checksum into the input) can hold unsorted blocks, a wrong meta block, or a key its filter
//! never saw, which no reader detects without reading the whole file. The first finding of
//! this kind (a forged data block holding a key the filter rules out, so `get` answered `None`)
//! is the unit test `a_forged_block_that_verify_rejects_is_exempt` below.

#![no_main]
#![allow(
    clippy::disallowed_types,
    reason = "fuzz_target! opens a std::fs::File for RUST_LIBFUZZER_DEBUG_PATH"
)]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use strata::fs::{Fs, StdFs};
use strata::internals::{TableFile, verify_table};
use strata::{InternalValue, SeqNo};
use strata_fuzz::reseal_table;

fn temp_path() -> PathBuf {
    std::env::temp_dir().join(format!("strata-fuzz-table-{}.sst", std::process::id()))
}

/// Collects a scan; `None` if any step failed.
fn complete(
    scan: impl Iterator<Item = strata::Result<InternalValue>>,
) -> Option<Vec<InternalValue>> {
    scan.collect::<strata::Result<Vec<_>>>().ok()
}

fn check(table: &TableFile, strict: bool) {
    let forward = complete(table.scan(false));
    let backward = complete(table.scan(true));
    for entry in forward.iter().chain(backward.iter()).flatten() {
        let key = &entry.key.user_key;
        let newest = table.get(key, SeqNo::MAX);
        let exact = table.get(key, entry.key.seqno.saturating_add(1));
        // NB: `Err` is a fine answer: `get` reads blocks the scans never read (filter
        // partitions), and one of them may be corrupt. A wrong `Ok` is not.
        if strict && entry.key.seqno < SeqNo::MAX {
            assert!(
                !matches!(&newest, Ok(found) if found.as_ref().is_none_or(|f| f.key.user_key != *key)),
                "get({key:?}) misses a scanned key: {newest:?}"
            );
            assert!(
                !matches!(&exact, Ok(found) if found.as_ref() != Some(entry)),
                "get at seqno {} does not return the scanned {entry:?}: {exact:?}",
                entry.key.seqno + 1
            );
        }
    }
    if let (Some(forward), Some(mut backward)) = (forward, backward) {
        backward.reverse();
        assert_eq!(
            forward, backward,
            "backward scan is not the forward scan reversed"
        );
        if strict {
            assert_eq!(
                forward.len() as u64,
                table.entry_count(),
                "scan vs entry_count"
            );
        }
    }
}

fn open_and_check(bytes: &[u8], strict: bool) {
    let path = temp_path();
    let written = StdFs.create(&path).and_then(|mut file| file.append(bytes));
    if written.is_ok()
        && let Ok(table) = TableFile::open(&path, 1 << 20)
    {
        let strict = strict && verify_table(&path).is_ok_and(|report| report.damages.is_empty());
        check(&table, strict);
    }
    let _ = StdFs.remove(&path);
}

fuzz_target!(|data: &[u8]| {
    open_and_check(data, true);
    let resealed = reseal_table(data);
    if resealed != data {
        open_and_check(&resealed, false);
    }
});
