//! Settings: compiled defaults < `config.toml` < environment < command line, validated once at
//! start. A bad value stops the daemon with a message that names its key.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::Expiry;
use crate::domain::source::{Source, SourceFormat, slug};
use crate::ingest::ParseLimits;
use crate::ingest::fetch::FetchLimits;

/// Environment variables `JOB_IMPORTER__<SECTION>__<KEY>` override keys (`__` between parts).
pub const ENV_PREFIX: &str = "JOB_IMPORTER";

/// A value that never prints: tokens and URIs with passwords.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"[redacted]\""
        })
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Address the HTTP server (API, WebSocket, dashboard) listens on.
    pub bind: String,
    /// Folder of the built dashboard (`client/dist`); not served when missing.
    pub static_dir: PathBuf,
    /// Origins allowed to open the WebSocket, besides the daemon's own. Empty: same origin only.
    pub allowed_origins: Vec<String>,
    /// Largest accepted JSON request body.
    pub max_body_bytes: usize,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Origins allowed to call the API from a browser (CORS). Empty: CORS stays off.
    pub cors_origins: Vec<String>,
    /// Manual imports (`POST /api/sources/{id}/import`) per minute per client address; 0: no limit.
    pub rate_limit_trigger_per_minute: u64,
    /// Sources created per minute per client address; 0: no limit.
    pub rate_limit_create_source_per_minute: u64,
    /// Addresses of reverse proxies whose `X-Forwarded-For` names the client for the rate
    /// limits. Empty: the header is ignored and the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// Jobs read per database round trip by an export (`GET /api/jobs/export`); what an
    /// export holds in memory is about one such batch.
    pub export_batch_size: u32,
    /// How old the job counts of `GET /api/stats` may be before a read starts a recount in
    /// the background (a recount reads every job); 0 counts on every read.
    pub jobs_count_max_age_secs: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            static_dir: PathBuf::from("client/dist"),
            allowed_origins: Vec::new(),
            max_body_bytes: 64 * 1024,
            workers: 2,
            cors_origins: Vec::new(),
            rate_limit_trigger_per_minute: 10,
            rate_limit_create_source_per_minute: 20,
            trusted_proxies: Vec::new(),
            export_batch_size: 500,
            jobs_count_max_age_secs: 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Bearer token for mutations, the WebSocket and (when `protect_reads`) reads. When empty,
    /// `serve` generates one at start and prints it with the dashboard URL (a configured
    /// token is never printed).
    pub admin_token: Secret,
    /// Optional token for reads and the WebSocket only (a dashboard on a wall screen);
    /// changes made with it answer 403 `auth.read_only`.
    pub read_token: Secret,
    /// The admin token before the last rotation, still accepted until
    /// `previous_token_valid_until`.
    pub previous_admin_token: Secret,
    /// The read token before the last rotation, accepted as long as `previous_admin_token`.
    pub previous_read_token: Secret,
    /// RFC 3339 time at which the previous tokens stop being accepted.
    pub previous_token_valid_until: Option<String>,
    pub protect_reads: bool,
}

