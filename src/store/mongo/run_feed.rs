//! `run_feed`: a capped collection of the runs' states as they were published, newest last,
//! from which the first pages of the unfiltered history are read on servers that would scan
//! `import_logs` for them (see `compat::Compat::queries_scan`: FerretDB 1.x on SQLite uses no
//! index for a query, so the newest 20 of a million runs cost a read of every run). A capped
//! collection keeps its insertion order (`$natural`) and its size: FerretDB still reads all of
//! it for an ordered read, so its cap (1,000 entries) is what a page costs. On MongoDB nothing
//! is written here: the history reads `import_logs` through its index.
//!
//! Entries (`_id` assigned by the server):
//! - `{run: <the run without batches or failures>, first: <whether this is its first version>}`,
//!   appended by `feed_run` when a run's published state (`Pipeline::publish`) changes its
//!   status: its creation, its start or resume (before a batch), its end. The progress of a
//!   running run (its batches) is not appended: on these pages a running run shows its counts
//!   as of its start; the WebSocket's updates and the run's own page carry the progress;
//! - `{deleted: {sourceId, status, before, keep}}`, appended by retention after it deleted a
//!   source's runs of `status` created before `before` and not among its newest `keep`.
//!
//! Reading the first `n` runs (`newest_runs`): entries are read newest first until `n` first
//! versions were seen, keeping each run's newest state (the first entry read for it) and the
//! deletions met on the way (a deletion is always newer than the entries of the runs it
//! deleted). The runs found are sorted as the history sorts (`importDateTime`, then `_id`,
//! descending) and cut to `n`. The feed is used only when it can answer: when it holds `n`
//! first versions, or every stored run (a new database). Otherwise
//! (a database that had runs before the feed existed, a feed trimmed by its cap) the history
//! reads `import_logs`.
//!
//! What the feed can get wrong, and why it is accepted: a run's state is appended after the
//! write that made it, so a daemon that dies between the two leaves that run one state behind
//! on the first page until its next change (the sweeper resumes or fails a stalled run, which
//! publishes it); runs created by daemons at nearly the same moment can be appended in another
//! order than their `importDateTime`, so the last row of a page can differ from what
//! `import_logs` says by such a near tie. Cursors (the following pages) always read
//! `import_logs`.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};

use super::history::QUERY_MAX_TIME;
use super::{Store, is_duplicate_key};
use crate::domain::{ImportRun, RunStatus};
use crate::store::{StoreError, decode, encode};

pub const RUN_FEED: &str = "run_feed";
/// The feed's cap: 1,000 entries (about 330 runs), 4 MiB. FerretDB reads the whole feed for
/// any ordered read of it (about 0.15 ms an entry), so the cap is what a page costs.
const FEED_BYTES: u64 = 4 * 1024 * 1024;
const FEED_ENTRIES: u64 = 1_000;
/// Pages served from the feed: the first ones, up to this many runs.
pub const FEED_PAGE_RUNS: u64 = 200;

const NAMESPACE_EXISTS: i32 = 48;
/// FerretDB's answer to a `$natural` sort of a collection that is not capped.
const NOT_IMPLEMENTED: i32 = 238;

fn command_code(e: &mongodb::error::Error) -> Option<i32> {
    match &*e.kind {
        mongodb::error::ErrorKind::Command(c) => Some(c.code),
        _ => None,
    }
}

/// A deletion of runs met while reading the feed.
struct Deleted {
    source_id: String,
    status: String,
    before: String,
    keep: usize,
}

impl Deleted {
    /// Whether this deletion took `r` unless `r` was among its source's newest `keep`.
    fn covers(&self, r: &ImportRun) -> bool {
        self.source_id == r.source_id
            && self.status == r.status.as_str()
            && crate::domain::time::format(&r.import_date_time) < self.before
    }
}

