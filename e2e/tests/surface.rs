//! The dispatcher's working surface (issue 15) as a dispatcher and a medic use it: the real
//! built app, the real server, Chromium.
//!
//! Needs `dist/` and the server binary, as `tests/dashboard.rs`; `cargo xtask test` runs it.

use std::future::Future;
use std::sync::Arc;

use serde_json::Value;
use switchboard_e2e::api::{self, Api};
use switchboard_e2e::page::{
    badge, choose_theme, clear_resource_timings, divider_above, divider_in_view, filter_list,
    focused_message, is_shown, items, list_total, login, mark_unread, message_ids,
    open_conversation, open_search_result, page_luminance, path, phone_viewport, press,
    requests_to, scroll_above_bottom, search_messages, start_conversation, thread_header,
    toggle_filter, view_anchor, wait_badge, wait_conversation_count, wait_divider, wait_focused,
    wait_highlighted_in_view, wait_listed_subject, wait_on_top, wait_path, wait_shown,
    wait_thread_subject, wait_unread,
};
use switchboard_e2e::server::ServerProcess;
use switchboard_e2e::{scenario, Browser, Session};

async fn setup() -> (ServerProcess, Browser, Api) {
    switchboard_e2e::setup(None).await.expect("setup")
}

/// Runs scenario `name` against a fresh server and browser; the body gets the browser, the
/// server's URL and Ana (Northside dispatcher) signed in over REST.
async fn play<F, Fut>(name: &str, body: F)
where
    F: FnOnce(Arc<Session>, String, Api) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (server, browser, ana) = setup().await;
    let base = server.url();
    scenario(name, browser.session.clone(), move |s| body(s, base, ana)).await;
    browser.stop().await;
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn starting_a_conversation_reaches_the_other_side_live_both_ways() {
    let (server, browser, ana) = setup().await;
    let base = server.url();
    let medic_browser = Browser::start().await.expect("second browser");
    let medic_session = medic_browser.session.clone();
    scenario(
        "start-conversation",
        browser.session.clone(),
        move |s| async move {
            let medic = Api::login(&base, "medic03@northside.test").await.unwrap();
            let medic_id = medic.user["id"].as_str().unwrap().to_string();
            let medic_name = medic.user["user_metadata"]["display_name"]
                .as_str()
                .unwrap()
                .to_string();
            login(&s, &base, "ana@northside.test").await;
            login(&medic_session, &base, "medic03@northside.test").await;
            let medic_list = items(&medic_session).await.len();

            // Ana starts one with medic03: it opens with its header, and medic03's list shows
            // it without a reload.
            let subject = "Medic 3 · Inc 26-0501";
            let id = start_conversation(&s, Some(&medic_id), subject, "Status at the scene?").await;
            wait_thread_subject(&s, subject).await;
            assert_eq!(thread_header(&s).await[0], medic_name);
            assert_eq!(wait_listed_subject(&medic_session, subject).await, id);
            wait_conversation_count(&medic_session, "medic sees it", medic_list + 1).await;
            wait_unread(&medic_session, "medic has it unread", &id, 1).await;

            // The reverse: medic03 starts one with dispatch; Ana's list shows it live.
            let back = "Medic 3 · Inc 26-0502";
            let theirs =
                start_conversation(&medic_session, None, back, "Requesting a second unit").await;
            assert_eq!(wait_listed_subject(&s, back).await, theirs);
            wait_unread(&s, "Ana has it unread", &theirs, 1).await;
            let rows = ana.conversations().await.unwrap();
            let row = rows
                .iter()
                .find(|c| id_of(c) == theirs)
                .expect("listed for Ana");
            assert_eq!(row["medic_id"].as_str(), Some(medic_id.as_str()));
            assert_eq!(row["subject"].as_str(), Some(back));
            // Nothing was stored twice.
            assert_eq!(rows.iter().filter(|c| c["subject"] == back).count(), 1);
        },
    )
    .await;
    medic_browser.stop().await;
    browser.stop().await;
}

