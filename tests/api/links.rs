//! Link checks against a loopback server that records every request it answers (method,
//! path, when it started and ended, how many were in flight): jobs that left the window are
//! checked politely, and only a 404 or 410 at the end of the redirects closes one.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as Span, Utc};
use mongodb::bson::Document;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::helpers::*;

/// One request the server answered.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub started: Instant,
    pub ended: Instant,
}

/// What the server answers: status, extra header lines, body.
pub type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// A loopback HTTP/1.1 server (one request per connection) that answers with `answer`, holds
/// each answer for `hold` (so overlapping requests would overlap here), and records them.
pub struct Recorder {
    pub base: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub max_in_flight: Arc<AtomicUsize>,
}

impl Recorder {
    pub async fn start(
        hold: Duration,
        answer: impl Fn(&str, &str) -> Answer + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let answer = Arc::new(answer);
        let (s, f, m) = (seen.clone(), in_flight, max_in_flight.clone());
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (seen, in_flight, max, answer) =
                    (s.clone(), f.clone(), m.clone(), answer.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let started = Instant::now();
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(now, Ordering::SeqCst);
                    let text = String::from_utf8_lossy(&head).to_string();
                    let mut parts = text.split_whitespace();
                    let method = parts.next().unwrap_or_default().to_owned();
                    let path = parts.next().unwrap_or_default().to_owned();
                    let (status, headers, body) = answer(&method, &path);
                    tokio::time::sleep(hold).await;
                    let mut out = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                        body.len()
                    );
                    for (k, v) in headers {
                        out.push_str(&format!("{k}: {v}\r\n"));
                    }
                    out.push_str("\r\n");
                    let mut bytes = out.into_bytes();
                    if method != "HEAD" {
                        bytes.extend_from_slice(&body);
                    }
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    seen.lock().unwrap().push(Seen {
                        method,
                        path,
                        started,
                        ended: Instant::now(),
                    });
                    conn.write_all(&bytes).await.ok();
                    conn.shutdown().await.ok();
                });
            }
        });
        Self {
            base,
            seen,
            max_in_flight,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        let mut v = self.seen.lock().unwrap().clone();
        v.sort_by_key(|s| s.started);
        v
    }
}

fn link_answer(method: &str, path: &str) -> Answer {
    let moved = |to: &str| {
        (
            301,
            vec![("Location".to_owned(), to.to_owned())],
            Vec::new(),
        )
    };
    match path {
        "/robots.txt" => (
            200,
            vec![],
            b"User-agent: *\nDisallow: /private/\n".to_vec(),
        ),
        "/ok" | "/ok-after-move" => (200, vec![], b"<html>open</html>".to_vec()),
        "/gone404" | "/gone-after-move" => (404, vec![], Vec::new()),
        "/gone410" => (410, vec![], Vec::new()),
        "/busy" => (503, vec![], Vec::new()),
        "/moved-gone" => moved("/gone-after-move"),
        "/moved-ok" => moved("/ok-after-move"),
        "/no-head" if method == "HEAD" => (405, vec![], Vec::new()),
        "/no-head" => (404, vec![], b"not here".to_vec()),
        _ => (404, vec![], Vec::new()),
    }
}

/// An RSS feed of (link, posting date) items, newest first.
fn feed(items: &[(String, DateTime<Utc>)]) -> Vec<u8> {
    let mut s =
        String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>B</title>");
    for (link, date) in items {
        s.push_str(&format!(
            "<item><title>Job at {link}</title><guid>{link}</guid><link>{link}</link>\
             <pubDate>{}</pubDate></item>",
            date.to_rfc2822()
        ));
    }
    s.push_str("</channel></rss>");
    s.into_bytes()
}

async fn status_by_link(app: &TestApp, base: &str) -> BTreeMap<String, Document> {
    app.jobs()
        .await
        .into_iter()
        .map(|j| {
            let url = j.get_str("url").unwrap_or_default();
            (url.trim_start_matches(base).to_owned(), j)
        })
        .collect()
}

