//! Periodic work that one daemon of a deployment does per interval: every daemon ticks, and
//! the one that takes the Redis lease does the work. Nothing is done while the deployment is
//! paused for maintenance (`pause::PauseGate`).

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::pipeline::Pipeline;

/// Every `check_every`, until `shutdown`: runs `work` if this daemon takes lease `key` for
/// `ttl`. `what` names the work in the log.
pub async fn every_with_lease<F, Fut>(
    p: &Pipeline,
    shutdown: &CancellationToken,
    check_every: Duration,
    key: String,
    ttl: Duration,
    what: &'static str,
    mut work: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut tick = tokio::time::interval(check_every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        if p.pause.is_paused() {
            tracing::debug!("{what} skipped: paused for maintenance");
            continue;
        }
        match p.redis.try_lease(&key, &p.instance, ttl).await {
            Ok(true) => work().await,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "{what} lease unavailable"),
        }
    }
}
