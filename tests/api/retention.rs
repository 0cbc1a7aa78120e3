//! Retention: exactly the runs no rule keeps are deleted (on 10,000 runs), closed jobs go
//! after their time and come back as new, and one daemon applies it per interval.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use job_importer::actors::retention;
use job_importer::config::{RetentionSettings, Settings};
use job_importer::domain::{ImportRun, RunStatus, Trigger};
use mongodb::bson::{Document, doc};

use crate::helpers::*;

fn policy() -> RetentionSettings {
    RetentionSettings {
        enabled: true,
        interval_secs: 3600,
        runs_keep_days: 10,
        runs_keep_per_source: 50,
        failed_runs_keep_days: 20,
        closed_jobs_keep_days: 365,
        changes_keep_days: 30,
        alert_deliveries_keep_days: 90,
    }
}

fn run(id: String, source: &str, at: DateTime<Utc>, status: RunStatus) -> ImportRun {
    let mut r = ImportRun::new_queued(id, source, source, "https://x/feed", Trigger::Schedule, at);
    r.status = status;
    r
}

/// Whether the settings keep a run of `source` of this `rank` (0: its newest) and age.
fn kept(r: &RetentionSettings, rank: usize, status: RunStatus, age: chrono::Duration) -> bool {
    let days = |d: u32| chrono::Duration::days(i64::from(d));
    match status {
        _ if rank < r.runs_keep_per_source as usize => true,
        RunStatus::Queued | RunStatus::Running => true,
        RunStatus::Failed | RunStatus::Partial => age <= days(r.failed_runs_keep_days),
        RunStatus::Completed | RunStatus::NotModified => age <= days(r.runs_keep_days),
    }
}

async fn remaining_runs(db: &mongodb::Database) -> BTreeSet<String> {
    db.collection::<Document>("import_logs")
        .find(doc! {})
        .projection(doc! {"_id": 1})
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .iter()
        .map(|d| d.get_str("_id").unwrap().to_owned())
        .collect()
}

async fn connect(s: &Settings) -> Arc<job_importer::actors::pipeline::Pipeline> {
    job_importer::app::connect(Arc::new(s.clone()))
        .await
        .unwrap()
}

#[tokio::test]
async fn of_10000_runs_exactly_those_that_no_rule_keeps_are_deleted() {
    let s = test_settings();
    let p = connect(&s).await;
    let db = p.store.database().clone();
    let now = Utc::now();
    let statuses = [
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Partial,
        RunStatus::NotModified,
        RunStatus::Completed,
    ];
    // Ten sources of 990 runs, one every 40 minutes (about 27 days back), so that runs fall
    // exactly on the 10- and 20-day limits; some old ones still in progress; and a source of
    // 100 runs, all older than any limit, whose newest 50 stay.
    let mut runs: Vec<(ImportRun, usize)> = Vec::new();
    for src in 0..10 {
        for i in 0..990 {
            let status = match i {
                _ if i % 97 == 3 => RunStatus::Running,
                _ if i % 89 == 5 => RunStatus::Queued,
                _ => statuses[(i + src) % statuses.len()],
            };
            let at = now - chrono::Duration::minutes(40 * i as i64);
            runs.push((
                run(format!("s{src}-{i:04}"), &format!("s{src}"), at, status),
                i,
            ));
        }
    }
    for i in 0..100 {
        let at = now - chrono::Duration::days(400) - chrono::Duration::minutes(i as i64);
        runs.push((
            run(format!("old-{i:03}"), "old", at, RunStatus::Completed),
            i,
        ));
    }
    assert_eq!(runs.len(), 10_000);
    let docs: Vec<Document> = runs
        .iter()
        .map(|(r, _)| mongodb::bson::to_document(r).unwrap())
        .collect();
    let logs = db.collection::<Document>("import_logs");
    for chunk in docs.chunks(1000) {
        logs.insert_many(chunk.to_vec()).await.unwrap();
    }

    let r = policy();
    // Each source's runs are listed newest first, so `i` is the rank.
    let expected: BTreeSet<String> = runs
        .iter()
        .filter(|(run, rank)| kept(&r, *rank, run.status, now - run.import_date_time))
        .map(|(run, _)| run.id.clone())
        .collect();
    let by_kind: BTreeMap<&str, usize> = runs.iter().fold(BTreeMap::new(), |mut m, (run, _)| {
        let kept = expected.contains(&run.id);
        *m.entry(if kept { "kept" } else { "deleted" }).or_default() += 1;
        m
    });
    // The model keeps and deletes plenty of each, or the test would prove little.
    assert!(
        by_kind["kept"] > 2000 && by_kind["deleted"] > 2000,
        "{by_kind:?}"
    );

    // The run counters cover the seeded runs (as after a recount at start).
    p.store.recount_runs().await.unwrap();
    let deleted = retention::apply(&p.store, &r, now).await.unwrap();
    let remaining = remaining_runs(&db).await;
    let missing: Vec<_> = expected.difference(&remaining).take(5).collect();
    let extra: Vec<_> = remaining.difference(&expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "deleted but kept by a rule: {missing:?}; kept but no rule keeps them: {extra:?}"
    );
    assert_eq!(deleted.runs as usize, 10_000 - expected.len());
    // On the limits: a completed run exactly 10 days old stays, one 40 minutes older goes.
    assert!(remaining.contains("s0-0360") && !remaining.contains("s0-0365"));
    assert!(remaining.contains("old-049") && !remaining.contains("old-050"));

    // A second pass deletes nothing more.
    let again = retention::apply(&p.store, &r, now).await.unwrap();
    assert_eq!(again, retention::Deleted::default());

    // What retention deleted was taken off the run counters: they equal a recount of the runs
    // that remain, by source and status.
    let runs_by_status =
        |counts: Vec<(String, job_importer::store::mongo::run_counts::RunCounts)>| {
            counts
                .into_iter()
                .map(|(source, c)| (source, c.runs, c.ended))
                .collect::<Vec<_>>()
        };
    let live = runs_by_status(p.store.run_counts_by_source().await.unwrap());
    let total = p.store.recount_runs().await.unwrap();
    assert_eq!(total.runs as usize, expected.len());
    assert_eq!(
        live,
        runs_by_status(p.store.run_counts_by_source().await.unwrap())
    );
    db.drop().await.ok();
}

