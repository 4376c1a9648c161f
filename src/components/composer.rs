//! The message composer: Enter sends, Shift+Enter breaks the line, 4,000 characters at most.

use std::future::Future;

use leptos::prelude::*;

/// Longest message the server accepts, in characters.
pub const MAX_CHARS: usize = 4000;

/// Whether a draft may be sent.
pub fn sendable(text: &str) -> bool {
    let n = text.chars().count();
    !text.trim().is_empty() && n <= MAX_CHARS
}

/// Text box and send button; `send` resolves to an error to show (the draft is kept then).
#[component]
pub fn Composer<F, Fut>(send: F) -> impl IntoView
where
    F: Fn(String) -> Fut + 'static,
    Fut: Future<Output = Result<(), String>> + 'static,
{
    let draft = RwSignal::new(String::new());
    // The draft is cleared only once the server has the message; on an error it stays for
    // another try (which reuses the message's id, see `thread::outbox`).
    let sending = Action::new_unsync(move |text: &String| {
        let sent = send(text.clone());
        async move {
            let result = sent.await;
            if result.is_ok() {
                let _ = draft.try_set(String::new());
            }
            result
        }
    });
    let busy = sending.pending();
    let error = super::form_error(sending);
    let count = move || draft.with(|d| d.chars().count());
    let submit = move || {
        let text = draft.get_untracked();
        if !busy.get_untracked() && sendable(&text) {
            sending.dispatch(text);
        }
    };
    view! {
        <form class="composer" on:submit=move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); submit() }>
            <textarea data-testid="composer" rows="2" placeholder="Message the medic… (Enter sends, Shift+Enter for a new line)"
                aria-label="Message"
                prop:value=draft
                on:input=move |ev| draft.set(event_target_value(&ev))
                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        submit();
                    }
                }></textarea>
            <div class="composer-bar">
                <span class="char-count" class:over=move || { count() > MAX_CHARS }>
                    {move || format!("{} / {MAX_CHARS}", count())}
                </span>
                <Show when=move || error.get().is_some()>
                    <span class="form-error" role="alert">{move || error.get().unwrap_or_default()}</span>
                </Show>
                <button type="submit" disabled=move || busy.get() || !draft.with(|d| sendable(d))>"Send"</button>
            </div>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_drafts() {
        assert!(sendable("hi"));
        assert!(!sendable("   \n"));
        assert!(sendable(&"é".repeat(4000)));
        assert!(!sendable(&"x".repeat(4001)));
    }
}
