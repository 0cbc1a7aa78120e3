//! Byte cap, Content-Encoding, the total deadline and cut bodies.

use std::io::Write;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;

use super::*;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn an_announced_body_over_the_cap_is_refused_before_reading() {
    let server = TestServer::start(|_| Reply::Endless {
        head: head("200 OK", &[("Content-Length", "209715200")]),
        chunk: vec![0; 8192],
        total: 209_715_200,
    })
    .await;
    let fetcher = HttpFetcher::new(&test_limits()).unwrap();
    let err = fetcher.fetch(&get(server.url("/"))).await.unwrap_err();
    assert_failure(&err, codes::FETCH_TOO_LARGE, false);
}

#[tokio::test]
async fn an_unannounced_body_stops_at_the_cap() {
    let server = TestServer::start(|_| Reply::Endless {
        head: head("200 OK", &[]),
        chunk: vec![b'a'; 8192],
        total: 100 << 20,
    })
    .await;
    let fetcher = HttpFetcher::new(&test_limits()).unwrap();
    let FetchResponse::Body(mut body) = fetcher.fetch(&get(server.url("/"))).await.unwrap() else {
        panic!("expected a body");
    };
    let err = read_all(&mut body).await.unwrap_err();
    assert_failure(&err, codes::FETCH_TOO_LARGE, false);
    assert!(
        body.bytes_read() > 64 * 1024 && body.bytes_read() < 256 * 1024,
        "{}",
        body.bytes_read()
    );
    // The body is finished after a failure.
    assert!(body.next_chunk().await.unwrap().is_none());
}

#[tokio::test]
async fn a_per_request_cap_overrides_the_default() {
    let server = TestServer::start(|_| Reply::Raw(response("200 OK", &[], &[b'a'; 2048]))).await;
    let req = FetchRequest {
        max_body_bytes: Some(1024),
        ..get(server.url("/"))
    };
    let err = fetch_body(&test_limits(), &req).await.unwrap_err();
    assert_failure(&err, codes::FETCH_TOO_LARGE, false);
}

#[tokio::test]
async fn a_gzip_bomb_stops_at_the_decoded_cap() {
    // 32 MiB of spaces compresses to about 32 KiB: under the cap on the wire, far over decoded.
    let bomb = gzip(&vec![b' '; 32 << 20]);
    assert!(bomb.len() < 64 * 1024);
    let server = TestServer::start(move |_| {
        Reply::Raw(response("200 OK", &[("Content-Encoding", "gzip")], &bomb))
    })
    .await;
    let fetcher = HttpFetcher::new(&test_limits()).unwrap();
    let FetchResponse::Body(mut body) = fetcher.fetch(&get(server.url("/"))).await.unwrap() else {
        panic!("expected a body");
    };
    let err = read_all(&mut body).await.unwrap_err();
    assert_failure(&err, codes::FETCH_TOO_LARGE, false);
    assert!(
        body.bytes_read() < 256 * 1024,
        "read {} decoded bytes",
        body.bytes_read()
    );
}

#[tokio::test]
async fn one_gzip_layer_is_decoded() {
    let server = TestServer::start(|_| {
        Reply::Raw(response(
            "200 OK",
            &[("Content-Encoding", "gzip")],
            &gzip(b"<rss/>"),
        ))
    })
    .await;
    let (bytes, _) = fetch_body(&test_limits(), &get(server.url("/")))
        .await
        .unwrap();
    assert_eq!(bytes, b"<rss/>");
}

#[tokio::test]
async fn stacked_or_unknown_encodings_are_refused() {
    let twice = gzip(&gzip(b"<rss/>"));
    for encoding in ["gzip, gzip", "zstd-fake", "gzip,br"] {
        let body = twice.clone();
        let server = TestServer::start(move |_| {
            Reply::Raw(response("200 OK", &[("Content-Encoding", encoding)], &body))
        })
        .await;
        let err = failure(&test_limits(), server.url("/")).await;
        assert_failure(&err, codes::FETCH_DECODE, false);
    }
}

