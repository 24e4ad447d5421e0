//! `strata bench`: db_bench-style workloads on Strata and, with `--compare`, on the peer engines
//! in the same run (BENCH.md).
//!
//! A run opens each engine on a fresh directory and runs the workloads in the order given; a
//! write workload settles the database afterwards; a read workload refills it first (untimed) if
//! it is not full. With several engines, runs alternate (A B C A B C) so that a noisy neighbour
//! hurts all alike; each workload's figures are the median run's (at least three runs with
//! `--compare`). Each engine's run is a child process of its own; with `--reopen`, the read
//! workloads run in a fresh process on the settled database opened again, as a restarted service
//! reads ([`runner`]). `--db DIR` keeps the databases in `DIR/ENGINE-runN`. The report gives
//! Strata's ratio to the best peer of each workload against its goal ([`report::GOALS`]) and,
//! for the read workloads, what Strata holds in memory beside the process's peak RSS. See
//! [`workloads`] for what each workload does and [`engine`] for how the engines are driven.
//! `--kv-separation` opens every engine with its own key-value separation and adds a full
//! compaction after `overwrite`, whose space amplification the report gives.
//!
//! `--engine database` runs the workloads through databases with their write-ahead logs on
//! instead of trees ([`database`]): Strata's `Database`, and with `--compare`, fjall and RocksDB
//! (WAL on), each write durable as `--durability` says; it adds `fillsync` (synced writes from 4
//! threads: group commit at work) and runs fillrandom, overwrite, readrandom, readwhilewriting and
//! fillsync by default.

pub(crate) mod database;
pub(crate) mod engine;
#[cfg(feature = "compare")]
mod peers;
mod report;
#[cfg(feature = "compare-rocksdb")]
mod rocks;
mod rt;
pub(crate) mod runner;
mod sys;
pub(crate) mod workloads;

use std::path::PathBuf;

use clap::Args;

use engine::{BoxError, Durability, Engine, Settings};
use workloads::{Measurement, Params};

/// `--engine`: what every engine of a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum EngineKind {
    /// LSM-trees without a WAL, driven by the benchmark's flush and compaction threads.
    Tree,
    /// Databases with their WAL on and their own background workers.
    Database,
}

impl EngineKind {
    /// Its `--engine` name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Tree => "tree",
            Self::Database => "database",
        }
    }
}

#[derive(Args, Debug, Clone)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "command-line flags, each its own switch"
)]
pub(crate) struct BenchArgs {
    /// What the engines are: `tree` (Strata's `Tree` and the lsm-tree peers, no WAL) or
    /// `database` (Strata's `Database`, fjall, RocksDB; WAL on, writes durable as --durability
    /// says).
    #[arg(long, value_enum, default_value_t = EngineKind::Tree)]
    pub(crate) engine: EngineKind,
    /// With `--engine database`: `buffer`, each write handed to the OS before it returns
    /// (survives a crash of the process), or `syncdata`, each write synced (survives power loss).
    /// `fillsync` always syncs.
    #[arg(long, value_enum, default_value_t = Durability::Buffer)]
    pub(crate) durability: Durability,
    /// Entries per write workload.
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) num: u64,
    /// Operations of each read workload (default: --num).
    #[arg(long)]
    pub(crate) reads: Option<u64>,
    /// Key size in bytes (the zero-padded decimal index).
    #[arg(long, default_value_t = 16)]
    pub(crate) key_size: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    pub(crate) value_size: usize,
    /// What the values hold: `random` printable bytes (db_bench's incompressible default) or
    /// `json`-like records (a document store's values; what compression is measured on).
    #[arg(long, default_value = "random", value_parser = ["random", "json"])]
    pub(crate) values: String,
    /// Reader threads of readrandom, readmissing and readwhilewriting.
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: usize,
    /// Block cache size in MiB (every engine).
    #[arg(long, default_value_t = 64)]
    pub(crate) cache_mb: u64,
    /// Comma-separated workloads, in order (see `--help` of each in the README).
    /// With `--range-tombstones`: readrandom, readmissing, seekrandom (seek + 10), seekrandom50
    /// (seek + 50), readseq, all by default.
    #[arg(long, default_value = DEFAULT_BENCHMARKS)]
    pub(crate) benchmarks: String,
    /// Block compression of every engine: none, lz4 (feature `lz4`), zstd:LEVEL or
    /// zstd-dict:LEVEL (feature `zstd`; the dictionary is trained on the workloads' values). A
    /// peer without the codec is refused.
    #[arg(long, default_value = "none", value_parser = engine::Compression::parse)]
    pub(crate) compression: engine::Compression,
    /// Key-value separation in every engine: each opened with its own
    /// `KvSeparationOptions::default()` (values of 1 KiB and more in blob files; blobs compressed
    /// as `--compression`). Pair it with a `--value-size` past the threshold, e.g. 4096. Turns
    /// on `--full-compaction`. Not wired for rocksdb.
    #[arg(long)]
    pub(crate) kv_separation: bool,
    /// With `--kv-separation`: values of at least this many bytes go to blob files (default: each
    /// engine's, 1 KiB).
    #[arg(long, value_name = "BYTES", requires = "kv_separation")]
    pub(crate) blob_threshold: Option<u32>,
    /// After `overwrite` settles, merge every table into the last level (untimed, GC watermark
    /// at the latest seqno) and report the space amplification then (column `SA full`); the
    /// later workloads run on the compacted database. On with `--kv-separation`.
    #[arg(long)]
    pub(crate) full_compaction: bool,
    /// Peer engines to run too: with `--engine tree`, lsm-tree and coordinode-lsm-tree (cargo
    /// feature `compare`); with `--engine database`, fjall (cargo feature `compare`); rocksdb
    /// with either (cargo feature `compare-rocksdb`).
    #[arg(long, value_delimiter = ',')]
    pub(crate) compare: Vec<String>,
    /// Runs per engine (default: 3 with --compare, else 1).
    #[arg(long)]
    pub(crate) runs: Option<usize>,
    /// Seed of the random orders.
    #[arg(long, default_value_t = 0x5eed)]
    pub(crate) seed: u64,
    /// Keeps the databases in this directory: one folder per engine and run, DIR/ENGINE-runN
    /// (and DIR/ENGINE-runN-prefix, prefixscan's), replaced if there, for `strata inspect` and
    /// `strata verify` afterwards (default: a temporary directory, removed afterwards).
    #[arg(long, alias = "dir", value_name = "DIR")]
    pub(crate) db: Option<PathBuf>,
    /// Runs the read workloads (readrandom, readmissing, readseq, readreverse, seekrandom,
    /// prefixscan, readwhilewriting) in a fresh process on the settled database opened again, as
    /// a restarted service reads: the write workloads run in one process, which settles the
    /// database and exits; then a new one opens the folder and reads. Peak RSS is then the
    /// reader's own. With --in-process, the database is closed and opened again in this process.
    #[arg(long)]
    pub(crate) reopen: bool,
    /// Writes the results as JSON to this file: per workload and engine the runs and medians;
    /// Strata's rows add best_peer, best_peer_ratio, goal, meets_goal and, for the reads, memory.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    /// Draws ops/s per workload per engine as an SVG chart to this file; with --compare, a second
    /// chart of Strata's ratio to the best peer of each workload, with its goal.
    #[arg(long)]
    pub(crate) plot: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    pub(crate) quiet: bool,
    /// Runs every engine in this process instead of one child process per engine and run (peak
    /// RSS then mixes the engines).
    #[arg(long)]
    pub(crate) in_process: bool,
    /// Range-tombstone mode: N range tombstones over the key set, measured against a baseline
    /// tree holding the same live keys and no tombstones; reports each read workload's cost
    /// (baseline ops/s ÷ ops/s with tombstones, target ≤ 1.2). 0: off.
    #[arg(long, default_value_t = 0)]
    pub(crate) range_tombstones: u64,
    /// Consecutive keys each range tombstone covers.
    #[arg(long, default_value_t = 10)]
    pub(crate) rt_width: u64,
    /// Where the range tombstones sit, comma-separated for several: memtable (the active
    /// memtable), l0 (a level-0 table), compacted (the last level, beside the keys they cover),
    /// mixed (a third each).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "memtable,l0,compacted,mixed",
        value_parser = ["memtable", "l0", "compacted", "mixed"]
    )]
    pub(crate) rt_placement: Vec<String>,
    /// Internal: run one engine's workloads in `--db` and print the measurements as JSON.
    #[arg(long, hide = true)]
    pub(crate) child_engine: Option<String>,
    /// Internal: the run (from 1) whose databases the child uses.
    #[arg(long, hide = true)]
    pub(crate) child_run: Option<usize>,
    /// Internal: the phase the child runs (`all`, `write`, `read`).
    #[arg(long, hide = true)]
    pub(crate) child_phase: Option<String>,
    /// Internal: the index of the first workload the child runs.
    #[arg(long, hide = true)]
    pub(crate) child_start: Option<usize>,
    /// Internal: what the run's databases hold (JSON), as the last phase left them.
    #[arg(long, hide = true)]
    pub(crate) child_state: Option<String>,
    /// Internal: with `--range-tombstones`, the tree the child measures first (`baseline` or `rt`).
    #[arg(long, hide = true)]
    pub(crate) child_variant: Option<String>,
}

