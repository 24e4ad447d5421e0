//! Opening a tree's directory: create a new tree, or recover the last version.
//!
//! Recovery protocol:
//! 1. Read `CURRENT`. Without it, the directory is a new tree, unless table files exist (then
//!    `CURRENT` was lost, which is corruption: refusing is safer than starting empty).
//! 2. Replay the manifest `CURRENT` names (a torn last record is ignored; other damage is
//!    `Error::Corruption`), giving the tables of every level and run, the next table id, the highest
//!    seqno, the comparator name and the format version. Refuse another comparator
//!    (`ComparatorMismatch`) or another format version (`UnsupportedFormat`).
//! 3. Open every table the version names (a missing or damaged one is an error).
//! 4. Go on appending to that manifest if it ends cleanly, is in the current framing and is below
//!    the rewrite bound (syncing it first); otherwise write a fresh manifest holding one snapshot
//!    of the recovered state, numbered one above every manifest in the directory, and point
//!    `CURRENT` at it. The next table id is above every id the manifest records or names and
//!    every table file on disk, so an id is never reused.
//! 5. Only then delete what no version names: other manifests, `CURRENT.tmp`, and table files
//!    left by a flush that crashed before its edit was durable.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::edit::{ShapeIndex, VersionEdit};
use super::manifest::{ManifestWriter, read_current, read_manifest_records};
use super::{Level, Run, Shape, Version};
use crate::config::Config;
use crate::error::{CorruptionKind, Error, Result};
use crate::fs::Fs;
use crate::layout::{self, MAX_FILE_NUMBER, manifest_number, table_path};
use crate::seqno::{MAX_SEQNO, SeqNo};
use crate::table::meta::{FORMAT_VERSION, OLDEST_FORMAT_VERSION};
use crate::table::reader::{Table, TableContext};

/// The state a tree opens with.
pub(crate) struct Recovered {
    pub(crate) version: Version,
    pub(crate) next_table_id: u64,
    pub(crate) highest_seqno: Option<SeqNo>,
    pub(crate) durable_through: Option<SeqNo>,
    pub(crate) manifest: ManifestWriter,
}

/// The edit that recreates `version` with its counters from nothing.
pub(crate) fn snapshot(
    comparator: &str,
    version: &Version,
    next_table_id: u64,
    highest_seqno: Option<SeqNo>,
    durable_through: Option<SeqNo>,
) -> VersionEdit {
    let mut add_runs = Vec::new();
    for (level, contents) in version.levels.iter().enumerate() {
        // Runs are added newest first by replay, so the oldest goes first.
        for run in contents.runs.iter().rev() {
            let ids = run.tables().iter().map(|t| t.meta().table_id).collect();
            add_runs.push((u8::try_from(level).unwrap_or(u8::MAX), ids));
        }
    }
    VersionEdit {
        comparator: Some(comparator.to_string()),
        format_version: Some(FORMAT_VERSION),
        next_table_id: Some(next_table_id),
        highest_seqno,
        add_runs,
        durable_through,
        table_seqnos: version.shape().table_seqnos.into_iter().collect(),
        add_blob_files: version.blob_files.keys().copied().collect(),
        table_blob_refs: version
            .blob_refs
            .iter()
            .map(|(table, refs)| (*table, refs.clone()))
            .collect(),
        ..VersionEdit::default()
    }
}

/// The blob files in `blobs_dir` (named `<id>.blob`), with their ids. Other files are not
/// Strata's: they are neither listed nor ever deleted. A missing folder holds none.
pub(crate) fn list_blob_files(fs: &dyn Fs, blobs_dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    if !fs
        .exists(blobs_dir)
        .map_err(|e| Error::io("stat directory", Some(blobs_dir.to_path_buf()), e))?
    {
        return Ok(Vec::new());
    }
    let names = fs
        .list(blobs_dir)
        .map_err(|e| Error::io("list directory", Some(blobs_dir.to_path_buf()), e))?;
    Ok(names
        .into_iter()
        .filter_map(|p| {
            let id = layout::blob_id(p.file_name()?.to_str()?)?;
            Some((id, p))
        })
        .collect())
}

