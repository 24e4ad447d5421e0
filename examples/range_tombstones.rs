//! Range deletes: drop a tenant's keys with one write, read around it at older snapshots, and get
//! the space back with a compaction.
//!
//! Run with `cargo run --example range_tombstones`.

use strata::{Config, SequenceNumberCounter};

fn main() -> strata::Result<()> {
    let dir = tempfile::tempdir()?;
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;

    // Two tenants, 10,000 keys each, flushed to a table.
    for tenant in ["acme", "globex"] {
        for i in 0..10_000u32 {
            tree.insert(format!("{tenant}:{i:05}"), "x".repeat(100), seqno.next());
        }
    }
    tree.flush_active_memtable(0)?;
    let before_delete = seqno.get();
    let disk_before = tree.disk_space();

    // One write deletes every key of tenant "acme".
    let bytes = tree.remove_prefix("acme:", seqno.next());
    println!("remove_prefix(\"acme:\") added {bytes} bytes to the memtable");
    // A key written after the delete is visible again.
    tree.insert("acme:00042", "back", seqno.next());
    let now = seqno.get();

    assert_eq!(tree.get("acme:00007", now)?, None);
    assert_eq!(tree.get("acme:00042", now)?, Some("back".into()));
    assert_eq!(tree.prefix("acme:", now, None).count(), 1);
    assert_eq!(tree.prefix("globex:", now, None).count(), 10_000);
    // A snapshot taken before the delete still sees the tenant.
    assert_eq!(tree.prefix("acme:", before_delete, None).count(), 10_000);

    // The tombstone survives a flush and a reopen...
    tree.flush_active_memtable(0)?;
    drop(tree);
    let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
    assert_eq!(tree.get("acme:00007", now)?, None);

    // ...and a compaction past the snapshot drops what it deleted, and then itself.
    tree.major_compact(64 << 20, seqno.get())?;
    assert_eq!(tree.prefix("acme:", seqno.get(), None).count(), 1);
    assert_eq!(tree.len(seqno.get(), None)?, 10_001);
    let disk_after = tree.disk_space();
    println!("disk: {disk_before} bytes before the delete, {disk_after} after the compaction");
    assert!(
        disk_after * 10 < disk_before * 6,
        "about half the space came back"
    );
    Ok(())
}
