//! Which delivered change alerts, and what the alert says.
//!
//! Alerts come from the realtime event itself (the `data` object the connection hands to
//! listeners, ARCHITECTURE.md, "One medic message", step 5), never from the cache: a
//! refetch says what is there, only the event says what just arrived. The cache supplies
//! only names (the conversation's medic in the list).

use serde_json::Value;
use switchboard_wire::change;

use crate::api::{ConversationSummary, Priority};
use crate::urgent::Side;

/// How many characters of a message a notification shows.
pub const PREVIEW_CHARS: usize = 140;

/// The name a medic sees for whoever writes from the dispatch desk.
pub const DISPATCH_NAME: &str = "Dispatch";

/// The signed-in user, as the alert rules need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    /// Their user id (`auth.users.id`).
    pub user_id: String,
    /// Their organisation (`app_metadata.org_id`).
    pub org_id: String,
    /// Dispatch desk or crew.
    pub side: Side,
}

/// A `messages` INSERT, as read from the event's `record`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Message id.
    pub id: String,
    /// The organisation it belongs to (absent only if the server left it out).
    pub org_id: Option<String>,
    /// Its conversation.
    pub conversation_id: String,
    /// Its author.
    pub sender_id: String,
    /// Its text.
    pub body: String,
    /// Server time (canonical text that orders as a string, like the list's timestamps).
    pub created_at: String,
    /// Routine or urgent (routine when absent, as the column's default).
    pub priority: Priority,
}

/// A change event, as far as alerts care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A message was sent.
    Message(NewMessage),
    /// An urgent message was acknowledged (`message_acks` INSERT).
    Ack {
        /// The acknowledged message.
        message_id: String,
        /// The organisation (absent only if the server left it out).
        org_id: Option<String>,
    },
    /// Anything else (read markers, conversation updates, malformed records).
    Other,
}

fn text(record: &Value, field: &str) -> Option<String> {
    record
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Reads a postgres_changes `data` object (`{table, type, record, …}`). A record that lacks
/// what an alert needs is `Other`: data from the network is never trusted to be whole.
pub fn read_change(data: &Value) -> Change {
    let table = data.get(change::TABLE).and_then(Value::as_str);
    let kind = data.get(change::TYPE).and_then(Value::as_str);
    let Some(record) = data.get(change::RECORD) else {
        return Change::Other;
    };
    match (table, kind) {
        (Some("messages"), Some("INSERT")) => {
            let (Some(id), Some(conversation_id), Some(sender_id)) = (
                text(record, "id"),
                text(record, "conversation_id"),
                text(record, "sender_id"),
            ) else {
                return Change::Other;
            };
            let priority = match record.get("priority").and_then(Value::as_str) {
                Some("urgent") => Priority::Urgent,
                _ => Priority::Routine,
            };
            Change::Message(NewMessage {
                id,
                org_id: text(record, "org_id"),
                conversation_id,
                sender_id,
                body: text(record, "body").unwrap_or_default(),
                created_at: text(record, "created_at").unwrap_or_default(),
                priority,
            })
        }
        (Some("message_acks"), Some("INSERT")) => match text(record, "message_id") {
            Some(message_id) => Change::Ack {
                message_id,
                org_id: text(record, "org_id"),
            },
            None => Change::Other,
        },
        _ => Change::Other,
    }
}

/// Whether an event's org (when it names one) is mine. The channel is already per org;
/// this guards against a misrouted event rather than trusting the topic alone.
pub fn same_org(me: &Me, org_id: Option<&str>) -> bool {
    org_id.is_none_or(|o| o == me.org_id)
}

/// Who a message is from, when it is from the other side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The sender's name from what the cache holds; `None` when the cache does not know the
    /// conversation yet (the alert still goes out, as "New message").
    pub sender_name: Option<String>,
    /// Urgent or routine.
    pub priority: Priority,
}

