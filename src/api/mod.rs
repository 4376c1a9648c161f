//! Typed GoTrue and PostgREST calls over gloo-net, with one error type.

pub mod error;
pub mod models;

use gloo_net::http::{Request, RequestBuilder};
use serde_json::{json, Value};

use crate::config::AppConfig;
pub use error::ApiError;
pub use models::{
    Ack, ConversationSummary, Message, Priority, SearchHit, Session, SnippetSegment, User,
};

/// How many of a thread's newest messages are loaded at first, and per "load older".
pub const THREAD_PAGE: usize = 50;

/// The columns of a thread message, with its sender and (for an urgent one) its
/// acknowledgement embedded. `message_acks.message_id` is both a foreign key and the primary
/// key, so PostgREST embeds `ack` as one object or null (a one-to-one relationship).
pub const MESSAGE_SELECT: &str = "id,conversation_id,sender_id,body,priority,created_at,\
     sender:users(display_name,role),ack:message_acks(user_id,acked_at,user:users(display_name))";

/// The canned replies of the caller's org, in their order.
pub const CANNED_REPLIES_PATH: &str =
    "/rest/v1/canned_replies?select=label,body,position&order=position.asc";

/// Most messages one thread fetch returns, however long the window has grown.
pub const THREAD_WINDOW_CAP: usize = 2_000;

/// Which of a thread's messages to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadWindow {
    /// The newest `n`: a thread just opened, or after "load older".
    Newest(usize),
    /// Everything from this `created_at` on: once loaded, the window's oldest row stays put
    /// and new messages extend it, so nothing above the reader slides away.
    Since(String),
    /// One history page: the [`THREAD_PAGE`] messages strictly older than this `created_at`,
    /// newest first (`thread::pages`; `created_at` is unique within a conversation, so the
    /// cursor is exact).
    Before(String),
    /// One page toward the newest rows of a thread opened at a search result: the
    /// [`THREAD_PAGE`] messages strictly newer than this `created_at`, oldest first.
    After(String),
}

/// PostgREST path of a thread's window of messages, newest first.
pub fn messages_path(conversation_id: &str, window: &ThreadWindow) -> String {
    let conv = encode_component(conversation_id);
    let base = format!("/rest/v1/messages?select={MESSAGE_SELECT}&conversation_id=eq.{conv}");
    match window {
        ThreadWindow::Newest(n) => format!("{base}&order=created_at.desc&limit={n}"),
        ThreadWindow::Since(at) => format!(
            "{base}&created_at=gte.{}&order=created_at.desc&limit={THREAD_WINDOW_CAP}",
            encode_component(at)
        ),
        ThreadWindow::Before(at) => format!(
            "{base}&created_at=lt.{}&order=created_at.desc&limit={THREAD_PAGE}",
            encode_component(at)
        ),
        ThreadWindow::After(at) => format!(
            "{base}&created_at=gt.{}&order=created_at.asc&limit={THREAD_PAGE}",
            encode_component(at)
        ),
    }
}

/// Percent-encodes a query value (notably `+` in timestamps, which would become a space).
pub fn encode_component(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A handle on one backend: base URL plus anon key. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    base: String,
    anon_key: String,
}

