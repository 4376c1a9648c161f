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
use switchboard_e2e::{scenario, setup, Browser};

#[tokio::test]
async fn an_urgent_message_is_pinned_counted_acknowledged_once_and_cleared_everywhere() {
    let (server, browser, ana) = setup(None).await.expect("setup");
    let ben_browser = Browser::start().await.expect("a second browser for Ben");
    let base = server.url();
    let ben_session = ben_browser.session.clone();
    scenario("urgent", browser.session.clone(), move |s| async move {
        let convs = ana.conversations().await.unwrap();
        // Far down the list: pinning must lift it above newer conversations.
        let conv: Value = convs[7].clone();
        let id = conv["id"].as_str().unwrap().to_string();
        let medic = api::medic_for(&base, &conv).await.unwrap();

        login(&s, &base, "ana@northside.test").await;
        let first_tab = s.current_tab().await.unwrap();
        let second_tab = s.new_tab().await.unwrap();
        s.switch_to(&second_tab).await.unwrap();
        s.goto(&format!("{base}/messages")).await.unwrap();
        login(&ben_session, &base, "ben@northside.test").await;
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
