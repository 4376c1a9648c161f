//! The conversation list: conversations waiting for an urgent acknowledgement first, then
//! newest first; unread counts; keyboard navigable (↑/↓, Home/End); windowed, so only what
//! is on screen is in the DOM.

use leptos::prelude::*;

use crate::api::ConversationSummary;
use crate::list_window::{rendered, reveal, spacer_px, OVERSCAN};
use crate::timefmt::relative;

/// Focuses the row of conversation `id` once it is rendered: after a scroll the window's
/// new rows come a frame or two later, so it tries for a few frames.
pub fn focus_row(id: &str) {
    fn attempt(selector: String, frames_left: u32) {
        request_animation_frame(move || {
            let row = document()
                .query_selector(&selector)
                .ok()
                .flatten()
                .and_then(|el| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(el).ok());
            match row {
                Some(row) => {
                    let _ = row.focus();
                }
                None if frames_left > 0 => attempt(selector, frames_left - 1),
                None => {}
            }
        });
    }
    attempt(
        format!("[data-testid=conversation-item][data-conversation-id=\"{id}\"]"),
        5,
    );
}

/// Rough row height (px) until the first row is measured.
const ROW_PX_GUESS: f64 = 84.0;

/// How often relative times are recomputed (ms): "1 min" shows at most this long after
/// the minute.
pub const TICK_MS: u64 = 10_000;

