//! What every role shares: the stores, the queues, the fetch client, and the rules for starting
//! and ending a run (the running lease, publishing every change).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use apalis::prelude::{AbortError, BoxDynError};

use super::retry::StepError;
use crate::config::Settings;
use crate::domain::codes;
use crate::domain::events::ServerEvent;
use crate::domain::source::Source;
use crate::domain::{ClosedReason, Expiry, Failure, ImportRun, RunStatus, Trigger};
use crate::ingest::fetch::HttpFetcher;
use crate::store::mongo::expiry::{Closing, Judge};
use crate::store::mongo::runs::RunState;
use crate::store::queue::{FetchFeedTask, Queues};
use crate::store::redis::Redis;
use crate::store::run_state::{Live, RunLedger};
use crate::store::{Store, StoreError};

/// Awaits a step of a run's end and logs how long it took (at debug level).
macro_rules! timed {
    ($run_id:expr, $step:literal, $fut:expr) => {{
        let started = std::time::Instant::now();
        let out = $fut.await?;
        tracing::debug!(run_id = %$run_id, step = $step, ms = started.elapsed().as_millis() as u64, "run end step");
        out
    }};
}

pub struct Pipeline {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub redis: Redis,
    pub queues: Queues,
    pub fetcher: HttpFetcher,
    /// What runs keep in Redis (live marks, sightings, bodies, locks, leases).
    pub runs: RunLedger,
    /// Names this process in worker names and on runs (`fetchedBy`).
    pub instance: String,
    /// Whether the deployment is paused for maintenance (`actors::pause`).
    pub pause: super::pause::PauseGate,
}

/// How long a running lease may name a run this database does not have before it is taken
/// over.
const FOREIGN_LEASE_AFTER: Duration = Duration::from_secs(60);

/// How a run is started beyond its trigger.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Fetch without the source's cache validators (a replay).
    pub unconditional: bool,
    /// The run this one replays.
    pub replay_of: Option<String>,
    /// The cron tick a scheduled run is started for.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// A backfill of at most this many pages (read without validators, closing nothing).
    pub backfill_pages: Option<u32>,
}

/// What a trigger did.
pub enum Started {
    Run(Box<ImportRun>),
    /// The source already has a run queued or running (its id, when known).
    AlreadyRunning(Option<String>),
}

impl Pipeline {
    /// Starts a run of `source`: takes the source's running lease, writes the run document
    /// (queued) before anything is queued, then queues the fetch.
    pub async fn start_run(
        &self,
        source: &Source,
        trigger: Trigger,
    ) -> Result<Started, StoreError> {
        self.start_run_with(source, trigger, RunOptions::default())
            .await
    }

    /// `start_run` with options (a replay: fetched without validators).
    pub async fn start_run_with(
        &self,
        source: &Source,
        trigger: Trigger,
        options: RunOptions,
    ) -> Result<Started, StoreError> {
        let run_id = uuid::Uuid::now_v7().to_string();
        if !self.take_running_lease(&source.id, &run_id).await? {
            let holder = self.runs.running_holder(&source.id).await?;
            return Ok(Started::AlreadyRunning(holder));
        }
        let mut run = ImportRun::new_queued(
            run_id.clone(),
            &source.id,
            &source.name,
            &source.url,
            trigger,
            Utc::now(),
        );
        run.scheduled_for = options.scheduled_for;
        run.unconditional = options.unconditional;
        run.replay_of = options.replay_of;
        if let Some(pages) = options.backfill_pages {
            run.backfill = Some(crate::domain::Backfill::new(pages));
            run.unconditional = true;
        }
        if let Err(e) = self.store.insert_run(&run).await {
            // An insert whose answer was lost (the server went away after writing) may have
            // stored the run: the lease stays with it then, and the sweeper finds it without
            // work and reads its feed. Only a run certainly not stored frees the lease; when
            // that can't be told, a lease whose run never appears is freed by the next start
            // after `FOREIGN_LEASE_AFTER` (`take_running_lease`).
            match self.store.run_state(&run_id).await {
                Ok(Some(_)) => {
                    // Stored, but `insert_run` did not get to count it.
                    if let Err(e) = self.store.count_run_created(&source.id).await {
                        tracing::warn!(%run_id, error = %e, "the run was not counted");
                    }
                }
                Ok(None) => {
                    self.runs.release_running(&source.id, &run_id).await.ok();
                    return Err(e);
                }
                Err(_) => return Err(e),
            }
        }
        run.committed_at = Some(Utc::now());
        self.publish(&run).await;
        let task = FetchFeedTask {
            run_id: run_id.clone(),
            source_id: source.id.clone(),
            attempt: 1,
            resume: 0,
        };
        if let Err(e) = self.queue_fetch(task, None).await {
            let f = Failure::new(
                codes::QUEUE_UNAVAILABLE,
                format!("could not queue the fetch: {e}"),
            );
            if let Ok(Some(ended)) = self
                .store
                .end_run(&run_id, RunStatus::Failed, Some(&f), &[])
                .await
            {
                self.on_final(&ended).await;
            }
            return Err(e);
        }
        Ok(Started::Run(Box::new(run)))
    }

