//! The built-in mappings against the jobs the compiled mappings they replace gave for the
//! real-feed fixtures (`tests/fixtures/mappings/*.jobs.json`), a mapping of the We Work
//! Remotely RSS sample against the RSS parser, and the transforms one by one.

use std::ops::ControlFlow;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::domain::JobPosting;
use crate::domain::mapping::Mapping;
use crate::domain::source::SourceFormat;
use crate::ingest::tests::{fixture, opts, postings, run};
use crate::ingest::{FeedFormat, ParseOptions};

macro_rules! expected {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/mappings/",
            $name,
            ".jobs.json"
        ))
    };
}

fn expected(text: &str) -> Vec<JobPosting> {
    serde_json::from_str(text).expect("reference jobs")
}

fn with_mapping(base: &str, m: Mapping) -> ParseOptions {
    let mut o = opts(base);
    o.format = SourceFormat::Custom;
    o.mapping = Some(Arc::new(m));
    o
}

fn mapping(v: Value) -> Mapping {
    Mapping::parse(&v).unwrap_or_else(|e| panic!("{}", crate::domain::mapping::describe(&e)))
}

#[test]
fn built_in_mappings_give_the_jobs_the_compiled_mappings_gave() {
    let cases: [(&str, &[u8], &str, &str); 5] = [
        (
            "jobicy",
            fixture!("jobicy-api-v2.json"),
            "https://jobicy.com/api/v2/remote-jobs",
            expected!("jobicy"),
        ),
        (
            "remotive",
            fixture!("remotive-api.json"),
            "https://remotive.com/api/remote-jobs",
            expected!("remotive"),
        ),
        (
            "remoteok",
            fixture!("remoteok-api.json"),
            "https://remoteok.com/api",
            expected!("remoteok"),
        ),
        (
            "arbeitnow",
            fixture!("arbeitnow-api.json"),
            "https://www.arbeitnow.com/api/job-board-api",
            expected!("arbeitnow"),
        ),
        (
            "himalayas",
            fixture!("himalayas-api.json"),
            "https://himalayas.app/jobs/api",
            expected!("himalayas"),
        ),
    ];
    for (name, body, base, want) in cases {
        // Detected from the content...
        let (items, summary) = run(body, &opts(base));
        assert_eq!(summary.format, Some(FeedFormat::JsonApi), "{name}");
        assert_eq!(summary.error, None, "{name}");
        assert_eq!(postings(items), expected(want), "{name} (auto)");
        // ...and named by the source.
        let mut o = opts(base);
        o.format = SourceFormat::JsonApi(name.into());
        let (items, _) = run(body, &o);
        assert_eq!(postings(items), expected(want), "{name} (named)");
    }
}

/// A mapping of the We Work Remotely RSS sample, as an operator would write it.
fn wwr_mapping() -> Mapping {
    mapping(json!({
        "items": "item",
        "fields": {
            "externalId": "guid",
            "title": "title",
            "url": "link",
            "datePosted": "pubDate",
            "validThrough": "expires_at",
            "description": "description",
            "locations": "region",
            "employmentType": "type",
            "categories": "category",
            "logo": "media:content.@url"
        }
    }))
}

#[test]
fn a_mapping_of_the_rss_sample_gives_what_the_rss_parser_gives() {
    let base = "https://weworkremotely.com/remote-jobs.rss";
    let body = fixture!("weworkremotely-rss.xml");
    let (items, summary) = run(body, &with_mapping(base, wwr_mapping()));
    assert_eq!(
        (summary.format, summary.error),
        (Some(FeedFormat::XmlMapping), None)
    );
    let mapped = postings(items);
    let (items, _) = run(body, &opts(base));
    let parsed = postings(items);
    assert_eq!(mapped.len(), 4);
    // The RSS parser also keeps elements it does not map (`country`, `skills`) in `extra`;
    // a mapping keeps only what it names.
    let without_extra = |jobs: Vec<JobPosting>| -> Vec<JobPosting> {
        jobs.into_iter()
            .map(|mut j| {
                j.extra.clear();
                j
            })
            .collect()
    };
    assert_eq!(without_extra(mapped), without_extra(parsed));
    assert_eq!(
        without_extra(expected(expected!("weworkremotely"))).len(),
        4
    );
}

