//! The connection state machine as a pure reducer: inputs in, commands out.

use serde_json::Value;

use super::invalidation::keys_for_change;
use super::protocol;
use crate::backoff::Backoff;
use crate::cache::QueryKey;
use switchboard_wire::{event, field, status, topic};

/// Heartbeat period, as realtime-js uses.
pub const HEARTBEAT_MS: u32 = 25_000;

/// What the header shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// First connection under way.
    Connecting,
    /// Joined: events flow.
    Live,
    /// Lost the connection; trying again.
    Reconnecting,
    /// Stopped (signed out).
    Offline,
}

impl ConnectionStatus {
    /// The header text.
    pub fn label(self) -> &'static str {
        match self {
            ConnectionStatus::Connecting => "Connecting…",
            ConnectionStatus::Live => "Live",
            ConnectionStatus::Reconnecting => "Reconnecting…",
            ConnectionStatus::Offline => "Offline",
        }
    }
}

/// Events the machine reacts to.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Begin connecting.
    Start,
    /// The socket opened.
    Opened,
    /// The socket closed or failed.
    Closed,
    /// A text frame arrived.
    Text(String),
    /// The heartbeat timer fired.
    HeartbeatTick,
    /// The reconnect timer fired.
    RetryDue,
    /// The tab became visible or the browser came online: skip the wait.
    Wake,
    /// The session's access token changed (None: signed out).
    Token(Option<String>),
    /// Shut down for good.
    Stop,
}

/// What the driver must do (named so it clashes with nothing in Leptos's prelude, which has
/// its own `Action` and `Effect`).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Open a new socket (closing any old one).
    Open,
    /// Send a text frame.
    Send(String),
    /// Close the socket without reporting `Closed` back.
    Close,
    /// Feed `RetryDue` after this many milliseconds.
    ScheduleRetry(u32),
    /// Make these queries stale.
    Invalidate(Vec<QueryKey>),
    /// A change of ours arrived: its postgres_changes `data` object, for listeners that act
    /// on the event itself (alerts). Never a source of cached data.
    Changed(Value),
    /// Make every query stale (events may have been missed).
    InvalidateAll,
    /// Show a new status.
    Status(ConnectionStatus),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Connecting,
    Joining,
    Joined,
    Waiting,
    Stopped,
}

/// Connection state for one org channel.
#[derive(Debug, Clone)]
pub struct Machine {
    org_id: String,
    user_id: String,
    token: Option<String>,
    phase: Phase,
    attempt: u32,
    next_ref: u64,
    join_ref: Option<String>,
    pending_heartbeat: Option<String>,
    binding_ids: Vec<u64>,
    ever_joined: bool,
}

impl Machine {
    /// A machine for the signed-in user's org channel.
    pub fn new(org_id: &str, user_id: &str, token: Option<String>) -> Self {
        Machine {
            org_id: org_id.into(),
            user_id: user_id.into(),
            token,
            phase: Phase::Idle,
            attempt: 0,
            next_ref: 0,
            join_ref: None,
            pending_heartbeat: None,
            binding_ids: Vec::new(),
            ever_joined: false,
        }
    }

    fn make_ref(&mut self) -> String {
        self.next_ref += 1;
        self.next_ref.to_string()
    }

    fn status(&self) -> ConnectionStatus {
        match self.phase {
            Phase::Joined => ConnectionStatus::Live,
            Phase::Stopped => ConnectionStatus::Offline,
            _ if self.ever_joined || self.attempt > 0 => ConnectionStatus::Reconnecting,
            _ => ConnectionStatus::Connecting,
        }
    }

    fn open(&mut self, out: &mut Vec<Command>) {
        self.phase = Phase::Connecting;
        self.pending_heartbeat = None;
        out.push(Command::Open);
        out.push(Command::Status(self.status()));
    }

    fn lost(&mut self, jitter: f64, out: &mut Vec<Command>) {
        self.phase = Phase::Waiting;
        self.join_ref = None;
        self.pending_heartbeat = None;
        let delay = Backoff::RECONNECT.delay_ms(self.attempt, jitter);
        self.attempt += 1;
        out.push(Command::ScheduleRetry(delay as u32));
        out.push(Command::Status(self.status()));
    }

