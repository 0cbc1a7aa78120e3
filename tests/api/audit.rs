//! The audit log: each change of a source, and each manual run, with the role of the token
//! that made it (never the token), newest first, filtered by source and action.

use mongodb::bson::Document;
use serde_json::{Value, json};

use crate::helpers::*;

const PREVIOUS: &str = "previous-admin-token-0123456789";

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> u16 {
    let mut r = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn every_change_of_a_source_is_recorded_with_the_role_of_its_token() {
    let mut s = test_settings();
    s.auth.previous_admin_token = job_importer::config::Secret::new(PREVIOUS);
    s.auth.previous_token_valid_until =
        Some((chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339());
    let app = TestApp::spawn_with(s.clone()).await;
    let feed = serve_feed(rss_feed(&items(0..2, "a"))).await;
    let url = format!("{}/feed.xml", feed.uri());
    let id = app.create_source("Audited", &url).await;
    let path = format!("/api/sources/{id}");
    let patch = reqwest::Method::PATCH;
    assert_eq!(
        send(
            &app,
            patch.clone(),
            &path,
            PREVIOUS,
            Some(json!({"cron": "0 30 * * * *"}))
        )
        .await,
        200
    );
    // An edit that changes nothing is not a change.
    assert_eq!(
        send(
            &app,
            patch.clone(),
            &path,
            TOKEN,
            Some(json!({"cron": "0 30 * * * *"}))
        )
        .await,
        200
    );
    let run = app.trigger(&id).await;
    app.wait_final(&run).await;
    let other = app.create_source("Other", &url).await;
    assert_eq!(
        send(
            &app,
            reqwest::Method::DELETE,
            &format!("{path}?jobs=keep"),
            TOKEN,
            None
        )
        .await,
        204
    );

    let (status, page) = get_json(&app, &format!("/api/audit?source={id}")).await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    let summary: Vec<(&str, &str)> = items
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("source_removed", "admin"),
            ("import_started", "admin"),
            ("source_updated", "previous_admin"),
            ("source_created", "admin"),
        ]
    );
    assert_eq!(page["total"], 4);
    let (removed, started, updated, created) = (&items[0], &items[1], &items[2], &items[3]);
    assert_eq!(removed["detail"], "jobs=keep");
    assert_eq!(started["runId"], run.as_str());
    assert_eq!(
        updated["changes"],
        json!([{"field": "cron", "before": "0 0 * * * *", "after": "0 30 * * * *"}])
    );
    let fields: Vec<&str> = created["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"name") && fields.contains(&"url"),
        "{fields:?}"
    );
    assert!(created["at"].as_str().unwrap().ends_with('Z'));

    // Filters, and the whole log.
    let (_, p) = get_json(&app, "/api/audit?action=source_created").await;
    let sources: Vec<&str> = p["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sourceId"].as_str().unwrap())
        .collect();
    assert_eq!(sources, [other.as_str(), id.as_str()]);
    let (_, p) = get_json(&app, "/api/audit").await;
    assert_eq!(p["total"], 5);
    for (q, code) in [
        ("action=nope", "validation.action"),
        ("source=%24ne", "validation.source"),
        ("limit=101", "validation.limit"),
        ("x=1", "validation.query"),
    ] {
        let (s, e) = get_json(&app, &format!("/api/audit?{q}")).await;
        assert_eq!((s, e["error"]["code"].as_str()), (400, Some(code)), "{q}");
    }

    // No token is ever stored.
    let docs: Vec<Document> = {
        use futures_util::TryStreamExt;
        app.db
            .collection::<Document>("audit_log")
            .find(mongodb::bson::doc! {})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    };
    let stored = format!("{docs:?}");
    assert!(!stored.contains(TOKEN) && !stored.contains(PREVIOUS));
    assert_eq!(docs.len(), 5);

    // A change from the command line is the CLI's.
    let (ok, _, err) = crate::cli_admin::cli(
        &s,
        &["sources", "add", "--name", "From shell", "--url", &url],
    )
    .await;
    assert!(ok, "{err}");
    let (_, p) = get_json(&app, "/api/audit?source=from-shell").await;
    assert_eq!(p["items"][0]["actor"], "cli");
    assert_eq!(p["items"][0]["action"], "source_created");
    app.cleanup().await;
}
