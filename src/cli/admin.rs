//! `job-importer runs list|show` and `job-importer sources list|show|add|edit|remove|import`: the same
//! store and rules as the API, for terminals and scripts (`--json` prints documents as stored).

use std::sync::Arc;

use clap::Subcommand;
use serde_json::json;

use crate::actors::manual::{self, Replay};
use crate::actors::pipeline::{RunOptions, Started};
use crate::config::{Settings, validate_cron, validate_source_url};
use crate::domain::audit::{Actor, AuditAction, AuditEntry, diff};
use crate::domain::source::{Source, slug};
use crate::domain::{Expiry, ImportRun, RunStatus, Trigger};
use crate::store::mongo::history::{RunQuery, RunSort};
use crate::store::mongo::runs::RunFilter;

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// The latest runs, newest first.
    List {
        #[arg(long)]
        source: Option<String>,
        /// queued, running, completed, partial, failed or not_modified.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u64,
        /// Runs that failed with this code or had items fail with it (e.g. `fetch.timeout`).
        #[arg(long)]
        failure_code: Option<String>,
        /// Text in the run's error message or its item failures' messages (literal).
        #[arg(long)]
        error: Option<String>,
    },
    /// One run with its failures.
    Show { id: String },
    /// Run the source of a run again now, fetching without cache validators.
    Replay { id: String },
}

#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    List,
    /// Add a source (its id is the slug of its name).
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        url: String,
        /// Six fields (sec min hour day month weekday); default: scheduler.default_cron.
        #[arg(long)]
        cron: Option<String>,
        /// How absence from the feed closes jobs: window (default), complete or never.
        #[arg(long, value_parser = parse_expiry)]
        expiry: Option<Expiry>,
        /// Check the posting links of jobs that left the feed's window (true or false).
        #[arg(long)]
        link_check: Option<bool>,
        /// The query parameter that numbers the feed's pages for a backfill (empty: found
        /// from the feed, e.g. `paged` for WordPress).
        #[arg(long, value_parser = parse_page_param)]
        page_param: Option<PageParam>,
    },
    /// One source: its settings, health and the window its last complete run covered.
    Show {
        id: String,
    },
    /// Change a source's settings.
    Edit {
        id: String,
        /// How absence from the feed closes jobs: window, complete or never.
        #[arg(long, value_parser = parse_expiry)]
        expiry: Option<Expiry>,
        /// Check the posting links of jobs that left the feed's window (true or false).
        #[arg(long)]
        link_check: Option<bool>,
        /// The query parameter that numbers the feed's pages for a backfill (empty: found
        /// from the feed, e.g. `paged` for WordPress).
        #[arg(long, value_parser = parse_page_param)]
        page_param: Option<PageParam>,
    },
    /// Remove a source; the open jobs only it carried are closed unless `--keep-jobs`.
    Remove {
        id: String,
        #[arg(long)]
        keep_jobs: bool,
    },
    /// Queue a backfill: one run that walks the feed's pages (`paged=N` for WordPress, or
    /// the source's page parameter) until an empty page, a page with nothing new, the cap
    /// or an error. It never closes jobs.
    Backfill {
        id: String,
        /// Pages read at most (default and maximum: pipeline.backfill_max_pages).
        #[arg(long)]
        pages: Option<u32>,
    },
    /// Queue a run now (of one source, or with `--all` of every enabled source); a running
    /// daemon's workers carry it out. A source already importing is not queued twice.
    Import {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every enabled source.
        #[arg(long)]
        all: bool,
        /// Fetch without the cache validators: read and import the whole feed even when it
        /// did not change.
        #[arg(long)]
        unconditional: bool,
    },
}

fn parse_expiry(s: &str) -> Result<Expiry, String> {
    Expiry::parse(s).ok_or_else(|| format!("`{s}` is not one of window, complete, never"))
}

/// `--page-param`: a parameter name, or empty to find it from the feed again.
#[derive(Debug, Clone)]
pub struct PageParam(Option<String>);

