//! `strata dump-blob FILE`: every record of one blob file (key-value separation).
//!
//! Reads the file as the engine's blob reader does (`docs/format.md`, section 11): the header and
//! the footer are checked against each other and the file's size (a file whose header names a
//! zstd dictionary needs it, `--dict`), then every record is read in file order, its checksum
//! verified and its contents split into key and value, and at the end the records are checked
//! against the counts the footer records. Each record is one line,
//! `offset<TAB>length<TAB>key<TAB>value length<TAB>value preview`, where the length is the
//! record's on disk (block header included: what a blob pointer names) and the preview the first
//! [`PREVIEW_BYTES`] of the value; then a line of totals. The first damage ends the dump with an
//! error naming the file and the offset of the damaged record (or footer); the records before it
//! have been printed.

use std::path::PathBuf;

use clap::Args;
use strata::internals::dump_blob_file;

use super::dict::DictArg;
use super::output::{Encoding, ToolError, count, file_size, with_stdout};

/// The bytes of each value that the dump prints.
const PREVIEW_BYTES: usize = 32;

/// Arguments of `strata dump-blob`.
#[derive(Args, Debug)]
pub(crate) struct DumpBlobArgs {
    /// The blob file (`<tree>/blobs/<id>.blob`).
    file: PathBuf,
    /// Print at most this many records (every record is still read and checked, and counted
    /// in the totals).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[command(flatten)]
    dict: DictArg,
    #[command(flatten)]
    encoding: Encoding,
}

/// What the records add up to.
#[derive(Default)]
struct Totals {
    records: u64,
    record_bytes: u64,
    value_bytes: u64,
}

/// Prints the blob file's records; see the module documentation.
pub(crate) fn run(args: &DumpBlobArgs) -> Result<(), ToolError> {
    let encoding = args.encoding;
    let limit = args.limit.unwrap_or(usize::MAX);
    let size = file_size(&args.file)?;
    let dict = args.dict.load()?;
    with_stdout(|out| {
        writeln!(out, "file        {} ({size} bytes)", args.file.display())?;
        writeln!(out)?;
        writeln!(
            out,
            "records (offset, length, key, value length, value preview)"
        )?;
        let mut totals = Totals::default();
        // NB: the visitor cannot fail; the first write error is kept and returned once the
        // walk is over.
        let mut failed: Option<std::io::Error> = None;
        dump_blob_file(&args.file, dict.as_ref(), |record| {
            let printed = usize::try_from(totals.records).unwrap_or(usize::MAX);
            totals.records += 1;
            totals.record_bytes += record.len;
            totals.value_bytes += record.value.len() as u64;
            if failed.is_some() || printed >= limit {
                return;
            }
            if let Err(err) = writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}",
                record.offset,
                record.len,
                encoding.show(&record.key),
                record.value.len(),
                encoding.preview(&record.value, PREVIEW_BYTES)
            ) {
                failed = Some(err);
            }
        })?;
        if let Some(err) = failed {
            return Err(ToolError::Output(err));
        }
        writeln!(
            out,
            "total       {}, {} record bytes, {} value bytes",
            count(totals.records, "record"),
            totals.record_bytes,
            totals.value_bytes
        )?;
        Ok(())
    })
}
