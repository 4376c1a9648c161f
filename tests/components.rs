//! Components in headless Chromium (wasm-bindgen-test): real DOM, real scroll containers,
//! fake fetchers and a fake realtime source.
#![cfg(target_arch = "wasm32")]

use std::cell::Cell;
use std::rc::Rc;

use leptos::prelude::*;
use serde_json::{json, Value};
use switchboard::api::models::{AppMetadata, Sender, UserMetadata};
use switchboard::api::{Backend, ConversationSummary, Message, Session, User};
use switchboard::cache::{use_query, FetchError, QueryClient, QueryKey};
use switchboard::components::{ConversationList, LoginForm, UnreadBadge};
use switchboard::realtime::machine::{Command, Input, Machine, Token};
use switchboard::realtime::protocol;
use switchboard::thread::MessageThread;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

mod common;
use common::{all, distance, fresh_root, q, settle};

fn conv(id: &str, name: &str, unread: i64) -> ConversationSummary {
    ConversationSummary {
        id: id.into(),
        medic_id: format!("m-{id}"),
        medic_name: name.into(),
        last_message_at: Some("2026-11-25T02:00:00.000000+00:00".into()),
        last_message_preview: Some(format!("hello from {name}")),
        unread_count: unread,
        unacked_urgent: 0,
        oldest_unacked_urgent_at: None,
        ..Default::default()
    }
}

fn msg(i: usize, sender: &str) -> Message {
    Message {
        id: format!("msg-{i}"),
        conversation_id: "c1".into(),
        sender_id: sender.into(),
        body: format!("message {i}"),
        created_at: format!("2026-11-25T02:{:02}:{:02}.000000+00:00", i / 60, i % 60),
        sender: Some(Sender {
            display_name: "Jordan Reyes".into(),
            role: "medic".into(),
        }),
        priority: Default::default(),
        ack: None,
    }
}

fn set_input(el: &web_sys::Element, value: &str) {
    let input: web_sys::HtmlInputElement = el.clone().unchecked_into();
    input.set_value(value);
    input
        .dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
}

#[wasm_bindgen_test]
async fn login_form_submits_and_shows_the_servers_error() {
    let root = fresh_root();
    let seen = Rc::new(std::cell::RefCell::new(None::<(String, String)>));
    let seen2 = seen.clone();
    let _h = leptos::mount::mount_to(root.clone(), move || {
        let submit = move |email: String, password: String| {
            *seen2.borrow_mut() = Some((email, password));
            async move { Err::<(), String>("Invalid login credentials".into()) }
        };
        view! { <LoginForm submit=submit /> }
    });
    settle().await;
    assert!(
        root.query_selector("[role=alert]").unwrap().is_none(),
        "no error before submitting"
    );
    set_input(&q(&root, "input[type=email]"), "ana@northside.test");
    set_input(&q(&root, "input[type=password]"), "wrong");
    let form: web_sys::HtmlFormElement = q(&root, "[data-testid=login-form]").unchecked_into();
    form.request_submit().unwrap();
    settle().await;
    assert_eq!(
        seen.borrow().clone(),
        Some(("ana@northside.test".to_string(), "wrong".to_string()))
    );
    assert_eq!(
        q(&root, "[role=alert]").text_content().unwrap(),
        "Invalid login credentials"
    );
    let button: web_sys::HtmlButtonElement = q(&root, "button[type=submit]").unchecked_into();
    assert!(!button.disabled(), "usable again after the failure");
}

#[wasm_bindgen_test]
async fn conversation_list_renders_items_and_follows_its_data() {
    let root = fresh_root();
    let data = RwSignal::new(vec![
        conv("a", "Jordan Reyes", 2),
        conv("b", "Priya Natarajan", 0),
    ]);
    let chosen = Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
    let chosen2 = chosen.clone();
    let _h = leptos::mount::mount_to(root.clone(), move || {
        let on_select = UnsyncCallback::new(move |id: String| chosen2.borrow_mut().push(id));
        view! { <ConversationList conversations=data selected=Signal::derive(|| Some("b".to_string())) on_select=on_select /> }
    });
    settle().await;
    let items = all(&root, "[data-testid=conversation-item]");
    let attrs: Vec<(String, String)> = items
        .iter()
        .map(|e| {
            (
                e.get_attribute("data-conversation-id").unwrap(),
                e.get_attribute("data-unread").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        attrs,
        vec![("a".into(), "2".into()), ("b".into(), "0".into())]
    );
    assert!(items[0].text_content().unwrap().contains("Jordan Reyes"));
    assert!(items[0]
        .text_content()
        .unwrap()
        .contains("hello from Jordan Reyes"));
    assert_eq!(
        items[1].get_attribute("aria-selected").as_deref(),
        Some("true")
    );
    items[0].unchecked_ref::<web_sys::HtmlElement>().click();
    let enter: web_sys::Event = js_sys::Reflect::construct(
        &js_sys::Reflect::get(&window(), &"KeyboardEvent".into())
            .unwrap()
            .unchecked_into::<js_sys::Function>(),
        &js_sys::Array::of2(
            &"keydown".into(),
            &js_sys::JSON::parse(r#"{"key":"Enter","bubbles":true}"#).unwrap(),
        ),
    )
    .unwrap()
    .unchecked_into();
    items[1].dispatch_event(&enter).unwrap();
    assert_eq!(*chosen.borrow(), vec!["a".to_string(), "b".to_string()]);

    // New data (b got a message, moved to the top with 1 unread) re-renders in order.
    data.set(vec![
        conv("b", "Priya Natarajan", 1),
        conv("a", "Jordan Reyes", 2),
    ]);
    settle().await;
    let attrs: Vec<String> = all(&root, "[data-testid=conversation-item]")
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e.get_attribute("data-conversation-id").unwrap(),
                e.get_attribute("data-unread").unwrap()
            )
        })
        .collect();
    assert_eq!(attrs, vec!["b:1", "a:2"]);
}

