//! Everything a run keeps in Redis beside its document in MongoDB, and the only place its keys
//! are built. MongoDB holds the record (the run document, its batch records, the jobs); what
//! is here only makes the work cheap, and losing any of it costs a resume, never a job.
//!
//! A run is read by one or more *generations*: each execution of its fetch claims the next
//! generation number on the run document (`Store::mark_running`), reads the whole feed, and
//! queues its items in batches numbered from 0. Everything below that belongs to one feed
//! read is keyed by generation, so a second read (a retry, a redelivered fetch, a resume)
//! never overwrites what the batches of another read will use, and only the batches of the
//! run's current generation count.
//!
//! Key layout, under the deployment's prefix `{p}`:
//!
//! | key | type | what |
//! |---|---|---|
//! | `{p}:lease:running:{source}` | string | the source's running lease: the id of its queued or running run |
//! | `{p}:lock:run:{run}` | string | the run's write lock (a token; renewed while held) |
//! | `{p}:lease:fold:{run}` | string | who folds the run's progress into its document this second |
//! | `{p}:run:{run}` | hash | the live mark: `gen` (current generation), `total` (its batch count once read), `fetch` (queue id of its latest fetch task) |
//! | `{p}:run:{run}:{gen}:seen` | set | stored ids of the jobs the generation's feed carried |
//! | `{p}:run:{run}:{gen}:done` | set | numbers of the generation's recorded batches |
//! | `{p}:run:{run}:{gen}:bodies` | hash | batch number → the batch's postings (BSON) |
//! | `{p}:run:{run}:{gen}:tasks` | hash | batch number → the batch's queue task id |
//! | `{p}:run:{run}:closed` | set | the jobs the run closed (a repeated completion reports the same count) |
//!
//! Every key of a run expires after `RUN_TTL` at the latest and is deleted when the run ends.
//! Keys of the previous layout (`{p}:live:{run}`, `{p}:seen:{run}`, `{p}:done:{run}`,
//! `{p}:closed:{run}`, `{p}:bodies:{run}`) are deleted with the run too.

use std::collections::HashSet;
use std::time::Duration;

use redis::AsyncCommands;

use super::StoreError;
use super::redis::Redis;

/// How long anything a run keeps in Redis outlives a daemon that died mid-run.
pub const RUN_TTL: Duration = Duration::from_secs(2 * 24 * 3600);

/// The run lock's time to live; its holder renews it every third of that while it works.
const RUN_LOCK_TTL: Duration = Duration::from_secs(30);
const RUN_LOCK_WAIT: Duration = Duration::from_secs(20);

/// How long a source stays marked as running when its daemon dies without ending the run.
/// Renewed whenever the run makes progress, and stretched over a long `Retry-After`.
pub const RUNNING_LEASE: Duration = Duration::from_secs(30 * 60);

/// Renews a key's TTL only while `value` holds it.
const RENEW_IF_HELD: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/// A member of every read's set of sightings (no job id is `*`).
const SEEN_MARK: &str = "*";

/// The live mark of a run, as workers read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    /// The generation whose batches count; `None` before a fetch started.
    pub generation: Option<u32>,
    /// That generation's batch count, once its feed has been read.
    pub total: Option<u32>,
}

/// The Redis side of runs (see the module documentation for the layout).
#[derive(Clone)]
pub struct RunLedger {
    redis: Redis,
    lock_ttl: Duration,
}

