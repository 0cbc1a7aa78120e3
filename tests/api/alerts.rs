//! Alerts across two daemons: a loopback webhook receiver (that fails twice first) and a
//! loopback SMTP server get exactly one alert when a source's runs fail and one "recovered"
//! when it works again, signed, whichever daemon judged each run; concurrent judges open and
//! recover one incident; targets obey the address policy; secrets stay out of the API.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use job_importer::alerts::signing;
use job_importer::config::Secret;
use job_importer::domain::alert::AlertEvent;
use job_importer::store::Store;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const SECRET: &str = "webhook-secret-0123456789";

/// A tiny SMTP server on loopback that accepts every message and keeps its data.
async fn smtp_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let kept = mails.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let mails = kept.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 test ESMTP\r\n").await.ok();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(d) = data.as_mut() {
                        if line == "." {
                            mails.lock().unwrap().push(data.take().unwrap());
                            w.write_all(b"250 queued\r\n").await.ok();
                        } else {
                            d.push_str(&line);
                            d.push('\n');
                        }
                        continue;
                    }
                    let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250-test\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            w.write_all(b"221 bye\r\n").await.ok();
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    w.write_all(reply).await.ok();
                }
            });
        }
    });
    (port, mails)
}

/// The webhook's received alerts (bodies of successful deliveries are the last of each id).
async fn webhook_bodies(server: &MockServer) -> Vec<(Value, String, u16)> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
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
            // The timestamp is when the attempt was made, as a receiver refusing replays
            // checks it.
            let t: i64 = sig
                .strip_prefix("t=")
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no timestamp in {sig}"));
            let skew = (chrono::Utc::now().timestamp() - t).abs();
            assert!(skew <= 120, "signed {skew} s away from now: {sig}");
            let delivery = r
                .headers
                .get("X-Job-Importer-Delivery")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            assert!(!delivery.is_empty(), "no delivery id header");
            (serde_json::from_slice(&r.body).unwrap(), sig, 0)
        })
        .collect()
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn one_alert_per_incident_and_one_recovery_reach_webhook_and_email_across_two_daemons() {
    // The receiver fails the first two requests, then accepts.
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&hook)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&hook)
        .await;
    let (smtp_port, mails) = smtp_server().await;
    let feed = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&feed)
        .await;

    let mut s = test_settings();
    s.scheduler.run_missed_on_start = false;
    s.alerts = serde_json::from_value(json!({
        "allow_private_networks": true,
        "poll_interval_ms": 50,
        "retry_base_ms": 50,
        "timeout_ms": 2000,
        "delivery_lease_secs": 10,
        "channels": [
            {"id": "hook", "kind": "webhook", "url": format!("{}/hook", hook.uri()), "secret": SECRET},
            {"id": "mail", "kind": "email", "smtp_host": "127.0.0.1", "smtp_port": smtp_port,
             "smtp_tls": "none", "from": "importer@example.com", "to": ["ops@example.com"]},
        ],
        "rules": [{"events": ["run_failed"], "channels": ["hook", "mail"]}],
    }))
    .unwrap();
    s.validate().unwrap();
    let a = TestApp::spawn_with(s.clone()).await;
    let b = TestApp::spawn_with(s).await;
    let source = a
        .create_source("Flaky", &format!("{}/feed.xml", feed.uri()))
        .await;

    // Two failed runs, one judged on each daemon's watch: one incident.
    for app in [&a, &b] {
        let run = app.trigger(&source).await;
        let d = app.wait_final(&run).await;
        assert_eq!(d.get_str("status").unwrap(), "failed", "{d}");
    }
    wait_for("the opening on both channels", async || {
        webhook_bodies(&hook).await.len() >= 3 && !mails.lock().unwrap().is_empty()
    })
    .await;

    // The feed works again: one recovery.
    feed.reset().await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(rss_feed(&items(0..3, "a")), "application/rss+xml"),
        )
        .mount(&feed)
        .await;
    let run = b.trigger(&source).await;
    assert_eq!(
        b.wait_final(&run).await.get_str("status").unwrap(),
        "completed"
    );
    wait_for("the recovery on both channels", async || {
        webhook_bodies(&hook).await.len() >= 4 && mails.lock().unwrap().len() >= 2
    })
    .await;
    // Nothing more arrives.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let got = webhook_bodies(&hook).await;
    assert_eq!(
        got.len(),
        4,
        "two failed attempts, the opening, the recovery: {got:?}"
    );
    // The first two attempts and the third carry the same opening.
    let transitions: Vec<&str> = got
        .iter()
        .map(|(v, _, _)| v["transition"].as_str().unwrap())
        .collect();
    assert_eq!(transitions, ["opened", "opened", "opened", "recovered"]);
    assert_eq!(got[0].0["incidentId"], got[3].0["incidentId"]);
    assert_eq!(got[0].0["sourceId"], source.as_str());
    assert_eq!(got[0].0["event"], "run_failed");
    let mails = mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(
        mails[0].contains("run_failed opened") && mails[1].contains("run_failed recovered"),
        "{mails:?}"
    );
    assert!(
        mails[0].contains("importer@example.com") && mails[0].contains("ops@example.com"),
        "{mails:?}"
    );

    // The history on the source: both deliveries of each transition, sent; the webhook's
    // opening took three attempts.
    let (status, v) = get_json(&a, &format!("/api/alerts/deliveries?source={source}")).await;
    assert_eq!(status, 200, "{v}");
    let list = v["deliveries"].as_array().unwrap();
    assert_eq!(list.len(), 4, "{v}");
    assert!(list.iter().all(|d| d["status"] == "sent"), "{v}");
    let opening = list
        .iter()
        .find(|d| d["channelId"] == "hook" && d["message"]["transition"] == "opened")
        .unwrap();
    assert_eq!(opening["attempts"], 3, "{opening}");

    // Channels are listed without their secrets.
    let (_, v) = get_json(&a, "/api/alerts/channels").await;
    let text = v.to_string();
    assert!(!text.contains(SECRET) && !text.contains("/hook"), "{text}");

    // "Send test" goes through the same outbox.
    let r = a
        .post_json(
            &format!("/api/alerts/channels/hook/test?source={source}"),
            &Value::Null,
        )
        .await;
    assert_eq!(r.status(), 202);
    wait_for("the test message", async || {
        webhook_bodies(&hook).await.len() >= 5
    })
    .await;
    let got = webhook_bodies(&hook).await;
    assert_eq!(got[4].0["transition"], "test");
    let r = a
        .post_json("/api/alerts/channels/nope/test", &Value::Null)
        .await;
    assert_eq!(r.status(), 404);
    let r = a
        .post_json("/api/alerts/channels/hook/test?source=nope", &Value::Null)
        .await;
    assert_eq!(r.status(), 404);
    let (_, audit) = get_json(&a, "/api/audit?action=alert_test_sent").await;
    assert_eq!(audit["total"], 1, "{audit}");

    b.daemon.stop();
    a.cleanup().await;
}

