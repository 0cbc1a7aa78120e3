//! The scheduler across daemons: one fetch per tick, manual triggers that coalesce, and sources
//! that back off after repeated failures.

use std::time::Duration;

use chrono::{Timelike, Utc};
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

#[tokio::test]
async fn twenty_manual_triggers_and_a_cron_tick_on_two_daemons_fetch_once() {
    let mut s = test_settings();
    // This test is about coalescing, not about the per-client rate limit.
    s.http.rate_limit_trigger_per_minute = 0;
    let a = TestApp::spawn_with(s.clone()).await;
    let b = TestApp::spawn_with(s).await;
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("jobicy_wpjm.xml"), "application/rss+xml")
                .set_delay(Duration::from_millis(2000)),
        )
        .mount(&server)
        .await;
    // A cron that fires once, three seconds from now.
    let at = Utc::now() + chrono::Duration::seconds(3);
    let cron = format!("{} {} {} * * *", at.second(), at.minute(), at.hour());
    let r = a
        .post_json("/api/sources", &json!({"name": "Contended", "url": format!("{}/feed.xml", server.uri()), "cron": cron}))
        .await;
    assert_eq!(r.status(), 201);
    let source = r.json::<Value>().await.unwrap()["_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Both daemons must have loaded the source's cron job before the tick.
    for app in [&a, &b] {
        let r = app
            .http
            .patch(app.url(&format!("/api/sources/{source}")))
            .bearer_auth(TOKEN)
            .json(&json!({"enabled": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let wait = (at - Utc::now())
        .to_std()
        .unwrap_or_default()
        .saturating_sub(Duration::from_millis(150));
    tokio::time::sleep(wait).await;

    let path = format!("/api/sources/{source}/import");
    let triggers = (0..20).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        app.post_json(&path, &Value::Null)
    });
    let statuses: Vec<u16> = futures_util::future::join_all(triggers)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let started = statuses.iter().filter(|s| **s == 202).count();
    assert!(
        started <= 1,
        "at most one trigger starts a run: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 202 || *s == 409),
        "{statuses:?}"
    );

    // Let the tick pass and the run end.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let page: Value = a
        .get(&format!("/api/import-logs?source={source}"))
        .await
        .json()
        .await
        .unwrap();
    for run in page["items"].as_array().unwrap() {
        a.wait_final(run["_id"].as_str().unwrap()).await;
    }
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "exactly one fetch"
    );
    assert_eq!(page["total"], 1, "exactly one run: {page}");
    b.daemon.stop();
    a.cleanup().await;
}

/// The source `id` as `GET /api/sources` lists it.
async fn listed_source(app: &TestApp, id: &str) -> Value {
    let sources: Value = app.get("/api/sources").await.json().await.unwrap();
    sources["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["_id"] == id)
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_source_that_keeps_failing_backs_off_and_returns_after_a_success() {
    let app = TestApp::spawn().await;
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let r = app
        .post_json("/api/sources", &json!({"name": "Flaky", "url": format!("{}/feed.xml", server.uri()), "cron": "* * * * * *"}))
        .await;
    assert_eq!(r.status(), 201);
    let source = r.json::<Value>().await.unwrap()["_id"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let hits = server.received_requests().await.unwrap().len();
    assert_eq!(hits, 3, "three failures, then the source backs off");
    let s = listed_source(&app, &source).await;
    assert_eq!(s["health"]["consecutiveFailures"], 3);
    assert!(s["health"]["backoffUntil"].is_string(), "{s}");
    assert_eq!(s["health"]["lastError"]["code"], "fetch.http_status");

    // A manual run is not held back, and its success ends the backoff.
    server.reset().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("jobicy_wpjm.xml"), "application/rss+xml"),
        )
        .mount(&server)
        .await;
    let run = app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(run.get_str("status").unwrap(), "completed");
    // The run's outcome is folded into its source's health just after its final status is
    // stored: wait (bounded) until the source names this run as its last.
    let run_id = run.get_str("_id").unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let s = loop {
        let s = listed_source(&app, &source).await;
        if s["health"]["lastRunId"] == run_id.as_str() || std::time::Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(s["health"]["lastRunId"], run_id.as_str(), "{s}");
    assert_eq!(s["health"]["consecutiveFailures"], 0);
    assert!(s["health"]["backoffUntil"].is_null());
    app.cleanup().await;
}

#[tokio::test]
async fn a_tick_starts_one_run_even_when_redis_forgot_who_took_it() {
    let s = test_settings();
    let roles = job_importer::app::Roles {
        scheduler: false,
        fetcher: false,
        worker: false,
        http: true,
    };
    let app = TestApp::spawn_roles(s.clone(), roles).await;
    let source_id = app
        .create_source("One per tick", "http://127.0.0.1:9/feed.xml")
        .await;
    // Two daemons' schedulers fire the same tick; between them Redis loses every key (a
    // restart without persistence), leases included.
    let settings = std::sync::Arc::new(s.clone());
    let one = job_importer::app::connect(settings.clone()).await.unwrap();
    let two = job_importer::app::connect(settings).await.unwrap();
    let source = one.store.get_source(&source_id).await.unwrap().unwrap();
    let slot = Utc::now().with_nanosecond(0).unwrap();
    job_importer::actors::scheduler::fire(&one, &source, slot).await;
    assert!(delete_keys(&format!("{}:*", s.redis.prefix)).await > 0);
    job_importer::actors::scheduler::fire(&two, &source, slot).await;
    // The next tick is a tick of its own.
    let next = slot + chrono::Duration::seconds(1);
    delete_keys(&format!("{}:*", s.redis.prefix)).await;
    job_importer::actors::scheduler::fire(&two, &source, next).await;

    let page: Value = app
        .get(&format!("/api/import-logs?source={source_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 2, "one run per tick: {page}");
    let mut ticks: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scheduledFor"].as_str().unwrap_or("none").to_owned())
        .collect();
    ticks.sort();
    let at = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    assert_eq!(ticks, vec![at(slot), at(next)], "each run records its tick");
    app.cleanup().await;
}