    /// Queues a run's fetch, noting its task id on the run's live mark first (the sweeper
    /// tells a fetch that waits in the queue from one that was lost by it).
    pub async fn queue_fetch(
        &self,
        task: FetchFeedTask,
        delay: Option<Duration>,
    ) -> Result<(), StoreError> {
        self.runs
            .note_fetch_task(&task.run_id, &task.task_id())
            .await?;
        self.queues.push_fetch(task, delay).await
    }

    /// Runs `work` (a read-then-write of one run's document) while holding that run's lock.
    ///
    /// Writers of a run are serialized here rather than by the database: MongoDB applies one
    /// update atomically, but MongoDB-compatible servers (FerretDB 1.x) may not, and a lost
    /// `$inc` would make the counts wrong. The futures are lazy, so nothing runs before the
    /// lock is held.
    pub async fn with_run_lock<T>(
        &self,
        run_id: &str,
        work: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.runs.with_lock(run_id, work).await
    }

    /// Ends a run (failed, not_modified) under its lock and does what follows. The batches
    /// its current generation recorded so far are folded into the run first.
    pub async fn end(
        &self,
        run_id: &str,
        status: RunStatus,
        error: Option<&Failure>,
    ) -> Result<(), StoreError> {
        let ending = async {
            // First: from now on a worker reads the run's document to learn whether its batch
            // is still wanted (see `live`).
            self.runs.drop_live(run_id).await?;
            let generation = self
                .store
                .run_state(run_id)
                .await?
                .map_or(0, |s| s.generation);
            let records = self.store.batch_records(run_id, generation).await?;
            let ended = self.store.end_run(run_id, status, error, &records).await?;
            Ok(ended.map(|r| (r, generation)))
        };
        let ended = self.with_run_lock(run_id, ending).await?;
        self.after_end(ended).await;
        Ok(())
    }

    /// After a batch of `generation` is recorded (`done` of its batches are, by the Redis
    /// count): ends the run when that was the last one, else folds the records into the run
    /// document when nobody has for a second (progress for the dashboard).
    pub async fn batch_recorded(
        &self,
        run_id: &str,
        generation: u32,
        done: u64,
        known_total: Option<u32>,
    ) -> Result<(), StoreError> {
        // Read after the batch was counted: the fetcher writes the total before it checks the
        // count, so one of the two sees the other's write.
        let total = match known_total {
            Some(t) => Some(i64::from(t)),
            None => self
                .store
                .run_state(run_id)
                .await?
                .filter(|s| s.generation == generation)
                .and_then(|s| s.batches_total),
        };
        if total.is_some_and(|t| done >= t.max(0) as u64) {
            return self.complete_if_done(run_id).await;
        }
        if !self.runs.take_fold(run_id, &self.instance).await? {
            return Ok(());
        }
        let folding = async {
            let records = self.store.batch_records(run_id, generation).await?;
            self.store.fold_batches(run_id, generation, &records).await
        };
        let folded = self.with_run_lock(run_id, folding).await?;
        if let Some(run) = &folded {
            // A run that makes progress keeps its source's lease.
            self.runs
                .renew_running(&run.source_id, run_id, Duration::ZERO)
                .await?;
        }
        self.changed(folded).await;
        Ok(())
    }

