//! [`LinkProbe`]: asks a posting's URL whether it is still there, politely. It uses the feed
//! fetcher's resolver (the SSRF policy, checked on the address dialled), its URL checks on
//! every redirect hop, its timeouts and its User-Agent; it honours `robots.txt` (cached per
//! origin for a day), sends at most one request per host at a time, and starts requests to a
//! host no closer together than the configured interval. Redirects are followed here, hop by
//! hop, so that every hop waits its host's turn too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::LOCATION;
use reqwest::{Method, redirect};
use tokio::time::Instant;
use url::Url;

use super::classify::classify_reqwest_error;
use super::client::{deadline_passed, install_crypto_provider};
use super::resolver::PolicyResolver;
use super::{FetchError, FetchLimits};
use crate::domain::codes;
use crate::ingest::ip_policy::check_url;
use crate::ingest::robots::{Robots, product_token};

/// How long a host's `robots.txt` is trusted (RFC 9309 suggests at most a day).
const ROBOTS_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The link checker's own limits (the rest are the fetcher's, [`FetchLimits`]).
#[derive(Debug, Clone)]
pub struct ProbeLimits {
    /// Bytes read of a `GET` (the fallback when `HEAD` is refused) before it is dropped.
    pub max_body_bytes: u64,
    /// Bytes of a `robots.txt` read; the rest is ignored.
    pub robots_max_bytes: u64,
    /// Least time between the starts of two requests to one host.
    pub per_host_interval: Duration,
}

/// What a posting's URL answered.
#[derive(Debug, Clone)]
pub enum LinkAnswer {
    /// The status of the last hop, after following redirects.
    Status(u16),
    /// The host's `robots.txt` does not let us request it; nothing was sent.
    Disallowed,
    /// No answer: a timeout, a refused connection, a URL or redirect the policy refuses, or
    /// the host's `robots.txt` could not be read.
    Failed(FetchError),
}

/// One request at a time per host, starts spaced by an interval.
#[derive(Debug, Default)]
struct HostGate {
    /// Per host: when its last request started.
    hosts: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Instant>>>>>,
}

impl HostGate {
    /// Waits for the host's turn; the host is ours until the guard drops.
    async fn turn(
        &self,
        host: &str,
        interval: Duration,
    ) -> tokio::sync::OwnedMutexGuard<Option<Instant>> {
        let slot = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
            hosts.entry(host.to_owned()).or_default().clone()
        };
        let mut guard = slot.lock_owned().await;
        if let Some(last) = *guard {
            tokio::time::sleep_until(last + interval).await;
        }
        *guard = Some(Instant::now());
        guard
    }
}

/// Cheap to share behind an `Arc`; one per daemon, so the gate and the robots cache hold
/// across passes.
#[derive(Debug)]
pub struct LinkProbe {
    client: reqwest::Client,
    private_client: reqwest::Client,
    limits: Arc<FetchLimits>,
    probe: ProbeLimits,
    token: String,
    gate: HostGate,
    robots: Mutex<HashMap<String, (Instant, Arc<Robots>)>>,
}

fn host_key(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or(0)
    )
}

impl LinkProbe {
    pub fn new(limits: &FetchLimits, probe: ProbeLimits) -> Result<Self, FetchError> {
        install_crypto_provider();
        let build = |allow_private| {
            reqwest::Client::builder()
                .user_agent(limits.user_agent.as_str())
                .connect_timeout(Duration::from_millis(limits.connect_timeout_ms))
                .timeout(Duration::from_millis(limits.total_timeout_ms))
                .redirect(redirect::Policy::none())
                .dns_resolver(PolicyResolver { allow_private })
                .no_proxy()
                .build()
                .map_err(|e| {
                    FetchError::permanent(codes::INTERNAL, format!("HTTP client setup failed: {e}"))
                })
        };
        Ok(Self {
            client: build(limits.allow_private_networks)?,
            private_client: build(true)?,
            limits: Arc::new(limits.clone()),
            token: product_token(&limits.user_agent),
            probe,
            gate: HostGate::default(),
            robots: Mutex::new(HashMap::new()),
        })
    }

    /// Checks `url` (`allow_private`: its source may reach private addresses): `HEAD`, and
    /// `GET` with a small byte cap when `HEAD` is refused (405, 501) or answered oddly.
    pub async fn check(&self, url: &str, allow_private: bool) -> LinkAnswer {
        let allow_private = allow_private || self.limits.allow_private_networks;
        let url = match Url::parse(url.trim()) {
            Ok(u) => u,
            Err(e) => {
                return LinkAnswer::Failed(FetchError::permanent(
                    codes::FETCH_INVALID_URL,
                    format!("invalid URL: {e}"),
                ));
            }
        };
        if let Err(e) = check_url(&url, allow_private) {
            return LinkAnswer::Failed(e);
        }
        match self.robots_for(&url, allow_private).await {
            Ok(robots) => {
                let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
                if !robots.allows(path) {
                    return LinkAnswer::Disallowed;
                }
            }
            Err(e) => return LinkAnswer::Failed(e),
        }
        match self
            .follow(Method::HEAD, url.clone(), allow_private, 0)
            .await
        {
            Ok((405 | 501, _)) => {}
            Ok((status, _)) => return LinkAnswer::Status(status),
            Err(e) if !head_failed_oddly(&e) => return LinkAnswer::Failed(e),
            Err(_) => {}
        }
        match self
            .follow(Method::GET, url, allow_private, self.probe.max_body_bytes)
            .await
        {
            Ok((status, _)) => LinkAnswer::Status(status),
            Err(e) => LinkAnswer::Failed(e),
        }
    }

