//! The signed-in session: persisted across reloads, refreshed ahead of expiry.

use std::future::Future;
use std::time::Duration;

use leptos::prelude::*;
use serde_json::Value;

use crate::api::{ApiError, Backend, Session};

const STORAGE_KEY: &str = "switchboard.session";

/// Milliseconds until the token should be refreshed: a quarter of its life (at most a
/// minute) before it expires, so a sleeping tab or a slow network still makes it in time,
/// and up to a third of that margin earlier by `jitter` in [0, 1): tabs sharing the session
/// then do not all refresh at once; the first refreshes and the others take up its result.
pub fn refresh_in_ms(expires_at: i64, expires_in: i64, now: i64, jitter: f64) -> i64 {
    let margin_ms = (expires_in / 4).clamp(5, 60) * 1000;
    let early_ms = (jitter.clamp(0.0, 1.0) * margin_ms as f64 / 3.0) as i64;
    ((expires_at - now) * 1000 - margin_ms - early_ms).max(0)
}

/// Whether the session another tab stored should replace this tab's. Every tab of the
/// browser shares one session: a sign-out anywhere signs all out, a sign-in or a newer
/// refresh anywhere is taken up, so no tab ever presents a refresh token already spent.
/// Equal expiries are left alone (two tabs that refreshed in the same second each hold a
/// valid token), so tabs never trade sessions back and forth.
pub fn adopt_stored(current: Option<&Session>, stored: Option<&Session>) -> bool {
    match (current, stored) {
        (current, None) => current.is_some(),
        (None, Some(_)) => true,
        (Some(c), Some(s)) => s.user.id != c.user.id || s.expires_at > c.expires_at,
    }
}

/// Whether the signed-in user was replaced by another one (a sign-in in another tab of this
/// console), as opposed to a sign-in, a sign-out or a refresh of the same user. Takes the
/// user ids before and now. A replaced user must not stay on the previous user's thread:
/// it belongs to someone else and, for another org, does not exist for the new user.
pub fn replaced_user(before: Option<&str>, now: Option<&str>) -> bool {
    matches!((before, now), (Some(b), Some(n)) if b != n)
}

fn stored_session() -> Option<Session> {
    storage()
        .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten())
        .and_then(|text| serde_json::from_str::<Session>(&text).ok())
}

fn now_secs() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

/// Session state and the calls that change it (provided as context). Copy, like a signal.
#[derive(Clone, Copy)]
pub struct SessionService {
    /// The current session; `None` when signed out.
    pub session: RwSignal<Option<Session>>,
    backend: StoredValue<Backend>,
    refreshing: StoredValue<bool>,
    timer: StoredValue<Option<TimeoutHandle>, LocalStorage>,
}

impl SessionService {
    /// Restores a stored session and keeps it fresh and persisted.
    pub fn new(backend: Backend) -> Self {
        let service = SessionService {
            session: RwSignal::new(stored_session()),
            backend: StoredValue::new(backend),
            refreshing: StoredValue::new(false),
            timer: StoredValue::new_local(None),
        };
        Effect::new(move |_| {
            let current = service.session.get();
            if let Some(s) = storage() {
                let _ = match &current {
                    Some(session) => s.set_item(
                        STORAGE_KEY,
                        &serde_json::to_string(session).unwrap_or_default(),
                    ),
                    None => s.remove_item(STORAGE_KEY),
                };
            }
            if let Some(Some(old)) = service.timer.try_update_value(Option::take) {
                old.clear();
            }
            if let Some(session) = current {
                let wait = refresh_in_ms(
                    session.expires_at,
                    session.expires_in,
                    now_secs(),
                    js_sys::Math::random(),
                );
                let handle = set_timeout_with_handle(
                    move || {
                        leptos::task::spawn_local(async move {
                            let _ = service.refresh().await;
                        })
                    },
                    Duration::from_millis(wait as u64),
                );
                if let Ok(h) = handle {
                    service.timer.set_value(Some(h));
                }
            }
        });
        // Other tabs' sign-ins, refreshes and sign-outs (the event fires in every other tab).
        // The listener lives as long as the page, like the service.
        let _ = window_event_listener(leptos::ev::storage, move |ev| {
            if ev.key().as_deref() == Some(STORAGE_KEY) {
                service.adopt_if_newer(
                    ev.new_value()
                        .and_then(|t| serde_json::from_str::<Session>(&t).ok()),
                );
            }
        });
        service
    }

    /// Takes up `stored` (another tab's session) if it should replace this tab's.
    fn adopt_if_newer(self, stored: Option<Session>) -> bool {
        let adopt = self
            .session
            .with_untracked(|current| adopt_stored(current.as_ref(), stored.as_ref()));
        if adopt {
            self.session.set(stored);
        }
        adopt
    }

    /// The backend this session talks to.
    pub fn backend(self) -> Backend {
        self.backend.get_value()
    }

    /// The current access token, reactive.
    pub fn token(self) -> Signal<Option<String>> {
        let memo = Memo::new(move |_| {
            self.session
                .with(|s| s.as_ref().map(|s| s.access_token.clone()))
        });
        memo.into()
    }

    /// Signs in with email and password.
    pub async fn sign_in(self, email: &str, password: &str) -> Result<(), ApiError> {
        let session = self.backend().sign_in(email, password).await?;
        self.session.set(Some(session));
        Ok(())
    }

