//! A thread with months of history (issue 17): every message of a 10,000-message thread is
//! reachable by scrolling up, in cursor pages, with a bounded number of rows in the DOM.
//!
//! Needs `dist/` and the server binary, as `tests/dashboard.rs`; `cargo xtask test` runs it.

use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_e2e::api;
use switchboard_e2e::page::{is_shown, login, press, wait_highlighted_in_view, wait_shown};
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

async fn rows(s: &Session) -> Value {
    s.execute(ROWS, vec![]).await.expect("rows")
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
        s.goto(&format!("{base}/messages/{conversation}"))
            .await
            .unwrap();
        s.wait_for(
            &format!("[data-message-id=\"{newest}\"]"),
            Duration::from_secs(20),
        )
        .await
        .unwrap();
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
