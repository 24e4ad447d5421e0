use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;
use crate::fs::{CrashMode, Fs};

fn p(s: &str) -> &Path {
    Path::new(s)
}

fn read_all(fs: &MemFs, path: &str) -> Vec<u8> {
    let file = fs.open(p(path)).unwrap();
    let mut buf = vec![0u8; usize::try_from(file.size_bytes().unwrap()).unwrap()];
    file.read_exact_at(&mut buf, 0).unwrap();
    buf
}

fn sorted_list(fs: &MemFs, dir: &str) -> Vec<PathBuf> {
    let mut names = fs.list(p(dir)).unwrap();
    names.sort();
    names
}

/// `/db/f` holding `synced` (file and directory synced), then `unsynced` appended.
fn file_with_tail(synced: &[u8], unsynced: &[u8]) -> MemFs {
    let fs = MemFs::new();
    fs.create_dir(p("/db")).unwrap();
    let mut file = fs.create(p("/db/f")).unwrap();
    file.append(synced).unwrap();
    file.sync().unwrap();
    fs.sync_dir(p("/db")).unwrap();
    file.append(unsynced).unwrap();
    fs
}

#[test]
fn memfs_is_send_sync_and_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<MemFs>();
}

#[test]
fn reads_see_unsynced_data_before_a_crash() {
    let fs = file_with_tail(b"abc", b"def");
    assert_eq!(read_all(&fs, "/db/f"), b"abcdef");
    let mut buf = [0u8; 8];
    assert_eq!(
        fs.open(p("/db/f")).unwrap().read_at(&mut buf, 4).unwrap(),
        2
    );
    assert_eq!(&buf[..2], b"ef");
}

#[test]
fn synced_data_survives_every_mode() {
    for mode in CrashMode::ALL {
        for seed in 0..50 {
            let fs = file_with_tail(b"synced bytes", b"");
            fs.crash(mode, seed);
            assert_eq!(read_all(&fs, "/db/f"), b"synced bytes", "{mode:?} {seed}");
        }
    }
}

#[test]
fn drop_unsynced_keeps_exactly_the_synced_bytes() {
    for seed in 0..20 {
        let fs = file_with_tail(b"synced", b"unsynced");
        fs.crash(CrashMode::DropUnsynced, seed);
        assert_eq!(read_all(&fs, "/db/f"), b"synced");
    }
}

#[test]
fn torn_writes_keep_a_prefix_of_the_tail_then_nothing_or_zeros() {
    let written: Vec<u8> = (1..=64u8).collect();
    let (mut saw_cut, mut saw_zeros) = (false, false);
    for seed in 0..200 {
        let fs = file_with_tail(b"head", &written);
        fs.crash(CrashMode::TornWrites, seed);
        let data = read_all(&fs, "/db/f");
        assert!(data.starts_with(b"head"));
        let tail = &data[4..];
        assert!(tail.len() <= written.len(), "seed {seed}");
        let kept = tail
            .iter()
            .zip(&written)
            .take_while(|(a, b)| a == b)
            .count();
        // After the kept prefix of what was written, only zeros: never other bytes.
        assert!(
            tail[kept..].iter().all(|&b| b == 0),
            "seed {seed}: {tail:?}"
        );
        saw_cut |= kept < written.len() && tail.len() == kept;
        saw_zeros |= tail.len() > kept;
    }
    assert!(saw_cut && saw_zeros);
}

#[test]
fn crash_results_depend_only_on_the_seed() {
    let outcome = |seed| {
        let fs = file_with_tail(b"x", &[7u8; 100]);
        fs.crash(CrashMode::TornWrites, seed);
        read_all(&fs, "/db/f")
    };
    assert_eq!(outcome(5), outcome(5));
    assert!((0..20).any(|seed| outcome(seed) != outcome(5)));
}

#[test]
fn a_synced_file_vanishes_if_its_directory_was_not_synced() {
    let fs = MemFs::new();
    fs.create_dir(p("/db")).unwrap();
    let mut file = fs.create(p("/db/f")).unwrap();
    file.append(b"data").unwrap();
    file.sync().unwrap();
    assert!(fs.exists(p("/db/f")).unwrap());
    fs.crash(CrashMode::DropUnsynced, 0);
    assert!(!fs.exists(p("/db/f")).unwrap());
    assert!(fs.list(p("/db")).unwrap().is_empty());
    assert!(
        fs.exists(p("/db")).unwrap(),
        "directories are durable at once"
    );
}

