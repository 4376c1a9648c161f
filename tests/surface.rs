//! The working surface's components in headless Chromium (wasm-bindgen-test): the "New"
//! divider and where a thread opens, Esc to the newest message, "Mark as unread", the list
//! filter and the list's subject line.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;
use switchboard::api::models::Sender;
use switchboard::api::{ConversationSummary, Message};
use switchboard::components::{ConversationFilter, ConversationList};
use switchboard::list_filter::ListFilter;
use switchboard::thread::MessageThread;
use switchboard::urgent::Side;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

mod common;
use common::{distance, fresh_root, q, settle};

fn msg(i: usize, from_medic: bool) -> Message {
    Message {
        id: format!("msg-{i}"),
        conversation_id: "c1".into(),
        sender_id: if from_medic { "medic-1" } else { "ana" }.into(),
        body: format!("message {i}"),
        created_at: format!("2026-11-25T02:{:02}:{:02}.000000+00:00", i / 60, i % 60),
        sender: Some(Sender {
            display_name: if from_medic { "Jordan Reyes" } else { "Ana" }.into(),
            role: if from_medic { "medic" } else { "dispatcher" }.into(),
        }),
        priority: Default::default(),
        ack: None,
    }
}

/// Mounts a 30-row thread whose divider stands above `divider` (if any).
fn thread(
    root: &web_sys::HtmlElement,
    divider: Option<&str>,
    positioned: RwSignal<bool>,
    following: RwSignal<bool>,
) -> leptos::mount::UnmountHandle<impl Mountable> {
    let messages = RwSignal::new((0..30).map(|i| msg(i, true)).collect::<Vec<_>>());
    let divider = RwSignal::new(divider.map(str::to_string));
    leptos::mount::mount_to(root.clone(), move || {
        view! {
            <MessageThread messages=messages me="ana" follow_next=StoredValue::new(false)
                divider=divider positioned=positioned following=following />
        }
    })
}

#[wasm_bindgen_test]
async fn a_tall_unread_part_opens_at_the_divider_and_nothing_is_read_before_the_bottom() {
    let root = fresh_root();
    let (positioned, following) = (RwSignal::new(false), RwSignal::new(true));
    // 20 unread rows (800 px) in a 200 px view.
    let _h = thread(&root, Some("msg-10"), positioned, following);
    settle().await;
    let view = q(&root, "[data-testid=message-thread]");
    let divider = q(&root, "[data-testid=unread-divider]");
    let next = divider.next_element_sibling().unwrap();
    assert_eq!(
        next.get_attribute("data-message-id").as_deref(),
        Some("msg-10")
    );
    assert!(positioned.get_untracked(), "the view says where it opened");
    assert!(distance(&view) > 100, "not at the bottom");
    assert!(
        !following.get_untracked(),
        "a reader at the divider does not follow"
    );
    let top = divider.unchecked_ref::<web_sys::HtmlElement>().offset_top();
    assert!(
        (view.scroll_top() - top).abs() <= 30,
        "the divider is at the top of the view ({} vs {top})",
        view.scroll_top()
    );

    // Esc jumps to the newest message.
    let esc = web_sys::KeyboardEventInit::new();
    esc.set_key("Escape");
    esc.set_bubbles(true);
    let ev = web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &esc).unwrap();
    document().body().unwrap().dispatch_event(&ev).unwrap();
    settle().await;
    assert!(distance(&view) <= 1, "Esc went to the bottom");
    assert!(following.get_untracked());
}

#[wasm_bindgen_test]
async fn a_short_unread_part_opens_at_the_bottom_with_the_divider_in_view() {
    let root = fresh_root();
    let (positioned, following) = (RwSignal::new(false), RwSignal::new(true));
    // 2 unread rows (80 px) fit in the 200 px view.
    let _h = thread(&root, Some("msg-28"), positioned, following);
    settle().await;
    let view = q(&root, "[data-testid=message-thread]");
    assert!(distance(&view) <= 1, "at the bottom");
    assert!(following.get_untracked());
    assert!(positioned.get_untracked());
    let divider = q(&root, "[data-testid=unread-divider]");
    let top = divider.unchecked_ref::<web_sys::HtmlElement>().offset_top();
    assert!(top >= view.scroll_top(), "the divider is in view");
}

#[wasm_bindgen_test]
async fn without_unread_there_is_no_divider() {
    let root = fresh_root();
    let _h = thread(&root, None, RwSignal::new(false), RwSignal::new(true));
    settle().await;
    assert!(root
        .query_selector("[data-testid=unread-divider]")
        .unwrap()
        .is_none());
}

