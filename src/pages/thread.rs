//! `/messages/:id`: one thread, its composer, and read marking while visible.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde_json::json;

use super::fetch_error;
use crate::api::{Message, ThreadWindow, THREAD_PAGE};
use crate::cache::{use_query, QueryClient, QueryKey};
use crate::components::{Composer, MessageThread};
use crate::history::{next_floor, Floor};
use crate::outbox::Outbox;
use crate::session::SessionService;

/// Shown at `/messages` before a conversation is chosen.
#[component]
pub fn NoThread() -> impl IntoView {
    view! { <div class="no-thread">"Select a conversation"</div> }
}

/// The open conversation.
#[component]
pub fn ThreadPage() -> impl IntoView {
    let session = expect_context::<SessionService>();
    let cache = expect_context::<QueryClient>();
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id")));
    // How much history is loaded; part of the key, so ["messages", id] still matches it.
    let limit = RwSignal::new(THREAD_PAGE);
    Effect::new(move |_| {
        id.track();
        limit.set(THREAD_PAGE);
    });
    let key = Memo::new(move |_| {
        id.get()
            .map(|i| QueryKey::new(["messages".to_string(), i, limit.get().to_string()]))
    });
    // The loaded window's floor for the current key (see `history`).
    let floor: RwSignal<Option<(QueryKey, Floor)>> = RwSignal::new(None);
    // Whether the reader is at the bottom (kept by the thread): a refetch sheds old rows
    // only then.
    let following = RwSignal::new(true);
    let query = use_query::<Vec<Message>, _, _, _>(
        cache,
        move || key.get(),
        move |key| async move {
            let conv = key.0.get(1).cloned().unwrap_or_default();
            let limit = key
                .0
                .get(2)
                .and_then(|l| l.parse().ok())
                .unwrap_or(THREAD_PAGE);
            let window = floor.with_untracked(|f| match f {
                Some((k, f)) if *k == key => {
                    ThreadWindow::Since(f.fetch_from(following.get_untracked()).to_string())
                }
                _ => ThreadWindow::Newest(limit),
            });
            session
                .call(move |b, t| {
                    let (conv, window) = (conv.clone(), window.clone());
                    async move { b.messages(&t, &conv, &window).await }
                })
                .await
                .map_err(fetch_error)
        },
    );
    Effect::new(move |_| {
        let Some(k) = key.get() else { return };
        let next = floor.with_untracked(|f| {
            let previous = f.as_ref().filter(|(fk, _)| *fk == k).map(|(_, f)| f);
            query.data.with(|d| {
                let list = d.as_ref()?;
                let times: Vec<&str> = list.iter().map(|m| m.created_at.as_str()).collect();
                next_floor(&times, previous, THREAD_PAGE, limit.get_untracked())
            })
        });
        if let Some(f) = next {
            floor.set(Some((k, f)));
        }
    });
    // The server answers newest first; show oldest first (one copy per answer). While a
    // larger page loads, keep showing what this conversation already had.
    let shown_conv = StoredValue::new(None::<String>);
    let messages = Memo::new(move |previous: Option<&Vec<Message>>| {
        let conv = id.get();
        let answer = query
            .data
            .with(|d| d.as_ref().map(|l| l.iter().rev().cloned().collect()));
        match answer {
            Some(list) => {
                shown_conv.set_value(conv);
                list
            }
            None if shown_conv.get_value() == conv => previous.cloned().unwrap_or_default(),
            None => Vec::new(),
        }
    });
    let has_older = Signal::derive(move || {
        let k = key.get();
        floor.with(|f| {
            f.as_ref()
                .is_some_and(|(fk, f)| Some(fk) == k.as_ref() && f.older)
        })
    });
    let load_older = UnsyncCallback::new(move |()| limit.update(|l| *l += THREAD_PAGE));
    let me = session
        .session
        .get_untracked()
        .map(|s| s.user.id)
        .unwrap_or_default();
    let follow_next = StoredValue::new(false);

    // Read marking. What the reader of a visible tab has in view is read: the thread is marked
    // once it has loaded, when the tab becomes visible, and as soon as an event makes it stale
    // while the reader follows the bottom (at event time rather than after the refetch, so the
    // marker's own change lands in the same quiet window as the burst that caused it and the
    // list and badge refetch once for both). A reader scrolled up in history has not seen what
    // arrives below the view: it stays unread, as the pill says, until they are back at the
    // bottom. One marker write at a time; a reason that comes up meanwhile is served after it.
    let visibility = leptos_use::use_document_visibility();
    let loaded = Memo::new(move |_| query.data.with(Option::is_some));
    let in_flight = StoredValue::new(false);
    let again = StoredValue::new(false);
    let mark_again = Trigger::new();
    let unseen_below = StoredValue::new(false);
    // The conversation a marker may be sent for: loaded and in a visible tab.
    let readable = Memo::new(move |_| {
        let visible = visibility.get() == web_sys::VisibilityState::Visible;
        (visible && loaded.get()).then(|| id.get()).flatten()
    });
    let mark = move |conv: String| {
        if in_flight.get_value() {
            again.set_value(true);
            return;
        }
        in_flight.set_value(true);
        leptos::task::spawn_local(async move {
            let body = json!({"conversation_id": conv});
            let _ = session
                .call(|b, t| {
                    let body = body.clone();
                    async move { b.rpc(&t, "mark_conversation_read", body).await }
                })
                .await;
            if in_flight.try_set_value(false).is_none() && again.try_get_value() == Some(true) {
                again.set_value(false);
                mark_again.notify();
            }
        });
    };
    Effect::new(move |_| {
        query.invalidations.track();
        mark_again.track();
        if let Some(conv) = readable.get() {
            if following.get_untracked() {
                mark(conv);
            } else {
                unseen_below.set_value(true);
            }
        }
    });
    // Back at the bottom (scrolled there, or through the pill): what arrived meanwhile is seen.
    Effect::new(move |_| {
        if !following.get() || !unseen_below.get_value() {
            return;
        }
        if let Some(conv) = readable.get_untracked() {
            unseen_below.set_value(false);
            mark(conv);
        }
    });

    // A resend after a lost answer carries the first try's id, so it cannot store a copy.
    let outbox = StoredValue::new(Outbox::default());
    let send = move |text: String| async move {
        let conv = id.get_untracked().unwrap_or_default();
        let message_id = outbox
            .try_update_value(|o| o.id_for(&conv, &text, || uuid::Uuid::new_v4().to_string()))
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        follow_next.set_value(true);
        let result = session
            .call(|b, t| {
                let (conv, message_id, text) = (conv.clone(), message_id.clone(), text.clone());
                async move { b.send_message(&t, &message_id, &conv, &text).await }
            })
            .await;
        match result {
            // A taken id on a resend means its first try was stored: hosted PostgREST refuses
            // it (409 23505) where the embedded server returns the row. The outbox reuses an
            // id only for the same text in the same thread, so it is this very message.
            Err(e) if !e.is_duplicate_key() => {
                follow_next.set_value(false);
                Err(format!("Not sent: {e}"))
            }
            _ => {
                outbox.try_update_value(Outbox::sent);
                cache.invalidate(&QueryKey::messages(&conv));
                Ok(())
            }
        }
    };

    view! {
        <div class="thread">
            <Show when=move || query.error.get().is_some()>
                <div class="load-error" role="alert">
                    {move || query.error.get().unwrap_or_default()}
                    <button on:click=move |_| query.retry()>"Retry"</button>
                </div>
            </Show>
            // One MessageThread per conversation: its scroll state (distance, unseen rows,
            // rows shown) belongs to the thread it measured, so another one opens at its bottom.
            {move || {
                id.track();
                view! {
                    <MessageThread messages=messages me=me.clone() follow_next=follow_next
                        following=following has_older=has_older on_load_older=load_older />
                }
            }}
            <Composer send=send />
        </div>
    }
}
