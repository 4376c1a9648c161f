//! `cargo xtask bench latency`: medic messages at a steady rate into the open thread; for each,
//! commit (server `created_at`) to the row being in the DOM (an in-page MutationObserver with
//! `performance.timeOrigin`-aligned time; same machine, same clock).

use std::time::Duration;

use serde_json::json;
use switchboard_e2e::api::medic_for;
use switchboard_e2e::page::{login, open_conversation, MESSAGE_COUNT};
use switchboard_e2e::{setup, stats};

const OBSERVER: &str = "
  window.__seen = {};
  const thread = document.querySelector('[data-testid=message-thread]');
  new MutationObserver((records) => {
    const t = performance.timeOrigin + performance.now();
    for (const r of records) for (const n of r.addedNodes) {
      if (n.nodeType !== 1) continue;
      const rows = n.matches('[data-testid=message]') ? [n] : n.querySelectorAll('[data-testid=message]');
      for (const row of rows) { const id = row.dataset.messageId; if (!(id in window.__seen)) window.__seen[id] = t; }
    }
  }).observe(thread, {childList: true, subtree: true});
  // Where the time goes: each thread refetch's start and end, on the same clock.
  window.__fetches = [];
  performance.setResourceTimingBufferSize(100000);
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.name.includes('/rest/v1/messages'))
      window.__fetches.push([performance.timeOrigin + e.startTime, performance.timeOrigin + e.responseEnd, e.requestStart - e.startTime, e.responseStart - e.requestStart]);
  }).observe({type: 'resource'});
  return true;";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count = stats::flag(&args, "--count", 1000);
    let rate = stats::flag(&args, "--rate", 20).max(1);
    let (server, browser, ana) = setup(None)
        .await
        .expect("setup (set SWITCHBOARD_SERVER_BIN for a release build)");
    let s = browser.session.clone();
    let base = server.url();
    let conv = ana.conversations().await.expect("list")[0].clone();
    let id = conv["id"].as_str().unwrap_or_default().to_string();
    let medic = medic_for(&base, &conv)
        .await
        .expect("the conversation's medic");
    login(&s, &base, "ana@northside.test").await;
    open_conversation(&s, &id).await;
    s.execute(OBSERVER, vec![]).await.expect("observer");

    println!("posting {count} messages at {rate}/s into one open thread…");
    let mut created = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    for i in 0..count {
        tick.tick().await;
        let row = medic
            .post(&id, &format!("latency probe {i}"))
            .await
            .expect("post");
        created.push((
            row["id"].as_str().unwrap_or_default().to_string(),
            stats::epoch_ms(row["created_at"].as_str().unwrap_or_default()).unwrap_or(f64::NAN),
        ));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen = s
        .execute("return window.__seen;", vec![])
        .await
        .expect("read observer");
    let fetches: Vec<(f64, f64, f64, f64)> = s
        .execute("return window.__fetches;", vec![])
        .await
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let mut samples = Vec::new();
    let (mut to_fetch, mut in_fetch, mut to_dom) = (Vec::new(), Vec::new(), Vec::new());
    let (mut queued, mut waiting) = (Vec::new(), Vec::new());
    let mut missing = 0;
    for (mid, at) in &created {
        match seen.get(mid).and_then(|v| v.as_f64()) {
            Some(t) => {
                samples.push(t - at);
                // The first refetch that started after the commit and ended before the row
                // showed: commit→request start, the request itself, response→DOM.
                if let Some((start, end, queue, wait)) = fetches
                    .iter()
                    .find(|(start, end, _, _)| *start >= *at && *end <= t)
                {
                    to_fetch.push(start - at);
                    in_fetch.push(end - start);
                    to_dom.push(t - end);
                    queued.push(*queue);
                    waiting.push(*wait);
                }
            }
            None => missing += 1,
        }
    }
    let mut out = stats::summary(&mut samples);
    let parts = [
        ("commit_to_request", &mut to_fetch),
        ("request", &mut in_fetch),
        // Of the request: fetch() to the request leaving the browser, then to the first byte.
        ("request_queued", &mut queued),
        ("request_server", &mut waiting),
        ("response_to_dom", &mut to_dom),
    ];
    // Flat keys (ARCHITECTURE.md, "Benchmark JSON"): `request_server_p50_ms` and so on.
    let mut breakdown = Vec::new();
    for (name, values) in parts {
        let part = stats::summary(values);
        println!(
            "  {name:<18} p50 {:>6.1}  p95 {:>6.1}  p99 {:>6.1} ms",
            part["p50_ms"].as_f64().unwrap_or(f64::NAN),
            part["p95_ms"].as_f64().unwrap_or(f64::NAN),
            part["p99_ms"].as_f64().unwrap_or(f64::NAN)
        );
        for p in ["p50_ms", "p95_ms", "p99_ms"] {
            breakdown.push((format!("{name}_{p}"), part[p].clone()));
        }
    }
    out.extend(breakdown);
    out.insert("missing".into(), json!(missing));
    // How much of the thread the page kept loaded (a followed thread sheds old rows).
    let rows = s.execute(MESSAGE_COUNT, vec![]).await.unwrap_or_default();
    println!(
        "rows in the thread at the end: {rows}; thread requests: {}",
        fetches.len()
    );
    out.insert("thread_requests".into(), json!(fetches.len()));
    out.insert("rows_at_end".into(), rows);
    out.insert("rate_per_s".into(), json!(rate));
    println!(
        "{:>9} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "samples", "p50 ms", "p95 ms", "p99 ms", "max ms", "missing"
    );
    println!(
        "{:>9} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8}",
        out["samples"],
        out["p50_ms"].as_f64().unwrap_or(f64::NAN),
        out["p95_ms"].as_f64().unwrap_or(f64::NAN),
        out["p99_ms"].as_f64().unwrap_or(f64::NAN),
        out["max_ms"].as_f64().unwrap_or(f64::NAN),
        missing
    );
    println!("wrote {}", stats::write("latency", out).display());
    browser.stop().await;
}
