//! WebSocket fan-out benchmark (`cargo bench --bench ws_fanout`): a daemon process on loopback,
//! N clients during an import (latency from a run version's commit, the `committedAt` each
//! update carries, to each client reading the update; also from the run's `updatedAt`, stamped
//! before the write), then M idle sessions (the daemon's RSS). Every client must read every
//! version of the run. Bounded: `WS_CLIENTS` (1000) and `WS_IDLE` (10000) clients, a 120 s
//! deadline per phase. Needs Redis and MongoDB/FerretDB (`TEST_REDIS_URL`, `TEST_MONGODB_URI`,
//! defaults on 127.0.0.1) and `ulimit -n` above M.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_util::sync::CancellationToken;

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

/// What one client read: each `import_history_update` frame with the time it was read. The
/// frames are kept as they came and parsed after the phase, so that parsing JSON on the two
/// CPUs the daemon also uses does not slow the reading of the frames being timed.
type Received = Vec<(chrono::DateTime<chrono::Utc>, Utf8Bytes)>;

const UPDATE_PREFIX: &str = r#"{"event":"import_history_update""#;

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

/// Opens `n` sessions, 200 connecting at a time; each task reads until `stop` and returns the
/// updates it read.
async fn connect_many(
    addr: &str,
    n: usize,
    stop: CancellationToken,
) -> Vec<tokio::task::JoinHandle<Received>> {
    let url = format!("ws://{addr}/ws?token={TOKEN}");
    let sem = Arc::new(tokio::sync::Semaphore::new(200));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(n.max(1));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (url, sem, ready, stop) = (url.clone(), sem.clone(), ready_tx.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut got = Received::new();
            // Held only while connecting, so connects come in waves of 200.
            let mut permit = Some(sem.acquire_owned().await.unwrap());
            // tungstenite zero-fills its whole read buffer (128 KiB by default) before every
            // read: with 1,000 clients that memset, not the daemon, would dominate the CPU.
            let config = WebSocketConfig::default().read_buffer_size(4096);
            let connecting = tokio_tungstenite::connect_async_with_config(&url, Some(config), true);
            let Ok((mut ws, _)) = connecting.await else {
                eprintln!("connect failed");
                return got;
            };
            let mut first = true;
            loop {
                let msg = tokio::select! {
                    m = ws.next() => m,
                    () = stop.cancelled() => break,
                };
                let Some(Ok(msg)) = msg else { break };
                let Message::Text(t) = msg else { continue };
                let now = chrono::Utc::now();
                if first {
                    first = false;
                    permit.take();
                    ready.send(()).await.ok();
                }
                if t.as_str().starts_with(UPDATE_PREFIX) {
                    got.push((now, t));
                }
            }
            got
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

fn ms_between(from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(0) as f64 / 1000.0
}

fn time_field(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

async fn fanout_phase(http: &reqwest::Client, base: &str, addr: &str, clients: usize) -> String {
    let stop = CancellationToken::new();
    let tasks = connect_many(addr, clients, stop.clone()).await;
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
    stop.cancel();
    let versions = run["version"].as_i64().unwrap_or(0);
    // Every client must have read every version of the run, each once (two batches recorded
    // at the same moment may be published in either order; clients order them by version).
    let (mut from_commit, mut from_updated_at) = (Vec::new(), Vec::new());
    let (mut received, mut complete) = (0usize, 0usize);
    let mut by_version: std::collections::BTreeMap<i64, Vec<f64>> = Default::default();
    for t in tasks {
        let got = t.await.unwrap_or_default();
        let mut seen = Vec::with_capacity(got.len());
        for (at, frame) in got {
            let v: Value = serde_json::from_str(frame.as_str()).expect("an update is JSON");
            assert_eq!(v["event"], "import_history_update");
            if v["data"]["_id"] != run_id.as_str() {
                continue;
            }
            received += 1;
            let version = v["data"]["version"].as_i64().unwrap_or(0);
            seen.push(version);
            let committed = time_field(&v["committedAt"]).expect("updates carry committedAt");
            from_commit.push(ms_between(committed, at));
            by_version
                .entry(version)
                .or_default()
                .push(ms_between(committed, at));
            if let Some(u) = time_field(&v["data"]["updatedAt"]) {
                from_updated_at.push(ms_between(u, at));
            }
        }
        seen.sort_unstable();
        if seen == (1..=versions).collect::<Vec<_>>() {
            complete += 1;
        }
    }
    // Where the time goes, on stderr: per version, commit to the first, middle and last client.
    for (version, mut ms) in by_version {
        ms.sort_by(f64::total_cmp);
        eprintln!(
            "version {version:>2}: first {:>6.1} ms, p50 {:>6.1} ms, last {:>6.1} ms",
            ms[0],
            pct(&ms, 0.5),
            ms[ms.len() - 1]
        );
    }
    from_commit.sort_by(f64::total_cmp);
    from_updated_at.sort_by(f64::total_cmp);
    format!(
        "| {clients} clients, one import of 5,000 items (default batch size, {versions} versions, status {}) | {received} updates received (expected {}); {complete} clients got every version once | from commit: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; from `updatedAt`: p50 {:.1} ms, p99 {:.1} ms |",
        run["status"].as_str().unwrap_or("?"),
        clients as i64 * versions,
        pct(&from_commit, 0.5),
        pct(&from_commit, 0.99),
        from_commit.last().copied().unwrap_or(f64::NAN),
        pct(&from_updated_at, 0.5),
        pct(&from_updated_at, 0.99),
    )
}

async fn idle_phase(pid: u32, addr: &str, idle: usize) -> String {
    let before = rss_kib(pid);
    let stop = CancellationToken::new();
    let tasks = connect_many(addr, idle, stop.clone()).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(pid);
    stop.cancel();
    for t in tasks {
        t.await.ok();
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
        job_importer::ingest::fetch::install_crypto_provider();
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