/// Many judges at once (as daemons finishing runs of one source at the same moment): one of
/// them opens the incident, then one of them recovers it, and the next failure opens the next.
#[tokio::test]
async fn concurrent_judges_open_one_incident_and_recover_it_once() {
    let s = test_settings();
    let store = Store::connect(&mongo_uri(), &s.mongodb.database, Duration::from_secs(10))
        .await
        .unwrap();
    store.ensure_indexes().await.unwrap();
    let judges = 8;
    let opened = futures_util::future::join_all((0..judges).map(|i| {
        let store = store.clone();
        async move {
            store
                .open_incident(
                    "src",
                    AlertEvent::RunFailed,
                    &format!("judge {i}"),
                    None,
                    true,
                )
                .await
                .unwrap()
        }
    }))
    .await;
    let won: Vec<_> = opened.into_iter().flatten().collect();
    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!(won[0].message.incident_id, "src:run_failed:1");
    // Open already: nobody opens it again.
    assert!(
        store
            .open_incident("src", AlertEvent::RunFailed, "again", None, true)
            .await
            .unwrap()
            .is_none()
    );
    let recovered = futures_util::future::join_all((0..judges).map(|_| {
        let store = store.clone();
        async move {
            store
                .recover_incident("src", AlertEvent::RunFailed, "fine", None)
                .await
                .unwrap()
        }
    }))
    .await;
    let won: Vec<_> = recovered.into_iter().flatten().collect();
    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!(won[0].message.incident_id, "src:run_failed:1");
    let next = store
        .open_incident("src", AlertEvent::RunFailed, "broken again", None, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.message.incident_id, "src:run_failed:2");

    // A coverage drop opens only once coverage was seen fine.
    assert!(
        store
            .open_incident("src", AlertEvent::CoverageDrop, "no company", None, false)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .recover_incident("src", AlertEvent::CoverageDrop, "companies", None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .open_incident("src", AlertEvent::CoverageDrop, "no company", None, false)
            .await
            .unwrap()
            .is_some()
    );
    mongodb::Client::with_uri_str(mongo_uri())
        .await
        .unwrap()
        .database(&s.mongodb.database)
        .drop()
        .await
        .ok();
}

/// Without `alerts.allow_private_networks`, a webhook and an SMTP server on loopback are
/// refused: nothing reaches them, the deliveries fail with the reason, and no secret shows.
#[tokio::test]
async fn channels_on_private_addresses_are_refused_unless_allowed() {
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    let (smtp_port, mails) = smtp_server().await;
    let mut s = test_settings();
    s.scheduler.run_missed_on_start = false;
    s.auth.read_token = Secret::new("read-only-token-for-alerts");
    s.alerts = serde_json::from_value(json!({
        "poll_interval_ms": 50,
        "retry_base_ms": 50,
        "max_attempts": 2,
        "timeout_ms": 2000,
        "delivery_lease_secs": 10,
        "channels": [
            {"id": "hook", "kind": "webhook", "url": format!("{}/hook?token=tok-123", hook.uri()), "secret": SECRET},
            {"id": "mail", "kind": "email", "smtp_host": "localhost", "smtp_port": smtp_port,
             "smtp_tls": "none", "from": "importer@example.com", "to": ["ops@example.com"]},
        ],
    }))
    .unwrap();
    s.validate().unwrap();
    let app = TestApp::spawn_with(s).await;
    for channel in ["hook", "mail"] {
        let r = app
            .post_json(
                &format!("/api/alerts/channels/{channel}/test"),
                &Value::Null,
            )
            .await;
        assert_eq!(r.status(), 202);
    }
    let mut list = Vec::new();
    wait_for("both deliveries to fail", async || {
        let (_, v) = get_json(&app, "/api/alerts/deliveries").await;
        list = v["deliveries"].as_array().cloned().unwrap_or_default();
        list.len() == 2 && list.iter().all(|d| d["status"] == "failed")
    })
    .await;
    for d in &list {
        assert_eq!(d["attempts"], 2, "{d}");
        let e = d["lastError"].as_str().unwrap();
        assert!(e.contains("not allowed"), "{d}");
        assert!(!e.contains("tok-123") && !e.contains(SECRET), "{d}");
    }
    assert!(hook.received_requests().await.unwrap().is_empty());
    assert!(mails.lock().unwrap().is_empty());

    // The read-only token sees the channels but may not send a test.
    let r = get_with(
        &app,
        "/api/alerts/channels",
        Some("read-only-token-for-alerts"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["canSendTest"], false, "{v}");
    assert_eq!(v["channels"][0]["target"], "127.0.0.1", "{v}");
    assert!(!v.to_string().contains("tok-123"), "{v}");
    let r = app
        .http
        .post(app.url("/api/alerts/channels/hook/test"))
        .bearer_auth("read-only-token-for-alerts")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (_, v) = get_json(&app, "/api/alerts/channels").await;
    assert_eq!(v["canSendTest"], true, "{v}");
    app.cleanup().await;
}

/// A source with no new job for longer than `alerts.stale_after_days` is stale once, however
/// many daemons judge it, and recovers once with a run that brings new jobs; the Slack-shaped
/// channel gets both as `{"text": ...}`.
#[tokio::test]
async fn a_stale_source_alerts_once_on_slack_and_recovers_with_new_jobs() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T0/B0/x"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&slack)
        .await;
    let mut s = test_settings();
    s.scheduler.run_missed_on_start = false;
    s.alerts = serde_json::from_value(json!({
        "allow_private_networks": true,
        "poll_interval_ms": 50,
        "timeout_ms": 2000,
        "delivery_lease_secs": 10,
        "stale_after_days": 3,
        "channels": [{"id": "chat", "kind": "slack", "url": format!("{}/services/T0/B0/x", slack.uri())}],
        "rules": [{"events": ["stale"], "channels": ["chat"]}],
    }))
    .unwrap();
    s.validate().unwrap();
    let app = TestApp::spawn_with(s.clone()).await;
    let source = app
        .create_source("Quiet", "http://127.0.0.1:9/feed.xml")
        .await;
    let old = run_at("old-run", &source, 5 * 24 * 60, |r| {
        r.status = job_importer::domain::RunStatus::Completed;
        r.new_jobs = 3;
    });
    seed_run(&app, &old).await;
    let store = Store::connect(&mongo_uri(), &s.mongodb.database, Duration::from_secs(10))
        .await
        .unwrap();

    // Two judges at once (as two daemons whose stale checks overlap).
    let (a, b) = tokio::join!(
        job_importer::alerts::check_stale(&store, &s.alerts),
        job_importer::alerts::check_stale(&store, &s.alerts)
    );
    a.unwrap();
    b.unwrap();
    let texts = async || -> Vec<String> {
        slack
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let v: Value = serde_json::from_slice(&r.body).unwrap();
                v["text"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    wait_for("the stale alert", async || !texts().await.is_empty()).await;

    let fresh = run_at("fresh-run", &source, 1, |r| {
        r.status = job_importer::domain::RunStatus::Completed;
        r.new_jobs = 1;
    });
    seed_run(&app, &fresh).await;
    job_importer::alerts::check_stale(&store, &s.alerts)
        .await
        .unwrap();
    job_importer::alerts::check_stale(&store, &s.alerts)
        .await
        .unwrap();
    wait_for("the recovery", async || texts().await.len() >= 2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = texts().await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].contains(&source) && got[0].contains("no new jobs for a while"),
        "{got:?}"
    );
    assert!(got[1].contains("recovered (stale)"), "{got:?}");
    app.cleanup().await;
}

/// How a test SMTP server speaks TLS.
#[derive(Clone, Copy, PartialEq)]
enum SmtpMode {
    /// TLS from the first byte (`smtp_tls = "tls"`).
    Implicit,
    /// Plain, offering STARTTLS (`smtp_tls = "starttls"`).
    StartTls,
}

/// A connection to a test SMTP server, plain or inside TLS.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// One SMTP conversation on `stream`: keeps each message's data; on STARTTLS (offered while
/// `upgrade` is there) it continues inside TLS.
fn smtp_session(
    stream: Box<dyn Io>,
    mails: Arc<Mutex<Vec<String>>>,
    upgrade: Option<tokio_rustls::TlsAcceptor>,
    greet: bool,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        let mut io = BufReader::new(stream);
        if greet {
            io.write_all(b"220 test ESMTP\r\n").await.ok();
        }
        let mut data: Option<String> = None;
        let mut line = String::new();
        loop {
            line.clear();
            if io.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let text = line.trim_end_matches(['\r', '\n']).to_owned();
            if let Some(d) = data.as_mut() {
                if text == "." {
                    mails.lock().unwrap().push(data.take().unwrap());
                    io.write_all(b"250 queued\r\n").await.ok();
                } else {
                    d.push_str(&text);
                    d.push('\n');
                }
                continue;
            }
            let verb = text.split_whitespace().next().unwrap_or("").to_uppercase();
            match verb.as_str() {
                "EHLO" | "HELO" if upgrade.is_some() => {
                    io.write_all(b"250-test\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
                        .await
                        .ok();
                }
                "EHLO" | "HELO" => {
                    io.write_all(b"250-test\r\n250 8BITMIME\r\n").await.ok();
                }
                "STARTTLS" if upgrade.is_some() => {
                    io.write_all(b"220 go ahead\r\n").await.ok();
                    let Ok(tls) = upgrade.unwrap().accept(io.into_inner()).await else {
                        return;
                    };
                    return smtp_session(Box::new(tls), mails, None, false).await;
                }
                "DATA" => {
                    data = Some(String::new());
                    io.write_all(b"354 go on\r\n").await.ok();
                }
                "QUIT" => {
                    io.write_all(b"221 bye\r\n").await.ok();
                    return;
                }
                _ => {
                    io.write_all(b"250 ok\r\n").await.ok();
                }
            }
        }
    })
}

/// An SMTP server for `localhost` speaking TLS as `mode` with a certificate of its own CA;
/// returns its port, the mails it accepted, and the CA's certificate (PEM).
async fn tls_smtp_server(mode: SmtpMode) -> (u16, Arc<Mutex<Vec<String>>>, String) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let pem = key.cert.pem();
    let chain = vec![key.cert.der().clone()];
    let private = rustls::pki_types::PrivateKeyDer::Pkcs8(
        rustls::pki_types::PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()),
    );
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, private)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let kept = mails.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (mails, acceptor) = (kept.clone(), acceptor.clone());
            tokio::spawn(async move {
                match mode {
                    SmtpMode::Implicit => {
                        if let Ok(tls) = acceptor.accept(stream).await {
                            smtp_session(Box::new(tls), mails, None, true).await;
                        }
                    }
                    SmtpMode::StartTls => {
                        smtp_session(Box::new(stream), mails, Some(acceptor), true).await
                    }
                }
            });
        }
    });
    (port, mails, pem)
}

