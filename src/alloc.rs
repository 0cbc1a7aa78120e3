//! The process's memory allocator: jemalloc, declared by each binary with
//! `#[global_allocator] static GLOBAL: job_importer::alloc::Allocator = job_importer::alloc::ALLOCATOR;`
//!
//! Parsing spreads over threads (`ingest::parallel`): raw items are allocated on the reading
//! thread and freed on the workers, normalized postings the other way round, and the daemon's
//! tokio threads hand batches to each other the same way. glibc malloc takes an arena lock for
//! every such cross-thread free: measured on the ingestion benchmark, two cores were no faster
//! than one, with a third more CPU time spent waiting on those locks. jemalloc's thread caches
//! return them in bulk, and its arenas give freed pages back on their own (after their decay
//! time). An explicit purge of every arena after connection bursts was measured and dropped:
//! it held the arenas' locks long enough to delay live updates by tens of milliseconds.

/// The allocator every binary of this crate declares.
#[cfg(not(target_env = "msvc"))]
pub type Allocator = tikv_jemallocator::Jemalloc;
#[cfg(not(target_env = "msvc"))]
pub const ALLOCATOR: Allocator = tikv_jemallocator::Jemalloc;
#[cfg(target_env = "msvc")]
pub type Allocator = std::alloc::System;
#[cfg(target_env = "msvc")]
pub const ALLOCATOR: Allocator = std::alloc::System;
