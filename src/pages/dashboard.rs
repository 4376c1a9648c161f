//! The signed-in layout: header (org, user, connection, unread badge) beside the list and
//! the routed thread. The realtime connection lives exactly as long as this layout, and the
//! layout as long as one user is signed in.

use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect};
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::NavigateOptions;
use serde_json::json;

use super::conversations::{use_conversation_list, ListQueries};
use super::fetch_error;
use crate::alerts::{AlertControls, AlertInputs, AlertService};
use crate::cache::{use_query, QueryClient, QueryKey};
use crate::components::conversation_list::focus_row;
use crate::components::{
    ConnectionState, ConversationFilter, ConversationList, LoadError, MessageSearch,
    NewConversation, ThemeToggle, UnreadBadge,
};
use crate::config::{page_origin, AppConfig};
use crate::list_filter::ListFilter;
use crate::realtime::RealtimeClient;
use crate::session::{replaced_user, SessionService};
use crate::shortcuts::{in_text_field, shortcut, step, KeyPress, Shortcut};
use crate::urgent::{oldest_unacknowledged, pin_urgent};

/// `/messages` and below; sends signed-out visitors to `/login`.
#[component]
pub fn Dashboard() -> impl IntoView {
    let session = expect_context::<SessionService>();
    let cache = expect_context::<QueryClient>();
    // Keyed by the user: a token refresh (a new session value every few minutes, same user)
    // must not reset drafts, scroll positions or the realtime connection, but another user
    // (signed in from another tab at this console) gets a layout of their own: header,
    // realtime channel, alerts and queries are all built from the session when it mounts.
    let user = Memo::new(move |_| {
        session
            .session
            .with(|s| s.as_ref().map(|s| s.user.id.clone()))
    });
    // A thread open for the previous user is theirs (and, for another org, not found for
    // the new one): the new user starts on their list.
    let navigate = use_navigate();
    Effect::new(move |before: Option<Option<String>>| {
        let now = user.get();
        if replaced_user(before.flatten().as_deref(), now.as_deref()) {
            navigate(
                "/messages",
                NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            );
        }
        now
    });
    move || {
        let user = user.get();
        // This runs after the previous layout was disposed (its queries unobserved) and
        // before the next one observes any: nothing of the previous user's shows, and no
        // query of the old layout is refetched with the new user's token.
        cache.set_user(user.as_deref());
        if user.is_some() {
            view! { <SignedIn/> }.into_any()
        } else {
            view! { <Redirect path="/login"/> }.into_any()
        }
    }
}

