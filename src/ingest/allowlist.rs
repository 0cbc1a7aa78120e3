//! A streaming allow-list rewriter for the HTML most job descriptions are made of: known tags,
//! properly nested, quoted attributes, known entities. For such input it writes exactly what
//! the ammonia policy of [`super::sanitize::Sanitizer`] writes, in one pass and without
//! building a tree. For anything else it returns `None` and the caller runs ammonia: unknown
//! or upper-case tags, implied or misnested end tags, comments, CDATA, doctypes, processing
//! instructions, unquoted or duplicate attributes, unknown entities, references without `;`,
//! control characters the HTML parser rewrites (NUL, CR), a leading BOM.
//!
//! Why the subset is exact: with every element closed by its own end tag, inline elements
//! holding only inline content and text, `p` and headings holding only inline content, list
//! items only directly in `ul`/`ol`, and no `a` inside `a`, the HTML tree builder never closes,
//! reopens, reparents or reorders anything: the tree is the tag sequence. Ammonia then keeps
//! the allowed attributes in source order, checks URL schemes, resolves relative URLs against
//! the base and appends `rel` to links; the serializer escapes `&`, `<`, `>`, U+00A0 (and `"`
//! in attributes). This module does the same steps on the token stream. The differential
//! tests in `tests/sanitize_diff.rs` and the fuzz target `sanitize_diff` compare the two.

use url::Url;

use super::sanitize::is_block;
use super::text::Collapser;

/// How an element takes part in nesting.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Phrasing content: holds only inline elements and text.
    Inline,
    /// An inline element without content (`br`, `img`, `wbr`).
    InlineVoid,
    /// `p` and headings: blocks that hold only inline content.
    Para,
    /// `div`, `blockquote`: blocks that hold anything.
    Flow,
    /// `ul`, `ol`.
    List,
    /// `li`, only directly inside a list.
    Item,
    /// `hr`: a block without content.
    BlockVoid,
}

