//! The `job_changes` collection: every new, updated, closed and reopened job, in one dense
//! sequence shared by every daemon, read with a resumable cursor (`GET /api/jobs/changes`).
//!
//! **The order rule.** A change's `_id` is its position `seq` (1, 2, 3, ...). A writer appends
//! at the position after one it has seen stored (the head hint in `meta`, its own last
//! append, or, after repeated collisions, the largest stored `_id`), in one ordered
//! `insert_many`; the unique `_id` gives every position to one writer only, and a writer
//! that collides moves past the position it lost and tries again. So position `n` is only
//! ever written after position `n - 1` was stored: at any moment the stored positions are
//! `1..=head` with no hole, however writes of several daemons interleave or commit late. A
//! reader that has seen position `c` has seen everything before it, and asks for `_id > c`
//! next: nothing is missed and nothing repeats, across daemons and restarts. No clock is
//! compared and no counter is taken before a write commits. (Reads go to the primary, as
//! the driver does by default.)
//!
//! **Exactly once per change.** A change has a key (job, kind, and the run or time that made
//! it; `domain::job_change`) with a unique index, and is recorded after the job was written:
//! a crash in between is repaired by the redelivery or the resume that writes the same job
//! again, which finds the same change and records it then; a change recorded already is
//! skipped. Retention deletes changes older than `retention.changes_keep_days`, never the
//! newest (the sequence goes on from it); a cursor from before what was deleted gets `410
//! changes.cursor_expired`.

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::ErrorKind;
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};

use super::{META, Store};
use crate::domain::job_change::{ChangeKind, JobChange, NewChange};
use crate::domain::time::format as ts;
use crate::store::StoreError;

pub const JOB_CHANGES: &str = "job_changes";
/// `meta` document whose `seq` is a position known to be stored (a hint, never ahead).
const HEAD: &str = "job_changes_head";
/// Collisions after which a writer reads the real head instead of stepping one by one.
const STEPS_BEFORE_READING_HEAD: u32 = 4;
/// Keys looked up per query when skipping changes recorded already.
const KEY_CHUNK: usize = 1000;
/// How long a writer holds its turn at most, and waits for one.
const APPEND_TURN: std::time::Duration = std::time::Duration::from_secs(15);

/// One page of the changes feed.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangesPage {
    pub changes: Vec<JobChange>,
    /// Where to continue: the `seq` of the last change listed (the cursor sent, if none).
    pub next_cursor: String,
    /// The page was full; more changes may follow at once.
    pub has_more: bool,
}

/// Why a cursor cannot be read.
#[derive(Debug, PartialEq, Eq)]
pub enum CursorProblem {
    /// Changes after the cursor were deleted by retention.
    Expired { oldest: i64 },
    /// The cursor is past the newest change (another database, or one that was reset).
    Ahead { head: i64 },
}

impl Store {
    fn changes(&self) -> Collection<Document> {
        self.coll(JOB_CHANGES)
    }

    pub(crate) async fn ensure_change_indexes(&self) -> Result<(), StoreError> {
        self.create_indexes(
            JOB_CHANGES,
            vec![
                IndexModel::builder()
                    .keys(doc! {"key": 1})
                    .options(IndexOptions::builder().unique(true).build())
                    .build(),
                IndexModel::builder().keys(doc! {"at": 1}).build(),
            ],
        )
        .await
    }

    /// Records `changes` (those not recorded yet) at the end of the sequence.
    pub async fn record_changes(&self, changes: &[NewChange]) -> Result<(), StoreError> {
        self.record_changes_with(&[], changes).await
    }

    /// Records `fresh`, changes the caller knows no one recorded yet (a job it has just
    /// inserted: its change is recorded only after the job was written), and `changes`, those
    /// of them not recorded yet. Looking up whether a change is recorded costs a read of the
    /// collection on servers that do not use the `key` index for `$in` (FerretDB): skipping it
    /// for fresh changes keeps a first import from reading the whole feed once per batch. A
    /// fresh change that was recorded after all (its job was deleted and written again by the
    /// same run) collides on the unique `key` and is skipped then.
    pub async fn record_changes_with(
        &self,
        fresh: &[NewChange],
        changes: &[NewChange],
    ) -> Result<(), StoreError> {
        let mut pending = self.unrecorded(changes).await?;
        let keys: std::collections::HashSet<String> = pending.iter().map(NewChange::key).collect();
        let mut seen = std::collections::HashSet::new();
        let fresh: Vec<NewChange> = fresh
            .iter()
            .filter(|c| !keys.contains(&c.key()) && seen.insert(c.key()))
            .cloned()
            .collect();
        pending.splice(0..0, fresh);
        if pending.is_empty() {
            return Ok(());
        }
        let turn = self.take_append_turn().await;
        let appended = self.append(pending).await;
        if let Some((redis, token)) = turn
            && let Err(e) = redis
                .release_lease(&redis.keys.changes_append_lease(), &token)
                .await
        {
            tracing::debug!(error = %e, "could not release the changes append turn; it expires");
        }
        appended
    }

