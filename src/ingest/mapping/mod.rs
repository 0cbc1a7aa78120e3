//! Applies a declarative [`Mapping`] to a document: finds the items, skips the ones its rules
//! name, and reads each job field through its paths and transforms into a [`RawItem`], which
//! the shared normalizer turns into a posting. JSON items are read as they are; XML items are
//! first turned into the same tree shape ([`xml_items`]).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

use super::item::RawItem;
use super::{dates, salary, text};
use crate::domain::Failure;
use crate::domain::Salary;
use crate::domain::codes::ITEM_INVALID;
use crate::domain::mapping::{
    Condition, FieldRule, Kind, Mapping, Transform, kind_of, segments, template_refs,
};

pub mod builtin;
pub mod xml_items;

/// The value at `path` inside `root`, if any. A step into an array is an index; a step into
/// an array of objects that is not a number reads that key from the first element that has it.
pub fn at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = root;
    for seg in segments(path) {
        cur = match cur {
            Value::Object(o) => o.get(&seg)?,
            Value::Array(a) => match seg.parse::<usize>() {
                Ok(i) => a.get(i)?,
                Err(_) => a.iter().find_map(|v| v.get(&seg))?,
            },
            _ => return None,
        };
    }
    (!cur.is_null()).then_some(cur)
}

/// The item list of a JSON document under the mapping (empty when the path leads elsewhere).
pub fn items<'a>(m: &Mapping, root: &'a Value) -> &'a [Value] {
    let list = if segments(&m.items).is_empty() {
        Some(root)
    } else {
        at(root, &m.items)
    };
    list.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Whether a built-in mapping's `detect` keys are on one of the document's first items.
pub fn recognises(m: &Mapping, root: &Value) -> bool {
    !m.detect.is_empty()
        && items(m, root)
            .iter()
            .filter(|v| !skipped(m, v))
            .take(3)
            .any(|item| m.detect.iter().all(|k| at(item, k).is_some()))
}

/// Whether one of the mapping's skip rules matches the item.
pub fn skipped(m: &Mapping, item: &Value) -> bool {
    m.skip
        .iter()
        .any(|rule| rule.all.iter().all(|c| holds(c, item)))
}

fn holds(c: &Condition, item: &Value) -> bool {
    let v = at(item, &c.path);
    if let Some(exists) = c.exists {
        return v.is_some() == exists;
    }
    if let Some(want) = &c.equals {
        return v.is_some_and(|v| v == want || (scalar(v).is_some() && scalar(v) == scalar(want)));
    }
    if let Some(needle) = &c.contains {
        let needle = needle.to_lowercase();
        return v
            .and_then(scalar)
            .is_some_and(|t| t.to_lowercase().contains(&needle));
    }
    false
}

/// A JSON scalar as text: ids may be numbers or strings, and `1` and `"1"` are the same id.
/// An XML element with attributes carries its text under `#text`.
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(o) => o.get(xml_items::TEXT).and_then(scalar),
        _ => None,
    }
}

/// A value while a field is being read.
#[derive(Debug, Clone)]
enum Val {
    Json(Value),
    Text(String),
    List(Vec<String>),
    Date(DateTime<Utc>),
    Salary(Salary),
}

impl Val {
    fn text(&self) -> Option<String> {
        match self {
            Val::Json(v) => scalar(v),
            Val::Text(t) => (!t.trim().is_empty()).then(|| t.clone()),
            Val::Date(d) => Some(d.to_rfc3339()),
            Val::List(_) | Val::Salary(_) => None,
        }
    }

    fn list(&self) -> Vec<String> {
        match self {
            Val::Json(Value::Array(a)) => a.iter().filter_map(scalar).collect(),
            Val::List(l) => l.clone(),
            other => other.text().into_iter().collect(),
        }
    }
}

/// One field's value after its paths and transforms.
struct Read {
    values: Vec<Val>,
}

