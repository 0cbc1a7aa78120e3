//! `job-importer import <URL> --json` runs the same pipeline and prints the run document.

use serde_json::Value;

use crate::helpers::*;

/// Only the environment configures the CLI in these tests.
fn empty_config() -> String {
    empty_config_file().display().to_string()
}

#[tokio::test]
async fn cli_import_prints_the_final_import_log_as_json() {
    let s = test_settings();
    let feed = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let url = format!("{}/feed.xml", feed.uri());
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_job-importer"))
        .args(["import", &url, "--json"])
        .env("JOB_IMPORTER_CONFIG", empty_config())
        .env("JOB_IMPORTER__MONGODB__URI", s.mongodb.uri.expose())
        .env("JOB_IMPORTER__MONGODB__DATABASE", &s.mongodb.database)
        .env("JOB_IMPORTER__REDIS__URL", s.redis.url.expose())
        .env("JOB_IMPORTER__REDIS__PREFIX", &s.redis.prefix)
        .env("JOB_IMPORTER__FETCH__ALLOW_PRIVATE_NETWORKS", "true")
        .env("JOB_IMPORTER__PIPELINE__POLL_INTERVAL_MS", "50")
        .env_remove("MONGODB_URI")
        .env_remove("REDIS_URL")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    let run: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(run["fileName"], url.as_str());
    assert_eq!(run["status"], "completed");
    assert_eq!(run["trigger"], "cli");
    assert_eq!(run["totalFetched"], 5);
    assert_eq!(run["totalImported"], 5);
    assert_eq!(run["newJobs"], 5);
    assert_eq!(run["updatedJobs"], 0);
    assert_eq!(run["failedJobs"], 0);
    assert_eq!(run["failures"], serde_json::json!([]));
    let client = mongodb::Client::with_uri_str(s.mongodb.uri.expose())
        .await
        .unwrap();
    let db = client.database(&s.mongodb.database);
    let n = db
        .collection::<mongodb::bson::Document>("jobs")
        .count_documents(mongodb::bson::doc! {})
        .await
        .unwrap();
    assert_eq!(n, 5);
    db.drop().await.ok();
}

#[tokio::test]
async fn cli_import_of_a_failing_url_exits_non_zero_and_still_prints_the_run() {
    let s = test_settings();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_job-importer"))
        .args(["import", "http://127.0.0.1:9/feed.xml", "--json"])
        .env("JOB_IMPORTER_CONFIG", empty_config())
        .env("JOB_IMPORTER__MONGODB__URI", s.mongodb.uri.expose())
        .env("JOB_IMPORTER__MONGODB__DATABASE", &s.mongodb.database)
        .env("JOB_IMPORTER__REDIS__URL", s.redis.url.expose())
        .env("JOB_IMPORTER__REDIS__PREFIX", &s.redis.prefix)
        .env("JOB_IMPORTER__FETCH__ALLOW_PRIVATE_NETWORKS", "true")
        .env("JOB_IMPORTER__PIPELINE__MAX_FETCH_ATTEMPTS", "1")
        .env_remove("MONGODB_URI")
        .env_remove("REDIS_URL")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["status"], "failed");
    assert_eq!(run["error"]["code"], "fetch.refused");
    let client = mongodb::Client::with_uri_str(s.mongodb.uri.expose())
        .await
        .unwrap();
    client.database(&s.mongodb.database).drop().await.ok();
}
