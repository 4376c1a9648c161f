//! Writes: message inserts (idempotent by client id), read-state updates, the conversation
//! preview a new message leaves behind, and acknowledgements of urgent messages.
//!
//! Who may write where is the policy's call ([`may_write`]); this module only gathers the
//! facts it decides on and records the changes for Realtime.

use axum::http::StatusCode;
use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::{json, Map, Value};
use switchboard_wire::text::is_blank;
use unicode_segmentation::UnicodeSegmentation;

use crate::auth::jwt::Principal;
use crate::clock::{self, format_micros, now_micros, Micros};
use crate::db::{Change, ChangeKind};
use crate::error::{Error, Result};
use crate::schema::filter::normalise;
use crate::schema::policy::{may_acknowledge, may_write, AckRefusal, Ownership};
use crate::schema::tables::{ColType, CONVERSATIONS, MESSAGES, MESSAGE_ACKS, READ_STATE};

use super::nul::reject_nul;

pub use switchboard_wire::Priority;

/// Longest accepted message body, in characters.
pub const MAX_BODY_CHARS: usize = 4000;

/// Reads a request's `priority`; absent means routine.
///
/// # Errors
/// As Postgres answers through PostgREST: 400 `23502` for an explicit null (the column is
/// NOT NULL), 400 `23514` naming `messages_priority_check` for any other value (a JSON
/// number or boolean becomes its text, which the check refuses too).
pub fn priority_from_body(value: Option<&Value>) -> Result<Priority> {
    let refused = |got: &Value| {
        Error::api(
            StatusCode::BAD_REQUEST,
            "23514",
            "new row for relation \"messages\" violates check constraint \"messages_priority_check\"",
        )
        .with_details(format!("priority must be \"routine\" or \"urgent\"; got {got}"))
    };
    match value {
        None => Ok(Priority::Routine),
        Some(Value::Null) => Err(Error::api(
            StatusCode::BAD_REQUEST,
            "23502",
            "null value in column \"priority\" of relation \"messages\" violates not-null constraint",
        )),
        Some(got @ Value::String(text)) => Priority::parse(text).ok_or_else(|| refused(got)),
        Some(got) => Err(refused(got)),
    }
}

/// A validated message from a request body.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Client-chosen id (makes retries idempotent) or a fresh one.
    pub id: String,
    /// Target conversation.
    pub conversation_id: String,
    /// Text.
    pub body: String,
    /// Routine or urgent.
    pub priority: Priority,
}

fn str_field<'a>(object: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::api(
            StatusCode::BAD_REQUEST,
            "22P02",
            format!("invalid input syntax: \"{name}\" must be a string"),
        )),
    }
}

fn parse_uuid(name: &str, value: &str) -> Result<String> {
    normalise(ColType::Uuid, value).map_err(|e| e.with_details(format!("column {name}")))
}

/// The refusal of a value in a server-owned column, as the hosted `messages_before_insert`
/// trigger raises it: PostgREST answers SQLSTATE 42501 with 403 (ARCHITECTURE.md, "Backend
/// parity").
fn set_by_server(table: &str, column: &str) -> Error {
    Error::rls_violation(table).with_details(format!("column \"{column}\" is set by the server"))
}

/// Refuses client values in the server-owned columns of a new message: `org_id` and
/// `sender_id` unless they are what the server sets anyway (the caller's org and id),
/// `created_at` always (the server clock stamps it). Absent and null mean "let the server
/// set it". Values are parsed first, as PostgreSQL turns the JSON into a row before any
/// trigger runs.
///
/// # Errors
/// 400 `22P02` / `22007` for a value that is no uuid / timestamp; 403 `42501`
/// ([`set_by_server`]) for one the server would not set.
fn check_server_owned(object: &Map<String, Value>, who: &Principal) -> Result<()> {
    let org = str_field(object, "org_id")?
        .map(|v| parse_uuid("org_id", v))
        .transpose()?;
    let sender = str_field(object, "sender_id")?
        .map(|v| parse_uuid("sender_id", v))
        .transpose()?;
    let created = str_field(object, "created_at")?
        .map(|v| normalise(ColType::Timestamp, v))
        .transpose()?;
    if org.is_some_and(|o| o != who.org_id) {
        return Err(set_by_server(MESSAGES.name, "org_id"));
    }
    if sender.is_some_and(|s| s != who.user_id) {
        return Err(set_by_server(MESSAGES.name, "sender_id"));
    }
    if created.is_some() {
        return Err(set_by_server(MESSAGES.name, "created_at"));
    }
    Ok(())
}

