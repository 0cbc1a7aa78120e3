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

/// The count of a run's recorded batches outlives any run by far.
const DONE_TTL: std::time::Duration = std::time::Duration::from_secs(2 * 24 * 3600);

pub async fn import_batch(p: &Pipeline, task: ImportBatchTask) -> Result<(), StoreError> {
    // A live run (see `Pipeline::live_total`) needs no read of its document; otherwise the
    // document says whether the run still wants its batches.
    let known_total = match p.live_total(&task.run_id).await? {
        Some(total) => total,
        None => {
            let Some(state) = p.store.run_state(&task.run_id).await? else {
                tracing::warn!(run_id = %task.run_id, "batch of an unknown run dropped");
                return Ok(());
            };
            if state.status.is_final() {
                return Ok(());
            }
            state.batches_total
        }
    };
    // A batch counted as recorded (a redelivery, or a resumed run) is not persisted again.
    // One recorded but not counted (its delivery died in between) is persisted again, which
    // changes nothing (the jobs recognise the run's own writes), and its record stands.
    let (run_id, batch_no) = (task.run_id.clone(), task.batch_no);
    let done_key = p.redis.keys.done_set(&run_id);
    let member = batch_no.to_string();
    if !p.redis.is_member(&done_key, &member).await? {
        let started = Instant::now();
        let (source_id, publisher) = (task.source_id.clone(), task.publisher.clone());
        let ctx = BatchContext {
            run_id: &run_id,
            source_id: &source_id,
            publisher: &publisher,
        };
        // The bodies stay in Redis until the run ends (a delivery running late beside a
        // redelivery may still need them); `Pipeline::forget` drops them with the run's sets.
        let field = task.bodies.clone();
        let packed = task.into_items()?;
        let bodies = match field {
            Some(field) => Bodies::Redis {
                redis: &p.redis,
                hash: p.redis.keys.bodies(&run_id),
                field,
            },
            None => Bodies::Here(packed.bodies()),
        };
        let (mut result, failures) = p
            .store
            .persist_batch(&ctx, packed.items()?, &bodies)
            .await?;
        result.stored_by = Some(p.instance.clone());
        let persist_ms = started.elapsed().as_millis() as i64;
        p.store
            .record_batch(&run_id, batch_no, &result, &failures, persist_ms)
            .await?;
        tracing::debug!(%run_id, batch_no, ?result, persist_ms, "batch recorded");
    }
    let done = p.redis.add_and_count(&done_key, &member, DONE_TTL).await?;
    p.batch_recorded(&run_id, done, known_total).await
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
