//! When the open thread's read marker goes out, as a pure scheduler.
//!
//! What the reader of a visible tab has in view is read: the thread is marked once it has
//! loaded, when the tab becomes visible, and as soon as an event makes it stale while the
//! reader follows the bottom. Marking at event time rather than after the refetch puts the
//! marker's own change in the same quiet window as the burst that caused it, so the list and
//! badge refetch once for both. A reader scrolled up in history has not seen what arrives
//! below the view: it stays unread (as the "new messages" pill says) until they are back at
//! the bottom. One marker write is in flight at a time; a reason that comes up meanwhile is
//! served once, after it.

/// The conversation a marker may be sent for: `open` when the tab is `visible`, its rows
/// `loaded` and its view took its opening position in it (`positioned_in`), else none. Tied
/// to the conversation positioned in, not to a flag: right after a switch a flag still says
/// the previous conversation was positioned, and the new one would be marked read before
/// its view and its "New" divider were on screen (found by CI: 2 of 10 runs under load).
pub fn readable(
    visible: bool,
    loaded: bool,
    open: Option<&str>,
    positioned_in: Option<&str>,
) -> Option<String> {
    let open = open?;
    (visible && loaded && positioned_in == Some(open)).then(|| open.to_string())
}

/// The scheduler's state for one page. Every method returns the conversation to send a
/// marker for (`mark_conversation_read`), if one should go out now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadMarker {
    in_flight: bool,
    /// A reason to mark came up while a write was in flight.
    again: bool,
    /// Something arrived below a reader scrolled up in history.
    unseen_below: bool,
    /// The conversation the reader marked as unread: no marker goes out for it while it
    /// stays open, or the mark would be undone at once (the reader is looking at it).
    held: Option<String>,
}

impl ReadMarker {
    /// The thread may hold something new: it loaded, the tab became visible, an event made
    /// it stale, or a write finished with another reason waiting. `readable` is the
    /// conversation on screen if it is loaded in a visible tab; `following` whether the
    /// reader is within the follow threshold of the bottom.
    pub fn on_change(&mut self, readable: Option<&str>, following: bool) -> Option<String> {
        let conversation = readable?;
        if following {
            self.mark(conversation)
        } else {
            self.unseen_below = true;
            None
        }
    }

    /// The reader is back at the bottom (scrolled there, or through the pill): what arrived
    /// meanwhile is seen now.
    pub fn on_back_at_bottom(&mut self, readable: Option<&str>) -> Option<String> {
        let conversation = readable.filter(|_| self.unseen_below)?;
        self.unseen_below = false;
        self.mark(conversation)
    }

    /// The write in flight finished (answered or failed; a failure is retried by the next
    /// reason, not here). Serves a reason that came up meanwhile.
    pub fn on_written(&mut self, readable: Option<&str>, following: bool) -> Option<String> {
        self.in_flight = false;
        if !std::mem::take(&mut self.again) {
            return None;
        }
        self.on_change(readable, following)
    }

    /// The reader marked `conversation` as unread (`mark_conversation_unread`): leave its
    /// marker alone until another conversation is opened.
    pub fn hold(&mut self, conversation: &str) {
        self.held = Some(conversation.to_string());
        self.again = false;
        self.unseen_below = false;
    }

    /// `conversation` is the one on screen now (`""` for none): a hold on another one ends,
    /// so it is marked read as usual when it is opened again.
    pub fn opened(&mut self, conversation: &str) {
        if self
            .held
            .as_deref()
            .is_some_and(|held| held != conversation)
        {
            self.held = None;
        }
    }

    /// The hold ends (the unread mark did not reach the server).
    pub fn release(&mut self) {
        self.held = None;
    }

