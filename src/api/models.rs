//! Wire types of the GoTrue and PostgREST answers we read.

use serde::{Deserialize, Serialize};
pub use switchboard_wire::Priority;

/// `app_metadata` of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AppMetadata {
    /// Organisation id.
    #[serde(default)]
    pub org_id: String,
    /// Organisation name, for the header.
    #[serde(default)]
    pub org_name: String,
    /// "dispatcher" or "medic".
    #[serde(default)]
    pub app_role: String,
}

/// `user_metadata` of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UserMetadata {
    /// Name shown in the UI.
    #[serde(default)]
    pub display_name: String,
}

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// User id.
    pub id: String,
    /// Email address.
    #[serde(default)]
    pub email: String,
    /// Server-controlled metadata.
    #[serde(default)]
    pub app_metadata: AppMetadata,
    /// Display metadata.
    #[serde(default)]
    pub user_metadata: UserMetadata,
}

/// A GoTrue session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Bearer token for REST and realtime.
    pub access_token: String,
    /// Single-use token for the next refresh.
    pub refresh_token: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: i64,
    /// Expiry as unix seconds.
    pub expires_at: i64,
    /// Who is signed in.
    pub user: User,
}

/// A row of `conversations_with_unread`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationSummary {
    /// Conversation id.
    pub id: String,
    /// The medic's user id.
    pub medic_id: String,
    /// The medic's name.
    pub medic_name: String,
    /// When it was started (server time): the list's order among conversations without
    /// messages, and part of its page cursor.
    #[serde(default)]
    pub created_at: String,
    /// What it is about: for EMS the unit and incident, e.g. "Medic 6 · Inc 26-0412" (empty
    /// for conversations started before subjects existed).
    #[serde(default)]
    pub subject: String,
    /// Time of the last message.
    pub last_message_at: Option<String>,
    /// First characters of the last message.
    pub last_message_preview: Option<String>,
    /// Messages from the other side newer than my read marker.
    pub unread_count: i64,
    /// Urgent messages from the other side that nobody has acknowledged.
    #[serde(default)]
    pub unacked_urgent: i64,
    /// `created_at` of the oldest of those, if any.
    #[serde(default)]
    pub oldest_unacked_urgent_at: Option<String>,
    /// `created_at` of the newest message the medic sent here, if any.
    #[serde(default)]
    pub medic_last_message_at: Option<String>,
}

/// The embedded sender of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    /// Display name.
    pub display_name: String,
    /// "dispatcher" or "medic".
    pub role: String,
}

/// The embedded acknowledger of an urgent message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckUser {
    /// Display name.
    pub display_name: String,
}

/// A `message_acks` row embedded in its message (one per message at most).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Who acknowledged.
    pub user_id: String,
    /// Server time of the acknowledgement.
    pub acked_at: String,
    /// Their name (absent if the server would not show it).
    #[serde(default)]
    pub user: Option<AckUser>,
}

/// A message row with its sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Message id.
    pub id: String,
    /// Conversation id.
    pub conversation_id: String,
    /// Author's user id.
    pub sender_id: String,
    /// Text (rendered as text, never HTML).
    pub body: String,
    /// Server timestamp.
    pub created_at: String,
    /// Embedded author (absent if the server would not show it).
    pub sender: Option<Sender>,
    /// Routine or urgent.
    #[serde(default)]
    pub priority: Priority,
    /// The acknowledgement of an urgent message, once there is one.
    #[serde(default)]
    pub ack: Option<Ack>,
}

/// One piece of a search result's snippet (`search_messages`' `snippet`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnippetSegment {
    /// Body text as sent (or "…" where the body was cut).
    pub text: String,
    /// Whether it is a word the query matched (shown highlighted).
    #[serde(rename = "match")]
    pub matched: bool,
}

/// A row of `search_messages(query, max)`: a visible message that matches, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    /// Message id.
    pub id: String,
    /// Its conversation.
    pub conversation_id: String,
    /// Author's user id.
    pub sender_id: String,
    /// Author's name.
    pub sender_name: String,
    /// The conversation's medic.
    pub medic_name: String,
    /// The conversation's subject.
    #[serde(default)]
    pub subject: String,
    /// Full text.
    pub body: String,
    /// Routine or urgent.
    #[serde(default)]
    pub priority: Priority,
    /// Server timestamp.
    pub created_at: String,
    /// The body cut into runs, matching words marked; a body over 160 characters shows 160 of
    /// them from 40 before the first match, with a "…" segment on each cut side. Adjacent
    /// segments alternate `matched`; none is empty (server `rest/search.rs::snippet`).
    pub snippet: Vec<SnippetSegment>,
}
