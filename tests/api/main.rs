//! One integration binary (one link step) with a module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod auth;
mod bad_input;
mod chaos;
mod cli;
mod cli_admin;
mod contract;
mod exactness;
mod expiry;
mod export;
mod helpers;
mod history_search;
mod http_api;
mod jobs_api;
mod live;
mod openapi;
mod pipeline;
mod processes;
mod recovery;
mod replay;
mod retention;
mod safety;
mod scheduling;
mod tokens;
mod ws_upgrade;
