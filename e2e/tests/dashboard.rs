//! The dashboard as a dispatcher lives it: the real built app, the real server, Chromium.
//!
//! Needs `dist/` (trunk build --release) and target/debug/switchboard-server; `cargo xtask
//! test` prepares both and runs this with --test-threads=1 (one browser at a time).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use switchboard_e2e::api::Api;
use switchboard_e2e::page::{
    badge, items, login, message_ids, open_conversation, scroll_above_bottom, sign_in_here,
    unread_is, wait_badge, wait_message, AT_BOTTOM, WAIT,
};
use switchboard_e2e::proxy::Proxy;
use switchboard_e2e::server::ServerProcess;
use switchboard_e2e::{scenario, wait_until, Browser, Session};

/// The medic and conversation of Ana's list that a medic account can post into.
async fn medic_for(base: &str, conv: &Value) -> Api {
    for n in 1..=12 {
        let api = Api::login(base, &format!("medic{n:02}@northside.test"))
            .await
            .unwrap();
        if api.user["id"] == conv["medic_id"] {
            return api;
        }
    }
    panic!("no medic for {conv}");
}

async fn setup(ttl: Option<u64>) -> (ServerProcess, Browser, Api) {
    let server = ServerProcess::start(ttl).await.expect("server");
    let browser = Browser::start().await.expect("browser");
    let ana = Api::login(&server.url(), "ana@northside.test")
        .await
        .unwrap();
    (server, browser, ana)
}

#[tokio::test]
async fn login_shows_list_counts_and_badge_and_rejects_a_wrong_password() {
    let (server, browser, ana) = setup(None).await;
    let base = server.url();
    scenario("login", browser.session.clone(), move |s: Arc<Session>| async move {
        s.goto(&format!("{base}/login")).await.unwrap();
        let email = s.wait_for("[data-testid=login-form] input[type=email]", WAIT).await.unwrap();
        s.send_keys(&email, "ana@northside.test").await.unwrap();
        let password = s.wait_for("[data-testid=login-form] input[type=password]", WAIT).await.unwrap();
        s.send_keys(&password, "wrong-password").await.unwrap();
        s.click(&s.wait_for("[data-testid=login-form] button[type=submit]", WAIT).await.unwrap()).await.unwrap();
        let alert = s.wait_for("[data-testid=login-form] [role=alert]", WAIT).await.unwrap();
        assert!(s.text(&alert).await.unwrap().contains("Invalid login credentials"));

        login(&s, &base, "ana@northside.test").await;
        let expected = ana.conversations().await.unwrap();
        wait_until(&s, "40 conversations", "return document.querySelectorAll('[data-testid=conversation-item]').length === 40;", WAIT).await.unwrap();
        let shown = items(&s).await;
        let shown_ids: Vec<&str> = shown.iter().map(|i| i["id"].as_str().unwrap()).collect();
        let expected_ids: Vec<&str> = expected.iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(shown_ids, expected_ids, "newest first, as the server orders them");
        for (item, conv) in shown.iter().zip(&expected) {
            assert_eq!(item["unread"], conv["unread_count"]);
        }
        let total = ana.rpc("unread_total", json!({})).await.unwrap().as_i64().unwrap();
        assert!(total > 0);
        wait_badge(&s, total).await;
    })
    .await;
    browser.stop().await;
}

