//! The dashboard as a dispatcher lives it: the real built app, the real server, Chromium.
//!
//! Needs `dist/` (trunk build --release) and target/debug/switchboard-server; `cargo xtask
//! test` prepares both and runs this with --test-threads=1 (one browser at a time).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard_e2e::api::{self, Api};
use switchboard_e2e::page::{
    badge, click_new_messages_pill, connection_state, has_new_messages_pill, header_org, items,
    login, login_error, message_count, message_ids, open_conversation, open_list, page_html, path,
    record_shown_ids, recorded_ids, remember_thread_and_composer, rendered_message,
    scroll_above_bottom, shows_unread, sign_in_here, sign_out, signed_in_listing, store_session_of,
    stored_access_token, submit_login, thread_and_composer_kept, type_draft, view_anchor,
    wait_at_bottom, wait_badge, wait_connection_refusal, wait_connection_state,
    wait_conversation_count, wait_header_org, wait_message, wait_new_messages_pill, wait_on_top,
    wait_unread,
};
use switchboard_e2e::proxy::Proxy;
use switchboard_e2e::server::ServerProcess;
use switchboard_e2e::{scenario, Browser, Session};

/// The medic of a conversation of Ana's list, signed in to post into it.
async fn medic_for(base: &str, conv: &Value) -> Api {
    api::medic_for(base, conv).await.unwrap()
}

async fn setup(ttl: Option<u64>) -> (ServerProcess, Browser, Api) {
    switchboard_e2e::setup(ttl).await.expect("setup")
}

/// Runs scenario `name` against a fresh server (`ttl`: its token lifetime) and browser; the
/// body gets the browser, the server's URL and Ana signed in over REST.
async fn play<F, Fut>(name: &str, ttl: Option<u64>, body: F)
where
    F: FnOnce(Arc<Session>, String, Api) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (server, browser, ana) = setup(ttl).await;
    let base = server.url();
    scenario(name, browser.session.clone(), move |s| body(s, base, ana)).await;
    browser.stop().await;
}

/// Signs Ana in at the console; her conversations as the server lists them.
async fn sign_in_ana(s: &Session, base: &str, ana: &Api) -> Vec<Value> {
    login(s, base, "ana@northside.test").await;
    ana.conversations().await.unwrap()
}

