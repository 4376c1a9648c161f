//! Starting conversations, their subjects, and marking a conversation unread (issue 15),
//! over real sockets and a real SQLite file: who may start one with whom, the columns that
//! are the server's, the subject rule, idempotent ids, the live INSERT to the org, the list's
//! new fields, and the read marker moving back to just before a message. `supabase/verify.sh`
//! sends the same inputs to the hosted schema and expects the same outcomes.

mod common;

use common::ws::Ws;
use common::{assert_error, Server, User};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_server::clock::{format_micros, now_micros, parse_micros};

/// Northside's dispatchers Ana and Ben and medics medic01 (`m1`) and medic02 (`m2`);
/// Lakeside's dispatcher Lee and medic01 (`lake_medic`).
struct World {
    s: Server,
    ana: User,
    ben: User,
    m1: User,
    m2: User,
    lee: User,
    lake_medic: User,
    org: String,
    lee_org: String,
}

async fn world() -> World {
    let s = Server::start().await;
    let ana = s.user("ana@northside.test").await;
    let ben = s.user("ben@northside.test").await;
    let m1 = s.user("medic01@northside.test").await;
    let m2 = s.user("medic02@northside.test").await;
    let lee = s.user("lee@lakeside.test").await;
    let lake_medic = s.user("medic01@lakeside.test").await;
    let (_, org) = s.first_conversation(&ana.token).await;
    let (_, lee_org) = s.first_conversation(&lee.token).await;
    World {
        s,
        ana,
        ben,
        m1,
        m2,
        lee,
        lake_medic,
        org,
        lee_org,
    }
}

/// `POST /rest/v1/conversations` with `Prefer: return=representation`.
async fn start(s: &Server, who: &User, body: Value) -> (StatusCode, Value) {
    s.call(
        Method::POST,
        "/rest/v1/conversations",
        Some(&who.token),
        Some(body),
        &[("Prefer", "return=representation")],
    )
    .await
}

/// Starts a conversation that must be accepted; answers the stored row.
async fn started(s: &Server, who: &User, medic: &User, subject: &str) -> Value {
    let (status, rows) = start(s, who, json!({"medic_id": medic.id, "subject": subject})).await;
    assert_eq!(status, StatusCode::CREATED, "{rows}");
    rows[0].clone()
}