/// `Some` when `message` reaches `me` from the other side: a medic's message for a
/// dispatcher, a dispatcher's message in their conversation for a medic. Never my own
/// message, a message of my own side, or another org's.
pub fn incoming(
    message: &NewMessage,
    me: &Me,
    conversations: &[ConversationSummary],
) -> Option<Incoming> {
    if message.sender_id == me.user_id || !same_org(me, message.org_id.as_deref()) {
        return None;
    }
    let conversation = conversations
        .iter()
        .find(|c| c.id == message.conversation_id);
    let sender_name = match (me.side, conversation) {
        // The medic of the conversation wrote; anyone else there is a colleague at the desk.
        (Side::Dispatcher, Some(c)) if c.medic_id == message.sender_id => {
            Some(c.medic_name.clone())
        }
        (Side::Dispatcher, Some(_)) => return None,
        // A conversation the list does not hold yet (its first message): still alert.
        (Side::Dispatcher, None) => None,
        // Someone else's conversation: not mine to be alerted about.
        (Side::Medic, Some(c)) if c.medic_id != me.user_id => return None,
        // In a medic's own conversation everyone but them is dispatch.
        (Side::Medic, _) => Some(DISPATCH_NAME.to_string()),
    };
    Some(Incoming {
        sender_name,
        priority: message.priority,
    })
}

/// The name of the other side in a conversation of the list, for reminders.
pub fn other_side_name(me: &Me, conversation: Option<&ConversationSummary>) -> Option<String> {
    match me.side {
        Side::Medic => Some(DISPATCH_NAME.to_string()),
        Side::Dispatcher => conversation.map(|c| c.medic_name.clone()),
    }
}

