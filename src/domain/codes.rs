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
    DB_QUERY_TIMEOUT = "db.query_timeout": "A read took longer than its time limit (10 s for API reads); narrow it with filters (README, \"Reads at scale\").";
    QUEUE_UNAVAILABLE = "queue.unavailable": "Redis could not be reached to queue work.";
    QUEUE_LOST = "queue.lost": "The run's queued work disappeared (Redis lost it, or every worker died); the sweeper ended the run.";
    RUN_ALREADY_RUNNING = "run.already_running": "A run of this source is already in progress.";
    SOURCE_PUBLISHER_UNCONFIRMED = "source.publisher_unconfirmed": "A new publisher changes the identity of every job of the source (they are imported again as new jobs and the old ones close as missing); resend with `?confirm=publisher` (409).";
    RUN_INTERRUPTED = "run.interrupted": "The process running the fetch stopped before the run finished.";
    INTERNAL = "internal": "An unexpected internal error; the daemon's log has the details.";
    AUTH_MISSING_TOKEN = "auth.missing_token": "No token was sent: `Authorization: Bearer <token>`, or `?token=` on the WebSocket (401).";
    AUTH_INVALID_TOKEN = "auth.invalid_token": "The token is not one of the configured tokens, or a previous token past its overlap (401).";
    AUTH_READ_ONLY = "auth.read_only": "The read-only token was sent for a change; changes need the admin token (403).";
    AUTH_ORIGIN = "auth.origin": "The WebSocket's Origin is neither the daemon's own nor one of `http.allowed_origins` (403).";
    VALIDATION_FIELD = "validation.<field>": "A request value is invalid; `<field>` names it as the request spells it (`validation.limit`, `validation.url`, `validation.allowPrivateNetworks`) (400).";
    VALIDATION_QUERY = "validation.query": "The query string has an unknown key or a value of the wrong type (400).";
    VALIDATION_BODY = "validation.body": "The JSON body is malformed, has a value of the wrong type or an unknown field (400).";
    VALIDATION_BODY_TOO_LARGE = "validation.body_too_large": "The body is larger than `http.max_body_bytes` (413).";
    VALIDATION_CONTENT_TYPE = "validation.content_type": "The body was not sent as `application/json` (415).";
    VALIDATION_PATH = "validation.path": "A path segment is not valid (400).";
    VALIDATION_UPGRADE = "validation.upgrade": "A WebSocket handshake with more than `Upgrade: websocket` or with a request body (400).";
    NOT_FOUND = "not_found": "No such run, job or source (404).";
    CONFLICT = "conflict": "The request conflicts with what is stored, e.g. a source id that exists (409).";
    CHANGES_CURSOR_EXPIRED = "changes.cursor_expired": "Changes after this cursor of `GET /api/jobs/changes` were deleted by retention (`retention.changes_keep_days`); read the jobs again and follow the feed from its newest change (410).";
    RATE_LIMITED = "rate_limited": "Too many manual imports or new sources from this client address; `Retry-After` says when to try again (429).";
    WS_MALFORMED = "ws.malformed": "A WebSocket message is not a JSON envelope `{\"event\": ..., \"data\": ...}`.";
    WS_UNKNOWN_EVENT = "ws.unknown_event": "A WebSocket message names an event the server does not know.";
    WS_INVALID_DATA = "ws.invalid_data": "A WebSocket event's `data` has the wrong shape.";
    WS_RATE_LIMITED = "ws.rate_limited": "More than 20 WebSocket messages a second from one connection.";
    WS_BUSY = "ws.busy": "A `sync` is already running on this connection.";
}

/// The code of an invalid request value: `validation.<field>`, the field spelled as the
/// request spells it.
pub fn validation(field: &str) -> String {
    format!("validation.{field}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_codes_belong_to_the_validation_family() {
        let family = VALIDATION_FIELD.trim_end_matches("<field>");
        assert_eq!(validation("limit"), format!("{family}limit"));
        assert!(ALL.iter().any(|(c, _)| *c == VALIDATION_FIELD));
    }

    #[test]
    fn codes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for (code, _) in ALL {
            assert!(seen.insert(*code), "{code} is listed twice");
        }
    }
}
