//! XML for declarative mappings: streams the document, and turns each item element into the
//! tree a JSON item would be, so one set of paths and transforms serves both. An element
//! with neither attributes nor children is its text; otherwise an object whose attributes are
//! `@name`, whose children are keyed by their name as written (repeated ones become a list),
//! and whose own text is `#text`. The same DTD, depth, item-size and item-count rules as the
//! feed parsers apply; only one item's tree is held at a time.

use std::io::BufRead;
use std::ops::ControlFlow;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};

use super::{read_item, skipped};
use crate::domain::Failure;
use crate::domain::codes::{
    ITEM_TOO_LARGE, PARSE_FORBIDDEN_DTD, PARSE_MALFORMED, PARSE_NOT_A_FEED, PARSE_TOO_DEEP,
    PARSE_TOO_MANY_ITEMS,
};
use crate::domain::mapping::Mapping;
use crate::ingest::position::LineCounter;
use crate::ingest::{FeedFormat, ParseOptions, ParseSummary, RawOutcome, text};

/// The key of an element's own text when it also has attributes or children.
pub const TEXT: &str = "#text";

/// An element being built.
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    children: Map<String, Value>,
    text: String,
}

impl Node {
    fn new(e: &BytesStart<'_>) -> Self {
        let attrs = e
            .html_attributes()
            .flatten()
            .map(|a| {
                let key = format!("@{}", a.key.as_ref());
                (key, text::decode_entities(&a.value).into_owned())
            })
            .collect();
        Self {
            name: e.name().as_ref().to_owned(),
            attrs,
            children: Map::new(),
            text: String::new(),
        }
    }

    fn into_value(self) -> Value {
        if self.attrs.is_empty() && self.children.is_empty() {
            return Value::String(self.text);
        }
        let mut obj = self.children;
        for (k, v) in self.attrs {
            obj.entry(k).or_insert(Value::String(v));
        }
        if !self.text.trim().is_empty() {
            obj.insert(TEXT.into(), Value::String(self.text));
        }
        Value::Object(obj)
    }

    fn add_child(&mut self, name: String, value: Value) {
        match self.children.get_mut(&name) {
            None => {
                self.children.insert(name, value);
            }
            Some(Value::Array(list)) => list.push(value),
            Some(first) => {
                let prev = first.take();
                *first = Value::Array(vec![prev, value]);
            }
        }
    }
}

/// Whether an element is the mapping's item element (by qualified or local name).
fn is_item(name: &str, item: &str) -> bool {
    name == item || name.rsplit_once(':').is_some_and(|(_, l)| l == item)
}

/// Parses XML input (already UTF-8) through `mapping`, handing each raw item to `emit`.
pub fn parse<R: BufRead>(
    input: R,
    mapping: &Mapping,
    opts: &ParseOptions,
    emit: &mut dyn FnMut(RawOutcome) -> ControlFlow<()>,
) -> ParseSummary {
    let lim = &opts.limits;
    let mut summary = ParseSummary {
        format: Some(FeedFormat::XmlMapping),
        ..Default::default()
    };
    let fail = |s: &mut ParseSummary, code: &str, msg: String| {
        s.error.get_or_insert_with(|| Failure::new(code, msg));
    };
    let mut reader = Reader::from_reader(LineCounter::new(input));
    reader.config_mut().allow_dangling_amp = true;
    let mut buf = Vec::new();
    let mut depth = 0usize;
    let mut seen_root = false;
    // The open elements of the current item (the item itself first), where it started, and
    // whether it outgrew the byte cap.
    let mut open: Vec<Node> = Vec::new();
    let mut item_depth = 0usize;
    let mut start = 0u64;
    let mut too_large = false;
    loop {
        buf.clear();
        let event = match reader.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => {
                let (line, col) = reader.get_ref().line_col(reader.error_position());
                fail(
                    &mut summary,
                    PARSE_MALFORMED,
                    format!("line {line}, column {col}: {e}"),
                );
                break;
            }
        };
        let pos = reader.buffer_position();
        if !open.is_empty() && pos.saturating_sub(start) > lim.max_item_bytes as u64 {
            too_large = true;
        }
        let (started, ended) = match &event {
            Event::Start(e) => (Some(e), false),
            Event::Empty(e) => (Some(e), true),
            Event::End(_) => (None, true),
            Event::Text(t) => {
                if let Some(top) = open.last_mut().filter(|_| !too_large) {
                    top.text.push_str(&t.xml10_content());
                }
                (None, false)
            }
            Event::CData(c) => {
                if let Some(top) = open.last_mut().filter(|_| !too_large) {
                    top.text.push_str(&c.xml10_content());
                }
                (None, false)
            }
            Event::GeneralRef(r) => {
                let name: &str = r;
                let resolved = quick_xml::escape::resolve_xml_entity(name)
                    .map(Into::into)
                    .or_else(|| text::resolve_entity(name));
                if let Some(top) = open.last_mut().filter(|_| !too_large) {
                    match resolved {
                        Some(s) => top.text.push_str(&s),
                        None if name.starts_with('#') => {}
                        None => top.text.push_str(&format!("&{name};")),
                    }
                }
                (None, false)
            }
            Event::DocType(d) => {
                if d.xml10_content().contains("<!ENTITY") {
                    fail(
                        &mut summary,
                        PARSE_FORBIDDEN_DTD,
                        "the DTD declares entities".into(),
                    );
                    break;
                }
                (None, false)
            }
            Event::Eof => {
                if !seen_root {
                    let msg = "the document has no root element".into();
                    fail(&mut summary, PARSE_NOT_A_FEED, msg);
                } else if depth > 0 {
                    let (line, col) = reader.get_ref().line_col(pos);
                    let msg = format!("line {line}, column {col}: the document ended early");
                    fail(&mut summary, PARSE_MALFORMED, msg);
                }
                break;
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => (None, false),
        };
        if let Some(e) = started {
            seen_root = true;
            depth += 1;
            if depth > lim.max_depth {
                let msg = format!("elements nest deeper than {}", lim.max_depth);
                fail(&mut summary, PARSE_TOO_DEEP, msg);
                break;
            }
            if !open.is_empty() {
                if !too_large {
                    open.push(Node::new(e));
                }
            } else if is_item(e.name().as_ref(), &mapping.items) {
                open.push(Node::new(e));
                item_depth = depth;
                start = pos;
                too_large = false;
            }
        }
        if !ended {
            continue;
        }
        let closing = depth;
        depth = depth.saturating_sub(1);
        if open.is_empty() {
            continue;
        }
        if closing > item_depth {
            if !too_large
                && open.len() > 1
                && let Some(node) = open.pop()
            {
                let name = node.name.clone();
                let value = node.into_value();
                if let Some(parent) = open.last_mut() {
                    parent.add_child(name, value);
                }
            }
            continue;
        }
        // The item element closed.
        let item = open.pop().map(Node::into_value).unwrap_or(Value::Null);
        open.clear();
        if !too_large && skipped(mapping, &item) {
            continue;
        }
        if summary.items >= lim.max_items {
            summary.skipped += 1;
            let msg = format!("the feed has more than {} items", lim.max_items);
            fail(&mut summary, PARSE_TOO_MANY_ITEMS, msg);
            continue;
        }
        summary.items += 1;
        let outcome = if too_large {
            let msg = format!("the item is larger than {} bytes", lim.max_item_bytes);
            Err(Failure::for_item(ITEM_TOO_LARGE, msg, None))
        } else {
            read_item(mapping, &item)
        };
        if emit(outcome).is_break() {
            break;
        }
    }
    summary
}
