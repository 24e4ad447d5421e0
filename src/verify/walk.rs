//! The walk over a version's tables behind [`verify_integrity`] and, through
//! `strata::internals`, `strata verify`.

use std::path::{Path, PathBuf};

use super::report::{IntegrityError, IntegrityReport};
use crate::error::{CorruptionKind, Error};
use crate::fs::Fs;
use crate::key::Comparator;
use crate::table::verify::verify_table_with;
use crate::tree::Tree;

/// Reads every table of `tree`'s current version and checks every checksum and every block;
/// see the module documentation. Not a `Result`: damage and unreadable files are listed in the
/// report, and the walk goes on past them.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let tree = strata::Config::new(&dir, Default::default(), Default::default()).open()?;
/// for i in 0..3u8 {
///     tree.insert([i], "v", u64::from(i));
///     tree.flush_active_memtable(0)?;
/// }
/// let report = strata::verify::verify_integrity(&tree);
/// assert!(report.is_ok(), "{:?}", report.errors);
/// assert_eq!(report.sst_files_checked, tree.table_count());
/// # Ok::<(), strata::Error>(())
/// ```
pub fn verify_integrity(tree: &Tree) -> IntegrityReport {
    let version = tree.current_version();
    let tables = version
        .iter_tables()
        .map(|table| (table.id(), table.path().to_path_buf()));
    let mut report = verify_tables(
        tree.0.config.fs.as_ref(),
        &tree.0.cmp,
        tree.0.config.zstd_dictionary.as_deref(),
        tree.0.config.encryption.as_deref(),
        tables,
    )
    .report;
    let held = std::sync::Arc::clone(&tree.0.super_version.load().version);
    verify_blob_files(&held, &mut report);
    report
}

/// Reads every record of every blob file of `version` from disk and checks it (checksum,
/// framing, the footer's counts), and that no table points to more bytes of a file than it
/// holds; each damage is one error of `report`.
pub(crate) fn verify_blob_files(version: &crate::version::Version, report: &mut IntegrityReport) {
    let live = version.live_blob_bytes();
    for (id, file) in &version.blob_files {
        report.blob_files_checked += 1;
        if let Err(error) = file.scan(|_, _, _, _| Ok(())) {
            report
                .errors
                .push(IntegrityError::new(file.path().to_path_buf(), error));
            continue;
        }
        if live
            .get(id)
            .is_some_and(|bytes| *bytes > file.record_bytes())
        {
            report.errors.push(IntegrityError::new(
                file.path().to_path_buf(),
                Error::Corruption {
                    file: file.path().to_path_buf(),
                    offset: 0,
                    what: CorruptionKind::InvalidField(
                        "tables point to more bytes than the blob file holds",
                    ),
                },
            ));
        }
    }
}

/// What `strata::internals::verify_tables` read, for tools that report more than the [`IntegrityReport`].
///
/// Public only for `strata::internals` (feature `internals`): the module is private to the crate.
#[derive(Debug, Default)]
pub struct TablesChecked {
    /// The files checked and every damage found.
    pub report: IntegrityReport,
    /// Blocks read and verified, damaged or not.
    pub blocks_checked: u64,
    /// Bytes read and verified.
    pub bytes_checked: u64,
}

/// Verifies each table `(id, path)` with the block-by-block verifier, and that its meta block
/// records `id`: the one walk behind [`verify_integrity`] and `strata verify`.
pub(crate) fn verify_tables(
    fs: &dyn Fs,
    cmp: &Comparator,
    dictionary: Option<&crate::compression::ZstdDictionary>,
    encryption: Option<&dyn crate::EncryptionProvider>,
    tables: impl IntoIterator<Item = (u64, PathBuf)>,
) -> TablesChecked {
    let mut out = TablesChecked::default();
    for (id, path) in tables {
        out.report.sst_files_checked += 1;
        let check = match verify_table_with(fs, &path, cmp, dictionary, encryption) {
            Ok(check) => check,
            Err(error) => {
                out.report.errors.push(IntegrityError::new(path, error));
                continue;
            }
        };
        out.blocks_checked += check.blocks_checked;
        out.bytes_checked += check.bytes_checked;
        let wrong_id = check
            .meta
            .as_ref()
            .is_some_and(|meta| meta.table_id != id)
            .then(|| wrong_table_id(&path));
        out.report.errors.extend(
            check
                .damages
                .into_iter()
                .chain(wrong_id)
                .map(|error| IntegrityError::new(path.clone(), error)),
        );
    }
    out
}

/// The damage of a table whose meta block records another id than its file name (or version).
fn wrong_table_id(path: &Path) -> Error {
    Error::Corruption {
        file: path.to_path_buf(),
        offset: 0,
        what: CorruptionKind::InvalidField("table id (the meta block records another)"),
    }
}
