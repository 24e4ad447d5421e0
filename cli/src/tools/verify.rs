//! `strata verify DIR`: checks every byte the state of a tree (or a database) depends on, read in
//! place.
//!
//! 1. `CURRENT`: present, and naming a manifest.
//! 2. The manifest: every record's checksum and every edit's decoding (a torn tail, which
//!    recovery ignores, is a warning), the comparator and the format version.
//! 3. Every table the manifest names: every block (data, index and partitions, filter and
//!    partitions, meta) read, its checksum verified and its contents decoded, then the blocks
//!    checked against each other, and the table id against the file name: the walk of
//!    `strata::verify::verify_integrity`, run on the files in place ([`verify_tables`]).
//! 4. Every blob file the manifest names (key-value separation): header and footer against each
//!    other and the file's size, then every record read, its checksum verified and its contents
//!    split into key and value, and the records against the footer's counts: the walk of
//!    `strata::verify::verify_integrity` over blob files, run on the files in place
//!    ([`dump_blob_file`]).
//! 5. Once all of that is clean, the tables and blob files are opened as a tree opens them, which
//!    also checks that each run's tables are sorted and disjoint and that no table points to more
//!    bytes of a blob file than it holds.
//!
//! A database folder (`VERSION`, `CATALOG` or `wal/`): its `VERSION` marker, its catalog (one
//! checksummed record; each keyspace's id and name), every record of every WAL segment (framing,
//! checksum and batch decoding, as recovery reads them), then recovery's own rules across the
//! segments (contiguous ids, increasing seqnos, a torn tail only where no later record depends on
//! it: `strata::internals::check_wal`), every pending log (`pending/<id>.log`, read whole), and
//! then each keyspace's tree, `keyspaces/<id>/`, as
//! above. A torn tail is a warning (a write cut short by a crash, never acknowledged), and so are
//! segments recovery would discard and keyspace folders the catalog does not name.
//!
//! Table and blob files that the manifest does not name (orphans) and leftover manifests are
//! warnings: the next open deletes them. Without a readable manifest, every table and blob file
//! found is checked.
//!
//! Each damage is one line, `damage: ...`, naming the file and the byte offset of the damaged
//! record, block or footer. Nothing is written: the tree is not opened, because an open takes the
//! directory's lock, may append to the manifest or write a new one, and deletes orphans, and it
//! stops at the first damaged table; so `verify_integrity`, which takes an open tree, is reached
//! through the walk it shares with `strata::internals` instead.
//!
//! A table or blob file compressed with a zstd dictionary is checked with the one `--dict`
//! gives (every keyspace of a database with that one). Without it, or with another, the file is
//! not checked: it is one line `unreadable: ...` naming the dictionary id it needs, not a
//! damage, and the exit status is non-zero, with an error that says to pass `--dict`.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use strata::ZstdDictionary;
use strata::fs::{Fs, StdFs};
use strata::internals::{
    ManifestState, ReadOnlyTree, WalEnd, blob_files, blob_path, dump_blob_file, is_database,
    read_manifest, table_files, table_path, verify_tables_with_dictionary,
};

use super::database::DatabaseFolder;
use super::dict::DictArg;
use super::output::{ToolError, count, engine_message, with_stdout};

/// The comparator whose order the table checks know.
const DEFAULT_COMPARATOR: &str = "default";
/// The default comparator's name in trees written before it took the seed's name.
const LEGACY_DEFAULT_COMPARATOR: &str = "strata.lexicographic";

/// Arguments of `strata verify`.
#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// The tree's or database's directory.
    dir: PathBuf,
    #[command(flatten)]
    dict: DictArg,
}

/// What was checked and found.
#[derive(Default)]
struct Findings {
    damages: Vec<String>,
    warnings: Vec<String>,
    /// Files not checked because they need a zstd dictionary that `--dict` did not give, one
    /// line each, and the ids of the dictionaries they need.
    unreadable: Vec<String>,
    needed_dictionaries: BTreeSet<u32>,
    files: u64,
    blocks: u64,
    bytes: u64,
    records: usize,
    tables: u64,
    blob_files: u64,
    blob_records: u64,
    /// Whether `CURRENT` was found.
    current: bool,
    /// A database's WAL segments and their records (headers and batches).
    wal_segments: u64,
    wal_records: u64,
    /// A database's pending logs read whole.
    pending_logs: u64,
    /// A database's keyspaces checked, and the manifests read among them.
    keyspaces: u64,
    manifests: u64,
}

