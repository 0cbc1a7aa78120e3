//! End-to-end fetch tests against [`TestServer`] on 127.0.0.1; no other address is ever dialled.

use super::test_server::{Reply, Request, TestServer, head, response};
use super::*;
use crate::domain::codes;

mod limits;
mod ssrf;
mod status;

/// Small limits keep the slow-server tests fast. Loopback is allowed except in `ssrf`.
fn test_limits() -> FetchLimits {
    FetchLimits {
        connect_timeout_ms: 1_000,
        total_timeout_ms: 3_000,
        max_body_bytes: 64 * 1024,
        max_redirects: 3,
        allow_private_networks: true,
        ..FetchLimits::default()
    }
}

fn get(url: String) -> FetchRequest {
    FetchRequest {
        url,
        ..FetchRequest::default()
    }
}

async fn read_all(body: &mut FetchBody) -> Result<Vec<u8>, FetchError> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next_chunk().await? {
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Fetches and reads the whole body, returning the body bytes and the response metadata.
async fn fetch_body(
    limits: &FetchLimits,
    req: &FetchRequest,
) -> Result<(Vec<u8>, FetchBody), FetchError> {
    let fetcher = HttpFetcher::new(limits)?;
    match fetcher.fetch(req).await? {
        FetchResponse::NotModified => panic!("unexpected 304 for {}", req.url),
        FetchResponse::Body(mut body) => Ok((read_all(&mut body).await?, body)),
    }
}

/// The failure of a fetch, whether it came with the headers or while reading the body.
async fn failure(limits: &FetchLimits, url: String) -> FetchError {
    match fetch_body(limits, &get(url.clone())).await {
        Ok((bytes, _)) => panic!("{url} unexpectedly succeeded with {} bytes", bytes.len()),
        Err(err) => err,
    }
}

#[track_caller]
fn assert_failure(err: &FetchError, code: &str, transient: bool) {
    assert_eq!(err.code, code, "unexpected code; message: {}", err.message);
    assert_eq!(
        err.transient, transient,
        "transient flag for {code}: {}",
        err.message
    );
}

fn ok_feed(_: &Request) -> Reply {
    Reply::Raw(response(
        "200 OK",
        &[("Content-Type", "application/rss+xml; charset=UTF-8")],
        b"<rss/>",
    ))
}

#[tokio::test]
async fn a_plain_feed_is_streamed_with_its_metadata() {
    let server = TestServer::start(ok_feed).await;
    let (bytes, body) = fetch_body(&test_limits(), &get(server.url("/feed")))
        .await
        .unwrap();
    assert_eq!(bytes, b"<rss/>");
    assert_eq!(body.bytes_read(), 6);
    assert_eq!(body.final_url.as_str(), server.url("/feed"));
    assert_eq!(body.content_type.as_deref(), Some("application/rss+xml"));
    assert_eq!(body.charset.as_deref(), Some("utf-8"));
}

#[tokio::test]
async fn user_agent_names_the_product_and_a_source_can_override_it() {
    let server = TestServer::start(|req| {
        let agent = req.header("user-agent").unwrap_or("").to_owned();
        Reply::Raw(response("200 OK", &[], agent.as_bytes()))
    })
    .await;
    let (bytes, _) = fetch_body(&test_limits(), &get(server.url("/")))
        .await
        .unwrap();
    let agent = String::from_utf8(bytes).unwrap();
    assert!(
        agent.starts_with(concat!("job-importer/", env!("CARGO_PKG_VERSION"))),
        "{agent}"
    );

    let custom = FetchRequest {
        user_agent: Some("Mozilla/5.0 (feed bot)".into()),
        ..get(server.url("/"))
    };
    let (bytes, _) = fetch_body(&test_limits(), &custom).await.unwrap();
    assert_eq!(bytes, b"Mozilla/5.0 (feed bot)");
}

#[tokio::test]
async fn an_unparseable_url_is_invalid() {
    let err = failure(&test_limits(), "not a url".into()).await;
    assert_failure(&err, codes::FETCH_INVALID_URL, false);
}

#[tokio::test]
async fn a_bad_stored_validator_is_dropped_but_a_bad_user_agent_is_refused() {
    let server = TestServer::start(ok_feed).await;
    let bad_etag = FetchRequest {
        etag: Some("\"v1\"\r\nX-Injected: 1".into()),
        ..get(server.url("/"))
    };
    let (bytes, _) = fetch_body(&test_limits(), &bad_etag).await.unwrap();
    assert_eq!(bytes, b"<rss/>");

    let bad_agent = FetchRequest {
        user_agent: Some("bot\u{7f}x".into()),
        ..get(server.url("/"))
    };
    let err = fetch_body(&test_limits(), &bad_agent).await.unwrap_err();
    assert_failure(&err, codes::FETCH_INVALID_URL, false);
    assert!(err.message.contains("User-Agent"), "{}", err.message);
}
