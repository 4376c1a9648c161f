//! HTTPS and WSS on `--addr` with `--tls-cert`/`--tls-key`: a pair written by the `cert`
//! subcommand serves `/config.json`, REST and a realtime join with a live change, over
//! sockets that trust only that certificate; HSTS only over TLS; the connection cap and
//! the header timeout hold for TLS connections; a pair that does not load stops the start
//! with the file and the reason.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use switchboard_api_client::{Client, Returning, DEMO_PASSWORD};
use switchboard_server::config::Config;
use switchboard_server::tls::{TlsFiles, HSTS};
use switchboard_server::Running;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

/// Runs `switchboard-server cert --host 127.0.0.1 --host localhost --out DIR/NAME`, as a
/// user would, and returns the pair it wrote.
fn generate(dir: &Path, name: &str) -> TlsFiles {
    let out = dir.join(name);
    let status = Command::new(env!("CARGO_BIN_EXE_switchboard-server"))
        .args([
            "cert",
            "--host",
            "127.0.0.1",
            "--host",
            "localhost",
            "--out",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    TlsFiles {
        cert: out.join("cert.pem"),
        key: out.join("key.pem"),
    }
}

fn config(dir: &Path, tls: Option<TlsFiles>) -> Config {
    let mut c = common::config(dir.join("test.db"));
    c.tls = tls;
    c
}

/// An HTTP client that trusts `cert` and nothing else.
fn https_client(cert: &Path) -> reqwest::Client {
    let pem = std::fs::read(cert).unwrap();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

/// A rustls client configuration that trusts `cert` and nothing else.
fn tls_client(cert: &Path) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

type Wss = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// Opens the realtime websocket over TLS (`wss://`), as the app does on an https page.
async fn wss(running: &Running, cert: &Path, anon: &str) -> Wss {
    let tcp = TcpStream::connect(running.addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = tls_client(cert).connect(name, tcp).await.unwrap();
    let url = format!(
        "wss://{}/realtime/v1/websocket?apikey={anon}&vsn=2.0.0",
        running.addr
    );
    let (ws, _) = tokio_tungstenite::client_async(url, tls).await.unwrap();
    ws
}

/// The next Phoenix v2 frame `[join_ref, ref, topic, event, payload]` whose event is `event`.
async fn next_event(ws: &mut Wss, event: &str) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("a frame");
        if let Message::Text(text) = frame {
            let v: Value = serde_json::from_str(text.as_str()).unwrap();
            if v[3] == event {
                return v;
            }
        }
    }
}

#[tokio::test]
async fn https_and_wss_serve_config_rest_and_a_live_change_with_hsts() {
    let dir = tempfile::tempdir().unwrap();
    let files = generate(dir.path(), "tls");
    let running = switchboard_server::start(config(dir.path(), Some(files.clone())))
        .await
        .unwrap();
    let base = format!("https://127.0.0.1:{}", running.addr.port());
    let http = https_client(&files.cert);

    let reply = http
        .get(format!("{base}/config.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(reply.version(), reqwest::Version::HTTP_11);
    assert_eq!(
        reply.headers()["strict-transport-security"]
            .to_str()
            .unwrap(),
        HSTS
    );
    let config: Value = reply.json().await.unwrap();
    let anon = config["anon_key"].as_str().unwrap().to_string();

    // REST over HTTPS through the shared client: sign-ins and a post.
    let api = Client::connect_with(http.clone(), &base).await.unwrap();
    let ana = api
        .sign_in("ana@northside.test", DEMO_PASSWORD)
        .await
        .unwrap();
    let org = ana.user()["app_metadata"]["org_id"]
        .as_str()
        .unwrap()
        .to_string();
    let medic = api
        .sign_in("medic01@northside.test", DEMO_PASSWORD)
        .await
        .unwrap();
    let convs = api
        .rpc("conversations_with_unread", &json!({}), &medic.access_token)
        .await
        .unwrap();
    let conv = convs.body[0]["id"].as_str().unwrap().to_string();

    // The realtime join over WSS, then a change it was joined for.
    let mut ws = wss(&running, &files.cert, &anon).await;
    let topic = format!("realtime:web-messages:org_{org}");
    let join = json!(["1", "1", topic, "phx_join", {
        "config": {"broadcast": {"ack": false, "self": false}, "presence": {"key": "", "enabled": false},
                   "postgres_changes": [{"event": "INSERT", "schema": "public", "table": "messages",
                                         "filter": format!("org_id=eq.{org}")}],
                   "private": false},
        "access_token": ana.access_token,
    }]);
    ws.send(Message::Text(join.to_string().into()))
        .await
        .unwrap();
    let reply = next_event(&mut ws, "phx_reply").await;
    assert_eq!(reply[4]["status"], "ok", "{reply}");
    let posted = api
        .insert_messages(
            &json!({"conversation_id": conv, "body": "Over TLS"}),
            Returning::Representation,
            &medic.access_token,
        )
        .await
        .unwrap();
    assert_eq!(posted.status, StatusCode::CREATED, "{}", posted.body);
    let change = next_event(&mut ws, "postgres_changes").await;
    assert_eq!(change[4]["data"]["record"], posted.body[0]);

    // hyper's own error answers keep their JSON shape over TLS (hyper_errors::Shaped).
    let tcp = TcpStream::connect(running.addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = tls_client(&files.cert).connect(name, tcp).await.unwrap();
    tls.write_all(b"NOT HTTP AT ALL\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await.unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"code\":"), "a JSON body: {answer}");

    drop(ws);
    running.stop().await;
}

#[tokio::test]
async fn plain_http_sends_no_hsts() {
    let dir = tempfile::tempdir().unwrap();
    let running = switchboard_server::start(config(dir.path(), None))
        .await
        .unwrap();
    let reply = reqwest::get(format!("http://{}/config.json", running.addr))
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    assert!(reply.headers().get("strict-transport-security").is_none());
    running.stop().await;
}

#[tokio::test]
async fn a_handshake_never_sent_is_closed_by_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let files = generate(dir.path(), "tls");
    let mut c = config(dir.path(), Some(files));
    c.limits.header_timeout_ms = 1_000;
    let running = switchboard_server::start(c).await.unwrap();
    let mut tcp = TcpStream::connect(running.addr).await.unwrap();
    // Not one byte of a ClientHello: the server must close rather than wait for ever.
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(30), tcp.read(&mut buf))
        .await
        .expect("closed by the server");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    running.stop().await;
}

#[tokio::test]
async fn over_the_cap_a_tls_client_reads_the_503() {
    let dir = tempfile::tempdir().unwrap();
    let files = generate(dir.path(), "tls");
    let mut c = config(dir.path(), Some(files.clone()));
    c.limits.max_connections = Some(1);
    let running = switchboard_server::start(c).await.unwrap();
    let anon = running.state.keys().anon_key().to_string();
    // An upgraded websocket holds the only permit and is never shed.
    let mut ws = wss(&running, &files.cert, &anon).await;
    let reply = https_client(&files.cert)
        .get(format!(
            "https://127.0.0.1:{}/config.json",
            running.addr.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.headers()["retry-after"], "1");
    let _ = ws.close(None).await;
    running.stop().await;
}

/// The start-up error for `tls`, as `start` returns it.
async fn start_error(dir: &Path, tls: TlsFiles) -> String {
    match switchboard_server::start(config(dir, Some(tls))).await {
        Ok(_) => panic!("started with a pair that should not load"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_pair_that_does_not_load_is_a_start_up_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let one = generate(dir.path(), "one");
    let two = generate(dir.path(), "two");

    let missing = dir.path().join("nowhere.pem");
    let e = start_error(
        dir.path(),
        TlsFiles {
            cert: missing.clone(),
            key: one.key.clone(),
        },
    )
    .await;
    assert!(
        e.contains(&format!("--tls-cert {}", missing.display())) && e.contains("No such file"),
        "{e}"
    );

    let e = start_error(
        dir.path(),
        TlsFiles {
            cert: one.cert.clone(),
            key: two.key.clone(),
        },
    )
    .await;
    assert!(
        e.contains(&one.cert.display().to_string())
            && e.contains(&two.key.display().to_string())
            && e.contains("not a usable pair"),
        "{e}"
    );

    // A certificate given as the key, and a key given as the certificate.
    let e = start_error(
        dir.path(),
        TlsFiles {
            cert: one.cert.clone(),
            key: one.cert.clone(),
        },
    )
    .await;
    assert!(
        e.contains(&format!("--tls-key {}", one.cert.display())) && e.contains("private key"),
        "{e}"
    );
    let e = start_error(
        dir.path(),
        TlsFiles {
            cert: one.key.clone(),
            key: one.key.clone(),
        },
    )
    .await;
    assert!(
        e.contains(&format!("--tls-cert {}", one.key.display())) && e.contains("CERTIFICATE"),
        "{e}"
    );

    // A truncated certificate.
    let broken = dir.path().join("broken.pem");
    let text = std::fs::read_to_string(&one.cert).unwrap();
    std::fs::write(&broken, &text[..text.len() / 2]).unwrap();
    let e = start_error(
        dir.path(),
        TlsFiles {
            cert: broken.clone(),
            key: one.key.clone(),
        },
    )
    .await;
    assert!(
        e.contains(&format!("--tls-cert {}", broken.display())) && e.contains("PEM"),
        "{e}"
    );
}

#[tokio::test]
async fn the_binary_refuses_to_start_with_a_missing_key_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let files = generate(dir.path(), "tls");
    let missing = dir.path().join("missing-key.pem");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard-server"))
        .args(["--addr", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("bin.db"))
        .arg("--tls-cert")
        .arg(&files.cert)
        .arg("--tls-key")
        .arg(&missing)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("exits")
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("--tls-key {}", missing.display()))
            && stderr.contains("No such file"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("bin.db").exists(),
        "failed before opening the database"
    );
}