/// The table files in `tables_dir` (named `<id>.sst` with an id a table can have), with their
/// ids, in no particular order. Other files are not Strata's: they are neither listed nor ever
/// deleted.
pub(crate) fn list_table_files(fs: &dyn Fs, tables_dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let names = fs
        .list(tables_dir)
        .map_err(|e| Error::io("list directory", Some(tables_dir.to_path_buf()), e))?;
    Ok(names
        .into_iter()
        .filter_map(|p| {
            let id = layout::table_id(p.file_name()?.to_str()?)?;
            Some((id, p))
        })
        .collect())
}

/// Creates or recovers the tree in `config.path`; see the module documentation.
pub(crate) fn recover(config: &Config, tables_dir: &Path, ctx: &TableContext) -> Result<Recovered> {
    let fs = config.fs.as_ref();
    let dir = config.path.as_path();
    let table_files = list_table_files(fs, tables_dir)?;
    let blobs_dir = dir.join(layout::BLOBS_FOLDER);
    let blob_files = list_blob_files(fs, &blobs_dir)?;
    let Some(current) = read_current(fs, dir)? else {
        if !table_files.is_empty() || !blob_files.is_empty() {
            return Err(Error::Corruption {
                file: dir.join(layout::CURRENT),
                offset: 0,
                what: CorruptionKind::InvalidField("CURRENT is missing but table files exist"),
            });
        }
        remove_stray_manifests(config, None)?;
        let manifest = ManifestWriter::create(
            Arc::clone(&config.fs),
            dir,
            1,
            &snapshot(ctx.cmp.name(), &Version::default(), 0, None, None),
        )?;
        return Ok(Recovered {
            version: Version::default(),
            next_table_id: 0,
            highest_seqno: None,
            durable_through: None,
            manifest,
        });
    };
    let current_number = manifest_number(&current).ok_or_else(|| Error::Corruption {
        file: dir.join(layout::CURRENT),
        offset: 0,
        what: CorruptionKind::InvalidField("manifest number"),
    })?;
    let manifest_path = dir.join(&current);
    let records = read_manifest_records(fs, &manifest_path)?;
    let reusable = records.reusable(config.manifest_rewrite_bytes);
    let manifest_size = records.size_bytes;
    let replayed = replay(
        records.edits.into_iter().map(|(_, edit)| edit).collect(),
        &manifest_path,
    )?;
    check_replayed(&replayed, &manifest_path, ctx.cmp.name())?;
    let highest_seqno = replayed.highest_seqno;
    let durable_through = replayed.durable_through;
    let (mut version, table_ids) = open_tables(&replayed.shape(), tables_dir, ctx)?;
    open_blob_files(&mut version, &replayed.shape(), &blobs_dir, ctx)?;
    // Never reuse the id of a table or blob file present on disk, named or not (ids are bounded
    // far below u64::MAX, so this cannot overflow).
    let next_table_id = table_ids
        .iter()
        .chain(table_files.iter().map(|(id, _)| id))
        .chain(version.blob_files.keys())
        .chain(blob_files.iter().map(|(id, _)| id))
        .map(|n| n.saturating_add(1))
        .fold(replayed.next_table_id, u64::max);
    let (manifest, kept) = if let Some(mut manifest) = reusable
        .then(|| ManifestWriter::reopen(Arc::clone(&config.fs), dir, current_number, manifest_size))
        .transpose()?
        .flatten()
    {
        if next_table_id != replayed.next_table_id {
            manifest.append(&VersionEdit {
                next_table_id: Some(next_table_id),
                ..VersionEdit::default()
            })?;
        }
        (manifest, current_number)
    } else {
        let snapshot = snapshot(
            ctx.cmp.name(),
            &version,
            next_table_id,
            highest_seqno,
            durable_through,
        );
        new_manifest(config, current_number, &snapshot)?
    };
    // The manifest is durable: what no version names can go.
    for (id, path) in &table_files {
        if !table_ids.contains(id) {
            let _ = config.fs.remove(path);
        }
    }
    for (id, path) in &blob_files {
        if !version.blob_files.contains_key(id) {
            let _ = config.fs.remove(path);
        }
    }
    remove_stray_manifests(config, Some(kept))?;
    Ok(Recovered {
        version,
        next_table_id,
        highest_seqno,
        durable_through,
        manifest,
    })
}

