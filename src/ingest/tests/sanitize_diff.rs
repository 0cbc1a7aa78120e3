//! The allow-list rewriter against ammonia: on every input either the rewriter declines or
//! both give the same bytes. Inputs: an XSS corpus, the descriptions of every fixture feed,
//! generated feeds, and random fragments mixing allowed and forbidden markup.

use std::ops::ControlFlow;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{fixture, opts};
use crate::ingest::feedgen;
use crate::ingest::parse_raw;
use crate::ingest::sanitize::{Sanitizer, html_to_text};

fn sanitizers() -> [Sanitizer; 2] {
    let base = url::Url::parse("https://jobs.example.com/feed/").ok();
    [Sanitizer::new(base.as_ref()), Sanitizer::new(None)]
}

/// Checks one input under both policies; returns whether the rewriter took it.
fn same(html: &str) -> bool {
    let mut fast = false;
    for s in sanitizers() {
        if let Some((out, text)) = s.clean_fast_with_text(html) {
            assert_eq!(out, s.clean_ammonia(html), "input: {html:?}");
            assert_eq!(
                Some(text).filter(|t| !t.is_empty()),
                html_to_text(&out, usize::MAX),
                "text form of {html:?}"
            );
            fast = true;
        }
    }
    fast
}

const XSS: &[&str] = &[
    "<script>alert(1)</script>",
    "<p>x</p><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<img src=\"x\" onerror=\"alert(1)\">",
    "<img src=\"javascript:alert(1)\">",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
    "<a href=\"java\tscript:alert(1)\">x</a>",
    "<a href=\"java&#x09;script:alert(1)\">x</a>",
    "<a href=\"&#106;avascript:alert(1)\">x</a>",
    "<a href=\" javascript:alert(1)\">x</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
    "<a href=\"vbscript:msgbox(1)\">x</a>",
    "<a href=\"https://ok.example/\" onclick=\"alert(1)\">x</a>",
    "<a href='https://ok.example/' onmouseover='alert(1)'>x</a>",
    "<p style=\"background:url(javascript:alert(1))\">x</p>",
    "<div onmouseover=\"alert(1)\">x</div>",
    "<iframe src=\"https://evil.example\"></iframe>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mi><a href=\"javascript:alert(1)\">x</a></mi></math>",
    "<svg><iframe><a title=\"</iframe><img src onerror=alert(1)>\">test",
    "<object data=\"javascript:alert(1)\"></object>",
    "<embed src=\"javascript:alert(1)\">",
    "<form action=\"javascript:alert(1)\"><input type=submit></form>",
    "<body onload=alert(1)>",
    "<style>@import 'javascript:alert(1)';</style>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<link rel=\"stylesheet\" href=\"javascript:alert(1)\">",
    "<base href=\"javascript:alert(1)//\">",
    "<!--<script>alert(1)</script>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    "<scr<script>ipt>alert(1)</script>",
    "<<script>alert(1)//<</script>",
    "<p title=\"a&quot;onmouseover=&quot;alert(1)\">x</p>",
    "<p title='\"><script>alert(1)</script>'>x</p>",
    "<a href=\"https://ok.example/\" title=\"&lt;script&gt;alert(1)&lt;/script&gt;\">x</a>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<p>&lt;img src=x onerror=alert(1)&gt;</p>",
    "<img src=\"https://ok.example/x.png\" alt=\"x\" onerror=\"alert(1)\">",
    "<img src=\"/x.png\">",
    "<a href=\"//evil.example/\">x</a>",
    "<a href=\"mailto:jobs@example.com\">mail</a>",
    "<a href=\"tel:+15555555\">call</a>",
    "<a href=\"https://ok.example/\" rel=\"opener\" target=\"_blank\">x</a>",
    "<textarea><script>alert(1)</script></textarea>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>",
    "<xmp><script>alert(1)</script></xmp>",
    "<table><tr><td>x<script>alert(1)</script></td></tr></table>",
    "<a href=\"https://ok.example/\"><a href=\"javascript:alert(1)\">x</a></a>",
    "<p><div onclick=alert(1)>x</div></p>",
    "<b><p>x</b></p>",
    "<A HREF=\"javascript:alert(1)\">x</A>",
    "<IMG SRC=javascript:alert(1)>",
    "<p>a\0b</p><script>alert(1)</script>",
    "<p>line\r\nbreak</p>",
    "\u{feff}<p>bom</p>",
    "<a href=\"https://ok.example/&#x0;\">x</a>",
    "<a href=\"https://ok.example/\u{0}\">x</a>",
    "<p>&#0;&#x110000;&#xD800;&#128;&#1;</p>",
    "<p>&copy &amp &lt;b&gt; &notanentity; &amp;amp;</p>",
    "<br/><br /><hr/><p/>",
    "</p>x</div>",
    "<ul><li>a<li>b</ul>",
    "<ul>x<li>a</li></ul>",
];

