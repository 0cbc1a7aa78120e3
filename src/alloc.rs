//! The process's memory allocator: jemalloc, declared by each binary with
//! `#[global_allocator] static GLOBAL: job_importer::alloc::Allocator = job_importer::alloc::ALLOCATOR;`
//!
//! Parsing spreads over threads (`ingest::parallel`): raw items are allocated on the reading
//! thread and freed on the workers, normalized postings the other way round, and the daemon's
//! tokio threads hand batches to each other the same way. glibc malloc takes an arena lock for
//! every such cross-thread free: measured on the ingestion benchmark, two cores were no faster
//! than one, with a third more CPU time spent waiting on those locks. jemalloc's thread caches
//! return them in bulk, and its arenas give freed pages back on their own.

/// The allocator every binary of this crate declares.
#[cfg(not(target_env = "msvc"))]
pub type Allocator = tikv_jemallocator::Jemalloc;
#[cfg(not(target_env = "msvc"))]
pub const ALLOCATOR: Allocator = tikv_jemallocator::Jemalloc;
#[cfg(target_env = "msvc")]
pub type Allocator = std::alloc::System;
#[cfg(target_env = "msvc")]
pub const ALLOCATOR: Allocator = std::alloc::System;

/// Gives the free pages of every arena back to the system at once, instead of after the
/// arenas' decay time: after bursts (e.g. thousands of connections each reading their first
/// request), not per request.
pub fn release_free_memory() {
    #[cfg(not(target_env = "msvc"))]
    // SAFETY: `arena.<MALLCTL_ARENAS_ALL>.purge` takes no input and gives no output: every
    // pointer is null and the name is NUL-terminated.
    unsafe {
        let _ = tikv_jemalloc_sys::mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}
