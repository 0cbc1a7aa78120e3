//! Bad-input catalog section C: DTDs, malformed documents, depth, size and count caps.

use super::{opts, postings, run};
use crate::domain::codes::{
    ITEM_TOO_LARGE, PARSE_FORBIDDEN_DTD, PARSE_MALFORMED, PARSE_NOT_A_FEED, PARSE_TOO_DEEP,
    PARSE_TOO_MANY_ITEMS,
};
use crate::ingest::ParseOptions;

fn code(summary: &crate::ingest::ParseSummary) -> Option<&str> {
    summary.error.as_ref().map(|e| e.code.as_str())
}

fn item(title: &str) -> String {
    format!("<item><title>{title}</title><guid>{title}</guid></item>")
}

#[test]
fn billion_laughs_is_refused_without_expansion() {
    let mut dtd = String::from("<!DOCTYPE rss [<!ENTITY l0 \"lol\">");
    for i in 1..10 {
        let refs = format!("&l{};", i - 1).repeat(10);
        dtd.push_str(&format!("<!ENTITY l{i} \"{refs}\">"));
    }
    let feed = format!("{dtd}]><rss><channel>{}</channel></rss>", item("&l9;"));
    let (items, summary) = run(feed.as_bytes(), &opts("https://ex.com/"));
    assert!(items.is_empty());
    assert_eq!(code(&summary), Some(PARSE_FORBIDDEN_DTD));
}

#[test]
fn external_entities_are_refused_and_nothing_from_etc_is_stored() {
    let feed = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/hostname\">]>\
         <rss><channel>{}</channel></rss>",
        item("&x;")
    );
    let (items, summary) = run(feed.as_bytes(), &opts("https://ex.com/"));
    assert!(items.is_empty());
    assert_eq!(code(&summary), Some(PARSE_FORBIDDEN_DTD));
}

#[test]
fn a_doctype_without_entities_is_ignored_and_never_fetched() {
    let feed = format!(
        "<!DOCTYPE rss SYSTEM \"http://127.0.0.1:9/x.dtd\"><rss><channel>{}</channel></rss>",
        item("Dev")
    );
    let (items, summary) = run(feed.as_bytes(), &opts("https://ex.com/"));
    assert_eq!(summary.error, None);
    assert_eq!(postings(items)[0].title, "Dev");
}

#[test]
fn undeclared_entities_stay_literal_and_do_not_fail_the_item() {
    let feed = format!(
        "<rss><channel>{}</channel></rss>",
        item("Dev &xxe; &nbsp;Ops")
    );
    let (items, summary) = run(feed.as_bytes(), &opts("https://ex.com/"));
    assert_eq!(summary.error, None);
    assert_eq!(postings(items)[0].title, "Dev &xxe; Ops");
}

#[test]
fn an_unescaped_ampersand_is_kept_as_text() {
    let feed = format!("<rss><channel>{}</channel></rss>", item("R & D Engineer"));
    let (items, summary) = run(feed.as_bytes(), &opts("https://ex.com/"));
    assert_eq!(summary.error, None);
    assert_eq!(postings(items)[0].title, "R & D Engineer");
}

#[test]
fn truncated_feed_keeps_complete_items_and_records_the_parse_error() {
    let feed = format!(
        "<rss><channel>\n{}\n{}\n<item><title>Cut",
        item("One"),
        item("Two")
    );
    let (items, summary) = run(feed.as_bytes(), &opts("https://ex.com/"));
    let jobs = postings(items);
    assert_eq!(
        jobs.iter().map(|j| j.title.as_str()).collect::<Vec<_>>(),
        ["One", "Two"]
    );
    let err = summary.error.unwrap_or_else(|| panic!("no error"));
    assert_eq!(err.code, PARSE_MALFORMED);
    assert!(err.message.contains("line 4"), "{}", err.message);
}

#[test]
fn mismatched_tags_keep_earlier_items_and_name_line_and_column() {
    let feed = format!(
        "<rss><channel>\n{}\n<item><title>Bad</titel></item></channel></rss>",
        item("One")
    );
    let (items, summary) = run(feed.as_bytes(), &opts("https://ex.com/"));
    assert_eq!(postings(items).len(), 1);
    let err = summary.error.unwrap_or_else(|| panic!("no error"));
    assert_eq!(err.code, PARSE_MALFORMED);
    assert!(
        err.message.starts_with("line 3, column "),
        "{}",
        err.message
    );
}

#[test]
fn nesting_beyond_the_depth_cap_ends_the_parse() {
    let feed = format!(
        "<rss><channel>{}<item><title>Deep</title>{}</item></channel></rss>",
        item("One"),
        "<x>".repeat(10_000)
    );
    let (items, summary) = run(feed.as_bytes(), &opts("https://ex.com/"));
    assert_eq!(postings(items).len(), 1);
    assert_eq!(code(&summary), Some(PARSE_TOO_DEEP));
}

