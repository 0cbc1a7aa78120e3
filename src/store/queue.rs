//! The two queues and their payloads. `fetch` carries "import this source now" (one task per
//! run); `items` carries batches of parsed items (one task per batch). Both live in Redis
//! through apalis, with explicit names under the configured prefix.

use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_redis::{Config, RedisStorage};
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::redis::Redis;
use crate::config::PipelineSettings;
use crate::domain::{Failure, JobPosting};

/// How long idempotency keys are kept: far longer than any redelivery, short enough not to grow.
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FetchFeedTask {
    pub run_id: String,
    pub source_id: String,
    /// 1 for the first try; transient failures queue the next attempt with a delay.
    pub attempt: u32,
    /// 0 for the first fetch; each resume by the sweeper gets a new generation, so its batches
    /// get new queue keys while batches already recorded on the run are skipped by number.
    #[serde(default)]
    pub generation: u32,
}

/// One parsed item as queued: a posting, an item that failed to parse, or a repeat of an id
/// seen earlier in the same feed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BatchEntry {
    Job(Box<JobPosting>),
    Failed(Failure),
    Duplicate { external_id: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportBatchTask {
    pub run_id: String,
    pub source_id: String,
    pub publisher: String,
    pub batch_no: u32,
    pub entries: Vec<BatchEntry>,
}

pub type FetchStorage = RedisStorage<FetchFeedTask>;
pub type ItemsStorage = RedisStorage<ImportBatchTask>;

fn config(queue: String, p: &PipelineSettings, batch: usize) -> Config {
    Config::default()
        .queue(queue)
        .batch_size(batch.max(1))
        .heartbeat_interval(Duration::from_secs(p.heartbeat_secs))
        .missed_heartbeats(3)
        .persist_results(false)
        .emit_events(false)
        .idempotency_ttl(Some(IDEMPOTENCY_TTL))
}

/// The queues of one deployment (names from the Redis prefix).
#[derive(Clone)]
pub struct Queues {
    pub fetch: FetchStorage,
    pub items: ItemsStorage,
}

impl Queues {
    pub fn new(redis: &Redis, p: &PipelineSettings) -> Self {
        let fetch = RedisStorage::new(redis.conn.clone()).with_config(config(
            redis.keys.fetch_queue(),
            p,
            p.fetch_concurrency,
        ));
        let items = RedisStorage::new(redis.conn.clone()).with_config(config(
            redis.keys.items_queue(),
            p,
            p.worker_concurrency,
        ));
        Self { fetch, items }
    }

    /// Queues a fetch; the key makes a second push of the same key a no-op.
    pub async fn push_fetch(
        &self,
        task: FetchFeedTask,
        key: &str,
        delay: Option<Duration>,
    ) -> Result<(), StoreError> {
        let mut b = TaskBuilder::new(task).idempotency_key(key);
        if let Some(d) = delay {
            b = b.run_after(d);
        }
        let mut s = self.fetch.clone();
        s.push_task(b.build())
            .await
            .map_err(|e| StoreError::Queue(e.to_string()))
    }

    pub async fn push_batch(&self, task: ImportBatchTask, key: &str) -> Result<(), StoreError> {
        let b = TaskBuilder::new(task).idempotency_key(key);
        let mut s = self.items.clone();
        s.push_task(b.build())
            .await
            .map_err(|e| StoreError::Queue(e.to_string()))
    }
}
