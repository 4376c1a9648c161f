//! Writes: message and conversation inserts (idempotent by client id), read-state updates
//! (forward, and back for mark-as-unread), the conversation preview a new message leaves
//! behind, and acknowledgements of urgent messages.
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
use crate::schema::policy::{
    may_acknowledge, may_start_conversation, may_write, AckRefusal, Ownership,
};
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

/// Longest accepted conversation subject, in characters after trimming.
pub const MAX_SUBJECT_CHARS: usize = 120;

/// The columns of a new conversation a client may send. The others are the server's:
/// `org_id` (the caller's organisation, from the token), `created_at` (the server clock),
/// `last_message_at` and `last_message_preview` (the conversation's newest message).
const CONVERSATION_INSERT_COLUMNS: &[&str] = &["id", "medic_id", "subject"];

/// A conversation from a request body, parsed but not yet checked against the database.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConversation {
    /// Client-chosen id (makes retries idempotent) or a fresh one.
    pub id: String,
    /// The medic the conversation is with; `None` when absent or null (then the policy
    /// refuses it, as row-level security runs before the NOT NULL check).
    pub medic_id: Option<String>,
    /// The subject with White_Space trimmed from both ends; `""` when absent (the column's
    /// default, which the check refuses), `None` for an explicit null.
    pub subject: Option<String>,
}

/// Parses one conversation object, in the order PostgREST and PostgreSQL fail: unknown
/// column (400 `PGRST204`), a server-owned column (403 `42501` "permission denied for table
/// conversations", as the hosted column-level INSERT grant refuses it, whatever its value,
/// null included), U+0000 (400 `22P05`), a malformed uuid (400 `22P02`). The policy and the
/// subject check come later, in [`insert_conversations`].
///
/// # Errors
/// Each of the above.
pub fn parse_new_conversation(value: &Value) -> Result<NewConversation> {
    let object = value
        .as_object()
        .ok_or_else(|| Error::bad_body("each conversation must be a JSON object"))?;
    for key in object.keys() {
        if CONVERSATIONS.column(key).is_none() {
            return Err(Error::api(
                StatusCode::BAD_REQUEST,
                "PGRST204",
                format!("Could not find the '{key}' column of 'conversations' in the schema cache"),
            ));
        }
    }
    if let Some(column) = object
        .keys()
        .find(|k| !CONVERSATION_INSERT_COLUMNS.contains(&k.as_str()))
    {
        return Err(Error::api(
            StatusCode::FORBIDDEN,
            "42501",
            format!("permission denied for table {}", CONVERSATIONS.name),
        )
        .with_details(format!("column \"{column}\" is set by the server")));
    }
    reject_nul(value)?;
    let id = match str_field(object, "id")? {
        Some(id) => parse_uuid("id", id)?,
        None => uuid::Uuid::new_v4().to_string(),
    };
    let medic_id = str_field(object, "medic_id")?
        .map(|m| parse_uuid("medic_id", m))
        .transpose()?;
    let subject = match object.get("subject") {
        None => Some(String::new()),
        Some(Value::Null) => None,
        Some(_) => str_field(object, "subject")?.map(|s| s.trim().to_string()),
    };
    Ok(NewConversation {
        id,
        medic_id,
        subject,
    })
}

/// The subject rule: 1 to [`MAX_SUBJECT_CHARS`] characters (Unicode scalar values,
/// PostgreSQL's `char_length`) once trimmed, and not blank
/// ([`switchboard_wire::text::is_blank`], the message body's rule). The hosted trigger
/// `conversations_subject_check` holds the same rule and answers the same error; rows
/// stored before it keep `''`.
///
/// # Errors
/// 400 `23514` naming `conversations_subject_length`.
pub fn check_subject(subject: &str) -> Result<()> {
    let chars = subject.chars().count();
    if chars == 0 || chars > MAX_SUBJECT_CHARS || is_blank(subject) {
        return Err(Error::api(
            StatusCode::BAD_REQUEST,
            "23514",
            "new row for relation \"conversations\" violates check constraint \"conversations_subject_length\"",
        )
        .with_details(format!(
            "subject must be 1 to {MAX_SUBJECT_CHARS} characters and not blank; got {chars}"
        )));
    }
    Ok(())
}

