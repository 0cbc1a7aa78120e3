//! Retention, applied once per `retention.interval_secs` by one daemon of a deployment: the
//! first to take the Redis lease (held for the interval) deletes what the settings no longer
//! keep, and counts it on `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::pipeline::Pipeline;
use crate::config::RetentionSettings;
use crate::store::StoreError;
use crate::store::mongo::retention::RunRetention;
use crate::telemetry;

/// How often a daemon checks whether retention is due (the lease decides who applies it).
const CHECK_EVERY: Duration = Duration::from_secs(3600);

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted {
    pub runs: u64,
    pub jobs: u64,
    pub changes: u64,
    pub alert_deliveries: u64,
}

/// Deletes what `r` does not keep, as of `now`.
pub async fn apply(
    store: &crate::store::Store,
    r: &RetentionSettings,
    now: DateTime<Utc>,
) -> Result<Deleted, StoreError> {
    let runs = RunRetention {
        keep_days: r.runs_keep_days,
        keep_per_source: r.runs_keep_per_source,
        failed_keep_days: r.failed_runs_keep_days,
    };
    let runs = store.delete_old_runs(&runs, now).await?;
    metrics::counter!(telemetry::RETENTION_RUNS_DELETED).increment(runs);
    let jobs = store
        .delete_closed_jobs(r.closed_jobs_keep_days, now)
        .await?;
    metrics::counter!(telemetry::RETENTION_JOBS_DELETED).increment(jobs);
    let changes = if r.changes_keep_days == 0 {
        0
    } else {
        let cutoff = now - chrono::Duration::days(i64::from(r.changes_keep_days));
        store
            .prune_changes(&crate::domain::time::format(&cutoff))
            .await?
    };
    metrics::counter!(telemetry::RETENTION_CHANGES_DELETED).increment(changes);
    let alert_deliveries = if r.alert_deliveries_keep_days == 0 {
        0
    } else {
        let cutoff = now - chrono::Duration::days(i64::from(r.alert_deliveries_keep_days));
        store
            .prune_alert_deliveries(&crate::domain::time::format(&cutoff))
            .await?
    };
    metrics::counter!(telemetry::RETENTION_ALERT_DELIVERIES_DELETED).increment(alert_deliveries);
    Ok(Deleted {
        runs,
        jobs,
        changes,
        alert_deliveries,
    })
}

/// Applies retention whenever this daemon takes the lease: at start when no daemon has in
/// the last interval, then about once per interval across the deployment.
pub async fn retain_forever(p: Arc<Pipeline>, shutdown: tokio_util::sync::CancellationToken) {
    let r = p.settings.retention.clone();
    if !r.enabled {
        return;
    }
    let interval = Duration::from_secs(r.interval_secs);
    let key = p.redis.keys.retention_lease();
    let check_every = interval.min(CHECK_EVERY);
    super::leased::every_with_lease(
        &p,
        &shutdown,
        check_every,
        key,
        interval,
        "retention",
        || async {
            match apply(&p.store, &r, Utc::now()).await {
                Ok(d) => tracing::info!(
                    runs = d.runs,
                    jobs = d.jobs,
                    changes = d.changes,
                    alert_deliveries = d.alert_deliveries,
                    "retention applied"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "retention failed; it is tried again next interval")
                }
            }
        },
    )
    .await;
}
