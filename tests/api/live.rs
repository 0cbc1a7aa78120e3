//! Live updates: two daemons on one Redis and MongoDB, reconnect and catch-up, subscriptions,
//! bad client messages, and a slow client that must not hold anyone up.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

use crate::helpers::*;

/// Collects `import_history_update`s of `run_id` until its status is final.
async fn updates_until_final(ws: &mut Ws, run_id: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    while let Some(ev) = next_named(ws, "import_history_update", Duration::from_secs(30)).await {
        if ev["data"]["_id"] != run_id {
            continue;
        }
        let done = !["queued", "running"].contains(&ev["data"]["status"].as_str().unwrap());
        seen.push(ev["data"].clone());
        if done {
            break;
        }
    }
    seen
}

fn versions(runs: &[Value]) -> Vec<i64> {
    runs.iter()
        .map(|r| r["version"].as_i64().unwrap())
        .collect()
}

async fn stored_run(app: &TestApp, run_id: &str) -> Value {
    let (s, v) = get_json(app, &format!("/api/import-logs/{run_id}")).await;
    assert_eq!(s, 200);
    v
}

#[tokio::test]
async fn clients_of_two_daemons_see_every_update_of_a_run_either_one_processes() {
    let settings = test_settings();
    let a = TestApp::spawn_with(settings.clone()).await;
    let b = TestApp::spawn_with(settings).await;
    let mut on_a = connect_ws(&a).await;
    let mut on_b = connect_ws(&b).await;
    for ws in [&mut on_a, &mut on_b] {
        next_named(ws, "initial_data", Duration::from_secs(5))
            .await
            .expect("initial_data");
    }
    let feed = serve_feed(fixture("weworkremotely-rss.xml")).await;
    let source = a
        .create_source("Shared", &format!("{}/feed.xml", feed.uri()))
        .await;
    let run_id = a.trigger(&source).await;
    let seen_a = updates_until_final(&mut on_a, &run_id).await;
    let seen_b = updates_until_final(&mut on_b, &run_id).await;
    assert_eq!(
        versions(&seen_a),
        versions(&seen_b),
        "both daemons' clients see the same updates"
    );
    let stored = stored_run(&b, &run_id).await;
    let last = seen_b.last().unwrap();
    for key in ["status", "version", "totalFetched", "newJobs", "failedJobs"] {
        assert_eq!(last[key], stored[key], "{key}");
    }
    b.daemon.stop();
    a.cleanup().await;
}

