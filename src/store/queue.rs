//! The two queues and their payloads. `fetch` carries "import this source now" (one task per
//! run); `items` carries batches of parsed items (one task per batch). Both live in Redis
//! through apalis, with explicit names under the configured prefix.

use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskId, TaskSink};
use apalis_core::backend::Vacuum;
use apalis_redis::{Config, RedisStorage};
use serde::{Deserialize, Serialize};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use mongodb::bson::{self, RawDocument};

use super::StoreError;
use super::mongo::jobs::job_id;
use super::queue_state::{self, QueueKeys, Repair};
use super::redis::Redis;
use super::run_state::RunLedger;
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
    /// 0 for the run's first fetch, then how many times the sweeper queued it again (it makes
    /// each resume a task of its own). The generation a fetch reads is claimed when it starts
    /// (`Store::mark_running`), not carried here.
    #[serde(default, alias = "generation")]
    pub resume: u32,
}

impl FetchFeedTask {
    /// The task's id in the queue: one per run, resume and attempt, so a second push of the
    /// same task is a no-op and the sweeper can look the task up.
    pub fn task_id(&self) -> String {
        format!("fetch:{}:{}:{}", self.run_id, self.resume, self.attempt)
    }
}

/// One parsed item as earlier versions queued it (a JSON object per item). Batches queued by
/// such a version are still read (`ImportBatchTask::entries`); new batches are packed.
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
    /// The feed read (generation) the batch belongs to; `None` in a batch of an earlier
    /// version, which the run's current generation replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u32>,
    /// The job index the fetcher classified against (`JobIndex` epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_epoch: Option<String>,
    /// When the feed read that queued the batch began (RFC 3339): the first-seen time of the
    /// jobs the batch creates, so the postings of one read are first seen at one time
    /// whichever batch is stored first. `None` in a batch of an earlier version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<String>,
    /// The batch's items (see `PackedItems`), without the postings' bodies.
    #[serde(default)]
    pub items: PackedItems,
    /// Set by earlier versions (the field of their bodies hash); read, never used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bodies: Option<String>,
    /// The items of a batch queued by an earlier version; empty in new batches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<BatchEntry>,
}

impl ImportBatchTask {
    /// The task's id in the queue: one per run, generation and batch.
    pub fn task_id(run_id: &str, generation: u32, batch_no: u32) -> String {
        format!("batch:{run_id}:{generation}:{batch_no}")
    }

    /// The batch's items, packed; a batch of an earlier version is packed here.
    pub fn into_items(self) -> Result<PackedItems, StoreError> {
        if self.entries.is_empty() {
            return Ok(self.items);
        }
        let mut items = PackedItems::default();
        for e in &self.entries {
            match e {
                BatchEntry::Job(p) => items.push_job(&self.publisher, p)?,
                BatchEntry::Failed(f) => items.push_failed(f)?,
                BatchEntry::Duplicate { external_id } => items.push_duplicate(external_id),
            }
        }
        Ok(items)
    }
}

const JOB: u8 = 1;
const FAILED: u8 = 2;
const DUPLICATE: u8 = 3;

/// A batch's items in the form they are queued in: for each posting its stored id, content
/// hash and dedupe key, computed once by the fetcher, beside the posting itself as BSON (the
/// body of its stored document). A worker classifies the postings by id and hash, and reads a
/// body only for a posting it writes; an unchanged posting is never decoded.
///
/// Layout: per item a kind byte, then length-prefixed (u32, little endian) fields: a job has
/// id, hash, dedupe key and where its body is (offset and length in the bodies); a failed item
/// the failure as BSON; a repeat its external id. The items are queued as one base64 string
/// (the queue's codec is JSON); the bodies, most of the bytes, go to Redis beside the queue as
/// they are (`Bodies`) and are read only by a worker that writes a posting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackedItems {
    items: Vec<u8>,
    bodies: Vec<u8>,
}

/// A posting as a worker sees it in a packed batch.
#[derive(Debug, Clone)]
pub struct PackedJob<'a> {
    pub id: &'a str,
    pub hash: &'a str,
    pub dedupe_key: &'a str,
    /// Where the posting's BSON (`JobPosting` serialized, what its stored document starts
    /// with) is in the batch's bodies.
    pub body: std::ops::Range<usize>,
}

