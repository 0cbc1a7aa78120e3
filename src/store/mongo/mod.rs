//! MongoDB collections `jobs`, `import_logs`, `import_batches` and `sources`, written only
//! through portable commands (inserts, multi-statement `update`, `delete_many`,
//! `findAndModify`) so the same code runs on MongoDB 6+, Atlas and FerretDB.

use std::time::Duration;

use mongodb::bson::{Document, doc};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};

use super::StoreError;

pub mod alerts;
pub mod audit;
pub mod backfill;
pub mod changes;
pub mod changes_out;
pub mod compat;
pub mod expiry;
pub mod history;
pub mod index_epoch;
pub mod job_counts;
pub mod job_facts;
pub mod jobs;
pub mod jobs_export;
pub mod jobs_query;
pub mod links;
pub mod live;
pub mod maintenance;
pub mod preview;
pub mod retention;
pub mod run_counts;
pub mod run_days;
pub mod run_feed;
pub mod runs;
pub mod source_state;
pub mod sources;
pub mod stats;

pub const JOBS: &str = "jobs";
pub const IMPORT_LOGS: &str = "import_logs";
pub const SOURCES: &str = "sources";
/// Reads inside pipeline steps (a run's protocol fields, its batch records, the jobs a batch
/// writes) give up after this long: long enough for a read by id on a server that scans for
/// it (FerretDB 1.x on SQLite, at a million runs), short enough that a stuck read ends.
pub const STEP_READ_MAX_TIME: Duration = Duration::from_secs(120);
/// Small documents about the database itself (the job index epoch).
pub const META: &str = "meta";
/// One document per (source, scheduled tick) that started a run: `_id` `{source}@{seconds}`.
pub const TICKS: &str = "schedule_ticks";
/// One document per recorded batch of a run in progress (see `runs::BatchRecord`).
pub const IMPORT_BATCHES: &str = "import_batches";
/// Who changed which source, and when (see `domain::audit`).
pub const AUDIT_LOG: &str = "audit_log";
/// One document: whether the deployment is paused for maintenance (see `maintenance`).
pub const MAINTENANCE: &str = "maintenance";

/// A stored count, whichever number type the server kept it as (0 when absent).
pub(crate) fn as_i64(b: Option<&mongodb::bson::Bson>) -> i64 {
    use mongodb::bson::Bson;
    match b {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Double(n)) => *n as i64,
        _ => 0,
    }
}

/// Field `k` of `d` as a stored count (see `as_i64`).
pub(crate) fn int_field(d: Option<&Document>, k: &str) -> i64 {
    as_i64(d.and_then(|d| d.get(k)))
}

/// Whether a write failed on a unique key (`E11000`).
pub(crate) fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match &*e.kind {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        _ => false,
    }
}

/// Indexes of `jobs` that earlier versions created and no query needs any more.
const RETIRED_JOB_INDEXES: [&str; 2] = ["publisher_1_externalId_1", "dedupeKey_1"];

/// The MongoDB side of the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Database,
    /// Redis, where the index of stored jobs lives (when the process has Redis).
    redis: Option<super::redis::Redis>,
    /// The index of stored jobs at the epoch this store was opened with (`at_epoch`).
    pub(crate) index: Option<super::job_index::JobIndex>,
    /// Which server this is, and what that means for the store's commands.
    compat: compat::Compat,
    /// Whether a recount of the jobs for the stats is under way (see `job_counts`).
    recounting: job_counts::Recounting,
}

impl Store {
    pub async fn connect(
        uri: &str,
        database: &str,
        selection_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let mut opts = ClientOptions::parse(uri).await?;
        opts.server_selection_timeout = Some(selection_timeout);
        opts.connect_timeout = Some(selection_timeout.min(Duration::from_secs(10)));
        opts.app_name = Some("job-importer".into());
        opts.max_pool_size = Some(32);
        let client = Client::with_options(opts)?;
        Ok(Self {
            db: client.database(database),
            redis: None,
            index: None,
            compat: compat::Compat::default(),
            recounting: job_counts::Recounting::default(),
        })
    }

    /// This store with the compatibility decisions of a known server (tests take a path with
    /// it; daemons detect the server in `ensure_indexes`).
    pub fn with_server(mut self, server: compat::Server) -> Self {
        self.compat = compat::Compat::for_server(server);
        self
    }

    pub fn compat(&self) -> &compat::Compat {
        &self.compat
    }

