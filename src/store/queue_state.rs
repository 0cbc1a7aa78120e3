//! What the queues really hold, read and repaired through apalis-redis' layout. apalis has no
//! public call for "is this task still going to run" or "drop tasks whose data is gone", so this
//! module owns everything that depends on how apalis-redis keeps a queue; the key names come
//! from `apalis_redis::Config`'s public methods, and what they hold is described here:
//!
//! - `data` (hash: task id → payload) and `meta:{id}` (hash with the task's `status`);
//! - `active` (list of task ids waiting to be fetched), `scheduled` (sorted set of ids due
//!   later, by time);
//! - `workers` (sorted set: worker name → its last heartbeat, in seconds) and, per worker,
//!   `inflight:{name}` (set of ids it fetched and has not acknowledged). Another worker's
//!   heartbeat moves the in-flight ids of a worker that missed its heartbeats back to `active`.
//!
//! Redis may lose any of this (a restart without persistence, an eviction, someone deleting
//! keys), and what is left can be inconsistent: an id listed whose payload or metadata is gone
//! makes every fetch of a batch holding it fail (`Invalid job data format`, `Missing attempts in
//! metadata`) until it is removed, and the
//! in-flight set of a worker whose registration is gone is never handed back by apalis. The
//! scripts below are atomic, so they never see a push or a fetch half done.

use redis::Script;

use super::StoreError;

/// The keys of one queue.
#[derive(Debug, Clone)]
pub struct QueueKeys {
    data: String,
    active: String,
    scheduled: String,
    workers: String,
    inflight: String,
    meta: String,
    signal: String,
}

impl QueueKeys {
    pub fn of(cfg: &apalis_redis::Config) -> Self {
        Self {
            data: cfg.job_data_hash(),
            active: cfg.active_jobs_list(),
            scheduled: cfg.scheduled_jobs_set(),
            workers: cfg.workers_set(),
            inflight: cfg.inflight_jobs_set(),
            meta: cfg.job_meta_hash(),
            signal: cfg.signal_list(),
        }
    }
}

