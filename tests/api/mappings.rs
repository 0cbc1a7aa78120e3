//! Declarative mappings through the API: sources with their own mapping, the checks when one
//! is saved, what a change of mapping or publisher does, and `POST /api/preview`, which
//! writes nothing.

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use serde_json::{Value, json};

use crate::helpers::{
    TOKEN, TestApp, fixture, get_json, redis_url, serve_feed, set_feed, test_settings,
};

/// A mapping of the Remotive API as an operator would write it by hand.
fn remotive_mapping() -> Value {
    json!({
        "items": "/jobs",
        "fields": {
            "externalId": "id",
            "title": "title",
            "company": "company_name",
            "url": "url",
            "datePosted": "publication_date",
            "description": "description",
            "locations": "candidate_required_location",
            "categories": {"path": "tags", "transforms": [{"join": ", "}]}
        }
    })
}

async fn patch(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let r = app
        .http
        .patch(app.url(path))
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn create(app: &TestApp, body: &Value) -> (u16, Value) {
    let r = app.post_json("/api/sources", body).await;
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Every collection of the test database with its documents, and every Redis key under the
/// test prefix except the rate limiter's.
async fn snapshot(app: &TestApp, prefix: &str) -> (BTreeMap<String, Vec<Document>>, Vec<String>) {
    let mut db = BTreeMap::new();
    for name in app.db.list_collection_names().await.unwrap() {
        let docs: Vec<Document> = app
            .db
            .collection::<Document>(&name)
            .find(doc! {})
            .sort(doc! {"_id": 1})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        db.insert(name, docs);
    }
    let client = redis::Client::open(redis_url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut c)
        .await
        .unwrap();
    keys.retain(|k| !k.contains(":ratelimit:"));
    keys.sort();
    (db, keys)
}

/// `snapshot` once the work before it has settled: a run's end is written before what follows
/// it (the run counters, the source's lease, the run's Redis keys, the queue's acknowledgement),
/// so a snapshot taken as soon as the run reads as ended can still change.
async fn settled_snapshot(
    app: &TestApp,
    prefix: &str,
) -> (BTreeMap<String, Vec<Document>>, Vec<String>) {
    let mut last = snapshot(app, prefix).await;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let now = snapshot(app, prefix).await;
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the database and Redis kept changing after the run ended");
}

#[tokio::test]
async fn a_source_with_its_own_mapping_imports_and_a_new_mapping_updates_its_jobs() {
    let app = TestApp::spawn().await;
    let server = serve_feed(fixture("remotive-api.json")).await;
    let url = format!("{}/feed.xml", server.uri());
    let (status, source) = create(
        &app,
        &json!({"name": "Remotive mapped", "url": url, "format": "custom", "mapping": remotive_mapping()}),
    )
    .await;
    assert_eq!(status, 201, "{source}");
    assert_eq!(source["format"], "custom");
    assert_eq!(
        source["mapping"]["fields"]["title"]["paths"],
        json!(["title"])
    );
    let id = source["_id"].as_str().unwrap().to_owned();
    let first = app.wait_final(&app.trigger(&id).await).await;
    assert_eq!(first.get_i64("newJobs").unwrap(), 5, "{first:?}");
    let jobs = app.jobs().await;
    assert!(jobs.iter().all(|j| j.get_str("company").is_ok()));

    // Validators the last fetch left, then a new title rule: the validators go, and the
    // next run updates every job whose normalized content changed.
    let reading = app
        .db
        .collection::<Document>("sources")
        .find_one(doc! {"_id": &id})
        .await
        .unwrap()
        .unwrap()
        .get_str("readingKey")
        .unwrap()
        .to_owned();
    app.db
        .collection::<Document>("source_state")
        .update_one(
            doc! {"_id": &id},
            doc! {"$set": {"etag": "\"v1\"", "validatorsFor": {"url": &url, "readingKey": reading}}},
        )
        .await
        .unwrap();
    let (_, shown) = get_json(&app, &format!("/api/sources/{id}")).await;
    assert_eq!(shown["etag"], "\"v1\"", "{shown}");
    let mut mapping = remotive_mapping();
    mapping["fields"]["title"] =
        json!({"path": "title", "transforms": [{"template": "{value} ({company})"}]});
    let (status, edited) = patch(
        &app,
        &format!("/api/sources/{id}"),
        &json!({"mapping": mapping}),
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["etag"], Value::Null);
    let (_, stored) = get_json(&app, &format!("/api/sources/{id}")).await;
    assert_eq!(stored["etag"], Value::Null, "validators reset: {stored}");
    let second = app.wait_final(&app.trigger(&id).await).await;
    assert_eq!(
        (
            second.get_i64("updatedJobs").unwrap(),
            second.get_i64("newJobs").unwrap()
        ),
        (5, 0),
        "{second:?}"
    );
    let titles: Vec<String> = app
        .jobs()
        .await
        .iter()
        .map(|j| j.get_str("title").unwrap().to_owned())
        .collect();
    assert!(titles.iter().all(|t| t.ends_with(')')), "{titles:?}");
    app.cleanup().await;
}

#[tokio::test]
async fn a_bad_mapping_is_refused_with_the_field_and_path_named() {
    let app = TestApp::spawn().await;
    let bad = json!({"items": "/jobs", "fields": {
        "title": "title",
        "titel": "x",
        "locations": {"path": "geo", "transforms": [{"date": "auto"}]}
    }});
    let (status, body) = create(
        &app,
        &json!({"name": "Bad", "url": "https://example.com/api", "format": "custom", "mapping": bad}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "validation.mapping");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("fields.titel: unknown field"), "{msg}");
    assert!(
        msg.contains("fields.locations (path `geo`): the transforms give a date"),
        "{msg}"
    );
    let (status, body) = create(
        &app,
        &json!({"name": "No mapping", "url": "https://example.com/api", "format": "custom"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("validation.mapping"))
    );
    let (status, body) = create(
        &app,
        &json!({"name": "Unknown", "url": "https://example.com/api", "format": {"json_api": "nope"}}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("validation.format"))
    );
    let r = app.get("/api/mappings").await;
    let v: Value = r.json().await.unwrap();
    let names: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["jobicy", "remotive", "remoteok", "arbeitnow", "himalayas"]
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_new_publisher_needs_confirming_once_the_source_has_jobs() {
    let app = TestApp::spawn().await;
    let server = serve_feed(fixture("remotive-api.json")).await;
    let id = app
        .create_source("Remotive", &format!("{}/feed.xml", server.uri()))
        .await;
    app.wait_final(&app.trigger(&id).await).await;
    let path = format!("/api/sources/{id}");
    let (status, body) = patch(&app, &path, &json!({"publisher": "remotive.com"})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "source.publisher_unconfirmed");
    let (status, body) = patch(
        &app,
        &format!("{path}?confirm=publisher"),
        &json!({"publisher": "remotive.com"}),
    )
    .await;
    assert_eq!(
        (status, body["publisher"].as_str()),
        (200, Some("remotive.com"))
    );
    // The same publisher again is no change.
    let (status, _) = patch(
        &app,
        &path,
        &json!({"publisher": "remotive.com", "maxBodyBytes": 2048}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = patch(&app, &path, &json!({"maxBodyBytes": 5})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("validation.maxBodyBytes"))
    );
    app.cleanup().await;
}

#[tokio::test]
async fn preview_shows_jobs_coverage_failures_and_counts_and_writes_nothing() {
    let settings = test_settings();
    let prefix = settings.redis.prefix.clone();
    let app = TestApp::spawn_with(settings).await;
    let server = serve_feed(fixture("remotive-api.json")).await;
    let url = format!("{}/feed.xml", server.uri());
    let id = app.create_source("Remotive", &url).await;
    app.wait_final(&app.trigger(&id).await).await;

    // The feed changes: one title edited, one job gone, one new, one without a title.
    let mut feed: Value = serde_json::from_slice(&fixture("remotive-api.json")).unwrap();
    let jobs = feed["jobs"].as_array_mut().unwrap();
    jobs[0]["title"] = json!("A new title");
    jobs.remove(1);
    let mut fresh = jobs[1].clone();
    fresh["id"] = json!(999_001);
    jobs.push(fresh);
    let mut untitled = jobs[1].clone();
    untitled["id"] = json!(999_002);
    untitled.as_object_mut().unwrap().remove("title");
    jobs.push(untitled);
    set_feed(&server, serde_json::to_vec(&feed).unwrap()).await;

    let before = settled_snapshot(&app, &prefix).await;
    let r = app.post_json("/api/preview", &json!({"url": url})).await;
    assert_eq!(r.status(), 200);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["format"], "json_api", "{p}");
    assert_eq!(p["items"], 6);
    assert_eq!(p["jobs"].as_array().unwrap().len(), 5);
    assert_eq!(p["jobs"][0]["title"], "A new title");
    assert_eq!(p["coverage"]["title"], 5);
    assert_eq!(p["coverage"]["company"], 5);
    assert_eq!(p["failures"][0]["code"], "item.missing_title");
    assert_eq!(p["failures"][0]["externalId"], "999002");
    assert_eq!(
        p["would"],
        json!({"new": 1, "updated": 1, "unchanged": 3, "reopened": 0})
    );
    assert_eq!(p["cached"], false);

    // A custom mapping over the same body (cached for a minute): a path to nothing shows as
    // no coverage.
    let mut mapping = remotive_mapping();
    mapping["fields"]["company"] = json!("companyName");
    let r = app
        .post_json("/api/preview", &json!({"url": url, "mapping": mapping}))
        .await;
    assert_eq!(r.status(), 200);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["cached"], true);
    assert_eq!(p["coverage"]["company"], 0);
    assert_eq!(p["coverage"]["title"], 5);
    // Since the feed changed, only the first preview reached the feed server.
    assert_eq!(server.received_requests().await.unwrap().len(), 1);

    // A bad mapping is refused before anything is fetched.
    let r = app
        .post_json(
            "/api/preview",
            &json!({"url": url, "mapping": {"items": "", "fields": {}}}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let after = snapshot(&app, &prefix).await;
    assert_eq!(before.1, after.1, "Redis keys besides the rate limiter");
    assert_eq!(
        before.0.keys().collect::<Vec<_>>(),
        after.0.keys().collect::<Vec<_>>()
    );
    for (name, docs) in &before.0 {
        assert_eq!(docs, &after.0[name], "collection {name} changed");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn preview_refuses_without_the_admin_token_and_reports_a_failed_fetch() {
    let app = TestApp::spawn().await;
    let server = serve_feed(b"{}".to_vec()).await;
    let r = app
        .http
        .post(app.url("/api/preview"))
        .json(&json!({"url": format!("{}/feed.xml", server.uri())}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .post_json(
            "/api/preview",
            &json!({"url": format!("{}/missing", server.uri())}),
        )
        .await;
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "fetch.http_status");
    let r = app
        .post_json(
            "/api/preview",
            &json!({"url": format!("{}/feed.xml", server.uri())}),
        )
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "parse.not_a_feed", "{v}");
    app.cleanup().await;
}

#[tokio::test]
async fn cli_preview_reads_a_mapping_file_and_writes_nothing() {
    let s = test_settings();
    let feed = serve_feed(fixture("weworkremotely-rss.xml")).await;
    let url = format!("{}/feed.xml", feed.uri());
    let dir = std::env::temp_dir().join(format!("ji-preview-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(&config, "").unwrap();
    let mapping = dir.join("wwr.json");
    let body = json!({"items": "item", "fields": {
        "externalId": "guid", "title": "title", "url": "link", "company": "nothing.here",
        "logo": "media:content.@url"
    }});
    std::fs::write(&mapping, body.to_string()).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_job-importer"))
        .args(["preview", &url, "--json", "--mapping"])
        .arg(&mapping)
        .env("JOB_IMPORTER_CONFIG", &config)
        .env("JOB_IMPORTER__MONGODB__URI", s.mongodb.uri.expose())
        .env("JOB_IMPORTER__MONGODB__DATABASE", &s.mongodb.database)
        .env("JOB_IMPORTER__FETCH__ALLOW_PRIVATE_NETWORKS", "true")
        .env_remove("MONGODB_URI")
        .env_remove("REDIS_URL")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    let p: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(p["format"], "xml_mapping");
    assert_eq!(p["items"], 4);
    assert_eq!(p["coverage"]["title"], 4);
    assert_eq!(p["coverage"]["company"], 0);
    assert_eq!(p["coverage"]["logoUrl"], 3, "one item has no media:content");
    assert_eq!(p["would"]["new"], 4);
    let client = mongodb::Client::with_uri_str(s.mongodb.uri.expose())
        .await
        .unwrap();
    let names = client
        .database(&s.mongodb.database)
        .list_collection_names()
        .await
        .unwrap();
    assert!(names.is_empty(), "the preview made {names:?}");

    // The text form, and a bad mapping file named with its error.
    std::fs::write(
        &mapping,
        json!({"items": "item", "fields": {"titel": "t"}}).to_string(),
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_job-importer"))
        .args(["preview", &url, "--mapping"])
        .arg(&mapping)
        .env("JOB_IMPORTER_CONFIG", &config)
        .env("JOB_IMPORTER__MONGODB__URI", s.mongodb.uri.expose())
        .env("JOB_IMPORTER__MONGODB__DATABASE", &s.mongodb.database)
        .env("JOB_IMPORTER__FETCH__ALLOW_PRIVATE_NETWORKS", "true")
        .env_remove("MONGODB_URI")
        .env_remove("REDIS_URL")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("fields.titel: unknown field"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
