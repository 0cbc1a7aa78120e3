//! `GET /api/stats`: totals, then runs and new/updated/failed items per hour and per day,
//! overall and per source.

use actix_web::{HttpResponse, get, web};
use serde::Deserialize;

use crate::domain::codes;
use crate::http::AppState;
use crate::http::auth::CanRead;
use crate::http::error::ApiError;
use crate::http::validate;

pub const MAX_HOURS: u32 = 168;
pub const MAX_DAYS: u32 = crate::store::mongo::run_days::MAX_STATS_DAYS;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    hours: Option<u32>,
    days: Option<u32>,
    source: Option<String>,
}

fn in_range(key: &str, v: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    match v.unwrap_or(default) {
        n if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(
            &codes::validation(key),
            format!("`{key}` is between 1 and {max}"),
        )),
    }
}

#[get("/api/stats")]
pub async fn stats(
    _: CanRead,
    state: web::Data<AppState>,
    q: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let hours = in_range("hours", q.hours, 24, MAX_HOURS)?;
    let days = in_range("days", q.days, 14, MAX_DAYS)?;
    let source = validate::id("source", q.source.as_deref())?;
    let max_age = chrono::Duration::seconds(state.settings.http.jobs_count_max_age_secs as i64);
    let stats = state
        .store
        .stats(hours, days, source.as_deref(), max_age)
        .await?;
    Ok(HttpResponse::Ok().json(stats))
}
