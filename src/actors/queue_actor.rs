//! The shell both queue actors share (`FeedFetcher`, `ImportWorker`): it owns one apalis worker
//! under a unique name and is supervised, so a worker that ends unexpectedly (its Redis went
//! away, restarted or lost part of the queue) is replaced by a fresh one under a new name.
//! Replacements back off (a Redis that is still loading its data set is not hammered), and the
//! queues are repaired before each one (`Queues::repair`: ids whose payload Redis lost would
//! fail every fetch). A watchdog replaces a worker that stopped heartbeating while Redis
//! answers: whatever wedged it, its tasks go back to the queue and a new worker takes over. On
//! shutdown (the daemon's token), apalis stops taking tasks and lets those in flight finish;
//! `Drained` answers once they have.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::messages::Drained;
use super::pipeline::Pipeline;

/// What differs between the queue actors: the queue, its handler and its name.
pub trait QueueRole: Unpin + 'static {
    /// Prefix of worker names and the word used in logs.
    const KIND: &'static str;
    /// Whether the role works the fetch queue (else the items queue).
    const FETCH: bool;

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
    /// Unexpected ends in a row: the next start waits `restart_delay(failures)`.
    failures: u32,
    /// The current worker: its name, when it started running, and what cancels it.
    name: String,
    running_since: Instant,
    abort: Option<tokio::task::AbortHandle>,
    /// Set once the worker stopped after shutdown, its in-flight tasks done.
    drained: tokio::sync::watch::Sender<bool>,
    role: PhantomData<R>,
}

/// The pause before a replacement worker starts: none for the first start, then doubling from
/// 200 ms up to 10 s while replacements keep failing.
pub fn restart_delay(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let ms = 200u64.saturating_mul(1 << (failures - 1).min(10));
    Duration::from_millis(ms.min(10_000))
}

/// A worker that ran this long before it ended counts as a fresh failure, not one more in a row.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

impl<R: QueueRole> QueueActor<R> {
    pub fn new(pipeline: Arc<Pipeline>, shutdown: CancellationToken) -> Self {
        Self {
            pipeline,
            shutdown,
            generation: 0,
            failures: 0,
            name: String::new(),
            running_since: Instant::now(),
            abort: None,
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
        let delay = restart_delay(self.failures);
        let repair = self.failures > 0;
        let run = R::run(&self.pipeline, name.clone(), self.shutdown.clone());
        let p = self.pipeline.clone();
        let stop = self.shutdown.clone();
        let start = async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.cancelled() => return Ok(()),
            }
            if repair {
                match p.queues.repair().await {
                    Ok(r) if r.dropped + r.requeued > 0 => tracing::warn!(
                        dropped = r.dropped,
                        requeued = r.requeued,
                        "queues repaired: ids whose data Redis lost were dropped, tasks of \
                         unregistered workers handed back"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not check the queues"),
                }
            }
            run.await
        };
        tracing::info!(worker = %name, ?delay, "{} started", R::KIND);
        let handle = tokio::spawn(start);
        self.abort = Some(handle.abort_handle());
        self.name = name.clone();
        self.running_since = Instant::now() + delay;
        let task = actix::fut::wrap_future::<_, Self>(handle);
        ctx.spawn(task.map(move |res, act, ctx| {
            if act.shutdown.is_cancelled() {
                tracing::info!(worker = %name, "{} stopped", R::KIND);
                act.drained.send_replace(true);
                return;
            }
            if act.running_since.elapsed() >= HEALTHY_RUN {
                act.failures = 1;
            } else {
                act.failures = act.failures.saturating_add(1);
            }
            let result = match res {
                Ok(r) => format!("{r:?}"),
                Err(e) if e.is_cancelled() => "replaced by the watchdog".to_owned(),
                Err(e) => e.to_string(),
            };
            tracing::error!(worker = %name, %result, next_in = ?restart_delay(act.failures), "{} ended; restarting", R::KIND);
            ctx.stop();
        }));
        let every = self.watchdog_every();
        ctx.run_interval(every, |act, ctx| act.watch(ctx));
    }
}

impl<R: QueueRole> QueueActor<R> {
    /// apalis presumes a worker dead after `3 × heartbeat`; the watchdog waits twice that.
    fn watchdog_every(&self) -> Duration {
        Duration::from_secs(self.pipeline.settings.pipeline.heartbeat_secs.max(1) * 3)
    }

    /// Replaces the worker if its last heartbeat is older than twice apalis' limit, judged only
    /// when Redis answers (a Redis that is away stops every worker's heartbeat alike).
    fn watch(&mut self, ctx: &mut Context<Self>) {
        if self.shutdown.is_cancelled() || self.running_since.elapsed() < 2 * self.watchdog_every()
        {
            return;
        }
        let p = self.pipeline.clone();
        let name = self.name.clone();
        let keys = p.queues.keys(R::FETCH);
        let check = async move {
            let mut c = p.queues.connection();
            let beat = crate::store::queue_state::last_heartbeat(&mut c, &keys, &name).await?;
            // apalis stamps heartbeats with this process's clock.
            let now = chrono::Utc::now().timestamp();
            Ok::<_, crate::store::StoreError>(beat.map(|b| now - b))
        };
        let limit = 2 * self.watchdog_every().as_secs() as i64;
        ctx.spawn(actix::fut::wrap_future::<_, Self>(check).map(
            move |res, act, _ctx| {
                let silent = match res {
                    Ok(Some(age)) => age > limit,
                    Ok(None) => true,
                    Err(_) => false,
                };
                if silent && !act.shutdown.is_cancelled() {
                    tracing::error!(worker = %act.name, "{} stopped heartbeating; replacing it", R::KIND);
                    if let Some(a) = act.abort.take() {
                        a.abort();
                    }
                }
            },
        ));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacements_back_off_up_to_ten_seconds() {
        assert_eq!(restart_delay(0), Duration::ZERO);
        assert_eq!(restart_delay(1), Duration::from_millis(200));
        assert_eq!(restart_delay(2), Duration::from_millis(400));
        assert_eq!(restart_delay(6), Duration::from_millis(6_400));
        assert_eq!(restart_delay(7), Duration::from_secs(10));
        assert_eq!(restart_delay(u32::MAX), Duration::from_secs(10));
    }
}