/// Validates one message object, in the order PostgREST and PostgreSQL fail: unknown column
/// (`PGRST204`), U+0000 (`22P05`), malformed uuid (`22P02`), server-owned column (`42501`),
/// then the checks (`23514` body, priority).
///
/// # Errors
/// Each of the above with PostgREST's status; the body check names `messages_body_length`
/// for 0 or more than [`MAX_BODY_CHARS`] characters and for a blank body
/// ([`switchboard_wire::text::is_blank`]).
pub fn parse_new_message(value: &Value, who: &Principal) -> Result<NewMessage> {
    let object = value
        .as_object()
        .ok_or_else(|| Error::bad_body("each message must be a JSON object"))?;
    for key in object.keys() {
        if MESSAGES.column(key).is_none() {
            return Err(Error::api(
                StatusCode::BAD_REQUEST,
                "PGRST204",
                format!("Could not find the '{key}' column of 'messages' in the schema cache"),
            ));
        }
    }
    reject_nul(value)?;
    let id = match str_field(object, "id")? {
        Some(id) => parse_uuid("id", id)?,
        None => uuid::Uuid::new_v4().to_string(),
    };
    let conversation_id = parse_uuid(
        "conversation_id",
        str_field(object, "conversation_id")?.ok_or_else(|| {
            Error::api(
                StatusCode::BAD_REQUEST,
                "23502",
                "null value in column \"conversation_id\" of relation \"messages\" violates not-null constraint",
            )
        })?,
    )?;
    check_server_owned(object, who)?;
    let body = str_field(object, "body")?.unwrap_or_default().to_string();
    let chars = body.chars().count();
    if chars == 0 || chars > MAX_BODY_CHARS || is_blank(&body) {
        return Err(Error::api(
            StatusCode::BAD_REQUEST,
            "23514",
            "new row for relation \"messages\" violates check constraint \"messages_body_length\"",
        )
        .with_details(format!(
            "body must be 1 to {MAX_BODY_CHARS} characters and not blank; got {chars}"
        )));
    }
    let priority = priority_from_body(object.get("priority"))?;
    Ok(NewMessage {
        id,
        conversation_id,
        body,
        priority,
    })
}

/// Longest list preview, in characters (Unicode scalar values, PostgreSQL's `char_length`).
pub const PREVIEW_CHARS: usize = 140;

/// The conversation-list preview of a message body: White_Space runs become one space and
/// the ends are trimmed; a longer result is cut to at most [`PREVIEW_CHARS`] − 1 characters
/// at an extended grapheme cluster boundary (Unicode UAX #29), so an emoji sequence or a
/// letter with its accents is kept or dropped whole, and gets an ellipsis. The hosted
/// `message_preview` SQL function approximates the cut (ARCHITECTURE.md, "Backend parity").
pub fn preview(body: &str) -> String {
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= PREVIEW_CHARS {
        return flat;
    }
    let mut cut = String::new();
    let mut chars = 0;
    for cluster in flat.graphemes(true) {
        chars += cluster.chars().count();
        if chars > PREVIEW_CHARS - 1 {
            break;
        }
        cut.push_str(cluster);
    }
    cut.push('…');
    cut
}

/// The conversation a row is written into: who owns it, and when its newest message was
/// stamped.
struct Target {
    owner: Ownership,
    newest: Option<Micros>,
}

fn conversation_target(tx: &Transaction<'_>, id: &str) -> Result<Option<Target>> {
    let found: Option<(String, String, Option<String>)> = tx
        .query_row(
            "SELECT org_id, medic_id, (SELECT max(created_at) FROM messages WHERE conversation_id = c.id) FROM conversations c WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(found.map(|(org_id, medic_id, newest)| Target {
        owner: Ownership {
            org_id,
            medic_id: Some(medic_id),
            user_id: None,
        },
        newest: newest.as_deref().and_then(clock::parse_micros),
    }))
}

