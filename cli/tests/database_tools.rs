//! The `strata` binary's tools on a database folder, as a user runs them: the key-value commands
//! with `--keyspace` across invocations, `wal-dump` on clean, torn and damaged WALs, and
//! `inspect` and `verify` covering the `VERSION` marker, the catalog, the WAL and every
//! keyspace's tree, all without changing a byte of the folder.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    reason = "test code reads and damages files behind the tool's back"
)]

mod common;

use std::path::{Path, PathBuf};

use common::{fails, flip, ok, s, snapshot_all};

use strata::internals::{read_wal_segment, settle_keyspace, wal_dir, wal_segment_files};
use strata::{Database, KeyspaceCreateOptions, PersistMode};

/// A database with two keyspaces, written through the library: `users` holds `n` keys
/// (`user000`...) settled into tables, then one batch across both keyspaces (an insert whose
/// key holds a tab, a remove, a range remove) stays in the WAL only.
fn database(dir: &Path, n: u32) {
    let db = Database::builder(dir).open().unwrap();
    let users = db
        .keyspace("users", KeyspaceCreateOptions::default)
        .unwrap();
    let posts = db
        .keyspace("posts", KeyspaceCreateOptions::default)
        .unwrap();
    for i in 0..n {
        users
            .insert(format!("user{i:03}"), format!("name-{i}"))
            .unwrap();
    }
    settle_keyspace(&users).unwrap();
    let mut batch = db.batch().durability(Some(PersistMode::SyncData));
    batch.insert(&posts, "p\t1", "hello");
    batch.remove(&users, "user000");
    batch.commit().unwrap();
    posts.remove_range("q", "r").unwrap();
    db.persist(PersistMode::SyncAll).unwrap();
}

/// The segment files of the database at `dir` that hold batches, in id order.
fn data_segments(dir: &Path) -> Vec<PathBuf> {
    wal_segment_files(&wal_dir(dir))
        .unwrap()
        .into_iter()
        .map(|(_, path)| path)
        .filter(|path| !read_wal_segment(path).unwrap().batches.is_empty())
        .collect()
}

#[test]
fn put_get_delete_scan_and_prefix_work_on_a_keyspace_across_invocations() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let d = s(&dir);
    for (keyspace, k, v) in [
        ("fruit", "apple", "red"),
        ("fruit", "banana", "yellow"),
        ("fruit", "blueberry", "blue"),
        ("veg", "beet", "purple"),
    ] {
        assert_eq!(ok(&["put", d, k, v, "--keyspace", keyspace]), "");
    }
    assert!(dir.join("CATALOG").is_file() && dir.join("wal").is_dir());
    assert_eq!(
        ok(&["get", d, "banana", "--keyspace", "fruit"]),
        "banana\tyellow\n"
    );
    // Keyspaces are separate.
    let (_, err) = fails(&["get", d, "beet", "--keyspace", "fruit"]);
    assert_eq!(err, "error: key not found: beet");
    assert_eq!(
        ok(&["scan", d, "--keyspace", "fruit", "--from", "b", "--reverse"]),
        "blueberry\tblue\nbanana\tyellow\n"
    );
    assert_eq!(
        ok(&["prefix", d, "b", "--keyspace", "veg"]),
        "beet\tpurple\n"
    );
    assert_eq!(ok(&["delete", d, "apple", "--keyspace", "fruit"]), "");
    assert_eq!(
        ok(&["scan", d, "--keyspace", "fruit", "--hex", "--limit", "1"]),
        "62616e616e61\t79656c6c6f77\n"
    );
    // What the commands wrote is what the library reads back.
    let db = Database::builder(&dir).open().unwrap();
    assert_eq!(db.list_keyspace_names(), ["fruit", "veg"]);
    let fruit = db
        .keyspace("fruit", KeyspaceCreateOptions::default)
        .unwrap();
    assert_eq!(fruit.get("apple").unwrap(), None);
    assert_eq!(fruit.get("blueberry").unwrap(), Some("blue".into()));
}

