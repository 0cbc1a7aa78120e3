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

#[derive(Clone)]
pub struct JobIndex {
    redis: Redis,
}

impl JobIndex {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }

    fn jobs_key(&self, publisher: &str) -> String {
        format!("{}:jobidx:{publisher}", self.redis.keys.prefix())
    }

    fn twins_key(&self) -> String {
        format!("{}:jobidx-dedupe", self.redis.keys.prefix())
    }

    /// The jobs a source carries (open ones).
    pub fn source_key(&self, source_id: &str) -> String {
        format!("{}:jobidx-src:{source_id}", self.redis.keys.prefix())
    }

    /// The jobs a source has missed at least once since it last saw them.
    pub fn missed_key(&self, source_id: &str) -> String {
        format!("{}:jobidx-missed:{source_id}", self.redis.keys.prefix())
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

    /// Whether the index knows this source's jobs at all (it may have been lost with Redis).
    pub async fn knows_source(&self, source_id: &str) -> Result<bool, StoreError> {
        let mut c = self.redis.conn.clone();
        Ok(c.exists(self.source_key(source_id)).await?)
    }

    /// Jobs of the source that the run did not see, and jobs it saw again after missing them.
    pub async fn sightings(
        &self,
        source_id: &str,
        seen_key: &str,
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let mut c = self.redis.conn.clone();
        let missing: Vec<String> = c
            .sdiff(&[self.source_key(source_id), seen_key.to_owned()])
            .await?;
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

    /// Dedupe key → `publisher|id` of the first job stored with it.
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
                let (p, id) = r.split_once('|')?;
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
            pipe.hset_nx(self.twins_key(), key, format!("{publisher}|{id}"))
                .ignore();
        }
        if !keys.is_empty() {
            let _: () = pipe.query_async(&mut c).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
