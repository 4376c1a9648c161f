//! A thread's history as cursor pages, and which of them are in the DOM.
//!
//! The newest part of a thread is the live window (`window`: refetched from its floor, shed
//! only while the reader follows). Everything older comes in immutable pages of
//! [`PAGE`] rows fetched by a cursor on `created_at` ([`Page::Before`]: the rows strictly
//! older than the cursor, newest first), so page 200 costs the same as page 1 and no answer
//! ever nears the server's row cap. A thread opened at a search result starts from a page
//! around that message and reaches the newest rows through [`Page::After`] pages (the rows
//! strictly newer than the cursor, oldest first).
//!
//! `created_at` is unique within a conversation at microsecond resolution on both backends
//! (the insert stamps it strictly above the conversation's newest message), so a cursor on
//! `created_at` alone is exact: no `(created_at, id)` tiebreak is needed.
//!
//! The pages form a chain, newest first; the DOM shows a contiguous run of at most
//! [`MAX_PAGES`] of them. Climbing adds a page at the top and, past the bound, drops one at
//! the bottom; going back down brings the bottom ones back and drops from the top. The
//! chain's cursors are kept (a few dozen bytes per page) so a page that left can re-enter
//! under the same query key.

use crate::api::THREAD_PAGE;

/// Rows per history page (the live window's first page is the same size).
pub const PAGE: usize = THREAD_PAGE;

/// Most pages in the DOM at once: with [`PAGE`] rows each, the view holds about 200 rows
/// (plus whatever the live window grew by while the reader was scrolled up).
pub const MAX_PAGES: usize = 4;

/// Newer messages above which a search result sits in the page it opens with (the page
/// holds it, these, and `PAGE - JUMP_NEWER - 1` older ones for context).
pub const JUMP_NEWER: usize = 25;

/// One part of a thread's history, as its query key names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Page {
    /// The live window: the newest rows, refetched from its floor (`window`).
    Live,
    /// The [`PAGE`] rows older than this `created_at` (exclusive), newest first.
    Before(String),
    /// The [`PAGE`] rows newer than this `created_at` (exclusive), oldest first.
    After(String),
}

/// What an answered page holds: its oldest and newest `created_at`, and whether history
/// goes on past it in its direction (older for `Live`/`Before`, newer for `After`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// `created_at` of its oldest row.
    pub oldest: String,
    /// `created_at` of its newest row.
    pub newest: String,
    /// Whether more rows lie beyond it in its direction.
    pub more: bool,
}

