//! What the WebSocket speaks. The envelope is `{"event": ..., "data": ...}`.

use serde::{Deserialize, Serialize};

use super::import_run::ImportRun;

/// A page of import logs, newest first: the same shape on REST and in `initial_data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    pub items: Vec<ImportRun>,
    pub total: u64,
    pub page: u64,
    pub limit: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitialData {
    pub logs: HistoryPage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventError {
    pub code: String,
    pub message: String,
}

/// Server to client events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum ServerEvent {
    InitialData(InitialData),
    ImportHistoryUpdate(Box<ImportRun>),
    Error(EventError),
}
