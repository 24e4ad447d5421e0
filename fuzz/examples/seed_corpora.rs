//! Writes seed corpora for the fuzz targets: a few valid table files (`write_table` under several
//! option sets, one with a prefix extractor, whose name the meta block records, and two flushed
//! from a tree with range tombstones, one of them holding nothing else) into `corpus/table/`,
//! every index block of those files into `corpus/index_block/`, the raw contents of their data
//! blocks plus a few hand-built blocks, each with a seek target in front, into
//! `corpus/data_block/`, the raw contents of their range-tombstone blocks plus a few encoded
//! lists into `corpus/range_tombstone_block/`, the blob files of trees flushed with
//! key-value separation (uncompressed and LZ4, one record or several, small and large values)
//! into `corpus/blob_file/`, the WAL of a small database, raw and as framed commands, into
//! `corpus/wal/`, and the catalog of a database whose keyspaces persist every kind of option into
//! `corpus/catalog/`.
//!
//! Run from `fuzz/`: `cargo run --example seed_corpora` (optionally with an output folder; the
//! default is `fuzz/corpus`). The corpora are git-ignored: regenerate them, do not commit them.

use std::path::{Path, PathBuf};

use strata::fs::{Fs, StdFs};
use strata::internals::{
    BlockHandle, RangeTombstoneList, TableWriterOptions, build_data_block, decode_any_block,
    decode_footer, write_table,
};
use strata::{
    CompressionType, Config, InternalValue, KvSeparationOptions, MAX_SEQNO, SeqNo,
    SequenceNumberCounter, ValueType,
};
use strata_fuzz::{BLOCK_HEADER_LEN, FOOTER_LEN, SeekInput};

/// Entries in internal-key order: `keys` user keys, `versions` versions each (newest first), with
/// a tombstone or a merge operand now and then.
fn entries(keys: usize, versions: u64, value_len: usize) -> Vec<InternalValue> {
    let mut out = Vec::new();
    for k in 0..keys {
        let key = format!("key{:05}", k * 7);
        for v in (1..=versions).rev() {
            let seqno: SeqNo = (k as u64) * versions + v;
            let value_type = match (k + v as usize) % 7 {
                0 => ValueType::Tombstone,
                3 => ValueType::MergeOperand,
                5 if v == 1 => ValueType::WeakTombstone,
                _ => ValueType::Value,
            };
            let value = if value_type.is_tombstone() {
                Vec::new()
            } else {
                format!("value-{k}-{v}-")
                    .repeat(value_len / 10 + 1)
                    .into_bytes()
            };
            out.push(InternalValue::from_components(
                key.as_bytes(),
                value,
                seqno,
                value_type,
            ));
        }
    }
    out
}

/// Up to 12 distinct user keys of a table file, read through `TableFile`.
fn table_keys(file: &[u8]) -> Vec<Vec<u8>> {
    let path =
        std::env::temp_dir().join(format!("strata-fuzz-seed-keys-{}.sst", std::process::id()));
    StdFs.create(&path).unwrap().append(file).unwrap();
    let table = strata::internals::TableFile::open(&path, 0).unwrap();
    let mut keys: Vec<Vec<u8>> = table
        .scan(false)
        .map(|e| e.unwrap().key.user_key.to_vec())
        .collect();
    keys.dedup();
    StdFs.remove(&path).unwrap();
    let step = keys.len() / 12 + 1;
    keys.into_iter().step_by(step).take(12).collect()
}

/// Splits a table file into its blocks, laid end to end before the footer.
fn blocks(file: &[u8]) -> Vec<&[u8]> {
    let body_end = file.len().saturating_sub(FOOTER_LEN);
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + BLOCK_HEADER_LEN <= body_end {
        let stored_len = u32::from_le_bytes(file[pos + 2..pos + 6].try_into().unwrap()) as usize;
        let end = pos + BLOCK_HEADER_LEN + stored_len;
        assert!(end <= body_end, "a written table's blocks fill its body");
        out.push(&file[pos..end]);
        pos = end;
    }
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    StdFs.create_dir(dir).unwrap();
    StdFs
        .create(&dir.join(name))
        .unwrap()
        .append(bytes)
        .unwrap();
}

