//! `GET /api/queues`: the queue view (see `store::queue_view`), and whether the deployment is
//! paused (its workers then hold nothing new and are not listed once they stop).

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::http::AppState;
use crate::http::auth::CanRead;
use crate::http::error::ApiError;

#[get("/api/queues")]
pub async fn list(_: CanRead, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let p = &state.pipeline;
    // apalis presumes a worker dead after three missed heartbeats.
    let live_within = Duration::from_secs(3 * p.settings.pipeline.heartbeat_secs + 1);
    let view = p.queues.view(live_within).await?;
    Ok(HttpResponse::Ok().json(json!({
        "paused": p.pause.is_paused(),
        "queues": view.queues,
        "workers": view.workers,
    })))
}
