//! `cargo xtask bench scale`: what the server's reads cost in a big org (issue 17). Seeds a
//! temporary database through the server's own code (the demo seed for the orgs and users,
//! then `rest::write`'s insert path for 2,000 conversations, one 10,000-message thread and
//! about 100,000 messages, with read markers, unread and unacknowledged urgent messages),
//! then times, in process on a read connection, what each call runs:
//! - the conversation list: whole with the old unread predicate (`last_read_at IS NULL OR
//!   created_at > last_read_at`, the "before"), whole, the first page, a later page, one
//!   row; and the answers' sizes;
//! - `unread_total`, before and after;
//! - the oldest page of the 10,000-message thread by `offset=9950` and by the `(created_at,
//!   id)` cursor;
//! - opening a small conversation (its newest page) without planner statistics and after
//!   `PRAGMA optimize`.
//!
//! Browser-side figures (DOM rows, long tasks, the shift) are the app's benches. Writes
//! `target/bench/scale.json` (flat keys: `_ms` medians, `_bytes`, counts). Flags:
//! `--conversations N` (2,000), `--thread N` (10,000), `--messages N` (100,000), `--runs N`
//! (timing repeats, 15).

mod support;

use std::time::Instant;

use rusqlite::Connection;
use serde_json::{json, Value};
use switchboard_server::auth::jwt::{AppRole, Principal};
use switchboard_server::db::{seed, Db};
use switchboard_server::rest::query::parse_query;
use switchboard_server::rest::rpc::{self, Cursor, ListPage};
use switchboard_server::rest::{select, write};
use switchboard_server::schema::tables::MESSAGES;
use switchboard_server::schema::Condition;

/// The columns and embeds the app reads for each message (`src/api/mod.rs`,
/// `MESSAGE_SELECT`).
const APP_SELECT: &str = "id,conversation_id,sender_id,body,priority,created_at,\
     sender:users(display_name,role),ack:message_acks(user_id,acked_at,user:users(display_name))";

