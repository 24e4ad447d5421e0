//! `strata`: the command-line tool of the Strata storage engine.
//!
//! - `strata bench`: db_bench-style workloads on a temporary directory (or kept in `--db DIR`),
//!   with a result table, JSON and an SVG chart; `--compare` runs the peer engines in the same run
//!   (feature `compare`); `--reopen` reads on the settled database opened again in a fresh
//!   process.
//! - `strata put / get / delete / scan / prefix`: key-value commands on a tree's directory, or on
//!   a keyspace of a database's directory (`--keyspace NAME`).
//! - `strata inspect / verify / wal-dump / dump-table / dump-blob`: read-only views and checks of
//!   the files on disk (a tree's, a database's).
//!
//! Every command that reads tables or blob files takes `--dict FILE`, the zstd dictionary of a
//! tree compressed with one (as `strata train-dict` writes it).
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
    /// Runs db_bench workloads on Strata and, with --compare, on the peer engines.
    ///
    /// Each engine's run is a child process of its own (its peak RSS its own), on fresh databases
    /// in a temporary directory, or kept in --db DIR as DIR/ENGINE-runN for `strata inspect` and
    /// `strata verify`. With --reopen, the read workloads run in a fresh process on the settled
    /// database opened again, as a restarted service reads. The report gives per workload ops/s,
    /// latency, peak RSS, space and write amplification, Strata's ratio to each peer and to the
    /// best peer against its goal (≥1.5× readrandom, seekrandom, fillrandom; ≥1.0× the others),
    /// and Strata's memory in the read workloads (block cache, pinned index and filter blocks,
    /// memtables) beside the RSS.
    Bench(Box<bench::BenchArgs>),
    /// Writes KEY = VALUE into the tree at DIR (or a keyspace of the database at DIR), creating
    /// it, and makes the write durable.
    ///
    /// Opens the tree (recovery runs: a fresh manifest is written and orphan tables are
    /// deleted), writes at the next seqno of the tree's counter and flushes the write to a table
    /// before exiting, since a tree has no wal. A new tree is created only in a missing or empty
    /// directory. With --keyspace NAME, opens the database at DIR (its recovery runs), creates
    /// the keyspace if needed, writes through the WAL and syncs it.
    Put(tools::kv::PutArgs),
    /// Prints `KEY<TAB>VALUE` as of the latest seqno; a missing key is an error.
    ///
    /// Opens the tree (recovery runs) and reads at the tree's counter, which sees every write.
    /// With --keyspace NAME, reads that keyspace of the database at DIR.
    Get(tools::kv::KeyArgs),
    /// Deletes KEY (writes a tombstone) and flushes it.
    ///
    /// Opens the tree (recovery runs), writes the tombstone at the next seqno and flushes it to a
    /// table before exiting. With --keyspace NAME, removes the key from that keyspace of the
    /// database at DIR and syncs the WAL.
    Delete(tools::kv::KeyArgs),
    /// Prints `key<TAB>value` for every live key in [--from, --to).
    ///
    /// Opens the tree (recovery runs) and reads at the latest seqno. With --keyspace NAME, scans
    /// that keyspace of the database at DIR.
    Scan(tools::kv::ScanArgs),
    /// Prints `key<TAB>value` for every live key that starts with PREFIX.
    ///
    /// Opens the tree (recovery runs) and reads at the latest seqno. With --keyspace NAME, reads
    /// that keyspace of the database at DIR.
    Prefix(tools::kv::PrefixArgs),
    /// Prints levels, runs, tables, blob files, bytes on disk and space amplification.
    ///
    /// Reads in place and changes nothing in DIR: replays the manifest that CURRENT names
    /// without rewriting it and opens the tables and blob files read-only (no tree is opened, so
    /// no recovery runs). Blob files (key-value separation) are listed with their records and
    /// stale bytes (records no table points to any more). Space amplification is the bytes of the
    /// tables and blob files the manifest names divided by the bytes (keys + values) of every key
    /// live at the latest seqno, found by a full scan of those tables.
    ///
    /// For a database folder: its VERSION, its catalog (keyspaces, ids, persisted options), its
    /// WAL (segments, batches, items, how each segment ends, recovery's verdict), then each
    /// keyspace's tree as above.
    ///
    /// Tables and blob files compressed with a zstd dictionary need it: --dict FILE.
    Inspect(tools::inspect::InspectArgs),
    /// Checks CURRENT, every manifest record, every block of every table and every record of
    /// every blob file.
    ///
    /// Reads in place and changes nothing. Each damage is one line naming the file and the byte
    /// offset of the damaged record, block or footer, and the exit status is then non-zero. Table
    /// and blob files the manifest does not name (orphans) are reported as warnings.
    ///
    /// For a database folder: VERSION, the catalog, every record of every WAL segment (only a
    /// torn tail that recovery ignores is a warning) and recovery's rules across segments, then
    /// each keyspace's tree as above; keyspace folders the catalog does not name are warnings.
    ///
    /// Tables and blob files compressed with a zstd dictionary are checked with the one --dict
    /// FILE gives; without it each is an `unreadable:` line naming the dictionary id it needs,
    /// and the exit status is non-zero.
    Verify(tools::verify::VerifyArgs),
    /// Prints every WAL segment of a database: its header, each batch (seqno, items) and item
    /// (keyspace, op, key, value length), and how it ends (clean, torn at an offset, damaged).
    ///
    /// DIR is the database's folder or its wal/ folder. Reads only, without the lock; the exit
    /// status is non-zero if a segment is damaged or recovery would refuse the WAL.
    WalDump(tools::wal_dump::WalDumpArgs),
    /// Prints a table file's meta block, footer, index and entries.
    ///
    /// Reads the file only. Entries (every version, tombstones included) are printed as
    /// `key<TAB>seqno<TAB>type<TAB>value` for keys in [--from, --to). A table compressed with a
    /// zstd dictionary needs it: --dict FILE.
    DumpTable(tools::dump::DumpTableArgs),
    /// Prints every record of a blob file (key-value separation) and their totals.
    ///
    /// Reads the file only, checking every record's checksum and the footer's counts. Records
    /// are printed as `offset<TAB>length<TAB>key<TAB>value length<TAB>value preview` (the length
    /// on disk, as a blob pointer names it); the first damage ends the dump with an error naming
    /// the file and offset. A blob file compressed with a zstd dictionary needs it: --dict FILE.
    DumpBlob(tools::dump_blob::DumpBlobArgs),
    /// Trains a zstd dictionary on the values of the tree at DIR and writes it to --out.
    ///
    /// Opens the tree (recovery runs) and reads values at the latest seqno in key order. The
    /// file holds a serialized zstd dictionary (C zstd reads it too); pass its bytes to
    /// `strata::ZstdDictionary::new` and `Config::zstd_dictionary`, and the file to the other
    /// commands' --dict. Needs the cargo feature `zstd`.
    TrainDict(tools::train_dict::TrainDictArgs),
    /// Prints the counters of the tree or database at DIR (`strata::Statistics`) as
    /// `name<TAB>value` lines.
    ///
    /// Opens it (recovery runs; a database's keyspaces are opened with default options, so its
    /// WAL is replayed): counters of work count from this open, the shape (levels, memtables,
    /// WAL segments) is the folder's. Tables compressed with a zstd dictionary need --dict FILE.
    Stats(tools::stats::StatsArgs),
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
        Command::WalDump(args) => tools::wal_dump::run(&args).map_err(Into::into),
        Command::DumpTable(args) => tools::dump::run(&args).map_err(Into::into),
        Command::DumpBlob(args) => tools::dump_blob::run(&args).map_err(Into::into),
        Command::TrainDict(args) => tools::train_dict::run(&args).map_err(Into::into),
        Command::Stats(args) => tools::stats::run(&args).map_err(Into::into),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