/// A change to a conversation updates its row where it stands (and a move to the top moves
/// the same element): a row built anew per change cost the tab wasm heap for the rest of the
/// shift (issue 17).
#[wasm_bindgen_test]
async fn a_changed_conversation_updates_its_row_in_place() {
    let root = fresh_root();
    let data = RwSignal::new(vec![
        conv("a", "Jordan Reyes", 0),
        conv("b", "Priya Natarajan", 0),
    ]);
    let _h = leptos::mount::mount_to(root.clone(), move || {
        view! { <ConversationList conversations=data selected=Signal::derive(|| None::<String>) on_select=|_id: String| {} /> }
    });
    settle().await;
    let row_of = |id: &str| q(&root, &format!("[data-conversation-id=\"{id}\"]"));
    let before = row_of("b");
    assert!(!before.class_list().contains("urgent"));
    let mut b = conv("b", "Priya Natarajan", 3);
    b.last_message_preview = Some("Patient stable, en route".into());
    b.unacked_urgent = 1;
    b.subject = "Medic 6 · Inc 26-0412".into();
    data.set(vec![b, conv("a", "Jordan Reyes", 0)]);
    settle().await;
    let after = row_of("b");
    assert!(
        after.is_same_node(Some(&before)),
        "the row was rebuilt instead of updated"
    );
    let ids: Vec<String> = all(&root, "[data-testid=conversation-item]")
        .iter()
        .filter_map(|e| e.get_attribute("data-conversation-id"))
        .collect();
    assert_eq!(ids, vec!["b", "a"], "moved to the top");
    assert_eq!(after.get_attribute("data-unread").as_deref(), Some("3"));
    assert_eq!(after.get_attribute("data-urgent").as_deref(), Some("1"));
    assert!(after.class_list().contains("unread") && after.class_list().contains("urgent"));
    let text = after.text_content().unwrap_or_default();
    assert!(text.contains("Patient stable, en route"), "{text}");
    assert!(
        text.contains("URGENT") && text.contains("3 unread"),
        "{text}"
    );
    assert!(text.contains("Medic 6 · Inc 26-0412"), "{text}");
}

#[wasm_bindgen_test]
async fn thread_follows_within_100px_and_keeps_position_beyond() {
    let root = fresh_root();
    let messages = RwSignal::new((0..30).map(|i| msg(i, "medic")).collect::<Vec<_>>());
    let follow = StoredValue::new(false);
    let _h = leptos::mount::mount_to(root.clone(), move || {
        view! { <MessageThread messages=Signal::from(messages) me="me".to_string() follow_next=follow /> }
    });
    settle().await;
    let thread = q(&root, "[data-testid=message-thread]");
    assert!(thread.scroll_height() > 600, "a real scrolling container");
    assert!(distance(&thread) <= 1, "opens at the bottom");

    // Exactly 100 px from the bottom: follows.
    thread.set_scroll_top(thread.scroll_height() - thread.client_height() - 100);
    thread
        .dispatch_event(&web_sys::Event::new("scroll").unwrap())
        .unwrap();
    messages.update(|m| m.push(msg(30, "medic")));
    settle().await;
    assert!(distance(&thread) <= 1, "followed to the bottom");
    assert!(root
        .query_selector("[data-testid=new-messages-pill]")
        .unwrap()
        .is_none());

    // 101 px: stays put and counts what arrived below.
    let top = thread.scroll_height() - thread.client_height() - 101;
    thread.set_scroll_top(top);
    thread
        .dispatch_event(&web_sys::Event::new("scroll").unwrap())
        .unwrap();
    messages.update(|m| m.push(msg(31, "medic")));
    settle().await;
    assert_eq!(thread.scroll_top(), top, "view did not move");
    assert_eq!(
        q(&root, "[data-testid=new-messages-pill]")
            .text_content()
            .unwrap(),
        "1 new message ↓"
    );
    messages.update(|m| m.push(msg(32, "medic")));
    settle().await;
    assert_eq!(
        q(&root, "[data-testid=new-messages-pill]")
            .text_content()
            .unwrap(),
        "2 new messages ↓"
    );

    // Own sends always scroll.
    follow.set_value(true);
    messages.update(|m| m.push(msg(33, "me")));
    settle().await;
    assert!(distance(&thread) <= 1);
    assert!(root
        .query_selector("[data-testid=new-messages-pill]")
        .unwrap()
        .is_none());
    // Bodies are text, never markup.
    messages.update(|m| {
        m.push(Message {
            body: "<img src=x onerror=alert(1)>".into(),
            ..msg(34, "medic")
        })
    });
    settle().await;
    let last = all(&root, "[data-testid=message]").pop().unwrap();
    assert!(last.query_selector("img").unwrap().is_none());
    assert!(last
        .text_content()
        .unwrap()
        .contains("<img src=x onerror=alert(1)>"));
}

