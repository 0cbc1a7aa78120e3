//! `FeedFetcher`: consumes the fetch queue. The actor owns an apalis worker and is supervised:
//! when the worker ends unexpectedly the actor stops and its supervisor starts a fresh one.

mod fetch_run;
mod stream;

use std::sync::Arc;

use actix::prelude::*;
use apalis::prelude::{BackendExt, BoxDynError, Data, WorkerBuilder, WorkerBuilderExt};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use fetch_run::fetch_run;

use super::pipeline::Pipeline;
use super::retry::with_retries;
use crate::store::queue::FetchFeedTask;

async fn handle(task: FetchFeedTask, p: Data<Arc<Pipeline>>) -> Result<(), BoxDynError> {
    let run_id = task.run_id.clone();
    let span = tracing::info_span!("fetch", run_id = %run_id, source = %task.source_id, attempt = task.attempt);
    let policy = &p.settings.pipeline;
    let step = || fetch_run(&p, task.clone()).instrument(span.clone());
    match with_retries(policy.max_store_attempts, policy.retry_base(), step).await {
        Ok(()) => Ok(()),
        Err(e) => Err(p.give_up(&run_id, "the fetch", e).await),
    }
}

pub struct FeedFetcher {
    pipeline: Arc<Pipeline>,
    shutdown: CancellationToken,
    generation: u32,
}

impl FeedFetcher {
    pub fn new(pipeline: Arc<Pipeline>, shutdown: CancellationToken) -> Self {
        Self {
            pipeline,
            shutdown,
            generation: 0,
        }
    }
}

impl Actor for FeedFetcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.generation += 1;
        let name = format!("fetcher-{}-{}", self.pipeline.instance, self.generation);
        let p = &self.pipeline;
        let worker = WorkerBuilder::new(name.clone())
            .backend(
                p.queues
                    .fetch
                    .clone()
                    .poll_with_interval(p.settings.pipeline.poll_interval()),
            )
            .concurrency(p.settings.pipeline.fetch_concurrency)
            .data(p.clone())
            .build(handle);
        let stop = self.shutdown.clone();
        let run = async move {
            worker
                .run_until(async move {
                    stop.cancelled().await;
                    Ok::<(), std::io::Error>(())
                })
                .await
        };
        tracing::info!(worker = %name, "fetch worker started");
        ctx.spawn(actix::fut::wrap_future::<_, Self>(tokio::spawn(run)).map(move |res, act, ctx| {
            if act.shutdown.is_cancelled() {
                tracing::info!(worker = %name, "fetch worker stopped");
                return;
            }
            tracing::error!(worker = %name, result = ?res.map(|r| r.map_err(|e| e.to_string())), "fetch worker ended; restarting");
            ctx.stop();
        }));
    }
}

impl Supervised for FeedFetcher {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        tracing::warn!(instance = %self.pipeline.instance, "restarting the fetch worker");
    }
}
