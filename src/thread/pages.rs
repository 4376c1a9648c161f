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
//!
//! The live window is in the chain only while it is in the DOM. Once it leaves (the reader
//! climbed past it, or was rebased, below) it is free to shed to its newest rows, since
//! nothing on screen hangs on its floor, and the way back down is by [`Page::After`] pages
//! from the bottom page's newest row; the live window joins below again only where its rows
//! reach that row ([`Pages::newer`]), so nothing is skipped.
//!
//! A reader who does not follow the bottom while messages keep arriving would make the live
//! window, shown, grow without bound. Past [`DOM_ROWS`] rows in the DOM the view is rebased
//! on the reader's anchor row (the first row in view): one page holding it and the rows
//! below it ([`Pages::plan_rebase`]) is fetched aside, and once it has answered and still
//! holds the anchor it replaces the whole run ([`Pages::rebase`]). Rows leave above the
//! anchor (the view keeps it exactly where it was) and below the page; the live window
//! leaves the DOM.

use crate::api::THREAD_PAGE;

/// Rows per history page (the live window's first page is the same size).
pub const PAGE: usize = THREAD_PAGE;

/// Most pages in the DOM at once: with [`PAGE`] rows each, the view holds about 200 rows
/// (a live window shown may grow past its page under a reader scrolled up, until the DOM
/// passes [`DOM_ROWS`] and the view is rebased).
pub const MAX_PAGES: usize = 4;

