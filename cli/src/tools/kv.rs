//! `strata put | get | delete | scan | prefix`: one operation on the tree at a directory, or on
//! a keyspace of the database at a directory (`--keyspace NAME`).
//!
//! A tree: each command opens it with `Config::new(dir, seqno, visible_seqno).open()`, which runs
//! recovery (a fresh manifest is written and orphan tables are deleted) and holds the directory's
//! lock until the command ends. After the open, the seqno counter is one past the highest seqno
//! recovered: a write takes its seqno from it (`next()`), a read reads at its current value, which
//! sees every write made so far. `Tree` has no wal, so a write is flushed to a table before the
//! command returns; a write that did not flush is reported as an error.
//!
//! A database (a folder with `VERSION`, `CATALOG` or `wal/`): each command opens it with
//! `Database::builder(dir).open()`, which runs the database's recovery (the WAL replayed, a new
//! WAL segment started) and starts its workers, and opens the keyspace with
//! `KeyspaceCreateOptions::default()` (and the dictionary of `--dict`). A write goes through the
//! WAL and is synced (`persist(SyncAll)`) before the command returns; reads see every write made
//! so far. Only `put` creates a keyspace (or a database, in a missing or empty directory); the
//! others refuse a keyspace the catalog does not name, so that a mistyped name creates nothing.
//!
//! `--dict FILE` gives the zstd dictionary of a tree whose tables or blob files were compressed
//! with one (`Config::zstd_dictionary`, or `KeyspaceCreateOptions::zstd_dictionary` for a
//! keyspace): without it such a tree does not open. It is used to read; the tables a write
//! flushes are compressed by the default policy, which names no dictionary.
//!
//! Output: one line per key, `key<TAB>value`, in the encoding of [`Encoding`].

use std::io::Write;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use strata::fs::{Fs, StdFs};
use strata::internals::{is_database, read_catalog};
use strata::{
    Config, Database, Guard, IterGuardImpl, Keyspace, PersistMode, SequenceNumberCounter, Slice,
    Tree, ZstdDictionary,
};

use super::dict::DictArg;
use super::output::{Encoding, ToolError, with_stdout};

/// `--keyspace`: which keyspace of a database folder a command works on.
#[derive(Args, Debug, Clone)]
pub(crate) struct KeyspaceArg {
    /// The keyspace, when DIR holds a database (`put` creates it if it does not exist).
    #[arg(long, value_name = "NAME")]
    keyspace: Option<String>,
}

/// Arguments of `strata put`.
#[derive(Args, Debug)]
pub(crate) struct PutArgs {
    /// The tree's or database's directory (created if it does not exist).
    dir: PathBuf,
    /// The key.
    key: String,
    /// The value.
    value: String,
    #[command(flatten)]
    keyspace: KeyspaceArg,
    #[command(flatten)]
    dict: DictArg,
    #[command(flatten)]
    encoding: Encoding,
}

/// Arguments of `strata get` and `strata delete`.
#[derive(Args, Debug)]
pub(crate) struct KeyArgs {
    /// The tree's or database's directory.
    dir: PathBuf,
    /// The key.
    key: String,
    #[command(flatten)]
    keyspace: KeyspaceArg,
    #[command(flatten)]
    dict: DictArg,
    #[command(flatten)]
    encoding: Encoding,
}

/// Arguments of `strata scan`.
#[derive(Args, Debug)]
pub(crate) struct ScanArgs {
    /// The tree's or database's directory.
    dir: PathBuf,
    /// Start at this key (inclusive).
    #[arg(long, value_name = "KEY")]
    from: Option<String>,
    /// Stop before this key (exclusive).
    #[arg(long, value_name = "KEY")]
    to: Option<String>,
    /// Print the keys in descending order.
    #[arg(long)]
    reverse: bool,
    /// Print at most this many keys.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[command(flatten)]
    keyspace: KeyspaceArg,
    #[command(flatten)]
    dict: DictArg,
    #[command(flatten)]
    encoding: Encoding,
}

/// Arguments of `strata prefix`.
#[derive(Args, Debug)]
pub(crate) struct PrefixArgs {
    /// The tree's or database's directory.
    dir: PathBuf,
    /// Print the keys that start with this prefix.
    prefix: String,
    /// Print at most this many keys.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[command(flatten)]
    keyspace: KeyspaceArg,
    #[command(flatten)]
    dict: DictArg,
    #[command(flatten)]
    encoding: Encoding,
}

/// Whether `dir` holds a tree (its `CURRENT` exists).
fn holds_tree(dir: &Path) -> Result<bool, ToolError> {
    let current = dir.join("CURRENT");
    StdFs
        .exists(&current)
        .map_err(|e| ToolError::Failed(format!("cannot read {}: {e}", current.display())))
}

