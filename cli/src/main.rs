//! `strata`: the command-line tool of the Strata storage engine.
//!
//! `strata bench` runs db_bench-style workloads against a tree in a temporary directory and prints
//! a result table. Later issues add put/get/scan/delete, inspect, verify and peer comparisons.

mod bench;

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
    Bench(bench::BenchArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(args) => bench::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
