//! What the import workers know about stored jobs, kept in Redis beside MongoDB: per job its
//! content hash, the runs that created, changed and reopened it, its status and its sources;
//! per dedupe key the first job that carries it. With it, a batch is classified without
//! reading MongoDB, and an unchanged feed is re-imported without touching the database.
//!
//! MongoDB stays the record. An entry missing from the index only costs a read: the insert of
//! a job that does exist fails on its unique id, and that job is then read and classified.

use std::collections::HashMap;

use redis::{AsyncCommands, ToRedisArgs};

use super::StoreError;
use super::redis::Redis;

/// How long a run's set of closed jobs is kept: far longer than any repeated completion.
const CLOSED_TTL: std::time::Duration = std::time::Duration::from_secs(2 * 24 * 3600);

/// The index's view of one stored job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub content_hash: String,
    pub created_by_run: Option<String>,
    pub updated_by_run: Option<String>,
    pub reopened_by_run: Option<String>,
    pub closed: bool,
    pub sources: Vec<String>,
}

impl Entry {
    /// `hash|created|updated|reopened|o or c|source,source`; run ids and source ids have no `|`.
    pub fn encode(&self) -> String {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        format!(
            "{}|{}|{}|{}|{}|{}",
            self.content_hash,
            o(&self.created_by_run),
            o(&self.updated_by_run),
            o(&self.reopened_by_run),
            if self.closed { "c" } else { "o" },
            self.sources.join(",")
        )
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let mut p = raw.split('|');
        let opt = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(str::to_owned);
        let content_hash = p.next()?.to_owned();
        let created_by_run = opt(p.next());
        let updated_by_run = opt(p.next());
        let reopened_by_run = opt(p.next());
        let closed = p.next()? == "c";
        let sources = p
            .next()?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        Some(Self {
            content_hash,
            created_by_run,
            updated_by_run,
            reopened_by_run,
            closed,
            sources,
        })
    }
}

/// The member of a source's set that says the set lists every open job of the source (it was
/// filled from MongoDB). It lives in the set itself, so a set that Redis lost, wholly or
/// partly rebuilt by later batches, never passes for complete.
const COMPLETE: &str = "*";

/// The index of one database. Its keys carry the database's index *epoch* (a random id kept
/// in MongoDB, see `Store::index_epoch`), so a database never reads another database's index
/// (a fresh database, one restored from a backup, another `mongodb.database`), and starting a
/// new epoch drops the whole index at once.
///
/// Key layout, under the deployment's prefix `{p}` and the epoch `{e}`:
/// `{p}:jobidx:{e}:jobs:{publisher}` (hash: job id → entry), `{p}:jobidx:{e}:dedupe` (hash:
/// dedupe key → publisher and id), `{p}:jobidx:{e}:src:{source}` (set: open jobs the source
/// carries, with `*` once complete), `{p}:jobidx:{e}:missed:{source}` (set: jobs the source
/// missed since it last saw them).
#[derive(Clone)]
pub struct JobIndex {
    redis: Redis,
    epoch: String,
}

