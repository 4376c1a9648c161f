//! The open thread's rows as signals: its live window (the newest rows, `window`), the
//! history pages in the DOM (`pages`), each under its own query key, the page a rebase
//! waits for, and the rows shown oldest first.

use leptos::prelude::*;

use super::jump::Start;
use super::pages::{Page, Pages, Span, MAX_PAGES, PAGE};
use super::window::LoadedWindow;
use crate::api::{Message, ThreadWindow, THREAD_PAGE};
use crate::cache::{use_query, Query, QueryClient, QueryKey};
use crate::pages::fetch_error;
use crate::session::SessionService;

/// What [`use_thread_rows`] gives the page.
#[derive(Clone, Copy)]
pub struct ThreadRows {
    /// The live window's query (`QueryKey::thread`): newest first, as the server answers.
    /// Observed as long as the thread is open, shown or not: read marking and the "New"
    /// divider go by it.
    pub query: Query<Vec<Message>>,
    /// The live window's rows, oldest first.
    pub newest: Memo<Vec<Message>>,
    /// The rows in the DOM (the pages shown, see `pages`), oldest first.
    pub messages: Memo<Vec<Message>>,
    /// Whether history goes back further than what is shown.
    pub has_older: Signal<bool>,
    /// Whether newer rows exist below what is shown (the reader is in history).
    pub has_newer: Signal<bool>,
    /// One page more at the top.
    pub load_older: UnsyncCallback<()>,
    /// One page more at the bottom.
    pub load_newer: UnsyncCallback<()>,
    /// Back to the newest rows only.
    pub to_newest: UnsyncCallback<()>,
}

/// The query key of `page` of conversation `id`.
fn page_key(id: &str, page: &Page) -> QueryKey {
    match page {
        Page::Live => QueryKey::thread(id, THREAD_PAGE),
        Page::Before(at) => QueryKey::thread_page(id, true, at),
        Page::After(at) => QueryKey::thread_page(id, false, at),
    }
}

/// Fetches one history page (a [`QueryKey::thread_page`] key) for `session`.
async fn fetch_page(
    session: SessionService,
    key: QueryKey,
) -> Result<serde_json::Value, crate::cache::FetchError> {
    let conversation = key.conversation_id().unwrap_or_default().to_string();
    let request = match key.thread_page_cursor() {
        Some((true, at)) => ThreadWindow::Before(at.to_string()),
        Some((false, at)) => ThreadWindow::After(at.to_string()),
        None => ThreadWindow::Newest(PAGE),
    };
    fetch_messages(session, conversation, request).await
}

/// One `messages` read of `conversation` (`request`: newest, before or after a cursor), as
/// the cache fetches it.
async fn fetch_messages(
    session: SessionService,
    conversation: String,
    request: ThreadWindow,
) -> Result<serde_json::Value, crate::cache::FetchError> {
    session
        .call(move |b, t| {
            let (conversation, request) = (conversation.clone(), request.clone());
            async move { b.messages(&t, &conversation, &request).await }
        })
        .await
        .map_err(fetch_error)
}

/// Takes in a history page's answer (newest first for `Before`, oldest first for `After`).
fn page_answered(pages: RwSignal<Pages>, page: &Page, rows: &[Message]) {
    let times: Vec<&str> = rows.iter().map(|m| m.created_at.as_str()).collect();
    let span = Span::of(&times, rows.len() >= PAGE);
    pages.maybe_update(|ps| ps.answered(page, span));
}

/// Observes history page `page` of conversation `id` (none while either is `None`) and
/// tells `pages` what each answer spans.
fn use_history_page(
    cache: QueryClient,
    session: SessionService,
    id: Memo<Option<String>>,
    page: Memo<Option<Page>>,
    pages: RwSignal<Pages>,
) -> Query<Vec<Message>> {
    let query = use_query::<Vec<Message>, _, _, _>(
        cache,
        move || Some(page_key(&id.get()?, &page.get()?)),
        move |key| fetch_page(session, key),
    );
    Effect::new(move |_| {
        let Some(p) = page.get() else { return };
        query.data.with(|d| {
            if let Some(rows) = d {
                page_answered(pages, &p, rows);
            }
        });
    });
    query
}

