//! The header's realtime connection indicator.

use leptos::prelude::*;

use crate::realtime::ConnectionStatus;

/// "Live", "Reconnecting…", "Connecting…" or "Offline".
#[component]
pub fn ConnectionState(#[prop(into)] status: Signal<ConnectionStatus>) -> impl IntoView {
    let class = move || match status.get() {
        ConnectionStatus::Live => "conn conn-live",
        ConnectionStatus::Offline => "conn conn-offline",
        _ => "conn conn-reconnecting",
    };
    view! {
        <span class=class data-testid="connection-state" role="status">{move || status.get().label()}</span>
    }
}
