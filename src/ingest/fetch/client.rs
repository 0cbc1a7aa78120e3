//! [`HttpFetcher`]: a reqwest client wired with the SSRF resolver, a redirect policy that
//! re-checks every hop, and the time and size limits.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{
    CONTENT_ENCODING, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LOCATION, USER_AGENT,
};
use reqwest::{StatusCode, redirect};
use tokio::time::Instant;
use url::Url;

use super::body::FetchBody;
use super::classify::{classify_reqwest_error, classify_status};
use super::resolver::PolicyResolver;
use super::{FetchError, FetchLimits, FetchRequest, FetchResponse};
use crate::domain::codes;
use crate::ingest::ip_policy::check_url;

/// Cheap to clone: the connection pools are shared.
#[derive(Debug, Clone)]
pub struct HttpFetcher {
    /// Refuses non-public addresses unless `fetch.allow_private_networks` is on.
    pub(super) client: reqwest::Client,
    /// Reaches private addresses too: for requests of sources the config file allows
    /// (`allow_private_networks` on a `[[sources]]` entry). The resolver and the redirect
    /// policy are fixed when a client is built, hence a second client rather than a flag.
    pub(super) private_client: reqwest::Client,
    limits: Arc<FetchLimits>,
}

/// Makes ring the process's rustls crypto provider (once; later calls do nothing). reqwest is
/// built without a provider of its own (aws-lc-rs would compile a C library with cmake), and
/// panics when it builds a client before one is installed, so every process that makes a
/// `reqwest::Client` calls this first; [`HttpFetcher::new`] does.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An error means a provider is installed already, which is all we need.
        rustls::crypto::ring::default_provider()
            .install_default()
            .ok();
    });
}

impl HttpFetcher {
    pub fn new(limits: &FetchLimits) -> Result<Self, FetchError> {
        install_crypto_provider();
        Ok(Self {
            client: build_client(limits, limits.allow_private_networks)?,
            private_client: build_client(limits, true)?,
            limits: Arc::new(limits.clone()),
        })
    }

    /// Whether `req` may reach loopback, private and link-local addresses.
    fn allows_private(&self, req: &FetchRequest) -> bool {
        self.limits.allow_private_networks || req.allow_private_networks
    }

    /// Sends the request and returns once the headers are in; the body is then streamed
    /// through [`FetchBody::next_chunk`] under the same total deadline.
    #[tracing::instrument(level = "debug", skip_all, fields(url = %req.url))]
    pub async fn fetch(&self, req: &FetchRequest) -> Result<FetchResponse, FetchError> {
        let deadline = Instant::now() + Duration::from_millis(self.limits.total_timeout_ms);
        let url = Url::parse(req.url.trim()).map_err(|e| {
            FetchError::permanent(codes::FETCH_INVALID_URL, format!("invalid URL: {e}"))
        })?;
        let allow_private = self.allows_private(req);
        check_url(&url, allow_private)?;

        let client = if allow_private {
            &self.private_client
        } else {
            &self.client
        };
        let mut builder = client.get(url);
        if let Some(agent) = &req.user_agent {
            builder = builder.header(USER_AGENT, header_value("User-Agent", agent)?);
        }
        // A bad stored validator only costs a full download, so it is dropped, not fatal.
        let validators = [
            (IF_NONE_MATCH, &req.etag),
            (IF_MODIFIED_SINCE, &req.last_modified),
        ];
        for (name, value) in validators {
            match value.as_deref().map(|v| header_value(name.as_str(), v)) {
                Some(Ok(value)) => builder = builder.header(name, value),
                Some(Err(err)) => tracing::warn!(%err, "cache validator not sent"),
                None => {}
            }
        }
        let response = match tokio::time::timeout_at(deadline, builder.send()).await {
            Err(_) => return Err(deadline_passed(self.limits.total_timeout_ms, "headers")),
            Ok(Err(e)) => return Err(classify_reqwest_error(&e)),
            Ok(Ok(response)) => response,
        };

        if response.status() == StatusCode::NOT_MODIFIED {
            return Ok(FetchResponse::NotModified);
        }
        if response.status().is_redirection() {
            refuse_unfollowed_redirect(&response, allow_private)?;
        }
        if let Some(err) = classify_status(response.status(), response.headers()) {
            return Err(err);
        }
        refuse_undecoded_encoding(&response)?;
        let cap = req.max_body_bytes.unwrap_or(self.limits.max_body_bytes);
        if let Some(announced) = response.content_length().filter(|len| *len > cap) {
            return Err(FetchError::permanent(
                codes::FETCH_TOO_LARGE,
                format!("Content-Length {announced} exceeds the cap of {cap} bytes"),
            ));
        }
        Ok(FetchResponse::Body(FetchBody::new(
            response,
            cap,
            deadline,
            self.limits.total_timeout_ms,
        )))
    }
}