/// The ids of the conversations `user` may see, as the server lists them.
async fn conversation_ids(user: &Api) -> Vec<String> {
    let convs = user.conversations().await.unwrap();
    convs
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// Has a medic post `body` into a conversation; the new message's id.
async fn say(medic: &Api, conversation: &str, body: &str) -> String {
    let row = medic.post(conversation, body).await.unwrap();
    row["id"].as_str().unwrap().to_string()
}

/// Signs Ana in, opens the `nth` conversation of her list, and signs its medic in over REST:
/// the conversation's id and the medic.
async fn open_nth(s: &Session, base: &str, ana: &Api, nth: usize) -> (String, Api) {
    let conv = sign_in_ana(s, base, ana).await[nth].clone();
    let id = conv["id"].as_str().unwrap().to_string();
    open_conversation(s, &id).await;
    (id, medic_for(base, &conv).await)
}

#[tokio::test]
async fn login_shows_list_counts_and_badge_and_rejects_a_wrong_password() {
    play("login", None, |s, base, ana| async move {
        s.goto(&format!("{base}/login")).await.unwrap();
        submit_login(&s, "ana@northside.test", "wrong-password").await;
        assert!(login_error(&s).await.contains("Invalid login credentials"));

        let expected = sign_in_ana(&s, &base, &ana).await;
        wait_conversation_count(&s, "40 conversations", 40).await;
        let shown = items(&s).await;
        let shown_ids: Vec<&str> = shown.iter().map(|i| i["id"].as_str().unwrap()).collect();
        let expected_ids: Vec<&str> = expected.iter().map(|c| c["id"].as_str().unwrap()).collect();
        // The list is windowed: the rows in the DOM are the first ones, in the server's order.
        assert!(shown_ids.len() >= 20, "a screenful and more is rendered");
        assert_eq!(
            shown_ids,
            expected_ids[..shown_ids.len()],
            "newest first, as the server orders them"
        );
        for (item, conv) in shown.iter().zip(&expected) {
            assert_eq!(item["unread"], conv["unread_count"]);
        }
        let total = ana.unread_total().await.unwrap();
        assert!(total > 0);
        wait_badge(&s, total).await;
    })
    .await;
}

#[tokio::test]
async fn a_medic_message_appears_live_reorders_the_list_and_updates_another_tab() {
    play("live-message", None, |s, base, ana| async move {
        let convs = sign_in_ana(&s, &base, &ana).await;
        let open = convs[3].clone();
        let other = convs[5].clone();
        let first_tab = s.current_tab().await.unwrap();
        let second_tab = s.new_tab().await.unwrap();
        s.switch_to(&second_tab).await.unwrap();
        open_list(&s, &base).await;
        let badge_before = badge(&s).await;
        s.switch_to(&first_tab).await.unwrap();
        open_conversation(&s, open["id"].as_str().unwrap()).await;

        let medic = medic_for(&base, &open).await;
        let mid = say(
            &medic,
            open["id"].as_str().unwrap(),
            "Patient conscious, BP 120/80",
        )
        .await;
        wait_message(&s, &mid).await;
        wait_on_top(&s, "list reordered", open["id"].as_str().unwrap()).await;

        let other_medic = medic_for(&base, &other).await;
        say(
            &other_medic,
            other["id"].as_str().unwrap(),
            "Requesting ALS intercept",
        )
        .await;
        wait_on_top(
            &s,
            "other conversation on top",
            other["id"].as_str().unwrap(),
        )
        .await;
        s.switch_to(&second_tab).await.unwrap();
        wait_badge(&s, badge_before + 1).await;
    })
    .await;
}

#[tokio::test]
async fn scrolled_up_reader_keeps_position_and_near_bottom_reader_follows() {
    play("scroll-rule", None, |s, base, ana| async move {
        let (id, medic) = open_nth(&s, &base, &ana, 0).await;
        // Let the thread settle at the bottom, read, first.
        wait_at_bottom(&s, "thread at bottom").await;
        wait_unread(&s, "opened thread read", &id, 0).await;
        let total = ana.unread_total().await.unwrap();
        wait_badge(&s, total).await;
        // Followed long enough that a refetch may shed old rows (page 50 + slack 10)…
        while message_count(&s).await <= 60 {
            wait_message(&s, &say(&medic, &id, "Status check").await).await;
        }
        wait_at_bottom(&s, "thread at bottom").await;
        let rows_before = message_count(&s).await;

        // …but not once the reader has scrolled up: nothing above them goes away.
        scroll_above_bottom(&s, 300).await;
        let before = view_anchor(&s).await;
        let mid = say(&medic, &id, "First update while you read").await;
        wait_message(&s, &mid).await;
        wait_new_messages_pill(&s).await;
        let after = view_anchor(&s).await;
        assert_eq!(
            before, after,
            "the view did not move: same scroll offset, same row in the same place"
        );
        assert_eq!(message_count(&s).await, rows_before + 1, "no row shed");
        // Below the view, not seen: it counts as unread until the reader goes down to it.
        wait_unread(&s, "unseen message counted unread", &id, 1).await;
        wait_badge(&s, total + 1).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            shows_unread(&s, &id, 1).await,
            "still unread while scrolled up"
        );
        click_new_messages_pill(&s).await;
        wait_at_bottom(&s, "pill took the reader down").await;
        wait_unread(&s, "read once seen", &id, 0).await;
        wait_badge(&s, total).await;

        scroll_above_bottom(&s, 50).await;
        let mid = say(&medic, &id, "Second update, you are near the bottom").await;
        wait_message(&s, &mid).await;
        wait_at_bottom(&s, "followed to bottom").await;
    })
    .await;
}

