//! Serving for real (issue 14): static files precompressed by `Accept-Encoding`, JSON API
//! answers over 1 KiB compressed, caching headers per kind of path, 304 on revalidation, and
//! the security headers on every answer: static, SPA fallback, API and errors.

mod common;

use std::io::{Read, Write};
use std::path::PathBuf;

use base64::Engine;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};

use common::Server;

/// The inline bootstrap, as Trunk writes it into `dist/index.html`.
const BOOTSTRAP: &str =
    "\nimport init from '/app-0123456789abcdef.js';\nawait init('/app-0123456789abcdef_bg.wasm');\n";
const HASHED_JS: &str = "/app-0123456789abcdef.js";
const HASHED_WASM: &str = "/app-0123456789abcdef_bg.wasm";

fn brotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = brotli::CompressorWriter::new(&mut out, 4096, 11, 22);
    w.write_all(bytes).unwrap();
    drop(w);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    w.write_all(bytes).unwrap();
    w.finish().unwrap()
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// A built app as Trunk lays it out, with `.br` and `.gz` siblings as the xtask writes them
/// (none for the wasm: a file without siblings goes out as it is).
fn dist() -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let index = format!(
        "<!DOCTYPE html><html><head><title>Switchboard</title>\n<script type=\"module\">{BOOTSTRAP}</script></head><body></body></html>"
    );
    let js: Vec<u8> = (0..400)
        .flat_map(|i| format!("export function f{i}() {{ return {i}; }}\n").into_bytes())
        .collect();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    for (name, bytes) in [("/index.html", index.as_bytes()), (HASHED_JS, &js)] {
        write(name, bytes);
        write(&format!("{name}.br"), &brotli(bytes));
        write(&format!("{name}.gz"), &gzip(bytes));
    }
    write(HASHED_WASM, b"\0asm\x01\0\0\0");
    write(
        "/public/favicon.svg",
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    );
    (dir, js)
}

async fn serve_dist() -> (Server, tempfile::TempDir, Vec<u8>) {
    let (dir, js) = dist();
    let path: PathBuf = dir.path().to_path_buf();
    let server = Server::start_with(move |c| c.dist = Some(path)).await;
    (server, dir, js)
}