    /// Applies one input; `jitter` in [0, 1) randomises reconnect delays.
    pub fn step(&mut self, input: Input, jitter: f64) -> Vec<Command> {
        let mut out = Vec::new();
        if self.phase == Phase::Stopped {
            return out;
        }
        match input {
            Input::Start => {
                if self.token.is_some() && self.phase == Phase::Idle {
                    self.open(&mut out);
                }
            }
            Input::Opened => {
                if self.phase == Phase::Connecting {
                    if let Some(token) = self.token.clone() {
                        let r = self.make_ref();
                        self.join_ref = Some(r.clone());
                        self.phase = Phase::Joining;
                        out.push(Command::Send(protocol::encode(&protocol::join_message(
                            &self.org_id,
                            &self.user_id,
                            &token,
                            &r,
                        ))));
                    }
                }
            }
            Input::Closed => {
                if matches!(
                    self.phase,
                    Phase::Connecting | Phase::Joining | Phase::Joined
                ) {
                    self.lost(jitter, &mut out);
                }
            }
            Input::RetryDue => {
                if self.phase == Phase::Waiting {
                    self.open(&mut out);
                }
            }
            Input::Wake => {
                if self.phase == Phase::Waiting {
                    self.open(&mut out);
                }
            }
            Input::HeartbeatTick => {
                if matches!(self.phase, Phase::Joining | Phase::Joined) {
                    if self.pending_heartbeat.is_some() {
                        // No answer for a whole period: the connection is dead even if the
                        // socket has not noticed.
                        out.push(Command::Close);
                        self.lost(jitter, &mut out);
                    } else {
                        let r = self.make_ref();
                        out.push(Command::Send(protocol::encode(
                            &protocol::heartbeat_message(&r),
                        )));
                        self.pending_heartbeat = Some(r);
                    }
                }
            }
            Input::Token(token) => {
                self.token = token.clone();
                match token {
                    None => {
                        self.phase = Phase::Stopped;
                        out.push(Command::Close);
                        out.push(Command::Status(ConnectionStatus::Offline));
                    }
                    Some(t) => match (self.phase, &self.join_ref) {
                        (Phase::Joined, Some(join_ref)) => {
                            let jr = join_ref.clone();
                            let r = self.make_ref();
                            let topic = protocol::org_topic(&self.org_id);
                            out.push(Command::Send(protocol::encode(
                                &protocol::access_token_message(&topic, &jr, &r, &t),
                            )));
                        }
                        (Phase::Idle, _) => self.open(&mut out),
                        _ => {}
                    },
                }
            }
            Input::Stop => {
                self.phase = Phase::Stopped;
                out.push(Command::Close);
                out.push(Command::Status(ConnectionStatus::Offline));
            }
            Input::Text(text) => self.on_text(&text, jitter, &mut out),
        }
        out
    }