#[wasm_bindgen_test]
async fn only_messages_from_the_other_side_can_be_marked_unread() {
    let root = fresh_root();
    let messages = RwSignal::new(vec![msg(0, true), msg(1, false), msg(2, true)]);
    let marked = Rc::new(RefCell::new(Vec::<String>::new()));
    let marked2 = marked.clone();
    let _h = leptos::mount::mount_to(root.clone(), move || {
        let on_mark_unread = UnsyncCallback::new(move |id: String| marked2.borrow_mut().push(id));
        view! {
            <MessageThread messages=messages me="ana" follow_next=StoredValue::new(false)
                side=Side::Dispatcher on_mark_unread=on_mark_unread />
        }
    });
    settle().await;
    let buttons = root
        .query_selector_all("[data-testid=mark-unread]")
        .unwrap();
    assert_eq!(buttons.length(), 2, "the two medic messages, not my own");
    assert!(root
        .query_selector("[data-message-id=msg-1] [data-testid=mark-unread]")
        .unwrap()
        .is_none());
    q(&root, "[data-message-id=msg-2] [data-testid=mark-unread]")
        .unchecked_into::<web_sys::HtmlElement>()
        .click();
    assert_eq!(*marked.borrow(), vec!["msg-2".to_string()]);
}

fn conv(id: &str, name: &str, subject: &str, unread: i64, urgent: i64) -> ConversationSummary {
    ConversationSummary {
        id: id.into(),
        medic_id: format!("m-{id}"),
        medic_name: name.into(),
        subject: subject.into(),
        last_message_at: Some("2026-11-25T02:00:00.000000+00:00".into()),
        last_message_preview: Some(format!("hello from {name}")),
        unread_count: unread,
        unacked_urgent: urgent,
        ..Default::default()
    }
}

#[wasm_bindgen_test]
async fn the_filter_box_and_toggles_narrow_the_list() {
    let root = fresh_root();
    let list = vec![
        conv("a", "Jordan Reyes", "Medic 6 · Inc 26-0412", 0, 0),
        conv("b", "Jordan Reyes", "Medic 6 · Inc 26-0419", 2, 0),
        conv("c", "Priya Natarajan", "Medic 2 · Inc 26-0398", 1, 1),
    ];
    let filter = RwSignal::new(ListFilter::default());
    let _h = leptos::mount::mount_to(root.clone(), move || {
        let shown = Signal::derive(move || filter.with(|f| f.apply(&list, None)));
        view! {
            <ConversationFilter filter=filter input=NodeRef::new() />
            <ConversationList conversations=shown selected=Signal::derive(|| None::<String>) on_select=|_id: String| {} />
        }
    });
    settle().await;
    let ids = || {
        let items = root
            .query_selector_all("[data-testid=conversation-item]")
            .unwrap();
        (0..items.length())
            .map(|i| {
                items
                    .item(i)
                    .unwrap()
                    .unchecked_into::<web_sys::Element>()
                    .get_attribute("data-conversation-id")
                    .unwrap()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(), ["a", "b", "c"]);
    // Same medic twice, told apart by the subject on each row.
    let subjects = root
        .query_selector_all("[data-testid=conversation-subject]")
        .unwrap();
    assert_eq!(subjects.length(), 3);
    assert_eq!(
        subjects.item(1).unwrap().text_content().as_deref(),
        Some("Medic 6 · Inc 26-0419")
    );

    let input: web_sys::HtmlInputElement =
        q(&root, "[data-testid=conversation-filter]").unchecked_into();
    input.set_value("reyes 0419");
    input
        .dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
    settle().await;
    assert_eq!(ids(), ["b"]);

    input.set_value("");
    input
        .dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
    let urgent = q(&root, "[data-testid=filter-urgent]");
    urgent.unchecked_ref::<web_sys::HtmlElement>().click();
    settle().await;
    assert_eq!(
        urgent.get_attribute("aria-pressed").as_deref(),
        Some("true")
    );
    assert_eq!(ids(), ["c"]);
    urgent.unchecked_ref::<web_sys::HtmlElement>().click();
    q(&root, "[data-testid=filter-unread]")
        .unchecked_into::<web_sys::HtmlElement>()
        .click();
    settle().await;
    assert_eq!(ids(), ["b", "c"]);
}