impl AuthSettings {
    /// `previous_token_valid_until` as a time; `None` when unset (validation refuses a bad one).
    pub fn previous_token_valid_until(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.previous_token_valid_until
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(t) = &self.previous_token_valid_until
            && chrono::DateTime::parse_from_rfc3339(t).is_err()
        {
            return Err(invalid(
                "auth.previous_token_valid_until",
                format!("`{t}` is not an RFC 3339 time like 2026-12-01T12:00:00Z"),
            ));
        }
        let has_previous =
            !self.previous_admin_token.is_empty() || !self.previous_read_token.is_empty();
        if has_previous && self.previous_token_valid_until.is_none() {
            return Err(invalid(
                "auth.previous_token_valid_until",
                "is required with a previous token: it ends the overlap",
            ));
        }
        let tokens = [
            ("auth.admin_token", &self.admin_token),
            ("auth.read_token", &self.read_token),
            ("auth.previous_admin_token", &self.previous_admin_token),
            ("auth.previous_read_token", &self.previous_read_token),
        ];
        for (i, (key, token)) in tokens.iter().enumerate() {
            if token.is_empty() {
                continue;
            }
            if token
                .expose()
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(invalid(*key, "must be printable characters without spaces"));
            }
            if let Some((other, _)) = tokens[..i]
                .iter()
                .find(|(_, t)| t.expose() == token.expose())
            {
                return Err(invalid(*key, format!("must differ from {other}")));
            }
        }
        Ok(())
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            admin_token: Secret::default(),
            read_token: Secret::default(),
            previous_admin_token: Secret::default(),
            previous_read_token: Secret::default(),
            previous_token_valid_until: None,
            protect_reads: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MongoSettings {
    pub uri: Secret,
    pub database: String,
    pub server_selection_timeout_ms: u64,
    /// How long a starting daemon waits (with backoff, saying why in the log) for a MongoDB
    /// that is down or restarting before it gives up.
    pub startup_wait_secs: u64,
}

impl Default for MongoSettings {
    fn default() -> Self {
        Self {
            uri: Secret::new("mongodb://127.0.0.1:27017/"),
            database: "job_importer".into(),
            server_selection_timeout_ms: 10_000,
            startup_wait_secs: 120,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    pub url: Secret,
    /// Every key, queue and channel starts with this, so daemons of one deployment share them
    /// and tests stay apart.
    pub prefix: String,
    /// redis-rs defaults to 500 ms, which turns one slow reply into a dead worker pool.
    pub response_timeout_ms: u64,
    pub connection_timeout_ms: u64,
    /// How long a starting daemon or command waits for a Redis that refuses connections or is
    /// still loading its data (`LOADING`), retrying with backoff, before it gives up.
    pub startup_wait_secs: u64,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: Secret::new("redis://127.0.0.1:6379"),
            prefix: "importer".into(),
            response_timeout_ms: 5_000,
            connection_timeout_ms: 5_000,
            startup_wait_secs: 120,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineSettings {
    /// Items per queued batch.
    pub batch_size: usize,
    /// Batches persisted at once by one process.
    pub worker_concurrency: usize,
    /// Feeds fetched at once by one process.
    pub fetch_concurrency: usize,
    /// Fetch attempts for transient failures (timeouts, 5xx, 429) before the run fails.
    pub max_fetch_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter.
    pub retry_base_ms: u64,
    /// Seconds between queue heartbeats; a worker silent for three is presumed dead and its
    /// batches are delivered again.
    pub heartbeat_secs: u64,
    /// How often an idle worker looks for new work in the queue.
    pub poll_interval_ms: u64,
    /// A job absent from this many consecutive complete runs of every source carrying it is
    /// closed (0: never close).
    pub close_after_missed_runs: u32,
    /// Attempts of a batch or fetch step when MongoDB or Redis is unreachable, with
    /// exponential backoff from `retry_base_ms`, before the run fails with the reason.
    pub max_store_attempts: u32,
    /// A queued or running run with no change for this long has lost its work (a crash, Redis
    /// lost its data); the sweeper resumes it, or fails it after `max_resumes`.
    pub stale_after_secs: u64,
    pub max_resumes: u32,
    /// How often one daemon looks for stale runs.
    pub sweep_interval_secs: u64,
    /// How often every daemon reads the maintenance (pause) state again, besides when a
    /// change is announced over Redis: the longest a lost announcement delays a pause.
    pub pause_refresh_secs: u64,
    /// How often one daemon closes the open jobs whose `validThrough` has passed (besides
    /// each run of their source); 0: only at runs.
    pub expiry_sweep_interval_secs: u64,
    /// On `SIGTERM`, how long in-flight fetches and batches may take to finish before the
    /// daemon exits anyway (what is unfinished is delivered again to another worker).
    pub shutdown_grace_secs: u64,
    /// The time limit of one attempt of a fetch step (the whole read of a feed) or a batch step;
    /// an attempt that takes longer (a store holding a request without answering) is abandoned
    /// and tried again like an unreachable store. Above `fetch.total_timeout_ms`.
    pub step_timeout_secs: u64,
    /// The pause between two pages of a backfill.
    pub backfill_page_delay_ms: u64,
    /// Pages a backfill reads at most (its default cap, and the largest `pages` accepted).
    pub backfill_max_pages: u32,
}

impl PipelineSettings {
    pub fn step_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.step_timeout_secs)
    }

    pub fn poll_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.poll_interval_ms)
    }

