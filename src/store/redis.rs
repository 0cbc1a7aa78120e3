//! Redis: one connection manager shared by the queues, leases that let exactly one daemon do a
//! thing (fire a tick, run a source), and the channel that carries run changes to every daemon.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Client};

use super::StoreError;
use crate::config::RedisSettings;

/// Keys and channels under the configured prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    /// Held by the daemon that sweeps stale runs this interval.
    pub fn sweep_lease(&self) -> String {
        format!("{}:lease:sweep", self.prefix)
    }
    /// Held by the daemon that closes expired jobs this interval.
    pub fn expiry_lease(&self) -> String {
        format!("{}:lease:expiry", self.prefix)
    }
    /// Held by the daemon that checks links this interval.
    pub fn link_check_lease(&self) -> String {
        format!("{}:lease:links", self.prefix)
    }
    /// Held for `retention.interval_secs` by the daemon that applied retention last.
    pub fn retention_lease(&self) -> String {
        format!("{}:lease:retention", self.prefix)
    }
    /// Held by the daemon sending alert delivery `id` (at most `alerts.delivery_lease_secs`).
    pub fn alert_delivery_lease(&self, id: &str) -> String {
        format!("{}:lease:alert-delivery:{id}", self.prefix)
    }
    /// Held for `alerts.stale_check_interval_secs` by the daemon that judged staleness last.
    pub fn stale_check_lease(&self) -> String {
        format!("{}:lease:alerts-stale", self.prefix)
    }
    /// Held by the writer appending to the changes feed, so that writers take turns instead
    /// of colliding on its positions (`mongo::changes`).
    pub fn changes_append_lease(&self) -> String {
        format!("{}:lease:changes-append", self.prefix)
    }
    /// Held by the daemon sending changes webhook `id`'s batches (`actors::changes_out`).
    pub fn changes_webhook_lease(&self, id: &str) -> String {
        format!("{}:lease:changes-webhook:{id}", self.prefix)
    }
    /// Every change of a run is published here as the whole run document.
    pub fn history_channel(&self) -> String {
        format!("{}:history", self.prefix)
    }
    /// A message here tells every daemon's scheduler that the sources changed (an edit made
    /// through the CLI or another daemon), so it re-reads them at once.
    pub fn sources_channel(&self) -> String {
        format!("{}:sources", self.prefix)
    }
    /// A message here tells every daemon to read the pause state again from MongoDB.
    pub fn maintenance_channel(&self) -> String {
        format!("{}:maintenance", self.prefix)
    }
    pub fn fetch_queue(&self) -> String {
        format!("{}:fetch", self.prefix)
    }
    pub fn items_queue(&self) -> String {
        format!("{}:items", self.prefix)
    }
}

#[derive(Clone)]
pub struct Redis {
    pub client: Client,
    pub conn: ConnectionManager,
    pub keys: Keys,
}

