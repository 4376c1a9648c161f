//! Login sessions: issuing access tokens and rotating, single-use refresh tokens.

use std::net::IpAddr;

use axum::http::StatusCode;
use base64::Engine;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::jwt::{AppMetadata, AppRole, UserClaims, UserMetadata};
use super::password;
use crate::clock::{format_micros, now_micros};
use crate::error::{Error, Result};
use crate::AppState;

/// A user row joined with its organisation's name.
#[derive(Debug, Clone)]
struct UserRow {
    id: String,
    org_id: String,
    org_name: String,
    email: String,
    password_hash: String,
    display_name: String,
    role: AppRole,
    /// Disabled by an administrator (`users.disabled_at`, `admin::store::set_disabled`).
    disabled: bool,
}

const USER_SELECT: &str =
    "SELECT u.id, u.org_id, o.name, u.email, u.password_hash, u.display_name, u.role, \
            u.disabled_at IS NOT NULL \
     FROM users u JOIN orgs o ON o.id = u.org_id";

fn user_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    let role: String = row.get(6)?;
    Ok(UserRow {
        id: row.get(0)?,
        org_id: row.get(1)?,
        org_name: row.get(2)?,
        email: row.get(3)?,
        password_hash: row.get(4)?,
        display_name: row.get(5)?,
        role: AppRole::parse(&role).unwrap_or(AppRole::Medic),
        disabled: row.get(7)?,
    })
}

fn find_user(conn: &Connection, clause: &str, value: &str) -> Result<Option<UserRow>> {
    Ok(conn
        .query_row(
            &format!("{USER_SELECT} WHERE {clause}"),
            [value],
            user_from_row,
        )
        .optional()?)
}

fn invalid_credentials() -> Error {
    Error::api(
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "Invalid login credentials",
    )
}

/// GoTrue's answer to a disabled (banned) user's sign-in (`message`) or refresh: 400
/// `user_banned` (supabase/auth `internal/api/token.go`, `internal/tokens/service.go`).
pub fn user_banned(message: &str) -> Error {
    Error::api(StatusCode::BAD_REQUEST, "user_banned", message)
}

fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn new_refresh_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn user_value(user: &UserRow) -> Value {
    json!({
        "id": user.id,
        "aud": "authenticated",
        "role": "authenticated",
        "email": user.email,
        "app_metadata": {
            "provider": "email",
            "org_id": user.org_id,
            "org_name": user.org_name,
            "app_role": user.role,
        },
        "user_metadata": {"display_name": user.display_name},
    })
}

fn session_response(
    state: &AppState,
    user: &UserRow,
    session_id: &str,
    refresh: &str,
) -> Result<Value> {
    let ttl = state.config().access_ttl_secs;
    let now = now_micros() / 1_000_000;
    let claims = UserClaims {
        iss: "switchboard/auth/v1".into(),
        sub: user.id.clone(),
        aud: "authenticated".into(),
        role: "authenticated".into(),
        exp: now + ttl,
        iat: now,
        email: user.email.clone(),
        session_id: session_id.to_string(),
        app_metadata: AppMetadata {
            provider: "email".into(),
            org_id: user.org_id.clone(),
            org_name: user.org_name.clone(),
            app_role: user.role,
        },
        user_metadata: UserMetadata {
            display_name: user.display_name.clone(),
        },
    };
    Ok(json!({
        "access_token": state.keys().sign(&claims)?,
        "token_type": "bearer",
        "expires_in": ttl,
        "expires_at": now + ttl,
        "refresh_token": refresh,
        "user": user_value(user),
    }))
}

/// Why a password grant did not open a session.
#[derive(Debug)]
pub enum GrantError {
    /// Every password-check slot and queue place is taken ([`password::Checks`]).
    Busy,
    /// Wrong credentials, or a failure answered as usual.
    Other(Error),
}

impl From<Error> for GrantError {
    fn from(e: Error) -> Self {
        GrantError::Other(e)
    }
}