async fn get(s: &Server, path: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = reqwest::Client::new().get(format!("{}{path}", s.base));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn static_files_go_out_precompressed_by_accept_encoding() {
    let (s, _dist, js) = serve_dist().await;
    for (asked, coding) in [
        (Some("br, gzip"), Some("br")),
        (Some("gzip, deflate, br;q=0"), Some("gzip")),
        (Some("gzip"), Some("gzip")),
        (None, None),
        (Some("identity"), None),
    ] {
        let headers: Vec<(&str, &str)> =
            asked.map(|a| ("accept-encoding", a)).into_iter().collect();
        let (status, h, body) = get(&s, HASHED_JS, &headers).await;
        assert_eq!(status, StatusCode::OK, "{asked:?}");
        assert_eq!(header(&h, "content-encoding"), coding, "{asked:?}");
        assert_eq!(header(&h, "vary"), Some("accept-encoding"), "{asked:?}");
        assert_eq!(
            header(&h, "content-type"),
            Some("text/javascript"),
            "the original's type, not the sibling's"
        );
        let decoded = match coding {
            Some("br") => unbrotli(&body),
            Some("gzip") => gunzip(&body),
            _ => body.clone(),
        };
        assert_eq!(decoded, js, "{asked:?}");
        if coding.is_some() {
            assert!(body.len() < js.len() / 4, "{asked:?}: {} bytes", body.len());
        }
    }
    // The SPA fallback is index.html, precompressed as well.
    let (_, h, body) = get(&s, "/messages/abc", &[("accept-encoding", "br")]).await;
    assert_eq!(header(&h, "content-encoding"), Some("br"));
    assert!(String::from_utf8(unbrotli(&body))
        .unwrap()
        .contains(BOOTSTRAP));
    // Without a sibling the file goes out as it is, still with Vary.
    let (_, h, body) = get(&s, HASHED_WASM, &[("accept-encoding", "br")]).await;
    assert_eq!(header(&h, "content-encoding"), None);
    assert_eq!(header(&h, "vary"), Some("accept-encoding"));
    assert_eq!(body, b"\0asm\x01\0\0\0");
}

#[tokio::test]
async fn cache_headers_follow_the_kind_of_path() {
    let (s, _dist, _) = serve_dist().await;
    const IMMUTABLE: &str = "public, max-age=31536000, immutable";
    for (path, cache) in [
        (HASHED_JS, IMMUTABLE),
        (HASHED_WASM, IMMUTABLE),
        ("/", "no-cache"),
        ("/index.html", "no-cache"),
        ("/messages/abc", "no-cache"),
        ("/login", "no-cache"),
        // A hashed name that is not there (an old build's) gets index.html: never immutable.
        ("/app-ffffffffffffffff.js", "no-cache"),
        ("/public/favicon.svg", "no-cache"),
        ("/config.json", "no-cache"),
    ] {
        let (status, h, _) = get(&s, path, &[("accept-encoding", "br")]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(header(&h, "cache-control"), Some(cache), "{path}");
    }
}

#[tokio::test]
async fn revalidation_is_a_304() {
    let (s, _dist, _) = serve_dist().await;
    for path in ["/", "/messages/abc", HASHED_JS] {
        for coding in ["br", "gzip", "identity"] {
            let asked = [("accept-encoding", coding)];
            let (status, first, _) = get(&s, path, &asked).await;
            assert_eq!(status, StatusCode::OK);
            let etag = header(&first, "etag").expect("a strong ETag").to_string();
            assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
            let modified = header(&first, "last-modified").unwrap().to_string();

            let (status, h, body) = get(&s, path, &[asked[0], ("if-none-match", &etag)]).await;
            assert_eq!(status, StatusCode::NOT_MODIFIED, "{path} {coding}");
            assert!(body.is_empty());
            assert_eq!(header(&h, "etag"), Some(etag.as_str()));
            assert_eq!(
                header(&h, "cache-control"),
                first.get("cache-control").map(|v| v.to_str().unwrap())
            );
            assert_eq!(header(&h, "vary"), Some("accept-encoding"));

            let (status, _, _) = get(&s, path, &[asked[0], ("if-modified-since", &modified)]).await;
            assert_eq!(status, StatusCode::NOT_MODIFIED, "Last-Modified alone");

            // If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3).
            let (status, _, body) = get(
                &s,
                path,
                &[
                    asked[0],
                    ("if-none-match", "\"stale\""),
                    ("if-modified-since", &modified),
                ],
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{path} {coding}");
            assert!(!body.is_empty());
        }
    }
    // Each coding is its own representation: the identity ETag does not validate the br one.
    let (_, plain, _) = get(&s, "/", &[]).await;
    let (_, br, _) = get(&s, "/", &[("accept-encoding", "br")]).await;
    assert_ne!(plain.get("etag"), br.get("etag"));
    let identity_tag = header(&plain, "etag").unwrap();
    let (status, _, _) = get(
        &s,
        "/",
        &[("accept-encoding", "br"), ("if-none-match", identity_tag)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // /config.json too: the app loads it on every start.
    let (_, h, _) = get(&s, "/config.json", &[]).await;
    let etag = header(&h, "etag").unwrap().to_string();
    let (status, h, body) = get(&s, "/config.json", &[("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(header(&h, "cache-control"), Some("no-cache"));
}

/// The policy's hash of the bootstrap, computed here from the text itself.
fn bootstrap_hash() -> String {
    let digest = Sha256::digest(BOOTSTRAP.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The policy an answer must carry: the app's (its files, the SPA fallback, their 304s) or
/// the API's, which allows nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    App,
    Api,
}

#[track_caller]
fn assert_security_headers(what: &str, h: &HeaderMap) {
    assert_policy(what, h, Policy::App);
}

#[track_caller]
fn assert_policy(what: &str, h: &HeaderMap, policy: Policy) {
    assert_eq!(
        h.get_all("content-security-policy").iter().count(),
        1,
        "{what}"
    );
    let csp = header(h, "content-security-policy").unwrap_or_else(|| panic!("{what}: no CSP"));
    if policy == Policy::Api {
        assert_eq!(csp, "default-src 'none'; frame-ancestors 'none'", "{what}");
    }
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.split(' ').next() == Some(name))
            .unwrap_or_else(|| panic!("{what}: no {name} in {csp}"))
            .to_string()
    };
    if policy == Policy::App {
        assert_eq!(directive("default-src"), "default-src 'self'", "{what}");
        assert_eq!(
            directive("script-src"),
            format!("script-src 'self' 'wasm-unsafe-eval' {}", bootstrap_hash()),
            "{what}"
        );
        assert_eq!(directive("connect-src"), "connect-src 'self'", "{what}");
        assert_eq!(directive("worker-src"), "worker-src 'self' blob:", "{what}");
        assert_eq!(directive("img-src"), "img-src 'self' data:", "{what}");
    }
    assert_eq!(
        directive("frame-ancestors"),
        "frame-ancestors 'none'",
        "{what}"
    );
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(
        header(h, "x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(header(h, "referrer-policy"), Some("no-referrer"), "{what}");
    let permissions = header(h, "permissions-policy").unwrap_or_else(|| panic!("{what}"));
    assert!(permissions.contains("camera=()") && permissions.contains("geolocation=()"));
    assert!(permissions.contains("autoplay=(self)"), "the alert tones");
}

/// A request to make (what it is, method, path, headers), the status it must get and the
/// policy it must carry.
type Case<'a> = (
    &'a str,
    Method,
    &'a str,
    Vec<(&'a str, &'a str)>,
    StatusCode,
    Policy,
);

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let (s, _dist, _) = serve_dist().await;
    let token = s.login("ana@northside.test").await;
    let bearer = format!("Bearer {token}");
    let client = reqwest::Client::new();
    let cases: Vec<Case> = vec![
        (
            "static",
            Method::GET,
            HASHED_JS,
            vec![],
            StatusCode::OK,
            Policy::App,
        ),
        (
            "index",
            Method::GET,
            "/",
            vec![("accept-encoding", "br")],
            StatusCode::OK,
            Policy::App,
        ),
        (
            "spa fallback",
            Method::GET,
            "/messages/abc",
            vec![],
            StatusCode::OK,
            Policy::App,
        ),
        (
            "config",
            Method::GET,
            "/config.json",
            vec![],
            StatusCode::OK,
            Policy::Api,
        ),
        (
            "api",
            Method::GET,
            "/rest/v1/conversations?select=id",
            vec![("apikey", &s.anon), ("authorization", &bearer)],
            StatusCode::OK,
            Policy::Api,
        ),
        (
            "api error",
            Method::GET,
            "/rest/v1/conversations?select=id",
            vec![("apikey", &s.anon)],
            StatusCode::UNAUTHORIZED,
            Policy::Api,
        ),
        (
            "api 404",
            Method::GET,
            "/auth/v1/nowhere",
            vec![("apikey", &s.anon)],
            StatusCode::NOT_FOUND,
            Policy::Api,
        ),
        (
            "static 405",
            Method::POST,
            "/index.html",
            vec![],
            StatusCode::METHOD_NOT_ALLOWED,
            Policy::App,
        ),
        (
            "websocket refused",
            Method::GET,
            "/realtime/v1/websocket",
            vec![],
            StatusCode::BAD_REQUEST,
            Policy::Api,
        ),
    ];
    for (what, method, path, headers, expected, policy) in cases {
        let mut request = client.request(method, format!("{}{path}", s.base));
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), expected, "{what}");
        assert_policy(what, response.headers(), policy);
    }
    // A 304 as well.
    let (_, h, _) = get(&s, "/", &[]).await;
    let etag = header(&h, "etag").unwrap().to_string();
    let (status, h, _) = get(&s, "/", &[("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert_security_headers("304", &h);
}

#[tokio::test]
async fn without_an_app_the_api_still_carries_them() {
    let s = Server::start().await;
    let (status, h, _) = get(&s, "/nowhere", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let csp = header(&h, "content-security-policy").unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("sha256-"),
        "{csp}"
    );
    assert_eq!(header(&h, "x-content-type-options"), Some("nosniff"));
}

#[tokio::test]
async fn json_api_answers_over_a_kilobyte_are_compressed() {
    let (s, _dist, _) = serve_dist().await;
    let token = s.login("ana@northside.test").await;
    let bearer = format!("Bearer {token}");
    let client = reqwest::Client::new();
    let fetch = |path: &str, coding: Option<&str>| {
        let mut request = client
            .get(format!("{}{path}", s.base))
            .header("apikey", &s.anon)
            .header("authorization", &bearer);
        if let Some(c) = coding {
            request = request.header("accept-encoding", c);
        }
        async move {
            let r = request.send().await.unwrap();
            let (status, h) = (r.status(), r.headers().clone());
            (status, h, r.bytes().await.unwrap().to_vec())
        }
    };
    let big = "/rest/v1/messages?select=*&limit=50";
    let (status, h, plain) = fetch(big, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        plain.len() > 1024,
        "the demo data gives {} bytes",
        plain.len()
    );
    assert_eq!(
        header(&h, "content-encoding"),
        None,
        "identity when nothing is asked"
    );
    let rows: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    for (coding, decode) in [("br", unbrotli as fn(&[u8]) -> Vec<u8>), ("gzip", gunzip)] {
        let (status, h, body) = fetch(big, Some(coding)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&h, "content-encoding"), Some(coding), "{h:?}");
        assert!(header(&h, "vary").unwrap().contains("accept-encoding"));
        // PostgREST's item range survives (it is not a byte range).
        assert_eq!(header(&h, "content-range"), Some("0-49/*"));
        assert!(h.get("x-switchboard-item-range").is_none());
        assert!(body.len() < plain.len());
        let decoded: serde_json::Value = serde_json::from_slice(&decode(&body)).unwrap();
        assert_eq!(decoded, rows, "{coding}");
    }
    // Under a kilobyte it is not worth it.
    let (status, h, body) = fetch("/rest/v1/messages?select=id&limit=1", Some("br")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.len() < 1024);
    assert_eq!(header(&h, "content-encoding"), None);
    // Auth answers too, when large enough (a session is about 1.3 KB with its JWT).
    let response = client
        .post(format!("{}/auth/v1/token?grant_type=password", s.base))
        .header("apikey", &s.anon)
        .header("accept-encoding", "gzip")
        .json(&serde_json::json!({"email": "ana@northside.test", "password": switchboard_api_client::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let gz = response.headers().get("content-encoding").cloned();
    let body = response.bytes().await.unwrap().to_vec();
    let session: serde_json::Value = if gz.is_some() {
        serde_json::from_slice(&gunzip(&body)).unwrap()
    } else {
        assert!(body.len() <= 1024, "{} bytes uncompressed", body.len());
        serde_json::from_slice(&body).unwrap()
    };
    assert!(session["access_token"].is_string());
}

/// Compression wraps the body after the REST answer cap is checked: an answer over the cap is
/// still the 500 `54000` error, readable whatever the client accepts.
#[tokio::test]
async fn the_answer_cap_holds_under_compression() {
    let (dir, _) = dist();
    let path = dir.path().to_path_buf();
    let s = Server::start_with(move |c| {
        c.dist = Some(path);
        c.limits.max_response_bytes = 2048;
    })
    .await;
    let token = s.login("ana@northside.test").await;
    let response = reqwest::Client::new()
        .get(format!("{}/rest/v1/messages?select=*", s.base))
        .header("apikey", &s.anon)
        .header("authorization", format!("Bearer {token}"))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let coded = response.headers().get("content-encoding").is_some();
    let body = response.bytes().await.unwrap().to_vec();
    let body = if coded { unbrotli(&body) } else { body };
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["code"], "54000");
}

/// The realtime upgrade is left alone by compression, whatever the client accepts.
#[tokio::test]
async fn the_websocket_upgrade_is_not_compressed() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let (s, _dist, _) = serve_dist().await;
    let url = format!(
        "{}/realtime/v1/websocket?apikey={}&vsn=1.0.0",
        s.base.replace("http", "ws"),
        s.anon
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("accept-encoding", "br, gzip".parse().unwrap());
    let (_socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert!(response.headers().get("content-encoding").is_none());
}

/// hyper's own answers to requests it cannot parse never reach the router; they carry the
/// headers that matter for a JSON error (a policy allowing nothing, `nosniff`).
#[tokio::test]
async fn hyper_s_own_errors_carry_them_too() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Server::start().await;
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let huge = "a".repeat(70_000);
    let request = format!("GET /{huge} HTTP/1.1\r\nhost: x\r\n\r\n");
    // hyper may answer and close before reading the whole request.
    let _ = tcp.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    let head = answer
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        head.contains("\r\nx-content-type-options: nosniff"),
        "{head}"
    );
    assert!(
        head.contains("\r\ncontent-security-policy: default-src 'none'; frame-ancestors 'none'"),
        "{head}"
    );
}
