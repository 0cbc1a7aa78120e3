//! Boots the whole daemon on port 0 against the real Redis and FerretDB named by
//! `TEST_MONGODB_URI` and `TEST_REDIS_URL` (`make test` starts them), with a database and a
//! Redis prefix of its own, and serves fixtures from a loopback HTTP server.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use job_importer::app::{self, Roles, SpawnedDaemon};
use job_importer::config::{Secret, Settings};
use mongodb::bson::{Document, doc};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const TOKEN: &str = "test-admin-token-0123456789";

/// `TEST_LOG=info` (or any filter) shows the in-process daemons' logs.
static TRACING: std::sync::LazyLock<()> = std::sync::LazyLock::new(|| {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .init();
    }
});

pub fn mongo_uri() -> String {
    std::env::var("TEST_MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017/".into())
}

/// A store on a database of its own (`{prefix}_{random}`), with the daemon's indexes, for
/// tests that play steps on the store directly.
pub async fn scratch_store(prefix: &str) -> job_importer::store::Store {
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let s = job_importer::store::Store::connect(
        &mongo_uri(),
        &name,
        std::time::Duration::from_secs(10),
    )
    .await
    .unwrap();
    s.ensure_indexes().await.unwrap();
    s
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn fixture(name: &str) -> Vec<u8> {
    let p = format!("{}/tests/fixtures/feeds/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {p}: {e}"))
}

/// Settings isolated for one test: unique database and Redis prefix, loopback fetches allowed.
pub fn test_settings() -> Settings {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let mut s = Settings::default();
    s.http.bind = "127.0.0.1:0".into();
    s.http.workers = 1;
    s.auth.admin_token = Secret::new(TOKEN);
    s.mongodb.uri = Secret::new(mongo_uri());
    s.mongodb.database = format!("test_{}", &tag[..16]);
    s.mongodb.server_selection_timeout_ms = 3_000;
    s.redis.url = Secret::new(redis_url());
    s.redis.prefix = format!("test:{}", &tag[..16]);
    s.fetch.allow_private_networks = true;
    s.fetch.total_timeout_ms = 5_000;
    s.pipeline.heartbeat_secs = 2;
    s.pipeline.poll_interval_ms = 50;
    s.pipeline.retry_base_ms = 100;
    s.pipeline.max_fetch_attempts = 2;
    s.pipeline.shutdown_grace_secs = 5;
    s
}

pub struct TestApp {
    pub daemon: SpawnedDaemon,
    pub http: reqwest::Client,
    pub db: mongodb::Database,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(test_settings()).await
    }

    pub async fn spawn_with(settings: Settings) -> Self {
        Self::spawn_roles(settings, Roles::ALL).await
    }

    pub async fn spawn_roles(settings: Settings, roles: Roles) -> Self {
        std::sync::LazyLock::force(&TRACING);
        let s = settings.clone();
        let daemon = tokio::task::spawn_blocking(move || app::spawn(s, roles))
            .await
            .expect("spawn thread")
            .expect("the daemon starts");
        let client = mongodb::Client::with_uri_str(settings.mongodb.uri.expose())
            .await
            .unwrap();
        let db = client.database(&settings.mongodb.database);
        Self {
            daemon,
            http: {
                job_importer::ingest::fetch::install_crypto_provider();
                reqwest::Client::new()
            },
            db,
        }
    }

    /// The store of the app's database, as the daemon opens it.
    pub async fn store(&self) -> job_importer::store::mongo::Store {
        job_importer::store::mongo::Store::connect(
            &mongo_uri(),
            self.db.name(),
            Duration::from_secs(3),
        )
        .await
        .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.daemon.base_url())
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a source for `url` through the API and returns its id.
    pub async fn create_source(&self, name: &str, url: &str) -> String {
        let r = self
            .post_json(
                "/api/sources",
                &serde_json::json!({"name": name, "url": url}),
            )
            .await;
        assert_eq!(
            r.status(),
            201,
            "create source: {}",
            r.text().await.unwrap_or_default()
        );
        let v: Value = r.json().await.unwrap();
        v["_id"].as_str().unwrap().to_owned()
    }

    pub async fn trigger(&self, source_id: &str) -> String {
        let r = self
            .post_json(&format!("/api/sources/{source_id}/import"), &Value::Null)
            .await;
        assert_eq!(
            r.status(),
            202,
            "trigger: {}",
            r.text().await.unwrap_or_default()
        );
        let v: Value = r.json().await.unwrap();
        v["run"]["_id"].as_str().unwrap().to_owned()
    }

    /// Polls the run until it is final (the document as stored).
    pub async fn wait_final(&self, run_id: &str) -> Document {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let d = self
                .db
                .collection::<Document>("import_logs")
                .find_one(doc! {"_id": run_id})
                .await
                .unwrap();
            if let Some(d) = d {
                let st = d.get_str("status").unwrap_or("");
                if !["queued", "running"].contains(&st) {
                    return d;
                }
            }
            assert!(Instant::now() < deadline, "run {run_id} did not end");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn jobs(&self) -> Vec<Document> {
        use futures_util::TryStreamExt;
        let c = self
            .db
            .collection::<Document>("jobs")
            .find(doc! {})
            .await
            .unwrap();
        c.try_collect().await.unwrap()
    }

    pub async fn cleanup(self) {
        self.db.drop().await.ok();
        self.daemon.stop();
    }
}

