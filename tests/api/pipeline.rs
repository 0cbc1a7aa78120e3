//! The whole path: API trigger → fetch → queue → worker → MongoDB → WebSocket.

use std::time::Duration;

use mongodb::bson::Document;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn importing_a_wp_job_manager_feed_stores_mapped_jobs_and_streams_the_run_live() {
    let app = TestApp::spawn().await;
    let feed = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let mut ws = connect_ws(&app).await;
    let first = next_event(&mut ws, Duration::from_secs(5))
        .await
        .expect("initial_data");
    assert_eq!(first["event"], "initial_data");
    assert_eq!(first["data"]["logs"]["total"], 0);

    let source = app
        .create_source("Jobicy fixture", &format!("{}/feed.xml", feed.uri()))
        .await;
    let run_id = app.trigger(&source).await;

    // Updates arrive until the run is completed; versions only grow.
    let mut statuses = Vec::new();
    let mut last_version = 0;
    let mut last: Value = Value::Null;
    while let Some(ev) = next_event(&mut ws, Duration::from_secs(20)).await {
        assert_eq!(ev["event"], "import_history_update", "{ev}");
        if ev["data"]["_id"] != run_id.as_str() {
            continue;
        }
        let v = ev["data"]["version"].as_i64().unwrap();
        assert!(v > last_version, "versions grow: {v} after {last_version}");
        last_version = v;
        statuses.push(ev["data"]["status"].as_str().unwrap().to_owned());
        last = ev["data"].clone();
        if last["status"] == "completed" {
            break;
        }
    }
    assert_eq!(statuses.first().map(String::as_str), Some("queued"));
    assert!(statuses.contains(&"running".to_owned()));
    assert_eq!(last["status"], "completed", "statuses seen: {statuses:?}");
    assert_eq!(last["totalFetched"], 5);
    assert_eq!(last["newJobs"], 5);
    assert_eq!(last["totalImported"], 5);
    assert_eq!(last["failedJobs"], 0);

    // The stored run document.
    let run = app.wait_final(&run_id).await;
    assert_eq!(
        run.get_str("fileName").unwrap(),
        format!("{}/feed.xml", feed.uri())
    );
    assert_eq!(run.get_i64("totalFetched").unwrap(), 5);
    assert_eq!(run.get_i64("newJobs").unwrap(), 5);
    assert_eq!(run.get_i64("updatedJobs").unwrap(), 0);
    assert_eq!(run.get_i64("failedJobs").unwrap(), 0);
    assert!(run.get_str("finishedAt").is_ok());

    // The jobs, with jobicy's job_listing fields mapped.
    let jobs = app.jobs().await;
    assert_eq!(jobs.len(), 5);
    let cox: &Document = jobs
        .iter()
        .find(|j| j.get_str("company").ok() == Some("Cox Enterprises"))
        .expect("Cox job");
    assert_eq!(cox.get_array("locations").unwrap()[0].as_str(), Some("USA"));
    assert_eq!(cox.get_str("employmentType").unwrap(), "FULL_TIME");
    assert_eq!(
        cox.get_str("title").unwrap(),
        "Senior Manager, Change Enablement \u{2013} Cox Automotive Fleet"
    );
    let html = cox.get_str("descriptionHtml").unwrap();
    assert!(
        !html.contains("<script") && !html.contains("onclick"),
        "sanitized: {html}"
    );
    assert!(
        jobs.iter()
            .all(|j| j.get_array("sources").unwrap().len() == 1)
    );

    app.cleanup().await;
}