/// Alert deliveries that are over (sent, or given up) go after their time; a pending one
/// stays whatever its age (it is still to be sent).
#[tokio::test]
async fn alert_deliveries_that_are_over_are_deleted_after_their_time_and_pending_ones_stay() {
    let s = test_settings();
    let p = connect(&s).await;
    let db = p.store.database().clone();
    let days_ago =
        |d: i64| job_importer::domain::time::format(&(Utc::now() - chrono::Duration::days(d)));
    let deliveries = db.collection::<Document>("alert_deliveries");
    let mut docs = Vec::new();
    for (id, status, age) in [
        ("old-sent", "sent", 91),
        ("old-failed", "failed", 200),
        ("old-pending", "pending", 200),
        ("recent-sent", "sent", 89),
        ("recent-failed", "failed", 1),
    ] {
        docs.push(doc! {"_id": id, "status": status, "createdAt": days_ago(age), "sourceId": "s"});
    }
    deliveries.insert_many(docs).await.unwrap();
    let deleted = retention::apply(&p.store, &policy(), Utc::now())
        .await
        .unwrap();
    assert_eq!(deleted.alert_deliveries, 2);
    let left: BTreeSet<String> = deliveries
        .distinct("_id", doc! {})
        .await
        .unwrap()
        .iter()
        .filter_map(|b| b.as_str().map(str::to_owned))
        .collect();
    let expected: BTreeSet<String> = ["old-pending", "recent-sent", "recent-failed"]
        .map(String::from)
        .into();
    assert_eq!(left, expected);
    // Kept forever with 0.
    let forever = RetentionSettings {
        alert_deliveries_keep_days: 0,
        ..policy()
    };
    deliveries
        .insert_one(doc! {"_id": "ancient", "status": "sent", "createdAt": days_ago(5000)})
        .await
        .unwrap();
    let deleted = retention::apply(&p.store, &forever, Utc::now())
        .await
        .unwrap();
    assert_eq!(deleted.alert_deliveries, 0);
    db.drop().await.ok();
}