    /// Ends the run if every batch of its current generation is in. For a complete run, jobs
    /// of its source that it did not see move towards closing first (the count goes on the
    /// run), and the validators of the body it read are saved on its source.
    pub async fn complete_if_done(&self, run_id: &str) -> Result<(), StoreError> {
        let done = self
            .with_run_lock(run_id, self.complete_locked(run_id))
            .await?;
        self.after_end(done).await;
        Ok(())
    }

    /// Where a worker learns what a run wants: its live mark in Redis, or (without one) its
    /// document. `None` when the run no longer exists or has ended.
    pub async fn live(&self, run_id: &str) -> Result<Option<Live>, StoreError> {
        if let Some(live) = self.runs.live(run_id).await? {
            return Ok(Some(live));
        }
        let Some(state) = self.store.run_state(run_id).await? else {
            return Ok(None);
        };
        if state.status.is_final() {
            return Ok(None);
        }
        Ok(Some(Live {
            generation: Some(state.generation),
            total: state.batches_total.map(|t| t.max(0) as u32),
        }))
    }

    /// What follows a run's end: publish it, free its source, and drop what the run kept
    /// beside its document (its batch records and Redis keys).
    async fn after_end(&self, ended: Option<(ImportRun, u32)>) {
        let Some((run, generation)) = ended else {
            return;
        };
        let run_id = run.id.clone();
        // What follows the end (source health, the lease) first: it is what users see next.
        self.changed(Some(run)).await;
        if let Err(e) = self.store.delete_batch_records(&run_id).await {
            tracing::warn!(%run_id, error = %e, "could not delete the batch records of an ended run");
        }
        if let Err(e) = self.runs.forget(&run_id, generation).await {
            tracing::warn!(%run_id, error = %e, "could not drop what an ended run kept in Redis");
        }
    }

    async fn complete_locked(&self, run_id: &str) -> Result<Option<(ImportRun, u32)>, StoreError> {
        let Some(state) = self.store.run_state(run_id).await? else {
            return Ok(None);
        };
        let Some(total) = state.batches_total else {
            return Ok(None);
        };
        if state.status != RunStatus::Running {
            return Ok(None);
        }
        let generation = state.generation;
        let mut records = timed!(
            run_id,
            "batch_records",
            self.store.batch_records(run_id, generation)
        );
        records.retain(|r| r.batch_no < total);
        if (records.len() as i64) < total {
            return Ok(None);
        }
        let Some(run) = timed!(run_id, "get_run", self.store.get_run(run_id)) else {
            return Ok(None);
        };
        let Some(closing) = timed!(
            run_id,
            "close_on_completion",
            self.close_on_completion(&run, &state)
        ) else {
            return Ok(None);
        };
        // Saved before the run says it completed (a reader who sees it completed finds the
        // source's validators), and only for a run that completes (not a partial one).
        if let Some(v) = &state.validators
            && ImportRun::final_status(run.error.is_some()) == RunStatus::Completed
        {
            timed!(
                run_id,
                "save_validators",
                self.store.save_validators(&run.source_id, v)
            );
        }
        let completed = timed!(
            run_id,
            "complete_run",
            self.store
                .complete_run(&run, generation, &records, &closing)
        );
        Ok(completed.map(|r| (r, generation)))
    }

