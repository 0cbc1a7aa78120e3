//! `SchedulerActor`: fires each enabled source on its cron. The actor owns its whole state: a
//! timer per source in its own context (`run_later`, set for the next fire time that `croner`
//! computes), the 30 s reload interval, and the Redis subscription to source changes (a
//! stream of its context). Nothing outlives it, so its supervisor restarts all of it: after a
//! panic the sources are read again and every timer set anew. Several daemons may fire the
//! same tick; a claim per (source, tick) in MongoDB lets exactly one start the run, and a tick
//! missed while every daemon was down runs once at start. Ticks that fall in a maintenance
//! pause start nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::messages::{GetSchedulerStats, ReloadSources, SchedulerStats, SourceTickDue};
use super::pipeline::{Pipeline, Started};
use super::supervision::{guard, guard_future};
use crate::domain::Trigger;
use crate::domain::source::Source;

/// How often sources are re-read in any case (an announcement may be lost while Redis is away).
const RELOAD_EVERY: Duration = Duration::from_secs(30);
/// A tick that waits on the stores for longer is abandoned (the next tick tries again).
const TICK_LIMIT: Duration = Duration::from_secs(60);

/// The tick a moment belongs to: the latest fire time of `cron` at or before `now`.
pub fn slot_of(cron: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let c: croner::Cron = cron.parse().ok()?;
    c.find_previous_occurrence(&now, true).ok()
}

pub fn next_fire(cron: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let c: croner::Cron = cron.parse().ok()?;
    c.find_next_occurrence(&now, false).ok()
}

/// Starts a run for the tick `slot` unless another daemon already took it. The claim is kept
/// in MongoDB (`Store::claim_tick`), so a Redis that lost its data never lets a tick run twice.
pub async fn fire(p: &Pipeline, source: &Source, slot: DateTime<Utc>) {
    // A tick that falls in a maintenance pause starts nothing, and is not run after it.
    let claim = async {
        if p.pause.is_paused() {
            tracing::info!(source = %source.id, %slot, "tick skipped: paused for maintenance");
            return Ok(None);
        }
        p.store.claim_tick(&source.id, slot).await.map(Some)
    };
    match claim.await {
        Ok(None) => {}
        Ok(Some(true)) => match p
            .start_run_with(
                source,
                Trigger::Schedule,
                crate::actors::pipeline::RunOptions {
                    scheduled_for: Some(slot),
                    ..Default::default()
                },
            )
            .await
        {
            Ok(Started::Run(run)) => {
                tracing::info!(source = %source.id, run_id = %run.id, %slot, "scheduled run started")
            }
            Ok(Started::AlreadyRunning(r)) => {
                tracing::info!(source = %source.id, running = ?r, "tick skipped: a run is in progress")
            }
            Err(e) => {
                tracing::warn!(source = %source.id, error = %e, "scheduled run could not start")
            }
        },
        Ok(Some(false)) => {
            tracing::debug!(source = %source.id, %slot, "tick taken by another daemon")
        }
        Err(e) => tracing::warn!(source = %source.id, error = %e, "tick could not be claimed"),
    }
    if let Err(e) = p
        .store
        .set_next_run(&source.id, next_fire(&source.cron, Utc::now()))
        .await
    {
        tracing::warn!(source = %source.id, error = %e, "could not record the next run");
    }
}

/// The timer of tick `slot` fired.
async fn on_tick(p: Arc<Pipeline>, source_id: String, cron: String, slot: DateTime<Utc>) {
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
    if source.cron != cron {
        return; // the schedule changed meanwhile; the new timer fires the new ticks
    }
    fire(&p, &source, slot).await;
}

const NAME: &str = "scheduler";

/// A source's timer: the cron it was set from and the handle that cancels it.
struct Timer {
    cron: String,
    handle: SpawnHandle,
}

