//! The catalogue of stable failure codes. Every reason a user can read on an import log or an
//! HTTP error carries one of these; `docs/errors.md` lists them and a test keeps both in sync.

use serde::{Deserialize, Serialize};

/// A failure as stored on an import log: a stable code, a human message and, for item-level
/// failures, the item's external id when it is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl Failure {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            external_id: None,
        }
    }

    pub fn for_item(code: &str, message: impl Into<String>, external_id: Option<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            external_id,
        }
    }
}

macro_rules! codes {
    ($($name:ident = $code:literal: $doc:literal;)*) => {
        $(#[doc = $doc] pub const $name: &str = $code;)*
        /// Every code with its one-line description, in catalogue order.
        pub const ALL: &[(&str, &str)] = &[$(($code, $doc)),*];
    };
}

codes! {
    FETCH_REFUSED = "fetch.refused": "The server refused the connection.";
    FETCH_CONNECT = "fetch.connect": "The connection could not be established (DNS failure, reset, unreachable).";
    FETCH_DNS = "fetch.dns": "The host name could not be resolved.";
    FETCH_TIMEOUT = "fetch.timeout": "The request did not finish within the connect timeout or the total deadline.";
    FETCH_TOO_LARGE = "fetch.too_large": "The body, counted after decompression, exceeded the configured byte cap.";
    FETCH_TRUNCATED = "fetch.truncated": "The connection closed before the announced body was complete.";
    FETCH_DECODE = "fetch.decode_error": "The Content-Encoding was unknown, stacked, or the compressed body was corrupt.";
    FETCH_TOO_MANY_REDIRECTS = "fetch.too_many_redirects": "More redirects than the configured limit.";
    FETCH_BLOCKED_ADDRESS = "fetch.blocked_address": "The URL or a redirect resolved to a loopback, private, link-local or otherwise non-public address.";
    FETCH_BLOCKED_SCHEME = "fetch.blocked_scheme": "Only http and https URLs are fetched.";
    FETCH_INVALID_URL = "fetch.invalid_url": "The URL could not be parsed or carries credentials.";
    FETCH_TLS = "fetch.tls": "The TLS handshake failed (untrusted certificate, wrong host name).";
    FETCH_HTTP_STATUS = "fetch.http_status": "The server answered with an error status (the message names it).";
    FETCH_RATE_LIMITED = "fetch.rate_limited": "The server answered 429 or 503; its Retry-After is honoured.";
    FETCH_NOT_MODIFIED = "fetch.not_modified": "The server answered 304 Not Modified; nothing was parsed.";
    PARSE_NOT_A_FEED = "parse.not_a_feed": "The body is not RSS, RDF, Atom, JSON Feed or a mapped JSON API.";
    PARSE_MALFORMED = "parse.malformed": "The document broke off or is not well formed; items before the break were kept.";
    PARSE_FORBIDDEN_DTD = "parse.forbidden_dtd": "The document declares entities in a DTD; they are never expanded.";
    PARSE_TOO_MANY_ITEMS = "parse.too_many_items": "The feed has more items than the configured cap; the rest were skipped.";
    PARSE_ENCODING = "parse.encoding": "The declared charset cannot be decoded safely (ISO-2022-KR, HZ-GB-2312) and the body is not UTF-8; an unknown label falls back to UTF-8 or Windows-1252 instead.";
    PARSE_TOO_DEEP = "parse.too_deep": "The document nests deeper than the configured depth limit.";
    ITEM_MISSING_TITLE = "item.missing_title": "The item has no title.";
    ITEM_MISSING_ID = "item.missing_id": "The item has no guid, link or other identity.";
    ITEM_TOO_LARGE = "item.too_large": "The item exceeds the configured byte cap per item.";
    ITEM_INVALID = "item.invalid": "A field of the item has the wrong type or an unusable value.";
    ITEM_DUPLICATE = "item.duplicate": "The same external id appears more than once in one feed; only the first counts.";
    DB_UNAVAILABLE = "db.unavailable": "MongoDB could not be reached.";
    DB_WRITE_ERROR = "db.write_error": "MongoDB rejected a write.";
    QUEUE_UNAVAILABLE = "queue.unavailable": "Redis could not be reached to queue work.";
    QUEUE_LOST = "queue.lost": "The run's queued work disappeared (Redis lost it, or every worker died); the sweeper ended the run.";
    RUN_ALREADY_RUNNING = "run.already_running": "A run of this source is already in progress.";
    RUN_INTERRUPTED = "run.interrupted": "The process running the fetch stopped before the run finished.";
    INTERNAL = "internal": "An unexpected internal error; the daemon's log has the details.";
}