fn read(path: &Path) -> Vec<u8> {
    let file = StdFs.open(path).unwrap();
    let mut bytes = vec![0; usize::try_from(file.size_bytes().unwrap()).unwrap()];
    file.read_exact_at(&mut bytes, 0).unwrap();
    bytes
}

/// A range tombstone of a seed: `[start, end)` below `seqno`.
struct Tombstone {
    start: &'static str,
    end: &'static str,
    seqno: SeqNo,
}

const fn rt(start: &'static str, end: &'static str, seqno: SeqNo) -> Tombstone {
    Tombstone { start, end, seqno }
}

fn list(tombstones: &[Tombstone]) -> RangeTombstoneList {
    RangeTombstoneList::build(tombstones.iter().map(|t| (t.start, t.end, t.seqno)))
}

/// The table files of a tree (in `scratch/name`) that got point writes if `points`, and range
/// tombstones, then a flush.
fn tree_tables(scratch: &Path, name: &str, points: bool) -> Vec<Vec<u8>> {
    let dir = scratch.join(name);
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default())
        .open()
        .unwrap();
    if points {
        for i in 0..40u32 {
            tree.insert(format!("key{i:05}"), format!("value-{i}"), seqno.next());
        }
    }
    tree.remove_range("key00005", "key00012", seqno.next());
    tree.remove_range("key00008", "key00030", seqno.next());
    tree.remove_prefix("key0002", seqno.next());
    tree.remove_range("a", "b", seqno.next());
    if points {
        tree.insert("key00009", "back", seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    drop(tree);
    let mut tables: Vec<PathBuf> = StdFs
        .list(&dir.join("tables"))
        .unwrap()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .collect();
    tables.sort();
    assert!(!tables.is_empty(), "a flush writes a table");
    tables.iter().map(|p| read(p)).collect()
}

/// The blob files of a tree (in `scratch/name`) that separates values of 16 bytes and more into
/// files cut at `target` bytes compressed with `compression`, after one flush of `values`.
fn tree_blob_files(
    scratch: &Path,
    name: &str,
    compression: CompressionType,
    target: u64,
    values: &[(&str, Vec<u8>)],
) -> Vec<Vec<u8>> {
    let dir = scratch.join(name);
    let seqno = SequenceNumberCounter::default();
    let kv = KvSeparationOptions::default()
        .separation_threshold(16)
        .file_target_size(target)
        .compression(compression);
    let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default())
        .with_kv_separation(Some(kv))
        .open()
        .unwrap();
    for (key, value) in values {
        tree.insert(*key, value.as_slice(), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    drop(tree);
    let mut files: Vec<PathBuf> = StdFs
        .list(&dir.join("blobs"))
        .unwrap()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "blob"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "a flush of long values writes a blob file"
    );
    files.iter().map(|p| read(p)).collect()
}

/// The blob-file seeds: (name, bytes).
fn blob_seeds(scratch: &Path) -> Vec<(String, Vec<u8>)> {
    let one = [("key", b"a value of 24 bytes, ok.".to_vec())];
    let many: Vec<(String, Vec<u8>)> = (0..12u32)
        .map(|i| {
            let value = format!("value-{i}-")
                .repeat(2 + 3 * i as usize)
                .into_bytes();
            (format!("key{i:05}"), value)
        })
        .collect();
    let many: Vec<(&str, Vec<u8>)> = many.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let large = [
        ("big", vec![b'x'; 5000]),
        ("", b"an empty key's value!".to_vec()),
    ];
    let mut seeds = Vec::new();
    for (name, compression, target, values) in [
        ("one", CompressionType::None, 1 << 20, &one[..]),
        ("many", CompressionType::None, 1 << 20, &many[..]),
        ("many-cut", CompressionType::None, 256, &many[..]),
        ("many-lz4", CompressionType::Lz4, 1 << 20, &many[..]),
        ("large-lz4", CompressionType::Lz4, 1 << 20, &large[..]),
    ] {
        let dir_name = format!("blobs-{name}");
        for (i, file) in tree_blob_files(scratch, &dir_name, compression, target, values)
            .into_iter()
            .enumerate()
        {
            seeds.push((format!("{name}-{i}"), file));
        }
    }
    seeds
}

/// Seeds for the `wal` target: the segments of a real database's WAL (two keyspaces, every op,
/// 512-byte segments), raw and re-encoded as framed commands (`strata_fuzz::wal_segments`),
/// with and without a torn tail.
fn wal_seeds(out: &Path) -> usize {
    use strata::fs::MemFs;
    use strata::{Database, KeyspaceCreateOptions};
    let fs = MemFs::new();
    {
        let db = Database::builder("/db")
            .fs(std::sync::Arc::new(fs.clone()))
            .worker_threads(1)
            .journal_segment_size(512)
            .open()
            .unwrap();
        let a = db.keyspace("a", KeyspaceCreateOptions::default).unwrap();
        let b = db.keyspace("b", KeyspaceCreateOptions::default).unwrap();
        for i in 0..40u32 {
            let key = format!("k{:02}", i % 13);
            match i % 7 {
                0 => a.insert(key, format!("v{i}")).unwrap(),
                1 => b.remove(key).unwrap(),
                2 => a.remove_weak(key).unwrap(),
                3 => b.merge(key, format!("+{i}")).unwrap(),
                4 => a.remove_range("k03", "k07").unwrap(),
                5 => b.remove_prefix("k1").unwrap(),
                _ => {
                    let mut batch = db.batch();
                    batch.insert(&a, key.clone(), "x");
                    batch.insert(&b, key, "y");
                    batch.commit().unwrap();
                }
            }
        }
    }
    let mut segments = Vec::new();
    let mut ids: Vec<PathBuf> = fs.list(Path::new("/db/wal")).unwrap();
    ids.sort();
    for path in ids {
        let bytes = read_fs(&fs, &path);
        if !bytes.is_empty() {
            segments.push(bytes);
        }
    }
    assert!(
        segments.len() >= 3,
        "the seed WAL has {} segments",
        segments.len()
    );
    let mut seeds = 0;
    for count in 1..=3usize.min(segments.len()) {
        let chosen = &segments[..count];
        // Raw: the segments as they are.
        let mut raw = vec![((count as u8 - 1) << 4)];
        for segment in &chosen[..count - 1] {
            raw.extend_from_slice(&(segment.len() as u16).to_le_bytes());
        }
        for segment in chosen {
            raw.extend_from_slice(segment);
        }
        write(&out.join("wal"), &format!("seed-raw-{count}"), &raw);
        // Framed: each record's payload, the segment starts recording the exact previous end.
        let mut framed = vec![1u8];
        for (i, segment) in chosen.iter().enumerate() {
            if i > 0 {
                framed.push(0b0100);
            }
            for payload in strata_fuzz::record_payloads(segment).into_iter().skip(1) {
                if payload.len() <= 255 {
                    framed.push(1);
                    framed.push(payload.len() as u8);
                    framed.extend_from_slice(&payload);
                }
            }
        }
        write(&out.join("wal"), &format!("seed-framed-{count}"), &framed);
        // ... and a torn tail: the first bytes of a record.
        let mut torn = framed.clone();
        torn.extend_from_slice(&[2, 9, b'S', b'R', 40, 0, 0, 0, 0xd7, 0xff, 0xff]);
        write(&out.join("wal"), &format!("seed-torn-{count}"), &torn);
        seeds += 3;
    }
    seeds
}

/// Seeds for the `filter`, `footer`, `meta` and `lz4_block` targets from one table file: its
/// footer (with the file length in front), its meta block's contents (with the format version
/// and the file length in front), each filter block's and the filter index's contents (with a
/// header byte for `filter_header` and some of the table's keys in front), and each LZ4 data
/// block's stored bytes (with the claimed length in front). Returns the seeds written per target.
fn table_part_seeds(
    out: &Path,
    name: &str,
    file: &[u8],
    keys: &[Vec<u8>],
    filter_header: u8,
) -> [usize; 4] {
    let mut counts = [0; 4];
    let file_len = file.len() as u64;
    let footer_bytes = &file[file.len() - FOOTER_LEN..];
    let mut footer_seed = file_len.to_le_bytes().to_vec();
    footer_seed.extend_from_slice(footer_bytes);
    write(&out.join("footer"), &format!("seed-{name}"), &footer_seed);
    counts[1] += 1;
    let footer = decode_footer(footer_bytes, file_len).unwrap();
    let block_at = |handle: BlockHandle| {
        let start = usize::try_from(handle.offset).unwrap();
        &file[start..start + usize::try_from(handle.len).unwrap()]
    };
    let mut meta_seed = vec![(footer.version - 1) as u8];
    meta_seed.extend_from_slice(&file_len.to_le_bytes());
    meta_seed.extend_from_slice(&decode_any_block(block_at(footer.meta), 3).unwrap());
    write(&out.join("meta"), &format!("seed-{name}"), &meta_seed);
    counts[2] += 1;
    // The filter seeds: up to 12 keys of the table, then the raw bytes.
    let mut filter_head = vec![filter_header, keys.len().min(12) as u8];
    for key in keys.iter().take(12) {
        filter_head.push(key.len() as u8);
        filter_head.extend_from_slice(key);
    }
    let mut filter_raws = Vec::new();
    if let Some(handle) = footer.filter {
        let kind = if footer.filter_partitioned { 1 } else { 2 };
        filter_raws.push(decode_any_block(block_at(handle), kind).unwrap());
    }
    for block in blocks(file) {
        if block[0] == 2 {
            filter_raws.push(decode_any_block(block, 2).unwrap());
        }
    }
    filter_raws.dedup();
    for (i, raw) in filter_raws.iter().enumerate() {
        let mut seed = filter_head.clone();
        seed.extend_from_slice(raw);
        write(&out.join("filter"), &format!("seed-{name}-{i}"), &seed);
        counts[0] += 1;
    }
    for (i, block) in blocks(file).into_iter().enumerate() {
        if block[1] == 1 {
            let mut seed = block[6..10].to_vec();
            seed.extend_from_slice(&block[BLOCK_HEADER_LEN..]);
            write(&out.join("lz4_block"), &format!("seed-{name}-{i}"), &seed);
            counts[3] += 1;
        }
    }
    counts
}

/// The records of a manifest as the `manifest` and `manifest_replay` targets take them: each
/// payload with its length byte in front (payloads of more than 255 bytes are left out).
fn manifest_seed(manifest: &[u8]) -> Vec<u8> {
    let mut seed = Vec::new();
    for payload in strata_fuzz::record_payloads(manifest) {
        if let Ok(len) = u8::try_from(payload.len()) {
            seed.push(len);
            seed.extend_from_slice(&payload);
        }
    }
    seed
}

/// Seeds for the `manifest` and `manifest_replay` targets: the manifest of
/// `strata_fuzz::template_tree_files` (the tree `manifest_replay` opens), whole and cut after each
/// record, and the manifests of the trees in `scratch` (for `manifest` only).
fn manifest_seeds(out: &Path, scratch: &Path) -> usize {
    let template = strata_fuzz::template_tree_files();
    let mut seeds = 0;
    for (path, bytes) in &template {
        let name = path.file_name().unwrap().to_str().unwrap();
        if !name.starts_with("MANIFEST-") {
            continue;
        }
        let seed = manifest_seed(bytes);
        assert!(!seed.is_empty(), "the template's manifest has records");
        for target in ["manifest", "manifest_replay"] {
            write(&out.join(target), &format!("seed-template-{name}"), &seed);
            seeds += 1;
        }
        // Each prefix of the records: the versions the tree went through.
        let mut prefix = Vec::new();
        let mut rest = seed.as_slice();
        let mut i = 0;
        while let Some((&len, tail)) = rest.split_first() {
            prefix.push(len);
            prefix.extend_from_slice(&tail[..usize::from(len)]);
            rest = &tail[usize::from(len)..];
            write(
                &out.join("manifest_replay"),
                &format!("seed-template-{name}-{i}"),
                &prefix,
            );
            seeds += 1;
            i += 1;
        }
    }
    for dir in StdFs.list(scratch).unwrap() {
        let Ok(files) = StdFs.list(&dir) else {
            continue;
        };
        for path in files {
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if name.starts_with("MANIFEST-") {
                let dir_name = dir.file_name().unwrap().to_str().unwrap();
                let seed = manifest_seed(&read(&path));
                write(
                    &out.join("manifest"),
                    &format!("seed-{dir_name}-{name}"),
                    &seed,
                );
                seeds += 1;
            }
        }
    }
    seeds
}

/// Seeds for the `ops` target: one input that runs every opcode (and a fault of every kind of
/// file call in a flush and in a compaction), and a few pseudo-random sequences.
fn ops_seeds(out: &Path) -> usize {
    let mut every = vec![2u8];
    for code in 0..16u8 {
        every.extend_from_slice(&[code, 5, 7, 11]);
    }
    for op in 0..7u8 {
        // A flush and a major compaction, each with the first call of one kind failing.
        every.extend_from_slice(&[
            0,
            4,
            9,
            0,
            16,
            3,
            11,
            1 | (op << 1),
            0,
            13,
            1 | (op << 1),
            0,
        ]);
    }
    write(&out.join("ops"), "seed-every-op", &every);
    let mut x: u32 = 0x2545_f491;
    for seed in 0..6u8 {
        let mut bytes = vec![seed];
        for _ in 0..300 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            bytes.push((x >> 24) as u8);
        }
        write(&out.join("ops"), &format!("seed-random-{seed}"), &bytes);
    }
    7
}

