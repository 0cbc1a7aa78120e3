//! `job-importer runs ...` and `job-importer sources ...` over the store, with `--json`.

use mongodb::bson::{Document, doc};
use serde_json::Value;

use crate::helpers::*;

pub async fn cli(s: &job_importer::config::Settings, args: &[&str]) -> (bool, String, String) {
    cli_with(s, args, "").await
}

/// `cli` with `config` as the config file's content.
pub async fn cli_with(
    s: &job_importer::config::Settings,
    args: &[&str],
    config: &str,
) -> (bool, String, String) {
    let cfg = std::env::temp_dir().join(format!("job-importer-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&cfg, config).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_job-importer"))
        .args(args)
        .env("JOB_IMPORTER_CONFIG", &cfg)
        .env("JOB_IMPORTER__MONGODB__URI", s.mongodb.uri.expose())
        .env("JOB_IMPORTER__MONGODB__DATABASE", &s.mongodb.database)
        .env("JOB_IMPORTER__REDIS__URL", s.redis.url.expose())
        .env("JOB_IMPORTER__REDIS__PREFIX", &s.redis.prefix)
        .env("JOB_IMPORTER__FETCH__ALLOW_PRIVATE_NETWORKS", "true")
        .env_remove("MONGODB_URI")
        .env_remove("REDIS_URL")
        .output()
        .await
        .unwrap();
    std::fs::remove_file(&cfg).ok();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn sources_and_runs_are_managed_from_the_command_line() {
    let s = test_settings();
    let app = TestApp::spawn_with(s.clone()).await;
    let feed = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let url = format!("{}/feed.xml", feed.uri());
    let (ok, out, err) = cli(
        &s,
        &[
            "sources", "add", "--name", "From CLI", "--url", &url, "--json",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let added: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(added["_id"], "from-cli");
    let (ok, _, err) = cli(
        &s,
        &[
            "sources",
            "add",
            "--name",
            "Bad",
            "--url",
            "file:///etc/passwd",
        ],
    )
    .await;
    assert!(!ok && err.contains("url"), "{err}");
    let (ok, out, _) = cli(&s, &["sources", "list"]).await;
    assert!(ok && out.contains("from-cli"), "{out}");

    let (ok, out, err) = cli(&s, &["sources", "import", "from-cli", "--json"]).await;
    assert!(ok, "{err}");
    let run_id = serde_json::from_str::<Value>(&out).unwrap()["run"]["_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_final(&run_id).await;
    let (ok, out, _) = cli(&s, &["runs", "list", "--json"]).await;
    assert!(ok);
    let page: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["status"], "completed");
    let (ok, out, _) = cli(&s, &["runs", "show", &run_id]).await;
    assert!(
        ok && out.contains("completed") && out.contains("new 5"),
        "{out}"
    );
    let (ok, _, err) = cli(&s, &["runs", "show", "missing"]).await;
    assert!(!ok && err.contains("no import run"), "{err}");
    let (ok, out, err) = cli(&s, &["sources", "edit", "from-cli", "--link-check", "true"]).await;
    assert!(ok && out.contains("link check on"), "{out}{err}");
    let (ok, out, _) = cli(&s, &["sources", "show", "from-cli"]).await;
    assert!(ok && out.contains("links:    checked"), "{out}");
    let (ok, _, err) = cli(&s, &["sources", "backfill", "from-cli", "--pages", "0"]).await;
    assert!(!ok && err.contains("--pages"), "{err}");
    let (ok, out, err) = cli(
        &s,
        &["sources", "backfill", "from-cli", "--pages", "2", "--json"],
    )
    .await;
    assert!(ok, "{err}");
    let run: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(run["run"]["backfill"]["maxPages"], 2);
    let done = app.wait_final(run["run"]["_id"].as_str().unwrap()).await;
    // Page 1 is the feed the first run stored: nothing new, so the walk ends there.
    let walk = done.get_document("backfill").unwrap();
    assert_eq!(walk.get_str("stopped").unwrap(), "nothing_new", "{done:?}");
    let (ok, out, _) = cli(&s, &["sources", "remove", "from-cli"]).await;
    assert!(ok && out.contains("removed"), "{out}");
    app.cleanup().await;
}

#[tokio::test]
async fn a_source_names_its_page_parameter_from_the_command_line_and_a_backfill_uses_it() {
    let s = test_settings();
    let app = TestApp::spawn_with(s.clone()).await;
    let feed = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let url = format!("{}/feed.xml", feed.uri());
    let (ok, out, err) = cli(
        &s,
        &[
            "sources",
            "add",
            "--name",
            "Paged",
            "--url",
            &url,
            "--page-param",
            "pg",
            "--json",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let added: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(added["pageParam"], "pg");

    let (ok, _, err) = cli(&s, &["sources", "edit", "paged", "--page-param", "pg.no"]).await;
    assert!(!ok && err.contains("at most 50 letters"), "{err}");
    let (ok, out, err) = cli(&s, &["sources", "edit", "paged", "--page-param", "page"]).await;
    assert!(ok && out.contains("pages by `page`"), "{out}{err}");
    let (ok, out, _) = cli(&s, &["sources", "show", "paged"]).await;
    assert!(ok && out.contains("pages by: `page`"), "{out}");
    // The edit is in the audit log, as the CLI's, with what changed.
    let (_, p) = get_json(&app, "/api/audit?source=paged").await;
    assert_eq!(p["items"][0]["action"], "source_updated", "{p}");
    assert_eq!(p["items"][0]["actor"], "cli", "{p}");
    assert!(p["items"][0].to_string().contains("pageParam"), "{p}");

    let (ok, out, err) = cli(
        &s,
        &["sources", "backfill", "paged", "--pages", "2", "--json"],
    )
    .await;
    assert!(ok, "{err}");
    let run: Value = serde_json::from_str(&out).unwrap();
    app.wait_final(run["run"]["_id"].as_str().unwrap()).await;
    let pages: Vec<String> = feed
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| r.url.query().unwrap_or_default().to_owned())
        .collect();
    assert!(pages.iter().any(|q| q.contains("page=")), "{pages:?}");
    assert!(!pages.iter().any(|q| q.contains("paged=")), "{pages:?}");

    // Empty goes back to finding it from the feed.
    let (ok, out, err) = cli(&s, &["sources", "edit", "paged", "--page-param", ""]).await;
    assert!(ok && out.contains("found from the feed"), "{out}{err}");
    let (_, src) = get_json(&app, "/api/sources/paged").await;
    assert!(src["pageParam"].is_null(), "{src}");
    app.cleanup().await;
}

#[tokio::test]
async fn a_running_daemon_schedules_a_source_added_from_the_command_line_at_once() {
    let s = test_settings();
    let app = TestApp::spawn_with(s.clone()).await;
    let feed = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let url = format!("{}/feed.xml", feed.uri());
    // Every two seconds. The daemon re-reads its sources by itself only every 30 s; the CLI's
    // announcement on Redis is what makes it pick this one up within the wait below.
    let (ok, _, err) = cli(
        &s,
        &[
            "sources",
            "add",
            "--name",
            "Ticking",
            "--url",
            &url,
            "--cron",
            "*/2 * * * * *",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let runs = app.db.collection::<Document>("import_logs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(12);
    loop {
        let scheduled = runs
            .count_documents(doc! {"sourceId": "ticking", "trigger": "schedule"})
            .await
            .unwrap();
        if scheduled > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon did not schedule the source added from the command line"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (ok, out, _) = cli(&s, &["sources", "remove", "ticking"]).await;
    assert!(ok && out.contains("removed"), "{out}");
    app.cleanup().await;
}