impl Span {
    /// The span of an answer given its `created_at`s in any order (ISO 8601 in one offset
    /// compare as strings), `None` when empty. `more` is whether a page came back full
    /// (a `Before`/`After` page), or the live window's own `older`.
    pub fn of(times: &[&str], more: bool) -> Option<Span> {
        let oldest = times.iter().min()?;
        let newest = times.iter().max()?;
        Some(Span {
            oldest: oldest.to_string(),
            newest: newest.to_string(),
            more,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    /// Its place in the chain, stable while it lives (one less than the next newer
    /// segment's), so a run of up to [`MAX_PAGES`] has distinct [`Pages::slot`]s.
    place: i64,
    page: Page,
    /// `Some` once answered: the span, `None` inside for an empty answer.
    span: Option<Option<Span>>,
}

impl Segment {
    fn new(place: i64, page: Page) -> Segment {
        Segment {
            place,
            page,
            span: None,
        }
    }

    fn span(&self) -> Option<&Span> {
        self.span.as_ref().and_then(Option::as_ref)
    }
}

/// The chain of a thread's pages (newest first) and the run of them in the DOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pages {
    segments: Vec<Segment>,
    /// The DOM's newest and oldest segment, inclusive indexes into `segments`.
    lo: usize,
    hi: usize,
}

impl Default for Pages {
    fn default() -> Self {
        Pages::newest()
    }
}

impl Pages {
    /// A thread opened at its newest rows: the live window alone.
    pub fn newest() -> Pages {
        Pages {
            segments: vec![Segment::new(0, Page::Live)],
            lo: 0,
            hi: 0,
        }
    }

    /// A thread opened around a message: the page of rows older than `cursor` (see
    /// [`jump_cursor`]); the newest rows come back by going down.
    pub fn around(cursor: &str) -> Pages {
        Pages {
            segments: vec![Segment::new(0, Page::Before(cursor.to_string()))],
            lo: 0,
            hi: 0,
        }
    }

    /// The pages in the DOM, oldest first (the order their rows are shown in).
    pub fn shown(&self) -> Vec<Page> {
        self.segments[self.lo..=self.hi]
            .iter()
            .rev()
            .map(|s| s.page.clone())
            .collect()
    }

    /// The pages in the DOM, oldest first, each with its slot in `0..MAX_PAGES`: a page
    /// keeps its slot while it stays in the DOM, so one query per slot observes it without
    /// moving between slots as the run climbs or descends.
    pub fn shown_slots(&self) -> Vec<(usize, Page)> {
        self.segments[self.lo..=self.hi]
            .iter()
            .rev()
            .map(|s| {
                (
                    s.place.rem_euclid(MAX_PAGES as i64) as usize,
                    s.page.clone(),
                )
            })
            .collect()
    }

    /// Whether the DOM reaches the newest rows (the live window is shown): only then can a
    /// reader follow new messages.
    pub fn at_newest(&self) -> bool {
        self.lo == 0 && self.segments[0].page == Page::Live
    }

    /// Whether the live window is the only page shown: only then may its refetch shed rows
    /// (a shed floor would leave a gap under the older page shown above it).
    pub fn live_only(&self) -> bool {
        self.at_newest() && self.hi == 0
    }

    /// Takes in an answer for `page`: its span, `None` when empty. Returns whether
    /// anything changed. A live window whose floor moved (it shed while the reader
    /// followed) drops the older pages chained from its old floor, unless they are shown.
    pub fn answered(&mut self, page: &Page, span: Option<Span>) -> bool {
        let Some(at) = self.segments.iter().position(|s| &s.page == page) else {
            return false;
        };
        if self.segments[at].span.as_ref() == Some(&span) {
            return false;
        }
        let reached_newest =
            matches!(page, Page::After(_)) && !span.as_ref().is_some_and(|s| s.more);
        self.segments[at].span = Some(span);
        if reached_newest && at == 0 && self.lo == 0 {
            // The newest rows are in: the live window joins below them at once, so the
            // reader can follow again.
            self.newer();
            return true;
        }
        if at == 0 && *page == Page::Live && self.hi == 0 {
            let floor = self.segments[0].span().map(|s| s.oldest.clone());
            let chained = match self.segments.get(1).map(|s| &s.page) {
                Some(Page::Before(cursor)) => Some(cursor) == floor.as_ref(),
                _ => true,
            };
            if !chained {
                self.segments.truncate(1);
            }
        }
        true
    }

    /// Whether there is history above the DOM's oldest row (the "Load older" button).
    pub fn has_older(&self) -> bool {
        let top = &self.segments[self.hi];
        // A history page still loading may have more above it: the button stays put.
        let loading = top.span.is_none() && top.page != Page::Live;
        self.hi + 1 < self.segments.len() || loading || self.older_cursor().is_some()
    }

    /// Whether there are newer rows below the DOM's newest row.
    pub fn has_newer(&self) -> bool {
        !self.at_newest()
    }

    /// The cursor of the page above the DOM's oldest one: its oldest `created_at`.
    pub fn older_cursor(&self) -> Option<&str> {
        let top = &self.segments[self.hi];
        let span = top.span()?;
        // An After page's older side is the page it was chained from.
        let more = match top.page {
            Page::After(_) => true,
            _ => span.more,
        };
        more.then_some(span.oldest.as_str())
    }

    /// One page more at the top (the reader climbs). A page that was shown before
    /// re-enters; else the next one is chained from the top page's oldest row, once that
    /// page has answered. Past [`MAX_PAGES`] the bottom page leaves, which is allowed only
    /// when the reader does not follow the bottom (then nothing happens). Returns whether
    /// the DOM's pages changed.
    pub fn older(&mut self, following: bool) -> bool {
        let full = self.hi - self.lo + 1 >= MAX_PAGES;
        if full && following {
            return false;
        }
        if self.hi + 1 >= self.segments.len() {
            let Some(cursor) = self.older_cursor().map(str::to_string) else {
                return false;
            };
            // An After page's oldest row is not a page boundary of a Before chain: chain
            // from it all the same, the cursor makes the pages meet exactly.
            let place = self.segments[self.segments.len() - 1].place - 1;
            self.segments
                .push(Segment::new(place, Page::Before(cursor)));
        }
        self.hi += 1;
        if full {
            self.lo += 1;
        }
        true
    }

    /// One page more at the bottom (the reader goes back toward the newest rows). A page
    /// that left re-enters; else (a thread opened at a search result) the next newer page
    /// is chained from the bottom page's newest row, and once an `After` page came back
    /// short the live window follows. Past [`MAX_PAGES`] the top page leaves. Returns
    /// whether the DOM's pages changed.
    pub fn newer(&mut self) -> bool {
        if self.lo == 0 {
            let bottom = &self.segments[0];
            let next = match (&bottom.page, &bottom.span) {
                (Page::Live, _) | (_, None) => return false,
                // An After page that came back short (or empty) reached the newest rows.
                (Page::After(_), Some(s)) if !s.as_ref().is_some_and(|s| s.more) => Page::Live,
                (_, Some(Some(s))) => Page::After(s.newest.clone()),
                (_, Some(None)) => Page::Live,
            };
            let place = self.segments[0].place + 1;
            self.segments.insert(0, Segment::new(place, next));
            self.hi += 1;
        } else {
            self.lo -= 1;
        }
        if self.hi - self.lo + 1 > MAX_PAGES {
            self.hi -= 1;
        }
        true
    }

    /// Back to the newest rows only (Esc, or the reader reached the bottom): every older
    /// page leaves the DOM, so the live window may shed again. A chain opened at a search
    /// result is dropped for the live window. Returns whether anything changed.
    pub fn to_newest(&mut self) -> bool {
        if self.segments[0].page != Page::Live {
            *self = Pages::newest();
            return true;
        }
        let changed = self.lo != 0 || self.hi != 0;
        self.lo = 0;
        self.hi = 0;
        changed
    }
}

/// Where a thread opened at a message starts: `newer` are the `created_at`s of up to
/// [`JUMP_NEWER`]` + 1` messages right after it, oldest first. With that many, the opening
/// page is [`Page::Before`] the last of them (it holds [`JUMP_NEWER`] newer rows, the
/// message, and older context); with fewer, the message is among the newest rows and the
/// thread opens as usual (`None`).
pub fn jump_cursor(newer: &[&str]) -> Option<String> {
    (newer.len() > JUMP_NEWER).then(|| newer[JUMP_NEWER].to_string())
}

/// Pixels from the top of the view within which the next older page loads by itself.
pub const LOAD_MARGIN_PX: f64 = 400.0;

/// Whether a reader `distance_from_edge` px from the top (or bottom) of the loaded rows
/// is close enough for the next page in that direction to load.
pub fn near_edge(distance_from_edge: f64) -> bool {
    distance_from_edge <= LOAD_MARGIN_PX
}

/// The `scrollTop` that puts an anchor row back where the reader saw it: `offset_before`
/// was its `offsetTop` minus `scrollTop` before rows entered or left above it, `top_after`
/// its `offsetTop` after.
pub fn anchored_scroll_top(offset_before: f64, top_after: f64) -> f64 {
    (top_after - offset_before).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(oldest: u32, newest: u32, more: bool) -> Option<Span> {
        Some(Span {
            oldest: format!("t{oldest:05}"),
            newest: format!("t{newest:05}"),
            more,
        })
    }

    fn t(i: u32) -> String {
        format!("t{i:05}")
    }

    /// A thread of `n` rows t00000..t{n-1}: answers each page as the server would.
    fn answer(pages: &mut Pages, n: u32) {
        for page in pages.shown() {
            let s = match &page {
                Page::Live => span(n.saturating_sub(50), n - 1, n > 50),
                Page::Before(c) => {
                    let c: u32 = c[1..].parse().unwrap();
                    let oldest = c.saturating_sub(50);
                    (c > 0)
                        .then(|| span(oldest, c - 1, c - oldest == 50))
                        .flatten()
                }
                Page::After(c) => {
                    let c: u32 = c[1..].parse().unwrap();
                    let newest = (c + 50).min(n - 1);
                    (c + 1 < n)
                        .then(|| span(c + 1, newest, newest - c == 50))
                        .flatten()
                }
            };
            pages.answered(&page, s);
        }
    }

    #[test]
    fn a_thread_opens_at_its_live_window() {
        let mut pages = Pages::newest();
        assert_eq!(pages.shown(), vec![Page::Live]);
        assert!(pages.at_newest() && pages.live_only());
        assert!(!pages.has_older(), "unknown until it answers");
        assert!(!pages.older(false), "nothing to chain from yet");
        answer(&mut pages, 30);
        assert!(!pages.has_older(), "a short thread is all there");
        let mut long = Pages::newest();
        answer(&mut long, 10_000);
        assert!(long.has_older());
        assert_eq!(long.older_cursor(), Some(t(9_950).as_str()));
        assert!(long.older(false));
        assert!(
            long.has_older(),
            "still loading: the button does not flicker"
        );
        assert!(!long.older(false), "one page at a time");
    }

    #[test]
    fn climbing_chains_pages_by_cursor_and_keeps_the_dom_bounded() {
        let mut pages = Pages::newest();
        answer(&mut pages, 10_000);
        let mut climbs = 0;
        while pages.has_older() {
            assert!(pages.older(false));
            answer(&mut pages, 10_000);
            climbs += 1;
            assert!(pages.shown().len() <= MAX_PAGES);
        }
        // 200 pages of 50, the live one included; the oldest came back full, so one more
        // (empty) answer says there is nothing before it.
        assert_eq!(climbs, 200);
        assert!(!pages.has_older(), "the empty page ended it");
        assert_eq!(pages.shown()[0], Page::Before(t(0)));
        assert_eq!(pages.shown()[1], Page::Before(t(50)));
        assert!(!pages.at_newest());
        // An oldest page that came back short ends the climb too.
        let mut short = Pages::newest();
        answer(&mut short, 120);
        short.older(false);
        answer(&mut short, 120);
        assert!(short.has_older());
        short.older(false);
        answer(&mut short, 120);
        assert_eq!(short.shown()[0], Page::Before(t(20)));
        assert!(!short.has_older(), "20 < 50 rows: the first message is in");
    }

    #[test]
    fn a_following_reader_never_loses_the_bottom_page() {
        let mut pages = Pages::newest();
        answer(&mut pages, 10_000);
        for _ in 0..MAX_PAGES - 1 {
            assert!(pages.older(true));
            answer(&mut pages, 10_000);
        }
        assert!(!pages.older(true), "full, and the bottom is being read");
        assert!(pages.at_newest());
        assert!(pages.older(false));
        assert!(!pages.at_newest(), "the live window left at the bottom");
    }

    #[test]
    fn going_down_pages_re_enter_and_top_ones_leave() {
        let mut pages = Pages::newest();
        answer(&mut pages, 10_000);
        for _ in 0..6 {
            pages.older(false);
            answer(&mut pages, 10_000);
        }
        let top = pages.shown()[0].clone();
        assert_eq!(top, Page::Before(t(9_700)));
        assert!(pages.newer());
        assert_eq!(pages.shown().len(), MAX_PAGES);
        assert_eq!(
            pages.shown()[0],
            Page::Before(t(9_750)),
            "the top page left"
        );
        assert!(pages.newer());
        assert!(pages.newer());
        assert!(pages.at_newest());
        assert!(!pages.newer(), "nothing newer than the live window");
        // Climbing again re-enters the same keys, and the live window leaves at the bottom.
        pages.older(false);
        assert_eq!(pages.shown()[0], Page::Before(t(9_800)));
        assert!(!pages.at_newest());
        assert!(pages.to_newest());
        assert!(pages.live_only());
    }

    #[test]
    fn a_page_keeps_its_slot_while_shown() {
        let mut pages = Pages::around(&t(5_000));
        let mut seen = std::collections::HashMap::new();
        let mut step = |pages: &Pages| {
            let slots = pages.shown_slots();
            let distinct: std::collections::HashSet<usize> =
                slots.iter().map(|(s, _)| *s).collect();
            assert_eq!(distinct.len(), slots.len(), "one page per slot");
            for (slot, page) in slots {
                if let Some(old) = seen.insert(page.clone(), slot) {
                    assert_eq!(old, slot, "{page:?} moved");
                }
            }
        };
        for _ in 0..6 {
            answer(&mut pages, 10_000);
            pages.older(false);
            step(&pages);
        }
        for _ in 0..12 {
            answer(&mut pages, 10_000);
            pages.newer();
            step(&pages);
        }
    }

    #[test]
    fn a_live_window_that_shed_drops_the_pages_chained_from_its_old_floor() {
        let mut pages = Pages::newest();
        answer(&mut pages, 1_000);
        pages.older(false);
        answer(&mut pages, 1_000);
        pages.to_newest();
        // Grew by 11 while scrolled up: same floor, the chain holds.
        assert!(pages.answered(&Page::Live, span(950, 1_010, true)));
        assert!(pages.has_older() && pages.older(false));
        assert_eq!(pages.shown()[0], Page::Before(t(950)));
        pages.to_newest();
        // Shed while following: the old chain would leave a gap.
        pages.answered(&Page::Live, span(961, 1_010, true));
        pages.older(false);
        assert_eq!(pages.shown()[0], Page::Before(t(961)));
    }

    #[test]
    fn a_search_result_opens_around_it_and_the_newest_rows_come_back_below() {
        let newer: Vec<String> = (5_001..=5_026).map(t).collect();
        let refs: Vec<&str> = newer.iter().map(String::as_str).collect();
        let cursor = jump_cursor(&refs).unwrap();
        assert_eq!(
            cursor,
            t(5_026),
            "25 newer rows in the page, the 26th bounds it"
        );
        assert_eq!(
            jump_cursor(&refs[..25]),
            None,
            "among the newest: open as usual"
        );
        let mut pages = Pages::around(&cursor);
        answer(&mut pages, 10_000);
        assert!(!pages.at_newest() && pages.has_newer() && pages.has_older());
        assert!(pages.older(false));
        answer(&mut pages, 10_000);
        assert_eq!(pages.shown()[0], Page::Before(t(4_976)));
        let mut downs = 0;
        while !pages.at_newest() {
            assert!(pages.newer());
            answer(&mut pages, 10_000);
            assert!(pages.shown().len() <= MAX_PAGES);
            downs += 1;
        }
        // 5,026 → 9,999 in After pages of 50; the short last one brings the live window.
        assert_eq!(downs, 100);
        assert_eq!(pages.shown().last(), Some(&Page::Live));
        assert!(pages.to_newest() && pages.live_only());
    }

    #[test]
    fn an_after_page_chains_older_pages_from_its_oldest_row() {
        let mut pages = Pages::around(&t(100));
        answer(&mut pages, 10_000);
        pages.newer();
        answer(&mut pages, 10_000);
        // Leave the Before page at the top, then climb from the After one again.
        for _ in 0..MAX_PAGES {
            pages.newer();
            answer(&mut pages, 10_000);
        }
        assert!(matches!(pages.shown()[0], Page::After(_)));
        assert!(pages.has_older());
        assert!(pages.older(false));
    }

    #[test]
    fn edges_and_anchor_arithmetic() {
        assert!(near_edge(0.0) && near_edge(LOAD_MARGIN_PX));
        assert!(!near_edge(LOAD_MARGIN_PX + 1.0));
        // The anchor row was 120 px below the top of the view; 2,400 px of rows entered
        // above it (offsetTop 300 → 2,700): the view moves down by as much.
        assert_eq!(anchored_scroll_top(120.0, 2_700.0), 2_580.0);
        // Rows left above: it moved up.
        assert_eq!(anchored_scroll_top(120.0, 300.0), 180.0);
        assert_eq!(anchored_scroll_top(120.0, 50.0), 0.0);
        assert_eq!(
            Span::of(&["t2", "t9", "t1"], true),
            Some(Span {
                oldest: "t1".into(),
                newest: "t9".into(),
                more: true
            })
        );
        assert_eq!(Span::of(&[], true), None);
    }
}
