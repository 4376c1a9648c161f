//! Shared harness: a real server on a free port over a temp SQLite file, and the shared REST
//! client pointed at it (every helper answers with status and body, for the tests to assert on).
#![allow(dead_code)]

pub mod ws;

use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_api_client::{self as api, Client, Reply, Returning, DEMO_PASSWORD};
use switchboard_server::config::{Config, Seed};
use switchboard_server::Running;

/// Signing secret the tests know, so they can mint tokens (e.g. expired ones).
pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";

pub struct Server {
    pub running: Option<Running>,
    pub base: String,
    pub anon: String,
    pub dir: tempfile::TempDir,
    pub api: Client,
}

pub fn config(db: PathBuf) -> Config {
    let mut c = Config::new(db);
    c.addr = "127.0.0.1:0".parse().unwrap();
    c.seed = Seed::Demo;
    c.jwt_secret = Some(SECRET.to_string());
    c
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path().join("test.db"));
        tweak(&mut c);
        let running = switchboard_server::start(c).await.unwrap();
        let base = format!("http://{}", running.addr);
        let anon = running.state.keys().anon_key().to_string();
        Server {
            api: Client::new(&base, &anon),
            running: Some(running),
            base,
            anon,
            dir,
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("test.db")
    }

    pub fn state(&self) -> &switchboard_server::AppState {
        &self.running.as_ref().unwrap().state
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }

    /// Sends a request with the anon key and optional bearer token; returns status and JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = self.api.request(method, path, token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        parts(api::send(req).await)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        parts(self.api.get(path, token).await)
    }

    pub async fn rpc(&self, name: &str, token: &str, body: Value) -> (StatusCode, Value) {
        parts(self.api.rpc(name, &body, token).await)
    }

    pub async fn post_message(&self, token: &str, body: Value) -> (StatusCode, Value) {
        parts(
            self.api
                .insert_messages(&body, Returning::Representation, token)
                .await,
        )
    }

    pub async fn session(&self, email: &str) -> Value {
        match self.api.sign_in(email, DEMO_PASSWORD).await {
            Ok(session) => session.body,
            Err(e) => panic!("login {email}: {e}"),
        }
    }

    pub async fn login(&self, email: &str) -> String {
        self.session(email).await["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn parts(reply: Result<Reply, api::Error>) -> (StatusCode, Value) {
    let reply = reply.unwrap();
    (reply.status, reply.body)
}

/// Asserts an error answer: its status and its PostgREST or GoTrue `code`.
#[track_caller]
pub fn assert_error(reply: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!((reply.0, reply.1["code"].as_str()), (status, Some(code)));
}

pub fn ids(rows: &Value) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// A signed-in user: access token and id.
pub struct User {
    pub token: String,
    pub id: String,
}

impl Server {
    /// Signs `email` in with the demo password.
    pub async fn user(&self, email: &str) -> User {
        let session = self.session(email).await;
        User {
            token: session["access_token"].as_str().unwrap().to_string(),
            id: session["user"]["id"].as_str().unwrap().to_string(),
        }
    }

    /// The first conversation in `token`'s list: its id and org.
    pub async fn first_conversation(&self, token: &str) -> (String, String) {
        let (status, rows) = self
            .rpc("conversations_with_unread", token, json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{rows}");
        (
            rows[0]["id"].as_str().unwrap().to_string(),
            rows[0]["org_id"].as_str().unwrap().to_string(),
        )
    }
}
