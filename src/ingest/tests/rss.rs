//! RSS 2.0 and the WP Job Manager extension.

use super::{fixture, opts, postings, run};
use crate::domain::EmploymentType;
use crate::domain::codes::ITEM_MISSING_TITLE;
use crate::ingest::FeedFormat;

#[test]
fn jobicy_wpjm_items_map_company_location_and_job_type() {
    let (items, summary) = run(
        fixture!("jobicy_wpjm.xml"),
        &opts("https://jobicy.com/feed/job_feed"),
    );
    assert_eq!(summary.error, None);
    assert_eq!(summary.format, Some(FeedFormat::Rss));
    assert_eq!(summary.items, 5);
    let jobs = postings(items);
    let first = &jobs[0];
    assert_eq!(
        first.title,
        "Senior Manager, Change Enablement \u{2013} Cox Automotive Fleet"
    );
    assert_eq!(first.company.as_deref(), Some("Cox Enterprises"));
    assert_eq!(first.locations, vec!["USA".to_owned()]);
    assert_eq!(first.employment_type, Some(EmploymentType::FullTime));
    assert_eq!(
        first.categories,
        vec!["Project & Program Management".to_owned()]
    );
    assert_eq!(
        first.external_id,
        "https://jobicy.com/jobs/150172-senior-manager-change-enablement-cox-automotive-fleet"
    );
    assert_eq!(
        first.date_posted.map(|d| d.to_rfc3339()).as_deref(),
        Some("2026-08-03T18:45:05+00:00")
    );
    let salary = first.salary.clone().unwrap_or_default();
    assert_eq!((salary.min, salary.max), (Some(122_600.0), Some(204_400.0)));
    assert!(
        first
            .logo_url
            .as_deref()
            .is_some_and(|l| l.ends_with("613a036d6c31-221.webp"))
    );
    assert_eq!(first.extra.get("id").map(String::as_str), Some("150172"));
    assert_eq!(jobs[2].employment_type, Some(EmploymentType::PartTime));
    assert_eq!(jobs[3].employment_type, Some(EmploymentType::Contractor));
}

#[test]
fn content_encoded_is_preferred_and_sanitized() {
    let (items, _) = run(
        fixture!("jobicy_wpjm.xml"),
        &opts("https://jobicy.com/feed/job_feed"),
    );
    let jobs = postings(items);
    let html = jobs[0].description_html.as_deref().unwrap_or_default();
    assert!(
        html.contains("Job Family Group"),
        "content:encoded used: {html}"
    );
    assert!(
        !html.contains("script") && !html.contains("onclick"),
        "{html}"
    );
    assert!(html.contains("rel=\"nofollow noopener\""), "{html}");
    let text = jobs[0].description_text.as_deref().unwrap_or_default();
    assert!(text.starts_with("Company\nCox Automotive - USA"), "{text}");
}

#[test]
fn escaped_ampersand_inside_cdata_is_decoded_once() {
    let (items, _) = run(
        fixture!("jobicy_wpjm.xml"),
        &opts("https://jobicy.com/feed/job_feed"),
    );
    let jobs = postings(items);
    assert_eq!(
        jobs[1].title,
        "VP, Enterprise Change & Transformation Communications"
    );
}

#[test]
fn an_item_without_guid_is_identified_by_its_link() {
    let (items, _) = run(
        fixture!("jobicy_wpjm.xml"),
        &opts("https://jobicy.com/feed/job_feed"),
    );
    let jobs = postings(items);
    assert_eq!(
        jobs[2].external_id,
        "https://jobicy.com/jobs/150169-care-manager"
    );
    assert_eq!(
        jobs[2].url.as_deref(),
        Some("https://jobicy.com/jobs/150169-care-manager")
    );
}

#[test]
fn remote_flag_follows_location_wording() {
    let (items, _) = run(
        fixture!("jobicy_wpjm.xml"),
        &opts("https://jobicy.com/feed/job_feed"),
    );
    let jobs = postings(items);
    assert_eq!(jobs[0].remote, None);
    assert_eq!(jobs[3].remote, Some(true), "Anywhere");
    assert_eq!(jobs[4].remote, Some(true), "USA, Remote");
}

#[test]
fn a_missing_title_fails_the_item_not_the_run() {
    let feed = br#"<rss version="2.0"><channel>
        <item><guid>a</guid><description>x</description></item>
        <item><title>Dev</title><guid>b</guid></item>
    </channel></rss>"#;
    let (items, summary) = run(feed, &opts("https://ex.com/"));
    assert_eq!(summary.error, None);
    let Err(failure) = &items[0] else {
        panic!("an item without title succeeded")
    };
    assert_eq!(failure.code, ITEM_MISSING_TITLE);
    assert_eq!(failure.external_id.as_deref(), Some("a"));
    assert_eq!(items[1].as_ref().map(|j| j.title.as_str()), Ok("Dev"));
}

