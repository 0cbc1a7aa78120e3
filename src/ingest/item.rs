//! The format-independent raw item every parser fills in, and its normalization into a
//! [`JobPosting`] (identity, caps, sanitizing, dates, employment type, remote flag).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use url::Url;

use super::sanitize::Sanitizer;
use super::{ItemOutcome, ParseLimits, dates, salary, text, urls};
use crate::domain::codes::{ITEM_MISSING_TITLE, ITEM_TOO_LARGE};
use crate::domain::{EmploymentType, Failure, JobPosting, Salary};

/// Unmapped elements held per raw item before the configured cap applies; the item byte cap
/// already bounds their size.
const RAW_EXTRA_ENTRIES: usize = 256;

/// Field values as found in the source, not yet normalized. Text fields may still hold markup
/// and HTML entities.
#[derive(Debug, Default, Clone)]
pub struct RawItem {
    pub title: Option<String>,
    pub guid: Option<String>,
    pub link: Option<String>,
    pub date: Option<String>,
    /// Already a timestamp (JSON epochs); wins over `date`.
    pub date_value: Option<DateTime<Utc>>,
    /// When the posting expires, as found (`expires_at`, `validThrough`).
    pub valid_through: Option<String>,
    /// Already a timestamp (JSON epochs); wins over `valid_through`.
    pub valid_through_value: Option<DateTime<Utc>>,
    pub summary: Option<String>,
    /// Full content (`content:encoded`, Atom `content`); preferred over `summary`.
    pub content: Option<String>,
    pub company: Option<String>,
    /// `dc:creator` / Atom author: the company when nothing better is given.
    pub author: Option<String>,
    pub locations: Vec<String>,
    pub job_types: Vec<String>,
    pub categories: Vec<String>,
    pub salary_text: Option<String>,
    pub salary: Option<Salary>,
    pub logo: Option<String>,
    pub remote: Option<bool>,
    /// Unmapped elements in document order, first value per name.
    pub extra: Vec<(String, String)>,
    /// The base for this item's relative links when it differs from the feed's (`xml:base`,
    /// the channel link).
    pub base: Option<Url>,
    /// Set by the parser when the item's raw bytes exceeded `max_item_bytes`.
    pub too_large: bool,
}

impl RawItem {
    /// Keeps an unmapped value under `name` (the first one wins); normalization applies the
    /// configured caps.
    pub fn add_extra(&mut self, name: &str, value: &str) {
        if self.extra.len() >= RAW_EXTRA_ENTRIES
            || value.trim().is_empty()
            || self.extra.iter().any(|(k, _)| k == name)
        {
            return;
        }
        self.extra.push((name.to_owned(), value.to_owned()));
    }
}

/// Plain-text extras within the caps. MongoDB cannot store keys with `$` or `.`, so those
/// become `_`.
fn capped_extra(raw: Vec<(String, String)>, lim: &ParseLimits) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        if out.len() >= lim.max_extra_entries {
            break;
        }
        let Some(value) = text::plain(&value, lim.max_extra_chars) else {
            continue;
        };
        let key: String = text::nfc(&name)
            .chars()
            .map(|c| if c == '$' || c == '.' { '_' } else { c })
            .collect();
        out.entry(key).or_insert(value);
    }
    out
}

/// What normalization needs besides the raw item.
pub struct Normalizer<'a> {
    pub limits: &'a ParseLimits,
    pub base: Option<&'a Url>,
    pub sanitizer: Sanitizer,
    /// Dates after this are clamped to it: a posting cannot be from the future (catalog D46).
    pub now: DateTime<Utc>,
    /// Off only in the benchmark, to measure parsing and normalization without the sanitizer.
    pub sanitize: bool,
    /// A sanitizer for the last item base that differed from `base` (usually the channel
    /// link, the same for every item), so it is built once per feed, not once per item.
    other: RefCell<Option<(Url, Rc<Sanitizer>)>>,
}

impl<'a> Normalizer<'a> {
    pub fn new(limits: &'a ParseLimits, base: Option<&'a Url>) -> Self {
        Self {
            limits,
            base,
            sanitizer: Sanitizer::new(base),
            now: Utc::now(),
            sanitize: true,
            other: RefCell::new(None),
        }
    }

    fn sanitizer_for(&self, base: &Url) -> Rc<Sanitizer> {
        let mut other = self.other.borrow_mut();
        match other.as_ref() {
            Some((b, s)) if b == base => Rc::clone(s),
            _ => {
                let s = Rc::new(Sanitizer::new(Some(base)));
                *other = Some((base.clone(), Rc::clone(&s)));
                s
            }
        }
    }