/// Email over TLS from the first byte and over STARTTLS reaches servers whose certificate
/// chains to the CA named by `smtp_ca_file`; a channel that does not trust that CA fails
/// with a TLS error and sends nothing.
#[tokio::test]
async fn email_goes_over_tls_and_starttls_to_a_server_of_a_ca_the_channel_names() {
    let (tls_port, tls_mails, tls_ca) = tls_smtp_server(SmtpMode::Implicit).await;
    let (start_port, start_mails, start_ca) = tls_smtp_server(SmtpMode::StartTls).await;
    let dir = std::env::temp_dir().join(format!("smtp-ca-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (tls_ca_file, start_ca_file) = (dir.join("tls.pem"), dir.join("starttls.pem"));
    std::fs::write(&tls_ca_file, tls_ca).unwrap();
    std::fs::write(&start_ca_file, start_ca).unwrap();
    let mail = |id: &str, port: u16, tls: &str, ca: Option<&std::path::Path>| {
        let mut c = json!({"id": id, "kind": "email", "smtp_host": "localhost", "smtp_port": port,
            "smtp_tls": tls, "from": "importer@example.com", "to": ["ops@example.com"]});
        if let Some(ca) = ca {
            c["smtp_ca_file"] = json!(ca);
        }
        c
    };
    let mut s = test_settings();
    s.scheduler.run_missed_on_start = false;
    s.alerts = serde_json::from_value(json!({
        "allow_private_networks": true,
        "poll_interval_ms": 50,
        "retry_base_ms": 50,
        "max_attempts": 1,
        "timeout_ms": 5000,
        "delivery_lease_secs": 15,
        "channels": [
            mail("tls", tls_port, "tls", Some(&tls_ca_file)),
            mail("starttls", start_port, "starttls", Some(&start_ca_file)),
            // The other server's CA: its certificate is not trusted.
            mail("untrusted", tls_port, "tls", Some(&start_ca_file)),
        ],
    }))
    .unwrap();
    s.validate().unwrap();
    let app = TestApp::spawn_with(s).await;
    for channel in ["tls", "starttls", "untrusted"] {
        let r = app
            .post_json(
                &format!("/api/alerts/channels/{channel}/test"),
                &Value::Null,
            )
            .await;
        assert_eq!(r.status(), 202);
    }
    let mut list = Vec::new();
    wait_for("three deliveries to end", async || {
        let (_, v) = get_json(&app, "/api/alerts/deliveries").await;
        list = v["deliveries"].as_array().cloned().unwrap_or_default();
        list.len() == 3 && list.iter().all(|d| d["status"] != "pending")
    })
    .await;
    let status = |ch: &str| {
        let d = list.iter().find(|d| d["channelId"] == ch).unwrap();
        (
            d["status"].as_str().unwrap().to_owned(),
            d["lastError"].as_str().unwrap_or("").to_owned(),
        )
    };
    assert_eq!(status("tls").0, "sent", "{list:?}");
    assert_eq!(status("starttls").0, "sent", "{list:?}");
    let (st, err) = status("untrusted");
    assert_eq!(st, "failed", "{list:?}");
    assert!(err.contains("SMTP"), "{err}");
    // One mail each on the trusted channels; the untrusted one never got to send.
    assert_eq!(tls_mails.lock().unwrap().len(), 1);
    assert_eq!(start_mails.lock().unwrap().len(), 1);
    assert!(tls_mails.lock().unwrap()[0].contains("importer@example.com"));

    // A CA file that is not there is refused when the settings are loaded.
    let mut bad: job_importer::config::Settings = test_settings();
    bad.alerts = serde_json::from_value(json!({
        "channels": [mail("m", 25, "tls", Some(&dir.join("missing.pem")))],
    }))
    .unwrap();
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("smtp_ca_file"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
    app.cleanup().await;
}