/// Tags of the subset, with the attributes ammonia's default policy keeps on each (besides
/// the generic `lang` and `title`).
fn tag(name: &str) -> Option<(&'static str, Kind, &'static [&'static str])> {
    use Kind::*;
    const NONE: &[&str] = &[];
    Some(match name {
        "a" => ("a", Inline, &["href", "hreflang"]),
        "abbr" => ("abbr", Inline, NONE),
        "b" => ("b", Inline, NONE),
        "cite" => ("cite", Inline, NONE),
        "code" => ("code", Inline, NONE),
        "del" => ("del", Inline, &["cite", "datetime"]),
        "dfn" => ("dfn", Inline, NONE),
        "em" => ("em", Inline, NONE),
        "i" => ("i", Inline, NONE),
        "ins" => ("ins", Inline, &["cite", "datetime"]),
        "kbd" => ("kbd", Inline, NONE),
        "mark" => ("mark", Inline, NONE),
        "q" => ("q", Inline, &["cite"]),
        "s" => ("s", Inline, NONE),
        "samp" => ("samp", Inline, NONE),
        "small" => ("small", Inline, NONE),
        "span" => ("span", Inline, NONE),
        "strike" => ("strike", Inline, NONE),
        "strong" => ("strong", Inline, NONE),
        "sub" => ("sub", Inline, NONE),
        "sup" => ("sup", Inline, NONE),
        "tt" => ("tt", Inline, NONE),
        "u" => ("u", Inline, NONE),
        "var" => ("var", Inline, NONE),
        "br" => ("br", InlineVoid, NONE),
        "wbr" => ("wbr", InlineVoid, NONE),
        "img" => (
            "img",
            InlineVoid,
            &["align", "alt", "height", "src", "width"],
        ),
        "p" => ("p", Para, NONE),
        "h1" => ("h1", Para, NONE),
        "h2" => ("h2", Para, NONE),
        "h3" => ("h3", Para, NONE),
        "h4" => ("h4", Para, NONE),
        "h5" => ("h5", Para, NONE),
        "h6" => ("h6", Para, NONE),
        "div" => ("div", Flow, NONE),
        "blockquote" => ("blockquote", Flow, &["cite"]),
        "ul" => ("ul", List, NONE),
        "ol" => ("ol", List, &["start"]),
        "li" => ("li", Item, NONE),
        "hr" => ("hr", BlockVoid, &["align", "size", "width"]),
        _ => return None,
    })
}

/// Named references the rewriter decodes; any other name falls back to ammonia.
const ENTITIES: [&str; 36] = [
    "amp", "lt", "gt", "quot", "apos", "nbsp", "euro", "pound", "yen", "cent", "copy", "reg",
    "trade", "hellip", "ndash", "mdash", "lsquo", "rsquo", "ldquo", "rdquo", "sbquo", "bdquo",
    "bull", "middot", "laquo", "raquo", "deg", "times", "divide", "plusmn", "para", "sect",
    "eacute", "egrave", "agrave", "ccedil",
];

/// Names the HTML tokenizer also recognises without a `;` (WHATWG's legacy list).
const LEGACY_ENTITIES: [&str; 106] = [
    "AElig", "AMP", "Aacute", "Acirc", "Agrave", "Aring", "Atilde", "Auml", "COPY", "Ccedil",
    "ETH", "Eacute", "Ecirc", "Egrave", "Euml", "GT", "Iacute", "Icirc", "Igrave", "Iuml", "LT",
    "Ntilde", "Oacute", "Ocirc", "Ograve", "Oslash", "Otilde", "Ouml", "QUOT", "REG", "THORN",
    "Uacute", "Ucirc", "Ugrave", "Uuml", "Yacute", "aacute", "acirc", "acute", "aelig", "agrave",
    "amp", "aring", "atilde", "auml", "brvbar", "ccedil", "cedil", "cent", "copy", "curren", "deg",
    "divide", "eacute", "ecirc", "egrave", "eth", "euml", "frac12", "frac14", "frac34", "gt",
    "iacute", "icirc", "iexcl", "igrave", "iquest", "iuml", "laquo", "lt", "macr", "micro",
    "middot", "nbsp", "not", "ntilde", "oacute", "ocirc", "ograve", "ordf", "ordm", "oslash",
    "otilde", "ouml", "para", "plusmn", "pound", "quot", "raquo", "reg", "sect", "shy", "sup1",
    "sup2", "sup3", "szlig", "thorn", "times", "uacute", "ucirc", "ugrave", "uml", "uuml",
    "yacute", "yen", "yuml",
];

/// Elements nested deeper than this fall back (ammonia's input is already capped at 255).
const MAX_DEPTH: usize = 128;
/// Attributes per tag the rewriter tracks for duplicates.
const MAX_ATTRS: usize = 16;

/// What the rewriter needs of the policy: the base for relative URLs (none: they are
/// dropped), the allowed URL schemes and the `rel` value added to links.
pub struct Policy<'a> {
    pub base: Option<&'a Url>,
    pub schemes: &'a [&'a str],
    pub link_rel: &'a str,
}

/// Finds the next special byte with two vectorized searches (markup bytes; NUL, CR and the
/// lead byte of U+00A0), each result kept until the scan passes it, so no byte is searched
/// twice.
struct Specials<'h> {
    hay: &'h [u8],
    markup: Option<usize>,
    other: Option<usize>,
}

impl<'h> Specials<'h> {
    fn new(hay: &'h [u8]) -> Self {
        Self {
            hay,
            markup: None,
            other: None,
        }
    }

    /// The index of the first special byte at or after `i`, or the length.
    fn next(&mut self, i: usize) -> usize {
        let hay = self.hay;
        let find = |slot: &mut Option<usize>, (a, b, c): (u8, u8, u8)| match *slot {
            Some(p) if p >= i => p,
            _ => {
                let p = memchr::memchr3(a, b, c, &hay[i..]).map_or(hay.len(), |p| i + p);
                *slot = Some(p);
                p
            }
        };
        let markup = find(&mut self.markup, (b'<', b'>', b'&'));
        let other = find(&mut self.other, (0, b'\r', 0xC2));
        markup.min(other)
    }
}

