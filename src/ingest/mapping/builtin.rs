//! The mappings shipped with the daemon, one JSON file each under `mappings/`, read through the
//! same engine as a source's own mapping. Format `auto` recognises them by their `detect` keys.

use std::sync::{Arc, LazyLock};

use serde_json::Value;

use crate::domain::mapping::Mapping;

/// Name and text of each built-in mapping, in the order `auto` tries them.
const SOURCES: [(&str, &str); 5] = [
    ("jobicy", include_str!("../../../mappings/jobicy.json")),
    ("remotive", include_str!("../../../mappings/remotive.json")),
    ("remoteok", include_str!("../../../mappings/remoteok.json")),
    (
        "arbeitnow",
        include_str!("../../../mappings/arbeitnow.json"),
    ),
    (
        "himalayas",
        include_str!("../../../mappings/himalayas.json"),
    ),
];

static BUILT_IN: LazyLock<Vec<(&'static str, Arc<Mapping>)>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .map(|(name, text)| {
            let value: Value = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("built-in mapping {name} is not JSON: {e}"));
            let mapping = Mapping::parse(&value).unwrap_or_else(|e| {
                panic!(
                    "built-in mapping {name} is invalid: {}",
                    crate::domain::mapping::describe(&e)
                )
            });
            (*name, Arc::new(mapping))
        })
        .collect()
});

/// The names of the built-in mappings.
pub fn names() -> impl Iterator<Item = &'static str> {
    SOURCES.iter().map(|(n, _)| *n)
}

/// A built-in mapping by name (case-insensitive).
pub fn by_name(name: &str) -> Option<Arc<Mapping>> {
    BUILT_IN
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
        .map(|(_, m)| Arc::clone(m))
}

/// The built-in mapping whose `detect` keys the document's items carry.
pub fn recognise(root: &Value) -> Option<(&'static str, Arc<Mapping>)> {
    BUILT_IN
        .iter()
        .find(|(_, m)| super::recognises(m, root))
        .map(|(n, m)| (*n, Arc::clone(m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_mapping_parses_and_checks() {
        for name in names() {
            let m = by_name(name).expect(name);
            assert!(m.check().is_empty(), "{name}");
            assert!(!m.detect.is_empty(), "{name} needs detect keys");
        }
        assert!(by_name(" Remotive ").is_some());
        assert!(by_name("nope").is_none());
    }
}