impl Findings {
    /// Records what an engine error says about a file: a damage, or a file that could not be
    /// checked without its zstd dictionary (then `true`: the file does not count as checked).
    fn engine_error(&mut self, err: &strata::Error) -> bool {
        if let strata::Error::DictionaryMismatch { stored, .. } = err {
            self.needed_dictionaries.insert(*stored);
            self.unreadable.push(engine_message(err));
            true
        } else {
            self.damages.push(err.to_string());
            false
        }
    }
}

fn stat(path: &Path) -> Result<Option<u64>, ToolError> {
    let cannot =
        |e: std::io::Error| ToolError::Failed(format!("cannot read {}: {e}", path.display()));
    if !StdFs.exists(path).map_err(cannot)? {
        return Ok(None);
    }
    StdFs
        .open(path)
        .and_then(|file| file.size_bytes())
        .map(Some)
        .map_err(cannot)
}

/// Reads `CURRENT` and the manifest it names; `None` (with the damage recorded) if either is
/// missing or damaged. An error if `dir` holds no tree at all.
fn read_state(
    dir: &Path,
    on_disk: &[(u64, PathBuf)],
    found: &mut Findings,
) -> Result<Option<ManifestState>, ToolError> {
    let current = dir.join("CURRENT");
    match stat(&current)? {
        None if on_disk.is_empty() => Err(ToolError::Failed(format!(
            "{} holds no tree (no CURRENT file)",
            dir.display()
        ))),
        None => {
            found.damages.push(format!(
                "{} is missing but {} exist: the tree cannot open",
                current.display(),
                count(on_disk.len() as u64, "table file")
            ));
            Ok(None)
        }
        Some(size) => {
            found.files += 1;
            found.current = true;
            found.bytes += size;
            match read_manifest(dir) {
                Ok(manifest) => {
                    found.files += 1;
                    found.bytes += manifest.size_bytes;
                    found.records += manifest.record_offsets.len();
                    Ok(Some(manifest))
                }
                Err(err) => {
                    found.damages.push(err.to_string());
                    Ok(None)
                }
            }
        }
    }
}

/// Checks what the manifest says (torn tail, comparator, format version, tables named once),
/// warns about files it does not name, and returns the tables to verify.
fn check_manifest(
    dir: &Path,
    manifest: &ManifestState,
    on_disk: &[(u64, PathBuf)],
    found: &mut Findings,
) -> Vec<(u64, PathBuf)> {
    if let Some(at) = manifest.torn_tail {
        found.warnings.push(format!(
            "{} ends in a torn tail at offset {at}: an append that never completed, ignored \
             (the next open drops it)",
            manifest.path.display()
        ));
    }
    let replayed = &manifest.replayed;
    match replayed.comparator.as_deref() {
        None => found.damages.push(format!(
            "corruption in {} at offset 0: the manifest records no comparator",
            manifest.path.display()
        )),
        Some(DEFAULT_COMPARATOR | LEGACY_DEFAULT_COMPARATOR) => {}
        Some(other) => found.warnings.push(format!(
            "the tree was written with comparator {other:?}: the order of table entries is \
             not checked"
        )),
    }
    if !replayed
        .format_version
        .is_some_and(|v| strata::internals::READABLE_FORMAT_VERSIONS.contains(&v))
    {
        found.damages.push(format!(
            "unsupported format version {} in {}",
            replayed
                .format_version
                .map_or_else(|| "(none)".to_string(), |v| v.to_string()),
            manifest.path.display()
        ));
    }
    let mut to_check = Vec::new();
    let mut seen = HashSet::new();
    for id in replayed.table_ids() {
        if seen.insert(id) {
            to_check.push((id, table_path(dir, id)));
        } else {
            found.damages.push(format!(
                "corruption in {}: table {id} is named twice",
                manifest.path.display()
            ));
        }
    }
    for (id, path) in on_disk {
        if !seen.contains(id) {
            found.warnings.push(format!(
                "orphan table file {}: named by no manifest (the next open deletes it)",
                path.display()
            ));
        }
    }
    for path in StdFs.list(dir).unwrap_or_default() {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "CURRENT.tmp" || (name.starts_with("MANIFEST-") && name != manifest.name) {
            found.warnings.push(format!(
                "leftover file {}: not the live manifest (the next open deletes it)",
                path.display()
            ));
        }
    }
    to_check
}

