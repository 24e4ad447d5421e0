//! Version edits: the records of the manifest.
//!
//! An edit says how one version becomes the next. Payload layout (little-endian; each field is a
//! tag byte followed by its value; see `docs/format.md`):
//!
//! ```text
//! tag 1  comparator name      varint length + UTF-8 bytes
//! tag 2  format version       u32
//! tag 3  next table id        varint u64
//! tag 4  highest seqno        varint u64 (the highest seqno in any table)
//! tag 5  add run              level: u8, table count: varint, table ids: varint u64 each,
//!                             in key order; the run becomes the newest run of its level
//! tag 6  remove table         table id: varint u64
//! tag 7  durable through      varint u64: every write with a lower seqno is in a table
//! tag 8  insert run           level: u8, position: varint (0: as the oldest run of the level;
//!                             n > 0: just before the run holding table n - 1), table count:
//!                             varint, table ids: varint u64 each, in key order
//! tag 9  table seqno          table id: varint u64, seqno: varint u64; the table (added by this
//!                             or an earlier edit, and in the version after this one) is an
//!                             ingested table whose entries all read at that seqno
//! tag 10 add blob file        blob file id: varint u64
//! tag 11 table blob refs      table id: varint u64, count: varint, then per blob file it
//!                             points into: blob file id varint u64, bytes varint u64 (the
//!                             record bytes its pointers reach); the table must be in the
//!                             version after this edit, each blob file too
//! ```
//!
//! Blob files: a blob file enters with tag 10 (in the edit that adds the first table pointing
//! into it) and leaves in the edit after which no table of the version points into it: `apply`
//! drops every blob file no table references, so a removal needs no tag of its own and replay
//! drops it at the same edit. A table's references stay with it while it is in the version (a
//! move keeps them) and go with it.
//!
//! [`VersionEdit::apply`] is the only code that interprets an edit: live commits and recovery
//! both call it, on a [`Shape`] (levels of runs of table ids); recovery keeps a [`ShapeIndex`]
//! (the ids present, and per blob file its references) across the edits it replays, so that
//! replay costs the manifest's size, not edits times tables. It refuses an edit that names a
//! table twice, removes a table that is not there, names a level past the last, anchors a run
//! at a table that is not in that level, or gives a seqno to a table that is not in the version:
//! a manifest that says so is corrupt. A table's seqno stays with it while it is in the version
//! (a move removes and adds it in one edit), and goes with it.
//!
//! Tags are persisted values: never renumber. A decoder refuses unknown tags.

#![deny(clippy::indexing_slicing)]

use std::collections::{HashMap, HashSet};

use super::{LEVEL_COUNT, Shape};
use crate::coding::{decode_varint_u64, put_varint_u64};
use crate::error::CorruptionKind;

/// Where an inserted run goes in its level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunPosition {
    /// After every run of the level: the oldest.
    Oldest,
    /// Just before the run holding this table.
    Before(u64),
}

/// One change of the version, as stored in the manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct VersionEdit {
    pub(crate) comparator: Option<String>,
    pub(crate) format_version: Option<u32>,
    pub(crate) next_table_id: Option<u64>,
    pub(crate) highest_seqno: Option<u64>,
    /// Runs added: (level, table ids in key order), applied in order.
    pub(crate) add_runs: Vec<(u8, Vec<u64>)>,
    pub(crate) remove_tables: Vec<u64>,
    pub(crate) durable_through: Option<u64>,
    /// Runs inserted at a position: (level, position, table ids in key order), applied after
    /// `add_runs`, in order.
    pub(crate) insert_runs: Vec<(u8, RunPosition, Vec<u64>)>,
    /// Ingested tables and their global seqnos: (table id, seqno), applied after the runs.
    pub(crate) table_seqnos: Vec<(u64, u64)>,
    /// Blob files added.
    pub(crate) add_blob_files: Vec<u64>,
    /// Per table, the blob files it points into and the bytes it reaches in each.
    pub(crate) table_blob_refs: Vec<(u64, Vec<(u64, u64)>)>,
}

