//! The open thread's header: who it is with, what it is about, and when the medic last sent
//! something; on a phone, the way back to the list.

use leptos::prelude::*;

use crate::api::ConversationSummary;
use crate::timefmt::relative;
use crate::urgent::Side;

/// How often "last from the medic" is recomputed (ms).
const TICK_MS: u64 = 10_000;

/// The header of the thread `summary` (its row of the conversation list; `None` while the
/// list loads). A dispatcher sees the medic's name; the medic sees "Dispatch".
#[component]
pub fn ThreadHeader(
    #[prop(into)] summary: Signal<Option<ConversationSummary>>,
    side: Side,
) -> impl IntoView {
    let now = RwSignal::new(js_sys::Date::now());
    let tick = set_interval_with_handle(
        move || now.set(js_sys::Date::now()),
        std::time::Duration::from_millis(TICK_MS),
    );
    on_cleanup(move || {
        if let Ok(h) = tick {
            h.clear();
        }
    });
    let title = move || match side {
        Side::Medic => "Dispatch".to_string(),
        Side::Dispatcher => {
            summary.with(|s| s.as_ref().map(|s| s.medic_name.clone()).unwrap_or_default())
        }
    };
    let subject =
        move || summary.with(|s| s.as_ref().map(|s| s.subject.clone()).unwrap_or_default());
    let last_from_medic = move || {
        let at = summary.with(|s| s.as_ref().and_then(|s| s.medic_last_message_at.clone()))?;
        let label = match side {
            Side::Dispatcher => "Last from medic",
            Side::Medic => "You last wrote",
        };
        Some(format!(
            "{label}: {}",
            relative(now.get(), js_sys::Date::parse(&at))
        ))
    };
    view! {
        <header class="thread-header" data-testid="thread-header">
            <a class="back-to-list" data-testid="back-to-list" href="/messages" aria-label="Back to the conversation list">
                <span aria-hidden="true">"‹ "</span>"List"
            </a>
            <div class="thread-title">
                <h2 class="thread-medic" data-testid="thread-medic">{title}</h2>
                <p class="thread-subject" data-testid="thread-subject">{subject}</p>
            </div>
            <p class="thread-last-from-medic" data-testid="thread-last-from-medic">{last_from_medic}</p>
        </header>
    }
}
