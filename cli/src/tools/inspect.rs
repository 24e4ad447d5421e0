//! `strata inspect DIR`: the shape of a tree, or of a database and each of its keyspaces' trees,
//! read in place.
//!
//! Replays the manifest that `CURRENT` names and opens its tables and blob files for reading
//! ([`ReadOnlyTree`]); nothing in the directory is written, and no recovery runs (an open would
//! write a fresh manifest and delete orphans). Prints the manifest, one summary row per level,
//! every run with its tables (id, size, entries, tombstones, seqno range, key range), the blob
//! files of key-value separation (id, size, records, record bytes, and stale bytes: records no
//! table points to any more) with their totals, the bytes on disk, and the space amplification:
//! the bytes of the tables and blob files the manifest names divided by the bytes of the live
//! data, the sum of key and value lengths of every key visible at the latest seqno. The live data
//! comes from a full scan that merges the tables as a tree's read path does (separated values
//! are read from their blob files). Tables and blob files compressed with a zstd dictionary are
//! read with the one `--dict` gives (every keyspace of a database with that one).
//!
//! A database folder ([`is_database`]): its `VERSION`, its catalog (each keyspace's id, name and
//! persisted options), its WAL (one row per segment: size, batches, items, seqnos, the previous
//! end its header records, how it ends; the WAL items per keyspace id; recovery's verdict, which
//! reads every record), keyspace folders the catalog does not name, and then each keyspace's
//! tree, `keyspaces/<id>/`, as above. The WAL holds the writes not yet flushed to the trees (and
//! some that are, until its segments are released), so a keyspace's live data above counts only
//! what its tables hold.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use strata::ZstdDictionary;
use strata::fs::{Fs, StdFs};
use strata::internals::{
    BlobFileInfo, ManifestState, ReadOnlyTree, Table, blob_files, is_database, table_files,
};

use super::database::DatabaseFolder;
use super::dict::DictArg;
use super::output::{Encoding, ToolError, count, escape, file_size, with_stdout, write_columns};

/// Keys longer than this (printed) are cut in the table listing; `dump-table` prints them whole.
const KEY_DISPLAY_CHARS: usize = 40;

/// Arguments of `strata inspect`.
#[derive(Args, Debug)]
pub(crate) struct InspectArgs {
    /// The tree's or database's directory.
    dir: PathBuf,
    #[command(flatten)]
    dict: DictArg,
    #[command(flatten)]
    encoding: Encoding,
}

/// A key as the listing shows it: escaped (or hex) and cut to [`KEY_DISPLAY_CHARS`].
fn short_key(encoding: Encoding, key: &[u8]) -> String {
    let shown = encoding.show(key);
    if shown.chars().count() <= KEY_DISPLAY_CHARS {
        return shown;
    }
    let mut cut: String = shown.chars().take(KEY_DISPLAY_CHARS).collect();
    cut.push_str("...");
    cut
}

/// Sums over tables.
#[derive(Default, Clone, Copy)]
struct Totals {
    runs: usize,
    tables: usize,
    bytes: u64,
    entries: u64,
    tombstones: u64,
    weak_tombstones: u64,
}

impl Totals {
    fn add(&mut self, table: &Table) {
        let meta = table.meta();
        self.tables += 1;
        self.bytes += table.file_size();
        self.entries += meta.entry_count;
        self.tombstones += meta.tombstone_count;
        self.weak_tombstones += meta.weak_tombstone_count;
    }

    fn row(&self, name: String) -> Vec<String> {
        vec![
            name,
            self.runs.to_string(),
            self.tables.to_string(),
            self.bytes.to_string(),
            self.entries.to_string(),
            self.tombstones.to_string(),
            self.weak_tombstones.to_string(),
        ]
    }
}

/// The live data: keys visible at the latest seqno and their bytes.
struct Live {
    keys: u64,
    key_bytes: u64,
    value_bytes: u64,
}