/// `--benchmarks`'s default.
const DEFAULT_BENCHMARKS: &str = "fillseq,fillrandom,overwrite,readrandom,readmissing,readseq,readreverse,seekrandom,prefixscan,readwhilewriting,deleterandom,mergerandom";

/// The workloads of `--engine database` when `--benchmarks` is left at its default.
const DEFAULT_DATABASE_BENCHMARKS: &str =
    "fillrandom,overwrite,readrandom,readwhilewriting,fillsync";

/// Opens engine `name` on a directory: a fresh one, or one it wrote before (`--reopen`).
type Opener = fn(&std::path::Path, &Settings) -> Result<Box<dyn Engine>, BoxError>;

/// Where the read workloads ran, as the report's settings line says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reads {
    /// In the process that wrote the database (the default).
    SameProcess,
    /// In a fresh process on the settled database opened again (`--reopen`).
    Reopened,
    /// On the settled database closed and opened again in the same process (`--reopen
    /// --in-process`).
    ReopenedInProcess,
}

impl Reads {
    /// What `args` ask for.
    fn of(args: &BenchArgs) -> Self {
        match (args.reopen, args.in_process) {
            (false, _) => Self::SameProcess,
            (true, false) => Self::Reopened,
            (true, true) => Self::ReopenedInProcess,
        }
    }

    /// Its name in the JSON report.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::SameProcess => "same-process",
            Self::Reopened => "reopened",
            Self::ReopenedInProcess => "reopened-in-process",
        }
    }

    /// The settings line's words.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::SameProcess => "reads in the process that wrote and settled the database",
            Self::Reopened => {
                "reads reopened: on the settled database opened again in a fresh process (--reopen)"
            }
            Self::ReopenedInProcess => {
                "reads reopened: on the settled database closed and opened again in the same process (--reopen --in-process)"
            }
        }
    }
}

fn opener(name: &str, kind: EngineKind) -> Result<Opener, BoxError> {
    match (kind, name) {
        (EngineKind::Tree, "strata") => Ok(engine::open_strata),
        (EngineKind::Database, "strata") => Ok(database::open_strata_db),
        #[cfg(feature = "compare")]
        (EngineKind::Tree, "lsm-tree") => Ok(peers::open_lsm_tree),
        #[cfg(feature = "compare")]
        (EngineKind::Tree, "coordinode-lsm-tree" | "coordinode") => Ok(peers::open_coordinode),
        #[cfg(feature = "compare")]
        (EngineKind::Database, "fjall") => Ok(peers::open_fjall),
        (EngineKind::Database, "lsm-tree" | "coordinode-lsm-tree" | "coordinode") => Err(format!(
            "{name} is a tree without a WAL: compare it with --engine tree (with --engine database: fjall, rocksdb)"
        )
        .into()),
        (EngineKind::Tree, "fjall") => Err(
            "fjall is a database with a WAL: compare it with --engine database (with --engine tree: lsm-tree, coordinode-lsm-tree, rocksdb)"
                .into(),
        ),
        #[cfg(not(feature = "compare"))]
        (_, "lsm-tree" | "coordinode-lsm-tree" | "coordinode" | "fjall") => Err(format!(
            "--compare {name} needs the cargo feature `compare`: cargo run --release -p strata-cli --features compare -- bench --engine {} --compare {name}",
            kind.name()
        )
        .into()),
        #[cfg(feature = "compare-rocksdb")]
        (_, "rocksdb") => Ok(rocks::open_rocksdb),
        #[cfg(not(feature = "compare-rocksdb"))]
        (_, "rocksdb") => Err(
            "--compare rocksdb needs the cargo feature `compare-rocksdb` (a long C++ build that needs libclang: apt install libclang-dev): cargo run --release -p strata-cli --features compare-rocksdb -- bench --compare rocksdb"
                .into(),
        ),
        (_, other) => Err(format!(
            "unknown engine {other:?}; known: lsm-tree, coordinode-lsm-tree, rocksdb (--engine tree), fjall, rocksdb (--engine database)"
        )
        .into()),
    }
}

