//! The memtable's concurrent skiplist, with nodes and keys in an [`Arena`].
//!
//! Node layout in the arena (all fields native-endian, in memory only, never on disk); a node
//! pointer points at the header, with the tower below it, top level first, and the key after it:
//!
//! ```text
//!                                 node pointer
//!                                 v
//! +------------------------------+----------------+-------+---------+--------+-----------+
//! | tower: link[height-1] .. [0] | value: *mut u8 | seqno | key_len | height | key bytes |
//! | (AtomicPtr each)             | (AtomicPtr)    | u64   | u32     | u32    | key_len   |
//! +------------------------------+----------------+-------+---------+--------+-----------+
//! ```
//!
//! Every field a search reads sits at a fixed offset from the node pointer: `link[level]` at
//! `-(level + 1) * 8`, the key at `+24`. A search in a large list waits for one cache miss per node
//! it visits; with the key behind a tower of variable height, the key's address depended on the
//! height loaded from the header, so a key on the next cache line was a second miss after the
//! first. Here its load starts at once (measured in docs/design.md, "Skiplist nodes").
//!
//! Nodes are ordered by internal key (user key through the comparator, then seqno descending) and
//! every internal key appears at most once: inserting a key and seqno that already exist stores the
//! new value pointer into the existing node (the later write of a batch wins, as it does in a map).
//!
//! Insertion is lock-free: a writer finds the predecessor and successor at every level, then links
//! its node level by level, bottom first, each with a compare-and-swap on the predecessor's tower
//! slot; a failed CAS searches again from the same predecessor. Readers only follow tower links with
//! Acquire loads and never block or retry.
//!
//! Invariants:
//! - a node's seqno, key and height are written before the Release CAS that first links it, and
//!   never change; its value pointer changes only by an atomic store of another complete record;
//! - at level 0 the list is sorted by internal key without duplicates; every higher level is a
//!   sorted sub-list of the level below;
//! - nodes are never unlinked or freed before the skiplist drops, so a pointer to a node obtained
//!   from this list stays valid for the list's lifetime.
//!
//! Thread safety: `insert` and every read take `&self`; any number of threads may call them at once.

#![expect(
    unsafe_code,
    reason = "lock-free skiplist over raw arena memory; see UNSAFE.md"
)]

#[cfg(not(loom))]
use std::cell::Cell;
use std::cmp::Ordering as CmpOrdering;
#[cfg(not(loom))]
use std::hash::{BuildHasher, RandomState};
use std::marker::PhantomData;
use std::mem::size_of;
use std::ptr::{self, NonNull};

use super::arena::{Arena, MAX_SEGMENT_BYTES};
use crate::hint::prefetch;
use crate::key::Comparator;
use crate::seqno::SeqNo;
use crate::sync::{AtomicPtr, AtomicUsize, Ordering, Witness};

/// The highest tower; with a branching factor of 4 it serves billions of entries.
pub(crate) const MAX_HEIGHT: usize = 16;

#[repr(C)]
struct Node {
    value: AtomicPtr<u8>,
    seqno: SeqNo,
    key_len: u32,
    height: u32,
    /// Stands for `seqno`, `key_len`, `height` and the key bytes in the loom models (zero-sized
    /// otherwise, so the layout above holds).
    witness: Witness,
}

/// The header's size: the key follows it.
const HEADER_BYTES: usize = size_of::<Node>();
const LINK_BYTES: usize = size_of::<AtomicPtr<Node>>();

// The tower links below the header are aligned like the header (the arena aligns a node's
// allocation to 8 and the tower is a whole number of links), on every target.
const _: () = assert!(LINK_BYTES.is_multiple_of(std::mem::align_of::<Node>()));
const _: () = assert!(std::mem::align_of::<Node>() <= 8);

fn node_bytes(height: usize, key_len: usize) -> usize {
    height * LINK_BYTES + HEADER_BYTES + key_len
}

/// The tower slot of `node` at `level`.
#[expect(
    clippy::cast_ptr_alignment,
    reason = "node pointers are 8-aligned (their allocation is, and the tower below is whole links)"
)]
///
/// # Safety
/// `node` points to a node of this module that lives for `'a`, and `level < node.height`.
unsafe fn link<'a>(node: *mut Node, level: usize) -> &'a AtomicPtr<Node> {
    // SAFETY: per the contract the slot lies inside the node's allocation, below the header
    // (`alloc_node` placed the header `height` links past the allocation's start), was
    // initialised before publication and is 8-aligned.
    unsafe {
        &*node
            .cast::<u8>()
            .sub((level + 1) * LINK_BYTES)
            .cast::<AtomicPtr<Node>>()
    }
}

