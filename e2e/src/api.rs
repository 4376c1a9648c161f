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
        let body = json!({"medic_id": medic_id, "subject": subject});
        let stored = self.post_conversations(&body, true).await?;
        Ok(stored[0].clone())
    }

    /// Starts conversations (a JSON array of `{id, medic_id, subject}` rows, as a medic: with
    /// themselves) in one request, answering nothing back: seeding a big org quickly.
    pub async fn start_conversations(&self, rows: &Value) -> Result<(), Error> {
        self.post_conversations(rows, false).await.map(|_| ())
    }

    /// `POST /rest/v1/conversations` with `body` (a row or an array of rows); the answer's
    /// body, which holds the stored rows when `representation` (`Prefer:
    /// return=representation`), else nothing.
    async fn post_conversations(&self, body: &Value, representation: bool) -> Result<Value, Error> {
        let mut request = self.client.request(
            switchboard_api_client::reqwest::Method::POST,
            "/rest/v1/conversations",
            Some(&self.token),
        );
        if representation {
            request = request.header("Prefer", "return=representation");
        }
        let reply = switchboard_api_client::send(request.json(body)).await?;
        if reply.status != StatusCode::CREATED {
            return Err(Error::Api(format!(
                "start conversation: {} {}",
                reply.status, reply.body
            )));
        }
        Ok(reply.body)
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

/// What [`busy_org`] made of Northside.
pub struct BusyOrg {
    /// Every Northside medic, signed in ([`northside_medics`]).
    pub medics: std::sync::Arc<Vec<Api>>,
    /// Ana's whole list at the end of seeding (`conversations_with_unread` rows, the
    /// server's order: newest first), each with the index in `medics` of its medic.
    pub conversations: Vec<(usize, Value)>,
    /// Conversations seeded with unread messages for Ana (one routine message each).
    pub unread: usize,
    /// Conversations seeded with an unacknowledged urgent message.
    pub urgent: usize,
}

/// Grows Northside to `total` conversations through the REST API, as months of work
/// would (issue 17, "Figures"): the medics start the missing ones (subjects
/// "Medic N · Inc 27-NNNN") and post `per_conversation` messages into each, in bulk and
/// concurrently (one task per medic; 200 conversations or 400 messages a request, below
/// the 64 KiB body cap); Ana reads them all (`mark_conversation_read`, 16 at a time); then
/// every 50th new conversation gets one more routine message (unread) and every 400th an
/// urgent one (unacknowledged). The demo's own conversations keep their seeded state.
pub async fn busy_org(base: &str, total: usize, per_conversation: usize) -> Result<BusyOrg, Error> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let ana = Arc::new(Api::login(base, "ana@northside.test").await?);
    let medics = Arc::new(northside_medics(base).await?);
    let existing = ana.conversations().await?.len();
    let new: Vec<(usize, String)> = (0..total.saturating_sub(existing))
        .map(|i| (i % medics.len(), uuid::Uuid::new_v4().to_string()))
        .collect();
    let new = Arc::new(new);

    // Each medic starts their conversations, then posts into them.
    let mut tasks = Vec::new();
    for m in 0..medics.len() {
        let (medics, new) = (medics.clone(), new.clone());
        tasks.push(tokio::spawn(async move {
            let medic = &medics[m];
            let medic_id = medic.user["id"].as_str().unwrap_or_default().to_string();
            let mine: Vec<(usize, &String)> = new
                .iter()
                .enumerate()
                .filter(|(_, (owner, _))| *owner == m)
                .map(|(i, (_, id))| (i, id))
                .collect();
            for chunk in mine.chunks(200) {
                let rows: Vec<Value> = chunk
                    .iter()
                    .map(|(i, id)| {
                        json!({"id": id, "medic_id": medic_id,
                               "subject": format!("Medic {} · Inc 27-{i:04}", m + 1)})
                    })
                    .collect();
                medic.start_conversations(&Value::Array(rows)).await?;
            }
            let messages: Vec<Value> = mine
                .iter()
                .flat_map(|(_, id)| {
                    (0..per_conversation).map(move |k| {
                        json!({"conversation_id": id, "body": format!("Status update {k}")})
                    })
                })
                .collect();
            for chunk in messages.chunks(400) {
                medic.insert_many(&Value::Array(chunk.to_vec())).await?;
            }
            Ok::<(), Error>(())
        }));
    }
    for task in tasks {
        task.await
            .map_err(|e| Error::Setup(format!("seeding task: {e}")))??;
    }

    // Ana reads everything new.
    let next = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..16 {
        let (ana, new, next) = (ana.clone(), new.clone(), next.clone());
        readers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((_, id)) = new.get(i) else {
                    return Ok::<(), Error>(());
                };
                ana.rpc("mark_conversation_read", json!({"conversation_id": id}))
                    .await?;
            }
        }));
    }
    for task in readers {
        task.await
            .map_err(|e| Error::Setup(format!("read marking task: {e}")))??;
    }

    // A working set: a few unread, fewer with an urgent message waiting.
    let (mut unread, mut urgent) = (0, 0);
    for (i, (m, id)) in new.iter().enumerate() {
        if i % 400 == 7 {
            medics[*m]
                .post_urgent(id, "Patient deteriorating, need orders")
                .await?;
            urgent += 1;
        } else if i % 50 == 3 {
            medics[*m].post(id, "Arrived at hospital").await?;
            unread += 1;
        }
    }

    let conversations = ana
        .conversations()
        .await?
        .into_iter()
        .filter_map(|c| {
            let m = medics.iter().position(|m| m.user["id"] == c["medic_id"])?;
            Some((m, c))
        })
        .collect();
    Ok(BusyOrg {
        medics,
        conversations,
        unread,
        urgent,
    })
}
