//! `HistoryBroker`: owns the map of WebSocket sessions and fans every run change out to them.
//! Changes arrive from Redis pub/sub, so a browser sees the runs of every daemon. A session
//! whose mailbox is full is dropped, never waited on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures_util::StreamExt;

use super::messages::{
    BrokerStats, Connect, Disconnect, GetBrokerStats, ImportRunUpdated, SendEvent,
};
use crate::store::redis::Redis;

pub struct HistoryBroker {
    sessions: HashMap<u64, Recipient<SendEvent>>,
    redis: Option<Redis>,
    stats: BrokerStats,
}

impl HistoryBroker {
    /// A broker fed from the deployment's Redis channel.
    pub fn new(redis: Redis) -> Self {
        Self {
            sessions: HashMap::new(),
            redis: Some(redis),
            stats: BrokerStats::default(),
        }
    }

    fn fan_out(&mut self, payload: Arc<str>) {
        let mut dead = Vec::new();
        for (id, s) in &self.sessions {
            match s.try_send(SendEvent(payload.clone())) {
                Ok(()) => self.stats.delivered += 1,
                Err(e) => {
                    if matches!(e, SendError::Full(_)) {
                        tracing::warn!(session = id, "WebSocket client too slow; dropping it");
                    }
                    dead.push(*id);
                }
            }
        }
        for id in dead {
            self.sessions.remove(&id);
            self.stats.dropped += 1;
        }
    }
}

/// Listens on the history channel for as long as the broker lives, reconnecting after Redis
/// goes away (a resubscribe, not a one-shot subscription).
async fn listen(redis: Redis, broker: Addr<HistoryBroker>) {
    let channel = redis.keys.history_channel();
    loop {
        match redis.client.get_async_pubsub().await {
            Ok(mut ps) => {
                if let Err(e) = ps.subscribe(&channel).await {
                    tracing::warn!(error = %e, "could not subscribe to run updates");
                } else {
                    let mut stream = ps.on_message();
                    while let Some(msg) = stream.next().await {
                        match msg.get_payload::<String>() {
                            Ok(p) => broker.do_send(ImportRunUpdated(p.into())),
                            Err(e) => tracing::warn!(error = %e, "unreadable run update"),
                        }
                    }
                    tracing::warn!("run update subscription ended; resubscribing");
                }
            }
            Err(e) => tracing::warn!(error = %e, "Redis unavailable for run updates; retrying"),
        }
        if !broker.connected() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

impl Actor for HistoryBroker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Run changes come in bursts (one per batch); a large mailbox absorbs them.
        ctx.set_mailbox_capacity(4096);
        if let Some(redis) = self.redis.clone() {
            tokio::spawn(listen(redis, ctx.address()));
        }
    }
}

impl Handler<Connect> for HistoryBroker {
    type Result = ();
    fn handle(&mut self, msg: Connect, _: &mut Self::Context) {
        self.sessions.insert(msg.id, msg.session);
        self.stats.sessions = self.sessions.len();
    }
}

impl Handler<Disconnect> for HistoryBroker {
    type Result = ();
    fn handle(&mut self, msg: Disconnect, _: &mut Self::Context) {
        self.sessions.remove(&msg.id);
        self.stats.sessions = self.sessions.len();
    }
}

impl Handler<ImportRunUpdated> for HistoryBroker {
    type Result = ();
    fn handle(&mut self, msg: ImportRunUpdated, _: &mut Self::Context) {
        self.fan_out(msg.0);
        self.stats.sessions = self.sessions.len();
    }
}

impl Handler<GetBrokerStats> for HistoryBroker {
    type Result = BrokerStats;
    fn handle(&mut self, _: GetBrokerStats, _: &mut Self::Context) -> BrokerStats {
        self.stats
    }
}
