//! A preview of an import, writing nothing: fetch the URL under the same limits and SSRF
//! policy as a run, parse and normalize the body with the format or mapping asked for, and
//! count what a run would count against the stored jobs (read-only lookups).
//!
//! Fetched bodies are kept for [`BODY_TTL`] in a [`BodyCache`] (the daemon has one), keyed by
//! URL, User-Agent and size cap, so a mapping editor can refresh its preview after every edit
//! without fetching again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::Failure;
use crate::domain::mapping::Mapping;
use crate::domain::source::{Source, SourceFormat};
use crate::ingest::fetch::{FetchError, FetchRequest, FetchResponse, HttpFetcher};
use crate::ingest::preview::{ParsedPreview, preview};
use crate::ingest::{ParseLimits, ParseOptions};
use crate::store::Store;
use crate::store::mongo::preview::WouldCount;

/// How long a fetched body serves further previews of the same URL.
pub const BODY_TTL: Duration = Duration::from_secs(60);
/// Bodies kept at once; the oldest goes first. Each is at most the fetch cap.
const CACHED_BODIES: usize = 8;

/// What to preview.
#[derive(Debug, Clone, Default)]
pub struct PreviewRequest {
    pub url: String,
    pub format: SourceFormat,
    /// Read when `format` is `custom`.
    pub mapping: Option<Mapping>,
    pub publisher: Option<String>,
    pub user_agent: Option<String>,
    pub max_body_bytes: Option<u64>,
    /// Fetch again even if a body of the same URL is cached.
    pub refetch: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    pub url: String,
    pub final_url: String,
    /// The publisher the jobs would be stored under.
    pub publisher: String,
    pub fetched_at: DateTime<Utc>,
    /// The body came from the preview cache (fetched less than a minute ago).
    pub cached: bool,
    pub body_bytes: usize,
    #[serde(flatten)]
    pub parsed: ParsedPreview,
    /// What a run would count; `None` when the store could not be read.
    pub would: Option<WouldCount>,
}

#[derive(Debug)]
pub enum PreviewError {
    /// The fetch failed (its code and message, as a run would record them).
    Fetch(FetchError),
    /// `format` is `custom` without a mapping.
    NoMapping,
}

struct Cached {
    key: (String, Option<String>, Option<u64>),
    at: Instant,
    fetched_at: DateTime<Utc>,
    body: Arc<Body>,
}

struct Body {
    bytes: Vec<u8>,
    final_url: url::Url,
    charset: Option<String>,
}

/// The bodies of recent previews.
#[derive(Default)]
pub struct BodyCache {
    bodies: Mutex<Vec<Cached>>,
}

type Key = (String, Option<String>, Option<u64>);

impl BodyCache {
    fn cached(&self, key: &Key) -> Option<(Arc<Body>, DateTime<Utc>)> {
        let mut bodies = self.bodies.lock().unwrap_or_else(|e| e.into_inner());
        bodies.retain(|c| c.at.elapsed() < BODY_TTL);
        bodies
            .iter()
            .find(|c| &c.key == key)
            .map(|c| (Arc::clone(&c.body), c.fetched_at))
    }

    fn keep(&self, key: Key, body: Arc<Body>, fetched_at: DateTime<Utc>) {
        let mut bodies = self.bodies.lock().unwrap_or_else(|e| e.into_inner());
        bodies.retain(|c| c.key != key && c.at.elapsed() < BODY_TTL);
        if bodies.len() >= CACHED_BODIES {
            bodies.remove(0);
        }
        bodies.push(Cached {
            key,
            at: Instant::now(),
            fetched_at,
            body,
        });
    }
}

async fn fetch(fetcher: &HttpFetcher, req: &PreviewRequest) -> Result<Body, FetchError> {
    let fetch = FetchRequest {
        url: req.url.clone(),
        user_agent: req.user_agent.clone(),
        max_body_bytes: req.max_body_bytes,
        ..Default::default()
    };
    let mut body = match fetcher.fetch(&fetch).await? {
        FetchResponse::Body(b) => b,
        // No validators were sent, so a 304 is the server's oddity; nothing to read.
        FetchResponse::NotModified => {
            return Err(FetchError::permanent(
                crate::domain::codes::FETCH_NOT_MODIFIED,
                "the server answered 304 to a request without validators",
            ));
        }
    };
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next_chunk().await? {
        bytes.extend_from_slice(&chunk);
    }
    Ok(Body {
        bytes,
        final_url: body.final_url.clone(),
        charset: body.charset.clone(),
    })
}

/// Fetches (or reuses) the body and reads it as a run would. `store` is `None` when the
/// caller has no database (the CLI without MongoDB): then nothing is counted.
pub async fn run(
    cache: &BodyCache,
    fetcher: &HttpFetcher,
    store: Option<&Store>,
    limits: &ParseLimits,
    req: PreviewRequest,
) -> Result<Preview, PreviewError> {
    let mapping = match &req.format {
        SourceFormat::Custom => Some(Arc::new(
            req.mapping.clone().ok_or(PreviewError::NoMapping)?,
        )),
        _ => None,
    };
    let key = (req.url.clone(), req.user_agent.clone(), req.max_body_bytes);
    let hit = if req.refetch {
        None
    } else {
        cache.cached(&key)
    };
    let (body, fetched_at, was_cached) = match hit {
        Some((b, at)) => (b, at, true),
        None => {
            let b = Arc::new(fetch(fetcher, &req).await.map_err(PreviewError::Fetch)?);
            let at = Utc::now();
            cache.keep(key, Arc::clone(&b), at);
            (b, at, false)
        }
    };
    let opts = ParseOptions {
        limits: limits.clone(),
        base_url: Some(body.final_url.clone()),
        header_charset: body.charset.clone(),
        format: req.format.clone(),
        mapping,
    };
    let parse_body = Arc::clone(&body);
    let parsed = tokio::task::spawn_blocking(move || preview(&parse_body.bytes, &opts))
        .await
        .map_err(|e| {
            PreviewError::Fetch(FetchError::permanent(
                crate::domain::codes::INTERNAL,
                format!("the parse stopped: {e}"),
            ))
        })?;
    let publisher = Source::new("", "", req.url.as_str(), "")
        .with_publisher(req.publisher.clone())
        .publisher();
    let would = match store {
        Some(s) => match s.would_count(&publisher, &parsed.identities).await {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "preview could not read the stored jobs");
                None
            }
        },
        None => None,
    };
    Ok(Preview {
        url: req.url,
        final_url: body.final_url.to_string(),
        publisher,
        fetched_at,
        cached: was_cached,
        body_bytes: body.bytes.len(),
        parsed,
        would,
    })
}

impl PreviewError {
    pub fn failure(&self) -> Failure {
        match self {
            PreviewError::Fetch(e) => e.to_failure(),
            PreviewError::NoMapping => {
                Failure::new("validation.mapping", "format `custom` needs a mapping")
            }
        }
    }
}
