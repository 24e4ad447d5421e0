//! One engine's run of the workloads: where its databases live, and the phases (processes) it
//! runs in.
//!
//! A run keeps its databases in two folders of the benchmark's directory, named after the engine
//! and the run ([`RunDirs`]): `ENGINE-runN`, the main database (a fill or a refill replaces it
//! with a fresh one), and `ENGINE-runN-prefix`, the database of `prefixscan` (other keys, a prefix
//! extractor). With `--db DIR` both stay there afterwards, for `strata inspect` and `strata
//! verify`.
//!
//! Each workload has an untimed preparation ([`Runner::prepare`]: a read workload refills the
//! main database if it does not hold every key; `prefixscan` fills its own database) and a
//! measured part ([`Runner::measure`]). Without `--reopen`, one phase ([`Phase::All`]) prepares
//! and measures every workload in turn, in one process. With `--reopen`, the read workloads
//! ([`reads_reopened`]) are measured in processes of their own, as a restarted service reads: a
//! write phase ([`Phase::Write`]) measures the write workloads (each settles the database: every
//! memtable flushed, compaction run until it has nothing to do), prepares the next read
//! workload, and ends; a read phase ([`Phase::Read`]) opens that database again from its folder
//! and measures the read workloads that follow, until a write workload, one whose database must
//! be written first, or `readwhilewriting` (whose writes the next read must not find in memory)
//! ends it. [`run_phases`] alternates them; the phases hand the state of the databases
//! ([`DbState`]) over to each other.

use std::path::{Path, PathBuf};

use super::Opener;
use super::engine::{BoxError, Engine, Settings};
use super::sys;
use super::workloads::{self, Measurement, Params};

/// The read workloads, which `--reopen` measures on the database opened again in a process that
/// wrote nothing (`readwhilewriting`'s writer then writes into the reopened database).
pub(crate) fn reads_reopened(workload: &str) -> bool {
    matches!(
        workload,
        "readrandom"
            | "readmissing"
            | "readseq"
            | "readreverse"
            | "seekrandom"
            | "prefixscan"
            | "readwhilewriting"
    )
}

/// The database a workload runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    /// A fresh one it creates (the fills).
    Fresh,
    /// The main database holding every key of `0..num`.
    Full,
    /// `prefixscan`'s database.
    Prefixed,
}

fn need(workload: &str) -> Need {
    match workload {
        "fillseq" | "fillrandom" | "fillsync" => Need::Fresh,
        "prefixscan" => Need::Prefixed,
        _ => Need::Full,
    }
}

/// One of a run's two databases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Main,
    Prefixed,
}

/// The folders of one engine's run in the benchmark's directory.
#[derive(Clone, Debug)]
pub(crate) struct RunDirs {
    /// `ENGINE-runN`: the main database.
    pub(crate) main: PathBuf,
    /// `ENGINE-runN-prefix`: `prefixscan`'s database.
    pub(crate) prefixed: PathBuf,
}

impl RunDirs {
    /// The folders of run `run` (from 1) of engine `engine` in `dir`.
    pub(crate) fn new(dir: &Path, engine: &str, run: usize) -> Self {
        Self {
            main: dir.join(format!("{engine}-run{run}")),
            prefixed: dir.join(format!("{engine}-run{run}-prefix")),
        }
    }

    fn path(&self, which: Which) -> &Path {
        match which {
            Which::Main => &self.main,
            Which::Prefixed => &self.prefixed,
        }
    }

    /// The folders that exist.
    pub(crate) fn existing(&self) -> Vec<&Path> {
        [self.main.as_path(), self.prefixed.as_path()]
            .into_iter()
            .filter(|p| p.exists())
            .collect()
    }

    /// Removes both folders (what an earlier benchmark left in `--db`, or this run's).
    pub(crate) fn remove(&self) -> Result<(), BoxError> {
        clear_dir(&self.main)?;
        clear_dir(&self.prefixed)
    }
}

