//! Which of a thread's messages stay loaded: the window's floor (its oldest row).
//!
//! Refetches load everything from the floor on, so while the reader is scrolled up a new
//! message extends the window rather than pushing the top row out from under them. Only a
//! refetch that starts while nothing on screen hangs on the floor sheds old rows, keeping
//! each refetch to about one page: the reader follows the bottom, or the window is out of
//! the DOM altogether (`pages::Pages::live_may_shed`; a window shown under a reader who does
//! not follow is bounded by rebasing the DOM instead, see `pages`). The choice is made when
//! the refetch starts, not when the previous answer came: the reader may have scrolled up
//! since.

use crate::api::{ThreadWindow, THREAD_PAGE};
use crate::cache::QueryKey;

/// Rows a followed thread may grow past one page before it sheds the oldest.
pub const FOLLOW_SLACK: usize = 10;

/// A loaded window: load from `created_at` on; `older` says whether history goes further
/// back (the first page came back full, or rows were shed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Floor {
    /// `created_at` of the oldest loaded row.
    pub created_at: String,
    /// Whether older messages exist beyond it.
    pub older: bool,
    /// Where a refetch may start instead, back to the newest page, once the window has grown
    /// past a page and the slack.
    pub shed_to: Option<String>,
}

impl Floor {
    /// Where the next refetch starts: shed only when it `may_shed` (see the module doc).
    pub fn fetch_from(&self, may_shed: bool) -> &str {
        match (&self.shed_to, may_shed) {
            (Some(at), true) => at,
            _ => &self.created_at,
        }
    }
}

/// The window after an answer. `newest_first` are the answer's `created_at`s, newest first;
/// `previous` the window it was fetched from (`None` for a first page asked with `limit`).
pub fn next_floor(
    newest_first: &[&str],
    previous: Option<&Floor>,
    page: usize,
    limit: usize,
) -> Option<Floor> {
    let oldest = newest_first.last()?;
    let older = match previous {
        None => newest_first.len() >= limit,
        // Rows are never deleted: an answer from the floor on starts at the floor row,
        // unless the refetch shed (or the server's cap cut) the oldest ones.
        Some(p) => p.older || *oldest != p.created_at,
    };
    let shed_to = (newest_first.len() > page + FOLLOW_SLACK)
        .then(|| newest_first.get(page - 1).map(|at| at.to_string()))
        .flatten();
    Some(Floor {
        created_at: oldest.to_string(),
        older,
        shed_to,
    })
}

/// The live window of the thread on screen (its newest rows; older history comes in
/// cursor pages, see `pages`): which key it was loaded for and its floor. A floor belongs
/// to one key; a new key (another conversation) starts from its newest `limit` rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadedWindow {
    loaded: Option<(QueryKey, Floor)>,
}

impl LoadedWindow {
    fn floor_of(&self, key: &QueryKey) -> Option<&Floor> {
        self.loaded
            .as_ref()
            .filter(|(k, _)| k == key)
            .map(|(_, f)| f)
    }

    /// What the fetch of `key` (a [`QueryKey::thread`]) asks for, decided as it starts:
    /// from the floor once loaded (shedding only if it `may_shed`), else the newest `limit`
    /// rows of the key.
    pub fn request(&self, key: &QueryKey, may_shed: bool) -> ThreadWindow {
        match self.floor_of(key) {
            Some(floor) => ThreadWindow::Since(floor.fetch_from(may_shed).to_string()),
            None => ThreadWindow::Newest(key.thread_limit().unwrap_or(THREAD_PAGE)),
        }
    }

    /// Takes in an answer for `key` (`created_at`s, newest first). Returns whether the
    /// window changed; an empty answer holds nothing and changes nothing.
    pub fn answered(&mut self, key: &QueryKey, newest_first: &[&str]) -> bool {
        let limit = key.thread_limit().unwrap_or(THREAD_PAGE);
        match next_floor(newest_first, self.floor_of(key), THREAD_PAGE, limit) {
            Some(floor) => {
                self.loaded = Some((key.clone(), floor));
                true
            }
            None => false,
        }
    }