const TAG_COMPARATOR: u8 = 1;
const TAG_FORMAT_VERSION: u8 = 2;
const TAG_NEXT_TABLE_ID: u8 = 3;
const TAG_HIGHEST_SEQNO: u8 = 4;
const TAG_ADD_RUN: u8 = 5;
const TAG_REMOVE_TABLE: u8 = 6;
const TAG_DURABLE_THROUGH: u8 = 7;
const TAG_INSERT_RUN: u8 = 8;
const TAG_TABLE_SEQNO: u8 = 9;
const TAG_ADD_BLOB_FILE: u8 = 10;
const TAG_TABLE_BLOB_REFS: u8 = 11;

impl VersionEdit {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(name) = &self.comparator {
            out.push(TAG_COMPARATOR);
            put_varint_u64(&mut out, name.len() as u64);
            out.extend_from_slice(name.as_bytes());
        }
        if let Some(version) = self.format_version {
            out.push(TAG_FORMAT_VERSION);
            out.extend_from_slice(&version.to_le_bytes());
        }
        for (tag, value) in [
            (TAG_NEXT_TABLE_ID, self.next_table_id),
            (TAG_HIGHEST_SEQNO, self.highest_seqno),
        ] {
            if let Some(value) = value {
                out.push(tag);
                put_varint_u64(&mut out, value);
            }
        }
        for (level, ids) in &self.add_runs {
            out.push(TAG_ADD_RUN);
            out.push(*level);
            put_varint_u64(&mut out, ids.len() as u64);
            for id in ids {
                put_varint_u64(&mut out, *id);
            }
        }
        for id in &self.remove_tables {
            out.push(TAG_REMOVE_TABLE);
            put_varint_u64(&mut out, *id);
        }
        if let Some(seqno) = self.durable_through {
            out.push(TAG_DURABLE_THROUGH);
            put_varint_u64(&mut out, seqno);
        }
        for (level, position, ids) in &self.insert_runs {
            out.push(TAG_INSERT_RUN);
            out.push(*level);
            put_varint_u64(
                &mut out,
                match position {
                    RunPosition::Oldest => 0,
                    RunPosition::Before(id) => id.saturating_add(1),
                },
            );
            put_varint_u64(&mut out, ids.len() as u64);
            for id in ids {
                put_varint_u64(&mut out, *id);
            }
        }
        for (id, seqno) in &self.table_seqnos {
            out.push(TAG_TABLE_SEQNO);
            put_varint_u64(&mut out, *id);
            put_varint_u64(&mut out, *seqno);
        }
        for id in &self.add_blob_files {
            out.push(TAG_ADD_BLOB_FILE);
            put_varint_u64(&mut out, *id);
        }
        for (table, refs) in &self.table_blob_refs {
            out.push(TAG_TABLE_BLOB_REFS);
            put_varint_u64(&mut out, *table);
            put_varint_u64(&mut out, refs.len() as u64);
            for (blob, bytes) in refs {
                put_varint_u64(&mut out, *blob);
                put_varint_u64(&mut out, *bytes);
            }
        }
        out
    }

    /// Applies the edit to `shape`: removals first, then the added runs (each the newest of its
    /// level), then the inserted runs. Touches nothing on error only if the caller discards the
    /// shape; see the module documentation for what is refused.
    pub(crate) fn apply(&self, shape: &mut Shape) -> Result<(), CorruptionKind> {
        self.apply_indexed(shape, &mut ShapeIndex::of(shape))
    }

    /// [`apply`](Self::apply) with the shape's index kept by the caller across edits, so that
    /// replaying a manifest costs the size of its edits, not edits times tables. `index` must be
    /// [`ShapeIndex::of`] the shape (and stays so); after an error both are unspecified.
    pub(crate) fn apply_indexed(
        &self,
        shape: &mut Shape,
        index: &mut ShapeIndex,
    ) -> Result<(), CorruptionKind> {
        let present = &mut index.present;
        let mut removed = HashSet::new();
        for id in &self.remove_tables {
            if !present.remove(id) {
                return Err(CorruptionKind::InvalidField(
                    "removed table is not in the version",
                ));
            }
            removed.insert(*id);
        }
        if !removed.is_empty() {
            for level in &mut shape.levels {
                for run in level.iter_mut() {
                    run.retain(|t| !removed.contains(t));
                }
                level.retain(|run| !run.is_empty());
            }
        }
        let mut claim = |ids: &[u64]| -> Result<(), CorruptionKind> {
            for id in ids {
                if !present.insert(*id) {
                    return Err(CorruptionKind::InvalidField("table named twice"));
                }
            }
            Ok(())
        };
        for (level, ids) in &self.add_runs {
            claim(ids)?;
            let slot = shape
                .levels
                .get_mut(usize::from(*level))
                .ok_or(CorruptionKind::InvalidField("level"))?;
            if !ids.is_empty() {
                slot.insert(0, ids.clone());
            }
        }
        for (level, position, ids) in &self.insert_runs {
            claim(ids)?;
            let slot = shape
                .levels
                .get_mut(usize::from(*level))
                .ok_or(CorruptionKind::InvalidField("level"))?;
            let at = match position {
                RunPosition::Oldest => slot.len(),
                RunPosition::Before(anchor) => slot
                    .iter()
                    .position(|run| run.contains(anchor))
                    .ok_or(CorruptionKind::InvalidField("run anchor"))?,
            };
            if !ids.is_empty() {
                slot.insert(at, ids.clone());
            }
        }
        let present = &index.present;
        for (id, seqno) in &self.table_seqnos {
            if !present.contains(id) {
                return Err(CorruptionKind::InvalidField(
                    "table seqno for a table not in the version",
                ));
            }
            shape.table_seqnos.insert(*id, *seqno);
        }
        self.apply_blob_files(shape, index, removed)
    }

    /// The blob-file part of [`apply_indexed`](Self::apply_indexed), after the tables: blob
    /// files added, tables' references, and what the tables `removed` (and not added back)
    /// take with them.
    fn apply_blob_files(
        &self,
        shape: &mut Shape,
        index: &mut ShapeIndex,
        removed: HashSet<u64>,
    ) -> Result<(), CorruptionKind> {
        let present = &index.present;
        // Blob files that may have lost their last reference in this edit.
        let mut unreferenced: Vec<u64> = Vec::new();
        for id in &self.add_blob_files {
            if !shape.blob_files.insert(*id) || present.contains(id) {
                return Err(CorruptionKind::InvalidField("blob file named twice"));
            }
            unreferenced.push(*id);
        }
        for (table, refs) in &self.table_blob_refs {
            if !index.present.contains(table) {
                return Err(CorruptionKind::InvalidField(
                    "blob references of a table not in the version",
                ));
            }
            if refs
                .iter()
                .any(|(blob, _)| !shape.blob_files.contains(blob))
            {
                return Err(CorruptionKind::InvalidField(
                    "a table points into a blob file not in the version",
                ));
            }
            index.acquire(refs);
            if let Some(old) = shape.blob_refs.insert(*table, refs.clone()) {
                unreferenced.extend(index.release(&old));
            }
        }
        // A table removed (and not added back, as a move does) takes its seqno and references.
        for id in removed {
            if index.present.contains(&id) {
                continue;
            }
            shape.table_seqnos.remove(&id);
            if let Some(old) = shape.blob_refs.remove(&id) {
                unreferenced.extend(index.release(&old));
            }
        }
        for blob in unreferenced {
            if !index.blob_users.contains_key(&blob) {
                shape.blob_files.remove(&blob);
            }
        }
        debug_assert_eq!(shape.levels.len(), LEVEL_COUNT);
        Ok(())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, CorruptionKind> {
        let mut edit = Self::default();
        let mut pos = 0;
        let varint = |pos: &mut usize| -> Result<u64, CorruptionKind> {
            let (value, n) = decode_varint_u64(bytes.get(*pos..).unwrap_or_default())
                .ok_or(CorruptionKind::InvalidField("manifest varint"))?;
            *pos += n;
            Ok(value)
        };
        // A run's table ids: a count, then that many varints. Every id takes at least one byte,
        // so the count is bounded by the input before anything is allocated.
        let table_ids = |pos: &mut usize| -> Result<Vec<u64>, CorruptionKind> {
            let count = varint(pos)?;
            if count > bytes.len().saturating_sub(*pos) as u64 {
                return Err(CorruptionKind::InvalidField("run length"));
            }
            (0..count).map(|_| varint(pos)).collect()
        };
        while let Some(&tag) = bytes.get(pos) {
            pos += 1;
            match tag {
                TAG_COMPARATOR => {
                    let len = usize::try_from(varint(&mut pos)?)
                        .map_err(|_| CorruptionKind::InvalidField("comparator name"))?;
                    let end = pos.checked_add(len).ok_or(CorruptionKind::Truncated)?;
                    let name = bytes.get(pos..end).ok_or(CorruptionKind::Truncated)?;
                    edit.comparator = Some(
                        String::from_utf8(name.to_vec())
                            .map_err(|_| CorruptionKind::InvalidField("comparator name"))?,
                    );
                    pos = end;
                }
                TAG_FORMAT_VERSION => {
                    let raw: [u8; 4] = bytes
                        .get(pos..pos + 4)
                        .and_then(|b| b.try_into().ok())
                        .ok_or(CorruptionKind::Truncated)?;
                    edit.format_version = Some(u32::from_le_bytes(raw));
                    pos += 4;
                }
                TAG_NEXT_TABLE_ID => edit.next_table_id = Some(varint(&mut pos)?),
                TAG_HIGHEST_SEQNO => edit.highest_seqno = Some(varint(&mut pos)?),
                TAG_ADD_RUN => {
                    let level = *bytes.get(pos).ok_or(CorruptionKind::Truncated)?;
                    pos += 1;
                    let ids = table_ids(&mut pos)?;
                    edit.add_runs.push((level, ids));
                }
                TAG_REMOVE_TABLE => edit.remove_tables.push(varint(&mut pos)?),
                TAG_DURABLE_THROUGH => edit.durable_through = Some(varint(&mut pos)?),
                TAG_INSERT_RUN => {
                    let level = *bytes.get(pos).ok_or(CorruptionKind::Truncated)?;
                    pos += 1;
                    let position = match varint(&mut pos)? {
                        0 => RunPosition::Oldest,
                        n => RunPosition::Before(n - 1),
                    };
                    let ids = table_ids(&mut pos)?;
                    edit.insert_runs.push((level, position, ids));
                }
                TAG_TABLE_SEQNO => {
                    let id = varint(&mut pos)?;
                    let seqno = varint(&mut pos)?;
                    edit.table_seqnos.push((id, seqno));
                }
                TAG_ADD_BLOB_FILE => edit.add_blob_files.push(varint(&mut pos)?),
                TAG_TABLE_BLOB_REFS => {
                    let table = varint(&mut pos)?;
                    let count = varint(&mut pos)?;
                    // Every reference takes at least two bytes.
                    if count > bytes.len().saturating_sub(pos) as u64 / 2 {
                        return Err(CorruptionKind::InvalidField("blob reference count"));
                    }
                    let refs = (0..count)
                        .map(|_| Ok((varint(&mut pos)?, varint(&mut pos)?)))
                        .collect::<Result<Vec<_>, CorruptionKind>>()?;
                    edit.table_blob_refs.push((table, refs));
                }
                _ => return Err(CorruptionKind::InvalidField("manifest tag")),
            }
        }
        Ok(edit)
    }
}