#[tokio::test]
async fn a_medic_message_appears_live_reorders_the_list_and_updates_another_tab() {
    let (server, browser, ana) = setup(None).await;
    let base = server.url();
    scenario("live-message", browser.session.clone(), move |s: Arc<Session>| async move {
        login(&s, &base, "ana@northside.test").await;
        let convs = ana.conversations().await.unwrap();
        let open = convs[3].clone();
        let other = convs[5].clone();
        let first_tab = s.current_tab().await.unwrap();
        let second_tab = s.new_tab().await.unwrap();
        s.switch_to(&second_tab).await.unwrap();
        s.goto(&format!("{base}/messages")).await.unwrap();
        s.wait_for("[data-testid=conversation-item]", WAIT).await.unwrap();
        let badge_before = badge(&s).await;
        s.switch_to(&first_tab).await.unwrap();
        open_conversation(&s, open["id"].as_str().unwrap()).await;

        let medic = medic_for(&base, &open).await;
        let row = medic.post(open["id"].as_str().unwrap(), "Patient conscious, BP 120/80").await.unwrap();
        wait_message(&s, row["id"].as_str().unwrap()).await;
        wait_until(&s, "list reordered", &format!("return document.querySelector('[data-testid=conversation-item]').dataset.conversationId === '{}';", open["id"].as_str().unwrap()), WAIT)
            .await
            .unwrap();

        let other_medic = medic_for(&base, &other).await;
        other_medic.post(other["id"].as_str().unwrap(), "Requesting ALS intercept").await.unwrap();
        wait_until(&s, "other conversation on top", &format!("return document.querySelector('[data-testid=conversation-item]').dataset.conversationId === '{}';", other["id"].as_str().unwrap()), WAIT)
            .await
            .unwrap();
        s.switch_to(&second_tab).await.unwrap();
        wait_badge(&s, badge_before + 1).await;
    })
    .await;
    browser.stop().await;
}

#[tokio::test]
async fn scrolled_up_reader_keeps_position_and_near_bottom_reader_follows() {
    let (server, browser, ana) = setup(None).await;
    let base = server.url();
    scenario("scroll-rule", browser.session.clone(), move |s: Arc<Session>| async move {
        login(&s, &base, "ana@northside.test").await;
        let conv = ana.conversations().await.unwrap()[0].clone();
        let id = conv["id"].as_str().unwrap().to_string();
        open_conversation(&s, &id).await;
        let medic = medic_for(&base, &conv).await;
        // Let the thread settle at the bottom, read, first.
        wait_until(&s, "thread at bottom", AT_BOTTOM, WAIT).await.unwrap();
        let unread_is = |n: i64| unread_is(&id, n);
        wait_until(&s, "opened thread read", &unread_is(0), WAIT).await.unwrap();
        let total = ana.rpc("unread_total", json!({})).await.unwrap().as_i64().unwrap();
        wait_badge(&s, total).await;
        // Followed long enough that a refetch may shed old rows (page 50 + slack 10)…
        let rows = "return document.querySelectorAll('[data-testid=message]').length;";
        while s.execute(rows, vec![]).await.unwrap().as_u64().unwrap() <= 60 {
            let row = medic.post(&id, "Status check").await.unwrap();
            wait_message(&s, row["id"].as_str().unwrap()).await;
        }
        wait_until(&s, "thread at bottom", AT_BOTTOM, WAIT).await.unwrap();
        let rows_before = s.execute(rows, vec![]).await.unwrap().as_u64().unwrap();

        // …but not once the reader has scrolled up: nothing above them goes away.
        scroll_above_bottom(&s, 300).await;
        // What the reader looks at: the first row in view and its offset from the top.
        let in_view = "const t = document.querySelector('[data-testid=message-thread]'); const top = t.getBoundingClientRect().top;
            const r = [...t.querySelectorAll('[data-testid=message]')].find(e => e.getBoundingClientRect().bottom > top);
            return [t.scrollTop, r.dataset.messageId, Math.round(r.getBoundingClientRect().top - top)];";
        let before = s.execute(in_view, vec![]).await.unwrap();
        let row = medic.post(&id, "First update while you read").await.unwrap();
        wait_message(&s, row["id"].as_str().unwrap()).await;
        s.wait_for("[data-testid=new-messages-pill]", WAIT).await.unwrap();
        let after = s.execute(in_view, vec![]).await.unwrap();
        assert_eq!(before, after, "the view did not move: same scroll offset, same row in the same place");
        assert_eq!(s.execute(rows, vec![]).await.unwrap().as_u64().unwrap(), rows_before + 1, "no row shed");
        // Below the view, not seen: it counts as unread until the reader goes down to it.
        wait_until(&s, "unseen message counted unread", &unread_is(1), WAIT).await.unwrap();
        wait_badge(&s, total + 1).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(s.execute(&unread_is(1), vec![]).await.unwrap(), json!(true), "still unread while scrolled up");
        s.execute("document.querySelector('[data-testid=new-messages-pill]').click(); return 0;", vec![]).await.unwrap();
        wait_until(&s, "pill took the reader down", AT_BOTTOM, WAIT).await.unwrap();
        wait_until(&s, "read once seen", &unread_is(0), WAIT).await.unwrap();
        wait_badge(&s, total).await;

        scroll_above_bottom(&s, 50).await;
        let row = medic.post(&id, "Second update, you are near the bottom").await.unwrap();
        wait_message(&s, row["id"].as_str().unwrap()).await;
        wait_until(&s, "followed to bottom", AT_BOTTOM, WAIT).await.unwrap();
    })
    .await;
    browser.stop().await;
}

