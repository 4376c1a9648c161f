//! GoTrue subset under `/auth/v1`: password and refresh grants, logout, user; plus the
//! `apikey` gate and the bearer-token extractor shared with REST.

pub mod apikey;
pub mod jwt;
pub mod password;
pub mod ratelimit;
pub mod sessions;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::body::JsonBody;
use crate::error::{Error, Result};
use crate::metrics::Refusal;
use crate::AppState;
use apikey::ApiKeyCheck;
use jwt::Principal;
use ratelimit::LoginRefusal;

/// Routes mounted at `/auth/v1`.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/token", post(token))
        .route("/logout", post(logout))
        .route("/user", get(user))
        .fallback(|| async {
            Error::api(StatusCode::NOT_FOUND, "not_found", "no such auth endpoint")
        })
        .layer(middleware::from_fn_with_state(state, require_api_key))
}

/// Rejects requests without a valid API key ([`apikey::check`]), answering as PostgREST.
pub async fn require_api_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match apikey::check(state.keys(), req.headers(), req.uri().query()) {
        ApiKeyCheck::Valid => next.run(req).await,
        ApiKeyCheck::Missing => Error::unauthorized("PGRST301", "No API key found in request")
            .with_hint("No `apikey` request header or url param was found.")
            .into_response(),
        ApiKeyCheck::Invalid => Error::unauthorized("PGRST301", "Invalid API key")
            .with_hint("Double check your Supabase `anon` or `service_role` API key.")
            .into_response(),
    }
}

/// Extracts the bearer token from headers, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = bearer(&parts.headers).ok_or_else(|| {
            Error::unauthorized("PGRST302", "Anonymous access is disabled")
                .with_hint("Sign in and send `Authorization: Bearer <access_token>`.")
        })?;
        let claims = state
            .keys()
            .verify_user(token)
            .map_err(jwt::TokenError::to_api_error)?;
        // A token issued before its user was disabled is refused at once, not at its
        // expiry (hosted PostgREST cannot tell: there it lasts until `exp`).
        if state.disabled().contains(&claims.sub) {
            return Err(Error::unauthorized("user_banned", "User is banned"));
        }
        Ok(Principal::from(&claims))
    }
}

#[derive(Deserialize)]
struct GrantQuery {
    grant_type: Option<String>,
}

fn auth_error(status: StatusCode, code: &str, message: &str) -> Error {
    Error::api(status, code, message)
}

/// A login refused for now: 429 in GoTrue's shape (`over_request_rate_limit`) with
/// `Retry-After` in seconds (RFC 9110, 10.2.3).
fn try_again_later(message: &str, after_secs: u64) -> Response {
    let mut response = auth_error(
        StatusCode::TOO_MANY_REQUESTS,
        "over_request_rate_limit",
        message,
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(after_secs));
    response
}

async fn token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<GrantQuery>,
    JsonBody(body): JsonBody,
) -> Result<Response> {
    match q.grant_type.as_deref() {
        Some("password") => {
            let email = field(&body, "email")?.trim().to_lowercase();
            let password = field(&body, "password")?.to_string();
            let now = crate::clock::now_micros() / 1000;
            let limits = &state.config().limits;
            match state.logins().admit(peer.ip(), &email, now) {
                Ok(()) => {}
                Err(LoginRefusal::TooManyAttempts) => {
                    state.metrics().refused(Refusal::LoginAttempts);
                    return Ok(try_again_later(
                        "Too many login attempts. Wait a minute and try again.",
                        secs_ceil(limits.login_window_ms),
                    ));
                }
                Err(LoginRefusal::EmailBackoff) => {
                    state.metrics().refused(Refusal::LoginEmailBackoff);
                    return Ok(try_again_later(
                        "Too many wrong passwords for this account from here. Wait a while \
                         and try again.",
                        secs_ceil(limits.login_email_backoff_ms),
                    ));
                }
            }
            match sessions::password_grant(&state, peer.ip(), email, password).await {
                Err(sessions::GrantError::Busy) => {
                    state.metrics().refused(Refusal::LoginBusy);
                    Ok(try_again_later(
                        "Too many logins are being checked right now. Try again in a second.",
                        1,
                    ))
                }
                Err(sessions::GrantError::Other(e)) => {
                    if e.status().is_client_error() {
                        state.metrics().login_failures.inc();
                    }
                    Err(e)
                }
                Ok(session) => Ok(Json(session).into_response()),
            }
        }
        Some("refresh_token") => {
            let refresh = field(&body, "refresh_token")?.to_string();
            sessions::refresh_grant(&state, refresh)
                .await
                .map(|v| Json(v).into_response())
        }
        _ => Err(auth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be password or refresh_token",
        )),
    }
}

/// Whole seconds, rounded up, of a positive duration in ms.
fn secs_ceil(ms: i64) -> u64 {
    u64::try_from(ms).map_or(1, |ms| ms.div_ceil(1000).max(1))
}

fn field<'a>(body: &'a Value, name: &str) -> Result<&'a str> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            auth_error(
                StatusCode::BAD_REQUEST,
                "validation_failed",
                &format!("missing {name}"),
            )
        })
}

async fn logout(State(state): State<AppState>, principal: Principal) -> Result<StatusCode> {
    sessions::revoke(&state, principal.session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn user(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>> {
    sessions::user_json(&state, principal.user_id)
        .await
        .map(Json)
}
