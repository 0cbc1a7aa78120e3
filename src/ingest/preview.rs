//! What an import of a body would produce, computed without writing anything: the first jobs
//! as they would be stored, how many items have each field, every failure, and the identity
//! and content hash of each job so the caller can count new, updated and unchanged against the
//! store.

use std::collections::{BTreeMap, HashSet};
use std::ops::ControlFlow;

use serde::Serialize;

use super::{FeedFormat, ParseOptions, parse};
use crate::domain::codes::ITEM_DUPLICATE;
use crate::domain::{Failure, JobPosting};

/// Jobs shown in full.
pub const SHOWN_JOBS: usize = 20;
/// Item failures listed one by one; past this they are only counted.
pub const LISTED_FAILURES: usize = 500;

/// The job fields coverage is counted for, as the stored job names them.
pub const COVERAGE_FIELDS: [&str; 13] = [
    "title",
    "company",
    "locations",
    "employmentType",
    "categories",
    "descriptionHtml",
    "url",
    "datePosted",
    "salary",
    "logoUrl",
    "validThrough",
    "remote",
    "extra",
];

#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ParsedPreview {
    pub format: Option<FeedFormat>,
    pub encoding: Option<&'static str>,
    /// Items read (jobs and item failures).
    pub items: usize,
    /// Items past the item cap, not read.
    pub skipped: usize,
    /// The first [`SHOWN_JOBS`] jobs, normalized as they would be stored.
    pub jobs: Vec<JobPosting>,
    /// Jobs (items that became one) having each field.
    pub coverage: BTreeMap<&'static str, usize>,
    /// Item failures, the first [`LISTED_FAILURES`] of them.
    pub failures: Vec<Failure>,
    pub failure_count: usize,
    /// The document broke off or was refused.
    pub error: Option<Failure>,
    /// Every job's external id and content hash, in feed order, without duplicates.
    #[serde(skip)]
    pub identities: Vec<(String, String)>,
}

fn has(j: &JobPosting, field: &str) -> bool {
    match field {
        "title" => !j.title.is_empty(),
        "company" => j.company.is_some(),
        "locations" => !j.locations.is_empty(),
        "employmentType" => j.employment_type.is_some(),
        "categories" => !j.categories.is_empty(),
        "descriptionHtml" => j.description_html.is_some(),
        "url" => j.url.is_some(),
        "datePosted" => j.date_posted.is_some(),
        "salary" => j.salary.is_some(),
        "logoUrl" => j.logo_url.is_some(),
        "validThrough" => j.valid_through.is_some(),
        "remote" => j.remote.is_some(),
        "extra" => !j.extra.is_empty(),
        _ => false,
    }
}

/// Parses and normalizes `body` as a run would, keeping what a preview shows.
pub fn preview(body: &[u8], opts: &ParseOptions) -> ParsedPreview {
    let mut out = ParsedPreview {
        coverage: COVERAGE_FIELDS.iter().map(|f| (*f, 0)).collect(),
        ..Default::default()
    };
    let mut seen = HashSet::new();
    let fail = |out: &mut ParsedPreview, f: Failure| {
        out.failure_count += 1;
        if out.failures.len() < LISTED_FAILURES {
            out.failures.push(f);
        }
    };
    let summary = parse(body, opts, &mut |item| {
        match item {
            Ok(job) => {
                if !seen.insert(job.external_id.clone()) {
                    let msg = "the same external id appeared earlier in the feed";
                    let f = Failure::for_item(ITEM_DUPLICATE, msg, Some(job.external_id));
                    fail(&mut out, f);
                    return ControlFlow::Continue(());
                }
                for field in COVERAGE_FIELDS {
                    if has(&job, field) {
                        *out.coverage.entry(field).or_default() += 1;
                    }
                }
                out.identities
                    .push((job.external_id.clone(), job.content_hash()));
                if out.jobs.len() < SHOWN_JOBS {
                    out.jobs.push(job);
                }
            }
            Err(f) => fail(&mut out, f),
        }
        ControlFlow::Continue(())
    });
    out.format = summary.format;
    out.encoding = summary.encoding;
    out.items = summary.items;
    out.skipped = summary.skipped;
    out.error = summary.error;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::tests::opts;

    #[test]
    fn coverage_counts_jobs_per_field_and_duplicates_are_failures() {
        let body = br#"{"version":"https://jsonfeed.org/version/1.1","items":[
            {"id":"1","title":"A","url":"https://ex.com/1"},
            {"id":"2","title":"B"},
            {"id":"1","title":"A again"},
            {"id":"3"}
        ]}"#;
        let p = preview(body, &opts("https://ex.com/feed.json"));
        assert_eq!(p.items, 4);
        assert_eq!(p.jobs.len(), 2);
        assert_eq!(p.coverage["title"], 2);
        assert_eq!(p.coverage["url"], 1);
        assert_eq!(p.coverage["company"], 0);
        let codes: Vec<&str> = p.failures.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, ["item.duplicate", "item.missing_title"]);
        assert_eq!(p.identities.len(), 2);
    }
}
