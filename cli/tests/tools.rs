//! The `strata` binary's tools run as a user runs them, on temporary directories: the key-value
//! commands across invocations, `inspect`, `verify` on clean and damaged trees, `dump-table`, and
//! the errors (one `error: ...` line on stderr and a non-zero exit, never a panic).

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    reason = "test code reads and damages files behind the tool's back"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{fails, flip, manifest_of, name_of, ok, s, snapshot};

use strata::config::BlockSizePolicy;
use strata::{Config, SequenceNumberCounter};

fn table_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("tables"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// A tree with one table of `n` keys (`key00000`...) in 256-byte blocks, written through the
/// library: the CLI's `put` writes one key per table.
fn one_big_table(dir: &Path, n: u32) -> PathBuf {
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(dir, seqno.clone(), SequenceNumberCounter::default())
        .data_block_size_policy(BlockSizePolicy::all(256))
        .open()
        .unwrap();
    for i in 0..n {
        tree.insert(format!("key{i:05}"), format!("value-{i}"), seqno.next());
    }
    tree.flush_active_memtable(0).unwrap();
    let tables = table_files(dir);
    assert_eq!(tables.len(), 1);
    tables[0].clone()
}

#[test]
fn put_get_delete_scan_and_prefix_round_trip_across_invocations() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let d = s(&dir);
    for (k, v) in [
        ("apple", "red"),
        ("banana", "yellow"),
        ("blueberry", "blue"),
        ("cherry", "dark red"),
    ] {
        assert_eq!(ok(&["put", d, k, v]), "");
    }
    assert_eq!(ok(&["put", d, "apple", "green"]), "", "an overwrite");
    assert_eq!(ok(&["get", d, "apple"]), "apple\tgreen\n");
    assert_eq!(ok(&["delete", d, "banana"]), "");
    let (_, err) = fails(&["get", d, "banana"]);
    assert_eq!(err, "error: key not found: banana");
    assert_eq!(
        ok(&["scan", d]),
        "apple\tgreen\nblueberry\tblue\ncherry\tdark red\n"
    );
    assert_eq!(
        ok(&["scan", d, "--from", "b", "--to", "cherry"]),
        "blueberry\tblue\n",
        "--from is inclusive, --to exclusive"
    );
    assert_eq!(
        ok(&["scan", d, "--reverse", "--limit", "2"]),
        "cherry\tdark red\nblueberry\tblue\n"
    );
    assert_eq!(ok(&["scan", d, "--from", "z"]), "");
    assert_eq!(ok(&["scan", d, "--from", "c", "--to", "a"]), "");
    assert_eq!(ok(&["prefix", d, "b"]), "blueberry\tblue\n");
    assert_eq!(ok(&["prefix", d, "", "--limit", "1"]), "apple\tgreen\n");
    // Every write was flushed by its own invocation: six tables, and the seqnos kept rising
    // across opens (the overwrite and the delete won).
    assert_eq!(table_files(&dir).len(), 6);
}

#[test]
fn hex_gives_and_prints_exact_bytes_and_text_output_escapes_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("db");
    let d = s(&d);
    ok(&["put", "--hex", d, "ff00", "c3"]);
    ok(&["put", d, "tab\tkey", "line\nbreak\\"]);
    assert_eq!(ok(&["get", "--hex", d, "ff00"]), "ff00\tc3\n");
    assert_eq!(
        ok(&["scan", d]),
        "tab\\tkey\tline\\nbreak\\\\\n\\xff\\x00\t\\xc3\n"
    );
    assert_eq!(
        ok(&["scan", "--hex", d, "--from", "ff"]),
        "ff00\tc3\n",
        "bounds are hex too"
    );
    let (_, err) = fails(&["put", "--hex", d, "xyz", "00"]);
    assert!(err.contains("invalid hex \"xyz\""), "{err}");
}

