//! Maintenance pause and resume across daemons, and the queue view.

use std::time::{Duration, Instant};

use job_importer::app::Roles;
use mongodb::bson::{Document, doc};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const HTTP_ONLY: Roles = Roles {
    scheduler: false,
    fetcher: false,
    worker: false,
    http: true,
};

const NO_WORKER: Roles = Roles {
    scheduler: true,
    fetcher: true,
    worker: false,
    http: true,
};

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let r = app.post_json(path, &body).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn runs(app: &TestApp) -> Vec<Document> {
    use futures_util::TryStreamExt;
    app.db
        .collection::<Document>("import_logs")
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

/// Polls `GET /api/queues` until `ok` holds for it (the last answer either way).
async fn queues_until(app: &TestApp, limit: Duration, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let (status, v) = get_json(app, "/api/queues").await;
        assert_eq!(status, 200, "{v}");
        if ok(&v) || Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn queue<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["queues"]
        .as_array()
        .and_then(|q| q.iter().find(|q| q["name"] == name))
        .unwrap_or_else(|| panic!("no queue {name} in {v}"))
}

#[tokio::test]
async fn a_pause_on_one_daemon_stops_the_scheduler_and_workers_of_another_until_resumed() {
    let mut s = test_settings();
    s.pipeline.batch_size = 5;
    let back = TestApp::spawn_roles(s.clone(), Roles::ALL).await;
    let front = TestApp::spawn_roles(s.clone(), HTTP_ONLY).await;
    let server = serve_feed(rss_feed(&items(0..12, "a"))).await;
    let feed = format!("{}/feed.xml", server.uri());

    let (status, paused) = post(
        &front,
        "/api/maintenance/pause",
        json!({"reason": "db upgrade"}),
    )
    .await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["paused"], true);
    assert_eq!(paused["pausedBy"], "admin");
    assert_eq!(paused["reason"], "db upgrade");
    // The source ticks every second: while paused, no tick starts a run.
    let (status, _) = post(
        &front,
        "/api/sources",
        json!({"name": "Busy", "url": feed, "cron": "* * * * * *"}),
    )
    .await;
    assert_eq!(status, 201);
    let r = front
        .post_json("/api/sources/busy/import", &Value::Null)
        .await;
    assert_eq!(r.status(), 202);
    let accepted: Value = r.json().await.unwrap();
    assert_eq!(
        accepted["paused"], true,
        "the answer says the run waits for the resume"
    );
    let run_id = accepted["run"]["_id"].as_str().unwrap().to_owned();

    tokio::time::sleep(Duration::from_secs(4)).await;
    let all = runs(&front).await;
    assert_eq!(all.len(), 1, "no scheduled run while paused: {all:?}");
    assert_eq!(
        all[0].get_str("status").unwrap(),
        "queued",
        "no worker took the fetch"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 0);
    let v = queues_until(&front, Duration::from_secs(1), |_| true).await;
    assert_eq!(queue(&v, "fetch")["waiting"], 1, "{v}");
    assert_eq!(v["paused"], true);
    // Both daemons are still ready, and say to a reader why no work is taken.
    for app in [&front, &back] {
        let (status, ready) = get_json(app, "/readyz").await;
        assert_eq!(
            (status, &ready["status"]),
            (200, &json!("ready")),
            "{ready}"
        );
        assert_eq!(ready["paused"], true, "{ready}");
        let anonymous: Value = app
            .http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(anonymous, json!({"status": "ready"}));
    }

    let resumed_at = chrono::Utc::now();
    let (status, resumed) = post(&front, "/api/maintenance/resume", Value::Null).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["paused"], false);
    assert_eq!(
        resumed["reason"], "db upgrade",
        "the pause is still described"
    );
    let done = front.wait_final(&run_id).await;
    assert_eq!(done.get_str("status").unwrap(), "completed");
    let (_, ready) = get_json(&back, "/readyz").await;
    assert_eq!(ready["paused"], false, "{ready}");
    assert_eq!(done.get_i64("totalFetched").unwrap(), 12);
    assert_eq!(done.get_i64("newJobs").unwrap(), 12);
    assert_eq!(done.get_i64("resumes").unwrap_or(0), 0);
    assert_eq!(front.jobs().await.len(), 12, "every job stored once");
    // Scheduled runs start again after the resume, not before.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let scheduled: Vec<Document> = runs(&front)
        .await
        .into_iter()
        .filter(|d| d.get_str("trigger") == Ok("schedule"))
        .collect();
    assert!(
        !scheduled.is_empty(),
        "the scheduler runs again after the resume"
    );
    for d in &scheduled {
        let at = d.get_str("importDateTime").unwrap();
        assert!(
            at >= job_importer::domain::time::format(&resumed_at).as_str(),
            "{at}"
        );
    }
    let (_, audit) = get_json(&front, "/api/audit?action=maintenance_paused").await;
    assert_eq!(audit["total"], 1, "{audit}");
    assert_eq!(audit["items"][0]["detail"], "db upgrade");
    let (_, audit) = get_json(&front, "/api/audit?action=maintenance_resumed").await;
    assert_eq!(audit["total"], 1, "{audit}");
    front.daemon.stop();
    back.cleanup().await;
}

