//! Reads that do not grow with history: the run counters and days that `/metrics`,
//! `/api/stats` and the first history page read stay equal to a recount of the runs.

use job_importer::store::mongo::run_days::{Day, RUNS};
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn run_counters_and_days_equal_a_recount_after_runs_end() {
    let app = TestApp::spawn().await;
    let feed = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let ok = app
        .create_source("Counted", &format!("{}/feed.xml", feed.uri()))
        .await;
    let broken = app
        .create_source("Broken", &format!("{}/missing.xml", feed.uri()))
        .await;
    let mut ended = Vec::new();
    for source in [&ok, &broken, &ok] {
        let run = app.trigger(source).await;
        ended.push(app.wait_final(&run).await);
    }
    let store = app.store().await;
    // A run is counted just after the write that ended it, in the counters and its day at
    // once: wait for both.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (live, days_live) = loop {
        let c = store.run_counts(None).await.unwrap();
        let days = store.run_days("0000-00-00", None).await.unwrap();
        let day_runs: i64 = days.iter().map(|d| d.total[RUNS]).sum();
        if (c.active() == 0 && day_runs == 3) || std::time::Instant::now() > deadline {
            break (c, days);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(live.runs, 3);
    assert_eq!(live.active(), 0);
    let new_jobs: i64 = ended
        .iter()
        .map(|r| r.get_i64("newJobs").unwrap_or(0))
        .sum();
    assert!(new_jobs > 0);
    assert_eq!(live.new_jobs, new_jobs);

    let mut by_source = store.run_counts_by_source().await.unwrap();
    by_source.sort_by(|a, b| a.0.cmp(&b.0));
    let recounted = store.recount_runs().await.unwrap();
    let mut again = store.run_counts_by_source().await.unwrap();
    again.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(recounted, live);
    assert_eq!(again, by_source);
    let mut days_recounted = store.run_days("0000-00-00", None).await.unwrap();
    let mut days_live = days_live;
    let key = |d: &Day| (d.source_id.clone(), d.day.clone());
    days_live.sort_by_key(key);
    days_recounted.sort_by_key(key);
    assert_eq!(days_live, days_recounted);

    let (s, st) = get_json(&app, "/api/stats?hours=2&days=1").await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["totalRuns"], 3);
    assert_eq!(st["activeRuns"], 0);
    assert_eq!(st["totalJobs"], new_jobs);
    let sum = |k: &str| -> i64 {
        st["daily"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b[k].as_i64().unwrap())
            .sum()
    };
    assert_eq!(sum("runs"), 3);
    assert_eq!(sum("failedRuns"), 1);
    assert_eq!(sum("newJobs"), new_jobs);
    let (_, st) = get_json(&app, &format!("/api/stats?source={broken}")).await;
    assert_eq!(st["totalRuns"], 1);

    let (_, page) = get_json(&app, "/api/import-logs?status=failed").await;
    assert_eq!(page["total"], 1, "{page}");
    let (_, page): (u16, Value) = get_json(&app, &format!("/api/import-logs?source={ok}")).await;
    assert_eq!(page["total"], 2, "{page}");

    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains("job_importer_runs{status=\"completed\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("job_importer_runs{status=\"failed\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("job_importer_runs{status=\"active\"} 0"),
        "{text}"
    );
    app.cleanup().await;
}

/// The job tiles of `/api/stats` come from a snapshot of the jobs, whatever path closed them
/// (here an update behind the daemon's back, as a sweep or a link check would make): a stale
/// snapshot is served with its time and recounted in the background.
#[tokio::test]
async fn job_counts_are_a_snapshot_of_the_jobs_recounted_when_stale() {
    use futures_util::TryStreamExt;
    use mongodb::bson::{Document, doc};
    let app = TestApp::spawn().await;
    let feed = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let source = app
        .create_source("Counted", &format!("{}/feed.xml", feed.uri()))
        .await;
    let run = app.trigger(&source).await;
    app.wait_final(&run).await;
    let jobs = app.db.collection::<Document>("jobs");
    let stored = jobs.count_documents(doc! {}).await.unwrap();
    assert!(stored > 2);

    let (s, st) = get_json(&app, "/api/stats").await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["totalJobs"], stored);
    assert_eq!(st["openJobs"], stored);
    let (_, one) = get_json(&app, &format!("/api/stats?source={source}")).await;
    assert_eq!(one["openJobs"], stored);
    let (_, other) = get_json(&app, "/api/stats?source=nobody").await;
    assert_eq!(other["openJobs"], 0);
    let first_count = st["jobsCountedAt"].as_str().unwrap().to_owned();

    // Two jobs close outside any run.
    let ids: Vec<String> = jobs
        .find(doc! {})
        .limit(2)
        .await
        .unwrap()
        .try_collect::<Vec<Document>>()
        .await
        .unwrap()
        .iter()
        .map(|d| d.get_str("_id").unwrap().to_owned())
        .collect();
    jobs.update_many(
        doc! {"_id": {"$in": &ids}},
        doc! {"$set": {"status": "closed"}},
    )
    .await
    .unwrap();

    // Within the maximum age (60 s here) the snapshot is served as it is.
    let (_, st) = get_json(&app, "/api/stats").await;
    assert_eq!(st["openJobs"], stored);
    assert_eq!(st["jobsCountedAt"], first_count.as_str());

    // Stale: the read serves it and recounts in the background.
    let store = app.store().await;
    let served = store
        .job_counts(chrono::Duration::milliseconds(1))
        .await
        .unwrap();
    assert_eq!(served.all.open, stored);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let recounted = loop {
        let saved = store.saved_job_counts().await.unwrap().unwrap();
        if saved.counted_at != first_count || std::time::Instant::now() > deadline {
            break saved;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(recounted.all.total, stored);
    assert_eq!(recounted.all.open, stored - 2);
    assert_eq!(recounted.of(Some(&source)).open, stored - 2);
    let (_, st) = get_json(&app, "/api/stats").await;
    assert_eq!(st["openJobs"], stored - 2);

    // A maximum age of 0 counts on every read.
    let now = store.job_counts(chrono::Duration::zero()).await.unwrap();
    assert_eq!(now.all.open, stored - 2);
    app.cleanup().await;
}

/// On FerretDB the first history pages come from the capped run feed: they equal what
/// `import_logs` says (read through the native path), runs deleted by retention leave them, and
/// a feed that cannot tell (runs stored before it existed) hands the read to `import_logs`.
#[tokio::test]
async fn the_run_feed_pages_equal_the_stored_runs() {
    use job_importer::domain::RunStatus;
    use job_importer::store::mongo::compat::Server;
    use job_importer::store::mongo::history::{RunQuery, RunSort};
    use job_importer::store::mongo::runs::RunFilter;
    let app = TestApp::spawn().await;
    let feed = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let ok = app
        .create_source("Fed", &format!("{}/feed.xml", feed.uri()))
        .await;
    let broken = app
        .create_source("Broken", &format!("{}/missing.xml", feed.uri()))
        .await;
    for source in [&ok, &broken, &ok, &broken, &ok] {
        let run = app.trigger(source).await;
        app.wait_final(&run).await;
    }
    let fed = app.store().await;
    let native = app.store().await.with_server(Server::MongoDb {
        version: "7.0".into(),
    });
    let page = |page: u64, limit: u64| RunQuery {
        filter: RunFilter::default(),
        sort: RunSort::Date,
        page,
        limit,
        cursor: None,
    };
    let ids = |p: &job_importer::store::mongo::history::RunPage| -> Vec<(String, String, i64)> {
        p.page
            .items
            .iter()
            .map(|r| (r.id.clone(), r.status.as_str().to_owned(), r.version))
            .collect()
    };
    // The feed answers, with every run's newest state.
    let from_feed = fed
        .newest_runs(5, 5)
        .await
        .unwrap()
        .expect("the feed answers");
    assert_eq!(from_feed.len(), 5);
    assert!(from_feed.iter().all(|r| r.status.is_final()));
    for (p, l) in [(1, 2), (2, 2), (3, 2), (1, 5), (1, 20)] {
        let a = fed.query_runs(&page(p, l)).await.unwrap();
        let b = native.query_runs(&page(p, l)).await.unwrap();
        assert_eq!(ids(&a), ids(&b), "page {p} of {l}");
        assert_eq!(a.page.total, 5);
        assert_eq!(a.next_cursor, b.next_cursor);
    }
    // Retention deleted the broken source's failed runs: the feed leaves them out.
    let logs = app.db.collection::<mongodb::bson::Document>("import_logs");
    logs.delete_many(mongodb::bson::doc! {"sourceId": &broken, "status": "failed"})
        .await
        .unwrap();
    fed.feed_runs_deleted(&broken, RunStatus::Failed, "9999-12-31T00:00:00.000Z", 0)
        .await
        .unwrap();
    let a = fed
        .newest_runs(3, 3)
        .await
        .unwrap()
        .expect("the feed answers");
    assert_eq!(a.len(), 3);
    assert!(a.iter().all(|r| r.source_id == ok));
    let b = native.query_runs(&page(1, 3)).await.unwrap();
    assert_eq!(
        a.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        b.page
            .items
            .iter()
            .map(|r| r.id.clone())
            .collect::<Vec<_>>()
    );
    // Runs stored before the feed began: the feed cannot tell, `import_logs` answers.
    app.db
        .collection::<mongodb::bson::Document>("run_feed")
        .drop()
        .await
        .unwrap();
    assert!(fed.newest_runs(3, 3).await.unwrap().is_none());
    let a = fed.query_runs(&page(1, 3)).await.unwrap();
    assert_eq!(ids(&a), ids(&b));
    // A daemon's start makes it again; it cannot tell the runs stored before.
    fed.ensure_run_feed().await.unwrap();
    assert!(fed.newest_runs(3, 3).await.unwrap().is_none());
    // An append to a dropped feed makes a plain collection, which a start replaces.
    app.db
        .collection::<mongodb::bson::Document>("run_feed")
        .drop()
        .await
        .unwrap();
    let run = app.trigger(&ok).await;
    app.wait_final(&run).await;
    assert!(fed.newest_runs(1, 4).await.unwrap().is_none());
    fed.ensure_run_feed().await.unwrap();
    assert!(fed.newest_runs(1, 4).await.unwrap().is_none());
    app.cleanup().await;
}

/// A read the server ends at its time limit is told apart from other failures: the API answers
/// 503 `db.query_timeout` rather than an internal error.
#[tokio::test]
async fn a_read_past_its_time_limit_is_named_as_such() {
    use job_importer::store::StoreError;
    use mongodb::bson::{Document, doc};
    let app = TestApp::spawn().await;
    let coll = app.db.collection::<Document>("scratch");
    let docs: Vec<Document> = (0..30_000)
        .map(|i| doc! {"i": i, "text": "a row of the scratch collection"})
        .collect();
    coll.insert_many(docs).await.unwrap();
    let err = coll
        .find(doc! {"text": {"$regex": "never"}})
        .sort(doc! {"i": -1})
        .max_time(std::time::Duration::from_millis(1))
        .await
        .map(|_| ())
        .expect_err("the read ends at its time limit");
    let err = StoreError::from(err);
    assert!(err.is_time_limit(), "{err}");
    assert_eq!(err.code(), "db.query_timeout");
    let api = job_importer::http::error::ApiError::from(err);
    assert_eq!(api.status.as_u16(), 503);
    assert_eq!(api.code, "db.query_timeout");
    app.cleanup().await;
}

/// Daemons that start together on a new database all start: the first inserts of the start-up
/// marks (the run counters' `runCounts`, the run feed) may race, and the loser goes on.
#[tokio::test]
async fn daemons_starting_together_on_a_new_database_all_start() {
    let settings = test_settings();
    let spawn = |s: job_importer::config::Settings| {
        tokio::task::spawn_blocking(move || {
            job_importer::app::spawn(s, job_importer::app::Roles::ALL)
        })
    };
    let started: Vec<_> =
        futures_util::future::join_all((0..4).map(|_| spawn(settings.clone()))).await;
    let mut daemons = Vec::new();
    for d in started {
        daemons.push(d.unwrap().expect("every daemon starts"));
    }
    let store = job_importer::store::mongo::Store::connect(
        &mongo_uri(),
        &settings.mongodb.database,
        std::time::Duration::from_secs(3),
    )
    .await
    .unwrap();
    assert!(store.run_counts_ready().await.unwrap());
    for d in daemons {
        d.stop();
    }
    let client = mongodb::Client::with_uri_str(mongo_uri()).await.unwrap();
    client
        .database(&settings.mongodb.database)
        .drop()
        .await
        .ok();
}
