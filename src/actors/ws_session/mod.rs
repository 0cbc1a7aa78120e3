//! `WsSession`: one actor per WebSocket connection. It sends `initial_data` first, then every
//! run change, in order, through a bounded outbox; a client that stops reading fills the
//! outbox and is dropped. Heartbeats find dead peers. Clients may `sync` (catch up from
//! MongoDB) and subscribe to one run's progress or to sources.
//!
//! The outbox is a bounded queue that the connection (`socket`) writes to the socket: the actor
//! hands it whole frames, and the broker's updates arrive already framed, the same bytes for
//! every client.

use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::{Message, ProtocolError};

use super::history_broker::HistoryBroker;
use super::messages::{ChangeSubscription, Connect, Disconnect, SendEvent, SubscriptionChange};
use crate::domain::events::{ClientEvent, EventError, ServerEvent, SyncRequest};
use crate::store::Store;
use crate::telemetry;
use checks::{check_sync, id_ok, invalid};
use socket::{OutboxSender, WireFrame};

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
/// The largest frame a client may send.
pub const MAX_FRAME: usize = 64 * 1024;

mod checks;
pub mod socket;

pub struct WsSession {
    id: u64,
    broker: Addr<HistoryBroker>,
    store: Store,
    /// The bounded outbox; `None` once the session is ending.
    outbox: Option<OutboxSender>,
    last_seen: Instant,
    initial_sent: bool,
    pending: Vec<WireFrame>,
    syncing: bool,
    window: (Instant, u32),
    /// The peer stopped reading (or died): no close frame is queued behind what it never read.
    cut_off: bool,
}

impl WsSession {
    /// A session writing to `outbox`, the sending side given by `socket::accept`.
    pub fn new(id: u64, outbox: OutboxSender, broker: Addr<HistoryBroker>, store: Store) -> Self {
        Self {
            id,
            broker,
            store,
            outbox: Some(outbox),
            last_seen: Instant::now(),
            initial_sent: false,
            pending: Vec::new(),
            syncing: false,
            window: (Instant::now(), 0),
            cut_off: false,
        }
    }

    fn push(&mut self, frame: WireFrame, ctx: &mut Context<Self>) {
        let Some(tx) = &self.outbox else { return };
        if let Err(e) = tx.try_send(frame) {
            if e == socket::SendError::Full {
                tracing::warn!(session = self.id, "WebSocket client too slow; closing");
                metrics::counter!(telemetry::WS_SLOW_CLOSED).increment(1);
            }
            self.cut_off = true;
            ctx.stop();
        }
    }

    fn send_event(&mut self, event: &ServerEvent, ctx: &mut Context<Self>) {
        match serde_json::to_vec(event) {
            Ok(json) => self.push(socket::text_frame(&json), ctx),
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

impl Actor for WsSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        self.broker.do_send(Connect {
            id: self.id,
            session: ctx.address().recipient(),
        });
        ctx.run_interval(HEARTBEAT, |act, ctx| {
            if act.last_seen.elapsed() > CLIENT_TIMEOUT {
                tracing::info!(session = act.id, "WebSocket client timed out");
                act.cut_off = true;
                ctx.stop();
            } else {
                act.push(socket::ping_frame(), ctx);
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
                    act.push(p, ctx);
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
        // The connection ends after what is queued and a close frame, for a peer still reading;
        // for one that stopped, at once. Dropping the outbox is what ends it.
        if let Some(tx) = self.outbox.take() {
            if self.cut_off {
                tx.discard();
            } else {
                tx.try_send(socket::close_frame()).ok();
            }
        }
        Running::Stop
    }
}

impl Handler<SendEvent> for WsSession {
    type Result = ();
    fn handle(&mut self, msg: SendEvent, ctx: &mut Self::Context) {
        if self.initial_sent {
            self.push(msg.0, ctx);
        } else if self.pending.len() < OUTBOX {
            self.pending.push(msg.0);
        } else {
            self.cut_off = true;
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
            Ok(Message::Ping(b)) => return self.push(socket::pong_frame(&b), ctx),
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
