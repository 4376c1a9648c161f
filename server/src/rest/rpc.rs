//! The read-only RPC functions: the conversation list with unread and unacknowledged-urgent
//! counts (whole, a page, or one row), the unread total and the unacknowledged-urgent total.
//! (The writing RPCs, `mark_conversation_read` and `acknowledge_message`, live in
//! `rest::write`.)
//!
//! Each statement is built by a `*_sql` function and run by its namesake, so tests and the
//! `scale` bench can ask SQLite for the plan of exactly what a call runs. Unread is a range
//! on `created_at` against the read marker (`created_at > coalesce(marker, '')`: the empty
//! string sorts before every canonical timestamp), which the `(conversation_id,
//! created_at)` index serves; `marker IS NULL OR created_at > marker` made every call visit
//! every message of the org (issue 17).

use axum::http::StatusCode;
use rusqlite::Connection;
use serde_json::{json, Value};

use crate::auth::jwt::{AppRole, Principal};
use crate::error::{Error, Result};
use crate::schema::filter::normalise;
use crate::schema::tables::{ColType, CONVERSATIONS};
use crate::schema::Condition;

/// Largest `page_size` of the conversation list, PostgREST's max-rows like every REST read.
pub const MAX_PAGE_SIZE: i64 = 1000;

/// The list's order, over conversations aliased `alias`: newest message first, those without
/// messages after them (newest started first), then by id. Pages follow the same order, so a
/// page is a slice of the whole list.
fn list_order(alias: &str) -> String {
    format!("{alias}.last_message_at DESC NULLS LAST, {alias}.created_at DESC, {alias}.id")
}

/// Where a later page of the list starts: the last row of the page before, as the list
/// showed it (its `last_message_at`, `created_at` and `id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The row's `last_message_at`, null for a conversation without messages.
    pub last_message_at: Option<String>,
    /// The row's `created_at`.
    pub created_at: String,
    /// The row's `id`.
    pub id: String,
}

/// What one `conversations_with_unread` call asks for (ARCHITECTURE.md, "The conversation
/// list: pages and rows").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListPage {
    /// No arguments: every visible conversation, as before pages existed.
    All,
    /// `{"page_size": n}`: the newest `n`, then every older one with unread or
    /// unacknowledged urgent messages.
    First {
        /// Rows of the newest part, 1..=[`MAX_PAGE_SIZE`].
        size: i64,
    },
    /// `{"page_size": n, "before": cursor}`: the next `n` strictly after the cursor.
    After {
        /// Rows, 1..=[`MAX_PAGE_SIZE`].
        size: i64,
        /// The last row of the page before.
        cursor: Cursor,
    },
    /// `{"conversation_id": id}`: that conversation's row alone (none when unseen).
    One {
        /// The conversation's id, in stored form.
        conversation_id: String,
    },
}

/// 400 `22023` (invalid_parameter_value), as the hosted function raises it.
fn invalid(message: &str) -> Error {
    Error::api(StatusCode::BAD_REQUEST, "22023", message)
}

