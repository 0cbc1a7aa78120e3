//! `GET /metrics`: Prometheus text. Gauges that describe shared state (runs by status, queue
//! depth, live workers) are read at scrape time, runs by status from the per-source run
//! counters (`store::mongo::run_counts`), never from the runs; the rest are counted as things
//! happen.

use actix_web::{HttpResponse, get, web};

use crate::actors::messages::GetBrokerStats;
use crate::http::AppState;
use crate::http::auth::CanRead;
use crate::http::error::ApiError;
use crate::http::routes::health::live_workers;
use crate::store::mongo::run_counts::FINAL_STATUSES;
use crate::telemetry;

async fn queue_depth(state: &AppState, queue: &str) -> Option<u64> {
    let mut c = state.pipeline.redis.conn.clone();
    redis::pipe()
        .cmd("LLEN")
        .arg(format!("{queue}:active"))
        .cmd("ZCARD")
        .arg(format!("{queue}:scheduled"))
        .query_async::<(u64, u64)>(&mut c)
        .await
        .ok()
        .map(|(a, s)| a + s)
}

async fn refresh_gauges(state: &AppState) -> Result<(), ApiError> {
    let counts = state.store.run_counts(None).await?;
    // Queued and running runs are counted together: the counters change when a run is
    // created and when it ends, not in between.
    ::metrics::gauge!(telemetry::RUNS, "status" => "active").set(counts.active() as f64);
    for st in FINAL_STATUSES {
        ::metrics::gauge!(telemetry::RUNS, "status" => st.as_str())
            .set(counts.ended_with(st) as f64);
    }
    let redis = &state.pipeline.redis;
    let hb = state.settings.pipeline.heartbeat_secs;
    for (name, queue) in [
        ("fetch", redis.keys.fetch_queue()),
        ("items", redis.keys.items_queue()),
    ] {
        if let Some(d) = queue_depth(state, &queue).await {
            ::metrics::gauge!(telemetry::QUEUE_DEPTH, "queue" => name).set(d as f64);
        }
        if let Some(w) = live_workers(redis, &queue, hb).await {
            ::metrics::gauge!(telemetry::QUEUE_WORKERS, "queue" => name).set(w as f64);
        }
    }
    if let Ok(s) = state.broker.send(GetBrokerStats).await {
        ::metrics::gauge!(telemetry::WS_SESSIONS).set(s.sessions as f64);
    }
    Ok(())
}

#[get("/metrics")]
pub async fn metrics(_: CanRead, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let Some(handle) = telemetry::init() else {
        return Err(ApiError::not_found("metrics are not enabled"));
    };
    refresh_gauges(&state).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render()))
}