/// Rewrites `html` under `policy`, or returns `None` when the input is outside the subset.
pub fn clean(html: &str, policy: &Policy<'_>) -> Option<String> {
    clean_into(html, policy, None)
}

/// [`clean`], also feeding `text` what [`super::sanitize::html_to_text`] would read from the
/// output (decoded text, a line break or space per tag), so the text form needs no second pass.
pub fn clean_with_text(html: &str, policy: &Policy<'_>, text: &mut Collapser) -> Option<String> {
    clean_into(html, policy, Some(text))
}

fn feed(text: &mut Option<&mut Collapser>, s: &str) {
    if let Some(t) = text.as_deref_mut() {
        t.feed(s);
    }
}

/// What a tag reads as in the text form.
fn tag_break(name: &str) -> &'static str {
    if is_block(name) { "\n" } else { " " }
}

fn clean_into(html: &str, policy: &Policy<'_>, mut text: Option<&mut Collapser>) -> Option<String> {
    if html.starts_with('\u{feff}') {
        return None;
    }
    let bytes = html.as_bytes();
    let mut out = String::with_capacity(html.len() + html.len() / 8);
    let mut stack: Vec<(&'static str, Kind)> = Vec::new();
    // Open inline elements, `p` and headings: no block may start inside them.
    let mut phrasing = 0usize;
    let mut in_link = false;
    let mut specials = Specials::new(bytes);
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        i = specials.next(i);
        out.push_str(&html[start..i]);
        feed(&mut text, &html[start..i]);
        let Some(&b) = bytes.get(i) else { break };
        match b {
            b'>' => {
                out.push_str("&gt;");
                feed(&mut text, ">");
                i += 1;
            }
            0xC2 => {
                // A two-byte sequence; U+00A0 is written as `&nbsp;`.
                let ch = html.get(i..i + 2)?;
                if ch == "\u{a0}" {
                    out.push_str("&nbsp;");
                } else {
                    out.push_str(ch);
                }
                feed(&mut text, ch);
                i += 2;
            }
            b'&' => {
                let (value, used) = reference(&html[i..])?;
                escape_into(&mut out, value.as_str(), false);
                feed(&mut text, value.as_str());
                i += used;
            }
            b'<' => match bytes.get(i + 1) {
                Some(c) if c.is_ascii_lowercase() => {
                    let t = start_tag(html, i + 1, policy)?;
                    let top = stack.last().map(|(_, k)| *k);
                    let allowed = match t.kind {
                        Kind::Inline | Kind::InlineVoid => {
                            top != Some(Kind::List) && !(in_link && t.name == "a")
                        }
                        Kind::Item => top == Some(Kind::List),
                        Kind::Para | Kind::Flow | Kind::List | Kind::BlockVoid => {
                            phrasing == 0 && top != Some(Kind::List)
                        }
                    };
                    if !allowed || stack.len() >= MAX_DEPTH {
                        return None;
                    }
                    out.push_str(&html[i..i + 1 + t.name.len()]);
                    for (name, value) in &t.attrs {
                        out.push(' ');
                        out.push_str(name);
                        out.push_str("=\"");
                        escape_into(&mut out, value, true);
                        out.push('"');
                    }
                    if t.name == "a" {
                        out.push_str(" rel=\"");
                        escape_into(&mut out, policy.link_rel, true);
                        out.push('"');
                    }
                    out.push('>');
                    feed(&mut text, tag_break(t.name));
                    if !matches!(t.kind, Kind::InlineVoid | Kind::BlockVoid) {
                        if matches!(t.kind, Kind::Inline | Kind::Para) {
                            phrasing += 1;
                        }
                        in_link |= t.name == "a";
                        stack.push((t.name, t.kind));
                    }
                    i = t.end;
                }
                Some(b'/') => {
                    let rest = &html[i + 2..];
                    let len = rest
                        .bytes()
                        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                        .count();
                    if len == 0 || rest.as_bytes().get(len) != Some(&b'>') {
                        return None;
                    }
                    let (open, kind) = stack.pop()?;
                    if open != &rest[..len] {
                        return None;
                    }
                    if matches!(kind, Kind::Inline | Kind::Para) {
                        phrasing -= 1;
                    }
                    if open == "a" {
                        in_link = false;
                    }
                    out.push_str("</");
                    out.push_str(open);
                    out.push('>');
                    feed(&mut text, tag_break(open));
                    i += 2 + len + 1;
                }
                // A `<` that starts no markup is text (the tokenizer emits it as is).
                Some(c) if !c.is_ascii_alphabetic() && !matches!(c, b'!' | b'?') => {
                    out.push_str("&lt;");
                    feed(&mut text, "<");
                    i += 1;
                }
                _ => return None,
            },
            // NUL and CR are rewritten by the HTML parser.
            _ => return None,
        }
    }
    stack.is_empty().then_some(out)
}

