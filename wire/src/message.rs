//! The Phoenix message envelope and its two text serializers.

use std::fmt;

use serde_json::{json, Value};

use crate::{event, field};

/// The text form of a connection, chosen by the socket URL's `vsn` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serializer {
    /// vsn 1.0.0: a JSON object `{topic, event, payload, ref, join_ref}`. Phoenix's V1
    /// serializer never writes `join_ref`, so [`Message::encode`] leaves it out too.
    V1,
    /// vsn 2.0.0: a JSON array `[join_ref, ref, topic, event, payload]`; realtime-js's default
    /// since supabase-js 2.91.
    V2,
}

impl Serializer {
    /// Picks the serializer for a `vsn` value: absent means 1.0.0, as in Phoenix; any
    /// `1.x`/`2.x` selects that major version; anything else is `None`.
    pub fn from_vsn(vsn: Option<&str>) -> Option<Serializer> {
        match vsn {
            None => Some(Serializer::V1),
            Some(v) if v.starts_with("1.") => Some(Serializer::V1),
            Some(v) if v.starts_with("2.") => Some(Serializer::V2),
            Some(_) => None,
        }
    }

    /// The `vsn` value a client puts in the socket URL for this serializer.
    pub fn vsn(self) -> &'static str {
        match self {
            Serializer::V1 => "1.0.0",
            Serializer::V2 => "2.0.0",
        }
    }
}

/// One Phoenix message, in either direction.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The join this message belongs to (`null` for heartbeats and fast-lane broadcasts).
    pub join_ref: Option<String>,
    /// Push reference (`ref` on the wire), echoed in the reply that answers it.
    pub reference: Option<String>,
    /// Channel topic, or [`crate::topic::PHOENIX`] for heartbeats.
    pub topic: String,
    /// Event name, one of [`crate::event`].
    pub event: String,
    /// Event payload.
    pub payload: Value,
}

/// Why a text frame is not a Phoenix message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The frame is not JSON at all.
    NotJson,
    /// JSON of the wrong shape for the serializer; says what was expected.
    Shape(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::NotJson => f.write_str("frame is not valid JSON"),
            DecodeError::Shape(what) => write!(f, "frame has the wrong shape: {what}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A ref: a string, or `null`. Some clients send numbers; they are kept as decimal text.
fn opt_ref(value: &Value) -> Result<Option<String>, DecodeError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(DecodeError::Shape("refs must be strings or null")),
    }
}

fn text(value: Option<&Value>, what: &'static str) -> Result<String, DecodeError> {
    value
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or(DecodeError::Shape(what))
}

impl Message {
    /// A `phx_reply` answering `to`: same join ref, ref and topic, payload
    /// `{status, response}`.
    pub fn reply(to: &Message, status: &str, response: Value) -> Message {
        Message {
            join_ref: to.join_ref.clone(),
            reference: to.reference.clone(),
            topic: to.topic.clone(),
            event: event::PHX_REPLY.into(),
            payload: json!({ field::STATUS: status, field::RESPONSE: response }),
        }
    }

    /// The `status` and `response` of a `phx_reply`; `None` for any other message or a reply
    /// missing either.
    pub fn reply_status(&self) -> Option<(&str, &Value)> {
        if self.event != event::PHX_REPLY {
            return None;
        }
        Some((
            self.payload.get(field::STATUS)?.as_str()?,
            self.payload.get(field::RESPONSE)?,
        ))
    }

    /// Decodes a text frame. vsn 1.0.0 requires `topic`, `event`, `payload` and `ref` (which
    /// may be null) and takes `join_ref` when present, as Phoenix's `Message.from_map!` does.
    pub fn decode(serializer: Serializer, frame: &str) -> Result<Message, DecodeError> {
        let value: Value = serde_json::from_str(frame).map_err(|_| DecodeError::NotJson)?;
        match serializer {
            Serializer::V2 => {
                let items = value
                    .as_array()
                    .filter(|a| a.len() == 5)
                    .ok_or(DecodeError::Shape(
                        "expected [join_ref, ref, topic, event, payload]",
                    ))?;
                Ok(Message {
                    join_ref: opt_ref(&items[0])?,
                    reference: opt_ref(&items[1])?,
                    topic: text(items.get(2), "topic must be a string")?,
                    event: text(items.get(3), "event must be a string")?,
                    payload: items[4].clone(),
                })
            }
            Serializer::V1 => {
                let object = value
                    .as_object()
                    .ok_or(DecodeError::Shape("expected a JSON object"))?;
                let (Some(payload), Some(reference)) = (object.get("payload"), object.get("ref"))
                else {
                    return Err(DecodeError::Shape("payload and ref are required"));
                };
                Ok(Message {
                    join_ref: object.get("join_ref").map(opt_ref).transpose()?.flatten(),
                    reference: opt_ref(reference)?,
                    topic: text(object.get("topic"), "topic and event must be strings")?,
                    event: text(object.get("event"), "topic and event must be strings")?,
                    payload: payload.clone(),
                })
            }
        }
    }

    /// Encodes as a text frame.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{status, topic};

