//! CPU hints: [`prefetch`], which asks the CPU to start loading a cache line that a loop will
//! read soon, so that several cache misses overlap instead of each waiting for the last.
//!
//! The one `unsafe` block here is entry S14 of `UNSAFE.md`; its users are the memtable's forward
//! scans (`NodeRef::prefetch_ahead`) and searches (`prefetch_below`), and the block searches
//! (`DataBlock::walk_lexicographic`).

// NB: the one `unsafe` block exists only on x86_64 outside Miri; elsewhere the module has none,
// and an unconditional `expect` would be unfulfilled.
#![cfg_attr(
    all(target_arch = "x86_64", not(miri)),
    expect(
        unsafe_code,
        reason = "the prefetch intrinsic is an unsafe fn; see UNSAFE.md, S14"
    )
)]

/// Hints the CPU to load the cache line at `ptr`. Never faults, never changes memory, whatever
/// the address (dangling and null included).
#[inline]
pub(crate) fn prefetch(ptr: *const u8) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: `_mm_prefetch` needs only SSE, which every x86_64 CPU has; a prefetch is a hint that
    // never faults and never reads or writes memory observably, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr.cast::<i8>());
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = ptr;
}

/// Hints the CPU to load every cache line of `bytes` (a few lines: the caller reads all or most
/// of them next, in order).
#[inline]
pub(crate) fn prefetch_bytes(bytes: &[u8]) {
    for line in bytes.chunks(64) {
        prefetch(line.as_ptr());
    }
}
