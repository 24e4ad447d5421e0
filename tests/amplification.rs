//! Write and space amplification of Leveled compaction after loading random keys.
//!
//! Loads N random 16-byte keys with 100-byte values the way a user would run the tree: writes go
//! to the memtable, which is flushed once it passes its size, and Leveled compaction runs after
//! each flush until it has nothing to do. Then it reports, for static and dynamic level sizes:
//! - write amplification: bytes written to tables (flushes + compactions) over bytes flushed, and
//!   over the user bytes written;
//! - space amplification: bytes on disk over the bytes of one copy of the data (the size after a
//!   full compaction) and over the user bytes.
//!
//! CI loads 100,000 keys (memtable and tables scaled down by 10); `STRATA_AMP_KEYS=N` loads N with
//! sizes scaled to N (at 1,000,000 and above: 8 MiB memtables, 64 MiB tables, the defaults of
//! `Leveled`). Run the large sizes in release:
//! `STRATA_AMP_KEYS=1000000 cargo test --release --test amplification -- --nocapture`.

#![allow(
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::sync::Arc;

use common::Rng;
use strata::compaction::{CompactionAction, CompactionStrategy, Leveled};
use strata::{Config, SequenceNumberCounter};

struct Report {
    write_amp_flushed: f64,
    write_amp_user: f64,
    space_amp_one_copy: f64,
    space_amp_user: f64,
    l0_runs: usize,
    levels: Vec<usize>,
}

fn run(keys: u64, dynamic: bool) -> Report {
    let scale = (keys as f64 / 1_000_000.0).min(1.0);
    let memtable_bytes = ((8u64 << 20) as f64 * scale) as u64;
    let target = ((64u64 << 20) as f64 * scale) as u64;
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(dir.path(), seqno.clone(), SequenceNumberCounter::default())
        .table_target_size(target)
        .open()
        .unwrap();
    let strategy: Arc<dyn CompactionStrategy> = Arc::new(
        Leveled::default()
            .with_table_target_size(target)
            .with_dynamic_level_bytes(dynamic),
    );
    let compact = |tree: &strata::Tree, watermark| {
        while tree
            .compact(Arc::clone(&strategy), watermark)
            .unwrap()
            .action
            != CompactionAction::Nothing
        {}
    };
    let mut rng = Rng::new(0x5EED);
    let (mut key, mut value) = ([0u8; 16], [0u8; 100]);
    let mut user_bytes = 0u64;
    for _ in 0..keys {
        rng.fill(&mut key);
        rng.fill(&mut value);
        let (_, memtable) = tree.insert(key, value, seqno.next());
        user_bytes += 116;
        if memtable >= memtable_bytes {
            tree.flush_active_memtable(seqno.get()).unwrap();
            compact(&tree, seqno.get());
        }
    }
    tree.flush_active_memtable(seqno.get()).unwrap();
    compact(&tree, seqno.get());
    let on_disk = tree.disk_space();
    let written = tree.bytes_flushed() + tree.bytes_compacted();
    let report = Report {
        write_amp_flushed: tree.write_amplification(),
        write_amp_user: written as f64 / user_bytes as f64,
        space_amp_one_copy: 0.0,
        space_amp_user: on_disk as f64 / user_bytes as f64,
        l0_runs: tree.l0_run_count(),
        levels: (0..7).map(|l| tree.level_table_count(l).unwrap()).collect(),
    };
    assert_eq!(tree.len(seqno.get(), None).unwrap() as u64, keys);
    tree.major_compact(target, seqno.get()).unwrap();
    let one_copy = tree.disk_space();
    Report {
        space_amp_one_copy: on_disk as f64 / one_copy as f64,
        ..report
    }
}

#[test]
fn leveled_amplification_after_loading_random_keys() {
    let keys: u64 = std::env::var("STRATA_AMP_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    for dynamic in [false, true] {
        let r = run(keys, dynamic);
        println!(
            "leveled (dynamic level bytes: {dynamic}), {keys} random keys: write amp {:.2} over bytes flushed, {:.2} over user bytes; space amp {:.3} over one compacted copy, {:.3} over user bytes; L0 runs {}, tables per level {:?}",
            r.write_amp_flushed,
            r.write_amp_user,
            r.space_amp_one_copy,
            r.space_amp_user,
            r.l0_runs,
            r.levels
        );
        assert!(r.l0_runs < 4, "level 0 stays below its threshold");
        assert!(
            r.space_amp_one_copy < 1.05,
            "unique keys: no garbage to hold, {:.3}",
            r.space_amp_one_copy
        );
        assert!(
            (1.0..12.0).contains(&r.write_amp_flushed),
            "write amplification {:.2}",
            r.write_amp_flushed
        );
    }
}