/// Conversation `id` as `who` reads it over REST, if they can.
async fn read_conversation(s: &Server, who: &User, id: &str) -> Option<Value> {
    let (status, rows) = s
        .get(&format!("/rest/v1/conversations?id=eq.{id}"), &who.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    rows.as_array().unwrap().first().cloned()
}

async fn conversations_of(s: &Server, who: &User, medic: &User) -> usize {
    let path = format!("/rest/v1/conversations?select=id&medic_id=eq.{}", medic.id);
    s.get(&path, &who.token).await.1.as_array().unwrap().len()
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
        .unwrap_or_else(|| panic!("{conv} not in the list"))
        .clone()
}

async fn unread_total(s: &Server, who: &User) -> i64 {
    s.rpc("unread_total", &who.token, json!({}))
        .await
        .1
        .as_i64()
        .unwrap()
}

async fn say(s: &Server, who: &User, conv: &str, body: &str) -> Value {
    let (status, rows) = s
        .post_message(&who.token, json!({"conversation_id": conv, "body": body}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rows}");
    rows[0].clone()
}

async fn mark_read(s: &Server, who: &User, conv: &str) {
    let (status, body) = s
        .rpc(
            "mark_conversation_read",
            &who.token,
            json!({"conversation_id": conv}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

async fn mark_unread(s: &Server, who: &User, conv: &str, message: &str) -> (StatusCode, Value) {
    s.rpc(
        "mark_conversation_unread",
        &who.token,
        json!({"conversation_id": conv, "message_id": message}),
    )
    .await
}

/// `who`'s stored read marker of `conv`, if any.
async fn marker(s: &Server, who: &User, conv: &str) -> Option<String> {
    let path = format!("/rest/v1/read_state?select=last_read_at&conversation_id=eq.{conv}");
    let (_, rows) = s.get(&path, &who.token).await;
    rows.as_array()
        .unwrap()
        .first()
        .map(|r| r["last_read_at"].as_str().unwrap().to_string())
}

/// One microsecond before a stored time.
fn just_before(created_at: &Value) -> String {
    format_micros(parse_micros(created_at.as_str().unwrap()).unwrap() - 1)
}

fn id(row: &Value) -> &str {
    row["id"].as_str().unwrap()
}

#[tokio::test]
async fn every_demo_conversation_has_a_unit_and_incident_subject() {
    let w = world().await;
    let shape = |subject: &str| {
        let Some((unit, incident)) = subject.split_once(" · Inc ") else {
            return false;
        };
        let unit_ok = ["Medic ", "Rescue ", "Ambulance "].iter().any(|kind| {
            unit.strip_prefix(kind)
                .is_some_and(|n| n.parse::<u32>().is_ok())
        });
        let (year, number) = incident.split_once('-').unwrap_or_default();
        unit_ok
            && year.len() == 2
            && number.len() == 4
            && (year.to_string() + number)
                .bytes()
                .all(|b| b.is_ascii_digit())
    };
    for who in [&w.ana, &w.lee] {
        let (_, rows) =
            w.s.rpc("conversations_with_unread", &who.token, json!({}))
                .await;
        let rows = rows.as_array().unwrap();
        let mut subjects: Vec<&str> = rows
            .iter()
            .map(|r| r["subject"].as_str().unwrap())
            .collect();
        assert!(subjects.iter().all(|s| shape(s)), "{subjects:?}");
        subjects.sort_unstable();
        subjects.dedup();
        assert_eq!(subjects.len(), rows.len(), "one incident per conversation");
    }
    // A medic's conversations share the unit and differ by incident.
    let (_, mine) =
        w.s.rpc("conversations_with_unread", &w.m1.token, json!({}))
            .await;
    let mine = mine.as_array().unwrap();
    assert!(mine.len() > 1);
    assert!(
        mine.iter()
            .all(|r| r["subject"].as_str().unwrap().starts_with("Medic 6 · Inc ")),
        "{mine:?}"
    );
}

#[tokio::test]
async fn dispatchers_start_conversations_with_their_orgs_medics_and_medics_with_themselves() {
    let w = world().await;
    let s = &w.s;
    let seeded = conversations_of(s, &w.ana, &w.m2).await;
    let before = format_micros(now_micros());
    let row = started(s, &w.ana, &w.m2, "Medic 3 · Inc 26-0415").await;
    assert_eq!(
        (&row["org_id"], &row["medic_id"], &row["subject"]),
        (
            &json!(w.org),
            &json!(w.m2.id),
            &json!("Medic 3 · Inc 26-0415")
        )
    );
    assert!(
        row["created_at"].as_str().unwrap() >= before.as_str(),
        "{row}"
    );
    assert_eq!(
        (&row["last_message_at"], &row["last_message_preview"]),
        (&Value::Null, &Value::Null)
    );
    let own = started(s, &w.m1, &w.m1, "Medic 6 · Inc 26-0416").await;
    assert_eq!(
        (&own["medic_id"], &own["org_id"]),
        (&json!(w.m1.id), &json!(w.org))
    );

    // Who sees the new one: the org's dispatchers and its medic.
    assert_eq!(
        read_conversation(s, &w.ben, id(&row)).await,
        Some(row.clone())
    );
    assert_eq!(
        read_conversation(s, &w.m2, id(&row)).await,
        Some(row.clone())
    );
    assert_eq!(read_conversation(s, &w.m1, id(&row)).await, None);
    assert_eq!(read_conversation(s, &w.lee, id(&row)).await, None);

    // Refused as row-level security refuses: another medic, another org's medic, a
    // dispatcher, a user that does not exist, a missing medic; before any subject check.
    let ghost = "00000000-0000-4000-8000-00000000dead";
    for (who, medic, subject) in [
        (&w.m1, json!(w.m2.id), "Medic 3 · Inc 26-0417"),
        (&w.ana, json!(w.lake_medic.id), "Ambulance 41 · Inc 26-0417"),
        (&w.ana, json!(w.ben.id), "Dispatch · Inc 26-0417"),
        (&w.ana, json!(ghost), "Medic 1 · Inc 26-0417"),
        (&w.ana, Value::Null, "Medic 1 · Inc 26-0417"),
        (&w.m1, json!(w.m2.id), ""),
        (&w.lee, json!(w.m2.id), "Medic 3 · Inc 26-0417"),
    ] {
        let reply = start(s, who, json!({"medic_id": medic, "subject": subject})).await;
        assert_error(&reply, StatusCode::FORBIDDEN, "42501");
        assert_eq!(
            reply.1["message"],
            "new row violates row-level security policy for table \"conversations\""
        );
    }
    assert_eq!(conversations_of(s, &w.ana, &w.m2).await, seeded + 1);
}

#[tokio::test]
async fn organisation_and_times_are_the_servers_never_the_clients() {
    let w = world().await;
    let s = &w.s;
    let seeded = conversations_of(s, &w.ana, &w.m2).await;
    for (column, value) in [
        ("org_id", json!(w.org)),
        ("org_id", json!(w.lee_org)),
        ("org_id", Value::Null),
        ("created_at", json!(format_micros(now_micros()))),
        ("last_message_at", json!(format_micros(now_micros()))),
        ("last_message_preview", json!("x")),
    ] {
        let mut body = json!({"medic_id": w.m2.id, "subject": "Medic 3 · Inc 26-0417"});
        body[column] = value.clone();
        let reply = start(s, &w.ana, body).await;
        assert_error(&reply, StatusCode::FORBIDDEN, "42501");
        assert_eq!(
            (&reply.1["message"], &reply.1["details"]),
            (
                &json!("permission denied for table conversations"),
                &json!(format!("column \"{column}\" is set by the server"))
            ),
            "{column} = {value}"
        );
    }
    assert_error(
        &start(
            s,
            &w.ana,
            json!({"medic_id": w.m2.id, "subject": "x", "priority": "urgent"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "PGRST204",
    );
    assert_error(
        &start(s, &w.ana, json!({"medic_id": "m2", "subject": "x"})).await,
        StatusCode::BAD_REQUEST,
        "22P02",
    );
    assert_error(
        &start(
            s,
            &w.ana,
            json!({"medic_id": w.m2.id, "subject": "Medic 3\u{0}"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "22P05",
    );
    assert_eq!(
        conversations_of(s, &w.ana, &w.m2).await,
        seeded,
        "nothing stored"
    );
    // Other tables stay closed to inserts.
    assert_error(
        &s.call(
            Method::POST,
            "/rest/v1/users",
            Some(&w.ana.token),
            Some(json!({"display_name": "x"})),
            &[],
        )
        .await,
        StatusCode::FORBIDDEN,
        "42501",
    );
}

#[tokio::test]
async fn subjects_are_trimmed_and_one_to_120_visible_characters() {
    let w = world().await;
    let s = &w.s;
    let seeded = conversations_of(s, &w.ana, &w.m2).await;
    for blank in [
        json!(""),
        json!("   "),
        json!("\u{200B}"),
        json!(" \u{2800} \u{3164} "),
        json!("x".repeat(121)),
    ] {
        let reply = start(s, &w.ana, json!({"medic_id": w.m2.id, "subject": blank})).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "23514");
        assert_eq!(
            reply.1["message"],
            "new row for relation \"conversations\" violates check constraint \"conversations_subject_length\"",
            "{blank}"
        );
    }
    let missing = start(s, &w.ana, json!({"medic_id": w.m2.id})).await;
    assert_error(&missing, StatusCode::BAD_REQUEST, "23514");
    assert_error(
        &start(s, &w.ana, json!({"medic_id": w.m2.id, "subject": null})).await,
        StatusCode::BAD_REQUEST,
        "23502",
    );
    let padded = format!(" \u{A0}{}\n", "x".repeat(120));
    let row = started(s, &w.ana, &w.m2, &padded).await;
    assert_eq!(row["subject"], "x".repeat(120), "stored trimmed");
    assert_eq!(conversations_of(s, &w.ana, &w.m2).await, seeded + 1);
}

#[tokio::test]
async fn a_client_chosen_id_makes_starting_idempotent() {
    let w = world().await;
    let s = &w.s;
    let seeded = conversations_of(s, &w.ana, &w.m2).await;
    let cid = "7c0f3c8e-8f61-4f3e-9a49-0b8f1d0c2a11";
    let body = json!({"id": cid, "medic_id": w.m2.id, "subject": "Medic 3 · Inc 26-0415"});
    let (status, first) = start(s, &w.ana, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first[0]["id"], cid);
    // The same start again (a lost answer retried, by any dispatcher) is the stored row.
    for who in [&w.ana, &w.ben] {
        let (status, again) = start(s, who, body.clone()).await;
        assert_eq!((status, &again), (StatusCode::CREATED, &first));
    }
    // Anything else reusing the id is a conflict.
    for other in [
        json!({"id": cid, "medic_id": w.m2.id, "subject": "Medic 3 · Inc 26-0416"}),
        json!({"id": cid, "medic_id": w.m1.id, "subject": "Medic 3 · Inc 26-0415"}),
    ] {
        let reply = start(s, &w.ana, other).await;
        assert_error(&reply, StatusCode::CONFLICT, "23505");
        assert_eq!(
            reply.1["message"],
            "duplicate key value violates unique constraint \"conversations_pkey\""
        );
    }
    // Another org cannot take it either, and learns nothing but the conflict.
    assert_error(
        &start(
            s,
            &w.lee,
            json!({"id": cid, "medic_id": w.lake_medic.id, "subject": "Ambulance 41 · Inc 26-0091"}),
        )
        .await,
        StatusCode::CONFLICT,
        "23505",
    );
    assert_eq!(
        conversations_of(s, &w.ana, &w.m2).await,
        seeded + 1,
        "stored once"
    );
    // Several conversations with one medic are fine.
    started(s, &w.ana, &w.m2, "Medic 3 · Inc 26-0415").await;
    assert_eq!(conversations_of(s, &w.ana, &w.m2).await, seeded + 2);
}

/// The app's binding on conversations (`src/realtime/protocol.rs::org_bindings`).
fn conversation_changes(org: &str) -> Value {
    json!([{"event": "*", "schema": "public", "table": "conversations", "filter": format!("org_id=eq.{org}")}])
}

async fn subscribe(s: &Server, who: &User, org: &str) -> Ws {
    let mut ws = Ws::connect(&s.base, &s.anon, "2.0.0").await;
    let (_, reply) = ws
        .join(
            &format!("realtime:conversations:{}", who.id),
            &who.token,
            conversation_changes(org),
        )
        .await;
    assert_eq!(reply["payload"]["status"], "ok", "{reply}");
    ws
}

/// The next conversation INSERT on `ws`, skipping system messages: its record.
async fn next_insert(ws: &mut Ws) -> Value {
    let change = ws.recv_event("postgres_changes").await;
    let data = &change["payload"]["data"];
    assert_eq!(
        (data["table"].as_str(), data["type"].as_str()),
        (Some("conversations"), Some("INSERT")),
        "{change}"
    );
    data["record"].clone()
}

#[tokio::test]
async fn a_new_conversation_reaches_the_orgs_dispatchers_and_its_medic_live() {
    let w = world().await;
    let s = &w.s;
    let mut ana = subscribe(s, &w.ana, &w.org).await;
    let mut ben = subscribe(s, &w.ben, &w.org).await;
    let mut m1 = subscribe(s, &w.m1, &w.org).await;
    let mut m2 = subscribe(s, &w.m2, &w.org).await;
    let mut lee = subscribe(s, &w.lee, &w.lee_org).await;

    let row = started(s, &w.ana, &w.m2, "Medic 3 · Inc 26-0415").await;
    assert_eq!(next_insert(&mut ana).await, row, "the whole row");
    assert_eq!(next_insert(&mut ben).await, row);
    assert_eq!(next_insert(&mut m2).await, row);
    // A medic's own start reaches the dispatchers too, and is the first thing medic01
    // hears: medic02's conversation never reached them.
    let own = started(s, &w.m1, &w.m1, "Medic 6 · Inc 26-0416").await;
    assert_eq!(next_insert(&mut m1).await, own);
    assert_eq!(next_insert(&mut ana).await, own);
    assert_eq!(next_insert(&mut ben).await, own);
    // Lakeside heard nothing of Northside's: its first event is its own.
    let lake = started(
        s,
        &w.lake_medic,
        &w.lake_medic,
        "Ambulance 41 · Inc 26-0092",
    )
    .await;
    assert_eq!(next_insert(&mut lee).await, lake);
    // And Northside nothing of Lakeside's: the next event is Northside's again.
    let next = started(s, &w.ben, &w.m2, "Medic 3 · Inc 26-0418").await;
    assert_eq!(next_insert(&mut ana).await, next);
    assert_eq!(next_insert(&mut m2).await, next);
}

#[tokio::test]
async fn the_list_has_the_subject_and_when_the_medic_last_sent_something() {
    let w = world().await;
    let s = &w.s;
    let row = started(s, &w.ana, &w.m2, "Medic 3 · Inc 26-0415").await;
    let conv = id(&row);
    let listed = list_row(s, &w.ana, conv).await;
    assert_eq!(
        (&listed["subject"], &listed["medic_last_message_at"]),
        (&json!("Medic 3 · Inc 26-0415"), &Value::Null)
    );
    say(s, &w.ana, conv, "Confirm your unit").await;
    assert_eq!(
        list_row(s, &w.ben, conv).await["medic_last_message_at"],
        Value::Null
    );
    let sent = say(s, &w.m2, conv, "Transporting").await;
    say(s, &w.ben, conv, "Copy").await;
    for who in [&w.ana, &w.m2] {
        let listed = list_row(s, who, conv).await;
        assert_eq!(listed["medic_last_message_at"], sent["created_at"]);
        assert_eq!(listed["subject"], "Medic 3 · Inc 26-0415");
    }
    // The fields the list had before are all still there.
    let keys: Vec<String> = listed_keys(&list_row(s, &w.ana, conv).await);
    assert_eq!(
        keys,
        [
            "created_at",
            "id",
            "last_message_at",
            "last_message_preview",
            "medic_id",
            "medic_last_message_at",
            "medic_name",
            "oldest_unacked_urgent_at",
            "org_id",
            "subject",
            "unacked_urgent",
            "unread_count",
        ]
    );
}

fn listed_keys(row: &Value) -> Vec<String> {
    let mut keys: Vec<String> = row.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn mark_unread_moves_the_marker_back_to_just_before_the_message() {
    let w = world().await;
    let s = &w.s;
    let conv = id(&started(s, &w.ana, &w.m2, "Medic 3 · Inc 26-0415").await).to_string();
    let k1 = say(s, &w.m2, &conv, "On scene").await;
    let k2 = say(s, &w.m2, &conv, "Pt stable").await;
    let k3 = say(s, &w.m2, &conv, "Transporting").await;
    mark_read(s, &w.ana, &conv).await;
    assert_eq!(list_row(s, &w.ana, &conv).await["unread_count"], 0);
    let total = unread_total(s, &w.ana).await;

    let (status, body) = mark_unread(s, &w.ana, &conv, id(&k2)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(list_row(s, &w.ana, &conv).await["unread_count"], 2);
    assert_eq!(unread_total(s, &w.ana).await, total + 2);
    assert_eq!(
        marker(s, &w.ana, &conv).await,
        Some(just_before(&k2["created_at"]))
    );
    // Never forward: a later message leaves it; an earlier one moves it further back.
    mark_unread(s, &w.ana, &conv, id(&k3)).await;
    assert_eq!(list_row(s, &w.ana, &conv).await["unread_count"], 2);
    mark_unread(s, &w.ana, &conv, id(&k1)).await;
    assert_eq!(list_row(s, &w.ana, &conv).await["unread_count"], 3);
    // PATCH still never moves a marker back.
    mark_unread(s, &w.ana, &conv, id(&k2)).await;
    let (status, rows) = s
        .call(
            Method::PATCH,
            &format!("/rest/v1/read_state?conversation_id=eq.{conv}"),
            Some(&w.ana.token),
            Some(json!({"last_read_at": "2000-01-01T00:00:00Z"})),
            &[("Prefer", "return=representation")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    assert_eq!(
        rows[0]["last_read_at"],
        json!(just_before(&k1["created_at"]))
    );
    // Only the caller's own marker moves.
    mark_read(s, &w.ben, &conv).await;
    mark_unread(s, &w.ben, &conv, id(&k3)).await;
    assert_eq!(list_row(s, &w.ben, &conv).await["unread_count"], 1);
    assert_eq!(list_row(s, &w.ana, &conv).await["unread_count"], 3);
    // A caller without a marker (all unread already) gets none.
    mark_unread(s, &w.m2, &conv, id(&k2)).await;
    assert_eq!(marker(s, &w.m2, &conv).await, None);
    mark_read(s, &w.ana, &conv).await;
    assert_eq!(list_row(s, &w.ana, &conv).await["unread_count"], 0);
    assert_eq!(unread_total(s, &w.ana).await, total);
}

#[tokio::test]
async fn mark_unread_takes_only_a_visible_message_of_that_conversation() {
    let w = world().await;
    let s = &w.s;
    let conv = id(&started(s, &w.ana, &w.m2, "Medic 3 · Inc 26-0415").await).to_string();
    let own = id(&started(s, &w.m1, &w.m1, "Medic 6 · Inc 26-0416").await).to_string();
    let k1 = say(s, &w.m2, &conv, "On scene").await;
    let elsewhere = say(s, &w.m1, &own, "Elsewhere").await;
    mark_read(s, &w.ana, &conv).await;

    let reply = mark_unread(s, &w.ana, &conv, id(&elsewhere)).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "22023");
    assert_eq!(reply.1["message"], "message is not in this conversation");
    for (who, conv, message, what) in [
        (&w.m1, own.as_str(), id(&k1), "message"),
        (
            &w.ana,
            conv.as_str(),
            "00000000-0000-4000-8000-00000000dead",
            "message",
        ),
        (&w.lee, conv.as_str(), id(&k1), "conversation"),
        (&w.m1, conv.as_str(), id(&k1), "conversation"),
    ] {
        let reply = mark_unread(s, who, conv, message).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "P0002");
        assert_eq!(reply.1["message"], format!("{what} not found"));
    }
    assert_eq!(
        list_row(s, &w.ana, &conv).await["unread_count"],
        0,
        "unmoved"
    );
    // Only the function's own arguments, both of them, as uuids without U+0000.
    assert_error(
        &s.rpc(
            "mark_conversation_unread",
            &w.ana.token,
            json!({"conversation_id": conv, "message_id": id(&k1), "user_id": w.ben.id}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "PGRST202",
    );
    assert_error(
        &s.rpc(
            "mark_conversation_unread",
            &w.ana.token,
            json!({"conversation_id": conv}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "PGRST202",
    );
    assert_error(
        &mark_unread(s, &w.ana, &conv, &format!("{}\u{0}", id(&k1))).await,
        StatusCode::BAD_REQUEST,
        "22P05",
    );
    assert_error(
        &mark_unread(s, &w.ana, &conv, "k1").await,
        StatusCode::BAD_REQUEST,
        "22P02",
    );
}

#[tokio::test]
async fn marking_unread_reaches_the_callers_other_tabs() {
    let w = world().await;
    let s = &w.s;
    let conv = id(&started(s, &w.ana, &w.m2, "Medic 3 · Inc 26-0415").await).to_string();
    let k1 = say(s, &w.m2, &conv, "On scene").await;
    mark_read(s, &w.ana, &conv).await;
    let mut tab = Ws::connect(&s.base, &s.anon, "2.0.0").await;
    let (_, reply) = tab
        .join(
            "realtime:markers",
            &w.ana.token,
            json!([{"event": "*", "schema": "public", "table": "read_state", "filter": format!("user_id=eq.{}", w.ana.id)}]),
        )
        .await;
    assert_eq!(reply["payload"]["status"], "ok", "{reply}");
    mark_unread(s, &w.ana, &conv, id(&k1)).await;
    let change = tab.recv_event("postgres_changes").await;
    let data = &change["payload"]["data"];
    assert_eq!(data["type"], "UPDATE", "{change}");
    assert_eq!(
        data["record"],
        json!({"user_id": w.ana.id, "conversation_id": conv, "last_read_at": just_before(&k1["created_at"])})
    );
}

/// A demo database as schema version 4 left it (before subjects) gets the demo subjects
/// when it migrates; a database the demo seed did not make keeps `''`.
#[test]
fn a_demo_database_from_before_subjects_gets_them_when_it_migrates() {
    use switchboard_server::db::migrations::MIGRATIONS;
    let subjects = MIGRATIONS
        .iter()
        .position(|m| m.contains("ADD COLUMN subject"))
        .unwrap();
    for demo in [true, false] {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..subjects] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO orgs VALUES ('o', 'Northside EMS');
             INSERT INTO users VALUES ('m', 'o', 'medic01@northside.test', 'x', 'Jordan Reyes', 'medic'),
               ('n', 'o', 'someone@northside.test', 'x', 'New Medic', 'medic');
             INSERT INTO conversations (id, org_id, medic_id, created_at) VALUES
               ('c1', 'o', 'm', '2026-11-30T08:00:00.000000+00:00'),
               ('c2', 'o', 'm', '2026-11-30T09:00:00.000000+00:00'),
               ('c3', 'o', 'n', '2026-11-29T09:00:00.000000+00:00');",
        )
        .unwrap();
        if demo {
            conn.execute("INSERT INTO settings VALUES ('seed', 'demo')", [])
                .unwrap();
        }
        conn.execute_batch(MIGRATIONS[subjects]).unwrap();
        let subject = |id: &str| -> String {
            conn.query_row(
                "SELECT subject FROM conversations WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
        };
        let got = [subject("c1"), subject("c2"), subject("c3")];
        let expected = if demo {
            [
                "Medic 6 · Inc 26-0411",
                "Medic 6 · Inc 26-0412",
                "New Medic · Inc 26-0410",
            ]
        } else {
            ["", "", ""]
        };
        assert_eq!(got, expected, "demo {demo}");
    }
}

/// The hosted subject check and trim use the wire crate's blank class and Unicode's
/// White_Space, as `rest::write::check_subject` and `str::trim` do.
#[test]
fn hosted_subject_rule_uses_the_wire_crate_s_blank_class() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../supabase/migrations/20261201000000_start_conversations.sql"
    );
    let migration = std::fs::read_to_string(path).unwrap();
    let class = switchboard_wire::text::postgres_class();
    assert!(
        migration.contains(&format!("new.subject !~ '^[{class}]*$'")),
        "{path} must test the subject against [{class}]"
    );
    let white_space: String = (0..=0x10FFFFu32)
        .filter_map(char::from_u32)
        .filter(|c| c.is_whitespace())
        .map(|c| c.to_string())
        .collect();
    let trim = r"\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
    assert!(migration.contains(&format!("'^[{trim}]+|[{trim}]+$'")));
    let listed: String = [
        '\u{9}', '\u{A}', '\u{B}', '\u{C}', '\u{D}', ' ', '\u{85}', '\u{A0}', '\u{1680}',
        '\u{2000}', '\u{2001}', '\u{2002}', '\u{2003}', '\u{2004}', '\u{2005}', '\u{2006}',
        '\u{2007}', '\u{2008}', '\u{2009}', '\u{200A}', '\u{2028}', '\u{2029}', '\u{202F}',
        '\u{205F}', '\u{3000}',
    ]
    .iter()
    .collect();
    assert_eq!(
        white_space, listed,
        "the trimmed class is Rust's whitespace"
    );
}