#[tokio::test]
async fn a_thread_opens_at_the_new_divider_and_mark_unread_moves_badge_and_list() {
    play("divider-mark-unread", |s, base, ana| async move {
        login(&s, &base, "ana@northside.test").await;
        let convs = ana.conversations().await.unwrap();
        let conv = convs[convs.len() - 1].clone();
        let id = id_of(&conv);
        let medic = api::medic_for(&base, &conv).await.unwrap();
        // Enough unread messages that they cannot fit in the view.
        let mut sent = Vec::new();
        for n in 0..30 {
            let row = medic
                .post(
                    &id,
                    &format!("Update {n}: vitals stable, line two\nline three"),
                )
                .await
                .unwrap();
            sent.push(id_of(&row));
        }
        let total = ana.unread_total().await.unwrap();
        let unread = ana
            .conversations()
            .await
            .unwrap()
            .iter()
            .find(|c| id_of(c) == id)
            .unwrap()["unread_count"]
            .as_i64()
            .unwrap();
        assert!(unread >= 30);
        wait_unread(&s, "list shows them unread", &id, unread).await;
        open_conversation(&s, &id).await;
        wait_divider(&s).await;
        // The divider stands above the first unread message, and the view starts there.
        let first_unread = ana_first_unread(&ana, &id, unread).await;
        assert_eq!(divider_above(&s).await, Some(first_unread));
        assert!(divider_in_view(&s).await, "opened at the divider");
        // Reading to the bottom marks it read; the divider stays put while open.
        press(&s, "Escape", false, false, false).await;
        wait_unread(&s, "read at the bottom", &id, 0).await;
        wait_badge(&s, total - unread).await;
        assert!(
            divider_above(&s).await.is_some(),
            "divider stays while reading"
        );

        // Mark as unread from the 28th message: three medic messages are unread again,
        // in the list and the badge at once, and stay so while the thread is open.
        mark_unread(&s, &sent[27]).await;
        wait_unread(&s, "marked unread", &id, 3).await;
        wait_badge(&s, total - unread + 3).await;
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert_eq!(
            badge(&s).await,
            total - unread + 3,
            "not read again behind my back"
        );

        // Next time it opens at the divider above that message, even though the thread's
        // cached rows are behind (two more came while another conversation was open): the
        // divider is placed from the refetched rows, not the cached ones.
        let other = id_of(&convs[0]);
        open_conversation(&s, &other).await;
        for n in 0..2 {
            medic.post(&id, &format!("Later {n}")).await.unwrap();
        }
        wait_unread(&s, "two more unread", &id, 5).await;
        open_conversation(&s, &id).await;
        wait_divider(&s).await;
        assert_eq!(divider_above(&s).await, Some(sent[27].clone()));
    })
    .await;
}

/// The id of the oldest of the `unread` newest medic messages of conversation `id`.
async fn ana_first_unread(ana: &Api, id: &str, unread: i64) -> String {
    let rows = ana
        .get(&format!(
            "/rest/v1/messages?select=id,sender:users(role)&conversation_id=eq.{id}&order=created_at.desc&limit=500"
        ))
        .await
        .unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .filter(|m| m["sender"]["role"] == "medic")
        .nth(unread as usize - 1)
        .map(id_of)
        .unwrap()
}

#[tokio::test]
async fn the_filter_and_the_keyboard_find_a_conversation() {
    play("filter-keyboard", |s, base, ana| async move {
        login(&s, &base, "ana@northside.test").await;
        let convs = ana.conversations().await.unwrap();
        let all = convs.len();
        let target = convs[2].clone();
        let subject = target["subject"].as_str().unwrap().to_string();
        assert!(!subject.is_empty(), "the demo conversations have subjects");
        // Ctrl+K focuses the filter; its subject finds exactly that conversation.
        press(&s, "k", false, false, true).await;
        wait_focused(&s, "conversation-filter").await;
        filter_list(&s, &subject).await;
        wait_conversation_count(&s, "filtered", 1).await;
        assert_eq!(items(&s).await[0]["id"], target["id"]);
        filter_list(&s, "no such medic anywhere").await;
        wait_shown(&s, "[data-testid=no-match]", true).await;
        filter_list(&s, "").await;
        wait_conversation_count(&s, "unfiltered", all).await;
        // "Unread" keeps only conversations with unread messages.
        let with_unread = convs
            .iter()
            .filter(|c| c["unread_count"].as_i64() > Some(0))
            .count();
        toggle_filter(&s, "filter-unread").await;
        wait_conversation_count(&s, "unread only", with_unread).await;
        toggle_filter(&s, "filter-unread").await;
        wait_conversation_count(&s, "all again", all).await;

        // Alt+↓ opens the next conversation, Alt+↑ the previous, Alt+Shift+↓ the next
        // unread one.
        let listed: Vec<String> = items(&s)
            .await
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
        open_conversation(&s, &listed[0]).await;
        press(&s, "ArrowDown", true, false, false).await;
        wait_path(&s, &format!("/messages/{}", listed[1])).await;
        press(&s, "ArrowUp", true, false, false).await;
        wait_path(&s, &format!("/messages/{}", listed[0])).await;
        let rows = items(&s).await;
        if let Some(next_unread) = rows.iter().skip(1).find(|i| i["unread"].as_i64() > Some(0)) {
            press(&s, "ArrowDown", true, true, false).await;
            wait_path(
                &s,
                &format!("/messages/{}", next_unread["id"].as_str().unwrap()),
            )
            .await;
        }
        // Focus follows the keyboard's moves through the list; `/` then focuses message
        // search.
        wait_focused(&s, "conversation-item").await;
        press(&s, "/", false, false, false).await;
        wait_focused(&s, "message-search").await;
    })
    .await;
}

