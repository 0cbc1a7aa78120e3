//! The two directions of one WebSocket connection, on the raw socket.
//!
//! The HTTP layer answers the handshake and then hands the socket over (`crate::http::upgrade`):
//! no HTTP buffers stay behind for the connection's life. What remains per connection is a
//! `Connection` future (the connection's task), the session actor, and `Shared` between them:
//!
//! - Outgoing: a bounded queue of whole frames. The session puts frames in with `try_send`; the
//!   connection writes them when the socket takes more. A frame that is the same for every
//!   client (server frames are not masked) is encoded once and shared: `Bytes` clones by
//!   reference, and a partly written frame is only sliced, never copied.
//! - Incoming: the connection reads only when the socket is readable, into a stack buffer, and
//!   keeps just the bytes of frames not yet decoded; the session decodes them. An idle
//!   connection holds no buffer at all.
//!
//! The session actor and its connection live on the same worker thread, so the shared state is
//! a plain `RefCell` behind an `Rc`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use actix_codec::Decoder;
use actix_http::ws::{CloseReason, Codec, Frame, Message, OpCode, Parser, ProtocolError};
use actix_web::body::BoxBody;
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use bytes::{Buf, Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A whole server frame, ready for the socket.
pub type WireFrame = Bytes;

/// Bytes read from the socket at a time (on the stack, not kept).
const READ_CHUNK: usize = 4096;
/// Frames handed to one vectored write.
const WRITE_SLICES: usize = 16;
/// The largest frame header: opcode byte, 9 length bytes, 4 mask bytes.
const MAX_HEADER: usize = 14;
/// How long what was queued before the session ended may take to leave, for a peer that is
/// slow to read it; then the socket is closed anyway.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

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

/// Opcode 0x8 with FIN.
fn is_close(frame: &WireFrame) -> bool {
    frame.first() == Some(&0x88)
}

/// In a request's extensions when the HTTP layer can hand its connection over: the request
/// came through the upgrade path (`crate::http::upgrade`).
#[derive(Debug, Clone, Copy)]
pub struct Upgradable;

/// Whether `accept` can take this request's connection over.
pub fn upgradable(req: &HttpRequest) -> bool {
    req.extensions().get::<Upgradable>().is_some()
}

/// Put in a 101 response's extensions by `accept`: what to start once the socket is ours.
pub struct Accept {
    outbox: usize,
    max_frame: usize,
    start: Box<dyn FnOnce(OutboxSender, Inbound)>,
}

impl Accept {
    /// Takes over `io`, after the 101 response went out on it. `leftover` is what the client
    /// sent after its handshake and the HTTP layer had already read. Calls the `start` given
    /// to `accept` with the session's ends, and returns the connection's own end, to be polled
    /// until it completes.
    pub fn open<T>(self, io: T, leftover: &[u8]) -> Connection<T> {
        let (connection, outbox, inbound) = open(io, leftover, self.outbox, self.max_frame);
        (self.start)(outbox, inbound);
        connection
    }
}

/// Answers a checked WebSocket handshake: the 101 response, carrying what the HTTP layer needs
/// to take the connection over. Once it has, `start` gets the session's ends: the outbox's
/// sending side (holding at most `outbox` frames) and the stream of the client's messages
/// (frames up to `max_frame` bytes). The handshake must have been checked
/// (`actix_http::ws::verify_handshake`) and the request be `upgradable`.
pub fn accept(
    req: &HttpRequest,
    outbox: usize,
    max_frame: usize,
    start: impl FnOnce(OutboxSender, Inbound) + 'static,
) -> Result<HttpResponse, actix_web::Error> {
    let response = actix_http::ws::handshake_response(req.head()).message_body(BoxBody::new(()))?;
    let mut response = HttpResponse::from(response);
    response.extensions_mut().insert(Accept {
        outbox,
        max_frame,
        start: Box::new(start),
    });
    Ok(response)
}

/// The three ends of a connection over `io`: the connection itself, the outbox's sender and
/// the client's messages.
pub fn open<T>(
    io: T,
    leftover: &[u8],
    outbox: usize,
    max_frame: usize,
) -> (Connection<T>, OutboxSender, Inbound) {
    let read_limit = max_frame + MAX_HEADER;
    let shared = Rc::new(RefCell::new(Shared {
        frames: VecDeque::new(),
        capacity: outbox,
        close_queued: false,
        // A copy: the HTTP layer's read buffer is much larger than what is left in it.
        read_buf: BytesMut::from(leftover),
        read_limit,
        read_done: false,
        read_error: None,
        sender_gone: false,
        connection_gone: false,
        connection_waker: None,
        session_waker: None,
    }));
    let connection = Connection {
        io,
        shared: shared.clone(),
        closing: None,
        shutting_down: false,
    };
    let inbound = Inbound {
        shared: shared.clone(),
        codec: Codec::new().max_size(max_frame),
        failed: false,
    };
    (connection, OutboxSender(shared), inbound)
}

struct Shared {
    /// Frames waiting for the socket; the first one may be partly written already.
    frames: VecDeque<WireFrame>,
    capacity: usize,
    /// A close frame is queued: nothing after it is.
    close_queued: bool,
    /// Bytes read and not decoded yet: empty, without an allocation, while the client is quiet.
    read_buf: BytesMut,
    /// Reading stops while this much is waiting to be decoded (one whole frame fits).
    read_limit: usize,
    /// The client sent all it will (end of stream or a read error).
    read_done: bool,
    read_error: Option<io::Error>,
    /// The session dropped its sender.
    sender_gone: bool,
    /// The connection ended (closed, failed, or finished after the session).
    connection_gone: bool,
    /// The connection's task, waiting for frames to write or for room to read.
    connection_waker: Option<Waker>,
    /// The session, waiting for the client's messages.
    session_waker: Option<Waker>,
}

fn wake(waker: &mut Option<Waker>) {
    if let Some(w) = waker.take() {
        w.wake();
    }
}

fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        *slot = Some(cx.waker().clone());
    }
}

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// The client has not read the frames before it.
    Full,
    /// The connection is gone.
    Closed,
}

