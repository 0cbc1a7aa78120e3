//! What every role shares: the stores, the queues, the fetch client, and the rules for starting
//! and ending a run (the running lease, publishing every change).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use apalis::prelude::{AbortError, BoxDynError};

use super::retry::StepError;
use crate::config::Settings;
use crate::domain::codes;
use crate::domain::events::ServerEvent;
use crate::domain::source::Source;
use crate::domain::{Failure, ImportRun, RunStatus, Trigger};
use crate::ingest::fetch::HttpFetcher;
use crate::store::queue::{FetchFeedTask, Queues};
use crate::store::redis::Redis;
use crate::store::{Store, StoreError};

/// A run's lock is held for milliseconds; the TTL only matters when its holder dies.
const RUN_LOCK_TTL: Duration = Duration::from_secs(30);
const RUN_LOCK_WAIT: Duration = Duration::from_secs(20);

/// Progress of a run is folded into its document at most this often.
const FOLD_EVERY: Duration = Duration::from_secs(1);

/// How long a run's live marker (`Keys::live`) outlives a daemon that died mid-run.
const LIVE_TTL: Duration = Duration::from_secs(2 * 24 * 3600);

/// How long a source stays marked as running when its daemon dies without ending the run.
const RUNNING_LEASE: Duration = Duration::from_secs(30 * 60);

