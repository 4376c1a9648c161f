//! Which id a send carries. The server stores a message once per id, so resending a draft
//! whose answer was lost (the message may well be stored) must reuse the id of the first try.
//! The same words sent with another priority are another message.

use crate::api::Priority;

/// The last send that did not get a successful answer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outbox {
    unsent: Option<(String, String, Priority, String)>,
}

impl Outbox {
    /// The id for sending `text` at `priority` to `conversation`: the unanswered try's id if
    /// this is that same message again, otherwise a fresh one from `fresh`.
    pub fn id_for(
        &mut self,
        conversation: &str,
        text: &str,
        priority: Priority,
        fresh: impl FnOnce() -> String,
    ) -> String {
        match &self.unsent {
            Some((c, t, p, id)) if c == conversation && t == text && *p == priority => id.clone(),
            _ => {
                let id = fresh();
                self.unsent = Some((
                    conversation.to_string(),
                    text.to_string(),
                    priority,
                    id.clone(),
                ));
                id
            }
        }
    }

    /// The server answered with the stored row: the next send is a new message.
    pub fn sent(&mut self) {
        self.unsent = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resend_of_the_same_draft_reuses_the_id_until_it_is_answered() {
        let mut out = Outbox::default();
        let first = out.id_for("c1", "On my way", Priority::Routine, || "id-1".into());
        // The answer was lost; the reader presses Send again.
        assert_eq!(
            out.id_for("c1", "On my way", Priority::Routine, || "id-2".into()),
            first
        );
        out.sent();
        assert_eq!(
            out.id_for("c1", "On my way", Priority::Routine, || "id-3".into()),
            "id-3"
        );
    }

    #[test]
    fn an_edited_draft_or_another_thread_is_a_new_message() {
        let mut out = Outbox::default();
        out.id_for("c1", "On my way", Priority::Routine, || "id-1".into());
        assert_eq!(
            out.id_for("c1", "On my way, 5 min", Priority::Routine, || "id-2"
                .into()),
            "id-2"
        );
        assert_eq!(
            out.id_for("c2", "On my way, 5 min", Priority::Routine, || "id-3"
                .into()),
            "id-3"
        );
    }

    #[test]
    fn the_same_words_marked_urgent_are_a_new_message() {
        let mut out = Outbox::default();
        out.id_for("c1", "Need PD", Priority::Routine, || "id-1".into());
        assert_eq!(
            out.id_for("c1", "Need PD", Priority::Urgent, || "id-2".into()),
            "id-2"
        );
        assert_eq!(
            out.id_for("c1", "Need PD", Priority::Urgent, || "id-3".into()),
            "id-2",
            "…and its resend reuses its id"
        );
    }
}
