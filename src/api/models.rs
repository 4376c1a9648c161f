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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationSummary {
    /// Conversation id.
    pub id: String,
    /// The medic's user id.
    pub medic_id: String,
    /// The medic's name.
    pub medic_name: String,
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
