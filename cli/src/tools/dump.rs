//! `strata dump-table FILE`: one table file's meta block, footer, index and entries.
//!
//! Opens the file for reading as the engine's table reader does (footer, meta block and index
//! verified; a table compressed with a zstd dictionary needs it, `--dict`), then prints:
//!
//! 1. the meta block's fields (`docs/format.md`, section 5), with the id of the zstd dictionary
//!    the table's blocks need, if they need one;
//! 2. the footer's handles and flags (section 6) and the index: the index partitions, if any, and
//!    every data block's handle with its last key;
//! 3. the entries whose keys lie in `[--from, --to)`, every version and tombstone, one a line:
//!    `key<TAB>seqno<TAB>type<TAB>value`.

use std::io::Write;
use std::ops::Bound;
use std::path::PathBuf;

use clap::Args;
use strata::ValueType;
use strata::internals::{BlockHandle, TableFile, TableLayout, TableMeta};

use super::dict::DictArg;
use super::output::{Encoding, ToolError, with_stdout};

/// The block cache of the dump: every block is read once.
const CACHE_BYTES: u64 = 1 << 20;

/// Arguments of `strata dump-table`.
#[derive(Args, Debug)]
pub(crate) struct DumpTableArgs {
    /// The table file (`<tree>/tables/<id>.sst`).
    file: PathBuf,
    /// Start at this key (inclusive).
    #[arg(long, value_name = "KEY")]
    from: Option<String>,
    /// Stop before this key (exclusive).
    #[arg(long, value_name = "KEY")]
    to: Option<String>,
    /// Print at most this many entries.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[command(flatten)]
    dict: DictArg,
    #[command(flatten)]
    encoding: Encoding,
}

/// The name of a `CompressionType` byte (`docs/format.md`, "Persisted enums"), whether or not
/// this build reads it.
fn compression_name(byte: u8) -> String {
    match byte {
        0 => "none".to_string(),
        1 => "lz4".to_string(),
        2 => "zstd".to_string(),
        3 => "zstd with the table's dictionary".to_string(),
        other => format!("unknown ({other})"),
    }
}

fn type_name(value_type: ValueType) -> &'static str {
    match value_type {
        ValueType::Value => "value",
        ValueType::Tombstone => "tombstone",
        ValueType::WeakTombstone => "weak-tombstone",
        ValueType::MergeOperand => "merge-operand",
        ValueType::Indirection => "blob-pointer",
    }
}

fn handle(h: BlockHandle) -> String {
    format!("offset {} len {}", h.offset, h.len)
}

/// The meta block's fields, one a line.
fn write_meta(out: &mut dyn Write, meta: &TableMeta, encoding: Encoding) -> Result<(), ToolError> {
    let settings = &meta.settings;
    let bits = if settings.filter_bits_per_key_milli == 0 {
        "no filter".to_string()
    } else {
        format!(
            "{}.{:03}",
            settings.filter_bits_per_key_milli / 1000,
            settings.filter_bits_per_key_milli % 1000
        )
    };
    let fields = [
        ("table id", meta.table_id.to_string()),
        (
            "created at",
            format!("{} µs since the Unix epoch", meta.created_at_micros),
        ),
        ("entries", meta.entry_count.to_string()),
        ("tombstones", meta.tombstone_count.to_string()),
        ("weak tombstones", meta.weak_tombstone_count.to_string()),
        (
            "weak reclaimable",
            meta.weak_tombstone_reclaimable.to_string(),
        ),
        ("data blocks", meta.data_block_count.to_string()),
        ("seqnos", format!("{}..{}", meta.seqno_min, meta.seqno_max)),
        ("min key", encoding.show(&meta.min_key)),
        ("max key", encoding.show(&meta.max_key)),
        ("block size", settings.block_size.to_string()),
        (
            "restart interval",
            format!(
                "{} (index {})",
                settings.restart_interval, settings.index_restart_interval
            ),
        ),
        (
            "compression",
            format!(
                "data {}, index {}",
                compression_name(settings.data_compression),
                compression_name(settings.index_compression)
            ),
        ),
        ("filter bits/key", bits),
        ("comparator", meta.comparator.clone()),
    ];
    writeln!(out, "meta block")?;
    for (name, value) in fields {
        writeln!(out, "  {name:<18}{value}")?;
    }
    if meta.zstd_dict_id != 0 {
        writeln!(out, "  {:<18}{}", "zstd dictionary", meta.zstd_dict_id)?;
    }
    Ok(())
}

/// The footer's handles, then the index: partitions (if any) and every data block.
fn write_layout(
    out: &mut dyn Write,
    layout: &TableLayout,
    encoding: Encoding,
) -> Result<(), ToolError> {
    let partitioned = |yes: bool| if yes { "partitioned" } else { "full" };
    let footer = &layout.footer;
    writeln!(out, "footer")?;
    writeln!(
        out,
        "  index             {} ({})",
        handle(footer.index),
        partitioned(footer.index_partitioned)
    )?;
    match footer.filter {
        Some(h) => writeln!(
            out,
            "  filter            {} ({})",
            handle(h),
            partitioned(footer.filter_partitioned)
        )?,
        None => writeln!(out, "  filter            none")?,
    }
    writeln!(out, "  meta              {}", handle(footer.meta))?;
    writeln!(out)?;
    let mut lists = vec![("data blocks", &layout.data_blocks)];
    if footer.index_partitioned {
        lists.insert(0, ("index partitions", &layout.index_partitions));
    }
    for (name, handles) in lists {
        writeln!(out, "{name}: {}", handles.len())?;
        for (i, (key, h)) in handles.iter().enumerate() {
            writeln!(
                out,
                "  {i}\t{}\tlast key {}",
                handle(*h),
                encoding.show(key)
            )?;
        }
    }
    Ok(())
}

/// Prints the table; see the module documentation.
pub(crate) fn run(args: &DumpTableArgs) -> Result<(), ToolError> {
    let encoding = args.encoding;
    let lower = match &args.from {
        Some(key) => Bound::Included(encoding.parse(key)?),
        None => Bound::Unbounded,
    };
    let upper = match &args.to {
        Some(key) => Bound::Excluded(encoding.parse(key)?),
        None => Bound::Unbounded,
    };
    let table = TableFile::open_with_dictionary(&args.file, CACHE_BYTES, args.dict.load()?)?;
    let layout = table.layout()?;
    with_stdout(|out| {
        writeln!(
            out,
            "file        {} ({} bytes)",
            table.table().path().display(),
            table.table().file_size()
        )?;
        writeln!(out)?;
        write_meta(out, table.table().meta(), encoding)?;
        writeln!(out)?;
        write_layout(out, &layout, encoding)?;
        writeln!(out)?;
        writeln!(out, "entries (key, seqno, type, value)")?;
        let entries = table
            .range(lower, upper)
            .take(args.limit.unwrap_or(usize::MAX));
        for entry in entries {
            let entry = entry?;
            writeln!(
                out,
                "{}\t{}\t{}\t{}",
                encoding.show(&entry.key.user_key),
                entry.key.seqno,
                type_name(entry.key.value_type),
                encoding.show(&entry.value)
            )?;
        }
        Ok(())
    })
}
