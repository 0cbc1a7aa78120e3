//! `/healthz` says the process answers; `/readyz` that MongoDB and Redis do too. Anyone learns
//! whether the daemon is ready; a caller who may read also learns which dependency is not
//! and how many queue workers of the deployment sent a heartbeat lately, and whether the
//! deployment is paused for maintenance. The reason a
//! dependency failed goes to the log, never into a response.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde_json::json;

use crate::http::{AppState, auth};
use crate::store::redis::Redis;

/// Each dependency gets this long to answer a readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// Whether `dependency` answered; the reason it did not is logged.
async fn probe<F, E>(dependency: &str, f: F) -> bool
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    match tokio::time::timeout(PROBE_TIMEOUT, f).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(dependency, error = %e, "readiness probe failed");
            false
        }
        Err(_) => {
            tracing::warn!(dependency, timeout = ?PROBE_TIMEOUT, "readiness probe got no answer");
            false
        }
    }
}

fn word(ok: bool) -> &'static str {
    if ok { "ok" } else { "unavailable" }
}

/// Workers of `queue` whose heartbeat (apalis' `{queue}:workers` sorted set, scored in unix
/// seconds) is younger than three heartbeat intervals.
pub async fn live_workers(redis: &Redis, queue: &str, heartbeat_secs: u64) -> Option<u64> {
    let now = chrono::Utc::now().timestamp();
    let min = now - 3 * heartbeat_secs as i64;
    let mut c = redis.conn.clone();
    let mut cmd = redis::cmd("ZCOUNT");
    cmd.arg(format!("{queue}:workers")).arg(min).arg("+inf");
    let fut = cmd.query_async::<u64>(&mut c);
    tokio::time::timeout(PROBE_TIMEOUT, fut).await.ok()?.ok()
}

/// Ready when MongoDB and Redis answer. Worker counts are reported, not required: an
/// HTTP-only daemon stays useful (the dashboard, the history) while workers restart.
#[get("/readyz")]
pub async fn readyz(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let redis = &state.pipeline.redis;
    let mongo = probe("mongodb", state.store.ping()).await;
    let redis_ok = probe("redis", redis.ping()).await;
    let broker = state.broker.connected();
    let ready = mongo && redis_ok && broker;
    let mut body = json!({"status": if ready { "ready" } else { "not_ready" }});
    if auth::may_read(&req) {
        let hb = state.settings.pipeline.heartbeat_secs;
        let fetch = live_workers(redis, &redis.keys.fetch_queue(), hb).await;
        let items = live_workers(redis, &redis.keys.items_queue(), hb).await;
        body["mongodb"] = json!(word(mongo));
        body["redis"] = json!(word(redis_ok));
        body["broker"] = json!(if broker { "ok" } else { "stopped" });
        body["workers"] = json!({"fetch": fetch, "items": items});
        // Paused for maintenance is still ready (the API and the dashboard serve), but no
        // work is taken: a probe that watches progress learns why there is none.
        body["paused"] = json!(state.pipeline.pause.is_paused());
    }
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