/// Starts conversations (`POST /rest/v1/conversations`) in one transaction; returns their
/// ids in input order. For each, in the hosted order: the policy
/// ([`may_start_conversation`]: a medic of the caller's organisation, the caller
/// themselves if a medic; row-level security), NOT NULL, the key, then the subject
/// ([`check_subject`]; hosted, an AFTER INSERT trigger, so old rows with `''` stay
/// writable). The
/// organisation comes from the token and `created_at` from the server clock; the
/// conversation starts without messages (`last_message_*` null). Each new row goes out on
/// the change feed as an INSERT, to whoever the conversations rule lets see it.
///
/// A client-chosen id makes a retry idempotent as a message's is: the same id with the same
/// medic, subject and organisation answers the stored row; anything else reusing it is a
/// conflict. (Hosted PostgREST answers every reuse with the 409; the app takes either as
/// "stored".)
///
/// # Errors
/// - 403 `42501` "new row violates row-level security policy for table \"conversations\""
///   when the policy refuses;
/// - 400 `23502` for a null subject; 400 `23514` ([`check_subject`]);
/// - 409 `23505` naming `conversations_pkey` for an id taken by another conversation.
pub fn insert_conversations(
    tx: &Transaction<'_>,
    who: &Principal,
    items: &[NewConversation],
    changes: &mut Vec<Change>,
) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for c in items {
        let medic: Option<(String, String)> = match &c.medic_id {
            Some(id) => tx
                .query_row("SELECT org_id, role FROM users WHERE id = ?1", [id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?,
            None => None,
        };
        let stored = medic
            .as_ref()
            .map(|(org, role)| (org.as_str(), role.as_str()));
        let Some(medic_id) = c
            .medic_id
            .as_deref()
            .filter(|m| may_start_conversation(m, stored, who))
        else {
            return Err(Error::rls_violation(CONVERSATIONS.name));
        };
        let Some(subject) = c.subject.as_deref() else {
            return Err(Error::api(
                StatusCode::BAD_REQUEST,
                "23502",
                "null value in column \"subject\" of relation \"conversations\" violates not-null constraint",
            ));
        };
        let existing: Option<(String, String, String)> = tx
            .query_row(
                "SELECT org_id, medic_id, subject FROM conversations WHERE id = ?1",
                [&c.id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if let Some(found) = existing {
            if found
                == (
                    who.org_id.clone(),
                    medic_id.to_string(),
                    subject.to_string(),
                )
            {
                ids.push(c.id.clone());
                continue;
            }
            return Err(Error::api(
                StatusCode::CONFLICT,
                "23505",
                "duplicate key value violates unique constraint \"conversations_pkey\"",
            )
            .with_details(format!("Key (id)=({}) already exists.", c.id)));
        }
        check_subject(subject)?;
        let at = now_micros();
        tx.execute(
            "INSERT INTO conversations (id, org_id, medic_id, created_at, subject) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![c.id, who.org_id, medic_id, format_micros(at), subject],
        )?;
        changes.push(conversation_row_change(tx, &c.id, ChangeKind::Insert, at)?);
        ids.push(c.id.clone());
    }
    Ok(ids)
}

/// What one `POST` inserts: messages or conversations, parsed from the body's objects.
#[derive(Debug, Clone, PartialEq)]
pub enum NewRows {
    /// `POST /rest/v1/messages`.
    Messages(Vec<NewMessage>),
    /// `POST /rest/v1/conversations`.
    Conversations(Vec<NewConversation>),
}

impl NewRows {
    /// The table a `POST` to `/rest/v1/<name>` writes: conversations for that name, else
    /// messages (which then refuses any other table as a missing grant).
    pub fn target(name: &str) -> &'static crate::schema::Table {
        if name == CONVERSATIONS.name {
            &CONVERSATIONS
        } else {
            &MESSAGES
        }
    }

    /// Parses the body's objects as rows of `table` (one of [`NewRows::target`]'s).
    ///
    /// # Errors
    /// [`parse_new_message`]'s or [`parse_new_conversation`]'s.
    pub fn parse(
        table: &crate::schema::Table,
        items: &[Value],
        who: &Principal,
    ) -> Result<NewRows> {
        if table.name == CONVERSATIONS.name {
            let rows = items.iter().map(parse_new_conversation);
            Ok(NewRows::Conversations(rows.collect::<Result<_>>()?))
        } else {
            let rows = items.iter().map(|v| parse_new_message(v, who));
            Ok(NewRows::Messages(rows.collect::<Result<_>>()?))
        }
    }

    /// Inserts the rows ([`insert_messages`] or [`insert_conversations`]); returns their ids
    /// in input order.
    ///
    /// # Errors
    /// Theirs.
    pub fn insert(
        &self,
        tx: &Transaction<'_>,
        who: &Principal,
        changes: &mut Vec<Change>,
    ) -> Result<Vec<String>> {
        match self {
            NewRows::Messages(rows) => insert_messages(tx, who, rows, changes),
            NewRows::Conversations(rows) => insert_conversations(tx, who, rows, changes),
        }
    }
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
    conversation_row_change(tx, id, ChangeKind::Update, at)
}

/// A change of `kind` carrying the whole conversation row as it is now, as Realtime sends
/// a row of a table with row-level security (the old row is its key only).
fn conversation_row_change(
    tx: &Transaction<'_>,
    id: &str,
    kind: ChangeKind,
    at: i64,
) -> Result<Change> {
    let (record, org_id, medic_id) = tx.query_row(
        "SELECT id, org_id, medic_id, created_at, last_message_at, last_message_preview, subject \
         FROM conversations WHERE id = ?1",
        [id],
        |r| {
            let org: String = r.get(1)?;
            let medic: String = r.get(2)?;
            Ok((
                json!({
                    "id": r.get::<_, String>(0)?, "org_id": org, "medic_id": medic,
                    "created_at": r.get::<_, String>(3)?, "last_message_at": r.get::<_, Option<String>>(4)?,
                    "last_message_preview": r.get::<_, Option<String>>(5)?,
                    "subject": r.get::<_, String>(6)?,
                }),
                org,
                medic,
            ))
        },
    )?;
    Ok(Change {
        table: &CONVERSATIONS,
        kind,
        record: Some(record),
        old_record: (kind != ChangeKind::Insert).then(|| json!({"id": id})),
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
///   unread what another tab read. Only [`mark_conversation_unread`], the explicit
///   mark-as-unread, moves a marker back.
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
    store_marker(tx, who, conversation_id, owner, previous, value, changes).map(Some)
}

/// Stores the caller's marker of a conversation they may write it in (`owner`, with the
/// caller as user), replacing `previous` (what is stored now), and records the change for
/// Realtime unless nothing changed. Returns the row `{user_id, conversation_id,
/// last_read_at}`.
fn store_marker(
    tx: &Transaction<'_>,
    who: &Principal,
    conversation_id: &str,
    owner: Ownership,
    previous: Option<String>,
    value: String,
    changes: &mut Vec<Change>,
) -> Result<Value> {
    let record =
        json!({"user_id": who.user_id, "conversation_id": conversation_id, "last_read_at": value});
    if previous.as_deref() == Some(value.as_str()) {
        return Ok(record);
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
    Ok(record)
}

/// The 404 `P0002` a writing RPC answers for a row the caller cannot see (or that does not
/// exist); the hosted functions raise it through PostgREST's `PGRST` escape, as a plain
/// P0002 would reach clients as a 500.
fn not_found(what: &str) -> Error {
    Error::api(StatusCode::NOT_FOUND, "P0002", format!("{what} not found"))
}

/// Moves the caller's read marker of a conversation back to just before one of its
/// messages (the `mark_conversation_unread` RPC), so that message and every later one from
/// the other side count as unread again. This is the one path that lifts the "never
/// backwards" rule of [`set_read_marker`] (the hosted function lifts it in
/// `read_state_before_write` for its own update only):
/// - **just before** is the message's `created_at` minus one microsecond. That is exact:
///   `created_at` has microsecond resolution and is unique per conversation (the index
///   `messages_conversation_time`, hosted `unique (conversation_id, created_at)`), so no other
///   message of the conversation lies between the two, and unread means `created_at >
///   last_read_at`;
/// - **never forwards**: a marker already at or before that point stays, and a caller
///   without a marker (everything is unread already) gets none, so marking unread never
///   marks anything read.
///
/// Records the read_state UPDATE for Realtime when the marker moved (the caller's other
/// tabs refetch their list and badge).
///
/// # Errors
/// - 404 `P0002` "conversation not found" for a conversation the caller cannot see;
/// - 404 `P0002` "message not found" for a message the caller cannot see;
/// - 400 `22023` "message is not in this conversation" for a visible message of another
///   conversation.
pub fn mark_conversation_unread(
    tx: &Transaction<'_>,
    who: &Principal,
    conversation_id: &str,
    message_id: &str,
    changes: &mut Vec<Change>,
) -> Result<()> {
    let owner = conversation_target(tx, conversation_id)?
        .map(|t| Ownership {
            user_id: Some(who.user_id.clone()),
            ..t.owner
        })
        .filter(|owner| may_write(&READ_STATE, owner, who))
        .ok_or_else(|| not_found("conversation"))?;
    let message: Option<(String, String, String, String)> = tx
        .query_row(
            "SELECT m.conversation_id, m.created_at, c.org_id, c.medic_id FROM messages m \
             JOIN conversations c ON c.id = m.conversation_id WHERE m.id = ?1",
            [message_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let (in_conversation, created_at, _, _) = message
        .filter(|(_, _, org, medic)| {
            let seen_as = Ownership {
                org_id: org.clone(),
                medic_id: Some(medic.clone()),
                user_id: None,
            };
            MESSAGES.access.allows(&seen_as, who)
        })
        .ok_or_else(|| not_found("message"))?;
    if in_conversation != conversation_id {
        return Err(Error::api(
            StatusCode::BAD_REQUEST,
            "22023",
            "message is not in this conversation",
        )
        .with_details(format!(
            "message {message_id} belongs to another conversation"
        )));
    }
    let Some(sent) = clock::parse_micros(&created_at) else {
        return Err(Error::api(
            StatusCode::INTERNAL_SERVER_ERROR,
            "XX000",
            "a stored message time is unreadable",
        ));
    };
    let just_before = sent - 1;
    let previous: Option<String> = tx
        .query_row(
            "SELECT last_read_at FROM read_state WHERE user_id = ?1 AND conversation_id = ?2",
            [&who.user_id, conversation_id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(previous_micros) = previous.as_deref().and_then(clock::parse_micros) else {
        return Ok(());
    };
    if previous_micros <= just_before {
        return Ok(());
    }
    store_marker(
        tx,
        who,
        conversation_id,
        owner,
        previous,
        format_micros(just_before),
        changes,
    )?;
    Ok(())
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
    fn a_new_conversation_names_only_its_own_columns() {
        let medic = "6b0f3c8e-8f61-4f3e-9a49-0b8f1d0c2a11";
        let parsed =
            parse_new_conversation(&json!({"medic_id": medic, "subject": "  Medic 6\n"})).unwrap();
        assert_eq!(
            (parsed.medic_id.as_deref(), parsed.subject.as_deref()),
            (Some(medic), Some("Medic 6"))
        );
        assert!(uuid::Uuid::parse_str(&parsed.id).is_ok(), "a fresh id");
        let absent = parse_new_conversation(&json!({"medic_id": medic})).unwrap();
        assert_eq!(absent.subject.as_deref(), Some(""), "the column default");
        let null = parse_new_conversation(&json!({"medic_id": null, "subject": null})).unwrap();
        assert_eq!((null.medic_id, null.subject), (None, None));
        let code = |body: Value| match parse_new_conversation(&body) {
            Err(Error::Api { code, .. }) => code,
            other => panic!("{body}: {other:?}"),
        };
        for owned in [
            "org_id",
            "created_at",
            "last_message_at",
            "last_message_preview",
        ] {
            assert_eq!(code(json!({"medic_id": medic, owned: null})), "42501");
        }
        assert_eq!(code(json!({"medic_id": medic, "nope": 1})), "PGRST204");
        assert_eq!(code(json!({"medic_id": medic, "org_id": "\u{0}"})), "42501");
        assert_eq!(
            code(json!({"medic_id": medic, "subject": "\u{0}"})),
            "22P05"
        );
        assert_eq!(code(json!({"medic_id": "m"})), "22P02");
        assert_eq!(code(json!({"id": "c", "medic_id": medic})), "22P02");
    }

    #[test]
    fn subjects_are_1_to_120_characters_and_not_blank() {
        for ok in ["Medic 6 · Inc 26-0412", "x", &"é".repeat(MAX_SUBJECT_CHARS)] {
            assert!(check_subject(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "\u{200B}",
            "\u{2800}\u{3164}",
            &"x".repeat(MAX_SUBJECT_CHARS + 1),
        ] {
            let e = check_subject(bad).unwrap_err();
            assert!(
                matches!(&e, Error::Api { code, message, .. }
                    if code == "23514" && message.contains("conversations_subject_length")),
                "{bad:?}: {e:?}"
            );
        }
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
