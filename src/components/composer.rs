//! The message composer: Enter sends, Shift+Enter breaks the line, Ctrl+Shift+Enter sends
//! as urgent, 4,000 characters at most.

use std::future::Future;

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
/// resolves to an error to show (the draft is kept then).
#[component]
pub fn Composer<F, Fut>(send: F) -> impl IntoView
where
    F: Fn(String, Priority) -> Fut + 'static,
    Fut: Future<Output = Result<(), String>> + 'static,
{
    let draft = RwSignal::new(String::new());
    let urgent = RwSignal::new(false);
    // The draft is cleared only once the server has the message; on an error it stays for
    // another try (which reuses the message's id, see `thread::outbox`).
    let sending = Action::new_unsync(move |(text, priority): &(String, Priority)| {
        let sent = send(text.clone(), *priority);
        async move {
            let result = sent.await;
            if result.is_ok() {
                let _ = draft.try_set(String::new());
                let _ = urgent.try_set(false);
            }
            result
        }
    });
    let busy = sending.pending();
    let error = super::form_error(sending);
    let count = move || draft.with(|d| d.chars().count());
    let submit = move |priority: Priority| {
        let text = draft.get_untracked();
        if !busy.get_untracked() && sendable(&text) {
            // Sent as urgent from the keyboard: the toggle says so until it is sent, so a
            // retry after a failure stays urgent (and keeps its id).
            if priority == Priority::Urgent && !urgent.get_untracked() {
                urgent.set(true);
            }
            sending.dispatch((text, priority));
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
                <button type="submit" disabled=move || busy.get() || !draft.with(|d| sendable(d))>
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
