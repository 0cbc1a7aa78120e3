//! Typed checks of query values shared by the routes; each failure is a 400 naming its field.

use super::error::ApiError;
use crate::domain::codes;

/// Largest page any list serves.
pub const MAX_LIMIT: u64 = 100;
/// Deepest page offset served (`page * limit`); deeper lists use the cursor.
pub const MAX_PAGE: u64 = 10_000;

pub fn page(v: Option<u64>) -> Result<u64, ApiError> {
    let page = v.unwrap_or(1);
    if page == 0 || page > MAX_PAGE {
        return Err(ApiError::bad_request(
            &codes::validation("page"),
            format!("`page` is between 1 and {MAX_PAGE}"),
        ));
    }
    Ok(page)
}

pub fn limit(v: Option<u64>, default: u64) -> Result<u64, ApiError> {
    let limit = v.unwrap_or(default);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(
            &codes::validation("limit"),
            format!("`limit` is between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok(limit)
}

/// An RFC 3339 time, as the fixed-width UTC string the store compares with.
pub fn timestamp(key: &str, v: Option<&str>) -> Result<Option<String>, ApiError> {
    v.map(|raw| {
        chrono::DateTime::parse_from_rfc3339(raw)
            .map(|t| crate::domain::time::format(&t.with_timezone(&chrono::Utc)))
            .map_err(|_| {
                ApiError::bad_request(
                    &codes::validation(key),
                    format!("`{key}` must be an RFC 3339 time, e.g. 2026-11-30T05:00:00Z"),
                )
            })
    })
    .transpose()
}

/// Ids of sources and runs: letters, digits, `-` and `_`.
pub fn id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub fn id(key: &str, v: Option<&str>) -> Result<Option<String>, ApiError> {
    match v {
        Some(s) if !id_ok(s) => Err(ApiError::bad_request(
            &codes::validation(key),
            format!("`{key}` is an id (letters, digits, '-', '_')"),
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

/// Free text: at most `max` characters, no control characters; empty means absent.
pub fn text(key: &str, v: Option<&str>, max: usize) -> Result<Option<String>, ApiError> {
    let Some(raw) = v.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if raw.chars().count() > max || raw.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            &codes::validation(key),
            format!("`{key}` is at most {max} printable characters"),
        ));
    }
    Ok(Some(raw.to_owned()))
}

/// One value out of a fixed list.
pub fn one_of(key: &str, v: Option<&str>, allowed: &[&str]) -> Result<Option<String>, ApiError> {
    match v {
        Some(s) if !allowed.contains(&s) => Err(ApiError::bad_request(
            &codes::validation(key),
            format!("`{key}` is one of {}", allowed.join(", ")),
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_outside_their_range_name_their_field() {
        let code = |r: Result<u64, ApiError>| r.err().map(|e| e.code);
        assert_eq!(code(page(Some(0))).as_deref(), Some("validation.page"));
        assert_eq!(
            code(limit(Some(101), 20)).as_deref(),
            Some("validation.limit")
        );
        assert_eq!(limit(None, 20).ok(), Some(20));
        assert!(timestamp("from", Some("yesterday")).is_err());
        assert_eq!(
            timestamp("from", Some("2026-11-30T06:00:00+01:00"))
                .ok()
                .flatten()
                .as_deref(),
            Some("2026-11-30T05:00:00.000Z")
        );
        assert!(id("source", Some("a{$gt}")).is_err());
        assert!(text("q", Some("a\u{0}b"), 10).is_err());
        assert_eq!(text("q", Some("  "), 10).ok(), Some(None));
        assert!(one_of("status", Some("x"), &["open"]).is_err());
    }
}