#[test]
fn inspect_prints_levels_runs_tables_disk_bytes_and_space_amplification_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let d = s(&dir);
    ok(&["put", d, "a", "1111"]);
    ok(&["put", d, "b", "2222"]);
    ok(&["delete", d, "a"]);
    // An orphan: a copy of a table that no manifest names.
    std::fs::copy(dir.join("tables/0.sst"), dir.join("tables/77.sst")).unwrap();
    let before = snapshot(&dir);
    let out = ok(&["inspect", d]);
    assert_eq!(snapshot(&dir), before, "inspect wrote or removed a file");

    let lines: Vec<&str> = out.lines().collect();
    let manifest = manifest_of(&dir);
    assert_eq!(lines[0], format!("tree        {d}"));
    assert_eq!(
        lines[1],
        format!(
            "manifest    {}: 4 records, {} bytes",
            name_of(&manifest),
            before[&manifest].len()
        ),
        "the new tree's snapshot and three flushes, one per invocation (each open goes on with the manifest)"
    );
    assert_eq!(lines[2], "comparator  default, format version 3");
    assert_eq!(lines[3], "seqnos      highest 2, next table id 3");
    let header = lines.iter().position(|l| l.starts_with("level")).unwrap();
    let words =
        |line: &str| -> Vec<String> { line.split_whitespace().map(str::to_string).collect() };
    assert_eq!(
        words(lines[header]),
        [
            "level",
            "runs",
            "tables",
            "bytes",
            "entries",
            "tombstones",
            "weak"
        ]
    );
    let table_bytes: u64 = (0..3)
        .map(|id| {
            std::fs::metadata(dir.join(format!("tables/{id}.sst")))
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(
        words(lines[header + 1]),
        // "a" and "b" are disjoint and join one run; the delete of "a" starts another.
        ["L0", "2", "3", &table_bytes.to_string(), "3", "1", "0"]
    );
    for level in 1..7 {
        assert_eq!(
            words(lines[header + 1 + level]),
            [
                format!("L{level}"),
                "0".into(),
                "0".into(),
                "0".into(),
                "0".into(),
                "0".into(),
                "0".into()
            ]
        );
    }
    assert_eq!(words(lines[header + 8])[..3], ["total", "2", "3"]);
    // The newest run holds the tombstone for "a" (table 2, seqno 2).
    let run0 = lines
        .iter()
        .position(|l| l.starts_with("L0 run 0"))
        .unwrap();
    assert_eq!(lines[run0], "L0 run 0 (newest): 1 table");
    let row = words(lines[run0 + 2]);
    assert_eq!(row[0], "2");
    assert_eq!(row[2..], ["1", "1", "0", "2..2", "a", "..", "a"]);
    assert!(out.contains("orphan      "), "{out}");
    assert!(out.contains("77.sst"), "{out}");
    assert!(
        out.contains("live data   1 key, 5 bytes (keys 1, values 4) at the latest seqno"),
        "{out}"
    );
    let amp = format!(
        "{:.2}",
        f64::from(u32::try_from(table_bytes).unwrap()) / 5.0
    );
    assert!(
        out.contains(&format!(
            "space amp   {amp} (table bytes {table_bytes} / live data bytes 5)"
        )),
        "{out}"
    );
}

#[test]
fn verify_of_a_clean_tree_exits_zero_with_a_summary_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let d = s(&dir);
    ok(&["put", d, "k1", "v1"]);
    ok(&["put", d, "k2", "v2"]);
    let before = snapshot(&dir);
    let out = ok(&["verify", d]);
    assert_eq!(snapshot(&dir), before, "verify wrote or removed a file");
    let total: usize = before.values().map(Vec::len).sum();
    // Every byte of CURRENT, the manifest and both tables was read (LOCK is empty).
    let expected = format!(
        "clean: 4 files (CURRENT, {} with 3 records, 2 tables), 8 blocks, {total} bytes checked\n",
        name_of(&manifest_of(&dir))
    );
    assert_eq!(out, expected);
}

