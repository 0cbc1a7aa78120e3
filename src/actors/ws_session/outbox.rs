//! The bounded outbox of one WebSocket session, and the writer that empties it into the
//! connection (`actix_ws::Session`). The session actor puts messages in with `try_send`, which
//! never waits: a full outbox means the client stopped reading. The writer is a task of the
//! connection's worker thread that ends with the connection: when the session closes the
//! outbox (after what is queued, or skipping it), or when the peer is gone.

use std::time::Duration;

use actix_ws::{CloseReason, Message, Session};
use futures_util::SinkExt;
use tokio::sync::{mpsc, oneshot};

/// How long a close (and, for a normal close, what was queued before it) may take to leave,
/// for a peer that is slow to read it; then the connection is dropped anyway.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The client fell `capacity` messages behind.
    Full,
    /// The connection is gone.
    Closed,
}

/// How the connection ends.
#[derive(Debug)]
pub struct Close {
    /// `None`: the connection is dropped without a close frame (a dead peer).
    pub reason: Option<CloseReason>,
    /// Whether what is still queued is sent first (a client that is behind: not).
    pub after_queued: bool,
}

/// The session's end of its outbox.
pub struct Outbox {
    tx: mpsc::Sender<Message>,
    close: oneshot::Sender<Close>,
}

impl Outbox {
    /// An outbox of `capacity` messages writing to `session`; starts its writer on the current
    /// worker thread.
    pub fn open(session: Session, capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity);
        let (close, close_rx) = oneshot::channel();
        actix_web::rt::spawn(write(session, rx, close_rx));
        Self { tx, close }
    }

    pub fn try_send(&self, msg: Message) -> Result<(), SendError> {
        self.tx.try_send(msg).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::Full,
            mpsc::error::TrySendError::Closed(_) => SendError::Closed,
        })
    }

    /// Ends the connection as `close` says.
    pub fn close(self, close: Close) {
        self.close.send(close).ok();
    }
}

async fn write(
    mut session: Session,
    mut rx: mpsc::Receiver<Message>,
    mut close_rx: oneshot::Receiver<Close>,
) {
    let close = loop {
        let next = tokio::select! {
            biased;
            close = &mut close_rx => break close.ok(),
            next = rx.recv() => next,
        };
        let Some(msg) = next else {
            break None;
        };
        tokio::select! {
            biased;
            close = &mut close_rx => break close.ok(),
            sent = session.send(msg) => if sent.is_err() { return },
        }
    };
    let Some(close) = close else {
        return; // the session went away without a word: drop the connection
    };
    let Some(reason) = close.reason else {
        return;
    };
    let finish = async move {
        if close.after_queued {
            rx.close();
            while let Some(msg) = rx.recv().await {
                if session.send(msg).await.is_err() {
                    return;
                }
            }
        }
        session.close(Some(reason)).await.ok();
    };
    tokio::time::timeout(CLOSE_TIMEOUT, finish).await.ok();
}
