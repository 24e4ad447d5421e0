//! kill -9 (RELIABILITY.md suite 3): the test binary re-runs itself as a child that writes and
//! flushes on a real directory (each batch with a range tombstone over scratch keys written
//! just before it), printing a line after each flush returns; the parent kills it at
//! random moments, reopens the tree, and checks that every flush the child completed survived
//! (and that nothing from a half-done flush appears as a hole, and no scratch key comes back
//! without its range tombstone).
//!
//! CI runs 30 cycles; `STRATA_KILL9_CYCLES=N` runs N.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use strata::{Config, SeqNo, SequenceNumberCounter};

const CHILD_ENV: &str = "STRATA_KILL9_CHILD_DIR";
const CYCLE_ENV: &str = "STRATA_KILL9_CYCLE";
const KEYS_PER_BATCH: u32 = 40;
/// Keys written after each batch's own and deleted again by one range tombstone in the same
/// flush: they must never come back.
const SCRATCH_KEYS: u32 = 10;

fn key(cycle: u64, batch: u64, i: u32) -> String {
    format!("c{cycle:03}/b{batch:05}/k{i:03}")
}

fn value(cycle: u64, batch: u64, i: u32) -> String {
    format!("v-{cycle}-{batch}-{i}-").repeat(3)
}

/// The child: writes batches forever, flushing each and reporting it, until killed.
fn child(dir: &str, cycle: u64) {
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(dir, seqno.clone(), SequenceNumberCounter::default())
        .open()
        .expect("child opens the tree");
    let mut out = std::io::stdout().lock();
    for batch in 0.. {
        for i in 0..KEYS_PER_BATCH + SCRATCH_KEYS {
            tree.insert(key(cycle, batch, i), value(cycle, batch, i), seqno.next());
        }
        // The scratch keys go again, by one range tombstone flushed with the batch.
        tree.remove_range(
            key(cycle, batch, KEYS_PER_BATCH),
            key(cycle, batch, KEYS_PER_BATCH + SCRATCH_KEYS),
            seqno.next(),
        );
        tree.flush_active_memtable(0).expect("flush");
        writeln!(out, "flushed {batch}").expect("stdout");
        out.flush().expect("stdout");
    }
}

/// The range tombstone of every flushed batch of cycle `c` came back with it: its scratch keys
/// stay deleted after the kill at `cycle`.
fn check_scratch_keys_stay_deleted(tree: &strata::Tree, c: u64, batches: u64, cycle: u64) {
    for batch in 0..batches {
        for i in [KEYS_PER_BATCH, KEYS_PER_BATCH + SCRATCH_KEYS - 1] {
            assert_eq!(
                tree.get(key(c, batch, i), SeqNo::MAX).unwrap(),
                None,
                "cycle {c} batch {batch}: scratch key {i} came back after kill at cycle {cycle}"
            );
        }
    }
}

#[test]
fn kill_9_never_loses_a_completed_flush() {
    if let (Ok(dir), Ok(cycle)) = (std::env::var(CHILD_ENV), std::env::var(CYCLE_ENV)) {
        child(&dir, cycle.parse().unwrap());
        return;
    }
    let cycles: u64 = std::env::var("STRATA_KILL9_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    // For each cycle, the number of batches the child reported flushed.
    let mut completed: Vec<u64> = Vec::new();
    let mut killed_mid_flush = 0;
    for cycle in 0..cycles {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "kill_9_never_loses_a_completed_flush",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .env(CYCLE_ENV, cycle.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(30 + rng % 250));
        child.kill().unwrap();
        child.wait().unwrap();
        let mut output = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut output)
            .unwrap();
        let flushed = output
            .lines()
            .filter_map(|l| l.strip_prefix("flushed "))
            .filter_map(|n| n.parse::<u64>().ok())
            .max()
            .map_or(0, |last| last + 1);
        completed.push(flushed);

        // Reopen and check every completed flush of every cycle so far.
        let tree = Config::new(
            dir.path(),
            SequenceNumberCounter::default(),
            SequenceNumberCounter::default(),
        )
        .open()
        .unwrap();
        for (c, &batches) in completed.iter().enumerate() {
            let c = c as u64;
            // Every key of this cycle's flushes; the first and last key of each earlier one.
            let keys: Vec<u32> = if c == cycle {
                (0..KEYS_PER_BATCH).collect()
            } else {
                vec![0, KEYS_PER_BATCH - 1]
            };
            for batch in 0..batches {
                for &i in &keys {
                    let got = tree.get(key(c, batch, i), SeqNo::MAX).unwrap();
                    assert_eq!(
                        got.as_deref(),
                        Some(value(c, batch, i).as_bytes()),
                        "cycle {c} batch {batch} key {i} lost after kill at cycle {cycle}"
                    );
                }
            }
            check_scratch_keys_stay_deleted(&tree, c, batches, cycle);
            // A batch past the reported ones is either whole (its flush finished but the line was
            // not read) or absent: never partial.
            let present = (0..KEYS_PER_BATCH)
                .filter(|&i| tree.get(key(c, batches, i), SeqNo::MAX).unwrap().is_some())
                .count();
            assert!(
                present == 0 || present == KEYS_PER_BATCH as usize,
                "partial batch {batches} of cycle {c}"
            );
            let scratch = tree
                .get(key(c, batches, KEYS_PER_BATCH), SeqNo::MAX)
                .unwrap();
            assert!(
                scratch.is_none(),
                "batch {batches} of cycle {c}: a scratch key without its range tombstone"
            );
            if c == cycle && present > 0 {
                killed_mid_flush += 1;
            }
        }
    }
    let total: u64 = completed.iter().sum();
    println!(
        "kill9: {cycles} cycles, {total} completed flushes checked, {killed_mid_flush} kills between a flush and its report, 0 lost"
    );
    assert!(total > 0, "the child never completed a flush");
}
