//! The report: a table on the terminal, JSON, and an SVG chart.
//!
//! Per engine and workload: the median run's ops/s with the min–max over runs, MB/s, p50 and p99
//! latency (of sampled single operations), peak RSS (each engine's run is a process of its own),
//! and for write workloads bytes on disk after settling, space amplification (disk bytes / live
//! key-value bytes) and write amplification (bytes the process wrote / bytes the user wrote); for
//! `overwrite` with `--full-compaction` (on with `--kv-separation`), the space amplification
//! after a full compaction too; for a peer, Strata's ratio to it. Disk bytes are the files under
//! each engine's folder, walked the same way for every engine. The JSON adds the write
//! amplification by the engine's own count of bytes flushed and compacted, where it keeps one
//! (Strata), beside the process's.

#![expect(clippy::cast_precision_loss, reason = "figures are reported as f64")]

use std::path::Path;

use serde_json::json;

use super::Results;
use super::engine::BoxError;
use super::workloads::Measurement;

/// The run with the median ops/s among `runs` (the lower middle for an even count).
fn median(runs: &[&Measurement]) -> Option<Measurement> {
    let mut sorted: Vec<&Measurement> = runs.to_vec();
    sorted.sort_by(|a, b| a.ops_per_sec().total_cmp(&b.ops_per_sec()));
    let mid = sorted.len().checked_sub(1)? / 2;
    sorted.get(mid).map(|m| (*m).clone())
}

/// A workload's runs on one engine: (median run, min ops/s, max ops/s).
type Summary = (Measurement, f64, f64);

/// Per engine, per workload: its [`Summary`].
fn summarize(results: &Results) -> Vec<Vec<Option<Summary>>> {
    results
        .runs
        .iter()
        .map(|runs| {
            (0..results.workloads.len())
                .map(|w| {
                    let of_w: Vec<&Measurement> = runs
                        .iter()
                        .filter_map(|r| r.get(w))
                        .filter(|m| !m.unsupported)
                        .collect();
                    let rates: Vec<f64> = of_w.iter().map(|m| m.ops_per_sec()).collect();
                    let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
                    let max = rates.iter().copied().fold(0.0, f64::max);
                    median(&of_w).map(|m| (m, min, max))
                })
                .collect()
        })
        .collect()
}

/// Strata's (the first engine's) median ops/s on workload `w`.
fn strata_rate(summary: &[Vec<Option<Summary>>], w: usize) -> Option<f64> {
    summary
        .first()
        .and_then(|s| s.get(w))
        .and_then(|s| s.as_ref())
        .map(|(m, _, _)| m.ops_per_sec())
}

fn human(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.2}M", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.1}k", rate / 1e3)
    } else {
        format!("{rate:.0}")
    }
}

fn micros(ns: Option<u64>) -> String {
    ns.map_or_else(|| "-".into(), |ns| format!("{:.2}", ns as f64 / 1e3))
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "-".into(),
        |b| format!("{:.1}", b as f64 / (1u64 << 20) as f64),
    )
}

fn ratio(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |x| format!("{x:.2}"))
}

pub(crate) fn print(results: &Results) {
    let summary = summarize(results);
    println!();
    println!("settings: {}", results.settings.describe());
    println!(
        "{} entries, {}-byte keys, {}-byte values; {} reads; {} thread(s); {} run(s) per engine, engines alternating; figures from the median run",
        results.params.num,
        results.params.key_size,
        results.params.value_size,
        results.params.reads,
        results.params.threads,
        results.runs.first().map_or(0, Vec::len)
    );
    println!();
    println!(
        "{:<16} {:<20} {:>10} {:>19} {:>8} {:>9} {:>9} {:>9} {:>9} {:>6} {:>6} {:>7} {:>6} {:>10}",
        "workload",
        "engine",
        "ops/s",
        "(min-max)",
        "MB/s",
        "p50 µs",
        "p99 µs",
        "RSS MiB",
        "disk MiB",
        "SA",
        "ratio",
        "SA full",
        "WA",
        "strata ×"
    );
    println!("{}", "-".repeat(155));
    for (w, workload) in results.workloads.iter().enumerate() {
        let strata_rate = strata_rate(&summary, w);
        for (e, engine) in results.engines.iter().enumerate() {
            let Some(Some((m, min, max))) = summary.get(e).and_then(|s| s.get(w)) else {
                continue;
            };
            let vs = if e == 0 {
                String::new()
            } else {
                strata_rate.map_or_else(String::new, |s| format!("{:.2}", s / m.ops_per_sec()))
            };
            println!(
                "{:<16} {:<20} {:>10} {:>19} {:>8.1} {:>9} {:>9} {:>9} {:>9} {:>6} {:>6} {:>7} {:>6} {:>10}",
                if e == 0 { *workload } else { "" },
                engine,
                human(m.ops_per_sec()),
                format!("({}-{})", human(*min), human(*max)),
                m.mb_per_sec(),
                micros(m.p50_ns),
                micros(m.p99_ns),
                mib(m.peak_rss),
                mib(m.disk_bytes),
                ratio(m.space_amp()),
                ratio(m.space_amp().map(|sa| 1.0 / sa)),
                ratio(m.space_amp_full()),
                ratio(m.write_amp()),
                vs
            );
        }
    }
    println!();
    println!(
        "SA: bytes on disk after settling / live key-value bytes; ratio: its inverse, the compression ratio (below 1 without compression: index, filters and metadata). SA full: the same after overwrite, settled, then a full compaction (--full-compaction, on with --kv-separation). Disk bytes: every file under the engine's folder. WA: bytes the process wrote (wchar) / bytes the user wrote. strata ×: Strata's ops/s over the peer's."
    );
    for (w, workload) in results.workloads.iter().enumerate() {
        for (e, engine) in results.engines.iter().enumerate() {
            if let Some(Some((m, _, _))) = summary.get(e).and_then(|s| s.get(w))
                && let Some(skipped) = m.tables_skipped
            {
                println!("{workload}: {engine} skipped {skipped} tables by their prefix filters");
            }
        }
    }
}

