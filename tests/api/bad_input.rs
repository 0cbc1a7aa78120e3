//! The bad-input catalogue (sections A-D) end to end: a hostile or broken source, created
//! through the API and served from loopback, ends its run with the outcome a user can read on
//! the import log, while other sources import normally and the daemon keeps answering.

use std::io::Write;
use std::time::{Duration, Instant};

use job_importer::config::Settings;
use mongodb::bson::Document;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// Settings with one fetch attempt, so transient failures end the run at once.
fn settings() -> Settings {
    let mut s = test_settings();
    s.pipeline.max_fetch_attempts = 1;
    s
}

fn item(guid: &str, title: &str) -> String {
    format!(
        "<item><title>{title}</title><guid>{guid}</guid><link>https://ex.com/{guid}</link>\
         <description>Job {guid}</description></item>"
    )
}

fn rss(items: &str) -> Vec<u8> {
    format!("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>")
        .into_bytes()
}

/// Serves `body` with `content_type` (and optional extra headers) at `/feed.xml`.
async fn serve(body: Vec<u8>, content_type: &str, headers: &[(&str, &str)]) -> MockServer {
    let server = MockServer::start().await;
    let mut reply = ResponseTemplate::new(200).set_body_raw(body, content_type);
    for (k, v) in headers {
        reply = reply.insert_header(*k, *v);
    }
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(reply)
        .mount(&server)
        .await;
    server
}

/// Creates a source for `server`'s feed, runs it and returns the final import log.
async fn import(app: &TestApp, name: &str, url: &str) -> Document {
    let source = app.create_source(name, url).await;
    let run_id = app.trigger(&source).await;
    app.wait_final(&run_id).await
}

fn status(run: &Document) -> &str {
    run.get_str("status").unwrap_or("")
}

fn error_code(run: &Document) -> &str {
    run.get_document("error")
        .and_then(|e| e.get_str("code"))
        .unwrap_or("")
}

fn count(run: &Document, key: &str) -> i64 {
    run.get_i64(key)
        .unwrap_or_else(|_| panic!("{key} missing in {run}"))
}

/// A server that sends headers at once and then one byte every 100 ms, forever (catalog A3).
async fn trickle_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                // Answer only after the request, as a real server does.
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(n) if n > 0 => request.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n\
                            Content-Length: 1000000\r\n\r\n<rss><channel>";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                while socket.write_all(b" ").await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        }
    });
    format!("http://{addr}/feed.xml")
}

