//! A job posting as every source format normalizes it, aligned with schema.org's JobPosting.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// schema.org employmentType values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EmploymentType {
    FullTime,
    PartTime,
    Contractor,
    Temporary,
    Intern,
    Volunteer,
    PerDiem,
    Other,
}

impl EmploymentType {
    /// Maps the many spellings feeds use ("Full-Time", "full_time", "Contract", "Internship"...).
    pub fn parse_loose(raw: &str) -> Option<Self> {
        let key: String = raw
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        let t = match key.as_str() {
            "" => return None,
            "fulltime" | "full" | "permanent" | "fte" => Self::FullTime,
            "parttime" | "part" => Self::PartTime,
            "contract" | "contractor" | "freelance" | "freelancer" | "contracttohire" => {
                Self::Contractor
            }
            "temporary" | "temp" | "seasonal" => Self::Temporary,
            "intern" | "internship" | "trainee" | "apprenticeship" => Self::Intern,
            "volunteer" | "voluntary" => Self::Volunteer,
            "perdiem" => Self::PerDiem,
            _ => Self::Other,
        };
        Some(t)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FullTime => "FULL_TIME",
            Self::PartTime => "PART_TIME",
            Self::Contractor => "CONTRACTOR",
            Self::Temporary => "TEMPORARY",
            Self::Intern => "INTERN",
            Self::Volunteer => "VOLUNTEER",
            Self::PerDiem => "PER_DIEM",
            Self::Other => "OTHER",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Salary {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub currency: Option<String>,
    /// HOUR, DAY, WEEK, MONTH or YEAR (schema.org unitText).
    pub period: Option<String>,
}

/// One normalized posting, as produced by `ingest` and stored (with bookkeeping) by `store`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct JobPosting {
    /// The publisher's identity for the posting: guid, else link, else a hash of title, company
    /// and date.
    pub external_id: String,
    pub title: String,
    pub company: Option<String>,
    pub locations: Vec<String>,
    pub remote: Option<bool>,
    pub employment_type: Option<EmploymentType>,
    pub categories: Vec<String>,
    /// Sanitized HTML: safe to render.
    pub description_html: Option<String>,
    pub description_text: Option<String>,
    /// Absolute http(s) URL of the posting or its application page.
    pub url: Option<String>,
    #[serde(default, with = "super::time::rfc3339_opt")]
    pub date_posted: Option<DateTime<Utc>>,
    pub salary: Option<Salary>,
    pub logo_url: Option<String>,
    /// Until when the feed says the posting is open (schema.org `validThrough`; We Work
    /// Remotely's `expires_at`, Himalayas' `expiryDate`). The job closes once it has passed.
    #[serde(
        default,
        with = "super::time::rfc3339_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_through: Option<DateTime<Utc>>,
    /// Elements the parser does not map, by qualified name; kept so nothing a publisher sends
    /// is silently lost.
    pub extra: BTreeMap<String, String>,
}

impl JobPosting {
    /// A stable hash over the normalized fields. Independent of element order in the source
    /// because it is computed after normalization, over fields in a fixed order.
    pub fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut field = |v: &str| {
            h.update((v.len() as u64).to_le_bytes());
            h.update(v.as_bytes());
        };
        field(&self.external_id);
        field(&self.title);
        field(self.company.as_deref().unwrap_or(""));
        field(&self.locations.join("\u{1f}"));
        field(match self.remote {
            Some(true) => "1",
            Some(false) => "0",
            None => "",
        });
        field(
            self.employment_type
                .map(EmploymentType::as_str)
                .unwrap_or(""),
        );
        field(&self.categories.join("\u{1f}"));
        field(self.description_html.as_deref().unwrap_or(""));
        field(self.url.as_deref().unwrap_or(""));
        field(&self.date_posted.map(|d| d.to_rfc3339()).unwrap_or_default());
        let salary = self.salary.as_ref().map(|s| {
            format!(
                "{:?}|{:?}|{}|{}",
                s.min,
                s.max,
                s.currency.as_deref().unwrap_or(""),
                s.period.as_deref().unwrap_or("")
            )
        });
        field(salary.as_deref().unwrap_or(""));
        field(self.logo_url.as_deref().unwrap_or(""));
        // Only when stated, so postings without one keep the hash they always had.
        if let Some(v) = self.valid_through {
            field("validThrough");
            field(&v.to_rfc3339());
        }
        for (k, v) in &self.extra {
            field(k);
            field(v);
        }
        hex::encode(h.finalize())
    }

    /// The key that links the same posting across publishers (`duplicateOf`).
    pub fn dedupe_key(&self) -> String {
        let norm = |s: &str| {
            s.split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
                .join(" ")
        };
        format!(
            "{}|{}",
            norm(&self.title),
            norm(self.company.as_deref().unwrap_or(""))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn employment_type_accepts_common_spellings() {
        assert_eq!(
            EmploymentType::parse_loose("Full-Time"),
            Some(EmploymentType::FullTime)
        );
        assert_eq!(
            EmploymentType::parse_loose("full_time"),
            Some(EmploymentType::FullTime)
        );
        assert_eq!(
            EmploymentType::parse_loose("Part Time"),
            Some(EmploymentType::PartTime)
        );
        assert_eq!(
            EmploymentType::parse_loose("Contract"),
            Some(EmploymentType::Contractor)
        );
        assert_eq!(
            EmploymentType::parse_loose("Internship"),
            Some(EmploymentType::Intern)
        );
        assert_eq!(
            EmploymentType::parse_loose("Gig"),
            Some(EmploymentType::Other)
        );
        assert_eq!(EmploymentType::parse_loose("  "), None);
    }

    #[test]
    fn content_hash_changes_with_content_and_not_otherwise() {
        let a = JobPosting {
            external_id: "1".into(),
            title: "Dev".into(),
            ..Default::default()
        };
        let mut b = a.clone();
        assert_eq!(a.content_hash(), b.content_hash());
        b.title = "Dev2".into();
        assert_ne!(a.content_hash(), b.content_hash());
    }
}