/// No element of the output can run script: every `<` left in text is escaped, so each tag
/// found is a real one.
fn assert_safe(input: &str, out: &str) {
    let lower = out.to_lowercase();
    for tag in lower.split('<').skip(1) {
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        assert!(
            ![
                "script", "style", "iframe", "svg", "math", "object", "embed", "form", "base"
            ]
            .contains(&name.as_str()),
            "{input:?} -> {out:?}"
        );
        // Serialized attributes are ` name="value"` with every `"` in a value escaped.
        let mut rest = &tag[tag.find(char::is_whitespace).unwrap_or(tag.len())..];
        while let Some((name, after)) = rest.trim_start().split_once("=\"") {
            let (value, after) = after.split_once('"').unwrap_or((after, ""));
            assert!(!name.starts_with("on"), "{input:?} -> {out:?}");
            if name == "href" || name == "src" {
                assert!(
                    value.starts_with("http") || value.starts_with("mailto:"),
                    "{input:?} -> {out:?}"
                );
            }
            rest = after;
        }
    }
}

#[test]
fn xss_corpus_gives_ammonias_output_and_nothing_dangerous() {
    for html in XSS {
        same(html);
        for s in sanitizers() {
            let out = s.clean(html);
            assert_safe(html, &out);
        }
    }
    // The corpus exercises both paths.
    assert!(XSS.iter().filter(|h| same(h)).count() >= 10);
    assert!(XSS.iter().filter(|h| !same(h)).count() >= 20);
}

/// Every description and summary of a feed.
fn descriptions(feed: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    parse_raw(feed, &opts("https://feeds.example.net/"), &mut |raw| {
        if let Ok(r) = raw {
            out.extend(r.content.into_iter().chain(r.summary));
        }
        ControlFlow::Continue(())
    });
    out
}

#[test]
fn fixture_feed_descriptions_give_ammonias_output() {
    let feeds: [&[u8]; 11] = [
        fixture!("arbeitnow-api.json"),
        fixture!("atom_jobs.xml"),
        fixture!("himalayas-api.json"),
        fixture!("jobicy-api-v2.json"),
        fixture!("jobicy_wpjm.xml"),
        fixture!("json_feed_1_1.json"),
        fixture!("latin1_windows1252.xml"),
        fixture!("rdf_rss1.xml"),
        fixture!("remoteok-api.json"),
        fixture!("remotive-api.json"),
        fixture!("weworkremotely-rss.xml"),
    ];
    let mut total = 0;
    for feed in feeds {
        for d in descriptions(feed) {
            same(&d);
            total += 1;
        }
    }
    assert!(total > 30, "only {total} descriptions");
}

#[test]
fn generated_descriptions_take_the_fast_path_with_ammonias_output() {
    let mut feed = Vec::new();
    feedgen::write_wpjm_feed(&mut feed, 20).unwrap_or_default();
    let all = descriptions(&feed);
    assert_eq!(all.len(), 40);
    for d in all {
        assert!(same(&d), "not taken: {d:?}");
    }
}

