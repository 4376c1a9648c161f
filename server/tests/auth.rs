//! GoTrue subset over real sockets: grants, rotation, logout, api keys, rate limits.

mod common;

use common::{assert_error, Server, SECRET};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_api_client::{self as api, Client, DEMO_PASSWORD};
use switchboard_server::auth::jwt::{AppMetadata, AppRole, Keys, UserClaims, UserMetadata};

async fn token_call(s: &Server, grant: &str, body: Value) -> (StatusCode, Value) {
    s.call(
        Method::POST,
        &format!("/auth/v1/token?grant_type={grant}"),
        None,
        Some(body),
        &[],
    )
    .await
}

async fn password_grant(s: &Server, email: &str, password: &str) -> (StatusCode, Value) {
    token_call(s, "password", json!({"email": email, "password": password})).await
}

async fn refresh(s: &Server, refresh_token: &str) -> (StatusCode, Value) {
    token_call(s, "refresh_token", json!({"refresh_token": refresh_token})).await
}

#[tokio::test]
async fn password_grant_returns_a_supabase_session() {
    let s = Server::start().await;
    let session = s.session("ana@northside.test").await;
    assert_eq!(session["token_type"], "bearer");
    assert_eq!(session["expires_in"], 3600);
    assert!(session["expires_at"].as_i64().unwrap() > 1_700_000_000);
    assert!(session["refresh_token"].as_str().unwrap().len() >= 32);
    let user = &session["user"];
    assert_eq!(user["email"], "ana@northside.test");
    assert_eq!(user["app_metadata"]["app_role"], "dispatcher");
    assert_eq!(user["app_metadata"]["org_name"], "Northside EMS");
    assert_eq!(user["user_metadata"]["display_name"], "Ana Okafor");
    assert!(user.get("password_hash").is_none());

    let claims = Keys::new(SECRET.as_bytes())
        .unwrap()
        .verify_user(session["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims.role, "authenticated");
    assert_eq!(claims.aud, "authenticated");
    assert_eq!(claims.email, "ana@northside.test");
    assert_eq!(claims.sub, user["id"].as_str().unwrap());
    assert_eq!(claims.app_metadata.app_role, AppRole::Dispatcher);

    let (status, me) = s
        .get("/auth/v1/user", session["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], user["id"]);
}

#[tokio::test]
async fn wrong_credentials_are_a_clear_400() {
    let s = Server::start().await;
    for (email, password) in [
        ("ana@northside.test", "nope"),
        ("nobody@northside.test", DEMO_PASSWORD),
    ] {
        let (status, body) = password_grant(&s, email, password).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], "invalid_credentials");
        assert_eq!(body["message"], "Invalid login credentials");
    }
    let (status, body) = token_call(&s, "password", json!({"email": "ana@northside.test"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error(
        &token_call(&s, "magic", json!({})).await,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_are_single_use() {
    // No reuse window: any second use is a reuse.
    let s = Server::start_with(|c| c.limits.refresh_reuse_window_ms = 0).await;
    let first = s.session("ben@northside.test").await;
    let r1 = first["refresh_token"].as_str().unwrap();
    let (status, second) = refresh(&s, r1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2);
    assert_eq!(second["user"]["email"], "ben@northside.test");
    let (status, _) = s
        .get(
            "/rest/v1/conversations?select=id&limit=1",
            second["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Reusing a spent token fails and, being a sign of theft, ends the session.
    let refused = [
        (r1, "refresh_token_already_used"),
        (r2, "session_expired"),
        ("made-up", "refresh_token_not_found"),
    ];
    for (token, code) in refused {
        assert_error(&refresh(&s, token).await, StatusCode::BAD_REQUEST, code);
    }
}

#[tokio::test]
async fn two_tabs_refreshing_at_once_both_keep_the_session() {
    let s = Server::start().await;
    let first = s.session("ben@northside.test").await;
    let r1 = first["refresh_token"].as_str().unwrap();
    // Both tabs send the same token within the reuse window (10 s): both get a successor.
    let (a_status, a) = refresh(&s, r1).await;
    let (b_status, b) = refresh(&s, r1).await;
    assert_eq!(
        (a_status, b_status),
        (StatusCode::OK, StatusCode::OK),
        "{b}"
    );
    let (ra, rb) = (
        a["refresh_token"].as_str().unwrap(),
        b["refresh_token"].as_str().unwrap(),
    );
    assert_ne!(ra, rb);
    for r in [ra, rb] {
        let (status, body) = refresh(&s, r).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

#[tokio::test]
async fn logout_ends_the_session() {
    let s = Server::start().await;
    let session = s.session("cy@northside.test").await;
    let token = session["access_token"].as_str().unwrap();
    let (status, _) = s
        .call(Method::POST, "/auth/v1/logout", Some(token), None, &[])
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(
        &refresh(&s, session["refresh_token"].as_str().unwrap()).await,
        StatusCode::BAD_REQUEST,
        "session_expired",
    );
    let (status, _) = s
        .call(Method::POST, "/auth/v1/logout", None, None, &[])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_request_needs_a_valid_apikey() {
    let s = Server::start().await;
    let no_key = reqwest::Client::new();
    let bad_key = Client::new(&s.base, "not-a-key");
    for path in [
        "/auth/v1/token?grant_type=password",
        "/rest/v1/rpc/unread_total",
    ] {
        let reply = api::send(no_key.post(format!("{}{path}", s.base)).json(&json!({})))
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.body["message"], "No API key found in request");
        let reply = api::send(bad_key.request(Method::POST, path, None).json(&json!({})))
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.body["message"], "Invalid API key");
    }
    // A user's access token is not an API key.
    let token = s.login("ana@northside.test").await;
    let token_as_key = Client::new(&s.base, &token);
    let reply = token_as_key
        .get("/rest/v1/conversations", &token)
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    // /config.json is public and hands out the anon key.
    let cfg = api::send(no_key.get(format!("{}/config.json", s.base)))
        .await
        .unwrap()
        .body;
    assert_eq!(cfg["anon_key"], s.anon);
    assert_eq!(cfg["supabase_url"], "");
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_email_and_per_address() {
    let s = Server::start_with(|c| {
        c.limits.login_per_address_email = 3;
        c.limits.login_per_address = 5;
    })
    .await;
    for _ in 0..3 {
        let (status, _) = password_grant(&s, "ana@northside.test", "x").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    assert_error(
        &password_grant(&s, "ana@northside.test", DEMO_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "over_request_rate_limit",
    );
    // Another email still works from this address until the address limit is reached.
    let (status, _) = password_grant(&s, "ben@northside.test", DEMO_PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = password_grant(&s, "cy@northside.test", DEMO_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn expired_and_forged_tokens_are_401() {
    let s = Server::start().await;
    let session = s.session("ana@northside.test").await;
    let keys = Keys::new(SECRET.as_bytes()).unwrap();
    let mut claims: UserClaims = keys
        .verify_user(session["access_token"].as_str().unwrap())
        .unwrap();
    claims.exp = 1_000;
    let expired = keys.sign(&claims).unwrap();
    let (status, body) = s.get("/rest/v1/conversations", &expired).await;
    assert_eq!(
        (status, body["code"].as_str(), body["message"].as_str()),
        (
            StatusCode::UNAUTHORIZED,
            Some("PGRST303"),
            Some("JWT expired")
        )
    );

    let forged = Keys::new(&[9u8; 40])
        .unwrap()
        .sign(&UserClaims {
            exp: 4_000_000_000,
            app_metadata: AppMetadata {
                app_role: AppRole::Dispatcher,
                ..claims.app_metadata.clone()
            },
            user_metadata: UserMetadata {
                display_name: "x".into(),
            },
            ..claims
        })
        .unwrap();
    let (status, _) = s.get("/rest/v1/conversations", &forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(
        &s.get("/rest/v1/conversations", "garbage").await,
        StatusCode::UNAUTHORIZED,
        "PGRST301",
    );
    assert_error(
        &s.call(Method::GET, "/rest/v1/conversations", None, None, &[])
            .await,
        StatusCode::UNAUTHORIZED,
        "PGRST302",
    );
}
