//! Metamorphic test (RELIABILITY.md suite 1, after Pebble's): one generated operation log
//! replayed under many option sets; every read must give the same answer under every set, and
//! the answer of a `BTreeMap` model of every version.
//!
//! The log holds point writes (insert, remove, weak remove, merge), range and prefix deletes,
//! batches (several writes sharing one seqno), snapshots and their release, point reads,
//! multi-gets, `size_of`, `contains_key`, range and prefix scans forward, backward and from both
//! ends in turn, `first_key_value` / `last_key_value` / `len` / `contains_prefix`, memtable
//! rotation, flushes of the active or only the sealed memtables, compaction by the set's strategy
//! until it has nothing to do, major compaction, reopen, `clear`, and bulk ingestion (finished or
//! dropped unfinished). Reads go at the latest seqno, at `SeqNo::MAX` and at live snapshots.
//!
//! Writers in flight: `reserve` takes a seqno and `land` writes it later, in any order, as
//! concurrent writers do; in between, other writes, rotations and flushes of the sealed
//! memtables run, so a newer memtable (or a table) can hold a newer seqno than the write that
//! lands below it. Operations that publish at the counter (a flush of the active memtable,
//! compaction, reopen, clear, ingestion) come only after every pending write landed, as API.md
//! requires of callers, and a pending seqno holds the GC watermark like a snapshot.
//!
//! The option sets ([`option_sets`], 24 of them) draw from every knob: memtables of a few KiB
//! (the runner rotates and flushes as a `Database` would), data blocks of 64 bytes to 4 KiB,
//! restart intervals 1 to 16 (data) and 1 to 4 (index), the in-block hash index on and off,
//! filters off, full and partitioned (with and without a prefix extractor), partitioned indexes,
//! pinned and unpinned index and filter blocks, a block cache of 0 bytes or more, a small
//! descriptor table, no compression, LZ4 and zstd (with the `lz4` and `zstd` features; the sets
//! fall back to no compression without them), key-value separation with a threshold of 8 bytes,
//! tables of 512 bytes to 64 KiB, a low range-tombstone limit per memtable, compaction after every
//! flush or only when the log asks, and every strategy (Leveled static and dynamic, SizeTiered,
//! FIFO without limits). Each set runs on an in-memory file system or on a real directory.
//!
//! Seqnos: structural operations take seqnos of their own, so the same log gives different seqnos
//! under different sets. The model therefore numbers the log's writes itself, and each run maps a
//! snapshot to its own seqno; a read at a snapshot must see exactly the writes the log made before
//! it was taken. The GC watermark of every flush and compaction is the oldest live snapshot (the
//! counter when there is none), so every read the log makes stays answerable. A reopen flushes
//! first (a `Tree` has no write-ahead log) and releases every snapshot (they die with the
//! process). A weak remove of a key that was not written exactly once (one insert) since its last
//! delete would break `remove_weak`'s contract, so the model turns it into a remove before both
//! sides see it.
//!
//! A mismatch is shrunk (ops removed while the same set still fails) and printed as a log text,
//! which goes into a named regression test at the end of this file (see
//! [`a_logged_case_replays_under_every_set`] for the form). CI runs 5,000 operations under the
//! 24 sets; `STRATA_METAMORPHIC_OPS=N` runs logs of N ops, `STRATA_METAMORPHIC_LOGS=M` runs M logs,
//! and `STRATA_METAMORPHIC_SEED=S` replays one (e.g. `STRATA_METAMORPHIC_OPS=20000
//! STRATA_METAMORPHIC_LOGS=50 cargo test --release --features lz4,zstd --test metamorphic`).
//! `STRATA_METAMORPHIC_SETS=3,7` restricts a run to some sets.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "test code: a failed unwrap is a failed test"
)]
#![allow(
    clippy::too_many_lines,
    clippy::struct_excessive_bools,
    reason = "one match arm per operation kind; an option set is a row of knobs"
)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::Arc;

use strata::compaction::{CompactionAction, CompactionStrategy, Fifo, Leveled, SizeTiered};
use strata::config::{
    BlockSizePolicy, BloomConstructionPolicy, CompressionPolicy, FilterPolicy, FilterPolicyEntry,
    HashRatioPolicy, PinningPolicy, RestartIntervalPolicy,
};
use strata::fs::{Fs, MemFs};
use strata::{
    Cache, CompressionType, Config, DescriptorTable, Guard, KvSeparationOptions, SeqNo,
    SequenceNumberCounter, Slice, Tree,
};

use common::Rng;

// ---------------------------------------------------------------------------------------------
// The operation log
// ---------------------------------------------------------------------------------------------

/// Where a read looks.
#[derive(Clone, Debug, PartialEq)]
enum At {
    /// The write counter's current value.
    Latest,
    /// `SeqNo::MAX` ("latest" by the API's contract).
    Max,
    /// The live snapshot at this index (modulo their number; the latest when there is none).
    Snapshot(usize),
}

/// One write of a batch, or a write on its own.
#[derive(Clone, Debug, PartialEq)]
enum Write {
    Put(String, String),
    Del(String),
    Weak(String),
    Merge(String, String),
    RangeDel(String, String),
    PrefixDel(String),
}

/// How a scan is consumed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Dir {
    Forward,
    Backward,
    /// Front and back in turn.
    Zigzag,
}

#[derive(Clone, Debug, PartialEq)]
enum Op {
    Write(Write),
    /// Writes sharing one seqno (no key twice).
    Batch(Vec<Write>),
    /// A writer takes a seqno now and writes later (`Land`), as concurrent writers do.
    Reserve(Write),
    /// The pending write at this index (modulo their number) lands; nothing without one.
    Land(usize),
    /// `Land` as replayed: the pending write at the index, as the model applied it.
    Landed(usize, Write),
    Snapshot,
    Release(usize),
    Get(String, At),
    MultiGet(Vec<String>, At),
    SizeOf(String, At),
    Contains(String, At),
    Range(Bound<String>, Bound<String>, Dir, At),
    Prefix(String, Dir, At),
    First(At),
    Last(At),
    Len(At),
    ContainsPrefix(String, At),
    Rotate,
    Flush,
    FlushSealed,
    Compact,
    Major,
    Reopen,
    Clear,
    /// Sorted keys with a value, or `None` for a tombstone; `finish`ed when the flag is set,
    /// dropped unfinished otherwise.
    Ingest(Vec<(String, Option<String>)>, bool),
}

/// Keys come from a three-letter alphabet, up to three letters: they overwrite each other and
/// share prefixes, and range deletes nest and overlap.
fn gen_key(rng: &mut Rng) -> String {
    let len = 1 + rng.below(3) as usize;
    (0..len)
        .map(|_| char::from(b'a' + rng.below(3) as u8))
        .collect()
}

/// Values of 2 to 40 bytes (the key-value separation sets separate those of 8 and more), unique
/// per op so a wrong version shows.
fn gen_value(rng: &mut Rng, id: usize) -> String {
    let mut value = format!("v{id}");
    let len = 2 + rng.below(39) as usize;
    while value.len() < len {
        value.push('.');
    }
    value
}

fn gen_write(rng: &mut Rng, id: usize) -> Write {
    match rng.below(20) {
        0..=8 => Write::Put(gen_key(rng), gen_value(rng, id)),
        9..=10 => Write::Del(gen_key(rng)),
        11..=12 => Write::Weak(gen_key(rng)),
        13..=16 => Write::Merge(gen_key(rng), format!("m{id}")),
        17..=18 => {
            let (a, b) = (gen_key(rng), gen_key(rng));
            // Mostly ordered; one in eight as drawn, so sometimes empty or inverted (which
            // writes nothing).
            if rng.below(8) == 0 || a <= b {
                Write::RangeDel(a, b)
            } else {
                Write::RangeDel(b, a)
            }
        }
        _ => {
            let len = 1 + rng.below(2) as usize;
            Write::PrefixDel(gen_key(rng).chars().take(len).collect())
        }
    }
}

