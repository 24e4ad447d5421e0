//! Prefix bloom filters: a 4-byte `FixedPrefixExtractor` puts each key's first four bytes into the
//! table filters, so prefix scans and `contains_prefix` skip the tables that hold no key with the
//! prefix. The results are the same as without an extractor; only the tables read differ.
//!
//! Run with `cargo run --example prefix_extractor`; the tree lives in a temporary directory that
//! is deleted at the end.

use std::sync::Arc;

use strata::{Config, FixedPrefixExtractor, Guard, SequenceNumberCounter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default())
        .prefix_extractor(Arc::new(FixedPrefixExtractor::new(4)))
        .open()?;

    // Each flush writes one table spanning tenants it mostly lacks: tenant t goes to table t % 4.
    for table in 0..4u32 {
        for tenant in (0..40u32).filter(|t| t % 4 == table) {
            for i in 0..10u32 {
                tree.insert(format!("{tenant:04}/item{i}"), "", seqno.next());
            }
        }
        tree.flush_active_memtable(0)?;
    }
    println!("{} tables", tree.table_count());

    let at = seqno.get();
    let keys: Vec<_> = tree
        .prefix("0017", at, None)
        .map(|g| g.key().map(|k| String::from_utf8_lossy(&k).into_owned()))
        .collect::<Result<_, _>>()?;
    println!("tenant 0017: {} keys, first {:?}", keys.len(), keys.first());
    assert_eq!(keys.len(), 10);
    assert!(!tree.contains_prefix("0040", at, None)?);
    println!(
        "tables skipped by prefix filters: {}",
        tree.prefix_filter_skip_count()
    );
    assert!(tree.prefix_filter_skip_count() >= 3);
    Ok(())
}