/// Tasks ready to be fetched (the waiting list, and scheduled tasks already due: apalis
/// schedules every push and moves due ones to the list when a worker asks for work), tasks
/// scheduled for later, and the earliest such due time (seconds). `ARGV[1]`: now, in seconds.
const COUNTS: &str = r#"
local now = tonumber(ARGV[1])
local due = redis.call('zcount', KEYS[2], '-inf', now)
local waiting = redis.call('llen', KEYS[1]) + due
local delayed = redis.call('zcount', KEYS[2], '(' .. now, '+inf')
local first = redis.call('zrangebyscore', KEYS[2], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
local next_due = -1
if #first == 2 then next_due = math.floor(tonumber(first[2])) end
return {waiting, delayed, next_due}
"#;

/// Removes worker `ARGV[1]` from the registered workers once it holds nothing (it stopped
/// taking tasks and finished those it had); returns 1 when it did.
const DEREGISTER: &str = r#"
if redis.call('scard', KEYS[2]) > 0 then return 0 end
redis.call('del', KEYS[2])
return redis.call('zrem', KEYS[1], ARGV[1])
"#;

/// The in-flight set of one worker: its size, and up to `ARGV[2]` of its ids, each followed
/// by the `source_id` of its payload (the JSON the queue's codec wrote) or `''`.
const IN_FLIGHT: &str = r#"
local set = ARGV[1]
local out = {}
local n = 0
for _, id in ipairs(redis.call('smembers', set)) do
  if n >= tonumber(ARGV[2]) then break end
  local source = ''
  local payload = redis.call('hget', KEYS[1], id)
  if payload then
    local ok, task = pcall(cjson.decode, payload)
    if ok and type(task) == 'table' and type(task['source_id']) == 'string' then
      source = task['source_id']
    end
  end
  table.insert(out, id)
  table.insert(out, source)
  n = n + 1
end
return {redis.call('scard', set), out}
"#;

/// Whether task `id` can be fetched at all: its payload and its metadata are both there. Used
/// as a prefix of the scripts below (`KEYS[1]` the payloads, `ARGV[...]` the metadata prefix).
const INTACT: &str = r#"
local function intact(id, meta)
  return redis.call('hexists', KEYS[1], id) == 1
    and redis.call('hexists', meta .. ':' .. id, 'attempts') == 1
    and redis.call('hexists', meta .. ':' .. id, 'status') == 1
end
"#;

/// A task is waiting when it is intact and listed to be fetched, scheduled for later, or held
/// by a registered worker (alive, or to be handed back once presumed dead).
const WAITING: &str = r#"
local id = ARGV[1]
if not intact(id, ARGV[3]) then return 0 end
if redis.call('zscore', KEYS[3], id) then return 1 end
if redis.call('lpos', KEYS[2], id) then return 1 end
for _, w in ipairs(redis.call('zrange', KEYS[4], 0, -1)) do
  if redis.call('sismember', ARGV[2] .. ':' .. w, id) == 1 then return 1 end
end
return 0
"#;

/// Removes the ids that are not intact from the waiting list, the schedule and the in-flight
/// sets of registered workers; returns how many.
const DROP_DANGLING: &str = r#"
local dropped = 0
local meta = ARGV[2]
for _, id in ipairs(redis.call('lrange', KEYS[2], 0, -1)) do
  if not intact(id, meta) then
    dropped = dropped + redis.call('lrem', KEYS[2], 0, id)
  end
end
for _, id in ipairs(redis.call('zrange', KEYS[3], 0, -1)) do
  if not intact(id, meta) then
    dropped = dropped + redis.call('zrem', KEYS[3], id)
  end
end
for _, w in ipairs(redis.call('zrange', KEYS[4], 0, -1)) do
  local set = ARGV[1] .. ':' .. w
  for _, id in ipairs(redis.call('smembers', set)) do
    if not intact(id, meta) then
      dropped = dropped + redis.call('srem', set, id)
    end
  end
end
return dropped
"#;

/// Hands the in-flight tasks of an unregistered worker back to the waiting list (those whose
/// payload is there and that did not finish), then deletes its set; returns how many.
const REQUEUE_UNREGISTERED: &str = r#"
if redis.call('zscore', KEYS[2], ARGV[1]) then return 0 end
local n = 0
for _, id in ipairs(redis.call('smembers', KEYS[1])) do
  local status = redis.call('hget', ARGV[2] .. ':' .. id, 'status')
  local finished = status == 'Done' or status == 'Killed'
  local counted = redis.call('hexists', ARGV[2] .. ':' .. id, 'attempts') == 1
  if redis.call('hexists', KEYS[4], id) == 1 and status and counted and not finished then
    redis.call('rpush', KEYS[3], id)
    n = n + 1
  end
end
redis.call('del', KEYS[1])
if n > 0 then
  redis.call('del', KEYS[5])
  redis.call('lpush', KEYS[5], 1)
end
return n
"#;

/// How many tasks of a queue wait, and when the earliest delayed one is due.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Ready to be fetched by the next free worker.
    pub waiting: u64,
    /// Scheduled for later (a fetch waiting for its retry).
    pub delayed: u64,
    /// When the earliest delayed task is due, in seconds since the epoch.
    pub next_due: Option<i64>,
}

/// A task a worker holds: its id and the source named by its payload (when readable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub id: String,
    pub source_id: Option<String>,
}

/// The registered workers of a queue and their last heartbeats (seconds), oldest first.
///
/// apalis-redis 1.0 has `ListWorkers` for this, but it cannot be used: it reads the workers'
/// metadata under another key than the one registration writes (`{queue}:workers:{name}`
/// against `{queue}:workers:metadata:{name}`), so every entry lacks fields it requires, and an
/// empty list comes back as a JSON object; either way it answers an error.
pub async fn workers<C>(conn: &mut C, keys: &QueueKeys) -> Result<Vec<(String, i64)>, StoreError>
where
    C: redis::aio::ConnectionLike,
{
    let list: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg(&keys.workers)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(conn)
        .await?;
    Ok(list.into_iter().map(|(w, s)| (w, s as i64)).collect())
}

/// What waits in a queue (see `COUNTS`), read atomically.
pub async fn counts<C>(conn: &mut C, keys: &QueueKeys) -> Result<Counts, StoreError>
where
    C: redis::aio::ConnectionLike,
{
    let (waiting, delayed, due): (u64, u64, i64) = Script::new(COUNTS)
        .key(&keys.active)
        .key(&keys.scheduled)
        .arg(chrono::Utc::now().timestamp())
        .invoke_async(conn)
        .await?;
    Ok(Counts {
        waiting,
        delayed,
        next_due: (due >= 0).then_some(due),
    })
}

