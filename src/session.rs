//! The signed-in session: persisted across reloads, refreshed ahead of expiry.

use std::future::Future;
use std::time::Duration;

use leptos::prelude::*;
use serde_json::Value;

use crate::api::{ApiError, Backend, Session};

const STORAGE_KEY: &str = "switchboard.session";

/// Seconds until the token should be refreshed: a quarter of its life (at most a minute)
/// before it expires, so a sleeping tab or a slow network still makes it in time.
pub fn refresh_in_secs(expires_at: i64, expires_in: i64, now: i64) -> i64 {
    let margin = (expires_in / 4).clamp(5, 60);
    (expires_at - margin - now).max(0)
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
        let stored = storage()
            .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten())
            .and_then(|text| serde_json::from_str::<Session>(&text).ok());
        let service = SessionService {
            session: RwSignal::new(stored),
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
                let wait = refresh_in_secs(session.expires_at, session.expires_in, now_secs());
                let handle = set_timeout_with_handle(
                    move || {
                        leptos::task::spawn_local(async move {
                            let _ = service.refresh().await;
                        })
                    },
                    Duration::from_secs(wait as u64),
                );
                if let Ok(h) = handle {
                    service.timer.set_value(Some(h));
                }
            }
        });
        service
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

    #[test]
    fn refreshes_a_quarter_life_before_expiry_capped_at_a_minute() {
        assert_eq!(refresh_in_secs(1_000 + 3600, 3600, 1_000), 3540);
        assert_eq!(refresh_in_secs(1_000 + 70, 70, 1_000), 53);
        assert_eq!(
            refresh_in_secs(1_000 + 8, 8, 1_000),
            3,
            "at least 5 s margin"
        );
        assert_eq!(refresh_in_secs(900, 3600, 1_000), 0, "already due");
    }
}
