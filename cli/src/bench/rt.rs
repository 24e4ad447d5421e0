//! `strata bench --range-tombstones N`: what range tombstones cost reads (issue 11; the design
//! note's §4.7).
//!
//! Every engine that has range tombstones builds two trees per run, both in one process of its
//! own (untimed), then runs each read workload on the two back to back:
//! - the **tombstone tree**: keys `0, 2, 4, …, 2(num-1)` (the odd keys are the missing ones,
//!   interleaved), written in order and settled, then N range tombstones, one every `num / N`
//!   keys, each covering `--rt-width` consecutive keys (and the missing keys between them), placed
//!   per `--rt-placement`;
//! - the **baseline**: the same keys without the covered ones, settled, and no tombstone; so both
//!   trees hold the same live data.
//!
//! Placements (the baseline gets the same flushes and compactions, only without tombstones):
//! - `memtable`: the tombstones are written last and stay in the active memtable (Strata's
//!   `memtable_range_tombstone_limit` is raised past N so that it does not rotate);
//! - `l0`: the tombstones are written, then the memtable is flushed to a level-0 table (no
//!   compaction);
//! - `compacted`: the tombstones are written and flushed, then a major compaction merges every
//!   table into the last level with GC watermark 0, so the tombstones and the keys they cover
//!   stay side by side there (nothing is garbage-collected: the worst case for reads);
//! - `mixed`: a third each, oldest deepest: tombstones 0, 3, 6, … compacted, then 1, 4, 7, … in
//!   level 0, then 2, 5, 8, … in the memtable.
//!
//! Workloads: `readrandom` (gets of live keys, random order), `readmissing` (gets of missing keys
//! spread over the whole key range, some inside the tombstones' ranges), `seekrandom` (`reads /
//! 10` seeks to a random live key, taking 10 entries), `seekrandom50` (`reads / 50` seeks taking
//! 50 entries), `readseq` (`reads / live keys` full forward scans, at least one; ops are entries). Results are checked against the live key set:
//! every get and the scan's count as they run; afterwards, untimed, the first 1,000 seeks of each
//! seek workload key by key, and after `readmissing` gets of up to 100,000 keys under the
//! tombstones (none may be found; the baseline never had them). Wrong results do not stop the
//! benchmark: the row is marked WRONG and the first wrong read is printed under the table.
//!
//! Both trees are read once before the timed workloads (a full scan and a get of every live key,
//! untimed), so the workloads run on a warm cache, as BENCH.md's point reads do.
//!
//! Runs alternate engines; within a run each workload runs on the two trees back to back
//! (baseline first in even runs, the tombstone tree first in odd ones), so that a noisy neighbour
//! hits both alike. A run's **cost ×** is the baseline's ops/s over the tombstone tree's, from the
//! same run; the table gives the median run's ops/s of each tree with
//! the min–max over runs, and the median cost with its min–max. Target: ≤ 1.2.

use std::path::Path;
use std::time::Instant;

use serde_json::json;

use super::engine::{BoxError, Engine, Settings};
use super::workloads::{self, Measurement, Params, key};
use super::{BenchArgs, Opener};

/// The read workloads of range-tombstone mode, in the default order.
pub(crate) const WORKLOADS: &[&str] = &[
    "readrandom",
    "readmissing",
    "seekrandom",
    "seekrandom50",
    "readseq",
];

/// The cost a workload may have (the design note's target).
pub(crate) const TARGET: f64 = 1.2;

/// Where the range tombstones sit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    Memtable,
    L0,
    Compacted,
    Mixed,
}

impl Placement {
    pub(crate) fn parse(text: &str) -> Result<Self, BoxError> {
        match text {
            "memtable" => Ok(Self::Memtable),
            "l0" => Ok(Self::L0),
            "compacted" => Ok(Self::Compacted),
            "mixed" => Ok(Self::Mixed),
            other => Err(format!(
                "unknown --rt-placement {other:?}; known: memtable, l0, compacted, mixed"
            )
            .into()),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Memtable => "memtable",
            Self::L0 => "l0",
            Self::Compacted => "compacted",
            Self::Mixed => "mixed",
        }
    }
}

/// Which of the two trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Baseline,
    Tombstones,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::Tombstones => "rt",
        }
    }

    fn parse(text: &str) -> Result<Self, BoxError> {
        match text {
            "baseline" => Ok(Self::Baseline),
            "rt" => Ok(Self::Tombstones),
            other => Err(format!("unknown tree variant {other:?}").into()),
        }
    }
}

