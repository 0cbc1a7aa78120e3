//! A feed source: where to fetch, when, how to read it, and how healthy it has been.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::codes::Failure;
use super::expiry::{Expiry, FeedWindow};
use super::mapping::Mapping;
use super::time;

/// How a source's body is read. `Auto` detects RSS, RDF, Atom, JSON Feed and the JSON APIs of
/// the built-in mappings from the content; `JsonApi` names a built-in mapping (`jobicy`,
/// `remotive`, `remoteok`, `arbeitnow`, `himalayas`); `Custom` reads the body with the
/// source's own [`Mapping`] (field `mapping`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    #[default]
    Auto,
    JsonApi(String),
    Custom,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SourceHealth {
    #[serde(default, with = "time::rfc3339_opt")]
    pub last_run_at: Option<DateTime<Utc>>,
    #[serde(default, with = "time::rfc3339_opt")]
    pub last_success_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub consecutive_failures: i64,
    #[serde(default, with = "time::rfc3339_opt")]
    pub next_run_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_error: Option<Failure>,
    #[serde(default)]
    pub last_run_id: Option<String>,
    #[serde(default)]
    pub last_status: Option<String>,
    /// After repeated failures, scheduled ticks are skipped until then (manual runs are not).
    #[serde(default, with = "time::rfc3339_opt")]
    pub backoff_until: Option<DateTime<Utc>>,
}

/// Consecutive failures after which a source backs off.
pub const BACKOFF_AFTER_FAILURES: i64 = 3;

impl SourceHealth {
    /// How long a source that failed `consecutive` times in a row waits before its next
    /// scheduled run: nothing below the threshold, then an hour doubling up to a day.
    pub fn backoff(consecutive: i64) -> Option<chrono::Duration> {
        if consecutive < BACKOFF_AFTER_FAILURES {
            return None;
        }
        let exp = (consecutive - BACKOFF_AFTER_FAILURES).min(5) as u32;
        Some(chrono::Duration::hours(1 << exp).min(chrono::Duration::hours(24)))
    }
}

/// A source: its definition (the `sources` document) with the state the daemon keeps about it
/// (`health`, validators, `lastWindow`), which is stored apart (`store::mongo::source_state`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    pub url: String,
    /// Six-field cron (sec min hour day month weekday), UTC.
    pub cron: String,
    pub enabled: bool,
    #[serde(default)]
    pub format: SourceFormat,
    /// The source's own mapping, read when `format` is `custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<Mapping>,
    /// Scopes external ids; the URL's host when not set.
    #[serde(default)]
    pub publisher: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Overrides `fetch.max_body_bytes` for this source.
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// This source may be fetched from loopback, private and link-local addresses. Only a
    /// `[[sources]]` entry of the config file (and the built-in demo) sets it; the API refuses
    /// the field, so an admin token cannot open the SSRF policy.
    #[serde(default)]
    pub allow_private_networks: bool,
    /// How absence from the feed closes jobs (`window` unless set).
    #[serde(default)]
    pub expiry: Expiry,
    /// Jobs that left the feed's window have their posting's URL checked (about daily); a
    /// 404 or 410 closes them (`link_gone`). Off unless set.
    #[serde(default)]
    pub link_check: bool,
    /// The query parameter that numbers the feed's pages for a backfill; unset: `paged` when
    /// the feed says WordPress generated it.
    #[serde(default)]
    pub page_param: Option<String>,
    /// The span the last complete run of the feed covered (written by the pipeline only).
    #[serde(default)]
    pub last_window: Option<FeedWindow>,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub last_modified: Option<String>,
    #[serde(default)]
    pub health: SourceHealth,
}

