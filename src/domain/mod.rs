//! Pure types and rules: job postings, import runs, sources, events and failure codes.
//! Nothing in here performs I/O; `tests/api/layering.rs` keeps it so.

pub mod alert;
pub mod audit;
pub mod codes;
pub mod events;
pub mod expiry;
pub mod import_run;
pub mod job_change;
pub mod job_posting;
pub mod maintenance;
pub mod mapping;
pub mod source;
pub mod time;

pub use codes::Failure;
pub use expiry::{ClosedReason, Expiry, FeedWindow};
pub use import_run::{
    Backfill, BackfillPage, BackfillStop, BatchResult, CodeCount, ImportRun, RunStatus, Trigger,
};
pub use job_posting::{EmploymentType, JobPosting, Salary};
pub use source::Source;
