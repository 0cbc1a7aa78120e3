//! Description HTML made safe to render (ammonia allow-list), plus its plain-text form.

use std::borrow::Cow;
use std::collections::HashSet;

use ammonia::{Builder, UrlRelative};
use url::Url;

use super::{allowlist, text};

/// URL schemes kept in links and images.
pub const URL_SCHEMES: [&str; 3] = ["http", "https", "mailto"];
/// The `rel` every link gets.
pub const LINK_REL: &str = "nofollow noopener";

/// A configured sanitizer. Building the allow-list costs more than a small description, so one
/// is built per parse and reused for every item.
pub struct Sanitizer {
    builder: Builder<'static>,
    base: Option<Url>,
}

impl Sanitizer {
    /// Relative links and images resolve against `base`; without a base they are removed.
    pub fn new(base: Option<&Url>) -> Self {
        let mut builder = Builder::default();
        // ammonia's defaults already drop script/style/iframe (content too), event handlers
        // and style attributes; narrow the URL schemes to the ones a job ad needs.
        builder
            .url_schemes(HashSet::from(URL_SCHEMES))
            .link_rel(Some(LINK_REL))
            .strip_comments(true)
            .url_relative(match base {
                Some(b) => UrlRelative::RewriteWithBase(b.clone()),
                None => UrlRelative::Deny,
            });
        Self {
            builder,
            base: base.cloned(),
        }
    }

    /// Sanitizes `raw` HTML capped at `max_chars` (input and output). Returns `None` when
    /// nothing visible is left.
    pub fn html(&self, raw: &str, max_chars: usize) -> Option<String> {
        self.html_inner(raw, max_chars, false).0
    }

    /// [`Sanitizer::html`] and the text form of its result ([`html_to_text`]): in the same
    /// pass when the allow-list rewriter takes the fragment, by reading the result otherwise.
    pub fn html_and_text(&self, raw: &str, max_chars: usize) -> (Option<String>, Option<String>) {
        let (html, fused) = self.html_inner(raw, max_chars, true);
        let text = match fused {
            Some(mut t) => {
                text::truncate_chars(&mut t, max_chars);
                (!t.is_empty()).then_some(t)
            }
            None => html.as_deref().and_then(|h| html_to_text(h, max_chars)),
        };
        (html, text)
    }

    /// The sanitized HTML and, when `want_text` and the rewriter took it, its whole text form.
    fn html_inner(
        &self,
        raw: &str,
        max_chars: usize,
        want_text: bool,
    ) -> (Option<String>, Option<String>) {
        let mut input = text::strip_control(raw);
        if input.len() > max_chars {
            let mut cut = input.into_owned();
            truncate_html(&mut cut, max_chars);
            input = Cow::Owned(cut);
        }
        let limited = match limit_nesting(&input, MAX_HTML_DEPTH) {
            Cow::Owned(flat) => Some(flat),
            Cow::Borrowed(_) => None,
        };
        if let Some(flat) = limited {
            input = Cow::Owned(flat);
        }
        // Cleaning can grow the text (rel attributes, closing tags); shrink the input until the
        // output fits, a few times at most, then fall back to cutting the output's text.
        for _ in 0..4 {
            let (out, fused) = if want_text {
                match self.clean_fast_with_text(&input) {
                    Some((out, text)) => (out, Some(text)),
                    None => (self.clean_ammonia(&input), None),
                }
            } else {
                (self.clean(&input), None)
            };
            // No more bytes than the cap means no more characters.
            let len = if out.len() <= max_chars {
                out.len()
            } else {
                out.chars().count()
            };
            if len <= max_chars {
                return match out.trim().is_empty() {
                    true => (None, None),
                    false => (Some(out), fused),
                };
            }
            let keep = input.chars().count().saturating_mul(max_chars) / len.max(1);
            let mut cut = input.into_owned();
            truncate_html(&mut cut, keep.saturating_sub(16));
            input = Cow::Owned(cut);
        }
        (None, None)
    }

    /// The policy applied to a fragment: the allow-list rewriter when the fragment is in its
    /// subset, ammonia otherwise. Both give the same output on the subset.
    pub fn clean(&self, html: &str) -> String {
        self.clean_fast(html)
            .unwrap_or_else(|| self.clean_ammonia(html))
    }

