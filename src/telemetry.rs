//! Prometheus metrics: every name is a constant here, described once when the recorder is
//! installed; `/metrics` renders them.

use std::sync::OnceLock;

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::domain::ImportRun;

/// Runs by status (gauge, read from the run counters at scrape time; label `status`: `active`
/// for queued and running runs, else the final status).
pub const RUNS: &str = "job_importer_runs";
/// Runs this process fetched that ended, by final status (label `status`).
pub const RUNS_FINISHED: &str = "job_importer_runs_finished_total";
/// Items of the runs this process fetched, by outcome (label `outcome`).
pub const ITEMS: &str = "job_importer_items_total";
/// Stage durations of the runs this process fetched (label `stage`: fetch, parse, persist).
pub const STAGE_SECONDS: &str = "job_importer_stage_duration_seconds";
/// Tasks waiting in a queue (label `queue`: fetch, items), read from Redis at scrape time.
pub const QUEUE_DEPTH: &str = "job_importer_queue_depth";
/// Queue workers that sent a heartbeat recently (label `queue`).
pub const QUEUE_WORKERS: &str = "job_importer_queue_workers";
/// Open WebSocket sessions of this process.
pub const WS_SESSIONS: &str = "job_importer_ws_sessions";
/// Live-update messages delivered to WebSocket sessions.
pub const WS_DELIVERED: &str = "job_importer_ws_messages_delivered_total";
/// Live-update messages not delivered because the session was too slow or gone.
pub const WS_DROPPED: &str = "job_importer_ws_messages_dropped_total";
/// WebSocket sessions closed because they fell too far behind.
pub const WS_SLOW_CLOSED: &str = "job_importer_ws_slow_sessions_closed_total";
/// Long-lived actors restarted by their supervisor after a panic (label `actor`).
pub const ACTOR_RESTARTS: &str = "job_importer_actor_restarts_total";
/// Requests refused by a rate limit (label `action`).
pub const RATE_LIMITED: &str = "job_importer_rate_limited_total";
/// Runs of `import_logs` deleted by retention (this process).
pub const RETENTION_RUNS_DELETED: &str = "job_importer_retention_runs_deleted_total";
/// Closed jobs deleted by retention (this process).
pub const RETENTION_JOBS_DELETED: &str = "job_importer_retention_jobs_deleted_total";
/// Entries of the changes feed deleted by retention (this process).
pub const RETENTION_CHANGES_DELETED: &str = "job_importer_retention_changes_deleted_total";
/// Alert deliveries deleted by retention (this process).
pub const RETENTION_ALERT_DELIVERIES_DELETED: &str =
    "job_importer_retention_alert_deliveries_deleted_total";

/// Links of jobs checked by this process, by what they answered (label `outcome`: `alive`,
/// `gone`, `disallowed`, `failed`).
pub const LINK_CHECKS: &str = "job_importer_link_checks_total";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once (several daemons in one test process share it).
pub fn init() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets = [0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 10.0, 30.0, 120.0];
            let builder = PrometheusBuilder::new()
                .set_buckets(&buckets)
                .map_err(|e| tracing::warn!(error = %e, "metric buckets"))
                .ok()?;
            let handle = builder
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "no metrics recorder"))
                .ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    describe_gauge!(
        RUNS,
        "Import runs stored, by status (active: queued or running), from the run counters"
    );
    describe_counter!(
        RUNS_FINISHED,
        "Runs fetched by this process that ended, by status"
    );
    describe_counter!(ITEMS, "Items of runs fetched by this process, by outcome");
    describe_histogram!(STAGE_SECONDS, Unit::Seconds, "Run stage durations");
    describe_gauge!(QUEUE_DEPTH, "Tasks waiting in a queue");
    describe_gauge!(QUEUE_WORKERS, "Queue workers with a recent heartbeat");
    describe_gauge!(WS_SESSIONS, "Open WebSocket sessions");
    describe_counter!(WS_DELIVERED, "Live updates handed to WebSocket sessions");
    describe_counter!(WS_DROPPED, "Live updates dropped for slow or gone sessions");
    describe_counter!(
        WS_SLOW_CLOSED,
        "WebSocket sessions closed for falling behind"
    );
    describe_counter!(RATE_LIMITED, "Requests refused by a rate limit");
    describe_counter!(LINK_CHECKS, "Posting links checked, by outcome");
    describe_counter!(
        RETENTION_RUNS_DELETED,
        "Import runs deleted by retention (in this process)"
    );
    describe_counter!(
        RETENTION_JOBS_DELETED,
        "Closed jobs deleted by retention (in this process)"
    );
    describe_counter!(
        RETENTION_CHANGES_DELETED,
        "Entries of the changes feed deleted by retention (in this process)"
    );
    describe_counter!(
        RETENTION_ALERT_DELIVERIES_DELETED,
        "Alert deliveries (sent or given up) deleted by retention (in this process)"
    );
    describe_counter!(
        ACTOR_RESTARTS,
        "Actors restarted by their supervisor after a panic"
    );
}

/// Counts a finished run's outcome once, on the daemon that fetched it.
pub fn record_finished_run(run: &ImportRun) {
    counter!(RUNS_FINISHED, "status" => run.status.as_str()).increment(1);
    for (outcome, n) in [
        ("new", run.new_jobs),
        ("updated", run.updated_jobs),
        ("unchanged", run.unchanged_jobs),
        ("duplicate", run.duplicate_jobs),
        ("failed", run.failed_jobs),
    ] {
        counter!(ITEMS, "outcome" => outcome).increment(n.max(0) as u64);
    }
    let d = &run.durations;
    for (stage, ms) in [
        ("fetch", d.fetch_ms),
        ("parse", d.parse_ms),
        ("persist", Some(d.persist_ms)),
    ] {
        if let Some(ms) = ms {
            histogram!(STAGE_SECONDS, "stage" => stage).record(ms.max(0) as f64 / 1000.0);
        }
    }
}
