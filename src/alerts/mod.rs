//! Alerts: what a run's end, a retried fetch or a quiet source means for the incidents of its
//! source (`store::mongo::alerts` decides who wins each opening and recovery), and the
//! delivery of the messages, with retries, from the `alert_deliveries` outbox: one daemon at a
//! time sends a delivery, the one holding its Redis lease.

pub mod send;
pub mod settings;
pub mod signing;

use std::time::Duration;

use chrono::Utc;
use rand::Rng;

pub use settings::AlertSettings;

use crate::domain::alert::{AlertEvent, AlertMessage, Thresholds, Transition, Verdict, judge_run};
use crate::domain::time::format as ts;
use crate::domain::{Failure, ImportRun};
use crate::store::mongo::alerts::{Attempt, Delivery, Won};
use crate::store::redis::Redis;
use crate::store::{Store, StoreError};

/// Incidents whose deliveries were not queued this long after they changed are repaired.
const PENDING_GRACE: chrono::Duration = chrono::Duration::seconds(10);

/// Whether any rule is configured (otherwise nothing is judged or stored).
pub fn active(s: &AlertSettings) -> bool {
    !s.rules.is_empty()
}

/// Queues the deliveries of an incident change this daemon won.
async fn announce(store: &Store, s: &AlertSettings, won: Option<Won>) -> Result<(), StoreError> {
    let Some(Won { message }) = won else {
        return Ok(());
    };
    let channels: Vec<String> = message
        .event
        .map(|e| s.channels_for(&message.source_id, e))
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id.clone())
        .collect();
    tracing::info!(
        source = %message.source_id, incident = %message.incident_id,
        transition = message.transition.as_str(), channels = channels.len(), "alert"
    );
    store.queue_deliveries(&message, &channels).await
}

/// Applies a verdict about `event` of `source_id`.
async fn apply(
    store: &Store,
    s: &AlertSettings,
    source_id: &str,
    event: AlertEvent,
    verdict: Verdict,
    run_id: Option<&str>,
) -> Result<(), StoreError> {
    let won = match verdict {
        Verdict::Silent => return Ok(()),
        Verdict::Fires(detail) => {
            // A coverage drop needs coverage before it.
            let first = event != AlertEvent::CoverageDrop;
            store
                .open_incident(source_id, event, &detail, run_id, first)
                .await?
        }
        Verdict::Fine => {
            let detail = match run_id {
                Some(r) => format!("run {r} went well"),
                None => "fine again".to_owned(),
            };
            store
                .recover_incident(source_id, event, &detail, run_id)
                .await?
        }
    };
    announce(store, s, won).await
}

/// Judges a run that ended (called by every daemon that sees the end; the incident claims make
/// repeated judging harmless).
pub async fn on_run_end(
    store: &Store,
    s: &AlertSettings,
    run: &ImportRun,
) -> Result<(), StoreError> {
    if !active(s) {
        return Ok(());
    }
    let coverage = if run.new_jobs + run.updated_jobs > 0 {
        Some(store.company_coverage(&run.id).await?)
    } else {
        None
    };
    let t = Thresholds {
        item_failure_percent: s.item_failure_percent,
        coverage_missing_percent: s.coverage_missing_percent,
    };
    for (event, verdict) in judge_run(run, t, coverage) {
        apply(store, s, &run.source_id, event, verdict, Some(&run.id)).await?;
    }
    if run.new_jobs > 0 {
        apply(
            store,
            s,
            &run.source_id,
            AlertEvent::Stale,
            Verdict::Fine,
            Some(&run.id),
        )
        .await?;
    }
    Ok(())
}

/// A fetch of `source_id` failed transiently and will be tried again.
pub async fn on_backing_off(
    store: &Store,
    s: &AlertSettings,
    source_id: &str,
    run_id: &str,
    failure: &Failure,
) -> Result<(), StoreError> {
    if !active(s) {
        return Ok(());
    }
    let detail = format!("run {run_id}: {}: {}", failure.code, failure.message);
    apply(
        store,
        s,
        source_id,
        AlertEvent::BackingOff,
        Verdict::Fires(detail),
        Some(run_id),
    )
    .await
}

/// Judges every enabled source for staleness (one daemon per interval).
pub async fn check_stale(store: &Store, s: &AlertSettings) -> Result<(), StoreError> {
    if !active(s) || s.stale_after_days == 0 {
        return Ok(());
    }
    let cutoff = ts(&(Utc::now() - chrono::Duration::days(i64::from(s.stale_after_days))));
    for source in store.list_sources().await? {
        if !source.enabled {
            continue;
        }
        let Some(last) = store.last_new_job_at(&source.id).await? else {
            continue;
        };
        let verdict = if last < cutoff {
            Verdict::Fires(format!(
                "no new job since {last} (more than {} days)",
                s.stale_after_days
            ))
        } else {
            Verdict::Fine
        };
        apply(store, s, &source.id, AlertEvent::Stale, verdict, None).await?;
    }
    Ok(())
}

