//! Helpers shared by Strata's fuzz targets and the seed-corpus generator.
//!
//! Every block and every table footer carries an xxh3 checksum, which libFuzzer's mutations
//! practically never repair; without help the fuzzer would only ever reach the checksum check.
//! The targets therefore decode each input twice: as is, and *re-sealed* (lengths and checksums
//! recomputed over the mutated bytes), so that the decoders behind the checksums see mutated
//! contents too. The byte layouts re-sealed here are those of `src/table/block.rs` and
//! `src/table/meta.rs`.

use strata::SeqNo;

/// The length of a block header.
pub const BLOCK_HEADER_LEN: usize = 18;

/// The length of a table footer.
pub const FOOTER_LEN: usize = 72;

/// The magic bytes that end every table file.
pub const MAGIC: [u8; 8] = *b"STRATAT1";

/// The checksum of a block: xxh3-64 over the first ten header bytes, then the stored bytes.
fn block_checksum(header_prefix: &[u8], stored: &[u8]) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(header_prefix);
    hasher.update(stored);
    hasher.digest()
}

/// Recomputes the checksum of the block at `block[..]` (header and stored bytes) in place.
fn seal_block_at(block: &mut [u8]) {
    if block.len() < BLOCK_HEADER_LEN {
        return;
    }
    let (header, stored) = block.split_at_mut(BLOCK_HEADER_LEN);
    let sum = block_checksum(&header[..10], stored);
    header[10..18].copy_from_slice(&sum.to_le_bytes());
}

/// Re-seals a single block that fills `bytes`: `stored_len` becomes the actual length of the
/// stored bytes (and so does `raw_len` for an uncompressed block), and the checksum is
/// recomputed. Inputs shorter than a header come back unchanged.
pub fn reseal_block(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let Some(stored_len) = out
        .len()
        .checked_sub(BLOCK_HEADER_LEN)
        .and_then(|n| u32::try_from(n).ok())
    else {
        return out;
    };
    out[2..6].copy_from_slice(&stored_len.to_le_bytes());
    if out[1] == 0 {
        out[6..10].copy_from_slice(&stored_len.to_le_bytes());
    }
    seal_block_at(&mut out);
    out
}

/// Re-seals a whole table file: walks the blocks laid end to end from offset 0 (as the writer
/// lays them out) recomputing each checksum until a header's length leaves the file body, then
/// restores the footer's magic and recomputes its checksum. The format version and every length
/// and offset are left as the fuzzer made them.
pub fn reseal_table(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let Some(body_end) = out.len().checked_sub(FOOTER_LEN) else {
        return out;
    };
    let mut pos = 0;
    while pos + BLOCK_HEADER_LEN <= body_end {
        let stored_len =
            u32::from_le_bytes([out[pos + 2], out[pos + 3], out[pos + 4], out[pos + 5]]) as usize;
        let end = pos + BLOCK_HEADER_LEN + stored_len;
        if end > body_end {
            break;
        }
        seal_block_at(&mut out[pos..end]);
        pos = end;
    }
    let footer = &mut out[body_end..];
    let sum = xxhash_rust::xxh3::xxh3_64(&footer[..56]);
    footer[56..64].copy_from_slice(&sum.to_le_bytes());
    footer[64..72].copy_from_slice(&MAGIC);
    out
}

/// The input of the `data_block` target: a seek target, then the raw block contents.
///
/// Layout: `key_len: u8` (only the low 6 bits count), the key, `seqno: u8` (255 means
/// `SeqNo::MAX`), then the raw block. Short inputs give an empty key, seqno 0 or an empty block.
#[derive(Debug)]
pub struct SeekInput<'a> {
    /// The user key to seek.
    pub key: &'a [u8],
    /// The seqno to seek.
    pub seqno: SeqNo,
    /// The raw contents of a data block.
    pub raw: &'a [u8],
}

impl<'a> SeekInput<'a> {
    /// Splits a fuzz input.
    pub fn parse(data: &'a [u8]) -> Self {
        let (key_len, rest) = match data.split_first() {
            Some((&len, rest)) => (usize::from(len & 0x3f).min(rest.len()), rest),
            None => (0, data),
        };
        let (key, rest) = rest.split_at(key_len);
        let (seqno, raw) = match rest.split_first() {
            Some((&255, raw)) => (SeqNo::MAX, raw),
            Some((&seqno, raw)) => (SeqNo::from(seqno), raw),
            None => (0, rest),
        };
        Self { key, seqno, raw }
    }

