//! The `strata` binary's tools on a tree with key-value separation: `inspect` lists the blob
//! files with their stale bytes, `verify` reads every blob record and names the file and offset
//! of a damaged one, and `dump-blob` prints a blob file's records and stops with the file and
//! offset at the first damage.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    reason = "test code reads and damages files behind the tool's back"
)]

mod common;

use std::path::{Path, PathBuf};

use common::{fails, flip, manifest_of, name_of, ok, s, snapshot};
use strata::{CompressionType, Config, KvSeparationOptions, SequenceNumberCounter};

/// The separation threshold of the test trees: every 200-byte value goes to a blob file.
const THRESHOLD: u32 = 100;
/// The length of the separated values.
const VALUE_LEN: usize = 200;
/// The bytes before the first record of a blob file (`docs/format.md`, section 11).
const BLOB_HEADER_LEN: u64 = 20;
/// The bytes after the last record.
const BLOB_FOOTER_LEN: u64 = 40;
/// The header of every record (a block header).
const RECORD_HEADER_LEN: u64 = 18;

/// Value `i` of generation `generation`: printable, `VALUE_LEN` bytes, its start telling which.
fn value(generation: u32, i: u32) -> String {
    let mut value = format!("gen{generation} value {i:03} ").repeat(20);
    value.truncate(VALUE_LEN);
    value
}

/// The blob files of the tree at `dir`, oldest (lowest id) first.
fn blob_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(dir.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                name_of(&p).strip_suffix(".blob").unwrap().parse().unwrap(),
                p,
            )
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

/// What [`separated_tree`] wrote.
struct Written {
    /// The blob files, oldest first: the first holds 41 records, the second 4.
    blobs: Vec<PathBuf>,
    /// `stale_blob_bytes()` of the tree before it was closed.
    stale_bytes: u64,
}

/// A tree with key-value separation: `key000`..`key039` and `tab\tkey` with separated values and
/// `small` with an inline one, flushed; then `key000`..`key003` overwritten, flushed, and
/// everything merged into the last level, so that the first blob file holds four stale records
/// (too few for its relocation).
fn separated_tree(dir: &Path) -> Written {
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(dir, seqno.clone(), SequenceNumberCounter::default())
        .with_kv_separation(Some(
            KvSeparationOptions::default()
                .separation_threshold(THRESHOLD)
                .compression(CompressionType::None),
        ))
        .open()
        .unwrap();
    for i in 0..40 {
        tree.insert(format!("key{i:03}"), value(1, i), seqno.next());
    }
    tree.insert("tab\tkey", value(1, 99), seqno.next());
    tree.insert("small", "tiny", seqno.next());
    tree.flush_active_memtable(0).unwrap();
    for i in 0..4 {
        tree.insert(format!("key{i:03}"), value(2, i), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    tree.major_compact(64 << 20, seqno.get()).unwrap();
    assert_eq!(tree.blob_file_count(), 2);
    let stale_bytes = tree.stale_blob_bytes();
    drop(tree);
    let blobs = blob_files(dir);
    assert_eq!(blobs.len(), 2, "{blobs:?}");
    Written { blobs, stale_bytes }
}

/// The record lines of a `dump-blob` output, split at the tabs.
fn records(dump: &str) -> Vec<Vec<String>> {
    dump.lines()
        .filter(|l| l.contains('\t'))
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_string).collect()
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn inspect_lists_the_blob_files_with_their_stale_bytes_and_counts_them_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let written = separated_tree(&dir);
    let before = snapshot(&dir);
    let out = ok(&["inspect", s(&dir)]);
    assert_eq!(snapshot(&dir), before, "inspect wrote or removed a file");

    let lines: Vec<&str> = out.lines().collect();
    let at = lines.iter().position(|l| *l == "blob files: 2").unwrap();
    assert_eq!(
        words(lines[at + 1]),
        [
            "blob", "bytes", "records", "record", "bytes", "stale", "bytes", "stale"
        ]
    );
    let sizes: Vec<u64> = written.blobs.iter().map(|p| file_len(p)).collect();
    let old = words(lines[at + 2]);
    let new = words(lines[at + 3]);
    let total = words(lines[at + 4]);
    assert_eq!(old[0], name_of(&written.blobs[0]).trim_end_matches(".blob"));
    assert_eq!(new[0], name_of(&written.blobs[1]).trim_end_matches(".blob"));
    assert_eq!(old[1..3], [sizes[0].to_string(), "41".to_string()]);
    assert_eq!(new[1..3], [sizes[1].to_string(), "4".to_string()]);
    // The records fill the file between header and footer.
    let overhead = BLOB_HEADER_LEN + BLOB_FOOTER_LEN;
    assert_eq!(old[3], (sizes[0] - overhead).to_string());
    assert_eq!(new[3], (sizes[1] - overhead).to_string());
    // The four overwritten values of the old file are stale; the new file is all live.
    let record_len = RECORD_HEADER_LEN + 1 + 6 + VALUE_LEN as u64;
    assert_eq!(written.stale_bytes, 4 * record_len);
    assert_eq!(old[4], written.stale_bytes.to_string());
    assert_eq!(new[4..], ["0", "0.0%"]);
    assert_eq!(total[0], "total");
    assert_eq!(total[1], (sizes[0] + sizes[1]).to_string());
    assert_eq!(total[2], "45");
    assert_eq!(total[4], written.stale_bytes.to_string());

    // Space amplification counts the blob files.
    let live = 40 * (6 + VALUE_LEN) + (7 + VALUE_LEN) + (5 + 4);
    assert!(
        out.contains(&format!(
            "live data   42 keys, {live} bytes (keys {}, values {})",
            40 * 6 + 7 + 5,
            41 * VALUE_LEN + 4
        )),
        "{out}"
    );
    let table_bytes: u64 = before
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "sst"))
        .map(|(_, b)| b.len() as u64)
        .sum();
    let blob_bytes = sizes[0] + sizes[1];
    #[expect(clippy::cast_precision_loss, reason = "small numbers")]
    let amp = (table_bytes + blob_bytes) as f64 / live as f64;
    assert!(
        out.contains(&format!(
            "space amp   {amp:.2} ((table bytes {table_bytes} + blob file bytes {blob_bytes}) / live data bytes {live})"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(", blob files {blob_bytes}, ")),
        "{out}"
    );

    // An orphan blob file is listed as one.
    std::fs::copy(&written.blobs[1], dir.join("blobs/777.blob")).unwrap();
    let out = ok(&["inspect", s(&dir)]);
    assert!(out.contains("orphan      "), "{out}");
    assert!(out.contains("777.blob"), "{out}");
    assert!(out.contains("orphan files "), "{out}");
}