fn parse_page_param(s: &str) -> Result<PageParam, String> {
    crate::domain::source::parse_page_param(s)
        .map(PageParam)
        .map_err(str::to_owned)
}

/// How a backfill of the source numbers pages.
fn page_param_line(s: &Source) -> String {
    s.page_param.as_deref().map_or_else(
        || "found from the feed (`paged` for WordPress)".to_owned(),
        |p| format!("`{p}`"),
    )
}

/// What a source's last complete run covered, in one line.
fn window_line(s: &Source) -> String {
    let Some(w) = &s.last_window else {
        return "no complete run yet".into();
    };
    let day = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(
            || "-".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M").to_string(),
        )
    };
    format!("{} items, {} .. {}", w.items, day(w.oldest), day(w.newest))
}

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Build the index of stored jobs in Redis again from MongoDB, and make it current (after
    /// restoring MongoDB from a backup, or moving the deployment to another Redis).
    Rebuild,
}

/// Runs an `index` command and returns what to print.
pub async fn index(settings: Settings, cmd: IndexCommand, as_json: bool) -> anyhow::Result<String> {
    let p = crate::app::connect(Arc::new(settings)).await?;
    match cmd {
        IndexCommand::Rebuild => {
            let n = p.store.rebuild_index().await?;
            Ok(if as_json {
                json!({"indexed": n}).to_string()
            } else {
                format!("indexed {n} jobs")
            })
        }
    }
}

fn run_line(r: &ImportRun) -> String {
    format!(
        "{}  {:<12} {:<24} {}  fetched {} new {} updated {} failed {}",
        r.id,
        r.status.as_str(),
        r.source_id,
        crate::domain::time::format(&r.import_date_time),
        r.total_fetched,
        r.new_jobs,
        r.updated_jobs,
        r.failed_jobs
    )
}

fn pretty<T: serde::Serialize>(v: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(v)?)
}

