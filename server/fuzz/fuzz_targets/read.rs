//! A whole REST read through the real router over a seeded SQLite database: the first byte
//! picks the table, the rest is the query string. Every answer is a 2xx or a 4xx with a
//! PostgREST-shaped body `{code, message, details, hint}`; never a 5xx, a panic or a hang.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use switchboard_server::config::{Config, Seed};
use tower::ServiceExt;

const TABLES: &[&str] = &[
    "messages",
    "conversations",
    "users",
    "orgs",
    "read_state",
    "message_acks",
    "canned_replies",
];

struct Fixture {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    anon: String,
    token: String,
}

fn request(anon: &str, method: &str, uri: &str, token: Option<&str>, body: Body) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("apikey", anon)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut req = req.body(body).expect("request");
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1))));
    req
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        // One database per run, laid anew: the previous run's is removed first.
        let path = std::env::temp_dir().join("switchboard-fuzz-read.db");
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
        let mut config = Config::new(path);
        config.seed = Seed::Demo;
        config.jwt_secret = Some("fuzz-secret-fuzz-secret-fuzz-secret-0123".into());
        let state = switchboard_server::prepare(config).expect("prepare");
        let anon = state.keys().anon_key().to_string();
        let router = switchboard_server::router(state);
        let login =
            json!({"email": "ana@northside.test", "password": "switchboard-demo"}).to_string();
        let req = request(
            &anon,
            "POST",
            "/auth/v1/token?grant_type=password",
            None,
            Body::from(login),
        );
        let token = runtime.block_on(async {
            let response = router.clone().oneshot(req).await.expect("login");
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body");
            let session: Value = serde_json::from_slice(&bytes).expect("session");
            session["access_token"].as_str().expect("token").to_string()
        });
        Fixture {
            runtime,
            router,
            anon,
            token,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let table = TABLES[usize::from(pick) % TABLES.len()];
    let query = String::from_utf8_lossy(rest);
    let uri = format!("/rest/v1/{table}?{query}");
    if uri.parse::<axum::http::Uri>().is_err() {
        return; // no client could send it
    }
    let req = request(&f.anon, "GET", &uri, Some(&f.token), Body::empty());
    let (status, bytes) = f.runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), async {
            let response = f.router.clone().oneshot(req).await.expect("infallible");
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body");
            (status, bytes)
        })
        .await
        .unwrap_or_else(|_| panic!("{uri}: no answer within 30 s"))
    });
    assert!(
        !status.is_server_error(),
        "{uri}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    if status.is_client_error() {
        let body: Value = serde_json::from_slice(&bytes).expect("error body is JSON");
        for key in ["code", "message", "details", "hint"] {
            assert!(body.get(key).is_some(), "{uri}: {status} {body}");
        }
    }
});
