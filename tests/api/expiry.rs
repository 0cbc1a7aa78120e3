//! Window-aware expiry against generated feeds that list only their newest postings: jobs
//! that slide out of the window stay open, jobs removed inside it close, and jobs an earlier
//! rule closed while outside the window are judged again.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use wiremock::MockServer;

use crate::helpers::*;

/// One posting on the generated board.
#[derive(Clone)]
struct Posting {
    id: u32,
    open: bool,
    /// The feed states an expiry date: in the past (`Some(true)`) or years ahead.
    expired: Option<bool>,
}

fn posted(id: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap() + Span::hours(i64::from(id))
}

fn guid(id: u32) -> String {
    format!("https://board.example/jobs/{id}")
}

/// An RSS feed of the given postings (newest first), each with its posting date.
fn dated_feed(ids: &[u32]) -> Vec<u8> {
    let none: Vec<(u32, Option<DateTime<Utc>>)> = ids.iter().map(|&id| (id, None)).collect();
    feed_with_expiry(&none)
}

/// An RSS feed of postings (newest first) with their posting dates and, for some, an
/// `expires_at` as We Work Remotely writes it.
fn feed_with_expiry(items: &[(u32, Option<DateTime<Utc>>)]) -> Vec<u8> {
    let mut s = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\" xmlns:job_listing=\"https://board.example\">\
         <channel><title>Board</title>",
    );
    for &(id, expires) in items {
        let expires = expires
            .map(|t| format!("<expires_at>{}</expires_at>", t.to_rfc2822()))
            .unwrap_or_default();
        s.push_str(&format!(
            "<item><title>Job {id}</title><guid>{g}</guid><link>{g}</link>\
             <pubDate>{date}</pubDate><job_listing:company>Co {id}</job_listing:company>\
             {expires}</item>",
            g = guid(id),
            date = posted(id).to_rfc2822(),
        ));
    }
    s.push_str("</channel></rss>");
    s.into_bytes()
}

/// The board's newest open postings, as a window of `size` lists them.
fn window(board: &[Posting], size: usize) -> Vec<&Posting> {
    board.iter().rev().filter(|p| p.open).take(size).collect()
}

fn expiry_of(p: &Posting) -> Option<DateTime<Utc>> {
    p.expired.map(|past| match past {
        true => Utc::now() - Span::days(3),
        false => Utc::now() + Span::days(400),
    })
}