    /// Encodes a seek target and a raw block as a fuzz input (the inverse of [`Self::parse`]
    /// for keys of at most 63 bytes and seqnos below 255).
    pub fn encode(key: &[u8], seqno: u8, raw: &[u8]) -> Vec<u8> {
        let key = &key[..key.len().min(0x3f)];
        let mut out = Vec::with_capacity(2 + key.len() + raw.len());
        out.push(key.len() as u8);
        out.extend_from_slice(key);
        out.push(seqno);
        out.extend_from_slice(raw);
        out
    }
}

/// Internal-key order: user key ascending (bytewise, the default comparator), then seqno
/// descending.
pub fn internal_cmp(a: (&[u8], SeqNo), b: (&[u8], SeqNo)) -> std::cmp::Ordering {
    a.0.cmp(b.0).then_with(|| b.1.cmp(&a.1))
}

/// The bytes that start and end every blob file.
pub const BLOB_MAGIC: [u8; 8] = *b"STRATAB1";

/// The length of a blob file's header.
pub const BLOB_HEADER_LEN: usize = 20;

/// The length of a blob file's footer.
pub const BLOB_FOOTER_LEN: usize = 40;

/// The value length of an uncompressed blob record (`stored` is its raw contents: key length
/// varint, key, value), if it parses.
fn blob_value_len(stored: &[u8]) -> Option<u64> {
    let mut key_len = 0u64;
    for (i, &byte) in stored.iter().enumerate().take(10) {
        key_len |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            let rest = (stored.len() - i - 1) as u64;
            return rest.checked_sub(key_len);
        }
    }
    None
}

/// Re-seals a whole blob file (`src/blob/format.rs`): restores both magics, walks the records
/// laid end to end from the header recomputing each block checksum until a header's length
/// leaves the body, then rewrites the footer's counts (records walked, the body's length, and
/// the value bytes when every record walked is uncompressed) and its checksum. The format
/// version, the compression byte and every record's contents are left as the fuzzer made them.
pub fn reseal_blob_file(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let Some(body_end) = out
        .len()
        .checked_sub(BLOB_FOOTER_LEN)
        .filter(|end| *end >= BLOB_HEADER_LEN)
    else {
        return out;
    };
    out[..8].copy_from_slice(&BLOB_MAGIC);
    let (mut count, mut value_bytes, mut exact) = (0u64, 0u64, true);
    let mut pos = BLOB_HEADER_LEN;
    while pos + BLOCK_HEADER_LEN <= body_end {
        let stored_len =
            u32::from_le_bytes([out[pos + 2], out[pos + 3], out[pos + 4], out[pos + 5]]) as usize;
        let end = pos + BLOCK_HEADER_LEN + stored_len;
        if end > body_end {
            break;
        }
        seal_block_at(&mut out[pos..end]);
        match blob_value_len(&out[pos + BLOCK_HEADER_LEN..end]) {
            Some(len) if out[pos + 1] == 0 => value_bytes += len,
            _ => exact = false,
        }
        count += 1;
        pos = end;
    }
    let record_bytes = (body_end - BLOB_HEADER_LEN) as u64;
    let (header, rest) = out.split_at_mut(BLOB_HEADER_LEN);
    let footer = &mut rest[body_end - BLOB_HEADER_LEN..];
    footer[..8].copy_from_slice(&count.to_le_bytes());
    footer[8..16].copy_from_slice(&record_bytes.to_le_bytes());
    if exact {
        footer[16..24].copy_from_slice(&value_bytes.to_le_bytes());
    }
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(header);
    hasher.update(&footer[..24]);
    footer[24..32].copy_from_slice(&hasher.digest().to_le_bytes());
    footer[32..40].copy_from_slice(&BLOB_MAGIC);
    out
}