#[test]
fn deeply_nested_html_in_a_description_is_flattened_without_overflow() {
    let html = format!("{}deep{}", "<div>".repeat(50_000), "</div>".repeat(50_000));
    let feed = format!(
        "<rss><channel><item><title>T</title><description><![CDATA[{html}]]></description></item></channel></rss>"
    );
    let (items, summary) = run(feed.as_bytes(), &opts("https://ex.com/"));
    assert_eq!(summary.error, None);
    let job = &postings(items)[0];
    assert_eq!(job.description_text.as_deref(), Some("deep"));
}

#[test]
fn items_past_the_cap_are_counted_as_skipped() {
    let body: String = (0..25).map(|i| item(&format!("Job {i}"))).collect();
    let feed = format!("<rss><channel>{body}</channel></rss>");
    let mut o: ParseOptions = opts("https://ex.com/");
    o.limits.max_items = 10;
    let (items, summary) = run(feed.as_bytes(), &o);
    assert_eq!(items.len(), 10);
    assert_eq!((summary.items, summary.skipped), (10, 15));
    assert_eq!(code(&summary), Some(PARSE_TOO_MANY_ITEMS));
}

#[test]
fn a_feed_with_exactly_max_items_is_read_whole_without_error() {
    let body: String = (0..10).map(|i| item(&format!("Job {i}"))).collect();
    let feed = format!("<rss><channel>{body}</channel></rss>");
    let mut o: ParseOptions = opts("https://ex.com/");
    o.limits.max_items = 10;
    let (items, summary) = run(feed.as_bytes(), &o);
    assert_eq!((items.len(), summary.skipped), (10, 0));
    assert_eq!(summary.error, None);
}

#[test]
fn an_item_over_the_byte_cap_fails_alone() {
    let huge = "x".repeat(5000);
    let feed = format!(
        "<rss><channel>{}<item><title>Big</title><description>{huge}</description><guid>big</guid></item>{}</channel></rss>",
        item("Before"),
        item("After")
    );
    let mut o = opts("https://ex.com/");
    o.limits.max_item_bytes = 1000;
    let (items, summary) = run(feed.as_bytes(), &o);
    assert_eq!(summary.error, None);
    assert_eq!(items.len(), 3);
    let Err(failure) = &items[1] else {
        panic!("the huge item succeeded")
    };
    assert_eq!(failure.code, ITEM_TOO_LARGE);
    assert_eq!(failure.external_id.as_deref(), Some("big"));
    assert!(items[0].is_ok() && items[2].is_ok());
}

#[test]
fn control_characters_are_stripped_from_stored_text() {
    let feed = format!(
        "<rss><channel>{}</channel></rss>",
        item("Dev\u{1}\u{8}\u{b} Ops&#x7;")
    );
    let (items, _) = run(feed.as_bytes(), &opts("https://ex.com/"));
    assert_eq!(postings(items)[0].title, "Dev Ops");
}

#[test]
fn html_and_other_roots_are_not_a_feed() {
    for body in [
        "<html><body>hi</body></html>",
        "<?xml version=\"1.0\"?><!-- x -->",
    ] {
        let (_, summary) = run(body.as_bytes(), &opts("https://ex.com/"));
        assert_eq!(code(&summary), Some(PARSE_NOT_A_FEED), "{body}");
    }
}

#[test]
fn the_callback_can_stop_the_parse_without_an_error() {
    let body: String = (0..5).map(|i| item(&format!("Job {i}"))).collect();
    let feed = format!("<rss><channel>{body}</channel></rss>");
    let mut seen = 0;
    let summary = crate::ingest::parse(feed.as_bytes(), &opts("https://ex.com/"), &mut |_| {
        seen += 1;
        if seen == 2 {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    });
    assert_eq!((seen, summary.items), (2, 2));
    assert_eq!(summary.error, None);
}

/// A feed produced on demand, so the test proves the parser streams: the whole body never
/// exists in memory at once.
struct GeneratedFeed {
    next: usize,
    total: usize,
    pending: Vec<u8>,
    done: bool,
}

impl std::io::Read for GeneratedFeed {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() && !self.done {
            self.pending = match self.next {
                0 => b"<rss version=\"2.0\"><channel>".to_vec(),
                n if n <= self.total => item(&format!("Job {n}")).into_bytes(),
                _ => {
                    self.done = true;
                    b"</channel></rss>".to_vec()
                }
            };
            self.next += 1;
        }
        let n = out.len().min(self.pending.len());
        out[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

#[test]
fn a_million_tiny_items_stream_through_the_item_cap() {
    let feed = GeneratedFeed {
        next: 0,
        total: 1_000_000,
        pending: Vec::new(),
        done: false,
    };
    let mut o = opts("https://ex.com/");
    o.limits.max_items = 5_000;
    let mut kept = 0;
    let summary = crate::ingest::parse(std::io::BufReader::new(feed), &o, &mut |item| {
        kept += usize::from(item.is_ok());
        std::ops::ControlFlow::Continue(())
    });
    assert_eq!(
        (kept, summary.items, summary.skipped),
        (5_000, 5_000, 995_000)
    );
    assert_eq!(code(&summary), Some(PARSE_TOO_MANY_ITEMS));
}