fn live_data(tree: &ReadOnlyTree) -> Result<Live, ToolError> {
    let mut live = Live {
        keys: 0,
        key_bytes: 0,
        value_bytes: 0,
    };
    for item in tree.scan() {
        let (key, value) = item?;
        live.keys += 1;
        live.key_bytes += key.len() as u64;
        live.value_bytes += value.len() as u64;
    }
    Ok(live)
}

/// The files of the directory besides the named tables and blob files.
struct Disk {
    current_bytes: u64,
    /// Table and blob files no manifest names, with their sizes.
    orphans: Vec<(PathBuf, u64)>,
    /// Every other file of the directory (`LOCK`, leftover manifests).
    other_bytes: u64,
}

fn disk_files(dir: &Path, manifest: &ManifestState) -> Result<Disk, ToolError> {
    let named: HashSet<u64> = manifest.replayed.table_ids().collect();
    let mut orphans = Vec::new();
    for (id, path) in table_files(dir)? {
        if !named.contains(&id) {
            let size = file_size(&path)?;
            orphans.push((path, size));
        }
    }
    for (id, path) in blob_files(dir)? {
        if !manifest.replayed.blob_files.contains(&id) {
            let size = file_size(&path)?;
            orphans.push((path, size));
        }
    }
    let mut other_bytes = 0;
    let entries = StdFs
        .list(dir)
        .map_err(|e| ToolError::Failed(format!("cannot list {}: {e}", dir.display())))?;
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_file() && name != "CURRENT" && name != manifest.name {
            other_bytes += file_size(&path)?;
        }
    }
    Ok(Disk {
        current_bytes: file_size(&dir.join("CURRENT"))?,
        orphans,
        other_bytes,
    })
}

fn write_manifest(out: &mut dyn Write, manifest: &ManifestState) -> Result<(), ToolError> {
    writeln!(
        out,
        "manifest    {}: {}, {}{}",
        manifest.name,
        count(manifest.record_offsets.len() as u64, "record"),
        count(manifest.size_bytes, "byte"),
        manifest
            .torn_tail
            .map(|at| format!(" (torn tail at offset {at}, ignored)"))
            .unwrap_or_default()
    )?;
    writeln!(
        out,
        "comparator  {}, format version {}",
        manifest.replayed.comparator.as_deref().unwrap_or("?"),
        manifest
            .replayed
            .format_version
            .map_or_else(|| "?".to_string(), |v| v.to_string())
    )?;
    writeln!(
        out,
        "seqnos      highest {}, next table id {}",
        manifest
            .replayed
            .highest_seqno
            .map_or_else(|| "none".to_string(), |s| s.to_string()),
        manifest.replayed.next_table_id
    )?;
    Ok(())
}

/// One row per level and a total row; returns the totals.
fn write_levels(out: &mut dyn Write, levels: &[Vec<Vec<Arc<Table>>>]) -> Result<Totals, ToolError> {
    let header = [
        "level",
        "runs",
        "tables",
        "bytes",
        "entries",
        "tombstones",
        "weak",
    ];
    let mut rows = Vec::new();
    let mut all = Totals::default();
    for (i, runs) in levels.iter().enumerate() {
        let mut level = Totals {
            runs: runs.len(),
            ..Totals::default()
        };
        for table in runs.iter().flatten() {
            level.add(table);
            all.add(table);
        }
        all.runs += runs.len();
        rows.push(level.row(format!("L{i}")));
    }
    rows.push(all.row("total".to_string()));
    write_columns(out, &header, &rows)?;
    Ok(all)
}

/// Every run with one row per table.
fn write_runs(
    out: &mut dyn Write,
    levels: &[Vec<Vec<Arc<Table>>>],
    encoding: Encoding,
) -> Result<(), ToolError> {
    let header = [
        "table",
        "bytes",
        "entries",
        "tombstones",
        "weak",
        "seqnos",
        "keys",
    ];
    for (i, runs) in levels.iter().enumerate() {
        for (r, run) in runs.iter().enumerate() {
            let order = if i == 0 && r == 0 && runs.len() > 1 {
                " (newest)"
            } else {
                ""
            };
            writeln!(out)?;
            writeln!(
                out,
                "L{i} run {r}{order}: {}",
                count(run.len() as u64, "table")
            )?;
            let rows: Vec<Vec<String>> = run
                .iter()
                .map(|t| {
                    let meta = t.meta();
                    vec![
                        meta.table_id.to_string(),
                        t.file_size().to_string(),
                        meta.entry_count.to_string(),
                        meta.tombstone_count.to_string(),
                        meta.weak_tombstone_count.to_string(),
                        format!("{}..{}", meta.seqno_min, meta.seqno_max),
                        format!(
                            "{} .. {}",
                            short_key(encoding, &meta.min_key),
                            short_key(encoding, &meta.max_key)
                        ),
                    ]
                })
                .collect();
            write_columns(out, &header, &rows)?;
        }
    }
    Ok(())
}

