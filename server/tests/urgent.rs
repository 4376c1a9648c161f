//! Urgent priority, acknowledgements and canned replies over real sockets and a real SQLite
//! file: who may acknowledge what, one row per message under concurrent calls, the embedded
//! `ack`, the unacknowledged counts, Realtime fan-out, the config flag, and a database of
//! the previous schema version migrating at start.

mod common;

use std::time::Duration;

use common::ws::{Got, Ws};
use common::{assert_error, Server, User};
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_api_client::DEMO_PASSWORD;

/// The thread read the client sends (its `MESSAGE_SELECT`).
const THREAD_SELECT: &str = "id,conversation_id,sender_id,body,priority,created_at,sender:users(display_name,role),ack:message_acks(user_id,acked_at,user:users(display_name))";

/// Northside's dispatchers Ana and Ben, medic01 (`m1`) with one of their conversations,
/// medic02 (`m2`) with one of theirs, and Lakeside's dispatcher Lee with one of Lee's.
struct World {
    s: Server,
    ana: User,
    ben: User,
    m1: User,
    m2: User,
    lee: User,
    org: String,
    lee_org: String,
    c1: String,
    c2: String,
}

async fn world_with(tweak: impl FnOnce(&mut switchboard_server::config::Config)) -> World {
    let s = Server::start_with(tweak).await;
    let ana = s.user("ana@northside.test").await;
    let ben = s.user("ben@northside.test").await;
    let m1 = s.user("medic01@northside.test").await;
    let m2 = s.user("medic02@northside.test").await;
    let lee = s.user("lee@lakeside.test").await;
    let (c1, org) = s.first_conversation(&m1.token).await;
    let (c2, _) = s.first_conversation(&m2.token).await;
    let (_, lee_org) = s.first_conversation(&lee.token).await;
    World {
        s,
        ana,
        ben,
        m1,
        m2,
        lee,
        org,
        lee_org,
        c1,
        c2,
    }
}

async fn world() -> World {
    world_with(|_| {}).await
}