impl JobIndex {
    pub fn new(redis: Redis, epoch: &str) -> Self {
        Self {
            redis,
            epoch: epoch.to_owned(),
        }
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Every key of an epoch's index matches this pattern.
    pub fn pattern(prefix: &str, epoch: &str) -> String {
        format!("{prefix}:jobidx:{epoch}:*")
    }

    fn key(&self, what: &str) -> String {
        format!("{}:jobidx:{}:{what}", self.redis.keys.prefix(), self.epoch)
    }

    fn jobs_key(&self, publisher: &str) -> String {
        self.key(&format!("jobs:{}", escape(publisher)))
    }

    fn twins_key(&self) -> String {
        self.key("dedupe")
    }

    /// The jobs a source carries (open ones).
    pub fn source_key(&self, source_id: &str) -> String {
        self.key(&format!("src:{source_id}"))
    }

    /// The jobs a source has missed at least once since it last saw them.
    pub fn missed_key(&self, source_id: &str) -> String {
        self.key(&format!("missed:{source_id}"))
    }

    /// Up to `n` random jobs of the source's set, for a check against MongoDB.
    pub async fn sample_source(
        &self,
        source_id: &str,
        n: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut c = self.redis.conn.clone();
        let ids: Vec<String> = c
            .srandmember_multiple(self.source_key(source_id), n as isize)
            .await?;
        Ok(ids.into_iter().filter(|i| i != COMPLETE).collect())
    }

    /// Lists every open job of the source in its set (read from MongoDB), and marks the set
    /// complete.
    pub async fn fill_source(&self, source_id: &str, open: &[String]) -> Result<(), StoreError> {
        let key = self.source_key(source_id);
        let mut c = self.redis.conn.clone();
        for chunk in open.chunks(10_000) {
            let _: i64 = c.sadd(&key, chunk).await?;
        }
        let _: i64 = c.sadd(&key, COMPLETE).await?;
        Ok(())
    }

    /// Forgets a source (it was deleted).
    pub async fn drop_source(&self, source_id: &str) -> Result<(), StoreError> {
        let mut c = self.redis.conn.clone();
        let _: i64 = c
            .del(&[self.source_key(source_id), self.missed_key(source_id)])
            .await?;
        Ok(())
    }

    pub async fn add_to_source<S: AsRef<str> + ToRedisArgs + Sync>(
        &self,
        source_id: &str,
        ids: &[S],
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut c = self.redis.conn.clone();
        let _: i64 = c.sadd(self.source_key(source_id), ids).await?;
        Ok(())
    }

    /// Whether the index lists every open job of this source (it may have lost them with
    /// Redis, or never had them: a new epoch, a source new to this database).
    pub async fn knows_source(&self, source_id: &str) -> Result<bool, StoreError> {
        let mut c = self.redis.conn.clone();
        Ok(c.sismember(self.source_key(source_id), COMPLETE).await?)
    }

    /// Jobs of the source that the run did not see, and jobs it saw again after missing them.
    pub async fn sightings(
        &self,
        source_id: &str,
        seen_key: &str,
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let mut c = self.redis.conn.clone();
        let mut missing: Vec<String> = c
            .sdiff(&[self.source_key(source_id), seen_key.to_owned()])
            .await?;
        missing.retain(|m| m != COMPLETE);
        let back: Vec<String> = c
            .sinter(&[self.missed_key(source_id), seen_key.to_owned()])
            .await?;
        Ok((missing, back))
    }

    pub async fn mark_missed(
        &self,
        source_id: &str,
        missing: &[String],
        back: &[String],
    ) -> Result<(), StoreError> {
        if missing.is_empty() && back.is_empty() {
            return Ok(());
        }
        let mut c = self.redis.conn.clone();
        let mut pipe = redis::pipe();
        if !missing.is_empty() {
            pipe.sadd(self.missed_key(source_id), missing).ignore();
        }
        if !back.is_empty() {
            pipe.srem(self.missed_key(source_id), back).ignore();
        }
        let _: () = pipe.query_async(&mut c).await?;
        Ok(())
    }

    /// A closed job leaves every source's open set.
    pub async fn remove_from_sources(
        &self,
        sources: &[String],
        id: &str,
    ) -> Result<(), StoreError> {
        if sources.is_empty() {
            return Ok(());
        }
        let mut c = self.redis.conn.clone();
        let mut pipe = redis::pipe();
        for s in sources {
            pipe.srem(self.source_key(s), id).ignore();
            pipe.srem(self.missed_key(s), id).ignore();
        }
        let _: () = pipe.query_async(&mut c).await?;
        Ok(())
    }

    /// Notes jobs a run is about to close (the set lives as long as sightings do).
    pub async fn record_closed(&self, key: &str, ids: &[String]) -> Result<(), StoreError> {
        self.redis.add_to_set(key, ids, CLOSED_TTL).await
    }

    /// How many jobs a run has closed, from the set `record_closed` fills.
    pub async fn closed_count(&self, key: &str) -> Result<i64, StoreError> {
        Ok(self.redis.set_size(key).await? as i64)
    }

    pub async fn get<S: AsRef<str> + ToRedisArgs + Sync>(
        &self,
        publisher: &str,
        ids: &[S],
    ) -> Result<HashMap<String, Entry>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut c = self.redis.conn.clone();
        let raw: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.jobs_key(publisher))
            .arg(ids)
            .query_async(&mut c)
            .await?;
        Ok(ids
            .iter()
            .zip(raw)
            .filter_map(|(id, r)| Some((id.as_ref().to_owned(), Entry::decode(&r?)?)))
            .collect())
    }

    pub async fn put(
        &self,
        publisher: &str,
        entries: &[(String, Entry)],
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut c = self.redis.conn.clone();
        let items: Vec<(&str, String)> = entries
            .iter()
            .map(|(id, e)| (id.as_str(), e.encode()))
            .collect();
        let _: () = c.hset_multiple(self.jobs_key(publisher), &items).await?;
        Ok(())
    }

    /// Dedupe key → publisher and id of the first job stored with it (stored as `id|publisher`:
    /// ids are hex, so the first `|` splits them whatever the publisher holds).
    pub async fn twins<S: AsRef<str> + ToRedisArgs + Sync>(
        &self,
        keys: &[S],
    ) -> Result<HashMap<String, (String, String)>, StoreError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut c = self.redis.conn.clone();
        let raw: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.twins_key())
            .arg(keys)
            .query_async(&mut c)
            .await?;
        Ok(keys
            .iter()
            .zip(raw)
            .filter_map(|(k, r)| {
                let r = r?;
                let (id, p) = r.split_once('|')?;
                Some((k.as_ref().to_owned(), (p.to_owned(), id.to_owned())))
            })
            .collect())
    }

    pub async fn put_twins(
        &self,
        publisher: &str,
        keys: &[(String, String)],
    ) -> Result<(), StoreError> {
        let mut c = self.redis.conn.clone();
        let mut pipe = redis::pipe();
        for (key, id) in keys {
            pipe.hset_nx(self.twins_key(), key, format!("{id}|{publisher}"))
                .ignore();
        }
        if !keys.is_empty() {
            let _: () = pipe.query_async(&mut c).await?;
        }
        Ok(())
    }
}