fn arg(args: &[String], flag: &str, default: usize) -> usize {
    support::flag(args, flag)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A user of the demo org, as a token would carry them.
fn principal(conn: &Connection, email: &str) -> Principal {
    let (user_id, org_id, role): (String, String, String) = conn
        .query_row(
            "SELECT id, org_id, role FROM users WHERE email = ?1",
            [email],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("demo user");
    Principal {
        user_id,
        org_id,
        role: if role == "medic" {
            AppRole::Medic
        } else {
            AppRole::Dispatcher
        },
        exp: i64::MAX,
        session_id: "bench".into(),
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Inserts `bodies` into `conversation` as `who`, through the REST insert path, in
/// transactions of 1,000.
fn send(db: &Db, who: &Principal, conversation: &str, bodies: Vec<(String, bool)>) {
    for chunk in bodies.chunks(1_000) {
        let items: Vec<write::NewMessage> = chunk
            .iter()
            .map(|(body, urgent)| {
                let priority = if *urgent { "urgent" } else { "routine" };
                write::parse_new_message(
                    &json!({"id": new_id(), "conversation_id": conversation, "body": body, "priority": priority}),
                    who,
                )
                .expect("message")
            })
            .collect();
        let who = who.clone();
        db.write_blocking(move |tx, changes| write::insert_messages(tx, &who, &items, changes))
            .expect("insert messages");
    }
}

/// Median milliseconds of `runs` calls of `f` (after one warm-up call), and its last answer.
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut last = f();
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        last = f();
        samples.push(start.elapsed().as_secs_f64() * 1e3);
    }
    samples.sort_by(f64::total_cmp);
    (samples[samples.len() / 2], last)
}

/// The list's statement before issue 17: unread as `last_read_at IS NULL OR created_at >
/// last_read_at`, every row.
fn list_before(who: &Principal) -> Condition {
    let now = rpc::conversations_sql(who, &ListPage::All);
    Condition {
        sql: now.sql.replace(
            "m.created_at > coalesce(rs.last_read_at, '')",
            "(rs.last_read_at IS NULL OR m.created_at > rs.last_read_at)",
        ),
        params: now.params,
    }
}

/// `unread_total`'s statement before issue 17.
fn unread_total_before(who: &Principal) -> Condition {
    let now = rpc::unread_total_sql(who);
    Condition {
        sql: now.sql.replace(
            "m.created_at > coalesce(rs.last_read_at, '')",
            "(rs.last_read_at IS NULL OR m.created_at > rs.last_read_at)",
        ),
        params: now.params,
    }
}

/// Runs `statement` and answers its rows' count.
fn count_rows(conn: &Connection, statement: &Condition) -> usize {
    let mut stmt = conn.prepare_cached(&statement.sql).expect("prepare");
    let mut rows = stmt
        .query(rusqlite::params_from_iter(&statement.params))
        .expect("query");
    let mut n = 0;
    while rows.next().expect("row").is_some() {
        n += 1;
    }
    n
}

/// A REST read of messages as the server runs it, with its answer's bytes.
fn messages(conn: &Connection, who: &Principal, query: &str) -> (usize, usize) {
    let query = parse_query(&query.replace('+', "%2B")).expect("query");
    let rows = select::run(conn, &MESSAGES, &query, who, None, usize::MAX).expect("read");
    (rows.len(), serde_json::to_vec(&rows).expect("json").len())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let conversations = arg(&args, "--conversations", 2_000);
    let thread = arg(&args, "--thread", 10_000);
    let total = arg(&args, "--messages", 100_000);
    let runs = arg(&args, "--runs", 15);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("scale.db");
    let db = Db::open(&path).expect("open");

    let seeding = Instant::now();
    db.write_blocking(|tx, _| seed::seed_demo(tx))
        .expect("demo seed");
    let conn = Connection::open(&path).expect("connection");
    let ana = principal(&conn, "ana@northside.test");
    let medics: Vec<Principal> = (1..=12)
        .map(|i| principal(&conn, &format!("medic{i:02}@northside.test")))
        .collect();
    let existing: i64 = conn
        .query_row(
            "SELECT count(*) FROM conversations WHERE org_id = ?1",
            [&ana.org_id],
            |r| r.get(0),
        )
        .expect("count");
    // The conversations, oldest first, through the insert path (a dispatcher starts them).
    let mut started = Vec::new();
    for chunk in (existing as usize..conversations)
        .collect::<Vec<_>>()
        .chunks(500)
    {
        let items: Vec<write::NewConversation> = chunk
            .iter()
            .map(|i| {
                let medic = &medics[i % medics.len()];
                write::parse_new_conversation(
                    &json!({"id": new_id(), "medic_id": medic.user_id, "subject": format!("Medic {} · Inc 26-{i:04}", i % 40)}),
                )
                .expect("conversation")
            })
            .collect();
        let ana = ana.clone();
        let ids = db
            .write_blocking(move |tx, changes| {
                write::insert_conversations(tx, &ana, &items, changes)
            })
            .expect("insert conversations");
        started.extend(ids);
    }
    let medic_of = |conv: &str| -> Principal {
        let id: String = conn
            .query_row(
                "SELECT medic_id FROM conversations WHERE id = ?1",
                [conv],
                |r| r.get(0),
            )
            .expect("medic");
        medics
            .iter()
            .find(|m| m.user_id == id)
            .expect("demo medic")
            .clone()
    };
    // The big thread first (oldest), then the rest spread evenly, medic and dispatcher
    // taking turns; a few urgent messages along the way.
    let big = started[0].clone();
    let big_medic = medic_of(&big);
    for part in 0..thread / 1_000 {
        let bodies = (0..1_000)
            .map(|i| {
                (
                    format!(
                        "Unit update {} from the long call, all quiet.",
                        part * 1_000 + i
                    ),
                    false,
                )
            })
            .collect();
        let who = if part % 2 == 0 { &big_medic } else { &ana };
        send(&db, who, &big, bodies);
    }
    let existing_messages: i64 = conn
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .expect("count");
    let rest = total.saturating_sub(existing_messages as usize);
    let per = rest / started.len().max(1);
    let small = started[started.len() / 2].clone();
    // Grouped by medic, so each transaction of 1,000 carries many conversations' messages.
    for medic in &medics {
        let mut items = Vec::new();
        for (n, conv) in started.iter().enumerate().skip(1) {
            if medic_of(conv).user_id != medic.user_id {
                continue;
            }
            let count = if *conv == small { 5 } else { per };
            for i in 0..count {
                let urgent = n % 97 == 0 && i == 0;
                items.push(
                    write::parse_new_message(
                        &json!({"id": new_id(), "conversation_id": conv,
                                "body": format!("BP 120/80, HR {}, on scene {n}.", 60 + i % 40),
                                "priority": if urgent { "urgent" } else { "routine" }}),
                        medic,
                    )
                    .expect("message"),
                );
            }
        }
        for chunk in items.chunks(1_000) {
            let (who, chunk) = (medic.clone(), chunk.to_vec());
            db.write_blocking(move |tx, changes| write::insert_messages(tx, &who, &chunk, changes))
                .expect("insert messages");
        }
    }
    // Ana reads everything, then marks a handful of old conversations unread.
    let all_ids: Vec<String> = {
        let mut stmt = conn
            .prepare("SELECT id FROM conversations WHERE org_id = ?1 ORDER BY last_message_at")
            .expect("ids");
        let rows = stmt
            .query_map([&ana.org_id], |r| r.get::<_, String>(0))
            .expect("ids");
        rows.collect::<Result<_, _>>().expect("ids")
    };
    for chunk in all_ids.chunks(500) {
        let (ana, chunk) = (ana.clone(), chunk.to_vec());
        db.write_blocking(move |tx, changes| {
            for conv in &chunk {
                write::set_read_marker(tx, &ana, conv, None, changes)?;
            }
            Ok(())
        })
        .expect("mark read");
    }
    for conv in all_ids.iter().skip(10).step_by(300).take(5) {
        let first: String = conn
            .query_row(
                "SELECT id FROM messages WHERE conversation_id = ?1 ORDER BY created_at LIMIT 1",
                [conv],
                |r| r.get(0),
            )
            .expect("message");
        let (ana, conv) = (ana.clone(), conv.clone());
        db.write_blocking(move |tx, changes| {
            write::mark_conversation_unread(tx, &ana, &conv, &first, changes)
        })
        .expect("mark unread");
    }
    let seed_seconds = seeding.elapsed().as_secs_f64();
    let message_count: i64 = conn
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .expect("count");
    let conversation_count = all_ids.len();
    println!(
        "seeded {conversation_count} conversations, {message_count} messages in {seed_seconds:.1} s"
    );

    // Opening the small conversation without statistics, then after PRAGMA optimize.
    conn.execute_batch("DELETE FROM sqlite_stat1")
        .expect("drop stats");
    // The app's own thread read (`src/api/mod.rs`, `messages_path`, the newest 50).
    let thread_query = |conv: &str| {
        format!("select={APP_SELECT}&conversation_id=eq.{conv}&order=created_at.desc&limit=50")
    };
    let no_stats = Connection::open(&path).expect("reader");
    let (thread_open_small_no_stats_ms, _) =
        time(runs, || messages(&no_stats, &ana, &thread_query(&small)));
    let plan_no_stats = select::plan(
        &no_stats,
        &MESSAGES,
        &parse_query(&thread_query(&small)).expect("query"),
        &ana,
    )
    .expect("plan");
    drop(no_stats);
    let optimizing = Instant::now();
    db.optimize().expect("optimize");
    let optimize_ms = optimizing.elapsed().as_secs_f64() * 1e3;
    let reader = Connection::open(&path).expect("reader");
    let plan = select::plan(
        &reader,
        &MESSAGES,
        &parse_query(&thread_query(&small)).expect("query"),
        &ana,
    )
    .expect("plan");
    println!("small thread plan without statistics: {plan_no_stats:?}\n  with: {plan:?}");
    let (thread_open_small_ms, _) = time(runs, || messages(&reader, &ana, &thread_query(&small)));
    let (thread_open_big_ms, (_, thread_page_bytes)) =
        time(runs, || messages(&reader, &ana, &thread_query(&big)));

    // The list.
    let list = |page: &ListPage| rpc::conversations_with_unread(&reader, &ana, page).expect("list");
    let bytes = |v: &Value| serde_json::to_vec(v).expect("json").len();
    let (list_all_before_ms, list_all_before_rows) =
        time(runs.min(5), || count_rows(&reader, &list_before(&ana)));
    let (list_all_ms, _) = time(runs.min(5), || {
        count_rows(&reader, &rpc::conversations_sql(&ana, &ListPage::All))
    });
    let all = list(&ListPage::All);
    let first_page = ListPage::First { size: 50 };
    let (list_first_page_ms, first) = time(runs, || list(&first_page));
    let deep = &all.as_array().expect("rows")[999];
    let next_page = ListPage::After {
        size: 50,
        cursor: Cursor {
            last_message_at: deep["last_message_at"].as_str().map(str::to_string),
            created_at: deep["created_at"].as_str().expect("created_at").to_string(),
            id: deep["id"].as_str().expect("id").to_string(),
        },
    };
    let (list_page_at_1000_ms, next) = time(runs, || list(&next_page));
    let one = ListPage::One {
        conversation_id: small.clone(),
    };
    let (list_one_row_ms, row) = time(runs, || list(&one));
    let (unread_total_before_ms, before_total) = time(runs.min(5), || {
        let s = unread_total_before(&ana);
        reader
            .query_row(&s.sql, rusqlite::params_from_iter(&s.params), |r| {
                r.get::<_, i64>(0)
            })
            .expect("total")
    });
    let (unread_total_ms, total_now) =
        time(runs, || rpc::unread_total(&reader, &ana).expect("total"));
    assert_eq!(json!(before_total), total_now, "the same total both ways");
    assert_eq!(list_all_before_rows, all.as_array().map_or(0, Vec::len));

    // The oldest page of the big thread: by offset, and by the cursor of the page above it.
    let base = format!(
        "select={APP_SELECT}&conversation_id=eq.{big}&order=created_at.desc,id.desc&limit=50"
    );
    let thread_len: i64 = reader
        .query_row(
            "SELECT count(*) FROM messages WHERE conversation_id = ?1",
            [&big],
            |r| r.get(0),
        )
        .expect("count");
    let offset = (thread_len - 50).max(0);
    let (history_offset_ms, _) = time(runs, || {
        messages(&reader, &ana, &format!("{base}&offset={offset}"))
    });
    let (t, id): (String, String) = reader
        .query_row(
            "SELECT created_at, id FROM messages WHERE conversation_id = ?1 ORDER BY created_at DESC LIMIT 1 OFFSET ?2",
            rusqlite::params![big, offset - 1],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("cursor row");
    let cursor_query = format!(
        "{base}&created_at=lte.{t}&or=(created_at.lt.{t},and(created_at.eq.{t},id.lt.{id}))"
    );
    let (history_cursor_ms, (cursor_rows, _)) =
        time(runs, || messages(&reader, &ana, &cursor_query));

    let report = json!({
        "conversations": conversation_count,
        "messages": message_count,
        "thread_messages": thread_len,
        "seed_seconds": seed_seconds,
        "list_all_before_ms": list_all_before_ms,
        "list_all_ms": list_all_ms,
        "list_all_rows": all.as_array().map_or(0, Vec::len),
        "list_all_bytes": bytes(&all),
        "list_first_page_ms": list_first_page_ms,
        "list_first_page_rows": first.as_array().map_or(0, Vec::len),
        "list_first_page_bytes": bytes(&first),
        "list_page_at_1000_ms": list_page_at_1000_ms,
        "list_page_at_1000_bytes": bytes(&next),
        "list_one_row_ms": list_one_row_ms,
        "list_one_row_bytes": bytes(&row),
        "unread_total_before_ms": unread_total_before_ms,
        "unread_total_ms": unread_total_ms,
        "history_offset_oldest_ms": history_offset_ms,
        "history_cursor_oldest_ms": history_cursor_ms,
        "history_cursor_oldest_rows": cursor_rows,
        "thread_open_small_no_stats_ms": thread_open_small_no_stats_ms,
        "thread_open_small_ms": thread_open_small_ms,
        "thread_open_small_no_stats_uses_conversation_index":
            u8::from(plan_no_stats.iter().any(|s| s.contains("messages_conversation_time"))),
        "thread_open_small_uses_conversation_index":
            u8::from(plan.iter().any(|s| s.contains("messages_conversation_time"))),
        "thread_open_big_ms": thread_open_big_ms,
        "thread_page_bytes": thread_page_bytes,
        "optimize_ms": optimize_ms,
    });
    for (key, value) in report.as_object().expect("object") {
        println!("{key:>52} {value}");
    }
    let path = support::write_json("scale", &report);
    println!("wrote {}", path.display());
}
