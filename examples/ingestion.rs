//! Bulk ingestion: load sorted data straight into table files, then make it visible at once.
//!
//! Run with `cargo run --example ingestion`. The tree lives in a temporary directory that is
//! removed at the end.

use strata::{Config, SequenceNumberCounter};

fn main() -> strata::Result<()> {
    let dir = tempfile::tempdir()?;
    let seqno = SequenceNumberCounter::default();
    let visible = SequenceNumberCounter::default();
    let tree = Config::new(dir.path(), seqno.clone(), visible.clone()).open()?;

    tree.insert("user:0042", "written before", seqno.next());
    let before = visible.get().max(seqno.get());

    // Keys must come in increasing order; a key out of order is an error, not a panic.
    let mut ingestion = tree.ingestion()?;
    for i in 0..10_000u32 {
        ingestion.write(format!("user:{i:04}"), format!("profile {i}"))?;
    }
    assert!(ingestion.write("user:0000", "late").is_err());
    ingestion.write_tombstone("user:zzzz")?;
    ingestion.finish()?;

    let now = visible.get();
    println!(
        "ingested 10000 keys into {} tables; user:0042 was {:?}, is {:?}",
        tree.table_count(),
        tree.get("user:0042", before)?,
        tree.get("user:0042", now)?,
    );
    assert_eq!(tree.len(now, None)?, 10_000);
    drop(tree);
    dir.close()?;
    Ok(())
}
