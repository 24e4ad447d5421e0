//! `strata::Database` against a model (RELIABILITY.md suite 1, issue 15 "Tests"): random
//! operations over three keyspaces, two hot and one idle, each against a `BTreeMap`, on `MemFs`
//! with a 4 KiB WAL segment size, 4 KiB memtables (flushes, compactions and WAL releases all the
//! time) and a 64 KiB journal limit.
//!
//! Operations: inserts, removes, range and prefix removes, batches across the hot keyspaces
//! (some `SyncData`), `clear`, deleting and re-creating a keyspace, snapshots (each checked
//! against the model as of its creation, later, while writes, flushes and compactions go on),
//! point reads and range scans both ways, `persist`, `major_compact`, and reopens. Checked:
//! - every read equals the model; every snapshot keeps its view until dropped;
//! - after each reopen and at checkpoints, every keyspace equals its model (a cleared or deleted
//!   keyspace stays so across reopens: fjall #241);
//! - the idle keyspace, written once in some sessions and never again, does not make the WAL grow:
//!   at each checkpoint, the WAL's bytes come back within the journal limit plus a segment once
//!   the writes pause (they may overshoot meanwhile: nothing slows writers on the WAL's size),
//!   fjall #288;
//! - after each reopen, the keyspaces' folder holds the three live keyspaces' folders and no
//!   other (a deleted keyspace's folder goes, and what a deletion left is removed at open).
//!
//! CI runs 100,000 operations; `STRATA_DB_MODEL_OPS=N` runs N (and `STRATA_DB_MODEL_SEED` picks
//! the seed, else one from the clock, printed).

#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "test code: a failed unwrap is a failed test; one match over the operations"
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use common::Rng;
use strata::compaction::Leveled;
use strata::fs::{Fs, MemFs};
use strata::{
    Database, Guard, Keyspace, KeyspaceCreateOptions, PersistMode, Readable, Slice, Snapshot,
};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

const NAMES: [&str; 3] = ["hot1", "hot2", "idle"];
const IDLE: usize = 2;
const KEYS: u64 = 64;
const SEGMENT: u64 = 4 << 10;
const JOURNAL_LIMIT: u64 = 64 << 10;

fn key(k: u64) -> Vec<u8> {
    format!("k{k:03}").into_bytes()
}

fn options() -> KeyspaceCreateOptions {
    KeyspaceCreateOptions::default()
        .max_memtable_size(4 << 10)
        .compaction_strategy(Arc::new(
            Leveled::default()
                .with_l0_threshold(2)
                .with_table_target_size(4 << 10),
        ))
}

fn open(fs: &MemFs) -> Database {
    Database::builder("/db")
        .fs(Arc::new(fs.clone()))
        .worker_threads(1)
        .journal_segment_size(SEGMENT)
        .max_journaling_size(JOURNAL_LIMIT)
        .open()
        .unwrap()
}

fn scan(iter: impl DoubleEndedIterator<Item = impl Guard>, reverse: bool) -> Model {
    let pairs = |g: Result<(Slice, Slice), strata::Error>| {
        let (k, v) = g.unwrap();
        (k.to_vec(), v.to_vec())
    };
    if reverse {
        let items: Vec<_> = iter.rev().map(|g| pairs(g.into_inner())).collect();
        assert!(
            items.windows(2).all(|w| w[0].0 > w[1].0),
            "a reverse scan out of order"
        );
        items.into_iter().collect()
    } else {
        let items: Vec<_> = iter.map(|g| pairs(g.into_inner())).collect();
        assert!(
            items.windows(2).all(|w| w[0].0 < w[1].0),
            "a scan out of order"
        );
        items.into_iter().collect()
    }
}

struct Session {
    db: Database,
    handles: Vec<Keyspace>,
}

impl Session {
    fn open(fs: &MemFs) -> Self {
        let db = open(fs);
        let handles = NAMES
            .iter()
            .map(|n| db.keyspace(n, options).unwrap())
            .collect();
        Self { db, handles }
    }
}

/// Counters of a run.
#[derive(Debug, Default)]
struct Counts {
    ops: u64,
    writes: u64,
    batches: u64,
    reads: u64,
    scans: u64,
    clears: u64,
    recreations: u64,
    snapshots_checked: u64,
    reopens: u64,
    checkpoints: u64,
    most_segments: usize,
    most_wal_bytes: u64,
}

/// The WAL's bytes: the database's disk space less its keyspaces' (about: a compaction may run
/// between the reads).
fn wal_bytes(session: &Session) -> u64 {
    let trees: u64 = session.handles.iter().map(Keyspace::disk_space).sum();
    session.db.disk_space().saturating_sub(trees)
}

