//! `strata`: the command-line tool of the Strata storage engine.
//!
//! - `strata bench`: db_bench-style workloads on a temporary directory, with a result table, JSON
//!   and an SVG chart; `--compare` runs the peer engines in the same run (feature `compare`).
//! - `strata put / get / delete / scan / prefix`: key-value commands on a tree's directory.
//! - `strata inspect / verify / dump-table`: read-only views and checks of the files on disk.
//!
//! Errors are one line on stderr and a non-zero exit.

mod bench;
mod tools;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "strata",
    version,
    about = "The Strata storage engine's command-line tool"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs benchmark workloads on a fresh tree in a temporary directory.
    Bench(Box<bench::BenchArgs>),
    /// Writes KEY = VALUE into the tree at DIR, creating the tree, and flushes it.
    ///
    /// Opens the tree (recovery runs: a fresh manifest is written and orphan tables are
    /// deleted), writes at the next seqno of the tree's counter and flushes the write to a table
    /// before exiting, since a tree has no wal. A new tree is created only in a missing or empty
    /// directory.
    Put(tools::kv::PutArgs),
    /// Prints `KEY<TAB>VALUE` as of the latest seqno; a missing key is an error.
    ///
    /// Opens the tree (recovery runs) and reads at the tree's counter, which sees every write.
    Get(tools::kv::KeyArgs),
    /// Deletes KEY (writes a tombstone) and flushes it.
    ///
    /// Opens the tree (recovery runs), writes the tombstone at the next seqno and flushes it to a
    /// table before exiting.
    Delete(tools::kv::KeyArgs),
    /// Prints `key<TAB>value` for every live key in [--from, --to).
    ///
    /// Opens the tree (recovery runs) and reads at the latest seqno.
    Scan(tools::kv::ScanArgs),
    /// Prints `key<TAB>value` for every live key that starts with PREFIX.
    ///
    /// Opens the tree (recovery runs) and reads at the latest seqno.
    Prefix(tools::kv::PrefixArgs),
    /// Prints levels, runs, tables, bytes on disk and space amplification.
    ///
    /// Reads in place and changes nothing in DIR: replays the manifest that CURRENT names
    /// without rewriting it and opens the tables read-only (no tree is opened, so no recovery
    /// runs). Space amplification is the bytes of the tables the manifest names divided by the
    /// bytes (keys + values) of every key live at the latest seqno, found by a full scan of those
    /// tables.
    Inspect(tools::inspect::InspectArgs),
    /// Checks CURRENT, every manifest record and every block of every table.
    ///
    /// Reads in place and changes nothing. Each damage is one line naming the file and the byte
    /// offset of the damaged record, block or footer, and the exit status is then non-zero. Table
    /// files the manifest does not name (orphans) are reported as warnings.
    Verify(tools::verify::VerifyArgs),
    /// Prints a table file's meta block, footer, index and entries.
    ///
    /// Reads the file only. Entries (every version, tombstones included) are printed as
    /// `key<TAB>seqno<TAB>type<TAB>value` for keys in [--from, --to).
    DumpTable(tools::dump::DumpTableArgs),
    /// Trains a zstd dictionary on the values of the tree at DIR and writes it to --out.
    ///
    /// Opens the tree (recovery runs) and reads values at the latest seqno in key order. The
    /// file holds a serialized zstd dictionary (C zstd reads it too); pass its bytes to
    /// `strata::ZstdDictionary::new` and `Config::zstd_dictionary`. Needs the cargo feature
    /// `zstd`.
    TrainDict(tools::train_dict::TrainDictArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(args) => bench::run(&args),
        Command::Put(args) => tools::kv::put(&args).map_err(Into::into),
        Command::Get(args) => tools::kv::get(&args).map_err(Into::into),
        Command::Delete(args) => tools::kv::delete(&args).map_err(Into::into),
        Command::Scan(args) => tools::kv::scan(&args).map_err(Into::into),
        Command::Prefix(args) => tools::kv::prefix(&args).map_err(Into::into),
        Command::Inspect(args) => tools::inspect::run(&args).map_err(Into::into),
        Command::Verify(args) => tools::verify::run(&args).map_err(Into::into),
        Command::DumpTable(args) => tools::dump::run(&args).map_err(Into::into),
        Command::TrainDict(args) => tools::train_dict::run(&args).map_err(Into::into),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
