//! Concurrency: 4 writer threads, 2 reader threads and a thread that rotates and flushes, on one
//! tree; in the second test also a scanning thread that holds long iterators open and two threads
//! that run `Leveled` compaction steps at once.
//!
//! Writers take seqnos from the shared counter and write a batch of three keys per seqno (all with
//! the seqno as value), plus one unique key per batch. They publish in seqno order: a reader reads
//! at the visible seqno X only once every write below X is complete, as fjall's write path does.
//! Readers register the seqno they read at; flushes and compactions get the lowest registered
//! seqno (or the visible one if none is registered) as GC watermark, which promises only what is
//! true: no read below it will happen again. Readers check that
//! - every scan is sorted and free of duplicates;
//! - a batch is atomic: the three keys of a writer always show the same seqno, below X;
//! - a read is consistent with its seqno: repeating it at the same X gives the same answer, and
//!   later reads never go back in time;
//! - (the scanner) a whole-tree scan at X, read slowly while tables are compacted away beneath it,
//!   holds for each writer exactly its first m unique keys, with increasing seqnos, and its batch
//!   at the seqno of the m-th; a second scan at X gives the same items.
//!
//! And at the end no write is lost: the content equals what the writers wrote, before and after a
//! final compaction and after a reopen, which leaves no orphan table file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::single_match_else,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use strata::compaction::{CompactionAction, Leveled};
use strata::fs::{Fs, StdFs};
use strata::{Config, Guard, SeqNo, SequenceNumberCounter, Slice, Tree};

const WRITERS: u64 = 4;
const READERS: usize = 2;

/// Serializes the tests of this file.
static EXCLUSIVE: Mutex<()> = Mutex::new(());

