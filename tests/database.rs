//! `strata::Database` (API.md "`strata::Database`"): keyspaces, the write-ahead log, batches,
//! snapshots, background workers and poisoning, with fjall's known defects each turned into a
//! named test (../shared/designs/database.md, section A).

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "test code; some tests damage files behind the engine's back"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata::fs::{CrashMode, Fault, FaultFs, FaultOp, Fs, MemFs};
use strata::{
    Database, Error, Guard, KeyspaceCreateOptions, MergeOperator, PersistMode, Readable, Slice,
    UserComparator,
};

fn mem_db(fs: &MemFs) -> Database {
    Database::builder("/db")
        .fs(Arc::new(fs.clone()))
        .worker_threads(1)
        .open()
        .unwrap()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Pulls the plug on `fs` with `db` open: everything not synced is lost.
fn power_loss(fs: &MemFs, db: Database, mode: CrashMode, seed: u64) {
    fs.crash_at(0);
    drop(db);
    fs.crash(mode, seed);
    fs.disarm();
}

#[test]
fn writes_survive_a_reopen_through_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::builder(dir.path()).open().unwrap();
        let items = db
            .keyspace("items", KeyspaceCreateOptions::default)
            .unwrap();
        for i in 0..1000u32 {
            items.insert(format!("k{i:04}"), format!("v{i}")).unwrap();
        }
        items.remove("k0000").unwrap();
        items.remove_range("k0100", "k0200").unwrap();
        assert_eq!(items.len().unwrap(), 899);
        assert_eq!(db.keyspace_count(), 1);
    }
    let db = Database::builder(dir.path()).open().unwrap();
    assert_eq!(db.list_keyspace_names(), ["items"]);
    assert!(db.keyspace_exists("items"));
    let items = db
        .keyspace("items", KeyspaceCreateOptions::default)
        .unwrap();
    assert_eq!(items.len().unwrap(), 899);
    assert_eq!(items.get("k0999").unwrap(), Some(Slice::from("v999")));
    assert_eq!(items.get("k0150").unwrap(), None);
    assert_eq!(items.get("k0000").unwrap(), None);
    let keys: Vec<Slice> = items
        .range("k0098".."k0202")
        .map(|g| g.key().unwrap())
        .collect();
    assert_eq!(keys, ["k0098", "k0099", "k0200", "k0201"]);
}

#[test]
fn a_second_open_of_the_folder_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::builder(dir.path()).open().unwrap();
    assert!(matches!(
        Database::builder(dir.path()).open(),
        Err(Error::Locked)
    ));
    drop(db);
    assert!(Database::builder(dir.path()).open().is_ok());
}

#[test]
fn batches_are_atomic_across_keyspaces_and_a_crash() {
    let fs = MemFs::new();
    let db = mem_db(&fs);
    let a = db.keyspace("a", KeyspaceCreateOptions::default).unwrap();
    let b = db.keyspace("b", KeyspaceCreateOptions::default).unwrap();
    for i in 0..50u32 {
        let mut batch = db.batch().durability(Some(PersistMode::SyncData));
        batch.insert(&a, format!("k{i}"), "a");
        batch.insert(&b, format!("k{i}"), "b");
        batch.commit().unwrap();
    }
    // An unsynced batch may be lost, but never in part.
    let mut batch = db.batch();
    batch.insert(&a, "last", "a");
    batch.insert(&b, "last", "b");
    batch.commit().unwrap();
    drop((a, b));
    power_loss(&fs, db, CrashMode::TornWrites, 3);
    let db = mem_db(&fs);
    let a = db.keyspace("a", KeyspaceCreateOptions::default).unwrap();
    let b = db.keyspace("b", KeyspaceCreateOptions::default).unwrap();
    for i in 0..50u32 {
        assert_eq!(a.get(format!("k{i}")).unwrap(), Some(Slice::from("a")));
        assert_eq!(b.get(format!("k{i}")).unwrap(), Some(Slice::from("b")));
    }
    assert_eq!(
        a.get("last").unwrap().is_some(),
        b.get("last").unwrap().is_some(),
        "all or nothing"
    );
}

/// Regression: an ingestion's `finish` flushed the keyspace's memtable without syncing the WAL
/// first (the database's own flushes sync it), so after a power loss the flushed half of an
/// unsynced batch survived in a table while its other keyspace's half, in the WAL only, was
/// lost. Now the batch comes back whole or not at all, and the ingested data survives.
#[test]
fn an_ingestion_never_tears_an_unsynced_batch_across_a_power_loss() {
    for (mode, seed) in [(CrashMode::DropUnsynced, 1), (CrashMode::TornWrites, 2)] {
        let fs = MemFs::new();
        let db = mem_db(&fs);
        let a = db.keyspace("a", KeyspaceCreateOptions::default).unwrap();
        let b = db.keyspace("b", KeyspaceCreateOptions::default).unwrap();
        let mut batch = db.batch();
        batch.insert(&a, "pair", "a");
        batch.insert(&b, "pair", "b");
        batch.commit().unwrap();
        let mut ingestion = a.start_ingestion().unwrap();
        ingestion.write("zz-ingested", "i").unwrap();
        ingestion.finish().unwrap();
        drop((a, b));
        power_loss(&fs, db, mode, seed);
        let db = mem_db(&fs);
        let a = db.keyspace("a", KeyspaceCreateOptions::default).unwrap();
        let b = db.keyspace("b", KeyspaceCreateOptions::default).unwrap();
        assert_eq!(
            a.get("pair").unwrap(),
            Some(Slice::from("a")),
            "{mode:?}: flushed by the ingestion"
        );
        assert_eq!(
            b.get("pair").unwrap(),
            Some(Slice::from("b")),
            "{mode:?}: the batch's other half"
        );
        assert_eq!(a.get("zz-ingested").unwrap(), Some(Slice::from("i")));
    }
}

/// fjall #241: `clear` wrote nothing recovery could see, and replay brought the data back.
#[test]
fn fjall_241_clear_stays_cleared_after_a_reopen() {
    let fs = MemFs::new();
    let db = mem_db(&fs);
    let items = db
        .keyspace("items", KeyspaceCreateOptions::default)
        .unwrap();
    for i in 0..100u32 {
        items.insert(format!("k{i}"), "v").unwrap();
    }
    items.clear().unwrap();
    assert!(items.is_empty().unwrap());
    items.insert("after", "clear").unwrap();
    db.persist(PersistMode::SyncAll).unwrap();
    drop(items);
    power_loss(&fs, db, CrashMode::DropUnsynced, 1);
    let db = mem_db(&fs);
    let items = db
        .keyspace("items", KeyspaceCreateOptions::default)
        .unwrap();
    assert_eq!(items.len().unwrap(), 1);
    assert_eq!(items.get("after").unwrap(), Some(Slice::from("clear")));
}

/// A database in `fs` with one worker and 16 KiB WAL segments (the WAL release tests).
fn small_segments_db(fs: &MemFs) -> Database {
    Database::builder("/db")
        .fs(Arc::new(fs.clone()))
        .worker_threads(1)
        .journal_segment_size(16 << 10)
        .open()
        .unwrap()
}

/// 32 KiB memtables (the WAL release tests).
fn small_memtables() -> KeyspaceCreateOptions {
    KeyspaceCreateOptions::default().max_memtable_size(32 << 10)
}

/// Writes `count` 40-byte values to `hot`, every 1,000 writes waiting until the WAL has at most
/// `bound` segments; returns the most segments seen then.
fn write_hot(db: &Database, hot: &strata::Keyspace, count: u32, bound: usize) -> usize {
    let mut most = 0;
    for i in 0..count {
        hot.insert(format!("k{i:06}"), [7u8; 40]).unwrap();
        if i % 1000 == 999 {
            wait_until("the WAL is released", || db.journal_count() <= bound);
            most = most.max(db.journal_count());
        }
    }
    most
}

