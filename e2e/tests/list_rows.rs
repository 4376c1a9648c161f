//! The list through a shift of changes (issue 17, "The shift"): a change makes the list
//! observe its conversation's row, and a fresh first page lets those rows go again, so the
//! query cache does not keep one observed row for every conversation that changed since
//! sign-in (they were never unobserved before, and every merge of the list walked them all).
//!
//! Needs `dist/` and the server binary, as `tests/dashboard.rs`; `cargo xtask test` runs it.

use std::time::Duration;

use switchboard_e2e::page::{cache_entry_counts, list_total, login};
use switchboard_e2e::{api, scenario, wait_until};

/// Conversations a medic writes into, one message each, from the bottom of the list.
const CHANGED: usize = 200;
/// Rows the list may observe beyond what it observed after sign-in: the app refetches its
/// first page past 50 (`list_pages::TOUCHED_MAX`); twice that leaves room for the changes
/// that arrive while the page is in flight.
const ROWS_BOUND: u64 = 100;

#[tokio::test]
async fn rows_of_changed_conversations_are_let_go_once_the_first_page_covers_them() {
    let (server, browser, _ana) = switchboard_e2e::setup(None).await.expect("setup");
    let base = server.url();
    scenario("list-rows-bounded", browser.session.clone(), move |s| async move {
        let org = api::busy_org(&base, 400, 1).await.unwrap();
        login(&s, &base, "ana@northside.test").await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let [_, observed_after_login, _, _] = cache_entry_counts(&s).await.expect("cache probe");
        let targets: Vec<(usize, String)> = org
            .conversations
            .iter()
            .rev()
            .filter(|(_, c)| c["unread_count"] == 0 && c["unacked_urgent"] == 0)
            .filter_map(|(m, c)| Some((*m, c["id"].as_str()?.to_string())))
            .take(CHANGED)
            .collect();
        assert_eq!(targets.len(), CHANGED, "enough read conversations to change");
        for (m, id) in &targets {
            org.medics[*m].post(id, "On scene").await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The last one written into is the newest, right below the pinned urgent ones.
        let last = &targets[CHANGED - 1].1;
        wait_until(
            &s,
            "the last conversation written into on top",
            &format!("const e = document.querySelector('[data-testid=conversation-item][data-urgent=\"0\"]'); return !!e && e.dataset.conversationId === '{last}';"),
            Duration::from_secs(20),
        )
        .await
        .unwrap();
        // Every one of them is unread now, so the list shows them all…
        assert!(
            list_total(&s).await >= CHANGED,
            "the list shows every unread conversation"
        );
        // …without observing a row query for each.
        let script = format!(
            "const f = window.wasmBindings && window.wasmBindings.cache_entry_counts;
             return !!f && f()[1] <= {};",
            observed_after_login + ROWS_BOUND
        );
        let bounded = wait_until(&s, "observed rows bounded", &script, Duration::from_secs(20)).await;
        let now = cache_entry_counts(&s).await.expect("cache probe");
        assert!(
            bounded.is_ok(),
            "{} queries observed after {CHANGED} conversations changed, {observed_after_login} after sign-in",
            now[1]
        );
    })
    .await;
    browser.stop().await;
}