/// Starts loading the node a search standing at `x` on `level` visits first if it goes down a
/// level there: `x`'s successor on `level - 1`.
///
/// A search in a large list waits for a cache miss at almost every node it compares, one after
/// the other, since each node's address is read from the node before it. Where the search goes
/// down, the next node is known one comparison early: this prefetch overlaps its miss with the
/// comparison of `x`'s successor on `level`. Where the search goes on along `level` instead,
/// the prefetch was wasted (a search goes down about once per four steps with a branching
/// factor of 4); and a quarter of the time the two successors are the same node. Measured on
/// 1M random inserts into one memtable: 8% less time per insert past 500k entries
/// (docs/design.md, "Skiplist nodes").
///
/// # Safety
/// `x` is the head or a published node of a live list whose height exceeds `level`.
#[inline]
unsafe fn prefetch_below(x: *mut Node, level: usize) {
    // NB: no loom model sees this load: it only feeds a hint, never a dereference.
    #[cfg(not(loom))]
    if let Some(below) = level.checked_sub(1) {
        // SAFETY: per the contract, `x` has a link at `level`, so one at `level - 1`. The pointer
        // read is only handed to the prefetch hint (which never faults), never dereferenced.
        let next = unsafe { link(x, below) }.load(Ordering::Relaxed);
        prefetch(next.cast::<u8>());
    }
    #[cfg(loom)]
    let _ = (x, level);
}

/// The key of `node`.
///
/// # Safety
/// `node` points to a published node that lives for `'a`.
unsafe fn node_key<'a>(node: *mut Node) -> &'a [u8] {
    // SAFETY: key_len was written before publication and never changes; the key bytes follow
    // the header inside the node's allocation and were initialised before publication.
    unsafe {
        (*node).witness.read();
        let key_len = (*node).key_len as usize;
        let start = node.cast::<u8>().add(HEADER_BYTES);
        std::slice::from_raw_parts(start, key_len)
    }
}

/// The seqno of `node`.
///
/// # Safety
/// `node` points to a published node of a list that is alive.
unsafe fn node_seqno(node: *mut Node) -> SeqNo {
    // SAFETY: per the contract; `seqno` was written before publication and never changes.
    unsafe {
        (*node).witness.read();
        (*node).seqno
    }
}

/// A node of a [`SkipList`], valid while the list is borrowed for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct NodeRef<'a> {
    ptr: NonNull<Node>,
    _list: PhantomData<&'a SkipList>,
}

/// A node pointer detached from its list's borrow; see [`NodeRef::from_raw`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct RawNode(NonNull<Node>);

// SAFETY: a `RawNode` is only dereferenced through `NodeRef::from_raw`, whose caller guarantees
// that the owning list is alive; the node's shared fields are immutable or atomic.
unsafe impl Send for RawNode {}
// SAFETY: see `Send`.
unsafe impl Sync for RawNode {}

impl<'a> NodeRef<'a> {
    fn new(ptr: *mut Node) -> Option<Self> {
        NonNull::new(ptr).map(|ptr| Self {
            ptr,
            _list: PhantomData,
        })
    }

    /// Re-attaches a raw node to a borrow of its list.
    ///
    /// # Safety
    /// `raw` was taken from a node of `_list` (the same list object).
    pub(crate) unsafe fn from_raw(raw: RawNode, _list: &'a SkipList) -> Self {
        Self {
            ptr: raw.0,
            _list: PhantomData,
        }
    }

    pub(crate) fn raw(self) -> RawNode {
        RawNode(self.ptr)
    }