    pub fn retry_base(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.retry_base_ms)
    }

    pub fn shutdown_grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.shutdown_grace_secs)
    }
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            batch_size: 1_000,
            worker_concurrency: 4,
            fetch_concurrency: 2,
            max_fetch_attempts: 3,
            retry_base_ms: 2_000,
            heartbeat_secs: 10,
            poll_interval_ms: 100,
            close_after_missed_runs: 3,
            max_store_attempts: 5,
            stale_after_secs: 600,
            max_resumes: 2,
            sweep_interval_secs: 30,
            pause_refresh_secs: 3,
            expiry_sweep_interval_secs: 600,
            shutdown_grace_secs: 30,
            step_timeout_secs: 900,
            backfill_page_delay_ms: 5_000,
            backfill_max_pages: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerSettings {
    /// Cron used by sources that name none: hourly, at minute 0 (jobicy asks for no more).
    pub default_cron: String,
    /// Run each enabled source once at start when its last scheduled tick was missed.
    pub run_missed_on_start: bool,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            default_cron: "0 0 * * * *".into(),
            run_missed_on_start: true,
        }
    }
}

/// What is deleted, and when: old runs of `import_logs` and jobs closed long ago. Applied by
/// one daemon of a deployment at a time (a Redis lease), once per `interval_secs`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Turn every deletion off.
    pub enabled: bool,
    /// How often retention is applied (by whichever daemon takes the lease first).
    pub interval_secs: u64,
    /// Finished runs older than this are deleted, unless among the newest
    /// `runs_keep_per_source` of their source. 0: kept whatever their age.
    pub runs_keep_days: u32,
    /// The newest runs of each source kept whatever their age. 0: none kept for their rank.
    pub runs_keep_per_source: u32,
    /// As `runs_keep_days`, for failed and partial runs (kept longer to look into them).
    /// 0: kept whatever their age.
    pub failed_runs_keep_days: u32,
    /// Closed jobs are deleted this many days after they were closed. 0: never deleted.
    pub closed_jobs_keep_days: u32,
    /// Entries of the changes feed (`GET /api/jobs/changes`) older than this are deleted
    /// (the newest is always kept). 0: kept forever.
    pub changes_keep_days: u32,
    /// Alert deliveries that were sent or gave up (`alert_deliveries`) are deleted this many
    /// days after they were queued; pending ones never are. 0: kept forever.
    pub alert_deliveries_keep_days: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_secs: 24 * 3600,
            runs_keep_days: 90,
            runs_keep_per_source: 100,
            failed_runs_keep_days: 180,
            closed_jobs_keep_days: 365,
            changes_keep_days: 30,
            alert_deliveries_keep_days: 90,
        }
    }
}

impl RetentionSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(60..=30 * 24 * 3600).contains(&self.interval_secs) {
            return Err(invalid(
                "retention.interval_secs",
                "must be between 60 and 2592000 (30 days)",
            ));
        }
        if self.failed_runs_keep_days != 0
            && (self.runs_keep_days == 0 || self.failed_runs_keep_days < self.runs_keep_days)
        {
            return Err(invalid(
                "retention.failed_runs_keep_days",
                "must be 0 (kept forever) or at least retention.runs_keep_days: failed runs are kept longer",
            ));
        }
        Ok(())
    }
}

