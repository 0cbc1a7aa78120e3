//! `POST /api/preview`: what an import of a URL would give, writing nothing; `GET
//! /api/mappings`: the built-in mappings, for a source to start from.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use serde_json::json;

use crate::actors::preview::{PreviewError, PreviewRequest};
use crate::domain::source::SourceFormat;
use crate::http::AppState;
use crate::http::auth::{Admin, CanRead};
use crate::http::error::ApiError;
use crate::http::rate_limit::{self, Action};
use crate::http::routes::source_format;
use crate::ingest::mapping::builtin;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PreviewInput {
    pub url: String,
    /// `auto` unless a mapping is sent (then `custom`).
    pub format: Option<SourceFormat>,
    pub mapping: Option<serde_json::Value>,
    pub publisher: Option<String>,
    pub user_agent: Option<String>,
    pub max_body_bytes: Option<u64>,
    /// Fetch again although the body of the same URL was fetched less than a minute ago.
    pub refetch: Option<bool>,
}

#[post("/api/preview")]
pub async fn preview(
    _: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<PreviewInput>,
) -> Result<HttpResponse, ApiError> {
    rate_limit::check(&state, &req, Action::Preview).await?;
    let input = body.into_inner();
    let url = source_format::check_url(&state, &input.url)?;
    let mapping = input
        .mapping
        .as_ref()
        .map(source_format::parse_mapping)
        .transpose()?;
    let format = match input.format {
        Some(f) => f,
        None if mapping.is_some() => SourceFormat::Custom,
        None => SourceFormat::Auto,
    };
    source_format::check_format(&format)?;
    if let Some(cap) = input.max_body_bytes.filter(|c| *c != 0) {
        source_format::check_body_cap(cap)?;
    }
    let request = PreviewRequest {
        url: url.to_string(),
        format,
        mapping,
        publisher: input.publisher.filter(|p| !p.trim().is_empty()),
        user_agent: input.user_agent.filter(|u| !u.trim().is_empty()),
        max_body_bytes: input.max_body_bytes.filter(|c| *c != 0),
        refetch: input.refetch.unwrap_or(false),
    };
    let pipeline = &state.pipeline;
    match crate::actors::preview::run(
        &state.previews,
        &pipeline.fetcher,
        Some(&pipeline.store),
        &state.settings.parse,
        request,
    )
    .await
    {
        Ok(p) => Ok(HttpResponse::Ok().json(p)),
        Err(PreviewError::NoMapping) => Err(ApiError::bad_request(
            "validation.mapping",
            "format `custom` needs a `mapping`",
        )),
        // The fetch failed as a run's would: its code and reason, as a bad gateway.
        Err(e @ PreviewError::Fetch(_)) => {
            let f = e.failure();
            Err(ApiError::new(StatusCode::BAD_GATEWAY, &f.code, f.message))
        }
    }
}

#[get("/api/mappings")]
pub async fn mappings(_: CanRead) -> Result<HttpResponse, ApiError> {
    let items: Vec<_> = builtin::names()
        .filter_map(|name| builtin::by_name(name).map(|m| json!({"name": name, "mapping": *m})))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"items": items})))
}
