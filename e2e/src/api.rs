//! The medics' side: REST calls made outside the browser.

use serde_json::{json, Value};

use crate::Error;

/// A signed-in REST client.
pub struct Api {
    http: reqwest::Client,
    base: String,
    anon: String,
    /// The access token.
    pub token: String,
    /// The GoTrue user object.
    pub user: Value,
}

impl Api {
    /// Signs in with a demo login.
    pub async fn login(base: &str, email: &str) -> Result<Api, Error> {
        let http = reqwest::Client::new();
        let config: Value = http
            .get(format!("{base}/config.json"))
            .send()
            .await
            .map_err(|e| Error::Api(e.to_string()))?
            .json()
            .await
            .map_err(|e| Error::Api(e.to_string()))?;
        let anon = config["anon_key"].as_str().unwrap_or_default().to_string();
        let session: Value = http
            .post(format!("{base}/auth/v1/token?grant_type=password"))
            .header("apikey", &anon)
            .json(&json!({"email": email, "password": "switchboard-demo"}))
            .send()
            .await
            .map_err(|e| Error::Api(e.to_string()))?
            .json()
            .await
            .map_err(|e| Error::Api(e.to_string()))?;
        let token = session["access_token"]
            .as_str()
            .ok_or_else(|| Error::Api(format!("login {email}: {session}")))?
            .to_string();
        Ok(Api {
            http,
            base: base.to_string(),
            anon,
            token,
            user: session["user"].clone(),
        })
    }

    /// Points the client at another base URL (e.g. the server behind a cut proxy).
    pub fn with_base(mut self, base: &str) -> Api {
        self.base = base.to_string();
        self
    }

    /// Calls an RPC.
    pub async fn rpc(&self, name: &str, body: Value) -> Result<Value, Error> {
        let resp = self
            .http
            .post(format!("{}/rest/v1/rpc/{name}", self.base))
            .header("apikey", &self.anon)
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| Error::Api(e.to_string()))?;
        let text = resp.text().await.map_err(|e| Error::Api(e.to_string()))?;
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        })
    }

    /// The caller's conversations with unread counts.
    pub async fn conversations(&self) -> Result<Vec<Value>, Error> {
        Ok(self
            .rpc("conversations_with_unread", json!({}))
            .await?
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Posts a message and returns the stored row.
    pub async fn post(&self, conversation_id: &str, body: &str) -> Result<Value, Error> {
        let resp = self
            .http
            .post(format!("{}/rest/v1/messages", self.base))
            .header("apikey", &self.anon)
            .header("Prefer", "return=representation")
            .bearer_auth(&self.token)
            .json(&json!({"conversation_id": conversation_id, "body": body}))
            .send()
            .await
            .map_err(|e| Error::Api(e.to_string()))?;
        if resp.status().as_u16() != 201 {
            return Err(Error::Api(format!("post: {}", resp.status())));
        }
        let rows: Value = resp.json().await.map_err(|e| Error::Api(e.to_string()))?;
        Ok(rows[0].clone())
    }
}
