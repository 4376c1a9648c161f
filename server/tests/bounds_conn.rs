//! Issue 13, items 3, 4, 7, 8 and 9 over real sockets and a real SQLite file: connection
//! timeouts and the connection cap, the websocket join deadline and per-address cap, the
//! password-check gate, lockout by a stranger, the database file's mode and its durability.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::ws::{Got, Ws};
use common::{assert_error, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};
use switchboard_api_client::DEMO_PASSWORD;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Long enough that only a hang (the fault) reaches it; never a measure of speed.
const HANG: Duration = Duration::from_secs(10);

fn addr(s: &Server) -> SocketAddr {
    s.running.as_ref().unwrap().addr
}

/// Everything the server sends until it closes the connection, or `None` if it keeps the
/// connection open past [`HANG`].
async fn until_closed(tcp: &mut TcpStream) -> Option<String> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(HANG, async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&got).into_owned())
}

/// The JSON body of a raw HTTP/1.1 response.
fn json_body(response: &str) -> Value {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

/// A client whose connections come from `ip` (any of 127.0.0.0/8 is this machine on Linux).
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::from(ip)))
        .build()
        .unwrap()
}

/// A GoTrue password grant to the server at `base`, not yet sent.
fn grant_request(
    client: &reqwest::Client,
    base: &str,
    anon: &str,
    email: &str,
    password: &str,
) -> reqwest::RequestBuilder {
    client
        .post(format!("{base}/auth/v1/token?grant_type=password"))
        .header("apikey", anon)
        .json(&json!({"email": email, "password": password}))
}

async fn password_grant(
    s: &Server,
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> (StatusCode, Option<String>, Value) {
    let response = grant_request(client, &s.base, &s.anon, email, password)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry, response.json().await.unwrap())
}

/// Ten wrong passwords for `email` from 127.0.0.1, each refused as wrong (400), not yet
/// rate-limited; the attacker's client, for more.
async fn attack(s: &Server, email: &str) -> reqwest::Client {
    let attacker = client_from([127, 0, 0, 1]);
    for attempt in 1..=10 {
        let (status, _, body) = password_grant(s, &attacker, email, "wrong").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "attempt {attempt}: {body}");
    }
    attacker
}

/// `email`'s login with the demo password on a connection of its own, spawned so that it
/// can wait at the password-check gate; answers its status.
fn spawn_login(s: &Server, email: &'static str) -> tokio::task::JoinHandle<StatusCode> {
    let (base, anon) = (s.base.clone(), s.anon.clone());
    tokio::spawn(async move {
        grant_request(&reqwest::Client::new(), &base, &anon, email, DEMO_PASSWORD)
            .send()
            .await
            .unwrap()
            .status()
    })
}

/// Waits until `n` logins are running or queued at the password-check gate.
async fn until_admitted(s: &Server, n: usize) {
    for _ in 0..1_000 {
        if s.state().password_checks().admitted() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "{} logins admitted, expected {n}",
        s.state().password_checks().admitted()
    );
}

/// Item 3: a connection that sends nothing, one that sends half a request head, and a
/// keep-alive connection after its response are all closed at the header timeout.
#[tokio::test]
async fn silent_slow_header_and_idle_connections_are_closed() {
    let s = Server::start_with(|c| c.limits.header_timeout_ms = 300).await;
    let mut silent = TcpStream::connect(addr(&s)).await.unwrap();
    let mut slow = TcpStream::connect(addr(&s)).await.unwrap();
    slow.write_all(b"GET /config.json HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut idle = TcpStream::connect(addr(&s)).await.unwrap();
    idle.write_all(b"GET /config.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(until_closed(&mut silent).await.is_some(), "silent");
    assert!(until_closed(&mut slow).await.is_some(), "slow header");
    let answered = until_closed(&mut idle).await.expect("idle keep-alive");
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
}

/// Item 3: a body that has not arrived in full by the body timeout is answered 408 in
/// PostgREST's shape and the connection closed, however steadily its bytes trickle in.
#[tokio::test]
async fn a_slow_body_is_answered_408_and_closed() {
    let s = Server::start_with(|c| c.limits.body_timeout_ms = 400).await;
    let mut tcp = TcpStream::connect(addr(&s)).await.unwrap();
    let head = format!(
        "POST /auth/v1/token?grant_type=password HTTP/1.1\r\nHost: x\r\napikey: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
        s.anon
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    // One byte every 100 ms: a timer restarted by each byte would never fire.
    let (mut read, mut write) = tcp.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..90 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if write.write_all(b" ").await.is_err() {
                break;
            }
        }
    });
    let mut got = Vec::new();
    let done = tokio::time::timeout(HANG, read.read_to_end(&mut got)).await;
    trickle.abort();
    assert!(done.is_ok(), "the connection stayed open");
    let response = String::from_utf8_lossy(&got);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert_eq!(json_body(&response)["code"], "PGRST000", "{response}");
}