pub struct Pipeline {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub redis: Redis,
    pub queues: Queues,
    pub fetcher: HttpFetcher,
    /// Names this process in worker names and on runs (`fetchedBy`).
    pub instance: String,
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
        let run_id = uuid::Uuid::now_v7().to_string();
        let lease = self.redis.keys.running_lease(&source.id);
        if !self.take_running_lease(&lease, &run_id).await? {
            let holder = self.redis.lease_holder(&lease).await?;
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
        if let Err(e) = self.store.insert_run(&run).await {
            self.redis.release_lease(&lease, &run_id).await.ok();
            return Err(e);
        }
        run.committed_at = Some(Utc::now());
        self.publish(&run).await;
        let task = FetchFeedTask {
            run_id: run_id.clone(),
            source_id: source.id.clone(),
            attempt: 1,
            generation: 0,
        };
        if let Err(e) = self
            .queues
            .push_fetch(task, &format!("run:{run_id}:0:1"), None)
            .await
        {
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
        let key = self.redis.keys.run_lock(run_id);
        let Some(token) = self
            .redis
            .acquire(&key, RUN_LOCK_TTL, RUN_LOCK_WAIT)
            .await?
        else {
            return Err(StoreError::Queue(format!(
                "run {run_id} stayed locked for {RUN_LOCK_WAIT:?}"
            )));
        };
        let out = work.await;
        if let Err(e) = self.redis.release_lease(&key, &token).await {
            tracing::warn!(%run_id, error = %e, "could not release a run lock; it expires by itself");
        }
        out
    }

    /// Ends a run (failed, not_modified) under its lock and does what follows. The batches
    /// recorded so far are folded into the run first.
    pub async fn end(
        &self,
        run_id: &str,
        status: RunStatus,
        error: Option<&Failure>,
    ) -> Result<(), StoreError> {
        let ending = async {
            // First: from now on a worker reads the run's document to learn whether its batch
            // is still wanted (see `live_total`).
            self.redis.delete(&self.redis.keys.live(run_id)).await?;
            let records = self.store.batch_records(run_id).await?;
            self.store.end_run(run_id, status, error, &records).await
        };
        let ended = self.with_run_lock(run_id, ending).await?;
        let is_end = ended.is_some();
        self.changed(ended).await;
        if is_end {
            self.forget(run_id).await;
        }
        Ok(())
    }

    /// After a batch is recorded (`done` batches of the run are, by the Redis count): ends the
    /// run when that was the last one, else folds the records into the run document when
    /// nobody has for a second (progress for the dashboard).
    pub async fn batch_recorded(
        &self,
        run_id: &str,
        done: u64,
        known_total: Option<i64>,
    ) -> Result<(), StoreError> {
        // Read after the batch was counted: the fetcher writes the total before it checks the
        // count, so one of the two sees the other's write.
        let total = match known_total {
            Some(t) => Some(t),
            None => self
                .store
                .run_state(run_id)
                .await?
                .and_then(|s| s.batches_total),
        };
        if total.is_some_and(|t| done >= t.max(0) as u64) {
            return self.complete_if_done(run_id).await;
        }
        let lease = self.redis.keys.fold_lease(run_id);
        if !self
            .redis
            .try_lease(&lease, &self.instance, FOLD_EVERY)
            .await?
        {
            return Ok(());
        }
        let folding = async {
            let records = self.store.batch_records(run_id).await?;
            self.store.fold_batches(run_id, &records).await
        };
        let folded = self.with_run_lock(run_id, folding).await?;
        self.changed(folded).await;
        Ok(())
    }

    /// Ends the run if every batch is in. For a complete run, jobs of its source that it did
    /// not see move towards closing first (the count goes on the run).
    pub async fn complete_if_done(&self, run_id: &str) -> Result<(), StoreError> {
        let done = self
            .with_run_lock(run_id, self.complete_locked(run_id))
            .await?;
        let is_end = done.is_some();
        // What follows the end (source health, the lease) first: it is what users see next.
        self.changed(done).await;
        if is_end {
            self.forget(run_id).await;
        }
        Ok(())
    }

    /// Marks a run live for its workers; called under the run's lock, right after its document
    /// said it runs. Only `end` (under the same lock) and `forget` delete the mark, so while it
    /// exists the run has not ended (or is ending at this moment, which a batch can always
    /// overlap: a worker's check and its writes are not one step).
    pub async fn mark_live(&self, run_id: &str) -> Result<(), StoreError> {
        let key = self.redis.keys.live(run_id);
        self.redis.set_field(&key, "fetch", "1", LIVE_TTL).await
    }

    /// Notes the run's batch count on its live mark; under the run's lock, once the run's
    /// document has it.
    pub async fn mark_live_total(&self, run_id: &str, total: u32) -> Result<(), StoreError> {
        let key = self.redis.keys.live(run_id);
        self.redis
            .set_field(&key, "total", &total.to_string(), LIVE_TTL)
            .await
    }

    /// What a worker needs before a batch, from Redis: `Some(total)` while the run is live
    /// (the batch count when the feed has been read), `None` when it is not marked live (it
    /// has ended, or Redis lost the mark, or an earlier version started it): then the run's
    /// document says.
    pub async fn live_total(&self, run_id: &str) -> Result<Option<Option<i64>>, StoreError> {
        let key = self.redis.keys.live(run_id);
        Ok(self
            .redis
            .field_if_exists(&key, "total")
            .await?
            .map(|t| t.and_then(|t| t.parse().ok())))
    }

    /// What a run keeps only while it is in progress: its batch records, Redis sets and the
    /// bodies of its queued postings.
    async fn forget(&self, run_id: &str) {
        if let Err(e) = self.store.delete_batch_records(run_id).await {
            tracing::warn!(%run_id, error = %e, "could not delete the batch records of an ended run");
        }
        let keys = &self.redis.keys;
        for key in [
            keys.live(run_id),
            keys.seen_set(run_id),
            keys.done_set(run_id),
            keys.closed_set(run_id),
            keys.bodies(run_id),
        ] {
            self.redis.delete(&key).await.ok();
        }
    }

    async fn complete_locked(&self, run_id: &str) -> Result<Option<ImportRun>, StoreError> {
        let Some(run) = self.store.get_run(run_id).await? else {
            return Ok(None);
        };
        let Some(total) = run.batches_total else {
            return Ok(None);
        };
        if run.status != RunStatus::Running {
            return Ok(None);
        }
        let mut records = self.store.batch_records(run_id).await?;
        records.retain(|r| r.batch_no < total);
        if (records.len() as i64) < total {
            return Ok(None);
        }
        let after = self.settings.pipeline.close_after_missed_runs;
        let closed = if run.error.is_none() && after > 0 {
            let seen_key = self.redis.keys.seen_set(run_id);
            let closed_key = self.redis.keys.closed_set(run_id);
            let seen = async || self.redis.set_members(&seen_key).await;
            self.store
                .close_missing_indexed(&run.source_id, run_id, &seen_key, &closed_key, seen, after)
                .await?
        } else {
            0
        };
        self.store.complete_run(&run, &records, closed).await
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
    async fn take_running_lease(&self, lease: &str, run_id: &str) -> Result<bool, StoreError> {
        if self.redis.try_lease(lease, run_id, RUNNING_LEASE).await? {
            return Ok(true);
        }
        let Some(holder) = self.redis.lease_holder(lease).await? else {
            return self.redis.try_lease(lease, run_id, RUNNING_LEASE).await;
        };
        // A holder whose run is not stored yet is between taking the lease and writing the run.
        let ended = match self.store.get_run(&holder).await? {
            Some(run) => run.status.is_final(),
            None => false,
        };
        if !ended {
            return Ok(false);
        }
        self.redis.release_lease(lease, &holder).await?;
        self.redis.try_lease(lease, run_id, RUNNING_LEASE).await
    }

    /// Sends a run's new state to every daemon's broker. Losing one publish is tolerable: every
    /// update carries the run's version, and clients catch up from MongoDB.
    pub async fn publish(&self, run: &ImportRun) {
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
        let lease = self.redis.keys.running_lease(&run.source_id);
        if let Err(e) = self.redis.release_lease(&lease, &run.id).await {
            tracing::warn!(run_id = %run.id, error = %e, "could not release the running lease");
        }
        if let Err(e) = self.store.record_source_outcome(run).await {
            tracing::warn!(run_id = %run.id, error = %e, "could not update source health");
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