#[tokio::test]
async fn link_checks_close_only_gone_postings_one_request_per_host_at_a_time_at_the_set_rate() {
    let interval = Duration::from_millis(300);
    let links = Recorder::start(Duration::from_millis(60), link_answer).await;
    let mut s = test_settings();
    s.link_check.interval_secs = 2;
    s.link_check.per_host_interval_ms = interval.as_millis() as u64;
    s.link_check.max_age_days = 60;
    let app = TestApp::spawn_with(s).await;

    let now = Utc::now();
    let old_paths = [
        "/ok",
        "/gone404",
        "/gone410",
        "/busy",
        "/moved-gone",
        "/moved-ok",
        "/no-head",
        "/private/gone",
    ];
    let mut v1: Vec<(String, DateTime<Utc>)> = old_paths
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("{}{p}", links.base), now - Span::days(2 + i as i64)))
        .collect();
    // Older than `max_age_days`: never checked.
    v1.push((format!("{}/too-old", links.base), now - Span::days(100)));
    let server = serve_feed(feed(&v1)).await;
    let r = app
        .post_json(
            "/api/sources",
            &serde_json::json!({
                "name": "Links", "url": format!("{}/feed.xml", server.uri()), "linkCheck": true,
            }),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["linkCheck"], true);
    let id = v["_id"].as_str().unwrap().to_owned();
    let run = app.trigger(&id).await;
    assert_eq!(
        app.wait_final(&run).await.get_str("status").unwrap(),
        "completed"
    );

    // The window slides: a new posting alone; every other job is now outside the window
    // (and stays open under `window`).
    let fresh = format!("{}/fresh", links.base);
    set_feed(&server, feed(&[(fresh, now - Span::hours(1))])).await;
    let run = app.trigger(&id).await;
    let done = app.wait_final(&run).await;
    assert_eq!(done.get_i64("closedJobs").unwrap_or(0), 0);

    let gone = ["/gone404", "/gone410", "/moved-gone", "/no-head"];
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let jobs = status_by_link(&app, &links.base).await;
        let checked = old_paths
            .iter()
            .all(|p| jobs[*p].get_str("linkCheckedAt").is_ok());
        if checked {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "links not all checked: {jobs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let jobs = status_by_link(&app, &links.base).await;
    for p in old_paths {
        let j = &jobs[p];
        let status = j.get_str("status").unwrap();
        if gone.contains(&p) {
            assert_eq!(status, "closed", "{p}: {j:?}");
            assert_eq!(j.get_str("closedReason").unwrap(), "link_gone", "{p}");
            assert!(j.get_str("closedAt").is_ok(), "{p}");
        } else {
            assert_eq!(status, "open", "{p}: {j:?}");
        }
    }
    assert_eq!(jobs["/ok"].get_str("linkCheck").unwrap(), "200");
    assert_eq!(jobs["/moved-ok"].get_str("linkCheck").unwrap(), "200");
    assert_eq!(jobs["/busy"].get_str("linkCheck").unwrap(), "503");
    assert_eq!(
        jobs["/private/gone"].get_str("linkCheck").unwrap(),
        "disallowed"
    );
    assert!(
        jobs["/fresh"].get_str("linkCheckedAt").is_err(),
        "inside the window"
    );
    assert!(
        jobs["/too-old"].get_str("linkCheckedAt").is_err(),
        "too old"
    );
    assert_eq!(jobs["/too-old"].get_str("status").unwrap(), "open");

    // Checked once: later passes leave them alone (the next check is a day away).
    let before = links.seen().len();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let seen = links.seen();
    assert_eq!(seen.len(), before, "no check is repeated within a day");

    let paths: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path.as_str()))
        .collect();
    assert_eq!(
        paths.iter().filter(|(_, p)| *p == "/robots.txt").count(),
        1,
        "robots.txt is read once and cached: {paths:?}"
    );
    assert_eq!(paths.first(), Some(&("GET", "/robots.txt")));
    for never in ["/private/gone", "/too-old", "/fresh"] {
        assert!(!paths.iter().any(|(_, p)| *p == never), "{never} requested");
    }
    for hop in ["/gone-after-move", "/ok-after-move"] {
        assert!(paths.contains(&("HEAD", hop)), "redirect to {hop} followed");
    }
    assert!(paths.contains(&("HEAD", "/no-head")) && paths.contains(&("GET", "/no-head")));
    assert!(
        !paths.contains(&("GET", "/ok")),
        "HEAD sufficed for /ok: {paths:?}"
    );

    // Politeness: one request at a time on this host, and starts at least the interval apart
    // (a busy machine only makes the gaps longer; the margin allows for how late the server notes a start).
    assert_eq!(links.max_in_flight.load(Ordering::SeqCst), 1);
    for pair in seen.windows(2) {
        assert!(pair[1].started >= pair[0].ended, "overlap: {pair:?}");
        let gap = pair[1].started - pair[0].started;
        assert!(gap >= interval / 2, "starts {gap:?} apart: {pair:?}");
    }
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(text.contains("job_importer_link_checks_total"), "metrics");
    app.cleanup().await;
}
