//! `GET /ws?token=...`: upgrades to a WebSocket served by a `WsSession` actor. Browsers cannot
//! set headers on a WebSocket, so the token (admin or read) travels in the query; the Origin is
//! checked. The connection is served by actix-ws (`actix_ws::handle`) for a `WsSession` actor.

use std::sync::atomic::Ordering;

use actix::{Actor, AsyncContext};
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Deserialize;

use crate::actors::ws_session::{MAX_FRAME, WsSession};
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
    body: web::Payload,
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
    let (response, session, inbound) = actix_ws::handle(&req, body)?;
    let id = state.next_session.fetch_add(1, Ordering::Relaxed);
    // Inside the request's span: its target is logged with the token redacted.
    tracing::info!(session = id, "WebSocket opened");
    let (broker, store) = (state.broker.clone(), state.store.clone());
    WsSession::create(move |ctx| {
        ctx.add_stream(inbound.max_frame_size(MAX_FRAME));
        WsSession::new(id, session, broker, store)
    });
    Ok(response)
}
