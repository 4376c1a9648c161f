//! Phoenix channel frames, vsn 2.0.0 (`[join_ref, ref, topic, event, payload]`), as current
//! realtime-js speaks them.

use serde_json::{json, Value};

/// One Phoenix message.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The join this message belongs to.
    pub join_ref: Option<String>,
    /// Request reference (echoed in replies).
    pub reference: Option<String>,
    /// Channel topic, or `phoenix` for heartbeats.
    pub topic: String,
    /// Event name.
    pub event: String,
    /// Payload.
    pub payload: Value,
}

/// A frame that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed realtime frame: {0}")]
pub struct DecodeError(pub &'static str);

fn opt_text(v: &Value) -> Result<Option<String>, DecodeError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(DecodeError("refs must be strings or null")),
    }
}

impl Frame {
    /// Encodes as a vsn 2.0.0 text frame.
    pub fn encode(&self) -> String {
        json!([
            self.join_ref,
            self.reference,
            self.topic,
            self.event,
            self.payload
        ])
        .to_string()
    }

    /// Decodes a vsn 2.0.0 text frame.
    pub fn decode(text: &str) -> Result<Frame, DecodeError> {
        let v: Value = serde_json::from_str(text).map_err(|_| DecodeError("not JSON"))?;
        let a = v
            .as_array()
            .filter(|a| a.len() == 5)
            .ok_or(DecodeError("expected a 5-element array"))?;
        Ok(Frame {
            join_ref: opt_text(&a[0])?,
            reference: opt_text(&a[1])?,
            topic: a[2]
                .as_str()
                .ok_or(DecodeError("topic must be a string"))?
                .to_string(),
            event: a[3]
                .as_str()
                .ok_or(DecodeError("event must be a string"))?
                .to_string(),
            payload: a[4].clone(),
        })
    }
}

/// The org channel's topic.
pub fn org_topic(org_id: &str) -> String {
    format!("realtime:web-messages:org_{org_id}")
}

/// The three postgres_changes bindings of the dashboard (DESIGN.md §4), in order.
pub fn org_bindings(org_id: &str, user_id: &str) -> Value {
    json!([
        {"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("org_id=eq.{org_id}")},
        {"event": "UPDATE", "schema": "public", "table": "conversations", "filter": format!("org_id=eq.{org_id}")},
        {"event": "*", "schema": "public", "table": "read_state", "filter": format!("user_id=eq.{user_id}")},
    ])
}

/// The `phx_join` frame for the org channel.
pub fn join_frame(org_id: &str, user_id: &str, token: &str, reference: &str) -> Frame {
    Frame {
        join_ref: Some(reference.to_string()),
        reference: Some(reference.to_string()),
        topic: org_topic(org_id),
        event: "phx_join".into(),
        payload: json!({
            "config": {
                "broadcast": {"ack": false, "self": false},
                "presence": {"key": "", "enabled": false},
                "postgres_changes": org_bindings(org_id, user_id),
                "private": false,
            },
            "access_token": token,
        }),
    }
}

/// A heartbeat on the `phoenix` topic.
pub fn heartbeat_frame(reference: &str) -> Frame {
    Frame {
        join_ref: None,
        reference: Some(reference.into()),
        topic: "phoenix".into(),
        event: "heartbeat".into(),
        payload: json!({}),
    }
}

/// Hands a refreshed token to a joined channel (no reply expected).
pub fn access_token_frame(topic: &str, join_ref: &str, reference: &str, token: &str) -> Frame {
    Frame {
        join_ref: Some(join_ref.into()),
        reference: Some(reference.into()),
        topic: topic.into(),
        event: "access_token".into(),
        payload: json!({"access_token": token}),
    }
}

/// The reply status and response of a `phx_reply`.
pub fn reply_status(frame: &Frame) -> Option<(&str, &Value)> {
    if frame.event != "phx_reply" {
        return None;
    }
    Some((
        frame.payload.get("status")?.as_str()?,
        frame.payload.get("response")?,
    ))
}

/// Checks the join reply's bindings as realtime-js does (same event/schema/table/filter, in
/// order) and returns the server ids.
pub fn matched_binding_ids(sent: &Value, response: &Value) -> Option<Vec<u64>> {
    let sent = sent.as_array()?;
    let got = response.get("postgres_changes")?.as_array()?;
    if sent.len() != got.len() {
        return None;
    }
    let field = |v: &Value, k: &str| v.get(k).filter(|x| !x.is_null()).cloned();
    let mut ids = Vec::new();
    for (s, g) in sent.iter().zip(got) {
        if ["event", "schema", "table", "filter"]
            .iter()
            .any(|k| field(s, k) != field(g, k))
        {
            return None;
        }
        ids.push(g.get("id")?.as_u64()?);
    }
    Some(ids)
}

/// A change event's `ids` and `data`.
pub fn change_of(frame: &Frame) -> Option<(Vec<u64>, &Value)> {
    if frame.event != "postgres_changes" {
        return None;
    }
    let ids = frame
        .payload
        .get("ids")?
        .as_array()?
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    Some((ids, frame.payload.get("data")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_frames() {
        let f = join_frame("o1", "u1", "tok", "3");
        let back = Frame::decode(&f.encode()).unwrap();
        assert_eq!(back, f);
        assert_eq!(
            back.payload["config"]["postgres_changes"][2]["filter"],
            "user_id=eq.u1"
        );
        assert_eq!(
            heartbeat_frame("9").encode(),
            r#"[null,"9","phoenix","heartbeat",{}]"#
        );
    }

    #[test]
    fn decodes_the_documented_exchange() {
        let reply = Frame::decode(r#"["3","3","realtime:org-1","phx_reply",{"status":"ok","response":{"postgres_changes":[{"id":30636876,"event":"INSERT","schema":"public","table":"messages","filter":"org_id=eq.1"}]}}]"#).unwrap();
        let (status, response) = reply_status(&reply).unwrap();
        assert_eq!(status, "ok");
        let sent =
            json!([{"event":"INSERT","schema":"public","table":"messages","filter":"org_id=eq.1"}]);
        assert_eq!(matched_binding_ids(&sent, response), Some(vec![30636876]));
        let change = Frame::decode(r#"[null,null,"realtime:org-1","postgres_changes",{"ids":[30636876],"data":{"table":"messages","type":"INSERT","record":{"id":42}}}]"#).unwrap();
        let (ids, data) = change_of(&change).unwrap();
        assert_eq!(
            (ids, data["record"]["id"].as_i64()),
            (vec![30636876], Some(42))
        );
    }

    #[test]
    fn detects_binding_mismatch() {
        let sent =
            json!([{"event":"INSERT","schema":"public","table":"messages","filter":"org_id=eq.1"}]);
        let wrong = json!({"postgres_changes":[{"id":1,"event":"UPDATE","schema":"public","table":"messages","filter":"org_id=eq.1"}]});
        assert_eq!(matched_binding_ids(&sent, &wrong), None);
        assert_eq!(
            matched_binding_ids(&sent, &json!({"postgres_changes": []})),
            None
        );
    }

    #[test]
    fn malformed_frames_are_errors() {
        for bad in [
            "",
            "{}",
            "[1,2,3]",
            r#"[null,null,1,"e",{}]"#,
            r#"[{},null,"t","e",{}]"#,
        ] {
            assert!(Frame::decode(bad).is_err(), "{bad}");
        }
    }
}