/// The session's end of the outbox. Dropping it ends the connection once the queued frames
/// are out.
pub struct OutboxSender(Rc<RefCell<Shared>>);

impl OutboxSender {
    /// Queues a frame unless the outbox is full or the connection gone; never waits. Nothing
    /// is queued after a close frame.
    pub fn try_send(&self, frame: WireFrame) -> Result<(), SendError> {
        let mut s = self.0.borrow_mut();
        if s.connection_gone {
            return Err(SendError::Closed);
        }
        if s.close_queued {
            return Ok(());
        }
        if s.frames.len() >= s.capacity {
            return Err(SendError::Full);
        }
        s.close_queued = is_close(&frame);
        s.frames.push_back(frame);
        wake(&mut s.connection_waker);
        Ok(())
    }

    /// Drops what is still queued: for a peer that stopped reading, nothing more is written.
    pub fn discard(&self) {
        let mut s = self.0.borrow_mut();
        s.frames = VecDeque::new();
        s.close_queued = true;
    }
}

impl Drop for OutboxSender {
    fn drop(&mut self) {
        let mut s = self.0.borrow_mut();
        s.sender_gone = true;
        wake(&mut s.connection_waker);
    }
}

/// The connection's task: writes the queued frames, reads what the client sends. Completes once
/// the session has ended and what it queued is out (or `CLOSE_TIMEOUT` passed), or when the
/// socket fails. Dropping it ends `Inbound` and refuses further frames.
pub struct Connection<T> {
    io: T,
    shared: Rc<RefCell<Shared>>,
    /// Started when the session ends with frames still queued.
    closing: Option<Pin<Box<tokio::time::Sleep>>>,
    shutting_down: bool,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Connection<T> {
    /// One pass over both directions; `Ok(true)` once the connection is finished.
    fn drive(&mut self, cx: &mut Context<'_>) -> io::Result<bool> {
        let shared = self.shared.clone();
        let mut s = shared.borrow_mut();
        if !self.shutting_down {
            self.write(&mut s, cx)?;
        }
        if s.frames.is_empty() && (s.sender_gone || s.close_queued) {
            // Everything the session queued is out: say so to the peer and finish.
            self.shutting_down = true;
            return match Pin::new(&mut self.io).poll_shutdown(cx) {
                Poll::Ready(_) => Ok(true),
                Poll::Pending => Ok(false),
            };
        }
        if s.sender_gone {
            let closing = self
                .closing
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(CLOSE_TIMEOUT)));
            if closing.as_mut().poll(cx).is_ready() {
                return Ok(true);
            }
        } else {
            self.read(&mut s, cx);
        }
        register(&mut s.connection_waker, cx);
        Ok(false)
    }

    /// Writes queued frames until the socket is full or the queue empty.
    fn write(&mut self, s: &mut Shared, cx: &mut Context<'_>) -> io::Result<()> {
        let mut wrote = false;
        while !s.frames.is_empty() {
            let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
            let n = s.frames.len().min(WRITE_SLICES);
            for (slice, frame) in slices.iter_mut().zip(s.frames.iter()) {
                *slice = IoSlice::new(frame);
            }
            match Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..n]) {
                Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(mut written)) => {
                    wrote = true;
                    while written > 0 {
                        let Some(front) = s.frames.front_mut() else {
                            break;
                        };
                        if front.len() <= written {
                            written -= front.len();
                            s.frames.pop_front();
                        } else {
                            front.advance(written);
                            written = 0;
                        }
                    }
                }
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => break,
            }
        }
        if s.frames.is_empty() && s.frames.capacity() > 4 {
            // A burst is over: do not keep its room.
            s.frames = VecDeque::new();
        }
        if wrote && let Poll::Ready(Err(e)) = Pin::new(&mut self.io).poll_flush(cx) {
            return Err(e);
        }
        Ok(())
    }

    /// Reads while the socket has data and there is room; wakes the session for what came.
    fn read(&mut self, s: &mut Shared, cx: &mut Context<'_>) {
        let mut got = false;
        while !s.read_done && s.read_buf.len() < s.read_limit {
            let mut chunk = [0u8; READ_CHUNK];
            let mut buf = ReadBuf::new(&mut chunk);
            match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => s.read_done = true,
                Poll::Ready(Ok(())) => s.read_buf.extend_from_slice(buf.filled()),
                Poll::Ready(Err(e)) => {
                    s.read_done = true;
                    s.read_error = Some(e);
                }
                Poll::Pending => break,
            }
            got = true;
        }
        if got {
            wake(&mut s.session_waker);
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Future for Connection<T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        match this.drive(cx) {
            Ok(false) => Poll::Pending,
            Ok(true) => Poll::Ready(()),
            Err(e) => {
                tracing::debug!(error = %e, "WebSocket connection failed");
                Poll::Ready(())
            }
        }
    }
}