#[test]
fn a_database_needs_a_keyspace_and_an_unknown_one_is_refused_without_a_write() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let d = s(&dir);
    ok(&["put", d, "k", "v", "--keyspace", "a"]);
    ok(&["put", d, "k", "v", "--keyspace", "b"]);
    let (_, err) = fails(&["get", d, "k"]);
    assert_eq!(
        err,
        format!("error: {d} holds a database: pass --keyspace NAME (its keyspaces: a, b)")
    );
    let before = snapshot_all(&dir);
    for args in [
        &["get", d, "k", "--keyspace", "nosuch"][..],
        &["scan", d, "--keyspace", "nosuch"],
        &["delete", d, "k", "--keyspace", "nosuch"],
    ] {
        let (_, err) = fails(args);
        assert_eq!(
            err,
            format!("error: {d} has no keyspace \"nosuch\" (its keyspaces: a, b)")
        );
    }
    assert_eq!(snapshot_all(&dir), before, "a refused command wrote");

    // A tree's folder refuses --keyspace; a folder that holds neither is not made a database.
    let tree = tmp.path().join("tree");
    ok(&["put", s(&tree), "k", "v"]);
    let (_, err) = fails(&["get", s(&tree), "k", "--keyspace", "a"]);
    assert!(err.contains("holds a tree, not a database"), "{err}");
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let (_, err) = fails(&["put", s(&other), "k", "v", "--keyspace", "a"]);
    assert!(err.contains("refusing to create one there"), "{err}");
    let (_, err) = fails(&[
        "get",
        s(&tmp.path().join("missing")),
        "k",
        "--keyspace",
        "a",
    ]);
    assert!(err.contains("holds no database"), "{err}");
}

#[test]
fn wal_dump_prints_every_segment_batch_and_item() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    database(&dir, 20);
    let before = snapshot_all(&dir);
    let out = ok(&["wal-dump", s(&dir)]);
    assert_eq!(snapshot_all(&dir), before, "wal-dump wrote");
    assert!(
        out.starts_with(&format!("wal {}: ", dir.join("wal").display())),
        "{out}"
    );
    assert!(
        out.contains("; header: version 1, segment id 1, previous end -\n"),
        "{out}"
    );
    // The users' writes (keyspace 1), the cross-keyspace batch and the range remove, in order.
    assert!(out.contains("    1 (users)\tinsert\tuser000\t6\n"), "{out}");
    let batch = out
        .find("batch seqno 20, 2 items")
        .unwrap_or_else(|| panic!("{out}"));
    let rest = &out[batch..];
    assert!(
        rest.contains("    2 (posts)\tinsert\tp\\t1\t5\n    1 (users)\tremove\tuser000\t-\n"),
        "{out}"
    );
    assert!(
        rest.contains("    2 (posts)\tremove_range\tq..r\t-\n"),
        "{out}"
    );
    assert!(out.contains("  end: clean ("), "{out}");
    // The segment's preallocated zeros are no tail of a write cut short.
    assert!(out.contains("bytes preallocated after them) ("), "{out}");
    assert!(!out.contains("cut short"), "{out}");
    assert!(
        out.contains("recovery: replays ") && out.contains("last seqno 21\n"),
        "{out}"
    );
    // --hex prints keys as hex; the wal/ folder itself is accepted too.
    let hex = ok(&["wal-dump", s(&dir.join("wal")), "--hex"]);
    assert!(hex.contains("    2 (posts)\tinsert\t700931\t5\n"), "{hex}");
}