/// fjall #288 / #261: an idle keyspace pinned every journal after it; the WAL grew without bound.
#[test]
fn fjall_288_an_idle_keyspace_never_pins_the_wal() {
    let fs = MemFs::new();
    let db = small_segments_db(&fs);
    let idle = db.keyspace("idle", small_memtables).unwrap();
    let hot = db.keyspace("hot", small_memtables).unwrap();
    idle.insert("once", "only").unwrap();
    idle.clear().unwrap();
    let most = write_hot(&db, &hot, 20_000, 4);
    assert!(most <= 4, "{most} segments");
    assert!(hot.table_count() > 0, "the hot keyspace was flushed");
}

/// fjall #288, the harder case: the idle keyspace keeps an unflushed write. Far below
/// `max_journaling_size`, it still pins at most two segments behind the current one: the
/// workers flush it once its data is that old, and its write survives a reopen.
#[test]
fn fjall_288_an_idle_keyspace_with_an_unflushed_write_pins_at_most_two_segments() {
    let fs = MemFs::new();
    let db = small_segments_db(&fs);
    let idle = db.keyspace("idle", small_memtables).unwrap();
    let hot = db.keyspace("hot", small_memtables).unwrap();
    idle.insert("once", "only").unwrap();
    // Two pinned by the idle keyspace at most, the hot memtable's (32 KiB: up to three segments
    // of 16 KiB) and the current one overlap them.
    let most = write_hot(&db, &hot, 20_000, 5);
    assert!(most <= 5, "{most} segments");
    assert!(idle.table_count() > 0, "the idle keyspace was flushed");
    drop((idle, hot));
    drop(db);
    let db = small_segments_db(&fs);
    let idle = db.keyspace("idle", small_memtables).unwrap();
    assert_eq!(idle.get("once").unwrap(), Some(Slice::from("only")));
}

/// fjall #288 in its recovery form: after a crash, a keyspace that the application does not
/// open again kept the WAL segments holding its unflushed writes for the whole session. The
/// database's open writes them to the keyspace's tables (it has the default comparator and no
/// merge operand), so the WAL is released while the keyspace stays closed, and its data is all
/// there when it is opened at last.
#[test]
fn fjall_288_a_keyspace_not_opened_after_a_crash_does_not_pin_the_wal() {
    let fs = MemFs::new();
    {
        let db = small_segments_db(&fs);
        let idle = db.keyspace("idle", small_memtables).unwrap();
        for i in 0..200u32 {
            idle.insert(format!("i{i:03}"), [1u8; 100]).unwrap();
        }
        idle.remove("i007").unwrap();
        db.persist(PersistMode::SyncAll).unwrap();
        power_loss(&fs, db, CrashMode::DropUnsynced, 1);
    }
    let db = small_segments_db(&fs);
    let hot = db.keyspace("hot", small_memtables).unwrap();
    let most = write_hot(&db, &hot, 10_000, 4);
    assert!(most <= 4, "{most} segments");
    let idle = db.keyspace("idle", small_memtables).unwrap();
    assert!(
        idle.table_count() > 0,
        "written to a table at the database's open"
    );
    assert_eq!(idle.len().unwrap(), 199);
    assert_eq!(idle.get("i007").unwrap(), None);
    assert_eq!(idle.get("i199").unwrap(), Some(Slice::from(vec![1u8; 100])));
}

/// fjall #288 with merge operands: the database's open settles a keyspace whose log holds merge
/// operands without its merge operator (which is not persisted), keeping every version, so the
/// WAL is released while the keyspace stays closed; opened later with its operator, it reads
/// each base with its operands applied, also after a compaction merges them.
#[test]
fn fjall_288_a_keyspace_with_merge_operands_not_opened_after_a_crash_does_not_pin_the_wal() {
    let fs = MemFs::new();
    let counts = || small_memtables().with_merge_operator(Some(Arc::new(Concat)));
    {
        let db = small_segments_db(&fs);
        let idle = db.keyspace("counts", counts).unwrap();
        for i in 0..200u32 {
            idle.insert(format!("c{i:03}"), format!("{i}")).unwrap();
            idle.merge(format!("c{i:03}"), "+").unwrap();
        }
        idle.merge("c007", "-").unwrap();
        idle.merge("fresh", "only").unwrap();
        db.persist(PersistMode::SyncAll).unwrap();
        power_loss(&fs, db, CrashMode::DropUnsynced, 3);
    }
    let db = small_segments_db(&fs);
    let hot = db.keyspace("hot", small_memtables).unwrap();
    let most = write_hot(&db, &hot, 10_000, 4);
    assert!(most <= 4, "{most} segments");
    let idle = db.keyspace("counts", counts).unwrap();
    assert!(
        idle.table_count() > 0,
        "written to a table at the database's open"
    );
    let expect = |idle: &strata::Keyspace| {
        assert_eq!(idle.get("c007").unwrap(), Some(Slice::from("7+-")));
        assert_eq!(idle.get("c199").unwrap(), Some(Slice::from("199+")));
        assert_eq!(idle.get("fresh").unwrap(), Some(Slice::from("only")));
        assert_eq!(idle.len().unwrap(), 201);
    };
    expect(&idle);
    idle.major_compact().unwrap();
    expect(&idle);
}

/// The files in the database's `pending/` folder (the pending logs of keyspaces with a custom
/// comparator, written by an open that cannot replay them).
fn pending_logs(fs: &MemFs) -> Vec<std::path::PathBuf> {
    use strata::fs::Fs as _;
    fs.list(std::path::Path::new("/db/pending"))
        .unwrap_or_default()
}

/// fjall #288 with a custom comparator: the open cannot put such a keyspace's logged writes in a
/// memtable (only the application has the comparator), so it copies them to the keyspace's
/// pending log, durably, and the WAL is released while the keyspace stays closed, over two
/// sessions with a power loss each. The first open reads them in the comparator's order, and
/// removes the pending log once a table holds them.
#[test]
fn fjall_288_a_custom_comparator_keyspace_not_opened_after_a_crash_does_not_pin_the_wal() {
    let fs = MemFs::new();
    let options = || {
        small_memtables()
            .comparator(Arc::new(Reverse))
            .with_merge_operator(Some(Arc::new(Concat)))
    };
    {
        let db = small_segments_db(&fs);
        let idle = db.keyspace("sorted", options).unwrap();
        for i in 0..200u32 {
            idle.insert(format!("s{i:03}"), format!("{i}")).unwrap();
        }
        idle.merge("s007", "+").unwrap();
        idle.remove("s008").unwrap();
        // In the reverse order: from s149 down to (not including) s099.
        idle.remove_range("s149", "s099").unwrap();
        db.persist(PersistMode::SyncAll).unwrap();
        power_loss(&fs, db, CrashMode::DropUnsynced, 4);
    }
    for session in 0..2u64 {
        let db = small_segments_db(&fs);
        assert_eq!(pending_logs(&fs).len(), 1, "session {session}");
        let hot = db.keyspace("hot", small_memtables).unwrap();
        let most = write_hot(&db, &hot, 5_000, 4);
        assert!(most <= 4, "session {session}: {most} segments");
        db.persist(PersistMode::SyncAll).unwrap();
        power_loss(&fs, db, CrashMode::PartialDirectory, 5 + session);
    }
    let db = small_segments_db(&fs);
    let idle = db.keyspace("sorted", options).unwrap();
    assert!(pending_logs(&fs).is_empty(), "removed once flushed");
    assert!(idle.table_count() > 0);
    let keys: Vec<Slice> = idle.iter().map(|g| g.key().unwrap()).collect();
    let mut expected: Vec<Slice> = (0..200u32)
        .filter(|i| *i != 8 && !(100..150).contains(i))
        .map(|i| Slice::from(format!("s{i:03}")))
        .collect();
    expected.reverse();
    assert_eq!(keys, expected, "in the comparator's order, deletes applied");
    assert_eq!(idle.get("s007").unwrap(), Some(Slice::from("7+")));
    drop(idle);
    power_loss(&fs, db, CrashMode::DropUnsynced, 9);
    let db = small_segments_db(&fs);
    let idle = db.keyspace("sorted", options).unwrap();
    assert_eq!(
        idle.len().unwrap(),
        expected.len(),
        "flushed before the log went"
    );
}

