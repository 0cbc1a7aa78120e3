//! Replays (a run's source again, fetched without validators) and "import every enabled
//! source": the running-lease rules of any manual run, one manual action for the rate limit.

use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::*;

/// Answers `304` to the current `ETag`, the feed with its `ETag` otherwise.
struct Conditional(Vec<u8>);

impl Respond for Conditional {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let etag = "\"v1\"";
        if req
            .headers
            .get("if-none-match")
            .is_some_and(|v| v.as_bytes() == etag.as_bytes())
        {
            return ResponseTemplate::new(304).insert_header("ETag", etag);
        }
        ResponseTemplate::new(200)
            .insert_header("ETag", etag)
            .set_body_raw(self.0.clone(), "application/rss+xml")
    }
}

async fn conditional_feed(body: Vec<u8>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(Conditional(body))
        .mount(&server)
        .await;
    server
}

/// A feed that answers after `delay` (keeps its source's run in progress meanwhile).
async fn slow_feed(body: Vec<u8>, delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(body, "application/rss+xml")
                .set_delay(delay),
        )
        .mount(&server)
        .await;
    server
}

async fn if_none_match_of_last_request(server: &MockServer) -> Option<String> {
    let reqs = server.received_requests().await.unwrap();
    let last = reqs.last().expect("the feed was read");
    last.headers
        .get("if-none-match")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_replay_reads_the_whole_feed_without_validators_and_names_the_run_it_replays() {
    let app = TestApp::spawn().await;
    let feed = conditional_feed(rss_feed(&items(0..5, "a"))).await;
    let source = app
        .create_source("Conditional", &format!("{}/feed.xml", feed.uri()))
        .await;

    let first = app.trigger(&source).await;
    assert_eq!(
        app.wait_final(&first).await.get_str("status"),
        Ok("completed")
    );
    // An ordinary run sends the validators and gets a 304.
    let second = app.trigger(&source).await;
    assert_eq!(
        app.wait_final(&second).await.get_str("status"),
        Ok("not_modified")
    );
    assert_eq!(
        if_none_match_of_last_request(&feed).await.as_deref(),
        Some("\"v1\"")
    );

    let r = app
        .post_json(&format!("/api/import-logs/{second}/replay"), &Value::Null)
        .await;
    assert_eq!(r.status(), 202);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["run"]["unconditional"], true);
    assert_eq!(v["run"]["replayOf"], second.as_str());
    assert_eq!(v["run"]["trigger"], "manual");
    let replay = v["run"]["_id"].as_str().unwrap().to_owned();
    let done = app.wait_final(&replay).await;
    assert_eq!(done.get_str("status"), Ok("completed"));
    assert_eq!(done.get_i64("totalFetched"), Ok(5));
    assert_eq!(done.get_i64("unchangedJobs"), Ok(5));
    assert_eq!(if_none_match_of_last_request(&feed).await, None);

    // The same through the source's route, with `unconditional=true`.
    let r = app
        .post_json(
            &format!("/api/sources/{source}/import?unconditional=true"),
            &Value::Null,
        )
        .await;
    assert_eq!(r.status(), 202);
    let v: Value = r.json().await.unwrap();
    let run = v["run"]["_id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.wait_final(&run).await.get_str("status"),
        Ok("completed")
    );
    assert_eq!(if_none_match_of_last_request(&feed).await, None);

    // Unknown runs, bad ids and bad flags.
    let (s, e) = post_status(&app, "/api/import-logs/nope/replay").await;
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("not_found")));
    let (s, e) = post_status(&app, "/api/import-logs/%24where/replay").await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("validation.id"))
    );
    let (s, _) = post_status(
        &app,
        &format!("/api/sources/{source}/import?unconditional=1"),
    )
    .await;
    assert_eq!(s, 400);
    app.cleanup().await;
}

