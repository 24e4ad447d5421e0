//! What the tools share: their error type, stdout handling, and how keys and values are read
//! from arguments and printed.
//!
//! Keys and values are given as UTF-8 strings, or as hex with `--hex`. They are printed the same
//! way: hex with `--hex`; otherwise as text in which a backslash, a tab, a newline, any other
//! control character and any byte that is not part of valid UTF-8 is escaped (`\\`, `\t`, `\n`,
//! `\x01`, `\u{85}`, `\xff`), so that one entry is always one line and `key<TAB>value` splits
//! unambiguously.

use std::fmt::{self, Write as _};
use std::io::{BufWriter, Write};
use std::path::Path;

use clap::Args;
use strata::fs::{Fs, StdFs};

/// Why a tool failed.
#[derive(Debug)]
pub(crate) enum ToolError {
    /// The engine returned an error (its message names the file and offset of any damage).
    Engine(strata::Error),
    /// A tool-level failure, already worded for the user.
    Failed(String),
    /// Writing to stdout failed.
    Output(std::io::Error),
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Engine(err) => f.write_str(&engine_message(err)),
            Self::Failed(message) => f.write_str(message),
            Self::Output(err) => write!(f, "writing to stdout: {err}"),
        }
    }
}

impl std::error::Error for ToolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Engine(err) => Some(err),
            Self::Output(err) => Some(err),
            Self::Failed(_) => None,
        }
    }
}

impl From<strata::Error> for ToolError {
    fn from(err: strata::Error) -> Self {
        Self::Engine(err)
    }
}

impl From<std::io::Error> for ToolError {
    fn from(err: std::io::Error) -> Self {
        Self::Output(err)
    }
}

/// An engine error as the tools print it: its own message, except for a zstd dictionary
/// mismatch, which says how to give the dictionary (`--dict`).
pub(crate) fn engine_message(err: &strata::Error) -> String {
    match err {
        strata::Error::DictionaryMismatch {
            file,
            stored,
            supplied,
        } => super::dict::mismatch_message(file, *stored, *supplied),
        other => other.to_string(),
    }
}

/// Runs `body` with a buffered stdout. A closed pipe (`strata scan DIR | head`) ends the output
/// quietly instead of failing.
pub(crate) fn with_stdout(
    body: impl FnOnce(&mut dyn Write) -> Result<(), ToolError>,
) -> Result<(), ToolError> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    let result = body(&mut out).and_then(|()| out.flush().map_err(ToolError::Output));
    match result {
        Err(ToolError::Output(err)) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// The size of the file at `path`.
pub(crate) fn file_size(path: &Path) -> Result<u64, ToolError> {
    StdFs
        .open(path)
        .and_then(|file| file.size_bytes())
        .map_err(|e| ToolError::Failed(format!("cannot read {}: {e}", path.display())))
}

/// `count` followed by `noun`, plural unless the count is 1: `1 table`, `3 tables`,
/// `2 batches`.
pub(crate) fn count(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else if noun.ends_with("ch") || noun.ends_with('s') {
        format!("{count} {noun}es")
    } else {
        format!("{count} {noun}s")
    }
}

/// Writes `rows` under `header` in columns two spaces apart, each as wide as its widest cell.
pub(crate) fn write_columns(
    out: &mut dyn Write,
    header: &[&str],
    rows: &[Vec<String>],
) -> Result<(), ToolError> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        let padded: Vec<String> = cells
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    writeln!(out, "{}", line(&mut header.iter().copied()))?;
    for row in rows {
        writeln!(out, "{}", line(&mut row.iter().map(String::as_str)))?;
    }
    Ok(())
}

/// How keys and values are given and printed: UTF-8 text, or hex.
#[derive(Args, Debug, Clone, Copy)]
pub(crate) struct Encoding {
    /// Give keys and values as hex (`6b6579` for "key") and print them as hex.
    #[arg(long)]
    pub(crate) hex: bool,
}