#[test]
fn relative_links_resolve_and_script_links_are_dropped() {
    let feed = br#"<rss version="2.0"><channel>
        <item><title>A</title><link>/jobs/1</link></item>
        <item><title>B</title><link>javascript:alert(1)</link><guid>b</guid></item>
    </channel></rss>"#;
    let (items, _) = run(feed, &opts("https://ex.com/feed.xml"));
    let jobs = postings(items);
    assert_eq!(jobs[0].url.as_deref(), Some("https://ex.com/jobs/1"));
    assert_eq!(jobs[0].external_id, "https://ex.com/jobs/1");
    assert_eq!(jobs[1].url, None);
}

#[test]
fn an_item_without_guid_or_link_gets_a_stable_hash_identity() {
    let feed = br#"<rss version="2.0"><channel>
        <item><title>Dev</title><pubDate>Mon, 15 Jan 2024 10:00:00 +0000</pubDate></item>
    </channel></rss>"#;
    let (a, _) = run(feed, &opts("https://ex.com/"));
    let (b, _) = run(feed, &opts("https://ex.com/"));
    let (a, b) = (postings(a), postings(b));
    assert_eq!(a[0].external_id.len(), 64);
    assert_eq!(a[0].external_id, b[0].external_id);
}

#[test]
fn empty_channel_is_a_feed_with_no_items() {
    let (items, summary) = run(
        b"<rss version=\"2.0\"><channel/></rss>",
        &opts("https://ex.com/"),
    );
    assert!(items.is_empty());
    assert_eq!(summary.error, None);
    assert_eq!(summary.format, Some(FeedFormat::Rss));
}