#[test]
fn verify_names_the_file_and_offset_of_a_flipped_byte_in_a_data_block() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let table = one_big_table(&dir, 400);
    // The third data block's offset, from dump-table's index listing.
    let dump = ok(&["dump-table", s(&table)]);
    let block: Vec<&str> = dump
        .lines()
        .find(|l| l.starts_with("  2\toffset "))
        .unwrap()
        .split_whitespace()
        .collect();
    let offset: usize = block[2].parse().unwrap();
    let len: usize = block[4].parse().unwrap();
    flip(&table, offset + len / 2);
    let (out, err) = fails(&["verify", s(&dir)]);
    let damage = format!(
        "damage: corruption in {} at offset {offset}: checksum mismatch",
        table.display()
    );
    let damages: Vec<&str> = out.lines().filter(|l| l.starts_with("damage: ")).collect();
    assert_eq!(damages.len(), 1, "{out}");
    assert!(damages[0].starts_with(&damage), "{out}");
    assert!(out.contains("damaged: 1 damage; "), "{out}");
    assert_eq!(
        err,
        format!("error: {} holds 1 damage (listed above)", dir.display())
    );
    // The other blocks were still read: the count matches the clean run's.
    let blocks = |text: &str| -> String {
        text.split(", ")
            .find(|p| p.ends_with("blocks"))
            .unwrap()
            .to_string()
    };
    flip(&table, offset + len / 2);
    assert_eq!(blocks(&ok(&["verify", s(&dir)])), blocks(&out));
}

#[test]
fn verify_reports_a_damaged_manifest_record_and_a_damaged_current() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let d = s(&dir);
    ok(&["put", d, "k1", "v1"]);
    ok(&["put", d, "k2", "v2"]);
    let manifest = manifest_of(&dir);
    // A byte in the first record's payload (its header is 18 bytes): a complete record with a
    // wrong checksum is damage, never a torn tail.
    flip(&manifest, 20);
    let (out, _) = fails(&["verify", d]);
    assert!(
        out.starts_with(&format!(
            "damage: corruption in {} at offset 0: checksum mismatch (stored ",
            manifest.display()
        )),
        "{out}"
    );
    // The tables are still checked, one by one.
    assert!(out.contains("no readable manifest, 2 tables"), "{out}");
    flip(&manifest, 20);
    ok(&["verify", d]);

    std::fs::write(dir.join("CURRENT"), "MANIFEST-x\n").unwrap();
    let (out, _) = fails(&["verify", d]);
    assert!(
        out.starts_with(&format!(
            "damage: corruption in {} at offset 0: invalid manifest name\n",
            dir.join("CURRENT").display()
        )),
        "{out}"
    );
}

#[test]
fn verify_warns_about_orphans_and_a_torn_manifest_tail_but_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let d = s(&dir);
    ok(&["put", d, "k1", "v1"]);
    ok(&["put", d, "k2", "v2"]);
    std::fs::copy(dir.join("tables/0.sst"), dir.join("tables/9.sst")).unwrap();
    let manifest = manifest_of(&dir);
    let bytes = std::fs::read(&manifest).unwrap();
    std::fs::write(&manifest, &bytes[..bytes.len() - 2]).unwrap();
    let out = ok(&["verify", d]);
    assert!(out.contains(&format!(
        "warning: orphan table file {}: named by no manifest",
        dir.join("tables/9.sst").display()
    )));
    // The torn record was the second flush's: table 1 is an orphan now too.
    assert!(out.contains("tables/1.sst: named by no manifest"), "{out}");
    assert!(out.contains("ends in a torn tail at offset "), "{out}");
    assert!(out.contains("clean: "), "{out}");
}

