//! `/healthz` says the process answers; `/readyz` that MongoDB and Redis do too, and how many
//! queue workers of the deployment sent a heartbeat lately.

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::http::AppState;
use crate::store::redis::Redis;

/// Each dependency gets this long to answer a readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

async fn probe<F, E>(f: F) -> Option<String>
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    match tokio::time::timeout(PROBE_TIMEOUT, f).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {PROBE_TIMEOUT:?}")),
    }
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
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let redis = &state.pipeline.redis;
    let mongo = probe(state.store.ping()).await;
    let redis_err = probe(redis.ping()).await;
    let hb = state.settings.pipeline.heartbeat_secs;
    let fetch = live_workers(redis, &redis.keys.fetch_queue(), hb).await;
    let items = live_workers(redis, &redis.keys.items_queue(), hb).await;
    let body = json!({
        "mongodb": mongo.as_deref().unwrap_or("ok"),
        "redis": redis_err.as_deref().unwrap_or("ok"),
        "broker": if state.broker.connected() { "ok" } else { "stopped" },
        "workers": {"fetch": fetch, "items": items},
    });
    if mongo.is_none() && redis_err.is_none() && state.broker.connected() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
