//! Finds runs whose work is gone (the daemon that fetched died, Redis lost the queue) and
//! resumes them by queueing their fetch again under a new generation, or fails them with
//! `queue.lost` once they have been resumed `max_resumes` times. No run stays `running`.

use std::time::Duration;

use chrono::Utc;

use super::pipeline::Pipeline;
use crate::domain::time::format as ts;
use crate::domain::{Failure, RunStatus, codes};
use crate::store::StoreError;
use crate::store::queue::FetchFeedTask;

/// One pass; returns how many runs it resumed or failed.
pub async fn sweep(p: &Pipeline) -> Result<usize, StoreError> {
    let policy = &p.settings.pipeline;
    let now = Utc::now();
    let before = now - chrono::Duration::seconds(policy.stale_after_secs as i64);
    let stale = p.store.stale_runs(&ts(&before), &ts(&now)).await?;
    let mut handled = 0;
    for run in stale {
        if run.resumes < i64::from(policy.max_resumes) {
            let noting = p.store.note_resume(&run.id, run.version);
            let Some(resumed) = p.with_run_lock(&run.id, noting).await? else {
                continue; // it moved meanwhile: not stale after all
            };
            let generation = resumed.resumes as u32;
            let task = FetchFeedTask {
                run_id: run.id.clone(),
                source_id: run.source_id.clone(),
                attempt: 1,
                generation,
            };
            let key = format!("run:{}:{generation}:1", run.id);
            p.queues.push_fetch(task, &key, None).await?;
            tracing::warn!(run_id = %run.id, generation, "run had no progress; its fetch was queued again");
            p.publish(&resumed).await;
        } else {
            let f = Failure::new(
                codes::QUEUE_LOST,
                format!(
                    "no progress for {}s after {} resumes: the run's queued work was lost",
                    policy.stale_after_secs, run.resumes
                ),
            );
            p.end(&run.id, RunStatus::Failed, Some(&f)).await?;
        }
        handled += 1;
    }
    Ok(handled)
}

/// Sweeps now and then; a Redis lease lets one daemon of a deployment sweep per interval.
pub async fn sweep_forever(
    p: std::sync::Arc<Pipeline>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let every = Duration::from_secs(p.settings.pipeline.sweep_interval_secs);
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let key = p.redis.keys.sweep_lease();
        match p
            .redis
            .try_lease(
                &key,
                &p.instance,
                every.saturating_sub(Duration::from_millis(100)),
            )
            .await
        {
            Ok(true) => match sweep(&p).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(runs = n, "sweeper handled stale runs"),
                Err(e) => tracing::warn!(error = %e, "sweep failed"),
            },
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "sweep lease unavailable"),
        }
    }
}