pub struct SchedulerActor {
    pipeline: Arc<Pipeline>,
    shutdown: CancellationToken,
    timers: HashMap<String, Timer>,
    /// Missed ticks are looked for once per process, at its first load.
    first_load: bool,
    /// A load is under way; `reload_again`: another was asked for meanwhile.
    loading: bool,
    reload_again: bool,
    ready: Option<tokio::sync::oneshot::Sender<()>>,
    stats: SchedulerStats,
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
            timers: HashMap::new(),
            first_load: true,
            loading: false,
            reload_again: false,
            ready: Some(tx),
            stats: SchedulerStats::default(),
        };
        (actor, rx)
    }

    fn reload(&mut self, ctx: &mut Context<Self>) {
        if self.shutdown.is_cancelled() {
            return;
        }
        if self.loading {
            self.reload_again = true;
            return;
        }
        self.loading = true;
        let p = self.pipeline.clone();
        let read = async move { p.store.list_sources().await };
        guard_future(NAME, self, ctx, read, |res, act, ctx| {
            act.loading = false;
            match res {
                Ok(sources) => act.apply(sources, ctx),
                Err(e) => tracing::warn!(error = %e, "could not read sources"),
            }
            if std::mem::take(&mut act.reload_again) {
                act.reload(ctx);
            }
        });
    }

    /// Sets a timer for every enabled source that has none (or a changed cron) and cancels
    /// those of sources gone or disabled.
    fn apply(&mut self, sources: Vec<Source>, ctx: &mut Context<Self>) {
        self.stats.loads += 1;
        let wanted: HashMap<&str, &Source> = sources
            .iter()
            .filter(|s| s.enabled)
            .map(|s| (s.id.as_str(), s))
            .collect();
        self.timers.retain(|id, t| {
            let keep = wanted.get(id.as_str()).is_some_and(|s| s.cron == t.cron);
            if !keep {
                ctx.cancel_future(t.handle);
            }
            keep
        });
        let mut added = Vec::new();
        for (id, source) in &wanted {
            if !self.timers.contains_key(*id) && self.set_timer(id, &source.cron, Utc::now(), ctx) {
                added.push(*id);
            }
        }
        let p = self.pipeline.clone();
        let next_runs: Vec<(String, Option<DateTime<Utc>>)> = added
            .iter()
            .map(|id| ((*id).to_owned(), next_fire(&wanted[id].cron, Utc::now())))
            .collect();
        let missed = (std::mem::take(&mut self.first_load)
            && p.settings.scheduler.run_missed_on_start)
            .then(|| sources.clone());
        // The first load's missed ticks start before the daemon takes requests, so a source
        // created through the API right after start is never mistaken for a missed one.
        let work = async move {
            for (id, next) in next_runs {
                p.store.set_next_run(&id, next).await.ok();
            }
            if let Some(sources) = missed {
                run_missed(&p, &sources).await;
            }
        };
        guard_future(NAME, self, ctx, work, |(), act, _| {
            if let Some(ready) = act.ready.take() {
                ready.send(()).ok();
            }
        });
    }

    /// Sets the timer of source `id` for the first fire time of `cron` after `after`.
    fn set_timer(
        &mut self,
        id: &str,
        cron: &str,
        after: DateTime<Utc>,
        ctx: &mut Context<Self>,
    ) -> bool {
        let Some(at) = next_fire(cron, after) else {
            tracing::warn!(
                source = id,
                cron,
                "invalid cron; the source is not scheduled"
            );
            return false;
        };
        let delay = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        let source_id = id.to_owned();
        let handle = ctx.run_later(delay, move |_, ctx| {
            ctx.notify(SourceTickDue { source_id, at });
        });
        self.timers.insert(
            id.to_owned(),
            Timer {
                cron: cron.to_owned(),
                handle,
            },
        );
        true
    }

    fn tick(&mut self, msg: SourceTickDue, ctx: &mut Context<Self>) {
        let Some(cron) = self.timers.get(&msg.source_id).map(|t| t.cron.clone()) else {
            return; // cancelled meanwhile
        };
        // A timer that fires late (a busy or frozen process) stands for the latest tick that
        // has passed, not for each one it missed, as at start; the next timer follows it.
        let now = Utc::now();
        let slot = slot_of(&cron, now).map_or(msg.at, |latest| latest.max(msg.at));
        self.set_timer(&msg.source_id, &cron, now.max(msg.at), ctx);
        if self.shutdown.is_cancelled() {
            return;
        }
        let source = msg.source_id.clone();
        let work = tokio::time::timeout(
            TICK_LIMIT,
            on_tick(self.pipeline.clone(), msg.source_id, cron, slot),
        );
        guard_future(NAME, self, ctx, work, move |res, _, _| {
            if res.is_err() {
                tracing::warn!(source = %source, limit = ?TICK_LIMIT, "tick abandoned: the stores did not answer in time");
            }
        });
    }
}

/// A source whose latest tick passed without a run gets that one run now (not one per missed
/// tick); the tick's lease keeps it to one daemon.
async fn run_missed(p: &Pipeline, sources: &[Source]) {
    let now = Utc::now();
    for s in sources.iter().filter(|s| s.enabled) {
        let Some(slot) = slot_of(&s.cron, now) else {
            continue;
        };
        if s.health.last_run_at.is_none_or(|last| last < slot) {
            fire(p, s, slot).await;
        }
    }
}

impl Actor for SchedulerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(RELOAD_EVERY, |act, ctx| act.reload(ctx));
        let redis = self.pipeline.redis.clone();
        let channel = redis.keys.sources_channel();
        let changes = super::subscription::messages(redis, channel, "source changes");
        ctx.add_stream(changes);
        self.reload(ctx);
    }
}