    /// The node's user key.
    pub(crate) fn key(self) -> &'a [u8] {
        // SAFETY: a `NodeRef<'a>` only exists for published nodes of a list borrowed for `'a`.
        unsafe { node_key(self.ptr.as_ptr()) }
    }

    /// The node's seqno.
    pub(crate) fn seqno(self) -> SeqNo {
        // SAFETY: as in `key`; `seqno` is immutable after publication.
        unsafe { node_seqno(self.ptr.as_ptr()) }
    }

    /// The value record pointer currently stored in the node.
    pub(crate) fn value(self) -> *mut u8 {
        // SAFETY: as in `key`; `value` is an atomic.
        unsafe { (*self.ptr.as_ptr()).value.load(Ordering::Acquire) }
    }

    /// Starts loading what a forward scan reads after this node: the value record of the next
    /// node and the node after that. A scan walks nodes in key order, which is random in memory,
    /// so without this every step waits for two cache misses in a row.
    #[inline]
    pub(crate) fn prefetch_ahead(self) {
        if let Some(next) = self.next() {
            prefetch(next.value());
            if let Some(after) = next.next() {
                prefetch(after.ptr.as_ptr().cast::<u8>());
            }
        }
    }

    /// The next node at level 0.
    pub(crate) fn next(self) -> Option<Self> {
        // SAFETY: every published node has height >= 1.
        Self::new(unsafe { link(self.ptr.as_ptr(), 0) }.load(Ordering::Acquire))
    }
}

#[cfg(not(loom))]
thread_local! {
    static RNG: Cell<u64> = Cell::new(RandomState::new().hash_one(0x5eed_u64) | 1);
}

/// A tower height with P(h > n) = 4^-n, from a per-thread xorshift generator.
#[cfg(not(loom))]
fn random_height() -> usize {
    let bits = RNG.with(|rng| {
        let mut x = rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rng.set(x);
        x
    });
    let height = 1 + (bits.trailing_zeros() as usize) / 2;
    height.min(MAX_HEIGHT)
}

// NB: a loom model must be deterministic for a given schedule, so under `cfg(loom)` the heights
// are not random: each model thread scripts the heights of its next inserts.
#[cfg(loom)]
loom::thread_local! {
    static SCRIPTED_HEIGHTS: std::cell::RefCell<Vec<usize>> = std::cell::RefCell::new(Vec::new());
}

/// Makes the calling (loom) thread's next inserts take `heights`, in order; then 1.
#[cfg(loom)]
pub(crate) fn script_heights(heights: &[usize]) {
    SCRIPTED_HEIGHTS.with(|scripted| {
        *scripted.borrow_mut() = heights.iter().rev().copied().collect();
    });
}

/// The next scripted height of this thread (see [`script_heights`]), or 1.
#[cfg(loom)]
fn random_height() -> usize {
    SCRIPTED_HEIGHTS
        .with(|scripted| scripted.borrow_mut().pop())
        .unwrap_or(1)
        .clamp(1, MAX_HEIGHT)
}

/// A lock-free skiplist of internal keys, each pointing to a value record; see the module docs.
pub(crate) struct SkipList {
    arena: Arena,
    head: NonNull<Node>,
    max_height: AtomicUsize,
    cmp: Comparator,
    /// Where the last insert that held it linked its node (see [`Splice`]).
    #[cfg(not(loom))]
    splice: parking_lot::Mutex<Splice>,
    /// Inserts that took their place from the splice, without a search (for the tests).
    #[cfg(all(test, not(loom)))]
    spliced: std::sync::atomic::AtomicUsize,
}

/// The place of the last insert, for the next one (RocksDB's "splice"): per level, the node
/// before the inserted key and the node after it. An insert whose key falls between the splice's
/// two level-0 nodes (a writer adding keys in order, the common bulk load) links its node there
/// without searching the list: two comparisons instead of one per node on the way down.
///
/// Invariant (what lets one level-0 check vouch for every level): the intervals nest, i.e. for
/// every level `i < levels`, `preds[i]` is `preds[0]` or sorts before it (or is the head) and
/// `succs[i]` is `succs[0]` or sorts after it (or is null). Nodes are never unlinked, so a key
/// that sorts between `preds[0]` and `succs[0]` sorts between `preds[i]` and `succs[i]` at every
/// level, however old the splice; a node inserted in between since then makes the linking CAS
/// fail, and the insert then searches from `preds[i]` as after any lost race. An insert that
/// retried a CAS records no splice (its successors may not nest), and one that finds the splice
/// held by another writer does without it.
#[cfg(not(loom))]
struct Splice {
    /// The levels `0..levels` hold a path; 0 while there is none.
    levels: usize,
    preds: [*mut Node; MAX_HEIGHT],
    succs: [*mut Node; MAX_HEIGHT],
}

// SAFETY: the pointers are nodes of the list that owns the splice (or its head), which outlive it;
// they are only dereferenced by the thread that holds the splice's lock, as published nodes.
#[cfg(not(loom))]
unsafe impl Send for Splice {}

// SAFETY: the list owns its arena; nodes are shared only through atomics and immutable fields.
unsafe impl Send for SkipList {}
// SAFETY: see `Send`; all `&self` mutation is by CAS on tower links and atomic value stores.
unsafe impl Sync for SkipList {}

