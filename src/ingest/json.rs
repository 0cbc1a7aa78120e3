//! JSON bodies: parsed whole (the fetcher caps them), checked for depth, then read as a JSON
//! Feed or through a mapping (a built-in one or the source's own); items go through the same normalization as XML.

use std::io::Read;
use std::ops::ControlFlow;

use serde_json::Value;

use super::item::RawItem;
use super::{FeedFormat, ParseOptions, ParseSummary, RawOutcome, json_feed, mapping};
use crate::domain::Failure;
use crate::domain::codes::{
    ITEM_TOO_LARGE, PARSE_MALFORMED, PARSE_NOT_A_FEED, PARSE_TOO_DEEP, PARSE_TOO_MANY_ITEMS,
};
use crate::domain::source::SourceFormat;

/// A body larger than this is refused even if the fetcher let it through (its cap is 15 MiB).
const MAX_JSON_BYTES: u64 = 64 * 1024 * 1024;

/// Parses a JSON body (already UTF-8).
pub fn parse_json<R: Read>(
    input: R,
    opts: &ParseOptions,
    emit: &mut dyn FnMut(RawOutcome) -> ControlFlow<()>,
) -> ParseSummary {
    let mut summary = ParseSummary::default();
    let fail = |code: &str, msg: String| ParseSummary {
        error: Some(Failure::new(code, msg)),
        ..Default::default()
    };
    let mut body = Vec::new();
    if let Err(e) = input.take(MAX_JSON_BYTES).read_to_end(&mut body) {
        return fail(PARSE_MALFORMED, format!("reading the body: {e}"));
    }
    let root: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        // serde_json stops at 128 levels on its own; report that as depth, not syntax.
        Err(e) if e.to_string().contains("recursion limit") => {
            return fail(PARSE_TOO_DEEP, "JSON nests deeper than 128 levels".into());
        }
        Err(e) => {
            let msg = format!("line {}, column {}: {e}", e.line(), e.column());
            return fail(PARSE_MALFORMED, msg);
        }
    };
    drop(body);
    if depth(&root) > opts.limits.max_depth {
        let msg = format!("JSON nests deeper than {}", opts.limits.max_depth);
        return fail(PARSE_TOO_DEEP, msg);
    }
    if json_feed::is_json_feed(&root) && opts.mapping.is_none() {
        summary.format = Some(FeedFormat::JsonFeed);
        let items = json_feed::items(&root).iter().filter(|v| !is_notice(v));
        if read_items(items, json_feed::read_item, opts, &mut summary, emit).is_break() {
            return summary;
        }
    } else {
        let mapping = opts.mapping().or_else(|| {
            matches!(opts.format, SourceFormat::Auto)
                .then(|| mapping::builtin::recognise(&root).map(|(_, m)| m))
                .flatten()
        });
        let Some(m) = mapping else {
            return fail(
                PARSE_NOT_A_FEED,
                "JSON that is neither a JSON Feed nor a known job API".into(),
            );
        };
        summary.format = Some(FeedFormat::JsonApi);
        let items = mapping::items(&m, &root)
            .iter()
            .filter(|v| !mapping::skipped(&m, v));
        let read = |v: &Value| mapping::read_item(&m, v);
        if read_items(items, read, opts, &mut summary, emit).is_break() {
            return summary;
        }
    }
    if summary.skipped > 0 {
        let msg = format!("the feed has more than {} items", opts.limits.max_items);
        summary.error = Some(Failure::new(PARSE_TOO_MANY_ITEMS, msg));
    }
    summary
}

/// Hands each item, read or refused for its size, to `emit`, up to the item cap.
fn read_items<'a>(
    items: impl Iterator<Item = &'a Value>,
    read: impl Fn(&Value) -> Result<RawItem, Failure>,
    opts: &ParseOptions,
    summary: &mut ParseSummary,
    emit: &mut dyn FnMut(RawOutcome) -> ControlFlow<()>,
) -> ControlFlow<()> {
    for value in items {
        if summary.items >= opts.limits.max_items {
            summary.skipped += 1;
            continue;
        }
        summary.items += 1;
        let outcome = if approx_size(value) > opts.limits.max_item_bytes {
            let msg = format!(
                "the item is larger than {} bytes",
                opts.limits.max_item_bytes
            );
            Err(Failure::for_item(ITEM_TOO_LARGE, msg, None))
        } else {
            read(value)
        };
        emit(outcome)?;
    }
    ControlFlow::Continue(())
}

/// A legal notice some boards put before the items (no id, a `legal` key).
fn is_notice(v: &Value) -> bool {
    v.get("legal").is_some() && v.get("id").is_none()
}

/// Nesting depth, computed without recursion.
fn depth(root: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(root, 1usize)];
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, d + 1))),
            Value::Object(o) => stack.extend(o.values().map(|c| (c, d + 1))),
            _ => {}
        }
    }
    max
}

/// Bytes the value would take as JSON, near enough for a size cap.
fn approx_size(root: &Value) -> usize {
    let mut total = 0;
    let mut stack = vec![root];
    while let Some(v) = stack.pop() {
        total += match v {
            Value::String(s) => s.len() + 2,
            Value::Array(a) => {
                stack.extend(a);
                2 + a.len()
            }
            Value::Object(o) => {
                stack.extend(o.values());
                o.keys().map(|k| k.len() + 4).sum::<usize>() + 2
            }
            _ => 8,
        };
    }
    total
}

/// A JSON scalar as text: ids may be numbers or strings, and `1` and `"1"` are the same id.
pub fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A scalar or an array of scalars as a list of texts.
pub fn list_of(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().filter_map(text_of).collect(),
        other => text_of(other).into_iter().collect(),
    }
}

/// The first of `keys` present on `obj` as text.
pub fn first_text(obj: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| obj.get(*k).and_then(text_of))
}