#[tokio::test]
async fn switching_threads_opens_each_at_its_bottom_and_reads_it() {
    play("switch-threads", None, |s, base, ana| async move {
        let convs = sign_in_ana(&s, &base, &ana).await;
        let (a, b) = (convs[0].clone(), convs[1].clone());
        let (a_id, b_id) = (
            a["id"].as_str().unwrap().to_string(),
            b["id"].as_str().unwrap().to_string(),
        );
        // B is read and cached; then the reader scrolls up in A's history.
        open_conversation(&s, &b_id).await;
        wait_unread(&s, "B read", &b_id, 0).await;
        open_conversation(&s, &a_id).await;
        wait_at_bottom(&s, "A at bottom").await;
        scroll_above_bottom(&s, 300).await;
        let mid = say(
            &medic_for(&base, &b).await,
            &b_id,
            "News in B while you read A",
        )
        .await;
        wait_unread(&s, "B unread", &b_id, 1).await;
        // Back to B: its newest message in view at the bottom, nothing "new" below, and read.
        open_conversation(&s, &b_id).await;
        wait_message(&s, &mid).await;
        wait_at_bottom(&s, "B at bottom").await;
        wait_unread(&s, "B read again", &b_id, 0).await;
        assert!(
            !has_new_messages_pill(&s).await,
            "no 'new messages' pill for a thread just opened"
        );
    })
    .await;
}

/// A conversation so busy that a refetch of its thread is always in flight still opens. The
/// opening used to wait for a moment with none in flight, which a stream of messages never
/// gives: at about 18 messages a second the thread stayed empty for as long as they came
/// (`cargo xtask bench shift`).
#[tokio::test]
async fn a_busy_conversation_opens_while_its_messages_keep_coming() {
    play("busy-open", None, |s, base, ana| async move {
        let conv = sign_in_ana(&s, &base, &ana).await[0].clone();
        let id = conv["id"].as_str().unwrap().to_string();
        let medic = Arc::new(medic_for(&base, &conv).await);
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        // A slow link (300 ms each way round, as a congested network gives) and posters
        // back to back: a refetch of the thread is always in flight. They post for longer
        // than the page waits for the thread (20 s), unless it opens and stops them.
        s.cdp("Network.enable", json!({})).await.unwrap();
        s.cdp(
            "Network.emulateNetworkConditions",
            json!({"offline": false, "latency": 300, "downloadThroughput": -1, "uploadThroughput": -1}),
        )
        .await
        .unwrap();
        let lanes: Vec<_> = (0..3)
            .map(|lane| {
                let (medic, stop, sent, id) =
                    (medic.clone(), stop.clone(), sent.clone(), id.clone());
                tokio::spawn(async move {
                    let started = Instant::now();
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed)
                        && started.elapsed() < Duration::from_secs(40)
                    {
                        medic.post(&id, &format!("Busy {lane}-{i}")).await.unwrap();
                        sent.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                    }
                })
            })
            .collect();
        while sent.load(Ordering::Relaxed) < 100 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        open_conversation(&s, &id).await;
        let still_coming = lanes.iter().all(|l| !l.is_finished());
        stop.store(true, Ordering::Relaxed);
        for lane in lanes {
            lane.await.unwrap();
        }
        assert!(still_coming, "the stream ended before the thread opened");
        let last = say(&medic, &id, "Quiet now").await;
        // It opened at its "New" divider (the unread part is taller than the view); the pill
        // leads down to the newest.
        wait_new_messages_pill(&s).await;
        click_new_messages_pill(&s).await;
        wait_message(&s, &last).await;
        wait_at_bottom(&s, "the busy thread at its bottom").await;
        wait_unread(&s, "the busy thread read", &id, 0).await;
    })
    .await;
}

#[tokio::test]
async fn reading_clears_unread_in_both_tabs_and_the_badge() {
    play("read-clears", None, |s, base, ana| async move {
        let convs = sign_in_ana(&s, &base, &ana).await;
        let unread = convs
            .iter()
            .find(|c| c["unread_count"].as_i64().unwrap() > 0)
            .unwrap()
            .clone();
        let n = unread["unread_count"].as_i64().unwrap();
        let total = ana.unread_total().await.unwrap();
        let id = unread["id"].as_str().unwrap().to_string();
        let first_tab = s.current_tab().await.unwrap();
        wait_badge(&s, total).await;
        let second_tab = s.new_tab().await.unwrap();
        s.switch_to(&second_tab).await.unwrap();
        s.goto(&format!("{base}/messages")).await.unwrap();
        open_conversation(&s, &id).await;
        wait_unread(&s, "cleared in this tab", &id, 0).await;
        wait_badge(&s, total - n).await;
        s.switch_to(&first_tab).await.unwrap();
        wait_unread(&s, "cleared in the other tab", &id, 0).await;
        wait_badge(&s, total - n).await;
    })
    .await;
}