/// Queues a test message to `channel_id` (shown in `source_id`'s history when given).
pub async fn queue_test(
    store: &Store,
    channel_id: &str,
    source_id: Option<&str>,
) -> Result<String, StoreError> {
    let message = AlertMessage {
        incident_id: format!("test:{}", uuid::Uuid::now_v7()),
        source_id: source_id.unwrap_or("").to_owned(),
        event: None,
        transition: Transition::Test,
        detail: "This is a test of the channel; nothing is wrong.".into(),
        run_id: None,
        at: ts(&Utc::now()),
    };
    store
        .queue_deliveries(&message, &[channel_id.to_owned()])
        .await?;
    Ok(format!("{}:test:{channel_id}", message.incident_id))
}

/// Delay before attempt `attempt + 1`: `base × 2^(attempt-1)`, jittered in its upper half,
/// capped at an hour.
fn retry_delay(base_ms: u64, attempt: u32) -> Duration {
    let exp =
        Duration::from_millis(base_ms).saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    rand::rng()
        .random_range(exp / 2..=exp)
        .min(Duration::from_secs(3600))
}

/// Deliveries looked at per poll (each is leased before it is sent).
const DUE_PER_POLL: i64 = 20;

/// Takes the lease of one due delivery; `None` when every due one is another daemon's.
async fn take_due(
    store: &Store,
    redis: &Redis,
    lease: Duration,
    token: &str,
) -> Result<Option<(Delivery, String)>, StoreError> {
    for id in store.due_deliveries(DUE_PER_POLL).await? {
        let key = redis.keys.alert_delivery_lease(&id);
        if !redis.try_lease(&key, token, lease).await? {
            continue;
        }
        // Another daemon may have finished it between the list and the lease.
        match store.delivery_if_due(&id).await? {
            Some(d) => return Ok(Some((d, key))),
            None => redis.release_lease(&key, token).await?,
        }
    }
    Ok(None)
}

/// Sends what is due (and queues what a stopped daemon left unqueued); returns how many
/// deliveries were attempted.
pub async fn deliver_due(
    store: &Store,
    redis: &Redis,
    s: &AlertSettings,
    sender: &send::Sender,
) -> Result<usize, StoreError> {
    let before = ts(&(Utc::now() - PENDING_GRACE));
    for message in store.incidents_pending(&before).await? {
        announce(store, s, Some(Won { message })).await?;
    }
    let lease = Duration::from_secs(s.delivery_lease_secs);
    let token = uuid::Uuid::new_v4().simple().to_string();
    let mut attempted = 0;
    while let Some((d, key)) = take_due(store, redis, lease, &token).await? {
        attempted += 1;
        let channel = s.channel(&d.channel_id);
        let outcome = match channel {
            None => Err(send::SendError(format!(
                "channel {} is no longer configured",
                d.channel_id
            ))),
            Some(c) => sender.send(c, &d.id, &d.message).await,
        };
        let attempt_no = u32::try_from(d.attempts)
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        let attempt = match outcome {
            Ok(()) => Attempt::Sent,
            Err(e) if attempt_no >= s.max_attempts || channel.is_none() => {
                tracing::warn!(delivery = %d.id, error = %e, "alert delivery given up");
                Attempt::GaveUp { error: e.0 }
            }
            Err(e) => {
                let delay = retry_delay(s.retry_base_ms, attempt_no);
                tracing::info!(delivery = %d.id, error = %e, ?delay, "alert delivery will be retried");
                Attempt::Retry {
                    error: e.0,
                    at: Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default(),
                }
            }
        };
        store.finish_attempt(&d.id, attempt).await?;
        redis.release_lease(&key, &token).await?;
    }
    Ok(attempted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_and_are_capped() {
        for attempt in 1..6 {
            let d = retry_delay(1000, attempt);
            let exp = 1000u64 << (attempt - 1);
            assert!(
                d.as_millis() as u64 >= exp / 2 && d.as_millis() as u64 <= exp,
                "{d:?}"
            );
        }
        assert_eq!(
            retry_delay(3_600_000, 30),
            Duration::from_secs(3600).min(retry_delay(3_600_000, 30))
        );
        assert!(retry_delay(3_600_000, 30) <= Duration::from_secs(3600));
    }
}
