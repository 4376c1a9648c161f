//! Issue 17, server side: costs bounded by what is on screen. The conversation list by page
//! (`page_size`, `before`) and by row (`conversation_id`); thread history by a
//! `(created_at, id)` cursor written as a PostgREST `or=(…)` filter; and the query plans that
//! make each of them an index search (unread counting, the thread, its older pages), with the
//! planner's statistics kept by `PRAGMA optimize`. `supabase/verify.sh` checks the same on
//! Postgres.

mod common;

use common::{assert_error, ids, Server, User};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_server::auth::jwt::{AppRole, Principal};
use switchboard_server::rest::query::parse_query;
use switchboard_server::rest::{rpc, select};
use switchboard_server::schema::tables::MESSAGES;

async fn list(s: &Server, token: &str, args: Value) -> Vec<Value> {
    let (status, rows) = s.rpc("conversations_with_unread", token, args).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    rows.as_array().unwrap().clone()
}

/// The cursor of a list row: the keys of its place in the list's order.
fn cursor(row: &Value) -> Value {
    json!({"last_message_at": row["last_message_at"], "created_at": row["created_at"], "id": row["id"]})
}

fn principal(user: &User, org: &str, role: AppRole) -> Principal {
    Principal {
        user_id: user.id.clone(),
        org_id: org.to_string(),
        role,
        exp: i64::MAX,
        session_id: "plan".into(),
    }
}

fn db(s: &Server) -> rusqlite::Connection {
    rusqlite::Connection::open(s.db_path()).unwrap()
}

