//! `cargo xtask bench scale`, the app's half (issue 17, "Figures"): Northside grown to
//! `--conversations N` (default 2,000) through the REST API (`api::busy_org`: a few unread,
//! a few with an unacknowledged urgent message), then the release server and the built app
//! in headless Chromium:
//!
//! - sign in → the list's first rows in the DOM and the next frame painted (`--signins N`,
//!   default 5, signing out between), and how many list rows the DOM holds (windowed);
//! - a medic message into a conversation at the bottom of the list → that item first in the
//!   list's DOM below the pinned urgent ones (`--moves N`, default 10, a different one each
//!   time): from the POST, and from the list's answer (Resource Timing) to the DOM, with
//!   the longest task meanwhile;
//! - opening a conversation from the list → its newest message in the DOM and painted
//!   (`--opens N`, default 10, each a conversation not opened before), longest task;
//! - `--seconds S` (default 100) at `--rate R` medic messages/s (default 20) spread over the
//!   org with the list open: list requests (`rpc/conversations_with_unread`) and their bytes
//!   (Resource Timing `transferSize`, compressed, with headers; `encodedBodySize`), every
//!   HTTP byte the tab downloaded (the websocket's frames are not in Resource Timing), list
//!   bytes per event, the renderer's CPU (`Performance.getMetrics` `TaskDuration` over wall
//!   time), JS heap / wasm memory / DOM nodes at start and end, the query cache's entries
//!   (all, and observed: unobserved ones stay for the gc time, 5 min), and opening a
//!   conversation every 5 s meanwhile.
//!
//! Nothing is asserted. The keys (prefixed `app_`) are merged into `target/bench/scale.json`,
//! which the server's half (`server/benches/scale.rs`, run first) writes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use switchboard_e2e::api::{busy_org, Api};
use switchboard_e2e::page::{
    cache_entry_counts, keep_wasm_instance, longest_task, poll_js, sign_out, wasm_memory_bytes,
    ITEMS, LONG_TASKS, OPEN_CONVERSATION,
};
use switchboard_e2e::{repo_root, setup, stats, Session};

/// Fills nothing: clicks the login form's submit button and records in `window.__signin`
/// when the first list row is in the DOM (`dom`) and the frame after (`frame`), ms from the
/// click.
const SIGN_IN: &str = "window.__signin = null;
  const t0 = performance.now();
  const mo = new MutationObserver(() => {
    if (!document.querySelector('[data-testid=conversation-item]')) return;
    mo.disconnect();
    const t1 = performance.now();
    requestAnimationFrame(() => { window.__signin = {t0, dom: t1 - t0, frame: performance.now() - t0}; });
  });
  mo.observe(document.body, {childList: true, subtree: true});
  document.querySelector('[data-testid=login-form] button[type=submit]').click();
  return t0;";

/// Watches for conversation `arguments[0]` to be the list's first row below those pinned
/// for an unacknowledged urgent message (`urgent::pin_urgent`); records in
/// `window.__top` the page time it was (`dom`), the frame after (`frame`), and the end of
/// the last list answer before it (`answer`, Resource Timing). Returns the epoch ms now.
const ON_TOP: &str = "const conv = arguments[0];
  window.__top = null;
  const t0 = performance.now();
  const first = () => { const e = document.querySelector('[data-testid=conversation-item][data-urgent=\"0\"]'); return e && e.dataset.conversationId; };
  const mo = new MutationObserver(() => {
    if (first() !== conv) return;
    mo.disconnect();
    const t1 = performance.now();
    const answers = performance.getEntriesByType('resource')
      .filter(e => e.name.includes('rpc/conversations_with_unread') && e.responseEnd <= t1)
      .map(e => e.responseEnd);
    const answer = answers.length ? Math.max(...answers) : null;
    requestAnimationFrame(() => { window.__top = {t0, dom: t1, frame: performance.now(), answer,
      epoch: performance.timeOrigin + t1}; });
  });
  mo.observe(document.querySelector('[data-testid=conversation-list]'), {childList: true, subtree: true, attributes: true});
  return t0;";

/// The list's rows in the DOM and its `data-total`.
const LIST_ROWS: &str = "const l = document.querySelector('[data-testid=conversation-list]');
  return [document.querySelectorAll('[data-testid=conversation-item]').length, l ? parseInt(l.dataset.total || '0', 10) : 0];";