/// Pieces random fragments are built from: allowed and forbidden tags, good and bad
/// attributes, entities of every kind, text with special characters.
const PIECES: &[&str] = &[
    "<p>",
    "</p>",
    "<div>",
    "</div>",
    "<ul>",
    "</ul>",
    "<ol>",
    "</ol>",
    "<li>",
    "</li>",
    "<h3>",
    "</h3>",
    "<h1 title=\"t\">",
    "</h1>",
    "<strong>",
    "</strong>",
    "<em>",
    "</em>",
    "<b>",
    "</b>",
    "<i>",
    "</i>",
    "<a href=\"https://ex.com/a?b=1&amp;c=2\">",
    "<a href=\"/rel/path\">",
    "<a href=\"javascript:alert(1)\">",
    "<a href=\"\">",
    "<a href=\"mailto:x@y.z\">",
    "<a href=\"ftp://x\">",
    "<a href=\"https://ex.com\" target=\"_blank\" rel=\"x\">",
    "<a href=\"http://[::1\">",
    "<a href=\"rel&#32;x\">",
    "<a name=\"x\" href='//h.example/'>",
    "</a>",
    "<span lang=\"en\" class=\"c\" id=\"i\">",
    "</span>",
    "<br>",
    "<br/>",
    "<br />",
    "</br>",
    "<hr>",
    "<img src=\"x.png\" alt=\"a&quot;b\" onerror=\"alert(1)\">",
    "<img src=\"data:image/png,x\">",
    "<img src='https://ex.com/i.png' width=\"10\">",
    "<blockquote cite=\"https://ex.com\">",
    "</blockquote>",
    "<code>",
    "</code>",
    "<pre>",
    "</pre>",
    "<table>",
    "<tr>",
    "<td>",
    "</td>",
    "</tr>",
    "</table>",
    "<script>",
    "</script>",
    "<style>",
    "</style>",
    "<iframe>",
    "</iframe>",
    "<font color=\"red\">",
    "</font>",
    "<section>",
    "</section>",
    "<svg>",
    "</svg>",
    "<math>",
    "</math>",
    "<!-- c -->",
    "<![CDATA[x]]>",
    "<!DOCTYPE html>",
    "<?pi x?>",
    "<P>",
    "</P>",
    "<p/>",
    "<p class=x>",
    "<p title=\"a\" title=\"b\">",
    "<p\ttitle='x'\n lang=\"fr\">",
    "<q cite=\"/x\">",
    "</q>",
    "<del datetime=\"2020\">",
    "</del>",
    "<sub>",
    "</sub>",
    "<wbr>",
    "<li value=\"3\">",
    "&amp;",
    "&lt;",
    "&gt;",
    "&quot;",
    "&apos;",
    "&nbsp;",
    "&euro;",
    "&hellip;",
    "&#8211;",
    "&#x2014;",
    "&#38;",
    "&#60;",
    "&#0;",
    "&#128;",
    "&#xFFFF;",
    "&copy",
    "&amp",
    "&bogus;",
    "&",
    "& ",
    "&#",
    "&#x;",
    "R&D",
    "<",
    "< 5",
    "<3",
    ">",
    "a > b",
    "\u{a0}",
    "\u{e9}",
    "\u{fffd}",
    "\r",
    "\r\n",
    "\0",
    "\u{1}",
    "\t",
    "\n",
    "  ",
    "text",
    "more words here",
    "\"quoted\"",
    "'single'",
    "=",
    "/",
    "\u{feff}",
    "\u{202e}",
];

/// Text between balanced tags: mostly plain, sometimes a reference or a stray character.
const TEXT: &[&str] = &[
    "text",
    "more words here",
    " ",
    "\n",
    "a &amp; b",
    "&lt;tag&gt;",
    "&nbsp;",
    "\u{a0}",
    "&#8211;",
    "&euro;5",
    "caf\u{e9}",
    "R&D",
    "x < y",
    "a > b",
    "&copy;",
    "\"q\"",
    "&bogus;",
    "<br>",
    "<br/>",
    "<img src=\"/i.png\" alt=\"i\">",
    "Q&amp;A",
    "5 &lt; 6",
    "a\tb",
];

fn fragment(rng: &mut StdRng) -> String {
    let n = rng.random_range(1..24);
    (0..n)
        .map(|_| PIECES[rng.random_range(0..PIECES.len())])
        .collect()
}

