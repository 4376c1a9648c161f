//! Urgent messages as dispatchers and medics live them: pinned and counted in every tab of
//! every dispatcher, acknowledged once by the receiving side, cleared everywhere, invisible
//! to another org. The real built app, the real server, Chromium.
//!
//! Needs `dist/` and the server binary; `cargo xtask test` prepares both.

use serde_json::Value;
use switchboard_e2e::api::{self, Api};
use switchboard_e2e::page::{
    ack_note, acknowledge, canned_replies, click_canned_reply, click_urgent_count, login,
    open_conversation, send_urgent_by_keyboard, wait_canned_replies, wait_last_message_body,
    wait_pinned_urgent, wait_urgent_count, wait_urgent_message,
};
use switchboard_e2e::page::{
    enable_alerts, notifications, record_alerts, title, tones, wait_title,
};
use switchboard_e2e::proxy::Proxy;
use switchboard_e2e::server::ServerProcess;
use switchboard_e2e::{scenario, Browser, Session};

/// Re-alert interval the scenarios run with (`--urgent-realert-seconds`).
const REALERT_SECONDS: &str = "3";

/// A demo server with a short re-alert interval, a browser, and Ana signed in over REST.
async fn start() -> (ServerProcess, Browser, Api) {
    let server =
        ServerProcess::start_with_flags(None, &["--urgent-realert-seconds", REALERT_SECONDS])
            .await
            .expect("server");
    let browser = Browser::start().await.expect("browser");
    let ana = Api::login(&server.url(), "ana@northside.test")
        .await
        .expect("ana");
    (server, browser, ana)
}

/// Signs `email` in at `s` with alerts recorded and switched on.
async fn sign_in_alerting(s: &Session, base: &str, email: &str) {
    record_alerts(s).await;
    login(s, base, email).await;
    enable_alerts(s).await;
}

/// The notifications of every tab of one browser, together.
async fn all_notifications(s: &Session, tabs: &[String]) -> Vec<serde_json::Value> {
    let here = s.current_tab().await.unwrap();
    let mut all = Vec::new();
    for tab in tabs {
        s.switch_to(tab).await.unwrap();
        all.extend(notifications(s).await);
    }
    s.switch_to(&here).await.unwrap();
    all
}

