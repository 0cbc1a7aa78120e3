//! The two directions of one WebSocket connection, over actix-http's WebSocket codec.
//!
//! Outgoing: the response body *is* the session's bounded outbox. The session actor puts whole
//! frames in it with `try_send`; the connection's dispatcher takes them out when the socket can
//! take more. There is no writer task per session, and a frame that is the same for every client
//! (server frames are not masked) is encoded once and shared: `Bytes` clones by reference. The
//! session actor and its connection live on the same worker thread, so the outbox is a plain
//! queue behind an `Rc` that allocates only for what is waiting in it.
//!
//! Incoming: the request payload decoded into messages, ending when the connection ends.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use actix_codec::Decoder;
use actix_http::ws::{CloseReason, Codec, Frame, Message, OpCode, Parser, ProtocolError};
use actix_web::body::{BodyStream, MessageBody};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::Stream;
use tokio::sync::oneshot;

/// A whole server frame, ready for the socket.
pub type WireFrame = Bytes;

/// The frame of a text message. Encode once, send to many.
pub fn text_frame(text: &[u8]) -> WireFrame {
    let mut buf = BytesMut::with_capacity(text.len() + 10);
    Parser::write_message(&mut buf, text, OpCode::Text, true, false);
    buf.freeze()
}

/// An empty ping.
pub fn ping_frame() -> WireFrame {
    // FIN + ping opcode, no payload.
    Bytes::from_static(&[0x89, 0x00])
}

/// The answer to a client's ping, echoing its payload (at most 125 bytes, as RFC 6455 says).
pub fn pong_frame(payload: &[u8]) -> WireFrame {
    let payload = &payload[..payload.len().min(125)];
    let mut buf = BytesMut::with_capacity(payload.len() + 2);
    Parser::write_message(&mut buf, payload, OpCode::Pong, true, false);
    buf.freeze()
}

/// A close frame without a reason.
pub fn close_frame() -> WireFrame {
    let mut buf = BytesMut::with_capacity(2);
    Parser::write_close(&mut buf, None::<CloseReason>, false);
    buf.freeze()
}

/// Answers the upgrade: the 101 response (its body is the outbox), the outbox's sending side
/// (holding at most `outbox` frames) and the stream of the client's messages.
pub fn upgrade(
    req: &HttpRequest,
    payload: web::Payload,
    outbox: usize,
    max_frame: usize,
) -> Result<(HttpResponse, OutboxSender, Inbound), actix_web::Error> {
    let mut response = actix_http::ws::handshake(req.head())?;
    let queue = Rc::new(RefCell::new(Queue {
        frames: VecDeque::new(),
        capacity: outbox,
        sender_gone: false,
        body_gone: false,
        waker: None,
    }));
    let (closed_tx, closed_rx) = oneshot::channel();
    let tx = OutboxSender(queue.clone());
    let body = Outbox {
        queue,
        connection_closed: Some(closed_tx),
    };
    let response = response.message_body(BodyStream::new(body).boxed())?.into();
    let inbound = Inbound {
        payload: payload.into_inner(),
        connection_closed: Some(closed_rx),
        buf: BytesMut::new(),
        codec: Codec::new().max_size(max_frame),
        closing: false,
    };
    Ok((response, tx, inbound))
}

struct Queue {
    frames: VecDeque<WireFrame>,
    capacity: usize,
    sender_gone: bool,
    body_gone: bool,
    /// The connection's task, waiting for a frame.
    waker: Option<Waker>,
}

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// The client has not read the frames before it.
    Full,
    /// The connection is gone.
    Closed,
}

/// The session's end of the outbox. Dropping it ends the body once the queued frames are out.
pub struct OutboxSender(Rc<RefCell<Queue>>);

impl OutboxSender {
    /// Queues a frame unless the outbox is full or the connection gone; never waits.
    pub fn try_send(&self, frame: WireFrame) -> Result<(), SendError> {
        let mut q = self.0.borrow_mut();
        if q.body_gone {
            return Err(SendError::Closed);
        }
        if q.frames.len() >= q.capacity {
            return Err(SendError::Full);
        }
        q.frames.push_back(frame);
        if let Some(w) = q.waker.take() {
            w.wake();
        }
        Ok(())
    }

    /// Drops what is still queued: for a peer that stopped reading, nothing more is written.
    pub fn discard(&self) {
        let mut q = self.0.borrow_mut();
        q.frames = VecDeque::new();
    }
}

impl Drop for OutboxSender {
    fn drop(&mut self) {
        let mut q = self.0.borrow_mut();
        q.sender_gone = true;
        if let Some(w) = q.waker.take() {
            w.wake();
        }
    }
}

/// The response body: frames in the order they were sent. Ends once the sender is gone and
/// the queue is empty (or after a close frame); dropping it (the connection ended) ends
/// `Inbound` too.
struct Outbox {
    queue: Rc<RefCell<Queue>>,
    connection_closed: Option<oneshot::Sender<()>>,
}

