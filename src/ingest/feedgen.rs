//! A generator of WP Job Manager-shaped RSS (about 3.9 KB per item), for the benchmark, the
//! large-input tests and the fuzz seeds, so no big feed is ever committed.

use std::io::{Result, Write};

const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" \
xmlns:content=\"http://purl.org/rss/1.0/modules/content/\" \
xmlns:dc=\"http://purl.org/dc/elements/1.1/\" \
xmlns:media=\"http://search.yahoo.com/mrss/\" \
xmlns:job_listing=\"https://jobs.example.com\">\n<channel>\n<title>Example Jobs</title>\n\
<link>https://jobs.example.com</link>\n<description>Jobs</description>\n";

/// The description body: the mix of markup WP Job Manager boards publish (paragraphs, lists,
/// headings, links, entities escaped inside CDATA).
const BODY: &str = "<p>We are looking for a <strong>Senior Engineer</strong> to join our \
platform team &#8211; you will own services that handle millions of requests a day &amp; \
mentor others.</p>\n<h3>What you will do</h3>\n<ul>\n<li>Design, build and run reliable \
services in Rust and Go</li>\n<li>Work with product &amp; design on features customers \
love</li>\n<li>Improve our observability, on-call and incident reviews</li>\n<li>Review code \
and write clear design documents</li>\n</ul>\n<h3>What we are looking for</h3>\n<ul>\n\
<li>5+ years building backend systems</li>\n<li>Experience with PostgreSQL, Redis and \
Kafka</li>\n<li>Comfort with Kubernetes &#038; Terraform</li>\n<li>Clear written \
communication</li>\n</ul>\n<p>Benefits include a home-office budget, <em>flexible \
hours</em>, 30 days of paid leave and a learning budget of &euro;2,000 a year.</p>\n\
<p>Read more about us on <a href=\"https://example.com/about\" target=\"_blank\">our \
site</a> or <a href=\"/apply\">apply here</a>.</p>\n";

/// Writes a feed of `items` items to `w` and returns the bytes written.
pub fn write_wpjm_feed(w: &mut impl Write, items: usize) -> Result<u64> {
    let mut n = 0u64;
    let mut put = |w: &mut dyn Write, s: &str| -> Result<()> {
        n += s.len() as u64;
        w.write_all(s.as_bytes())
    };
    put(w, HEAD)?;
    for i in 0..items {
        put(w, &item(i))?;
    }
    put(w, "</channel>\n</rss>\n")?;
    Ok(n)
}

/// One item; numbers vary with `i` so no two items are alike.
pub fn item(i: usize) -> String {
    let company = format!("Example Corp {}", i % 97);
    let body = BODY.repeat(3);
    format!(
        "<item>\n<title>Senior Rust Engineer &#8211; Platform #{i}</title>\n\
<link>https://jobs.example.com/job/senior-rust-engineer-{i}/</link>\n\
<dc:creator><![CDATA[{company}]]></dc:creator>\n\
<pubDate>Mon, 03 Aug 2026 18:{:02}:05 +0000</pubDate>\n\
<category><![CDATA[Engineering]]></category>\n\
<guid isPermaLink=\"false\">https://jobs.example.com/?post_type=job_listing&#038;p={i}</guid>\n\
<description><![CDATA[Senior Rust Engineer at {company}: build reliable services &amp; \
mentor others. Remote (USA), full time, $120k-$160k.]]></description>\n\
<content:encoded><![CDATA[<p>Job #{i} at {company}.</p>\n{body}]]></content:encoded>\n\
<job_listing:location><![CDATA[Remote, USA]]></job_listing:location>\n\
<job_listing:job_type><![CDATA[Full Time]]></job_listing:job_type>\n\
<job_listing:company><![CDATA[{company}]]></job_listing:company>\n\
<job_listing:salary><![CDATA[$120,000 - $160,000 / year]]></job_listing:salary>\n\
<job_listing:category><![CDATA[Software Development]]></job_listing:category>\n\
<media:content url=\"https://jobs.example.com/logos/{}.png\" medium=\"image\"/>\n</item>\n",
        i % 60,
        i % 97
    )
}
