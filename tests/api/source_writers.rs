//! A source's definition has one kind of writer (the API, the command line, the config file);
//! what runs and the scheduler learn about it is kept apart (`store::mongo::source_state`).
//! On FerretDB, which can lose one of two concurrent updates of one document, an edit made
//! while runs end and the scheduler writes the next run was sometimes lost.

use std::time::Duration;

use chrono::Utc;
use job_importer::domain::expiry::FeedWindow;
use job_importer::domain::{ImportRun, RunStatus, Source, Trigger};
use job_importer::store::Store;
use mongodb::bson::{Document, doc};

use crate::helpers::scratch_store;

async fn store() -> Store {
    scratch_store("writers").await
}

/// The source's document in `sources` holds none of what runs and the scheduler write.
async fn assert_definition_only(s: &Store, id: &str) {
    let d = s
        .database()
        .collection::<Document>("sources")
        .find_one(doc! {"_id": id})
        .await
        .unwrap()
        .unwrap();
    for f in ["health", "etag", "lastModified", "lastWindow", "jobFacts"] {
        assert!(d.get(f).is_none(), "{f} on the definition: {d}");
    }
}

#[tokio::test]
async fn edits_run_ends_and_the_scheduler_never_undo_each_other() {
    let s = store().await;
    let source = Source::new("w", "edit 0", "https://example.com/feed", "0 0 * * * *");
    s.insert_source(&source).await.unwrap();
    const ROUNDS: usize = 150;

    // The API's side: an edit, then a read of what it wrote.
    let editor = {
        let s = s.clone();
        let mut source = source.clone();
        tokio::spawn(async move {
            let mut lost = Vec::new();
            for i in 1..=ROUNDS {
                source.name = format!("edit {i}");
                s.update_source(&source).await.unwrap().unwrap();
                tokio::time::sleep(Duration::from_millis(3)).await;
                let now = s.get_source("w").await.unwrap().unwrap();
                if now.name != source.name {
                    lost.push(format!("{} read as `{}`", source.name, now.name));
                }
            }
            lost
        })
    };
    // The daemon's side: the scheduler's next run, a run's end (health and window).
    let daemon = {
        let s = s.clone();
        tokio::spawn(async move {
            let mut lost = Vec::new();
            for i in 1..=ROUNDS {
                let next = Utc::now() + chrono::Duration::seconds(i as i64);
                s.set_next_run("w", Some(next)).await.unwrap();
                let mut run = ImportRun::new_queued(
                    format!("run-{i}"),
                    "w",
                    "edit",
                    "https://example.com/feed",
                    Trigger::Manual,
                    Utc::now(),
                );
                run.status = RunStatus::Completed;
                s.record_source_outcome(&run).await.unwrap();
                let window = FeedWindow {
                    items: i as i64,
                    ..FeedWindow::default()
                };
                s.save_window("w", &window).await.unwrap();
                tokio::time::sleep(Duration::from_millis(3)).await;
                let now = s.get_source("w").await.unwrap().unwrap();
                if now.health.last_run_id.as_deref() != Some(run.id.as_str()) {
                    lost.push(format!("{} read as {:?}", run.id, now.health.last_run_id));
                }
                if now.last_window.map(|w| w.items) != Some(i as i64) {
                    lost.push(format!("window {i} lost"));
                }
                if now.health.next_run_at.map(|t| t.timestamp()) != Some(next.timestamp()) {
                    lost.push(format!("next run {i} lost"));
                }
            }
            lost
        })
    };
    let (edits, writes) = (editor.await.unwrap(), daemon.await.unwrap());
    assert!(edits.is_empty(), "edits lost: {edits:?}");
    assert!(writes.is_empty(), "run ends or next runs lost: {writes:?}");
    let last = s.get_source("w").await.unwrap().unwrap();
    assert_eq!(last.name, format!("edit {ROUNDS}"));
    assert_eq!(last.health.last_run_id, Some(format!("run-{ROUNDS}")));
    // The definition carries none of it.
    assert_definition_only(&s, "w").await;
    s.database().drop().await.unwrap();
}

#[tokio::test]
async fn the_state_an_earlier_version_kept_on_a_source_is_moved_at_start() {
    let s = store().await;
    let source = Source::new("old", "Old", "https://example.com/old", "0 0 * * * *");
    let mut d = mongodb::bson::to_document(&source).unwrap();
    d.insert("readingKey", source.reading_key());
    d.insert(
        "health",
        doc! {"consecutiveFailures": 2_i64, "lastRunId": "r9", "lastStatus": "failed",
        "nextRunAt": "2026-12-07T10:00:00Z"},
    );
    d.insert("etag", "\"v7\"");
    d.insert("lastModified", "Mon, 07 Dec 2026 09:00:00 GMT");
    d.insert("lastWindow", doc! {"items": 40_i64, "undated": 0_i64});
    d.insert("jobFacts", doc! {"dated": true});
    let sources = s.database().collection::<Document>("sources");
    sources.insert_one(d).await.unwrap();

    for _ in 0..2 {
        // A start, and a second one (another daemon, a restart) that finds it moved.
        s.ensure_indexes().await.unwrap();
        let read = s.get_source("old").await.unwrap().unwrap();
        assert_eq!(read.health.consecutive_failures, 2);
        assert_eq!(read.health.last_run_id.as_deref(), Some("r9"));
        assert_eq!(read.etag.as_deref(), Some("\"v7\""));
        assert!(read.last_modified.is_some());
        assert_eq!(read.last_window.map(|w| w.items), Some(40));
        assert_eq!(s.job_facts("old").await.unwrap().dated, Some(true));
        assert_definition_only(&s, "old").await;
    }
    // The moved validators belong to the URL they were answered for.
    let mut moved = s.get_source("old").await.unwrap().unwrap();
    moved.url = "https://example.com/new".into();
    let edited = s.update_source(&moved).await.unwrap().unwrap();
    assert_eq!(edited.etag, None);
    assert_eq!(edited.last_modified, None);
    assert_eq!(edited.health.consecutive_failures, 2, "the health stays");
    s.database().drop().await.unwrap();
}

#[tokio::test]
async fn a_removed_source_leaves_no_state_for_one_created_with_its_id() {
    let s = store().await;
    let source = Source::new("r", "R", "https://example.com/r", "0 0 * * * *");
    s.insert_source(&source).await.unwrap();
    let mut run = ImportRun::new_queued(
        "run-1".into(),
        "r",
        "R",
        &source.url,
        Trigger::Manual,
        Utc::now(),
    );
    run.status = RunStatus::Failed;
    s.record_source_outcome(&run).await.unwrap();
    s.set_next_run("r", Some(Utc::now())).await.unwrap();
    assert_eq!(
        s.get_source("r")
            .await
            .unwrap()
            .unwrap()
            .health
            .consecutive_failures,
        1
    );
    assert!(s.remove_source("r", true).await.unwrap());
    s.insert_source(&source).await.unwrap();
    let again = s.get_source("r").await.unwrap().unwrap();
    assert_eq!(again.health, Default::default());
    let facts = s.job_facts("r").await.unwrap();
    assert_eq!(
        facts.dated,
        Some(false),
        "a new source: no job carries it yet"
    );
    s.database().drop().await.unwrap();
}