impl PackedJob<'_> {
    /// The posting's BSON, from the batch's bodies.
    pub fn body<'b>(&self, bodies: &'b [u8]) -> Result<&'b RawDocument, StoreError> {
        let b = bodies
            .get(self.body.clone())
            .ok_or_else(|| malformed("body"))?;
        RawDocument::from_bytes(b).map_err(|e| StoreError::Decode(e.to_string()))
    }

    /// The posting itself.
    pub fn posting(&self, bodies: &[u8]) -> Result<JobPosting, StoreError> {
        bson::from_slice(self.body(bodies)?.as_bytes())
            .map_err(|e| StoreError::Decode(e.to_string()))
    }
}

/// Where a batch's bodies are.
pub enum Bodies<'a> {
    /// In memory: a batch of an earlier version, packed by the worker.
    Here(&'a [u8]),
    /// In Redis, where the fetcher put them (see `RunLedger::put_batch`).
    Ledger {
        ledger: &'a RunLedger,
        run_id: &'a str,
        generation: u32,
        batch_no: u32,
    },
}

impl Bodies<'_> {
    pub async fn load(&self) -> Result<std::borrow::Cow<'_, [u8]>, StoreError> {
        match self {
            Bodies::Here(b) => Ok(std::borrow::Cow::Borrowed(b)),
            Bodies::Ledger {
                ledger,
                run_id,
                generation,
                batch_no,
            } => Ok(std::borrow::Cow::Owned(
                ledger.batch_bodies(run_id, *generation, *batch_no).await?,
            )),
        }
    }
}

/// One item of a packed batch.
#[derive(Debug, Clone)]
pub enum PackedItem<'a> {
    Job(PackedJob<'a>),
    Failed(Failure),
    /// An id already seen earlier in the same feed.
    Duplicate,
}

impl PackedItems {
    /// Adds a posting of `publisher`.
    pub fn push_job(&mut self, publisher: &str, posting: &JobPosting) -> Result<(), StoreError> {
        let id = job_id(publisher, &posting.external_id);
        self.push_job_with_id(&id, posting)
    }

    /// Adds a posting whose stored id is known already.
    pub fn push_job_with_id(&mut self, id: &str, posting: &JobPosting) -> Result<(), StoreError> {
        self.items.push(JOB);
        self.field(id.as_bytes());
        self.field(posting.content_hash().as_bytes());
        self.field(posting.dedupe_key().as_bytes());
        let body = bson::to_vec(posting).map_err(|e| StoreError::Decode(e.to_string()))?;
        let at = self.bodies.len() as u32;
        self.bodies.extend_from_slice(&body);
        self.items.extend_from_slice(&at.to_le_bytes());
        self.items
            .extend_from_slice(&(body.len() as u32).to_le_bytes());
        Ok(())
    }

    pub fn push_failed(&mut self, f: &Failure) -> Result<(), StoreError> {
        let b = bson::to_vec(f).map_err(|e| StoreError::Decode(e.to_string()))?;
        self.items.push(FAILED);
        self.field(&b);
        Ok(())
    }

    pub fn push_duplicate(&mut self, external_id: &str) {
        self.items.push(DUPLICATE);
        self.field(external_id.as_bytes());
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The postings' bodies (empty in a batch read from the queue: they travel apart).
    pub fn bodies(&self) -> &[u8] {
        &self.bodies
    }

    /// Takes the bodies out, to be stored apart from the queued items.
    pub fn take_bodies(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bodies)
    }

    fn field(&mut self, b: &[u8]) {
        self.items
            .extend_from_slice(&(b.len() as u32).to_le_bytes());
        self.items.extend_from_slice(b);
    }