#[test]
fn a_torn_tail_is_reported_and_tolerated_and_damage_names_the_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    database(&dir, 5);
    let last = data_segments(&dir).pop().unwrap();
    let bytes = std::fs::read(&last).unwrap();
    let read = read_wal_segment(&last).unwrap();
    let last_batch = read.batches.last().unwrap().offset;
    // Cut inside the last record (the file's preallocated zeros go with the cut).
    let records_end = usize::try_from(read.used_bytes()).unwrap();
    std::fs::write(&last, &bytes[..records_end - 3]).unwrap();
    let out = ok(&["wal-dump", s(&dir)]);
    assert!(
        out.contains(&format!("  end: torn at offset {last_batch} (")),
        "{out}"
    );
    let verified = ok(&["verify", s(&dir)]);
    assert!(
        verified.contains(&format!(
            "warning: {} ends in a torn tail at offset {last_batch}",
            last.display()
        )),
        "{verified}"
    );
    assert!(verified.contains("\nclean: "), "{verified}");

    // A flipped bit inside the first batch of the first data segment is damage, not a tail.
    let first = data_segments(&dir).remove(0);
    let offset = read_wal_segment(&first).unwrap().batches[0].offset;
    flip(&first, usize::try_from(offset).unwrap() + 20);
    let named = format!("corruption in {} at offset {offset}", first.display());
    let (out, err) = fails(&["wal-dump", s(&dir)]);
    assert!(out.contains(&format!("  end: damaged: {named}")), "{out}");
    assert!(
        out.contains(&format!("recovery: refuses the WAL: {named}")),
        "{out}"
    );
    assert!(err.contains("is damaged (1 damaged segment"), "{err}");
    let (out, err) = fails(&["verify", s(&dir)]);
    assert!(out.contains(&format!("damage: {named}")), "{out}");
    assert_eq!(out.matches("damage: ").count(), 1, "{out}");
    assert!(err.ends_with("holds 1 damage (listed above)"), "{err}");
    let inspected = ok(&["inspect", s(&dir)]);
    assert!(
        inspected.contains(&format!("recovery    refuses the WAL: {named}")),
        "{inspected}"
    );
}