/// Item 3: at the connection cap, a new connection closes the connection idle longest and
/// is served.
#[tokio::test]
async fn at_the_cap_the_connection_idle_longest_makes_room() {
    let s = Server::start_with(|c| {
        c.limits.max_connections = Some(2);
        c.limits.header_timeout_ms = 60_000;
    })
    .await;
    let mut oldest = TcpStream::connect(addr(&s)).await.unwrap();
    let _younger = TcpStream::connect(addr(&s)).await.unwrap();
    let response = reqwest::get(format!("{}/config.json", s.base))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        until_closed(&mut oldest).await.is_some(),
        "the oldest idle connection was shed"
    );
}

/// Item 3: at the cap with every connection busy, a new connection is answered 503 with
/// `Retry-After` in PostgREST's shape, and the busy ones still finish.
#[tokio::test]
async fn over_the_cap_with_nothing_idle_a_connection_gets_503() {
    let s = Server::start_with(|c| {
        c.limits.max_connections = Some(2);
        c.limits.login_concurrency = 1;
    })
    .await;
    // Two logins wait at the password-check gate, each on its own connection.
    let slot = s.state().password_checks().slots().acquire().await.unwrap();
    let logins: Vec<_> = ["ana@northside.test", "ben@northside.test"]
        .into_iter()
        .map(|email| spawn_login(&s, email))
        .collect();
    until_admitted(&s, 2).await;
    let mut tcp = TcpStream::connect(addr(&s)).await.unwrap();
    tcp.write_all(b"GET /config.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let response = until_closed(&mut tcp).await.expect("answered and closed");
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("\r\nretry-after: 1\r\n"),
        "{response}"
    );
    assert_eq!(json_body(&response)["code"], "PGRST000");
    let lower = response.to_ascii_lowercase();
    assert!(
        lower.contains("\r\nx-content-type-options: nosniff\r\n")
            && lower.contains("\r\ncontent-security-policy: default-src 'none'"),
        "answered outside the router, still with security headers: {response}"
    );
    drop(slot);
    for login in logins {
        assert_eq!(login.await.unwrap(), StatusCode::OK);
    }
}

/// A raw `GET path` with `Connection: close` on a new connection; what came back, if the
/// server closed it within [`HANG`].
async fn get_once(s: &Server, path: &str) -> Option<String> {
    let mut tcp = TcpStream::connect(addr(s)).await.ok()?;
    let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.ok()?;
    until_closed(&mut tcp).await
}

/// A connection that asks for `/big.bin`, reads the first bytes of the answer (so its
/// response has started) and then never reads again, with a 4 KiB receive window.
async fn never_reading(s: &Server) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = socket.connect(addr(s)).await.unwrap();
    tcp.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    tokio::time::timeout(HANG, tcp.read_exact(&mut first))
        .await
        .expect("the response started")
        .unwrap();
    assert_eq!(&first, b"HTTP/1.1 200", "admitted and answered");
    tcp
}

