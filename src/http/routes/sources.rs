//! `/api/sources`: list, create, edit, delete, and `POST /api/sources/{id}/import` (a manual
//! run; says so when one is already in progress).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::actors::manual::{self, Replay};
use crate::actors::messages::ReloadSources;
use crate::actors::pipeline::{RunOptions, Started};
use crate::config::{validate_cron, validate_source_url};
use crate::domain::audit::{AuditAction, FieldChange, diff};
use crate::domain::source::{Source, SourceFormat, slug};
use crate::domain::{Expiry, Trigger, codes};
use crate::http::AppState;
use crate::http::auth::{Admin, CanRead};
use crate::http::error::ApiError;
use crate::http::rate_limit::{self, Action};
use crate::http::routes::{audit, source_format};
use crate::http::validate;

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
    /// The source's own mapping, read when `format` is `custom` (checked when saved).
    pub mapping: Option<serde_json::Value>,
    /// Overrides `fetch.maxBodyBytes` for this source; 0 goes back to the default.
    pub max_body_bytes: Option<u64>,
    /// How absence from the feed closes jobs: `window`, `complete` or `never`.
    pub expiry: Option<Expiry>,
    /// Check the posting URLs of jobs that left the feed's window (`link_gone` on 404/410).
    pub link_check: Option<bool>,
    /// The query parameter that numbers the feed's pages for a backfill; `""` unsets it.
    pub page_param: Option<String>,
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
    source_format::apply(s, input.format, input.mapping, input.max_body_bytes)?;
    if let Some(e) = input.expiry {
        s.expiry = e;
    }
    if let Some(c) = input.link_check {
        s.link_check = c;
    }
    if let Some(param) = input.page_param {
        s.page_param = crate::domain::source::parse_page_param(&param).map_err(|rule| {
            ApiError::bad_request(
                &codes::validation("pageParam"),
                format!("`pageParam` is {rule}"),
            )
        })?;
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

/// What an edit of a source changed, for the audit log: the fields a person sets, not the
/// bookkeeping (health, validators) that runs keep up to date.
fn source_changes(before: &Source, after: &Source) -> Vec<FieldChange> {
    let json = |s: &Source| serde_json::to_value(s).unwrap_or_default();
    diff(
        &json(before),
        &json(after),
        &["health", "etag", "lastModified"],
    )
}

#[post("/api/sources")]
pub async fn create(
    Admin(actor): Admin,
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
    let blank = Source::new(s.id.clone(), "", "", "");
    audit::record(&state, actor, AuditAction::SourceCreated, |e| {
        e.source_id = Some(s.id.clone());
        e.changes = source_changes(&blank, &s);
    })
    .await;
    Ok(HttpResponse::Created().json(SourceView {
        source: s,
        running: false,
    }))
}

#[patch("/api/sources/{id}")]
pub async fn update(
    Admin(actor): Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<source_format::ConfirmQuery>,
    body: web::Json<SourceInput>,
) -> Result<HttpResponse, ApiError> {
    let Some(mut s) = state.store.get_source(&id).await? else {
        return Err(ApiError::not_found(format!("no source `{id}`")));
    };
    let before = s.clone();
    apply(&state, &mut s, body.into_inner())?;
    source_format::check_publisher(&state, &before, &s, query.publisher()).await?;
    // A new URL, format, mapping or publisher drops the validators (`Store::update_source`).
    let updated = state
        .store
        .update_source(&s)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no source `{id}`")))?;
    reload(&state).await;
    let changes = source_changes(&before, &updated);
    if !changes.is_empty() {
        audit::record(&state, actor, AuditAction::SourceUpdated, |e| {
            e.source_id = Some(updated.id.clone());
            e.changes = changes;
        })
        .await;
    }
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
    Admin(actor): Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<RemoveQuery>,
) -> Result<HttpResponse, ApiError> {
    let close = query.jobs.unwrap_or_default() == JobsOnRemove::Close;
    let before = state.store.get_source(&id).await?;
    if !state.store.remove_source(&id, close).await? {
        return Err(ApiError::not_found(format!("no source `{id}`")));
    }
    reload(&state).await;
    audit::record(&state, actor, AuditAction::SourceRemoved, |e| {
        e.source_id = Some(id.to_string());
        if let Some(b) = &before {
            e.changes = source_changes(b, &Source::new(b.id.clone(), "", "", ""));
        }
        e.detail = Some(if close { "jobs=close" } else { "jobs=keep" }.into());
    })
    .await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// Fetch without the source's cache validators: the whole feed is read and imported even
    /// when it did not change.
    pub unconditional: Option<bool>,
}

#[post("/api/sources/{id}/import")]
pub async fn import(
    Admin(actor): Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ImportQuery>,
) -> Result<HttpResponse, ApiError> {
    let options = RunOptions {
        unconditional: query.unconditional.unwrap_or(false),
        ..Default::default()
    };
    let detail = options.unconditional.then(|| "unconditional".to_owned());
    start_manual(&state, &req, actor, &id, options, detail).await
}

/// A manual run of source `id` (an import or a backfill): rate-limited, started under the
/// running-lease rules, and audited when it starts.
async fn start_manual(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    actor: crate::domain::audit::Actor,
    id: &str,
    options: RunOptions,
    detail: Option<String>,
) -> Result<HttpResponse, ApiError> {
    rate_limit::check(state, req, Action::Trigger).await?;
    let Some(source) = state.store.get_source(id).await? else {
        return Err(ApiError::not_found(format!("no source `{id}`")));
    };
    let started = state
        .pipeline
        .start_run_with(&source, Trigger::Manual, options)
        .await?;
    if let Started::Run(run) = &started {
        audit::record(state, actor, AuditAction::ImportStarted, |e| {
            e.source_id = Some(source.id.clone());
            e.run_id = Some(run.id.clone());
            e.detail = detail;
        })
        .await;
    }
    accepted(id, started, state.pipeline.pause.is_paused())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillQuery {
    /// Pages read at most (1 to `pipeline.backfill_max_pages`, which is the default).
    pub pages: Option<u32>,
}

/// A backfill: one run that walks the feed's pages (see `actors::feed_fetcher::backfill`).
/// Rate-limited and leased like any manual run.
#[post("/api/sources/{id}/backfill")]
pub async fn backfill(
    Admin(actor): Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<BackfillQuery>,
) -> Result<HttpResponse, ApiError> {
    let max = state.settings.pipeline.backfill_max_pages;
    let pages = query.pages.unwrap_or(max);
    if !(1..=max).contains(&pages) {
        return Err(ApiError::bad_request(
            &codes::validation("pages"),
            format!("`pages` must be between 1 and {max} (pipeline.backfill_max_pages)"),
        ));
    }
    let options = RunOptions {
        backfill_pages: Some(pages),
        ..Default::default()
    };
    let detail = Some(format!("backfill, at most {pages} pages"));
    start_manual(&state, &req, actor, &id, options, detail).await
}

/// `202 {"run", "paused"}` for a run queued now, `409 run.already_running` when one is in
/// progress. A run queued while the deployment is paused (`paused: true`) waits in the queue
/// and starts once it is resumed.
pub fn accepted(source_id: &str, started: Started, paused: bool) -> Result<HttpResponse, ApiError> {
    match started {
        Started::Run(run) => {
            Ok(HttpResponse::Accepted().json(json!({"run": run, "paused": paused})))
        }
        Started::AlreadyRunning(run_id) => Err(already_running(source_id, run_id)),
    }
}

fn already_running(id: &str, run_id: Option<String>) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        crate::domain::codes::RUN_ALREADY_RUNNING,
        match run_id {
            Some(r) => format!("source `{id}` is already importing (run {r})"),
            None => format!("source `{id}` is already importing"),
        },
    )
}

