//! Request spans without secrets. Browsers cannot send headers on a WebSocket, so the admin
//! token travels in `/ws?token=`; the root span of every request (tracing-actix-web) records
//! the request's target with such query values replaced, so no log line carries them.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Level;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

/// Query parameters whose values are never logged.
const SECRET_PARAMS: &[&str] = &["token", "access_token"];
const REDACTED: &str = "[redacted]";

/// `target` (path and query) with the values of secret parameters replaced.
pub fn redact_target(target: &str) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let secret = SECRET_PARAMS.iter().any(|s| name.eq_ignore_ascii_case(s));
            match secret && !value.is_empty() {
                true => format!("{name}={REDACTED}"),
                false => pair.to_owned(),
            }
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

/// tracing-actix-web's root span, with the target redacted (`http.target`). Outcomes are
/// recorded as the default builder records them.
pub struct RedactedSpan;

impl RootSpanBuilder for RedactedSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let target = request
            .uri()
            .path_and_query()
            .map_or_else(|| request.path().to_owned(), |p| redact_target(p.as_str()));
        let route = request.match_pattern().unwrap_or_else(|| "default".into());
        let info = request.connection_info();
        tracing::span!(
            Level::INFO,
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %target,
            http.client_ip = %info.realip_remote_addr().unwrap_or(""),
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_values_are_replaced_and_everything_else_kept() {
        assert_eq!(redact_target("/ws?token=s3cret"), "/ws?token=[redacted]");
        assert_eq!(
            redact_target("/ws?a=1&TOKEN=x%20y&b=&token="),
            "/ws?a=1&TOKEN=[redacted]&b=&token="
        );
        assert_eq!(redact_target("/api/jobs?q=token"), "/api/jobs?q=token");
        assert_eq!(redact_target("/healthz"), "/healthz");
    }
}
