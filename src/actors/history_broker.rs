//! `HistoryBroker`: owns the map of WebSocket sessions and fans every run change out to them.
//! Changes arrive from Redis pub/sub (a subscription the broker owns as a stream), so a browser
//! sees the runs of every daemon. A session whose mailbox is full is closed (1013: reconnect
//! and `sync`), never waited on. Each change is serialized once and the same bytes go to every
//! session. The broker is supervised: after a panic it closes every session it had (1012), so
//! that dashboards reconnect and `sync` instead of silently missing updates.

use std::collections::{HashMap, HashSet};

use actix::prelude::*;
use bytestring::ByteString;
use futures_util::StreamExt;
use serde::Deserialize;

use super::messages::{
    BrokerStats, ChangeSubscription, CloseSession, CloseSessions, Connect, Disconnect,
    GetBrokerStats, ImportRunUpdated, SendEvent, SessionEnd, SubscriptionChange,
};
use super::supervision::{guard, guard_future};
use crate::domain::events::{ServerEvent, Subscriptions};
use crate::domain::{ImportRun, RunStatus};
use crate::store::Store;
use crate::store::redis::Redis;
use crate::telemetry;

/// Runs, and sources, one session may follow at once.
pub const MAX_SUBSCRIPTIONS: usize = 100;

const NAME: &str = "history broker";

struct Session {
    recipient: Recipient<SendEvent>,
    close: Recipient<CloseSession>,
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
    /// The pause state whose changes go to every session.
    pause: Option<super::pause::PauseGate>,
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
            pause: None,
            stats: BrokerStats::default(),
        }
    }

    /// Sends every change of the pause state to every session (`maintenance`).
    pub fn with_pause(mut self, gate: super::pause::PauseGate) -> Self {
        self.pause = Some(gate);
        self
    }

    fn maintenance_changed(&mut self, m: crate::domain::maintenance::Maintenance) {
        let event = ServerEvent::Maintenance(Box::new(m));
        if let Ok(json) = serde_json::to_string(&event) {
            self.fan_out(ByteString::from(json), None);
        }
    }

    /// Enables `subscribe_run` (progress is read from MongoDB) and outcome metrics.
    pub fn with_store(mut self, store: Store, instance: String) -> Self {
        self.store = Some(store);
        self.instance = Some(instance);
        self
    }

    /// Ends every session, for `end`.
    fn close_all(&mut self, end: SessionEnd) {
        for (_, s) in self.sessions.drain() {
            s.close.do_send(CloseSession(end));
        }
        self.reading.clear();
        self.session_count_changed();
    }

    fn fan_out(&mut self, frame: ByteString, source_id: Option<&str>) {
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
                        // Its mailbox is full: it is told to close (outside the mailbox's
                        // bound), so its client reconnects and syncs rather than miss updates.
                        tracing::warn!(session = id, "WebSocket client too slow; closing it");
                        metrics::counter!(telemetry::WS_SLOW_CLOSED).increment(1);
                        s.close.do_send(CloseSession(SessionEnd::TooSlow));
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
        guard_future(NAME, self, ctx, read, move |res, act, ctx| {
            match res {
                Ok(Some(p)) => {
                    let event = ServerEvent::RunProgress(Box::new(p));
                    if let Ok(json) = serde_json::to_string(&event) {
                        let frame = ByteString::from(json);
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
        });
    }

    fn run_updated(&mut self, payload: bytes::Bytes, ctx: &mut Context<Self>) {
        let Ok(text) = ByteString::try_from(payload) else {
            tracing::warn!("unreadable run update (not UTF-8)");
            return;
        };
        let head = serde_json::from_str::<Head>(&text).ok();
        let run = head.as_ref().map(|h| &h.data);
        if let (Some(run), Some(me)) = (run, &self.instance)
            && run.status.is_final()
            && run.fetched_by.as_deref() == Some(me.as_str())
            && let Ok(whole) = serde_json::from_str::<Whole>(&text)
        {
            telemetry::record_finished_run(&whole.data);
        }
        self.fan_out(text.clone(), run.map(|r| r.source_id.as_str()));
        if let Some(run) = run
            && self.sessions.values().any(|s| s.runs.contains(&run.id))
        {
            self.read_progress(run.id.clone(), ctx);
        }
    }
}

impl Actor for HistoryBroker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Run changes come in bursts (one per batch); a large mailbox absorbs them.
        ctx.set_mailbox_capacity(4096);
        if let Some(redis) = self.redis.clone() {
            let channel = redis.keys.history_channel();
            let updates = super::subscription::messages(redis, channel, "run updates");
            ctx.add_stream(updates.map(ImportRunUpdated));
        }
        if let Some(gate) = &self.pause {
            // Only changes from now on: a session's `initial_data` carries the state it began with.
            let changes = futures_util::stream::unfold(gate.subscribe(), |mut rx| async move {
                rx.changed().await.ok()?;
                let m = rx.borrow_and_update().clone();
                Some((MaintenanceChanged(m), rx))
            });
            ctx.add_stream(changes);
        }
    }
}

impl Supervised for HistoryBroker {
    fn restarting(&mut self, _: &mut Self::Context) {
        // The subscriptions (and anything in flight to the sessions) may be lost with the
        // panic: every session is told to reconnect and sync.
        tracing::warn!(
            sessions = self.sessions.len(),
            "restarting the history broker; closing its sessions"
        );
        self.close_all(SessionEnd::BrokerRestarted);
        self.stats.restarts += 1;
    }
}