impl Write {
    /// The key of a point write (`None` for range and prefix deletes).
    fn point_key(&self) -> Option<&str> {
        match self {
            Write::Put(k, _) | Write::Del(k) | Write::Weak(k) | Write::Merge(k, _) => Some(k),
            Write::RangeDel(..) | Write::PrefixDel(_) => None,
        }
    }

    fn key(&self) -> &str {
        match self {
            Write::Put(k, _)
            | Write::Del(k)
            | Write::Weak(k)
            | Write::Merge(k, _)
            | Write::RangeDel(k, _)
            | Write::PrefixDel(k) => k,
        }
    }
}

fn gen_at(rng: &mut Rng) -> At {
    match rng.below(6) {
        0..=2 => At::Latest,
        3 => At::Max,
        _ => At::Snapshot(rng.below(8) as usize),
    }
}

fn gen_dir(rng: &mut Rng) -> Dir {
    match rng.below(3) {
        0 => Dir::Forward,
        1 => Dir::Backward,
        _ => Dir::Zigzag,
    }
}

fn gen_bound(rng: &mut Rng) -> Bound<String> {
    match rng.below(4) {
        0 => Bound::Unbounded,
        1 => Bound::Excluded(gen_key(rng)),
        _ => Bound::Included(gen_key(rng)),
    }
}

/// A log of `len` operations from `seed`.
fn gen_log(seed: u64, len: usize) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    let mut log = Vec::with_capacity(len);
    for id in 0..len {
        let op = match rng.below(100) {
            0..=39 => Op::Write(gen_write(&mut rng, id)),
            40..=44 => {
                let mut writes: Vec<Write> = Vec::new();
                for _ in 0..2 + rng.below(4) {
                    let write = gen_write(&mut rng, id);
                    if writes.iter().all(|w| w.key() != write.key()) {
                        writes.push(write);
                    }
                }
                Op::Batch(writes)
            }
            45..=47 => Op::Snapshot,
            48..=49 => Op::Release(rng.below(8) as usize),
            50..=57 => Op::Get(gen_key(&mut rng), gen_at(&mut rng)),
            58..=59 => Op::MultiGet(
                (0..=rng.below(4)).map(|_| gen_key(&mut rng)).collect(),
                gen_at(&mut rng),
            ),
            60 => Op::SizeOf(gen_key(&mut rng), gen_at(&mut rng)),
            61 => Op::Contains(gen_key(&mut rng), gen_at(&mut rng)),
            62..=67 => {
                let (lo, hi) = (gen_bound(&mut rng), gen_bound(&mut rng));
                Op::Range(lo, hi, gen_dir(&mut rng), gen_at(&mut rng))
            }
            68..=70 => {
                let len = rng.below(3) as usize;
                let prefix = gen_key(&mut rng).chars().take(len).collect();
                Op::Prefix(prefix, gen_dir(&mut rng), gen_at(&mut rng))
            }
            71 => Op::First(gen_at(&mut rng)),
            72 => Op::Last(gen_at(&mut rng)),
            73 => Op::Len(gen_at(&mut rng)),
            74 => {
                let len = 1 + rng.below(2) as usize;
                Op::ContainsPrefix(
                    gen_key(&mut rng).chars().take(len).collect(),
                    gen_at(&mut rng),
                )
            }
            75..=76 => Op::Rotate,
            77 => Op::Reserve(gen_write(&mut rng, id)),
            78 => Op::Land(rng.below(4) as usize),
            79..=82 => Op::Flush,
            83..=84 => Op::FlushSealed,
            85..=88 => Op::Compact,
            89 => Op::Major,
            90..=91 => Op::Reopen,
            92 => {
                if rng.below(3) == 0 {
                    Op::Clear
                } else {
                    Op::Rotate
                }
            }
            _ => {
                let mut keys: Vec<String> = (0..=rng.below(8)).map(|_| gen_key(&mut rng)).collect();
                keys.sort();
                keys.dedup();
                let entries = keys
                    .into_iter()
                    .map(|k| {
                        let value = (rng.below(5) != 0).then(|| gen_value(&mut rng, id));
                        (k, value)
                    })
                    .collect();
                Op::Ingest(entries, rng.below(6) != 0)
            }
        };
        log.push(op);
    }
    log
}

// ---------------------------------------------------------------------------------------------
// Log text: how a shrunk failing log is printed and kept in a regression test
// ---------------------------------------------------------------------------------------------

fn at_text(at: &At) -> String {
    match at {
        At::Latest => "@".to_owned(),
        At::Max => "@max".to_owned(),
        At::Snapshot(i) => format!("@{i}"),
    }
}

fn parse_at(text: &str) -> At {
    match text {
        "@" => At::Latest,
        "@max" => At::Max,
        _ => At::Snapshot(
            text.trim_start_matches('@')
                .parse()
                .expect("snapshot index"),
        ),
    }
}

fn dir_text(dir: Dir) -> &'static str {
    match dir {
        Dir::Forward => "fwd",
        Dir::Backward => "back",
        Dir::Zigzag => "zigzag",
    }
}

fn parse_dir(text: &str) -> Dir {
    match text {
        "fwd" => Dir::Forward,
        "back" => Dir::Backward,
        "zigzag" => Dir::Zigzag,
        _ => panic!("direction {text}"),
    }
}

fn write_text(write: &Write) -> String {
    match write {
        Write::Put(k, v) => format!("put:{k}:{v}"),
        Write::Del(k) => format!("del:{k}"),
        Write::Weak(k) => format!("weak:{k}"),
        Write::Merge(k, v) => format!("merge:{k}:{v}"),
        Write::RangeDel(a, b) => format!("rdel:{a}:{b}"),
        Write::PrefixDel(p) => format!("pdel:{p}"),
    }
}

fn parse_write(text: &str) -> Write {
    let parts: Vec<&str> = text.split(':').collect();
    let s = |i: usize| parts[i].to_owned();
    match parts[0] {
        "put" => Write::Put(s(1), s(2)),
        "del" => Write::Del(s(1)),
        "weak" => Write::Weak(s(1)),
        "merge" => Write::Merge(s(1), s(2)),
        "rdel" => Write::RangeDel(s(1), s(2)),
        "pdel" => Write::PrefixDel(s(1)),
        _ => panic!("write {text}"),
    }
}

/// `-` unbounded, `[k` / `k]` included, `(k` / `k)` excluded.
fn bound_text(bound: &Bound<String>, low: bool) -> String {
    match (bound, low) {
        (Bound::Unbounded, _) => "-".to_owned(),
        (Bound::Included(k), true) => format!("[{k}"),
        (Bound::Excluded(k), true) => format!("({k}"),
        (Bound::Included(k), false) => format!("{k}]"),
        (Bound::Excluded(k), false) => format!("{k})"),
    }
}

fn parse_bound(text: &str) -> Bound<String> {
    if text == "-" {
        Bound::Unbounded
    } else if let Some(k) = text.strip_prefix('[').or_else(|| text.strip_suffix(']')) {
        Bound::Included(k.to_owned())
    } else {
        let k = text.trim_start_matches('(').trim_end_matches(')');
        Bound::Excluded(k.to_owned())
    }
}

