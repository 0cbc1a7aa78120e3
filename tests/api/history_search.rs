//! Searching the run history by failure code and by text in the runs' errors: typed,
//! validated, and with the text matched literally (never as a pattern).

use job_importer::domain::{CodeCount, Failure, RunStatus};
use serde_json::Value;

use crate::helpers::*;

async fn seed(app: &TestApp) {
    let runs = [
        run_at("r-timeout", "alpha", 1, |r| {
            r.status = RunStatus::Failed;
            r.error = Some(Failure::new(
                "fetch.timeout",
                "The feed did not answer within 20 s",
            ));
        }),
        run_at("r-truncated", "beta", 2, |r| {
            r.status = RunStatus::Partial;
            r.error = Some(Failure::new(
                "parse.truncated",
                "The feed ended mid-item after (a+)+ items",
            ));
            r.failures_by_code = vec![CodeCount {
                code: "item.missing_title".into(),
                count: 3,
            }];
        }),
        run_at("r-large", "alpha", 3, |r| {
            r.status = RunStatus::Completed;
            r.failures = vec![Failure::new("item.too_large", "Item is 2 MB; at most 1 MB")];
        }),
        run_at("r-clean", "beta", 4, |r| r.status = RunStatus::Completed),
        run_at("r-timeout-old", "beta", 5, |r| {
            r.status = RunStatus::Failed;
            r.error = Some(Failure::new("fetch.timeout", "No answer in 20 s"));
        }),
    ];
    for run in &runs {
        seed_run(app, run).await;
    }
}

fn ids(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["_id"].as_str().unwrap())
        .collect()
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn runs_are_found_by_failure_code_and_by_literal_text_in_their_errors() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let cases: &[(&str, &[&str])] = &[
        ("failureCode=fetch.timeout", &["r-timeout", "r-timeout-old"]),
        // An item failure's code, counted or stored.
        ("failureCode=item.missing_title", &["r-truncated"]),
        ("failureCode=item.too_large", &["r-large"]),
        ("failureCode=fetch.dns", &[]),
        ("failureCode=fetch.timeout&source=beta", &["r-timeout-old"]),
        ("failureCode=fetch.timeout&status=completed", &[]),
        // Case-insensitive, in the run's error or an item failure's message.
        ("errorText=DID%20NOT%20answer", &["r-timeout"]),
        ("errorText=2%20mb", &["r-large"]),
        ("errorText=20%20s", &["r-timeout", "r-timeout-old"]),
        // Regex metacharacters match themselves only: as a pattern, `(a+)+` would match every
        // message with an "a" in it.
        (&*format!("errorText={}", enc("(a+)+")), &["r-truncated"]),
        (&*format!("errorText={}", enc(".*")), &[]),
        (
            "failureCode=fetch.timeout&errorText=no%20answer",
            &["r-timeout-old"],
        ),
    ];
    for (q, want) in cases {
        let (s, p) = get_json(&app, &format!("/api/import-logs?{q}")).await;
        assert_eq!(s, 200, "{q}: {p}");
        assert_eq!(ids(&p), *want, "{q}");
        assert_eq!(p["total"], want.len(), "{q}");
    }

    // The cursor walks a filtered list.
    let (_, p) = get_json(&app, "/api/import-logs?failureCode=fetch.timeout&limit=1").await;
    assert_eq!(ids(&p), ["r-timeout"]);
    let c = p["nextCursor"].as_str().unwrap();
    let (_, p) = get_json(
        &app,
        &format!("/api/import-logs?failureCode=fetch.timeout&limit=1&cursor={c}"),
    )
    .await;
    assert_eq!(ids(&p), ["r-timeout-old"]);
    app.cleanup().await;
}

#[tokio::test]
async fn bad_search_values_are_400s_naming_their_field() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let long = "x".repeat(201);
    let cases = [
        ("failureCode=timeout".to_owned(), "validation.failureCode"),
        ("failureCode=fetch.".to_owned(), "validation.failureCode"),
        (
            format!("failureCode={}", enc("fetch.$ne")),
            "validation.failureCode",
        ),
        (
            format!("failureCode=a.{}", "b".repeat(70)),
            "validation.failureCode",
        ),
        ("failureCode[$ne]=x".to_owned(), "validation.query"),
        ("errorText[$regex]=x".to_owned(), "validation.query"),
        (format!("errorText={long}"), "validation.errorText"),
        ("errorText=a%00b".to_owned(), "validation.errorText"),
        ("error_text=x".to_owned(), "validation.query"),
    ];
    for (q, code) in cases {
        let (s, e) = get_json(&app, &format!("/api/import-logs?{q}")).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (400, Some(code)),
            "{q}: {e}"
        );
    }
    // At the cap, text is accepted.
    let (s, p) = get_json(
        &app,
        &format!("/api/import-logs?errorText={}", "x".repeat(200)),
    )
    .await;
    assert_eq!((s, p["total"].as_u64()), (200, Some(0)));
    app.cleanup().await;
}
