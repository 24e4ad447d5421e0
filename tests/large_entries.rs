//! Keys and values far beyond 64 KiB come back byte for byte: Strata stores lengths as varints
//! and has no 64 KiB key limit (the seed engine's family caps keys at u16::MAX).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::single_match_else,
    reason = "test code: a failed unwrap is a failed test"
)]

use strata::{Config, Guard, SequenceNumberCounter};

#[test]
fn a_70000_byte_key_round_trips_through_every_read() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Config::new(
        dir.path(),
        SequenceNumberCounter::default(),
        SequenceNumberCounter::default(),
    )
    .open()
    .unwrap();
    let key: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let value: Vec<u8> = (0..1_000_000u32).map(|i| (i % 241) as u8).collect();
    let mut neighbour = key.clone();
    neighbour.push(0);
    tree.insert(key.clone(), value.clone(), 0);
    tree.insert(neighbour.clone(), "n", 1);
    tree.rotate_memtable();
    tree.insert("small", "s", 2);

    assert_eq!(tree.get(&key, 3).unwrap().unwrap(), value);
    assert_eq!(tree.size_of(&key, 3).unwrap(), Some(1_000_000));
    let (k, v) = tree.first_key_value(3, None).unwrap().into_inner().unwrap();
    assert_eq!((k.len(), v.len()), (70_000, 1_000_000));
    assert_eq!(k, key);
    let scanned: Vec<_> = tree
        .range(key.as_slice()..=neighbour.as_slice(), 3, None)
        .map(|g| g.key().unwrap())
        .collect();
    assert_eq!(scanned, [key.clone(), neighbour.clone()]);
    let by_prefix: Vec<_> = tree
        .prefix(&key[..60_000], 3, None)
        .rev()
        .map(|g| g.key().unwrap())
        .collect();
    assert_eq!(by_prefix, [neighbour, key.clone()]);
    tree.remove(key.clone(), 3);
    assert_eq!(tree.get(&key, 4).unwrap(), None);
    assert_eq!(tree.get(&key, 3).unwrap().unwrap().len(), 1_000_000);
}