    /// The items, in order. Only ids, hashes and keys are read here; bodies stay as bytes.
    pub fn items(&self) -> Result<Vec<PackedItem<'_>>, StoreError> {
        let mut out = Vec::new();
        let mut rest = self.items.as_slice();
        while let Some((&kind, tail)) = rest.split_first() {
            rest = tail;
            let item = match kind {
                JOB => {
                    let id = text(take(&mut rest)?)?;
                    let hash = text(take(&mut rest)?)?;
                    let dedupe_key = text(take(&mut rest)?)?;
                    let at = u32_le(&mut rest)? as usize;
                    let len = u32_le(&mut rest)? as usize;
                    let body = at..at + len;
                    PackedItem::Job(PackedJob {
                        id,
                        hash,
                        dedupe_key,
                        body,
                    })
                }
                FAILED => PackedItem::Failed(
                    bson::from_slice(take(&mut rest)?)
                        .map_err(|e| StoreError::Decode(e.to_string()))?,
                ),
                DUPLICATE => {
                    take(&mut rest)?;
                    PackedItem::Duplicate
                }
                _ => return Err(malformed("kind")),
            };
            out.push(item);
        }
        Ok(out)
    }
}

fn malformed(what: &str) -> StoreError {
    StoreError::Decode(format!("a queued batch is malformed ({what})"))
}

fn u32_le(rest: &mut &[u8]) -> Result<u32, StoreError> {
    let (n, tail) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| malformed("number"))?;
    *rest = tail;
    Ok(u32::from_le_bytes(*n))
}

/// The next length-prefixed field.
fn take<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], StoreError> {
    let (len, tail) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| malformed("length"))?;
    let len = u32::from_le_bytes(*len) as usize;
    if tail.len() < len {
        return Err(malformed("field"));
    }
    let (field, tail) = tail.split_at(len);
    *rest = tail;
    Ok(field)
}

fn text(b: &[u8]) -> Result<&str, StoreError> {
    std::str::from_utf8(b).map_err(|_| malformed("text"))
}

impl Serialize for PackedItems {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64.encode(&self.items))
    }
}

impl<'de> Deserialize<'de> for PackedItems {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = PackedItems;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PackedItems, E> {
                let items = BASE64.decode(v).map_err(E::custom)?;
                Ok(PackedItems {
                    items,
                    bodies: Vec::new(),
                })
            }
        }
        d.deserialize_str(V)
    }
}

pub type FetchStorage = RedisStorage<FetchFeedTask>;
pub type ItemsStorage = RedisStorage<ImportBatchTask>;

fn config(queue: String, p: &PipelineSettings, batch: usize) -> Config {
    Config::default()
        .queue(queue)
        .batch_size(batch.max(1))
        .heartbeat_interval(Duration::from_secs(p.heartbeat_secs))
        .missed_heartbeats(3)
        // Acknowledged tasks leave their worker's in-flight set and show as done: without
        // it, every task a worker ever ran is delivered again when that worker is presumed
        // dead, and a task's state says nothing (the sweeper asks whether a run's work is
        // still waiting). Finished tasks are vacuumed (`Queues::vacuum`).
        .persist_results(true)
        .emit_events(false)
        .idempotency_ttl(Some(IDEMPOTENCY_TTL))
}

