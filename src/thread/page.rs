//! `/messages/:id`: one thread, its composer, and read marking while visible. This component
//! only wires: which rows are loaded is `rows`' (and `window`'s) decision, when a marker
//! goes out [`ReadMarker`]'s, sending the user's outbox's ([`OutboxService`]), and
//! scrolling the view's.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde_json::json;

use super::canned::CannedReplies;
use super::divider::{answer_is_current, first_unread};
use super::header::ThreadHeader;
use super::jump::{use_start, Start};
use super::outbox_rows::PendingRows;
use super::outbox_store::OutboxService;
use super::read_marker::{self, ReadMarker};
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
    // `?at=<message id>`: opened from search, at that message.
    let query_map = use_query_map();
    let at = Memo::new(move |_| query_map.with(|q| q.get("at")));
    let start = use_start(id, at);
    // Whether the reader is at the bottom (kept by the view): a refetch sheds old rows and a
    // marker goes out only then.
    let following = RwSignal::new(true);
    // The reader's anchor row (the first in view, kept by the view): where the DOM is
    // rebased when it would pass its bound (`pages`).
    let reading = RwSignal::new(None::<String>);
    let ThreadRows {
        query,
        newest,
        messages,
        has_older,
        has_newer,
        load_older,
        load_newer,
        to_newest,
    } = use_thread_rows(id, following, start, reading);
    let (me, side) = session
        .session
        .get_untracked()
        .map(|s| (s.user.id, Side::of_role(&s.user.app_metadata.app_role)))
        .unwrap_or((String::new(), Side::Dispatcher));
    let follow_next = StoredValue::new(false);

    // This thread's row of the list (its own query, which a change to it refetches): the
    // header, and the unread count the "New" divider is placed from, once per opening
    // (`divider`).
    let conversations = crate::pages::conversations::use_conversation_row(cache, session, id);
    let summary = Memo::new(move |_| {
        let id = id.get()?;
        conversations
            .data
            .with(|d| d.as_ref()?.iter().find(|c| c.id == id).cloned())
    });
    let divider = RwSignal::new(None::<String>);
    // The conversation whose opening is decided (divider placed); its rows show from then on.
    let opened = RwSignal::new(None::<String>);
    let me_divider = me.clone();
    // The conversation being opened, and how many changes its rows and its list row had
    // been told of when the opening began: answers covering those decide it.
    let opening: StoredValue<Option<(String, u64, u64)>> = StoredValue::new(None);
    Effect::new(move |_| {
        let Some(conversation) = id.get() else { return };
        if opened.with(|o| o.as_deref() == Some(conversation.as_str())) {
            return;
        }
        let known = opening.with_value(|o| {
            o.as_ref()
                .filter(|(c, _, _)| *c == conversation)
                .map(|(_, rows, row)| (*rows, *row))
        });
        let (rows_known, row_known) = known.unwrap_or_else(|| {
            let now = (
                query.invalidations.get_untracked(),
                conversations.invalidations.get_untracked(),
            );
            opening.set_value(Some((conversation.clone(), now.0, now.1)));
            now
        });
        // Only current answers count (`answer_is_current`): a thread reopened from the
        // cache shows rows that may be behind the list's count until its refetch lands, and
        // a list still loading (a reload on this thread) has no count yet.
        // The divider goes by the newest page (the live window), wherever the view opens.
        let rows_ready = newest
            .with(|m| m.first().is_some_and(|m| m.conversation_id == conversation))
            && answer_is_current(
                query.fetching.get(),
                query.covers_invalidations.get(),
                rows_known,
            )
            && start.with(|s| *s != Start::Pending);
        let list_settled = (conversations.data.with(Option::is_some)
            || conversations.error.with(Option::is_some))
            && answer_is_current(
                conversations.fetching.get(),
                conversations.covers_invalidations.get(),
                row_known,
            );
        if !rows_ready || !list_settled {
            return;
        }
        let unread = summary.with_untracked(|s| s.as_ref().map_or(0, |s| s.unread_count.max(0)));
        let first = newest.with_untracked(|m| {
            first_unread(m, unread as usize, |m| {
                crate::urgent::from_other_side(m, &me_divider, side)
            })
            .map(str::to_string)
        });
        divider.set(first);
        opened.set(Some(conversation));
    });
    // The view gets the rows once the opening is decided, so it opens where the divider says.
    let shown = Memo::new(move |_| {
        if opened.with(|o| *o == id.get()) {
            messages.get()
        } else {
            Vec::new()
        }
    });
    // Set by the view once it took its opening position: nothing is read before that.
    let positioned = RwSignal::new(false);
    Effect::new(move |_| {
        id.track();
        positioned.set(false);
    });

    // Read marking (rules in `read_marker`): the conversation a marker may be sent for is
    // the loaded one of a visible tab.
    let visibility = leptos_use::use_document_visibility();
    let loaded = Memo::new(move |_| query.data.with(Option::is_some));
    // The conversation whose view took its opening position. Right after a switch the flag
    // above still says true for the previous conversation until its reset runs, and the
    // marking below may run first: it would mark the new conversation read before its view
    // (and its "New" divider) was there. Reading is tied to the conversation positioned in.
    let positioned_in = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if positioned.get() {
            positioned_in.set(id.get_untracked());
        }
    });
    let readable = Memo::new(move |_| {
        let visible = visibility.get() == web_sys::VisibilityState::Visible;
        id.with(|open| {
            positioned_in.with(|p| {
                read_marker::readable(visible, loaded.get(), open.as_deref(), p.as_deref())
            })
        })
    });
    let marking = Marking {
        session,
        marker: StoredValue::new(ReadMarker::default()),
        readable,
        following,
    };
    // "Mark as unread": the marker goes back to just before the message, and stays there
    // while the thread is open (`ReadMarker::hold`); list, badge and title follow the
    // refetch.
    Effect::new(move |_| {
        let open = id.get().unwrap_or_default();
        marking.marker.update_value(|m| m.opened(&open));
    });
    let marking_unread = Action::new_unsync(move |message_id: &String| {
        let conversation = id.get_untracked().unwrap_or_default();
        marking.marker.update_value(|m| m.hold(&conversation));
        let body = json!({"conversation_id": conversation, "message_id": message_id});
        let conversation_key = conversation.clone();
        async move {
            let result = session
                .call(|b, t| {
                    let body = body.clone();
                    async move { b.rpc(&t, "mark_conversation_unread", body).await }
                })
                .await;
            for key in [
                QueryKey::conversation_row(&conversation_key),
                QueryKey::unread_total(),
            ] {
                cache.invalidate(&key);
            }
            if result.is_err() {
                // Nothing moved on the server: reading marks it read again.
                marking.marker.try_update_value(ReadMarker::release);
            }
            result
                .map(|_| ())
                .map_err(|e| format!("Not marked unread: {e}"))
        }
    });
    let unread_error = form_error(marking_unread);
    let mark_unread = UnsyncCallback::new(move |message_id: String| {
        marking_unread.dispatch(message_id);
    });
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

    // Sends go through the user's outbox (`outbox`, `outbox_store`): queued at once (the
    // draft clears), shown below the thread until its refetch holds them, posted in order
    // under one client id for good, so no resend can store a copy.
    let outbox = expect_context::<OutboxService>();
    let send = move |text: String, priority: Priority| -> Result<(), String> {
        let conversation = id.get_untracked().ok_or("No conversation is open")?;
        outbox.queue(&conversation, &text, priority);
        Ok(())
    };
    // The outbox's rows below the thread, minus those the thread already holds; a thread
    // answer holding an entry's id is what makes it sent.
    let shown_ids =
        Memo::new(move |_| newest.with(|m| m.iter().map(|m| m.id.clone()).collect::<Vec<_>>()));
    Effect::new(move |_| {
        if let Some(conversation) = id.get() {
            shown_ids.with(|ids| outbox.thread_rows(&conversation, ids));
        }
    });
    let pending = PendingRows {
        rows: outbox.pending(id.into(), shown_ids.into()),
        retry: UnsyncCallback::new(move |entry: String| outbox.retry(&entry)),
        discard: UnsyncCallback::new(move |entry: String| outbox.discard(&entry)),
    };
    // Canned replies go out as routine messages.
    let quick = Action::new_unsync(move |body: &String| {
        let queued = send(body.clone(), Priority::Routine);
        async move { queued }
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
    let action_error = Signal::derive(move || {
        ack_error
            .get()
            .or_else(|| quick_error.get())
            .or_else(|| unread_error.get())
    });

    view! {
        <div class="thread">
            <ThreadHeader summary=summary side=side />
            <LoadError error=query.error on_retry=move || query.retry() />
            // One MessageThread per conversation: its scroll state (distance, unseen rows,
            // rows shown) belongs to the thread it measured, so another one opens at its bottom.
            {move || {
                id.track();
                view! {
                    <MessageThread messages=shown me=me.clone() follow_next=follow_next
                        following=following has_older=has_older on_load_older=load_older
                        has_newer=has_newer on_load_newer=load_newer on_to_newest=to_newest auto_load=true
                        side=side on_acknowledge=acknowledge divider=divider highlight=at
                        positioned=positioned on_mark_unread=mark_unread pending=pending
                        arrivals=newest reading=reading />
                }
            }}
            <Show when=move || action_error.get().is_some()>
                <p class="form-error thread-error" role="alert">{move || action_error.get().unwrap_or_default()}</p>
            </Show>
            <CannedReplies send=send_canned />
            // One composer per conversation too: a half-written reply (and its urgent toggle)
            // belongs to the medic it was written for, never to the next one opened (Alt+↓
            // keeps focus in the box).
            {move || {
                id.track();
                view! { <Composer send=send /> }
            }}
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