/// Removes the folder `dir` and everything in it; a missing folder is fine.
#[expect(
    clippy::disallowed_methods,
    reason = "removes the benchmark's own databases"
)]
fn clear_dir(dir: &Path) -> Result<(), BoxError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", dir.display()).into()),
    }
}

/// What a run's databases hold, handed from one phase (process) to the next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DbState {
    /// The main database: `None` if the run has not written one, else whether it holds every
    /// key of `0..num` (a fill's; `deleterandom` and `fillsync` leave it partial).
    pub(crate) main: Option<bool>,
    /// Whether `prefixscan`'s database is written and settled.
    pub(crate) prefixed: bool,
}

impl DbState {
    /// Whether `workload`'s preparation has nothing to write: its database is there.
    pub(crate) fn ready(self, workload: &str) -> bool {
        match need(workload) {
            Need::Fresh => true,
            Need::Full => self.main == Some(true),
            Need::Prefixed => self.prefixed,
        }
    }

    /// The state as JSON (on a child's command line and in its report).
    pub(crate) fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "main": self.main.map(|full| if full { "full" } else { "partial" }),
            "prefixed": self.prefixed,
        })
    }

    /// The state [`DbState::to_json`] wrote.
    pub(crate) fn from_json(v: &serde_json::Value) -> Result<Self, BoxError> {
        let main = match v.get("main").and_then(serde_json::Value::as_str) {
            None => None,
            Some("full") => Some(true),
            Some("partial") => Some(false),
            Some(other) => return Err(format!("a malformed database state {other:?}").into()),
        };
        let prefixed = v
            .get("prefixed")
            .and_then(serde_json::Value::as_bool)
            .ok_or("a malformed database state: no `prefixed`")?;
        Ok(Self { main, prefixed })
    }
}

/// What a phase of a run does; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Prepares and measures every workload (without `--reopen`).
    All,
    /// Measures write workloads and prepares the next read workload.
    Write,
    /// Measures read workloads on the database opened again.
    Read,
}

impl Phase {
    /// Its name on a child's command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Write => "write",
            Self::Read => "read",
        }
    }

    /// The phase named `name`.
    pub(crate) fn parse(name: &str) -> Result<Self, BoxError> {
        match name {
            "all" => Ok(Self::All),
            "write" => Ok(Self::Write),
            "read" => Ok(Self::Read),
            other => Err(format!("unknown phase {other:?}").into()),
        }
    }
}

/// Runs workloads of one engine's run in this process: the databases of a [`RunDirs`], at most
/// one open at a time.
pub(crate) struct Runner<'a> {
    open: Opener,
    dirs: RunDirs,
    params: &'a Params,
    settings: &'a Settings,
    state: DbState,
    /// The database open now, and which one it is.
    current: Option<(Which, Box<dyn Engine>)>,
}

impl<'a> Runner<'a> {
    /// A runner of the databases in `dirs`, which hold what `state` says; nothing is opened yet.
    pub(crate) fn new(
        open: Opener,
        dirs: RunDirs,
        params: &'a Params,
        settings: &'a Settings,
        state: DbState,
    ) -> Self {
        Self {
            open,
            dirs,
            params,
            settings,
            state,
            current: None,
        }
    }

    /// What the databases hold now.
    pub(crate) fn state(&self) -> DbState {
        self.state
    }

    /// Database `which`, opened from its folder unless it is the open one (the open one is
    /// closed first, with its memory).
    fn engine(&mut self, which: Which) -> Result<&dyn Engine, BoxError> {
        if self.current.as_ref().is_none_or(|(open, _)| *open != which) {
            self.current = None;
            let settings = match which {
                Which::Main => *self.settings,
                Which::Prefixed => Settings {
                    prefix_len: workloads::PREFIX_LEN,
                    ..*self.settings
                },
            };
            let path = self.dirs.path(which);
            let engine = (self.open)(path, &settings)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            self.current = Some((which, engine));
        }
        match &self.current {
            Some((_, engine)) => Ok(&**engine),
            None => Err("no database is open".into()),
        }
    }

