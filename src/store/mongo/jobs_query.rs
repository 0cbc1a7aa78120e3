//! Read-side queries of `jobs` for the API: search and filters built only from typed values,
//! with user text escaped before it reaches `$regex`.

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use serde::{Deserialize, Serialize};

use super::history::QUERY_MAX_TIME;
use super::{JOBS, Store};
use crate::store::{StoreError, decode};

/// Filters of the jobs list. Text fields are matched literally (escaped), never as patterns.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Words searched in title, company and description (case-insensitive, literal).
    pub q: Option<String>,
    pub source_id: Option<String>,
    /// Exact company name, case-insensitive.
    pub company: Option<String>,
    /// Part of one of the locations, case-insensitive.
    pub location: Option<String>,
    /// schema.org value, e.g. `FULL_TIME`.
    pub employment_type: Option<String>,
    pub remote: Option<bool>,
    /// `open` or `closed`.
    pub status: Option<String>,
    /// Range over `datePosted` (fixed-width RFC 3339 strings).
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Escapes every regex metacharacter, so user text matches only itself and cannot backtrack.
pub fn escape_regex(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn contains_ci(text: &str) -> Bson {
    Bson::Document(doc! {"$regex": escape_regex(text), "$options": "i"})
}

impl JobFilter {
    pub fn to_doc(&self) -> Document {
        let mut and: Vec<Bson> = Vec::new();
        if let Some(q) = &self.q {
            for word in q.split_whitespace().take(8) {
                let m = contains_ci(word);
                and.push(Bson::Document(doc! {"$or": [
                    {"title": m.clone()},
                    {"company": m.clone()},
                    {"descriptionText": m},
                ]}));
            }
        }
        let mut d = Document::new();
        if let Some(s) = &self.source_id {
            d.insert("sources", s.as_str());
        }
        if let Some(c) = &self.company {
            d.insert(
                "company",
                doc! {"$regex": format!("^{}$", escape_regex(c)), "$options": "i"},
            );
        }
        if let Some(l) = &self.location {
            d.insert("locations", contains_ci(l));
        }
        if let Some(t) = &self.employment_type {
            d.insert("employmentType", t.as_str());
        }
        if let Some(r) = self.remote {
            d.insert("remote", r);
        }
        if let Some(s) = &self.status {
            d.insert("status", s.as_str());
        }
        let mut range = Document::new();
        if let Some(f) = &self.from {
            range.insert("$gte", f.as_str());
        }
        if let Some(t) = &self.to {
            range.insert("$lte", t.as_str());
        }
        if !range.is_empty() {
            d.insert("datePosted", range);
        }
        if !and.is_empty() {
            and.push(Bson::Document(d));
            return doc! {"$and": and};
        }
        d
    }
}

/// A job as the API serves it: the posting and its bookkeeping, without internal hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    #[serde(rename = "_id")]
    pub id: String,
    pub external_id: String,
    #[serde(default)]
    pub publisher: Option<String>,
    pub title: String,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub locations: Vec<String>,
    #[serde(default)]
    pub remote: Option<bool>,
    #[serde(default)]
    pub employment_type: Option<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub description_html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_text: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub date_posted: Option<String>,
    #[serde(default)]
    pub salary: Option<serde_json::Value>,
    #[serde(default)]
    pub logo_url: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default)]
    pub first_seen_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub last_seen_at: Option<String>,
    /// Until when the feed said the posting is open.
    #[serde(default)]
    pub valid_through: Option<String>,
    #[serde(default)]
    pub closed_at: Option<String>,
    /// `missing_from_feed`, `expired`, `link_gone` or `source_removed`.
    #[serde(default)]
    pub closed_reason: Option<String>,
    #[serde(default)]
    pub reopened_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobPage {
    pub items: Vec<JobView>,
    pub total: u64,
    pub page: u64,
    pub limit: u64,
}

pub(crate) fn hidden_fields(list: bool) -> Document {
    let mut d = doc! {"contentHash": 0, "dedupeKey": 0, "extra": 0, "createdByRun": 0,
    "updatedByRun": 0, "lastSeenRun": 0};
    if list {
        d.insert("descriptionText", 0);
    }
    d
}

impl Store {
    /// Newest postings first (by `datePosted`, then id).
    pub async fn query_jobs(
        &self,
        filter: &JobFilter,
        page: u64,
        limit: u64,
    ) -> Result<JobPage, StoreError> {
        let coll = self.coll(JOBS);
        let f = filter.to_doc();
        let total = coll
            .count_documents(f.clone())
            .max_time(QUERY_MAX_TIME)
            .await?;
        let docs: Vec<Document> = coll
            .find(f)
            .sort(doc! {"datePosted": -1, "_id": -1})
            .skip(page.saturating_sub(1) * limit)
            .limit(limit as i64)
            .projection(hidden_fields(true))
            .max_time(QUERY_MAX_TIME)
            .await?
            .try_collect()
            .await?;
        let items = docs.into_iter().map(decode).collect::<Result<_, _>>()?;
        Ok(JobPage {
            items,
            total,
            page,
            limit,
        })
    }

    pub async fn get_job(&self, id: &str) -> Result<Option<JobView>, StoreError> {
        self.coll(JOBS)
            .find_one(doc! {"_id": id})
            .projection(hidden_fields(false))
            .max_time(QUERY_MAX_TIME)
            .await?
            .map(decode)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_metacharacters_are_escaped() {
        assert_eq!(escape_regex("(a+)+$"), "\\(a\\+\\)\\+\\$");
        assert_eq!(escape_regex("c++ dev"), "c\\+\\+ dev");
        assert_eq!(escape_regex("plain"), "plain");
    }

    #[test]
    fn search_words_all_have_to_match_somewhere() {
        let f = JobFilter {
            q: Some("rust  senior".into()),
            remote: Some(true),
            ..Default::default()
        };
        let d = f.to_doc();
        let and = d.get_array("$and").map(Vec::len).unwrap_or(0);
        assert_eq!(and, 3);
    }
}
