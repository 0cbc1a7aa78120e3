//! `ImportWorker`: consumes the items queue and persists each batch exactly once in effect:
//! jobs through `Store::persist_batch`, the batch's result under its number on the run, then
//! the run is ended if that was its last batch.

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
use crate::store::queue::ImportBatchTask;
use tracing::Instrument;

pub async fn import_batch(p: &Pipeline, task: ImportBatchTask) -> Result<(), StoreError> {
    let Some(run) = p.store.get_run(&task.run_id).await? else {
        tracing::warn!(run_id = %task.run_id, "batch of an unknown run dropped");
        return Ok(());
    };
    if run.status.is_final() {
        return Ok(());
    }
    if !run.batches.contains_key(&task.batch_no.to_string()) {
        let started = Instant::now();
        let ctx = BatchContext {
            run_id: &task.run_id,
            source_id: &task.source_id,
            publisher: &task.publisher,
        };
        let (mut result, failures) = p.store.persist_batch(&ctx, task.entries).await?;
        result.stored_by = Some(p.instance.clone());
        tracing::debug!(run_id = %task.run_id, batch_no = task.batch_no, ?result, "batch persisted");
        let persist_ms = started.elapsed().as_millis() as i64;
        let recording = p.store.record_batch(
            &task.run_id,
            task.batch_no,
            &result,
            &failures,
            persist_ms,
            run.failures.len(),
        );
        let recorded = p.with_run_lock(&task.run_id, recording).await?;
        // Only the batch that brings the count to the total can end the run.
        let last = recorded
            .as_ref()
            .is_some_and(|r| r.batches_total.is_some_and(|t| r.batches_done >= t));
        let recorded_ms = started.elapsed().as_millis() as i64 - persist_ms;
        p.changed(recorded).await;
        tracing::debug!(run_id = %task.run_id, batch_no = task.batch_no, persist_ms, recorded_ms, "batch recorded");
        if !last {
            return Ok(());
        }
    }
    // Also on a redelivery: the earlier delivery may have died between recording and ending.
    p.complete_if_done(&task.run_id).await
}

async fn handle(task: ImportBatchTask, p: Data<Arc<Pipeline>>) -> Result<(), BoxDynError> {
    let (run_id, batch_no) = (task.run_id.clone(), task.batch_no);
    let span = tracing::info_span!("batch", run_id = %run_id, batch_no);
    let policy = &p.settings.pipeline;
    let step = || import_batch(&p, task.clone()).instrument(span.clone());
    match with_retries(policy.max_store_attempts, policy.retry_base(), step).await {
        Ok(()) => Ok(()),
        Err(e) => Err(p.give_up(&run_id, &format!("batch {batch_no}"), e).await),
    }
}

/// The items queue's role: batches are persisted `worker_concurrency` at a time per process.
pub struct ItemsRole;

impl QueueRole for ItemsRole {
    const KIND: &'static str = "worker";

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
