use super::*;
use actix_codec::Encoder;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::{LocalSet, spawn_local};

/// A connection over an in-memory socket: the connection's ends and the client's end.
fn pair(
    outbox: usize,
    socket_bytes: usize,
) -> (
    Connection<DuplexStream>,
    OutboxSender,
    Inbound,
    DuplexStream,
) {
    let (server, client) = tokio::io::duplex(socket_bytes);
    let (connection, tx, inbound) = open(server, &[], outbox, 1024);
    (connection, tx, inbound, client)
}

/// A frame as a client sends it: masked.
fn client_frame(payload: &[u8], op: OpCode) -> Vec<u8> {
    let mut buf = BytesMut::new();
    Parser::write_message(&mut buf, payload, op, true, true);
    buf.to_vec()
}

async fn read_all(mut client: DuplexStream) -> Vec<u8> {
    let mut got = Vec::new();
    client.read_to_end(&mut got).await.unwrap();
    got
}

#[tokio::test]
async fn the_outbox_is_bounded_ordered_and_drains_after_its_sender() {
    let (connection, tx, _inbound, client) = pair(2, 64 * 1024);
    tx.try_send(text_frame(b"1")).unwrap();
    tx.try_send(text_frame(b"2")).unwrap();
    assert_eq!(tx.try_send(text_frame(b"3")), Err(SendError::Full));
    LocalSet::new()
        .run_until(async move {
            let conn = spawn_local(connection);
            tokio::task::yield_now().await;
            // The connection took both: there is room again.
            tx.try_send(text_frame(b"3")).unwrap();
            drop(tx);
            // What was queued still goes out, then the socket is shut.
            let got = read_all(client).await;
            let want = [text_frame(b"1"), text_frame(b"2"), text_frame(b"3")].concat();
            assert_eq!(got, want);
            conn.await.unwrap();
        })
        .await;
}

#[tokio::test]
async fn nothing_follows_a_close_frame_and_the_connection_ends_after_it() {
    let (connection, tx, _inbound, client) = pair(4, 64 * 1024);
    tx.try_send(text_frame(b"last")).unwrap();
    tx.try_send(close_frame()).unwrap();
    tx.try_send(text_frame(b"late")).unwrap();
    LocalSet::new()
        .run_until(async move {
            let conn = spawn_local(connection);
            let got = read_all(client).await;
            assert_eq!(got, [text_frame(b"last"), close_frame()].concat());
            conn.await.unwrap();
            // The session may still hold its sender; the connection is gone.
            assert_eq!(tx.try_send(ping_frame()), Err(SendError::Closed));
        })
        .await;
}

#[tokio::test]
async fn a_peer_that_does_not_read_gets_the_rest_of_a_frame_in_pieces() {
    // A socket that takes 7 bytes at a time: frames leave in slices, in order, none lost.
    let (connection, tx, _inbound, mut client) = pair(8, 7);
    let frames = [
        text_frame(&[b'a'; 30]),
        text_frame(b"b"),
        text_frame(&[b'c'; 300]),
    ];
    for f in &frames {
        tx.try_send(f.clone()).unwrap();
    }
    drop(tx);
    LocalSet::new()
        .run_until(async move {
            let conn = spawn_local(connection);
            let mut got = Vec::new();
            let mut byte = [0u8; 3];
            loop {
                let n = client.read(&mut byte).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&byte[..n]);
            }
            assert_eq!(got, frames.concat());
            conn.await.unwrap();
        })
        .await;
}

#[tokio::test]
async fn discarding_for_a_stuck_peer_ends_the_connection_at_once() {
    // The client reads nothing; the socket holds 16 bytes.
    let (connection, tx, _inbound, _client) = pair(8, 16);
    for _ in 0..4 {
        tx.try_send(text_frame(&[b'x'; 100])).unwrap();
    }
    LocalSet::new()
        .run_until(async move {
            let conn = spawn_local(connection);
            tokio::task::yield_now().await;
            assert!(!conn.is_finished(), "waiting for the peer to read");
            tx.discard();
            drop(tx);
            tokio::time::timeout(Duration::from_secs(1), conn)
                .await
                .expect("ends without waiting for the peer")
                .unwrap();
        })
        .await;
}

