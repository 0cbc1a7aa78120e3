//! Exactness by identity: resumes, re-reads and redeliveries that lose nothing, with MongoDB as
//! the record and Redis as a cache. Each test is a way the pipeline once lost or miscounted
//! jobs in ordinary operation.

use std::time::{Duration, Instant};

use job_importer::app::Roles;
use mongodb::bson::{Document, doc};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const NO_WORKER: Roles = Roles {
    scheduler: true,
    fetcher: true,
    worker: false,
    http: true,
};

const WORKER_ONLY: Roles = Roles {
    scheduler: false,
    fetcher: false,
    worker: true,
    http: true,
};

/// Serves `body` at `/feed.xml` with `ETag: "{etag}"`, answering `304` to a request that
/// sends that tag back (as servers that honour validators do).
async fn serve_with_validators(server: &MockServer, body: Vec<u8>, etag: &str) {
    server.reset().await;
    let tag = format!("\"{etag}\"");
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .and(header("If-None-Match", tag.as_str()))
        .respond_with(ResponseTemplate::new(304).insert_header("ETag", tag.as_str()))
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("ETag", tag.as_str())
                .set_body_raw(body, "application/rss+xml"),
        )
        .with_priority(2)
        .mount(server)
        .await;
}

/// The feed requests the server received, and whether each was conditional.
async fn conditional_requests(server: &MockServer) -> Vec<bool> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| {
            r.headers.contains_key("if-none-match") || r.headers.contains_key("if-modified-since")
        })
        .collect()
}

async fn run_doc_now(app: &TestApp, run_id: &str) -> Document {
    run_doc(&app.db, run_id).await
}

