//! `--dict FILE`: the zstd dictionary a tree's tables and blob files were compressed with, for
//! every tool that reads them.
//!
//! A table or blob file written with `CompressionType::ZstdDict` records the id of its
//! dictionary (`ZstdDictionary::id`, a hash of the dictionary's bytes) and cannot be read
//! without it: the engine returns `Error::DictionaryMismatch`. The file holds the dictionary's
//! raw bytes, as `strata train-dict` writes them and as `ZstdDictionary::new` takes them (what
//! `ZstdDictionary::raw` returns). Without `--dict`, such a file gives an error that names the
//! dictionary id it needs and points at `--dict` ([`mismatch_message`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use strata::ZstdDictionary;
use strata::fs::{Fs, StdFs};

use super::output::ToolError;

/// `--dict FILE`, flattened into the arguments of each tool that reads tables or blob files.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct DictArg {
    /// The zstd dictionary the tables and blob files were compressed with
    /// (`CompressionType::ZstdDict`): a file of its raw bytes, as `strata train-dict` writes it.
    /// Files that name no dictionary are read as usual.
    #[arg(long, value_name = "FILE")]
    dict: Option<PathBuf>,
}

impl DictArg {
    /// The dictionary `--dict` names, read from its file; `None` without `--dict`.
    pub(crate) fn load(&self) -> Result<Option<Arc<ZstdDictionary>>, ToolError> {
        self.dict.as_deref().map(load).transpose()
    }
}

/// Reads the dictionary file at `path`: its bytes are the dictionary.
fn load(path: &Path) -> Result<Arc<ZstdDictionary>, ToolError> {
    let cannot = |e: std::io::Error| {
        ToolError::Failed(format!(
            "cannot read the dictionary {}: {e}",
            path.display()
        ))
    };
    let file = StdFs.open(path).map_err(cannot)?;
    let size = file.size_bytes().map_err(cannot)?;
    let len = usize::try_from(size).map_err(|_| {
        ToolError::Failed(format!(
            "the dictionary {} is too large ({size} bytes)",
            path.display()
        ))
    })?;
    if len == 0 {
        return Err(ToolError::Failed(format!(
            "the dictionary {} is empty",
            path.display()
        )));
    }
    let mut raw = vec![0; len];
    file.read_exact_at(&mut raw, 0).map_err(cannot)?;
    Ok(Arc::new(ZstdDictionary::new(&raw)))
}

/// The message of an `Error::DictionaryMismatch`, worded for the tools: the dictionary id the
/// file needs, and `--dict` as the way to give it (or the id of the one `--dict` gave).
pub(crate) fn mismatch_message(file: &Path, stored: u32, supplied: Option<u32>) -> String {
    match supplied {
        None => format!(
            "{} is compressed with zstd dictionary {stored}: pass that dictionary's file with \
             --dict FILE (as `strata train-dict` writes it)",
            file.display()
        ),
        Some(supplied) => format!(
            "{} needs zstd dictionary {stored}, but the --dict file is dictionary {supplied}",
            file.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_needed_dictionary_and_the_flag() {
        let path = Path::new("t/tables/0.sst");
        let none = mismatch_message(path, 77, None);
        assert!(none.contains("t/tables/0.sst"), "{none}");
        assert!(none.contains("dictionary 77"), "{none}");
        assert!(none.contains("--dict FILE"), "{none}");
        let other = mismatch_message(path, 77, Some(5));
        assert!(
            other.contains("dictionary 77") && other.contains("dictionary 5"),
            "{other}"
        );
    }
}
