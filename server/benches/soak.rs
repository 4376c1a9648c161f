//! `cargo xtask soak [--secs N]`: the server under its normal load and under abuse within
//! its caps (issue 13, "Property tests and a soak").
//!
//! One release server process (`target/release/switchboard-server`, or
//! `SWITCHBOARD_SERVER_BIN`) on 127.0.0.1 port 0 with the demo seed and default limits,
//! except that one dispatcher's login session may hold every subscriber socket. 500
//! websocket subscribers of one organisation receive 200 message inserts a second in two
//! phases of N seconds each (default 60):
//!
//! 1. **baseline**: the load alone;
//! 2. **attack**: the same load while an attacker repeats items 1–4 of the issue up to the
//!    caps the server answers with: (1) sockets full of `postgres_changes` bindings that
//!    never match, as many per join, channels per socket and sockets as the server accepts
//!    (at most the 20 sockets x 100 channels x 500 bindings); (2) the heaviest read
//!    the server accepts (`limit=1000` and up to 600 `sN:users(display_name)` embeds) from
//!    four loops; (3) idle TCP connections, slow-header and slow-body requests, and
//!    anonymous websockets that never join but send heartbeats, each reopened when the
//!    server closes it; (4) 60 concurrent login loops with wrong passwords.
//!
//! Reports events delivered, lost and duplicated (both must be 0 over every acknowledged
//! insert, on every subscriber), event latency (commit timestamp to receipt) p50/p99 per
//! phase and their ratio, insert latency per phase, the server's RSS (VmRSS from
//! `/proc/<pid>/status`) at start, after the subscribers joined, at its peak (VmHWM) and at
//! the end (attack stopped, its connections gone), and what the attacker got (caps found,
//! answers by status, connections closed by the server). Writes `target/bench/soak.json`;
//! exits non-zero when an event was lost or duplicated.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::{join, proc_status_kb as rss_kb, ws_connect, Subscription, Ws};
use switchboard_api_client::reqwest::{Method, StatusCode};
use switchboard_api_client::{self as api, Client, Returning, DEMO_PASSWORD};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsFrame;

/// Phase B's event sequence numbers start here, so a receipt names its phase.
const ATTACK_SEQ: u64 = 1_000_000;

struct Args {
    secs: u64,
    subscribers: usize,
    rate: u64,
}

