//! `GET /api/import-logs` (newest first or most failures first, by page or cursor, filtered),
//! `GET /api/import-logs/changes` (catch-up) and `GET /api/import-logs/{id}` (failures paged
//! and grouped by code).

use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};

use crate::domain::codes;
use crate::domain::events::SyncRequest;
use crate::domain::import_run::MAX_STORED_FAILURES;
use crate::domain::{CodeCount, Failure, ImportRun, RunStatus};
use crate::http::AppState;
use crate::http::auth::CanRead;
use crate::http::error::ApiError;
use crate::http::validate;
use crate::store::mongo::history::{Cursor, RunQuery, RunSort};
use crate::store::mongo::live::since_with_margin;
use crate::store::mongo::runs::RunFilter;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListQuery {
    page: Option<u64>,
    limit: Option<u64>,
    cursor: Option<String>,
    source: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    sort: Option<String>,
    failure_code: Option<String>,
    error_text: Option<String>,
}

/// Longest text searched in runs' error messages.
pub const MAX_ERROR_TEXT: usize = 200;

/// A failure code as the catalogue writes them: `family.name` in lower case (at most 64).
fn failure_code(v: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(code) = v else { return Ok(None) };
    let ok = code.len() <= 64
        && code.split('.').count() >= 2
        && code
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if !ok {
        return Err(ApiError::bad_request(
            &codes::validation("failureCode"),
            "`failureCode` is a failure code such as `fetch.timeout` (see docs/errors.md)",
        ));
    }
    Ok(Some(code.to_owned()))
}

const STATUSES: &[&str] = &[
    "queued",
    "running",
    "completed",
    "partial",
    "failed",
    "not_modified",
];

impl ListQuery {
    fn validate(&self) -> Result<RunQuery, ApiError> {
        let sort = match validate::one_of("sort", self.sort.as_deref(), &["date", "failures"])?
            .as_deref()
        {
            Some("failures") => RunSort::Failures,
            _ => RunSort::Date,
        };
        let cursor = match &self.cursor {
            Some(c) => Some(Cursor::decode(c).ok_or_else(|| {
                ApiError::bad_request(
                    &codes::validation("cursor"),
                    "`cursor` is not one this API gave",
                )
            })?),
            None => None,
        };
        if cursor
            .as_ref()
            .is_some_and(|c| sort == RunSort::Failures && c.failed.is_none())
        {
            return Err(ApiError::bad_request(
                &codes::validation("cursor"),
                "the cursor belongs to another sort order",
            ));
        }
        let status = validate::one_of("status", self.status.as_deref(), STATUSES)?;
        Ok(RunQuery {
            filter: RunFilter {
                source_id: validate::id("source", self.source.as_deref())?,
                status: status.as_deref().and_then(RunStatus::parse),
                from: validate::timestamp("from", self.from.as_deref())?,
                to: validate::timestamp("to", self.to.as_deref())?,
                failure_code: failure_code(self.failure_code.as_deref())?,
                error_text: validate::text(
                    "errorText",
                    self.error_text.as_deref(),
                    MAX_ERROR_TEXT,
                )?,
            },
            sort,
            page: validate::page(self.page)?,
            limit: validate::limit(self.limit, 20)?,
            cursor,
        })
    }
}

