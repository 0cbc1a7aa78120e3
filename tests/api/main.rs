//! One integration binary (one link step) with a module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod bad_input;
mod cli;
mod contract;
mod helpers;
mod pipeline;