/// A fake backend: each fetch of a key returns its current value and counts the call.
#[derive(Clone)]
struct FakeBackend {
    total: Rc<Cell<i64>>,
    fetches: Rc<Cell<u32>>,
}

impl FakeBackend {
    fn fetcher(
        &self,
    ) -> impl Fn(
        QueryKey,
    )
        -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, FetchError>>>>
           + 'static {
        let me = self.clone();
        move |_key| {
            let me = me.clone();
            Box::pin(async move {
                me.fetches.set(me.fetches.get() + 1);
                gloo_timers::future::TimeoutFuture::new(5).await;
                Ok(json!(me.total.get()))
            })
        }
    }
}

#[wasm_bindgen_test]
async fn badge_stays_live_while_another_page_is_shown_and_bursts_coalesce() {
    let root = fresh_root();
    let backend = FakeBackend {
        total: Rc::new(Cell::new(3)),
        fetches: Rc::new(Cell::new(0)),
    };
    let page = RwSignal::new("list");
    let client = QueryClient::default();
    let b2 = backend.clone();
    let _h = leptos::mount::mount_to(root.clone(), move || {
        let badge =
            use_query::<i64, _, _, _>(client, || Some(QueryKey::unread_total()), b2.fetcher());
        view! {
            <header><UnreadBadge count=badge.data /></header>
            <main>{move || if page.get() == "list" { "the list" } else { "a thread" }}</main>
        }
    });
    settle().await;
    let badge = || {
        q(&root, "[data-testid=unread-badge]")
            .text_content()
            .unwrap()
    };
    assert_eq!(badge(), "3");
    page.set("thread");
    backend.total.set(4);
    client.invalidate(&QueryKey::unread_total());
    settle().await;
    assert_eq!(badge(), "4", "updated while another page is shown");

    // A burst of 100 invalidations costs at most 2 fetches.
    let before = backend.fetches.get();
    backend.total.set(9);
    for _ in 0..100 {
        client.invalidate(&QueryKey::all());
    }
    settle().await;
    assert!(
        backend.fetches.get() - before <= 2,
        "{} fetches",
        backend.fetches.get() - before
    );
    assert_eq!(badge(), "9");
    backend.total.set(0);
    client.invalidate(&QueryKey::unread_total());
    settle().await;
    assert_eq!(badge(), "", "empty at zero");
    assert!(q(&root, "[data-testid=unread-badge]").has_attribute("hidden"));
}

#[wasm_bindgen_test]
async fn a_realtime_event_rerenders_list_thread_and_badge_through_invalidation() {
    let root = fresh_root();
    let client = QueryClient::default();
    let store = Rc::new(std::cell::RefCell::new(
        json!({"total": 1, "list": [], "thread": []}),
    ));
    let mk = |field: &'static str, s: Rc<std::cell::RefCell<Value>>| {
        move |_k: QueryKey| {
            let v = s.borrow()[field].clone();
            async move { Ok::<Value, FetchError>(v) }
        }
    };
    let (s1, s2, s3) = (store.clone(), store.clone(), store.clone());
    let _h = leptos::mount::mount_to(root.clone(), move || {
        let total =
            use_query::<i64, _, _, _>(client, || Some(QueryKey::unread_total()), mk("total", s1));
        let list = use_query::<Vec<ConversationSummary>, _, _, _>(
            client,
            // The list's row of c1: what a change to c1 refetches (issue 17).
            || Some(QueryKey::conversation_row("c1")),
            mk("list", s2),
        );
        let thread = use_query::<Vec<Message>, _, _, _>(
            client,
            || Some(QueryKey::messages("c1")),
            mk("thread", s3),
        );
        view! {
            <UnreadBadge count=total.data />
            <ConversationList conversations=Signal::derive(move || list.data.get().unwrap_or_default())
                selected=Signal::derive(|| None::<String>) on_select=UnsyncCallback::new(|_: String| {}) />
            <MessageThread messages=Signal::derive(move || thread.data.get().unwrap_or_default()) me="me".to_string() follow_next=StoredValue::new(false) />
        }
    });
    settle().await;
    assert_eq!(all(&root, "[data-testid=message]").len(), 0);

    // The server state changes; the fake realtime source delivers one INSERT event.
    *store.borrow_mut() = json!({
        "total": 2,
        "list": [serde_json::to_value(conv("c1", "Jordan Reyes", 1)).unwrap()],
        "thread": [serde_json::to_value(msg(1, "medic")).unwrap()],
    });
    let mut machine = Machine::new(
        "o1",
        "u1",
        Some(Token {
            value: "t".into(),
            expires_at: 4_000_000_000,
        }),
    );
    machine.step(Input::Start, 0.0, 0.0);
    let Command::Send(join) = &machine.step(Input::Opened, 0.0, 0.0)[0] else {
        panic!("no join")
    };
    let r = protocol::decode(join).unwrap().reference;
    let mut bindings = protocol::org_bindings("o1", "u1");
    for (i, b) in bindings.as_array_mut().unwrap().iter_mut().enumerate() {
        b["id"] = json!(i + 1);
    }
    let reply = switchboard_wire::Message {
        join_ref: r.clone(),
        reference: r,
        topic: protocol::org_topic("o1"),
        event: "phx_reply".into(),
        payload: json!({"status": "ok", "response": {"postgres_changes": bindings}}),
    };
    machine.step(Input::Text(protocol::encode(&reply)), 0.0, 0.0);
    let event = switchboard_wire::Message {
        join_ref: None,
        reference: None,
        topic: protocol::org_topic("o1"),
        event: "postgres_changes".into(),
        payload: json!({"ids": [1], "data": {"table": "messages", "type": "INSERT", "record": {"conversation_id": "c1"}}}),
    };
    for action in machine.step(Input::Text(protocol::encode(&event)), 0.0, 0.0) {
        if let Command::Invalidate(keys) = action {
            for k in keys {
                client.invalidate(&k);
            }
        }
    }
    settle().await;
    assert_eq!(
        q(&root, "[data-testid=unread-badge]")
            .text_content()
            .unwrap(),
        "2"
    );
    assert_eq!(all(&root, "[data-testid=conversation-item]").len(), 1);
    assert_eq!(all(&root, "[data-testid=message]").len(), 1);
}