#[tokio::test]
async fn client_frames_are_decoded_in_order_and_the_stream_ends_with_the_socket() {
    let (server, mut client) = tokio::io::duplex(64 * 1024);
    // One frame was already read by the HTTP layer, behind the handshake.
    let leftover = client_frame(b"first", OpCode::Text);
    let (connection, tx, mut inbound) = open(server, &leftover, 4, 1024);
    LocalSet::new()
        .run_until(async move {
            let conn = spawn_local(connection);
            let mut wire = client_frame(b"second", OpCode::Text);
            wire.extend(client_frame(b"hi", OpCode::Ping));
            wire.extend(client_frame(&[1, 2, 3], OpCode::Binary));
            // Split mid-frame: the rest comes later.
            let (a, b) = wire.split_at(5);
            client.write_all(a).await.unwrap();
            tokio::task::yield_now().await;
            client.write_all(b).await.unwrap();
            let mut got = Vec::new();
            for _ in 0..4 {
                got.push(inbound.next().await.unwrap().unwrap());
            }
            assert!(matches!(&got[0], Message::Text(t) if t == "first"));
            assert!(matches!(&got[1], Message::Text(t) if t == "second"));
            assert!(matches!(&got[2], Message::Ping(p) if p.as_ref() == b"hi"));
            assert!(matches!(&got[3], Message::Binary(b) if b.as_ref() == [1, 2, 3]));
            // Nothing is held for a quiet client.
            assert_eq!(inbound.shared.borrow().read_buf.capacity(), 0);

            client.shutdown().await.unwrap();
            assert!(
                inbound.next().await.is_none(),
                "ends with the client's stream"
            );
            drop(tx);
            conn.await.unwrap();
        })
        .await;
}

#[tokio::test]
async fn bad_frames_are_an_error_and_end_the_stream() {
    let (server, mut client) = tokio::io::duplex(64 * 1024);
    let (connection, _tx, mut inbound) = open(server, &[], 4, 16);
    LocalSet::new()
        .run_until(async move {
            let _conn = spawn_local(connection);
            // Larger than the 16 bytes allowed.
            client
                .write_all(&client_frame(&[b'x'; 17], OpCode::Text))
                .await
                .unwrap();
            assert!(matches!(
                inbound.next().await,
                Some(Err(ProtocolError::Overflow))
            ));
            assert!(inbound.next().await.is_none());
        })
        .await;

    let (server, mut client) = tokio::io::duplex(64 * 1024);
    let (connection, _tx, mut inbound) = open(server, &[], 4, 1024);
    LocalSet::new()
        .run_until(async move {
            let _conn = spawn_local(connection);
            client
                .write_all(&client_frame(&[0xff, 0xfe], OpCode::Text))
                .await
                .unwrap();
            assert!(
                matches!(inbound.next().await, Some(Err(ProtocolError::Io(_)))),
                "text that is not UTF-8"
            );
            assert!(inbound.next().await.is_none());
        })
        .await;
}

#[tokio::test]
async fn a_dropped_connection_ends_the_stream_and_refuses_frames() {
    let (connection, tx, mut inbound, _client) = pair(4, 1024);
    drop(connection);
    assert!(inbound.next().await.is_none());
    assert_eq!(tx.try_send(ping_frame()), Err(SendError::Closed));
}

#[test]
fn frames_encode_as_the_codec_would() {
    let mut codec = Codec::new();
    let mut want = BytesMut::new();
    codec
        .encode(Message::Text("héllo".into()), &mut want)
        .unwrap();
    assert_eq!(text_frame("héllo".as_bytes()), want.freeze());

    let long = "x".repeat(70_000);
    let mut want = BytesMut::new();
    codec
        .encode(Message::Text(long.clone().into()), &mut want)
        .unwrap();
    assert_eq!(text_frame(long.as_bytes()), want.freeze());

    let mut want = BytesMut::new();
    codec
        .encode(Message::Ping(Bytes::new()), &mut want)
        .unwrap();
    assert_eq!(ping_frame(), want.freeze());

    let mut want = BytesMut::new();
    codec
        .encode(Message::Pong(Bytes::from_static(b"hi")), &mut want)
        .unwrap();
    assert_eq!(pong_frame(b"hi"), want.freeze());
    assert_eq!(
        pong_frame(&[7u8; 200]).len(),
        2 + 125,
        "control frames stay short"
    );

    let mut want = BytesMut::new();
    codec.encode(Message::Close(None), &mut want).unwrap();
    assert_eq!(close_frame(), want.freeze());
}
