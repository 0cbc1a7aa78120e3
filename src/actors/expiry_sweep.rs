//! Closes the open jobs whose `validThrough` has passed, every
//! `pipeline.expiry_sweep_interval_secs`, so a posting expires on time even when its source
//! runs rarely or not at all. A Redis lease lets one daemon of a deployment sweep per interval.

use std::time::Duration;

use chrono::Utc;

use super::pipeline::Pipeline;
use crate::store::StoreError;

/// One pass over every source's jobs; returns how many it closed.
pub async fn expire(p: &Pipeline) -> Result<i64, StoreError> {
    let epoch = p.store.index_epoch().await?;
    p.store
        .at_epoch(Some(&epoch))
        .close_expired(None, None, Utc::now())
        .await
}

pub async fn expire_forever(
    p: std::sync::Arc<Pipeline>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let secs = p.settings.pipeline.expiry_sweep_interval_secs;
    if secs == 0 {
        shutdown.cancelled().await;
        return;
    }
    let every = Duration::from_secs(secs);
    let ttl = every.saturating_sub(Duration::from_millis(100));
    let key = p.redis.keys.expiry_lease();
    super::leased::every_with_lease(&p, &shutdown, every, key, ttl, "expiry", || async {
        match expire(&p).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "closed jobs whose validThrough has passed"),
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
        }
    })
    .await;
}
