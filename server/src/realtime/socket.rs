//! One websocket connection: Phoenix channel handling and postgres_changes fan-out.
//!
//! A single task owns the connection state and never awaits the network: outgoing frames go
//! through a bounded queue to a writer task, so a slow client fills its own queue and is cut
//! off instead of slowing writers or other sockets.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};
use tokio::time::{sleep_until, Instant};

use super::bindings::{parse_binding, Binding};
use super::protocol::{binary_push_header, encode_change, Message, Serializer};
use crate::auth::jwt::{Principal, TokenError};
use crate::clock::format_commit_timestamp;
use crate::db::{Change, ChangeKind};
use crate::rest::tables;
use crate::AppState;

struct Channel {
    join_ref: Option<String>,
    bindings: Vec<Binding>,
    principal: Principal,
}

struct Connection {
    state: AppState,
    serializer: Serializer,
    out: mpsc::Sender<WsMessage>,
    channels: HashMap<String, Channel>,
    counted_user: Option<String>,
}

type Flow = ControlFlow<&'static str>;

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The Realtime `data` object of a change.
pub fn change_data(change: &Change) -> Value {
    let columns: Vec<Value> = tables::table(change.table)
        .map(|t| {
            t.columns
                .iter()
                .map(|(name, ty)| json!({"name": name, "type": ty.pg_name()}))
                .collect()
        })
        .unwrap_or_default();
    let mut data = json!({
        "schema": "public",
        "table": change.table,
        "commit_timestamp": format_commit_timestamp(change.commit_micros),
        "type": change.kind.as_str(),
        "columns": columns,
        "errors": null,
    });
    if change.kind != ChangeKind::Delete {
        data["record"] = change.record.clone().unwrap_or(Value::Null);
    }
    if change.kind != ChangeKind::Insert {
        data["old_record"] = change.old_record.clone().unwrap_or(Value::Null);
    }
    data
}

fn token_reason(e: TokenError) -> &'static str {
    match e {
        TokenError::Expired => "InvalidJWTToken: Token has expired",
        TokenError::BadSignature => "JwtSignatureError: Failed to validate JWT signature",
        TokenError::Malformed => "MalformedJWT: The token provided is not a valid JWT",
    }
}

impl Connection {
    fn send_text(&self, text: String) -> Flow {
        self.send_frame(WsMessage::Text(text.into()))
    }

    fn send_frame(&self, frame: WsMessage) -> Flow {
        match self.out.try_send(frame) {
            Ok(()) => ControlFlow::Continue(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                ControlFlow::Break("client is not reading fast enough")
            }
            Err(mpsc::error::TrySendError::Closed(_)) => ControlFlow::Break("connection closed"),
        }
    }

    fn send(&self, message: &Message) -> Flow {
        self.send_text(message.encode(self.serializer))
    }

    fn reply(&self, to: &Message, status: &str, response: Value) -> Flow {
        self.send(&Message::reply(to, status, response))
    }

    fn reply_error(&self, to: &Message, reason: &str) -> Flow {
        self.reply(to, "error", json!({"reason": reason}))
    }

    fn push(&self, topic: &str, join_ref: &Option<String>, event: &str, payload: Value) -> Flow {
        self.send(&Message {
            join_ref: join_ref.clone(),
            reference: None,
            topic: topic.to_string(),
            event: event.to_string(),
            payload,
        })
    }

    fn close_channel(&mut self, topic: &str) -> Flow {
        if let Some(ch) = self.channels.remove(topic) {
            self.send(&Message {
                join_ref: ch.join_ref.clone(),
                reference: ch.join_ref.clone(),
                topic: topic.to_string(),
                event: "phx_close".into(),
                payload: json!({}),
            })?;
        }
        ControlFlow::Continue(())
    }

    /// Sends a channel-level system error and closes the channel, as Realtime does.
    fn shut_channel(&mut self, topic: &str, message: &str) -> Flow {
        if let Some(ch) = self.channels.get(topic) {
            let join_ref = ch.join_ref.clone();
            self.push(
                topic,
                &join_ref,
                "system",
                json!({"extension": "system", "status": "error", "message": message, "channel": sub_topic(topic)}),
            )?;
        }
        self.close_channel(topic)
    }

    fn handle_text(&mut self, text: &str) -> Flow {
        let message = match Message::decode(self.serializer, text) {
            Ok(m) => m,
            Err(_) => return ControlFlow::Break("malformed frame"),
        };
        match (message.topic.as_str(), message.event.as_str()) {
            ("phoenix", "heartbeat") => self.reply(&message, "ok", json!({})),
            (_, "phx_join") => self.join(&message),
            (topic, _) if !self.channels.contains_key(topic) => {
                self.reply_error(&message, "unmatched topic")
            }
            (topic, "phx_leave") => {
                let topic = topic.to_string();
                self.reply(&message, "ok", json!({}))?;
                self.close_channel(&topic)
            }
            (topic, "access_token") => {
                let topic = topic.to_string();
                self.swap_token(&topic, &message)
            }
            (_, event) => {
                let reason =
                    format!("{event} is not supported by this server (postgres_changes only)");
                self.reply_error(&message, &reason)
            }
        }
    }

