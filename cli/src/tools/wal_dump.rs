//! `strata wal-dump DIR`: every WAL segment of a database, record by record, read in place.
//!
//! DIR is a database folder (its `wal/` is read) or a WAL folder itself. For each segment, in id
//! order: a line with its id, file, size and header fields (version, the segment id it records,
//! and "previous end": where the recovery that started it found the previous segment's good
//! records to end, `-` for a segment started by a plain roll); then one line per batch (seqno,
//! item count, offset) followed by one line per item, `keyspace<TAB>op<TAB>key<TAB>value length`
//! (the keyspace's id, and its name as text if the catalog is readable; the key escaped as the other
//! tools print keys, or hex with `--hex`; `-` for an op without a value; for `remove_range` the
//! key column shows `start..end`); then how the segment ends: `clean`, `clean (records end at
//! offset N; M bytes preallocated after them)` (the zeros a segment is created with), `empty`
//! (a spare made ahead of time), `torn at offset N` (a write cut short by a crash, which
//! recovery ignores when nothing later depends on it), or `damaged:` with the error naming the
//! file and offset. Last, recovery's verdict on the whole
//! WAL (`strata::internals::check_wal`): the segments and batches it would replay, the files it
//! would discard, or the error it would stop at.
//!
//! Reads only: no lock is taken and nothing is written, so it also works beside an open
//! database (whose last segment may then end in a torn tail that is still being written). The
//! exit status is non-zero if a segment is damaged or recovery would refuse the WAL.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use strata::internals::{
    WalEnd, WalHeader, WalItem, WalOp, WalSegment, check_wal, read_catalog, read_wal_segment,
    wal_dir, wal_segment_files,
};

use super::database::end_text;
use super::output::{Encoding, ToolError, count, escape, with_stdout};

/// Arguments of `strata wal-dump`.
#[derive(Args, Debug)]
pub(crate) struct WalDumpArgs {
    /// The database's directory (or its `wal/` directory).
    dir: PathBuf,
    #[command(flatten)]
    encoding: Encoding,
}

/// The WAL folder DIR names, and the keyspace names by id from the catalog beside it.
fn locate(dir: &Path) -> Result<(PathBuf, BTreeMap<u64, String>), ToolError> {
    let nested = wal_dir(dir);
    let (wal, db_dir) = if nested.is_dir() {
        (nested, Some(dir))
    } else if dir.is_dir() && !wal_segment_files(dir)?.is_empty() {
        (dir.to_path_buf(), dir.parent())
    } else {
        return Err(ToolError::Failed(format!(
            "{} holds no WAL (no wal/ folder and no segment files)",
            dir.display()
        )));
    };
    // NB: names are a convenience: a damaged catalog is `verify`'s to report, not a reason to
    // stop dumping the WAL.
    let names = db_dir
        .and_then(|d| read_catalog(d).ok().flatten())
        .map(|c| c.keyspaces.into_iter().map(|k| (k.id, k.name)).collect())
        .unwrap_or_default();
    Ok((wal, names))
}

/// A header's fields as printed.
fn header_text(header: Option<&WalHeader>) -> String {
    match header {
        None => "no header".to_string(),
        Some(h) => format!(
            "header: version {}, segment id {}, previous end {}",
            h.version,
            h.segment_id,
            h.previous_end
                .map_or_else(|| "-".to_string(), |end| end.to_string())
        ),
    }
}

/// One item's line (without the indent).
fn item_text(item: &WalItem, names: &BTreeMap<u64, String>, encoding: Encoding) -> String {
    let keyspace = match names.get(&item.keyspace_id) {
        Some(name) => format!("{} ({})", item.keyspace_id, escape(name.as_bytes())),
        None => item.keyspace_id.to_string(),
    };
    let key = match (item.op, &item.value) {
        (WalOp::RemoveRange, Some(end)) => {
            format!("{}..{}", encoding.show(&item.key), encoding.show(end))
        }
        _ => encoding.show(&item.key),
    };
    let value = match (item.op, &item.value) {
        (WalOp::RemoveRange, _) | (_, None) => "-".to_string(),
        (_, Some(value)) => value.len().to_string(),
    };
    format!("{keyspace}\t{}\t{key}\t{value}", item.op.name())
}

/// Prints one segment; returns whether it is damaged.
fn write_segment(
    out: &mut dyn Write,
    segment: &WalSegment,
    names: &BTreeMap<u64, String>,
    encoding: Encoding,
) -> Result<bool, ToolError> {
    writeln!(
        out,
        "segment {}: {}, {}; {}",
        segment.id,
        segment.path.display(),
        count(segment.size_bytes, "byte"),
        header_text(segment.header.as_ref())
    )?;
    for batch in &segment.batches {
        writeln!(
            out,
            "  batch seqno {}, {} (offset {})",
            batch.seqno,
            count(batch.items.len() as u64, "item"),
            batch.offset
        )?;
        for item in &batch.items {
            writeln!(out, "    {}", item_text(item, names, encoding))?;
        }
    }
    let items: usize = segment.batches.iter().map(|b| b.items.len()).sum();
    let totals = format!(
        "{}, {}",
        count(segment.batches.len() as u64, "batch"),
        count(items as u64, "item")
    );
    writeln!(
        out,
        "  end: {} ({totals})",
        end_text(&segment.end, segment.size_bytes)
    )?;
    Ok(matches!(segment.end, WalEnd::Damaged(_)))
}

/// Prints recovery's verdict on the whole WAL; returns whether recovery would refuse it.
fn write_recovery(out: &mut dyn Write, wal: &Path) -> Result<bool, ToolError> {
    match check_wal(wal) {
        Ok(recovery) => {
            let batches: usize = recovery.segments.iter().map(|s| s.batch_count).sum();
            writeln!(
                out,
                "recovery: replays {} ({}), last seqno {}",
                count(recovery.segments.len() as u64, "segment"),
                count(batches as u64, "batch"),
                recovery
                    .last_seqno
                    .map_or_else(|| "none".to_string(), |s| s.to_string())
            )?;
            for path in &recovery.discarded {
                writeln!(
                    out,
                    "recovery: deletes {} unread (never given a durable header, like a spare made ahead of time; or after a segment that lost a tail of unsynced writes)",
                    path.display()
                )?;
            }
            Ok(false)
        }
        Err(err) => {
            writeln!(out, "recovery: refuses the WAL: {err}")?;
            Ok(true)
        }
    }
}

/// Dumps the WAL; see the module documentation.
pub(crate) fn run(args: &WalDumpArgs) -> Result<(), ToolError> {
    let (wal, names) = locate(&args.dir)?;
    let files = wal_segment_files(&wal)?;
    let mut damaged = 0u64;
    let mut refused = false;
    with_stdout(|out| {
        writeln!(
            out,
            "wal {}: {}",
            wal.display(),
            count(files.len() as u64, "segment")
        )?;
        for (_, path) in &files {
            let segment = read_wal_segment(path)?;
            if write_segment(out, &segment, &names, args.encoding)? {
                damaged += 1;
            }
        }
        refused = write_recovery(out, &wal)?;
        Ok(())
    })?;
    if damaged > 0 || refused {
        return Err(ToolError::Failed(format!(
            "the WAL in {} is damaged ({}; listed above)",
            wal.display(),
            if damaged > 0 {
                count(damaged, "damaged segment")
            } else {
                "recovery refuses it".to_string()
            }
        )));
    }
    Ok(())
}