    /// Writers of the changes feed take turns (a lease in Redis): writers appending at once
    /// collide on every position, and each collision costs reads (on FerretDB, of the whole
    /// collection). Only a matter of speed: without Redis, or past the wait, a writer appends
    /// anyway, and the order rule keeps the sequence whole.
    async fn take_append_turn(&self) -> Option<(&super::super::redis::Redis, String)> {
        let redis = self.index_redis()?;
        match redis
            .acquire(&redis.keys.changes_append_lease(), APPEND_TURN, APPEND_TURN)
            .await
        {
            Ok(token) => token.map(|t| (redis, t)),
            Err(e) => {
                tracing::debug!(error = %e, "no changes append turn; appending without one");
                None
            }
        }
    }

    /// Appends `pending` at the end of the sequence (the order rule above).
    async fn append(&self, mut pending: Vec<NewChange>) -> Result<(), StoreError> {
        let now = ts(&chrono::Utc::now());
        let mut head = self.head_hint().await?;
        let mut collisions: u32 = 0;
        // An insert must stop at its first collision: on servers that go on past it in a
        // long insert, each carries no more than they stop in (`Compat::ordered_insert_limit`).
        let limit = self.compat.ordered_insert_limit().unwrap_or(usize::MAX);
        while !pending.is_empty() {
            let n = pending.len().min(limit);
            let docs: Vec<Document> = pending[..n]
                .iter()
                .enumerate()
                .map(|(i, c)| change_doc(head + 1 + i as i64, c, &now))
                .collect();
            match self.changes().insert_many(docs).ordered(true).await {
                Ok(_) => {
                    head += n as i64;
                    pending.drain(..n);
                }
                Err(e) => {
                    let at = first_duplicate(&e).ok_or(e)?;
                    // Everything before `at` is stored, at head+1 ..= head+at.
                    head += at as i64;
                    let lost = pending.drain(..=at).next_back();
                    let Some(lost) = lost else { break };
                    if self.is_recorded(&lost.key()).await? {
                        // Recorded by another delivery meanwhile; its position was not taken.
                        continue;
                    }
                    // Another writer holds head+1: step past it and try again.
                    pending.insert(0, lost);
                    head += 1;
                    collisions += 1;
                    if collisions.is_multiple_of(STEPS_BEFORE_READING_HEAD) {
                        head = head.max(self.changes_head().await?);
                    }
                }
            }
        }
        self.advance_hint(head).await;
        Ok(())
    }

    async fn unrecorded(&self, changes: &[NewChange]) -> Result<Vec<NewChange>, StoreError> {
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<&NewChange> = changes.iter().filter(|c| seen.insert(c.key())).collect();
        let mut recorded = std::collections::HashSet::new();
        for chunk in unique.chunks(KEY_CHUNK) {
            let keys: Vec<String> = chunk.iter().map(|c| c.key()).collect();
            let mut found = self
                .changes()
                .find(doc! {"key": {"$in": &keys}})
                .projection(doc! {"key": 1, "_id": 0})
                .await?;
            while let Some(d) = found.try_next().await? {
                if let Ok(k) = d.get_str("key") {
                    recorded.insert(k.to_owned());
                }
            }
        }
        Ok(unique
            .into_iter()
            .filter(|c| !recorded.contains(&c.key()))
            .cloned()
            .collect())
    }

