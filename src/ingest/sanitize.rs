//! Description HTML made safe to render (ammonia allow-list), plus its plain-text form.

use std::collections::HashSet;

use ammonia::{Builder, UrlRelative};
use url::Url;

use super::text;

/// A configured sanitizer. Building the allow-list costs more than a small description, so one
/// is built per parse and reused for every item.
pub struct Sanitizer {
    builder: Builder<'static>,
}

impl Sanitizer {
    /// Relative links and images resolve against `base`; without a base they are removed.
    pub fn new(base: Option<&Url>) -> Self {
        let mut builder = Builder::default();
        // ammonia's defaults already drop script/style/iframe (content too), event handlers
        // and style attributes; narrow the URL schemes to the ones a job ad needs.
        builder
            .url_schemes(HashSet::from(["http", "https", "mailto"]))
            .link_rel(Some("nofollow noopener"))
            .strip_comments(true)
            .url_relative(match base {
                Some(b) => UrlRelative::RewriteWithBase(b.clone()),
                None => UrlRelative::Deny,
            });
        Self { builder }
    }

    /// Sanitizes `raw` HTML capped at `max_chars` (input and output). Returns `None` when
    /// nothing visible is left.
    pub fn html(&self, raw: &str, max_chars: usize) -> Option<String> {
        let raw = text::strip_control(raw);
        let mut input = raw.into_owned();
        text::truncate_chars(&mut input, max_chars);
        // Cleaning can grow the text (rel attributes, closing tags); shrink the input until the
        // output fits, a few times at most, then fall back to cutting the output's text.
        for _ in 0..4 {
            let out = self.builder.clean(&input).to_string();
            let len = out.chars().count();
            if len <= max_chars {
                return (!out.trim().is_empty()).then_some(out);
            }
            let keep = input.chars().count().saturating_mul(max_chars) / len.max(1);
            text::truncate_chars(&mut input, keep.saturating_sub(16));
        }
        None
    }
}

/// The readable text of sanitized HTML: block boundaries become line breaks, entities decoded,
/// whitespace collapsed within lines.
pub fn html_to_text(html: &str, max_chars: usize) -> Option<String> {
    let mut with_breaks = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(pos) = rest.find('<') {
        with_breaks.push_str(&rest[..pos]);
        let tag_end = rest[pos..].find('>').map_or(rest.len(), |e| pos + e + 1);
        let tag = rest[pos..tag_end].to_ascii_lowercase();
        let name: String = tag
            .trim_start_matches(['<', '/'])
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        let block = matches!(
            name.as_str(),
            "p" | "div"
                | "br"
                | "li"
                | "ul"
                | "ol"
                | "h1"
                | "h2"
                | "h3"
                | "h4"
                | "h5"
                | "h6"
                | "tr"
                | "table"
                | "blockquote"
                | "pre"
                | "hr"
                | "section"
                | "article"
        );
        with_breaks.push(if block { '\n' } else { ' ' });
        rest = &rest[tag_end..];
    }
    with_breaks.push_str(rest);
    let decoded = text::decode_entities(&with_breaks);
    let lines: Vec<String> = decoded
        .lines()
        .map(text::collapse_whitespace)
        .filter(|l| !l.is_empty())
        .collect();
    let mut out = lines.join("\n");
    text::truncate_chars(&mut out, max_chars);
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(raw: &str) -> String {
        let base = Url::parse("https://ex.com/feed").unwrap();
        Sanitizer::new(Some(&base))
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
    fn text_form_keeps_block_breaks_and_decodes_entities() {
        let text = html_to_text(
            "<p>Tom &amp; Jerry</p><ul><li>one</li><li>two</li></ul>",
            100,
        );
        assert_eq!(text.as_deref(), Some("Tom & Jerry\none\ntwo"));
    }
}
