//! Normalization rules across formats: Unicode NFC, future dates, link identity, base URLs,
//! Atom XHTML and the configurable field caps.

use chrono::{Duration, Utc};

use super::{opts, postings, run};
use crate::ingest::ParseOptions;

fn rss(items: &str) -> String {
    format!("<rss><channel>{items}</channel></rss>")
}

fn one(feed: &str, o: &ParseOptions) -> crate::domain::JobPosting {
    let (items, summary) = run(feed.as_bytes(), o);
    assert_eq!(summary.error, None);
    postings(items).remove(0)
}

#[test]
fn nfc_and_nfd_spellings_of_one_item_get_the_same_id_and_text() {
    let feed = rss(
        "<item><title>Caf\u{e9}</title><guid>job-caf\u{e9}</guid></item>\
         <item><title>Cafe\u{301}</title><guid>job-cafe\u{301}</guid></item>",
    );
    let (items, _) = run(feed.as_bytes(), &opts("https://ex.com/"));
    let jobs = postings(items);
    assert_eq!(jobs[0].external_id, jobs[1].external_id);
    assert_eq!(jobs[0].title, jobs[1].title);
    assert_eq!(jobs[1].title, "Caf\u{e9}");
}

#[test]
fn future_dates_are_clamped_to_now_and_past_dates_kept() {
    let feed = rss(
        "<item><title>A</title><guid>a</guid><pubDate>Fri, 31 Dec 9999 10:00:00 +0000</pubDate></item>\
         <item><title>B</title><guid>b</guid><pubDate>Mon, 15 Jan 2024 10:00:00 +0000</pubDate></item>",
    );
    let before = Utc::now();
    let (items, _) = run(feed.as_bytes(), &opts("https://ex.com/"));
    let jobs = postings(items);
    let clamped = jobs[0].date_posted.unwrap_or_default();
    assert!(clamped >= before - Duration::seconds(5) && clamped <= Utc::now());
    assert_eq!(
        jobs[1].date_posted.map(|d| d.to_rfc3339()).as_deref(),
        Some("2024-01-15T10:00:00+00:00")
    );
}

#[test]
fn tracking_parameters_leave_the_id_but_not_the_apply_link() {
    let link = "https://ex.com/job/1?utm_source=rss&amp;ts=1";
    let job = one(
        &rss(&format!("<item><title>A</title><link>{link}</link></item>")),
        &opts("https://ex.com/feed"),
    );
    assert_eq!(job.external_id, "https://ex.com/job/1?ts=1");
    assert_eq!(
        job.url.as_deref(),
        Some("https://ex.com/job/1?utm_source=rss&ts=1")
    );
}

#[test]
fn relative_links_resolve_against_the_channel_link_before_the_feed_url() {
    let feed = "<rss><channel><link>https://jobs.ex.com/board/</link>\
        <atom:link href=\"https://feeds.example.net/x\" rel=\"self\"/>\
        <item><title>A</title><link>job/1</link><description>&lt;a href=\"apply\"&gt;Apply&lt;/a&gt;</description></item>\
        </channel></rss>";
    let job = one(feed, &opts("https://feeds.example.net/x"));
    assert_eq!(job.url.as_deref(), Some("https://jobs.ex.com/board/job/1"));
    let html = job.description_html.unwrap_or_default();
    assert!(html.contains("https://jobs.ex.com/board/apply"), "{html}");
}

#[test]
fn xml_base_on_the_item_or_an_ancestor_wins() {
    let feed = "<rss xml:base=\"https://a.ex.com/root/\"><channel><link>https://site.ex.com/</link>\
        <item><title>A</title><link>1</link></item>\
        <item xml:base=\"/other/\"><title>B</title><link>2</link></item>\
        </channel></rss>";
    let (items, _) = run(feed.as_bytes(), &opts("https://feed.ex.com/f"));
    let jobs = postings(items);
    assert_eq!(jobs[0].url.as_deref(), Some("https://a.ex.com/root/1"));
    assert_eq!(jobs[1].url.as_deref(), Some("https://a.ex.com/other/2"));
}

#[test]
fn atom_feed_alternate_link_is_the_base_for_entries() {
    let feed = "<feed xmlns=\"http://www.w3.org/2005/Atom\">\
        <link rel=\"self\" href=\"https://feeds.ex.net/atom\"/><link href=\"https://ex.com/jobs/\"/>\
        <entry><title>A</title><id>a</id><link href=\"7\"/></entry></feed>";
    let job = one(feed, &opts("https://feeds.ex.net/atom"));
    assert_eq!(job.url.as_deref(), Some("https://ex.com/jobs/7"));
}

#[test]
fn atom_xhtml_content_keeps_its_markup_without_the_wrapper() {
    let feed = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><title>A</title><id>a</id>\
        <content type=\"xhtml\"><div xmlns=\"http://www.w3.org/1999/xhtml\">\
        <p>Tom &amp; <b class=\"x\">Jerry</b><br/>line</p><script>alert(1)</script></div></content>\
        </entry></feed>";
    let job = one(feed, &opts("https://ex.com/"));
    assert_eq!(
        job.description_html.as_deref(),
        Some("<p>Tom &amp; <b>Jerry</b><br>line</p>")
    );
    assert_eq!(job.description_text.as_deref(), Some("Tom & Jerry\nline"));
}

#[test]
fn short_field_and_extra_caps_are_configurable() {
    let feed = rss("<item><title>Title</title><guid>g</guid>\
         <job_listing:company>Acme Corporation</job_listing:company>\
         <job_listing:location>Somewhere far away</job_listing:location>\
         <a>first value</a><b>second</b><c>third</c></item>");
    let mut o = opts("https://ex.com/");
    o.limits.max_field_chars = 4;
    o.limits.max_extra_entries = 2;
    o.limits.max_extra_chars = 5;
    let job = one(&feed, &o);
    assert_eq!(job.company.as_deref(), Some("Acme"));
    assert_eq!(job.locations, vec!["Some".to_owned()]);
    let extra: Vec<(&str, &str)> = job
        .extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(extra, vec![("a", "first"), ("b", "secon")]);
}

#[test]
fn a_title_at_the_cap_is_kept_whole_and_one_past_it_is_cut() {
    let mut o = opts("https://ex.com/");
    o.limits.max_title_chars = 5;
    let at = one(&rss("<item><title>abcde</title><guid>1</guid></item>"), &o);
    let past = one(&rss("<item><title>abcdef</title><guid>1</guid></item>"), &o);
    assert_eq!((at.title.as_str(), past.title.as_str()), ("abcde", "abcde"));
}
