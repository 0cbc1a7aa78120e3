//! Changes out (`changes_out`): the changes feed pushed to loopback webhook receivers by two
//! daemons. Every change reaches the webhook once, in order, in signed batches that chain
//! cursor to cursor; a receiver that fails twice gets the same batch a third time; a webhook
//! of one source gets that source's changes only; a cursor retention overtook is reported as
//! a gap; the API shows how far each webhook got, never its URL or secret.

use std::time::{Duration, Instant};

use job_importer::alerts::signing;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const SECRET: &str = "changes-secret-0123456789";

/// The bodies `server` received at `at`, each checked for a valid signature and a delivery
/// id that names its cursors.
async fn bodies(server: &MockServer, at: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == at)
        .map(|r| {
            let sig = r
                .headers
                .get(signing::SIGNATURE_HEADER)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            assert!(
                signing::verify(SECRET, &sig, &r.body),
                "bad signature {sig}"
            );
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            let delivery = r.headers.get("X-Job-Importer-Delivery").unwrap();
            assert_eq!(
                delivery.to_str().unwrap(),
                v["deliveryId"].as_str().unwrap()
            );
            assert_eq!(
                v["deliveryId"],
                format!(
                    "{}:{}-{}",
                    v["webhook"].as_str().unwrap(),
                    v["after"].as_str().unwrap(),
                    v["nextCursor"].as_str().unwrap()
                )
            );
            v
        })
        .collect()
}

/// The webhooks as the API shows them, by id.
async fn webhooks(app: &TestApp) -> (i64, Vec<Value>) {
    let (status, v) = get_json(app, "/api/jobs/changes/webhooks").await;
    assert_eq!(status, 200, "{v}");
    (
        v["head"].as_i64().unwrap(),
        v["webhooks"].as_array().unwrap().clone(),
    )
}

async fn wait_caught_up(app: &TestApp) -> (i64, Vec<Value>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (head, hooks) = webhooks(app).await;
        if head > 0 && hooks.iter().all(|h| h["behind"] == json!(0)) {
            return (head, hooks);
        }
        assert!(
            Instant::now() < deadline,
            "webhooks not caught up: {hooks:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The changes of the successful deliveries, in the order they were received; each batch
/// starts after the cursor the one before ended at (`gapless`), or after a later one (a
/// webhook of some sources moves past other sources' changes without a request).
fn chain(received: &[Value], gapless: bool) -> Vec<Value> {
    let mut cursor = 0_i64;
    let mut out = Vec::new();
    let num = |v: &Value| v.as_str().unwrap().parse::<i64>().unwrap();
    for b in received {
        if gapless {
            assert_eq!(num(&b["after"]), cursor, "batches chain: {b}");
        } else {
            assert!(num(&b["after"]) >= cursor, "batches go forward: {b}");
        }
        cursor = num(&b["nextCursor"]);
        out.extend(b["changes"].as_array().unwrap().iter().cloned());
    }
    out
}

#[tokio::test]
async fn changes_reach_webhooks_once_in_order_signed_across_two_daemons_and_after_failures() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/all"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&receiver)
        .await;
    for at in ["/all", "/one"] {
        Mock::given(method("POST"))
            .and(path(at))
            .respond_with(ResponseTemplate::new(200))
            .with_priority(2)
            .mount(&receiver)
            .await;
    }
    let feed_a = serve_feed(rss_feed(&items(0..6, "v1"))).await;
    let feed_b = serve_feed(rss_feed(&items(10..14, "v1"))).await;

    // Source ids are their names' slugs: the config names source `a`.
    let mut s = test_settings();
    s.scheduler.run_missed_on_start = false;
    s.changes_out = serde_json::from_value(json!({
        "allow_private_networks": true,
        "poll_interval_ms": 50,
        "retry_base_ms": 50,
        "timeout_ms": 2000,
        "batch_size": 4,
        "webhooks": [
            {"id": "all", "url": format!("{}/all?token=hidden", receiver.uri()), "secret": SECRET},
            {"id": "one", "url": format!("{}/one", receiver.uri()), "secret": SECRET, "sources": ["a"]},
        ],
    }))
    .unwrap();
    s.validate().unwrap();
    // The same webhooks in a config file, for the command line.
    let config = format!(
        "[changes_out]\n[[changes_out.webhooks]]\nid = \"all\"\nurl = \"{0}/all?token=hidden\"\nsecret = \"{SECRET}\"\n[[changes_out.webhooks]]\nid = \"one\"\nurl = \"{0}/one\"\nsecret = \"{SECRET}\"\nsources = [\"a\"]\n",
        receiver.uri()
    );
    let a = TestApp::spawn_with(s.clone()).await;
    let b = TestApp::spawn_with(s.clone()).await;
    let a_id = a
        .create_source("A", &format!("{}/feed.xml", feed_a.uri()))
        .await;
    assert_eq!(a_id, "a");
    let b_id = a
        .create_source("B", &format!("{}/feed.xml", feed_b.uri()))
        .await;

    // Imports on both daemons, then a changed feed: new, updated and closed jobs.
    a.wait_final(&a.trigger(&a_id).await).await;
    b.wait_final(&b.trigger(&b_id).await).await;
    let mut next = items(0..2, "v2");
    next.extend(items(2..4, "v1"));
    set_feed(&feed_a, rss_feed(&next)).await;
    b.wait_final(&b.trigger(&a_id).await).await;

    let (head, hooks) = wait_caught_up(&a).await;
    // Everything the changes feed lists, in its order.
    let (_, listed) = get_json(&a, "/api/jobs/changes?limit=1000").await;
    let listed = listed["changes"].as_array().unwrap().clone();
    assert_eq!(listed.len() as i64, head);
    assert!(head >= 12, "10 new and 2 updated at least: {head}");

    // `all`: two failed attempts of the first batch, then every change once, in order.
    let got = bodies(&receiver, "/all").await;
    assert!(got.len() >= 3, "{got:?}");
    assert_eq!(
        got[0]["deliveryId"], got[2]["deliveryId"],
        "the same batch again"
    );
    assert_eq!(got[1]["changes"], got[2]["changes"]);
    assert_eq!(chain(&got[2..], true), listed);
    assert!(
        got[2..]
            .iter()
            .all(|b| b["changes"].as_array().unwrap().len() <= 4)
    );

    // `one`: source A's changes only, in the same order.
    let of_a: Vec<Value> = listed
        .iter()
        .filter(|c| c["sourceId"] == json!(a_id))
        .cloned()
        .collect();
    assert!(!of_a.is_empty() && of_a.len() < listed.len());
    assert_eq!(chain(&bodies(&receiver, "/one").await, false), of_a);

    // The API: how far each got, the target's host only.
    let all = hooks.iter().find(|h| h["id"] == "all").unwrap();
    assert_eq!(all["state"]["cursor"], json!(head));
    assert_eq!(all["state"]["deliveredChanges"], json!(head));
    assert_eq!(all["state"]["attempts"], json!(0));
    assert!(all["state"].get("lastError").is_none(), "{all}");
    assert_eq!(all["target"], "127.0.0.1");
    let text = serde_json::to_string(&hooks).unwrap();
    assert!(!text.contains(SECRET) && !text.contains("hidden"), "{text}");
    let one = hooks.iter().find(|h| h["id"] == "one").unwrap();
    assert_eq!(one["state"]["deliveredChanges"], json!(of_a.len()));

    // The command line shows the same, from the config it is given.
    let (ok, out, err) = crate::cli_admin::cli_with(&s, &["changes", "webhooks"], &config).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("all  127.0.0.1  sources all  cursor ")
            && lines[0].contains(&format!("cursor {head} of {head}  behind 0")),
        "{out}"
    );
    assert!(lines[1].starts_with("one  127.0.0.1  sources a  "), "{out}");
    assert!(!out.contains(SECRET) && !out.contains("hidden"), "{out}");
    let (ok, out, err) =
        crate::cli_admin::cli_with(&s, &["changes", "webhooks", "--json"], &config).await;
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["webhooks"][0]["state"]["cursor"], json!(head));
    a.cleanup().await;
    b.daemon.stop();
}

