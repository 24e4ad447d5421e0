//! Looking inside a tree: its shape (`current_version`), a key's raw newest entry
//! (`get_internal_entry`) and an integrity check of every table (`verify_integrity`).
//!
//! Run with `cargo run --example introspection`; the tree lives in a temporary directory that is
//! deleted at the end.

use std::sync::Arc;

use strata::compaction::{CompactionAction, Leveled};
use strata::{Config, SequenceNumberCounter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default()).open()?;
    println!("tree {} ({:?})", tree.id(), tree.tree_type());

    for round in 0..4u32 {
        for i in 0..500u32 {
            tree.insert(format!("key{i:04}"), format!("value {round}"), seqno.next());
        }
        tree.remove(format!("key{round:04}"), seqno.next());
        tree.flush_active_memtable(0)?;
    }
    let leveled = Arc::new(Leveled::default());
    while tree.compact(leveled.clone(), seqno.get())?.action != CompactionAction::Nothing {}

    let version = tree.current_version();
    println!(
        "{} tables in {} levels:",
        version.table_count(),
        version.level_count()
    );
    for table in version.iter_tables() {
        let (min, max) = table.key_range();
        let (low, high) = table.seqno_range();
        println!(
            "  L{} table {}: {} bytes, keys {:?}..={:?}, seqnos {low}..={high}, {} entries \
             ({} tombstones), checksum {}",
            table.level(),
            table.id(),
            table.file_size(),
            String::from_utf8_lossy(min),
            String::from_utf8_lossy(max),
            table.entry_count(),
            table.tombstone_count(),
            table.checksum(),
        );
    }

    if let Some(entry) = tree.get_internal_entry("key0001", seqno.get())? {
        println!(
            "key0001: newest entry is a {:?} at seqno {}",
            entry.key.value_type, entry.key.seqno
        );
    }

    let report = strata::verify::verify_integrity(&tree);
    println!(
        "verify: {} files checked, {}",
        report.files_checked(),
        if report.is_ok() {
            "no damage"
        } else {
            "damaged"
        }
    );
    for error in &report.errors {
        println!("  {error}");
    }
    Ok(())
}
