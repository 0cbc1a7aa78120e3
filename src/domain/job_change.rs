//! What the changes feed (`GET /api/jobs/changes`) says about a job: it was stored new,
//! its content was updated, it closed, or it reopened. Each change has an identity (the job,
//! the kind, and what made it), so recording it again after a crash or a redelivery is a
//! no-op, and a position (`seq`) in one dense sequence shared by every daemon.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    New,
    Updated,
    Closed,
    Reopened,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 4] = [Self::New, Self::Updated, Self::Closed, Self::Reopened];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Updated => "updated",
            Self::Closed => "closed",
            Self::Reopened => "reopened",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One change as recorded and as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobChange {
    /// Position in the feed: 1, 2, 3, ... with no gaps (old ones are pruned by retention).
    pub seq: i64,
    pub job_id: String,
    pub kind: ChangeKind,
    /// When the change was recorded (RFC 3339, UTC).
    pub at: String,
    /// The source whose run made the change; none for the periodic expiry sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// For closings: `missing_from_feed` or `expired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A change to record; `by` is what made it (a run id, or the time of a sweep's closing), so
/// the same change recorded twice has the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    pub job_id: String,
    pub kind: ChangeKind,
    pub by: String,
    pub source_id: Option<String>,
    pub run_id: Option<String>,
    pub reason: Option<String>,
}

impl NewChange {
    pub fn by_run(job_id: &str, kind: ChangeKind, source_id: &str, run_id: &str) -> Self {
        Self {
            job_id: job_id.to_owned(),
            kind,
            by: run_id.to_owned(),
            source_id: Some(source_id.to_owned()),
            run_id: Some(run_id.to_owned()),
            reason: None,
        }
    }

    /// The identity of the change: recording it twice stores it once.
    pub fn key(&self) -> String {
        format!("{}:{}:{}", self.job_id, self.kind.as_str(), self.by)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_change_has_the_same_key_and_kinds_round_trip() {
        let a = NewChange::by_run("j1", ChangeKind::New, "s", "r1");
        assert_eq!(
            a.key(),
            NewChange::by_run("j1", ChangeKind::New, "t", "r1").key()
        );
        assert_ne!(
            a.key(),
            NewChange::by_run("j1", ChangeKind::Updated, "s", "r1").key()
        );
        assert_ne!(
            a.key(),
            NewChange::by_run("j1", ChangeKind::New, "s", "r2").key()
        );
        for k in ChangeKind::ALL {
            assert_eq!(ChangeKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ChangeKind::parse("deleted"), None);
    }
}
