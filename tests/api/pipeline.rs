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

#[tokio::test]
async fn a_feed_that_changes_between_runs_counts_each_change_and_closes_only_after_complete_runs() {
    let mut s = test_settings();
    s.pipeline.close_after_missed_runs = 2;
    s.pipeline.batch_size = 3;
    let app = TestApp::spawn_with(s).await;
    let server = serve_feed(rss_feed(&items(0..10, "v1"))).await;
    let source = app
        .create_source("Changing", &format!("{}/feed.xml", server.uri()))
        .await;
    let run = |id: String| {
        let app = &app;
        async move { app.wait_final(&id).await }
    };
    let r1 = run(app.trigger(&source).await).await;
    assert_eq!(r1.get_i64("newJobs").unwrap(), 10);

    // Run 2: jobs 0-1 edited, 2-7 unchanged, 8-9 gone, 10-11 new.
    let mut next = items(0..2, "v2");
    next.extend(items(2..8, "v1"));
    next.extend(items(10..12, "v1"));
    set_feed(&server, rss_feed(&next)).await;
    let r2 = run(app.trigger(&source).await).await;
    assert_eq!(r2.get_str("status").unwrap(), "completed");
    assert_eq!(r2.get_i64("totalFetched").unwrap(), 10);
    assert_eq!(r2.get_i64("newJobs").unwrap(), 2);
    assert_eq!(r2.get_i64("updatedJobs").unwrap(), 2);
    assert_eq!(r2.get_i64("unchangedJobs").unwrap(), 6);
    assert_eq!(r2.get_i64("totalImported").unwrap(), 4);
    assert_eq!(
        r2.get_i64("closedJobs").unwrap(),
        0,
        "one missed run is not enough"
    );

    // Run 3 breaks off mid-document: partial runs prove nothing about missing jobs.
    let mut cut = rss_feed(&next);
    cut.truncate(cut.len() - 400);
    set_feed(&server, cut).await;
    let r3 = run(app.trigger(&source).await).await;
    assert_eq!(r3.get_str("status").unwrap(), "partial");
    assert_eq!(r3.get_i64("closedJobs").unwrap_or(0), 0);

    // Run 4 is complete again: jobs 8-9 have now missed two complete runs.
    set_feed(&server, rss_feed(&next)).await;
    let r4 = run(app.trigger(&source).await).await;
    assert_eq!(r4.get_i64("closedJobs").unwrap(), 2);
    assert_eq!(r4.get_i64("unchangedJobs").unwrap(), 10);
    let closed: Vec<String> = app
        .jobs()
        .await
        .iter()
        .filter(|j| j.get_str("status").unwrap() == "closed")
        .map(|j| j.get_str("title").unwrap().to_owned())
        .collect();
    assert_eq!(closed.len(), 2);
    assert!(closed.contains(&"Job 8".to_owned()) && closed.contains(&"Job 9".to_owned()));

    // Run 5: job 8 returns and is reopened.
    let mut back = next.clone();
    back.extend(items(8..9, "v1"));
    set_feed(&server, rss_feed(&back)).await;
    let r5 = run(app.trigger(&source).await).await;
    assert_eq!(r5.get_i64("reopenedJobs").unwrap(), 1);
    assert_eq!(r5.get_i64("unchangedJobs").unwrap(), 11);
    assert_eq!(r5.get_i64("closedJobs").unwrap(), 0);
    app.cleanup().await;
}

#[tokio::test]
async fn the_same_posting_from_two_publishers_is_linked_not_merged() {
    let app = TestApp::spawn().await;
    let a = serve_feed(rss_feed(&items(0..3, "v1"))).await;
    let b = serve_feed(rss_feed(&items(0..3, "v1"))).await;
    let sa = app
        .create_source("Publisher A", &format!("{}/feed.xml", a.uri()))
        .await;
    let sb = app
        .create_source("Publisher B", &format!("{}/feed.xml", b.uri()))
        .await;
    // Different publishers even though both are on 127.0.0.1: scope by the source id.
    for (sid, p) in [(&sa, "a.example"), (&sb, "b.example")] {
        let r = app
            .http
            .patch(app.url(&format!("/api/sources/{sid}")))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"publisher": p}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    app.wait_final(&app.trigger(&sa).await).await;
    let rb = app.wait_final(&app.trigger(&sb).await).await;
    assert_eq!(
        rb.get_i64("newJobs").unwrap(),
        3,
        "new to the database under publisher B"
    );
    let jobs = app.jobs().await;
    assert_eq!(jobs.len(), 6);
    let linked = jobs
        .iter()
        .filter(|j| j.get_str("duplicateOf").is_ok())
        .count();
    assert_eq!(linked, 3);
    app.cleanup().await;
}

#[tokio::test]
async fn category_feeds_of_one_publisher_share_jobs_and_list_every_source() {
    let app = TestApp::spawn().await;
    let all = serve_feed(rss_feed(&items(0..6, "v1"))).await;
    let cat = serve_feed(rss_feed(&items(2..4, "v1"))).await;
    let s_all = app
        .create_source("All jobs", &format!("{}/feed.xml", all.uri()))
        .await;
    let s_cat = app
        .create_source("A category", &format!("{}/feed.xml", cat.uri()))
        .await;
    app.wait_final(&app.trigger(&s_all).await).await;
    let rc = app.wait_final(&app.trigger(&s_cat).await).await;
    assert_eq!(
        rc.get_i64("newJobs").unwrap(),
        0,
        "the category's jobs already exist"
    );
    assert_eq!(rc.get_i64("unchangedJobs").unwrap(), 2);
    let jobs = app.jobs().await;
    assert_eq!(jobs.len(), 6);
    let both = jobs
        .iter()
        .filter(|j| j.get_array("sources").unwrap().len() == 2)
        .count();
    assert_eq!(both, 2);
    app.cleanup().await;
}
