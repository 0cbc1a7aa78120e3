//! `/api/maintenance`: pause and resume the deployment (admin token), and read its state.
//! Pausing stops every daemon's scheduler, queue workers and sweeps (`actors::pause`).

use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;

use crate::actors::pause as gate;
use crate::domain::audit::AuditAction;
use crate::domain::codes;
use crate::domain::maintenance::MAX_REASON_CHARS;
use crate::http::AppState;
use crate::http::auth::{Admin, CanRead};
use crate::http::error::ApiError;
use crate::http::routes::audit;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseInput {
    reason: Option<String>,
}

/// The optional body of a pause: none, `null`, `{}` or `{"reason": "..."}`.
fn pause_input(body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null" {
        return Ok(None);
    }
    let input: PauseInput = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(codes::VALIDATION_BODY, format!("invalid JSON body: {e}"))
    })?;
    let Some(reason) = input.reason.map(|r| r.trim().to_owned()) else {
        return Ok(None);
    };
    if reason.chars().count() > MAX_REASON_CHARS || reason.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            &codes::validation("reason"),
            format!("`reason` must be at most {MAX_REASON_CHARS} printable characters"),
        ));
    }
    Ok((!reason.is_empty()).then_some(reason))
}

#[get("/api/maintenance")]
pub async fn show(_: CanRead, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.store.maintenance().await?))
}

/// Pauses every daemon; a deployment already paused stays as it was (`200`, unchanged).
#[post("/api/maintenance/pause")]
pub async fn pause(
    Admin(actor): Admin,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let reason = pause_input(&body)?;
    let done = gate::pause(&state.pipeline, actor, reason).await?;
    if done.changed {
        audit::record(&state, actor, AuditAction::MaintenancePaused, |e| {
            e.detail = done.state.reason.clone();
        })
        .await;
    }
    Ok(HttpResponse::Ok().json(done.state))
}

/// Resumes every daemon; a deployment that was not paused stays as it was.
#[post("/api/maintenance/resume")]
pub async fn resume(
    Admin(actor): Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let done = gate::resume(&state.pipeline, actor).await?;
    if done.changed {
        audit::record(&state, actor, AuditAction::MaintenanceResumed, |_| {}).await;
    }
    Ok(HttpResponse::Ok().json(done.state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_takes_no_body_or_a_short_printable_reason() {
        assert_eq!(pause_input(b"").unwrap(), None);
        assert_eq!(pause_input(b"{}").unwrap(), None);
        assert_eq!(pause_input(br#"{"reason":"  "}"#).unwrap(), None);
        assert_eq!(
            pause_input(br#"{"reason":" db upgrade "}"#)
                .unwrap()
                .as_deref(),
            Some("db upgrade")
        );
        let long = format!(r#"{{"reason":"{}"}}"#, "x".repeat(MAX_REASON_CHARS + 1));
        assert_eq!(
            pause_input(long.as_bytes()).unwrap_err().code,
            "validation.reason"
        );
        assert_eq!(
            pause_input(br#"{"why":1}"#).unwrap_err().code,
            codes::VALIDATION_BODY
        );
        assert!(pause_input(b"{\"reason\":\"a\\u0007\"}").is_err());
    }
}