/// A power loss at every file call of an open that writes a pending log (phase 0), and of the
/// next open, which deletes the old WAL segments the pending log covers, then of the first open
/// of the keyspace, which replays, flushes and removes the pending log (phase 1): the next open
/// reads every logged write exactly once, whichever of the WAL and the pending log survived.
#[test]
fn a_crash_while_a_pending_log_is_written_or_removed_loses_nothing() {
    let options = || KeyspaceCreateOptions::default().comparator(Arc::new(Reverse));
    let open = |fs: &MemFs| {
        Database::builder("/db")
            .fs(Arc::new(fs.clone()))
            .worker_threads(0)
            .open()
    };
    let expected: Vec<Slice> = (0..30u32)
        .rev()
        .filter(|i| *i != 3)
        .map(|i| Slice::from(format!("k{i:02}")))
        .collect();
    let mut crashed = [0; 2];
    for (phase, crashed) in crashed.iter_mut().enumerate() {
        for k in 1..40u64 {
            let fs = MemFs::new();
            {
                let db = open(&fs).unwrap();
                let items = db.keyspace("items", options).unwrap();
                for i in 0..30u32 {
                    items.insert(format!("k{i:02}"), format!("v{i}")).unwrap();
                }
                items.remove("k03").unwrap();
                db.persist(PersistMode::SyncAll).unwrap();
                power_loss(&fs, db, CrashMode::DropUnsynced, k);
            }
            if phase == 1 {
                // An open that writes the pending log and leaves the keyspace closed.
                drop(open(&fs).unwrap());
                assert_eq!(pending_logs(&fs).len(), 1);
            }
            fs.crash_at(k);
            if let Ok(db) = open(&fs) {
                let _ = db.keyspace("items", options);
                drop(db);
            }
            if fs.power_lost() {
                *crashed += 1;
                fs.crash(CrashMode::PartialDirectory, k.wrapping_mul(77));
            }
            fs.disarm();
            let db = open(&fs).unwrap_or_else(|e| panic!("phase {phase} k {k}: reopen: {e}"));
            let items = db.keyspace("items", options).unwrap();
            let keys: Vec<Slice> = items.iter().map(|g| g.key().unwrap()).collect();
            assert_eq!(keys, expected, "phase {phase} k {k}");
            assert_eq!(items.get("k29").unwrap(), Some(Slice::from("v29")));
            assert!(pending_logs(&fs).is_empty(), "phase {phase} k {k}");
        }
    }
    assert!(crashed.iter().all(|&n| n > 15), "{crashed:?} opens crashed");
}

/// The keyspaces that the database's open cannot settle without their options (a custom
/// comparator orders the memtable) keep their logged writes until their first open, and read
/// them right then, in their comparator's order.
#[test]
fn keyspaces_with_a_custom_comparator_are_replayed_at_their_first_open() {
    let fs = MemFs::new();
    let reverse = || KeyspaceCreateOptions::default().comparator(Arc::new(Reverse));
    {
        let db = mem_db(&fs);
        let sorted = db.keyspace("sorted", reverse).unwrap();
        for key in ["a", "b", "c"] {
            sorted.insert(key, key).unwrap();
        }
        db.persist(PersistMode::SyncAll).unwrap();
        power_loss(&fs, db, CrashMode::DropUnsynced, 2);
    }
    let db = mem_db(&fs);
    let sorted = db.keyspace("sorted", reverse).unwrap();
    let keys: Vec<Slice> = sorted.iter().map(|g| g.key().unwrap()).collect();
    assert_eq!(
        keys,
        ["c", "b", "a"].map(Slice::from),
        "in the comparator's order"
    );
}

/// Opens a database in `mem` through a `FaultFs` (one worker) with the keyspace "items".
fn items_through_faults(mem: MemFs) -> (Database, Arc<FaultFs>, strata::Keyspace) {
    let fault = Arc::new(FaultFs::new(Arc::new(mem)));
    let db = Database::builder("/db")
        .fs(Arc::clone(&fault) as Arc<dyn Fs>)
        .worker_threads(1)
        .open()
        .unwrap();
    let items = db
        .keyspace("items", KeyspaceCreateOptions::default)
        .unwrap();
    (db, fault, items)
}

/// fjall #304 / #308: a failed WAL write was swallowed, or did not poison, and later acknowledged
/// writes were lost behind a half-written batch.
#[test]
fn fjall_308_a_failed_wal_write_poisons_and_nothing_failed_is_acknowledged() {
    let mem = MemFs::new();
    let (db, fault, items) = items_through_faults(mem.clone());
    items.insert("before", "ok").unwrap();
    fault.fail(FaultOp::Append, 1, Fault::ShortWrite);
    assert!(matches!(items.insert("torn", "x"), Err(Error::Io { .. })));
    assert!(db.is_poisoned());
    assert!(db.background_error().is_some());
    assert!(matches!(items.insert("after", "x"), Err(Error::Poisoned)));
    let mut batch = db.batch();
    batch.insert(&items, "batch", "x");
    assert!(matches!(batch.commit(), Err(Error::Poisoned)));
    assert!(matches!(
        db.persist(PersistMode::SyncAll),
        Err(Error::Poisoned)
    ));
    // Reads go on, and never see the failed write.
    assert_eq!(items.get("before").unwrap(), Some(Slice::from("ok")));
    assert_eq!(items.get("torn").unwrap(), None);
    fault.clear();
    drop(items);
    drop(db);
    let db = Database::builder("/db")
        .fs(Arc::new(mem.clone()))
        .worker_threads(1)
        .open()
        .unwrap();
    let items = db
        .keyspace("items", KeyspaceCreateOptions::default)
        .unwrap();
    assert_eq!(items.get("before").unwrap(), Some(Slice::from("ok")));
    assert_eq!(items.get("torn").unwrap(), None);
    assert_eq!(items.get("after").unwrap(), None);
    items.insert("again", "ok").unwrap();
}

/// Opens the database in `mem` through a `FaultFs` and poisons it: a `SyncData` write to the
/// keyspace "items" whose sync fails. Returns the database, the fault layer and "items".
fn poisoned_by_a_failed_sync(mem: MemFs) -> (Database, Arc<FaultFs>, strata::Keyspace) {
    let (db, fault, items) = items_through_faults(mem);
    // NB: the worker creates a spare WAL segment after the open; let it finish, so that the
    // failing sync is (almost always) the commit's own.
    std::thread::sleep(Duration::from_millis(100));
    let syncs = fault.calls(FaultOp::Sync);
    fault.fail(FaultOp::Sync, 1, Fault::Io);
    let mut batch = db.batch().durability(Some(PersistMode::SyncData));
    batch.insert(&items, "k", "v");
    // NB: the worker may sync first (it pre-creates the next WAL segment and syncs it): then the
    // failed sync is the worker's, the database is poisoned by it, and the commit is refused
    // with `Poisoned` instead of failing on its own sync. Either way the write is not
    // acknowledged. (A CI run on a clean clone failed here once on the old `Io`-only check.)
    let committed = batch.commit();
    assert!(
        matches!(committed, Err(Error::Io { .. } | Error::Poisoned)),
        "{committed:?}"
    );
    assert!(fault.calls(FaultOp::Sync) > syncs);
    assert!(db.is_poisoned());
    (db, fault, items)
}