/// The queues of one deployment (names from the Redis prefix).
#[derive(Clone)]
pub struct Queues {
    pub fetch: FetchStorage,
    pub items: ItemsStorage,
    conn: redis::aio::ConnectionManager,
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
        Self {
            fetch,
            items,
            conn: redis.conn.clone(),
        }
    }

    /// Queues a fetch under its task id (a second push of the same task is a no-op).
    pub async fn push_fetch(
        &self,
        task: FetchFeedTask,
        delay: Option<Duration>,
    ) -> Result<(), StoreError> {
        let id = task.task_id();
        let mut b = TaskBuilder::new(task)
            .task_id(TaskId::from_string(id.clone()))
            .idempotency_key(&id);
        if let Some(d) = delay {
            b = b.run_after(d);
        }
        let mut s = self.fetch.clone();
        s.push_task(b.build())
            .await
            .map_err(|e| StoreError::Queue(e.to_string()))
    }

    /// Queues a batch under its task id (a second push of the same batch is a no-op).
    pub async fn push_batch(
        &self,
        task: ImportBatchTask,
        generation: u32,
    ) -> Result<(), StoreError> {
        let id = ImportBatchTask::task_id(&task.run_id, generation, task.batch_no);
        let b = TaskBuilder::new(task)
            .task_id(TaskId::from_string(id.clone()))
            .idempotency_key(&id);
        let mut s = self.items.clone();
        s.push_task(b.build())
            .await
            .map_err(|e| StoreError::Queue(e.to_string()))
    }

    /// Whether a fetch task is still going to run: waiting, delayed for a retry, or held by a
    /// registered worker (alive, or to be handed back once presumed dead). A task whose state
    /// says pending but that no list holds any more (Redis lost part of the queue) is not.
    pub async fn fetch_pending(&self, task_id: &str) -> Result<bool, StoreError> {
        let keys = QueueKeys::of(self.fetch.get_config());
        let mut c = self.conn.clone();
        queue_state::is_waiting(&mut c, &keys, task_id).await
    }

    /// Whether a batch task is still going to run (as `fetch_pending`).
    pub async fn batch_pending(&self, task_id: &str) -> Result<bool, StoreError> {
        let keys = QueueKeys::of(self.items.get_config());
        let mut c = self.conn.clone();
        queue_state::is_waiting(&mut c, &keys, task_id).await
    }

    /// Makes both queues consistent after Redis lost part of them (`queue_state::repair`).
    pub async fn repair(&self) -> Result<Repair, StoreError> {
        let mut c = self.conn.clone();
        let a = queue_state::repair(&mut c, &QueueKeys::of(self.fetch.get_config())).await?;
        let b = queue_state::repair(&mut c, &QueueKeys::of(self.items.get_config())).await?;
        Ok(Repair {
            dropped: a.dropped + b.dropped,
            requeued: a.requeued + b.requeued,
        })
    }

    /// The keys of the fetch queue (`fetch == true`) or of the items queue.
    pub fn keys(&self, fetch: bool) -> QueueKeys {
        if fetch {
            QueueKeys::of(self.fetch.get_config())
        } else {
            QueueKeys::of(self.items.get_config())
        }
    }

    pub fn connection(&self) -> redis::aio::ConnectionManager {
        self.conn.clone()
    }
}

