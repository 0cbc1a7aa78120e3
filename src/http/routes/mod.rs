pub mod demo;
pub mod health;
pub mod import_logs;
pub mod sources;
pub mod ws;
