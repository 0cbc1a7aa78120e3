//! The changes-out loop (`changes_out`): every daemon with the scheduler role looks every
//! `changes_out.poll_interval_ms` for changes to send; per webhook, the daemon that takes its
//! Redis lease sends, so batches go out in order from one daemon at a time, and another
//! daemon takes over when one dies. Nothing is sent while the deployment is paused.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::pipeline::Pipeline;
use crate::changes_out::deliver;

/// How long a daemon sends one webhook's batches per turn.
const TURN: Duration = Duration::from_secs(20);

pub async fn push_forever(p: Arc<Pipeline>, shutdown: CancellationToken) {
    let s = &p.settings.changes_out;
    if s.webhooks.is_empty() {
        shutdown.cancelled().await;
        return;
    }
    let timeout = Duration::from_millis(s.timeout_ms);
    let sender = match crate::alerts::send::Sender::with_policy(
        "changes",
        s.allow_private_networks,
        timeout,
    ) {
        Ok(sender) => sender,
        Err(e) => {
            tracing::error!(error = %e, "changes webhooks cannot be sent");
            shutdown.cancelled().await;
            return;
        }
    };
    // The lease outlasts a turn by the request that may still be under way, and a margin.
    let lease = TURN + timeout * 2;
    let mut tick = tokio::time::interval(Duration::from_millis(s.poll_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        if p.pause.is_paused() {
            continue;
        }
        for hook in &s.webhooks {
            let key = p.redis.keys.changes_webhook_lease(&hook.id);
            let token = uuid::Uuid::new_v4().simple().to_string();
            match p.redis.try_lease(&key, &token, lease).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "changes webhook lease unavailable");
                    continue;
                }
            }
            match deliver::push(&p.store, s, hook, &sender, TURN).await {
                Ok(done) if done.batches > 0 => {
                    tracing::debug!(webhook = %hook.id, batches = done.batches, changes = done.changes, "changes sent");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(webhook = %hook.id, error = %e, "changes webhook could not read its changes")
                }
            }
            if let Err(e) = p.redis.release_lease(&key, &token).await {
                tracing::debug!(error = %e, "could not release a changes webhook lease; it expires");
            }
        }
    }
}