/// `n` keys drawn from `offset..offset + space` by a seeded permutation (repeating if `n` is
/// larger than `space`).
fn random_keys(n: u64, space: u64, offset: u64, seed: u64) -> Vec<u64> {
    let order = workloads::ReadOrder::shuffled(n, space, offset, seed);
    (0..n).map(|i| order.at(i)).collect()
}

/// Every engine's runs of every workload.
pub(crate) struct Results {
    pub(crate) engines: Vec<String>,
    pub(crate) workloads: Vec<&'static str>,
    /// `runs[e][r][w]`: engine `e`, run `r`, workload `w`.
    pub(crate) runs: Vec<Vec<Vec<Measurement>>>,
    pub(crate) settings: Settings,
    pub(crate) params: Params,
    /// Where the read workloads ran.
    pub(crate) reads: Reads,
}

/// The workloads `--benchmarks` names (with `--engine database`, its own default list, and
/// `fillsync` besides the others).
fn parse_workloads(args: &BenchArgs) -> Result<Vec<&'static str>, BoxError> {
    match args.engine {
        EngineKind::Tree => {
            if let Some(only) = workloads::DATABASE_ONLY
                .iter()
                .find(|w| args.benchmarks.split(',').any(|b| b.trim() == **w))
            {
                return Err(
                    format!("{only} needs a WAL to sync: run it with --engine database").into(),
                );
            }
            pick_workloads(&args.benchmarks, workloads::ALL, "unknown workload")
        }
        EngineKind::Database => {
            let list = if args.benchmarks == DEFAULT_BENCHMARKS {
                DEFAULT_DATABASE_BENCHMARKS
            } else {
                &args.benchmarks
            };
            let known: Vec<&'static str> = workloads::ALL
                .iter()
                .chain(workloads::DATABASE_ONLY)
                .copied()
                .collect();
            pick_workloads(list, &known, "unknown workload")
        }
    }
}

/// The names of a comma-separated `list`, each one of `known`; an unknown one is an error that
/// starts with `unknown` and lists `known`.
pub(crate) fn pick_workloads(
    list: &str,
    known: &[&'static str],
    unknown: &str,
) -> Result<Vec<&'static str>, BoxError> {
    list.split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| {
            known
                .iter()
                .find(|k| **k == w)
                .copied()
                .ok_or_else(|| -> BoxError {
                    format!("{unknown} {w:?}; known: {}", known.join(",")).into()
                })
        })
        .collect()
}

/// Runs `strata bench` for one engine in a child process (so that its peak RSS is its own),
/// with `args`' settings, `--db dir`, `--child-engine engine` and `extra`; returns what it
/// printed, as JSON.
fn spawn_child(
    args: &BenchArgs,
    engine: &str,
    dir: &std::path::Path,
    extra: &[String],
) -> Result<serde_json::Value, BoxError> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find the strata executable to run a child: {e}"))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("bench")
        .args(["--engine", args.engine.name()])
        .args(["--durability", args.durability.name()])
        .args(["--num", &args.num.to_string()])
        .args(["--key-size", &args.key_size.to_string()])
        .args(["--value-size", &args.value_size.to_string()])
        .args(["--values", &args.values])
        .args(["--threads", &args.threads.to_string()])
        .args(["--cache-mb", &args.cache_mb.to_string()])
        .args(["--benchmarks", &args.benchmarks])
        .args(["--seed", &args.seed.to_string()])
        .args(["--compression", &args.compression.to_string()])
        .args(args.kv_separation.then_some("--kv-separation"))
        .args(args.full_compaction.then_some("--full-compaction"))
        .arg("--db")
        .arg(dir)
        .args(["--child-engine", engine])
        .args(extra)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit());
    if let Some(reads) = args.reads {
        cmd.args(["--reads", &reads.to_string()]);
    }
    if let Some(threshold) = args.blob_threshold {
        cmd.args(["--blob-threshold", &threshold.to_string()]);
    }
    if args.quiet {
        cmd.arg("--quiet");
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start the benchmark process: {e}"))?;
    if !out.status.success() {
        return Err(format!("the benchmark process failed ({})", out.status).into());
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("the benchmark process printed no measurements: {e}").into())
}

/// The measurements of a JSON array.
fn measurements(json: &serde_json::Value) -> Result<Vec<Measurement>, BoxError> {
    json.as_array()
        .ok_or("the benchmark process printed no measurements")?
        .iter()
        .map(|m| Measurement::from_json(m).ok_or_else(|| "a malformed measurement".into()))
        .collect()
}

/// Runs one engine's workloads in a child process and reads back its measurements (the
/// range-tombstone mode's children, which print an array).
fn run_child(
    args: &BenchArgs,
    engine: &str,
    dir: &std::path::Path,
    extra: &[String],
) -> Result<Vec<Measurement>, BoxError> {
    measurements(&spawn_child(args, engine, dir, extra)?)
}

