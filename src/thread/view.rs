//! One conversation's messages, with the 100 px auto-scroll rule.

use leptos::html::Div;
use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use super::divider::{start, Start};
use super::pages::{anchored_scroll_top, near_edge};
use super::scroll::{
    appended_rows, count_arrivals, distance_from_bottom, follows, keeps_bottom_on_resize,
    on_new_rows, unseen_after, Decision,
};
use crate::api::{Message, Priority};
use crate::urgent::{can_acknowledge, from_other_side, Side};

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
///
/// `divider` names the first unread message: a "New" divider goes above it, and the view
/// opens there when the unread part is taller than the view (see `divider`). `highlight`
/// names a message to open at instead (from search), outlined. `positioned` turns true once
/// the opening position is taken, so nothing is marked read before the reader could see it.
/// Messages from the other side get "Mark as unread", calling `on_mark_unread` with the id.
/// Esc (outside a text field) jumps to the newest message.
///
/// The rows are a bounded run of a longer history (`pages`): `has_newer` says newer rows
/// exist below them (the reader cannot follow then), `on_load_newer` brings the next page
/// below, `on_to_newest` goes back to the newest rows only. With `auto_load` the next page
/// loads by itself when the reader scrolls near either end. Whenever rows enter or leave
/// above the reader, the row they were looking at stays exactly where it was; `reading`
/// (if given) is kept set to that row's id (the first row in view).
///
/// The "new messages" pill counts what arrives in `arrivals` (the live window's rows;
/// `messages` if not given) while the reader does not follow it, whether or not those
/// rows are shown: a reader in older history is told of every message that came below.
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
    #[prop(into, optional)] divider: Signal<Option<String>>,
    #[prop(into, optional)] highlight: Signal<Option<String>>,
    #[prop(optional)] positioned: Option<RwSignal<bool>>,
    #[prop(into, optional)] on_mark_unread: Option<UnsyncCallback<String>>,
    /// The outbox's rows, shown after the server rows (`outbox_rows`).
    #[prop(optional)]
    pending: Option<super::outbox_rows::PendingRows>,
    #[prop(into, optional)] has_newer: Signal<bool>,
    #[prop(into, optional)] on_load_newer: Option<UnsyncCallback<()>>,
    #[prop(into, optional)] on_to_newest: Option<UnsyncCallback<()>>,
    #[prop(optional)] auto_load: bool,
    #[prop(into, optional)] arrivals: Option<Signal<Vec<Message>>>,
    #[prop(optional)] reading: Option<RwSignal<Option<String>>>,
) -> impl IntoView {
    let set_following = move |on: bool| {
        if let Some(f) = following {
            if f.get_untracked() != on {
                f.set(on);
            }
        }
    };
    let container = NodeRef::<Div>::new();
    // The first row in view and its offsetTop minus scrollTop, taken on every scroll and
    // before asking for a page: rows entering or leaving above it must not move it.
    let anchor: StoredValue<Option<(String, f64)>> = StoredValue::new(None);
    let record_anchor = move || {
        let found = container.get_untracked().and_then(|el| first_in_view(&el));
        if let Some(r) = reading {
            let id = found.as_ref().map(|(id, _)| id.clone());
            if r.with_untracked(|now| *now != id) {
                r.set(id);
            }
        }
        anchor.set_value(found);
    };
    // Set when going back to the newest rows: the rows that come in are followed.
    let pin_bottom = StoredValue::new(false);
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
        if has_newer.get_untracked() {
            // In history: the newest rows replace the run shown, then the view goes down.
            pin_bottom.set_value(true);
            if let Some(cb) = on_to_newest {
                cb.run(());
            }
        }
        if let Some(el) = container.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
        distance.set_value(0.0);
        unseen.set(0);
        set_following(!has_newer.get_untracked());
    };

    Effect::new(move |_| {
        let ids: Vec<String> = messages.with(|m| m.iter().map(|m| m.id.clone()).collect());
        let before = shown.get_value();
        shown.set_value(ids.clone());
        let first_render = before.is_empty() && !ids.is_empty();
        let added = appended_rows(&before, &ids);
        let own = follow_next.get_value();
        if first_render {
            request_animation_frame(move || {
                open_at_start(container, divider, highlight, to_bottom);
                if let Some(d) = measure() {
                    distance.set_value(d);
                    set_following(follows(d));
                }
                record_anchor();
                if let Some(p) = positioned {
                    p.set(true);
                }
            });
            return;
        }
        // A message opened from search that was not loaded at first comes in with a
        // larger window: go to it once it is there.
        if let Some(target) = highlight.get_untracked() {
            if !before.contains(&target) && ids.contains(&target) {
                request_animation_frame(move || {
                    if scroll_to_message(container, &target) {
                        if let Some(d) = measure() {
                            distance.set_value(d);
                            set_following(follows(d));
                        }
                    }
                });
            }
        }
        // Rows entered or left above (a page loaded, re-entered or left): the anchor row
        // goes back to where the reader saw it.
        // Put back as soon as the rows are in the DOM (a microtask: no script or frame can
        // see them moved), and again before the frame in case they rendered later.
        let above_changed = before.first() != ids.first();
        if above_changed && !pin_bottom.get_value() {
            if let Some((row, offset)) = anchor.get_value() {
                let restore = move || {
                    if let Some(el) = container.get_untracked() {
                        if let Some(top) = row_top(&el, &row) {
                            el.set_scroll_top(anchored_scroll_top(offset, top) as i32);
                        }
                    }
                };
                let again = restore.clone();
                if let Some(w) = web_sys::window() {
                    w.queue_microtask(Closure::once_into_js(restore).unchecked_ref());
                }
                request_animation_frame(again);
            }
        }
        if pin_bottom.get_value() && !ids.is_empty() && !has_newer.get_untracked() {
            pin_bottom.set_value(false);
            request_animation_frame(to_bottom);
            return;
        }
        if added == 0 || has_newer.get_untracked() {
            return;
        }
        // The pill is counted from the arrivals below; here only whether to follow.
        if on_new_rows(distance.get_value(), own, added, 0) == Decision::FollowToBottom {
            follow_next.set_value(false);
            request_animation_frame(to_bottom);
        }
    });

    // What arrived in the live window, shown or not (the reader may be in older history
    // with the newest rows out of the DOM): counted unless the reader follows it.
    let live_rows = arrivals.unwrap_or(messages);
    let counted: StoredValue<Option<String>> = StoredValue::new(None);
    Effect::new(move |_| {
        let (arrived, newest) = live_rows.with(|rows| {
            let times: Vec<&str> = rows.iter().map(|m| m.created_at.as_str()).collect();
            let newest = times.iter().max().map(|t| t.to_string());
            (
                counted.with_value(|c| count_arrivals(c.as_deref(), &times)),
                newest,
            )
        });
        if newest.is_some() && counted.with_value(|c| *c < newest) {
            counted.set_value(newest);
        }
        if arrived == 0 {
            return;
        }
        unseen.set(unseen_after(
            distance.get_value(),
            has_newer.get_untracked(),
            follow_next.get_value(),
            arrived,
            unseen.get_untracked(),
        ));
    });

    // Another search result chosen in this same thread: go to it (a new thread goes there
    // as it opens, above).
    Effect::new(move |previous: Option<Option<String>>| {
        let target = highlight.get();
        if let (Some(_), Some(t)) = (&previous, &target) {
            let t = t.clone();
            request_animation_frame(move || {
                if scroll_to_message(container, &t) {
                    if let Some(d) = measure() {
                        distance.set_value(d);
                        set_following(follows(d));
                    }
                }
            });
        }
        target
    });

    // Esc jumps to the newest message and clears the pill (`shortcuts`), unless something
    // else took it: a search box, a dialog, a field.
    let on_escape = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.default_prevented() {
            return;
        }
        let typing = crate::shortcuts::in_text_field(&ev);
        let press = crate::shortcuts::KeyPress {
            key: &ev.key(),
            in_text_field: typing,
            ..Default::default()
        };
        if crate::shortcuts::shortcut(press) == Some(crate::shortcuts::Shortcut::JumpToBottom) {
            to_bottom();
        }
    });
    on_cleanup(move || on_escape.remove());

    let was_following = StoredValue::new(true);
    let on_scroll = move |_| {
        record_anchor();
        let Some(d) = measure() else { return };
        distance.set_value(d);
        // Only a view that reaches the newest rows can follow them.
        let now = follows(d) && !has_newer.get_untracked();
        set_following(now);
        if now && unseen.get_untracked() > 0 {
            unseen.set(0);
        }
        if now && !was_following.get_value() {
            // Back at the newest rows: older pages leave the top (the anchor holds the view).
            if let Some(cb) = on_to_newest {
                cb.run(());
            }
        }
        was_following.set_value(now);
        if !auto_load {
            return;
        }
        let top = container
            .get_untracked()
            .map_or(f64::MAX, |el| el.scroll_top() as f64);
        if near_edge(top) && has_older.get_untracked() {
            if let Some(cb) = on_load_older {
                cb.run(());
            }
        } else if near_edge(d) && has_newer.get_untracked() {
            if let Some(cb) = on_load_newer {
                cb.run(());
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
                    let new = divider.with(|d| d.as_deref() == Some(m.id.as_str()));
                    let found = highlight.with(|h| h.as_deref() == Some(m.id.as_str()));
                    (m.clone(), separator, at, new, found)
                })
                .collect::<Vec<_>>()
        })
    });
    let side = side.unwrap_or(Side::Dispatcher);
    let row_view = move |(m, separator, at, new, found): (
        Message,
        Option<String>,
        f64,
        bool,
        bool,
    )| {
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
        let mark_unread =
            (on_mark_unread.is_some() && from_other_side(&m, &me, side)).then(|| m.id.clone());
        view! {
            {separator.map(|day| view! { <div class="day-separator" role="separator"><span>{day}</span></div> })}
            {new.then(|| view! {
                <div class="unread-divider" data-testid="unread-divider" role="separator" aria-label="New messages below">
                    <span>"New"</span>
                </div>
            })}
            <article class="message" class:own=own class:from-medic={role == "medic"} class:urgent=urgent
                class:acked=is_acked class:highlighted=found
                data-testid="message" data-message-id=m.id.clone() data-priority=m.priority.as_str()
                data-acked=is_acked.to_string() data-state="sent">
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
                {mark_unread.map(|id| view! {
                    <button class="mark-unread" data-testid="mark-unread" title="Mark as unread from here: come back to it later"
                        on:click=move |_| {
                            if let Some(cb) = on_mark_unread {
                                cb.run(id.clone());
                            }
                        }>"Mark as unread"</button>
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
                        record_anchor();
                        if let Some(cb) = on_load_older {
                            cb.run(());
                        }
                    }>"Load older messages"</button>
                </Show>
                <For each=move || rows.get() key=|(m, separator, _, new, found)| (m.id.clone(), separator.clone(), m.ack.is_some(), *new, *found) children=row_view />
                <Show when=move || has_newer.get()>
                    <button class="load-newer" data-testid="load-newer" on:click=move |_| {
                        record_anchor();
                        if let Some(cb) = on_load_newer {
                            cb.run(());
                        }
                    }>"Load newer messages"</button>
                </Show>
                {pending.map(|p| view! { <super::outbox_rows::OutboxRows pending=p container=container /> })}
            </div>
            <Show when=move || { unseen.get() > 0 }>
                <button class="new-messages-pill" data-testid="new-messages-pill" on:click=move |_| to_bottom()>
                    {move || format!("{} new message{} ↓", unseen.get(), if unseen.get() == 1 { "" } else { "s" })}
                </button>
            </Show>
        </div>
    }
}

/// Takes the opening position: the `highlight`ed message if it is loaded, else the
/// divider's start (see `divider::start`), else the bottom (`to_bottom`).
fn open_at_start(
    container: NodeRef<Div>,
    divider: Signal<Option<String>>,
    highlight: Signal<Option<String>>,
    to_bottom: impl Fn(),
) {
    if let Some(target) = highlight.get_untracked() {
        if scroll_to_message(container, &target) {
            return;
        }
    }
    let Some(el) = container.get_untracked() else {
        return;
    };
    let divider_top = divider.get_untracked().and_then(|_| {
        el.query_selector("[data-testid=unread-divider]")
            .ok()
            .flatten()
            .and_then(|d| d.dyn_into::<web_sys::HtmlElement>().ok())
            .map(|d| f64::from(d.offset_top()))
    });
    match divider_top.map(|top| start(top, el.scroll_height() as f64, el.client_height() as f64)) {
        Some(Start::Divider { scroll_top }) => el.set_scroll_top(scroll_top as i32),
        _ => to_bottom(),
    }
}

/// The first message row in view of the thread `el`: its id, and its offsetTop minus the
/// view's scrollTop (what [`anchored_scroll_top`] restores).
fn first_in_view(el: &web_sys::HtmlElement) -> Option<(String, f64)> {
    let rows = el.query_selector_all("[data-testid=message]").ok()?;
    let row = |i: u32| {
        rows.item(i)
            .and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
    };
    // offsetTop counts from the rows' offset parent: the view itself if positioned, else
    // the parent they share with it.
    let base = match row(0)?.offset_parent() {
        Some(parent) if parent == **el => 0,
        _ => el.offset_top(),
    };
    let view_top = f64::from(base + el.scroll_top());
    // Rows are in order: binary search the first whose bottom is below the view's top.
    let (mut lo, mut hi) = (0, rows.length());
    while lo < hi {
        let mid = (lo + hi) / 2;
        let bottom = row(mid).map_or(f64::MAX, |r| f64::from(r.offset_top() + r.offset_height()));
        if bottom <= view_top {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let found = row(lo)?;
    let id = found.get_attribute("data-message-id")?;
    Some((id, f64::from(found.offset_top() - el.scroll_top())))
}

/// The offsetTop of message `id` in the thread `el`, if rendered.
fn row_top(el: &web_sys::HtmlElement, id: &str) -> Option<f64> {
    el.query_selector(&format!("[data-message-id=\"{id}\"]"))
        .ok()
        .flatten()
        .and_then(|r| r.dyn_into::<web_sys::HtmlElement>().ok())
        .map(|r| f64::from(r.offset_top()))
}

/// Scrolls the message with id `target` to the middle of the view; false if it is not
/// rendered.
fn scroll_to_message(container: NodeRef<Div>, target: &str) -> bool {
    let Some(el) = container.get_untracked() else {
        return false;
    };
    let row = el
        .query_selector(&format!("[data-message-id=\"{target}\"]"))
        .ok()
        .flatten();
    match row {
        Some(row) => {
            let options = web_sys::ScrollIntoViewOptions::new();
            options.set_block(web_sys::ScrollLogicalPosition::Center);
            row.scroll_into_view_with_scroll_into_view_options(&options);
            // Keyboard focus goes where the reader was taken (the search result they left
            // is gone), without scrolling again.
            if let Ok(row) = row.dyn_into::<web_sys::HtmlElement>() {
                let _ = row.set_attribute("tabindex", "-1");
                let focus = web_sys::FocusOptions::new();
                focus.set_prevent_scroll(true);
                let _ = row.focus_with_options(&focus);
            }
            true
        }
        None => false,
    }
}