/// Where the range tombstones go in the key space: tombstone `j` covers key indexes
/// `j * stride + pad .. + width` (index `i` is key `2i`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) num: u64,
    pub(crate) count: u64,
    pub(crate) width: u64,
    pub(crate) stride: u64,
    pad: u64,
}

impl Layout {
    pub(crate) fn new(num: u64, count: u64, width: u64) -> Result<Self, BoxError> {
        if width == 0 {
            return Err("--rt-width must be at least 1".into());
        }
        let stride = num / count.max(1);
        if count > num || width >= stride {
            return Err(format!(
                "{count} range tombstones of width {width} do not fit between {num} keys with a live key between two of them (need --rt-width below --num / --range-tombstones = {stride})"
            )
            .into());
        }
        Ok(Self {
            num,
            count,
            width,
            stride,
            pad: (stride - width) / 2,
        })
    }

    /// Tombstone `j`'s key indexes, `[start, end)`.
    pub(crate) fn tombstone(&self, j: u64) -> (u64, u64) {
        let start = j * self.stride + self.pad;
        (start, start + self.width)
    }

    /// Whether key index `i` lies under a tombstone.
    pub(crate) fn covered(&self, i: u64) -> bool {
        i / self.stride < self.count
            && (self.pad..self.pad + self.width).contains(&(i % self.stride))
    }

    /// The indexes of the live keys, ascending.
    pub(crate) fn live(&self) -> Vec<u64> {
        (0..self.num).filter(|&i| !self.covered(i)).collect()
    }
}

/// The workloads `--benchmarks` names in range-tombstone mode (all of [`WORKLOADS`] by default).
fn parse_workloads(args: &BenchArgs) -> Result<Vec<&'static str>, BoxError> {
    if args.benchmarks == super::DEFAULT_BENCHMARKS {
        return Ok(WORKLOADS.to_vec());
    }
    let picked = super::pick_workloads(
        &args.benchmarks,
        WORKLOADS,
        "no range-tombstone form for workload",
    )?;
    if picked.is_empty() {
        return Err("--benchmarks names no workload".into());
    }
    Ok(picked)
}

