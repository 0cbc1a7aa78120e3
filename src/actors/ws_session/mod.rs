//! `WsSession`: one actor per WebSocket connection. It sends `initial_data` first, then every
//! run change, in order, through a bounded outbox; a client that stops reading fills the
//! outbox and is dropped. Heartbeats find dead peers. Clients may `sync` (catch up from
//! MongoDB) and subscribe to one run's progress or to sources.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_ws::{Message, ProtocolError};
use tokio::sync::mpsc;

use super::history_broker::HistoryBroker;
use super::messages::{ChangeSubscription, Connect, Disconnect, SendEvent, SubscriptionChange};
use crate::domain::events::{ClientEvent, EventError, ServerEvent, SyncRequest};
use crate::store::Store;
use crate::telemetry;
use checks::{check_sync, id_ok, invalid};

pub const HEARTBEAT: Duration = Duration::from_secs(5);
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);
/// Messages a client may fall behind by before it is dropped.
pub const OUTBOX: usize = 256;
/// The actor's own mailbox only hands messages to the outbox; it is larger so that a burst of
/// updates while this session's thread is busy does not count as a slow client (the outbox does).
pub const MAILBOX: usize = 4 * OUTBOX;
/// Rows in `initial_data`: the dashboard's first page.
pub const INITIAL_PAGE: u64 = 20;
/// Client messages accepted per second; more are answered with `ws.rate_limited`.
pub const MAX_MESSAGES_PER_SEC: u32 = 20;

mod checks;

enum Outgoing {
    Text(Arc<str>),
    Ping,
    Pong(bytes::Bytes),
}

pub struct WsSession {
    id: u64,
    broker: Addr<HistoryBroker>,
    store: Store,
    outbox: Option<mpsc::Sender<Outgoing>>,
    session: Option<actix_ws::Session>,
    last_seen: Instant,
    initial_sent: bool,
    pending: Vec<Arc<str>>,
    syncing: bool,
    window: (Instant, u32),
    /// The task writing to the socket; aborted when the peer stopped reading, since a write
    /// to it would never finish and the connection would stay open.
    writer: Option<tokio::task::JoinHandle<()>>,
    abort_writer: bool,
}

impl WsSession {
    pub fn new(
        id: u64,
        session: actix_ws::Session,
        broker: Addr<HistoryBroker>,
        store: Store,
    ) -> Self {
        Self {
            id,
            broker,
            store,
            outbox: None,
            session: Some(session),
            last_seen: Instant::now(),
            initial_sent: false,
            pending: Vec::new(),
            syncing: false,
            window: (Instant::now(), 0),
            writer: None,
            abort_writer: false,
        }
    }

    fn push(&mut self, out: Outgoing, ctx: &mut Context<Self>) {
        let Some(tx) = &self.outbox else { return };
        if tx.try_send(out).is_err() {
            tracing::warn!(
                session = self.id,
                "WebSocket outbox full or closed; closing"
            );
            metrics::counter!(telemetry::WS_SLOW_CLOSED).increment(1);
            self.outbox = None;
            self.abort_writer = true;
            ctx.stop();
        }
    }

    fn send_event(&mut self, event: &ServerEvent, ctx: &mut Context<Self>) {
        match serde_json::to_string(event) {
            Ok(json) => self.push(Outgoing::Text(json.into()), ctx),
            Err(e) => tracing::error!(error = %e, "could not serialize an event"),
        }
    }

    fn reply_error(&mut self, e: EventError, ctx: &mut Context<Self>) {
        self.send_event(&ServerEvent::Error(e), ctx);
    }

    /// Counts this message against the per-second budget; how far over it this one is.
    fn over_rate(&mut self) -> u32 {
        let (start, n) = &mut self.window;
        if start.elapsed() >= Duration::from_secs(1) {
            *start = Instant::now();
            *n = 0;
        }
        *n += 1;
        n.saturating_sub(MAX_MESSAGES_PER_SEC)
    }

    fn on_client_event(&mut self, ev: ClientEvent, ctx: &mut Context<Self>) {
        let change = match ev {
            ClientEvent::Ping => return self.send_event(&ServerEvent::Pong(None), ctx),
            ClientEvent::Sync(req) => return self.sync(req, ctx),
            ClientEvent::SubscribeRun(r) => SubscriptionChange::SubscribeRun(r.run_id),
            ClientEvent::UnsubscribeRun(r) => SubscriptionChange::UnsubscribeRun(r.run_id),
            ClientEvent::SubscribeSource(s) => SubscriptionChange::SubscribeSource(s.source_id),
            ClientEvent::UnsubscribeSource(s) => SubscriptionChange::UnsubscribeSource(s.source_id),
        };
        let id = match &change {
            SubscriptionChange::SubscribeRun(i)
            | SubscriptionChange::UnsubscribeRun(i)
            | SubscriptionChange::SubscribeSource(i)
            | SubscriptionChange::UnsubscribeSource(i) => i,
        };
        if !id_ok(id) {
            return self.reply_error(invalid("ids are letters, digits, '-' and '_'"), ctx);
        }
        let ask = self.broker.send(ChangeSubscription {
            id: self.id,
            change,
        });
        ctx.spawn(ask.into_actor(self).map(|res, act, ctx| match res {
            Ok(Ok(subs)) => act.send_event(&ServerEvent::Subscribed(subs), ctx),
            Ok(Err(m)) => act.reply_error(invalid(m), ctx),
            Err(_) => ctx.stop(),
        }));
    }