/// A start tag read from the name (at `from`) to its `>`.
struct StartTag {
    name: &'static str,
    kind: Kind,
    /// Kept attributes, values decoded and URLs resolved, in source order.
    attrs: Vec<(&'static str, String)>,
    /// Byte offset just past the `>`.
    end: usize,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0C)
}

fn start_tag(html: &str, from: usize, policy: &Policy<'_>) -> Option<StartTag> {
    let bytes = html.as_bytes();
    let mut i = from;
    while i < bytes.len() && (bytes[i].is_ascii_lowercase() || bytes[i].is_ascii_digit()) {
        i += 1;
    }
    let (name, kind, allowed) = tag(&html[from..i])?;
    let void = matches!(kind, Kind::InlineVoid | Kind::BlockVoid);
    let mut attrs = Vec::new();
    let mut seen: [&str; MAX_ATTRS] = [""; MAX_ATTRS];
    let mut n_seen = 0;
    loop {
        let spaced = i < bytes.len() && is_space(bytes[i]);
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        match bytes.get(i)? {
            b'>' => {
                i += 1;
                break;
            }
            b'/' if void && bytes.get(i + 1) == Some(&b'>') => {
                i += 2;
                break;
            }
            c if c.is_ascii_lowercase() && spaced => {}
            _ => return None,
        }
        let name_start = i;
        while i < bytes.len()
            && (bytes[i].is_ascii_lowercase()
                || bytes[i].is_ascii_digit()
                || matches!(bytes[i], b'-' | b'_'))
        {
            i += 1;
        }
        let attr = &html[name_start..i];
        let quote = match (bytes.get(i), bytes.get(i + 1)) {
            (Some(b'='), Some(&q)) if q == b'"' || q == b'\'' => q,
            _ => return None,
        };
        if n_seen == MAX_ATTRS || seen[..n_seen].contains(&attr) {
            return None;
        }
        seen[n_seen] = attr;
        n_seen += 1;
        let value_start = i + 2;
        let value_len = bytes[value_start..].iter().position(|&b| b == quote)?;
        let raw = &html[value_start..value_start + value_len];
        i = value_start + value_len + 1;
        let value = decode_attr(raw)?;
        let keep = ["lang", "title"]
            .iter()
            .chain(allowed)
            .find(|a| **a == attr);
        let Some(&attr) = keep else { continue };
        // Ammonia treats `href` and `src` as URLs on every element.
        if attr == "href" || attr == "src" {
            match Url::parse(&value) {
                Ok(url) => {
                    if policy.schemes.contains(&url.scheme()) {
                        attrs.push((attr, value));
                    }
                }
                Err(url::ParseError::RelativeUrlWithoutBase) => {
                    if let Some(base) = policy.base {
                        // A relative URL the base cannot resolve is dropped by ammonia after
                        // reordering the attributes; leave that case to it.
                        attrs.push((attr, base.join(&value).ok()?.into()));
                    }
                }
                Err(_) => {}
            }
        } else {
            attrs.push((attr, value));
        }
    }
    Some(StartTag {
        name,
        kind,
        attrs,
        end: i,
    })
}

