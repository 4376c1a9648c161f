//! Server-side Realtime encoding beyond the shared envelope ([`switchboard_wire::Message`]):
//! the `postgres_changes` frame shared by every subscriber of a change, the header of a
//! refused binary push, and why a socket is closed.

use serde_json::{json, Value};
use switchboard_wire::{change as data_field, event, field, Message, Serializer};

use crate::clock::format_commit_timestamp;
use crate::db::{Change, ChangeKind};

/// A small number naming the serializer, for keying a change's shared frames.
pub fn serializer_tag(serializer: Serializer) -> u8 {
    match serializer {
        Serializer::V1 => 1,
        Serializer::V2 => 2,
    }
}

/// The Realtime `data` object of a change: `{schema, table, commit_timestamp, type, columns,
/// errors}` plus `record` (not for deletes) and `old_record` (not for inserts).
pub fn change_data(change: &Change) -> Value {
    let columns: Vec<Value> = change
        .table
        .columns
        .iter()
        .map(|(name, ty)| json!({"name": name, "type": ty.pg_name()}))
        .collect();
    let mut data = json!({
        data_field::SCHEMA: "public",
        data_field::TABLE: change.table.name,
        data_field::COMMIT_TIMESTAMP: format_commit_timestamp(change.commit_micros),
        data_field::TYPE: change.kind.as_str(),
        data_field::COLUMNS: columns,
        data_field::ERRORS: null,
    });
    if change.kind != ChangeKind::Delete {
        data[data_field::RECORD] = change.record.clone().unwrap_or(Value::Null);
    }
    if change.kind != ChangeKind::Insert {
        data[data_field::OLD_RECORD] = change.old_record.clone().unwrap_or(Value::Null);
    }
    data
}

/// Encodes a `postgres_changes` push around pre-serialised `data` JSON (shared by every
/// subscriber of a change, so it is serialised once). Refs are null, as on Realtime's
/// fast lane, so clients never drop it as belonging to an older join.
pub fn encode_change(serializer: Serializer, topic: &str, ids: &[u32], data_json: &str) -> String {
    let topic = Value::String(topic.to_string()).to_string();
    let ids = Value::from(ids.to_vec()).to_string();
    let (event, ids_key, data_key) = (event::POSTGRES_CHANGES, field::IDS, field::DATA);
    let payload = format!("{{\"{ids_key}\":{ids},\"{data_key}\":{data_json}}}");
    match serializer {
        Serializer::V2 => format!("[null,null,{topic},\"{event}\",{payload}]"),
        Serializer::V1 => format!(
            "{{\"topic\":{topic},\"event\":\"{event}\",\"payload\":{payload},\"ref\":null}}"
        ),
    }
}

/// The refs and topic of a vsn 2.0.0 binary user-broadcast push (kind 3), so it can be
/// refused with a proper reply; `None` if the frame is not one. Layout: kind, the lengths
/// of join_ref, ref, topic, event and metadata, an encoding byte, then those strings.
pub fn binary_push_header(bytes: &[u8]) -> Option<Message> {
    if bytes.len() < 7 || bytes[0] != 3 {
        return None;
    }
    let lens = [bytes[1], bytes[2], bytes[3], bytes[4]].map(usize::from);
    let mut at = 7;
    let mut take = |n: usize| -> Option<String> {
        let slice = bytes.get(at..at + n)?;
        at += n;
        String::from_utf8(slice.to_vec()).ok()
    };
    let join_ref = take(lens[0])?;
    let reference = take(lens[1])?;
    let topic = take(lens[2])?;
    let event = take(lens[3])?;
    Some(Message {
        join_ref: Some(join_ref).filter(|s| !s.is_empty()),
        reference: Some(reference).filter(|s| !s.is_empty()),
        topic,
        event,
        payload: Value::Null,
    })
}

/// Why the server closes a websocket; each has its close code (RFC 6455 §7.4.1) and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed the socket, or the connection ended.
    ClientClosed,
    /// Nothing arrived from the client for the idle timeout (Phoenix allows 60 s).
    HeartbeatTimeout,
    /// The server is shutting down.
    ServerStopping,
    /// A text frame that is not a Phoenix message of the connection's serializer.
    MalformedFrame,
    /// A binary frame that is not a vsn 2.0.0 user-broadcast push.
    UnsupportedBinary,
    /// A frame over the size limit, or one the socket could not read.
    FrameTooLarge,
    /// The client does not read fast enough: its send queue is full.
    SlowClient,
    /// The writer side of the connection is already gone.
    ConnectionClosed,
    /// The change feed dropped changes this socket had not read; the client must refetch.
    TooFarBehind,
    /// No channel was joined with a user token within the join deadline
    /// (`Limits::ws_join_timeout_ms`).
    JoinTimeout,
    /// An administrator disabled the socket's user (`admin::disabled`).
    UserDisabled,
}

