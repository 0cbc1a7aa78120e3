//! The streaming XML driver shared by RSS, RDF and Atom: it walks quick-xml events, enforces
//! the DTD, depth, item-size and item-count rules, and hands each item's fields to a mapper.

use std::io::BufRead;
use std::ops::ControlFlow;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::item::RawItem;
use super::position::LineCounter;
use super::{FeedFormat, ParseOptions, ParseSummary, RawOutcome, text};
use crate::domain::codes::{PARSE_FORBIDDEN_DTD, PARSE_MALFORMED, PARSE_NOT_A_FEED};

mod ns;
mod scope;
mod walker;
mod xhtml;

use walker::Walker;

/// One element inside an item: a direct child, or a grandchild (`parent` set). Deeper
/// elements are not fields; their text flows into the grandchild that holds them.
pub struct Field<'a> {
    /// The qualified name as written (`job_listing:company`).
    pub name: &'a str,
    /// The element's namespace URI, when its prefix (or the default namespace) is bound.
    pub ns: Option<&'a str>,
    pub parent: Option<&'a str>,
    pub attrs: &'a [(String, String)],
    /// The element's text; a mapper may take it (`std::mem::take`) instead of copying it,
    /// except from a grandchild, whose text also flows into its parent.
    pub text: String,
}

impl Field<'_> {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The part of a qualified name after the prefix (`job_listing:company` -> `company`).
pub fn local(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, l)| l)
}

/// What an element means, by its namespace URI: a known namespace's element is named with the
/// prefix the mappers know it by (`dc:date` whatever the document's prefix; the RSS core by its
/// local name), an element with no namespace by its name as written.
pub fn canonical<'a>(f: &Field<'a>) -> std::borrow::Cow<'a, str> {
    use std::borrow::Cow;
    let Some(uri) = f.ns else {
        return Cow::Borrowed(f.name);
    };
    match ns::known_prefix(uri) {
        Some("") => Cow::Borrowed(local(f.name)),
        Some(p) => Cow::Owned(format!("{p}:{}", local(f.name))),
        None => Cow::Borrowed(f.name),
    }
}

/// Whether an element sits in a namespace we know nothing about: a site's own extension
/// (WP Job Manager binds its fields to the site's URL).
pub fn in_unknown_namespace(f: &Field<'_>) -> bool {
    f.ns.is_some_and(|uri| ns::known_prefix(uri).is_none())
}

/// The prefix of a qualified name, if any.
pub fn prefix(name: &str) -> Option<&str> {
    name.split_once(':').map(|(p, _)| p)
}

/// Fills a raw item from one field; each format has its own.
pub type Mapper = fn(&mut RawItem, &mut Field<'_>);

/// What the root element says about the document.
struct Dialect {
    format: FeedFormat,
    item: &'static str,
    map: Mapper,
}

fn dialect(root: &str) -> Option<Dialect> {
    let (format, item, map): (_, _, Mapper) = match local(root) {
        "rss" => (FeedFormat::Rss, "item", super::rss::map_field),
        "RDF" => (FeedFormat::Rdf, "item", super::rss::map_field),
        "feed" => (FeedFormat::Atom, "entry", super::atom::map_field),
        _ => return None,
    };
    Some(Dialect { format, item, map })
}

/// Parses an XML feed from UTF-8 input, handing each item, not yet normalized, to `emit`.
pub fn parse_xml<R: BufRead>(
    input: R,
    opts: &ParseOptions,
    emit: &mut dyn FnMut(RawOutcome) -> ControlFlow<()>,
) -> ParseSummary {
    let lim = &opts.limits;
    let mut reader = Reader::from_reader(LineCounter::new(input));
    // A bare `&` in text is the most common feed error; keep it as text instead of failing.
    reader.config_mut().allow_dangling_amp = true;
    let mut w = Walker::new(opts);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let event = match reader.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => {
                let (line, col) = reader.get_ref().line_col(reader.error_position());
                w.fail(PARSE_MALFORMED, format!("line {line}, column {col}: {e}"));
                break;
            }
        };
        let pos = reader.buffer_position();
        if let Some(cur) = w.current.as_mut()
            && !cur.skip
            && pos.saturating_sub(cur.start) > lim.max_item_bytes as u64
        {
            cur.raw.too_large = true;
        }
        let flow = match event {
            Event::DocType(d) => {
                // quick-xml never expands entities, but a DTD that declares them is an attack
                // or a feed we cannot read faithfully; refuse it (catalog C29-C31).
                if d.xml10_content().contains("<!ENTITY") {
                    w.fail(PARSE_FORBIDDEN_DTD, "the DTD declares entities".into());
                    break;
                }
                ControlFlow::Continue(())
            }
            Event::Start(ref e) => w.open(e, pos),
            Event::Empty(ref e) => match w.open(e, pos) {
                ControlFlow::Continue(()) => w.close(emit),
                stop => stop,
            },
            Event::End(_) => w.close(emit),
            Event::Text(t) => w.push_text(&t.xml10_content()),
            Event::CData(c) => w.push_text(&c.xml10_content()),
            Event::GeneralRef(r) => {
                let name: &str = &r;
                let resolved = quick_xml::escape::resolve_xml_entity(name)
                    .map(Into::into)
                    .or_else(|| text::resolve_entity(name));
                match resolved {
                    Some(s) => w.push_text(&s),
                    // A reference to a forbidden character is dropped.
                    None if name.starts_with('#') => ControlFlow::Continue(()),
                    // Unknown entities stay literal: losing the item would be worse.
                    None => w.push_text(&format!("&{name};")),
                }
            }
            Event::Eof => {
                if w.dialect.is_none() {
                    w.fail(PARSE_NOT_A_FEED, "the document has no root element".into());
                } else if w.depth > 0 {
                    let (line, col) = reader.get_ref().line_col(pos);
                    let msg = format!("line {line}, column {col}: the document ended early");
                    w.fail(PARSE_MALFORMED, msg);
                }
                break;
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => ControlFlow::Continue(()),
        };
        if flow.is_break() {
            break;
        }
    }
    w.summary
}

/// Attribute values with entities decoded. A malformed attribute is skipped, not fatal.
fn attributes(e: &BytesStart<'_>) -> Vec<(String, String)> {
    e.html_attributes()
        .flatten()
        .map(|a| {
            (
                a.key.as_ref().to_owned(),
                text::decode_entities(&a.value).into_owned(),
            )
        })
        .collect()
}
