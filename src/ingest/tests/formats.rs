//! Format detection and the non-RSS formats: RDF, Atom, JSON Feed, job-board JSON APIs.

use super::{fixture, opts, postings, run};
use crate::domain::EmploymentType;
use crate::domain::codes::{ITEM_INVALID, PARSE_MALFORMED, PARSE_NOT_A_FEED, PARSE_TOO_DEEP};
use crate::domain::source::SourceFormat;
use crate::ingest::FeedFormat;

fn code(s: &crate::ingest::ParseSummary) -> Option<&str> {
    s.error.as_ref().map(|e| e.code.as_str())
}

#[test]
fn rdf_items_are_siblings_of_the_channel() {
    let (items, summary) = run(fixture!("rdf_rss1.xml"), &opts("https://jobs.example/rss"));
    assert_eq!(summary.format, Some(FeedFormat::Rdf));
    assert_eq!(summary.error, None);
    let jobs = postings(items);
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0].title, "Site Reliability Engineer");
    assert_eq!(jobs[0].company.as_deref(), Some("Example Corp"));
    assert_eq!(
        jobs[0].description_text.as_deref(),
        Some("On-call & automation.")
    );
    assert!(jobs[0].date_posted.is_some());
}

#[test]
fn atom_entries_map_alternate_link_author_categories_and_published() {
    let (items, summary) = run(
        fixture!("atom_jobs.xml"),
        &opts("https://jobs.example/feed.atom"),
    );
    assert_eq!(summary.format, Some(FeedFormat::Atom));
    assert_eq!(summary.error, None);
    let jobs = postings(items);
    let j = &jobs[0];
    assert_eq!(j.title, "Senior Rust Engineer & Mentor");
    assert_eq!(j.external_id, "tag:jobs.example,2026:job-42");
    assert_eq!(
        j.url.as_deref(),
        Some("https://jobs.example/jobs/42-senior-rust-engineer")
    );
    assert_eq!(j.company.as_deref(), Some("Ferrous Systems"));
    assert_eq!(j.categories, ["Engineering", "rust"]);
    assert_eq!(
        j.date_posted.map(|d| d.to_rfc3339()).as_deref(),
        Some("2026-08-01T07:30:00+00:00")
    );
    let html = j.description_html.as_deref().unwrap_or_default();
    assert!(
        html.starts_with("<p>Build fast things.</p>") && !html.contains("onerror"),
        "{html}"
    );
    assert_eq!(jobs[1].url.as_deref(), Some("https://jobs.example/jobs/43"));
    assert_eq!(
        jobs[1].description_text.as_deref(),
        Some("Numbers & charts.")
    );
}

#[test]
fn json_feed_items_map_and_numeric_ids_read_as_strings() {
    let (items, summary) = run(
        fixture!("json_feed_1_1.json"),
        &opts("https://jobs.example/feed.json"),
    );
    assert_eq!(summary.format, Some(FeedFormat::JsonFeed));
    assert_eq!(summary.error, None);
    let jobs = postings(items);
    assert_eq!(jobs[0].external_id, "1");
    assert_eq!(jobs[0].company.as_deref(), Some("Acme Inc"));
    assert_eq!(
        jobs[0].description_html.as_deref(),
        Some("<p>Go &amp; Rust.</p>")
    );
    assert_eq!(
        jobs[0].logo_url.as_deref(),
        Some("https://jobs.example/logo.png")
    );
    assert_eq!(jobs[1].external_id, "2");
    assert_eq!(
        jobs[1].description_text.as_deref(),
        Some("Pixels <and> type.")
    );
}