#[tokio::test]
async fn a_job_closed_longer_than_its_retention_is_deleted_and_comes_back_as_new() {
    let mut s = test_settings();
    s.pipeline.close_after_missed_runs = 1;
    let app = TestApp::spawn_with(s.clone()).await;
    let feed = serve_feed(rss_feed(&items(0..3, "a"))).await;
    let source = app
        .create_source("Closing", &format!("{}/feed.xml", feed.uri()))
        .await;
    let first = app.trigger(&source).await;
    assert_eq!(app.wait_final(&first).await.get_i64("newJobs"), Ok(3));
    set_feed(&feed, rss_feed(&items(0..2, "a"))).await;
    let second = app.trigger(&source).await;
    assert_eq!(app.wait_final(&second).await.get_i64("closedJobs"), Ok(1));

    let jobs = app.db.collection::<Document>("jobs");
    let closed = jobs
        .find_one(doc! {"status": "closed"})
        .await
        .unwrap()
        .unwrap();
    let closed_id = closed.get_str("_id").unwrap().to_owned();
    let days_ago =
        |d: i64| job_importer::domain::time::format(&(Utc::now() - chrono::Duration::days(d)));
    // Closed 400 days ago; two more closed jobs, one recent and one without a closing time.
    jobs.update_one(
        doc! {"_id": &closed_id},
        doc! {"$set": {"closedAt": days_ago(400)}},
    )
    .await
    .unwrap();
    jobs.insert_many([
        doc! {"_id": "recent", "status": "closed", "closedAt": days_ago(100), "publisher": "x", "sources": []},
        doc! {"_id": "undated", "status": "closed", "publisher": "x", "sources": []},
    ])
    .await
    .unwrap();

    let p = connect(&s).await;
    let deleted = retention::apply(&p.store, &policy(), Utc::now())
        .await
        .unwrap();
    assert_eq!(deleted.jobs, 1);
    let left: BTreeSet<String> = app
        .jobs()
        .await
        .iter()
        .map(|d| d.get_str("_id").unwrap().to_owned())
        .collect();
    assert!(!left.contains(&closed_id));
    assert!(left.contains("recent") && left.contains("undated"));
    assert_eq!(left.len(), 4);

    // The job comes back: it is new again, stored again, and open.
    set_feed(&feed, rss_feed(&items(0..3, "a"))).await;
    let third = app.trigger(&source).await;
    let done = app.wait_final(&third).await;
    assert_eq!(done.get_str("status"), Ok("completed"));
    assert_eq!(done.get_i64("newJobs"), Ok(1), "{done}");
    assert_eq!(done.get_i64("unchangedJobs"), Ok(2));
    let back = jobs
        .find_one(doc! {"_id": &closed_id})
        .await
        .unwrap()
        .expect("stored again");
    assert_eq!(back.get_str("status"), Ok("open"));
    assert_eq!(back.get_str("createdByRun"), Ok(third.as_str()));
    app.cleanup().await;
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

#[tokio::test]
async fn one_daemon_applies_retention_per_interval_and_counts_it_on_metrics() {
    let mut s = test_settings();
    s.retention = policy();
    s.retention.runs_keep_per_source = 1;
    let client = mongodb::Client::with_uri_str(s.mongodb.uri.expose())
        .await
        .unwrap();
    let db = client.database(&s.mongodb.database);
    let old = Utc::now() - chrono::Duration::days(30);
    for i in 0..5 {
        let r = run(
            format!("r{i}"),
            "src",
            old - chrono::Duration::hours(i),
            RunStatus::Completed,
        );
        db.collection::<Document>("import_logs")
            .insert_one(mongodb::bson::to_document(&r).unwrap())
            .await
            .unwrap();
    }
    // Two daemons start; the first to take the lease applies retention at once.
    let a = TestApp::spawn_with(s.clone()).await;
    let b = TestApp::spawn_with(s.clone()).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while remaining_runs(&db).await.len() > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "retention did not run"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(remaining_runs(&db).await, BTreeSet::from(["r0".to_owned()]));
    let text = a.get("/metrics").await.text().await.unwrap();
    assert!(
        metric(&text, "job_importer_retention_runs_deleted_total") >= 4,
        "{text}"
    );
    assert!(text.contains("job_importer_retention_jobs_deleted_total"));

    // The lease is held for the interval: runs that age meanwhile wait for the next one.
    let client = redis::Client::open(redis_url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{}:lease:retention", s.redis.prefix))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(ttl > 3_500_000, "lease ttl {ttl} ms");
    let r = run(
        "late".into(),
        "src",
        old - chrono::Duration::days(1),
        RunStatus::Completed,
    );
    db.collection::<Document>("import_logs")
        .insert_one(mongodb::bson::to_document(&r).unwrap())
        .await
        .unwrap();
    let c = TestApp::spawn_with(s.clone()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(remaining_runs(&db).await.contains("late"));
    c.daemon.stop();
    b.daemon.stop();
    a.cleanup().await;
}
