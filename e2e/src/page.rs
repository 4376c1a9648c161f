//! What a dispatcher does and sees, as WebDriver calls against the DOM contract
//! (the `data-testid` hooks of ARCHITECTURE.md, "DOM hooks"). Every piece of JavaScript the scenarios run in the
//! page lives here, behind a name that says what it reads or does; the helpers panic like
//! assertions, since a page that cannot be driven fails the scenario.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard_api_client::DEMO_PASSWORD;

use crate::{wait_until, Session};

/// How long the UI gets to show something.
pub const WAIT: Duration = Duration::from_secs(20);

/// How long the connection indicator gets to change: a reconnect waits out its backoff.
const STATE_WAIT: Duration = Duration::from_secs(60);

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

/// Script: how many message rows the page holds.
pub const MESSAGE_COUNT: &str = "return document.querySelectorAll('[data-testid=message]').length;";

/// Script: whether the thread is scrolled to its bottom (within 2 px of rounding).
const AT_BOTTOM: &str = "const t = document.querySelector('[data-testid=message-thread]'); return t.scrollHeight - t.scrollTop - t.clientHeight <= 2;";

/// Script: the connection indicator's text ('' while it is not on screen).
const CONNECTION_STATE: &str = "const e = document.querySelector('[data-testid=connection-state]'); return e ? e.textContent.trim() : '';";

/// Runs a script that must succeed.
async fn run(s: &Session, script: &str) -> Value {
    s.execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
}

/// Polls a script until it returns something truthy, or fails the scenario naming `what`.
async fn wait(s: &Session, what: &str, script: &str) {
    wait_until(s, what, script, WAIT).await.unwrap();
}

/// The list item of a conversation.
fn item_selector(conversation: &str) -> String {
    format!("[data-testid=conversation-item][data-conversation-id=\"{conversation}\"]")
}

// Signing in and out.

/// Signs in through the login form and waits for the list.
pub async fn login(s: &Session, base: &str, email: &str) {
    s.goto(&format!("{base}/login")).await.unwrap();
    sign_in_here(s, email).await;
}

/// Signs in through the login form already on screen (no page load) and waits for the list.
pub async fn sign_in_here(s: &Session, email: &str) {
    submit_login(s, email, DEMO_PASSWORD).await;
    s.wait_for("[data-testid=conversation-item]", WAIT)
        .await
        .unwrap();
}

/// Fills in and submits the login form on screen.
pub async fn submit_login(s: &Session, email: &str, password: &str) {
    s.wait_for("[data-testid=login-form]", WAIT).await.unwrap();
    for (input, text) in [("email", email), ("password", password)] {
        let field = s
            .wait_for(
                &format!("[data-testid=login-form] input[type={input}]"),
                WAIT,
            )
            .await
            .unwrap();
        s.send_keys(&field, text).await.unwrap();
    }
    let submit = s
        .wait_for("[data-testid=login-form] button[type=submit]", WAIT)
        .await
        .unwrap();
    s.click(&submit).await.unwrap();
}

/// The login form's error, once it shows one.
pub async fn login_error(s: &Session) -> String {
    let alert = s
        .wait_for("[data-testid=login-form] [role=alert]", WAIT)
        .await
        .unwrap();
    s.text(&alert).await.unwrap()
}

/// Signs out and waits for the login form.
pub async fn sign_out(s: &Session) {
    let signout = s.wait_for("button.signout", WAIT).await.unwrap();
    s.click(&signout).await.unwrap();
    s.wait_for("[data-testid=login-form]", WAIT).await.unwrap();
}

/// Whether this tab is still signed in and lists `conversation`.
pub async fn signed_in_listing(s: &Session, conversation: &str) -> bool {
    let script = format!(
        "return !!document.querySelector('{}') && !document.querySelector('[data-testid=login-form]');",
        item_selector(conversation)
    );
    run(s, &script).await == json!(true)
}

/// Writes `email`'s session, signed in over REST, where the app keeps it, as a sign-in in
/// this tab would: the other tabs of the browser see the change (a `storage` event), this
/// one does not.
pub async fn store_session_of(s: &Session, base: &str, email: &str) {
    let client = switchboard_api_client::Client::connect(base).await.unwrap();
    let session = client.sign_in(email, DEMO_PASSWORD).await.unwrap();
    s.execute(
        "localStorage.setItem('switchboard.session', arguments[0]);",
        vec![Value::String(session.body.to_string())],
    )
    .await
    .unwrap();
}

/// The organisation name in the header.
pub async fn header_org(s: &Session) -> String {
    let org = run(
        s,
        "const o = document.querySelector('.topbar .org'); return o ? o.textContent : '';",
    )
    .await;
    org.as_str().unwrap_or_default().to_string()
}

/// Waits until the header names organisation `org`.
pub async fn wait_header_org(s: &Session, org: &str) {
    let script = format!(
        "const o = document.querySelector('.topbar .org'); return !!o && o.textContent === {};",
        json!(org)
    );
    wait(s, org, &script).await;
}

/// The page's path, e.g. `/messages`.
pub async fn path(s: &Session) -> String {
    let path = run(s, "return location.pathname;").await;
    path.as_str().unwrap_or_default().to_string()
}

