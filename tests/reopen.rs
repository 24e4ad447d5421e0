//! Reopen scenarios: what a flush made durable is there after a restart, at every old seqno, and a
//! damaged or foreign directory is refused with a clear error.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    reason = "test code; some tests damage files behind the engine's back"
)]

mod common;

use std::sync::Arc;

use strata::{Config, Error, Guard, SeqNo, SequenceNumberCounter, Tree};

fn open(dir: &std::path::Path, seqno: &SequenceNumberCounter) -> Result<Tree, Error> {
    common::small_config(dir, seqno, 512, 16 << 10).open()
}

#[test]
fn flushed_data_survives_reopens_at_every_seqno() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    {
        let tree = open(dir.path(), &seqno).unwrap();
        for round in 0..5u32 {
            for i in 0..300u32 {
                tree.insert(format!("key{i:04}"), format!("r{round}-{i}"), seqno.next());
            }
            tree.remove(format!("key{round:04}"), seqno.next());
            tree.flush_active_memtable(0).unwrap();
        }
        assert!(tree.table_count() >= 5);
        // Not flushed: lost at close, by design (no write-ahead log in Tree).
        tree.insert("unflushed", "x", seqno.next());
    }
    for reopen in 0..2 {
        let fresh = SequenceNumberCounter::default();
        let tree = open(dir.path(), &fresh).unwrap();
        assert!(
            fresh.get() >= 5 * 301,
            "the seqno counter continues past the recovered data"
        );
        assert_eq!(tree.get("unflushed", SeqNo::MAX).unwrap(), None);
        for i in 0..300u32 {
            let latest = tree.get(format!("key{i:04}"), SeqNo::MAX).unwrap();
            if i < 5 {
                // key{round} was deleted in round `round` and rewritten in later rounds.
                let expected = (i < 4).then(|| format!("r4-{i}"));
                assert_eq!(
                    latest.map(|v| String::from_utf8(v.to_vec()).unwrap()),
                    expected,
                    "reopen {reopen} key {i}"
                );
            } else {
                assert_eq!(latest.unwrap(), format!("r4-{i}").as_bytes());
            }
            // Reads at old seqnos see old rounds: seqno 301 * r + i + 1 sees round r's write.
            let old = tree
                .get(format!("key{i:04}"), u64::from(301 * 2 + i + 1))
                .unwrap();
            if i != 0 && i != 1 {
                assert_eq!(old.unwrap(), format!("r2-{i}").as_bytes());
            }
        }
        assert_eq!(
            tree.iter(SeqNo::MAX, None).count(),
            299 + reopen,
            "plus one key per earlier reopen"
        );
        // The tree still takes writes and flushes after a reopen.
        tree.insert(format!("after{reopen}"), "y", fresh.next());
        tree.flush_active_memtable(0).unwrap();
        assert_eq!(
            tree.get(format!("after{reopen}"), SeqNo::MAX)
                .unwrap()
                .unwrap(),
            "y"
        );
    }
}

#[test]
fn orphan_tables_and_stray_files_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    {
        let tree = open(dir.path(), &seqno).unwrap();
        tree.insert("a", "1", seqno.next());
        tree.flush_active_memtable(0).unwrap();
    }
    // A table a crashed flush left behind, and a half-written CURRENT.tmp.
    std::fs::write(dir.path().join("tables/999.sst"), b"partial").unwrap();
    std::fs::write(dir.path().join("CURRENT.tmp"), b"MANIFEST-0").unwrap();
    let tree = open(dir.path(), &seqno).unwrap();
    assert!(!dir.path().join("tables/999.sst").exists());
    assert!(!dir.path().join("CURRENT.tmp").exists());
    assert_eq!(tree.get("a", SeqNo::MAX).unwrap().unwrap(), "1");
    let manifests: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("MANIFEST-"))
        .collect();
    assert_eq!(manifests.len(), 1, "{manifests:?}");
    // New tables never reuse the orphan's id.
    tree.insert("b", "2", seqno.next());
    tree.flush_active_memtable(0).unwrap();
    assert!(dir.path().join("tables/1000.sst").exists());
}

