//! Bytes in, domain out: fetching (limits, SSRF policy), character decoding, format detection,
//! streaming parsers for RSS, RDF, Atom, JSON Feed and JSON APIs, and normalization.
//!
//! The contract the pipeline relies on is [`parse`]: it reads a byte stream and hands every
//! item to a callback as soon as the item is complete, so memory does not grow with the feed.

use std::io::BufRead;
use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use crate::domain::source::SourceFormat;
use crate::domain::{Failure, JobPosting};

pub mod allowlist;
pub mod atom;
pub mod charset;
pub mod dates;
pub mod detect;
pub mod feedgen;
pub mod fetch;
pub mod ip_policy;
pub mod item;
pub mod json;
pub mod json_feed;
pub mod mapping;
pub mod parallel;
pub mod position;
pub mod preview;
pub mod robots;
pub mod rss;
pub mod salary;
pub mod sanitize;
pub mod text;
pub mod urls;
pub mod xml;

#[cfg(test)]
mod tests;

/// Caps applied while parsing. Defaults are documented in the README's configuration table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ParseLimits {
    /// Items after this many are skipped and the run notes `parse.too_many_items`.
    pub max_items: usize,
    /// An item whose raw bytes exceed this is `item.too_large`.
    pub max_item_bytes: usize,
    /// Title, after tags are stripped and whitespace collapsed; longer titles are cut.
    pub max_title_chars: usize,
    /// Sanitized description HTML and its plain-text form.
    pub max_description_chars: usize,
    /// Links and ids; a longer URL is dropped rather than cut (a cut URL points elsewhere).
    pub max_url_chars: usize,
    /// Each short field: company, every location, job type and category.
    pub max_field_chars: usize,
    /// Unmapped elements kept per item in `extra`.
    pub max_extra_entries: usize,
    /// Characters kept per `extra` value.
    pub max_extra_chars: usize,
    /// Element (or JSON) nesting deeper than this ends the parse with `parse.too_deep`.
    pub max_depth: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            max_items: 10_000,
            max_item_bytes: 1024 * 1024,
            max_title_chars: 1024,
            max_description_chars: 256 * 1024,
            max_url_chars: 2048,
            max_field_chars: 1024,
            max_extra_entries: 32,
            max_extra_chars: 1024,
            max_depth: 64,
        }
    }
}

/// What the parser needs to know besides the bytes.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    pub limits: ParseLimits,
    /// The final URL of the fetch; relative links resolve against it (or an `xml:base`).
    pub base_url: Option<url::Url>,
    /// The `charset` parameter of the HTTP Content-Type, if any.
    pub header_charset: Option<String>,
    pub format: SourceFormat,
    /// The mapping to read the body with; `None` leaves it to `format` (a built-in's name) or
    /// to detection.
    pub mapping: Option<std::sync::Arc<crate::domain::mapping::Mapping>>,
}

impl ParseOptions {
    /// The mapping this parse applies: the one given, else the built-in `format` names.
    pub fn mapping(&self) -> Option<std::sync::Arc<crate::domain::mapping::Mapping>> {
        self.mapping.clone().or_else(|| match &self.format {
            SourceFormat::JsonApi(name) => mapping::builtin::by_name(name),
            _ => None,
        })
    }
}

/// The formats detected from content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedFormat {
    Rss,
    Rdf,
    Atom,
    JsonFeed,
    JsonApi,
    /// XML read through a declarative mapping.
    XmlMapping,
}

/// One parsed item: a normalized posting, or the reason it could not become one.
pub type ItemOutcome = Result<JobPosting, Failure>;

/// One item as a format parser reads it, before normalization.
pub type RawOutcome = Result<item::RawItem, Failure>;

/// How a parse ended. `error` set means the document broke off or was refused; items handed to
/// the callback before that are valid and must be kept.
#[derive(Debug, Clone, Default)]
pub struct ParseSummary {
    pub format: Option<FeedFormat>,
    /// Items handed to the callback (successes and item failures).
    pub items: usize,
    /// Items skipped because of `max_items`.
    pub skipped: usize,
    pub error: Option<Failure>,
    /// The character encoding the body was read in (`None` if it was pure ASCII).
    pub encoding: Option<&'static str>,
}

/// Reads a feed and calls `on_item` for each item in document order. Returning
/// `ControlFlow::Break` from the callback stops the parse early (the summary has no error).
pub fn parse<R: BufRead>(
    reader: R,
    opts: &ParseOptions,
    on_item: &mut dyn FnMut(ItemOutcome) -> ControlFlow<()>,
) -> ParseSummary {
    let normalizer = item::Normalizer::new(&opts.limits, opts.base_url.as_ref());
    parse_raw(reader, opts, &mut |raw: RawOutcome| {
        on_item(raw.and_then(|r| normalizer.normalize(r)))
    })
}

/// Decodes, detects the format and parses, handing each item to `emit` before normalization.
/// [`parse`] and [`parallel::parse_parallel`] normalize what comes out.
pub fn parse_raw<R: BufRead>(
    reader: R,
    opts: &ParseOptions,
    emit: &mut dyn FnMut(RawOutcome) -> ControlFlow<()>,
) -> ParseSummary {
    let mut input = match charset::CharsetReader::new(reader, opts.header_charset.as_deref()) {
        Ok(r) => r,
        Err(e) => return unreadable(&e),
    };
    let mut summary = parse_decoded(&mut input, opts, emit);
    charset_outcome(&mut summary, input.encoding(), input.refused_label());
    summary
}

/// The summary of a body that could not be read at all.
fn unreadable(e: &std::io::Error) -> ParseSummary {
    ParseSummary {
        error: Some(Failure::new(
            crate::domain::codes::PARSE_MALFORMED,
            format!("reading the body: {e}"),
        )),
        ..Default::default()
    }
}

/// Detects the format of UTF-8 input (what [`charset::CharsetReader`] hands out) and parses it.
fn parse_decoded<R: BufRead>(
    mut input: R,
    opts: &ParseOptions,
    emit: &mut dyn FnMut(RawOutcome) -> ControlFlow<()>,
) -> ParseSummary {
    use crate::domain::codes::PARSE_NOT_A_FEED;
    let failed = |msg: &str| ParseSummary {
        error: Some(Failure::new(PARSE_NOT_A_FEED, msg)),
        ..Default::default()
    };
    match detect::sniff(&mut input) {
        Ok(detect::Family::Xml) => match opts.mapping() {
            Some(m) => mapping::xml_items::parse(&mut input, &m, opts, emit),
            None => xml::parse_xml(&mut input, opts, emit),
        },
        Ok(detect::Family::Json) => json::parse_json(&mut input, opts, emit),
        Ok(detect::Family::Empty) => failed("the body is empty"),
        Ok(detect::Family::Other) => failed("the body is neither XML nor JSON"),
        Err(e) => unreadable(&e),
    }
}

/// Records the encoding the body was read in, and refuses a body that was neither UTF-8 nor
/// in a supported charset.
fn charset_outcome(
    summary: &mut ParseSummary,
    encoding: Option<&'static encoding_rs::Encoding>,
    refused_label: Option<&str>,
) {
    summary.encoding = encoding.map(encoding_rs::Encoding::name);
    if let Some(label) = refused_label {
        let msg = format!("charset `{label}` is not supported; the body is not UTF-8 either");
        summary.error = Some(Failure::new(crate::domain::codes::PARSE_ENCODING, msg));
    }
}