/// A failed fsync poisons too, and is never retried and taken for success.
#[test]
fn a_failed_sync_poisons_the_database() {
    let (_db, _fault, items) = poisoned_by_a_failed_sync(MemFs::new());
    assert!(matches!(items.insert("k2", "v"), Err(Error::Poisoned)));
    assert_eq!(
        items.get("k").unwrap(),
        None,
        "the batch whose sync failed was never acknowledged, so it is never seen"
    );
}

/// Opens a database through a `FaultFs` whose syncs take 300 ms, with the keyspace "items",
/// once its worker is idle.
fn slow_sync_db() -> (Database, Arc<FaultFs>, strata::Keyspace) {
    let (db, fault, items) = items_through_faults(MemFs::new());
    // NB: the worker creates a spare WAL segment after the open; let it finish.
    std::thread::sleep(Duration::from_millis(100));
    fault.delay(FaultOp::Sync, Duration::from_millis(300));
    (db, fault, items)
}

/// Starts a `SyncData` batch writing `key` on another thread and returns once its sync is
/// under way.
fn synced_write_in_flight(
    db: &Database,
    fault: &FaultFs,
    items: &strata::Keyspace,
    key: &'static str,
) -> std::thread::JoinHandle<strata::Result<()>> {
    let syncs = fault.calls(FaultOp::Sync);
    let writer = {
        let (db, items) = (db.clone(), items.clone());
        std::thread::spawn(move || {
            let mut batch = db.batch().durability(Some(PersistMode::SyncData));
            batch.insert(&items, key, "v");
            batch.commit()
        })
    };
    wait_until("the synced batch's sync starts", || {
        fault.calls(FaultOp::Sync) > syncs
    });
    writer
}

/// A synced batch is visible only once its sync returned: a sync that may still fail must not
/// show a write that a power loss can take back (a reader would act on it, then lose it).
#[test]
fn a_synced_batch_is_not_visible_before_its_sync_returns() {
    let (db, fault, items) = slow_sync_db();
    let writer = synced_write_in_flight(&db, &fault, &items, "k");
    assert_eq!(items.get("k").unwrap(), None, "visible during its sync");
    let snapshot = db.snapshot();
    assert_eq!(snapshot.get(&items, "k").unwrap(), None);
    writer.join().unwrap().unwrap();
    assert_eq!(items.get("k").unwrap(), Some(Slice::from("v")));
    assert_eq!(
        snapshot.get(&items, "k").unwrap(),
        None,
        "a snapshot keeps its view"
    );
}

/// A write behind a synced batch becomes visible with it, in seqno order, and returns only
/// then: what a writer wrote is visible when its write returns.
#[test]
fn a_write_behind_a_synced_batch_returns_visible_with_it() {
    let (db, fault, items) = slow_sync_db();
    let writer = synced_write_in_flight(&db, &fault, &items, "first");
    items.insert("second", "v").unwrap();
    assert_eq!(items.get("second").unwrap(), Some(Slice::from("v")));
    assert_eq!(
        items.get("first").unwrap(),
        Some(Slice::from("v")),
        "the earlier batch is visible before a later one"
    );
    writer.join().unwrap().unwrap();
}

/// A sync that fails poisons: the writer waiting behind it wakes with `Poisoned`, and neither
/// write is ever seen.
#[test]
fn a_failed_sync_wakes_the_writers_behind_it_with_poisoned() {
    let (db, fault, items) = slow_sync_db();
    fault.fail(FaultOp::Sync, 1, Fault::Io);
    let writer = synced_write_in_flight(&db, &fault, &items, "first");
    assert!(matches!(items.insert("second", "v"), Err(Error::Poisoned)));
    assert!(matches!(writer.join().unwrap(), Err(Error::Io { .. })));
    assert!(db.is_poisoned());
    assert_eq!(items.get("first").unwrap(), None);
    assert_eq!(items.get("second").unwrap(), None);
}

/// "Reads go on" after a failure, also for a keyspace not opened before it: an existing
/// keyspace (here one whose writes are still in the WAL, replayed at its open: it has a custom
/// comparator, so the database's open cannot write them to a table without it) opens and reads
/// on a poisoned database, its writes are refused, and no keyspace is created.
#[test]
fn a_poisoned_database_still_opens_existing_keyspaces_for_reading() {
    let mem = MemFs::new();
    let concat = || {
        KeyspaceCreateOptions::default()
            .comparator(Arc::new(Reverse))
            .with_merge_operator(Some(Arc::new(Concat)))
    };
    {
        let db = mem_db(&mem);
        let logs = db.keyspace("logs", concat).unwrap();
        db.keyspace("items", KeyspaceCreateOptions::default)
            .unwrap();
        for i in 0..100u32 {
            logs.insert(format!("k{i:03}"), format!("v{i}")).unwrap();
        }
        logs.merge("k042", "+").unwrap();
        db.persist(PersistMode::SyncAll).unwrap();
    }
    let (db, _fault, _items) = poisoned_by_a_failed_sync(mem);
    let logs = db.keyspace("logs", concat).unwrap();
    assert_eq!(
        logs.table_count(),
        0,
        "replayed at its open, on the poisoned database"
    );
    assert_eq!(logs.len().unwrap(), 100);
    assert_eq!(logs.get("k042").unwrap(), Some(Slice::from("v42+")));
    assert!(matches!(logs.insert("new", "v"), Err(Error::Poisoned)));
    assert!(matches!(
        db.keyspace("fresh", KeyspaceCreateOptions::default),
        Err(Error::Poisoned)
    ));
    assert!(!db.keyspace_exists("fresh"));
}

#[test]
fn synced_writes_survive_power_loss_in_every_crash_mode() {
    for (mode, seed) in [
        (CrashMode::DropUnsynced, 1),
        (CrashMode::TornWrites, 2),
        (CrashMode::PartialDirectory, 3),
    ] {
        let fs = MemFs::new();
        let db = Database::builder("/db")
            .fs(Arc::new(fs.clone()))
            .worker_threads(1)
            .journal_segment_size(8 << 10)
            .open()
            .unwrap();
        let items = db
            .keyspace("items", || {
                KeyspaceCreateOptions::default().max_memtable_size(16 << 10)
            })
            .unwrap();
        for i in 0..2000u32 {
            let mut batch = db.batch();
            if i % 10 == 0 {
                batch = batch.durability(Some(PersistMode::SyncData));
            }
            batch.insert(&items, format!("k{i:05}"), format!("v{i}"));
            batch.commit().unwrap();
        }
        drop(items);
        power_loss(&fs, db, mode, seed);
        let db = mem_db(&fs);
        let items = db
            .keyspace("items", KeyspaceCreateOptions::default)
            .unwrap();
        let present: Vec<u32> = (0..2000u32)
            .filter(|i| items.get(format!("k{i:05}")).unwrap().is_some())
            .collect();
        // Every write up to the last synced one survived, and what survived is a prefix.
        assert!(present.len() >= 1991, "{mode:?}: {}", present.len());
        assert!(
            present.iter().enumerate().all(|(at, i)| at as u32 == *i),
            "{mode:?}: a prefix"
        );
        // A second reopen gives the same state.
        drop(items);
        drop(db);
        let db = mem_db(&fs);
        let items = db
            .keyspace("items", KeyspaceCreateOptions::default)
            .unwrap();
        assert_eq!(items.len().unwrap(), present.len(), "{mode:?}");
    }
}

