//! `GET /api/jobs` and `GET /api/jobs/{id}`: literal search, typed filters, pagination, and
//! injection attempts refused.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use mongodb::bson::{Document, doc};
use serde_json::Value;

use crate::helpers::*;

async fn seed_jobs(app: &TestApp) {
    let job = |id: &str,
               title: &str,
               company: &str,
               loc: &str,
               remote: bool,
               et: &str,
               status: &str,
               day: u32,
               src: &str| {
        doc! {
            "_id": id, "externalId": format!("ext-{id}"), "publisher": "example.com", "title": title,
            "company": company, "locations": [loc], "remote": remote, "employmentType": et,
            "categories": ["dev"], "descriptionHtml": format!("<p>{title}</p>"),
            "descriptionText": format!("About {title} at {company}. Needs (a+)+ patience."),
            "url": format!("https://example.com/{id}"), "datePosted": format!("2026-11-{day:02}T00:00:00.000Z"),
            "salary": null, "logoUrl": null, "extra": {}, "contentHash": "h", "dedupeKey": "k",
            "sources": [src], "status": status, "createdByRun": "r", "firstSeenAt": "2026-11-01T00:00:00.000Z",
            "updatedAt": "2026-11-01T00:00:00.000Z", "lastSeenAt": "2026-11-01T00:00:00.000Z",
        }
    };
    let docs: Vec<Document> = vec![
        job(
            "j1",
            "Senior Rust Engineer",
            "Ferrous Ltd",
            "Berlin, Germany",
            true,
            "FULL_TIME",
            "open",
            20,
            "alpha",
        ),
        job(
            "j2",
            "Rust Intern",
            "Ferrous Ltd",
            "Remote",
            true,
            "INTERN",
            "open",
            21,
            "alpha",
        ),
        job(
            "j3",
            "Go Developer",
            "Gopher Inc",
            "New York",
            false,
            "CONTRACTOR",
            "closed",
            22,
            "beta",
        ),
        job(
            "j4",
            "C++ Engineer (a+)+",
            "Acme.*",
            "Berlin",
            false,
            "FULL_TIME",
            "open",
            23,
            "beta",
        ),
    ];
    app.db
        .collection::<Document>("jobs")
        .insert_many(docs)
        .await
        .unwrap();
}

fn ids(v: &Value) -> HashSet<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["_id"].as_str().unwrap().to_owned())
        .collect()
}

fn set(ids: &[&str]) -> HashSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn jobs_are_searched_literally_and_filtered_by_typed_values() {
    let app = TestApp::spawn().await;
    seed_jobs(&app).await;
    let (s, all) = get_json(&app, "/api/jobs").await;
    assert_eq!(s, 200, "{all}");
    assert_eq!(all["total"], 4);
    assert_eq!(all["items"][0]["_id"], "j4", "newest posting first");
    assert!(all["items"][0].get("contentHash").is_none());
    assert!(all["items"][0].get("descriptionText").is_none());
    for (q, want) in [
        ("q=rust", vec!["j1", "j2"]),
        ("q=RUST%20senior", vec!["j1"]),
        ("q=gopher", vec!["j3"]),
        ("q=patience%20intern", vec!["j2"]),
        ("q=(a%2B)%2B%20c%2B%2B", vec!["j4"]),
        ("q=.*", vec!["j4"]),
        ("company=ferrous%20ltd", vec!["j1", "j2"]),
        ("company=Acme.*", vec!["j4"]),
        ("company=Acme", vec![]),
        ("location=berlin", vec!["j1", "j4"]),
        ("remote=true", vec!["j1", "j2"]),
        ("employmentType=FULL_TIME", vec!["j1", "j4"]),
        ("employmentType=contract", vec!["j3"]),
        ("status=closed", vec!["j3"]),
        ("source=beta", vec!["j3", "j4"]),
        (
            "from=2026-11-21T00:00:00Z&to=2026-11-22T00:00:00Z",
            vec!["j2", "j3"],
        ),
    ] {
        let (s, v) = get_json(&app, &format!("/api/jobs?{q}")).await;
        assert_eq!(s, 200, "{q}: {v}");
        assert_eq!(ids(&v), set(&want), "{q}");
    }
    let (_, p) = get_json(&app, "/api/jobs?limit=3&page=2").await;
    assert_eq!(
        (p["total"].as_u64(), p["items"].as_array().map(Vec::len)),
        (Some(4), Some(1))
    );
    let (s, j) = get_json(&app, "/api/jobs/j1").await;
    assert_eq!(s, 200);
    assert_eq!(j["title"], "Senior Rust Engineer");
    assert!(
        j["descriptionText"].is_string(),
        "the detail carries the text"
    );
    let (s, _) = get_json(&app, "/api/jobs/nope").await;
    assert_eq!(s, 404);
    app.cleanup().await;
}

#[tokio::test]
async fn job_filter_injection_and_bad_values_are_refused() {
    let app = TestApp::spawn().await;
    seed_jobs(&app).await;
    for (q, code) in [
        ("status[$ne]=x", "validation.query"),
        ("company[$regex]=.*", "validation.query"),
        ("remote=yes", "validation.remote"),
        ("status=all", "validation.status"),
        ("employmentType=%7B%24gt%7D", "validation.employmentType"),
        ("limit=101", "validation.limit"),
        ("from=soon", "validation.from"),
        ("where=1", "validation.query"),
        ("__proto__[isAdmin]=true", "validation.query"),
    ] {
        let (s, v) = get_json(&app, &format!("/api/jobs?{q}")).await;
        assert_eq!(s, 400, "{q}: {v}");
        assert_eq!(v["error"]["code"], code, "{q}");
    }
    let long = "a".repeat(201);
    let (s, v) = get_json(&app, &format!("/api/jobs?q={long}")).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("validation.q"))
    );
    // A pattern that backtracks badly as a regex is literal text here, and answers at once.
    let started = Instant::now();
    let (s, _) = get_json(&app, "/api/jobs?q=(a%2B)%2B%24%20(x%2B%2B)*").await;
    assert_eq!(s, 200);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(app.jobs().await.len(), 4, "nothing changed");
    app.cleanup().await;
}