/// Sums over blob files.
#[derive(Default)]
struct BlobTotals {
    bytes: u64,
    records: u64,
    record_bytes: u64,
    stale_bytes: u64,
}

impl BlobTotals {
    fn add(&mut self, blob: &BlobFileInfo) {
        self.bytes += blob.file_size;
        self.records += blob.record_count;
        self.record_bytes += blob.record_bytes;
        self.stale_bytes += blob.stale_bytes;
    }

    fn row(&self, name: String) -> Vec<String> {
        #[expect(
            clippy::cast_precision_loss,
            reason = "a percentage for display; 52 bits of precision are plenty"
        )]
        let stale = self.stale_bytes as f64 * 100.0 / self.record_bytes.max(1) as f64;
        vec![
            name,
            self.bytes.to_string(),
            self.records.to_string(),
            self.record_bytes.to_string(),
            self.stale_bytes.to_string(),
            format!("{stale:.1}%"),
        ]
    }
}

/// One row per blob file and a total row, if there are any; returns their bytes.
fn write_blob_files(out: &mut dyn Write, blobs: &[BlobFileInfo]) -> Result<u64, ToolError> {
    let mut all = BlobTotals::default();
    let mut rows = Vec::with_capacity(blobs.len() + 1);
    for blob in blobs {
        let mut one = BlobTotals::default();
        one.add(blob);
        all.add(blob);
        rows.push(one.row(blob.id.to_string()));
    }
    if blobs.is_empty() {
        return Ok(0);
    }
    rows.push(all.row("total".to_string()));
    writeln!(out)?;
    writeln!(out, "blob files: {}", blobs.len())?;
    let header = [
        "blob",
        "bytes",
        "records",
        "record bytes",
        "stale bytes",
        "stale",
    ];
    write_columns(out, &header, &rows)?;
    Ok(all.bytes)
}

/// Bytes on disk, live data and space amplification.
fn write_space(
    out: &mut dyn Write,
    table_bytes: u64,
    blob_bytes: u64,
    manifest: &ManifestState,
    disk: &Disk,
    live: &Live,
) -> Result<(), ToolError> {
    let orphan_bytes: u64 = disk.orphans.iter().map(|(_, size)| size).sum();
    let disk_bytes = table_bytes
        + blob_bytes
        + manifest.size_bytes
        + disk.current_bytes
        + orphan_bytes
        + disk.other_bytes;
    writeln!(
        out,
        "disk        {disk_bytes} bytes: tables {table_bytes}, blob files {blob_bytes}, \
         manifest {}, CURRENT {}, orphan files {orphan_bytes} ({}), other files {}",
        manifest.size_bytes,
        disk.current_bytes,
        count(disk.orphans.len() as u64, "file"),
        disk.other_bytes
    )?;
    for (path, size) in &disk.orphans {
        writeln!(
            out,
            "orphan      {} ({size} bytes): named by no manifest; the next open deletes it",
            path.display()
        )?;
    }
    let live_bytes = live.key_bytes + live.value_bytes;
    writeln!(
        out,
        "live data   {}, {} (keys {}, values {}) at the latest seqno",
        count(live.keys, "key"),
        count(live_bytes, "byte"),
        live.key_bytes,
        live.value_bytes
    )?;
    if live_bytes == 0 {
        writeln!(out, "space amp   n/a (no live data)")?;
    } else {
        #[expect(
            clippy::cast_precision_loss,
            reason = "a ratio for display; 52 bits of precision are plenty"
        )]
        let amp = (table_bytes + blob_bytes) as f64 / live_bytes as f64;
        let stored = if blob_bytes == 0 {
            format!("table bytes {table_bytes}")
        } else {
            format!("(table bytes {table_bytes} + blob file bytes {blob_bytes})")
        };
        writeln!(
            out,
            "space amp   {amp:.2} ({stored} / live data bytes {live_bytes})"
        )?;
    }
    Ok(())
}

