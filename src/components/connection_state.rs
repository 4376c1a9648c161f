//! The header's realtime connection indicator.

use leptos::prelude::*;

use crate::realtime::ConnectionStatus;

/// "Live", "Reconnecting…", "Connecting…" or "Offline", and, while the server refuses this
/// tab, its reason (e.g. too many tabs open): a tab that cannot get events must say why,
/// not look merely slow.
#[component]
pub fn ConnectionState(
    #[prop(into)] status: Signal<ConnectionStatus>,
    /// The server's reason for refusing the tab, as a person reads it.
    #[prop(into, optional)]
    refusal: Signal<Option<String>>,
) -> impl IntoView {
    let class = move || match status.get() {
        ConnectionStatus::Live => "conn conn-live",
        ConnectionStatus::Offline => "conn conn-offline",
        _ => "conn conn-reconnecting",
    };
    view! {
        <span class=class data-testid="connection-state" role="status">
            {move || status.get().label()}
            {move || refusal.get().map(|reason| view! {
                <span class="conn-refusal" data-testid="connection-refusal">{reason}</span>
            })}
        </span>
    }
}