/// Link checks of jobs that left their feed's window, for sources with `link_check = true`.
/// Done by one daemon of a deployment per interval (a Redis lease).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkCheckSettings {
    /// How often one daemon checks the links that are due. 0: never.
    pub interval_secs: u64,
    /// A job's link is checked again no sooner than this after its last check.
    pub recheck_after_hours: u32,
    /// Jobs posted (or, undated, first seen) longer ago than this are no longer checked.
    pub max_age_days: u32,
    /// Least time between the starts of two requests to one host (robots.txt included);
    /// one request per host is in flight at a time whatever this is.
    pub per_host_interval_ms: u64,
    /// Hosts checked at once.
    pub max_hosts_at_once: usize,
    /// Links checked per pass at most (the rest wait for the next pass).
    pub max_checks_per_pass: usize,
    /// Bytes read of a `GET` (sent when `HEAD` is refused) before it is dropped.
    pub max_body_bytes: u64,
    /// Bytes of a host's `robots.txt` read.
    pub robots_max_bytes: u64,
}

impl Default for LinkCheckSettings {
    fn default() -> Self {
        Self {
            interval_secs: 600,
            recheck_after_hours: 24,
            max_age_days: 60,
            per_host_interval_ms: 1_000,
            max_hosts_at_once: 4,
            max_checks_per_pass: 1_000,
            max_body_bytes: 16 * 1024,
            robots_max_bytes: 512 * 1024,
        }
    }
}

