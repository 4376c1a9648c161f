//! The header's total-unread badge.

use leptos::prelude::*;

/// Shows the number of unread messages; empty and hidden at zero.
#[component]
pub fn UnreadBadge(#[prop(into)] count: Signal<Option<i64>>) -> impl IntoView {
    let n = move || count.get().unwrap_or(0);
    view! {
        <span class="badge" data-testid="unread-badge" hidden=move || n() == 0
            aria-label=move || format!("{} unread messages", n())>
            {move || if n() > 0 { n().to_string() } else { String::new() }}
        </span>
    }
}