/// Item 3: a client that asks for a big file and never reads it cannot hold its connection
/// slot past the write stall: the write is cut, the slot goes to the next connection, and
/// stopping the server does not wait for the stuck write.
#[tokio::test]
async fn a_client_that_never_reads_loses_its_slot_and_cannot_stall_shutdown() {
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(dist.path().join("index.html"), "<!doctype html>").unwrap();
    // Larger than the server's send buffer and the client's receive window together.
    std::fs::write(dist.path().join("big.bin"), vec![7u8; 32 << 20]).unwrap();
    let mut s = Server::start_with(|c| {
        c.dist = Some(dist.path().to_path_buf());
        c.limits.max_connections = Some(1);
        c.limits.write_stall_ms = 300;
        c.limits.shed_wait_ms = 200;
    })
    .await;
    let _stuck = never_reading(&s).await;
    // Until the stuck write is cut, every new connection is refused 503.
    let served = tokio::time::timeout(HANG, async {
        loop {
            match get_once(&s, "/config.json").await {
                Some(r) if r.starts_with("HTTP/1.1 200") => break,
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await;
    assert!(
        served.is_ok(),
        "the reader that never reads kept the only slot"
    );
    assert!(
        tokio::time::timeout(HANG, s.stop()).await.is_ok(),
        "stopping waited for a write the client never reads"
    );
}

/// Item 3: a websocket that never joins a channel is closed at the join deadline, even
/// while it sends heartbeats.
#[tokio::test]
async fn a_socket_that_never_joins_is_closed_despite_heartbeats() {
    let s = Server::start_with(|c| c.limits.ws_join_timeout_ms = 300).await;
    let mut ws = Ws::connect(&s.base, &s.anon, "2.0.0").await;
    for _ in 0..100 {
        let r = ws.make_ref();
        ws.send(None, Some(&r), "phoenix", "heartbeat", json!({}))
            .await;
        match ws.recv_within(Duration::from_millis(100)).await {
            Some(Got::Closed(code)) => {
                assert_eq!(code, Some(1008));
                return;
            }
            Some(Got::Frame(reply)) => assert_eq!(reply["event"], "phx_reply"),
            None => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("still open after 100 heartbeats 50 ms apart");
}

/// Item 3: sockets without a user are capped per client address with a readable refusal;
/// joining with a user token frees the socket's place.
#[tokio::test]
async fn sockets_without_a_user_are_capped_per_address_until_they_join() {
    let s = Server::start_with(|c| c.limits.ws_anonymous_per_address = 2).await;
    let token = s.login("ana@northside.test").await;
    let mut first = Ws::connect(&s.base, &s.anon, "2.0.0").await;
    let _second = Ws::connect(&s.base, &s.anon, "2.0.0").await;
    let url = format!(
        "{}/realtime/v1/websocket?apikey={}&vsn=2.0.0",
        s.base.replace("http", "ws"),
        s.anon
    );
    match tokio_tungstenite::connect_async(url.clone()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
            let reason = body["error"].as_str().unwrap();
            assert!(
                reason.starts_with("ConnectionRateLimitReached: "),
                "{reason}"
            );
        }
        other => panic!("expected a refused handshake, got {:?}", other.map(|_| ())),
    }
    let (_, reply) = first
        .join(
            "realtime:org",
            &token,
            json!([{"event": "*", "schema": "public", "table": "messages"}]),
        )
        .await;
    assert_eq!(reply["payload"]["status"], "ok", "{reply}");
    assert!(
        tokio_tungstenite::connect_async(url).await.is_ok(),
        "the joined socket no longer counts against the address"
    );
}

/// Item 4: password checks run behind a bounded gate; a login past its queue is answered
/// 429 with `Retry-After` at once, unknown emails queue like known ones, and the queued
/// logins finish once a slot frees.
#[tokio::test]
async fn logins_past_the_check_queue_get_429_with_retry_after() {
    let s = Server::start_with(|c| {
        c.limits.login_concurrency = 1;
        c.limits.login_queue = 1;
    })
    .await;
    let slot = s.state().password_checks().slots().acquire().await.unwrap();
    // The test holds the one slot: these two take the running and the queued place.
    let unknown = spawn_login(&s, "nobody@northside.test");
    let known = spawn_login(&s, "ben@northside.test");
    until_admitted(&s, 2).await;
    let client = reqwest::Client::new();
    let (status, retry, body) = password_grant(&s, &client, "ana@northside.test", "x").await;
    assert_eq!(
        (status, retry.as_deref(), body["code"].as_str()),
        (
            StatusCode::TOO_MANY_REQUESTS,
            Some("1"),
            Some("over_request_rate_limit")
        ),
        "{body}"
    );
    drop(slot);
    assert_eq!(unknown.await.unwrap(), StatusCode::BAD_REQUEST);
    assert_eq!(known.await.unwrap(), StatusCode::OK);
    let (status, _, _) = password_grant(&s, &client, "ana@northside.test", DEMO_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "the gate is free again");
}

/// Item 7: eleven wrong passwords from one address lock that address out of the account,
/// not the account: the right password from another address still signs in. A third
/// address gets three guesses while the account is under attack.
#[tokio::test]
async fn wrong_passwords_from_one_address_do_not_lock_the_user_out_elsewhere() {
    let s = Server::start().await;
    let email = "ana@northside.test";
    let attacker = attack(&s, email).await;
    let (status, _, body) = password_grant(&s, &attacker, email, "wrong").await;
    assert_error(
        &(status, body),
        StatusCode::TOO_MANY_REQUESTS,
        "over_request_rate_limit",
    );
    let (status, _, _) = password_grant(&s, &attacker, email, DEMO_PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the attacker's address"
    );

    let rightful = client_from([127, 0, 0, 2]);
    let (status, _, body) = password_grant(&s, &rightful, email, DEMO_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let other = client_from([127, 0, 0, 3]);
    for _ in 0..3 {
        let (status, _, _) = password_grant(&s, &other, email, "wrong").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let (status, retry, _) = password_grant(&s, &other, email, "wrong").await;
    assert_eq!(
        (status, retry.is_some()),
        (StatusCode::TOO_MANY_REQUESTS, true),
        "three guesses per address while the account is under attack"
    );
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
fn with_suffix(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    p.into()
}

/// Item 8: the database, its WAL and its shared-memory file are readable by the owner only.
#[cfg(unix)]
#[tokio::test]
async fn database_files_are_owner_only() {
    let s = Server::start().await;
    let db = s.db_path();
    s.login("ana@northside.test").await; // a write, so the WAL has frames
    for suffix in ["", "-wal", "-shm"] {
        let file = with_suffix(&db, suffix);
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

/// Item 8: files an older version left world-readable are narrowed at open.
#[cfg(unix)]
#[test]
fn database_files_left_readable_are_narrowed_at_open() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    for suffix in ["", "-wal", "-shm"] {
        let file = with_suffix(&db, suffix);
        std::fs::write(&file, b"").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let _db = switchboard_server::db::Db::open(&db).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = with_suffix(&db, suffix);
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

/// Item 9: every commit syncs the WAL (`synchronous=FULL`, 2), so an acknowledged write
/// survives power loss, not only a killed process.
#[test]
fn commits_are_synced_with_synchronous_full() {
    let dir = tempfile::tempdir().unwrap();
    let db = switchboard_server::db::Db::open(&dir.path().join("d.db")).unwrap();
    let level = db
        .write_blocking(|tx, _| {
            Ok(tx.pragma_query_value(None, "synchronous", |r| r.get::<_, i64>(0))?)
        })
        .unwrap();
    assert_eq!(level, 2, "FULL");
}

/// While a stranger keeps ana@ under attack, ana's own typo does not lock her out: her next
/// attempt with the right password signs in. An address with three failures of its own is
/// backed off.
#[tokio::test]
async fn a_typo_during_an_attack_does_not_lock_the_rightful_user_out() {
    let s = Server::start().await;
    let email = "ana@northside.test";
    attack(&s, email).await;

    let rightful = client_from([127, 0, 0, 2]);
    let (status, _, body) = password_grant(&s, &rightful, email, "typo").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, body) = password_grant(&s, &rightful, email, DEMO_PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the right password after a typo: {body}"
    );

    let guesser = client_from([127, 0, 0, 3]);
    for attempt in 1..=3 {
        let (status, _, body) = password_grant(&s, &guesser, email, "wrong").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "attempt {attempt}: {body}");
    }
    let (status, retry, body) = password_grant(&s, &guesser, email, DEMO_PASSWORD).await;
    assert_eq!(
        (status, retry.is_some()),
        (StatusCode::TOO_MANY_REQUESTS, true),
        "three failures of its own while the account is under attack: {body}"
    );
}
