//! `strata::Database`: keyspaces, atomic batches, snapshots, and writes that survive a restart.
//!
//! `cargo run --example database`

use strata::{Database, Guard, KeyspaceCreateOptions, PersistMode, Readable};

fn main() -> strata::Result<()> {
    let dir = tempfile::tempdir()?;
    {
        let db = Database::builder(dir.path()).open()?;
        let users = db.keyspace("users", KeyspaceCreateOptions::default)?;
        let emails = db.keyspace("emails", KeyspaceCreateOptions::default)?;

        // One write: in the write-ahead log (and the OS) before it returns.
        users.insert("u:1", "Ada")?;

        // A batch across keyspaces: atomic, and with SyncData durable against power loss.
        let mut batch = db.batch().durability(Some(PersistMode::SyncData));
        batch.insert(&users, "u:2", "Grace");
        batch.insert(&emails, "grace@example.com", "u:2");
        batch.commit()?;

        // A snapshot keeps its view while writes go on.
        let snapshot = db.snapshot();
        users.remove("u:1")?;
        assert_eq!(snapshot.get(&users, "u:1")?, Some("Ada".into()));
        assert_eq!(users.get("u:1")?, None);
        println!(
            "before the restart: {} users, {} WAL segment(s), {} bytes in memtables",
            users.len()?,
            db.journal_count(),
            db.write_buffer_size()
        );
        // Nothing was flushed by hand: dropping the database keeps every write in the WAL.
    }

    let db = Database::builder(dir.path()).open()?;
    println!(
        "keyspaces after the restart: {:?}",
        db.list_keyspace_names()
    );
    let users = db.keyspace("users", KeyspaceCreateOptions::default)?;
    let emails = db.keyspace("emails", KeyspaceCreateOptions::default)?;
    let names: Vec<_> = users
        .iter()
        .map(Guard::value)
        .collect::<strata::Result<_>>()?;
    assert_eq!(names, ["Grace"]);
    assert_eq!(emails.get("grace@example.com")?, Some("u:2".into()));
    let stats = db.stats();
    println!(
        "recovered {} user(s); WAL bytes written since open: {}",
        names.len(),
        stats.bytes_written.wal
    );
    Ok(())
}
