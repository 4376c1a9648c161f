//! Running it: `/health` with the database locked, `/metrics` on its own address parsed as
//! Prometheus parses it, request ids, and a trace-level run of the binary that must log no
//! token, password or message body.
mod common;

use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

use common::ws::Ws;
use common::Server;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn health(s: &Server) -> (StatusCode, Value) {
    let reply = reqwest::get(format!("{}/health", s.base)).await.unwrap();
    let status = reply.status();
    (status, reply.json().await.unwrap())
}

#[tokio::test]
async fn health_is_503_with_a_reason_while_the_database_is_locked_and_200_after() {
    let s = Server::start().await;
    assert_eq!(health(&s).await, (StatusCode::OK, json!({"status": "ok"})));

    // Another process's connection holding the write lock, as a stuck writer would.
    let other = rusqlite::Connection::open(s.db_path()).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let (status, body) = health(&s).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unavailable");
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains("locked"), "{reason}");

    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(health(&s).await, (StatusCode::OK, json!({"status": "ok"})));
    // No key needed, nothing cached, and the probe adds no rows.
    let reply = reqwest::get(format!("{}/health", s.base)).await.unwrap();
    assert_eq!(reply.headers()["cache-control"], "no-store");
}

/// The scrape's samples.
async fn scrape(at: std::net::SocketAddr) -> Vec<prometheus_parse::Sample> {
    let reply = reqwest::get(format!("http://{at}/metrics")).await.unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    assert!(reply.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = reply.text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).unwrap().samples
}