    /// What a run's end does to the jobs of its source it did not list, by the source's expiry
    /// mode and the window its read covered (see `domain::expiry`). Only a complete run (no
    /// run-level error) closes or reopens anything. `None` when the run cannot be judged now
    /// (its sightings are gone from Redis: the sweeper reads it again).
    async fn close_on_completion(
        &self,
        run: &ImportRun,
        state: &RunState,
    ) -> Result<Option<Closing>, StoreError> {
        let run_id = run.id.as_str();
        let generation = state.generation;
        let total = state.batches_total.unwrap_or(0);
        let mut closing = Closing {
            window: run.window.clone(),
            ..Default::default()
        };
        // A backfill is no complete read of the feed (nor its newest window): it closes
        // nothing and leaves the source's window as it was.
        if run.backfill.is_some() {
            return Ok(Some(closing));
        }
        // The feed's own expiry dates need no complete read: any run that ends closes its
        // source's jobs whose date has passed.
        let store = self.store.at_epoch(state.index_epoch.as_deref());
        let expired = timed!(
            run_id,
            "close_expired",
            store.close_expired(Some(&run.source_id), Some(run_id), Utc::now())
        );
        closing.add(ClosedReason::Expired, expired);
        if run.error.is_some() {
            store
                .record_run_end_changes(&run.source_id, run_id, closing.closed(), 0)
                .await?;
            return Ok(Some(closing));
        }
        let expiry = self
            .store
            .get_source(&run.source_id)
            .await?
            .map(|s| s.expiry)
            .unwrap_or_default();
        let after = self.settings.pipeline.close_after_missed_runs;
        let judges_absence = after > 0 && expiry != Expiry::Never;
        if (judges_absence || closing.window.as_ref().is_some_and(|w| w.undated > 0))
            && !self.runs.has_seen(run_id, generation).await?
            && total > 0
        {
            // Redis lost what the feed carried: closing would close every job. The run is
            // read again by the sweeper instead (its batches are recorded, so nothing
            // else is lost).
            tracing::warn!(%run_id, "the run's sightings are gone from Redis; it will be read again");
            return Ok(None);
        }
        let mut window = closing.window.take().unwrap_or_default();
        if window.undated > 0 {
            let seen = self.runs.seen(run_id, generation).await?;
            self.store.widen_by_first_seen(&mut window, &seen).await?;
        }
        if judges_absence {
            let seen_key = self.runs.seen_key(run_id, generation);
            let closed_key = self.runs.closed_key(run_id);
            let seen = async || self.runs.seen(run_id, generation).await;
            let judge = Judge {
                expiry,
                window: &window,
            };
            let closed = store.close_missing_indexed(
                &run.source_id,
                run_id,
                &seen_key,
                &closed_key,
                seen,
                after,
                &judge,
            );
            let closed = timed!(run_id, "close_missing", closed);
            closing.add(ClosedReason::MissingFromFeed, closed);
        }
        // Jobs this run listed that another source's run closed while it read open again.
        let since = run
            .started_at
            .unwrap_or(run.import_date_time)
            .min(run.import_date_time)
            - chrono::Duration::seconds(60);
        let listed = async || self.runs.seen(run_id, generation).await;
        let relisted = timed!(
            run_id,
            "reopen_listed",
            store.reopen_listed(
                &run.source_id,
                run_id,
                &crate::domain::time::format(&since),
                listed
            )
        );
        if expiry == Expiry::Window {
            closing.reopened = timed!(
                run_id,
                "rejudge",
                store.rejudge_outside_window(&run.source_id, run_id, &window)
            );
        }
        timed!(
            run_id,
            "save_window",
            self.store.save_window(&run.source_id, &window)
        );
        timed!(
            run_id,
            "record_changes",
            store.record_run_end_changes(
                &run.source_id,
                run_id,
                closing.closed(),
                closing.reopened
            )
        );
        closing.reopened += relisted;
        closing.window = Some(window);
        Ok(Some(closing))
    }

    /// A step that will not be tried again: the run fails with the reason (when the stores
    /// let us say so; otherwise the sweeper ends it later), and the queue is told not to
    /// deliver the task again.
    pub async fn give_up(&self, run_id: &str, what: &str, e: StepError) -> BoxDynError {
        let failure = match &e {
            StepError::Store(se) => {
                Failure::new(se.code(), format!("{what} could not be stored: {se}"))
            }
            StepError::Panicked(m) => {
                Failure::new(codes::INTERNAL, format!("{what} stopped on a bug: {m}"))
            }
        };
        tracing::error!(%run_id, code = %failure.code, reason = %failure.message, "giving up");
        if let Err(end_err) = self.end(run_id, RunStatus::Failed, Some(&failure)).await {
            tracing::warn!(%run_id, error = %end_err, "could not fail the run; the sweeper will");
        }
        Box::new(AbortError::new(std::io::Error::other(failure.message)))
    }