#[test]
fn snapshots_keep_their_view_through_flushes_and_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::builder(dir.path()).open().unwrap();
    let items = db
        .keyspace("items", || {
            KeyspaceCreateOptions::default().max_memtable_size(8 << 10)
        })
        .unwrap();
    for i in 0..200u32 {
        items.insert(format!("k{i:03}"), "old").unwrap();
    }
    let snapshot = db.snapshot();
    for round in 0..5u32 {
        for i in 0..200u32 {
            items
                .insert(format!("k{i:03}"), format!("new{round}"))
                .unwrap();
        }
    }
    items.major_compact().unwrap();
    assert_eq!(
        snapshot.get(&items, "k007").unwrap(),
        Some(Slice::from("old"))
    );
    assert_eq!(snapshot.len(&items).unwrap(), 200);
    assert!(snapshot.iter(&items).all(|g| g.value().unwrap() == "old"));
    assert_eq!(items.get("k007").unwrap(), Some(Slice::from("new4")));
    drop(snapshot);
    items.major_compact().unwrap();
    assert_eq!(items.get("k007").unwrap(), Some(Slice::from("new4")));
}

#[test]
fn the_workers_flush_and_compact_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::builder(dir.path())
        .journal_segment_size(64 << 10)
        .open()
        .unwrap();
    let items = db
        .keyspace("items", || {
            KeyspaceCreateOptions::default().max_memtable_size(16 << 10)
        })
        .unwrap();
    for i in 0..20_000u32 {
        items
            .insert(format!("k{:06}", i % 5000), [1u8; 32])
            .unwrap();
    }
    wait_until("flushed", || items.table_count() > 0);
    wait_until("the WAL is released", || db.journal_count() <= 3);
    assert_eq!(items.len().unwrap(), 5000);
    assert!(db.disk_space() > 0);
}

struct Concat;

impl MergeOperator for Concat {
    fn merge(&self, _: &[u8], base: Option<&[u8]>, operands: &[&[u8]]) -> strata::Result<Slice> {
        let mut out = base.map_or_else(Vec::new, <[u8]>::to_vec);
        for op in operands {
            out.extend_from_slice(op);
        }
        Ok(Slice::from(out))
    }
}

struct Reverse;

impl UserComparator for Reverse {
    fn name(&self) -> &'static str {
        "test.reverse"
    }
    fn compare(&self, a: &[u8], b: &[u8]) -> std::cmp::Ordering {
        b.cmp(a)
    }
}

/// A keyspace's settings that are not persisted (comparator, merge operator) come from the
/// options at its open; the WAL replays into it only then, in the order it defines.
#[test]
fn keyspaces_with_a_comparator_and_a_merge_operator_recover_their_log() {
    let fs = MemFs::new();
    let options = || {
        KeyspaceCreateOptions::default()
            .comparator(Arc::new(Reverse))
            .with_merge_operator(Some(Arc::new(Concat)))
    };
    let db = mem_db(&fs);
    let items = db.keyspace("items", options).unwrap();
    items.insert("a", "1").unwrap();
    items.insert("b", "2").unwrap();
    items.merge("a", "+").unwrap();
    db.persist(PersistMode::SyncData).unwrap();
    drop(items);
    power_loss(&fs, db, CrashMode::DropUnsynced, 5);
    let db = mem_db(&fs);
    // Another keyspace is used before this one is opened: the log stays until it is.
    let other = db
        .keyspace("other", KeyspaceCreateOptions::default)
        .unwrap();
    other.insert("x", "y").unwrap();
    let items = db.keyspace("items", options).unwrap();
    assert_eq!(items.get("a").unwrap(), Some(Slice::from("1+")));
    let keys: Vec<Slice> = items.iter().map(|g| g.key().unwrap()).collect();
    assert_eq!(keys, ["b", "a"], "the keyspace's own order");
}

#[test]
fn a_deleted_keyspace_stays_deleted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::builder(dir.path()).open().unwrap();
        let gone = db.keyspace("gone", KeyspaceCreateOptions::default).unwrap();
        gone.insert("k", "v").unwrap();
        let kept = db.keyspace("kept", KeyspaceCreateOptions::default).unwrap();
        kept.insert("k", "v").unwrap();
        db.delete_keyspace(gone).unwrap();
        assert!(!db.keyspace_exists("gone"));
        assert_eq!(db.list_keyspace_names(), ["kept"]);
    }
    let db = Database::builder(dir.path()).open().unwrap();
    assert_eq!(db.list_keyspace_names(), ["kept"]);
    let gone = db.keyspace("gone", KeyspaceCreateOptions::default).unwrap();
    assert_eq!(gone.get("k").unwrap(), None, "a new, empty keyspace");
}

/// A deleted keyspace's folder goes through the database's `Fs` (not around it): no folder is
/// left behind in memory, and a folder a crash left is removed at the next open.
#[test]
fn a_deleted_keyspace_leaves_no_folder_behind() {
    let fs = MemFs::new();
    let folders = |fs: &MemFs| fs.list(Path::new("/db/keyspaces")).unwrap().len();
    {
        let db = mem_db(&fs);
        for round in 0..5 {
            let gone = db.keyspace("gone", KeyspaceCreateOptions::default).unwrap();
            for i in 0..200 {
                gone.insert(format!("k{round}-{i}"), [7u8; 100]).unwrap();
            }
            db.delete_keyspace(gone).unwrap();
        }
        let kept = db.keyspace("kept", KeyspaceCreateOptions::default).unwrap();
        kept.insert("k", "v").unwrap();
        assert_eq!(folders(&fs), 1, "only kept's folder");
    }
    // A folder no catalog names (a crash between creating it and the catalog) with a file in it.
    fs.create_dir(Path::new("/db/keyspaces/777/tables"))
        .unwrap();
    fs.create(Path::new("/db/keyspaces/777/tables/1.sst"))
        .unwrap();
    assert_eq!(folders(&fs), 2);
    let db = mem_db(&fs);
    assert_eq!(folders(&fs), 1, "the orphan folder is removed at open");
    assert_eq!(db.list_keyspace_names(), ["kept"]);
}

/// Only a torn tail of the last segment is tolerated: damage in an earlier segment is
/// corruption naming the file.
#[test]
fn damage_in_a_sealed_wal_segment_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::builder(dir.path())
            .journal_segment_size(4 << 10)
            .worker_threads(1)
            .open()
            .unwrap();
        let items = db
            .keyspace("items", KeyspaceCreateOptions::default)
            .unwrap();
        for i in 0..500u32 {
            items.insert(format!("k{i:04}"), [3u8; 20]).unwrap();
        }
    }
    let wal = dir.path().join("wal");
    let mut segments: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    assert!(segments.len() >= 3, "{segments:?}");
    let victim = &segments[0];
    let mut bytes = std::fs::read(victim).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(victim, &bytes).unwrap();
    match Database::builder(dir.path()).open() {
        Err(Error::Corruption { file, .. }) => assert_eq!(&file, victim),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_full_write_buffer_stalls_writers_until_a_flush_frees_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::builder(dir.path())
        .max_write_buffer_size(256 << 10)
        .worker_threads(1)
        .open()
        .unwrap();
    let items = db
        .keyspace("items", || {
            KeyspaceCreateOptions::default().max_memtable_size(64 << 20)
        })
        .unwrap();
    for i in 0..20_000u32 {
        items.insert(format!("k{i:06}"), [9u8; 64]).unwrap();
        assert!(
            db.write_buffer_size() < 512 << 10,
            "{}",
            db.write_buffer_size()
        );
    }
    let (stalls, _) = db.write_stalls();
    assert!(stalls > 0, "the budget made writers wait");
    let by_cause = db.stats().write_stalls;
    assert!(by_cause.write_buffer.0 > 0, "{by_cause:?}");
    assert_eq!(by_cause.count, stalls);
    assert_eq!(items.len().unwrap(), 20_000);
}

