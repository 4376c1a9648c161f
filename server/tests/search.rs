//! Message search (`search_messages`) over a real server and SQLite file: what it finds,
//! whom it shows what, how words match, that query syntax is inert, its bounds and order, a
//! message found right after it is sent, and a database from before search indexed by its
//! migration. `parity.rs` holds the cases both backends answer identically.

mod common;

use common::{assert_error, Server, User};
use reqwest::StatusCode;
use serde_json::{json, Value};
use switchboard_api_client::DEMO_PASSWORD;

async fn search(s: &Server, token: &str, query: &str, max: i64) -> (StatusCode, Value) {
    s.rpc(
        "search_messages",
        token,
        json!({"query": query, "max": max}),
    )
    .await
}

/// The ids of a successful search's rows, in order.
#[track_caller]
fn hit_ids(reply: &(StatusCode, Value)) -> Vec<String> {
    assert_eq!(reply.0, StatusCode::OK, "{}", reply.1);
    common::ids(&reply.1)
}

async fn send(s: &Server, who: &User, conv: &str, body: &str) -> String {
    let (status, rows) = s
        .post_message(&who.token, json!({"conversation_id": conv, "body": body}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rows}");
    rows[0]["id"].as_str().unwrap().to_string()
}

/// Northside: dispatcher ana, medics one and two with a conversation each; Lakeside: lee.
struct World {
    s: Server,
    ana: User,
    one: User,
    two: User,
    lee: User,
    conv_one: String,
    conv_two: String,
}

async fn world() -> World {
    let s = Server::start().await;
    let ana = s.user("ana@northside.test").await;
    let one = s.user("medic03@northside.test").await;
    let two = s.user("medic04@northside.test").await;
    let lee = s.user("lee@lakeside.test").await;
    let (conv_one, _) = s.first_conversation(&one.token).await;
    let (conv_two, _) = s.first_conversation(&two.token).await;
    World {
        s,
        ana,
        one,
        two,
        lee,
        conv_one,
        conv_two,
    }
}

#[tokio::test]
async fn finds_a_message_in_another_conversation_with_its_context() {
    let w = world().await;
    let id = send(&w.s, &w.two, &w.conv_two, "Kestrel Rd & 5th: Inc 26-0412").await;
    let (status, rows) = search(&w.s, &w.ana.token, "kestrel 0412", 20).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    let (_, users) =
        w.s.get(
            &format!("/rest/v1/users?select=display_name&id=eq.{}", w.two.id),
            &w.ana.token,
        )
        .await;
    let (_, conv) =
        w.s.get(
            &format!("/rest/v1/conversations?select=subject&id=eq.{}", w.conv_two),
            &w.ana.token,
        )
        .await;
    let (_, stored) =
        w.s.get(
            &format!("/rest/v1/messages?select=created_at&id=eq.{id}"),
            &w.ana.token,
        )
        .await;
    assert_eq!(
        rows,
        json!([{
            "id": id,
            "conversation_id": w.conv_two,
            "sender_id": w.two.id,
            "sender_name": users[0]["display_name"],
            "medic_name": users[0]["display_name"],
            "subject": conv[0]["subject"],
            "body": "Kestrel Rd & 5th: Inc 26-0412",
            "priority": "routine",
            "created_at": stored[0]["created_at"],
            "snippet": [
                {"text": "Kestrel", "match": true},
                {"text": " Rd & 5th: Inc 26-", "match": false},
                {"text": "0412", "match": true},
            ],
        }])
    );
}

#[tokio::test]
async fn each_caller_finds_only_the_messages_they_can_read() {
    let w = world().await;
    let lee_conv = w.s.first_conversation(&w.lee.token).await.0;
    let in_one = send(&w.s, &w.one, &w.conv_one, "quillon at the ramp").await;
    let in_two = send(&w.s, &w.two, &w.conv_two, "quillon cleared").await;
    let reply_in_two = send(&w.s, &w.ana, &w.conv_two, "Quillon copy").await;
    let lakeside = send(&w.s, &w.lee, &lee_conv, "quillon lakeside").await;
    for (who, expected) in [
        (
            &w.ana,
            vec![reply_in_two.as_str(), in_two.as_str(), in_one.as_str()],
        ),
        (&w.one, vec![in_one.as_str()]),
        (&w.two, vec![reply_in_two.as_str(), in_two.as_str()]),
        (&w.lee, vec![lakeside.as_str()]),
    ] {
        let found = hit_ids(&search(&w.s, &who.token, "quillon", 100).await);
        assert_eq!(found, expected);
        // The same rows GET /rest/v1/messages shows this caller.
        let list = [
            in_one.as_str(),
            in_two.as_str(),
            reply_in_two.as_str(),
            lakeside.as_str(),
        ]
        .join(",");
        let (_, readable) =
            w.s.get(
                &format!("/rest/v1/messages?select=id&id=in.({list})&order=created_at.desc"),
                &who.token,
            )
            .await;
        assert_eq!(found, common::ids(&readable));
    }
}

#[tokio::test]
async fn every_query_word_must_start_a_word_of_the_body() {
    let w = world().await;
    let both = send(&w.s, &w.one, &w.conv_one, "KESTREL staging, Inc 26-0413").await;
    let one_word = send(&w.s, &w.one, &w.conv_one, "kestrelwood drive").await;
    let t = &w.ana.token;
    assert_eq!(
        hit_ids(&search(&w.s, t, "kest", 20).await),
        [one_word.as_str(), both.as_str()]
    );
    assert_eq!(
        hit_ids(&search(&w.s, t, "Kestrel 0413", 20).await),
        [both.as_str()]
    );
    assert_eq!(
        hit_ids(&search(&w.s, t, "kes inc 26", 20).await),
        [both.as_str()]
    );
    // Inside a word is not the start of one; every word is required.
    assert!(hit_ids(&search(&w.s, t, "strel", 20).await).is_empty());
    assert!(hit_ids(&search(&w.s, t, "kestrelwood 0413", 20).await).is_empty());
    // Case folds beyond ASCII; accents stay.
    let greek = send(&w.s, &w.one, &w.conv_one, "ΣΑΣ ÉTAT stable").await;
    assert_eq!(
        hit_ids(&search(&w.s, t, "σας état", 20).await),
        [greek.as_str()]
    );
    assert!(hit_ids(&search(&w.s, t, "etat", 20).await).is_empty());
}

#[tokio::test]
async fn query_syntax_is_only_words() {
    let w = world().await;
    let plain = send(&w.s, &w.one, &w.conv_one, "zephyr tanker near mile 12").await;
    let marked = send(
        &w.s,
        &w.one,
        &w.conv_one,
        "Radio: \"zephyr-2\" OR NEAR(mile) & !copy*",
    )
    .await;
    let t = &w.ana.token;
    for (query, expected) in [
        ("\"zephyr", vec![marked.as_str(), plain.as_str()]),
        ("zephyr*", vec![marked.as_str(), plain.as_str()]),
        ("zephyr -tanker", vec![plain.as_str()]),
        ("zephyr:tanker", vec![plain.as_str()]),
        ("NEAR(zephyr", vec![marked.as_str(), plain.as_str()]),
        ("zephyr OR nomatch", Vec::<&str>::new()),
        ("zephyr OR", vec![marked.as_str()]),
        ("zephyr & !copy", vec![marked.as_str()]),
        ("^zephyr' + {mile}", vec![marked.as_str(), plain.as_str()]),
    ] {
        assert_eq!(
            hit_ids(&search(&w.s, t, query, 20).await),
            expected,
            "{query}"
        );
    }
    for wordless in ["", "  ", "\"*\"", "-:&!()", "🚑"] {
        let reply = search(&w.s, t, wordless, 20).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "22023");
        assert_eq!(reply.1["message"], "search query has no words");
    }
}