impl LinkCheckSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.recheck_after_hours == 0 {
            return Err(invalid(
                "link_check.recheck_after_hours",
                "must be at least 1",
            ));
        }
        if self.max_hosts_at_once == 0 {
            return Err(invalid(
                "link_check.max_hosts_at_once",
                "must be at least 1",
            ));
        }
        if self.per_host_interval_ms > 3_600_000 {
            return Err(invalid(
                "link_check.per_host_interval_ms",
                "must be at most 3600000 (an hour)",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoSettings {
    /// Serve bundled sample feeds from this daemon (on loopback) and import them. Local only.
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub cron: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub format: SourceFormat,
    /// The source's own mapping (format `"custom"`), written as in the API (README, Mappings).
    #[serde(default)]
    pub mapping: Option<serde_json::Value>,
    #[serde(default)]
    pub publisher: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// This source alone may reach loopback, private and link-local addresses (a feed on the
    /// LAN). Settable only here: the API refuses it.
    #[serde(default)]
    pub allow_private_networks: bool,
    /// How absence from the feed closes jobs: `window` (default), `complete` or `never`.
    #[serde(default)]
    pub expiry: Expiry,
    /// Check the posting URLs of jobs that left the feed's window (`[link_check]`).
    #[serde(default)]
    pub link_check: bool,
    /// The query parameter that numbers the feed's pages for a backfill (WordPress: `paged`,
    /// found without it).
    #[serde(default)]
    pub page_param: Option<String>,
}

fn yes() -> bool {
    true
}

impl SourceSettings {
    pub fn id(&self) -> String {
        self.id.clone().unwrap_or_else(|| slug(&self.name))
    }

    /// The source this entry describes; `default_cron` when it names no cron.
    pub fn to_source(&self, default_cron: &str) -> Source {
        let cron = self.cron.clone().unwrap_or_else(|| default_cron.to_owned());
        Source::new(self.id(), self.name.clone(), self.url.clone(), cron)
            .with_enabled(self.enabled)
            .with_format(self.format.clone())
            .with_mapping(
                self.mapping
                    .as_ref()
                    .and_then(|m| crate::domain::mapping::Mapping::parse(m).ok()),
            )
            .with_publisher(self.publisher.clone())
            .with_user_agent(self.user_agent.clone())
            .with_max_body_bytes(self.max_body_bytes)
            .with_private_networks(self.allow_private_networks)
            .with_expiry(self.expiry)
            .with_link_check(self.link_check)
            .with_page_param(
                self.page_param
                    .as_deref()
                    .and_then(|p| crate::domain::source::parse_page_param(p).ok().flatten()),
            )
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    pub auth: AuthSettings,
    pub mongodb: MongoSettings,
    pub redis: RedisSettings,
    pub fetch: FetchLimits,
    pub parse: ParseLimits,
    pub pipeline: PipelineSettings,
    pub scheduler: SchedulerSettings,
    pub demo: DemoSettings,
    pub retention: RetentionSettings,
    pub link_check: LinkCheckSettings,
    pub alerts: crate::alerts::AlertSettings,
    pub changes_out: crate::changes_out::ChangesOutSettings,
    pub sources: Vec<SourceSettings>,
}

/// A setting that could not be loaded or is out of range; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config: {0}")]
    Load(#[from] config::ConfigError),
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

impl Settings {
    /// Loads `path` (if it exists), then the environment, then `overrides` (`key`, `value`
    /// pairs from the command line), and validates the result.
    pub fn load(path: Option<&Path>, overrides: &[(&str, String)]) -> Result<Self, ConfigError> {
        let mut b = config::Config::builder();
        if let Some(p) = path {
            b = b.add_source(
                config::File::from(p)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        // The service scripts print these two; honour them as the common spellings.
        if let Ok(uri) = std::env::var("MONGODB_URI") {
            b = b.set_override("mongodb.uri", uri)?;
        }
        if let Ok(url) = std::env::var("REDIS_URL") {
            b = b.set_override("redis.url", url)?;
        }
        b = b.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("http.allowed_origins")
                .with_list_parse_key("http.cors_origins")
                .with_list_parse_key("http.trusted_proxies")
                .try_parsing(true),
        );
        for (k, v) in overrides {
            b = b.set_override(*k, v.clone())?;
        }
        let settings: Settings = b.build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.auth.validate()?;
        self.http
            .bind
            .parse::<SocketAddr>()
            .map_err(|e| invalid("http.bind", format!("not an address:port ({e})")))?;
        for o in &self.http.cors_origins {
            let ok = url::Url::parse(o).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https") && u.path() == "/" && !o.ends_with('/')
            });
            if !ok {
                return Err(invalid(
                    "http.cors_origins",
                    format!("`{o}` is not an origin like https://admin.example.com"),
                ));
            }
        }
        self.retention.validate()?;
        self.link_check.validate()?;
        self.alerts.validate()?;
        self.changes_out.validate()?;
        if !(1..=10_000).contains(&self.http.export_batch_size) {
            return Err(invalid(
                "http.export_batch_size",
                "must be between 1 and 10000",
            ));
        }
        for p in &self.http.trusted_proxies {
            if p.parse::<std::net::IpAddr>().is_err() {
                return Err(invalid(
                    "http.trusted_proxies",
                    format!("`{p}` is not an IP address like 10.0.0.5 or ::1"),
                ));
            }
        }
        let uri = self.mongodb.uri.expose();
        if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
            return Err(invalid(
                "mongodb.uri",
                "must start with mongodb:// or mongodb+srv://",
            ));
        }
        if self.mongodb.database.is_empty()
            || self
                .mongodb
                .database
                .contains(['/', '\\', '.', ' ', '"', '$'])
        {
            return Err(invalid(
                "mongodb.database",
                "must be a plain MongoDB database name",
            ));
        }
        let url = self.redis.url.expose();
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(invalid(
                "redis.url",
                "must start with redis:// or rediss://",
            ));
        }
        if self.redis.prefix.is_empty()
            || !self
                .redis
                .prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-:".contains(c))
        {
            return Err(invalid(
                "redis.prefix",
                "letters, digits, '_', '-' and ':' only",
            ));
        }
        positive("redis.response_timeout_ms", self.redis.response_timeout_ms)?;
        in_range("pipeline.batch_size", self.pipeline.batch_size, 1, 10_000)?;
        in_range(
            "pipeline.worker_concurrency",
            self.pipeline.worker_concurrency,
            1,
            256,
        )?;
        in_range(
            "pipeline.fetch_concurrency",
            self.pipeline.fetch_concurrency,
            1,
            64,
        )?;
        in_range(
            "pipeline.max_fetch_attempts",
            self.pipeline.max_fetch_attempts as usize,
            1,
            20,
        )?;
        positive("pipeline.heartbeat_secs", self.pipeline.heartbeat_secs)?;
        positive("pipeline.poll_interval_ms", self.pipeline.poll_interval_ms)?;
        positive("pipeline.stale_after_secs", self.pipeline.stale_after_secs)?;
        positive(
            "pipeline.sweep_interval_secs",
            self.pipeline.sweep_interval_secs,
        )?;
        positive(
            "pipeline.pause_refresh_secs",
            self.pipeline.pause_refresh_secs,
        )?;
        in_range(
            "pipeline.max_store_attempts",
            self.pipeline.max_store_attempts as usize,
            1,
            20,
        )?;
        positive("fetch.connect_timeout_ms", self.fetch.connect_timeout_ms)?;
        positive("fetch.total_timeout_ms", self.fetch.total_timeout_ms)?;
        if self.pipeline.step_timeout_secs.saturating_mul(1000) <= self.fetch.total_timeout_ms {
            return Err(invalid(
                "pipeline.step_timeout_secs",
                "must be longer than fetch.total_timeout_ms",
            ));
        }
        // A backfill walks its pages within one fetch step, and stops at the pages that fit in
        // it (see `feed_fetcher::backfill`).
        if self.pipeline.backfill_max_pages == 0 {
            return Err(invalid("pipeline.backfill_max_pages", "must be at least 1"));
        }
        positive("fetch.max_body_bytes", self.fetch.max_body_bytes)?;
        in_range("fetch.max_redirects", self.fetch.max_redirects, 0, 20)?;
        in_range("parse.max_items", self.parse.max_items, 1, 10_000_000)?;
        in_range("parse.max_depth", self.parse.max_depth, 4, 1_000)?;
        validate_cron(&self.scheduler.default_cron)
            .map_err(|m| invalid("scheduler.default_cron", m))?;
        let mut ids = std::collections::HashSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            let key = |field: &str| format!("sources[{i}].{field}");
            if s.name.trim().is_empty() {
                return Err(invalid(key("name"), "must not be empty"));
            }
            validate_source_url(&s.url).map_err(|m| invalid(key("url"), m))?;
            if let Some(c) = &s.cron {
                validate_cron(c).map_err(|m| invalid(key("cron"), m))?;
            }
            if let Some(m) = &s.mapping {
                crate::domain::mapping::Mapping::parse(m)
                    .map_err(|e| invalid(key("mapping"), crate::domain::mapping::describe(&e)))?;
            }
            if let Some(param) = &s.page_param {
                crate::domain::source::parse_page_param(param)
                    .map_err(|rule| invalid(key("page_param"), rule))?;
            }
            if s.format == SourceFormat::Custom && s.mapping.is_none() {
                return Err(invalid(key("mapping"), "format \"custom\" needs a mapping"));
            }
            let id = s.id();
            if id.is_empty() {
                return Err(invalid(key("name"), "needs at least one letter or digit"));
            }
            // Source ids name fields of job documents (`seenBy.<id>`), so no dots or `$`.
            if !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(key("id"), "letters, digits, '-' and '_' only"));
            }
            if !ids.insert(id.clone()) {
                return Err(invalid(
                    key("name"),
                    format!("source id `{id}` is used twice"),
                ));
            }
        }
        Ok(())
    }
}

