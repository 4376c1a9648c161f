//! PostgREST subset over real sockets: reads, filters, embeds, inserts, RPCs and errors.

mod common;

use common::{assert_error, ids, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_api_client as api;

async fn first_conversation(s: &Server, token: &str) -> Value {
    let (status, rows) = s.rpc("conversations_with_unread", token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    rows[0].clone()
}

/// Conversation `id` as the caller's list (with unread counts) shows it.
async fn list_row(s: &Server, token: &str, id: &Value) -> Value {
    let (_, rows) = s.rpc("conversations_with_unread", token, json!({})).await;
    rows.as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == *id)
        .unwrap()
        .clone()
}

#[tokio::test]
async fn select_columns_embed_order_limit_offset() {
    let s = Server::start().await;
    let ana = s.login("ana@northside.test").await;
    let conv = first_conversation(&s, &ana).await;
    let cid = conv["id"].as_str().unwrap();
    let path = format!(
        "/rest/v1/messages?select=id,body,created_at,sender:users(display_name,role)&conversation_id=eq.{cid}&order=created_at.desc&limit=5"
    );
    let (status, rows) = s.get(&path, &ana).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 5);
    let keys: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(rows[0]["sender"]["display_name"].is_string());
    assert!(["medic", "dispatcher"].contains(&rows[0]["sender"]["role"].as_str().unwrap()));
    let times: Vec<&str> = rows
        .iter()
        .map(|r| r["created_at"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] > w[1]),
        "descending: {times:?}"
    );
    assert_eq!(rows[0]["body"], conv["last_message_preview"]);

    // offset pages on; lt filter on a timestamp continues from the oldest seen.
    let (_, page2) = s.get(&format!("{path}&offset=5"), &ana).await;
    let (_, older) = s
        .get(
            &format!("{path}&created_at=lt.{}", times[4].replace('+', "%2B")),
            &ana,
        )
        .await;
    assert_eq!(ids(&page2), ids(&older));

    let resp = s
        .api
        .request(Method::GET, &path, Some(&ana))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-range"], "0-4/*");
}

#[tokio::test]
async fn every_filter_operator() {
    let s = Server::start().await;
    let ana = s.login("ana@northside.test").await;
    let (_, all) = s
        .get(
            "/rest/v1/conversations?select=id,last_message_at&order=last_message_at.asc",
            &ana,
        )
        .await;
    let all = all.as_array().unwrap().clone();
    assert_eq!(all.len(), 40);
    let mid = all[20]["last_message_at"]
        .as_str()
        .unwrap()
        .replace('+', "%2B");
    let q = |f: String| format!("/rest/v1/conversations?select=id&{f}");
    let id0 = all[0]["id"].as_str().unwrap();
    let id1 = all[1]["id"].as_str().unwrap();
    let counts = [
        (format!("last_message_at=lt.{mid}"), 20),
        (format!("last_message_at=lte.{mid}"), 21),
        (format!("last_message_at=gt.{mid}"), 19),
        (format!("last_message_at=gte.{mid}"), 20),
        (format!("id=neq.{id0}"), 39),
        (format!("id=in.({id0},{id1})"), 2),
        ("last_message_at=is.null".into(), 0),
        ("last_message_at=not.is.null".into(), 40),
        (format!("id=not.in.({id0})"), 39),
    ];
    for (filter, n) in counts {
        let (_, rows) = s.get(&q(filter.clone()), &ana).await;
        assert_eq!(rows.as_array().unwrap().len(), n, "{filter}");
    }
    assert_eq!(
        ids(&s.get(&q(format!("id=eq.{id0}")), &ana).await.1),
        vec![id0]
    );
    // Single-object responses.
    let (status, one) = s
        .call(
            Method::GET,
            &q(format!("id=eq.{id0}")),
            Some(&ana),
            None,
            &[("Accept", "application/vnd.pgrst.object+json")],
        )
        .await;
    assert_eq!((status, one["id"].as_str()), (StatusCode::OK, Some(id0)));
    assert_error(
        &s.call(
            Method::GET,
            &q("limit=2".into()),
            Some(&ana),
            None,
            &[("Accept", "application/vnd.pgrst.object+json")],
        )
        .await,
        StatusCode::NOT_ACCEPTABLE,
        "PGRST116",
    );
}

#[tokio::test]
async fn bad_input_gets_postgrest_errors() {
    let s = Server::start_with(|c| c.limits.max_body_bytes = 16 * 1024).await;
    let ana = s.login("ana@northside.test").await;
    let cases: Vec<(String, StatusCode, &str)> = vec![
        ("/rest/v1/nope".into(), StatusCode::NOT_FOUND, "PGRST205"),
        (
            "/rest/v1/messages?select=id,secret".into(),
            StatusCode::BAD_REQUEST,
            "42703",
        ),
        (
            "/rest/v1/users?select=password_hash".into(),
            StatusCode::BAD_REQUEST,
            "42703",
        ),
        (
            "/rest/v1/users?select=email".into(),
            StatusCode::BAD_REQUEST,
            "42703",
        ),
        (
            "/rest/v1/messages?body=like.x".into(),
            StatusCode::BAD_REQUEST,
            "PGRST100",
        ),
        (
            "/rest/v1/messages?body=eq".into(),
            StatusCode::BAD_REQUEST,
            "PGRST100",
        ),
        (
            "/rest/v1/messages?nope=eq.1".into(),
            StatusCode::BAD_REQUEST,
            "42703",
        ),
        (
            "/rest/v1/messages?id=eq.not-a-uuid".into(),
            StatusCode::BAD_REQUEST,
            "22P02",
        ),
        (
            "/rest/v1/messages?created_at=gt.yesterday".into(),
            StatusCode::BAD_REQUEST,
            "22007",
        ),
        (
            "/rest/v1/messages?order=body.up".into(),
            StatusCode::BAD_REQUEST,
            "PGRST100",
        ),
        (
            "/rest/v1/messages?limit=lots".into(),
            StatusCode::BAD_REQUEST,
            "PGRST100",
        ),
        (
            "/rest/v1/messages?select=x:orgs(name)".into(),
            StatusCode::BAD_REQUEST,
            "PGRST200",
        ),
        (
            "/rest/v1/messages?select=id,(".into(),
            StatusCode::BAD_REQUEST,
            "PGRST100",
        ),
        (
            "/rest/v1/messages?select=id;drop table users".into(),
            StatusCode::BAD_REQUEST,
            "PGRST100",
        ),
        // Aliases end up in generated SQL: one that tries to read another column is refused.
        (
            "/rest/v1/messages?select=id,sender:users(x'||e1.password_hash||'y:display_name)"
                .into(),
            StatusCode::BAD_REQUEST,
            "PGRST100",
        ),
        (
            "/rest/v1/messages?select=a'b:id".into(),
            StatusCode::BAD_REQUEST,
            "PGRST100",
        ),
    ];
    for (path, status, code) in cases {
        let (got, body) = s.get(&path, &ana).await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
        assert!(
            body["message"].is_string()
                && body.get("details").is_some()
                && body.get("hint").is_some()
        );
    }
    let conv = first_conversation(&s, &ana).await;
    // Malformed JSON.
    let reply = api::send(
        s.api
            .request(Method::POST, "/rest/v1/messages", Some(&ana))
            .header("content-type", "application/json")
            .body("{\"body\": "),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["code"], "PGRST102");
    // Body limits.
    let too_long = "x".repeat(4001);
    assert_error(
        &s.post_message(
            &ana,
            json!({"conversation_id": conv["id"], "body": too_long}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "23514",
    );
    let exactly = "é".repeat(4000);
    let (status, _) = s
        .post_message(
            &ana,
            json!({"conversation_id": conv["id"], "body": exactly}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "4,000 characters (8,000 bytes) fit"
    );
    for empty in ["", "   \n"] {
        let (status, _) = s
            .post_message(&ana, json!({"conversation_id": conv["id"], "body": empty}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let huge = "y".repeat(20_000);
    assert_error(
        &s.post_message(&ana, json!({"conversation_id": conv["id"], "body": huge}))
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PGRST413",
    );
    assert_error(
        &s.post_message(
            &ana,
            json!({"conversation_id": conv["id"], "body": "x", "mood": "ok"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "PGRST204",
    );
    let (status, _) = s.post_message(&ana, json!({"body": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s
        .post_message(&ana, json!({"conversation_id": conv["id"], "body": 5}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(
        &s.rpc("drop_everything", &ana, json!({})).await,
        StatusCode::NOT_FOUND,
        "PGRST202",
    );
    assert_error(
        &s.call(
            Method::POST,
            "/rest/v1/users",
            Some(&ana),
            Some(json!({"display_name": "x"})),
            &[],
        )
        .await,
        StatusCode::FORBIDDEN,
        "42501",
    );
}

#[tokio::test]
async fn insert_sets_server_fields_updates_conversation_and_is_idempotent() {
    let s = Server::start().await;
    let medic = s.session("medic03@northside.test").await;
    let token = medic["access_token"].as_str().unwrap();
    let me = medic["user"]["id"].as_str().unwrap();
    let conv = first_conversation(&s, token).await;
    let id = "5b0f3c8e-8f61-4f3e-9a49-0b8f1d0c2a11";
    // created_at is the server's (a client value is refused: tests/parity.rs).
    let payload = json!({"id": id, "conversation_id": conv["id"], "body": "Arrived on scene"});
    let (status, rows) = s.post_message(token, payload.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{rows}");
    let row = &rows[0];
    assert_eq!(row["id"], id);
    assert_eq!(row["sender_id"], me);
    assert_eq!(row["org_id"], conv["org_id"]);
    assert!(row["created_at"].as_str().unwrap() > "2026", "server clock");
    let (_, convs) = s.rpc("conversations_with_unread", token, json!({})).await;
    assert_eq!(
        convs[0]["id"], conv["id"],
        "the conversation moved to the top"
    );
    assert_eq!(convs[0]["last_message_preview"], "Arrived on scene");
    assert_eq!(convs[0]["last_message_at"], row["created_at"]);

    // The same send again returns the stored row; a different body with that id is a conflict.
    let (status, again) = s.post_message(token, payload).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again[0], *row);
    assert_error(
        &s.post_message(
            token,
            json!({"id": id, "conversation_id": conv["id"], "body": "other"}),
        )
        .await,
        StatusCode::CONFLICT,
        "23505",
    );
    let (_, copies) = s
        .get(&format!("/rest/v1/messages?select=id&id=eq.{id}"), token)
        .await;
    assert_eq!(copies.as_array().unwrap().len(), 1);

    // Claiming another sender is refused.
    let (status, _) = s
        .post_message(token, json!({"conversation_id": conv["id"], "body": "x", "sender_id": "5b0f3c8e-8f61-4f3e-9a49-0b8f1d0c2a12"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Without return=representation the answer is an empty 201.
    let (status, body) = s
        .call(
            Method::POST,
            "/rest/v1/messages",
            Some(token),
            Some(json!({"conversation_id": conv["id"], "body": "quiet"})),
            &[],
        )
        .await;
    assert_eq!((status, body), (StatusCode::CREATED, Value::Null));
}

#[tokio::test]
async fn created_at_is_strictly_increasing_per_conversation() {
    let s = Server::start().await;
    let ana = s.login("ana@northside.test").await;
    let conv = first_conversation(&s, &ana).await;
    let batch: Vec<Value> = (0..50)
        .map(|i| json!({"conversation_id": conv["id"], "body": format!("m{i}")}))
        .collect();
    let (status, rows) = s.post_message(&ana, Value::Array(batch)).await;
    assert_eq!(status, StatusCode::CREATED);
    let times: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["created_at"].as_str().unwrap())
        .collect();
    assert_eq!(times.len(), 50);
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
}

#[tokio::test]
async fn unread_counts_and_mark_read() {
    let s = Server::start().await;
    let ana = s.login("ana@northside.test").await;
    let (_, convs) = s.rpc("conversations_with_unread", &ana, json!({})).await;
    let convs = convs.as_array().unwrap().clone();
    assert_eq!(convs.len(), 40);
    let sum: i64 = convs
        .iter()
        .map(|c| c["unread_count"].as_i64().unwrap())
        .sum();
    let unread_convs = convs
        .iter()
        .filter(|c| c["unread_count"].as_i64().unwrap() > 0)
        .count();
    assert!(
        (2..=8).contains(&unread_convs),
        "a handful of unread conversations: {unread_convs}"
    );
    let (_, total) = s.rpc("unread_total", &ana, json!({})).await;
    assert_eq!(total.as_i64(), Some(sum));
    let times: Vec<&str> = convs
        .iter()
        .map(|c| c["last_message_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert!(convs[0]["medic_name"].is_string());

    let target = convs
        .iter()
        .find(|c| c["unread_count"].as_i64().unwrap() > 0)
        .unwrap();
    let n = target["unread_count"].as_i64().unwrap();
    let (status, _) = s
        .rpc(
            "mark_conversation_read",
            &ana,
            json!({"conversation_id": target["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, total2) = s.rpc("unread_total", &ana, json!({})).await;
    assert_eq!(total2.as_i64(), Some(sum - n));
    // Another dispatcher's counts are their own.
    let ben = s.login("ben@northside.test").await;
    let ben_target = list_row(&s, &ben, &target["id"]).await;

    // A medic message raises the count for dispatchers; the dispatcher's own reply does not.
    let (_, medic_rows) = s
        .get(
            &format!(
                "/rest/v1/users?select=id,display_name&id=eq.{}",
                target["medic_id"].as_str().unwrap()
            ),
            &ana,
        )
        .await;
    assert_eq!(medic_rows[0]["display_name"], target["medic_name"]);
    let (status, _) = s
        .post_message(
            &ana,
            json!({"conversation_id": target["id"], "body": "dispatcher reply"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let ben_after = list_row(&s, &ben, &target["id"]).await;
    assert_eq!(
        ben_after["unread_count"], ben_target["unread_count"],
        "dispatcher messages are not unread for dispatchers"
    );
    // Unknown or foreign conversation.
    let (status, _) = s
        .rpc(
            "mark_conversation_read",
            &ana,
            json!({"conversation_id": "5b0f3c8e-8f61-4f3e-9a49-0b8f1d0c2a11"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.rpc("mark_conversation_read", &ana, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // PATCH read_state moves my marker only.
    let (status, rows) = s
        .call(
            Method::PATCH,
            &format!(
                "/rest/v1/read_state?conversation_id=eq.{}",
                target["id"].as_str().unwrap()
            ),
            Some(&ben),
            Some(json!({"last_read_at": "2100-01-01T00:00:00Z"})),
            &[("Prefer", "return=representation")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    assert_eq!(rows.as_array().unwrap().len(), 1);
    let (_, ben_total) = s.rpc("unread_total", &ben, json!({})).await;
    let (_, ben_list) = s.rpc("conversations_with_unread", &ben, json!({})).await;
    let listed: i64 = ben_list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["unread_count"].as_i64().unwrap())
        .sum();
    assert_eq!(ben_total.as_i64(), Some(listed));
}

#[tokio::test]
async fn authorization_matrix_nothing_leaks_across_orgs() {
    let s = Server::start().await;
    let ana = s.login("ana@northside.test").await;
    let medic = s.session("medic01@northside.test").await;
    let medic_token = medic["access_token"].as_str().unwrap();
    let medic_id = medic["user"]["id"].as_str().unwrap();
    let lee = s.login("lee@lakeside.test").await;

    let (_, ana_convs) = s
        .get("/rest/v1/conversations?select=id,org_id,medic_id", &ana)
        .await;
    let (_, medic_convs) = s
        .get(
            "/rest/v1/conversations?select=id,org_id,medic_id",
            medic_token,
        )
        .await;
    let (_, lee_convs) = s
        .get("/rest/v1/conversations?select=id,org_id,medic_id", &lee)
        .await;
    assert_eq!(ana_convs.as_array().unwrap().len(), 40);
    assert!(!medic_convs.as_array().unwrap().is_empty());
    assert!(medic_convs
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["medic_id"] == medic_id));
    assert_eq!(lee_convs.as_array().unwrap().len(), 4);
    let north_org = ana_convs[0]["org_id"].clone();
    assert!(lee_convs
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["org_id"] != north_org));

    let north_ids = ids(&ana_convs);
    let other_medic_conv = ana_convs
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["medic_id"] != medic_id)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Reading a foreign row by id gives nothing, as RLS would.
    for (token, conv) in [
        (&lee, north_ids[0].as_str()),
        (&medic_token.to_string(), other_medic_conv.as_str()),
    ] {
        for table in [
            "conversations?select=id&id",
            "messages?select=id&conversation_id",
        ] {
            let (status, rows) = s.get(&format!("/rest/v1/{table}=eq.{conv}"), token).await;
            assert_eq!(
                (status, rows.as_array().unwrap().len()),
                (StatusCode::OK, 0),
                "{table}"
            );
        }
        let (status, _) = s
            .post_message(token, json!({"conversation_id": conv, "body": "intrusion"}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = s
            .rpc(
                "mark_conversation_read",
                token,
                json!({"conversation_id": conv}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // Whole-table reads stay inside the caller's scope.
    let (_, lee_msgs) = s
        .get("/rest/v1/messages?select=org_id&limit=1000", &lee)
        .await;
    assert_eq!(lee_msgs.as_array().unwrap().len(), 60);
    assert!(lee_msgs
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["org_id"] != north_org));
    let (_, lee_users) = s.get("/rest/v1/users?select=id,org_id", &lee).await;
    assert_eq!(lee_users.as_array().unwrap().len(), 4);
    let (_, lee_reads) = s.get("/rest/v1/read_state?select=user_id", &lee).await;
    assert!(lee_reads
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["user_id"] != medic_id));
    let (_, lee_total) = s.rpc("unread_total", &lee, json!({})).await;
    let (_, lee_list) = s.rpc("conversations_with_unread", &lee, json!({})).await;
    assert_eq!(lee_list.as_array().unwrap().len(), 4);
    let listed: i64 = lee_list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["unread_count"].as_i64().unwrap())
        .sum();
    assert_eq!(lee_total.as_i64(), Some(listed));
    // Embeds cannot reach across either: a Lakeside read embedding users sees only Lakeside names.
    let (_, embedded) = s
        .get(
            "/rest/v1/messages?select=sender:users(org_id)&limit=1000",
            &lee,
        )
        .await;
    assert!(embedded
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["sender"]["org_id"] != north_org));
    // The medic's own unread view counts dispatcher messages.
    let (_, medic_list) = s
        .rpc("conversations_with_unread", medic_token, json!({}))
        .await;
    assert_eq!(
        medic_list.as_array().unwrap().len(),
        medic_convs.as_array().unwrap().len()
    );
    // No token: 401 everywhere.
    let (status, _) = s
        .call(Method::GET, "/rest/v1/messages", None, None, &[])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s
        .call(
            Method::POST,
            "/rest/v1/rpc/unread_total",
            None,
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn restart_keeps_data_and_does_not_reseed() {
    let mut s = Server::start().await;
    let ana = s.login("ana@northside.test").await;
    let conv = first_conversation(&s, &ana).await;
    let (status, _) = s
        .post_message(
            &ana,
            json!({"conversation_id": conv["id"], "body": "survives restart"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let db = s.db_path();
    s.stop().await;
    for _ in 0..2 {
        let mut c = common::config(db.clone());
        c.addr = "127.0.0.1:0".parse().unwrap();
        let running = switchboard_server::start(c).await.unwrap();
        let counts = running
            .state
            .db()
            .read(|conn| {
                let q = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
                Ok((
                    q("SELECT count(*) FROM orgs")?,
                    q("SELECT count(*) FROM users")?,
                    q("SELECT count(*) FROM messages")?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(counts, (2, 19, 2000 + 60 + 1));
        running.stop().await;
    }
    // An empty database started with --seed none stays empty.
    let empty = Server::start_with(|c| c.seed = switchboard_server::config::Seed::None).await;
    let n = empty
        .state()
        .db()
        .read(|conn| Ok(conn.query_row("SELECT count(*) FROM orgs", [], |r| r.get::<_, i64>(0))?))
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn serves_the_app_with_spa_fallback_but_json_404_for_api() {
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(
        dist.path().join("index.html"),
        "<!doctype html><title>Switchboard</title>",
    )
    .unwrap();
    std::fs::write(dist.path().join("app.js"), "console.log(1)").unwrap();
    let dist_path = dist.path().to_path_buf();
    let s = Server::start_with(move |c| c.dist = Some(dist_path)).await;
    let http = reqwest::Client::new();
    let get = |p: &str| http.get(format!("{}{p}", s.base)).send();
    let r = get("/messages/123").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Switchboard"));
    assert_eq!(
        get("/app.js").await.unwrap().text().await.unwrap(),
        "console.log(1)"
    );
    let r = s
        .api
        .request(Method::GET, "/rest/v1/unknown_table", None)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "no bearer: 401 before table lookup"
    );
}

/// `body=<filter>` on one conversation's messages, the filter percent-encoded as postgrest-js
/// sends it; the matching bodies, sorted.
async fn bodies_matching(s: &Server, token: &str, conv: &str, filter: &str) -> Vec<String> {
    let encoded: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    bodies_matching_raw(s, token, conv, &encoded, filter).await
}

/// Like [`bodies_matching`] with the query value as given (`label` names it in failures).
async fn bodies_matching_raw(
    s: &Server,
    token: &str,
    conv: &str,
    raw: &str,
    label: &str,
) -> Vec<String> {
    let path = format!("/rest/v1/messages?select=body&conversation_id=eq.{conv}&body={raw}");
    let (status, rows) = s.get(&path, token).await;
    let shown: String = rows.to_string().chars().take(300).collect();
    assert_eq!(status, StatusCode::OK, "{label}: {shown}");
    let mut bodies: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"].as_str().unwrap().to_string())
        .collect();
    bodies.sort();
    bodies
}

/// Issue 12, item 7: values holding quotes, backslashes, commas and parentheses are found
/// with PostgREST's quoting (double quotes around `in` items, backslash escapes inside them),
/// and values outside lists are taken as written.
#[tokio::test]
async fn quoted_filter_values_find_rows_as_postgrest_does() {
    let s = Server::start().await;
    let ana = s.login("ana@northside.test").await;
    let conv = first_conversation(&s, &ana).await;
    let cid = conv["id"].as_str().unwrap();
    let (gauze, comma, path, parens, quoted) = (
        r#"5" gauze"#,
        r#"a",b"#,
        r"D:\scan.pdf",
        "x(y), z",
        r#"say "hi""#,
    );
    for body in [gauze, comma, path, parens, quoted] {
        let (status, rows) = s
            .post_message(&ana, json!({"conversation_id": cid, "body": body}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{rows}");
    }
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (r#"in.("5\" gauze")"#, vec![gauze]),
        (r#"in.("a\",b")"#, vec![comma]),
        (r#"in.("D:\\scan.pdf")"#, vec![path]),
        (r#"in.("x(y), z","5\" gauze")"#, vec![gauze, parens]),
        (r#"in.("say \"hi\"",nothing)"#, vec![quoted]),
        // postgrest-js quotes only items holding `,()` and escapes nothing.
        (r#"in.(5" gauze,D:\scan.pdf)"#, vec![gauze, path]),
        (r#"eq.5" gauze"#, vec![gauze]),
        (r"eq.D:\scan.pdf", vec![path]),
        (r#"eq.say "hi""#, vec![quoted]),
        (r#"eq."x(y), z""#, vec![]),
    ];
    for (filter, want) in cases {
        let mut want: Vec<String> = want.into_iter().map(String::from).collect();
        want.sort();
        assert_eq!(
            bodies_matching(&s, &ana, cid, filter).await,
            want,
            "{filter}"
        );
    }
    let rest = bodies_matching(&s, &ana, cid, r#"not.in.("5\" gauze","a\",b")"#).await;
    assert!(rest.iter().any(|b| b == path) && !rest.iter().any(|b| b == gauze || b == comma));
}

/// Issue 12, item 8: a very long `in` list is one bound parameter, never "too many SQL
/// variables" (a 500 that logged the whole statement).
#[tokio::test]
async fn a_long_in_list_is_answered() {
    let s = Server::start().await;
    let ana = s.login("ana@northside.test").await;
    let conv = first_conversation(&s, &ana).await;
    let cid = conv["id"].as_str().unwrap();
    let (status, rows) = s
        .post_message(&ana, json!({"conversation_id": cid, "body": "needle"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rows}");
    // 33,000 items in a URI under the 64 KiB every HTTP stack allows: empty ones, commas
    // unencoded as a hand-written URL has them.
    let list = format!("in.({}needle)", ",".repeat(32_999));
    let label = "in.(<33,000 items>)";
    assert_eq!(
        bodies_matching_raw(&s, &ana, cid, &list, label).await,
        ["needle"]
    );
    let negated = bodies_matching_raw(&s, &ana, cid, &format!("not.{list}"), label).await;
    assert!(!negated.is_empty() && !negated.contains(&"needle".to_string()));
}
