//! What the import workers know about stored jobs, kept in Redis beside MongoDB: per job a
//! digest of its content, tags of the runs that created, changed and reopened it, its status
//! and tags of its sources; per dedupe key the first job that carries it; per source the open
//! jobs it carries. With it, a batch is classified without reading MongoDB, and an unchanged
//! feed is re-imported without touching the database.
//!
//! MongoDB stays the record. An entry missing from the index only costs a read: the insert of
//! a job that does exist fails on its unique id, and that job is then read and classified.
//!
//! The index is compact (about 100 bytes of Redis memory per stored job at a million jobs, see
//! `BENCHMARKS.md`): values are binary, digests and tags are 8 bytes (4 for sources), and
//! entries live in many small hashes, which Redis keeps in its compact *listpack* encoding
//! while each holds at most `hash-max-listpack-entries` (128 by default) fields of at most
//! `hash-max-listpack-value` (64) bytes. A tag stands for a run, a source or a content hash by
//! the first bytes of its SHA-256: two different contents share a digest with a probability
//! of 2^-64, which the index accepts as it accepts a lost entry.

use std::collections::HashMap;

use redis::AsyncCommands;
use sha2::{Digest, Sha256};

use super::StoreError;
use super::redis::Redis;

/// How long a run's set of closed jobs is kept: far longer than any repeated completion.
const CLOSED_TTL: std::time::Duration = std::time::Duration::from_secs(2 * 24 * 3600);

/// Bits of a job's (or a dedupe key's) digest that pick its hash among `2^BUCKET_BITS`: 16,384
/// hashes hold about 61 entries each at a million jobs, and stay compact up to about one and a
/// half million (beyond, Redis converts the crowded ones to its larger encoding: still correct,
/// larger; raising `hash-max-listpack-entries` keeps them compact).
const BUCKET_BITS: u32 = 14;

/// Most open jobs per hash of a source's set, on average, when the set is (re)built: the
/// set's hashes are `2^k` with the smallest `k` that keeps them this full.
const SOURCE_FILL: usize = 64;
/// A source's set is rebuilt with more hashes once it averages this many per hash.
const SOURCE_REBUILD: usize = 96;
const SOURCE_MAX_BITS: u32 = 16;

/// The field each hash of a complete source set holds beside its jobs.
const COMPLETE: &[u8] = b"*";

/// The first `N` bytes of `b` (zeros past its end).
fn first<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    let n = N.min(b.len());
    out[..n].copy_from_slice(&b[..n]);
    out
}

/// A run, a source or a content hash, by the first 8 bytes of its SHA-256.
pub type Tag = u64;

pub fn tag(s: &str) -> Tag {
    let d = Sha256::digest(s.as_bytes());
    u64::from_be_bytes(first(&d))
}

/// A source by the first 4 bytes of its SHA-256 (a job carries few; a collision only makes a
/// source believe it already carries a job, which a complete read of the source corrects).
pub fn source_tag(s: &str) -> u32 {
    let d = Sha256::digest(s.as_bytes());
    u32::from_be_bytes(first(&d))
}

/// The index's view of one stored job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub content_hash: Tag,
    pub created_by_run: Option<Tag>,
    pub updated_by_run: Option<Tag>,
    pub reopened_by_run: Option<Tag>,
    pub closed: bool,
    pub sources: Vec<u32>,
}

const CLOSED: u8 = 1;
const CREATED: u8 = 2;
const UPDATED: u8 = 4;
const REOPENED: u8 = 8;

impl Entry {
    pub fn carries(&self, source_id: &str) -> bool {
        self.sources.contains(&source_tag(source_id))
    }

    pub fn add_source(&mut self, source_id: &str) {
        let t = source_tag(source_id);
        if !self.sources.contains(&t) {
            self.sources.push(t);
        }
    }

    /// A flags byte, the content digest, the runs that are set (8 bytes each, in the flags'
    /// order), then 4 bytes per source: 21 bytes for a job one run created and one source
    /// carries.
    pub fn encode(&self) -> Vec<u8> {
        let mut flags = 0;
        let mut out = Vec::with_capacity(1 + 8 * 4 + 4 * self.sources.len());
        out.push(0);
        out.extend_from_slice(&self.content_hash.to_be_bytes());
        for (bit, run) in [
            (CREATED, self.created_by_run),
            (UPDATED, self.updated_by_run),
            (REOPENED, self.reopened_by_run),
        ] {
            if let Some(r) = run {
                flags |= bit;
                out.extend_from_slice(&r.to_be_bytes());
            }
        }
        if self.closed {
            flags |= CLOSED;
        }
        out[0] = flags;
        for s in &self.sources {
            out.extend_from_slice(&s.to_be_bytes());
        }
        out
    }

