//! `SchedulerActor`: fires each enabled source on its cron (tokio-cron-scheduler). Several
//! daemons may fire the same tick; a Redis lease per (source, tick) lets exactly one start the
//! run, and a tick missed while every daemon was down runs once at start. Sources are re-read
//! when any daemon or the CLI announces a change on Redis, and every 30 s in any case.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use futures_util::StreamExt;

use super::messages::ReloadSources;
use super::pipeline::{Pipeline, Started};
use crate::domain::Trigger;
use crate::domain::source::Source;

/// How often sources are re-read in any case (an announcement may be lost while Redis is away).
const RELOAD_EVERY: Duration = Duration::from_secs(30);
/// Tick leases outlive any clock skew between daemons by far.
const TICK_LEASE: Duration = Duration::from_secs(24 * 3600);

/// The tick a moment belongs to: the latest fire time of `cron` at or before `now`.
pub fn slot_of(cron: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let c: croner::Cron = cron.parse().ok()?;
    c.find_previous_occurrence(&now, true).ok()
}

pub fn next_fire(cron: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let c: croner::Cron = cron.parse().ok()?;
    c.find_next_occurrence(&now, false).ok()
}

/// Starts a run for the tick `slot` unless another daemon already took it.
pub async fn fire(p: &Pipeline, source: &Source, slot: DateTime<Utc>) {
    let key = p.redis.keys.tick_lease(&source.id, slot.timestamp());
    match p.redis.try_lease(&key, &p.instance, TICK_LEASE).await {
        Ok(true) => match p.start_run(source, Trigger::Schedule).await {
            Ok(Started::Run(run)) => {
                tracing::info!(source = %source.id, run_id = %run.id, "scheduled run started")
            }
            Ok(Started::AlreadyRunning(r)) => {
                tracing::info!(source = %source.id, running = ?r, "tick skipped: a run is in progress")
            }
            Err(e) => {
                tracing::warn!(source = %source.id, error = %e, "scheduled run could not start")
            }
        },
        Ok(false) => tracing::debug!(source = %source.id, "tick taken by another daemon"),
        Err(e) => tracing::warn!(source = %source.id, error = %e, "tick lease unavailable"),
    }
    if let Err(e) = p
        .store
        .set_next_run(&source.id, next_fire(&source.cron, Utc::now()))
        .await
    {
        tracing::warn!(source = %source.id, error = %e, "could not record the next run");
    }
}

async fn on_tick(p: Arc<Pipeline>, source_id: String) {
    let now = Utc::now();
    let source = match p.store.get_source(&source_id).await {
        Ok(Some(s)) if s.enabled => s,
        Ok(_) => return,
        Err(e) => return tracing::warn!(source = %source_id, error = %e, "tick: source unreadable"),
    };
    if let Some(until) = source.health.backoff_until.filter(|u| *u > now) {
        let failures = source.health.consecutive_failures;
        tracing::info!(source = %source_id, %until, failures, "tick skipped: the source is backing off");
        return;
    }
    if let Some(slot) = slot_of(&source.cron, now + chrono::Duration::seconds(1)) {
        fire(&p, &source, slot).await;
    }
}

struct Scheduler {
    p: Arc<Pipeline>,
    sched: JobScheduler,
    /// Source id → (job id, cron it was added with).
    jobs: HashMap<String, (Uuid, String)>,
    first_load: bool,
}

impl Scheduler {
    async fn reload(&mut self) {
        let sources = match self.p.store.list_sources().await {
            Ok(s) => s,
            Err(e) => return tracing::warn!(error = %e, "could not read sources"),
        };
        let wanted: HashMap<&str, &Source> = sources
            .iter()
            .filter(|s| s.enabled)
            .map(|s| (s.id.as_str(), s))
            .collect();
        let stale: Vec<String> = self
            .jobs
            .iter()
            .filter(|(id, (_, cron))| wanted.get(id.as_str()).is_none_or(|s| &s.cron != cron))
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            if let Some((uuid, _)) = self.jobs.remove(&id) {
                self.sched.remove(&uuid).await.ok();
            }
        }
        for (id, source) in wanted {
            if self.jobs.contains_key(id) {
                continue;
            }
            let (p, sid) = (self.p.clone(), id.to_owned());
            let job = Job::new_async(source.cron.as_str(), move |_, _| {
                Box::pin(on_tick(p.clone(), sid.clone()))
            });
            match job {
                Ok(job) => match self.sched.add(job).await {
                    Ok(uuid) => {
                        self.jobs.insert(id.to_owned(), (uuid, source.cron.clone()));
                        let next = next_fire(&source.cron, Utc::now());
                        self.p.store.set_next_run(id, next).await.ok();
                    }
                    Err(e) => tracing::warn!(source = id, error = %e, "could not schedule"),
                },
                Err(e) => tracing::warn!(source = id, error = %e, "invalid cron"),
            }
        }
        if std::mem::take(&mut self.first_load) && self.p.settings.scheduler.run_missed_on_start {
            self.run_missed(&sources).await;
        }
    }

    /// A source whose latest tick passed without a run gets that one run now (not one per
    /// missed tick); the tick's lease keeps it to one daemon.
    async fn run_missed(&self, sources: &[Source]) {
        let now = Utc::now();
        for s in sources.iter().filter(|s| s.enabled) {
            let Some(slot) = slot_of(&s.cron, now) else {
                continue;
            };
            let missed = s.health.last_run_at.is_none_or(|last| last < slot);
            if missed {
                fire(&self.p, s, slot).await;
            }
        }
    }
}