#[get("/api/import-logs")]
pub async fn list(
    _: CanRead,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = q.validate()?;
    Ok(HttpResponse::Ok().json(state.store.query_runs(&query).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    since: String,
}

/// The REST twin of the WebSocket's `sync`: runs changed since `since` (oldest change first).
#[get("/api/import-logs/changes")]
pub async fn changes(
    _: CanRead,
    state: web::Data<AppState>,
    q: web::Query<ChangesQuery>,
) -> Result<HttpResponse, ApiError> {
    let since = since_with_margin(&q.since).ok_or_else(|| {
        ApiError::bad_request(
            &codes::validation("since"),
            "`since` must be an RFC 3339 time",
        )
    })?;
    let req = SyncRequest {
        since: Some(q.since.clone()),
        runs: Default::default(),
    };
    Ok(HttpResponse::Ok().json(state.store.sync(&req, Some(&since)).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ShowQuery {
    failures_page: Option<u64>,
    failures_limit: Option<u64>,
    /// Only the stored failures with this code.
    failure_code: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FailureGroup {
    pub code: String,
    /// Every failure with this code (counted even when not stored, once the run has ended).
    pub count: i64,
    /// How many of them are stored on the run.
    pub stored: i64,
    pub example: Option<Failure>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RunDetail {
    #[serde(flatten)]
    run: ImportRun,
    failures_total: usize,
    failures_page: u64,
    failures_limit: u64,
    failure_groups: Vec<FailureGroup>,
}

/// Groups by code: counts from `failuresByCode` when the run has them, else the stored ones.
pub fn group_failures(failures: &[Failure], by_code: &[CodeCount]) -> Vec<FailureGroup> {
    let mut groups: std::collections::BTreeMap<&str, FailureGroup> = Default::default();
    for c in by_code {
        groups.entry(&c.code).or_insert_with(|| FailureGroup {
            code: c.code.clone(),
            count: c.count,
            stored: 0,
            example: None,
        });
    }
    for f in failures {
        let g = groups.entry(&f.code).or_insert_with(|| FailureGroup {
            code: f.code.clone(),
            count: 0,
            stored: 0,
            example: None,
        });
        g.stored += 1;
        g.count = g.count.max(g.stored);
        g.example.get_or_insert_with(|| f.clone());
    }
    let mut out: Vec<FailureGroup> = groups.into_values().collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(&b.code)));
    out
}

#[get("/api/import-logs/{id}")]
pub async fn show(
    _: CanRead,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<ShowQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if !validate::id_ok(&id) {
        return Err(ApiError::bad_request(
            &codes::validation("id"),
            "not a run id",
        ));
    }
    let page = validate::page(q.failures_page).map_err(|e| rename(e, "failuresPage"))?;
    let limit = q.failures_limit.unwrap_or(MAX_STORED_FAILURES as u64);
    if limit == 0 || limit > MAX_STORED_FAILURES as u64 {
        return Err(ApiError::bad_request(
            &codes::validation("failuresLimit"),
            format!("`failuresLimit` is between 1 and {MAX_STORED_FAILURES}"),
        ));
    }
    let code = validate::text("failureCode", q.failure_code.as_deref(), 64)?;
    let Some(mut run) = state.store.get_run(&id).await? else {
        return Err(ApiError::not_found(format!("no import run `{id}`")));
    };
    run.batches.clear();
    let all = std::mem::take(&mut run.failures);
    let failure_groups = group_failures(&all, &run.failures_by_code);
    let matching: Vec<Failure> = all
        .into_iter()
        .filter(|f| code.as_deref().is_none_or(|c| f.code == c))
        .collect();
    let failures_total = matching.len();
    run.failures = matching
        .into_iter()
        .skip(((page - 1) * limit) as usize)
        .take(limit as usize)
        .collect();
    Ok(HttpResponse::Ok().json(RunDetail {
        run,
        failures_total,
        failures_page: page,
        failures_limit: limit,
        failure_groups,
    }))
}

fn rename(e: ApiError, key: &str) -> ApiError {
    ApiError::bad_request(&codes::validation(key), e.message.replace("page", key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_group_by_code_with_full_counts_when_known() {
        let f = |c: &str| Failure::new(c, "m");
        let stored = [
            f("item.invalid"),
            f("item.invalid"),
            f("item.missing_title"),
        ];
        let counts = [CodeCount {
            code: "item.invalid".into(),
            count: 7,
        }];
        let g = group_failures(&stored, &counts);
        assert_eq!(g[0].code, "item.invalid");
        assert_eq!((g[0].count, g[0].stored), (7, 2));
        assert_eq!((g[1].count, g[1].stored), (1, 1));
        assert!(g[1].example.is_some());
    }
}
