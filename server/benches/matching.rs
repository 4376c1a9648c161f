//! `cargo xtask bench matching`: what one committed change costs the sockets' channel
//! machines (`Channels::deliveries`, the step every socket runs per change) when those
//! sockets hold many `postgres_changes` bindings that can never match it, as an abuser would
//! join them (issue 13, item 1). In process, no network: the figure is the matching alone.
//!
//! Each scenario is S sockets, each joining C channels of B bindings that never match
//! (`conversation_id=eq.<a conversation that never gets a message>`, which the index files
//! by value, or `created_at=lt.2000-01-01…`, which it cannot), plus one socket with the
//! app's own binding so every change is delivered somewhere. Joins refused by the binding
//! caps are counted, not retried; one scenario lifts the caps to show the index alone.
//! Writes `target/bench/matching.json`.

mod support;

use std::hint::black_box;
use std::time::Instant;

use serde_json::{json, Value};
use switchboard_server::auth::jwt::{AppRole, Principal, TokenError};
use switchboard_server::db::{Change, ChangeKind};
use switchboard_server::realtime::channels::{ChannelCaps, Channels, Host, Input, Out, UnixSecs};
use switchboard_server::realtime::registry::SocketRefusal;
use switchboard_server::schema::tables::MESSAGES;
use switchboard_server::schema::Ownership;
use switchboard_wire::{event, status, Message};

const ORG: &str = "22222222-2222-2222-2222-222222222222";
const CONV: &str = "44444444-4444-4444-4444-444444444444";

/// Every token is the same dispatcher's, valid for a day; every socket is allowed.
struct BenchHost;

impl Host for BenchHost {
    fn decode(&self, _token: &str) -> Result<Principal, TokenError> {
        Ok(Principal {
            user_id: "11111111-1111-1111-1111-111111111111".into(),
            org_id: ORG.into(),
            role: AppRole::Dispatcher,
            exp: 86_400,
            session_id: "s".into(),
        })
    }

    fn now(&self) -> UnixSecs {
        0
    }

    fn acquire_socket(&self, _user_id: &str, _session_id: &str) -> Result<(), SocketRefusal> {
        Ok(())
    }
}

/// Joins `topic` with `bindings`; true when the server accepted the join.
fn join(ch: &mut Channels, n: usize, topic: &str, bindings: Value) -> bool {
    let m = Message {
        join_ref: Some(n.to_string()),
        reference: Some(n.to_string()),
        topic: topic.into(),
        event: event::PHX_JOIN.into(),
        payload: json!({"config": {"postgres_changes": bindings}, "access_token": "t"}),
    };
    ch.step(Input::Message(m), &BenchHost)
        .iter()
        .any(|o| matches!(o, Out::Send(m) if m.reply_status().map(|r| r.0) == Some(status::OK)))
}

/// `n` bindings that never match a message of [`CONV`] created now.
fn idle_bindings(n: usize, seed: usize, range: bool) -> Value {
    (0..n)
        .map(|i| {
            let filter = if range {
                format!("created_at=lt.2000-01-01T00:00:{:02}Z", i % 60)
            } else {
                let conv = format!("{:08x}-0000-4000-8000-{:012x}", seed, i + 1);
                format!("conversation_id=eq.{conv}")
            };
            json!({"event": "INSERT", "schema": "public", "table": "messages", "filter": filter})
        })
        .collect()
}

fn insert(n: usize) -> Change {
    Change {
        table: &MESSAGES,
        kind: ChangeKind::Insert,
        record: Some(json!({
            "id": format!("00000000-0000-4000-8000-{n:012x}"),
            "org_id": ORG,
            "conversation_id": CONV,
            "body": "x",
            "created_at": "2026-01-01T00:00:00.000000+00:00",
        })),
        old_record: None,
        commit_micros: 0,
        owner: Ownership {
            org_id: ORG.into(),
            medic_id: Some("33333333-3333-3333-3333-333333333333".into()),
            user_id: None,
        },
        wire: Default::default(),
    }
}

struct Scenario {
    sockets: usize,
    channels: usize,
    bindings: usize,
    /// Filters the index cannot file by value.
    range: bool,
    /// Caps so high that nothing is refused.
    lifted: bool,
}

