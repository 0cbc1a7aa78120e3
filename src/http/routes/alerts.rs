//! `GET /api/alerts/channels` (the configured channels and rules, secrets left out),
//! `GET /api/alerts/deliveries` (the delivery history, of one source or all) and
//! `POST /api/alerts/channels/{id}/test` ("send test": a test message through the outbox).

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use serde_json::json;

use crate::alerts::settings::{ChannelKind, ChannelSettings};
use crate::domain::audit::AuditAction;
use crate::http::AppState;
use crate::http::auth::{Admin, CanRead, is_admin};
use crate::http::error::ApiError;
use crate::http::routes::audit;
use crate::http::validate;

fn describe(c: &ChannelSettings) -> serde_json::Value {
    json!({"id": c.id, "kind": c.kind, "target": c.target(), "signed": c.kind == ChannelKind::Webhook})
}

#[get("/api/alerts/channels")]
pub async fn channels(_: CanRead, req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let s = &state.settings.alerts;
    HttpResponse::Ok().json(json!({
        "channels": s.channels.iter().map(describe).collect::<Vec<_>>(),
        "rules": s.rules,
        "thresholds": {
            "staleAfterDays": s.stale_after_days,
            "itemFailurePercent": s.item_failure_percent,
            "coverageMissingPercent": s.coverage_missing_percent,
        },
        "canSendTest": is_admin(&req),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    source: Option<String>,
    limit: Option<u64>,
}

#[get("/api/alerts/deliveries")]
pub async fn deliveries(
    _: CanRead,
    state: web::Data<AppState>,
    q: web::Query<DeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let source = validate::id("source", q.source.as_deref())?;
    let limit = validate::limit(q.limit, 20)?;
    let list = state
        .store
        .list_deliveries(source.as_deref(), limit as i64)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "deliveries": list })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestQuery {
    source: Option<String>,
}

#[post("/api/alerts/channels/{id}/test")]
pub async fn send_test(
    Admin(actor): Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<TestQuery>,
) -> Result<HttpResponse, ApiError> {
    let source = validate::id("source", q.source.as_deref())?;
    if state.settings.alerts.channel(&id).is_none() {
        return Err(ApiError::not_found(format!("no alert channel `{id}`")));
    }
    if let Some(s) = &source
        && state.store.get_source(s).await?.is_none()
    {
        return Err(ApiError::not_found(format!("no source `{s}`")));
    }
    let delivery = crate::alerts::queue_test(&state.store, &id, source.as_deref()).await?;
    audit::record(&state, actor, AuditAction::AlertTestSent, |e| {
        e.source_id = source.clone();
        e.detail = Some(format!("channel {id}"));
    })
    .await;
    Ok(HttpResponse::Accepted().json(json!({ "deliveryId": delivery })))
}