    fn on_text(&mut self, text: &str, jitter: f64, out: &mut Vec<Command>) {
        let Ok(message) = protocol::decode(text) else {
            return;
        };
        let org_topic = protocol::org_topic(&self.org_id);
        if message.topic == topic::PHOENIX {
            if message.event == event::PHX_REPLY && message.reference == self.pending_heartbeat {
                self.pending_heartbeat = None;
            }
            return;
        }
        if message.topic != org_topic {
            return;
        }
        if let Some((status, response)) = message.reply_status() {
            if self.phase == Phase::Joining && message.reference == self.join_ref {
                let sent = protocol::org_bindings(&self.org_id, &self.user_id);
                match (status, protocol::matched_binding_ids(&sent, response)) {
                    (status::OK, Some(ids)) => {
                        self.phase = Phase::Joined;
                        self.attempt = 0;
                        self.binding_ids = ids;
                        self.ever_joined = true;
                        // Whatever happened while we were not subscribed is unknown: refetch.
                        out.push(Command::InvalidateAll);
                        out.push(Command::Status(ConnectionStatus::Live));
                    }
                    _ => {
                        out.push(Command::Close);
                        self.lost(jitter, out);
                    }
                }
            }
            return;
        }
        // Messages of an older join are not ours (phoenix.js drops them too).
        if message.join_ref.is_some() && message.join_ref != self.join_ref {
            return;
        }
        match message.event.as_str() {
            event::POSTGRES_CHANGES => {
                if let Some((ids, data)) = protocol::change_of(&message) {
                    if self.phase == Phase::Joined
                        && ids.iter().any(|i| self.binding_ids.contains(i))
                    {
                        let keys = keys_for_change(data);
                        if !keys.is_empty() {
                            out.push(Command::Invalidate(keys));
                        }
                        out.push(Command::Changed(data.clone()));
                    }
                }
            }
            event::SYSTEM => {
                let state = message.payload.get(field::STATUS).and_then(Value::as_str);
                let extension = message
                    .payload
                    .get(field::EXTENSION)
                    .and_then(Value::as_str);
                if state == Some(status::OK)
                    && extension == Some(event::POSTGRES_CHANGES)
                    && self.phase == Phase::Joined
                {
                    // Hosted Realtime subscribes to the database only now, a second or more
                    // after the join reply (and again after a token swap): a change committed
                    // in between has no event, so refetch once more.
                    out.push(Command::InvalidateAll);
                }
                let failed = state == Some(status::ERROR);
                if failed && self.phase == Phase::Joined {
                    // e.g. the token expired: the server closes the channel; rejoin fresh.
                    out.push(Command::Close);
                    self.lost(jitter, out);
                }
            }
            event::PHX_CLOSE | event::PHX_ERROR => {
                if matches!(self.phase, Phase::Joined | Phase::Joining) {
                    out.push(Command::Close);
                    self.lost(jitter, out);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchboard_wire::Message;

    fn joined() -> (Machine, String) {
        let mut m = Machine::new("o1", "u1", Some("t1".into()));
        assert_eq!(
            m.step(Input::Start, 0.0),
            vec![Command::Open, Command::Status(ConnectionStatus::Connecting)]
        );
        let out = m.step(Input::Opened, 0.0);
        let Command::Send(join) = &out[0] else {
            panic!("{out:?}")
        };
        let join = protocol::decode(join).unwrap();
        assert_eq!(join.event, "phx_join");
        assert_eq!(join.payload["access_token"], "t1");
        let r = join.reference.clone().unwrap();
        let mut response = json!({"postgres_changes": protocol::org_bindings("o1", "u1")});
        for (i, b) in response["postgres_changes"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .enumerate()
        {
            b["id"] = json!(100 + i);
        }
        let reply = Message {
            join_ref: Some(r.clone()),
            reference: Some(r.clone()),
            topic: protocol::org_topic("o1"),
            event: "phx_reply".into(),
            payload: json!({"status": "ok", "response": response}),
        };
        let out = m.step(Input::Text(protocol::encode(&reply)), 0.0);
        assert_eq!(
            out,
            vec![
                Command::InvalidateAll,
                Command::Status(ConnectionStatus::Live)
            ]
        );
        (m, r)
    }

    fn change(ids: &[u64], table: &str, conv: &str) -> String {
        protocol::encode(&Message {
            join_ref: None,
            reference: None,
            topic: protocol::org_topic("o1"),
            event: "postgres_changes".into(),
            payload: json!({"ids": ids, "data": {"table": table, "type": "INSERT", "record": {"conversation_id": conv}}}),
        })
    }

    #[test]
    fn joins_and_turns_changes_into_invalidations() {
        let (mut m, _) = joined();
        let out = m.step(Input::Text(change(&[100], "messages", "c9")), 0.0);
        assert_eq!(
            out,
            vec![
                Command::Invalidate(vec![
                    QueryKey::messages("c9"),
                    QueryKey::conversations(),
                    QueryKey::unread_total(),
                    QueryKey::unacked_urgent_total(),
                ]),
                Command::Changed(
                    json!({"table": "messages", "type": "INSERT", "record": {"conversation_id": "c9"}})
                ),
            ],
            "the event invalidates and is handed to listeners (alerts) as it came"
        );
        assert!(
            m.step(Input::Text(change(&[555], "messages", "c9")), 0.0)
                .is_empty(),
            "not our binding ids"
        );
        assert!(m.step(Input::Text("garbage".into()), 0.0).is_empty());
    }

    #[test]
    fn a_close_reconnects_with_growing_backoff_then_rejoins_and_refetches() {
        let (mut m, _) = joined();
        assert_eq!(
            m.step(Input::Closed, 1.0),
            vec![
                Command::ScheduleRetry(1000),
                Command::Status(ConnectionStatus::Reconnecting)
            ]
        );
        assert_eq!(
            m.step(Input::RetryDue, 0.0),
            vec![
                Command::Open,
                Command::Status(ConnectionStatus::Reconnecting)
            ]
        );
        assert_eq!(
            m.step(Input::Closed, 1.0),
            vec![
                Command::ScheduleRetry(2000),
                Command::Status(ConnectionStatus::Reconnecting)
            ]
        );
        m.step(Input::RetryDue, 0.0);
        let out = m.step(Input::Opened, 0.0);
        let Command::Send(join) = &out[0] else {
            panic!()
        };
        let join = protocol::decode(join).unwrap();
        assert_eq!(
            join.payload["config"]["postgres_changes"]
                .as_array()
                .unwrap()
                .len(),
            4,
            "the full join payload again"
        );
    }

    #[test]
    fn waking_skips_the_wait() {
        let (mut m, _) = joined();
        m.step(Input::Closed, 0.0);
        assert_eq!(m.step(Input::Wake, 0.0)[0], Command::Open);
        assert!(m.step(Input::Wake, 0.0).is_empty(), "only while waiting");
    }

    #[test]
    fn missing_heartbeat_reply_means_dead() {
        let (mut m, _) = joined();
        let out = m.step(Input::HeartbeatTick, 0.0);
        let Command::Send(hb) = &out[0] else { panic!() };
        let hb = protocol::decode(hb).unwrap();
        let reply = Message {
            join_ref: None,
            reference: hb.reference.clone(),
            topic: "phoenix".into(),
            event: "phx_reply".into(),
            payload: json!({"status": "ok", "response": {}}),
        };
        assert!(m
            .step(Input::Text(protocol::encode(&reply)), 0.0)
            .is_empty());
        let out = m.step(Input::HeartbeatTick, 0.0);
        assert!(
            matches!(out[0], Command::Send(_)),
            "answered, so a new heartbeat"
        );
        let out = m.step(Input::HeartbeatTick, 0.0);
        assert_eq!(out[0], Command::Close, "unanswered: reconnect");
        assert!(matches!(out[1], Command::ScheduleRetry(_)));
    }

    #[test]
    fn refreshed_tokens_go_to_the_channel_and_into_rejoins() {
        let (mut m, join_ref) = joined();
        let out = m.step(Input::Token(Some("t2".into())), 0.0);
        let Command::Send(f) = &out[0] else { panic!() };
        let f = protocol::decode(f).unwrap();
        assert_eq!(
            (
                f.event.as_str(),
                f.join_ref.as_deref(),
                f.payload["access_token"].as_str()
            ),
            ("access_token", Some(join_ref.as_str()), Some("t2"))
        );
        m.step(Input::Closed, 0.0);
        m.step(Input::RetryDue, 0.0);
        let Command::Send(join) = &m.step(Input::Opened, 0.0)[0] else {
            panic!()
        };
        assert_eq!(
            protocol::decode(join).unwrap().payload["access_token"],
            "t2"
        );
        assert_eq!(
            m.step(Input::Token(None), 0.0),
            vec![Command::Close, Command::Status(ConnectionStatus::Offline)]
        );
        assert!(m.step(Input::RetryDue, 0.0).is_empty(), "stopped for good");
    }

    #[test]
    fn join_errors_and_server_shutdowns_reconnect() {
        let mut m = Machine::new("o1", "u1", Some("t".into()));
        m.step(Input::Start, 0.0);
        let Command::Send(join) = &m.step(Input::Opened, 0.0)[0] else {
            panic!()
        };
        let r = protocol::decode(join).unwrap().reference;
        let err = Message {
            join_ref: r.clone(),
            reference: r,
            topic: protocol::org_topic("o1"),
            event: "phx_reply".into(),
            payload: json!({"status": "error", "response": {"reason": "Unauthorized"}}),
        };
        let out = m.step(Input::Text(protocol::encode(&err)), 0.0);
        assert_eq!(out[0], Command::Close);
        assert!(matches!(out[1], Command::ScheduleRetry(_)));

        let (mut m, jr) = joined();
        let sys = Message {
            join_ref: Some(jr.clone()),
            reference: None,
            topic: protocol::org_topic("o1"),
            event: "system".into(),
            payload: json!({"status": "error", "message": "Token has expired 3 seconds ago"}),
        };
        assert_eq!(
            m.step(Input::Text(protocol::encode(&sys)), 0.0)[0],
            Command::Close
        );
        let (mut m, _) = joined();
        let stale = Message {
            join_ref: Some("999".into()),
            reference: Some("999".into()),
            topic: protocol::org_topic("o1"),
            event: "phx_close".into(),
            payload: json!({}),
        };
        assert!(
            m.step(Input::Text(protocol::encode(&stale)), 0.0)
                .is_empty(),
            "an old join's close is ignored"
        );
    }

    #[test]
    fn subscribed_to_postgres_refetches_what_the_gap_after_the_join_missed() {
        let (mut m, jr) = joined();
        let subscribed = Message {
            join_ref: Some(jr),
            reference: None,
            topic: protocol::org_topic("o1"),
            event: "system".into(),
            payload: json!({"extension": "postgres_changes", "status": "ok",
                "message": "Subscribed to PostgreSQL", "channel": "org:o1"}),
        };
        assert_eq!(
            m.step(Input::Text(protocol::encode(&subscribed)), 0.0),
            vec![Command::InvalidateAll]
        );
    }

    #[test]
    fn a_binding_mismatch_is_a_failed_join() {
        let mut m = Machine::new("o1", "u1", Some("t".into()));
        m.step(Input::Start, 0.0);
        let Command::Send(join) = &m.step(Input::Opened, 0.0)[0] else {
            panic!()
        };
        let r = protocol::decode(join).unwrap().reference;
        let reply = Message {
            join_ref: r.clone(),
            reference: r,
            topic: protocol::org_topic("o1"),
            event: "phx_reply".into(),
            payload: json!({"status": "ok", "response": {"postgres_changes": []}}),
        };
        assert_eq!(
            m.step(Input::Text(protocol::encode(&reply)), 0.0)[0],
            Command::Close
        );
    }

    #[test]
    fn labels() {
        assert_eq!(ConnectionStatus::Reconnecting.label(), "Reconnecting…");
        assert_eq!(ConnectionStatus::Live.label(), "Live");
    }
}
