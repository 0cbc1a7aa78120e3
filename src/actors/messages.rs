//! Every actor message, in one catalogue. Commands are imperative, facts past tense.

use actix::prelude::*;

/// A server event (`{"event": ..., "data": ...}`) for one WebSocket client, as a whole
/// WebSocket frame: encoded once, shared by every client it goes to.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct SendEvent(pub bytes::Bytes);

/// A WebSocket session joins the broker's fan-out.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Connect {
    pub id: u64,
    pub session: Recipient<SendEvent>,
}

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
}

/// Re-read the sources and rebuild the cron jobs.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReloadSources;

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
