//! `/messages/:id`: one thread, its composer, and read marking while visible.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde_json::json;

use super::fetch_error;
use crate::api::Message;
use crate::cache::{use_query, QueryClient, QueryKey};
use crate::components::{Composer, MessageThread};
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
    let query = use_query::<Vec<Message>, _, _, _>(
        cache,
        move || id.get().map(|i| QueryKey::messages(&i)),
        move |key| async move {
            let conv = key.0.get(1).cloned().unwrap_or_default();
            session
                .call(move |b, t| {
                    let conv = conv.clone();
                    async move { b.messages(&t, &conv).await }
                })
                .await
                .map_err(fetch_error)
        },
    );
    // The server answers newest first (so the limit keeps the newest); show oldest first.
    let messages = Signal::derive(move || {
        let mut list = query.data.get().unwrap_or_default();
        list.reverse();
        list
    });
    let me = session
        .session
        .get_untracked()
        .map(|s| s.user.id)
        .unwrap_or_default();
    let follow_next = StoredValue::new(false);

    // Read marking: whenever the newest message changes while the tab is visible.
    let visibility = leptos_use::use_document_visibility();
    let last_marked = StoredValue::new(None::<String>);
    Effect::new(move |_| {
        let visible = visibility.get() == web_sys::VisibilityState::Visible;
        let newest = messages.with(|m| m.last().map(|m| m.id.clone()));
        let Some(conv) = id.get() else { return };
        if !visible || newest.is_none() || last_marked.get_value() == newest {
            return;
        }
        last_marked.set_value(newest);
        leptos::task::spawn_local(async move {
            let body = json!({"conversation_id": conv});
            let _ = session
                .call(|b, t| {
                    let body = body.clone();
                    async move { b.rpc(&t, "mark_conversation_read", body).await }
                })
                .await;
        });
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
            <MessageThread messages=messages me=me follow_next=follow_next />
            <Composer send=send />
        </div>
    }
}
