//! zstd compression, plain and with a dictionary trained on the tree's own values.
//!
//! A dictionary pays off on small blocks (here 1 KiB) and small values; on 4 KiB blocks of
//! values this repetitive, plain zstd already finds the shared strings inside each block (C zstd
//! measures the same).
//!
//! `cargo run --example zstd --features zstd`

use std::sync::Arc;

use strata::compression::train_dictionary;
use strata::config::{BlockSizePolicy, CompressionPolicy};
use strata::{CompressionType, Config, SequenceNumberCounter, Tree, ZstdDictionary};

fn value(i: u32) -> String {
    format!(
        "{{\"id\":{i},\"user\":\"user{}\",\"plan\":\"{}\",\"active\":{}}}",
        i * 7919 % 10_007,
        if i.is_multiple_of(3) { "free" } else { "pro" },
        i.is_multiple_of(2)
    )
}

/// Writes 20 000 values, flushes them into tables and returns the bytes on disk.
fn fill(tree: &Tree, seqno: &SequenceNumberCounter) -> strata::Result<u64> {
    for i in 0..20_000 {
        tree.insert(format!("key{i:06}"), value(i), seqno.next());
    }
    tree.flush_active_memtable(0)?;
    Ok(tree.disk_space())
}

fn main() -> strata::Result<()> {
    // Plain zstd at level 3.
    let dir = tempfile::tempdir()?;
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default())
        .data_block_size_policy(BlockSizePolicy::all(1024))
        .data_block_compression_policy(CompressionPolicy::all(CompressionType::zstd(3)))
        .open()?;
    let plain = fill(&tree, &seqno)?;

    // A dictionary trained on samples of the values; keep its bytes next to the tree.
    let samples: Vec<String> = (50_000..52_000).map(value).collect();
    let dict = Arc::new(train_dictionary(&samples, 8 * 1024)?);
    let kept = dict.raw().to_vec();
    let dict_dir = tempfile::tempdir()?;
    let seqno = SequenceNumberCounter::default();
    let compression = CompressionType::zstd_dict(3, dict.id());
    let config = |compression, dict: Option<Arc<ZstdDictionary>>| {
        Config::new(&dict_dir, seqno.clone(), SequenceNumberCounter::default())
            .data_block_size_policy(BlockSizePolicy::all(1024))
            .data_block_compression_policy(CompressionPolicy::all(compression))
            .zstd_dictionary(dict)
    };
    let tree = config(compression, Some(Arc::clone(&dict))).open()?;
    let with_dict = fill(&tree, &seqno)?;
    drop(tree);
    println!("zstd:3 {plain} bytes, zstd:3 with a dictionary {with_dict} bytes");

    // Reopening needs the same dictionary: the same bytes give the same id.
    let tree = config(compression, Some(Arc::new(ZstdDictionary::new(&kept)))).open()?;
    assert_eq!(
        tree.get("key000042", seqno.get())?.as_deref(),
        Some(value(42).as_bytes())
    );
    drop(tree);
    match config(CompressionType::None, None).open() {
        Err(err) => println!("without it: {err}"),
        Ok(_) => unreachable!("a dictionary table opened without its dictionary"),
    }
    Ok(())
}