#[tokio::test]
async fn a_webhook_that_retention_overtook_is_told_of_the_gap_and_goes_on() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/all"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let feed = serve_feed(rss_feed(&items(0..5, "v1"))).await;
    let mut s = test_settings();
    s.scheduler.run_missed_on_start = false;
    s.changes_out = serde_json::from_value(json!({
        "allow_private_networks": true,
        "poll_interval_ms": 50,
        "webhooks": [{"id": "all", "url": format!("{}/all", receiver.uri()), "secret": SECRET}],
    }))
    .unwrap();
    let app = TestApp::spawn_with(s).await;
    let source = app
        .create_source("Gap", &format!("{}/feed.xml", feed.uri()))
        .await;
    app.wait_final(&app.trigger(&source).await).await;
    wait_caught_up(&app).await;
    assert_eq!(chain(&bodies(&receiver, "/all").await, true).len(), 5);

    // The receiver stops answering; meanwhile 5 more changes, and retention deletes 3 of
    // those it never got.
    receiver.reset().await;
    Mock::given(method("POST"))
        .and(path("/all"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&receiver)
        .await;
    set_feed(&feed, rss_feed(&items(0..10, "v1"))).await;
    app.wait_final(&app.trigger(&source).await).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while bodies(&receiver, "/all").await.is_empty() {
        assert!(Instant::now() < deadline, "no attempt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let changes = app.db.collection::<mongodb::bson::Document>("job_changes");
    changes
        .delete_many(mongodb::bson::doc! {"_id": {"$lte": 8_i64}})
        .await
        .unwrap();
    receiver.reset().await;
    Mock::given(method("POST"))
        .and(path("/all"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    // The next attempt waits out its backoff (5 s by default).
    let deadline = Instant::now() + Duration::from_secs(60);
    let got = loop {
        let got = bodies(&receiver, "/all").await;
        if !got.is_empty() {
            break got;
        }
        assert!(Instant::now() < deadline, "not sent again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let first = &got[0];
    assert_eq!(
        first["gap"],
        json!({"after": "5", "resumedAfter": "8"}),
        "{first}"
    );
    let seqs: Vec<i64> = first["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [9, 10]);
    let (head, _) = wait_caught_up(&app).await;
    assert_eq!(head, 10);
    app.cleanup().await;
}