/// The `wal` target's input, decoded into WAL segment files `(id, bytes)` in id order.
///
/// The first byte chooses: bit 0, the mode; bits 1 to 3, the first segment's id (1 to 8); bits 4
/// and 5, in raw mode, the number of segments (1 to 3).
/// - Raw mode (bit 0 clear): then a `u16` length (little-endian) for each segment but the last,
///   and the segments' bytes end to end (the last takes the rest).
/// - Framed mode (bit 0 set): a first segment is started with a valid header, then commands, each
///   a byte `c` and what follows it: `c & 3 == 0` starts the next segment (at most 3) with a valid
///   header whose "previous end" is, by `(c >> 2) & 3`, `u64::MAX` (a plain roll), exactly the
///   previous segment's length, that length less `c >> 4`, or that length plus `c >> 4`;
///   `c & 3 == 1` appends a record with a valid checksum around the next `n` bytes (`n` the
///   byte after `c`); `c & 3 == 2` appends the next `n` bytes raw (a torn or damaged tail);
///   `c & 3 == 3` appends a record around the next `n` bytes as a batch payload (kind 1 and a
///   seqno of `c >> 2` put in front: the fuzzer need not find them).
pub fn wal_segments(data: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let Some((&first, mut rest)) = data.split_first() else {
        return Vec::new();
    };
    let base = 1 + u64::from((first >> 1) & 7);
    let mut take = |n: usize| -> &[u8] {
        let n = n.min(rest.len());
        let (head, tail) = rest.split_at(n);
        rest = tail;
        head
    };
    let mut segments: Vec<(u64, Vec<u8>)> = Vec::new();
    if first & 1 == 0 {
        let count = 1 + usize::from((first >> 4) & 3) % 3;
        let mut lengths = Vec::new();
        for _ in 1..count {
            let bytes = take(2);
            let len = match bytes {
                [a, b] => usize::from(u16::from_le_bytes([*a, *b])),
                _ => 0,
            };
            lengths.push(len);
        }
        for (i, len) in lengths.into_iter().enumerate() {
            segments.push((base + i as u64, take(len).to_vec()));
        }
        segments.push((base + segments.len() as u64, take(usize::MAX).to_vec()));
        return segments;
    }
    segments.push((base, wal_header(base, u64::MAX)));
    while let Some(&c) = take(1).first() {
        if c & 3 == 0 {
            if segments.len() < 3 {
                let previous = segments.last().map_or(0, |s| s.1.len() as u64);
                let shift = u64::from(c >> 4);
                let previous_end = match (c >> 2) & 3 {
                    0 => u64::MAX,
                    1 => previous,
                    2 => previous.saturating_sub(shift),
                    _ => previous + shift,
                };
                let id = base + segments.len() as u64;
                segments.push((id, wal_header(id, previous_end)));
            }
            continue;
        }
        let n = take(1).first().map_or(0, |n| usize::from(*n));
        match c & 3 {
            1 => {
                let payload = take(n).to_vec();
                push(
                    &mut segments,
                    &strata::internals::frame_manifest_record(&payload),
                );
            }
            2 => {
                let bytes = take(n).to_vec();
                push(&mut segments, &bytes);
            }
            _ => {
                let mut payload = vec![1u8];
                payload.extend_from_slice(&u64::from(c >> 2).to_le_bytes());
                payload.extend_from_slice(take(n));
                push(
                    &mut segments,
                    &strata::internals::frame_manifest_record(&payload),
                );
            }
        }
    }
    segments
}

fn push(segments: &mut [(u64, Vec<u8>)], bytes: &[u8]) {
    if let Some(last) = segments.last_mut() {
        last.1.extend_from_slice(bytes);
    }
}

/// A WAL segment header record (`src/db/wal.rs`): "STWL", version 1, the segment id, the
/// previous segment's end.
pub fn wal_header(id: u64, previous_end: u64) -> Vec<u8> {
    let mut payload = b"STWL\x01".to_vec();
    payload.extend_from_slice(&id.to_le_bytes());
    payload.extend_from_slice(&previous_end.to_le_bytes());
    strata::internals::frame_manifest_record(&payload)
}

/// A pending log of keyspace `id` (`src/db/pending.rs`) made from a generated segment: its
/// records after the first (the segment header) framed again with valid checksums, behind a
/// pending-log header whose batch count is theirs, or one more when `miscount`; a segment whose
/// bytes hold no record is taken raw.
pub fn pending_log(id: u64, segment: &[u8], miscount: bool) -> Vec<u8> {
    let payloads = record_payloads(segment);
    if payloads.is_empty() {
        return segment.to_vec();
    }
    let batches = payloads.len() as u64 - 1 + u64::from(miscount);
    let mut header = b"STPL\x01".to_vec();
    header.extend_from_slice(&id.to_le_bytes());
    header.extend_from_slice(&batches.to_le_bytes());
    let mut out = strata::internals::frame_manifest_record(&header);
    for payload in payloads.iter().skip(1) {
        out.extend_from_slice(&strata::internals::frame_manifest_record(payload));
    }
    out
}

/// The payloads of the records in `bytes` (the framing of `src/record`), as far as they verify
/// their lengths (not their checksums): for the seed generator.
pub fn record_payloads(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(header) = bytes.get(pos..pos + 18) {
        let len = u32::from_le_bytes([header[2], header[3], header[4], header[5]]) as usize;
        let Some(payload) = bytes.get(pos + 18..pos + 18 + len) else {
            break;
        };
        out.push(payload.to_vec());
        pos += 18 + len + 1;
    }
    out
}

/// The key of the `ops` target that the byte `b` names: one to three letters of `abc`
/// (`b % 3` more than one letter, then the base-3 digits of `b / 3`), so that the 39 keys
/// collide, overwrite each other and share prefixes.
pub fn ops_key(b: u8) -> Vec<u8> {
    let len = 1 + usize::from(b % 3);
    let mut digits = b / 3;
    (0..len)
        .map(|_| {
            let letter = b'a' + digits % 3;
            digits /= 3;
            letter
        })
        .collect()
}

