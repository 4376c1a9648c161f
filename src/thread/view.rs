//! One conversation's messages, with the 100 px auto-scroll rule.

use leptos::html::Div;
use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use super::scroll::{
    appended_rows, distance_from_bottom, follows, keep_anchor, keeps_bottom_on_resize, on_new_rows,
    Decision,
};
use crate::api::{Message, Priority};
use crate::urgent::{can_acknowledge, Side};

/// The local calendar day of a time, cheap enough to compute for every row on every update
/// (the formatted label, which goes through Intl, is only made for separators).
fn local_day(d: &js_sys::Date) -> (u32, u32, u32) {
    (d.get_full_year(), d.get_month(), d.get_date())
}

/// A ResizeObserver with the callback it calls (kept alive as long as it observes).
type Watcher = (web_sys::ResizeObserver, Closure<dyn FnMut()>);

fn day_label(d: &js_sys::Date) -> String {
    d.to_locale_date_string("default", &wasm_bindgen::JsValue::UNDEFINED)
        .into()
}

fn local_time(ms: f64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
    format!("{:02}:{:02}", d.get_hours(), d.get_minutes())
}

/// The scrolling thread. `follow_next` is set by the composer before an own send: those
/// rows always scroll into view. When `has_older` is true a button at the top asks for
/// older history through `on_load_older`; the row the reader was looking at stays put.
/// `following` (if given) is kept true while the reader is within the 100 px of the bottom.
/// Urgent messages say so in words, colour and icon; one the reader's `side` may acknowledge
/// gets an Acknowledge button that calls `on_acknowledge` with its id.
#[component]
pub fn MessageThread(
    #[prop(into)] messages: Signal<Vec<Message>>,
    #[prop(into)] me: String,
    #[prop(optional)] side: Option<Side>,
    #[prop(into, optional)] on_acknowledge: Option<UnsyncCallback<String>>,
    follow_next: StoredValue<bool>,
    #[prop(into, optional)] has_older: Signal<bool>,
    #[prop(into, optional)] on_load_older: Option<UnsyncCallback<()>>,
    #[prop(optional)] following: Option<RwSignal<bool>>,
) -> impl IntoView {
    let set_following = move |on: bool| {
        if let Some(f) = following {
            if f.get_untracked() != on {
                f.set(on);
            }
        }
    };
    let container = NodeRef::<Div>::new();
    // (scrollTop, scrollHeight) when older rows were asked for.
    let anchor: StoredValue<Option<(f64, f64)>> = StoredValue::new(None);
    // Measured on every scroll, i.e. before any new rows render.
    let distance = StoredValue::new(0.0_f64);
    let shown: StoredValue<Vec<String>> = StoredValue::new(Vec::new());
    let unseen = RwSignal::new(0_usize);

    let measure = move || {
        container.get_untracked().map(|el| {
            distance_from_bottom(
                el.scroll_height() as f64,
                el.scroll_top() as f64,
                el.client_height() as f64,
            )
        })
    };
    let to_bottom = move || {
        if let Some(el) = container.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
        distance.set_value(0.0);
        unseen.set(0);
        set_following(true);
    };

    Effect::new(move |_| {
        let ids: Vec<String> = messages.with(|m| m.iter().map(|m| m.id.clone()).collect());
        let before = shown.get_value();
        shown.set_value(ids.clone());
        let first_render = before.is_empty() && !ids.is_empty();
        let added = appended_rows(&before, &ids);
        let own = follow_next.get_value();
        if first_render {
            request_animation_frame(to_bottom);
            return;
        }
        let prepended =
            before.first().is_some_and(|f| ids.first() != Some(f)) && ids.len() > before.len();
        if prepended {
            if let Some((top, height)) = anchor.get_value() {
                anchor.set_value(None);
                request_animation_frame(move || {
                    if let Some(el) = container.get_untracked() {
                        let target = keep_anchor(top, height, el.scroll_height() as f64);
                        el.set_scroll_top(target as i32);
                    }
                });
            }
        }
        if added == 0 {
            return;
        }
        match on_new_rows(distance.get_value(), own, added, unseen.get_untracked()) {
            Decision::FollowToBottom => {
                follow_next.set_value(false);
                request_animation_frame(to_bottom);
            }
            Decision::KeepPosition { unseen: n } => unseen.set(n),
        }
    });

    let on_scroll = move |_| {
        if let Some(d) = measure() {
            distance.set_value(d);
            set_following(follows(d));
            if follows(d) && unseen.get_untracked() > 0 {
                unseen.set(0);
            }
        }
    };

    // The view's own box changes under the reader too: the canned replies row arriving,
    // the composer growing, the window resized. A reader at the bottom stays there.
    let resize: StoredValue<Option<Watcher>, LocalStorage> = StoredValue::new_local(None);
    Effect::new(move |_| {
        let Some(el) = container.get() else { return };
        if resize.with_value(Option::is_some) {
            return;
        }
        let on_resize = Closure::<dyn FnMut()>::new(move || {
            if keeps_bottom_on_resize(distance.get_value()) {
                if let Some(el) = container.get_untracked() {
                    el.set_scroll_top(el.scroll_height());
                }
            }
        });
        if let Ok(observer) = web_sys::ResizeObserver::new(on_resize.as_ref().unchecked_ref()) {
            observer.observe(&el);
            resize.set_value(Some((observer, on_resize)));
        }
    });
    on_cleanup(move || {
        if let Some(Some((observer, _))) = resize.try_update_value(Option::take) {
            observer.disconnect();
        }
    });

    // Each row carries its day separator (if it starts a day), so rows are keyed and only
    // new rows are created when the thread grows.
    let rows = Memo::new(move |_| {
        messages.with(|list| {
            let mut last_day = None;
            list.iter()
                .map(|m| {
                    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(&m.created_at));
                    let at = date.get_time();
                    let day = Some(local_day(&date));
                    let separator = (day != last_day).then(|| day_label(&date));
                    last_day = day;
                    (m.clone(), separator, at)
                })
                .collect::<Vec<_>>()
        })
    });
    let side = side.unwrap_or(Side::Dispatcher);
    let row_view = move |(m, separator, at): (Message, Option<String>, f64)| {
        let own = m.sender_id == me;
        let (name, role) = m
            .sender
            .as_ref()
            .map(|s| (s.display_name.clone(), s.role.clone()))
            .unwrap_or_default();
        let urgent = m.priority == Priority::Urgent;
        let acknowledge =
            (on_acknowledge.is_some() && can_acknowledge(&m, &me, side)).then(|| m.id.clone());
        let acked = m.ack.as_ref().map(|a| {
            let who = a
                .user
                .as_ref()
                .map_or("someone", |u| u.display_name.as_str());
            let when = js_sys::Date::parse(&a.acked_at);
            format!("Acknowledged by {who} {}", local_time(when))
        });
        let is_acked = acked.is_some();
        view! {
            {separator.map(|day| view! { <div class="day-separator" role="separator"><span>{day}</span></div> })}
            <article class="message" class:own=own class:from-medic={role == "medic"} class:urgent=urgent
                class:acked=is_acked
                data-testid="message" data-message-id=m.id.clone() data-priority=m.priority.as_str()
                data-acked=is_acked.to_string()>
                <header>
                    {urgent.then(|| view! { <span class="urgent-tag"><span aria-hidden="true">"⚠ "</span>"URGENT"</span> })}
                    <span class="sender">{if own { "You".to_string() } else { name }}</span>
                    <time datetime=m.created_at.clone()>{local_time(at)}</time>
                </header>
                <p class="body">{m.body.clone()}</p>
                {acked.map(|text| view! { <p class="ack-note" data-testid="ack-note">"✓ "{text}</p> })}
                {acknowledge.map(|id| view! {
                    <button class="acknowledge" data-testid="acknowledge" on:click=move |_| {
                        if let Some(cb) = on_acknowledge {
                            cb.run(id.clone());
                        }
                    }>"Acknowledge"</button>
                })}
            </article>
        }
    };

    view! {
        <div class="thread-wrap">
            <div class="message-thread" data-testid="message-thread" node_ref=container on:scroll=on_scroll
                role="log" aria-live="polite">
                <Show when=move || has_older.get()>
                    <button class="load-older" data-testid="load-older" on:click=move |_| {
                        if let Some(el) = container.get_untracked() {
                            anchor.set_value(Some((el.scroll_top() as f64, el.scroll_height() as f64)));
                        }
                        if let Some(cb) = on_load_older {
                            cb.run(());
                        }
                    }>"Load older messages"</button>
                </Show>
                <For each=move || rows.get() key=|(m, separator, _)| (m.id.clone(), separator.clone(), m.ack.is_some()) children=row_view />
            </div>
            <Show when=move || { unseen.get() > 0 }>
                <button class="new-messages-pill" data-testid="new-messages-pill" on:click=move |_| to_bottom()>
                    {move || format!("{} new message{} ↓", unseen.get(), if unseen.get() == 1 { "" } else { "s" })}
                </button>
            </Show>
        </div>
    }
}
