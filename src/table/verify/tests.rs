//! Tests of the table verifier: clean tables, flipped bytes in every block, a damaged block that
//! does not stop the walk, a meta block that lies under a valid checksum, and foreign files.

use super::*;
use crate::fs::StdFs;
use crate::table::block::decode_block;
use crate::table::writer::{TableWriter, TableWriterOptions};

fn write(path: &Path, opts: TableWriterOptions, n: u32) {
    let file = StdFs.create(path).unwrap();
    let mut writer = TableWriter::new(file, path, opts, Comparator::default());
    for i in 0..n {
        let key = format!("key{i:05}");
        let value_type = if i % 7 == 3 {
            ValueType::Tombstone
        } else {
            ValueType::Value
        };
        writer
            .add(
                key.as_bytes(),
                u64::from(i),
                value_type,
                b"some value bytes",
            )
            .unwrap();
    }
    writer.finish().unwrap();
}

fn options(partitioned: bool) -> TableWriterOptions {
    TableWriterOptions {
        block_size: 256,
        index_partitioned: partitioned,
        filter_partitioned: partitioned,
        ..TableWriterOptions::default()
    }
}

fn read_all(path: &Path) -> Vec<u8> {
    let file = StdFs.open(path).unwrap();
    let mut bytes = vec![0; file.size_bytes().unwrap() as usize];
    file.read_exact_at(&mut bytes, 0).unwrap();
    bytes
}

fn write_bytes(path: &Path, bytes: &[u8]) {
    StdFs.create(path).unwrap().append(bytes).unwrap();
}

#[test]
fn an_intact_table_verifies_clean_and_every_byte_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    for partitioned in [false, true] {
        let path = dir.path().join(format!("{partitioned}.sst"));
        write(&path, options(partitioned), 500);
        let check = verify_table(&StdFs, &path, &Comparator::default(), None).unwrap();
        assert!(check.damages.is_empty(), "{:?}", check.damages);
        assert!(check.cross_checked);
        assert_eq!(check.entries_checked, 500);
        assert_eq!(
            check.bytes_checked, check.file_size,
            "every byte is in a block"
        );
        let meta = check.meta.unwrap();
        assert!(check.blocks_checked > meta.data_block_count + 2);
    }
}

#[test]
fn a_flipped_byte_in_any_block_is_reported_at_that_block() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    write(&path, options(true), 300);
    let good = read_all(&path);
    let body = good.len() - FOOTER_LEN;
    // Every 7th byte of the body: each lands in some block, which must be named.
    for at in (0..body).step_by(7) {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        write_bytes(&path, &bad);
        let check = verify_table(&StdFs, &path, &Comparator::default(), None).unwrap();
        assert!(!check.damages.is_empty(), "flip at {at} went unnoticed");
        let offsets: Vec<u64> = check
            .damages
            .iter()
            .map(|d| match d {
                Error::Corruption { offset, .. } => *offset,
                other => panic!("{other}"),
            })
            .collect();
        assert!(
            offsets
                .iter()
                .any(|&o| o <= at as u64 && at as u64 - o < 1024),
            "flip at {at}: damages at {offsets:?}"
        );
    }
}

#[test]
fn a_damaged_data_block_does_not_stop_the_walk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    write(&path, options(false), 300);
    let mut bytes = read_all(&path);
    let first_len = {
        let check = verify_table(&StdFs, &path, &Comparator::default(), None).unwrap();
        assert!(check.damages.is_empty());
        // The first block's header: stored_len at bytes 2..6.
        18 + u32::from_le_bytes(bytes[2..6].try_into().unwrap()) as usize
    };
    bytes[20] ^= 1;
    bytes[first_len + 20] ^= 1;
    write_bytes(&path, &bytes);
    let check = verify_table(&StdFs, &path, &Comparator::default(), None).unwrap();
    let offsets: Vec<String> = check.damages.iter().map(ToString::to_string).collect();
    assert_eq!(offsets.len(), 2, "{offsets:?}");
    assert!(offsets[0].contains("at offset 0:"), "{offsets:?}");
    assert!(
        offsets[1].contains(&format!("at offset {first_len}:")),
        "{offsets:?}"
    );
}

#[test]
fn a_meta_block_that_disagrees_with_the_entries_is_damage_even_with_a_valid_checksum() {
    use crate::compression::CompressionType;
    use crate::table::block::encode_block;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    write(&path, options(false), 100);
    let mut bytes = read_all(&path);
    let footer_at = bytes.len() - FOOTER_LEN;
    let footer =
        Footer::decode(bytes[footer_at..].try_into().unwrap(), bytes.len() as u64).unwrap();
    let (start, end) = (
        footer.meta.offset as usize,
        (footer.meta.offset + footer.meta.len) as usize,
    );
    let raw = decode_block(&Slice::from(&bytes[start..end]), BlockType::Meta, None).unwrap();
    let mut meta = TableMeta::decode(&raw, bytes.len() as u64, footer.version).unwrap();
    meta.entry_count += 1;
    let mut block = Vec::new();
    encode_block(
        BlockType::Meta,
        CompressionType::None,
        &meta.encode(),
        &mut block,
        None,
    );
    bytes[start..end].copy_from_slice(&block);
    write_bytes(&path, &bytes);
    let check = verify_table(&StdFs, &path, &Comparator::default(), None).unwrap();
    let damages: Vec<String> = check.damages.iter().map(ToString::to_string).collect();
    assert_eq!(
        damages,
        [format!(
            "corruption in {} at offset {start}: invalid meta entry count",
            path.display()
        )]
    );
}

#[test]
fn truncated_and_foreign_files_are_damage_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    write_bytes(&path, b"short");
    let check = verify_table(&StdFs, &path, &Comparator::default(), None).unwrap();
    assert!(matches!(
        check.damages.as_slice(),
        [Error::Corruption {
            offset: 0,
            what: CorruptionKind::Truncated,
            ..
        }]
    ));
    write_bytes(&path, &[7u8; 500]);
    let check = verify_table(&StdFs, &path, &Comparator::default(), None).unwrap();
    assert!(matches!(
        check.damages.as_slice(),
        [Error::Corruption {
            offset: 428,
            what: CorruptionKind::BadMagic,
            ..
        }]
    ));
}
