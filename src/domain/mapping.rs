//! Declarative mappings: how to read job postings out of any JSON API or XML feed, as data.
//!
//! A mapping says where the item list is, which paths hold each job field, which transforms
//! turn the values found into the field's type, and which items to skip. It is checked once
//! when saved ([`Mapping::parse`]); `ingest::mapping` applies it to documents.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A mapping as stored: every field rule in its full form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Mapping {
    /// Where the items are. JSON: a JSON pointer (`/jobs`), a dotted path (`data.jobs`) or
    /// `""` for a root array. XML: the item element's name (`item`, `job`).
    pub items: String,
    /// Job field name → how to read it (see [`FIELDS`]).
    #[serde(default)]
    pub fields: BTreeMap<String, FieldRule>,
    /// An item matching any rule is skipped (not a job, not a failure).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<SkipRule>,
    /// Keys every item of this board has: format `auto` recognises a payload by them. Only
    /// built-in mappings need it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detect: Vec<String>,
}

/// How one job field is read: the first path giving a value wins (list fields collect from
/// every path), then the transforms run in order; `default` applies when nothing was found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldRule {
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<Transform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
}

/// The fixed set of transforms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Transform {
    /// Whitespace off both ends (of each element of a list).
    Trim,
    /// The first element of a list.
    First,
    /// A list joined into text with the separator.
    Join(String),
    /// Text split into a list at the separator (parts trimmed, empty parts dropped).
    Split(String),
    /// Text or a number read as a date: `auto`, `epoch_seconds`, `epoch_millis`, `rfc3339`,
    /// `rfc2822`, or a chrono `strftime` pattern (`%d/%m/%Y`).
    Date(String),
    /// Markup removed, entities decoded.
    StripHtml,
    /// Text such as `$80k - $100k a year` read as a salary.
    Salary,
    /// Text with `{field}` replaced by that job field's value (`{value}`: this field's).
    Template(String),
}

/// Skips an item when every condition holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkipRule {
    pub all: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub path: String,
    /// The path has a value (`true`) or has none (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// The value equals this (a string also matches the same number written as text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Value>,
    /// The value, as text, contains this (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
}

/// What a job field holds once read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    List,
    Date,
    Number,
    Bool,
    /// Text a salary is parsed from, or a salary from the `salary` transform.
    Salary,
}

/// The job fields a mapping may fill, with what each holds.
pub const FIELDS: [(&str, Kind); 17] = [
    ("externalId", Kind::Text),
    ("title", Kind::Text),
    ("company", Kind::Text),
    ("locations", Kind::List),
    ("employmentType", Kind::List),
    ("categories", Kind::List),
    ("description", Kind::Text),
    ("url", Kind::Text),
    ("datePosted", Kind::Date),
    ("validThrough", Kind::Date),
    ("logo", Kind::Text),
    ("remote", Kind::Bool),
    ("salary", Kind::Salary),
    ("salaryMin", Kind::Number),
    ("salaryMax", Kind::Number),
    ("salaryCurrency", Kind::Text),
    ("salaryPeriod", Kind::Text),
];

pub fn kind_of(field: &str) -> Option<Kind> {
    FIELDS.iter().find(|(n, _)| *n == field).map(|(_, k)| *k)
}

/// One problem with a mapping, naming where it is: `fields.title`, `skip[0].all[1]`, `items`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingError {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.field)?;
        if let Some(p) = &self.path {
            write!(f, " (path `{p}`)")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The errors of a mapping, all of them, joined for a one-line message.
pub fn describe(errors: &[MappingError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// What a transform chain holds between steps, for checking it before any data is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A raw value from the document: any type, known only on data.
    Any,
    Text,
    List,
    Date,
    Salary,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Any => "a value",
            Shape::Text => "text",
            Shape::List => "a list",
            Shape::Date => "a date",
            Shape::Salary => "a salary",
        }
    }
}

/// Limits on a mapping's own size, so a saved mapping cannot make every item expensive.
const MAX_PATHS: usize = 16;
const MAX_TRANSFORMS: usize = 16;
const MAX_SKIP_RULES: usize = 32;
const MAX_PATH_CHARS: usize = 256;
const MAX_PATH_SEGMENTS: usize = 32;