/// A decoded character reference, or a literal `&`.
enum Decoded {
    Str(&'static str),
    Char(char, [u8; 4]),
}

impl Decoded {
    fn as_str(&self) -> &str {
        match self {
            Decoded::Str(s) => s,
            Decoded::Char(c, buf) => &std::str::from_utf8(buf).unwrap_or("")[..c.len_utf8()],
        }
    }
}

/// Reads the reference at the start of `s` (which starts with `&`): the decoded value and the
/// bytes used, or `None` when the HTML tokenizer's answer is not certain here.
fn reference(s: &str) -> Option<(Decoded, usize)> {
    let bytes = s.as_bytes();
    match bytes.get(1) {
        // `&` before anything that cannot start a reference is text.
        None => Some((Decoded::Str("&"), 1)),
        Some(c) if !c.is_ascii_alphanumeric() && *c != b'#' => Some((Decoded::Str("&"), 1)),
        Some(b'#') => {
            let (hex, digits_from) = match bytes.get(2) {
                Some(b'x' | b'X') => (true, 3),
                _ => (false, 2),
            };
            let len = bytes[digits_from..]
                .iter()
                .take_while(|b| {
                    if hex {
                        b.is_ascii_hexdigit()
                    } else {
                        b.is_ascii_digit()
                    }
                })
                .count();
            if len == 0 || len > 7 || bytes.get(digits_from + len) != Some(&b';') {
                return None;
            }
            let digits = &s[digits_from..digits_from + len];
            let code = u32::from_str_radix(digits, if hex { 16 } else { 10 }).ok()?;
            let ok = matches!(code, 0x09 | 0x0A | 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFDCF | 0xFDF0..=0xFFFD | 0x10000..=0x10FFFF)
                && code & 0xFFFE != 0xFFFE;
            let c = char::from_u32(code).filter(|_| ok)?;
            let mut buf = [0u8; 4];
            c.encode_utf8(&mut buf);
            Some((Decoded::Char(c, buf), digits_from + len + 1))
        }
        Some(_) => {
            let len = bytes[1..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            let name = &s[1..1 + len];
            // The tokenizer takes the longest name in its table: `name;` when it is one.
            if bytes.get(1 + len) == Some(&b';')
                && let Some(value) = quick_xml::escape::resolve_html5_entity(name)
            {
                return ENTITIES
                    .contains(&name)
                    .then_some((Decoded::Str(value), len + 2));
            }
            // Otherwise a legacy name without `;` at the start of the run is decoded in text
            // and, depending on what follows, in attributes: leave that to ammonia.
            if LEGACY_ENTITIES.iter().any(|l| name.starts_with(l)) {
                return None;
            }
            // No reference: the `&` is text.
            Some((Decoded::Str("&"), 1))
        }
    }
}

/// An attribute value with its references decoded, or `None` when one is uncertain.
fn decode_attr(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(pos) = rest.find(['&', '\r', '\0']) {
        out.push_str(&rest[..pos]);
        if rest.as_bytes()[pos] != b'&' {
            return None;
        }
        let (value, used) = reference(&rest[pos..])?;
        out.push_str(value.as_str());
        rest = &rest[pos + used..];
    }
    out.push_str(rest);
    Some(out)
}

/// Escapes as html5ever's serializer does: `&`, `<`, `>`, U+00A0, and `"` in attributes.
fn escape_into(out: &mut String, s: &str, attr: bool) {
    let mut run = 0;
    for (i, c) in s.char_indices() {
        let rep = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '\u{a0}' => "&nbsp;",
            '"' if attr => "&quot;",
            _ => continue,
        };
        out.push_str(&s[run..i]);
        out.push_str(rep);
        run = i + c.len_utf8();
    }
    out.push_str(&s[run..]);
}
