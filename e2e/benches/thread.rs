//! `cargo xtask bench thread`: a 10,000-message thread in the real app (issue 17, "The
//! thread"). Reports, in `target/bench/thread.json`:
//!
//! - opening it from the list to its newest page in the DOM and the next frame painted
//!   (`--opens N`, default 10, alternating with another conversation), and the longest task
//!   meanwhile (PerformanceObserver `longtask`, tasks over 50 ms);
//! - each older page by scrolling up, from the reader reaching the top to the page in the
//!   DOM and painted, pages 1–10 against the last 10 (about page 190–200);
//! - the most message rows the DOM held during the climb;
//! - the server's answer to one history page by cursor at page 1 and page 200, and by
//!   `offset` for comparison (`--reps N` each, default 30).
//!
//! In-page times are `performance.now()` differences; nothing here is asserted.

use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_e2e::api::long_thread;
use switchboard_e2e::page::{login, longest_task, poll_js, LONG_TASKS, OPEN_CONVERSATION};
use switchboard_e2e::{setup, stats};

const THREAD: usize = 10_000;

/// Scrolls the thread to its top and records in `window.__page` when its first row changed
/// (`dom`) and the frame after (`frame`), ms from the scroll; `null` first row: history ended.
const CLIMB: &str = "window.__page = null;
  const t = document.querySelector('[data-testid=message-thread]');
  const first = () => { const r = t.querySelector('[data-testid=message]'); return r && r.dataset.messageId; };
  const was = first();
  const t0 = performance.now();
  const mo = new MutationObserver(() => {
    if (first() === was) return;
    mo.disconnect();
    const t1 = performance.now();
    requestAnimationFrame(() => { window.__page = {t0, dom: t1 - t0, frame: performance.now() - t0,
      rows: t.querySelectorAll('[data-testid=message]').length}; });
  });
  mo.observe(t, {childList: true, subtree: true});
  t.scrollTop = 0;
  return {first: was, more: !!t.querySelector('[data-testid=load-older]')};";