/// How many tasks worker `name` holds (fetched, not acknowledged), and up to `limit` of them.
pub async fn held_by<C>(
    conn: &mut C,
    keys: &QueueKeys,
    name: &str,
    limit: usize,
) -> Result<(u64, Vec<Held>), StoreError>
where
    C: redis::aio::ConnectionLike,
{
    let (total, flat): (u64, Vec<String>) = Script::new(IN_FLIGHT)
        .key(&keys.data)
        .arg(format!("{}:{name}", keys.inflight))
        .arg(limit)
        .invoke_async(conn)
        .await?;
    let mut held: Vec<Held> = flat
        .chunks_exact(2)
        .map(|pair| Held {
            id: pair[0].clone(),
            source_id: (!pair[1].is_empty()).then(|| pair[1].clone()),
        })
        .collect();
    held.sort_by(|a, b| a.id.cmp(&b.id));
    Ok((total, held))
}

/// What a repair did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Repair {
    /// Ids removed because their payload was gone.
    pub dropped: u64,
    /// Tasks handed back from the in-flight sets of workers that are no longer registered.
    pub requeued: u64,
}

/// Whether task `id` is still going to run (see `WAITING`).
pub async fn is_waiting<C>(conn: &mut C, keys: &QueueKeys, id: &str) -> Result<bool, StoreError>
where
    C: redis::aio::ConnectionLike,
{
    let n: i64 = Script::new(&format!("{INTACT}{WAITING}"))
        .key(&keys.data)
        .key(&keys.active)
        .key(&keys.scheduled)
        .key(&keys.workers)
        .arg(id)
        .arg(&keys.inflight)
        .arg(&keys.meta)
        .invoke_async(conn)
        .await?;
    Ok(n == 1)
}

/// Makes the queue consistent again after Redis lost part of it (see the module docs).
pub async fn repair<C>(conn: &mut C, keys: &QueueKeys) -> Result<Repair, StoreError>
where
    C: redis::aio::ConnectionLike,
{
    let dropped: u64 = Script::new(&format!("{INTACT}{DROP_DANGLING}"))
        .key(&keys.data)
        .key(&keys.active)
        .key(&keys.scheduled)
        .key(&keys.workers)
        .arg(&keys.inflight)
        .arg(&keys.meta)
        .invoke_async(conn)
        .await?;
    let mut requeued = 0;
    let pattern = format!("{}:*", keys.inflight);
    let mut sets = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(500)
            .query_async(conn)
            .await?;
        sets.extend(keys);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    for set in sets {
        let Some(name) = set.strip_prefix(&format!("{}:", keys.inflight)) else {
            continue;
        };
        let n: u64 = Script::new(REQUEUE_UNREGISTERED)
            .key(&set)
            .key(&keys.workers)
            .key(&keys.active)
            .key(&keys.data)
            .key(&keys.signal)
            .arg(name)
            .arg(&keys.meta)
            .invoke_async(conn)
            .await?;
        requeued += n;
    }
    Ok(Repair { dropped, requeued })
}

/// Unregisters worker `name`, which stopped on purpose (a pause, a shutdown), if it holds no
/// task, so it is not listed as live until apalis would presume it dead. One that still holds
/// tasks stays registered: another worker hands them back after its missed heartbeats.
pub async fn deregister<C>(conn: &mut C, keys: &QueueKeys, name: &str) -> Result<bool, StoreError>
where
    C: redis::aio::ConnectionLike,
{
    let n: i64 = Script::new(DEREGISTER)
        .key(&keys.workers)
        .key(format!("{}:{name}", keys.inflight))
        .arg(name)
        .invoke_async(conn)
        .await?;
    Ok(n == 1)
}

/// The last heartbeat of worker `name` (seconds since the epoch), or `None` when it is not
/// registered.
pub async fn last_heartbeat<C>(
    conn: &mut C,
    keys: &QueueKeys,
    name: &str,
) -> Result<Option<i64>, StoreError>
where
    C: redis::aio::ConnectionLike,
{
    let score: Option<f64> = redis::cmd("ZSCORE")
        .arg(&keys.workers)
        .arg(name)
        .query_async(conn)
        .await?;
    Ok(score.map(|s| s as i64))
}