#[tokio::test]
async fn switching_threads_opens_each_at_its_bottom_and_reads_it() {
    let (server, browser, ana) = setup(None).await;
    let base = server.url();
    scenario(
        "switch-threads",
        browser.session.clone(),
        move |s: Arc<Session>| async move {
            login(&s, &base, "ana@northside.test").await;
            let convs = ana.conversations().await.unwrap();
            let (a, b) = (convs[0].clone(), convs[1].clone());
            let (a_id, b_id) = (
                a["id"].as_str().unwrap().to_string(),
                b["id"].as_str().unwrap().to_string(),
            );
            // B is read and cached; then the reader scrolls up in A's history.
            open_conversation(&s, &b_id).await;
            wait_until(&s, "B read", &unread_is(&b_id, 0), WAIT)
                .await
                .unwrap();
            open_conversation(&s, &a_id).await;
            wait_until(&s, "A at bottom", AT_BOTTOM, WAIT)
                .await
                .unwrap();
            scroll_above_bottom(&s, 300).await;
            let row = medic_for(&base, &b)
                .await
                .post(&b_id, "News in B while you read A")
                .await
                .unwrap();
            wait_until(&s, "B unread", &unread_is(&b_id, 1), WAIT)
                .await
                .unwrap();
            // Back to B: its newest message in view at the bottom, nothing "new" below, and read.
            open_conversation(&s, &b_id).await;
            wait_message(&s, row["id"].as_str().unwrap()).await;
            wait_until(&s, "B at bottom", AT_BOTTOM, WAIT)
                .await
                .unwrap();
            wait_until(&s, "B read again", &unread_is(&b_id, 0), WAIT)
                .await
                .unwrap();
            let pill = s
                .execute(
                    "return !!document.querySelector('[data-testid=new-messages-pill]');",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(
                pill,
                json!(false),
                "no 'new messages' pill for a thread just opened"
            );
        },
    )
    .await;
    browser.stop().await;
}

#[tokio::test]
async fn reading_clears_unread_in_both_tabs_and_the_badge() {
    let (server, browser, ana) = setup(None).await;
    let base = server.url();
    scenario(
        "read-clears",
        browser.session.clone(),
        move |s: Arc<Session>| async move {
            login(&s, &base, "ana@northside.test").await;
            let convs = ana.conversations().await.unwrap();
            let unread = convs
                .iter()
                .find(|c| c["unread_count"].as_i64().unwrap() > 0)
                .unwrap()
                .clone();
            let n = unread["unread_count"].as_i64().unwrap();
            let total = ana
                .rpc("unread_total", json!({}))
                .await
                .unwrap()
                .as_i64()
                .unwrap();
            let id = unread["id"].as_str().unwrap().to_string();
            let first_tab = s.current_tab().await.unwrap();
            wait_badge(&s, total).await;
            let second_tab = s.new_tab().await.unwrap();
            s.switch_to(&second_tab).await.unwrap();
            s.goto(&format!("{base}/messages")).await.unwrap();
            open_conversation(&s, &id).await;
            let unread_zero = unread_is(&id, 0);
            wait_until(&s, "cleared in this tab", &unread_zero, WAIT)
                .await
                .unwrap();
            wait_badge(&s, total - n).await;
            s.switch_to(&first_tab).await.unwrap();
            wait_until(&s, "cleared in the other tab", &unread_zero, WAIT)
                .await
                .unwrap();
            wait_badge(&s, total - n).await;
        },
    )
    .await;
    browser.stop().await;
}

const STATE: &str = "const e = document.querySelector('[data-testid=connection-state]'); return e ? e.textContent.trim() : '';";

async fn wait_state(s: &Session, want: &str) {
    let script = format!("return ((() => {{ {STATE} }})()) === '{want}';");
    if wait_until(s, want, &script, Duration::from_secs(60))
        .await
        .is_err()
    {
        let now = s.execute(STATE, vec![]).await.unwrap_or_default();
        panic!("connection state never became {want}; it is {now}");
    }
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
            wait_state(&s, "Live").await;

            proxy.cut().await;
            wait_state(&s, "Reconnecting…").await;
            let mut sent = Vec::new();
            for i in 0..20 {
                sent.push(
                    medic
                        .post(&id, &format!("while offline {i}"))
                        .await
                        .unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
            proxy.restore().await.unwrap();
            wait_state(&s, "Live").await;
            on_screen_once(&s, &sent).await;

            server.kill().await;
            wait_state(&s, "Reconnecting…").await;
            server.restart().await.unwrap();
            let medic = Api::login(&direct, medic.user["email"].as_str().unwrap())
                .await
                .unwrap();
            wait_state(&s, "Live").await;
            for i in 0..5 {
                sent.push(
                    medic
                        .post(&id, &format!("after restart {i}"))
                        .await
                        .unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
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
    let (server, browser, ana) = setup(Some(20)).await;
    let base = server.url();
    scenario("token-refresh", browser.session.clone(), move |s: Arc<Session>| async move {
        login(&s, &base, "ana@northside.test").await;
        let conv = ana.conversations().await.unwrap()[1].clone();
        let id = conv["id"].as_str().unwrap().to_string();
        open_conversation(&s, &id).await;
        let medic = medic_for(&base, &conv).await;
        // A draft half typed and the page's elements: a refresh must leave both alone.
        let composer = s.wait_for("[data-testid=composer]", WAIT).await.unwrap();
        s.send_keys(&composer, "Unit 4 en route, ETA").await.unwrap();
        let token = "return JSON.parse(localStorage.getItem('switchboard.session')).access_token;";
        let first_token = s.execute(token, vec![]).await.unwrap();
        // A second tab on the same session: refreshes in either must not sign the other out.
        let first_tab = s.current_tab().await.unwrap();
        let second_tab = s.new_tab().await.unwrap();
        s.switch_to(&second_tab).await.unwrap();
        s.goto(&format!("{base}/messages")).await.unwrap();
        s.wait_for("[data-testid=conversation-item]", WAIT).await.unwrap();
        s.switch_to(&first_tab).await.unwrap();
        s.execute("window.__thread = document.querySelector('[data-testid=message-thread]'); window.__composer = document.querySelector('[data-testid=composer]'); return 0;", vec![]).await.unwrap();
        let mut sent = Vec::new();
        // Post across the first token's expiry (20 s + the server's 30 s leeway).
        for i in 0..7 {
            sent.push(medic.post(&id, &format!("tick {i}")).await.unwrap()["id"].as_str().unwrap().to_string());
            tokio::time::sleep(Duration::from_secs(8)).await;
        }
        for m in &sent {
            wait_message(&s, m).await;
        }
        let state = s.execute("return document.querySelector('[data-testid=connection-state]').textContent.trim();", vec![]).await.unwrap();
        assert_eq!(state, "Live");
        assert_ne!(s.execute(token, vec![]).await.unwrap(), first_token, "the session was refreshed");
        let kept = s.execute("const c = document.querySelector('[data-testid=composer]'); return [document.querySelector('[data-testid=message-thread]') === window.__thread, c === window.__composer, c.value];", vec![]).await.unwrap();
        assert_eq!(kept, json!([true, true, "Unit 4 en route, ETA"]), "the page was not rebuilt by the refresh");
        s.switch_to(&second_tab).await.unwrap();
        wait_state(&s, "Live").await;
        let last = format!("return !!document.querySelector('[data-testid=conversation-item][data-conversation-id=\"{id}\"]') && !document.querySelector('[data-testid=login-form]');");
        assert_eq!(s.execute(&last, vec![]).await.unwrap(), json!(true), "the other tab is still signed in");
    })
    .await;
    browser.stop().await;
}

#[tokio::test]
async fn lakeside_never_sees_northside() {
    let (server, browser, ana) = setup(None).await;
    let base = server.url();
    scenario(
        "isolation",
        browser.session.clone(),
        move |s: Arc<Session>| async move {
            let lee = Api::login(&base, "lee@lakeside.test").await.unwrap();
            let lake_ids: Vec<String> = lee
                .conversations()
                .await
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_string())
                .collect();
            let north = ana.conversations().await.unwrap();
            // Ana worked at this console before: she signs out and Lee signs in, in the same
            // page. Nothing of hers may show, not even for a moment from a cache.
            login(&s, &base, "ana@northside.test").await;
            open_conversation(&s, north[0]["id"].as_str().unwrap()).await;
            let signout = s.wait_for("button.signout", WAIT).await.unwrap();
            s.click(&signout).await.unwrap();
            s.wait_for("[data-testid=login-form]", WAIT).await.unwrap();
            s.execute("window.__ids = []; new MutationObserver(rs => { for (const r of rs) for (const n of r.addedNodes) if (n.nodeType === 1) for (const e of [n, ...n.querySelectorAll('[data-conversation-id],[data-message-id]')]) { const d = e.dataset || {}; if (d.conversationId) window.__ids.push(d.conversationId); if (d.messageId) window.__ids.push(d.messageId); } }).observe(document.body, {childList: true, subtree: true}); return 0;", vec![]).await.unwrap();
            sign_in_here(&s, "lee@lakeside.test").await;
            let lake_total = lee
                .rpc("unread_total", json!({}))
                .await
                .unwrap()
                .as_i64()
                .unwrap();
            wait_badge(&s, lake_total).await;
            let medic = medic_for(&base, &north[0]).await;
            let row = medic
                .post(north[0]["id"].as_str().unwrap(), "NORTHSIDE-SECRET")
                .await
                .unwrap();
            // Give a leaked event every chance to arrive, then look.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let shown: Vec<String> = items(&s)
                .await
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(shown.len(), lake_ids.len());
            assert!(shown.iter().all(|i| lake_ids.contains(i)));
            let html: String = s
                .execute("return document.body.innerHTML;", vec![])
                .await
                .unwrap()
                .as_str()
                .unwrap()
                .to_string();
            assert!(
                !html.contains("NORTHSIDE-SECRET") && !html.contains(row["id"].as_str().unwrap())
            );
            for c in &north {
                assert!(!html.contains(c["id"].as_str().unwrap()));
            }
            let ever: Vec<String> = serde_json::from_value(s.execute("return window.__ids;", vec![]).await.unwrap()).unwrap();
            assert!(!ever.is_empty() && ever.iter().all(|i| lake_ids.contains(i)), "only Lakeside rows were ever shown after the switch: {ever:?}");
            assert_eq!(badge(&s).await, lake_total);
        },
    )
    .await;
    browser.stop().await;
}

#[tokio::test]
async fn an_xss_payload_renders_as_text() {
    let (server, browser, ana) = setup(None).await;
    let base = server.url();
    scenario("xss", browser.session.clone(), move |s: Arc<Session>| async move {
        login(&s, &base, "ana@northside.test").await;
        let conv = ana.conversations().await.unwrap()[0].clone();
        let id = conv["id"].as_str().unwrap().to_string();
        open_conversation(&s, &id).await;
        let payload = "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>";
        let medic = medic_for(&base, &conv).await;
        let row = medic.post(&id, payload).await.unwrap();
        let mid = row["id"].as_str().unwrap();
        wait_message(&s, mid).await;
        let check = s
            .execute(
                "const m = document.querySelector(`[data-message-id=\"${arguments[0]}\"]`);
                 return {text: m.textContent, imgs: m.querySelectorAll('img,script').length, xss: window.__xss === undefined ? null : window.__xss};",
                vec![json!(mid)],
            )
            .await
            .unwrap();
        assert!(check["text"].as_str().unwrap().contains(payload), "{check}");
        assert_eq!(check["imgs"], 0);
        assert!(check["xss"].is_null());
    })
    .await;
    browser.stop().await;
}
