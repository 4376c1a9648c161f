//! Which cached queries a change event makes stale. Events never carry data into the cache.
//!
//! A change names what it touched, so it stales only that: one conversation's thread and its
//! row of the list (`QueryKey::conversation_row`), not the whole list (issue 17: a busy org
//! refetched the whole list, 727 KB, on every change). Where an event does not say which
//! conversation, everything it may touch is staled.

use serde_json::Value;
use switchboard_wire::change;

use crate::cache::QueryKey;

/// A field of the changed row (the new one, or the old one of a delete).
fn field<'a>(data: &'a Value, name: &str) -> Option<&'a str> {
    data.get(change::RECORD)
        .or_else(|| data.get(change::OLD_RECORD))
        .and_then(|r| r.get(name))
        .and_then(Value::as_str)
}

/// The list's row of `conversation`, or the whole list when it is unknown.
fn list_row(conversation: Option<&str>) -> QueryKey {
    conversation.map_or_else(QueryKey::conversations, QueryKey::conversation_row)
}

/// The key prefixes to invalidate for one postgres_changes `data` object (any `type`:
/// an insert, update or delete of a table's rows stales the same queries).
pub fn keys_for_change(data: &Value) -> Vec<QueryKey> {
    let table = data
        .get(change::TABLE)
        .and_then(Value::as_str)
        .unwrap_or_default();
    match table {
        "messages" => {
            let conversation = field(data, "conversation_id");
            vec![
                // Without the id, every thread might be affected.
                conversation.map_or_else(QueryKey::all_messages, QueryKey::messages),
                list_row(conversation),
                QueryKey::unread_total(),
                QueryKey::unacked_urgent_total(),
            ]
        }
        // An acknowledgement shows in its message's thread and counts in its conversation's
        // row and the urgent counter. It names only its message: which rows of the list it
        // may lower (those with unacknowledged urgent messages) is the list's to say
        // (`pages::conversations`), so the list is not staled whole here.
        "message_acks" => {
            let mut keys = vec![QueryKey::all_messages(), QueryKey::unacked_urgent_total()];
            if let Some(conversation) = field(data, "conversation_id") {
                keys[0] = QueryKey::messages(conversation);
                keys.insert(1, QueryKey::conversation_row(conversation));
            }
            keys
        }
        "conversations" => vec![list_row(field(data, "id"))],
        "read_state" => vec![
            list_row(field(data, "conversation_id")),
            QueryKey::unread_total(),
        ],
        _ => Vec::new(),
    }
}

/// The conversation a change is about, if it says: the list observes that conversation's
/// row from then on, so the change refetches one row.
pub fn conversation_of(data: &Value) -> Option<String> {
    let table = data.get(change::TABLE).and_then(Value::as_str)?;
    let name = if table == "conversations" {
        "id"
    } else {
        "conversation_id"
    };
    field(data, name).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_message_stales_its_thread_its_row_and_the_counters() {
        let insert =
            json!({"table": "messages", "type": "INSERT", "record": {"conversation_id": "c1"}});
        assert_eq!(
            keys_for_change(&insert),
            vec![
                QueryKey::messages("c1"),
                QueryKey::conversation_row("c1"),
                QueryKey::unread_total(),
                QueryKey::unacked_urgent_total(),
            ]
        );
        assert_eq!(conversation_of(&insert).as_deref(), Some("c1"));
        // Without the conversation: every thread and the whole list.
        let bare = keys_for_change(&json!({"table": "messages", "type": "DELETE"}));
        assert_eq!(bare[0], QueryKey::all_messages());
        assert_eq!(bare[1], QueryKey::conversations());
    }

    #[test]
    fn acks_conversations_and_read_markers_stale_their_row() {
        let ack =
            json!({"table": "message_acks", "type": "INSERT", "record": {"message_id": "m1"}});
        assert_eq!(
            keys_for_change(&ack),
            vec![QueryKey::all_messages(), QueryKey::unacked_urgent_total()]
        );
        let ack_in = json!({"table": "message_acks", "type": "INSERT", "record": {"message_id": "m1", "conversation_id": "c2"}});
        assert_eq!(
            keys_for_change(&ack_in)[1],
            QueryKey::conversation_row("c2")
        );
        let update = json!({"table": "conversations", "type": "UPDATE", "record": {"id": "c1"}});
        assert_eq!(
            keys_for_change(&update),
            vec![QueryKey::conversation_row("c1")]
        );
        assert_eq!(conversation_of(&update).as_deref(), Some("c1"));
        let started = json!({"table": "conversations", "type": "INSERT", "record": {"id": "c9"}});
        assert_eq!(
            keys_for_change(&started),
            vec![QueryKey::conversation_row("c9")]
        );
        for kind in ["INSERT", "UPDATE"] {
            let rs =
                json!({"table": "read_state", "type": kind, "record": {"conversation_id": "c3"}});
            assert_eq!(
                keys_for_change(&rs),
                vec![QueryKey::conversation_row("c3"), QueryKey::unread_total()]
            );
        }
        let gone = json!({"table": "read_state", "type": "DELETE", "old_record": {"conversation_id": "c4"}});
        assert_eq!(keys_for_change(&gone)[0], QueryKey::conversation_row("c4"));
        let unknown = json!({"table": "read_state", "type": "DELETE"});
        assert_eq!(keys_for_change(&unknown)[0], QueryKey::conversations());
        assert!(keys_for_change(&json!({"table": "users", "type": "UPDATE"})).is_empty());
    }

    #[test]
    fn a_row_key_is_under_the_whole_list_prefix() {
        assert!(QueryKey::conversation_row("c1").starts_with(&QueryKey::conversations()));
        assert!(QueryKey::conversation_first_page().starts_with(&QueryKey::conversations()));
    }
}
