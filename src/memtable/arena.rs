//! A segmented, lock-free bump arena.
//!
//! The memtable keeps its skiplist nodes (with their keys) in one arena and its values in another
//! (the value store). Memory comes in segments that are allocated lazily and installed with one
//! compare-and-swap; an allocation is one atomic `fetch_add` on the current segment's cursor.
//! Nothing is ever freed on its own: every segment is released in bulk when the arena drops, which
//! is what lets readers follow raw pointers into the arena without reference counts or epochs.
//! On Linux each segment of 256 KiB or more is a memory mapping of its own ([`map_segment`]), so a
//! flushed memtable's memory goes back to the kernel whole instead of fragmenting the allocator's
//! heap. Released
//! full-size segments go to a small process-wide pool ([`SegmentPool`]) that the next arena takes
//! its memory from, so a new memtable does not fault in and zero fresh pages; the pool gives its
//! pages back when writes stop.
//!
//! ```text
//!  current ──► [segment n: base, capacity, cursor] ──prev──► [segment n-1] ──prev──► ... ► null
//!  large   ──► [dedicated segment for one big allocation] ──prev──► ... ► null
//! ```
//!
//! Segment sizes start at `min_segment_bytes` and double up to `max_segment_bytes`, so an empty
//! memtable costs nothing and a small one little. An allocation larger than a quarter of the
//! largest segment gets a dedicated segment of its own size, pushed on the `large` stack.
//!
//! Invariants:
//! - every cursor value handed out is a multiple of the arena's alignment, and every segment base
//!   is aligned to 8, so every returned pointer is aligned to the arena's alignment;
//! - an allocation is returned only if `offset + size <= capacity`: an allocation that exactly
//!   fills a segment is valid and never spills into another segment's bytes; one that does not fit
//!   moves on to a fresh segment (the tail of the old one is wasted);
//! - a segment's `base`, `capacity` and `prev` are written before the segment is published by a
//!   Release CAS and never change afterwards;
//! - segments are freed only in `Drop`, when no reference to the arena remains.
//!
//! Thread safety: `alloc` takes `&self` and may run on any number of threads at once.

#![expect(unsafe_code, reason = "the arena hands out raw memory; see UNSAFE.md")]

use std::alloc::{Layout, handle_alloc_error};
use std::ptr::{self, NonNull};

use parking_lot::Mutex;

use crate::sync::{AtomicPtr, AtomicUsize, Ordering, Witness, get_mut_ptr};

/// The alignment of every segment's base address.
const SEGMENT_ALIGN: usize = 8;

/// The alignment of segments of this size or more: a huge page (2 MiB on x86-64 and on most
/// arm64 kernels). A segment that starts on a huge-page boundary can be backed by huge pages where
/// the kernel gives them (transparent huge pages), so a search that jumps between random nodes of
/// a large memtable takes far fewer TLB misses.
const HUGE_PAGE: usize = 2 << 20;

struct Segment {
    base: NonNull<u8>,
    capacity: usize,
    cursor: AtomicUsize,
    prev: *mut Segment,
    /// Stands for `base`, `capacity` and `prev` in the loom models (zero-sized otherwise).
    witness: Witness,
}

impl Segment {
    /// Allocates a segment of `capacity` bytes (uninitialised) and returns it leaked.
    fn allocate(capacity: usize, cursor: usize, prev: *mut Segment) -> *mut Segment {
        let base = if let Some(recycled) = SEGMENT_POOL.take(capacity) {
            recycled.0
        } else {
            let base = map_segment(capacity);
            if capacity >= HUGE_PAGE {
                advise_huge_pages(base, capacity);
            }
            base
        };
        Box::into_raw(Box::new(Self {
            base,
            capacity,
            cursor: AtomicUsize::new(cursor),
            prev,
            witness: Witness::new(),
        }))
    }

    /// Frees a segment allocated by [`Segment::allocate`] and returns its `prev` link.
    ///
    /// # Safety
    /// `segment` came from `Segment::allocate`, is freed once, and nothing uses it afterwards.
    unsafe fn free(segment: *mut Segment) -> *mut Segment {
        // SAFETY: per the contract, `segment` is a live, uniquely owned Box.
        let segment = unsafe { Box::from_raw(segment) };
        if let Err(refused) = SEGMENT_POOL.give(segment.capacity, PooledMemory(segment.base)) {
            // SAFETY: `base` came from `map_segment(capacity)` (in `allocate`, or in the
            // `allocate` of an earlier arena that gave it to the pool), and nobody else holds it.
            unsafe { unmap_segment(refused.0, segment.capacity) };
        }
        segment.prev
    }
}

