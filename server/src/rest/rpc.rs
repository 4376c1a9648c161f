//! The RPC functions: conversation list with unread counts, unread total, mark read.

use rusqlite::Connection;
use serde_json::{json, Value};

use crate::auth::jwt::{AppRole, Principal};
use crate::error::Result;
use crate::schema::tables::CONVERSATIONS;

/// SQL counting the caller's unread messages in conversation `c` (read marker joined as `rs`).
fn unread_expr(who: &Principal) -> &'static str {
    // Unread means "from the other side": a dispatcher counts the medic's messages, a medic
    // counts everyone else's (the dispatchers').
    match who.role {
        AppRole::Dispatcher => {
            "(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.sender_id = c.medic_id \
              AND (rs.last_read_at IS NULL OR m.created_at > rs.last_read_at))"
        }
        AppRole::Medic => {
            "(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.sender_id <> c.medic_id \
              AND (rs.last_read_at IS NULL OR m.created_at > rs.last_read_at))"
        }
    }
}

/// Every visible conversation with its medic's name and the caller's unread count, newest first.
pub fn conversations_with_unread(conn: &Connection, who: &Principal) -> Result<Value> {
    let visible = CONVERSATIONS.access.sql("c", who);
    let vis = visible.sql;
    let params = std::iter::once(who.user_id.clone()).chain(visible.params);
    let sql = format!(
        "SELECT c.id, c.org_id, c.medic_id, u.display_name, c.created_at, c.last_message_at, \
                c.last_message_preview, {} \
         FROM conversations c JOIN users u ON u.id = c.medic_id \
         LEFT JOIN read_state rs ON rs.conversation_id = c.id AND rs.user_id = ? \
         WHERE {vis} ORDER BY c.last_message_at DESC NULLS LAST, c.created_at DESC, c.id",
        unread_expr(who)
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
        Ok(json!({
            "id": r.get::<_, String>(0)?,
            "org_id": r.get::<_, String>(1)?,
            "medic_id": r.get::<_, String>(2)?,
            "medic_name": r.get::<_, String>(3)?,
            "created_at": r.get::<_, String>(4)?,
            "last_message_at": r.get::<_, Option<String>>(5)?,
            "last_message_preview": r.get::<_, Option<String>>(6)?,
            "unread_count": r.get::<_, i64>(7)?,
        }))
    })?;
    Ok(Value::Array(rows.collect::<rusqlite::Result<Vec<_>>>()?))
}

/// The caller's total unread count over every visible conversation.
pub fn unread_total(conn: &Connection, who: &Principal) -> Result<Value> {
    let visible = CONVERSATIONS.access.sql("c", who);
    let vis = visible.sql;
    let params = std::iter::once(who.user_id.clone()).chain(visible.params);
    let sql = format!(
        "SELECT coalesce(sum({}), 0) FROM conversations c \
         LEFT JOIN read_state rs ON rs.conversation_id = c.id AND rs.user_id = ? WHERE {vis}",
        unread_expr(who)
    );
    let total: i64 = conn.query_row(&sql, rusqlite::params_from_iter(params), |r| r.get(0))?;
    Ok(Value::from(total))
}
