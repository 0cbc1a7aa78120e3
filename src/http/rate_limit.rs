//! Fixed-window rate limits per client address, counted in Redis so every daemon behind a
//! load balancer shares them. The address is the TCP peer, unless that peer is one of the
//! configured `http.trusted_proxies`: then it is the one its `X-Forwarded-For` names.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::StatusCode;

use super::AppState;
use super::error::ApiError;
use crate::domain::codes;
use crate::telemetry;

const WINDOW_SECS: u64 = 60;

/// A limited action and its configured budget per minute (0: unlimited).
pub enum Action {
    Trigger,
    CreateSource,
    /// A preview fetches like a manual import, so it has the same budget (counted apart, so
    /// an editor's previews do not use up the imports).
    Preview,
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Action::Trigger => "trigger",
            Action::CreateSource => "create_source",
            Action::Preview => "preview",
        }
    }
    fn budget(&self, state: &AppState) -> u64 {
        let h = &state.settings.http;
        match self {
            Action::Trigger | Action::Preview => h.rate_limit_trigger_per_minute,
            Action::CreateSource => h.rate_limit_create_source_per_minute,
        }
    }
}

/// The client's address: the TCP peer, or, when the peer is a trusted proxy, the nearest
/// address in `X-Forwarded-For` (read from the right, each proxy appending the address it got
/// the request from) that is not a trusted proxy itself. Addresses further left were written
/// by the client and prove nothing.
pub fn client_address(req: &HttpRequest, trusted: &[String]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    forwarded_client(peer, forwarded_for(req).as_deref(), trusted)
}

/// Every `X-Forwarded-For` header, joined as one list.
fn forwarded_for(req: &HttpRequest) -> Option<String> {
    let values: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

fn forwarded_client(peer: IpAddr, forwarded: Option<&str>, trusted: &[String]) -> Option<IpAddr> {
    let is_trusted = |a: &IpAddr| trusted.iter().any(|t| t.parse::<IpAddr>().ok() == Some(*a));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let Some(list) = forwarded else {
        return Some(peer);
    };
    let mut client = peer;
    for hop in list.rsplit(',').map(str::trim) {
        // A malformed entry ends the chain: what stands left of it cannot be trusted.
        let Ok(addr) = hop.parse::<IpAddr>() else {
            break;
        };
        client = addr;
        if !is_trusted(&addr) {
            break;
        }
    }
    Some(client)
}

/// Counts one request; a 429 with `Retry-After` when the address used its budget. Fails open
/// when Redis does not answer: the other checks (leases, validation) still hold.
pub async fn check(state: &AppState, req: &HttpRequest, action: Action) -> Result<(), ApiError> {
    let budget = action.budget(state);
    if budget == 0 {
        return Ok(());
    }
    let ip = client_address(req, &state.settings.http.trusted_proxies)
        .map(|a| a.to_string())
        .unwrap_or_else(|| "unknown".into());
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let window = now / WINDOW_SECS;
    let redis = &state.pipeline.redis;
    let key = format!(
        "{}:ratelimit:{}:{ip}:{window}",
        redis.keys.prefix(),
        action.name()
    );
    let mut c = redis.conn.clone();
    let counted: Result<(u64, i64), _> = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg(&key)
        .cmd("EXPIRE")
        .arg(&key)
        .arg(WINDOW_SECS + 1)
        .query_async(&mut c)
        .await;
    match counted {
        Ok((n, _)) if n > budget => {
            metrics::counter!(telemetry::RATE_LIMITED, "action" => action.name()).increment(1);
            let retry = WINDOW_SECS - now % WINDOW_SECS;
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                codes::RATE_LIMITED,
                format!("at most {budget} per minute from one address; retry in {retry} s"),
            );
            e.retry_after = Some(retry);
            Err(e)
        }
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "rate limit not checked: Redis did not answer");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_forwarded_address_counts_only_behind_a_trusted_proxy() {
        let proxies = vec!["10.0.0.5".to_owned(), "10.0.0.6".to_owned()];
        let client = |peer: &str, fwd: Option<&str>, trusted: &[String]| {
            forwarded_client(ip(peer), fwd, trusted).unwrap()
        };
        // No proxy configured: the header is ignored.
        assert_eq!(
            client("203.0.113.9", Some("198.51.100.1"), &[]),
            ip("203.0.113.9")
        );
        // A peer that is not a trusted proxy cannot pick its address.
        assert_eq!(
            client("203.0.113.9", Some("198.51.100.1"), &proxies),
            ip("203.0.113.9")
        );
        // Behind a trusted proxy: the address that proxy saw.
        assert_eq!(
            client("10.0.0.5", Some("198.51.100.1"), &proxies),
            ip("198.51.100.1")
        );
        // A client that forges entries gets its own address, the one the proxy appended.
        assert_eq!(
            client("10.0.0.5", Some("1.2.3.4, 198.51.100.1"), &proxies),
            ip("198.51.100.1")
        );
        // Two trusted proxies in a row are both skipped.
        assert_eq!(
            client("10.0.0.5", Some("198.51.100.1, 10.0.0.6"), &proxies),
            ip("198.51.100.1")
        );
        // No header, or garbage: the peer.
        assert_eq!(client("10.0.0.5", None, &proxies), ip("10.0.0.5"));
        assert_eq!(
            client("10.0.0.5", Some("not-an-ip"), &proxies),
            ip("10.0.0.5")
        );
        assert_eq!(
            client("::1", Some("2001:db8::7"), &["::1".to_owned()]),
            ip("2001:db8::7")
        );
    }
}
