//! Mappings for job-board JSON APIs (`jobicy`, `remotive`, `remoteok`, `arbeitnow`,
//! `himalayas`): where the item array is, which keys hold which field, and how to recognise them.

use serde_json::Value;

use super::item::RawItem;
use super::json::{first_text, list_of, text_of};
use super::{dates, salary};
use crate::domain::codes::ITEM_INVALID;
use crate::domain::{Failure, Salary};

/// One job board's JSON shape. Key lists are tried in order.
pub struct Mapping {
    pub name: &'static str,
    /// Key of the item array on the root object; `None` when the root is the array.
    list: Option<&'static str>,
    /// Keys whose presence on an item identifies this board (all must be present).
    signature: &'static [&'static str],
    id: &'static [&'static str],
    title: &'static [&'static str],
    company: &'static [&'static str],
    url: &'static [&'static str],
    date: &'static [&'static str],
    description: &'static [&'static str],
    locations: &'static [&'static str],
    job_types: &'static [&'static str],
    categories: &'static [&'static str],
    logo: &'static [&'static str],
    /// When the posting expires (schema.org `validThrough` and the boards' own names).
    expires: &'static [&'static str],
    /// min, max, currency, period.
    salary: [&'static str; 4],
    salary_text: &'static str,
    /// Remote-only boards say so for every job.
    always_remote: bool,
    pub read: super::json::ItemReader,
}

const MAPPINGS: [Mapping; 5] = [
    Mapping {
        name: "jobicy",
        list: Some("jobs"),
        signature: &["jobTitle", "jobSlug"],
        id: &["id", "jobSlug"],
        title: &["jobTitle"],
        company: &["companyName"],
        url: &["url"],
        date: &["pubDate"],
        description: &["jobDescription", "jobExcerpt"],
        locations: &["jobGeo"],
        job_types: &["jobType"],
        categories: &["jobIndustry"],
        logo: &["companyLogo"],
        expires: &["validThrough", "expires"],
        salary: ["salaryMin", "salaryMax", "salaryCurrency", "salaryPeriod"],
        salary_text: "",
        always_remote: true,
        read: |v| read(&MAPPINGS[0], v),
    },
    Mapping {
        name: "remotive",
        list: Some("jobs"),
        signature: &["company_name", "candidate_required_location"],
        id: &["id"],
        title: &["title"],
        company: &["company_name"],
        url: &["url"],
        date: &["publication_date"],
        description: &["description"],
        locations: &["candidate_required_location"],
        job_types: &["job_type"],
        categories: &["category"],
        logo: &["company_logo_url", "company_logo"],
        expires: &["validThrough", "expires"],
        salary: ["", "", "", ""],
        salary_text: "salary",
        always_remote: true,
        read: |v| read(&MAPPINGS[1], v),
    },
    Mapping {
        name: "remoteok",
        list: None,
        signature: &["position", "apply_url"],
        id: &["id", "slug"],
        title: &["position"],
        company: &["company"],
        url: &["url", "apply_url"],
        date: &["date", "epoch"],
        description: &["description"],
        locations: &["location"],
        job_types: &[],
        categories: &["tags"],
        logo: &["company_logo", "logo"],
        expires: &["validThrough", "expires"],
        salary: ["salary_min", "salary_max", "", ""],
        salary_text: "",
        always_remote: true,
        read: |v| read(&MAPPINGS[2], v),
    },
    Mapping {
        name: "arbeitnow",
        list: Some("data"),
        signature: &["slug", "company_name", "created_at"],
        id: &["slug"],
        title: &["title"],
        company: &["company_name"],
        url: &["url"],
        date: &["created_at"],
        description: &["description"],
        locations: &["location"],
        job_types: &["job_types"],
        categories: &["tags"],
        logo: &[],
        expires: &["validThrough", "expires"],
        salary: ["", "", "", ""],
        salary_text: "",
        always_remote: false,
        read: |v| read(&MAPPINGS[3], v),
    },
    Mapping {
        name: "himalayas",
        list: Some("jobs"),
        signature: &["companyName", "applicationLink"],
        id: &["guid", "applicationLink"],
        title: &["title"],
        company: &["companyName"],
        url: &["applicationLink"],
        date: &["pubDate"],
        description: &["description", "excerpt"],
        locations: &["locationRestrictions"],
        job_types: &["employmentType"],
        categories: &["categories"],
        logo: &["companyLogo"],
        expires: &["expiryDate", "validThrough", "expires"],
        salary: ["minSalary", "maxSalary", "currency", "salaryPeriod"],
        salary_text: "",
        always_remote: true,
        read: |v| read(&MAPPINGS[4], v),
    },
];