    pub fn decode(raw: &[u8]) -> Option<Self> {
        let (&flags, mut rest) = raw.split_first()?;
        let mut u64_at = || -> Option<u64> {
            let (head, tail) = rest.split_at_checked(8)?;
            rest = tail;
            Some(u64::from_be_bytes(head.try_into().ok()?))
        };
        let content_hash = u64_at()?;
        let mut run = |bit| {
            if flags & bit != 0 {
                u64_at().map(Some)
            } else {
                Some(None)
            }
        };
        let created_by_run = run(CREATED)?;
        let updated_by_run = run(UPDATED)?;
        let reopened_by_run = run(REOPENED)?;
        if rest.len() % 4 != 0 {
            return None;
        }
        let sources = rest
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes(first(c)))
            .collect();
        Some(Self {
            content_hash,
            created_by_run,
            updated_by_run,
            reopened_by_run,
            closed: flags & CLOSED != 0,
            sources,
        })
    }
}

/// A job id as bytes: the 16 bytes its 32 hex digits spell (every id `jobs::job_id` makes),
/// else `0xff` and the id's own bytes. Reversible (`id_from_bytes`).
fn id_bytes(id: &str) -> Vec<u8> {
    if id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && let Ok(b) = hex::decode(id)
    {
        return b;
    }
    let mut out = Vec::with_capacity(id.len() + 1);
    out.push(0xff);
    out.extend_from_slice(id.as_bytes());
    out
}

fn id_from_bytes(b: &[u8]) -> Option<String> {
    match b.split_first() {
        Some((0xff, rest)) => String::from_utf8(rest.to_vec()).ok(),
        _ if b.len() == 16 => Some(hex::encode(b)),
        _ => None,
    }
}

/// 16 bytes that spread ids (and dedupe keys) evenly: the id's own bytes when it is 32 hex
/// digits (already a SHA-256 prefix), else its SHA-256.
fn spread(id: &str) -> [u8; 16] {
    let b = id_bytes(id);
    if b.len() == 16 {
        return first(&b);
    }
    first(&Sha256::digest(id.as_bytes()))
}

/// Which of `2^bits` hashes a digest belongs to, and its field there: the 7 bytes after the
/// first two, so two ids share a place only when 71 bits of their digests agree.
fn place(d: &[u8; 16], bits: u32) -> (u32, [u8; 7]) {
    let top = u32::from(u16::from_be_bytes([d[0], d[1]]));
    let bucket = if bits == 0 { 0 } else { top >> (16 - bits) };
    (bucket, first(&d[2..]))
}

/// The hash of a source's set that holds a job, among `2^bits`.
fn source_bucket(id: &str, bits: u32) -> u32 {
    place(&spread(id), bits).0
}

/// The smallest `k` whose `2^k` hashes hold `n` jobs at `SOURCE_FILL` each.
fn source_bits(n: usize) -> u32 {
    let mut k = 0;
    while k < SOURCE_MAX_BITS && n > SOURCE_FILL << k {
        k += 1;
    }
    k
}

/// Edits a source's set if it is complete under `ARGV[1]` hash bits: `ARGV[2]` is `add` or
/// `del`, `KEYS[1]` the set's bits key, `KEYS[i+1]` the hash of member `ARGV[i+2]`. Returns 1
/// when applied, 0 when the set is not complete (nothing to keep up to date), -1 when it was
/// rebuilt with other bits meanwhile (read them again).
const EDIT_SOURCE: &str = r#"
local k = redis.call('GET', KEYS[1])
if not k then return 0 end
if k ~= ARGV[1] then return -1 end
for i = 2, #KEYS do
  if ARGV[2] == 'add' then
    redis.call('HSET', KEYS[i], ARGV[i + 1], '')
  else
    redis.call('HDEL', KEYS[i], ARGV[i + 1])
  end
end
return 1
"#;