async fn run(
    p: Arc<Pipeline>,
    mut reload_rx: mpsc::Receiver<()>,
    shutdown: CancellationToken,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let sched = match JobScheduler::new().await {
        Ok(s) => s,
        Err(e) => return tracing::error!(error = %e, "the cron scheduler could not start"),
    };
    if let Err(e) = sched.start().await {
        return tracing::error!(error = %e, "the cron scheduler could not start");
    }
    let mut s = Scheduler {
        p,
        sched,
        jobs: HashMap::new(),
        first_load: true,
    };
    // The first load (with its missed ticks) happens before the daemon takes requests, so a
    // source created through the API right after start is never mistaken for a missed one.
    s.reload().await;
    ready.send(()).ok();
    let mut every = tokio::time::interval(RELOAD_EVERY);
    every.tick().await;
    loop {
        tokio::select! {
            _ = every.tick() => s.reload().await,
            Some(()) = reload_rx.recv() => s.reload().await,
            _ = shutdown.cancelled() => break,
        }
    }
    s.sched.shutdown().await.ok();
}

/// Turns announcements on the sources channel into reloads, for as long as the daemon runs,
/// subscribing again after Redis goes away.
async fn listen_for_changes(
    p: Arc<Pipeline>,
    reload: mpsc::Sender<()>,
    shutdown: CancellationToken,
) {
    let channel = p.redis.keys.sources_channel();
    while !shutdown.is_cancelled() {
        match p.redis.client.get_async_pubsub().await {
            Ok(mut ps) => {
                if let Err(e) = ps.subscribe(&channel).await {
                    tracing::warn!(error = %e, "could not subscribe to source changes");
                } else {
                    let mut stream = ps.on_message();
                    loop {
                        tokio::select! {
                            msg = stream.next() => match msg {
                                // A reload already asked for covers this one too.
                                Some(_) => { reload.try_send(()).ok(); }
                                None => break,
                            },
                            _ = shutdown.cancelled() => return,
                        }
                    }
                    tracing::warn!("source change subscription ended; resubscribing");
                }
            }
            Err(e) => tracing::warn!(error = %e, "Redis unavailable for source changes; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

pub struct SchedulerActor {
    pipeline: Arc<Pipeline>,
    shutdown: CancellationToken,
    reload: Option<mpsc::Sender<()>>,
    ready: Option<tokio::sync::oneshot::Sender<()>>,
}

impl SchedulerActor {
    /// The receiver fires once the sources are loaded and missed ticks are started.
    pub fn new(
        pipeline: Arc<Pipeline>,
        shutdown: CancellationToken,
    ) -> (Self, tokio::sync::oneshot::Receiver<()>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let actor = Self {
            pipeline,
            shutdown,
            reload: None,
            ready: Some(tx),
        };
        (actor, rx)
    }
}

impl Actor for SchedulerActor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(listen_for_changes(
            self.pipeline.clone(),
            tx.clone(),
            self.shutdown.clone(),
        ));
        self.reload = Some(tx);
        let ready = self
            .ready
            .take()
            .unwrap_or_else(|| tokio::sync::oneshot::channel().0);
        tokio::spawn(run(self.pipeline.clone(), rx, self.shutdown.clone(), ready));
        tokio::spawn(super::sweeper::sweep_forever(
            self.pipeline.clone(),
            self.shutdown.clone(),
        ));
    }
}

impl Handler<ReloadSources> for SchedulerActor {
    type Result = ();
    fn handle(&mut self, _: ReloadSources, _: &mut Self::Context) {
        if let Some(tx) = &self.reload {
            tx.try_send(()).ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_tick_belongs_to_the_latest_fire_time() {
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 5, 17, 3).unwrap();
        let slot = slot_of("0 0 * * * *", now).unwrap();
        assert_eq!(slot, Utc.with_ymd_and_hms(2026, 11, 30, 5, 0, 0).unwrap());
        let next = next_fire("0 0 * * * *", now).unwrap();
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 11, 30, 6, 0, 0).unwrap());
    }
}
