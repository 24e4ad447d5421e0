//! Memory kept for writers leaves the process once writes stop (docs/invariants.md, M2).
//!
//! A flushed memtable's 8 MiB segments (and its smaller mapped ones) stay in a process-wide pool
//! for the next memtable. A flush that leaves the active memtable empty means the writes have
//! stopped: the pool then gives its pages back to the kernel. This file holds one test, so that no
//! other test's memtables share the process's pool and its resident memory while it measures.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

/// The process's resident set, in bytes (Linux: `/proc/self/statm`, in pages of 4 KiB on the
/// machines this runs on; only differences of tens of MiB are compared).
#[cfg(target_os = "linux")]
#[expect(
    clippy::disallowed_methods,
    reason = "a procfs file, not a database file"
)]
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[cfg(target_os = "linux")]
#[test]
fn a_flush_that_leaves_the_memtable_empty_gives_the_pooled_memory_back() {
    const MIB: u64 = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let tree = common::open_default(dir.path());
    let value = vec![0x5A_u8; 100];
    let mut seqno: u64 = 0;
    let mut write = |tree: &strata::Tree, n: u64| -> u64 {
        let mut size = 0;
        for _ in 0..n {
            let key = format!("{:016}", seqno.wrapping_mul(2_654_435_761) % 1_000_000_007);
            size = tree.insert(key, value.as_slice(), seqno).1;
            seqno += 1;
        }
        size
    };

    // A memtable of about 48 MiB: its arenas reach their 8 MiB segments.
    let filled = write(&tree, 300_000);
    assert!(filled >= 40 * MIB, "memtable of {filled} bytes");

    // Writes go on while it is flushed: its memory goes to the pool, still resident.
    tree.rotate_memtable().unwrap();
    write(&tree, 1);
    {
        let lock = tree.get_flush_lock();
        assert!(tree.flush(&lock, 0).unwrap().is_some());
    }
    let pooled = resident_bytes();

    // The last memtable is flushed and nothing is written after it: the writes have stopped.
    tree.rotate_memtable().unwrap();
    {
        let lock = tree.get_flush_lock();
        assert!(tree.flush(&lock, 0).unwrap().is_some());
    }
    let idle = resident_bytes();
    assert!(
        idle + 32 * MIB <= pooled,
        "resident {} MiB with the pool, {} MiB once writes stopped",
        pooled / MIB,
        idle / MIB
    );

    // Writes resume: the memory comes back, and the data is whole.
    let size = write(&tree, 1_000);
    assert!(size > 0);
    assert_eq!(tree.len(301_001, None).unwrap(), 301_001);
}