/// Back-pressure with a slow disk (issue 15): every sync takes 15 ms, so flushes fall behind four
/// writers on a 256 KiB budget. The writers are slowed and stopped (stalls counted, with their
/// time), never deadlocked (the test ends within its deadline), the memtables stay within twice
/// the budget, and every write is there afterwards.
#[test]
fn a_slow_disk_stalls_writers_within_the_budget_without_deadlock() {
    const WRITERS: u32 = 4;
    const PER_WRITER: u32 = 3_000;
    const BUDGET: u64 = 256 << 10;
    let fs = FaultFs::new(Arc::new(MemFs::new()));
    fs.delay(FaultOp::Sync, Duration::from_millis(15));
    let db = Database::builder("/db")
        .fs(Arc::new(fs.clone()))
        .max_write_buffer_size(BUDGET)
        .worker_threads(1)
        .open()
        .unwrap();
    let items = db
        .keyspace("items", || {
            KeyspaceCreateOptions::default().max_memtable_size(64 << 10)
        })
        .unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (db, items, done, peak) = (
                db.clone(),
                items.clone(),
                done_tx.clone(),
                Arc::clone(&peak),
            );
            std::thread::spawn(move || {
                for i in 0..PER_WRITER {
                    items.insert(format!("w{w}-{i:05}"), [7u8; 64]).unwrap();
                    peak.fetch_max(db.write_buffer_size(), std::sync::atomic::Ordering::Relaxed);
                }
                done.send(()).unwrap();
            })
        })
        .collect();
    for _ in 0..WRITERS {
        done_rx
            .recv_timeout(Duration::from_secs(120))
            .expect("a writer is stuck: back-pressure deadlocked");
    }
    for writer in writers {
        writer.join().unwrap();
    }
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        peak < 2 * BUDGET,
        "memtables reached {peak} bytes on a {BUDGET}-byte budget"
    );
    let (stalls, micros) = db.write_stalls();
    assert!(
        stalls > 0 && micros > 0,
        "no stall counted: {stalls}, {micros} µs"
    );
    assert!(fs.calls(FaultOp::Sync) > 0);
    assert_eq!(items.len().unwrap(), (WRITERS * PER_WRITER) as usize);
    println!(
        "slow disk: {stalls} stalls, {micros} µs stalled, peak {peak} bytes, {} syncs",
        fs.calls(FaultOp::Sync)
    );
}

#[test]
fn temporary_databases_delete_their_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tmp-db");
    {
        let db = Database::builder(&path).temporary(true).open().unwrap();
        let items = db
            .keyspace("items", KeyspaceCreateOptions::default)
            .unwrap();
        items.insert("k", "v").unwrap();
        drop(items);
        assert!(path.exists());
    }
    assert!(!Path::new(&path).join("CATALOG").exists());
}

/// Every open starts a segment; the old ones go once the keyspaces holding their writes are
/// opened (replayed and flushed), or at once when nothing in them is needed, so reopening never
/// piles segments up.
#[test]
fn reopening_does_not_pile_up_wal_segments() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..6u32 {
        let db = Database::builder(dir.path())
            .worker_threads(1)
            .open()
            .unwrap();
        let a = db.keyspace("a", KeyspaceCreateOptions::default).unwrap();
        let b = db.keyspace("b", KeyspaceCreateOptions::default).unwrap();
        assert_eq!(a.len().unwrap(), round as usize);
        a.insert(format!("k{round}"), "a").unwrap();
        if round == 0 {
            b.insert("only", "once").unwrap();
        }
        assert_eq!(b.get("only").unwrap(), Some(Slice::from("once")));
        wait_until("the old segments are released", || db.journal_count() <= 2);
    }
    let files = std::fs::read_dir(dir.path().join("wal")).unwrap().count();
    assert!(files <= 3, "{files} files in wal/");
}

/// A flush makes a keyspace's writes durable outside the WAL. It once ran without syncing the
/// WAL first, so a power loss kept the flushed keyspace's half of an unsynced batch and lost the
/// other keyspace's half, and an earlier write to the other keyspace with it (C2, C3).
#[test]
fn a_flush_syncs_the_wal_first_so_a_batch_is_never_torn_across_keyspaces() {
    for mode in CrashMode::ALL {
        let fs = MemFs::new();
        let db = mem_db(&fs);
        let small = || KeyspaceCreateOptions::default().max_memtable_size(1 << 10);
        let a = db.keyspace("a", small).unwrap();
        let b = db.keyspace("b", KeyspaceCreateOptions::default).unwrap();
        b.insert("earlier", "b").unwrap();
        let mut batch = db.batch();
        batch.insert(&a, "pair", "a");
        batch.insert(&b, "pair", "b");
        batch.commit().unwrap();
        // Fill `a` past its memtable size: the worker flushes it (and only it).
        for i in 0..100u32 {
            a.insert(format!("a{i:03}"), [1u8; 32]).unwrap();
        }
        wait_until("`a` is flushed", || a.table_count() > 0);
        drop((a, b));
        power_loss(&fs, db, mode, 5);
        let db = mem_db(&fs);
        let a = db.keyspace("a", small).unwrap();
        let b = db.keyspace("b", KeyspaceCreateOptions::default).unwrap();
        assert_eq!(a.get("a000").unwrap(), Some(Slice::from([1u8; 32])));
        assert_eq!(a.get("pair").unwrap(), Some(Slice::from("a")), "{mode:?}");
        assert_eq!(b.get("pair").unwrap(), Some(Slice::from("b")), "{mode:?}");
        assert_eq!(
            b.get("earlier").unwrap(),
            Some(Slice::from("b")),
            "{mode:?}"
        );
    }
}

/// `clear` is durable at once (the tree's manifest records it). It once ran without syncing the
/// WAL first, so a power loss kept the clear and lost an earlier write to another keyspace.
#[test]
fn a_clear_syncs_the_wal_first_so_what_survives_is_a_prefix() {
    let fs = MemFs::new();
    let db = mem_db(&fs);
    let a = db.keyspace("a", KeyspaceCreateOptions::default).unwrap();
    let b = db.keyspace("b", KeyspaceCreateOptions::default).unwrap();
    let mut batch = db.batch().durability(Some(PersistMode::SyncData));
    batch.insert(&a, "old", "a");
    batch.commit().unwrap();
    b.insert("before-clear", "b").unwrap();
    a.clear().unwrap();
    drop((a, b));
    power_loss(&fs, db, CrashMode::DropUnsynced, 0);
    let db = mem_db(&fs);
    let a = db.keyspace("a", KeyspaceCreateOptions::default).unwrap();
    let b = db.keyspace("b", KeyspaceCreateOptions::default).unwrap();
    assert_eq!(a.get("old").unwrap(), None, "the clear is durable");
    assert_eq!(
        b.get("before-clear").unwrap(),
        Some(Slice::from("b")),
        "a write before the clear survives with it"
    );
}

