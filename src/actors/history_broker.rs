//! `HistoryBroker`: owns the map of WebSocket sessions and fans every run change out to them.
//! Changes arrive from Redis pub/sub, so a browser sees the runs of every daemon. A session
//! whose mailbox is full is dropped, never waited on. Each change is framed once and the same
//! bytes go to every session.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use actix::prelude::*;
use futures_util::StreamExt;
use serde::Deserialize;

use super::messages::{
    BrokerStats, ChangeSubscription, Connect, Disconnect, GetBrokerStats, ImportRunUpdated,
    SendEvent, SubscriptionChange,
};
use super::ws_session::socket;
use crate::domain::events::{ServerEvent, Subscriptions};
use crate::domain::{ImportRun, RunStatus};
use crate::store::Store;
use crate::store::redis::Redis;
use crate::telemetry;

/// Runs, and sources, one session may follow at once.
pub const MAX_SUBSCRIPTIONS: usize = 100;

struct Session {
    recipient: Recipient<SendEvent>,
    /// Empty: every source.
    sources: HashSet<String>,
    runs: HashSet<String>,
}

pub struct HistoryBroker {
    sessions: HashMap<u64, Session>,
    redis: Option<Redis>,
    store: Option<Store>,
    /// This process's instance name: it counts the outcome of the runs it fetched.
    instance: Option<String>,
    /// Runs whose progress is being read; a change meanwhile marks them for one more read.
    reading: HashMap<String, bool>,
    stats: BrokerStats,
}

/// The part of an update the broker routes on; the rest of the document is skipped unread.
#[derive(Deserialize)]
struct Head {
    data: RunHead,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunHead {
    #[serde(rename = "_id")]
    id: String,
    source_id: String,
    status: RunStatus,
    fetched_by: Option<String>,
}

/// A run's end, read whole for its outcome metrics.
#[derive(Deserialize)]
struct Whole {
    data: ImportRun,
}

impl HistoryBroker {
    /// A broker fed from the deployment's Redis channel.
    pub fn new(redis: Redis) -> Self {
        Self {
            sessions: HashMap::new(),
            redis: Some(redis),
            store: None,
            instance: None,
            reading: HashMap::new(),
            stats: BrokerStats::default(),
        }
    }

    /// Enables `subscribe_run` (progress is read from MongoDB) and outcome metrics.
    pub fn with_store(mut self, store: Store, instance: String) -> Self {
        self.store = Some(store);
        self.instance = Some(instance);
        self
    }

    fn fan_out(&mut self, frame: bytes::Bytes, source_id: Option<&str>) {
        let mut dead = Vec::new();
        let mut delivered = 0;
        for (id, s) in &self.sessions {
            if let Some(src) = source_id
                && !s.sources.is_empty()
                && !s.sources.contains(src)
            {
                continue;
            }
            match s.recipient.try_send(SendEvent(frame.clone())) {
                Ok(()) => delivered += 1,
                Err(e) => {
                    if matches!(e, SendError::Full(_)) {
                        tracing::warn!(session = id, "WebSocket client too slow; dropping it");
                    }
                    dead.push(*id);
                }
            }
        }
        self.stats.delivered += delivered;
        metrics::counter!(telemetry::WS_DELIVERED).increment(delivered);
        for id in dead {
            self.sessions.remove(&id);
            self.stats.dropped += 1;
            metrics::counter!(telemetry::WS_DROPPED).increment(1);
        }
        self.session_count_changed();
    }

    fn session_count_changed(&mut self) {
        self.stats.sessions = self.sessions.len();
        metrics::gauge!(telemetry::WS_SESSIONS).set(self.sessions.len() as f64);
    }