fn check_all(session: &Session, models: &[Model], what: &str) {
    for (i, (ks, model)) in session.handles.iter().zip(models).enumerate() {
        let got = scan(ks.iter(), i % 2 == 1);
        if got != *model {
            let show = |v: Option<&Vec<u8>>| v.map(|v| String::from_utf8_lossy(v).into_owned());
            let diff: Vec<String> = got
                .keys()
                .chain(model.keys())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .filter(|k| got.get(*k) != model.get(*k))
                .take(8)
                .map(|k| {
                    format!(
                        "{}: got {:?}, want {:?}",
                        String::from_utf8_lossy(k),
                        show(got.get(k)),
                        show(model.get(k))
                    )
                })
                .collect();
            panic!(
                "{what}: keyspace {} differs from its model ({} keys, want {}): {diff:#?}",
                NAMES[i],
                got.len(),
                model.len()
            );
        }
    }
}

fn run(seed: u64, ops: u64) -> Counts {
    let mut rng = Rng::new(seed);
    let fs = MemFs::new();
    let mut session = Session::open(&fs);
    let mut models: Vec<Model> = vec![Model::new(); 3];
    let mut snapshots: Vec<(Snapshot, Vec<Model>)> = Vec::new();
    let mut counts = Counts::default();
    let mut next_value = 0u64;
    let mut value = |rng: &mut Rng| {
        next_value += 1;
        let len = 4 + rng.below(60) as usize;
        let mut v = format!("v{next_value}-").into_bytes();
        v.resize(len.max(v.len()), b'x');
        v
    };
    // The idle keyspace's one write of a session.
    let idle_write = |session: &Session, models: &mut [Model], n: u64| {
        let (k, v) = (format!("idle{n:06}").into_bytes(), b"once".to_vec());
        session.handles[IDLE].insert(k.clone(), v.clone()).unwrap();
        models[IDLE].insert(k, v);
    };
    idle_write(&session, &mut models, 0);
    for op in 0..ops {
        counts.ops += 1;
        let ks = rng.below(2) as usize;
        let k = key(rng.below(KEYS));
        match rng.below(1000) {
            // NB: inserts, 0..=399 and the rest, are the last arm.
            400..=499 => {
                session.handles[ks].remove(k.clone()).unwrap();
                models[ks].remove(&k);
                counts.writes += 1;
            }
            500..=519 => {
                let end = key(rng.below(KEYS + 4));
                session.handles[ks]
                    .remove_range(k.clone(), end.clone())
                    .unwrap();
                models[ks].retain(|key, _| *key < k || *key >= end);
                counts.writes += 1;
            }
            520..=529 => {
                let prefix = format!("k0{}", rng.below(7)).into_bytes();
                session.handles[ks].remove_prefix(prefix.clone()).unwrap();
                models[ks].retain(|key, _| !key.starts_with(&prefix));
                counts.writes += 1;
            }
            530..=729 => {
                let mut batch = session.db.batch();
                if rng.below(10) == 0 {
                    batch = batch.durability(Some(PersistMode::SyncData));
                }
                let mut staged = models.clone();
                let mut taken = Vec::new();
                for _ in 0..2 + rng.below(6) {
                    let ks = rng.below(2) as usize;
                    let k = key(rng.below(KEYS));
                    if taken.contains(&(ks, k.clone())) {
                        continue;
                    }
                    taken.push((ks, k.clone()));
                    if rng.below(4) == 0 {
                        batch.remove(&session.handles[ks], k.clone());
                        staged[ks].remove(&k);
                    } else {
                        let v = value(&mut rng);
                        batch.insert(&session.handles[ks], k.clone(), v.clone());
                        staged[ks].insert(k, v);
                    }
                }
                batch.commit().unwrap();
                models = staged;
                counts.batches += 1;
            }
            730..=733 => {
                session.handles[ks].clear().unwrap();
                models[ks].clear();
                counts.clears += 1;
            }
            734 => {
                // The old handle's snapshots go first: they read through it.
                snapshots.clear();
                let old = session.handles[ks].clone();
                session.db.delete_keyspace(old).unwrap();
                session.handles[ks] = session.db.keyspace(NAMES[ks], options).unwrap();
                models[ks].clear();
                counts.recreations += 1;
            }
            735..=749 => {
                if snapshots.len() < 4 {
                    snapshots.push((session.db.snapshot(), models.clone()));
                } else {
                    snapshots.remove(rng.below(4) as usize);
                }
            }
            750..=789 => {
                // A snapshot still reads what it read when taken.
                if !snapshots.is_empty() {
                    let (snapshot, frozen) = &snapshots[rng.below(snapshots.len() as u64) as usize];
                    let which = rng.below(3) as usize;
                    let ks = &session.handles[which];
                    assert_eq!(
                        snapshot.get(ks, &k).unwrap().map(|v| v.to_vec()),
                        frozen[which].get(&k).cloned(),
                        "op {op}: a snapshot's read of {} changed",
                        String::from_utf8_lossy(&k)
                    );
                    if rng.below(8) == 0 {
                        let got = scan(snapshot.iter(ks), rng.below(2) == 0);
                        assert!(got == frozen[which], "op {op}: a snapshot's scan changed");
                    }
                    counts.snapshots_checked += 1;
                }
            }
            790..=899 => {
                let which = rng.below(3) as usize;
                assert_eq!(
                    session.handles[which].get(&k).unwrap().map(|v| v.to_vec()),
                    models[which].get(&k).cloned(),
                    "op {op}: get {} in {}",
                    String::from_utf8_lossy(&k),
                    NAMES[which]
                );
                counts.reads += 1;
            }
            900..=939 => {
                let end = key(rng.below(KEYS + 2));
                let reverse = rng.below(2) == 0;
                let got = scan(session.handles[ks].range(k.clone()..end.clone()), reverse);
                let want: Model = models[ks]
                    .range(k.clone()..end.max(k))
                    .map(|(a, b)| (a.clone(), b.clone()))
                    .collect();
                assert!(got == want, "op {op}: a range scan differs");
                counts.scans += 1;
            }
            940..=949 => session.db.persist(PersistMode::SyncData).unwrap(),
            950..=953 => session.handles[ks].major_compact().unwrap(),
            954..=957 => {
                // Sometimes two or three in a row, with no write in between (a session that only
                // recovers and releases the WAL), sometimes right after a clear.
                if rng.below(3) == 0 {
                    session.handles[ks].clear().unwrap();
                    models[ks].clear();
                    counts.clears += 1;
                }
                snapshots.clear();
                for _ in 0..=rng.below(3) {
                    check_all(&session, &models, &format!("op {op}: before a reopen"));
                    drop(session);
                    session = Session::open(&fs);
                    check_all(&session, &models, &format!("op {op}: after a reopen"));
                    let folders = fs.list(Path::new("/db/keyspaces")).unwrap();
                    assert_eq!(
                        folders.len(),
                        3,
                        "op {op}: folders after a reopen {folders:?}"
                    );
                    counts.reopens += 1;
                }
                if rng.below(4) == 0 {
                    idle_write(&session, &mut models, op);
                }
            }
            _ => {
                let v = value(&mut rng);
                session.handles[ks].insert(k.clone(), v.clone()).unwrap();
                models[ks].insert(k, v);
                counts.writes += 1;
            }
        }
        if op % 1000 == 999 {
            check_all(&session, &models, &format!("op {op}: checkpoint"));
            counts.checkpoints += 1;
            // NB: nothing slows writers on the WAL's size, so it overshoots the journal limit
            // while the worker compacts; with no write, its next rounds (forced flushes of the
            // keyspaces pinning the oldest segment) bring it back under the limit. A keyspace
            // that pinned the WAL for good would keep it above.
            counts.most_segments = counts.most_segments.max(session.db.journal_count());
            counts.most_wal_bytes = counts.most_wal_bytes.max(wal_bytes(&session));
            let started = std::time::Instant::now();
            while wal_bytes(&session) > JOURNAL_LIMIT + SEGMENT {
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(10),
                    "op {op}: {} bytes of WAL in {} segments 10 s after the writes stopped \
                     (limit {JOURNAL_LIMIT}): something pins the WAL",
                    wal_bytes(&session),
                    session.db.journal_count()
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            assert!(
                !session.db.is_poisoned(),
                "{:?}",
                session.db.background_error()
            );
        }
    }
    snapshots.clear();
    drop(session);
    let session = Session::open(&fs);
    check_all(&session, &models, "the final reopen");
    counts.reopens += 1;
    counts
}

#[test]
fn database_operations_match_a_model_across_reopens() {
    let ops: u64 = std::env::var("STRATA_DB_MODEL_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let seed = if std::env::var("STRATA_DB_MODEL_OPS").is_ok() {
        common::seed_from_env("STRATA_DB_MODEL_SEED")
    } else {
        0x00db_0de1
    };
    println!("db model: seed {seed} (STRATA_DB_MODEL_SEED={seed} replays it)");
    let counts = run(seed, ops);
    println!(
        "db model: {} ops ({} writes, {} batches, {} reads, {} scans, {} clears, {} keyspace \
         re-creations, {} snapshot checks, {} checkpoints, {} reopens), at most {} WAL segments \
         and {} WAL bytes at a checkpoint, 0 mismatches",
        counts.ops,
        counts.writes,
        counts.batches,
        counts.reads,
        counts.scans,
        counts.clears,
        counts.recreations,
        counts.snapshots_checked,
        counts.checkpoints,
        counts.reopens,
        counts.most_segments,
        counts.most_wal_bytes
    );
    assert!(counts.reopens > 3 && counts.clears > 10);
}