#[wasm_bindgen_test]
async fn loading_older_history_keeps_the_reader_anchored() {
    let root = fresh_root();
    let messages = RwSignal::new((100..130).map(|i| msg(i, "medic")).collect::<Vec<_>>());
    let has_older = RwSignal::new(true);
    let _h = leptos::mount::mount_to(root.clone(), move || {
        let load = UnsyncCallback::new(move |()| {
            messages.update(|m| {
                let older: Vec<Message> = (80..100).map(|i| msg(i, "medic")).collect();
                m.splice(0..0, older);
            });
            has_older.set(false);
        });
        view! {
            <MessageThread messages=Signal::from(messages) me="me".to_string()
                follow_next=StoredValue::new(false) has_older=has_older on_load_older=load />
        }
    });
    settle().await;
    let thread = q(&root, "[data-testid=message-thread]");
    thread.set_scroll_top(0);
    thread
        .dispatch_event(&web_sys::Event::new("scroll").unwrap())
        .unwrap();
    settle().await;
    let anchor = || q(&root, "[data-message-id=msg-100]").unchecked_into::<web_sys::HtmlElement>();
    let offset_before = anchor().offset_top() - thread.scroll_top();
    q(&root, "[data-testid=load-older]")
        .unchecked_into::<web_sys::HtmlElement>()
        .click();
    settle().await;
    assert_eq!(
        all(&root, "[data-testid=message]").len(),
        50,
        "older rows are in"
    );
    assert_eq!(
        anchor().offset_top() - thread.scroll_top(),
        offset_before,
        "the row being read did not move"
    );
    assert!(root
        .query_selector("[data-testid=load-older]")
        .unwrap()
        .is_none());
}

#[wasm_bindgen_test]
async fn an_urgent_message_says_so_and_the_receiving_side_acknowledges_it() {
    use switchboard::api::models::{Ack, AckUser};
    use switchboard::api::Priority;
    use switchboard::urgent::Side;
    let root = fresh_root();
    let urgent = Message {
        body: "Patient coding, need a second unit".into(),
        priority: Priority::Urgent,
        ..msg(1, "medic-1")
    };
    let messages = RwSignal::new(vec![msg(0, "medic-1"), urgent.clone()]);
    let acked = Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
    let acked2 = acked.clone();
    let _h = leptos::mount::mount_to(root.clone(), move || {
        let on_acknowledge = UnsyncCallback::new(move |id: String| acked2.borrow_mut().push(id));
        view! {
            <MessageThread messages=messages me="ana" follow_next=StoredValue::new(false)
                side=Side::Dispatcher on_acknowledge=on_acknowledge />
        }
    });
    settle().await;
    let rows = all(&root, "[data-testid=message]");
    assert_eq!(
        rows[0].get_attribute("data-priority").as_deref(),
        Some("routine")
    );
    let row = &rows[1];
    assert_eq!(
        row.get_attribute("data-priority").as_deref(),
        Some("urgent")
    );
    assert_eq!(row.get_attribute("data-acked").as_deref(), Some("false"));
    assert!(
        row.text_content().unwrap().contains("URGENT"),
        "the word, not colour alone"
    );
    assert_eq!(
        all(&root, "[data-testid=acknowledge]").len(),
        1,
        "only the urgent one"
    );
    let button: web_sys::HtmlElement = q(&root, "[data-testid=acknowledge]").unchecked_into();
    button.click();
    assert_eq!(acked.borrow().clone(), vec![urgent.id.clone()]);

    // The acknowledgement arrives with the refetch: the button gives way to who and when.
    messages.update(|m| {
        m[1].ack = Some(Ack {
            user_id: "ben".into(),
            acked_at: "2026-11-25T02:00:05.000000+00:00".into(),
            user: Some(AckUser {
                display_name: "Ben Adeyemi".into(),
            }),
        })
    });
    settle().await;
    let row = all(&root, "[data-testid=message]").pop().unwrap();
    assert_eq!(row.get_attribute("data-acked").as_deref(), Some("true"));
    assert!(root
        .query_selector("[data-testid=acknowledge]")
        .unwrap()
        .is_none());
    let note = q(&root, "[data-testid=ack-note]").text_content().unwrap();
    assert!(note.contains("Acknowledged by Ben Adeyemi"), "{note}");
}

