//! kill -9 under `strata::Database` (RELIABILITY.md suite 3, issue 15 "Tests"): the test binary
//! re-runs itself as a child that opens a database in a real directory (tiny write-buffer
//! budget, small WAL segments and journal limit) and runs 8 writer threads on a hot keyspace,
//! plain (`Buffer`) and `SyncData` writes mixed, one thread writing 3-key batches; an idle
//! keyspace gets one write per run and nothing more. Each writer prints a line once a write
//! returned. The parent kills the child at a random moment, reopens the database and checks:
//! - every write the child reported is there, with its value: the `SyncData` ones, and the
//!   `Buffer` ones too, since a killed process leaves its writes in the page cache (C1);
//! - the batch after the last one reported is whole or absent;
//! - the idle keyspace's write of every run is there, and the WAL stays small (the idle
//!   keyspace never pins it for long: fjall #288);
//! - the next child's writes resume within seconds of its open (fjall #257).
//!
//! CI runs 100 cycles (issue 15 asks for at least 100), each killing the child 20 to 270 ms after
//! its first acknowledged write; `STRATA_DB_KILL9_CYCLES=N` runs N.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::too_many_lines,
    reason = "test code: a failed unwrap is a failed test; the parent reads the WAL folder; one \
              cycle runs its steps in order"
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use strata::{Database, KeyspaceCreateOptions, PersistMode};

const CHILD_ENV: &str = "STRATA_DB_KILL9_CHILD_DIR";
const CYCLE_ENV: &str = "STRATA_DB_KILL9_CYCLE";
const TEST_NAME: &str = "kill_9_never_loses_an_acknowledged_database_write";
const WRITERS: u64 = 8;
/// The writer that commits 3-key batches.
const BATCHER: u64 = 7;
const SEGMENT: u64 = 256 << 10;
const JOURNAL_LIMIT: u64 = 4 << 20;

fn open(dir: &Path) -> strata::Result<Database> {
    Database::builder(dir)
        .worker_threads(2)
        .max_write_buffer_size(512 << 10)
        .journal_segment_size(SEGMENT)
        .max_journaling_size(JOURNAL_LIMIT)
        .open()
}

fn options() -> KeyspaceCreateOptions {
    KeyspaceCreateOptions::default().max_memtable_size(128 << 10)
}

fn key(cycle: u64, writer: u64, i: u64) -> String {
    format!("c{cycle:04}/w{writer}/{i:08}")
}

fn value(cycle: u64, writer: u64, i: u64) -> String {
    format!("v{cycle}-{writer}-{i}-{}", "p".repeat((i % 7) as usize * 8))
}

/// Whether writer `w`'s write `i` is synced.
fn synced(writer: u64, i: u64) -> bool {
    (writer + i).is_multiple_of(4)
}

/// The child: writes until killed, printing `ack <writer> <i>` after each write returns.
fn child(dir: &Path, cycle: u64) {
    let started = Instant::now();
    let db = open(dir).expect("the child opens the database");
    let hot = db.keyspace("hot", options).unwrap();
    let idle = db.keyspace("idle", options).unwrap();
    idle.insert(format!("idle/{cycle:04}"), "once").unwrap();
    println!("idle {cycle}");
    println!("opened {}", started.elapsed().as_millis());
    std::io::stdout().flush().unwrap();
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (db, hot) = (db.clone(), hot.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    let mut batch = db.batch();
                    if synced(w, i) {
                        batch = batch.durability(Some(PersistMode::SyncData));
                    }
                    if w == BATCHER {
                        for part in ["a", "b", "c"] {
                            batch.insert(&hot, format!("{}/{part}", key(cycle, w, i)), "x");
                        }
                    } else {
                        batch.insert(&hot, key(cycle, w, i), value(cycle, w, i));
                    }
                    if let Err(e) = batch.commit() {
                        // NB: nothing is injected: any failure is a finding.
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "error {w} {i} {e} ({:?})", db.background_error()).unwrap();
                        out.flush().unwrap();
                        return;
                    }
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {w} {i}").unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

/// What one child reported: per writer, the highest write acknowledged (if any).
#[derive(Default)]
struct Report {
    acked: BTreeMap<u64, u64>,
    idle: bool,
    /// Milliseconds from the child's start to its database open.
    opened_ms: Option<u64>,
}

fn segments(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("wal")).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            .count()
    })
}

