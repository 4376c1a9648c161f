//! Issue 13, items 2, 5 and 6 (and issue 12's leftover NUL in URL values): REST reads are
//! bounded in shape, time, size and share of the readers, and every error has a JSON body.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{assert_error, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_server::db::ReadBounds;

/// `n` copies of `item` joined by `sep`.
fn repeat(item: &str, sep: &str, n: usize) -> String {
    vec![item; n].join(sep)
}

/// Item 5 and item 2's caps: inputs that reached SQLite's limits (each was a 500) or asked
/// for unbounded work are refused as PostgREST refuses a bad query string, before any SQL.
#[tokio::test]
async fn inputs_past_sqlite_limits_are_400s() {
    let s = Server::start().await;
    let ana = s.login("ana@northside.test").await;
    let (cid, _) = s.first_conversation(&ana).await;
    let neq = format!("id=neq.{cid}");
    let cases: Vec<(&str, String)> = vec![
        (
            "offset past bigint",
            "/rest/v1/messages?offset=9223372036854775808".into(),
        ),
        (
            "limit past bigint",
            "/rest/v1/messages?limit=9223372036854775808".into(),
        ),
        (
            "996 neq filters",
            format!(
                "/rest/v1/conversations?select=id&{}",
                repeat(&neq, "&", 996)
            ),
        ),
        (
            "2,001 select items",
            format!("/rest/v1/messages?select={}", repeat("id", ",", 2001)),
        ),
        (
            "2,001 order terms",
            format!("/rest/v1/messages?order={}", repeat("id", ",", 2001)),
        ),
        (
            "an embed with 501 columns",
            format!(
                "/rest/v1/messages?select=id,sender:users({})",
                repeat("id", ",", 501)
            ),
        ),
        (
            "600 embeds",
            format!(
                "/rest/v1/messages?limit=1000&select={}",
                (0..600)
                    .map(|n| format!("s{n}:users(display_name)"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ),
        (
            // 60 KB: it overflowed the parser's stack and aborted the whole server.
            "20,000 nested embeds",
            format!(
                "/rest/v1/messages?select={}id{}",
                repeat("t(", "", 20_000),
                repeat(")", "", 20_000)
            ),
        ),
        (
            "embeds nested past the cap",
            format!(
                "/rest/v1/messages?select=id,{}id{}",
                repeat("m:messages(", "", 12),
                repeat(")", "", 12)
            ),
        ),
    ];
    for (label, path) in &cases {
        let reply = s.get(path, &ana).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "PGRST100");
        let body = &reply.1;
        assert!(
            body["message"].is_string() && body["hint"].is_string() || body["details"].is_string(),
            "{label}: {body}"
        );
    }
    // Right at the caps, reads are answered.
    let at_caps = [
        format!(
            "/rest/v1/messages?limit=1&select={}",
            repeat("id", ",", 100)
        ),
        format!("/rest/v1/messages?limit=1&order={}", repeat("id", ",", 20)),
        format!(
            "/rest/v1/conversations?select=id&{}",
            repeat(&neq, "&", 100)
        ),
        format!("/rest/v1/messages?limit=1&offset={}", i64::MAX),
    ];
    for path in &at_caps {
        let (status, body) = s.get(path, &ana).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

/// Issue 12's leftover: U+0000 in a value from the URL is refused as Postgres refuses the
/// text parameter (22021, 400), in filters and `in` lists, on reads and on PATCH; it was
/// `200 []` (SQLite compares it happily).
#[tokio::test]
async fn nul_in_url_values_is_22021() {
    let s = Server::start().await;
    let ana = s.login("ana@northside.test").await;
    for path in [
        "/rest/v1/messages?body=eq.%00",
        "/rest/v1/messages?body=neq.a%00b",
        "/rest/v1/messages?body=in.(a,%00)",
        "/rest/v1/messages?body=not.in.(%22%00%22)",
        "/rest/v1/messages?id=eq.%00",
        "/rest/v1/messages?created_at=lt.2026-01-01%00",
    ] {
        let reply = s.get(path, &ana).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "22021");
        assert_eq!(
            reply.1["message"], "invalid byte sequence for encoding \"UTF8\": 0x00",
            "{path}"
        );
    }
    let reply = s
        .call(
            Method::PATCH,
            "/rest/v1/read_state?conversation_id=eq.%00",
            Some(&ana),
            Some(json!({"last_read_at": "2026-01-01T00:00:00Z"})),
            &[],
        )
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "22021");
}

/// Item 6: answers that had empty bodies (axum's 405s, the websocket route's plain-text
/// refusal) are PostgREST-shaped JSON, keeping the 405's `Allow`.
#[tokio::test]
async fn every_error_has_a_json_body() {
    let s = Server::start().await;
    let ana = s.login("ana@northside.test").await;
    let cases = [
        (Method::DELETE, "/rest/v1/messages", 405, "PGRST117"),
        (Method::PUT, "/rest/v1/messages", 405, "PGRST117"),
        (Method::GET, "/rest/v1/rpc/unread_total", 405, "PGRST117"),
        (Method::OPTIONS, "/rest/v1/messages", 405, "PGRST117"),
        (Method::TRACE, "/rest/v1/messages", 405, "PGRST117"),
        (Method::POST, "/config.json", 405, "PGRST117"),
    ];
    for (method, path, status, code) in cases {
        let response = s
            .api
            .request(method.clone(), path, Some(&ana))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        assert!(
            response.headers().contains_key("allow"),
            "{method} {path}: Allow kept"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code, "{method} {path}: {body}");
        assert_eq!(
            body["message"],
            format!("Unsupported HTTP method: {method}")
        );
        assert!(body.get("details").is_some() && body.get("hint").is_some());
    }
    // Not a websocket handshake: axum refuses it in plain text.
    let response = reqwest::get(format!(
        "{}/realtime/v1/websocket?apikey={}&vsn=1.0.0",
        s.base, s.anon
    ))
    .await
    .unwrap();
    assert!(response.status().is_client_error());
    let body: Value = response.json().await.unwrap();
    assert!(
        body["code"].is_string() && body["message"].is_string(),
        "{body}"
    );
}

/// Item 2: an answer past the configured size is refused (54000) rather than built; smaller
/// ones are answered.
#[tokio::test]
async fn answers_are_bounded_in_size() {
    let s = Server::start_with(|c| c.limits.max_response_bytes = 4_000).await;
    let ana = s.login("ana@northside.test").await;
    let reply = s
        .get("/rest/v1/messages?select=id,body&limit=1000", &ana)
        .await;
    assert_error(&reply, StatusCode::INTERNAL_SERVER_ERROR, "54000");
    let (status, rows) = s.get("/rest/v1/messages?select=id&limit=5", &ana).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    assert_eq!(rows.as_array().unwrap().len(), 5);
}

/// Item 2: a statement past the timeout is cancelled with Postgres's 57014, over HTTP, and
/// the connection serves the next read.
#[tokio::test]
async fn a_read_past_the_statement_timeout_is_57014() {
    let s = Server::start_with(|c| c.limits.read_timeout_ms = 50).await;
    let ana = s.user("ana@northside.test").await;
    // A statement that never ends on its own.
    let endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) \
                   SELECT count(*) FROM n";
    let bounds = ReadBounds {
        user: ana.id.clone(),
        per_user: 2,
        wait: Duration::from_secs(10),
        timeout: Duration::from_millis(50),
    };
    let db = s.state().db();
    for _ in 0..5 {
        let cancelled = db
            .read_bounded(&bounds, move |conn| {
                Ok(conn.query_row(endless, [], |r| r.get::<_, i64>(0))?)
            })
            .await
            .unwrap_err();
        assert_eq!(cancelled.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            matches!(&cancelled, switchboard_server::error::Error::Api { code, message, .. }
                if code == "57014" && message == "canceling statement due to statement timeout"),
            "{cancelled}"
        );
    }
    // The readers take turns, so each was cancelled at least once: each still reads.
    let (status, rows) = s
        .get("/rest/v1/messages?select=id&limit=3", &ana.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{rows}");
}

/// A read under `bounds` that holds its connection until `stop`, as a slow statement does;
/// counts itself in `running` once it has its connection.
fn slow_read(
    s: &Server,
    bounds: &ReadBounds,
    stop: &Arc<AtomicBool>,
    running: &Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<switchboard_server::error::Result<()>> {
    let (db, bounds) = (s.state().db().clone(), bounds.clone());
    let (stop, running) = (Arc::clone(stop), Arc::clone(running));
    tokio::spawn(async move {
        db.read_bounded(&bounds, move |conn| {
            running.fetch_add(1, Ordering::SeqCst);
            while !stop.load(Ordering::Relaxed) {
                conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(())
        })
        .await
    })
}

/// Item 2: one user's slow reads hold at most their share of the readers; everyone else
/// still reads while they run, and that user's further reads queue (504 `PGRST003` when the
/// wait runs out), as PostgREST answers when its pool is exhausted.
#[tokio::test]
async fn one_users_slow_reads_leave_readers_for_others() {
    let s = Server::start_with(|c| {
        c.limits.reads_per_user = 2;
        c.limits.read_wait_ms = 300;
    })
    .await;
    let ana = s.user("ana@northside.test").await;
    let ben = s.login("ben@northside.test").await;
    let stop = Arc::new(AtomicBool::new(false));
    let running = Arc::new(AtomicUsize::new(0));
    let bounds = ReadBounds {
        user: ana.id.clone(),
        per_user: 2,
        wait: Duration::from_secs(30),
        timeout: Duration::from_secs(30),
    };
    // Four reads of ana that hold their connection until told to stop, as slow statements
    // do: on the old pool they took all four readers.
    let slow: Vec<_> = (0..4)
        .map(|_| slow_read(&s, &bounds, &stop, &running))
        .collect();
    while running.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for _ in 0..3 {
        let (status, rows) = s.get("/rest/v1/messages?select=id&limit=3", &ben).await;
        assert_eq!(status, StatusCode::OK, "ben reads beside ana's: {rows}");
        let (status, _) = s.rpc("unread_total", &ben, json!({})).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_error(
        &s.get("/rest/v1/messages?select=id&limit=3", &ana.token)
            .await,
        StatusCode::GATEWAY_TIMEOUT,
        "PGRST003",
    );
    assert_eq!(
        running.load(Ordering::SeqCst),
        2,
        "ana's other two wait their turn"
    );
    stop.store(true, Ordering::Relaxed);
    for read in slow {
        read.await.unwrap().unwrap();
    }
    let (status, _) = s
        .get("/rest/v1/messages?select=id&limit=3", &ana.token)
        .await;
    assert_eq!(status, StatusCode::OK, "ana's turn again");
}

/// Sends `request` as raw bytes and reads the whole answer (hyper closes after these).
async fn raw(base: &str, request: &[u8]) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before it has read everything: a reset then is fine.
    let _ = tcp.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    let at = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&answer)));
    let status = std::str::from_utf8(&answer[9..12])
        .unwrap()
        .parse()
        .unwrap();
    let body = serde_json::from_slice(&answer[at + 4..])
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&answer)));
    (status, body)
}

