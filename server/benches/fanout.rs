//! `cargo xtask bench fanout`: N websocket subscribers on one org, M inserts per second
//! through REST; insert→receive latency on every socket, lost and duplicated events, and the
//! server process's CPU and memory. Writes `target/bench/fanout.json`.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{Subscription, Ws};
use switchboard_api_client::reqwest::StatusCode;
use switchboard_api_client::{Client, Returning};

struct Scenario {
    sockets: usize,
    rate: u64,
    seconds: u64,
}

#[derive(Default)]
struct Samples {
    latencies_us: Vec<i64>,
    seen: HashMap<u64, u32>,
}

fn proc_cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12) // utime + stime, counted from the state field
}

/// The value at quantile `p` of sorted microseconds, in ms.
fn percentile(sorted: &[i64], p: f64) -> f64 {
    support::quantile(sorted, p).map_or(f64::NAN, |us| us as f64 / 1000.0)
}

/// Records latency and sequence numbers of every bench event a socket receives.
async fn read_events(ws: Ws, s: Arc<Mutex<Samples>>) {
    support::hold(ws, |t| {
        let Some((seq, latency)) = support::bench_event(t, "bench-") else {
            return;
        };
        let mut g = s.lock().unwrap();
        if let Some(us) = latency {
            g.latencies_us.push(us);
        }
        *g.seen.entry(seq).or_default() += 1;
    })
    .await
}

async fn run(bin: &Path, sc: &Scenario) -> serde_json::Map<String, Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let cap = (sc.sockets + 10).to_string();
    let flags = [
        ("--sockets-per-user", cap.clone()),
        // Every bench socket comes from 127.0.0.1 and connects a hundred at a time before
        // joining.
        ("--anonymous-sockets-per-address", cap),
    ];
    let (mut child, base) =
        support::spawn_server(bin, &dir.path().join("bench.db"), &flags, "warn").await;
    let pid = child.id();
    let api = Client::connect(&base).await.expect("config.json");
    let anon = api.anon_key().to_string();
    let (token, org) = support::dispatcher(&api).await;
    let medics = support::medics(&api).await;

    let samples: Vec<Arc<Mutex<Samples>>> = (0..sc.sockets).map(|_| Arc::default()).collect();
    let subscription = Subscription {
        base: base.clone(),
        anon,
        topic: format!("realtime:web-messages:org_{org}"),
        token,
        org,
    };
    let readers = subscription.open_all(&samples, 100, read_events).await;

    let total = sc.rate * sc.seconds;
    let cpu_before = proc_cpu_ticks(pid);
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / sc.rate as f64));
    let mut posts = Vec::new();
    for seq in 0..total {
        ticker.tick().await;
        let (t, conv) = medics[seq as usize % medics.len()].clone();
        let api = api.clone();
        posts.push(tokio::spawn(async move {
            let row = json!({"conversation_id": conv, "body": format!("bench-{seq}")});
            let r = api.insert_messages(&row, Returning::Minimal, &t).await;
            matches!(r, Ok(r) if r.status == StatusCode::CREATED)
        }));
    }
    let mut failed_posts = 0;
    for p in posts {
        if !p.await.unwrap_or(false) {
            failed_posts += 1;
        }
    }
    // Let in-flight events land (bounded wait, never forever).
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let done = samples
            .iter()
            .all(|s| s.lock().unwrap().seen.len() as u64 >= total);
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu_ticks = proc_cpu_ticks(pid) - cpu_before;
    let rss_kb = support::proc_status_kb(pid, "VmHWM:");
    for r in readers {
        r.abort();
    }
    let _ = child.kill();
    let _ = child.wait();

    let mut all = Vec::new();
    let (mut lost, mut dup) = (0u64, 0u64);
    for s in &samples {
        let g = s.lock().unwrap();
        all.extend_from_slice(&g.latencies_us);
        lost += total.saturating_sub(g.seen.len() as u64);
        dup += g
            .seen
            .values()
            .map(|&n| u64::from(n.saturating_sub(1)))
            .sum::<u64>();
    }
    all.sort_unstable();
    let mut out = serde_json::Map::new();
    out.insert("sockets".into(), json!(sc.sockets));
    out.insert("inserts_per_s".into(), json!(sc.rate));
    out.insert("seconds".into(), json!(sc.seconds));
    out.insert("samples".into(), json!(all.len()));
    out.insert("p50_ms".into(), json!(percentile(&all, 0.50)));
    out.insert("p95_ms".into(), json!(percentile(&all, 0.95)));
    out.insert("p99_ms".into(), json!(percentile(&all, 0.99)));
    out.insert(
        "max_ms".into(),
        json!(all.last().map_or(f64::NAN, |m| *m as f64 / 1000.0)),
    );
    out.insert("lost".into(), json!(lost));
    out.insert("duplicated".into(), json!(dup));
    out.insert("failed_inserts".into(), json!(failed_posts));
    out.insert(
        "server_cpu_percent".into(),
        json!((cpu_ticks as f64 / 100.0) / wall * 100.0),
    );
    out.insert("server_peak_rss_mb".into(), json!(rss_kb as f64 / 1024.0));
    out
}

fn parse_list(args: &[String], flag: &str, default: &[u64]) -> Vec<u64> {
    support::flag(args, flag)
        .map(|v| v.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sockets = parse_list(&args, "--sockets", &[100, 1000]);
    let rates = parse_list(&args, "--rates", &[50, 200]);
    let seconds = parse_list(&args, "--seconds", &[5])[0];
    let bin = support::server_bin();
    let mut runs = Vec::new();
    println!(
        "{:>8} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>7} {:>8}",
        "sockets",
        "ins/s",
        "samples",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "lost",
        "dup",
        "cpu %",
        "rss MB"
    );
    for &n in &sockets {
        for &r in &rates {
            let res = run(
                &bin,
                &Scenario {
                    sockets: n as usize,
                    rate: r,
                    seconds,
                },
            )
            .await;
            let f = |k: &str| res[k].as_f64().unwrap_or(f64::NAN);
            println!(
                "{:>8} {:>8} {:>9} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>6} {:>6} {:>7.1} {:>8.1}",
                n,
                r,
                res["samples"],
                f("p50_ms"),
                f("p95_ms"),
                f("p99_ms"),
                f("max_ms"),
                res["lost"],
                res["duplicated"],
                f("server_cpu_percent"),
                f("server_peak_rss_mb")
            );
            runs.push(res);
        }
    }
    // Flat keys: the headline (largest scenario) plus every scenario under a prefix.
    let mut flat = serde_json::Map::new();
    if let Some(last) = runs.last() {
        for (k, v) in last {
            flat.insert(k.clone(), v.clone());
        }
    }
    for res in &runs {
        let prefix = format!("s{}_r{}_", res["sockets"], res["inserts_per_s"]);
        for (k, v) in res {
            flat.insert(format!("{prefix}{k}"), v.clone());
        }
    }
    let path = support::write_json("fanout", &Value::Object(flat));
    println!("wrote {}", path.display());
}