#[tokio::test]
async fn a_client_that_reconnects_mid_run_ends_with_the_databases_view() {
    let app = TestApp::spawn().await;
    let mut ws = connect_ws(&app).await;
    let first = next_named(&mut ws, "initial_data", Duration::from_secs(5))
        .await
        .unwrap();
    let since = first["data"]["serverTime"].as_str().unwrap().to_owned();
    assert!(first["data"]["totals"]["runs"].is_i64());
    let feed = serve_feed(fixture("weworkremotely-rss.xml")).await;
    let source = app
        .create_source("Flaky client", &format!("{}/feed.xml", feed.uri()))
        .await;
    let run_id = app.trigger(&source).await;
    let early = next_named(&mut ws, "import_history_update", Duration::from_secs(10))
        .await
        .unwrap();
    let held_version = early["data"]["version"].as_i64().unwrap();
    drop(ws);
    app.wait_final(&run_id).await;

    let mut ws = connect_ws(&app).await;
    let init = next_named(&mut ws, "initial_data", Duration::from_secs(5))
        .await
        .unwrap();
    let stored = stored_run(&app, &run_id).await;
    let row = init["data"]["logs"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["_id"] == run_id.as_str())
        .unwrap()
        .clone();
    let src = init["data"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["_id"] == source.as_str())
        .unwrap()
        .clone();
    assert_eq!(src["running"], false);
    // Catch-up by time and by version both return the final state.
    send_event(&mut ws, json!({"event": "sync", "data": {"since": since}})).await;
    let by_time = next_named(&mut ws, "sync_result", Duration::from_secs(5))
        .await
        .unwrap();
    send_event(
        &mut ws,
        json!({"event": "sync", "data": {"runs": {run_id.clone(): held_version}}}),
    )
    .await;
    let by_version = next_named(&mut ws, "sync_result", Duration::from_secs(5))
        .await
        .unwrap();
    for view in [
        &row,
        &by_time["data"]["runs"][0],
        &by_version["data"]["runs"][0],
    ] {
        assert_eq!(view["_id"], stored["_id"]);
        for key in [
            "status",
            "version",
            "totalFetched",
            "newJobs",
            "updatedJobs",
            "failedJobs",
        ] {
            assert_eq!(view[key], stored[key], "{key}: {view}");
        }
    }
    send_event(
        &mut ws,
        json!({"event": "sync", "data": {"runs": {run_id.clone(): 1_000_000}}}),
    )
    .await;
    let nothing = next_named(&mut ws, "sync_result", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        nothing["data"]["runs"],
        json!([]),
        "nothing newer than what the client holds"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn subscribers_get_one_runs_progress_and_only_their_sources() {
    let app = TestApp::spawn().await;
    let feed = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let url = format!("{}/feed.xml", feed.uri());
    let wanted = app.create_source("Wanted", &url).await;
    let other = app.create_source("Other", &url).await;
    let mut ws = connect_ws(&app).await;
    next_named(&mut ws, "initial_data", Duration::from_secs(5))
        .await
        .unwrap();
    send_event(
        &mut ws,
        json!({"event": "subscribe_source", "data": {"sourceId": wanted}}),
    )
    .await;
    let ack = next_named(&mut ws, "subscribed", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(ack["data"]["sources"], json!([wanted]));
    let other_run = app.trigger(&other).await;
    app.wait_final(&other_run).await;
    let run_id = app.trigger(&wanted).await;
    send_event(
        &mut ws,
        json!({"event": "subscribe_run", "data": {"runId": run_id}}),
    )
    .await;
    let mut progress = None;
    let mut final_seen = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && !(final_seen && progress.is_some()) {
        let Some(ev) = next_event(&mut ws, Duration::from_secs(5)).await else {
            break;
        };
        match ev["event"].as_str().unwrap() {
            "import_history_update" => {
                assert_eq!(
                    ev["data"]["sourceId"],
                    wanted.as_str(),
                    "filtered by source"
                );
                final_seen |= ev["data"]["status"] == "completed";
            }
            "run_progress" => {
                assert_eq!(ev["data"]["run"]["_id"], run_id.as_str());
                if ev["data"]["run"]["status"] == "completed" {
                    progress = Some(ev);
                }
            }
            _ => {}
        }
    }
    let p = progress.expect("run_progress of the completed run");
    assert!(
        !p["data"]["run"]["batches"].as_object().unwrap().is_empty(),
        "per-batch results"
    );
    send_event(
        &mut ws,
        json!({"event": "unsubscribe_run", "data": {"runId": run_id}}),
    )
    .await;
    let ack = next_named(&mut ws, "subscribed", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(ack["data"]["runs"], json!([]));
    app.cleanup().await;
}

#[tokio::test]
async fn bad_client_messages_get_error_events_and_the_socket_stays_open() {
    let app = TestApp::spawn().await;
    let mut ws = connect_ws(&app).await;
    next_named(&mut ws, "initial_data", Duration::from_secs(5))
        .await
        .unwrap();
    for (msg, code) in [
        ("not json".to_owned(), "ws.malformed"),
        (
            json!({"event": "drop_tables"}).to_string(),
            "ws.unknown_event",
        ),
        (
            json!({"event": "subscribe_run", "data": {"runId": {"$gt": ""}}}).to_string(),
            "ws.invalid_data",
        ),
        (
            json!({"event": "subscribe_run", "data": {"runId": "../x"}}).to_string(),
            "ws.invalid_data",
        ),
        (
            json!({"event": "sync", "data": {"since": "yesterday"}}).to_string(),
            "ws.invalid_data",
        ),
        (
            json!({"event": "sync", "data": {}}).to_string(),
            "ws.invalid_data",
        ),
    ] {
        ws.send(tokio_tungstenite::tungstenite::Message::Text(
            msg.clone().into(),
        ))
        .await
        .unwrap();
        let e = next_named(&mut ws, "error", Duration::from_secs(5))
            .await
            .expect("error event");
        assert_eq!(e["data"]["code"], code, "{msg}");
    }
    send_event(&mut ws, json!({"event": "ping"})).await;
    assert!(
        next_named(&mut ws, "pong", Duration::from_secs(5))
            .await
            .is_some()
    );
    let evil = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{}/ws?token={TOKEN}", app.daemon.addr),
    );
    let mut req = evil.unwrap();
    req.headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    assert!(
        tokio_tungstenite::connect_async(req).await.is_err(),
        "foreign origin refused"
    );
    app.cleanup().await;
}

/// The tests that get a client closed for being slow run one at a time: the count of such
/// closings on `/metrics` is the process's, and one of them waits for it to grow.
static SLOW_CLIENT_TESTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_without_delaying_a_fast_one() {
    let _one_at_a_time = SLOW_CLIENT_TESTS.lock().await;
    let settings = test_settings();
    let channel = format!("{}:history", settings.redis.prefix);
    let app = TestApp::spawn_with(settings).await;
    let mut slow = connect_ws(&app).await;
    next_named(&mut slow, "initial_data", Duration::from_secs(5))
        .await
        .unwrap();
    let mut fast = connect_ws(&app).await;
    next_named(&mut fast, "initial_data", Duration::from_secs(5))
        .await
        .unwrap();

    // Big updates fill the socket buffers quickly; the slow client reads none of them.
    const N: usize = 600;
    let mut run = run_at("run-big", "alpha", 0, |_| {});
    run.source_name = "x".repeat(96 * 1024);
    let redis = redis::Client::open(redis_url()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    // The fast client has at most 64 updates in flight: it reads at its own pace (a debug
    // build on a busy machine parses these slowly) and is never behind by the outbox's size.
    let (seen_tx, mut seen_rx) = tokio::sync::watch::channel(0usize);
    let publisher = tokio::spawn(async move {
        for v in 1..=N {
            while v > *seen_rx.borrow() + 64 {
                if seen_rx.changed().await.is_err() {
                    return;
                }
            }
            run.version = v as i64;
            let ev = json!({"event": "import_history_update", "data": run}).to_string();
            let _: i64 = redis::AsyncCommands::publish(&mut conn, &channel, ev)
                .await
                .unwrap();
        }
    });
    let mut got = 0;
    while got < N {
        let ev = next_named(&mut fast, "import_history_update", Duration::from_secs(20))
            .await
            .expect("the fast client keeps receiving");
        got += 1;
        seen_tx.send_replace(got);
        assert_eq!(ev["data"]["version"], got as i64, "in order, none missing");
    }
    publisher.await.unwrap();

    // The slow client was dropped: its stream ends before it could hold every update.
    let mut slow_got = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), slow.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(_)))) => slow_got += 1,
            Ok(Some(Ok(_))) => {}
            _ => break,
        }
    }
    assert!(
        slow_got < N,
        "the slow client was cut off after {slow_got} messages"
    );
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains("job_importer_ws_slow_sessions_closed_total")
            || text.contains("job_importer_ws_messages_dropped_total"),
        "{text}"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_client_dropped_for_being_slow_is_closed_with_1013_so_it_reconnects_and_syncs() {
    let _one_at_a_time = SLOW_CLIENT_TESTS.lock().await;
    let settings = test_settings();
    let channel = format!("{}:history", settings.redis.prefix);
    let app = TestApp::spawn_with(settings).await;
    let mut slow = connect_ws(&app).await;
    next_named(&mut slow, "initial_data", Duration::from_secs(5))
        .await
        .unwrap();
    let closed_before = slow_sessions_closed(&app).await;

    // Big updates fill the socket buffers and the outbox; the client reads none meanwhile.
    // They are published at the pace the daemon takes them from Redis: a subscriber more than
    // a few megabytes behind is disconnected by Redis (`client-output-buffer-limit pubsub`),
    // and the updates it missed would never reach the client.
    const MAX: usize = 3000;
    let mut run = run_at("run-slow", "alpha", 0, |_| {});
    run.source_name = "x".repeat(96 * 1024);
    let redis = redis::Client::open(redis_url()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let mut published = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while slow_sessions_closed(&app).await <= closed_before {
        assert!(
            Instant::now() < deadline,
            "the slow client was never found behind ({published} updates published)"
        );
        if published < MAX && subscribers_backlog(&mut conn).await < 4 << 20 {
            for _ in 0..10 {
                published += 1;
                run.version = published as i64;
                let ev = json!({"event": "import_history_update", "data": run}).to_string();
                let _: i64 = redis::AsyncCommands::publish(&mut conn, &channel, ev)
                    .await
                    .unwrap();
            }
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // It reads now: what was already on its way, then a close frame telling it to come back.
    let mut got = 0;
    let mut close = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(10), slow.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(_)))) => got += 1,
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame)))) => {
                close = frame;
                break;
            }
            Ok(Some(Ok(_))) => {}
            _ => break,
        }
    }
    assert!(
        got < published,
        "the client was cut off, after {got} of {published} updates"
    );
    let close = close.expect("a close frame");
    assert_eq!(
        u16::from(close.code),
        1013,
        "try again later: the dashboard reconnects and syncs ({close:?})"
    );

    // It may connect again at once.
    let mut again = connect_ws(&app).await;
    assert!(
        next_named(&mut again, "initial_data", Duration::from_secs(5))
            .await
            .is_some()
    );
    app.cleanup().await;
}