#[tokio::test]
async fn requests_hyper_refuses_get_a_json_body_too() {
    let s = Server::start().await;
    let long_uri = format!(
        "GET /rest/v1/messages?{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(500_000)
    );
    let many_headers = format!(
        "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..150)
            .map(|i| format!("X-{i}: 1\r\n"))
            .collect::<String>()
    );
    let cases = [
        (long_uri, 414),
        (big_header, 431),
        (many_headers, 431),
        ("NOT HTTP AT ALL\r\n\r\n".to_string(), 400),
    ];
    for (request, status) in cases {
        let (got, body) = raw(&s.base, request.as_bytes()).await;
        assert_eq!(got, status, "{body}");
        assert_eq!(body["code"], format!("PGRST{status}"), "{body}");
        assert!(body.get("details").is_some() && body.get("hint").is_some());
    }
}

/// With the user's one read slot held by a slow read, `Prefer: return=representation` on an
/// insert still answers 201 with the row (it was 504 `PGRST003` after the commit).
#[tokio::test]
async fn an_insert_answers_its_row_while_the_users_reads_are_busy() {
    let s = Server::start_with(|c| {
        c.limits.reads_per_user = 1;
        c.limits.read_wait_ms = 200;
    })
    .await;
    let ana = s.user("ana@northside.test").await;
    let (conversation, _) = s.first_conversation(&ana.token).await;
    let stop = Arc::new(AtomicBool::new(false));
    let running = Arc::new(AtomicUsize::new(0));
    let bounds = ReadBounds {
        user: ana.id.clone(),
        per_user: 1,
        wait: Duration::from_secs(30),
        timeout: Duration::from_secs(30),
    };
    let slow = slow_read(&s, &bounds, &stop, &running);
    while running.load(Ordering::SeqCst) < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, rows) = s
        .post_message(
            &ana.token,
            json!({"conversation_id": conversation, "body": "sent while reads are busy"}),
        )
        .await;
    stop.store(true, Ordering::Relaxed);
    slow.await.unwrap().unwrap();
    assert_eq!(status, StatusCode::CREATED, "{rows}");
    assert_eq!(rows[0]["body"], "sent while reads are busy", "{rows}");
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
}