/// The index of one database. Its keys carry the database's index *epoch* (a random id kept
/// in MongoDB, see `Store::index_epoch`), so a database never reads another database's index
/// (a fresh database, one restored from a backup, another `mongodb.database`), and starting a
/// new epoch drops the whole index at once.
///
/// Key layout, under the deployment's prefix `{p}` and the epoch `{e}`, `{b}` a bucket number:
/// - `{p}:jobidx:{e}:j:{b}` (hash): 7 bytes of a job id's digest → its entry (`Entry::encode`);
///   the bucket is the digest's first 15 bits.
/// - `{p}:jobidx:{e}:d:{b}` (hash): 7 bytes of a dedupe key's SHA-256 → the publisher's tag
///   (4 bytes) and the id (`id_bytes`) of the first job stored with that key.
/// - `{p}:jobidx:{e}:sk:{source}` (string): the number `k` of bits of the source's set; it
///   exists only while the set is complete.
/// - `{p}:jobidx:{e}:s:{source}:{k}:{b}` (hash, `2^k` of them): `id_bytes` of each open job the
///   source carries → empty, plus the field `*`. A hash without `*` (lost, or rebuilt by later
///   writes) makes the set incomplete: the next complete read refills it from MongoDB.
/// - `{p}:jobidx:{e}:missed:{source}` (set of ids): jobs the source missed since it last saw
///   them.
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

    fn jobs_key(&self, bucket: u32) -> String {
        self.key(&format!("j:{bucket:x}"))
    }

    fn twins_key(&self, bucket: u32) -> String {
        self.key(&format!("d:{bucket:x}"))
    }

    fn bits_key(&self, source_id: &str) -> String {
        self.key(&format!("sk:{}", escape(source_id)))
    }

    fn source_key(&self, source_id: &str, bits: u32, bucket: u32) -> String {
        self.key(&format!("s:{}:{bits}:{bucket:x}", escape(source_id)))
    }

    /// Every hash of a source's set, whatever its bits (a glob).
    fn source_pattern(&self, source_id: &str) -> String {
        format!(
            "{}:jobidx:{}:s:{}:*",
            glob_escape(self.redis.keys.prefix()),
            self.epoch,
            glob_escape(&escape(source_id))
        )
    }

    /// The jobs a source has missed at least once since it last saw them.
    pub fn missed_key(&self, source_id: &str) -> String {
        self.key(&format!("missed:{source_id}"))
    }

    /// The bits of a source's set while it is complete.
    async fn source_bits_of(&self, source_id: &str) -> Result<Option<u32>, StoreError> {
        let mut c = self.redis.conn.clone();
        let k: Option<u32> = c.get(self.bits_key(source_id)).await?;
        Ok(k)
    }

    /// Up to `n` random jobs of the source's set, for a check against MongoDB.
    pub async fn sample_source(
        &self,
        source_id: &str,
        n: usize,
    ) -> Result<Vec<String>, StoreError> {
        let Some(bits) = self.source_bits_of(source_id).await? else {
            return Ok(Vec::new());
        };
        let mut c = self.redis.conn.clone();
        let mut pipe = redis::pipe();
        for _ in 0..n {
            let bucket = rand::random::<u32>() & ((1 << bits) - 1);
            pipe.cmd("HRANDFIELD")
                .arg(self.source_key(source_id, bits, bucket))
                .arg(2);
        }
        let picked: Vec<Vec<Vec<u8>>> = pipe.query_async(&mut c).await?;
        let mut out: Vec<String> = picked
            .into_iter()
            .flatten()
            .filter(|f| f != COMPLETE)
            .filter_map(|f| id_from_bytes(&f))
            .collect();
        out.sort();
        out.dedup();
        out.truncate(n);
        Ok(out)
    }

    /// Lists every open job of the source in its set (read from MongoDB), and marks the set
    /// complete. Called when no batch of the source is in flight (at the end of its run, or
    /// when the whole index is built).
    pub async fn fill_source(&self, source_id: &str, open: &[String]) -> Result<(), StoreError> {
        let mut c = self.redis.conn.clone();
        let bits_key = self.bits_key(source_id);
        let _: i64 = c.del(&bits_key).await?;
        self.redis
            .delete_matching(&self.source_pattern(source_id))
            .await?;
        let bits = source_bits(open.len());
        let mut by_bucket: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 1 << bits];
        for id in open {
            by_bucket[source_bucket(id, bits) as usize].push(id_bytes(id));
        }
        for chunk in by_bucket
            .into_iter()
            .enumerate()
            .collect::<Vec<_>>()
            .chunks(256)
        {
            let mut pipe = redis::pipe();
            for (bucket, ids) in chunk {
                let key = self.source_key(source_id, bits, *bucket as u32);
                let mut items: Vec<(&[u8], &[u8])> = vec![(COMPLETE, b"")];
                items.extend(ids.iter().map(|i| (i.as_slice(), &b""[..])));
                pipe.hset_multiple(key, &items).ignore();
            }
            let _: () = pipe.query_async(&mut c).await?;
        }
        let _: () = c.set(&bits_key, bits).await?;
        Ok(())
    }

    /// Forgets a source (it was deleted).
    pub async fn drop_source(&self, source_id: &str) -> Result<(), StoreError> {
        let mut c = self.redis.conn.clone();
        let _: i64 = c
            .del(&[self.bits_key(source_id), self.missed_key(source_id)])
            .await?;
        self.redis
            .delete_matching(&self.source_pattern(source_id))
            .await?;
        Ok(())
    }

    /// Adds jobs to (`add`) or removes them from a source's set, if the set is complete.
    async fn edit_source<S: AsRef<str>>(
        &self,
        source_id: &str,
        ids: &[S],
        add: bool,
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut c = self.redis.conn.clone();
        let script = redis::Script::new(EDIT_SOURCE);
        for _ in 0..5 {
            let Some(bits) = self.source_bits_of(source_id).await? else {
                return Ok(());
            };
            let mut inv = script.prepare_invoke();
            inv.key(self.bits_key(source_id))
                .arg(bits)
                .arg(if add { "add" } else { "del" });
            for id in ids {
                let id = id.as_ref();
                inv.key(self.source_key(source_id, bits, source_bucket(id, bits)))
                    .arg(id_bytes(id));
            }
            let r: i64 = inv.invoke_async(&mut c).await?;
            if r >= 0 {
                return Ok(());
            }
        }
        // Rebuilt again and again meanwhile: the set can no longer be trusted as complete.
        let _: i64 = c.del(self.bits_key(source_id)).await?;
        Ok(())
    }

    pub async fn add_to_source<S: AsRef<str>>(
        &self,
        source_id: &str,
        ids: &[S],
    ) -> Result<(), StoreError> {
        self.edit_source(source_id, ids, true).await
    }

    /// The open jobs of a complete source set, or `None` when the set is not complete (it may
    /// have lost them with Redis, or never had them: a new epoch, a source new to this
    /// database). A set grown past `SOURCE_REBUILD` per hash is rebuilt with more hashes.
    async fn source_members(&self, source_id: &str) -> Result<Option<Vec<String>>, StoreError> {
        let Some(bits) = self.source_bits_of(source_id).await? else {
            return Ok(None);
        };
        let mut c = self.redis.conn.clone();
        let mut members = Vec::new();
        let buckets: Vec<u32> = (0..1u32 << bits).collect();
        for chunk in buckets.chunks(256) {
            let mut pipe = redis::pipe();
            for &b in chunk {
                pipe.hkeys(self.source_key(source_id, bits, b));
            }
            let fields: Vec<Vec<Vec<u8>>> = pipe.query_async(&mut c).await?;
            for f in fields {
                if !f.iter().any(|x| x == COMPLETE) {
                    return Ok(None);
                }
                members.extend(
                    f.iter()
                        .filter(|x| *x != COMPLETE)
                        .filter_map(|x| id_from_bytes(x)),
                );
            }
        }
        if members.len() > SOURCE_REBUILD << bits && bits < SOURCE_MAX_BITS {
            self.fill_source(source_id, &members).await?;
        }
        Ok(Some(members))
    }

    /// Whether the index lists every open job of this source.
    pub async fn knows_source(&self, source_id: &str) -> Result<bool, StoreError> {
        Ok(self.source_members(source_id).await?.is_some())
    }

    /// Jobs of the source that the run did not see, and jobs it saw again after missing them;
    /// `None` when the source's set is not complete.
    pub async fn sightings(
        &self,
        source_id: &str,
        seen_key: &str,
    ) -> Result<Option<(Vec<String>, Vec<String>)>, StoreError> {
        let Some(members) = self.source_members(source_id).await? else {
            return Ok(None);
        };
        let mut c = self.redis.conn.clone();
        let mut missing = Vec::new();
        for chunk in members.chunks(10_000) {
            let seen: Vec<bool> = redis::cmd("SMISMEMBER")
                .arg(seen_key)
                .arg(chunk)
                .query_async(&mut c)
                .await?;
            missing.extend(
                chunk
                    .iter()
                    .zip(seen)
                    .filter(|(_, s)| !s)
                    .map(|(id, _)| id.clone()),
            );
        }
        let back: Vec<String> = c
            .sinter(&[self.missed_key(source_id), seen_key.to_owned()])
            .await?;
        Ok(Some((missing, back)))
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
    pub async fn remove_from_sources<S: AsRef<str>>(
        &self,
        sources: &[S],
        id: &str,
    ) -> Result<(), StoreError> {
        for s in sources {
            let s = s.as_ref();
            self.edit_source(s, &[id], false).await?;
            let mut c = self.redis.conn.clone();
            let _: i64 = c.srem(self.missed_key(s), id).await?;
        }
        Ok(())
    }

    /// Notes jobs a run is about to close (the set lives as long as sightings do).
    pub async fn record_closed(&self, key: &str, ids: &[String]) -> Result<(), StoreError> {
        self.redis.add_to_set(key, ids, CLOSED_TTL).await
    }

    /// Takes back jobs noted by `record_closed` that the run did not close after all.
    pub async fn unrecord_closed(&self, key: &str, ids: &[String]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut c = self.redis.conn.clone();
        let _: i64 = c.srem(key, ids).await?;
        Ok(())
    }

    /// How many jobs a run has closed, from the set `record_closed` fills.
    pub async fn closed_count(&self, key: &str) -> Result<i64, StoreError> {
        Ok(self.redis.set_size(key).await? as i64)
    }

    pub async fn get<S: AsRef<str>>(
        &self,
        ids: &[S],
    ) -> Result<HashMap<String, Entry>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut c = self.redis.conn.clone();
        let mut pipe = redis::pipe();
        for id in ids {
            let (bucket, field) = place(&spread(id.as_ref()), BUCKET_BITS);
            pipe.hget(self.jobs_key(bucket), &field[..]);
        }
        let raw: Vec<Option<Vec<u8>>> = pipe.query_async(&mut c).await?;
        Ok(ids
            .iter()
            .zip(raw)
            .filter_map(|(id, r)| Some((id.as_ref().to_owned(), Entry::decode(&r?)?)))
            .collect())
    }

    pub async fn put(&self, entries: &[(String, Entry)]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        type Field = [u8; 7];
        let mut by_bucket: HashMap<u32, Vec<(Field, Vec<u8>)>> = HashMap::new();
        for (id, e) in entries {
            let (bucket, field) = place(&spread(id), BUCKET_BITS);
            by_bucket
                .entry(bucket)
                .or_default()
                .push((field, e.encode()));
        }
        let mut c = self.redis.conn.clone();
        let mut pipe = redis::pipe();
        for (bucket, items) in &by_bucket {
            let items: Vec<(&[u8], &[u8])> =
                items.iter().map(|(f, v)| (&f[..], v.as_slice())).collect();
            pipe.hset_multiple(self.jobs_key(*bucket), &items).ignore();
        }
        let _: () = pipe.query_async(&mut c).await?;
        Ok(())
    }

    /// Dedupe key → the publisher's tag (`source_tag` of the publisher) and the id of the
    /// first job stored with it.
    pub async fn twins<S: AsRef<str>>(
        &self,
        keys: &[S],
    ) -> Result<HashMap<String, (u32, String)>, StoreError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut c = self.redis.conn.clone();
        let mut pipe = redis::pipe();
        for k in keys {
            let (bucket, field) = place(&digest(k.as_ref()), BUCKET_BITS);
            pipe.hget(self.twins_key(bucket), &field[..]);
        }
        let raw: Vec<Option<Vec<u8>>> = pipe.query_async(&mut c).await?;
        Ok(keys
            .iter()
            .zip(raw)
            .filter_map(|(k, r)| {
                let r = r?;
                let (p, id) = r.split_at_checked(4)?;
                let p = u32::from_be_bytes(p.try_into().ok()?);
                Some((k.as_ref().to_owned(), (p, id_from_bytes(id)?)))
            })
            .collect())
    }

    pub async fn put_twins(
        &self,
        publisher: &str,
        keys: &[(String, String)],
    ) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let p = source_tag(publisher).to_be_bytes();
        let mut c = self.redis.conn.clone();
        let mut pipe = redis::pipe();
        for (key, id) in keys {
            let (bucket, field) = place(&digest(key), BUCKET_BITS);
            let mut v = p.to_vec();
            v.extend_from_slice(&id_bytes(id));
            pipe.hset_nx(self.twins_key(bucket), &field[..], v).ignore();
        }
        let _: () = pipe.query_async(&mut c).await?;
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
        let mut by_source: HashMap<&str, Vec<&str>> = HashMap::new();
        for j in jobs {
            let (bucket, field) = place(&spread(&j.id), BUCKET_BITS);
            pipe.hdel(self.jobs_key(bucket), &field[..]).ignore();
            for s in &j.sources {
                by_source.entry(s).or_default().push(&j.id);
                pipe.srem(self.missed_key(s), &j.id).ignore();
            }
            if let Some(k) = &j.dedupe_key
                && twins.get(k).is_some_and(|(_, id)| *id == j.id)
            {
                let (bucket, field) = place(&digest(k), BUCKET_BITS);
                pipe.hdel(self.twins_key(bucket), &field[..]).ignore();
            }
        }
        let _: () = pipe.query_async(&mut c).await?;
        for (s, ids) in by_source {
            self.edit_source(s, &ids, false).await?;
        }
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