/// Most message rows in the DOM before a reader who does not follow is rebased on the page
/// at their anchor (the run's own bound: [`MAX_PAGES`] full pages).
pub const DOM_ROWS: usize = MAX_PAGES * PAGE;

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
    /// The live window's last answer, in the chain or not (`Some(None)`: empty).
    live: Option<Option<Span>>,
    /// The page a rebase waits for (see [`Pages::plan_rebase`]), not in the DOM.
    pending: Option<Segment>,
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
            live: None,
            pending: None,
        }
    }

    /// A thread opened around a message: the page of rows older than `cursor` (see
    /// [`jump_cursor`]); the newest rows come back by going down.
    pub fn around(cursor: &str) -> Pages {
        Pages {
            segments: vec![Segment::new(0, Page::Before(cursor.to_string()))],
            lo: 0,
            hi: 0,
            live: None,
            pending: None,
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
        let mut changed = false;
        if *page == Page::Live && self.live.as_ref() != Some(&span) {
            self.live = Some(span.clone());
            changed = true;
        }
        if let Some(pending) = self.pending.as_mut().filter(|p| &p.page == page) {
            if pending.span.as_ref() != Some(&span) {
                pending.span = Some(span.clone());
                changed = true;
            }
        }
        let Some(at) = self.segments.iter().position(|s| &s.page == page) else {
            // The live window out of the chain: it may now reach the short page at the
            // bottom of the DOM.
            return self.join_live() || changed;
        };
        if self.segments[at].span.as_ref() == Some(&span) {
            return changed;
        }
        let reached_newest =
            matches!(page, Page::After(_)) && !span.as_ref().is_some_and(|s| s.more);
        self.segments[at].span = Some(span);
        if reached_newest && at == 0 && self.lo == 0 {
            // The newest rows are in: the live window joins below them at once (if its
            // rows reach them), so the reader can follow again.
            self.join_live();
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

    /// Whether the live window's next refetch may shed its oldest rows: while it is out of
    /// the DOM (nothing on screen hangs on its floor), or while it is the only page shown
    /// and the reader `following` the bottom.
    pub fn live_may_shed(&self, following: bool) -> bool {
        !self.at_newest() || (following && self.live_only())
    }

    /// The newest row the bottom page of the DOM reaches (its cursor when it is empty),
    /// whether history goes on past it, `None` before it answered or if it is the live
    /// window.
    fn bottom_edge(&self) -> Option<(&str, bool)> {
        let bottom = &self.segments[0];
        match (&bottom.page, bottom.span.as_ref()?) {
            (Page::Live, _) => None,
            (Page::After(_), Some(s)) => Some((s.newest.as_str(), s.more)),
            // A Before page says nothing about rows newer than it.
            (Page::Before(_), Some(s)) => Some((s.newest.as_str(), true)),
            (Page::After(c) | Page::Before(c), None) => Some((c.as_str(), false)),
        }
    }

    /// Whether the live window's rows go down to `edge` (or it holds the thread from its
    /// first message), so it can join below a page that ends at `edge` without a gap.
    fn live_reaches(&self, edge: &str) -> bool {
        matches!(&self.live, Some(Some(l)) if l.oldest.as_str() <= edge || !l.more)
    }

    /// The live window joins below the DOM's bottom page if that page reached the newest
    /// rows (came back short) and the live window's rows reach it.
    fn join_live(&mut self) -> bool {
        let joins = self.lo == 0
            && self
                .bottom_edge()
                .is_some_and(|(edge, more)| !more && self.live_reaches(edge));
        joins && self.newer()
    }

    /// A live window below the DOM leaves the chain (it may shed now; see the module doc).
    fn drop_hidden_live(&mut self) {
        if self.lo > 0 && self.segments[0].page == Page::Live {
            self.segments.remove(0);
            self.lo -= 1;
            self.hi -= 1;
        }
    }

    /// The live window's segment, with its last answer.
    fn live_segment(&self, place: i64) -> Segment {
        Segment {
            place,
            page: Page::Live,
            span: self.live.clone(),
        }
    }

    /// Asks for a rebase when the DOM holds more than [`DOM_ROWS`] rows and the reader does
    /// not follow: `shown` are the `created_at`s of the rows in the DOM, oldest first, and
    /// `anchor` the index among them of the reader's anchor row. The page asked for holds
    /// the anchor and the rows below it: [`Page::After`] the row above it, or, for the
    /// first row shown, [`Page::Before`] the row [`PAGE`] below it. A reader back at the
    /// bottom (or a DOM back within bounds) cancels it. Returns whether anything changed;
    /// [`Pages::pending`] is the page to fetch.
    pub fn plan_rebase(&mut self, shown: &[&str], anchor: Option<usize>, following: bool) -> bool {
        let page = match anchor.filter(|_| !following && shown.len() > DOM_ROWS) {
            None => return self.pending.take().is_some(),
            Some(0) => Page::Before(shown[PAGE].to_string()),
            Some(at) => match shown.get(at - 1) {
                Some(above) => Page::After(above.to_string()),
                None => return self.pending.take().is_some(),
            },
        };
        if self.pending.as_ref().is_some_and(|p| p.page == page) {
            return false;
        }
        self.pending = Some(Segment::new(0, page));
        true
    }

    /// The page a rebase waits for, if any.
    pub fn pending(&self) -> Option<Page> {
        self.pending.as_ref().map(|p| p.page.clone())
    }

    /// Carries out the rebase once its page answered: if it holds `anchor_at` (the
    /// `created_at` of the reader's anchor row now), it becomes the only page shown (and
    /// the whole chain: climbing and going down chain from it again). A page that came
    /// back without the anchor (the reader moved meanwhile, or it is empty) is dropped, to
    /// be planned again. Returns whether anything changed.
    pub fn rebase(&mut self, anchor_at: Option<&str>) -> bool {
        let Some(answer) = self.pending.as_ref().and_then(|p| p.span.as_ref()) else {
            return false;
        };
        let holds = match (answer, anchor_at) {
            (Some(s), Some(at)) => s.oldest.as_str() <= at && at <= s.newest.as_str(),
            _ => false,
        };
        let Some(page) = self.pending.take() else {
            return false;
        };
        if holds {
            self.segments = vec![page];
            self.lo = 0;
            self.hi = 0;
        }
        true
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
            self.drop_hidden_live();
        }
        true
    }

    /// One page more at the bottom (the reader goes back toward the newest rows). A page
    /// that left re-enters; else the next newer page is chained from the bottom page's
    /// newest row, and once a page came back short (it reached the newest rows) the live
    /// window follows, if its rows reach that far (else the next page fills the gap).
    /// Past [`MAX_PAGES`] the top page leaves. Returns whether the DOM's pages changed.
    pub fn newer(&mut self) -> bool {
        if self.lo == 0 {
            let Some((edge, more)) = self.bottom_edge() else {
                return false;
            };
            let place = self.segments[0].place + 1;
            let empty = matches!(self.segments[0].span, Some(None));
            let next = if !more && self.live_reaches(edge) {
                self.live_segment(place)
            } else if empty {
                // Nothing newer than an empty page yet, and the live window does not reach
                // its cursor: its refetch, or the page's, will tell.
                return false;
            } else {
                Segment::new(place, Page::After(edge.to_string()))
            };
            self.segments.insert(0, next);
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
        let cancelled = self.pending.take().is_some();
        if self.segments[0].page != Page::Live {
            let live = self.live.take();
            *self = Pages::newest();
            self.segments[0].span = live.clone();
            self.live = live;
            return true;
        }
        let changed = self.lo != 0 || self.hi != 0;
        self.lo = 0;
        self.hi = 0;
        changed || cancelled
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

    /// What the server answers for `page` of a thread of `n` rows t00000..t{n-1}, the
    /// live window holding its newest 50 (shed, or just opened).
    fn span_of(page: &Page, n: u32) -> Option<Span> {
        match page {
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
        }
    }

    /// Answers the live window (observed whether shown or not) and each page shown.
    fn answer(pages: &mut Pages, n: u32) {
        pages.answered(&Page::Live, span_of(&Page::Live, n));
        for page in pages.shown() {
            pages.answered(&page, span_of(&page, n));
        }
    }

    /// The rows the DOM shows (each page's, deduplicated, oldest first) for a thread of
    /// `n` rows whose live window is `live` (oldest, newest).
    fn dom_rows(pages: &Pages, n: u32, live: (u32, u32)) -> Vec<u32> {
        let mut rows: Vec<u32> = Vec::new();
        for page in pages.shown() {
            let (from, to) = match (&page, span_of(&page, n)) {
                (Page::Live, _) => live,
                (_, Some(s)) => (
                    s.oldest[1..].parse().unwrap(),
                    s.newest[1..].parse().unwrap(),
                ),
                (_, None) => continue,
            };
            let last = rows.last().copied();
            rows.extend((from..=to).filter(|r| last.is_none_or(|last| *r > last)));
        }
        rows
    }

    /// Whether `rows` are consecutive: no message skipped, none twice.
    fn contiguous(rows: &[u32]) -> bool {
        rows.windows(2).all(|w| w[1] == w[0] + 1)
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
        assert_eq!(pages.shown().last(), Some(&Page::Before(t(9_950))));
        // The live window left the chain when it left the DOM: the rows it held come back
        // as After pages, and it joins below the one that reaches the newest rows.
        assert!(pages.newer());
        assert_eq!(pages.shown().last(), Some(&Page::After(t(9_949))));
        answer(&mut pages, 10_000);
        assert!(pages.newer());
        answer(&mut pages, 10_000);
        assert!(pages.at_newest());
        assert!(!pages.newer(), "nothing newer than the live window");
        // Climbing again re-enters the same keys, and the live window leaves at the bottom.
        pages.older(false);
        assert_eq!(pages.shown()[0], Page::Before(t(9_900)));
        assert!(!pages.at_newest());
        assert!(pages.to_newest());
        assert!(pages.live_only());
    }

    #[test]
    fn a_live_window_out_of_the_dom_may_shed_and_the_way_down_skips_nothing() {
        // The reader climbed past the live window while 300 messages arrived: the live
        // window, out of the DOM, shed to its newest rows; going down reaches every
        // message once.
        let mut pages = Pages::newest();
        answer(&mut pages, 10_000);
        assert!(!pages.live_may_shed(false), "shown, reader scrolled up");
        assert!(pages.live_may_shed(true));
        for _ in 0..MAX_PAGES {
            pages.older(false);
            answer(&mut pages, 10_000);
        }
        assert!(!pages.at_newest());
        assert!(
            pages.live_may_shed(false),
            "out of the DOM: nothing hangs on it"
        );
        let n = 10_300;
        let mut seen = dom_rows(&pages, n, (0, 0));
        let mut steps = 0;
        while !pages.at_newest() {
            pages.newer();
            answer(&mut pages, n);
            let rows = dom_rows(&pages, n, (n - 50, n - 1));
            assert!(
                contiguous(&rows),
                "a gap or a repeat at step {steps}: {rows:?}"
            );
            seen.extend(rows);
            steps += 1;
            assert!(steps < 20, "the newest rows never came back");
        }
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.first(), Some(&9_750));
        assert_eq!(
            seen.len() as u32,
            n - 9_750,
            "every message from the top down"
        );
    }

    #[test]
    fn the_live_window_joins_only_where_its_rows_reach() {
        let mut pages = Pages::around(&t(9_000));
        answer(&mut pages, 9_020);
        assert!(pages.newer());
        // The After page reached the newest rows, but the live window answered later with
        // 60 more (its 50 newest start past the page): joining would skip ten messages.
        pages.answered(&Page::Live, span(9_030, 9_079, true));
        pages.answered(&Page::After(t(8_999)), span(9_000, 9_019, false));
        assert!(!pages.at_newest());
        assert!(pages.newer(), "the next page fills the gap");
        assert_eq!(pages.shown().last(), Some(&Page::After(t(9_019))));
        pages.answered(&Page::After(t(9_019)), span(9_020, 9_069, true));
        pages.newer();
        pages.answered(&Page::After(t(9_069)), span(9_070, 9_079, false));
        assert!(pages.at_newest(), "now they meet");
    }

    #[test]
    fn back_to_the_newest_rows_knows_the_live_window_at_once() {
        let mut pages = Pages::around(&t(5_000));
        answer(&mut pages, 10_000);
        assert!(pages.to_newest());
        assert!(pages.live_only());
        assert!(
            pages.has_older(),
            "the live window's last answer, not a blank"
        );
        assert_eq!(pages.older_cursor(), Some(t(9_950).as_str()));
    }

    #[test]
    fn a_reader_who_does_not_follow_is_rebased_on_the_page_at_their_anchor() {
        // The live window grew to 201 rows under a reader scrolled up at row 120.
        let times: Vec<String> = (0..=DOM_ROWS as u32).map(t).collect();
        let shown: Vec<&str> = times.iter().map(String::as_str).collect();
        let mut pages = Pages::newest();
        pages.answered(&Page::Live, span(0, DOM_ROWS as u32, false));
        assert!(
            !pages.plan_rebase(&shown[..DOM_ROWS], Some(120), false),
            "within the bound"
        );
        assert!(
            !pages.plan_rebase(&shown, Some(120), true),
            "a following reader sheds instead"
        );
        assert!(!pages.plan_rebase(&shown, None, false), "no anchor known");
        assert!(pages.plan_rebase(&shown, Some(120), false));
        assert_eq!(pages.pending(), Some(Page::After(t(119))));
        assert!(!pages.plan_rebase(&shown, Some(120), false), "asked once");
        assert!(!pages.rebase(Some(&t(120))), "not answered yet");
        assert_eq!(
            pages.shown(),
            vec![Page::Live],
            "the DOM is unchanged meanwhile"
        );
        pages.answered(&Page::After(t(119)), span(120, 169, true));
        assert!(pages.rebase(Some(&t(120))));
        assert_eq!(pages.shown(), vec![Page::After(t(119))]);
        assert_eq!(pages.pending(), None);
        assert!(pages.has_newer() && pages.has_older());
        assert!(pages.live_may_shed(false), "the live window left the DOM");
        assert_eq!(
            pages.older_cursor(),
            Some(t(120).as_str()),
            "climbing chains from it"
        );
        // The first row shown is the anchor: the page of 50 from it, nothing above moves.
        let mut top = Pages::newest();
        top.plan_rebase(&shown, Some(0), false);
        assert_eq!(top.pending(), Some(Page::Before(t(50))));
        // The reader moved before the page came: it does not hold them, so it is dropped
        // and planned again from where they are.
        let mut moved = Pages::newest();
        moved.plan_rebase(&shown, Some(120), false);
        moved.answered(&Page::After(t(119)), span(120, 169, true));
        assert!(moved.rebase(Some(&t(180))));
        assert_eq!(moved.shown(), vec![Page::Live]);
        assert_eq!(moved.pending(), None);
        assert!(moved.plan_rebase(&shown, Some(180), false));
        assert_eq!(moved.pending(), Some(Page::After(t(179))));
        // Back at the bottom: the plan is cancelled.
        assert!(moved.plan_rebase(&shown, Some(180), true));
        assert_eq!(moved.pending(), None);
    }

    #[test]
    fn a_growing_thread_under_a_reader_scrolled_up_stays_bounded_and_whole() {
        // 20 messages a second for ten minutes under a reader scrolled up at row 9,990 of
        // the live window: the DOM never passes the bound (plus one refetch's arrivals),
        // the anchor is always shown, and going down afterwards reaches every message
        // once.
        let anchor = 9_990_u32;
        let mut n = 10_000_u32;
        let mut pages = Pages::newest();
        answer(&mut pages, n);
        // The live window, shown, is refetched from its floor while the reader is up.
        let floor = n - 50;
        let mut max_rows = 0;
        for _ in 0..12_000 / 4 {
            n += 4;
            let live = if pages.live_may_shed(false) {
                (n - 50, n - 1)
            } else {
                (floor, n - 1)
            };
            pages.answered(&Page::Live, span(live.0, live.1, true));
            for page in pages.shown() {
                if page != Page::Live {
                    pages.answered(&page, span_of(&page, n));
                }
            }
            let rows = dom_rows(&pages, n, live);
            assert!(rows.contains(&anchor), "the anchor row left the DOM");
            assert!(contiguous(&rows));
            max_rows = max_rows.max(rows.len());
            let times: Vec<String> = rows.iter().map(|r| t(*r)).collect();
            let shown: Vec<&str> = times.iter().map(String::as_str).collect();
            let at = rows.iter().position(|r| *r == anchor);
            pages.plan_rebase(&shown, at, false);
            if let Some(page) = pages.pending() {
                pages.answered(&page, span_of(&page, n));
                pages.rebase(Some(&t(anchor)));
            }
        }
        assert!(max_rows <= DOM_ROWS + 4, "{max_rows} rows in the DOM");
        // Going down: every message from the anchor on, once.
        let mut seen: Vec<u32> = Vec::new();
        let mut steps = 0;
        while !pages.at_newest() {
            pages.newer();
            answer(&mut pages, n);
            let rows = dom_rows(&pages, n, (n - 50, n - 1));
            assert!(contiguous(&rows));
            seen.extend(rows);
            steps += 1;
            assert!(steps < 400, "the newest rows never came back");
        }
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.first(), Some(&anchor));
        assert_eq!(seen.last(), Some(&(n - 1)));
        assert!(contiguous(&seen));
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