impl Redis {
    /// Connects, waiting up to `startup_wait_secs` (with backoff, saying why in the log) for
    /// a Redis that is down, restarting or still loading its data set.
    pub async fn connect(s: &RedisSettings) -> Result<Self, StoreError> {
        let client = Client::open(s.url.expose())?;
        let cfg = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_millis(s.response_timeout_ms)))
            .set_connection_timeout(Some(Duration::from_millis(s.connection_timeout_ms)))
            .set_number_of_retries(4);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(s.startup_wait_secs);
        let mut pause = Duration::from_millis(100);
        loop {
            let attempt = async {
                let conn = client
                    .get_connection_manager_with_config(cfg.clone())
                    .await?;
                let redis = Self {
                    client: client.clone(),
                    conn,
                    keys: Keys::new(&s.prefix),
                };
                redis.ping().await?;
                Ok::<_, StoreError>(redis)
            };
            match attempt.await {
                Ok(redis) => return Ok(redis),
                Err(e) if e.is_transient() && tokio::time::Instant::now() < deadline => {
                    tracing::warn!(error = %e, retry_in = ?pause, "Redis is not ready yet; waiting");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut c).await?;
        Ok(())
    }

    /// `SET key value NX PX ttl`: true when this caller now holds the lease.
    pub async fn try_lease(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let r: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut c)
            .await?;
        Ok(r.is_some())
    }

    /// Waits up to `wait` for the lease, polling; `None` when it stayed taken.
    pub async fn acquire(
        &self,
        key: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Option<String>, StoreError> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let deadline = tokio::time::Instant::now() + wait;
        let mut pause = Duration::from_millis(2);
        loop {
            if self.try_lease(key, &token, ttl).await? {
                return Ok(Some(token));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    pub async fn lease_holder(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut c = self.conn.clone();
        Ok(c.get(key).await?)
    }

    /// Deletes the lease only if `value` still holds it, so nobody frees another's lease.
    pub async fn release_lease(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let script = redis::Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
        );
        let _: i64 = script.key(key).arg(value).invoke_async(&mut c).await?;
        Ok(())
    }

    /// Adds members to a set that expires after `ttl`.
    pub async fn add_to_set(
        &self,
        key: &str,
        members: &[String],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        if members.is_empty() {
            return Ok(());
        }
        let mut c = self.conn.clone();
        let _: () = redis::pipe()
            .sadd(key, members)
            .ignore()
            .expire(key, ttl.as_secs() as i64)
            .ignore()
            .query_async(&mut c)
            .await?;
        Ok(())
    }

    /// Adds members to a set and one field to a hash, both expiring after `ttl`, in one round
    /// trip.
    pub async fn add_to_set_and_hash(
        &self,
        set: &str,
        members: &[String],
        hash: &str,
        field: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let mut pipe = redis::pipe();
        if !members.is_empty() {
            pipe.sadd(set, members)
                .ignore()
                .expire(set, ttl.as_secs() as i64)
                .ignore();
        }
        pipe.hset(hash, field, value)
            .ignore()
            .expire(hash, ttl.as_secs() as i64)
            .ignore();
        let _: () = pipe.query_async(&mut c).await?;
        Ok(())
    }

    /// Adds one member to a set that expires after `ttl`; returns the set's size.
    pub async fn add_and_count(
        &self,
        key: &str,
        member: &str,
        ttl: Duration,
    ) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        let (size,): (u64,) = redis::pipe()
            .sadd(key, member)
            .ignore()
            .expire(key, ttl.as_secs() as i64)
            .ignore()
            .scard(key)
            .query_async(&mut c)
            .await?;
        Ok(size)
    }

    /// Sets `field` of hash `key` to `value`; the hash expires after `ttl`.
    pub async fn set_field(
        &self,
        key: &str,
        field: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: () = redis::pipe()
            .hset(key, field, value)
            .ignore()
            .expire(key, ttl.as_secs() as i64)
            .ignore()
            .query_async(&mut c)
            .await?;
        Ok(())
    }

    /// `None` when hash `key` does not exist, else its `field` (if set), in one round trip.
    pub async fn field_if_exists(
        &self,
        key: &str,
        field: &str,
    ) -> Result<Option<Option<String>>, StoreError> {
        let mut c = self.conn.clone();
        let (exists, value): (bool, Option<String>) = redis::pipe()
            .exists(key)
            .hget(key, field)
            .query_async(&mut c)
            .await?;
        Ok(exists.then_some(value))
    }

    pub async fn is_member(&self, key: &str, member: &str) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        Ok(c.sismember(key, member).await?)
    }

    pub async fn set_size(&self, key: &str) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        Ok(c.scard(key).await?)
    }

    pub async fn set_members(
        &self,
        key: &str,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut c = self.conn.clone();
        Ok(c.smembers(key).await?)
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: i64 = c.del(key).await?;
        Ok(())
    }

    /// Deletes every key matching `pattern` (`SCAN` + `UNLINK`, a thousand at a time).
    pub async fn delete_matching(&self, pattern: &str) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut c)
                .await?;
            if !keys.is_empty() {
                let n: u64 = redis::cmd("UNLINK").arg(&keys).query_async(&mut c).await?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    pub async fn publish(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: i64 = c.publish(channel, payload).await?;
        Ok(())
    }
}