async fn post_status(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app.post_json(path, &Value::Null).await;
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_replay_of_a_source_that_is_importing_is_refused() {
    let app = TestApp::spawn().await;
    let feed = slow_feed(rss_feed(&items(0..2, "a")), Duration::from_secs(3)).await;
    let source = app
        .create_source("Slow", &format!("{}/feed.xml", feed.uri()))
        .await;
    let running = app.trigger(&source).await;
    let (s, e) = post_status(&app, &format!("/api/import-logs/{running}/replay")).await;
    assert_eq!(s, 409);
    assert_eq!(e["error"]["code"], "run.already_running");
    app.wait_final(&running).await;
    app.cleanup().await;
}

/// Waits until the current rate-limit minute has at least `secs` left, so that a sequence of
/// requests is counted in one window.
async fn with_window_left(secs: i64) {
    loop {
        let now = chrono::Utc::now().timestamp();
        if 60 - now % 60 >= secs {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn import_all_starts_each_enabled_source_once_and_counts_as_one_manual_action() {
    let mut s = test_settings();
    s.http.rate_limit_trigger_per_minute = 2;
    let app = TestApp::spawn_with(s.clone()).await;
    let quick = serve_feed(rss_feed(&items(0..3, "a"))).await;
    let slow = slow_feed(rss_feed(&items(0..3, "b")), Duration::from_secs(4)).await;
    let a = app
        .create_source("Alpha", &format!("{}/feed.xml", quick.uri()))
        .await;
    let b = app
        .create_source("Beta", &format!("{}/feed.xml", quick.uri()))
        .await;
    let busy = app
        .create_source("Busy", &format!("{}/feed.xml", slow.uri()))
        .await;
    // Created disabled: a PATCH right after creation may race the scheduler's write of the
    // new source's next run, and FerretDB can lose one of two concurrent updates of one
    // document (README, "FerretDB").
    let r = app
        .post_json(
            "/api/sources",
            &serde_json::json!({"name": "Off", "url": format!("{}/feed.xml", quick.uri()), "enabled": false}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let off: String = r.json::<serde_json::Value>().await.unwrap()["_id"]
        .as_str()
        .unwrap()
        .to_owned();

    with_window_left(20).await;
    // The busy source is importing when the others are started (a CLI run: not rate limited).
    let busy_run = cli_import(&s, &busy).await;

    // Three enabled sources, a budget of two: counted per source, this would be refused.
    let (status, report) = post_status(&app, "/api/sources/import-all").await;
    assert_eq!(status, 202, "{report}");
    let mut started: Vec<&str> = report["started"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sourceId"].as_str().unwrap())
        .collect();
    started.sort();
    assert!(
        !started.contains(&off.as_str()),
        "the disabled source started"
    );
    assert_eq!(started, [a.as_str(), b.as_str()]);
    assert_eq!(
        report["alreadyRunning"],
        serde_json::json!([{"sourceId": busy, "runId": busy_run}])
    );
    assert_eq!(report["failed"], serde_json::json!([]));
    let run_ids: Vec<String> = report["started"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["run"]["_id"].as_str().unwrap().to_owned())
        .collect();
    for id in &run_ids {
        assert_eq!(app.wait_final(id).await.get_str("status"), Ok("completed"));
    }
    // One run per started source and none for the disabled one or a second for the busy one.
    let logs = app.db.collection::<mongodb::bson::Document>("import_logs");
    assert_eq!(
        logs.count_documents(mongodb::bson::doc! {}).await.unwrap(),
        3
    );
    assert_eq!(
        logs.count_documents(mongodb::bson::doc! {"sourceId": &busy})
            .await
            .unwrap(),
        1
    );

    // The second manual action of the minute is allowed; the third is not.
    let (status, _) = post_status(&app, "/api/sources/import-all").await;
    assert_eq!(status, 202);
    let (status, e) = post_status(&app, "/api/sources/import-all").await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
    app.wait_final(&busy_run).await;
    app.cleanup().await;
}

/// Starts a run through the store (as `job-importer sources import` does); its id.
async fn cli_import(settings: &job_importer::config::Settings, source: &str) -> String {
    let p = job_importer::app::connect(std::sync::Arc::new(settings.clone()))
        .await
        .unwrap();
    let s = p.store.get_source(source).await.unwrap().unwrap();
    match p
        .start_run(&s, job_importer::domain::Trigger::Cli)
        .await
        .unwrap()
    {
        job_importer::actors::pipeline::Started::Run(r) => r.id,
        job_importer::actors::pipeline::Started::AlreadyRunning(_) => panic!("already running"),
    }
}

#[tokio::test]
async fn the_command_line_imports_every_enabled_source_and_replays_a_run() {
    let s = test_settings();
    let app = TestApp::spawn_with(s.clone()).await;
    let feed = conditional_feed(rss_feed(&items(0..4, "a"))).await;
    let a = app
        .create_source("One", &format!("{}/feed.xml", feed.uri()))
        .await;
    let b = app
        .create_source("Two", &format!("{}/feed.xml", feed.uri()))
        .await;
    let (ok, out, err) = crate::cli_admin::cli(&s, &["sources", "import", "--all", "--json"]).await;
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let started = report["started"].as_array().unwrap();
    assert_eq!(started.len(), 2, "{report}");
    for st in started {
        assert_eq!(st["run"]["trigger"], "cli");
        let id = st["run"]["_id"].as_str().unwrap();
        assert_eq!(app.wait_final(id).await.get_str("status"), Ok("completed"));
    }
    // The validators are stored now: a plain run of `a` is answered 304, `--unconditional` reads.
    let (ok, out, err) = crate::cli_admin::cli(&s, &["sources", "import", &a, "--json"]).await;
    assert!(ok, "{err}");
    let plain: Value = serde_json::from_str(&out).unwrap();
    let plain = plain["run"]["_id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.wait_final(&plain).await.get_str("status"),
        Ok("not_modified")
    );
    let (ok, out, err) =
        crate::cli_admin::cli(&s, &["sources", "import", &b, "--unconditional", "--json"]).await;
    assert!(ok, "{err}");
    let fresh: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(fresh["run"]["unconditional"], true);
    let fresh = fresh["run"]["_id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.wait_final(&fresh).await.get_str("status"),
        Ok("completed")
    );

    let (ok, out, err) = crate::cli_admin::cli(&s, &["runs", "replay", &plain, "--json"]).await;
    assert!(ok, "{err}");
    let replay: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(replay["run"]["replayOf"], plain.as_str());
    let replay = replay["run"]["_id"].as_str().unwrap().to_owned();
    let done = app.wait_final(&replay).await;
    assert_eq!(done.get_str("status"), Ok("completed"));
    assert_eq!(done.get_i64("unchangedJobs"), Ok(4));

    let (ok, _, err) = crate::cli_admin::cli(&s, &["sources", "import"]).await;
    assert!(!ok && err.contains("required"), "{err}");
    app.cleanup().await;
}
