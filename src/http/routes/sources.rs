//! `/api/sources`: list, create, edit, delete, and `POST /api/sources/{id}/import` (a manual
//! run; says so when one is already in progress).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::actors::messages::ReloadSources;
use crate::actors::pipeline::Started;
use crate::config::{validate_cron, validate_source_url};
use crate::domain::source::{Source, SourceFormat, slug};
use crate::domain::{Expiry, Trigger, codes};
use crate::http::AppState;
use crate::http::auth::{Admin, CanRead};
use crate::http::error::ApiError;
use crate::http::rate_limit::{self, Action};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SourceInput {
    pub name: Option<String>,
    pub url: Option<String>,
    pub cron: Option<String>,
    pub enabled: Option<bool>,
    pub user_agent: Option<String>,
    pub publisher: Option<String>,
    pub format: Option<SourceFormat>,
    /// How absence from the feed closes jobs: `window`, `complete` or `never`.
    pub expiry: Option<Expiry>,
    /// Never accepted here (only a `[[sources]]` entry of the config file sets it); named so
    /// the refusal can say which field and why, rather than "unknown field".
    pub allow_private_networks: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct SourceView {
    #[serde(flatten)]
    source: Source,
    running: bool,
}

fn check_text(key: &str, v: &str, max: usize) -> Result<(), ApiError> {
    if v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            &codes::validation(key),
            format!("`{key}` must be 1 to {max} printable characters"),
        ));
    }
    Ok(())
}

/// Applies the given fields to `s`, validating each.
fn apply(state: &AppState, s: &mut Source, input: SourceInput) -> Result<(), ApiError> {
    if input.allow_private_networks.is_some() {
        return Err(ApiError::bad_request(
            &codes::validation("allowPrivateNetworks"),
            "`allowPrivateNetworks` can only be set in the config file's [[sources]] entry",
        ));
    }
    if let Some(name) = input.name {
        check_text("name", &name, 100)?;
        s.name = name.trim().to_owned();
    }
    if let Some(url) = input.url {
        let u = validate_source_url(&url)
            .map_err(|m| ApiError::bad_request(&codes::validation("url"), format!("url {m}")))?;
        if !state.settings.fetch.allow_private_networks {
            crate::ingest::ip_policy::check_url(&u, false)
                .map_err(|e| ApiError::bad_request(&codes::validation("url"), e.message))?;
        }
        let url = u.to_string();
        // The config file allowed private networks for the URL it named, not for another.
        if url != s.url {
            s.allow_private_networks = false;
        }
        s.url = url;
    }
    if let Some(cron) = input.cron {
        validate_cron(&cron).map_err(|m| ApiError::bad_request(&codes::validation("cron"), m))?;
        s.cron = cron;
    }
    if let Some(e) = input.enabled {
        s.enabled = e;
    }
    if let Some(ua) = input.user_agent {
        s.user_agent = if ua.is_empty() {
            None
        } else {
            check_text("userAgent", &ua, 300).map(|_| Some(ua))?
        };
    }
    if let Some(p) = input.publisher {
        s.publisher = if p.is_empty() {
            None
        } else {
            check_text("publisher", &p, 200).map(|_| Some(p))?
        };
    }
    if let Some(f) = input.format {
        s.format = f;
    }
    if let Some(e) = input.expiry {
        s.expiry = e;
    }
    Ok(())
}

/// This daemon's scheduler re-reads the sources now; the others hear it through Redis.
async fn reload(state: &AppState) {
    if let Some(s) = &state.scheduler {
        s.do_send(ReloadSources);
    }
    state.pipeline.sources_changed().await;
}

#[get("/api/sources")]
pub async fn list(_: CanRead, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let sources = state.store.list_sources().await?;
    let mut items = Vec::with_capacity(sources.len());
    for source in sources {
        let running = state
            .pipeline
            .runs
            .running_holder(&source.id)
            .await?
            .is_some();
        items.push(SourceView { source, running });
    }
    Ok(HttpResponse::Ok().json(json!({"items": items})))
}

#[get("/api/sources/{id}")]
pub async fn show(
    _: CanRead,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let Some(source) = state.store.get_source(&id).await? else {
        return Err(ApiError::not_found(format!("no source `{id}`")));
    };
    let running = state
        .pipeline
        .runs
        .running_holder(&source.id)
        .await?
        .is_some();
    Ok(HttpResponse::Ok().json(SourceView { source, running }))
}

#[post("/api/sources")]
pub async fn create(
    _: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<SourceInput>,
) -> Result<HttpResponse, ApiError> {
    rate_limit::check(&state, &req, Action::CreateSource).await?;
    let input = body.into_inner();
    if input.name.is_none() {
        return Err(ApiError::bad_request(
            &codes::validation("name"),
            "`name` is required",
        ));
    }
    if input.url.is_none() {
        return Err(ApiError::bad_request(
            &codes::validation("url"),
            "`url` is required",
        ));
    }
    let mut s = Source::new("", "", "", state.settings.scheduler.default_cron.clone());
    apply(&state, &mut s, input)?;
    s.id = slug(&s.name);
    if s.id.is_empty() {
        return Err(ApiError::bad_request(
            &codes::validation("name"),
            "`name` needs at least one letter or digit",
        ));
    }
    state.store.insert_source(&s).await?;
    reload(&state).await;
    Ok(HttpResponse::Created().json(SourceView {
        source: s,
        running: false,
    }))
}

#[patch("/api/sources/{id}")]
pub async fn update(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<SourceInput>,
) -> Result<HttpResponse, ApiError> {
    let Some(mut s) = state.store.get_source(&id).await? else {
        return Err(ApiError::not_found(format!("no source `{id}`")));
    };
    apply(&state, &mut s, body.into_inner())?;
    let updated = state
        .store
        .update_source(&s)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no source `{id}`")))?;
    reload(&state).await;
    Ok(HttpResponse::Ok().json(SourceView {
        source: updated,
        running: false,
    }))
}

/// What happens to the jobs only a removed source carried.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobsOnRemove {
    /// Closed (reason `source_removed`).
    #[default]
    Close,
    /// Kept open.
    Keep,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveQuery {
    pub jobs: Option<JobsOnRemove>,
}

#[delete("/api/sources/{id}")]
pub async fn remove(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<RemoveQuery>,
) -> Result<HttpResponse, ApiError> {
    let close = query.jobs.unwrap_or_default() == JobsOnRemove::Close;
    if !state.store.remove_source(&id, close).await? {
        return Err(ApiError::not_found(format!("no source `{id}`")));
    }
    reload(&state).await;
    Ok(HttpResponse::NoContent().finish())
}

#[post("/api/sources/{id}/import")]
pub async fn import(
    _: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    rate_limit::check(&state, &req, Action::Trigger).await?;
    let Some(source) = state.store.get_source(&id).await? else {
        return Err(ApiError::not_found(format!("no source `{id}`")));
    };
    match state.pipeline.start_run(&source, Trigger::Manual).await? {
        Started::Run(run) => Ok(HttpResponse::Accepted().json(json!({"run": run}))),
        Started::AlreadyRunning(run_id) => Err(ApiError::new(
            StatusCode::CONFLICT,
            crate::domain::codes::RUN_ALREADY_RUNNING,
            match run_id {
                Some(r) => format!("source `{id}` is already importing (run {r})"),
                None => format!("source `{id}` is already importing"),
            },
        )),
    }
}
