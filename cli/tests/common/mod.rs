//! What the tests of the `strata` binary share: running it, and reading and damaging the files
//! of a tree behind its back.

#![allow(
    dead_code,
    reason = "each test crate that includes this module uses a part of it"
)]
#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    reason = "test code reads and damages files behind the tool's back"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `strata args`.
pub fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `strata args` and returns its stdout; it must succeed and print nothing on stderr.
pub fn ok(args: &[&str]) -> String {
    let out = strata(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "strata {args:?} failed: {stderr}");
    assert!(
        stderr.is_empty(),
        "strata {args:?} wrote to stderr: {stderr}"
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `strata args`, which must fail with exactly one `error: ` line on stderr; returns
/// (stdout, that line).
pub fn fails(args: &[&str]) -> (String, String) {
    let out = strata(args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "strata {args:?} succeeded");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "strata {args:?}: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    (String::from_utf8(out.stdout).unwrap(), lines[0].to_string())
}

/// `path` as an argument.
pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Every file of a tree's directory and of its `tables/` and `blobs/` (if it has them), with
/// its bytes.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for folder in [dir.to_path_buf(), dir.join("tables"), dir.join("blobs")] {
        if !folder.exists() {
            continue;
        }
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Flips a bit of the byte at `offset` of the file at `path`.
pub fn flip(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

/// The live manifest of the tree at `dir` (the only one after a clean exit).
pub fn manifest_of(dir: &Path) -> PathBuf {
    let manifests: Vec<PathBuf> = snapshot(dir)
        .into_keys()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("MANIFEST-")
        })
        .collect();
    assert_eq!(manifests.len(), 1, "{manifests:?}");
    manifests[0].clone()
}

/// The file name of `path`.
pub fn name_of(path: &Path) -> &str {
    path.file_name().unwrap().to_str().unwrap()
}

/// Every file under `dir`, at any depth, with its bytes.
pub fn snapshot_all(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Descending byte order: a custom comparator, which a database does not persist, so the tools
/// never have it.
pub struct Descending;

impl strata::UserComparator for Descending {
    fn name(&self) -> &'static str {
        "test.descending"
    }

    fn compare(&self, a: &[u8], b: &[u8]) -> std::cmp::Ordering {
        b.cmp(a)
    }
}