/// Reads one item through the mapping.
pub fn read_item(m: &Mapping, item: &Value) -> Result<RawItem, Failure> {
    let read = |name: &str| m.fields.get(name).map(|rule| read_rule(rule, item, None));
    let id = read("externalId").and_then(|r| first_text(&r));
    if !item.is_object() {
        return Err(Failure::for_item(
            ITEM_INVALID,
            "the item is not an object",
            id,
        ));
    }
    if let Some(rule) = m.fields.get("title")
        && let Some(p) = rule
            .paths
            .iter()
            .find(|p| at(item, p).is_some_and(|t| scalar(t).is_none() && !t.is_string()))
    {
        let msg = format!("the title at `{p}` is not text");
        return Err(Failure::for_item(ITEM_INVALID, msg, id));
    }
    // Fields without a template first; templates then see their values.
    let mut plain = std::collections::BTreeMap::new();
    for (name, rule) in m.fields.iter().filter(|(_, r)| !has_template(r)) {
        plain.insert(name.as_str(), read_rule(rule, item, None));
    }
    let mut templated = Vec::new();
    for (name, rule) in m.fields.iter().filter(|(_, r)| has_template(r)) {
        let r = read_rule(rule, item, Some(&plain));
        templated.push((name.as_str(), r));
    }
    let mut raw = RawItem::default();
    let mut salary = Salary::default();
    for (name, r) in plain.into_iter().chain(templated) {
        fill(&mut raw, &mut salary, name, &r);
    }
    if salary.min.is_some() || salary.max.is_some() {
        raw.salary = Some(salary);
    }
    Ok(raw)
}

fn has_template(rule: &FieldRule) -> bool {
    rule.transforms
        .iter()
        .any(|t| matches!(t, Transform::Template(_)))
}

fn first_text(r: &Read) -> Option<String> {
    r.values.iter().find_map(Val::text)
}

fn first_date(r: &Read) -> Option<DateTime<Utc>> {
    r.values.iter().find_map(|v| match v {
        Val::Date(d) => Some(*d),
        Val::Json(Value::Number(n)) => dates::parse_epoch(&n.to_string()),
        other => other.text().and_then(|t| dates::parse_date(&t)),
    })
}

/// An amount: a positive number, or text that reads as one (boards send 0 for "not stated").
fn first_amount(r: &Read) -> Option<f64> {
    r.values.iter().find_map(|v| {
        let n = match v {
            Val::Json(Value::Number(n)) => n.as_f64(),
            other => other.text().and_then(|t| t.trim().parse().ok()),
        };
        n.filter(|a| *a > 0.0)
    })
}

fn fill(raw: &mut RawItem, salary: &mut Salary, name: &str, r: &Read) {
    let all = || r.values.iter().flat_map(Val::list).collect::<Vec<_>>();
    match name {
        "externalId" => raw.guid = first_text(r),
        "title" => raw.title = first_text(r),
        "company" => raw.company = first_text(r),
        "url" => raw.link = first_text(r),
        "description" => raw.summary = first_text(r),
        "logo" => raw.logo = first_text(r),
        "locations" => raw.locations = all(),
        "employmentType" => raw.job_types = all(),
        "categories" => raw.categories = all(),
        "datePosted" => raw.date_value = first_date(r),
        "validThrough" => raw.valid_through_value = first_date(r),
        "remote" => {
            raw.remote = r.values.iter().find_map(|v| match v {
                Val::Json(Value::Bool(b)) => Some(*b),
                other => other.text().and_then(|t| t.trim().parse().ok()),
            })
        }
        "salary" => {
            for v in &r.values {
                match v {
                    Val::Salary(s) => {
                        raw.salary = Some(s.clone());
                        return;
                    }
                    other => {
                        if let Some(t) = other.text() {
                            raw.salary_text = Some(t);
                            return;
                        }
                    }
                }
            }
        }
        "salaryMin" => salary.min = first_amount(r),
        "salaryMax" => salary.max = first_amount(r),
        "salaryCurrency" => salary.currency = first_text(r),
        "salaryPeriod" => salary.period = first_text(r).and_then(|p| salary::period(&p)),
        _ => {}
    }
}

/// Reads one field: each path's value through the transforms, in path order; the default
/// when none gave anything. `others` are the values templates may name.
fn read_rule(
    rule: &FieldRule,
    item: &Value,
    others: Option<&std::collections::BTreeMap<&str, Read>>,
) -> Read {
    let mut values = Vec::new();
    let inputs: Vec<Option<Val>> = if rule.paths.is_empty() {
        vec![None]
    } else {
        rule.paths
            .iter()
            .map(|p| at(item, p).map(|v| Val::Json(v.clone())))
            .collect()
    };
    for input in inputs {
        let mut v = input;
        for t in &rule.transforms {
            v = apply(t, v, others);
        }
        if let Some(v) = v.filter(|v| !is_empty(v)) {
            values.push(v);
        }
    }
    if values.is_empty()
        && let Some(d) = &rule.default
    {
        values.push(Val::Json(d.clone()));
    }
    Read { values }
}

