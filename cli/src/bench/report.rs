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
//!
//! Below the table: per workload, Strata's ratio to the best peer (the fastest on that workload)
//! against its goal ([`GOALS`]), every ratio below its goal marked; and for Strata's read
//! workloads, what it holds in memory by its own count (block cache, pinned index and filter
//! blocks, memtables) beside the process's RSS and peak RSS, so that a gap shows. The JSON holds
//! the same (`best_peer_ratio`, `goal`, `meets_goal`, `memory`), and the chart draws the ratios
//! with their goal lines.

#![expect(clippy::cast_precision_loss, reason = "figures are reported as f64")]

use std::fmt::Write as _;
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

/// Strata's goals: the least ratio of its ops/s to the best peer's (the fastest peer on that
/// workload, in the same run) it aims at, per workload (issue 16). A workload not listed aims at
/// [`DEFAULT_GOAL`]: at least as fast as every peer.
pub(crate) const GOALS: &[(&str, f64)] = &[
    ("readrandom", 1.5),
    ("seekrandom", 1.5),
    ("fillrandom", 1.5),
];

/// The goal of every workload [`GOALS`] does not list.
pub(crate) const DEFAULT_GOAL: f64 = 1.0;

/// The goal of `workload`: its entry in [`GOALS`], else [`DEFAULT_GOAL`].
pub(crate) fn goal(workload: &str) -> f64 {
    GOALS
        .iter()
        .find(|(w, _)| *w == workload)
        .map_or(DEFAULT_GOAL, |(_, g)| *g)
}

/// Strata against the best peer on one workload.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct VsBest {
    /// The fastest peer (median ops/s).
    pub(crate) peer: String,
    /// Strata's median ops/s over that peer's.
    pub(crate) ratio: f64,
    /// The workload's goal.
    pub(crate) goal: f64,
}

impl VsBest {
    /// Whether the ratio reaches the goal.
    pub(crate) fn meets_goal(&self) -> bool {
        self.ratio >= self.goal
    }
}