/// Every expected message is on screen exactly once, and nothing is shown twice.
async fn on_screen_once(s: &Session, expected: &[String]) {
    for id in expected {
        wait_message(s, id).await;
    }
    let ids = message_ids(s).await;
    for id in expected {
        assert_eq!(
            ids.iter().filter(|x| *x == id).count(),
            1,
            "{id} exactly once"
        );
    }
    let mut all = ids.clone();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), ids.len(), "no message twice");
}

#[tokio::test]
async fn network_loss_and_server_crash_lose_nothing_and_duplicate_nothing() {
    let (mut server, browser, ana) = setup(None).await;
    let proxy = Proxy::start(server.port).await.unwrap();
    let base = proxy.url();
    let direct = server.url();
    let conv = ana.conversations().await.unwrap()[0].clone();
    let id = conv["id"].as_str().unwrap().to_string();
    let medic = medic_for(&direct, &conv).await;
    scenario(
        "network-loss",
        browser.session.clone(),
        move |s: Arc<Session>| async move {
            login(&s, &base, "ana@northside.test").await;
            open_conversation(&s, &id).await;
            wait_connection_state(&s, "Live").await;

            proxy.cut().await;
            wait_connection_state(&s, "Reconnecting…").await;
            let mut sent = Vec::new();
            for i in 0..20 {
                sent.push(say(&medic, &id, &format!("while offline {i}")).await);
            }
            proxy.restore().await.unwrap();
            wait_connection_state(&s, "Live").await;
            on_screen_once(&s, &sent).await;

            server.kill().await;
            wait_connection_state(&s, "Reconnecting…").await;
            server.restart().await.unwrap();
            let medic = Api::login(&direct, medic.user["email"].as_str().unwrap())
                .await
                .unwrap();
            wait_connection_state(&s, "Live").await;
            for i in 0..5 {
                sent.push(say(&medic, &id, &format!("after restart {i}")).await);
            }
            on_screen_once(&s, &sent).await;
        },
    )
    .await;
    browser.stop().await;
}

#[tokio::test]
async fn short_lived_tokens_refresh_without_losing_events() {
    // 20 s tokens: the client must refresh ahead of expiry, keep REST and realtime working.
    play("token-refresh", Some(20), |s, base, ana| async move {
        let (id, medic) = open_nth(&s, &base, &ana, 1).await;
        // A draft half typed and the page's elements: a refresh must leave both alone.
        type_draft(&s, "Unit 4 en route, ETA").await;
        let first_token = stored_access_token(&s).await;
        // A second tab on the same session: refreshes in either must not sign the other out.
        let first_tab = s.current_tab().await.unwrap();
        let second_tab = s.new_tab().await.unwrap();
        s.switch_to(&second_tab).await.unwrap();
        open_list(&s, &base).await;
        s.switch_to(&first_tab).await.unwrap();
        remember_thread_and_composer(&s).await;
        let mut sent = Vec::new();
        // Post across the first token's expiry (20 s + the server's 30 s leeway).
        for i in 0..7 {
            sent.push(say(&medic, &id, &format!("tick {i}")).await);
            tokio::time::sleep(Duration::from_secs(8)).await;
        }
        for m in &sent {
            wait_message(&s, m).await;
        }
        assert_eq!(connection_state(&s).await, "Live");
        assert_ne!(
            stored_access_token(&s).await,
            first_token,
            "the session was refreshed"
        );
        let kept = thread_and_composer_kept(&s).await;
        assert_eq!(
            kept,
            json!([true, true, "Unit 4 en route, ETA"]),
            "the page was not rebuilt by the refresh"
        );
        s.switch_to(&second_tab).await.unwrap();
        wait_connection_state(&s, "Live").await;
        assert!(
            signed_in_listing(&s, &id).await,
            "the other tab is still signed in"
        );
    })
    .await;
}