#[test]
fn verify_reads_every_blob_record_and_names_the_file_and_offset_of_a_damaged_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let d = s(&dir);
    let written = separated_tree(&dir);
    let before = snapshot(&dir);
    let clean = ok(&["verify", d]);
    assert_eq!(snapshot(&dir), before, "verify wrote or removed a file");
    let total: usize = before.values().map(Vec::len).sum();
    let tables = before
        .keys()
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .count();
    let prefix = format!(
        "clean: {} files (CURRENT, {} with ",
        tables + 4,
        name_of(&manifest_of(&dir))
    );
    assert!(clean.starts_with(&prefix), "{clean}");
    assert_eq!(tables, 1, "the major compaction left one table");
    assert!(
        clean.contains(" records, 1 table, 2 blob files), "),
        "{clean}"
    );
    assert!(
        clean.ends_with(&format!(
            " blocks, 45 blob records, {total} bytes checked\n"
        )),
        "{clean}"
    );

    // A byte of the third record's value in the old blob file.
    let old = &written.blobs[0];
    let dump = ok(&["dump-blob", s(old)]);
    let third: u64 = records(&dump)[2][0].parse().unwrap();
    let at = usize::try_from(third + RECORD_HEADER_LEN + 50).unwrap();
    flip(old, at);
    let (out, err) = fails(&["verify", d]);
    let damages: Vec<&str> = out.lines().filter(|l| l.starts_with("damage: ")).collect();
    assert_eq!(damages.len(), 1, "{out}");
    assert!(
        damages[0].starts_with(&format!(
            "damage: corruption in {} at offset {third}: checksum mismatch",
            old.display()
        )),
        "{out}"
    );
    assert!(out.contains("damaged: 1 damage; "), "{out}");
    assert!(out.contains("2 blob files), "), "{out}");
    assert_eq!(
        err,
        format!("error: {} holds 1 damage (listed above)", dir.display())
    );
    flip(old, at);

    // A damaged footer: the file's counts cannot be trusted, the footer's offset is named.
    let footer = file_len(old) - BLOB_FOOTER_LEN;
    flip(old, usize::try_from(footer).unwrap());
    let (out, _) = fails(&["verify", d]);
    assert!(
        out.starts_with(&format!(
            "damage: corruption in {} at offset {footer}: ",
            old.display()
        )),
        "{out}"
    );
    flip(old, usize::try_from(footer).unwrap());
    assert_eq!(ok(&["verify", d]), clean);

    // A missing blob file is damage; a blob file no manifest names is a warning.
    let new = &written.blobs[1];
    let aside = tmp.path().join("aside.blob");
    std::fs::rename(new, &aside).unwrap();
    let (out, _) = fails(&["verify", d]);
    assert!(
        out.contains(&format!(
            "damage: missing blob file {}: named by the manifest",
            new.display()
        )),
        "{out}"
    );
    std::fs::rename(&aside, new).unwrap();
    std::fs::copy(new, dir.join("blobs/777.blob")).unwrap();
    let out = ok(&["verify", d]);
    assert!(
        out.contains(&format!(
            "warning: orphan blob file {}: named by no manifest",
            dir.join("blobs/777.blob").display()
        )),
        "{out}"
    );
    assert!(out.contains("clean: "), "{out}");
}

