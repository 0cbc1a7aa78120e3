//! The shell both queue actors share (`FeedFetcher`, `ImportWorker`): it owns one apalis worker
//! under a unique name and is supervised, so a worker that ends unexpectedly (its Redis went
//! away, restarted or lost part of the queue) is replaced by a fresh one under a new name.
//! Replacements back off (a Redis that is still loading its data set is not hammered), and the
//! queues are repaired before each one (`Queues::repair`: ids whose payload Redis lost would
//! fail every fetch). A watchdog replaces a worker that stopped heartbeating while Redis
//! answers: whatever wedged it, its tasks go back to the queue and a new worker takes over. On
//! shutdown (the daemon's token), apalis stops taking tasks and lets those in flight finish;
//! `Drained` answers once they have. A maintenance pause (`pause::PauseGate`) stops the worker
//! the same way, and no worker runs until the deployment is resumed: the next one starts then,
//! under a new name.

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
    /// The current worker: its name, since when it runs (unset while it waits for its start or
    /// for a resume), and what cancels it.
    name: String,
    running_since: Arc<std::sync::Mutex<Option<Instant>>>,
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
            running_since: Arc::default(),
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
        let p = self.pipeline.clone();
        let stop = self.shutdown.clone();
        let running_since = Arc::new(std::sync::Mutex::new(None));
        self.running_since = running_since.clone();
        let worker_name = name.clone();
        let start = async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.cancelled() => return Ok(Ended::Stopped),
            }
            if !p.pause.wait_running(&stop).await {
                return Ok(Ended::Stopped);
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
            // A pause stops this worker as a shutdown does: it takes no new tasks and lets
            // those in flight finish.
            let until = stop.child_token();
            let run = R::run(&p, worker_name.clone(), until.clone());
            *running_since.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
            let gate = p.pause.clone();
            let paused = async move {
                gate.wait_paused().await;
                until.cancel();
            };
            tokio::pin!(run);
            let ended = tokio::select! {
                r = &mut run => r.map(|()| Ended::Stopped)?,
                () = paused => run.await.map(|()| Ended::Paused)?,
            };
            // It stopped on purpose: it is no longer listed as a live worker.
            let keys = p.queues.keys(R::FETCH);
            let mut c = p.queues.connection();
            if let Err(e) = crate::store::queue_state::deregister(&mut c, &keys, &worker_name).await
            {
                tracing::debug!(error = %e, "could not unregister a stopped worker");
            }
            Ok::<_, String>(ended)
        };
        tracing::info!(worker = %name, ?delay, "{} started", R::KIND);
        let handle = tokio::spawn(start);
        self.abort = Some(handle.abort_handle());
        self.name = name.clone();
        let task = actix::fut::wrap_future::<_, Self>(handle);
        ctx.spawn(task.map(move |res, act, ctx| {
            if act.shutdown.is_cancelled() {
                tracing::info!(worker = %name, "{} stopped", R::KIND);
                act.drained.send_replace(true);
                return;
            }
            if let Ok(Ok(Ended::Paused)) = res {
                // Not a failure: the next start waits for the resume.
                tracing::info!(worker = %name, "{} stopped for maintenance", R::KIND);
                act.failures = 0;
                ctx.stop();
                return;
            }
            let ran_for = act.running_for().unwrap_or_default();
            if ran_for >= HEALTHY_RUN {
                act.failures = 1;
            } else {
                act.failures = act.failures.saturating_add(1);
            }
            let result = match res {
                Ok(r) => format!("{:?}", r.map(|_| ())),
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

/// How a worker's run ended when it ended without an error.
#[derive(Debug)]
enum Ended {
    /// The daemon stopped (or the worker ended by itself).
    Stopped,
    /// A maintenance pause stopped it.
    Paused,
}

impl<R: QueueRole> QueueActor<R> {
    /// How long the current worker has been running; `None` before it started.
    fn running_for(&self) -> Option<Duration> {
        self.running_since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|t| t.elapsed())
    }

    /// apalis presumes a worker dead after `3 × heartbeat`; the watchdog waits twice that.
    fn watchdog_every(&self) -> Duration {
        Duration::from_secs(self.pipeline.settings.pipeline.heartbeat_secs.max(1) * 3)
    }

    /// Replaces the worker if its last heartbeat is older than twice apalis' limit, judged only
    /// when Redis answers (a Redis that is away stops every worker's heartbeat alike).
    fn watch(&mut self, ctx: &mut Context<Self>) {
        // A worker not started yet (or waiting for a resume) has no heartbeat to judge.
        let young = self
            .running_for()
            .is_none_or(|d| d < 2 * self.watchdog_every());
        if self.shutdown.is_cancelled() || young || self.pipeline.pause.is_paused() {
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