/// An empty prefix or key prints as `""`.
fn word(text: &str) -> &str {
    if text.is_empty() { "\"\"" } else { text }
}

fn unword(text: &str) -> String {
    if text == "\"\"" {
        String::new()
    } else {
        text.to_owned()
    }
}

fn op_text(op: &Op) -> String {
    match op {
        Op::Write(w) => write_text(w),
        Op::Batch(ws) => {
            let mut text = "batch".to_owned();
            for w in ws {
                write!(text, " {}", write_text(w)).unwrap();
            }
            text
        }
        Op::Snapshot => "snapshot".to_owned(),
        Op::Reserve(w) => format!("reserve {}", write_text(w)),
        Op::Land(i) | Op::Landed(i, _) => format!("land {i}"),
        Op::Release(i) => format!("release {i}"),
        Op::Get(k, at) => format!("get {k} {}", at_text(at)),
        Op::MultiGet(ks, at) => format!("multiget {} {}", at_text(at), ks.join(" ")),
        Op::SizeOf(k, at) => format!("sizeof {k} {}", at_text(at)),
        Op::Contains(k, at) => format!("contains {k} {}", at_text(at)),
        Op::Range(lo, hi, dir, at) => format!(
            "range {} {} {} {}",
            bound_text(lo, true),
            bound_text(hi, false),
            dir_text(*dir),
            at_text(at)
        ),
        Op::Prefix(p, dir, at) => format!("prefix {} {} {}", word(p), dir_text(*dir), at_text(at)),
        Op::First(at) => format!("first {}", at_text(at)),
        Op::Last(at) => format!("last {}", at_text(at)),
        Op::Len(at) => format!("len {}", at_text(at)),
        Op::ContainsPrefix(p, at) => format!("containsprefix {} {}", word(p), at_text(at)),
        Op::Rotate => "rotate".to_owned(),
        Op::Flush => "flush".to_owned(),
        Op::FlushSealed => "flushsealed".to_owned(),
        Op::Compact => "compact".to_owned(),
        Op::Major => "major".to_owned(),
        Op::Reopen => "reopen".to_owned(),
        Op::Clear => "clear".to_owned(),
        Op::Ingest(entries, finish) => {
            let mut text = if *finish { "ingest" } else { "ingest-dropped" }.to_owned();
            for (k, v) in entries {
                write!(text, " {k}={}", v.as_deref().unwrap_or("~")).unwrap();
            }
            text
        }
    }
}

/// Reads a log printed by [`op_text`] (one op per line; blank lines and `#` comments skipped).
fn parse_log(text: &str) -> Vec<Op> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let parts: Vec<&str> = line.split(' ').collect();
            let at = |i: usize| parse_at(parts[i]);
            match parts[0] {
                "batch" => Op::Batch(parts[1..].iter().map(|w| parse_write(w)).collect()),
                "snapshot" => Op::Snapshot,
                "release" => Op::Release(parts[1].parse().unwrap()),
                "get" => Op::Get(parts[1].to_owned(), at(2)),
                "multiget" => {
                    Op::MultiGet(parts[2..].iter().map(|k| (*k).to_owned()).collect(), at(1))
                }
                "sizeof" => Op::SizeOf(parts[1].to_owned(), at(2)),
                "contains" => Op::Contains(parts[1].to_owned(), at(2)),
                "range" => Op::Range(
                    parse_bound(parts[1]),
                    parse_bound(parts[2]),
                    parse_dir(parts[3]),
                    at(4),
                ),
                "prefix" => Op::Prefix(unword(parts[1]), parse_dir(parts[2]), at(3)),
                "first" => Op::First(at(1)),
                "last" => Op::Last(at(1)),
                "len" => Op::Len(at(1)),
                "containsprefix" => Op::ContainsPrefix(unword(parts[1]), at(2)),
                "reserve" => Op::Reserve(parse_write(parts[1])),
                "land" => Op::Land(parts[1].parse().unwrap()),
                "rotate" => Op::Rotate,
                "flush" => Op::Flush,
                "flushsealed" => Op::FlushSealed,
                "compact" => Op::Compact,
                "major" => Op::Major,
                "reopen" => Op::Reopen,
                "clear" => Op::Clear,
                "ingest" | "ingest-dropped" => Op::Ingest(
                    parts[1..]
                        .iter()
                        .map(|e| {
                            let (k, v) = e.split_once('=').unwrap();
                            (k.to_owned(), (v != "~").then(|| v.to_owned()))
                        })
                        .collect(),
                    parts[0] == "ingest",
                ),
                _ => Op::Write(parse_write(line)),
            }
        })
        .collect()
}

fn log_text(log: &[Op]) -> String {
    log.iter().map(|op| op_text(op) + "\n").collect()
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Version {
    Value(String),
    /// A remove or a weak remove (they read alike).
    Deleted,
    Operand(String),
}

/// Every version of every key and every range delete, numbered by the model's own seqnos.
#[derive(Default)]
struct Model {
    versions: BTreeMap<String, Vec<(SeqNo, Version)>>,
    /// `[start, end)` (`None`: no end, a `clear`) hidden below the seqno.
    ranges: Vec<(String, Option<String>, SeqNo)>,
    next: SeqNo,
    snapshots: Vec<SeqNo>,
    /// Reserved seqnos and their writes, not landed yet.
    pending: Vec<(SeqNo, Write)>,
}

/// What a read returned; identical under every option set.
#[derive(Clone, Debug, PartialEq)]
enum Answer {
    Value(Option<String>),
    Values(Vec<Option<String>>),
    Size(Option<u32>),
    Bool(bool),
    Pairs(Vec<(String, String)>),
    Pair(Option<(String, String)>),
    Count(usize),
}

fn in_bounds(key: &str, lo: &Bound<String>, hi: &Bound<String>) -> bool {
    let above = match lo {
        Bound::Unbounded => true,
        Bound::Included(b) => key >= b.as_str(),
        Bound::Excluded(b) => key > b.as_str(),
    };
    let below = match hi {
        Bound::Unbounded => true,
        Bound::Included(b) => key <= b.as_str(),
        Bound::Excluded(b) => key < b.as_str(),
    };
    above && below
}

/// The end of the keys that start with `prefix` (`None`: no end).
fn prefix_end(prefix: &str) -> Option<String> {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0x7f {
            bytes.push(last + 1);
            return Some(String::from_utf8(bytes).unwrap());
        }
    }
    None
}

impl Model {
    /// The seqno of a read at `at`.
    fn read_point(&self, at: &At) -> SeqNo {
        match at {
            At::Latest | At::Max => self.next,
            At::Snapshot(i) => {
                if self.snapshots.is_empty() {
                    self.next
                } else {
                    self.snapshots[i % self.snapshots.len()]
                }
            }
        }
    }

    /// The newest range delete (or clear) below `x` over `key`: versions below it are hidden.
    fn hidden_below(&self, key: &str, x: SeqNo) -> SeqNo {
        self.ranges
            .iter()
            .filter(|(start, end, s)| {
                *s < x && key >= start.as_str() && end.as_deref().is_none_or(|e| key < e)
            })
            .map(|(_, _, s)| *s)
            .max()
            .unwrap_or(0)
    }

