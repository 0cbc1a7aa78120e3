//! Backfill against a loopback WordPress-style feed of five pages (`paged=N`, 404 past the
//! last), one of which fails once: one run reads every page, counts each posting once, notes
//! each page, and closes nothing.

use chrono::{Duration as Span, Utc};
use mongodb::bson::{Document, doc};
use serde_json::Value;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// A WordPress RSS page of postings `ids` (newest first).
fn wp_page(ids: &[u32]) -> Vec<u8> {
    let mut s = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Board</title>\
         <generator>https://wordpress.org/?v=6.4.2</generator>",
    );
    for &id in ids {
        let date = (Utc::now() - Span::hours(i64::from(id))).to_rfc2822();
        s.push_str(&format!(
            "<item><title>Job {id}</title><guid>https://board.example/?p={id}</guid>\
             <link>https://board.example/job/{id}</link><pubDate>{date}</pubDate></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s.into_bytes()
}

fn rss(body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/rss+xml")
}

async fn serve_page(server: &MockServer, page: u32, ids: &[u32]) {
    let m = Mock::given(method("GET")).and(path("/feed/"));
    let m = if page == 1 {
        m.and(query_param_is_missing("paged"))
    } else {
        m.and(query_param("paged", page.to_string()))
    };
    m.respond_with(rss(wp_page(ids))).mount(server).await;
}

async fn backfill(app: &TestApp, id: &str, query: &str) -> String {
    let r = app
        .post_json(&format!("/api/sources/{id}/backfill{query}"), &Value::Null)
        .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let v: Value = r.json().await.unwrap();
    assert!(v["run"]["backfill"].is_object(), "{v}");
    v["run"]["_id"].as_str().unwrap().to_owned()
}

fn pages(run: &Document) -> Vec<Document> {
    run.get_document("backfill")
        .unwrap()
        .get_array("pages")
        .unwrap()
        .iter()
        .map(|p| p.as_document().unwrap().clone())
        .collect()
}

fn int(d: &Document, k: &str) -> i64 {
    match d.get(k) {
        Some(mongodb::bson::Bson::Int32(v)) => i64::from(*v),
        Some(mongodb::bson::Bson::Int64(v)) => *v,
        other => panic!("{k}: {other:?}"),
    }
}

#[tokio::test]
async fn a_backfill_walks_every_page_as_one_exact_run_retries_a_failing_page_and_closes_nothing() {
    let mut s = test_settings();
    s.pipeline.backfill_page_delay_ms = 50;
    // Under `complete` with one missed run, any normal run that missed a job would close it.
    s.pipeline.close_after_missed_runs = 1;
    let app = TestApp::spawn_with(s).await;
    let server = MockServer::start().await;

    // Before: the board's page 1 listed one posting (0), since gone from every page.
    serve_page(&server, 1, &[0]).await;
    let r = app
        .post_json(
            "/api/sources",
            &serde_json::json!({
                "name": "Board", "url": format!("{}/feed/?feed=job_feed", server.uri()),
                "expiry": "complete",
            }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = app.trigger(&id).await;
    assert_eq!(
        app.wait_final(&first).await.get_str("status").unwrap(),
        "completed"
    );

    // Five pages of four; posting 8 is listed on pages 2 and 3 (it slid while being read).
    server.reset().await;
    let board: [&[u32]; 5] = [
        &[1, 2, 3, 4],
        &[5, 6, 7, 8],
        &[8, 9, 10, 11],
        &[12, 13, 14, 15],
        &[16, 17, 18, 19],
    ];
    // Page 3 fails once.
    Mock::given(method("GET"))
        .and(path("/feed/"))
        .and(query_param("paged", "3"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    for (i, ids) in board.iter().enumerate() {
        serve_page(&server, i as u32 + 1, ids).await;
    }

    let r = app
        .post_json(&format!("/api/sources/{id}/backfill?pages=0"), &Value::Null)
        .await;
    assert_eq!(r.status(), 400);
    let run_id = backfill(&app, &id, "?pages=10").await;
    let run = app.wait_final(&run_id).await;
    assert_eq!(run.get_str("status").unwrap(), "completed", "{run:?}");
    assert_eq!(int(&run, "newJobs"), 19);
    assert_eq!(int(&run, "duplicateJobs"), 1, "posting 8 counted once");
    assert_eq!(int(&run, "totalFetched"), 20);
    assert_eq!(int(&run, "closedJobs"), 0, "a backfill closes nothing");
    let walk = run.get_document("backfill").unwrap();
    assert_eq!(walk.get_str("pageParam").unwrap(), "paged");
    assert_eq!(
        walk.get_str("stopped").unwrap(),
        "last_page",
        "page 6 is a 404"
    );
    let pages = pages(&run);
    let numbers: Vec<i64> = pages.iter().map(|p| int(p, "page")).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
    assert_eq!(int(&pages[2], "attempts"), 2, "page 3 was fetched again");
    assert_eq!(int(&pages[2], "new"), 3, "posting 8 was new on page 2");
    assert!(pages.iter().all(|p| int(p, "items") == 4));

    let jobs = app.jobs().await;
    assert_eq!(jobs.len(), 20, "19 from the pages and the old posting");
    assert!(jobs.iter().all(|j| j.get_str("status").unwrap() == "open"));
    let source = app
        .db
        .collection::<Document>("source_state")
        .find_one(doc! {"_id": &id})
        .await
        .unwrap()
        .unwrap();
    let window = source.get_document("lastWindow").unwrap();
    assert_eq!(
        int(window, "items"),
        1,
        "the source's window is its last plain run's"
    );

    // Again: page 1 lists nothing new, so the walk stops there.
    let again = backfill(&app, &id, "").await;
    let run = app.wait_final(&again).await;
    assert_eq!(run.get_str("status").unwrap(), "completed");
    let walk = run.get_document("backfill").unwrap();
    assert_eq!(walk.get_str("stopped").unwrap(), "nothing_new");
    assert_eq!(int(&run, "unchangedJobs"), 4);
    assert_eq!(int(&run, "newJobs"), 0);
    app.cleanup().await;
}