/// The prefix of the `ops` target that the byte `b` names: zero to two letters of `abc`.
pub fn ops_prefix(b: u8) -> Vec<u8> {
    let mut key = ops_key(b / 3);
    key.truncate(usize::from(b % 3));
    key
}

/// The folder of the trees that the `manifest_replay` target opens in a `MemFs`.
pub const TREE_DIR: &str = "/db";

/// The files of a small tree written in a `MemFs` at [`TREE_DIR`] (paths and bytes; the
/// `tables/` folder's files after the others): four flushes of overlapping keys with tombstones,
/// a range tombstone and a weak tombstone, one compaction step between them (tables in L0 and
/// below). Its manifest's record payloads seed the `manifest_replay` target, whose every input
/// opens a copy of these files with the manifest replaced ([`copy_tree_files`]).
pub fn template_tree_files() -> Vec<(std::path::PathBuf, Vec<u8>)> {
    use std::path::Path;
    use strata::compaction::Leveled;
    use strata::fs::{Fs, MemFs};
    let fs = MemFs::new();
    let seqno = strata::SequenceNumberCounter::default();
    {
        let tree = strata::Config::new(
            TREE_DIR,
            seqno.clone(),
            strata::SequenceNumberCounter::default(),
        )
        .fs(std::sync::Arc::new(fs.clone()))
        .open()
        .expect("a tree in memory opens");
        for round in 0..4u32 {
            for i in 0..12u32 {
                let key = format!("k{:02}", (i * 7 + round * 3) % 20);
                match (i + round) % 6 {
                    0 => {
                        tree.remove(key, seqno.next());
                    }
                    1 if round == 0 => {
                        tree.insert(key.clone(), "once", seqno.next());
                        tree.remove_weak(key, seqno.next());
                    }
                    _ => {
                        tree.insert(key, format!("v{round}-{i}"), seqno.next());
                    }
                }
            }
            if round == 2 {
                tree.remove_range("k03", "k06", seqno.next());
            }
            tree.flush_active_memtable(0).expect("flushing in memory");
            if round == 1 {
                let strategy = std::sync::Arc::new(Leveled::default().with_l0_threshold(2));
                tree.compact(strategy, 0).expect("compacting in memory");
            }
        }
    }
    let mut files = Vec::new();
    for folder in [
        Path::new(TREE_DIR).to_path_buf(),
        Path::new(TREE_DIR).join("tables"),
    ] {
        let mut paths = fs.list(&folder).expect("listing the tree's folder");
        paths.sort();
        for path in paths {
            let Ok(file) = fs.open(&path) else {
                continue;
            };
            let Ok(size) = file.size_bytes() else {
                continue;
            };
            let mut bytes = vec![0; usize::try_from(size).unwrap_or(0)];
            if file.read_exact_at(&mut bytes, 0).is_ok() {
                files.push((path, bytes));
            }
        }
    }
    files
}

/// Writes `files` ([`template_tree_files`]) into `fs`, synced, leaving out the manifests and
/// `CURRENT`; returns whether every call succeeded.
pub fn copy_tree_files(fs: &dyn strata::fs::Fs, files: &[(std::path::PathBuf, Vec<u8>)]) -> bool {
    use std::path::Path;
    let root = Path::new(TREE_DIR);
    let tables = root.join("tables");
    if fs.create_dir(root).is_err() || fs.create_dir(&tables).is_err() {
        return false;
    }
    for (path, bytes) in files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "CURRENT" || name.starts_with("MANIFEST-") || name == "LOCK" {
            continue;
        }
        let written = fs.create(path).and_then(|mut file| {
            file.append(bytes)?;
            file.sync()
        });
        if written.is_err() {
            return false;
        }
    }
    fs.sync_dir(&tables).is_ok() && fs.sync_dir(root).is_ok()
}

/// Every directory under `dir` in `fs` (`dir` included, parents first) and every file with its
/// bytes: a database's folder as the `wal` and `catalog` targets copy it.
pub fn walk_mem_fs(
    fs: &strata::fs::MemFs,
    dir: &std::path::Path,
    dirs: &mut Vec<std::path::PathBuf>,
    files: &mut std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>,
) {
    use strata::fs::Fs as _;
    dirs.push(dir.to_path_buf());
    for entry in fs.list(dir).expect("list") {
        if let Ok(file) = fs.open(&entry) {
            let mut bytes = vec![0u8; file.size_bytes().expect("size") as usize];
            file.read_exact_at(&mut bytes, 0).expect("read");
            files.insert(entry, bytes);
        } else {
            walk_mem_fs(fs, &entry, dirs, files);
        }
    }
}