/// The value of the counter or gauge `name` with `labels`, 0 when absent.
fn value(samples: &[prometheus_parse::Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => buckets
                .iter()
                .find(|b| b.less_than.is_infinite())
                .map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn metrics_are_served_only_on_the_metrics_address_and_count_the_traffic() {
    let s = Server::start_with(|c| {
        c.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
        c.limits.login_per_address_email = 2;
    })
    .await;
    let at = s.running.as_ref().unwrap().metrics_addr.unwrap();
    assert_ne!(at, s.running.as_ref().unwrap().addr);
    let public = reqwest::get(format!("{}/metrics", s.base)).await.unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    let none = reqwest::get(format!("http://{at}/health")).await.unwrap();
    assert_eq!(none.status(), StatusCode::NOT_FOUND, "only /metrics there");

    let ana = s.session("ana@northside.test").await;
    let token = ana["access_token"].as_str().unwrap();
    let org = ana["user"]["app_metadata"]["org_id"].as_str().unwrap();
    // Two wrong passwords, then the per address and email limit (2) refuses the third.
    for expected in [400, 400, 429] {
        let reply = s
            .api
            .sign_in("medic02@northside.test", "wrong-password")
            .await;
        let status = match reply {
            Err(switchboard_api_client::Error::SignIn { status, .. }) => status.as_u16(),
            other => panic!("{other:?}"),
        };
        assert_eq!(status, expected);
    }
    let (status, _) = s.get("/rest/v1/messages?select=id&limit=1", token).await;
    assert_eq!(status, StatusCode::OK);

    let mut ws = Ws::connect(&s.base, &s.anon, "2.0.0").await;
    let bindings = json!([{"event": "INSERT", "schema": "public", "table": "messages",
                           "filter": format!("org_id=eq.{org}")}]);
    let (_, reply) = ws
        .join(&format!("realtime:metrics:org_{org}"), token, bindings)
        .await;
    assert_eq!(reply["payload"]["status"], "ok", "{reply}");
    let medic = s.login("medic01@northside.test").await;
    let (conv, _) = s.first_conversation(&medic).await;
    let (status, _) = s
        .post_message(&medic, json!({"conversation_id": conv, "body": "counted"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    ws.recv_event("postgres_changes").await;

    let m = scrape(at).await;
    assert_eq!(value(&m, "switchboard_realtime_sockets", &[]), 1.0);
    assert_eq!(value(&m, "switchboard_realtime_channels", &[]), 1.0);
    assert!(value(&m, "switchboard_realtime_events_total", &[]) >= 1.0);
    assert_eq!(value(&m, "switchboard_login_failures_total", &[]), 2.0);
    let refusals = [("limit", "login_attempts")];
    assert_eq!(
        value(&m, "switchboard_rate_limit_refusals_total", &refusals),
        1.0
    );
    let table = [
        ("method", "GET"),
        ("route", "/rest/v1/:table"),
        ("status", "200"),
    ];
    assert_eq!(value(&m, "switchboard_http_requests_total", &table), 1.0);
    let insert = [
        ("method", "POST"),
        ("route", "/rest/v1/:table"),
        ("status", "201"),
    ];
    assert_eq!(value(&m, "switchboard_http_requests_total", &insert), 1.0);
    let token_route = [("route", "/auth/v1/token"), ("status", "429")];
    assert_eq!(
        value(&m, "switchboard_http_requests_total", &token_route),
        1.0
    );
    let timed = [("method", "GET"), ("route", "/rest/v1/:table")];
    assert_eq!(
        value(&m, "switchboard_http_request_duration_seconds", &timed),
        1.0
    );
    assert!(value(&m, "switchboard_db_write_duration_seconds", &[]) >= 3.0);
    assert_eq!(
        value(
            &m,
            "switchboard_http_requests_total",
            &[("route", "/metrics")]
        ),
        0.0,
        "the public router never saw /metrics but as unmatched"
    );
    // Route labels are patterns, never a path with an id or a query.
    for sample in m.iter().filter(|s| s.labels.get("route").is_some()) {
        let route = sample.labels.get("route").unwrap();
        assert!(
            route == "unmatched" || (route.starts_with('/') && !route.contains('?')),
            "{route}"
        );
        assert!(
            !route.contains("messages") && !route.contains(org),
            "{route}"
        );
    }

    drop(ws);
    let mut open = 1.0;
    for _ in 0..200 {
        open = value(&scrape(at).await, "switchboard_realtime_sockets", &[]);
        if open == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(open, 0.0, "the closed socket is no longer counted");
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_client_s_own_comes_back() {
    let s = Server::start().await;
    let http = reqwest::Client::new();
    let reply = http.get(format!("{}/health", s.base)).send().await.unwrap();
    let id = reply.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let reply = http
        .get(format!("{}/rest/v1/nothing", s.base))
        .header("x-request-id", "lb-7f3a")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.headers()["x-request-id"], "lb-7f3a");
}

/// Polls `path` until a line of it contains `needle`; the line.
async fn wait_for_line(path: &Path, needle: &str) -> String {
    for _ in 0..3000 {
        if let Ok(file) = std::fs::File::open(path) {
            let found = std::io::BufReader::new(file)
                .lines()
                .map_while(Result::ok)
                .find(|l| l.contains(needle));
            if let Some(line) = found {
                return line;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} never said {needle}", path.display());
}

#[tokio::test]
async fn a_trace_level_run_logs_no_token_password_or_message_body() {
    // A database whose medic has a password of its own, so the binary, started with
    // `--seed none`, prints no demo password either.
    let mut prepared = Server::start().await;
    let password = format!("pw-{}", uuid::Uuid::new_v4());
    let hash = switchboard_server::auth::password::hash(&password).unwrap();
    prepared
        .state()
        .db()
        .write(move |tx, _| {
            tx.execute(
                "UPDATE users SET password_hash = ?1 WHERE email = 'medic01@northside.test'",
                [hash],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    prepared.stop().await;
    let db = prepared.db_path();
    let dir = prepared.dir.path();
    let (out_path, err_path) = (dir.join("stdout.log"), dir.join("stderr.log"));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard-server"))
        .args(["--addr", "127.0.0.1:0", "--seed", "none", "--db"])
        .arg(&db)
        .env("RUST_LOG", "trace")
        .env_remove("SWITCHBOARD_JWT_SECRET")
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let line = wait_for_line(&out_path, "Switchboard is running at ").await;
    let base = line.rsplit(' ').next().unwrap().to_string();

    let api = switchboard_api_client::Client::connect(&base)
        .await
        .unwrap();
    let first = api
        .sign_in("medic01@northside.test", &password)
        .await
        .unwrap();
    let refreshed = api
        .request(
            reqwest::Method::POST,
            "/auth/v1/token?grant_type=refresh_token",
            None,
        )
        .json(&json!({"refresh_token": first.body["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.unwrap();
    let access = refreshed["access_token"].as_str().unwrap().to_string();
    let refresh = refreshed["refresh_token"].as_str().unwrap().to_string();
    let org = refreshed["user"]["app_metadata"]["org_id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut ws = Ws::connect(&base, api.anon_key(), "2.0.0").await;
    let bindings = json!([{"event": "INSERT", "schema": "public", "table": "messages",
                           "filter": format!("org_id=eq.{org}")}]);
    let (_, reply) = ws
        .join(&format!("realtime:logs:org_{org}"), &access, bindings)
        .await;
    assert_eq!(reply["payload"]["status"], "ok", "{reply}");
    let body = format!("secret-body-{}", uuid::Uuid::new_v4());
    let convs = api
        .rpc("conversations_with_unread", &json!({}), &access)
        .await
        .unwrap();
    let conv = convs.body[0]["id"].as_str().unwrap().to_string();
    let posted = api
        .insert_messages(
            &json!({"conversation_id": conv, "body": body}),
            switchboard_api_client::Returning::Representation,
            &access,
        )
        .await
        .unwrap();
    assert_eq!(posted.status, StatusCode::CREATED);
    let event = ws.recv_event("postgres_changes").await;
    assert_eq!(event["payload"]["data"]["record"]["body"], body.as_str());
    // The body in a query string, as a filter carries it.
    let found = api
        .get(
            &format!("/rest/v1/messages?select=id&body=eq.{body}"),
            &access,
        )
        .await
        .unwrap();
    assert_eq!(found.body.as_array().map(Vec::len), Some(1));
    drop(ws);
    tokio::time::sleep(Duration::from_millis(100)).await;
    child.kill().unwrap();
    child.wait().unwrap();

    let logged = std::fs::read_to_string(&err_path).unwrap();
    let printed = std::fs::read_to_string(&out_path).unwrap();
    assert!(
        logged.contains("TRACE") && logged.contains("phx_join"),
        "frames are traced, without their payload: {logged}"
    );
    assert!(
        logged.contains("request_id="),
        "requests are logged with their id"
    );
    let signature = |jwt: &str| jwt.rsplit('.').next().unwrap().to_string();
    for (what, secret) in [
        ("first access token", first.access_token.clone()),
        ("its signature", signature(&first.access_token)),
        (
            "first refresh token",
            first.body["refresh_token"].as_str().unwrap().to_string(),
        ),
        ("access token", access.clone()),
        ("its signature", signature(&access)),
        ("refresh token", refresh),
        ("password", password),
        ("message body", body),
    ] {
        assert!(!logged.contains(&secret), "the log holds the {what}");
        assert!(
            !printed.contains(&secret),
            "standard output holds the {what}"
        );
    }
}