/// The workload parameters as the JSON outputs record them.
pub(crate) fn params_json(params: &super::workloads::Params) -> serde_json::Value {
    json!({
        "num": params.num,
        "reads": params.reads,
        "key_size": params.key_size,
        "value_size": params.value_size,
        "threads": params.threads,
        "seed": params.seed,
        "full_compaction": params.full_compaction,
    })
}

pub(crate) fn write_json(results: &Results, path: &Path) -> Result<(), BoxError> {
    let summary = summarize(results);
    let mut rows = Vec::new();
    for (w, workload) in results.workloads.iter().enumerate() {
        let strata_rate = strata_rate(&summary, w);
        for (e, engine) in results.engines.iter().enumerate() {
            let Some(Some((m, min, max))) = summary.get(e).and_then(|s| s.get(w)) else {
                continue;
            };
            let runs: Vec<_> = results
                .runs
                .get(e)
                .into_iter()
                .flatten()
                .filter_map(|r| r.get(w))
                .map(|r| {
                    json!({
                        "ops": r.ops,
                        "secs": r.elapsed.as_secs_f64(),
                        "ops_per_sec": r.ops_per_sec(),
                        "mb_per_sec": r.mb_per_sec(),
                        "p50_ns": r.p50_ns,
                        "p99_ns": r.p99_ns,
                        "peak_rss_bytes": r.peak_rss,
                        "disk_bytes": r.disk_bytes,
                        "space_amp": r.space_amp(),
                        "full_disk_bytes": r.full_disk_bytes,
                        "space_amp_full": r.space_amp_full(),
                        "write_amp": r.write_amp(),
                        "engine_write_amp": r.engine_write_amp(),
                    })
                })
                .collect();
            rows.push(json!({
                "workload": workload,
                "engine": engine,
                "runs": runs,
                "median_ops_per_sec": m.ops_per_sec(),
                "min_ops_per_sec": min,
                "max_ops_per_sec": max,
                "mb_per_sec": m.mb_per_sec(),
                "p50_ns": m.p50_ns,
                "p99_ns": m.p99_ns,
                "peak_rss_bytes": m.peak_rss,
                "disk_bytes": m.disk_bytes,
                "compression_ratio": m.space_amp().map(|sa| 1.0 / sa),
                "space_amp": m.space_amp(),
                "full_disk_bytes": m.full_disk_bytes,
                "space_amp_full": m.space_amp_full(),
                "write_amp": m.write_amp(),
                "engine_written_bytes": m.engine_written_bytes,
                "engine_write_amp": m.engine_write_amp(),
                "strata_ratio": if e == 0 { None } else { strata_rate.map(|s| s / m.ops_per_sec()) },
            }));
        }
    }
    let doc = json!({
        "engine_kind": if results.settings.wal.is_some() { "database" } else { "tree" },
        "durability": results.settings.wal.map(super::engine::Durability::name),
        "settings": results.settings.describe(),
        "params": super::report::params_json(&results.params),
        "engines": results.engines,
        "results": rows,
    });
    let text = serde_json::to_string_pretty(&doc)?;
    write_file(path, text.as_bytes())
}

#[expect(clippy::disallowed_methods, reason = "the CLI writes its report files")]
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), BoxError> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()).into())
}

pub(crate) fn write_plot(results: &Results, path: &Path) -> Result<(), BoxError> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let summary = summarize(results);
    let workloads = results.workloads.len();
    let engines = results.engines.len().max(1);
    let max_rate = summary
        .iter()
        .flatten()
        .flatten()
        .map(|(m, _, _)| m.ops_per_sec())
        .fold(1.0, f64::max);
    let mut svg = String::new();
    {
        let width = u32::try_from(120 + 90 * workloads).unwrap_or(2000);
        let root = SVGBackend::with_string(&mut svg, (width, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption("ops/s per workload (median run)", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(70)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..workloads as f64, (1.0..max_rate * 2.0).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc("ops/s")
            .draw()
            .map_err(|e| e.to_string())?;
        // Workload names under their groups of bars.
        for (w, name) in results.workloads.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(w as f64 + 0.5, 1.0));
            root.draw(&Text::new(
                (*name).to_string(),
                (px, py + 8),
                TextStyle::from(("sans-serif", 12).into_font())
                    .pos(Pos::new(HPos::Center, VPos::Top)),
            ))
            .map_err(|e| e.to_string())?;
        }
        let palette = [BLUE, RED, GREEN, MAGENTA, CYAN];
        for (e, engine) in results.engines.iter().enumerate() {
            let color = palette.get(e % palette.len()).copied().unwrap_or(BLACK);
            let bar_w = 0.8 / engines as f64;
            let bars: Vec<_> = (0..workloads)
                .filter_map(|w| {
                    let (m, _, _) = summary.get(e)?.get(w)?.as_ref()?;
                    let x0 = w as f64 + 0.1 + bar_w * e as f64;
                    Some(Rectangle::new(
                        [(x0, 1.0), (x0 + bar_w, m.ops_per_sec().max(1.0))],
                        color.filled(),
                    ))
                })
                .collect();
            chart
                .draw_series(bars)
                .map_err(|e| e.to_string())?
                .label(engine.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    write_file(path, svg.as_bytes())
}