/// Checks the blob files: those the manifest names (a missing one is damage), or every one found
/// without a readable manifest; files the manifest does not name are warnings.
fn check_blob_files(
    dir: &Path,
    manifest: Option<&ManifestState>,
    dict: Option<&Arc<ZstdDictionary>>,
    found: &mut Findings,
) -> Result<(), ToolError> {
    let on_disk = blob_files(dir)?;
    let to_check: Vec<PathBuf> = match manifest {
        Some(manifest) => {
            let named = &manifest.replayed.blob_files;
            for (id, path) in &on_disk {
                if !named.contains(id) {
                    found.warnings.push(format!(
                        "orphan blob file {}: named by no manifest (the next open deletes it)",
                        path.display()
                    ));
                }
            }
            named.iter().map(|id| blob_path(dir, *id)).collect()
        }
        None => on_disk.into_iter().map(|(_, path)| path).collect(),
    };
    for path in to_check {
        let Some(size) = stat(&path)? else {
            found.damages.push(format!(
                "missing blob file {}: named by the manifest",
                path.display()
            ));
            continue;
        };
        found.blob_files += 1;
        found.files += 1;
        // The same walk as `strata::verify::verify_integrity` over a blob file.
        match dump_blob_file(&path, dict, |_| {}) {
            Ok(records) => {
                found.blob_records += records;
                found.bytes += size;
            }
            Err(err) => {
                if found.engine_error(&err) {
                    found.blob_files -= 1;
                    found.files -= 1;
                }
            }
        }
    }
    Ok(())
}

/// Verifies the tree or database at `args.dir`; see the module documentation.
pub(crate) fn run(args: &VerifyArgs) -> Result<(), ToolError> {
    let dir = args.dir.as_path();
    if !StdFs.exists(dir).unwrap_or(false) {
        return Err(ToolError::Failed(format!(
            "{} does not exist",
            dir.display()
        )));
    }
    let dict = args.dict.load()?;
    let mut found = Findings::default();
    let summary = if is_database(dir)? {
        let folder = DatabaseFolder::read(dir)?;
        verify_database(&folder, dict.as_ref(), &mut found)?;
        database_summary(&folder, &found)
    } else {
        let manifest = verify_tree(dir, dict.as_ref(), &mut found)?;
        tree_summary(manifest.as_deref(), &found)
    };
    let unchecked = count(found.unreadable.len() as u64, "file");
    let (they, need) = if found.unreadable.len() == 1 {
        ("it", "needs")
    } else {
        ("they", "need")
    };
    with_stdout(|out| {
        for line in &found.damages {
            writeln!(out, "damage: {line}")?;
        }
        for line in &found.unreadable {
            writeln!(out, "unreadable: {line}")?;
        }
        for line in &found.warnings {
            writeln!(out, "warning: {line}")?;
        }
        if !found.damages.is_empty() {
            writeln!(
                out,
                "damaged: {}; {summary}",
                count(found.damages.len() as u64, "damage")
            )?;
        } else if !found.unreadable.is_empty() {
            writeln!(
                out,
                "incomplete: {unchecked} not checked (no matching zstd dictionary); {summary}"
            )?;
        } else {
            writeln!(out, "clean: {summary}")?;
        }
        Ok(())
    })?;
    if !found.damages.is_empty() {
        return Err(ToolError::Failed(format!(
            "{} holds {} (listed above)",
            dir.display(),
            count(found.damages.len() as u64, "damage")
        )));
    }
    if found.unreadable.is_empty() {
        return Ok(());
    }
    let needed: Vec<String> = found
        .needed_dictionaries
        .iter()
        .map(u32::to_string)
        .collect();
    let given = match &dict {
        Some(dict) => format!(" (the --dict file is dictionary {})", dict.id()),
        None => String::new(),
    };
    Err(ToolError::Failed(format!(
        "{}: {unchecked} not checked: {they} {need} zstd dictionary {}{given}; pass its file \
         with --dict FILE",
        dir.display(),
        needed.join(", ")
    )))
}