#[wasm_bindgen_test]
async fn conversations_waiting_for_an_acknowledgement_are_pinned_and_marked() {
    use switchboard::urgent::pin_urgent;
    let root = fresh_root();
    let mut waiting = conv("b", "Priya Natarajan", 1);
    waiting.unacked_urgent = 1;
    waiting.oldest_unacked_urgent_at = Some("2026-11-25T01:00:00.000000+00:00".into());
    let data = RwSignal::new(vec![conv("a", "Jordan Reyes", 2), waiting]);
    let _h = leptos::mount::mount_to(root.clone(), move || {
        let shown = Signal::derive(move || data.with(|d| pin_urgent(d)));
        let none = Signal::derive(|| None::<String>);
        let ignore = UnsyncCallback::new(|_: String| ());
        view! { <ConversationList conversations=shown selected=none on_select=ignore /> }
    });
    settle().await;
    let items = all(&root, "[data-testid=conversation-item]");
    assert_eq!(
        items[0].get_attribute("data-conversation-id").as_deref(),
        Some("b")
    );
    assert_eq!(items[0].get_attribute("data-urgent").as_deref(), Some("1"));
    assert!(items[0].text_content().unwrap().contains("URGENT"));
    assert_eq!(items[1].get_attribute("data-urgent").as_deref(), Some("0"));
    // Acknowledged: back to its place by time.
    data.update(|d| d[1].unacked_urgent = 0);
    settle().await;
    let items = all(&root, "[data-testid=conversation-item]");
    assert_eq!(
        items[0].get_attribute("data-conversation-id").as_deref(),
        Some("a")
    );
}

#[wasm_bindgen_test]
async fn a_reader_at_the_bottom_stays_there_when_the_view_shrinks() {
    let root = fresh_root();
    let messages = RwSignal::new((0..30).map(|i| msg(i, "medic")).collect::<Vec<_>>());
    let _h = leptos::mount::mount_to(root.clone(), move || {
        view! { <MessageThread messages=messages me="me" follow_next=StoredValue::new(false) /> }
    });
    settle().await;
    let thread: web_sys::HtmlElement = q(&root, "[data-testid=message-thread]").unchecked_into();
    assert!(distance(&thread) <= 1, "opens at the bottom");
    // A row appears under the thread (canned replies): the view gets shorter.
    thread.style().set_property("height", "150px").unwrap();
    settle().await;
    assert!(
        distance(&thread) <= 1,
        "still at the bottom: {}",
        distance(&thread)
    );

    // A reader in history is left where they are.
    thread.set_scroll_top(0);
    thread
        .dispatch_event(&web_sys::Event::new("scroll").unwrap())
        .unwrap();
    thread.style().set_property("height", "120px").unwrap();
    settle().await;
    assert_eq!(thread.scroll_top(), 0);
}

#[wasm_bindgen_test]
async fn a_mounted_query_refetches_after_the_cache_is_cleared() {
    let root = fresh_root();
    let backend = FakeBackend {
        total: Rc::new(Cell::new(3)),
        fetches: Rc::new(Cell::new(0)),
    };
    let client = QueryClient::default();
    let b2 = backend.clone();
    let _h = leptos::mount::mount_to(root.clone(), move || {
        let badge =
            use_query::<i64, _, _, _>(client, || Some(QueryKey::unread_total()), b2.fetcher());
        view! { <UnreadBadge count=badge.data /> }
    });
    settle().await;
    let badge = || {
        q(&root, "[data-testid=unread-badge]")
            .text_content()
            .unwrap()
    };
    assert_eq!(badge(), "3");
    // Another user's data: the badge still on screen asks for it at once…
    backend.total.set(7);
    client.clear();
    settle().await;
    assert_eq!(badge(), "7", "refetched after the clear");
    // …and keeps following events afterwards.
    backend.total.set(8);
    client.invalidate(&QueryKey::unread_total());
    settle().await;
    assert_eq!(badge(), "8", "still observed after the clear");
}