    fn get(&self, key: &str, x: SeqNo) -> Option<String> {
        let versions = self.versions.get(key)?;
        let hidden = self.hidden_below(key, x);
        let mut operands: Vec<&str> = Vec::new();
        let mut base: Option<&str> = None;
        for (s, version) in versions.iter().rev() {
            if *s >= x {
                continue;
            }
            // A range delete at S hides versions below S; a version at S stays.
            if *s < hidden {
                break;
            }
            match version {
                Version::Value(v) => {
                    base = Some(v);
                    break;
                }
                Version::Deleted => break,
                Version::Operand(v) => operands.push(v),
            }
        }
        if operands.is_empty() {
            return base.map(str::to_owned);
        }
        let mut value = base.unwrap_or("").to_owned();
        for operand in operands.iter().rev() {
            value.push_str(operand);
        }
        Some(value)
    }

    fn scan(&self, lo: &Bound<String>, hi: &Bound<String>, x: SeqNo) -> Vec<(String, String)> {
        self.versions
            .keys()
            .filter(|k| in_bounds(k, lo, hi))
            .filter_map(|k| self.get(k, x).map(|v| (k.clone(), v)))
            .collect()
    }

    fn prefix(&self, prefix: &str, x: SeqNo) -> Vec<(String, String)> {
        self.versions
            .keys()
            .filter(|k| k.starts_with(prefix))
            .filter_map(|k| self.get(k, x).map(|v| (k.clone(), v)))
            .collect()
    }

    /// Whether `remove_weak(key)` at `seqno` keeps its contract: exactly one insert beneath it
    /// since the key's last delete of any kind, and no pending write of the key below `seqno`
    /// (landing later, it would put a second value under the weak remove).
    fn weak_allowed(&self, key: &str, seqno: SeqNo) -> bool {
        if self
            .pending
            .iter()
            .any(|(s, w)| *s < seqno && w.point_key() == Some(key))
        {
            return false;
        }
        let Some(versions) = self.versions.get(key) else {
            return false;
        };
        let hidden = self.hidden_below(key, seqno);
        let since: Vec<&Version> = versions
            .iter()
            .rev()
            .filter(|(s, _)| *s < seqno)
            .take_while(|(s, v)| *s >= hidden && !matches!(v, Version::Deleted))
            .map(|(_, v)| v)
            .collect();
        matches!(since.as_slice(), [Version::Value(_)])
    }

    /// Applies `write` at `seqno`, turning a weak remove that would break the contract into a
    /// remove; returns the write as applied.
    fn apply(&mut self, write: &Write, seqno: SeqNo) -> Write {
        let write = match write {
            Write::Weak(k) if !self.weak_allowed(k, seqno) => Write::Del(k.clone()),
            other => other.clone(),
        };
        // Versions stay in seqno order: a pending write lands below newer ones.
        let mut put = |key: &str, version: Version| {
            let versions = self.versions.entry(key.to_owned()).or_default();
            let at = versions.partition_point(|(s, _)| *s <= seqno);
            versions.insert(at, (seqno, version));
        };
        match &write {
            Write::Put(k, v) => put(k, Version::Value(v.clone())),
            Write::Del(k) | Write::Weak(k) => put(k, Version::Deleted),
            Write::Merge(k, v) => put(k, Version::Operand(v.clone())),
            Write::RangeDel(a, b) => {
                if a < b {
                    self.ranges.push((a.clone(), Some(b.clone()), seqno));
                }
            }
            Write::PrefixDel(p) => {
                if !p.is_empty() {
                    self.ranges.push((p.clone(), prefix_end(p), seqno));
                }
            }
        }
        write
    }
}

/// A log as both sides replay it, with the model's answers.
struct Replay {
    /// The log with weak removes that would break the contract turned into removes, and every
    /// pending write landed (in reservation order) before an operation that publishes at the
    /// counter (a flush of the active memtable, compaction, reopen, clear, ingestion), as API.md
    /// requires of callers with writers in flight.
    ops: Vec<Op>,
    /// The model's answer to each read (`None` for ops that read nothing).
    answers: Vec<Option<Answer>>,
    /// The index in the generated log each op comes from.
    origin: Vec<usize>,
}

fn model_answers(log: &[Op]) -> Replay {
    let mut model = Model::default();
    let mut replay = Replay {
        ops: Vec::with_capacity(log.len()),
        answers: Vec::with_capacity(log.len()),
        origin: Vec::with_capacity(log.len()),
    };
    for (index, op) in log.iter().enumerate() {
        let publishes = matches!(
            op,
            Op::Flush | Op::Compact | Op::Major | Op::Reopen | Op::Clear | Op::Ingest(..)
        );
        if publishes {
            while !model.pending.is_empty() {
                let (seqno, write) = model.pending.remove(0);
                replay.ops.push(Op::Landed(0, model.apply(&write, seqno)));
                replay.answers.push(None);
                replay.origin.push(index);
            }
        }
        let mut answer = None;
        let op = match op {
            Op::Reserve(w) => {
                model.pending.push((model.next, w.clone()));
                model.next += 1;
                op.clone()
            }
            Op::Land(i) | Op::Landed(i, _) => {
                if model.pending.is_empty() {
                    Op::Land(*i)
                } else {
                    let at = i % model.pending.len();
                    let (seqno, write) = model.pending.remove(at);
                    Op::Landed(at, model.apply(&write, seqno))
                }
            }
            Op::Write(w) => {
                let seqno = model.next;
                model.next += 1;
                Op::Write(model.apply(w, seqno))
            }
            Op::Batch(ws) => {
                let seqno = model.next;
                model.next += 1;
                Op::Batch(ws.iter().map(|w| model.apply(w, seqno)).collect())
            }
            Op::Snapshot => {
                model.snapshots.push(model.next);
                op.clone()
            }
            Op::Release(i) => {
                if !model.snapshots.is_empty() {
                    let len = model.snapshots.len();
                    model.snapshots.remove(i % len);
                }
                op.clone()
            }
            Op::Reopen => {
                model.snapshots.clear();
                op.clone()
            }
            Op::Clear => {
                let seqno = model.next;
                model.next += 1;
                model.ranges.push((String::new(), None, seqno));
                op.clone()
            }
            Op::Ingest(entries, finish) => {
                if *finish {
                    let seqno = model.next;
                    model.next += 1;
                    for (k, v) in entries {
                        let version = v.clone().map_or(Version::Deleted, Version::Value);
                        model
                            .versions
                            .entry(k.clone())
                            .or_default()
                            .push((seqno, version));
                    }
                }
                op.clone()
            }
            Op::Get(k, at) => {
                answer = Some(Answer::Value(model.get(k, model.read_point(at))));
                op.clone()
            }
            Op::MultiGet(ks, at) => {
                let x = model.read_point(at);
                answer = Some(Answer::Values(ks.iter().map(|k| model.get(k, x)).collect()));
                op.clone()
            }
            Op::SizeOf(k, at) => {
                let value = model.get(k, model.read_point(at));
                answer = Some(Answer::Size(value.map(|v| v.len() as u32)));
                op.clone()
            }
            Op::Contains(k, at) => {
                answer = Some(Answer::Bool(model.get(k, model.read_point(at)).is_some()));
                op.clone()
            }
            Op::Range(lo, hi, dir, at) => {
                let all = model.scan(lo, hi, model.read_point(at));
                answer = Some(Answer::Pairs(consume_model(all, *dir)));
                op.clone()
            }
            Op::Prefix(p, dir, at) => {
                let all = model.prefix(p, model.read_point(at));
                answer = Some(Answer::Pairs(consume_model(all, *dir)));
                op.clone()
            }
            Op::First(at) => {
                let all = model.scan(&Bound::Unbounded, &Bound::Unbounded, model.read_point(at));
                answer = Some(Answer::Pair(all.first().cloned()));
                op.clone()
            }
            Op::Last(at) => {
                let all = model.scan(&Bound::Unbounded, &Bound::Unbounded, model.read_point(at));
                answer = Some(Answer::Pair(all.last().cloned()));
                op.clone()
            }
            Op::Len(at) => {
                let all = model.scan(&Bound::Unbounded, &Bound::Unbounded, model.read_point(at));
                answer = Some(Answer::Count(all.len()));
                op.clone()
            }
            Op::ContainsPrefix(p, at) => {
                answer = Some(Answer::Bool(
                    !model.prefix(p, model.read_point(at)).is_empty(),
                ));
                op.clone()
            }
            Op::Rotate | Op::Flush | Op::FlushSealed | Op::Compact | Op::Major => op.clone(),
        };
        replay.ops.push(op);
        replay.answers.push(answer);
        replay.origin.push(index);
    }
    replay
}