/// Prints the shape of the tree or database at `args.dir`; see the module documentation.
pub(crate) fn run(args: &InspectArgs) -> Result<(), ToolError> {
    let dir = args.dir.as_path();
    let dict = args.dict.load()?;
    if is_database(dir)? {
        let folder = DatabaseFolder::read(dir)?;
        return with_stdout(|out| write_database(out, &folder, args.encoding, dict.as_ref()));
    }
    with_stdout(|out| write_tree(out, dir, args.encoding, dict.as_ref()))
}

/// Prints the shape of the tree at `dir`, whose files may need the zstd dictionary `dict`.
fn write_tree(
    out: &mut dyn Write,
    dir: &Path,
    encoding: Encoding,
    dict: Option<&Arc<ZstdDictionary>>,
) -> Result<(), ToolError> {
    let tree = ReadOnlyTree::open_with_dictionary(dir, dict.cloned())?;
    let manifest = tree.manifest();
    let levels = tree.levels();
    let blobs = tree.blob_files();
    let live = live_data(&tree)?;
    let disk = disk_files(dir, manifest)?;
    writeln!(out, "tree        {}", dir.display())?;
    write_manifest(out, manifest)?;
    writeln!(out)?;
    let all = write_levels(out, &levels)?;
    write_runs(out, &levels, encoding)?;
    let blob_bytes = write_blob_files(out, &blobs)?;
    writeln!(out)?;
    write_space(out, all.bytes, blob_bytes, manifest, &disk, &live)
}

/// Prints a database: its `VERSION`, catalog and WAL, then each keyspace's tree (read with the
/// zstd dictionary `dict`).
fn write_database(
    out: &mut dyn Write,
    folder: &DatabaseFolder,
    encoding: Encoding,
    dict: Option<&Arc<ZstdDictionary>>,
) -> Result<(), ToolError> {
    writeln!(out, "database    {}", folder.dir.display())?;
    let version = match &folder.version {
        Ok(true) => "strata-db 1".to_string(),
        Ok(false) => "missing (the next open writes it)".to_string(),
        Err(err) => format!("unreadable: {err}"),
    };
    writeln!(out, "version     {version}")?;
    write_catalog(out, folder)?;
    writeln!(out)?;
    write_wal(out, folder)?;
    for path in folder.orphan_keyspace_dirs() {
        writeln!(
            out,
            "orphan      {}: a keyspace folder the catalog does not name; the next open deletes it",
            path.display()
        )?;
    }
    for (id, name, path) in folder.keyspaces() {
        writeln!(out)?;
        writeln!(out, "keyspace    {} (id {id})", escape(name.as_bytes()))?;
        match write_tree(out, &path, encoding, dict) {
            // NB: a keyspace with a custom comparator: only the application has it, and its
            // tree is not read in another order. That is no damage (`strata verify` checks it).
            Err(ToolError::Engine(strata::Error::ComparatorMismatch { stored, .. })) => writeln!(
                out,
                "tree        {}: in the order of comparator {stored:?}, which only the application has; not inspected",
                path.display()
            )?,
            other => other?,
        }
    }
    Ok(())
}