fn parse_args() -> Args {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |flag: &str, default: u64| {
        support::flag(&args, flag)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    Args {
        secs: get("--secs", 60).max(1),
        subscribers: get("--subscribers", 500).max(1) as usize,
        rate: get("--rate", 200).max(1),
    }
}

fn mb(kb: u64) -> f64 {
    (kb as f64 / 1024.0 * 10.0).round() / 10.0
}

/// The value at quantile `p` of sorted microseconds, in ms.
fn percentile_ms(sorted: &[i64], p: f64) -> f64 {
    support::quantile(sorted, p).map_or(f64::NAN, |us| (us as f64 / 10.0).round() / 100.0)
}

// ---------------------------------------------------------------------------------------
// Subscribers

#[derive(Default)]
struct Seen {
    /// Receipts per sequence number.
    counts: HashMap<u64, u32>,
    /// Commit-to-receipt latencies, µs, per phase (0 baseline, 1 attack).
    latencies: [Vec<i64>; 2],
    /// Distinct events received per phase, so waiting for the last ones costs a compare.
    distinct: [usize; 2],
}

async fn read_events(ws: Ws, seen: Arc<Mutex<Seen>>) {
    support::hold(ws, |t| {
        let Some((seq, latency)) = support::bench_event(t, "soak-") else {
            return;
        };
        let phase = usize::from(seq >= ATTACK_SEQ);
        let mut g = seen.lock().unwrap();
        if let Some(us) = latency {
            g.latencies[phase].push(us);
        }
        let count = g.counts.entry(seq).or_default();
        *count += 1;
        if *count == 1 {
            g.distinct[phase] += 1;
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------
// Load

struct Load {
    api: Client,
    medics: Vec<(String, String)>,
}

#[derive(Default)]
struct PhaseResult {
    acked: Vec<u64>,
    failed: u64,
    insert_us: Vec<i64>,
}

/// Inserts `rate` messages a second for `secs` seconds, numbered from `first`.
async fn run_phase(load: &Load, rate: u64, secs: u64, first: u64) -> PhaseResult {
    let total = rate * secs;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut posts = Vec::new();
    for n in 0..total {
        ticker.tick().await;
        let seq = first + n;
        let (token, conv) = load.medics[n as usize % load.medics.len()].clone();
        let api = load.api.clone();
        posts.push(tokio::spawn(async move {
            let row = json!({"conversation_id": conv, "body": format!("soak-{seq}")});
            let started = Instant::now();
            let r = api.insert_messages(&row, Returning::Minimal, &token).await;
            let ok = matches!(r, Ok(r) if r.status == StatusCode::CREATED);
            (seq, ok, started.elapsed().as_micros() as i64)
        }));
    }
    let mut out = PhaseResult::default();
    for p in posts {
        match p.await {
            Ok((seq, true, us)) => {
                out.acked.push(seq);
                out.insert_us.push(us);
            }
            _ => out.failed += 1,
        }
    }
    out
}

/// Waits (at most 15 s) until every subscriber has as many distinct events of `phase` as
/// were acknowledged (which ones is checked at the end).
async fn settle(seen: &[Arc<Mutex<Seen>>], phase: usize, acked: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let done = seen
            .iter()
            .all(|s| s.lock().unwrap().distinct[phase] >= acked);
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------
// The attacker

/// Tallies of what the attacker met, by name.
#[derive(Default)]
struct Tally(Mutex<BTreeMap<String, u64>>);

impl Tally {
    fn add(&self, key: impl Into<String>) {
        *self.0.lock().unwrap().entry(key.into()).or_default() += 1;
    }
    fn set(&self, key: &str, value: u64) {
        self.0.lock().unwrap().insert(key.to_string(), value);
    }
    fn json(&self) -> Value {
        json!(self.0.lock().unwrap().clone())
    }
}

struct Attack {
    base: String,
    anon: String,
    api: Client,
    token: String,
    org: String,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
}

fn never_matching(n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|_| {
                json!({"event": "*", "schema": "public", "table": "messages",
                       "filter": format!("conversation_id=eq.{}", uuid::Uuid::new_v4())})
            })
            .collect(),
    )
}

/// Item 1: fills sockets with never-matching bindings up to whatever the server accepts,
/// then holds them with heartbeats until stopped.
async fn attack_bindings(a: Arc<Attack>) {
    const MAX_SOCKETS: usize = 20;
    const MAX_CHANNELS: usize = 100;
    const MAX_PER_JOIN: usize = 500;
    let topic = |s: usize, c: usize| format!("realtime:soak-attack-{s}-{c}-org_{}", a.org);
    // The most bindings one join may carry: found by bisection on the first socket, from
    // the 500 down.
    let per_join = max_bindings_per_join(&a, MAX_PER_JOIN).await;
    let mut sockets = Vec::new();
    let mut held = 0u64;
    'sockets: for s in 0..MAX_SOCKETS {
        let Some(mut ws) = ws_connect(&a.base, &a.anon).await else {
            a.tally.add("bindings_socket_refused");
            break;
        };
        let mut joined = 0;
        for c in 0..MAX_CHANNELS {
            if a.stop.load(Ordering::Relaxed) {
                break 'sockets;
            }
            let r = format!("{s}-{c}");
            let bindings = never_matching(per_join);
            match join(&mut ws, &r, &topic(s, c), &a.token, bindings).await {
                Ok(()) => {
                    held += per_join as u64;
                    joined += 1;
                }
                Err(reason) => {
                    a.tally.add(format!("bindings_refused: {}", short(&reason)));
                    break; // this socket is full
                }
            }
        }
        if joined == 0 {
            break; // no more sockets for this user
        }
        sockets.push(ws);
    }
    a.tally.set("bindings_per_join_accepted", per_join as u64);
    a.tally.set("bindings_sockets_held", sockets.len() as u64);
    a.tally.set("bindings_held", held);
    // Hold them: heartbeat (the idle timeout is 60 s) and read whatever comes.
    let mut tasks = Vec::new();
    for mut ws in sockets {
        let stop = a.stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut beat = tokio::time::interval(Duration::from_secs(20));
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tokio::select! {
                    _ = beat.tick() => {
                        n += 1;
                        let hb = json!([null, format!("hb{n}"), "phoenix", "heartbeat", {}]);
                        if ws.send(WsFrame::Text(hb.to_string().into())).await.is_err() { break; }
                    }
                    frame = ws.next() => if !matches!(frame, Some(Ok(_))) { break; },
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
            }
            let _ = ws.close(None).await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// The largest number of bindings, at most `most`, that one join is accepted with, found
/// by bisection on a throwaway socket (each probe joins a fresh topic).
async fn max_bindings_per_join(a: &Attack, most: usize) -> usize {
    let Some(mut ws) = ws_connect(&a.base, &a.anon).await else {
        return 0;
    };
    let (mut ok, mut refused) = (0usize, most + 1);
    let mut probe = 0;
    while refused - ok > 1 {
        let n = (ok + refused) / 2;
        probe += 1;
        let topic = format!("realtime:soak-probe-{probe}-org_{}", a.org);
        let r = format!("p{probe}");
        match join(&mut ws, &r, &topic, &a.token, never_matching(n)).await {
            Ok(()) => {
                ok = n;
                // Leave, so the probe's bindings never count against the next probe.
                let leave = json!([r, format!("{r}l"), topic, "phx_leave", {}]);
                let _ = ws.send(WsFrame::Text(leave.to_string().into())).await;
            }
            Err(_) => refused = n,
        }
    }
    let _ = ws.close(None).await;
    ok
}

fn short(reason: &str) -> String {
    reason.chars().take(60).collect()
}

fn heavy_select(embeds: usize) -> String {
    let items: Vec<String> = (0..embeds)
        .map(|i| format!("s{i}:users(display_name)"))
        .collect();
    format!("/rest/v1/messages?limit=1000&select=id,{}", items.join(","))
}

/// Item 2: the heaviest read the server accepts (the most embeds it does not answer with
/// 400), repeated by four loops.
async fn attack_reads(a: Arc<Attack>) {
    // Bisection between an accepted count and a refused (400) one, from the 600.
    let (mut embeds, mut refused) = (0usize, 601usize);
    while refused - embeds > 1 {
        let n = (embeds + refused) / 2;
        match a.api.get(&heavy_select(n), &a.token).await {
            Ok(r) if r.status == StatusCode::BAD_REQUEST => refused = n,
            _ => embeds = n,
        }
    }
    a.tally.set("heavy_read_embeds", embeds as u64);
    let path = heavy_select(embeds);
    let mut loops = Vec::new();
    for _ in 0..4 {
        let (a, path) = (a.clone(), path.clone());
        loops.push(tokio::spawn(async move {
            while !a.stop.load(Ordering::Relaxed) {
                match a.api.get(&path, &a.token).await {
                    Ok(r) => a.tally.add(format!("heavy_read_{}", r.status.as_u16())),
                    Err(_) => a.tally.add("heavy_read_error"),
                }
            }
        }));
    }
    for l in loops {
        let _ = l.await;
    }
}

/// Item 3: one connection kind, `count` of them, each reopened when the server closes it.
/// `talk` drives one connection until the server ends it or the attack stops.
async fn attack_connections<F, Fut>(a: Arc<Attack>, kind: &'static str, count: usize, talk: F)
where
    F: Fn(TcpStream, Arc<AtomicBool>) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let addr = a.base.trim_start_matches("http://").to_string();
    let mut tasks = Vec::new();
    for _ in 0..count {
        let (a, addr, talk) = (a.clone(), addr.clone(), talk.clone());
        tasks.push(tokio::spawn(async move {
            while !a.stop.load(Ordering::Relaxed) {
                match TcpStream::connect(&addr).await {
                    Ok(tcp) => {
                        talk(tcp, a.stop.clone()).await;
                        if !a.stop.load(Ordering::Relaxed) {
                            a.tally.add(format!("{kind}_closed_by_server"));
                            // Reopen soon, but not in a busy loop: the attacker shares
                            // the machine's cores with the server it measures.
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                    Err(_) => {
                        a.tally.add(format!("{kind}_connect_failed"));
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// Waits until the server closes `tcp` (a read returns 0 or fails) or the attack stops,
/// sending `drip` bytes one at a time every 2 s after `first`.
async fn trickle(mut tcp: TcpStream, stop: Arc<AtomicBool>, first: Vec<u8>, drip: Vec<u8>) {
    if tcp.write_all(&first).await.is_err() {
        return;
    }
    let mut drip = drip.into_iter();
    let mut buf = [0u8; 1024];
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    while !stop.load(Ordering::Relaxed) {
        tokio::select! {
            read = tcp.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {} // an answer (408, 431…): the server closes next
            },
            _ = tick.tick() => {
                if let Some(b) = drip.next() {
                    if tcp.write_all(&[b]).await.is_err() { return; }
                }
            }
        }
    }
}

/// Item 3, websockets: anonymous sockets that never join but heartbeat, reopened when
/// the server closes them (join deadline, per-address cap).
async fn attack_anonymous_sockets(a: Arc<Attack>, count: usize) {
    let mut tasks = Vec::new();
    for _ in 0..count {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            while !a.stop.load(Ordering::Relaxed) {
                let Some(mut ws) = ws_connect(&a.base, &a.anon).await else {
                    a.tally.add("anon_socket_refused");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                };
                let mut beat = tokio::time::interval(Duration::from_secs(5));
                let mut n = 0u64;
                loop {
                    if a.stop.load(Ordering::Relaxed) {
                        let _ = ws.close(None).await;
                        return;
                    }
                    tokio::select! {
                        _ = beat.tick() => {
                            n += 1;
                            let hb = json!([null, format!("a{n}"), "phoenix", "heartbeat", {}]);
                            if ws.send(WsFrame::Text(hb.to_string().into())).await.is_err() { break; }
                        }
                        frame = ws.next() => match frame {
                            Some(Ok(WsFrame::Close(_))) | None | Some(Err(_)) => break,
                            _ => {}
                        },
                        _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    }
                }
                a.tally.add("anon_socket_closed_by_server");
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// Item 4: concurrent logins with wrong passwords, known and unknown emails.
async fn attack_logins(a: Arc<Attack>, concurrent: usize) {
    let mut tasks = Vec::new();
    for i in 0..concurrent {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            let email = if i % 2 == 0 {
                "cy@northside.test".to_string()
            } else {
                format!("nobody{i}@northside.test")
            };
            while !a.stop.load(Ordering::Relaxed) {
                let req = a
                    .api
                    .request(Method::POST, "/auth/v1/token?grant_type=password", None)
                    .json(&json!({"email": email, "password": "wrong-password"}));
                match api::send(req).await {
                    Ok(r) => a.tally.add(format!("login_{}", r.status.as_u16())),
                    Err(_) => a.tally.add("login_error"),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// Items 2–4, started once the bindings of item 1 are in place (so the anonymous sockets
/// of item 3 do not take the per-address slots the binding sockets open through).
fn start_attack(a: Arc<Attack>) -> Vec<tokio::task::JoinHandle<()>> {
    let idle = |tcp: TcpStream, stop: Arc<AtomicBool>| trickle(tcp, stop, vec![], vec![]);
    let slow_header = |tcp: TcpStream, stop: Arc<AtomicBool>| {
        trickle(
            tcp,
            stop,
            b"GET /rest/v1/messages HTTP/1.1\r\nHost: x\r\n".to_vec(),
            b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
        )
    };
    // A signed-in insert whose body never finishes: past the caller checks, into the
    // body read.
    let head = format!(
        "POST /rest/v1/messages HTTP/1.1\r\nHost: x\r\napikey: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{",
        a.anon, a.token
    );
    let slow_body = move |tcp: TcpStream, stop: Arc<AtomicBool>| {
        trickle(tcp, stop, head.clone().into_bytes(), vec![b' '; 999])
    };
    vec![
        tokio::spawn(attack_reads(a.clone())),
        tokio::spawn(attack_connections(a.clone(), "idle_tcp", 500, idle)),
        tokio::spawn(attack_connections(
            a.clone(),
            "slow_header",
            200,
            slow_header,
        )),
        tokio::spawn(attack_connections(a.clone(), "slow_body", 100, slow_body)),
        tokio::spawn(attack_anonymous_sockets(a.clone(), 40)),
        tokio::spawn(attack_logins(a, 60)),
    ]
}

// ---------------------------------------------------------------------------------------

fn phase_json(
    name: &str,
    result: &PhaseResult,
    seen: &[Arc<Mutex<Seen>>],
    phase: usize,
) -> (Value, f64) {
    let mut events: Vec<i64> = Vec::new();
    for s in seen {
        events.extend_from_slice(&s.lock().unwrap().latencies[phase]);
    }
    events.sort_unstable();
    let mut inserts = result.insert_us.clone();
    inserts.sort_unstable();
    let p99 = percentile_ms(&events, 0.99);
    (
        json!({
            "phase": name,
            "inserts_acked": result.acked.len(),
            "inserts_failed": result.failed,
            "event_samples": events.len(),
            "event_p50_ms": percentile_ms(&events, 0.50),
            "event_p99_ms": p99,
            "event_max_ms": percentile_ms(&events, 1.0),
            "insert_p50_ms": percentile_ms(&inserts, 0.50),
            "insert_p99_ms": percentile_ms(&inserts, 0.99),
        }),
        p99,
    )
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let bin = support::server_bin();
    let dir = tempfile::tempdir().expect("tempdir");
    // One dispatcher's session holds every subscriber socket; every other limit is the
    // default the attacker meets.
    let flags = [("--sockets-per-session", (args.subscribers + 10).to_string())];
    let (mut child, base) =
        support::spawn_server(&bin, &dir.path().join("soak.db"), &flags, "error").await;
    let pid = child.id();
    let rss_start = rss_kb(pid, "VmRSS:");
    let peak_sampled = Arc::new(AtomicU64::new(rss_start));
    {
        let peak = peak_sampled.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kb(pid, "VmRSS:"), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }
    println!(
        "soak: server pid {pid} at {base}; {} subscribers, {} inserts/s, 2 phases of {} s",
        args.subscribers, args.rate, args.secs
    );

    let api = Client::connect(&base).await.expect("config.json");
    let anon = api.anon_key().to_string();
    let (token, org) = support::dispatcher(&api).await;
    let attacker = api
        .sign_in("cy@northside.test", DEMO_PASSWORD)
        .await
        .expect("attacker login");
    let medics = support::medics(&api).await;

    // Subscribers join ten at a time: a socket counts as anonymous until its join, and
    // one address may hold only a few of those.
    let seen: Vec<Arc<Mutex<Seen>>> = (0..args.subscribers).map(|_| Arc::default()).collect();
    let subscription = Subscription {
        base: base.clone(),
        anon: anon.clone(),
        topic: format!("realtime:soak-org_{org}"),
        token,
        org: org.clone(),
    };
    let readers = subscription.open_all(&seen, 10, read_events).await;
    let rss_subscribed = rss_kb(pid, "VmRSS:");
    let load = Load {
        api: api.clone(),
        medics,
    };

    println!("phase 1/2: baseline, {} s", args.secs);
    let baseline = run_phase(&load, args.rate, args.secs, 0).await;
    settle(&seen, 0, baseline.acked.len()).await;
    let rss_baseline_end = rss_kb(pid, "VmRSS:");

    println!(
        "phase 2/2: attack, {} s (setting up the attacker first)",
        args.secs
    );
    let attack = Arc::new(Attack {
        base: base.clone(),
        anon: anon.clone(),
        api: Client::new(&base, &anon),
        token: attacker.access_token.clone(),
        org: org.clone(),
        stop: Arc::new(AtomicBool::new(false)),
        tally: Arc::new(Tally::default()),
    });
    let mut attackers = vec![tokio::spawn(attack_bindings(attack.clone()))];
    // Let the attacker fill its bindings, then open everything else, before measuring.
    let ramp = Instant::now();
    while ramp.elapsed() < Duration::from_secs(30)
        && !attack.tally.0.lock().unwrap().contains_key("bindings_held")
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    attackers.extend(start_attack(attack.clone()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ramp_secs = ramp.elapsed().as_secs_f64();
    let under_attack = run_phase(&load, args.rate, args.secs, ATTACK_SEQ).await;
    settle(&seen, 1, under_attack.acked.len()).await;
    let rss_attack_end = rss_kb(pid, "VmRSS:");
    attack.stop.store(true, Ordering::Relaxed);
    for a in attackers {
        let _ = tokio::time::timeout(Duration::from_secs(30), a).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_end = rss_kb(pid, "VmRSS:");
    let rss_hwm = rss_kb(pid, "VmHWM:");

    // Every subscriber must have every acknowledged insert exactly once.
    let acked: Vec<u64> = baseline
        .acked
        .iter()
        .chain(&under_attack.acked)
        .copied()
        .collect();
    let (mut delivered, mut lost, mut duplicated, mut unacked) = (0u64, 0u64, 0u64, 0u64);
    for s in &seen {
        let g = s.lock().unwrap();
        for seq in &acked {
            match g.counts.get(seq) {
                Some(&n) => {
                    delivered += 1;
                    duplicated += u64::from(n - 1);
                }
                None => lost += 1,
            }
        }
        // Events whose insert answered with an error but committed anyway.
        unacked += g.counts.len() as u64
            - acked.iter().filter(|s| g.counts.contains_key(s)).count() as u64;
    }
    for r in readers {
        r.abort();
    }
    let _ = child.kill();
    let _ = child.wait();

    let (base_json, base_p99) = phase_json("baseline", &baseline, &seen, 0);
    let (attack_json, attack_p99) = phase_json("attack", &under_attack, &seen, 1);
    let base_p50 = base_json["event_p50_ms"].as_f64().unwrap_or(f64::NAN);
    let attack_p50 = attack_json["event_p50_ms"].as_f64().unwrap_or(f64::NAN);
    let ratio = |a: f64, b: f64| ((a / b) * 100.0).round() / 100.0;
    let report = json!({
        "subscribers": args.subscribers,
        "inserts_per_s": args.rate,
        "seconds_per_phase": args.secs,
        "server": "target/release/switchboard-server, separate process, default limits, --sockets-per-session subscribers+10",
        "delivered": delivered,
        "lost": lost,
        "duplicated": duplicated,
        "delivered_without_ack": unacked,
        "baseline": base_json,
        "attack": attack_json,
        "event_p50_ratio": ratio(attack_p50, base_p50),
        "event_p99_ratio": ratio(attack_p99, base_p99),
        "attack_ramp_s": (ramp_secs * 10.0).round() / 10.0,
        "rss_start_mb": mb(rss_start),
        "rss_subscribed_mb": mb(rss_subscribed),
        "rss_baseline_end_mb": mb(rss_baseline_end),
        "rss_attack_end_mb": mb(rss_attack_end),
        "rss_peak_mb": mb(rss_hwm.max(peak_sampled.load(Ordering::Relaxed))),
        "rss_end_mb": mb(rss_end),
        "attacker": attack.tally.json(),
    });
    let path = support::write_json("soak", &report);

    println!(
        "\n{:<10} {:>8} {:>8} {:>9} {:>9} {:>10} {:>10}",
        "phase", "acked", "failed", "p50 ms", "p99 ms", "ins p50", "ins p99"
    );
    for p in [&report["baseline"], &report["attack"]] {
        let f = |k: &str| p[k].to_string();
        println!(
            "{:<10} {:>8} {:>8} {:>9} {:>9} {:>10} {:>10}",
            f("phase").trim_matches('"'),
            f("inserts_acked"),
            f("inserts_failed"),
            f("event_p50_ms"),
            f("event_p99_ms"),
            f("insert_p50_ms"),
            f("insert_p99_ms")
        );
    }
    println!(
        "event p50 x{} p99 x{} under attack; delivered {delivered}, lost {lost}, duplicated {duplicated}",
        report["event_p50_ratio"], report["event_p99_ratio"]
    );
    println!(
        "server RSS MB: start {} subscribed {} peak {} end {}",
        report["rss_start_mb"],
        report["rss_subscribed_mb"],
        report["rss_peak_mb"],
        report["rss_end_mb"]
    );
    println!("attacker: {}", report["attacker"]);
    println!("wrote {}", path.display());
    if lost > 0 || duplicated > 0 {
        eprintln!("soak: FAILED: {lost} lost, {duplicated} duplicated events");
        std::process::exit(1);
    }
}
