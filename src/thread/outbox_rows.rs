//! The outbox's rows below the thread's server rows: *sending* or *failed* (with Retry and
//! Discard). A row leaves in the same render as its server row arrives (the page filters
//! by the thread's ids, `Outbox::pending`).

use leptos::html::Div;
use leptos::prelude::*;

use super::outbox::{newly_queued, Pending};
use crate::api::Priority;

/// What the thread view needs to show the outbox: its rows and the two buttons' callbacks
/// (each gets the entry's client id). Copy.
#[derive(Clone, Copy)]
pub struct PendingRows {
    /// The open conversation's outbox rows not yet in the thread, oldest first.
    pub rows: Signal<Vec<Pending>>,
    /// Retry of a failed row.
    pub retry: UnsyncCallback<String>,
    /// Discard of a row.
    pub discard: UnsyncCallback<String>,
}

/// The rows, as `.message` articles with `data-state` `sending` or `failed`. A row the
/// sender just queued scrolls the thread (`container`) to the bottom whatever the distance:
/// they just sent it (the thread's scroll handler then measures the new position).
#[component]
pub fn OutboxRows(pending: PendingRows, container: NodeRef<Div>) -> impl IntoView {
    let PendingRows {
        rows,
        retry,
        discard,
    } = pending;
    Effect::new(move |before: Option<Vec<String>>| {
        let now: Vec<String> = rows.with(|r| r.iter().map(|p| p.id.clone()).collect());
        if before.is_some_and(|b| newly_queued(&b, &now)) {
            request_animation_frame(move || {
                if let Some(el) = container.get_untracked() {
                    el.set_scroll_top(el.scroll_height());
                }
            });
        }
        now
    });
    let row = move |p: Pending| {
        let failed = p.status.data_state() == "failed";
        let urgent = p.priority == Priority::Urgent;
        let (retry_id, discard_id) = (p.id.clone(), p.id.clone());
        view! {
            <article class="message own pending" class:urgent=urgent class:failed=failed
                data-testid="message" data-message-id=p.id.clone() data-priority=p.priority.as_str()
                data-state=p.status.data_state()>
                <header>
                    {urgent.then(|| view! { <span class="urgent-tag"><span aria-hidden="true">"⚠ "</span>"URGENT"</span> })}
                    <span class="sender">"You"</span>
                </header>
                <p class="body">{p.body.clone()}</p>
                <p class="send-state" role=if failed { "alert" } else { "status" }>{p.status.text()}</p>
                {failed.then(|| view! {
                    <div class="send-actions">
                        <button type="button" class="retry-send" data-testid="retry-send"
                            on:click=move |_| retry.run(retry_id.clone())>"Retry"</button>
                        <button type="button" class="discard-send" data-testid="discard-send"
                            on:click=move |_| discard.run(discard_id.clone())>"Discard"</button>
                    </div>
                })}
            </article>
        }
    };
    view! {
        <For each=move || rows.get() key=|p| (p.id.clone(), p.status.clone()) children=row />
    }
}