impl RunLedger {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            lock_ttl: RUN_LOCK_TTL,
        }
    }

    /// The run lock's time to live (renewed every third of it while held).
    pub fn with_lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
        self
    }

    fn p(&self) -> &str {
        self.redis.keys.prefix()
    }

    pub fn running_lease_key(&self, source_id: &str) -> String {
        format!("{}:lease:running:{source_id}", self.p())
    }
    fn lock_key(&self, run_id: &str) -> String {
        format!("{}:lock:run:{run_id}", self.p())
    }
    fn fold_key(&self, run_id: &str) -> String {
        format!("{}:lease:fold:{run_id}", self.p())
    }
    fn live_key(&self, run_id: &str) -> String {
        format!("{}:run:{run_id}", self.p())
    }
    fn gen_key(&self, run_id: &str, generation: u32, what: &str) -> String {
        format!("{}:run:{run_id}:{generation}:{what}", self.p())
    }
    pub fn seen_key(&self, run_id: &str, generation: u32) -> String {
        self.gen_key(run_id, generation, "seen")
    }
    fn done_key(&self, run_id: &str, generation: u32) -> String {
        self.gen_key(run_id, generation, "done")
    }
    fn bodies_key(&self, run_id: &str, generation: u32) -> String {
        self.gen_key(run_id, generation, "bodies")
    }
    fn tasks_key(&self, run_id: &str, generation: u32) -> String {
        self.gen_key(run_id, generation, "tasks")
    }
    pub fn closed_key(&self, run_id: &str) -> String {
        format!("{}:run:{run_id}:closed", self.p())
    }
    /// Keys of the previous layout, deleted with their run.
    fn legacy_keys(&self, run_id: &str) -> [String; 5] {
        let p = self.p();
        ["live", "seen", "done", "closed", "bodies"].map(|k| format!("{p}:{k}:{run_id}"))
    }

    // ---- the running lease of a source ----

    /// Takes the source's running lease for `run_id`: true when it is now held.
    pub async fn take_running(&self, source_id: &str, run_id: &str) -> Result<bool, StoreError> {
        let key = self.running_lease_key(source_id);
        self.redis.try_lease(&key, run_id, RUNNING_LEASE).await
    }

    /// The run holding the source's running lease, if any.
    pub async fn running_holder(&self, source_id: &str) -> Result<Option<String>, StoreError> {
        self.redis
            .lease_holder(&self.running_lease_key(source_id))
            .await
    }

    /// How long ago the source's running lease was taken or last renewed (from its TTL).
    pub async fn running_lease_age(&self, source_id: &str) -> Result<Option<Duration>, StoreError> {
        let mut c = self.redis.conn.clone();
        let ttl: i64 = c.pttl(self.running_lease_key(source_id)).await?;
        if ttl < 0 {
            return Ok(None);
        }
        Ok(Some(
            RUNNING_LEASE.saturating_sub(Duration::from_millis(ttl as u64)),
        ))
    }

    /// Frees the source's running lease if `run_id` holds it.
    pub async fn release_running(&self, source_id: &str, run_id: &str) -> Result<(), StoreError> {
        let key = self.running_lease_key(source_id);
        self.redis.release_lease(&key, run_id).await
    }

    /// Keeps the source's running lease for `run_id` at least `ttl` longer (a run waiting on a
    /// long `Retry-After` stretches it past its wait). No effect when another run holds it.
    pub async fn renew_running(
        &self,
        source_id: &str,
        run_id: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = self.running_lease_key(source_id);
        self.renew(&key, run_id, ttl.max(RUNNING_LEASE)).await?;
        Ok(())
    }

    async fn renew(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut c = self.redis.conn.clone();
        let n: i64 = redis::Script::new(RENEW_IF_HELD)
            .key(key)
            .arg(value)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut c)
            .await?;
        Ok(n == 1)
    }

    // ---- the run's write lock ----

    /// Runs `work` while holding the run's lock, renewing the lock every third of its TTL
    /// while `work` runs, so a slow step (closing the jobs of a large source) never lets a
    /// second writer in. The futures are lazy, so nothing runs before the lock is held.
    pub async fn with_lock<T>(
        &self,
        run_id: &str,
        work: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let key = self.lock_key(run_id);
        let Some(token) = self
            .redis
            .acquire(&key, self.lock_ttl, RUN_LOCK_WAIT)
            .await?
        else {
            return Err(StoreError::Queue(format!(
                "run {run_id} stayed locked for {RUN_LOCK_WAIT:?}"
            )));
        };
        let renewing = async {
            let mut tick = tokio::time::interval(self.lock_ttl / 3);
            tick.tick().await;
            loop {
                tick.tick().await;
                match self.renew(&key, &token, self.lock_ttl).await {
                    Ok(true) => {}
                    Ok(false) => {
                        // The work goes on: every write it makes is conditional on the run's
                        // state, so a second writer cannot make it count twice.
                        tracing::error!(%run_id, "a run lock was lost while held");
                        std::future::pending::<()>().await;
                    }
                    Err(e) => tracing::warn!(%run_id, error = %e, "could not renew a run lock"),
                }
            }
        };
        let out = tokio::select! {
            out = work => out,
            () = renewing => unreachable!("the renewal loop never ends"),
        };
        if let Err(e) = self.redis.release_lease(&key, &token).await {
            tracing::warn!(%run_id, error = %e, "could not release a run lock; it expires by itself");
        }
        out
    }

    /// Takes the run's fold lease for a second: true when this caller should fold now.
    pub async fn take_fold(&self, run_id: &str, instance: &str) -> Result<bool, StoreError> {
        self.redis
            .try_lease(&self.fold_key(run_id), instance, Duration::from_secs(1))
            .await
    }

    // ---- the live mark ----

    /// Notes the queue id of the run's latest fetch task (before it is queued), so the sweeper
    /// can tell a fetch that waits in the queue from one that was lost.
    pub async fn note_fetch_task(&self, run_id: &str, task_id: &str) -> Result<(), StoreError> {
        self.redis
            .set_field(&self.live_key(run_id), "fetch", task_id, RUN_TTL)
            .await
    }

    /// Marks `generation` as the run's current one (its fetch has just claimed it); under the
    /// run's lock, right after the run's document says so.
    pub async fn start_generation(&self, run_id: &str, generation: u32) -> Result<(), StoreError> {
        let key = self.live_key(run_id);
        let mut c = self.redis.conn.clone();
        let _: () = redis::pipe()
            .hset(&key, "gen", generation)
            .ignore()
            .hdel(&key, "total")
            .ignore()
            .expire(&key, RUN_TTL.as_secs() as i64)
            .ignore()
            .query_async(&mut c)
            .await?;
        Ok(())
    }

    /// Notes the batch count of `generation` once its feed is read; under the run's lock.
    pub async fn set_total(
        &self,
        run_id: &str,
        generation: u32,
        total: u32,
    ) -> Result<(), StoreError> {
        let key = self.live_key(run_id);
        let mut c = self.redis.conn.clone();
        // Only for the generation that is still current.
        let script = redis::Script::new(
            "if redis.call('HGET', KEYS[1], 'gen') == ARGV[1] then redis.call('HSET', KEYS[1], 'total', ARGV[2]) end return 0",
        );
        let _: i64 = script
            .key(&key)
            .arg(generation)
            .arg(total)
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }

    /// The live mark, `None` when there is none (the run ended, Redis lost it, or an earlier
    /// version started the run): then the run's document says.
    pub async fn live(&self, run_id: &str) -> Result<Option<Live>, StoreError> {
        let mut c = self.redis.conn.clone();
        let (gen_, total): (Option<u32>, Option<u32>) = redis::cmd("HMGET")
            .arg(self.live_key(run_id))
            .arg("gen")
            .arg("total")
            .query_async(&mut c)
            .await?;
        Ok(gen_.map(|g| Live {
            generation: Some(g),
            total,
        }))
    }

    /// The queue id of the run's latest fetch task.
    pub async fn fetch_task(&self, run_id: &str) -> Result<Option<String>, StoreError> {
        let mut c = self.redis.conn.clone();
        Ok(c.hget(self.live_key(run_id), "fetch").await?)
    }

    /// Drops the live mark: from now on a worker reads the run's document.
    pub async fn drop_live(&self, run_id: &str) -> Result<(), StoreError> {
        self.redis.delete(&self.live_key(run_id)).await
    }

    // ---- one generation's batches ----

    /// Stores a batch's postings and notes the stored ids its feed carried, before the batch
    /// is queued.
    pub async fn put_batch(
        &self,
        run_id: &str,
        generation: u32,
        batch_no: u32,
        ids: &[String],
        bodies: &[u8],
    ) -> Result<(), StoreError> {
        // `*` makes the set exist even for a batch of failed items only (see `has_seen`).
        let mut members = Vec::with_capacity(ids.len() + 1);
        members.extend_from_slice(ids);
        members.push(SEEN_MARK.to_owned());
        self.redis
            .add_to_set_and_hash(
                &self.seen_key(run_id, generation),
                &members,
                &self.bodies_key(run_id, generation),
                &batch_no.to_string(),
                bodies,
                RUN_TTL,
            )
            .await
    }

    /// Notes the queue id of a queued batch (for the sweeper).
    pub async fn note_batch_task(
        &self,
        run_id: &str,
        generation: u32,
        batch_no: u32,
        task_id: &str,
    ) -> Result<(), StoreError> {
        self.redis
            .set_field(
                &self.tasks_key(run_id, generation),
                &batch_no.to_string(),
                task_id,
                RUN_TTL,
            )
            .await
    }

    /// A batch's postings; `NotFound` when Redis lost them (the batch is then left unrecorded,
    /// and the sweeper has the feed read again).
    pub async fn batch_bodies(
        &self,
        run_id: &str,
        generation: u32,
        batch_no: u32,
    ) -> Result<Vec<u8>, StoreError> {
        let key = self.bodies_key(run_id, generation);
        let mut c = self.redis.conn.clone();
        let b: Option<Vec<u8>> = c.hget(&key, batch_no).await?;
        b.ok_or_else(|| {
            StoreError::NotFound(format!(
                "the postings of batch {batch_no} (generation {generation}) are no longer in Redis"
            ))
        })
    }

    pub async fn is_done(
        &self,
        run_id: &str,
        generation: u32,
        batch_no: u32,
    ) -> Result<bool, StoreError> {
        self.redis
            .is_member(&self.done_key(run_id, generation), &batch_no.to_string())
            .await
    }

    /// Counts a recorded batch; returns how many of the generation's batches are recorded.
    pub async fn mark_done(
        &self,
        run_id: &str,
        generation: u32,
        batch_no: u32,
    ) -> Result<u64, StoreError> {
        self.redis
            .add_and_count(
                &self.done_key(run_id, generation),
                &batch_no.to_string(),
                RUN_TTL,
            )
            .await
    }

    /// The generation's batches not counted as recorded, with their queue task ids (those
    /// whose id is known).
    pub async fn open_batch_tasks(
        &self,
        run_id: &str,
        generation: u32,
    ) -> Result<Vec<(u32, String)>, StoreError> {
        let mut c = self.redis.conn.clone();
        let tasks: std::collections::HashMap<u32, String> =
            c.hgetall(self.tasks_key(run_id, generation)).await?;
        let done: HashSet<u32> = c.smembers(self.done_key(run_id, generation)).await?;
        let mut open: Vec<(u32, String)> = tasks
            .into_iter()
            .filter(|(n, _)| !done.contains(n))
            .collect();
        open.sort();
        Ok(open)
    }

    /// The stored ids the generation's feed carried.
    pub async fn seen(&self, run_id: &str, generation: u32) -> Result<HashSet<String>, StoreError> {
        self.redis
            .set_members(&self.seen_key(run_id, generation))
            .await
    }

    /// Whether the generation's sightings are still in Redis (a run that lost them cannot
    /// close anything exactly, and is read again instead).
    pub async fn has_seen(&self, run_id: &str, generation: u32) -> Result<bool, StoreError> {
        let mut c = self.redis.conn.clone();
        Ok(c.exists(self.seen_key(run_id, generation)).await?)
    }

    /// Everything the run kept in Redis, once it has ended (every generation up to `last`).
    pub async fn forget(&self, run_id: &str, last: u32) -> Result<(), StoreError> {
        let mut keys: Vec<String> = vec![self.live_key(run_id), self.closed_key(run_id)];
        for g in 0..=last {
            for what in ["seen", "done", "bodies", "tasks"] {
                keys.push(self.gen_key(run_id, g, what));
            }
        }
        keys.extend(self.legacy_keys(run_id));
        let mut c = self.redis.conn.clone();
        for chunk in keys.chunks(256) {
            let _: i64 = c.del(chunk).await?;
        }
        Ok(())
    }
}