#[tokio::test]
async fn search_finds_a_message_in_another_conversation_and_opens_it_there() {
    play("search", |s, base, ana| async move {
        login(&s, &base, "ana@northside.test").await;
        let convs = ana.conversations().await.unwrap();
        let (here, there) = (id_of(&convs[0]), convs[convs.len() - 1].clone());
        let there_id = id_of(&there);
        let medic = api::medic_for(&base, &there).await.unwrap();
        let earlier = id_of(
            &medic
                .post(&there_id, "Bleeding controlled with a tourniquet")
                .await
                .unwrap(),
        );
        let found = id_of(
            &medic
                .post(
                    &there_id,
                    "Patient allergic to penicillin, noted on the tag",
                )
                .await
                .unwrap(),
        );
        // Bury it under a page and more of newer messages.
        for n in 0..60 {
            medic
                .post(&there_id, &format!("Routine update {n}"))
                .await
                .unwrap();
        }
        open_conversation(&s, &here).await;
        let results = search_messages(&s, "penicil").await;
        let hit = results
            .iter()
            .find(|r| r["message"] == found.as_str())
            .expect("the message is found");
        assert_eq!(hit["conversation"], there_id.as_str());
        assert_eq!(
            hit["marks"][0], "penicillin",
            "the matched word is highlighted"
        );
        open_search_result(&s, &found).await;
        wait_path(&s, &format!("/messages/{there_id}")).await;
        wait_highlighted_in_view(&s, &found).await;
        assert_eq!(focused_message(&s).await, found, "keyboard focus is on it");
        let ids = message_ids(&s).await;
        let at = ids.iter().position(|m| *m == found).unwrap();
        assert!(at > 0, "history above the found message is loaded too");

        // Esc in the search box belongs to the box: the reader's place in history stays.
        scroll_above_bottom(&s, 600).await;
        let place = view_anchor(&s).await;
        let input = s
            .wait_for(
                "[data-testid=message-search]",
                std::time::Duration::from_secs(20),
            )
            .await
            .unwrap();
        s.send_keys(&input, "tourn").await.unwrap();
        press(&s, "Escape", false, false, false).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(
            view_anchor(&s).await,
            place,
            "Esc in search did not move the thread"
        );

        // Another result in the thread already open: the view goes to it.
        let again = search_messages(&s, "tourniquet").await;
        assert!(again.iter().any(|r| r["message"] == earlier.as_str()));
        open_search_result(&s, &earlier).await;
        wait_highlighted_in_view(&s, &earlier).await;
    })
    .await;
}

#[tokio::test]
async fn the_dark_theme_renders_and_is_remembered() {
    play("dark-theme", |s, base, _ana| async move {
        login(&s, &base, "ana@northside.test").await;
        choose_theme(&s, "dark").await;
        let (background, text) = page_luminance(&s).await;
        assert!(background < 0.1, "dark background, luminance {background}");
        assert!(text > 0.4, "light text, luminance {text}");
        s.goto(&format!("{base}/messages")).await.unwrap();
        wait_shown(&s, "[data-testid=conversation-item]", true).await;
        let (again, _) = page_luminance(&s).await;
        assert!(again < 0.1, "still dark after a reload");
        choose_theme(&s, "light").await;
        let (light, _) = page_luminance(&s).await;
        assert!(light > 0.8, "light background, luminance {light}");
    })
    .await;
}

