//! Phoenix channel frames in both serializers: vsn 1.0.0 (JSON objects) and 2.0.0 (arrays).

use serde_json::{json, Value};

/// The wire format chosen per connection by the `vsn` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serializer {
    /// `{topic, event, payload, ref, join_ref}`; the server never writes `join_ref`.
    V1,
    /// `[join_ref, ref, topic, event, payload]`.
    V2,
}

impl Serializer {
    /// A small number naming the serializer, for keying shared frames.
    pub fn tag(self) -> u8 {
        match self {
            Serializer::V1 => 1,
            Serializer::V2 => 2,
        }
    }

    /// Picks the serializer for a `vsn` value; absent means 1.0.0, as Phoenix does.
    pub fn from_vsn(vsn: Option<&str>) -> Option<Serializer> {
        match vsn {
            None => Some(Serializer::V1),
            Some(v) if v.starts_with("1.") => Some(Serializer::V1),
            Some(v) if v.starts_with("2.") => Some(Serializer::V2),
            Some(_) => None,
        }
    }
}

/// One Phoenix message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The join this message belongs to.
    pub join_ref: Option<String>,
    /// Request reference, echoed in the reply.
    pub reference: Option<String>,
    /// Channel topic (`phoenix` for heartbeats).
    pub topic: String,
    /// Event name.
    pub event: String,
    /// Event payload.
    pub payload: Value,
}

/// Why an incoming frame was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not JSON at all.
    #[error("frame is not valid JSON")]
    NotJson,
    /// JSON of the wrong shape for the negotiated serializer.
    #[error("frame has the wrong shape: {0}")]
    Shape(&'static str),
}

fn opt_string(value: &Value) -> Result<Option<String>, FrameError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        // Some clients send refs as numbers; keep them as their decimal text.
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(FrameError::Shape("refs must be strings or null")),
    }
}

impl Message {
    /// A reply to `to` with a status and response body.
    pub fn reply(to: &Message, status: &str, response: Value) -> Message {
        Message {
            join_ref: to.join_ref.clone(),
            reference: to.reference.clone(),
            topic: to.topic.clone(),
            event: "phx_reply".into(),
            payload: json!({"status": status, "response": response}),
        }
    }

    /// Decodes a text frame.
    pub fn decode(serializer: Serializer, text: &str) -> Result<Message, FrameError> {
        let value: Value = serde_json::from_str(text).map_err(|_| FrameError::NotJson)?;
        match serializer {
            Serializer::V2 => {
                let items = value
                    .as_array()
                    .filter(|a| a.len() == 5)
                    .ok_or(FrameError::Shape(
                        "expected [join_ref, ref, topic, event, payload]",
                    ))?;
                Ok(Message {
                    join_ref: opt_string(&items[0])?,
                    reference: opt_string(&items[1])?,
                    topic: items[2]
                        .as_str()
                        .ok_or(FrameError::Shape("topic must be a string"))?
                        .to_string(),
                    event: items[3]
                        .as_str()
                        .ok_or(FrameError::Shape("event must be a string"))?
                        .to_string(),
                    payload: items[4].clone(),
                })
            }
            Serializer::V1 => {
                let object = value
                    .as_object()
                    .ok_or(FrameError::Shape("expected a JSON object"))?;
                let text_field = |name: &'static str| {
                    object
                        .get(name)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or(FrameError::Shape("topic and event must be strings"))
                };
                if !object.contains_key("payload") || !object.contains_key("ref") {
                    return Err(FrameError::Shape("payload and ref are required"));
                }
                Ok(Message {
                    join_ref: object
                        .get("join_ref")
                        .map(opt_string)
                        .transpose()?
                        .flatten(),
                    reference: opt_string(&object["ref"])?,
                    topic: text_field("topic")?,
                    event: text_field("event")?,
                    payload: object["payload"].clone(),
                })
            }
        }
    }

    /// Encodes for sending.
    pub fn encode(&self, serializer: Serializer) -> String {
        let value = match serializer {
            Serializer::V2 => json!([
                self.join_ref,
                self.reference,
                self.topic,
                self.event,
                self.payload
            ]),
            Serializer::V1 => json!({
                "topic": self.topic, "event": self.event, "payload": self.payload, "ref": self.reference,
            }),
        };
        value.to_string()
    }
}

