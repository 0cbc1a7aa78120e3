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
    let mut reader = Reader::from_reader(LineCounter::new(input));
    // A bare `&` in text is the most common feed error; keep it as text instead of failing.
    reader.config_mut().allow_dangling_amp = true;
    let mut w = Walker {
        opts,
        normalizer: Normalizer::new(lim, opts.base_url.as_ref()),
        summary: ParseSummary::default(),
        dialect: None,
        depth: 0,
        current: None,
    };
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
                ControlFlow::Continue(()) => w.close(on_item),
                stop => stop,
            },
            Event::End(_) => w.close(on_item),
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

/// The parse state between events.
struct Walker<'a> {
    opts: &'a ParseOptions,
    normalizer: Normalizer<'a>,
    summary: ParseSummary,
    dialect: Option<Dialect>,
    depth: usize,
    current: Option<Current>,
}

impl Walker<'_> {
    /// Records the first error; later ones are consequences.
    fn fail(&mut self, code: &str, msg: String) {
        self.summary
            .error
            .get_or_insert_with(|| Failure::new(code, msg));
    }

    /// A start tag: checks depth, recognises the root, starts items and fields.
    fn open(&mut self, e: &BytesStart<'_>, pos: u64) -> ControlFlow<()> {
        self.depth += 1;
        if self.depth > self.opts.limits.max_depth {
            let msg = format!("elements nest deeper than {}", self.opts.limits.max_depth);
            self.fail(PARSE_TOO_DEEP, msg);
            return ControlFlow::Break(());
        }
        let name = e.name().as_ref().to_owned();
        let Some(d) = self.dialect.as_ref() else {
            self.dialect = dialect(&name);
            self.summary.format = self.dialect.as_ref().map(|d| d.format);
            if self.dialect.is_none() {
                self.fail(
                    PARSE_NOT_A_FEED,
                    format!("the root element <{name}> is not a feed"),
                );
                return ControlFlow::Break(());
            }
            return ControlFlow::Continue(());
        };
        if let Some(cur) = self.current.as_mut() {
            if !cur.skip && self.depth <= cur.depth + 2 {
                let attrs = attributes(e);
                cur.open.push(Open {
                    name,
                    attrs,
                    text: String::new(),
                });
            }
        } else if local(&name) == d.item {
            self.current = Some(Current {
                depth: self.depth,
                start: pos,
                raw: RawItem::default(),
                open: Vec::new(),
                skip: self.summary.items >= self.opts.limits.max_items,
            });
        }
        ControlFlow::Continue(())
    }

    fn push_text(&mut self, s: &str) -> ControlFlow<()> {
        if let Some(cur) = self.current.as_mut().filter(|c| !c.skip)
            && let Some(top) = cur.open.last_mut()
            // Past the byte cap only identity fields grow, so the failure can name the item.
            && (!cur.raw.too_large || matches!(local(&top.name), "guid" | "link" | "id"))
        {
            top.text.push_str(s);
        }
        ControlFlow::Continue(())
    }

    /// An end tag: finishes a field, or the item (handing it to `on_item`).
    fn close(
        &mut self,
        on_item: &mut dyn FnMut(ItemOutcome) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let depth = self.depth;
        self.depth = depth.saturating_sub(1);
        let (Some(cur), Some(d)) = (self.current.as_mut(), self.dialect.as_ref()) else {
            return ControlFlow::Continue(());
        };
        if depth > cur.depth {
            if !cur.skip
                && depth <= cur.depth + 2
                && let Some(open) = cur.open.pop()
            {
                let parent = cur.open.last().map(|p| p.name.as_str());
                let (name, attrs, text) = (&open.name, &open.attrs, &open.text);
                (d.map)(
                    &mut cur.raw,
                    &Field {
                        name,
                        parent,
                        attrs,
                        text,
                    },
                );
                if let Some(p) = cur.open.last_mut() {
                    p.text.push_str(&open.text);
                }
            }
            return ControlFlow::Continue(());
        }
        let Some(done) = self.current.take() else {
            return ControlFlow::Continue(());
        };
        if done.skip {
            self.summary.skipped += 1;
            let msg = format!(
                "the feed has more than {} items",
                self.opts.limits.max_items
            );
            self.fail(PARSE_TOO_MANY_ITEMS, msg);
            return ControlFlow::Continue(());
        }
        self.summary.items += 1;
        on_item(self.normalizer.normalize(done.raw))
    }
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