/// Runs a script in the page and returns what it evaluates to.
fn js(script: &str) -> wasm_bindgen::JsValue {
    js_sys::eval(script).unwrap_or_else(|e| panic!("{script}: {e:?}"))
}

/// A fake network for a whole page, installed in place of `window.fetch` and
/// `window.WebSocket` until dropped: RPCs answer from `answers[token][rpc name]` (`[]`
/// when absent), and sockets open at once and record what the page sends.
struct FakeNetwork;

impl FakeNetwork {
    fn install(answers: &Value) -> FakeNetwork {
        let install: js_sys::Function = js(r#"(function (answers) {
            const w = window;
            if (!w.__sbReal) w.__sbReal = { fetch: w.fetch, WebSocket: w.WebSocket };
            w.__sbSockets = [];
            w.fetch = async function (input, init) {
                const req = new Request(input, init);
                const token = (req.headers.get('Authorization') || '').replace(/^Bearer /, '');
                const name = new URL(req.url).pathname.split('/').pop();
                const mine = answers[token] || {};
                const body = name in mine ? mine[name] : [];
                return new Response(JSON.stringify(body), {
                    status: 200, headers: { 'Content-Type': 'application/json' } });
            };
            w.WebSocket = class {
                constructor(url) {
                    this.url = url; this.sent = []; this.readyState = 0;
                    w.__sbSockets.push(this);
                    setTimeout(() => {
                        if (this.readyState !== 0) return;
                        this.readyState = 1;
                        if (this.onopen) this.onopen();
                    }, 0);
                }
                send(text) { this.sent.push(text); }
                close() { this.readyState = 3; }
            };
        })"#)
        .unchecked_into();
        let answers = js_sys::JSON::parse(&answers.to_string()).unwrap();
        install
            .call1(&wasm_bindgen::JsValue::NULL, &answers)
            .unwrap();
        FakeNetwork
    }

    /// The joins (topic, payload) sent on sockets that are still open.
    fn open_joins(&self) -> Vec<(String, Value)> {
        let text = js(
            "JSON.stringify(window.__sbSockets.filter(s => s.readyState === 1).map(s => s.sent))",
        )
        .as_string()
        .unwrap();
        let sent: Vec<Vec<String>> = serde_json::from_str(&text).unwrap();
        sent.iter()
            .flatten()
            .filter_map(|t| protocol::decode(t).ok())
            .filter(|m| m.event == "phx_join")
            .map(|m| (m.topic, m.payload))
            .collect()
    }
}

impl Drop for FakeNetwork {
    fn drop(&mut self) {
        js("window.fetch = window.__sbReal.fetch; window.WebSocket = window.__sbReal.WebSocket;");
    }
}

fn session_of(user: &str, name: &str, org: &str, org_name: &str) -> Session {
    Session {
        access_token: format!("token-{user}"),
        refresh_token: format!("refresh-{user}"),
        expires_in: 3600,
        expires_at: (js_sys::Date::now() / 1000.0) as i64 + 3600,
        user: User {
            id: user.into(),
            email: format!("{user}@example.test"),
            app_metadata: AppMetadata {
                org_id: org.into(),
                org_name: org_name.into(),
                app_role: "dispatcher".into(),
            },
            user_metadata: UserMetadata {
                display_name: name.into(),
            },
        },
    }
}

/// Waits up to `ms` for `done`.
async fn until(ms: u32, done: impl Fn() -> bool) -> bool {
    for _ in 0..ms / 20 {
        if done() {
            return true;
        }
        gloo_timers::future::TimeoutFuture::new(20).await;
    }
    done()
}