/// Encodes a `postgres_changes` push around pre-serialised `data` JSON (shared by every
/// subscriber of a change, so it is serialised once).
pub fn encode_change(serializer: Serializer, topic: &str, ids: &[u32], data_json: &str) -> String {
    let topic = Value::String(topic.to_string()).to_string();
    let ids = Value::from(ids.to_vec()).to_string();
    match serializer {
        Serializer::V2 => format!(
            "[null,null,{topic},\"postgres_changes\",{{\"ids\":{ids},\"data\":{data_json}}}]"
        ),
        Serializer::V1 => format!(
            "{{\"topic\":{topic},\"event\":\"postgres_changes\",\"payload\":{{\"ids\":{ids},\"data\":{data_json}}},\"ref\":null}}"
        ),
    }
}

/// The refs and topic of a vsn 2.0.0 binary user-broadcast push (kind 3), so it can be
/// refused with a proper reply; `None` if the frame is not one.
pub fn binary_push_header(bytes: &[u8]) -> Option<Message> {
    // kind, then lengths of join_ref, ref, topic, event, metadata, then the encoding byte.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_encodes_v2() {
        let text = r#"["3","3","realtime:room1","phx_join",{"config":{}}]"#;
        let m = Message::decode(Serializer::V2, text).unwrap();
        assert_eq!(m.join_ref.as_deref(), Some("3"));
        assert_eq!(m.topic, "realtime:room1");
        let reply = Message::reply(&m, "ok", json!({}));
        assert_eq!(
            reply.encode(Serializer::V2),
            r#"["3","3","realtime:room1","phx_reply",{"response":{},"status":"ok"}]"#
        );
        let hb =
            Message::decode(Serializer::V2, r#"[null,"26","phoenix","heartbeat",{}]"#).unwrap();
        assert_eq!((hb.join_ref, hb.reference.as_deref()), (None, Some("26")));
    }

    #[test]
    fn v1_never_writes_join_ref_and_requires_ref() {
        let m = Message::decode(
            Serializer::V1,
            r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"7"}"#,
        )
        .unwrap();
        let out: Value =
            serde_json::from_str(&Message::reply(&m, "ok", json!({})).encode(Serializer::V1))
                .unwrap();
        assert!(out.get("join_ref").is_none());
        assert_eq!(out["ref"], "7");
        assert!(Message::decode(
            Serializer::V1,
            r#"{"topic":"phoenix","event":"heartbeat","payload":{}}"#
        )
        .is_err());
    }

    #[test]
    fn rejects_malformed_frames() {
        assert_eq!(
            Message::decode(Serializer::V2, "nope"),
            Err(FrameError::NotJson)
        );
        assert!(Message::decode(Serializer::V2, "[1,2,3]").is_err());
        assert!(Message::decode(Serializer::V2, r#"[null,null,5,"e",{}]"#).is_err());
        assert!(Message::decode(Serializer::V2, r#"[{},null,"t","e",{}]"#).is_err());
        assert!(Message::decode(Serializer::V1, "[]").is_err());
    }

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
        assert_eq!(v2[2], "realtime:a\"b");
        assert!(v2[0].is_null() && v2[1].is_null());
        let v1: Value =
            serde_json::from_str(&encode_change(Serializer::V1, "realtime:x", &[3], data)).unwrap();
        assert_eq!(v1["payload"]["data"]["type"], "INSERT");
    }

    #[test]
    fn picks_serializer_by_vsn() {
        assert_eq!(Serializer::from_vsn(None), Some(Serializer::V1));
        assert_eq!(Serializer::from_vsn(Some("2.0.0")), Some(Serializer::V2));
        assert_eq!(Serializer::from_vsn(Some("9")), None);
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
}
