//! Which cached queries a change event makes stale. Events never carry data into the cache.

use serde_json::Value;
use switchboard_wire::change;

use crate::cache::QueryKey;

/// The key prefixes to invalidate for one postgres_changes `data` object (any `type`:
/// an insert, update or delete of a table's rows stales the same queries).
pub fn keys_for_change(data: &Value) -> Vec<QueryKey> {
    let table = data
        .get(change::TABLE)
        .and_then(Value::as_str)
        .unwrap_or_default();
    match table {
        "messages" => {
            let mut keys = Vec::new();
            let conv = data
                .get(change::RECORD)
                .or_else(|| data.get(change::OLD_RECORD))
                .and_then(|r| r.get("conversation_id"))
                .and_then(Value::as_str);
            match conv {
                Some(c) => keys.push(QueryKey::messages(c)),
                // Without the id, every thread might be affected.
                None => keys.push(QueryKey::all_messages()),
            }
            keys.push(QueryKey::conversations());
            keys.push(QueryKey::unread_total());
            keys.push(QueryKey::unacked_urgent_total());
            keys
        }
        // An acknowledgement names its message, not the conversation: every loaded thread
        // may show it, and the list and counter count it.
        "message_acks" => vec![
            QueryKey::all_messages(),
            QueryKey::conversations(),
            QueryKey::unacked_urgent_total(),
        ],
        "conversations" => vec![QueryKey::conversations()],
        "read_state" => vec![QueryKey::conversations(), QueryKey::unread_total()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_each_table() {
        let insert =
            json!({"table": "messages", "type": "INSERT", "record": {"conversation_id": "c1"}});
        assert_eq!(
            keys_for_change(&insert),
            vec![
                QueryKey::messages("c1"),
                QueryKey::conversations(),
                QueryKey::unread_total(),
                QueryKey::unacked_urgent_total(),
            ]
        );
        let ack =
            json!({"table": "message_acks", "type": "INSERT", "record": {"message_id": "m1"}});
        assert_eq!(
            keys_for_change(&ack),
            vec![
                QueryKey::all_messages(),
                QueryKey::conversations(),
                QueryKey::unacked_urgent_total(),
            ]
        );
        let update = json!({"table": "conversations", "type": "UPDATE", "record": {"id": "c1"}});
        assert_eq!(keys_for_change(&update), vec![QueryKey::conversations()]);
        for kind in ["INSERT", "UPDATE", "DELETE"] {
            let rs = json!({"table": "read_state", "type": kind});
            assert_eq!(
                keys_for_change(&rs),
                vec![QueryKey::conversations(), QueryKey::unread_total()]
            );
        }
        assert!(keys_for_change(&json!({"table": "users", "type": "UPDATE"})).is_empty());
        assert_eq!(
            keys_for_change(&json!({"table": "messages", "type": "DELETE"}))[0],
            QueryKey::all_messages()
        );
    }
}