/// The order a scan consumed in `dir` yields the model's `all` (ascending) in.
fn consume_model(mut all: Vec<(String, String)>, dir: Dir) -> Vec<(String, String)> {
    match dir {
        Dir::Forward => all,
        Dir::Backward => {
            all.reverse();
            all
        }
        Dir::Zigzag => {
            let mut out = Vec::with_capacity(all.len());
            let mut front = true;
            let mut all: std::collections::VecDeque<_> = all.drain(..).collect();
            while let Some(item) = if front {
                all.pop_front()
            } else {
                all.pop_back()
            } {
                out.push(item);
                front = !front;
            }
            out
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The option sets
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Strategy {
    Leveled,
    LeveledDynamic,
    Tiered,
    Fifo,
}

#[derive(Clone, Copy, Debug)]
enum Compression {
    None,
    Lz4,
    Zstd,
}

#[derive(Clone, Copy, Debug)]
enum Filter {
    Off,
    Full,
    Partitioned,
}

/// One option set: a value for every knob.
#[derive(Clone, Debug)]
struct OptionSet {
    block: u32,
    restart: u8,
    index_restart: u8,
    hash: bool,
    filter: Filter,
    prefix_extractor: bool,
    partitioned_index: bool,
    pinned: bool,
    compression: Compression,
    kv_separation: bool,
    table_size: u64,
    /// The active memtable is rotated once it reaches this size; sealed memtables are flushed
    /// once there are `max_sealed`.
    memtable: u64,
    max_sealed: usize,
    cache: u64,
    descriptor_table: bool,
    range_tombstone_limit: Option<usize>,
    strategy: Strategy,
    /// Runs the strategy to the end after every flush (as a `Database`'s worker would).
    compact_after_flush: bool,
    /// A real directory instead of the in-memory file system.
    real_dir: bool,
}

/// The 24 option sets: every knob takes each of its values in some set, and the sets mix them.
fn option_sets() -> Vec<OptionSet> {
    let base = OptionSet {
        block: 4096,
        restart: 16,
        index_restart: 1,
        hash: false,
        filter: Filter::Full,
        prefix_extractor: false,
        partitioned_index: false,
        pinned: true,
        compression: Compression::None,
        kv_separation: false,
        table_size: 64 * 1024,
        memtable: 1 << 30,
        max_sealed: 1,
        cache: 16 << 20,
        descriptor_table: false,
        range_tombstone_limit: None,
        strategy: Strategy::Leveled,
        compact_after_flush: false,
        real_dir: false,
    };
    let strategies = [
        Strategy::Leveled,
        Strategy::LeveledDynamic,
        Strategy::Tiered,
        Strategy::Fifo,
    ];
    let compressions = [Compression::None, Compression::Lz4, Compression::Zstd];
    let filters = [Filter::Off, Filter::Full, Filter::Partitioned];
    (0..24)
        .map(|i| {
            let mut set = base.clone();
            set.strategy = strategies[i % 4];
            set.compression = compressions[(i / 4) % 3];
            set.filter = filters[(i / 2) % 3];
            set.block = [64, 128, 256, 512, 1024, 4096][i % 6];
            set.restart = [1, 2, 4, 16][(i / 3) % 4];
            set.index_restart = [1, 4][(i / 5) % 2];
            set.hash = i % 5 != 0;
            set.prefix_extractor = i % 3 == 0;
            set.partitioned_index = i % 4 == 1 || i % 7 == 0;
            set.pinned = i % 2 == 0;
            set.kv_separation = i % 3 == 1;
            set.table_size = [512, 2048, 8192, 64 * 1024][(i / 2) % 4];
            set.memtable = [2048, 4096, 16 * 1024, 1 << 30][i % 4];
            set.max_sealed = 1 + i % 3;
            set.cache = [0, 4096, 16 << 20][i % 3];
            set.descriptor_table = i % 4 == 2;
            set.range_tombstone_limit = (i % 5 == 3).then_some(3);
            set.compact_after_flush = i % 2 == 1;
            set.real_dir = i % 6 == 5;
            set
        })
        .collect()
}

impl OptionSet {
    fn strategy(&self) -> Arc<dyn CompactionStrategy> {
        match self.strategy {
            Strategy::Leveled => Arc::new(
                Leveled::default()
                    .with_l0_threshold(2)
                    .with_table_target_size(self.table_size)
                    .with_level_ratio_policy(vec![2.0]),
            ),
            Strategy::LeveledDynamic => Arc::new(
                Leveled::default()
                    .with_l0_threshold(2)
                    .with_table_target_size(self.table_size)
                    .with_level_ratio_policy(vec![3.0])
                    .with_dynamic_level_bytes(true),
            ),
            Strategy::Tiered => Arc::new(
                SizeTiered::default()
                    .with_run_trigger(2)
                    .with_table_target_size(self.table_size),
            ),
            Strategy::Fifo => Arc::new(Fifo::new(u64::MAX, None)),
        }
    }

    fn configure(&self, config: Config) -> Config {
        let compression = match self.compression {
            Compression::None => CompressionType::None,
            #[cfg(feature = "lz4")]
            Compression::Lz4 => CompressionType::Lz4,
            #[cfg(feature = "zstd")]
            Compression::Zstd => CompressionType::zstd(3),
            #[cfg(not(all(feature = "lz4", feature = "zstd")))]
            _ => CompressionType::None,
        };
        let filter = match self.filter {
            Filter::Off => FilterPolicy::disabled(),
            Filter::Full | Filter::Partitioned => FilterPolicy::all(FilterPolicyEntry::Bloom(
                BloomConstructionPolicy::BitsPerKey(10.0),
            )),
        };
        let mut config = config
            .data_block_size_policy(BlockSizePolicy::all(self.block))
            .data_block_restart_interval_policy(RestartIntervalPolicy::all(self.restart))
            .index_block_restart_interval_policy(RestartIntervalPolicy::all(self.index_restart))
            .data_block_hash_ratio_policy(HashRatioPolicy::all(if self.hash { 0.75 } else { 0.0 }))
            .filter_policy(filter)
            .filter_block_partitioning_policy(PinningPolicy::all(matches!(
                self.filter,
                Filter::Partitioned
            )))
            .index_block_partitioning_policy(PinningPolicy::all(self.partitioned_index))
            .index_block_pinning_policy(PinningPolicy::all(self.pinned))
            .filter_block_pinning_policy(PinningPolicy::all(self.pinned))
            .data_block_compression_policy(CompressionPolicy::all(compression))
            .table_target_size(self.table_size)
            .use_cache(Arc::new(Cache::with_capacity_bytes(self.cache)))
            .with_merge_operator(Some(Arc::new(Append)));
        if self.prefix_extractor {
            config = config.prefix_extractor(Arc::new(strata::FixedPrefixExtractor::new(1)));
        }
        if self.descriptor_table {
            config = config.use_descriptor_table(Some(Arc::new(DescriptorTable::new(2))));
        }
        if let Some(limit) = self.range_tombstone_limit {
            config = config.memtable_range_tombstone_limit(limit);
        }
        if self.kv_separation {
            config = config.with_kv_separation(Some(
                KvSeparationOptions::default()
                    .separation_threshold(8)
                    .file_target_size(256)
                    .staleness_threshold(0.1)
                    .age_cutoff(0.5),
            ));
        }
        config
    }
}

/// Appends the operands to the base: associative, not commutative, so an operand merged out of
/// order shows.
struct Append;

impl strata::MergeOperator for Append {
    fn merge(&self, _key: &[u8], base: Option<&[u8]>, operands: &[&[u8]]) -> strata::Result<Slice> {
        let mut out = base.unwrap_or_default().to_vec();
        for operand in operands {
            out.extend_from_slice(operand);
        }
        Ok(out.into())
    }
}

// ---------------------------------------------------------------------------------------------
// Replaying a log on a tree
// ---------------------------------------------------------------------------------------------

#[derive(Default, Debug)]
struct Counters {
    ops: u64,
    reads: u64,
    flushes: u64,
    compaction_steps: u64,
    reopens: u64,
    ingestions: u64,
    /// Pending writes that landed.
    landed: u64,
    /// The most tables, the deepest level holding a table, and the most blob files seen after a
    /// flush or compaction: the sets must give the log different shapes.
    max_tables: usize,
    deepest_level: usize,
    max_blob_files: usize,
}

impl Counters {
    fn add(&mut self, other: &Counters) {
        self.ops += other.ops;
        self.reads += other.reads;
        self.flushes += other.flushes;
        self.compaction_steps += other.compaction_steps;
        self.reopens += other.reopens;
        self.ingestions += other.ingestions;
        self.landed += other.landed;
        self.max_tables = self.max_tables.max(other.max_tables);
        self.deepest_level = self.deepest_level.max(other.deepest_level);
        self.max_blob_files = self.max_blob_files.max(other.max_blob_files);
    }

    fn observe(&mut self, tree: &Tree) {
        self.max_tables = self.max_tables.max(tree.table_count());
        let deepest = (0..7)
            .filter(|&level| tree.level_table_count(level).unwrap_or(0) > 0)
            .max()
            .unwrap_or(0);
        self.deepest_level = self.deepest_level.max(deepest);
        self.max_blob_files = self.max_blob_files.max(tree.blob_file_count());
    }
}

struct Run<'a> {
    set: &'a OptionSet,
    fs: Arc<dyn Fs>,
    path: PathBuf,
    _dir: Option<tempfile::TempDir>,
    seqno: SequenceNumberCounter,
    visible: SequenceNumberCounter,
    tree: Option<Tree>,
    snapshots: Vec<SeqNo>,
    /// Seqnos reserved by `Reserve`, not landed yet.
    pending: Vec<SeqNo>,
    counters: Counters,
}

fn text(slice: &[u8]) -> String {
    String::from_utf8(slice.to_vec()).expect("the log writes text")
}

fn pair(item: impl Guard) -> strata::Result<(String, String)> {
    let (k, v) = item.into_inner()?;
    Ok((text(&k), text(&v)))
}

fn to_bound(bound: &Bound<String>) -> Bound<Vec<u8>> {
    match bound {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(k) => Bound::Included(k.clone().into_bytes()),
        Bound::Excluded(k) => Bound::Excluded(k.clone().into_bytes()),
    }
}

fn consume<I: DoubleEndedIterator<Item = G>, G: Guard>(
    mut iter: I,
    dir: Dir,
) -> strata::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut front = true;
    loop {
        let item = match dir {
            Dir::Forward => iter.next(),
            Dir::Backward => iter.next_back(),
            Dir::Zigzag => {
                let item = if front { iter.next() } else { iter.next_back() };
                front = !front;
                item
            }
        };
        match item {
            Some(item) => out.push(pair(item)?),
            None => return Ok(out),
        }
    }
}

impl<'a> Run<'a> {
    fn new(set: &'a OptionSet) -> strata::Result<Self> {
        let (fs, path, dir): (Arc<dyn Fs>, PathBuf, _) = if set.real_dir {
            let dir = tempfile::tempdir()?;
            (
                Arc::new(strata::fs::StdFs),
                dir.path().join("tree"),
                Some(dir),
            )
        } else {
            (Arc::new(MemFs::new()), PathBuf::from(common::FS_DIR), None)
        };
        let mut run = Run {
            set,
            fs,
            path,
            _dir: dir,
            seqno: SequenceNumberCounter::default(),
            visible: SequenceNumberCounter::default(),
            tree: None,
            snapshots: Vec::new(),
            pending: Vec::new(),
            counters: Counters::default(),
        };
        run.open()?;
        Ok(run)
    }

    fn open(&mut self) -> strata::Result<()> {
        let config =
            Config::new(&self.path, self.seqno.clone(), self.visible.clone()).fs(self.fs.clone());
        self.tree = Some(self.set.configure(config).open()?);
        Ok(())
    }

    fn tree(&self) -> &Tree {
        self.tree.as_ref().expect("the tree is open")
    }

    /// The GC watermark: the oldest live snapshot or pending write (a writer in flight holds its
    /// seqno like a snapshot), or the counter.
    fn watermark(&self) -> SeqNo {
        self.snapshots
            .iter()
            .chain(&self.pending)
            .copied()
            .min()
            .unwrap_or_else(|| self.seqno.get())
    }

    fn read_point(&self, at: &At) -> SeqNo {
        match at {
            At::Latest => self.seqno.get(),
            At::Max => SeqNo::MAX,
            At::Snapshot(i) => {
                if self.snapshots.is_empty() {
                    self.seqno.get()
                } else {
                    self.snapshots[i % self.snapshots.len()]
                }
            }
        }
    }

    fn write(&self, write: &Write, seqno: SeqNo) {
        let tree = self.tree();
        match write {
            Write::Put(k, v) => {
                tree.insert(k.as_str(), v.as_str(), seqno);
            }
            Write::Del(k) => {
                tree.remove(k.as_str(), seqno);
            }
            Write::Weak(k) => {
                tree.remove_weak(k.as_str(), seqno);
            }
            Write::Merge(k, v) => {
                tree.merge(k.as_str(), v.as_str(), seqno);
            }
            Write::RangeDel(a, b) => {
                let added = tree.remove_range(a.as_str(), b.as_str(), seqno);
                assert_eq!(added == 0, a >= b, "remove_range({a}, {b}) added {added}");
            }
            Write::PrefixDel(p) => {
                let added = tree.remove_prefix(p.as_str(), seqno);
                assert_eq!(added == 0, p.is_empty(), "remove_prefix({p}) added {added}");
            }
        }
    }

    /// Rotates and flushes as a database's workers would, by the set's memtable size.
    fn after_write(&mut self) -> strata::Result<()> {
        if self.tree().active_memtable().size() >= self.set.memtable {
            self.tree().rotate_memtable();
        }
        if self.tree().sealed_memtable_count() >= self.set.max_sealed {
            self.flush_sealed()?;
        }
        Ok(())
    }

    fn flush_sealed(&mut self) -> strata::Result<()> {
        let watermark = self.watermark();
        let tree = self.tree().clone();
        let flushed = {
            let guard = tree.get_flush_lock();
            tree.flush(&guard, watermark)?
        };
        if flushed.is_some() {
            self.after_flush()?;
        }
        Ok(())
    }

    fn after_flush(&mut self) -> strata::Result<()> {
        self.counters.flushes += 1;
        // A compaction publishes at the counter: never with writes in flight.
        if self.set.compact_after_flush && self.pending.is_empty() {
            self.compact()?;
        }
        let tree = self.tree().clone();
        self.counters.observe(&tree);
        Ok(())
    }

    /// Runs the set's strategy until it has nothing to do (at most 100 steps).
    fn compact(&mut self) -> strata::Result<()> {
        let strategy = self.set.strategy();
        for _ in 0..100 {
            let result = self.tree().compact(strategy.clone(), self.watermark())?;
            if result.action == CompactionAction::Nothing {
                return Ok(());
            }
            self.counters.compaction_steps += 1;
        }
        panic!("{:?} did not settle in 100 steps", self.set.strategy);
    }

    /// Replays `op`; returns the answer of a read.
    fn step(&mut self, op: &Op) -> strata::Result<Option<Answer>> {
        self.counters.ops += 1;
        let answer = match op {
            Op::Write(w) => {
                let seqno = self.seqno.next();
                self.write(w, seqno);
                self.after_write()?;
                None
            }
            Op::Batch(ws) => {
                let seqno = self.seqno.next();
                for w in ws {
                    self.write(w, seqno);
                }
                self.after_write()?;
                None
            }
            Op::Reserve(_) => {
                self.pending.push(self.seqno.next());
                None
            }
            Op::Land(_) => None,
            Op::Landed(i, w) => {
                let seqno = self.pending.remove(i % self.pending.len());
                self.write(w, seqno);
                self.counters.landed += 1;
                self.after_write()?;
                None
            }
            Op::Snapshot => {
                self.snapshots.push(self.seqno.get());
                None
            }
            Op::Release(i) => {
                if !self.snapshots.is_empty() {
                    let len = self.snapshots.len();
                    self.snapshots.remove(i % len);
                }
                None
            }
            Op::Get(k, at) => Some(Answer::Value(
                self.tree().get(k, self.read_point(at))?.map(|v| text(&v)),
            )),
            Op::MultiGet(ks, at) => Some(Answer::Values(
                self.tree()
                    .multi_get(ks, self.read_point(at))?
                    .into_iter()
                    .map(|v| v.map(|v| text(&v)))
                    .collect(),
            )),
            Op::SizeOf(k, at) => Some(Answer::Size(self.tree().size_of(k, self.read_point(at))?)),
            Op::Contains(k, at) => Some(Answer::Bool(
                self.tree().contains_key(k, self.read_point(at))?,
            )),
            Op::Range(lo, hi, dir, at) => {
                let range = (to_bound(lo), to_bound(hi));
                let iter = self.tree().range(range, self.read_point(at), None);
                Some(Answer::Pairs(consume(iter, *dir)?))
            }
            Op::Prefix(p, dir, at) => {
                let iter = self.tree().prefix(p, self.read_point(at), None);
                Some(Answer::Pairs(consume(iter, *dir)?))
            }
            Op::First(at) => Some(Answer::Pair(
                self.tree()
                    .first_key_value(self.read_point(at), None)
                    .map(pair)
                    .transpose()?,
            )),
            Op::Last(at) => Some(Answer::Pair(
                self.tree()
                    .last_key_value(self.read_point(at), None)
                    .map(pair)
                    .transpose()?,
            )),
            Op::Len(at) => Some(Answer::Count(self.tree().len(self.read_point(at), None)?)),
            Op::ContainsPrefix(p, at) => Some(Answer::Bool(self.tree().contains_prefix(
                p,
                self.read_point(at),
                None,
            )?)),
            Op::Rotate => {
                self.tree().rotate_memtable();
                None
            }
            Op::Flush => {
                self.tree().flush_active_memtable(self.watermark())?;
                self.after_flush()?;
                None
            }
            Op::FlushSealed => {
                self.flush_sealed()?;
                None
            }
            Op::Compact => {
                self.compact()?;
                let tree = self.tree().clone();
                self.counters.observe(&tree);
                None
            }
            Op::Major => {
                self.tree()
                    .major_compact(self.set.table_size, self.watermark())?;
                self.counters.compaction_steps += 1;
                None
            }
            Op::Reopen => {
                self.tree().flush_active_memtable(self.watermark())?;
                self.snapshots.clear();
                // Writers that never landed died with the process.
                self.pending.clear();
                self.tree = None;
                self.open()?;
                self.counters.reopens += 1;
                None
            }
            Op::Clear => {
                self.tree().clear()?;
                None
            }
            Op::Ingest(entries, finish) => {
                let mut ingestion = self.tree().ingestion()?;
                for (k, v) in entries {
                    match v {
                        Some(v) => ingestion.write(k.as_str(), v.as_str())?,
                        None => ingestion.write_tombstone(k.as_str())?,
                    }
                }
                if *finish {
                    ingestion.finish()?;
                    self.counters.ingestions += 1;
                } else {
                    drop(ingestion);
                }
                None
            }
        };
        if answer.is_some() {
            self.counters.reads += 1;
        }
        Ok(answer)
    }
}

/// Where a replay first differed from the model.
#[derive(Debug)]
struct Mismatch {
    op: usize,
    detail: String,
}

/// Replays `log` (normalized) under `set`, comparing every read with `answers`.
fn replay(set: &OptionSet, log: &[Op], answers: &[Option<Answer>]) -> Result<Counters, Mismatch> {
    let mut run = Run::new(set).map_err(|e| Mismatch {
        op: 0,
        detail: format!("open: {e}"),
    })?;
    for (i, (op, expected)) in log.iter().zip(answers).enumerate() {
        let got = run.step(op).map_err(|e| Mismatch {
            op: i,
            detail: format!("`{}` failed: {e}", op_text(op)),
        })?;
        if got != *expected {
            return Err(Mismatch {
                op: i,
                detail: format!(
                    "`{}`: the tree read {got:?}, the model {expected:?}",
                    op_text(op)
                ),
            });
        }
    }
    // The end state agrees too, also after a reopen.
    run.step(&Op::Reopen).map_err(|e| Mismatch {
        op: log.len(),
        detail: format!("final reopen: {e}"),
    })?;
    Ok(run.counters)
}

/// Whether `log` fails under `set` (for shrinking).
fn fails(set: &OptionSet, log: &[Op]) -> bool {
    let model = model_answers(log);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        replay(set, &model.ops, &model.answers).is_err()
    }))
    .unwrap_or(true)
}