#[test]
fn dump_table_prints_meta_footer_index_and_the_entries_within_bounds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let seqno = SequenceNumberCounter::default();
    let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default())
        .data_block_size_policy(BlockSizePolicy::all(64))
        .open()
        .unwrap();
    for i in 0..50u32 {
        tree.insert(format!("key{i:03}"), format!("v{i}"), seqno.next());
    }
    tree.insert("key010", "newer", seqno.next());
    tree.remove("key011", seqno.next());
    tree.flush_active_memtable(0).unwrap();
    drop(tree);
    let table = table_files(&dir).remove(0);
    let out = ok(&["dump-table", s(&table)]);
    let field = |name: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("  {name:<18}")))
            .unwrap_or_else(|| panic!("no {name} in {out}"))
            .to_string()
    };
    assert_eq!(field("table id"), "0");
    assert_eq!(field("entries"), "52");
    assert_eq!(field("tombstones"), "1");
    assert_eq!(field("seqnos"), "0..51");
    assert_eq!(field("min key"), "key000");
    assert_eq!(field("max key"), "key049");
    assert_eq!(field("block size"), "64");
    assert_eq!(field("comparator"), "default");
    let blocks: usize = field("data blocks").parse().unwrap();
    assert!(blocks > 2, "{out}");
    assert!(out.contains(&format!("\ndata blocks: {blocks}\n")), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains("\toffset ")).count(),
        blocks,
        "one handle line per data block: {out}"
    );
    assert!(field("index").ends_with("(full)"), "{out}");
    assert!(field("filter").ends_with("(full)"), "{out}");
    let entries = out
        .split("entries (key, seqno, type, value)\n")
        .nth(1)
        .unwrap();
    assert_eq!(entries.lines().count(), 52);
    let bounded = ok(&[
        "dump-table",
        s(&table),
        "--from",
        "key010",
        "--to",
        "key012",
    ]);
    let entries = bounded
        .split("entries (key, seqno, type, value)\n")
        .nth(1)
        .unwrap();
    assert_eq!(
        entries,
        "key010\t50\tvalue\tnewer\nkey010\t10\tvalue\tv10\nkey011\t51\ttombstone\t\nkey011\t11\tvalue\tv11\n"
    );
    let limited = ok(&["dump-table", s(&table), "--limit", "1", "--hex"]);
    assert!(
        limited.ends_with("entries (key, seqno, type, value)\n6b6579303030\t0\tvalue\t7630\n"),
        "{limited}"
    );
}

#[test]
fn errors_are_one_line_on_stderr_with_a_non_zero_exit() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let m = s(&missing);
    let (_, err) = fails(&["get", m, "k"]);
    assert_eq!(err, format!("error: {m} holds no tree (no CURRENT file)"));
    assert!(!missing.exists(), "get created the directory");
    fails(&["scan", m]);
    fails(&["prefix", m, "p"]);
    fails(&["delete", m, "k"]);
    fails(&["inspect", m]);
    let (_, err) = fails(&["verify", m]);
    assert_eq!(err, format!("error: {m} does not exist"));
    assert!(!missing.exists());

    // Not a table file: too short, and long enough but with no footer magic.
    let file = tmp.path().join("not-a-table.sst");
    std::fs::write(&file, b"hello").unwrap();
    let (_, err) = fails(&["dump-table", s(&file)]);
    assert!(err.contains("at offset 0: truncated"), "{err}");
    std::fs::write(&file, vec![b'x'; 1000]).unwrap();
    let (_, err) = fails(&["dump-table", s(&file)]);
    assert_eq!(
        err,
        format!(
            "error: corruption in {} at offset 928: bad magic number",
            file.display()
        )
    );
    fails(&["dump-table", s(&tmp.path().join("nope.sst"))]);

    // put refuses to turn an unrelated, non-empty directory into a tree.
    let busy = tmp.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), b"mine").unwrap();
    let (_, err) = fails(&["put", s(&busy), "k", "v"]);
    assert!(err.contains("is not empty and holds no tree"), "{err}");
    assert!(!busy.join("CURRENT").exists());

    // A damaged table behind get: the engine's corruption error, one line.
    let dir = tmp.path().join("db");
    let table = one_big_table(&dir, 100);
    flip(&table, 30);
    let (_, err) = fails(&["get", s(&dir), "key00000"]);
    assert!(
        err.starts_with(&format!(
            "error: corruption in {} at offset 0: checksum mismatch",
            table.display()
        )),
        "{err}"
    );
}

#[test]
fn a_reader_that_closes_the_pipe_early_ends_the_scan_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    one_big_table(&dir, 20_000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["scan", s(&dir)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    assert_eq!(&first, b"key00000\tvalue-0");
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr, "");
}
