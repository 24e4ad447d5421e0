//! `strata stats DIR`: the counters of a tree or a database ([`strata::Statistics`]).
//!
//! Opens the tree (recovery runs, as any open does) or the database (its recovery runs and every
//! keyspace the catalog names is opened with `KeyspaceCreateOptions::default()`, so the logged
//! writes are replayed; a keyspace with a custom comparator, which only the application has, is
//! left closed), and prints one `name<TAB>value` line per counter. Counters of work
//! (cache hits, bytes written, flushes, stalls) count from this open, so a fresh process shows
//! mostly what the open itself did; the shape (levels, memtables, WAL) is the folder's.

use std::path::PathBuf;

use clap::Args;
use strata::fs::{Fs, StdFs};
use strata::internals::is_database;
use strata::{Config, Database, SequenceNumberCounter, Statistics};

use super::dict::DictArg;
use super::output::{ToolError, with_stdout};

/// Arguments of `strata stats`.
#[derive(Args, Debug)]
pub(crate) struct StatsArgs {
    /// The tree's or database's directory.
    dir: PathBuf,
    #[command(flatten)]
    dict: DictArg,
}

/// The lines `stats` prints for `stats`.
pub(crate) fn lines(stats: &Statistics) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for (name, counts) in [
        ("cache_hits", stats.cache_hits.by_kind().to_vec()),
        ("cache_misses", stats.cache_misses.by_kind().to_vec()),
        ("bytes_read", stats.bytes_read.by_kind().to_vec()),
        ("bytes_written", stats.bytes_written.by_kind().to_vec()),
    ] {
        for (kind, value) in counts {
            out.push((format!("{name}.{kind}"), value));
        }
    }
    let s = &stats.write_stalls;
    for (cause, (count, micros)) in [
        ("write_buffer", s.write_buffer),
        ("l0_runs", s.l0_runs),
        ("sealed_memtables", s.sealed_memtables),
        ("wal_size", s.wal_size),
    ] {
        out.push((format!("write_stalls.{cause}"), count));
        out.push((format!("write_stall_micros.{cause}"), micros));
    }
    for (level, counts) in stats.levels.iter().enumerate() {
        out.push((format!("level{level}.tables"), counts.tables));
        out.push((format!("level{level}.bytes"), counts.bytes));
    }
    for (name, value) in [
        ("flushes", stats.flushes),
        ("flush_micros", stats.flush_micros),
        ("compactions", stats.compactions),
        ("compaction_micros", stats.compaction_micros),
        ("range_tombstones", stats.range_tombstones),
        ("memtable_bytes", stats.memtable_bytes),
        ("wal_segments", stats.wal_segments),
        ("wal_bytes", stats.wal_bytes),
    ] {
        out.push((name.to_string(), value));
    }
    out
}

/// Runs `strata stats`.
///
/// # Errors
/// The error of opening the tree or database, or of writing the output.
pub(crate) fn run(args: &StatsArgs) -> Result<(), ToolError> {
    let dictionary = args.dict.load()?;
    // NB: opening a missing folder would create a tree there.
    let database = is_database(&args.dir)?;
    let exists = database
        || StdFs
            .exists(&args.dir.join("CURRENT"))
            .map_err(ToolError::Output)?;
    if !exists {
        return Err(ToolError::Failed(format!(
            "{}: no tree or database here",
            args.dir.display()
        )));
    }
    let stats = if database {
        let db = Database::builder(&args.dir).open()?;
        let names = db.list_keyspace_names();
        let mut keyspaces = Vec::with_capacity(names.len());
        for name in &names {
            let options =
                super::database::tool_keyspace_options(&args.dir, name, dictionary.clone())?;
            match db.keyspace(name, move || options) {
                Ok(keyspace) => keyspaces.push(keyspace),
                // NB: a keyspace with a custom comparator or an encryption provider opens only
                // with it, which only the application has; its logged writes stay in its pending
                // log, and the database's counters (WAL, stalls, ...) are printed without its
                // tree's.
                Err(
                    strata::Error::ComparatorMismatch { .. } | strata::Error::InvalidArgument(_),
                ) => {}
                Err(err) => return Err(err.into()),
            }
        }
        db.stats()
    } else {
        Config::new(
            &args.dir,
            SequenceNumberCounter::default(),
            SequenceNumberCounter::default(),
        )
        .zstd_dictionary(dictionary)
        .open()?
        .stats()
    };
    with_stdout(|out| {
        for (name, value) in lines(&stats) {
            writeln!(out, "{name}\t{value}").map_err(ToolError::Output)?;
        }
        Ok(())
    })
}