/// The engines of the report, and the ones `--compare` named that have no range tombstones
/// here, with the reason.
fn split_engines(args: &BenchArgs) -> (Vec<String>, Vec<(String, &'static str)>) {
    let mut kept = Vec::new();
    let mut left_out = Vec::new();
    for name in super::engine_names(args) {
        let why = match name.as_str() {
            "lsm-tree" => "has no range tombstones",
            "rocksdb" => "its DeleteRange is not wired into this benchmark yet",
            "coordinode" => {
                kept.push("coordinode-lsm-tree".to_string());
                continue;
            }
            _ => {
                kept.push(name);
                continue;
            }
        };
        left_out.push((name, why));
    }
    kept.dedup();
    (kept, left_out)
}

/// Writes tombstones `js` of `layout`.
fn write_tombstones(
    engine: &dyn Engine,
    layout: &Layout,
    js: impl Iterator<Item = u64>,
    key_size: usize,
) -> Result<(), BoxError> {
    for j in js {
        let (start, end) = layout.tombstone(j);
        if !engine.remove_range(&key(2 * start, key_size), &key(2 * end, key_size)) {
            return Err(format!("{}: no range tombstones", engine.name()).into());
        }
    }
    Ok(())
}

/// Builds `variant`'s tree in `engine` (fresh), untimed; see the module documentation.
fn build(
    engine: &dyn Engine,
    layout: &Layout,
    placement: Placement,
    variant: Variant,
    params: &Params,
    settings: &Settings,
) -> Result<(), BoxError> {
    let keys: Vec<u64> = match variant {
        Variant::Tombstones => (0..layout.num).map(|i| 2 * i).collect(),
        Variant::Baseline => layout.live().iter().map(|i| 2 * i).collect(),
    };
    // Written in order, then settled (flushed, compaction run to the end).
    workloads::write(engine, params, "prefill", &keys, false)?;
    let rts = variant == Variant::Tombstones;
    let group = |g: u64| (0..layout.count).filter(move |j| j % 3 == g);
    let write = |js: &mut dyn Iterator<Item = u64>| -> Result<(), BoxError> {
        if rts {
            write_tombstones(engine, layout, js, params.key_size)?;
        }
        Ok(())
    };
    let compact = || -> Result<(), BoxError> {
        engine.flush_memtable()?;
        engine.major_compact(settings.table_bytes, 0)
    };
    match placement {
        Placement::Memtable => write(&mut (0..layout.count))?,
        Placement::L0 => {
            write(&mut (0..layout.count))?;
            engine.flush_memtable()?;
        }
        Placement::Compacted => {
            write(&mut (0..layout.count))?;
            compact()?;
        }
        Placement::Mixed => {
            write(&mut group(0))?;
            compact()?;
            write(&mut group(1))?;
            engine.flush_memtable()?;
            write(&mut group(2))?;
        }
    }
    Ok(())
}

/// How many of a seek workload's seeks are checked key by key afterwards (untimed).
const SEEKS_CHECKED: u64 = 1000;

/// How many covered keys `readmissing` checks afterwards (untimed).
const COVERED_CHECKED: u64 = 100_000;

/// `count` seeks to random live keys, each taking up to `next` entries, then (untimed) the
/// first [`SEEKS_CHECKED`] of them again, comparing the keys read with the live keys.
fn seek(
    engine: &dyn Engine,
    params: &Params,
    label: &str,
    live: &[u64],
    count: u64,
    next: usize,
) -> Result<Measurement, BoxError> {
    let progress = workloads::bar(params, format!("{} {label}", engine.name()), count);
    let seed = params.seed ^ 0x5eec;
    let pick = |rng: &mut workloads::Rng| {
        let p = usize::try_from(rng.below(live.len() as u64)).unwrap_or(0);
        (p, live.get(p).copied().unwrap_or(0))
    };
    let mut rng = workloads::Rng::new(seed);
    let mut samples = Vec::new();
    let mut entries = 0u64;
    let started = Instant::now();
    for n in 0..count {
        let (_, i) = pick(&mut rng);
        let k = key(2 * i, params.key_size);
        entries += workloads::timed(n, &mut samples, || engine.seek(&k, next))? as u64;
        if (n + 1).is_multiple_of(1024) {
            progress.inc(1024);
        }
    }
    let elapsed = started.elapsed();
    progress.finish_and_clear();
    samples.sort_unstable();
    let mut rng = workloads::Rng::new(seed);
    let (mut checked, mut wrong, mut first) = (0u64, 0u64, None);
    for _ in 0..count.min(SEEKS_CHECKED) {
        let (p, i) = pick(&mut rng);
        let k = key(2 * i, params.key_size);
        let Some(read) = engine.seek_keys(&k, next)? else {
            break;
        };
        checked += 1;
        let expected: Vec<Vec<u8>> = live
            .iter()
            .skip(p)
            .take(next)
            .map(|&i| key(2 * i, params.key_size))
            .collect();
        if read != expected {
            wrong += 1;
            let differs = read
                .iter()
                .zip(&expected)
                .position(|(r, e)| r != e)
                .unwrap_or(read.len().min(expected.len()));
            first.get_or_insert_with(|| {
                format!(
                    "from key {}, entry {differs} is {} (expected {})",
                    String::from_utf8_lossy(&k),
                    read.get(differs).map_or_else(
                        || "missing".to_string(),
                        |r| String::from_utf8_lossy(r).into_owned()
                    ),
                    expected.get(differs).map_or_else(
                        || "none".to_string(),
                        |e| String::from_utf8_lossy(e).into_owned()
                    ),
                )
            });
        }
    }
    Ok(Measurement {
        ops: count,
        bytes: entries * (params.key_size + params.value_size) as u64,
        elapsed,
        latencies: samples,
        wrong: first.map(|first| {
            format!("{label}: {wrong} of {checked} seeks checked read the wrong keys; {first}")
        }),
        ..Measurement::default()
    })
}

/// Gets up to [`COVERED_CHECKED`] keys under the tombstones (live keys before the tombstones
/// were written, and missing ones between them), untimed: none may be found.
fn check_covered(
    engine: &dyn Engine,
    layout: &Layout,
    key_size: usize,
) -> Result<Option<String>, BoxError> {
    let (mut checked, mut found, mut first) = (0u64, 0u64, None);
    'tombstones: for j in 0..layout.count {
        let (start, end) = layout.tombstone(j);
        for k in 2 * start..2 * end {
            if checked == COVERED_CHECKED {
                break 'tombstones;
            }
            checked += 1;
            let k = key(k, key_size);
            if engine.get(&k)?.is_some() {
                found += 1;
                first.get_or_insert_with(|| String::from_utf8_lossy(&k).into_owned());
            }
        }
    }
    Ok(first.map(|first| {
        format!("{found} of {checked} keys under a tombstone are found, the first {first}")
    }))
}

