//! The channels of one socket as a pure state machine: Phoenix messages, clock ticks and
//! feed trouble go in; messages to send, or a close, come out.
//!
//! Committed changes go in through [`Channels::deliveries`], which says which channel gets a
//! change under which binding ids and leaves the encoding to the socket: a change is
//! encoded once per audience and shared by every socket sending it (see
//! [`crate::db::changes::Wire`]). Nothing here touches the network or reads the clock: time
//! comes in as unix seconds (ticks, and [`Host::now`] for messages), and token decoding and
//! the socket caps are asked of a [`Host`]. What one socket may subscribe to is bounded by
//! [`ChannelCaps`], and a change is matched only against the bindings that may select it
//! ([`BindingIndex`]), so bindings that never match cost nothing per change. Whether a
//! token has expired is always [`jwt::check_expiry`], the rule REST uses too, so a join, an
//! `access_token` swap, the expiry timer and deliveries agree on it. The replies follow
//! Supabase Realtime's channel (`realtime_channel.ex`): error reasons as `"Code: message"`,
//! `system` messages, and `phx_close` when a channel ends.

use std::collections::HashMap;

use serde_json::{json, Value};
use switchboard_wire::{event, field, status, topic, Message};

use super::bindings::{parse_binding, Binding, BindingIndex};
use super::protocol::CloseReason;
use super::registry::SocketRefusal;
use crate::auth::jwt::{self, Principal, TokenError};
use crate::db::Change;

/// Seconds since the Unix epoch.
pub type UnixSecs = i64;

/// The join payload key older clients use instead of `access_token`.
const LEGACY_TOKEN_FIELD: &str = "user_token";

/// What the machine asks of the server around it.
pub trait Host {
    /// Checks a user access token's signature and claims, not its expiry: the machine
    /// judges that with [`jwt::check_expiry`] at [`Host::now`].
    fn decode(&self, token: &str) -> Result<Principal, TokenError>;
    /// The current time in unix seconds.
    fn now(&self) -> UnixSecs;
    /// Counts this socket against the caps of `user_id`'s login session `session_id`.
    ///
    /// # Errors
    /// [`SocketRefusal`] when a cap is reached.
    fn acquire_socket(&self, user_id: &str, session_id: &str) -> Result<(), SocketRefusal>;
}

/// The user and login session a socket was counted against, to release when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// The user id (`sub`).
    pub user_id: String,
    /// The login session (`session_id`).
    pub session_id: String,
}

/// What the machine reacts to.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A decoded text frame from the client.
    Message(Message),
    /// The header of a vsn 2.0.0 binary user-broadcast push (its payload is never read).
    BinaryBroadcast(Message),
    /// The expiry timer fired; the current time.
    Tick(UnixSecs),
    /// The change feed dropped changes before this socket read them.
    Lagged,
}

/// What the socket must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// Encode and send this message.
    Send(Message),
    /// Close the socket; nothing follows.
    Close(CloseReason),
}

#[derive(Debug)]
struct Channel {
    join_ref: Option<String>,
    bindings: Vec<Binding>,
    principal: Principal,
}

/// How much one socket may subscribe to; a join past a cap is refused with an error reply.
///
/// Hosted Realtime bounds channels per connection (the tenant's `max_channels_per_client`,
/// 100 on every plan: supabase.com/docs/guides/realtime/limits) but not the
/// `postgres_changes` entries of a join; here every binding is matched against changes and
/// every channel is looked at on each wake-up of its socket, so all three are bounded, and
/// lower. The app joins one channel with three bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelCaps {
    /// Channels joined at once.
    pub channels: usize,
    /// `postgres_changes` entries in one join.
    pub bindings_per_join: usize,
    /// `postgres_changes` entries over all the socket's channels.
    pub bindings_per_socket: usize,
}

impl Default for ChannelCaps {
    /// 10 channels, 10 bindings a join, 50 a socket: room for other clients' few channels
    /// beside the app's one channel of three bindings.
    fn default() -> Self {
        ChannelCaps {
            channels: 10,
            bindings_per_join: 10,
            bindings_per_socket: 50,
        }
    }
}

/// The join error when a join carries more than [`ChannelCaps::bindings_per_join`]
/// entries: the payload itself is refused, as Realtime's `InvalidJoinPayload`.
pub fn too_many_bindings_per_join(max: usize) -> String {
    format!("InvalidJoinPayload: Too many postgres_changes bindings: at most {max} per channel")
}

/// The join error when the socket would hold more than
/// [`ChannelCaps::bindings_per_socket`] entries, worded as Realtime's other per-client
/// limit (`ChannelRateLimitReached: Too many channels`).
pub fn too_many_bindings_per_socket(max: usize) -> String {
    format!(
        "ChannelRateLimitReached: Too many postgres_changes bindings: at most {max} per connection"
    )
}

/// The joined channels of one socket, keyed by topic.
#[derive(Debug)]
pub struct Channels {
    channels: HashMap<String, Channel>,
    /// The topics in order, as of the last [`Channels::reindex`].
    indexed: Vec<String>,
    /// Every channel's bindings by (position in `indexed`, position in the channel),
    /// rebuilt when a channel comes or goes.
    index: BindingIndex<(usize, usize)>,
    caps: ChannelCaps,
    counted: Option<Counted>,
}