#[tokio::test]
async fn a_trickling_server_fails_the_run_at_the_total_deadline() {
    let mut s = settings();
    s.fetch.total_timeout_ms = 800;
    let app = TestApp::spawn_with(s).await;
    let started = Instant::now();
    let run = import(&app, "Trickle", &trickle_server().await).await;
    assert_eq!(status(&run), "failed");
    assert_eq!(error_code(&run), "fetch.timeout", "{run}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(app.jobs().await.len(), 0);
    app.cleanup().await;
}

#[tokio::test]
async fn a_gzip_bomb_stops_at_the_decoded_cap_and_other_sources_still_import() {
    let mut s = settings();
    s.fetch.max_body_bytes = 1024 * 1024;
    let app = TestApp::spawn_with(s).await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let spaces = vec![b' '; 1024 * 1024];
    for _ in 0..64 {
        gz.write_all(&spaces).unwrap();
    }
    let bomb = serve(
        gz.finish().unwrap(),
        "application/rss+xml",
        &[("Content-Encoding", "gzip")],
    )
    .await;
    let good = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let bomb_source = app
        .create_source("Bomb", &format!("{}/feed.xml", bomb.uri()))
        .await;
    let good_source = app
        .create_source("Good", &format!("{}/feed.xml", good.uri()))
        .await;
    let (bomb_run, good_run) = (
        app.trigger(&bomb_source).await,
        app.trigger(&good_source).await,
    );
    let bomb_run = app.wait_final(&bomb_run).await;
    assert_eq!(status(&bomb_run), "failed");
    assert_eq!(error_code(&bomb_run), "fetch.too_large");
    let good_run = app.wait_final(&good_run).await;
    assert_eq!(status(&good_run), "completed");
    assert_eq!(count(&good_run, "newJobs"), 5);
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.cleanup().await;
}

/// Fetch-time refusal (a name resolving to loopback, a redirect hop into loopback) is tested
/// against the fetcher in `ingest::fetch::tests::ssrf`: end to end, every fixture is loopback.
#[tokio::test]
async fn loopback_sources_in_any_spelling_are_refused_when_created() {
    let mut s = settings();
    s.fetch.allow_private_networks = false;
    let app = TestApp::spawn_with(s).await;
    let target = serve_feed(fixture("jobicy_wpjm.xml")).await;
    let port = target.address().port();
    for host in [
        "127.0.0.1",
        "127.1",
        "2130706433",
        "0x7f000001",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "localhost",
        "LOCALHOST.",
        "0.0.0.0",
    ] {
        let url = format!("http://{host}:{port}/feed.xml");
        let r = app
            .post_json(
                "/api/sources",
                &serde_json::json!({"name": host, "url": url}),
            )
            .await;
        assert_eq!(r.status(), 400, "{url}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "validation.url", "{url}");
    }
    assert_eq!(target.received_requests().await.unwrap().len(), 0);
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.cleanup().await;
}

#[tokio::test]
async fn billion_laughs_fails_the_run_as_a_forbidden_dtd_quickly() {
    let app = TestApp::spawn_with(settings()).await;
    let mut dtd = String::from("<!ENTITY lol \"lol\">");
    for i in 1..10 {
        let refs = format!(
            "&lol{};",
            if i == 1 {
                String::new()
            } else {
                (i - 1).to_string()
            }
        );
        dtd.push_str(&format!("<!ENTITY lol{i} \"{}\">", refs.repeat(10)));
    }
    let body = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE rss [{dtd}]><rss><channel>{}</channel></rss>",
        item("1", "&lol9;")
    );
    let server = serve(body.into_bytes(), "application/rss+xml", &[]).await;
    let started = Instant::now();
    let run = import(&app, "Laughs", &format!("{}/feed.xml", server.uri())).await;
    assert_eq!(status(&run), "failed");
    assert_eq!(error_code(&run), "parse.forbidden_dtd");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(app.jobs().await.len(), 0);
    app.cleanup().await;
}

#[tokio::test]
async fn a_truncated_document_is_partial_and_keeps_the_items_before_the_break() {
    let app = TestApp::spawn_with(settings()).await;
    let mut body = rss(&format!("{}{}", item("1", "One"), item("2", "Two")));
    body.truncate(body.len() - "</channel></rss>".len());
    body.extend_from_slice(b"<item><title>Cut");
    let server = serve(body, "application/rss+xml", &[]).await;
    let run = import(&app, "Cut", &format!("{}/feed.xml", server.uri())).await;
    assert_eq!(status(&run), "partial");
    assert_eq!(error_code(&run), "parse.malformed");
    assert!(
        run.get_document("error")
            .and_then(|e| e.get_str("message"))
            .is_ok_and(|m| m.contains("line")),
        "{run}"
    );
    assert_eq!(count(&run, "newJobs"), 2);
    let mut titles: Vec<String> = app
        .jobs()
        .await
        .iter()
        .map(|j| j.get_str("title").unwrap().to_owned())
        .collect();
    titles.sort();
    assert_eq!(titles, ["One", "Two"]);
    app.cleanup().await;
}

#[tokio::test]
async fn an_html_page_served_as_rss_fails_as_not_a_feed() {
    let app = TestApp::spawn_with(settings()).await;
    let page = b"<!DOCTYPE html><html><head><title>Jobs</title></head><body>Hi</body></html>";
    let server = serve(page.to_vec(), "application/rss+xml", &[]).await;
    let run = import(&app, "Html", &format!("{}/feed.xml", server.uri())).await;
    assert_eq!(status(&run), "failed");
    assert_eq!(error_code(&run), "parse.not_a_feed");
    assert_eq!(app.jobs().await.len(), 0);
    app.cleanup().await;
}

#[tokio::test]
async fn items_without_a_title_fail_alone_and_the_rest_import() {
    let app = TestApp::spawn_with(settings()).await;
    let body = rss(&format!(
        "{}<item><guid>no-title</guid></item>{}<item><title>   </title><guid>blank</guid></item>",
        item("1", "One"),
        item("2", "Two")
    ));
    let server = serve(body, "application/rss+xml", &[]).await;
    let run = import(&app, "Titles", &format!("{}/feed.xml", server.uri())).await;
    assert_eq!(status(&run), "completed");
    assert_eq!(count(&run, "totalFetched"), 4);
    assert_eq!(count(&run, "newJobs"), 2);
    assert_eq!(count(&run, "failedJobs"), 2);
    let failures = run.get_array("failures").unwrap();
    let failed: Vec<(&str, &str)> = failures
        .iter()
        .filter_map(|f| f.as_document())
        .map(|f| {
            (
                f.get_str("code").unwrap_or(""),
                f.get_str("externalId").unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        failed,
        [
            ("item.missing_title", "no-title"),
            ("item.missing_title", "blank")
        ]
    );
    app.cleanup().await;
}

#[tokio::test]
async fn repeated_guids_and_nfd_spellings_count_as_duplicates() {
    let app = TestApp::spawn_with(settings()).await;
    let body = rss(&format!(
        "{}{}{}{}",
        item("same", "First"),
        item("same", "Second"),
        item("caf\u{e9}", "Composed"),
        item("cafe\u{301}", "Decomposed"),
    ));
    let server = serve(body, "application/rss+xml", &[]).await;
    let run = import(&app, "Dupes", &format!("{}/feed.xml", server.uri())).await;
    assert_eq!(status(&run), "completed");
    assert_eq!(count(&run, "totalFetched"), 4);
    assert_eq!(count(&run, "newJobs"), 2);
    assert_eq!(count(&run, "duplicateJobs"), 2);
    assert_eq!(app.jobs().await.len(), 2);
    app.cleanup().await;
}
