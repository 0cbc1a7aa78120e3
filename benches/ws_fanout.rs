//! WebSocket fan-out benchmark (`cargo bench --bench ws_fanout`): a daemon process on loopback,
//! N clients during an import (latency from a run's `updatedAt` to each client receiving the
//! update), then M idle sessions (the daemon's RSS). Bounded: `WS_CLIENTS` (1000) and
//! `WS_IDLE` (10000) clients, a 120 s deadline per phase. Needs Redis and MongoDB/FerretDB
//! (`TEST_REDIS_URL`, `TEST_MONGODB_URI`, defaults on 127.0.0.1) and `ulimit -n` above M.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "bench-admin-token-0123456789";
const PHASE_DEADLINE: Duration = Duration::from_secs(120);

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.into())
}

fn feed(items: usize) -> String {
    let mut s =
        String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>b</title>");
    for i in 0..items {
        s.push_str(&format!(
            "<item><title>Job {i}</title><link>https://example.com/j/{i}</link><guid>g{i}</guid>\
             <description>Bench posting {i}</description></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

type OnUpdate = Arc<dyn Fn(&Value, chrono::DateTime<chrono::Utc>) + Send + Sync>;

struct Daemon {
    child: std::process::Child,
    addr: String,
}

fn start_daemon(db: &str, prefix: &str) -> Daemon {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = std::env::temp_dir().join(format!("{prefix}.toml"));
    std::fs::write(&cfg, "").unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_job-importer"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("JOB_IMPORTER_CONFIG", &cfg)
        .env(
            "JOB_IMPORTER__MONGODB__URI",
            env_or("TEST_MONGODB_URI", "mongodb://127.0.0.1:27017/"),
        )
        .env("JOB_IMPORTER__MONGODB__DATABASE", db)
        .env(
            "JOB_IMPORTER__REDIS__URL",
            env_or("TEST_REDIS_URL", "redis://127.0.0.1:6379"),
        )
        .env("JOB_IMPORTER__REDIS__PREFIX", prefix)
        .env("JOB_IMPORTER__AUTH__ADMIN_TOKEN", TOKEN)
        .env("JOB_IMPORTER__FETCH__ALLOW_PRIVATE_NETWORKS", "true")
        .env("JOB_IMPORTER__HTTP__STATIC_DIR", "/nonexistent")
        .env("JOB_IMPORTER__PIPELINE__POLL_INTERVAL_MS", "50")
        .env("JOB_IMPORTER_LOG", "warn")
        .env_remove("MONGODB_URI")
        .env_remove("REDIS_URL")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the daemon binary runs");
    Daemon {
        child,
        addr: format!("127.0.0.1:{port}"),
    }
}

async fn wait_ready(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the daemon did not become ready");
}

/// Opens `n` sessions, `parallel` at a time; each task reads until the socket ends, passing
/// every `import_history_update` to `on_update` with its receive time.
async fn connect_many(
    addr: &str,
    n: usize,
    on_update: OnUpdate,
) -> Vec<tokio::task::JoinHandle<()>> {
    let url = format!("ws://{addr}/ws?token={TOKEN}");
    let sem = Arc::new(tokio::sync::Semaphore::new(200));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(n.max(1));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (url, sem, ready, f) = (
            url.clone(),
            sem.clone(),
            ready_tx.clone(),
            on_update.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // Held only while connecting, so connects come in waves of 200.
            let mut permit = Some(sem.acquire_owned().await.unwrap());
            let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&url).await else {
                eprintln!("connect failed");
                return;
            };
            let mut first = true;
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Text(t) = msg else { continue };
                let now = chrono::Utc::now();
                if first {
                    first = false;
                    permit.take();
                    ready.send(()).await.ok();
                }
                if let Ok(v) = serde_json::from_str::<Value>(&t)
                    && v["event"] == "import_history_update"
                {
                    f(&v["data"], now);
                }
            }
        }));
    }
    drop(ready_tx);
    let deadline = Instant::now() + PHASE_DEADLINE;
    let mut connected = 0;
    while connected < n && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(10), ready_rx.recv()).await {
            Ok(Some(())) => connected += 1,
            _ => break,
        }
    }
    eprintln!("{connected}/{n} sessions received initial_data");
    tasks
}