#[test]
fn jobicy_api_is_recognised_and_mapped() {
    let (items, summary) = run(
        fixture!("jobicy-api-v2.json"),
        &opts("https://jobicy.com/api/v2/remote-jobs"),
    );
    assert_eq!(
        (summary.format, summary.items),
        (Some(FeedFormat::JsonApi), 5)
    );
    let jobs = postings(items);
    let j = &jobs[0];
    assert_eq!(j.external_id, "150172");
    assert_eq!(j.company.as_deref(), Some("Cox Enterprises"));
    assert_eq!(j.categories, ["Project & Program Management"]);
    assert_eq!(j.employment_type, Some(EmploymentType::FullTime));
    assert_eq!(j.locations, ["USA"]);
    let s = j.salary.clone().unwrap_or_default();
    assert_eq!(
        (s.min, s.max, s.period.as_deref()),
        (Some(122_600.0), Some(204_400.0), Some("YEAR"))
    );
    assert_eq!(
        j.date_posted.map(|d| d.to_rfc3339()).as_deref(),
        Some("2026-08-03T18:45:05+00:00")
    );
}

#[test]
fn remotive_api_is_recognised_and_mapped() {
    let (items, summary) = run(
        fixture!("remotive-api.json"),
        &opts("https://remotive.com/api/remote-jobs"),
    );
    assert_eq!(
        (summary.format, summary.items, summary.error),
        (Some(FeedFormat::JsonApi), 5, None)
    );
    let jobs = postings(items);
    let j = &jobs[1];
    assert_eq!(j.external_id, "2090903");
    assert_eq!(j.company.as_deref(), Some("Workada"));
    assert_eq!(j.employment_type, Some(EmploymentType::Contractor));
    assert_eq!(
        j.salary.as_ref().and_then(|s| s.period.as_deref()),
        Some("HOUR")
    );
    assert_eq!(j.remote, Some(true));
    assert!(
        jobs.iter()
            .all(|j| j.description_html.is_some() && j.date_posted.is_some())
    );
}

#[test]
fn remoteok_skips_the_legal_notice() {
    let (items, summary) = run(
        fixture!("remoteok-api.json"),
        &opts("https://remoteok.com/api"),
    );
    assert_eq!(
        (summary.format, summary.items),
        (Some(FeedFormat::JsonApi), 4)
    );
    let jobs = postings(items);
    assert_eq!(jobs[0].external_id, "1135929");
    assert_eq!(jobs[0].title, "Compatibility");
    assert_eq!(jobs[0].company.as_deref(), Some("DanielTems"));
    assert_eq!(jobs[0].salary, None, "0 means not stated");
}

#[test]
fn arbeitnow_and_himalayas_are_recognised_and_mapped() {
    let (items, summary) = run(
        fixture!("arbeitnow-api.json"),
        &opts("https://www.arbeitnow.com/api/job-board-api"),
    );
    assert_eq!((summary.items, summary.error), (5, None));
    let jobs = postings(items);
    assert_eq!(
        jobs[1].external_id,
        "machine-meta-learner-heidelberg-235959"
    );
    assert_eq!(jobs[1].remote, Some(false));
    assert!(jobs[1].date_posted.is_some());
    let (items, summary) = run(
        fixture!("himalayas-api.json"),
        &opts("https://himalayas.app/jobs/api"),
    );
    assert_eq!((summary.items, summary.error), (4, None));
    let jobs = postings(items);
    assert_eq!(jobs[1].company.as_deref(), Some("Binance"));
    assert_eq!(jobs[1].locations, ["Hong Kong", "Singapore", "Taiwan"]);
    assert_eq!(jobs[1].employment_type, Some(EmploymentType::FullTime));
    // `expiryDate` is epoch seconds.
    assert_eq!(
        jobs[0].valid_through.map(|d| d.timestamp()),
        Some(1_788_915_531)
    );
    assert!(jobs.iter().all(|j| j.valid_through.is_some()));
}

#[test]
fn a_json_api_item_with_valid_through_keeps_it() {
    let body = br#"{"jobs":[{"id":7,"title":"Dev","company_name":"A","candidate_required_location":"x","validThrough":"2031-05-06T00:00:00Z"}]}"#;
    let (items, _) = run(body, &opts("https://ex.com/"));
    assert_eq!(
        postings(items)[0]
            .valid_through
            .map(|d| d.to_rfc3339())
            .as_deref(),
        Some("2031-05-06T00:00:00+00:00")
    );
}