    /// The rules of the URL's origin: from the cache, else read now. A missing file (4xx)
    /// allows everything; a server error or no answer is an error (we do not guess).
    async fn robots_for(&self, url: &Url, allow_private: bool) -> Result<Arc<Robots>, FetchError> {
        let origin = url.origin().ascii_serialization();
        {
            let cache = self.robots.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, r)) = cache.get(&origin)
                && at.elapsed() < ROBOTS_TTL
            {
                return Ok(r.clone());
            }
        }
        let robots_url = url.join("/robots.txt").map_err(|e| {
            FetchError::permanent(codes::FETCH_INVALID_URL, format!("robots.txt URL: {e}"))
        })?;
        let cap = self.probe.robots_max_bytes;
        let robots = match self
            .follow(Method::GET, robots_url, allow_private, cap)
            .await
        {
            Ok((200..=299, body)) => Robots::parse(&String::from_utf8_lossy(&body), &self.token),
            Ok((400..=499, _)) => Robots::allow_all(),
            Ok((status, _)) => {
                return Err(FetchError::transient(
                    codes::FETCH_HTTP_STATUS,
                    format!("robots.txt answered HTTP {status}"),
                ));
            }
            Err(e) => return Err(e),
        };
        let robots = Arc::new(robots);
        let mut cache = self.robots.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|_, (at, _)| at.elapsed() < ROBOTS_TTL);
        cache.insert(origin, (Instant::now(), robots.clone()));
        Ok(robots)
    }

    /// Requests `url`, following redirects hop by hop under the fetcher's rules (each hop's
    /// URL checked, at most `fetch.max_redirects`, no https → http), each hop in its host's
    /// turn. Returns the last status and up to `cap` bytes of its body (nothing for `HEAD`).
    async fn follow(
        &self,
        method: Method,
        mut url: Url,
        allow_private: bool,
        cap: u64,
    ) -> Result<(u16, Vec<u8>), FetchError> {
        let client = if allow_private {
            &self.private_client
        } else {
            &self.client
        };
        for _hop in 0..=self.limits.max_redirects {
            let response = {
                let _turn = self
                    .gate
                    .turn(&host_key(&url), self.probe.per_host_interval)
                    .await;
                let response = client
                    .request(method.clone(), url.clone())
                    .send()
                    .await
                    .map_err(|e| classify_reqwest_error(&e))?;
                let status = response.status();
                let next = status
                    .is_redirection()
                    .then(|| response.headers().get(LOCATION))
                    .flatten()
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| url.join(l.trim()).ok());
                match next {
                    Some(next) => Err(next),
                    None => Ok((status.as_u16(), self.read_capped(response, cap).await?)),
                }
            };
            match response {
                Ok(done) => return Ok(done),
                Err(next) => {
                    check_url(&next, allow_private).map_err(|err| FetchError {
                        message: format!("redirect refused: {}", err.message),
                        ..err
                    })?;
                    if url.scheme() == "https" && next.scheme() == "http" {
                        return Err(FetchError::permanent(
                            codes::FETCH_BLOCKED_SCHEME,
                            format!("redirect from https to http refused: {next}"),
                        ));
                    }
                    url = next;
                }
            }
        }
        Err(FetchError::permanent(
            codes::FETCH_TOO_MANY_REDIRECTS,
            format!("more than {} redirects", self.limits.max_redirects),
        ))
    }

    /// Up to `cap` bytes of the body; the rest is never read (the connection is dropped).
    async fn read_capped(
        &self,
        mut response: reqwest::Response,
        cap: u64,
    ) -> Result<Vec<u8>, FetchError> {
        let mut body = Vec::new();
        if cap == 0 {
            return Ok(body);
        }
        let total = self.limits.total_timeout_ms;
        let deadline = Instant::now() + Duration::from_millis(total);
        while (body.len() as u64) < cap {
            match tokio::time::timeout_at(deadline, response.chunk()).await {
                Err(_) => return Err(deadline_passed(total, "body")),
                Ok(Err(e)) => return Err(classify_reqwest_error(&e)),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            }
        }
        body.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
        Ok(body)
    }
}

/// A `HEAD` that failed in a way a `GET` may not: the connection cut or reset (some servers
/// mishandle `HEAD`), not a timeout or one of our own refusals.
fn head_failed_oddly(e: &FetchError) -> bool {
    matches!(
        e.code,
        codes::FETCH_CONNECT | codes::FETCH_TRUNCATED | codes::FETCH_DECODE
    )
}
