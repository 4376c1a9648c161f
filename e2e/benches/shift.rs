//! `cargo xtask bench shift [-- --events N --idle-seconds S --open-seconds O]`: a 12-hour
//! shift in accelerated time (issue 17). Medics post `N` messages (default 50,000) spread
//! over every Northside conversation as fast as the server takes them, while one tab keeps
//! the list open and opens a different conversation every `O` s (default 3; 0: never). Every 5 s it samples the tab (JS heap, wasm
//! memory, DOM nodes, event listeners, from Chrome's own counters; the query cache's
//! entries, observed entries, signal sets and fetchers, from `window.wasmBindings.
//! cache_entry_counts()`) and the server's RSS. Reports start (after warm-up: the first
//! tenth of the events), peak and end of each, and where the second half of the events
//! starts and peaks (`_half`, `_second_half_peak`): caches fill to their bounds in the first
//! half, so a series that is flat is flat there.
//!
//! Then the tab stays on one conversation for `--idle-seconds S` (default 360: the cache's
//! gc time, 300 s, plus its 30 s collection period and a margin; the app has no knob to
//! shorten it) and is sampled every 15 s: the entries of the conversations no longer shown
//! must be collected, leaving only observed ones (`cache_unobserved_after_idle`).
//! JSON in `target/bench/shift.json`. Hidden-tab behaviour is not what this measures (the
//! tab is visible; headless Chromium never hides it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use switchboard_e2e::api::northside_medics;
use switchboard_e2e::page::{
    cache_entry_counts, heap_bytes, keep_wasm_instance, login, timer_counts, track_timers,
    wasm_memory_bytes,
};
use switchboard_e2e::{setup, stats, Session};

/// A reported series: its name and how to read it from a sample.
type Series = (&'static str, fn(&Sample) -> f64);

/// One sample of the tab and the server.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    js_heap_mb: f64,
    wasm_mb: f64,
    /// Bytes the app holds in the wasm heap (allocated, not freed), MB.
    wasm_live_mb: f64,
    dom_nodes: f64,
    listeners: f64,
    /// The page's pending timeouts and live intervals.
    timers: [f64; 2],
    server_rss_mb: f64,
    /// The query cache: entries, observed entries, signal sets, fetchers.
    cache: [f64; 4],
}

