//! Realtime over real websockets: joins, postgres_changes, heartbeats, tokens, limits, order.

mod common;

use std::time::Duration;

use common::ws::{Got, Ws};
use common::{Server, SECRET};
use reqwest::StatusCode;
use serde_json::{json, Value};
use switchboard_api_client::Returning;
use switchboard_server::auth::jwt::{self, Keys};
use switchboard_server::realtime::channels::{
    too_many_bindings_per_join, too_many_bindings_per_socket,
};
use switchboard_server::realtime::registry::SocketRefusal;

struct Ctx {
    s: Server,
    token: String,
    org: String,
    me: String,
    conv: String,
    medic_token: String,
}

async fn ctx_with(tweak: impl FnOnce(&mut switchboard_server::config::Config)) -> Ctx {
    let s = Server::start_with(tweak).await;
    let session = s.session("ana@northside.test").await;
    let token = session["access_token"].as_str().unwrap().to_string();
    let org = session["user"]["app_metadata"]["org_id"]
        .as_str()
        .unwrap()
        .to_string();
    let me = session["user"]["id"].as_str().unwrap().to_string();
    let medic_token = s.login("medic01@northside.test").await;
    let (_, convs) = s
        .rpc("conversations_with_unread", &medic_token, json!({}))
        .await;
    let conv = convs[0]["id"].as_str().unwrap().to_string();
    Ctx {
        s,
        token,
        org,
        me,
        conv,
        medic_token,
    }
}

async fn ctx() -> Ctx {
    ctx_with(|_| {}).await
}