/// Waits until the tabs have shown `n` notifications in all, then a moment more; returns
/// them (more than `n` means a duplicate or an early reminder).
async fn settle_notifications(s: &Session, tabs: &[String], n: usize) -> Vec<serde_json::Value> {
    for _ in 0..200 {
        if all_notifications(s, tabs).await.len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    all_notifications(s, tabs).await
}

#[tokio::test]
async fn an_urgent_message_is_pinned_counted_acknowledged_once_and_cleared_everywhere() {
    let (server, browser, ana) = start().await;
    let ben_browser = Browser::start().await.expect("a second browser for Ben");
    let base = server.url();
    let ben_session = ben_browser.session.clone();
    scenario("urgent", browser.session.clone(), move |s| async move {
        let convs = ana.conversations().await.unwrap();
        // Far down the list: pinning must lift it above newer conversations.
        let conv: Value = convs[7].clone();
        let id = conv["id"].as_str().unwrap().to_string();
        let medic = api::medic_for(&base, &conv).await.unwrap();

        sign_in_alerting(&s, &base, "ana@northside.test").await;
        let first_tab = s.current_tab().await.unwrap();
        let second_tab = s.new_tab().await.unwrap();
        s.switch_to(&second_tab).await.unwrap();
        record_alerts(&s).await;
        s.goto(&format!("{base}/messages")).await.unwrap();
        enable_alerts(&s).await;
        let ana_tabs = [first_tab.clone(), second_tab.clone()];
        sign_in_alerting(&ben_session, &base, "ben@northside.test").await;
        let ben_tabs = [ben_session.current_tab().await.unwrap()];
        assert!(
            canned_replies(&ben_session).await.is_empty(),
            "canned replies belong under an open thread"
        );

        let urgent = medic
            .post_urgent(&id, "Patient coding, need a second unit")
            .await
            .unwrap();
        let mid = urgent["id"].as_str().unwrap().to_string();
        assert_eq!(urgent["priority"], "urgent");

        for (who, session) in [("Ana, tab 2", &s), ("Ben", &ben_session)] {
            wait_pinned_urgent(session, &format!("{who}: pinned"), &id, 1).await;
            wait_urgent_count(session, &format!("{who}: counted"), 1).await;
        }
        s.switch_to(&first_tab).await.unwrap();
        wait_pinned_urgent(&s, "Ana, tab 1: pinned", &id, 1).await;
        wait_urgent_count(&s, "Ana, tab 1: counted", 1).await;
        assert!(title(&s).await.starts_with("(! "), "{}", title(&s).await);

        // One notification per dispatcher, however many tabs; it names the medic, stays up
        // and replaces rather than stacks (tag = conversation).
        let ana_first = settle_notifications(&s, &ana_tabs, 1).await;
        let ben_first = settle_notifications(&ben_session, &ben_tabs, 1).await;
        assert_eq!(ana_first.len(), 1, "Ana, two tabs: {ana_first:?}");
        assert_eq!(ben_first.len(), 1, "Ben: {ben_first:?}");
        let note = &ana_first[0];
        assert_eq!(note["tag"], id.as_str());
        assert_eq!(note["requireInteraction"], true);
        let body = note["body"].as_str().unwrap_or_default();
        assert!(
            body.contains(conv["medic_name"].as_str().unwrap())
                && body.contains("need a second unit"),
            "the medic's name and the preview: {note}"
        );
        // Unacknowledged: every dispatcher is alerted again after the interval.
        let ana_again = settle_notifications(&s, &ana_tabs, 2).await;
        assert!(ana_again.len() >= 2, "reminded: {ana_again:?}");
        assert!(
            !tones(&s).await.is_empty() || {
                s.switch_to(&second_tab).await.unwrap();
                let other = !tones(&s).await.is_empty();
                s.switch_to(&first_tab).await.unwrap();
                other
            },
            "a tone played in Ana's alerting tab"
        );

        // The counter opens the conversation; reading is not acknowledging.
        click_urgent_count(&s).await;
        wait_urgent_message(&s, "Ana sees it, unacknowledged", &mid, false).await;
        assert_eq!(
            ana.unacked_urgent_total().await.unwrap(),
            1,
            "still waiting"
        );

        open_conversation(&ben_session, &id).await;
        wait_urgent_message(&ben_session, "Ben sees it", &mid, false).await;
        acknowledge(&ben_session, &mid).await;
        wait_urgent_message(&ben_session, "Ben's view acknowledged", &mid, true).await;

        wait_urgent_message(&s, "Ana's tab 1 shows the acknowledgement", &mid, true).await;
        assert!(
            ack_note(&s, &mid).await.contains("Acknowledged by Ben"),
            "who acknowledged, in Ana's view"
        );
        wait_urgent_count(&s, "Ana, tab 1: cleared", 0).await;
        s.switch_to(&second_tab).await.unwrap();
        wait_urgent_count(&s, "Ana, tab 2: cleared", 0).await;
        wait_urgent_count(&ben_session, "Ben: cleared", 0).await;
        // Acknowledged: the reminders stop in every tab.
        let after_ack = all_notifications(&s, &ana_tabs).await.len();
        let ben_after_ack = all_notifications(&ben_session, &ben_tabs).await.len();
        tokio::time::sleep(std::time::Duration::from_secs(4)).await;
        assert_eq!(
            all_notifications(&s, &ana_tabs).await.len(),
            after_ack,
            "no reminder after the acknowledgement"
        );
        assert_eq!(
            all_notifications(&ben_session, &ben_tabs).await.len(),
            ben_after_ack
        );
        assert!(!title(&s).await.starts_with("(! "), "{}", title(&s).await);

        // The medic reads Ben's acknowledgement over REST; Lakeside sees nothing of it.
        let ben = Api::login(&base, "ben@northside.test").await.unwrap();
        let ack = medic
            .ack_of(&mid)
            .await
            .unwrap()
            .expect("the medic reads it");
        assert_eq!(ack["user_id"], ben.user["id"]);
        let lee = Api::login(&base, "lee@lakeside.test").await.unwrap();
        assert_eq!(lee.ack_of(&mid).await.unwrap(), None);
        assert_eq!(lee.unacked_urgent_total().await.unwrap(), 0);

        // The other way round: Ana orders with Ctrl+Shift+Enter, the crew confirms.
        s.switch_to(&first_tab).await.unwrap();
        send_urgent_by_keyboard(&s, "Divert to Mercy General, trauma bay 2").await;
        let mut order = None;
        for _ in 0..100 {
            if medic.unacked_urgent_total().await.unwrap() == 1 {
                let rows = medic
                    .rpc("conversations_with_unread", serde_json::json!({}))
                    .await
                    .unwrap();
                order = rows.as_array().and_then(|r| {
                    r.iter()
                        .find(|c| c["id"] == id.as_str())
                        .map(|c| c["oldest_unacked_urgent_at"].clone())
                });
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            order.is_some_and(|at| at.is_string()),
            "the medic has an order to confirm"
        );

        // Canned replies: the org's row under the thread, one click sends.
        wait_canned_replies(&s, 8).await;
        let labels = canned_replies(&s).await;
        assert_eq!(
            labels.first().map(String::as_str),
            Some("Copy"),
            "{labels:?}"
        );
        click_canned_reply(&s, 0).await;
        wait_last_message_body(&s, "Copy.").await;
    })
    .await;
    ben_browser.stop().await;
    browser.stop().await;
}

#[tokio::test]
async fn the_tab_title_follows_unread_urgent_and_offline() {
    let (server, browser, ana) = start().await;
    let proxy = Proxy::start(server.port).await.unwrap();
    let base = proxy.url();
    let direct = server.url();
    scenario("title", browser.session.clone(), move |s| async move {
        let conv = ana.conversations().await.unwrap()[2].clone();
        let id = conv["id"].as_str().unwrap().to_string();
        let medic = api::medic_for(&direct, &conv).await.unwrap();
        login(&s, &base, "ana@northside.test").await;
        let unread = ana.unread_total().await.unwrap();
        wait_title(&s, &format!("({unread}) Switchboard · Northside EMS")).await;

        medic.post(&id, "Back in service").await.unwrap();
        wait_title(&s, &format!("({}) Switchboard · Northside EMS", unread + 1)).await;
        medic
            .post_urgent(&id, "Shots fired, need PD")
            .await
            .unwrap();
        wait_title(
            &s,
            &format!("(! {}) Switchboard · Northside EMS", unread + 2),
        )
        .await;

        proxy.cut().await;
        wait_title(
            &s,
            &format!("[Offline] (! {}) Switchboard · Northside EMS", unread + 2),
        )
        .await;
        proxy.restore().await.unwrap();
        wait_title(
            &s,
            &format!("(! {}) Switchboard · Northside EMS", unread + 2),
        )
        .await;
    })
    .await;
    browser.stop().await;
}
