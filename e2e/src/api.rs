//! The medics' side: REST calls made outside the browser, through the shared client.

use serde_json::{json, Value};
use switchboard_api_client::reqwest::StatusCode;
use switchboard_api_client::{Client, Returning, DEMO_PASSWORD};

use crate::Error;

/// A demo account signed in over REST.
pub struct Api {
    client: Client,
    token: String,
    /// The GoTrue user object.
    pub user: Value,
}

impl Api {
    /// Signs in with a demo login.
    pub async fn login(base: &str, email: &str) -> Result<Api, Error> {
        let client = Client::connect(base).await?;
        let session = client.sign_in(email, DEMO_PASSWORD).await?;
        Ok(Api {
            user: session.user().clone(),
            token: session.access_token,
            client,
        })
    }

    /// Calls an RPC and returns its body, whatever the status.
    pub async fn rpc(&self, name: &str, args: Value) -> Result<Value, Error> {
        Ok(self.client.rpc(name, &args, &self.token).await?.body)
    }

    /// A PostgREST read of `path` (from `/rest/v1/`, with its query string): the body.
    pub async fn get(&self, path: &str) -> Result<Value, Error> {
        Ok(self.client.get(path, &self.token).await?.body)
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

    /// The caller's unread total, the number the badge shows.
    pub async fn unread_total(&self) -> Result<i64, Error> {
        let total = self.rpc("unread_total", json!({})).await?;
        total
            .as_i64()
            .ok_or_else(|| Error::Api(format!("unread_total: {total}")))
    }

    /// Posts a message and returns the stored row.
    pub async fn post(&self, conversation_id: &str, body: &str) -> Result<Value, Error> {
        self.post_row(json!({"conversation_id": conversation_id, "body": body}))
            .await
    }

    /// Posts an urgent message and returns the stored row.
    pub async fn post_urgent(&self, conversation_id: &str, body: &str) -> Result<Value, Error> {
        self.post_row(
            json!({"conversation_id": conversation_id, "body": body, "priority": "urgent"}),
        )
        .await
    }

    /// The acknowledgement of a message as the caller may read it (`None`: none visible).
    pub async fn ack_of(&self, message_id: &str) -> Result<Option<Value>, Error> {
        let path = format!(
            "/rest/v1/message_acks?select=message_id,user_id,acked_at&message_id=eq.{message_id}"
        );
        let reply = self.client.get(&path, &self.token).await?;
        if reply.status != StatusCode::OK {
            return Err(Error::Api(format!("message_acks: {}", reply.status)));
        }
        Ok(reply.body.as_array().and_then(|rows| rows.first()).cloned())
    }

    /// The caller's count of urgent messages waiting for their side's acknowledgement.
    pub async fn unacked_urgent_total(&self) -> Result<i64, Error> {
        let total = self.rpc("unacked_urgent_total", json!({})).await?;
        total
            .as_i64()
            .ok_or_else(|| Error::Api(format!("unacked_urgent_total: {total}")))
    }

    /// The caller's visible messages of a conversation whose body is `body` (URL-safe text).
    pub async fn messages_with_body(
        &self,
        conversation_id: &str,
        body: &str,
    ) -> Result<Vec<Value>, Error> {
        let path = format!(
            "/rest/v1/messages?select=id,body&conversation_id=eq.{conversation_id}&body=eq.{body}"
        );
        let reply = self.client.get(&path, &self.token).await?;
        if reply.status != StatusCode::OK {
            return Err(Error::Api(format!("messages: {}", reply.status)));
        }
        Ok(reply.body.as_array().cloned().unwrap_or_default())
    }

    /// Starts a conversation about `subject` (as a medic: with themselves); the stored row.
    pub async fn start_conversation(&self, medic_id: &str, subject: &str) -> Result<Value, Error> {
        let request = self
            .client
            .request(
                switchboard_api_client::reqwest::Method::POST,
                "/rest/v1/conversations",
                Some(&self.token),
            )
            .header("Prefer", "return=representation")
            .json(&json!({"medic_id": medic_id, "subject": subject}));
        let reply = switchboard_api_client::send(request).await?;
        if reply.status != StatusCode::CREATED {
            return Err(Error::Api(format!(
                "start conversation: {} {}",
                reply.status, reply.body
            )));
        }
        Ok(reply.body[0].clone())
    }

    /// Inserts several messages (a JSON array of rows) in one request, answering nothing
    /// back: seeding a long thread quickly.
    pub async fn insert_many(&self, rows: &Value) -> Result<(), Error> {
        let reply = self
            .client
            .insert_messages(rows, Returning::Minimal, &self.token)
            .await?;
        if reply.status != StatusCode::CREATED {
            return Err(Error::Api(format!(
                "insert: {} {}",
                reply.status, reply.body
            )));
        }
        Ok(())
    }

    async fn post_row(&self, row: Value) -> Result<Value, Error> {
        let reply = self
            .client
            .insert_messages(&row, Returning::Representation, &self.token)
            .await?;
        if reply.status != StatusCode::CREATED {
            return Err(Error::Api(format!("post: {}", reply.status)));
        }
        Ok(reply.body[0].clone())
    }
}

/// A new conversation of `n` messages ("Log entry 00000" oldest first) between Ana's
/// first conversation's medic and the org, posted by that medic in bulk (500 rows a
/// request: request bodies are capped at 64 KiB). Returns the conversation's id and the
/// ids of its oldest and newest messages.
pub async fn long_thread(
    base: &str,
    ana: &Api,
    n: usize,
) -> Result<(String, String, String), Error> {
    const BATCH: usize = 500;
    let convs = ana.conversations().await?;
    let first = convs
        .first()
        .ok_or_else(|| Error::Api("no conversation".into()))?;
    let medic = medic_for(base, first).await?;
    let medic_id = medic.user["id"].as_str().unwrap_or_default().to_string();
    let started = medic
        .start_conversation(&medic_id, "Long transfer log")
        .await?;
    let conversation = started["id"].as_str().unwrap_or_default().to_string();
    for from in (0..n).step_by(BATCH) {
        let rows: Vec<Value> = (from..(from + BATCH).min(n))
            .map(|i| json!({"conversation_id": conversation, "body": format!("Log entry {i:05}")}))
            .collect();
        medic.insert_many(&Value::Array(rows)).await?;
    }
    let end = |order: &str| {
        format!("/rest/v1/messages?select=id&conversation_id=eq.{conversation}&order=created_at.{order}&limit=1")
    };
    let id = |v: Value| v[0]["id"].as_str().unwrap_or_default().to_string();
    let oldest = id(ana.get(&end("asc")).await?);
    let newest = id(ana.get(&end("desc")).await?);
    Ok((conversation, oldest, newest))
}

/// The Northside medics' logins, in seed order.
fn northside_medic_emails() -> impl Iterator<Item = String> {
    (1..=12).map(|n| format!("medic{n:02}@northside.test"))
}

/// Every Northside medic, signed in.
pub async fn northside_medics(base: &str) -> Result<Vec<Api>, Error> {
    let mut medics = Vec::new();
    for email in northside_medic_emails() {
        medics.push(Api::login(base, &email).await?);
    }
    Ok(medics)
}

/// The Lakeside medics' logins, in seed order.
fn lakeside_medic_emails() -> impl Iterator<Item = String> {
    (1..=3).map(|n| format!("medic{n:02}@lakeside.test"))
}

/// The medic of a conversation (a row of a dispatcher's list, either demo org), signed in
/// to post into it.
pub async fn medic_for(base: &str, conversation: &Value) -> Result<Api, Error> {
    for email in northside_medic_emails().chain(lakeside_medic_emails()) {
        let medic = Api::login(base, &email).await?;
        if medic.user["id"] == conversation["medic_id"] {
            return Ok(medic);
        }
    }
    Err(Error::Api(format!("no medic for {conversation}")))
}