#[test]
fn a_durable_entry_of_an_unsynced_file_comes_back_empty() {
    let fs = MemFs::new();
    fs.create(p("/f")).unwrap().append(b"never synced").unwrap();
    fs.sync_dir(p("/")).unwrap();
    fs.crash(CrashMode::DropUnsynced, 0);
    assert_eq!(read_all(&fs, "/f"), b"");
}

#[test]
fn a_rename_is_undone_without_sync_dir_and_kept_with_it() {
    for sync in [false, true] {
        let fs = file_with_tail(b"old", b"");
        fs.rename(p("/db/f"), p("/db/g")).unwrap();
        assert!(!fs.exists(p("/db/f")).unwrap());
        if sync {
            fs.sync_dir(p("/db")).unwrap();
        }
        fs.crash(CrashMode::DropUnsynced, 0);
        let (gone, there) = if sync {
            ("/db/f", "/db/g")
        } else {
            ("/db/g", "/db/f")
        };
        assert!(!fs.exists(p(gone)).unwrap());
        assert_eq!(read_all(&fs, there), b"old");
    }
}

#[test]
fn a_rename_over_a_file_brings_the_old_one_back_without_sync_dir() {
    let fs = file_with_tail(b"current", b"");
    let mut tmp = fs.create(p("/db/tmp")).unwrap();
    tmp.append(b"next").unwrap();
    tmp.sync().unwrap();
    fs.rename(p("/db/tmp"), p("/db/f")).unwrap();
    assert_eq!(read_all(&fs, "/db/f"), b"next");
    fs.crash(CrashMode::DropUnsynced, 0);
    assert_eq!(read_all(&fs, "/db/f"), b"current");
    assert_eq!(sorted_list(&fs, "/db"), [PathBuf::from("/db/f")]);
}

#[test]
fn a_remove_is_undone_without_sync_dir_and_kept_with_it() {
    for sync in [false, true] {
        let fs = file_with_tail(b"data", b"");
        fs.remove(p("/db/f")).unwrap();
        assert!(!fs.exists(p("/db/f")).unwrap());
        assert_eq!(
            fs.remove(p("/db/f")).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        if sync {
            fs.sync_dir(p("/db")).unwrap();
        }
        fs.crash(CrashMode::DropUnsynced, 0);
        assert_eq!(fs.exists(p("/db/f")).unwrap(), !sync);
    }
}

#[test]
fn a_removed_file_stays_readable_through_an_open_handle() {
    let fs = file_with_tail(b"data", b"");
    let reader = fs.open(p("/db/f")).unwrap();
    fs.remove(p("/db/f")).unwrap();
    fs.sync_dir(p("/db")).unwrap();
    let mut buf = [0u8; 4];
    reader.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"data");
    drop(reader);
    fs.sync_dir(p("/db")).unwrap();
    assert_eq!(fs.state.lock().inodes.len(), 0, "the inode is collected");
}

#[test]
fn partial_directory_keeps_some_unsynced_operations_consistently() {
    let mut outcomes = std::collections::BTreeSet::new();
    for seed in 0..100 {
        let fs = file_with_tail(b"a", b"");
        let mut b = fs.create(p("/db/b")).unwrap();
        b.append(b"b").unwrap();
        b.sync().unwrap();
        fs.rename(p("/db/b"), p("/db/c")).unwrap();
        fs.remove(p("/db/f")).unwrap();
        fs.crash(CrashMode::PartialDirectory, seed);
        let names = sorted_list(&fs, "/db");
        for name in &names {
            // Whatever survived has its synced content.
            let content = read_all(&fs, name.to_str().unwrap());
            let expected: &[u8] = if name.ends_with("f") { b"a" } else { b"b" };
            assert_eq!(content, expected);
        }
        assert!(!(names.contains(&PathBuf::from("/db/b")) && names.contains(&"/db/c".into())));
        outcomes.insert(names);
    }
    // f removed or not × b never created, created, or renamed to c.
    assert_eq!(outcomes.len(), 6, "{outcomes:?}");
}

