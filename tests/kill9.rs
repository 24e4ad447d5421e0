//! kill -9 (RELIABILITY.md suite 3): the test binary re-runs itself as a child that writes and
//! flushes on a real directory (each batch with a range tombstone over scratch keys written
//! just before it), printing a line after each flush returns, then runs one `Leveled`
//! compaction step (every eighth batch a major compaction); the parent kills it at random
//! moments (every fifth cycle only after the child reported its ninth flush, so that garbage
//! collection happens however loaded the machine is), reopens the tree, and checks that
//! every flush the child completed survived (and that nothing from a half-done flush appears as
//! a hole, and no scratch key comes back without its range tombstone).
//!
//! Key-value separation: every even key's value is long (about 1 KiB) and the child separates
//! values of 256 bytes and more into blob files of 64 KiB, except every third cycle, which
//! writes them inline (the setting switches between opens). The scratch keys' long values (a
//! fifth of each flush's blob bytes) go stale once major compactions drop them, past the
//! staleness threshold of 0.15, so garbage collection relocates live values and drops blob files
//! while kills land. After each reopen: no orphan table or blob file is left in the
//! directory, and every table and blob file passes `verify_integrity`.
//!
//! CI runs 30 cycles; `STRATA_KILL9_CYCLES=N` runs N.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::BTreeSet;
use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use strata::compaction::Leveled;
use strata::fs::{Fs, StdFs};
use strata::{CompressionType, Config, KvSeparationOptions, SeqNo, SequenceNumberCounter, Tree};

const CHILD_ENV: &str = "STRATA_KILL9_CHILD_DIR";
const CYCLE_ENV: &str = "STRATA_KILL9_CYCLE";
const KEYS_PER_BATCH: u32 = 40;
/// Keys written after each batch's own and deleted again by one range tombstone in the same
/// flush: they must never come back.
const SCRATCH_KEYS: u32 = 10;

fn key(cycle: u64, batch: u64, i: u32) -> String {
    format!("c{cycle:03}/b{batch:05}/k{i:03}")
}

/// The value of key `i`: long (separated when the child separates) for even keys.
fn value(cycle: u64, batch: u64, i: u32) -> String {
    let repeat = if i.is_multiple_of(2) { 64 } else { 3 };
    format!("v-{cycle}-{batch}-{i}-").repeat(repeat)
}

/// The key-value separation of cycle `cycle`'s child: off every third cycle.
fn kv(cycle: u64) -> Option<KvSeparationOptions> {
    (cycle % 3 != 2).then(|| {
        // NB: records stored raw, so that the values (repetitive text) keep their size and the
        // stale fractions that drive garbage collection are reached.
        KvSeparationOptions::default()
            .compression(CompressionType::None)
            .separation_threshold(256)
            .file_target_size(64 << 10)
            .staleness_threshold(0.15)
            .age_cutoff(0.5)
    })
}

/// The `*.extension` files in `dir/folder`.
fn files_in(dir: &Path, folder: &str, extension: &str) -> usize {
    StdFs
        .list(&dir.join(folder))
        .unwrap()
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == extension))
        .count()
}

/// After the kill at `cycle` and a reopen: recovery removed what the killed child left half
/// written (no orphan table or blob file), and every table and blob file reads back whole.
/// Returns the ids of the blob files.
fn check_recovered_files(dir: &Path, tree: &Tree, cycle: u64) -> BTreeSet<u64> {
    assert_eq!(
        files_in(dir, "tables", "sst"),
        tree.table_count(),
        "orphan tables after kill at cycle {cycle}"
    );
    assert_eq!(
        files_in(dir, "blobs", "blob"),
        tree.blob_file_count(),
        "orphan blob files after kill at cycle {cycle}"
    );
    let report = strata::verify::verify_integrity(tree);
    assert!(report.is_ok(), "cycle {cycle}: {:?}", report.errors);
    tree.current_version()
        .blob_files()
        .map(strata::BlobFileView::id)
        .collect()
}

/// The child: writes batches forever, flushing each and reporting it, then running one
/// compaction step, until killed.
fn child(dir: &str, cycle: u64) {
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(dir, seqno.clone(), SequenceNumberCounter::default())
        .with_kv_separation(kv(cycle))
        .open()
        .expect("child opens the tree");
    let strategy = Arc::new(Leveled::default().with_l0_threshold(4));
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
        // Batches never overlap, so `Leveled` only moves tables; every eighth batch a major
        // compaction drops the scratch keys, which makes blob files stale, and its garbage
        // collection relocates their live values.
        if batch % 8 == 7 {
            tree.major_compact(64 << 20, seqno.get())
                .expect("major compaction");
        } else {
            tree.compact(strategy.clone(), seqno.get())
                .expect("compaction");
        }
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

/// Runs the child of `cycle` on `dir`, kills it after `millis` ms, and returns the number of
/// batches it reported flushed. With `wait_for`, the `millis` start once the child reported that
/// batch flushed: progress the kill cannot cut short however loaded the machine is (a kill after
/// batch 8 lands after the first major compaction and its garbage collection).
fn run_and_kill_child(
    exe: &Path,
    dir: &Path,
    cycle: u64,
    millis: u64,
    wait_for: Option<u64>,
) -> u64 {
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "kill_9_never_loses_a_completed_flush",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .env(CYCLE_ENV, cycle.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut output = String::new();
    if let Some(batch) = wait_for {
        let target = format!("flushed {batch}");
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap() > 0 {
            output.push_str(&line);
            let reached = line.trim_end() == target;
            line.clear();
            if reached {
                break;
            }
        }
    }
    std::thread::sleep(Duration::from_millis(millis));
    child.kill().unwrap();
    child.wait().unwrap();
    stdout.read_to_string(&mut output).unwrap();
    output
        .lines()
        .filter_map(|l| l.strip_prefix("flushed "))
        .filter_map(|n| n.parse::<u64>().ok())
        .max()
        .map_or(0, |last| last + 1)
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
    let (mut max_blob_files, mut blob_files_dropped) = (0, 0);
    let mut blob_ids = BTreeSet::new();
    for cycle in 0..cycles {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Every fifth cycle is killed only after its first major compaction, so that garbage
        // collection runs (and is checked across the kill) on a loaded machine too; the others
        // are killed at a random time from their start.
        let wait_for = (cycle % 5 == 4).then_some(8);
        let flushed = run_and_kill_child(&exe, dir.path(), cycle, 30 + rng % 250, wait_for);
        completed.push(flushed);

        // Reopen and check every completed flush of every cycle so far.
        let tree = Config::new(
            dir.path(),
            SequenceNumberCounter::default(),
            SequenceNumberCounter::default(),
        )
        .open()
        .unwrap();
        let ids = check_recovered_files(dir.path(), &tree, cycle);
        max_blob_files = max_blob_files.max(ids.len());
        blob_files_dropped += blob_ids.difference(&ids).count();
        blob_ids = ids;
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
        "kill9: {cycles} cycles, {total} completed flushes checked, {killed_mid_flush} kills between a flush and its report, at most {max_blob_files} blob files ({blob_files_dropped} dropped by garbage collection), 0 lost"
    );
    assert!(total > 0, "the child never completed a flush");
    assert!(max_blob_files > 0, "no value was ever separated");
    assert!(blob_files_dropped > 0, "no blob file was ever collected");
}