/// A fragment that is well-formed more often: balanced pairs of allowed tags around text,
/// blocks only where blocks may go, with now and then a piece the rewriter must refuse.
fn balanced(rng: &mut StdRng, depth: usize, inline: bool) -> String {
    const BLOCKS: &[(&str, &str)] = &[
        ("<p>", "</p>"),
        ("<div>", "</div>"),
        ("<ul><li>", "</li></ul>"),
        ("<ul>\n<li>", "</li>\n<li>x</li>\n</ul>"),
        ("<h2>", "</h2>"),
        ("<blockquote cite=\"https://ex.com/q\">", "</blockquote>"),
        ("<ol start=\"2\"><li>", "</li></ol>"),
    ];
    const INLINES: &[(&str, &str)] = &[
        ("<strong>", "</strong>"),
        ("<em>", "</em>"),
        ("<b>", "</b>"),
        ("<a href=\"/x?a=1&amp;b=2\">", "</a>"),
        (
            "<a href=\"https://ex.com/\u{e9}\" title=\"t&amp;t\" target=\"_blank\">",
            "</a>",
        ),
        ("<a href=\"javascript:alert(1)\" onclick=\"x()\">", "</a>"),
        ("<span lang=\"de\" class=\"c\">", "</span>"),
        ("<code>", "</code>"),
        ("<sup>", "</sup>"),
    ];
    let mut out = String::new();
    for _ in 0..rng.random_range(1..4) {
        if rng.random_bool(0.02) {
            out.push_str(PIECES[rng.random_range(0..PIECES.len())]);
        } else {
            out.push_str(TEXT[rng.random_range(0..TEXT.len())]);
        }
        if depth < 5 && rng.random_bool(0.6) {
            let block = !inline && rng.random_bool(0.5);
            let (open, close) = if block {
                BLOCKS[rng.random_range(0..BLOCKS.len())]
            } else {
                INLINES[rng.random_range(0..INLINES.len())]
            };
            let inner_inline = !block || open.starts_with("<p") || open.starts_with("<h");
            out.push_str(open);
            out.push_str(&balanced(rng, depth + 1, inner_inline));
            out.push_str(close);
        }
    }
    out
}

#[test]
fn random_fragments_give_ammonias_output_whenever_the_rewriter_takes_them() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let (mut taken, mut total) = (0, 0);
    // More cases for a longer local run: SANITIZE_DIFF_CASES=1000000.
    let cases = std::env::var("SANITIZE_DIFF_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(6000);
    for i in 0..cases {
        let html = if i % 2 == 0 {
            fragment(&mut rng)
        } else {
            balanced(&mut rng, 0, false)
        };
        total += 1;
        if same(&html) {
            taken += 1;
        }
    }
    println!("fast path taken for {taken} of {total} fragments");
    // Both paths are exercised, so the comparison means something.
    assert!(taken > total / 4, "fast path taken {taken} of {total}");
    assert!(taken < total, "fast path taken {taken} of {total}");
}

/// The text form as first written (tags to breaks or spaces, decode, split lines, collapse,
/// join): the single-pass [`html_to_text`] must match it.
fn html_to_text_reference(html: &str, max_chars: usize) -> Option<String> {
    use crate::ingest::text;
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

#[test]
fn single_pass_text_form_matches_the_reference() {
    use crate::ingest::sanitize::html_to_text;
    let mut rng = StdRng::seed_from_u64(7);
    let mut inputs: Vec<String> = XSS.iter().map(|s| (*s).to_owned()).collect();
    let mut feed = Vec::new();
    feedgen::write_wpjm_feed(&mut feed, 3).unwrap_or_default();
    inputs.extend(descriptions(&feed));
    inputs.extend(descriptions(fixture!("weworkremotely-rss.xml")));
    for i in 0..3000 {
        inputs.push(if i % 2 == 0 {
            fragment(&mut rng)
        } else {
            balanced(&mut rng, 0, false)
        });
    }
    inputs.push("a\u{2028}b\u{a0}\u{a0}c\n\n  d \r\n e\u{b}f\u{85}".into());
    let s = &sanitizers()[0];
    for html in &inputs {
        for h in [html.clone(), s.clean_ammonia(html)] {
            for cap in [10_000, 7] {
                assert_eq!(
                    html_to_text(&h, cap),
                    html_to_text_reference(&h, cap),
                    "{h:?}"
                );
            }
        }
    }
}
