//! Sending one webhook's pending changes (see the module above for the protocol).

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{ChangesOutSettings, Start, WebhookSettings};
use crate::alerts::send::Sender;
use crate::alerts::signing::signature;
use crate::domain::job_change::JobChange;
use crate::domain::time::format as ts;
use crate::store::StoreError;
use crate::store::mongo::Store;
use crate::store::mongo::changes::CursorProblem;

/// The longest wait between two attempts of a failing batch.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// The body of one batch.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Batch<'a> {
    pub webhook: &'a str,
    /// `{webhook}:{after}-{nextCursor}`, also sent as `X-Job-Importer-Delivery`: the same
    /// batch sent again has the same id.
    pub delivery_id: String,
    /// The cursor the batch starts after (the `seq` of the last change acknowledged).
    pub after: String,
    /// The cursor it ends at: the receiver's next `after`.
    pub next_cursor: String,
    /// The changes between, oldest first (those of the webhook's sources).
    pub changes: Vec<&'a JobChange>,
    /// Changes the webhook never received are gone (retention deleted them, or the
    /// database was replaced): the receiver should read the jobs again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gap: Option<Gap>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Gap {
    /// The cursor the webhook had.
    pub after: String,
    /// Where the changes it is sent now start.
    pub resumed_after: String,
}

/// What one call did (for logs and tests).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    pub batches: u32,
    pub changes: u64,
    pub failed: bool,
}

/// The delay before attempt `failures + 1` of a batch.
pub fn backoff(base: Duration, failures: i64) -> Duration {
    let shift = failures.clamp(0, 20) as u32;
    base.saturating_mul(1 << shift).min(MAX_BACKOFF)
}

/// Sends `hook`'s pending batches for up to `budget` (the lease the caller holds must
/// outlast it by one request): stops when caught up, after a failure, or when another
/// daemon moved the cursor.
pub async fn push(
    store: &Store,
    settings: &ChangesOutSettings,
    hook: &WebhookSettings,
    sender: &Sender,
    budget: Duration,
) -> Result<Pushed, StoreError> {
    let started = Instant::now();
    let start = match hook.start {
        Start::Beginning => 0,
        Start::Now => store.changes_head().await?,
    };
    let mut state = store.webhook_state(&hook.id, start).await?;
    let now = ts(&chrono::Utc::now());
    if state
        .next_attempt_at
        .as_deref()
        .is_some_and(|t| t > now.as_str())
    {
        return Ok(Pushed::default());
    }
    let mut done = Pushed::default();
    let limit = i64::from(settings.batch_size);
    while started.elapsed() < budget {
        let from = state.cursor;
        let (page, gap) = match store.list_changes(from, limit, None).await? {
            Ok(page) => (page, None),
            Err(problem) => {
                let resume = match problem {
                    CursorProblem::Expired { oldest } => oldest - 1,
                    CursorProblem::Ahead { .. } => 0,
                };
                let gap = Gap {
                    after: from.to_string(),
                    resumed_after: resume.to_string(),
                };
                match store.list_changes(resume, limit, None).await? {
                    Ok(page) => (page, Some(gap)),
                    Err(_) => return Ok(done),
                }
            }
        };
        if page.changes.is_empty() && gap.is_none() {
            return Ok(done);
        }
        let to: i64 = page.next_cursor.parse().unwrap_or(from);
        let changes: Vec<&JobChange> = page
            .changes
            .iter()
            .filter(|c| hook.wants(c.source_id.as_deref()))
            .collect();
        let sent = changes.len() as i64;
        if changes.is_empty() && gap.is_none() {
            // Only other sources' changes: the cursor moves past them without a request.
            if !store.webhook_delivered(&hook.id, from, to, 0).await? {
                return Ok(done);
            }
            state.cursor = to;
            continue;
        }
        let batch = Batch {
            webhook: &hook.id,
            delivery_id: format!("{}:{from}-{to}", hook.id),
            after: from.to_string(),
            next_cursor: to.to_string(),
            changes,
            gap,
        };
        let body = serde_json::to_vec(&batch).map_err(|e| StoreError::Decode(e.to_string()))?;
        let sig = signature(hook.secret.expose(), chrono::Utc::now().timestamp(), &body);
        let name = format!("changes webhook {}", hook.id);
        match sender
            .post_json(
                &name,
                hook.url.expose(),
                &batch.delivery_id,
                body,
                Some(sig),
            )
            .await
        {
            Ok(()) => {
                if !store.webhook_delivered(&hook.id, from, to, sent).await? {
                    return Ok(done);
                }
                done.batches += 1;
                done.changes += sent as u64;
                state.cursor = to;
                if !page.has_more {
                    return Ok(done);
                }
            }
            Err(e) => {
                let wait = backoff(
                    Duration::from_millis(settings.retry_base_ms),
                    state.attempts,
                );
                let next = chrono::Utc::now()
                    + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
                tracing::warn!(webhook = %hook.id, after = from, attempts = state.attempts + 1, retry_in_ms = wait.as_millis() as u64, error = %e, "changes webhook batch failed; sent again later");
                store
                    .webhook_failed(&hook.id, from, &e.0, &ts(&next))
                    .await?;
                done.failed = true;
                return Ok(done);
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_an_hour() {
        let b = Duration::from_secs(5);
        assert_eq!(backoff(b, 0), Duration::from_secs(5));
        assert_eq!(backoff(b, 1), Duration::from_secs(10));
        assert_eq!(backoff(b, 3), Duration::from_secs(40));
        assert_eq!(backoff(b, 15), MAX_BACKOFF);
        assert_eq!(backoff(b, 1_000), MAX_BACKOFF);
    }
}