    pub fn normalize(&self, mut raw: RawItem) -> ItemOutcome {
        let item_base = raw.base.take();
        let own_sanitizer;
        let (base, sanitizer) = match item_base.as_ref() {
            Some(b) if Some(b) != self.base => {
                own_sanitizer = self.sanitizer_for(b);
                (Some(b), &*own_sanitizer)
            }
            _ => (self.base, &self.sanitizer),
        };
        let lim = self.limits;
        let url = raw
            .link
            .as_deref()
            .and_then(|l| urls::absolute_http(l, base, lim.max_url_chars))
            .or_else(|| {
                let guid = raw.guid.as_deref()?;
                urls::absolute_http(guid, None, lim.max_url_chars)
            });
        let title = raw
            .title
            .as_deref()
            .and_then(|t| text::plain(t, lim.max_title_chars));
        let company = raw
            .company
            .as_deref()
            .or(raw.author.as_deref())
            .and_then(|c| text::plain(c, lim.max_field_chars));
        let stated_id = raw
            .guid
            .as_deref()
            .and_then(|g| text::plain(g, lim.max_url_chars))
            .or_else(|| url.clone())
            .or_else(|| {
                raw.link
                    .as_deref()
                    .and_then(|l| text::plain(l, lim.max_url_chars))
            })
            .map(|id| urls::identity(&id).into_owned());
        if raw.too_large {
            let msg = format!("the item is larger than {} bytes", lim.max_item_bytes);
            return Err(Failure::for_item(ITEM_TOO_LARGE, msg, stated_id));
        }
        let Some(title) = title else {
            return Err(Failure::for_item(
                ITEM_MISSING_TITLE,
                "the item has no title",
                stated_id,
            ));
        };
        let external_id = stated_id.unwrap_or_else(|| {
            identity_hash(
                &title,
                company.as_deref(),
                raw.date.as_deref().unwrap_or(""),
            )
        });
        let description = raw
            .content
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .or(raw.summary.as_deref());
        let (description_html, description_text) = match description {
            None => (None, None),
            Some(d) if self.sanitize => {
                sanitizer.html_and_text(&text::nfc(d), lim.max_description_chars)
            }
            // Without the sanitizer, which makes both forms in one pass, the description is
            // kept as found (normalized and capped) and has no text form.
            Some(d) => {
                let mut html = text::nfc(d).into_owned();
                text::truncate_chars(&mut html, lim.max_description_chars);
                (Some(html), None)
            }
        };
        let locations = plain_list(&raw.locations, lim.max_field_chars);
        let job_types = plain_list(&raw.job_types, lim.max_field_chars);
        let says_remote = |s: &String| {
            let l = s.to_lowercase();
            l.contains("remote") || l.contains("anywhere")
        };
        let remote = raw
            .remote
            .or_else(|| (locations.iter().chain(&job_types).any(says_remote)).then_some(true));
        Ok(JobPosting {
            external_id,
            title,
            company,
            employment_type: job_types
                .iter()
                .find_map(|t| EmploymentType::parse_loose(t)),
            remote,
            locations,
            categories: plain_list(&raw.categories, lim.max_field_chars),
            description_html,
            description_text,
            url,
            date_posted: raw
                .date_value
                .or_else(|| raw.date.as_deref().and_then(dates::parse_date))
                .map(|d| d.min(self.now)),
            salary: raw
                .salary
                .or_else(|| raw.salary_text.as_deref().and_then(salary::parse_salary)),
            // Not clamped: an expiry date is meant to lie ahead.
            valid_through: raw
                .valid_through_value
                .or_else(|| raw.valid_through.as_deref().and_then(dates::parse_date)),
            logo_url: raw
                .logo
                .as_deref()
                .and_then(|l| urls::absolute_http(l, base, lim.max_url_chars)),
            extra: capped_extra(raw.extra, lim),
        })
    }
}

/// Normalized, de-duplicated values in source order.
fn plain_list(values: &[String], max_chars: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values.iter().filter_map(|v| text::plain(v, max_chars)) {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// Identity of an item with neither guid nor link: stable across runs as long as the title,
/// company and stated date do not change.
pub fn identity_hash(title: &str, company: Option<&str>, date: &str) -> String {
    let mut h = Sha256::new();
    for part in [title, company.unwrap_or(""), date.trim()] {
        h.update(part.as_bytes());
        h.update([0x1f]);
    }
    hex::encode(h.finalize())
}