impl Handler<Connect> for HistoryBroker {
    type Result = ();
    fn handle(&mut self, msg: Connect, _: &mut Self::Context) {
        let s = Session {
            recipient: msg.session,
            close: msg.close,
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

impl Handler<CloseSessions> for HistoryBroker {
    type Result = ();
    fn handle(&mut self, msg: CloseSessions, _: &mut Self::Context) {
        self.close_all(msg.0);
    }
}

impl StreamHandler<ImportRunUpdated> for HistoryBroker {
    fn handle(&mut self, msg: ImportRunUpdated, ctx: &mut Self::Context) {
        guard(NAME, ctx, |ctx| self.run_updated(msg.0, ctx));
    }

    fn finished(&mut self, _: &mut Self::Context) {
        // The subscription resubscribes by itself; it ends only with the broker.
    }
}

/// The pause state changed (from the gate's watch channel).
struct MaintenanceChanged(crate::domain::maintenance::Maintenance);

impl StreamHandler<MaintenanceChanged> for HistoryBroker {
    fn handle(&mut self, msg: MaintenanceChanged, ctx: &mut Self::Context) {
        guard(NAME, ctx, |_| self.maintenance_changed(msg.0));
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

impl Handler<ImportRunUpdated> for HistoryBroker {
    type Result = ();
    fn handle(&mut self, msg: ImportRunUpdated, ctx: &mut Self::Context) {
        guard(NAME, ctx, |ctx| self.run_updated(msg.0, ctx));
    }
}

impl Handler<ChangeSubscription> for HistoryBroker {
    type Result = Result<Subscriptions, String>;
    fn handle(&mut self, msg: ChangeSubscription, ctx: &mut Self::Context) -> Self::Result {
        guard(NAME, ctx, |ctx| self.change_subscription(msg, ctx))
            .unwrap_or_else(|| Err("the broker restarted; reconnect".into()))
    }
}

impl HistoryBroker {
    fn change_subscription(
        &mut self,
        msg: ChangeSubscription,
        ctx: &mut Context<Self>,
    ) -> Result<Subscriptions, String> {
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

#[cfg(test)]
impl Handler<super::messages::Crash> for HistoryBroker {
    type Result = ();
    fn handle(&mut self, _: super::messages::Crash, ctx: &mut Self::Context) {
        guard(NAME, ctx, |_| panic!("a test asked the broker to panic"));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::actors::messages::Crash;

    /// A session that writes down what the broker sends it.
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl Actor for Recorder {
        type Context = Context<Self>;
    }

    impl Handler<SendEvent> for Recorder {
        type Result = ();
        fn handle(&mut self, msg: SendEvent, _: &mut Self::Context) {
            self.0.lock().unwrap().push(msg.0.to_string());
        }
    }

    impl Handler<CloseSession> for Recorder {
        type Result = ();
        fn handle(&mut self, msg: CloseSession, _: &mut Self::Context) {
            self.0.lock().unwrap().push(format!("closed: {:?}", msg.0));
        }
    }

    fn broker_without_redis() -> HistoryBroker {
        HistoryBroker {
            sessions: HashMap::new(),
            redis: None,
            store: None,
            instance: None,
            reading: HashMap::new(),
            pause: None,
            stats: BrokerStats::default(),
        }
    }

    fn connect(id: u64, r: &Addr<Recorder>) -> Connect {
        Connect {
            id,
            session: r.clone().recipient(),
            close: r.clone().recipient(),
        }
    }

    #[test]
    fn a_broker_restarted_after_a_panic_closes_its_sessions_and_serves_new_ones() {
        actix::System::new().block_on(async {
            let broker = Supervisor::start(|_| broker_without_redis());
            let (old, new) = (Arc::default(), Arc::default());
            let old_session = Recorder(Arc::clone(&old)).start();
            let new_session = Recorder(Arc::clone(&new)).start();
            broker.send(connect(1, &old_session)).await.unwrap();

            broker.send(Crash).await.unwrap();
            let stats = broker.send(GetBrokerStats).await.unwrap();
            assert_eq!(stats.restarts, 1, "restarted by its supervisor");
            assert_eq!(stats.sessions, 0);

            broker.send(connect(2, &new_session)).await.unwrap();
            let update = br#"{"event":"import_history_update","data":{"_id":"r"}}"#;
            broker
                .send(ImportRunUpdated(bytes::Bytes::from_static(update)))
                .await
                .unwrap();
            // The sessions handle what they were sent on their own turn.
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(
                *old.lock().unwrap(),
                vec!["closed: BrokerRestarted".to_owned()],
                "the session of before is told to reconnect and sync"
            );
            let got = new.lock().unwrap().clone();
            assert_eq!(got.len(), 1, "a session of after gets updates: {got:?}");
            assert!(got[0].contains("import_history_update"));
        });
    }

    #[test]
    fn every_session_hears_of_a_pause_and_a_resume() {
        use crate::actors::pause::PauseGate;
        use crate::domain::audit::Actor;
        use crate::domain::maintenance::Maintenance;
        actix::System::new().block_on(async {
            let gate = PauseGate::new(Maintenance::default());
            let g = gate.clone();
            let broker = Supervisor::start(move |_| broker_without_redis().with_pause(g.clone()));
            let got = Arc::default();
            let session = Recorder(Arc::clone(&got)).start();
            broker.send(connect(1, &session)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            gate.set(Maintenance::paused(
                Actor::Admin,
                chrono::Utc::now(),
                Some("x".into()),
            ));
            tokio::time::sleep(Duration::from_millis(100)).await;
            gate.set(gate.state().resumed(Actor::Admin, chrono::Utc::now()));
            tokio::time::sleep(Duration::from_millis(100)).await;
            let got = got.lock().unwrap().clone();
            assert_eq!(got.len(), 2, "{got:?}");
            assert!(
                got[0].contains(r#""event":"maintenance""#) && got[0].contains(r#""paused":true"#)
            );
            assert!(got[1].contains(r#""paused":false"#));
        });
    }
}
