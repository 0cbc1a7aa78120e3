//! Bearer-token access. Two kinds of token: the admin token (everything) and an optional
//! read-only token (reads and the WebSocket; changes answer 403 `auth.read_only`), for
//! dashboards on a wall screen. Reads need a token unless `auth.protect_reads` is off.
//!
//! Rotation without a restart: the tokens are re-read from the config file on SIGHUP
//! ([`reload_on_hangup`]), and a previous admin or read token stays valid until
//! `auth.previous_token_valid_until`, so daemons and dashboards can switch one by one.
//! Tokens compare in constant time.

use std::future::{Ready, ready};
use std::sync::{Arc, RwLock};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, web};
use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use crate::config::{AuthSettings, Secret};
use crate::domain::audit::Actor;
use crate::domain::codes;

pub fn token_matches(expected: &str, given: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Admin,
}

#[derive(Debug, Clone, Default)]
struct TokenSet {
    admin: Secret,
    read: Secret,
    previous_admin: Secret,
    previous_read: Secret,
    previous_until: Option<DateTime<Utc>>,
}

impl TokenSet {
    fn from_settings(auth: &AuthSettings) -> Self {
        Self {
            admin: auth.admin_token.clone(),
            read: auth.read_token.clone(),
            previous_admin: auth.previous_admin_token.clone(),
            previous_read: auth.previous_read_token.clone(),
            previous_until: auth.previous_token_valid_until(),
        }
    }
}

/// The tokens in force; shared by every request handler and replaced on reload.
#[derive(Debug, Default)]
pub struct Tokens(RwLock<TokenSet>);

impl Tokens {
    /// `auth.admin_token` must be set (the daemon generates one when the settings have none).
    pub fn new(auth: &AuthSettings) -> Self {
        Self(RwLock::new(TokenSet::from_settings(auth)))
    }

    /// Takes the tokens of freshly loaded settings. An empty `admin_token` keeps the admin
    /// token in use (one generated at start stays valid).
    pub fn reload(&self, auth: &AuthSettings) {
        let mut next = TokenSet::from_settings(auth);
        let mut current = self.0.write().unwrap_or_else(|e| e.into_inner());
        if next.admin.is_empty() {
            next.admin = current.admin.clone();
        }
        *current = next;
    }

    /// What `given` grants at `now`, if anything. Every configured token is compared, so the
    /// time taken does not say which one matched.
    pub fn access(&self, given: &str, now: DateTime<Utc>) -> Option<Access> {
        let set = self.0.read().unwrap_or_else(|e| e.into_inner());
        let previous_valid = set.previous_until.is_some_and(|until| now < until);
        let admin = token_matches(set.admin.expose(), given)
            | (previous_valid & token_matches(set.previous_admin.expose(), given));
        let read = token_matches(set.read.expose(), given)
            | (previous_valid & token_matches(set.previous_read.expose(), given));
        if admin {
            Some(Access::Admin)
        } else if read {
            Some(Access::Read)
        } else {
            None
        }
    }

    /// Which admin token `given` is (for the audit log): the current one or, during a
    /// rotation, the previous one. Both are compared, as in `access`.
    pub fn admin_actor(&self, given: &str, now: DateTime<Utc>) -> Option<Actor> {
        let set = self.0.read().unwrap_or_else(|e| e.into_inner());
        let previous_valid = set.previous_until.is_some_and(|until| now < until);
        let current = token_matches(set.admin.expose(), given);
        let previous = previous_valid & token_matches(set.previous_admin.expose(), given);
        if current {
            Some(Actor::Admin)
        } else if previous {
            Some(Actor::PreviousAdmin)
        } else {
            None
        }
    }

    /// The access of a presented token, or the API error that refuses it.
    pub fn check(&self, given: Option<&str>, missing_hint: &str) -> Result<Access, ApiError> {
        let Some(given) = given else {
            return Err(ApiError::unauthorized(
                codes::AUTH_MISSING_TOKEN,
                missing_hint,
            ));
        };
        self.access(given, Utc::now()).ok_or_else(|| {
            ApiError::unauthorized(codes::AUTH_INVALID_TOKEN, "the token is not valid")
        })
    }
}

/// Re-reads the auth settings with `load` on every SIGHUP and applies them to `tokens`; a
/// file that does not load leaves the tokens as they were. Other settings need a restart.
pub async fn reload_on_hangup<F>(tokens: Arc<Tokens>, load: F)
where
    F: Fn() -> Result<AuthSettings, String>,
{
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no SIGHUP handler: tokens reload only on restart");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        match load() {
            Ok(auth) => {
                tokens.reload(&auth);
                tracing::info!(
                    read_token = !auth.read_token.is_empty(),
                    previous_tokens_until = auth.previous_token_valid_until.as_deref(),
                    "SIGHUP: tokens reloaded"
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "SIGHUP: settings not reloaded; tokens unchanged")
            }
        }
    }
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