/// Removes ops from a failing log while `set` still fails: chunks first, then single ops.
fn shrink(set: &OptionSet, mut log: Vec<Op>) -> Vec<Op> {
    let mut chunk = log.len() / 2;
    while chunk >= 1 {
        let mut start = 0;
        while start < log.len() {
            let end = (start + chunk).min(log.len());
            let mut candidate = log.clone();
            candidate.drain(start..end);
            if fails(set, &candidate) {
                log = candidate;
            } else {
                start = end;
            }
        }
        chunk /= 2;
    }
    log
}

fn env_usize(var: &str) -> Option<usize> {
    std::env::var(var).ok().and_then(|v| v.parse().ok())
}

/// The sets of this run: all, or those `STRATA_METAMORPHIC_SETS` names.
fn chosen_sets() -> Vec<(usize, OptionSet)> {
    let only: Option<Vec<usize>> = std::env::var("STRATA_METAMORPHIC_SETS")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect());
    option_sets()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| only.as_ref().is_none_or(|only| only.contains(i)))
        .collect()
}

/// Replays `log` under every chosen set (on as many threads as there are cores); on a mismatch,
/// shrinks the log and panics with it.
fn check_log(log: &[Op], label: &str) -> Counters {
    let model = model_answers(log);
    let sets = chosen_sets();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let total = std::sync::Mutex::new(Counters::default());
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(sets.len()) {
            scope.spawn(|| {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((i, set)) = sets.get(n) else { return };
                    match replay(set, &model.ops, &model.answers) {
                        Ok(counters) => total.lock().unwrap().add(&counters),
                        Err(mismatch) => {
                            let last = model.origin.get(mismatch.op).copied();
                            let prefix = log[..=last.unwrap_or(log.len() - 1)].to_vec();
                            let shrunk = shrink(set, prefix);
                            panic!(
                                "{label}: option set {i} ({set:?}) differs at op {}: {}\n\
                                 shrunk log ({} ops; replay with STRATA_METAMORPHIC_SETS={i}, \
                                 keep as a regression test):\n{}",
                                last.unwrap_or(log.len()),
                                mismatch.detail,
                                shrunk.len(),
                                log_text(&shrunk)
                            );
                        }
                    }
                }
            });
        }
    });
    total.into_inner().unwrap()
}

