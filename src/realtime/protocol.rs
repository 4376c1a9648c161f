//! What this client says on the Realtime socket, in the Phoenix vocabulary of the shared
//! `switchboard_wire` crate: vsn 2.0.0 text frames (`[join_ref, ref, topic, event,
//! payload]`), as current realtime-js speaks them, and the org channel's join, heartbeat and
//! token messages. Reading replies and change events is here too; no state.

use serde_json::{json, Value};
use switchboard_wire::{event, field, topic, DecodeError, Message, Serializer};

/// The serializer this client speaks (the socket URL's `vsn`).
pub const SERIALIZER: Serializer = Serializer::V2;

/// Decodes a text frame.
///
/// Errors: [`DecodeError`] when the text is not a vsn 2.0.0 Phoenix message.
pub fn decode(text: &str) -> Result<Message, DecodeError> {
    Message::decode(SERIALIZER, text)
}

/// Encodes a message as a text frame.
pub fn encode(message: &Message) -> String {
    message.encode(SERIALIZER)
}

/// The org channel's topic, `realtime:web-messages:org_<org_id>`.
pub fn org_topic(org_id: &str) -> String {
    format!("{}web-messages:org_{org_id}", topic::PREFIX)
}

/// The four postgres_changes bindings of the dashboard, in order (ARCHITECTURE.md,
/// "Wire dialects"): new messages and conversation updates of the org, the caller's own
/// read markers, and acknowledgements of urgent messages (each subscriber gets only the rows
/// its access rule lets it see).
pub fn org_bindings(org_id: &str, user_id: &str) -> Value {
    json!([
        {"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("org_id=eq.{org_id}")},
        // INSERT: a conversation started by anyone of the org appears in every list.
        {"event": "*", "schema": "public", "table": "conversations", "filter": format!("org_id=eq.{org_id}")},
        {"event": "*", "schema": "public", "table": "read_state", "filter": format!("user_id=eq.{user_id}")},
        {"event": "INSERT", "schema": "public", "table": "message_acks", "filter": format!("org_id=eq.{org_id}")},
    ])
}

/// The `phx_join` of the org channel; `reference` is both its ref and its join ref.
pub fn join_message(org_id: &str, user_id: &str, token: &str, reference: &str) -> Message {
    Message {
        join_ref: Some(reference.to_string()),
        reference: Some(reference.to_string()),
        topic: org_topic(org_id),
        event: event::PHX_JOIN.into(),
        payload: json!({
            field::CONFIG: {
                "broadcast": {"ack": false, "self": false},
                "presence": {"key": "", "enabled": false},
                field::POSTGRES_CHANGES: org_bindings(org_id, user_id),
                "private": false,
            },
            field::ACCESS_TOKEN: token,
        }),
    }
}

/// A heartbeat on the `phoenix` topic.
pub fn heartbeat_message(reference: &str) -> Message {
    Message {
        join_ref: None,
        reference: Some(reference.into()),
        topic: topic::PHOENIX.into(),
        event: event::HEARTBEAT.into(),
        payload: json!({}),
    }
}

/// Hands a refreshed token to a joined channel (no reply expected).
pub fn access_token_message(topic: &str, join_ref: &str, reference: &str, token: &str) -> Message {
    Message {
        join_ref: Some(join_ref.into()),
        reference: Some(reference.into()),
        topic: topic.into(),
        event: event::ACCESS_TOKEN.into(),
        payload: json!({ field::ACCESS_TOKEN: token }),
    }
}

/// Checks the join reply's bindings as realtime-js does (same event/schema/table/filter, in
/// order) and returns the server ids; `None` on any mismatch ("mismatch between server and
/// client bindings").
pub fn matched_binding_ids(sent: &Value, response: &Value) -> Option<Vec<u64>> {
    let sent = sent.as_array()?;
    let got = response.get(field::POSTGRES_CHANGES)?.as_array()?;
    if sent.len() != got.len() {
        return None;
    }
    let item = |v: &Value, k: &str| v.get(k).filter(|x| !x.is_null()).cloned();
    let mut ids = Vec::new();
    for (s, g) in sent.iter().zip(got) {
        if ["event", "schema", "table", "filter"]
            .iter()
            .any(|k| item(s, k) != item(g, k))
        {
            return None;
        }
        ids.push(g.get(field::ID)?.as_u64()?);
    }
    Some(ids)
}

/// A change event's binding `ids` and its `data` object; `None` for other events.
pub fn change_of(message: &Message) -> Option<(Vec<u64>, &Value)> {
    if message.event != event::POSTGRES_CHANGES {
        return None;
    }
    let ids = message
        .payload
        .get(field::IDS)?
        .as_array()?
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    Some((ids, message.payload.get(field::DATA)?))
}

/// Why the server refused a join (`response.reason` of an error `phx_reply`), if it said.
pub fn refusal_reason(response: &Value) -> Option<&str> {
    response.get(field::REASON).and_then(Value::as_str)
}

/// A refusal as a person should read it: Realtime's reasons start with a machine code
/// (`"ConnectionRateLimitReached: Too many …"`, `"Unauthorized: …"`); the text after it is
/// the explanation.
pub fn shown_reason(reason: &str) -> &str {
    match reason.split_once(": ") {
        Some((code, rest))
            if !code.is_empty() && code.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            rest
        }
        _ => reason,
    }
}

