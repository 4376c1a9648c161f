//! The message composer: Enter sends, Shift+Enter breaks the line, Ctrl+Shift+Enter sends
//! as urgent, 4,000 characters at most.

use leptos::prelude::*;

use crate::api::Priority;

/// Longest message the server accepts, in characters.
pub const MAX_CHARS: usize = 4000;

/// Whether a draft may be sent: something a reader can see (blank is the one definition
/// the server also enforces, so Send is never offered for a body it would refuse), and not
/// too long.
pub fn sendable(text: &str) -> bool {
    !switchboard_wire::text::is_blank(text) && text.chars().count() <= MAX_CHARS
}

/// What a key press in the text box does. `urgent_on` is the toggle's state.
pub fn on_enter(
    key: &str,
    shift: bool,
    ctrl: bool,
    composing: bool,
    urgent_on: bool,
) -> Option<Priority> {
    if key != "Enter" || composing {
        return None;
    }
    match (ctrl, shift) {
        (true, true) => Some(Priority::Urgent),
        (_, false) if urgent_on => Some(Priority::Urgent),
        (_, false) => Some(Priority::Routine),
        // Shift+Enter breaks the line.
        (false, true) => None,
    }
}

/// Text box, urgent toggle and send button; `send` gets the text and its priority and
/// queues it (the thread's outbox: it shows the message as sending and posts it), or says
/// why it cannot, which is shown and keeps the draft.
#[component]
pub fn Composer<F>(send: F) -> impl IntoView
where
    F: Fn(String, Priority) -> Result<(), String> + 'static,
{
    let draft = RwSignal::new(String::new());
    let urgent = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    // Queued means taken care of: the draft clears at once. A resend after a failure is the
    // outbox's Retry, which keeps the message's id (`thread::outbox`).
    let send = StoredValue::new_local(send);
    let queue = move |text: String, priority: Priority| match send
        .try_with_value(|f| f(text, priority))
        .unwrap_or(Ok(()))
    {
        Ok(()) => {
            draft.set(String::new());
            urgent.set(false);
            error.set(None);
        }
        Err(e) => error.set(Some(e)),
    };
    let count = move || draft.with(|d| d.chars().count());
    let submit = move |priority: Priority| {
        let text = draft.get_untracked();
        if sendable(&text) {
            queue(text, priority);
        }
    };
    let toggled = move || {
        if urgent.get_untracked() {
            Priority::Urgent
        } else {
            Priority::Routine
        }
    };
    view! {
        <form class="composer" class:urgent=move || urgent.get()
            on:submit=move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); submit(toggled()) }>
            <textarea data-testid="composer" rows="2" placeholder="Message the medic… (Enter sends, Shift+Enter for a new line)"
                aria-label="Message"
                prop:value=draft
                on:input=move |ev| draft.set(event_target_value(&ev))
                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                    let ctrl = ev.ctrl_key() || ev.meta_key();
                    let urgent_on = urgent.get_untracked();
                    if let Some(priority) = on_enter(&ev.key(), ev.shift_key(), ctrl, ev.is_composing(), urgent_on) {
                        ev.prevent_default();
                        submit(priority);
                    }
                }></textarea>
            <div class="composer-bar">
                <span class="char-count" class:over=move || { count() > MAX_CHARS }>
                    {move || format!("{} / {MAX_CHARS}", count())}
                </span>
                <Show when=move || error.get().is_some()>
                    <span class="form-error" role="alert">{move || error.get().unwrap_or_default()}</span>
                </Show>
                <button type="button" class="urgent-toggle" data-testid="urgent-toggle"
                    aria-pressed=move || urgent.get().to_string()
                    title="Send as urgent: the receiving side must acknowledge it (Ctrl+Shift+Enter)"
                    on:click=move |_| urgent.update(|u| *u = !*u)>
                    <span aria-hidden="true">"⚠ "</span>"Urgent"
                </button>
                <button type="submit" disabled=move || !draft.with(|d| sendable(d))>
                    {move || if urgent.get() { "Send urgent" } else { "Send" }}
                </button>
            </div>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enter_sends_shift_enter_breaks_ctrl_shift_enter_sends_urgent() {
        assert_eq!(
            on_enter("Enter", false, false, false, false),
            Some(Priority::Routine)
        );
        assert_eq!(
            on_enter("Enter", false, false, false, true),
            Some(Priority::Urgent)
        );
        assert_eq!(on_enter("Enter", true, false, false, false), None);
        assert_eq!(
            on_enter("Enter", true, true, false, false),
            Some(Priority::Urgent)
        );
        assert_eq!(
            on_enter("Enter", false, false, true, false),
            None,
            "IME composing"
        );
        assert_eq!(on_enter("a", false, false, false, false), None);
    }

    #[test]
    fn limits_drafts() {
        assert!(sendable("hi"));
        assert!(!sendable("   \n"));
        assert!(sendable(&"é".repeat(4000)));
        assert!(!sendable(&"x".repeat(4001)));
    }

    #[test]
    fn drafts_of_invisible_characters_only_are_not_sendable() {
        for blank in [
            "\u{200B}",
            "\u{2800}",
            "\u{200C}\u{200D}\u{2060}\u{FEFF}",
            "\u{200E}\u{200F}",
            " \u{200B}\n\u{3164}",
        ] {
            assert!(!sendable(blank), "{blank:?} shows nothing");
        }
        assert!(sendable("\u{200B}ok\u{200B}"), "visible text among them");
    }
}