#[test]
fn one_log_reads_the_same_under_every_option_set_and_the_model() {
    let ops = env_usize("STRATA_METAMORPHIC_OPS").unwrap_or(5_000);
    let logs = env_usize("STRATA_METAMORPHIC_LOGS").unwrap_or(1);
    let seed = common::seed_from_env("STRATA_METAMORPHIC_SEED");
    let sets = chosen_sets().len();
    let mut total = Counters::default();
    for n in 0..logs {
        let log_seed = seed.wrapping_add(n as u64);
        println!(
            "metamorphic log seed: {log_seed} (replay with STRATA_METAMORPHIC_SEED={log_seed} STRATA_METAMORPHIC_OPS={ops})"
        );
        let log = gen_log(log_seed, ops);
        total.add(&check_log(&log, &format!("seed {log_seed}")));
    }
    println!(
        "metamorphic: {logs} logs x {ops} ops x {sets} option sets: {} ops, {} reads, {} flushes, \
         {} compaction steps, {} reopens, {} ingestions, {} late writes landed (up to {} tables, level {}, {} blob \
         files), 0 mismatches",
        total.ops,
        total.reads,
        total.flushes,
        total.compaction_steps,
        total.reopens,
        total.ingestions,
        total.landed,
        total.max_tables,
        total.deepest_level,
        total.max_blob_files
    );
    assert!(total.reads > 0 && total.flushes > 0 && total.compaction_steps > 0);
    if chosen_sets().len() == option_sets().len() && ops >= 1_000 {
        assert!(
            total.deepest_level >= 2,
            "no set reached level 2: {total:?}"
        );
        assert!(
            total.max_blob_files > 0,
            "no set wrote a blob file: {total:?}"
        );
    }
}