    #[test]
    fn decodes_and_encodes_v2() {
        let text = r#"["3","3","realtime:room1","phx_join",{"config":{}}]"#;
        let m = Message::decode(Serializer::V2, text).unwrap();
        assert_eq!(m.join_ref.as_deref(), Some("3"));
        assert_eq!(m.topic, "realtime:room1");
        assert_eq!(m.event, event::PHX_JOIN);
        let reply = Message::reply(&m, status::OK, json!({}));
        assert_eq!(
            reply.encode(Serializer::V2),
            r#"["3","3","realtime:room1","phx_reply",{"response":{},"status":"ok"}]"#
        );
        let hb =
            Message::decode(Serializer::V2, r#"[null,"26","phoenix","heartbeat",{}]"#).unwrap();
        assert_eq!((hb.join_ref, hb.reference.as_deref()), (None, Some("26")));
        assert_eq!(
            (hb.topic.as_str(), hb.event.as_str()),
            (topic::PHOENIX, event::HEARTBEAT)
        );
    }

    #[test]
    fn round_trips_in_both_serializers() {
        let m = Message {
            join_ref: Some("4".into()),
            reference: Some("9".into()),
            topic: "realtime:a\"b".into(),
            event: event::ACCESS_TOKEN.into(),
            payload: json!({"access_token": "t"}),
        };
        assert_eq!(
            Message::decode(Serializer::V2, &m.encode(Serializer::V2)),
            Ok(m.clone())
        );
        let v1 = Message::decode(Serializer::V1, &m.encode(Serializer::V1)).unwrap();
        assert_eq!(v1.join_ref, None, "v1 never carries join_ref out");
        assert_eq!(
            (v1.reference, v1.topic, v1.payload),
            (m.reference, m.topic, m.payload)
        );
    }

    #[test]
    fn numeric_refs_are_kept_as_text() {
        let m = Message::decode(Serializer::V2, r#"[3,4,"t","e",{}]"#).unwrap();
        assert_eq!(
            (m.join_ref.as_deref(), m.reference.as_deref()),
            (Some("3"), Some("4"))
        );
    }

    #[test]
    fn v1_never_writes_join_ref_and_requires_ref() {
        let m = Message::decode(
            Serializer::V1,
            r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"7"}"#,
        )
        .unwrap();
        let out: Value =
            serde_json::from_str(&Message::reply(&m, status::OK, json!({})).encode(Serializer::V1))
                .unwrap();
        assert!(out.get("join_ref").is_none());
        assert_eq!(out["ref"], "7");
        assert!(Message::decode(
            Serializer::V1,
            r#"{"topic":"phoenix","event":"heartbeat","payload":{}}"#
        )
        .is_err());
        let joined = Message::decode(
            Serializer::V1,
            r#"{"topic":"realtime:x","event":"phx_join","payload":{},"ref":null,"join_ref":"2"}"#,
        )
        .unwrap();
        assert_eq!(
            (joined.join_ref.as_deref(), joined.reference),
            (Some("2"), None)
        );
    }

    #[test]
    fn rejects_malformed_frames() {
        assert_eq!(
            Message::decode(Serializer::V2, "nope"),
            Err(DecodeError::NotJson)
        );
        for bad in [
            "[1,2,3]",
            r#"[null,null,5,"e",{}]"#,
            r#"[null,null,"t",5,{}]"#,
            r#"[{},null,"t","e",{}]"#,
            r#"{"a":1}"#,
        ] {
            assert!(
                matches!(
                    Message::decode(Serializer::V2, bad),
                    Err(DecodeError::Shape(_))
                ),
                "{bad}"
            );
        }
        assert!(Message::decode(Serializer::V1, "[]").is_err());
        assert!(Message::decode(
            Serializer::V1,
            r#"{"topic":1,"event":"e","payload":{},"ref":null}"#
        )
        .is_err());
        assert_eq!(
            DecodeError::Shape("x").to_string(),
            "frame has the wrong shape: x"
        );
    }

    #[test]
    fn reads_reply_status() {
        let ask =
            Message::decode(Serializer::V2, r#"[null,"5","phoenix","heartbeat",{}]"#).unwrap();
        let reply = Message::reply(&ask, status::ERROR, json!({"reason": "nope"}));
        let (s, response) = reply.reply_status().unwrap();
        assert_eq!(
            (s, &response[field::REASON]),
            (status::ERROR, &json!("nope"))
        );
        assert_eq!(ask.reply_status(), None, "not a reply");
    }

    #[test]
    fn picks_serializer_by_vsn() {
        assert_eq!(Serializer::from_vsn(None), Some(Serializer::V1));
        assert_eq!(Serializer::from_vsn(Some("1.0.0")), Some(Serializer::V1));
        assert_eq!(Serializer::from_vsn(Some("2.0.0")), Some(Serializer::V2));
        assert_eq!(Serializer::from_vsn(Some("9")), None);
        for s in [Serializer::V1, Serializer::V2] {
            assert_eq!(Serializer::from_vsn(Some(s.vsn())), Some(s));
        }
    }

    #[test]
    fn sub_topic_strips_the_prefix() {
        assert_eq!(topic::sub_topic("realtime:room1"), "room1");
        assert_eq!(topic::sub_topic("phoenix"), "phoenix");
    }
}
