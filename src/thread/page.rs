//! `/messages/:id`: one thread, its composer, and read marking while visible. This component
//! only wires: which rows are loaded is `rows`' (and `window`'s) decision, when a marker
//! goes out [`ReadMarker`]'s, which id a send carries [`Outbox`]'s, and scrolling the view's.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde_json::json;

use super::canned::CannedReplies;
use super::outbox::Outbox;
use super::read_marker::ReadMarker;
use super::rows::{use_thread_rows, ThreadRows};
use super::view::MessageThread;
use crate::api::Priority;
use crate::cache::{QueryClient, QueryKey};
use crate::components::{form_error, Composer, LoadError};
use crate::session::SessionService;
use crate::urgent::Side;

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
    // Whether the reader is at the bottom (kept by the view): a refetch sheds old rows and a
    // marker goes out only then.
    let following = RwSignal::new(true);
    let ThreadRows {
        query,
        messages,
        has_older,
        load_older,
    } = use_thread_rows(id, following);
    let (me, side) = session
        .session
        .get_untracked()
        .map(|s| (s.user.id, Side::of_role(&s.user.app_metadata.app_role)))
        .unwrap_or((String::new(), Side::Dispatcher));
    let follow_next = StoredValue::new(false);

    // Read marking (rules in `read_marker`): the conversation a marker may be sent for is
    // the loaded one of a visible tab.
    let visibility = leptos_use::use_document_visibility();
    let loaded = Memo::new(move |_| query.data.with(Option::is_some));
    let readable = Memo::new(move |_| {
        let visible = visibility.get() == web_sys::VisibilityState::Visible;
        (visible && loaded.get()).then(|| id.get()).flatten()
    });
    let marking = Marking {
        session,
        marker: StoredValue::new(ReadMarker::default()),
        readable,
        following,
    };
    Effect::new(move |_| {
        query.invalidations.track();
        let readable = readable.get();
        marking.step(|m| m.on_change(readable.as_deref(), following.get_untracked()));
    });
    Effect::new(move |_| {
        if following.get() {
            let readable = readable.get_untracked();
            marking.step(|m| m.on_back_at_bottom(readable.as_deref()));
        }
    });

    // A resend after a lost answer carries the first try's id, so it cannot store a copy.
    // The composer and the canned replies keep an outbox each, so a quick reply sent
    // between a lost send and its retry cannot make the retry a new message.
    let composer_outbox = StoredValue::new(Outbox::default());
    let canned_outbox = StoredValue::new(Outbox::default());
    let send_from = move |outbox: StoredValue<Outbox>, text: String, priority: Priority| async move {
        let conversation = id.get_untracked().unwrap_or_default();
        let message_id = outbox
            .try_update_value(|o| {
                o.id_for(&conversation, &text, priority, || {
                    uuid::Uuid::new_v4().to_string()
                })
            })
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        follow_next.set_value(true);
        let result = session
            .call(|b, t| {
                let (conversation, message_id, text) =
                    (conversation.clone(), message_id.clone(), text.clone());
                async move {
                    b.send_message(&t, &message_id, &conversation, &text, priority)
                        .await
                }
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
                cache.invalidate(&QueryKey::messages(&conversation));
                Ok(())
            }
        }
    };
    let send = move |text: String, priority: Priority| send_from(composer_outbox, text, priority);
    // Canned replies go out as routine messages.
    let quick = Action::new_unsync(move |body: &String| {
        send_from(canned_outbox, body.clone(), Priority::Routine)
    });
    let quick_error = form_error(quick);

    // Acknowledging refetches at once rather than waiting for the event (which refetches
    // every tab of every dispatcher, this one included).
    let acknowledging = Action::new_unsync(move |message_id: &String| {
        let body = json!({"message_id": message_id});
        async move {
            let result = session
                .call(|b, t| {
                    let body = body.clone();
                    async move { b.rpc(&t, "acknowledge_message", body).await }
                })
                .await;
            for key in [
                QueryKey::all_messages(),
                QueryKey::conversations(),
                QueryKey::unacked_urgent_total(),
            ] {
                cache.invalidate(&key);
            }
            result
                .map(|_| ())
                .map_err(|e| format!("Not acknowledged: {e}"))
        }
    });
    let ack_error = form_error(acknowledging);
    let send_canned = UnsyncCallback::new(move |body: String| {
        if !quick.pending().get_untracked() {
            acknowledging.clear();
            quick.dispatch(body);
        }
    });
    let acknowledge = UnsyncCallback::new(move |message_id: String| {
        quick.clear();
        acknowledging.dispatch(message_id);
    });
    // An error belongs to the conversation it happened in.
    Effect::new(move |previous: Option<Option<String>>| {
        let now = id.get();
        if previous.is_some_and(|p| p != now) {
            quick.clear();
            acknowledging.clear();
        }
        now
    });
    let action_error = Signal::derive(move || ack_error.get().or_else(|| quick_error.get()));

    view! {
        <div class="thread">
            <LoadError error=query.error on_retry=move || query.retry() />
            // One MessageThread per conversation: its scroll state (distance, unseen rows,
            // rows shown) belongs to the thread it measured, so another one opens at its bottom.
            {move || {
                id.track();
                view! {
                    <MessageThread messages=messages me=me.clone() follow_next=follow_next
                        following=following has_older=has_older on_load_older=load_older
                        side=side on_acknowledge=acknowledge />
                }
            }}
            <Show when=move || action_error.get().is_some()>
                <p class="form-error thread-error" role="alert">{move || action_error.get().unwrap_or_default()}</p>
            </Show>
            <CannedReplies send=send_canned />
            <Composer send=send />
        </div>
    }
}

/// Carries out [`ReadMarker`]'s decisions for the page: the write and what follows it.
#[derive(Clone, Copy)]
struct Marking {
    session: SessionService,
    marker: StoredValue<ReadMarker>,
    /// The conversation loaded in a visible tab, if any.
    readable: Memo<Option<String>>,
    following: RwSignal<bool>,
}

impl Marking {
    /// Applies one scheduler input and sends the marker it asks for.
    fn step(self, input: impl FnOnce(&mut ReadMarker) -> Option<String>) {
        if let Some(Some(conversation)) = self.marker.try_update_value(input) {
            self.write(conversation);
        }
    }

    fn write(self, conversation: String) {
        leptos::task::spawn_local(async move {
            let body = json!({"conversation_id": conversation});
            // A failed write is not retried here: the next reason to mark sends a new one.
            let _ = self
                .session
                .call(|b, t| {
                    let body = body.clone();
                    async move { b.rpc(&t, "mark_conversation_read", body).await }
                })
                .await;
            let (readable, following) = (
                self.readable.try_get_untracked().flatten(),
                self.following.try_get_untracked().unwrap_or(false),
            );
            self.step(|m| m.on_written(readable.as_deref(), following));
        });
    }
}