impl ListPage {
    /// Reads the call's body `{"page_size"?, "before"?, "conversation_id"?}`; absent and
    /// null are the same (the hosted function's defaults).
    ///
    /// # Errors
    /// - 400 `22P02`/`22003` for a `page_size` that is not a 32-bit integer, `22P02` for a
    ///   `conversation_id` or cursor `id` that is not a uuid, `22007` for a cursor time that
    ///   is not a timestamp (Postgres's casts);
    /// - 400 `22023`, in this order: `page_size` outside 1..=[`MAX_PAGE_SIZE`]; `before`
    ///   without `page_size`; `conversation_id` with either; `before` not an object with
    ///   the keys `last_message_at`, `created_at` (not null) and `id` (not null).
    pub fn parse(body: &Value) -> Result<ListPage> {
        let arg = |name: &str| body.get(name).filter(|v| !v.is_null());
        // The arguments' own types first: Postgres casts them before the function runs.
        let size = arg("page_size").map(super::search::int4).transpose()?;
        let conversation_id = arg("conversation_id")
            .map(|id| {
                let text = id.as_str().map_or_else(|| id.to_string(), str::to_string);
                normalise(ColType::Uuid, &text)
            })
            .transpose()?;
        if size.is_some_and(|n| !(1..=MAX_PAGE_SIZE).contains(&n)) {
            return Err(invalid("page_size must be between 1 and 1000"));
        }
        let before = arg("before");
        if before.is_some() && size.is_none() {
            return Err(invalid("before needs page_size"));
        }
        if let Some(conversation_id) = conversation_id {
            if size.is_some() {
                return Err(invalid(
                    "conversation_id asks for one row: no page_size or before",
                ));
            }
            return Ok(ListPage::One { conversation_id });
        }
        let (Some(size), Some(before)) = (size, before) else {
            return Ok(size.map_or(ListPage::All, |size| ListPage::First { size }));
        };
        let bad_cursor = || {
            invalid("before must be {\"last_message_at\", \"created_at\", \"id\"} of the last row")
        };
        let object = before.as_object().ok_or_else(bad_cursor)?;
        let text = |key: &str| -> Result<Option<&str>> {
            match object.get(key) {
                None => Err(bad_cursor()),
                Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(bad_cursor()),
            }
        };
        let last_message_at = text("last_message_at")?
            .map(|t| normalise(ColType::Timestamp, t))
            .transpose()?;
        let created_at = text("created_at")?.ok_or_else(bad_cursor)?;
        let id = text("id")?.ok_or_else(bad_cursor)?;
        Ok(ListPage::After {
            size,
            cursor: Cursor {
                last_message_at,
                created_at: normalise(ColType::Timestamp, created_at)?,
                id: normalise(ColType::Uuid, id)?,
            },
        })
    }
}

/// SQL true for a message `m` of conversation `c` sent by the side opposite the caller: a
/// dispatcher hears from the medic, a medic from everyone else (the dispatchers).
fn from_other_side(who: &Principal) -> &'static str {
    match who.role {
        AppRole::Dispatcher => "m.sender_id = c.medic_id",
        AppRole::Medic => "m.sender_id <> c.medic_id",
    }
}