#[test]
fn the_log_text_reads_back_as_the_same_log() {
    let log = gen_log(7, 2_000);
    assert_eq!(parse_log(&log_text(&log)), log);
}

#[test]
fn the_option_sets_give_every_knob_each_of_its_values() {
    let sets = option_sets();
    assert!(sets.len() >= 20);
    let has = |f: &dyn Fn(&OptionSet) -> bool| sets.iter().any(f);
    assert!(has(&|s| s.block == 64) && has(&|s| s.block == 4096));
    assert!(has(&|s| s.restart == 1) && has(&|s| s.restart == 16));
    assert!(has(&|s| s.hash) && has(&|s| !s.hash));
    for filter in [Filter::Off, Filter::Full, Filter::Partitioned] {
        assert!(has(
            &|s| std::mem::discriminant(&s.filter) == std::mem::discriminant(&filter)
        ));
    }
    assert!(has(&|s| s.pinned) && has(&|s| !s.pinned));
    assert!(has(&|s| s.partitioned_index) && has(&|s| !s.partitioned_index));
    for c in [Compression::None, Compression::Lz4, Compression::Zstd] {
        assert!(has(
            &|s| std::mem::discriminant(&s.compression) == std::mem::discriminant(&c)
        ));
    }
    assert!(has(&|s| s.kv_separation) && has(&|s| !s.kv_separation));
    assert!(has(&|s| s.table_size == 512) && has(&|s| s.memtable <= 4096));
    for st in [
        Strategy::Leveled,
        Strategy::LeveledDynamic,
        Strategy::Tiered,
        Strategy::Fifo,
    ] {
        assert!(has(
            &|s| std::mem::discriminant(&s.strategy) == std::mem::discriminant(&st)
        ));
    }
    assert!(has(&|s| s.prefix_extractor) && has(&|s| s.real_dir) && has(&|s| s.descriptor_table));
    assert!(has(&|s| s.cache == 0) && has(&|s| s.range_tombstone_limit.is_some()));
}

/// The harness catches a wrong answer: a model that forgets a delete differs from every tree.
#[test]
fn a_wrong_answer_is_caught() {
    let log = parse_log("put:a:v1\nput:b:v2\nflush\ndel:a\nget a @\nget b @\n");
    let mut model = model_answers(&log);
    assert_eq!(model.answers[4], Some(Answer::Value(None)));
    model.answers[4] = Some(Answer::Value(Some("v1".to_owned())));
    let set = &option_sets()[0];
    let mismatch = replay(set, &model.ops, &model.answers).unwrap_err();
    assert_eq!(mismatch.op, 4);
    assert!(!fails(set, &log), "the log itself reads right");
}

/// A logged case in the form a shrunk failure is kept: the log text, replayed under every set.
#[test]
fn a_logged_case_replays_under_every_option_set() {
    check_log(
        &parse_log(
            "put:a:v1..........\n\
             merge:a:m2\n\
             snapshot\n\
             batch rdel:a:b merge:a:m3 put:c:v3\n\
             weak:c\n\
             flush\n\
             get a @0\n\
             get a @\n\
             weak:c\n\
             reserve put:b:v5\n\
             reserve rdel:a:c\n\
             put:b:v6\n\
             rotate\n\
             flushsealed\n\
             land 1\n\
             get b @\n\
             ingest b=v9 ba=~ c=v10\n\
             range [a c] zigzag @\n\
             prefix b back @0\n\
             compact\n\
             major\n\
             clear\n\
             put:ab:v4\n\
             reopen\n\
             range - - back @\n\
             len @max\n",
        ),
        "logged case",
    );
}

/// Found by the harness (seed 1796545893961516947, shrunk): a write that took its seqno before a
/// newer write of the same key lands after it and must stay below it, in the model (which once
/// appended versions in landing order) and in every set.
#[test]
fn a_late_write_lands_below_the_newer_write_of_its_key() {
    check_log(
        &parse_log(
            "reserve put:a:v906\n\
             batch put:a:v910.......................... rdel:bbc:ca rdel:aca:c\n\
             reopen\n\
             prefix \"\" back @\n\
             get a @\n",
        ),
        "late write",
    );
}

/// A weak remove with a pending write of its key below it would break the single-delete
/// contract once that write lands; the model replays it as a remove.
#[test]
fn a_weak_remove_above_a_pending_write_of_its_key_is_replayed_as_a_remove() {
    let log = parse_log("put:a:v1\nreserve put:a:v2\nweak:a\nland 0\nget a @\n");
    let model = model_answers(&log);
    assert_eq!(model.ops[2], Op::Write(Write::Del("a".to_owned())));
    assert_eq!(model.answers[4], Some(Answer::Value(None)));
    check_log(&log, "weak above a pending write");
}