/// Forgets the resource timings so far and makes room for a long run's.
const CLEAR_RESOURCES: &str =
    "performance.clearResourceTimings(); performance.setResourceTimingBufferSize(200000); return true;";

/// Requests since [`CLEAR_RESOURCES`]: `{list, list_transfer, list_body, all, all_transfer}`.
const RESOURCES: &str = "const all = performance.getEntriesByType('resource');
  const list = all.filter(e => e.name.includes('rpc/conversations_with_unread'));
  const sum = (v, k) => v.reduce((a, e) => a + (e[k] || 0), 0);
  return {list: list.length, list_transfer: sum(list, 'transferSize'), list_body: sum(list, 'encodedBodySize'),
          all: all.length, all_transfer: sum(all, 'transferSize')};";

fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
}

/// Chrome's `Performance.getMetrics` as `name → value`.
async fn metrics(s: &Session) -> Map<String, Value> {
    let _ = s.cdp("HeapProfiler.collectGarbage", json!({})).await;
    let m = s
        .cdp("Performance.getMetrics", json!({}))
        .await
        .unwrap_or(Value::Null);
    m["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| Some((x["name"].as_str()?.to_string(), x["value"].clone())))
        .collect()
}

fn num(m: &Map<String, Value>, name: &str) -> f64 {
    m.get(name).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

/// The id of a conversation's newest message, as Ana reads it.
async fn newest_message(ana: &Api, conversation: &str) -> String {
    let path = format!("/rest/v1/messages?select=id&conversation_id=eq.{conversation}&order=created_at.desc&limit=1");
    ana.get(&path).await.unwrap_or_default()[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Opens `conversation` from the list: `(painted ms, in DOM ms, longest task ms)`.
async fn open(s: &Session, ana: &Api, conversation: &str) -> Option<(f64, f64, f64)> {
    let row = newest_message(ana, conversation).await;
    s.execute(OPEN_CONVERSATION, vec![json!(conversation), json!(row)])
        .await
        .ok()?;
    let t = poll_js(s, "window.__open").await?;
    let t0 = t["t0"].as_f64().unwrap_or(0.0);
    let frame = t["frame"].as_f64().unwrap_or(f64::NAN);
    let long = longest_task(s, t0, t0 + frame).await;
    Some((frame, t["dom"].as_f64().unwrap_or(f64::NAN), long))
}

/// Adds `{prefix}_p50_ms`, `{prefix}_max_ms`, `{prefix}_samples` to `out`; returns
/// `(p50, max)`.
fn put(out: &mut Map<String, Value>, prefix: &str, samples: &mut [f64]) -> (f64, f64) {
    let s = stats::summary(samples);
    let (p50, max) = (
        s["p50_ms"].as_f64().unwrap_or(f64::NAN),
        s["max_ms"].as_f64().unwrap_or(f64::NAN),
    );
    out.insert(format!("{prefix}_p50_ms"), json!(p50));
    out.insert(format!("{prefix}_max_ms"), json!(max));
    out.insert(format!("{prefix}_samples"), s["samples"].clone());
    (p50, max)
}

/// The visible list rows' conversation ids, in order.
async fn visible_items(s: &Session) -> Vec<String> {
    s.execute(ITEMS, vec![])
        .await
        .unwrap_or_default()
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let total = stats::flag(&args, "--conversations", 2_000) as usize;
    let per_conversation = stats::flag(&args, "--per-conversation", 5) as usize;
    let signins = stats::flag(&args, "--signins", 5) as usize;
    let moves = stats::flag(&args, "--moves", 10) as usize;
    let opens = stats::flag(&args, "--opens", 10) as usize;
    let seconds = stats::flag(&args, "--seconds", 100);
    let rate = stats::flag(&args, "--rate", 20).max(1);
    let (server, browser, ana) = setup(None)
        .await
        .expect("setup (set SWITCHBOARD_SERVER_BIN for a release build)");
    let s = browser.session.clone();
    let base = server.url();
    let mut out = Map::new();

    let seeding = Instant::now();
    let org = busy_org(&base, total, per_conversation)
        .await
        .expect("seed");
    let seed_seconds = seeding.elapsed().as_secs_f64();
    println!(
        "seeded Northside to {} conversations ({} unread, {} urgent) in {seed_seconds:.1} s",
        org.conversations.len(),
        org.unread,
        org.urgent
    );
    out.insert("app_conversations".into(), json!(org.conversations.len()));
    out.insert("app_seed_seconds".into(), json!(seed_seconds));

    keep_wasm_instance(&s).await;
    s.cdp("Performance.enable", json!({}))
        .await
        .expect("metrics");
    s.goto(&format!("{base}/login")).await.expect("login page");
    s.execute(LONG_TASKS, vec![])
        .await
        .expect("longtask observer");

    // Sign in → list painted.
    let (mut signin_dom, mut signin_frame) = (Vec::new(), Vec::new());
    let mut signin_long = 0.0_f64;
    let mut dom_rows = 0_u64;
    let mut list_total = 0_u64;
    for round in 0..signins {
        if round > 0 {
            sign_out(&s).await;
        }
        // The fields, then the click timed in the page.
        fill_login(&s).await;
        s.execute(SIGN_IN, vec![]).await.expect("sign in");
        let Some(t) = poll_js(&s, "window.__signin").await else {
            panic!("the list never showed after signing in");
        };
        let t0 = t["t0"].as_f64().unwrap_or(0.0);
        let frame = t["frame"].as_f64().unwrap_or(f64::NAN);
        signin_dom.push(t["dom"].as_f64().unwrap_or(f64::NAN));
        signin_frame.push(frame);
        signin_long = signin_long.max(longest_task(&s, t0, t0 + frame).await);
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let rows = s.execute(LIST_ROWS, vec![]).await.unwrap_or_default();
        dom_rows = dom_rows.max(rows[0].as_u64().unwrap_or(0));
        list_total = rows[1].as_u64().unwrap_or(0);
    }
    let (p50, max) = put(&mut out, "app_signin_list_painted", &mut signin_frame);
    let (dom_p50, _) = put(&mut out, "app_signin_list_dom", &mut signin_dom);
    out.insert("app_signin_longest_task_ms".into(), json!(signin_long));
    out.insert("app_list_dom_rows".into(), json!(dom_rows));
    out.insert("app_list_total".into(), json!(list_total));
    let mut table = vec![
        format!("sign in → list painted          p50 {p50:>7.1} ms  max {max:>7.1} ms  (in DOM p50 {dom_p50:.1} ms); longest task {signin_long:.0} ms"),
        format!("list rows in the DOM            {dom_rows} (list total {list_total} of {} conversations)", org.conversations.len()),
    ];

    // A message far down the list → the item on top.
    let bottom: Vec<(usize, String)> = org
        .conversations
        .iter()
        .rev()
        .filter(|(_, c)| {
            c["unread_count"].as_i64() == Some(0) && c["unacked_urgent"].as_i64() == Some(0)
        })
        .filter_map(|(m, c)| Some((*m, c["id"].as_str()?.to_string())))
        .take(moves)
        .collect();
    let (mut top_ms, mut top_after_answer) = (Vec::new(), Vec::new());
    let mut top_long = 0.0_f64;
    for (m, conv) in &bottom {
        s.execute(ON_TOP, vec![json!(conv)])
            .await
            .expect("watch top");
        let sent = epoch_ms();
        org.medics[*m]
            .post(conv, "Transporting, ETA 12 minutes")
            .await
            .expect("post");
        let Some(t) = poll_js(&s, "window.__top").await else {
            panic!("conversation {conv} never reached the top of the list");
        };
        let dom = t["dom"].as_f64().unwrap_or(f64::NAN);
        top_ms.push(t["epoch"].as_f64().unwrap_or(f64::NAN) - sent);
        if let Some(answer) = t["answer"].as_f64() {
            top_after_answer.push(dom - answer);
        }
        top_long = top_long.max(
            longest_task(
                &s,
                t["t0"].as_f64().unwrap_or(0.0),
                t["frame"].as_f64().unwrap_or(dom),
            )
            .await,
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (p50, max) = put(&mut out, "app_move_to_top", &mut top_ms);
    let (a50, amax) = put(
        &mut out,
        "app_move_to_top_after_answer",
        &mut top_after_answer,
    );
    out.insert("app_move_to_top_longest_task_ms".into(), json!(top_long));
    table.push(format!("message far down → item on top  p50 {p50:>7.1} ms  max {max:>7.1} ms  (from the list's answer p50 {a50:.1} ms, max {amax:.1} ms); longest task {top_long:.0} ms"));

    // Opening conversations from the list, each for the first time.
    let candidates = visible_items(&s).await;
    let (mut open_frame, mut open_dom) = (Vec::new(), Vec::new());
    let mut open_long = 0.0_f64;
    for conv in candidates.iter().take(opens) {
        let Some((frame, dom, long)) = open(&s, &ana, conv).await else {
            panic!("conversation {conv} did not open");
        };
        open_frame.push(frame);
        open_dom.push(dom);
        open_long = open_long.max(long);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (p50, max) = put(&mut out, "app_open", &mut open_frame);
    let (dom_p50, _) = put(&mut out, "app_open_dom", &mut open_dom);
    out.insert("app_open_longest_task_ms".into(), json!(open_long));
    table.push(format!("open a conversation → painted   p50 {p50:>7.1} ms  max {max:>7.1} ms  (in DOM p50 {dom_p50:.1} ms); longest task {open_long:.0} ms"));

    // Load: `rate` messages/s spread over the org, the list open.
    s.execute(CLEAR_RESOURCES, vec![]).await.expect("clear");
    let m0 = metrics(&s).await;
    let wasm0 = wasm_memory_bytes(&s).await;
    let cache0 = cache_entry_counts(&s).await;
    let long_from = s
        .execute("return performance.now();", vec![])
        .await
        .ok()
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0);
    let posted = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let poster = {
        let (medics, posted, failed) = (org.medics.clone(), posted.clone(), failed.clone());
        let targets: Arc<Vec<(usize, String)>> = Arc::new(
            org.conversations
                .iter()
                .filter_map(|(m, c)| Some((*m, c["id"].as_str()?.to_string())))
                .collect(),
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
            let mut sends = Vec::new();
            for i in 0..seconds * rate {
                tick.tick().await;
                // A stride coprime with any org size below 7,919 visits every conversation.
                let (m, conv) = targets[(i as usize * 7_919) % targets.len()].clone();
                let (medics, posted, failed) = (medics.clone(), posted.clone(), failed.clone());
                sends.push(tokio::spawn(async move {
                    match medics[m].post(&conv, &format!("Load update {i}")).await {
                        Ok(_) => posted.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }));
            }
            for send in sends {
                let _ = send.await;
            }
        })
    };
    let mut load_open = Vec::new();
    let mut load_open_long = 0.0_f64;
    let mut turn = 0_usize;
    // The open conversation: clicking it again would change nothing to wait for.
    let mut current = candidates.iter().take(opens).next_back().cloned();
    while !poster.is_finished() {
        tokio::time::sleep(Duration::from_secs(5)).await;
        if poster.is_finished() {
            break;
        }
        let items: Vec<String> = visible_items(&s)
            .await
            .into_iter()
            .take(12)
            .filter(|c| Some(c) != current.as_ref())
            .collect();
        if items.is_empty() {
            continue;
        }
        turn += 1;
        let conv = &items[(turn * 5) % items.len()];
        if let Some((frame, _, long)) = open(&s, &ana, conv).await {
            load_open.push(frame);
            load_open_long = load_open_long.max(long);
        }
        current = Some(conv.clone());
    }
    let _ = poster.await;
    // The last events' refetches land.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let wall = started.elapsed().as_secs_f64();
    let m1 = metrics(&s).await;
    let wasm1 = wasm_memory_bytes(&s).await;
    let cache1 = cache_entry_counts(&s).await;
    let res = s.execute(RESOURCES, vec![]).await.unwrap_or_default();
    let load_long = longest_task(&s, long_from, f64::MAX).await;
    let events = posted.load(Ordering::Relaxed);
    let list_requests = res["list"].as_u64().unwrap_or(0);
    let list_bytes = res["list_transfer"].as_f64().unwrap_or(f64::NAN);
    let list_body = res["list_body"].as_f64().unwrap_or(f64::NAN);
    let all_bytes = res["all_transfer"].as_f64().unwrap_or(f64::NAN);
    let per_event = list_bytes / events.max(1) as f64;
    let cpu = (num(&m1, "TaskDuration") - num(&m0, "TaskDuration")) / wall * 100.0;
    let mb = |b: f64| b / 1_048_576.0;
    for (k, v) in [
        ("app_load_seconds", json!(wall)),
        ("app_load_events", json!(events)),
        (
            "app_load_failed_posts",
            json!(failed.load(Ordering::Relaxed)),
        ),
        ("app_load_list_requests", json!(list_requests)),
        ("app_load_list_bytes", json!(list_bytes)),
        ("app_load_list_body_bytes", json!(list_body)),
        ("app_load_list_bytes_per_event", json!(per_event)),
        ("app_load_requests", res["all"].clone()),
        ("app_load_bytes", json!(all_bytes)),
        ("app_load_renderer_cpu_percent", json!(cpu)),
        ("app_load_longest_task_ms", json!(load_long)),
        (
            "app_load_js_heap_mb_start",
            json!(mb(num(&m0, "JSHeapUsedSize"))),
        ),
        (
            "app_load_js_heap_mb_end",
            json!(mb(num(&m1, "JSHeapUsedSize"))),
        ),
        ("app_load_wasm_mb_start", json!(mb(wasm0))),
        ("app_load_wasm_mb_end", json!(mb(wasm1))),
        ("app_load_dom_nodes_start", json!(num(&m0, "Nodes"))),
        ("app_load_dom_nodes_end", json!(num(&m1, "Nodes"))),
        ("app_load_cache_entries_start", json!(cache0.map(|c| c[0]))),
        ("app_load_cache_entries_end", json!(cache1.map(|c| c[0]))),
        ("app_load_cache_observed_start", json!(cache0.map(|c| c[1]))),
        ("app_load_cache_observed_end", json!(cache1.map(|c| c[1]))),
        ("app_load_open_longest_task_ms", json!(load_open_long)),
    ] {
        out.insert(k.into(), v);
    }
    let (op50, opmax) = put(&mut out, "app_load_open", &mut load_open);
    table.push(format!(
        "{wall:.0} s at {rate}/s ({events} events): {list_requests} list requests, {:.1} KB ({:.1} KB bodies), {:.0} B per event; {:.1} KB over HTTP in all",
        list_bytes / 1e3,
        list_body / 1e3,
        per_event,
        all_bytes / 1e3
    ));
    table.push(format!(
        "  renderer CPU {cpu:.1} % of a core; longest task {load_long:.0} ms; JS heap {:.1} → {:.1} MB, wasm {:.1} → {:.1} MB, DOM nodes {} → {}, cache entries {} → {} (observed {} → {})",
        mb(num(&m0, "JSHeapUsedSize")),
        mb(num(&m1, "JSHeapUsedSize")),
        mb(wasm0),
        mb(wasm1),
        num(&m0, "Nodes"),
        num(&m1, "Nodes"),
        cache0.map_or("?".into(), |c| c[0].to_string()),
        cache1.map_or("?".into(), |c| c[0].to_string()),
        cache0.map_or("?".into(), |c| c[1].to_string()),
        cache1.map_or("?".into(), |c| c[1].to_string()),
    ));
    table.push(format!(
        "  opening a conversation meanwhile p50 {op50:.1} ms  max {opmax:.1} ms ({} opens); longest task {load_open_long:.0} ms",
        load_open.len()
    ));
    for line in &table {
        println!("{line}");
    }

    // The server's half wrote scale.json first: add ours to it.
    let path = repo_root().join("target/bench/scale.json");
    let mut merged: Map<String, Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    merged.extend(out);
    println!("wrote {}", stats::write("scale", merged).display());
    browser.stop().await;
}

/// Fills in the login form on screen with Ana's demo login, without submitting it.
async fn fill_login(s: &Session) {
    use switchboard_api_client::DEMO_PASSWORD;
    let wait = switchboard_e2e::page::WAIT;
    for (input, text) in [("email", "ana@northside.test"), ("password", DEMO_PASSWORD)] {
        let field = s
            .wait_for(
                &format!("[data-testid=login-form] input[type={input}]"),
                wait,
            )
            .await
            .expect("login field");
        s.send_keys(&field, text).await.expect("type");
    }
}