impl Supervised for SchedulerActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        // The context's timers, interval and subscription are gone; `started` sets them anew.
        tracing::warn!(instance = %self.pipeline.instance, "restarting the scheduler");
        self.timers.clear();
        self.loading = false;
        self.reload_again = false;
        self.stats.restarts += 1;
    }
}

/// An announcement on the sources channel: a reload already asked for covers it too.
impl StreamHandler<bytes::Bytes> for SchedulerActor {
    fn handle(&mut self, _: bytes::Bytes, ctx: &mut Self::Context) {
        guard(NAME, ctx, |ctx| self.reload(ctx));
    }

    fn finished(&mut self, _: &mut Self::Context) {
        // The subscription resubscribes by itself; it ends only with the actor.
    }
}

impl Handler<ReloadSources> for SchedulerActor {
    type Result = ();
    fn handle(&mut self, _: ReloadSources, ctx: &mut Self::Context) {
        guard(NAME, ctx, |ctx| self.reload(ctx));
    }
}

impl Handler<SourceTickDue> for SchedulerActor {
    type Result = ();
    fn handle(&mut self, msg: SourceTickDue, ctx: &mut Self::Context) {
        guard(NAME, ctx, |ctx| self.tick(msg, ctx));
    }
}

impl Handler<GetSchedulerStats> for SchedulerActor {
    type Result = SchedulerStats;
    fn handle(&mut self, _: GetSchedulerStats, _: &mut Self::Context) -> SchedulerStats {
        let mut stats = self.stats.clone();
        stats.scheduled = self.timers.keys().cloned().collect();
        stats.scheduled.sort();
        stats
    }
}

#[cfg(test)]
impl Handler<super::messages::Crash> for SchedulerActor {
    type Result = ();
    fn handle(&mut self, _: super::messages::Crash, ctx: &mut Self::Context) {
        guard(NAME, ctx, |_| panic!("a test asked the scheduler to panic"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::messages::Crash;
    use crate::config::{Secret, Settings};
    use crate::domain::source::Source;
    use chrono::TimeZone;

    /// Settings for the services of the test run (`TEST_MONGODB_URI`, `TEST_REDIS_URL`), with
    /// a database and key prefix of their own.
    fn service_settings() -> Settings {
        let env = |k: &str| {
            std::env::var(k).unwrap_or_else(|_| panic!("{k} must point at a test service"))
        };
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let mut s = Settings::default();
        s.mongodb.uri = Secret::new(env("TEST_MONGODB_URI"));
        s.mongodb.database = format!("test_{}", &tag[..16]);
        s.mongodb.server_selection_timeout_ms = 3_000;
        s.redis.url = Secret::new(env("TEST_REDIS_URL"));
        s.redis.prefix = format!("test:{}", &tag[..16]);
        s.scheduler.run_missed_on_start = false;
        s
    }

    fn source(id: &str) -> Source {
        Source::new(
            id,
            id,
            format!("http://127.0.0.1:9/{id}.xml"),
            "0 0 * * * *",
        )
    }

    #[test]
    fn a_scheduler_restarted_after_a_panic_reloads_its_sources() {
        let settings = service_settings();
        let (uri, db) = (
            settings.mongodb.uri.expose().to_owned(),
            settings.mongodb.database.clone(),
        );
        actix::System::new().block_on(async move {
            let p = crate::app::connect(Arc::new(settings)).await.unwrap();
            p.store.upsert_source(&source("alpha")).await.unwrap();
            let (actor, ready) = SchedulerActor::new(p.clone(), CancellationToken::new());
            let addr = Supervisor::start(move |_| actor);
            ready.await.unwrap();
            let stats = addr.send(GetSchedulerStats).await.unwrap();
            assert_eq!(stats.scheduled, ["alpha"]);
            assert_eq!((stats.loads, stats.restarts), (1, 0));

            // Added without an announcement: only a new load of the sources finds it.
            p.store.upsert_source(&source("beta")).await.unwrap();
            addr.send(Crash).await.unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            let stats = loop {
                let stats = addr.send(GetSchedulerStats).await.unwrap();
                if stats.loads >= 2 || std::time::Instant::now() > deadline {
                    break stats;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            assert_eq!(stats.restarts, 1, "restarted by its supervisor");
            assert_eq!(stats.scheduled, ["alpha", "beta"], "sources read again");
            let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
            client.database(&db).drop().await.ok();
        });
    }

    #[test]
    fn a_tick_belongs_to_the_latest_fire_time() {
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 5, 17, 3).unwrap();
        let slot = slot_of("0 0 * * * *", now).unwrap();
        assert_eq!(slot, Utc.with_ymd_and_hms(2026, 11, 30, 5, 0, 0).unwrap());
        let next = next_fire("0 0 * * * *", now).unwrap();
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 11, 30, 6, 0, 0).unwrap());
    }
}