/// Writes a new manifest holding `snapshot`, numbered one above every manifest present (so a
/// stray one, a rewrite that crashed before `CURRENT` named it, is never overwritten), and
/// points `CURRENT` at it.
fn new_manifest(
    config: &Config,
    current_number: u64,
    snapshot: &VersionEdit,
) -> Result<(ManifestWriter, u64)> {
    let dir = config.path.as_path();
    let number = manifest_numbers(config)?
        .into_iter()
        .chain(std::iter::once(current_number))
        .max()
        .and_then(|n| n.checked_add(1))
        .filter(|n| *n <= MAX_FILE_NUMBER)
        .ok_or_else(|| Error::Corruption {
            file: dir.join(layout::CURRENT),
            offset: 0,
            what: CorruptionKind::InvalidField("manifest number"),
        })?;
    let manifest = ManifestWriter::create(Arc::clone(&config.fs), dir, number, snapshot)?;
    Ok((manifest, number))
}

/// What replaying a manifest's edits yields.
#[derive(Debug)]
pub struct Replayed {
    /// The comparator name the manifest records (`None` if no edit recorded one).
    pub comparator: Option<String>,
    /// The format version the manifest records.
    pub format_version: Option<u32>,
    /// The next table id.
    pub next_table_id: u64,
    /// The highest seqno of any table.
    pub highest_seqno: Option<SeqNo>,
    /// The last durable-through seqno recorded: every write with a lower seqno is in a table
    /// (`docs/format.md`, tag 7).
    pub durable_through: Option<SeqNo>,
    /// Per level (7 of them), its runs in read order (level 0: newest first), each the ids of its
    /// tables in key order.
    pub levels: Vec<Vec<Vec<u64>>>,
    /// The ingested tables (by id) and the seqno all their entries read at (`docs/format.md`,
    /// tag 9).
    pub table_seqnos: std::collections::BTreeMap<u64, SeqNo>,
    /// The blob files (`docs/format.md`, tag 10).
    pub blob_files: std::collections::BTreeSet<u64>,
    /// Per table, the blob files it points into and the bytes it reaches in each (tag 11).
    pub blob_refs: std::collections::BTreeMap<u64, Vec<(u64, u64)>>,
}

impl Replayed {
    /// Every table id the manifest names, level by level, run by run.
    #[cfg(feature = "internals")]
    pub fn table_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.levels.iter().flatten().flatten().copied()
    }

    /// The replayed tables as a [`Shape`].
    pub(crate) fn shape(&self) -> Shape {
        Shape {
            levels: self.levels.clone(),
            table_seqnos: self.table_seqnos.clone(),
            blob_files: self.blob_files.clone(),
            blob_refs: self.blob_refs.clone(),
        }
    }
}

/// Replays `edits` from nothing (`docs/format.md`, 10.3) through [`VersionEdit::apply`], the
/// same code live commits use; touches no file. Numbers read from disk are bounded here: a next
/// table id or a table id past [`MAX_FILE_NUMBER`], or a highest seqno at or past
/// [`MAX_SEQNO`] (a tree whose next write would have no seqno left), is corruption.
pub(crate) fn replay(edits: Vec<VersionEdit>, manifest_path: &Path) -> Result<Replayed> {
    replay_with(edits, manifest_path, true)
}