impl Mapping {
    /// Reads a mapping as a user writes it (a field may be a path, a list of paths, or a
    /// rule object) and checks it, returning every problem found.
    pub fn parse(input: &Value) -> Result<Mapping, Vec<MappingError>> {
        let mut errors = Vec::new();
        let err = |field: &str, path: Option<&str>, message: String| MappingError {
            field: field.to_owned(),
            path: path.map(str::to_owned),
            message,
        };
        let Some(obj) = input.as_object() else {
            return Err(vec![err("mapping", None, "must be an object".into())]);
        };
        for key in obj.keys() {
            if !matches!(key.as_str(), "items" | "fields" | "skip" | "detect") {
                let msg = "unknown key; expected items, fields, skip or detect".into();
                errors.push(err(key, None, msg));
            }
        }
        let items = match obj.get("items") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                errors.push(err("items", None, "must be a path (text)".into()));
                String::new()
            }
            None => {
                let msg = "is required: where the item list is (`\"\"` for a root array)";
                errors.push(err("items", None, msg.into()));
                String::new()
            }
        };
        let mut fields = BTreeMap::new();
        match obj.get("fields") {
            Some(Value::Object(f)) => {
                for (name, spec) in f {
                    let at = format!("fields.{name}");
                    if kind_of(name).is_none() {
                        let known: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
                        let msg = format!("unknown field; known fields: {}", known.join(", "));
                        errors.push(err(&at, None, msg));
                        continue;
                    }
                    match rule_of(spec) {
                        Ok(rule) => {
                            fields.insert(name.clone(), rule);
                        }
                        Err(msg) => errors.push(err(&at, None, msg)),
                    }
                }
            }
            Some(_) => errors.push(err("fields", None, "must be an object".into())),
            None => {}
        }
        let skip = match obj.get("skip") {
            None => Vec::new(),
            Some(v) => serde_json::from_value::<Vec<SkipRule>>(v.clone()).unwrap_or_else(|e| {
                let msg =
                    format!("{e} (expected [{{\"all\": [{{\"path\": …, \"exists\": true}}]}}])");
                errors.push(err("skip", None, msg));
                Vec::new()
            }),
        };
        let detect = match obj.get("detect") {
            None => Vec::new(),
            Some(v) => serde_json::from_value::<Vec<String>>(v.clone()).unwrap_or_else(|_| {
                errors.push(err("detect", None, "must be a list of keys".into()));
                Vec::new()
            }),
        };
        let mapping = Mapping {
            items,
            fields,
            skip,
            detect,
        };
        errors.extend(mapping.check());
        if errors.is_empty() {
            Ok(mapping)
        } else {
            Err(errors)
        }
    }

    /// Checks a typed mapping: field names, paths, transform types, templates, limits.
    pub fn check(&self) -> Vec<MappingError> {
        let mut errors = Vec::new();
        let mut push = |field: String, path: Option<&str>, message: String| {
            errors.push(MappingError {
                field,
                path: path.map(str::to_owned),
                message,
            })
        };
        if let Err(msg) = check_path(&self.items, true) {
            push("items".into(), Some(&self.items), msg);
        }
        if !self.fields.contains_key("title") {
            let msg = "every job needs a title: map `title` to a path or a template".into();
            push("fields.title".into(), None, msg);
        }
        for (name, rule) in &self.fields {
            let at = format!("fields.{name}");
            let Some(kind) = kind_of(name) else {
                push(at, None, "unknown field".into());
                continue;
            };
            if rule.paths.len() > MAX_PATHS || rule.transforms.len() > MAX_TRANSFORMS {
                let msg = format!("at most {MAX_PATHS} paths and {MAX_TRANSFORMS} transforms");
                push(at.clone(), None, msg);
            }
            let templated = rule
                .transforms
                .iter()
                .any(|t| matches!(t, Transform::Template(_)));
            if rule.paths.is_empty() && rule.default.is_none() && !templated {
                push(
                    at.clone(),
                    None,
                    "needs a path, a template or a default".into(),
                );
            }
            for p in &rule.paths {
                if let Err(msg) = check_path(p, false) {
                    push(at.clone(), Some(p), msg);
                }
            }
            let path = rule.paths.first().map(String::as_str);
            let mut shape = Shape::Any;
            for t in &rule.transforms {
                match step(shape, t) {
                    Ok(next) => shape = next,
                    Err(msg) => {
                        push(at.clone(), path, msg);
                        break;
                    }
                }
                if let Transform::Template(tpl) = t {
                    for r in template_refs(tpl) {
                        let bad = if r == "value" {
                            None
                        } else if r == name.as_str() {
                            Some("a template cannot name its own field; use {value}".to_owned())
                        } else if kind_of(r).is_none() {
                            Some(format!("template names unknown field `{r}`"))
                        } else if self.fields.get(r).is_some_and(uses_template) {
                            Some(format!("template names `{r}`, which has a template itself"))
                        } else {
                            None
                        };
                        if let Some(msg) = bad {
                            push(at.clone(), path, msg);
                        }
                    }
                }
                if let Transform::Date(f) = t
                    && let Err(msg) = check_date_format(f)
                {
                    push(at.clone(), path, msg);
                }
            }
            if let Err(msg) = fits(shape, kind) {
                push(
                    at.clone(),
                    path,
                    format!("{msg}, but `{name}` takes {}", kind_name(kind)),
                );
            }
        }
        if self.skip.len() > MAX_SKIP_RULES {
            push(
                "skip".into(),
                None,
                format!("at most {MAX_SKIP_RULES} rules"),
            );
        }
        for (i, rule) in self.skip.iter().enumerate() {
            if rule.all.is_empty() {
                push(
                    format!("skip[{i}].all"),
                    None,
                    "needs at least one condition".into(),
                );
            }
            for (j, c) in rule.all.iter().enumerate() {
                let at = format!("skip[{i}].all[{j}]");
                if let Err(msg) = check_path(&c.path, false) {
                    push(at.clone(), Some(&c.path), msg);
                }
                let tests = [c.exists.is_some(), c.equals.is_some(), c.contains.is_some()];
                if tests.iter().filter(|t| **t).count() != 1 {
                    let msg = "needs exactly one of exists, equals, contains".into();
                    push(at, Some(&c.path), msg);
                }
            }
        }
        errors
    }
}

