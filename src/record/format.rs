//! The bytes of one record: the two framings a reader knows, and [`encode`], which writes the
//! current one. The layout is in the module documentation of [`crate::record`] and in
//! `docs/format.md`, section 10.2.

use crate::error::CorruptionKind;

/// The magic that starts every record of the current framing ("SR"). A single bit flip cannot
/// turn it into the legacy "SE" (they differ in three bits), so it cannot switch a file's framing.
const MAGIC: [u8; 2] = *b"SR";
/// The last byte of every record of the current framing: four bits set, so that one flipped bit
/// leaves it non-zero and a zero-filled tail never ends in a complete record.
pub(super) const TRAILER: u8 = 0xA5;
/// Magic, length, length complement, checksum.
const HEADER_LEN: usize = 18;

/// The magic of the framing manifests were written in before [`Framing::Current`].
const LEGACY_MAGIC: [u8; 2] = *b"SE";
/// Magic, length, checksum.
const LEGACY_HEADER_LEN: usize = 14;

/// Which framing a file's records use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// "SR", length, its complement, xxh3-64 of the payload, payload, trailer `0xA5`: what
    /// [`encode`] writes.
    Current,
    /// "SE", length, xxh3-64 of the payload, payload: manifests written before the current
    /// framing. Read only. It cannot tell a flipped length, or a flip in a last record whose
    /// payload ends in zero bytes, from a torn write; the open that reads it rewrites the
    /// manifest in the current framing.
    Legacy,
}

/// A record's header, checked as far as it can be without the payload.
#[derive(Clone, Copy, Debug)]
pub(super) struct Header {
    /// The payload's length in bytes.
    pub(super) payload_len: usize,
    /// The stored xxh3-64 of the payload.
    pub(super) checksum: u64,
}

impl Framing {
    /// The framing of a manifest whose bytes are `bytes`: legacy if it starts with the legacy
    /// magic, else current. A manifest's first record was synced before `CURRENT` named the file,
    /// so a crash never damages it; a flipped bit there is caught by either framing's checks.
    pub(crate) fn detect(bytes: &[u8]) -> Self {
        if bytes.starts_with(&LEGACY_MAGIC) {
            Self::Legacy
        } else {
            Self::Current
        }
    }

    /// The record magic.
    pub(super) fn magic(self) -> [u8; 2] {
        match self {
            Self::Current => MAGIC,
            Self::Legacy => LEGACY_MAGIC,
        }
    }

    /// The header's length in bytes.
    pub(super) fn header_len(self) -> usize {
        match self {
            Self::Current => HEADER_LEN,
            Self::Legacy => LEGACY_HEADER_LEN,
        }
    }

    /// The bytes a record takes besides its payload.
    pub(super) fn overhead_len(self) -> usize {
        match self {
            Self::Current => HEADER_LEN + 1,
            Self::Legacy => LEGACY_HEADER_LEN,
        }
    }

    /// Parses the header at the start of `bytes` (which holds at least [`Self::header_len`]
    /// bytes): a wrong magic or (current framing) a length that disagrees with its complement is
    /// an error.
    pub(super) fn parse_header(self, bytes: &[u8]) -> Result<Header, CorruptionKind> {
        let (magic, rest) = bytes
            .split_first_chunk::<2>()
            .ok_or(CorruptionKind::Truncated)?;
        if *magic != self.magic() {
            return Err(CorruptionKind::BadMagic);
        }
        let (len, mut rest) = rest
            .split_first_chunk::<4>()
            .ok_or(CorruptionKind::Truncated)?;
        let len = u32::from_le_bytes(*len);
        if self == Self::Current {
            let (complement, after) = rest
                .split_first_chunk::<4>()
                .ok_or(CorruptionKind::Truncated)?;
            if u32::from_le_bytes(*complement) != !len {
                return Err(CorruptionKind::InvalidField("record length"));
            }
            rest = after;
        }
        let (checksum, _) = rest
            .split_first_chunk::<8>()
            .ok_or(CorruptionKind::Truncated)?;
        Ok(Header {
            payload_len: usize::try_from(len).unwrap_or(usize::MAX),
            checksum: u64::from_le_bytes(*checksum),
        })
    }
}

/// A payload too large for a record's `u32` length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordTooLarge;

/// Frames `payload` as one record of the current framing.
pub(crate) fn encode(payload: &[u8]) -> Result<Vec<u8>, RecordTooLarge> {
    let len = u32::try_from(payload.len()).map_err(|_| RecordTooLarge)?;
    let mut out = Vec::with_capacity(Framing::Current.overhead_len() + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out.push(TRAILER);
    Ok(out)
}

/// Frames `payload` as one record of the legacy framing, for tests of old files.
#[cfg(test)]
pub(crate) fn encode_legacy(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(LEGACY_HEADER_LEN + payload.len());
    out.extend_from_slice(&LEGACY_MAGIC);
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .expect("test payloads are small")
            .to_le_bytes(),
    );
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}