    async fn is_recorded(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self
            .changes()
            .find_one(doc! {"key": key})
            .projection(doc! {"_id": 1})
            .await?
            .is_some())
    }

    async fn head_hint(&self) -> Result<i64, StoreError> {
        Ok(self
            .coll(META)
            .find_one(doc! {"_id": HEAD})
            .await?
            .and_then(|d| d.get("seq").and_then(as_i64))
            .unwrap_or(0))
    }

    /// Moves the hint forward; a failure only costs the next writer a few collisions.
    async fn advance_hint(&self, head: i64) {
        let r = self
            .coll(META)
            .update_one(doc! {"_id": HEAD}, doc! {"$max": {"seq": head}})
            .upsert(true)
            .await;
        if let Err(e) = r
            && !super::is_duplicate_key(&e)
        {
            tracing::warn!(error = %e, "could not move the changes head hint");
        }
    }

    /// The position of the newest change (0 when there is none).
    pub async fn changes_head(&self) -> Result<i64, StoreError> {
        self.edge(-1).await
    }

    async fn edge(&self, direction: i32) -> Result<i64, StoreError> {
        Ok(self
            .changes()
            .find_one(doc! {})
            .sort(doc! {"_id": direction})
            .projection(doc! {"_id": 1})
            .await?
            .and_then(|d| d.get("_id").and_then(as_i64))
            .unwrap_or(0))
    }

    /// The changes after position `after`, oldest first, optionally of one source.
    pub async fn list_changes(
        &self,
        after: i64,
        limit: i64,
        source_id: Option<&str>,
    ) -> Result<Result<ChangesPage, CursorProblem>, StoreError> {
        if after > 0 {
            let oldest = self.edge(1).await?;
            if oldest > after + 1 {
                return Ok(Err(CursorProblem::Expired { oldest }));
            }
        }
        let mut filter = doc! {"_id": {"$gt": after}};
        if let Some(s) = source_id {
            filter.insert("sourceId", s);
        }
        let docs: Vec<Document> = self
            .changes()
            .find(filter)
            .sort(doc! {"_id": 1})
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        if docs.is_empty() && after > 0 {
            let head = self.changes_head().await?;
            if after > head {
                return Ok(Err(CursorProblem::Ahead { head }));
            }
        }
        let changes: Vec<JobChange> = docs.iter().filter_map(change_from_doc).collect();
        let next = changes.last().map_or(after, |c| c.seq);
        Ok(Ok(ChangesPage {
            has_more: docs.len() as i64 == limit,
            changes,
            next_cursor: next.to_string(),
        }))
    }

    /// Deletes the changes recorded before `cutoff` (RFC 3339), except the newest.
    pub async fn prune_changes(&self, cutoff: &str) -> Result<u64, StoreError> {
        let head = self.changes_head().await?;
        Ok(self
            .changes()
            .delete_many(doc! {"_id": {"$lt": head}, "at": {"$lt": cutoff}})
            .await?
            .deleted_count)
    }
}

fn change_doc(seq: i64, c: &NewChange, now: &str) -> Document {
    let mut d = doc! {
        "_id": seq,
        "key": c.key(),
        "jobId": &c.job_id,
        "kind": c.kind.as_str(),
        "at": now,
    };
    for (k, v) in [
        ("sourceId", &c.source_id),
        ("runId", &c.run_id),
        ("reason", &c.reason),
    ] {
        if let Some(v) = v {
            d.insert(k, v);
        }
    }
    d
}

fn change_from_doc(d: &Document) -> Option<JobChange> {
    let s = |k: &str| d.get_str(k).ok().map(str::to_owned);
    Some(JobChange {
        seq: d.get("_id").and_then(as_i64)?,
        job_id: s("jobId")?,
        kind: ChangeKind::parse(d.get_str("kind").ok()?)?,
        at: s("at").unwrap_or_default(),
        source_id: s("sourceId"),
        run_id: s("runId"),
        reason: s("reason"),
    })
}

fn as_i64(b: &Bson) -> Option<i64> {
    match b {
        Bson::Int64(n) => Some(*n),
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Double(n) => Some(*n as i64),
        _ => None,
    }
}

/// Where an ordered insert stopped on a duplicate key (the documents before it are stored);
/// `None` for any other error.
fn first_duplicate(e: &mongodb::error::Error) -> Option<usize> {
    match &*e.kind {
        ErrorKind::InsertMany(f) => {
            let w = f.write_errors.as_ref()?.iter().min_by_key(|w| w.index)?;
            (w.code == 11000).then_some(w.index)
        }
        _ => super::is_duplicate_key(e).then_some(0),
    }
}
