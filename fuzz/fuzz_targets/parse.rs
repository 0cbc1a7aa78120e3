//! Feeds arbitrary bytes to `ingest::parse` with small limits: it must not panic, hang or
//! grow without bound, and whatever it stores must be safe (no script, no control characters).
#![no_main]

use std::ops::ControlFlow;

use job_importer::domain::source::SourceFormat;
use job_importer::ingest::{ParseLimits, ParseOptions, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks a header charset, so the charset paths are explored too.
    let (charset, body) = match data.split_first() {
        Some((b, rest)) => (
            [
                "",
                "utf-8",
                "iso-8859-1",
                "utf-16",
                "koi8-r",
                "iso-2022-kr",
                "bogus",
            ][*b as usize % 7],
            rest,
        ),
        None => ("", data),
    };
    let opts = ParseOptions {
        limits: ParseLimits {
            max_items: 50,
            max_item_bytes: 64 * 1024,
            max_depth: 32,
            ..ParseLimits::default()
        },
        base_url: url::Url::parse("https://ex.com/feed/").ok(),
        header_charset: (!charset.is_empty()).then(|| charset.to_owned()),
        format: SourceFormat::Auto,
    };
    let mut seen = 0usize;
    let summary = parse(body, &opts, &mut |item| {
        seen += 1;
        if let Ok(job) = item {
            assert!(!job.title.trim().is_empty());
            assert!(
                job.title
                    .chars()
                    .all(|c| !c.is_control() || c == '\t' || c == '\n')
            );
            if let Some(html) = &job.description_html {
                assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
            }
            if let Some(u) = &job.url {
                assert!(u.starts_with("http://") || u.starts_with("https://"), "{u}");
            }
        }
        ControlFlow::Continue(())
    });
    assert_eq!(seen, summary.items);
    assert!(summary.items <= 50);
});