/// Strata against the best peer on workload `w`: `None` without Strata's figure or a peer's.
fn vs_best(results: &Results, summary: &[Vec<Option<Summary>>], w: usize) -> Option<VsBest> {
    let strata = strata_rate(summary, w)?;
    let (peer, best) = results
        .engines
        .iter()
        .zip(summary)
        .skip(1)
        .filter_map(|(engine, s)| {
            let (m, _, _) = s.get(w)?.as_ref()?;
            Some((engine, m.ops_per_sec()))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let workload = results.workloads.get(w)?;
    Some(VsBest {
        peer: peer.clone(),
        ratio: strata / best.max(1e-9),
        goal: goal(workload),
    })
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

/// Bytes as MiB with two decimals (the memory section, whose small parts matter).
fn mib2(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "-".into(),
        |b| format!("{:.2}", b as f64 / (1u64 << 20) as f64),
    )
}

fn ratio(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |x| format!("{x:.2}"))
}

/// Prints the report (see [`render`]).
pub(crate) fn print(results: &Results) {
    print!("{}", render(results));
}

/// The settings line: the engines' settings and where the reads ran.
fn settings_line(results: &Results) -> String {
    format!(
        "{}; {}",
        results.settings.describe(),
        results.reads.describe()
    )
}

/// The report as the terminal shows it: the table, then Strata against the best peer with its
/// goals, then Strata's memory in the read workloads.
pub(crate) fn render(results: &Results) -> String {
    let summary = summarize(results);
    let mut out = String::new();
    // NB: writing to a String cannot fail.
    let _ = writeln!(out);
    let _ = writeln!(out, "settings: {}", settings_line(results));
    let _ = writeln!(
        out,
        "{} entries, {}-byte keys, {}-byte values; {} reads; {} thread(s); {} run(s) per engine, engines alternating; figures from the median run",
        results.params.num,
        results.params.key_size,
        results.params.value_size,
        results.params.reads,
        results.params.threads,
        results.runs.first().map_or(0, Vec::len)
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
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
    let _ = writeln!(out, "{}", "-".repeat(155));
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
            let _ = writeln!(
                out,
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
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "SA: bytes on disk after settling / live key-value bytes; ratio: its inverse, the compression ratio (below 1 without compression: index, filters and metadata). SA full: the same after overwrite, settled, then a full compaction (--full-compaction, on with --kv-separation). Disk bytes: every file under the engine's folder (bytes allocated: a preallocated, sparse tail counts only where written). WA: bytes the process wrote (wchar) / bytes the user wrote. strata ×: Strata's ops/s over the peer's."
    );
    for (w, workload) in results.workloads.iter().enumerate() {
        for (e, engine) in results.engines.iter().enumerate() {
            if let Some(Some((m, _, _))) = summary.get(e).and_then(|s| s.get(w))
                && let Some(skipped) = m.tables_skipped
            {
                let _ = writeln!(
                    out,
                    "{workload}: {engine} skipped {skipped} tables by their prefix filters"
                );
            }
        }
    }
    render_goals(results, &summary, &mut out);
    render_memory(results, &summary, &mut out);
    out
}

/// The goals section: per workload with a peer, Strata's ratio to the best peer and its goal,
/// each ratio below its goal marked `BELOW GOAL`; then the workloads below their goals.
fn render_goals(results: &Results, summary: &[Vec<Option<Summary>>], out: &mut String) {
    let rows: Vec<(&str, VsBest)> = results
        .workloads
        .iter()
        .enumerate()
        .filter_map(|(w, workload)| Some((*workload, vs_best(results, summary, w)?)))
        .collect();
    if rows.is_empty() {
        return;
    }
    let listed: Vec<String> = GOALS.iter().map(|(w, g)| format!("{w} ≥{g}×")).collect();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Strata against the best peer (Strata's ops/s ÷ the fastest peer's; goals: {}, every other workload ≥{DEFAULT_GOAL}×):",
        listed.join(", ")
    );
    let _ = writeln!(
        out,
        "{:<16} {:<20} {:>8} {:>6}  verdict",
        "workload", "best peer", "strata ×", "goal"
    );
    for (workload, vs) in &rows {
        let _ = writeln!(
            out,
            "{:<16} {:<20} {:>8.2} {:>6}  {}",
            workload,
            vs.peer,
            vs.ratio,
            format!("≥{}", vs.goal),
            if vs.meets_goal() { "ok" } else { "BELOW GOAL" }
        );
    }
    let below: Vec<String> = rows
        .iter()
        .filter(|(_, vs)| !vs.meets_goal())
        .map(|(w, vs)| format!("{w} ({:.2}× {}, goal ≥{}×)", vs.ratio, vs.peer, vs.goal))
        .collect();
    if below.is_empty() {
        let _ = writeln!(out, "every workload meets its goal");
    } else {
        let _ = writeln!(out, "below goal: {}", below.join(", "));
    }
}

/// The memory section: for each of Strata's workloads whose measurement holds its memory (the
/// read workloads), what Strata names beside the process's RSS and peak.
fn render_memory(results: &Results, summary: &[Vec<Option<Summary>>], out: &mut String) {
    let Some(strata) = summary.first() else {
        return;
    };
    let rows: Vec<(&str, &Measurement, super::workloads::Memory)> = results
        .workloads
        .iter()
        .zip(strata)
        .filter_map(|(w, s)| {
            let (m, _, _) = s.as_ref()?;
            Some((*w, m, m.memory?))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Strata's memory after each read workload (MiB): block cache in use, index blocks and filters the open tables pin, memtables, their sum; the process's RSS then, its peak during the workload, and the peak's part outside the sum:"
    );
    let _ = writeln!(
        out,
        "{:<16} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "workload", "cache", "index", "filters", "memtable", "sum", "RSS", "peak RSS", "other"
    );
    for (workload, m, memory) in rows {
        let accounted = memory.accounted();
        let _ = writeln!(
            out,
            "{:<16} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            workload,
            mib2(Some(memory.cache)),
            mib2(Some(memory.pinned_index)),
            mib2(Some(memory.pinned_filter)),
            mib2(Some(memory.memtables)),
            mib2(Some(accounted)),
            mib2(memory.rss),
            mib2(m.peak_rss),
            mib2(m.peak_rss.map(|peak| peak.saturating_sub(accounted))),
        );
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
        let best = vs_best(results, &summary, w);
        for (e, engine) in results.engines.iter().enumerate() {
            let Some(Some((m, min, max))) = summary.get(e).and_then(|s| s.get(w)) else {
                continue;
            };
            let vs = best.as_ref().filter(|_| e == 0);
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
                        "memory": r.memory.map(super::workloads::Memory::to_json),
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
                "best_peer": vs.map(|v| v.peer.clone()),
                "best_peer_ratio": vs.map(|v| v.ratio),
                "goal": if e == 0 { Some(goal(workload)) } else { None },
                "meets_goal": vs.map(VsBest::meets_goal),
                "memory": m.memory.map(super::workloads::Memory::to_json),
            }));
        }
    }
    let doc = json!({
        "engine_kind": if results.settings.wal.is_some() { "database" } else { "tree" },
        "durability": results.settings.wal.map(super::engine::Durability::name),
        "settings": settings_line(results),
        "reads": results.reads.name(),
        "goals": {
            "default": DEFAULT_GOAL,
            "workloads": GOALS.iter().map(|(w, g)| ((*w).to_string(), json!(g))).collect::<serde_json::Map<_, _>>(),
        },
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

/// Draws the chart to `path` as SVG: ops/s per workload per engine (log scale), and with peers
/// below it Strata's ratio to the best peer of each workload, each bar green if it reaches its
/// goal and red if not, with the goal as a black line over the workload and a grey line at 1.
pub(crate) fn write_plot(results: &Results, path: &Path) -> Result<(), BoxError> {
    use plotters::prelude::*;
    let summary = summarize(results);
    let ratios: Vec<(usize, VsBest)> = (0..results.workloads.len())
        .filter_map(|w| Some((w, vs_best(results, &summary, w)?)))
        .collect();
    let mut svg = String::new();
    {
        let width = u32::try_from(120 + 110 * results.workloads.len()).unwrap_or(2000);
        let height = if ratios.is_empty() { 480 } else { 900 };
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        if ratios.is_empty() {
            draw_rates(results, &summary, &root, &root)?;
        } else {
            let (upper, lower) = root.split_vertically(480);
            draw_rates(results, &summary, &root, &upper)?;
            draw_ratios(results, &ratios, &root, &lower)?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    write_file(path, svg.as_bytes())
}

/// A drawing area of the SVG chart.
type Area<'a> =
    plotters::drawing::DrawingArea<plotters::backend::SVGBackend<'a>, plotters::coord::Shift>;

/// Writes the workloads' names on `root` under their slots, whose bottom middle `at(w)` gives
/// in pixels.
fn label_workloads(
    results: &Results,
    root: &Area<'_>,
    at: impl Fn(f64) -> (i32, i32),
) -> Result<(), BoxError> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    for (w, name) in results.workloads.iter().enumerate() {
        let (px, py) = at(w as f64 + 0.5);
        root.draw(&Text::new(
            (*name).to_string(),
            (px, py + 8),
            TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The ops/s chart on `area`.
fn draw_rates<'a>(
    results: &Results,
    summary: &[Vec<Option<Summary>>],
    root: &Area<'a>,
    area: &Area<'a>,
) -> Result<(), BoxError> {
    use plotters::prelude::*;
    let workloads = results.workloads.len();
    let engines = results.engines.len().max(1);
    let max_rate = summary
        .iter()
        .flatten()
        .flatten()
        .map(|(m, _, _)| m.ops_per_sec())
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(area)
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
    label_workloads(results, root, |x| chart.backend_coord(&(x, 1.0)))?;
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
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The chart of Strata's ratios to the best peer, with their goal lines, on `area`.
fn draw_ratios<'a>(
    results: &Results,
    ratios: &[(usize, VsBest)],
    root: &Area<'a>,
    area: &Area<'a>,
) -> Result<(), BoxError> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let top = ratios
        .iter()
        .map(|(_, vs)| vs.ratio.max(vs.goal))
        .fold(1.0, f64::max)
        * 1.25;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Strata ÷ the best peer per workload (black: the goal)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(70)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..results.workloads.len() as f64, 0.0..top)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("Strata ÷ best peer")
        .draw()
        .map_err(|e| e.to_string())?;
    label_workloads(results, root, |x| chart.backend_coord(&(x, 0.0)))?;
    // The best peer's name under each workload's name.
    for (w, vs) in ratios {
        let (px, py) = chart.backend_coord(&(*w as f64 + 0.5, 0.0));
        root.draw(&Text::new(
            format!("vs {}", vs.peer),
            (px, py + 24),
            TextStyle::from(("sans-serif", 10).into_font()).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(|e| e.to_string())?;
    }
    let green = RGBColor(40, 160, 60);
    chart
        .draw_series(ratios.iter().map(|(w, vs)| {
            let x = *w as f64;
            let color = if vs.meets_goal() { green } else { RED };
            Rectangle::new([(x + 0.25, 0.0), (x + 0.75, vs.ratio)], color.filled())
        }))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 1.0), (results.workloads.len() as f64, 1.0)],
            RGBColor(150, 150, 150).stroke_width(1),
        )))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(ratios.iter().map(|(w, vs)| {
            let x = *w as f64;
            PathElement::new(
                vec![(x + 0.1, vs.goal), (x + 0.9, vs.goal)],
                BLACK.stroke_width(2),
            )
        }))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(ratios.iter().map(|(w, vs)| {
            Text::new(
                format!("{:.2}×", vs.ratio),
                (*w as f64 + 0.5, vs.ratio),
                TextStyle::from(("sans-serif", 11).into_font())
                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
            )
        }))
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::bench::engine::{Compression, Settings};
    use crate::bench::workloads::{Memory, Params};

    /// A measurement of `ops` operations in one second.
    fn rate(ops: u64) -> Measurement {
        Measurement {
            ops,
            elapsed: Duration::from_secs(1),
            ..Measurement::default()
        }
    }

    /// Strata and two peers on fillseq, readrandom and readseq, one run each: Strata is 2× the
    /// best peer on fillseq (goal 1), 1.2× on readrandom (goal 1.5) and 0.9× on readseq (goal 1).
    fn results() -> Results {
        let strata = vec![
            rate(2000),
            Measurement {
                memory: Some(Memory {
                    cache: 3 << 20,
                    pinned_index: 1 << 20,
                    pinned_filter: 2 << 20,
                    memtables: 0,
                    rss: Some(9 << 20),
                }),
                peak_rss: Some(10 << 20),
                ..rate(1200)
            },
            rate(900),
        ];
        Results {
            engines: vec!["strata".into(), "lsm-tree".into(), "coordinode".into()],
            workloads: vec!["fillseq", "readrandom", "readseq"],
            runs: vec![
                vec![strata],
                vec![vec![rate(1000), rate(1000), rate(1000)]],
                vec![vec![rate(500), rate(800), rate(100)]],
            ],
            settings: Settings {
                cache_bytes: 64 << 20,
                block_size: 4096,
                bloom_bits: 10,
                l0_threshold: 4,
                table_bytes: 64 << 20,
                prefix_len: 0,
                compression: Compression::None,
                value_size: 100,
                value_seed: 1,
                json_values: false,
                memtable_range_tombstones: None,
                kv_separation: None,
                wal: None,
            },
            params: Params {
                num: 1000,
                reads: 1000,
                key_size: 16,
                value_size: 100,
                threads: 1,
                seed: 1,
                progress: false,
                json_values: false,
                full_compaction: false,
            },
            reads: super::super::Reads::Reopened,
        }
    }

    #[test]
    #[expect(clippy::float_cmp, reason = "the goals are exact constants")]
    fn goals_come_from_one_table() {
        assert_eq!(goal("readrandom"), 1.5);
        assert_eq!(goal("seekrandom"), 1.5);
        assert_eq!(goal("fillrandom"), 1.5);
        assert_eq!(goal("readseq"), DEFAULT_GOAL);
        assert_eq!(goal("fillseq"), 1.0);
    }

    #[test]
    fn the_report_marks_every_ratio_below_its_goal() {
        let text = render(&results());
        assert!(text.contains("reads reopened"), "{text}");
        let line = |workload: &str| -> Vec<String> {
            let goals = text
                .split("Strata against the best peer")
                .nth(1)
                .unwrap_or_else(|| panic!("no goals section in:\n{text}"));
            goals
                .lines()
                .find(|l| l.starts_with(workload))
                .unwrap_or_else(|| panic!("no {workload} goal row in:\n{text}"))
                .split_whitespace()
                .map(str::to_string)
                .collect()
        };
        // workload, best peer, ratio, goal, verdict.
        assert_eq!(line("fillseq"), ["fillseq", "lsm-tree", "2.00", "≥1", "ok"]);
        assert_eq!(
            line("readrandom"),
            ["readrandom", "lsm-tree", "1.20", "≥1.5", "BELOW", "GOAL"]
        );
        assert_eq!(
            line("readseq"),
            ["readseq", "lsm-tree", "0.90", "≥1", "BELOW", "GOAL"]
        );
        assert!(
            text.contains("below goal: readrandom (1.20× lsm-tree, goal ≥1.5×), readseq (0.90× lsm-tree, goal ≥1×)"),
            "{text}"
        );
        // The memory of the read workload: 6 MiB named, 10 MiB peak, 4 MiB outside.
        let memory: Vec<&str> = text
            .lines()
            .find(|l| l.starts_with("readrandom") && l.contains("6.00"))
            .unwrap_or_else(|| panic!("no memory row in:\n{text}"))
            .split_whitespace()
            .collect();
        assert_eq!(
            memory,
            [
                "readrandom",
                "3.00",
                "1.00",
                "2.00",
                "0.00",
                "6.00",
                "9.00",
                "10.00",
                "4.00"
            ]
        );
    }

    #[test]
    fn the_json_and_the_chart_carry_the_ratios_and_goals() {
        let dir = tempfile::tempdir().unwrap();
        let results = results();
        write_json(&results, &dir.path().join("out.json")).unwrap();
        #[expect(clippy::disallowed_methods, reason = "reads the report")]
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.json")).unwrap())
                .unwrap();
        assert_eq!(json["reads"], "reopened");
        assert_eq!(json["goals"]["workloads"]["readrandom"], 1.5);
        assert_eq!(json["goals"]["default"], 1.0);
        let rows = json["results"].as_array().unwrap();
        let strata = |workload: &str| {
            rows.iter()
                .find(|r| r["workload"] == workload && r["engine"] == "strata")
                .unwrap()
        };
        let read = strata("readrandom");
        assert_eq!(read["best_peer"], "lsm-tree");
        assert!((read["best_peer_ratio"].as_f64().unwrap() - 1.2).abs() < 1e-9);
        assert_eq!(read["goal"], 1.5);
        assert_eq!(read["meets_goal"], false);
        assert_eq!(read["memory"]["accounted_bytes"], 6 << 20);
        assert_eq!(strata("fillseq")["meets_goal"], true);
        let peer = rows
            .iter()
            .find(|r| r["workload"] == "readrandom" && r["engine"] == "lsm-tree")
            .unwrap();
        assert!(peer["meets_goal"].is_null() && peer["goal"].is_null());

        write_plot(&results, &dir.path().join("out.svg")).unwrap();
        #[expect(clippy::disallowed_methods, reason = "reads the chart")]
        let svg = std::fs::read_to_string(dir.path().join("out.svg")).unwrap();
        assert!(svg.contains("the best peer"), "no ratio chart");
        assert!(
            svg.contains("1.20×") && svg.contains("vs lsm-tree"),
            "no ratio label"
        );
    }
}
