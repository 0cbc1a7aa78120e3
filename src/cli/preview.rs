//! `job-importer preview URL [--mapping FILE] [--json]`: what an import of the URL would give,
//! writing nothing. The counts against stored jobs need MongoDB; without it they are left out.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::actors::preview::{BodyCache, Preview, PreviewError, PreviewRequest};
use crate::config::{Settings, validate_source_url};
use crate::domain::mapping::{Mapping, describe};
use crate::domain::source::SourceFormat;
use crate::ingest::fetch::HttpFetcher;
use crate::store::Store;

/// Reads a mapping file (JSON), checked as the API checks it.
pub fn read_mapping(path: &Path) -> anyhow::Result<Mapping> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    Mapping::parse(&value).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), describe(&e)))
}

pub async fn preview(
    settings: Settings,
    url: String,
    mapping: Option<&Path>,
    format: Option<String>,
    json: bool,
) -> anyhow::Result<String> {
    let u = validate_source_url(&url).map_err(|m| anyhow::anyhow!("URL {m}"))?;
    let mapping = mapping.map(read_mapping).transpose()?;
    let format = match (format.as_deref(), &mapping) {
        (_, Some(_)) => SourceFormat::Custom,
        (None | Some("auto"), None) => SourceFormat::Auto,
        (Some(name), None) => SourceFormat::JsonApi(name.to_owned()),
    };
    let fetcher =
        HttpFetcher::new(&settings.fetch).map_err(|e| anyhow::anyhow!("fetch settings: {e}"))?;
    let m = &settings.mongodb;
    // Only read: no indexes are made, nothing is written.
    let store = Store::connect(
        m.uri.expose(),
        &m.database,
        Duration::from_millis(m.server_selection_timeout_ms),
    )
    .await
    .ok();
    let req = PreviewRequest {
        url: u.to_string(),
        format,
        mapping,
        ..Default::default()
    };
    let cache = BodyCache::default();
    let p = crate::actors::preview::run(&cache, &fetcher, store.as_ref(), &settings.parse, req)
        .await
        .map_err(|e| match e {
            PreviewError::Fetch(f) => anyhow::anyhow!("{}: {}", f.code, f.message),
            other => anyhow::anyhow!("{}", other.failure().message),
        })?;
    if json {
        return Ok(serde_json::to_string_pretty(&p)?);
    }
    Ok(text(&p))
}

/// The preview for a terminal: counts, coverage, failures, then the jobs one per line.
fn text(p: &Preview) -> String {
    let mut out = String::new();
    let parsed = &p.parsed;
    let format = parsed
        .format
        .and_then(|f| serde_json::to_value(f).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    out.push_str(&format!(
        "{} ({format}, {} bytes, publisher {}): {} items, {} failures\n",
        p.final_url, p.body_bytes, p.publisher, parsed.items, parsed.failure_count
    ));
    if let Some(e) = &parsed.error {
        out.push_str(&format!("error {}: {}\n", e.code, e.message));
    }
    match &p.would {
        Some(w) => out.push_str(&format!(
            "a run would count: new {}, updated {}, unchanged {}, reopened {}\n",
            w.new, w.updated, w.unchanged, w.reopened
        )),
        None => out.push_str("a run would count: unknown (MongoDB not reachable)\n"),
    }
    let jobs = p.parsed.items.saturating_sub(parsed.failure_count).max(1);
    out.push_str("coverage:");
    for (field, n) in &parsed.coverage {
        out.push_str(&format!(" {field} {}%", n * 100 / jobs));
    }
    out.push('\n');
    for f in &parsed.failures {
        out.push_str(&format!(
            "failure {} {}: {}\n",
            f.code,
            f.external_id.as_deref().unwrap_or("-"),
            f.message
        ));
    }
    for j in &parsed.jobs {
        out.push_str(&format!(
            "job {} | {} | {} | {}\n",
            j.external_id,
            j.title,
            j.company.as_deref().unwrap_or("-"),
            j.url.as_deref().unwrap_or("-")
        ));
    }
    out.trim_end().to_owned()
}