    /// A fresh, empty database `which`: the open one closed, the old folder removed.
    fn fresh(&mut self, which: Which) -> Result<&dyn Engine, BoxError> {
        self.current = None;
        match which {
            Which::Main => self.state.main = None,
            Which::Prefixed => self.state.prefixed = false,
        }
        clear_dir(self.dirs.path(which))?;
        self.engine(which)
    }

    /// The untimed preparation of `workload`: writes (and settles) the database it reads if it
    /// is not there.
    pub(crate) fn prepare(&mut self, workload: &str) -> Result<(), BoxError> {
        let params = self.params;
        match need(workload) {
            _ if self.state.ready(workload) => {}
            Need::Fresh => {}
            Need::Full => {
                let engine = self.fresh(Which::Main)?;
                let order: Vec<u64> = (0..params.num).collect();
                workloads::write(engine, params, "prefill", &order, false)?;
                self.state.main = Some(true);
            }
            Need::Prefixed => {
                let engine = self.fresh(Which::Prefixed)?;
                workloads::fill_prefixed(engine, params)?;
                self.state.prefixed = true;
            }
        }
        Ok(())
    }

    /// The measured part of `workload`, whose preparation ran (in this process or an earlier
    /// one). After a read workload, what the engine holds in memory, where it says.
    pub(crate) fn measure(&mut self, workload: &'static str) -> Result<Measurement, BoxError> {
        let (params, settings) = (self.params, self.settings);
        if !self.state.ready(workload) {
            return Err(format!("{workload}: its database was not written first").into());
        }
        let mut m = match workload {
            "fillseq" | "fillrandom" => {
                let engine = self.fresh(Which::Main)?;
                let order: Vec<u64> = if workload == "fillseq" {
                    (0..params.num).collect()
                } else {
                    workloads::permutation(params.num, params.seed)
                };
                let m = workloads::write(engine, params, workload, &order, false)?;
                self.state.main = Some(true);
                m
            }
            "fillsync" => {
                let engine = self.fresh(Which::Main)?;
                let order = super::random_keys(
                    workloads::fillsync_count(params.num),
                    params.num,
                    0,
                    params.seed ^ 0x5c,
                );
                let m = workloads::fill_sync(engine, params, &order)?;
                self.state.main = Some(false);
                m
            }
            "prefixscan" => {
                let engine = self.engine(Which::Prefixed)?;
                workloads::prefix(engine, params, (params.reads / 1000).max(1))?
            }
            "deleterandom" => {
                let engine = self.engine(Which::Main)?;
                let m = workloads::write(
                    engine,
                    params,
                    workload,
                    &workloads::permutation(params.num, params.seed ^ 0xde1),
                    true,
                )?;
                self.state.main = Some(false);
                m
            }
            _ => run_on_full(self.engine(Which::Main)?, workload, params)?,
        };
        if reads_reopened(workload) {
            m.memory = self.current.as_ref().and_then(|(_, engine)| {
                engine.memory().map(|memory| workloads::Memory {
                    rss: sys::rss(),
                    ..memory
                })
            });
        } else {
            after_write(
                self.engine(Which::Main)?,
                workload,
                &mut m,
                params,
                settings,
            )?;
        }
        Ok(m)
    }

