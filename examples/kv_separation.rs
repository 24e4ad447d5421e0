//! Key-value separation: large values in blob files, and the space they take given back.
//!
//! `cargo run --example kv_separation`

use strata::compaction::CompactionAction;
use strata::{Config, Guard, KvSeparationOptions, SequenceNumberCounter, TreeType};

fn main() -> strata::Result<()> {
    let dir = tempfile::tempdir()?;
    let seqno = SequenceNumberCounter::default();
    // Values of 1 KiB and more go to blob files under `<dir>/blobs/`; the tables keep a pointer.
    let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default())
        .with_kv_separation(Some(
            KvSeparationOptions::default().file_target_size(1 << 20),
        ))
        .open()?;
    assert_eq!(tree.tree_type(), TreeType::Blob);

    // 200 documents of 8 KiB, overwritten three times.
    for round in 0..3u8 {
        for i in 0..200u32 {
            let document = vec![b'a' + round; 8192];
            tree.insert(format!("doc:{i:04}"), document, seqno.next());
        }
        tree.flush_active_memtable(0)?;
    }
    println!(
        "after 3 rounds: {} blob files, {} KiB on disk",
        tree.blob_file_count(),
        tree.disk_space() >> 10
    );

    // Reads work as for inline values; `size_of` and key-only scans read no blob file.
    let read = seqno.get();
    assert_eq!(
        tree.get("doc:0007", read)?.and_then(|v| v.first().copied()),
        Some(b'c')
    );
    assert_eq!(tree.size_of("doc:0007", read)?, Some(8192));
    let keys: Vec<_> = tree
        .prefix("doc:000", read, None)
        .map(|item| item.into_inner_if(|_| false))
        .collect::<strata::Result<_>>()?;
    assert_eq!(keys.len(), 10);

    // A major compaction drops the overwritten versions; garbage collection then gives back the
    // blob files their pointers no longer reach.
    tree.major_compact(64 << 20, seqno.get())?;
    println!(
        "after major_compact: {} blob files, {} KiB on disk, {} stale bytes",
        tree.blob_file_count(),
        tree.disk_space() >> 10,
        tree.stale_blob_bytes()
    );
    let one_copy = 200 * 8192;
    assert!(tree.disk_space() < one_copy * 12 / 10);

    // Deleting everything and compacting leaves no blob file.
    for i in 0..200u32 {
        tree.remove(format!("doc:{i:04}"), seqno.next());
    }
    tree.flush_active_memtable(0)?;
    let strategy = std::sync::Arc::new(strata::compaction::Leveled::default());
    tree.major_compact(64 << 20, seqno.get())?;
    while tree.compact(strategy.clone(), seqno.get())?.action != CompactionAction::Nothing {}
    println!(
        "after deleting everything: {} blob files",
        tree.blob_file_count()
    );
    assert_eq!(tree.blob_file_count(), 0);
    Ok(())
}
