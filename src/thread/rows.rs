//! The open thread's rows as signals: its query (keyed by conversation and window size), the
//! loaded window it keeps, and the rows shown oldest first.

use leptos::prelude::*;

use super::window::LoadedWindow;
use crate::api::{Message, THREAD_PAGE};
use crate::cache::{use_query, Query, QueryClient, QueryKey};
use crate::pages::fetch_error;
use crate::session::SessionService;

/// What [`use_thread_rows`] gives the page.
#[derive(Clone, Copy)]
pub struct ThreadRows {
    /// The thread's query (`QueryKey::thread`): newest first, as the server answers.
    pub query: Query<Vec<Message>>,
    /// The rows to show, oldest first.
    pub messages: Memo<Vec<Message>>,
    /// Whether history goes back further than what is loaded.
    pub has_older: Signal<bool>,
    /// Loads one more page of history.
    pub load_older: UnsyncCallback<()>,
}

/// Observes the thread of conversation `id` while the calling component lives. `following`
/// (whether the reader is at the bottom) decides, as each fetch starts, whether it may shed
/// old rows (see `window`). `reach` is the fewest newest rows to load (a message opened
/// from search must be among them); 0 for one page.
pub fn use_thread_rows(
    id: Memo<Option<String>>,
    following: RwSignal<bool>,
    reach: Signal<usize>,
) -> ThreadRows {
    let session = expect_context::<SessionService>();
    let cache = expect_context::<QueryClient>();
    // How much history is loaded: a new conversation starts at one page.
    let limit = RwSignal::new(THREAD_PAGE);
    Effect::new(move |_| {
        id.track();
        limit.set(THREAD_PAGE);
    });
    let key = Memo::new(move |_| {
        id.get()
            .map(|i| QueryKey::thread(&i, limit.get().max(reach.get())))
    });
    let window = RwSignal::new(LoadedWindow::default());
    let query = use_query::<Vec<Message>, _, _, _>(
        cache,
        move || key.get(),
        move |key| async move {
            let conversation = key.conversation_id().unwrap_or_default().to_string();
            let request = window.with_untracked(|w| w.request(&key, following.get_untracked()));
            session
                .call(move |b, t| {
                    let (conversation, request) = (conversation.clone(), request.clone());
                    async move { b.messages(&t, &conversation, &request).await }
                })
                .await
                .map_err(fetch_error)
        },
    );
    Effect::new(move |_| {
        let Some(k) = key.get() else { return };
        query.data.with(|d| {
            let times: Vec<&str> = d.iter().flatten().map(|m| m.created_at.as_str()).collect();
            window.maybe_update(|w| w.answered(&k, &times));
        });
    });
    // The server answers newest first; show oldest first (one copy per answer). While a
    // larger page loads, keep showing what this conversation already had.
    let shown_conversation = StoredValue::new(None::<String>);
    let messages = Memo::new(move |previous: Option<&Vec<Message>>| {
        let conversation = id.get();
        let answer = query
            .data
            .with(|d| d.as_ref().map(|l| l.iter().rev().cloned().collect()));
        match answer {
            Some(list) => {
                shown_conversation.set_value(conversation);
                list
            }
            None if shown_conversation.get_value() == conversation => {
                previous.cloned().unwrap_or_default()
            }
            None => Vec::new(),
        }
    });
    let has_older = Signal::derive(move || {
        key.with(|k| k.as_ref().is_some_and(|k| window.with(|w| w.has_older(k))))
    });
    let load_older = UnsyncCallback::new(move |()| {
        let shown = limit.get_untracked().max(reach.get_untracked());
        limit.set(shown + THREAD_PAGE);
    });
    ThreadRows {
        query,
        messages,
        has_older,
        load_older,
    }
}
