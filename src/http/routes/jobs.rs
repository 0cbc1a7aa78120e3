//! `GET /api/jobs` (literal text search and typed filters, paginated) and `GET /api/jobs/{id}`.

use actix_web::{HttpResponse, get, web};
use serde::Deserialize;

use crate::domain::EmploymentType;
use crate::domain::codes;
use crate::http::AppState;
use crate::http::auth::CanRead;
use crate::http::error::ApiError;
use crate::http::validate;
use crate::store::mongo::jobs_query::JobFilter;

/// Longest search text; longer text is refused rather than cut.
pub const MAX_QUERY_CHARS: usize = 200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JobsQuery {
    q: Option<String>,
    page: Option<u64>,
    limit: Option<u64>,
    source: Option<String>,
    company: Option<String>,
    location: Option<String>,
    employment_type: Option<String>,
    remote: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

impl JobsQuery {
    fn validate(&self) -> Result<(JobFilter, u64, u64), ApiError> {
        let employment_type = match self.employment_type.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(
                // Unknown words map to OTHER when reading feeds; a filter wants a known value.
                EmploymentType::parse_loose(raw)
                    .filter(|t| *t != EmploymentType::Other || raw.eq_ignore_ascii_case("other"))
                    .map(|t| t.as_str().to_owned())
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            &codes::validation("employmentType"),
                            "`employmentType` is e.g. FULL_TIME, PART_TIME, CONTRACTOR",
                        )
                    })?,
            ),
        };
        let remote = validate::one_of("remote", self.remote.as_deref(), &["true", "false"])?
            .map(|r| r == "true");
        let filter = JobFilter {
            q: validate::text("q", self.q.as_deref(), MAX_QUERY_CHARS)?,
            source_id: validate::id("source", self.source.as_deref())?,
            company: validate::text("company", self.company.as_deref(), 200)?,
            location: validate::text("location", self.location.as_deref(), 200)?,
            employment_type,
            remote,
            status: validate::one_of("status", self.status.as_deref(), &["open", "closed"])?,
            from: validate::timestamp("from", self.from.as_deref())?,
            to: validate::timestamp("to", self.to.as_deref())?,
        };
        Ok((
            filter,
            validate::page(self.page)?,
            validate::limit(self.limit, 20)?,
        ))
    }
}

#[get("/api/jobs")]
pub async fn list(
    _: CanRead,
    state: web::Data<AppState>,
    q: web::Query<JobsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (filter, page, limit) = q.validate()?;
    Ok(HttpResponse::Ok().json(state.store.query_jobs(&filter, page, limit).await?))
}

#[get("/api/jobs/{id}")]
pub async fn show(
    _: CanRead,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if !validate::id_ok(&id) {
        return Err(ApiError::bad_request(
            &codes::validation("id"),
            "not a job id",
        ));
    }
    match state.store.get_job(&id).await? {
        Some(job) => Ok(HttpResponse::Ok().json(job)),
        None => Err(ApiError::not_found(format!("no job `{id}`"))),
    }
}