    /// Runs `phase` from workload `start` of `workloads`: the measurements of the workloads it
    /// measured, in order, and the index of the first one it left to the next phase.
    pub(crate) fn run_phase(
        &mut self,
        phase: Phase,
        workloads: &[&'static str],
        start: usize,
    ) -> Result<(Vec<Measurement>, usize), BoxError> {
        let mut out = Vec::new();
        let mut next = start;
        while let Some(&workload) = workloads.get(next) {
            let read = reads_reopened(workload);
            match phase {
                Phase::Write if read => {
                    self.prepare(workload)?;
                    break;
                }
                Phase::All | Phase::Write => {
                    // NB: the peak covers the preparation, as a refill's memory stays.
                    sys::reset_peak_rss();
                    self.prepare(workload)?;
                }
                Phase::Read if !read || !self.state.ready(workload) => break,
                Phase::Read => sys::reset_peak_rss(),
            }
            let mut m = self.measure(workload)?;
            m.peak_rss = sys::peak_rss();
            out.push(m.summarized());
            next += 1;
            if phase == Phase::Read && workload == "readwhilewriting" {
                break;
            }
        }
        Ok((out, next))
    }
}

/// What running a phase returns: the measurements, the index of the next workload, and the
/// state of the databases.
pub(crate) type PhaseResult = (Vec<Measurement>, usize, DbState);

/// One engine's run: without `reopen`, one [`Phase::All`]; with it, write and read phases in
/// turn (see the module documentation). `exec(phase, start, state)` runs a phase in a process
/// of its own (or, with `--in-process`, in this one with the databases closed afterwards).
pub(crate) fn run_phases(
    workloads: &[&'static str],
    reopen: bool,
    exec: &mut dyn FnMut(Phase, usize, DbState) -> Result<PhaseResult, BoxError>,
) -> Result<Vec<Measurement>, BoxError> {
    let mut out = Vec::with_capacity(workloads.len());
    let (mut next, mut state) = (0, DbState::default());
    while let Some(&workload) = workloads.get(next) {
        let phase = if !reopen {
            Phase::All
        } else if reads_reopened(workload) && state.ready(workload) {
            Phase::Read
        } else {
            Phase::Write
        };
        let (measured, after, new_state) = exec(phase, next, state)?;
        if after < next || after > workloads.len() || measured.len() != after - next {
            return Err(format!(
                "a {} phase from {workload} reported {} measurements up to workload {after}",
                phase.name(),
                measured.len()
            )
            .into());
        }
        if after == next && (phase != Phase::Write || !new_state.ready(workload)) {
            return Err(format!("{workload}: no phase could run it").into());
        }
        out.extend(measured);
        next = after;
        state = new_state;
    }
    Ok(out)
}

/// After a write workload: the live bytes the database holds, and after `overwrite` the full
/// compaction of `--full-compaction` with the bytes on disk it leaves.
fn after_write(
    engine: &dyn Engine,
    workload: &str,
    m: &mut Measurement,
    params: &Params,
    settings: &Settings,
) -> Result<(), BoxError> {
    let keys = match workload {
        "fillseq" | "fillrandom" | "overwrite" => params.num,
        "fillsync" => workloads::fillsync_count(params.num).min(params.num),
        "deleterandom" => 0,
        _ => return Ok(()),
    };
    let live = keys * (params.key_size + params.value_size) as u64;
    m.live_bytes = Some(live);
    if workload == "overwrite" && params.full_compaction {
        m.full_disk_bytes = workloads::compact_fully(engine, params, settings.table_bytes)?;
    }
    Ok(())
}

/// Runs `workload` (a read, `overwrite` or `mergerandom`) on a database holding every key.
fn run_on_full(
    engine: &dyn Engine,
    workload: &str,
    params: &Params,
) -> Result<Measurement, BoxError> {
    use super::random_keys;
    use workloads::ReadOrder;
    let reads = params.reads;
    Ok(match workload {
        "overwrite" => workloads::write(
            engine,
            params,
            workload,
            &workloads::permutation(params.num, params.seed ^ 0x0f),
            false,
        )?,
        "readrandom" => workloads::read(
            engine,
            params,
            workload,
            ReadOrder::shuffled(reads, params.num, 0, params.seed ^ 0x1234),
            true,
        )?,
        "readmissing" => workloads::read(
            engine,
            params,
            workload,
            ReadOrder::shuffled(reads, params.num, params.num, params.seed ^ 0x4321),
            false,
        )?,
        "readseq" => workloads::scan(engine, params, false, params.num)?,
        "readreverse" => workloads::scan(engine, params, true, params.num)?,
        "seekrandom" => workloads::seek(engine, params, (reads / 10).max(1), 10)?,
        "mergerandom" => workloads::merge(
            engine,
            params,
            &random_keys(params.num, params.num, 0, params.seed ^ 0x3e7),
        )?,
        "readwhilewriting" => workloads::read_while_writing(
            engine,
            params,
            ReadOrder::shuffled(reads, params.num, 0, params.seed ^ 0x99),
        )?,
        other => return Err(format!("unknown workload {other:?}").into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A phase runner that records the phases and plays the databases' state as the real one
    /// does, measuring nothing.
    fn plan(workloads: &[&'static str]) -> Vec<(Phase, Vec<&'static str>)> {
        let mut phases = Vec::new();
        let mut exec = |phase: Phase, start: usize, mut state: DbState| {
            let mut measured = Vec::new();
            let mut next = start;
            let mut ran = Vec::new();
            while let Some(&w) = workloads.get(next) {
                let read = reads_reopened(w);
                match phase {
                    Phase::Write if read => {
                        apply_prepare(&mut state, w);
                        break;
                    }
                    Phase::Read if !read || !state.ready(w) => break,
                    Phase::Read => {}
                    _ => apply_prepare(&mut state, w),
                }
                apply_measure(&mut state, w);
                measured.push(Measurement::default());
                ran.push(w);
                next += 1;
                if phase == Phase::Read && w == "readwhilewriting" {
                    break;
                }
            }
            phases.push((phase, ran));
            Ok((measured, next, state))
        };
        let out = run_phases(workloads, true, &mut exec).unwrap();
        assert_eq!(out.len(), workloads.len());
        phases
    }

    fn apply_prepare(state: &mut DbState, w: &str) {
        match need(w) {
            Need::Full => state.main = Some(true),
            Need::Prefixed => state.prefixed = true,
            Need::Fresh => {}
        }
    }

    fn apply_measure(state: &mut DbState, w: &str) {
        match w {
            "fillseq" | "fillrandom" => state.main = Some(true),
            "fillsync" | "deleterandom" => state.main = Some(false),
            _ => {}
        }
    }

    #[test]
    fn reads_run_in_phases_of_their_own_after_the_writes() {
        use Phase::{Read, Write};
        let phases = plan(&[
            "fillrandom",
            "overwrite",
            "readrandom",
            "readseq",
            "prefixscan",
            "readwhilewriting",
            "seekrandom",
            "deleterandom",
            "readmissing",
        ]);
        assert_eq!(
            phases,
            [
                (Write, vec!["fillrandom", "overwrite"]),
                (Read, vec!["readrandom", "readseq"]),
                // prefixscan's database is written by a writer; the reader opens it.
                (Write, vec![]),
                (Read, vec!["prefixscan", "readwhilewriting"]),
                // After readwhilewriting's writes, a new reader opens the database again.
                (Read, vec!["seekrandom"]),
                // deleterandom empties the database: a writer refills it for readmissing.
                (Write, vec!["deleterandom"]),
                (Read, vec!["readmissing"]),
            ]
        );
    }

    #[test]
    fn a_read_first_is_prepared_by_a_writer() {
        let phases = plan(&["readrandom"]);
        assert_eq!(
            phases,
            [(Phase::Write, vec![]), (Phase::Read, vec!["readrandom"])]
        );
    }

    #[test]
    fn the_state_goes_through_json() {
        for state in [
            DbState::default(),
            DbState {
                main: Some(true),
                prefixed: false,
            },
            DbState {
                main: Some(false),
                prefixed: true,
            },
        ] {
            assert_eq!(DbState::from_json(&state.to_json()).unwrap(), state);
        }
        assert!(DbState::from_json(&serde_json::json!({"main": "x", "prefixed": true})).is_err());
    }
}
