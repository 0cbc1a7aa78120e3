//! `ImportWorker`: consumes the items queue and persists each batch exactly once in effect:
//! jobs through `Store::persist_batch`, the batch's result as its own record (`import_batches`,
//! by run and number), then the run is ended if that was its last batch, or its progress
//! folded into the run document now and then.

use std::sync::Arc;
use std::time::Instant;

use apalis::prelude::{BackendExt, BoxDynError, Data, WorkerBuilder, WorkerBuilderExt};
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::pipeline::Pipeline;
use super::queue_actor::{QueueActor, QueueRole};
use super::retry::with_retries;
use crate::store::StoreError;
use crate::store::mongo::jobs::BatchContext;
use crate::store::queue::{Bodies, ImportBatchTask};
use tracing::Instrument;

pub async fn import_batch(p: &Pipeline, task: ImportBatchTask) -> Result<(), StoreError> {
    let Some(live) = p.live(&task.run_id).await? else {
        // The run has ended (or is unknown): a late delivery changes nothing.
        tracing::debug!(run_id = %task.run_id, "batch of an ended run dropped");
        return Ok(());
    };
    // Only the batches of the run's current feed read count; a batch of an earlier read (or
    // of an earlier version, which carries none) is replaced by the current read's batches.
    let Some(generation) = task.generation.filter(|g| live.generation == Some(*g)) else {
        tracing::debug!(run_id = %task.run_id, batch_no = task.batch_no, "batch of an earlier read of its run dropped");
        return Ok(());
    };
    // A batch counted as recorded (a redelivery) is not persisted again. One recorded but not
    // counted (its delivery died in between) is persisted again, which changes nothing (the
    // jobs recognise the run's own writes), and its record stands.
    let (run_id, batch_no) = (task.run_id.clone(), task.batch_no);
    if !p.runs.is_done(&run_id, generation, batch_no).await? {
        // Redis may outlive the database it worked for (a database dropped, replaced or
        // restored while batches waited): a batch whose run this database does not hold
        // writes nothing into it.
        if p.store.run_state(&run_id).await?.is_none() {
            tracing::warn!(%run_id, batch_no, "batch of a run this database does not hold dropped");
            return Ok(());
        }
        let started = Instant::now();
        let (source_id, publisher) = (task.source_id.clone(), task.publisher.clone());
        let read_at = task.read_at.clone();
        let store = p.store.at_epoch(task.index_epoch.as_deref());
        let ctx = BatchContext {
            run_id: &run_id,
            source_id: &source_id,
            publisher: &publisher,
            read_at: read_at.as_deref(),
        };
        // The bodies stay in Redis until the run ends (a delivery running late beside a
        // redelivery may still need them).
        let packed = task.into_items()?;
        let bodies = Bodies::Ledger {
            ledger: &p.runs,
            run_id: &run_id,
            generation,
            batch_no,
        };
        let (mut result, failures) = match store.persist_batch(&ctx, packed.items()?, &bodies).await
        {
            Ok(done) => done,
            Err(StoreError::NotFound(what)) => {
                // Redis lost the batch's postings: the batch stays unrecorded, so the run has
                // no work left in the queue and the sweeper has its feed read again.
                tracing::warn!(%run_id, generation, batch_no, %what, "batch left for a new read of its feed");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        result.stored_by = Some(p.instance.clone());
        let persist_ms = started.elapsed().as_millis() as i64;
        p.store
            .record_batch(
                &run_id, generation, batch_no, &result, &failures, persist_ms,
            )
            .await?;
        tracing::debug!(%run_id, generation, batch_no, ?result, persist_ms, "batch recorded");
    }
    let done = p.runs.mark_done(&run_id, generation, batch_no).await?;
    p.batch_recorded(&run_id, generation, done, live.total)
        .await
}

async fn handle(task: ImportBatchTask, p: Data<Arc<Pipeline>>) -> Result<(), BoxDynError> {
    let (run_id, batch_no) = (task.run_id.clone(), task.batch_no);
    let span = tracing::info_span!("batch", run_id = %run_id, batch_no);
    let policy = &p.settings.pipeline;
    let step = || import_batch(&p, task.clone()).instrument(span.clone());
    match with_retries(
        policy.max_store_attempts,
        policy.retry_base(),
        policy.step_timeout(),
        step,
    )
    .await
    {
        Ok(()) => Ok(()),
        Err(e) => Err(p.give_up(&run_id, &format!("batch {batch_no}"), e).await),
    }
}

/// The items queue's role: batches are persisted `worker_concurrency` at a time per process.
pub struct ItemsRole;

impl QueueRole for ItemsRole {
    const KIND: &'static str = "worker";
    const FETCH: bool = false;

    fn run(
        p: &Arc<Pipeline>,
        name: String,
        stop: CancellationToken,
    ) -> BoxFuture<'static, Result<(), String>> {
        let worker = WorkerBuilder::new(name)
            .backend(
                p.queues
                    .items
                    .clone()
                    .poll_with_interval(p.settings.pipeline.poll_interval()),
            )
            .concurrency(p.settings.pipeline.worker_concurrency)
            .data(p.clone())
            .build(handle);
        let until = async move {
            stop.cancelled().await;
            Ok::<(), std::io::Error>(())
        };
        Box::pin(async move { worker.run_until(until).await.map_err(|e| e.to_string()) })
    }
}

pub type ImportWorker = QueueActor<ItemsRole>;
