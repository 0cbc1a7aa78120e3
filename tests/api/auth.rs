//! Tokens and typed inputs at the HTTP edge.

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn reads_and_mutations_need_the_admin_token() {
    let app = TestApp::spawn().await;
    let r = app
        .http
        .get(app.url("/api/import-logs"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "auth.missing_token");
    let r = app
        .http
        .get(app.url("/api/import-logs"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .http
        .post(app.url("/api/sources"))
        .json(&json!({"name": "x", "url": "https://example.com/feed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        app.db
            .collection::<mongodb::bson::Document>("sources")
            .find_one(mongodb::bson::doc! {})
            .await
            .unwrap()
            .is_none()
    );
    let r = tokio_tungstenite::connect_async(format!("ws://{}/ws", app.daemon.addr)).await;
    assert!(r.is_err(), "the WebSocket refuses a missing token");
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.cleanup().await;
}

#[tokio::test]
async fn query_operators_and_bad_values_are_refused_with_a_code() {
    let app = TestApp::spawn().await;
    for (q, code) in [
        ("status[$ne]=x", "validation.query"),
        ("status=bogus", "validation.status"),
        ("limit=1000", "validation.limit"),
        ("page=0", "validation.page"),
        ("source=a%7B%24gt%7D", "validation.source"),
    ] {
        let r = app.get(&format!("/api/import-logs?{q}")).await;
        assert_eq!(r.status(), 400, "{q}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{q}: {body}");
    }
    let r = app
        .post_json(
            "/api/sources",
            &json!({"name": "x", "url": "file:///etc/passwd"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "validation.url"
    );
    let r = app
        .post_json(
            "/api/sources",
            &json!({"name": "x", "url": "https://example.com/", "cron": "hourly"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "validation.cron"
    );
    let r = app
        .post_json(
            "/api/sources",
            &json!({"name": {"$gt": ""}, "url": "https://example.com/"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    app.cleanup().await;
}
