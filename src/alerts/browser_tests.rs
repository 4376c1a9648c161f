//! The glue in headless Chromium (wasm-bindgen-test): the Web Lock hand-over between two
//! services, the title and favicon, alerts and reminders in real time, and the switches.
//! Hidden-tab behaviour is not tested here (headless Chromium never hides a page); the pure
//! machines cover it with a driven clock.

use leptos::prelude::*;
use serde_json::json;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

use super::*;
use crate::api::ConversationSummary;
use crate::realtime::ConnectionStatus;

wasm_bindgen_test_configure!(run_in_browser);

async fn wait(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

/// Waits up to `ms` for `done`.
async fn until(ms: u32, done: impl Fn() -> bool) -> bool {
    for _ in 0..ms / 20 {
        if done() {
            return true;
        }
        wait(20).await;
    }
    done()
}

struct Fixture {
    owner: Owner,
    service: AlertService,
    unread: RwSignal<Option<i64>>,
    urgent: RwSignal<Option<i64>>,
    status: RwSignal<ConnectionStatus>,
    opened: RwSignal<Vec<String>>,
}

fn start(realert_ms: u32) -> Fixture {
    // Effects need an executor, which mounting starts (as it does in the app).
    if let Ok(detached) = document().create_element("div") {
        leptos::mount::mount_to(detached.unchecked_into(), || ()).forget();
    }
    let owner = Owner::new();
    owner.with(|| {
        let unread = RwSignal::new(Some(0));
        let urgent = RwSignal::new(Some(0));
        let status = RwSignal::new(ConnectionStatus::Live);
        let opened = RwSignal::new(Vec::<String>::new());
        let conversations = RwSignal::new(Some(vec![ConversationSummary {
            id: "c1".into(),
            medic_id: "medic-1".into(),
            medic_name: "Jordan Reyes".into(),
            last_message_at: None,
            last_message_preview: None,
            unread_count: 0,
            unacked_urgent: 0,
            oldest_unacked_urgent_at: None,
            ..Default::default()
        }]));
        let service = AlertService::start(AlertInputs {
            org_id: "o1".into(),
            org_name: "Metro EMS".into(),
            user_id: "ana".into(),
            role: "dispatcher".into(),
            realert_ms,
            unread: unread.into(),
            urgent: urgent.into(),
            status: status.into(),
            conversations: conversations.into(),
            open_conversation: Signal::derive(|| None),
            navigate: UnsyncCallback::new(move |id: String| opened.update(|o| o.push(id))),
        });
        Fixture {
            owner: owner.clone(),
            service,
            unread,
            urgent,
            status,
            opened,
        }
    })
}

fn message(id: &str, priority: &str) -> serde_json::Value {
    json!({"table": "messages", "type": "INSERT", "record": {
        "id": id, "org_id": "o1", "conversation_id": "c1", "sender_id": "medic-1",
        "body": "Need a second unit", "created_at": "2026-11-30T10:00:00.000000+00:00",
        "priority": priority}})
}

#[wasm_bindgen_test]
async fn the_web_lock_elects_one_tab_and_hands_over() {
    let a = start(60_000);
    assert!(
        until(2_000, || a.service.is_leader().get_untracked()).await,
        "the first service is granted the lock"
    );
    let b = start(60_000);
    wait(200).await;
    assert!(!b.service.is_leader().get_untracked(), "queued behind a");

    a.service.on_change(&message("m1", "routine"));
    b.service.on_change(&message("m1", "routine"));
    assert_eq!(a.service.alert_count().get_untracked(), 1);
    assert_eq!(
        b.service.alert_count().get_untracked(),
        0,
        "one alert per event"
    );

    a.owner.cleanup();
    assert!(
        until(2_000, || b.service.is_leader().get_untracked()).await,
        "released on cleanup: b takes over"
    );
    b.owner.cleanup();
}

#[wasm_bindgen_test]
async fn title_and_favicon_follow_the_counts() {
    let before = document().title();
    let f = start(60_000);
    f.unread.set(Some(2));
    wait(50).await;
    assert_eq!(document().title(), "(2) Switchboard · Metro EMS");
    let icon = || {
        document()
            .query_selector("link[rel~='icon']")
            .ok()
            .flatten()
            .and_then(|l| l.get_attribute("href"))
            .unwrap_or_default()
    };
    assert!(icon().starts_with("data:image/svg+xml,"), "{}", icon());
    assert!(icon().contains("f59e0b"), "the unread dot");
    f.urgent.set(Some(1));
    f.status.set(ConnectionStatus::Reconnecting);
    wait(50).await;
    assert_eq!(
        document().title(),
        "[Offline] (! 2) Switchboard · Metro EMS"
    );
    assert!(icon().contains("dc2626"), "the urgent dot");
    f.owner.cleanup();
    assert_eq!(document().title(), before, "restored on cleanup");
    assert!(!icon().contains("dc2626"));
}

#[wasm_bindgen_test]
async fn urgent_messages_are_reminded_until_acknowledged() {
    let f = start(1_000);
    assert!(until(2_000, || f.service.is_leader().get_untracked()).await);
    f.urgent.set(Some(1));
    f.service.on_change(&message("m9", "urgent"));
    let count = f.service.alert_count();
    assert_eq!(count.get_untracked(), 1);
    assert_eq!(f.service.last_alert().get_untracked(), "urgent:c1");
    assert!(
        until(3_000, || count.get_untracked() >= 2).await,
        "a reminder after the interval"
    );
    assert_eq!(f.service.last_alert().get_untracked(), "reminder:c1");
    f.service
        .on_change(&json!({"table": "message_acks", "type": "INSERT",
        "record": {"message_id": "m9", "org_id": "o1", "user_id": "ben", "acked_at": "x"}}));
    let after_ack = count.get_untracked();
    wait(2_500).await;
    assert_eq!(
        count.get_untracked(),
        after_ack,
        "no reminder after the ack"
    );
    assert!(f.opened.get_untracked().is_empty());
    f.owner.cleanup();
}

#[wasm_bindgen_test]
async fn the_switches_are_opt_in_and_remembered() {
    let storage = web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .expect("localStorage");
    let _ = storage.remove_item(prefs::SOUND_KEY);
    let _ = storage.remove_item(prefs::NOTIFY_KEY);
    let f = start(60_000);
    let root = document()
        .create_element("div")
        .expect("div")
        .unchecked_into::<web_sys::HtmlElement>();
    document()
        .body()
        .expect("body")
        .append_child(&root)
        .expect("append");
    let service = f.service;
    let handle = f.owner.with(|| {
        leptos::mount::mount_to(
            root.clone(),
            move || view! { <AlertControls service=service /> },
        )
    });
    wait(50).await;
    let get = |id: &str| {
        root.query_selector(&format!("[data-testid='{id}']"))
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no {id}"))
    };
    assert_eq!(
        get("alerts-toggle")
            .get_attribute("aria-pressed")
            .as_deref(),
        Some("false")
    );
    assert_eq!(
        get("sound-toggle").get_attribute("aria-pressed").as_deref(),
        Some("false")
    );
    get("sound-toggle")
        .unchecked_into::<web_sys::HtmlElement>()
        .click();
    wait(50).await;
    assert_eq!(
        get("sound-toggle").get_attribute("aria-pressed").as_deref(),
        Some("true")
    );
    assert_eq!(
        storage.get_item(prefs::SOUND_KEY).ok().flatten().as_deref(),
        Some(prefs::ON)
    );
    assert!(get("alert-controls").get_attribute("data-leader").is_some());
    drop(handle);
    f.owner.cleanup();
    let _ = storage.remove_item(prefs::SOUND_KEY);
    root.remove();
}