/// Verifies the tree at `dir` into `found`, decompressing with the zstd dictionary `dict`;
/// returns its manifest's name, if it has a readable one. An error if `dir` holds no tree at all.
fn verify_tree(
    dir: &Path,
    dict: Option<&Arc<ZstdDictionary>>,
    found: &mut Findings,
) -> Result<Option<String>, ToolError> {
    let on_disk = table_files(dir)?;
    let manifest = read_state(dir, &on_disk, found)?;
    let to_check = match &manifest {
        Some(manifest) => check_manifest(dir, manifest, &on_disk, found),
        None => on_disk.clone(),
    };
    let mut present = Vec::with_capacity(to_check.len());
    for (id, path) in to_check {
        if stat(&path)?.is_none() {
            found.damages.push(format!(
                "missing table file {}: named by the manifest",
                path.display()
            ));
        } else {
            present.push((id, path));
        }
    }
    // The same walk as `strata::verify::verify_integrity`, over the files the manifest names.
    let checked = verify_tables_with_dictionary(present, dict.map(Arc::as_ref));
    let before = (found.damages.len(), found.unreadable.len());
    let mut unreadable = 0;
    for damage in &checked.report.errors {
        unreadable += u64::from(found.engine_error(&damage.error));
    }
    let tables = (checked.report.sst_files_checked as u64).saturating_sub(unreadable);
    found.tables += tables;
    found.files += tables;
    found.blocks += checked.blocks_checked;
    found.bytes += checked.bytes_checked;
    check_blob_files(dir, manifest.as_ref(), dict, found)?;
    // NB: a tree in a custom comparator's order cannot be opened without it (the warning above
    // says its order is not checked); that is no damage.
    let default_order = manifest.as_ref().is_some_and(|m| {
        matches!(
            m.replayed.comparator.as_deref(),
            Some(DEFAULT_COMPARATOR | LEGACY_DEFAULT_COMPARATOR)
        )
    });
    if (found.damages.len(), found.unreadable.len()) == before
        && default_order
        && let Err(err) = ReadOnlyTree::open_with_dictionary(dir, dict.cloned())
    {
        found.engine_error(&err);
    }
    Ok(manifest.map(|m| m.name))
}

/// The summary line of a tree.
fn tree_summary(manifest: Option<&str>, found: &Findings) -> String {
    let mut parts = Vec::new();
    if found.current {
        parts.push("CURRENT".to_string());
    }
    parts.push(match manifest {
        Some(name) => format!("{name} with {}", count(found.records as u64, "record")),
        None => "no readable manifest".to_string(),
    });
    summary_of(parts, found)
}

/// The counts every summary ends with: tables, blob files, blocks and bytes.
fn summary_of(mut parts: Vec<String>, found: &Findings) -> String {
    parts.push(count(found.tables, "table"));
    let mut read = vec![count(found.blocks, "block")];
    if found.blob_files > 0 {
        parts.push(count(found.blob_files, "blob file"));
        read.push(count(found.blob_records, "blob record"));
    }
    format!(
        "{} ({}), {}, {} checked",
        count(found.files, "file"),
        parts.join(", "),
        read.join(", "),
        count(found.bytes, "byte")
    )
}

/// Verifies a database into `found`: `VERSION`, the catalog, every WAL record and recovery's
/// rules across segments, then each keyspace's tree (with the zstd dictionary `dict`).
fn verify_database(
    folder: &DatabaseFolder,
    dict: Option<&Arc<ZstdDictionary>>,
    found: &mut Findings,
) -> Result<(), ToolError> {
    let dir = &folder.dir;
    let version = dir.join("VERSION");
    match &folder.version {
        Ok(true) => {
            found.files += 1;
            found.bytes += stat(&version)?.unwrap_or(0);
        }
        Ok(false) => found.warnings.push(format!(
            "{} is missing (the next open writes it)",
            version.display()
        )),
        Err(err) => found.damages.push(err.to_string()),
    }
    match &folder.catalog {
        Ok(Some(catalog)) => {
            found.files += 1;
            found.bytes += catalog.size_bytes;
        }
        Ok(None) if !folder.keyspace_dirs.is_empty() => found.damages.push(format!(
            "{} has no CATALOG but {}: an open would delete them as orphans",
            dir.display(),
            count(folder.keyspace_dirs.len() as u64, "keyspace folder")
        )),
        Ok(None) => {}
        Err(err) => found.damages.push(err.to_string()),
    }
    verify_wal(folder, found);
    verify_pending_logs(folder, found)?;
    for path in folder.orphan_keyspace_dirs() {
        found.warnings.push(format!(
            "orphan keyspace folder {}: named by no catalog entry (the next open deletes it)",
            path.display()
        ));
    }
    for (id, name, path) in folder.keyspaces() {
        if !path.is_dir() {
            found.damages.push(format!(
                "keyspace {name:?} (id {id}): its folder {} is missing",
                path.display()
            ));
            continue;
        }
        found.keyspaces += 1;
        match verify_tree(&path, dict, found) {
            Ok(Some(_)) => found.manifests += 1,
            Ok(None) => {}
            Err(err) => found
                .damages
                .push(format!("keyspace {name:?} (id {id}): {err}")),
        }
    }
    Ok(())
}