/// One run of every enabled source; one manual action for the rate limit. A source already
/// importing is listed under `alreadyRunning`, not queued twice.
#[post("/api/sources/import-all")]
pub async fn import_all(
    Admin(actor): Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ImportQuery>,
) -> Result<HttpResponse, ApiError> {
    rate_limit::check(&state, &req, Action::Trigger).await?;
    let unconditional = query.unconditional.unwrap_or(false);
    let report = manual::start_all_enabled(&state.pipeline, Trigger::Manual, unconditional).await?;
    audit::record(&state, actor, AuditAction::ImportAllStarted, |e| {
        let started: Vec<&str> = report
            .started
            .iter()
            .map(|s| s.source_id.as_str())
            .collect();
        e.detail = Some(format!(
            "started: {}; already running: {}{}",
            started.join(", "),
            report.already_running.len(),
            if unconditional { "; unconditional" } else { "" }
        ));
    })
    .await;
    let mut body = serde_json::to_value(&report).unwrap_or_default();
    body["paused"] = state.pipeline.pause.is_paused().into();
    Ok(HttpResponse::Accepted().json(body))
}

/// Runs the source of a run again now, fetching without validators (`replayOf` names the
/// run on the new one).
#[post("/api/import-logs/{id}/replay")]
pub async fn replay(
    Admin(actor): Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !validate::id_ok(&id) {
        return Err(ApiError::bad_request(
            &codes::validation("id"),
            "not a run id",
        ));
    }
    rate_limit::check(&state, &req, Action::Trigger).await?;
    match manual::replay(&state.pipeline, &id, Trigger::Manual).await? {
        Replay::Started(run) => {
            audit::record(&state, actor, AuditAction::RunReplayed, |e| {
                e.source_id = Some(run.source_id.clone());
                e.run_id = Some(run.id.clone());
                e.detail = Some(format!("replay of run {id}"));
            })
            .await;
            let paused = state.pipeline.pause.is_paused();
            Ok(HttpResponse::Accepted().json(json!({"run": run, "paused": paused})))
        }
        Replay::AlreadyRunning(source_id, run_id) => Err(already_running(&source_id, run_id)),
        Replay::NoSuchRun => Err(ApiError::not_found(format!("no import run `{id}`"))),
        Replay::NoSuchSource(s) => Err(ApiError::not_found(format!(
            "the source `{s}` of run `{id}` no longer exists"
        ))),
    }
}