fn positive(key: &str, v: u64) -> Result<(), ConfigError> {
    if v == 0 {
        Err(invalid(key, "must be greater than 0"))
    } else {
        Ok(())
    }
}

fn in_range(key: &str, v: usize, min: usize, max: usize) -> Result<(), ConfigError> {
    if v < min || v > max {
        Err(invalid(
            key,
            format!("must be between {min} and {max}, got {v}"),
        ))
    } else {
        Ok(())
    }
}

/// Six fields (sec min hour day month weekday), as the scheduler reads them (croner).
pub fn validate_cron(expr: &str) -> Result<(), String> {
    if expr.split_whitespace().count() != 6 {
        return Err(format!(
            "`{expr}` must have six fields: second minute hour day month weekday (e.g. `0 0 * * * *`)"
        ));
    }
    expr.parse::<croner::Cron>()
        .map(|_| ())
        .map_err(|e| format!("`{expr}` is not a valid cron expression: {e}"))
}

/// An absolute http(s) URL without credentials, at most 2 KiB.
pub fn validate_source_url(raw: &str) -> Result<url::Url, String> {
    if raw.len() > 2048 {
        return Err("is longer than 2048 characters".into());
    }
    let u = url::Url::parse(raw.trim()).map_err(|e| format!("`{raw}` is not a URL ({e})"))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(format!(
            "scheme `{}` is not allowed; use http or https",
            u.scheme()
        ));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        assert!(Settings::default().validate().is_ok());
    }

    #[test]
    fn a_source_reads_its_expiry_mode_and_defaults_to_window() {
        let read = |extra: &str| {
            let toml = format!("name = \"A\"\nurl = \"https://example.com/feed\"\n{extra}");
            ::config::Config::builder()
                .add_source(::config::File::from_str(&toml, ::config::FileFormat::Toml))
                .build()
                .and_then(|c| c.try_deserialize::<SourceSettings>())
        };
        let plain = read("").unwrap().to_source("0 0 * * * *");
        assert_eq!(plain.expiry, Expiry::Window);
        let full = read("expiry = \"complete\"")
            .unwrap()
            .to_source("0 0 * * * *");
        assert_eq!(full.expiry, Expiry::Complete);
        assert!(read("expiry = \"sometimes\"").is_err());
        assert!(!plain.link_check);
        let checked = read("link_check = true").unwrap().to_source("0 0 * * * *");
        assert!(checked.link_check);
    }

    #[test]
    fn link_check_limits_name_their_key() {
        let mut s = Settings::default();
        s.link_check.max_hosts_at_once = 0;
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("link_check.max_hosts_at_once"), "{err}");
    }

    #[test]
    fn a_bad_cron_names_its_key() {
        let mut s = Settings::default();
        s.sources.push(SourceSettings {
            name: "x".into(),
            url: "https://example.com/feed".into(),
            id: None,
            cron: Some("every hour".into()),
            enabled: true,
            format: SourceFormat::Auto,
            mapping: None,
            publisher: None,
            user_agent: None,
            max_body_bytes: None,
            allow_private_networks: false,
            expiry: Expiry::Window,
            link_check: false,
            page_param: None,
        });
        let err = s.validate().map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("sources[0].cron"), "{err}");
    }

    #[test]
    fn a_bad_page_param_names_its_key() {
        let read = |param: &str| {
            let toml = format!(
                "[[sources]]\nname = \"Board\"\nurl = \"https://example.com/feed\"\npage_param = \"{param}\"\n"
            );
            ::config::Config::builder()
                .add_source(::config::File::from_str(&toml, ::config::FileFormat::Toml))
                .build()
                .and_then(|c| c.try_deserialize::<Settings>())
                .unwrap()
        };
        let err = read("pg&x=1")
            .validate()
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("sources[0].page_param"), "{err}");
        let s = read("pg");
        assert!(s.validate().is_ok());
        assert_eq!(
            s.sources[0].to_source("0 0 * * * *").page_param.as_deref(),
            Some("pg")
        );
    }

    #[test]
    fn a_bad_source_mapping_names_its_key_and_field() {
        let read = |fields: &str| {
            let toml = format!(
                "[[sources]]\nname = \"Board\"\nurl = \"https://example.com/api\"\n\
                 format = \"custom\"\n[sources.mapping]\nitems = \"/jobs\"\nfields = {{ {fields} }}\n"
            );
            ::config::Config::builder()
                .add_source(::config::File::from_str(&toml, ::config::FileFormat::Toml))
                .build()
                .and_then(|c| c.try_deserialize::<Settings>())
                .unwrap()
        };
        let s = read("title = \"t\", titel = \"x\"");
        let err = s.validate().map(|_| ()).unwrap_err().to_string();
        assert!(
            err.contains("sources[0].mapping") && err.contains("fields.titel"),
            "{err}"
        );
        // Field names keep their case.
        let s = read("title = \"t\", externalId = \"id\"");
        assert!(s.validate().is_ok());
        let source = s.sources[0].to_source("0 0 * * * *");
        let mapping = source.custom_mapping().unwrap();
        assert_eq!(mapping.fields["externalId"].paths, ["id"]);
    }

    #[test]
    fn source_urls_must_be_plain_http() {
        assert!(validate_source_url("https://jobicy.com/?feed=job_feed").is_ok());
        assert!(validate_source_url("file:///etc/passwd").is_err());
        assert!(validate_source_url("http://user:pw@example.com/").is_err());
        assert!(validate_source_url("not a url").is_err());
    }

    fn auth_error(f: impl FnOnce(&mut AuthSettings)) -> Option<String> {
        let mut s = Settings::default();
        s.auth.admin_token = Secret::new("admin-token");
        f(&mut s.auth);
        s.validate().err().map(|e| e.to_string())
    }

    #[test]
    fn a_previous_token_needs_the_end_of_its_overlap() {
        let err = auth_error(|a| a.previous_admin_token = Secret::new("old")).unwrap();
        assert!(err.contains("auth.previous_token_valid_until"), "{err}");
        let err = auth_error(|a| {
            a.previous_admin_token = Secret::new("old");
            a.previous_token_valid_until = Some("tomorrow".into());
        })
        .unwrap();
        assert!(err.contains("RFC 3339"), "{err}");
        assert_eq!(
            auth_error(|a| {
                a.previous_admin_token = Secret::new("old");
                a.previous_token_valid_until = Some("2030-01-01T00:00:00Z".into());
            }),
            None
        );
    }

    #[test]
    fn the_read_token_must_differ_from_the_admin_token() {
        let err = auth_error(|a| a.read_token = Secret::new("admin-token")).unwrap();
        assert!(err.contains("auth.read_token"), "{err}");
        assert!(err.contains("auth.admin_token"), "{err}");
        let err = auth_error(|a| a.read_token = Secret::new("has space")).unwrap();
        assert!(err.contains("auth.read_token"), "{err}");
    }

    fn shipped(file: &str) -> Settings {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let s: Settings = toml_settings(&text);
        s.validate().unwrap();
        s
    }

    /// Reads a settings file alone: no environment, so the test sees the file as shipped.
    fn toml_settings(text: &str) -> Settings {
        config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap()
    }

    #[test]
    fn the_image_ships_the_local_feeds_without_the_demo_or_private_networks() {
        let local = shipped("config.toml");
        let image = shipped("docker/config.toml");
        let feeds = |s: &Settings| {
            s.sources
                .iter()
                .map(|x| (x.id(), x.url.clone(), x.user_agent.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(feeds(&image), feeds(&local));
        assert!(image.sources.iter().any(|s| s.url.contains("jobicy.com")));
        assert!(
            image
                .sources
                .iter()
                .any(|s| s.url == "https://www.higheredjobs.com/rss/articleFeed.cfm")
        );
        assert!(!image.demo.enabled);
        assert!(local.demo.enabled);
        for s in [&local, &image] {
            assert!(!s.fetch.allow_private_networks);
            assert!(s.sources.iter().all(|x| !x.allow_private_networks));
            assert!(s.auth.admin_token.is_empty(), "no token in a shipped file");
        }
        assert_eq!(image.http.bind, "0.0.0.0:8080");
    }

    #[test]
    fn a_source_entry_can_allow_private_networks_for_itself() {
        let s = toml_settings(
            "[[sources]]\nname = \"LAN\"\nurl = \"http://10.0.0.5/feed\"\nallow_private_networks = true\n",
        );
        let source = s.sources[0].to_source("0 0 * * * *");
        assert!(source.allow_private_networks);
        assert!(!s.fetch.allow_private_networks);
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
