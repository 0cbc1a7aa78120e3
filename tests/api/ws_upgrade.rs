//! The WebSocket endpoint's handshake: a `/ws` handshake that passes its checks (token, Origin)
//! gets the socket, one that fails them the API's error; close frames both ways; the token
//! never reaches a log line. Spoken over raw sockets where it matters what exactly is written.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::helpers::*;

/// RFC 6455's sample key and the accept value it must produce.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn handshake(target: &str, extra_headers: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\
         {extra_headers}\r\n"
    )
}

/// Sends `request` and reads one response (its head, then `Content-Length` bytes of body).
async fn exchange(app: &TestApp, request: &str) -> String {
    let mut socket = TcpStream::connect(app.daemon.addr).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if got.len() >= end + 4 + length {
                    break;
                }
            }
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before a whole response: {got:?}");
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("a response");
    String::from_utf8(got).unwrap()
}

/// Status, lower-cased head, and the body as JSON (`Null` if it is not JSON).
fn parse(response: &str) -> (u16, String, Value) {
    let (head, body) = response.split_once("\r\n\r\n").expect("a whole response");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, head.to_ascii_lowercase(), body)
}

/// A masked client text frame (the mask is all zeroes, which RFC 6455 allows).
fn client_text(text: &str) -> Vec<u8> {
    assert!(text.len() < 126);
    let mut frame = vec![0x81, 0x80 | text.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(text.as_bytes());
    frame
}

#[tokio::test]
async fn ws_handshakes_failing_their_checks_get_the_api_errors() {
    let app = TestApp::spawn().await;
    for (target, headers, want_status, want_code) in [
        ("/ws".to_owned(), "", 401, "auth.missing_token"),
        ("/ws?token=wrong".to_owned(), "", 401, "auth.invalid_token"),
        (
            format!("/ws?token={TOKEN}"),
            "Origin: http://evil.example\r\n",
            403,
            "auth.origin",
        ),
    ] {
        let response = exchange(&app, &handshake(&target, headers)).await;
        let (status, head, body) = parse(&response);
        assert_eq!(status, want_status, "{target}: {head}");
        assert_eq!(body["error"]["code"], want_code, "{target}");
        assert!(!head.contains("sec-websocket-accept"), "{head}");
        assert!(!head.starts_with("http/1.1 101"), "{head}");
    }

    // A plain GET is no handshake at all.
    let r = app.get(&format!("/ws?token={TOKEN}")).await;
    assert_eq!(r.status(), 400);
    app.cleanup().await;
}

#[tokio::test]
async fn frames_sent_right_behind_the_handshake_are_read_and_answered() {
    let app = TestApp::spawn().await;
    let mut socket = TcpStream::connect(app.daemon.addr).await.unwrap();
    let mut request = handshake(&format!("/ws?token={TOKEN}"), "").into_bytes();
    request.extend(client_text(r#"{"event":"ping"}"#));
    socket.write_all(&request).await.unwrap();

    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let end = loop {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed during the handshake");
        got.extend_from_slice(&buf[..n]);
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains(&format!(
        "sec-websocket-accept: {}",
        ACCEPT.to_ascii_lowercase()
    )));
    assert!(head.contains("connection: upgrade"), "{head}");

    let stream = tokio_tungstenite::MaybeTlsStream::Plain(socket);
    let mut ws = tokio_tungstenite::WebSocketStream::from_partially_read(
        stream,
        got[end..].to_vec(),
        Role::Client,
        None,
    )
    .await;
    assert!(
        next_named(&mut ws, "pong", Duration::from_secs(5))
            .await
            .is_some()
    );
    send_event(&mut ws, json!({"event": "ping"})).await;
    assert!(
        next_named(&mut ws, "pong", Duration::from_secs(5))
            .await
            .is_some()
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_client_close_is_answered_with_a_close_frame_and_the_socket_closed() {
    let app = TestApp::spawn().await;
    let mut ws = connect_ws(&app).await;
    next_named(&mut ws, "initial_data", Duration::from_secs(5))
        .await
        .unwrap();
    ws.send(Message::Close(None)).await.unwrap();
    let mut answered = false;
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(Message::Close(_)) => answered = true,
                Ok(_) => {}
                Err(_) => break,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the server closed the socket");
    assert!(answered, "with a close frame first");
    app.cleanup().await;
}

#[tokio::test]
async fn the_token_in_the_websocket_url_never_reaches_the_log() {
    let s = test_settings();
    let log = std::env::temp_dir().join(format!("job-importer-log-{}", uuid::Uuid::new_v4()));
    let daemon = DaemonProcess::start_logging(&s, "http", "debug", &log);
    let addr = daemon.wait_listening(Duration::from_secs(30)).await;
    // An accepted socket and a refused one, both with the token in their URL.
    let url = format!("ws://{addr}/ws?token={TOKEN}");
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("ws connects");
    assert!(
        next_named(&mut ws, "initial_data", Duration::from_secs(10))
            .await
            .is_some()
    );
    ws.close(None).await.ok();
    let wrong = format!("ws://{addr}/ws?token=not-{TOKEN}");
    assert!(tokio_tungstenite::connect_async(&wrong).await.is_err());
    drop(daemon);
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_file(&log).ok();
    assert!(
        text.contains("WebSocket opened") && text.contains("/ws?token=[redacted]"),
        "the request is logged, its target redacted: {text}"
    );
    assert!(!text.contains(TOKEN), "the token was logged: {text}");
}
