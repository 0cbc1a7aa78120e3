//! The parts of a source edit about how its feed is read and whose jobs it holds: format,
//! mapping, size cap and publisher. A new format or mapping drops the cache validators, so the
//! next run reads the whole body and updates every job whose normalized content changed (the
//! content hash is computed after normalization); a new publisher changes every job's
//! identity, so it needs `?confirm=publisher` once the source has jobs.

use actix_web::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use crate::config::validate_source_url;
use crate::domain::codes;
use crate::domain::mapping::{Mapping, describe};
use crate::domain::source::{Source, SourceFormat};
use crate::http::AppState;
use crate::http::error::ApiError;

/// The smallest and largest per-source body cap the API accepts.
pub const MIN_BODY_CAP: u64 = 1024;
pub const MAX_BODY_CAP: u64 = 1024 * 1024 * 1024;

/// `?confirm=publisher` on `PATCH /api/sources/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmQuery {
    pub confirm: Option<String>,
}

impl ConfirmQuery {
    pub fn publisher(&self) -> bool {
        self.confirm
            .as_deref()
            .is_some_and(|c| c.split(',').any(|p| p.trim() == "publisher"))
    }
}

/// A URL a source or a preview may fetch: http(s), and public unless the daemon allows
/// private networks.
pub fn check_url(state: &AppState, url: &str) -> Result<url::Url, ApiError> {
    let u = validate_source_url(url)
        .map_err(|m| ApiError::bad_request(&codes::validation("url"), format!("url {m}")))?;
    if !state.settings.fetch.allow_private_networks {
        crate::ingest::ip_policy::check_url(&u, false)
            .map_err(|e| ApiError::bad_request(&codes::validation("url"), e.message))?;
    }
    Ok(u)
}

/// A mapping as the request sends it, checked; the error names every bad field and path.
pub fn parse_mapping(value: &Value) -> Result<Mapping, ApiError> {
    Mapping::parse(value).map_err(|errors| {
        ApiError::bad_request(
            &codes::validation("mapping"),
            format!("mapping: {}", describe(&errors)),
        )
    })
}

/// A format the daemon knows: `auto`, `custom`, or a built-in mapping's name.
pub fn check_format(format: &SourceFormat) -> Result<(), ApiError> {
    if let SourceFormat::JsonApi(name) = format
        && crate::ingest::mapping::builtin::by_name(name).is_none()
    {
        let known: Vec<&str> = crate::ingest::mapping::builtin::names().collect();
        return Err(ApiError::bad_request(
            &codes::validation("format"),
            format!("no built-in mapping `{name}`; known: {}", known.join(", ")),
        ));
    }
    Ok(())
}

pub fn check_body_cap(cap: u64) -> Result<(), ApiError> {
    if !(MIN_BODY_CAP..=MAX_BODY_CAP).contains(&cap) {
        return Err(ApiError::bad_request(
            &codes::validation("maxBodyBytes"),
            format!("`maxBodyBytes` must be 0 (the default) or {MIN_BODY_CAP} to {MAX_BODY_CAP}"),
        ));
    }
    Ok(())
}

/// Applies format, mapping and size cap to `s`.
pub fn apply(
    s: &mut Source,
    format: Option<SourceFormat>,
    mapping: Option<Value>,
    max_body_bytes: Option<u64>,
) -> Result<(), ApiError> {
    if let Some(m) = mapping {
        s.mapping = Some(parse_mapping(&m)?);
    }
    if let Some(f) = format {
        check_format(&f)?;
        s.format = f;
    }
    if s.format == SourceFormat::Custom && s.mapping.is_none() {
        return Err(ApiError::bad_request(
            &codes::validation("mapping"),
            "format `custom` needs a `mapping`",
        ));
    }
    if let Some(cap) = max_body_bytes {
        s.max_body_bytes = if cap == 0 {
            None
        } else {
            check_body_cap(cap).map(|_| Some(cap))?
        };
    }
    Ok(())
}

/// Refuses a change of publisher on a source with jobs unless the request confirms it.
pub async fn check_publisher(
    state: &AppState,
    before: &Source,
    after: &Source,
    confirmed: bool,
) -> Result<(), ApiError> {
    let (old, new) = (before.publisher(), after.publisher());
    if old == new || confirmed || !state.store.source_has_jobs(&before.id).await? {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        codes::SOURCE_PUBLISHER_UNCONFIRMED,
        format!(
            "the publisher would change from `{old}` to `{new}`: the source's jobs get new \
             identities, are imported again as new jobs, and the old ones close as missing; \
             send `?confirm=publisher` to go ahead"
        ),
    ))
}