const BEARER_HINT: &str = "send `Authorization: Bearer <token>`";

/// The caller's access; `None` when reads are open and no token was needed.
fn check(req: &HttpRequest, needed: bool) -> Result<Option<Access>, ApiError> {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            "no state",
        ));
    };
    if !needed {
        return Ok(None);
    }
    state.tokens.check(bearer(req), BEARER_HINT).map(Some)
}

/// Whether the request carries a token that may read (or reads are open). For routes that
/// answer everyone but tell more to those who may read (`/readyz`).
pub fn may_read(req: &HttpRequest) -> bool {
    let protect = req
        .app_data::<web::Data<AppState>>()
        .is_none_or(|s| s.settings.auth.protect_reads);
    check(req, protect).is_ok()
}

/// Whether the request carries an admin token (to tell a reader what it may do).
pub fn is_admin(req: &HttpRequest) -> bool {
    matches!(check(req, true), Ok(Some(Access::Admin)))
}

/// Extracting this proves the caller may read.
pub struct CanRead;
/// Extracting this proves the caller holds an admin token; it says which one (for the audit
/// log), never what it is.
pub struct Admin(pub Actor);

impl FromRequest for CanRead {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let protect = req
            .app_data::<web::Data<AppState>>()
            .is_none_or(|s| s.settings.auth.protect_reads);
        ready(check(req, protect).map(|_| CanRead))
    }
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match check(req, true) {
            Ok(Some(Access::Admin)) => {
                let actor = req
                    .app_data::<web::Data<AppState>>()
                    .zip(bearer(req))
                    .and_then(|(s, t)| s.tokens.admin_actor(t, Utc::now()))
                    .unwrap_or(Actor::Admin);
                Ok(Admin(actor))
            }
            Ok(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                codes::AUTH_READ_ONLY,
                "this token may only read; changes need the admin token",
            )),
            Err(e) => Err(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_exactly_and_never_when_unset() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abc", "abd"));
        assert!(!token_matches("abc", "ab"));
        assert!(!token_matches("", ""));
    }

    fn auth(admin: &str, read: &str) -> AuthSettings {
        AuthSettings {
            admin_token: Secret::new(admin),
            read_token: Secret::new(read),
            ..AuthSettings::default()
        }
    }

    fn at(t: &str) -> DateTime<Utc> {
        t.parse().unwrap()
    }

    #[test]
    fn the_read_token_reads_and_the_admin_token_does_everything() {
        let tokens = Tokens::new(&auth("admin-secret", "wall-screen"));
        let now = Utc::now();
        assert_eq!(tokens.access("admin-secret", now), Some(Access::Admin));
        assert_eq!(tokens.access("wall-screen", now), Some(Access::Read));
        assert_eq!(tokens.access("", now), None);
        assert_eq!(tokens.access("other", now), None);
    }

    #[test]
    fn previous_tokens_are_valid_until_the_overlap_ends_and_not_after() {
        let mut a = auth("new-admin", "new-read");
        a.previous_admin_token = Secret::new("old-admin");
        a.previous_read_token = Secret::new("old-read");
        a.previous_token_valid_until = Some("2030-01-01T00:00:00Z".into());
        let tokens = Tokens::new(&a);
        let before = at("2029-12-31T23:59:59Z");
        let after = at("2030-01-01T00:00:00Z");
        assert_eq!(tokens.access("old-admin", before), Some(Access::Admin));
        assert_eq!(tokens.access("old-read", before), Some(Access::Read));
        assert_eq!(tokens.access("new-admin", after), Some(Access::Admin));
        assert_eq!(tokens.access("old-admin", after), None);
        assert_eq!(tokens.access("old-read", after), None);
    }

    #[test]
    fn a_reload_replaces_the_tokens_and_an_empty_admin_token_keeps_the_one_in_use() {
        let tokens = Tokens::new(&auth("generated", ""));
        let now = Utc::now();
        tokens.reload(&auth("", "wall-screen"));
        assert_eq!(tokens.access("generated", now), Some(Access::Admin));
        assert_eq!(tokens.access("wall-screen", now), Some(Access::Read));
        tokens.reload(&auth("rotated", ""));
        assert_eq!(tokens.access("generated", now), None);
        assert_eq!(tokens.access("wall-screen", now), None);
        assert_eq!(tokens.access("rotated", now), Some(Access::Admin));
    }

    #[test]
    fn a_missing_or_unknown_token_has_its_own_code() {
        let tokens = Tokens::new(&auth("admin-secret", ""));
        let code = |t: Option<&str>| tokens.check(t, "hint").err().map(|e| e.code);
        assert_eq!(code(None).as_deref(), Some(codes::AUTH_MISSING_TOKEN));
        assert_eq!(code(Some("x")).as_deref(), Some(codes::AUTH_INVALID_TOKEN));
        assert_eq!(code(Some("admin-secret")), None);
    }
}
