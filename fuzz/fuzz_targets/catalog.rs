//! Hostile `CATALOG` files (`docs/format.md` 12.2): the keyspaces of a database and the options
//! persisted at their creation (policies, the compaction strategy and its settings, key-value
//! separation, encryption). Every input's payload is decoded as a database's open decodes it
//! (`strata::internals::decode_catalog`); a decoded catalog names unique keyspaces with ids below
//! its next id. One input in four (bit 1 of the first byte clear) then goes through a whole
//! database on `MemFs`: the bytes (bit 0 set: as they are; clear: framed as one record with a
//! valid checksum) become the `CATALOG` of a database with keyspaces `a` (id 1) and `b` (id 2)
//! holding a table each, `Database::open` runs, and every keyspace it lists is opened with the
//! default options, read whole, written to, flushed and compacted by its persisted strategy
//! (`settle_keyspace`), and read again; a database that opened once opens again listing the
//! same keyspaces. Checked: no panic, no unbounded allocation (run with `-malloc_limit_mb`), the
//! writes read back (unless the persisted strategy is FIFO, which may drop them).

#![no_main]
#![allow(
    clippy::disallowed_types,
    reason = "fuzz_target! opens a std::fs::File for RUST_LIBFUZZER_DEBUG_PATH"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use strata::fs::{Fs, MemFs};
use strata::internals::{decode_catalog, frame_manifest_record, settle_keyspace};
use strata::{Database, Guard, KeyspaceCreateOptions};

/// A database's directories and files.
type Snapshot = (Vec<PathBuf>, BTreeMap<PathBuf, Vec<u8>>);

/// A database with keyspaces `a` (id 1) and `b` (id 2), a table each, no WAL segment and no
/// `CATALOG`: its directories and files.
fn base() -> &'static Snapshot {
    static BASE: OnceLock<Snapshot> = OnceLock::new();
    BASE.get_or_init(|| {
        let fs = MemFs::new();
        {
            let db = open(&fs).expect("a new database opens");
            for name in ["a", "b"] {
                let keyspace = db
                    .keyspace(name, KeyspaceCreateOptions::default)
                    .expect("a keyspace is created");
                for i in 0..20u32 {
                    keyspace
                        .insert(format!("{name}{i:02}"), "v")
                        .expect("insert");
                }
                settle_keyspace(&keyspace).expect("flushed");
            }
        }
        let (mut dirs, mut files) = (Vec::new(), BTreeMap::new());
        strata_fuzz::walk_mem_fs(&fs, Path::new("/db"), &mut dirs, &mut files);
        files.retain(|path: &PathBuf, _| {
            !path.starts_with("/db/wal") && path != Path::new("/db/CATALOG")
        });
        (dirs, files)
    })
}

fn open(fs: &MemFs) -> strata::Result<Database> {
    Database::builder("/db")
        .fs(Arc::new(fs.clone()))
        .worker_threads(1)
        .cache_size(1 << 20)
        .open()
}

/// Opens every listed keyspace with the default options, reads it, writes to it, settles it
/// and reads it again; returns the listed names.
fn exercise(db: &Database, fifo: &[String]) -> Vec<String> {
    let names = db.list_keyspace_names();
    for name in &names {
        let Ok(keyspace) = db.keyspace(name, KeyspaceCreateOptions::default) else {
            continue;
        };
        for guard in keyspace.iter() {
            if guard.into_inner().is_err() {
                break;
            }
        }
        let mut written = true;
        for i in 0..8u32 {
            written &= keyspace.insert(format!("new{i}"), [7u8; 64]).is_ok();
        }
        if settle_keyspace(&keyspace).is_err() || !written {
            continue;
        }
        if !fifo.contains(name) {
            for i in 0..8u32 {
                if let Ok(value) = keyspace.get(format!("new{i}")) {
                    assert_eq!(value.as_deref(), Some(&[7u8; 64][..]), "a write is lost");
                }
            }
        }
    }
    names
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let raw = first & 1 != 0;
    let decoded = if raw { None } else { decode_catalog(rest).ok() };
    if let Some((next_id, keyspaces)) = &decoded {
        for (i, k) in keyspaces.iter().enumerate() {
            assert!(k.id < *next_id, "an id at or past the next id");
            assert!(
                keyspaces[..i].iter().all(|o| o.name != k.name),
                "a name twice"
            );
        }
    }
    if first & 2 != 0 {
        return;
    }
    let fifo: Vec<String> = decoded
        .iter()
        .flat_map(|(_, keyspaces)| keyspaces)
        .filter(|k| k.compaction_strategy.as_deref() == Some("fifo"))
        .map(|k| k.name.clone())
        .collect();
    let (dirs, files) = base();
    let fs = MemFs::new();
    for dir in dirs {
        fs.create_dir(dir).expect("create_dir");
    }
    let catalog = if raw {
        rest.to_vec()
    } else {
        frame_manifest_record(rest)
    };
    let all = files
        .iter()
        .map(|(p, b)| (p.clone(), b.clone()))
        .chain([(PathBuf::from("/db/CATALOG"), catalog)]);
    for (path, bytes) in all {
        let mut file = fs.create(&path).expect("create");
        file.append(&bytes).expect("append");
        file.sync().expect("sync");
    }
    for dir in dirs {
        fs.sync_dir(dir).expect("sync_dir");
    }
    let Ok(db) = open(&fs) else {
        return;
    };
    let first_names = exercise(&db, &fifo);
    drop(db);
    let db = open(&fs).expect("a database that opened once opens again");
    let mut second = db.list_keyspace_names();
    let mut first_sorted = first_names;
    first_sorted.sort();
    second.sort();
    assert_eq!(first_sorted, second, "a second open lists other keyspaces");
});
