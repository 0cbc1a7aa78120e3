//! The one place that turns a transport error or an HTTP status into a code and decides
//! whether it is worth retrying (miniflux's `response_handler.go` plays this role there).

use std::error::Error as StdError;
use std::io;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::FetchError;
use crate::domain::codes;

/// A server may ask us to wait, but not for longer than this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Classifies a reqwest error. Our own refusals (resolver, redirect policy) travel inside
/// reqwest's error chain and come back out unchanged.
pub fn classify_reqwest_error(e: &reqwest::Error) -> FetchError {
    let chain = || causes(e);
    if let Some(ours) = chain().find_map(|c| c.downcast_ref::<FetchError>()) {
        return ours.clone();
    }
    let detail = describe(e);
    if e.is_timeout() || chain().any(|c| io_kind(c) == Some(io::ErrorKind::TimedOut)) {
        return FetchError::transient(codes::FETCH_TIMEOUT, format!("timed out: {detail}"));
    }
    if chain().any(|c| c.is::<rustls::Error>()) {
        return FetchError::permanent(codes::FETCH_TLS, format!("TLS failed: {detail}"));
    }
    if chain().any(|c| io_kind(c) == Some(io::ErrorKind::ConnectionRefused)) {
        return FetchError::transient(
            codes::FETCH_REFUSED,
            format!("connection refused: {detail}"),
        );
    }
    if e.is_redirect() {
        return FetchError::permanent(codes::FETCH_TOO_MANY_REDIRECTS, detail);
    }
    if e.is_dns() {
        return FetchError::transient(codes::FETCH_DNS, detail);
    }
    if e.is_connect() {
        return FetchError::transient(codes::FETCH_CONNECT, format!("could not connect: {detail}"));
    }
    // reqwest reports every body failure as Decode wrapping Body, decoder errors included, so
    // the io error underneath tells a cut connection from a corrupt compressed stream.
    if e.is_body() || e.is_decode() {
        let corrupt = chain().any(|c| io_kind(c) == Some(io::ErrorKind::InvalidData));
        let cut = chain().any(|c| io_kind(c).is_some_and(is_cut));
        if corrupt && !cut {
            return FetchError::permanent(
                codes::FETCH_DECODE,
                format!("could not decode: {detail}"),
            );
        }
        return FetchError::transient(codes::FETCH_TRUNCATED, format!("body cut short: {detail}"));
    }
    if e.is_builder() {
        return FetchError::permanent(codes::FETCH_INVALID_URL, detail);
    }
    FetchError::transient(codes::FETCH_CONNECT, detail)
}

/// Classifies a final response status; `None` means the body is worth reading.
pub(super) fn classify_status(status: StatusCode, headers: &HeaderMap) -> Option<FetchError> {
    let code = status.as_u16();
    let text = match status.canonical_reason() {
        Some(reason) => format!("HTTP {code} {reason}"),
        None => format!("HTTP {code}"),
    };
    let mut err = match code {
        200..=299 => return None,
        429 | 503 => FetchError::transient(codes::FETCH_RATE_LIMITED, text),
        500..=599 => FetchError::transient(codes::FETCH_HTTP_STATUS, text),
        403 => FetchError::permanent(
            codes::FETCH_HTTP_STATUS,
            format!(
                "{text}: the server refused this client; some sites block unknown clients, \
                 so try setting a User-Agent for this source"
            ),
        ),
        300..=399 => FetchError::permanent(
            codes::FETCH_HTTP_STATUS,
            format!("{text}: a redirect without a usable Location"),
        ),
        _ => FetchError::permanent(codes::FETCH_HTTP_STATUS, text),
    };
    err.status = Some(code);
    if err.code == codes::FETCH_RATE_LIMITED {
        err.retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
    }
    Some(err)
}

/// `Retry-After` is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3); anything else is
/// ignored so the caller's own backoff applies.
pub(super) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Walks the source chain, also stepping into custom `io::Error`s: their `source()` skips the
/// wrapped error, which is where rustls and body errors sit.
fn causes<'a>(e: &'a reqwest::Error) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    let first: &'a (dyn StdError + 'static) = e;
    std::iter::successors(Some(first), |&c| next_cause(c)).take(32)
}

fn next_cause<'a>(c: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match c.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
        Some(inner) => Some(inner),
        None => c.source(),
    }
}

fn is_cut(kind: io::ErrorKind) -> bool {
    use io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    matches!(
        kind,
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
    )
}

fn io_kind(e: &(dyn StdError + 'static)) -> Option<io::ErrorKind> {
    e.downcast_ref::<io::Error>().map(io::Error::kind)
}

/// The causes under reqwest's generic wrappers tell the user most ("Connection refused",
/// "invalid peer certificate"); the URL is left out because the run already names its source.
fn describe(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in causes(e).filter(|c| !c.is::<reqwest::Error>()) {
        let text = c.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    if parts.is_empty() {
        let own = e.to_string();
        return own
            .split(" for url (")
            .next()
            .unwrap_or_default()
            .to_owned();
    }
    parts.join(": ")
}
