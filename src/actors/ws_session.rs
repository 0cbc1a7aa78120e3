//! `WsSession`: one actor per WebSocket connection. It sends `initial_data` first, then every
//! run change, in order, through a bounded outbox; a client that stops reading fills the
//! outbox and is dropped. Heartbeats find dead peers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_ws::{Message, ProtocolError};
use tokio::sync::mpsc;

use super::history_broker::HistoryBroker;
use super::messages::{Connect, Disconnect, SendEvent};
use crate::domain::events::{EventError, InitialData, ServerEvent};
use crate::store::Store;
use crate::store::mongo::runs::RunFilter;

pub const HEARTBEAT: Duration = Duration::from_secs(5);
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);
/// Messages a client may fall behind by before it is dropped.
pub const OUTBOX: usize = 256;
/// Rows in `initial_data`: the dashboard's first page.
pub const INITIAL_PAGE: u64 = 20;

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
        }
    }

    fn push(&mut self, out: Outgoing, ctx: &mut Context<Self>) {
        let Some(tx) = &self.outbox else { return };
        if tx.try_send(out).is_err() {
            tracing::warn!(
                session = self.id,
                "WebSocket outbox full or closed; closing"
            );
            ctx.stop();
        }
    }

    fn send_event(&mut self, event: &ServerEvent, ctx: &mut Context<Self>) {
        match serde_json::to_string(event) {
            Ok(json) => self.push(Outgoing::Text(json.into()), ctx),
            Err(e) => tracing::error!(error = %e, "could not serialize an event"),
        }
    }

    fn reply_error(&mut self, code: &str, message: String, ctx: &mut Context<Self>) {
        let e = ServerEvent::Error(EventError {
            code: code.into(),
            message,
        });
        self.send_event(&e, ctx);
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
        ctx.set_mailbox_capacity(OUTBOX);
        let (tx, rx) = mpsc::channel(OUTBOX);
        self.outbox = Some(tx);
        if let Some(session) = self.session.take() {
            actix_web::rt::spawn(write_loop(session, rx));
        }
        self.broker.do_send(Connect {
            id: self.id,
            session: ctx.address().recipient(),
        });
        ctx.run_interval(HEARTBEAT, |act, ctx| {
            if act.last_seen.elapsed() > CLIENT_TIMEOUT {
                tracing::info!(session = act.id, "WebSocket client timed out");
                ctx.stop();
            } else {
                act.push(Outgoing::Ping, ctx);
            }
        });
        let store = self.store.clone();
        let load = async move {
            store
                .page_runs(1, INITIAL_PAGE, &RunFilter::default())
                .await
        };
        ctx.spawn(load.into_actor(self).map(|res, act, ctx| match res {
            Ok(logs) => {
                act.send_event(&ServerEvent::InitialData(InitialData { logs }), ctx);
                act.initial_sent = true;
                for p in std::mem::take(&mut act.pending) {
                    act.push(Outgoing::Text(p), ctx);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not load the initial page");
                act.reply_error(
                    "db.unavailable",
                    format!("could not load import history: {e}"),
                    ctx,
                );
                ctx.stop();
            }
        }));
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.broker.do_send(Disconnect { id: self.id });
        self.outbox = None;
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
            ctx.stop();
        }
    }
}

impl StreamHandler<Result<Message, ProtocolError>> for WsSession {
    fn handle(&mut self, msg: Result<Message, ProtocolError>, ctx: &mut Self::Context) {
        self.last_seen = Instant::now();
        match msg {
            Ok(Message::Text(text)) => match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(v) => {
                    let event = v.get("event").and_then(|e| e.as_str()).unwrap_or("");
                    match event {
                        "ping" => {
                            let pong =
                                serde_json::json!({"event": "pong", "data": null}).to_string();
                            self.push(Outgoing::Text(pong.into()), ctx);
                        }
                        _ => self.reply_error(
                            "ws.unknown_event",
                            format!("unknown event `{event}`; this server accepts `ping`"),
                            ctx,
                        ),
                    }
                }
                Err(e) => self.reply_error(
                    "ws.malformed",
                    format!("messages are JSON objects: {e}"),
                    ctx,
                ),
            },
            Ok(Message::Binary(_)) => self.reply_error(
                "ws.malformed",
                "binary messages are not accepted".into(),
                ctx,
            ),
            Ok(Message::Ping(b)) => self.push(Outgoing::Pong(b), ctx),
            Ok(Message::Close(_)) => ctx.stop(),
            Ok(_) => {}
            Err(e) => {
                tracing::info!(session = self.id, error = %e, "WebSocket protocol error");
                ctx.stop();
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