#[test]
fn inspect_and_verify_cover_the_catalog_the_wal_and_every_keyspace() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    database(&dir, 300);
    std::fs::create_dir_all(dir.join("keyspaces").join("9")).unwrap();
    let before = snapshot_all(&dir);
    let out = ok(&["inspect", s(&dir)]);
    assert!(
        out.starts_with(&format!(
            "database    {}\nversion     strata-db 1\n",
            s(&dir)
        )),
        "{out}"
    );
    assert!(out.contains("2 keyspaces, next keyspace id 3\n"), "{out}");
    assert!(
        out.contains("\n1   users     67108864        off            leveled     no\n"),
        "{out}"
    );
    assert!(
        out.contains("  keyspace 1 policies: Policies { data_block_size: BlockSizePolicy([4096])"),
        "{out}"
    );
    assert!(
        out.contains("\nsegment  bytes  batches  items  seqnos"),
        "{out}"
    );
    assert!(out.contains("wal items   keyspace 1: "), "{out}");
    assert!(out.contains("recovery    replays "), "{out}");
    assert!(
        out.contains("orphan      ") && out.contains("keyspaces/9"),
        "{out}"
    );
    let users = out.find("keyspace    users (id 1)\ntree        ").unwrap();
    let posts = out.find("keyspace    posts (id 2)\ntree        ").unwrap();
    // The users' tree holds its settled table and all 300 keys live.
    assert!(out[users..posts].contains("live data   300 keys"), "{out}");

    let verified = ok(&["verify", s(&dir)]);
    let clean = verified.lines().last().unwrap();
    assert!(
        clean.starts_with("clean: ") && clean.contains("VERSION, CATALOG with 2 keyspaces, "),
        "{verified}"
    );
    assert!(clean.contains("2 manifests of 2 keyspaces"), "{verified}");
    assert!(clean.contains("1 table)"), "{verified}");
    assert!(
        verified.contains("warning: orphan keyspace folder ") && verified.contains("keyspaces/9"),
        "{verified}"
    );
    assert_eq!(snapshot_all(&dir), before, "inspect or verify wrote");

    // Damage in a keyspace's table is found and named like a tree's.
    let table = std::fs::read_dir(dir.join("keyspaces/1/tables"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .unwrap();
    flip(&table, 10);
    let (out, _) = fails(&["verify", s(&dir)]);
    assert!(
        out.contains(&format!("damage: corruption in {}", table.display())),
        "{out}"
    );
    // So is a damaged catalog.
    flip(&dir.join("CATALOG"), 20);
    let (out, _) = fails(&["verify", s(&dir)]);
    assert!(
        out.contains(&format!(
            "damage: corruption in {}",
            dir.join("CATALOG").display()
        )),
        "{out}"
    );
}

#[test]
fn inspect_and_verify_read_every_pending_log_and_name_a_damaged_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let descending =
        || KeyspaceCreateOptions::default().comparator(std::sync::Arc::new(common::Descending));
    {
        let db = Database::builder(&dir).open().unwrap();
        let items = db.keyspace("items", descending).unwrap();
        for i in 0..20u32 {
            items.insert(format!("k{i:02}"), "v").unwrap();
        }
        db.persist(PersistMode::SyncAll).unwrap();
    }
    // An open that cannot replay the keyspace's writes (it was not given the comparator) keeps
    // them in its pending log.
    drop(Database::builder(&dir).open().unwrap());
    let logs = strata::internals::pending_log_files(&dir).unwrap();
    assert_eq!(logs.len(), 1);
    let (id, log) = logs[0].clone();
    assert_eq!(
        strata::internals::read_pending_log(&dir, id).unwrap().len(),
        20
    );
    let before = snapshot_all(&dir);
    let inspected = ok(&["inspect", s(&dir)]);
    assert!(
        inspected.contains(&format!(
            "pending     keyspace {id}: 20 items until its first open"
        )),
        "{inspected}"
    );
    let verified = ok(&["verify", s(&dir)]);
    let clean = verified.lines().last().unwrap();
    assert!(
        clean.starts_with("clean: ") && clean.contains("1 pending log"),
        "{verified}"
    );
    assert_eq!(snapshot_all(&dir), before, "verify wrote");
    std::fs::write(dir.join("pending").join("7.log.tmp"), b"cut short").unwrap();
    let verified = ok(&["verify", s(&dir)]);
    assert!(
        verified.contains("warning: ") && verified.contains("7.log.tmp"),
        "{verified}"
    );
    flip(&log, 40);
    let (out, _) = fails(&["verify", s(&dir)]);
    assert!(
        out.contains(&format!("damage: corruption in {}", log.display())),
        "{out}"
    );
}

/// A keyspace created with the application's own compaction strategy (whose name every open
/// must give) still opens in the tools: `get`, `scan` and `stats` read it through a stand-in of
/// that name.
#[test]
fn the_tools_open_a_keyspace_created_with_an_application_strategy() {
    use std::sync::Arc;
    use strata::compaction::{Choice, CompactionStrategy, TreeView};
    struct Mine;
    impl CompactionStrategy for Mine {
        fn name(&self) -> &'static str {
            "app.mine"
        }
        fn choose(&self, _: &TreeView) -> Choice {
            Choice::DoNothing
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    {
        let db = Database::builder(&dir).open().unwrap();
        let ks = db
            .keyspace("mine", || {
                KeyspaceCreateOptions::default().compaction_strategy(Arc::new(Mine))
            })
            .unwrap();
        ks.insert("k", "v").unwrap();
        settle_keyspace(&ks).unwrap();
        ks.insert("k2", "v2").unwrap();
    }
    let d = s(&dir);
    assert_eq!(ok(&["get", d, "k", "--keyspace", "mine"]), "k\tv\n");
    assert_eq!(ok(&["get", d, "k2", "--keyspace", "mine"]), "k2\tv2\n");
    let stats = ok(&["stats", d]);
    assert!(stats.contains("level0.tables"), "{stats}");
    let inspected = ok(&["inspect", d]);
    assert!(inspected.contains("app.mine"), "{inspected}");
}