/// Waits until `check` holds for the run's document.
async fn wait_run(app: &TestApp, run_id: &str, what: &str, check: impl Fn(&Document) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = run_doc_now(app, run_id).await;
        if check(&d) {
            return;
        }
        assert!(Instant::now() < deadline, "run {run_id}: {what}; last: {d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A source as the API shows it, with its state (health, validators).
async fn source_doc(app: &TestApp, id: &str) -> Document {
    let r = app.get(&format!("/api/sources/{id}")).await;
    assert_eq!(r.status(), 200);
    mongodb::bson::to_document(&r.json::<serde_json::Value>().await.unwrap()).unwrap()
}

async fn redis_conn() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// `DELETE /api/sources/{what}` (an id, with its query); the status.
async fn remove_source(app: &TestApp, what: &str) -> u16 {
    app.http
        .delete(app.url(&format!("/api/sources/{what}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn counts(d: &Document) -> [i64; 5] {
    let n = |k: &str| d.get_i64(k).unwrap_or(-1);
    [
        n("totalFetched"),
        n("newJobs"),
        n("updatedJobs"),
        n("unchangedJobs"),
        n("duplicateJobs"),
    ]
}

fn batched(mut s: job_importer::config::Settings) -> job_importer::config::Settings {
    s.pipeline.batch_size = 100;
    s.pipeline.stale_after_secs = 2;
    s.pipeline.sweep_interval_secs = 1;
    s
}

#[tokio::test]
async fn a_run_whose_batches_wait_for_a_worker_is_not_stale_and_keeps_its_validators_for_later() {
    let s = batched(test_settings());
    let front = TestApp::spawn_roles(s.clone(), NO_WORKER).await;
    let server = MockServer::start().await;
    serve_with_validators(&server, rss_feed(&items(0..300, "a")), "v1").await;
    let source = front
        .create_source("Backlog", &format!("{}/feed.xml", server.uri()))
        .await;
    let run_id = front.trigger(&source).await;
    wait_run(&front, &run_id, "the feed is read", |d| {
        d.get_i64("batchesTotal").is_ok()
    })
    .await;
    // Far past `stale_after_secs`: the batches wait in the queue, so the run is not stale.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let d = run_doc_now(&front, &run_id).await;
    assert_eq!(d.get_str("status").unwrap(), "running", "{d}");
    assert_eq!(d.get_i64("resumes").unwrap_or(0), 0, "{d}");
    // The validators of a body not stored yet are not the source's.
    let src = source_doc(&front, &source).await;
    assert!(src.get_str("etag").is_err(), "{src}");

    let back = TestApp::spawn_roles(s, WORKER_ONLY).await;
    let run = back.wait_final(&run_id).await;
    assert_eq!(run.get_str("status").unwrap(), "completed", "{run}");
    assert_eq!(counts(&run), [300, 300, 0, 0, 0]);
    assert_eq!(back.jobs().await.len(), 300);
    assert_eq!(
        source_doc(&front, &source).await.get_str("etag").unwrap(),
        "\"v1\""
    );
    // Now the feed is known: the next run is conditional and not modified.
    let again = front.trigger(&source).await;
    let run = back.wait_final(&again).await;
    assert_eq!(run.get_str("status").unwrap(), "not_modified", "{run}");
    back.cleanup().await;
    front.daemon.stop();
}

#[tokio::test]
async fn a_resumed_run_reads_the_changed_feed_unconditionally_and_counts_one_clean_run() {
    let s = batched(test_settings());
    let app = TestApp::spawn_with(s.clone()).await;
    let server = MockServer::start().await;
    // v1: jobs 0..250, stored by a first complete run.
    serve_with_validators(&server, rss_feed(&items(0..250, "a")), "v1").await;
    let source = app
        .create_source("Shifting", &format!("{}/feed.xml", server.uri()))
        .await;
    let first = app.trigger(&source).await;
    assert_eq!(counts(&app.wait_final(&first).await), [250, 250, 0, 0, 0]);
    app.daemon.stop();

    // v2 (a new job at the top) is read by a run whose batches the queue then loses.
    let front = TestApp::spawn_roles(s.clone(), NO_WORKER).await;
    let mut v2 = items(250..251, "a");
    v2.extend(items(0..250, "a"));
    serve_with_validators(&server, rss_feed(&v2), "v2").await;
    let run_id = front.trigger(&source).await;
    wait_run(&front, &run_id, "the feed is read", |d| {
        d.get_i64("batchesTotal").is_ok()
    })
    .await;
    // v3 before the resume: two more new jobs at the top (every position shifts), job 7
    // edited, job 249 gone.
    let mut v3 = items(251..253, "a");
    v3.extend(items(250..251, "a"));
    let mut rest = items(0..249, "a");
    rest[7].2 = "Description 7 edited".into();
    v3.extend(rest);
    serve_with_validators(&server, rss_feed(&v3), "v3").await;
    assert!(delete_keys(&format!("{}:items*", s.redis.prefix)).await > 0);
    wait_run(&front, &run_id, "the run is resumed and read again", |d| {
        d.get_i64("generation").unwrap_or(0) >= 2 && d.get_i64("batchesTotal").is_ok()
    })
    .await;
    // The resumed read sent no validators.
    assert_eq!(conditional_requests(&server).await, vec![false]);

    let back = TestApp::spawn_roles(s, WORKER_ONLY).await;
    let run = back.wait_final(&run_id).await;
    assert_eq!(run.get_str("status").unwrap(), "completed", "{run}");
    // What one clean run of v3 against the jobs of v1 counts: 3 new, 1 updated.
    assert_eq!(counts(&run), [252, 3, 1, 248, 0], "{run}");
    let jobs = back.jobs().await;
    assert_eq!(jobs.len(), 253);
    let seven = jobs
        .iter()
        .find(|j| j.get_str("title") == Ok("Job 7"))
        .unwrap();
    assert!(
        seven.get_str("descriptionText").unwrap().contains("edited"),
        "{seven}"
    );
    back.cleanup().await;
    front.daemon.stop();
}

#[tokio::test]
async fn a_redelivered_fetch_reads_again_without_overwriting_the_first_reads_batches() {
    let s = batched(test_settings());
    let front = TestApp::spawn_roles(s.clone(), NO_WORKER).await;
    let feed = serve_feed(rss_feed(&items(0..250, "a"))).await;
    let source = front
        .create_source("Twice", &format!("{}/feed.xml", feed.uri()))
        .await;
    let run_id = front.trigger(&source).await;
    wait_run(&front, &run_id, "the feed is read", |d| {
        d.get_i64("batchesTotal").is_ok()
    })
    .await;
    // The fetch is delivered again (its fetcher was presumed dead) while the feed changed:
    // one job more at the top, every description edited.
    let mut v2 = items(250..251, "b");
    v2.extend(items(0..250, "b"));
    set_feed(&feed, rss_feed(&v2)).await;
    let p = job_importer::app::connect(std::sync::Arc::new(s.clone()))
        .await
        .unwrap();
    let task = job_importer::store::queue::FetchFeedTask {
        run_id: run_id.clone(),
        source_id: source.clone(),
        attempt: 1,
        resume: 0,
    };
    job_importer::actors::feed_fetcher::fetch_run(&p, task)
        .await
        .unwrap();

    let back = TestApp::spawn_roles(s, WORKER_ONLY).await;
    let run = back.wait_final(&run_id).await;
    assert_eq!(run.get_str("status").unwrap(), "completed", "{run}");
    assert_eq!(counts(&run), [251, 251, 0, 0, 0], "{run}");
    let jobs = back.jobs().await;
    assert_eq!(jobs.len(), 251);
    for j in &jobs {
        let text = j.get_str("descriptionText").unwrap();
        assert!(
            text.ends_with(" b"),
            "a job kept the first read's content: {j}"
        );
    }
    back.cleanup().await;
    front.daemon.stop();
}

#[tokio::test]
async fn the_job_index_is_never_trusted_over_mongodb() {
    let s = test_settings();
    let app = TestApp::spawn_with(s.clone()).await;
    let feed = serve_feed(rss_feed(&items(0..50, "a"))).await;
    let source = app
        .create_source("Fifty", &format!("{}/feed.xml", feed.uri()))
        .await;
    let run = app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(counts(&run), [50, 50, 0, 0, 0]);

    // The collection is emptied (dropped, or restored from a backup without these jobs).
    let jobs = app.db.collection::<Document>("jobs");
    jobs.drop().await.unwrap();
    let run = app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(run.get_str("status").unwrap(), "completed", "{run}");
    assert_eq!(counts(&run), [50, 50, 0, 0, 0], "{run}");
    assert_eq!(app.jobs().await.len(), 50);

    // Emptied in place (the same collection): the sampled jobs are missing.
    jobs.delete_many(doc! {}).await.unwrap();
    let run = app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(counts(&run), [50, 50, 0, 0, 0], "{run}");

    // Restored from a backup of the same jobs into a new collection: nothing differs but the
    // collection, and the index describing the old one is dropped all the same.
    let epoch = || async {
        app.db
            .collection::<Document>("meta")
            .find_one(doc! {"_id": "jobIndex"})
            .await
            .unwrap()
            .unwrap()
            .get_str("epoch")
            .unwrap()
            .to_owned()
    };
    let before = epoch().await;
    let backup = app.jobs().await;
    jobs.drop().await.unwrap();
    jobs.insert_many(backup).await.unwrap();
    let run = app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(counts(&run), [50, 0, 0, 50, 0], "{run}");
    assert_ne!(
        epoch().await,
        before,
        "a new index for the restored collection"
    );
    app.daemon.stop();

    // Another database under the same Redis prefix starts with an index of its own.
    let mut fresh = s.clone();
    fresh.mongodb.database = format!("{}_b", s.mongodb.database);
    let other = TestApp::spawn_with(fresh).await;
    let source = other
        .create_source("Fifty", &format!("{}/feed.xml", feed.uri()))
        .await;
    let run = other.wait_final(&other.trigger(&source).await).await;
    assert_eq!(counts(&run), [50, 50, 0, 0, 0], "{run}");
    assert_eq!(other.jobs().await.len(), 50);
    other.cleanup().await;
    app.db.drop().await.ok();
}

/// A backup restored into the same collection (same UUID) with older content: the index's
/// check at the start of the next read finds jobs that differ from their entries (a sample of
/// the source's jobs on MongoDB, the first jobs stored on FerretDB) and starts a new index, so
/// the run updates the jobs MongoDB holds instead of trusting the index's "unchanged".
#[tokio::test]
async fn a_backup_restored_in_place_is_not_covered_by_the_index() {
    let app = TestApp::spawn_with(test_settings()).await;
    let feed = serve_feed(rss_feed(&items(0..40, "a"))).await;
    let source = app
        .create_source("Restored", &format!("{}/feed.xml", feed.uri()))
        .await;
    let run = app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(counts(&run), [40, 40, 0, 0, 0], "{run}");
    let backup = app.jobs().await;
    set_feed(&feed, rss_feed(&items(0..40, "b"))).await;
    let run = app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(run.get_i64("updatedJobs").unwrap(), 40, "{run}");

    // The backup taken after the first run goes back into the same collection.
    let jobs = app.db.collection::<Document>("jobs");
    jobs.delete_many(doc! {}).await.unwrap();
    jobs.insert_many(backup).await.unwrap();
    let run = app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(run.get_str("status").unwrap(), "completed", "{run}");
    assert_eq!(
        (
            run.get_i64("updatedJobs").unwrap(),
            run.get_i64("unchangedJobs").unwrap()
        ),
        (40, 0),
        "the restored jobs are brought up to the feed: {run}"
    );
    for j in app.jobs().await {
        let text = j.get_str("descriptionText").unwrap();
        assert!(text.ends_with(" b"), "a job kept the backup's content: {j}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn batches_queued_for_a_dropped_database_write_nothing_into_the_next_one() {
    let s = batched(test_settings());
    let front = TestApp::spawn_roles(s.clone(), NO_WORKER).await;
    let feed = serve_feed(rss_feed(&items(0..250, "a"))).await;
    let source = front
        .create_source("Dropped", &format!("{}/feed.xml", feed.uri()))
        .await;
    let run_id = front.trigger(&source).await;
    wait_run(&front, &run_id, "the feed is read", |d| {
        d.get_i64("batchesTotal").is_ok()
    })
    .await;
    front.daemon.stop();
    // The database goes (dropped, or replaced by an older backup) while Redis keeps the run's
    // live mark and its queued batches.
    front.db.drop().await.unwrap();
    // A daemon with every role starts on the fresh database; the stale batches are first in
    // the queue, and a new source's run is queued behind them.
    let back = TestApp::spawn_with(s).await;
    let other = serve_feed(rss_feed(&items(1000..1010, "b"))).await;
    let source = back
        .create_source("Fresh", &format!("{}/feed.xml", other.uri()))
        .await;
    let run = back.wait_final(&back.trigger(&source).await).await;
    assert_eq!(counts(&run), [10, 10, 0, 0, 0], "{run}");
    let jobs = back.jobs().await;
    assert_eq!(
        jobs.len(),
        10,
        "batches of the dropped database's run wrote into the fresh one"
    );
    back.cleanup().await;
}

#[tokio::test]
async fn jobs_still_close_after_the_index_of_their_source_is_lost() {
    let mut s = test_settings();
    s.pipeline.close_after_missed_runs = 1;
    let app = TestApp::spawn_with(s.clone()).await;
    let feed = serve_feed(rss_feed(&items(0..10, "a"))).await;
    let source = app
        .create_source("Closing", &format!("{}/feed.xml", feed.uri()))
        .await;
    app.wait_final(&app.trigger(&source).await).await;
    // Redis loses the index; the next feed lacks three jobs.
    assert!(delete_keys(&format!("{}:jobidx*", s.redis.prefix)).await > 0);
    set_feed(&feed, rss_feed(&items(3..10, "a"))).await;
    let run = app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(run.get_i64("closedJobs").unwrap(), 3, "{run}");
    assert_eq!(counts(&run), [7, 0, 0, 7, 0]);
    // And once more with the index rebuilt from MongoDB by that run.
    set_feed(&feed, rss_feed(&items(4..10, "a"))).await;
    let run = app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(run.get_i64("closedJobs").unwrap(), 1, "{run}");
    let open = app
        .db
        .collection::<Document>("jobs")
        .count_documents(doc! {"status": "open"})
        .await
        .unwrap();
    assert_eq!(open, 6);
    app.cleanup().await;
}

#[tokio::test]
async fn removing_a_source_detaches_it_from_its_jobs_and_closes_only_what_it_alone_carried() {
    let app = TestApp::spawn().await;
    let feed = MockServer::start().await;
    for (p, range) in [("/a.xml", 0..6), ("/b.xml", 3..9), ("/c.xml", 20..22)] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(rss_feed(&items(range, "a")), "application/rss+xml"),
            )
            .mount(&feed)
            .await;
    }
    let a = app
        .create_source("A", &format!("{}/a.xml", feed.uri()))
        .await;
    let b = app
        .create_source("B", &format!("{}/b.xml", feed.uri()))
        .await;
    let c = app
        .create_source("C", &format!("{}/c.xml", feed.uri()))
        .await;
    for s in [&a, &b, &c] {
        app.wait_final(&app.trigger(s).await).await;
    }
    assert_eq!(remove_source(&app, &a).await, 204);
    assert_eq!(remove_source(&app, &format!("{c}?jobs=keep")).await, 204);
    assert_eq!(remove_source(&app, &format!("{b}?jobs=maybe")).await, 400);
    let jobs = app.jobs().await;
    let status_of = |title: &str| {
        let j = jobs
            .iter()
            .find(|j| j.get_str("title") == Ok(title))
            .unwrap();
        let sources: Vec<&str> = j
            .get_array("sources")
            .unwrap()
            .iter()
            .filter_map(|s| s.as_str())
            .collect();
        assert!(!sources.contains(&a.as_str()), "{j}");
        assert!(!sources.contains(&c.as_str()), "{j}");
        j.get_str("status").unwrap().to_owned()
    };
    for i in 0..3 {
        assert_eq!(status_of(&format!("Job {i}")), "closed");
    }
    for i in 3..9 {
        assert_eq!(status_of(&format!("Job {i}")), "open");
    }
    for i in 20..22 {
        assert_eq!(status_of(&format!("Job {i}")), "open");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_new_url_drops_the_validators_of_the_old_one() {
    let app = TestApp::spawn().await;
    let server = MockServer::start().await;
    serve_with_validators(&server, rss_feed(&items(0..3, "a")), "v1").await;
    let source = app
        .create_source("Moving", &format!("{}/feed.xml", server.uri()))
        .await;
    app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(
        source_doc(&app, &source).await.get_str("etag").unwrap(),
        "\"v1\""
    );
    let r = app
        .http
        .patch(app.url(&format!("/api/sources/{source}")))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"url": format!("{}/feed.xml?moved=1", server.uri())}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let src = source_doc(&app, &source).await;
    assert!(src.get_str("etag").is_err(), "{src}");
    app.cleanup().await;
}

#[tokio::test]
async fn a_run_that_read_the_feed_before_its_source_changed_does_not_save_its_validators_back() {
    let s = batched(test_settings());
    let front = TestApp::spawn_roles(s.clone(), NO_WORKER).await;
    let server = MockServer::start().await;
    serve_with_validators(&server, rss_feed(&items(0..300, "a")), "v1").await;
    let source = front
        .create_source("Rereading", &format!("{}/feed.xml", server.uri()))
        .await;
    let run_id = front.trigger(&source).await;
    wait_run(&front, &run_id, "the feed is read", |d| {
        d.get_i64("batchesTotal").is_ok()
    })
    .await;
    // While that run's batches wait, the source is read another way: its jobs will have
    // other identities, so the body that run read says nothing about the next one.
    let r = front
        .http
        .patch(front.url(&format!("/api/sources/{source}")))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"publisher": "another.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let back = TestApp::spawn_roles(s, WORKER_ONLY).await;
    let run = back.wait_final(&run_id).await;
    assert_eq!(run.get_str("status").unwrap(), "completed", "{run}");
    assert_eq!(counts(&run), [300, 300, 0, 0, 0]);
    let src = source_doc(&front, &source).await;
    assert!(
        src.get_str("etag").is_err(),
        "old validators saved back: {src}"
    );

    // The next run reads the whole feed, unconditionally, under the new identities.
    let again = front.trigger(&source).await;
    let run = back.wait_final(&again).await;
    assert_eq!(run.get_str("status").unwrap(), "completed", "{run}");
    assert_eq!(run.get_i64("newJobs").unwrap(), 300, "{run}");
    assert_eq!(conditional_requests(&server).await, [false, false]);
    back.cleanup().await;
    front.daemon.stop();
}

#[tokio::test]
async fn a_run_waiting_on_a_long_retry_after_keeps_its_source() {
    let mut s = test_settings();
    s.pipeline.max_fetch_attempts = 3;
    let app = TestApp::spawn_with(s.clone()).await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "7200"))
        .mount(&server)
        .await;
    let source = app
        .create_source("Patient", &format!("{}/feed.xml", server.uri()))
        .await;
    let run_id = app.trigger(&source).await;
    wait_run(&app, &run_id, "the retry is noted", |d| {
        d.get_str("retryAt").is_ok()
    })
    .await;
    let mut c = redis_conn().await;
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{}:lease:running:{source}", s.redis.prefix))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        ttl > 7_200_000,
        "the running lease ends before the retry: {ttl} ms"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_run_lock_held_longer_than_its_ttl_is_renewed_and_keeps_a_second_writer_out() {
    let s = test_settings();
    let redis = job_importer::store::redis::Redis::connect(&s.redis)
        .await
        .unwrap();
    let ledger = job_importer::store::run_state::RunLedger::new(redis)
        .with_lock_ttl(Duration::from_millis(300));
    let order = std::sync::Mutex::new(Vec::new());
    let slow = ledger.with_lock("r", async {
        order.lock().unwrap().push("slow starts");
        // Four times the lock's TTL.
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        order.lock().unwrap().push("slow ends");
        Ok(())
    });
    let second = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ledger
            .with_lock("r", async {
                order.lock().unwrap().push("second");
                Ok(())
            })
            .await
    };
    let (a, b) = tokio::join!(slow, second);
    a.unwrap();
    b.unwrap();
    assert_eq!(
        *order.lock().unwrap(),
        vec!["slow starts", "slow ends", "second"]
    );
}

#[tokio::test]
async fn a_run_left_by_the_previous_version_is_completed_not_lost() {
    let mut s = test_settings();
    s.pipeline.stale_after_secs = 1;
    s.pipeline.sweep_interval_secs = 1;
    // The previous version's run: fetched, one batch of its own format waiting in the queue,
    // its live mark and bodies under the old key layout.
    let http_only = Roles {
        scheduler: false,
        fetcher: false,
        worker: false,
        http: true,
    };
    let front = TestApp::spawn_roles(s.clone(), http_only).await;
    let feed = serve_feed(rss_feed(&items(0..5, "a"))).await;
    let source = front
        .create_source("Old", &format!("{}/feed.xml", feed.uri()))
        .await;
    let run_id = uuid::Uuid::now_v7().to_string();
    let mut run = run_at(&run_id, &source, 1, |r| {
        r.status = job_importer::domain::RunStatus::Running;
        r.batches_total = Some(1);
    });
    run.file_name = format!("{}/feed.xml", feed.uri());
    seed_run(&front, &run).await;
    let p = job_importer::app::connect(std::sync::Arc::new(s.clone()))
        .await
        .unwrap();
    let old: job_importer::store::queue::ImportBatchTask =
        serde_json::from_value(serde_json::json!({
            "run_id": run_id, "source_id": source, "publisher": "127.0.0.1", "batch_no": 0,
            "entries": [{"kind": "failed", "code": "item.invalid", "message": "old"}],
        }))
        .unwrap();
    p.queues.push_batch(old, 0).await.unwrap();
    let mut c = redis_conn().await;
    // It holds its source, as every queued or running run does.
    let _: () = redis::cmd("SET")
        .arg(format!("{}:lease:running:{source}", s.redis.prefix))
        .arg(&run_id)
        .query_async(&mut c)
        .await
        .unwrap();
    let legacy = format!("{}:live:{run_id}", s.redis.prefix);
    let _: () = redis::cmd("HSET")
        .arg(&legacy)
        .arg("total")
        .arg(1)
        .query_async(&mut c)
        .await
        .unwrap();
    front.daemon.stop();

    let app = TestApp::spawn_with(s).await;
    let done = app.wait_final(&run_id).await;
    assert_eq!(done.get_str("status").unwrap(), "completed", "{done}");
    assert_eq!(counts(&done), [5, 5, 0, 0, 0], "{done}");
    assert_eq!(app.jobs().await.len(), 5);
    // Deleted right after the run's end is published.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: bool = redis::cmd("EXISTS")
            .arg(&legacy)
            .query_async(&mut c)
            .await
            .unwrap();
        if !left {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the old layout's keys go with the run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.cleanup().await;
}
