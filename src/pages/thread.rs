//! `/messages/:id`: one thread, its composer, and read marking while visible.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde_json::json;

use super::fetch_error;
use crate::api::{Message, THREAD_PAGE};
use crate::cache::{use_query, QueryClient, QueryKey};
use crate::components::{Composer, MessageThread};
use crate::session::SessionService;

/// Shortest gap between two read-marker updates of the open thread.
const READ_MARK_MS: u64 = 400;

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
    let query = use_query::<Vec<Message>, _, _, _>(
        cache,
        move || {
            id.get()
                .map(|i| QueryKey::new(["messages".to_string(), i, limit.get().to_string()]))
        },
        move |key| async move {
            let conv = key.0.get(1).cloned().unwrap_or_default();
            let limit = key
                .0
                .get(2)
                .and_then(|l| l.parse().ok())
                .unwrap_or(THREAD_PAGE);
            session
                .call(move |b, t| {
                    let conv = conv.clone();
                    async move { b.messages(&t, &conv, limit).await }
                })
                .await
                .map_err(fetch_error)
        },
    );
    // The server answers newest first (so the limit keeps the newest); show oldest first.
    // While a larger page loads, keep showing what this conversation already had.
    let messages = Memo::new(move |previous: Option<&(Option<String>, Vec<Message>)>| {
        let conv = id.get();
        match query.data.get() {
            Some(mut list) => {
                list.reverse();
                (conv, list)
            }
            None => match previous {
                Some((c, list)) if *c == conv => (conv, list.clone()),
                _ => (conv, Vec::new()),
            },
        }
    });
    // One copy per change; readers borrow it.
    let messages = Memo::new(move |_| messages.with(|(_, list)| list.clone()));
    let has_older = Signal::derive(move || {
        query
            .data
            .with(|d| d.as_ref().is_some_and(|l| l.len() >= limit.get()))
    });
    let load_older = UnsyncCallback::new(move |()| limit.update(|l| *l += THREAD_PAGE));
    let me = session
        .session
        .get_untracked()
        .map(|s| s.user.id)
        .unwrap_or_default();
    let follow_next = StoredValue::new(false);

    // Read marking: whenever the newest message changes while the tab is visible, about once
    // per READ_MARK_MS at most (a steady stream must not cost an extra request per message).
    let visibility = leptos_use::use_document_visibility();
    let last_marked = StoredValue::new(None::<String>);
    let cooling = StoredValue::new(false);
    let mark = move || {
        let visible = visibility.get_untracked() == web_sys::VisibilityState::Visible;
        let newest = messages.with_untracked(|m| m.last().map(|m| m.id.clone()));
        let Some(conv) = id.get_untracked() else {
            return;
        };
        if !visible || newest.is_none() || last_marked.get_value() == newest || cooling.get_value()
        {
            return;
        }
        last_marked.set_value(newest);
        cooling.set_value(true);
        leptos::task::spawn_local(async move {
            let body = json!({"conversation_id": conv});
            let _ = session
                .call(|b, t| {
                    let body = body.clone();
                    async move { b.rpc(&t, "mark_conversation_read", body).await }
                })
                .await;
        });
    };
    Effect::new(move |previous: Option<Option<String>>| {
        visibility.track();
        messages.track();
        let conv = id.get();
        // Opening another conversation marks it at once, whatever the last one cost.
        if previous.as_ref() != Some(&conv) {
            cooling.set_value(false);
        }
        mark();
        conv
    });
    // The trailing edge: whatever arrived while cooling down is marked afterwards.
    let tick = set_interval_with_handle(
        move || {
            cooling.set_value(false);
            mark();
        },
        std::time::Duration::from_millis(READ_MARK_MS),
    );
    on_cleanup(move || {
        if let Ok(h) = tick {
            h.clear();
        }
    });

    let send = move |text: String| async move {
        let conv = id.get_untracked().unwrap_or_default();
        // One id per send: a retry after a lost answer cannot create a second copy.
        let message_id = uuid::Uuid::new_v4().to_string();
        follow_next.set_value(true);
        let result = session
            .call(|b, t| {
                let (conv, message_id, text) = (conv.clone(), message_id.clone(), text.clone());
                async move { b.send_message(&t, &message_id, &conv, &text).await }
            })
            .await;
        match result {
            Ok(_) => {
                cache.invalidate(&QueryKey::messages(&conv));
                Ok(())
            }
            Err(e) => {
                follow_next.set_value(false);
                Err(format!("Not sent: {e}"))
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
            <MessageThread messages=messages me=me follow_next=follow_next
                has_older=has_older on_load_older=load_older />
            <Composer send=send />
        </div>
    }
}
