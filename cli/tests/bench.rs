//! `strata bench` as a user runs it: the binary, child processes per engine run, the table.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "test code reads the reports it asked for"
)]

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

/// Runs `strata args`; it must succeed. Returns (stdout, stderr).
fn bench_ok(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "strata {args:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    (stdout, stderr)
}

/// The JSON report at `path`.
fn json_report(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The median row of `workload` on `engine` in a JSON report.
fn json_row<'a>(
    json: &'a serde_json::Value,
    workload: &str,
    engine: &str,
) -> &'a serde_json::Value {
    json["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["workload"] == workload && r["engine"] == engine)
        .unwrap_or_else(|| panic!("no {workload} row of {engine} in {json}"))
}

/// `--reopen --db DIR`: the reads run in a fresh process on the settled database opened again
/// and find every key (a missing key or a wrong scan count fails the run); the settings line
/// says so; the memory section lists Strata's read workloads; the databases stay in
/// DIR/strata-run1 (and -prefix), where `strata verify` and `strata inspect` read them.
#[test]
fn a_reopen_bench_reads_in_a_fresh_process_and_keeps_its_databases() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let json = dir.path().join("out.json");
    let (stdout, stderr) = bench_ok(&[
        "bench",
        "--num",
        "2000",
        "--benchmarks",
        "fillrandom,overwrite,readrandom,readseq,readreverse,seekrandom,prefixscan,readmissing",
        "--runs",
        "1",
        "--reopen",
        "--quiet",
        "--db",
        db.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        stdout.contains("reads reopened: on the settled database opened again in a fresh process"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Strata's memory after each read workload"),
        "{stdout}"
    );
    let report = json_report(&json);
    assert_eq!(report["reads"], "reopened");
    for (workload, ops) in [
        ("readrandom", 2000),
        ("readmissing", 2000),
        ("readseq", 2000),
        ("readreverse", 2000),
        ("seekrandom", 200),
    ] {
        let row = json_row(&report, workload, "strata");
        assert_eq!(row["runs"][0]["ops"], ops, "{row}");
        assert!(row["peak_rss_bytes"].as_u64().unwrap() > 0, "{row}");
        assert!(
            row["memory"]["pinned_index_bytes"].as_u64().unwrap() > 0,
            "{row}"
        );
    }
    let main = db.join("strata-run1");
    let prefixed = db.join("strata-run1-prefix");
    assert!(stderr.contains("kept the databases"), "{stderr}");
    assert!(stderr.contains(main.to_str().unwrap()), "{stderr}");
    assert!(
        stderr.contains(&format!("strata verify {}", main.display())),
        "{stderr}"
    );
    for folder in [&main, &prefixed] {
        bench_ok(&["verify", folder.to_str().unwrap()]);
    }
    let (inspect, _) = bench_ok(&["inspect", main.to_str().unwrap()]);
    assert!(!inspect.is_empty());
}

/// `--engine database --reopen --db DIR`: the database is opened again for the reads, and
/// `strata verify` checks the folder it leaves (VERSION, catalog, WAL, the keyspace's tree).
#[test]
fn a_database_bench_reopens_its_database_and_leaves_one_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let (stdout, _) = bench_ok(&[
        "bench",
        "--engine",
        "database",
        "--num",
        "2000",
        "--benchmarks",
        "fillrandom,readrandom,readwhilewriting,readseq",
        "--runs",
        "1",
        "--reopen",
        "--quiet",
        "--db",
        db.to_str().unwrap(),
    ]);
    assert!(stdout.contains("reads reopened"), "{stdout}");
    for workload in ["readrandom", "readwhilewriting", "readseq"] {
        assert!(
            stdout.lines().any(|l| l.starts_with(workload)),
            "no {workload} row in:\n{stdout}"
        );
    }
    bench_ok(&["verify", db.join("strata-run1").to_str().unwrap()]);
}

/// `--reopen --compare`: every peer opens its database again for the reads, and the report
/// gives Strata's ratio to the best peer of each workload against its goal.
#[cfg(feature = "compare")]
#[test]
fn a_reopen_bench_with_peers_reports_the_ratio_to_the_best_peer() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let plot = dir.path().join("out.svg");
    let (stdout, _) = bench_ok(&[
        "bench",
        "--num",
        "2000",
        "--benchmarks",
        "fillrandom,readrandom,seekrandom",
        "--compare",
        "lsm-tree,coordinode-lsm-tree",
        "--runs",
        "1",
        "--reopen",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    let goals = stdout
        .split("Strata against the best peer")
        .nth(1)
        .unwrap_or_else(|| panic!("no goals section in:\n{stdout}"));
    for workload in ["fillrandom", "readrandom", "seekrandom"] {
        let row: Vec<&str> = goals
            .lines()
            .find(|l| l.starts_with(workload))
            .unwrap_or_else(|| panic!("no {workload} goal row in:\n{stdout}"))
            .split_whitespace()
            .collect();
        assert!(
            ["lsm-tree", "coordinode-lsm-tree"].contains(&row[1]),
            "{row:?}"
        );
        assert!(row[2].parse::<f64>().unwrap() > 0.0, "{row:?}");
        assert_eq!(row[3], "≥1.5", "{row:?}");
    }
    assert!(
        goals.contains("below goal:") || goals.contains("every workload meets its goal"),
        "{stdout}"
    );
    let report = json_report(&json);
    for engine in ["strata", "lsm-tree", "coordinode-lsm-tree"] {
        assert_eq!(
            json_row(&report, "readrandom", engine)["runs"][0]["ops"],
            2000
        );
    }
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("the best peer"), "no ratio chart");
}
