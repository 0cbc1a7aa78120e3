//! Infrastructure faults with servers of the test's own: Redis killed and restarted, MongoDB
//! (FerretDB) stopped and started again, in the middle of a run.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mongodb::bson::Document;

use crate::helpers::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A server process on a fixed loopback port and data folder, so it can be restarted.
struct Server {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    start: fn(u16, &Path) -> Child,
}

impl Server {
    fn new(start: fn(u16, &Path) -> Child) -> Self {
        let dir = std::env::temp_dir().join(format!("job-importer-chaos-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = Self {
            port: free_port(),
            dir,
            child: None,
            start,
        };
        s.up();
        s
    }
    fn up(&mut self) {
        self.child = Some((self.start)(self.port, &self.dir));
        wait_port(self.port);
    }
    fn kill(&mut self, signal: &str) {
        if let Some(mut c) = self.child.take() {
            Command::new("kill")
                .args([&format!("-{signal}"), &c.id().to_string()])
                .status()
                .unwrap();
            c.wait().ok();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill("KILL");
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn redis(port: u16, dir: &Path) -> Child {
    Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "yes",
        ])
        .args([
            "--appendfsync",
            "always",
            "--maxmemory-policy",
            "noeviction",
            "--dir",
        ])
        .arg(dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (make test installs it)")
}

fn ferretdb(port: u16, dir: &Path) -> Child {
    let bin = std::env::var("FERRETDB_BIN").unwrap_or_else(|_| {
        format!(
            "{}/.cache/job-importer/tools/bin/ferretdb",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    Command::new(bin)
        .args([
            "--handler=sqlite",
            "--telemetry=disable",
            "--log-level=error",
            "--debug-addr=-",
        ])
        .arg(format!("--sqlite-url=file:{}/", dir.display()))
        .arg(format!("--listen-addr=127.0.0.1:{port}"))
        .arg(format!("--state-dir={}", dir.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ferretdb (make test builds it)")
}

const ITEMS: usize = 3000;

fn chaos_settings() -> job_importer::config::Settings {
    let mut s = test_settings();
    s.pipeline.batch_size = 100;
    s.pipeline.worker_concurrency = 2;
    s.pipeline.stale_after_secs = 10;
    s.pipeline.sweep_interval_secs = 1;
    s.pipeline.retry_base_ms = 200;
    s.pipeline.max_store_attempts = 4;
    s.redis.response_timeout_ms = 2_000;
    s.redis.connection_timeout_ms = 1_000;
    s.mongodb.server_selection_timeout_ms = 1_000;
    s
}

async fn wait_progress(app: &TestApp, run_id: &str, batches: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while run_doc(&app.db, run_id)
        .await
        .get_i64("batchesDone")
        .unwrap_or(0)
        < batches
    {
        assert!(Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The run ended (completed, or failed with a reason) and the next run is exact.
async fn assert_recovered(app: &TestApp, source: &str, run: &Document) {
    let status = run.get_str("status").unwrap();
    match status {
        "completed" => {
            assert_eq!(run.get_i64("totalFetched").unwrap(), ITEMS as i64);
            assert_eq!(run.get_i64("newJobs").unwrap(), ITEMS as i64);
        }
        "failed" => assert!(
            run.get_document("error").is_ok(),
            "a failed run says why: {run}"
        ),
        other => panic!("the run ended {other}: {run}"),
    }
    let next = app.wait_final(&app.trigger(source).await).await;
    assert_eq!(next.get_str("status").unwrap(), "completed", "{next}");
    assert_eq!(next.get_i64("totalFetched").unwrap(), ITEMS as i64);
    let stored = app.jobs().await.len();
    assert_eq!(stored, ITEMS, "every job stored once");
    let new = next.get_i64("newJobs").unwrap();
    let unchanged = next.get_i64("unchangedJobs").unwrap();
    assert_eq!(new + unchanged, ITEMS as i64, "{next}");
    if status == "completed" {
        assert_eq!(new, 0);
    }
}

#[tokio::test]
async fn redis_killed_and_restarted_mid_run_leaves_no_run_running() {
    let mut redis_server = Server::new(redis);
    let mut s = chaos_settings();
    s.redis.url =
        job_importer::config::Secret::new(format!("redis://127.0.0.1:{}", redis_server.port));
    let app = TestApp::spawn_with(s).await;
    let feed = serve_feed(rss_feed(&items(0..ITEMS, "v1"))).await;
    let source = app
        .create_source("Redis chaos", &format!("{}/feed.xml", feed.uri()))
        .await;
    let run_id = app.trigger(&source).await;
    wait_progress(&app, &run_id, 3).await;
    redis_server.kill("KILL");
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis_server.up();
    let run = app.wait_final(&run_id).await;
    assert_recovered(&app, &source, &run).await;
    app.cleanup().await;
}

#[tokio::test]
async fn mongodb_stopped_and_started_mid_run_leaves_no_run_running() {
    let mut mongo = Server::new(ferretdb);
    let mut s = chaos_settings();
    s.mongodb.uri =
        job_importer::config::Secret::new(format!("mongodb://127.0.0.1:{}/", mongo.port));
    let app = TestApp::spawn_with(s).await;
    let feed = serve_feed(rss_feed(&items(0..ITEMS, "v1"))).await;
    let source = app
        .create_source("Mongo chaos", &format!("{}/feed.xml", feed.uri()))
        .await;
    let run_id = app.trigger(&source).await;
    wait_progress(&app, &run_id, 3).await;
    mongo.kill("TERM");
    tokio::time::sleep(Duration::from_secs(3)).await;
    mongo.up();
    let run = app.wait_final(&run_id).await;
    assert_recovered(&app, &source, &run).await;
    app.cleanup().await;
}

fn redis_with_debug(port: u16, dir: &Path) -> Child {
    Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--save",
            "",
            "--appendonly",
            "yes",
            "--enable-debug-command",
            "yes",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (make test installs it)")
}

async fn redis_info(port: u16, section: &str) -> String {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("INFO")
        .arg(section)
        .query_async(&mut c)
        .await
        .unwrap_or_default()
}

/// Redis restarted with a large append-only file answers `LOADING` for seconds: the daemon's
/// connection (and every command's, which share it) waits and goes on.
#[tokio::test]
async fn a_redis_still_loading_its_data_is_waited_for() {
    let mut server = Server::new(redis_with_debug);
    let port = server.port;
    {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
        let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
        let mut c = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .unwrap();
        for part in 0..8 {
            let _: () = redis::cmd("DEBUG")
                .arg("POPULATE")
                .arg(250_000)
                .arg(format!("filler{part}"))
                .arg(128)
                .query_async(&mut c)
                .await
                .unwrap();
        }
        let _: () = redis::cmd("BGREWRITEAOF")
            .query_async(&mut c)
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let info = redis_info(port, "persistence").await;
            if info.contains("aof_rewrite_in_progress:0")
                && info.contains("aof_rewrite_scheduled:0")
            {
                break;
            }
            assert!(Instant::now() < deadline, "the AOF rewrite did not end");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let mut s = chaos_settings();
    s.redis.url = job_importer::config::Secret::new(format!("redis://127.0.0.1:{port}"));
    s.redis.startup_wait_secs = 120;
    server.kill("KILL");
    server.up();
    // It is loading now (this is what makes the test mean anything).
    let info = redis_info(port, "persistence").await;
    assert!(
        info.contains("loading:1"),
        "Redis loaded too fast to test: {info}"
    );
    let p = job_importer::app::connect(std::sync::Arc::new(s.clone()))
        .await
        .expect("the daemon waits for Redis to load");
    p.redis.ping().await.unwrap();

    // The command line waits too.
    server.kill("KILL");
    server.up();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_job-importer"))
            .args(["runs", "list", "--json"])
            .env("JOB_IMPORTER__REDIS__URL", s.redis.url.expose())
            .env("JOB_IMPORTER__MONGODB__URI", s.mongodb.uri.expose())
            .env("JOB_IMPORTER__MONGODB__DATABASE", &s.mongodb.database)
            .env("JOB_IMPORTER__REDIS__PREFIX", &s.redis.prefix)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
