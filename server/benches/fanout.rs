//! `cargo xtask bench fanout`: N websocket subscribers on one org, M inserts per second
//! through REST; insert→receive latency on every socket, lost and duplicated events, and the
//! server process's CPU and memory. Writes `target/bench/fanout.json`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use switchboard_api_client::reqwest::StatusCode;
use switchboard_api_client::{Client, Returning, DEMO_PASSWORD};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

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

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn parse_ts(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1000) as i64)
}

/// Pulls a JSON string field out of a frame without parsing the whole frame: the clients
/// must stay cheap or they, not the server, would dominate the measurement.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\"{name}\":\"");
    let start = text.find(&key)? + key.len();
    let end = text[start..].find('"')? + start;
    Some(&text[start..end])
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

fn proc_status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx] as f64 / 1000.0
}

async fn spawn_server(bin: &PathBuf, dir: &std::path::Path, sockets: usize) -> (Child, String) {
    let mut child = Command::new(bin)
        .args([
            "--addr",
            "127.0.0.1:0",
            "--seed",
            "demo",
            "--sockets-per-user",
        ])
        .arg((sockets + 10).to_string())
        // Every bench socket comes from 127.0.0.1 and connects a hundred at a time before
        // joining.
        .arg("--anonymous-sockets-per-address")
        .arg((sockets + 10).to_string())
        .arg("--db")
        .arg(dir.join("bench.db"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {}: {e} (build it with cargo build --release -p switchboard-server)",
                bin.display()
            )
        });
    let stdout = child.stdout.take().expect("stdout");
    let mut lines =
        BufReader::new(tokio::process::ChildStdout::from_std(stdout).expect("async stdout"))
            .lines();
    let base = loop {
        let line = lines
            .next_line()
            .await
            .expect("read")
            .expect("server exited before printing its address");
        if let Some(url) = line.split("running at ").nth(1) {
            break url.trim().to_string();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Records latency and sequence numbers of every bench event a socket receives.
async fn read_events(mut ws: Ws, s: Arc<Mutex<Samples>>) {
    while let Some(Ok(frame)) = ws.next().await {
        let Message::Text(t) = frame else { continue };
        let t = t.as_str();
        if !t.contains("postgres_changes") {
            continue;
        }
        let received = now_us();
        let (Some(body), Some(created)) = (field(t, "body"), field(t, "created_at")) else {
            continue;
        };
        let Some(seq) = body
            .strip_prefix("bench-")
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let mut g = s.lock().unwrap();
        if let Some(at) = parse_ts(created) {
            g.latencies_us.push(received - at);
        }
        *g.seen.entry(seq).or_default() += 1;
    }
}

async fn run(bin: &PathBuf, sc: &Scenario) -> serde_json::Map<String, Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, base) = spawn_server(bin, dir.path(), sc.sockets).await;
    let pid = child.id();
    let api = Client::connect(&base).await.expect("config.json");
    let anon = api.anon_key().to_string();
    let ana = api
        .sign_in("ana@northside.test", DEMO_PASSWORD)
        .await
        .expect("login");
    let token = ana.access_token.clone();
    let org = ana.user()["app_metadata"]["org_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut medics = Vec::new();
    for n in 1..=12 {
        let t = api
            .sign_in(&format!("medic{n:02}@northside.test"), DEMO_PASSWORD)
            .await
            .expect("medic login")
            .access_token;
        let convs = api
            .get("/rest/v1/conversations?select=id", &t)
            .await
            .unwrap()
            .body;
        medics.push((t, convs[0]["id"].as_str().unwrap().to_string()));
    }

    let samples: Vec<Arc<Mutex<Samples>>> = (0..sc.sockets).map(|_| Arc::default()).collect();
    let ws_url = format!(
        "{}/realtime/v1/websocket?apikey={anon}&vsn=2.0.0",
        base.replace("http", "ws")
    );
    let topic = format!("realtime:web-messages:org_{org}");
    let mut readers = Vec::new();
    for chunk in samples.chunks(100) {
        let mut joins = Vec::new();
        for s in chunk {
            let (url, topic, token, org, s) = (
                ws_url.clone(),
                topic.clone(),
                token.clone(),
                org.clone(),
                s.clone(),
            );
            joins.push(tokio::spawn(async move {
                let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await.expect("ws connect");
                let join = json!(["1", "1", topic, "phx_join", {"config": {"postgres_changes": [
                    {"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("org_id=eq.{org}")}]}, "access_token": token}]);
                ws.send(Message::Text(join.to_string().into())).await.expect("join");
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Text(t))) if t.contains("phx_reply") => {
                            assert!(t.contains("\"ok\""), "join refused: {t}");
                            break;
                        }
                        Some(Ok(_)) => {}
                        other => panic!("socket ended during join: {other:?}"),
                    }
                }
                (ws, s)
            }));
        }
        for j in joins {
            let (ws, s) = j.await.expect("join task");
            readers.push(tokio::spawn(read_events(ws, s)));
        }
    }

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
    let rss_kb = proc_status_kb(pid, "VmHWM:");
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
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sockets = parse_list(&args, "--sockets", &[100, 1000]);
    let rates = parse_list(&args, "--rates", &[50, 200]);
    let seconds = parse_list(&args, "--seconds", &[5])[0];
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin = std::env::var("SWITCHBOARD_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target/release/switchboard-server"));
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
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir).expect("target/bench");
    let path = out_dir.join("fanout.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&Value::Object(flat)).unwrap(),
    )
    .expect("write json");
    println!("wrote {}", path.display());
}