async fn fanout_phase(http: &reqwest::Client, base: &str, addr: &str, clients: usize) -> String {
    let lat: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::new()));
    let l = lat.clone();
    let tasks = connect_many(
        addr,
        clients,
        Arc::new(move |run: &Value, at| {
            if let Some(t) = run["updatedAt"]
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            {
                let ms = (at - t.with_timezone(&chrono::Utc))
                    .num_microseconds()
                    .unwrap_or(0) as f64
                    / 1000.0;
                l.lock().unwrap().push(ms);
            }
        }),
    )
    .await;
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::path("/feed.xml"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_raw(feed(5000), "application/rss+xml"),
        )
        .mount(&server)
        .await;
    let auth = format!("Bearer {TOKEN}");
    let src: Value = http
        .post(format!("{base}/api/sources"))
        .header("authorization", &auth)
        .json(&json!({"name": "bench", "url": format!("{}/feed.xml", server.uri())}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = src["_id"].as_str().unwrap();
    let started = Instant::now();
    let r: Value = http
        .post(format!("{base}/api/sources/{id}/import"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run_id = r["run"]["_id"].as_str().unwrap().to_owned();
    let mut run = Value::Null;
    while started.elapsed() < PHASE_DEADLINE {
        run = http
            .get(format!("{base}/api/import-logs/{run_id}"))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !["queued", "running"].contains(&run["status"].as_str().unwrap_or("")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for t in tasks {
        t.abort();
    }
    let mut v = lat.lock().unwrap().clone();
    v.sort_by(f64::total_cmp);
    let updates = run["version"].as_i64().unwrap_or(0);
    format!(
        "| {clients} clients, one import of 5,000 items (10 batches, {updates} versions, status {}) | {} updates received (expected {}) | p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms |",
        run["status"].as_str().unwrap_or("?"),
        v.len(),
        clients as i64 * updates,
        pct(&v, 0.5),
        pct(&v, 0.99),
        v.last().copied().unwrap_or(f64::NAN),
    )
}

async fn idle_phase(pid: u32, addr: &str, idle: usize) -> String {
    let before = rss_kib(pid);
    let tasks = connect_many(addr, idle, Arc::new(|_: &Value, _| {})).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(pid);
    for t in tasks {
        t.abort();
    }
    format!(
        "| {idle} idle sessions | daemon RSS {:.1} MiB (before connecting: {:.1} MiB) | {:.1} KiB per session |",
        after as f64 / 1024.0,
        before as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / idle.max(1) as f64
    )
}

fn main() {
    // `cargo test --all-targets` runs bench binaries too (without `--bench`): stay quick there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("ws_fanout: skipped; run `cargo bench --bench ws_fanout`");
        return;
    }
    let clients: usize = env_or("WS_CLIENTS", "1000").parse().unwrap();
    let idle: usize = env_or("WS_IDLE", "10000").parse().unwrap();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (db, prefix) = (
        format!("bench_{}", &tag[..12]),
        format!("bench:{}", &tag[..12]),
    );
    let mut daemon = start_daemon(&db, &prefix);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let rows = rt.block_on(async {
        let http = reqwest::Client::new();
        let base = format!("http://{}", daemon.addr);
        wait_ready(&http, &base).await;
        let a = fanout_phase(&http, &base, &daemon.addr, clients).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let b = idle_phase(daemon.child.id(), &daemon.addr, idle).await;
        if let Ok(c) =
            mongodb::Client::with_uri_str(env_or("TEST_MONGODB_URI", "mongodb://127.0.0.1:27017/"))
                .await
        {
            c.database(&db).drop().await.ok();
        }
        [a, b]
    });
    daemon.child.kill().ok();
    daemon.child.wait().ok();
    println!("| case | result | measure |\n|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}
