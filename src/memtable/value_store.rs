//! The memtable's segmented, lock-free value store.
//!
//! Values do not live in the skiplist's nodes: each write appends one *value record* to this store
//! and the node keeps a pointer to it. Keeping values out of the node arena keeps the nodes that a
//! search walks over dense in cache. The store is an [`Arena`] without alignment: an append is one
//! atomic `fetch_add` on the current segment (plus a CAS when a segment fills up), a read is the
//! node's one atomic pointer load followed by plain reads of immutable bytes, and everything is
//! freed in bulk when the memtable drops.
//!
//! Record layout (in memory only, never on disk):
//!
//! ```text
//! +----------------+--------------------------+-------------+
//! | value type: u8 | value length: LEB128 u32 | value bytes |
//! +----------------+--------------------------+-------------+
//! ```
//!
//! Under `cfg(loom)` a `Witness` (a loom cell, zero-sized otherwise) sits in front of each record,
//! so that the loom models check that every reader is ordered after the record's writer.
//!
//! Invariant: a record is written completely before its pointer is published (by the skiplist's
//! Release CAS or Release store) and is never written again.

#![expect(
    unsafe_code,
    reason = "reads records through raw arena pointers; see UNSAFE.md"
)]

use std::mem::{align_of, size_of};
use std::ptr;

use super::arena::{Arena, MAX_SEGMENT_BYTES};
use crate::coding::{encode_varint_u32, varint_len_u32};
use crate::key::ValueType;
use crate::sync::Witness;

/// The bytes of the [`Witness`] in front of each record: 0 (the witness is zero-sized) except in
/// the loom models, which see through it whether a reader is ordered after the record's writer.
const WITNESS_BYTES: usize = size_of::<Witness>();
/// The value arena's alignment: 1 (records are read byte by byte), or the witness's under loom.
const RECORD_ALIGN: usize = align_of::<Witness>();

/// The value store; see the module documentation.
pub(crate) struct ValueStore {
    arena: Arena,
}

impl ValueStore {
    pub(crate) fn new() -> Self {
        Self {
            arena: Arena::new(RECORD_ALIGN, 4096, MAX_SEGMENT_BYTES),
        }
    }

    /// Bytes of memory the store holds.
    pub(crate) fn reserved_bytes(&self) -> usize {
        self.arena.reserved_bytes()
    }

    /// The size of the record for a value of `value_len` bytes.
    pub(crate) fn record_bytes(value_len: u32) -> usize {
        1 + varint_len_u32(value_len) + value_len as usize
    }

    /// Appends a record and returns a pointer to it.
    ///
    /// # Panics
    /// Panics if `value` is longer than `u32::MAX` bytes.
    pub(crate) fn append(&self, value_type: ValueType, value: &[u8]) -> *mut u8 {
        let value_len = u32::try_from(value.len()).unwrap_or_else(|_| {
            panic!(
                "value of {} bytes exceeds the limit of u32::MAX bytes",
                value.len()
            )
        });
        let mut header = [0u8; 6];
        header[0] = u8::from(value_type);
        let header_len = 1 + encode_varint_u32(value_len, &mut header[1..]);
        let start = self
            .arena
            .alloc(WITNESS_BYTES + header_len + value.len())
            .as_ptr();
        // SAFETY: the arena returned `WITNESS_BYTES + header_len + value.len()` fresh bytes,
        // aligned for the witness, owned by this call until the pointer is published by the caller.
        unsafe {
            let witness = start.cast::<Witness>();
            witness.write(Witness::new());
            let record = start.add(WITNESS_BYTES);
            ptr::copy_nonoverlapping(header.as_ptr(), record, header_len);
            ptr::copy_nonoverlapping(value.as_ptr(), record.add(header_len), value.len());
            (*witness).written();
            record
        }
    }

    /// Reads the record at `record`.
    ///
    /// # Safety
    /// `record` was returned by [`ValueStore::append`] of a store that lives for `'a`, and was
    /// published to this thread with Acquire/Release ordering.
    pub(crate) unsafe fn read<'a>(record: *const u8) -> (ValueType, &'a [u8]) {
        // SAFETY: the record's header and bytes were fully written before publication and are
        // immutable; the varint is at most 5 bytes and was written by `append`.
        unsafe {
            (*record.sub(WITNESS_BYTES).cast::<Witness>()).read();
            let value_type = match ValueType::try_from(*record) {
                Ok(vt) => vt,
                Err(err) => unreachable!("memtable record holds {err}: memory corruption"),
            };
            let mut len: u32 = 0;
            let mut offset = 1;
            for shift in (0..35).step_by(7) {
                let byte = *record.add(offset);
                offset += 1;
                len |= u32::from(byte & 0x7f) << shift;
                if byte < 0x80 {
                    break;
                }
            }
            (
                value_type,
                std::slice::from_raw_parts(record.add(offset), len as usize),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_at_varint_boundaries() {
        let store = ValueStore::new();
        let lens: &[usize] = if cfg!(miri) {
            &[0, 1, 127, 128, 300]
        } else {
            &[0, 1, 127, 128, 16_383, 16_384, 300_000, 2_097_152]
        };
        let mut records = Vec::new();
        for (i, &len) in lens.iter().enumerate() {
            let value: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
            let vt = if i % 2 == 0 {
                ValueType::Value
            } else {
                ValueType::MergeOperand
            };
            records.push((store.append(vt, &value), vt, value));
        }
        for (record, vt, value) in &records {
            // SAFETY: the record came from `store`, which is alive, on this thread.
            let (read_vt, read_value) = unsafe { ValueStore::read(*record) };
            assert_eq!(read_vt, *vt);
            assert_eq!(read_value, value.as_slice());
            assert_eq!(
                ValueStore::record_bytes(value.len() as u32),
                value.len() + 1 + crate::coding::varint_len_u32(value.len() as u32)
            );
        }
    }
}
