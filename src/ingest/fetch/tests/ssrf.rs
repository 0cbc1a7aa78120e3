//! The SSRF guard end to end: loopback servers are never reached unless private networks are
//! allowed. Non-loopback forms are covered at the policy level (`ip_policy`, `resolver`).

use super::*;

fn guarded() -> FetchLimits {
    FetchLimits {
        allow_private_networks: false,
        ..test_limits()
    }
}

#[tokio::test]
async fn loopback_literals_are_refused_without_a_request() {
    let server = TestServer::start(ok_feed).await;
    let port = server.addr.port();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://127.1:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://0.0.0.0:{port}/"),
    ] {
        let err = failure(&guarded(), url.clone()).await;
        assert_failure(&err, codes::FETCH_BLOCKED_ADDRESS, false);
    }
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_by_the_resolver() {
    let server = TestServer::start(ok_feed).await;
    let fetcher = HttpFetcher::new(&guarded()).unwrap();
    // Straight through the client, past check_url's `localhost` rule, so the refusal can only
    // come from the resolver. `localhost` resolves from the hosts file: no DNS traffic.
    let url = format!("http://localhost:{}/", server.addr.port());
    let err = fetcher.client.get(url).send().await.unwrap_err();
    assert_failure(
        &classify_reqwest_error(&err),
        codes::FETCH_BLOCKED_ADDRESS,
        false,
    );
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn a_redirect_to_loopback_is_refused_at_the_hop() {
    // The first server is loopback too, so it is reached through the client directly; the
    // redirect policy then refuses the literal loopback hop before the second server is hit.
    let secret = TestServer::start(ok_feed).await;
    let target = secret.url("/secret");
    let entry = TestServer::start(move |_| {
        Reply::Raw(response("302 Found", &[("Location", &target)], b""))
    })
    .await;
    let fetcher = HttpFetcher::new(&guarded()).unwrap();
    let err = fetcher
        .client
        .get(entry.url("/go"))
        .send()
        .await
        .unwrap_err();
    let err = classify_reqwest_error(&err);
    assert!(matches!(err.code, codes::FETCH_BLOCKED_ADDRESS), "{err:?}");
    assert_eq!(secret.hits(), 0);
}

#[tokio::test]
async fn loopback_is_reachable_when_private_networks_are_allowed() {
    let server = TestServer::start(ok_feed).await;
    let (bytes, _) = fetch_body(&test_limits(), &get(server.url("/")))
        .await
        .unwrap();
    assert_eq!(bytes, b"<rss/>");
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_request_allowed_private_networks_reaches_loopback_and_its_redirects() {
    // The global setting is off; only this request (a source the config file allows) may.
    let secret = TestServer::start(ok_feed).await;
    let target = secret.url("/secret");
    let entry = TestServer::start(move |_| {
        Reply::Raw(response("302 Found", &[("Location", &target)], b""))
    })
    .await;
    let req = FetchRequest {
        allow_private_networks: true,
        ..get(entry.url("/go"))
    };
    let (bytes, _) = fetch_body(&guarded(), &req).await.unwrap();
    assert_eq!(bytes, b"<rss/>");
    assert_eq!(secret.hits(), 1);
}

#[tokio::test]
async fn one_allowed_request_does_not_open_private_networks_to_the_next() {
    let server = TestServer::start(ok_feed).await;
    let fetcher = HttpFetcher::new(&guarded()).unwrap();
    let allowed = FetchRequest {
        allow_private_networks: true,
        ..get(server.url("/"))
    };
    assert!(fetcher.fetch(&allowed).await.is_ok());
    // The same fetcher, the same (now pooled) server, a request without the flag.
    let Err(err) = fetcher.fetch(&get(server.url("/"))).await else {
        panic!("a request without the flag reached loopback");
    };
    assert_failure(&err, codes::FETCH_BLOCKED_ADDRESS, false);
    assert_eq!(server.hits(), 1);
}