/// The `record` of a new message row, as Realtime sends it.
pub fn message_record(m: &NewMessage, org: &str, sender: &str, at: &str) -> Value {
    json!({
        "id": m.id, "org_id": org, "conversation_id": m.conversation_id, "sender_id": sender,
        "body": m.body, "created_at": at, "priority": m.priority.as_str(),
    })
}

/// Inserts messages in one transaction; returns their ids in input order.
pub fn insert_messages(
    tx: &Transaction<'_>,
    who: &Principal,
    items: &[NewMessage],
    changes: &mut Vec<Change>,
) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for m in items {
        let Some(Target { owner, newest }) = conversation_target(tx, &m.conversation_id)?
            .filter(|t| may_write(&MESSAGES, &t.owner, who))
        else {
            return Err(Error::rls_violation(MESSAGES.name));
        };
        let existing: Option<(String, String, String, String)> = tx
            .query_row(
                "SELECT conversation_id, sender_id, body, priority FROM messages WHERE id = ?1",
                [&m.id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        if let Some(found) = existing {
            // A retry of the same send is answered with the stored row; anything else
            // reusing the id (another body, or the same body at another priority) is a
            // conflict, never a second copy.
            if found
                == (
                    m.conversation_id.clone(),
                    who.user_id.clone(),
                    m.body.clone(),
                    m.priority.as_str().to_string(),
                )
            {
                ids.push(m.id.clone());
                continue;
            }
            return Err(Error::api(
                StatusCode::CONFLICT,
                "23505",
                "duplicate key value violates unique constraint \"messages_pkey\"",
            )
            .with_details(format!("Key (id)=({}) already exists.", m.id)));
        }
        // Strictly increasing per conversation even if the wall clock steps back.
        let floor = newest.map_or(0, |t| t + 1);
        let at_micros = now_micros().max(floor);
        let at = format_micros(at_micros);
        tx.execute(
            "INSERT INTO messages (id, org_id, conversation_id, sender_id, body, created_at, priority) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![m.id, owner.org_id, m.conversation_id, who.user_id, m.body, at, m.priority.as_str()],
        )?;
        let preview = preview(&m.body);
        tx.execute(
            "UPDATE conversations SET last_message_at = ?1, last_message_preview = ?2 WHERE id = ?3",
            params![at, preview, m.conversation_id],
        )?;
        changes.push(Change {
            table: &MESSAGES,
            kind: ChangeKind::Insert,
            record: Some(message_record(m, &owner.org_id, &who.user_id, &at)),
            old_record: None,
            commit_micros: at_micros,
            owner,
            wire: Default::default(),
        });
        changes.push(conversation_change(tx, &m.conversation_id, at_micros)?);
        ids.push(m.id.clone());
    }
    Ok(ids)
}

/// An UPDATE change carrying the conversation row as it is now.
pub fn conversation_change(tx: &Transaction<'_>, id: &str, at: i64) -> Result<Change> {
    let (record, org_id, medic_id) = tx.query_row(
        "SELECT id, org_id, medic_id, created_at, last_message_at, last_message_preview FROM conversations WHERE id = ?1",
        [id],
        |r| {
            let org: String = r.get(1)?;
            let medic: String = r.get(2)?;
            Ok((
                json!({
                    "id": r.get::<_, String>(0)?, "org_id": org, "medic_id": medic,
                    "created_at": r.get::<_, String>(3)?, "last_message_at": r.get::<_, Option<String>>(4)?,
                    "last_message_preview": r.get::<_, Option<String>>(5)?,
                }),
                org,
                medic,
            ))
        },
    )?;
    Ok(Change {
        table: &CONVERSATIONS,
        kind: ChangeKind::Update,
        record: Some(record),
        old_record: Some(json!({"id": id})),
        commit_micros: at,
        owner: Ownership {
            org_id,
            medic_id: Some(medic_id),
            user_id: None,
        },
        wire: Default::default(),
    })
}

/// Sets the caller's read marker of a conversation to `at`, or, with `None` (the
/// `mark_conversation_read` RPC), to its newest message. Every path that writes a marker
/// comes here, and the hosted `read_state_before_write` trigger holds the same two rules
/// (ARCHITECTURE.md, "Backend parity"):
/// - **never ahead**: the marker is at most the conversation's newest committed message (in
///   a conversation without messages, the server clock), so a message stamped later is
///   always unread; this wins over the next rule;
/// - **never backwards**: otherwise a marker only moves forward, so a stale tab cannot
///   unread what another tab read. (Issue 15's mark-as-unread gets its own RPC, which will
///   lift this rule explicitly.)
///
/// Returns the row `{user_id, conversation_id, last_read_at}`, or `None` when the caller may
/// not see the conversation.
pub fn set_read_marker(
    tx: &Transaction<'_>,
    who: &Principal,
    conversation_id: &str,
    at: Option<i64>,
    changes: &mut Vec<Change>,
) -> Result<Option<Value>> {
    let Some(Target { owner, newest }) = conversation_target(tx, conversation_id)? else {
        return Ok(None);
    };
    let owner = Ownership {
        user_id: Some(who.user_id.clone()),
        ..owner
    };
    if !may_write(&READ_STATE, &owner, who) {
        return Ok(None);
    }
    // Up to the newest committed message, not up to "now" nor a client's future time: a
    // message stamped earlier but committed later (or after the clock stepped back) must stay
    // unread. Stamps rise strictly per conversation, so every later message is above this.
    let bound = newest.unwrap_or_else(now_micros);
    let target = at.unwrap_or(bound);
    let previous: Option<String> = tx
        .query_row(
            "SELECT last_read_at FROM read_state WHERE user_id = ?1 AND conversation_id = ?2",
            [&who.user_id, conversation_id],
            |r| r.get(0),
        )
        .optional()?;
    let previous_micros = previous.as_deref().and_then(clock::parse_micros);
    let value = format_micros(previous_micros.map_or(target, |p| p.max(target)).min(bound));
    let record =
        json!({"user_id": who.user_id, "conversation_id": conversation_id, "last_read_at": value});
    if previous.as_deref() == Some(value.as_str()) {
        return Ok(Some(record));
    }
    tx.execute(
        "INSERT INTO read_state (user_id, conversation_id, last_read_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (user_id, conversation_id) DO UPDATE SET last_read_at = excluded.last_read_at",
        params![who.user_id, conversation_id, value],
    )?;
    changes.push(Change {
        table: &READ_STATE,
        kind: if previous.is_some() {
            ChangeKind::Update
        } else {
            ChangeKind::Insert
        },
        record: Some(record.clone()),
        old_record: previous
            .as_ref()
            .map(|_| json!({"user_id": who.user_id, "conversation_id": conversation_id})),
        commit_micros: now_micros(),
        owner,
        wire: Default::default(),
    });
    Ok(Some(record))
}

/// Acknowledges an urgent message for `who` (the `acknowledge_message` RPC): at most one row
/// per message, so a second call, by anyone allowed, answers the existing row and writes
/// nothing. Organisation and user come from the token, `acked_at` from the server clock.
/// Writes are serialised by the one writer connection, so `ON CONFLICT DO NOTHING` then a
/// read cannot race. Returns the row `{message_id, org_id, user_id, acked_at}`.
///
/// # Errors
/// - 404 `P0002` for a message the caller cannot see (as for one that does not exist);
/// - 400 `22023` for a routine message;
/// - 403 `42501` when the caller is not on the receiving side ([`may_acknowledge`]).
pub fn acknowledge_message(
    tx: &Transaction<'_>,
    who: &Principal,
    message_id: &str,
    changes: &mut Vec<Change>,
) -> Result<Value> {
    let found: Option<(String, String, String, String)> = tx
        .query_row(
            "SELECT m.org_id, m.sender_id, m.priority, c.medic_id FROM messages m \
             JOIN conversations c ON c.id = m.conversation_id WHERE m.id = ?1",
            [message_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let owner_of = |org: &str, medic: &str| Ownership {
        org_id: org.to_string(),
        medic_id: Some(medic.to_string()),
        user_id: None,
    };
    let Some((org_id, sender_id, priority, medic_id)) =
        found.filter(|(org, _, _, medic)| MESSAGES.access.allows(&owner_of(org, medic), who))
    else {
        return Err(Error::api(
            StatusCode::NOT_FOUND,
            "P0002",
            "message not found",
        ));
    };
    let urgent = priority == Priority::Urgent.as_str();
    match may_acknowledge(urgent, &sender_id, &medic_id, who) {
        Ok(()) => {}
        Err(AckRefusal::Routine) => {
            return Err(Error::api(
                StatusCode::BAD_REQUEST,
                "22023",
                "only urgent messages are acknowledged",
            )
            .with_details("this message is routine"))
        }
        Err(AckRefusal::NotReceiver) => {
            return Err(Error::api(
                StatusCode::FORBIDDEN,
                "42501",
                "only the receiving side acknowledges an urgent message",
            )
            .with_details(
                "a medic's message is acknowledged by a dispatcher, a dispatcher's by the conversation's medic",
            ))
        }
    }
    let now = now_micros();
    let inserted = tx.execute(
        "INSERT INTO message_acks (message_id, org_id, user_id, acked_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (message_id) DO NOTHING",
        params![message_id, org_id, who.user_id, format_micros(now)],
    )?;
    let row = tx.query_row(
        "SELECT message_id, org_id, user_id, acked_at FROM message_acks WHERE message_id = ?1",
        [message_id],
        |r| {
            Ok(json!({
                "message_id": r.get::<_, String>(0)?,
                "org_id": r.get::<_, String>(1)?,
                "user_id": r.get::<_, String>(2)?,
                "acked_at": r.get::<_, String>(3)?,
            }))
        },
    )?;
    if inserted == 1 {
        changes.push(Change {
            table: &MESSAGE_ACKS,
            kind: ChangeKind::Insert,
            record: Some(row.clone()),
            old_record: None,
            commit_micros: now,
            owner: owner_of(&org_id, &medic_id),
            wire: Default::default(),
        });
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_is_routine_or_urgent() {
        assert_eq!(priority_from_body(None).unwrap(), Priority::Routine);
        assert_eq!(
            priority_from_body(Some(&json!("urgent"))).unwrap(),
            Priority::Urgent
        );
        assert_eq!(
            priority_from_body(Some(&json!("routine"))).unwrap(),
            Priority::Routine
        );
        for bad in [
            json!("URGENT"),
            json!("high"),
            json!(""),
            json!(1),
            json!(true),
        ] {
            let e = priority_from_body(Some(&bad)).unwrap_err();
            assert!(
                matches!(&e, Error::Api { code, message, .. }
                    if code == "23514" && message.contains("messages_priority_check")),
                "{bad}: {e:?}"
            );
        }
        let null = priority_from_body(Some(&Value::Null)).unwrap_err();
        assert!(matches!(null, Error::Api { code, .. } if code == "23502"));
    }

    #[test]
    fn preview_flattens_and_truncates() {
        assert_eq!(preview("a\n  b"), "a b");
        let long = "x".repeat(500);
        let p = preview(&long);
        assert_eq!(p.chars().count(), 140);
        assert!(p.ends_with('…'));
        assert_eq!(
            preview(&"y".repeat(140)),
            "y".repeat(140),
            "140 fit as they are"
        );
    }

    #[test]
    fn preview_cuts_between_grapheme_clusters() {
        let x = "x".repeat(138);
        let family = "👨\u{200D}👩\u{200D}👧\u{200D}👦";
        // A cluster crossing the 139th character is dropped whole ...
        for tail in [family, "🇫🇷", "e\u{301}", "1\u{FE0F}\u{20E3}"] {
            assert_eq!(
                preview(&format!("{x}{tail} more")),
                format!("{x}…"),
                "{tail:?}"
            );
        }
        // ... one that fits is kept whole, and the cut never passes 140 characters.
        let x130 = "x".repeat(130);
        let kept = preview(&format!("{x130}👨\u{200D}👩 yyyyyyyy"));
        assert_eq!(kept, format!("{x130}👨\u{200D}👩 yyyyy…"));
        assert_eq!(kept.chars().count(), 140);
        assert_eq!(preview(&format!("a{}", "\u{301}".repeat(200))), "…");
    }
}