impl Encoding {
    /// The bytes an argument stands for.
    pub(crate) fn parse(self, arg: &str) -> Result<Vec<u8>, ToolError> {
        if self.hex {
            parse_hex(arg)
        } else {
            Ok(arg.as_bytes().to_vec())
        }
    }

    /// `bytes` as printed: hex, or escaped text.
    pub(crate) fn show(self, bytes: &[u8]) -> String {
        if self.hex { hex(bytes) } else { escape(bytes) }
    }

    /// The first `max_bytes` of `bytes` as printed, followed by `...` if anything was left out.
    /// In text, a character that the cut would split is left out whole.
    pub(crate) fn preview(self, bytes: &[u8], max_bytes: usize) -> String {
        let Some(mut head) = bytes.get(..max_bytes) else {
            return self.show(bytes);
        };
        if !self.hex
            && let Err(err) = std::str::from_utf8(head)
            && err.error_len().is_none()
        {
            // NB: the head ends inside a character: stop before it.
            head = head.get(..err.valid_up_to()).unwrap_or(head);
        }
        let mut shown = self.show(head);
        if head.len() < bytes.len() {
            shown.push_str("...");
        }
        shown
    }
}

/// Lowercase hex, two digits a byte.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // NB: formatting into a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Parses hex (upper or lower case, two digits a byte).
pub(crate) fn parse_hex(text: &str) -> Result<Vec<u8>, ToolError> {
    let invalid = || {
        ToolError::Failed(format!(
            "invalid hex {text:?}: expected pairs of hex digits"
        ))
    };
    if !text.len().is_multiple_of(2) {
        return Err(invalid());
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|digits| u8::from_str_radix(digits, 16).ok())
                .ok_or_else(invalid)
        })
        .collect()
}

/// Printable text for `bytes`; see the module documentation.
pub(crate) fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() && c.is_ascii() => {
                    let _ = write!(out, "\\x{:02x}", u32::from(c));
                }
                c if c.is_control() => {
                    let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_text_and_makes_every_other_byte_visible() {
        assert_eq!(escape(b"plain key"), "plain key");
        assert_eq!(escape("héllo".as_bytes()), "héllo");
        assert_eq!(escape(b"a\tb\nc\\d\x01"), "a\\tb\\nc\\\\d\\x01");
        assert_eq!(escape(b"\xff\xfeok\xc3"), "\\xff\\xfeok\\xc3");
        assert_eq!(escape("\u{85}".as_bytes()), "\\u{85}");
    }

    #[test]
    fn a_preview_cuts_at_whole_characters_and_marks_the_cut() {
        let text = Encoding { hex: false };
        assert_eq!(text.preview(b"short", 8), "short");
        assert_eq!(text.preview(b"exactly8", 8), "exactly8");
        assert_eq!(text.preview(b"a longer value", 8), "a longer...");
        assert_eq!(text.preview("abcdefgé".as_bytes(), 8), "abcdefg...");
        assert_eq!(
            text.preview(b"\x01\tab\xffcdefgh", 6),
            "\\x01\\tab\\xffc..."
        );
        assert_eq!(text.preview(b"\xff\xfe\xfd", 2), "\\xff\\xfe...");
        let hex = Encoding { hex: true };
        assert_eq!(hex.preview(b"abc", 2), "6162...");
        assert_eq!(hex.preview(b"ab", 2), "6162");
    }

    #[test]
    fn hex_round_trips_and_rejects_bad_digits() {
        assert_eq!(hex(b"\x00\xffkey"), "00ff6b6579");
        assert_eq!(parse_hex("00FF6b6579").unwrap(), b"\x00\xffkey");
        assert_eq!(parse_hex("").unwrap(), b"");
        for bad in ["0", "zz", "0g", "é0"] {
            assert!(parse_hex(bad).is_err(), "{bad}");
        }
    }
}
