//! `strata put | get | delete | scan | prefix`: one operation on the tree at a directory.
//!
//! Each command opens the tree with `Config::new(dir, seqno, visible_seqno).open()`, which runs
//! recovery (a fresh manifest is written and orphan tables are deleted) and holds the directory's
//! lock until the command ends. After the open, the seqno counter is one past the highest seqno
//! recovered: a write takes its seqno from it (`next()`), a read reads at its current value, which
//! sees every write made so far. `Tree` has no wal, so a write is flushed to a table before the
//! command returns; a write that did not flush is reported as an error.
//!
//! Output: one line per key, `key<TAB>value`, in the encoding of [`Encoding`].

use std::io::Write;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use clap::Args;
use strata::fs::{Fs, StdFs};
use strata::{Config, Guard, SequenceNumberCounter, Tree};

use super::output::{Encoding, ToolError, with_stdout};

/// Arguments of `strata put`.
#[derive(Args, Debug)]
pub(crate) struct PutArgs {
    /// The tree's directory (created if it does not exist).
    dir: PathBuf,
    /// The key.
    key: String,
    /// The value.
    value: String,
    #[command(flatten)]
    encoding: Encoding,
}

/// Arguments of `strata get` and `strata delete`.
#[derive(Args, Debug)]
pub(crate) struct KeyArgs {
    /// The tree's directory.
    dir: PathBuf,
    /// The key.
    key: String,
    #[command(flatten)]
    encoding: Encoding,
}

/// Arguments of `strata scan`.
#[derive(Args, Debug)]
pub(crate) struct ScanArgs {
    /// The tree's directory.
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
    encoding: Encoding,
}

/// Arguments of `strata prefix`.
#[derive(Args, Debug)]
pub(crate) struct PrefixArgs {
    /// The tree's directory.
    dir: PathBuf,
    /// Print the keys that start with this prefix.
    prefix: String,
    /// Print at most this many keys.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
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

/// Opens the tree at `dir`. Only `create` may start a new tree, and only in a missing or empty
/// directory, so that a mistyped path never turns an unrelated directory into a tree.
pub(crate) fn open(dir: &Path, create: bool) -> Result<(Tree, SequenceNumberCounter), ToolError> {
    if !holds_tree(dir)? {
        if !create {
            return Err(ToolError::Failed(format!(
                "{} holds no tree (no CURRENT file)",
                dir.display()
            )));
        }
        if StdFs.exists(dir).unwrap_or(false) {
            let entries = StdFs
                .list(dir)
                .map_err(|e| ToolError::Failed(format!("cannot list {}: {e}", dir.display())))?;
            if !entries.is_empty() {
                return Err(ToolError::Failed(format!(
                    "{} is not empty and holds no tree (no CURRENT file): refusing to create one there",
                    dir.display()
                )));
            }
        }
    }
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(dir, seqno.clone(), SequenceNumberCounter::default()).open()?;
    Ok((tree, seqno))
}

/// Writes one key-value pair and flushes it.
pub(crate) fn put(args: &PutArgs) -> Result<(), ToolError> {
    let key = args.encoding.parse(&args.key)?;
    let value = args.encoding.parse(&args.value)?;
    let (tree, seqno) = open(&args.dir, true)?;
    tree.insert(key, value, seqno.next());
    // NB: threshold 0 keeps every version; the flush is what makes the write durable.
    tree.flush_active_memtable(0)?;
    Ok(())
}

/// Prints a key's value; a missing key is an error.
pub(crate) fn get(args: &KeyArgs) -> Result<(), ToolError> {
    let key = args.encoding.parse(&args.key)?;
    let (tree, seqno) = open(&args.dir, false)?;
    let Some(value) = tree.get(&key, seqno.get())? else {
        return Err(ToolError::Failed(format!(
            "key not found: {}",
            args.encoding.show(&key)
        )));
    };
    with_stdout(|out| print_pair(out, args.encoding, &key, &value))
}

/// Writes a tombstone for a key and flushes it.
pub(crate) fn delete(args: &KeyArgs) -> Result<(), ToolError> {
    let key = args.encoding.parse(&args.key)?;
    let (tree, seqno) = open(&args.dir, false)?;
    tree.remove(key, seqno.next());
    tree.flush_active_memtable(0)?;
    Ok(())
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
    let (tree, seqno) = open(&args.dir, false)?;
    let items = tree.range((lower, upper), seqno.get(), None);
    let items: Box<dyn Iterator<Item = _>> = if args.reverse {
        Box::new(items.rev())
    } else {
        Box::new(items)
    };
    print_items(items, args.limit, args.encoding)
}

/// Prints the keys that start with a prefix.
pub(crate) fn prefix(args: &PrefixArgs) -> Result<(), ToolError> {
    let prefix = args.encoding.parse(&args.prefix)?;
    let (tree, seqno) = open(&args.dir, false)?;
    print_items(
        tree.prefix(&prefix, seqno.get(), None),
        args.limit,
        args.encoding,
    )
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
