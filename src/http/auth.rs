//! Bearer-token access: mutations and the WebSocket always need the admin token; reads need it
//! unless `auth.protect_reads` is off. Tokens compare in constant time.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;

pub fn token_matches(expected: &str, given: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn check(req: &HttpRequest, needed: bool) -> Result<(), ApiError> {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Err(ApiError::new(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "no state",
        ));
    };
    if !needed {
        return Ok(());
    }
    match bearer(req) {
        None => Err(ApiError::unauthorized(
            "auth.missing_token",
            "send `Authorization: Bearer <admin token>`",
        )),
        Some(t) if token_matches(state.admin_token.expose(), t) => Ok(()),
        Some(_) => Err(ApiError::unauthorized(
            "auth.invalid_token",
            "the token is not valid",
        )),
    }
}

/// Extracting this proves the caller may read.
pub struct CanRead;
/// Extracting this proves the caller holds the admin token.
pub struct Admin;

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
        ready(check(req, true).map(|_| Admin))
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
}