impl Stream for Outbox {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut q = self.queue.borrow_mut();
        match q.frames.pop_front() {
            Some(frame) => {
                // Opcode 0x8 with FIN: a close frame is the last thing on the wire.
                if frame.first() == Some(&0x88) {
                    q.frames = VecDeque::new();
                    q.sender_gone = true;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            None if q.sender_gone => Poll::Ready(None),
            None => {
                if !q.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    q.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        {
            let mut q = self.queue.borrow_mut();
            q.body_gone = true;
            q.frames = VecDeque::new();
            q.waker = None;
        }
        if let Some(tx) = self.connection_closed.take() {
            tx.send(()).ok();
        }
    }
}

/// The client's messages, decoded from the request payload.
pub struct Inbound {
    payload: actix_http::Payload,
    /// Fires when the response side is dropped: the connection is gone even if the payload
    /// never said so.
    connection_closed: Option<oneshot::Receiver<()>>,
    buf: BytesMut,
    codec: Codec,
    closing: bool,
}

impl Stream for Inbound {
    type Item = Result<Message, ProtocolError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if !this.closing {
            if let Some(closed) = this.connection_closed.as_mut()
                && Pin::new(closed).poll(cx).is_ready()
            {
                this.closing = true;
                this.connection_closed = None;
            }
            loop {
                match Pin::new(&mut this.payload).poll_next(cx) {
                    Poll::Ready(Some(Ok(bytes))) => {
                        if this.buf.is_empty() {
                            this.buf = BytesMut::from(bytes);
                        } else {
                            this.buf.extend_from_slice(&bytes);
                        }
                    }
                    Poll::Ready(Some(Err(e))) => {
                        this.closing = true;
                        return Poll::Ready(Some(Err(ProtocolError::Io(std::io::Error::other(e)))));
                    }
                    Poll::Ready(None) => {
                        this.closing = true;
                        break;
                    }
                    Poll::Pending => break,
                }
            }
        }
        if let Some(frame) = this.codec.decode(&mut this.buf)? {
            let message = match frame {
                Frame::Text(bytes) => {
                    ByteString::try_from(bytes)
                        .map(Message::Text)
                        .map_err(|e| {
                            ProtocolError::Io(std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                e,
                            ))
                        })?
                }
                Frame::Binary(bytes) => Message::Binary(bytes),
                Frame::Ping(bytes) => Message::Ping(bytes),
                Frame::Pong(bytes) => Message::Pong(bytes),
                Frame::Close(reason) => Message::Close(reason),
                Frame::Continuation(item) => Message::Continuation(item),
            };
            // More frames may be buffered already: come back for them.
            if !this.buf.is_empty() {
                cx.waker().wake_by_ref();
            }
            return Poll::Ready(Some(Ok(message)));
        }
        if this.closing {
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_codec::Encoder;
    use futures_util::StreamExt;

    fn outbox(capacity: usize) -> (OutboxSender, Outbox) {
        let queue = Rc::new(RefCell::new(Queue {
            frames: VecDeque::new(),
            capacity,
            sender_gone: false,
            body_gone: false,
            waker: None,
        }));
        let body = Outbox {
            queue: queue.clone(),
            connection_closed: None,
        };
        (OutboxSender(queue), body)
    }

    #[tokio::test]
    async fn the_outbox_is_bounded_ordered_and_ends_after_its_sender() {
        let (tx, mut body) = outbox(2);
        tx.try_send(text_frame(b"1")).unwrap();
        tx.try_send(text_frame(b"2")).unwrap();
        assert_eq!(tx.try_send(text_frame(b"3")), Err(SendError::Full));
        assert_eq!(body.next().await.unwrap().unwrap(), text_frame(b"1"));
        tx.try_send(text_frame(b"3")).unwrap();
        assert_eq!(body.next().await.unwrap().unwrap(), text_frame(b"2"));
        drop(tx);
        // What was queued still goes out, then the body ends.
        assert_eq!(body.next().await.unwrap().unwrap(), text_frame(b"3"));
        assert!(body.next().await.is_none());

        let (tx, mut body) = outbox(4);
        tx.try_send(close_frame()).unwrap();
        tx.try_send(text_frame(b"late")).unwrap();
        assert_eq!(body.next().await.unwrap().unwrap(), close_frame());
        assert!(body.next().await.is_none(), "nothing after a close frame");

        let (tx, body) = outbox(4);
        drop(body);
        assert_eq!(tx.try_send(ping_frame()), Err(SendError::Closed));
    }

    #[tokio::test]
    async fn a_waiting_body_wakes_for_a_frame() {
        let (tx, mut body) = outbox(4);
        let read = tokio::task::LocalSet::new();
        let got = read
            .run_until(async move {
                let waiting = tokio::task::spawn_local(async move { body.next().await });
                tokio::task::yield_now().await;
                tx.try_send(ping_frame()).unwrap();
                waiting.await.unwrap()
            })
            .await;
        assert_eq!(got.unwrap().unwrap(), ping_frame());
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
}
