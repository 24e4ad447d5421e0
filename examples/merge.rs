//! Merge operators: a counter and a list kept without read-modify-write.
//!
//! `cargo run --example merge`

use std::sync::Arc;

use strata::{Config, Error, MergeOperator, SeqNo, SequenceNumberCounter, Slice};

/// Adds little-endian u64 operands to a little-endian u64 base (absent or deleted: 0).
struct Add;

impl MergeOperator for Add {
    fn merge(&self, _key: &[u8], base: Option<&[u8]>, operands: &[&[u8]]) -> strata::Result<Slice> {
        let decode = |bytes: &[u8]| -> strata::Result<u64> {
            let array: [u8; 8] = bytes.try_into().map_err(|_| Error::MergeOperator)?;
            Ok(u64::from_le_bytes(array))
        };
        let mut sum = base.map(decode).transpose()?.unwrap_or(0);
        for operand in operands {
            sum = sum.wrapping_add(decode(operand)?);
        }
        Ok(Slice::from(sum.to_le_bytes()))
    }
}

fn main() -> strata::Result<()> {
    let dir = tempfile::tempdir()?;
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default())
        .with_merge_operator(Some(Arc::new(Add)))
        .open()?;

    // A page-view counter: every hit is one merge, no read.
    for _ in 0..1000 {
        tree.merge("views:/home", 1u64.to_le_bytes(), seqno.next());
    }
    let before_flush = seqno.get();
    tree.flush_active_memtable(0)?;
    for _ in 0..500 {
        tree.merge("views:/home", 1u64.to_le_bytes(), seqno.next());
    }
    let read = |at: SeqNo| -> strata::Result<u64> {
        let value = tree.get("views:/home", at)?.ok_or(Error::MergeOperator)?;
        let array: [u8; 8] = value
            .as_ref()
            .try_into()
            .map_err(|_| Error::MergeOperator)?;
        Ok(u64::from_le_bytes(array))
    };
    println!("views at the flush: {}", read(before_flush)?);
    println!("views now:          {}", read(SeqNo::MAX)?);

    // Compaction folds the operands into one value (nothing older is read any more).
    tree.flush_active_memtable(0)?;
    tree.major_compact(64 << 20, seqno.get())?;
    let entry = tree.get_internal_entry("views:/home", SeqNo::MAX)?;
    println!(
        "after a major compaction: {} as a {:?}",
        read(SeqNo::MAX)?,
        entry.map(|e| e.key.value_type)
    );

    // An operand the operator cannot apply is an error for that key only.
    tree.merge("views:/broken", "not a number", seqno.next());
    match tree.get("views:/broken", SeqNo::MAX) {
        Err(Error::MergeOperator) => println!("views:/broken: the merge operator refused it"),
        other => println!("views:/broken: {other:?}"),
    }
    Ok(())
}
