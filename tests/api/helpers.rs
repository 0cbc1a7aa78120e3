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

pub fn mongo_uri() -> String {
    std::env::var("TEST_MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017/".into())
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
        let s = settings.clone();
        let daemon = tokio::task::spawn_blocking(move || app::spawn(s, Roles::ALL))
            .await
            .expect("spawn thread")
            .expect("the daemon starts");
        let client = mongodb::Client::with_uri_str(settings.mongodb.uri.expose())
            .await
            .unwrap();
        let db = client.database(&settings.mongodb.database);
        Self {
            daemon,
            http: reqwest::Client::new(),
            db,
        }
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
        let deadline = Instant::now() + Duration::from_secs(30);
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

/// Writes a run document as the pipeline would (for read-side tests).
pub async fn seed_run(app: &TestApp, run: &job_importer::domain::ImportRun) {
    let d = mongodb::bson::to_document(run).unwrap();
    app.db
        .collection::<Document>("import_logs")
        .insert_one(d)
        .await
        .unwrap();
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