    /// Signs out here and on the server.
    pub fn sign_out(self) {
        let token = self
            .session
            .with_untracked(|s| s.as_ref().map(|s| s.access_token.clone()));
        self.session.set(None);
        if let Some(t) = token {
            let backend = self.backend();
            leptos::task::spawn_local(async move {
                // Best effort: the local session is gone either way.
                let _ = backend.sign_out(&t).await;
            });
        }
    }

    /// Trades the refresh token for a new session (one at a time: tokens are single-use).
    pub async fn refresh(self) -> Result<(), ApiError> {
        if self.refreshing.get_value() {
            return Ok(());
        }
        // Another tab may have refreshed already (its event can lag, or this tab slept).
        if let Some(newer) = stored_session() {
            if self.adopt_if_newer(Some(newer)) {
                return Ok(());
            }
        }
        let Some(refresh_token) = self
            .session
            .with_untracked(|s| s.as_ref().map(|s| s.refresh_token.clone()))
        else {
            return Err(ApiError::Unauthorized("signed out".into()));
        };
        self.refreshing.set_value(true);
        let result = self.backend().refresh(&refresh_token).await;
        self.refreshing.set_value(false);
        match result {
            Ok(session) => {
                self.session.set(Some(session));
                Ok(())
            }
            Err(e) if e.is_retryable() && !matches!(e, ApiError::Unauthorized(_)) => {
                // Offline: try again shortly, keep the session.
                set_timeout(
                    move || {
                        leptos::task::spawn_local(async move {
                            let _ = self.refresh().await;
                        })
                    },
                    Duration::from_secs(5),
                );
                Err(e)
            }
            Err(e) => {
                // The refresh token is spent or revoked: only a new sign-in helps.
                self.session.set(None);
                Err(e)
            }
        }
    }

    /// Runs an authenticated call; on 401 refreshes once and retries.
    pub async fn call<F, Fut>(self, f: F) -> Result<Value, ApiError>
    where
        F: Fn(Backend, String) -> Fut,
        Fut: Future<Output = Result<Value, ApiError>>,
    {
        let token = self
            .session
            .with_untracked(|s| s.as_ref().map(|s| s.access_token.clone()))
            .ok_or_else(|| ApiError::Unauthorized("signed out".into()))?;
        match f(self.backend(), token).await {
            Err(ApiError::Unauthorized(_)) => {
                self.refresh().await?;
                let token = self
                    .session
                    .with_untracked(|s| s.as_ref().map(|s| s.access_token.clone()))
                    .ok_or_else(|| ApiError::Unauthorized("signed out".into()))?;
                f(self.backend(), token).await
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::User;

    fn session(user: &str, expires_at: i64) -> Session {
        Session {
            access_token: format!("a-{user}-{expires_at}"),
            refresh_token: format!("r-{user}-{expires_at}"),
            expires_in: 3600,
            expires_at,
            user: User {
                id: user.into(),
                email: String::new(),
                app_metadata: Default::default(),
                user_metadata: Default::default(),
            },
        }
    }

    #[test]
    fn tabs_take_up_newer_sessions_sign_ins_and_sign_outs_of_other_tabs() {
        let (mine, newer) = (session("ana", 100), session("ana", 200));
        assert!(
            adopt_stored(Some(&mine), Some(&newer)),
            "another tab refreshed"
        );
        assert!(
            !adopt_stored(Some(&newer), Some(&mine)),
            "an older one is ignored"
        );
        assert!(
            !adopt_stored(Some(&mine), Some(&session("ana", 100))),
            "same second: both valid, no trading back and forth"
        );
        assert!(adopt_stored(Some(&mine), None), "signed out elsewhere");
        assert!(!adopt_stored(None, None));
        assert!(adopt_stored(None, Some(&mine)), "signed in elsewhere");
        assert!(
            adopt_stored(Some(&newer), Some(&session("ben", 50))),
            "another user"
        );
    }

    #[test]
    fn only_another_user_replaces_the_signed_in_one() {
        assert!(replaced_user(Some("ana"), Some("lee")));
        assert!(!replaced_user(Some("ana"), Some("ana")), "a refresh");
        assert!(!replaced_user(None, Some("ana")), "a sign-in");
        assert!(!replaced_user(Some("ana"), None), "a sign-out");
        assert!(!replaced_user(None, None));
    }

    #[test]
    fn refreshes_ahead_of_expiry_spread_over_a_third_of_the_margin() {
        // (expires_at, expires_in, now, jitter) → ms until the refresh. The margin is a
        // quarter of the token's life, capped at a minute, at least 5 s; tabs spread their
        // refreshes over its last third by jitter (clamped to [0, 1)).
        let cases = [
            (
                (1_000 + 3600, 3600, 1_000, 0.0),
                3_540_000,
                "a minute ahead",
            ),
            ((1_000 + 70, 70, 1_000, 0.0), 53_000, "a quarter life ahead"),
            ((1_000 + 8, 8, 1_000, 0.0), 3_000, "at least 5 s margin"),
            ((900, 3600, 1_000, 0.0), 0, "already due"),
            (
                (1_000 + 3600, 3600, 1_000, 0.5),
                3_530_000,
                "half-way jitter",
            ),
            ((1_000 + 3600, 3600, 1_000, 0.999), 3_520_020, "the far end"),
            ((1_000 + 3600, 3600, 1_000, 7.0), 3_520_000, "clamped"),
        ];
        for ((expires_at, expires_in, now, jitter), want, why) in cases {
            assert_eq!(
                refresh_in_ms(expires_at, expires_in, now, jitter),
                want,
                "{why}"
            );
        }
    }
}
