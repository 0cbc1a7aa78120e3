//! `FeedFetcher`: consumes the fetch queue (a `QueueActor` in the fetch role) and runs
//! `fetch_run` for each task.

mod backfill;
mod fetch_run;
mod stream;

use std::sync::Arc;

use apalis::prelude::{BackendExt, BoxDynError, Data, WorkerBuilder, WorkerBuilderExt};
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use fetch_run::fetch_run;

use super::pipeline::Pipeline;
use super::queue_actor::{QueueActor, QueueRole};
use super::retry::with_retries;
use crate::store::queue::FetchFeedTask;

async fn handle(task: FetchFeedTask, p: Data<Arc<Pipeline>>) -> Result<(), BoxDynError> {
    let run_id = task.run_id.clone();
    let span = tracing::info_span!("fetch", run_id = %run_id, source = %task.source_id, attempt = task.attempt);
    let policy = &p.settings.pipeline;
    let step = || fetch_run(&p, task.clone()).instrument(span.clone());
    match with_retries(
        policy.max_store_attempts,
        policy.retry_base(),
        policy.step_timeout(),
        step,
    )
    .await
    {
        Ok(()) => Ok(()),
        Err(e) => Err(p.give_up(&run_id, "the fetch", e).await),
    }
}

/// The fetch queue's role: feeds are fetched `fetch_concurrency` at a time per process.
pub struct FetchRole;

impl QueueRole for FetchRole {
    const KIND: &'static str = "fetcher";
    const FETCH: bool = true;

    fn run(
        p: &Arc<Pipeline>,
        name: String,
        stop: CancellationToken,
    ) -> BoxFuture<'static, Result<(), String>> {
        let worker = WorkerBuilder::new(name)
            .backend(
                p.queues
                    .fetch
                    .clone()
                    .poll_with_interval(p.settings.pipeline.poll_interval()),
            )
            .concurrency(p.settings.pipeline.fetch_concurrency)
            .data(p.clone())
            .build(handle);
        let until = async move {
            stop.cancelled().await;
            Ok::<(), std::io::Error>(())
        };
        Box::pin(async move { worker.run_until(until).await.map_err(|e| e.to_string()) })
    }
}

pub type FeedFetcher = QueueActor<FetchRole>;
