//! `GET /api/import-logs` (newest first, paginated, filtered) and `GET /api/import-logs/{id}`.

use actix_web::{HttpResponse, get, web};
use serde::Deserialize;

use crate::domain::RunStatus;
use crate::http::AppState;
use crate::http::auth::CanRead;
use crate::http::error::ApiError;
use crate::store::mongo::runs::RunFilter;

pub const MAX_LIMIT: u64 = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub page: Option<u64>,
    pub limit: Option<u64>,
    pub source: Option<String>,
    pub status: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

fn timestamp(key: &str, v: &Option<String>) -> Result<Option<String>, ApiError> {
    v.as_deref()
        .map(|raw| {
            chrono::DateTime::parse_from_rfc3339(raw)
                .map(|t| crate::domain::time::format(&t.with_timezone(&chrono::Utc)))
                .map_err(|_| {
                    ApiError::bad_request(
                        &format!("validation.{key}"),
                        format!("`{key}` must be an RFC 3339 time"),
                    )
                })
        })
        .transpose()
}

pub fn source_id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl ListQuery {
    fn validate(&self) -> Result<(u64, u64, RunFilter), ApiError> {
        let page = self.page.unwrap_or(1);
        if page == 0 || page > 1_000_000 {
            return Err(ApiError::bad_request(
                "validation.page",
                "`page` starts at 1",
            ));
        }
        let limit = self.limit.unwrap_or(20);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::bad_request(
                "validation.limit",
                format!("`limit` is between 1 and {MAX_LIMIT}"),
            ));
        }
        let status = match &self.status {
            Some(s) => Some(RunStatus::parse(s).ok_or_else(|| {
                ApiError::bad_request("validation.status", format!("unknown status `{s}`"))
            })?),
            None => None,
        };
        if let Some(s) = &self.source
            && !source_id_ok(s)
        {
            return Err(ApiError::bad_request(
                "validation.source",
                "`source` is a source id",
            ));
        }
        let filter = RunFilter {
            source_id: self.source.clone(),
            status,
            from: timestamp("from", &self.from)?,
            to: timestamp("to", &self.to)?,
        };
        Ok((page, limit, filter))
    }
}

#[get("/api/import-logs")]
pub async fn list(
    _: CanRead,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let (page, limit, filter) = q.validate()?;
    let result = state.store.page_runs(page, limit, &filter).await?;
    Ok(HttpResponse::Ok().json(result))
}

#[get("/api/import-logs/{id}")]
pub async fn show(
    _: CanRead,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if id.len() > 64 {
        return Err(ApiError::bad_request("validation.id", "not a run id"));
    }
    match state.store.get_run(&id).await? {
        Some(mut run) => {
            run.batches.clear();
            Ok(HttpResponse::Ok().json(run))
        }
        None => Err(ApiError::not_found(format!("no import run `{id}`"))),
    }
}