/// Chrome's `Performance.getMetrics` value named `name`.
fn metric(metrics: &Value, name: &str) -> f64 {
    metrics["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["name"] == name)
        .and_then(|m| m["value"].as_f64())
        .unwrap_or(f64::NAN)
}

/// The server's resident memory (MB), from `/proc/<pid>/status`.
fn rss_mb(pid: Option<u32>) -> f64 {
    let Some(pid) = pid else { return f64::NAN };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

async fn sample(s: &Session, pid: Option<u32>) -> Sample {
    // A collection first, so the heap is what is live, not what is garbage.
    let _ = s.cdp("HeapProfiler.collectGarbage", json!({})).await;
    let metrics = s
        .cdp("Performance.getMetrics", json!({}))
        .await
        .unwrap_or(Value::Null);
    let wasm = wasm_memory_bytes(s).await;
    let live = heap_bytes(s).await.map_or(f64::NAN, |[live, _]| live);
    let cache = cache_entry_counts(s)
        .await
        .map_or([f64::NAN; 4], |c| c.map(|n| n as f64));
    Sample {
        js_heap_mb: metric(&metrics, "JSHeapUsedSize") / 1_048_576.0,
        wasm_mb: wasm / 1_048_576.0,
        wasm_live_mb: live / 1_048_576.0,
        dom_nodes: metric(&metrics, "Nodes"),
        listeners: metric(&metrics, "JSEventListeners"),
        timers: timer_counts(s).await,
        server_rss_mb: rss_mb(pid),
        cache,
    }
}

/// One line of a sample.
fn show(at: &str, x: &Sample) {
    println!(
        "{at:>14}  heap {:>6.1} MB  wasm {:>6.1} MB ({:>5.1} live)  nodes {:>6}  listeners {:>5}  timers {}+{}  server {:>6.1} MB  cache {:>4} entries ({} observed, {} signals, {} fetchers)",
        x.js_heap_mb, x.wasm_mb, x.wasm_live_mb, x.dom_nodes, x.listeners, x.timers[0], x.timers[1], x.server_rss_mb,
        x.cache[0], x.cache[1], x.cache[2], x.cache[3],
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let events = stats::flag(&args, "--events", 50_000);
    let idle_seconds = stats::flag(&args, "--idle-seconds", 360);
    // 0: never open another conversation (tells the cost of events from that of opens).
    let open_seconds = stats::flag(&args, "--open-seconds", 3);
    let (server, browser, ana) = setup(None).await.expect("setup");
    let s = browser.session.clone();
    let base = server.url();
    keep_wasm_instance(&s).await;
    track_timers(&s).await;
    s.cdp("Performance.enable", json!({}))
        .await
        .expect("metrics");
    login(&s, &base, "ana@northside.test").await;
    let convs: Vec<Value> = ana.conversations().await.expect("list");
    let medics = Arc::new(northside_medics(&base).await.expect("medics"));
    let pairs: Arc<Vec<(usize, String)>> = Arc::new(
        convs
            .iter()
            .filter_map(|c| {
                let medic = medics.iter().position(|m| m.user["id"] == c["medic_id"])?;
                Some((medic, c["id"].as_str()?.to_string()))
            })
            .collect(),
    );

    // Posters: four at a time, round-robin over the conversations.
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut posters = Vec::new();
    for lane in 0..4_u64 {
        let (medics, pairs, sent) = (medics.clone(), pairs.clone(), sent.clone());
        posters.push(tokio::spawn(async move {
            let mut i = lane;
            while i < events {
                let (medic, conv) = &pairs[(i as usize) % pairs.len()];
                let _ = medics[*medic]
                    .post(conv, &format!("Shift update {i}"))
                    .await;
                sent.fetch_add(1, Ordering::Relaxed);
                i += 4;
            }
        }));
    }

    let mut samples: Vec<(u64, Sample)> = Vec::new();
    let mut opens = 0_u64;
    let mut last_open = Instant::now();
    let mut last_sample = Instant::now() - Duration::from_secs(10);
    while posters.iter().any(|p| !p.is_finished()) {
        if open_seconds > 0 && last_open.elapsed() >= Duration::from_secs(open_seconds) {
            let (_, conv) = &pairs[(opens as usize * 7) % pairs.len()];
            let script = format!(
                "history.pushState(null, '', '/messages/{conv}'); dispatchEvent(new PopStateEvent('popstate')); return true;"
            );
            let _ = s.execute(&script, vec![]).await;
            opens += 1;
            last_open = Instant::now();
        }
        if last_sample.elapsed() >= Duration::from_secs(5) {
            let at = sent.load(Ordering::Relaxed);
            let x = sample(&s, server.pid()).await;
            show(&format!("{at} events"), &x);
            samples.push((at, x));
            last_sample = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the last refetches land, then the final sample.
    tokio::time::sleep(Duration::from_secs(3)).await;
    samples.push((sent.load(Ordering::Relaxed), sample(&s, server.pid()).await));
    let seconds = started.elapsed().as_secs_f64();

    let warm: Vec<&Sample> = samples
        .iter()
        .filter(|(at, _)| *at >= events / 10)
        .map(|(_, x)| x)
        .collect();
    let mut out = Map::new();
    out.insert("events".into(), json!(events));
    out.insert("seconds".into(), json!(seconds));
    out.insert("conversation_opens".into(), json!(opens));
    out.insert("samples".into(), json!(samples.len()));
    let series: [Series; 10] = [
        ("js_heap_mb", |x| x.js_heap_mb),
        ("wasm_mb", |x| x.wasm_mb),
        ("wasm_live_mb", |x| x.wasm_live_mb),
        ("dom_nodes", |x| x.dom_nodes),
        ("event_listeners", |x| x.listeners),
        ("timeouts_pending", |x| x.timers[0]),
        ("intervals_live", |x| x.timers[1]),
        ("server_rss_mb", |x| x.server_rss_mb),
        ("cache_entries", |x| x.cache[0]),
        ("cache_unobserved", |x| x.cache[0] - x.cache[1]),
    ];
    // The second half: by then every cache has filled to its bound (the query cache holds
    // the newest pages of about twenty threads no longer shown), so flat means flat here.
    let second_half: Vec<&Sample> = samples
        .iter()
        .filter(|(at, _)| *at >= events / 2)
        .map(|(_, x)| x)
        .collect();
    for (name, get) in series {
        let values: Vec<f64> = warm.iter().map(|x| get(x)).collect();
        let start = values.first().copied().unwrap_or(f64::NAN);
        let end = values.last().copied().unwrap_or(f64::NAN);
        let peak = values.iter().copied().fold(f64::NAN, f64::max);
        let half: Vec<f64> = second_half.iter().map(|x| get(x)).collect();
        let half_start = half.first().copied().unwrap_or(f64::NAN);
        let half_peak = half.iter().copied().fold(f64::NAN, f64::max);
        out.insert(format!("{name}_start"), json!(start));
        out.insert(format!("{name}_peak"), json!(peak));
        out.insert(format!("{name}_end"), json!(end));
        out.insert(format!("{name}_half"), json!(half_start));
        out.insert(format!("{name}_second_half_peak"), json!(half_peak));
        println!(
            "{name:<16} start {start:>9.1}  peak {peak:>9.1}  end {end:>9.1}   second half: from {half_start:>9.1}, peak {half_peak:>9.1}"
        );
    }
    println!("{events} events in {seconds:.0} s, {opens} conversations opened");

    // Idle on one conversation past the gc time: what nobody shows any more must go.
    let idle_start = Instant::now();
    let mut idle = Vec::new();
    while idle_start.elapsed() < Duration::from_secs(idle_seconds) {
        tokio::time::sleep(Duration::from_secs(15)).await;
        let x = sample(&s, server.pid()).await;
        show(
            &format!("idle {:.0} s", idle_start.elapsed().as_secs_f64()),
            &x,
        );
        idle.push(x);
    }
    let before = samples.last().map(|(_, x)| *x).unwrap_or_default();
    let after = idle.last().copied().unwrap_or(before);
    out.insert("idle_seconds".into(), json!(idle_seconds));
    for (name, at) in [("end_of_events", &before), ("after_idle", &after)] {
        out.insert(format!("cache_entries_{name}"), json!(at.cache[0]));
        out.insert(format!("cache_observed_{name}"), json!(at.cache[1]));
        out.insert(
            format!("cache_unobserved_{name}"),
            json!(at.cache[0] - at.cache[1]),
        );
        out.insert(format!("cache_signals_{name}"), json!(at.cache[2]));
        out.insert(format!("cache_fetchers_{name}"), json!(at.cache[3]));
        out.insert(format!("js_heap_mb_{name}"), json!(at.js_heap_mb));
        out.insert(format!("wasm_mb_{name}"), json!(at.wasm_mb));
        out.insert(format!("wasm_live_mb_{name}"), json!(at.wasm_live_mb));
        out.insert(format!("dom_nodes_{name}"), json!(at.dom_nodes));
        out.insert(format!("event_listeners_{name}"), json!(at.listeners));
        out.insert(format!("timeouts_pending_{name}"), json!(at.timers[0]));
        out.insert(format!("intervals_live_{name}"), json!(at.timers[1]));
    }
    println!(
        "query cache: {} entries ({} unobserved, {} signals, {} fetchers) at the end of the events → {} ({} unobserved, {} signals, {} fetchers) after {idle_seconds} s idle",
        before.cache[0], before.cache[0] - before.cache[1], before.cache[2], before.cache[3],
        after.cache[0], after.cache[0] - after.cache[1], after.cache[2], after.cache[3],
    );
    println!("wrote {}", stats::write("shift", out).display());
    browser.stop().await;
}