/// [`replay`] of the manifest's scalars only (comparator, format version, next table id,
/// highest and durable-through seqnos, each bounded as there): the tables and blob files are
/// not replayed (`levels` and the rest come back empty), so that a database can learn its
/// keyspaces' seqnos at open without replaying each manifest twice (the tree's own open
/// replays it whole, and refuses a manifest whose edits do not apply).
pub(crate) fn replay_scalars(edits: Vec<VersionEdit>, manifest_path: &Path) -> Result<Replayed> {
    replay_with(edits, manifest_path, false)
}

fn replay_with(edits: Vec<VersionEdit>, manifest_path: &Path, tables: bool) -> Result<Replayed> {
    let corrupt = |what| Error::Corruption {
        file: manifest_path.to_path_buf(),
        offset: 0,
        what,
    };
    let mut shape = Shape::default();
    let mut state = Replayed {
        comparator: None,
        format_version: None,
        next_table_id: 0,
        highest_seqno: None,
        durable_through: None,
        levels: Vec::new(),
        table_seqnos: std::collections::BTreeMap::new(),
        blob_files: std::collections::BTreeSet::new(),
        blob_refs: std::collections::BTreeMap::new(),
    };
    let mut index = ShapeIndex::default();
    for edit in edits {
        if tables {
            edit.apply_indexed(&mut shape, &mut index)
                .map_err(corrupt)?;
        }
        if edit
            .next_table_id
            .is_some_and(|n| n > MAX_FILE_NUMBER.saturating_add(1))
        {
            return Err(corrupt(CorruptionKind::InvalidField("next table id")));
        }
        if edit.highest_seqno.is_some_and(|s| s >= MAX_SEQNO)
            || edit.durable_through.is_some_and(|s| s > MAX_SEQNO)
            || edit.table_seqnos.iter().any(|(_, s)| *s >= MAX_SEQNO)
        {
            return Err(corrupt(CorruptionKind::InvalidField("highest seqno")));
        }
        state.comparator = edit.comparator.or(state.comparator);
        state.format_version = edit.format_version.or(state.format_version);
        state.next_table_id = edit.next_table_id.unwrap_or(state.next_table_id);
        state.highest_seqno = edit.highest_seqno.max(state.highest_seqno);
        state.durable_through = edit.durable_through.or(state.durable_through);
    }
    if shape
        .ids()
        .chain(shape.blob_files.iter().copied())
        .any(|id| id > MAX_FILE_NUMBER)
    {
        return Err(corrupt(CorruptionKind::InvalidField("table id")));
    }
    state.levels = shape.levels;
    state.table_seqnos = shape.table_seqnos;
    state.blob_files = shape.blob_files;
    state.blob_refs = shape.blob_refs;
    Ok(state)
}

/// Checks that a replayed manifest names `comparator` and this build's format version.
pub(crate) fn check_replayed(
    replayed: &Replayed,
    manifest_path: &Path,
    comparator: &str,
) -> Result<()> {
    let stored = replayed
        .comparator
        .as_deref()
        .ok_or_else(|| Error::Corruption {
            file: manifest_path.to_path_buf(),
            offset: 0,
            what: CorruptionKind::InvalidField("missing comparator"),
        })?;
    if !crate::key::comparator_names_match(stored, comparator) {
        return Err(Error::ComparatorMismatch {
            stored: stored.to_string(),
            supplied: comparator.to_string(),
        });
    }
    if !replayed
        .format_version
        .is_some_and(|v| (OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&v))
    {
        return Err(Error::UnsupportedFormat {
            file: manifest_path.to_path_buf(),
            version: replayed.format_version.unwrap_or(0),
            missing: None,
        });
    }
    Ok(())
}

