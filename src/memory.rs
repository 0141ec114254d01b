//! The allocator's settings for a long-running server (issue 17).

/// Blocks of 256 KiB and more are always mapped on their own, and unmapped when freed.
///
/// glibc starts with that rule at 128 KiB, but each time such a block is freed it raises the
/// threshold to the block's size (up to 32 MiB). Later large blocks then come from the
/// allocating thread's arena and stay resident after they are freed: SQLite's sorter, run by
/// the queue snapshot on whichever pooled connection is next, left 2–3 MiB in each of the
/// pool's threads. A fixed threshold keeps such blocks out of the arenas (docs/performance.md).
///
/// Fixing it also fixes the trim threshold, which glibc would otherwise have raised with it:
/// at its 128 KiB default an arena's free top was returned and faulted back about 3,000 times
/// a second under ingest. At 1 MiB it is not.
pub fn map_large_blocks_apart() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets parameters of glibc's allocator; any value is valid, and it is
    // called once, first thing in `main`.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1024 * 1024);
    }
}