impl Backend {
    /// A backend from runtime config, resolved against the page origin.
    pub fn new(config: &AppConfig, origin: &str) -> Backend {
        Backend {
            base: config.base_url(origin),
            anon_key: config.anon_key.clone(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn with_keys(&self, builder: RequestBuilder, token: Option<&str>) -> RequestBuilder {
        let builder = builder.header("apikey", &self.anon_key);
        match token {
            Some(t) => builder.header("Authorization", &format!("Bearer {t}")),
            None => builder,
        }
    }

    async fn send(&self, builder: RequestBuilder, body: Option<&Value>) -> Result<Value, ApiError> {
        let request = match body {
            Some(b) => builder
                .json(b)
                .map_err(|e| ApiError::Decode(e.to_string()))?,
            None => builder
                .build()
                .map_err(|e| ApiError::Decode(e.to_string()))?,
        };
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::Network(e.to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| ApiError::Network(e.to_string()))?;
        if !(200..300).contains(&status) {
            return Err(error::from_response(status, &text));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| ApiError::Decode(e.to_string()))
    }

    fn session_from(value: Value) -> Result<Session, ApiError> {
        serde_json::from_value(value).map_err(|e| ApiError::Decode(e.to_string()))
    }

    /// GoTrue password grant.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<Session, ApiError> {
        let b = self.with_keys(
            Request::post(&self.url("/auth/v1/token?grant_type=password")),
            None,
        );
        let v = self
            .send(b, Some(&json!({"email": email, "password": password})))
            .await;
        // A 401 here is a bad apikey, not a session problem; report it as such.
        Self::session_from(v.map_err(|e| match e {
            ApiError::Unauthorized(m) => ApiError::Http {
                status: 401,
                code: String::new(),
                message: m,
            },
            other => other,
        })?)
    }

    /// GoTrue refresh grant (the old refresh token is spent).
    pub async fn refresh(&self, refresh_token: &str) -> Result<Session, ApiError> {
        let b = self.with_keys(
            Request::post(&self.url("/auth/v1/token?grant_type=refresh_token")),
            None,
        );
        Self::session_from(
            self.send(b, Some(&json!({"refresh_token": refresh_token})))
                .await?,
        )
    }

    /// Ends the session on the server.
    pub async fn sign_out(&self, token: &str) -> Result<(), ApiError> {
        let b = self.with_keys(Request::post(&self.url("/auth/v1/logout")), Some(token));
        self.send(b, None).await.map(|_| ())
    }

    /// Calls a PostgREST RPC.
    pub async fn rpc(&self, token: &str, name: &str, body: Value) -> Result<Value, ApiError> {
        let b = self.with_keys(
            Request::post(&self.url(&format!("/rest/v1/rpc/{name}"))),
            Some(token),
        );
        self.send(b, Some(&body)).await
    }

    /// A window of a thread's messages, newest first.
    pub async fn messages(
        &self,
        token: &str,
        conversation_id: &str,
        window: &ThreadWindow,
    ) -> Result<Value, ApiError> {
        let b = self.with_keys(
            Request::get(&self.url(&messages_path(conversation_id, window))),
            Some(token),
        );
        self.send(b, None).await
    }

    /// The caller's org's canned replies (`[{label, body, position}]`, empty for medics).
    pub async fn canned_replies(&self, token: &str) -> Result<Value, ApiError> {
        let b = self.with_keys(Request::get(&self.url(CANNED_REPLIES_PATH)), Some(token));
        self.send(b, None).await
    }

    /// A PostgREST read of `path` (from `/rest/v1/`, with its query string), as JSON.
    pub async fn get(&self, token: &str, path: &str) -> Result<Value, ApiError> {
        let b = self.with_keys(Request::get(&self.url(path)), Some(token));
        self.send(b, None).await
    }

    /// Starts a conversation with `medic_id` about `subject` under a client-chosen `id` (so a
    /// retry cannot start two); the server takes the org from the token and the time from
    /// its clock. Answers the stored row.
    pub async fn start_conversation(
        &self,
        token: &str,
        id: &str,
        medic_id: &str,
        subject: &str,
    ) -> Result<Value, ApiError> {
        let b = self
            .with_keys(
                Request::post(&self.url("/rest/v1/conversations")),
                Some(token),
            )
            .header("Prefer", "return=representation");
        self.send(
            b,
            Some(&json!({"id": id, "medic_id": medic_id, "subject": subject})),
        )
        .await
    }

    /// Sends a message with a client-chosen id, so a retry can never duplicate it.
    pub async fn send_message(
        &self,
        token: &str,
        id: &str,
        conversation_id: &str,
        body: &str,
        priority: Priority,
    ) -> Result<Value, ApiError> {
        let b = self
            .with_keys(
                Request::post(&self.url(&format!("/rest/v1/messages?select={MESSAGE_SELECT}"))),
                Some(token),
            )
            .header("Prefer", "return=representation");
        self.send(
            b,
            Some(&json!({
                "id": id,
                "conversation_id": conversation_id,
                "body": body,
                "priority": priority.as_str(),
            })),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_thread_paths() {
        assert_eq!(
            messages_path("abc", &ThreadWindow::Newest(50)),
            format!("/rest/v1/messages?select={MESSAGE_SELECT}&conversation_id=eq.abc&order=created_at.desc&limit=50")
        );
        assert_eq!(
            messages_path("abc", &ThreadWindow::Since("2026-01-01T00:00:00.5+00:00".into())),
            format!("/rest/v1/messages?select={MESSAGE_SELECT}&conversation_id=eq.abc&created_at=gte.2026-01-01T00:00:00.5%2B00:00&order=created_at.desc&limit=2000")
        );
        assert_eq!(
            messages_path("abc", &ThreadWindow::Before("2026-01-01T00:00:00+00:00".into())),
            format!("/rest/v1/messages?select={MESSAGE_SELECT}&conversation_id=eq.abc&created_at=lt.2026-01-01T00:00:00%2B00:00&order=created_at.desc&limit=50")
        );
        assert_eq!(
            messages_path("abc", &ThreadWindow::After("2026-01-01T00:00:00+00:00".into())),
            format!("/rest/v1/messages?select={MESSAGE_SELECT}&conversation_id=eq.abc&created_at=gt.2026-01-01T00:00:00%2B00:00&order=created_at.asc&limit=50")
        );
        assert_eq!(
            encode_component("2026-01-01T00:00:00+00:00"),
            "2026-01-01T00:00:00%2B00:00"
        );
        assert_eq!(encode_component("a b&c"), "a%20b%26c");
    }
}
