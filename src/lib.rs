//! Switchboard: the dispatcher dashboard, a Leptos client-side-rendered app.
//!
//! Pure logic (cache rules, realtime protocol, scroll decisions) lives in plain Rust modules
//! with native unit tests; components stay thin.

pub mod alerts;
pub mod api;
pub mod backoff;
pub mod cache;
pub mod components;
pub mod config;
pub mod heap_probe;
pub mod list_filter;
pub mod list_pages;
pub mod list_window;
pub mod pages;
pub mod realtime;
pub mod session;
pub mod shortcuts;
pub mod theme;
pub mod thread;
pub mod ticker;
pub mod timefmt;
pub mod urgent;
pub mod web_lock;

use leptos::prelude::*;
use leptos_router::components::{ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::path;

use api::Backend;
use cache::QueryClient;
use config::{page_origin, AppConfig};
use pages::{Dashboard, LoginPage, NoThread, ThreadPage};
use session::SessionService;

/// The whole app: loads `/config.json`, then provides the services and routes.
#[component]
pub fn App() -> impl IntoView {
    let config = LocalResource::new(config::load);
    view! {
        <Suspense fallback=|| view! { <p class="booting">"Loading Switchboard…"</p> }>
            {move || config.get().map(|loaded| match loaded {
                Ok(cfg) => view! { <Shell config=cfg /> }.into_any(),
                Err(e) => view! {
                    <p class="fatal" role="alert">{format!("Cannot load the configuration: {e}. Reload to try again.")}</p>
                }.into_any(),
            })}
        </Suspense>
    }
}

fn page_query() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default()
}

/// How long the list and the badge wait for a change's follow-ups before refetching.
const SUMMARY_SETTLE_MS: f64 = 12.0;

/// `?cache=naive` switches the cache to one refetch per event, so benchmarks can compare
/// both strategies on the same build; anything else gets the coalescing cache.
pub fn cache_config_for(query: &str) -> cache::CacheConfig {
    let naive = query
        .trim_start_matches('?')
        .split('&')
        .any(|p| p == "cache=naive");
    cache::CacheConfig {
        coalesce: !naive,
        // A message in the open thread is followed within milliseconds by its read marker;
        // the list and badge wait that long so both cost them one request (below a frame).
        settle: vec![
            (cache::QueryKey::conversations(), SUMMARY_SETTLE_MS),
            (cache::QueryKey::unread_total(), SUMMARY_SETTLE_MS),
            (cache::QueryKey::unacked_urgent_total(), SUMMARY_SETTLE_MS),
        ],
        ..cache::CacheConfig::default()
    }
}

/// Services (session, cache) as context, focus refetching, and the routes.
#[component]
pub fn Shell(config: AppConfig) -> impl IntoView {
    let session = SessionService::new(Backend::new(&config, &page_origin()));
    let cache = QueryClient::new(cache_config_for(&page_query()));
    provide_context(config);
    provide_context(session);
    provide_context(cache);
    // Cached data belongs to whoever is signed in: the dashboard, rebuilt per user, tells the
    // cache whose it is (`pages/dashboard.rs`). Not an effect here: one that ran while the
    // old layout was still mounted would refetch its queries with its fetchers, which read
    // state the rebuild is about to dispose.
    let focus = window_event_listener(leptos::ev::focus, move |_| cache.on_focus());
    let hidden = || document().visibility_state() != web_sys::VisibilityState::Visible;
    cache.set_hidden(hidden());
    let visible = window_event_listener(leptos::ev::visibilitychange, move |_| {
        cache.set_hidden(hidden());
        if !hidden() {
            cache.on_focus();
        }
    });
    on_cleanup(move || {
        focus.remove();
        visible.remove();
    });
    view! {
        <Router>
            <Routes fallback=|| view! { <p class="not-found">"Not found"</p> }>
                <Route path=path!("/login") view=LoginPage />
                <Route path=path!("/") view=|| view! { <Redirect path="/messages" /> } />
                <ParentRoute path=path!("/messages") view=Dashboard>
                    <Route path=path!("") view=NoThread />
                    <Route path=path!(":id") view=ThreadPage />
                </ParentRoute>
            </Routes>
        </Router>
    }
}
