//! [`RecordReader`]: walks a file's records and applies the torn-tail rule to the first one that
//! fails (see the module documentation of [`crate::record`]).
//!
//! The decision about a failing record uses only that record's bytes and the offset where the
//! file's trailing zeros start, found once when the reader is made: the reader is linear in the
//! file's size, whatever the bytes.

use super::format::{Framing, TRAILER};
use crate::error::CorruptionKind;

/// One record that passed every check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    /// The record's offset in the file.
    pub(crate) offset: u64,
    /// Its payload.
    pub(crate) payload: &'a [u8],
}

/// How a file's records end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The last record ends at the end of the file.
    Clean,
    /// From `offset` to the end of the file lies a record that a crash cut short or zero-filled:
    /// it was never acknowledged and is ignored.
    Torn {
        /// Where the torn record starts.
        offset: u64,
    },
    /// The record at `offset` is damaged in a way no crash produces; nothing from there on can
    /// be trusted.
    Corrupt {
        /// Where the damaged record starts.
        offset: u64,
        /// What is wrong with it.
        what: CorruptionKind,
    },
}

/// Yields the records of a file's bytes in order; once it returns `None`, [`Self::end`] says
/// why.
pub(crate) struct RecordReader<'a> {
    bytes: &'a [u8],
    framing: Framing,
    pos: usize,
    /// The offset where the file's trailing run of zero bytes starts (the file's length if its
    /// last byte is not zero). Everything before it is genuine: a crash only zero-fills a tail.
    zeros_from: usize,
    end: Option<End>,
}

impl<'a> RecordReader<'a> {
    /// A reader over the whole of a file's bytes, in `framing`.
    pub(crate) fn new(bytes: &'a [u8], framing: Framing) -> Self {
        let zeros_from = bytes
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |last| last + 1);
        Self {
            bytes,
            framing,
            pos: 0,
            zeros_from,
            end: None,
        }
    }

    /// How the records end, once the reader has returned `None`; `None` before.
    pub(crate) fn end(&self) -> Option<&End> {
        self.end.as_ref()
    }

    /// The record at `self.pos`, or how the file ends there.
    fn step(&mut self) -> Result<Record<'a>, End> {
        let pos = self.pos;
        let offset = u64::try_from(pos).unwrap_or(u64::MAX);
        let rest = self.bytes.get(pos..).unwrap_or_default();
        if rest.is_empty() {
            return Err(End::Clean);
        }
        let framing = self.framing;
        let genuine_len = self.zeros_from.saturating_sub(pos);
        let header_len = framing.header_len();
        if genuine_len < header_len {
            // The header is cut short by the end of the file or by the trailing zeros: torn, if
            // what is left of it can start a record. Whatever its bytes say, a complete record
            // cannot be here, since it would end in a non-zero byte past its header.
            let magic = framing.magic();
            let shown = genuine_len.min(magic.len());
            return Err(if rest.get(..shown) == magic.get(..shown) {
                End::Torn { offset }
            } else {
                End::Corrupt {
                    offset,
                    what: CorruptionKind::BadMagic,
                }
            });
        }
        // The header lies before the trailing zeros, so it is genuine and must verify.
        let corrupt = |what| End::Corrupt { offset, what };
        let header = framing.parse_header(rest).map_err(corrupt)?;
        let total = header.payload_len.saturating_add(framing.overhead_len());
        let checked = rest
            .get(..total)
            .ok_or(CorruptionKind::Truncated)
            .and_then(|record| {
                let body = record.get(header_len..).unwrap_or_default();
                let (payload, trailer) = match framing {
                    Framing::Current => match body.split_last() {
                        Some((&TRAILER, payload)) => (payload, None),
                        Some((_, payload)) => (
                            payload,
                            Some(CorruptionKind::InvalidField("record trailer")),
                        ),
                        None => (body, Some(CorruptionKind::Truncated)),
                    },
                    Framing::Legacy => (body, None),
                };
                let actual = xxhash_rust::xxh3::xxh3_64(payload);
                if actual != header.checksum {
                    return Err(CorruptionKind::ChecksumMismatch {
                        expected: header.checksum,
                        actual,
                    });
                }
                trailer.map_or(Ok(payload), Err)
            });
        match checked {
            Ok(payload) => {
                self.pos = pos.saturating_add(total);
                Ok(Record { offset, payload })
            }
            // It runs past the end of the file or into the trailing zeros: cut short or
            // zero-filled. (A complete record of the current framing ends in a non-zero trailer,
            // so it never reaches into the zeros; a legacy one may, when it verifies.)
            Err(_) if total > genuine_len => Err(End::Torn { offset }),
            Err(what) => Err(corrupt(what)),
        }
    }
}

impl<'a> Iterator for RecordReader<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        if self.end.is_some() {
            return None;
        }
        match self.step() {
            Ok(record) => Some(record),
            Err(end) => {
                self.end = Some(end);
                None
            }
        }
    }
}
