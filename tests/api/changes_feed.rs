//! The changes feed (`GET /api/jobs/changes`): read page by page through both daemons while
//! both import, it lists every change exactly once, in one gapless order.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

const SOURCES: usize = 3;

/// A feed of `range` items of source `s`, their descriptions of `edition`.
fn feed(s: usize, range: std::ops::Range<usize>, edition: &str) -> Vec<u8> {
    let items: Vec<(String, String, String)> = range
        .map(|i| {
            (
                format!("s{s}-job-{i}"),
                format!("Job {i} of {s}"),
                format!("Description {i} {edition}"),
            )
        })
        .collect();
    rss_feed(&items)
}

/// Ids of source `s`'s jobs `range`, as stored.
fn ids(s: usize, range: std::ops::Range<usize>) -> Vec<String> {
    range
        .map(|i| {
            job_importer::store::mongo::jobs::job_id(
                "example.com",
                &format!("https://example.com/jobs/s{s}-job-{i}"),
            )
        })
        .collect()
}

type Change = (String, String, String);

async fn page(app: &TestApp, cursor: &str) -> (Vec<Value>, String, bool) {
    let (status, v) = get_json(app, &format!("/api/jobs/changes?cursor={cursor}&limit=7")).await;
    assert_eq!(status, 200, "{v}");
    (
        v["changes"].as_array().unwrap().clone(),
        v["nextCursor"].as_str().unwrap().to_owned(),
        v["hasMore"].as_bool().unwrap(),
    )
}

#[tokio::test]
async fn the_changes_cursor_read_during_imports_on_two_daemons_misses_none_and_repeats_none() {
    let servers: Vec<_> =
        futures_util::future::join_all((0..SOURCES).map(|s| serve_feed(feed(s, 0..60, "a")))).await;
    let mut s = test_settings();
    s.scheduler.run_missed_on_start = false;
    s.pipeline.batch_size = 8;
    s.pipeline.close_after_missed_runs = 1;
    for (i, server) in servers.iter().enumerate() {
        s.sources.push(
            serde_json::from_value(json!({
                "name": format!("feed {i}"), "id": format!("feed-{i}"),
                "url": format!("{}/feed.xml", server.uri()),
                "publisher": "example.com", "expiry": "complete", "cron": "0 0 0 1 1 *",
            }))
            .unwrap(),
        );
    }
    let a = TestApp::spawn_with(s.clone()).await;
    let b = TestApp::spawn_with(s).await;

    // A reader follows the feed through both daemons in turn, from the first change on.
    let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
    let reader = {
        let (ua, ub) = (a.daemon.base_url(), b.daemon.base_url());
        let http = a.http.clone();
        tokio::spawn(async move {
            let mut seen: Vec<Value> = Vec::new();
            let mut cursor = String::new();
            let mut turn = 0usize;
            let mut finishing = false;
            loop {
                let base = if turn.is_multiple_of(2) { &ua } else { &ub };
                turn += 1;
                let v: Value = http
                    .get(format!("{base}/api/jobs/changes?cursor={cursor}&limit=7"))
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let changes = v["changes"].as_array().unwrap().clone();
                let more = v["hasMore"].as_bool().unwrap();
                cursor = v["nextCursor"].as_str().unwrap().to_owned();
                seen.extend(changes);
                if finishing && !more {
                    return seen;
                }
                if !more {
                    if *done_rx.borrow_and_update() {
                        // One more full pass after the imports ended.
                        finishing = true;
                        continue;
                    }
                    tokio::time::sleep(Duration::from_millis(15)).await;
                }
            }
        })
    };

    let mut expected: BTreeSet<Change> = BTreeSet::new();
    let expect = |set: &mut BTreeSet<Change>, ids: Vec<String>, kind: &str, run: &str| {
        for id in ids {
            set.insert((id, kind.to_owned(), run.to_owned()));
        }
    };
    let round = async |n: usize| -> Vec<String> {
        let mut runs = Vec::new();
        for s in 0..SOURCES {
            let app = if (s + n).is_multiple_of(2) { &a } else { &b };
            runs.push(app.trigger(&format!("feed-{s}")).await);
        }
        for r in &runs {
            let d = a.wait_final(r).await;
            assert_eq!(d.get_str("status").unwrap(), "completed", "{d}");
        }
        runs
    };

    // 1: sixty new jobs per source.
    let runs = round(0).await;
    for (s, r) in runs.iter().enumerate() {
        expect(&mut expected, ids(s, 0..60), "new", r);
    }
    // 2: 0..20 gone (closed), 20..60 changed, 60..80 new.
    for (s, server) in servers.iter().enumerate() {
        set_feed(server, feed(s, 20..80, "b")).await;
    }
    let runs = round(1).await;
    for (s, r) in runs.iter().enumerate() {
        expect(&mut expected, ids(s, 0..20), "closed", r);
        expect(&mut expected, ids(s, 20..60), "updated", r);
        expect(&mut expected, ids(s, 60..80), "new", r);
    }
    // 3: 0..20 back (reopened, and changed since), 20..40 unchanged, 40..80 gone.
    for (s, server) in servers.iter().enumerate() {
        set_feed(server, feed(s, 0..40, "b")).await;
    }
    let runs = round(2).await;
    for (s, r) in runs.iter().enumerate() {
        expect(&mut expected, ids(s, 0..20), "reopened", r);
        expect(&mut expected, ids(s, 0..20), "updated", r);
        expect(&mut expected, ids(s, 40..80), "closed", r);
    }
    done_tx.send(true).unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the reader catches up")
        .unwrap();

    let seqs: Vec<i64> = seen.iter().map(|c| c["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seen.len() as i64).collect::<Vec<_>>(),
        "positions are 1, 2, 3, ... as read"
    );
    let mut counts: HashMap<Change, usize> = HashMap::new();
    for c in &seen {
        let key = (
            c["jobId"].as_str().unwrap().to_owned(),
            c["kind"].as_str().unwrap().to_owned(),
            c["runId"].as_str().unwrap().to_owned(),
        );
        *counts.entry(key).or_default() += 1;
    }
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(repeated.is_empty(), "repeated: {repeated:?}");
    let got: BTreeSet<Change> = counts.into_keys().collect();
    let missed: Vec<_> = expected.difference(&got).take(5).collect();
    let extra: Vec<_> = got.difference(&expected).take(5).collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "missed {missed:?}; not expected {extra:?}"
    );
    assert_eq!(got.len(), SOURCES * (60 + 20 + 40 + 20 + 20 + 20 + 40));

    // The cursor is resumable: from the middle, the rest in the same order.
    let mid = seen[seen.len() / 2 - 1]["seq"].as_i64().unwrap();
    let (rest, _, _) = page(&a, &mid.to_string()).await;
    assert_eq!(rest[0], seen[seen.len() / 2]);
    // And the end: nothing more, the same cursor back.
    let last = seqs.last().unwrap().to_string();
    let (none, next, more) = page(&b, &last).await;
    assert!(none.is_empty() && next == last && !more);
    b.daemon.stop();
    a.cleanup().await;
}

