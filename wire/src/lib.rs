//! Switchboard's realtime vocabulary, shared by both ends of the websocket.
//!
//! The web app (wasm) and the embedded server speak Supabase Realtime's Phoenix channel
//! protocol to each other. This crate holds what both must spell the same way: the
//! [`Message`] envelope with its two serializers, one constant per event, topic, reply
//! status and shared payload field name, and the values of the data both read
//! ([`Priority`]). The rules follow Phoenix (`phoenix.js`,
//! `Phoenix.Socket.V1.JSONSerializer`) and Supabase Realtime (`V2Serializer`,
//! `RealtimeChannel`).

mod message;
mod priority;
pub mod text;

pub use message::{DecodeError, Message, Serializer};
pub use priority::Priority;

/// Event names (the fourth element of a vsn 2.0.0 frame).
pub mod event {
    /// Client → server: join a channel; the payload carries the config and access token.
    pub const PHX_JOIN: &str = "phx_join";
    /// Server → client: the answer to a push, matched to it by `ref`.
    pub const PHX_REPLY: &str = "phx_reply";
    /// Client → server: leave a channel (answered, then closed with [`PHX_CLOSE`]).
    pub const PHX_LEAVE: &str = "phx_leave";
    /// Server → client: the channel ended normally; realtime-js does not rejoin.
    pub const PHX_CLOSE: &str = "phx_close";
    /// Server → client: the channel crashed; the client rejoins with backoff.
    pub const PHX_ERROR: &str = "phx_error";
    /// Client → server on topic [`super::topic::PHOENIX`]: keeps the socket alive.
    pub const HEARTBEAT: &str = "heartbeat";
    /// Client → server: a refreshed user token for a joined channel; never answered.
    pub const ACCESS_TOKEN: &str = "access_token";
    /// Server → client: one committed row change, payload `{ids, data}`.
    pub const POSTGRES_CHANGES: &str = "postgres_changes";
    /// Server → client: subscription status or a channel-level error.
    pub const SYSTEM: &str = "system";
    /// User broadcast messages (not offered by the embedded server).
    pub const BROADCAST: &str = "broadcast";
    /// Presence snapshot (not offered by the embedded server).
    pub const PRESENCE_STATE: &str = "presence_state";
    /// Presence changes (not offered by the embedded server).
    pub const PRESENCE_DIFF: &str = "presence_diff";
}

/// Topic names.
pub mod topic {
    /// The socket-level topic that heartbeats travel on.
    pub const PHOENIX: &str = "phoenix";
    /// Every channel topic starts with this; Realtime answers any other with "unmatched topic".
    pub const PREFIX: &str = "realtime:";

    /// The channel name inside a topic (`realtime:room1` → `room1`), as Realtime reports it
    /// in `system` messages; a topic without the prefix is returned unchanged.
    pub fn sub_topic(topic: &str) -> &str {
        topic.strip_prefix(PREFIX).unwrap_or(topic)
    }
}

/// Values of a reply's `status` (and of a `system` message's `status`).
pub mod status {
    /// The push succeeded.
    pub const OK: &str = "ok";
    /// The push failed; a reply then carries `response.reason`.
    pub const ERROR: &str = "error";
}

/// Payload field names read on one side and written on the other.
pub mod field {
    /// `phx_reply` and `system`: [`super::status::OK`] or [`super::status::ERROR`].
    pub const STATUS: &str = "status";
    /// `phx_reply`: the answer's body.
    pub const RESPONSE: &str = "response";
    /// `phx_reply` error responses: why, as `"Code: message"`.
    pub const REASON: &str = "reason";
    /// `phx_join` and `access_token` payloads: the user's JWT.
    pub const ACCESS_TOKEN: &str = super::event::ACCESS_TOKEN;
    /// `phx_join`: the channel configuration object.
    pub const CONFIG: &str = "config";
    /// `config.postgres_changes` in a join and `response.postgres_changes` in its reply: the
    /// bindings, echoed in order with a server `id` each.
    pub const POSTGRES_CHANGES: &str = super::event::POSTGRES_CHANGES;
    /// A binding's server id, echoed in the join reply.
    pub const ID: &str = "id";
    /// `postgres_changes`: the binding ids this change matched on the channel.
    pub const IDS: &str = "ids";
    /// `postgres_changes`: the change itself (fields in [`super::change`]).
    pub const DATA: &str = "data";
    /// `system`: which part speaks, [`super::event::POSTGRES_CHANGES`] or
    /// [`super::event::SYSTEM`].
    pub const EXTENSION: &str = "extension";
    /// `system`: human-readable text.
    pub const MESSAGE: &str = "message";
    /// `system`: the channel name without [`super::topic::PREFIX`].
    pub const CHANNEL: &str = "channel";
}

/// Field names of a `postgres_changes` event's `data` object.
pub mod change {
    /// Always `public` here.
    pub const SCHEMA: &str = "schema";
    /// The changed table.
    pub const TABLE: &str = "table";
    /// ISO-8601 UTC with milliseconds and `Z`.
    pub const COMMIT_TIMESTAMP: &str = "commit_timestamp";
    /// `INSERT`, `UPDATE` or `DELETE`.
    pub const TYPE: &str = "type";
    /// `[{name, type}]` of the table's columns.
    pub const COLUMNS: &str = "columns";
    /// The row after the change (absent for deletes).
    pub const RECORD: &str = "record";
    /// The row's key before the change (absent for inserts).
    pub const OLD_RECORD: &str = "old_record";
    /// `null`, or Realtime's per-change error strings.
    pub const ERRORS: &str = "errors";
}