/// `clear` records the write counter as the keyspace's durable-through seqno, and recovery skips
/// every logged write below it. Recovery once set the next seqno from the WAL and the tables
/// only: once the cleared writes' segments were released, a later session restarted the counter
/// below that floor, and its acknowledged (even `SyncAll`) writes were skipped by the next
/// recovery.
#[test]
fn writes_after_a_clear_survive_later_reopens() {
    let fs = MemFs::new();
    {
        let db = mem_db(&fs);
        let items = db
            .keyspace("items", KeyspaceCreateOptions::default)
            .unwrap();
        for i in 0..100u32 {
            items.insert(format!("k{i}"), "v").unwrap();
        }
        items.clear().unwrap();
    }
    {
        // The cleared writes' segment is released once the keyspace has consumed its items.
        let db = mem_db(&fs);
        let _items = db
            .keyspace("items", KeyspaceCreateOptions::default)
            .unwrap();
        wait_until("the old segment is released", || db.journal_count() == 1);
    }
    {
        let db = mem_db(&fs);
        let items = db
            .keyspace("items", KeyspaceCreateOptions::default)
            .unwrap();
        let mut batch = db.batch().durability(Some(PersistMode::SyncAll));
        batch.insert(&items, "after", "clear");
        batch.commit().unwrap();
    }
    let db = mem_db(&fs);
    let items = db
        .keyspace("items", KeyspaceCreateOptions::default)
        .unwrap();
    assert_eq!(items.get("after").unwrap(), Some(Slice::from("clear")));
    assert_eq!(items.len().unwrap(), 1);
}

/// A `MemFs` whose first `open` of a table file (a flush opening the table it wrote) waits
/// until the test lets it go.
#[derive(Debug)]
struct GatedFs {
    inner: MemFs,
    /// (reached, released)
    gate: Arc<(std::sync::Mutex<(bool, bool)>, std::sync::Condvar)>,
}

impl Fs for GatedFs {
    fn create(&self, path: &Path) -> std::io::Result<Box<dyn strata::fs::FsWriteFile>> {
        self.inner.create(path)
    }
    fn create_new(&self, path: &Path) -> std::io::Result<Box<dyn strata::fs::FsWriteFile>> {
        self.inner.create_new(path)
    }
    fn open_append(&self, path: &Path) -> std::io::Result<Box<dyn strata::fs::FsWriteFile>> {
        self.inner.open_append(path)
    }
    fn open(&self, path: &Path) -> std::io::Result<Box<dyn strata::fs::FsReadFile>> {
        if path.extension().is_some_and(|e| e == "sst") {
            let (lock, cv) = &*self.gate;
            let mut state = lock.lock().unwrap();
            if !state.0 {
                state.0 = true;
                cv.notify_all();
                while !state.1 {
                    state = cv.wait(state).unwrap();
                }
            }
        }
        self.inner.open(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        self.inner.remove(path)
    }
    fn remove_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.inner.remove_dir(dir)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
        self.inner.list(dir)
    }
    fn create_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.inner.create_dir(dir)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn exists(&self, path: &Path) -> std::io::Result<bool> {
        self.inner.exists(path)
    }
    fn lock(&self, path: &Path) -> std::io::Result<Box<dyn strata::fs::FsLock>> {
        self.inner.lock(path)
    }
}

/// Deleting a keyspace removes its folder; a flush (or compaction) of it still running in the
/// worker then failed to open the table it had just written, and that failure once poisoned the
/// whole database.
#[test]
fn deleting_a_keyspace_while_the_worker_flushes_it_does_not_poison_the_database() {
    let gate = Arc::new((
        std::sync::Mutex::new((false, false)),
        std::sync::Condvar::new(),
    ));
    let fs = GatedFs {
        inner: MemFs::new(),
        gate: Arc::clone(&gate),
    };
    let db = Database::builder("/db")
        .fs(Arc::new(fs))
        .worker_threads(1)
        .open()
        .unwrap();
    let kept = db.keyspace("kept", KeyspaceCreateOptions::default).unwrap();
    let victim = db
        .keyspace("victim", || {
            KeyspaceCreateOptions::default().max_memtable_size(1 << 10)
        })
        .unwrap();
    for i in 0..40u32 {
        victim.insert(format!("k{i:03}"), [1u8; 40]).unwrap();
    }
    // The worker flushes the victim and waits, its table written, at the table's open.
    {
        let (lock, cv) = &*gate;
        let mut state = lock.lock().unwrap();
        while !state.0 {
            state = cv.wait(state).unwrap();
        }
    }
    db.delete_keyspace(victim).unwrap();
    {
        let (lock, cv) = &*gate;
        lock.lock().unwrap().1 = true;
        cv.notify_all();
    }
    // Dropping the database joins the worker once its round (the flush) ended; the keyspace
    // handle keeps the rest alive, and a poisoned database would refuse the write.
    drop(db);
    kept.insert("still", "writable").unwrap();
    assert_eq!(kept.get("still").unwrap(), Some(Slice::from("writable")));
}

/// A `clear` whose manifest write fails may or may not have taken effect: it once returned the
/// error and left the database unpoisoned, so later writes were acknowledged after it.
#[test]
fn a_failed_clear_poisons_the_database() {
    let mem = MemFs::new();
    let (db, fault, items) = items_through_faults(mem);
    items.insert("k", "v").unwrap();
    // The clear syncs the WAL, then appends to the tree's manifest: that append fails.
    fault.fail(FaultOp::Append, 1, Fault::NoSpace);
    assert!(matches!(items.clear(), Err(Error::Io { .. })));
    assert!(db.is_poisoned());
    assert!(matches!(items.insert("k2", "v"), Err(Error::Poisoned)));
}

/// An I/O error reading `VERSION` is an I/O error: it was once reported as a folder of an
/// unsupported format (version 0).
#[test]
fn a_failed_read_of_the_version_file_is_an_io_error() {
    let mem = MemFs::new();
    drop(mem_db(&mem));
    let fault = Arc::new(FaultFs::new(Arc::new(mem)));
    fault.fail(FaultOp::Read, 1, Fault::Io);
    let opened = Database::builder("/db")
        .fs(Arc::clone(&fault) as Arc<dyn Fs>)
        .worker_threads(1)
        .open();
    match opened {
        Err(Error::Io(io)) => {
            let context = io
                .get_ref()
                .and_then(|e| e.downcast_ref::<strata::IoContext>())
                .unwrap();
            assert_eq!(context.path.as_deref(), Some(Path::new("/db/VERSION")));
        }
        other => panic!("{other:?}"),
    }
}

/// With segments rolling every few writes, a writer that found no spare segment ready created
/// the next one itself while the worker was creating the same file: one of them failed
/// ("already exists") and poisoned the database, with no fault at all.
#[test]
fn writers_rolling_tiny_segments_beside_the_worker_never_poison() {
    for round in 0..3 {
        let fs = MemFs::new();
        let db = Database::builder("/db")
            .fs(Arc::new(fs))
            .worker_threads(1)
            .journal_segment_size(64)
            .open()
            .unwrap();
        let items = db
            .keyspace("items", KeyspaceCreateOptions::default)
            .unwrap();
        let writers: Vec<_> = (0..8)
            .map(|t| {
                let items = items.clone();
                std::thread::spawn(move || {
                    for i in 0..200u32 {
                        items.insert(format!("t{t}/{i:04}"), "v")?;
                    }
                    Ok::<(), Error>(())
                })
            })
            .collect();
        for writer in writers {
            if let Err(e) = writer.join().unwrap() {
                panic!("round {round}: {e} ({:?})", db.background_error());
            }
        }
        assert_eq!(items.len().unwrap(), 1600);
    }
}