#[test]
fn create_of_an_existing_file_truncates_it_until_synced() {
    for sync in [false, true] {
        let fs = file_with_tail(b"old", b"");
        let mut file = fs.create(p("/db/f")).unwrap();
        assert_eq!(read_all(&fs, "/db/f"), b"");
        file.append(b"new!").unwrap();
        if sync {
            file.sync().unwrap();
        }
        fs.crash(CrashMode::TornWrites, 1);
        let expected: &[u8] = if sync { b"new!" } else { b"old" };
        assert_eq!(read_all(&fs, "/db/f"), expected);
    }
}

#[test]
fn crash_at_fails_exactly_the_kth_mutating_call_and_everything_after() {
    let fs = MemFs::new();
    fs.create_dir(p("/db")).unwrap();
    let before = fs.mutating_op_count();
    fs.crash_at(3);
    let mut file = fs.create(p("/db/f")).unwrap(); // 1
    fs.open(p("/db/f")).unwrap(); // not mutating
    file.append(b"one").unwrap(); // 2
    assert!(!fs.power_lost());
    let err = file.append(b"two").unwrap_err(); // 3
    assert_eq!(err.kind(), ErrorKind::Other);
    assert_eq!(err.to_string(), "simulated power loss");
    assert!(fs.power_lost());
    assert_eq!(fs.mutating_op_count(), before + 3);
    assert!(fs.sync_dir(p("/db")).is_err());
    assert!(fs.list(p("/db")).is_err());
    assert!(fs.open(p("/db/f")).is_err());
    assert_eq!(
        fs.mutating_op_count(),
        before + 3,
        "later calls are not counted"
    );
    fs.disarm();
    assert_eq!(
        read_all(&fs, "/db/f"),
        b"one",
        "the failed append took no effect"
    );
}

#[test]
fn crash_at_zero_pulls_the_plug_at_once_and_crash_keeps_it_pulled() {
    let fs = MemFs::new();
    fs.crash_at(0);
    assert!(fs.create(p("/f")).is_err());
    fs.crash(CrashMode::DropUnsynced, 0);
    assert!(fs.exists(p("/f")).is_err());
    fs.disarm();
    assert!(!fs.exists(p("/f")).unwrap());
}

#[test]
fn skipped_syncs_report_success_but_lose_the_data() {
    let fs = file_with_tail(b"a", b"b");
    let mut file = fs.create(p("/db/g")).unwrap();
    fs.skip_syncs(1);
    fs.skip_dir_syncs(1);
    file.sync().unwrap();
    fs.sync_dir(p("/db")).unwrap();
    fs.crash(CrashMode::DropUnsynced, 0);
    assert!(!fs.exists(p("/db/g")).unwrap());
    assert_eq!(read_all(&fs, "/db/f"), b"a");
}

#[test]
fn handles_from_before_a_crash_are_stale() {
    let fs = file_with_tail(b"a", b"");
    let reader = fs.open(p("/db/f")).unwrap();
    let mut writer = fs.create(p("/db/g")).unwrap();
    fs.crash(CrashMode::DropUnsynced, 0);
    let mut buf = [0u8; 1];
    assert!(
        reader
            .read_at(&mut buf, 0)
            .unwrap_err()
            .to_string()
            .contains("stale")
    );
    assert!(reader.size_bytes().is_err());
    assert!(writer.append(b"x").is_err());
    assert!(writer.sync().is_err());
    drop((reader, writer));
    assert_eq!(read_all(&fs, "/db/f"), b"a");
}

