//! The actor system of the design card. Actors are thin shells: the work lives in plain
//! functions (`fetch_run`, `import_batch`, `Pipeline`) that tests call directly.

pub mod alerts;
pub mod changes_out;
pub mod expiry_sweep;
pub mod feed_fetcher;
pub mod history_broker;
pub mod import_worker;
pub mod leased;
pub mod link_check;
pub mod manual;
pub mod messages;
pub mod pause;
pub mod pipeline;
pub mod preview;
pub mod queue_actor;
pub mod retention;
pub mod retry;
pub mod scheduler;
pub mod subscription;
pub mod supervision;
pub mod sweeper;
pub mod ws_session;