/// Found by a long `db_power_loss` run (base seed 1796583413323951425, a crash in recovery):
/// when every logged write is in a table, recovery deletes the old WAL segments. It removed them
/// all and then synced the directory once, so a power loss in between could keep a later
/// removal and lose an earlier one (`CrashMode::PartialDirectory`), and the next open failed on
/// the gap ("wal segment missing before this one"). Each removal is now durable before the
/// next, oldest first.
#[test]
fn a_crash_while_recovery_deletes_flushed_segments_never_leaves_a_gap() {
    let open = |fs: &MemFs| {
        Database::builder("/db")
            .fs(Arc::new(fs.clone()))
            .worker_threads(0)
            .journal_segment_size(1024)
            .open()
    };
    let mut crashed = 0;
    for seed in 0..4u64 {
        for k in 1..48u64 {
            let fs = MemFs::new();
            {
                let db = open(&fs).unwrap();
                let a = db.keyspace("a", KeyspaceCreateOptions::default).unwrap();
                for i in 0..60u32 {
                    a.insert(format!("k{i:03}"), [5u8; 100]).unwrap();
                }
                // Every write goes below the keyspace's durable-through seqno: at the next open
                // the old segments hold nothing needed.
                a.clear().unwrap();
                power_loss(&fs, db, CrashMode::DropUnsynced, seed);
            }
            fs.crash_at(k);
            if let Ok(db) = open(&fs) {
                drop(db);
            }
            if fs.power_lost() {
                crashed += 1;
                fs.crash(CrashMode::PartialDirectory, seed.wrapping_mul(31) ^ k);
            }
            fs.disarm();
            let db = open(&fs).unwrap_or_else(|e| panic!("seed {seed} k {k}: reopen failed: {e}"));
            let a = db.keyspace("a", KeyspaceCreateOptions::default).unwrap();
            assert_eq!(a.len().unwrap(), 0, "seed {seed} k {k}: the clear holds");
        }
    }
    assert!(crashed > 100, "{crashed} recoveries crashed");
}

/// The compaction strategy is persisted when a keyspace is created (fjall persists it too): a
/// keyspace created with `Fifo` keeps dropping its oldest tables after a reopen whose options
/// name the default `Leveled`, which never drops data.
#[test]
fn a_keyspace_keeps_its_compaction_strategy_across_a_reopen() {
    use strata::compaction::Fifo;
    let fs = MemFs::new();
    let created = || small_memtables().compaction_strategy(Arc::new(Fifo::new(96 << 10, None)));
    {
        let db = mem_db(&fs);
        db.keyspace("events", created)
            .unwrap()
            .insert("first", "x")
            .unwrap();
    }
    let db = mem_db(&fs);
    let events = db
        .keyspace("events", KeyspaceCreateOptions::default)
        .unwrap();
    for i in 0..4000u32 {
        events.insert(format!("k{i:05}"), [7u8; 100]).unwrap();
    }
    // The persisted 32 KiB memtables flush on their own; FIFO drops what is past 96 KiB.
    wait_until("FIFO drops the oldest tables", || {
        events.get("first").unwrap().is_none() && events.disk_space() <= 200 << 10
    });
    // NB: whether the newest keys survive depends on how many memtables one flush took (a
    // table past the limit goes too); `Leveled` would have dropped nothing.
    assert!(events.len().unwrap() < 4000);
}

/// An application's own compaction strategy is recorded by name: a later open must pass a
/// strategy of that name, and one that passes another is refused, changing nothing.
#[test]
fn a_keyspace_created_with_an_application_strategy_opens_only_with_it() {
    use strata::compaction::{Choice, CompactionStrategy, TreeView};
    struct Never;
    impl CompactionStrategy for Never {
        fn name(&self) -> &'static str {
            "never"
        }
        fn choose(&self, _: &TreeView) -> Choice {
            Choice::DoNothing
        }
    }
    let fs = MemFs::new();
    let mine = || KeyspaceCreateOptions::default().compaction_strategy(Arc::new(Never));
    {
        let db = mem_db(&fs);
        db.keyspace("mine", mine).unwrap().insert("k", "v").unwrap();
    }
    let db = mem_db(&fs);
    match db.keyspace("mine", KeyspaceCreateOptions::default) {
        Err(Error::InvalidArgument(message)) => {
            assert!(message.contains("\"never\""), "{message}");
        }
        other => panic!("expected InvalidArgument, got {:?}", other.map(|_| ())),
    }
    let reopened = db.keyspace("mine", mine).unwrap();
    assert_eq!(reopened.get("k").unwrap(), Some(Slice::from("v")));
}

/// A toy cipher for the tests (XOR with a key byte and a 4-byte tag the decryption checks).
struct Xor(u8);

impl strata::EncryptionProvider for Xor {
    fn encrypt(&self, plaintext: &[u8]) -> strata::Result<Vec<u8>> {
        let mut out: Vec<u8> = plaintext.iter().map(|b| b ^ self.0).collect();
        out.extend_from_slice(&[self.0; 4]);
        Ok(out)
    }

    fn decrypt(&self, ciphertext: &[u8]) -> strata::Result<Vec<u8>> {
        match ciphertext.split_last_chunk::<4>() {
            Some((body, tag)) if *tag == [self.0; 4] => {
                Ok(body.iter().map(|b| b ^ self.0).collect())
            }
            _ => Err(Error::Decrypt("wrong key")),
        }
    }

    fn max_overhead(&self) -> u32 {
        4
    }
}

/// Every file under `dir` in `fs`, recursively.
fn files_under(fs: &MemFs, dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for name in fs.list(dir).unwrap_or_default() {
        let path = dir.join(&name);
        match fs.list(&path) {
            Ok(children) if !children.is_empty() => out.extend(files_under(fs, &path)),
            _ => out.push(path),
        }
    }
    out
}

/// A keyspace encrypted at rest: its tables hold no value in the clear; after a crash the
/// database's open does not flush its logged writes without the provider (they wait in its
/// pending log, never written to a table in the clear); an open without the provider, or with
/// one for a keyspace created without, is refused; with it, every write is there.
#[test]
fn an_encrypted_keyspace_is_never_written_without_its_provider() {
    let fs = MemFs::new();
    let secret = || small_memtables().with_encryption(Some(Arc::new(Xor(0x5a))));
    let marker = b"TOP-SECRET-VALUE";
    {
        let db = small_segments_db(&fs);
        let ks = db.keyspace("secret", secret).unwrap();
        db.keyspace("plain", KeyspaceCreateOptions::default)
            .unwrap()
            .insert("p", "q")
            .unwrap();
        for i in 0..600u32 {
            ks.insert(format!("s{i:04}"), marker).unwrap();
        }
        wait_until("a flush", || ks.table_count() > 0);
        for i in 600..700u32 {
            ks.insert(format!("s{i:04}"), marker).unwrap();
        }
        db.persist(PersistMode::SyncAll).unwrap();
        power_loss(&fs, db, CrashMode::DropUnsynced, 11);
    }
    let db = small_segments_db(&fs);
    assert_eq!(pending_logs(&fs).len(), 1, "left for the provider's open");
    match db.keyspace("secret", small_memtables) {
        Err(Error::InvalidArgument(message)) => assert!(message.contains("encryption")),
        other => panic!("expected InvalidArgument, got {:?}", other.map(|_| ())),
    }
    match db.keyspace("plain", || {
        KeyspaceCreateOptions::default().with_encryption(Some(Arc::new(Xor(1))))
    }) {
        Err(Error::InvalidArgument(_)) => {}
        other => panic!("expected InvalidArgument, got {:?}", other.map(|_| ())),
    }
    let ks = db.keyspace("secret", secret).unwrap();
    assert_eq!(ks.len().unwrap(), 700);
    assert_eq!(ks.get("s0699").unwrap(), Some(Slice::from(&marker[..])));
    assert!(pending_logs(&fs).is_empty());
    drop(ks);
    drop(db);
    let tables = files_under(&fs, Path::new("/db/keyspaces"));
    assert!(
        tables
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "sst"))
    );
    for path in tables {
        let Ok(file) = fs.open(&path) else {
            continue; // an empty folder
        };
        let mut bytes = vec![0u8; usize::try_from(file.size_bytes().unwrap()).unwrap()];
        file.read_exact_at(&mut bytes, 0).unwrap();
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker),
            "{} holds the value in the clear",
            path.display()
        );
    }
}
