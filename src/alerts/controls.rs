//! The header's alert switches: desktop notifications and sound, both opt-in, and the note
//! shown when the browser holds sound back until the dispatcher clicks.

use leptos::prelude::*;

use super::service::AlertService;

/// Two toggle buttons (`aria-pressed`, WAI-ARIA button pattern, so a screen reader announces
/// them as switches with their state) and, when needed, "Click to enable sound".
///
/// Test hooks: `alert-controls` (with `data-leader` `true`|`false`, `data-alert-count`, and
/// `data-last-alert` `"<routine|urgent|reminder>:<conversation id>"`), `alerts-toggle` and
/// `sound-toggle` (with `data-state`), `sound-blocked`.
#[component]
pub fn AlertControls(
    /// The signed-in layout's alert service.
    service: AlertService,
) -> impl IntoView {
    let notify = service.notifications();
    let sound = service.sound();
    let leader = service.is_leader();
    let count = service.alert_count();
    let last = service.last_alert();
    let notify_state = move || format!("{:?}", notify.get()).to_lowercase();
    view! {
        <span class="alert-controls" data-testid="alert-controls"
            data-leader=move || leader.get().to_string()
            data-alert-count=move || count.get().to_string()
            data-last-alert=move || last.get()>
            <button type="button" class="alerts-toggle" data-testid="alerts-toggle"
                data-state=notify_state
                aria-pressed=move || notify.get().is_on().to_string()
                title=move || notify.get().hint()
                on:click=move |_| service.toggle_notifications()>
                {move || notify.get().label()}
            </button>
            <button type="button" class="sound-toggle" data-testid="sound-toggle"
                data-state=move || if sound.get().wanted { "on" } else { "off" }
                aria-pressed=move || sound.get().wanted.to_string()
                title=move || if sound.get().wanted {
                    "Alert tones are on. Click to turn them off."
                } else {
                    "Click to play a tone for new and urgent messages."
                }
                on:click=move |_| service.toggle_sound()>
                {move || sound.get().label()}
            </button>
            // A live region, so the note is announced when it appears, not only seen.
            <span role="status" class="sound-status">
                <Show when=move || sound.get().blocked()>
                    <button type="button" class="sound-blocked" data-testid="sound-blocked"
                        on:click=move |_| service.enable_sound()>
                        "Click to enable sound"
                    </button>
                </Show>
                <Show when=move || sound.get().unsupported()>
                    <span class="sound-unsupported">"No sound in this browser"</span>
                </Show>
            </span>
        </span>
    }
}
