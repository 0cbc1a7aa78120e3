//! Rules about the code itself: the error catalogue matches its document, and `domain` stays
//! free of I/O crates.

use job_importer::domain::codes;

#[test]
fn every_failure_code_is_documented_and_every_documented_code_exists() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/errors.md")).unwrap();
    // `| `code` | meaning |` rows, meaning as in the catalogue.
    let documented: std::collections::BTreeMap<&str, &str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` | "))
        .map(|(code, rest)| (code, rest.trim_end_matches(" |")))
        .collect();
    let defined: std::collections::BTreeMap<&str, &str> = codes::ALL.iter().copied().collect();
    assert_eq!(
        documented, defined,
        "docs/errors.md and domain::codes differ"
    );
}

/// Every string literal in `src/` shaped like a code of a catalogued family is in the
/// catalogue (the `validation.<field>` family takes any field).
#[test]
fn code_literals_in_the_source_are_catalogued() {
    let families: std::collections::BTreeSet<&str> = codes::ALL
        .iter()
        .filter_map(|(c, _)| c.split_once('.').map(|(f, _)| f))
        .collect();
    let known: std::collections::BTreeSet<&str> = codes::ALL.iter().map(|(c, _)| *c).collect();
    let mut stray = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            // config.rs names config keys (`fetch.max_redirects`), which share the families.
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("src/config.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for literal in text.split('"').skip(1).step_by(2) {
                let Some((family, rest)) = literal.split_once('.') else {
                    continue;
                };
                let shaped =
                    !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if shaped
                    && families.contains(family)
                    && family != "validation"
                    && !known.contains(literal)
                {
                    stray.push(format!("{}: {literal}", path.display()));
                }
            }
        }
    }
    assert!(
        stray.is_empty(),
        "codes missing from domain::codes: {stray:#?}"
    );
}

#[test]
fn the_domain_layer_imports_no_io_crates() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/domain");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for banned in [
            "actix",
            "tokio",
            "reqwest",
            "mongodb",
            "redis",
            "apalis",
            "quick_xml",
            "crate::store",
            "crate::ingest",
            "crate::actors",
            "crate::http",
        ] {
            assert!(
                !text.contains(banned),
                "{} mentions {banned}",
                path.display()
            );
        }
    }
}
