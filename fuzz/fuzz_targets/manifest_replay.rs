//! Bytes as the records of a tree's manifest, replayed by `Tree::open` over the tables of a real
//! tree: the manifest decoder, `VersionEdit::apply`, the comparator and format checks, the opening
//! of every table the version names (present or missing), the next table id, the manifest append
//! or rewrite and the deletion of what no version names (`src/version/recovery.rs`). The
//! `manifest` target reads a manifest in place; this one opens the tree.
//!
//! Input: record payloads, each a length byte and that many bytes (the rest of the input for the
//! last), framed with valid checksums as `MANIFEST-000001` (`CURRENT` names it) in a `MemFs` that
//! holds the table files of `strata_fuzz::template_tree_files` (whose manifest, split into
//! payloads, is the seed).
//!
//! Checks: `Config::open` returns `Ok` or `Err`, never panics; a tree that opens scans forward
//! and backward to the same entries (when both scans succeed), closes, opens again (recovery
//! rewrote its manifest) and holds the same entries.

#![no_main]
#![allow(
    clippy::disallowed_types,
    reason = "fuzz_target! opens a std::fs::File for RUST_LIBFUZZER_DEBUG_PATH"
)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use strata::fs::{Fs, MemFs};
use strata::internals::frame_manifest_record;
use strata::{Config, Guard, SeqNo, SequenceNumberCounter, Tree};
use strata_fuzz::{TREE_DIR, copy_tree_files, template_tree_files};

static TEMPLATE: LazyLock<Vec<(PathBuf, Vec<u8>)>> = LazyLock::new(template_tree_files);

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn open(fs: &MemFs) -> strata::Result<Tree> {
    Config::new(
        TREE_DIR,
        SequenceNumberCounter::default(),
        SequenceNumberCounter::default(),
    )
    .fs(Arc::new(fs.clone()))
    .open()
}

/// A full scan, `None` if a read failed.
fn scan(tree: &Tree, reverse: bool) -> Option<Entries> {
    let pair = |g: strata::IterGuardImpl| g.into_inner().map(|(k, v)| (k.to_vec(), v.to_vec()));
    let iter = tree.iter(SeqNo::MAX, None);
    let mut entries = if reverse {
        iter.rev()
            .map(pair)
            .collect::<strata::Result<Entries>>()
            .ok()?
    } else {
        iter.map(pair).collect::<strata::Result<Entries>>().ok()?
    };
    if reverse {
        entries.reverse();
    }
    Some(entries)
}

fuzz_target!(|data: &[u8]| {
    let fs = MemFs::new();
    if !copy_tree_files(&fs, &TEMPLATE) {
        return;
    }
    let mut manifest = Vec::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let take = usize::from(len).min(tail.len());
        let (payload, next) = tail.split_at(take);
        manifest.extend(frame_manifest_record(payload));
        rest = next;
    }
    let root = Path::new(TREE_DIR);
    let write = |name: &str, bytes: &[u8]| {
        fs.create(&root.join(name)).and_then(|mut file| {
            file.append(bytes)?;
            file.sync()
        })
    };
    if write("MANIFEST-000001", &manifest).is_err()
        || write("CURRENT", b"MANIFEST-000001\n").is_err()
        || fs.sync_dir(root).is_err()
    {
        return;
    }
    let Ok(tree) = open(&fs) else {
        return;
    };
    let forward = scan(&tree, false);
    let backward = scan(&tree, true);
    if let (Some(forward), Some(backward)) = (&forward, &backward) {
        assert_eq!(
            forward, backward,
            "backward scan is not the forward scan reversed"
        );
    }
    drop(tree);
    let tree = match open(&fs) {
        Ok(tree) => tree,
        Err(e) => panic!("a tree that opened does not open again: {e}"),
    };
    if let (Some(before), Some(after)) = (forward, scan(&tree, false)) {
        assert_eq!(before, after, "the second open holds other entries");
    }
});