#[tokio::test]
async fn a_cursor_past_what_retention_deleted_is_refused_and_a_bad_one_is_a_validation_error() {
    use job_importer::domain::job_change::{ChangeKind, NewChange};
    let app = TestApp::spawn().await;
    let store =
        job_importer::store::Store::connect(&mongo_uri(), app.db.name(), Duration::from_secs(3))
            .await
            .unwrap();
    let changes: Vec<NewChange> = (0..5)
        .map(|i| NewChange::by_run(&format!("job-{i}"), ChangeKind::New, "src", "run-1"))
        .collect();
    store.record_changes(&changes).await.unwrap();
    // Recorded again (a redelivery): stored once.
    store.record_changes(&changes[..3]).await.unwrap();
    let (all, next, more) = page(&app, "").await;
    assert_eq!(all.len(), 5);
    assert_eq!((next.as_str(), more), ("5", false));

    // Retention deletes everything older than now but the newest.
    let far = job_importer::domain::time::format(&(chrono::Utc::now() + chrono::Duration::days(1)));
    assert_eq!(store.prune_changes(&far).await.unwrap(), 4);
    let (status, v) = get_json(&app, "/api/jobs/changes?cursor=2").await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (410, Some("changes.cursor_expired")),
        "{v}"
    );
    // From the newest kept one on, nothing is missing; new changes continue the sequence.
    store
        .record_changes(&[NewChange::by_run(
            "job-9",
            ChangeKind::Closed,
            "src",
            "run-2",
        )])
        .await
        .unwrap();
    let (after, _, _) = page(&app, "5").await;
    assert_eq!(after.len(), 1);
    assert_eq!(
        (after[0]["seq"].as_i64(), after[0]["kind"].as_str()),
        (Some(6), Some("closed"))
    );

    for bad in ["abc", "-1", "99"] {
        let (status, v) = get_json(&app, &format!("/api/jobs/changes?cursor={bad}")).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (400, Some("validation.cursor")),
            "{bad}: {v}"
        );
    }
    let (status, v) = get_json(&app, "/api/jobs/changes?limit=1001").await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("validation.limit")),
        "{v}"
    );
    app.cleanup().await;
}

/// Writers appending at once (four workers' batches) take turns when Redis is there, and
/// without it still leave one gapless sequence; a change passed as fresh that was recorded
/// already (its job deleted and written again by the same run) is stored once.
#[tokio::test]
async fn concurrent_appends_leave_one_gapless_sequence_with_each_change_once() {
    use job_importer::domain::job_change::{ChangeKind, NewChange};
    use job_importer::store::Store;
    let settings = test_settings();
    let app = TestApp::spawn_with(settings.clone()).await;
    let plain = Store::connect(&mongo_uri(), app.db.name(), Duration::from_secs(3))
        .await
        .unwrap();
    let redis = job_importer::store::redis::Redis::connect(&settings.redis)
        .await
        .unwrap();
    let turns = plain.clone().with_index(redis);
    let batch = |w: usize, n: usize| -> Vec<NewChange> {
        (0..n)
            .map(|i| NewChange::by_run(&format!("w{w}-job-{i}"), ChangeKind::New, "src", "run-1"))
            .collect()
    };
    let mut writers = Vec::new();
    for w in 0..6 {
        let store = if w % 2 == 0 {
            turns.clone()
        } else {
            plain.clone()
        };
        let changes = batch(w, 150);
        writers.push(tokio::spawn(async move {
            store.record_changes_with(&changes, &[]).await
        }));
    }
    for w in writers {
        w.await.unwrap().unwrap();
    }
    // Writer 0's changes again, as fresh: each collides on its key and is skipped.
    turns
        .record_changes_with(&batch(0, 150), &[])
        .await
        .unwrap();
    let mut seqs = Vec::new();
    let mut keys = BTreeSet::new();
    let mut cursor = String::new();
    loop {
        let (changes, next, more) = page(&app, &cursor).await;
        for c in &changes {
            seqs.push(c["seq"].as_i64().unwrap());
            assert!(
                keys.insert(format!("{}:{}", c["jobId"], c["kind"])),
                "repeated: {c}"
            );
        }
        cursor = next;
        if !more {
            break;
        }
    }
    assert_eq!(seqs, (1..=900).collect::<Vec<i64>>());
    assert_eq!(keys.len(), 900);
    app.cleanup().await;
}