/// Bytes Redis holds for its pub/sub subscribers (every test's daemons), not yet read by them.
async fn subscribers_backlog(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(conn)
        .await
        .unwrap();
    list.lines()
        .filter(|l| {
            l.split(' ')
                .any(|f| f.strip_prefix("sub=").is_some_and(|n| n != "0"))
                || l.split(' ')
                    .any(|f| f.strip_prefix("psub=").is_some_and(|n| n != "0"))
        })
        .filter_map(|l| {
            l.split(' ')
                .find_map(|f| f.strip_prefix("omem="))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .sum()
}

/// `job_importer_ws_slow_sessions_closed_total` as `/metrics` says now.
async fn slow_sessions_closed(app: &TestApp) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("job_importer_ws_slow_sessions_closed_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The first screen marks a source running while its run is in progress (on FerretDB from the
/// run counters), and not once it ended.
#[tokio::test]
async fn the_first_screen_marks_a_source_running_while_its_run_is_in_progress() {
    let app = TestApp::spawn().await;
    // A feed server that accepts and never answers: the run stays in its fetch.
    let hold = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = hold.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = hold.accept().await {
            conns.push(c);
        }
    });
    let source = app
        .create_source("Held", &format!("http://{addr}/feed.xml"))
        .await;
    let run_id = app.trigger(&source).await;
    let running = |init: &Value| {
        init["data"]["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["_id"] == source.as_str())
            .unwrap()["running"]
            .clone()
    };
    let mut ws = connect_ws(&app).await;
    let init = next_named(&mut ws, "initial_data", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(running(&init), true, "{init}");
    drop(ws);
    held.abort();
    app.wait_final(&run_id).await;
    let mut ws = connect_ws(&app).await;
    let init = next_named(&mut ws, "initial_data", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(running(&init), false, "{init}");
    app.cleanup().await;
}
