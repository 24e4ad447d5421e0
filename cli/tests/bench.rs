//! `strata bench` as a user runs it: the binary, child processes per engine run, the table.

#![allow(clippy::unwrap_used, reason = "test code")]

use std::process::Command;

#[test]
fn a_short_bench_prints_the_table_with_every_workload_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args([
            "bench",
            "--num",
            "3000",
            "--benchmarks",
            "fillrandom,readrandom,readseq,seekrandom,prefixscan,mergerandom,readrandom",
            "--runs",
            "2",
            "--quiet",
            "--db",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    for workload in [
        "fillrandom",
        "readrandom",
        "readseq",
        "seekrandom",
        "prefixscan",
        "mergerandom",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(workload))
            .unwrap_or_else(|| panic!("no {workload} row in:\n{stdout}"));
        assert!(line.contains("strata"), "{line}");
    }
    assert!(stdout.contains("settings: compression none"));
    // Prefix scans of missing prefixes skip tables by their prefix filters (3000 keys settle
    // in one table, which holds every even 4-byte prefix and none of the odd ones).
    let skipped = stdout
        .lines()
        .find_map(|l| l.strip_prefix("prefixscan: strata skipped "))
        .unwrap_or_else(|| panic!("no skip count in:\n{stdout}"));
    let skipped: u64 = skipped.split_whitespace().next().unwrap().parse().unwrap();
    assert!(skipped > 0, "{stdout}");
    // Each run was a process of its own, which reported a peak RSS.
    let fill = stdout
        .lines()
        .find(|l| l.starts_with("fillrandom"))
        .unwrap();
    assert!(fill.split_whitespace().count() >= 10, "{fill}");
}

#[test]
fn an_unknown_workload_is_one_line_and_a_non_zero_exit() {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["bench", "--benchmarks", "nosuch", "--quiet"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown workload"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

/// `--range-tombstones`: one row per placement and workload, with both trees' ops/s and a
/// positive cost ×.
#[test]
fn a_range_tombstone_bench_prints_a_cost_per_placement_and_workload() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args([
            "bench",
            "--num",
            "2000",
            "--range-tombstones",
            "20",
            "--rt-width",
            "5",
            "--rt-placement",
            "memtable,compacted",
            "--runs",
            "2",
            "--quiet",
            "--db",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    let header = stdout
        .lines()
        .find(|l| l.starts_with("placement"))
        .unwrap_or_else(|| panic!("no header in:\n{stdout}"));
    let columns: Vec<&str> = header.split_whitespace().collect();
    for column in ["workload", "engine", "base", "RT", "cost", "(min-max)"] {
        assert!(columns.contains(&column), "{header}");
    }
    for placement in ["memtable", "compacted"] {
        for workload in [
            "readrandom",
            "readmissing",
            "seekrandom",
            "seekrandom50",
            "readseq",
        ] {
            let row: Vec<&str> = stdout
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .find(|f| f.first() == Some(&placement) && f.get(1) == Some(&workload))
                .unwrap_or_else(|| panic!("no {placement} {workload} row in:\n{stdout}"));
            // placement workload engine base (min-max) RT (min-max) cost (min-max) ≤1.2
            assert_eq!(row.len(), 10, "{row:?}");
            assert_eq!(row[2], "strata");
            let cost: f64 = row[7].parse().unwrap();
            assert!(cost.is_finite() && cost > 0.0, "{row:?}");
            assert!(row[8].starts_with('(') && row[8].ends_with(')'), "{row:?}");
            // Within the target or not, but never a wrong read.
            assert!(["yes", "no"].contains(&row[9]), "{row:?}");
        }
    }
    assert!(stdout.contains("cost ×: baseline ops/s ÷ ops/s with range tombstones"));
}

/// `--kv-separation --value-size N`: the settings say so, and the overwrite row reports the space
/// amplification after a full compaction (SA full) beside the one after settling (SA).
#[test]
fn a_kv_separation_bench_reports_space_amplification_after_a_full_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args([
            "bench",
            "--num",
            "2000",
            "--value-size",
            "2048",
            "--kv-separation",
            "--blob-threshold",
            "512",
            "--benchmarks",
            "fillrandom,overwrite,readrandom,readseq",
            "--runs",
            "1",
            "--quiet",
            "--db",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains("values of 512 bytes and more in blob files"),
        "{stdout}"
    );
    let header: Vec<&str> = stdout
        .lines()
        .find(|l| l.starts_with("workload"))
        .unwrap()
        .split_whitespace()
        .collect();
    let sa = header.iter().position(|c| *c == "SA").unwrap();
    assert_eq!(header[sa + 2..sa + 4], ["SA", "full"], "{header:?}");
    // workload engine ops/s (min-max) MB/s p50 p99 RSS disk SA ratio SA-full WA
    let row: Vec<&str> = stdout
        .lines()
        .find(|l| l.starts_with("overwrite"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(row.len(), 13, "{row:?}");
    let settled: f64 = row[9].parse().unwrap();
    let compacted: f64 = row[11].parse().unwrap();
    assert!(
        settled > 1.5,
        "the overwritten values are still on disk: {row:?}"
    );
    assert!(
        compacted < 1.3,
        "the full compaction reclaimed them: {row:?}"
    );
    let fill: Vec<&str> = stdout
        .lines()
        .find(|l| l.starts_with("fillrandom"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(fill[11], "-", "no full compaction after a fill: {fill:?}");
}

#[test]
fn a_blob_threshold_without_kv_separation_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["bench", "--blob-threshold", "512", "--quiet"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--kv-separation"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

/// `--engine database`: the database workloads, each engine run in a child process, in the
/// table with the WAL's settings.
#[test]
fn a_database_bench_prints_its_workloads_with_the_wal_on() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args([
            "bench",
            "--engine",
            "database",
            "--durability",
            "syncdata",
            "--num",
            "2000",
            "--runs",
            "1",
            "--quiet",
            "--db",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains("WAL on, every write synced before it returns"),
        "{stdout}"
    );
    for workload in [
        "fillrandom",
        "overwrite",
        "readrandom",
        "readwhilewriting",
        "fillsync",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(workload))
            .unwrap_or_else(|| panic!("no {workload} row in:\n{stdout}"));
        assert!(line.contains("strata"), "{line}");
    }
}
