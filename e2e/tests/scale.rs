//! A thread with months of history (issue 17): every message of a 10,000-message thread is
//! reachable by scrolling up, in cursor pages, with a bounded number of rows in the DOM.
//!
//! Needs `dist/` and the server binary, as `tests/dashboard.rs`; `cargo xtask test` runs it.

use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_e2e::api;
use switchboard_e2e::page::{
    clear_resource_timings, click_new_messages_pill, is_shown, login, press, requests_to,
    scroll_above_bottom, wait_at_bottom, wait_divider, wait_highlighted_in_view, wait_shown,
    wait_unread,
};
use switchboard_e2e::{scenario, Session};

/// Messages in the long thread.
const THREAD: usize = 10_000;
/// Most message rows the view may hold: `pages::MAX_PAGES` pages of 50, plus the live
/// window's growth (none here: nothing is posted during the climb).
const DOM_BOUND: u64 = 200;

/// The thread's rows as the page shows them: `{count, first, button}`.
const ROWS: &str =
    "const rows = document.querySelectorAll('[data-testid=message-thread] [data-testid=message]');
    return {count: rows.length, first: rows.length ? rows[0].dataset.messageId : null, top: rows.length ? rows[0].querySelector('.body').textContent : null, bottom: rows.length ? rows[rows.length - 1].querySelector('.body').textContent : null, scroll: document.querySelector('[data-testid=message-thread]').scrollTop,
            last: rows.length ? rows[rows.length - 1].dataset.messageId : null,
            button: !!document.querySelector('[data-testid=load-older]')};";

/// Climbs one step as a reader does: to the top of the view (the next page loads by itself
/// near it) and, for keyboard users, "Load older messages".
const CLIMB: &str = "const t = document.querySelector('[data-testid=message-thread]');
    t.scrollTop = 0; t.dispatchEvent(new Event('scroll'));
    const b = document.querySelector('[data-testid=load-older]'); if (b) b.click(); return 0;";

/// Goes down one step: to the bottom of the view, where the next newer page loads by
/// itself (and "Load newer messages" for keyboard users).
const DESCEND: &str = "const t = document.querySelector('[data-testid=message-thread]');
    t.scrollTop = t.scrollHeight; t.dispatchEvent(new Event('scroll'));
    const b = document.querySelector('[data-testid=load-newer]'); if (b) b.click(); return 0;";

/// Whether the thread is scrolled to its bottom.
const AT_BOTTOM: &str = "const t = document.querySelector('[data-testid=message-thread]');
    return t.scrollHeight - t.scrollTop - t.clientHeight <= 2;";