/// Every WAL segment's records, then recovery's verdict on the whole WAL.
fn verify_wal(folder: &DatabaseFolder, found: &mut Findings) {
    let last = folder.segments.last().map(|s| s.id);
    for segment in &folder.segments {
        found.files += 1;
        found.wal_segments += 1;
        found.bytes += segment.size_bytes;
        found.wal_records += u64::from(segment.header.is_some()) + segment.batches;
        match &segment.end {
            WalEnd::Clean | WalEnd::Preallocated { .. } => {}
            WalEnd::Torn { offset } => found.warnings.push(format!(
                "{} ends in a torn tail at offset {offset}: a write cut short, never acknowledged{}",
                segment.path.display(),
                if Some(segment.id) == last {
                    " (recovery ignores it)"
                } else {
                    ""
                }
            )),
            WalEnd::Damaged(err) => found.damages.push(err.to_string()),
        }
    }
    for path in folder.discarded_with_data() {
        found.warnings.push(format!(
            "{}: recovery deletes it unread (it follows a segment that lost a tail of writes never synced, or its header never became durable)",
            path.display()
        ));
    }
    if let Err(err) = &folder.recovery {
        let text = err.to_string();
        if !found.damages.contains(&text) {
            found.damages.push(text);
        }
    }
}

/// Every pending log (the logged writes of a keyspace with a custom comparator that an open
/// could not replay yet): read whole as an open reads it; leftovers of a crash are warnings.
fn verify_pending_logs(folder: &DatabaseFolder, found: &mut Findings) -> Result<(), ToolError> {
    let named: BTreeSet<u64> = folder.keyspaces().into_iter().map(|(id, ..)| id).collect();
    for (id, path) in strata::internals::pending_log_files(&folder.dir)? {
        if !named.contains(&id) {
            found.warnings.push(format!(
                "{}: the pending log of keyspace id {id}, which no catalog entry names (the next open deletes it)",
                path.display()
            ));
            continue;
        }
        match strata::internals::read_pending_log(&folder.dir, id) {
            Ok(items) => {
                found.files += 1;
                found.pending_logs += 1;
                found.bytes += stat(&path)?.unwrap_or(0);
                found.records += items.len();
            }
            Err(err) => found.damages.push(err.to_string()),
        }
    }
    for path in strata::internals::pending_leftovers(&folder.dir)? {
        found.warnings.push(format!(
            "{}: a pending log a crash left unfinished (the next open deletes it)",
            path.display()
        ));
    }
    Ok(())
}

/// The summary line of a database.
fn database_summary(folder: &DatabaseFolder, found: &Findings) -> String {
    let mut parts = Vec::new();
    if matches!(folder.version, Ok(true)) {
        parts.push("VERSION".to_string());
    }
    if let Ok(Some(catalog)) = &folder.catalog {
        parts.push(format!(
            "CATALOG with {}",
            count(catalog.keyspaces.len() as u64, "keyspace")
        ));
    }
    parts.push(format!(
        "{} with {}",
        count(found.wal_segments, "WAL segment"),
        count(found.wal_records, "record")
    ));
    if found.pending_logs > 0 {
        parts.push(count(found.pending_logs, "pending log"));
    }
    parts.push(format!(
        "{} of {} with {}",
        count(found.manifests, "manifest"),
        count(found.keyspaces, "keyspace"),
        count(found.records as u64, "record")
    ));
    summary_of(parts, found)
}