/// What [`VersionEdit::apply_indexed`] keeps between edits: the shape's table ids and, per blob
/// file, how many table references point into it.
#[derive(Debug, Default)]
pub(crate) struct ShapeIndex {
    present: HashSet<u64>,
    blob_users: HashMap<u64, usize>,
}

impl ShapeIndex {
    /// The index of `shape`.
    pub(crate) fn of(shape: &Shape) -> Self {
        let mut index = Self {
            present: shape.ids().collect(),
            blob_users: HashMap::new(),
        };
        for refs in shape.blob_refs.values() {
            index.acquire(refs);
        }
        index
    }

    fn acquire(&mut self, refs: &[(u64, u64)]) {
        for (blob, _) in refs {
            *self.blob_users.entry(*blob).or_default() += 1;
        }
    }

    /// Drops `refs`; returns the blob files left without any.
    fn release(&mut self, refs: &[(u64, u64)]) -> Vec<u64> {
        let mut orphans = Vec::new();
        for (blob, _) in refs {
            if let Some(users) = self.blob_users.get_mut(blob) {
                *users -= 1;
                if *users == 0 {
                    self.blob_users.remove(blob);
                    orphans.push(*blob);
                }
            }
        }
        orphans
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `apply` before [`ShapeIndex`]: every edit rebuilt the set of ids and the referenced blob
    /// files from the whole shape. The indexed `apply` must agree with it edit by edit.
    fn reference_apply(edit: &VersionEdit, shape: &mut Shape) -> Result<(), CorruptionKind> {
        let mut present: HashSet<u64> = shape.ids().collect();
        for id in &edit.remove_tables {
            if !present.remove(id) {
                return Err(CorruptionKind::InvalidField("removed"));
            }
            for level in &mut shape.levels {
                for run in level.iter_mut() {
                    run.retain(|t| t != id);
                }
                level.retain(|run| !run.is_empty());
            }
        }
        let mut claim = |ids: &[u64]| -> Result<(), CorruptionKind> {
            for id in ids {
                if !present.insert(*id) {
                    return Err(CorruptionKind::InvalidField("twice"));
                }
            }
            Ok(())
        };
        for (level, ids) in &edit.add_runs {
            claim(ids)?;
            let slot = shape
                .levels
                .get_mut(usize::from(*level))
                .ok_or(CorruptionKind::InvalidField("level"))?;
            if !ids.is_empty() {
                slot.insert(0, ids.clone());
            }
        }
        for (level, position, ids) in &edit.insert_runs {
            claim(ids)?;
            let slot = shape
                .levels
                .get_mut(usize::from(*level))
                .ok_or(CorruptionKind::InvalidField("level"))?;
            let at = match position {
                RunPosition::Oldest => slot.len(),
                RunPosition::Before(anchor) => slot
                    .iter()
                    .position(|run| run.contains(anchor))
                    .ok_or(CorruptionKind::InvalidField("anchor"))?,
            };
            if !ids.is_empty() {
                slot.insert(at, ids.clone());
            }
        }
        for (id, seqno) in &edit.table_seqnos {
            if !present.contains(id) {
                return Err(CorruptionKind::InvalidField("seqno"));
            }
            shape.table_seqnos.insert(*id, *seqno);
        }
        shape.table_seqnos.retain(|id, _| present.contains(id));
        for id in &edit.add_blob_files {
            if !shape.blob_files.insert(*id) || present.contains(id) {
                return Err(CorruptionKind::InvalidField("blob twice"));
            }
        }
        for (table, refs) in &edit.table_blob_refs {
            if !present.contains(table) || refs.iter().any(|(b, _)| !shape.blob_files.contains(b)) {
                return Err(CorruptionKind::InvalidField("refs"));
            }
            shape.blob_refs.insert(*table, refs.clone());
        }
        shape.blob_refs.retain(|id, _| present.contains(id));
        let referenced: HashSet<u64> = shape
            .blob_refs
            .values()
            .flatten()
            .map(|(blob, _)| *blob)
            .collect();
        shape.blob_files.retain(|id| referenced.contains(id));
        Ok(())
    }

    /// Random edits over 16 table ids and 6 blob files (moves, re-added ids, replaced
    /// references, stray ids, bad levels and anchors), applied by both: the same verdict and,
    /// when accepted, the same shape.
    #[test]
    #[allow(
        clippy::too_many_lines,
        reason = "one generator of edits, then the comparison"
    )]
    fn indexed_apply_agrees_with_the_whole_shape_rebuild() {
        let mut state = 0x5eed_u64;
        let mut next = move |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound.max(1)
        };
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..500 {
            let mut a = Shape::default();
            let mut b = Shape::default();
            let mut index = ShapeIndex::of(&b);
            let (mut fresh_table, mut fresh_blob) = (0u64, 1_000u64);
            for _ in 0..60 {
                let ids: Vec<u64> = a.ids().collect();
                let blobs: Vec<u64> = a.blob_files.iter().copied().collect();
                let any = |n: u64, of: &[u64]| of.get(usize::try_from(n).unwrap_or(0)).copied();
                let rare = |n: u64| n == 0;
                let mut edit = VersionEdit::default();
                for _ in 0..next(3) {
                    let stray = rare(next(40)).then_some(999);
                    edit.remove_tables
                        .extend(stray.or(any(next(ids.len() as u64 + 1), &ids)));
                }
                let mut added = Vec::new();
                for _ in 0..next(3) {
                    let mut run: Vec<u64> = (0..=next(3))
                        .map(|_| {
                            fresh_table += 1;
                            fresh_table
                        })
                        .collect();
                    if next(3) == 0 {
                        // A move: a removed table comes back at another level.
                        run.extend(any(next(3), &edit.remove_tables));
                    }
                    if rare(next(40)) {
                        run.extend(any(next(ids.len() as u64 + 1), &ids));
                    }
                    added.extend(run.iter().copied());
                    let level = if rare(next(40)) {
                        9
                    } else {
                        next(LEVEL_COUNT as u64)
                    };
                    let level = u8::try_from(level).unwrap_or(0);
                    if next(2) == 0 {
                        edit.add_runs.push((level, run));
                    } else {
                        let position = match any(next(ids.len() as u64 + 1), &ids) {
                            Some(anchor) if next(2) == 0 => RunPosition::Before(anchor),
                            _ => RunPosition::Oldest,
                        };
                        edit.insert_runs.push((level, position, run));
                    }
                }
                let after: Vec<u64> = ids
                    .iter()
                    .filter(|id| !edit.remove_tables.contains(id))
                    .chain(&added)
                    .copied()
                    .collect();
                for _ in 0..next(2) {
                    let stray = rare(next(40)).then_some(998);
                    let id = stray.or(any(next(after.len() as u64 + 1), &after));
                    edit.table_seqnos.extend(id.map(|id| (id, next(1000))));
                }
                let mut new_blobs = Vec::new();
                if next(3) == 0 {
                    fresh_blob += 1;
                    edit.add_blob_files.push(fresh_blob);
                    new_blobs.push(fresh_blob);
                }
                if rare(next(40)) {
                    edit.add_blob_files
                        .extend(any(next(blobs.len() as u64 + 1), &blobs));
                }
                let blobs: Vec<u64> = blobs.iter().chain(&new_blobs).copied().collect();
                for _ in 0..next(3) {
                    let stray = rare(next(40)).then_some(997);
                    let Some(table) = stray.or(any(next(after.len() as u64 + 1), &after)) else {
                        continue;
                    };
                    let refs = (0..next(3))
                        .filter_map(|_| {
                            let blob = if rare(next(40)) {
                                Some(996)
                            } else {
                                any(next(blobs.len() as u64), &blobs)
                            };
                            blob.map(|b| (b, next(50)))
                        })
                        .collect();
                    edit.table_blob_refs.push((table, refs));
                }
                let before = a.clone();
                let want = reference_apply(&edit, &mut a);
                let got = edit.apply_indexed(&mut b, &mut index);
                assert_eq!(want.is_ok(), got.is_ok(), "{edit:?}: {want:?} vs {got:?}");
                if want.is_err() {
                    refused += 1;
                    a = before;
                    b = a.clone();
                    index = ShapeIndex::of(&b);
                    continue;
                }
                accepted += 1;
                assert_eq!(a, b, "after {edit:?}");
                let fresh = ShapeIndex::of(&b);
                assert_eq!(index.present, fresh.present);
                assert_eq!(index.blob_users, fresh.blob_users);
            }
        }
        assert!(
            accepted > 5_000 && refused > 1_000,
            "{accepted} accepted, {refused} refused"
        );
    }

    #[test]
    fn edits_round_trip_and_golden_bytes_are_pinned() {
        let edit = VersionEdit {
            comparator: Some("c".into()),
            format_version: Some(1),
            next_table_id: Some(5),
            highest_seqno: Some(300),
            add_runs: vec![(0, vec![3, 4])],
            remove_tables: vec![1],
            durable_through: Some(301),
            insert_runs: vec![
                (0, RunPosition::Before(3), vec![6]),
                (1, RunPosition::Oldest, vec![]),
            ],
            ..VersionEdit::default()
        };
        let bytes = edit.encode();
        assert_eq!(
            bytes,
            [
                1, 1, b'c', 2, 1, 0, 0, 0, 3, 5, 4, 0xac, 0x02, 5, 0, 2, 3, 4, 6, 1, 7, 0xad, 0x02,
                8, 0, 4, 1, 6, 8, 1, 0, 0
            ]
        );
        assert_eq!(VersionEdit::decode(&bytes), Ok(edit));
        assert_eq!(VersionEdit::decode(&[]), Ok(VersionEdit::default()));
        assert!(VersionEdit::decode(&[99]).is_err());
        for len in 1..bytes.len() {
            // A cut inside a field is an error; a cut between fields decodes a shorter edit.
            let _ = VersionEdit::decode(&bytes[..len]);
        }
    }

    /// Tag 9 (an ingested table's seqno): its bytes are pinned, and manifests without it (every
    /// manifest written before ingestion existed) decode as before.
    #[test]
    fn table_seqno_golden_bytes_and_apply() {
        let edit = VersionEdit {
            add_runs: vec![(6, vec![7])],
            table_seqnos: vec![(7, 300)],
            ..VersionEdit::default()
        };
        let bytes = edit.encode();
        assert_eq!(bytes, [5, 6, 1, 7, 9, 7, 0xac, 0x02]);
        assert_eq!(VersionEdit::decode(&bytes), Ok(edit.clone()));
        assert!(
            VersionEdit::decode(&[9, 7]).is_err(),
            "a cut tag 9 is an error"
        );
        let mut s = Shape::default();
        edit.apply(&mut s).unwrap();
        assert_eq!(s.table_seqnos.get(&7), Some(&300));
        // A move (removed and added in one edit) keeps the seqno; a removal drops it.
        let moved = VersionEdit {
            remove_tables: vec![7],
            add_runs: vec![(5, vec![7])],
            ..VersionEdit::default()
        };
        moved.apply(&mut s).unwrap();
        assert_eq!(s.table_seqnos.get(&7), Some(&300));
        let removed = VersionEdit {
            remove_tables: vec![7],
            ..VersionEdit::default()
        };
        removed.apply(&mut s).unwrap();
        assert!(s.table_seqnos.is_empty());
        let stray = VersionEdit {
            table_seqnos: vec![(8, 1)],
            ..VersionEdit::default()
        };
        assert!(
            stray.apply(&mut s).is_err(),
            "a seqno for a table not there"
        );
    }

    /// Tags 10 and 11 (blob files and the tables' references into them): bytes pinned, and a
    /// blob file leaves the version with the last table pointing into it.
    #[test]
    fn blob_file_tags_golden_bytes_and_apply() {
        let edit = VersionEdit {
            add_runs: vec![(0, vec![3])],
            add_blob_files: vec![4],
            table_blob_refs: vec![(3, vec![(4, 300)])],
            ..VersionEdit::default()
        };
        let bytes = edit.encode();
        assert_eq!(bytes, [5, 0, 1, 3, 10, 4, 11, 3, 1, 4, 0xac, 0x02]);
        assert_eq!(VersionEdit::decode(&bytes), Ok(edit.clone()));
        assert!(
            VersionEdit::decode(&[11, 3, 200]).is_err(),
            "a count past the input"
        );
        let mut s = Shape::default();
        edit.apply(&mut s).unwrap();
        assert!(s.blob_files.contains(&4));
        // A compaction moves the pointers to table 5: the blob file stays.
        let compacted = VersionEdit {
            remove_tables: vec![3],
            add_runs: vec![(1, vec![5])],
            table_blob_refs: vec![(5, vec![(4, 100)])],
            ..VersionEdit::default()
        };
        compacted.apply(&mut s).unwrap();
        assert_eq!(s.blob_refs.get(&5), Some(&vec![(4, 100)]));
        assert!(!s.blob_refs.contains_key(&3));
        assert!(s.blob_files.contains(&4));
        // A move keeps them.
        let moved = VersionEdit {
            remove_tables: vec![5],
            add_runs: vec![(2, vec![5])],
            ..VersionEdit::default()
        };
        moved.apply(&mut s).unwrap();
        assert!(s.blob_files.contains(&4));
        let dropped = VersionEdit {
            remove_tables: vec![5],
            ..VersionEdit::default()
        };
        dropped.apply(&mut s).unwrap();
        assert!(s.blob_files.is_empty(), "no table points into it");
        for refused in [
            VersionEdit {
                table_blob_refs: vec![(9, vec![])],
                ..VersionEdit::default()
            },
            VersionEdit {
                add_runs: vec![(0, vec![6])],
                table_blob_refs: vec![(6, vec![(8, 1)])],
                ..VersionEdit::default()
            },
            VersionEdit {
                add_runs: vec![(0, vec![6])],
                add_blob_files: vec![6],
                ..VersionEdit::default()
            },
        ] {
            assert!(refused.apply(&mut s.clone()).is_err(), "{refused:?}");
        }
    }

    fn shape(levels: &[&[&[u64]]]) -> Shape {
        let mut shape = Shape::default();
        for (slot, runs) in shape.levels.iter_mut().zip(levels) {
            *slot = runs.iter().map(|r| r.to_vec()).collect();
        }
        shape
    }

    #[test]
    fn apply_removes_adds_and_inserts_runs_in_place() {
        let mut s = shape(&[&[&[5], &[3, 4], &[1]], &[&[0]]]);
        let edit = VersionEdit {
            remove_tables: vec![3, 4, 5],
            add_runs: vec![(0, vec![9])],
            insert_runs: vec![
                (0, RunPosition::Before(1), vec![7, 8]),
                (1, RunPosition::Oldest, vec![2]),
            ],
            ..VersionEdit::default()
        };
        edit.apply(&mut s).unwrap();
        assert_eq!(s, shape(&[&[&[9], &[7, 8], &[1]], &[&[0], &[2]]]));
    }

    #[test]
    fn apply_refuses_what_a_sound_manifest_never_says() {
        let base = shape(&[&[&[1]], &[&[2]]]);
        let refused = [
            VersionEdit {
                add_runs: vec![(0, vec![1])],
                ..VersionEdit::default()
            },
            VersionEdit {
                add_runs: vec![(0, vec![7, 7])],
                ..VersionEdit::default()
            },
            VersionEdit {
                add_runs: vec![(0, vec![7]), (3, vec![7])],
                ..VersionEdit::default()
            },
            VersionEdit {
                remove_tables: vec![9],
                ..VersionEdit::default()
            },
            VersionEdit {
                remove_tables: vec![1, 1],
                ..VersionEdit::default()
            },
            VersionEdit {
                add_runs: vec![(LEVEL_COUNT as u8, vec![8])],
                ..VersionEdit::default()
            },
            VersionEdit {
                insert_runs: vec![(0, RunPosition::Before(2), vec![8])],
                ..VersionEdit::default()
            },
        ];
        for edit in refused {
            assert!(edit.apply(&mut base.clone()).is_err(), "{edit:?}");
        }
    }

    proptest! {
        #[test]
        fn decoding_garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
            let _ = VersionEdit::decode(&bytes);
        }
    }
}
