//! The alert loops: every daemon with the scheduler role sends due deliveries every
//! `alerts.poll_interval_ms` (each delivery is leased in Redis, so they share the work and
//! a dead daemon's deliveries go out from another), and one daemon per
//! `alerts.stale_check_interval_secs` (by Redis lease) judges every source for staleness.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::pipeline::Pipeline;

pub async fn deliver_forever(p: Arc<Pipeline>, shutdown: CancellationToken) {
    let s = &p.settings.alerts;
    if s.channels.is_empty() {
        // Nothing could be queued or sent: no polling of the store at all.
        shutdown.cancelled().await;
        return;
    }
    let sender = match crate::alerts::send::Sender::new(s) {
        Ok(sender) => sender,
        Err(e) => {
            tracing::error!(error = %e, "alerts cannot be sent");
            shutdown.cancelled().await;
            return;
        }
    };
    let stale = {
        let p = p.clone();
        let shutdown = shutdown.clone();
        async move {
            let every = Duration::from_secs(p.settings.alerts.stale_check_interval_secs);
            let key = p.redis.keys.stale_check_lease();
            let ttl = every
                .saturating_sub(Duration::from_millis(100))
                .max(Duration::from_millis(500));
            super::leased::every_with_lease(
                &p,
                &shutdown,
                every,
                key,
                ttl,
                "stale check",
                || async {
                    if let Err(e) = crate::alerts::check_stale(&p.store, &p.settings.alerts).await {
                        tracing::warn!(error = %e, "stale check failed");
                    }
                },
            )
            .await;
        }
    };
    let deliver = async {
        let mut tick = tokio::time::interval(Duration::from_millis(s.poll_interval_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            if let Err(e) = crate::alerts::deliver_due(&p.store, &p.redis, s, &sender).await {
                tracing::warn!(error = %e, "alert deliveries could not be read");
            }
        }
    };
    if crate::alerts::active(s) {
        tokio::join!(stale, deliver);
    } else {
        // "Send test" still works without rules.
        deliver.await;
    }
}
