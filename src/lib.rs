//! Job Importer: imports job listings from RSS, Atom and JSON feeds into MongoDB through a
//! Redis queue, and shows every import live.

pub mod actors;
pub mod alerts;
pub mod alloc;
pub mod app;
pub mod changes_out;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod ingest;
pub mod store;
pub mod telemetry;
