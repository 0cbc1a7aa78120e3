//! `GET /ws?token=...`: upgrades to a WebSocket served by a `WsSession` actor. Browsers cannot
//! set headers on a WebSocket, so the token (admin or read) travels in the query; the Origin is
//! checked.
//! The connection itself is taken over after the 101 response (`http::upgrade`).

use std::sync::atomic::Ordering;

use actix::{Actor, AsyncContext};
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Deserialize;

use crate::actors::ws_session::{MAX_FRAME, OUTBOX, WsSession, socket};
use crate::domain::codes;
use crate::http::AppState;
use crate::http::error::ApiError;

#[derive(Deserialize)]
pub struct WsQuery {
    token: Option<String>,
}

/// Same-origin requests (the dashboard) and the configured origins may connect; clients
/// without an Origin header (CLIs, tests) are not browsers and are let through.
fn origin_allowed(req: &HttpRequest, allowed: &[String]) -> bool {
    let Some(origin) = req.headers().get("origin").and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let info = req.connection_info();
    let own = format!("{}://{}", info.scheme(), info.host());
    origin == own || allowed.iter().any(|a| a == origin)
}

#[get("/ws")]
pub async fn connect(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<WsQuery>,
) -> Result<HttpResponse, actix_web::Error> {
    // The admin or the read token: every WebSocket event is a read.
    state.tokens.check(
        q.token.as_deref(),
        "pass the admin or read token as `?token=`",
    )?;
    if !origin_allowed(&req, &state.settings.http.allowed_origins) {
        return Err(ApiError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            codes::AUTH_ORIGIN,
            "this origin may not open the WebSocket",
        )
        .into());
    }
    actix_http::ws::verify_handshake(req.head())?;
    if !socket::upgradable(&req) {
        // A handshake the HTTP layer did not route to its upgrade path: `Upgrade` named more
        // than `websocket`, or the request had a chunked body.
        return Err(ApiError::bad_request(
            codes::VALIDATION_UPGRADE,
            "a WebSocket handshake needs `Upgrade: websocket` alone and no request body",
        )
        .into());
    }
    let id = state.next_session.fetch_add(1, Ordering::Relaxed);
    let (broker, store) = (state.broker.clone(), state.store.clone());
    socket::accept(&req, OUTBOX, MAX_FRAME, move |outbox, inbound| {
        WsSession::create(move |ctx| {
            ctx.add_stream(inbound);
            WsSession::new(id, outbox, broker, store)
        });
    })
}