/// Why a channel's token no longer holds, in a `system` message that ends the channel
/// (Realtime's `shutdown_response` texts: "Token has expired N seconds ago" for expiry).
fn token_message(e: TokenError) -> String {
    match e {
        TokenError::Expired { secs_ago } => format!("Token has expired {secs_ago} seconds ago"),
        TokenError::BadSignature => "JwtSignatureError: Failed to validate JWT signature".into(),
        TokenError::Malformed => "MalformedJWT: The token provided is not a valid JWT".into(),
    }
}

/// Why a join with this token is refused, as a join error `reason` (Realtime's join errors:
/// `"InvalidJWTToken: Token has expired N seconds ago"`).
fn token_reason(e: TokenError) -> String {
    match e {
        TokenError::Expired { .. } => format!("InvalidJWTToken: {}", token_message(e)),
        other => token_message(other),
    }
}

/// A token that decodes and has not expired at the host's time.
fn verify(token: &str, host: &impl Host) -> Result<Principal, TokenError> {
    let principal = host.decode(token)?;
    jwt::check_expiry(principal.exp, host.now())?;
    Ok(principal)
}

fn reply(to: &Message, status: &str, response: Value) -> Out {
    Out::Send(Message::reply(to, status, response))
}

fn reply_ok(to: &Message) -> Out {
    reply(to, status::OK, json!({}))
}

fn reply_error(to: &Message, reason: &str) -> Out {
    reply(to, status::ERROR, json!({ field::REASON: reason }))
}

fn push(topic: &str, join_ref: &Option<String>, event: &str, payload: Value) -> Out {
    Out::Send(Message {
        join_ref: join_ref.clone(),
        reference: None,
        topic: topic.to_string(),
        event: event.to_string(),
        payload,
    })
}

fn subscribed(topic: &str, join_ref: &Option<String>) -> Out {
    let payload = json!({
        field::EXTENSION: event::POSTGRES_CHANGES,
        field::STATUS: status::OK,
        field::MESSAGE: "Subscribed to PostgreSQL",
        field::CHANNEL: topic::sub_topic(topic),
    });
    push(topic, join_ref, event::SYSTEM, payload)
}

impl Channels {
    /// No channels yet; at most `max_channels` may be joined at once, with the default
    /// binding caps ([`ChannelCaps::default`]).
    pub fn new(max_channels: usize) -> Self {
        Channels::with_caps(ChannelCaps {
            channels: max_channels,
            ..ChannelCaps::default()
        })
    }

    /// No channels yet, bounded by `caps`.
    pub fn with_caps(caps: ChannelCaps) -> Self {
        Channels {
            channels: HashMap::new(),
            indexed: Vec::new(),
            index: BindingIndex::default(),
            caps,
            counted: None,
        }
    }

    /// The user and session this socket was counted against by [`Host::acquire_socket`],
    /// to release when the socket ends.
    pub fn counted(&self) -> Option<&Counted> {
        self.counted.as_ref()
    }

    /// Channels joined now.
    pub fn len(&self) -> usize {
        self.channels.len()
    }

    /// Whether no channel is joined.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// The first second at which a channel's token counts as expired
    /// ([`jwt::expired_from`]); feed [`Input::Tick`] then, not before.
    pub fn next_expiry(&self) -> Option<UnixSecs> {
        self.channels
            .values()
            .map(|c| jwt::expired_from(c.principal.exp))
            .min()
    }

    /// Applies one input.
    pub fn step(&mut self, input: Input, host: &impl Host) -> Vec<Out> {
        let mut out = Vec::new();
        match input {
            Input::Message(m) => self.on_message(&m, host, &mut out),
            Input::BinaryBroadcast(m) => out.push(reply_error(
                &m,
                "binary broadcast is not supported by this server",
            )),
            Input::Tick(now) => self.expire(now, &mut out),
            Input::Lagged => {
                // Never skip silently: the client must reconnect and refetch.
                for topic in self.topics() {
                    self.shut(&topic, "Too far behind: reconnect and refetch", &mut out);
                }
                out.push(Out::Close(CloseReason::TooFarBehind));
            }
        }
        out
    }