/// Runs `workload` on a built tree.
fn run_workload(
    engine: &dyn Engine,
    workload: &str,
    layout: &Layout,
    live: &[u64],
    params: &Params,
) -> Result<Measurement, BoxError> {
    let reads = params.reads;
    let wrong_keys = |label: &str, wrong: Option<(u64, u64)>, expect: bool| {
        wrong.map(|(first, others)| {
            format!(
                "{label}: key {first} {}{}",
                if expect {
                    "is missing"
                } else {
                    "(never written) is found"
                },
                if others > 0 {
                    format!(", and {others} more")
                } else {
                    String::new()
                }
            )
        })
    };
    Ok(match workload {
        "readrandom" => {
            let order: Vec<u64> =
                super::random_keys(reads, live.len() as u64, 0, params.seed ^ 0x1234)
                    .iter()
                    .map(|&p| {
                        2 * live
                            .get(usize::try_from(p).unwrap_or(0))
                            .copied()
                            .unwrap_or(0)
                    })
                    .collect();
            let (mut m, wrong) = workloads::read_checked(
                engine,
                params,
                workload,
                workloads::ReadOrder::Listed(&order),
                true,
            )?;
            m.wrong = wrong_keys(workload, wrong, true);
            m
        }
        "readmissing" => {
            let order: Vec<u64> = super::random_keys(reads, layout.num, 0, params.seed ^ 0x4321)
                .iter()
                .map(|&i| 2 * i + 1)
                .collect();
            let (mut m, wrong) = workloads::read_checked(
                engine,
                params,
                workload,
                workloads::ReadOrder::Listed(&order),
                false,
            )?;
            let covered = check_covered(engine, layout, params.key_size)?
                .map(|note| format!("{workload}: {note}"));
            m.wrong = match (wrong_keys(workload, wrong, false), covered) {
                (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                (a, b) => a.or(b),
            };
            m
        }
        "seekrandom" => seek(engine, params, workload, live, (reads / 10).max(1), 10)?,
        "seekrandom50" => seek(engine, params, workload, live, (reads / 50).max(1), 50)?,
        "readseq" => {
            // `reads / live keys` full scans (at least one), so that `--reads` lengthens it too.
            let passes = (reads / live.len().max(1) as u64).max(1);
            let spin = workloads::spinner(params, format!("{} readseq", engine.name()));
            let (mut ops, mut bytes, mut wrong) = (0, 0, None);
            let started = Instant::now();
            for _ in 0..passes {
                let (n, b) = engine.scan(false)?;
                if n != live.len() as u64 {
                    wrong.get_or_insert(n);
                }
                ops += n;
                bytes += b;
            }
            let elapsed = started.elapsed();
            spin.finish_and_clear();
            Measurement {
                ops,
                bytes,
                elapsed,
                wrong: wrong
                    .map(|n| format!("readseq: a scan saw {n} entries, expected {}", live.len())),
                ..Measurement::default()
            }
        }
        other => return Err(format!("unknown range-tombstone workload {other:?}").into()),
    })
}

/// Reads a built tree once, untimed: a full scan and a get of every live key, so that the timed
/// workloads run on a warm cache (the two trees differ in size, and a cold first workload
/// measured their block loads more than their reads).
fn warm_up(engine: &dyn Engine, live: &[u64], key_size: usize) -> Result<(), BoxError> {
    engine.scan(false)?;
    for &i in live {
        engine.get(&key(2 * i, key_size))?;
    }
    Ok(())
}

/// Builds both trees of engine `name` in `dir`, then runs each of `workloads` on the two back
/// to back, `first` first: `[baseline, tombstone tree]` measurements.
#[expect(clippy::too_many_arguments, reason = "one run's whole description")]
fn run_pair(
    name: &str,
    open: Opener,
    dir: &Path,
    layout: &Layout,
    placement: Placement,
    first: Variant,
    workloads: &[&'static str],
    params: &Params,
    settings: &Settings,
) -> Result<[Vec<Measurement>; 2], BoxError> {
    let mut trees = Vec::with_capacity(2);
    for variant in [Variant::Baseline, Variant::Tombstones] {
        let engine = open(&dir.join(format!("{name}-{}", variant.name())), settings)?;
        build(&*engine, layout, placement, variant, params, settings)
            .map_err(|e| format!("building the {} tree: {e}", variant.name()))?;
        trees.push(engine);
    }
    let [base, rt] = <[Box<dyn Engine>; 2]>::try_from(trees).map_err(|_| "two trees")?;
    let live = layout.live();
    for (variant, engine) in [(Variant::Baseline, &base), (Variant::Tombstones, &rt)] {
        warm_up(&**engine, &live, params.key_size)
            .map_err(|e| format!("warming the {} tree: {e}", variant.name()))?;
    }
    let order = match first {
        Variant::Baseline => [(Variant::Baseline, &base), (Variant::Tombstones, &rt)],
        Variant::Tombstones => [(Variant::Tombstones, &rt), (Variant::Baseline, &base)],
    };
    let mut out: [Vec<Measurement>; 2] = [Vec::new(), Vec::new()];
    for w in workloads {
        for (variant, engine) in order {
            let m = run_workload(&**engine, w, layout, &live, params)
                .map_err(|e| format!("{} tree: {e}", variant.name()))?;
            let [b, t] = &mut out;
            match variant {
                Variant::Baseline => b.push(m.summarized()),
                Variant::Tombstones => t.push(m.summarized()),
            }
        }
    }
    Ok(out)
}

/// One placement's measurements: `runs[e][v][r][w]` for engine `e`, variant `v` (0: baseline,
/// 1: tombstones), run `r`, workload `w`.
struct PlacementRuns {
    placement: Placement,
    runs: Vec<[Vec<Vec<Measurement>>; 2]>,
}

/// Everything a range-tombstone benchmark measured.
struct RtResults {
    layout: Layout,
    engines: Vec<String>,
    left_out: Vec<(String, &'static str)>,
    workloads: Vec<&'static str>,
    placements: Vec<PlacementRuns>,
    settings: Settings,
    params: Params,
}

/// What every run of one benchmark shares.
struct Plan<'a> {
    args: &'a BenchArgs,
    layout: Layout,
    workloads: Vec<&'static str>,
    params: Params,
    settings: Settings,
    runs: usize,
    dir: &'a Path,
}

impl Plan<'_> {
    /// Both trees of engine `name` in one run, in a child process (or in this one with
    /// `--in-process`): `[baseline, tombstone tree]` measurements.
    fn measure(
        &self,
        name: &str,
        open: Opener,
        placement: Placement,
        first: Variant,
        run: usize,
    ) -> Result<[Vec<Measurement>; 2], BoxError> {
        let run_dir = self.dir.join(format!("{}-run{run}", placement.name()));
        let measured = if self.args.in_process {
            run_pair(
                name,
                open,
                &run_dir,
                &self.layout,
                placement,
                first,
                &self.workloads,
                &self.params,
                &self.settings,
            )
        } else {
            let extra: Vec<String> = [
                "--range-tombstones",
                &self.layout.count.to_string(),
                "--rt-width",
                &self.layout.width.to_string(),
                "--rt-placement",
                placement.name(),
                "--child-variant",
                first.name(),
            ]
            .iter()
            .map(ToString::to_string)
            .collect();
            super::run_child(self.args, name, &run_dir, &extra).and_then(|mut all| {
                if all.len() != 2 * self.workloads.len() {
                    return Err(
                        "the benchmark process reported the wrong number of measurements".into(),
                    );
                }
                let rt = all.split_off(self.workloads.len());
                Ok([all, rt])
            })
        }
        .map_err(|e| format!("{name} ({}): {e}", placement.name()))?;
        super::remove_dir(&run_dir);
        Ok(measured)
    }

    /// The line on stderr that says what runs.
    fn describe(&self, placements: &[Placement], engines: &[String]) {
        let (layout, params) = (&self.layout, &self.params);
        eprintln!(
            "strata bench --range-tombstones {}: {} keys ({} live), {}-byte keys, {}-byte values, {} reads, {} thread(s); tombstones of width {}, one every {} keys; placements {}; engines {}; {} run(s) of each tree; in {}",
            layout.count,
            layout.num,
            layout.live().len(),
            params.key_size,
            params.value_size,
            params.reads,
            params.threads,
            layout.width,
            layout.stride,
            placements
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(", "),
            engines.join(", "),
            self.runs,
            self.dir.display()
        );
    }

    /// Every run of `placement`: engines alternating, and within an engine the two trees.
    fn placement(
        &self,
        placement: Placement,
        engines: &[String],
        openers: &[Opener],
    ) -> Result<PlacementRuns, BoxError> {
        let mut per_engine: Vec<[Vec<Vec<Measurement>>; 2]> =
            engines.iter().map(|_| [Vec::new(), Vec::new()]).collect();
        for run in 0..self.runs {
            for ((name, open), [base, rt]) in engines.iter().zip(openers).zip(&mut per_engine) {
                let first = if run % 2 == 0 {
                    Variant::Baseline
                } else {
                    Variant::Tombstones
                };
                if !self.args.quiet {
                    eprintln!(
                        "{} run {}/{}: {name} ({} tree first)",
                        placement.name(),
                        run + 1,
                        self.runs,
                        first.name()
                    );
                }
                let [b, t] = self.measure(name, *open, placement, first, run)?;
                base.push(b);
                rt.push(t);
            }
        }
        Ok(PlacementRuns {
            placement,
            runs: per_engine,
        })
    }
}

/// Runs a child's two trees (`--child-engine`) and prints their measurements as JSON: the
/// baseline's, then the tombstone tree's.
fn run_child_variant(
    args: &BenchArgs,
    engine: &str,
    layout: &Layout,
    placements: &[Placement],
    workloads: &[&'static str],
    params: &Params,
    settings: &Settings,
) -> Result<(), BoxError> {
    let dir = args.db.as_ref().ok_or("--child-engine needs --db")?;
    let first = Variant::parse(args.child_variant.as_deref().unwrap_or("baseline"))?;
    let &[placement] = placements else {
        return Err("a child runs one placement".into());
    };
    let measured = run_pair(
        engine,
        super::opener(engine, super::EngineKind::Tree)?,
        dir,
        layout,
        placement,
        first,
        workloads,
        params,
        settings,
    )?;
    let json: Vec<_> = measured
        .iter()
        .flatten()
        .map(Measurement::to_json)
        .collect();
    println!("{}", serde_json::Value::Array(json));
    Ok(())
}

pub(crate) fn run(args: &BenchArgs) -> Result<(), BoxError> {
    let workloads = parse_workloads(args)?;
    super::check_args(args, &workloads)?;
    let layout = Layout::new(args.num, args.range_tombstones, args.rt_width)?;
    let placements: Vec<Placement> = args
        .rt_placement
        .iter()
        .map(|p| Placement::parse(p.trim()))
        .collect::<Result<_, _>>()?;
    if placements.is_empty() {
        return Err("--rt-placement names no placement".into());
    }
    let params = super::params_of(args);
    let settings = Settings {
        memtable_range_tombstones: Some(
            usize::try_from(layout.count + 1)
                .unwrap_or(usize::MAX)
                .max(1000),
        ),
        ..super::settings_of(args)
    };
    if let Some(engine) = &args.child_engine {
        return run_child_variant(
            args,
            engine,
            &layout,
            &placements,
            &workloads,
            &params,
            &settings,
        );
    }
    let (engines, left_out) = split_engines(args);
    let openers: Vec<Opener> = engines
        .iter()
        .map(|e| super::opener(e, super::EngineKind::Tree))
        .collect::<Result<_, _>>()?;
    let tmp;
    let dir = if let Some(dir) = &args.db {
        dir.clone()
    } else {
        tmp = tempfile::tempdir()?;
        tmp.path().to_path_buf()
    };
    let plan = Plan {
        args,
        layout,
        workloads,
        params,
        settings,
        runs: args.runs.unwrap_or(5).max(1),
        dir: &dir,
    };
    plan.describe(&placements, &engines);
    for (name, why) in &left_out {
        eprintln!("{name} is left out: it {why}");
    }
    eprintln!("settings: {}", settings.describe());
    let measured = placements
        .iter()
        .map(|&p| plan.placement(p, &engines, &openers))
        .collect::<Result<_, _>>()?;
    let results = RtResults {
        layout,
        engines,
        left_out,
        workloads: plan.workloads,
        placements: measured,
        settings,
        params,
    };
    print(&results);
    if let Some(path) = &args.json {
        super::report::write_file(
            path,
            serde_json::to_string_pretty(&to_json(&results))?.as_bytes(),
        )?;
        eprintln!("wrote {}", path.display());
    }
    if args.plot.is_some() {
        eprintln!(
            "--plot: no chart in range-tombstone mode (the table and the JSON hold the costs)"
        );
    }
    Ok(())
}

/// One tree's runs of one workload: the median run's ops/s, min, max, and the median run.
struct Rates {
    median: f64,
    min: f64,
    max: f64,
    median_run: Option<Measurement>,
}

/// The median of `values` (the lower middle for an even count), min and max.
fn median_min_max(values: &[f64]) -> Option<(f64, f64, f64)> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len().checked_sub(1)? / 2;
    Some((*sorted.get(mid)?, *sorted.first()?, *sorted.last()?))
}

fn rates(runs: &[Vec<Measurement>], w: usize) -> Option<Rates> {
    let of_w: Vec<&Measurement> = runs.iter().filter_map(|r| r.get(w)).collect();
    let (median, min, max) =
        median_min_max(&of_w.iter().map(|m| m.ops_per_sec()).collect::<Vec<_>>())?;
    Some(Rates {
        median,
        min,
        max,
        median_run: of_w
            .iter()
            .find(|m| m.ops_per_sec().total_cmp(&median).is_eq())
            .map(|m| (*m).clone()),
    })
}

/// One row: an engine's workload under one placement.
struct Row<'a> {
    placement: Placement,
    workload: &'static str,
    engine: &'a str,
    baseline: Rates,
    tombstones: Rates,
    /// Per run: baseline ops/s ÷ tombstone tree ops/s.
    costs: Vec<f64>,
    /// (median, min, max) of `costs`.
    cost: (f64, f64, f64),
    /// What either tree read wrong.
    wrong: Vec<String>,
}

