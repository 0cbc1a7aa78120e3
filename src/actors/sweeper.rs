//! Finds runs whose work is gone (the daemon that fetched died, Redis lost the queue) and
//! resumes them by queueing their fetch again under a new generation, or fails them with
//! `queue.lost` once they have been resumed `max_resumes` times. No run stays `running`.

use std::time::Duration;

use chrono::Utc;

use super::pipeline::Pipeline;
use crate::domain::time::format as ts;
use crate::domain::{Failure, RunStatus, codes};
use crate::store::StoreError;
use crate::store::queue::{FetchFeedTask, ImportBatchTask};

/// One pass; returns how many runs it resumed or failed.
pub async fn sweep(p: &Pipeline) -> Result<usize, StoreError> {
    let policy = &p.settings.pipeline;
    let now = Utc::now();
    // The time the deployment was paused does not count as time without progress: a run
    // queued before or during a pause is not stale the moment it ends.
    let stale_after = Duration::from_secs(policy.stale_after_secs);
    let Some(before) = p.pause.stale_cutoff(now, stale_after) else {
        return Ok(0);
    };
    let stale = p.store.stale_runs(&ts(&before), &ts(&now)).await?;
    let mut handled = 0;
    // One run the sweeper cannot judge (its queue entries unreadable, a store error) does not
    // keep it from the others.
    for run in stale {
        match sweep_run(p, &run).await {
            Ok(true) => handled += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(run_id = %run.id, error = %e, "could not sweep a run"),
        }
    }
    Ok(handled)
}

/// Resumes or fails one stale run; false when its work is still there or it moved meanwhile.
async fn sweep_run(p: &Pipeline, run: &crate::domain::ImportRun) -> Result<bool, StoreError> {
    let policy = &p.settings.pipeline;
    if has_work_in_queue(p, &run.id).await? {
        return Ok(false);
    }
    if run.resumes < i64::from(policy.max_resumes) {
        let noting = p.store.note_resume(&run.id, run.version);
        let Some(resumed) = p.with_run_lock(&run.id, noting).await? else {
            return Ok(false); // it moved meanwhile: not stale after all
        };
        let task = FetchFeedTask {
            run_id: run.id.clone(),
            source_id: run.source_id.clone(),
            attempt: 1,
            resume: resumed.resumes as u32,
        };
        p.queue_fetch(task, None).await?;
        tracing::warn!(run_id = %run.id, resumes = resumed.resumes, "run had lost its work; its feed will be read again");
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
    Ok(true)
}

/// Whether a run still has work in the queues: its latest fetch waiting or being done, or a
/// batch of its current read not recorded yet that waits or is being done. Such a run is not
/// stale, however long its workers take (a backlog, workers that are down): its work is there.
async fn has_work_in_queue(p: &Pipeline, run_id: &str) -> Result<bool, StoreError> {
    if let Some(fetch) = p.runs.fetch_task(run_id).await?
        && p.queues.fetch_pending(&fetch).await?
    {
        return Ok(true);
    }
    let Some(live) = p.runs.live(run_id).await? else {
        return Ok(false);
    };
    let (Some(generation), Some(total)) = (live.generation, live.total) else {
        return Ok(false);
    };
    for batch_no in 0..total {
        if p.runs.is_done(run_id, generation, batch_no).await? {
            continue;
        }
        let id = ImportBatchTask::task_id(run_id, generation, batch_no);
        if p.queues.batch_pending(&id).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Sweeps now and then; a Redis lease lets one daemon of a deployment sweep per interval.
pub async fn sweep_forever(
    p: std::sync::Arc<Pipeline>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let every = Duration::from_secs(p.settings.pipeline.sweep_interval_secs);
    let ttl = every.saturating_sub(Duration::from_millis(100));
    let key = p.redis.keys.sweep_lease();
    super::leased::every_with_lease(&p, &shutdown, every, key, ttl, "sweep", || async {
        match sweep(&p).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(runs = n, "sweeper handled stale runs"),
            Err(e) => tracing::warn!(error = %e, "sweep failed"),
        }
        if let Err(e) = p.queues.vacuum().await {
            tracing::warn!(error = %e, "could not vacuum the queues");
        }
    })
    .await;
}