/// Whether a join refusal or a channel's `system` error is about the access token, so a
/// fresh token (not the same one again) is the cure. Hosted Realtime says
/// `"InvalidJWTToken: Token has expired 120 seconds ago"`, `"MalformedJWT: …"` or
/// `"JwtSignatureError: …"` when refusing a join, and `"Token has expired N seconds ago"`
/// when it shuts a joined channel (Supabase Realtime, `realtime_channel.ex`).
pub fn is_token_refusal(reason: &str) -> bool {
    const CODES: [&str; 3] = ["InvalidJWTToken", "MalformedJWT", "JwtSignatureError"];
    CODES.iter().any(|c| reason.starts_with(c)) || reason.contains("Token has expired")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_join_and_heartbeat() {
        let join = join_message("o1", "u1", "tok", "3");
        let back = decode(&encode(&join)).unwrap();
        assert_eq!(back, join);
        assert_eq!(back.topic, "realtime:web-messages:org_o1");
        assert_eq!(
            back.payload["config"]["postgres_changes"][2]["filter"],
            "user_id=eq.u1"
        );
        assert_eq!(back.payload["access_token"], "tok");
        assert_eq!(
            back.payload["config"]["postgres_changes"][3]["table"],
            "message_acks"
        );
        assert_eq!(
            encode(&heartbeat_message("9")),
            r#"[null,"9","phoenix","heartbeat",{}]"#
        );
    }

    #[test]
    fn reads_the_documented_exchange() {
        let reply = decode(r#"["3","3","realtime:org-1","phx_reply",{"status":"ok","response":{"postgres_changes":[{"id":30636876,"event":"INSERT","schema":"public","table":"messages","filter":"org_id=eq.1"}]}}]"#).unwrap();
        let (status, response) = reply.reply_status().unwrap();
        assert_eq!(status, "ok");
        let sent =
            json!([{"event":"INSERT","schema":"public","table":"messages","filter":"org_id=eq.1"}]);
        assert_eq!(matched_binding_ids(&sent, response), Some(vec![30636876]));
        let change = decode(r#"[null,null,"realtime:org-1","postgres_changes",{"ids":[30636876],"data":{"table":"messages","type":"INSERT","record":{"id":42}}}]"#).unwrap();
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
    fn token_refusals_are_told_apart_from_other_refusals() {
        for reason in [
            "InvalidJWTToken: Token has expired 120 seconds ago",
            "Token has expired 3 seconds ago",
            "MalformedJWT: The token provided is not a valid JWT",
            "JwtSignatureError: Failed to validate JWT signature",
        ] {
            assert!(is_token_refusal(reason), "{reason}");
        }
        for reason in [
            "Unauthorized: You do not have permissions to read from this Channel topic: room1",
            "ChannelRateLimitReached: Too many channels",
            "Too many connected users",
            "",
        ] {
            assert!(!is_token_refusal(reason), "{reason}");
        }
        assert_eq!(
            refusal_reason(&json!({"reason": "Too many channels"})),
            Some("Too many channels")
        );
        assert_eq!(refusal_reason(&json!({})), None);
        assert_eq!(
            shown_reason("ConnectionRateLimitReached: Too many Switchboard tabs are open"),
            "Too many Switchboard tabs are open"
        );
        assert_eq!(
            shown_reason("the server refused: no reason"),
            "the server refused: no reason"
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
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