/// A message's text for a notification: whitespace runs (line breaks included) become one
/// space, cut at [`PREVIEW_CHARS`] characters with an ellipsis.
pub fn preview(body: &str) -> String {
    let flat = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= PREVIEW_CHARS {
        return flat;
    }
    let chars: Vec<char> = flat.chars().collect();
    let mut end = PREVIEW_CHARS - 1;
    // Never end inside an emoji sequence or before a combining mark: step back while the
    // first dropped character extends the last kept one, or the last kept one joins (the
    // same rule as the hosted `message_preview`; the server cuts by UAX #29 clusters).
    while end > 0 && (extends(chars[end]) || chars[end - 1] == '\u{200D}') {
        end -= 1;
    }
    let mut cut: String = chars[..end].iter().collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// Whether `c` belongs to the character before it: a zero-width joiner, a variation
/// selector, a skin-tone modifier, a tag (flag sequences), the keycap mark or a combining
/// mark of the generic blocks.
fn extends(c: char) -> bool {
    matches!(c,
        '\u{200D}' | '\u{FE00}'..='\u{FE0F}' | '\u{1F3FB}'..='\u{1F3FF}'
        | '\u{E0020}'..='\u{E007F}' | '\u{20E3}' | '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

/// Why an alert goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// A message just arrived.
    NewMessage,
    /// An urgent message is still unacknowledged (the escalation schedule).
    Reminder,
}

/// One desktop notification (and the tone that goes with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The conversation: also the notification `tag`, so a burst in one conversation
    /// replaces its notification instead of stacking them (Notifications API, "tag").
    pub conversation_id: String,
    /// New message or reminder.
    pub kind: AlertKind,
    /// Whether an urgent message is the reason.
    pub urgent: bool,
    /// The notification's title: what happened.
    pub title: String,
    /// The notification's body: who, and what they wrote.
    pub body: String,
}

impl Alert {
    /// The notification `tag` (the conversation id).
    pub fn tag(&self) -> &str {
        &self.conversation_id
    }

    /// Urgent notifications stay on screen until the dispatcher acts on them
    /// (Notifications API `requireInteraction`); routine ones time out as the OS decides.
    pub fn require_interaction(&self) -> bool {
        self.urgent
    }

    /// The tone to play with it.
    pub fn tone(&self) -> super::sound::Tone {
        if self.urgent {
            super::sound::Tone::Urgent
        } else {
            super::sound::Tone::Message
        }
    }

    /// A reminder for a conversation whose urgent message is still unacknowledged.
    pub fn reminder(conversation_id: &str, sender_name: Option<&str>, text: &str) -> Alert {
        Alert {
            conversation_id: conversation_id.to_string(),
            kind: AlertKind::Reminder,
            urgent: true,
            title: "Urgent message not acknowledged".into(),
            body: body(sender_name, text),
        }
    }
}

fn body(sender_name: Option<&str>, text: &str) -> String {
    let text = preview(text);
    match (sender_name, text.is_empty()) {
        (Some(name), false) => format!("{name}: {text}"),
        (Some(name), true) => name.to_string(),
        (None, _) => text,
    }
}

/// The alert for a delivered message, or `None`: not from the other side (see [`incoming`]),
/// or `seen` (its conversation is open in a tab that is visible and focused, so the reader
/// already sees it arrive).
pub fn alert_for(
    message: &NewMessage,
    me: &Me,
    conversations: &[ConversationSummary],
    seen: bool,
) -> Option<Alert> {
    let from = incoming(message, me, conversations)?;
    if seen {
        return None;
    }
    let urgent = from.priority == Priority::Urgent;
    Some(Alert {
        conversation_id: message.conversation_id.clone(),
        kind: AlertKind::NewMessage,
        urgent,
        title: if urgent {
            "Urgent message".into()
        } else {
            "New message".into()
        },
        body: body(from.sender_name.as_deref(), &message.body),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn dispatcher() -> Me {
        Me {
            user_id: "ana".into(),
            org_id: "o1".into(),
            side: Side::Dispatcher,
        }
    }

    pub(crate) fn medic() -> Me {
        Me {
            user_id: "medic-1".into(),
            org_id: "o1".into(),
            side: Side::Medic,
        }
    }

    pub(crate) fn row(id: &str, medic: &str, name: &str) -> ConversationSummary {
        ConversationSummary {
            id: id.into(),
            medic_id: medic.into(),
            medic_name: name.into(),
            last_message_at: None,
            last_message_preview: None,
            unread_count: 0,
            unacked_urgent: 0,
            oldest_unacked_urgent_at: None,
            ..Default::default()
        }
    }

    pub(crate) fn insert(id: &str, conv: &str, sender: &str, priority: &str) -> Value {
        json!({"table": "messages", "type": "INSERT", "record": {
            "id": id, "org_id": "o1", "conversation_id": conv, "sender_id": sender,
            "body": "Patient coding,\n need a second unit", "created_at": "2026-11-30T10:00:00.000000+00:00",
            "priority": priority}})
    }

    fn message(data: &Value) -> NewMessage {
        match read_change(data) {
            Change::Message(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_message_and_ack_inserts_and_nothing_else() {
        let m = message(&insert("m1", "c1", "medic-1", "urgent"));
        assert_eq!(
            (
                m.id.as_str(),
                m.conversation_id.as_str(),
                m.priority,
                m.org_id.as_deref()
            ),
            ("m1", "c1", Priority::Urgent, Some("o1"))
        );
        let ack = json!({"table": "message_acks", "type": "INSERT",
            "record": {"message_id": "m1", "org_id": "o1", "user_id": "ana", "acked_at": "x"}});
        assert_eq!(
            read_change(&ack),
            Change::Ack {
                message_id: "m1".into(),
                org_id: Some("o1".into())
            }
        );
        for other in [
            json!({"table": "messages", "type": "UPDATE", "record": {"id": "m1"}}),
            json!({"table": "read_state", "type": "INSERT", "record": {}}),
            json!({"table": "messages", "type": "INSERT", "record": {"id": "m1"}}),
            json!({"table": "messages", "type": "INSERT"}),
            json!("garbage"),
        ] {
            assert_eq!(read_change(&other), Change::Other, "{other}");
        }
        let routine = json!({"table": "messages", "type": "INSERT",
            "record": {"id": "m", "conversation_id": "c", "sender_id": "s"}});
        assert_eq!(message(&routine).priority, Priority::Routine);
    }

    #[test]
    fn a_dispatcher_is_alerted_by_medics_only() {
        let list = [row("c1", "medic-1", "Jordan Reyes")];
        let me = dispatcher();
        let from_medic = message(&insert("m1", "c1", "medic-1", "routine"));
        let alert = alert_for(&from_medic, &me, &list, false).expect("alerts");
        assert_eq!(alert.title, "New message");
        assert_eq!(
            alert.body,
            "Jordan Reyes: Patient coding, need a second unit"
        );
        assert_eq!(alert.tag(), "c1", "one notification per conversation");
        assert!(!alert.require_interaction());
        assert_eq!(alert.tone(), super::super::sound::Tone::Message);

        let mine = message(&insert("m2", "c1", "ana", "routine"));
        assert_eq!(alert_for(&mine, &me, &list, false), None, "my own");
        let colleague = message(&insert("m3", "c1", "ben", "urgent"));
        assert_eq!(
            alert_for(&colleague, &me, &list, false),
            None,
            "another dispatcher's"
        );
        assert_eq!(
            alert_for(&from_medic, &me, &list, true),
            None,
            "open in a visible, focused tab: the reader sees it"
        );
        let mut elsewhere = from_medic.clone();
        elsewhere.org_id = Some("o2".into());
        assert_eq!(
            alert_for(&elsewhere, &me, &list, false),
            None,
            "another org"
        );
    }

    #[test]
    fn urgent_alerts_stay_until_acted_on() {
        let list = [row("c1", "medic-1", "Jordan Reyes")];
        let urgent = message(&insert("m1", "c1", "medic-1", "urgent"));
        let alert = alert_for(&urgent, &dispatcher(), &list, false).expect("alerts");
        assert!(alert.urgent && alert.require_interaction());
        assert_eq!(alert.title, "Urgent message");
        assert_eq!(alert.tone(), super::super::sound::Tone::Urgent);
    }

    #[test]
    fn an_unknown_sender_still_alerts() {
        let unknown = message(&insert("m1", "c-new", "medic-9", "routine"));
        let alert = alert_for(&unknown, &dispatcher(), &[], false).expect("alerts");
        assert_eq!(alert.title, "New message");
        assert_eq!(alert.body, "Patient coding, need a second unit");
    }

    #[test]
    fn a_medic_is_alerted_by_dispatch_in_their_conversation() {
        let list = [row("c1", "medic-1", "Jordan Reyes")];
        let me = medic();
        let order = message(&insert("m1", "c1", "ana", "urgent"));
        let alert = alert_for(&order, &me, &list, false).expect("alerts");
        assert_eq!(alert.body, "Dispatch: Patient coding, need a second unit");
        assert!(alert.urgent);
        assert_eq!(
            alert_for(&order, &me, &[], false).map(|a| a.body),
            Some("Dispatch: Patient coding, need a second unit".into()),
            "the list not loaded yet"
        );
        let own = message(&insert("m2", "c1", "medic-1", "routine"));
        assert_eq!(alert_for(&own, &me, &list, false), None);
        let other_crew = [row("c2", "medic-2", "Sam Lee")];
        let theirs = message(&insert("m3", "c2", "ana", "routine"));
        assert_eq!(alert_for(&theirs, &me, &other_crew, false), None);
    }

    #[test]
    fn previews_never_end_inside_an_emoji_sequence() {
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}\u{200D}\u{1F466}";
        for pad in 130..140 {
            let body = format!("{}{family} end", "a".repeat(pad));
            let p = preview(&body);
            let kept = p.trim_end_matches('…');
            let parts = ['\u{1F468}', '\u{1F469}', '\u{1F467}', '\u{1F466}'];
            assert!(
                kept.contains(family) || !kept.chars().any(|c| parts.contains(&c)),
                "a lone part of the family at pad {pad}: {:?}",
                kept.chars().rev().take(3).collect::<String>()
            );
            assert!(p.chars().count() <= PREVIEW_CHARS);
        }
    }

    #[test]
    fn previews_are_flat_and_short() {
        assert_eq!(preview("  a\n\tb  "), "a b");
        let long = "x".repeat(500);
        let p = preview(&long);
        assert_eq!(p.chars().count(), PREVIEW_CHARS);
        assert!(p.ends_with('…'));
        let accents = "é".repeat(300);
        assert_eq!(preview(&accents).chars().count(), PREVIEW_CHARS);
        assert_eq!(
            Alert::reminder("c1", Some("Jordan"), "").body,
            "Jordan",
            "no text: the name alone"
        );
    }
}
