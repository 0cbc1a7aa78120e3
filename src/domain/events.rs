//! What the WebSocket speaks, both ways. The envelope is `{"event": ..., "data": ...}`.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::codes::{self, Failure};
use super::import_run::ImportRun;
use super::maintenance::Maintenance;
use super::source::SourceHealth;

/// A page of import logs, newest first: the same shape on REST and in `initial_data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    pub items: Vec<ImportRun>,
    pub total: u64,
    pub page: u64,
    pub limit: u64,
}

/// One source as the dashboard's status strip shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    pub enabled: bool,
    /// A run of this source is queued or running.
    pub running: bool,
    pub health: SourceHealth,
}

/// Sums over every run ever recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub runs: i64,
    pub active_runs: i64,
    pub total_fetched: i64,
    pub new_jobs: i64,
    pub updated_jobs: i64,
    pub failed_jobs: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitialData {
    pub logs: HistoryPage,
    #[serde(default)]
    pub sources: Vec<SourceStatus>,
    #[serde(default)]
    pub totals: Totals,
    /// Read before the data above: a later `sync` with `since` set to this misses nothing.
    #[serde(default)]
    pub server_time: String,
    /// Whether the deployment is paused for maintenance; `maintenance` events follow changes.
    #[serde(default)]
    pub maintenance: Maintenance,
}

/// The answer to `sync`: every run changed since the given time, or newer than the versions
/// the client holds, read from MongoDB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncResult {
    pub runs: Vec<ImportRun>,
    /// Pass as the next `since`.
    pub server_time: String,
    /// More changes remain; ask again with `since` = the last run's `updatedAt`.
    pub has_more: bool,
}

/// Item-level progress of one run, for clients that subscribed to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunProgress {
    /// The run with its per-batch results (`batches`), without the failure list.
    pub run: ImportRun,
    /// The most recent stored item failures.
    pub recent_failures: Vec<Failure>,
    pub failures_stored: usize,
}

/// What this connection is subscribed to. Empty `sources`: updates of every source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscriptions {
    pub runs: Vec<String>,
    pub sources: Vec<String>,
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
    InitialData(Box<InitialData>),
    ImportHistoryUpdate(Box<ImportRun>),
    SyncResult(Box<SyncResult>),
    RunProgress(Box<RunProgress>),
    /// The deployment was paused or resumed (sent to every session).
    Maintenance(Box<Maintenance>),
    Subscribed(Subscriptions),
    Pong(Option<()>),
    Error(EventError),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncRequest {
    /// An RFC 3339 time, normally the `serverTime` of the last `initial_data` or `sync_result`.
    pub since: Option<String>,
    /// Run id → the version the client holds; runs with a newer stored version are returned.
    #[serde(default)]
    pub runs: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunRef {
    pub run_id: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceRef {
    pub source_id: String,
}

/// Client to server events.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    Ping,
    Sync(SyncRequest),
    SubscribeRun(RunRef),
    UnsubscribeRun(RunRef),
    SubscribeSource(SourceRef),
    UnsubscribeSource(SourceRef),
}

/// The events a client may send, for error messages.
pub const CLIENT_EVENTS: &str =
    "ping, sync, subscribe_run, unsubscribe_run, subscribe_source, unsubscribe_source";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    event: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

fn data<T: DeserializeOwned>(event: &str, d: Option<serde_json::Value>) -> Result<T, EventError> {
    serde_json::from_value(d.unwrap_or(serde_json::Value::Null)).map_err(|e| EventError {
        code: codes::WS_INVALID_DATA.into(),
        message: format!("`{event}` data: {e}"),
    })
}

impl ClientEvent {
    /// Parses one text frame; the error says which code to answer with.
    pub fn parse(text: &str) -> Result<Self, EventError> {
        let env: Envelope = serde_json::from_str(text).map_err(|e| EventError {
            code: codes::WS_MALFORMED.into(),
            message: format!("messages are JSON objects {{\"event\", \"data\"}}: {e}"),
        })?;
        let ev = env.event.as_str();
        Ok(match ev {
            "ping" => ClientEvent::Ping,
            "sync" => ClientEvent::Sync(data(ev, env.data)?),
            "subscribe_run" => ClientEvent::SubscribeRun(data(ev, env.data)?),
            "unsubscribe_run" => ClientEvent::UnsubscribeRun(data(ev, env.data)?),
            "subscribe_source" => ClientEvent::SubscribeSource(data(ev, env.data)?),
            "unsubscribe_source" => ClientEvent::UnsubscribeSource(data(ev, env.data)?),
            _ => {
                return Err(EventError {
                    code: codes::WS_UNKNOWN_EVENT.into(),
                    message: format!("unknown event `{ev}`; this server accepts {CLIENT_EVENTS}"),
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_events_parse_and_bad_ones_say_why() {
        assert_eq!(
            ClientEvent::parse(r#"{"event":"ping"}"#).ok(),
            Some(ClientEvent::Ping)
        );
        let sync = ClientEvent::parse(r#"{"event":"sync","data":{"runs":{"a":3}}}"#);
        assert!(matches!(sync, Ok(ClientEvent::Sync(s)) if s.runs.get("a") == Some(&3)));
        let code = |t: &str| ClientEvent::parse(t).err().map(|e| e.code);
        assert_eq!(code("nope").as_deref(), Some("ws.malformed"));
        assert_eq!(
            code(r#"{"event":"x"}"#).as_deref(),
            Some("ws.unknown_event")
        );
        assert_eq!(
            code(r#"{"event":"subscribe_run","data":{"runId":{"$gt":""}}}"#).as_deref(),
            Some("ws.invalid_data")
        );
        assert_eq!(
            code(r#"{"event":"subscribe_run"}"#).as_deref(),
            Some("ws.invalid_data")
        );
    }

    #[test]
    fn pong_keeps_the_envelope() {
        let s = serde_json::to_string(&ServerEvent::Pong(None)).unwrap_or_default();
        assert_eq!(s, r#"{"event":"pong","data":null}"#);
    }
}
