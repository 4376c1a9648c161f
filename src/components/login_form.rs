//! The sign-in form.

use std::future::Future;

use leptos::prelude::*;

/// Email and password form; `submit` resolves to an error message to show, or success.
#[component]
pub fn LoginForm<F, Fut>(submit: F) -> impl IntoView
where
    F: Fn(String, String) -> Fut + 'static,
    Fut: Future<Output = Result<(), String>> + 'static,
{
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let signing_in = Action::new_unsync(move |(email, password): &(String, String)| {
        submit(email.clone(), password.clone())
    });
    let busy = signing_in.pending();
    let error = super::form_error(signing_in);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if !busy.get_untracked() {
            signing_in.dispatch((email.get_untracked(), password.get_untracked()));
        }
    };
    view! {
        <form class="login-form" data-testid="login-form" on:submit=on_submit>
            <h1>"Switchboard"</h1>
            <p class="login-hint">"Sign in to the dispatch board"</p>
            <label>
                "Email"
                <input type="email" name="email" autocomplete="username" required
                    prop:value=email on:input=move |ev| email.set(event_target_value(&ev)) />
            </label>
            <label>
                "Password"
                <input type="password" name="password" autocomplete="current-password" required
                    prop:value=password on:input=move |ev| password.set(event_target_value(&ev)) />
            </label>
            <Show when=move || error.get().is_some()>
                <p class="form-error" role="alert">{move || error.get().unwrap_or_default()}</p>
            </Show>
            <button type="submit" disabled=move || busy.get()>
                {move || if busy.get() { "Signing in…" } else { "Sign in" }}
            </button>
        </form>
    }
}