/// Waits until the header says why the server refuses this tab; the reason.
pub async fn wait_connection_refusal(s: &Session) -> String {
    let refusal = s
        .wait_for("[data-testid=connection-refusal]", STATE_WAIT)
        .await
        .unwrap();
    s.text(&refusal).await.unwrap()
}

/// The access token the app keeps in local storage.
pub async fn stored_access_token(s: &Session) -> Value {
    run(
        s,
        "return JSON.parse(localStorage.getItem('switchboard.session')).access_token;",
    )
    .await
}

// The conversation list and the badge.

/// Loads the messages page of a signed-in tab and waits for the list.
pub async fn open_list(s: &Session, base: &str) {
    s.goto(&format!("{base}/messages")).await.unwrap();
    s.wait_for("[data-testid=conversation-item]", WAIT)
        .await
        .unwrap();
}

/// The badge's number.
pub async fn badge(s: &Session) -> i64 {
    run(s, BADGE).await.as_i64().unwrap_or(0)
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

/// The list items as `{id, unread}`.
pub async fn items(s: &Session) -> Vec<Value> {
    run(s, ITEMS).await.as_array().cloned().unwrap_or_default()
}

/// Waits until the list shows `n` conversations.
/// The list is windowed (only the rows near the view are in the DOM): the count is the
/// list's `data-total`.
pub async fn wait_conversation_count(s: &Session, what: &str, n: usize) {
    let script = format!(
        "const l = document.querySelector('[data-testid=conversation-list]'); return !!l && l.dataset.total === '{n}';"
    );
    wait(s, what, &script).await;
}

/// Waits until `conversation` is at the top of the list.
pub async fn wait_on_top(s: &Session, what: &str, conversation: &str) {
    let script = format!("return document.querySelector('[data-testid=conversation-item]').dataset.conversationId === '{conversation}';");
    wait(s, what, &script).await;
}

/// Script: whether the list shows `conversation` with `n` unread.
fn unread_is(conversation: &str, n: i64) -> String {
    format!(
        "const e = document.querySelector('{}'); return !!e && e.dataset.unread === '{n}';",
        item_selector(conversation)
    )
}

/// Whether the list shows `conversation` with `n` unread.
pub async fn shows_unread(s: &Session, conversation: &str, n: i64) -> bool {
    run(s, &unread_is(conversation, n)).await == json!(true)
}

/// Waits until the list shows `conversation` with `n` unread.
pub async fn wait_unread(s: &Session, what: &str, conversation: &str, n: i64) {
    wait(s, what, &unread_is(conversation, n)).await;
}

/// Clicks a conversation and waits for its thread.
pub async fn open_conversation(s: &Session, id: &str) {
    let item = s.wait_for(&item_selector(id), WAIT).await.unwrap();
    s.click(&item).await.unwrap();
    s.wait_for("[data-testid=message-thread] [data-testid=message]", WAIT)
        .await
        .unwrap();
}

// The open thread.

/// The message ids in the thread.
pub async fn message_ids(s: &Session) -> Vec<String> {
    run(s, MESSAGE_IDS)
        .await
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// How many message rows the page holds.
pub async fn message_count(s: &Session) -> u64 {
    run(s, MESSAGE_COUNT).await.as_u64().unwrap()
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

/// Waits until the thread is scrolled to its bottom.
pub async fn wait_at_bottom(s: &Session, what: &str) {
    wait(s, what, AT_BOTTOM).await;
}

/// Scrolls the thread so its bottom is `px` below the view, as a reader would.
pub async fn scroll_above_bottom(s: &Session, px: u32) {
    run(s, &format!("const t = document.querySelector('[data-testid=message-thread]'); t.scrollTop = t.scrollHeight - t.clientHeight - {px}; return 0;")).await;
    // Let the scroll event reach the page.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
}

/// What the reader looks at: `[scrollTop, first row in view, its offset from the top]`.
pub async fn view_anchor(s: &Session) -> Value {
    run(
        s,
        "const t = document.querySelector('[data-testid=message-thread]'); const top = t.getBoundingClientRect().top;
            const r = [...t.querySelectorAll('[data-testid=message]')].find(e => e.getBoundingClientRect().bottom > top);
            return [t.scrollTop, r.dataset.messageId, Math.round(r.getBoundingClientRect().top - top)];",
    )
    .await
}

/// Waits for the "new messages" pill.
pub async fn wait_new_messages_pill(s: &Session) {
    s.wait_for("[data-testid=new-messages-pill]", WAIT)
        .await
        .unwrap();
}

/// Whether the "new messages" pill is on screen.
pub async fn has_new_messages_pill(s: &Session) -> bool {
    run(
        s,
        "return !!document.querySelector('[data-testid=new-messages-pill]');",
    )
    .await
        == json!(true)
}

/// Clicks the "new messages" pill.
pub async fn click_new_messages_pill(s: &Session) {
    run(
        s,
        "document.querySelector('[data-testid=new-messages-pill]').click(); return 0;",
    )
    .await;
}

/// A message as rendered: `{text, imgs, xss}`, its text, how many `img` and `script`
/// elements it holds, and what an injected script would have set in `window.__xss`.
pub async fn rendered_message(s: &Session, id: &str) -> Value {
    s.execute(
        "const m = document.querySelector(`[data-message-id=\"${arguments[0]}\"]`);
         return {text: m.textContent, imgs: m.querySelectorAll('img,script').length, xss: window.__xss === undefined ? null : window.__xss};",
        vec![json!(id)],
    )
    .await
    .unwrap()
}

/// Types into the composer.
pub async fn type_draft(s: &Session, text: &str) {
    let composer = s.wait_for("[data-testid=composer]", WAIT).await.unwrap();
    s.send_keys(&composer, text).await.unwrap();
}

/// Remembers the thread and composer elements, for [`thread_and_composer_kept`].
pub async fn remember_thread_and_composer(s: &Session) {
    run(s, "window.__thread = document.querySelector('[data-testid=message-thread]'); window.__composer = document.querySelector('[data-testid=composer]'); return 0;").await;
}

/// `[same thread element, same composer element, the composer's text]` since
/// [`remember_thread_and_composer`].
pub async fn thread_and_composer_kept(s: &Session) -> Value {
    run(s, "const c = document.querySelector('[data-testid=composer]'); return [document.querySelector('[data-testid=message-thread]') === window.__thread, c === window.__composer, c.value];").await
}

// The whole page.

/// The connection indicator's text.
pub async fn connection_state(s: &Session) -> String {
    run(s, CONNECTION_STATE)
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Waits until the connection indicator reads `want`.
pub async fn wait_connection_state(s: &Session, want: &str) {
    let script = format!("return ((() => {{ {CONNECTION_STATE} }})()) === '{want}';");
    if wait_until(s, want, &script, STATE_WAIT).await.is_err() {
        let now = s
            .execute(CONNECTION_STATE, vec![])
            .await
            .unwrap_or_default();
        panic!("connection state never became {want}; it is {now}");
    }
}

/// The page's markup.
pub async fn page_html(s: &Session) -> String {
    run(s, "return document.body.innerHTML;")
        .await
        .as_str()
        .unwrap()
        .to_string()
}

/// From now on, records the id of every conversation and message the page adds.
pub async fn record_shown_ids(s: &Session) {
    run(s, "window.__ids = []; new MutationObserver(rs => { for (const r of rs) for (const n of r.addedNodes) if (n.nodeType === 1) for (const e of [n, ...n.querySelectorAll('[data-conversation-id],[data-message-id]')]) { const d = e.dataset || {}; if (d.conversationId) window.__ids.push(d.conversationId); if (d.messageId) window.__ids.push(d.messageId); } }).observe(document.body, {childList: true, subtree: true}); return 0;").await;
}

/// The ids recorded since [`record_shown_ids`].
pub async fn recorded_ids(s: &Session) -> Vec<String> {
    serde_json::from_value(run(s, "return window.__ids;").await).unwrap()
}

// Urgent messages and acknowledgement.

/// Script: the header's urgent counter (hidden means 0).
const URGENT_COUNT: &str = "const b = document.querySelector('[data-testid=urgent-count]');
    if (!b || b.hidden || b.offsetParent === null) return 0;
    const n = parseInt(b.textContent.replace(/[^0-9]/g, ''), 10); return isNaN(n) ? 0 : n;";

/// The header's urgent counter.
pub async fn urgent_count(s: &Session) -> i64 {
    run(s, URGENT_COUNT).await.as_i64().unwrap_or(0)
}

/// Waits until the header's urgent counter shows `n`.
pub async fn wait_urgent_count(s: &Session, what: &str, n: i64) {
    let script = format!("return (function() {{ {URGENT_COUNT} }})() === {n};");
    wait(s, what, &script).await;
}

/// Waits until `conversation` is first in the list, marked as waiting for an
/// acknowledgement of `n` urgent messages.
pub async fn wait_pinned_urgent(s: &Session, what: &str, conversation: &str, n: i64) {
    let script = format!(
        "const first = document.querySelector('[data-testid=conversation-item]');
        return !!first && first.dataset.conversationId === '{conversation}' && first.dataset.urgent === '{n}';"
    );
    wait(s, what, &script).await;
}

/// Clicks the header's urgent counter (it opens the longest-waiting conversation).
pub async fn click_urgent_count(s: &Session) {
    run(
        s,
        "document.querySelector('[data-testid=urgent-count]').click(); return true;",
    )
    .await;
}

/// Waits until message `id` is shown, urgent, with (`acked`) or without its acknowledgement.
pub async fn wait_urgent_message(s: &Session, what: &str, id: &str, acked: bool) {
    let script = format!(
        "const m = document.querySelector('[data-testid=message][data-message-id=\"{id}\"]');
        return !!m && m.dataset.priority === 'urgent' && m.dataset.acked === '{acked}';"
    );
    wait(s, what, &script).await;
}

/// Clicks the Acknowledge button of message `id`.
pub async fn acknowledge(s: &Session, id: &str) {
    let script = format!(
        "document.querySelector('[data-testid=message][data-message-id=\"{id}\"] [data-testid=acknowledge]').click(); return true;"
    );
    run(s, &script).await;
}

/// The acknowledgement note under message `id` ('' when there is none).
pub async fn ack_note(s: &Session, id: &str) -> String {
    let script = format!(
        "const n = document.querySelector('[data-testid=message][data-message-id=\"{id}\"] [data-testid=ack-note]');
        return n ? n.textContent : '';"
    );
    run(s, &script)
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Types `text` into the composer and sends it with Ctrl+Shift+Enter (urgent).
pub async fn send_urgent_by_keyboard(s: &Session, text: &str) {
    let script = format!(
        "const c = document.querySelector('[data-testid=composer]');
        c.value = {text}; c.dispatchEvent(new Event('input', {{bubbles: true}}));
        c.dispatchEvent(new KeyboardEvent('keydown', {{key: 'Enter', ctrlKey: true, shiftKey: true, bubbles: true}}));
        return true;",
        text = json!(text)
    );
    run(s, &script).await;
}

/// The canned replies' labels, in order.
pub async fn canned_replies(s: &Session) -> Vec<String> {
    let v = run(
        s,
        "return Array.from(document.querySelectorAll('[data-testid=canned-reply]')).map(b => b.textContent);",
    )
    .await;
    serde_json::from_value(v).unwrap_or_default()
}

/// Waits until the page shows `n` canned replies.
pub async fn wait_canned_replies(s: &Session, n: usize) {
    let script =
        format!("return document.querySelectorAll('[data-testid=canned-reply]').length === {n};");
    wait(s, "canned replies", &script).await;
}

/// Clicks the `n`th canned reply (0-based).
pub async fn click_canned_reply(s: &Session, n: usize) {
    let script = format!(
        "document.querySelectorAll('[data-testid=canned-reply]')[{n}].click(); return true;"
    );
    run(s, &script).await;
}

/// Waits until the thread's last message reads `body`.
pub async fn wait_last_message_body(s: &Session, body: &str) {
    let script = format!(
        "const m = Array.from(document.querySelectorAll('[data-testid=message] .body')).pop();
        return !!m && m.textContent === {body};",
        body = json!(body)
    );
    wait(s, &format!("last message {body:?}"), &script).await;
}

// Alerts.

/// Init script: `Notification` replaced by a recorder that reports permission granted and
/// keeps every notification made in `window.__notifications`; every tone started (an
/// oscillator) is kept in `window.__tones` with its frequency and time.
const ALERT_RECORDER: &str = "(() => {
    const notes = []; const tones = [];
    window.__notifications = notes; window.__tones = tones;
    class RecordedNotification extends EventTarget {
        constructor(title, options) {
            super();
            const o = options || {};
            this.title = title; this.body = o.body; this.tag = o.tag;
            notes.push({title, body: o.body || '', tag: o.tag || '',
                requireInteraction: !!o.requireInteraction, at: Date.now()});
        }
        close() {}
        static get permission() { return 'granted'; }
        static requestPermission(done) { if (done) done('granted'); return Promise.resolve('granted'); }
    }
    window.Notification = RecordedNotification;
    const start = OscillatorNode.prototype.start;
    OscillatorNode.prototype.start = function (...args) {
        tones.push({frequency: this.frequency.value, at: Date.now()});
        return start.apply(this, args);
    };
})();";

/// Records notifications and tones in the current tab from its next page load on (call
/// before navigating; each tab needs its own call).
pub async fn record_alerts(s: &Session) {
    s.cdp(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": ALERT_RECORDER}),
    )
    .await
    .expect("install the alert recorder");
}

/// The notifications this tab has shown, oldest first (`{title, body, tag,
/// requireInteraction, at}`).
pub async fn notifications(s: &Session) -> Vec<Value> {
    let v = run(s, "return window.__notifications || [];").await;
    v.as_array().cloned().unwrap_or_default()
}

/// The tones this tab has played, oldest first (`{frequency, at}`).
pub async fn tones(s: &Session) -> Vec<Value> {
    let v = run(s, "return window.__tones || [];").await;
    v.as_array().cloned().unwrap_or_default()
}

/// The tab's title.
pub async fn title(s: &Session) -> String {
    run(s, "return document.title;")
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Waits until the tab's title is `want`.
pub async fn wait_title(s: &Session, want: &str) {
    let script = format!("return document.title === {};", json!(want));
    wait(s, &format!("title {want:?}"), &script).await;
}

/// Turns desktop notifications and sound on from the header (the toggles' clicks are what
/// ask for permission).
pub async fn enable_alerts(s: &Session) {
    run(
        s,
        "for (const id of ['alerts-toggle', 'sound-toggle']) {
            const b = document.querySelector(`[data-testid=${id}]`);
            if (b && b.getAttribute('aria-pressed') !== 'true') b.click();
        }
        return true;",
    )
    .await;
}

// Messages in flight (the outbox).

/// Types `text` into the composer and sends it with Enter (routine).
pub async fn send_by_keyboard(s: &Session, text: &str) {
    let script = format!(
        "const c = document.querySelector('[data-testid=composer]');
        c.value = {text}; c.dispatchEvent(new Event('input', {{bubbles: true}}));
        c.dispatchEvent(new KeyboardEvent('keydown', {{key: 'Enter', bubbles: true}}));
        return true;",
        text = json!(text)
    );
    run(s, &script).await;
}

/// The thread's rows whose body is `body`: `[{id, state}]` (`state` is `data-state`).
pub async fn rows_with_body(s: &Session, body: &str) -> Vec<Value> {
    let script = format!(
        "return [...document.querySelectorAll('[data-testid=message-thread] [data-testid=message]')]
            .filter(e => e.querySelector('.body')?.textContent === {body})
            .map(e => ({{id: e.dataset.messageId, state: e.dataset.state}}));",
        body = json!(body)
    );
    run(s, &script)
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until exactly one row shows `body`, in `data-state` `state`; its message id.
pub async fn wait_one_row(s: &Session, body: &str, state: &str) -> String {
    let script = format!(
        "const r = [...document.querySelectorAll('[data-testid=message-thread] [data-testid=message]')]
            .filter(e => e.querySelector('.body')?.textContent === {body});
        return r.length === 1 && r[0].dataset.state === {state};",
        body = json!(body),
        state = json!(state)
    );
    wait(s, &format!("one {state} row {body:?}"), &script).await;
    rows_with_body(s, body).await[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Makes the browser fail every request to the backend's API (REST, auth, realtime) as if
/// it were unreachable, or (`false`) lets them through again; the app's own files still load.
pub async fn block_api(s: &Session, blocked: bool) {
    let urls: Vec<&str> = if blocked {
        vec!["*/rest/v1/*", "*/auth/v1/*", "*/realtime/v1/*"]
    } else {
        Vec::new()
    };
    s.cdp("Network.enable", json!({})).await.unwrap();
    s.cdp("Network.setBlockedURLs", json!({ "urls": urls }))
        .await
        .unwrap();
}

/// Reloads the page and waits for the new page's thread to be on screen.
pub async fn reload_thread(s: &Session) {
    run(s, "window.__old_page = true; location.reload(); return 0;").await;
    wait(
        s,
        "the reloaded thread",
        "return !window.__old_page && !!document.querySelector('[data-testid=message-thread]');",
    )
    .await;
}

// The working surface: starting conversations, the thread header, the "New" divider,
// marking unread, the filter, search, keyboard, theme and the phone layout (issue 15).

/// Script: whether `selector` matches an element that is rendered (not `display: none`,
/// not inside a hidden ancestor).
fn shown(selector: &str) -> String {
    format!(
        "const e = document.querySelector({}); return !!e && e.getClientRects().length > 0;",
        json!(selector)
    )
}

/// Whether `selector` matches an element on screen.
pub async fn is_shown(s: &Session, selector: &str) -> bool {
    run(s, &shown(selector)).await == json!(true)
}

/// Waits until `selector` matches an element on screen (`want`) or none does.
pub async fn wait_shown(s: &Session, selector: &str, want: bool) {
    let script = format!("return (() => {{ {} }})() === {want};", shown(selector));
    wait(s, &format!("{selector} shown = {want}"), &script).await;
}

/// Starts a conversation from the "New conversation" dialog: with `medic` (a dispatcher's
/// choice; `None` for a medic, who starts one with dispatch), about `subject`, opening with
/// `body`. Waits until the app has opened it; its id.
pub async fn start_conversation(
    s: &Session,
    medic: Option<&str>,
    subject: &str,
    body: &str,
) -> String {
    let button = s
        .wait_for("[data-testid=new-conversation]", WAIT)
        .await
        .unwrap();
    s.click(&button).await.unwrap();
    if let Some(medic) = medic {
        let option = format!("[data-testid=new-conversation-medic] option[value=\"{medic}\"]");
        s.wait_for(&option, WAIT).await.unwrap();
        run(
            s,
            &format!(
                "const m = document.querySelector('[data-testid=new-conversation-medic]');
                 m.value = {}; m.dispatchEvent(new Event('change', {{bubbles: true}})); return true;",
                json!(medic)
            ),
        )
        .await;
    }
    let subject_box = s
        .wait_for("[data-testid=new-conversation-subject]", WAIT)
        .await
        .unwrap();
    s.send_keys(&subject_box, subject).await.unwrap();
    let body_box = s
        .wait_for("[data-testid=new-conversation-body]", WAIT)
        .await
        .unwrap();
    s.send_keys(&body_box, body).await.unwrap();
    let start = s
        .wait_for("[data-testid=new-conversation-start]", WAIT)
        .await
        .unwrap();
    s.click(&start).await.unwrap();
    wait(s, "the new conversation opened", "return location.pathname.startsWith('/messages/') && !document.querySelector('dialog[open]');").await;
    path(s).await.trim_start_matches("/messages/").to_string()
}

/// The open thread's header: `[medic or "Dispatch", subject, last-from-medic line]`.
pub async fn thread_header(s: &Session) -> Vec<String> {
    let v = run(
        s,
        "return ['thread-medic', 'thread-subject', 'thread-last-from-medic'].map(id => {
            const e = document.querySelector(`[data-testid=${id}]`); return e ? e.textContent.trim() : null; });",
    )
    .await;
    v.as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|x| x.as_str().unwrap_or_default().to_string())
        .collect()
}

/// Waits until the thread header shows `subject`.
pub async fn wait_thread_subject(s: &Session, subject: &str) {
    let script = format!(
        "const e = document.querySelector('[data-testid=thread-subject]'); return !!e && e.textContent.trim() === {};",
        json!(subject)
    );
    wait(s, &format!("thread subject {subject:?}"), &script).await;
}

/// Waits until the list shows a conversation whose subject is `subject`; its id.
pub async fn wait_listed_subject(s: &Session, subject: &str) -> String {
    let script = format!(
        "const e = Array.from(document.querySelectorAll('[data-testid=conversation-item]'))
           .find(i => (i.querySelector('[data-testid=conversation-subject]') || {{}}).textContent === {});
         return e ? e.dataset.conversationId : null;",
        json!(subject)
    );
    wait_until(s, &format!("list shows {subject:?}"), &script, WAIT)
        .await
        .unwrap();
    run(s, &script)
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The id of the message the "New" divider stands above (`None` without a divider).
pub async fn divider_above(s: &Session) -> Option<String> {
    run(
        s,
        "const d = document.querySelector('[data-testid=unread-divider]');
         if (!d) return null;
         let n = d.nextElementSibling;
         while (n && n.dataset.testid !== 'message') n = n.nextElementSibling;
         return n ? n.dataset.messageId : null;",
    )
    .await
    .as_str()
    .map(str::to_string)
}

/// Waits until the thread shows the "New" divider.
pub async fn wait_divider(s: &Session) {
    wait(
        s,
        "the New divider",
        "return !!document.querySelector('[data-testid=unread-divider]');",
    )
    .await;
}

/// Whether the divider's top is inside the thread's visible box.
pub async fn divider_in_view(s: &Session) -> bool {
    run(
        s,
        "const d = document.querySelector('[data-testid=unread-divider]');
         const t = document.querySelector('[data-testid=message-thread]');
         if (!d || !t) return false;
         const a = d.getBoundingClientRect(), b = t.getBoundingClientRect();
         return a.top >= b.top - 1 && a.top <= b.bottom;",
    )
    .await
        == json!(true)
}

/// Clicks "Mark as unread" on message `id`.
pub async fn mark_unread(s: &Session, id: &str) {
    let button = s
        .wait_for(
            &format!("[data-message-id=\"{id}\"] [data-testid=mark-unread]"),
            WAIT,
        )
        .await
        .unwrap();
    s.click(&button).await.unwrap();
}

/// Types `text` into the conversation filter (replacing what was there).
pub async fn filter_list(s: &Session, text: &str) {
    run(s, "const f = document.querySelector('[data-testid=conversation-filter]'); f.value = ''; f.dispatchEvent(new Event('input', {bubbles: true})); return true;").await;
    let input = s
        .wait_for("[data-testid=conversation-filter]", WAIT)
        .await
        .unwrap();
    s.send_keys(&input, text).await.unwrap();
}

/// Clicks a filter toggle (`filter-unread` or `filter-urgent`).
pub async fn toggle_filter(s: &Session, testid: &str) {
    let button = s
        .wait_for(&format!("[data-testid={testid}]"), WAIT)
        .await
        .unwrap();
    s.click(&button).await.unwrap();
}

/// Presses a key at the focused element (or the body) as the browser would deliver it:
/// `key` with Alt/Shift/Ctrl as given.
pub async fn press(s: &Session, key: &str, alt: bool, shift: bool, ctrl: bool) {
    run(
        s,
        &format!(
            "const t = document.activeElement || document.body;
             t.dispatchEvent(new KeyboardEvent('keydown', {{key: {}, altKey: {alt}, shiftKey: {shift}, ctrlKey: {ctrl}, bubbles: true, cancelable: true}}));
             return true;",
            json!(key)
        ),
    )
    .await;
}

/// The `data-testid` of the focused element ('' for none).
pub async fn focused(s: &Session) -> String {
    run(
        s,
        "const e = document.activeElement; return e && e.dataset ? (e.dataset.testid || '') : '';",
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_string()
}

/// Waits until the page's path is `want`.
pub async fn wait_path(s: &Session, want: &str) {
    let script = format!("return location.pathname === {};", json!(want));
    wait(s, &format!("path {want}"), &script).await;
}

/// Searches messages for `query`; waits for results and returns them as
/// `[{conversation, message, text}]`.
pub async fn search_messages(s: &Session, query: &str) -> Vec<Value> {
    let input = s
        .wait_for("[data-testid=message-search]", WAIT)
        .await
        .unwrap();
    s.send_keys(&input, query).await.unwrap();
    wait(
        s,
        "search results",
        "return document.querySelectorAll('[data-testid=search-result]').length > 0;",
    )
    .await;
    run(
        s,
        "return Array.from(document.querySelectorAll('[data-testid=search-result]')).map(r => ({
            conversation: r.dataset.conversationId, message: r.dataset.messageId,
            text: r.textContent, marks: Array.from(r.querySelectorAll('mark')).map(m => m.textContent)}));",
    )
    .await
    .as_array()
    .cloned()
    .unwrap_or_default()
}

/// Opens search result `message`.
pub async fn open_search_result(s: &Session, message: &str) {
    let result = s
        .wait_for(
            &format!("[data-testid=search-result][data-message-id=\"{message}\"]"),
            WAIT,
        )
        .await
        .unwrap();
    s.click(&result).await.unwrap();
}

/// Waits until message `id` is in the thread, highlighted and in view.
pub async fn wait_highlighted_in_view(s: &Session, id: &str) {
    let script = format!(
        "const m = document.querySelector('[data-testid=message-thread] [data-message-id=\"{id}\"]');
         const t = document.querySelector('[data-testid=message-thread]');
         if (!m || !t || !m.classList.contains('highlighted')) return false;
         const a = m.getBoundingClientRect(), b = t.getBoundingClientRect();
         return a.bottom > b.top && a.top < b.bottom;"
    );
    wait(s, &format!("message {id} highlighted in view"), &script).await;
}

/// Clicks the header's theme toggle until the page is in `theme` ("light" or "dark").
pub async fn choose_theme(s: &Session, theme: &str) {
    for _ in 0..3 {
        let now = run(s, "return document.documentElement.dataset.theme || '';").await;
        if now == json!(theme) {
            return;
        }
        let toggle = s
            .wait_for("[data-testid=theme-toggle]", WAIT)
            .await
            .unwrap();
        s.click(&toggle).await.unwrap();
    }
    panic!("the theme toggle never chose {theme}");
}

/// The relative luminance (WCAG 2.x) of the page background and of the body text colour.
pub async fn page_luminance(s: &Session) -> (f64, f64) {
    let v = run(
        s,
        "const lum = c => { const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map(Number).map(x => x / 255)
            .map(x => x <= 0.04045 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4));
            return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
         const b = getComputedStyle(document.body);
         let bg = b.backgroundColor;
         if (bg === 'rgba(0, 0, 0, 0)' || bg === 'transparent') bg = getComputedStyle(document.documentElement).backgroundColor;
         return [lum(bg), lum(b.color)];",
    )
    .await;
    (v[0].as_f64().unwrap_or(-1.0), v[1].as_f64().unwrap_or(-1.0))
}

/// Makes the viewport phone-sized (`width` x `height` CSS px), or the desktop size again
/// with `None`.
pub async fn phone_viewport(s: &Session, size: Option<(u32, u32)>) {
    match size {
        Some((width, height)) => {
            s.cdp(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": width, "height": height, "deviceScaleFactor": if width <= 720 { 2 } else { 1 }, "mobile": width <= 720}),
            )
            .await
            .unwrap();
        }
        None => {
            s.cdp("Emulation.clearDeviceMetricsOverride", json!({}))
                .await
                .unwrap();
        }
    }
}

/// Waits until the focused element is the one with `data-testid` `testid`.
pub async fn wait_focused(s: &Session, testid: &str) {
    let script = format!(
        "const e = document.activeElement; return !!e && !!e.dataset && e.dataset.testid === {};",
        json!(testid)
    );
    wait(s, &format!("focus on {testid}"), &script).await;
}

/// The `data-message-id` of the focused element ('' when focus is not on a message).
pub async fn focused_message(s: &Session) -> String {
    run(
        s,
        "const e = document.activeElement; return e && e.dataset && e.dataset.messageId || '';",
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_string()
}

/// Forgets the resource timings recorded so far (the browser keeps a buffer of them).
pub async fn clear_resource_timings(s: &Session) {
    run(s, "performance.clearResourceTimings(); performance.setResourceTimingBufferSize(10000); return true;").await;
}

/// `[url, bytes transferred]` of every request the page made since
/// [`clear_resource_timings`] whose URL contains `part`.
pub async fn requests_to(s: &Session, part: &str) -> Vec<(String, u64)> {
    let script = format!(
        "return performance.getEntriesByType('resource').filter(e => e.name.includes({}))
           .map(e => [e.name, e.transferSize]);",
        json!(part)
    );
    run(s, &script)
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e[0].as_str().unwrap_or_default().to_string(),
                e[1].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// How many conversations the list holds (its `data-total`; rows are windowed).
pub async fn list_total(s: &Session) -> usize {
    run(s, "const l = document.querySelector('[data-testid=conversation-list]'); return l ? parseInt(l.dataset.total || '0', 10) : 0;")
        .await
        .as_u64()
        .unwrap_or(0) as usize
}

// What the benchmarks read of the tab (issue 17).

/// Keeps the wasm instance where [`wasm_memory_bytes`] reads it, from the next page load on
/// (devtools scripts run outside the page's Content-Security-Policy).
pub async fn keep_wasm_instance(s: &Session) {
    s.cdp(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": "addEventListener('TrunkApplicationStarted', e => { window.__switchboardWasm = e.detail.wasm; });"}),
    )
    .await
    .unwrap_or_else(|e| panic!("cannot inject the wasm handle script: {e}"));
}

/// The wasm instance's linear memory in bytes (NaN before [`keep_wasm_instance`] saw it).
pub async fn wasm_memory_bytes(s: &Session) -> f64 {
    s.execute(
        "return window.__switchboardWasm ? window.__switchboardWasm.memory.buffer.byteLength : null;",
        vec![],
    )
    .await
    .ok()
    .and_then(|v| v.as_f64())
    .unwrap_or(f64::NAN)
}

/// The numbers `script` returns as an array (`None` when it returns none).
async fn numbers(s: &Session, script: &str) -> Option<Vec<f64>> {
    let v = s.execute(script, vec![]).await.ok()?;
    Some(v.as_array()?.iter().filter_map(Value::as_f64).collect())
}

/// The numbers `window.wasmBindings.<name>()` returns (`None` before the app loaded).
async fn binding_numbers(s: &Session, name: &str) -> Option<Vec<f64>> {
    numbers(
        s,
        &format!(
            "const f = window.wasmBindings && window.wasmBindings.{name};
             return f ? Array.from(f()) : null;"
        ),
    )
    .await
}

/// The app's query cache as `[entries, observed entries, signal sets, fetchers]`
/// (`src/cache/probe.rs`, exported to `window.wasmBindings`); `None` before the app made
/// its cache.
pub async fn cache_entry_counts(s: &Session) -> Option<[u64; 4]> {
    let n: Vec<u64> = binding_numbers(s, "cache_entry_counts")
        .await?
        .into_iter()
        .map(|x| x as u64)
        .collect();
    n.try_into().ok()
}

/// From the next page load on, counts the page's timers in `window.__timers`: intervals
/// set and not cleared, timeouts set and neither fired nor cleared. A timer leak shows as
/// either count growing (Chrome's metrics count listeners, not timers).
pub async fn track_timers(s: &Session) {
    s.cdp(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": "(() => {
            const live = { intervals: new Set(), timeouts: new Set() };
            window.__timers = live;
            const [st, ct, si, ci] = [setTimeout, clearTimeout, setInterval, clearInterval];
            window.setTimeout = function (f, ms, ...a) {
                const id = st.call(window, function () { live.timeouts.delete(id); return typeof f === 'function' ? f.apply(this, arguments) : undefined; }, ms, ...a);
                live.timeouts.add(id);
                return id;
            };
            window.clearTimeout = function (id) { live.timeouts.delete(id); return ct.call(window, id); };
            window.setInterval = function (...a) { const id = si.apply(window, a); live.intervals.add(id); return id; };
            window.clearInterval = function (id) { live.intervals.delete(id); return ci.call(window, id); };
        })();"}),
    )
    .await
    .unwrap_or_else(|e| panic!("cannot inject the timer count script: {e}"));
}

/// `[pending timeouts, live intervals]` of the page (NaN before [`track_timers`] saw it).
pub async fn timer_counts(s: &Session) -> [f64; 2] {
    numbers(
        s,
        "const t = window.__timers; return t ? [t.timeouts.size, t.intervals.size] : null;",
    )
    .await
    .and_then(|n| n.try_into().ok())
    .unwrap_or([f64::NAN; 2])
}

/// The wasm heap's `[live, peak]` bytes (`src/heap_probe.rs`, exported to
/// `window.wasmBindings`): what the app holds, where [`wasm_memory_bytes`] is the linear
/// memory's high-water mark. `None` before the app loaded.
pub async fn heap_bytes(s: &Session) -> Option<[f64; 2]> {
    binding_numbers(s, "heap_bytes").await?.try_into().ok()
}

/// Records tasks over 50 ms as `[start, duration]` in `window.__long`.
pub const LONG_TASKS: &str = "window.__long = [];
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push([e.startTime, e.duration]); })
    .observe({type: 'longtask', buffered: true});
  return true;";

/// Clicks conversation `arguments[0]` and records in `window.__open` when row
/// `arguments[1]` is in the DOM (`dom`) and the frame after it (`frame`), ms from the click.
pub const OPEN_CONVERSATION: &str = "const [conv, row] = arguments;
  window.__open = null;
  const t0 = performance.now();
  const mo = new MutationObserver(() => {
    if (!document.querySelector(`[data-message-id=\"${row}\"]`)) return;
    mo.disconnect();
    const t1 = performance.now();
    requestAnimationFrame(() => { window.__open = {t0, dom: t1 - t0, frame: performance.now() - t0}; });
  });
  mo.observe(document.body, {childList: true, subtree: true});
  document.querySelector(`[data-testid=conversation-item][data-conversation-id=\"${conv}\"]`).click();
  return t0;";

/// Polls the JS `expression` every 2 ms until it is not null (20 s at most): its value,
/// `None` on time-out or a failed script.
pub async fn poll_js(s: &Session, expression: &str) -> Option<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let v = s
            .execute(&format!("return {expression};"), vec![])
            .await
            .ok()?;
        if !v.is_null() {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    None
}

/// The longest task (ms) that [`LONG_TASKS`] recorded starting within `[from, to]` ms of the
/// page's clock, 0 if none.
pub async fn longest_task(s: &Session, from: f64, to: f64) -> f64 {
    let tasks = s
        .execute("return window.__long;", vec![])
        .await
        .unwrap_or_default();
    tasks
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t[0].as_f64()?, t[1].as_f64()?)))
        .filter(|(start, _)| *start >= from - 1.0 && *start <= to)
        .map(|(_, d)| d)
        .fold(0.0, f64::max)
}