#[tokio::test]
async fn reimporting_an_unchanged_feed_counts_every_job_unchanged_and_rewrites_none() {
    let app = TestApp::spawn().await;
    let feed = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let source = app
        .create_source("Unchanged", &format!("{}/feed.xml", feed.uri()))
        .await;
    let first = app.trigger(&source).await;
    app.wait_final(&first).await;
    let before: Vec<(String, String)> = app
        .jobs()
        .await
        .iter()
        .map(|j| {
            (
                j.get_str("_id").unwrap().to_owned(),
                j.get_str("updatedAt").unwrap().to_owned(),
            )
        })
        .collect();

    let second = app.trigger(&source).await;
    let run = app.wait_final(&second).await;
    assert_eq!(run.get_str("status").unwrap(), "completed");
    assert_eq!(run.get_i64("totalFetched").unwrap(), 5);
    assert_eq!(run.get_i64("unchangedJobs").unwrap(), 5);
    assert_eq!(run.get_i64("newJobs").unwrap(), 0);
    assert_eq!(run.get_i64("updatedJobs").unwrap(), 0);
    assert_eq!(run.get_i64("totalImported").unwrap(), 0);
    let after: Vec<(String, String)> = app
        .jobs()
        .await
        .iter()
        .map(|j| {
            (
                j.get_str("_id").unwrap().to_owned(),
                j.get_str("updatedAt").unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(before, after, "no job content was rewritten");
    app.cleanup().await;
}

#[tokio::test]
async fn a_feed_that_cannot_be_fetched_fails_the_run_with_its_reason() {
    let app = TestApp::spawn().await;
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let source = app
        .create_source("Gone", &format!("{}/feed.xml", server.uri()))
        .await;
    let run_id = app.trigger(&source).await;
    let run = app.wait_final(&run_id).await;
    assert_eq!(run.get_str("status").unwrap(), "failed");
    let err = run.get_document("error").unwrap();
    assert_eq!(err.get_str("code").unwrap(), "fetch.http_status");
    assert!(err.get_str("message").unwrap().contains("404"), "{err}");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "a 404 is not retried"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_second_manual_trigger_while_running_says_so_and_starts_nothing() {
    let app = TestApp::spawn().await;
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_raw(fixture("jobicy_wpjm.xml"), "application/rss+xml")
                .set_delay(Duration::from_millis(1500)),
        )
        .mount(&server)
        .await;
    let source = app
        .create_source("Slow", &format!("{}/feed.xml", server.uri()))
        .await;
    let run_id = app.trigger(&source).await;
    let again = app
        .post_json(&format!("/api/sources/{source}/import"), &Value::Null)
        .await;
    assert_eq!(again.status(), 409);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["error"]["code"], "run.already_running");
    assert!(body["error"]["message"].as_str().unwrap().contains(&run_id));
    app.wait_final(&run_id).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    // Once the run ended, the source can run again.
    let next = app.trigger(&source).await;
    assert_ne!(next, run_id);
    app.wait_final(&next).await;
    app.cleanup().await;
}

#[tokio::test]
async fn concurrent_batches_of_one_run_add_up_exactly() {
    let mut s = test_settings();
    s.pipeline.batch_size = 1;
    s.pipeline.worker_concurrency = 8;
    let app = TestApp::spawn_with(s).await;
    let feed = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let source = app
        .create_source("Small batches", &format!("{}/feed.xml", feed.uri()))
        .await;
    for round in 0..3 {
        let run_id = app.trigger(&source).await;
        let run = app.wait_final(&run_id).await;
        assert_eq!(run.get_str("status").unwrap(), "completed", "round {round}");
        assert_eq!(run.get_i64("batchesTotal").unwrap(), 5);
        assert_eq!(run.get_i64("batchesDone").unwrap(), 5);
        assert_eq!(run.get_i64("totalFetched").unwrap(), 5);
        let expected_new = if round == 0 { 5 } else { 0 };
        assert_eq!(
            run.get_i64("newJobs").unwrap(),
            expected_new,
            "round {round}"
        );
        assert_eq!(
            run.get_i64("unchangedJobs").unwrap(),
            5 - expected_new,
            "round {round}"
        );
    }
    assert_eq!(app.jobs().await.len(), 5);
    app.cleanup().await;
}