fn read_fs(fs: &dyn Fs, path: &Path) -> Vec<u8> {
    let file = fs.open(path).unwrap();
    let mut bytes = vec![0; usize::try_from(file.size_bytes().unwrap()).unwrap()];
    file.read_exact_at(&mut bytes, 0).unwrap();
    bytes
}

/// Removes the generator's scratch folder and everything in it.
#[expect(
    clippy::disallowed_methods,
    reason = "the Fs trait removes no folder tree; the scratch folder is the generator's own, on disk"
)]
fn remove_scratch(scratch: &Path) {
    std::fs::remove_dir_all(scratch).unwrap();
}

/// The `CATALOG` of a database with keyspaces created with every kind of persisted option, as
/// `catalog` target inputs: framed (its payload behind a 0 byte: decoded and opened; behind a 2:
/// decoded only) and raw (the file behind a 1).
fn catalog_seeds(out: &Path) -> usize {
    use std::sync::Arc;
    use strata::compaction::{Fifo, Leveled, SizeTiered};
    use strata::config::{
        BlockSizePolicy, CompressionPolicy, FilterPolicy, PinningPolicy, RestartIntervalPolicy,
    };
    use strata::fs::MemFs;
    use strata::{Database, KeyspaceCreateOptions};
    let fs = MemFs::new();
    {
        let db = Database::builder("/db")
            .fs(Arc::new(fs.clone()))
            .worker_threads(1)
            .open()
            .unwrap();
        let dictionary = Arc::new(strata::ZstdDictionary::new(b"seed dictionary bytes"));
        let options: [(&str, KeyspaceCreateOptions); 5] = [
            ("a", KeyspaceCreateOptions::default()),
            (
                "b",
                KeyspaceCreateOptions::default()
                    .max_memtable_size(1 << 16)
                    .compaction_strategy(Arc::new(
                        Leveled::default()
                            .with_level_ratio_policy(vec![4.0, 8.0])
                            .with_dynamic_level_bytes(true),
                    ))
                    .data_block_size_policy(BlockSizePolicy::new([256, 4096]))
                    .data_block_restart_interval_policy(RestartIntervalPolicy::all(1))
                    .filter_policy(FilterPolicy::disabled())
                    .index_block_partitioning_policy(PinningPolicy::all(true)),
            ),
            (
                "tiered",
                KeyspaceCreateOptions::default()
                    .compaction_strategy(Arc::new(SizeTiered::default().with_run_trigger(3)))
                    .with_kv_separation(Some(
                        KvSeparationOptions::default().separation_threshold(32),
                    ))
                    .data_block_compression_policy(CompressionPolicy::new([
                        CompressionType::None,
                        CompressionType::Lz4,
                        CompressionType::zstd(5),
                    ])),
            ),
            (
                "events",
                KeyspaceCreateOptions::default()
                    .compaction_strategy(Arc::new(Fifo::new(1 << 20, Some(3600)))),
            ),
            (
                "dict",
                KeyspaceCreateOptions::default()
                    .index_block_compression_policy(CompressionPolicy::all(
                        CompressionType::zstd_dict(3, dictionary.id()),
                    ))
                    .expect_point_read_hits(true),
            ),
        ];
        for (name, options) in options {
            let dict = (name == "dict").then(|| Arc::clone(&dictionary));
            db.keyspace(name, move || options.clone().zstd_dictionary(dict.clone()))
                .unwrap();
        }
    }
    let file = read_fs(&fs, Path::new("/db/CATALOG"));
    let payload = strata_fuzz::record_payloads(&file)
        .into_iter()
        .next()
        .expect("the catalog is one record");
    let dir = out.join("catalog");
    let mut framed = vec![0u8];
    framed.extend_from_slice(&payload);
    write(&dir, "seed-framed", &framed);
    framed[0] = 2;
    write(&dir, "seed-decode", &framed);
    let mut raw = vec![1u8];
    raw.extend_from_slice(&file);
    write(&dir, "seed-raw", &raw);
    3
}

