//! Which cached queries a change event makes stale. Events never carry data into the cache.

use serde_json::Value;

use crate::cache::QueryKey;

/// The key prefixes to invalidate for one postgres_changes `data` object.
pub fn keys_for_change(data: &Value) -> Vec<QueryKey> {
    let table = data
        .get("table")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = data.get("type").and_then(Value::as_str).unwrap_or_default();
    match (table, kind) {
        ("messages", _) => {
            let mut keys = Vec::new();
            let conv = data
                .get("record")
                .or_else(|| data.get("old_record"))
                .and_then(|r| r.get("conversation_id"))
                .and_then(Value::as_str);
            match conv {
                Some(c) => keys.push(QueryKey::messages(c)),
                // Without the id, every thread might be affected.
                None => keys.push(QueryKey::all_messages()),
            }
            keys.push(QueryKey::conversations());
            keys.push(QueryKey::unread_total());
            keys
        }
        ("conversations", _) => vec![QueryKey::conversations()],
        ("read_state", _) => vec![QueryKey::conversations(), QueryKey::unread_total()],
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
                QueryKey::unread_total()
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
