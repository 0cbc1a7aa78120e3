//! The HTTP layer's upgrade path: every request asking for a WebSocket is served by the app as
//! usual, a `/ws` handshake that passes its checks gets the socket, anything else its ordinary
//! answer and a closed connection. Spoken over raw sockets, to see exactly what is written.

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

/// Sends `request` and reads one response (its head, then `Content-Length` bytes of body);
/// also says whether the server closed the connection after it (checked for 2 s).
async fn exchange(app: &TestApp, request: &str) -> (String, bool) {
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
    let closed = matches!(
        tokio::time::timeout(Duration::from_secs(2), socket.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    );
    (String::from_utf8(got).unwrap(), closed)
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
async fn upgrade_requests_elsewhere_get_the_usual_answer_and_a_closed_connection() {
    let app = TestApp::spawn().await;
    let (response, closed) = exchange(&app, &handshake("/healthz", "")).await;
    let (status, head, body) = parse(&response);
    assert_eq!(status, 200, "{head}");
    assert!(closed, "the connection is closed after the answer");
    assert!(body.is_object(), "the whole body is written: {body}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(!head.contains("upgrade"), "{head}");

    let (status, head, body) = parse(&exchange(&app, &handshake("/api/import-logs", "")).await.0);
    assert_eq!(status, 401, "{head}");
    assert_eq!(body["error"]["code"], "auth.missing_token");

    let auth = format!("Authorization: Bearer {TOKEN}\r\n");
    let (status, _, body) = parse(&exchange(&app, &handshake("/api/nowhere", &auth)).await.0);
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");

    // The daemon is still serving.
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.cleanup().await;
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
        let (response, closed) = exchange(&app, &handshake(&target, headers)).await;
        let (status, head, body) = parse(&response);
        assert_eq!(status, want_status, "{target}: {head}");
        assert_eq!(body["error"]["code"], want_code, "{target}");
        assert!(head.contains("connection: close"), "{head}");
        assert!(
            closed,
            "{target}: the connection is closed after the answer"
        );
        assert!(!head.contains("sec-websocket-accept"), "{head}");
    }

    // A handshake the HTTP layer does not route to its upgrade path cannot be taken over.
    let odd = format!(
        "GET /ws?token={TOKEN} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket, x\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let (status, _, body) = parse(&exchange(&app, &odd).await.0);
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "validation.upgrade");

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
