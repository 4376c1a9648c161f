//! The write rules both backends hold (ARCHITECTURE.md, "Backend parity"), over real sockets
//! and a real SQLite file: the read marker never passes the newest message nor moves back,
//! U+0000 is refused as PostgreSQL refuses it, invisible-only bodies are blank, the list
//! preview never splits a grapheme cluster, server-owned columns are the server's, and
//! message search answers the cases of `search_cases.json`.
//! `supabase/verify.sh` sends the same inputs to the hosted schema.

mod common;

use common::{assert_error, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_server::clock::{format_micros, now_micros};

/// Conversation `id` as `token`'s list shows it.
async fn list_row(s: &Server, token: &str, id: &str) -> Value {
    let (_, rows) = s.rpc("conversations_with_unread", token, json!({})).await;
    rows.as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()
        .clone()
}

async fn unread_total(s: &Server, token: &str) -> i64 {
    s.rpc("unread_total", token, json!({}))
        .await
        .1
        .as_i64()
        .unwrap()
}

/// `PATCH /rest/v1/read_state?conversation_id=eq.<conv>` with `body`, answering the rows.
async fn patch_read_state(s: &Server, token: &str, conv: &str, body: Value) -> (StatusCode, Value) {
    s.call(
        Method::PATCH,
        &format!("/rest/v1/read_state?conversation_id=eq.{conv}"),
        Some(token),
        Some(body),
        &[("Prefer", "return=representation")],
    )
    .await
}

async fn stored_marker(s: &Server, token: &str, conv: &str) -> Value {
    let (_, rows) = s
        .get(
            &format!("/rest/v1/read_state?select=last_read_at&conversation_id=eq.{conv}"),
            token,
        )
        .await;
    rows[0]["last_read_at"].clone()
}

async fn newest_message_at(s: &Server, token: &str, conv: &str) -> Value {
    let (_, rows) = s
        .get(
            &format!(
                "/rest/v1/messages?select=created_at&conversation_id=eq.{conv}&order=created_at.desc&limit=1"
            ),
            token,
        )
        .await;
    rows[0]["created_at"].clone()
}

async fn message_count(s: &Server, token: &str, conv: &str) -> usize {
    let path = format!("/rest/v1/messages?select=id&conversation_id=eq.{conv}");
    s.get(&path, token).await.1.as_array().unwrap().len()
}

#[tokio::test]
async fn read_marker_is_clamped_to_the_newest_message_and_never_moves_back() {
    let s = Server::start().await;
    let ana = s.user("ana@northside.test").await;
    let medic = s.user("medic03@northside.test").await;
    let (conv, _) = s.first_conversation(&medic.token).await;
    let (status, _) = s
        .rpc(
            "mark_conversation_read",
            &ana.token,
            json!({"conversation_id": conv}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let newest = newest_message_at(&s, &ana.token, &conv).await;

    // Issue 12, item 2: a marker five minutes ahead is stored as the newest message's time.
    let ahead = format_micros(now_micros() + 5 * 60 * 1_000_000);
    let (status, rows) =
        patch_read_state(&s, &ana.token, &conv, json!({"last_read_at": ahead})).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    assert_eq!(rows[0]["last_read_at"], newest, "clamped, not {ahead}");
    assert_eq!(stored_marker(&s, &ana.token, &conv).await, newest);

    // So the medic's next message counts unread at once.
    let before = unread_total(&s, &ana.token).await;
    let (status, sent) = s
        .post_message(
            &medic.token,
            json!({"conversation_id": conv, "body": "pt conscious, BP 90/60"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(list_row(&s, &ana.token, &conv).await["unread_count"], 1);
    assert_eq!(unread_total(&s, &ana.token).await, before + 1);

    // A marker moved earlier keeps its value.
    let (status, rows) = patch_read_state(
        &s,
        &ana.token,
        &conv,
        json!({"last_read_at": "2000-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    assert_eq!(rows[0]["last_read_at"], newest);
    assert_eq!(stored_marker(&s, &ana.token, &conv).await, newest);
    assert_eq!(list_row(&s, &ana.token, &conv).await["unread_count"], 1);

    // Marking read reaches the new message, and no further.
    let (status, _) = s
        .rpc(
            "mark_conversation_read",
            &ana.token,
            json!({"conversation_id": conv}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        stored_marker(&s, &ana.token, &conv).await,
        sent[0]["created_at"]
    );
    assert_eq!(list_row(&s, &ana.token, &conv).await["unread_count"], 0);

    // A null marker is refused as the NOT NULL column refuses it.
    assert_error(
        &patch_read_state(&s, &ana.token, &conv, json!({"last_read_at": null})).await,
        StatusCode::BAD_REQUEST,
        "23502",
    );
}

#[tokio::test]
async fn nul_in_any_text_input_is_400_22p05() {
    let s = Server::start().await;
    let medic = s.user("medic03@northside.test").await;
    let (conv, _) = s.first_conversation(&medic.token).await;
    let stored = message_count(&s, &medic.token, &conv).await;
    let id = "5b0f3c8e-8f61-4f3e-9a49-0b8f1d0c2a11";
    for message in [
        json!({"conversation_id": conv, "body": "\u{0}"}),
        json!({"conversation_id": conv, "body": "5 mg\u{0} (not 50)"}),
        json!({"conversation_id": conv, "body": "ok", "priority": "urgent\u{0}"}),
        json!({"conversation_id": format!("{conv}\u{0}"), "body": "ok"}),
        json!({"id": format!("{id}\u{0}"), "conversation_id": conv, "body": "ok"}),
        json!([{"conversation_id": conv, "body": "fine"}, {"conversation_id": conv, "body": "\u{0}"}]),
    ] {
        let reply = s.post_message(&medic.token, message.clone()).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "22P05");
        assert_eq!(
            reply.1["message"], "unsupported Unicode escape sequence",
            "{message}"
        );
    }
    assert_eq!(
        message_count(&s, &medic.token, &conv).await,
        stored,
        "nothing stored"
    );

    s.rpc(
        "mark_conversation_read",
        &medic.token,
        json!({"conversation_id": conv}),
    )
    .await;
    assert_error(
        &patch_read_state(
            &s,
            &medic.token,
            &conv,
            json!({"last_read_at": "2026-01-01T00:00:00Z\u{0}"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "22P05",
    );
    for (function, arg) in [
        ("mark_conversation_read", "conversation_id"),
        ("acknowledge_message", "message_id"),
    ] {
        assert_error(
            &s.rpc(function, &medic.token, json!({arg: format!("{conv}\u{0}")}))
                .await,
            StatusCode::BAD_REQUEST,
            "22P05",
        );
    }
}

#[tokio::test]
async fn invisible_only_bodies_are_blank_and_refused() {
    let s = Server::start().await;
    let medic = s.user("medic03@northside.test").await;
    let (conv, _) = s.first_conversation(&medic.token).await;
    for blank in [
        "\u{200B}",
        "\u{2800}",
        "\u{200C}\u{200D}\u{2060}\u{FEFF}",
        "\u{200E}\u{200F}",
        "\u{3164}",
        "\n",
        " \t",
        "",
    ] {
        let reply = s
            .post_message(
                &medic.token,
                json!({"conversation_id": conv, "body": blank}),
            )
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "23514");
        assert!(
            reply.1["message"]
                .as_str()
                .unwrap()
                .contains("\"messages_body_length\""),
            "{blank:?}: {}",
            reply.1
        );
    }
    for visible in ["\u{200B}x", "5 mg", "🚑"] {
        let (status, rows) = s
            .post_message(
                &medic.token,
                json!({"conversation_id": conv, "body": visible}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{visible:?}: {rows}");
        assert_eq!(rows[0]["body"], visible);
    }
}

#[tokio::test]
async fn preview_never_splits_a_grapheme_cluster() {
    let s = Server::start().await;
    let medic = s.user("medic03@northside.test").await;
    let (conv, _) = s.first_conversation(&medic.token).await;
    let head = "x".repeat(138);
    for tail in [
        // The family is one cluster of seven characters across the 139th.
        "👨\u{200D}👩\u{200D}👧\u{200D}👦 arrived",
        // A flag is two regional indicators.
        "🇫🇷 unit",
        // e + COMBINING ACUTE ACCENT.
        "e\u{301}tat stable",
    ] {
        let body = format!("{head}{tail}");
        let (status, _) = s
            .post_message(&medic.token, json!({"conversation_id": conv, "body": body}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let preview = list_row(&s, &medic.token, &conv).await["last_message_preview"].clone();
        assert_eq!(preview, format!("{head}…"), "{tail:?}");
    }
}

#[tokio::test]
async fn server_owned_columns_are_refused_unless_the_server_would_set_them() {
    let s = Server::start().await;
    let medic = s.user("medic03@northside.test").await;
    let ana = s.user("ana@northside.test").await;
    let lee = s.user("lee@lakeside.test").await;
    let (conv, org) = s.first_conversation(&medic.token).await;
    let (_, lakeside) = s.first_conversation(&lee.token).await;

    for (forged, value) in [
        ("org_id", json!(lakeside)),
        ("sender_id", json!(ana.id)),
        ("created_at", json!("2001-01-01T00:00:00Z")),
        ("created_at", json!(format_micros(now_micros()))),
    ] {
        let mut message = json!({"conversation_id": conv, "body": "forged"});
        message[forged] = value;
        let reply = s.post_message(&medic.token, message).await;
        assert_error(&reply, StatusCode::FORBIDDEN, "42501");
        assert_eq!(
            reply.1["details"],
            format!("column \"{forged}\" is set by the server")
        );
    }
    // The values the server would set itself, or null, are accepted.
    let (status, rows) = s
        .post_message(
            &medic.token,
            json!({"conversation_id": conv, "body": "mine", "org_id": org, "sender_id": medic.id, "created_at": null}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rows}");
    assert_eq!(
        (&rows[0]["org_id"], &rows[0]["sender_id"]),
        (&json!(org), &json!(medic.id))
    );

    // Read markers: only last_read_at is writable, and only by PATCH.
    for column in ["user_id", "conversation_id"] {
        assert_error(
            &patch_read_state(&s, &ana.token, &conv, json!({column: ana.id})).await,
            StatusCode::FORBIDDEN,
            "42501",
        );
    }
    for (method, table, body) in [
        (
            Method::POST,
            "read_state",
            json!({"user_id": ana.id, "conversation_id": conv, "last_read_at": "2100-01-01T00:00:00Z"}),
        ),
        (
            Method::POST,
            "message_acks",
            json!({"message_id": rows[0]["id"], "org_id": org, "user_id": ana.id}),
        ),
        (
            Method::PATCH,
            "conversations",
            json!({"last_message_preview": "edited"}),
        ),
    ] {
        assert_error(
            &s.call(
                method,
                &format!("/rest/v1/{table}"),
                Some(&ana.token),
                Some(body),
                &[],
            )
            .await,
            StatusCode::FORBIDDEN,
            "42501",
        );
    }
    // An RPC takes only its own arguments: another user's id is not one of them.
    assert_error(
        &s.rpc(
            "mark_conversation_read",
            &ana.token,
            json!({"conversation_id": conv, "user_id": medic.id}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "PGRST202",
    );
}

/// The hosted check constraint's character class is the one `switchboard_wire::text`
/// defines: the two must change together.
#[test]
fn hosted_blank_class_is_the_wire_crate_s() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../supabase/migrations/20261130000000_hold_the_line.sql"
    );
    let migration = std::fs::read_to_string(path).unwrap();
    let class = switchboard_wire::text::postgres_class();
    assert!(
        migration.contains(&format!("body !~ '^[{class}]*$'")),
        "{path} must test body against [{class}]"
    );
}

/// Message search answers the cases of `tests/search_cases.json` (rows in order, each with
/// its snippet; or the error's code), which `supabase/verify.sh` holds the hosted
/// `search_messages` to: the same data gives both backends the same results.
#[tokio::test]
async fn search_answers_the_shared_cases() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/search_cases.json");
    let cases: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let s = Server::start().await;
    let mut users = std::collections::HashMap::new();
    for (key, email) in [
        ("ana", "ana@northside.test"),
        ("medic", "medic03@northside.test"),
        ("medic2", "medic04@northside.test"),
        ("lee", "lee@lakeside.test"),
        ("lakemedic", "medic01@lakeside.test"),
    ] {
        users.insert(key, s.user(email).await);
    }
    let mut conversations = std::collections::HashMap::new();
    for (key, medic) in [("c1", "medic"), ("c2", "medic2"), ("c3", "lakemedic")] {
        let (id, _) = s.first_conversation(&users[medic].token).await;
        let (_, row) = s
            .get(
                &format!(
                    "/rest/v1/conversations?select=subject,medic:users(display_name)&id=eq.{id}"
                ),
                &users[medic].token,
            )
            .await;
        conversations.insert(key, (id, row[0].clone()));
    }
    let mut names = std::collections::HashMap::new();
    for key in ["ana", "lee"] {
        let (_, rows) = s
            .get("/rest/v1/users?select=id,display_name", &users[key].token)
            .await;
        for row in rows.as_array().unwrap() {
            names.insert(
                row["id"].as_str().unwrap().to_string(),
                row["display_name"].clone(),
            );
        }
    }
    let messages = cases["messages"].as_array().unwrap();
    for m in messages {
        let sender = &users[m["sender"].as_str().unwrap()];
        let conv = &conversations[m["conversation"].as_str().unwrap()].0;
        let (status, rows) = s
            .post_message(
                &sender.token,
                json!({"id": m["id"], "conversation_id": conv, "body": m["body"], "priority": m["priority"]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{rows}");
    }
    let mut answers = Vec::new();
    for case in cases["searches"].as_array().unwrap() {
        let who = &users[case["as"].as_str().unwrap()];
        let (status, rows) = s
            .rpc(
                "search_messages",
                &who.token,
                json!({"query": case["query"], "max": case["max"]}),
            )
            .await;
        let mut answer = json!({"name": case["name"]});
        if status != StatusCode::OK {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{}: {rows}", case["name"]);
            answer["error"] = rows["code"].clone();
        } else {
            let mut hits = Vec::new();
            for row in rows.as_array().unwrap() {
                let m = messages.iter().find(|m| m["id"] == row["id"]).unwrap();
                let (conv, conv_row) = &conversations[m["conversation"].as_str().unwrap()];
                let sender = &users[m["sender"].as_str().unwrap()];
                assert_eq!(
                    (
                        &row["conversation_id"],
                        &row["sender_id"],
                        &row["body"],
                        &row["priority"]
                    ),
                    (&json!(conv), &json!(sender.id), &m["body"], &m["priority"]),
                );
                assert_eq!(row["sender_name"], names[&sender.id]);
                assert_eq!(row["medic_name"], conv_row["medic"]["display_name"]);
                assert_eq!(row["subject"], conv_row["subject"]);
                hits.push(json!({"key": m["key"], "snippet": row["snippet"]}));
            }
            answer["hits"] = Value::Array(hits);
        }
        answers.push(answer);
    }
    let expected: Vec<Value> = cases["searches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| match c.get("error") {
            Some(code) => json!({"name": c["name"], "error": code}),
            None => json!({"name": c["name"], "hits": c["hits"]}),
        })
        .collect();
    assert!(
        answers == expected,
        "answers differ from {path}:\n{}",
        serde_json::to_string_pretty(&answers).unwrap()
    );
}