/// Conversations `ana` starts with medic `medic_id` and leaves without messages.
async fn start_empty(s: &Server, ana: &User, medic_id: &str, n: usize) -> Vec<String> {
    let mut started = Vec::new();
    for i in 0..n {
        let id = uuid::Uuid::new_v4().to_string();
        let (status, body) = s
            .call(
                Method::POST,
                "/rest/v1/conversations",
                Some(&ana.token),
                Some(json!({"id": id, "medic_id": medic_id, "subject": format!("Empty {i}")})),
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        started.push(id);
    }
    started
}

/// The demo org with a few twists: conversations without messages, an old conversation
/// marked unread, one with an unacknowledged urgent message (and none read by `ana`
/// otherwise: she reads everything first).
async fn busy_org(s: &Server) -> (User, User, String) {
    let ana = s.user("ana@northside.test").await;
    let medic = s.user("medic03@northside.test").await;
    let all = list(s, &ana.token, json!({})).await;
    for row in &all {
        let (status, body) = s
            .rpc(
                "mark_conversation_read",
                &ana.token,
                json!({"conversation_id": row["id"]}),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    start_empty(s, &ana, &medic.id, 3).await;
    // An old conversation marked unread keeps its place far down the list.
    let old = all[all.len() - 3]["id"].as_str().unwrap().to_string();
    let (_, messages) = s
        .get(
            &format!(
                "/rest/v1/messages?select=id&conversation_id=eq.{old}&order=created_at&limit=1"
            ),
            &ana.token,
        )
        .await;
    let (status, body) = s
        .rpc(
            "mark_conversation_unread",
            &ana.token,
            json!({"conversation_id": old, "message_id": messages[0]["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let org = all[0]["org_id"].as_str().unwrap().to_string();
    (ana, medic, org)
}

/// The first page is the newest `page_size` conversations, then every older one with
/// unread or unacknowledged urgent messages; each row is the full list's row.
#[tokio::test]
async fn the_first_page_holds_the_newest_and_every_unread_or_urgent_conversation() {
    let s = Server::start().await;
    let (ana, _, _) = busy_org(&s).await;
    let all = list(&s, &ana.token, json!({})).await;
    let flagged = |r: &Value| r["unread_count"] != 0 || r["unacked_urgent"] != 0;
    assert!(
        all[5..].iter().any(|r| r["unread_count"] != 0),
        "the fixture has an unread conversation past the first page"
    );
    for size in [1, 5, 20, all.len() as i64 + 5] {
        let page = list(&s, &ana.token, json!({"page_size": size})).await;
        let n = (size as usize).min(all.len());
        let expected: Vec<Value> = all
            .iter()
            .enumerate()
            .filter(|(i, r)| *i < n || flagged(r))
            .map(|(_, r)| r.clone())
            .collect();
        assert_eq!(page, expected, "page_size {size}");
    }
}

/// Paging on by the cursor of the `page_size`-th row (then of each page's last) reaches every
/// conversation exactly once, in the full list's order, through the ones without messages
/// (`last_message_at` null) at the end; a page shorter than `page_size` is the last.
#[tokio::test]
async fn paging_by_cursor_reaches_every_conversation_exactly_once() {
    let s = Server::start().await;
    let (ana, medic, _) = busy_org(&s).await;
    let all = list(&s, &ana.token, json!({})).await;
    assert!(all.last().unwrap()["last_message_at"].is_null());
    for (who, size) in [(&ana, 7usize), (&ana, 1), (&ana, 43), (&medic, 2)] {
        let all = list(&s, &who.token, json!({})).await;
        let first = list(&s, &who.token, json!({"page_size": size})).await;
        let mut seen: Vec<Value> = first.iter().take(size).cloned().collect();
        let mut last = seen.last().cloned();
        while let Some(row) = last.take().filter(|_| seen.len().is_multiple_of(size)) {
            let page = list(
                &s,
                &who.token,
                json!({"page_size": size, "before": cursor(&row)}),
            )
            .await;
            assert!(page.len() <= size);
            last = page.last().cloned();
            seen.extend(page);
        }
        assert_eq!(ids(&json!(seen)), ids(&json!(all)), "page_size {size}");
        assert_eq!(seen, all);
    }
    // A cursor in the group without messages, and one past the end.
    let nulls: Vec<&Value> = all
        .iter()
        .filter(|r| r["last_message_at"].is_null())
        .collect();
    let after_first_null = list(
        &s,
        &ana.token,
        json!({"page_size": 10, "before": cursor(nulls[0])}),
    )
    .await;
    assert_eq!(
        after_first_null,
        nulls[1..].iter().map(|r| (*r).clone()).collect::<Vec<_>>()
    );
    let end = list(
        &s,
        &ana.token,
        json!({"page_size": 10, "before": cursor(all.last().unwrap())}),
    )
    .await;
    assert!(end.is_empty());
}

/// One row by id is the full list's row; a conversation the caller cannot see (or that does
/// not exist) answers no row, as under row-level security.
#[tokio::test]
async fn one_row_is_the_row_of_the_full_list() {
    let s = Server::start().await;
    let (ana, medic, _) = busy_org(&s).await;
    for who in [&ana, &medic] {
        let all = list(&s, &who.token, json!({})).await;
        for row in all.iter().step_by(3).chain(all.last()) {
            let one = list(&s, &who.token, json!({"conversation_id": row["id"]})).await;
            assert_eq!(one, vec![row.clone()]);
        }
    }
    let ana_all = list(&s, &ana.token, json!({})).await;
    let not_hers = ana_all
        .iter()
        .find(|r| r["medic_id"] != json!(medic.id))
        .unwrap();
    assert!(
        list(&s, &medic.token, json!({"conversation_id": not_hers["id"]}))
            .await
            .is_empty()
    );
    let lee = s.login("lee@lakeside.test").await;
    assert!(list(&s, &lee, json!({"conversation_id": ana_all[0]["id"]}))
        .await
        .is_empty());
    let unknown = uuid::Uuid::new_v4().to_string();
    assert!(list(&s, &ana.token, json!({"conversation_id": unknown}))
        .await
        .is_empty());
}

/// The arguments are checked as the hosted function checks them (`verify.sh` sends the
/// same); unknown ones are PostgREST's 404.
#[tokio::test]
async fn bad_page_arguments_are_refused() {
    let s = Server::start().await;
    let ana = s.login("ana@northside.test").await;
    let id = uuid::Uuid::new_v4().to_string();
    let t = "2026-01-01T00:00:00Z";
    for (args, status, code) in [
        (json!({"page_size": 0}), StatusCode::BAD_REQUEST, "22023"),
        (json!({"page_size": 1001}), StatusCode::BAD_REQUEST, "22023"),
        (json!({"page_size": "x"}), StatusCode::BAD_REQUEST, "22P02"),
        (
            json!({"before": {"last_message_at": t, "created_at": t, "id": id}}),
            StatusCode::BAD_REQUEST,
            "22023",
        ),
        (
            json!({"page_size": 5, "conversation_id": id}),
            StatusCode::BAD_REQUEST,
            "22023",
        ),
        (
            json!({"page_size": 5, "before": {"created_at": t, "id": id}}),
            StatusCode::BAD_REQUEST,
            "22023",
        ),
        (
            json!({"conversation_id": "x"}),
            StatusCode::BAD_REQUEST,
            "22P02",
        ),
        (json!({"offset": 5}), StatusCode::NOT_FOUND, "PGRST202"),
    ] {
        let reply = s.rpc("conversations_with_unread", &ana, args.clone()).await;
        assert_error(&reply, status, code);
    }
}

/// Unread counting (list, first page, one row, total) searches the `(conversation_id,
/// created_at)` index by a range from the read marker: it never visits read messages.
#[tokio::test]
async fn unread_counting_searches_the_conversation_index_from_the_marker() {
    let s = Server::start().await;
    let ana = s.user("ana@northside.test").await;
    let medic = s.user("medic03@northside.test").await;
    let (_, org) = s.first_conversation(&ana.token).await;
    let conn = db(&s);
    let range =
        "SEARCH m USING INDEX messages_conversation_time (conversation_id=? AND created_at>?)";
    for who in [
        principal(&ana, &org, AppRole::Dispatcher),
        principal(&medic, &org, AppRole::Medic),
    ] {
        for page in [
            rpc::ListPage::All,
            rpc::ListPage::First { size: 50 },
            rpc::ListPage::One {
                conversation_id: uuid::Uuid::new_v4().to_string(),
            },
        ] {
            let plan = rpc::query_plan(&conn, &rpc::conversations_sql(&who, &page)).unwrap();
            assert!(plan.iter().any(|step| step == range), "{page:?}: {plan:#?}");
            assert!(
                !plan.iter().any(|step| step.starts_with("SCAN m")),
                "{plan:#?}"
            );
        }
        let plan = rpc::query_plan(&conn, &rpc::unread_total_sql(&who)).unwrap();
        assert!(plan.iter().any(|step| step == range), "{plan:#?}");
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN m")),
            "{plan:#?}"
        );
    }
}

/// A thread's newest page and its older pages by the `(created_at, id)` cursor search the
/// conversation's index in order (no sort, not the org-wide index), with the statistics the
/// server keeps (`PRAGMA optimize` at start and after the demo seed), on a database where
/// the org's other conversations hold far more messages.
#[tokio::test]
async fn thread_pages_search_the_conversation_index() {
    let s = Server::start().await;
    let ana = s.user("ana@northside.test").await;
    let (conv, org) = s.first_conversation(&ana.token).await;
    let conn = db(&s);
    let stats: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_stat1 WHERE idx = 'messages_conversation_time'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stats, 1, "PRAGMA optimize analysed messages after the seed");
    let who = principal(&ana, &org, AppRole::Dispatcher);
    let t = "2026-01-01T00:00:00.000000+00:00";
    let id = uuid::Uuid::new_v4();
    for (query, search) in [
        // The app's read before cursors: one order term, which the org-wide index would
        // serve too; only statistics keep the planner off it.
        (
            format!("select=id,body&conversation_id=eq.{conv}&order=created_at.desc&limit=50"),
            "SEARCH t0 USING INDEX messages_conversation_time (conversation_id=?)",
        ),
        (
            format!(
                "select=id,body&conversation_id=eq.{conv}&order=created_at.desc,id.desc&limit=50"
            ),
            "SEARCH t0 USING INDEX messages_conversation_time (conversation_id=?)",
        ),
        (
            format!(
                "select=id,body&conversation_id=eq.{conv}&created_at=lte.{t}\
                 &or=(created_at.lt.{t},and(created_at.eq.{t},id.lt.{id}))\
                 &order=created_at.desc,id.desc&limit=50"
            ),
            "SEARCH t0 USING INDEX messages_conversation_time (conversation_id=? AND created_at<?)",
        ),
        (
            format!("select=id&conversation_id=eq.{conv}&created_at=gte.{t}&order=created_at"),
            "SEARCH t0 USING INDEX messages_conversation_time (conversation_id=? AND created_at>?)",
        ),
    ] {
        let query = parse_query(&query.replace('+', "%2B")).unwrap();
        let plan = select::plan(&conn, &MESSAGES, &query, &who).unwrap();
        assert_eq!(plan.first().map(String::as_str), Some(search), "{plan:#?}");
        assert!(
            !plan.iter().any(|step| step.contains("TEMP B-TREE")),
            "{plan:#?}"
        );
    }
}

/// Older pages by the `(created_at, id)` cursor in PostgREST's `or` grammar give exactly the
/// rows offset paging gives, and every message once.
#[tokio::test]
async fn history_by_cursor_reaches_every_message_once() {
    let s = Server::start().await;
    let ana = s.login("ana@northside.test").await;
    let (conv, _) = s.first_conversation(&ana).await;
    let base = format!("/rest/v1/messages?select=id,created_at&conversation_id=eq.{conv}&order=created_at.desc,id.desc");
    let (_, all) = s.get(&base, &ana).await;
    let all = all.as_array().unwrap().clone();
    assert!(all.len() > 12, "{}", all.len());
    let mut seen: Vec<Value> = Vec::new();
    let mut path = format!("{base}&limit=5");
    loop {
        let (status, page) = s.get(&path, &ana).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let page = page.as_array().unwrap().clone();
        let (_, by_offset) = s
            .get(&format!("{base}&limit=5&offset={}", seen.len()), &ana)
            .await;
        assert_eq!(json!(page), by_offset);
        let Some(last) = page.last() else { break };
        let (t, id) = (
            last["created_at"].as_str().unwrap().replace('+', "%2B"),
            last["id"].as_str().unwrap(),
        );
        path = format!(
            "{base}&limit=5&created_at=lte.{t}&or=(created_at.lt.{t},and(created_at.eq.{t},id.lt.{id}))"
        );
        seen.extend(page);
    }
    assert_eq!(seen, all);
}

/// `or`, `and`, `not.` and nesting over HTTP, with PostgREST's errors; a PATCH honours them.
#[tokio::test]
async fn logic_tree_filters_follow_postgrest() {
    let s = Server::start().await;
    let ana = s.login("ana@northside.test").await;
    let all = list(&s, &ana, json!({})).await;
    let (a, b, c) = (&all[0]["id"], &all[1]["id"], &all[2]["id"]);
    let a = a.as_str().unwrap();
    let b = b.as_str().unwrap();
    let c = c.as_str().unwrap();
    let get = |q: String| {
        let s = &s;
        let ana = ana.clone();
        async move {
            s.get(&format!("/rest/v1/conversations?select=id&{q}"), &ana)
                .await
        }
    };
    let (status, rows) = get(format!("or=(id.eq.{a},id.eq.{b})&order=id")).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    let mut want = vec![a.to_string(), b.to_string()];
    want.sort();
    assert_eq!(ids(&rows), want);
    let (_, rows) = get(format!(
        "or=(id.eq.{a},and(id.eq.{b},id.neq.{b}),id.in.({c}))&order=id"
    ))
    .await;
    let mut want = vec![a.to_string(), c.to_string()];
    want.sort();
    assert_eq!(ids(&rows), want);
    let (_, rows) = get(format!("not.or=(id.eq.{a},id.eq.{b})")).await;
    assert_eq!(rows.as_array().unwrap().len(), all.len() - 2);
    let (_, rows) = get(format!("and=(id.eq.{a},not.or(id.eq.{b},id.not.eq.{a}))")).await;
    assert_eq!(ids(&rows), vec![a.to_string()]);
    let (_, rows) = get(format!("id=eq.{a}&or=(id.eq.{b},id.eq.{c})")).await;
    assert!(
        rows.as_array().unwrap().is_empty(),
        "AND-ed with the filters"
    );
    let (_, rows) = get(r#"or=(subject.eq."a,b)",subject.is.null)"#.to_string()).await;
    assert!(rows.as_array().unwrap().is_empty());
    assert_error(
        &get("or=(id.eq.1".into()).await,
        StatusCode::BAD_REQUEST,
        "PGRST100",
    );
    assert_error(
        &get("or=(id.like.1)".into()).await,
        StatusCode::BAD_REQUEST,
        "PGRST100",
    );
    assert_error(
        &get("or=(nope.eq.1)".into()).await,
        StatusCode::BAD_REQUEST,
        "42703",
    );
    assert_error(
        &get("or=(id.eq.x)".into()).await,
        StatusCode::BAD_REQUEST,
        "22P02",
    );
    assert_error(
        &get("or=(id.eq.%00)".into()).await,
        StatusCode::BAD_REQUEST,
        "22021",
    );
    let many = vec![format!("id.eq.{a}"); 101].join(",");
    assert_error(
        &get(format!("or=({many})")).await,
        StatusCode::BAD_REQUEST,
        "PGRST100",
    );

    // A PATCH updates only the markers its logic tree selects.
    for conv in [a, b] {
        s.rpc(
            "mark_conversation_read",
            &ana,
            json!({"conversation_id": conv}),
        )
        .await;
    }
    let (status, rows) = s
        .call(
            Method::PATCH,
            &format!("/rest/v1/read_state?or=(conversation_id.eq.{a},conversation_id.eq.{c})"),
            Some(&ana),
            Some(json!({"last_read_at": "2000-01-01T00:00:00Z"})),
            &[("Prefer", "return=representation")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    let touched: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["conversation_id"].as_str().unwrap())
        .collect();
    assert!(touched.contains(&a) && !touched.contains(&b), "{touched:?}");
    assert!(touched.iter().all(|t| [a, c].contains(t)), "{touched:?}");
}

/// The plan of the app's thread read (the newest 50 of a conversation, one order term) as a
/// reader of `db`'s pool makes it.
async fn thread_plan(db: &switchboard_server::db::Db) -> Vec<String> {
    db.read(|conn| {
        let (user_id, org_id, conv): (String, String, String) = conn.query_row(
            "SELECT u.id, u.org_id, c.id FROM users u JOIN conversations c ON c.org_id = u.org_id \
             WHERE u.email = 'ana@northside.test' LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let who = Principal {
            user_id,
            org_id,
            role: AppRole::Dispatcher,
            exp: i64::MAX,
            session_id: "plan".into(),
        };
        let query = parse_query(&format!(
            "select=id&conversation_id=eq.{conv}&order=created_at.desc&limit=50"
        ))?;
        select::plan(conn, &MESSAGES, &query, &who)
    })
    .await
    .unwrap()
}

/// The readers plan with the statistics the writer's `PRAGMA optimize` takes: the demo seed
/// written straight through `Db` (no server start, so no optimize after it) leaves the
/// readers with the empty database's, and the app's thread read takes the org-wide index;
/// after `Db::optimize` the same read on the same pool searches the conversation's.
#[tokio::test]
async fn readers_reopen_for_new_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let db = switchboard_server::db::Db::open(&dir.path().join("stats.db")).unwrap();
    db.write_blocking(|tx, _| switchboard_server::db::seed::seed_demo(tx))
        .unwrap();
    // Every reader, not only the first to be asked.
    for _ in 0..switchboard_server::db::READERS {
        let before = thread_plan(&db).await;
        assert!(before[0].contains("messages_org_time"), "{before:#?}");
    }
    db.optimize().unwrap();
    for _ in 0..switchboard_server::db::READERS {
        let after = thread_plan(&db).await;
        assert_eq!(
            after[0],
            "SEARCH t0 USING INDEX messages_conversation_time (conversation_id=?)"
        );
    }
}