/// SQL selecting, in conversation `c`, the caller's unread messages (read marker joined as
/// `rs`): from the other side, after the marker. A range on `created_at`, so the
/// `(conversation_id, created_at)` index finds them without visiting the read ones.
fn unread_where(who: &Principal) -> String {
    format!(
        "m.conversation_id = c.id AND m.created_at > coalesce(rs.last_read_at, '') AND {}",
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

/// The ids of the visible conversations of one page: `size` of them in list order,
/// strictly after `cursor` when there is one.
fn page_ids(who: &Principal, size: i64, cursor: Option<&Cursor>) -> Condition {
    let visible = CONVERSATIONS.access.sql("x", who);
    let mut params = visible.params;
    let after = match cursor {
        None => "1".to_string(),
        Some(Cursor {
            last_message_at: Some(last),
            created_at,
            id,
        }) => {
            params.extend([last.clone(), last.clone(), created_at.clone()]);
            params.extend([created_at.clone(), id.clone()]);
            "(x.last_message_at < ? OR x.last_message_at IS NULL OR (x.last_message_at = ? \
              AND (x.created_at < ? OR (x.created_at = ? AND x.id > ?))))"
                .to_string()
        }
        Some(Cursor {
            last_message_at: None,
            created_at,
            id,
        }) => {
            params.extend([created_at.clone(), created_at.clone(), id.clone()]);
            "(x.last_message_at IS NULL AND (x.created_at < ? OR (x.created_at = ? AND x.id > ?)))"
                .to_string()
        }
    };
    Condition {
        sql: format!(
            "c.id IN (SELECT x.id FROM conversations x WHERE ({}) AND {after} ORDER BY {} LIMIT {size})",
            visible.sql,
            list_order("x")
        ),
        params,
    }
}

/// The statement of [`conversations_with_unread`] for `page`.
pub fn conversations_sql(who: &Principal, page: &ListPage) -> Condition {
    let visible = CONVERSATIONS.access.sql("c", who);
    let unacked = unacked_urgent_where(who);
    let unread = unread_where(who);
    let mut params = vec![who.user_id.clone()];
    params.extend(visible.params);
    let which = match page {
        ListPage::All => "1".to_string(),
        ListPage::One { conversation_id } => {
            params.push(conversation_id.clone());
            "c.id = ?".to_string()
        }
        ListPage::First { size } => {
            let newest = page_ids(who, *size, None);
            params.extend(newest.params);
            format!(
                "({} OR EXISTS (SELECT 1 FROM messages m WHERE {unread}) \
                  OR EXISTS (SELECT 1 FROM messages m WHERE {unacked}))",
                newest.sql
            )
        }
        ListPage::After { size, cursor } => {
            let next = page_ids(who, *size, Some(cursor));
            params.extend(next.params);
            next.sql
        }
    };
    // The medic's newest message: the newest rows of the conversation, walked back to the
    // first the medic sent (max() with a filter would read the whole thread).
    let sql = format!(
        "SELECT c.id, c.org_id, c.medic_id, u.display_name, c.created_at, c.last_message_at, \
                c.last_message_preview, (SELECT count(*) FROM messages m WHERE {unread}), \
                (SELECT count(*) FROM messages m WHERE {unacked}), \
                (SELECT min(m.created_at) FROM messages m WHERE {unacked}), c.subject, \
                (SELECT m.created_at FROM messages m \
                  WHERE m.conversation_id = c.id AND m.sender_id = c.medic_id \
                  ORDER BY m.created_at DESC LIMIT 1) \
         FROM conversations c JOIN users u ON u.id = c.medic_id \
         LEFT JOIN read_state rs ON rs.conversation_id = c.id AND rs.user_id = ? \
         WHERE ({}) AND {which} ORDER BY {}",
        visible.sql,
        list_order("c")
    );
    Condition { sql, params }
}

/// The visible conversations `page` asks for, in list order, each with its medic's name,
/// the caller's unread count, `unacked_urgent` (urgent messages from the other side nobody
/// has acknowledged), `oldest_unacked_urgent_at` (the oldest of those, or null), `subject`
/// (`""` for conversations started before subjects existed) and `medic_last_message_at`
/// (the newest message the conversation's medic sent, or null), for the thread header.
///
/// # Errors
/// SQLite's (a cancelled statement among them).
pub fn conversations_with_unread(
    conn: &Connection,
    who: &Principal,
    page: &ListPage,
) -> Result<Value> {
    let statement = conversations_sql(who, page);
    let mut stmt = conn.prepare(&statement.sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(statement.params), |r| {
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

/// The statement of [`unread_total`].
pub fn unread_total_sql(who: &Principal) -> Condition {
    let visible = CONVERSATIONS.access.sql("c", who);
    let mut params = vec![who.user_id.clone()];
    params.extend(visible.params);
    Condition {
        sql: format!(
            "SELECT coalesce(sum((SELECT count(*) FROM messages m WHERE {})), 0) \
             FROM conversations c \
             LEFT JOIN read_state rs ON rs.conversation_id = c.id AND rs.user_id = ? WHERE {}",
            unread_where(who),
            visible.sql
        ),
        params,
    }
}

/// The caller's total unread count over every visible conversation.
///
/// # Errors
/// SQLite's.
pub fn unread_total(conn: &Connection, who: &Principal) -> Result<Value> {
    let statement = unread_total_sql(who);
    let total: i64 = conn.query_row(
        &statement.sql,
        rusqlite::params_from_iter(statement.params),
        |r| r.get(0),
    )?;
    Ok(Value::from(total))
}

/// The caller's unacknowledged urgent messages over every visible conversation: the sum of
/// [`conversations_with_unread`]'s `unacked_urgent`.
///
/// # Errors
/// SQLite's.
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

/// The steps of SQLite's plan for `statement` (`EXPLAIN QUERY PLAN`'s `detail` column, in
/// order), for tests and the `scale` bench to check which index a query uses.
///
/// # Errors
/// SQLite's.
pub fn query_plan(conn: &Connection, statement: &Condition) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {}", statement.sql))?;
    let rows = stmt.query_map(rusqlite::params_from_iter(&statement.params), |r| {
        r.get::<_, String>(3)
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: Value) -> String {
        match ListPage::parse(&body) {
            Err(Error::Api { code, .. }) => code,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn reads_the_page_arguments() {
        let id = "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11";
        let stored = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        assert_eq!(ListPage::parse(&json!({})).unwrap(), ListPage::All);
        assert_eq!(
            ListPage::parse(&json!({"page_size": null, "before": null})).unwrap(),
            ListPage::All
        );
        assert_eq!(
            ListPage::parse(&json!({"page_size": 50})).unwrap(),
            ListPage::First { size: 50 }
        );
        assert_eq!(
            ListPage::parse(&json!({"page_size": "7"})).unwrap(),
            ListPage::First { size: 7 }
        );
        assert_eq!(
            ListPage::parse(&json!({"conversation_id": id})).unwrap(),
            ListPage::One {
                conversation_id: stored.into()
            }
        );
        let after = ListPage::parse(&json!({"page_size": 2, "before": {
            "last_message_at": "2026-01-01T01:00:00+01:00",
            "created_at": "2025-12-31T00:00:00Z", "id": id}}))
        .unwrap();
        assert_eq!(
            after,
            ListPage::After {
                size: 2,
                cursor: Cursor {
                    last_message_at: Some("2026-01-01T00:00:00.000000+00:00".into()),
                    created_at: "2025-12-31T00:00:00.000000+00:00".into(),
                    id: stored.into(),
                }
            }
        );
        let nulls = ListPage::parse(&json!({"page_size": 2, "before": {
            "last_message_at": null, "created_at": "2025-12-31T00:00:00Z", "id": id}}))
        .unwrap();
        assert!(
            matches!(nulls, ListPage::After { cursor, .. } if cursor.last_message_at.is_none())
        );
    }

    #[test]
    fn refuses_bad_page_arguments_as_postgres_does() {
        let id = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        let t = "2026-01-01T00:00:00Z";
        assert_eq!(code(json!({"page_size": 0})), "22023");
        assert_eq!(code(json!({"page_size": 1001})), "22023");
        assert_eq!(code(json!({"page_size": "x"})), "22P02");
        assert_eq!(code(json!({"page_size": 1.5})), "22P02");
        assert_eq!(code(json!({"page_size": 1e12})), "22P02");
        assert_eq!(code(json!({"before": {}})), "22023");
        assert_eq!(
            code(json!({"page_size": 5, "conversation_id": id})),
            "22023"
        );
        assert_eq!(code(json!({"conversation_id": "nope"})), "22P02");
        for before in [
            json!("x"),
            json!({"created_at": t, "id": id}),
            json!({"last_message_at": null, "created_at": null, "id": id}),
            json!({"last_message_at": null, "created_at": t}),
            json!({"last_message_at": 5, "created_at": t, "id": id}),
        ] {
            assert_eq!(code(json!({"page_size": 5, "before": before})), "22023");
        }
        assert_eq!(
            code(
                json!({"page_size": 5, "before": {"last_message_at": "soon", "created_at": t, "id": id}})
            ),
            "22007"
        );
        assert_eq!(
            code(
                json!({"page_size": 5, "before": {"last_message_at": t, "created_at": t, "id": "x"}})
            ),
            "22P02"
        );
    }
}
