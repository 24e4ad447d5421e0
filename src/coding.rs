//! Little-endian LEB128 varints, the length encoding of every in-memory record and every on-disk
//! entry. Decoders never trust their input: they return `None` on a truncated or overlong
//! encoding instead of panicking.

#![deny(clippy::indexing_slicing)]

use crate::error::CorruptionKind;

/// Writes `value` as LEB128 into `out` and returns the bytes written (1 to 5).
///
/// # Panics
/// Panics if `out` is shorter than [`varint_len_u32`] of `value` (an internal invariant: callers
/// pass a 5-byte buffer).
pub(crate) fn encode_varint_u32(mut value: u32, out: &mut [u8]) -> usize {
    let mut i = 0;
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        let slot = out
            .get_mut(i)
            .unwrap_or_else(|| panic!("varint buffer of {i} bytes too short"));
        if value == 0 {
            *slot = byte;
            return i + 1;
        }
        *slot = byte | 0x80;
        i += 1;
    }
}

/// The number of bytes [`encode_varint_u32`] writes for `value`.
pub(crate) fn varint_len_u32(value: u32) -> usize {
    match value {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        0x20_0000..0x1000_0000 => 4,
        _ => 5,
    }
}

/// Decodes a LEB128 `u32` from the start of `input`; returns the value and the bytes read, or
/// `None` if the input ends early or the encoding overflows 32 bits.
#[inline]
pub(crate) fn decode_varint_u32(input: &[u8]) -> Option<(u32, usize)> {
    // Fast path: most lengths in a block fit in one byte.
    if let Some(&byte) = input.first()
        && byte < 0x80
    {
        return Some((u32::from(byte), 1));
    }
    let mut value: u32 = 0;
    for (i, &byte) in input.iter().enumerate().take(5) {
        let bits = u32::from(byte & 0x7f);
        if i == 4 && bits > 0x0f {
            return None;
        }
        value |= bits << (7 * i);
        if byte < 0x80 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Appends `value` as a LEB128 varint.
pub(crate) fn put_varint_u64(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Decodes a LEB128 `u64` at the start of `input`.
#[inline]
pub(crate) fn decode_varint_u64(input: &[u8]) -> Option<(u64, usize)> {
    if let Some(&byte) = input.first()
        && byte < 0x80
    {
        return Some((u64::from(byte), 1));
    }
    let mut value: u64 = 0;
    for (i, &byte) in input.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7f);
        if i == 9 && bits > 1 {
            return None;
        }
        value |= bits << (7 * i);
        if byte < 0x80 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Reads fields off the front of bytes from disk, never past their end: every read returns
/// `Truncated` (or `InvalidField` for a bad length or varint) instead of panicking.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// How many bytes have been read.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Whether every byte has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], CorruptionKind> {
        let end = self.pos.checked_add(n).ok_or(CorruptionKind::Truncated)?;
        let out = self
            .bytes
            .get(self.pos..end)
            .ok_or(CorruptionKind::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], CorruptionKind> {
        self.take(N)?
            .try_into()
            .map_err(|_| CorruptionKind::Truncated)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, CorruptionKind> {
        self.array().map(u64::from_le_bytes)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, CorruptionKind> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, CorruptionKind> {
        self.array::<1>().map(|[b]| b)
    }

    /// A LEB128 varint.
    pub(crate) fn varint(&mut self) -> Result<u64, CorruptionKind> {
        let (value, n) = decode_varint_u64(self.bytes.get(self.pos..).unwrap_or_default())
            .ok_or(CorruptionKind::InvalidField("varint"))?;
        self.pos += n;
        Ok(value)
    }

    /// A varint length, then that many bytes.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], CorruptionKind> {
        let (len, n) = decode_varint_u64(self.bytes.get(self.pos..).unwrap_or_default())
            .ok_or(CorruptionKind::InvalidField("length"))?;
        self.pos += n;
        self.take(usize::try_from(len).map_err(|_| CorruptionKind::InvalidField("length"))?)
    }
}

/// Appends a varint length and `bytes`: what [`Cursor::bytes`] reads.
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint_u64(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn boundaries_round_trip() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            2_097_151,
            2_097_152,
            u32::MAX,
        ] {
            let mut buf = [0u8; 5];
            let n = encode_varint_u32(v, &mut buf);
            assert_eq!(n, varint_len_u32(v), "{v}");
            assert_eq!(decode_varint_u32(&buf[..n]), Some((v, n)));
        }
    }

    #[test]
    fn truncated_and_overlong_inputs_are_rejected() {
        assert_eq!(decode_varint_u32(&[]), None);
        assert_eq!(decode_varint_u32(&[0x80]), None);
        assert_eq!(decode_varint_u32(&[0xff, 0xff, 0xff, 0xff, 0x1f]), None);
        assert_eq!(decode_varint_u32(&[0xff; 10]), None);
    }

    proptest! {
        #[test]
        fn any_u32_round_trips(v: u32) {
            let mut buf = [0u8; 5];
            let n = encode_varint_u32(v, &mut buf);
            prop_assert_eq!(decode_varint_u32(&buf[..n]), Some((v, n)));
        }

        #[test]
        fn decoding_garbage_never_panics(bytes: Vec<u8>) {
            if let Some((_, n)) = decode_varint_u32(&bytes) {
                prop_assert!(n <= bytes.len() && n <= 5);
            }
        }
    }
}
