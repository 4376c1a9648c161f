//! What the benches share: their arguments and the JSON they write, and for those that drive
//! a release server process (fanout, soak) starting it, its websockets, the demo logins and
//! reading the events they insert.
//!
//! Each bench takes it with `mod support;`; cargo builds a folder under `benches/` that has
//! no `main.rs` as a module, not as a bench of its own.

// Every bench compiles its own copy and uses only part of it (matching runs in process,
// without a server).
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use switchboard_api_client::{Client, DEMO_PASSWORD};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// The value after `flag` in `args` (`--flag value`), if any.
pub fn flag<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// The workspace root, where `target/` is.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The server binary: `SWITCHBOARD_SERVER_BIN`, else `target/release/switchboard-server`.
pub fn server_bin() -> PathBuf {
    std::env::var("SWITCHBOARD_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target/release/switchboard-server"))
}

/// Writes `report` pretty-printed to `target/bench/<name>.json`; answers the path.
pub fn write_json(name: &str, report: &Value) -> PathBuf {
    let out_dir = root().join("target/bench");
    std::fs::create_dir_all(&out_dir).expect("target/bench");
    let path = out_dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(report).expect("json")).expect("write json");
    path
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// An RFC 3339 timestamp in microseconds since the Unix epoch.
fn parse_ts(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1000) as i64)
}

/// Pulls a JSON string field out of a frame without parsing the whole frame: hundreds of
/// readers must stay cheaper than the server they measure.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\"{name}\":\"");
    let start = text.find(&key)? + key.len();
    let end = text[start..].find('"')? + start;
    Some(&text[start..end])
}

/// A `postgres_changes` frame of a message whose body is `<prefix><seq>`: its sequence
/// number and, when its `created_at` (the commit time) parses, the µs from commit to now.
pub fn bench_event(frame: &str, prefix: &str) -> Option<(u64, Option<i64>)> {
    if !frame.contains("postgres_changes") {
        return None;
    }
    let received = now_us();
    let (body, created) = (field(frame, "body")?, field(frame, "created_at")?);
    let seq = body.strip_prefix(prefix)?.parse::<u64>().ok()?;
    Some((seq, parse_ts(created).map(|at| received - at)))
}

/// The value at quantile `p` (0 to 1) of `sorted`, `None` when it is empty.
pub fn quantile(sorted: &[i64], p: f64) -> Option<i64> {
    let last = sorted.len().checked_sub(1)?;
    Some(sorted[(last as f64 * p).round() as usize])
}

/// A `/proc/<pid>/status` figure in kB (`VmRSS:`, `VmHWM:`), 0 when unreadable.
pub fn proc_status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Starts `bin` on 127.0.0.1 port 0 with the demo seed, the database `db`, the extra
/// `flags` (`--flag value`) and `RUST_LOG=log`; answers the process and its base URL, read
/// from its "running at" line.
pub async fn spawn_server(
    bin: &Path,
    db: &Path,
    flags: &[(&str, String)],
    log: &str,
) -> (Child, String) {
    let mut command = Command::new(bin);
    command.args(["--addr", "127.0.0.1:0", "--seed", "demo"]);
    for (name, value) in flags {
        command.arg(name).arg(value);
    }
    let mut child = command
        .arg("--db")
        .arg(db)
        .env("RUST_LOG", log)
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

/// The demo dispatcher ana's access token and organisation id.
pub async fn dispatcher(api: &Client) -> (String, String) {
    let ana = api
        .sign_in("ana@northside.test", DEMO_PASSWORD)
        .await
        .expect("login");
    let org = ana.user()["app_metadata"]["org_id"]
        .as_str()
        .expect("org")
        .to_string();
    (ana.access_token, org)
}

/// The access tokens of the demo's twelve medics, each with the id of a conversation of
/// theirs to post into.
pub async fn medics(api: &Client) -> Vec<(String, String)> {
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
            .expect("conversations")
            .body;
        medics.push((
            t,
            convs[0]["id"].as_str().expect("conversation").to_string(),
        ));
    }
    medics
}