#[tokio::test]
async fn max_and_arguments_are_bounded() {
    let w = world().await;
    for _ in 0..3 {
        send(&w.s, &w.one, &w.conv_one, "bounded quokka").await;
    }
    let t = &w.ana.token;
    assert_eq!(hit_ids(&search(&w.s, t, "quokka", 1).await).len(), 1);
    assert_eq!(hit_ids(&search(&w.s, t, "quokka", 100).await).len(), 3);
    let (status, rows) =
        w.s.rpc("search_messages", t, json!({"query": "quokka"}))
            .await;
    assert_eq!(
        (status, rows.as_array().unwrap().len()),
        (StatusCode::OK, 3)
    );
    let (status, rows) =
        w.s.rpc("search_messages", t, json!({"query": "quokka", "max": "2"}))
            .await;
    assert_eq!(
        (status, rows.as_array().unwrap().len()),
        (StatusCode::OK, 2)
    );
    for max in [json!(0), json!(101), json!(-1), json!(null)] {
        let reply =
            w.s.rpc("search_messages", t, json!({"query": "quokka", "max": max}))
                .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "22023");
        assert_eq!(reply.1["message"], "max must be between 1 and 100");
    }
    for (max, code) in [(json!(2.5), "22P02"), (json!(1_i64 << 40), "22003")] {
        let reply =
            w.s.rpc("search_messages", t, json!({"query": "quokka", "max": max}))
                .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, code);
    }
    assert_error(
        &search(&w.s, t, &"quokka ".repeat(17), 20).await,
        StatusCode::BAD_REQUEST,
        "22023",
    );
    assert_eq!(
        hit_ids(&search(&w.s, t, &"quokka ".repeat(16), 20).await).len(),
        3
    );
    assert_error(
        &w.s.rpc("search_messages", t, json!({"max": 5})).await,
        StatusCode::NOT_FOUND,
        "PGRST202",
    );
    assert_error(
        &w.s.rpc(
            "search_messages",
            t,
            json!({"query": "quokka", "user_id": w.one.id}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "PGRST202",
    );
    assert_error(
        &search(&w.s, t, "quokka\u{0}", 20).await,
        StatusCode::BAD_REQUEST,
        "22P05",
    );
}

#[tokio::test]
async fn newest_first_and_found_as_soon_as_sent() {
    let w = world().await;
    let t = &w.ana.token;
    assert!(hit_ids(&search(&w.s, t, "wombat", 20).await).is_empty());
    let mut sent = Vec::new();
    for (who, conv) in [
        (&w.one, &w.conv_one),
        (&w.two, &w.conv_two),
        (&w.ana, &w.conv_one),
        (&w.two, &w.conv_two),
    ] {
        sent.push(send(&w.s, who, conv, "wombat crossing").await);
        // Indexed with the insert, in the same transaction.
        assert_eq!(
            hit_ids(&search(&w.s, t, "wombat", 20).await)[0],
            sent[sent.len() - 1]
        );
    }
    let found = search(&w.s, t, "wombat", 20).await;
    sent.reverse();
    assert_eq!(hit_ids(&found), sent);
    let times: Vec<&str> = found
        .1
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["created_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|p| p[0] > p[1]), "{times:?}");
}

/// The migration that adds search: its index in `MIGRATIONS`.
fn search_migration() -> usize {
    switchboard_server::db::migrations::MIGRATIONS
        .iter()
        .position(|sql| sql.contains("CREATE VIRTUAL TABLE message_search"))
        .unwrap()
}

#[tokio::test]
async fn messages_stored_before_search_are_indexed_by_its_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("before-search.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let before = search_migration();
        for sql in &switchboard_server::db::migrations::MIGRATIONS[..before] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", before as i64)
            .unwrap();
        let hash = switchboard_server::auth::password::hash(DEMO_PASSWORD).unwrap();
        let org = "11111111-1111-4111-8111-111111111111";
        conn.execute_batch(&format!(
            "INSERT INTO orgs VALUES ('{org}', 'Northside EMS');
             INSERT INTO users VALUES
               ('aaaaaaaa-0000-4000-8000-000000000001', '{org}', 'ana@northside.test', '{hash}', 'Ana Okafor', 'dispatcher'),
               ('aaaaaaaa-0000-4000-8000-000000000002', '{org}', 'medic01@northside.test', '{hash}', 'Jordan Reyes', 'medic');
             INSERT INTO conversations (id, org_id, medic_id, created_at) VALUES
               ('cccccccc-0000-4000-8000-000000000001', '{org}', 'aaaaaaaa-0000-4000-8000-000000000002', '2026-01-01T00:00:00.000000+00:00');
             INSERT INTO messages (id, org_id, conversation_id, sender_id, body, created_at) VALUES
               ('dddddddd-0000-4000-8000-000000000001', '{org}', 'cccccccc-0000-4000-8000-000000000001',
                'aaaaaaaa-0000-4000-8000-000000000002', 'Before the upgrade: Inc 26-0412', '2026-01-01T00:00:01.000000+00:00'),
               ('dddddddd-0000-4000-8000-000000000002', '{org}', 'cccccccc-0000-4000-8000-000000000001',
                'aaaaaaaa-0000-4000-8000-000000000002', 'Also before', '2026-01-01T00:00:02.000000+00:00');"
        ))
        .unwrap();
    }
    let mut config = common::config(path);
    config.seed = switchboard_server::config::Seed::None;
    let running = switchboard_server::start(config).await.unwrap();
    let base = format!("http://{}", running.addr);
    let api = switchboard_api_client::Client::new(&base, running.state.keys().anon_key());
    let ana = api
        .sign_in("ana@northside.test", DEMO_PASSWORD)
        .await
        .unwrap();
    let found = api
        .rpc(
            "search_messages",
            &json!({"query": "upgrade 0412"}),
            &ana.access_token,
        )
        .await
        .unwrap();
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(
        common::ids(&found.body),
        ["dddddddd-0000-4000-8000-000000000001"]
    );
    let found = api
        .rpc(
            "search_messages",
            &json!({"query": "before"}),
            &ana.access_token,
        )
        .await
        .unwrap();
    assert_eq!(
        common::ids(&found.body),
        [
            "dddddddd-0000-4000-8000-000000000002",
            "dddddddd-0000-4000-8000-000000000001"
        ]
    );
    running.stop().await;
}