#[tokio::test]
async fn lakeside_never_sees_northside() {
    play("isolation", None, |s, base, ana| async move {
        let lee = Api::login(&base, "lee@lakeside.test").await.unwrap();
        let lake_ids = conversation_ids(&lee).await;
        let north = ana.conversations().await.unwrap();
        // Ana worked at this console before: she signs out and Lee signs in, in the same
        // page. Nothing of hers may show, not even for a moment from a cache.
        login(&s, &base, "ana@northside.test").await;
        open_conversation(&s, north[0]["id"].as_str().unwrap()).await;
        sign_out(&s).await;
        record_shown_ids(&s).await;
        sign_in_here(&s, "lee@lakeside.test").await;
        let lake_total = lee.unread_total().await.unwrap();
        wait_badge(&s, lake_total).await;
        let medic = medic_for(&base, &north[0]).await;
        let mid = say(&medic, north[0]["id"].as_str().unwrap(), "NORTHSIDE-SECRET").await;
        // Give a leaked event every chance to arrive, then look.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let shown: Vec<String> = items(&s)
            .await
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(shown.len(), lake_ids.len());
        assert!(shown.iter().all(|i| lake_ids.contains(i)));
        let html = page_html(&s).await;
        assert!(!html.contains("NORTHSIDE-SECRET") && !html.contains(&mid));
        for c in &north {
            assert!(!html.contains(c["id"].as_str().unwrap()));
        }
        let ever = recorded_ids(&s).await;
        assert!(
            !ever.is_empty() && ever.iter().all(|i| lake_ids.contains(i)),
            "only Lakeside rows were ever shown after the switch: {ever:?}"
        );
        assert_eq!(badge(&s).await, lake_total);
    })
    .await;
}

#[tokio::test]
async fn an_xss_payload_renders_as_text() {
    play("xss", None, |s, base, ana| async move {
        let (id, medic) = open_nth(&s, &base, &ana, 0).await;
        let payload = "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>";
        let mid = say(&medic, &id, payload).await;
        wait_message(&s, &mid).await;
        let check = rendered_message(&s, &mid).await;
        assert!(check["text"].as_str().unwrap().contains(payload), "{check}");
        assert_eq!(check["imgs"], 0);
        assert!(check["xss"].is_null());
    })
    .await;
}

#[tokio::test]
async fn a_sign_in_in_another_tab_hands_this_tab_to_the_new_user() {
    play("user-switch", None, |s, base, ana| async move {
        let north = ana.conversations().await.unwrap();
        let lee = Api::login(&base, "lee@lakeside.test").await.unwrap();
        let lake_ids = conversation_ids(&lee).await;
        let north_id = north[0]["id"].as_str().unwrap().to_string();
        let north_org = ana.user["app_metadata"]["org_name"]
            .as_str()
            .unwrap()
            .to_string();
        let lake_org = lee.user["app_metadata"]["org_name"]
            .as_str()
            .unwrap()
            .to_string();
        // Ana reads a thread; at the same console, Lee signs in in another tab.
        login(&s, &base, "ana@northside.test").await;
        open_conversation(&s, &north_id).await;
        wait_connection_state(&s, "Live").await;
        assert_eq!(header_org(&s).await, north_org);
        let ana_tab = s.current_tab().await.unwrap();
        let other_tab = s.new_tab().await.unwrap();
        s.switch_to(&other_tab).await.unwrap();
        s.goto(&format!("{base}/config.json")).await.unwrap();
        store_session_of(&s, &base, "lee@lakeside.test").await;
        s.switch_to(&ana_tab).await.unwrap();
        // Ana's tab is Lee's now: his org, his list, his live channel, off Ana's thread.
        wait_header_org(&s, &lake_org).await;
        wait_conversation_count(&s, "Lee's list", lake_ids.len()).await;
        let shown: Vec<String> = items(&s)
            .await
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
        assert!(shown.iter().all(|i| lake_ids.contains(i)), "{shown:?}");
        assert_eq!(path(&s).await, "/messages", "Ana's thread is not Lee's");
        assert!(!page_html(&s).await.contains(&north_id));
        wait_connection_state(&s, "Live").await;
        wait_badge(&s, lee.unread_total().await.unwrap()).await;
        // Live for Lee: his medic's message counts at once.
        let lake = lee.conversations().await.unwrap();
        let medic = medic_for(&base, &lake[0]).await;
        say(
            &medic,
            lake[0]["id"].as_str().unwrap(),
            "Lakeside unit on scene",
        )
        .await;
        wait_badge(&s, lee.unread_total().await.unwrap()).await;
    })
    .await;
}