#[wasm_bindgen_test]
async fn another_users_sign_in_elsewhere_rebuilds_the_layout_for_them() {
    use leptos_router::components::{ParentRoute, Route, Router, Routes};
    use leptos_router::path;
    use switchboard::config::{page_origin, AppConfig};
    use switchboard::pages::Dashboard;
    use switchboard::session::SessionService;

    const STORED: &str = "switchboard.session";
    let ana = session_of("ana", "Ana Okafor", "north", "Northside EMS");
    let lee = session_of("lee", "Lee Park", "east", "Eastside EMS");
    let net = FakeNetwork::install(&json!({
        "token-ana": {"conversations_with_unread": [conv("ca", "Ana's medic", 0)], "unread_total": 0},
        "token-lee": {"conversations_with_unread": [conv("cl", "Lee's medic", 2)], "unread_total": 2},
    }));
    let storage = window().local_storage().unwrap().unwrap();
    storage
        .set_item(STORED, &serde_json::to_string(&ana).unwrap())
        .unwrap();
    let page = window().location().href().unwrap();
    js("history.pushState(null, '', '/messages')");

    let root = fresh_root();
    let h = leptos::mount::mount_to(root.clone(), move || {
        let config = AppConfig {
            supabase_url: String::new(),
            anon_key: "anon".into(),
            urgent_realert_seconds: 60,
        };
        provide_context(SessionService::new(Backend::new(&config, &page_origin())));
        provide_context(config);
        provide_context(QueryClient::default());
        view! {
            <Router>
                <Routes fallback=|| "not found">
                    <ParentRoute path=path!("/messages") view=Dashboard>
                        <Route path=path!("") view=|| "no thread" />
                    </ParentRoute>
                </Routes>
            </Router>
        }
    });
    let text = |css: &str| {
        root.query_selector(css)
            .unwrap()
            .and_then(|e| e.text_content())
            .unwrap_or_default()
    };
    let listed = || {
        all(&root, "[data-testid=conversation-item]")
            .iter()
            .filter_map(|e| e.get_attribute("data-conversation-id"))
            .collect::<Vec<_>>()
    };
    let joined = |org: &str, token: &str| {
        let joins = net.open_joins();
        !joins.is_empty()
            && joins.iter().all(|(topic, payload)| {
                *topic == protocol::org_topic(org) && payload["access_token"] == token
            })
    };
    assert!(until(2_000, || listed() == ["ca"]).await, "ana's list");
    assert_eq!(
        (text(".org"), text(".user")),
        ("Northside EMS".into(), "Ana Okafor".into())
    );
    assert!(
        until(2_000, || joined("north", "token-ana")).await,
        "ana's channel: {:?}",
        net.open_joins()
    );

    // Another tab at this console signs Lee in.
    let lee_text = serde_json::to_string(&lee).unwrap();
    storage.set_item(STORED, &lee_text).unwrap();
    let dispatch: js_sys::Function =
        js("(function (v) { window.dispatchEvent(new StorageEvent('storage', { key: 'switchboard.session', newValue: v })); })")
            .unchecked_into();
    dispatch
        .call1(&wasm_bindgen::JsValue::NULL, &lee_text.into())
        .unwrap();

    let rebuilt = until(2_000, || {
        listed() == ["cl"] && joined("east", "token-lee") && text(".user") == "Lee Park"
    })
    .await;
    let seen = (
        text(".org"),
        text(".user"),
        listed(),
        text("[data-testid=unread-badge]"),
        net.open_joins(),
    );
    drop(h);
    drop(net);
    storage.remove_item(STORED).unwrap();
    js(&format!("history.replaceState(null, '', {page:?})"));
    assert!(rebuilt, "not rebuilt for lee: {seen:?}");
    assert_eq!(
        (seen.0.as_str(), seen.1.as_str(), seen.3.as_str()),
        ("Eastside EMS", "Lee Park", "2"),
        "header and badge are lee's"
    );
}

#[wasm_bindgen_test]
async fn outbox_rows_show_sending_and_failed_and_leave_when_the_thread_holds_them() {
    use switchboard::api::Priority;
    use switchboard::thread::outbox::{Outbox, Outcome};
    use switchboard::thread::outbox_rows::PendingRows;

    let root = fresh_root();
    let messages = RwSignal::new((0..10).map(|i| msg(i, "medic")).collect::<Vec<_>>());
    // The same filter `OutboxService::pending` applies: the outbox's rows of c1 not yet
    // among the thread's rows.
    let outbox = RwSignal::new(Outbox::default());
    outbox.update(|o| {
        o.queue("p-sending".into(), "c1", "On scene", Priority::Routine, 0.0);
        o.queue("p-failed".into(), "c2", "elsewhere", Priority::Routine, 0.0);
    });
    let rows = Signal::derive(move || {
        let ids: Vec<String> = messages.with(|m| m.iter().map(|m| m.id.clone()).collect());
        outbox.with(|o| o.pending("c1", &ids))
    });
    let retried = RwSignal::new(Vec::<String>::new());
    let discarded = RwSignal::new(Vec::<String>::new());
    let pending = PendingRows {
        rows,
        retry: UnsyncCallback::new(move |id: String| retried.update(|r| r.push(id))),
        discard: UnsyncCallback::new(move |id: String| discarded.update(|d| d.push(id))),
    };
    let follow = StoredValue::new(false);
    let _h = leptos::mount::mount_to(root.clone(), move || {
        view! { <MessageThread messages=Signal::from(messages) me="me".to_string() follow_next=follow pending=pending /> }
    });
    settle().await;
    let state_of = |id: &str| {
        all(&root, &format!("[data-message-id='{id}']"))
            .iter()
            .map(|e| e.get_attribute("data-state").unwrap_or_default())
            .collect::<Vec<_>>()
    };
    assert_eq!(state_of("msg-0"), ["sent"], "server rows are sent");
    assert_eq!(state_of("p-sending"), ["sending"]);
    let row = q(&root, "[data-message-id='p-sending']");
    assert!(row.text_content().unwrap().contains("Sending…"));
    assert!(row
        .query_selector("[data-testid=retry-send]")
        .unwrap()
        .is_none());
    let rows_now = all(&root, "[data-testid=message]");
    assert_eq!(
        rows_now
            .last()
            .unwrap()
            .get_attribute("data-message-id")
            .as_deref(),
        Some("p-sending"),
        "after the server rows"
    );

    // A newly queued own message is followed from far up the thread.
    let thread = q(&root, "[data-testid=message-thread]");
    thread.set_scroll_top(0);
    thread
        .dispatch_event(&web_sys::Event::new("scroll").unwrap())
        .unwrap();
    outbox.update(|o| o.queue("p-next".into(), "c1", "Leaving now", Priority::Urgent, 1.0));
    settle().await;
    assert!(distance(&thread) <= 1, "scrolled to the sender's new row");

    // Refused: failed with the server's message, Retry and Discard; the next one waits.
    outbox.update(|o| {
        let sends = o.due(2.0, true);
        let first = sends.iter().find(|s| s.id == "p-sending").unwrap();
        o.answered(
            "p-sending",
            first.token,
            Outcome::Refused("too long".into()),
            3.0,
            0.0,
        );
    });
    settle().await;
    assert_eq!(state_of("p-sending"), ["failed"]);
    let row = q(&root, "[data-message-id='p-sending']");
    assert!(row.text_content().unwrap().contains("Not sent: too long"));
    assert_eq!(state_of("p-next"), ["sending"]);
    assert!(q(&root, "[data-message-id='p-next']")
        .text_content()
        .unwrap()
        .contains("Waiting"));
    row.query_selector("[data-testid=retry-send]")
        .unwrap()
        .unwrap()
        .unchecked_into::<web_sys::HtmlElement>()
        .click();
    row.query_selector("[data-testid=discard-send]")
        .unwrap()
        .unwrap()
        .unchecked_into::<web_sys::HtmlElement>()
        .click();
    assert_eq!(retried.get_untracked(), ["p-sending"]);
    assert_eq!(discarded.get_untracked(), ["p-sending"]);

    // The refetched thread holds p-next: one row, the server's, in the same render.
    outbox.update(|o| o.discard("p-sending"));
    messages.update(|m| {
        m.push(Message {
            sender_id: "me".into(),
            ..msg(10, "me")
        });
        m.last_mut().unwrap().id = "p-next".into();
    });
    settle().await;
    assert_eq!(state_of("p-next"), ["sent"], "never shown twice");
    assert!(root
        .query_selector("[data-state=sending]")
        .unwrap()
        .is_none());
    assert!(root
        .query_selector("[data-state=failed]")
        .unwrap()
        .is_none());
}