#[tokio::test]
async fn a_gzip_header_on_a_plain_body_is_a_decode_error() {
    let server = TestServer::start(|_| {
        Reply::Raw(response(
            "200 OK",
            &[("Content-Encoding", "gzip")],
            b"<rss>plain</rss>",
        ))
    })
    .await;
    let err = failure(&test_limits(), server.url("/")).await;
    assert_failure(&err, codes::FETCH_DECODE, false);
}

#[tokio::test]
async fn a_trickling_body_is_stopped_by_the_total_deadline() {
    let server = TestServer::start(|_| Reply::Trickle {
        head: head("200 OK", &[("Content-Length", "1000")]),
        every: Duration::from_millis(20),
    })
    .await;
    let limits = FetchLimits {
        total_timeout_ms: 300,
        ..test_limits()
    };
    let started = Instant::now();
    let err = failure(&limits, server.url("/")).await;
    assert_failure(&err, codes::FETCH_TIMEOUT, true);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_server_that_never_answers_is_stopped_by_the_total_deadline() {
    let server = TestServer::start(|_| Reply::Silence).await;
    let limits = FetchLimits {
        total_timeout_ms: 300,
        ..test_limits()
    };
    let started = Instant::now();
    let err = failure(&limits, server.url("/")).await;
    assert_failure(&err, codes::FETCH_TIMEOUT, true);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_body_shorter_than_announced_is_truncated_and_transient() {
    let server = TestServer::start(|_| {
        let mut bytes = head("200 OK", &[("Content-Length", "5000")]);
        bytes.extend_from_slice(&[b'a'; 1000]);
        Reply::Raw(bytes)
    })
    .await;
    let err = failure(&test_limits(), server.url("/")).await;
    assert_failure(&err, codes::FETCH_TRUNCATED, true);
}

#[tokio::test]
async fn a_cut_gzip_body_is_truncated_not_corrupt() {
    let server = TestServer::start(|_| {
        let full = gzip(
            &(0..20_000u32)
                .flat_map(|n| n.to_le_bytes())
                .collect::<Vec<_>>(),
        );
        let length = full.len().to_string();
        let mut bytes = head(
            "200 OK",
            &[("Content-Encoding", "gzip"), ("Content-Length", &length)],
        );
        bytes.extend_from_slice(&full[..full.len() / 2]);
        Reply::Raw(bytes)
    })
    .await;
    let err = failure(&test_limits(), server.url("/")).await;
    assert_failure(&err, codes::FETCH_TRUNCATED, true);
}

#[tokio::test]
async fn a_connect_that_never_completes_is_stopped_by_the_connect_timeout() {
    // A loopback listener with a full accept queue and nobody accepting: the kernel drops
    // further SYNs, so a connect hangs without a packet leaving the machine.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        let connect = tokio::net::TcpStream::connect(addr);
        match tokio::time::timeout(Duration::from_millis(200), connect).await {
            Ok(Ok(stream)) => fillers.push(stream),
            _ => break,
        }
    }
    let limits = FetchLimits {
        connect_timeout_ms: 300,
        total_timeout_ms: 5_000,
        ..test_limits()
    };
    let started = Instant::now();
    let err = failure(&limits, format!("http://{addr}/feed")).await;
    assert_failure(&err, codes::FETCH_TIMEOUT, true);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "took {took:?}: {}",
        err.message
    );
    drop((fillers, listener));
}

#[tokio::test]
async fn a_body_exactly_at_the_cap_is_accepted() {
    let body = vec![b' '; 1000];
    let server = TestServer::start(move |_| {
        Reply::Raw(response("200 OK", &[("Content-Type", "text/xml")], &body))
    })
    .await;
    let req = FetchRequest {
        max_body_bytes: Some(1000),
        ..get(server.url("/"))
    };
    let (bytes, _) = fetch_body(&test_limits(), &req).await.unwrap();
    assert_eq!(bytes.len(), 1000);
    let req = FetchRequest {
        max_body_bytes: Some(999),
        ..get(server.url("/"))
    };
    let err = fetch_body(&test_limits(), &req).await.unwrap_err();
    assert_failure(&err, codes::FETCH_TOO_LARGE, false);
}
