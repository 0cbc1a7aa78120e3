//! The audit log: who changed what, and when. "Who" names the credential's role (the admin
//! token, the previous admin token during a rotation, or the command line on the host), never
//! the credential itself.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::time;

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The current `auth.admin_token`.
    Admin,
    /// `auth.previous_admin_token`, while the rotation's overlap lasts.
    PreviousAdmin,
    /// The command line (`job-importer sources ...`), run on a host with the store's access.
    Cli,
}

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    SourceCreated,
    SourceUpdated,
    SourceRemoved,
    ImportStarted,
    ImportAllStarted,
    RunReplayed,
    MaintenancePaused,
    MaintenanceResumed,
    AlertTestSent,
}

impl AuditAction {
    pub const ALL: [AuditAction; 9] = [
        Self::SourceCreated,
        Self::SourceUpdated,
        Self::SourceRemoved,
        Self::ImportStarted,
        Self::ImportAllStarted,
        Self::RunReplayed,
        Self::MaintenancePaused,
        Self::MaintenanceResumed,
        Self::AlertTestSent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SourceCreated => "source_created",
            Self::SourceUpdated => "source_updated",
            Self::SourceRemoved => "source_removed",
            Self::ImportStarted => "import_started",
            Self::ImportAllStarted => "import_all_started",
            Self::RunReplayed => "run_replayed",
            Self::MaintenancePaused => "maintenance_paused",
            Self::MaintenanceResumed => "maintenance_resumed",
            Self::AlertTestSent => "alert_test_sent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// One field a change set: its value before and after (`null` when absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

/// One entry of the `audit_log` collection, as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(with = "time::rfc3339")]
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub action: AuditAction,
    /// The source concerned (absent for actions on every source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// The run concerned (a run started or replayed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    /// Anything else worth knowing (`jobs=keep` on a removal, the runs "import all" started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl AuditEntry {
    pub fn new(id: String, at: DateTime<Utc>, actor: Actor, action: AuditAction) -> Self {
        Self {
            id,
            at,
            actor,
            action,
            source_id: None,
            run_id: None,
            changes: Vec::new(),
            detail: None,
        }
    }
}

/// The top-level fields that differ between two JSON objects, in key order, leaving out
/// `ignored` (bookkeeping that is not a change by anyone: health, validators).
pub fn diff(
    before: &serde_json::Value,
    after: &serde_json::Value,
    ignored: &[&str],
) -> Vec<FieldChange> {
    let empty = serde_json::Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| !ignored.contains(&k.as_str()))
        .filter_map(|k| {
            let (x, y) = (
                b.get(k).cloned().unwrap_or_default(),
                a.get(k).cloned().unwrap_or_default(),
            );
            (x != y).then(|| FieldChange {
                field: k.clone(),
                before: x,
                after: y,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_diff_lists_changed_fields_only_and_skips_bookkeeping() {
        let d = diff(
            &json!({"name": "A", "cron": "x", "health": {"n": 1}, "gone": 1}),
            &json!({"name": "B", "cron": "x", "health": {"n": 2}, "new": true}),
            &["health"],
        );
        let fields: Vec<&str> = d.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["gone", "name", "new"]);
        assert_eq!((&d[1].before, &d[1].after), (&json!("A"), &json!("B")));
        assert_eq!(d[0].after, serde_json::Value::Null);
    }

    #[test]
    fn actions_round_trip_through_their_names() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(AuditAction::parse("nope"), None);
    }
}