/// Runs `phase` of run `run` of `engine` from workload `start` in a child process, its databases
/// holding what `state` says.
fn run_child_phase(
    args: &BenchArgs,
    engine: &str,
    dir: &std::path::Path,
    run: usize,
    (phase, start, state): (runner::Phase, usize, runner::DbState),
) -> Result<runner::PhaseResult, BoxError> {
    let extra = [
        "--child-run".to_string(),
        run.to_string(),
        "--child-phase".to_string(),
        phase.name().to_string(),
        "--child-start".to_string(),
        start.to_string(),
        "--child-state".to_string(),
        state.to_json().to_string(),
    ];
    let json = spawn_child(args, engine, dir, &extra)?;
    let measured = measurements(json.get("measurements").unwrap_or(&serde_json::Value::Null))?;
    let next = json
        .get("next")
        .and_then(serde_json::Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or("the benchmark process did not say where it stopped")?;
    let state = runner::DbState::from_json(json.get("state").unwrap_or(&serde_json::Value::Null))?;
    Ok((measured, next, state))
}

/// `--child-engine`: runs the phase the parent asks for in this process and prints the
/// measurements, where it stopped and what the databases hold, as JSON.
fn run_as_child(
    args: &BenchArgs,
    engine: &str,
    workloads: &[&'static str],
    params: &Params,
    settings: &Settings,
) -> Result<(), BoxError> {
    let dir = args.db.as_ref().ok_or("--child-engine needs --db")?;
    let run = args.child_run.ok_or("--child-engine needs --child-run")?;
    let phase = runner::Phase::parse(args.child_phase.as_deref().unwrap_or("all"))?;
    let state = match &args.child_state {
        Some(text) => runner::DbState::from_json(
            &serde_json::from_str(text).map_err(|e| format!("--child-state: {e}"))?,
        )?,
        None => runner::DbState::default(),
    };
    let mut runner = runner::Runner::new(
        opener(engine, args.engine)?,
        runner::RunDirs::new(dir, engine, run),
        params,
        settings,
        state,
    );
    let (measured, next) = runner.run_phase(phase, workloads, args.child_start.unwrap_or(0))?;
    let state = runner.state();
    // The database closes before the parent hears that the phase ended.
    drop(runner);
    let json = serde_json::json!({
        "measurements": measured.iter().map(Measurement::to_json).collect::<Vec<_>>(),
        "next": next,
        "state": state.to_json(),
    });
    println!("{json}");
    Ok(())
}

/// Refuses arguments no run can use, with a message.
fn check_args(args: &BenchArgs, workloads: &[&str]) -> Result<(), BoxError> {
    if workloads.is_empty() {
        return Err("--benchmarks names no workload".into());
    }
    if args.num == 0 {
        return Err("--num must be at least 1".into());
    }
    let digits = args.num.saturating_mul(2).to_string().len();
    if args.key_size < digits {
        return Err(format!(
            "--key-size {} cannot hold {} distinct keys (needs {digits} bytes)",
            args.key_size,
            args.num * 2
        )
        .into());
    }
    if args.blob_threshold.is_some() && !args.kv_separation {
        return Err("--blob-threshold needs --kv-separation".into());
    }
    if args.engine == EngineKind::Tree && args.durability != Durability::Buffer {
        return Err(format!(
            "--durability {} needs --engine database (trees have no WAL)",
            args.durability.name()
        )
        .into());
    }
    Ok(())
}

/// Strata, then the peers `--compare` names (each once).
fn engine_names(args: &BenchArgs) -> Vec<String> {
    let mut engines = vec!["strata".to_string()];
    for peer in &args.compare {
        let peer = peer.trim();
        if !peer.is_empty() && !engines.iter().any(|e| e == peer) {
            engines.push(peer.to_string());
        }
    }
    engines
}

/// The workloads' parameters `args` give.
fn params_of(args: &BenchArgs) -> Params {
    Params {
        num: args.num,
        reads: args.reads.unwrap_or(args.num).max(1),
        key_size: args.key_size,
        value_size: args.value_size,
        threads: args.threads.max(1),
        seed: args.seed,
        progress: !args.quiet,
        json_values: args.values == "json",
        full_compaction: args.full_compaction || args.kv_separation,
    }
}

/// The engines' settings `args` give.
fn settings_of(args: &BenchArgs) -> Settings {
    Settings {
        cache_bytes: args.cache_mb << 20,
        block_size: 4096,
        bloom_bits: 10,
        l0_threshold: 4,
        table_bytes: 64 << 20,
        prefix_len: 0,
        compression: args.compression,
        value_size: args.value_size,
        value_seed: args.seed ^ 0xabcd,
        json_values: args.values == "json",
        memtable_range_tombstones: None,
        kv_separation: args.kv_separation.then_some(engine::KvSeparation {
            threshold: args.blob_threshold,
        }),
        wal: (args.engine == EngineKind::Database).then_some(args.durability),
    }
}

pub(crate) fn run(args: &BenchArgs) -> Result<(), BoxError> {
    if args.range_tombstones > 0 {
        if args.engine == EngineKind::Database {
            return Err("--range-tombstones measures trees: leave out --engine database".into());
        }
        if args.reopen {
            return Err(
                "--reopen is not wired for --range-tombstones (its trees are measured in the process that wrote them)"
                    .into(),
            );
        }
        return rt::run(args);
    }
    let workloads = parse_workloads(args)?;
    check_args(args, &workloads)?;
    let engines = engine_names(args);
    let openers: Vec<Opener> = engines
        .iter()
        .map(|e| opener(e, args.engine))
        .collect::<Result<_, _>>()?;
    let runs = args
        .runs
        .unwrap_or(if engines.len() > 1 { 3 } else { 1 })
        .max(1);
    let params = params_of(args);
    let settings = settings_of(args);
    if let Some(engine) = &args.child_engine {
        return run_as_child(args, engine, &workloads, &params, &settings);
    }
    let tmp;
    let dir = if let Some(dir) = &args.db {
        dir.clone()
    } else {
        tmp = tempfile::tempdir()?;
        tmp.path().to_path_buf()
    };
    let reads = Reads::of(args);
    eprintln!(
        "strata bench --engine {}: {} entries, {}-byte keys, {}-byte values, {} reads, {} thread(s); engines {}; {runs} run(s) each; in {}",
        args.engine.name(),
        params.num,
        params.key_size,
        params.value_size,
        params.reads,
        params.threads,
        engines.join(", "),
        dir.display()
    );
    eprintln!("settings: {}; {}", settings.describe(), reads.describe());
    if let Some(kv) = settings.kv_separation {
        let threshold = kv.threshold.unwrap_or(engine::DEFAULT_BLOB_THRESHOLD);
        if params.value_size < threshold as usize {
            eprintln!(
                "note: {}-byte values stay below the separation threshold of {threshold} bytes: nothing goes to blob files (raise --value-size or lower --blob-threshold)",
                params.value_size
            );
        }
    }
    let mut all: Vec<Vec<Vec<Measurement>>> = vec![Vec::new(); engines.len()];
    let mut kept = Vec::new();
    for run in 1..=runs {
        for (e, (name, open)) in engines.iter().zip(&openers).enumerate() {
            if !args.quiet {
                eprintln!("run {run}/{runs}: {name}");
            }
            let plan = EngineRun {
                args,
                name,
                open: *open,
                dir: &dir,
                run,
            };
            let measured = plan
                .measure(&workloads, &params, &settings)
                .map_err(|e| format!("{name}: {e}"))?;
            kept.extend(plan.kept());
            if let Some(slot) = all.get_mut(e) {
                slot.push(measured);
            }
        }
    }
    let results = Results {
        engines,
        workloads,
        runs: all,
        settings,
        params,
        reads,
    };
    report::print(&results);
    if let Some(path) = &args.json {
        report::write_json(&results, path)?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.plot {
        report::write_plot(&results, path)?;
        eprintln!("wrote {}", path.display());
    }
    print_kept(&kept);
    Ok(())
}

/// One engine's run of a benchmark.
struct EngineRun<'a> {
    args: &'a BenchArgs,
    name: &'a str,
    open: Opener,
    /// The benchmark's directory.
    dir: &'a std::path::Path,
    /// The run's number, from 1.
    run: usize,
}

impl EngineRun<'_> {
    /// Runs the workloads on fresh databases, in child processes (with `--in-process`, in this
    /// one); with `--reopen`, the reads in phases of their own. Without `--db`, the databases go
    /// afterwards.
    fn measure(
        &self,
        workloads: &[&'static str],
        params: &Params,
        settings: &Settings,
    ) -> Result<Vec<Measurement>, BoxError> {
        let dirs = runner::RunDirs::new(self.dir, self.name, self.run);
        dirs.remove()?;
        let mut exec = |phase, start, state| {
            if self.args.in_process {
                let mut runner =
                    runner::Runner::new(self.open, dirs.clone(), params, settings, state);
                let (measured, next) = runner.run_phase(phase, workloads, start)?;
                Ok((measured, next, runner.state()))
            } else {
                run_child_phase(
                    self.args,
                    self.name,
                    self.dir,
                    self.run,
                    (phase, start, state),
                )
            }
        };
        let measured = runner::run_phases(workloads, self.args.reopen, &mut exec);
        if self.args.db.is_none() {
            // NB: best effort; a leftover goes with the temporary directory.
            let _ = dirs.remove();
        }
        measured
    }

    /// The folders `--db` keeps of the run (none without it).
    fn kept(&self) -> Vec<PathBuf> {
        if self.args.db.is_none() {
            return Vec::new();
        }
        runner::RunDirs::new(self.dir, self.name, self.run)
            .existing()
            .into_iter()
            .map(std::path::Path::to_path_buf)
            .collect()
    }
}

/// Says where `--db` kept the databases, and how to look at Strata's.
fn print_kept(kept: &[PathBuf]) {
    if kept.is_empty() {
        return;
    }
    eprintln!("kept the databases:");
    for path in kept {
        eprintln!("  {}", path.display());
    }
    if let Some(strata) = kept.iter().find(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("strata-run"))
    }) {
        eprintln!(
            "look at Strata's with: strata inspect {0}; strata verify {0}",
            strata.display()
        );
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "removes the benchmark's own directories"
)]
fn remove_dir(dir: &std::path::Path) {
    // NB: best effort; a leftover goes with the temporary directory.
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_names_parse_and_print_back() {
        use engine::Compression;
        for (text, parsed) in [
            ("none", Compression::None),
            ("lz4", Compression::Lz4),
            ("zstd:1", Compression::Zstd(1)),
            ("zstd:22", Compression::Zstd(22)),
            ("zstd-dict:9", Compression::ZstdDict(9)),
        ] {
            assert_eq!(Compression::parse(text), Ok(parsed));
            assert_eq!(parsed.to_string(), text);
        }
        assert_eq!(Compression::parse("zstd"), Ok(Compression::Zstd(3)));
        for bad in ["zstd:0", "zstd:23", "zstd:x", "gzip", "lz4:1"] {
            assert!(Compression::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_are_zero_padded_decimal_in_numeric_order() {
        assert_eq!(workloads::key(42, 16), b"0000000000000042");
        assert!(workloads::key(9, 16) < workloads::key(10, 16));
        assert_eq!(workloads::key(7, 3), b"007");
    }

    #[test]
    fn permutation_is_a_reproducible_shuffle() {
        let a = workloads::permutation(1000, 7);
        assert_eq!(a, workloads::permutation(1000, 7));
        assert_ne!(a, (0..1000).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn a_shuffle_is_a_reproducible_permutation_of_any_space() {
        for space in [1u64, 2, 3, 10, 1000, 4097, 65_536] {
            let shuffle = workloads::Shuffle::new(space, 11);
            let mut seen: Vec<u64> = (0..space).map(|i| shuffle.at(i)).collect();
            let again: Vec<u64> = (0..space).map(|i| shuffle.at(i)).collect();
            assert_eq!(seen, again, "reproducible");
            if space >= 10 {
                assert_ne!(seen, (0..space).collect::<Vec<_>>(), "shuffled");
            }
            seen.sort_unstable();
            assert_eq!(
                seen,
                (0..space).collect::<Vec<_>>(),
                "a permutation of {space}"
            );
            assert_eq!(
                shuffle.at(space + 3),
                shuffle.at(3),
                "repeats past the space"
            );
        }
        // Another seed, another order.
        let (a, b) = (
            workloads::Shuffle::new(1000, 1),
            workloads::Shuffle::new(1000, 2),
        );
        assert!((0..1000).any(|i| a.at(i) != b.at(i)));
    }

    #[test]
    fn random_keys_cover_the_space_and_repeat_past_it() {
        let keys = random_keys(25, 10, 100, 3);
        assert_eq!(keys.len(), 25);
        assert!(keys.iter().all(|k| (100..110).contains(k)));
        let mut first: Vec<_> = keys.iter().take(10).copied().collect();
        first.sort_unstable();
        assert_eq!(first, (100..110).collect::<Vec<_>>());
    }

    fn args(dir: &std::path::Path) -> BenchArgs {
        BenchArgs {
            engine: EngineKind::Tree,
            durability: Durability::Buffer,
            num: 3000,
            reads: Some(2000),
            key_size: 16,
            value_size: 100,
            values: "random".into(),
            threads: 2,
            cache_mb: 8,
            benchmarks: workloads::ALL.join(","),
            compare: Vec::new(),
            runs: Some(2),
            seed: 1,
            compression: engine::Compression::None,
            kv_separation: false,
            blob_threshold: None,
            full_compaction: false,
            db: Some(dir.to_path_buf()),
            json: Some(dir.join("out.json")),
            plot: Some(dir.join("out.svg")),
            quiet: true,
            // NB: the test binary is not `strata`: no child processes here.
            in_process: true,
            reopen: false,
            range_tombstones: 0,
            rt_width: 10,
            rt_placement: vec!["memtable".into()],
            child_engine: None,
            child_run: None,
            child_phase: None,
            child_start: None,
            child_state: None,
            child_variant: None,
        }
    }

    #[test]
    fn every_workload_runs_and_the_reports_have_their_shape() {
        let dir = tempfile::tempdir().unwrap();
        let args = args(dir.path());
        // `run` fails if a read misses a key, a scan sees the wrong count, or a prefix scan
        // finds the wrong number of keys.
        run(&args).unwrap();
        #[expect(clippy::disallowed_methods, reason = "reads the report")]
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.json")).unwrap())
                .unwrap();
        let results = json["results"].as_array().unwrap();
        assert_eq!(results.len(), workloads::ALL.len());
        for r in results {
            assert_eq!(r["engine"], "strata");
            assert_eq!(r["runs"].as_array().unwrap().len(), 2);
            assert!(r["median_ops_per_sec"].as_f64().unwrap() > 0.0);
        }
        let fill = results
            .iter()
            .find(|r| r["workload"] == "fillrandom")
            .unwrap();
        assert!(fill["space_amp"].as_f64().unwrap() > 0.5);
        // Prefix truncation makes the table smaller than the raw bytes, so this may be below 1.
        assert!(fill["write_amp"].as_f64().unwrap() > 0.5);
        #[expect(clippy::disallowed_methods, reason = "reads the chart")]
        let svg = std::fs::read_to_string(dir.path().join("out.svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("readrandom") && svg.contains("strata"));
    }

    /// `--reopen --in-process`: every workload runs, the reads on the databases closed and
    /// opened again (a read that misses a key or a scan that sees the wrong count fails the
    /// run), the report says so, Strata's reads carry their memory, and `--db` keeps the
    /// databases of every run.
    #[test]
    fn reopened_reads_find_every_key_and_carry_their_memory() {
        let dir = tempfile::tempdir().unwrap();
        let args = BenchArgs {
            reopen: true,
            ..args(dir.path())
        };
        run(&args).unwrap();
        let json = report(dir.path());
        assert_eq!(json["reads"], "reopened-in-process");
        assert!(
            json["settings"]
                .as_str()
                .unwrap()
                .contains("reads reopened"),
            "{json}"
        );
        let results = json["results"].as_array().unwrap();
        assert_eq!(results.len(), workloads::ALL.len());
        let read = row(&json, "readrandom", "strata");
        assert_eq!(read["runs"][0]["ops"], 2000, "{read}");
        let memory = &read["memory"];
        assert!(memory["pinned_index_bytes"].as_u64().unwrap() > 0, "{read}");
        assert!(
            memory["pinned_filter_bytes"].as_u64().unwrap() > 0,
            "{read}"
        );
        // The reads went through the block cache of the reopened tree.
        assert!(memory["cache_bytes"].as_u64().unwrap() > 0, "{read}");
        assert!(memory["rss_bytes"].as_u64().unwrap() > 0, "{read}");
        for write in ["fillrandom", "overwrite"] {
            assert!(row(&json, write, "strata")["memory"].is_null());
        }
        for run in [1, 2] {
            for folder in [
                format!("strata-run{run}"),
                format!("strata-run{run}-prefix"),
            ] {
                assert!(dir.path().join(&folder).is_dir(), "no {folder}");
            }
        }
    }

    /// Without `--db`, nothing of the run stays; `--reopen` with `--range-tombstones` is
    /// refused.
    #[test]
    fn a_temporary_directory_goes_and_reopen_needs_the_plain_mode() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = BenchArgs {
            benchmarks: "fillrandom,readrandom".into(),
            runs: Some(1),
            reopen: true,
            ..args(dir.path())
        };
        args.db = None;
        run(&args).unwrap();
        #[expect(clippy::disallowed_methods, reason = "lists the test's folder")]
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            left.iter().all(|n| !n.to_string_lossy().contains("-run")),
            "{left:?}"
        );
        let bad = BenchArgs {
            range_tombstones: 10,
            reopen: true,
            ..args
        };
        let err = run(&bad).unwrap_err().to_string();
        assert!(err.contains("--reopen"), "{err}");
    }

    /// Every peer opens the database it wrote again and reads every key of it.
    #[cfg(feature = "compare")]
    #[test]
    fn the_peers_read_their_reopened_databases() {
        let dir = tempfile::tempdir().unwrap();
        let args = BenchArgs {
            num: 1500,
            reads: Some(1500),
            benchmarks: "fillrandom,readrandom,readmissing,readseq,readreverse,seekrandom,prefixscan,readwhilewriting,deleterandom,readrandom".into(),
            runs: Some(1),
            reopen: true,
            compare: vec!["lsm-tree".into(), "coordinode-lsm-tree".into()],
            ..args(dir.path())
        };
        run(&args).unwrap();
        let json = report(dir.path());
        for engine in ["strata", "lsm-tree", "coordinode-lsm-tree"] {
            let read = row(&json, "readrandom", engine);
            assert_eq!(read["runs"][0]["ops"], 1500, "{read}");
            assert!(dir.path().join(format!("{engine}-run1")).is_dir());
        }
        let strata = row(&json, "readrandom", "strata");
        assert!(strata["best_peer"].is_string(), "{strata}");
        assert!(
            strata["best_peer_ratio"].as_f64().unwrap() > 0.0,
            "{strata}"
        );
        assert_eq!(strata["goal"], 1.5);
        assert!(strata["meets_goal"].is_boolean(), "{strata}");
    }

    /// The peers run the same workloads and every engine's reads check out.
    #[cfg(feature = "compare")]
    #[test]
    fn the_peers_run_every_workload_beside_strata() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = args(dir.path());
        args.num = 1500;
        args.runs = Some(1);
        args.compare = vec!["lsm-tree".into(), "coordinode-lsm-tree".into()];
        run(&args).unwrap();
        #[expect(clippy::disallowed_methods, reason = "reads the report")]
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.json")).unwrap())
                .unwrap();
        let results = json["results"].as_array().unwrap();
        // Every workload for every engine, but mergerandom for lsm-tree (no merge operators).
        assert_eq!(results.len(), 3 * workloads::ALL.len() - 1);
        let merged = |engine: &str| {
            results
                .iter()
                .any(|r| r["engine"] == engine && r["workload"] == "mergerandom")
        };
        assert!(!merged("lsm-tree"));
        assert!(merged("coordinode-lsm-tree") && merged("strata"));
        for engine in ["lsm-tree", "coordinode-lsm-tree"] {
            let fill = results
                .iter()
                .find(|r| r["engine"] == engine && r["workload"] == "fillrandom")
                .unwrap();
            assert!(fill["strata_ratio"].as_f64().unwrap() > 0.0);
        }
    }

    /// The median row of `workload` on `engine` in a JSON report.
    fn row<'a>(json: &'a serde_json::Value, workload: &str, engine: &str) -> &'a serde_json::Value {
        json["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["workload"] == workload && r["engine"] == engine)
            .unwrap_or_else(|| panic!("no {workload} row of {engine}"))
    }

    /// A key-value separation run: fill, overwrite, then reads (which check every value's
    /// length).
    fn kv_args(dir: &std::path::Path) -> BenchArgs {
        BenchArgs {
            num: 1500,
            reads: Some(1500),
            value_size: 2048,
            benchmarks: "fillrandom,overwrite,readrandom,readseq".into(),
            runs: Some(1),
            kv_separation: true,
            plot: None,
            ..args(dir)
        }
    }

    /// Opens engine `name` as `args` set it up, writes 200 values and checks that they went to
    /// blob files (every engine keeps them in `blobs/`).
    fn assert_writes_blob_files(name: &str, args: &BenchArgs) {
        let db = args.db.as_ref().unwrap().join(format!("{name}-direct"));
        let engine = opener(name, args.engine).unwrap()(&db, &settings_of(args)).unwrap();
        let order: Vec<u64> = (0..200).collect();
        workloads::write(&*engine, &params_of(args), "fill", &order, false).unwrap();
        drop(engine);
        #[expect(clippy::disallowed_methods, reason = "lists the engine's folder")]
        let blobs = std::fs::read_dir(db.join("blobs")).unwrap().count();
        assert!(blobs > 0, "{name} wrote no blob file");
    }

    #[test]
    fn kv_separation_writes_blob_files_and_reports_space_after_a_full_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let args = kv_args(dir.path());
        assert_writes_blob_files("strata", &args);
        run(&args).unwrap();
        let json = report(dir.path());
        assert_eq!(json["params"]["full_compaction"], true);
        assert!(
            json["settings"]
                .as_str()
                .unwrap()
                .contains("key-value separation")
        );
        let fill = row(&json, "fillrandom", "strata");
        assert!(fill["space_amp_full"].is_null(), "{fill}");
        let overwrite = row(&json, "overwrite", "strata");
        // Every value was written twice: the stale half is still on disk after the settle, and
        // gone after the full compaction (its blob files relocated or dropped).
        let settled = overwrite["space_amp"].as_f64().unwrap();
        let compacted = overwrite["space_amp_full"].as_f64().unwrap();
        assert!(settled > 1.5, "{overwrite}");
        assert!((0.9..1.3).contains(&compacted), "{overwrite}");
        // By the engine's own count: one flush of every value, and the settle's compaction
        // moves or merges little. (The process's count is not compared here: the test harness
        // runs other tests in this process at the same time.)
        let own = overwrite["engine_write_amp"].as_f64().unwrap();
        assert!((0.9..1.5).contains(&own), "{overwrite}");
        for workload in ["readrandom", "readseq"] {
            assert!(
                row(&json, workload, "strata")["median_ops_per_sec"]
                    .as_f64()
                    .unwrap()
                    > 0.0
            );
        }

        let mut bad = kv_args(dir.path());
        bad.kv_separation = false;
        bad.blob_threshold = Some(64);
        assert!(
            run(&bad)
                .unwrap_err()
                .to_string()
                .contains("--blob-threshold needs --kv-separation")
        );
    }

    /// The peers run with their own key-value separation, and their reads check out.
    #[cfg(feature = "compare")]
    #[test]
    fn the_peers_separate_values_too() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = kv_args(dir.path());
        args.blob_threshold = Some(512);
        args.compare = vec!["lsm-tree".into(), "coordinode-lsm-tree".into()];
        for engine in &args.compare {
            assert_writes_blob_files(engine, &args);
        }
        run(&args).unwrap();
        let json = report(dir.path());
        for engine in ["strata", "lsm-tree", "coordinode-lsm-tree"] {
            let overwrite = row(&json, "overwrite", engine);
            assert!(
                overwrite["space_amp_full"].as_f64().unwrap() > 0.5,
                "{overwrite}"
            );
            assert!(
                overwrite["write_amp"].as_f64().unwrap() > 0.5,
                "{overwrite}"
            );
            assert!(
                row(&json, "readrandom", engine)["median_ops_per_sec"]
                    .as_f64()
                    .unwrap()
                    > 0.0
            );
        }
    }

    /// Reads the JSON report of a run.
    fn report(dir: &std::path::Path) -> serde_json::Value {
        #[expect(clippy::disallowed_methods, reason = "reads the report")]
        let text = std::fs::read_to_string(dir.join("out.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// A range-tombstone configuration small enough for a test: 3000 keys, 30 tombstones of 10.
    fn rt_args(dir: &std::path::Path) -> BenchArgs {
        BenchArgs {
            range_tombstones: 30,
            rt_width: 10,
            rt_placement: ["memtable", "l0", "compacted", "mixed"]
                .map(String::from)
                .to_vec(),
            benchmarks: DEFAULT_BENCHMARKS.into(),
            threads: 1,
            ..args(dir)
        }
    }

    /// Checks one row of the range-tombstone report: both trees measured in every run, and a
    /// positive cost with its min-max.
    fn check_rt_row(row: &serde_json::Value, runs: usize) {
        for tree in ["baseline", "range_tombstones"] {
            assert!(
                row[tree]["median_ops_per_sec"].as_f64().unwrap() > 0.0,
                "{row}"
            );
            assert_eq!(row[tree]["runs"].as_array().unwrap().len(), runs, "{row}");
        }
        let cost = &row["cost"];
        let (median, min, max) = (
            cost["median"].as_f64().unwrap(),
            cost["min"].as_f64().unwrap(),
            cost["max"].as_f64().unwrap(),
        );
        assert!(median.is_finite() && median > 0.0, "{row}");
        assert!(min <= median && median <= max, "{row}");
        assert_eq!(cost["runs"].as_array().unwrap().len(), runs, "{row}");
        assert!(row["within_target"].is_boolean(), "{row}");
        // Every read checked out: gets, scans and seeks see no key under a tombstone.
        assert_eq!(row["wrong"], serde_json::json!([]), "{row}");
    }

    #[test]
    fn range_tombstone_mode_reports_a_cost_per_placement_and_workload() {
        let dir = tempfile::tempdir().unwrap();
        run(&rt_args(dir.path())).unwrap();
        let json = report(dir.path());
        assert_eq!(json["mode"], "range-tombstones");
        assert_eq!(json["range_tombstones"]["count"], 30);
        assert_eq!(json["range_tombstones"]["live_keys"], 3000 - 300);
        let results = json["results"].as_array().unwrap();
        assert_eq!(results.len(), 4 * rt::WORKLOADS.len());
        for placement in ["memtable", "l0", "compacted", "mixed"] {
            for workload in rt::WORKLOADS {
                let row = results
                    .iter()
                    .find(|r| r["placement"] == placement && r["workload"] == *workload)
                    .unwrap_or_else(|| panic!("no {placement} {workload} row"));
                assert_eq!(row["engine"], "strata");
                check_rt_row(row, 2);
            }
        }
    }

    #[test]
    fn range_tombstone_arguments_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let mut bad = rt_args(dir.path());
        bad.rt_width = 100;
        assert!(run(&bad).unwrap_err().to_string().contains("--rt-width"));
        let mut bad = rt_args(dir.path());
        bad.benchmarks = "fillseq".into();
        assert!(
            run(&bad)
                .unwrap_err()
                .to_string()
                .contains("no range-tombstone form")
        );
        let mut picked = rt_args(dir.path());
        picked.benchmarks = "seekrandom50,readrandom".into();
        picked.rt_placement = vec!["l0".into()];
        picked.runs = Some(1);
        run(&picked).unwrap();
        let results = report(dir.path())["results"].as_array().unwrap().clone();
        let workloads: Vec<_> = results.iter().map(|r| r["workload"].clone()).collect();
        assert_eq!(workloads, ["seekrandom50", "readrandom"]);
    }

    /// coordinode-lsm-tree's costs come from the same run; lsm-tree (no range tombstones) is
    /// left out with its reason.
    #[cfg(feature = "compare")]
    #[test]
    fn range_tombstone_mode_measures_coordinode_beside_strata() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = rt_args(dir.path());
        args.rt_placement = vec!["l0".into(), "mixed".into()];
        args.runs = Some(1);
        args.compare = vec!["lsm-tree".into(), "coordinode-lsm-tree".into()];
        run(&args).unwrap();
        let json = report(dir.path());
        assert_eq!(
            json["engines"],
            serde_json::json!(["strata", "coordinode-lsm-tree"])
        );
        assert_eq!(json["left_out"][0]["engine"], "lsm-tree");
        let results = json["results"].as_array().unwrap();
        assert_eq!(results.len(), 2 * 2 * rt::WORKLOADS.len());
        for row in results {
            check_rt_row(row, 1);
        }
        assert!(
            results
                .iter()
                .any(|r| r["engine"] == "coordinode-lsm-tree" && r["placement"] == "mixed")
        );
    }

    /// A database run: the default database workloads (fillsync among them) in both durability
    /// modes, every read checked.
    fn database_args(dir: &std::path::Path, durability: Durability) -> BenchArgs {
        BenchArgs {
            engine: EngineKind::Database,
            durability,
            num: 2000,
            reads: Some(2000),
            benchmarks: DEFAULT_BENCHMARKS.into(),
            runs: Some(1),
            plot: None,
            ..args(dir)
        }
    }

    /// `--engine database --reopen`: the database is closed after the writes (its WAL
    /// released) and opened again for the reads, which find every key.
    #[test]
    fn the_database_engine_reads_its_reopened_database() {
        let dir = tempfile::tempdir().unwrap();
        let args = BenchArgs {
            reopen: true,
            ..database_args(dir.path(), Durability::Buffer)
        };
        run(&args).unwrap();
        let json = report(dir.path());
        assert_eq!(json["reads"], "reopened-in-process");
        let read = row(&json, "readrandom", "strata");
        assert_eq!(read["runs"][0]["ops"], 2000, "{read}");
        assert!(
            read["memory"]["cache_bytes"].as_u64().unwrap() > 0,
            "{read}"
        );
        assert!(
            row(&json, "fillsync", "strata")["median_ops_per_sec"]
                .as_f64()
                .unwrap()
                > 0.0
        );
    }

    /// fjall opens its database again (its journal recovered) and reads every key.
    #[cfg(feature = "compare")]
    #[test]
    fn fjall_reads_its_reopened_database() {
        let dir = tempfile::tempdir().unwrap();
        let args = BenchArgs {
            reopen: true,
            benchmarks: "fillrandom,readrandom,readseq,seekrandom,readwhilewriting,readrandom"
                .into(),
            compare: vec!["fjall".into()],
            ..database_args(dir.path(), Durability::Buffer)
        };
        run(&args).unwrap();
        let json = report(dir.path());
        for engine in ["strata", "fjall"] {
            let read = row(&json, "readrandom", engine);
            assert_eq!(read["runs"][0]["ops"], 2000, "{read}");
        }
        assert!(row(&json, "readrandom", "fjall")["memory"].is_null());
    }

    #[test]
    fn the_database_engine_runs_its_workloads_in_both_durability_modes() {
        for durability in [Durability::Buffer, Durability::SyncData] {
            let dir = tempfile::tempdir().unwrap();
            run(&database_args(dir.path(), durability)).unwrap();
            let json = report(dir.path());
            assert_eq!(json["engine_kind"], "database");
            assert_eq!(json["durability"], durability.name());
            assert!(
                json["settings"].as_str().unwrap().contains("WAL on"),
                "{json}"
            );
            let workloads: Vec<_> = json["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["workload"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(
                workloads,
                DEFAULT_DATABASE_BENCHMARKS.split(',').collect::<Vec<_>>()
            );
            let fill = row(&json, "fillsync", "strata");
            assert_eq!(
                fill["runs"][0]["ops"],
                workloads::fillsync_count(2000),
                "{fill}"
            );
            // The WAL is written besides the tables: more bytes than the user wrote.
            assert!(fill["write_amp"].as_f64().unwrap() > 1.0, "{fill}");
        }
    }

    /// fjall runs the same database workloads, with its journal on.
    #[cfg(feature = "compare")]
    #[test]
    fn fjall_runs_the_database_workloads_beside_strata() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = database_args(dir.path(), Durability::Buffer);
        args.benchmarks = "fillrandom,readrandom,readseq,seekrandom,deleterandom,fillsync".into();
        args.compare = vec!["fjall".into()];
        run(&args).unwrap();
        let json = report(dir.path());
        assert_eq!(json["engines"], serde_json::json!(["strata", "fjall"]));
        for workload in [
            "fillrandom",
            "readrandom",
            "readseq",
            "seekrandom",
            "fillsync",
        ] {
            let peer = row(&json, workload, "fjall");
            assert!(peer["strata_ratio"].as_f64().unwrap() > 0.0, "{peer}");
        }
    }

    #[test]
    fn engines_and_workloads_of_the_other_kind_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut tree = args(dir.path());
        tree.benchmarks = "fillrandom,fillsync".into();
        let err = run(&tree).unwrap_err().to_string();
        assert!(err.contains("fillsync needs a WAL"), "{err}");
        let mut tree = args(dir.path());
        tree.compare = vec!["fjall".into()];
        let err = run(&tree).unwrap_err().to_string();
        assert!(err.contains("--engine database"), "{err}");
        let mut tree = args(dir.path());
        tree.durability = Durability::SyncData;
        let err = run(&tree).unwrap_err().to_string();
        assert!(
            err.contains("--durability syncdata needs --engine database"),
            "{err}"
        );
        let mut db = database_args(dir.path(), Durability::Buffer);
        db.compare = vec!["lsm-tree".into()];
        let err = run(&db).unwrap_err().to_string();
        assert!(err.contains("--engine tree"), "{err}");
        let mut db = database_args(dir.path(), Durability::Buffer);
        db.range_tombstones = 10;
        let err = run(&db).unwrap_err().to_string();
        assert!(err.contains("--range-tombstones measures trees"), "{err}");
    }

    #[test]
    fn bad_arguments_are_refused_with_a_message() {
        let dir = tempfile::tempdir().unwrap();
        let mut bad = args(dir.path());
        bad.benchmarks = "fillseq,nosuch".into();
        assert!(
            run(&bad)
                .unwrap_err()
                .to_string()
                .contains("unknown workload")
        );
        let mut bad = args(dir.path());
        bad.key_size = 2;
        assert!(run(&bad).unwrap_err().to_string().contains("--key-size"));
        let mut bad = args(dir.path());
        bad.compare = vec!["nosuch".into()];
        assert!(
            run(&bad)
                .unwrap_err()
                .to_string()
                .contains("unknown engine")
        );
    }
}