    /// Whether history goes back further than what is loaded for `key`.
    pub fn has_older(&self, key: &QueryKey) -> bool {
        self.floor_of(key).is_some_and(|f| f.older)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(n: usize) -> Vec<String> {
        // Newest first.
        (0..n).rev().map(|i| format!("t{i:04}")).collect()
    }

    fn floor(rows: &[String], previous: Option<&Floor>) -> Option<Floor> {
        let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
        next_floor(&refs, previous, 50, 50)
    }

    #[test]
    fn the_first_answer_sets_the_floor_at_its_oldest_row() {
        let full = floor(&times(50), None).unwrap();
        assert_eq!((full.created_at.as_str(), full.older), ("t0000", true));
        assert_eq!(full.shed_to, None);
        assert_eq!(floor(&times(12), None).map(|f| f.older), Some(false));
        assert_eq!(floor(&[], None), None, "nothing loaded, nothing to hold");
    }

    #[test]
    fn a_scrolled_up_reader_keeps_the_floor_however_long_the_thread_grows() {
        let first = floor(&times(12), None).unwrap();
        let grown = floor(&times(500), Some(&first)).unwrap();
        assert_eq!(grown.fetch_from(false), "t0000");
        assert!(!grown.older, "nothing was shed");
    }

    #[test]
    fn a_refetch_while_following_sheds_rows_past_the_slack() {
        let first = floor(&times(50), None).unwrap();
        let within = floor(&times(50 + FOLLOW_SLACK), Some(&first)).unwrap();
        assert_eq!(within.fetch_from(true), "t0000", "within the slack");
        let rows = times(50 + FOLLOW_SLACK + 1);
        let past = floor(&rows, Some(&first)).unwrap();
        assert_eq!(past.fetch_from(true), rows[49], "back to the newest page");
        // The reader scrolled up after that answer: the next refetch keeps every row.
        assert_eq!(past.fetch_from(false), "t0000");
    }

    #[test]
    fn a_shed_window_knows_older_history_exists() {
        let first = floor(&times(12), None).unwrap();
        assert!(!first.older);
        let grown = floor(&times(61), Some(&first)).unwrap();
        let shed: Vec<String> = times(61).into_iter().take(50).collect();
        assert!(floor(&shed, Some(&grown)).unwrap().older);
    }

    #[test]
    fn the_window_stays_bounded_under_a_reader_scrolled_up_for_ten_minutes() {
        use crate::thread::pages::{Page, Pages, Span, DOM_ROWS};
        // 20 messages a second for ten minutes into the open thread, refetched after
        // every 4, while the reader stays scrolled up at the 40th of its newest 50 rows.
        let key = QueryKey::thread("c1", 50);
        let mut window = LoadedWindow::default();
        let mut pages = Pages::newest();
        let t = |i: usize| format!("t{i:06}");
        let anchor = t(990);
        let mut n = 1_000;
        let mut largest = 0;
        for _ in 0..12_000 / 4 {
            let from = match window.request(&key, pages.live_may_shed(false)) {
                ThreadWindow::Newest(limit) => n - limit,
                ThreadWindow::Since(at) => at[1..].parse().unwrap(),
                other => panic!("{other:?}"),
            };
            let rows: Vec<String> = (from..n).rev().map(t).collect();
            largest = largest.max(rows.len());
            let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
            window.answered(&key, &refs);
            pages.answered(&Page::Live, Span::of(&refs, window.has_older(&key)));
            // The view: the live window while shown, and the rebase on the anchor.
            if pages.at_newest() {
                let shown: Vec<&str> = refs.iter().rev().copied().collect();
                let at = shown.iter().position(|r| *r == anchor);
                pages.plan_rebase(&shown, at, false);
            }
            if let Some(page) = pages.pending() {
                let after = rows.iter().rev().skip_while(|r| **r <= anchor).take(49);
                let times: Vec<&str> = std::iter::once(anchor.as_str())
                    .chain(after.map(String::as_str))
                    .collect();
                pages.answered(&page, Span::of(&times, true));
                pages.rebase(Some(&anchor));
            }
            n += 4;
        }
        assert!(!pages.at_newest(), "rebased: the live window left the DOM");
        assert!(
            largest <= DOM_ROWS + FOLLOW_SLACK,
            "a refetch of {largest} rows"
        );
    }

    #[test]
    fn a_loaded_window_belongs_to_its_key() {
        let key = QueryKey::thread("c1", 50);
        let mut window = LoadedWindow::default();
        assert_eq!(window.request(&key, true), ThreadWindow::Newest(50));
        let rows = times(50);
        let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
        assert!(window.answered(&key, &refs));
        assert!(window.has_older(&key));
        assert_eq!(
            window.request(&key, false),
            ThreadWindow::Since("t0000".into())
        );
        // "Load older": a larger limit is a new key that starts from its newest rows.
        let older = QueryKey::thread("c1", 100);
        assert_eq!(window.request(&older, true), ThreadWindow::Newest(100));
        assert!(!window.has_older(&older));
        assert!(
            !window.answered(&older, &[]),
            "nothing loaded, nothing held"
        );
        assert!(
            window.has_older(&key),
            "an empty answer keeps the old window"
        );
    }
}