    /// Takes the source's running lease. A lease whose run has already ended (its holder is
    /// releasing it right now, or died before it could) is freed and taken.
    async fn take_running_lease(&self, source_id: &str, run_id: &str) -> Result<bool, StoreError> {
        if self.runs.take_running(source_id, run_id).await? {
            return Ok(true);
        }
        let Some(holder) = self.runs.running_holder(source_id).await? else {
            return self.runs.take_running(source_id, run_id).await;
        };
        // A holder whose run is not stored yet is between taking the lease and writing the run
        // (milliseconds); one whose run this database never had for a minute is another
        // database's (a fresh or restored database under the same Redis).
        let ended = match self.store.run_state(&holder).await? {
            Some(run) => run.status.is_final(),
            None => self
                .runs
                .running_lease_age(source_id)
                .await?
                .is_some_and(|age| age > FOREIGN_LEASE_AFTER),
        };
        if !ended {
            return Ok(false);
        }
        self.runs.release_running(source_id, &holder).await?;
        self.runs.take_running(source_id, run_id).await
    }

    /// Sends a run's new state to every daemon's broker. Losing one publish is tolerable: every
    /// update carries the run's version, and clients catch up from MongoDB.
    pub async fn publish(&self, run: &ImportRun) {
        if let Err(e) = self.store.feed_run(run).await {
            tracing::warn!(run_id = %run.id, error = %e, "could not append a run to the run feed");
        }
        match update_event(run) {
            Ok(json) => {
                if let Err(e) = self
                    .redis
                    .publish(&self.redis.keys.history_channel(), &json)
                    .await
                {
                    tracing::warn!(run_id = %run.id, error = %e, "could not publish a run update");
                }
            }
            Err(e) => tracing::error!(run_id = %run.id, error = %e, "could not serialize a run"),
        }
    }

    /// Tells every daemon's scheduler to re-read the sources now rather than at its next
    /// periodic read. Losing the message only delays the change until then.
    pub async fn sources_changed(&self) {
        if let Err(e) = self
            .redis
            .publish(&self.redis.keys.sources_channel(), "changed")
            .await
        {
            tracing::warn!(error = %e, "could not announce a change of sources");
        }
    }

    /// Everything that follows a run's end: publish, free the source, fold into its health.
    pub async fn on_final(&self, run: &ImportRun) {
        self.publish(run).await;
        if let Err(e) = self.runs.release_running(&run.source_id, &run.id).await {
            tracing::warn!(run_id = %run.id, error = %e, "could not release the running lease");
        }
        if let Err(e) = self.store.record_source_outcome(run).await {
            tracing::warn!(run_id = %run.id, error = %e, "could not update source health");
        }
        if let Err(e) = crate::alerts::on_run_end(&self.store, &self.settings.alerts, run).await {
            tracing::warn!(run_id = %run.id, error = %e, "could not judge the run for alerts");
        }
        tracing::info!(
            run_id = %run.id, source = %run.source_id, status = run.status.as_str(),
            fetched = run.total_fetched, new = run.new_jobs, updated = run.updated_jobs,
            unchanged = run.unchanged_jobs, failed = run.failed_jobs, "run ended"
        );
    }

    /// Publishes a change and, when it ended the run, does the rest.
    pub async fn changed(&self, run: Option<ImportRun>) {
        if let Some(run) = run {
            if run.status.is_final() {
                self.on_final(&run).await;
            } else {
                self.publish(&run).await;
            }
        }
    }
}

/// The `import_history_update` event of a run, as published and as every client receives it:
/// `{"event": "import_history_update", "data": <the run without its batches>, "committedAt":
/// <when the database acknowledged this version, microseconds>}`. `committedAt` sits beside
/// the document, not in it, so a client's copy of the run stays equal to the stored one.
pub fn update_event(run: &ImportRun) -> serde_json::Result<String> {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Update<'a> {
        #[serde(flatten)]
        event: ServerEvent,
        #[serde(skip_serializing_if = "Option::is_none")]
        committed_at: Option<&'a str>,
    }
    let mut slim = run.clone();
    slim.batches.clear();
    let committed = run
        .committed_at
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    serde_json::to_string(&Update {
        event: ServerEvent::ImportHistoryUpdate(Box::new(slim)),
        committed_at: committed.as_deref(),
    })
}
