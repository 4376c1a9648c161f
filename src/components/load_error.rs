//! A query's error once retries ran out, with a button to ask again.

use leptos::prelude::*;

/// Shows `error` (hidden while `None`) and a Retry button that runs `on_retry`.
#[component]
pub fn LoadError(
    #[prop(into)] error: Signal<Option<String>>,
    #[prop(into)] on_retry: UnsyncCallback<()>,
) -> impl IntoView {
    view! {
        <Show when=move || error.with(Option::is_some)>
            <div class="load-error" role="alert">
                {move || error.get().unwrap_or_default()}
                <button on:click=move |_| on_retry.run(())>"Retry"</button>
            </div>
        </Show>
    }
}