/// A loopback HTTP server that serves `body` at `/feed.xml` and counts requests.
pub async fn serve_feed(body: Vec<u8>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/rss+xml"))
        .mount(&server)
        .await;
    server
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect_ws(app: &TestApp) -> Ws {
    let url = format!("ws://{}/ws?token={TOKEN}", app.daemon.addr);
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connects");
    ws
}

/// The next JSON event, skipping control frames; `None` after `timeout`.
pub async fn next_event(ws: &mut Ws, timeout: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .ok()??
            .ok()?;
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).ok(),
            Message::Ping(p) => {
                ws.send(Message::Pong(p)).await.ok();
            }
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

/// A WP Job Manager-shaped RSS feed with the given (guid, title, description) items.
pub fn rss_feed(items: &[(String, String, String)]) -> Vec<u8> {
    let mut s = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:job_listing="https://example.com"><channel><title>t</title>"#,
    );
    for (guid, title, desc) in items {
        s.push_str(&format!(
            "<item><title>{title}</title><guid>https://example.com/jobs/{guid}</guid><link>https://example.com/jobs/{guid}</link><description><![CDATA[<p>{desc}</p>]]></description><job_listing:company><![CDATA[Example Co]]></job_listing:company><job_listing:location><![CDATA[Remote]]></job_listing:location><job_listing:job_type><![CDATA[Full-Time]]></job_listing:job_type></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s.into_bytes()
}

pub fn items(range: std::ops::Range<usize>, edition: &str) -> Vec<(String, String, String)> {
    range
        .map(|i| {
            (
                format!("job-{i}"),
                format!("Job {i}"),
                format!("Description {i} {edition}"),
            )
        })
        .collect()
}

/// Replaces what the server answers at `/feed.xml`.
pub async fn set_feed(server: &MockServer, body: Vec<u8>) {
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/rss+xml"))
        .mount(server)
        .await;
}

/// The daemon as a separate process (for crash and signal tests), configured through the
/// environment like a deployment would be.
pub struct DaemonProcess {
    pub child: std::process::Child,
    /// The HTTP port (0 without the http role).
    pub port: u16,
}

impl DaemonProcess {
    pub fn start(s: &Settings, roles: &str, extra: &[(&str, String)]) -> Self {
        Self::spawn(s, roles, extra, None)
    }

    /// A daemon logging at `level` into the file `log` (its stderr).
    pub fn start_logging(s: &Settings, roles: &str, level: &str, log: &std::path::Path) -> Self {
        Self::spawn(s, roles, &[], Some((level, log)))
    }

    /// Waits until the daemon answers `/healthz`; its address.
    pub async fn wait_listening(&self, limit: Duration) -> std::net::SocketAddr {
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], self.port).into();
        let deadline = Instant::now() + limit;
        let http = reqwest::Client::new();
        loop {
            let url = format!("http://{addr}/healthz");
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return addr;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not start listening"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn spawn(
        s: &Settings,
        roles: &str,
        extra: &[(&str, String)],
        log: Option<(&str, &std::path::Path)>,
    ) -> Self {
        let port = if roles.contains("http") {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        } else {
            0
        };
        let cfg = empty_config_file();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_job-importer"));
        cmd.args(["serve", "--roles", roles, "--config"])
            .arg(&cfg)
            .env_remove("MONGODB_URI")
            .env_remove("REDIS_URL")
            .env(
                "JOB_IMPORTER_LOG",
                std::env::var("TEST_DAEMON_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env("JOB_IMPORTER__HTTP__BIND", format!("127.0.0.1:{port}"))
            .env("JOB_IMPORTER__AUTH__ADMIN_TOKEN", TOKEN)
            .env("JOB_IMPORTER__MONGODB__URI", s.mongodb.uri.expose())
            .env("JOB_IMPORTER__MONGODB__DATABASE", &s.mongodb.database)
            .env("JOB_IMPORTER__REDIS__URL", s.redis.url.expose())
            .env("JOB_IMPORTER__REDIS__PREFIX", &s.redis.prefix)
            .env("JOB_IMPORTER__FETCH__ALLOW_PRIVATE_NETWORKS", "true")
            .env("JOB_IMPORTER__PIPELINE__POLL_INTERVAL_MS", "50")
            .env("JOB_IMPORTER__PIPELINE__HEARTBEAT_SECS", "1")
            .env(
                "JOB_IMPORTER__PIPELINE__BATCH_SIZE",
                s.pipeline.batch_size.to_string(),
            )
            .env(
                "JOB_IMPORTER__PIPELINE__WORKER_CONCURRENCY",
                s.pipeline.worker_concurrency.to_string(),
            )
            .env(
                "JOB_IMPORTER__PIPELINE__SHUTDOWN_GRACE_SECS",
                s.pipeline.shutdown_grace_secs.to_string(),
            );
        for (k, v) in extra {
            cmd.env(k, v);
        }
        if let Some((level, path)) = log {
            cmd.env("JOB_IMPORTER_LOG", level)
                .stderr(std::fs::File::create(path).unwrap());
        }
        let child = cmd.spawn().expect("the daemon process starts");
        Self { child, port }
    }

    pub fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for the process to exit; `None` if it is still running after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// The run document while it is being worked on.
pub async fn run_doc(db: &mongodb::Database, run_id: &str) -> Document {
    db.collection::<Document>("import_logs")
        .find_one(doc! {"_id": run_id})
        .await
        .unwrap()
        .unwrap()
}

/// A GET with the given bearer token (none: no header).
pub async fn get_with(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut r = app.http.get(app.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

/// The status and JSON body of a GET with the admin token.
pub async fn get_json(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app.get(path).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Writes a run document as the pipeline would (for read-side tests), then recounts the run
/// counters as a daemon does for runs it did not write itself.
pub async fn seed_run(app: &TestApp, run: &job_importer::domain::ImportRun) {
    let d = mongodb::bson::to_document(run).unwrap();
    app.db
        .collection::<Document>("import_logs")
        .insert_one(d)
        .await
        .unwrap();
    app.store().await.recount_runs().await.unwrap();
}

/// A queued run of `source` at `minutes_ago`, with its counters set by `f`.
pub fn run_at(
    id: &str,
    source: &str,
    minutes_ago: i64,
    f: impl FnOnce(&mut job_importer::domain::ImportRun),
) -> job_importer::domain::ImportRun {
    let at = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
    let mut r = job_importer::domain::ImportRun::new_queued(
        id.into(),
        source,
        source,
        "https://example.com/feed",
        job_importer::domain::Trigger::Schedule,
        at,
    );
    f(&mut r);
    r
}

pub async fn send_event(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next event named `name`, skipping others; `None` after `timeout`.
pub async fn next_named(ws: &mut Ws, name: &str, timeout: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let ev = next_event(ws, left).await?;
        if ev["event"] == name {
            return Some(ev);
        }
    }
}

/// Deletes the Redis keys matching `pattern` (Redis losing them); returns how many.
pub async fn delete_keys(pattern: &str) -> usize {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut c)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut c)
            .await
            .unwrap();
    }
    keys.len()
}

/// An empty config file shared by the tests' processes (the environment configures them):
/// one file in the temporary folder, not one per process.
pub fn empty_config_file() -> std::path::PathBuf {
    static FILE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let p = std::env::temp_dir().join("job-importer-tests-empty.toml");
        if !p.exists() {
            std::fs::write(&p, "").unwrap();
        }
        p
    })
    .clone()
}