/// A client websocket.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How often a held socket sends Phoenix's heartbeat: the server closes a socket that has
/// been silent for 60 s, as realtime-js heartbeats every 25 s.
pub const HEARTBEAT: Duration = Duration::from_secs(25);

/// Reads a joined socket until it ends, handing every text frame to `on_text`, and
/// heartbeats meanwhile so the server keeps it however long the run.
pub async fn hold(mut ws: Ws, mut on_text: impl FnMut(&str)) {
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.tick().await;
    let mut n = 0u64;
    loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) => on_text(t.as_str()),
                Some(Ok(_)) => {}
                _ => return,
            },
            _ = beat.tick() => {
                n += 1;
                let hb = json!([null, format!("hb{n}"), "phoenix", "heartbeat", {}]);
                if ws.send(Message::Text(hb.to_string().into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A Realtime websocket (Phoenix serializer 2.0.0) to the server at `base`, `None` when the
/// server refuses it.
pub async fn ws_connect(base: &str, anon: &str) -> Option<Ws> {
    let url = format!(
        "{}/realtime/v1/websocket?apikey={anon}&vsn=2.0.0",
        base.replace("http", "ws")
    );
    tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .ok()
        .map(|(ws, _)| ws)
}

/// Sends a `phx_join` of `topic` with `bindings` (the `postgres_changes` config) and waits,
/// at most 20 s, for its `phx_reply`: `Ok(())` for `ok`, `Err(reason)` otherwise.
pub async fn join(
    ws: &mut Ws,
    reference: &str,
    topic: &str,
    token: &str,
    bindings: Value,
) -> Result<(), String> {
    let frame = json!([reference, reference, topic, "phx_join",
        {"config": {"postgres_changes": bindings}, "access_token": token}]);
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                if v[3] == "phx_reply" && v[1] == reference {
                    return if v[4]["status"] == "ok" {
                        Ok(())
                    } else {
                        Err(v[4]["response"]["reason"]
                            .as_str()
                            .unwrap_or("?")
                            .to_string())
                    };
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(other) => return Err(format!("socket ended: {other:?}")),
            Err(_) => return Err("no join reply within 20 s".into()),
        }
    }
}

/// Subscribers that each open a socket and join `topic` as `token` with the organisation's
/// own binding (every message insert of `org`), as the app does.
pub struct Subscription {
    pub base: String,
    pub anon: String,
    pub topic: String,
    pub token: String,
    pub org: String,
}

impl Subscription {
    /// One socket per entry of `states`, `at_once` connecting and joining at a time (a
    /// socket counts as anonymous until its join, and one address may hold only so many of
    /// those); each joined socket is handed to `read` with its state, spawned.
    pub async fn open_all<S, F>(
        &self,
        states: &[Arc<Mutex<S>>],
        at_once: usize,
        read: fn(Ws, Arc<Mutex<S>>) -> F,
    ) -> Vec<JoinHandle<()>>
    where
        S: Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let bindings = json!([{"event": "INSERT", "schema": "public", "table": "messages",
                               "filter": format!("org_id=eq.{}", self.org)}]);
        let mut readers = Vec::new();
        for chunk in states.chunks(at_once) {
            let mut joins = Vec::new();
            for s in chunk {
                let (base, anon, topic, token, bindings, s) = (
                    self.base.clone(),
                    self.anon.clone(),
                    self.topic.clone(),
                    self.token.clone(),
                    bindings.clone(),
                    s.clone(),
                );
                joins.push(tokio::spawn(async move {
                    let mut ws = ws_connect(&base, &anon).await.expect("subscriber connect");
                    join(&mut ws, "1", &topic, &token, bindings)
                        .await
                        .expect("subscriber join");
                    (ws, s)
                }));
            }
            for j in joins {
                let (ws, s) = j.await.expect("join task");
                readers.push(tokio::spawn(read(ws, s)));
            }
        }
        readers
    }
}
