//! Status codes, cache validators, redirects and connection failures.

use std::time::{Duration, SystemTime};

use super::*;
use crate::ingest::fetch::classify::parse_retry_after;

#[tokio::test]
async fn a_matching_etag_gets_not_modified() {
    let server = TestServer::start(|req| match req.header("if-none-match") {
        Some("\"v1\"") => Reply::Raw(head("304 Not Modified", &[("ETag", "\"v1\"")])),
        _ => Reply::Raw(response(
            "200 OK",
            &[
                ("ETag", "\"v1\""),
                ("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT"),
            ],
            b"<rss/>",
        )),
    })
    .await;
    let (_, first) = fetch_body(&test_limits(), &get(server.url("/")))
        .await
        .unwrap();
    assert_eq!(first.etag.as_deref(), Some("\"v1\""));
    assert_eq!(
        first.last_modified.as_deref(),
        Some("Wed, 21 Oct 2015 07:28:00 GMT")
    );

    let again = FetchRequest {
        etag: first.etag.clone(),
        last_modified: first.last_modified.clone(),
        ..get(server.url("/"))
    };
    let fetched = HttpFetcher::new(&test_limits())
        .unwrap()
        .fetch(&again)
        .await
        .unwrap();
    assert!(matches!(fetched, FetchResponse::NotModified), "{fetched:?}");
}

#[tokio::test]
async fn too_many_requests_is_rate_limited_with_retry_after() {
    let server = TestServer::start(|_| {
        Reply::Raw(response(
            "429 Too Many Requests",
            &[("Retry-After", "120")],
            b"",
        ))
    })
    .await;
    let err = failure(&test_limits(), server.url("/")).await;
    assert_failure(&err, codes::FETCH_RATE_LIMITED, true);
    assert_eq!(err.retry_after, Some(Duration::from_secs(120)));
    assert_eq!(err.status, Some(429));
}

#[tokio::test]
async fn unavailable_is_rate_limited_and_garbage_retry_after_is_ignored() {
    let server = TestServer::start(|_| {
        Reply::Raw(response(
            "503 Service Unavailable",
            &[("Retry-After", "abc")],
            b"",
        ))
    })
    .await;
    let err = failure(&test_limits(), server.url("/")).await;
    assert_failure(&err, codes::FETCH_RATE_LIMITED, true);
    assert_eq!(err.retry_after, None);
}

#[test]
fn retry_after_accepts_seconds_and_http_dates_and_is_clamped() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_000); // 2015-10-21 07:20:00
    assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
        Some(Duration::from_secs(480))
    );
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
        Some(Duration::ZERO)
    );
    assert_eq!(
        parse_retry_after("999999999", now),
        Some(Duration::from_secs(24 * 3600))
    );
    assert_eq!(parse_retry_after("-5", now), None);
    assert_eq!(parse_retry_after("soon", now), None);
}

#[tokio::test]
async fn a_server_error_is_transient() {
    let server =
        TestServer::start(|_| Reply::Raw(response("500 Internal Server Error", &[], b"oops")))
            .await;
    let err = failure(&test_limits(), server.url("/")).await;
    assert_failure(&err, codes::FETCH_HTTP_STATUS, true);
    assert_eq!(err.status, Some(500));
    assert!(err.message.contains("500"), "{}", err.message);
}

#[tokio::test]
async fn not_found_is_permanent_and_names_the_status() {
    let server = TestServer::start(|_| Reply::Raw(response("404 Not Found", &[], b""))).await;
    let err = failure(&test_limits(), server.url("/gone")).await;
    assert_failure(&err, codes::FETCH_HTTP_STATUS, false);
    assert_eq!(err.status, Some(404));
    assert!(err.message.contains("404"), "{}", err.message);
}

#[tokio::test]
async fn forbidden_hints_at_the_per_source_user_agent() {
    let server = TestServer::start(|_| Reply::Raw(response("403 Forbidden", &[], b""))).await;
    let err = failure(&test_limits(), server.url("/")).await;
    assert_failure(&err, codes::FETCH_HTTP_STATUS, false);
    assert!(err.message.contains("User-Agent"), "{}", err.message);
}

#[tokio::test]
async fn a_redirect_without_location_is_a_status_failure() {
    let server = TestServer::start(|_| Reply::Raw(response("302 Found", &[], b""))).await;
    let err = failure(&test_limits(), server.url("/")).await;
    assert_failure(&err, codes::FETCH_HTTP_STATUS, false);
    assert_eq!(err.status, Some(302));
}

#[tokio::test]
async fn redirects_are_followed_and_the_final_url_reported() {
    let server = TestServer::start(|req| match req.path.as_str() {
        "/old" => Reply::Raw(response(
            "301 Moved Permanently",
            &[("Location", "../new?x=1")],
            b"",
        )),
        _ => ok_feed(req),
    })
    .await;
    let (bytes, body) = fetch_body(&test_limits(), &get(server.url("/old")))
        .await
        .unwrap();
    assert_eq!(bytes, b"<rss/>");
    assert_eq!(body.final_url.as_str(), server.url("/new?x=1"));
}

#[tokio::test]
async fn a_redirect_loop_is_too_many_redirects() {
    let server = TestServer::start(|req| {
        let to = if req.path == "/a" { "/b" } else { "/a" };
        Reply::Raw(response("302 Found", &[("Location", to)], b""))
    })
    .await;
    let err = failure(&test_limits(), server.url("/a")).await;
    assert_failure(&err, codes::FETCH_TOO_MANY_REDIRECTS, false);
    // The first request plus max_redirects (3) hops, and not one more.
    assert_eq!(server.hits(), 4);
}

#[tokio::test]
async fn a_redirect_to_a_file_url_is_a_blocked_scheme() {
    for target in [
        "file:///etc/passwd",
        "ftp://127.0.0.1/",
        "gopher://127.0.0.1/",
    ] {
        let server = TestServer::start(move |_| {
            Reply::Raw(response("302 Found", &[("Location", target)], b""))
        })
        .await;
        let err = failure(&test_limits(), server.url("/")).await;
        assert_failure(&err, codes::FETCH_BLOCKED_SCHEME, false);
    }
}

#[tokio::test]
async fn a_closed_port_is_refused_and_transient() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = failure(&test_limits(), format!("http://{addr}/")).await;
    assert_failure(&err, codes::FETCH_REFUSED, true);
}

#[tokio::test]
async fn a_failed_tls_handshake_is_permanent() {
    let server = TestServer::blurt(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
    let err = failure(&test_limits(), format!("https://{}/", server.addr)).await;
    assert_failure(&err, codes::FETCH_TLS, false);
}

#[tokio::test]
async fn exactly_max_redirects_hops_are_followed_and_one_more_is_refused() {
    // /r/N redirects to /r/N-1; /r/0 is the feed. test_limits allows 3 hops.
    let server = TestServer::start(|req| {
        match req
            .path
            .strip_prefix("/r/")
            .and_then(|n| n.parse::<u32>().ok())
        {
            Some(n) if n > 0 => {
                let to = format!("/r/{}", n - 1);
                Reply::Raw(response("302 Found", &[("Location", &to)], b""))
            }
            _ => ok_feed(req),
        }
    })
    .await;
    let (bytes, body) = fetch_body(&test_limits(), &get(server.url("/r/3")))
        .await
        .unwrap();
    assert_eq!(
        (bytes.as_slice(), body.final_url.path()),
        (&b"<rss/>"[..], "/r/0")
    );
    let err = failure(&test_limits(), server.url("/r/4")).await;
    assert_failure(&err, codes::FETCH_TOO_MANY_REDIRECTS, false);
}
