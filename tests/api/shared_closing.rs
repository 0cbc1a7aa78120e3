//! A job two sources carry, closed by one source's run while a run of the other lists it (found
//! by the fault soak, seed 1796662204): the closing applies only to the job as it was read, and
//! a complete run that listed the job reopens it if another source's run closed it meanwhile.
//! The interleavings are played step by step on the store.

use std::collections::HashSet;

use job_importer::domain::expiry::FeedWindow;
use job_importer::domain::{ClosedReason, Expiry};
use job_importer::store::Store;
use job_importer::store::mongo::expiry::Judge;
use mongodb::bson::{Document, doc};

use crate::helpers::scratch_store;

async fn store() -> Store {
    scratch_store("shared").await
}

/// Job `x` of publisher p, carried by `a` and `b`; `a`'s last complete run missed it once.
async fn shared_job(s: &Store) {
    s.database()
        .collection::<Document>("jobs")
        .insert_one(doc! {
            "_id": "p|x", "publisher": "p", "externalId": "x", "title": "x",
            "status": "open", "sources": ["a", "b"], "missed": {"a": 1_i64, "b": 0_i64},
            "firstSeenAt": "2026-01-01T00:00:00Z",
        })
        .await
        .unwrap();
}

async fn job(s: &Store) -> Document {
    s.database()
        .collection::<Document>("jobs")
        .find_one(doc! {"_id": "p|x"})
        .await
        .unwrap()
        .unwrap()
}

fn closing(run: &str) -> Document {
    doc! {"$set": {
        "status": "closed", "closedAt": "2026-01-02T00:00:00Z", "closedByRun": run,
        "closedReason": ClosedReason::MissingFromFeed.as_str(),
    }}
}

#[tokio::test]
async fn a_closing_applies_only_to_the_job_as_it_was_read() {
    let s = store().await;
    shared_job(&s).await;
    let jobs = s.database().collection::<Document>("jobs");
    // b's run end counts its miss and reads the job: every carrier missed it once.
    jobs.update_one(doc! {"_id": "p|x"}, doc! {"$set": {"missed.b": 1_i64}})
        .await
        .unwrap();
    let read = vec![job(&s).await];
    let ids: HashSet<&str> = ["p|x"].into();
    // Meanwhile a batch of a's run lists the job again: a's count starts from zero.
    jobs.update_one(doc! {"_id": "p|x"}, doc! {"$set": {"missed.a": 0_i64}})
        .await
        .unwrap();
    assert_eq!(
        s.close_as_read(&read, &ids, 1, &closing("rb"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(job(&s).await.get_str("status").unwrap(), "open");
    // A third source claims it between the read and the closing: open too.
    jobs.update_one(
        doc! {"_id": "p|x"},
        doc! {"$set": {"missed.a": 1_i64}, "$addToSet": {"sources": "c"}},
    )
    .await
    .unwrap();
    let stale = read;
    assert_eq!(
        s.close_as_read(&stale, &ids, 1, &closing("rb"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(job(&s).await.get_str("status").unwrap(), "open");
    // Once every carrier, c too, has missed it, a closing read so applies.
    jobs.update_one(doc! {"_id": "p|x"}, doc! {"$set": {"missed.c": 1_i64}})
        .await
        .unwrap();
    let fresh = vec![job(&s).await];
    assert_eq!(
        s.close_as_read(&fresh, &ids, 1, &closing("rb"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(job(&s).await.get_str("status").unwrap(), "closed");
    s.database().drop().await.ok();
}

#[tokio::test]
async fn a_complete_run_reopens_a_job_it_listed_that_another_sources_run_closed_meanwhile() {
    let s = store().await;
    shared_job(&s).await;
    let since = "2000-01-01T00:00:00Z";
    let listed = || async { Ok(HashSet::from(["p|x".to_owned()])) };
    // No closing of a's jobs by another source's run: nothing is read, nothing reopened.
    assert_eq!(s.reopen_listed("a", "ra", since, listed).await.unwrap(), 0);
    // b's run misses the job (a had missed it once too) and closes it, while a's run is
    // reading its feed, which lists the job; the batch's write came too late to stop it.
    let window = FeedWindow::default();
    let judge = Judge {
        expiry: Expiry::Complete,
        window: &window,
    };
    let (closed, _) = s
        .close_missing("b", "rb", &HashSet::new(), 1, &judge)
        .await
        .unwrap();
    assert_eq!(closed, 1);
    assert_eq!(job(&s).await.get_str("status").unwrap(), "closed");
    // a's run ends: the job it listed is open again, counted and recorded once.
    assert_eq!(s.reopen_listed("a", "ra", since, listed).await.unwrap(), 1);
    let j = job(&s).await;
    assert_eq!(j.get_str("status").unwrap(), "open");
    assert_eq!(j.get_document("missed").unwrap().get_i64("a").unwrap(), 0);
    // A repeated end reports the same and records nothing twice.
    assert_eq!(s.reopen_listed("a", "ra", since, listed).await.unwrap(), 1);
    let changes = s
        .database()
        .collection::<Document>("job_changes")
        .count_documents(doc! {"jobId": "p|x", "kind": "reopened"})
        .await
        .unwrap();
    assert_eq!(changes, 1);
    // A run that did not list it leaves it closed.
    s.close_missing("b", "rb2", &HashSet::new(), 1, &judge)
        .await
        .unwrap();
    let none = || async { Ok(HashSet::new()) };
    assert_eq!(s.reopen_listed("a", "ra2", since, none).await.unwrap(), 0);
    s.database().drop().await.ok();
}
