//! The bounded outbox of one WebSocket session. Messages wait in a queue owned by the session
//! actor and go to the connection (`actix_ws::Session`) one at a time: the actor runs one send
//! at a time as a future of its own context, and starts the next when it completes. A send
//! waits only when actix-ws' own channel to the connection is full, i.e. when the client
//! stopped reading; what piles up behind it counts against the capacity, and a full outbox
//! means the client fell behind.
//!
//! An idle session holds no more than the queue's empty `VecDeque` (no allocation) and the
//! connection handle: no channel and no task of its own. The earlier design kept a channel
//! and a writer task per connection, about 2 KiB of every idle session.
//!
//! A closing session hands what is queued to a task that outlives the actor: it sends the
//! queue (when the close says so) and the close frame, within `CLOSE_TIMEOUT`.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use actix_ws::{CloseReason, Message, Session};

/// How long a close (and, for a normal close, what was queued before it) may take to leave,
/// for a peer that is slow to read it; then the connection is dropped anyway.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// The client fell `capacity` messages behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// The connection is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

/// How the connection ends.
#[derive(Debug)]
pub struct Close {
    /// `None`: the connection is dropped without a close frame (a dead peer).
    pub reason: Option<CloseReason>,
    /// Whether what is still queued is sent first (a client that is behind: not).
    pub after_queued: bool,
}

/// The session's outbox.
pub struct Outbox {
    session: Session,
    /// Messages not yet handed to the connection. While `sending`, the front one is being
    /// handed over: it leaves the queue when its send completes, so a send cut short by the
    /// actor stopping leaves it here for the close.
    queue: VecDeque<Message>,
    sending: bool,
    capacity: usize,
}

impl Outbox {
    /// An outbox of `capacity` messages writing to `session`.
    pub fn new(session: Session, capacity: usize) -> Self {
        Self {
            session,
            queue: VecDeque::new(),
            sending: false,
            capacity,
        }
    }

    /// Queues `msg`. When nothing was being sent, returns the send to run now (the caller
    /// spawns it and calls `sent` when it completes).
    pub fn push(
        &mut self,
        msg: Message,
    ) -> Result<Option<impl Future<Output = Result<(), Gone>> + 'static>, Full> {
        if self.queue.len() >= self.capacity {
            return Err(Full);
        }
        self.queue.push_back(msg);
        Ok(self.next())
    }

    /// The running send completed: the next one to run, if any is queued.
    pub fn sent(&mut self) -> Option<impl Future<Output = Result<(), Gone>> + 'static> {
        self.queue.pop_front();
        self.sending = false;
        self.next()
    }

    fn next(&mut self) -> Option<impl Future<Output = Result<(), Gone>> + 'static> {
        if self.sending {
            return None;
        }
        let msg = copy(self.queue.front()?);
        self.sending = true;
        let mut session = self.session.clone();
        Some(async move { send(&mut session, msg).await })
    }

    /// Ends the connection as `close` says, on a task of the connection's worker thread.
    pub fn close(self, close: Close) {
        let Some(reason) = close.reason else {
            return; // dropping the session ends the connection
        };
        let Self {
            mut session, queue, ..
        } = self;
        actix_web::rt::spawn(async move {
            let finish = async move {
                if close.after_queued {
                    for msg in queue {
                        if send(&mut session, msg).await.is_err() {
                            return;
                        }
                    }
                }
                session.close(Some(reason)).await.ok();
            };
            tokio::time::timeout(CLOSE_TIMEOUT, finish).await.ok();
        });
    }
}

/// A copy of `msg` (`Message` is not `Clone`; its payloads are shared buffers, so this copies
/// no bytes).
fn copy(msg: &Message) -> Message {
    use actix_ws::Item;
    match msg {
        Message::Text(t) => Message::Text(t.clone()),
        Message::Binary(b) => Message::Binary(b.clone()),
        Message::Ping(b) => Message::Ping(b.clone()),
        Message::Pong(b) => Message::Pong(b.clone()),
        Message::Close(r) => Message::Close(r.clone()),
        Message::Continuation(i) => Message::Continuation(match i {
            Item::FirstText(b) => Item::FirstText(b.clone()),
            Item::FirstBinary(b) => Item::FirstBinary(b.clone()),
            Item::Continue(b) => Item::Continue(b.clone()),
            Item::Last(b) => Item::Last(b.clone()),
        }),
        Message::Nop => Message::Nop,
    }
}

async fn send(session: &mut Session, msg: Message) -> Result<(), Gone> {
    use futures_util::SinkExt;
    session.send(msg).await.map_err(|_| Gone)
}