    /// The allow-list rewriter alone; `None` when the fragment is outside its subset.
    pub fn clean_fast(&self, html: &str) -> Option<String> {
        let policy = allowlist::Policy {
            base: self.base.as_ref(),
            schemes: &URL_SCHEMES,
            link_rel: LINK_REL,
        };
        allowlist::clean(html, &policy)
    }

    /// The allow-list rewriter with the text form of its output, collapsed but not capped.
    pub fn clean_fast_with_text(&self, html: &str) -> Option<(String, String)> {
        let policy = allowlist::Policy {
            base: self.base.as_ref(),
            schemes: &URL_SCHEMES,
            link_rel: LINK_REL,
        };
        let mut text = text::Collapser::with_capacity(html.len());
        let out = allowlist::clean_with_text(html, &policy, &mut text)?;
        Some((out, text.finish()))
    }

    /// Ammonia alone.
    pub fn clean_ammonia(&self, html: &str) -> String {
        self.builder.clean(html).to_string()
    }
}

/// Cuts HTML to `max_chars` without leaving half a tag at the end.
fn truncate_html(html: &mut String, max_chars: usize) {
    let before = html.len();
    text::truncate_chars(html, max_chars);
    if html.len() < before
        && let Some(open) = html.rfind('<')
        && !html[open..].contains('>')
    {
        html.truncate(open);
    }
}

/// Tags nested deeper than this are dropped (their text kept) before html5ever sees them: its
/// tree building slows down sharply with depth, and DOMPurify draws the line at 255 too.
const MAX_HTML_DEPTH: usize = 255;

/// Elements that never have content, so they do not deepen the nesting.
const VOID: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// Drops every tag that opens (or closes) beyond `max_depth`, by a cheap scan that needs no
/// well-formedness: the real parsing is left to ammonia.
fn limit_nesting(html: &str, max_depth: usize) -> Cow<'_, str> {
    // Fewer tags than the cap cannot nest beyond it.
    if memchr::memchr_iter(b'<', html.as_bytes()).count() <= max_depth {
        return Cow::Borrowed(html);
    }
    let mut depth = 0usize;
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut rest_start = 0;
    while let Some(rel) = html[rest_start..].find('<') {
        let start = rest_start + rel;
        let Some(len) = html[start..].find('>') else {
            break;
        };
        let end = start + len + 1;
        let tag = &html[start + 1..end - 1];
        let closing = tag.starts_with('/');
        let bare = tag.trim_start_matches('/');
        let name = &bare[..bare.bytes().take_while(u8::is_ascii_alphanumeric).count()];
        let nests = !name.is_empty()
            && !tag.ends_with('/')
            && !VOID.iter().any(|v| v.eq_ignore_ascii_case(name));
        let too_deep = nests
            && if closing {
                depth > max_depth
            } else {
                depth >= max_depth
            };
        if nests {
            depth = if closing {
                depth.saturating_sub(1)
            } else {
                depth + 1
            };
        }
        if too_deep {
            let buf = out.get_or_insert_with(|| String::with_capacity(html.len()));
            buf.push_str(&html[copied..start]);
            copied = end;
        }
        rest_start = end;
    }
    match out {
        Some(mut buf) => {
            buf.push_str(&html[copied..]);
            Cow::Owned(buf)
        }
        None => Cow::Borrowed(html),
    }
}

/// The readable text of sanitized HTML: block boundaries become line breaks, entities decoded,
/// whitespace collapsed within lines, empty lines dropped. One pass: the text between tags is
/// decoded and fed straight into the line and whitespace collapsing.
pub fn html_to_text(html: &str, max_chars: usize) -> Option<String> {
    let mut out = text::Collapser::with_capacity(html.len());
    let mut rest = html;
    while let Some(pos) = memchr::memchr(b'<', rest.as_bytes()) {
        feed_decoded(&mut out, &rest[..pos]);
        let tag_end =
            memchr::memchr(b'>', &rest.as_bytes()[pos..]).map_or(rest.len(), |e| pos + e + 1);
        let tag = rest[pos..tag_end].trim_start_matches(['<', '/']);
        let name_len = tag.bytes().take_while(u8::is_ascii_alphanumeric).count();
        out.feed(if is_block(&tag[..name_len]) {
            "\n"
        } else {
            " "
        });
        rest = &rest[tag_end..];
    }
    feed_decoded(&mut out, rest);
    let mut out = out.finish();
    text::truncate_chars(&mut out, max_chars);
    (!out.is_empty()).then_some(out)
}

