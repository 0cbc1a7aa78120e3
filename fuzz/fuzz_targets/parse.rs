//! Feeds arbitrary bytes to `ingest::parse` with small limits: it must not panic, hang or
//! grow without bound, and whatever it stores must be safe (no script, no control characters);
//! `parallel::parse_parallel` must give the same items and the same ending.
#![no_main]

use std::ops::ControlFlow;

use job_importer::domain::source::SourceFormat;
use job_importer::ingest::{ParseLimits, ParseOptions, parallel, parse};
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
    let mut seen = Vec::new();
    let summary = parse(body, &opts, &mut |item| {
        seen.push(item.clone());
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
    assert_eq!(seen.len(), summary.items);
    assert!(summary.items <= 50);
    // The daemon's path (read-ahead and normalizing threads) gives the same items and ending.
    let mut threaded = Vec::new();
    let s2 = parallel::parse_parallel(body, &opts, 2, &mut |item| {
        threaded.push(item);
        ControlFlow::Continue(())
    });
    assert_eq!(seen.len(), threaded.len());
    for (a, b) in seen.iter().zip(&threaded) {
        match (a, b) {
            (Ok(a), Ok(b)) => {
                // Dates in the future are clamped to each parse's own "now".
                let mut b = b.clone();
                if let (Some(x), Some(y)) = (a.date_posted, b.date_posted)
                    && (x - y).num_seconds().abs() < 60
                {
                    b.date_posted = Some(x);
                }
                assert_eq!(a, &b);
            }
            _ => assert_eq!(a, b),
        }
    }
    assert_eq!((summary.items, &summary.error), (s2.items, &s2.error));
});