fn avg(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opens = stats::flag(&args, "--opens", 10) as usize;
    let reps = stats::flag(&args, "--reps", 30) as usize;
    let (server, browser, ana) = setup(None)
        .await
        .expect("setup (set SWITCHBOARD_SERVER_BIN for a release build)");
    let s = browser.session.clone();
    let base = server.url();
    let seeding = Instant::now();
    let (conversation, _oldest, newest) = long_thread(&base, &ana, THREAD).await.expect("seed");
    println!(
        "seeded a {THREAD}-message thread in {:.0} ms",
        seeding.elapsed().as_secs_f64() * 1e3
    );
    let mut out = serde_json::Map::new();

    // The server: one history page by cursor near the newest rows and at the oldest.
    let cursor_at = |offset: usize| {
        format!("/rest/v1/messages?select=created_at&conversation_id=eq.{conversation}&order=created_at.desc&limit=1&offset={offset}")
    };
    let select = switchboard_e2e_select();
    for (name, offset) in [("page_1", 50), ("page_200", THREAD - 50)] {
        // The page's cursor is the row just above it: the oldest row of the page before.
        let at = ana.get(&cursor_at(offset - 1)).await.expect("cursor")[0]["created_at"]
            .as_str()
            .unwrap_or_default()
            .replace('+', "%2B");
        let by_cursor = format!("/rest/v1/messages?select={select}&conversation_id=eq.{conversation}&created_at=lt.{at}&order=created_at.desc&limit=50");
        let by_offset = format!("/rest/v1/messages?select={select}&conversation_id=eq.{conversation}&order=created_at.desc&limit=50&offset={offset}");
        for (how, path) in [("cursor", by_cursor), ("offset", by_offset)] {
            let mut ms = Vec::new();
            for _ in 0..reps {
                let t = Instant::now();
                let rows = ana.get(&path).await.expect("page");
                ms.push(t.elapsed().as_secs_f64() * 1e3);
                assert_eq!(rows.as_array().map(Vec::len), Some(50), "{how} {name}");
            }
            let part = stats::summary(&mut ms);
            println!(
                "  REST {name:<8} by {how:<6} p50 {:>6.2} ms  max {:>6.2} ms",
                part["p50_ms"].as_f64().unwrap_or(f64::NAN),
                part["max_ms"].as_f64().unwrap_or(f64::NAN)
            );
            for (k, v) in part {
                out.insert(format!("rest_{name}_{how}_{k}"), v);
            }
        }
    }

    // Opening the thread from the list.
    login(&s, &base, "ana@northside.test").await;
    s.execute(LONG_TASKS, vec![])
        .await
        .expect("longtask observer");
    let other = ana.conversations().await.expect("list")[1]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut open_dom = Vec::new();
    let mut open_frame = Vec::new();
    let mut open_long = 0.0_f64;
    for _ in 0..opens {
        s.execute(
            "document.querySelector(`[data-testid=conversation-item][data-conversation-id=\"${arguments[0]}\"]`).click(); return 0;",
            vec![json!(other)],
        )
        .await
        .expect("open other");
        s.wait_for("[data-testid=message]", Duration::from_secs(20))
            .await
            .expect("other thread");
        tokio::time::sleep(Duration::from_millis(300)).await;
        s.execute(OPEN_CONVERSATION, vec![json!(conversation), json!(newest)])
            .await
            .expect("open");
        let Some(t) = poll_js(&s, "window.__open").await else {
            panic!("the long thread did not open");
        };
        let (t0, dom, frame) = (
            t["t0"].as_f64().unwrap_or(0.0),
            t["dom"].as_f64().unwrap_or(f64::NAN),
            t["frame"].as_f64().unwrap_or(f64::NAN),
        );
        open_dom.push(dom);
        open_frame.push(frame);
        open_long = open_long.max(longest_task(&s, t0, t0 + frame).await);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The first open fetches the thread; the later ones show it from the cache while it
    // refetches (as a dispatcher going back and forth does).
    out.insert("open_first_ms".into(), json!(open_frame.first()));
    let open = stats::summary(&mut open_frame);
    println!(
        "  open → newest page painted  first {:>6.1} ms  p50 {:>6.1} ms  max {:>6.1} ms  (in DOM p50 {:.1} ms); longest task {open_long:.0} ms",
        out["open_first_ms"].as_f64().unwrap_or(f64::NAN),
        open["p50_ms"].as_f64().unwrap_or(f64::NAN),
        open["max_ms"].as_f64().unwrap_or(f64::NAN),
        stats::percentile(&{
            let mut d = open_dom.clone();
            d.sort_by(f64::total_cmp);
            d
        }, 0.5),
    );
    for (k, v) in open {
        out.insert(format!("open_{k}"), v);
    }
    out.insert("open_longest_task_ms".into(), json!(open_long));

    // Climbing to the first message, one page at a time.
    let mut pages = Vec::new();
    let mut rows_max = 0_u64;
    let mut climb_long = 0.0_f64;
    loop {
        s.execute(CLIMB, vec![]).await.expect("climb");
        // A page came in, or the history ended (the last page was empty, the button left).
        let ended = "(window.__page || (document.querySelector('[data-testid=load-older]') ? null : {end: true}))";
        let Some(p) = poll_js(&s, ended).await else {
            panic!("no page came in after {} pages", pages.len());
        };
        if p["end"] == true {
            break;
        }
        let frame = p["frame"].as_f64().unwrap_or(f64::NAN);
        pages.push(frame);
        rows_max = rows_max.max(p["rows"].as_u64().unwrap_or(0));
        climb_long = climb_long.max(
            longest_task(
                &s,
                p["t0"].as_f64().unwrap_or(0.0),
                p["t0"].as_f64().unwrap_or(0.0) + frame,
            )
            .await,
        );
        if pages.len() > THREAD / 50 + 5 {
            panic!("the climb does not end");
        }
    }
    let first10 = avg(&pages[..pages.len().min(10)]);
    let last10 = avg(&pages[pages.len().saturating_sub(10)..]);
    println!(
        "  older page → painted: pages 1–10 avg {first10:.1} ms, last 10 avg {last10:.1} ms ({} pages); DOM rows max {rows_max}; longest task {climb_long:.0} ms",
        pages.len()
    );
    out.insert("older_pages".into(), json!(pages.len()));
    out.insert("older_first10_avg_ms".into(), json!(first10));
    out.insert("older_last10_avg_ms".into(), json!(last10));
    out.insert("older_longest_task_ms".into(), json!(climb_long));
    out.insert("dom_rows_max".into(), json!(rows_max));
    println!("wrote {}", stats::write("thread", out).display());
    browser.stop().await;
}

/// The app's thread columns (`api::MESSAGE_SELECT`), so the server does the same work.
fn switchboard_e2e_select() -> &'static str {
    "id,conversation_id,sender_id,body,priority,created_at,sender:users(display_name,role),ack:message_acks(user_id,acked_at,user:users(display_name))"
}