    fn principal_for(&self, token: &str) -> Result<Principal, &'static str> {
        self.state
            .keys()
            .verify_user(token)
            .map(|claims| Principal::from(&claims))
            .map_err(token_reason)
    }

    fn join(&mut self, m: &Message) -> Flow {
        let Some(sub) = m.topic.strip_prefix("realtime:") else {
            return self.reply_error(m, "unmatched topic");
        };
        if sub.is_empty() {
            return self.reply_error(m, "TopicNameRequired: You must provide a topic name");
        }
        let limit = self.state.config().limits.ws_channels_per_socket;
        if self.channels.len() >= limit && !self.channels.contains_key(&m.topic) {
            return self.reply_error(m, "ChannelRateLimitReached: Too many channels");
        }
        let token = m
            .payload
            .get("access_token")
            .or_else(|| m.payload.get("user_token"))
            .and_then(Value::as_str);
        let Some(token) = token else {
            return self.reply_error(m, "Unauthorized: a user access_token is required to join");
        };
        let principal = match self.principal_for(token) {
            Ok(p) => p,
            Err(reason) => return self.reply_error(m, reason),
        };
        if self.counted_user.is_none() {
            let max = self.state.config().limits.ws_sockets_per_user;
            if !self.state.sockets().try_acquire(&principal.user_id, max) {
                return self.reply_error(
                    m,
                    "ConnectionRateLimitReached: Too many connections for this user",
                );
            }
            self.counted_user = Some(principal.user_id.clone());
        }
        let params = match m.payload.pointer("/config/postgres_changes") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list.clone(),
            Some(_) => {
                return self.reply_error(m, "InvalidJoinPayload: postgres_changes must be a list")
            }
        };
        let mut bindings = Vec::new();
        for p in &params {
            match parse_binding(p, &principal) {
                Ok(b) => bindings.push(b),
                Err(reason) => return self.reply_error(m, &reason),
            }
        }
        // Joining an already joined topic replaces the old join, as Phoenix does.
        let topic = m.topic.clone();
        self.close_channel(&topic)?;
        let echoed: Vec<Value> = bindings
            .iter()
            .map(|b| {
                let mut p = b.params.clone();
                p["id"] = Value::from(b.id);
                p
            })
            .collect();
        let join_ref = m.join_ref.clone().or_else(|| m.reference.clone());
        let subscribed = !bindings.is_empty();
        self.channels.insert(
            topic.clone(),
            Channel {
                join_ref: join_ref.clone(),
                bindings,
                principal,
            },
        );
        self.reply(m, "ok", json!({"postgres_changes": echoed}))?;
        if subscribed {
            // The feed subscription exists from connect, so changes flow from here on.
            self.push(&topic, &join_ref, "system", subscribed_payload(&topic))?;
        }
        ControlFlow::Continue(())
    }

    fn swap_token(&mut self, topic: &str, m: &Message) -> Flow {
        let Some(token) = m.payload.get("access_token").and_then(Value::as_str) else {
            return ControlFlow::Continue(());
        };
        match self.principal_for(token) {
            Ok(principal) => {
                let Some(ch) = self.channels.get_mut(topic) else {
                    return ControlFlow::Continue(());
                };
                if principal.user_id != ch.principal.user_id {
                    return self.shut_channel(
                        topic,
                        "You no longer have permission to read from this Channel topic",
                    );
                }
                ch.principal = principal;
                let join_ref = ch.join_ref.clone();
                self.push(topic, &join_ref, "system", subscribed_payload(topic))
            }
            Err(reason) => self.shut_channel(topic, reason),
        }
    }

    fn next_expiry(&self) -> Option<Instant> {
        let exp = self.channels.values().map(|c| c.principal.exp).min()?;
        let wait = (exp - unix_now()).max(0) as u64;
        Some(Instant::now() + Duration::from_secs(wait) + Duration::from_millis(50))
    }

    fn expire_tokens(&mut self) -> Flow {
        let now = unix_now();
        let expired: Vec<(String, i64)> = self
            .channels
            .iter()
            .filter(|(_, c)| c.principal.exp <= now)
            .map(|(t, c)| (t.clone(), now - c.principal.exp))
            .collect();
        for (topic, ago) in expired {
            self.shut_channel(&topic, &format!("Token has expired {ago} seconds ago"))?;
        }
        ControlFlow::Continue(())
    }

    fn fan_out(&self, change: &Change) -> Flow {
        let now = unix_now();
        for (topic, ch) in &self.channels {
            if ch.principal.exp <= now || !tables::change_visible(change, &ch.principal) {
                continue;
            }
            let ids: Vec<u32> = ch
                .bindings
                .iter()
                .filter(|b| b.matches(change))
                .map(|b| b.id)
                .collect();
            if ids.is_empty() {
                continue;
            }
            let data = change.wire.data(|| change_data(change).to_string());
            let frame = change.wire.frame(self.serializer.tag(), topic, &ids, || {
                encode_change(self.serializer, topic, &ids, data)
            });
            self.send_frame(WsMessage::Text(frame))?;
        }
        ControlFlow::Continue(())
    }

    fn fail_all(&mut self, message: &str) {
        let topics: Vec<String> = self.channels.keys().cloned().collect();
        for topic in topics {
            if self.shut_channel(&topic, message).is_break() {
                return;
            }
        }
    }
}