fn rows(results: &RtResults) -> Vec<Row<'_>> {
    let mut out = Vec::new();
    for p in &results.placements {
        for (w, &workload) in results.workloads.iter().enumerate() {
            for (engine, [base, rt]) in results.engines.iter().zip(&p.runs) {
                let (Some(baseline), Some(tombstones)) = (rates(base, w), rates(rt, w)) else {
                    continue;
                };
                let costs: Vec<f64> = base
                    .iter()
                    .zip(rt)
                    .filter_map(|(b, t)| {
                        Some(b.get(w)?.ops_per_sec() / t.get(w)?.ops_per_sec().max(1e-9))
                    })
                    .collect();
                let Some(cost) = median_min_max(&costs) else {
                    continue;
                };
                let mut wrong = Vec::new();
                for (tree, runs) in [("baseline", base), ("tombstone tree", rt)] {
                    if let Some(note) = runs.iter().find_map(|r| r.get(w)?.wrong.clone()) {
                        wrong.push(format!("{tree}: {note}"));
                    }
                }
                out.push(Row {
                    placement: p.placement,
                    workload,
                    engine,
                    baseline,
                    tombstones,
                    costs,
                    cost,
                    wrong,
                });
            }
        }
    }
    out
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

fn print(results: &RtResults) {
    let layout = &results.layout;
    println!();
    println!("settings: {}", results.settings.describe());
    println!(
        "range tombstones: {} of width {} keys, one every {} keys; {} keys, {} live ({}-byte keys, {}-byte values); {} reads; {} run(s), engines alternating, each workload on the two trees back to back",
        layout.count,
        layout.width,
        layout.stride,
        layout.num,
        layout.live().len(),
        results.params.key_size,
        results.params.value_size,
        results.params.reads,
        results
            .placements
            .first()
            .and_then(|p| p.runs.first())
            .map_or(0, |[b, _]| b.len()),
    );
    println!();
    println!(
        "{:<10} {:<13} {:<20} {:>10} {:>19} {:>10} {:>19} {:>7} {:>13} {:>6}",
        "placement",
        "workload",
        "engine",
        "base ops/s",
        "(min-max)",
        "RT ops/s",
        "(min-max)",
        "cost ×",
        "(min-max)",
        "≤1.2"
    );
    println!("{}", "-".repeat(136));
    let rows = rows(results);
    let mut last = None;
    for row in &rows {
        let head = (row.placement, row.workload);
        let (placement, workload) = if last == Some(head) {
            ("", "")
        } else {
            (row.placement.name(), row.workload)
        };
        last = Some(head);
        let (cost, min, max) = row.cost;
        println!(
            "{:<10} {:<13} {:<20} {:>10} {:>19} {:>10} {:>19} {:>7.2} {:>13} {:>6}",
            placement,
            workload,
            row.engine,
            human(row.baseline.median),
            format!("({}-{})", human(row.baseline.min), human(row.baseline.max)),
            human(row.tombstones.median),
            format!(
                "({}-{})",
                human(row.tombstones.min),
                human(row.tombstones.max)
            ),
            cost,
            format!("({min:.2}-{max:.2})"),
            if !row.wrong.is_empty() {
                "WRONG"
            } else if cost <= TARGET {
                "yes"
            } else {
                "no"
            }
        );
    }
    println!();
    println!(
        "cost ×: baseline ops/s ÷ ops/s with range tombstones, per run (each workload runs on the two trees back to back); median run and min-max over runs; target ≤ {TARGET}. base: the same live keys without tombstones. seekrandom: seek + 10 entries; seekrandom50: seek + 50; readseq: full forward scans (reads / live keys of them, at least one), ops = entries; readmissing: never-written keys between the live ones."
    );
    println!(
        "placements: memtable = the active memtable; l0 = one level-0 table; compacted = merged into the last level beside the keys they cover (GC watermark 0); mixed = a third each."
    );
    for (name, why) in &results.left_out {
        println!("{name}: left out of these rows; it {why}.");
    }
    for row in &rows {
        for note in &row.wrong {
            println!(
                "WRONG {} {} {}: {note}",
                row.placement.name(),
                row.workload,
                row.engine
            );
        }
    }
}