impl Store {
    /// Creates the capped feed when this server needs it; idempotent.
    pub async fn ensure_run_feed(&self) -> Result<(), StoreError> {
        if !self.compat().queries_scan() {
            return Ok(());
        }
        let found: Vec<Document> = self
            .db
            .list_collections()
            .filter(doc! {"name": RUN_FEED})
            .await?
            .map_ok(|c| doc! {"capped": c.options.capped.unwrap_or(false)})
            .try_collect()
            .await?;
        match found.first().map(|c| c.get_bool("capped").unwrap_or(false)) {
            Some(true) => return Ok(()),
            // Made by an append after the feed was dropped: start it again, capped.
            Some(false) => self.coll(RUN_FEED).drop().await?,
            None => {}
        }
        match self
            .db
            .create_collection(RUN_FEED)
            .capped(true)
            .size(FEED_BYTES)
            .max(FEED_ENTRIES)
            .await
        {
            Ok(()) => Ok(()),
            // Another daemon created it meanwhile.
            Err(e) if command_code(&e) == Some(NAMESPACE_EXISTS) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Appends a run's published state when it is a change of status: its creation, a start
    /// (or resume) before any batch, its end (see the module's documentation).
    pub async fn feed_run(&self, run: &ImportRun) -> Result<(), StoreError> {
        if !self.compat().queries_scan()
            || !(run.version == 1 || run.batches_done == 0 || run.status.is_final())
        {
            return Ok(());
        }
        let mut d = encode(run)?;
        d.remove("batches");
        d.remove("failures");
        self.coll(RUN_FEED)
            .insert_one(doc! {"run": d, "first": run.version == 1})
            .await?;
        Ok(())
    }

    /// Records that retention deleted `source_id`'s runs of `status` created before `before`,
    /// but for its newest `keep` (0: none kept for their rank).
    pub async fn feed_runs_deleted(
        &self,
        source_id: &str,
        status: RunStatus,
        before: &str,
        keep: u32,
    ) -> Result<(), StoreError> {
        if !self.compat().queries_scan() {
            return Ok(());
        }
        self.coll(RUN_FEED)
            .insert_one(doc! {"deleted": {
                "sourceId": source_id, "status": status.as_str(), "before": before,
                "keep": i64::from(keep),
            }})
            .await?;
        Ok(())
    }

    /// The newest `n` runs (newest first) from the feed, or `None` when the feed cannot tell
    /// them (see the module's documentation). `stored`: how many runs are stored.
    pub async fn newest_runs(
        &self,
        n: usize,
        stored: u64,
    ) -> Result<Option<Vec<ImportRun>>, StoreError> {
        let found = self
            .coll(RUN_FEED)
            .find(doc! {})
            .sort(doc! {"$natural": -1})
            .batch_size(256)
            .max_time(QUERY_MAX_TIME)
            .await;
        let mut cursor = match found {
            Ok(c) => c,
            // Not a capped collection (dropped, and re-created by an append): the feed cannot
            // tell until a daemon starts and makes it again (`ensure_run_feed`).
            Err(e) if command_code(&e) == Some(NOT_IMPLEMENTED) => {
                tracing::debug!(error = %e, "the run feed cannot be read in order");
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let mut newest: HashMap<String, ImportRun> = HashMap::new();
        let mut deletions: Vec<Deleted> = Vec::new();
        let mut firsts = 0_usize;
        while firsts < n {
            let Some(entry) = cursor.try_next().await? else {
                // The whole feed was read: it answers only if it saw every stored run.
                if (firsts as u64) < stored {
                    return Ok(None);
                }
                break;
            };
            if let Ok(d) = entry.get_document("deleted") {
                let s = |k: &str| d.get_str(k).unwrap_or_default().to_owned();
                deletions.push(Deleted {
                    source_id: s("sourceId"),
                    status: s("status"),
                    before: s("before"),
                    keep: match d.get("keep") {
                        Some(Bson::Int64(k)) => (*k).max(0) as usize,
                        Some(Bson::Int32(k)) => (*k).max(0) as usize,
                        _ => 0,
                    },
                });
                continue;
            }
            let Ok(run) = entry.get_document("run") else {
                continue;
            };
            let Ok(id) = run.get_str("_id") else { continue };
            if !newest.contains_key(id) {
                newest.insert(id.to_owned(), decode(run.clone())?);
            }
            // A run that a deletion met on the way may have removed does not count towards the
            // page (reading on only adds candidates; the cut below decides).
            if entry.get_bool("first").unwrap_or(false)
                && !newest
                    .get(id)
                    .is_some_and(|r| deletions.iter().any(|d| d.covers(r)))
            {
                firsts += 1;
            }
        }
        let mut runs: Vec<ImportRun> = newest.into_values().collect();
        runs.sort_by(|a, b| {
            b.import_date_time
                .cmp(&a.import_date_time)
                .then_with(|| b.id.cmp(&a.id))
        });
        if !deletions.is_empty() {
            let mut rank: HashMap<String, usize> = HashMap::new();
            runs.retain(|r| {
                let k = rank.entry(r.source_id.clone()).or_default();
                *k += 1;
                !deletions.iter().any(|d| d.covers(r) && *k > d.keep)
            });
        }
        runs.truncate(n);
        Ok(Some(runs))
    }
}