impl SkipList {
    pub(crate) fn new(cmp: Comparator) -> Self {
        let arena = Arena::new(8, 4096, MAX_SEGMENT_BYTES);
        let head = Self::alloc_node(&arena, MAX_HEIGHT, &[], 0, ptr::null_mut());
        Self {
            arena,
            head,
            max_height: AtomicUsize::new(1),
            cmp,
            #[cfg(not(loom))]
            splice: parking_lot::Mutex::new(Splice {
                levels: 0,
                preds: [ptr::null_mut(); MAX_HEIGHT],
                succs: [ptr::null_mut(); MAX_HEIGHT],
            }),
            #[cfg(all(test, not(loom)))]
            spliced: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    pub(crate) fn comparator(&self) -> &Comparator {
        &self.cmp
    }

    /// Bytes of node memory the list holds.
    pub(crate) fn reserved_bytes(&self) -> usize {
        self.arena.reserved_bytes()
    }

    /// Bytes a node for `key_len` takes on average (for size accounting).
    pub(crate) fn node_bytes_estimate(key_len: usize) -> usize {
        // The expected height is 4/3.
        node_bytes(1, key_len) + LINK_BYTES / 3
    }

    #[expect(
        clippy::cast_ptr_alignment,
        reason = "node allocations are 8-aligned by their arena and the tower is whole links"
    )]
    fn alloc_node(
        arena: &Arena,
        height: usize,
        key: &[u8],
        seqno: SeqNo,
        value: *mut u8,
    ) -> NonNull<Node> {
        let key_len = u32::try_from(key.len()).unwrap_or_else(|_| {
            panic!(
                "key of {} bytes exceeds the limit of u32::MAX bytes",
                key.len()
            )
        });
        let start = arena.alloc(node_bytes(height, key.len()));
        // SAFETY: the arena returned `node_bytes` fresh bytes, 8-aligned, that nobody else can
        // see until this node is linked; the header starts `height` links in (inside them, and
        // 8-aligned); every field, link and key byte is written here.
        unsafe {
            let node = start.add(height * LINK_BYTES).cast::<Node>();
            node.as_ptr().write(Node {
                value: AtomicPtr::new(value),
                seqno,
                key_len,
                height: u32::try_from(height).unwrap_or(u32::MAX),
                witness: Witness::new(),
            });
            for level in 0..height {
                node.as_ptr()
                    .cast::<u8>()
                    .sub((level + 1) * LINK_BYTES)
                    .cast::<AtomicPtr<Node>>()
                    .write(AtomicPtr::new(ptr::null_mut()));
            }
            let key_dst = node.as_ptr().cast::<u8>().add(HEADER_BYTES);
            ptr::copy_nonoverlapping(key.as_ptr(), key_dst, key.len());
            (*node.as_ptr()).witness.written();
            node
        }
    }

    fn cmp_node(&self, node: *mut Node, key: &[u8], seqno: SeqNo) -> CmpOrdering {
        // SAFETY: callers pass published, non-head nodes of this list.
        let (key_of_node, seqno_of_node) = unsafe { (node_key(node), node_seqno(node)) };
        self.cmp
            .internal((key_of_node, seqno_of_node), (key, seqno))
    }

    /// From `start` at `level`, the last node before `(key, seqno)` and the node after it.
    fn find_at_level(
        &self,
        start: *mut Node,
        level: usize,
        key: &[u8],
        seqno: SeqNo,
    ) -> (*mut Node, *mut Node) {
        let mut x = start;
        loop {
            // SAFETY: `x` is the head or a published node whose height exceeds `level` (we only
            // reach it through a link at `level`).
            let next = unsafe { link(x, level) }.load(Ordering::Acquire);
            // SAFETY: as above.
            unsafe { prefetch_below(x, level) };
            if next.is_null() || self.cmp_node(next, key, seqno) != CmpOrdering::Less {
                return (x, next);
            }
            x = next;
        }
    }

