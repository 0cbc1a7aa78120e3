//! Fixture-driven tests of [`super::parse`]: each format, charset and bad-input case.

use std::ops::ControlFlow;

use super::{ItemOutcome, ParseOptions, ParseSummary, parse};
use crate::domain::JobPosting;
use crate::domain::source::SourceFormat;

mod charset;
mod formats;
mod normalize;
mod rss;
mod safety;
mod sanitize_diff;

/// Options as the pipeline passes them for a feed fetched from `base`.
pub fn opts(base: &str) -> ParseOptions {
    ParseOptions {
        limits: Default::default(),
        base_url: url::Url::parse(base).ok(),
        header_charset: None,
        format: SourceFormat::Auto,
        mapping: None,
    }
}

/// Parses `bytes` and collects every outcome.
pub fn run(bytes: &[u8], opts: &ParseOptions) -> (Vec<ItemOutcome>, ParseSummary) {
    let mut items = Vec::new();
    let summary = parse(bytes, opts, &mut |item| {
        items.push(item);
        ControlFlow::Continue(())
    });
    (items, summary)
}

/// The successful postings, failing the test on any item failure.
pub fn postings(items: Vec<ItemOutcome>) -> Vec<JobPosting> {
    items
        .into_iter()
        .map(|i| i.unwrap_or_else(|f| panic!("item failed: {f:?}")))
        .collect()
}

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/feeds/",
            $name
        ))
    };
}
pub(crate) use fixture;