/// `grant_type=password`: checks the password (through [`AppState::password_checks`]) and
/// opens a new session; a wrong password or unknown email is recorded against `address`
/// in [`AppState::logins`].
pub async fn password_grant(
    state: &AppState,
    address: IpAddr,
    email: String,
    pass: String,
) -> Result<Value, GrantError> {
    let lookup = email.clone();
    let user = state
        .db()
        .read(move |conn| find_user(conn, "u.email = ?1", &lookup))
        .await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = state
        .password_checks()
        .verify(pass, stored)
        .await
        .map_err(|password::Busy| GrantError::Busy)?;
    let user = match (user, verified) {
        (Some(u), true) => u,
        _ => {
            state.logins().failed(address, &email, now_micros() / 1000);
            return Err(invalid_credentials().into());
        }
    };
    // After the password check, unlike GoTrue (which answers it first): only someone with
    // the password learns that the account exists and is disabled.
    if user.disabled {
        return Err(user_banned("User is banned").into());
    }
    let refresh = new_refresh_token();
    let session_id = uuid::Uuid::new_v4().to_string();
    let (sid, uid, hashed) = (session_id.clone(), user.id.clone(), hash_token(&refresh));
    state
        .db()
        .write(move |tx, _| {
            let now = format_micros(now_micros());
            tx.execute(
                "INSERT INTO sessions (id, user_id, created_at) VALUES (?1, ?2, ?3)",
                params![sid, uid, now],
            )?;
            tx.execute(
                "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?1, ?2, ?3)",
                params![hashed, sid, now],
            )?;
            Ok(())
        })
        .await?;
    Ok(session_response(state, &user, &session_id, &refresh)?)
}

/// `grant_type=refresh_token`: spends the token and issues its successor.
pub async fn refresh_grant(state: &AppState, refresh: String) -> Result<Value> {
    let hashed = hash_token(&refresh);
    let next = new_refresh_token();
    let next_hashed = hash_token(&next);
    let reuse_window_us = state.config().limits.refresh_reuse_window_ms * 1000;
    let (user, session_id) = state
        .db()
        .write(move |tx, _| {
            type Found = (String, i64, i64, String, Option<i64>, bool);
            let found: Option<Found> = tx
                .query_row(
                    "SELECT t.session_id, t.used, s.revoked, s.user_id, t.used_at_us, \
                            u.disabled_at IS NOT NULL \
                     FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
                     JOIN users u ON u.id = s.user_id \
                     WHERE t.token_hash = ?1",
                    [&hashed],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ))
                    },
                )
                .optional()?;
            let now = now_micros();
            let Some((session_id, used, revoked, user_id, used_at, disabled)) = found else {
                return Ok(Err(Error::api(
                    StatusCode::BAD_REQUEST,
                    "refresh_token_not_found",
                    "Invalid Refresh Token: Refresh Token Not Found",
                )));
            };
            // Before the session's state, as GoTrue checks it: disabling also ended the
            // sessions, and this says why.
            if disabled {
                return Ok(Err(user_banned("Invalid Refresh Token: User Banned")));
            }
            if revoked != 0 {
                return Ok(Err(Error::api(
                    StatusCode::BAD_REQUEST,
                    "session_expired",
                    "Invalid Refresh Token: Session Expired",
                )));
            }
            // Two tabs of one session refreshing at the same moment: the later one gets a
            // successor of its own, as GoTrue does within its reuse interval.
            let just_spent = used_at.is_some_and(|at| now - at <= reuse_window_us);
            if used != 0 && !just_spent {
                // A spent token coming back means it leaked: end the whole session.
                tx.execute("UPDATE sessions SET revoked = 1 WHERE id = ?1", [&session_id])?;
                return Ok(Err(Error::api(
                    StatusCode::BAD_REQUEST,
                    "refresh_token_already_used",
                    "Invalid Refresh Token: Already Used",
                )));
            }
            if used == 0 {
                tx.execute(
                    "UPDATE refresh_tokens SET used = 1, used_at_us = ?2 WHERE token_hash = ?1",
                    params![hashed, now],
                )?;
            }
            tx.execute(
                "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?1, ?2, ?3)",
                params![next_hashed, session_id, format_micros(now)],
            )?;
            let user = find_user(tx, "u.id = ?1", &user_id)?;
            Ok(user.map(|u| (u, session_id)).ok_or_else(invalid_credentials))
        })
        .await??;
    session_response(state, &user, &session_id, &next)
}

/// Ends a session: its refresh tokens stop working.
pub async fn revoke(state: &AppState, session_id: String) -> Result<()> {
    state
        .db()
        .write(move |tx, _| {
            tx.execute(
                "UPDATE sessions SET revoked = 1 WHERE id = ?1",
                [&session_id],
            )?;
            Ok(())
        })
        .await
}

/// The GoTrue user object of a user id.
pub async fn user_json(state: &AppState, user_id: String) -> Result<Value> {
    let user = state
        .db()
        .read(move |conn| find_user(conn, "u.id = ?1", &user_id))
        .await?;
    user.map(|u| user_value(&u)).ok_or_else(|| {
        Error::unauthorized(
            "user_not_found",
            "User from sub claim in JWT does not exist",
        )
    })
}
