//! What a dispatcher does and sees, as WebDriver calls against the DOM contract
//! (`data-testid` hooks of DESIGN.md §5).

use std::time::Duration;

use serde_json::Value;

use crate::{wait_until, Session};

/// How long the UI gets to show something.
pub const WAIT: Duration = Duration::from_secs(20);

/// Signs in through the login form and waits for the list.
pub async fn login(s: &Session, base: &str, email: &str) {
    s.goto(&format!("{base}/login")).await.unwrap();
    sign_in_here(s, email).await;
}

/// Signs in through the login form already on screen (no page load) and waits for the list.
pub async fn sign_in_here(s: &Session, email: &str) {
    s.wait_for("[data-testid=login-form]", WAIT).await.unwrap();
    let email_input = s
        .wait_for("[data-testid=login-form] input[type=email]", WAIT)
        .await
        .unwrap();
    s.send_keys(&email_input, email).await.unwrap();
    let password = s
        .wait_for("[data-testid=login-form] input[type=password]", WAIT)
        .await
        .unwrap();
    s.send_keys(&password, "switchboard-demo").await.unwrap();
    let submit = s
        .wait_for("[data-testid=login-form] button[type=submit]", WAIT)
        .await
        .unwrap();
    s.click(&submit).await.unwrap();
    s.wait_for("[data-testid=conversation-item]", WAIT)
        .await
        .unwrap();
}

/// Script: the badge's number (empty or hidden means 0).
pub const BADGE: &str = "const b = document.querySelector('[data-testid=unread-badge]');
    if (!b || b.offsetParent === null) return 0;
    const n = parseInt(b.textContent.trim(), 10); return isNaN(n) ? 0 : n;";

/// Script: the list items' ids and unread counts, in order.
pub const ITEMS: &str =
    "return Array.from(document.querySelectorAll('[data-testid=conversation-item]'))
    .map(e => ({id: e.dataset.conversationId, unread: parseInt(e.dataset.unread || '0', 10)}));";

/// Script: the thread's message ids, in order.
pub const MESSAGE_IDS: &str = "return Array.from(document.querySelectorAll('[data-testid=message-thread] [data-testid=message]'))
    .map(e => e.dataset.messageId);";

/// The badge's number.
pub async fn badge(s: &Session) -> i64 {
    s.execute(BADGE, vec![])
        .await
        .unwrap()
        .as_i64()
        .unwrap_or(0)
}

/// The list items as `{id, unread}`.
pub async fn items(s: &Session) -> Vec<Value> {
    s.execute(ITEMS, vec![])
        .await
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The message ids in the thread.
pub async fn message_ids(s: &Session) -> Vec<String> {
    s.execute(MESSAGE_IDS, vec![])
        .await
        .unwrap()
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// Waits until the badge shows `expected`.
pub async fn wait_badge(s: &Session, expected: i64) {
    wait_until(
        s,
        &format!("badge = {expected}"),
        &format!("{{ const n = (() => {{ {BADGE} }})(); return n === {expected}; }}"),
        WAIT,
    )
    .await
    .unwrap_or_else(|_| panic!("badge never became {expected}"));
}

/// Waits until a message is in the thread.
pub async fn wait_message(s: &Session, id: &str) {
    wait_until(
        s,
        &format!("message {id}"),
        &format!(
            "return !!document.querySelector('[data-testid=message][data-message-id=\"{id}\"]');"
        ),
        WAIT,
    )
    .await
    .unwrap_or_else(|_| panic!("message {id} never appeared"));
}

/// Clicks a conversation and waits for its thread.
pub async fn open_conversation(s: &Session, id: &str) {
    let item = s
        .wait_for(
            &format!("[data-testid=conversation-item][data-conversation-id=\"{id}\"]"),
            WAIT,
        )
        .await
        .unwrap();
    s.click(&item).await.unwrap();
    s.wait_for("[data-testid=message-thread] [data-testid=message]", WAIT)
        .await
        .unwrap();
}

/// Script: whether the thread is scrolled to its bottom (within 2 px of rounding).
pub const AT_BOTTOM: &str = "const t = document.querySelector('[data-testid=message-thread]'); return t.scrollHeight - t.scrollTop - t.clientHeight <= 2;";

/// Script: whether the list shows conversation `id` with `n` unread.
pub fn unread_is(id: &str, n: i64) -> String {
    format!("const e = document.querySelector('[data-testid=conversation-item][data-conversation-id=\"{id}\"]'); return !!e && e.dataset.unread === '{n}';")
}

/// Scrolls the thread so its bottom is `px` below the view, as a reader would.
pub async fn scroll_above_bottom(s: &Session, px: u32) {
    s.execute(
        &format!("const t = document.querySelector('[data-testid=message-thread]'); t.scrollTop = t.scrollHeight - t.clientHeight - {px}; return 0;"),
        vec![],
    )
    .await
    .unwrap();
    // Let the scroll event reach the page.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
}