fn rates_json(r: &Rates, runs: &[Vec<Measurement>], w: usize) -> serde_json::Value {
    json!({
        "median_ops_per_sec": r.median,
        "min_ops_per_sec": r.min,
        "max_ops_per_sec": r.max,
        "p50_ns": r.median_run.as_ref().and_then(|m| m.p50_ns),
        "p99_ns": r.median_run.as_ref().and_then(|m| m.p99_ns),
        "runs": runs
            .iter()
            .filter_map(|run| run.get(w))
            .map(|m| json!({
                "ops": m.ops,
                "secs": m.elapsed.as_secs_f64(),
                "ops_per_sec": m.ops_per_sec(),
                "p50_ns": m.p50_ns,
                "p99_ns": m.p99_ns,
                "wrong": m.wrong,
            }))
            .collect::<Vec<_>>(),
    })
}

fn to_json(results: &RtResults) -> serde_json::Value {
    let layout = &results.layout;
    let rows: Vec<_> = rows(results)
        .iter()
        .map(|row| {
            let runs = results
                .placements
                .iter()
                .find(|p| p.placement == row.placement)
                .and_then(|p| {
                    let e = results.engines.iter().position(|e| e == row.engine)?;
                    p.runs.get(e)
                });
            let w = results
                .workloads
                .iter()
                .position(|w| *w == row.workload)
                .unwrap_or(0);
            let (base, rt) = runs.map_or((&[][..], &[][..]), |[b, t]| (&b[..], &t[..]));
            let (cost, min, max) = row.cost;
            json!({
                "placement": row.placement.name(),
                "workload": row.workload,
                "engine": row.engine,
                "baseline": rates_json(&row.baseline, base, w),
                "range_tombstones": rates_json(&row.tombstones, rt, w),
                "cost": {
                    "median": cost,
                    "min": min,
                    "max": max,
                    "runs": row.costs,
                },
                "within_target": row.wrong.is_empty() && cost <= TARGET,
                "wrong": row.wrong,
            })
        })
        .collect();
    json!({
        "mode": "range-tombstones",
        "settings": results.settings.describe(),
        "params": super::report::params_json(&results.params),
        "range_tombstones": {
            "count": layout.count,
            "width": layout.width,
            "stride": layout.stride,
            "live_keys": layout.live().len(),
        },
        "cost": "baseline ops/s / ops/s with range tombstones, per run; median and min-max over runs",
        "target": TARGET,
        "engines": results.engines,
        "left_out": results
            .left_out
            .iter()
            .map(|(engine, why)| json!({ "engine": engine, "reason": why }))
            .collect::<Vec<_>>(),
        "results": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_spreads_tombstones_evenly_and_leaves_live_keys_between() {
        let layout = Layout::new(1000, 10, 10).unwrap();
        assert_eq!(layout.stride, 100);
        assert_eq!(layout.tombstone(0), (45, 55));
        assert_eq!(layout.tombstone(9), (945, 955));
        let live = layout.live();
        assert_eq!(live.len(), 900);
        assert!(!live.contains(&45) && !live.contains(&54) && live.contains(&55));
        assert!(Layout::new(1000, 10, 100).is_err(), "no live key between");
        assert!(Layout::new(10, 20, 1).is_err());
        assert!(Layout::new(1000, 10, 0).is_err());
    }

    #[test]
    fn medians_are_the_middle_run() {
        assert_eq!(
            median_min_max(&[3.0, 1.0, 2.0, 5.0, 4.0]),
            Some((3.0, 1.0, 5.0))
        );
        assert_eq!(median_min_max(&[2.0, 1.0]), Some((1.0, 1.0, 2.0)));
        assert_eq!(median_min_max(&[]), None);
    }
}
