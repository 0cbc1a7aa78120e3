//! Streaming HTTP fetch with explicit limits and the SSRF policy: one [`HttpFetcher`] per
//! process, one [`FetchBody`] per response, every failure a [`FetchError`] with a stable code.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::Failure;

mod body;
mod classify;
mod client;
mod probe;
mod resolver;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod test_server;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

pub use body::FetchBody;
pub use classify::classify_reqwest_error;
pub use client::{HttpFetcher, install_crypto_provider};
pub use probe::{LinkAnswer, LinkProbe, ProbeLimits};

/// Limits for every fetch. Defaults follow Miniflux and are listed in the README's config table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct FetchLimits {
    /// TCP connect (including DNS and TLS) must finish within this. Default 10 s.
    pub connect_timeout_ms: u64,
    /// Headers and the whole body must arrive within this, however slowly the server trickles.
    /// Default 20 s.
    pub total_timeout_ms: u64,
    /// Cap on body bytes, counted after decompression. Default 15 MiB.
    pub max_body_bytes: u64,
    /// Redirects followed before `fetch.too_many_redirects`; every hop is re-checked. Default 5.
    pub max_redirects: usize,
    /// Default User-Agent; a source may override it per request.
    pub user_agent: String,
    /// Lets the fetcher reach loopback and private ranges for every source (tests, private
    /// deployments). Default false; one source can be allowed on its own instead.
    pub allow_private_networks: bool,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 10_000,
            total_timeout_ms: 20_000,
            max_body_bytes: 15 * 1024 * 1024,
            max_redirects: 5,
            user_agent: concat!(
                "job-importer/",
                env!("CARGO_PKG_VERSION"),
                " (+https://github.com/job-importer)"
            )
            .to_owned(),
            allow_private_networks: false,
        }
    }
}

/// One fetch: the URL plus the per-source overrides and cache validators.
#[derive(Debug, Clone, Default)]
pub struct FetchRequest {
    pub url: String,
    /// Replaces [`FetchLimits::user_agent`] for this request.
    pub user_agent: Option<String>,
    /// Sent as `If-None-Match`.
    pub etag: Option<String>,
    /// Sent as `If-Modified-Since`.
    pub last_modified: Option<String>,
    /// Replaces [`FetchLimits::max_body_bytes`] for this request.
    pub max_body_bytes: Option<u64>,
    /// Lets this request reach loopback, private and link-local addresses although
    /// [`FetchLimits::allow_private_networks`] is off: set for sources whose `[[sources]]`
    /// entry in the config file says so (never for sources made through the API).
    pub allow_private_networks: bool,
}

/// A successful fetch: the server said nothing changed, or here is the body to stream.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "made once per fetch and matched at once; boxing would only add an allocation"
)]
pub enum FetchResponse {
    NotModified,
    Body(FetchBody),
}

/// Why a fetch failed. `transient` failures are worth retrying with backoff; the others are
/// recorded and the run ends.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    /// One of the `fetch.*` codes in [`crate::domain::codes`].
    pub code: &'static str,
    pub message: String,
    pub transient: bool,
    /// From `Retry-After` on 429/503, clamped to 24 h.
    pub retry_after: Option<Duration>,
    /// The HTTP status when the failure is a response.
    pub status: Option<u16>,
}

impl FetchError {
    pub fn permanent(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            transient: false,
            retry_after: None,
            status: None,
        }
    }

    pub fn transient(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            transient: true,
            ..Self::permanent(code, message)
        }
    }

    /// The form stored on an import log.
    pub fn to_failure(&self) -> Failure {
        Failure::new(self.code, self.message.clone())
    }
}