/// Runs a `runs` command and returns what to print.
pub async fn runs(settings: Settings, cmd: RunsCommand, as_json: bool) -> anyhow::Result<String> {
    let p = crate::app::connect(Arc::new(settings)).await?;
    match cmd {
        RunsCommand::List {
            source,
            status,
            limit,
            failure_code,
            error,
        } => {
            let status = match status.as_deref() {
                Some(s) => Some(
                    RunStatus::parse(s).ok_or_else(|| anyhow::anyhow!("unknown status `{s}`"))?,
                ),
                None => None,
            };
            let q = RunQuery {
                filter: RunFilter {
                    source_id: source,
                    status,
                    from: None,
                    to: None,
                    failure_code,
                    error_text: error,
                },
                sort: RunSort::Date,
                page: 1,
                limit: limit.clamp(1, 1000),
                cursor: None,
            };
            let page = p.store.query_runs(&q).await?;
            if as_json {
                return pretty(&page);
            }
            let mut out: Vec<String> = page.page.items.iter().map(run_line).collect();
            out.push(format!(
                "({} of {} runs)",
                page.page.items.len(),
                page.page.total
            ));
            Ok(out.join("\n"))
        }
        RunsCommand::Show { id } => {
            let mut run = p
                .store
                .get_run(&id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no import run `{id}`"))?;
            run.batches.clear();
            if as_json {
                return pretty(&run);
            }
            let mut out = vec![run_line(&run)];
            if let Some(e) = &run.error {
                out.push(format!("error: {}: {}", e.code, e.message));
            }
            for c in &run.failures_by_code {
                out.push(format!("  {:>6}  {}", c.count, c.code));
            }
            for f in run.failures.iter().take(20) {
                let item = f.external_id.as_deref().unwrap_or("-");
                out.push(format!("  {} {item}: {}", f.code, f.message));
            }
            Ok(out.join("\n"))
        }
        RunsCommand::Replay { id } => match manual::replay(&p, &id, Trigger::Cli).await? {
            Replay::Started(run) if as_json => pretty(&json!({"run": run})),
            Replay::Started(run) => Ok(format!("queued run {} of {}", run.id, run.source_id)),
            Replay::AlreadyRunning(source, r) => anyhow::bail!(
                "source `{source}` is already importing (run {})",
                r.unwrap_or_default()
            ),
            Replay::NoSuchRun => anyhow::bail!("no import run `{id}`"),
            Replay::NoSuchSource(s) => {
                anyhow::bail!("the source `{s}` of run `{id}` no longer exists")
            }
        },
    }
}

/// Records a change made from the command line in the audit log (a failure is only logged).
async fn cli_audit(
    p: &crate::actors::pipeline::Pipeline,
    action: AuditAction,
    fill: impl FnOnce(&mut AuditEntry),
) {
    let mut e = AuditEntry::new(
        uuid::Uuid::now_v7().to_string(),
        chrono::Utc::now(),
        Actor::Cli,
        action,
    );
    fill(&mut e);
    if let Err(err) = p.store.record_audit(&e).await {
        tracing::warn!(error = %err, "could not record an audit entry");
    }
}

/// Runs a `sources` command and returns what to print.
pub async fn sources(
    settings: Settings,
    cmd: SourcesCommand,
    as_json: bool,
) -> anyhow::Result<String> {
    let default_cron = settings.scheduler.default_cron.clone();
    let allow_private = settings.fetch.allow_private_networks;
    let p = crate::app::connect(Arc::new(settings)).await?;
    match cmd {
        SourcesCommand::List => {
            let list = p.store.list_sources().await?;
            if as_json {
                return pretty(&json!({"items": list}));
            }
            Ok(list
                .iter()
                .map(|s| {
                    let state = if s.enabled { "enabled" } else { "disabled" };
                    let last = s.health.last_status.as_deref().unwrap_or("never run");
                    format!(
                        "{:<24} {state:<8} {:<14} {last:<12} {:<8} {}",
                        s.id,
                        s.cron,
                        s.expiry.as_str(),
                        s.url
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"))
        }
        SourcesCommand::Show { id } => {
            let s = p
                .store
                .get_source(&id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no source `{id}`"))?;
            if as_json {
                return pretty(&s);
            }
            let last = s.health.last_status.as_deref().unwrap_or("never run");
            Ok([
                format!("id:       {}", s.id),
                format!("name:     {}", s.name),
                format!("url:      {}", s.url),
                format!("cron:     {}", s.cron),
                format!("enabled:  {}", s.enabled),
                format!("expiry:   {}", s.expiry.as_str()),
                format!(
                    "links:    {}",
                    if s.link_check {
                        "checked"
                    } else {
                        "not checked"
                    }
                ),
                format!("pages by: {}", page_param_line(&s)),
                format!("window:   {}", window_line(&s)),
                format!("last run: {last}"),
            ]
            .join("\n"))
        }
        SourcesCommand::Edit {
            id,
            expiry,
            link_check,
            page_param,
        } => {
            let before = p
                .store
                .get_source(&id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no source `{id}`"))?;
            let mut s = before.clone();
            if let Some(e) = expiry {
                s.expiry = e;
            }
            if let Some(c) = link_check {
                s.link_check = c;
            }
            if let Some(PageParam(param)) = page_param {
                s.page_param = param;
            }
            let s = p
                .store
                .update_source(&s)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no source `{id}`"))?;
            p.sources_changed().await;
            let changes = diff(
                &serde_json::to_value(&before)?,
                &serde_json::to_value(&s)?,
                &["health", "etag", "lastModified", "lastWindow"],
            );
            if !changes.is_empty() {
                cli_audit(&p, AuditAction::SourceUpdated, |e| {
                    e.source_id = Some(s.id.clone());
                    e.changes = changes;
                })
                .await;
            }
            if as_json {
                pretty(&s)
            } else {
                Ok(format!(
                    "updated {} (expiry {}, link check {}, pages by {})",
                    s.id,
                    s.expiry.as_str(),
                    if s.link_check { "on" } else { "off" },
                    page_param_line(&s)
                ))
            }
        }
        SourcesCommand::Add {
            name,
            url,
            cron,
            expiry,
            link_check,
            page_param,
        } => {
            let u = validate_source_url(&url).map_err(|m| anyhow::anyhow!("url {m}"))?;
            if !allow_private {
                crate::ingest::ip_policy::check_url(&u, false)
                    .map_err(|e| anyhow::anyhow!("url: {}", e.message))?;
            }
            let cron = cron.unwrap_or(default_cron);
            validate_cron(&cron).map_err(|m| anyhow::anyhow!("cron: {m}"))?;
            let id = slug(&name);
            anyhow::ensure!(!id.is_empty(), "the name needs a letter or digit");
            let s = Source::new(id, name.trim(), u.to_string(), cron)
                .with_expiry(expiry.unwrap_or_default())
                .with_link_check(link_check.unwrap_or(false))
                .with_page_param(page_param.and_then(|PageParam(p)| p));
            p.store.insert_source(&s).await?;
            p.sources_changed().await;
            let blank = Source::new(s.id.clone(), "", "", "");
            let changes = diff(
                &serde_json::to_value(&blank)?,
                &serde_json::to_value(&s)?,
                &["health", "etag", "lastModified"],
            );
            cli_audit(&p, AuditAction::SourceCreated, |e| {
                e.source_id = Some(s.id.clone());
                e.changes = changes;
            })
            .await;
            if as_json {
                pretty(&s)
            } else {
                Ok(format!("added {}", s.id))
            }
        }
        SourcesCommand::Remove { id, keep_jobs } => {
            anyhow::ensure!(
                p.store.remove_source(&id, !keep_jobs).await?,
                "no source `{id}`"
            );
            p.sources_changed().await;
            cli_audit(&p, AuditAction::SourceRemoved, |e| {
                e.source_id = Some(id.clone());
                e.detail = Some(if keep_jobs { "jobs=keep" } else { "jobs=close" }.into());
            })
            .await;
            Ok(if as_json {
                json!({"removed": id}).to_string()
            } else {
                format!("removed {id}")
            })
        }
        SourcesCommand::Backfill { id, pages } => {
            let max = p.settings.pipeline.backfill_max_pages;
            let pages = pages.unwrap_or(max);
            anyhow::ensure!(
                (1..=max).contains(&pages),
                "--pages must be between 1 and {max} (pipeline.backfill_max_pages)"
            );
            let source = p
                .store
                .get_source(&id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no source `{id}`"))?;
            let options = RunOptions {
                backfill_pages: Some(pages),
                ..Default::default()
            };
            match p.start_run_with(&source, Trigger::Cli, options).await? {
                Started::Run(run) if as_json => {
                    pretty(&json!({"run": run, "paused": p.pause.is_paused()}))
                }
                Started::Run(run) => Ok(format!(
                    "queued backfill run {} of {id} (at most {pages} pages){}",
                    run.id,
                    paused_note(&p)
                )),
                Started::AlreadyRunning(r) => anyhow::bail!(
                    "source `{id}` is already importing (run {})",
                    r.unwrap_or_default()
                ),
            }
        }
        SourcesCommand::Import {
            all: true,
            unconditional,
            ..
        } => {
            let report = manual::start_all_enabled(&p, Trigger::Cli, unconditional).await?;
            if as_json {
                let mut v = serde_json::to_value(&report)?;
                v["paused"] = json!(p.pause.is_paused());
                return pretty(&v);
            }
            let mut out: Vec<String> = report
                .started
                .iter()
                .map(|s| format!("queued run {} of {}", s.run.id, s.source_id))
                .collect();
            out.extend(report.already_running.iter().map(|a| {
                format!(
                    "{} is already importing (run {})",
                    a.source_id,
                    a.run_id.as_deref().unwrap_or("?")
                )
            }));
            out.extend(
                report
                    .failed
                    .iter()
                    .map(|f| format!("{}: not started ({})", f.source_id, f.code)),
            );
            anyhow::ensure!(
                report.failed.is_empty(),
                "{}\nsome runs could not be started",
                out.join("\n")
            );
            Ok(format!("{}{}", out.join("\n"), paused_note(&p)))
        }
        SourcesCommand::Import {
            id, unconditional, ..
        } => {
            let id = id.unwrap_or_default();
            let source = p
                .store
                .get_source(&id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no source `{id}`"))?;
            let options = RunOptions {
                unconditional,
                replay_of: None,
                ..Default::default()
            };
            match p.start_run_with(&source, Trigger::Cli, options).await? {
                Started::Run(run) if as_json => {
                    pretty(&json!({"run": run, "paused": p.pause.is_paused()}))
                }
                Started::Run(run) => {
                    Ok(format!("queued run {} of {id}{}", run.id, paused_note(&p)))
                }
                Started::AlreadyRunning(r) => anyhow::bail!(
                    "source `{id}` is already importing (run {})",
                    r.unwrap_or_default()
                ),
            }
        }
    }
}

/// What a command that queued runs adds while the deployment is paused: the runs wait for
/// the resume (as `POST /api/sources/{id}/import` says with `"paused": true`).
fn paused_note(p: &crate::actors::pipeline::Pipeline) -> String {
    let m = p.pause.state();
    if m.paused {
        format!(
            "\nthe deployment is {}; queued runs start when it is resumed (job-importer resume)",
            maintenance_line(&m)
        )
    } else {
        String::new()
    }
}

/// How a pause state reads in a terminal.
pub(crate) fn maintenance_line(m: &crate::domain::maintenance::Maintenance) -> String {
    use crate::domain::time::format;
    let who = |a: Option<Actor>| a.map_or("-".to_owned(), |a| format!("{a:?}").to_lowercase());
    if m.paused {
        format!(
            "paused since {} by {}{}",
            m.paused_at.as_ref().map(format).unwrap_or_default(),
            who(m.paused_by),
            m.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )
    } else {
        match &m.resumed_at {
            Some(at) => format!("running (resumed {} by {})", format(at), who(m.resumed_by)),
            None => "running".to_owned(),
        }
    }
}

/// `job-importer pause [--reason R]`: pauses every daemon's scheduler, queue workers and
/// sweeps (the same rules as `POST /api/maintenance/pause`), recorded in the audit log.
pub async fn pause(
    settings: Settings,
    reason: Option<String>,
    as_json: bool,
) -> anyhow::Result<String> {
    let reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if let Some(r) = &reason {
        let max = crate::domain::maintenance::MAX_REASON_CHARS;
        if r.chars().count() > max || r.chars().any(char::is_control) {
            anyhow::bail!("--reason must be at most {max} printable characters");
        }
    }
    let p = crate::app::connect(Arc::new(settings)).await?;
    let done = crate::actors::pause::pause(&p, Actor::Cli, reason).await?;
    if done.changed {
        cli_audit(&p, AuditAction::MaintenancePaused, |e| {
            e.detail = done.state.reason.clone();
        })
        .await;
    }
    if as_json {
        return pretty(&done.state);
    }
    let note = if done.changed { "" } else { " (already)" };
    Ok(format!("{}{note}", maintenance_line(&done.state)))
}

/// `job-importer resume`: ends a pause (as `POST /api/maintenance/resume`).
pub async fn resume(settings: Settings, as_json: bool) -> anyhow::Result<String> {
    let p = crate::app::connect(Arc::new(settings)).await?;
    let done = crate::actors::pause::resume(&p, Actor::Cli).await?;
    if done.changed {
        cli_audit(&p, AuditAction::MaintenanceResumed, |_| {}).await;
    }
    if as_json {
        return pretty(&done.state);
    }
    let note = if done.changed {
        ""
    } else {
        " (was not paused)"
    };
    Ok(format!("{}{note}", maintenance_line(&done.state)))
}
