//! `WsSession`: one actor per WebSocket connection (actix-ws). It sends `initial_data` first,
//! then every run change, in order, through a bounded outbox (`outbox`); a client that stops reading
//! fills the outbox and is closed with 1013 (try again later), so the dashboard reconnects and
//! catches up with `sync`. Heartbeats find dead peers. Clients may `sync` (catch up from
//! MongoDB) and subscribe to one run's progress or to sources.
//!
//! The broker serializes each update once; every session sends the same bytes (a shared
//! `ByteString`), framed by its connection.

use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_ws::{CloseCode, CloseReason, Message, ProtocolError};
use bytestring::ByteString;

use super::history_broker::HistoryBroker;
use super::messages::{
    ChangeSubscription, CloseSession, Connect, Disconnect, SendEvent, SessionEnd,
    SubscriptionChange,
};
use crate::domain::events::{ClientEvent, EventError, ServerEvent, SyncRequest};
use crate::store::Store;
use crate::telemetry;
use checks::{check_sync, id_ok, invalid};
use outbox::{Close, Full, Gone, Outbox};

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
pub mod outbox;

/// How a session ended, as its close frame says.
fn close_for(end: SessionEnd) -> Close {
    let (code, description, after_queued) = match end {
        // Behind already: what is queued is skipped; the client reconnects and syncs.
        SessionEnd::TooSlow => (CloseCode::Again, "too slow; reconnect and sync", false),
        SessionEnd::BrokerRestarted => (CloseCode::Restart, "reconnect and sync", true),
        SessionEnd::ShuttingDown => (CloseCode::Away, "the server is stopping", true),
        SessionEnd::ClientClosed => (CloseCode::Normal, "", true),
        SessionEnd::ProtocolError => (CloseCode::Protocol, "protocol error", true),
        SessionEnd::InitialDataFailed => (CloseCode::Error, "could not load import history", true),
        SessionEnd::TimedOut => {
            return Close {
                reason: None,
                after_queued: false,
            };
        }
    };
    Close {
        reason: Some(CloseReason {
            code,
            description: (!description.is_empty()).then(|| description.to_owned()),
        }),
        after_queued,
    }
}

pub struct WsSession {
    id: u64,
    broker: Addr<HistoryBroker>,
    store: std::sync::Arc<Store>,
    /// The bounded outbox; `None` once the session is ending.
    outbox: Option<Outbox>,
    last_seen: Instant,
    initial_sent: bool,
    pending: Vec<ByteString>,
    syncing: bool,
    window: (Instant, u32),
    /// Why the session is ending; a client that just went away closes normally.
    ending: SessionEnd,
}

impl WsSession {
    /// A session writing to `session` (the connection, from `actix_ws::handle`).
    pub fn new(
        id: u64,
        session: actix_ws::Session,
        broker: Addr<HistoryBroker>,
        store: std::sync::Arc<Store>,
    ) -> Self {
        Self {
            id,
            broker,
            store,
            outbox: Some(Outbox::new(session, OUTBOX)),
            last_seen: Instant::now(),
            initial_sent: false,
            pending: Vec::new(),
            syncing: false,
            window: (Instant::now(), 0),
            ending: SessionEnd::ClientClosed,
        }
    }

    /// Ends the session for `end` (the first reason given stands).
    fn end(&mut self, end: SessionEnd, ctx: &mut Context<Self>) {
        if self.ending == SessionEnd::ClientClosed {
            self.ending = end;
        }
        ctx.stop();
    }

    fn push(&mut self, msg: Message, ctx: &mut Context<Self>) {
        let Some(outbox) = &mut self.outbox else {
            return;
        };
        match outbox.push(msg) {
            Ok(Some(send)) => self.run_send(send, ctx),
            Ok(None) => {}
            Err(Full) => {
                tracing::warn!(session = self.id, "WebSocket client too slow; closing");
                metrics::counter!(telemetry::WS_SLOW_CLOSED).increment(1);
                self.end(SessionEnd::TooSlow, ctx);
            }
        }
    }