/// The manifest files in `dir`, sorted.
fn manifest_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("MANIFEST-"))
        .collect();
    names.sort();
    names
}

/// The seed's `tree_recover_table_counter`: a clean restart takes no file number, so the next
/// table id is the same before and after it, and the reopened tree appends to its manifest.
#[test]
fn a_clean_reopen_keeps_the_next_table_id_and_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let (expected, manifests) = {
        let tree = common::open_default(dir.path());
        assert_eq!(tree.next_table_id(), 0);
        tree.insert("a", "a", seqno.next());
        tree.flush_active_memtable(0).unwrap();
        tree.insert("b", "b", seqno.next());
        tree.flush_active_memtable(0).unwrap();
        (tree.next_table_id(), manifest_names(dir.path()))
    };
    assert_eq!(expected, 2);
    assert_eq!(manifests, ["MANIFEST-000001"]);
    for _ in 0..3 {
        let tree = common::open_default(dir.path());
        assert_eq!(tree.next_table_id(), expected);
        assert_eq!(manifest_names(dir.path()), manifests);
        assert_eq!(tree.get("b", SeqNo::MAX).unwrap().unwrap(), "b");
    }
    let tree = common::open_default(dir.path());
    tree.insert("c", "c", 10);
    tree.flush_active_memtable(0).unwrap();
    assert!(dir.path().join(format!("tables/{expected}.sst")).exists());
    drop(tree);
    let tree = common::open_default(dir.path());
    assert_eq!(tree.next_table_id(), expected + 1);
    assert_eq!(tree.len(SeqNo::MAX, None).unwrap(), 3);
}

/// A manifest that ends in a torn tail (a crash during an append) is not appended to: the open
/// writes a new one, numbered above every manifest present, so a stray manifest a crashed rewrite
/// left behind is never overwritten.
#[test]
fn a_torn_manifest_is_replaced_by_one_numbered_above_every_manifest_present() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    {
        let tree = common::open_default(dir.path());
        tree.insert("a", "1", seqno.next());
        tree.flush_active_memtable(0).unwrap();
    }
    let live = manifest_path(dir.path());
    let mut bytes = std::fs::read(&live).unwrap();
    bytes.extend_from_slice(&[0; 9]);
    std::fs::write(&live, &bytes).unwrap();
    // A manifest a crashed rewrite created before CURRENT named it.
    std::fs::write(dir.path().join("MANIFEST-000040"), b"SR").unwrap();
    let tree = common::open_default(dir.path());
    assert_eq!(manifest_names(dir.path()), ["MANIFEST-000041"]);
    assert_eq!(tree.next_table_id(), 1);
    assert_eq!(tree.get("a", SeqNo::MAX).unwrap().unwrap(), "1");
    tree.insert("b", "2", seqno.next());
    tree.flush_active_memtable(0).unwrap();
    assert!(dir.path().join("tables/1.sst").exists());
    drop(tree);
    let tree = common::open_default(dir.path());
    assert_eq!(manifest_names(dir.path()), ["MANIFEST-000041"]);
    assert_eq!(tree.next_table_id(), 2);
    assert_eq!(tree.len(SeqNo::MAX, None).unwrap(), 2);
}

/// Past `max_manifest_file_size` the manifest is rewritten after a commit and at open, each time
/// under the next number, and table ids go on from where they were.
#[test]
fn past_its_bound_the_manifest_is_rewritten_after_commits_and_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let open_small = || {
        Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default())
            .max_manifest_file_size(0)
            .open()
            .unwrap()
    };
    {
        let tree = open_small();
        for i in 0..4u32 {
            tree.insert(format!("k{i}"), "v", seqno.next());
            tree.flush_active_memtable(0).unwrap();
        }
        // Each flush's commit rewrote the manifest: 1 (the new tree's), then 2 to 5.
        assert_eq!(manifest_names(dir.path()), ["MANIFEST-000005"]);
        assert_eq!(tree.next_table_id(), 4);
    }
    let tree = open_small();
    assert_eq!(manifest_names(dir.path()), ["MANIFEST-000006"]);
    assert_eq!(tree.next_table_id(), 4);
    assert_eq!(tree.len(SeqNo::MAX, None).unwrap(), 4);
    let mut tables: Vec<u64> = std::fs::read_dir(dir.path().join("tables"))
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".sst")?
                .parse()
                .ok()
        })
        .collect();
    tables.sort_unstable();
    assert_eq!(tables, [0, 1, 2, 3]);
}

