//! Rules about the code itself: the error catalogue matches its document, and `domain` stays
//! free of I/O crates.

use job_importer::domain::codes;

#[test]
fn every_failure_code_is_documented_and_every_documented_code_exists() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/errors.md")).unwrap();
    let documented: std::collections::BTreeSet<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let defined: std::collections::BTreeSet<&str> = codes::ALL.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        documented, defined,
        "docs/errors.md and domain::codes differ"
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