    /// Inserts `(key, seqno) -> value`. If that internal key exists, its node takes the new value
    /// instead. Returns `true` if a new node was linked.
    ///
    /// # Safety
    /// `value` is stored as is and later read back by the memtable as a value record: it must be
    /// a record of the owning memtable's value store, or never be read back (unit tests).
    ///
    /// # Panics
    /// Panics if `key` is longer than `u32::MAX` bytes.
    #[expect(
        clippy::indexing_slicing,
        reason = "every level is below height or top, both at most MAX_HEIGHT, the arrays' length"
    )]
    pub(crate) unsafe fn insert(&self, key: &[u8], seqno: SeqNo, value: *mut u8) -> bool {
        let height = random_height();
        let mut top = self.max_height.load(Ordering::Relaxed);
        while height > top {
            match self.max_height.compare_exchange_weak(
                top,
                height,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => top = height,
                Err(actual) => top = actual,
            }
        }
        let head = self.head.as_ptr();
        let mut preds = [head; MAX_HEIGHT];
        let mut succs = [ptr::null_mut::<Node>(); MAX_HEIGHT];
        #[cfg(not(loom))]
        let mut splice = self.splice.try_lock();
        #[cfg(not(loom))]
        let spliced = splice
            .as_deref()
            .is_some_and(|s| self.splice_fits(s, top, key, seqno));
        #[cfg(loom)]
        let spliced = false;
        #[cfg(not(loom))]
        if spliced && let Some(s) = splice.as_deref() {
            preds[..top].copy_from_slice(&s.preds[..top]);
            succs[..top].copy_from_slice(&s.succs[..top]);
            #[cfg(test)]
            self.spliced
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if !spliced {
            let mut x = head;
            for level in (0..top).rev() {
                let (pred, succ) = self.find_at_level(x, level, key, seqno);
                preds[level] = pred;
                succs[level] = succ;
                x = pred;
            }
            if self.overwrite_if_equal(succs[0], key, seqno, value) {
                return false;
            }
        }
        let node = Self::alloc_node(&self.arena, height, key, seqno, value).as_ptr();
        let mut retried = false;
        for level in 0..height {
            loop {
                let (pred, succ) = (preds[level], succs[level]);
                // SAFETY: `node` is ours and has `height > level` links.
                unsafe { link(node, level) }.store(succ, Ordering::Relaxed);
                // SAFETY: `pred` is the head or a node linked at `level`, so its height > level.
                let slot = unsafe { link(pred, level) };
                if slot
                    .compare_exchange(succ, node, Ordering::Release, Ordering::Relaxed)
                    .is_ok()
                {
                    break;
                }
                retried = true;
                let (pred, succ) = self.find_at_level(pred, level, key, seqno);
                if level == 0 && self.overwrite_if_equal(succ, key, seqno, value) {
                    // NB: our node was never linked; its bytes stay unused in the arena.
                    return false;
                }
                preds[level] = pred;
                succs[level] = succ;
            }
        }
        #[cfg(not(loom))]
        if let Some(s) = splice.as_deref_mut() {
            if retried {
                s.levels = 0;
            } else {
                // NB: below `height` the new node is the predecessor and its successors stay;
                // above it the path found (or taken) still brackets the node: the nesting holds.
                s.levels = top;
                s.preds[..top].copy_from_slice(&preds[..top]);
                s.succs[..top].copy_from_slice(&succs[..top]);
                for pred in s.preds.iter_mut().take(height) {
                    *pred = node;
                }
            }
        }
        #[cfg(loom)]
        let _ = retried;
        true
    }

    /// Whether `(key, seqno)` falls between the splice's level-0 nodes, on a path that covers the
    /// list's `top` levels (see [`Splice`]: the nesting makes the other levels bracket it too).
    #[cfg(not(loom))]
    fn splice_fits(&self, splice: &Splice, top: usize, key: &[u8], seqno: SeqNo) -> bool {
        if splice.levels < top {
            return false;
        }
        let (pred, succ) = (splice.preds[0], splice.succs[0]);
        let after_pred =
            pred == self.head.as_ptr() || self.cmp_node(pred, key, seqno) == CmpOrdering::Less;
        after_pred && (succ.is_null() || self.cmp_node(succ, key, seqno) == CmpOrdering::Greater)
    }

    fn overwrite_if_equal(
        &self,
        node: *mut Node,
        key: &[u8],
        seqno: SeqNo,
        value: *mut u8,
    ) -> bool {
        if node.is_null() || self.cmp_node(node, key, seqno) != CmpOrdering::Equal {
            return false;
        }
        // SAFETY: `node` is a published node of this list; `value` is an atomic.
        unsafe { (*node).value.store(value, Ordering::Release) };
        true
    }

    /// The last node for which `before(key, seqno)` holds and the first node for which it does not.
    /// `before` must be monotone: true for a prefix of the list, false after it.
    fn search(&self, before: impl Fn(&[u8], SeqNo) -> bool) -> (*mut Node, *mut Node) {
        let mut x = self.head.as_ptr();
        let mut level = self.max_height.load(Ordering::Relaxed);
        loop {
            level -= 1;
            loop {
                // SAFETY: `x` is the head or was reached through a link at `level`.
                let next = unsafe { link(x, level) }.load(Ordering::Acquire);
                // SAFETY: as above.
                unsafe { prefetch_below(x, level) };
                // SAFETY: `next` is a published node.
                if next.is_null() || !before(unsafe { node_key(next) }, unsafe { node_seqno(next) })
                {
                    if level == 0 {
                        return (x, next);
                    }
                    break;
                }
                x = next;
            }
        }
    }

    fn non_head(&self, node: *mut Node) -> Option<NodeRef<'_>> {
        if node == self.head.as_ptr() {
            None
        } else {
            NodeRef::new(node)
        }
    }

    /// The first node for which `before` is false.
    pub(crate) fn seek_first(&self, before: impl Fn(&[u8], SeqNo) -> bool) -> Option<NodeRef<'_>> {
        NodeRef::new(self.search(before).1)
    }

    /// The last node for which `before` is true.
    pub(crate) fn seek_last(&self, before: impl Fn(&[u8], SeqNo) -> bool) -> Option<NodeRef<'_>> {
        self.non_head(self.search(before).0)
    }

    /// The first node at or after internal key `(key, seqno)`.
    pub(crate) fn seek_ge(&self, key: &[u8], seqno: SeqNo) -> Option<NodeRef<'_>> {
        self.seek_first(|k, s| self.cmp.internal((k, s), (key, seqno)) == CmpOrdering::Less)
    }

    /// The first node.
    pub(crate) fn first(&self) -> Option<NodeRef<'_>> {
        // SAFETY: the head has MAX_HEIGHT links.
        NodeRef::new(unsafe { link(self.head.as_ptr(), 0) }.load(Ordering::Acquire))
    }

    /// The last node.
    pub(crate) fn last(&self) -> Option<NodeRef<'_>> {
        self.seek_last(|_, _| true)
    }

    /// The node before `node`.
    pub(crate) fn prev(&self, node: NodeRef<'_>) -> Option<NodeRef<'_>> {
        let (key, seqno) = (node.key(), node.seqno());
        self.seek_last(|k, s| self.cmp.internal((k, s), (key, seqno)) == CmpOrdering::Less)
    }
}