/// Opens the tables of `levels` (reading only); returns the version and the ids it names.
pub(crate) fn open_tables(
    shape: &Shape,
    tables_dir: &Path,
    ctx: &TableContext,
) -> Result<(Version, std::collections::HashSet<u64>)> {
    let mut version = Version::default();
    let mut ids_named = std::collections::HashSet::new();
    for (level, runs) in shape.levels.iter().enumerate() {
        let mut opened_runs = Vec::with_capacity(runs.len());
        let level_ctx = ctx.at_level(level);
        for ids in runs {
            let mut tables = Vec::with_capacity(ids.len());
            for &id in ids {
                let path = table_path(tables_dir, id);
                let table = match shape.table_seqnos.get(&id) {
                    Some(&seqno) => Table::open_ingested(&path, &level_ctx, seqno)?,
                    None => Table::open(&path, &level_ctx)?,
                };
                if table.meta().table_id != id {
                    return Err(Error::Corruption {
                        file: path,
                        offset: 0,
                        what: CorruptionKind::InvalidField("table id"),
                    });
                }
                ids_named.insert(id);
                tables.push(Arc::new(table));
            }
            // A run's tables must be sorted with disjoint key ranges; a manifest that says
            // otherwise would make reads wrong, so it is corruption.
            for pair in tables.windows(2) {
                if let [a, b] = pair
                    && !a.ends_before(&b.meta().min_key)
                {
                    return Err(Error::Corruption {
                        file: b.path().to_path_buf(),
                        offset: 0,
                        what: CorruptionKind::InvalidField("run order"),
                    });
                }
            }
            opened_runs.push(Arc::new(Run::new(tables)));
        }
        if let Some(slot) = version.levels.get_mut(level) {
            *slot = Level { runs: opened_runs };
        }
    }
    version.range_tombstones();
    Ok((version, ids_named))
}

/// Opens the blob files `shape` names into `version`. A missing or damaged one is an error,
/// and so is a table's reference to more bytes of a blob file than the file holds.
pub(crate) fn open_blob_files(
    version: &mut Version,
    shape: &Shape,
    blobs_dir: &Path,
    ctx: &TableContext,
) -> Result<()> {
    for &id in &shape.blob_files {
        let path = layout::blob_path(blobs_dir, id);
        let file = crate::blob::BlobFile::open(
            id,
            &path,
            &ctx.fs,
            &ctx.cache,
            ctx.descriptors.as_ref(),
            ctx.dictionary.as_ref(),
        )?
        .with_encryption(ctx.encryption.clone());
        version.blob_files.insert(id, Arc::new(file));
    }
    version.blob_refs.clone_from(&shape.blob_refs);
    for (id, live) in version.live_blob_bytes() {
        if let Some(file) = version.blob_files.get(&id)
            && live > file.record_bytes()
        {
            return Err(Error::Corruption {
                file: file.path().to_path_buf(),
                offset: 0,
                what: CorruptionKind::InvalidField(
                    "tables point to more bytes than the blob file holds",
                ),
            });
        }
    }
    Ok(())
}

/// The numbers of the manifest files in the tree's directory.
fn manifest_numbers(config: &Config) -> Result<Vec<u64>> {
    let dir = config.path.as_path();
    let entries = config
        .fs
        .list(dir)
        .map_err(|e| Error::io("list directory", Some(dir.to_path_buf()), e))?;
    Ok(entries
        .iter()
        .filter_map(|path| manifest_number(path.file_name()?.to_str()?))
        .collect())
}

/// Removes manifests other than `keep` and a leftover `CURRENT.tmp`.
fn remove_stray_manifests(config: &Config, keep: Option<u64>) -> Result<()> {
    let dir = config.path.as_path();
    let entries = config
        .fs
        .list(dir)
        .map_err(|e| Error::io("list directory", Some(dir.to_path_buf()), e))?;
    for path in entries {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let stray = match manifest_number(name) {
            Some(number) => Some(number) != keep,
            None => name == layout::CURRENT_TMP,
        };
        if stray {
            // NB: best effort; a leftover is removed at the next open.
            let _ = config.fs.remove(&path);
        }
    }
    Ok(())
}