/// The catalog line and one row per keyspace.
fn write_catalog(out: &mut dyn Write, folder: &DatabaseFolder) -> Result<(), ToolError> {
    let catalog = match &folder.catalog {
        Ok(Some(catalog)) => catalog,
        Ok(None) => {
            writeln!(out, "catalog     none (no keyspace was created)")?;
            return Ok(());
        }
        Err(err) => {
            writeln!(out, "catalog     unreadable: {err}")?;
            return Ok(());
        }
    };
    writeln!(
        out,
        "catalog     {}: {}, {}, next keyspace id {}",
        catalog.path.display(),
        count(catalog.size_bytes, "byte"),
        count(catalog.keyspaces.len() as u64, "keyspace"),
        catalog.next_id
    )?;
    let rows: Vec<Vec<String>> = catalog
        .keyspaces
        .iter()
        .map(|k| {
            vec![
                k.id.to_string(),
                escape(k.name.as_bytes()),
                k.max_memtable_size.to_string(),
                k.kv_separation.as_ref().map_or_else(
                    || "off".to_string(),
                    |kv| format!("values of {} bytes and more", kv.separation_threshold),
                ),
                k.compaction_strategy
                    .clone()
                    .unwrap_or_else(|| "from each open".to_string()),
                if k.encrypted { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    write_columns(
        out,
        &[
            "id",
            "keyspace",
            "memtable bytes",
            "kv separation",
            "compaction",
            "encrypted",
        ],
        &rows,
    )?;
    for k in &catalog.keyspaces {
        if let Some(policies) = &k.policies {
            writeln!(out, "  keyspace {} policies: {policies}", k.id)?;
        }
    }
    Ok(())
}

/// The WAL's segments and recovery's verdict.
fn write_wal(out: &mut dyn Write, folder: &DatabaseFolder) -> Result<(), ToolError> {
    let batches: u64 = folder.segments.iter().map(|s| s.batches).sum();
    let items: u64 = folder.segments.iter().map(|s| s.items).sum();
    writeln!(
        out,
        "wal         {}: {}, {}, {}, {}",
        folder.wal_dir.display(),
        count(folder.segments.len() as u64, "segment"),
        count(folder.wal_bytes(), "byte"),
        count(batches, "batch"),
        count(items, "item")
    )?;
    let rows: Vec<Vec<String>> = folder
        .segments
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                s.used_bytes.to_string(),
                s.batches.to_string(),
                s.items.to_string(),
                s.seqnos
                    .map_or_else(|| "-".to_string(), |(lo, hi)| format!("{lo}..{hi}")),
                s.header
                    .and_then(|h| h.previous_end)
                    .map_or_else(|| "-".to_string(), |end| end.to_string()),
                s.end_text(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        write_columns(
            out,
            &[
                "segment",
                "bytes",
                "batches",
                "items",
                "seqnos",
                "previous end",
                "end",
            ],
            &rows,
        )?;
    }
    let mut per_keyspace: BTreeMap<u64, u64> = BTreeMap::new();
    for segment in &folder.segments {
        for (id, n) in &segment.items_per_keyspace {
            *per_keyspace.entry(*id).or_insert(0) += n;
        }
    }
    if !per_keyspace.is_empty() {
        let parts: Vec<String> = per_keyspace
            .iter()
            .map(|(id, n)| format!("keyspace {id}: {n}"))
            .collect();
        writeln!(out, "wal items   {}", parts.join(", "))?;
    }
    match &folder.recovery {
        Ok(recovery) => writeln!(
            out,
            "recovery    replays {}, last seqno {}{}",
            count(recovery.segments.len() as u64, "segment"),
            recovery
                .last_seqno
                .map_or_else(|| "none".to_string(), |s| s.to_string()),
            match folder.discarded_with_data().len() {
                0 => String::new(),
                n => format!(
                    "; deletes {} unread (after a lost tail of unsynced writes)",
                    count(n as u64, "segment file")
                ),
            }
        )?,
        Err(err) => writeln!(out, "recovery    refuses the WAL: {err}")?,
    }
    for (id, path) in strata::internals::pending_log_files(&folder.dir)? {
        match strata::internals::read_pending_log(&folder.dir, id) {
            Ok(items) => writeln!(
                out,
                "pending     keyspace {id}: {} until its first open ({})",
                count(items.len() as u64, "item"),
                path.display()
            )?,
            Err(err) => writeln!(out, "pending     keyspace {id}: unreadable: {err}")?,
        }
    }
    Ok(())
}
