//! `GET /api/jobs/changes`: new, updated, closed and reopened jobs in the order they were
//! recorded, paged by a cursor that stays valid across daemons and restarts (see
//! `store::mongo::changes` for why nothing is missed or repeated), and
//! `GET /api/jobs/changes/webhooks`: the webhooks they are pushed to (`changes_out`) and how
//! far each got.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use serde::Deserialize;

use crate::domain::codes;
use crate::http::AppState;
use crate::http::auth::CanRead;
use crate::http::error::ApiError;
use crate::http::validate;
use crate::store::mongo::changes::CursorProblem;

/// Most changes per page.
pub const MAX_CHANGES_LIMIT: u64 = 1000;
const DEFAULT_LIMIT: u64 = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    cursor: Option<String>,
    limit: Option<u64>,
    source: Option<String>,
}

/// An empty or absent cursor starts at the first change kept.
fn cursor(raw: Option<&str>) -> Result<i64, ApiError> {
    match raw {
        None | Some("") => Ok(0),
        Some(c) => c.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            ApiError::bad_request(
                &codes::validation("cursor"),
                "`cursor` is the `nextCursor` of an earlier page",
            )
        }),
    }
}

#[get("/api/jobs/changes")]
pub async fn list(
    _: CanRead,
    state: web::Data<AppState>,
    q: web::Query<ChangesQuery>,
) -> Result<HttpResponse, ApiError> {
    let after = cursor(q.cursor.as_deref())?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_CHANGES_LIMIT {
        return Err(ApiError::bad_request(
            &codes::validation("limit"),
            format!("`limit` is between 1 and {MAX_CHANGES_LIMIT}"),
        ));
    }
    let source = validate::id("source", q.source.as_deref())?;
    match state
        .store
        .list_changes(after, limit as i64, source.as_deref())
        .await?
    {
        Ok(page) => Ok(HttpResponse::Ok().json(page)),
        Err(CursorProblem::Expired { oldest }) => Err(ApiError::new(
            StatusCode::GONE,
            codes::CHANGES_CURSOR_EXPIRED,
            format!(
                "changes after this cursor were deleted by retention; the oldest kept is {oldest}: read the jobs again, then follow from the newest"
            ),
        )),
        Err(CursorProblem::Ahead { head }) => Err(ApiError::bad_request(
            &codes::validation("cursor"),
            format!("`cursor` is past the newest change ({head})"),
        )),
    }
}

/// The configured changes webhooks (URLs and secrets left out) with their cursor, how far
/// behind the newest change it is, and the state of their deliveries.
#[get("/api/jobs/changes/webhooks")]
pub async fn webhooks(_: CanRead, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let report = crate::changes_out::report(&state.store, &state.settings.changes_out).await?;
    Ok(HttpResponse::Ok().json(report))
}
