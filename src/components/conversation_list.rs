//! The conversation list: conversations waiting for an urgent acknowledgement first, then
//! newest first; unread counts; keyboard navigable.

use leptos::prelude::*;

use crate::api::ConversationSummary;
use crate::timefmt::relative;

fn focus_sibling(ev: &leptos::ev::KeyboardEvent, forward: bool) {
    use wasm_bindgen::JsCast;
    let Some(current) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
    else {
        return;
    };
    let next = if forward {
        current.next_element_sibling()
    } else {
        current.previous_element_sibling()
    };
    if let Some(el) = next.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = el.focus();
        ev.prevent_default();
    }
}

fn on_key(ev: &leptos::ev::KeyboardEvent, id: &str, on_select: UnsyncCallback<String>) {
    match ev.key().as_str() {
        "Enter" | " " => {
            ev.prevent_default();
            on_select.run(id.to_string());
        }
        "ArrowDown" => focus_sibling(ev, true),
        "ArrowUp" => focus_sibling(ev, false),
        _ => {}
    }
}

/// How often relative times are recomputed (ms): "1 min" shows at most this long after
/// the minute.
pub const TICK_MS: u64 = 10_000;

/// The org's conversations in the order given (see `urgent::pin_urgent`); `on_select` gets
/// the chosen conversation id. `counterpart` names the other side when it is not the medic
/// (a medic's own list shows "Dispatch", not their own name).
#[component]
pub fn ConversationList(
    #[prop(into)] conversations: Signal<Vec<ConversationSummary>>,
    #[prop(into)] selected: Signal<Option<String>>,
    #[prop(into)] on_select: UnsyncCallback<String>,
    #[prop(default = None)] counterpart: Option<&'static str>,
) -> impl IntoView {
    let now = RwSignal::new(js_sys::Date::now());
    // Relative times age while the list sits on screen all shift; a tick only rewrites the
    // time texts that changed, never a row.
    let tick = set_interval_with_handle(
        move || now.set(js_sys::Date::now()),
        std::time::Duration::from_millis(TICK_MS),
    );
    on_cleanup(move || {
        if let Ok(h) = tick {
            h.clear();
        }
    });
    view! {
        <ul class="conversation-list" data-testid="conversation-list" role="listbox" aria-label="Conversations">
            <For each=move || conversations.get() key=|c| (c.id.clone(), c.unread_count, c.unacked_urgent, c.last_message_at.clone(), c.last_message_preview.clone(), c.subject.clone()) let:c>
                {
                    let id = c.id.clone();
                    let id_for_selected = id.clone();
                    let is_selected = move || selected.get().as_deref() == Some(id_for_selected.as_str());
                    let id_click = id.clone();
                    let id_key = id.clone();
                    let when = c.last_message_at.as_deref().map(js_sys::Date::parse);
                    let unread = c.unread_count;
                    let urgent = c.unacked_urgent;
                    view! {
                        <li class="conversation-item" class:selected=is_selected.clone() class:unread={unread > 0}
                            class:urgent={urgent > 0}
                            data-testid="conversation-item" data-conversation-id=id.clone() data-unread=unread.to_string()
                            data-urgent=urgent.to_string()
                            role="option" tabindex="0" aria-selected=move || is_selected().to_string()
                            on:click=move |_| on_select.run(id_click.clone())
                            on:keydown=move |ev: leptos::ev::KeyboardEvent| on_key(&ev, &id_key, on_select)>
                            <div class="conversation-top">
                                <span class="medic-name">
                                    {(urgent > 0).then(|| view! {
                                        <span class="urgent-tag" title="Urgent, not acknowledged"><span aria-hidden="true">"⚠ "</span>"URGENT"</span>
                                    })}
                                    {counterpart.map_or_else(|| c.medic_name.clone(), str::to_string)}
                                </span>
                                <span class="conversation-time">{move || when.map(|t| relative(now.get(), t)).unwrap_or_default()}</span>
                            </div>
                            <div class="conversation-subject" data-testid="conversation-subject">{c.subject.clone()}</div>
                            <div class="conversation-bottom">
                                <span class="preview">{c.last_message_preview.clone().unwrap_or_default()}</span>
                                <Show when=move || { unread > 0 }>
                                    <span class="unread-count">{unread}<span class="visually-hidden">" unread"</span></span>
                                </Show>
                            </div>
                        </li>
                    }
                }
            </For>
        </ul>
    }
}