#[test]
fn html_and_entities_in_titles_become_plain_text() {
    let feed = br#"<rss version="2.0"><channel>
        <item><title>Senior &lt;b&gt;Dev&lt;/b&gt; &amp;amp;
            Lead</title><guid>a</guid></item>
        <item><title><![CDATA[<i>Dev</i> &#8211; Ops]]></title><guid>b</guid></item>
    </channel></rss>"#;
    let (items, _) = run(feed, &opts("https://ex.com/"));
    let jobs = postings(items);
    assert_eq!(jobs[0].title, "Senior Dev & Lead");
    assert_eq!(jobs[1].title, "Dev \u{2013} Ops");
}

#[test]
fn we_work_remotely_items_map_region_type_and_logo() {
    let (items, summary) = run(
        fixture!("weworkremotely-rss.xml"),
        &opts("https://weworkremotely.com/remote-jobs.rss"),
    );
    assert_eq!(summary.error, None);
    let jobs = postings(items);
    assert_eq!(jobs.len(), 4);
    assert_eq!(jobs[0].title, "Mathmo: Maths Coach");
    assert_eq!(jobs[0].locations, vec!["Anywhere in the World".to_owned()]);
    assert_eq!(jobs[0].remote, Some(true));
    assert_eq!(jobs[0].employment_type, Some(EmploymentType::Contractor));
    assert_eq!(jobs[0].categories, vec!["All Other Remote".to_owned()]);
    assert_eq!(
        jobs[0].extra.get("state").map(String::as_str),
        Some("London")
    );
    assert!(jobs[0].logo_url.is_some());
    assert!(
        jobs[0]
            .description_html
            .as_deref()
            .is_some_and(|h| h.contains("<strong>Headquarters:</strong>"))
    );
    assert_eq!(
        jobs[0].external_id,
        "https://weworkremotely.com/remote-jobs/mathmo-maths-coach"
    );
}

#[test]
fn we_work_remotely_expires_at_is_the_postings_valid_through() {
    let (items, _) = run(
        fixture!("weworkremotely-rss.xml"),
        &opts("https://weworkremotely.com/remote-jobs.rss"),
    );
    let jobs = postings(items);
    assert_eq!(
        jobs[0].valid_through.map(|d| d.to_rfc3339()).as_deref(),
        Some("2026-08-09T22:45:30+00:00")
    );
    assert!(jobs.iter().all(|j| j.valid_through.is_some()));
    assert!(jobs.iter().all(|j| !j.extra.contains_key("expires_at")));
}

#[test]
fn expiry_dates_in_a_sites_namespace_are_read_and_known_namespaces_are_not() {
    let job = the_posting(&item_feed(
        "xmlns:jobs=\"https://jobs.example.com\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\"",
        "<jobs:expires>2031-01-02T03:04:05Z</jobs:expires>",
    ));
    assert_eq!(
        job.valid_through.map(|d| d.to_rfc3339()).as_deref(),
        Some("2031-01-02T03:04:05+00:00"),
        "a date ahead is kept as it is"
    );
    let job = the_posting(&item_feed(
        "xmlns:m=\"http://search.yahoo.com/mrss/\"",
        "<m:expires>2031-01-02T03:04:05Z</m:expires>",
    ));
    assert_eq!(job.valid_through, None);
}

/// One RSS item with the given namespace declarations on the root and the given children.
fn item_feed(decls: &str, children: &str) -> String {
    format!(
        "<rss version=\"2.0\" {decls}><channel><title>Jobs</title>\
         <item><title>Engineer</title><guid>g1</guid>{children}</item></channel></rss>"
    )
}

fn the_posting(feed: &str) -> crate::domain::JobPosting {
    let (items, summary) = run(feed.as_bytes(), &opts("https://jobs.example.com/feed"));
    assert_eq!(summary.error, None);
    postings(items).remove(0)
}

#[test]
fn job_fields_under_another_prefix_are_recognised_by_their_namespace() {
    let job = the_posting(&item_feed(
        "xmlns:jobs=\"https://jobs.example.com\"",
        "<jobs:company>Acme</jobs:company><jobs:location>Berlin</jobs:location>\
         <jobs:job_type>Part Time</jobs:job_type><jobs:salary>$50,000</jobs:salary>\
         <jobs:reference>R-1</jobs:reference>",
    ));
    assert_eq!(job.company.as_deref(), Some("Acme"));
    assert_eq!(job.locations, vec!["Berlin".to_owned()]);
    assert_eq!(job.employment_type, Some(EmploymentType::PartTime));
    assert!(job.salary.is_some());
    assert_eq!(
        job.extra.get("jobs:reference").map(String::as_str),
        Some("R-1")
    );
}

#[test]
fn job_fields_in_a_default_namespace_without_a_prefix_are_recognised() {
    // The fields declare the site's namespace as their default one; the item's core elements
    // in the same default namespace still read as the core.
    let job = the_posting(
        "<rss version=\"2.0\"><channel><item xmlns=\"https://jobs.example.com/\">\
         <title>Engineer</title><guid>g1</guid><company>Acme</company>\
         <location>Lisbon</location><job_type>Contract</job_type></item></channel></rss>",
    );
    assert_eq!(job.title, "Engineer");
    assert_eq!(job.external_id, "g1");
    assert_eq!(job.company.as_deref(), Some("Acme"));
    assert_eq!(job.locations, vec!["Lisbon".to_owned()]);
    assert_eq!(job.employment_type, Some(EmploymentType::Contractor));
    let own = the_posting(&item_feed(
        "",
        "<company xmlns=\"https://other.example/ns\">Initech</company>",
    ));
    assert_eq!(own.company.as_deref(), Some("Initech"));
}

#[test]
fn job_fields_under_the_job_listing_prefix_are_recognised_declared_or_not() {
    let children = "<job_listing:company>Acme</job_listing:company>\
         <job_listing:location>Remote</job_listing:location>\
         <job_listing:job_type>Full Time</job_listing:job_type>";
    for decls in ["xmlns:job_listing=\"https://jobicy.com\"", ""] {
        let job = the_posting(&item_feed(decls, children));
        assert_eq!(job.company.as_deref(), Some("Acme"), "{decls}");
        assert_eq!(job.locations, vec!["Remote".to_owned()], "{decls}");
        assert_eq!(job.employment_type, Some(EmploymentType::FullTime));
    }
}

#[test]
fn an_element_of_a_known_namespace_is_not_taken_for_a_job_field() {
    // The prefix says `job_listing`, but the URI is Dublin Core's: `location`, `company` and
    // `job_type` there are not WP Job Manager's fields. Media RSS's `category` is not a job
    // category either, and Dublin Core's `date` under any prefix is the posting date.
    let job = the_posting(&item_feed(
        "xmlns:job_listing=\"http://purl.org/dc/elements/1.1/\" \
         xmlns:m=\"http://search.yahoo.com/mrss/\" xmlns:d=\"http://purl.org/dc/elements/1.1/\"",
        "<job_listing:location>Berlin</job_listing:location>\
         <job_listing:company>Acme</job_listing:company>\
         <job_listing:job_type>Full Time</job_listing:job_type>\
         <m:category>Nature</m:category><d:date>2026-08-03T18:45:05Z</d:date>",
    ));
    assert!(job.locations.is_empty());
    assert_eq!(job.company, None);
    assert_eq!(job.employment_type, None);
    assert!(job.categories.is_empty());
    assert_eq!(
        job.date_posted.map(|d| d.to_rfc3339()).as_deref(),
        Some("2026-08-03T18:45:05+00:00")
    );
}