#[test]
fn kill_9_never_loses_an_acknowledged_database_write() {
    if let (Ok(dir), Ok(cycle)) = (std::env::var(CHILD_ENV), std::env::var(CYCLE_ENV)) {
        child(Path::new(&dir), cycle.parse().unwrap());
        return;
    }
    let cycles: u64 = std::env::var("STRATA_DB_KILL9_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut reports: Vec<Report> = Vec::new();
    let (mut checked, mut synced_checked, mut most_segments, mut slowest_ms) = (0u64, 0u64, 0, 0);
    let mut whole_batches_after = 0u64;
    for cycle in 0..cycles {
        let mut child = Command::new(&exe)
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .env(CYCLE_ENV, cycle.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let spawned = Instant::now();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Writes resume within seconds of the open: wait for the first acknowledgement.
        let mut lines = Vec::new();
        let first_ack = loop {
            let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) else {
                let _ = child.kill();
                panic!("cycle {cycle}: no write acknowledged 20 s after the child started");
            };
            let is_ack = line.starts_with("ack ");
            lines.push(line);
            if is_ack {
                break spawned.elapsed();
            }
        };
        assert!(
            first_ack < Duration::from_secs(10),
            "cycle {cycle}: the first write took {first_ack:?} after the child started"
        );
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(20 + rng % 250));
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(rx.try_iter());
        let mut report = Report::default();
        if let Some(error) = lines.iter().find(|l| l.starts_with("error ")) {
            panic!("cycle {cycle}: a child's write failed: {error}");
        }
        for line in &lines {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("ack"), Some(w), Some(i)) => {
                    let (w, i): (u64, u64) = (w.parse().unwrap(), i.parse().unwrap());
                    let top = report.acked.entry(w).or_insert(i);
                    *top = (*top).max(i);
                }
                (Some("idle"), _, _) => report.idle = true,
                (Some("opened"), Some(ms), _) => report.opened_ms = ms.parse().ok(),
                _ => {}
            }
        }
        slowest_ms = slowest_ms.max(report.opened_ms.unwrap_or(0));
        reports.push(report);
        most_segments = most_segments.max(segments(dir.path()));

        // Reopen and check every acknowledged write of this cycle, and a sample of the earlier.
        let db = open(dir.path()).unwrap();
        let hot = db.keyspace("hot", options).unwrap();
        let idle = db.keyspace("idle", options).unwrap();
        for (c, report) in reports.iter().enumerate() {
            let c = c as u64;
            if report.idle {
                assert_eq!(
                    idle.get(format!("idle/{c:04}")).unwrap().as_deref(),
                    Some(b"once".as_slice()),
                    "cycle {c}: the idle keyspace's write lost after the kill at cycle {cycle}"
                );
            }
            for (&w, &top) in &report.acked {
                let all: Vec<u64> = if c == cycle {
                    (0..=top).collect()
                } else {
                    vec![0, top / 2, top]
                };
                for i in all {
                    checked += 1;
                    synced_checked += u64::from(synced(w, i));
                    if w == BATCHER {
                        for part in ["a", "b", "c"] {
                            let k = format!("{}/{part}", key(c, w, i));
                            assert!(
                                hot.get(&k).unwrap().is_some(),
                                "cycle {c}: acknowledged batch {k} lost after the kill at \
                                 cycle {cycle} (synced: {})",
                                synced(w, i)
                            );
                        }
                    } else {
                        let got = hot.get(key(c, w, i)).unwrap();
                        assert_eq!(
                            got.as_deref(),
                            Some(value(c, w, i).as_bytes()),
                            "cycle {c}: acknowledged write {} lost after the kill at cycle \
                             {cycle} (synced: {})",
                            key(c, w, i),
                            synced(w, i)
                        );
                    }
                }
                if c == cycle && w == BATCHER {
                    // The batch after the last one reported: whole or absent.
                    let present = ["a", "b", "c"]
                        .iter()
                        .filter(|p| {
                            let k = format!("{}/{p}", key(c, w, top + 1));
                            hot.get(k).unwrap().is_some()
                        })
                        .count();
                    assert!(present == 0 || present == 3, "cycle {c}: a partial batch");
                    whole_batches_after += u64::from(present == 3);
                }
            }
        }
        drop((hot, idle, db));
        most_segments = most_segments.max(segments(dir.path()));
    }
    // NB: nothing slows writers on the WAL's size: it overshoots the journal limit while the
    // flushes that limit forces run (38 segments, 2.4x, seen in 150 cycles). A keyspace that
    // pinned it would make it grow with every cycle instead.
    let bound = (JOURNAL_LIMIT / SEGMENT) as usize * 4 + 4;
    println!(
        "db kill9: {cycles} cycles, {checked} acknowledged writes checked ({synced_checked} \
         synced), {whole_batches_after} unreported batches found whole, at most {most_segments} \
         WAL segments (bound {bound}), slowest open {slowest_ms} ms, 0 lost"
    );
    let total: u64 = reports.iter().map(|r| r.acked.len() as u64).sum();
    assert!(total > 0, "the children never acknowledged a write");
    assert!(
        most_segments <= bound,
        "{most_segments} WAL segments: the idle keyspace pins the WAL"
    );
}
