//! Which conversations the list shows while the dispatcher narrows it: words typed into the
//! filter box and the "Unread" and "Urgent" toggles.

use crate::api::ConversationSummary;

/// The list filter: `text` (as typed), and the two toggles. The default shows everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// What the dispatcher typed; split into words on whitespace.
    pub text: String,
    /// Only conversations with unread messages.
    pub unread_only: bool,
    /// Only conversations with urgent messages nobody has acknowledged.
    pub urgent_only: bool,
}

impl ListFilter {
    /// Whether anything narrows the list (so an empty result says "no match", not "no
    /// conversations").
    pub fn is_active(&self) -> bool {
        self.unread_only || self.urgent_only || !self.text.trim().is_empty()
    }

    /// Whether `c` stays in the list: every typed word occurs, case-insensitively, in the
    /// medic's name, the subject or the last message's preview (each word may match a
    /// different one, so "reyes 0412" finds Jordan Reyes' conversation about incident
    /// 26-0412), and the toggles hold.
    pub fn matches(&self, c: &ConversationSummary) -> bool {
        if self.unread_only && c.unread_count == 0 {
            return false;
        }
        if self.urgent_only && c.unacked_urgent == 0 {
            return false;
        }
        let haystack = [
            c.medic_name.as_str(),
            c.subject.as_str(),
            c.last_message_preview.as_deref().unwrap_or_default(),
        ]
        .join("\n")
        .to_lowercase();
        self.text
            .split_whitespace()
            .all(|word| haystack.contains(&word.to_lowercase()))
    }

    /// The conversations of `list` that match, in the list's order, and the `selected` one
    /// whether it matches or not: opening a conversation under "Unread" reads it, and it
    /// must not vanish from under the reader (nor take the keyboard's place in the list).
    pub fn apply(
        &self,
        list: &[ConversationSummary],
        selected: Option<&str>,
    ) -> Vec<ConversationSummary> {
        list.iter()
            .filter(|c| self.matches(c) || selected == Some(c.id.as_str()))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(
        name: &str,
        subject: &str,
        preview: &str,
        unread: i64,
        urgent: i64,
    ) -> ConversationSummary {
        ConversationSummary {
            id: format!("{name}/{subject}"),
            medic_id: "m".into(),
            medic_name: name.into(),
            subject: subject.into(),
            last_message_at: None,
            last_message_preview: Some(preview.into()),
            unread_count: unread,
            unacked_urgent: urgent,
            oldest_unacked_urgent_at: None,
            medic_last_message_at: None,
            ..Default::default()
        }
    }

    #[test]
    fn every_word_must_match_somewhere_ignoring_case() {
        let c = conversation(
            "Jordan Reyes",
            "Medic 6 · Inc 26-0412",
            "En route to Mercy",
            0,
            0,
        );
        let filter = |text: &str| ListFilter {
            text: text.into(),
            ..Default::default()
        };
        assert!(filter("").matches(&c));
        assert!(filter("  ").matches(&c));
        assert!(filter("reyes").matches(&c));
        assert!(filter("REYES 0412").matches(&c));
        assert!(filter("mercy medic").matches(&c));
        assert!(!filter("reyes 0413").matches(&c));
        assert!(!filter("natarajan").matches(&c));
    }

    #[test]
    fn toggles_keep_only_unread_or_urgent_conversations() {
        let quiet = conversation("A", "s", "p", 0, 0);
        let unread = conversation("B", "s", "p", 2, 0);
        let urgent = conversation("C", "s", "p", 1, 1);
        let list = vec![quiet.clone(), unread.clone(), urgent.clone()];
        let unread_only = ListFilter {
            unread_only: true,
            ..Default::default()
        };
        assert_eq!(
            unread_only.apply(&list, None),
            vec![unread.clone(), urgent.clone()]
        );
        let urgent_only = ListFilter {
            urgent_only: true,
            ..Default::default()
        };
        assert_eq!(urgent_only.apply(&list, None), vec![urgent.clone()]);
        assert!(urgent_only.is_active());
        assert!(!ListFilter::default().is_active());
        assert_eq!(ListFilter::default().apply(&list, None), list);
    }

    #[test]
    fn a_conversation_without_a_preview_matches_on_name_and_subject() {
        let mut c = conversation("Priya Natarajan", "Medic 2 · Inc 26-0398", "", 0, 0);
        c.last_message_preview = None;
        let filter = ListFilter {
            text: "priya 0398".into(),
            ..Default::default()
        };
        assert!(filter.matches(&c));
    }

    #[test]
    fn the_open_conversation_stays_listed_when_it_stops_matching() {
        let read = conversation("A", "s", "p", 0, 0);
        let unread = conversation("B", "s", "p", 2, 0);
        let list = vec![read.clone(), unread.clone()];
        let filter = ListFilter {
            unread_only: true,
            ..Default::default()
        };
        assert_eq!(filter.apply(&list, Some(&read.id)), list);
        assert_eq!(filter.apply(&list, Some("elsewhere")), vec![unread]);
    }
}