/// Batches per writer (`default` unless `STRATA_CONCURRENCY_BATCHES=N` asks for a longer run).
fn batches_per_writer(default: u64) -> u64 {
    std::env::var("STRATA_CONCURRENCY_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn batch_key(writer: u64, i: u64) -> String {
    format!("batch/{writer}/{i}")
}

fn unique_key(writer: u64, n: u64) -> String {
    format!("unique/{writer}/{n:08}")
}

fn seqno_of(value: &[u8]) -> SeqNo {
    SeqNo::from_le_bytes(value.try_into().expect("values are 8-byte seqnos"))
}

/// Reads writer `w`'s batch at `read`; asserts atomicity and returns its seqno (None if unwritten).
fn read_batch(tree: &Tree, w: u64, read: SeqNo) -> Option<SeqNo> {
    let values: Vec<Option<SeqNo>> = (0..3)
        .map(|i| {
            tree.get(batch_key(w, i), read)
                .unwrap()
                .map(|v| seqno_of(&v))
        })
        .collect();
    assert!(
        values.iter().all(|v| *v == values[0]),
        "batch of writer {w} torn at read {read}: {values:?}"
    );
    if let Some(s) = values[0] {
        assert!(s < read, "read at {read} saw seqno {s}");
    }
    values[0]
}

/// The seqnos readers read at. The GC watermark is the lowest of them, or, if none is taken, the
/// visible seqno: a reader registers under the same lock, so it never reads below a watermark
/// handed out before.
struct Snapshots {
    slots: Mutex<Vec<Option<SeqNo>>>,
    visible: SequenceNumberCounter,
}

impl Snapshots {
    fn new(slots: usize, visible: SequenceNumberCounter) -> Self {
        Self {
            slots: Mutex::new(vec![None; slots]),
            visible,
        }
    }

    /// Takes the visible seqno as slot `slot`'s read seqno.
    fn take(&self, slot: usize) -> SeqNo {
        let mut slots = self.slots.lock().unwrap();
        let read = self.visible.get();
        slots[slot] = Some(read);
        read
    }

    fn release(&self, slot: usize) {
        self.slots.lock().unwrap()[slot] = None;
    }

    fn watermark(&self) -> SeqNo {
        let slots = self.slots.lock().unwrap();
        slots
            .iter()
            .flatten()
            .copied()
            .min()
            .unwrap_or_else(|| self.visible.get())
    }
}

/// Checks a whole-tree scan at `read` (items as (key, seqno of the value)): for each writer its
/// unique keys are exactly its first m, with increasing seqnos, and its batch shows the seqno of
/// the m-th (or is absent if m = 0).
fn check_scan(items: &[(Slice, SeqNo)], read: SeqNo) {
    assert!(
        items.windows(2).all(|w| w[0].0 < w[1].0),
        "scan at {read} not strictly sorted"
    );
    let mut batches: BTreeMap<u64, Vec<SeqNo>> = BTreeMap::new();
    let mut uniques: BTreeMap<u64, Vec<(u64, SeqNo)>> = BTreeMap::new();
    for (key, s) in items {
        assert!(*s < read, "scan at {read} saw seqno {s}");
        let key = std::str::from_utf8(key).unwrap();
        let parts: Vec<&str> = key.split('/').collect();
        let (w, n): (u64, u64) = (parts[1].parse().unwrap(), parts[2].parse().unwrap());
        match parts[0] {
            "batch" => batches.entry(w).or_default().push(*s),
            "unique" => uniques.entry(w).or_default().push((n, *s)),
            other => panic!("unexpected key {other}"),
        }
    }
    for w in 0..WRITERS {
        let unique = uniques.remove(&w).unwrap_or_default();
        for (i, pair) in unique.iter().enumerate() {
            assert_eq!(
                pair.0, i as u64,
                "writer {w}: unique key {i} missing at {read} (a hole)"
            );
        }
        assert!(
            unique.windows(2).all(|p| p[0].1 < p[1].1),
            "writer {w}: unique seqnos not increasing at {read}"
        );
        let batch = batches.remove(&w).unwrap_or_default();
        match unique.last() {
            None => assert!(batch.is_empty(), "writer {w}: batch without unique key"),
            Some(&(_, last)) => assert_eq!(
                batch,
                vec![last; 3],
                "writer {w}: batch does not match its last unique key at {read}"
            ),
        }
    }
    assert!(batches.is_empty() && uniques.is_empty(), "unknown writers");
}

/// Every item of the tree at `read`, as (key, seqno of the value).
fn scan(tree: &Tree, read: SeqNo) -> Vec<(Slice, SeqNo)> {
    tree.iter(read, None)
        .map(|g| {
            let (k, v) = g.into_inner().unwrap();
            (k, seqno_of(&v))
        })
        .collect()
}

/// The `.sst` files in `dir/tables`.
fn sst_files(dir: &Path) -> usize {
    StdFs
        .list(&dir.join("tables"))
        .unwrap()
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .count()
}

/// Leveled steps for the compactor threads: level 0 compacts at 2 runs, 16 KiB tables.
fn leveled() -> Arc<Leveled> {
    Arc::new(
        Leveled::default()
            .with_l0_threshold(2)
            .with_table_target_size(16 << 10),
    )
}

/// What the compactor threads did.
#[derive(Debug, Default)]
struct CompactorStats {
    merged: u64,
    moved: u64,
    /// Steps that did something, as (start, end), to count those that overlapped in time.
    spans: Vec<(Instant, Instant)>,
}

/// Runs the workload with `compactors` compaction threads (and, with compaction, the scanner);
/// `batches` per writer.
fn run(compactors: usize, batches: u64) {
    // One workload at a time: each keeps every core busy, and two at once only slow each other
    // down (the writers' in-order publishing stalls whenever a writer is descheduled).
    let _exclusive = EXCLUSIVE.lock().unwrap_or_else(PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let seqno = SequenceNumberCounter::default();
    let visible = SequenceNumberCounter::default();
    let tree = Config::new(dir.path(), seqno.clone(), visible.clone())
        .open()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let scanning = compactors > 0;
    let snapshots = Arc::new(Snapshots::new(READERS + 1, visible.clone()));

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (tree, seqno, visible) = (tree.clone(), seqno.clone(), visible.clone());
            std::thread::spawn(move || {
                let mut written = Vec::with_capacity(batches as usize);
                for n in 0..batches {
                    let s = seqno.next();
                    for i in 0..3 {
                        tree.insert(batch_key(w, i), s.to_le_bytes(), s);
                    }
                    tree.insert(unique_key(w, n), s.to_le_bytes(), s);
                    written.push(s);
                    // Publish in seqno order: wait for every lower seqno to be published.
                    // (`<` and `fetch_max`, so that a tree raising the visible seqno on its own
                    // breaks an assertion rather than hangs this loop.)
                    while visible.get() < s {
                        std::hint::spin_loop();
                        std::thread::yield_now();
                    }
                    visible.fetch_max(s + 1);
                }
                written
            })
        })
        .collect();

    let readers: Vec<_> = (0..READERS)
        .map(|slot| {
            let (tree, snapshots, stop) = (tree.clone(), Arc::clone(&snapshots), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut last_seen = [0u64; WRITERS as usize];
                let mut rounds = 0u64;
                while !stop.load(Ordering::Acquire) {
                    let read = snapshots.take(slot);
                    for w in 0..WRITERS {
                        let seen = read_batch(&tree, w, read).unwrap_or(0);
                        assert!(
                            seen >= last_seen[w as usize],
                            "writer {w} went back in time"
                        );
                        last_seen[w as usize] = seen;
                        assert_eq!(
                            read_batch(&tree, w, read).unwrap_or(0),
                            seen,
                            "unstable read"
                        );
                    }
                    // A full scan at `read`: sorted, no duplicates, and all values below `read`.
                    let keys: Vec<_> = tree
                        .iter(read, None)
                        .map(|g| {
                            let (k, v) = g.into_inner().unwrap();
                            assert!(seqno_of(&v) < read);
                            k
                        })
                        .collect();
                    assert!(
                        keys.windows(2).all(|w| w[0] < w[1]),
                        "scan not strictly sorted"
                    );
                    let again = tree.iter(read, None).count();
                    assert_eq!(again, keys.len(), "scan at {read} not repeatable");
                    let reversed: Vec<_> = tree
                        .iter(read, None)
                        .rev()
                        .map(|g| g.key().unwrap())
                        .collect();
                    assert!(
                        reversed.iter().rev().eq(keys.iter()),
                        "reverse scan differs"
                    );
                    snapshots.release(slot);
                    rounds += 1;
                }
                rounds
            })
        })
        .collect();

    // Slow whole-tree scans: each iterator stays open across flushes and compactions that replace
    // the tables it reads.
    let scanner = scanning.then(|| {
        let (tree, snapshots, stop) = (tree.clone(), Arc::clone(&snapshots), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut scans = 0u64;
            while !stop.load(Ordering::Acquire) {
                let read = snapshots.take(READERS);
                let mut items = Vec::new();
                for (i, g) in tree.iter(read, None).enumerate() {
                    let (k, v) = g.into_inner().unwrap();
                    items.push((k, seqno_of(&v)));
                    if i % 512 == 511 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                check_scan(&items, read);
                assert!(scan(&tree, read) == items, "scan at {read} not repeatable");
                snapshots.release(READERS);
                scans += 1;
            }
            scans
        })
    });

    let compactor_threads: Vec<_> = (0..compactors)
        .map(|_| {
            let (tree, snapshots, stop) = (tree.clone(), Arc::clone(&snapshots), Arc::clone(&stop));
            std::thread::spawn(move || {
                let strategy = leveled();
                let mut stats = CompactorStats::default();
                while !stop.load(Ordering::Acquire) {
                    let start = Instant::now();
                    let result = tree
                        .compact(strategy.clone(), snapshots.watermark())
                        .unwrap();
                    match result.action {
                        CompactionAction::Nothing => {
                            std::thread::sleep(Duration::from_millis(2));
                            continue;
                        }
                        CompactionAction::Merged => stats.merged += 1,
                        CompactionAction::Moved => stats.moved += 1,
                        CompactionAction::Dropped => panic!("Leveled dropped tables"),
                    }
                    stats.spans.push((start, Instant::now()));
                }
                stats
            })
        })
        .collect();

    let rotator = {
        let (tree, snapshots, stop) = (tree.clone(), Arc::clone(&snapshots), Arc::clone(&stop));
        std::thread::spawn(move || {
            // Rotate, and every other time flush everything sealed while writers and readers run.
            // Without compaction, bounded: every flush adds a run that reads visit.
            let max_rotations = if compactors > 0 { usize::MAX } else { 40 };
            let (mut rotations, mut flushes) = (0, 0);
            while !stop.load(Ordering::Acquire) && rotations < max_rotations {
                std::thread::sleep(Duration::from_millis(5));
                rotations += usize::from(tree.rotate_memtable().is_some());
                if rotations % 2 == 0 {
                    let lock = tree.get_flush_lock();
                    let watermark = snapshots.watermark();
                    flushes += usize::from(tree.flush(&lock, watermark).unwrap().is_some());
                }
            }
            (rotations, flushes)
        })
    };

    let written: Vec<Vec<SeqNo>> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    stop.store(true, Ordering::Release);
    let rounds: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let scans = scanner.map_or(0, |s| s.join().unwrap());
    let stats: Vec<CompactorStats> = compactor_threads
        .into_iter()
        .map(|c| c.join().unwrap())
        .collect();
    let (rotations, flushes) = rotator.join().unwrap();

    let total = WRITERS * batches;
    assert_eq!(seqno.get(), total);
    assert_eq!(visible.get(), total);
    // No write lost: every unique key is there with its value, and each batch holds its last seqno.
    assert_eq!(
        tree.prefix("unique/", SeqNo::MAX, None).count() as u64,
        total
    );
    for w in 0..WRITERS {
        let last = read_batch(&tree, w, SeqNo::MAX).unwrap();
        let last_unique = tree
            .get(unique_key(w, batches - 1), SeqNo::MAX)
            .unwrap()
            .unwrap();
        assert_eq!(last, seqno_of(&last_unique));
    }
    // The whole content is what the writers wrote: before and after compacting everything there
    // is to compact, and after a reopen.
    let mut expected: BTreeMap<Slice, SeqNo> = BTreeMap::new();
    for (w, seqnos) in (0..WRITERS).zip(&written) {
        for (n, s) in (0..).zip(seqnos) {
            expected.insert(unique_key(w, n).into(), *s);
        }
        for i in 0..3 {
            expected.insert(batch_key(w, i).into(), *seqnos.last().unwrap());
        }
    }
    let expected: Vec<(Slice, SeqNo)> = expected.into_iter().collect();
    assert!(scan(&tree, SeqNo::MAX) == expected, "content differs");
    check_scan(&expected, SeqNo::MAX);
    let strategy = leveled();
    while tree.compact(strategy.clone(), seqno.get()).unwrap().action != CompactionAction::Nothing {
    }
    assert!(
        scan(&tree, SeqNo::MAX) == expected,
        "content differs after compaction"
    );
    tree.flush_active_memtable(seqno.get()).unwrap();
    let tables = tree.table_count();
    drop(tree);
    let tree = Config::new(
        dir.path(),
        SequenceNumberCounter::default(),
        SequenceNumberCounter::default(),
    )
    .open()
    .unwrap();
    assert_eq!(tree.table_count(), tables);
    assert_eq!(sst_files(dir.path()), tables, "orphan table files");
    assert!(
        scan(&tree, SeqNo::MAX) == expected,
        "content differs after reopen"
    );

    let merged: u64 = stats.iter().map(|s| s.merged).sum();
    let moved: u64 = stats.iter().map(|s| s.moved).sum();
    let overlapping = stats.first().map_or(0, |a| {
        a.spans
            .iter()
            .filter(|x| {
                stats[1..]
                    .iter()
                    .flat_map(|b| &b.spans)
                    .any(|y| x.0 < y.1 && y.0 < x.1)
            })
            .count()
    });
    println!(
        "concurrency ({compactors} compactors): {total} batches, {rounds} reader rounds, {scans} slow scans, {rotations} rotations, {flushes} flushes, {merged} merges and {moved} moves ({overlapping} steps overlapped another thread's), {tables} tables at the end, 0 violations"
    );
    assert!(rounds > 0);
    if compactors > 0 {
        assert!(scans > 0);
        // NB: how many steps each thread gets depends on scheduling (a loaded machine may see only
        // a few flushes); the invariants above are the test, this only checks compaction ran.
        assert!(merged + moved > 0, "the compactors did nothing");
    }
}

#[test]
fn writers_readers_and_rotation_keep_every_invariant() {
    run(0, batches_per_writer(3_000));
}

#[test]
fn writers_readers_scans_flushes_and_two_compactors_keep_every_invariant() {
    run(2, batches_per_writer(2_000));
}
