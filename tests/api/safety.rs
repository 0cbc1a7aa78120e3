//! Tokens on every route, rate limits, body limits, body injection, CORS, readiness, metrics.

use mongodb::bson::{Document, doc};
use serde_json::{Value, json};

use crate::helpers::*;

/// Routes anyone may call: probes, the API description, and the WebSocket (checked in auth.rs).
const OPEN: &[&str] = &["/healthz", "/readyz", "/api/openapi.json", "/ws"];

fn concrete(path: &str) -> String {
    path.replace("{id}", "some-id")
}

#[tokio::test]
async fn every_protected_route_answers_401_without_or_with_a_wrong_token() {
    let app = TestApp::spawn().await;
    for r in job_importer::http::ROUTES
        .iter()
        .filter(|r| !OPEN.contains(&r.path))
    {
        for token in [None, Some("wrong-token")] {
            let m = reqwest::Method::from_bytes(r.method.as_bytes()).unwrap();
            let mut req = app.http.request(m, app.url(&concrete(r.path)));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if r.method != "GET" {
                req = req.json(&json!({"name": "x", "url": "https://example.com/"}));
            }
            let resp = req.send().await.unwrap();
            assert_eq!(
                resp.status(),
                401,
                "{} {} token={token:?}",
                r.method,
                r.path
            );
            let body: Value = resp.json().await.unwrap();
            let want = if token.is_some() {
                "auth.invalid_token"
            } else {
                "auth.missing_token"
            };
            assert_eq!(body["error"]["code"], want, "{} {}", r.method, r.path);
        }
    }
    let sources = app.db.collection::<Document>("sources");
    assert_eq!(
        sources.count_documents(doc! {}).await.unwrap(),
        0,
        "nothing created"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn manual_triggers_and_source_creation_are_rate_limited_per_address() {
    let mut s = test_settings();
    s.http.rate_limit_trigger_per_minute = 2;
    s.http.rate_limit_create_source_per_minute = 1;
    let app = TestApp::spawn_with(s).await;
    let feed = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let id = app
        .create_source("Limited", &format!("{}/feed.xml", feed.uri()))
        .await;
    let r = app
        .post_json(
            "/api/sources",
            &json!({"name": "Second", "url": "https://example.com/a"}),
        )
        .await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "rate_limited"
    );
    let mut codes = Vec::new();
    for _ in 0..4 {
        let r = app
            .post_json(&format!("/api/sources/{id}/import"), &Value::Null)
            .await;
        codes.push(r.status().as_u16());
    }
    // One run starts; the second is refused as running; then the limit holds.
    assert_eq!(codes[0], 202, "{codes:?}");
    assert_eq!(&codes[2..], &[429, 429], "{codes:?}");
    let runs = app.db.collection::<Document>("import_logs");
    assert_eq!(
        runs.count_documents(doc! {}).await.unwrap(),
        1,
        "one run only"
    );
    let sources = app.db.collection::<Document>("sources");
    assert_eq!(sources.count_documents(doc! {}).await.unwrap(), 1);
    app.cleanup().await;
}

/// Creates a source with `X-Forwarded-For: forwarded`; the status.
async fn create_forwarded(app: &TestApp, name: &str, forwarded: &str) -> u16 {
    app.http
        .post(app.url("/api/sources"))
        .bearer_auth(TOKEN)
        .header("x-forwarded-for", forwarded)
        .json(&json!({"name": name, "url": format!("https://example.com/{name}")}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn x_forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    // Not trusted (the default): every forwarded address is the same client, the TCP peer.
    let mut s = test_settings();
    s.http.rate_limit_create_source_per_minute = 1;
    let app = TestApp::spawn_with(s).await;
    assert_eq!(create_forwarded(&app, "a1", "198.51.100.1").await, 201);
    assert_eq!(create_forwarded(&app, "a2", "198.51.100.2").await, 429);
    app.cleanup().await;

    // The test client's address (the TCP peer) is a trusted proxy: each forwarded address
    // has a budget of its own, and a forged entry left of the proxy's does not help.
    let mut s = test_settings();
    s.http.rate_limit_create_source_per_minute = 1;
    s.http.trusted_proxies = vec!["127.0.0.1".into()];
    let app = TestApp::spawn_with(s).await;
    assert_eq!(create_forwarded(&app, "b1", "198.51.100.1").await, 201);
    assert_eq!(create_forwarded(&app, "b2", "198.51.100.2").await, 201);
    assert_eq!(create_forwarded(&app, "b3", "198.51.100.1").await, 429);
    assert_eq!(
        create_forwarded(&app, "b4", "203.0.113.77, 198.51.100.2").await,
        429
    );
    let sources = app.db.collection::<Document>("sources");
    assert_eq!(sources.count_documents(doc! {}).await.unwrap(), 2);
    app.cleanup().await;
}

#[tokio::test]
async fn hostile_bodies_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    for body in [
        json!({"__proto__": {"isAdmin": true}, "name": "x", "url": "https://example.com/"}),
        json!({"constructor": {"prototype": {"x": 1}}, "name": "x", "url": "https://example.com/"}),
        json!({"name": "x", "url": {"$gt": ""}}),
        json!({"name": "x", "url": "https://example.com/", "$where": "1"}),
        json!({"name": "x", "url": "https://example.com/", "enabled": "yes"}),
    ] {
        let r = app.post_json("/api/sources", &body).await;
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"]["code"]
                .as_str()
                .unwrap()
                .starts_with("validation."),
            "{v}"
        );
    }
    let big = "x".repeat(10 * 1024 * 1024);
    let r = app
        .post_json(
            "/api/sources",
            &json!({"name": big, "url": "https://example.com/"}),
        )
        .await;
    assert_eq!(r.status(), 413);
    let r = app
        .http
        .post(app.url("/api/sources"))
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = app
        .http
        .post(app.url("/api/sources"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let sources = app.db.collection::<Document>("sources");
    assert_eq!(sources.count_documents(doc! {}).await.unwrap(), 0);
    assert_eq!(app.get("/healthz").await.status(), 200, "still responsive");
    app.cleanup().await;
}

#[tokio::test]
async fn cors_is_off_unless_origins_are_configured() {
    let app = TestApp::spawn().await;
    let r = app
        .http
        .get(app.url("/api/import-logs"))
        .bearer_auth(TOKEN)
        .header("origin", "https://admin.example.com")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    app.cleanup().await;

    let mut s = test_settings();
    s.http.cors_origins = vec!["https://admin.example.com".into()];
    let app = TestApp::spawn_with(s).await;
    let pre = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/api/import-logs"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let ok = pre("https://admin.example.com").await.unwrap();
    assert_eq!(
        ok.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://admin.example.com")
    );
    let evil = pre("http://evil.example").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    app.cleanup().await;
}

#[tokio::test]
async fn readiness_reports_dependencies_and_metrics_are_prometheus_text() {
    let app = TestApp::spawn().await;
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["mongodb"].as_str(), v["redis"].as_str()),
        (Some("ok"), Some("ok"))
    );
    assert!(v["workers"]["items"].is_u64(), "{v}");
    let feed = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let id = app
        .create_source("Metrics", &format!("{}/feed.xml", feed.uri()))
        .await;
    let run = app.trigger(&id).await;
    app.wait_final(&run).await;
    let _ws = connect_ws(&app).await;
    let text = app.get("/metrics").await.text().await.unwrap();
    for name in [
        job_importer::telemetry::RUNS,
        job_importer::telemetry::QUEUE_DEPTH,
        job_importer::telemetry::WS_SESSIONS,
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    assert!(
        text.contains("job_importer_runs{status=\"completed\"}"),
        "{text}"
    );
    assert_eq!(get_with(&app, "/metrics", None).await.status(), 401);
    app.cleanup().await;
}