/// Maps `capacity` bytes of fresh memory for a segment straight from the kernel (Linux, not
/// under Miri or loom) when it is [`MIN_MAPPED_BYTES`] or more: aligned to [`HUGE_PAGE`] when it
/// is that large, else to the page size. Smaller segments come from the global allocator.
///
/// Not from the global allocator: a memtable's segments are freed all at once when it is flushed,
/// and in a heap they would leave holes the allocator cannot give back (measured with glibc: the
/// segments of every flushed memtable below 8 MiB, about 16 MiB per memtable, stayed resident as
/// free heap under the blocks cached after them). A mapping goes back to the kernel whole when it
/// is unmapped.
#[cfg(all(target_os = "linux", not(miri), not(loom)))]
fn map_segment(capacity: usize) -> NonNull<u8> {
    if capacity < MIN_MAPPED_BYTES {
        return heap_segment(capacity);
    }
    let len = mapped_len(capacity);
    let align = if capacity >= HUGE_PAGE { HUGE_PAGE } else { 0 };
    let Some(total) = len.checked_add(align) else {
        handle_alloc_error(segment_layout(capacity))
    };
    // SAFETY: a new private anonymous mapping with no address hint: the kernel picks a range
    // that nothing else uses, and nothing in this process aliases it.
    let raw = unsafe {
        libc::mmap(
            ptr::null_mut(),
            total,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        handle_alloc_error(segment_layout(capacity));
    }
    let raw = raw.cast::<u8>();
    // The mapping is page-aligned, so the aligned start is inside it, a whole number of pages
    // from its start, and `len` bytes from there still fit.
    let head = if align == 0 {
        0
    } else {
        raw.addr().next_multiple_of(align) - raw.addr()
    };
    let tail = total - head - len;
    let base = raw.wrapping_add(head);
    // SAFETY: the head and the tail are page-aligned ranges of the mapping just made, outside
    // `base..base + len`, and nothing refers to them. A failure leaves them mapped and unused.
    unsafe {
        if head > 0 {
            let _ = libc::munmap(raw.cast(), head);
        }
        if tail > 0 {
            let _ = libc::munmap(base.wrapping_add(len).cast(), tail);
        }
    }
    NonNull::new(base).unwrap_or_else(|| handle_alloc_error(segment_layout(capacity)))
}

/// Unmaps a segment's memory.
///
/// # Safety
/// `base` came from `map_segment(capacity)` with this `capacity`, is unmapped once, and nothing
/// refers to it afterwards.
#[cfg(all(target_os = "linux", not(miri), not(loom)))]
unsafe fn unmap_segment(base: NonNull<u8>, capacity: usize) {
    if capacity < MIN_MAPPED_BYTES {
        // SAFETY: per the contract, `base` came from `heap_segment(capacity)`.
        unsafe { free_heap_segment(base, capacity) };
        return;
    }
    // SAFETY: per the contract, the range is exactly one mapping of ours that nobody uses.
    let result = unsafe { libc::munmap(base.as_ptr().cast(), mapped_len(capacity)) };
    debug_assert_eq!(result, 0, "munmap of a segment");
}

/// A segment's mapped length: whole pages.
#[cfg(all(target_os = "linux", not(miri), not(loom)))]
fn mapped_len(capacity: usize) -> usize {
    // SAFETY: `sysconf` has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page = usize::try_from(page)
        .ok()
        .filter(|p| p.is_power_of_two())
        .unwrap_or(4096);
    capacity.max(1).next_multiple_of(page)
}

/// The smallest segment [`map_segment`] maps (256 KiB, 64 pages): smaller ones, 256 KiB per arena
/// in all, come from the global allocator, which reuses them well, so that a process with many
/// small memtables (a database with many keyspaces) does not spend its mappings (the kernel's
/// `vm.max_map_count`, 65,530 by default) on them.
const MIN_MAPPED_BYTES: usize = 256 << 10;

/// A segment's memory from the global allocator, aligned as [`segment_layout`] says.
fn heap_segment(capacity: usize) -> NonNull<u8> {
    let layout = segment_layout(capacity);
    // SAFETY: `segment_layout` never returns a zero-sized layout.
    let raw = unsafe { std::alloc::alloc(layout) };
    NonNull::new(raw).unwrap_or_else(|| handle_alloc_error(layout))
}

/// Frees a segment's memory from the global allocator.
///
/// # Safety
/// `base` came from `heap_segment(capacity)`, is freed once, and nothing refers to it afterwards.
unsafe fn free_heap_segment(base: NonNull<u8>, capacity: usize) {
    // SAFETY: per the contract, `base` was allocated with exactly this layout.
    unsafe { std::alloc::dealloc(base.as_ptr(), segment_layout(capacity)) };
}

/// [`map_segment`] elsewhere: memory from the global allocator.
#[cfg(not(all(target_os = "linux", not(miri), not(loom))))]
fn map_segment(capacity: usize) -> NonNull<u8> {
    heap_segment(capacity)
}

/// [`unmap_segment`] elsewhere: frees memory from the global allocator.
///
/// # Safety
/// As the Linux version: `base` came from `map_segment(capacity)`, is freed once, and nothing
/// refers to it afterwards.
#[cfg(not(all(target_os = "linux", not(miri), not(loom))))]
unsafe fn unmap_segment(base: NonNull<u8>, capacity: usize) {
    // SAFETY: per the contract, `base` came from `heap_segment(capacity)`.
    unsafe { free_heap_segment(base, capacity) };
}

/// Asks the kernel to back `len` bytes at `base` (a segment aligned to [`HUGE_PAGE`]) with huge
/// pages where it keeps transparent huge pages for the regions that ask (`madvise` mode, the
/// common default). Advice only: on failure, or on other systems, the pages stay small.
#[cfg(all(target_os = "linux", not(miri), not(loom)))]
fn advise_huge_pages(base: NonNull<u8>, len: usize) {
    // SAFETY: `base..base + len` is one live allocation of ours, aligned to a huge page (so to
    // the page size, as `madvise` requires). MADV_HUGEPAGE changes no contents and no mapping
    // that Rust code relies on; its result is advice only and is deliberately ignored.
    let _ = unsafe { libc::madvise(base.as_ptr().cast(), len, libc::MADV_HUGEPAGE) };
}

#[cfg(not(all(target_os = "linux", not(miri), not(loom))))]
fn advise_huge_pages(_base: NonNull<u8>, _len: usize) {}

/// The memory of a freed segment, owned by the [`SegmentPool`] that holds it.
struct PooledMemory(NonNull<u8>);

// SAFETY: pooled memory is owned by exactly one holder at a time (the pool, or the segment that
// took it) and is never accessed through this handle.
unsafe impl Send for PooledMemory {}

/// How many freed full-size segments the process keeps for reuse: 64 MiB, the default memtable.
const POOLED_SEGMENTS: usize = 8;

/// How many freed segments of each smaller size the process keeps: the mapped sizes an arena grows
/// through (256 KiB, 512 KiB, ... 4 MiB; 8 MiB in all), for the two arenas of the next memtable
/// and of one more (at most 32 MiB).
const POOLED_SMALL_SEGMENTS: usize = 4;

/// The smallest segment the pool keeps: the smallest mapped one (the global allocator reuses the
/// smaller ones itself).
const MIN_POOLED_BYTES: usize = MIN_MAPPED_BYTES;

/// How many freed segments of `capacity` bytes the pool keeps: none for sizes an arena does not
/// grow through (the dedicated segments of large allocations, the small arenas of tests).
fn pooled_count(capacity: usize) -> usize {
    if capacity == MAX_SEGMENT_BYTES {
        POOLED_SEGMENTS
    } else if capacity.is_power_of_two()
        && (MIN_POOLED_BYTES..MAX_SEGMENT_BYTES).contains(&capacity)
    {
        POOLED_SMALL_SEGMENTS
    } else {
        0
    }
}

/// Freed segments (mapped by [`map_segment`]) kept for the next arena: the full-size ones
/// ([`MAX_SEGMENT_BYTES`]) and those of the sizes an arena grows through on its way there.
///
/// A memtable lives for one fill and its arenas are freed after the flush; without reuse, the
/// next memtable's writers take a page fault, and the kernel zeroes the page, on the first touch
/// of every page of every new segment, in the foreground write path (measured: about 10% of a
/// write-heavy benchmark's time, most of it zeroing huge pages). The pool hands the freed memory,
/// already mapped, to the next memtable instead. It holds at most [`POOLED_SEGMENTS`] full-size
/// segments and [`POOLED_SMALL_SEGMENTS`] of each smaller size for the whole process, so a
/// process never keeps more than about one default memtable's worth of freed memory (96 MiB at
/// most; the peak, when a memtable is full and the previous one is still being flushed, is not
/// raised: the pool fills only as that previous memtable is freed). The small sizes matter since
/// segments are mappings of their own: without them, every memtable would fault in its first
/// 16 MiB (two arenas) page by page, in small pages.
///
/// Pooled memory is resident, and only writers use it: once writes stop it would sit in the
/// process for nothing (64 MiB of a read-only phase's RSS, measured). So the pool goes *idle*
/// ([`release_pooled_segments`]) when a tree sees its writes stop: a flush that leaves the
/// active memtable empty (nothing was written since the rotation), or the tree closing. It then
/// hands every pooled page back to the kernel (`MADV_DONTNEED` on Linux: the memory stays
/// reserved, its pages are freed and come back zeroed on the next touch; elsewhere the memory is
/// freed), and does the same to every segment given to it while idle. The next full-size segment
/// an arena asks for ends the idle state. The cost falls on a caller that flushes on its writer
/// thread (`flush_active_memtable` after each fill): its flush always leaves the active memtable
/// empty, so its next memtable faults its pages in as it would without the pool. A waiting period
/// instead was measured to fail the other way: reads that start right after the last flush carry
/// the idle memory in their peak until the period ends.
///
/// The pool is not part of the lock-free protocol (only arena creation and drop touch it), so its
/// lock is `parking_lot`'s even in the loom models, where the pool is off.
struct SegmentPool {
    state: Mutex<PoolState>,
}

struct PoolState {
    /// Each segment's capacity and memory.
    free: Vec<(usize, PooledMemory)>,
    /// Writes have stopped: pooled memory is kept without its pages.
    idle: bool,
}

impl SegmentPool {
    const fn new() -> Self {
        Self {
            state: Mutex::new(PoolState {
                free: Vec::new(),
                idle: false,
            }),
        }
    }

    /// Memory for a segment of `capacity` bytes, if the pool holds one of that size. Asking for a
    /// full-size segment means a memtable is growing: it ends the idle state.
    fn take(&self, capacity: usize) -> Option<PooledMemory> {
        if cfg!(loom) || pooled_count(capacity) == 0 {
            return None;
        }
        let mut state = self.state.lock();
        if capacity == MAX_SEGMENT_BYTES {
            state.idle = false;
        }
        let at = state.free.iter().rposition(|(c, _)| *c == capacity)?;
        Some(state.free.swap_remove(at).1)
    }

    /// Keeps the memory of a freed segment of `capacity` bytes, or hands it back when the pool is
    /// full or the size is not pooled (the caller then frees it). While idle, the memory is kept
    /// without its pages.
    fn give(&self, capacity: usize, memory: PooledMemory) -> Result<(), PooledMemory> {
        let keep = pooled_count(capacity);
        if cfg!(loom) || keep == 0 {
            return Err(memory);
        }
        let mut state = self.state.lock();
        let held = state.free.iter().filter(|(c, _)| *c == capacity).count();
        if held >= keep || (state.idle && !release_pages(&memory, capacity)) {
            return Err(memory);
        }
        state.free.push((capacity, memory));
        Ok(())
    }

    /// Goes idle: the pages of every pooled segment go back to the kernel (see the type's
    /// documentation); where they cannot, the segment is freed.
    fn release(&self) {
        if cfg!(loom) {
            return;
        }
        let mut state = self.state.lock();
        state.idle = true;
        let mut kept = Vec::with_capacity(state.free.len());
        for (capacity, memory) in state.free.drain(..) {
            if release_pages(&memory, capacity) {
                kept.push((capacity, memory));
            } else {
                // SAFETY: every pooled pointer came from `map_segment` with the capacity kept
                // beside it, and the pool owns it alone.
                unsafe { unmap_segment(memory.0, capacity) };
            }
        }
        state.free = kept;
    }

    /// Bytes of memory the pool holds, and whether it is idle.
    #[cfg(test)]
    fn pooled(&self) -> (usize, bool) {
        let state = self.state.lock();
        (state.free.iter().map(|(c, _)| c).sum(), state.idle)
    }
}

/// Frees the pages of a pooled segment of `capacity` bytes but keeps its memory reserved: the
/// next touch of each page maps a fresh zeroed one (Linux, not under Miri or loom). `false` where
/// this is not done: the caller then frees the memory instead.
#[cfg(all(target_os = "linux", not(miri), not(loom)))]
fn release_pages(memory: &PooledMemory, capacity: usize) -> bool {
    // SAFETY: the range is one whole pooled segment: exactly the mapping `map_segment(capacity)`
    // made (page-aligned, whole pages), owned by the pool alone and never read through while
    // pooled. MADV_DONTNEED on private anonymous memory only makes its contents zero on the
    // next touch; arena memory is uninitialised to its users (I2), so no reader depends on them.
    unsafe {
        libc::madvise(
            memory.0.as_ptr().cast(),
            mapped_len(capacity),
            libc::MADV_DONTNEED,
        ) == 0
    }
}

#[cfg(not(all(target_os = "linux", not(miri), not(loom))))]
fn release_pages(_memory: &PooledMemory, _capacity: usize) -> bool {
    false
}

/// A tree saw its writes stop (a flush left its active memtable empty, or it closed): the memory
/// the process's segment pool keeps for the next memtable stops counting against the process's
/// resident memory until writes resume (see [`SegmentPool`]).
pub(crate) fn release_pooled_segments() {
    SEGMENT_POOL.release();
}

// NB: the process's pool is a static and is never dropped (the memory goes back with the process);
// this frees the pools of the unit tests.
impl Drop for SegmentPool {
    fn drop(&mut self) {
        for (capacity, memory) in self.state.get_mut().free.drain(..) {
            // SAFETY: every pooled pointer came from `map_segment` with the capacity kept beside
            // it, and the pool owns it alone.
            unsafe { unmap_segment(memory.0, capacity) };
        }
    }
}

/// The process's pool of freed segments (see [`SegmentPool`]).
static SEGMENT_POOL: SegmentPool = SegmentPool::new();

fn segment_layout(capacity: usize) -> Layout {
    // NB: only fails for capacities near isize::MAX, far beyond the u32 size limits.
    let align = if capacity >= HUGE_PAGE {
        HUGE_PAGE
    } else {
        SEGMENT_ALIGN
    };
    Layout::from_size_align(capacity.max(1), align)
        .unwrap_or_else(|err| panic!("arena segment of {capacity} bytes: {err}"))
}

/// The largest segment the memtable's arenas grow to: 8 MiB, four huge pages, so that a large
/// memtable lives in few huge-page-aligned segments (see [`HUGE_PAGE`]), while an arena wastes at
/// most one segment's unused tail.
pub(crate) const MAX_SEGMENT_BYTES: usize = 8 << 20;

/// A lock-free bump arena; see the module documentation.
pub(crate) struct Arena {
    current: AtomicPtr<Segment>,
    large: AtomicPtr<Segment>,
    align: usize,
    min_segment_bytes: usize,
    max_segment_bytes: usize,
    /// Bytes handed out to callers (padding included, wasted segment tails excluded).
    used_bytes: AtomicUsize,
    /// Bytes of all segments allocated.
    reserved_bytes: AtomicUsize,
}

// SAFETY: the arena owns its segments; all shared mutation goes through atomics, and the raw
// memory it hands out is only written by the caller that allocated it before publication.
unsafe impl Send for Arena {}
// SAFETY: see `Send`; `alloc` is safe to call concurrently (atomic cursor and CAS publication).
unsafe impl Sync for Arena {}

impl Arena {
    /// An arena whose allocations are aligned to `align` (1 or 8).
    pub(crate) fn new(align: usize, min_segment_bytes: usize, max_segment_bytes: usize) -> Self {
        assert!(
            align.is_power_of_two() && align <= SEGMENT_ALIGN,
            "arena alignment {align} must be a power of two no larger than {SEGMENT_ALIGN}"
        );
        assert!(min_segment_bytes.is_multiple_of(align) && min_segment_bytes <= max_segment_bytes);
        Self {
            current: AtomicPtr::new(ptr::null_mut()),
            large: AtomicPtr::new(ptr::null_mut()),
            align,
            min_segment_bytes,
            max_segment_bytes,
            used_bytes: AtomicUsize::new(0),
            reserved_bytes: AtomicUsize::new(0),
        }
    }

    /// Bytes handed out so far.
    #[cfg(test)]
    pub(crate) fn used_bytes(&self) -> usize {
        self.used_bytes.load(Ordering::Relaxed)
    }

    /// Bytes of memory the arena holds.
    pub(crate) fn reserved_bytes(&self) -> usize {
        self.reserved_bytes.load(Ordering::Relaxed)
    }

    /// Allocates `size` bytes aligned to the arena's alignment. The memory is uninitialised and
    /// lives until the arena drops.
    pub(crate) fn alloc(&self, size: usize) -> NonNull<u8> {
        let size = size.max(1).next_multiple_of(self.align);
        self.used_bytes.fetch_add(size, Ordering::Relaxed);
        if size > self.max_segment_bytes / 4 {
            return self.alloc_large(size);
        }
        loop {
            let segment = self.current.load(Ordering::Acquire);
            // SAFETY: a non-null `current` points to a segment that lives until `drop`.
            if let Some(segment) = unsafe { segment.as_ref() } {
                segment.witness.read();
                let offset = segment.cursor.fetch_add(size, Ordering::Relaxed);
                if offset
                    .checked_add(size)
                    .is_some_and(|end| end <= segment.capacity)
                {
                    // SAFETY: `offset + size <= capacity`, so the result stays inside the
                    // segment's allocation; the cursor hands each byte range out exactly once.
                    return unsafe { segment.base.add(offset) };
                }
            }
            self.install_segment(segment, size);
        }
    }

    /// Replaces `seen` (the segment that had no room) with a fresh segment, unless another thread
    /// already did.
    fn install_segment(&self, seen: *mut Segment, size: usize) {
        if self.current.load(Ordering::Acquire) != seen {
            return;
        }
        // SAFETY: a non-null segment pointer stays valid until `drop`.
        let seen_capacity = unsafe { seen.as_ref() }.map_or(0, |s| {
            s.witness.read();
            s.capacity
        });
        let capacity = (seen_capacity * 2)
            .clamp(self.min_segment_bytes, self.max_segment_bytes)
            .max(size);
        let fresh = Segment::allocate(capacity, 0, seen);
        match self
            .current
            .compare_exchange(seen, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                self.reserved_bytes.fetch_add(capacity, Ordering::Relaxed);
            }
            Err(_) => {
                // SAFETY: `fresh` was never published, so this thread owns it alone.
                unsafe { Segment::free(fresh) };
            }
        }
    }

    fn alloc_large(&self, size: usize) -> NonNull<u8> {
        let fresh = Segment::allocate(size, size, ptr::null_mut());
        self.reserved_bytes.fetch_add(size, Ordering::Relaxed);
        // SAFETY: `fresh` is not yet shared; this thread owns it.
        let base = unsafe { (*fresh).base };
        let mut head = self.large.load(Ordering::Relaxed);
        loop {
            // SAFETY: `fresh` is still unpublished; writing its `prev` races with nothing.
            unsafe { (*fresh).prev = head };
            match self.large.compare_exchange_weak(
                head,
                fresh,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return base,
                Err(actual) => head = actual,
            }
        }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        for head in [&mut self.current, &mut self.large] {
            let mut segment = get_mut_ptr(head);
            while !segment.is_null() {
                // SAFETY: `&mut self` proves no other reference exists; each segment is in
                // exactly one chain and is freed once.
                segment = unsafe { Segment::free(segment) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    /// Segments of 2 MiB or more start on a huge-page boundary, so that the kernel can back them
    /// with huge pages; smaller ones keep the plain alignment.
    #[test]
    #[cfg_attr(miri, ignore = "fills 24 MiB byte by byte")]
    fn large_segments_start_on_a_huge_page() {
        let arena = Arena::new(8, 4096, MAX_SEGMENT_BYTES);
        let mut reserved = 0;
        let mut huge_segments = 0;
        while arena.reserved_bytes() < 3 * MAX_SEGMENT_BYTES {
            let ptr = arena.alloc(4096);
            let now = arena.reserved_bytes();
            if now != reserved {
                // The first allocation of a fresh segment is at its base.
                let capacity = now - reserved;
                assert_eq!(ptr.as_ptr() as usize % 8, 0);
                if capacity >= HUGE_PAGE {
                    assert_eq!(
                        ptr.as_ptr() as usize % HUGE_PAGE,
                        0,
                        "{capacity}-byte segment"
                    );
                    huge_segments += 1;
                }
                reserved = now;
            }
            fill(ptr, 4096, 0xA5);
        }
        assert!(huge_segments >= 3, "{huge_segments} huge segments");
    }

    /// Segment memory of any size, page multiple or not, is aligned as its size asks, usable to
    /// its last byte, and handed back whole (on Linux, from 256 KiB up, it is mapped and unmapped;
    /// a wrong length would fail `munmap`'s debug check).
    #[test]
    fn segment_memory_of_any_size_is_aligned_and_usable_to_its_end() {
        let sizes = [
            1,
            100,
            4096,
            4097,
            65_536,
            MIN_MAPPED_BYTES - 8,
            MIN_MAPPED_BYTES,
            MIN_MAPPED_BYTES + 8,
            HUGE_PAGE,
            HUGE_PAGE + 12_345,
        ];
        let sizes = if cfg!(miri) { &sizes[..5] } else { &sizes[..] };
        for &capacity in sizes {
            let base = map_segment(capacity);
            let align = if capacity >= HUGE_PAGE {
                HUGE_PAGE
            } else {
                SEGMENT_ALIGN
            };
            assert_eq!(base.as_ptr().addr() % align, 0, "{capacity} bytes");
            fill(base, capacity, 0x3C);
            let bytes = read(base, capacity);
            assert!(bytes.iter().all(|&b| b == 0x3C), "{capacity} bytes");
            // SAFETY: mapped just above with this capacity; nothing refers to it any more.
            unsafe { unmap_segment(base, capacity) };
        }
    }

    /// The pool keeps freed full-size segments up to its cap and those of each smaller mapped size an
    /// arena grows through up to theirs, hands each back once (for its own size only), and
    /// refuses every other size (its caller then frees the memory itself).
    #[test]
    fn segment_pool_keeps_full_size_segments_up_to_its_cap() {
        let pool = SegmentPool::new();
        assert!(pool.take(MAX_SEGMENT_BYTES).is_none());
        let fresh = || PooledMemory(map_segment(MAX_SEGMENT_BYTES));
        let mut kept = HashSet::new();
        for _ in 0..POOLED_SEGMENTS {
            let memory = fresh();
            kept.insert(memory.0.as_ptr() as usize);
            assert!(pool.give(MAX_SEGMENT_BYTES, memory).is_ok());
        }
        assert_eq!(pool.pooled().0, POOLED_SEGMENTS * MAX_SEGMENT_BYTES);
        let refused = pool
            .give(MAX_SEGMENT_BYTES, fresh())
            .expect_err("a full pool refuses");
        // SAFETY: refused memory is the caller's again, mapped with this capacity.
        unsafe { unmap_segment(refused.0, MAX_SEGMENT_BYTES) };

        // Sizes an arena does not grow through are never pooled.
        for odd in [
            MIN_POOLED_BYTES / 2,
            HUGE_PAGE + 4096,
            2 * MAX_SEGMENT_BYTES,
        ] {
            let refused = pool
                .give(odd, PooledMemory(map_segment(odd)))
                .expect_err("not a size an arena grows through");
            // SAFETY: as above, with its own capacity.
            unsafe { unmap_segment(refused.0, odd) };
            assert!(pool.take(odd).is_none());
        }
        // Smaller sizes an arena grows through: up to their own cap, each size apart.
        for small in [MIN_POOLED_BYTES, HUGE_PAGE] {
            let mut given = HashSet::new();
            for _ in 0..POOLED_SMALL_SEGMENTS {
                let memory = PooledMemory(map_segment(small));
                given.insert(memory.0.as_ptr() as usize);
                assert!(pool.give(small, memory).is_ok());
            }
            let refused = pool
                .give(small, PooledMemory(map_segment(small)))
                .expect_err("full for this size");
            // SAFETY: as above, with its own capacity.
            unsafe { unmap_segment(refused.0, small) };
            let mut back = HashSet::new();
            while let Some(memory) = pool.take(small) {
                back.insert(memory.0.as_ptr() as usize);
                // SAFETY: taken memory is ours, mapped with this capacity.
                unsafe { unmap_segment(memory.0, small) };
            }
            assert_eq!(back, given, "{small}-byte segments come back as given");
        }
        assert_eq!(pool.pooled().0, POOLED_SEGMENTS * MAX_SEGMENT_BYTES);

        let back = pool.take(MAX_SEGMENT_BYTES).expect("pooled memory");
        assert!(
            pool.give(MAX_SEGMENT_BYTES, back).is_ok(),
            "room again after a take"
        );
        let mut taken = HashSet::new();
        while let Some(memory) = pool.take(MAX_SEGMENT_BYTES) {
            assert!(taken.insert(memory.0.as_ptr() as usize), "handed out twice");
            // SAFETY: taken memory is ours, mapped with this capacity.
            unsafe { unmap_segment(memory.0, MAX_SEGMENT_BYTES) };
        }
        assert_eq!(taken, kept, "every segment given came back, each once");
        assert_eq!(pool.pooled().0, 0);
    }

    /// An idle pool keeps its segments without their pages: what they held reads back as zero
    /// (Linux; elsewhere, and under Miri, it frees them), and so does every segment given while
    /// idle. Asking for a full-size segment ends the idle state: given segments keep their
    /// pages again.
    #[test]
    fn an_idle_pool_gives_its_pages_back_until_a_memtable_grows() {
        let pool = SegmentPool::new();
        let filled = |byte: u8| {
            let memory = map_segment(MAX_SEGMENT_BYTES);
            fill(memory, MAX_SEGMENT_BYTES, byte);
            PooledMemory(memory)
        };
        // Pages are 4 KiB or more: one byte per 4 KiB reads every page.
        let pages_read = |memory: &PooledMemory| -> Vec<u8> {
            let bytes = read(memory.0, MAX_SEGMENT_BYTES);
            bytes.iter().step_by(4096).copied().collect()
        };
        let released = cfg!(all(target_os = "linux", not(miri)));
        let sample = if cfg!(miri) { 2 } else { POOLED_SEGMENTS / 2 };

        for i in 0..sample {
            assert!(pool.give(MAX_SEGMENT_BYTES, filled(0xA0 + i as u8)).is_ok());
        }
        assert_eq!(pool.pooled(), (sample * MAX_SEGMENT_BYTES, false));
        pool.release();
        let expected = if released { sample } else { 0 };
        assert_eq!(pool.pooled(), (expected * MAX_SEGMENT_BYTES, true));

        // Given while idle: released too.
        let given = pool.give(MAX_SEGMENT_BYTES, filled(0x5A));
        if released {
            assert!(given.is_ok());
        } else {
            let refused = given.expect_err("freed, not pooled, where pages cannot be released");
            // SAFETY: refused memory is the caller's again, mapped with this capacity.
            unsafe { unmap_segment(refused.0, MAX_SEGMENT_BYTES) };
        }
        for _ in 0..=expected {
            let Some(memory) = pool.take(MAX_SEGMENT_BYTES) else {
                break;
            };
            assert!(
                pages_read(&memory).iter().all(|&b| b == 0),
                "an idle pool's memory holds no old page"
            );
            // SAFETY: taken memory is ours, mapped with this capacity.
            unsafe { unmap_segment(memory.0, MAX_SEGMENT_BYTES) };
        }
        assert!(!pool.pooled().1, "a take ends the idle state");

        // Active again: a given segment keeps its pages.
        assert!(pool.give(MAX_SEGMENT_BYTES, filled(0x77)).is_ok());
        let memory = pool.take(MAX_SEGMENT_BYTES).expect("pooled memory");
        assert!(pages_read(&memory).iter().all(|&b| b == 0x77));
        // SAFETY: as above.
        unsafe { unmap_segment(memory.0, MAX_SEGMENT_BYTES) };
    }

    /// Arenas that reuse the memory of dropped ones (the process pool) hand out whole, disjoint
    /// ranges: what one allocation wrote is what it reads back, whatever the memory held before.
    #[test]
    fn arenas_reusing_freed_segments_keep_allocations_apart() {
        // Under Miri, which interprets every byte read, each block's ends are read back.
        let checked = if cfg!(miri) { 16 } else { 65_536 };
        for round in 0..3u8 {
            let arena = Arena::new(8, 4096, MAX_SEGMENT_BYTES);
            let mut blocks = Vec::new();
            let mut i = 0u8;
            while arena.reserved_bytes() < 2 * MAX_SEGMENT_BYTES {
                let ptr = arena.alloc(65_536);
                let byte = round.wrapping_mul(31).wrapping_add(i);
                fill(ptr, 65_536, byte);
                blocks.push((ptr, byte));
                i = i.wrapping_add(1);
            }
            for (ptr, byte) in blocks {
                assert!(read(ptr, checked).iter().all(|&b| b == byte));
                // SAFETY: the block has 65,536 bytes; its last `checked` start inside it.
                let tail = unsafe { NonNull::new_unchecked(ptr.as_ptr().add(65_536 - checked)) };
                assert!(read(tail, checked).iter().all(|&b| b == byte));
            }
        }
    }

    /// Writes `len` bytes of `fill` at `ptr`.
    fn fill(ptr: NonNull<u8>, len: usize, byte: u8) {
        // SAFETY: the test just allocated `len` bytes at `ptr`.
        unsafe { ptr::write_bytes(ptr.as_ptr(), byte, len) };
    }

    fn read(ptr: NonNull<u8>, len: usize) -> Vec<u8> {
        // SAFETY: the test allocated and initialised `len` bytes at `ptr`.
        unsafe { std::slice::from_raw_parts(ptr.as_ptr(), len) }.to_vec()
    }

    #[test]
    fn allocation_that_exactly_fills_a_segment_stays_inside_it() {
        // For every split of a 64-byte segment into a first allocation and an exact remainder,
        // the remainder must end at the segment's end and never overlap the next allocation.
        for first in 1..64usize {
            // Segments of 64 then 128 bytes; nothing here is large (> 256 / 4).
            let arena = Arena::new(1, 64, 256);
            let a = arena.alloc(first);
            let b = arena.alloc(64 - first);
            let c = arena.alloc(1);
            fill(a, first, 1);
            fill(b, 64 - first, 2);
            fill(c, 1, 3);
            assert_eq!(b.as_ptr() as usize, a.as_ptr() as usize + first);
            assert_eq!(read(a, first), vec![1; first]);
            assert_eq!(read(b, 64 - first), vec![2; 64 - first]);
            assert_eq!(read(c, 1), vec![3]);
            assert_eq!(
                arena.reserved_bytes(),
                64 + 128,
                "the third allocation needs a new segment"
            );
        }
    }

    #[test]
    fn allocation_one_byte_past_the_end_moves_to_a_new_segment() {
        for first in 1..16usize {
            let arena = Arena::new(1, 16, 64);
            let a = arena.alloc(first);
            let b = arena.alloc(16 - first + 1);
            fill(a, first, 7);
            fill(b, 16 - first + 1, 9);
            assert_eq!(read(a, first), vec![7; first]);
            let a_range = a.as_ptr() as usize..a.as_ptr() as usize + first;
            assert!(!a_range.contains(&(b.as_ptr() as usize)));
        }
    }

    #[test]
    fn aligned_arena_returns_aligned_pointers() {
        let arena = Arena::new(8, 64, 256);
        for size in 1..100 {
            let p = arena.alloc(size);
            assert_eq!(p.as_ptr() as usize % 8, 0, "size {size}");
        }
    }

    #[test]
    fn segments_grow_and_large_allocations_get_their_own() {
        let arena = Arena::new(1, 32, 128);
        let _ = arena.alloc(20);
        assert_eq!(arena.reserved_bytes(), 32);
        let _ = arena.alloc(20);
        assert_eq!(arena.reserved_bytes(), 32 + 64);
        let big = arena.alloc(100);
        fill(big, 100, 5);
        assert_eq!(read(big, 100), vec![5; 100]);
        assert_eq!(arena.reserved_bytes(), 32 + 64 + 100);
        assert_eq!(arena.used_bytes(), 140);
    }

    #[test]
    fn concurrent_allocations_never_overlap() {
        let threads = if cfg!(miri) { 3 } else { 8 };
        let per_thread = if cfg!(miri) { 50 } else { 5000 };
        let arena = Arc::new(Arena::new(1, 64, 1024));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let arena = Arc::clone(&arena);
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..per_thread {
                        let len = 1 + (i * 7 + t) % 40;
                        let p = arena.alloc(len);
                        fill(p, len, t as u8);
                        mine.push((p, len));
                    }
                    // Every allocation still holds this thread's byte: nobody overwrote it.
                    for &(p, len) in &mine {
                        assert!(read(p, len).iter().all(|&b| b == t as u8));
                    }
                    mine.iter()
                        .map(|(p, len)| (p.as_ptr() as usize, *len))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seen = HashSet::new();
        for h in handles {
            for (addr, len) in h.join().unwrap() {
                for byte in addr..addr + len {
                    assert!(seen.insert(byte), "byte {byte:#x} handed out twice");
                }
            }
        }
    }

    #[test]
    fn concurrent_large_allocations_are_all_kept() {
        let threads = if cfg!(miri) { 2 } else { 4 };
        let per_thread = if cfg!(miri) { 3 } else { 200 };
        let arena = Arc::new(Arena::new(1, 64, 256));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let arena = Arc::clone(&arena);
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..per_thread {
                        let len = 65 + i % 50 + t;
                        let p = arena.alloc(len);
                        fill(p, len, t as u8);
                        mine.push((p, len));
                    }
                    mine.iter()
                        .all(|&(p, len)| read(p, len).iter().all(|&b| b == t as u8))
                })
            })
            .collect();
        assert!(handles.into_iter().all(|h| h.join().unwrap()));
        let expected: usize = (0..threads)
            .flat_map(|t| (0..per_thread).map(move |i| 65 + i % 50 + t))
            .sum();
        assert_eq!(
            arena.reserved_bytes(),
            expected,
            "every large allocation has its own segment"
        );
    }
}