impl Queues {
    /// Deletes the data of finished tasks from both queues; returns how many.
    pub async fn vacuum(&self) -> Result<usize, StoreError> {
        let mut fetch = self.fetch.clone();
        let mut items = self.items.clone();
        let a = fetch
            .vacuum()
            .await
            .map_err(|e| StoreError::Queue(e.to_string()))?;
        let b = items
            .vacuum()
            .await
            .map_err(|e| StoreError::Queue(e.to_string()))?;
        Ok(a + b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EmploymentType, Salary};
    use crate::store::encode;

    fn posting(n: u32) -> JobPosting {
        JobPosting {
            external_id: format!("https://example.com/jobs/{n}"),
            title: format!("Engineer \"{n}\" \u{e9}"),
            company: Some("Acme".into()),
            locations: vec!["Berlin".into(), "Remote".into()],
            remote: Some(true),
            employment_type: Some(EmploymentType::FullTime),
            categories: vec!["IT".into()],
            description_html: Some("<p>Hi &amp; welcome</p>".into()),
            description_text: Some("Hi & welcome".into()),
            url: Some(format!("https://example.com/jobs/{n}")),
            date_posted: chrono::DateTime::parse_from_rfc3339("2026-11-02T10:00:00Z")
                .ok()
                .map(|d| d.to_utc()),
            salary: Some(Salary {
                min: Some(50_000.0),
                max: None,
                currency: Some("EUR".into()),
                period: Some("YEAR".into()),
            }),
            logo_url: None,
            valid_through: None,
            extra: [("job_listing:x".to_owned(), "y".to_owned())].into(),
        }
    }

    fn packed() -> PackedItems {
        let mut items = PackedItems::default();
        items.push_job("example.com", &posting(1)).unwrap();
        items.push_duplicate("https://example.com/jobs/1");
        items
            .push_failed(&Failure::new("ITEM_INVALID", "no title"))
            .unwrap();
        items
            .push_job("example.com", &JobPosting::default())
            .unwrap();
        items
    }

    #[test]
    fn packed_items_travel_as_json_and_read_back_in_order() {
        let mut items = packed();
        let bodies = items.take_bodies();
        let task = ImportBatchTask {
            run_id: "r".into(),
            source_id: "s".into(),
            publisher: "example.com".into(),
            batch_no: 3,
            generation: Some(2),
            index_epoch: Some("e".into()),
            read_at: Some("2026-12-07T10:00:00.000Z".into()),
            items,
            bodies: None,
            entries: Vec::new(),
        };
        let json = serde_json::to_vec(&task).unwrap();
        let back: ImportBatchTask = serde_json::from_slice(&json).unwrap();
        assert_eq!(back.items, task.items);
        assert_eq!(back.generation, Some(2));
        assert_eq!(back.index_epoch.as_deref(), Some("e"));
        let items = back.items.items().unwrap();
        assert_eq!(items.len(), 4);
        let PackedItem::Job(j) = &items[0] else {
            panic!("{:?}", items[0])
        };
        let p = posting(1);
        assert_eq!(j.id, job_id("example.com", &p.external_id));
        assert_eq!(j.hash, p.content_hash());
        assert_eq!(j.dedupe_key, p.dedupe_key());
        assert_eq!(j.posting(&bodies).unwrap(), p);
        assert!(matches!(items[1], PackedItem::Duplicate));
        let PackedItem::Failed(f) = &items[2] else {
            panic!("{:?}", items[2])
        };
        assert_eq!(f, &Failure::new("ITEM_INVALID", "no title"));
        let PackedItem::Job(empty) = &items[3] else {
            panic!("{:?}", items[3])
        };
        assert_eq!(empty.posting(&bodies).unwrap(), JobPosting::default());
    }

    #[test]
    fn a_packed_body_is_the_document_the_posting_was_stored_as_before() {
        let mut items = PackedItems::default();
        items.push_job("example.com", &posting(7)).unwrap();
        let read = items.items().unwrap();
        let PackedItem::Job(j) = &read[0] else {
            panic!("{:?}", read[0])
        };
        let body = mongodb::bson::Document::try_from(j.body(items.bodies()).unwrap()).unwrap();
        assert_eq!(body, encode(&posting(7)).unwrap());
    }

    #[test]
    fn a_batch_queued_by_an_earlier_version_is_read_as_packed() {
        let json = serde_json::json!({
            "run_id": "r", "source_id": "s", "publisher": "example.com", "batch_no": 0,
            "entries": [
                {"kind": "job", "externalId": "https://example.com/jobs/1", "title": "T",
                 "company": null, "locations": [], "remote": null, "employmentType": null,
                 "categories": [], "descriptionHtml": null, "descriptionText": null,
                 "url": null, "salary": null, "logoUrl": null, "extra": {}},
                {"kind": "duplicate", "external_id": "https://example.com/jobs/1"},
                {"kind": "failed", "code": "ITEM_INVALID", "message": "no title"},
            ],
        });
        let task: ImportBatchTask = serde_json::from_value(json).unwrap();
        assert_eq!(task.bodies, None);
        let packed = task.into_items().unwrap();
        let items = packed.items().unwrap();
        assert_eq!(items.len(), 3);
        let PackedItem::Job(j) = &items[0] else {
            panic!("{:?}", items[0])
        };
        assert_eq!(j.id, job_id("example.com", "https://example.com/jobs/1"));
        assert_eq!(j.posting(packed.bodies()).unwrap().title, "T");
        assert!(matches!(items[1], PackedItem::Duplicate));
        assert!(matches!(items[2], PackedItem::Failed(_)));
    }

    #[test]
    fn a_damaged_batch_is_an_error_not_a_panic() {
        let bytes = packed().items;
        let of = |items: Vec<u8>| PackedItems {
            items,
            bodies: Vec::new(),
        };
        for cut in 0..bytes.len() {
            let mut b = bytes[..cut].to_vec();
            if let Some(first) = b.first_mut()
                && cut % 7 == 0
            {
                *first = 9;
            }
            let _ = of(b).items();
        }
        assert!(of(bytes[..bytes.len() - 1].to_vec()).items().is_err());
        assert!(of(vec![9]).items().is_err());
        // A body outside the bodies is an error too.
        let items = packed();
        let read = items.items().unwrap();
        let PackedItem::Job(j) = &read[0] else {
            panic!("{:?}", read[0])
        };
        assert!(j.body(&items.bodies()[..10]).is_err());
        let bad: Result<ImportBatchTask, _> = serde_json::from_value(serde_json::json!({
            "run_id": "r", "source_id": "s", "publisher": "p", "batch_no": 0, "items": "%%%"
        }));
        assert!(bad.is_err());
    }
}