impl SkipList {
    /// The internal keys linked at `level`, in list order, for the loom models' tower checks;
    /// panics if a node reached at `level` is not taller than `level` (I6).
    #[cfg(all(test, loom))]
    pub(crate) fn level_keys(&self, level: usize) -> Vec<(Vec<u8>, SeqNo)> {
        let mut out = Vec::new();
        // SAFETY: the head has MAX_HEIGHT links; the loom models ask for levels below it.
        let mut next = unsafe { link(self.head.as_ptr(), level) }.load(Ordering::Acquire);
        while let Some(node) = NodeRef::new(next) {
            // SAFETY: `node` is a published node of this list, which is borrowed.
            let height = unsafe {
                (*node.ptr.as_ptr()).witness.read();
                (*node.ptr.as_ptr()).height as usize
            };
            assert!(
                height > level,
                "a node of height {height} is linked at level {level}"
            );
            out.push((node.key().to_vec(), node.seqno()));
            // SAFETY: as above; `level < height`.
            next = unsafe { link(node.ptr.as_ptr(), level) }.load(Ordering::Acquire);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Inserts with a value pointer that the tests never read back.
    fn ins(list: &SkipList, key: &[u8], seqno: SeqNo, value: *mut u8) -> bool {
        // SAFETY: skiplist tests compare value pointers but never read through them.
        unsafe { list.insert(key, seqno, value) }
    }

    fn keys_forward(list: &SkipList) -> Vec<(Vec<u8>, SeqNo)> {
        let mut out = Vec::new();
        let mut cur = list.first();
        while let Some(n) = cur {
            out.push((n.key().to_vec(), n.seqno()));
            cur = n.next();
        }
        out
    }

    fn keys_backward(list: &SkipList) -> Vec<(Vec<u8>, SeqNo)> {
        let mut out = Vec::new();
        let mut cur = list.last();
        while let Some(n) = cur {
            out.push((n.key().to_vec(), n.seqno()));
            cur = list.prev(n);
        }
        out
    }

    /// A list that `threads` threads filled at once, thread `t` inserting `entry(t, i)` for `i` in
    /// `0..per_thread`, in that order.
    fn insert_from_threads(
        threads: u32,
        per_thread: u32,
        entry: impl Fn(u32, u32) -> ([u8; 4], SeqNo) + Copy + Send + 'static,
    ) -> Arc<SkipList> {
        let list = Arc::new(SkipList::new(Comparator::default()));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let list = Arc::clone(&list);
                std::thread::spawn(move || {
                    for i in 0..per_thread {
                        let (key, seqno) = entry(t, i);
                        ins(&list, &key, seqno, ptr::null_mut());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        list
    }

    /// Asserts that every level of `list` is sorted by internal key without duplicates and holds
    /// only nodes of level 0.
    fn assert_levels_sorted(list: &SkipList) {
        let mut level0 = std::collections::HashSet::new();
        for level in 0..list.max_height.load(Ordering::Relaxed) {
            let mut x = list.head.as_ptr();
            let mut prev: Option<*mut Node> = None;
            loop {
                // SAFETY: `x` is the head or a node reached through a link at `level`.
                let next = unsafe { link(x, level) }.load(Ordering::Acquire);
                if next.is_null() {
                    break;
                }
                if let Some(p) = prev {
                    // SAFETY: `next` is a published node of `list`.
                    let (key, seqno) = unsafe { (node_key(next), node_seqno(next)) };
                    assert_eq!(
                        list.cmp_node(p, key, seqno),
                        CmpOrdering::Less,
                        "level {level} out of order"
                    );
                }
                if level == 0 {
                    level0.insert(next.addr());
                } else {
                    assert!(level0.contains(&next.addr()), "level {level} skips level 0");
                }
                prev = Some(next);
                x = next;
            }
        }
    }

    #[cfg(not(loom))]
    #[test]
    fn keys_in_order_link_at_the_splice_without_a_search() {
        let list = SkipList::new(Comparator::default());
        let n: u32 = if cfg!(miri) { 60 } else { 5000 };
        for i in 0..n {
            assert!(ins(&list, &i.to_be_bytes(), 0, ptr::null_mut()));
        }
        let spliced = list.spliced.load(std::sync::atomic::Ordering::Relaxed);
        // NB: an insert that raises the list's height searches; there are about log4(n) of them.
        assert!(
            spliced + 20 >= n as usize,
            "{spliced} of {n} in-order inserts used the splice"
        );
        // Out of order (descending, then into the middle): the splice never fits, nothing breaks.
        let before = list.spliced.load(std::sync::atomic::Ordering::Relaxed);
        for i in (0..n).rev() {
            assert!(ins(&list, &i.to_be_bytes(), 1, ptr::null_mut()));
        }
        assert_eq!(
            list.spliced.load(std::sync::atomic::Ordering::Relaxed),
            before
        );
        assert!(!ins(&list, &(n / 2).to_be_bytes(), 0, ptr::null_mut()));
        let forward = keys_forward(&list);
        let mut expected: Vec<_> = (0..n)
            .flat_map(|i| [(i.to_be_bytes().to_vec(), 1), (i.to_be_bytes().to_vec(), 0)])
            .collect();
        expected.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        assert_eq!(forward, expected);
        assert_levels_sorted(&list);
    }

    /// Writers each adding keys in order, interleaved with each other's, take turns at the splice
    /// and find it stale: every level must stay sorted and every key linked once.
    #[test]
    fn concurrent_in_order_writers_keep_every_level_sorted() {
        let threads: u32 = if cfg!(miri) { 3 } else { 4 };
        let per_thread: u32 = if cfg!(miri) { 25 } else { 20_000 };
        let list = insert_from_threads(threads, per_thread, move |t, i| {
            ((i * threads + t).to_be_bytes(), 0)
        });
        let forward = keys_forward(&list);
        let expected: Vec<_> = (0..threads * per_thread)
            .map(|k| (k.to_be_bytes().to_vec(), 0))
            .collect();
        assert_eq!(forward, expected);
        assert_levels_sorted(&list);
    }

    #[test]
    fn height_distribution_is_geometric() {
        let n = if cfg!(miri) { 200 } else { 100_000 };
        let tall = (0..n).filter(|_| random_height() > 1).count();
        // P(height > 1) = 1/4.
        let ratio = tall as f64 / n as f64;
        assert!((0.1..0.4).contains(&ratio), "{ratio}");
        assert!((0..n).all(|_| (1..=MAX_HEIGHT).contains(&random_height())));
    }

    #[test]
    fn iterates_in_internal_key_order_both_ways() {
        let list = SkipList::new(Comparator::default());
        let n = if cfg!(miri) { 40u32 } else { 2000 };
        for i in 0..n {
            let key = format!("k{:05}", (i * 7919) % n);
            ins(&list, key.as_bytes(), u64::from(i % 3), ptr::null_mut());
        }
        let forward = keys_forward(&list);
        let mut expected = forward.clone();
        expected.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        assert_eq!(forward, expected);
        let mut backward = keys_backward(&list);
        backward.reverse();
        assert_eq!(backward, forward);
    }

    #[test]
    fn equal_internal_key_overwrites_in_place() {
        let list = SkipList::new(Comparator::default());
        let mut a = 1u8;
        let mut b = 2u8;
        assert!(ins(&list, b"k", 5, &raw mut a));
        assert!(!ins(&list, b"k", 5, &raw mut b));
        assert!(ins(&list, b"k", 6, &raw mut a));
        let node = list.seek_ge(b"k", 5).unwrap();
        assert_eq!(node.seqno(), 5);
        assert_eq!(node.value(), &raw mut b);
        assert_eq!(keys_forward(&list).len(), 2);
    }

    #[test]
    fn seeks_find_bounds() {
        let list = SkipList::new(Comparator::default());
        for (k, s) in [("a", 1), ("b", 3), ("b", 2), ("c", 1)] {
            ins(&list, k.as_bytes(), s, ptr::null_mut());
        }
        let n = list.seek_ge(b"b", 2).unwrap();
        assert_eq!((n.key(), n.seqno()), (&b"b"[..], 2));
        let n = list.seek_ge(b"b", 9).unwrap();
        assert_eq!((n.key(), n.seqno()), (&b"b"[..], 3));
        assert!(list.seek_ge(b"d", 9).is_none());
        let n = list.seek_last(|k, _| k <= b"b".as_slice()).unwrap();
        assert_eq!((n.key(), n.seqno()), (&b"b"[..], 2));
        assert!(list.seek_last(|k, _| k < b"a".as_slice()).is_none());
    }

    #[test]
    fn concurrent_inserts_are_all_linked_in_order() {
        let threads: u32 = if cfg!(miri) { 3 } else { 8 };
        let per_thread: u32 = if cfg!(miri) { 30 } else { 20_000 };
        // Interleave keys across threads and collide on equal internal keys.
        let list = insert_from_threads(threads, per_thread, move |t, i| {
            (
                ((i * threads + t) % (per_thread * threads / 2)).to_be_bytes(),
                u64::from(t % 2),
            )
        });
        let forward = keys_forward(&list);
        assert!(
            forward
                .windows(2)
                .all(|w| (w[0].0.as_slice(), std::cmp::Reverse(w[0].1))
                    < (w[1].0.as_slice(), std::cmp::Reverse(w[1].1)))
        );
        // Every distinct (key, seqno) written exactly once in the list.
        let mut expected = std::collections::BTreeSet::new();
        for t in 0..threads {
            for i in 0..per_thread {
                let key = ((i * threads + t) % (per_thread * threads / 2)).to_be_bytes();
                expected.insert((key.to_vec(), u64::from(t % 2)));
            }
        }
        assert_eq!(forward.len(), expected.len());
        assert_levels_sorted(&list);
    }

    /// All threads insert the same few internal keys at once, so CAS failures meet an equal node
    /// and must turn into in-place overwrites: each internal key ends up linked exactly once.
    #[test]
    fn racing_inserts_of_one_internal_key_link_it_once() {
        let threads = if cfg!(miri) { 3 } else { 8 };
        let rounds = if cfg!(miri) { 5 } else { 2000 };
        let list = Arc::new(SkipList::new(Comparator::default()));
        let barrier = Arc::new(std::sync::Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (list, barrier) = (Arc::clone(&list), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    let mut linked = 0usize;
                    for round in 0..rounds {
                        let key = (round % 4u32).to_be_bytes();
                        linked +=
                            usize::from(ins(&list, &key, u64::from(round / 4), ptr::null_mut()));
                    }
                    linked
                })
            })
            .collect();
        let linked: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(
            linked, rounds as usize,
            "each (key, seqno) is linked by exactly one thread"
        );
        assert_eq!(keys_forward(&list).len(), rounds as usize);
    }
}
