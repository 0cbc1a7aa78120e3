//! The shell both queue actors share (`FeedFetcher`, `ImportWorker`): it owns one apalis worker
//! under a unique name and is supervised, so a worker that ends unexpectedly (its Redis went
//! away) is replaced by a fresh one under a new name. On shutdown (the daemon's token), apalis
//! stops taking tasks and lets those in flight finish; `Drained` answers once they have.

use std::marker::PhantomData;
use std::sync::Arc;

use actix::prelude::*;
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::messages::Drained;
use super::pipeline::Pipeline;

/// What differs between the queue actors: the queue, its handler and its name.
pub trait QueueRole: Unpin + 'static {
    /// Prefix of worker names and the word used in logs.
    const KIND: &'static str;

    /// Builds the role's apalis worker named `name`, running until `stop` is cancelled.
    fn run(
        p: &Arc<Pipeline>,
        name: String,
        stop: CancellationToken,
    ) -> BoxFuture<'static, Result<(), String>>;
}

pub struct QueueActor<R> {
    pipeline: Arc<Pipeline>,
    shutdown: CancellationToken,
    generation: u32,
    /// Set once the worker stopped after shutdown, its in-flight tasks done.
    drained: tokio::sync::watch::Sender<bool>,
    role: PhantomData<R>,
}

impl<R: QueueRole> QueueActor<R> {
    pub fn new(pipeline: Arc<Pipeline>, shutdown: CancellationToken) -> Self {
        Self {
            pipeline,
            shutdown,
            generation: 0,
            drained: tokio::sync::watch::Sender::new(false),
            role: PhantomData,
        }
    }
}

impl<R: QueueRole> Actor for QueueActor<R> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.generation += 1;
        // A name of its own per start: apalis refuses a worker that re-registers under the
        // name of one it still thinks alive.
        let name = format!("{}-{}-{}", R::KIND, self.pipeline.instance, self.generation);
        let run = R::run(&self.pipeline, name.clone(), self.shutdown.clone());
        tracing::info!(worker = %name, "{} started", R::KIND);
        let task = actix::fut::wrap_future::<_, Self>(tokio::spawn(run));
        ctx.spawn(task.map(move |res, act, ctx| {
            if act.shutdown.is_cancelled() {
                tracing::info!(worker = %name, "{} stopped", R::KIND);
                act.drained.send_replace(true);
                return;
            }
            tracing::error!(worker = %name, result = ?res.map_err(|e| e.to_string()), "{} ended; restarting", R::KIND);
            ctx.stop();
        }));
    }
}

impl<R: QueueRole> Supervised for QueueActor<R> {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        tracing::warn!(instance = %self.pipeline.instance, "restarting the {}", R::KIND);
    }
}

impl<R: QueueRole> Handler<Drained> for QueueActor<R> {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, _: Drained, _: &mut Self::Context) -> Self::Result {
        let mut drained = self.drained.subscribe();
        Box::pin(async move {
            drained.wait_for(|d| *d).await.ok();
        })
    }
}