pub fn by_name(name: &str) -> Option<&'static Mapping> {
    MAPPINGS
        .iter()
        .find(|m| m.name.eq_ignore_ascii_case(name.trim()))
}

/// Finds the mapping whose array location and item keys match the document.
pub fn recognise(root: &Value) -> Option<&'static Mapping> {
    MAPPINGS.iter().find(|m| {
        items(m, root)
            .iter()
            .filter(|v| !is_notice(v))
            .take(3)
            .any(|item| m.signature.iter().all(|k| item.get(*k).is_some()))
    })
}

pub fn items<'a>(m: &Mapping, root: &'a Value) -> &'a [Value] {
    let list = match m.list {
        Some(key) => root.get(key),
        None => Some(root),
    };
    list.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// RemoteOK puts a legal notice object (no id, no position) before the jobs.
pub fn is_notice(v: &Value) -> bool {
    v.get("legal").is_some() && v.get("id").is_none()
}

fn read(m: &Mapping, v: &Value) -> Result<RawItem, Failure> {
    let id = first_text(v, m.id);
    let invalid =
        |what: &str| Failure::for_item(ITEM_INVALID, format!("{what} is not text"), id.clone());
    if !v.is_object() {
        return Err(invalid("the item"));
    }
    if m.title
        .iter()
        .any(|k| v.get(*k).is_some_and(|t| t.is_object() || t.is_array()))
    {
        return Err(invalid("the title"));
    }
    let lists = |keys: &[&str]| {
        keys.iter()
            .flat_map(|k| v.get(*k).map(list_of))
            .flatten()
            .collect()
    };
    Ok(RawItem {
        guid: id.clone(),
        title: first_text(v, m.title),
        company: first_text(v, m.company),
        link: first_text(v, m.url),
        date_value: m.date.iter().find_map(|k| v.get(*k).and_then(date_of)),
        valid_through_value: m.expires.iter().find_map(|k| v.get(*k).and_then(date_of)),
        summary: first_text(v, m.description),
        locations: lists(m.locations),
        job_types: lists(m.job_types),
        categories: lists(m.categories),
        logo: first_text(v, m.logo),
        salary: salary_of(m, v),
        salary_text: v.get(m.salary_text).and_then(text_of),
        remote: v
            .get("remote")
            .and_then(Value::as_bool)
            .or(m.always_remote.then_some(true)),
        ..Default::default()
    })
}

/// Numbers are epoch seconds; strings are any date [`dates::parse_date`] reads.
fn date_of(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    match v {
        Value::Number(n) => dates::parse_epoch(&n.to_string()),
        Value::String(s) => dates::parse_date(s),
        _ => None,
    }
}

fn salary_of(m: &Mapping, v: &Value) -> Option<Salary> {
    let [min, max, currency, period] = m.salary;
    // Boards send 0 or null for "not stated".
    let amount = |k: &str| {
        v.get(k)
            .and_then(|a| a.as_f64().or_else(|| a.as_str()?.parse().ok()))
            .filter(|a| *a > 0.0)
    };
    let (min, max) = (amount(min), amount(max));
    if min.is_none() && max.is_none() {
        return None;
    }
    Some(Salary {
        min,
        max,
        currency: v.get(currency).and_then(text_of),
        period: v
            .get(period)
            .and_then(text_of)
            .and_then(|p| salary::period(&p)),
    })
}