#[component]
fn SignedIn() -> impl IntoView {
    let session = expect_context::<SessionService>();
    let cache = expect_context::<QueryClient>();
    let config = expect_context::<AppConfig>();
    let user = session.session.get_untracked().map(|s| s.user);
    let (org_id, user_id, name, org_name, role) = user
        .map(|u| {
            (
                u.app_metadata.org_id,
                u.id,
                u.user_metadata.display_name,
                u.app_metadata.org_name,
                u.app_metadata.app_role,
            )
        })
        .unwrap_or_default();
    let realtime = RealtimeClient::start(
        config.realtime_url(&page_origin()),
        &org_id,
        &user_id,
        session,
        cache,
    );
    provide_context(realtime);
    // The user's messages in flight: posted from here, whichever thread is open.
    provide_context(crate::thread::outbox_store::OutboxService::start(
        &user_id,
        session,
        cache,
        realtime.status.into(),
    ));

    let unread = use_query::<i64, _, _, _>(
        cache,
        || Some(QueryKey::unread_total()),
        move |_| async move {
            session
                .call(|b, t| async move { b.rpc(&t, "unread_total", json!({})).await })
                .await
                .map_err(fetch_error)
        },
    );
    let urgent = use_query::<i64, _, _, _>(
        cache,
        || Some(QueryKey::unacked_urgent_total()),
        move |_| async move {
            session
                .call(|b, t| async move { b.rpc(&t, "unacked_urgent_total", json!({})).await })
                .await
                .map_err(fetch_error)
        },
    );
    let conversations = use_conversation_list(cache, session, realtime);
    let location = use_location();
    let selected = Signal::derive(move || {
        location.pathname.with(|p| {
            p.strip_prefix("/messages/")
                .filter(|id| !id.is_empty())
                .map(str::to_string)
        })
    });
    let navigate = use_navigate();
    let on_select = UnsyncCallback::new(move |id: String| {
        navigate(&format!("/messages/{id}"), NavigateOptions::default())
    });
    // A search result opens its thread at the message (see `thread::page`).
    let navigate = use_navigate();
    let open_message = UnsyncCallback::new(move |(conversation, message): (String, String)| {
        navigate(
            &format!("/messages/{conversation}?at={message}"),
            NavigateOptions::default(),
        )
    });
    let filter = RwSignal::new(ListFilter::default());
    let list = Memo::new(move |_| {
        let pinned = conversations.rows.with(|rows| pin_urgent(rows));
        filter.with(|f| {
            if f.is_active() {
                f.apply(&pinned, selected.get().as_deref())
            } else {
                pinned
            }
        })
    });
    let no_match = move || {
        filter.with(ListFilter::is_active)
            && list.with(Vec::is_empty)
            && conversations.rows.with(|rows| !rows.is_empty())
    };
    // Keyboard shortcuts of the whole layout (rules in `shortcuts`); Esc to the bottom of
    // the thread is the thread view's own.
    let filter_input = NodeRef::<leptos::html::Input>::new();
    let search_input = NodeRef::<leptos::html::Input>::new();
    let on_shortcut = window_event_listener(leptos::ev::keydown, move |ev| {
        let Some(action) = shortcut(KeyPress {
            key: &ev.key(),
            alt: ev.alt_key(),
            shift: ev.shift_key(),
            ctrl: ev.ctrl_key() || ev.meta_key(),
            in_text_field: in_text_field(&ev),
        }) else {
            return;
        };
        let focus = |input: NodeRef<leptos::html::Input>| {
            if let Some(el) = input.get_untracked() {
                ev.prevent_default();
                let _ = el.focus();
                el.select();
            }
        };
        match action {
            Shortcut::Conversation {
                forward,
                unread_only,
            } => {
                let rows: Vec<(String, i64)> = list
                    .with_untracked(|l| l.iter().map(|c| (c.id.clone(), c.unread_count)).collect());
                let current = selected.get_untracked();
                if let Some(next) = step(&rows, current.as_deref(), forward, unread_only) {
                    ev.prevent_default();
                    on_select.run(next.to_string());
                    // Typing a reply, the dispatcher keeps the box; otherwise focus follows.
                    if !in_text_field(&ev) {
                        focus_row(next);
                    }
                }
            }
            Shortcut::FocusFilter => focus(filter_input),
            Shortcut::FocusSearch => focus(search_input),
            Shortcut::JumpToBottom => {}
        }
    });
    on_cleanup(move || on_shortcut.remove());
    let me_if_medic = (role == "medic").then(|| user_id.clone());
    let counterpart = (role == "medic").then_some("Dispatch");
    // The urgent counter opens the conversation that has waited longest.
    let open_oldest_urgent = move |_| {
        let oldest = conversations
            .rows
            .with_untracked(|rows| oldest_unacknowledged(rows));
        if let Some(id) = oldest {
            on_select.run(id);
        }
    };
    let urgent_count = move || urgent.data.get().unwrap_or(0);
    // Alerts for whoever is not looking: title, favicon, notifications, tones, reminders.
    // They act on the realtime event itself; names come from what the cache holds.
    let alerts = AlertService::start(AlertInputs {
        org_id,
        org_name: org_name.clone(),
        user_id,
        role,
        realert_ms: config.urgent_realert_seconds.saturating_mul(1000),
        unread: unread.data.into(),
        urgent: urgent.data.into(),
        status: realtime.status.into(),
        conversations: conversations.loaded_rows(),
        open_conversation: selected,
        navigate: on_select,
    });
    realtime.on_change(move |data| alerts.on_change(data));

    view! {
        <div class="dashboard">
            <header class="topbar">
                <div class="brand">"Switchboard"</div>
                <div class="org">{org_name}</div>
                <div class="spacer"></div>
                <ConnectionState status=realtime.status refusal=realtime.refusal />
                <span class="unread-label">"Unread" <UnreadBadge count=unread.data /></span>
                <button class="urgent-count" data-testid="urgent-count" hidden=move || urgent_count() == 0
                    aria-label=move || format!("{} urgent messages waiting for acknowledgement; open the oldest", urgent_count())
                    on:click=open_oldest_urgent>
                    <span aria-hidden="true">"⚠ "</span>"URGENT "{move || urgent_count().to_string()}
                </button>
                <AlertControls service=alerts />
                <ThemeToggle/>
                <span class="user">{name}</span>
                <button class="signout" on:click=move |_| session.sign_out()>"Sign out"</button>
            </header>
            <div class="panes" data-open=move || selected.with(Option::is_some).to_string()>
                <nav class="list-pane" aria-label="Conversations">
                    <div class="list-tools">
                        <NewConversation me=me_if_medic on_started=on_select />
                        <ConversationFilter filter=filter input=filter_input />
                        <MessageSearch input=search_input on_open=open_message />
                    </div>
                    <ListQueries list=conversations />
                    <LoadError error=conversations.error on_retry=move || conversations.retry() />
                    <Show when=move || !conversations.loaded.get() && conversations.error.get().is_none()>
                        <p class="loading">"Loading conversations…"</p>
                    </Show>
                    <ConversationList conversations=list selected=selected on_select=on_select counterpart=counterpart
                        has_older=conversations.has_older loading_older=conversations.loading_older
                        on_show_older=conversations.show_older />
                    <Show when=no_match>
                        <p class="no-match" data-testid="no-match">"No conversation matches the filter."</p>
                    </Show>
                </nav>
                <section class="thread-pane">
                    <Outlet/>
                </section>
            </div>
        </div>
    }
}