    /// Keeps an index of stored jobs in `redis` (see `job_index`), used through `at_epoch`.
    pub fn with_index(mut self, redis: super::redis::Redis) -> Self {
        self.redis = Some(redis);
        self
    }

    /// This store classifying through the job index of `epoch` (as a batch's fetcher chose
    /// it); without an epoch, or without Redis, through MongoDB alone.
    pub fn at_epoch(&self, epoch: Option<&str>) -> Self {
        let mut s = self.clone();
        s.index = match (&self.redis, epoch) {
            (Some(r), Some(e)) => Some(super::job_index::JobIndex::new(r.clone(), e)),
            _ => None,
        };
        s
    }

    /// The Redis the job index lives in, if any.
    pub(crate) fn index_redis(&self) -> Option<&super::redis::Redis> {
        self.redis.as_ref()
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub(crate) fn coll(&self, name: &str) -> Collection<Document> {
        self.db.collection(name)
    }

    /// The string `_id`s of the documents of `coll` matching `filter`.
    pub(crate) async fn ids_where(
        &self,
        coll: &str,
        filter: Document,
    ) -> Result<Vec<String>, StoreError> {
        use futures_util::TryStreamExt;
        let docs: Vec<Document> = self
            .coll(coll)
            .find(filter)
            .projection(doc! {"_id": 1})
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
            .collect())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.run_command(doc! {"ping": 1}).await?;
        Ok(())
    }

    /// Detects the server (see `compat`), then creates the indexes every query relies on;
    /// idempotent.
    ///
    /// `jobs` needs one secondary index, for listing a source's jobs (and a sparse one on
    /// `validThrough`, which holds only the jobs whose feed states an expiry date). A job is found by `_id`,
    /// which is derived from its publisher and external id (`jobs::job_id`), so it is unique
    /// per publisher and external id without an index of its own; dedupe keys are looked up in
    /// the job index in Redis. The two indexes earlier versions kept for those are dropped:
    /// every insert paid for them.
    pub async fn ensure_indexes(&self) -> Result<(), StoreError> {
        let server = self.compat.detect(&self.db).await?;
        tracing::info!(server = %server.describe(), "connected to the database server");
        let jobs = vec![
            IndexModel::builder()
                .keys(doc! {"sources": 1, "lastSeenAt": -1})
                .build(),
            // The expiry sweep's query; sparse, so jobs without an expiry date cost it nothing.
            IndexModel::builder()
                .keys(doc! {"validThrough": 1})
                .options(IndexOptions::builder().sparse(true).build())
                .build(),
        ];
        self.create_indexes(JOBS, jobs).await?;
        // Dropping them only saves work; a daemon that cannot (another one dropped them first,
        // or the collection went away meanwhile) still starts.
        match self.coll(JOBS).list_index_names().await {
            Ok(existing) => {
                for retired in RETIRED_JOB_INDEXES {
                    if existing.iter().any(|n| n == retired)
                        && let Err(e) = self.coll(JOBS).drop_index(retired).await
                    {
                        tracing::warn!(index = retired, error = %e, "could not drop a retired index");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list the jobs indexes"),
        }
        let logs = vec![
            IndexModel::builder()
                .keys(doc! {"importDateTime": -1})
                .build(),
            IndexModel::builder()
                .keys(doc! {"sourceId": 1, "importDateTime": -1})
                .build(),
            IndexModel::builder().keys(doc! {"status": 1}).build(),
        ];
        self.create_indexes(IMPORT_LOGS, logs).await?;
        self.create_indexes(
            IMPORT_BATCHES,
            vec![IndexModel::builder().keys(doc! {"runId": 1}).build()],
        )
        .await?;
        self.ensure_change_indexes().await?;
        self.ensure_alert_indexes().await?;
        let moved = self.move_source_state().await?;
        if moved > 0 {
            tracing::info!(
                sources = moved,
                "moved the sources' state out of their definitions"
            );
        }
        Ok(())
    }

    /// Creates indexes in one command, or one per command where the server needs it
    /// (`compat::Compat::one_index_per_command`).
    pub async fn create_indexes(
        &self,
        coll: &str,
        indexes: Vec<IndexModel>,
    ) -> Result<(), StoreError> {
        if self.compat.one_index_per_command() {
            for index in indexes {
                self.coll(coll).create_index(index).await?;
            }
        } else {
            self.coll(coll).create_indexes(indexes).await?;
        }
        Ok(())
    }
}