fn org_bindings(org: &str, me: &str) -> Value {
    json!([
        {"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("org_id=eq.{org}")},
        {"event": "UPDATE", "schema": "public", "table": "conversations", "filter": format!("org_id=eq.{org}")},
        {"event": "*", "schema": "public", "table": "read_state", "filter": format!("user_id=eq.{me}")},
    ])
}

fn topic(org: &str) -> String {
    format!("realtime:web-messages:org_{org}")
}

async fn say(c: &Ctx, token: &str, conv: &str, body: &str) -> Value {
    let (status, rows) =
        c.s.post_message(token, json!({"conversation_id": conv, "body": body}))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{rows}");
    rows[0].clone()
}

#[tokio::test]
async fn join_reply_echoes_bindings_and_changes_arrive_as_supabase_sends_them() {
    let c = ctx().await;
    let mut ws = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    let bindings = org_bindings(&c.org, &c.me);
    let (join_ref, reply) = ws.join(&topic(&c.org), &c.token, bindings.clone()).await;
    assert_eq!(reply["payload"]["status"], "ok");
    let echoed = reply["payload"]["response"]["postgres_changes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(echoed.len(), 3);
    for (sent, got) in bindings.as_array().unwrap().iter().zip(&echoed) {
        for k in ["event", "schema", "table", "filter"] {
            assert_eq!(sent[k], got[k]);
        }
        assert!(got["id"].is_u64());
    }
    let system = ws.recv().await;
    assert_eq!(system["event"], "system");
    assert_eq!(system["join_ref"], join_ref.as_str());
    assert_eq!(system["payload"]["status"], "ok");
    assert_eq!(system["payload"]["extension"], "postgres_changes");
    assert_eq!(
        system["payload"]["channel"],
        format!("web-messages:org_{}", c.org)
    );

    let row = say(&c, &c.medic_token, &c.conv, "Patient stable").await;
    let insert = ws.recv_event("postgres_changes").await;
    assert!(insert["join_ref"].is_null() && insert["ref"].is_null());
    let p = &insert["payload"];
    assert_eq!(p["ids"], json!([echoed[0]["id"]]));
    let data = &p["data"];
    assert_eq!(
        (
            data["schema"].as_str(),
            data["table"].as_str(),
            data["type"].as_str()
        ),
        (Some("public"), Some("messages"), Some("INSERT"))
    );
    assert_eq!(data["record"], row);
    assert!(data.get("old_record").is_none());
    assert!(data["errors"].is_null());
    assert!(data["columns"]
        .as_array()
        .unwrap()
        .iter()
        .any(|col| col["name"] == "body" && col["type"] == "text"));
    let ts = data["commit_timestamp"].as_str().unwrap();
    assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");

    let update = ws.recv_event("postgres_changes").await;
    let data = &update["payload"]["data"];
    assert_eq!(
        (data["table"].as_str(), data["type"].as_str()),
        (Some("conversations"), Some("UPDATE"))
    );
    assert_eq!(update["payload"]["ids"], json!([echoed[1]["id"]]));
    assert_eq!(data["record"]["last_message_preview"], "Patient stable");
    assert_eq!(data["old_record"], json!({"id": c.conv}));

    // Marking read produces my read_state change.
    let (status, _) =
        c.s.rpc(
            "mark_conversation_read",
            &c.token,
            json!({"conversation_id": c.conv}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let read = ws.recv_event("postgres_changes").await;
    assert_eq!(read["payload"]["data"]["table"], "read_state");
    assert_eq!(read["payload"]["data"]["record"]["user_id"], c.me.as_str());
    assert_eq!(read["payload"]["ids"], json!([echoed[2]["id"]]));

    // Heartbeat.
    ws.send(None, Some("99"), "phoenix", "heartbeat", json!({}))
        .await;
    let hb = ws.recv().await;
    assert_eq!(
        (
            hb["event"].as_str(),
            hb["ref"].as_str(),
            hb["payload"]["status"].as_str()
        ),
        (Some("phx_reply"), Some("99"), Some("ok"))
    );

    // Leave: ok reply, then phx_close with the join ref.
    ws.send(
        Some(&join_ref),
        Some("100"),
        &topic(&c.org),
        "phx_leave",
        json!({}),
    )
    .await;
    let r = ws.recv().await;
    assert_eq!(
        (r["event"].as_str(), r["ref"].as_str()),
        (Some("phx_reply"), Some("100"))
    );
    let close = ws.recv().await;
    assert_eq!(
        (close["event"].as_str(), close["ref"].as_str()),
        (Some("phx_close"), Some(join_ref.as_str()))
    );
    say(&c, &c.medic_token, &c.conv, "after leave").await;
    ws.send(None, Some("101"), "phoenix", "heartbeat", json!({}))
        .await;
    assert_eq!(
        ws.recv().await["ref"],
        "101",
        "nothing arrives after leaving"
    );
}

#[tokio::test]
async fn filters_select_only_matching_rows() {
    let c = ctx().await;
    let (_, convs) =
        c.s.rpc("conversations_with_unread", &c.token, json!({}))
            .await;
    let other = convs
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] != c.conv.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ws = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    let (_, reply) = ws
        .join("realtime:one-thread", &c.token, json!([{"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("conversation_id=eq.{}", c.conv)}]))
        .await;
    assert_eq!(reply["payload"]["status"], "ok");
    ws.recv_event("system").await;
    say(&c, &c.token, &other, "elsewhere").await;
    say(&c, &c.token, &c.conv, "here").await;
    let got = ws.recv_event("postgres_changes").await;
    assert_eq!(
        got["payload"]["data"]["record"]["body"], "here",
        "the other conversation's insert and all updates were filtered out"
    );

    let mut ws2 = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    let (_, reply) = ws2
        .join("realtime:in", &c.token, json!([{"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("conversation_id=in.({},{})", other, c.conv)}]))
        .await;
    assert_eq!(reply["payload"]["status"], "ok");
    say(&c, &c.token, &other, "one").await;
    let got = ws2.recv_event("postgres_changes").await;
    assert_eq!(got["payload"]["data"]["record"]["body"], "one");
}

#[tokio::test]
async fn v1_serializer_works_too() {
    let c = ctx().await;
    let mut ws = Ws::connect(&c.s.base, &c.s.anon, "1.0.0").await;
    let (_, reply) = ws
        .join(&topic(&c.org), &c.token, org_bindings(&c.org, &c.me))
        .await;
    assert_eq!(reply["payload"]["status"], "ok");
    say(&c, &c.medic_token, &c.conv, "v1 hello").await;
    let got = ws.recv_event("postgres_changes").await;
    assert_eq!(got["payload"]["data"]["record"]["body"], "v1 hello");
}

#[tokio::test]
async fn rls_applies_per_subscriber_and_cross_org_joins_are_refused() {
    let c = ctx().await;
    let lee = c.s.session("lee@lakeside.test").await;
    let lee_token = lee["access_token"].as_str().unwrap();
    let lee_org = lee["user"]["app_metadata"]["org_id"].as_str().unwrap();
    let lee_me = lee["user"]["id"].as_str().unwrap();

    let mut ws = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    let (_, reply) = ws
        .join(&topic(&c.org), lee_token, org_bindings(&c.org, lee_me))
        .await;
    assert_eq!(reply["payload"]["status"], "error");
    assert!(reply["payload"]["response"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("Unauthorized"));
    // Unfiltered subscriptions are still cut down to what the caller may read.
    let (_, reply) = ws
        .join(
            "realtime:everything",
            lee_token,
            json!([{"event": "*", "schema": "public", "table": "messages"}]),
        )
        .await;
    assert_eq!(reply["payload"]["status"], "ok");
    say(&c, &c.medic_token, &c.conv, "northside only").await;
    let (_, lake_convs) =
        c.s.rpc("conversations_with_unread", lee_token, json!({}))
            .await;
    say(
        &c,
        lee_token,
        lake_convs[0]["id"].as_str().unwrap(),
        "lakeside",
    )
    .await;
    let got = ws.recv_event("postgres_changes").await;
    assert_eq!(got["payload"]["data"]["record"]["body"], "lakeside");
    assert_eq!(got["payload"]["data"]["record"]["org_id"], lee_org);

    // A medic sees only their own conversations.
    let medic2 = c.s.login("medic02@northside.test").await;
    let (_, m2convs) =
        c.s.rpc("conversations_with_unread", &medic2, json!({}))
            .await;
    let mut mws = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    let (_, reply) = mws
        .join(
            "realtime:mine",
            &c.medic_token,
            json!([{"event": "INSERT", "schema": "public", "table": "messages"}]),
        )
        .await;
    assert_eq!(reply["payload"]["status"], "ok");
    say(&c, &medic2, m2convs[0]["id"].as_str().unwrap(), "medic two").await;
    say(&c, &c.token, &c.conv, "to medic one").await;
    let got = mws.recv_event("postgres_changes").await;
    assert_eq!(got["payload"]["data"]["record"]["body"], "to medic one");
}

#[tokio::test]
async fn bad_joins_get_error_replies() {
    let c = ctx().await;
    let mut ws = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    let cases = [
        json!([{"event": "INSERT", "schema": "public", "table": "nope"}]),
        json!([{"event": "INSERT", "schema": "public", "table": "messages", "filter": "secret=eq.1"}]),
        json!([{"event": "INSERT", "schema": "public", "table": "messages", "filter": "body=like.%"}]),
        json!([{"event": "INSERT", "schema": "public", "table": "messages", "filter": "broken"}]),
        json!("not a list"),
    ];
    for changes in cases {
        let (_, reply) = ws.join("realtime:bad", &c.token, changes.clone()).await;
        assert_eq!(reply["payload"]["status"], "error", "{changes}");
    }
    let (_, reply) = ws.join("realtime:x", "not-a-jwt", json!([])).await;
    assert_eq!(
        reply["payload"]["response"]["reason"],
        "MalformedJWT: The token provided is not a valid JWT"
    );
    let (_, reply) = ws.join("realtime:", &c.token, json!([])).await;
    assert_eq!(reply["payload"]["status"], "error");
    let (_, reply) = ws.join("lobby", &c.token, json!([])).await;
    assert_eq!(reply["payload"]["response"]["reason"], "unmatched topic");
    ws.send(
        None,
        Some("9"),
        "realtime:never-joined",
        "broadcast",
        json!({}),
    )
    .await;
    let r = ws.recv().await;
    assert_eq!(r["payload"]["response"]["reason"], "unmatched topic");
    // The socket is still usable after all of that.
    let (_, reply) = ws
        .join(&topic(&c.org), &c.token, org_bindings(&c.org, &c.me))
        .await;
    assert_eq!(reply["payload"]["status"], "ok");
}

#[tokio::test]
async fn handshake_requires_an_api_key_and_a_known_vsn() {
    let c = ctx().await;
    let ws_base = c.s.base.replace("http", "ws");
    for (url, code) in [
        (format!("{ws_base}/realtime/v1/websocket?vsn=2.0.0"), 401),
        (
            format!("{ws_base}/realtime/v1/websocket?apikey=bogus&vsn=2.0.0"),
            401,
        ),
        (
            format!(
                "{ws_base}/realtime/v1/websocket?apikey={}&vsn=7.0.0",
                c.s.anon
            ),
            400,
        ),
    ] {
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status().as_u16(), code)
            }
            other => panic!("expected an HTTP error, got {:?}", other.map(|_| ())),
        }
    }
}

#[tokio::test]
async fn malformed_frames_close_the_socket_without_harming_others() {
    let c = ctx().await;
    let mut good = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    good.join(&topic(&c.org), &c.token, org_bindings(&c.org, &c.me))
        .await;
    for garbage in ["{not json", "[1,2]", "{\"a\":1}", "[null,null,7,\"x\",{}]"] {
        let mut bad = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
        bad.send_raw(garbage).await;
        match bad.recv_within(Duration::from_secs(5)).await {
            Some(Got::Closed(code)) => assert_eq!(code, Some(1007), "{garbage}"),
            other => panic!("{garbage}: expected close, got {other:?}"),
        }
    }
    let mut big = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    big.send_raw(&format!(
        "[null,\"1\",\"phoenix\",\"heartbeat\",{{\"pad\":\"{}\"}}]",
        "x".repeat(200_000)
    ))
    .await;
    assert!(matches!(
        big.recv_within(Duration::from_secs(5)).await,
        Some(Got::Closed(_))
    ));
    say(&c, &c.medic_token, &c.conv, "still flowing").await;
    let got = good.recv_event("postgres_changes").await;
    assert_eq!(got["payload"]["data"]["record"]["body"], "still flowing");
}

#[tokio::test]
async fn token_swap_keeps_the_subscription_and_expiry_ends_it() {
    let c = ctx().await;
    let keys = Keys::new(SECRET.as_bytes()).unwrap();
    let mut claims = keys.verify_user(&c.token).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Past its `exp` but inside the leeway REST grants too: accepted, and ended by the
    // timer once the same rule refuses it, about two seconds from now.
    claims.exp = now - jwt::LEEWAY_SECS + 2;
    let short = keys.sign(&claims).unwrap();
    assert_eq!(
        c.s.get("/rest/v1/conversations?select=id", &short).await.0,
        StatusCode::OK
    );

    // Swapped in time: the channel survives past the first token's expiry.
    let mut kept = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    let (join_ref, _) = kept
        .join(&topic(&c.org), &short, org_bindings(&c.org, &c.me))
        .await;
    kept.recv_event("system").await;
    kept.send(
        Some(&join_ref),
        Some("50"),
        &topic(&c.org),
        "access_token",
        json!({"access_token": c.token}),
    )
    .await;
    let system = kept.recv_event("system").await;
    assert_eq!(system["payload"]["status"], "ok");

    // Not swapped: system error, then phx_close.
    let mut lapsed = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    let (lapsed_ref, _) = lapsed
        .join(&topic(&c.org), &short, org_bindings(&c.org, &c.me))
        .await;
    lapsed.recv_event("system").await;
    let ended = lapsed.recv_event("system").await;
    assert_eq!(ended["payload"]["status"], "error");
    assert!(ended["payload"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Token has expired"));
    let close = lapsed.recv().await;
    assert_eq!(
        (close["event"].as_str(), close["ref"].as_str()),
        (Some("phx_close"), Some(lapsed_ref.as_str()))
    );

    say(&c, &c.medic_token, &c.conv, "after expiry").await;
    let got = kept.recv_event("postgres_changes").await;
    assert_eq!(got["payload"]["data"]["record"]["body"], "after expiry");

    // A bad replacement token ends the channel.
    kept.send(
        Some(&join_ref),
        Some("51"),
        &topic(&c.org),
        "access_token",
        json!({"access_token": "junk"}),
    )
    .await;
    let ended = kept.recv_event("system").await;
    assert_eq!(ended["payload"]["status"], "error");
    assert_eq!(kept.recv().await["event"], "phx_close");
}

#[tokio::test]
async fn silent_sockets_are_closed() {
    let c = ctx_with(|cfg| cfg.limits.ws_idle_timeout_ms = 400).await;
    let mut ws = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    ws.join(&topic(&c.org), &c.token, org_bindings(&c.org, &c.me))
        .await;
    loop {
        match ws.recv_within(Duration::from_secs(10)).await {
            Some(Got::Frame(_)) => continue,
            Some(Got::Closed(_)) => break,
            None => panic!("socket was not closed after the idle timeout"),
        }
    }
}

#[tokio::test]
async fn channel_and_socket_limits() {
    let c = ctx_with(|cfg| {
        cfg.limits.ws_channels_per_socket = 2;
        cfg.limits.ws_sockets_per_session = 1;
    })
    .await;
    let mut ws = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    assert_eq!(
        ws.join("realtime:a", &c.token, json!([])).await.1["payload"]["status"],
        "ok"
    );
    assert_eq!(
        ws.join("realtime:b", &c.token, json!([])).await.1["payload"]["status"],
        "ok"
    );
    let (_, third) = ws.join("realtime:c", &c.token, json!([])).await;
    assert_eq!(
        third["payload"]["response"]["reason"],
        "ChannelRateLimitReached: Too many channels"
    );
    let mut second = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    let (_, refused) = second.join("realtime:a", &c.token, json!([])).await;
    assert_eq!(
        refused["payload"]["response"]["reason"],
        SocketRefusal::TooManySockets { max: 1 }.reason()
    );
    // Closing the first socket frees the slot.
    ws.inner.close(None).await.unwrap();
    drop(ws);
    let mut ok = false;
    for _ in 0..50 {
        let mut third = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
        if third.join("realtime:a", &c.token, json!([])).await.1["payload"]["status"] == "ok" {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "slot was released");
}

#[tokio::test]
async fn concurrent_writers_arrive_once_each_in_commit_order() {
    let c = ctx().await;
    let mut ws = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    ws.join(
        "realtime:order",
        &c.token,
        json!([{"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("conversation_id=eq.{}", c.conv)}]),
    )
    .await;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (api, token, conv) = (
                c.s.api.clone(),
                if w % 2 == 0 {
                    c.token.clone()
                } else {
                    c.medic_token.clone()
                },
                c.conv.clone(),
            );
            tokio::spawn(async move {
                for i in 0..25 {
                    let row = json!({"conversation_id": conv, "body": format!("w{w}-{i}")});
                    let r = api
                        .insert_messages(&row, Returning::Minimal, &token)
                        .await
                        .unwrap();
                    assert_eq!(r.status, StatusCode::CREATED);
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let mut seen = Vec::new();
    while seen.len() < 100 {
        let f = ws.recv_event("postgres_changes").await;
        let rec = &f["payload"]["data"]["record"];
        seen.push((
            rec["created_at"].as_str().unwrap().to_string(),
            rec["id"].as_str().unwrap().to_string(),
        ));
    }
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "commit order is created_at order"
    );
    let mut ids: Vec<_> = seen.iter().map(|s| s.1.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 100, "no duplicates");
    ws.send(None, Some("7"), "phoenix", "heartbeat", json!({}))
        .await;
    assert_eq!(ws.recv().await["event"], "phx_reply", "and nothing extra");
}

/// Issue 12, item 6: tabs of one browser share a session, and normal multi-tab use never
/// reaches the per-session socket cap: more than 20 sockets of one session all join.
#[tokio::test]
async fn many_tabs_of_one_session_all_join() {
    let c = ctx().await;
    let mut tabs = Vec::new();
    for tab in 0..25 {
        let mut ws = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
        let (_, reply) = ws
            .join(&topic(&c.org), &c.token, org_bindings(&c.org, &c.me))
            .await;
        assert_eq!(reply["payload"]["status"], "ok", "tab {tab}: {reply}");
        tabs.push(ws);
    }
    say(&c, &c.medic_token, &c.conv, "to every tab").await;
    for ws in &mut tabs {
        let got = ws.recv_event("postgres_changes").await;
        assert_eq!(got["payload"]["data"]["record"]["body"], "to every tab");
    }
}

/// Issue 12, item 6: the cap that does bind is on login sessions (devices), and its refusal
/// is a join error the app can show; a device already connected may open more tabs, and a
/// device that closes frees its slot.
#[tokio::test]
async fn the_session_cap_refuses_with_a_reason_and_frees_on_close() {
    let c = ctx_with(|cfg| cfg.limits.ws_sessions_per_user = 2).await;
    let laptop = c.token.clone();
    let phone = c.s.login("ana@northside.test").await;
    let tablet = c.s.login("ana@northside.test").await;
    let mut on_laptop = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    let (_, ok) = on_laptop.join(&topic(&c.org), &laptop, json!([])).await;
    assert_eq!(ok["payload"]["status"], "ok", "{ok}");
    let mut on_phone = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    let (_, ok) = on_phone.join(&topic(&c.org), &phone, json!([])).await;
    assert_eq!(ok["payload"]["status"], "ok", "{ok}");

    let mut on_tablet = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    let (_, refused) = on_tablet.join(&topic(&c.org), &tablet, json!([])).await;
    assert_eq!(refused["payload"]["status"], "error");
    assert_eq!(
        refused["payload"]["response"]["reason"],
        "ConnectionRateLimitReached: This account is connected on too many devices at once \
         (at most 2). Close Switchboard on a device you are not using."
    );
    let mut second_laptop_tab = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    let (_, ok) = second_laptop_tab
        .join(&topic(&c.org), &laptop, json!([]))
        .await;
    assert_eq!(
        ok["payload"]["status"], "ok",
        "a known device opens another tab"
    );

    on_phone.inner.close(None).await.unwrap();
    drop(on_phone);
    let mut joined = false;
    for _ in 0..50 {
        let (_, reply) = on_tablet.join(&topic(&c.org), &tablet, json!([])).await;
        if reply["payload"]["status"] == "ok" {
            joined = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(joined, "the phone's slot went to the tablet");
}

/// Issue 12, item 1: a token the rule calls expired is refused at join as hosted Realtime
/// refuses it, with the reason the app refreshes on, and REST refuses it too.
#[tokio::test]
async fn an_expired_token_is_refused_at_join_as_by_rest() {
    let c = ctx().await;
    let keys = Keys::new(SECRET.as_bytes()).unwrap();
    let mut claims = keys.verify_user(&c.token).unwrap();
    claims.exp = jwt::unix_now() - jwt::LEEWAY_SECS - 5;
    let lapsed = keys.sign(&claims).unwrap();
    let mut ws = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    let (_, refused) = ws
        .join(&topic(&c.org), &lapsed, org_bindings(&c.org, &c.me))
        .await;
    assert_eq!(refused["payload"]["status"], "error");
    let reason = refused["payload"]["response"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("InvalidJWTToken: Token has expired ")
            && reason.ends_with(" seconds ago"),
        "{reason}"
    );
    let (status, body) = c.s.get("/rest/v1/conversations?select=id", &lapsed).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("PGRST303"))
    );
}

/// Issue 12, item 7: a realtime `filter` with quoted values (quotes, backslashes, commas
/// inside) selects exactly the rows it names, AND-ed with another part.
#[tokio::test]
async fn quoted_filter_values_select_the_rows_they_name() {
    let c = ctx().await;
    let filter = format!(
        r#"body=in.("5\" gauze","D:\\scan.pdf","a,b"),conversation_id=eq.{}"#,
        c.conv
    );
    let mut ws = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    let (_, reply) = ws
        .join(
            "realtime:quoted",
            &c.token,
            json!([{"event": "INSERT", "schema": "public", "table": "messages", "filter": filter}]),
        )
        .await;
    assert_eq!(reply["payload"]["status"], "ok", "{reply}");
    ws.recv_event("system").await;
    for body in ["5", r#"5" gauze"#, "a", r"D:\scan.pdf", "a,b"] {
        say(&c, &c.token, &c.conv, body).await;
    }
    for want in [r#"5" gauze"#, r"D:\scan.pdf", "a,b"] {
        let got = ws.recv_event("postgres_changes").await;
        assert_eq!(got["payload"]["data"]["record"]["body"], want);
    }
}

/// `n` message bindings naming conversations that never get a message.
fn idle_bindings(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let conv = format!("00000000-0000-4000-8000-{i:012}");
            json!({"event": "INSERT", "schema": "public", "table": "messages",
                   "filter": format!("conversation_id=eq.{conv}")})
        })
        .collect()
}

/// Issue 13, item 1: one join could carry 800 bindings and a socket 100 such channels,
/// each binding matched against every insert. Past the caps a join is refused with an
/// error reply, and the bindings already joined go on delivering as before.
#[tokio::test]
async fn bindings_are_capped_per_join_and_per_socket() {
    let c = ctx().await;
    let caps = switchboard_server::config::Limits::default().channel_caps();
    let mut ws = Ws::connect(&c.s.base, &c.s.anon, "2.0.0").await;
    let (_, refused) = ws
        .join(
            "realtime:too-many",
            &c.token,
            Value::from(idle_bindings(caps.bindings_per_join + 1)),
        )
        .await;
    assert_eq!(refused["payload"]["status"], "error", "{refused}");
    assert_eq!(
        refused["payload"]["response"]["reason"],
        too_many_bindings_per_join(caps.bindings_per_join)
    );

    let mut own = org_bindings(&c.org, &c.me).as_array().unwrap().clone();
    let mut joined = 0;
    let mut n = 0;
    while joined < caps.bindings_per_socket {
        let room = (caps.bindings_per_socket - joined).min(caps.bindings_per_join);
        let mut list: Vec<Value> = std::mem::take(&mut own);
        list.extend(idle_bindings(room - list.len()));
        let name = if n == 0 {
            topic(&c.org)
        } else {
            format!("realtime:idle-{n}")
        };
        let (_, reply) = ws.join(&name, &c.token, Value::from(list)).await;
        assert_eq!(reply["payload"]["status"], "ok", "{reply}");
        ws.recv_event("system").await;
        joined += room;
        n += 1;
    }
    let (_, refused) = ws
        .join("realtime:one-more", &c.token, Value::from(idle_bindings(1)))
        .await;
    assert_eq!(
        refused["payload"]["response"]["reason"],
        too_many_bindings_per_socket(caps.bindings_per_socket)
    );

    say(&c, &c.medic_token, &c.conv, "still delivered").await;
    let got = ws.recv_event("postgres_changes").await;
    assert_eq!(got["topic"], topic(&c.org).as_str());
    assert_eq!(got["payload"]["data"]["record"]["body"], "still delivered");
    assert_eq!(got["payload"]["ids"].as_array().map(Vec::len), Some(1));
}