    /// Who gets a committed change at time `now`: each channel whose token is still valid,
    /// whose caller the table's access rule lets see the row, and with at least one
    /// matching binding, as (topic, ids of its matching bindings in join order), in topic
    /// order. Only the bindings the index offers are asked ([`BindingIndex::candidates`]).
    pub fn deliveries<'a>(
        &'a self,
        change: &'a Change,
        now: UnixSecs,
    ) -> impl Iterator<Item = (&'a str, Vec<u32>)> + 'a {
        let mut out: Vec<(&'a str, Vec<u32>)> = Vec::new();
        // The channel of the candidates at hand, if it may receive the change: asked once
        // per channel, as candidates come grouped by channel.
        let mut current: Option<(usize, Option<(&'a str, &'a Channel)>)> = None;
        let mut delivered_to: Option<usize> = None;
        for &(slot, at) in self.index.candidates(change) {
            if current.map(|(s, _)| s) != Some(slot) {
                let channel = self
                    .indexed
                    .get(slot)
                    .and_then(|topic| self.channels.get_key_value(topic))
                    .filter(|(_, ch)| {
                        jwt::check_expiry(ch.principal.exp, now).is_ok()
                            && change.table.access.allows(&change.owner, &ch.principal)
                    })
                    .map(|(topic, ch)| (topic.as_str(), ch));
                current = Some((slot, channel));
            }
            let Some((_, Some((topic, ch)))) = current else {
                continue;
            };
            let Some(binding) = ch.bindings.get(at).filter(|b| b.matches(change)) else {
                continue;
            };
            match out.last_mut() {
                Some((_, ids)) if delivered_to == Some(slot) => ids.push(binding.id),
                _ => {
                    out.push((topic, vec![binding.id]));
                    delivered_to = Some(slot);
                }
            }
        }
        out.into_iter()
    }

    /// Files every channel's bindings afresh; joins and leaves are rare, changes are not.
    fn reindex(&mut self) {
        self.indexed = self.topics();
        let mut index = BindingIndex::default();
        for (slot, topic) in self.indexed.iter().enumerate() {
            for (at, binding) in self.channels[topic].bindings.iter().enumerate() {
                index.insert((slot, at), binding);
            }
        }
        self.index = index;
    }

    /// Topics in a stable order, so multi-channel outputs are deterministic.
    fn topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.channels.keys().cloned().collect();
        topics.sort();
        topics
    }

    fn on_message(&mut self, m: &Message, host: &impl Host, out: &mut Vec<Out>) {
        match (m.topic.as_str(), m.event.as_str()) {
            (topic::PHOENIX, event::HEARTBEAT) => out.push(reply_ok(m)),
            (_, event::PHX_JOIN) => self.join(m, host, out),
            (topic, _) if !self.channels.contains_key(topic) => {
                out.push(reply_error(m, "unmatched topic"))
            }
            (topic, event::PHX_LEAVE) => {
                out.push(reply_ok(m));
                self.close(topic, out);
            }
            (topic, event::ACCESS_TOKEN) => self.swap_token(topic, m, host, out),
            (_, other) => out.push(reply_error(
                m,
                &format!("{other} is not supported by this server (postgres_changes only)"),
            )),
        }
    }

    fn join(&mut self, m: &Message, host: &impl Host, out: &mut Vec<Out>) {
        let Some(sub) = m.topic.strip_prefix(topic::PREFIX) else {
            return out.push(reply_error(m, "unmatched topic"));
        };
        if sub.is_empty() {
            return out.push(reply_error(
                m,
                "TopicNameRequired: You must provide a topic name",
            ));
        }
        if self.channels.len() >= self.caps.channels && !self.channels.contains_key(&m.topic) {
            return out.push(reply_error(m, "ChannelRateLimitReached: Too many channels"));
        }
        let token = m
            .payload
            .get(field::ACCESS_TOKEN)
            .or_else(|| m.payload.get(LEGACY_TOKEN_FIELD))
            .and_then(Value::as_str);
        let Some(token) = token else {
            return out.push(reply_error(
                m,
                "Unauthorized: a user access_token is required to join",
            ));
        };
        let principal = match verify(token, host) {
            Ok(p) => p,
            Err(e) => return out.push(reply_error(m, &token_reason(e))),
        };
        if self.counted.is_none() {
            // Counted once, by the first join; refused until a slot frees, with a reason a
            // person can act on.
            if let Err(refusal) = host.acquire_socket(&principal.user_id, &principal.session_id) {
                return out.push(reply_error(m, &refusal.reason()));
            }
            self.counted = Some(Counted {
                user_id: principal.user_id.clone(),
                session_id: principal.session_id.clone(),
            });
        }
        let config = m.payload.get(field::CONFIG);
        let params = match config.and_then(|c| c.get(field::POSTGRES_CHANGES)) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list.clone(),
            Some(_) => {
                return out.push(reply_error(
                    m,
                    "InvalidJoinPayload: postgres_changes must be a list",
                ))
            }
        };
        // Counted before any is parsed: a refused join costs no more than its frame.
        if params.len() > self.caps.bindings_per_join {
            let reason = too_many_bindings_per_join(self.caps.bindings_per_join);
            return out.push(reply_error(m, &reason));
        }
        // A rejoin replaces the topic's bindings, so those do not count against it.
        let kept: usize = self
            .channels
            .iter()
            .filter(|(topic, _)| **topic != m.topic)
            .map(|(_, ch)| ch.bindings.len())
            .sum();
        if kept + params.len() > self.caps.bindings_per_socket {
            let reason = too_many_bindings_per_socket(self.caps.bindings_per_socket);
            return out.push(reply_error(m, &reason));
        }
        let mut bindings = Vec::new();
        for p in &params {
            match parse_binding(p, &principal) {
                Ok(b) => bindings.push(b),
                Err(reason) => return out.push(reply_error(m, &reason)),
            }
        }
        // Joining an already joined topic replaces the old join, as Phoenix does.
        self.close(&m.topic, out);
        let echoed: Vec<Value> = bindings
            .iter()
            .map(|b| {
                let mut p = b.params.clone();
                p[field::ID] = Value::from(b.id);
                p
            })
            .collect();
        let join_ref = m.join_ref.clone().or_else(|| m.reference.clone());
        let any_bindings = !bindings.is_empty();
        self.channels.insert(
            m.topic.clone(),
            Channel {
                join_ref: join_ref.clone(),
                bindings,
                principal,
            },
        );
        self.reindex();
        out.push(reply(
            m,
            status::OK,
            json!({ field::POSTGRES_CHANGES: echoed }),
        ));
        if any_bindings {
            // The feed subscription exists from connect, so changes flow from here on.
            out.push(subscribed(&m.topic, &join_ref));
        }
    }

    fn swap_token(&mut self, topic: &str, m: &Message, host: &impl Host, out: &mut Vec<Out>) {
        let Some(token) = m.payload.get(field::ACCESS_TOKEN).and_then(Value::as_str) else {
            return;
        };
        match verify(token, host) {
            Ok(principal) => {
                let Some(ch) = self.channels.get_mut(topic) else {
                    return;
                };
                if principal.user_id != ch.principal.user_id {
                    return self.shut(
                        topic,
                        "You no longer have permission to read from this Channel topic",
                        out,
                    );
                }
                ch.principal = principal;
                out.push(subscribed(topic, &ch.join_ref));
            }
            Err(e) => self.shut(topic, &token_message(e), out),
        }
    }

    /// Ends every channel whose token [`jwt::check_expiry`] refuses at `now`.
    fn expire(&mut self, now: UnixSecs, out: &mut Vec<Out>) {
        for topic in self.topics() {
            let Some(exp) = self.channels.get(&topic).map(|c| c.principal.exp) else {
                continue;
            };
            if let Err(e) = jwt::check_expiry(exp, now) {
                self.shut(&topic, &token_message(e), out);
            }
        }
    }

    /// Ends a channel as Realtime does after a channel-level error: a `system` error, then
    /// `phx_close`.
    fn shut(&mut self, topic: &str, message: &str, out: &mut Vec<Out>) {
        if let Some(ch) = self.channels.get(topic) {
            let payload = json!({
                field::EXTENSION: event::SYSTEM,
                field::STATUS: status::ERROR,
                field::MESSAGE: message,
                field::CHANNEL: topic::sub_topic(topic),
            });
            out.push(push(topic, &ch.join_ref, event::SYSTEM, payload));
        }
        self.close(topic, out);
    }

    /// Forgets a channel and tells the client with `phx_close` (join ref as both refs).
    fn close(&mut self, topic: &str, out: &mut Vec<Out>) {
        if let Some(ch) = self.channels.remove(topic) {
            self.reindex();
            out.push(Out::Send(Message {
                join_ref: ch.join_ref.clone(),
                reference: ch.join_ref,
                topic: topic.to_string(),
                event: event::PHX_CLOSE.into(),
                payload: json!({}),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::auth::jwt::AppRole;
    use crate::db::ChangeKind;
    use crate::schema::tables::{CONVERSATIONS, MESSAGES, READ_STATE};
    use crate::schema::Ownership;

    const ORG: &str = "22222222-2222-2222-2222-222222222222";
    const ME: &str = "11111111-1111-1111-1111-111111111111";
    const OTHER: &str = "33333333-3333-3333-3333-333333333333";
    const CONV: &str = "44444444-4444-4444-4444-444444444444";

    /// Tokens are `"<role>:<user>:<exp>"` with role `d` or `m` and user `me` standing for
    /// [`ME`]; `"expired"` is `d:me:-1000`; anything else is malformed. The clock is `now`;
    /// `slots` sockets are allowed in all, and each counted one is recorded.
    struct FakeHost {
        slots: Cell<usize>,
        now: Cell<UnixSecs>,
        counted: std::cell::RefCell<Vec<(String, String)>>,
    }

    impl FakeHost {
        fn new() -> Self {
            FakeHost {
                slots: Cell::new(5),
                now: Cell::new(0),
                counted: Default::default(),
            }
        }
    }

    impl Host for FakeHost {
        fn decode(&self, token: &str) -> Result<Principal, TokenError> {
            let token = if token == "expired" {
                "d:me:-1000"
            } else {
                token
            };
            let mut parts = token.split(':');
            let role = match parts.next() {
                Some("d") => AppRole::Dispatcher,
                Some("m") => AppRole::Medic,
                _ => return Err(TokenError::Malformed),
            };
            let user = match parts.next().ok_or(TokenError::Malformed)? {
                "me" => ME,
                other => other,
            };
            let exp = parts
                .next()
                .and_then(|e| e.parse().ok())
                .ok_or(TokenError::Malformed)?;
            Ok(Principal {
                user_id: user.into(),
                org_id: ORG.into(),
                role,
                exp,
                session_id: "s".into(),
            })
        }

        fn now(&self) -> UnixSecs {
            self.now.get()
        }

        fn acquire_socket(&self, user_id: &str, session_id: &str) -> Result<(), SocketRefusal> {
            let left = self.slots.get();
            if left == 0 {
                return Err(SocketRefusal::TooManySessions { max: 1 });
            }
            self.slots.set(left - 1);
            let counted = (user_id.to_string(), session_id.to_string());
            self.counted.borrow_mut().push(counted);
            Ok(())
        }
    }

    fn msg(
        join_ref: Option<&str>,
        reference: &str,
        topic: &str,
        event: &str,
        payload: Value,
    ) -> Message {
        Message {
            join_ref: join_ref.map(str::to_string),
            reference: Some(reference.into()),
            topic: topic.into(),
            event: event.into(),
            payload,
        }
    }

    fn bindings() -> Value {
        json!([
            {"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("org_id=eq.{ORG}")},
            {"event": "*", "schema": "public", "table": "read_state", "filter": format!("user_id=eq.{ME}")},
        ])
    }

    fn join_msg(reference: &str, topic: &str, token: &str, bindings: Value) -> Input {
        Input::Message(msg(
            Some(reference),
            reference,
            topic,
            event::PHX_JOIN,
            json!({"config": {"postgres_changes": bindings}, "access_token": token}),
        ))
    }

    fn sent(out: &[Out]) -> Vec<&Message> {
        out.iter()
            .map(|o| match o {
                Out::Send(m) => m,
                Out::Close(r) => panic!("unexpected close {r:?}"),
            })
            .collect()
    }

    fn reason(m: &Message) -> &str {
        m.payload["response"]["reason"].as_str().unwrap_or_default()
    }

    fn joined(token: &str) -> (Channels, FakeHost) {
        let host = FakeHost::new();
        let mut ch = Channels::new(3);
        let out = ch.step(join_msg("3", "realtime:org", token, bindings()), &host);
        let out = sent(&out);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0].reply_status().map(|r| r.0), Some(status::OK));
        assert_eq!(
            (out[1].event.as_str(), out[1].join_ref.as_deref()),
            (event::SYSTEM, Some("3"))
        );
        assert_eq!(out[1].payload["channel"], "org");
        (ch, host)
    }

    fn change(
        table: &'static crate::schema::Table,
        medic: Option<&str>,
        user: Option<&str>,
        record: Value,
    ) -> Change {
        Change {
            table,
            kind: ChangeKind::Insert,
            record: Some(record),
            old_record: None,
            commit_micros: 0,
            owner: Ownership {
                org_id: ORG.into(),
                medic_id: medic.map(str::to_string),
                user_id: user.map(str::to_string),
            },
            wire: Default::default(),
        }
    }

    #[test]
    fn heartbeats_are_answered_on_the_phoenix_topic() {
        let mut ch = Channels::new(1);
        let out = ch.step(
            Input::Message(msg(None, "26", topic::PHOENIX, event::HEARTBEAT, json!({}))),
            &FakeHost::new(),
        );
        let out = sent(&out);
        assert_eq!(out[0].reference.as_deref(), Some("26"));
        assert_eq!(out[0].reply_status().map(|r| r.0), Some(status::OK));
    }

    #[test]
    fn a_join_echoes_bindings_in_order_with_ids() {
        let host = FakeHost::new();
        let mut ch = Channels::new(3);
        let out = ch.step(join_msg("3", "realtime:org", "d:me:100", bindings()), &host);
        let reply = sent(&out)[0];
        let echoed = reply.payload["response"]["postgres_changes"]
            .as_array()
            .unwrap();
        for (sent, got) in bindings().as_array().unwrap().iter().zip(echoed) {
            for key in ["event", "schema", "table", "filter"] {
                assert_eq!(sent[key], got[key]);
            }
            assert!(got["id"].is_u64());
        }
        assert_eq!(ch.counted().map(|c| c.user_id.as_str()), Some(ME));
        assert_eq!(ch.next_expiry(), Some(100 + jwt::LEEWAY_SECS + 1));
        let out = ch.step(join_msg("7", "realtime:quiet", "d:me:50", json!([])), &host);
        assert_eq!(sent(&out).len(), 1, "no bindings: no system message");
        assert_eq!(ch.next_expiry(), Some(50 + jwt::LEEWAY_SECS + 1));
    }

    #[test]
    fn bad_joins_get_error_replies() {
        let host = FakeHost::new();
        let mut ch = Channels::new(1);
        for (topic, token, expected) in [
            ("room", "d:me:9", "unmatched topic"),
            (
                "realtime:",
                "d:me:9",
                "TopicNameRequired: You must provide a topic name",
            ),
            (
                "realtime:x",
                "junk",
                "MalformedJWT: The token provided is not a valid JWT",
            ),
            (
                "realtime:x",
                "expired",
                "InvalidJWTToken: Token has expired 1000 seconds ago",
            ),
        ] {
            let out = ch.step(join_msg("1", topic, token, json!([])), &host);
            assert_eq!(reason(sent(&out)[0]), expected, "{topic} {token}");
        }
        let no_token = Input::Message(msg(
            Some("1"),
            "1",
            "realtime:x",
            event::PHX_JOIN,
            json!({}),
        ));
        assert!(reason(sent(&ch.step(no_token, &host))[0]).starts_with("Unauthorized"));
        let out = ch.step(
            join_msg("1", "realtime:x", "d:me:9", json!({"not": "a list"})),
            &host,
        );
        assert!(reason(sent(&out)[0]).starts_with("InvalidJoinPayload"));
        let outside =
            json!([{"event": "*", "table": "read_state", "filter": format!("user_id=eq.{OTHER}")}]);
        let out = ch.step(join_msg("1", "realtime:x", "d:me:9", outside), &host);
        assert!(reason(sent(&out)[0]).starts_with("Unauthorized"));
        assert_eq!(ch.next_expiry(), None, "nothing joined");
    }

    #[test]
    fn channel_and_socket_caps() {
        let host = FakeHost::new();
        let mut ch = Channels::new(1);
        assert_eq!(
            sent(&ch.step(join_msg("1", "realtime:a", "d:me:9", json!([])), &host)).len(),
            1
        );
        let out = ch.step(join_msg("2", "realtime:b", "d:me:9", json!([])), &host);
        assert_eq!(
            reason(sent(&out)[0]),
            "ChannelRateLimitReached: Too many channels"
        );
        assert_eq!(host.slots.get(), 4, "the socket is counted once");

        assert_eq!(
            host.counted.borrow().as_slice(),
            [(ME.to_string(), "s".to_string())],
            "counted against the token's user and login session"
        );

        let full = FakeHost::new();
        full.slots.set(0);
        let mut ch = Channels::new(1);
        let out = ch.step(join_msg("1", "realtime:a", "d:me:9", json!([])), &full);
        assert_eq!(
            reason(sent(&out)[0]),
            SocketRefusal::TooManySessions { max: 1 }.reason(),
            "the registry's reason, for people"
        );
        assert_eq!(ch.counted(), None);
    }

    /// `n` bindings of messages, each naming a conversation that never gets a message.
    fn idle_bindings(n: usize) -> Value {
        (0..n)
            .map(|i| {
                let conv = format!("00000000-0000-4000-8000-{i:012}");
                json!({"event": "INSERT", "schema": "public", "table": "messages",
                       "filter": format!("conversation_id=eq.{conv}")})
            })
            .collect()
    }

    fn status_of(out: &[Out]) -> Option<&str> {
        sent(out)[0].reply_status().map(|r| r.0)
    }

    /// Issue 13, item 1: a join carrying more bindings than the per-join cap, or one that
    /// would take the socket past its cap, is refused with an error reply and changes
    /// nothing; a rejoin's old bindings do not count against it.
    #[test]
    fn bindings_are_capped_per_join_and_per_socket() {
        let host = FakeHost::new();
        let mut ch = Channels::with_caps(ChannelCaps {
            channels: 10,
            bindings_per_join: 3,
            bindings_per_socket: 5,
        });
        let out = ch.step(
            join_msg("1", "realtime:a", "d:me:100", idle_bindings(4)),
            &host,
        );
        assert_eq!(reason(sent(&out)[0]), too_many_bindings_per_join(3));
        assert_eq!(ch.next_expiry(), None, "nothing joined");

        let out = ch.step(
            join_msg("2", "realtime:a", "d:me:100", idle_bindings(3)),
            &host,
        );
        assert_eq!(status_of(&out), Some(status::OK));
        let out = ch.step(
            join_msg("3", "realtime:b", "d:me:100", idle_bindings(3)),
            &host,
        );
        assert_eq!(reason(sent(&out)[0]), too_many_bindings_per_socket(5));
        let out = ch.step(join_msg("4", "realtime:b", "d:me:100", bindings()), &host);
        assert_eq!(status_of(&out), Some(status::OK), "3 + 2 fit");
        let out = ch.step(
            join_msg("5", "realtime:a", "d:me:100", idle_bindings(3)),
            &host,
        );
        assert_eq!(
            sent(&out)[1].reply_status().map(|r| r.0),
            Some(status::OK),
            "a rejoin replaces its own bindings: {out:?}"
        );
        let out = ch.step(
            join_msg("6", "realtime:c", "d:me:100", idle_bindings(1)),
            &host,
        );
        assert_eq!(reason(sent(&out)[0]), too_many_bindings_per_socket(5));

        let record = json!({"org_id": ORG, "conversation_id": CONV});
        let c = change(&MESSAGES, Some(OTHER), None, record);
        let to: Vec<&str> = ch.deliveries(&c, 10).map(|(t, _)| t).collect();
        assert_eq!(
            to,
            ["realtime:b"],
            "refused joins left the others as they were"
        );

        let leave = msg(Some("4"), "7", "realtime:b", event::PHX_LEAVE, json!({}));
        ch.step(Input::Message(leave), &host);
        let out = ch.step(
            join_msg("8", "realtime:c", "d:me:100", idle_bindings(2)),
            &host,
        );
        assert_eq!(
            status_of(&out),
            Some(status::OK),
            "leaving frees its bindings"
        );
        assert_eq!(ch.deliveries(&c, 10).count(), 0);
    }

    /// The indexed delivery answers as a pass over every binding of every channel would:
    /// the same channels, the same ids in join order, whatever the filters.
    #[test]
    fn deliveries_agree_with_asking_every_binding() {
        let host = FakeHost::new();
        let mut ch = Channels::with_caps(ChannelCaps {
            channels: 10,
            bindings_per_join: 10,
            bindings_per_socket: 50,
        });
        let other_conv = "55555555-5555-5555-5555-555555555555";
        let joins = [
            ("realtime:a", "d:me:100", bindings()),
            ("realtime:b", "d:me:100", idle_bindings(10)),
            (
                "realtime:c",
                "m:me:100",
                json!([
                    {"event": "*", "table": "messages"},
                    {"event": "INSERT", "table": "messages", "filter": format!("conversation_id=in.({other_conv},{CONV})")},
                    {"event": "INSERT", "table": "messages", "filter": format!("conversation_id=eq.{CONV}")},
                    {"event": "INSERT", "table": "messages", "filter": "created_at=gt.2026-01-01T00:00:00Z"},
                    {"event": "*", "table": "read_state", "filter": format!("user_id=eq.{ME}")},
                ]),
            ),
            ("realtime:expiring", "d:me:5", bindings()),
        ];
        for (n, (topic, token, b)) in joins.into_iter().enumerate() {
            let out = ch.step(join_msg(&n.to_string(), topic, token, b), &host);
            assert_eq!(status_of(&out), Some(status::OK), "{topic}");
        }
        let every_binding = |c: &Change, now| {
            let mut got: Vec<(String, Vec<u32>)> = Vec::new();
            for topic in ch.topics() {
                let channel = &ch.channels[&topic];
                if jwt::check_expiry(channel.principal.exp, now).is_err()
                    || !c.table.access.allows(&c.owner, &channel.principal)
                {
                    continue;
                }
                let ids: Vec<u32> = channel
                    .bindings
                    .iter()
                    .filter(|b| b.matches(c))
                    .map(|b| b.id)
                    .collect();
                if !ids.is_empty() {
                    got.push((topic, ids));
                }
            }
            got
        };
        let mut changes = Vec::new();
        for conv in [CONV, other_conv, "00000000-0000-4000-8000-000000000003"] {
            for medic in [ME, OTHER] {
                for created in [
                    "2026-01-01T00:00:00.000000+00:00",
                    "2026-02-01T00:00:00.000000+00:00",
                ] {
                    let record =
                        json!({"org_id": ORG, "conversation_id": conv, "created_at": created});
                    changes.push(change(&MESSAGES, Some(medic), None, record));
                }
            }
        }
        for user in [ME, OTHER] {
            changes.push(change(
                &READ_STATE,
                Some(ME),
                Some(user),
                json!({"user_id": user}),
            ));
        }
        changes.push(change(
            &CONVERSATIONS,
            Some(ME),
            None,
            json!({"org_id": ORG}),
        ));
        let mut delivered = 0;
        for c in &changes {
            for now in [10, 60] {
                let got: Vec<(String, Vec<u32>)> = ch
                    .deliveries(c, now)
                    .map(|(t, ids)| (t.to_string(), ids))
                    .collect();
                assert_eq!(got, every_binding(c, now), "{:?} at {now}", c.record);
                delivered += got.len();
            }
        }
        assert!(delivered > changes.len(), "the cases deliver something");
    }

    #[test]
    fn rejoining_a_topic_closes_the_old_join_first() {
        let (mut ch, host) = joined("d:me:100");
        let out = ch.step(join_msg("8", "realtime:org", "d:me:100", bindings()), &host);
        let out = sent(&out);
        assert_eq!(
            (out[0].event.as_str(), out[0].reference.as_deref()),
            (event::PHX_CLOSE, Some("3"))
        );
        assert_eq!(out[1].reply_status().map(|r| r.0), Some(status::OK));
        assert_eq!(out[1].reference.as_deref(), Some("8"));
    }

    #[test]
    fn leaving_replies_then_closes_and_unjoined_topics_are_unmatched() {
        let (mut ch, host) = joined("d:me:100");
        let leave = msg(Some("3"), "10", "realtime:org", event::PHX_LEAVE, json!({}));
        let out = ch.step(Input::Message(leave.clone()), &host);
        let out = sent(&out);
        assert_eq!(out[0].reference.as_deref(), Some("10"));
        assert_eq!(
            (
                out[1].event.as_str(),
                out[1].join_ref.as_deref(),
                out[1].reference.as_deref()
            ),
            (event::PHX_CLOSE, Some("3"), Some("3"))
        );
        let out = ch.step(Input::Message(leave), &host);
        assert_eq!(reason(sent(&out)[0]), "unmatched topic");
    }

    #[test]
    fn unsupported_events_and_binary_pushes_get_error_replies() {
        let (mut ch, host) = joined("d:me:100");
        let b = msg(Some("3"), "4", "realtime:org", event::BROADCAST, json!({}));
        let out = ch.step(Input::Message(b.clone()), &host);
        assert!(reason(sent(&out)[0]).starts_with("broadcast is not supported"));
        let out = ch.step(Input::BinaryBroadcast(b), &host);
        assert_eq!(
            reason(sent(&out)[0]),
            "binary broadcast is not supported by this server"
        );
    }

    /// An `access_token` push on the joined org channel.
    fn swap(token: &str) -> Input {
        Input::Message(msg(
            Some("3"),
            "5",
            "realtime:org",
            event::ACCESS_TOKEN,
            json!({"access_token": token}),
        ))
    }

    #[test]
    fn a_new_token_keeps_the_channel_and_a_bad_one_ends_it() {
        let (mut ch, host) = joined("d:me:100");
        let out = ch.step(swap("d:me:500"), &host);
        let out = sent(&out);
        assert_eq!(
            (out.len(), out[0].payload["status"].as_str()),
            (1, Some(status::OK))
        );
        assert_eq!(ch.next_expiry(), Some(500 + jwt::LEEWAY_SECS + 1));
        let no_token = msg(
            Some("3"),
            "6",
            "realtime:org",
            event::ACCESS_TOKEN,
            json!({}),
        );
        assert!(
            ch.step(Input::Message(no_token), &host).is_empty(),
            "ignored, never answered"
        );

        let out = ch.step(swap("d:someone-else:500"), &host);
        let out = sent(&out);
        assert_eq!(out[0].payload["extension"], event::SYSTEM);
        assert_eq!(out[0].payload["status"], status::ERROR);
        assert_eq!(out[1].event, event::PHX_CLOSE);

        let (mut ch, host) = joined("d:me:100");
        let out = ch.step(swap("junk"), &host);
        assert_eq!(
            sent(&out)[0].payload["message"],
            "MalformedJWT: The token provided is not a valid JWT"
        );
        assert_eq!(ch.next_expiry(), None);
    }

    #[test]
    fn ticks_end_expired_channels_only() {
        let (mut ch, host) = joined("d:me:100");
        ch.step(
            join_msg("9", "realtime:later", "d:me:200", json!([])),
            &host,
        );
        assert!(
            ch.step(Input::Tick(130), &host).is_empty(),
            "within the leeway"
        );
        let out = ch.step(Input::Tick(131), &host);
        let out = sent(&out);
        assert_eq!(
            out[0].payload["message"],
            "Token has expired 31 seconds ago"
        );
        assert_eq!(
            (out[0].join_ref.as_deref(), out[0].reference.as_deref()),
            (Some("3"), None)
        );
        assert_eq!(
            (out[1].event.as_str(), out[1].topic.as_str()),
            (event::PHX_CLOSE, "realtime:org")
        );
        assert_eq!(out.len(), 2);
        assert_eq!(ch.next_expiry(), Some(231));
    }

    /// Issue 12, item 1: one rule decides when a token is expired, so a token the join
    /// accepts is never ended by the expiry timer before that rule says so, and the same
    /// token is refused at join from then on, as hosted Realtime refuses it.
    #[test]
    fn join_and_expiry_agree_on_when_a_token_expires() {
        for joined_at in 90..=140 {
            let host = FakeHost::new();
            host.now.set(joined_at);
            let mut ch = Channels::new(3);
            let out = ch.step(join_msg("3", "realtime:org", "d:me:100", bindings()), &host);
            let reply = sent(&out)[0];
            if reply.reply_status().map(|r| r.0) != Some(status::OK) {
                assert_eq!(
                    reason(reply),
                    format!(
                        "InvalidJWTToken: Token has expired {} seconds ago",
                        joined_at - 100
                    ),
                    "joined at {joined_at}"
                );
                assert_eq!(ch.next_expiry(), None);
                continue;
            }
            let deadline = ch.next_expiry().expect("a joined channel has a deadline");
            assert!(
                deadline > joined_at,
                "joined at {joined_at}, deadline {deadline}"
            );
            let record = json!({"org_id": ORG, "conversation_id": CONV});
            let c = change(&MESSAGES, Some(OTHER), None, record);
            assert_eq!(
                ch.deliveries(&c, joined_at).count(),
                1,
                "joined at {joined_at}"
            );
            for early in joined_at..deadline {
                assert!(
                    ch.step(Input::Tick(early), &host).is_empty(),
                    "tick {early}"
                );
            }
            assert_eq!(ch.deliveries(&c, deadline).count(), 0);
            let out = ch.step(Input::Tick(deadline), &host);
            let out = sent(&out);
            assert_eq!(
                out[0].payload["message"],
                format!("Token has expired {} seconds ago", deadline - 100)
            );
            assert_eq!(out[1].event, event::PHX_CLOSE);
            host.now.set(deadline);
            let out = ch.step(join_msg("4", "realtime:org", "d:me:100", bindings()), &host);
            assert_eq!(
                reason(sent(&out)[0]),
                format!(
                    "InvalidJWTToken: Token has expired {} seconds ago",
                    deadline - 100
                )
            );
        }
        let host = FakeHost::new();
        host.now.set(100);
        let mut ch = Channels::new(3);
        ch.step(join_msg("3", "realtime:org", "d:me:100", bindings()), &host);
        assert!(
            ch.step(Input::Tick(100), &host).is_empty(),
            "valid through exp"
        );
    }

    /// The `access_token` swap applies the same rule: a token inside the leeway is taken,
    /// one past it ends the channel as the timer would.
    #[test]
    fn a_swapped_token_is_judged_by_the_same_rule() {
        let (mut ch, host) = joined("d:me:100");
        host.now.set(120);
        let out = ch.step(swap("d:me:95"), &host);
        assert_eq!(
            sent(&out)[0].payload["status"],
            status::OK,
            "inside the leeway"
        );
        assert_eq!(ch.next_expiry(), Some(95 + jwt::LEEWAY_SECS + 1));
        let out = ch.step(swap("d:me:80"), &host);
        let out = sent(&out);
        assert_eq!(
            out[0].payload["message"],
            "Token has expired 40 seconds ago"
        );
        assert_eq!(out[1].event, event::PHX_CLOSE);
    }

    #[test]
    fn lagging_ends_every_channel_then_the_socket() {
        let (mut ch, host) = joined("d:me:100");
        ch.step(join_msg("9", "realtime:b", "d:me:100", json!([])), &host);
        let out = ch.step(Input::Lagged, &host);
        assert_eq!(out.len(), 5);
        assert_eq!(out[4], Out::Close(CloseReason::TooFarBehind));
        let topics: Vec<&str> = sent(&out[..4]).iter().map(|m| m.topic.as_str()).collect();
        assert_eq!(
            topics,
            ["realtime:b", "realtime:b", "realtime:org", "realtime:org"]
        );
    }

    #[test]
    fn changes_go_to_channels_whose_caller_may_see_them() {
        let record = json!({"org_id": ORG, "conversation_id": CONV});
        let (dispatcher, _) = joined("d:me:100");
        let (medic, _) = joined("m:me:100");
        let others = change(&MESSAGES, Some(OTHER), None, record.clone());
        let mine = change(&MESSAGES, Some(ME), None, record.clone());
        let to = |ch: &Channels, c: &Change, now| {
            ch.deliveries(c, now)
                .map(|(t, ids)| (t.to_string(), ids.len()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            to(&dispatcher, &others, 10),
            [("realtime:org".to_string(), 1)]
        );
        assert!(
            to(&medic, &others, 10).is_empty(),
            "another medic's conversation"
        );
        assert_eq!(to(&medic, &mine, 10).len(), 1);
        assert_eq!(to(&dispatcher, &others, 130).len(), 1, "within the leeway");
        assert!(to(&dispatcher, &others, 131).is_empty(), "token expired");
        let marker = |user| change(&READ_STATE, Some(ME), Some(user), json!({"user_id": user}));
        assert_eq!(to(&dispatcher, &marker(ME), 10).len(), 1);
        assert!(to(&dispatcher, &marker(OTHER), 10).is_empty());
        let unbound = change(&CONVERSATIONS, Some(ME), None, json!({"org_id": ORG}));
        assert!(
            to(&dispatcher, &unbound, 10).is_empty(),
            "no binding for conversations"
        );
        let mut foreign = others.clone();
        foreign.owner.org_id = OTHER.into();
        assert!(to(&dispatcher, &foreign, 10).is_empty());
    }
}
