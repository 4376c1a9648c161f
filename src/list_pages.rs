//! The conversation list as pages and rows (issue 17): what the list shows is its first
//! page, the older pages the dispatcher asked for ("Show older"), and the rows refetched
//! one by one after a change, merged by conversation id in the server's order. Each of them
//! is its own cached query; nothing here copies data into the cache.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::api::ConversationSummary;

/// Rows of the newest part of the first page, and of each older page.
pub const PAGE_SIZE: usize = 50;

/// Where the next older page starts (`conversations_with_unread`'s `before`): the last row
/// of the newest part shown so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cursor {
    /// That row's `last_message_at` (null for a conversation without messages).
    pub last_message_at: Option<String>,
    /// That row's `created_at`.
    pub created_at: String,
    /// That row's id.
    pub id: String,
}

impl Cursor {
    fn of(row: &ConversationSummary) -> Cursor {
        Cursor {
            last_message_at: row.last_message_at.clone(),
            created_at: row.created_at.clone(),
            id: row.id.clone(),
        }
    }
}

/// The list's order, the server's: newest last message first, conversations without
/// messages after them (newest started first), then by id. Timestamps are canonical text,
/// so they compare as strings.
pub fn list_order(a: &ConversationSummary, b: &ConversationSummary) -> Ordering {
    match (&a.last_message_at, &b.last_message_at) {
        (Some(x), Some(y)) => y.cmp(x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
    .then_with(|| b.created_at.cmp(&a.created_at))
    .then_with(|| a.id.cmp(&b.id))
}

/// The cursor of the page after the loaded ones, or `None` when the list ends there.
/// `first` is the first page's answer (its newest [`PAGE_SIZE`] rows come first, in list
/// order, then older ones with unread or urgent messages); `older` the later pages' answers
/// in the order they were loaded.
pub fn next_cursor(
    first: &[ConversationSummary],
    older: &[Vec<ConversationSummary>],
) -> Option<Cursor> {
    match older.last() {
        Some(page) if page.len() < PAGE_SIZE => None,
        Some(page) => page.last().map(Cursor::of),
        // A first page shorter than a page holds the whole list.
        None if first.len() < PAGE_SIZE => None,
        None => first.get(PAGE_SIZE - 1).map(Cursor::of),
    }
}

/// The list shown: the rows of every page, each replaced by its own row query's answer when
/// there is one (`rows`: `Some(row)`, or `None` when the server no longer shows it), plus
/// rows only a row query knows (a conversation started or revived since the pages loaded),
/// once each, in [`list_order`].
pub fn merge<'a>(
    pages: impl IntoIterator<Item = &'a [ConversationSummary]>,
    rows: &HashMap<String, Option<ConversationSummary>>,
) -> Vec<ConversationSummary> {
    let mut by_id: HashMap<&str, &ConversationSummary> = HashMap::new();
    for page in pages {
        for row in page {
            by_id.entry(row.id.as_str()).or_insert(row);
        }
    }
    for (id, row) in rows {
        match row {
            Some(row) => {
                by_id.insert(id.as_str(), row);
            }
            None => {
                by_id.remove(id.as_str());
            }
        }
    }
    let mut list: Vec<ConversationSummary> = by_id.into_values().cloned().collect();
    list.sort_by(list_order);
    list
}

/// How many conversations the list observes rows of before it refetches its first page
/// to let them go ([`TouchLog`]).
pub const TOUCHED_MAX: usize = PAGE_SIZE;

/// The conversations whose rows the list observes because a change named them, and when.
/// A row touched before the first page's fetch began is in that page's answer if the
/// conversation belongs on the first page; once the answer lands with it, its row query can
/// go: the list (its rows in memory, its queries, the work of each merge) stays bounded by
/// its pages and the latest changes, not by every conversation that changed during a shift.
/// A row the answer does not hold stays observed: an older page may hold the same
/// conversation as it was before the change (read in another tab, say), and the row is what
/// keeps that stale copy from showing. Touches are counted, not timed: a change handled
/// before the fetch started is in its answer, since the request leaves after the change was
/// committed.
#[derive(Debug, Default)]
pub struct TouchLog {
    count: u64,
    last: HashMap<String, u64>,
    page_started: Option<u64>,
    /// Conversations first observed since the last answer of the first page.
    new_since_answer: usize,
}

impl TouchLog {
    /// Records a change naming `id`; `true` when the log did not hold it (observe its row).
    pub fn touch(&mut self, id: &str) -> bool {
        self.count += 1;
        let new = self.last.insert(id.to_string(), self.count).is_none();
        if new {
            self.new_since_answer += 1;
        }
        new
    }

    /// The conversations the log holds, by id (a stable order for the views keyed on them).
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.last.keys().cloned().collect();
        ids.sort_unstable();
        ids
    }

    /// How many conversations the log holds.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether the log holds nothing.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    /// Whether enough rows were observed since the first page last answered that a fresh
    /// one should let them go (more than [`TOUCHED_MAX`]). Counted from the last answer, so
    /// rows that must stay observed never make every change refetch the page.
    pub fn wants_fresh_page(&self) -> bool {
        self.new_since_answer > TOUCHED_MAX
    }

    /// The first page's fetch started.
    pub fn page_fetch_started(&mut self) {
        self.page_started = Some(self.count);
    }

    /// The first page answered holding the conversations `answered`: those touched only
    /// before its fetch started and held by the answer, dropped from the log (stop
    /// observing their rows). Nothing without a fetch started.
    pub fn page_answered(&mut self, answered: &HashSet<&str>) -> Vec<String> {
        let Some(at) = self.page_started.take() else {
            return Vec::new();
        };
        self.new_since_answer = 0;
        let gone: Vec<String> = self
            .last
            .iter()
            .filter(|(id, &t)| t <= at && answered.contains(id.as_str()))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            self.last.remove(id);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_touched_before_the_first_page_fetch_go_when_it_answers() {
        let mut log = TouchLog::default();
        let answer: HashSet<&str> = ["a", "b", "c"].into_iter().collect();
        assert!(log.touch("a"));
        assert!(log.touch("b"));
        assert!(!log.touch("a"), "already observed");
        assert!(log.page_answered(&answer).is_empty(), "no fetch started");
        log.page_fetch_started();
        // Changes while the page is in flight may be missing from its answer.
        assert!(!log.touch("b"));
        assert!(log.touch("c"));
        assert_eq!(log.ids(), vec!["a", "b", "c"]);
        assert_eq!(log.page_answered(&answer), vec!["a".to_string()]);
        assert_eq!(log.len(), 2);
        assert_eq!(log.ids(), vec!["b", "c"]);
        assert!(
            log.page_answered(&answer).is_empty(),
            "one answer, one pruning"
        );
        assert!(log.touch("a"), "a new change observes it again");
    }

    #[test]
    fn a_row_the_first_page_does_not_hold_stays_observed() {
        // "old" was read in another tab: no longer unread nor among the newest, so the first
        // page leaves it out while an older page may still hold it as unread.
        let mut log = TouchLog::default();
        log.touch("old");
        log.touch("new");
        log.page_fetch_started();
        let answer: HashSet<&str> = ["new"].into_iter().collect();
        assert_eq!(log.page_answered(&answer), vec!["new".to_string()]);
        assert_eq!(log.len(), 1, "the row of \"old\" still wins over any page");
    }

    #[test]
    fn a_fresh_page_is_wanted_per_bound_of_new_rows_not_per_change() {
        let mut log = TouchLog::default();
        for i in 0..=TOUCHED_MAX {
            log.touch(&format!("c{i}"));
        }
        assert!(log.wants_fresh_page());
        log.page_fetch_started();
        // None of them is on the first page: all stay observed, yet the next change does
        // not ask for another page.
        assert!(log.page_answered(&HashSet::new()).is_empty());
        log.touch("c0");
        assert!(!log.wants_fresh_page());
        assert_eq!(log.len(), TOUCHED_MAX + 1);
    }

    fn row(id: &str, last: Option<&str>, created: &str, unread: i64) -> ConversationSummary {
        ConversationSummary {
            id: id.into(),
            last_message_at: last.map(str::to_string),
            created_at: created.into(),
            unread_count: unread,
            ..Default::default()
        }
    }

    fn page(ids: std::ops::Range<usize>) -> Vec<ConversationSummary> {
        // Newest first: higher numbers are newer.
        ids.rev()
            .map(|i| row(&format!("c{i:04}"), Some(&format!("t{i:04}")), "t0000", 0))
            .collect()
    }

    #[test]
    fn orders_as_the_server_newest_message_first_then_unmessaged_newest_first() {
        let mut list = [
            row("b", None, "t5", 0),
            row("a", Some("t1"), "t0", 0),
            row("c", Some("t3"), "t0", 0),
            row("d", None, "t9", 0),
            row("e", Some("t3"), "t2", 0),
        ];
        list.sort_by(list_order);
        let ids: Vec<&str> = list.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["e", "c", "a", "d", "b"]);
    }

    #[test]
    fn the_next_page_starts_after_the_newest_part_and_the_list_ends_on_a_short_page() {
        // First page: the newest 50 (c0149..c0100) and two old unread ones after them.
        let mut first = page(100..150);
        first.push(row("c0003", Some("t0003"), "t0000", 2));
        first.push(row("c0001", Some("t0001"), "t0000", 1));
        let cursor = next_cursor(&first, &[]).unwrap();
        assert_eq!(
            cursor.id, "c0100",
            "the 50th row, not the unread ones after it"
        );
        let second = page(50..100);
        assert_eq!(
            next_cursor(&first, std::slice::from_ref(&second))
                .unwrap()
                .id,
            "c0050"
        );
        let last = page(0..50);
        assert_eq!(
            next_cursor(&first, &[second.clone(), last]).unwrap().id,
            "c0000"
        );
        assert_eq!(next_cursor(&first, &[second, page(0..3)]), None);
        assert_eq!(
            next_cursor(&page(0..12), &[]),
            None,
            "a short first page is all"
        );
    }

    #[test]
    fn rows_replace_their_page_row_add_new_ones_and_remove_gone_ones_once_each() {
        let first = page(10..13); // c0012, c0011, c0010
        let older = vec![
            row("c0012", Some("t0012"), "t0000", 0),
            row("c0005", Some("t0005"), "t0000", 0),
        ];
        let mut rows = HashMap::new();
        // c0010 got a message: newest now, with one unread.
        rows.insert(
            "c0010".to_string(),
            Some(row("c0010", Some("t0099"), "t0000", 1)),
        );
        // A conversation started since the pages loaded.
        rows.insert("new".to_string(), Some(row("new", None, "t0098", 0)));
        // One the server no longer shows.
        rows.insert("c0011".to_string(), None);
        let list = merge([first.as_slice(), older.as_slice()], &rows);
        let ids: Vec<(&str, i64)> = list
            .iter()
            .map(|c| (c.id.as_str(), c.unread_count))
            .collect();
        assert_eq!(ids, [("c0010", 1), ("c0012", 0), ("c0005", 0), ("new", 0)]);
    }
}