#[tokio::test]
async fn on_a_phone_the_list_and_the_thread_are_two_screens() {
    play("phone", |s, base, ana| async move {
        login(&s, &base, "ana@northside.test").await;
        phone_viewport(&s, Some((390, 844))).await;
        let convs = ana.conversations().await.unwrap();
        wait_shown(&s, "[data-testid=conversation-list]", true).await;
        assert!(!is_shown(&s, "[data-testid=back-to-list]").await);
        open_conversation(&s, &id_of(&convs[0])).await;
        wait_shown(&s, "[data-testid=conversation-list]", false).await;
        wait_shown(&s, "[data-testid=back-to-list]", true).await;
        assert!(is_shown(&s, "[data-testid=composer]").await);
        let back = s
            .wait_for(
                "[data-testid=back-to-list]",
                std::time::Duration::from_secs(20),
            )
            .await
            .unwrap();
        s.click(&back).await.unwrap();
        wait_path(&s, "/messages").await;
        wait_shown(&s, "[data-testid=conversation-list]", true).await;
        assert_eq!(path(&s).await, "/messages");
        phone_viewport(&s, None).await;
    })
    .await;
}

#[tokio::test]
async fn a_change_refetches_its_row_of_the_list_not_the_list() {
    play("row-refetch", |s, base, ana| async move {
        login(&s, &base, "ana@northside.test").await;
        let convs = ana.conversations().await.unwrap();
        let far = convs[convs.len() - 1].clone();
        let far_id = id_of(&far);
        let medic = api::medic_for(&base, &far).await.unwrap();
        // The first answer of a row is fetched when the change names it; then again.
        medic.post(&far_id, "First news").await.unwrap();
        wait_on_top(&s, "moved to the top", &far_id).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        // What the whole list's first page costs (the sign-in fetched it).
        let page = requests_to(&s, "conversations_with_unread")
            .await
            .iter()
            .map(|(_, bytes)| *bytes)
            .max()
            .unwrap_or(0);
        assert!(page > 0);
        clear_resource_timings(&s).await;
        let before = ana.unread_total().await.unwrap();
        medic.post(&far_id, "More news").await.unwrap();
        wait_badge(&s, before + 1).await;
        wait_unread(&s, "row refetched", &far_id, 2).await;
        let calls = requests_to(&s, "conversations_with_unread").await;
        assert!(!calls.is_empty(), "the row was refetched");
        for (url, bytes) in &calls {
            // One row (a few hundred bytes with headers), never the list: compressed, the
            // demo's 40 conversations are several times that.
            assert!(
                *bytes <= 5_000 && *bytes * 3 < page,
                "{url} moved {bytes} B for one change; the list page is {page} B"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn older_conversations_come_a_page_at_a_time() {
    let (server, browser, ana) = setup().await;
    let base = server.url();
    // 15 more conversations (no messages yet, so the oldest in the list's order) before
    // Ana signs in: 55 in all, past the first page of 50.
    let medic = Api::login(&base, "medic01@northside.test").await.unwrap();
    let medic_id = medic.user["id"].as_str().unwrap().to_string();
    for n in 0..15 {
        medic
            .start_conversation(&medic_id, &format!("Medic 6 · Inc 26-09{n:02}"))
            .await
            .unwrap();
    }
    let all = ana.conversations().await.unwrap().len();
    assert_eq!(all, 55);
    scenario("show-older", browser.session.clone(), move |s| async move {
        login(&s, &base, "ana@northside.test").await;
        wait_shown(&s, "[data-testid=show-older]", true).await;
        let first = list_total(&s).await;
        assert!((50..55).contains(&first), "the first page holds {first}");
        let button = s
            .wait_for(
                "[data-testid=show-older]",
                std::time::Duration::from_secs(20),
            )
            .await
            .unwrap();
        s.click(&button).await.unwrap();
        wait_conversation_count(&s, "every conversation", 55).await;
        wait_shown(&s, "[data-testid=show-older]", false).await;
    })
    .await;
    browser.stop().await;
}
