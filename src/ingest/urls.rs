//! Link normalization: every stored URL is absolute http(s), resolved against the feed's base.

use url::Url;

/// Resolves `raw` against `base` and keeps it only if it is http(s) and within `max_chars`.
/// `javascript:`, `data:` and every other scheme are dropped, as are unresolvable relatives.
pub fn absolute_http(raw: &str, base: Option<&Url>, max_chars: usize) -> Option<String> {
    let raw: String = raw.chars().filter(|c| !c.is_control()).collect();
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let parsed = match Url::parse(raw) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => base?.join(raw).ok()?,
        Err(_) => return None,
    };
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return None;
    }
    let out = String::from(parsed);
    // A truncated URL points somewhere else; drop it instead.
    (out.chars().count() <= max_chars).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://ex.com/feeds/jobs.rss").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn relative_links_resolve_against_the_base() {
        let b = base();
        assert_eq!(
            absolute_http("/jobs/1", Some(&b), 100).as_deref(),
            Some("https://ex.com/jobs/1")
        );
        assert_eq!(
            absolute_http("jobs/1", Some(&b), 100).as_deref(),
            Some("https://ex.com/feeds/jobs/1")
        );
        assert_eq!(
            absolute_http("//cdn.example/x", Some(&b), 100).as_deref(),
            Some("https://cdn.example/x")
        );
        assert_eq!(absolute_http("/jobs/1", None, 100), None);
    }

    #[test]
    fn non_http_schemes_are_dropped() {
        let b = base();
        for raw in [
            "javascript:alert(1)",
            "data:text/html,<b>x</b>",
            "ftp://ex.com/x",
            "  ",
        ] {
            assert_eq!(absolute_http(raw, Some(&b), 100), None, "{raw}");
        }
    }

    #[test]
    fn spaces_are_percent_encoded_and_long_urls_dropped() {
        assert_eq!(
            absolute_http("https://ex.com/a b", None, 100).as_deref(),
            Some("https://ex.com/a%20b")
        );
        assert_eq!(absolute_http("https://ex.com/aaaaaaaa", None, 10), None);
    }
}