#[wasm_bindgen_test]
async fn the_outbox_is_stored_per_user_and_a_corrupt_value_is_dropped() {
    use std::cell::RefCell;
    use switchboard::api::Priority;
    use switchboard::config::{page_origin, AppConfig};
    use switchboard::realtime::machine::ConnectionStatus;
    use switchboard::session::SessionService;
    use switchboard::thread::outbox::parse_stored;
    use switchboard::thread::outbox_store::OutboxService;

    let storage = window().local_storage().unwrap().unwrap();
    // Signed out: a post fails at once as transient and the entry stays queued.
    storage.remove_item("switchboard.session").unwrap();
    storage
        .set_item("switchboard.outbox.u-me", "{not json")
        .unwrap();
    let theirs = r#"{"version":1,"entries":[{"id":"theirs","conversation_id":"c1","body":"not yours","priority":"routine","created_at_ms":0.0,"since_ms":0.0,"attempts":0,"state":"Sending"}]}"#;
    storage
        .set_item("switchboard.outbox.u-other", theirs)
        .unwrap();
    let service = Rc::new(RefCell::new(None));
    let kept = service.clone();
    let root = fresh_root();
    let h = leptos::mount::mount_to(root, move || {
        let config = AppConfig {
            supabase_url: String::new(),
            anon_key: "anon".into(),
            urgent_realert_seconds: 60,
        };
        let session = SessionService::new(Backend::new(&config, &page_origin()));
        *kept.borrow_mut() = Some(OutboxService::start(
            "u-me",
            session,
            QueryClient::default(),
            Signal::stored(ConnectionStatus::Connecting),
        ));
    });
    settle().await;
    let mine = || storage.get_item("switchboard.outbox.u-me").unwrap();
    assert_eq!(
        mine().as_deref(),
        Some(r#"{"version":1,"entries":[]}"#),
        "the corrupt value was replaced"
    );
    let outbox = service.borrow().unwrap();
    let id = outbox.queue("c1", "On scene", Priority::Urgent);
    let (stored, warning) = parse_stored(&mine().unwrap());
    assert_eq!(warning, None);
    assert_eq!(stored.len(), 1, "written at once");
    assert_eq!(
        (stored[0].id.as_str(), stored[0].body.as_str()),
        (id.as_str(), "On scene")
    );
    let rows = outbox.pending(
        Signal::stored(Some("c1".into())),
        Signal::stored(Vec::new()),
    );
    assert_eq!(
        rows.get_untracked()
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>(),
        [id.as_str()],
        "another user's entries are not this user's"
    );
    assert_eq!(
        storage
            .get_item("switchboard.outbox.u-other")
            .unwrap()
            .as_deref(),
        Some(theirs)
    );
    outbox.discard(&id);
    assert_eq!(parse_stored(&mine().unwrap()).0.len(), 0);
    drop(h);
    storage.remove_item("switchboard.outbox.u-me").unwrap();
    storage.remove_item("switchboard.outbox.u-other").unwrap();
}
