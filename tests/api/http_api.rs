//! The read API: import-log pages and cursors, run detail, changes, stats. Runs are seeded
//! straight into MongoDB, as the pipeline writes them.

use std::collections::HashSet;

use job_importer::domain::{CodeCount, Failure, RunStatus};
use serde_json::Value;

use crate::helpers::*;

async fn seed_history(app: &TestApp) {
    for (i, (src, status, failed)) in [
        ("alpha", RunStatus::Completed, 0),
        ("beta", RunStatus::Failed, 9),
        ("alpha", RunStatus::Partial, 3),
        ("beta", RunStatus::Completed, 1),
        ("alpha", RunStatus::Completed, 5),
    ]
    .into_iter()
    .enumerate()
    {
        let run = run_at(&format!("run-{i}"), src, 60 * i as i64 + 1, |r| {
            r.status = status;
            r.failed_jobs = failed;
            r.new_jobs = 2;
        });
        seed_run(app, &run).await;
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn import_logs_page_filter_sort_and_walk_a_cursor_that_new_runs_do_not_shift() {
    let app = TestApp::spawn().await;
    seed_history(&app).await;
    let (s, p) = get_json(&app, "/api/import-logs?limit=2").await;
    assert_eq!(s, 200);
    assert_eq!(p["total"], 5);
    assert_eq!(ids(&p), ["run-0", "run-1"]);

    // A run that arrives while the client pages must not push rows into the next page.
    seed_run(&app, &run_at("run-new", "alpha", 0, |_| {})).await;
    let mut seen: Vec<String> = ids(&p);
    let mut cursor = p["nextCursor"].as_str().unwrap().to_owned();
    loop {
        let (s, p) = get_json(&app, &format!("/api/import-logs?limit=2&cursor={cursor}")).await;
        assert_eq!(s, 200, "{p}");
        seen.extend(ids(&p));
        match p["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, ["run-0", "run-1", "run-2", "run-3", "run-4"]);

    let (_, p) = get_json(&app, "/api/import-logs?source=beta").await;
    assert_eq!(ids(&p), ["run-1", "run-3"]);
    let (_, p) = get_json(&app, "/api/import-logs?status=completed&source=alpha").await;
    assert_eq!(ids(&p), ["run-0", "run-4"]);
    let from = (chrono::Utc::now() - chrono::Duration::minutes(150)).to_rfc3339();
    let to = (chrono::Utc::now() - chrono::Duration::minutes(30)).to_rfc3339();
    let q = format!("from={}&to={}", urlenc(&from), urlenc(&to));
    let (_, p) = get_json(&app, &format!("/api/import-logs?{q}")).await;
    assert_eq!(ids(&p), ["run-1", "run-2"]);
    let (_, p) = get_json(&app, "/api/import-logs?sort=failures&limit=2").await;
    assert_eq!(ids(&p), ["run-1", "run-4"]);
    let c = p["nextCursor"].as_str().unwrap().to_owned();
    let (_, p) = get_json(&app, &format!("/api/import-logs?sort=failures&cursor={c}")).await;
    assert_eq!(ids(&p), ["run-2", "run-3", "run-new", "run-0"]);
    app.cleanup().await;
}

fn urlenc(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn bad_list_input_is_a_400_with_a_code_and_changes_nothing() {
    let app = TestApp::spawn().await;
    seed_history(&app).await;
    for (path, code) in [
        ("/api/import-logs?status[$ne]=x", "validation.query"),
        ("/api/import-logs?source[$gt]=", "validation.query"),
        ("/api/import-logs?cursor=zz", "validation.cursor"),
        ("/api/import-logs?sort=random", "validation.sort"),
        ("/api/import-logs?limit=NaN", "validation.query"),
        ("/api/import-logs?page=-1", "validation.query"),
        ("/api/import-logs?limit=1e9", "validation.query"),
        ("/api/import-logs?from=yesterday", "validation.from"),
        ("/api/import-logs/changes", "validation.query"),
        ("/api/import-logs/changes?since=x", "validation.since"),
        (
            "/api/import-logs/run-1?failuresLimit=0",
            "validation.failuresLimit",
        ),
        (
            "/api/import-logs/run-1?failuresPage=0",
            "validation.failuresPage",
        ),
        ("/api/import-logs/%24where", "validation.id"),
        ("/api/stats?hours=0", "validation.hours"),
        ("/api/stats?days=1000", "validation.days"),
        (
            "/api/stats?source=%7B%22%24ne%22%3A1%7D",
            "validation.source",
        ),
    ] {
        let (s, body) = get_json(&app, path).await;
        assert_eq!(s, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], code, "{path}: {body}");
    }
    let (_, p) = get_json(&app, "/api/import-logs").await;
    assert_eq!(p["total"], 5, "nothing changed");
    app.cleanup().await;
}

#[tokio::test]
async fn run_detail_pages_its_failures_and_groups_them_by_code() {
    let app = TestApp::spawn().await;
    let run = run_at("run-f", "alpha", 1, |r| {
        r.status = RunStatus::Partial;
        r.failures = (0..5)
            .map(|i| {
                let code = if i < 3 {
                    "item.invalid"
                } else {
                    "item.missing_title"
                };
                Failure::for_item(code, format!("bad {i}"), Some(format!("x{i}")))
            })
            .collect();
        r.failures_by_code = vec![
            CodeCount {
                code: "item.invalid".into(),
                count: 40,
            },
            CodeCount {
                code: "item.missing_title".into(),
                count: 2,
            },
        ];
    });
    seed_run(&app, &run).await;
    let (s, d) = get_json(
        &app,
        "/api/import-logs/run-f?failuresLimit=2&failuresPage=2",
    )
    .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["failuresTotal"], 5);
    let msgs: Vec<&str> = d["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(msgs, ["bad 2", "bad 3"]);
    assert_eq!(d["failureGroups"][0]["code"], "item.invalid");
    assert_eq!(d["failureGroups"][0]["count"], 40);
    assert_eq!(d["failureGroups"][0]["stored"], 3);
    assert!(
        d.get("batches")
            .is_none_or(|b| b.as_object().is_some_and(|o| o.is_empty()))
    );
    let (_, d) = get_json(
        &app,
        "/api/import-logs/run-f?failureCode=item.missing_title",
    )
    .await;
    assert_eq!(d["failuresTotal"], 2);
    // Without parameters the run is served as before: every stored failure.
    let (_, d) = get_json(&app, "/api/import-logs/run-f").await;
    assert_eq!(d["failures"].as_array().unwrap().len(), 5);
    let (s, d) = get_json(&app, "/api/import-logs/nope").await;
    assert_eq!((s, d["error"]["code"].as_str()), (404, Some("not_found")));
    app.cleanup().await;
}

#[tokio::test]
async fn changes_since_returns_runs_changed_after_a_time_oldest_first() {
    let app = TestApp::spawn().await;
    // Finished runs: a queued one this old is the sweeper's to resume (which changes it).
    let old = run_at("run-old", "alpha", 120, |r| {
        r.status = job_importer::domain::RunStatus::Completed;
        r.updated_at = Some(chrono::Utc::now() - chrono::Duration::minutes(120));
    });
    let recent = run_at("run-recent", "alpha", 1, |r| {
        r.status = job_importer::domain::RunStatus::Completed;
    });
    seed_run(&app, &old).await;
    seed_run(&app, &recent).await;
    let since = (chrono::Utc::now() - chrono::Duration::minutes(10)).to_rfc3339();
    let (s, d) = get_json(
        &app,
        &format!("/api/import-logs/changes?since={}", urlenc(&since)),
    )
    .await;
    assert_eq!(s, 200, "{d}");
    let got: HashSet<&str> = d["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, HashSet::from(["run-recent"]));
    assert!(d["serverTime"].is_string());
    assert_eq!(d["hasMore"], false);
    app.cleanup().await;
}

#[tokio::test]
async fn stats_count_runs_and_items_per_hour_day_and_source() {
    let app = TestApp::spawn().await;
    seed_history(&app).await;
    let (s, st) = get_json(&app, "/api/stats?hours=6&days=2").await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["totalRuns"], 5);
    assert_eq!(st["hourly"].as_array().unwrap().len(), 6);
    assert_eq!(st["daily"].as_array().unwrap().len(), 2);
    let hourly_runs: i64 = st["hourly"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["runs"].as_i64().unwrap())
        .sum();
    assert_eq!(hourly_runs, 5);
    let new: i64 = st["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["newJobs"].as_i64().unwrap())
        .sum();
    assert_eq!(new, 10);
    let beta = st["bySource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sourceId"] == "beta")
        .unwrap();
    let beta_failed: i64 = beta["hourly"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["failedRuns"].as_i64().unwrap())
        .sum();
    assert_eq!(beta_failed, 1);
    let (_, st) = get_json(&app, "/api/stats?source=beta").await;
    assert_eq!(st["totalRuns"], 2);
    app.cleanup().await;
}