/// Refuses to start a new `what` in `dir` unless it is missing or empty, so that a mistyped path
/// never turns an unrelated directory into one.
fn refuse_unrelated(dir: &Path, what: &str) -> Result<(), ToolError> {
    if StdFs.exists(dir).unwrap_or(false) {
        let entries = StdFs
            .list(dir)
            .map_err(|e| ToolError::Failed(format!("cannot list {}: {e}", dir.display())))?;
        if !entries.is_empty() {
            return Err(ToolError::Failed(format!(
                "{} is not empty and holds no {what}: refusing to create one there",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// The keyspace names the catalog of the database `dir` records, for messages.
fn keyspace_names(dir: &Path) -> Result<Vec<String>, ToolError> {
    Ok(read_catalog(dir)?
        .map(|c| c.keyspaces.into_iter().map(|k| k.name).collect())
        .unwrap_or_default())
}

/// `names` for a message: `a, b` or `none`.
fn listed(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// Opens the tree at `dir` with the zstd dictionary `dict` (`--dict`). Only `create` may start a
/// new tree, and only in a missing or empty directory, so that a mistyped path never turns an
/// unrelated directory into a tree.
pub(crate) fn open(
    dir: &Path,
    create: bool,
    dict: Option<Arc<ZstdDictionary>>,
) -> Result<(Tree, SequenceNumberCounter), ToolError> {
    if !holds_tree(dir)? {
        if !create {
            return Err(ToolError::Failed(format!(
                "{} holds no tree (no CURRENT file)",
                dir.display()
            )));
        }
        refuse_unrelated(dir, "tree (no CURRENT file)")?;
    }
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(dir, seqno.clone(), SequenceNumberCounter::default())
        .zstd_dictionary(dict)
        .open()?;
    Ok((tree, seqno))
}

/// Opens keyspace `name` of the database at `dir` with the zstd dictionary `dict` (`--dict`).
/// Only `create` may start a new keyspace, or a new database in a missing or empty directory.
fn open_keyspace(
    dir: &Path,
    name: &str,
    create: bool,
    dict: Option<Arc<ZstdDictionary>>,
) -> Result<(Database, Keyspace), ToolError> {
    if holds_tree(dir)? {
        return Err(ToolError::Failed(format!(
            "{} holds a tree, not a database: leave out --keyspace",
            dir.display()
        )));
    }
    if is_database(dir)? {
        let names = keyspace_names(dir)?;
        if !create && !names.iter().any(|n| n == name) {
            return Err(ToolError::Failed(format!(
                "{} has no keyspace {name:?} (its keyspaces: {})",
                dir.display(),
                listed(&names)
            )));
        }
    } else if create {
        refuse_unrelated(dir, "database (no VERSION, CATALOG or wal/)")?;
    } else {
        return Err(ToolError::Failed(format!(
            "{} holds no database (no VERSION, CATALOG or wal/)",
            dir.display()
        )));
    }
    let options = super::database::tool_keyspace_options(dir, name, dict)?;
    let db = Database::builder(dir).open()?;
    let keyspace = db.keyspace(name, || options)?;
    Ok((db, keyspace))
}

/// What a command works on: a tree, or a keyspace of a database.
enum Store {
    Tree {
        tree: Tree,
        seqno: SequenceNumberCounter,
    },
    Keyspace {
        db: Database,
        keyspace: Keyspace,
    },
}

/// A boxed iterator of pairs, from either kind of store.
type Items = Box<dyn DoubleEndedIterator<Item = IterGuardImpl> + Send>;

impl Store {
    /// Opens `dir` as `--keyspace` says, with the dictionary of `--dict`; see the module
    /// documentation.
    fn open(
        dir: &Path,
        keyspace: &KeyspaceArg,
        dict: &DictArg,
        create: bool,
    ) -> Result<Self, ToolError> {
        match &keyspace.keyspace {
            Some(name) => {
                let (db, keyspace) = open_keyspace(dir, name, create, dict.load()?)?;
                Ok(Self::Keyspace { db, keyspace })
            }
            None if is_database(dir)? => Err(ToolError::Failed(format!(
                "{} holds a database: pass --keyspace NAME (its keyspaces: {})",
                dir.display(),
                listed(&keyspace_names(dir)?)
            ))),
            None => {
                let (tree, seqno) = open(dir, create, dict.load()?)?;
                Ok(Self::Tree { tree, seqno })
            }
        }
    }

    /// Writes `key` = `value` (`None`: deletes `key`) and makes it durable: a tree flushes it to
    /// a table, a database syncs its WAL.
    fn write(&self, key: Vec<u8>, value: Option<Vec<u8>>) -> Result<(), ToolError> {
        match self {
            Self::Tree { tree, seqno } => {
                match value {
                    Some(value) => tree.insert(key, value, seqno.next()),
                    None => tree.remove(key, seqno.next()),
                };
                // NB: threshold 0 keeps every version; the flush is what makes the write durable.
                tree.flush_active_memtable(0)?;
            }
            Self::Keyspace { db, keyspace } => {
                match value {
                    Some(value) => keyspace.insert(key, value)?,
                    None => keyspace.remove(key)?,
                }
                db.persist(PersistMode::SyncAll)?;
            }
        }
        Ok(())
    }

    /// The value of `key` as of every write so far.
    fn get(&self, key: &[u8]) -> Result<Option<Slice>, ToolError> {
        Ok(match self {
            Self::Tree { tree, seqno } => tree.get(key, seqno.get())?,
            Self::Keyspace { keyspace, .. } => keyspace.get(key)?,
        })
    }

    /// The pairs in `(lower, upper)`.
    fn range(&self, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>) -> Items {
        match self {
            Self::Tree { tree, seqno } => Box::new(tree.range((lower, upper), seqno.get(), None)),
            Self::Keyspace { keyspace, .. } => Box::new(keyspace.range((lower, upper))),
        }
    }

    /// The pairs whose keys start with `prefix`.
    fn prefix(&self, prefix: &[u8]) -> Items {
        match self {
            Self::Tree { tree, seqno } => Box::new(tree.prefix(prefix, seqno.get(), None)),
            Self::Keyspace { keyspace, .. } => Box::new(keyspace.prefix(prefix)),
        }
    }
}

/// Writes one key-value pair and makes it durable.
pub(crate) fn put(args: &PutArgs) -> Result<(), ToolError> {
    let key = args.encoding.parse(&args.key)?;
    let value = args.encoding.parse(&args.value)?;
    Store::open(&args.dir, &args.keyspace, &args.dict, true)?.write(key, Some(value))
}

/// Prints a key's value; a missing key is an error.
pub(crate) fn get(args: &KeyArgs) -> Result<(), ToolError> {
    let key = args.encoding.parse(&args.key)?;
    let store = Store::open(&args.dir, &args.keyspace, &args.dict, false)?;
    let Some(value) = store.get(&key)? else {
        return Err(ToolError::Failed(format!(
            "key not found: {}",
            args.encoding.show(&key)
        )));
    };
    with_stdout(|out| print_pair(out, args.encoding, &key, &value))
}

/// Deletes a key (writes a tombstone) and makes it durable.
pub(crate) fn delete(args: &KeyArgs) -> Result<(), ToolError> {
    let key = args.encoding.parse(&args.key)?;
    Store::open(&args.dir, &args.keyspace, &args.dict, false)?.write(key, None)
}

/// Prints the keys of a range.
pub(crate) fn scan(args: &ScanArgs) -> Result<(), ToolError> {
    let lower = match &args.from {
        Some(key) => Bound::Included(args.encoding.parse(key)?),
        None => Bound::Unbounded,
    };
    let upper = match &args.to {
        Some(key) => Bound::Excluded(args.encoding.parse(key)?),
        None => Bound::Unbounded,
    };
    let store = Store::open(&args.dir, &args.keyspace, &args.dict, false)?;
    let items = store.range(lower, upper);
    let items: Items = if args.reverse {
        Box::new(items.rev())
    } else {
        items
    };
    print_items(items, args.limit, args.encoding)
}

/// Prints the keys that start with a prefix.
pub(crate) fn prefix(args: &PrefixArgs) -> Result<(), ToolError> {
    let prefix = args.encoding.parse(&args.prefix)?;
    let store = Store::open(&args.dir, &args.keyspace, &args.dict, false)?;
    print_items(store.prefix(&prefix), args.limit, args.encoding)
}

fn print_items<G: Guard>(
    items: impl Iterator<Item = G>,
    limit: Option<usize>,
    encoding: Encoding,
) -> Result<(), ToolError> {
    with_stdout(|out| {
        for item in items.take(limit.unwrap_or(usize::MAX)) {
            let (key, value) = item.into_inner()?;
            print_pair(out, encoding, &key, &value)?;
        }
        Ok(())
    })
}

fn print_pair(
    out: &mut dyn Write,
    encoding: Encoding,
    key: &[u8],
    value: &[u8],
) -> Result<(), ToolError> {
    writeln!(out, "{}\t{}", encoding.show(key), encoding.show(value))?;
    Ok(())
}