    fn sync(&mut self, req: SyncRequest, ctx: &mut Context<Self>) {
        let since = match check_sync(&req) {
            Ok(s) => s,
            Err(e) => return self.reply_error(e, ctx),
        };
        if self.syncing {
            let busy = EventError {
                code: "ws.busy".into(),
                message: "a sync is already in progress".into(),
            };
            return self.reply_error(busy, ctx);
        }
        self.syncing = true;
        let store = self.store.clone();
        let read = async move { store.sync(&req, since.as_deref()).await };
        ctx.spawn(read.into_actor(self).map(|res, act, ctx| {
            act.syncing = false;
            match res {
                Ok(r) => act.send_event(&ServerEvent::SyncResult(Box::new(r)), ctx),
                Err(e) => act.reply_error(
                    EventError {
                        code: e.code().into(),
                        message: "could not read import history; try again".into(),
                    },
                    ctx,
                ),
            }
        }));
    }
}

/// Writes the outbox to the socket in order; ends (closing the socket) when the outbox closes.
async fn write_loop(mut session: actix_ws::Session, mut rx: mpsc::Receiver<Outgoing>) {
    while let Some(out) = rx.recv().await {
        let sent = match out {
            Outgoing::Text(t) => session.text(t.to_string()).await,
            Outgoing::Ping => session.ping(b"").await,
            Outgoing::Pong(b) => session.pong(&b).await,
        };
        if sent.is_err() {
            return;
        }
    }
    session.close(None).await.ok();
}

impl Actor for WsSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        let (tx, rx) = mpsc::channel(OUTBOX);
        self.outbox = Some(tx);
        if let Some(session) = self.session.take() {
            self.writer = Some(actix_web::rt::spawn(write_loop(session, rx)));
        }
        self.broker.do_send(Connect {
            id: self.id,
            session: ctx.address().recipient(),
        });
        ctx.run_interval(HEARTBEAT, |act, ctx| {
            if act.last_seen.elapsed() > CLIENT_TIMEOUT {
                tracing::info!(session = act.id, "WebSocket client timed out");
                act.abort_writer = true;
                ctx.stop();
            } else {
                act.push(Outgoing::Ping, ctx);
            }
        });
        // Registered with the broker first, so nothing changed after this read goes unseen.
        let store = self.store.clone();
        let load = async move { store.initial_data(INITIAL_PAGE).await };
        ctx.spawn(load.into_actor(self).map(|res, act, ctx| match res {
            Ok(data) => {
                act.send_event(&ServerEvent::InitialData(Box::new(data)), ctx);
                act.initial_sent = true;
                for p in std::mem::take(&mut act.pending) {
                    act.push(Outgoing::Text(p), ctx);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not load the initial page");
                let err = EventError {
                    code: e.code().into(),
                    message: "could not load import history".into(),
                };
                act.reply_error(err, ctx);
                ctx.stop();
            }
        }));
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.broker.do_send(Disconnect { id: self.id });
        self.outbox = None;
        if self.abort_writer
            && let Some(w) = self.writer.take()
        {
            w.abort();
        }
        Running::Stop
    }
}

impl Handler<SendEvent> for WsSession {
    type Result = ();
    fn handle(&mut self, msg: SendEvent, ctx: &mut Self::Context) {
        if self.initial_sent {
            self.push(Outgoing::Text(msg.0), ctx);
        } else if self.pending.len() < OUTBOX {
            self.pending.push(msg.0);
        } else {
            self.abort_writer = true;
            ctx.stop();
        }
    }
}

impl StreamHandler<Result<Message, ProtocolError>> for WsSession {
    fn handle(&mut self, msg: Result<Message, ProtocolError>, ctx: &mut Self::Context) {
        self.last_seen = Instant::now();
        let text = match msg {
            Ok(Message::Text(text)) => text,
            Ok(Message::Binary(_)) => {
                return self.reply_error(
                    EventError {
                        code: "ws.malformed".into(),
                        message: "binary messages are not accepted".into(),
                    },
                    ctx,
                );
            }
            Ok(Message::Ping(b)) => return self.push(Outgoing::Pong(b), ctx),
            Ok(Message::Close(_)) => return ctx.stop(),
            Ok(_) => return,
            Err(e) => {
                tracing::info!(session = self.id, error = %e, "WebSocket protocol error");
                return ctx.stop();
            }
        };
        match self.over_rate() {
            0 => {}
            // Said once per second; answering every excess message would feed the flood.
            1 => {
                let e = EventError {
                    code: "ws.rate_limited".into(),
                    message: format!("at most {MAX_MESSAGES_PER_SEC} messages per second"),
                };
                return self.reply_error(e, ctx);
            }
            _ => return,
        }
        match ClientEvent::parse(&text) {
            Ok(ev) => self.on_client_event(ev, ctx),
            Err(e) => self.reply_error(e, ctx),
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
