//! Message search over every conversation the caller may see (`search_messages`): a box,
//! and the matching messages newest first with the matched words highlighted. Choosing one
//! opens its thread at that message.

use leptos::html::Input;
use leptos::prelude::*;
use serde_json::json;

use crate::api::{SearchHit, SnippetSegment};
use crate::pages::fetch_error;
use crate::session::SessionService;
use crate::timefmt::relative;

/// Most results asked for (`search_messages`' `max`).
pub const MAX_RESULTS: u32 = 20;

/// Waits this long after the last key before searching (ms): one request per pause, not
/// per letter.
const DEBOUNCE_MS: u64 = 300;

/// The search box and its results. `input` lets the layout focus it (`/`); `on_open` gets
/// `(conversation id, message id)` of the chosen result.
#[component]
pub fn MessageSearch(
    input: NodeRef<Input>,
    #[prop(into)] on_open: UnsyncCallback<(String, String)>,
) -> impl IntoView {
    let session = expect_context::<SessionService>();
    let query = RwSignal::new(String::new());
    type Found = Option<Result<Vec<SearchHit>, String>>;
    let found: RwSignal<Found> = RwSignal::new(None);
    // Answers may come back out of order: only the one for the latest search is shown, and
    // none after the box was cleared or a result chosen.
    let latest = StoredValue::new(0_u64);
    let pause: StoredValue<Option<TimeoutHandle>> = StoredValue::new(None);
    let cancel_pause = move || {
        if let Some(h) = pause.try_update_value(Option::take).flatten() {
            h.clear();
        }
    };
    let search = move |q: String| {
        cancel_pause();
        let ticket = latest.try_update_value(|n| {
            *n += 1;
            *n
        });
        let body = json!({"query": q, "max": MAX_RESULTS});
        leptos::task::spawn_local(async move {
            let answer = session
                .call(|b, t| {
                    let body = body.clone();
                    async move { b.rpc(&t, "search_messages", body).await }
                })
                .await
                .map_err(|e| fetch_error(e).message)
                .and_then(|v| {
                    serde_json::from_value::<Vec<SearchHit>>(v).map_err(|e| e.to_string())
                });
            if latest.try_get_value() == ticket {
                let _ = found.try_set(Some(answer));
            }
        });
    };
    // One search per pause in typing; clearing the box clears the results at once.
    Effect::new(move |_| {
        let q = query.get();
        cancel_pause();
        if q.trim().is_empty() {
            latest.update_value(|n| *n += 1);
            found.set(None);
            return;
        }
        let handle = set_timeout_with_handle(
            move || search(q),
            std::time::Duration::from_millis(DEBOUNCE_MS),
        );
        pause.set_value(handle.ok());
    });
    on_cleanup(cancel_pause);
    let clear = move || {
        cancel_pause();
        latest.update_value(|n| *n += 1);
        query.set(String::new());
        found.set(None);
    };
    let open = move |hit: &SearchHit| {
        on_open.run((hit.conversation_id.clone(), hit.id.clone()));
        clear();
    };
    let results = move || found.get();
    view! {
        <div class="message-search" role="search">
            <input type="search" data-testid="message-search" node_ref=input
                placeholder="Search messages (/)" aria-label="Search messages"
                aria-controls="search-results"
                prop:value=move || query.get()
                on:input=move |ev| query.set(event_target_value(&ev))
                on:keydown=move |ev: leptos::ev::KeyboardEvent| match ev.key().as_str() {
                    "Escape" => {
                        ev.prevent_default();
                        clear();
                    }
                    "Enter" => {
                        ev.prevent_default();
                        let q = query.get_untracked();
                        if !q.trim().is_empty() {
                            search(q);
                        }
                    }
                    "ArrowDown" => {
                        // Into the results, as in a combobox.
                        if let Some(first) = document()
                            .query_selector("[data-testid=search-result]")
                            .ok()
                            .flatten()
                            .and_then(|e| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(e).ok())
                        {
                            ev.prevent_default();
                            let _ = first.focus();
                        }
                    }
                    _ => {}
                } />
            <Show when=move || results().is_some()>
                <ul class="search-results" id="search-results" data-testid="search-results" aria-label="Search results">
                    {move || match results() {
                        Some(Ok(hits)) if hits.is_empty() => {
                            view! { <li class="search-empty">"No message matches."</li> }.into_any()
                        }
                        Some(Ok(hits)) => {
                            let now = js_sys::Date::now();
                            hits
                            .into_iter()
                            .map(|hit| {
                                let when = js_sys::Date::parse(&hit.created_at);
                                let segments = hit.snippet.clone();
                                let label = format!("{} · {}", hit.medic_name, hit.subject);
                                let chosen = hit.clone();
                                let chosen_key = hit.clone();
                                view! {
                                    <li class="search-result" data-testid="search-result" tabindex="0"
                                        data-conversation-id=hit.conversation_id.clone() data-message-id=hit.id.clone()
                                        on:click=move |_| open(&chosen)
                                        on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                                            match ev.key().as_str() {
                                                "Enter" | " " => {
                                                    ev.prevent_default();
                                                    open(&chosen_key);
                                                }
                                                "ArrowDown" | "ArrowUp" => step_focus(&ev),
                                                "Escape" => {
                                                    ev.prevent_default();
                                                    clear();
                                                }
                                                _ => {}
                                            }
                                        }>
                                        <div class="search-result-top">
                                            <span class="search-result-where">{label}</span>
                                            <span class="search-result-time">{relative(now, when)}</span>
                                        </div>
                                        <p class="search-snippet">
                                            {segments
                                                .into_iter()
                                                .map(|SnippetSegment { text, matched }| {
                                                    if matched {
                                                        view! { <mark>{text}</mark> }.into_any()
                                                    } else {
                                                        text.into_any()
                                                    }
                                                })
                                                .collect_view()}
                                        </p>
                                    </li>
                                }
                                .into_any()
                            })
                            .collect_view()
                            .into_any()
                        }
                        Some(Err(e)) => view! { <li class="form-error" role="alert">{format!("Search failed: {e}")}</li> }.into_any(),
                        None => ().into_any(),
                    }}
                </ul>
            </Show>
        </div>
    }
}

/// Arrow keys move between results.
fn step_focus(ev: &leptos::ev::KeyboardEvent) {
    use wasm_bindgen::JsCast;
    let Some(current) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
    else {
        return;
    };
    let next = if ev.key() == "ArrowDown" {
        current.next_element_sibling()
    } else {
        current.previous_element_sibling()
    };
    if let Some(el) = next.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
        ev.prevent_default();
        let _ = el.focus();
    }
}