/// The org's conversations in the order given (see `urgent::pin_urgent`); `on_select` gets
/// the chosen conversation id. `counterpart` names the other side when it is not the medic
/// (a medic's own list shows "Dispatch", not their own name). With `has_older`, a "Show
/// older" button ends the list and calls `on_show_older`.
#[component]
pub fn ConversationList(
    #[prop(into)] conversations: Signal<Vec<ConversationSummary>>,
    #[prop(into)] selected: Signal<Option<String>>,
    #[prop(into)] on_select: UnsyncCallback<String>,
    #[prop(default = None)] counterpart: Option<&'static str>,
    #[prop(into, optional)] has_older: Signal<bool>,
    #[prop(into, optional)] loading_older: Signal<bool>,
    #[prop(into, optional)] on_show_older: Option<UnsyncCallback<()>>,
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

    // Windowing (`list_window`): only the rows in view and an overscan are in the DOM, the
    // rest stand in as two spacers; rows are keyed, so moving one conversation to the top
    // touches a constant number of nodes.
    let list = NodeRef::<leptos::html::Ul>::new();
    let scroll_top = RwSignal::new(0.0_f64);
    let viewport = RwSignal::new(1_000.0_f64);
    let row_px = RwSignal::new(ROW_PX_GUESS);
    let measure = move || {
        if let Some(el) = list.get_untracked() {
            scroll_top.set(f64::from(el.scroll_top()));
            let height = f64::from(el.client_height());
            if height > 0.0 && height != viewport.get_untracked() {
                viewport.set(height);
            }
        }
    };
    let on_resize = window_event_listener(leptos::ev::resize, move |_| measure());
    on_cleanup(move || on_resize.remove());
    let total = Memo::new(move |_| conversations.with(Vec::len));
    let range = Memo::new(move |_| {
        rendered(
            scroll_top.get(),
            viewport.get(),
            row_px.get(),
            total.get(),
            OVERSCAN,
        )
    });
    let positions = Memo::new(move |_| {
        conversations.with(|list| {
            list.iter()
                .enumerate()
                .map(|(i, c)| (c.id.clone(), i))
                .collect::<std::collections::HashMap<_, _>>()
        })
    });
    let slice = Memo::new(move |_| {
        let r = range.get();
        conversations.with(|list| list.get(r).map(<[_]>::to_vec).unwrap_or_default())
    });
    // Rows are all one height (CSS); the first one rendered says how tall.
    Effect::new(move |_| {
        slice.track();
        request_animation_frame(move || {
            let measured = list
                .get_untracked()
                .and_then(|el| {
                    el.query_selector("[data-testid=conversation-item]")
                        .ok()
                        .flatten()
                })
                .and_then(|el| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(el).ok())
                .map(|el| f64::from(el.offset_height()))
                .filter(|h| *h > 0.0);
            if let Some(h) = measured {
                if (h - row_px.get_untracked()).abs() >= 1.0 {
                    row_px.set(h);
                }
            }
            measure();
        });
    });
    // A conversation selected elsewhere (keyboard, search, the urgent counter) is scrolled
    // into the list's view; list updates alone never move it.
    let scroll_to = move |index: usize| {
        let Some(el) = list.get_untracked() else {
            return;
        };
        if let Some(top) = reveal(
            index,
            f64::from(el.scroll_top()),
            f64::from(el.client_height()),
            row_px.get_untracked(),
        ) {
            el.set_scroll_top(top as i32);
            measure();
        }
    };
    Effect::new(move |_| {
        let Some(id) = selected.get() else { return };
        if let Some(index) = positions.with_untracked(|p| p.get(&id).copied()) {
            scroll_to(index);
        }
    });
    let on_key = move |ev: &leptos::ev::KeyboardEvent, id: &str| {
        let step: i64 = match ev.key().as_str() {
            "Enter" | " " => {
                ev.prevent_default();
                on_select.run(id.to_string());
                return;
            }
            "ArrowDown" => 1,
            "ArrowUp" => -1,
            "Home" => i64::MIN,
            "End" => i64::MAX,
            _ => return,
        };
        let Some(at) = positions.with_untracked(|p| p.get(id).copied()) else {
            return;
        };
        let last = total.get_untracked().saturating_sub(1) as i64;
        let next = match step {
            i64::MIN => 0,
            i64::MAX => last,
            s => (at as i64 + s).clamp(0, last),
        } as usize;
        ev.prevent_default();
        if next == at {
            return;
        }
        if let Some(target) = conversations.with_untracked(|l| l.get(next).map(|c| c.id.clone())) {
            scroll_to(next);
            focus_row(&target);
        }
    };

    view! {
        <ul class="conversation-list" data-testid="conversation-list" role="listbox" aria-label="Conversations"
            node_ref=list on:scroll=move |_| measure() data-total=move || total.get().to_string()>
            <li class="list-spacer" role="presentation" aria-hidden="true"
                style:height=move || format!("{}px", spacer_px(range.get().start, row_px.get()))></li>
            // Keyed by id alone: a change updates its row in place and a move only moves
            // it. A row built anew per change left a trace behind in reactive_graph 0.2 (a
            // parent owner keeps a `Weak` per child it ever had; a signal that did not change
            // since keeps its dead subscribers): about 65 B of wasm heap per change for as
            // long as the list was open (issue 17, `cargo xtask bench shift`).
            <For each=move || slice.get() key=|c| c.id.clone() let:c>
                {
                    let id = c.id.clone();
                    let id_row = id.clone();
                    let row = Memo::new(move |_| {
                        positions
                            .with(|p| p.get(&id_row).copied())
                            .and_then(|i| conversations.with(|l| l.get(i).cloned()))
                            .unwrap_or_else(|| c.clone())
                    });
                    let id_for_selected = id.clone();
                    let is_selected = move || selected.get().as_deref() == Some(id_for_selected.as_str());
                    let id_click = id.clone();
                    let id_key = id.clone();
                    let id_pos = id.clone();
                    let unread = move || row.with(|c| c.unread_count);
                    let urgent = move || row.with(|c| c.unacked_urgent);
                    view! {
                        <li class="conversation-item" class:selected=is_selected.clone() class:unread={move || unread() > 0}
                            class:urgent={move || urgent() > 0}
                            data-testid="conversation-item" data-conversation-id=id.clone() data-unread=move || unread().to_string()
                            data-urgent=move || urgent().to_string()
                            role="option" tabindex="0" aria-selected=move || is_selected().to_string()
                            aria-setsize=move || total.get().to_string()
                            aria-posinset=move || positions.with(|p| p.get(&id_pos).map_or(0, |i| i + 1)).to_string()
                            on:click=move |_| on_select.run(id_click.clone())
                            on:keydown=move |ev: leptos::ev::KeyboardEvent| on_key(&ev, &id_key)>
                            <div class="conversation-top">
                                <span class="medic-name">
                                    {move || (urgent() > 0).then(|| view! {
                                        <span class="urgent-tag" title="Urgent, not acknowledged"><span aria-hidden="true">"⚠ "</span>"URGENT"</span>
                                    })}
                                    {move || counterpart.map_or_else(|| row.with(|c| c.medic_name.clone()), str::to_string)}
                                </span>
                                <span class="conversation-time">{move || {
                                    row.with(|c| c.last_message_at.as_deref().map(js_sys::Date::parse))
                                        .map(|t| relative(now.get(), t))
                                        .unwrap_or_default()
                                }}</span>
                            </div>
                            <div class="conversation-subject" data-testid="conversation-subject">{move || row.with(|c| c.subject.clone())}</div>
                            <div class="conversation-bottom">
                                <span class="preview">{move || row.with(|c| c.last_message_preview.clone().unwrap_or_default())}</span>
                                <Show when=move || { unread() > 0 }>
                                    <span class="unread-count">{unread}<span class="visually-hidden">" unread"</span></span>
                                </Show>
                            </div>
                        </li>
                    }
                }
            </For>
            <li class="list-spacer" role="presentation" aria-hidden="true"
                style:height=move || format!("{}px", spacer_px(total.get() - range.get().end, row_px.get()))></li>
            <Show when=move || has_older.get()>
                <li class="show-older-row" role="presentation">
                    <button type="button" class="show-older" data-testid="show-older"
                        disabled=move || loading_older.get()
                        on:click=move |_| {
                            if let Some(cb) = on_show_older {
                                cb.run(());
                            }
                        }>
                        {move || if loading_older.get() { "Loading older conversations…" } else { "Show older conversations" }}
                    </button>
                </li>
            </Show>
        </ul>
    }
}
