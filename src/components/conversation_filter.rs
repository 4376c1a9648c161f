//! The filter box over the conversation list, with its "Unread" and "Urgent" toggles. The
//! matching rule is `list_filter`'s; this only edits the filter.

use leptos::html::Input;
use leptos::prelude::*;

use crate::list_filter::ListFilter;

/// Edits `filter`. `input` lets the layout focus the box (Ctrl+K). Esc in the box clears
/// the text.
#[component]
pub fn ConversationFilter(filter: RwSignal<ListFilter>, input: NodeRef<Input>) -> impl IntoView {
    let toggle = move |urgent: bool| {
        filter.update(|f| {
            if urgent {
                f.urgent_only = !f.urgent_only;
            } else {
                f.unread_only = !f.unread_only;
            }
        })
    };
    view! {
        <div class="list-filter" role="search">
            <input type="search" data-testid="conversation-filter" node_ref=input
                placeholder="Filter by medic, subject, message (Ctrl+K)" aria-label="Filter conversations"
                prop:value=move || filter.with(|f| f.text.clone())
                on:input=move |ev| filter.update(|f| f.text = event_target_value(&ev))
                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                    if ev.key() == "Escape" && filter.with_untracked(|f| !f.text.is_empty()) {
                        ev.prevent_default();
                        filter.update(|f| f.text.clear());
                    }
                } />
            <button type="button" class="filter-toggle" data-testid="filter-unread"
                aria-pressed=move || filter.with(|f| f.unread_only).to_string()
                on:click=move |_| toggle(false)>"Unread"</button>
            <button type="button" class="filter-toggle" data-testid="filter-urgent"
                aria-pressed=move || filter.with(|f| f.urgent_only).to_string()
                on:click=move |_| toggle(true)>"Urgent"</button>
        </div>
    }
}