fn uses_template(rule: &FieldRule) -> bool {
    rule.transforms
        .iter()
        .any(|t| matches!(t, Transform::Template(_)))
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "text",
        Kind::List => "a list of texts",
        Kind::Date => "a date",
        Kind::Number => "a number",
        Kind::Bool => "true or false",
        Kind::Salary => "a salary or salary text",
    }
}

/// A field rule from its written form: `"path"`, `["path", …]` or a rule object.
fn rule_of(spec: &Value) -> Result<FieldRule, String> {
    match spec {
        Value::String(p) => Ok(FieldRule {
            paths: vec![p.clone()],
            ..Default::default()
        }),
        Value::Array(a) => {
            let paths = a
                .iter()
                .map(|p| p.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or("a list of paths must hold only texts")?;
            Ok(FieldRule {
                paths,
                ..Default::default()
            })
        }
        Value::Object(o) => {
            let mut o = o.clone();
            // `path` is accepted for a single path.
            if let Some(p) = o.remove("path") {
                let p = p.as_str().ok_or("`path` must be text")?.to_owned();
                let paths = o.entry("paths").or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(a) = paths {
                    a.insert(0, Value::String(p));
                }
            }
            serde_json::from_value(Value::Object(o)).map_err(|e| e.to_string())
        }
        _ => Err("must be a path, a list of paths, or {paths, transforms, default}".into()),
    }
}

/// What a transform makes of what it is given, or why it cannot take it.
fn step(input: Shape, t: &Transform) -> Result<Shape, String> {
    let wrong = |name: &str, takes: &str| {
        Err(format!(
            "transform `{name}` takes {takes} but is given {}",
            input.name()
        ))
    };
    use Shape::*;
    match (t, input) {
        (Transform::Trim | Transform::StripHtml, Any | Text) => Ok(Text),
        (Transform::Trim | Transform::StripHtml, List) => Ok(List),
        (Transform::Trim, _) => wrong("trim", "text or a list"),
        (Transform::StripHtml, _) => wrong("strip_html", "text or a list"),
        (Transform::First, Any | List) => Ok(Any),
        (Transform::First, _) => wrong("first", "a list"),
        (Transform::Join(_), Any | List) => Ok(Text),
        (Transform::Join(_), _) => wrong("join", "a list"),
        (Transform::Split(_), Any | Text) => Ok(List),
        (Transform::Split(_), _) => wrong("split", "text"),
        (Transform::Date(_), Any | Text) => Ok(Date),
        (Transform::Date(_), _) => wrong("date", "text or a number"),
        (Transform::Salary, Any | Text) => Ok(Salary),
        (Transform::Salary, _) => wrong("salary", "text"),
        (Transform::Template(_), _) => Ok(Text),
    }
}

/// Whether what a chain ends with can fill a field of `kind`.
fn fits(shape: Shape, kind: Kind) -> Result<(), String> {
    use Shape::*;
    let ok = match kind {
        Kind::Text | Kind::Number | Kind::Bool => matches!(shape, Any | Text),
        Kind::List => matches!(shape, Any | Text | List),
        Kind::Date => matches!(shape, Any | Text | Date),
        Kind::Salary => matches!(shape, Any | Text | Salary),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("the transforms give {}", shape.name()))
    }
}

/// The `{name}` placeholders of a template.
pub fn template_refs(tpl: &str) -> impl Iterator<Item = &str> {
    tpl.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.trim()))
}

fn check_date_format(f: &str) -> Result<(), String> {
    if matches!(
        f,
        "auto" | "epoch_seconds" | "epoch_millis" | "rfc3339" | "rfc2822"
    ) {
        return Ok(());
    }
    use chrono::format::{Item, StrftimeItems};
    if !f.contains('%') || StrftimeItems::new(f).any(|i| matches!(i, Item::Error)) {
        return Err(format!(
            "date format `{f}` is not auto, epoch_seconds, epoch_millis, rfc3339, rfc2822 \
             or a strftime pattern"
        ));
    }
    Ok(())
}

