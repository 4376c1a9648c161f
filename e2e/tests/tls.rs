//! The dashboard over HTTPS and WSS: the real server started with `--tls-cert/--tls-key`
//! (a pair its own `cert` subcommand wrote), Chromium trusting only that pair's key, the
//! login → live message path on an `https://` page (a secure context, as a LAN dispatch
//! centre's browsers need for notifications, Web Locks and service workers).
//!
//! Needs `dist/` (trunk build --release) and target/debug/switchboard-server; `cargo xtask
//! test` prepares both and runs this with --test-threads=1 (one browser at a time).

use base64::Engine;
use rcgen::PublicKeyData;
use serde_json::json;
use sha2::{Digest, Sha256};
use switchboard_api_client::{Client, Returning, DEMO_PASSWORD};
use switchboard_e2e::page::{login, open_conversation, wait_connection_state, wait_message};
use switchboard_e2e::server::ServerProcess;
use switchboard_e2e::{scenario, Browser};

/// Chromium's `--ignore-certificate-errors-spki-list` value for a PEM key: the base64 of
/// the SHA-256 of its SubjectPublicKeyInfo. Unlike `--ignore-certificate-errors` it
/// accepts this one key only, and the page stays a secure context.
fn spki_hash(key_pem: &str) -> String {
    let key = rcgen::KeyPair::from_pem(key_pem).expect("a PEM key");
    let digest = Sha256::digest(key.subject_public_key_info());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

#[tokio::test]
async fn login_and_a_live_message_over_https_and_wss() {
    let server = ServerProcess::start_tls().await.expect("a TLS server");
    let base = server.url();
    assert!(base.starts_with("https://"), "{base}");
    let tls = server.tls.clone().expect("TLS");
    let key = std::fs::read_to_string(&tls.key).unwrap();
    let browser = Browser::start_with(&[format!(
        "--ignore-certificate-errors-spki-list={}",
        spki_hash(&key)
    )])
    .await
    .expect("browser");

    // The medic posts over REST, over HTTPS, with a client trusting the same pair.
    let api = Client::connect_with(server.http().unwrap(), &base)
        .await
        .unwrap();
    let medic = api
        .sign_in("medic01@northside.test", DEMO_PASSWORD)
        .await
        .unwrap();
    let convs = api
        .rpc("conversations_with_unread", &json!({}), &medic.access_token)
        .await
        .unwrap();
    let conv = convs.body[0]["id"].as_str().unwrap().to_string();

    scenario("tls-live-message", browser.session.clone(), move |s| {
        async move {
            login(&s, &base, "ana@northside.test").await;
            let page = s
                .execute(
                    "return [location.protocol, window.isSecureContext, 'locks' in navigator];",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(page, json!(["https:", true, true]), "a secure context");
            open_conversation(&s, &conv).await;
            // Live means the realtime socket joined: over wss://, the only scheme an https
            // page may open (a ws:// one is blocked as mixed content).
            wait_connection_state(&s, "Live").await;
            let posted = api
                .insert_messages(
                    &json!({"conversation_id": conv, "body": "Arrived over TLS"}),
                    Returning::Representation,
                    &medic.access_token,
                )
                .await
                .unwrap();
            assert_eq!(posted.status.as_u16(), 201, "{}", posted.body);
            let id = posted.body[0]["id"].as_str().unwrap().to_string();
            wait_message(&s, &id).await;
            wait_connection_state(&s, "Live").await;
        }
    })
    .await;
    browser.stop().await;
}