#[test]
fn locks_are_exclusive_create_the_file_and_are_released_at_a_crash() {
    let fs = MemFs::new();
    let held = fs.lock(p("/LOCK")).unwrap();
    assert!(fs.exists(p("/LOCK")).unwrap());
    assert_eq!(
        fs.lock(p("/LOCK")).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    fs.crash(CrashMode::DropUnsynced, 0);
    let new = fs.lock(p("/LOCK")).unwrap();
    drop(held); // a stale guard does not release the new holder's lock
    assert_eq!(
        fs.lock(p("/LOCK")).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    drop(new);
    assert!(fs.lock(p("/LOCK")).is_ok());
}

#[test]
fn list_shows_files_and_directories_before_and_after_a_crash() {
    let fs = MemFs::new();
    fs.create_dir(p("/db/tables")).unwrap();
    fs.create(p("/db/a")).unwrap().sync().unwrap();
    fs.create(p("/db/b")).unwrap();
    fs.sync_dir(p("/db")).unwrap();
    fs.create(p("/db/c")).unwrap().sync().unwrap();
    let all = ["/db/a", "/db/b", "/db/c", "/db/tables"].map(PathBuf::from);
    assert_eq!(sorted_list(&fs, "/db"), all);
    fs.crash(CrashMode::DropUnsynced, 0);
    assert_eq!(
        sorted_list(&fs, "/db"),
        all[..2]
            .iter()
            .chain(&all[3..])
            .cloned()
            .collect::<Vec<_>>()
    );
    assert_eq!(sorted_list(&fs, "/"), [PathBuf::from("/db")]);
    assert_eq!(fs.list(p("/nope")).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(
        fs.list(p("/db/a")).unwrap_err().kind(),
        ErrorKind::NotADirectory
    );
}

#[test]
fn paths_and_kinds_are_checked_like_a_real_file_system() {
    let fs = MemFs::new();
    assert_eq!(
        fs.create(p("/no/f")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    fs.create_dir(p("/d")).unwrap();
    fs.create_dir(p("/d")).unwrap();
    assert_eq!(
        fs.create(p("/d")).unwrap_err().kind(),
        ErrorKind::IsADirectory
    );
    assert_eq!(
        fs.remove(p("/d")).unwrap_err().kind(),
        ErrorKind::IsADirectory
    );
    fs.create(p("/d/f")).unwrap();
    assert!(fs.exists(p("/d/./f")).unwrap());
    assert_eq!(
        fs.create_dir(p("/d/f/g")).unwrap_err().kind(),
        ErrorKind::NotADirectory
    );
    assert_eq!(fs.open(p("/d/x")).unwrap_err().kind(), ErrorKind::NotFound);
    fs.rename(p("/d/f"), p("/d/f")).unwrap();
    assert!(fs.exists(p("/d/f")).unwrap());
}

#[test]
fn a_rename_between_directories_needs_both_directories_synced() {
    let fs = MemFs::new();
    fs.create_dir(p("/a")).unwrap();
    fs.create_dir(p("/b")).unwrap();
    fs.create(p("/a/f")).unwrap().sync().unwrap();
    fs.sync_dir(p("/a")).unwrap();
    fs.rename(p("/a/f"), p("/b/f")).unwrap();
    fs.sync_dir(p("/b")).unwrap();
    fs.crash(CrashMode::DropUnsynced, 0);
    // NB: only the target was synced: the file now has both names, as POSIX allows.
    assert!(fs.exists(p("/a/f")).unwrap() && fs.exists(p("/b/f")).unwrap());
}

#[test]
fn a_tree_runs_on_memfs_and_its_flushed_table_survives_a_crash() {
    use crate::{Config, SequenceNumberCounter};

    let fs = MemFs::new();
    let open = || {
        Config::new(
            "/db",
            SequenceNumberCounter::default(),
            SequenceNumberCounter::default(),
        )
        .fs(Arc::new(fs.clone()))
        .open()
        .unwrap()
    };
    let tree = open();
    for i in 0..100u32 {
        tree.insert(format!("key{i:03}"), format!("value{i}"), u64::from(i));
    }
    tree.flush_active_memtable(0).unwrap();
    assert_eq!(tree.table_count(), 1);
    assert_eq!(tree.get("key042", 200).unwrap(), Some("value42".into()));
    let tables = fs.list(p("/db/tables")).unwrap();
    assert_eq!(tables, [PathBuf::from("/db/tables/0.sst")]);
    let size = fs.open(&tables[0]).unwrap().size_bytes().unwrap();

    fs.crash(CrashMode::DropUnsynced, 1);
    assert_eq!(fs.list(p("/db/tables")).unwrap(), tables);
    assert_eq!(fs.open(&tables[0]).unwrap().size_bytes().unwrap(), size);
    // The crash released the lock: a new tree opens while the old handle still exists.
    let reopened = open();
    drop(tree);
    reopened.insert("after", "crash", 0);
    reopened.flush_active_memtable(0).unwrap();
    assert!(
        fs.exists(p("/db/tables/1.sst")).unwrap(),
        "no table id is reused"
    );
}

#[test]
fn remove_dir_takes_only_an_empty_directory() {
    let fs = MemFs::new();
    fs.create_dir(p("/db/ks/1/tables")).unwrap();
    fs.create(p("/db/ks/1/f")).unwrap();
    let err = fs.remove_dir(p("/db/ks/1")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DirectoryNotEmpty, "a file in it");
    fs.remove(p("/db/ks/1/f")).unwrap();
    let err = fs.remove_dir(p("/db/ks/1")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DirectoryNotEmpty, "a folder in it");
    fs.remove_dir(p("/db/ks/1/tables")).unwrap();
    fs.remove_dir(p("/db/ks/./1")).unwrap();
    assert!(!fs.exists(p("/db/ks/1")).unwrap());
    assert_eq!(sorted_list(&fs, "/db/ks"), Vec::<PathBuf>::new());
    assert_eq!(
        fs.remove_dir(p("/db/ks/1")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(fs.remove_dir(p("/")).is_err(), "a root stays");
    assert!(fs.remove_dir(p("/db/ks")).is_ok());
    assert_eq!(sorted_list(&fs, "/db"), Vec::<PathBuf>::new());
}

#[test]
fn a_removed_directory_comes_back_unless_its_parent_was_synced() {
    // `/db/ks/1` held `f`, synced; `f` removed and the folder removed, nothing synced after.
    let setup = || {
        let fs = MemFs::new();
        fs.create_dir(p("/db/ks/1")).unwrap();
        let mut file = fs.create(p("/db/ks/1/f")).unwrap();
        file.append(b"data").unwrap();
        file.sync().unwrap();
        fs.sync_dir(p("/db/ks/1")).unwrap();
        fs.remove(p("/db/ks/1/f")).unwrap();
        fs.remove_dir(p("/db/ks/1")).unwrap();
        fs
    };
    for mode in CrashMode::ALL {
        let fs = setup();
        fs.crash(mode, 1);
        assert!(fs.exists(p("/db/ks/1")).unwrap(), "{mode:?}: back");
        assert_eq!(sorted_list(&fs, "/db/ks"), vec![PathBuf::from("/db/ks/1")]);
        if mode != CrashMode::PartialDirectory {
            assert_eq!(
                read_all(&fs, "/db/ks/1/f"),
                b"data",
                "{mode:?}: its file too"
            );
        }

        let fs = setup();
        fs.sync_dir(p("/db/ks")).unwrap();
        fs.crash(mode, 1);
        assert!(
            !fs.exists(p("/db/ks/1")).unwrap(),
            "{mode:?}: gone for good"
        );
        assert_eq!(sorted_list(&fs, "/db/ks"), Vec::<PathBuf>::new());
    }
}

#[test]
fn list_names_the_subdirectories_of_a_folder_only() {
    let fs = MemFs::new();
    for dir in ["/db/a/x", "/db/b", "/db-x/c", "/dc", "rel/d"] {
        fs.create_dir(p(dir)).unwrap();
    }
    fs.create(p("/db/f")).unwrap();
    assert_eq!(
        sorted_list(&fs, "/db"),
        ["/db/a", "/db/b", "/db/f"].map(PathBuf::from)
    );
    assert_eq!(sorted_list(&fs, "/db/a"), vec![PathBuf::from("/db/a/x")]);
    assert_eq!(sorted_list(&fs, "rel"), vec![PathBuf::from("rel/d")]);
    assert_eq!(sorted_list(&fs, ""), vec![PathBuf::from("rel")]);
    assert_eq!(
        sorted_list(&fs, "/"),
        ["/db", "/db-x", "/dc"].map(PathBuf::from)
    );
}