#[test]
fn dump_blob_prints_every_record_and_the_totals() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let written = separated_tree(&dir);
    let old = &written.blobs[0];
    let size = file_len(old);
    let before = snapshot(&dir);
    let out = ok(&["dump-blob", s(old)]);
    assert_eq!(snapshot(&dir), before, "dump-blob wrote or removed a file");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!("file        {} ({size} bytes)", old.display())
    );
    assert_eq!(
        lines[2],
        "records (offset, length, key, value length, value preview)"
    );
    let rows = records(&out);
    assert_eq!(rows.len(), 41);
    // Records follow each other from the header to the footer, in key order.
    let mut offset = BLOB_HEADER_LEN;
    for row in &rows {
        assert_eq!(row[0], offset.to_string(), "{row:?}");
        offset += row[1].parse::<u64>().unwrap();
    }
    assert_eq!(offset, size - BLOB_FOOTER_LEN);
    let record_len = RECORD_HEADER_LEN + 1 + 6 + VALUE_LEN as u64;
    let preview = format!("{}...", &value(1, 0)[..32]);
    assert_eq!(
        rows[0],
        [
            BLOB_HEADER_LEN.to_string(),
            record_len.to_string(),
            "key000".to_string(),
            VALUE_LEN.to_string(),
            preview
        ]
    );
    assert_eq!(rows[39][2], "key039");
    // The key is escaped as the other dumps escape it: one record, one line.
    assert_eq!(rows[40][2], "tab\\tkey");
    assert_eq!(
        lines.last().unwrap(),
        &format!(
            "total       41 records, {} record bytes, {} value bytes",
            size - BLOB_HEADER_LEN - BLOB_FOOTER_LEN,
            41 * VALUE_LEN
        )
    );

    // --limit prints fewer records but still reads and counts them all; --hex prints bytes.
    let limited = ok(&["dump-blob", s(old), "--limit", "2", "--hex"]);
    let rows = records(&limited);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][2], "6b6579303030");
    assert!(rows[0][4].starts_with("67656e31"), "{limited}");
    assert!(limited.contains("total       41 records, "), "{limited}");
}

#[test]
fn dump_blob_stops_at_a_damaged_record_with_its_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let written = separated_tree(&dir);
    let old = &written.blobs[0];
    let third: u64 = records(&ok(&["dump-blob", s(old)]))[2][0].parse().unwrap();
    flip(
        old,
        usize::try_from(third + RECORD_HEADER_LEN + 10).unwrap(),
    );
    let (out, err) = fails(&["dump-blob", s(old)]);
    assert_eq!(
        records(&out).len(),
        2,
        "the records before the damage: {out}"
    );
    assert!(!out.contains("total"), "{out}");
    assert!(
        err.starts_with(&format!(
            "error: corruption in {} at offset {third}: checksum mismatch",
            old.display()
        )),
        "{err}"
    );

    // Not a blob file: too short, and long enough but without the magic.
    let file = tmp.path().join("7.blob");
    std::fs::write(&file, b"hello").unwrap();
    let (_, err) = fails(&["dump-blob", s(&file)]);
    assert_eq!(
        err,
        format!(
            "error: corruption in {} at offset 0: truncated",
            file.display()
        )
    );
    std::fs::write(&file, vec![b'x'; 1000]).unwrap();
    let (_, err) = fails(&["dump-blob", s(&file)]);
    assert!(
        err.starts_with(&format!(
            "error: corruption in {} at offset 960: ",
            file.display()
        )),
        "{err}"
    );
    let (_, err) = fails(&["dump-blob", s(&tmp.path().join("nope.blob"))]);
    assert!(err.contains("nope.blob"), "{err}");
}
