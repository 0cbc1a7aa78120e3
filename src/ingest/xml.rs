//! The streaming XML driver shared by RSS, RDF and Atom: it walks quick-xml events, enforces
//! the DTD, depth, item-size and item-count rules, and hands each item's fields to a mapper.

use std::io::BufRead;
use std::ops::ControlFlow;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::item::{Normalizer, RawItem};
use super::position::LineCounter;
use super::{FeedFormat, ItemOutcome, ParseOptions, ParseSummary, text};
use crate::domain::Failure;
use crate::domain::codes::{
    PARSE_FORBIDDEN_DTD, PARSE_MALFORMED, PARSE_NOT_A_FEED, PARSE_TOO_DEEP, PARSE_TOO_MANY_ITEMS,
};

/// One element inside an item: a direct child, or a grandchild (`parent` set). Deeper
/// elements are not fields; their text flows into the grandchild that holds them.
pub struct Field<'a> {
    pub name: &'a str,
    pub parent: Option<&'a str>,
    pub attrs: &'a [(String, String)],
    pub text: &'a str,
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

/// The prefix of a qualified name, if any.
pub fn prefix(name: &str) -> Option<&str> {
    name.split_once(':').map(|(p, _)| p)
}

/// Fills a raw item from one field; each format has its own.
pub type Mapper = fn(&mut RawItem, &Field<'_>);

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

struct Open {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
}

/// Item being read: where it started, its fields so far, and the open elements inside it.
struct Current {
    depth: usize,
    start: u64,
    raw: RawItem,
    open: Vec<Open>,
    skip: bool,
}

/// Parses an XML feed from UTF-8 input.
pub fn parse_xml<R: BufRead>(
    input: R,
    opts: &ParseOptions,
    on_item: &mut dyn FnMut(ItemOutcome) -> ControlFlow<()>,
) -> ParseSummary {
    let lim = &opts.limits;
    let normalizer = Normalizer::new(lim, opts.base_url.as_ref());
    let mut reader = Reader::from_reader(LineCounter::new(input));
    // A bare `&` in text is the most common feed error; keep it as text instead of failing.
    reader.config_mut().allow_dangling_amp = true;
    let mut summary = ParseSummary::default();
    let mut dialect: Option<Dialect> = None;
    let mut depth = 0usize;
    let mut current: Option<Current> = None;
    let mut buf = Vec::new();
    let fail = |code: &str, msg: String| Some(Failure::new(code, msg));
    loop {
        buf.clear();
        let event = match reader.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => {
                let (line, col) = reader.get_ref().line_col(reader.error_position());
                summary.error = fail(PARSE_MALFORMED, format!("line {line}, column {col}: {e}"));
                break;
            }
        };
        let pos = reader.buffer_position();
        if let Some(cur) = current.as_mut()
            && !cur.skip
            && pos.saturating_sub(cur.start) > lim.max_item_bytes as u64
        {
            cur.raw.too_large = true;
        }
        match event {
            Event::DocType(d) => {
                // quick-xml never expands entities, but a DTD that declares them is an attack
                // or a feed we cannot read faithfully; refuse it (catalog C29-C31).
                if d.xml10_content().contains("<!ENTITY") {
                    summary.error = fail(PARSE_FORBIDDEN_DTD, "the DTD declares entities".into());
                    break;
                }
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                depth += 1;
                if depth > lim.max_depth {
                    let msg = format!("elements nest deeper than {}", lim.max_depth);
                    summary.error = fail(PARSE_TOO_DEEP, msg);
                    break;
                }
                let name = e.name().as_ref().to_owned();
                let Some(d) = dialect.as_ref() else {
                    match dialect_for_root(&name) {
                        Some(d) => {
                            summary.format = Some(d.format);
                            dialect = Some(d);
                        }
                        None => {
                            let msg = format!("the root element <{name}> is not a feed");
                            summary.error = fail(PARSE_NOT_A_FEED, msg);
                            break;
                        }
                    }
                    if empty {
                        depth -= 1;
                    }
                    continue;
                };
                if let Some(cur) = current.as_mut() {
                    if !cur.skip && depth <= cur.depth + 2 {
                        cur.open.push(Open {
                            name,
                            attrs: attributes(e),
                            text: String::new(),
                        });
                    }
                } else if local(&name) == d.item {
                    let skip = summary.items >= lim.max_items;
                    current = Some(Current {
                        depth,
                        start: pos,
                        raw: RawItem::default(),
                        open: Vec::new(),
                        skip,
                    });
                }
                if empty {
                    let flow = close_element(
                        &mut current,
                        depth,
                        dialect.as_ref(),
                        &normalizer,
                        &mut summary,
                        opts,
                        on_item,
                    );
                    depth -= 1;
                    if flow.is_break() {
                        break;
                    }
                }
            }
            Event::End(_) => {
                let flow = close_element(
                    &mut current,
                    depth,
                    dialect.as_ref(),
                    &normalizer,
                    &mut summary,
                    opts,
                    on_item,
                );
                depth = depth.saturating_sub(1);
                if flow.is_break() {
                    break;
                }
            }
            Event::Text(t) => push_text(&mut current, &t.xml10_content()),
            Event::CData(c) => push_text(&mut current, &c.xml10_content()),
            Event::GeneralRef(r) => {
                let name: &str = &r;
                let resolved = quick_xml::escape::resolve_xml_entity(name)
                    .map(Into::into)
                    .or_else(|| text::resolve_entity(name));
                match resolved {
                    Some(s) => push_text(&mut current, &s),
                    // A reference to a forbidden character is dropped.
                    None if name.starts_with('#') => {}
                    // Unknown entities stay literal: losing the item would be worse.
                    None => push_text(&mut current, &format!("&{name};")),
                }
            }
            Event::Eof => {
                if dialect.is_none() {
                    summary.error =
                        fail(PARSE_NOT_A_FEED, "the document has no root element".into());
                } else if depth > 0 {
                    let (line, col) = reader.get_ref().line_col(pos);
                    let msg =
                        format!("line {line}, column {col}: the document ended inside an element");
                    summary.error = fail(PARSE_MALFORMED, msg);
                }
                break;
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    summary
}

fn dialect_for_root(name: &str) -> Option<Dialect> {
    dialect(name)
}

/// Attribute values with entities decoded. A malformed attribute is skipped, not fatal.
fn attributes(e: &BytesStart<'_>) -> Vec<(String, String)> {
    e.html_attributes()
        .flatten()
        .map(|a| {
            let key = a.key.as_ref().to_owned();
            (key, text::decode_entities(&a.value).into_owned())
        })
        .collect()
}

fn push_text(current: &mut Option<Current>, s: &str) {
    let Some(cur) = current.as_mut() else { return };
    if cur.skip {
        return;
    }
    let Some(top) = cur.open.last_mut() else {
        return;
    };
    // Past the byte cap only identity fields keep growing, so the failure can name the item.
    if cur.raw.too_large && !matches!(local(&top.name), "guid" | "link" | "id") {
        return;
    }
    top.text.push_str(s);
}

/// Handles the end of the element at `depth`: a field inside an item, or the item itself.
fn close_element(
    current: &mut Option<Current>,
    depth: usize,
    dialect: Option<&Dialect>,
    normalizer: &Normalizer<'_>,
    summary: &mut ParseSummary,
    opts: &ParseOptions,
    on_item: &mut dyn FnMut(ItemOutcome) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let (Some(cur), Some(d)) = (current.as_mut(), dialect) else {
        return ControlFlow::Continue(());
    };
    if depth > cur.depth {
        if cur.skip || depth > cur.depth + 2 {
            return ControlFlow::Continue(());
        }
        let Some(open) = cur.open.pop() else {
            return ControlFlow::Continue(());
        };
        let parent = cur.open.last().map(|p| p.name.clone());
        let field = Field {
            name: &open.name,
            parent: parent.as_deref(),
            attrs: &open.attrs,
            text: &open.text,
        };
        (d.map)(&mut cur.raw, &field);
        if let Some(p) = cur.open.last_mut() {
            p.text.push_str(&open.text);
        }
        return ControlFlow::Continue(());
    }
    let Some(done) = current.take() else {
        return ControlFlow::Continue(());
    };
    if done.skip {
        summary.skipped += 1;
        if summary.error.is_none() {
            let msg = format!("the feed has more than {} items", opts.limits.max_items);
            summary.error = Some(Failure::new(PARSE_TOO_MANY_ITEMS, msg));
        }
        return ControlFlow::Continue(());
    }
    summary.items += 1;
    on_item(normalizer.normalize(done.raw))
}
