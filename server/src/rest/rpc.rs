//! The read-only RPC functions: the conversation list with unread and unacknowledged-urgent
//! counts, the unread total and the unacknowledged-urgent total. (The writing RPCs,
//! `mark_conversation_read` and `acknowledge_message`, live in `rest::write`.)

use rusqlite::Connection;
use serde_json::{json, Value};

use crate::auth::jwt::{AppRole, Principal};
use crate::error::Result;
use crate::schema::tables::CONVERSATIONS;

/// SQL true for a message `m` of conversation `c` sent by the side opposite the caller: a
/// dispatcher hears from the medic, a medic from everyone else (the dispatchers).
fn from_other_side(who: &Principal) -> &'static str {
    match who.role {
        AppRole::Dispatcher => "m.sender_id = c.medic_id",
        AppRole::Medic => "m.sender_id <> c.medic_id",
    }
}

/// SQL counting the caller's unread messages in conversation `c` (read marker joined as `rs`).
fn unread_expr(who: &Principal) -> String {
    format!(
        "(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND {} \
          AND (rs.last_read_at IS NULL OR m.created_at > rs.last_read_at))",
        from_other_side(who)
    )
}

/// SQL selecting, in conversation `c`, the urgent messages from the other side that nobody
/// has acknowledged (the `priority = 'urgent'` term is what lets the partial index serve).
fn unacked_urgent_where(who: &Principal) -> String {
    format!(
        "m.conversation_id = c.id AND m.priority = 'urgent' AND {} \
         AND NOT EXISTS (SELECT 1 FROM message_acks a WHERE a.message_id = m.id)",
        from_other_side(who)
    )
}

/// Every visible conversation, newest first, with its medic's name, the caller's unread
/// count, `unacked_urgent` (urgent messages from the other side nobody has acknowledged),
/// `oldest_unacked_urgent_at` (the oldest of those, or null), `subject` (`""` for
/// conversations started before subjects existed) and `medic_last_message_at` (the newest
/// message the conversation's medic sent, or null), for the thread header.
pub fn conversations_with_unread(conn: &Connection, who: &Principal) -> Result<Value> {
    let visible = CONVERSATIONS.access.sql("c", who);
    let vis = visible.sql;
    let params = std::iter::once(who.user_id.clone()).chain(visible.params);
    let unacked = unacked_urgent_where(who);
    let sql = format!(
        "SELECT c.id, c.org_id, c.medic_id, u.display_name, c.created_at, c.last_message_at, \
                c.last_message_preview, {}, \
                (SELECT count(*) FROM messages m WHERE {unacked}), \
                (SELECT min(m.created_at) FROM messages m WHERE {unacked}), c.subject, \
                (SELECT max(m.created_at) FROM messages m \
                  WHERE m.conversation_id = c.id AND m.sender_id = c.medic_id) \
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
            "unacked_urgent": r.get::<_, i64>(8)?,
            "oldest_unacked_urgent_at": r.get::<_, Option<String>>(9)?,
            "subject": r.get::<_, String>(10)?,
            "medic_last_message_at": r.get::<_, Option<String>>(11)?,
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

/// The caller's unacknowledged urgent messages over every visible conversation: the sum of
/// [`conversations_with_unread`]'s `unacked_urgent`.
pub fn unacked_urgent_total(conn: &Connection, who: &Principal) -> Result<Value> {
    let visible = CONVERSATIONS.access.sql("c", who);
    let sql = format!(
        "SELECT count(*) FROM conversations c JOIN messages m ON {} WHERE {}",
        unacked_urgent_where(who),
        visible.sql
    );
    let total: i64 = conn.query_row(&sql, rusqlite::params_from_iter(visible.params), |r| {
        r.get(0)
    })?;
    Ok(Value::from(total))
}