#[test]
fn another_comparator_is_refused_with_both_names() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), &SequenceNumberCounter::default()).unwrap());
    let err = Config::new(
        dir.path(),
        SequenceNumberCounter::default(),
        SequenceNumberCounter::default(),
    )
    .comparator(Arc::new(common::Reverse))
    .open()
    .unwrap_err();
    match err {
        Error::ComparatorMismatch { stored, supplied } => {
            assert_eq!(stored, "default");
            assert_eq!(supplied, "test.reverse");
        }
        other => panic!("expected a comparator mismatch, got {other}"),
    }
}

fn populated(dir: &std::path::Path) {
    let seqno = SequenceNumberCounter::default();
    let tree = open(dir, &seqno).unwrap();
    for i in 0..50u32 {
        tree.insert(format!("k{i}"), "v", seqno.next());
        if i % 10 == 9 {
            tree.flush_active_memtable(0).unwrap();
        }
    }
}

fn manifest_path(dir: &std::path::Path) -> std::path::PathBuf {
    let name = std::fs::read_to_string(dir.join("CURRENT")).unwrap();
    dir.join(name.trim_end())
}

#[test]
fn damaged_current_or_manifest_is_an_error_never_a_panic() {
    // A missing CURRENT in a tree with tables.
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
    assert!(matches!(
        open(dir.path(), &SequenceNumberCounter::default()),
        Err(Error::Corruption { .. })
    ));

    // CURRENT naming a missing manifest, or holding garbage.
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    std::fs::write(dir.path().join("CURRENT"), b"MANIFEST-424242\n").unwrap();
    assert!(matches!(
        open(dir.path(), &SequenceNumberCounter::default()),
        Err(Error::Io { .. })
    ));
    std::fs::write(dir.path().join("CURRENT"), b"\xff\xfe garbage").unwrap();
    assert!(matches!(
        open(dir.path(), &SequenceNumberCounter::default()),
        Err(Error::Corruption { .. })
    ));

    // Every bit flip and truncation of the manifest: an error or the full, correct state.
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    let path = manifest_path(dir.path());
    let original = std::fs::read(&path).unwrap();
    let backup = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), backup.path());
    for pos in 0..original.len() {
        for damage in [Damage::Flip(pos), Damage::Truncate(pos)] {
            let work = tempfile::tempdir().unwrap();
            copy_dir(backup.path(), work.path());
            let mut bytes = original.clone();
            match damage {
                Damage::Flip(p) => bytes[p] ^= 0x04,
                Damage::Truncate(p) => bytes.truncate(p),
            }
            std::fs::write(manifest_path(work.path()), &bytes).unwrap();
            match open(work.path(), &SequenceNumberCounter::default()) {
                // A damaged manifest may only open if the damage is a torn tail (a truncation;
                // a flipped bit never is): then the state is exactly the first n flushes of ten
                // keys each, never a hole.
                Ok(tree) => {
                    assert!(
                        matches!(damage, Damage::Truncate(_)),
                        "{damage:?}: opened over a flipped bit"
                    );
                    let keys: Vec<_> = tree
                        .iter(SeqNo::MAX, None)
                        .map(|g| g.key().unwrap())
                        .collect();
                    let n = keys.len();
                    assert!(n % 10 == 0, "{damage:?}: {n} keys");
                    for i in 0..n {
                        assert!(
                            tree.get(format!("k{i}"), SeqNo::MAX).unwrap().is_some(),
                            "{damage:?}: hole at k{i}"
                        );
                    }
                }
                Err(
                    Error::Corruption { .. }
                    | Error::UnsupportedFormat { .. }
                    | Error::ComparatorMismatch { .. },
                ) => {}
                Err(other) => panic!("{damage:?}: unexpected error {other}"),
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    Flip(usize),
    Truncate(usize),
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "LOCK" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
