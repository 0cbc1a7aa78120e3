//! Process-wide allocator settings (glibc only; elsewhere these do nothing).

/// One glibc malloc arena for the whole process, set before any thread starts. With the
/// default (8 per core), the memory freed by an import stays in the arenas of the threads that
/// did it, while WebSocket sessions allocate in others': 10,000 idle sessions then cost the
/// daemon about a fifth more RSS. Threads keep their own small caches (tcache), so the shared
/// arena's lock is rarely taken. Call first thing in `main`.
pub fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called on the main thread before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Gives the free pages inside the heap back to the system. glibc keeps what a burst freed
/// (e.g. thousands of connections each reading their first page) and returns only the top of
/// the heap by itself; this walks the free chunks and releases every whole page in them.
/// Costs a few milliseconds on a heap of a few hundred MB; call after bursts, not per request.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused pages to the kernel; any thread may call it.
    unsafe {
        libc::malloc_trim(0);
    }
}
