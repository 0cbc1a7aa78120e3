//! `GET /api/audit`: who changed which source, and when (newest first), and the one function
//! every changing route records through.

use actix_web::{HttpResponse, get, web};
use serde::Deserialize;

use crate::domain::audit::{Actor, AuditAction, AuditEntry};
use crate::domain::codes;
use crate::http::AppState;
use crate::http::auth::CanRead;
use crate::http::error::ApiError;
use crate::http::validate;
use crate::store::mongo::audit::AuditFilter;

/// Records a change; `fill` sets what the entry is about. The change is already made: a
/// failure to record it is logged, not answered as an error.
pub async fn record(
    state: &AppState,
    actor: Actor,
    action: AuditAction,
    fill: impl FnOnce(&mut AuditEntry),
) {
    let mut entry = AuditEntry::new(
        uuid::Uuid::now_v7().to_string(),
        chrono::Utc::now(),
        actor,
        action,
    );
    fill(&mut entry);
    if let Err(e) = state.store.record_audit(&entry).await {
        tracing::warn!(action = action.as_str(), error = %e, "could not record an audit entry");
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    source: Option<String>,
    action: Option<String>,
    page: Option<u64>,
    limit: Option<u64>,
}

#[get("/api/audit")]
pub async fn list(
    _: CanRead,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let action = match q.action.as_deref() {
        None => None,
        Some(a) => Some(AuditAction::parse(a).ok_or_else(|| {
            let names: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
            ApiError::bad_request(
                &codes::validation("action"),
                format!("`action` is one of {}", names.join(", ")),
            )
        })?),
    };
    let filter = AuditFilter {
        source_id: validate::id("source", q.source.as_deref())?,
        action,
    };
    let page = validate::page(q.page)?;
    let limit = validate::limit(q.limit, 20)?;
    Ok(HttpResponse::Ok().json(state.store.list_audit(&filter, page, limit).await?))
}
