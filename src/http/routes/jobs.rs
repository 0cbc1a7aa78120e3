//! `GET /api/jobs` (literal text search and typed filters, paginated) and `GET /api/jobs/{id}`.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use serde::Deserialize;

use crate::domain::EmploymentType;
use crate::domain::codes;
use crate::http::AppState;
use crate::http::auth::CanRead;
use crate::http::error::ApiError;
use crate::http::export::{self as export_body, Format};
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

/// The filters of the jobs list, as sent.
struct FilterParams<'a> {
    q: Option<&'a str>,
    source: Option<&'a str>,
    company: Option<&'a str>,
    location: Option<&'a str>,
    employment_type: Option<&'a str>,
    remote: Option<&'a str>,
    status: Option<&'a str>,
    from: Option<&'a str>,
    to: Option<&'a str>,
}

impl FilterParams<'_> {
    fn validate(&self) -> Result<JobFilter, ApiError> {
        let employment_type = match self.employment_type {
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
        let remote =
            validate::one_of("remote", self.remote, &["true", "false"])?.map(|r| r == "true");
        Ok(JobFilter {
            q: validate::text("q", self.q, MAX_QUERY_CHARS)?,
            source_id: validate::id("source", self.source)?,
            company: validate::text("company", self.company, 200)?,
            location: validate::text("location", self.location, 200)?,
            employment_type,
            remote,
            status: validate::one_of("status", self.status, &["open", "closed"])?,
            from: validate::timestamp("from", self.from)?,
            to: validate::timestamp("to", self.to)?,
        })
    }
}

impl JobsQuery {
    fn validate(&self) -> Result<(JobFilter, u64, u64), ApiError> {
        let filter = FilterParams {
            q: self.q.as_deref(),
            source: self.source.as_deref(),
            company: self.company.as_deref(),
            location: self.location.as_deref(),
            employment_type: self.employment_type.as_deref(),
            remote: self.remote.as_deref(),
            status: self.status.as_deref(),
            from: self.from.as_deref(),
            to: self.to.as_deref(),
        }
        .validate()?;
        Ok((
            filter,
            validate::page(self.page)?,
            validate::limit(self.limit, 20)?,
        ))
    }
}

/// `GET /api/jobs/export`: the filters of the list, and the format (no pages: every match).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExportQuery {
    format: Option<String>,
    q: Option<String>,
    source: Option<String>,
    company: Option<String>,
    location: Option<String>,
    employment_type: Option<String>,
    remote: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

impl ExportQuery {
    fn validate(&self) -> Result<(Format, JobFilter), ApiError> {
        let format = match self.format.as_deref() {
            None => Format::Csv,
            Some(f) => Format::parse(f).ok_or_else(|| {
                ApiError::bad_request(&codes::validation("format"), "`format` is csv or ndjson")
            })?,
        };
        let filter = FilterParams {
            q: self.q.as_deref(),
            source: self.source.as_deref(),
            company: self.company.as_deref(),
            location: self.location.as_deref(),
            employment_type: self.employment_type.as_deref(),
            remote: self.remote.as_deref(),
            status: self.status.as_deref(),
            from: self.from.as_deref(),
            to: self.to.as_deref(),
        }
        .validate()?;
        Ok((format, filter))
    }
}

/// Every job matching the list's filters, streamed as CSV or NDJSON from one database cursor
/// (constant memory, any size), in id order.
#[get("/api/jobs/export")]
pub async fn export(
    _: CanRead,
    state: web::Data<AppState>,
    q: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let (format, filter) = q.validate()?;
    let jobs = state
        .store
        .export_jobs(&filter, state.settings.http.export_batch_size)
        .await?;
    let name = format!(
        "jobs-{}.{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        format.extension()
    );
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(export_body::body(format, Box::pin(jobs))))
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