impl JobIndex {
    /// Forgets jobs deleted from MongoDB: their entries, their sources' sets, and the dedupe
    /// keys that name them (so a job that comes back is stored as new). Called before the
    /// deletion: an entry missing for a job that still exists only costs a read.
    pub async fn forget(&self, jobs: &[ForgottenJob]) -> Result<(), StoreError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let keys: Vec<&str> = jobs
            .iter()
            .filter_map(|j| j.dedupe_key.as_deref())
            .collect();
        let twins = self.twins(&keys).await?;
        let mut c = self.redis.conn.clone();
        let mut pipe = redis::pipe();
        for j in jobs {
            pipe.hdel(self.jobs_key(&j.publisher), &j.id).ignore();
            for s in &j.sources {
                pipe.srem(self.source_key(s), &j.id).ignore();
                pipe.srem(self.missed_key(s), &j.id).ignore();
            }
            if let Some(k) = &j.dedupe_key
                && twins.get(k).is_some_and(|(_, id)| *id == j.id)
            {
                pipe.hdel(self.twins_key(), k).ignore();
            }
        }
        let _: () = pipe.query_async(&mut c).await?;
        Ok(())
    }
}

/// What the index holds of a job that is being deleted.
#[derive(Debug, Clone)]
pub struct ForgottenJob {
    pub id: String,
    pub publisher: String,
    pub sources: Vec<String>,
    pub dedupe_key: Option<String>,
}

/// A publisher as a key part: `:` and `%` escaped, so no two publishers share a key.
fn escape(publisher: &str) -> String {
    publisher.replace('%', "%25").replace(':', "%3A")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishers_never_share_a_key() {
        assert_ne!(escape("a:b"), escape("a%3Ab"));
        assert_eq!(escape("jobicy.com"), "jobicy.com");
    }

    #[test]
    fn entries_round_trip() {
        let e = Entry {
            content_hash: "abc".into(),
            created_by_run: Some("r1".into()),
            updated_by_run: None,
            reopened_by_run: Some("r3".into()),
            closed: true,
            sources: vec!["a".into(), "b-c".into()],
        };
        assert_eq!(Entry::decode(&e.encode()), Some(e));
        assert_eq!(Entry::decode("garbage"), None);
    }
}