    /// Runs one send of the outbox in this actor's context; the next starts when it completes.
    /// The actor stopping drops a send that waits, and its message stays queued for the close.
    fn run_send(
        &mut self,
        send: impl std::future::Future<Output = Result<(), Gone>> + 'static,
        ctx: &mut Context<Self>,
    ) {
        ctx.spawn(send.into_actor(self).map(|res, act, ctx| match res {
            Ok(()) => {
                if let Some(next) = act.outbox.as_mut().and_then(Outbox::sent) {
                    act.run_send(next, ctx);
                }
            }
            Err(Gone) => act.end(SessionEnd::TimedOut, ctx),
        }));
    }

    fn send_event(&mut self, event: &ServerEvent, ctx: &mut Context<Self>) {
        match serde_json::to_string(event) {
            Ok(json) => self.push(Message::Text(json.into()), ctx),
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
            Err(_) => act.end(SessionEnd::BrokerRestarted, ctx),
        }));
    }

    fn sync(&mut self, req: SyncRequest, ctx: &mut Context<Self>) {
        let since = match check_sync(&req) {
            Ok(s) => s,
            Err(e) => return self.reply_error(e, ctx),
        };
        if self.syncing {
            let busy = EventError {
                code: crate::domain::codes::WS_BUSY.into(),
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
            close: ctx.address().recipient(),
        });
        ctx.run_interval(HEARTBEAT, |act, ctx| {
            if act.last_seen.elapsed() > CLIENT_TIMEOUT {
                tracing::info!(session = act.id, "WebSocket client timed out");
                act.end(SessionEnd::TimedOut, ctx);
            } else {
                act.push(Message::Ping(bytes::Bytes::new()), ctx);
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
                    act.push(Message::Text(p), ctx);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not load the initial page");
                let err = EventError {
                    code: e.code().into(),
                    message: "could not load import history".into(),
                };
                act.reply_error(err, ctx);
                act.end(SessionEnd::InitialDataFailed, ctx);
            }
        }));
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.broker.do_send(Disconnect { id: self.id });
        if let Some(outbox) = self.outbox.take() {
            outbox.close(close_for(self.ending));
        }
        Running::Stop
    }
}

impl Handler<SendEvent> for WsSession {
    type Result = ();
    fn handle(&mut self, msg: SendEvent, ctx: &mut Self::Context) {
        if self.initial_sent {
            self.push(Message::Text(msg.0), ctx);
        } else if self.pending.len() < OUTBOX {
            self.pending.push(msg.0);
        } else {
            self.end(SessionEnd::TooSlow, ctx);
        }
    }
}

impl Handler<CloseSession> for WsSession {
    type Result = ();
    fn handle(&mut self, msg: CloseSession, ctx: &mut Self::Context) {
        self.end(msg.0, ctx);
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
                        code: crate::domain::codes::WS_MALFORMED.into(),
                        message: "binary messages are not accepted".into(),
                    },
                    ctx,
                );
            }
            Ok(Message::Ping(b)) => return self.push(Message::Pong(b), ctx),
            Ok(Message::Close(_)) => return self.end(SessionEnd::ClientClosed, ctx),
            Ok(_) => return,
            Err(e) => {
                tracing::info!(session = self.id, error = %e, "WebSocket protocol error");
                return self.end(SessionEnd::ProtocolError, ctx);
            }
        };
        match self.over_rate() {
            0 => {}
            // Said once per second; answering every excess message would feed the flood.
            1 => {
                let e = EventError {
                    code: crate::domain::codes::WS_RATE_LIMITED.into(),
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
        // The client's side of the connection ended: nobody reads a close frame now.
        self.end(SessionEnd::TimedOut, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_that_fell_behind_is_told_to_reconnect_without_its_backlog() {
        let c = close_for(SessionEnd::TooSlow);
        assert!(!c.after_queued);
        assert_eq!(c.reason.map(|r| r.code), Some(CloseCode::Again));
        let c = close_for(SessionEnd::BrokerRestarted);
        assert_eq!(c.reason.map(|r| r.code), Some(CloseCode::Restart));
        assert!(close_for(SessionEnd::TimedOut).reason.is_none());
    }
}
