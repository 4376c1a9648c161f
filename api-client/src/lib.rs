//! A small client for a Switchboard server's Supabase wire protocols (GoTrue `/auth/v1`,
//! PostgREST `/rest/v1`), sending the anon key and bearer token the way the web app does.
//!
//! One client serves the medic simulator, the server's tests, the fan-out benchmark and the
//! end-to-end harness, so a change to how the app talks to the server is made once. REST
//! calls answer with the status and body as they came, because tests assert on error
//! answers; only an unreachable server, a refused sign-in or a `/config.json` without a key
//! is an [`Error`].

#![warn(missing_docs)]

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

/// Callers build raw requests and compare statuses with the very types this client uses.
pub use reqwest;

/// The password of every demo-seeded account: the server's seed stores it, tools sign in
/// with it.
pub const DEMO_PASSWORD: &str = "switchboard-demo";

/// What can go wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server could not be reached, or its answer could not be read.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// `/config.json` answered without an anon key.
    #[error("no anon_key in {base}/config.json: {body}")]
    NoAnonKey {
        /// The server's base URL.
        base: String,
        /// What `/config.json` said instead.
        body: Value,
    },
    /// The password sign-in gave no session.
    #[error("sign-in as {email} failed ({status}): {body}")]
    SignIn {
        /// Who tried to sign in.
        email: String,
        /// GoTrue's status.
        status: StatusCode,
        /// GoTrue's error body.
        body: Value,
    },
}

/// A server's answer, whatever its status.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body as JSON; `null` when empty, a JSON string when it is not JSON.
    pub body: Value,
}

/// Sends a request built by [`Client::request`] (or by hand) and reads the whole answer.
pub async fn send(request: RequestBuilder) -> Result<Reply, Error> {
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Ok(Reply { status, body })
}

/// What a PostgREST insert answers with (its `Prefer: return=` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returning {
    /// An empty 201: the server does no more work than storing the rows.
    Minimal,
    /// The stored rows, with the fields the server set (id, sender, timestamps).
    Representation,
}

/// A GoTrue session from a password sign-in.
#[derive(Debug, Clone)]
pub struct Session {
    /// The bearer token for signed-in calls.
    pub access_token: String,
    /// GoTrue's whole answer: tokens, expiry and the user object.
    pub body: Value,
}

impl Session {
    /// The signed-in user (id, email, `app_metadata` with org and role).
    pub fn user(&self) -> &Value {
        &self.body["user"]
    }
}

/// One server: its base URL and anon key. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    anon_key: String,
}

impl Client {
    /// A client for a server whose anon key the caller already knows.
    pub fn new(base: &str, anon_key: &str) -> Client {
        Client::with_http(reqwest::Client::new(), base, anon_key)
    }

    /// [`Client::new`] over the caller's HTTP client, e.g. one that trusts a test's own
    /// certificate for HTTPS.
    pub fn with_http(http: reqwest::Client, base: &str, anon_key: &str) -> Client {
        Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            anon_key: anon_key.to_string(),
        }
    }

    /// A client for a server, with the anon key its `/config.json` hands to the web app.
    pub async fn connect(base: &str) -> Result<Client, Error> {
        Client::connect_with(reqwest::Client::new(), base).await
    }

    /// [`Client::connect`] over the caller's HTTP client (see [`Client::with_http`]).
    pub async fn connect_with(http: reqwest::Client, base: &str) -> Result<Client, Error> {
        let mut client = Client::with_http(http, base, "");
        let config: Value = client
            .http
            .get(format!("{}/config.json", client.base))
            .send()
            .await?
            .json()
            .await?;
        match config.get("anon_key").and_then(Value::as_str) {
            Some(key) => {
                client.anon_key = key.to_string();
                Ok(client)
            }
            None => Err(Error::NoAnonKey {
                base: client.base,
                body: config,
            }),
        }
    }

    /// The server's base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The anon key sent as `apikey` (the realtime socket wants it in its URL too).
    pub fn anon_key(&self) -> &str {
        &self.anon_key
    }

    /// A request to `path` (e.g. `/rest/v1/messages?select=id`) with the `apikey` header and,
    /// when given, the bearer token; add headers or a body and [`send`] it.
    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("apikey", &self.anon_key);
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Signs in with email and password (GoTrue's password grant).
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<Session, Error> {
        let reply = send(
            self.request(Method::POST, "/auth/v1/token?grant_type=password", None)
                .json(&json!({"email": email, "password": password})),
        )
        .await?;
        let token = reply.body.get("access_token").and_then(Value::as_str);
        match token {
            Some(token) if reply.status.is_success() => Ok(Session {
                access_token: token.to_string(),
                body: reply.body,
            }),
            _ => Err(Error::SignIn {
                email: email.to_string(),
                status: reply.status,
                body: reply.body,
            }),
        }
    }

    /// Reads a table path, e.g. `/rest/v1/conversations?select=id`.
    pub async fn get(&self, path: &str, token: &str) -> Result<Reply, Error> {
        send(self.request(Method::GET, path, Some(token))).await
    }

    /// Calls the RPC `name` with a JSON argument object.
    pub async fn rpc(&self, name: &str, args: &Value, token: &str) -> Result<Reply, Error> {
        send(
            self.request(Method::POST, &format!("/rest/v1/rpc/{name}"), Some(token))
                .json(args),
        )
        .await
    }

    /// Inserts one message (an object) or several (an array of them).
    pub async fn insert_messages(
        &self,
        rows: &Value,
        returning: Returning,
        token: &str,
    ) -> Result<Reply, Error> {
        let request = self.request(Method::POST, "/rest/v1/messages", Some(token));
        let request = match returning {
            Returning::Minimal => request,
            Returning::Representation => request.header("Prefer", "return=representation"),
        };
        send(request.json(rows)).await
    }
}
