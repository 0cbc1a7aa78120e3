//! Real processes: a worker killed mid-import, a worker stopped with SIGTERM mid-batch (it
//! finishes what it took, then exits 0), and two worker processes sharing one queue. Counts
//! must equal those of a clean run.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use mongodb::bson::Document;

use crate::helpers::*;

const ITEMS: usize = 5000;

async fn big_feed() -> wiremock::MockServer {
    serve_feed(rss_feed(&items(0..ITEMS, "v1"))).await
}

fn settings() -> job_importer::config::Settings {
    let mut s = test_settings();
    s.pipeline.batch_size = 100;
    s.pipeline.worker_concurrency = 2;
    s
}

/// Waits until the run has stored at least `batches` batches: their records, written as each
/// batch is stored (the run document's `batchesDone` folds them in about once a second, by
/// which time a fast worker may have stored the whole run).
async fn wait_batches(db: &mongodb::Database, run_id: &str, batches: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if batches_recorded(db, run_id).await.len() >= batches {
            let d = run_doc(db, run_id).await;
            let status = d.get_str("status").unwrap_or("");
            assert!(
                !["completed", "partial", "failed"].contains(&status),
                "the run ended before the test could act on it: {d}"
            );
            return;
        }
        let d = run_doc(db, run_id).await;
        assert!(Instant::now() < deadline, "no progress: {d}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn assert_clean(run: &Document) {
    assert_eq!(run.get_str("status").unwrap(), "completed", "{run}");
    assert_eq!(run.get_i64("totalFetched").unwrap(), ITEMS as i64);
    assert_eq!(run.get_i64("newJobs").unwrap(), ITEMS as i64);
    assert_eq!(run.get_i64("totalImported").unwrap(), ITEMS as i64);
    assert_eq!(run.get_i64("failedJobs").unwrap(), 0);
    assert_eq!(
        run.get_i64("batchesDone").unwrap(),
        run.get_i64("batchesTotal").unwrap()
    );
}

#[tokio::test]
async fn a_worker_killed_mid_import_leaves_counts_equal_to_a_clean_run() {
    let s = settings();
    let front = TestApp::spawn_roles(
        s.clone(),
        job_importer::app::Roles {
            scheduler: true,
            fetcher: true,
            worker: false,
            http: true,
        },
    )
    .await;
    let feed = big_feed().await;
    let source = front
        .create_source("Crash", &format!("{}/feed.xml", feed.uri()))
        .await;
    let mut w1 = DaemonProcess::start(&s, "worker", &[]);
    let run_id = front.trigger(&source).await;
    wait_batches(&front.db, &run_id, 5).await;
    w1.signal("KILL");
    w1.wait_exit(Duration::from_secs(5)).expect("killed");
    let _w2 = DaemonProcess::start(&s, "worker", &[]);
    let run = front.wait_final(&run_id).await;
    assert_clean(&run);
    let jobs = front
        .db
        .collection::<Document>("jobs")
        .count_documents(mongodb::bson::doc! {})
        .await
        .unwrap();
    assert_eq!(jobs, ITEMS as u64, "no job lost or stored twice");
    front.cleanup().await;
}

/// The batch numbers a run's workers counted as recorded (the done set of the run's first and
/// only read in Redis, see `store::run_state`), which a worker adds to right after it writes
/// the batch's record.
async fn batches_counted(s: &job_importer::config::Settings, run_id: &str) -> HashSet<i64> {
    let redis = redis::Client::open(s.redis.url.expose()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let members: Vec<String> = redis::cmd("SMEMBERS")
        .arg(format!("{}:run:{run_id}:1:done", s.redis.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    members.iter().map(|m| m.parse().unwrap()).collect()
}

/// The batch numbers of a run recorded in `import_batches`.
async fn batches_recorded(db: &mongodb::Database, run_id: &str) -> HashSet<i64> {
    use futures_util::TryStreamExt;
    let docs: Vec<Document> = db
        .collection::<Document>("import_batches")
        .find(mongodb::bson::doc! {"runId": run_id})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    docs.iter()
        .map(|d| {
            d.get_i64("batchNo")
                .or_else(|_| d.get_i32("batchNo").map(i64::from))
                .unwrap()
        })
        .collect()
}

#[tokio::test]
async fn a_worker_stopped_with_sigterm_mid_batch_records_what_it_took_and_exits_0() {
    let s = settings();
    let front = TestApp::spawn_roles(
        s.clone(),
        job_importer::app::Roles {
            scheduler: true,
            fetcher: true,
            worker: false,
            http: true,
        },
    )
    .await;
    let feed = big_feed().await;
    let source = front
        .create_source("Term", &format!("{}/feed.xml", feed.uri()))
        .await;
    let log = std::env::temp_dir().join(format!("job-importer-term-{}", uuid::Uuid::new_v4()));
    let mut w1 = DaemonProcess::start_logging(&s, "worker", "info", &log);
    let run_id = front.trigger(&source).await;
    wait_batches(&front.db, &run_id, 3).await;
    w1.signal("TERM");
    let status = w1
        .wait_exit(Duration::from_secs(15))
        .expect("exits within the deadline");
    assert!(status.success(), "exit status {status:?}");
    // It waited for the batches it was running, not for a fixed moment.
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_file(&log).ok();
    assert!(text.contains("in-flight work finished"), "{text}");
    // Every batch it wrote, it finished: each record is also counted, none was cut off
    // between the two. (What it had fetched ahead and never started is handed on by another
    // worker.)
    let recorded = batches_recorded(&front.db, &run_id).await;
    assert!(!recorded.is_empty());
    assert_eq!(batches_counted(&s, &run_id).await, recorded);
    // A worker started afterwards finishes the run (the batches fetched ahead included).
    let _w2 = DaemonProcess::start(&s, "worker", &[]);
    let run = front.wait_final(&run_id).await;
    assert_clean(&run);
    front.cleanup().await;
}

#[tokio::test]
async fn two_worker_processes_share_the_batches_and_the_counts_are_exact() {
    let s = settings();
    let front = TestApp::spawn_roles(
        s.clone(),
        job_importer::app::Roles {
            scheduler: true,
            fetcher: true,
            worker: false,
            http: true,
        },
    )
    .await;
    let feed = big_feed().await;
    let source = front
        .create_source("Shared", &format!("{}/feed.xml", feed.uri()))
        .await;
    let _w1 = DaemonProcess::start(&s, "worker", &[]);
    let _w2 = DaemonProcess::start(&s, "worker", &[]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let run_id = front.trigger(&source).await;
    let run = front.wait_final(&run_id).await;
    assert_clean(&run);
    let batches = run.get_document("batches").unwrap();
    let workers: HashSet<&str> = batches
        .values()
        .filter_map(|b| b.as_document()?.get_str("storedBy").ok())
        .collect();
    assert_eq!(
        workers.len(),
        2,
        "both processes stored batches: {workers:?}"
    );
    front.cleanup().await;
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a worker daemon with `s`, waits until its log says `waiting` `times` times (it waits
/// for a service, and says so), sends SIGTERM, and checks it exits 0 at once, stopped while
/// starting.
async fn waits_then_stops_cleanly(s: &job_importer::config::Settings, waiting: &str, times: usize) {
    let log = std::env::temp_dir().join(format!("job-importer-early-{}", uuid::Uuid::new_v4()));
    let mut d = DaemonProcess::start_logging(s, "worker", "info", &log);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&log)
        .unwrap_or_default()
        .matches(waiting)
        .count()
        < times
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon never said `{waiting}`: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    d.signal("TERM");
    let status = d.wait_exit(Duration::from_secs(10)).expect("exits at once");
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_file(&log).ok();
    assert!(status.success(), "exit status {status:?}: {text}");
    assert!(text.contains("stopped while starting"), "{text}");
}

#[tokio::test]
async fn a_daemon_started_while_mongodb_is_down_waits_for_it_and_stops_cleanly() {
    let mut s = settings();
    // Nothing listens there: the daemon waits for MongoDB (up to `startup_wait_secs`) rather
    // than exiting, as it does for Redis.
    s.mongodb.uri =
        job_importer::config::Secret::new(format!("mongodb://127.0.0.1:{}/", closed_port()));
    s.mongodb.server_selection_timeout_ms = 300;
    waits_then_stops_cleanly(&s, "MongoDB is not ready yet", 2).await;
}

#[tokio::test]
async fn a_daemon_stopped_with_sigterm_while_it_waits_for_redis_exits_0() {
    let mut s = settings();
    // Nothing listens there: the daemon waits for Redis (up to `startup_wait_secs`).
    s.redis.url = job_importer::config::Secret::new(format!("redis://127.0.0.1:{}", closed_port()));
    waits_then_stops_cleanly(&s, "not ready yet", 1).await;
}