    fn mark(&mut self, conversation: &str) -> Option<String> {
        match &self.held {
            Some(held) if held == conversation => return None,
            Some(_) => self.held = None,
            None => {}
        }
        if self.in_flight {
            self.again = true;
            return None;
        }
        self.in_flight = true;
        Some(conversation.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_reads_nothing_until_the_new_view_is_positioned() {
        assert_eq!(readable(true, true, Some("a"), Some("a")), Some("a".into()));
        // Switched to b: a's view was positioned, b's not yet.
        assert_eq!(readable(true, true, Some("b"), Some("a")), None);
        assert_eq!(readable(true, true, Some("b"), None), None);
        assert_eq!(readable(true, true, Some("b"), Some("b")), Some("b".into()));
        // Hidden, or not loaded: nothing is read.
        assert_eq!(readable(false, true, Some("b"), Some("b")), None);
        assert_eq!(readable(true, false, Some("b"), Some("b")), None);
        assert_eq!(readable(true, true, None, Some("b")), None);
    }

    #[test]
    fn a_visible_loaded_thread_at_the_bottom_is_marked() {
        let mut m = ReadMarker::default();
        assert_eq!(m.on_change(Some("c1"), true), Some("c1".into()));
        assert_eq!(
            ReadMarker::default().on_change(None, true),
            None,
            "hidden tab or not loaded yet"
        );
    }

    #[test]
    fn one_write_at_a_time_and_a_burst_costs_one_more() {
        let mut m = ReadMarker::default();
        assert!(m.on_change(Some("c1"), true).is_some());
        for _ in 0..20 {
            assert_eq!(m.on_change(Some("c1"), true), None, "one in flight");
        }
        assert_eq!(m.on_written(Some("c1"), true), Some("c1".into()));
        assert_eq!(m.on_written(Some("c1"), true), None, "the burst is served");
    }

    #[test]
    fn what_arrives_below_a_reader_in_history_waits_until_they_are_back() {
        let mut m = ReadMarker::default();
        assert_eq!(m.on_change(Some("c1"), false), None);
        assert_eq!(m.on_back_at_bottom(None), None, "tab hidden meanwhile");
        assert_eq!(m.on_back_at_bottom(Some("c1")), Some("c1".into()));
        assert_eq!(m.on_written(Some("c1"), true), None);
        assert_eq!(
            m.on_back_at_bottom(Some("c1")),
            None,
            "nothing new below since"
        );
    }

    #[test]
    fn a_reason_waiting_behind_a_write_is_judged_when_it_finishes() {
        let mut m = ReadMarker::default();
        m.on_change(Some("c1"), true);
        m.on_change(Some("c1"), true);
        // The reader scrolled up before the first write finished: the rows that came are
        // below them, unseen.
        assert_eq!(m.on_written(Some("c1"), false), None);
        assert_eq!(m.on_back_at_bottom(Some("c1")), Some("c1".into()));
    }

    #[test]
    fn back_at_the_bottom_while_a_write_is_in_flight_marks_after_it() {
        let mut m = ReadMarker::default();
        m.on_change(Some("c1"), false);
        m.on_change(Some("c1"), true);
        assert_eq!(m.on_back_at_bottom(Some("c1")), None, "one in flight");
        assert_eq!(m.on_written(Some("c1"), true), Some("c1".into()));
    }

    #[test]
    fn a_conversation_marked_unread_stays_unread_until_another_one_is_opened() {
        let mut m = ReadMarker::default();
        m.hold("c1");
        assert_eq!(
            m.on_change(Some("c1"), true),
            None,
            "a new message while open"
        );
        m.on_change(Some("c1"), false);
        assert_eq!(m.on_back_at_bottom(Some("c1")), None);
        assert_eq!(m.on_change(Some("c2"), true), Some("c2".into()));
        m.on_written(Some("c2"), true);
        assert_eq!(
            m.on_change(Some("c1"), true),
            Some("c1".into()),
            "opened again"
        );
    }

    #[test]
    fn a_write_in_flight_when_marking_unread_sends_nothing_after_it() {
        let mut m = ReadMarker::default();
        m.on_change(Some("c1"), true);
        m.on_change(Some("c1"), true);
        m.hold("c1");
        assert_eq!(m.on_written(Some("c1"), true), None);
    }

    #[test]
    fn leaving_the_conversation_ends_the_hold_even_without_a_marker_elsewhere() {
        let mut m = ReadMarker::default();
        m.hold("c1");
        // c2 opens at its divider: nothing is marked there.
        m.opened("c2");
        assert_eq!(m.on_change(Some("c2"), false), None);
        m.opened("c1");
        assert_eq!(m.on_change(Some("c1"), true), Some("c1".into()));
    }

    #[test]
    fn a_failed_unread_mark_releases_the_hold() {
        let mut m = ReadMarker::default();
        m.hold("c1");
        m.opened("c1");
        assert_eq!(m.on_change(Some("c1"), true), None);
        m.release();
        assert_eq!(m.on_change(Some("c1"), true), Some("c1".into()));
    }
}
