//! Hierarchical query keys, as TanStack Query uses them: `["messages", id, limit]` is matched
//! by the prefixes `["messages", id]` and `["messages"]`, so one invalidation reaches every
//! loaded window of a thread. The constructors below are the only places a key's shape is
//! written; the cache, the realtime invalidation map and the pages all go through them.

use std::fmt;

/// First segment of the conversation list's key.
const CONVERSATIONS: &str = "conversations";
/// Second segment of the list's pages.
const PAGE: &str = "page";
/// Third segment of the list's first page.
const FIRST: &str = "first";
/// Second segment of one conversation's row.
const ROW: &str = "row";
/// First segment of every thread key.
const MESSAGES: &str = "messages";
/// First segment of the unread badge's key.
const UNREAD_TOTAL: &str = "unread_total";
/// First segment of the urgent counter's key.
const UNACKED_URGENT_TOTAL: &str = "unacked_urgent_total";
/// First segment of the canned replies' key.
const CANNED_REPLIES: &str = "canned_replies";

/// A query key: a path of string segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryKey(Vec<String>);

impl QueryKey {
    /// Builds a key from segments (for keys that have no constructor below, e.g. in tests).
    pub fn new<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        QueryKey(segments.into_iter().map(Into::into).collect())
    }

    /// `[]`: the prefix of every key.
    pub fn all() -> Self {
        QueryKey(Vec::new())
    }

    /// Whether `prefix` is this key or one of its ancestors.
    pub fn starts_with(&self, prefix: &QueryKey) -> bool {
        self.0.len() >= prefix.0.len() && self.0.iter().zip(&prefix.0).all(|(a, b)| a == b)
    }

    /// `["conversations"]`: the list with unread counts.
    pub fn conversations() -> Self {
        Self::new([CONVERSATIONS])
    }

    /// `["conversations", "page", "first"]`: the list's first page (the newest conversations
    /// and every one with unread or unacknowledged urgent messages).
    pub fn conversation_first_page() -> Self {
        Self::new([CONVERSATIONS, PAGE, FIRST])
    }

    /// `["conversations", "page", after]`: the page of the list after the row `after` (the
    /// id of the last conversation of the page before).
    pub fn conversation_page_after(after: &str) -> Self {
        Self::new([CONVERSATIONS, PAGE, after])
    }

    /// `["conversations", "row", id]`: one conversation's row of the list, what a change
    /// to it refetches (not the whole list).
    pub fn conversation_row(conversation_id: &str) -> Self {
        Self::new([CONVERSATIONS, ROW, conversation_id])
    }

    /// `["unread_total"]`: the badge.
    pub fn unread_total() -> Self {
        Self::new([UNREAD_TOTAL])
    }

    /// `["unacked_urgent_total"]`: the header's urgent counter.
    pub fn unacked_urgent_total() -> Self {
        Self::new([UNACKED_URGENT_TOTAL])
    }

    /// `["canned_replies"]`: the org's one-click replies.
    pub fn canned_replies() -> Self {
        Self::new([CANNED_REPLIES])
    }

    /// `["messages"]`: every window of every thread (a change whose conversation is unknown).
    pub fn all_messages() -> Self {
        Self::new([MESSAGES])
    }

    /// `["messages", id]`: every loaded window of one conversation's thread; invalidate this.
    pub fn messages(conversation_id: &str) -> Self {
        Self::new([MESSAGES, conversation_id])
    }

    /// `["messages", id, limit]`: one thread with its newest `limit` messages loaded (the
    /// window grows by a page per "load older"; see `thread::window`).
    pub fn thread(conversation_id: &str, limit: usize) -> Self {
        Self::new([
            MESSAGES.to_string(),
            conversation_id.to_string(),
            limit.to_string(),
        ])
    }

    /// `["messages", id, "before"|"after", created_at]`: one immutable history page of a
    /// thread, fetched by its cursor (`thread::pages`); `older` picks the direction. Reached
    /// by `["messages", id]` like the live window, so an event stales every loaded page.
    pub fn thread_page(conversation_id: &str, older: bool, cursor: &str) -> Self {
        let direction = if older { "before" } else { "after" };
        Self::new([MESSAGES, conversation_id, direction, cursor])
    }

    /// The direction (`true`: older) and cursor of a [`QueryKey::thread_page`] key, `None`
    /// for other keys.
    pub fn thread_page_cursor(&self) -> Option<(bool, &str)> {
        match self.0.as_slice() {
            [first, _, direction, cursor] if first == MESSAGES => match direction.as_str() {
                "before" => Some((true, cursor)),
                "after" => Some((false, cursor)),
                _ => None,
            },
            _ => None,
        }
    }

    /// The conversation of a thread key (`["messages", id, …]`), `None` for other keys.
    pub fn conversation_id(&self) -> Option<&str> {
        match self.0.as_slice() {
            [first, id, ..] if first == MESSAGES => Some(id),
            _ => None,
        }
    }

    /// The conversation of a [`QueryKey::conversation_row`] key, `None` for other keys.
    pub fn conversation_row_id(&self) -> Option<&str> {
        match self.0.as_slice() {
            [first, row, id] if first == CONVERSATIONS && row == ROW => Some(id),
            _ => None,
        }
    }

    /// The window size of a [`QueryKey::thread`] key, `None` for other keys.
    pub fn thread_limit(&self) -> Option<usize> {
        match self.0.as_slice() {
            [first, _, limit] if first == MESSAGES => limit.parse().ok(),
            _ => None,
        }
    }
}

impl fmt::Display for QueryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.0.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_descendants_only() {
        let thread = QueryKey::messages("c1");
        assert!(thread.starts_with(&QueryKey::all_messages()));
        assert!(thread.starts_with(&thread));
        assert!(
            thread.starts_with(&QueryKey::all()),
            "the empty prefix is everything"
        );
        assert!(!thread.starts_with(&QueryKey::messages("c2")));
        assert!(!QueryKey::all_messages().starts_with(&thread));
        assert!(!QueryKey::new(["messages_archive"]).starts_with(&QueryKey::all_messages()));
    }

    #[test]
    fn a_thread_key_is_reached_by_its_conversation_and_reads_back() {
        let key = QueryKey::thread("c1", 100);
        assert!(key.starts_with(&QueryKey::messages("c1")));
        assert!(!key.starts_with(&QueryKey::messages("c10")));
        assert_eq!(key.conversation_id(), Some("c1"));
        assert_eq!(key.thread_limit(), Some(100));
        assert_eq!(QueryKey::messages("c1").thread_limit(), None);
        assert_eq!(QueryKey::conversations().conversation_id(), None);
        assert_eq!(QueryKey::unread_total().thread_limit(), None);
        let page = QueryKey::thread_page("c1", true, "t1");
        assert!(page.starts_with(&QueryKey::messages("c1")));
        assert_eq!(page.thread_page_cursor(), Some((true, "t1")));
        assert_eq!(page.thread_limit(), None);
        assert_eq!(
            QueryKey::thread_page("c1", false, "t1").thread_page_cursor(),
            Some((false, "t1"))
        );
        assert_eq!(key.thread_page_cursor(), None);
    }
}
