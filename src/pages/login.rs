//! `/login`.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use leptos_router::NavigateOptions;

use crate::components::LoginForm;
use crate::session::SessionService;

/// The sign-in page; signed-in users go straight to the board.
#[component]
pub fn LoginPage() -> impl IntoView {
    let session = expect_context::<SessionService>();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if session.session.with(Option::is_some) {
            navigate("/messages", NavigateOptions::default());
        }
    });
    let submit = move |email: String, password: String| async move {
        session
            .sign_in(&email, &password)
            .await
            .map_err(|e| e.to_string())
    };
    view! {
        <main class="login-page">
            <LoginForm submit=submit />
        </main>
    }
}
