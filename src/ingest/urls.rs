//! Link normalization: every stored URL is absolute http(s), resolved against the feed's base;
//! ids derived from links lose their tracking parameters.

use std::borrow::Cow;

use url::Url;

use super::text::nfc;

/// Query parameters that only say where a click came from. Exact names; `utm_*` is a prefix.
const TRACKING_PARAMS: [&str; 11] = [
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "mc_cid",
    "mc_eid", "_hsenc",
];

fn is_tracking_param(pair: &str) -> bool {
    let key = pair.split('=').next().unwrap_or(pair);
    let key = key.to_ascii_lowercase();
    key.starts_with("utm_") || TRACKING_PARAMS.contains(&key.as_str())
}

/// The form of an absolute http(s) URL used as an item's identity: tracking parameters
/// removed, and a fragment removed when it carries parameters (`#utm_source=x`, `#xtor=RSS-1`,
/// `#:~:text=`). A plain anchor (`#job-12`) is kept: single-page boards tell their items apart
/// by it. Other parameters keep their exact spelling and order. Anything that is not an
/// http(s) URL is returned unchanged.
pub fn identity(id: &str) -> Cow<'_, str> {
    let is_url = id.starts_with("http://") || id.starts_with("https://");
    if !is_url || !(id.contains('?') || id.contains('#')) {
        return Cow::Borrowed(id);
    }
    let (rest, fragment) = match id.split_once('#') {
        Some((r, f)) if f.contains('=') || f.is_empty() => (r, None),
        Some((r, f)) => (r, Some(f)),
        None => (id, None),
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let kept: Vec<&str> = query
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty() && !is_tracking_param(p))
                .collect()
        })
        .unwrap_or_default();
    let mut out = path.to_owned();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    if out == id {
        Cow::Borrowed(id)
    } else {
        Cow::Owned(out)
    }
}

/// Resolves `raw` against `base` and keeps it only if it is http(s) and within `max_chars`.
/// `javascript:`, `data:` and every other scheme are dropped, as are unresolvable relatives.
pub fn absolute_http(raw: &str, base: Option<&Url>, max_chars: usize) -> Option<String> {
    // Printable ASCII, as links nearly always are, is NFC and has no control characters.
    let raw: Cow<'_, str> = if raw.bytes().all(|b| (b' '..0x7f).contains(&b)) {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(nfc(raw).chars().filter(|c| !c.is_control()).collect())
    };
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
    fn identity_drops_tracking_parameters_and_parameter_fragments_only() {
        let cases = [
            (
                "https://ex.com/job/1?utm_source=rss&utm_medium=feed",
                "https://ex.com/job/1",
            ),
            (
                "https://ex.com/?p=12&UTM_Campaign=x&fbclid=abc",
                "https://ex.com/?p=12",
            ),
            (
                "https://ex.com/job/1#utm_source=rss",
                "https://ex.com/job/1",
            ),
            ("https://ex.com/job/1#xtor=RSS-1", "https://ex.com/job/1"),
            ("https://ex.com/jobs#job-12", "https://ex.com/jobs#job-12"),
            (
                "https://ex.com/?a=1&b=%20x+y",
                "https://ex.com/?a=1&b=%20x+y",
            ),
            ("urn:uuid:1234?utm_source=x", "urn:uuid:1234?utm_source=x"),
        ];
        for (raw, want) in cases {
            assert_eq!(identity(raw), want, "{raw}");
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
