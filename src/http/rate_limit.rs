//! Fixed-window rate limits per client address, counted in Redis so every daemon behind a
//! load balancer shares them. The address is the TCP peer: `X-Forwarded-For` is not trusted.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;

use super::AppState;
use super::error::ApiError;
use crate::telemetry;

const WINDOW_SECS: u64 = 60;

/// A limited action and its configured budget per minute (0: unlimited).
pub enum Action {
    Trigger,
    CreateSource,
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Action::Trigger => "trigger",
            Action::CreateSource => "create_source",
        }
    }
    fn budget(&self, state: &AppState) -> u64 {
        let h = &state.settings.http;
        match self {
            Action::Trigger => h.rate_limit_trigger_per_minute,
            Action::CreateSource => h.rate_limit_create_source_per_minute,
        }
    }
}

/// Counts one request; a 429 with `Retry-After` when the address used its budget. Fails open
/// when Redis does not answer: the other checks (leases, validation) still hold.
pub async fn check(state: &AppState, req: &HttpRequest, action: Action) -> Result<(), ApiError> {
    let budget = action.budget(state);
    if budget == 0 {
        return Ok(());
    }
    let ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
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
                "rate_limited",
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