fn build_client(limits: &FetchLimits, allow_private: bool) -> Result<reqwest::Client, FetchError> {
    reqwest::Client::builder()
        .user_agent(limits.user_agent.as_str())
        .connect_timeout(Duration::from_millis(limits.connect_timeout_ms))
        .timeout(Duration::from_millis(limits.total_timeout_ms))
        .redirect(redirect_policy(limits.max_redirects, allow_private))
        .dns_resolver(PolicyResolver { allow_private })
        // A proxy resolves names on its side, out of the resolver's sight.
        .no_proxy()
        .build()
        .map_err(|e| {
            FetchError::permanent(codes::INTERNAL, format!("HTTP client setup failed: {e}"))
        })
}

/// Checked here because reqwest would report a bad header value as a builder error, which
/// reads like a bad URL.
fn header_value(name: &str, value: &str) -> Result<HeaderValue, FetchError> {
    HeaderValue::from_str(value.trim()).map_err(|_| {
        FetchError::permanent(
            codes::FETCH_INVALID_URL,
            format!("the {name} header for this source contains characters HTTP does not allow"),
        )
    })
}

pub(super) fn deadline_passed(total_ms: u64, stage: &str) -> FetchError {
    FetchError::transient(
        codes::FETCH_TIMEOUT,
        format!("the total deadline of {total_ms} ms passed while waiting for the {stage}"),
    )
}

/// reqwest decodes exactly one `gzip`, `br` or `deflate` layer and then drops the header, so a
/// Content-Encoding still present is stacked (`gzip, gzip`) or unknown; we refuse it rather
/// than hand compressed bytes to the parser.
fn refuse_undecoded_encoding(response: &reqwest::Response) -> Result<(), FetchError> {
    let Some(value) = response.headers().get(CONTENT_ENCODING) else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    if text.trim().eq_ignore_ascii_case("identity") {
        return Ok(());
    }
    Err(FetchError::permanent(
        codes::FETCH_DECODE,
        format!(
            "Content-Encoding `{text}` is stacked or unsupported; one layer of gzip, br or deflate is accepted"
        ),
    ))
}

/// The redirect layer returns a 3xx as is when it cannot turn Location into an http URI
/// (`file:///etc/passwd` has no authority), so the policy never saw it; name the real reason.
fn refuse_unfollowed_redirect(
    response: &reqwest::Response,
    allow_private: bool,
) -> Result<(), FetchError> {
    let target = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok());
    match target.and_then(|t| response.url().join(t.trim()).ok()) {
        Some(next) => check_url(&next, allow_private).map_err(|err| FetchError {
            message: format!("redirect refused: {}", err.message),
            ..err
        }),
        None => Ok(()),
    }
}

/// Re-checks every hop as if it were the first URL, counts hops, and refuses https → http.
fn redirect_policy(max_redirects: usize, allow_private: bool) -> redirect::Policy {
    redirect::Policy::custom(move |attempt| {
        // `previous` holds every URL requested so far, the first one included.
        if attempt.previous().len() > max_redirects {
            let hops: Vec<&str> = attempt.previous().iter().map(Url::as_str).collect();
            let err = FetchError::permanent(
                codes::FETCH_TOO_MANY_REDIRECTS,
                format!(
                    "more than {max_redirects} redirects: {} -> {}",
                    hops.join(" -> "),
                    attempt.url()
                ),
            );
            return attempt.error(err);
        }
        if let Err(err) = check_url(attempt.url(), allow_private) {
            let err = FetchError {
                message: format!("redirect refused: {}", err.message),
                ..err
            };
            return attempt.error(err);
        }
        let downgrade = attempt
            .previous()
            .last()
            .is_some_and(|prev| prev.scheme() == "https")
            && attempt.url().scheme() == "http";
        if downgrade {
            let err = FetchError::permanent(
                codes::FETCH_BLOCKED_SCHEME,
                format!("redirect from https to http refused: {}", attempt.url()),
            );
            return attempt.error(err);
        }
        attempt.follow()
    })
}