fn is_empty(v: &Val) -> bool {
    match v {
        Val::Json(j) => j.is_null(),
        Val::Text(t) => t.trim().is_empty(),
        Val::List(l) => l.is_empty(),
        Val::Date(_) | Val::Salary(_) => false,
    }
}

/// One transform. A value of the wrong type (known only on data) gives nothing.
fn apply(
    t: &Transform,
    v: Option<Val>,
    others: Option<&std::collections::BTreeMap<&str, Read>>,
) -> Option<Val> {
    if let Transform::Template(tpl) = t {
        return Some(Val::Text(fill_template(tpl, v.as_ref(), others)));
    }
    let v = v?;
    match t {
        Transform::Trim => Some(match v {
            Val::List(_) | Val::Json(Value::Array(_)) => {
                Val::List(v.list().iter().map(|s| s.trim().to_owned()).collect())
            }
            other => Val::Text(other.text()?.trim().to_owned()),
        }),
        Transform::StripHtml => {
            let strip = |s: &str| text::plain(s, usize::MAX).unwrap_or_default();
            Some(match v {
                Val::List(_) | Val::Json(Value::Array(_)) => {
                    Val::List(v.list().iter().map(|s| strip(s)).collect())
                }
                other => Val::Text(strip(&other.text()?)),
            })
        }
        Transform::First => match v {
            Val::Json(Value::Array(a)) => a.into_iter().find(|x| !x.is_null()).map(Val::Json),
            Val::List(l) => l.into_iter().next().map(Val::Text),
            _ => None,
        },
        Transform::Join(sep) => match v {
            Val::Json(Value::Array(_)) | Val::List(_) => Some(Val::Text(v.list().join(sep))),
            _ => None,
        },
        Transform::Split(sep) => {
            let t = v.text()?;
            let parts = t
                .split(sep.as_str())
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
            Some(Val::List(parts))
        }
        Transform::Date(format) => date(&v, format).map(Val::Date),
        Transform::Salary => salary::parse_salary(&v.text()?).map(Val::Salary),
        Transform::Template(_) => None,
    }
}

fn date(v: &Val, format: &str) -> Option<DateTime<Utc>> {
    let t = v.text()?;
    let t = t.trim();
    match format {
        "auto" => match v {
            Val::Json(Value::Number(_)) => dates::parse_epoch(t),
            _ => dates::parse_date(t),
        },
        "epoch_seconds" => Utc.timestamp_opt(t.parse::<f64>().ok()? as i64, 0).single(),
        "epoch_millis" => Utc
            .timestamp_millis_opt(t.parse::<f64>().ok()? as i64)
            .single(),
        "rfc3339" => DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|d| d.with_timezone(&Utc)),
        "rfc2822" => DateTime::parse_from_rfc2822(t)
            .ok()
            .map(|d| d.with_timezone(&Utc)),
        pattern => DateTime::parse_from_str(t, pattern)
            .map(|d| d.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(t, pattern)
                    .ok()
                    .map(|d| d.and_utc())
            })
            .or_else(|| {
                NaiveDate::parse_from_str(t, pattern)
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|d| d.and_utc())
            }),
    }
}

fn fill_template(
    tpl: &str,
    own: Option<&Val>,
    others: Option<&std::collections::BTreeMap<&str, Read>>,
) -> String {
    let mut out = tpl.to_owned();
    for name in template_refs(tpl).collect::<Vec<_>>() {
        let value = if name == "value" {
            own.map(|v| match v {
                Val::List(_) | Val::Json(Value::Array(_)) => v.list().join(", "),
                other => other.text().unwrap_or_default(),
            })
        } else {
            others.and_then(|o| o.get(name)).map(|r| {
                if kind_of(name) == Some(Kind::List) {
                    r.values
                        .iter()
                        .flat_map(Val::list)
                        .collect::<Vec<_>>()
                        .join(", ")
                } else {
                    first_text(r).unwrap_or_default()
                }
            })
        };
        out = out.replace(&format!("{{{name}}}"), &value.unwrap_or_default());
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests;
