//! The allow-list rewriter against ammonia: whenever the rewriter takes a fragment, its output
//! must be byte for byte ammonia's, with a base URL for relative links and without one, and the
//! text form it builds on the way must be the one read from that output.

#![no_main]

use job_importer::ingest::sanitize::{Sanitizer, html_to_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(html) = std::str::from_utf8(data) else {
        return;
    };
    let base = url::Url::parse("https://jobs.example.com/feed/").ok();
    for sanitizer in [Sanitizer::new(base.as_ref()), Sanitizer::new(None)] {
        if let Some((fast, text)) = sanitizer.clean_fast_with_text(html) {
            assert_eq!(fast, sanitizer.clean_ammonia(html), "input: {html:?}");
            assert_eq!(
                Some(text).filter(|t| !t.is_empty()),
                html_to_text(&fast, usize::MAX),
                "text form of {html:?}"
            );
        }
    }
});