/// `value` with its `%XX` escapes decoded (the app escapes `+` in timestamps).
fn percent_decoded(value: &str) -> String {
    let mut out = Vec::new();
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%')
            .then(|| value.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn rows(s: &Session) -> Value {
    s.execute(ROWS, vec![]).await.expect("rows")
}

/// Opens `conversation` by its address and waits for its newest message, `newest`.
async fn open_at_newest(s: &Session, base: &str, conversation: &str, newest: &str) {
    s.goto(&format!("{base}/messages/{conversation}"))
        .await
        .unwrap();
    s.wait_for(
        &format!("[data-message-id=\"{newest}\"]"),
        Duration::from_secs(20),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn every_message_of_a_long_thread_is_reached_by_scrolling_up() {
    let (server, browser, ana) = switchboard_e2e::setup(None).await.expect("setup");
    let base = server.url();
    scenario("long-thread", browser.session.clone(), move |s| async move {
        let seeding = Instant::now();
        let (conversation, oldest, newest) = api::long_thread(&base, &ana, THREAD).await.unwrap();
        let seeded = seeding.elapsed();
        login(&s, &base, "ana@northside.test").await;
        let opening = Instant::now();
        open_at_newest(&s, &base, &conversation, &newest).await;
        let opened = opening.elapsed();

        let mut max_rows = rows(&s).await["count"].as_u64().unwrap();
        let mut pages = 0;
        let mut page_times = Vec::new();
        let climb = Instant::now();
        loop {
            let before = rows(&s).await;
            if before["first"] == oldest.as_str() && before["button"] == false {
                break;
            }
            let step = Instant::now();
            s.execute(CLIMB, vec![]).await.unwrap();
            // The step is done when the top row changed (a page came in) or the history
            // ended (the last page was empty, the button left).
            let deadline = Instant::now() + Duration::from_secs(20);
            let after = loop {
                let now = rows(&s).await;
                if now["first"] != before["first"] || now["button"] != before["button"] {
                    break now;
                }
                assert!(Instant::now() < deadline, "no page came in after {pages} pages: {now}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            };
            page_times.push(step.elapsed());
            pages += 1;
            let count = after["count"].as_u64().unwrap();
            max_rows = max_rows.max(count);
            assert!(
                count <= DOM_BOUND,
                "the DOM holds {count} message rows after {pages} pages"
            );
            assert!(pages <= THREAD / 50 + 2, "the climb does not end");
        }
        let climbed = climb.elapsed();
        assert_eq!(
            rows(&s).await["first"],
            oldest.as_str(),
            "the first message of the thread is shown"
        );
        let first_body = s
            .execute(
                &format!("return document.querySelector('[data-message-id=\"{oldest}\"] .body').textContent;"),
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(first_body, "Log entry 00000");

        // Going back down: the pages that left re-enter at the bottom, the top ones leave.
        for step in 0..3 {
            let before = rows(&s).await;
            s.execute(DESCEND, vec![]).await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let now = rows(&s).await;
                if now["last"] != before["last"] {
                    assert!(now["count"].as_u64().unwrap() <= DOM_BOUND);
                    break;
                }
                assert!(Instant::now() < deadline, "step {step} down: {now}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        assert_ne!(rows(&s).await["first"], oldest.as_str(), "the top page left");

        // Esc: back to the newest rows, the history pages gone from the DOM.
        press(&s, "Escape", false, false, false).await;
        s.wait_for(
            &format!("[data-message-id=\"{newest}\"]"),
            Duration::from_secs(20),
        )
        .await
        .unwrap();
        let back = rows(&s).await;
        assert!(back["count"].as_u64().unwrap() <= 50, "only the newest page: {back}");

        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let avg = |from: usize, to: usize| {
            let slice = &page_times[from.min(page_times.len())..to.min(page_times.len())];
            slice.iter().map(|d| ms(*d)).sum::<f64>() / slice.len().max(1) as f64
        };
        eprintln!(
            "long thread: seeded {THREAD} in {:.0} ms; opened to the newest page in {:.0} ms; \
             {pages} pages climbed in {:.0} ms (first 10 avg {:.1} ms, last 10 avg {:.1} ms); \
             DOM rows max {max_rows}",
            ms(seeded),
            ms(opened),
            ms(climbed),
            avg(0, 10),
            avg(pages.saturating_sub(10), pages),
        );
    })
    .await;
    browser.stop().await;
}

#[tokio::test]
async fn a_message_deep_in_a_long_thread_opens_around_it_and_the_newest_rows_come_back_below() {
    let (server, browser, ana) = switchboard_e2e::setup(None).await.expect("setup");
    let base = server.url();
    scenario("long-thread-jump", browser.session.clone(), move |s| async move {
        let (conversation, _oldest, newest) =
            api::long_thread(&base, &ana, THREAD).await.unwrap();
        let found = ana
            .get(&format!(
                "/rest/v1/messages?select=id&conversation_id=eq.{conversation}&body=eq.Log%20entry%2009000"
            ))
            .await
            .unwrap()[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        login(&s, &base, "ana@northside.test").await;
        // What opening a search result does: the thread at `?at=` the message.
        s.goto(&format!("{base}/messages/{conversation}?at={found}"))
            .await
            .unwrap();
        wait_highlighted_in_view(&s, &found).await;
        let opened = rows(&s).await;
        assert!(
            opened["count"].as_u64().unwrap() <= 50,
            "one page around it: {opened}"
        );
        assert_ne!(opened["first"], found.as_str(), "history above it is shown too");
        assert!(is_shown(&s, "[data-testid=load-newer]").await);

        // Down to the newest rows, a page at a time, the DOM bounded all the way.
        let mut steps = 0;
        loop {
            let before = rows(&s).await;
            if before["last"] == newest.as_str() {
                break;
            }
            s.execute(DESCEND, vec![]).await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let now = rows(&s).await;
                if now["last"] != before["last"] {
                    assert!(now["count"].as_u64().unwrap() <= DOM_BOUND, "{now}");
                    break;
                }
                assert!(Instant::now() < deadline, "step {steps} down: {now}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            steps += 1;
            assert!(steps <= 40, "the newest rows never came back");
        }
        // At the newest rows the reader follows again: "Load newer" is gone.
        wait_shown(&s, "[data-testid=load-newer]", false).await;
    })
    .await;
    browser.stop().await;
}

/// Messages a medic posts while the reader is scrolled up.
const ARRIVALS: usize = 300;
/// Rows the DOM may pass [`DOM_BOUND`] by: the live answer that crosses the bound (the
/// messages since the previous refetch) and those arriving during the one page fetch
/// before the view is rebased on the reader's row (`pages::plan_rebase`): at 20 messages
/// a second a handful; `window::FOLLOW_SLACK` rows of room.
const DOM_SLACK: u64 = 10;

/// The view as the reader sees it: `{count, unique, anchor, pill, arrivals}`: message rows
/// in the DOM, distinct ids among them, the top of row `arguments[0]` relative to the top
/// of the view (`null` if not in the DOM), the pill's text, and the numbers of the
/// "Arrival NNN" rows shown, in DOM order.
const VIEW: &str = "const t = document.querySelector('[data-testid=message-thread]');
    const rows = [...t.querySelectorAll('[data-testid=message]')];
    const a = t.querySelector(`[data-message-id=\"${arguments[0]}\"]`);
    const pill = document.querySelector('[data-testid=new-messages-pill]');
    return {count: rows.length, unique: new Set(rows.map(r => r.dataset.messageId)).size,
            anchor: a ? a.getBoundingClientRect().top - t.getBoundingClientRect().top : null,
            pill: pill ? pill.textContent : null,
            ids: rows.map(r => r.dataset.messageId),
            arrivals: rows.map(r => r.querySelector('.body').textContent)
                .filter(b => b.startsWith('Arrival ')).map(b => parseInt(b.slice(8), 10))};";

async fn view(s: &Session, anchor: &str) -> Value {
    s.execute(VIEW, vec![serde_json::json!(anchor)])
        .await
        .expect("view")
}

/// Checks what every step of the scenario must hold: the DOM bounded, no row twice, the
/// arrivals shown in order with none skipped.
fn check_view(v: &Value, when: &str) -> u64 {
    let count = v["count"].as_u64().unwrap();
    assert!(
        count <= DOM_BOUND + DOM_SLACK,
        "{when}: {count} message rows in the DOM"
    );
    assert_eq!(v["unique"], v["count"], "{when}: a message shown twice");
    let shown: Vec<u64> = v["arrivals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    assert!(
        shown.windows(2).all(|w| w[1] == w[0] + 1),
        "{when}: arrivals out of order or skipped: {shown:?}"
    );
    count
}

#[tokio::test]
async fn a_reader_scrolled_up_stays_put_with_a_bounded_dom_while_messages_pour_in() {
    let (server, browser, ana) = switchboard_e2e::setup(None).await.expect("setup");
    let base = server.url();
    scenario("long-thread-arrivals", browser.session.clone(), move |s| async move {
        let (conversation, _oldest, newest) = api::long_thread(&base, &ana, THREAD).await.unwrap();
        let row = ana
            .get(&format!(
                "/rest/v1/conversations?select=id,medic_id&id=eq.{conversation}"
            ))
            .await
            .unwrap();
        let medic = api::medic_for(&base, &row[0]).await.unwrap();
        login(&s, &base, "ana@northside.test").await;
        open_at_newest(&s, &base, &conversation, &newest).await;
        // All 10,000 are unread: it opens at the "New" divider (once that position is
        // taken); Esc takes the reader down.
        wait_divider(&s).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        press(&s, "Escape", false, false, false).await;
        wait_at_bottom(&s, "at the newest rows").await;
        wait_unread(&s, "read at the bottom", &conversation, 0).await;

        // Scrolled up, reading: the first row in view is the anchor.
        scroll_above_bottom(&s, 600).await;
        let anchor = switchboard_e2e::page::view_anchor(&s).await;
        let anchor_id = anchor[1].as_str().unwrap().to_string();
        let start = view(&s, &anchor_id).await;
        let offset = start["anchor"].as_f64().unwrap();
        assert!(start["pill"].is_null());

        // 20 messages a second from the medic.
        let mut posted = Vec::new();
        let mut posted_at = Vec::new();
        let mut max_rows = 0;
        let pace = Duration::from_millis(50);
        clear_resource_timings(&s).await;
        let began = Instant::now();
        for i in 0..ARRIVALS {
            let row = medic
                .post(&conversation, &format!("Arrival {i:03}"))
                .await
                .unwrap();
            posted.push(row["id"].as_str().unwrap().to_string());
            posted_at.push(row["created_at"].as_str().unwrap().to_string());
            let v = view(&s, &anchor_id).await;
            max_rows = max_rows.max(check_view(&v, &format!("after {} arrivals", i + 1)));
            let at = v["anchor"].as_f64().unwrap_or(f64::NAN);
            assert!(
                (at - offset).abs() <= 1.0,
                "after {} arrivals the anchor row moved: {offset} → {at}",
                i + 1
            );
            let next = began + pace * (i as u32 + 1);
            tokio::time::sleep_until(next.into()).await;
        }
        let want = format!("{ARRIVALS} new messages ↓");
        switchboard_e2e::wait_until(
            &s,
            "the pill counts every arrival",
            &format!("const p = document.querySelector('[data-testid=new-messages-pill]'); return !!p && p.textContent === '{want}';"),
            Duration::from_secs(20),
        )
        .await
        .expect("the pill counts every arrival");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let settled = view(&s, &anchor_id).await;
        max_rows = max_rows.max(check_view(&settled, "settled"));
        assert!(
            (settled["anchor"].as_f64().unwrap() - offset).abs() <= 1.0,
            "the anchor row moved once settled: {settled}"
        );
        assert!(
            settled["count"].as_u64().unwrap() <= DOM_BOUND,
            "the DOM back within its bound: {}",
            settled["count"]
        );
        // The live window out of the DOM shed to its newest rows: its last refetch started
        // within the newest pages, not at the floor it had when the reader scrolled up.
        let floors: Vec<String> = requests_to(&s, "created_at=gte.")
            .await
            .into_iter()
            .filter_map(|(url, _)| {
                let at = url.split("created_at=gte.").nth(1)?.split('&').next()?;
                Some(percent_decoded(at))
            })
            .collect();
        let last_floor = floors.last().expect("the live window was refetched");
        assert!(
            *last_floor >= posted_at[ARRIVALS - 1 - 2 * 50],
            "the live window's last refetch started at {last_floor}, below the newest 100 \
             arrivals (the first arrival was at {})",
            posted_at[0]
        );
        let live_rows = posted_at.iter().filter(|t| *t >= last_floor).count();

        // Below the reader, unseen: unread until they go down.
        wait_unread(&s, "arrivals unread while scrolled up", &conversation, ARRIVALS as i64).await;

        // Scrolling down from there (the newer pages load by themselves) reaches every
        // posted message, in order, none twice, to the newest rows, where it is read.
        let mut below = std::collections::HashSet::new();
        let mut down = 0;
        loop {
            let v = view(&s, &anchor_id).await;
            check_view(&v, &format!("down step {down}"));
            for id in v["ids"].as_array().unwrap() {
                below.insert(id.as_str().unwrap().to_string());
            }
            let at_bottom = s.execute(AT_BOTTOM, vec![]).await.unwrap() == true;
            if at_bottom && v["ids"].as_array().unwrap().last() == Some(&serde_json::json!(posted[ARRIVALS - 1])) {
                break;
            }
            s.execute(DESCEND, vec![]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(150)).await;
            down += 1;
            assert!(down <= 40, "the newest rows never came back: {v}");
        }
        assert!(
            posted.iter().all(|id| below.contains(id)),
            "a posted message was skipped on the way down"
        );
        wait_unread(&s, "read once seen", &conversation, 0).await;
        assert!(!is_shown(&s, "[data-testid=new-messages-pill]").await);

        // Every posted message is reachable, once, by scrolling up from the newest rows.
        let mut seen = std::collections::HashSet::new();
        let mut steps = 0;
        loop {
            let v = view(&s, &anchor_id).await;
            check_view(&v, &format!("climb step {steps}"));
            for id in v["ids"].as_array().unwrap() {
                seen.insert(id.as_str().unwrap().to_string());
            }
            if posted.iter().all(|id| seen.contains(id)) {
                break;
            }
            let before = rows(&s).await;
            s.execute(CLIMB, vec![]).await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let now = rows(&s).await;
                if now["first"] != before["first"] {
                    break;
                }
                assert!(Instant::now() < deadline, "no page came in at step {steps}: {now}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            steps += 1;
            assert!(steps <= 20, "the arrivals were not all reached");
        }
        // Up in older pages now, the newest rows out of the DOM: what arrives meanwhile is
        // counted all the same, and the reader stays where they are.
        assert!(is_shown(&s, "[data-testid=load-newer]").await, "in history");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let place = switchboard_e2e::page::view_anchor(&s).await;
        let place_id = place[1].as_str().unwrap().to_string();
        let place_offset = view(&s, &place_id).await["anchor"].as_f64().unwrap();
        let mut late = Vec::new();
        for i in 0..20 {
            let row = medic
                .post(&conversation, &format!("Late news {i:02}"))
                .await
                .unwrap();
            late.push(row["id"].as_str().unwrap().to_string());
        }
        switchboard_e2e::wait_until(
            &s,
            "the pill counts what arrived below the history shown",
            "const p = document.querySelector('[data-testid=new-messages-pill]'); return !!p && p.textContent === '20 new messages ↓';",
            Duration::from_secs(20),
        )
        .await
        .expect("the pill counts arrivals while the reader is in history");
        let v = view(&s, &place_id).await;
        check_view(&v, "in history");
        assert!(
            (v["anchor"].as_f64().unwrap() - place_offset).abs() <= 1.0,
            "the reader moved in history: {place_offset} → {}",
            v["anchor"]
        );
        wait_unread(&s, "unseen below the history", &conversation, 20).await;
        click_new_messages_pill(&s).await;
        s.wait_for(
            &format!("[data-message-id=\"{}\"]", late[19]),
            Duration::from_secs(20),
        )
        .await
        .unwrap();
        wait_at_bottom(&s, "the pill took the reader to the newest rows").await;
        wait_unread(&s, "read at the bottom again", &conversation, 0).await;
        eprintln!(
            "{ARRIVALS} arrivals under a reader scrolled up: DOM rows max {max_rows}, \
             {} after; the live window's last refetch from {live_rows} rows back; \
             all reached again in {steps} pages up",
            settled["count"]
        );
    })
    .await;
    browser.stop().await;
}
