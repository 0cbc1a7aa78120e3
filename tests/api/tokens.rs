//! The read-only token, token rotation on SIGHUP, which tokens are printed, `/readyz` for
//! callers without a token, and private networks allowed per source only from the config file.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use job_importer::config::Secret;
use mongodb::bson::{Document, doc};
use serde_json::{Value, json};

use crate::helpers::*;

const READ: &str = "wall-screen-read-token";

async fn status(app: &TestApp, method: reqwest::Method, path: &str, token: &str) -> (u16, Value) {
    let mut req = app
        .http
        .request(method.clone(), app.url(path))
        .bearer_auth(token);
    if method != reqwest::Method::GET {
        req = req.json(&json!({"name": "Read only", "url": "https://example.com/feed"}));
    }
    let r = req.send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_read_token_reads_and_opens_the_websocket_but_changes_nothing() {
    let mut s = test_settings();
    s.auth.read_token = Secret::new(READ);
    let app = TestApp::spawn_with(s).await;
    for path in ["/api/import-logs", "/api/sources", "/api/stats", "/metrics"] {
        let (code, _) = status(&app, reqwest::Method::GET, path, READ).await;
        assert_eq!(code, 200, "GET {path} with the read token");
    }
    let id = app.create_source("Existing", "https://example.com/a").await;
    for (method, path) in [
        (reqwest::Method::POST, "/api/sources".to_owned()),
        (reqwest::Method::PATCH, format!("/api/sources/{id}")),
        (reqwest::Method::DELETE, format!("/api/sources/{id}")),
        (reqwest::Method::POST, format!("/api/sources/{id}/import")),
    ] {
        let (code, body) = status(&app, method.clone(), &path, READ).await;
        assert_eq!(code, 403, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "auth.read_only", "{method} {path}");
    }
    let sources = app.db.collection::<Document>("sources");
    assert_eq!(sources.count_documents(doc! {}).await.unwrap(), 1);
    let runs = app.db.collection::<Document>("import_logs");
    assert_eq!(runs.count_documents(doc! {}).await.unwrap(), 0);

    let url = format!("ws://{}/ws?token={READ}", app.daemon.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let first = next_named(&mut ws, "initial_data", Duration::from_secs(10)).await;
    assert!(first.is_some(), "the read token gets the live view");
    let wrong = format!("ws://{}/ws?token=not-{READ}", app.daemon.addr);
    assert!(tokio_tungstenite::connect_async(wrong).await.is_err());
    app.cleanup().await;
}

#[tokio::test]
async fn the_api_refuses_to_allow_private_networks_and_never_sets_it() {
    let app = TestApp::spawn().await;
    let r = app
        .post_json(
            "/api/sources",
            &json!({"name": "Sneaky", "url": "https://example.com/feed", "allowPrivateNetworks": true}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "validation.allowPrivateNetworks");
    let id = app.create_source("Plain", "https://example.com/feed").await;
    let r = app
        .http
        .patch(app.url(&format!("/api/sources/{id}")))
        .bearer_auth(TOKEN)
        .json(&json!({"allowPrivateNetworks": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let stored = app
        .db
        .collection::<Document>("sources")
        .find_one(doc! {"_id": &id})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.get_bool("allowPrivateNetworks").ok(), Some(false));
    app.cleanup().await;
}

#[tokio::test]
async fn only_the_source_the_config_file_allows_reaches_a_private_address() {
    let feed = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let url = format!("{}/feed.xml", feed.uri());
    let mut s = test_settings();
    s.fetch.allow_private_networks = false;
    s.scheduler.run_missed_on_start = false;
    let allowed: job_importer::config::SourceSettings = serde_json::from_value(json!({
        "name": "LAN feed", "url": url, "allow_private_networks": true
    }))
    .unwrap();
    s.sources.push(allowed);
    let app = TestApp::spawn_with(s).await;
    let run = app.trigger("lan-feed").await;
    let done = app.wait_final(&run).await;
    assert_eq!(done.get_str("status").unwrap(), "completed", "{done}");
    let new_jobs = done
        .get("newJobs")
        .and_then(|b| b.as_i64().or(b.as_i32().map(i64::from)));
    assert!(new_jobs.unwrap_or(0) > 0, "{done}");

    // The same URL under a source made through the API is refused at creation.
    let r = app
        .post_json("/api/sources", &json!({"name": "Copy", "url": url}))
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "validation.url");
    // Moving the allowed source elsewhere through the API drops the permission: it was
    // given for the address the config file names. (Another host is another publisher, which
    // gives the source's jobs new identities: the move is confirmed.)
    let r = app
        .http
        .patch(app.url("/api/sources/lan-feed?confirm=publisher"))
        .bearer_auth(TOKEN)
        .json(&json!({"url": "https://example.com/feed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["allowPrivateNetworks"], false, "{v}");
    app.cleanup().await;
}

#[tokio::test]
async fn the_demo_feeds_import_with_private_networks_off() {
    let mut s = test_settings();
    s.fetch.allow_private_networks = false;
    s.demo.enabled = true;
    s.scheduler.run_missed_on_start = false;
    let app = TestApp::spawn_with(s).await;
    let runs = app.db.collection::<Document>("import_logs");
    // Start a run by hand, unless one (the demo's import at start) is in progress already.
    let r = app
        .post_json("/api/sources/demo-jobicy/import", &Value::Null)
        .await;
    let run = match r.status().as_u16() {
        202 => {
            let v: Value = r.json().await.unwrap();
            v["run"]["_id"].as_str().unwrap().to_owned()
        }
        409 => {
            let d = runs
                .find_one(doc! {"sourceId": "demo-jobicy"})
                .await
                .unwrap();
            d.unwrap().get_str("_id").unwrap().to_owned()
        }
        other => panic!("trigger: {other}"),
    };
    let done = app.wait_final(&run).await;
    assert_eq!(done.get_str("status").unwrap(), "completed", "{done}");
    app.cleanup().await;
}

#[tokio::test]
async fn readiness_without_a_token_says_ready_and_nothing_else() {
    let app = TestApp::spawn().await;
    let r = get_with(&app, "/readyz", None).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v, json!({"status": "ready"}));
    let r = get_with(&app, "/readyz", Some("wrong")).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v, json!({"status": "ready"}));
    let v: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(v["mongodb"], "ok");
    assert!(v["workers"]["fetch"].is_u64(), "{v}");
    app.cleanup().await;
}

/// The daemon as a process with its tokens in a config file, as a deployment that rotates
/// them without a restart keeps them.
struct FileConfigured {
    child: std::process::Child,
    config: std::path::PathBuf,
    base: String,
    stdout: std::sync::mpsc::Receiver<String>,
}

impl FileConfigured {
    fn start(auth: &str) -> Self {
        let s = test_settings();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let config = std::env::temp_dir().join(format!("ji-tokens-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&config, auth).unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_job-importer"))
            .args(["serve", "--roles", "http", "--config"])
            .arg(&config)
            .env_remove("MONGODB_URI")
            .env_remove("REDIS_URL")
            .env_remove("JOB_IMPORTER__AUTH__ADMIN_TOKEN")
            .env("JOB_IMPORTER_LOG", "warn")
            .env("JOB_IMPORTER__HTTP__BIND", format!("127.0.0.1:{port}"))
            .env("JOB_IMPORTER__MONGODB__URI", s.mongodb.uri.expose())
            .env("JOB_IMPORTER__MONGODB__DATABASE", &s.mongodb.database)
            .env("JOB_IMPORTER__REDIS__URL", s.redis.url.expose())
            .env("JOB_IMPORTER__REDIS__PREFIX", &s.redis.prefix)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, stdout) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                tx.send(line).ok();
            }
        });
        Self {
            child,
            config,
            base: format!("http://127.0.0.1:{port}"),
            stdout,
        }
    }

    /// The dashboard line printed at start.
    fn dashboard_line(&self) -> String {
        self.stdout
            .recv_timeout(Duration::from_secs(60))
            .expect("the daemon prints its dashboard URL")
    }

    fn rewrite(&self, auth: &str) {
        std::fs::write(&self.config, auth).unwrap();
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    async fn code(&self, token: &str) -> u16 {
        reqwest::Client::new()
            .get(format!("{}/api/sources", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Polls until `token` gets `want` (a reload takes effect shortly after the signal).
    async fn wait_code(&self, token: &str, want: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.code(token).await;
            if got == want {
                return;
            }
            assert!(Instant::now() < deadline, "{token}: {got}, want {want}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for FileConfigured {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
        std::fs::remove_file(&self.config).ok();
    }
}

#[tokio::test]
async fn tokens_rotate_on_sighup_with_an_overlap_and_a_configured_token_is_never_printed() {
    job_importer::ingest::fetch::install_crypto_provider();
    let daemon = FileConfigured::start("[auth]\nadmin_token = \"first-admin-token\"\n");
    let line = daemon.dashboard_line();
    assert!(line.starts_with("Dashboard: http://"), "{line}");
    assert!(!line.contains("first-admin-token"), "printed: {line}");
    daemon.wait_code("first-admin-token", 200).await;

    // Rotate: the new token at once, the old one until the end of the overlap.
    let until = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    daemon.rewrite(&format!(
        "[auth]\nadmin_token = \"second-admin-token\"\nread_token = \"wall-token\"\n\
         previous_admin_token = \"first-admin-token\"\nprevious_token_valid_until = \"{until}\"\n"
    ));
    daemon.wait_code("second-admin-token", 200).await;
    assert_eq!(daemon.code("first-admin-token").await, 200);
    assert_eq!(daemon.code("wall-token").await, 200);

    // The overlap ends: only the new tokens are valid.
    let past = (chrono::Utc::now() - chrono::Duration::seconds(1)).to_rfc3339();
    daemon.rewrite(&format!(
        "[auth]\nadmin_token = \"second-admin-token\"\n\
         previous_admin_token = \"first-admin-token\"\nprevious_token_valid_until = \"{past}\"\n"
    ));
    daemon.wait_code("first-admin-token", 401).await;
    assert_eq!(daemon.code("wall-token").await, 401);
    assert_eq!(daemon.code("second-admin-token").await, 200);

    // A file that does not load leaves the tokens as they were.
    daemon.rewrite("[auth]\nprevious_admin_token = \"x\"\n");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(daemon.code("second-admin-token").await, 200);
}

#[tokio::test]
async fn a_generated_token_is_printed_once_with_the_dashboard_url() {
    job_importer::ingest::fetch::install_crypto_provider();
    let daemon = FileConfigured::start("");
    let line = daemon.dashboard_line();
    let token = line
        .split("#token=")
        .nth(1)
        .unwrap_or_else(|| panic!("no token in {line}"));
    daemon.wait_code(token, 200).await;
}