async fn jobs_where(app: &TestApp, filter: Document) -> Vec<Document> {
    app.db
        .collection::<Document>("jobs")
        .find(filter)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

async fn open_ids(app: &TestApp) -> BTreeSet<String> {
    jobs_where(app, doc! {"status": "open"})
        .await
        .iter()
        .map(|j| j.get_str("externalId").unwrap().to_owned())
        .collect()
}

async fn patch_source(app: &TestApp, id: &str, body: Value) -> Value {
    let r = app
        .http
        .patch(app.url(&format!("/api/sources/{id}")))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn spawn_for_feed(after: u32) -> (TestApp, MockServer) {
    let mut s = test_settings();
    s.pipeline.close_after_missed_runs = after;
    s.pipeline.batch_size = 4;
    s.http.rate_limit_trigger_per_minute = 0;
    let app = TestApp::spawn_with(s).await;
    let server = serve_feed(dated_feed(&[])).await;
    (app, server)
}

#[tokio::test]
async fn open_jobs_equal_the_board_over_many_runs_of_a_sliding_window() {
    const WINDOW: usize = 8;
    const RUNS: usize = 14;
    let seed: u64 = std::env::var("EXPIRY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("window expiry scenario seed: {seed} (EXPIRY_SEED={seed} replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let (app, server) = spawn_for_feed(1).await;
    let source = app
        .create_source("Board", &format!("{}/feed.xml", server.uri()))
        .await;
    let mut board: Vec<Posting> = (0..20)
        .map(|id| Posting {
            id,
            open: true,
            expired: None,
        })
        .collect();
    // Every posting a feed has listed; the database knows no other.
    let mut listed: BTreeSet<u32> = BTreeSet::new();
    for step in 0..RUNS {
        if step > 0 {
            let added = rng.random_range(0..=2usize);
            let removed = rng.random_range(0..=2usize);
            // Removed postings are taken from ranks that the next window still covers, so
            // their absence is evidence; the rest of the board just slides.
            let newest_open: Vec<usize> = (0..board.len())
                .rev()
                .filter(|&i| board[i].open)
                .take(WINDOW - added - removed)
                .collect();
            for _ in 0..removed {
                let pick = newest_open[rng.random_range(0..newest_open.len())];
                board[pick].open = false;
            }
            for _ in 0..added {
                let id = board.len() as u32;
                // Some postings state when they expire: years ahead, or already past.
                let expired = match rng.random_range(0..10) {
                    0 => Some(true),
                    1 | 2 => Some(false),
                    _ => None,
                };
                board.push(Posting {
                    id,
                    open: true,
                    expired,
                });
            }
        }
        let listing = window(&board, WINDOW);
        let feed: Vec<u32> = listing.iter().map(|p| p.id).collect();
        let items: Vec<_> = listing.iter().map(|p| (p.id, expiry_of(p))).collect();
        listed.extend(&feed);
        set_feed(&server, feed_with_expiry(&items)).await;
        let run = app.wait_final(&app.trigger(&source).await).await;
        assert_eq!(
            run.get_str("status").unwrap(),
            "completed",
            "seed {seed}: {run}"
        );
        let truth: BTreeSet<String> = board
            .iter()
            .filter(|p| p.open && p.expired != Some(true) && listed.contains(&p.id))
            .map(|p| guid(p.id))
            .collect();
        assert_eq!(
            open_ids(&app).await,
            truth,
            "seed {seed}, run {step}: open jobs differ from the board"
        );
        let w = run.get_document("window").unwrap();
        let oldest = feed.iter().min().map(|&id| posted(id)).unwrap();
        assert_eq!(w.get_i64("items").unwrap(), feed.len() as i64);
        assert_eq!(
            w.get_str("oldest").unwrap(),
            job_importer::domain::time::format(&oldest),
            "seed {seed}, run {step}"
        );
    }
    // Every closed job says why and when; the source shows the last window.
    for j in jobs_where(&app, doc! {"status": "closed"}).await {
        let id: u32 = j.get_str("externalId").unwrap()[guid(0).len() - 1..]
            .parse()
            .unwrap();
        let why = if board[id as usize].expired == Some(true) {
            "expired"
        } else {
            "missing_from_feed"
        };
        assert_eq!(j.get_str("closedReason").unwrap(), why, "seed {seed}: {j}");
        assert!(j.get_str("closedAt").is_ok());
    }
    let (status, shown) = get_json(&app, &format!("/api/sources/{source}")).await;
    assert_eq!(status, 200);
    assert_eq!(shown["expiry"], "window");
    assert_eq!(shown["lastWindow"]["items"], WINDOW as i64);
    app.cleanup().await;
}

/// Removes what a source knows about its jobs (`jobFacts`), as a daemon of an earlier version
/// wrote the source: its run ends must then look at the jobs.
async fn forget_job_facts(app: &TestApp, source: &str) {
    let r = app
        .db
        .collection::<Document>("source_facts")
        .update_one(doc! {"_id": source}, doc! {"$unset": {"jobFacts": ""}})
        .await
        .unwrap();
    assert_eq!(r.matched_count, 1);
    app.db
        .collection::<Document>("source_marks")
        .delete_many(doc! {"_id": {"$in": [format!("{source}|new"), format!("{source}|stored")]}})
        .await
        .unwrap();
}

async fn marks(app: &TestApp, source: &str) -> BTreeSet<String> {
    jobs_marks(app)
        .await
        .into_iter()
        .filter(|m| m.starts_with(&format!("{source}|")))
        .collect()
}

async fn jobs_marks(app: &TestApp) -> Vec<String> {
    app.db
        .collection::<Document>("source_marks")
        .find(doc! {})
        .await
        .unwrap()
        .try_collect::<Vec<Document>>()
        .await
        .unwrap()
        .iter()
        .map(|d| d.get_str("_id").unwrap().to_owned())
        .collect()
}

async fn job_facts(app: &TestApp, source: &str) -> Document {
    app.db
        .collection::<Document>("source_facts")
        .find_one(doc! {"_id": source})
        .await
        .unwrap()
        .unwrap()
        .get_document("jobFacts")
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn jobs_closed_by_the_complete_rule_outside_the_window_reopen_under_the_window_rule() {
    closed_outside_the_window_reopen(false).await;
}

#[tokio::test]
async fn a_source_written_before_job_facts_still_reopens_jobs_closed_outside_the_window() {
    closed_outside_the_window_reopen(true).await;
}

async fn closed_outside_the_window_reopen(legacy: bool) {
    let (app, server) = spawn_for_feed(1).await;
    let r = app
        .post_json(
            "/api/sources",
            &json!({"name": "Full", "url": format!("{}/feed.xml", server.uri()), "expiry": "complete"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["expiry"], "complete");
    let source = created["_id"].as_str().unwrap().to_owned();
    // Jobs 0-5, then the window slides by two (0 and 1 fall out, still open on the board),
    // and job 4 is really removed.
    set_feed(&server, dated_feed(&[5, 4, 3, 2, 1, 0])).await;
    app.wait_final(&app.trigger(&source).await).await;
    set_feed(&server, dated_feed(&[7, 6, 5, 3, 2])).await;
    let run = app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(
        run.get_i64("closedJobs").unwrap(),
        3,
        "the complete rule: {run}"
    );
    let closed = jobs_where(&app, doc! {"status": "closed"}).await;
    assert!(
        closed
            .iter()
            .all(|j| j.get_str("closedReason").unwrap() == "missing_from_feed")
    );

    // Job 0 as a daemon before expiry modes left it: closed with no reason nor rule.
    app.db
        .collection::<Document>("jobs")
        .update_one(
            doc! {"externalId": guid(0)},
            doc! {"$unset": {"closedReason": "", "closedUnder": ""}},
        )
        .await
        .unwrap();
    if legacy {
        forget_job_facts(&app, &source).await;
    } else {
        // Both closings were counted, before and after each.
        let facts = job_facts(&app, &source).await;
        assert_eq!(facts.get_i64("closedOutsideWindow"), Ok(2), "{facts}");
    }
    let patched = patch_source(&app, &source, json!({"expiry": "window"})).await;
    assert_eq!(patched["expiry"], "window");
    let run = app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(run.get_i64("reopenedJobs").unwrap(), 2, "{run}");
    let facts = job_facts(&app, &source).await;
    let judged = facts.get_document("windowJudged").unwrap();
    assert_eq!(judged.get_str("runId"), run.get_str("_id"), "{facts}");
    assert_eq!(judged.get_i64("reopened"), Ok(2), "{facts}");
    assert_eq!(run.get_i64("closedJobs").unwrap(), 0, "{run}");
    let open = open_ids(&app).await;
    let expected: BTreeSet<String> = [0, 1, 2, 3, 5, 6, 7].into_iter().map(guid).collect();
    assert_eq!(open, expected);
    let reopened = jobs_where(&app, doc! {"externalId": guid(0)}).await;
    assert!(reopened[0].get_str("reopenedAt").is_ok());
    assert_eq!(
        reopened[0].get("closedReason"),
        Some(&mongodb::bson::Bson::Null)
    );
    // Job 4 stays closed (it was inside the window), and is judged only once: a later run
    // whose window no longer covers it does not reopen it.
    set_feed(&server, dated_feed(&[9, 8, 7, 6, 5])).await;
    let run = app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(run.get_i64("reopenedJobs").unwrap_or(0), 0, "{run}");
    let four = jobs_where(&app, doc! {"externalId": guid(4)}).await;
    assert_eq!(four[0].get_str("status").unwrap(), "closed");
    app.cleanup().await;
}

#[tokio::test]
async fn a_source_that_never_expires_keeps_jobs_missing_from_its_feed_open() {
    let (app, server) = spawn_for_feed(1).await;
    let source = app
        .create_source("Never", &format!("{}/feed.xml", server.uri()))
        .await;
    patch_source(&app, &source, json!({"expiry": "never"})).await;
    set_feed(&server, dated_feed(&[3, 2, 1, 0])).await;
    app.wait_final(&app.trigger(&source).await).await;
    set_feed(&server, dated_feed(&[3])).await;
    let run = app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(run.get_i64("closedJobs").unwrap(), 0, "{run}");
    assert_eq!(open_ids(&app).await.len(), 4);
    let bad = app
        .http
        .patch(app.url(&format!("/api/sources/{source}")))
        .bearer_auth(TOKEN)
        .json(&json!({"expiry": "sometimes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    app.cleanup().await;
}

#[tokio::test]
async fn a_job_whose_valid_through_has_passed_closes_at_the_end_of_its_sources_run() {
    passed_valid_through_closes_at_run_end(false).await;
}

#[tokio::test]
async fn a_source_written_before_job_facts_still_closes_expired_jobs_at_its_runs_end() {
    passed_valid_through_closes_at_run_end(true).await;
}

/// What a source knows about its jobs follows its runs: a new source has no dated ones, and
/// has some once a batch writes one.
#[tokio::test]
async fn a_source_knows_whether_it_carries_dated_jobs() {
    let (app, server) = spawn_for_feed(3).await;
    let source = app
        .create_source("Facts", &format!("{}/feed.xml", server.uri()))
        .await;
    let facts = job_facts(&app, &source).await;
    assert_eq!(facts.get_bool("dated"), Ok(false), "{facts}");
    // Marked new: its first run's end needs no read of the jobs.
    assert_eq!(
        marks(&app, &source).await,
        BTreeSet::from([format!("{source}|new")])
    );
    set_feed(&server, dated_feed(&[2, 1])).await;
    let run = app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(run.get_i64("newJobs").unwrap(), 2, "{run}");
    assert_eq!(
        marks(&app, &source).await,
        BTreeSet::from([format!("{source}|new"), format!("{source}|stored")])
    );
    // Job 2 leaves the feed: the next run counts it missed (after 3 runs it would close),
    // known from the index set that started complete.
    set_feed(&server, dated_feed(&[1])).await;
    app.wait_final(&app.trigger(&source).await).await;
    let two = jobs_where(&app, doc! {"externalId": guid(2)}).await;
    assert_eq!(
        two[0].get_document("missed").unwrap().get_i64(&source),
        Ok(1),
        "{two:?}"
    );
    set_feed(&server, dated_feed(&[2, 1])).await;
    app.wait_final(&app.trigger(&source).await).await;
    let facts = job_facts(&app, &source).await;
    assert_eq!(facts.get_bool("dated"), Ok(false), "{facts}");
    // A posting that comes to state an end date: the source notes it, and the run after the
    // date passed closes it.
    let soon = Utc::now() - Span::hours(1);
    set_feed(&server, feed_with_expiry(&[(2, None), (1, Some(soon))])).await;
    let run = app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(run.get_i64("updatedJobs").unwrap(), 1, "{run}");
    assert_eq!(
        run.get_document("closedByReason").unwrap(),
        &doc! {"expired": 1_i64},
        "{run}"
    );
    let facts = job_facts(&app, &source).await;
    assert_eq!(facts.get_bool("dated"), Ok(true), "{facts}");
    // Removed, the source leaves no marks: one created again with its name starts new.
    let r = app
        .http
        .delete(app.url(&format!("/api/sources/{source}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert!(marks(&app, &source).await.is_empty());
    app.cleanup().await;
}

async fn passed_valid_through_closes_at_run_end(legacy: bool) {
    let (app, server) = spawn_for_feed(3).await;
    let source = app
        .create_source("Dated", &format!("{}/feed.xml", server.uri()))
        .await;
    if legacy {
        forget_job_facts(&app, &source).await;
    }
    let ahead = Utc::now() + Span::days(30);
    set_feed(
        &server,
        feed_with_expiry(&[
            (3, Some(ahead)),
            (2, Some(Utc::now() - Span::days(1))),
            (1, None),
        ]),
    )
    .await;
    let run = app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(run.get_i64("newJobs").unwrap(), 3, "{run}");
    assert_eq!(run.get_i64("closedJobs").unwrap(), 1, "{run}");
    assert_eq!(
        run.get_document("closedByReason").unwrap(),
        &doc! {"expired": 1_i64}
    );
    let expired = jobs_where(&app, doc! {"externalId": guid(2)}).await;
    assert_eq!(expired[0].get_str("status").unwrap(), "closed");
    assert_eq!(expired[0].get_str("closedReason").unwrap(), "expired");
    let open = jobs_where(&app, doc! {"externalId": guid(3)}).await;
    assert_eq!(open[0].get_str("status").unwrap(), "open");
    assert_eq!(
        open[0].get_str("validThrough").unwrap(),
        job_importer::domain::time::format(
            &DateTime::parse_from_rfc2822(&ahead.to_rfc2822())
                .unwrap()
                .with_timezone(&Utc)
        )
    );
    let (_, shown) = get_json(
        &app,
        &format!("/api/jobs/{}", open[0].get_str("_id").unwrap()),
    )
    .await;
    assert!(shown["validThrough"].is_string(), "{shown}");

    // The feed still lists the expired posting: it stays closed, and nothing flaps (no
    // reopening counted, no second closing).
    let again = app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(again.get_i64("unchangedJobs").unwrap(), 3, "{again}");
    assert_eq!(again.get_i64("reopenedJobs").unwrap(), 0, "{again}");
    assert_eq!(again.get_i64("closedJobs").unwrap(), 0, "{again}");
    let still = jobs_where(&app, doc! {"externalId": guid(2)}).await;
    assert_eq!(still[0].get_str("status").unwrap(), "closed");
    assert_eq!(still[0].get_str("closedReason").unwrap(), "expired");
    app.cleanup().await;
}

#[tokio::test]
async fn the_expiry_sweep_closes_a_job_whose_date_passes_between_runs() {
    let mut s = test_settings();
    s.pipeline.expiry_sweep_interval_secs = 1;
    s.http.rate_limit_trigger_per_minute = 0;
    let app = TestApp::spawn_with(s.clone()).await;
    let server = serve_feed(dated_feed(&[])).await;
    let source = app
        .create_source("Soon", &format!("{}/feed.xml", server.uri()))
        .await;
    // RFC 2822 has whole seconds: the date lies 3 to 4 seconds ahead, on a whole second.
    let soon = chrono::SubsecRound::trunc_subsecs(Utc::now() + Span::seconds(4), 0);
    set_feed(
        &server,
        feed_with_expiry(&[(2, Some(soon)), (1, Some(Utc::now() + Span::days(9)))]),
    )
    .await;
    let run = app.wait_final(&app.trigger(&source).await).await;
    assert_eq!(run.get_i64("closedJobs").unwrap(), 0, "{run}");
    assert_eq!(open_ids(&app).await.len(), 2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let soon_job = jobs_where(&app, doc! {"externalId": guid(2)}).await;
        if soon_job[0].get_str("status").unwrap() == "closed" {
            assert_eq!(soon_job[0].get_str("closedReason").unwrap(), "expired");
            assert!(Utc::now() >= soon, "closed before its date");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep did not close it"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(open_ids(&app).await, BTreeSet::from([guid(1)]));
    // One daemon sweeps per interval: the lease is held in Redis under the prefix.
    let lease = format!("{}:lease:expiry", s.redis.prefix);
    let client = redis::Client::open(redis_url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let holder: Option<String> = redis::AsyncCommands::get(&mut c, &lease).await.unwrap();
    assert!(holder.is_some());
    app.cleanup().await;
}

/// A job two sources carry, one reading its feed by a window and one as complete: closed by
/// the complete source's run once both missed it (the windowed one inside its window), it is
/// not reopened when it later falls out of the windowed source's window. That source judged
/// its misses by its window already.
#[tokio::test]
async fn a_shared_job_closed_by_a_complete_source_stays_closed_when_it_leaves_the_other_window() {
    let (app, full) = spawn_for_feed(1).await;
    let windowed = serve_feed(dated_feed(&[])).await;
    let mut ids = Vec::new();
    for (name, server, expiry) in [
        ("Full", &full, "complete"),
        ("Windowed", &windowed, "window"),
    ] {
        let r = app
            .post_json(
                "/api/sources",
                &json!({"name": name, "url": format!("{}/feed.xml", server.uri()), "expiry": expiry}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        ids.push(v["_id"].as_str().unwrap().to_owned());
    }
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let run = async |source: &str, server: &MockServer, feed: &[u32]| {
        set_feed(server, dated_feed(feed)).await;
        app.wait_final(&app.trigger(source).await).await
    };
    // Job 2 is carried by both.
    run(&a, &full, &[2, 1]).await;
    run(&b, &windowed, &[3, 2]).await;
    let two = jobs_where(&app, doc! {"externalId": guid(2)}).await;
    assert_eq!(two[0].get_array("sources").unwrap().len(), 2, "{two:?}");
    // The windowed source misses it inside its window (its oldest item is job 0).
    run(&b, &windowed, &[4, 3, 0]).await;
    // The complete source misses it too: closed.
    let closing = run(&a, &full, &[1]).await;
    assert_eq!(closing.get_i64("closedJobs").unwrap(), 1, "{closing}");
    let two = jobs_where(&app, doc! {"externalId": guid(2)}).await;
    assert_eq!(two[0].get_str("status").unwrap(), "closed");
    assert_eq!(two[0].get_str("closedUnder").unwrap(), "complete");
    // The windowed source's window moves past it: it stays closed.
    let later = run(&b, &windowed, &[5, 4]).await;
    assert_eq!(later.get_i64("reopenedJobs").unwrap_or(0), 0, "{later}");
    let two = jobs_where(&app, doc! {"externalId": guid(2)}).await;
    assert_eq!(two[0].get_str("status").unwrap(), "closed", "{two:?}");
    app.cleanup().await;
}