#[tokio::test]
async fn a_tab_the_server_refuses_says_why() {
    let server = ServerProcess::start_with_flags(None, &["--sockets-per-session", "1"])
        .await
        .expect("server");
    let browser = Browser::start().await.expect("browser");
    let base = server.url();
    scenario(
        "refused-tab",
        browser.session.clone(),
        move |s| async move {
            login(&s, &base, "ana@northside.test").await;
            wait_connection_state(&s, "Live").await;
            let first_tab = s.current_tab().await.unwrap();
            let second_tab = s.new_tab().await.unwrap();
            s.switch_to(&second_tab).await.unwrap();
            open_list(&s, &base).await;
            // One tab per login session is allowed here: the second is refused and says so,
            // rather than looking merely slow.
            let reason = wait_connection_refusal(&s).await;
            assert!(reason.contains("tabs"), "the refusal is readable: {reason}");
            assert!(!reason.contains("ConnectionRateLimitReached"), "{reason}");
            s.switch_to(&first_tab).await.unwrap();
            wait_connection_state(&s, "Live").await;
        },
    )
    .await;
    browser.stop().await;
}

#[tokio::test]
async fn outbox_survives_a_reload_with_the_server_down_and_delivers_exactly_once_after() {
    use switchboard_e2e::page::{
        block_api, reload_thread, rows_with_body, send_by_keyboard, wait_one_row, WAIT,
    };
    let (mut server, browser, ana) = setup(None).await;
    let base = server.url();
    let conv = ana.conversations().await.unwrap()[0].clone();
    let id = conv["id"].as_str().unwrap().to_string();
    scenario(
        "outbox-reload",
        browser.session.clone(),
        move |s: Arc<Session>| async move {
            login(&s, &base, "ana@northside.test").await;
            open_conversation(&s, &id).await;
            wait_connection_state(&s, "Live").await;

            // The server goes away; the dispatcher sends anyway.
            server.kill().await;
            wait_connection_state(&s, "Reconnecting…").await;
            let body = format!("outbox-{}", uuid::Uuid::new_v4().simple());
            send_by_keyboard(&s, &body).await;
            let client_id = wait_one_row(&s, &body, "sending").await;

            // Reload while the API is still unreachable (the server is back only to serve
            // the app's files): the message is still there, still sending, same id.
            block_api(&s, true).await;
            server.restart().await.unwrap();
            reload_thread(&s).await;
            assert_eq!(wait_one_row(&s, &body, "sending").await, client_id);

            // The server comes back for real: delivered, once, under its client id.
            server.kill().await;
            block_api(&s, false).await;
            server.restart().await.unwrap();
            assert_eq!(wait_one_row(&s, &body, "sent").await, client_id);
            let ana = Api::login(&base, "ana@northside.test").await.unwrap();
            let stored = ana.messages_with_body(&id, &body).await.unwrap();
            assert_eq!(stored.len(), 1, "stored once: {stored:?}");
            assert_eq!(stored[0]["id"], json!(client_id));
            assert!(
                rows_with_body(&s, &body).await.len() == 1,
                "shown once after delivery"
            );

            // A second tab of the same user queues; the first (the Web Lock holder) posts,
            // once each, in order.
            let first_tab = s.current_tab().await.unwrap();
            let second_tab = s.new_tab().await.unwrap();
            s.switch_to(&second_tab).await.unwrap();
            s.goto(&format!("{base}/messages/{id}")).await.unwrap();
            s.wait_for("[data-testid=message-thread] [data-testid=message]", WAIT)
                .await
                .unwrap();
            let bodies: Vec<String> = (0..2).map(|i| format!("{body}-tab2-{i}")).collect();
            for b in &bodies {
                send_by_keyboard(&s, b).await;
            }
            let mut ids = Vec::new();
            for b in &bodies {
                ids.push(wait_one_row(&s, b, "sent").await);
            }
            s.switch_to(&first_tab).await.unwrap();
            for b in &bodies {
                wait_one_row(&s, b, "sent").await;
                assert_eq!(
                    ana.messages_with_body(&id, b).await.unwrap().len(),
                    1,
                    "{b} once"
                );
            }
            let shown = message_ids(&s).await;
            let at = |x: &String| shown.iter().position(|y| y == x).unwrap();
            assert!(at(&ids[0]) < at(&ids[1]), "in the order sent");
        },
    )
    .await;
    browser.stop().await;
}