#[test]
fn a_named_mapping_is_used_when_the_source_says_so() {
    let mut o = opts("https://example.com/api");
    o.format = SourceFormat::JsonApi("remotive".into());
    let body = br#"{"jobs":[{"id":7,"title":"Dev","url":"https://ex.com/7"}]}"#;
    let (items, summary) = run(body, &o);
    assert_eq!(summary.error, None);
    assert_eq!(postings(items)[0].external_id, "7");
}

#[test]
fn ids_as_number_and_string_are_the_same_key() {
    let a = br#"{"jobs":[{"id":1,"title":"Dev","company_name":"A","candidate_required_location":"x"}]}"#;
    let b = br#"{"jobs":[{"id":"1","title":"Dev","company_name":"A","candidate_required_location":"x"}]}"#;
    let (a, _) = run(a, &opts("https://ex.com/"));
    let (b, _) = run(b, &opts("https://ex.com/"));
    assert_eq!(postings(a)[0].external_id, postings(b)[0].external_id);
}

#[test]
fn a_title_of_the_wrong_type_fails_the_item() {
    let body = br#"{"jobs":[{"id":1,"title":{"x":1},"company_name":"A","candidate_required_location":"x"}]}"#;
    let (items, _) = run(body, &opts("https://ex.com/"));
    assert_eq!(
        items[0].as_ref().map_err(|f| f.code.as_str()),
        Err(ITEM_INVALID)
    );
}

#[test]
fn unknown_json_html_text_and_empty_bodies_are_not_a_feed() {
    for body in [
        &br#"{"error":"rate limit"}"#[..],
        b"<!DOCTYPE html><html></html>",
        b"plain text",
        b"",
        b"  \n ",
        b"\x89PNG\r\n",
    ] {
        let (_, summary) = run(body, &opts("https://ex.com/"));
        assert_eq!(
            code(&summary),
            Some(PARSE_NOT_A_FEED),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn broken_and_deep_json_fail_with_position_or_depth() {
    let (_, summary) = run(br#"{"jobs":[{"id":1,"#, &opts("https://ex.com/"));
    assert_eq!(code(&summary), Some(PARSE_MALFORMED));
    assert!(
        summary
            .error
            .map(|e| e.message)
            .unwrap_or_default()
            .starts_with("line 1, column")
    );
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (_, summary) = run(deep.as_bytes(), &opts("https://ex.com/"));
    assert_eq!(code(&summary), Some(PARSE_TOO_DEEP));
    let deep = format!("{{\"jobs\":{}{}}}", "[".repeat(100), "]".repeat(100));
    let (_, summary) = run(deep.as_bytes(), &opts("https://ex.com/"));
    assert_eq!(code(&summary), Some(PARSE_TOO_DEEP));
}

#[test]
fn json_item_cap_counts_the_rest_as_skipped() {
    let jobs: Vec<String> = (0..30)
        .map(|i| format!(r#"{{"id":{i},"title":"Job {i}","company_name":"A","candidate_required_location":"x"}}"#))
        .collect();
    let body = format!(r#"{{"jobs":[{}]}}"#, jobs.join(","));
    let mut o = opts("https://ex.com/");
    o.limits.max_items = 10;
    let (items, summary) = run(body.as_bytes(), &o);
    assert_eq!((items.len(), summary.items, summary.skipped), (10, 10, 20));
    assert_eq!(
        code(&summary),
        Some(crate::domain::codes::PARSE_TOO_MANY_ITEMS)
    );
}

#[test]
fn self_closed_rss_and_atom_roots_are_empty_feeds() {
    for (body, format) in [
        (&b"<rss version=\"2.0\"/>"[..], FeedFormat::Rss),
        (
            b"<feed xmlns=\"http://www.w3.org/2005/Atom\"/>",
            FeedFormat::Atom,
        ),
    ] {
        let (items, summary) = run(body, &opts("https://ex.com/"));
        assert!(items.is_empty());
        assert_eq!((summary.format, summary.error), (Some(format), None));
    }
}