/// Posts a message and answers the stored row.
async fn say(s: &Server, who: &User, conv: &str, body: &str, priority: &str) -> Value {
    let (status, rows) = s
        .post_message(
            &who.token,
            json!({"conversation_id": conv, "body": body, "priority": priority}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rows}");
    rows[0].clone()
}

async fn ack(s: &Server, who: &User, message: &Value) -> (StatusCode, Value) {
    s.rpc(
        "acknowledge_message",
        &who.token,
        json!({"message_id": message["id"]}),
    )
    .await
}

fn id(row: &Value) -> &str {
    row["id"].as_str().unwrap()
}

/// The caller's list row of conversation `conv`.
async fn list_row(s: &Server, who: &User, conv: &str) -> Value {
    let (status, rows) = s
        .rpc("conversations_with_unread", &who.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == conv)
        .unwrap()
        .clone()
}

async fn total(s: &Server, who: &User) -> i64 {
    let (status, n) = s.rpc("unacked_urgent_total", &who.token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{n}");
    n.as_i64().unwrap()
}

#[tokio::test]
async fn priority_is_chosen_at_insert_checked_and_returned() {
    let w = world().await;
    let s = &w.s;
    let urgent = say(s, &w.m1, &w.c1, "Need backup now", "urgent").await;
    assert_eq!(urgent["priority"], "urgent");
    let plain = s
        .post_message(
            &w.m1.token,
            json!({"conversation_id": w.c1, "body": "All quiet"}),
        )
        .await;
    assert_eq!(plain.1[0]["priority"], "routine", "routine by default");
    let (_, star) = s
        .get(
            &format!("/rest/v1/messages?id=eq.{}", id(&urgent)),
            &w.ana.token,
        )
        .await;
    assert_eq!(star[0], urgent, "select=* has priority");
    let (_, some) = s
        .get(
            &format!("/rest/v1/messages?select=id,priority&id=eq.{}", id(&urgent)),
            &w.ana.token,
        )
        .await;
    assert_eq!(some, json!([{"id": urgent["id"], "priority": "urgent"}]));

    for bad in [json!("high"), json!("URGENT"), json!(2)] {
        let reply = s
            .post_message(
                &w.ana.token,
                json!({"conversation_id": w.c1, "body": "x", "priority": bad}),
            )
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "23514");
        assert_eq!(
            reply.1["message"],
            "new row for relation \"messages\" violates check constraint \"messages_priority_check\""
        );
    }
    assert_error(
        &s.post_message(
            &w.ana.token,
            json!({"conversation_id": w.c1, "body": "x", "priority": null}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "23502",
    );

    // A retry of the same send is the stored row; the same id at another priority conflicts.
    let mid = "6b0f3c8e-8f61-4f3e-9a49-0b8f1d0c2a11";
    let send =
        json!({"id": mid, "conversation_id": w.c1, "body": "Shots fired", "priority": "urgent"});
    let (status, first) = s.post_message(&w.m1.token, send.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, again) = s.post_message(&w.m1.token, send).await;
    assert_eq!((status, &again[0]), (StatusCode::CREATED, &first[0]));
    assert_error(
        &s.post_message(
            &w.m1.token,
            json!({"id": mid, "conversation_id": w.c1, "body": "Shots fired", "priority": "routine"}),
        )
        .await,
        StatusCode::CONFLICT,
        "23505",
    );
    // There is no way to change it afterwards: messages take no PATCH.
    assert_error(
        &s.call(
            Method::PATCH,
            &format!("/rest/v1/messages?id=eq.{mid}"),
            Some(&w.m1.token),
            Some(json!({"priority": "routine"})),
            &[],
        )
        .await,
        StatusCode::FORBIDDEN,
        "42501",
    );
    let (_, still) = s
        .get(
            &format!("/rest/v1/messages?select=priority&id=eq.{mid}"),
            &w.ana.token,
        )
        .await;
    assert_eq!(still, json!([{"priority": "urgent"}]));
}

#[tokio::test]
async fn only_the_receiving_side_acknowledges_and_only_urgent_messages() {
    let w = world().await;
    let s = &w.s;
    let from_medic = say(s, &w.m1, &w.c1, "Patient crashing", "urgent").await;
    // Its sender, and anyone who cannot see it.
    let refused = ack(s, &w.m1, &from_medic).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "42501");
    assert_eq!(
        refused.1["message"],
        "only the receiving side acknowledges an urgent message"
    );
    for outsider in [&w.m2, &w.lee] {
        let reply = ack(s, outsider, &from_medic).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "P0002");
        assert_eq!(reply.1["message"], "message not found");
    }
    // A dispatcher of the org acknowledges it; the answer is the row, stamped by the server.
    let before = switchboard_server::clock::now_micros();
    let (status, row) = ack(s, &w.ana, &from_medic).await;
    assert_eq!(status, StatusCode::OK, "{row}");
    assert_eq!(row.as_object().unwrap().len(), 4, "{row}");
    assert_eq!(
        (&row["message_id"], &row["org_id"], row["user_id"].as_str()),
        (&from_medic["id"], &json!(w.org), Some(w.ana.id.as_str()))
    );
    let at = switchboard_server::clock::parse_micros(row["acked_at"].as_str().unwrap()).unwrap();
    assert!(at >= before, "server clock");
    // Again, by anyone allowed: the same row, never a second one.
    for again in [&w.ana, &w.ben] {
        let (status, same) = ack(s, again, &from_medic).await;
        assert_eq!((status, &same), (StatusCode::OK, &row));
    }
    assert_error(
        &ack(s, &w.m1, &from_medic).await,
        StatusCode::FORBIDDEN,
        "42501",
    );

    // A dispatcher's urgent message: only the conversation's own medic.
    let from_dispatch = say(s, &w.ana, &w.c1, "Evacuate the building", "urgent").await;
    for same_side in [&w.ana, &w.ben] {
        assert_error(
            &ack(s, same_side, &from_dispatch).await,
            StatusCode::FORBIDDEN,
            "42501",
        );
    }
    assert_error(
        &ack(s, &w.m2, &from_dispatch).await,
        StatusCode::NOT_FOUND,
        "P0002",
    );
    let (status, row) = ack(s, &w.m1, &from_dispatch).await;
    assert_eq!(
        (status, row["user_id"].as_str()),
        (StatusCode::OK, Some(w.m1.id.as_str()))
    );

    // Routine messages are not acknowledged, by anyone.
    let routine = say(s, &w.m1, &w.c1, "Back in service", "routine").await;
    let reply = ack(s, &w.ana, &routine).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "22023");
    assert_eq!(reply.1["message"], "only urgent messages are acknowledged");
    // Bad arguments.
    let nobody = json!({"id": "00000000-0000-4000-8000-000000000000"});
    assert_error(
        &ack(s, &w.ana, &nobody).await,
        StatusCode::NOT_FOUND,
        "P0002",
    );
    assert_error(
        &s.rpc(
            "acknowledge_message",
            &w.ana.token,
            json!({"message_id": "x"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "22P02",
    );
    assert_error(
        &s.rpc("acknowledge_message", &w.ana.token, json!({})).await,
        StatusCode::BAD_REQUEST,
        "PGRST202",
    );
    // No writes over REST, as without an insert grant.
    for table in ["message_acks", "canned_replies"] {
        assert_error(
            &s.call(
                Method::POST,
                &format!("/rest/v1/{table}"),
                Some(&w.ana.token),
                Some(json!({"message_id": from_medic["id"], "label": "x"})),
                &[],
            )
            .await,
            StatusCode::FORBIDDEN,
            "42501",
        );
    }
}

#[tokio::test]
async fn concurrent_acknowledgements_leave_one_row_and_agree_on_it() {
    let w = world().await;
    let s = &w.s;
    let message = say(s, &w.m1, &w.c1, "Need a second unit", "urgent").await;
    let calls = (0..12).map(|i| {
        let who = if i % 2 == 0 { &w.ana } else { &w.ben };
        ack(s, who, &message)
    });
    let replies = join_all(calls).await;
    let first = &replies[0].1;
    for (status, row) in &replies {
        assert_eq!((*status, row), (StatusCode::OK, first));
    }
    let mid = id(&message).to_string();
    let stored = s
        .state()
        .db()
        .read(move |conn| {
            Ok(conn.query_row(
                "SELECT count(*) FROM message_acks WHERE message_id = ?1",
                [mid],
                |r| r.get::<_, i64>(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn acknowledgements_are_read_and_embedded_under_the_messages_rule() {
    let w = world().await;
    let s = &w.s;
    let acked = say(s, &w.m1, &w.c1, "Cardiac arrest", "urgent").await;
    let open = say(s, &w.m1, &w.c1, "Also need fire", "urgent").await;
    let (_, row) = ack(s, &w.ben, &acked).await;
    let by_id = format!("/rest/v1/message_acks?message_id=eq.{}", id(&acked));
    for reader in [&w.ana, &w.ben, &w.m1] {
        let (status, rows) = s.get(&by_id, &reader.token).await;
        assert_eq!((status, rows), (StatusCode::OK, json!([row.clone()])));
    }
    for outsider in [&w.m2, &w.lee] {
        let (status, rows) = s.get(&by_id, &outsider.token).await;
        assert_eq!((status, rows), (StatusCode::OK, json!([])));
        let (_, all) = s.get("/rest/v1/message_acks", &outsider.token).await;
        assert!(all.as_array().unwrap().is_empty(), "{all}");
    }

    // The client's thread read: `ack` is one object (or null), with its user embedded.
    let path = format!(
        "/rest/v1/messages?select={THREAD_SELECT}&conversation_id=eq.{}&order=created_at.desc&limit=50",
        w.c1
    );
    for reader in [&w.ana, &w.m1] {
        let (status, rows) = s.get(&path, &reader.token).await;
        assert_eq!(status, StatusCode::OK, "{rows}");
        let find = |m: &Value| {
            rows.as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == m["id"])
                .unwrap()
                .clone()
        };
        let got = find(&acked);
        assert_eq!(
            got["ack"],
            json!({"user_id": w.ben.id, "acked_at": row["acked_at"], "user": {"display_name": "Ben Lindqvist"}})
        );
        assert_eq!(got["priority"], "urgent");
        assert_eq!(got["sender"]["role"], "medic");
        assert!(find(&open)["ack"].is_null());
        let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 8, "{keys:?}");
    }
    // Other shapes of the reverse embed: every column, and the message back from the ack.
    let (_, star) = s
        .get(
            &format!(
                "/rest/v1/messages?select=id,ack:message_acks(*)&id=eq.{}",
                id(&acked)
            ),
            &w.ana.token,
        )
        .await;
    assert_eq!(star[0]["ack"], row);
    let (_, back) = s
        .get(
            &format!(
                "/rest/v1/message_acks?select=message_id,message:messages(body,sender:users(display_name))&message_id=eq.{}",
                id(&acked)
            ),
            &w.m1.token,
        )
        .await;
    assert_eq!(back[0]["message"]["body"], "Cardiac arrest");
    assert!(back[0]["message"]["sender"]["display_name"].is_string());
    // Lakeside embedding acknowledgements gets only its own (none here), never Northside's.
    let (_, lake) = s
        .get(
            "/rest/v1/messages?select=ack:message_acks(user_id)&limit=1000",
            &w.lee.token,
        )
        .await;
    assert!(lake.as_array().unwrap().iter().all(|m| m["ack"].is_null()));
    assert_error(
        &s.get(
            "/rest/v1/messages?select=id,ack:message_acks(nope)",
            &w.ana.token,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "42703",
    );
    assert_error(
        &s.get(
            "/rest/v1/messages?select=id,ack:message_acks(user_id,x:read_state(*))",
            &w.ana.token,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "PGRST200",
    );
}

#[tokio::test]
async fn unacknowledged_urgent_counts_per_conversation_and_in_total() {
    let w = world().await;
    let s = &w.s;
    let row = list_row(s, &w.ana, &w.c1).await;
    assert_eq!(
        (&row["unacked_urgent"], &row["oldest_unacked_urgent_at"]),
        (&json!(0), &Value::Null),
        "the demo has no urgent messages"
    );
    let base = total(s, &w.ana).await;
    assert_eq!(base, 0);

    let first = say(s, &w.m1, &w.c1, "Urgent one", "urgent").await;
    let second = say(s, &w.m1, &w.c1, "Urgent two", "urgent").await;
    say(s, &w.m1, &w.c1, "Routine", "routine").await;
    say(s, &w.m2, &w.c2, "Urgent elsewhere", "urgent").await;
    let from_dispatch = say(s, &w.ana, &w.c1, "Urgent for the medic", "urgent").await;
    for dispatcher in [&w.ana, &w.ben] {
        let row = list_row(s, dispatcher, &w.c1).await;
        assert_eq!(
            row["unacked_urgent"], 2,
            "from the medic, not from dispatch"
        );
        assert_eq!(row["oldest_unacked_urgent_at"], first["created_at"]);
        assert_eq!(total(s, dispatcher).await, 3);
    }
    let medic_row = list_row(s, &w.m1, &w.c1).await;
    assert_eq!(
        medic_row["unacked_urgent"], 1,
        "only dispatch's, never their own"
    );
    assert_eq!(
        medic_row["oldest_unacked_urgent_at"],
        from_dispatch["created_at"]
    );
    assert_eq!(total(s, &w.m1).await, 1);
    assert_eq!(total(s, &w.m2).await, 0, "their own urgent message");
    assert_eq!(total(s, &w.lee).await, 0);

    // Acknowledged by anyone of the receiving side: gone for everyone.
    ack(s, &w.ben, &first).await;
    let row = list_row(s, &w.ana, &w.c1).await;
    assert_eq!(row["unacked_urgent"], 1);
    assert_eq!(row["oldest_unacked_urgent_at"], second["created_at"]);
    assert_eq!(total(s, &w.ana).await, 2);
    ack(s, &w.m1, &from_dispatch).await;
    let medic_row = list_row(s, &w.m1, &w.c1).await;
    assert_eq!(
        (
            &medic_row["unacked_urgent"],
            &medic_row["oldest_unacked_urgent_at"]
        ),
        (&json!(0), &Value::Null)
    );
    assert_eq!(total(s, &w.m1).await, 0);
    // The total is the sum of the list.
    let (_, rows) = s
        .rpc("conversations_with_unread", &w.ana.token, json!({}))
        .await;
    let sum: i64 = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["unacked_urgent"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, total(s, &w.ana).await);
}

#[tokio::test]
async fn canned_replies_are_for_the_orgs_dispatchers_only() {
    let w = world().await;
    let s = &w.s;
    let path = "/rest/v1/canned_replies?select=label,body,position&order=position.asc";
    let (status, north) = s.get(path, &w.ana.token).await;
    assert_eq!(status, StatusCode::OK, "{north}");
    let north = north.as_array().unwrap().clone();
    assert_eq!(north.len(), 8);
    assert_eq!(
        north[0],
        json!({"label": "Copy", "body": "Copy.", "position": 1})
    );
    assert_eq!(
        north[2],
        json!({"label": "ETA?", "body": "What is your ETA?", "position": 3})
    );
    let positions: Vec<i64> = north
        .iter()
        .map(|r| r["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, (1..=8).collect::<Vec<_>>());
    let (_, lake) = s.get(path, &w.lee.token).await;
    assert_eq!(lake.as_array().unwrap().len(), 7);
    assert_eq!(lake[4]["label"], "Fire for lift assist");
    let (_, lake_orgs) = s
        .get("/rest/v1/canned_replies?select=org_id", &w.lee.token)
        .await;
    assert!(lake_orgs
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["org_id"] == w.lee_org));
    for medic in [&w.m1, &w.m2] {
        let (status, rows) = s.get(path, &medic.token).await;
        assert_eq!((status, rows), (StatusCode::OK, json!([])));
    }
    // position is a number: filters and order compare numerically.
    let (_, late) = s
        .get(
            "/rest/v1/canned_replies?select=position&position=gte.7&order=position.desc",
            &w.ana.token,
        )
        .await;
    assert_eq!(late, json!([{"position": 8}, {"position": 7}]));
    assert_error(
        &s.get("/rest/v1/canned_replies?position=eq.first", &w.ana.token)
            .await,
        StatusCode::BAD_REQUEST,
        "22P02",
    );
}

#[tokio::test]
async fn config_json_publishes_the_realert_interval() {
    let config = |s: &Server| {
        let url = format!("{}/config.json", s.base);
        async move {
            reqwest::get(url)
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let default = Server::start().await;
    let cfg = config(&default).await;
    assert_eq!(cfg["urgent_realert_seconds"], 60);
    assert_eq!(
        (cfg["supabase_url"].as_str(), cfg["anon_key"].as_str()),
        (Some(""), Some(default.anon.as_str()))
    );
    let tuned = Server::start_with(|c| c.urgent_realert_secs = 7).await;
    assert_eq!(config(&tuned).await["urgent_realert_seconds"], 7);
}

fn ack_binding(org: &str) -> Value {
    json!([{"event": "INSERT", "schema": "public", "table": "message_acks", "filter": format!("org_id=eq.{org}")}])
}

async fn subscribe(s: &Server, who: &User, org: &str) -> Ws {
    let mut ws = Ws::connect(&s.base, &s.anon, "2.0.0").await;
    let (_, reply) = ws
        .join(
            &format!("realtime:acks:{}", who.id),
            &who.token,
            ack_binding(org),
        )
        .await;
    assert_eq!(reply["payload"]["status"], "ok", "{reply}");
    ws
}

/// The next acknowledgement change on `ws`, skipping system messages.
async fn next_ack(ws: &mut Ws) -> Value {
    let change = ws.recv_event("postgres_changes").await;
    let data = change["payload"]["data"].clone();
    assert_eq!(
        (data["table"].as_str(), data["type"].as_str()),
        (Some("message_acks"), Some("INSERT"))
    );
    data["record"].clone()
}

#[tokio::test]
async fn acknowledgements_reach_the_orgs_dispatchers_and_the_conversations_medic() {
    let w = world().await;
    let s = &w.s;
    let mut ana = subscribe(s, &w.ana, &w.org).await;
    let mut m1 = subscribe(s, &w.m1, &w.org).await;
    let mut m2 = subscribe(s, &w.m2, &w.org).await;
    let mut lee = subscribe(s, &w.lee, &w.lee_org).await;
    // Another org's acknowledgements are refused at join.
    let mut intruder = Ws::connect(&s.base, &s.anon, "2.0.0").await;
    let (_, reply) = intruder
        .join("realtime:peek", &w.lee.token, ack_binding(&w.org))
        .await;
    assert_eq!(reply["payload"]["status"], "error");

    // A message INSERT carries its priority.
    let mut messages = Ws::connect(&s.base, &s.anon, "2.0.0").await;
    let (_, reply) = messages
        .join(
            "realtime:messages",
            &w.ana.token,
            json!([{"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("org_id=eq.{}", w.org)}]),
        )
        .await;
    assert_eq!(reply["payload"]["status"], "ok");
    let in_c1 = say(s, &w.m1, &w.c1, "Urgent in c1", "urgent").await;
    let change = messages.recv_event("postgres_changes").await;
    assert_eq!(change["payload"]["data"]["record"], in_c1);
    assert_eq!(change["payload"]["data"]["record"]["priority"], "urgent");
    assert!(change["payload"]["data"]["columns"]
        .as_array()
        .unwrap()
        .contains(&json!({"name": "priority", "type": "text"})));

    let (_, row) = ack(s, &w.ana, &in_c1).await;
    assert_eq!(next_ack(&mut ana).await, row);
    assert_eq!(next_ack(&mut m1).await, row);
    // A second call writes nothing, so nothing is sent; the next event is the next ack.
    ack(s, &w.ben, &in_c1).await;
    let in_c2 = say(s, &w.m2, &w.c2, "Urgent in c2", "urgent").await;
    let (_, row2) = ack(s, &w.ben, &in_c2).await;
    assert_eq!(row2.as_object().unwrap().len(), 4);
    assert_eq!(next_ack(&mut ana).await, row2, "each acknowledgement once");
    // medic02 got only their own conversation's acknowledgement.
    assert_eq!(next_ack(&mut m2).await, row2);
    // Lakeside got nothing of Northside's: its first event is its own.
    let lake_medic = s.user("medic01@lakeside.test").await;
    let (lake_conv, _) = s.first_conversation(&lake_medic.token).await;
    let lake_msg = say(s, &lake_medic, &lake_conv, "Urgent at the lake", "urgent").await;
    let (status, lake_row) = ack(s, &w.lee, &lake_msg).await;
    assert_eq!(status, StatusCode::OK, "{lake_row}");
    assert_eq!(next_ack(&mut lee).await, lake_row);
    // And m1 received nothing after its own: no further frame arrives.
    assert!(
        !matches!(m1.recv_within(Duration::from_millis(300)).await, Some(Got::Frame(f)) if f["event"] == "postgres_changes"),
        "medic01 sees no other conversation's acknowledgements"
    );
}

/// A database as the previous release (schema version 2) left it, with the demo orgs' names
/// and, when `demo`, the demo seed's marker.
fn version_2_database(path: &std::path::Path, demo: bool) {
    let conn = rusqlite::Connection::open(path).unwrap();
    for sql in &switchboard_server::db::migrations::MIGRATIONS[..2] {
        conn.execute_batch(sql).unwrap();
    }
    conn.pragma_update(None, "user_version", 2).unwrap();
    let hash = switchboard_server::auth::password::hash(DEMO_PASSWORD).unwrap();
    let org_n = "11111111-1111-4111-8111-111111111111";
    let org_l = "22222222-2222-4222-8222-222222222222";
    conn.execute_batch(&format!(
        "INSERT INTO orgs VALUES ('{org_n}', 'Northside EMS'), ('{org_l}', 'Lakeside Ambulance');
         INSERT INTO users VALUES
           ('aaaaaaaa-0000-4000-8000-000000000001', '{org_n}', 'ana@northside.test', '{hash}', 'Ana Okafor', 'dispatcher'),
           ('aaaaaaaa-0000-4000-8000-000000000002', '{org_n}', 'medic01@northside.test', '{hash}', 'Jordan Reyes', 'medic');
         INSERT INTO conversations (id, org_id, medic_id, created_at) VALUES
           ('cccccccc-0000-4000-8000-000000000001', '{org_n}', 'aaaaaaaa-0000-4000-8000-000000000002', '2026-01-01T00:00:00.000000+00:00');
         INSERT INTO messages VALUES
           ('dddddddd-0000-4000-8000-000000000001', '{org_n}', 'cccccccc-0000-4000-8000-000000000001',
            'aaaaaaaa-0000-4000-8000-000000000002', 'Before the upgrade', '2026-01-01T00:00:01.000000+00:00');"
    ))
    .unwrap();
    if demo {
        conn.execute("INSERT INTO settings VALUES ('seed', 'demo')", [])
            .unwrap();
    }
}

#[tokio::test]
async fn a_version_2_database_migrates_at_start_and_gets_the_demo_canned_replies() {
    let dir = tempfile::tempdir().unwrap();
    for demo in [true, false] {
        let path = dir.path().join(format!("v2-{demo}.db"));
        version_2_database(&path, demo);
        // Twice: the second start finds the newest version and changes nothing.
        for _ in 0..2 {
            let mut config = common::config(path.clone());
            config.seed = switchboard_server::config::Seed::Demo;
            let running = switchboard_server::start(config).await.unwrap();
            let base = format!("http://{}", running.addr);
            let api = switchboard_api_client::Client::new(&base, running.state.keys().anon_key());
            let version = running
                .state
                .db()
                .read(|conn| {
                    Ok(conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))?)
                })
                .await
                .unwrap();
            assert_eq!(
                version,
                switchboard_server::db::migrations::MIGRATIONS.len() as i64
            );
            let ana = api
                .sign_in("ana@northside.test", DEMO_PASSWORD)
                .await
                .unwrap();
            let old = api
                .get(
                    "/rest/v1/messages?select=body,priority&id=eq.dddddddd-0000-4000-8000-000000000001",
                    &ana.access_token,
                )
                .await
                .unwrap();
            assert_eq!(
                old.body,
                json!([{"body": "Before the upgrade", "priority": "routine"}])
            );
            let replies = api
                .get(
                    "/rest/v1/canned_replies?select=label,position&order=position.asc",
                    &ana.access_token,
                )
                .await
                .unwrap();
            let expected = if demo { 8 } else { 0 };
            assert_eq!(
                replies.body.as_array().unwrap().len(),
                expected,
                "demo {demo}: only databases the demo seed made get the demo set, once"
            );
            let all = running
                .state
                .db()
                .read(|conn| {
                    Ok(
                        conn.query_row("SELECT count(*) FROM canned_replies", [], |r| {
                            r.get::<_, i64>(0)
                        })?,
                    )
                })
                .await
                .unwrap();
            assert_eq!(all, if demo { 8 + 7 } else { 0 }, "both demo orgs");
            // The migrated schema takes urgent messages and acknowledgements.
            let medic = api
                .sign_in("medic01@northside.test", DEMO_PASSWORD)
                .await
                .unwrap();
            let sent = api
                .insert_messages(
                    &json!({"conversation_id": "cccccccc-0000-4000-8000-000000000001", "body": "Urgent after", "priority": "urgent"}),
                    switchboard_api_client::Returning::Representation,
                    &medic.access_token,
                )
                .await
                .unwrap();
            assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
            let acked = api
                .rpc(
                    "acknowledge_message",
                    &json!({"message_id": sent.body[0]["id"]}),
                    &ana.access_token,
                )
                .await
                .unwrap();
            assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
            running.stop().await;
        }
    }
}