impl Source {
    /// An enabled source read as `auto`, with nothing else set; the `with_*` methods set the
    /// rest. Every source is built through here, so a new field has one default.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        url: impl Into<String>,
        cron: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            url: url.into(),
            cron: cron.into(),
            enabled: true,
            format: SourceFormat::Auto,
            mapping: None,
            publisher: None,
            user_agent: None,
            max_body_bytes: None,
            allow_private_networks: false,
            expiry: Expiry::Window,
            link_check: false,
            page_param: None,
            last_window: None,
            etag: None,
            last_modified: None,
            health: SourceHealth::default(),
        }
    }

    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    pub fn with_format(mut self, format: SourceFormat) -> Self {
        self.format = format;
        self
    }

    pub fn with_mapping(mut self, mapping: Option<Mapping>) -> Self {
        self.mapping = mapping;
        self
    }

    /// The mapping a run applies: the source's own, when its format is `custom`.
    pub fn custom_mapping(&self) -> Option<&Mapping> {
        match self.format {
            SourceFormat::Custom => self.mapping.as_ref(),
            _ => None,
        }
    }

    /// A digest of how a body of this source becomes jobs: its format, its custom mapping and
    /// its publisher (part of every job's identity). Conditional-GET validators are kept only
    /// while it is unchanged: a body read one way says nothing about reading it another.
    pub fn reading_key(&self) -> String {
        use sha2::{Digest, Sha256};
        let format = serde_json::to_string(&self.format).unwrap_or_default();
        let mapping = self
            .custom_mapping()
            .and_then(|m| serde_json::to_string(m).ok())
            .unwrap_or_default();
        let mut h = Sha256::new();
        for part in [format.as_str(), mapping.as_str(), self.publisher().as_str()] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn with_publisher(mut self, publisher: Option<String>) -> Self {
        self.publisher = publisher;
        self
    }

    pub fn with_user_agent(mut self, user_agent: Option<String>) -> Self {
        self.user_agent = user_agent;
        self
    }

    pub fn with_max_body_bytes(mut self, max_body_bytes: Option<u64>) -> Self {
        self.max_body_bytes = max_body_bytes;
        self
    }

    pub fn with_expiry(mut self, expiry: Expiry) -> Self {
        self.expiry = expiry;
        self
    }

    pub fn with_link_check(mut self, link_check: bool) -> Self {
        self.link_check = link_check;
        self
    }

    pub fn with_page_param(mut self, page_param: Option<String>) -> Self {
        self.page_param = page_param;
        self
    }

    pub fn with_private_networks(mut self, allow: bool) -> Self {
        self.allow_private_networks = allow;
        self
    }

    /// The publisher that scopes this source's external ids.
    pub fn publisher(&self) -> String {
        if let Some(p) = self.publisher.as_deref().filter(|p| !p.is_empty()) {
            return p.to_owned();
        }
        url::Url::parse(&self.url)
            .ok()
            .and_then(|u| {
                u.host_str()
                    .map(|h| h.trim_start_matches("www.").to_owned())
            })
            .unwrap_or_else(|| self.url.clone())
    }
}

/// A URL-safe id from a display name: lower case, runs of other characters become `-`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// What a source's `page_param` may be, wherever it is set (config file, API, CLI): a query
/// parameter name of at most 50 letters, digits, `_` or `-`. Empty means "found from the feed".
pub const PAGE_PARAM_RULE: &str =
    "at most 50 letters, digits, `_` or `-` (empty: found from the feed)";

/// Reads a `page_param` as set by a user: `Ok(None)` for empty, an error for a bad name.
pub fn parse_page_param(param: &str) -> Result<Option<String>, &'static str> {
    let param = param.trim();
    let ok = param.len() <= 50
        && param
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(PAGE_PARAM_RULE);
    }
    Ok((!param.is_empty()).then(|| param.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_at_the_threshold_and_is_capped_at_a_day() {
        assert_eq!(SourceHealth::backoff(2), None);
        assert_eq!(SourceHealth::backoff(3), Some(chrono::Duration::hours(1)));
        assert_eq!(SourceHealth::backoff(4), Some(chrono::Duration::hours(2)));
        assert_eq!(SourceHealth::backoff(20), Some(chrono::Duration::hours(24)));
    }

    #[test]
    fn slug_keeps_alphanumerics_and_collapses_the_rest() {
        assert_eq!(slug("Jobicy: Data Science!"), "jobicy-data-science");
        assert_eq!(slug("  a__b  "), "a-b");
    }

    #[test]
    fn publisher_defaults_to_the_host_without_www() {
        let s = Source::new(
            "x",
            "x",
            "https://www.higheredjobs.com/rss/articleFeed.cfm",
            "0 0 * * * *",
        );
        assert_eq!(s.publisher(), "higheredjobs.com");
        let named = s.with_publisher(Some("hej".into()));
        assert_eq!(named.publisher(), "hej");
    }

    #[test]
    fn a_new_source_is_enabled_auto_and_public_only() {
        let s = Source::new("a", "A", "https://example.com/feed", "0 0 * * * *");
        assert!(s.enabled);
        assert_eq!(s.format, SourceFormat::Auto);
        assert!(!s.allow_private_networks);
        assert_eq!(s.health, SourceHealth::default());
    }

    #[test]
    fn documents_without_the_private_networks_field_read_as_public_only() {
        let json = r#"{"_id":"a","name":"A","url":"https://example.com/","cron":"0 0 * * * *","enabled":true}"#;
        let s: Source = serde_json::from_str(json).unwrap();
        assert!(!s.allow_private_networks);
    }
}
