//! `/healthz` says the process answers; `/readyz` that MongoDB and Redis do too.

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::http::AppState;

#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mongo = state.store.ping().await.err().map(|e| e.to_string());
    let redis = state
        .pipeline
        .redis
        .ping()
        .await
        .err()
        .map(|e| e.to_string());
    let body = json!({
        "mongodb": mongo.as_deref().unwrap_or("ok"),
        "redis": redis.as_deref().unwrap_or("ok"),
    });
    if mongo.is_none() && redis.is_none() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
