//! The "New" divider of a thread opened with unread messages: above which message it goes,
//! and whether the view starts there or at the bottom.
//!
//! The divider is placed once, when the thread opens, from the unread count the list showed
//! for it: it stays put while the reader reads (marking read does not move it) and is gone
//! the next time the thread opens, as in Slack and Element.

use crate::api::Message;

/// The id of the first unread message of `messages` (oldest first): counting back from the
/// newest, the `unread`-th message for which `counts` holds (the messages from the other
/// side, the ones the server counts as unread). If fewer such messages are loaded, the
/// unread part starts above the loaded rows and the oldest loaded one gets the divider.
/// `None` when nothing is unread.
pub fn first_unread(
    messages: &[Message],
    unread: usize,
    counts: impl Fn(&Message) -> bool,
) -> Option<&str> {
    if unread == 0 {
        return None;
    }
    let mut seen = 0;
    let mut first = None;
    for m in messages.iter().rev().filter(|m| counts(m)) {
        seen += 1;
        first = Some(m.id.as_str());
        if seen == unread {
            break;
        }
    }
    first
}

/// Where a thread with a divider opens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Start {
    /// At the newest message, as a thread without unread messages: the unread part fits.
    Bottom,
    /// With the divider near the top of the view (at `scroll_top`, px), so the reader starts
    /// at the first unread message.
    Divider {
        /// The `scrollTop` to set.
        scroll_top: f64,
    },
}

/// Room left above the divider when the view starts there (px), so the last read message
/// peeks in for context.
pub const CONTEXT_ABOVE_PX: f64 = 24.0;

/// Where the view starts: at the divider when the unread part (from the divider's top,
/// `divider_top` px into the scrolled content, to the end, `scroll_height` px) is taller
/// than the view (`client_height` px), otherwise at the bottom.
pub fn start(divider_top: f64, scroll_height: f64, client_height: f64) -> Start {
    if scroll_height - divider_top > client_height {
        Start::Divider {
            scroll_top: (divider_top - CONTEXT_ABOVE_PX).max(0.0),
        }
    } else {
        Start::Bottom
    }
}

/// Whether a query's answer may decide an opening: none is in flight (what is cached is
/// the newest there is), or the one shown reflects every change the query had been told
/// of when the opening began (`covers` ≥ `invalidations_at_opening`; counts from
/// `QueryState`). Not "none in flight" alone: in a busy conversation a refetch is always in
/// flight and the thread would never open (a message every 55 ms kept it closed for as
/// long as they came, `cargo xtask bench shift`). Not "asked for since the opening" either:
/// a fetch already in flight then may well be current, and waiting for the next one costs
/// a round trip more.
pub fn answer_is_current(
    fetching: bool,
    covers: Option<u64>,
    invalidations_at_opening: u64,
) -> bool {
    !fetching || covers.is_some_and(|c| c >= invalidations_at_opening)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str, from_medic: bool) -> Message {
        Message {
            id: id.into(),
            conversation_id: "c".into(),
            sender_id: if from_medic { "medic" } else { "ana" }.into(),
            body: String::new(),
            created_at: String::new(),
            sender: None,
            priority: Default::default(),
            ack: None,
        }
    }

    fn from_medic(m: &Message) -> bool {
        m.sender_id == "medic"
    }

    #[test]
    fn goes_above_the_oldest_of_the_unread_messages_from_the_other_side() {
        // Oldest first: m1 (medic), d1 (dispatch reply), m2, m3 (medic); two unread.
        let thread = vec![
            msg("m1", true),
            msg("d1", false),
            msg("m2", true),
            msg("m3", true),
        ];
        assert_eq!(first_unread(&thread, 2, from_medic), Some("m2"));
        assert_eq!(first_unread(&thread, 1, from_medic), Some("m3"));
        // Own replies in between do not count: three unread reach back past d1 to m1.
        assert_eq!(first_unread(&thread, 3, from_medic), Some("m1"));
        assert_eq!(first_unread(&thread, 0, from_medic), None);
    }

    #[test]
    fn more_unread_than_loaded_puts_it_at_the_oldest_loaded_one() {
        let thread = vec![msg("d1", false), msg("m2", true), msg("m3", true)];
        assert_eq!(first_unread(&thread, 10, from_medic), Some("m2"));
        assert_eq!(first_unread(&[], 3, from_medic), None);
    }

    #[test]
    fn starts_at_the_divider_only_when_the_unread_part_does_not_fit() {
        // 600 px view; the unread part is 1000 px tall.
        assert_eq!(
            start(2000.0, 3000.0, 600.0),
            Start::Divider {
                scroll_top: 2000.0 - CONTEXT_ABOVE_PX
            }
        );
        // 400 px of unread fit in a 600 px view: at the bottom, divider in view.
        assert_eq!(start(2600.0, 3000.0, 600.0), Start::Bottom);
        assert_eq!(start(2400.0, 3000.0, 600.0), Start::Bottom);
        assert_eq!(
            start(10.0, 3000.0, 600.0),
            Start::Divider { scroll_top: 0.0 }
        );
    }

    #[test]
    fn an_answer_covering_the_opening_counts_while_the_next_is_in_flight() {
        // Reopened from the cache after 3 changes it has not fetched, refetching.
        assert!(!answer_is_current(true, Some(1), 4));
        assert!(!answer_is_current(true, None, 0));
        // A busy conversation: the answer covers what was known at the opening (or more),
        // the next refetch is already out.
        assert!(answer_is_current(true, Some(4), 4));
        assert!(answer_is_current(true, Some(9), 4));
        // Nothing in flight: what is cached is current.
        assert!(answer_is_current(false, Some(0), 4));
    }
}
