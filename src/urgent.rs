//! Urgent messages as pure rules: who may acknowledge one, how the list pins conversations
//! that wait for an acknowledgement, and which one the header's urgent counter opens.
//!
//! Only the receiving side acknowledges: a dispatcher acknowledges a medic's urgent
//! message, the conversation's medic a dispatcher's (a crew confirming an order); never the
//! sender, never someone on the sender's own side. The server enforces the same rule
//! (`acknowledge_message`); the client uses it only to show the button where it can work.

use crate::api::{ConversationSummary, Message, Priority};

/// The signed-in user's side of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Anyone at the dispatch desk.
    Dispatcher,
    /// The crew in the field.
    Medic,
}

impl Side {
    /// The side of an `app_role` (`"dispatcher"` | `"medic"`); anything else is treated as a
    /// dispatcher, the side that sees the whole org.
    pub fn of_role(role: &str) -> Side {
        if role == "medic" {
            Side::Medic
        } else {
            Side::Dispatcher
        }
    }
}

/// Whether `me` (on `side`) may acknowledge `message`: an urgent message nobody has
/// acknowledged yet, from the other side. A message whose sender the server did not embed
/// counts as the other side only for a medic (in a medic's conversation everyone else is
/// dispatch).
pub fn can_acknowledge(message: &Message, me: &str, side: Side) -> bool {
    message.priority == Priority::Urgent
        && message.ack.is_none()
        && from_other_side(message, me, side)
}

/// Whether `message` was sent by the other side of the conversation for `me` on `side`: the
/// medic for a dispatcher, dispatch for the medic. These are the messages that count as
/// unread for `me` (as `conversations_with_unread` counts them) and that `me` may
/// acknowledge or mark as unread. Without the embedded sender, a dispatcher cannot tell.
pub fn from_other_side(message: &Message, me: &str, side: Side) -> bool {
    if message.sender_id == me {
        return false;
    }
    match (&message.sender, side) {
        (Some(sender), Side::Dispatcher) => sender.role == "medic",
        (Some(sender), Side::Medic) => sender.role != "medic",
        (None, Side::Medic) => true,
        (None, Side::Dispatcher) => false,
    }
}

/// The list as shown: conversations with an unacknowledged urgent message first (the one
/// waiting longest on top), whatever their last message's time; the rest in the server's
/// order (newest first).
pub fn pin_urgent(list: &[ConversationSummary]) -> Vec<ConversationSummary> {
    let mut urgent: Vec<&ConversationSummary> =
        list.iter().filter(|c| c.unacked_urgent > 0).collect();
    // Timestamps are canonical text, so they order as strings; a missing one sorts last.
    urgent.sort_by(|a, b| {
        let key = |c: &ConversationSummary| {
            (
                c.oldest_unacked_urgent_at.is_none(),
                c.oldest_unacked_urgent_at.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    urgent
        .into_iter()
        .chain(list.iter().filter(|c| c.unacked_urgent == 0))
        .cloned()
        .collect()
}

/// The conversation holding the oldest unacknowledged urgent message, if any.
pub fn oldest_unacknowledged(list: &[ConversationSummary]) -> Option<String> {
    pin_urgent(list)
        .into_iter()
        .find(|c| c.unacked_urgent > 0)
        .map(|c| c.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::{Ack, Sender};

    fn message(sender_id: &str, role: Option<&str>, priority: Priority) -> Message {
        Message {
            id: "m1".into(),
            conversation_id: "c1".into(),
            sender_id: sender_id.into(),
            body: "Patient coding, need a second unit".into(),
            created_at: "2026-11-30T10:00:00.000000+00:00".into(),
            sender: role.map(|r| Sender {
                display_name: "Someone".into(),
                role: r.into(),
            }),
            priority,
            ack: None,
        }
    }

    #[test]
    fn only_the_receiving_side_acknowledges_an_open_urgent_message() {
        let from_medic = message("medic-1", Some("medic"), Priority::Urgent);
        assert!(can_acknowledge(&from_medic, "ana", Side::Dispatcher));
        assert!(
            !can_acknowledge(&from_medic, "medic-1", Side::Medic),
            "its sender"
        );
        let from_dispatch = message("ana", Some("dispatcher"), Priority::Urgent);
        assert!(can_acknowledge(&from_dispatch, "medic-1", Side::Medic));
        assert!(
            !can_acknowledge(&from_dispatch, "ben", Side::Dispatcher),
            "same side"
        );
        assert!(
            !can_acknowledge(&from_dispatch, "ana", Side::Dispatcher),
            "its sender"
        );
        let routine = message("medic-1", Some("medic"), Priority::Routine);
        assert!(!can_acknowledge(&routine, "ana", Side::Dispatcher));
        let acked = Message {
            ack: Some(Ack {
                user_id: "ben".into(),
                acked_at: "2026-11-30T10:00:05.000000+00:00".into(),
                user: None,
            }),
            ..from_medic.clone()
        };
        assert!(
            !can_acknowledge(&acked, "ana", Side::Dispatcher),
            "once only"
        );
        let unknown = message("x", None, Priority::Urgent);
        assert!(can_acknowledge(&unknown, "medic-1", Side::Medic));
        assert!(!can_acknowledge(&unknown, "ana", Side::Dispatcher));
    }

    fn conversation(id: &str, urgent: i64, oldest: Option<&str>) -> ConversationSummary {
        ConversationSummary {
            id: id.into(),
            medic_id: format!("m-{id}"),
            medic_name: id.to_uppercase(),
            last_message_at: None,
            last_message_preview: None,
            unread_count: 0,
            unacked_urgent: urgent,
            oldest_unacked_urgent_at: oldest.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn urgent_conversations_go_to_the_top_longest_waiting_first() {
        let list = [
            conversation("a", 0, None),
            conversation("b", 1, Some("2026-11-30T10:05:00.000000+00:00")),
            conversation("c", 0, None),
            conversation("d", 2, Some("2026-11-30T10:01:00.000000+00:00")),
        ];
        let order: Vec<String> = pin_urgent(&list).into_iter().map(|c| c.id).collect();
        assert_eq!(order, ["d", "b", "a", "c"]);
        assert_eq!(oldest_unacknowledged(&list).as_deref(), Some("d"));
        assert_eq!(oldest_unacknowledged(&list[..1]), None);
    }

    #[test]
    fn roles_map_to_sides() {
        assert_eq!(Side::of_role("medic"), Side::Medic);
        assert_eq!(Side::of_role("dispatcher"), Side::Dispatcher);
    }
}