/// Feeds text with its entities decoded; only the part from the first `&` goes through the
/// decoder.
fn feed_decoded(out: &mut text::Collapser, s: &str) {
    match memchr::memchr(b'&', s.as_bytes()) {
        None => out.feed(s),
        Some(amp) => {
            out.feed(&s[..amp]);
            out.feed(&text::decode_entities(&s[amp..]));
        }
    }
}

/// Elements whose boundaries read as line breaks in the text form (any letter case).
pub(super) fn is_block(name: &str) -> bool {
    const BLOCK: [&str; 19] = [
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "table",
        "blockquote",
        "pre",
        "hr",
        "section",
        "article",
    ];
    name.len() <= 10 && BLOCK.iter().any(|b| b.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(raw: &str) -> String {
        let base = Url::parse("https://ex.com/feed").ok();
        Sanitizer::new(base.as_ref())
            .html(raw, 10_000)
            .unwrap_or_default()
    }

    #[test]
    fn scripts_styles_iframes_and_handlers_are_removed() {
        let out = clean(
            "<p onclick=\"x()\" style=\"color:red\">Hi</p><script>alert(1)</script>\
             <style>p{}</style><iframe src=\"https://evil\"></iframe>",
        );
        assert_eq!(out, "<p>Hi</p>");
    }

    #[test]
    fn dangerous_urls_are_dropped_and_links_get_rel_nofollow() {
        let out =
            clean("<a href=\"javascript:alert(1)\">x</a><img src=\"data:image/png;base64,AA\">");
        assert!(
            !out.contains("javascript") && !out.contains("data:"),
            "{out}"
        );
        let out = clean("<a href=\"/apply\">Apply</a>");
        assert_eq!(
            out,
            "<a href=\"https://ex.com/apply\" rel=\"nofollow noopener\">Apply</a>"
        );
    }

    #[test]
    fn output_respects_the_character_cap() {
        let raw = "<p>word</p>".repeat(1000);
        let out = Sanitizer::new(None).html(&raw, 500).unwrap_or_default();
        assert!(!out.is_empty() && out.chars().count() <= 500);
    }

    #[test]
    fn nesting_beyond_the_cap_is_flattened_but_text_survives() {
        let html = format!("{}deep{}", "<b>".repeat(300), "</b>".repeat(300));
        let out = limit_nesting(&html, 255);
        assert_eq!(out.matches("<b>").count(), 255);
        assert_eq!(out.matches("</b>").count(), 255);
        assert!(out.contains("deep"));
        assert!(matches!(
            limit_nesting("<p>a<br>b</p>", 1),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn html_and_text_equals_html_then_its_text_form() {
        let base = Url::parse("https://ex.com/feed").ok();
        let s = Sanitizer::new(base.as_ref());
        let long = "<p>Tom &amp; Jerry&nbsp;&gt; <a href=\"/x\">go</a></p><ul><li>one</li></ul>"
            .repeat(40);
        let cases = [
            // The rewriter's subset.
            "<p>Tom &amp; Jerry&nbsp;&gt; 1 < 2 <a href=\"/x\">go</a></p><ul><li>one</li></ul>",
            // Outside it (ammonia): unknown tag, comment, implied end tag.
            "<section>a<!-- c --><p>b<p>c</section>",
            // Nothing visible.
            "<p> </p>",
            &long,
        ];
        for raw in cases {
            for max in [10_000, 300, 5] {
                let html = s.html(raw, max);
                let text = html.as_deref().and_then(|h| html_to_text(h, max));
                assert_eq!(s.html_and_text(raw, max), (html, text), "{raw:?} at {max}");
            }
        }
    }

    #[test]
    fn text_form_keeps_block_breaks_and_decodes_entities() {
        let text = html_to_text(
            "<p>Tom &amp; Jerry</p><ul><li>one</li><li>two</li></ul>",
            100,
        );
        assert_eq!(text.as_deref(), Some("Tom & Jerry\none\ntwo"));
    }
}