#[tokio::test]
async fn the_sweeper_leaves_runs_queued_during_a_pause_alone_even_right_after_the_resume() {
    let mut s = test_settings();
    s.pipeline.stale_after_secs = 2;
    s.pipeline.sweep_interval_secs = 1;
    let app = TestApp::spawn_with(s.clone()).await;
    let server = serve_feed(rss_feed(&items(0..3, "a"))).await;
    let feed = format!("{}/feed.xml", server.uri());
    let source = app.create_source("Waiting", &feed).await;
    let lost_source = app.create_source("Lost", &feed).await;
    let (status, _) = post(&app, "/api/maintenance/pause", Value::Null).await;
    assert_eq!(status, 200);
    let run_id = app.trigger(&source).await;
    // A run whose queued work is gone: the sweeper would resume it, once not paused.
    let lost = run_at("lost-run-0001", &lost_source, 0, |_| {});
    seed_run(&app, &lost).await;

    tokio::time::sleep(Duration::from_secs(5)).await;
    for id in [run_id.as_str(), "lost-run-0001"] {
        let d = run_doc(&app.db, id).await;
        assert_eq!(
            d.get_str("status").unwrap(),
            "queued",
            "{id} untouched while paused"
        );
        assert_eq!(
            d.get_i64("resumes").unwrap_or(0),
            0,
            "{id} not resumed while paused"
        );
    }
    let resumed = Instant::now();
    let (status, _) = post(&app, "/api/maintenance/resume", Value::Null).await;
    assert_eq!(status, 200);
    let done = app.wait_final(&run_id).await;
    assert_eq!(done.get_str("status").unwrap(), "completed");
    assert_eq!(
        done.get_i64("resumes").unwrap_or(0),
        0,
        "its work was there all along"
    );
    // The lost run gets stale_after of unpaused time before the sweeper takes it up.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = run_doc(&app.db, "lost-run-0001").await;
        if d.get_i64("resumes").unwrap_or(0) > 0 {
            assert!(
                resumed.elapsed() >= Duration::from_secs(2),
                "resumed {:?} after the pause ended",
                resumed.elapsed()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lost run is resumed after the pause"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_daemon_started_while_paused_stays_paused_until_resumed() {
    let s = test_settings();
    let first = TestApp::spawn_with(s.clone()).await;
    let server = serve_feed(rss_feed(&items(0..2, "a"))).await;
    let source = first
        .create_source("Later", &format!("{}/feed.xml", server.uri()))
        .await;
    let (status, _) = post(&first, "/api/maintenance/pause", json!({"reason": "move"})).await;
    assert_eq!(status, 200);
    first.daemon.stop();

    let second = TestApp::spawn_with(s.clone()).await;
    let (status, state) = get_json(&second, "/api/maintenance").await;
    assert_eq!(status, 200);
    assert_eq!(
        (state["paused"].clone(), state["reason"].clone()),
        (json!(true), json!("move"))
    );
    let run_id = second.trigger(&source).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        run_doc(&second.db, &run_id)
            .await
            .get_str("status")
            .unwrap(),
        "queued"
    );
    let v = queues_until(&second, Duration::from_secs(1), |_| true).await;
    assert_eq!(
        v["workers"].as_array().map(Vec::len),
        Some(0),
        "no worker runs: {v}"
    );
    let (status, _) = post(&second, "/api/maintenance/resume", Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(
        second.wait_final(&run_id).await.get_str("status").unwrap(),
        "completed"
    );
    second.cleanup().await;
}

#[tokio::test]
async fn pausing_and_resuming_need_the_admin_token_and_repeat_harmlessly() {
    let mut s = test_settings();
    s.auth.read_token = job_importer::config::Secret::new("read-only-token-0123456789");
    let app = TestApp::spawn_with(s).await;
    let url = app.url("/api/maintenance/pause");
    let r = app.http.post(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .http
        .post(&url)
        .bearer_auth("read-only-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = get_with(&app, "/api/maintenance", Some("read-only-token-0123456789")).await;
    assert_eq!(r.status(), 200, "the read token reads the state");
    assert_eq!(r.json::<Value>().await.unwrap()["paused"], false);
    let (status, body) = post(
        &app,
        "/api/maintenance/pause",
        json!({"reason": "x".repeat(501)}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("validation.reason"))
    );

    let (_, first) = post(&app, "/api/maintenance/pause", json!({"reason": "one"})).await;
    let (_, again) = post(&app, "/api/maintenance/pause", json!({"reason": "two"})).await;
    assert_eq!(again, first, "a second pause changes nothing");
    let (_, audit) = get_json(&app, "/api/audit?action=maintenance_paused").await;
    assert_eq!(audit["total"], 1);
    let (_, r1) = post(&app, "/api/maintenance/resume", Value::Null).await;
    let (_, r2) = post(&app, "/api/maintenance/resume", Value::Null).await;
    assert_eq!((r1["paused"].clone(), &r1), (json!(false), &r2));
    assert_eq!(r1["resumedBy"], "admin");
    app.cleanup().await;
}

#[tokio::test]
async fn the_queue_view_counts_waiting_batches_and_a_fetch_delayed_by_retry_after() {
    let mut s = test_settings();
    s.pipeline.batch_size = 4;
    s.pipeline.max_fetch_attempts = 3;
    let app = TestApp::spawn_roles(s.clone(), NO_WORKER).await;
    let server = serve_feed(rss_feed(&items(0..10, "a"))).await;
    let source = app
        .create_source("Batches", &format!("{}/feed.xml", server.uri()))
        .await;
    let run_id = app.trigger(&source).await;
    // No worker role: the run's three batches wait.
    let v = queues_until(&app, Duration::from_secs(20), |v| {
        queue(v, "items")["waiting"] == 3
    })
    .await;
    assert_eq!(queue(&v, "items")["waiting"], 3, "{v}");
    assert_eq!(queue(&v, "items")["active"], 0, "{v}");

    let busy = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "600"))
        .mount(&busy)
        .await;
    let later = app
        .create_source("Busy", &format!("{}/feed.xml", busy.uri()))
        .await;
    let before = chrono::Utc::now();
    app.trigger(&later).await;
    let v = queues_until(&app, Duration::from_secs(20), |v| {
        queue(v, "fetch")["delayed"] == 1
    })
    .await;
    let fetch = queue(&v, "fetch");
    assert_eq!(fetch["delayed"], 1, "{v}");
    let due: chrono::DateTime<chrono::Utc> = fetch["nextDueAt"].as_str().unwrap().parse().unwrap();
    let wait = (due - before).num_seconds();
    assert!((590..=620).contains(&wait), "due in {wait}s");
    // This daemon's fetcher is listed, under its instance name.
    let workers = v["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 1, "{v}");
    assert_eq!(workers[0]["queue"], "fetch");
    let fetched_by = run_doc(&app.db, &run_id).await;
    assert_eq!(
        workers[0]["daemon"].as_str(),
        fetched_by.get_str("fetchedBy").ok()
    );
    app.cleanup().await;
}

#[tokio::test]
async fn the_queue_view_shows_what_a_worker_is_doing_now() {
    let mut s = test_settings();
    s.pipeline.step_timeout_secs = 60;
    let app = TestApp::spawn_with(s).await;
    // A feed that takes a while to answer: the fetch stays in flight meanwhile.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(rss_feed(&items(0..2, "a")), "application/rss+xml")
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let source = app
        .create_source("Slow", &format!("{}/feed.xml", server.uri()))
        .await;
    let run_id = app.trigger(&source).await;
    let v = queues_until(&app, Duration::from_secs(3), |v| {
        queue(v, "fetch")["active"] == 1
    })
    .await;
    assert_eq!(queue(&v, "fetch")["active"], 1, "{v}");
    let fetcher = v["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["queue"] == "fetch")
        .unwrap();
    assert_eq!(fetcher["holding"], 1);
    assert_eq!(fetcher["tasks"][0]["runId"].as_str(), Some(run_id.as_str()));
    assert_eq!(
        fetcher["tasks"][0]["sourceId"].as_str(),
        Some(source.as_str())
    );
    assert_eq!(fetcher["tasks"][0]["attempt"], 1);
    assert!(
        v["workers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["queue"] == "items")
    );
    app.wait_final(&run_id).await;
    app.cleanup().await;
}

#[tokio::test]
async fn the_command_line_pauses_and_resumes_a_running_daemon_and_the_websocket_says_so() {
    use crate::cli_admin::cli;
    let s = test_settings();
    let app = TestApp::spawn_with(s.clone()).await;
    let mut ws = connect_ws(&app).await;
    let first = next_named(&mut ws, "initial_data", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(first["data"]["maintenance"]["paused"], false);

    let (ok, out, err) = cli(&s, &["pause", "--reason", "backup", "--json"]).await;
    assert!(ok, "{err}");
    let state: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (state["paused"].clone(), state["pausedBy"].clone()),
        (json!(true), json!("cli"))
    );
    let ev = next_named(&mut ws, "maintenance", Duration::from_secs(10))
        .await
        .expect("announced");
    assert_eq!(
        (ev["data"]["paused"].clone(), ev["data"]["reason"].clone()),
        (json!(true), json!("backup"))
    );
    let (_, seen) = get_json(&app, "/api/queues").await;
    assert_eq!(seen["paused"], true, "the daemon follows the announcement");

    // While paused: an ad-hoc import starts nothing and says why; a source's import is
    // queued and the command says it waits for the resume.
    let feed = serve_feed(rss_feed(&items(0..3, "a"))).await;
    let url = format!("{}/feed.xml", feed.uri());
    let (ok, out, err) = cli(&s, &["import", &url]).await;
    assert!(!ok, "refused: {out}");
    assert!(
        err.contains("paused since")
            && err.contains("backup")
            && err.contains("nothing was imported"),
        "{err}"
    );
    assert!(runs(&app).await.is_empty(), "no run was created");
    let source = app.create_source("Later", &url).await;
    let (ok, out, err) = cli(&s, &["sources", "import", &source]).await;
    assert!(ok, "{err}");
    assert!(
        out.starts_with("queued run ") && out.contains("start when it is resumed"),
        "{out}"
    );
    let (ok, out, err) = cli(&s, &["sources", "import", &source, "--json"]).await;
    assert!(!ok, "already importing: {out}");
    assert!(err.contains("already importing"), "{err}");
    let queued = runs(&app).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].get_str("status").unwrap(), "queued");

    let (ok, out, err) = cli(&s, &["resume"]).await;
    assert!(ok, "{err}");
    assert!(out.starts_with("running (resumed"), "{out}");
    let ev = next_named(&mut ws, "maintenance", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(ev["data"]["paused"], false);
    let (ok, out, _) = cli(&s, &["resume"]).await;
    assert!(ok && out.contains("was not paused"), "{out}");
    let run_id = queued[0].get_str("_id").unwrap();
    let done = app.wait_final(run_id).await;
    assert_eq!(
        done.get_i64("newJobs").unwrap(),
        3,
        "the queued run ran after the resume"
    );
    let (_, audit) = get_json(&app, "/api/audit?action=maintenance_resumed").await;
    assert_eq!(
        (audit["total"].clone(), audit["items"][0]["actor"].clone()),
        (json!(1), json!("cli"))
    );
    app.cleanup().await;
}