/// Observes the thread of conversation `id` while the calling component lives. `following`
/// (whether the reader is at the bottom) decides, as each live fetch starts, whether it may
/// shed old rows (see `window` and `Pages::live_may_shed`). `start` says where the thread
/// opens (`jump`): its newest rows, or around a message opened from search. `reading` is
/// the id of the reader's anchor row (the first row in view, kept by the view): past
/// `pages::DOM_ROWS` rows in the DOM a reader who does not follow is rebased on the page
/// holding it (`Pages::plan_rebase`).
pub fn use_thread_rows(
    id: Memo<Option<String>>,
    following: RwSignal<bool>,
    start: Signal<Start>,
    reading: RwSignal<Option<String>>,
) -> ThreadRows {
    let session = expect_context::<SessionService>();
    let cache = expect_context::<QueryClient>();
    let pages = RwSignal::new(Pages::newest());

    let key = Memo::new(move |_| id.get().map(|i| QueryKey::thread(&i, THREAD_PAGE)));
    let window = RwSignal::new(LoadedWindow::default());
    let query = use_query::<Vec<Message>, _, _, _>(
        cache,
        move || key.get(),
        move |key| async move {
            let conversation = key.conversation_id().unwrap_or_default().to_string();
            // A shed floor would leave a gap under an older page shown above the window.
            let follows = following.get_untracked();
            let may_shed = pages.with_untracked(|p| p.live_may_shed(follows));
            let request = window.with_untracked(|w| w.request(&key, may_shed));
            fetch_messages(session, conversation, request).await
        },
    );
    Effect::new(move |_| {
        let Some(k) = key.get() else { return };
        query.data.with(|d| {
            let times: Vec<&str> = d.iter().flatten().map(|m| m.created_at.as_str()).collect();
            window.maybe_update(|w| w.answered(&k, &times));
            let older = window.with_untracked(|w| w.has_older(&k));
            let span = Span::of(&times, older);
            pages.maybe_update(|p| p.answered(&Page::Live, span));
        });
    });
    Effect::new(move |previous: Option<Option<String>>| {
        let now = id.get();
        let same_thread = previous.as_ref() == Some(&now);
        // While a message is looked up in the same thread, its rows stay until the new
        // ones are known; another thread starts from its own newest rows.
        let mut fresh = match start.get() {
            Start::Around(cursor) => Pages::around(&cursor),
            Start::Pending if same_thread => return now,
            Start::Newest | Start::Pending => Pages::newest(),
        };
        // The live window's answer so far (the lookup may finish after it came): the way
        // down joins it, and a thread shown at its newest rows knows its floor.
        if let Some(k) = key.get_untracked() {
            query.data.with_untracked(|d| {
                if let Some(rows) = d {
                    let times: Vec<&str> = rows.iter().map(|m| m.created_at.as_str()).collect();
                    let older = window.with_untracked(|w| w.has_older(&k));
                    fresh.answered(&Page::Live, Span::of(&times, older));
                }
            });
        }
        pages.set(fresh);
        now
    });

    // One query per history page in the DOM: a page that leaves is unobserved (the cache
    // collects it later), one that re-enters finds its key again.
    let slots: Vec<Query<Vec<Message>>> = (0..MAX_PAGES)
        .map(|slot| {
            let page = Memo::new(move |_| {
                pages
                    .with(|p| {
                        p.shown_slots()
                            .into_iter()
                            .find_map(|(s, page)| (s == slot).then_some(page))
                    })
                    .filter(|p| *p != Page::Live)
            });
            use_history_page(cache, session, id, page, pages)
        })
        .collect();
    let slots = StoredValue::new(slots);

    // The page a rebase waits for, fetched aside (not shown) until it replaces the run;
    // its key stays observed as it moves into a slot, so it shows at once.
    let pending = Memo::new(move |_| pages.with(Pages::pending));
    use_history_page(cache, session, id, pending, pages);

    let newest = Memo::new(move |_| {
        query
            .data
            .with(|d| d.iter().flatten().rev().cloned().collect::<Vec<_>>())
    });
    // The pages shown, oldest first, each oldest first; a page toward the newest rows may
    // overlap the live window (rows are never deleted, only added), so ids are kept once.
    let messages = Memo::new(move |_| {
        let shown = pages.with(Pages::shown_slots);
        let mut seen = std::collections::HashSet::new();
        let mut rows = Vec::new();
        for (slot, page) in &shown {
            let mut add = |m: &Message| {
                if seen.insert(m.id.clone()) {
                    rows.push(m.clone());
                }
            };
            match page {
                Page::Live => newest.with(|n| n.iter().for_each(&mut add)),
                Page::Before(_) | Page::After(_) => {
                    let Some(data) = slots.with_value(|s| s.get(*slot).map(|q| q.data)) else {
                        continue;
                    };
                    data.with(|d| match (page, d) {
                        (Page::Before(_), Some(d)) => d.iter().rev().for_each(&mut add),
                        (_, Some(d)) => d.iter().for_each(&mut add),
                        (_, None) => {}
                    });
                }
            }
        }
        rows
    });
    // The DOM's bound (`pages::DOM_ROWS`) for a reader who does not follow: plan a rebase
    // on their anchor row, and carry it out once its page has answered.
    Effect::new(move |_| {
        pages.track();
        let follows = following.get();
        let anchor = reading.get();
        let (times, at) = messages.with(|rows| {
            let at = anchor
                .as_ref()
                .and_then(|a| rows.iter().position(|m| &m.id == a));
            let times: Vec<String> = rows.iter().map(|m| m.created_at.clone()).collect();
            (times, at)
        });
        let shown: Vec<&str> = times.iter().map(String::as_str).collect();
        let anchor_at = at.map(|i| shown[i]);
        pages.maybe_update(|p| {
            // Planned from the rows shown now; after a rebase the next run plans anew.
            p.rebase(anchor_at) || p.plan_rebase(&shown, at, follows)
        });
    });

    let has_older = Signal::derive(move || pages.with(Pages::has_older));
    let has_newer = Signal::derive(move || pages.with(Pages::has_newer));
    let load_older = UnsyncCallback::new(move |()| {
        let follows = following.get_untracked();
        pages.maybe_update(|p| p.older(follows));
    });
    let load_newer = UnsyncCallback::new(move |()| {
        pages.maybe_update(Pages::newer);
    });
    let to_newest = UnsyncCallback::new(move |()| {
        pages.maybe_update(Pages::to_newest);
    });
    ThreadRows {
        query,
        newest,
        messages,
        has_older,
        has_newer,
        load_older,
        load_newer,
        to_newest,
    }
}