/// Handles changes that are already waiting, so a burst costs one wake-up, not one each.
fn drain(conn: &mut Connection, feed: &mut broadcast::Receiver<Arc<Change>>) -> Flow {
    for _ in 0..256 {
        match feed.try_recv() {
            Ok(change) => conn.fan_out(&change)?,
            Err(broadcast::error::TryRecvError::Lagged(missed)) => return lagged(conn, missed),
            Err(_) => break,
        }
    }
    ControlFlow::Continue(())
}

fn lagged(conn: &mut Connection, missed: u64) -> Flow {
    // Never skip silently: the client must reconnect and refetch.
    tracing::warn!(missed, "realtime subscriber fell behind; closing");
    conn.fail_all("Too far behind: reconnect and refetch");
    ControlFlow::Break("too far behind")
}

fn sub_topic(topic: &str) -> &str {
    topic.strip_prefix("realtime:").unwrap_or(topic)
}

fn subscribed_payload(topic: &str) -> Value {
    json!({"extension": "postgres_changes", "status": "ok", "message": "Subscribed to PostgreSQL", "channel": sub_topic(topic)})
}

/// Serves one upgraded websocket until either side ends it.
pub async fn run(socket: WebSocket, state: AppState, serializer: Serializer) {
    let limits = state.config().limits.clone();
    let (mut sink, mut stream) = socket.split();
    let (out, mut queue) = mpsc::channel::<WsMessage>(limits.ws_send_queue);
    let writer = tokio::spawn(async move {
        // Everything already queued goes out in one flush: one syscall for a burst instead
        // of one per frame, which is what keeps a thousand sockets affordable.
        'frames: while let Some(first) = queue.recv().await {
            let mut next = Some(first);
            while let Some(frame) = next.take() {
                let closing = matches!(frame, WsMessage::Close(_));
                if sink.feed(frame).await.is_err() || closing {
                    let _ = sink.flush().await;
                    break 'frames;
                }
                next = queue.try_recv().ok();
            }
            if sink.flush().await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut feed = state.db().feed().subscribe();
    let mut shutdown = state.sockets().shutdown_signal();
    let mut conn = Connection {
        state: state.clone(),
        serializer,
        out,
        channels: HashMap::new(),
        counted_user: None,
    };
    let idle = Duration::from_millis(limits.ws_idle_timeout_ms);
    let mut last_seen = Instant::now();
    let far = Duration::from_secs(86_400 * 365);
    let (code, reason): (u16, &str) = loop {
        let expiry = conn.next_expiry().unwrap_or_else(|| Instant::now() + far);
        let flow: Flow = tokio::select! {
            frame = stream.next() => match frame {
                Some(Ok(WsMessage::Text(text))) => {
                    last_seen = Instant::now();
                    conn.handle_text(text.as_str())
                }
                Some(Ok(WsMessage::Binary(bytes))) => {
                    last_seen = Instant::now();
                    match binary_push_header(&bytes) {
                        Some(m) => conn.reply_error(&m, "binary broadcast is not supported by this server"),
                        None => ControlFlow::Break("unsupported binary frame"),
                    }
                }
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {
                    last_seen = Instant::now();
                    ControlFlow::Continue(())
                }
                Some(Ok(WsMessage::Close(_))) | None => break (1000, "bye"),
                Some(Err(_)) => break (1009, "frame too large or invalid"),
            },
            change = feed.recv() => match change {
                Ok(change) => match conn.fan_out(&change) {
                    ControlFlow::Continue(()) => drain(&mut conn, &mut feed),
                    stop => stop,
                },
                Err(broadcast::error::RecvError::Lagged(missed)) => lagged(&mut conn, missed),
                Err(broadcast::error::RecvError::Closed) => ControlFlow::Break("server stopping"),
            },
            _ = sleep_until(last_seen + idle) => ControlFlow::Break("heartbeat timeout"),
            _ = sleep_until(expiry) => conn.expire_tokens(),
            _ = shutdown.changed() => ControlFlow::Break("server stopping"),
        };
        if let ControlFlow::Break(why) = flow {
            break match why {
                "malformed frame" | "unsupported binary frame" => (1007, why),
                "server stopping" => (1001, why),
                "heartbeat timeout" => (1000, why),
                _ => (1008, why),
            };
        }
    };
    if let Some(user) = &conn.counted_user {
        state.sockets().release(user);
    }
    let close = WsMessage::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    let queued = conn.out.try_send(close).is_ok();
    drop(conn);
    if queued {
        if tokio::time::timeout(Duration::from_secs(2), writer)
            .await
            .is_err()
        {
            tracing::debug!("websocket writer did not finish in time");
        }
    } else {
        writer.abort();
    }
}