impl CloseReason {
    /// The websocket close code: 1000 normal, 1001 going away, 1007 bad frame data,
    /// 1008 policy violation, 1009 too big.
    pub fn code(self) -> u16 {
        match self {
            CloseReason::ClientClosed | CloseReason::HeartbeatTimeout => 1000,
            CloseReason::ServerStopping => 1001,
            CloseReason::MalformedFrame | CloseReason::UnsupportedBinary => 1007,
            CloseReason::SlowClient
            | CloseReason::ConnectionClosed
            | CloseReason::TooFarBehind
            | CloseReason::JoinTimeout
            | CloseReason::UserDisabled => 1008,
            CloseReason::FrameTooLarge => 1009,
        }
    }

    /// The close frame's reason text.
    pub fn text(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "bye",
            CloseReason::HeartbeatTimeout => "heartbeat timeout",
            CloseReason::ServerStopping => "server stopping",
            CloseReason::MalformedFrame => "malformed frame",
            CloseReason::UnsupportedBinary => "unsupported binary frame",
            CloseReason::FrameTooLarge => "frame too large or invalid",
            CloseReason::SlowClient => "client is not reading fast enough",
            CloseReason::ConnectionClosed => "connection closed",
            CloseReason::TooFarBehind => "too far behind",
            CloseReason::JoinTimeout => "no channel joined in time",
            CloseReason::UserDisabled => "user disabled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::tables::{MESSAGES, READ_STATE};
    use crate::schema::Ownership;

    #[test]
    fn change_frames_are_valid_json() {
        let data = r#"{"type":"INSERT"}"#;
        let v2: Value = serde_json::from_str(&encode_change(
            Serializer::V2,
            "realtime:a\"b",
            &[1, 2],
            data,
        ))
        .unwrap();
        assert_eq!(v2[4]["ids"], json!([1, 2]));
        assert_eq!(
            (&v2[2], &v2[3]),
            (&json!("realtime:a\"b"), &json!("postgres_changes"))
        );
        assert!(v2[0].is_null() && v2[1].is_null());
        let v1: Value =
            serde_json::from_str(&encode_change(Serializer::V1, "realtime:x", &[3], data)).unwrap();
        assert_eq!(v1["payload"]["data"]["type"], "INSERT");
        assert!(v1["ref"].is_null() && v1.get("join_ref").is_none());
    }

    #[test]
    fn change_data_has_realtimes_fields_per_kind() {
        let change = |table, kind| Change {
            table,
            kind,
            record: Some(json!({"id": "r"})),
            old_record: Some(json!({"id": "o"})),
            commit_micros: 1_764_000_000_123_456,
            owner: Ownership::default(),
            wire: Default::default(),
        };
        let insert = change_data(&change(&MESSAGES, ChangeKind::Insert));
        assert_eq!(insert["record"]["id"], "r");
        assert!(insert.get("old_record").is_none());
        assert_eq!(insert["columns"][0], json!({"name": "id", "type": "uuid"}));
        assert_eq!(insert["commit_timestamp"], "2025-11-24T16:00:00.123Z");
        let update = change_data(&change(&READ_STATE, ChangeKind::Update));
        assert_eq!(
            (update["table"].as_str(), update["type"].as_str()),
            (Some("read_state"), Some("UPDATE"))
        );
        assert_eq!(update["old_record"]["id"], "o");
        let delete = change_data(&change(&MESSAGES, ChangeKind::Delete));
        assert!(delete.get("record").is_none() && delete["errors"].is_null());
    }

    #[test]
    fn reads_binary_push_headers() {
        let mut frame = vec![3u8, 1, 1, 6, 2, 0, 1];
        frame.extend_from_slice(b"45realtimeev{}");
        let m = binary_push_header(&frame).unwrap();
        assert_eq!(
            (
                m.join_ref.as_deref(),
                m.reference.as_deref(),
                m.topic.as_str()
            ),
            (Some("4"), Some("5"), "realti")
        );
        assert!(binary_push_header(&[4, 0]).is_none());
        assert!(binary_push_header(&[3, 9, 9, 9, 9, 0, 0]).is_none());
    }

    #[test]
    fn close_reasons_map_to_websocket_codes() {
        use CloseReason::*;
        for (reason, code) in [
            (ClientClosed, 1000),
            (HeartbeatTimeout, 1000),
            (ServerStopping, 1001),
            (MalformedFrame, 1007),
            (UnsupportedBinary, 1007),
            (SlowClient, 1008),
            (ConnectionClosed, 1008),
            (TooFarBehind, 1008),
            (FrameTooLarge, 1009),
        ] {
            assert_eq!(reason.code(), code, "{reason:?}");
            assert!(!reason.text().is_empty());
        }
    }
}