/// A path is a JSON pointer (`/a/0/b`) or dots (`a.0.b`); `""` is the root (only for items).
fn check_path(p: &str, root_ok: bool) -> Result<(), String> {
    if p.chars().count() > MAX_PATH_CHARS {
        return Err(format!("a path has at most {MAX_PATH_CHARS} characters"));
    }
    let segments = segments(p);
    if segments.is_empty() && !root_ok {
        return Err("an empty path names nothing".into());
    }
    if segments.len() > MAX_PATH_SEGMENTS {
        return Err(format!("a path has at most {MAX_PATH_SEGMENTS} steps"));
    }
    if segments.iter().any(String::is_empty) {
        return Err("a path has an empty step (`a..b` or `//`)".into());
    }
    Ok(())
}

/// The steps of a path: a JSON pointer's tokens (with `~1` and `~0` decoded) or the parts
/// between dots.
pub fn segments(p: &str) -> Vec<String> {
    let p = p.trim();
    if p.is_empty() || p == "/" || p == "." {
        return Vec::new();
    }
    if let Some(rest) = p.strip_prefix('/') {
        rest.split('/')
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect()
    } else {
        p.split('.').map(str::to_owned).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(v: Value) -> Vec<String> {
        Mapping::parse(&v)
            .err()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_field_may_be_a_path_a_list_or_a_rule() {
        let m = Mapping::parse(&json!({
            "items": "/jobs",
            "fields": {
                "title": "jobTitle",
                "company": ["companyName", "company"],
                "locations": {"path": "geo", "transforms": [{"split": ","}]},
                "remote": {"default": true}
            }
        }))
        .expect("valid");
        assert_eq!(m.fields["title"].paths, ["jobTitle"]);
        assert_eq!(m.fields["company"].paths, ["companyName", "company"]);
        assert_eq!(
            m.fields["locations"].transforms,
            [Transform::Split(",".into())]
        );
        assert_eq!(m.fields["remote"].default, Some(json!(true)));
    }

    #[test]
    fn an_unknown_field_is_named() {
        let e = errors(json!({"items": "", "fields": {"title": "t", "titel": "x"}}));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("fields.titel: unknown field"), "{e:?}");
    }

    #[test]
    fn a_transform_on_the_wrong_type_names_the_field_and_path() {
        let e = errors(json!({"items": "", "fields": {
            "title": "t",
            "company": {"path": "tags", "transforms": [{"split": ","}, {"split": ";"}]},
            "locations": {"path": "geo", "transforms": [{"date": "auto"}]}
        }}));
        assert!(
            e.contains(
                &"fields.company (path `tags`): transform `split` takes text but is given a list"
                    .to_owned()
            ),
            "{e:?}"
        );
        assert!(
            e.contains(&"fields.locations (path `geo`): the transforms give a date, but `locations` takes a list of texts".to_owned()),
            "{e:?}"
        );
    }

    #[test]
    fn bad_paths_templates_and_date_formats_are_refused() {
        let e = errors(json!({"items": "a..b", "fields": {
            "title": {"transforms": [{"template": "{company} {nope}"}]},
            "company": {"path": "c", "transforms": [{"date": "yesterday"}]},
            "url": ""
        }}));
        let joined = e.join("\n");
        assert!(
            joined.contains("items (path `a..b`): a path has an empty step"),
            "{joined}"
        );
        assert!(
            joined.contains("fields.title: template names unknown field `nope`"),
            "{joined}"
        );
        assert!(
            joined.contains("fields.company (path `c`): date format `yesterday`"),
            "{joined}"
        );
        assert!(
            joined.contains("fields.url (path ``): an empty path names nothing"),
            "{joined}"
        );
    }

    #[test]
    fn a_mapping_without_title_or_items_is_refused() {
        let e = errors(json!({"fields": {"company": "c"}, "extra": 1}));
        let joined = e.join("\n");
        assert!(joined.contains("extra: unknown key"), "{joined}");
        assert!(joined.contains("items: is required"), "{joined}");
        assert!(
            joined.contains("fields.title: every job needs a title"),
            "{joined}"
        );
    }

    #[test]
    fn skip_conditions_need_one_test_each() {
        let e = errors(json!({"items": "", "fields": {"title": "t"},
            "skip": [{"all": [{"path": "legal"}]}]}));
        assert_eq!(
            e,
            ["skip[0].all[0] (path `legal`): needs exactly one of exists, equals, contains"]
        );
    }

    #[test]
    fn paths_are_pointers_or_dots() {
        assert_eq!(segments("/a~1b/0"), ["a/b", "0"]);
        assert_eq!(segments("a.0.b"), ["a", "0", "b"]);
        assert!(segments("").is_empty());
    }
}
