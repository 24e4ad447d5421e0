//! `strata train-dict DIR`: trains a zstd dictionary on the values of the tree at DIR and writes
//! it to a file, for `Config::zstd_dictionary` (`ZstdDictionary::new` of the file's bytes).
//!
//! Opens the tree (recovery runs, as for `get`; with `--dict`, the dictionary its tables use
//! now, if they use one), reads values at the latest seqno in key order until `--samples` values
//! or 64 MiB, trains with `strata::compression::train_dictionary` (FastCOVER) and writes the
//! dictionary's raw bytes (`ZstdDictionary::raw`) with `StdFs`, synced: the file `--dict` of the
//! other tools reads. Prints the dictionary's id and size. Needs the cargo feature `zstd`.

use std::path::PathBuf;

use clap::Args;

use super::output::ToolError;

/// The most sample bytes read from the tree.
#[cfg(feature = "zstd")]
const MAX_SAMPLE_BYTES: usize = 64 << 20;

#[derive(Args, Debug)]
pub(crate) struct TrainDictArgs {
    /// The tree's directory.
    pub(crate) dir: PathBuf,
    /// The file the dictionary is written to (replaced if it exists).
    #[arg(long, default_value = "zstd.dict")]
    pub(crate) out: PathBuf,
    /// The dictionary's largest size in bytes.
    #[arg(long, default_value_t = 16 * 1024)]
    pub(crate) size: usize,
    /// The most values to train on.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) samples: usize,
    // `--dict`: the dictionary the tree is compressed with now, if any, to read its values.
    #[command(flatten)]
    pub(crate) dict: super::dict::DictArg,
}

/// Trains and writes the dictionary.
#[cfg(feature = "zstd")]
pub(crate) fn run(args: &TrainDictArgs) -> Result<(), ToolError> {
    use strata::Guard as _;
    use strata::fs::{Fs, StdFs};
    let (tree, seqno) = super::kv::open(&args.dir, false, args.dict.load()?)?;
    let mut samples = Vec::new();
    let mut bytes = 0usize;
    for guard in tree.iter(seqno.get(), None) {
        if samples.len() >= args.samples || bytes >= MAX_SAMPLE_BYTES {
            break;
        }
        let (_, value) = guard.into_inner()?;
        bytes += value.len();
        samples.push(value);
    }
    let dict = strata::compression::train_dictionary(&samples, args.size)?;
    let failed =
        |e: std::io::Error| ToolError::Failed(format!("cannot write {}: {e}", args.out.display()));
    let mut file = StdFs.create(&args.out).map_err(failed)?;
    file.append(dict.raw()).map_err(failed)?;
    file.sync().map_err(failed)?;
    println!(
        "dictionary {} ({} bytes, trained on {} values) written to {}",
        dict.id(),
        dict.raw().len(),
        samples.len(),
        args.out.display()
    );
    Ok(())
}

/// Without the cargo feature `zstd`: an error that says how to build with it.
#[cfg(not(feature = "zstd"))]
pub(crate) fn run(_args: &TrainDictArgs) -> Result<(), ToolError> {
    Err(ToolError::Failed(
        "train-dict needs the cargo feature `zstd`: cargo run -p strata-cli --features zstd -- train-dict DIR"
            .into(),
    ))
}
