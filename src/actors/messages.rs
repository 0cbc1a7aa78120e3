//! Every actor message, in one catalogue. Commands are imperative, facts past tense.

use actix::prelude::*;

/// A server event (`{"event": ..., "data": ...}`) for one WebSocket client, as JSON text:
/// serialized once, shared by every client it goes to.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct SendEvent(pub bytestring::ByteString);

/// A WebSocket session joins the broker's fan-out.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Connect {
    pub id: u64,
    pub session: Recipient<SendEvent>,
    /// How the broker ends the session (it fell behind, the broker restarted).
    pub close: Recipient<CloseSession>,
}

/// Why a WebSocket session ends; its close frame says so (see `ws_session::close_for`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The client closed, or the session ends normally.
    ClientClosed,
    /// It fell too far behind: 1013, reconnect and `sync`.
    TooSlow,
    /// The broker restarted and lost its subscriptions: 1012, reconnect and `sync`.
    BrokerRestarted,
    /// The daemon is stopping: 1001.
    ShuttingDown,
    ProtocolError,
    InitialDataFailed,
    /// The peer is gone: no close frame.
    TimedOut,
}

/// The broker ends one session.
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct CloseSession(pub SessionEnd);

/// The broker ends every session it has (the daemon is stopping); answers once each was told.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseSessions(pub SessionEnd);

/// A WebSocket session leaves.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    pub id: u64,
}

/// A run changed (on this daemon or another): the whole serialized event, as published.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ImportRunUpdated(pub bytes::Bytes);

/// Counters the broker keeps, for `/metrics` and tests.
#[derive(Message)]
#[rtype(result = "BrokerStats")]
pub struct GetBrokerStats;

#[derive(Debug, Clone, Copy, Default, MessageResponse)]
pub struct BrokerStats {
    pub sessions: usize,
    pub dropped: u64,
    pub delivered: u64,
    /// Times the supervisor restarted the broker.
    pub restarts: u64,
}

/// Re-read the sources and rebuild the cron jobs.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReloadSources;

/// A source's cron tick is due (the scheduler's own timer).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SourceTickDue {
    pub source_id: String,
    /// The fire time the timer was set for.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Answers once the queue actor's worker has stopped and its in-flight tasks ended (after the
/// daemon's shutdown token was cancelled).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drained;

/// What the scheduler holds, for tests and logs.
#[derive(Message)]
#[rtype(result = "SchedulerStats")]
pub struct GetSchedulerStats;

#[derive(Debug, Clone, Default, MessageResponse)]
pub struct SchedulerStats {
    /// Sources with a timer set.
    pub scheduled: Vec<String>,
    /// Completed loads of the sources since the actor was created.
    pub loads: u64,
    /// Times the actor was restarted by its supervisor.
    pub restarts: u64,
}

/// Panics inside the receiving actor's handler (tests of supervision only).
#[cfg(test)]
#[derive(Message)]
#[rtype(result = "()")]
pub struct Crash;

/// A change to what one WebSocket session receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionChange {
    SubscribeRun(String),
    UnsubscribeRun(String),
    SubscribeSource(String),
    UnsubscribeSource(String),
}

/// A session asks the broker to change its subscriptions; the answer is what it holds now,
/// or a message when a limit was reached.
#[derive(Message)]
#[rtype(result = "Result<crate::domain::events::Subscriptions, String>")]
pub struct ChangeSubscription {
    pub id: u64,
    pub change: SubscriptionChange,
}