impl<T> Drop for Connection<T> {
    fn drop(&mut self) {
        let mut s = self.shared.borrow_mut();
        s.connection_gone = true;
        s.frames = VecDeque::new();
        s.read_buf = BytesMut::new();
        wake(&mut s.session_waker);
    }
}

/// The client's messages, decoded from what the connection read; ends when the connection
/// does.
pub struct Inbound {
    shared: Rc<RefCell<Shared>>,
    codec: Codec,
    failed: bool,
}

impl Stream for Inbound {
    type Item = Result<Message, ProtocolError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        let mut s = this.shared.borrow_mut();
        let was_full = s.read_buf.len() >= s.read_limit;
        match this.codec.decode(&mut s.read_buf) {
            Ok(Some(frame)) => {
                if s.read_buf.is_empty() {
                    // Let go of the allocation; the frames decoded from it keep what they use.
                    s.read_buf = BytesMut::new();
                } else {
                    // More frames may be buffered already: come back for them.
                    cx.waker().wake_by_ref();
                }
                if was_full {
                    wake(&mut s.connection_waker);
                }
                let message = to_message(frame);
                this.failed = message.is_err();
                return Poll::Ready(Some(message));
            }
            Ok(None) => {}
            Err(e) => {
                this.failed = true;
                return Poll::Ready(Some(Err(e)));
            }
        }
        if let Some(e) = s.read_error.take() {
            this.failed = true;
            return Poll::Ready(Some(Err(ProtocolError::Io(e))));
        }
        if s.read_done || s.connection_gone {
            return Poll::Ready(None);
        }
        register(&mut s.session_waker, cx);
        Poll::Pending
    }
}

fn to_message(frame: Frame) -> Result<Message, ProtocolError> {
    Ok(match frame {
        Frame::Text(bytes) => ByteString::try_from(bytes)
            .map(Message::Text)
            .map_err(|e| ProtocolError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))?,
        Frame::Binary(bytes) => Message::Binary(bytes),
        Frame::Ping(bytes) => Message::Ping(bytes),
        Frame::Pong(bytes) => Message::Pong(bytes),
        Frame::Close(reason) => Message::Close(reason),
        Frame::Continuation(item) => Message::Continuation(item),
    })
}

#[cfg(test)]
mod tests;
