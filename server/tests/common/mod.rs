//! Shared harness: a real server on a free port over a temp SQLite file, and a REST client.
#![allow(dead_code)]

pub mod ws;

use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use switchboard_server::config::{Config, Seed};
use switchboard_server::Running;

/// Signing secret the tests know, so they can mint tokens (e.g. expired ones).
pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const PASSWORD: &str = "switchboard-demo";

pub struct Server {
    pub running: Option<Running>,
    pub base: String,
    pub anon: String,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
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
            running: Some(running),
            base,
            anon,
            dir,
            http: reqwest::Client::new(),
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
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header("apikey", &self.anon);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None, &[]).await
    }

    pub async fn rpc(&self, name: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            &format!("/rest/v1/rpc/{name}"),
            Some(token),
            Some(body),
            &[],
        )
        .await
    }

    pub async fn post_message(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/rest/v1/messages",
            Some(token),
            Some(body),
            &[("Prefer", "return=representation")],
        )
        .await
    }

    pub async fn session(&self, email: &str) -> Value {
        let (status, body) = self
            .call(
                Method::POST,
                "/auth/v1/token?grant_type=password",
                None,
                Some(serde_json::json!({"email": email, "password": PASSWORD})),
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {email}: {body}");
        body
    }

    pub async fn login(&self, email: &str) -> String {
        self.session(email).await["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

pub fn ids(rows: &Value) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}