fn main() {
    let out: PathBuf = std::env::args_os().nth(1).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"),
        PathBuf::from,
    );
    let scratch = std::env::temp_dir().join(format!("strata-fuzz-seeds-{}", std::process::id()));
    StdFs.create_dir(&scratch).unwrap();

    let base = TableWriterOptions::default();
    let tables = [
        ("single", entries(1, 1, 0), base.clone()),
        ("small-filter", entries(20, 1, 8), base.clone()),
        (
            "tiny-blocks-partitioned",
            entries(30, 3, 4),
            TableWriterOptions {
                block_size: 64,
                restart_interval: 1,
                index_partitioned: true,
                filter_partitioned: true,
                ..base.clone()
            },
        ),
        (
            "lz4-no-filter",
            entries(25, 2, 40),
            TableWriterOptions {
                block_size: 256,
                restart_interval: 4,
                filter_bits_per_key: None,
                data_compression: CompressionType::Lz4,
                ..base.clone()
            },
        ),
        (
            "partitioned-index-full-filter",
            entries(40, 1, 2),
            TableWriterOptions {
                block_size: 128,
                restart_interval: 2,
                index_partitioned: true,
                ..base.clone()
            },
        ),
        (
            "prefix-extractor",
            entries(30, 2, 8),
            TableWriterOptions {
                block_size: 128,
                filter_partitioned: true,
                prefix_extractor: Some(std::sync::Arc::new(strata::FixedPrefixExtractor::new(4))),
                ..base.clone()
            },
        ),
    ];

    let mut files = Vec::new();
    for (name, entries, options) in tables {
        let path = scratch.join(format!("{name}.sst"));
        let middle = entries[entries.len() / 2].key.user_key.to_vec();
        write_table(&path, entries, &options).unwrap();
        files.push((name.to_owned(), middle, read(&path)));
        StdFs.remove(&path).unwrap();
    }
    for (name, points) in [("range-tombstones", true), ("range-tombstones-only", false)] {
        for (i, file) in tree_tables(&scratch, name, points).into_iter().enumerate() {
            files.push((format!("{name}-{i}"), b"key00010".to_vec(), file));
        }
    }

    let (mut data_seeds, mut index_seeds, mut range_seeds) = (0, 0, 0);
    let mut part_seeds = [0; 4];
    for (i, (name, _, file)) in files.iter().enumerate() {
        let keys = table_keys(file);
        // Bits per key 10, the prefix extractor's length 0 to 3 and partitioning by the file.
        let header = 9 | ((i as u8 & 1) << 5) | ((i as u8 % 4) << 6);
        for (count, new) in part_seeds
            .iter_mut()
            .zip(table_part_seeds(&out, name, file, &keys, header))
        {
            *count += new;
        }
    }
    for (name, middle, file) in &files {
        write(&out.join("table"), &format!("seed-{name}"), file);
        for (i, block) in blocks(file).into_iter().enumerate() {
            match block[0] {
                0 => {
                    let raw = decode_any_block(block, 0).unwrap();
                    let seed = SeekInput::encode(middle, 5, &raw);
                    write(&out.join("data_block"), &format!("seed-{name}-{i}"), &seed);
                    data_seeds += 1;
                }
                1 => {
                    write(&out.join("index_block"), &format!("seed-{name}-{i}"), block);
                    index_seeds += 1;
                }
                4 => {
                    // NB: `decode_any_block` knows kinds 0 to 3 only; the writer stores
                    // range-tombstone blocks uncompressed, so the stored bytes are the contents.
                    assert_eq!(
                        block[1], 0,
                        "a range-tombstone block is stored uncompressed"
                    );
                    write(
                        &out.join("range_tombstone_block"),
                        &format!("seed-{name}-{i}"),
                        &block[BLOCK_HEADER_LEN..],
                    );
                    range_seeds += 1;
                }
                _ => {}
            }
        }
    }

    let handmade = [
        ("empty", Vec::new()),
        (
            "shared-prefixes",
            vec![
                (b"apple".to_vec(), 9, ValueType::Value, b"red".to_vec()),
                (b"apple".to_vec(), 4, ValueType::Tombstone, Vec::new()),
                (
                    b"applesauce".to_vec(),
                    7,
                    ValueType::MergeOperand,
                    b"+1".to_vec(),
                ),
                (b"apricot".to_vec(), 2, ValueType::WeakTombstone, Vec::new()),
                (b"b".to_vec(), 1, ValueType::Value, Vec::new()),
            ],
        ),
    ];
    for (name, parts) in handmade {
        for restart_interval in [1, 2, 16] {
            let raw = build_data_block(&parts, restart_interval);
            let seed = SeekInput::encode(b"apple", 5, &raw);
            write(
                &out.join("data_block"),
                &format!("seed-{name}-r{restart_interval}"),
                &seed,
            );
            data_seeds += 1;
        }
    }

    let lists = [
        ("empty", Vec::new()),
        ("single", vec![rt("a", "b", 1)]),
        (
            "overlapping",
            vec![rt("a", "m", 5), rt("c", "z", 9), rt("k", "p", 2)],
        ),
        (
            "nested",
            vec![
                rt("a", "b", 1),
                rt("a", "ba", 2),
                rt("a", "bb", 3),
                rt("a", "c", 4),
            ],
        ),
        (
            "shared-prefixes",
            vec![
                rt("user:0001", "user:0001\0", 7),
                rt("user:0002:a", "user:0002:z", 3),
                rt("user:01", "user:02", 11),
            ],
        ),
        (
            "high-seqnos",
            vec![
                rt("", "a", MAX_SEQNO),
                rt("a", "b", MAX_SEQNO - 1),
                rt("", "zz", 1 << 40),
            ],
        ),
    ];
    for (name, tombstones) in lists {
        let raw = list(&tombstones).encode();
        write(
            &out.join("range_tombstone_block"),
            &format!("seed-{name}"),
            &raw,
        );
        range_seeds += 1;
    }

    let blobs = blob_seeds(&scratch);
    for (name, file) in &blobs {
        write(&out.join("blob_file"), &format!("seed-{name}"), file);
    }
    let wal_seeds = wal_seeds(&out);
    // An LZ4 block of a long run and one of mixed text, built here in case no table block
    // compressed.
    for (name, raw) in [
        ("run", vec![b'x'; 4000]),
        (
            "text",
            b"key00001 value-1-1- key00002 value-2-2- ".repeat(20),
        ),
    ] {
        let block = strata::internals::encode_data_block(&raw, CompressionType::Lz4);
        assert_eq!(block[1], 1, "the block compressed");
        let mut seed = block[6..10].to_vec();
        seed.extend_from_slice(&block[BLOCK_HEADER_LEN..]);
        write(&out.join("lz4_block"), &format!("seed-{name}"), &seed);
        part_seeds[3] += 1;
    }
    let manifest_seeds = manifest_seeds(&out, &scratch);
    let ops_seeds = ops_seeds(&out);
    let catalog_seeds = catalog_seeds(&out);

    remove_scratch(&scratch);
    println!(
        "seeds in {}: {} tables, {index_seeds} index blocks, {data_seeds} data blocks, \
         {range_seeds} range-tombstone blocks, {} blob files, {wal_seeds} WALs, {} filters, \
         {} footers, {} meta blocks, {} LZ4 blocks, {manifest_seeds} manifests, {ops_seeds} \
         operation sequences, {catalog_seeds} catalogs",
        out.display(),
        files.len(),
        blobs.len(),
        part_seeds[0],
        part_seeds[1],
        part_seeds[2],
        part_seeds[3],
    );
}