fn run(sc: &Scenario, changes: usize) -> serde_json::Map<String, Value> {
    let caps = if sc.lifted {
        ChannelCaps {
            channels: usize::MAX,
            bindings_per_join: usize::MAX,
            bindings_per_socket: usize::MAX,
        }
    } else {
        ChannelCaps::default()
    };
    let mut sockets = Vec::new();
    let mut accepted = 0usize;
    for s in 0..sc.sockets {
        let mut ch = Channels::with_caps(caps);
        for c in 0..sc.channels {
            let topic = format!("realtime:idle-{c}");
            let bindings = idle_bindings(sc.bindings, s * 1000 + c, sc.range);
            if join(&mut ch, c + 1, &topic, bindings) {
                accepted += sc.bindings;
            }
        }
        sockets.push(ch);
    }
    let mut app = Channels::with_caps(ChannelCaps::default());
    let own = json!([{"event": "INSERT", "schema": "public", "table": "messages",
                      "filter": format!("org_id=eq.{ORG}")}]);
    assert!(join(&mut app, 1, "realtime:org", own), "the app's join");
    sockets.push(app);

    // Up to `changes`, stopping after about a second so the slow scenarios stay short.
    let feed: Vec<Change> = (0..changes).map(insert).collect();
    let (mut delivered, mut done) = (0usize, 0usize);
    let started = Instant::now();
    for change in &feed {
        for ch in &sockets {
            for (topic, ids) in ch.deliveries(change, 0) {
                black_box((topic, &ids));
                delivered += 1;
            }
        }
        done += 1;
        if done % 64 == 0 && started.elapsed().as_secs() >= 1 {
            break;
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(delivered, done, "the app's socket gets each change once");
    let mut out = serde_json::Map::new();
    out.insert("sockets".into(), json!(sc.sockets));
    out.insert("channels_per_socket".into(), json!(sc.channels));
    out.insert("bindings_per_channel".into(), json!(sc.bindings));
    out.insert("range_filters".into(), json!(sc.range));
    out.insert("caps_lifted".into(), json!(sc.lifted));
    out.insert(
        "bindings_asked".into(),
        json!(sc.sockets * sc.channels * sc.bindings),
    );
    out.insert("bindings_accepted".into(), json!(accepted));
    out.insert("changes".into(), json!(done));
    out.insert(
        "us_per_change".into(),
        json!(elapsed.as_secs_f64() * 1e6 / done as f64),
    );
    out
}

fn arg(args: &[String], flag: &str, default: usize) -> usize {
    support::flag(args, flag)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let changes = arg(&args, "--changes", 20_000);
    // 0: the baseline; 5 x 10: the caps' worth (50 a socket), by value and by range;
    // 100 x 50: what a socket could hold before the caps (the 20 x 100 x 500
    // scaled down tenfold), refused by the caps, then taken with the caps lifted.
    let sc = |channels, bindings, range, lifted| Scenario {
        sockets: 20,
        channels,
        bindings,
        range,
        lifted,
    };
    let scenarios = [
        sc(0, 0, false, false),
        sc(5, 10, false, false),
        sc(5, 10, true, false),
        sc(100, 50, false, false),
        sc(100, 50, false, true),
    ];
    println!(
        "{:>8} {:>9} {:>9} {:>6} {:>5} {:>10} {:>10} {:>12}",
        "sockets", "channels", "bindings", "filter", "caps", "asked", "accepted", "us/change"
    );
    let mut flat = serde_json::Map::new();
    for sc in &scenarios {
        let res = run(sc, changes);
        let filter = if sc.range { "range" } else { "eq" };
        println!(
            "{:>8} {:>9} {:>9} {:>6} {:>5} {:>10} {:>10} {:>12.2}",
            sc.sockets,
            sc.channels,
            sc.bindings,
            filter,
            if sc.lifted { "off" } else { "on" },
            res["bindings_asked"].as_u64().unwrap_or(0),
            res["bindings_accepted"].as_u64().unwrap_or(0),
            res["us_per_change"].as_f64().unwrap_or(f64::NAN)
        );
        let lifted = if sc.lifted { "_uncapped" } else { "" };
        let prefix = format!(
            "s{}_c{}_b{}_{filter}{lifted}_",
            sc.sockets, sc.channels, sc.bindings
        );
        for (k, v) in &res {
            flat.insert(format!("{prefix}{k}"), v.clone());
        }
    }
    let path = support::write_json("matching", &Value::Object(flat));
    println!("wrote {}", path.display());
}