#[test]
fn transforms_split_join_trim_date_strip_html_salary_and_template() {
    let body = br#"{"data": {"results": [
        {"ref": 7, "name": " <b>Rust</b> dev ", "org": {"name": "Acme"}, "where": "Berlin; Remote",
         "tags": ["a", "b"], "ms": 1780000000000, "pay": "EUR 60k - 80k per year",
         "posted": "07/12/2026", "kind": "notice"},
        {"ref": 8, "name": "Skipped", "kind": "NOTICE board"}
    ]}}"#;
    let m = mapping(json!({
        "items": "data.results",
        "skip": [{"all": [{"path": "kind", "contains": "notice board"}]}],
        "fields": {
            "externalId": "ref",
            "logo": {"path": "ref", "transforms": [{"template": "https://ex.com/logo/{value}.png"}]},
            "title": {"path": "name", "transforms": ["strip_html", "trim"]},
            "company": "org.name",
            "locations": {"path": "where", "transforms": [{"split": ";"}]},
            "categories": {"path": "tags", "transforms": [{"join": "+"}]},
            "validThrough": {"path": "ms", "transforms": [{"date": "epoch_millis"}]},
            "datePosted": {"path": "posted", "transforms": [{"date": "%d/%m/%Y"}]},
            "salary": {"path": "pay", "transforms": ["salary"]},
            "url": {"transforms": [{"template": "https://ex.com/{company}/{externalId}"}]},
            "description": {"transforms": [{"template": "{title} at {company}"}]}
        }
    }));
    let (items, summary) = run(body, &with_mapping("https://ex.com/", m));
    assert_eq!((summary.items, summary.error), (1, None));
    let j = &postings(items)[0];
    assert_eq!(j.external_id, "7");
    assert_eq!(j.logo_url.as_deref(), Some("https://ex.com/logo/7.png"));
    assert_eq!(j.title, "Rust dev");
    assert_eq!(j.company.as_deref(), Some("Acme"));
    assert_eq!(j.locations, ["Berlin", "Remote"]);
    assert_eq!(j.remote, Some(true));
    assert_eq!(j.categories, ["a+b"]);
    assert_eq!(j.valid_through.map(|d| d.timestamp()), Some(1_780_000_000));
    assert_eq!(
        j.date_posted.map(|d| d.to_rfc3339()).as_deref(),
        Some("2026-12-07T00:00:00+00:00")
    );
    let s = j.salary.clone().unwrap_or_default();
    assert_eq!(
        (s.min, s.max, s.period.as_deref()),
        (Some(60_000.0), Some(80_000.0), Some("YEAR"))
    );
    // Templates see the other fields' values as read, before normalization.
    assert_eq!(j.url.as_deref(), Some("https://ex.com/Acme/7"));
    assert_eq!(j.description_text.as_deref(), Some("Rust dev at Acme"));
}

#[test]
fn a_path_to_nothing_leaves_the_field_empty_and_a_non_text_title_fails_the_item() {
    let body = br#"[{"t": "A", "id": 1}, {"t": {"x": 1}, "id": 2}, "oops"]"#;
    let m = mapping(
        json!({"items": "", "fields": {"title": "t", "externalId": "id", "company": "nope"}}),
    );
    let (items, summary) = run(body, &with_mapping("https://ex.com/", m));
    assert_eq!(summary.items, 3);
    assert_eq!(
        items[0].as_ref().map(|j| j.company.clone()).ok(),
        Some(None)
    );
    let failure = items[1].as_ref().expect_err("object title");
    assert_eq!(
        (failure.code.as_str(), failure.external_id.as_deref()),
        ("item.invalid", Some("2"))
    );
    assert!(failure.message.contains("`t`"), "{}", failure.message);
    assert_eq!(
        items[2].as_ref().err().map(|f| f.code.as_str()),
        Some("item.invalid")
    );
}

#[test]
fn xml_mappings_keep_the_item_cap_and_refuse_entity_declarations() {
    let m = mapping(json!({"items": "job", "fields": {"title": "name"}}));
    let mut o = with_mapping("https://ex.com/", m.clone());
    o.limits.max_items = 2;
    let body =
        b"<jobs><job><name>a</name></job><job><name>b</name></job><job><name>c</name></job></jobs>";
    let (items, summary) = run(body, &o);
    assert_eq!((items.len(), summary.skipped), (2, 1));
    assert_eq!(
        summary.error.map(|e| e.code),
        Some("parse.too_many_items".to_owned())
    );
    let dtd = b"<!DOCTYPE x [<!ENTITY a 'b'>]><jobs><job><name>&a;</name></job></jobs>";
    let (_, summary) = run(dtd, &with_mapping("https://ex.com/", m));
    assert_eq!(
        summary.error.map(|e| e.code),
        Some("parse.forbidden_dtd".to_owned())
    );
}

#[test]
fn a_parse_can_stop_early() {
    let m = mapping(json!({"items": "/jobs", "fields": {"title": "t"}}));
    let body = br#"{"jobs": [{"t": "a"}, {"t": "b"}]}"#;
    let mut seen = 0;
    crate::ingest::parse(&body[..], &with_mapping("https://ex.com/", m), &mut |_| {
        seen += 1;
        ControlFlow::Break(())
    });
    assert_eq!(seen, 1);
}

#[test]
fn the_readme_example_mapping_is_valid_and_reads_its_example() {
    let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
    let section = &readme[readme.find("## Mappings").expect("a Mappings section")..];
    let start = section.find("```json\n").expect("a JSON example") + 8;
    let end = start + section[start..].find("```").expect("its end");
    let m = mapping(serde_json::from_str(&section[start..end]).expect("JSON"));
    let body = br#"{"data": {"results": [{"ref": 7, "name": "<b>Rust</b> dev", "org": {"name": "Acme"}, "where": "Berlin; Remote", "tags": ["rust"], "posted": "07/12/2026", "expiresMs": 1780000000000, "pay": "EUR 60k - 80k per year", "kind": "job"}, {"ref": 8, "name": "x", "kind": "notice"}]}}"#;
    let (items, summary) = run(body, &with_mapping("https://board.example/api", m));
    assert_eq!((summary.items, summary.error), (1, None));
    let j = &postings(items)[0];
    assert_eq!(
        (j.title.as_str(), j.company.as_deref()),
        ("Rust dev", Some("Acme"))
    );
    assert_eq!(j.url.as_deref(), Some("https://board.example/jobs/7"));
    assert_eq!(j.remote, Some(false));
    assert!(j.salary.is_some() && j.date_posted.is_some() && j.valid_through.is_some());
}
