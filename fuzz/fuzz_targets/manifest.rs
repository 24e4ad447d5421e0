//! Bytes as the payloads of a manifest's records: each record is a length byte and that many
//! payload bytes (the rest of the input for the last), framed with a valid checksum so that the
//! version-edit decoder and replay (`VersionEdit::apply`, the bounds on ids and seqnos) see them.
//! `CURRENT` names the manifest. Reading it in place returns `Ok` or `Err`, never panics; a
//! manifest that reads names only table ids within the file-number bound.

#![no_main]
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    reason = "fuzz_target! opens a std::fs::File for RUST_LIBFUZZER_DEBUG_PATH; the target writes its input files"
)]

use libfuzzer_sys::fuzz_target;
use strata::internals::{frame_manifest_record, read_manifest};

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("strata-fuzz-manifest-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mut manifest = Vec::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let take = usize::from(len).min(tail.len());
        let (payload, next) = tail.split_at(take);
        manifest.extend(frame_manifest_record(payload));
        rest = next;
    }
    if std::fs::write(dir.join("MANIFEST-000001"), &manifest).is_err()
        || std::fs::write(dir.join("CURRENT"), b"MANIFEST-000001\n").is_err()
    {
        return;
    }
    if let Ok(state) = read_manifest(&dir) {
        for id in state.replayed.levels.iter().flatten().flatten() {
            assert!(*id < 1 << 48, "a replayed table id past the bound: {id}");
        }
    }
});