    /// Reads the run's progress once and sends it to its subscribers; coalesces bursts.
    fn read_progress(&mut self, run_id: String, ctx: &mut Context<Self>) {
        let Some(store) = self.store.clone() else {
            return;
        };
        if let Some(dirty) = self.reading.get_mut(&run_id) {
            *dirty = true;
            return;
        }
        self.reading.insert(run_id.clone(), false);
        let id = run_id.clone();
        let read = async move { store.run_progress(&id).await };
        ctx.spawn(read.into_actor(self).map(move |res, act, ctx| {
            match res {
                Ok(Some(p)) => {
                    let event = ServerEvent::RunProgress(Box::new(p));
                    if let Ok(json) = serde_json::to_vec(&event) {
                        let frame = socket::text_frame(&json);
                        for s in act.sessions.values() {
                            if s.runs.contains(&run_id) {
                                s.recipient.try_send(SendEvent(frame.clone())).ok();
                            }
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(%run_id, error = %e, "could not read run progress"),
            }
            if act.reading.remove(&run_id) == Some(true) {
                act.read_progress(run_id, ctx);
            }
        }));
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
                        let payload = bytes::Bytes::copy_from_slice(msg.get_payload_bytes());
                        broker.do_send(ImportRunUpdated(payload));
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
        let s = Session {
            recipient: msg.session,
            sources: HashSet::new(),
            runs: HashSet::new(),
        };
        self.sessions.insert(msg.id, s);
        self.session_count_changed();
    }
}

impl Handler<Disconnect> for HistoryBroker {
    type Result = ();
    fn handle(&mut self, msg: Disconnect, _: &mut Self::Context) {
        self.sessions.remove(&msg.id);
        self.session_count_changed();
    }
}

impl Handler<ImportRunUpdated> for HistoryBroker {
    type Result = ();
    fn handle(&mut self, msg: ImportRunUpdated, ctx: &mut Self::Context) {
        if std::str::from_utf8(&msg.0).is_err() {
            tracing::warn!("unreadable run update (not UTF-8)");
            return;
        }
        let head = serde_json::from_slice::<Head>(&msg.0).ok();
        let run = head.as_ref().map(|h| &h.data);
        if let (Some(run), Some(me)) = (run, &self.instance)
            && run.status.is_final()
            && run.fetched_by.as_deref() == Some(me.as_str())
            && let Ok(whole) = serde_json::from_slice::<Whole>(&msg.0)
        {
            telemetry::record_finished_run(&whole.data);
        }
        self.fan_out(
            socket::text_frame(&msg.0),
            run.map(|r| r.source_id.as_str()),
        );
        if let Some(run) = run
            && self.sessions.values().any(|s| s.runs.contains(&run.id))
        {
            self.read_progress(run.id.clone(), ctx);
        }
    }
}

impl Handler<ChangeSubscription> for HistoryBroker {
    type Result = Result<Subscriptions, String>;
    fn handle(&mut self, msg: ChangeSubscription, ctx: &mut Self::Context) -> Self::Result {
        let Some(s) = self.sessions.get_mut(&msg.id) else {
            return Err("the session is closed".into());
        };
        let full =
            |set: &HashSet<String>, id: &str| set.len() >= MAX_SUBSCRIPTIONS && !set.contains(id);
        let mut read = None;
        match msg.change {
            SubscriptionChange::SubscribeRun(id) => {
                if full(&s.runs, &id) {
                    return Err(format!("at most {MAX_SUBSCRIPTIONS} runs"));
                }
                s.runs.insert(id.clone());
                read = Some(id);
            }
            SubscriptionChange::UnsubscribeRun(id) => {
                s.runs.remove(&id);
            }
            SubscriptionChange::SubscribeSource(id) => {
                if full(&s.sources, &id) {
                    return Err(format!("at most {MAX_SUBSCRIPTIONS} sources"));
                }
                s.sources.insert(id);
            }
            SubscriptionChange::UnsubscribeSource(id) => {
                s.sources.remove(&id);
            }
        }
        let mut subs = Subscriptions {
            runs: s.runs.iter().cloned().collect(),
            sources: s.sources.iter().cloned().collect(),
        };
        subs.runs.sort();
        subs.sources.sort();
        if let Some(id) = read {
            // The subscriber gets the run's current progress at once, not only at its next change.
            self.read_progress(id, ctx);
        }
        Ok(subs)
    }
}

impl Handler<GetBrokerStats> for HistoryBroker {
    type Result = BrokerStats;
    fn handle(&mut self, _: GetBrokerStats, _: &mut Self::Context) -> BrokerStats {
        self.stats
    }
}
