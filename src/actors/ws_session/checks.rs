//! Checks of what a WebSocket client sends, before anything reaches the broker or MongoDB.

use crate::domain::events::{EventError, SyncRequest};
use crate::store::mongo::live::{SYNC_MAX_RUNS, since_with_margin};

/// Run and source ids are short printable tokens; anything else is refused before use.
pub fn id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub fn invalid(message: impl Into<String>) -> EventError {
    EventError {
        code: crate::domain::codes::WS_INVALID_DATA.into(),
        message: message.into(),
    }
}

/// Checks a `sync` request; returns the effective `since` (moved back by the clock margin).
pub fn check_sync(req: &SyncRequest) -> Result<Option<String>, EventError> {
    if req.runs.len() > SYNC_MAX_RUNS {
        return Err(invalid(format!("at most {SYNC_MAX_RUNS} runs per sync")));
    }
    if req.runs.keys().any(|k| !id_ok(k)) {
        return Err(invalid("`runs` maps run ids to versions"));
    }
    if req.since.is_none() && req.runs.is_empty() {
        return Err(invalid("give `since`, `runs`, or both"));
    }
    req.since
        .as_deref()
        .map(|s| since_with_margin(s).ok_or_else(|| invalid("`since` must be an RFC 3339 time")))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_requests_are_bounded_and_typed() {
        let mut req = SyncRequest {
            since: None,
            runs: Default::default(),
        };
        assert!(check_sync(&req).is_err(), "nothing asked");
        req.since = Some("2026-11-30T05:00:10Z".into());
        assert_eq!(
            check_sync(&req).ok().flatten().as_deref(),
            Some("2026-11-30T05:00:05.000Z"),
            "moved back by the clock margin"
        );
        req.runs.insert("../etc".into(), 1);
        assert!(check_sync(&req).is_err());
    }
}