/// The SHA-256 of a dedupe key (a normalised title and company), first 16 bytes.
fn digest(key: &str) -> [u8; 16] {
    first(&Sha256::digest(key.as_bytes()))
}

fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Keys of the index layout this version no longer reads (per job strings and one set per
/// source, before the compact layout): deleted when a daemon of this version first uses an
/// epoch, so they do not hold Redis memory forever.
pub async fn drop_old_layout(redis: &Redis, epoch: &str) -> Result<u64, StoreError> {
    let base = format!("{}:jobidx:{epoch}", glob_escape(redis.keys.prefix()));
    let mut n = 0;
    for what in ["jobs:*", "src:*", "dedupe"] {
        n += redis.delete_matching(&format!("{base}:{what}")).await?;
    }
    Ok(n)
}

/// A source id as a key part: `:` and `%` escaped, so no source's keys match another's
/// pattern.
fn escape(source_id: &str) -> String {
    source_id.replace('%', "%25").replace(':', "%3A")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let e = Entry {
            content_hash: tag("abc"),
            created_by_run: Some(tag("r1")),
            updated_by_run: None,
            reopened_by_run: Some(tag("r3")),
            closed: true,
            sources: vec![source_tag("a"), source_tag("b-c")],
        };
        assert_eq!(Entry::decode(&e.encode()), Some(e.clone()));
        assert_eq!(e.encode().len(), 1 + 8 + 16 + 8);
        assert_eq!(Entry::decode(b"garbage"), None);
        assert_eq!(Entry::decode(b""), None);
    }

    #[test]
    fn a_new_job_of_one_source_takes_21_bytes() {
        let mut e = Entry {
            content_hash: tag("h"),
            created_by_run: Some(tag("run")),
            ..Default::default()
        };
        e.add_source("jobicy");
        e.add_source("jobicy");
        assert_eq!(e.encode().len(), 21);
        assert!(e.carries("jobicy"));
        assert!(!e.carries("other"));
    }

    #[test]
    fn ids_round_trip_as_bytes() {
        let hexid = "00112233445566778899aabbccddeeff";
        assert_eq!(id_bytes(hexid).len(), 16);
        assert_eq!(id_from_bytes(&id_bytes(hexid)).as_deref(), Some(hexid));
        for other in ["legacy-id", "00112233445566778899AABBCCDDEEFF", ""] {
            assert_eq!(id_from_bytes(&id_bytes(other)).as_deref(), Some(other));
        }
        assert_ne!(id_bytes("*"), COMPLETE);
    }

    #[test]
    fn buckets_cover_their_range_and_fields_skip_the_bucket_bits() {
        let d = [0xffu8; 16];
        assert_eq!(place(&d, BUCKET_BITS).0, (1 << BUCKET_BITS) - 1);
        assert_eq!(place(&d, 0).0, 0);
        assert_eq!(place(&[0u8; 16], 4).0, 0);
        assert_eq!(source_bits(0), 0);
        assert_eq!(source_bits(64), 0);
        assert_eq!(source_bits(65), 1);
        assert_eq!(source_bits(1_000_000), 14);
    }

    #[test]
    fn globs_and_source_ids_are_escaped() {
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
        assert_ne!(escape("a:b"), escape("a%3Ab"));
        assert!(!escape("a:b").contains(':'));
    }
}
